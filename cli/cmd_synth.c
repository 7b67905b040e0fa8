#define _POSIX_C_SOURCE 200809L
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
            "       unetcl synth --large FILE --size WxH [--seed S]\n"
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
            "  --large FILE       one large grey image (no labels), written row by row without\n"
            "                     holding it: FILE.png (8-bit PNG) or FILE.tif (8-bit tiled BigTIFF,\n"
            "                     256x256 tiles); --size up to 1000000 per side. Discs on a jittered\n"
            "                     40-pixel grid with texture and noise, a function of (x, y, seed) only,\n"
            "                     so the PNG and the TIFF of one size and seed hold the same pixels.\n"
            "  -h, --help         this text\n");
}


/* ---- --large: a procedural image, row by row ------------------------------- */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Value of pixel (x, y): background with noise; discs (cells) on a 40-pixel
 * grid, each present with probability 0.7, centre jittered by up to 10 px,
 * radius 7..16, a dark rim and a textured interior. */
static float large_pixel(long x, long y, uint64_t seed)
{
    const long g = 40;
    long gx = x / g, gy = y / g;
    float v = 40.0f;
    for (long j = gy - 1; j <= gy + 1; j++)
        for (long i = gx - 1; i <= gx + 1; i++) {
            if (i < 0 || j < 0) continue;
            uint64_t h = mix64(seed ^ mix64(((uint64_t)j << 32) ^ (uint64_t)i));
            if ((h & 1023) >= 717) continue;
            long cx = i * g + g / 2 + (long)((h >> 10) % 21) - 10, cy = j * g + g / 2 + (long)((h >> 20) % 21) - 10;
            long r = 7 + (long)((h >> 30) % 10);
            long dx = x - cx, dy = y - cy, d2 = dx * dx + dy * dy;
            if (d2 <= r * r) {
                v = d2 >= (r - 2) * (r - 2) ? 70.0f : 150.0f + (float)((h >> 40) % 60);
                goto noise;
            }
        }
noise:
    v += (float)(mix64(seed * 31 + ((uint64_t)y << 32) + (uint64_t)x) % 25) - 12.0f;
    return v;
}

static int synth_large(const char *path, int w, int h, uint64_t seed)
{
    int tif = strlen(path) > 4 && (!strcmp(path + strlen(path) - 4, ".tif") || !strcmp(path + strlen(path) - 5, ".tiff"));
    unet_image_writer *wr = NULL;
    unet_status st = tif ? unet_image_writer_open_tiled(path, 8, 256, &wr) : unet_image_writer_open(path, 8, &wr);
    const int chunk = 64;
    float *rows = malloc((size_t)chunk * w * sizeof *rows);
    if (st == UNET_OK && !rows) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %d rows", chunk);
    if (st == UNET_OK) st = unet_image_writer_begin_page(wr, w, h, 1);
    for (int y0 = 0; y0 < h && st == UNET_OK; y0 += chunk) {
        int n = h - y0 < chunk ? h - y0 : chunk;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < w; x++) rows[(size_t)y * w + x] = large_pixel(x, (long)y0 + y, seed);
        st = unet_image_writer_rows(wr, rows, (size_t)n * w, n);
    }
    if (st == UNET_OK) st = unet_image_writer_end_page(wr);
    free(rows);
    if (wr) {
        unet_status cs = unet_image_writer_close(wr, st == UNET_OK);
        if (st == UNET_OK) st = cs;
    }
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl synth: %s\n", unet_last_error());
        return 1;
    }
    printf("wrote a %dx%d synthetic image (seed %" PRIu64 ") to %s\n", w, h, seed, path);
    return 0;
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
    const char *out = NULL, *large = NULL;
    long count = -1, start = 0;
    int lw = 0, lh = 0;
    const char *size_err = NULL;
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
                    !strcmp(a, "--size") || !strcmp(a, "--seed") || !strcmp(a, "--start") || !strcmp(a, "--large");
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
        else if (!strcmp(a, "--large")) large = val;
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
            if (sscanf(val, "%d%c%d%c", &w, &x, &h, &extra) == 3 && (x == 'x' || x == 'X') && w >= 1 && h >= 1 &&
                w <= 1000000 && h <= 1000000) {
                lw = w;
                lh = h;
            }
            if (sscanf(val, "%d%c%d%c", &w, &x, &h, &extra) != 3 || (x != 'x' && x != 'X') || w < 16 || h < 16 ||
                w > 16384 || h > 16384) {
                size_err = val; /* a --large size perhaps: checked after the options */
                continue;
            }
            o.width = w;
            o.height = h;
        }
    }
    if (size_err && !large) {
        fprintf(stderr, "unetcl synth: --size \"%s\" must be WxH with 16..16384 per side, e.g. 256x256\n", size_err);
        return 2;
    }
    if (large) {
        if (out || count >= 0 || start) {
            fprintf(stderr, "unetcl synth: --large writes one image: do not combine it with --output, --count or --start\n");
            return 2;
        }
        if (!lw) {
            fprintf(stderr, "unetcl synth: --large needs --size WxH (1..1000000 per side), e.g. 40000x40000\n");
            return 2;
        }
        size_t n = strlen(large);
        int ok = (n > 4 && (!strcmp(large + n - 4, ".png") || !strcmp(large + n - 4, ".tif"))) ||
                 (n > 5 && !strcmp(large + n - 5, ".tiff"));
        if (!ok) {
            fprintf(stderr, "unetcl synth: --large %s: the name must end in .png or .tif\n", large);
            return 2;
        }
        return synth_large(large, lw, lh, o.seed);
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
