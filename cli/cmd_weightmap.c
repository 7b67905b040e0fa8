/* unetcl weightmap: the paper's weight map of one label image (Fig. 3d). */
#include "commands.h"
#include "unetcl/image.h"
#include "unetcl/unetcl.h"
#include "unetcl/weightmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes w x h floats as an image file (bits 8 PNG or 32 float TIFF). */
static int write_plane(const char *path, const float *px, int w, int h, int bits, char *err, size_t errn)
{
    unet_image img = {w, h, 1, bits, (float *)px};
    if (unet_image_write(path, &img, bits) != UNET_OK) {
        snprintf(err, errn, "%s", unet_last_error());
        return -1;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl weightmap --labels L.png [--instances | --binary [--foreground V]]\n"
            "                        [--w0 10] [--sigma 5] [--no-border] [--no-balance]\n"
            "                        [--cache DIR] --output OUT\n\n"
            "Computes the U-Net weight map w(x) = w_c(x) + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) of a\n"
            "label image (Ronneberger et al. 2015, eq. 2, Fig. 3d).\n\n"
            "  --labels L.png   greyscale PNG or TIFF (8 or 16 bit; first page)\n"
            "  --instances      pixel values are instance ids, 0 = background (default)\n"
            "  --binary         pixel values are a mask; cells = 8-connected components of\n"
            "                   the pixels != 0, or == V with --foreground V\n"
            "  --w0 W           border weight (default 10)\n"
            "  --sigma S        border width in pixels (default 5)\n"
            "  --no-border      do not separate touching cells by a background line\n"
            "  --no-balance     w_c = 1 (default: w_c(k) = N / (2 n_k), mean 1 over the image)\n"
            "  --cache DIR      reuse/store the map in DIR (keyed by label file bytes + options)\n"
            "  --output OUT     writes OUT.png (8-bit, scaled to the maximum weight) and\n"
            "                   OUT.tif (float32 weights, LZW)\n");
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
    int32_t *in = NULL;
    unet_label_options lo;
    unet_label_options_default(&lo); /* the values as stored: --binary decides below */
    if (unet_labels_read(labels, 0, &lo, &in, &w, &h) != UNET_OK) {
        fprintf(stderr, "unetcl weightmap: %s\n", unet_last_error());
        return 1;
    }
    size_t n = (size_t)w * h;
    int rc = 1;
    float *wt = malloc(sizeof *wt * n);
    float *vis = malloc(sizeof *vis * n);
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
        vis[i] = (float)(int)(v > 255 ? 255 : v < 0 ? 0 : v);
    }
    /* OUT, OUT.png or OUT.tif all name the pair OUT.png / OUT.tif */
    char base[1024], path[1100];
    snprintf(base, sizeof base, "%s", output);
    size_t bl = strlen(base);
    if (bl > 4 && (!strcmp(base + bl - 4, ".png") || !strcmp(base + bl - 4, ".tif"))) base[bl - 4] = '\0';
    else if (bl > 5 && !strcmp(base + bl - 5, ".tiff")) base[bl - 5] = '\0';
    snprintf(path, sizeof path, "%s.png", base);
    if (write_plane(path, vis, w, h, 8, err, sizeof err)) {
        fprintf(stderr, "unetcl weightmap: %s\n", err);
        goto out;
    }
    char png[1100];
    snprintf(png, sizeof png, "%s", path);
    snprintf(path, sizeof path, "%s.tif", base);
    if (write_plane(path, wt, w, h, 32, err, sizeof err)) {
        unlink(png); /* both files or neither: no half of a pair left behind */
        fprintf(stderr, "unetcl weightmap: %s\n", err);
        goto out;
    }
    printf("wrote %s\nwrote %s\n", png, path);
    rc = 0;
out:
    free(in);
    free(wt);
    free(vis);
    free(mask);
    return rc;
}
