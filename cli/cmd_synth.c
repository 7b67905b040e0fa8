#define _POSIX_C_SOURCE 200809L
#include "fsutil.h"
#include "commands.h"
#include "unetcl/image.h"
#include "unetcl/synth.h"
#include "unetcl/unetcl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl synth --output DIR --count N [--size WxH] [--seed S] [--start I]\n"
            "\n"
            "Writes N synthetic cell-like microscopy images with instance labels:\n"
            "  DIR/images/synth_XXX.png   8-bit grey image\n"
            "  DIR/labels/synth_XXX.png   16-bit instance ids (0 = background, 1..n cells)\n"
            "Clusters of touching cells with thin dark membranes, textured cytoplasm, darker\n"
            "nuclei, blur, uneven illumination and noise. The same seed and index always give\n"
            "the same labels (integer geometry) and, with the same build, the same image.\n"
            "\n"
            "options:\n"
            "  -o, --output DIR   output folder (created with images/ and labels/)\n"
            "  -n, --count N      number of images (1..100000)\n"
            "  --size WxH         image size (default 256x256; 16..16384 per side)\n"
            "  --seed S           series seed, an unsigned integer (default 1)\n"
            "  --start I          index of the first image (default 0): image k is index I+k\n"
            "  -h, --help         this text\n");
}


static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int cmd_synth(int argc, char **argv)
{
    const char *out = NULL;
    long count = -1, start = 0;
    unet_synth_options o;
    unet_synth_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        int takes = !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "-n") || !strcmp(a, "--count") ||
                    !strcmp(a, "--size") || !strcmp(a, "--seed") || !strcmp(a, "--start");
        if (!takes) {
            fprintf(stderr, "unetcl synth: unknown option \"%s\" (see unetcl synth --help)\n", a);
            return 2;
        }
        if (!val) {
            fprintf(stderr, "unetcl synth: %s needs a value (see unetcl synth --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = val;
        else if (!strcmp(a, "-n") || !strcmp(a, "--count")) {
            if (!parse_long(val, 1, 100000, &count)) {
                fprintf(stderr, "unetcl synth: --count \"%s\" must be an integer in 1..100000\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--start")) {
            if (!parse_long(val, 0, 1000000000L, &start)) {
                fprintf(stderr, "unetcl synth: --start \"%s\" must be an integer in 0..1000000000\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 0);
            if (errno || end == val || *end || val[0] == '-') {
                fprintf(stderr, "unetcl synth: --seed \"%s\" must be an unsigned integer\n", val);
                return 2;
            }
            o.seed = (uint64_t)s;
        } else { /* --size */
            int w, h;
            char x, extra;
            if (sscanf(val, "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w < 16 || h < 16 ||
                w > 16384 || h > 16384) {
                fprintf(stderr, "unetcl synth: --size \"%s\" must be WxH with 16..16384 per side, e.g. 256x256\n",
                        val);
                return 2;
            }
            o.width = w;
            o.height = h;
        }
    }
    if (!out || count < 0) {
        fprintf(stderr, "unetcl synth: --output and --count are required\n\n");
        usage(stderr);
        return 2;
    }
    if (start + count - 1 > 2147483647L) {
        fprintf(stderr, "unetcl synth: --start + --count is too large\n");
        return 2;
    }
    char idir[4096], ldir[4096], path[4200];
    snprintf(idir, sizeof idir, "%s/images", out);
    snprintf(ldir, sizeof ldir, "%s/labels", out);
    if (unet_mkdir_p(idir) != 0 || unet_mkdir_p(ldir) != 0) {
        fprintf(stderr, "unetcl synth: cannot create %s and %s: %s\n", idir, ldir, strerror(errno));
        return 1;
    }
    long last = start + count - 1;
    int digits = 3;
    for (long t = last; t >= 1000; t /= 10) digits++;
    long cells = 0;
    for (long k = 0; k < count; k++) {
        int index = (int)(start + k);
        unet_image img, lab;
        if (unet_synth_generate(&o, index, &img, &lab) != UNET_OK) {
            fprintf(stderr, "unetcl synth: image %d: %s\n", index, unet_last_error());
            return 1;
        }
        float maxid = 0;
        for (size_t i = 0; i < unet_image_count(&lab); i++)
            if (lab.data[i] > maxid) maxid = lab.data[i];
        cells += (long)maxid;
        unet_status st = UNET_OK;
        int len = snprintf(path, sizeof path, "%s/synth_%0*d.png", idir, digits, index);
        if (len < 0 || (size_t)len >= sizeof path) st = UNET_ERR_INVALID_ARGUMENT;
        else st = unet_png_write(path, &img, 8);
        if (st == UNET_OK) {
            len = snprintf(path, sizeof path, "%s/synth_%0*d.png", ldir, digits, index);
            if (len < 0 || (size_t)len >= sizeof path) st = UNET_ERR_INVALID_ARGUMENT;
            else st = unet_png_write(path, &lab, 16);
        }
        if (st == UNET_ERR_INVALID_ARGUMENT) {
            fprintf(stderr, "unetcl synth: the output path %s is too long\n", out);
            unet_image_free(&img);
            unet_image_free(&lab);
            return 1;
        }
        unet_image_free(&img);
        unet_image_free(&lab);
        if (st != UNET_OK) {
            fprintf(stderr, "unetcl synth: %s\n", unet_last_error());
            return 1;
        }
    }
    printf("wrote %ld images of %dx%d (seed %" PRIu64 ", %ld cells in all) to %s/images and %s/labels\n", count,
           o.width, o.height, o.seed, cells, out, out);
    return 0;
}
