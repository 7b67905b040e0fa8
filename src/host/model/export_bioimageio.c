/* bioimage.io export: a model folder (format_version 0.4) with the ONNX
 * weights, the safetensors file, a test input and its expected output as
 * .npy, a cover image and a README. Written into a staging folder renamed
 * into place at the end: no partial folder on error. */
#include "unetcl/export.h"
#include "atomicfile.h"
#include "error.h"
#include "unetcl/image.h"
#include "net.h"
#include "sha256.h"
#include "unetcl/synth.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void unet_bioimageio_options_default(unet_bioimageio_options *o)
{
    memset(o, 0, sizeof *o);
}

/* ---- files of the folder --------------------------------------------------------- */

typedef struct staging {
    char dir[4200];
    char files[16][64];
    int n;
} staging;

static unet_status stage_write(staging *s, const char *name, const void *data, size_t n)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    UNET_TRY(unet_write_file_atomic(path, data, n));
    if (s->n < 16) snprintf(s->files[s->n++], sizeof s->files[0], "%s", name);
    return UNET_OK;
}

static void stage_remove(staging *s)
{
    char path[4300];
    for (int i = 0; i < s->n; i++) {
        snprintf(path, sizeof path, "%s/%s", s->dir, s->files[i]);
        unlink(path);
    }
    rmdir(s->dir);
}

/* NPY format version 1.0: magic, version, header length (uint16 LE), a
 * Python dict literal padded with spaces to a multiple of 64 bytes ending in
 * '\n', then the data, here little-endian float32 in C order. */
static unsigned char *npy_f32(const float *data, const int *shape, int ndim, size_t *nbytes)
{
    char dict[256], dims[128] = "";
    size_t count = 1, l = 0;
    for (int d = 0; d < ndim; d++) {
        l += (size_t)snprintf(dims + l, sizeof dims - l, "%d%s", shape[d], ndim == 1 ? "," : d + 1 < ndim ? ", " : "");
        count *= (size_t)shape[d];
    }
    int dl = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
    size_t hl = 10 + (size_t)dl + 1, pad = (64 - hl % 64) % 64, hlen = (size_t)dl + pad + 1;
    size_t total = 10 + hlen + 4 * count;
    unsigned char *b = malloc(total);
    if (!b) return NULL;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (unsigned char)(hlen & 0xff);
    b[9] = (unsigned char)(hlen >> 8);
    memcpy(b + 10, dict, (size_t)dl);
    memset(b + 10 + dl, ' ', pad);
    b[10 + hlen - 1] = '\n';
    unsigned char *p = b + 10 + hlen;
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        p[4 * i] = (unsigned char)u, p[4 * i + 1] = (unsigned char)(u >> 8);
        p[4 * i + 2] = (unsigned char)(u >> 16), p[4 * i + 3] = (unsigned char)(u >> 24);
    }
    *nbytes = total;
    return b;
}

static unet_status read_all(const char *path, unsigned char **data, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return unet_seterr(UNET_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    unsigned char *b = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 20;
            unsigned char *q = realloc(b, cap);
            if (!q) {
                free(b);
                fclose(f);
                return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory reading %s", path);
            }
            b = q;
        }
        size_t r = fread(b + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        return unet_seterr(UNET_ERR_IO, "error reading %s", path);
    }
    *data = b;
    *n = len;
    return UNET_OK;
}

/* ---- the cover: the test input and its segmentation -------------------------------- */

static cairo_status_t to_mem(void *closure, const unsigned char *data, unsigned int length)
{
    unsigned char **buf = closure; /* [0] data, [1] (size_t *) used, [2] (size_t *) cap */
    size_t *used = (size_t *)(void *)buf[1], *cap = (size_t *)(void *)buf[2];
    if (*used + length > *cap) {
        size_t c = *cap ? *cap : 65536;
        while (c < *used + length) c *= 2;
        unsigned char *q = realloc(buf[0], c);
        if (!q) return CAIRO_STATUS_NO_MEMORY;
        buf[0] = q;
        *cap = c;
    }
    memcpy(buf[0] + *used, data, length);
    *used += length;
    return CAIRO_STATUS_SUCCESS;
}

