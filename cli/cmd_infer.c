/* `unetcl infer`: argument parsing and the MPI split of the input files
 * around the library's inference pipeline (include/unetcl/infer.h,
 * src/host/ocl/infer.c; docs/inference.md). */
#define _POSIX_C_SOURCE 200809L
#include "commands.h"
#include "dist.h"
#include "unetcl/image.h"
#include "unetcl/unetcl.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl infer CONFIG.ini [--model M] [--input I] [--output DIR] [--tile T] [--tta]\n"
            "                    [--device SEL] [--set section.key=value]... [--quiet]\n"
            "\n"
            "Segments every image of I (an image, a folder, a glob such as 'data/*.tif', or a\n"
            "multi-page TIFF stack: each page is an image) with the model M, by the paper's\n"
            "overlap-tile strategy (seamless; mirrored context at the borders). Settings come from\n"
            "the [infer], [data] (normalize, norm_mean, norm_std: as in training) and [device]\n"
            "sections of CONFIG.ini; options override them.\n"
            "\n"
            "  --model M      model file (safetensors, written by training)      [infer] model\n"
            "  --input I      image, folder, glob or TIFF stack                   [infer] input\n"
            "  --output DIR   output folder (created)                             [infer] output\n"
            "  --tile T       input tile edge (0 = the largest that fits the device, at most\n"
            "                 4096 (1024 on CPU devices), and no larger than needed to cover\n"
            "                 the image)                                          [infer] tile\n"
            "  --tta          average over the 8 flips/rotations (8x slower)      [infer] tta\n"
            "  --device SEL   OpenCL device (auto, gpu, cpu, N, name substring)   [device] select\n"
            "  --set S.K=V    any other setting, e.g. --set infer.outputs=mask,overlay\n"
            "  --quiet        no progress output\n"
            "\n"
            "Outputs per input NAME.ext in DIR, as selected by [infer] outputs (prob,mask,instances,overlay):\n"
            "  NAME_prob.png       2 classes: foreground probability, 16-bit (p * 65535)\n"
            "  NAME_prob_cK.tif    more classes: float32 probability of class K, one file per class\n"
            "  NAME_mask.png       arg-max class, 8-bit: class k * (255 / (classes - 1)), so 0/255 for 2\n"
            "  NAME_instances.png  objects, 16-bit ids (float32 TIFF NAME_instances.tif above 65535\n"
            "                      objects): [infer] instances = components (connected components of\n"
            "                      the non-background classes, connectivity 8 or 4) or watershed\n"
            "                      (seeds from the cell interiors grown over the cell pixels;\n"
            "                      seed_threshold, min_seed, min_size, fill_holes: docs/inference.md)\n"
            "  NAME_overlay.png    RGB: the input in grey, each object in its own colour\n"
            "A multi-page TIFF input gives multi-page TIFF outputs (.tif, the same encodings).\n"
            "Images above [infer] stream_megapixels (default 64) are segmented streamed, in memory\n"
            "bounded by the width, when [data] scale = 1: read by rows (PNG) or strips/tiles (TIFF,\n"
            "BigTIFF), written by rows (PNG) or as tiled BigTIFF, all four outputs bit-identical to\n"
            "the whole-image path; instances hold at most max(1024, stream_megapixels * 1e6 / width)\n"
            "rows, so a region of touching cells taller than that is an error (docs/scale.md).\n"
            "`mpirun -np N unetcl infer ...` splits the input files over N ranks (file i on rank i mod N;\n"
            "a stack stays on one rank), each on its own device; the outputs are those of one process.\n");
}

/* ---- progress ------------------------------------------------------------- */

typedef struct progress {
    int quiet, tty;
    int image, images; /* 0-based index of the current image, count */
    const char *name;
    double start, last;
    int drawn; /* a bar is on the terminal line */
} progress;

static void progress_tile(progress *p, int done, int total)
{
    if (p->quiet || (total <= 1 && p->images <= 1)) return;
    double t = now_s();
    double frac = (p->image + (double)done / total) / p->images;
    if (p->tty) {
        if (t - p->last < 0.1 && done < total) return;
        p->last = t;
        p->drawn = 1;
        char bar[31];
        int fill = (int)(frac * 30 + 0.5);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        double el = t - p->start, eta = frac > 0 ? el / frac - el : 0;
        fprintf(stderr, "\r[%s] %3.0f%%  image %d/%d  tile %d/%d  %.0fs elapsed, ~%.0fs left   ", bar, 100 * frac,
                p->image + 1, p->images, done, total, el, eta);
        fflush(stderr);
    } else if (t - p->last >= 10.0) {
        p->last = t;
        fprintf(stderr, "infer: %.0f%% (image %d/%d %s, tile %d/%d, %.0fs elapsed)\n", 100 * frac, p->image + 1,
                p->images, p->name, done, total, t - p->start);
    }
}

