#include "commands.h"
#include "dist.h"
#include "unetcl/unetcl.h"

#include <stdlib.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    if (g_stop) signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills at once */
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: unetcl train CONFIG.ini [--set section.key=value]... [--device SEL] [--resume [CHECKPOINT]] [--quiet]\n\n"
               "Trains the U-Net as the configuration says (see configs/ for presets): SGD with momentum on\n"
               "one augmented tile per step, loss weighted by the paper's weight maps, validation on held-out\n"
               "images every [train] val_every steps. Writes under [output] dir: checkpoint.safetensors\n"
               "(weights, momenta, step; written atomically), model.safetensors, train_log.csv,\n"
               "val_log.csv and config.ini. Ctrl-C writes a checkpoint and stops; --resume continues\n"
               "exactly where it stopped (default: the configured checkpoint).\n\n"
               "[train] batch = K sums the gradients of K tiles per step (their mean is the step's gradient).\n"
               "`mpirun -np N unetcl train CONFIG` trains data-parallel: one device per rank (select = gpu:\n"
               "the rank's GPU on its host), N x K tiles per step, rank 0 writes the files (docs/scale.md).\n");
}

static int train_main(unet_config *cfg, int argc, char **argv);

int cmd_train(int argc, char **argv)
{
    unet_config *cfg = NULL;
    if (unet_config_new(&cfg) != UNET_OK) {
        fprintf(stderr, "unetcl train: %s\n", unet_last_error());
        return 1;
    }
    int rc = train_main(cfg, argc, argv);
    unet_config_free(cfg);
    return rc;
}

static int train_main(unet_config *cfg, int argc, char **argv)
{
    const char *ini = NULL, *device = NULL, *resume = NULL;
    int quiet = 0, want_resume = 0;
    /* first pass: the INI file, so that --set overrides apply on top of it */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--set") || !strcmp(argv[i], "--device")) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--resume")) {
            if (i + 1 < argc && argv[i + 1][0] != '-') i++;
            continue;
        }
        if (argv[i][0] != '-' && !ini) ini = argv[i];
    }
    if (!ini) {
        usage(stderr);
        return 2;
    }
    if (unet_config_load(cfg, ini) != UNET_OK) {
        fprintf(stderr, "unetcl train: %s\n", unet_last_error());
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--set")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "unetcl train: --set needs section.key=value\n");
                return 2;
            }
            if (unet_config_set(cfg, argv[++i]) != UNET_OK) {
                fprintf(stderr, "unetcl train: %s\n", unet_last_error());
                return 2;
            }
        } else if (!strcmp(a, "--device")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "unetcl train: --device needs a selector (see `unetcl devices`)\n");
                return 2;
            }
            device = argv[++i];
        } else if (!strcmp(a, "--resume")) {
            want_resume = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-') resume = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "unetcl train: unknown option %s (see --help)\n", a);
            return 2;
        } else if (a != ini) {
            fprintf(stderr, "unetcl train: unexpected argument %s\n", a);
            return 2;
        }
    }
    if (unet_config_validate(cfg) != UNET_OK) {
        fprintf(stderr, "unetcl train: %s\n", unet_last_error());
        return 2;
    }
    static char ckpt[8192];
    if (want_resume && !resume) {
        if (unet_config_checkpoint_path(cfg, ckpt, sizeof ckpt) != UNET_OK) {
            fprintf(stderr, "unetcl train: %s\n", unet_last_error());
            return 2;
        }
        resume = ckpt;
    }
    unet_train_options o = {.resume = resume, .device = device, .stop = &g_stop, .log = stderr, .quiet = quiet};
    const unet_dist *dist = cli_dist();
    char who[32] = "", rdev[256];
    FILE *devnull = NULL;
    if (dist->size > 1) {
        /* one device per rank; rank 0 alone logs */
        snprintf(who, sizeof who, " (rank %d)", dist->rank);
        unet_device_info *infos = NULL;
        int n = 0;
        if (unet_list_devices(&infos, &n) != UNET_OK) n = 0;
        char sel[256] = "";
        if (!device) unet_config_get(cfg, "device.select", sel, sizeof sel);
        o.device = unet_rank_device(device ? device : sel, cli_dist_local_rank(), infos, n, rdev, sizeof rdev);
        free(infos);
        o.dist = dist;
        if (dist->rank != 0 && (devnull = fopen("/dev/null", "w")) != NULL) {
            o.log = devnull;
            o.quiet = 1;
        }
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    unet_train_summary s;
    unet_status st = unet_train(cfg, &o, &s);
    if (devnull) fclose(devnull);
    if (st == UNET_ERR_INTERRUPTED) return 130;
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl train%s: %s\n", who, unet_last_error());
        return 1;
    }
    if (dist->rank != 0) return 0;
    printf("trained %d steps in %.1f s; final loss %.4f", s.steps_done, s.seconds, s.last_loss);
    if (s.val_iou >= 0) printf("; validation: loss %.4f, pixel accuracy %.4f, IoU %.4f", s.val_loss, s.val_accuracy, s.val_iou);
    printf("\n");
    return 0;
}
