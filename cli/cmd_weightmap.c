/* unetcl weightmap: the paper's weight map of one label image (Fig. 3d). */
#include "commands.h"
#include "unetcl/unetcl.h"
#include "weightmap.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

/* ===========================================================================
 * TEMPORARY local image I/O (libpng / libtiff directly).
 * TODO: replace by src/host/image.h (the library's image I/O) once it exists:
 * read_png_gray -> the image reader, write_png8 / write_tiff_float -> writers.
 * =========================================================================== */

/* Greyscale PNG (1..16 bit, alpha ignored) into a malloc'ed int32 array. */
static int32_t *read_png_gray(const char *path, int *w_out, int *h_out, char *err, size_t errn)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errn, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char sig[8];
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        snprintf(err, errn, "%s is not a PNG file", path);
        fclose(f);
        return NULL;
    }
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info) {
        snprintf(err, errn, "out of memory reading %s", path);
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        return NULL;
    }
    unsigned char *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    int32_t *volatile out = NULL;
    if (setjmp(png_jmpbuf(p))) {
        snprintf(err, errn, "%s: corrupt or truncated PNG", path);
        free(buf);
        free(rows);
        free(out);
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        return NULL;
    }
    png_init_io(p, f);
    png_set_sig_bytes(p, 8);
    png_read_info(p, info);
    int bd = png_get_bit_depth(p, info), ct = png_get_color_type(p, info);
    if (ct != PNG_COLOR_TYPE_GRAY && ct != PNG_COLOR_TYPE_GRAY_ALPHA) {
        snprintf(err, errn, "%s: colour PNG; label images must be greyscale (8- or 16-bit ids)", path);
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        return NULL;
    }
    if (bd < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (ct & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(p);
    if (png_get_interlace_type(p, info) != PNG_INTERLACE_NONE) png_set_interlace_handling(p);
    png_read_update_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    if (w == 0 || h == 0 || w > 65536 || h > 65536) {
        snprintf(err, errn, "%s: unsupported image size %ux%u", path, (unsigned)w, (unsigned)h);
        png_destroy_read_struct(&p, &info, NULL);
        fclose(f);
        return NULL;
    }
    size_t rb = png_get_rowbytes(p, info);
    buf = malloc(rb * h);
    rows = malloc(sizeof *rows * h);
    out = malloc(sizeof *out * (size_t)w * h);
    if (!buf || !rows || !out) png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = buf + rb * y;
    png_read_image(p, rows);
    for (png_uint_32 y = 0; y < h; y++)
        for (png_uint_32 x = 0; x < w; x++)
            out[(size_t)y * w + x] = bd == 16 ? (rows[y][2 * x] << 8) | rows[y][2 * x + 1] : rows[y][x];
    int32_t *res = out;
    free(buf);
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    *w_out = (int)w;
    *h_out = (int)h;
    return res;
}

static int write_png8(const char *path, const uint8_t *px, int w, int h, char *err, size_t errn)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errn, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = p ? png_create_info_struct(p) : NULL;
    if (!p || !info || setjmp(png_jmpbuf(p))) {
        snprintf(err, errn, "error writing %s (disk full?)", path);
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    for (int y = 0; y < h; y++) png_write_row(p, (png_const_bytep)(px + (size_t)y * w));
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    if (fclose(f) != 0) {
        snprintf(err, errn, "error closing %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_tiff_float(const char *path, const float *px, int w, int h, char *err, size_t errn)
{
    TIFF *t = TIFFOpen(path, "w");
    if (!t) {
        snprintf(err, errn, "cannot create %s", path);
        return -1;
    }
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 32);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_IEEEFP);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
    for (int y = 0; y < h; y++)
        if (TIFFWriteScanline(t, (void *)(px + (size_t)y * w), (uint32_t)y, 0) < 0) {
            snprintf(err, errn, "error writing %s (disk full?)", path);
            TIFFClose(t);
            return -1;
        }
    TIFFClose(t);
    return 0;
}

/* ======================= end of temporary image I/O ======================= */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl weightmap --labels L.png [--instances | --binary [--foreground V]]\n"
            "                        [--w0 10] [--sigma 5] [--no-border] [--no-balance]\n"
            "                        [--cache DIR] --output OUT\n\n"
            "Computes the U-Net weight map w(x) = w_c(x) + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) of a\n"
            "label image (Ronneberger et al. 2015, eq. 2, Fig. 3d).\n\n"
            "  --labels L.png   greyscale PNG (8 or 16 bit)\n"
            "  --instances      pixel values are instance ids, 0 = background (default)\n"
            "  --binary         pixel values are a mask; cells = 8-connected components of\n"
            "                   the pixels != 0, or == V with --foreground V\n"
            "  --w0 W           border weight (default 10)\n"
            "  --sigma S        border width in pixels (default 5)\n"
            "  --no-border      do not separate touching cells by a background line\n"
            "  --no-balance     w_c = 1 (default: w_c(k) = N / (2 n_k), mean 1 over the image)\n"
            "  --cache DIR      reuse/store the map in DIR (keyed by label file bytes + options)\n"
            "  --output OUT     writes OUT.png (8-bit, scaled to the maximum weight) and\n"
            "                   OUT.tif (float32 weights)\n");
}