static void progress_clear(progress *p)
{
    if (p->drawn) fprintf(stderr, "\r%110s\r", "");
    p->drawn = 0;
    if (p->tty) p->last = 0;
}

/* The library's events: the progress bar, a line per page, notices. */
static int on_event(const unet_infer_event *ev, void *user)
{
    progress *p = user;
    p->name = ev->path;
    if (ev->kind == UNET_INFER_EV_TILE) progress_tile(p, ev->tiles_done, ev->tiles_total);
    else if (ev->kind == UNET_INFER_EV_NOTICE) {
        progress_clear(p);
        fprintf(stderr, "unetcl infer: %s\n", ev->message);
    } else if (ev->kind == UNET_INFER_EV_PAGE) {
        progress_clear(p);
        if (!p->quiet) {
            char extra[64] = "";
            if (ev->objects >= 0) snprintf(extra, sizeof extra, ", %d objects", ev->objects);
            char pgs[32] = "";
            if (ev->pages > 1) snprintf(pgs, sizeof pgs, " page %d", ev->page);
            char str[160] = "";
            if (ev->streamed && ev->stream_instance_rows > 0)
                snprintf(str, sizeof str, ", streamed (%.1f MiB of host buffers; instances held at most %d rows)",
                         (double)ev->stream_host_bytes / (1024.0 * 1024.0), ev->stream_instance_rows);
            else if (ev->streamed)
                snprintf(str, sizeof str, ", streamed (%.1f MiB of host buffers)",
                         (double)ev->stream_host_bytes / (1024.0 * 1024.0));
            fprintf(stderr, "%s%s: %dx%d, tile %d (output %d)%s%s\n", ev->path, pgs, ev->w, ev->h, ev->tile,
                    ev->tile_out, extra, str);
        }
        p->image++;
    }
    return 0;
}

/* ---- main --------------------------------------------------------------------- */