static const unsigned char CLASS_RGB[6][3] = {{0, 0, 0}, {255, 64, 32}, {32, 200, 64}, {40, 120, 255}, {240, 200, 0}, {200, 60, 220}};

/* Left: channel 0 of the input's centre (the region the output covers),
 * grey; right: the same with the arg-max class (> 0) in colour. */
static unet_status cover_png(const float *x, int tile, const float *probs, int K, int out, unsigned char **png, size_t *n)
{
    int off = (tile - out) / 2, scale = out < 256 ? (256 + out - 1) / out : 1;
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 2 * out, out);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "cover image: cairo cannot allocate %dx%d pixels", 2 * out, out);
    }
    cairo_surface_flush(img);
    unsigned char *px = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    double lo = INFINITY, hi = -INFINITY;
    for (int y = 0; y < out; y++)
        for (int i = 0; i < out; i++) {
            double v = x[(size_t)(y + off) * tile + i + off];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    size_t plane = (size_t)out * out;
    for (int y = 0; y < out; y++)
        for (int i = 0; i < out; i++) {
            double v = x[(size_t)(y + off) * tile + i + off];
            int g = hi > lo ? (int)lround(255 * (v - lo) / (hi - lo)) : 128;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (probs[(size_t)k * plane + (size_t)y * out + i] > probs[(size_t)best * plane + (size_t)y * out + i]) best = k;
            uint32_t *row = (uint32_t *)(void *)(px + (size_t)y * stride);
            row[i] = (uint32_t)g << 16 | (uint32_t)g << 8 | (uint32_t)g;
            int r = g, gg = g, b = g;
            if (best > 0) {
                const unsigned char *c = CLASS_RGB[1 + (best - 1) % 5];
                r = (g * 45 + c[0] * 55) / 100, gg = (g * 45 + c[1] * 55) / 100, b = (g * 45 + c[2] * 55) / 100;
            }
            row[out + i] = (uint32_t)r << 16 | (uint32_t)gg << 8 | (uint32_t)b;
        }
    cairo_surface_mark_dirty(img);
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 2 * out * scale, out * scale);
    cairo_t *cr = cairo_create(sf);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    unsigned char *buf[3];
    size_t used = 0, cap = 0;
    buf[0] = NULL, buf[1] = (unsigned char *)(void *)&used, buf[2] = (unsigned char *)(void *)&cap;
    cairo_status_t cs = cairo_status(cr);
    if (cs == CAIRO_STATUS_SUCCESS) cs = cairo_surface_write_to_png_stream(sf, to_mem, buf);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    cairo_surface_destroy(img);
    if (cs != CAIRO_STATUS_SUCCESS) {
        free(buf[0]);
        return unet_seterr(UNET_ERR_INTERNAL, "cover image: cairo: %s", cairo_status_to_string(cs));
    }
    *png = buf[0];
    *n = used;
    return UNET_OK;
}

/* ---- text ---------------------------------------------------------------------------- */

typedef struct text {
    char *s;
    size_t n, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) UNET_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int l = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (l < 0 || t->failed) return;
    if (t->n + (size_t)l + 1 > t->cap) {
        size_t c = t->cap ? t->cap : 4096;
        while (c < t->n + (size_t)l + 1) c *= 2;
        char *q = realloc(t->s, c);
        if (!q) {
            t->failed = 1;
            return;
        }
        t->s = q;
        t->cap = c;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, (size_t)l + 1, fmt, ap);
    va_end(ap);
    t->n += (size_t)l;
}

/* A YAML single-quoted scalar: quotes doubled, line breaks as spaces. */
static void put_q(text *t, const char *s)
{
    put(t, "'");
    for (; *s; s++) {
        if (*s == '\'') put(t, "''");
        else if (*s == '\n' || *s == '\r' || *s == '\t') put(t, " ");
        else put(t, "%c", *s);
    }
    put(t, "'");
}

