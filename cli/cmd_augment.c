/* unetcl augment: writes augmented training samples as the training loop
 * would draw them, for looking at (image tile, class labels and weights of
 * the output region), plus an optional contact sheet with label contours. */
#define _POSIX_C_SOURCE 200809L
#include "commands.h"
#include "unetcl/unetcl.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SETS 256

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl augment CONFIG.ini --count N --output DIR [--set section.key=value]...\n"
            "                      [--device SEL] [--sheet FILE.png [--sheet-cols C] [--sheet-cell PX]]\n"
            "\n"
            "Writes N augmented training samples drawn as training does: the images and labels of\n"
            "[data] (train_images / train_labels, label_type, foreground_value, invert_labels), the\n"
            "weight map of [weights] (instance and binary labels; 1 for label_type = classes), the\n"
            "augmentation of [augment], the input tile of [train] tile and the output region the\n"
            "network of [model] computes for it. Sample i uses training image i mod (number of\n"
            "images) and the draw (seed = [train] seed, step = i, index = 0).\n"
            "\n"
            "  DIR/aug_XXX_image.png    the T x T input tile, 8-bit (intensity scaled to [0,1] by\n"
            "                           the bit depth of the file, then clamped)\n"
            "  DIR/aug_XXX_labels.png   the O x O output region's class labels, 8-bit,\n"
            "                           class k -> k * 255 / (classes - 1)\n"
            "  DIR/aug_XXX_weights.png  its weights, 8-bit, scaled by the maximum weight of the\n"
            "                           source image's weight map\n"
            "\n"
            "options:\n"
            "  --count N          number of samples (1..100000)\n"
            "  --output DIR       output folder (created if missing)\n"
            "  --set S.K=V        override a setting of CONFIG (repeatable), e.g.\n"
            "                     --set augment.elastic_sigma=5 --set train.seed=7\n"
            "  --device SEL       OpenCL device (default: [device] select)\n"
            "  --sheet FILE.png   also write a contact sheet: every sample's input tile with the\n"
            "                     output region framed and its label contours overlaid\n"
            "  --sheet-cols C     samples per row of the sheet (default 4)\n"
            "  --sheet-cell PX    edge of one sample on the sheet in pixels (default: the tile,\n"
            "                     at most 256; larger tiles are reduced by area averaging)\n"
            "  -h, --help         this text\n");
}


static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int cmd_augment(int argc, char **argv)
{
    const char *config = NULL, *device = NULL, *sheet_path = NULL;
    const char *sets[MAX_SETS];
    int nsets = 0, count = -1, cols = 4, cell = 0;
    unet_augment_preview_options po = {0};
    po.log = stdout;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--count") || !strcmp(a, "-n")) {
            if (!val || !parse_int(val, 1, 100000, &count)) {
                fprintf(stderr, "unetcl augment: %s needs a number of samples 1..100000\n", a);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--output") || !strcmp(a, "-o")) {
            if (!val) goto incomplete;
            po.output_dir = argv[++i];
        } else if (!strcmp(a, "--set")) {
            if (!val) goto incomplete;
            if (nsets == MAX_SETS) {
                fprintf(stderr, "unetcl augment: more than %d --set options\n", MAX_SETS);
                return 2;
            }
            sets[nsets++] = argv[++i];
        } else if (!strcmp(a, "--device")) {
            if (!val) goto incomplete;
            device = argv[++i];
        } else if (!strcmp(a, "--sheet")) {
            if (!val) goto incomplete;
            sheet_path = argv[++i];
        } else if (!strcmp(a, "--sheet-cols")) {
            if (!val || !parse_int(val, 1, 1000, &cols)) {
                fprintf(stderr, "unetcl augment: --sheet-cols needs a number 1..1000\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--sheet-cell")) {
            if (!val || !parse_int(val, 8, 4096, &cell)) {
                fprintf(stderr, "unetcl augment: --sheet-cell needs a number of pixels 8..4096\n");
                return 2;
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "unetcl augment: unknown option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        } else if (!config) {
            config = a;
        } else {
            fprintf(stderr, "unetcl augment: one config file expected, got \"%s\" and \"%s\"\n", config, a);
            return 2;
        }
        continue;
    incomplete:
        fprintf(stderr, "unetcl augment: %s needs a value\n", a);
        return 2;
    }
    if (!config || count < 1 || !po.output_dir) {
        fprintf(stderr, "unetcl augment: CONFIG.ini, --count and --output are required\n\n");
        usage(stderr);
        return 2;
    }

    unet_config *cfg = NULL;
    if (unet_config_new(&cfg) != UNET_OK || unet_config_load(cfg, config) != UNET_OK) {
        unet_config_free(cfg);
        fprintf(stderr, "unetcl augment: %s\n", unet_last_error());
        return 2;
    }
    for (int i = 0; i < nsets; i++)
        if (unet_config_set(cfg, sets[i]) != UNET_OK) {
            fprintf(stderr, "unetcl augment: --set %s: %s\n", sets[i], unet_last_error());
            unet_config_free(cfg);
            return 2;
        }
    if (unet_config_validate(cfg) != UNET_OK) {
        fprintf(stderr, "unetcl augment: %s: %s\n", config, unet_last_error());
        unet_config_free(cfg);
        return 2;
    }
    po.count = count;
    po.device = device;
    po.sheet = sheet_path;
    po.sheet_cols = cols;
    po.sheet_cell = cell;
    unet_status st = unet_augment_preview(cfg, &po);
    unet_config_free(cfg);
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl augment: %s\n", unet_last_error());
        return st == UNET_ERR_INVALID_ARGUMENT || st == UNET_ERR_CONFIG ? 2 : 1;
    }
    return 0;
}