int cmd_infer(int argc, char **argv)
{
    const char *cfg_path = NULL, *o_model = NULL, *o_input = NULL, *o_output = NULL, *o_device = NULL;
    const char *o_tile = NULL;
    int o_tta = 0, quiet = 0;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int nsets = 0;
    if (!sets) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(sets);
            return 0;
        } else if (!strcmp(a, "--model") && more) o_model = argv[++i];
        else if (!strcmp(a, "--input") && more) o_input = argv[++i];
        else if (!strcmp(a, "--output") && more) o_output = argv[++i];
        else if (!strcmp(a, "--tile") && more) o_tile = argv[++i];
        else if (!strcmp(a, "--device") && more) o_device = argv[++i];
        else if (!strcmp(a, "--set") && more) sets[nsets++] = argv[++i];
        else if (!strcmp(a, "--tta")) o_tta = 1;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) quiet = 1;
        else if (a[0] != '-' && !cfg_path) cfg_path = a;
        else {
            fprintf(stderr, "unetcl infer: unknown or incomplete option \"%s\" (see unetcl infer --help)\n", a);
            free(sets);
            return 2;
        }
    }
    if (!cfg_path) {
        fprintf(stderr, "unetcl infer: a configuration file is required\n\n");
        usage(stderr);
        free(sets);
        return 2;
    }
    unet_config *cfg = NULL;
    if (unet_config_new(&cfg) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        free(sets);
        return 1;
    }
    int rc = 1;
    unet_context *ctx = NULL;
    unet_model *model = NULL;
    unet_infer *inf = NULL;
    char **files = NULL;
    int nfiles = 0;
    if (unet_config_load(cfg, cfg_path) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    for (int i = 0; i < nsets; i++)
        if (unet_config_set(cfg, sets[i]) != UNET_OK) {
            fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
            goto out;
        }
    {
        char buf[8192];
        const char *ov[][2] = {{"infer.model", o_model},   {"infer.input", o_input}, {"infer.output", o_output},
                               {"infer.tile", o_tile},     {"device.select", o_device}};
        for (size_t i = 0; i < sizeof ov / sizeof ov[0]; i++) {
            if (!ov[i][1]) continue;
            snprintf(buf, sizeof buf, "%s=%s", ov[i][0], ov[i][1]);
            if (unet_config_set(cfg, buf) != UNET_OK) {
                fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
                goto out;
            }
        }
        if (o_tta && unet_config_set(cfg, "infer.tta=true") != UNET_OK) {
            fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
            goto out;
        }
    }
    if (unet_config_validate(cfg) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    static char model_path[4200], input[4200], output[4200], outputs[64], tile_s[32], tta_s[16], select[256];
    if (unet_config_get(cfg, "infer.model", model_path, sizeof model_path) != UNET_OK ||
        unet_config_get(cfg, "infer.input", input, sizeof input) != UNET_OK ||
        unet_config_get(cfg, "infer.output", output, sizeof output) != UNET_OK ||
        unet_config_get(cfg, "infer.outputs", outputs, sizeof outputs) != UNET_OK ||
        unet_config_get(cfg, "infer.tile", tile_s, sizeof tile_s) != UNET_OK ||
        unet_config_get(cfg, "infer.tta", tta_s, sizeof tta_s) != UNET_OK ||
        unet_config_get(cfg, "device.select", select, sizeof select) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    const int tile = atoi(tile_s), tta = !strcmp(tta_s, "true");
    if (!model_path[0] || !input[0] || !output[0]) {
        const char *what = !model_path[0] ? "model" : !input[0] ? "input" : "output";
        fprintf(stderr, "unetcl infer: no %s given: set [infer] %s in %s or pass --%s\n", what, what, cfg_path, what);
        goto out;
    }
    if (!outputs[0]) {
        fprintf(stderr, "unetcl infer: [infer] outputs selects nothing to write\n");
        goto out;
    }
    struct stat sb;
    if (stat(model_path, &sb) != 0) {
        fprintf(stderr, "unetcl infer: model file %s: %s\n", model_path, strerror(errno));
        goto out;
    }
    if (unet_list_files(input, &files, &nfiles) != UNET_OK) {
        fprintf(stderr, "unetcl infer: input: %s\n", unet_last_error());
        goto out;
    }
    if (unet_mkdir_p(output) != 0) {
        fprintf(stderr, "unetcl infer: cannot create the output folder %s: %s\n", output, strerror(errno));
        goto out;
    }
    if (access(output, W_OK | X_OK) != 0) {
        fprintf(stderr, "unetcl infer: the output folder %s is not writable: %s\n", output, strerror(errno));
        goto out;
    }

    unet_context_options co;
    unet_context_options_from_config(cfg, NULL, &co);
    /* mpirun: input file f goes to rank f mod N, each rank on its own device */
    const unet_dist *dist = cli_dist();
    char rdev[256];
    if (dist->size > 1) {
        unet_device_info *infos = NULL;
        int n = 0;
        if (unet_list_devices(&infos, &n) != UNET_OK) n = 0;
        co.device = unet_rank_device(select, cli_dist_local_rank(), infos, n, rdev, sizeof rdev);
        free(infos);
    }
    if (unet_context_create(&co, &ctx) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    char *meta = NULL;
    if (unet_model_load(ctx, model_path, 0, &model, &meta) != UNET_OK) {
        fprintf(stderr, "unetcl infer: loading the model %s: %s\n", model_path, unet_last_error());
        goto out;
    }
    const unet_model_config *mc = unet_model_get_config(model);
    unet_status cs = unet_infer_check_model(model, meta, cfg, model_path, cfg_path);
    free(meta);
    if (cs != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    if (tile && unet_tile_check(mc, tile) != UNET_OK) {
        fprintf(stderr, "unetcl infer: tile %d: %s\n", tile, unet_last_error());
        goto out;
    }
    unet_device_info dev;
    unet_context_device_info(ctx, &dev);
    if (!quiet)
        fprintf(stderr, "infer: %d file(s), model %s (depth %d, %d channels, %d classes), device %s%s\n", nfiles,
                model_path, mc->depth, mc->base_channels, mc->classes, dev.name, tta ? ", TTA x8" : "");

    /* count the images (pages) for the progress bar */
    progress pr = {quiet, isatty(2), 0, 0, NULL, now_s(), 0, 0};
    pr.last = pr.tty ? 0 : pr.start;
    for (int f = 0; f < nfiles; f++) {
        int pages = 1;
        if (f % dist->size != dist->rank) continue;
        if (unet_image_count_pages(files[f], &pages) != UNET_OK) {
            fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
            goto out;
        }
        pr.images += pages;
    }

    unet_infer_options iopt;
    unet_infer_options_default(&iopt);
    unet_infer_options_from_config(cfg, &iopt);
    iopt.model_name = model_path;
    iopt.callback = on_event;
    iopt.user = &pr;
    if (unet_infer_create(model, cfg, &iopt, &inf) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    for (int f = 0; f < nfiles; f++) {
        const char *path = files[f];
        if (f % dist->size != dist->rank) continue; /* mpirun: file f goes to rank f mod N */
        pr.name = path;
        double t0 = now_s();
        if (unet_infer_file(inf, path, output) != UNET_OK) {
            /* stop at the first failure: later images would likely fail alike */
            progress_clear(&pr);
            fprintf(stderr, "unetcl infer: %s: %s\n", path, unet_last_error());
            goto out;
        }
        if (!quiet)
            fprintf(stderr, "wrote the outputs of %s to %s (%.2f s)\n", path, output, now_s() - t0);
    }
    rc = 0;
out:
    rc = cli_dist_agree_rc(cli_dist(), rc, "infer"); /* every rank gets here: all return the same code */
    unet_infer_destroy(inf);
    unet_model_destroy(model);
    unet_context_destroy(ctx);
    unet_list_free(files, nfiles);
    unet_config_free(cfg);
    free(sets);
    return rc;
}