/* ---- the export ------------------------------------------------------------------------ */

static unet_status test_input(const unet_bioimageio_options *o, const unet_model_config *c, int tile, int fixed,
                              float *x)
{
    size_t plane = (size_t)tile * tile;
    if (o->sample) {
        unet_image img;
        UNET_TRY(unet_image_read(o->sample, 0, &img));
        unet_status st = UNET_OK;
        if (img.c != c->in_channels)
            st = unet_seterr(UNET_ERR_DATA, "sample image %s has %d channel(s); the model takes %d", o->sample, img.c,
                             c->in_channels);
        else if (img.w < tile || img.h < tile)
            st = unet_seterr(UNET_ERR_DATA, "sample image %s is %dx%d, smaller than the test tile %d: give a larger image or "
                             "a smaller --tile", o->sample, img.w, img.h, tile);
        if (st == UNET_OK) {
            int x0 = (img.w - tile) / 2, y0 = (img.h - tile) / 2;
            /* the preprocessing of fixed normalisation is declared for 8-bit values */
            double s = fixed && img.bits == 16 ? 255.0 / 65535.0 : fixed && img.bits == 32 ? 255.0 : 1.0;
            for (int ch = 0; ch < img.c; ch++)
                for (int y = 0; y < tile; y++)
                    for (int i = 0; i < tile; i++)
                        x[(size_t)ch * plane + (size_t)y * tile + i] = (float)(s * *unet_image_at(&img, ch, y + y0, i + x0));
        }
        unet_image_free(&img);
        return st;
    }
    unet_synth_options so;
    unet_synth_options_default(&so);
    so.width = so.height = tile;
    so.seed = 16;
    for (int ch = 0; ch < c->in_channels; ch++) {
        unet_image img;
        UNET_TRY(unet_synth_generate(&so, ch, &img, NULL));
        memcpy(x + (size_t)ch * plane, img.data, plane * sizeof *x);
        unet_image_free(&img);
    }
    return UNET_OK;
}