static int parse_double(const char *opt, const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "unetcl weightmap: %s \"%s\": not a number\n", opt, s);
        return -1;
    }
    return 0;
}

int cmd_weightmap(int argc, char **argv)
{
    const char *labels = NULL, *output = NULL, *cache = NULL;
    int binary = 0, have_fg = 0;
    double fgv = 0;
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--labels") && more) labels = argv[++i];
        else if (!strcmp(a, "--output") && more) output = argv[++i];
        else if (!strcmp(a, "--cache") && more) cache = argv[++i];
        else if (!strcmp(a, "--instances")) binary = 0;
        else if (!strcmp(a, "--binary")) binary = 1;
        else if (!strcmp(a, "--foreground") && more) {
            if (parse_double(a, argv[++i], &fgv)) return 2;
            have_fg = 1;
        } else if (!strcmp(a, "--w0") && more) {
            if (parse_double(a, argv[++i], &o.w0)) return 2;
        } else if (!strcmp(a, "--sigma") && more) {
            if (parse_double(a, argv[++i], &o.sigma)) return 2;
        } else if (!strcmp(a, "--no-border")) o.border = 0;
        else if (!strcmp(a, "--no-balance")) o.balance = UNET_WM_BALANCE_NONE;
        else {
            fprintf(stderr, "unetcl weightmap: unknown or incomplete option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!labels || !output) {
        fprintf(stderr, "unetcl weightmap: --labels and --output are required\n\n");
        usage(stderr);
        return 2;
    }
    if (have_fg && !binary) {
        fprintf(stderr, "unetcl weightmap: --foreground needs --binary\n");
        return 2;
    }

    char err[1200];
    int w, h;
    int32_t *in = read_png_gray(labels, &w, &h, err, sizeof err);
    if (!in) {
        fprintf(stderr, "unetcl weightmap: %s\n", err);
        return 1;
    }
    size_t n = (size_t)w * h;
    int rc = 1;
    float *wt = malloc(sizeof *wt * n);
    uint8_t *vis = malloc(n);
    uint8_t *mask = binary ? malloc(n) : NULL;
    if (!wt || !vis || (binary && !mask)) {
        fprintf(stderr, "unetcl weightmap: out of memory for a %dx%d image\n", w, h);
        goto out;
    }
    if (binary) {
        for (size_t i = 0; i < n; i++) mask[i] = have_fg ? (double)in[i] == fgv : in[i] != 0;
        int ncomp = 0;
        if (unet_instances_from_mask(mask, w, h, in, &ncomp) != UNET_OK) {
            fprintf(stderr, "unetcl weightmap: %s\n", unet_last_error());
            goto out;
        }
        printf("%s: %d connected components (8-connected)\n", labels, ncomp);
    }
    unet_weightmap_info info;
    unet_status st;
    int hit = 0;
    if (cache) {
        char variant[64] = "instances";
        if (binary) snprintf(variant, sizeof variant, have_fg ? "binary fg=%.17g" : "binary nonzero", fgv);
        st = unet_weightmap_cached(cache, labels, variant, in, w, h, &o, NULL, wt, &hit);
        info.max_weight = 0;
        for (size_t i = 0; i < n; i++)
            if (wt[i] > info.max_weight) info.max_weight = wt[i];
    } else {
        st = unet_weightmap_compute_ex(in, w, h, &o, NULL, wt, &info);
    }
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl weightmap: %s: %s\n", labels, unet_last_error());
        goto out;
    }
    if (cache) printf("%s: %dx%d, %s %s, max weight %.4f\n", labels, w, h, hit ? "read from" : "stored in", cache,
                      info.max_weight);
    else
        printf("%s: %dx%d, %d cells, %lld border pixels, w_c = %.4f (background) / %.4f (cells), max weight %.4f\n",
               labels, w, h, info.cells, info.border_pixels, info.wc[0], info.wc[1], info.max_weight);

    double scale = info.max_weight > 0 ? 255.0 / info.max_weight : 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = wt[i] * scale + 0.5;
        vis[i] = (uint8_t)(v > 255 ? 255 : v < 0 ? 0 : v);
    }
    /* OUT, OUT.png or OUT.tif all name the pair OUT.png / OUT.tif */
    char base[1024], path[1100];
    snprintf(base, sizeof base, "%s", output);
    size_t bl = strlen(base);
    if (bl > 4 && (!strcmp(base + bl - 4, ".png") || !strcmp(base + bl - 4, ".tif"))) base[bl - 4] = '\0';
    else if (bl > 5 && !strcmp(base + bl - 5, ".tiff")) base[bl - 5] = '\0';
    snprintf(path, sizeof path, "%s.png", base);
    if (write_png8(path, vis, w, h, err, sizeof err)) {
        fprintf(stderr, "unetcl weightmap: %s\n", err);
        goto out;
    }
    printf("wrote %s\n", path);
    snprintf(path, sizeof path, "%s.tif", base);
    if (write_tiff_float(path, wt, w, h, err, sizeof err)) {
        fprintf(stderr, "unetcl weightmap: %s\n", err);
        goto out;
    }
    printf("wrote %s\n", path);
    rc = 0;
out:
    free(in);
    free(wt);
    free(vis);
    free(mask);
    return rc;
}
