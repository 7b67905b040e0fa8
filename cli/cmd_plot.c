/* unetcl plot: training curves of one or more runs as a PNG. */
#include "commands.h"
#include "unetcl/export.h"
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl plot RUN_DIR [RUN_DIR...] [--output F.png] [--size WxH]\n\n"
            "Draws the training curves of runs of `unetcl train` from their logs (RUN_DIR/train_log.csv,\n"
            "RUN_DIR/val_log.csv): training loss per step and its running mean, validation loss (log\n"
            "scale) and validation IoU against the step; several runs (at most 8) on one chart, one\n"
            "colour each. Training draws RUN_DIR/curves.png itself at every validation.\n\n"
            "  --output F.png   picture to write (default: RUN_DIR/curves.png for one run,\n"
            "                   curves.png in the current folder for several)\n"
            "  --size WxH       picture size in pixels (default 1200x500)\n");
}

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL;
    const char **dirs = calloc((size_t)argc, sizeof *dirs);
    int n = 0, w = 0, h = 0;
    if (!dirs) {
        fprintf(stderr, "unetcl plot: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(dirs);
            return 0;
        } else if (!strcmp(a, "--output") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--size") && i + 1 < argc) {
            char x;
            if (sscanf(argv[++i], "%d%c%d", &w, &x, &h) != 3 || x != 'x' || w <= 0 || h <= 0) {
                fprintf(stderr, "unetcl plot: --size %s: expected WIDTHxHEIGHT, e.g. 1200x500\n", argv[i]);
                free(dirs);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "unetcl plot: unknown option or missing value: %s (see unetcl plot --help)\n", a);
            free(dirs);
            return 2;
        } else {
            dirs[n++] = a;
        }
    }
    if (n == 0) {
        fprintf(stderr, "unetcl plot: needs at least one run folder (see unetcl plot --help)\n");
        free(dirs);
        return 2;
    }
    char def[4200];
    if (!out) {
        if (n == 1) snprintf(def, sizeof def, "%s/curves.png", dirs[0]);
        else snprintf(def, sizeof def, "curves.png");
        out = def;
    }
    unet_status st = unet_plot_runs(dirs, n, out, w, h);
    free(dirs);
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl plot: %s\n", unet_last_error());
        return 1;
    }
    printf("unetcl plot: wrote %s\n", out);
    return 0;
}