unet_status unet_export_bioimageio(unet_model *m, const char *meta_json, const char *model_path, const char *out_dir,
                                   const unet_bioimageio_options *opts)
{
    if (!m || !model_path || !out_dir || !*out_dir)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_export_bioimageio: NULL argument");
    unet_bioimageio_options o;
    if (opts) o = *opts;
    else unet_bioimageio_options_default(&o);
    const unet_model_config *c = &m->cfg;
    if (strlen(out_dir) > 4000) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "output folder name too long");
    struct stat sb;
    if (stat(out_dir, &sb) == 0)
        return unet_seterr(UNET_ERR_IO, "%s already exists: give a new folder name or remove it", out_dir);
    unet_geometry g;
    unet_input_norm norm;
    UNET_TRY(unet_model_geometry(c, &g));
    if (unet_model_input_norm(meta_json, &norm) != UNET_OK) return unet_errctx(UNET_ERR_FORMAT, "%s", model_path);
    /* the smallest input whose output keeps something after cropping the halo */
    int min_in = g.min_tile;
    while (unet_tile_output(c, min_in) <= 2 * g.halo) min_in += g.tile_step;
    int tile = o.tile;
    if (tile <= 0) {
        tile = unet_tile_valid_below(c, 572);
        if (tile < min_in) tile = min_in;
    } else {
        if (unet_tile_check(c, tile) != UNET_OK) return unet_errctx(UNET_ERR_INVALID_ARGUMENT, "test tile");
        if (tile < min_in)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                               "test tile %d: the rdf.yaml's smallest input is %d (output %d > 2 x halo %d); use --tile >= %d",
                               tile, min_in, unet_tile_output(c, min_in), g.halo, min_in);
    }
    int out = unet_tile_output(c, tile), C = c->in_channels, K = c->classes;
    size_t plane = (size_t)tile * tile, oplane = (size_t)out * out;
    float *raw = malloc((size_t)C * plane * sizeof *raw), *xn = malloc((size_t)C * plane * sizeof *xn);
    float *probs = malloc((size_t)K * oplane * sizeof *probs);
    unsigned char *st_bytes = NULL, *onnx_bytes = NULL, *buf = NULL;
    size_t st_n = 0, onnx_n = 0, n = 0;
    text y = {0}, r = {0};
    unet_net *net = NULL;
    staging s;
    memset(&s, 0, sizeof s);
    unet_status st = UNET_OK;
    if (!raw || !xn || !probs) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the test tile");
        goto done;
    }
    int fixed = norm.known && !norm.per_image;
    if ((st = test_input(&o, c, tile, fixed, raw)) != UNET_OK) goto done;
    /* the preprocessing the rdf.yaml declares, as a consumer applies it */
    double gain = fixed ? 1.0 / (255.0 * norm.std) : 0, offset = fixed ? -norm.mean / norm.std : 0;
    for (int ch = 0; ch < C; ch++) {
        const float *a = raw + (size_t)ch * plane;
        float *b = xn + (size_t)ch * plane;
        if (fixed) {
            for (size_t i = 0; i < plane; i++) b[i] = (float)(a[i] * gain + offset);
            continue;
        }
        double sum = 0, ss = 0;
        for (size_t i = 0; i < plane; i++) sum += a[i];
        double mean = sum / (double)plane;
        for (size_t i = 0; i < plane; i++) ss += (a[i] - mean) * (a[i] - mean);
        double sd = sqrt(ss / (double)plane);
        for (size_t i = 0; i < plane; i++) b[i] = (float)((a[i] - mean) / (sd + 1e-6));
    }
    if ((st = unet_net_create(m, tile, tile, 0, &net)) != UNET_OK) goto done;
    if ((st = unet_net_forward(net, xn, 0, 0, probs, NULL)) != UNET_OK) goto done;

    /* staging folder next to the target */
    snprintf(s.dir, sizeof s.dir, "%s.tmp.%ld", out_dir, (long)getpid());
    if (mkdir(s.dir, 0777) != 0) {
        st = unet_seterr(UNET_ERR_IO, "cannot create the folder %s: %s (does its parent exist and is it writable?)", s.dir,
                         strerror(errno));
        s.dir[0] = '\0';
        goto done;
    }
    char path[4300];
    snprintf(path, sizeof path, "%s/weights.onnx", s.dir);
    if ((st = unet_export_onnx(m, meta_json, 0, path)) != UNET_OK) goto done;
    snprintf(s.files[s.n++], sizeof s.files[0], "weights.onnx");
    if ((st = read_all(path, &onnx_bytes, &onnx_n)) != UNET_OK) goto done;
    if ((st = read_all(model_path, &st_bytes, &st_n)) != UNET_OK) goto done;
    if ((st = stage_write(&s, "weights.safetensors", st_bytes, st_n)) != UNET_OK) goto done;
    int ishape[4] = {1, C, tile, tile}, oshape[4] = {1, K, out, out};
    if (!(buf = npy_f32(raw, ishape, 4, &n))) goto oom;
    if ((st = stage_write(&s, "test_input.npy", buf, n)) != UNET_OK) goto done;
    free(buf);
    if (!(buf = npy_f32(probs, oshape, 4, &n))) goto oom;
    if ((st = stage_write(&s, "test_output.npy", buf, n)) != UNET_OK) goto done;
    free(buf);
    buf = NULL;
    if ((st = cover_png(raw, tile, probs, K, out, &buf, &n)) != UNET_OK) goto done;
    if ((st = stage_write(&s, "cover.png", buf, n)) != UNET_OK) goto done;

    char h_onnx[65], h_st[65], stamp[32];
    unet_sha256_hex(onnx_bytes, onnx_n, h_onnx);
    unet_sha256_hex(st_bytes, st_n, h_st);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    char desc[1024];
    snprintf(desc, sizeof desc,
             "U-Net (Ronneberger et al. 2015) trained with unetcl: %d input channel%s, %d classes, depth %d, %d base "
             "channels; valid convolutions: an input of H x W gives class probabilities for its centre (H - %d) x (W - %d)",
             C, C == 1 ? "" : "s", K, c->depth, c->base_channels, 2 * g.halo, 2 * g.halo);

    /* rdf.yaml */
    put(&y, "# bioimage.io model description written by unetcl %s\n", unet_version());
    put(&y, "format_version: 0.4.10\ntype: model\nname: ");
    put_q(&y, o.name ? o.name : "U-Net (unetcl)");
    put(&y, "\ndescription: ");
    put_q(&y, o.description ? o.description : desc);
    put(&y, "\nauthors:\n");
    {
        const char *a = o.authors && *o.authors ? o.authors : "unetcl user";
        while (*a) {
            while (*a == ' ' || *a == ',') a++;
            if (!*a) break;
            const char *e = strchr(a, ',');
            size_t l = e ? (size_t)(e - a) : strlen(a);
            while (l && a[l - 1] == ' ') l--;
            char one[256];
            snprintf(one, sizeof one, "%.*s", (int)(l < 255 ? l : 255), a);
            put(&y, "  - name: ");
            put_q(&y, one);
            put(&y, "\n");
            a = e ? e + 1 : a + strlen(a);
        }
    }
    put(&y, "cite:\n  - text: 'Ronneberger, O., Fischer, P., Brox, T.: U-Net: Convolutional Networks for Biomedical Image "
            "Segmentation. MICCAI 2015, LNCS 9351, 234-241'\n    doi: 10.1007/978-3-319-24574-4_28\n");
    put(&y, "license: ");
    put_q(&y, o.license ? o.license : "CC-BY-4.0");
    put(&y, "\ndocumentation: README.md\ncovers: [cover.png]\ntags: [unet, segmentation, unetcl, onnx]\n");
    put(&y, "timestamp: '%s'\n", stamp);
    char idesc[320];
    snprintf(idesc, sizeof idesc, "image tile%s%s",
             norm.known ? "" : " (the model file does not say how it was normalised in training; unetcl normalises per "
                               "image, declared here)",
             norm.resize != 1 ? "; trained on images resized by the factor in config.unetcl.resize: resize first" : "");
    put(&y, "inputs:\n  - name: input\n    description: ");
    put_q(&y, idesc);
    put(&y, "\n    axes: bcyx\n    data_type: float32\n    data_range: [-.inf, .inf]\n");
    put(&y, "    shape:\n      min: [1, %d, %d, %d]\n      step: [0, 0, %d, %d]\n", C, min_in, min_in, g.tile_step,
        g.tile_step);
    if (fixed)
        put(&y, "    preprocessing:\n      - name: scale_linear\n        kwargs: {axes: yx, gain: %.9g, offset: %.9g}\n",
            gain, offset);
    else
        put(&y, "    preprocessing:\n      - name: zero_mean_unit_variance\n        kwargs: {mode: per_sample, axes: yx, "
                "eps: 1.0e-6}\n");
    put(&y, "outputs:\n  - name: probabilities\n    description: softmax probabilities of the %d classes\n", K);
    put(&y, "    axes: bcyx\n    data_type: float32\n    data_range: [0.0, 1.0]\n");
    put(&y, "    shape:\n      reference_tensor: input\n      scale: [1.0, 0.0, 1.0, 1.0]\n      offset: [0.0, %.1f, %d.0, %d.0]\n",
        K / 2.0, -g.halo, -g.halo);
    put(&y, "    halo: [0, 0, %d, %d]\n", g.halo, g.halo);
    put(&y, "test_inputs: [test_input.npy]\ntest_outputs: [test_output.npy]\n");
    put(&y, "weights:\n  onnx:\n    source: weights.onnx\n    sha256: %s\n    opset_version: 13\n", h_onnx);
    put(&y, "attachments:\n  files: [weights.safetensors]\n");
    put(&y, "config:\n  unetcl:\n    version: '%s'\n    weights_safetensors_sha256: %s\n    depth: %d\n    base_channels: %d\n"
            "    upconv_relu: %d\n    normalize: %s\n    resize: %.9g\n",
        unet_version(), h_st, c->depth, c->base_channels, c->upconv_relu,
        !norm.known ? "unknown" : norm.per_image ? "per_image" : "fixed", norm.resize);
    if (y.failed) goto oom;

    /* README.md */
    put(&r, "# %s\n\n%s.\n\n", o.name ? o.name : "U-Net (unetcl)", o.description ? o.description : desc);
    put(&r, "Exported by `unetcl export --format bioimageio` (unetcl %s) from `%s`.\n\n", unet_version(), model_path);
    put(&r, "## Input\n\n`input`, float32, axes `bcyx`, %d channel%s; height and width %d + %d k "
            "(the rdf.yaml asks for at least %d so that an output larger than twice the halo remains).\n\n",
        C, C == 1 ? "" : "s", g.min_tile, g.tile_step, min_in);
    if (fixed)
        put(&r, "Normalisation (as in training, `normalize = fixed`): `(x / 255 - %g) / %g` for 8-bit images, declared "
                "as `scale_linear` (gain %.9g, offset %.9g); 16-bit images need x / 65535 instead.\n\n",
            norm.mean, norm.std, gain, offset);
    else
        put(&r, "Normalisation: each channel to zero mean and unit standard deviation, declared as "
                "`zero_mean_unit_variance` per sample. unetcl computes these statistics over the whole image; "
                "a consumer that normalises each tile separately gets slightly different results on large images.%s\n\n",
            norm.known ? "" : " (The model file has no training configuration: the normalisation it was trained with is "
                              "not recorded; per image is what `unetcl infer` does.)");
    if (norm.resize != 1)
        put(&r, "**Resize first**: the model was trained on images resized by %g (unetcl's `[data] scale`); resize the "
                "input by %g (bilinear) before everything else and the probabilities by %g back. rdf.yaml 0.4 has no "
                "resizing step, so a bioimage.io consumer does not do it.\n\n",
            norm.resize, norm.resize, 1 / norm.resize);
    put(&r, "## Output\n\n`probabilities`, float32, axes `bcyx`, softmax over the %d classes, for the centre of the input: "
            "%d pixels smaller on every side (valid convolutions). `halo` in rdf.yaml is this context, %d.\n\n",
        K, g.halo, g.halo);
    put(&r, "## Files\n\n- `weights.onnx`: the network (ONNX opset 13; height and width symbolic)\n"
            "- `weights.safetensors`: the unetcl model file (loads in `unetcl infer` and in PyTorch)\n"
            "- `test_input.npy` (%d x %d tile, values before normalisation) and `test_output.npy` (%d x %d)\n"
            "- `cover.png`: the centre of the test input and its arg-max segmentation\n",
        tile, tile, out, out);
    if (r.failed) goto oom;
    if ((st = stage_write(&s, "rdf.yaml", y.s, y.n)) != UNET_OK) goto done;
    if ((st = stage_write(&s, "README.md", r.s, r.n)) != UNET_OK) goto done;
    if (rename(s.dir, out_dir) != 0) {
        st = unet_seterr(UNET_ERR_IO, "cannot rename %s to %s: %s", s.dir, out_dir, strerror(errno));
        goto done;
    }
    s.dir[0] = '\0';
    goto done;
oom:
    st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory writing %s", out_dir);
done:
    if (st != UNET_OK && s.dir[0]) stage_remove(&s);
    unet_net_destroy(net);
    free(raw);
    free(xn);
    free(probs);
    free(buf);
    free(st_bytes);
    free(onnx_bytes);
    free(y.s);
    free(r.s);
    return st;
}
