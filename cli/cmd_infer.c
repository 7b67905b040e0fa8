/* `unetcl infer`: segments images with a trained model by the overlap-tile
 * strategy, streaming the outputs strip by strip (docs/inference.md). */
#define _POSIX_C_SOURCE 200809L
#include "fsutil.h"
#include "clock.h"
#include "commands.h"
#include "config.h"
#include "dist.h"
#include "error.h"
#include "unetcl/image.h"
#include "instances.h"
#include "normalize.h"
#include "unetcl/unetcl.h"
#include "unetcl/unetcl.h"
#include "unetcl/weightmap.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
            "`mpirun -np N unetcl infer ...` splits the input files over N ranks (file i on rank i mod N;\n"
            "a stack stays on one rank), each on its own device; the outputs are those of one process.\n");
}

/* ---- small helpers ---------------------------------------------------------- */


/* Base name without folder and extension. */
static void stem_of(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

/* ---- progress ------------------------------------------------------------- */

typedef struct progress {
    int quiet, tty;
    int image, images; /* 0-based index of the current image, count */
    const char *name;
    double start, last;
    int drawn; /* a bar is on the terminal line */
} progress;

static int progress_cb(int done, int total, void *user)
{
    progress *p = user;
    if (p->quiet || (total <= 1 && p->images <= 1)) return 0;
    double t = unet_now_s();
    double frac = (p->image + (double)done / total) / p->images;
    if (p->tty) {
        if (t - p->last < 0.1 && done < total) return 0;
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
    return 0;
}

static void progress_clear(progress *p)
{
    if (p->drawn) fprintf(stderr, "\r%110s\r", "");
    p->drawn = 0;
    if (p->tty) p->last = 0;
}

/* ---- outputs of one input file ------------------------------------------------ */

typedef struct outputs {
    unsigned sel;
    int classes, stack;
    char dir[4096], stem[1024];
    unet_image_writer *prob[256]; /* K = 2: prob[0] only */
    unet_image_writer *mask, *inst, *overlay;
    int inst_float; /* single images with > 65535 objects */
    /* per page */
    int w, h;
    uint8_t *labels; /* arg-max per pixel (instances / overlay) */
    float *fgp, *intp; /* watershed: P(not background), P(interior) per pixel */
    int interior_class; /* class whose probability is the interior (border3: 2) */
    const unet_instance_options *io;
    float *strip;    /* stride * w floats */
    size_t strip_n;
} outputs;

static unet_status out_path(const outputs *o, const char *suffix, const char *ext, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s/%s%s.%s", o->dir, o->stem, suffix, ext);
    if (len < 0 || (size_t)len >= n) return UNET_ERR_INVALID_ARGUMENT;
    return UNET_OK;
}

static unet_status open_writer(const outputs *o, const char *suffix, int png_ok, int bits, unet_image_writer **wr)
{
    char path[8192];
    if (out_path(o, suffix, (png_ok && !o->stack) ? "png" : "tif", path, sizeof path) != UNET_OK) {
        fprintf(stderr, "unetcl infer: output file name too long in %s\n", o->dir);
        return UNET_ERR_INVALID_ARGUMENT;
    }
    return unet_image_writer_open(path, bits, wr);
}

static void outputs_close(outputs *o, int commit, unet_status *st)
{
    unet_image_writer **all[259];
    int n = 0;
    for (int k = 0; k < 256; k++) all[n++] = &o->prob[k];
    all[n++] = &o->mask;
    all[n++] = &o->inst;
    all[n++] = &o->overlay;
    for (int i = 0; i < n; i++)
        if (*all[i]) {
            unet_status s = unet_image_writer_close(*all[i], commit && *st == UNET_OK);
            if (s != UNET_OK && *st == UNET_OK) *st = s;
            *all[i] = NULL;
        }
}

/* Opens the writers of the prediction-time outputs (prob, mask). The
 * instance and overlay outputs are written after each page. */
static unet_status outputs_open(outputs *o)
{
    if (o->sel & UNET_OUT_PROB) {
        if (o->classes == 2) UNET_TRY(open_writer(o, "_prob", 1, 16, &o->prob[0]));
        else
            for (int k = 0; k < o->classes; k++) {
                char suf[32];
                snprintf(suf, sizeof suf, "_prob_c%d", k);
                UNET_TRY(open_writer(o, suf, 0, 32, &o->prob[k]));
            }
    }
    if (o->sel & UNET_OUT_MASK) UNET_TRY(open_writer(o, "_mask", 1, 8, &o->mask));
    if (o->sel & UNET_OUT_OVERLAY) UNET_TRY(open_writer(o, "_overlay", 1, 8, &o->overlay));
    return UNET_OK;
}

static unet_status begin_pages(outputs *o)
{
    for (int k = 0; k < 256; k++)
        if (o->prob[k]) UNET_TRY(unet_image_writer_begin_page(o->prob[k], o->w, o->h, 1));
    if (o->mask) UNET_TRY(unet_image_writer_begin_page(o->mask, o->w, o->h, 1));
    return UNET_OK;
}

static unet_status end_pages(outputs *o)
{
    for (int k = 0; k < 256; k++)
        if (o->prob[k]) UNET_TRY(unet_image_writer_end_page(o->prob[k]));
    if (o->mask) UNET_TRY(unet_image_writer_end_page(o->mask));
    return UNET_OK;
}

/* One row of tiles of probabilities: written to prob / mask, arg-max kept. */
static unet_status on_rows(const float *probs, int y0, int rows, int w, void *user)
{
    outputs *o = user;
    size_t n = (size_t)rows * w;
    int K = o->classes;
    if (n > o->strip_n) return unet_seterr(UNET_ERR_INTERNAL, "infer: strip of %d rows is larger than planned", rows);
    if (o->prob[0]) {
        if (K == 2) {
            for (size_t i = 0; i < n; i++) o->strip[i] = probs[n + i] * 65535.0f;
            UNET_TRY(unet_image_writer_rows(o->prob[0], o->strip, n, rows));
        } else
            for (int k = 0; k < K; k++) UNET_TRY(unet_image_writer_rows(o->prob[k], probs + (size_t)k * n, n, rows));
    }
    if (o->fgp) {
        const float *pi = probs + (size_t)o->interior_class * n;
        float *fd = o->fgp + (size_t)y0 * w, *id = o->intp + (size_t)y0 * w;
        for (size_t i = 0; i < n; i++) {
            fd[i] = 1.0f - probs[i];
            id[i] = pi[i];
        }
    }
    if (o->mask || o->labels) {
        float scale = (float)(255 / (K - 1));
        for (size_t i = 0; i < n; i++) {
            int best = 0;
            float bv = probs[i];
            for (int k = 1; k < K; k++)
                if (probs[(size_t)k * n + i] > bv) {
                    bv = probs[(size_t)k * n + i];
                    best = k;
                }
            if (o->labels) o->labels[(size_t)y0 * w + i] = (uint8_t)best;
            o->strip[i] = best * scale;
        }
        if (o->mask) UNET_TRY(unet_image_writer_rows(o->mask, o->strip, n, rows));
    }
    return UNET_OK;
}

/* Instance ids ([infer] instances: components of the non-background
 * arg-max, or the seeded watershed of the probabilities) into the 16-bit (or
 * float) instance output. inst: w*h int32 scratch. */
static unet_status write_instances(outputs *o, int32_t *inst, int *count)
{
    size_t n = (size_t)o->w * o->h;
    unet_status st;
    if (o->fgp) st = unet_instances_from_probs(o->fgp, o->intp, o->w, o->h, o->io, inst, count);
    else {
        float *fg = malloc(n * sizeof *fg);
        if (!fg) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of %s", o->stem);
        for (size_t i = 0; i < n; i++) fg[i] = o->labels[i] != 0;
        unet_instance_options co = *o->io;
        co.method = UNET_INSTANCES_COMPONENTS;
        st = unet_instances_from_probs(fg, NULL, o->w, o->h, &co, inst, count);
        free(fg);
    }
    if (st != UNET_OK) return unet_errctx(st, "instances of %s", o->stem);
    if (!o->inst) {
        int use_float = !o->stack && *count > 65535;
        if (*count > 65535 && o->stack)
            return unet_seterr(UNET_ERR_DATA,
                               "%s: %d objects do not fit the 16-bit instance stack; use outputs without instances",
                               o->stem, *count);
        if (use_float) {
            char path[8192];
            out_path(o, "_instances", "tif", path, sizeof path);
            fprintf(stderr, "unetcl infer: %s has %d objects (> 65535): instances written as float32 TIFF\n", o->stem,
                    *count);
            UNET_TRY(unet_image_writer_open(path, 32, &o->inst));
        } else
            UNET_TRY(open_writer(o, "_instances", 1, 16, &o->inst));
    } else if (*count > 65535)
        return unet_seterr(UNET_ERR_DATA, "%s: %d objects do not fit the 16-bit instance stack", o->stem, *count);
    UNET_TRY(unet_image_writer_begin_page(o->inst, o->w, o->h, 1));
    for (int y = 0; y < o->h; y += 64) {
        int rows = o->h - y < 64 ? o->h - y : 64;
        size_t m = (size_t)rows * o->w;
        for (size_t i = 0; i < m; i++) o->strip[i] = (float)inst[(size_t)y * o->w + i];
        UNET_TRY(unet_image_writer_rows(o->inst, o->strip, m, rows));
    }
    return unet_image_writer_end_page(o->inst);
}

/* A bright colour for instance id (golden-ratio hues, so neighbours differ)
 * or, with id 0, the fixed colour of class cls. */
static void instance_colour(uint32_t id, int cls, const float colours[8][3], float col[3])
{
    if (!id) {
        for (int ch = 0; ch < 3; ch++) col[ch] = colours[(cls - 1) % 8][ch];
        return;
    }
    double hue = fmod(id * 0.6180339887498949, 1.0) * 6.0;
    int sector = (int)hue;
    float f = (float)(hue - sector), v = 255.0f, p = 40.0f, q = v - (v - p) * f, t = p + (v - p) * f;
    float rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int ch = 0; ch < 3; ch++) col[ch] = rgb[sector % 6][ch];
}

/* The overlay: the normalised input as grey (min..max -> 0..255, the mean
 * of its channels) with the contour pixels of the segmentation (an object
 * pixel with a 4-neighbour of another id) in a bright colour per class. */
static unet_status write_overlay(outputs *o, const float *img, int c, const int32_t *inst)
{
    static const float colours[8][3] = {{0, 255, 0},   {255, 255, 0}, {255, 0, 255}, {0, 255, 255},
                                        {255, 128, 0}, {255, 0, 0},   {0, 128, 255}, {128, 255, 128}};
    int w = o->w, h = o->h;
    size_t n = (size_t)w * h;
    float lo = img[0], hi = img[0];
    for (size_t i = 0; i < n * c; i++) {
        if (img[i] < lo) lo = img[i];
        if (img[i] > hi) hi = img[i];
    }
    float scale = hi > lo ? 255.0f / (hi - lo) / c : 0.0f;
    int rows_max = (int)(o->strip_n / (3 * (size_t)w));
    if (rows_max < 1) return unet_seterr(UNET_ERR_INTERNAL, "infer: overlay strip too small");
    UNET_TRY(unet_image_writer_begin_page(o->overlay, w, h, 3));
    for (int y0 = 0; y0 < h; y0 += rows_max) {
        int rows = h - y0 < rows_max ? h - y0 : rows_max;
        size_t plane = (size_t)rows * w;
        for (int y = y0; y < y0 + rows; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x, j = (size_t)(y - y0) * w + x;
                int32_t id = inst ? inst[i] : o->labels[i];
                int edge = 0;
                if (id != 0) {
#define ID_AT(yy, xx) (inst ? inst[(size_t)(yy) * w + (xx)] : (int32_t)o->labels[(size_t)(yy) * w + (xx)])
                    edge = (y > 0 && ID_AT(y - 1, x) != id) || (y + 1 < h && ID_AT(y + 1, x) != id) ||
                           (x > 0 && ID_AT(y, x - 1) != id) || (x + 1 < w && ID_AT(y, x + 1) != id);
#undef ID_AT
                }
                /* instances: each object in its own colour (contour, and a
                 * light tint inside); else the colour of the class */
                float col[3];
                if (id != 0) instance_colour(inst ? (uint32_t)id : 0, o->labels[i], colours, col);
                if (edge) {
                    for (int ch = 0; ch < 3; ch++) o->strip[ch * plane + j] = col[ch];
                } else {
                    float g = 0;
                    for (int ch = 0; ch < c; ch++) g += img[(size_t)ch * n + i] - lo;
                    g *= scale;
                    for (int ch = 0; ch < 3; ch++)
                        o->strip[ch * plane + j] = (inst && id != 0) ? 0.75f * g + 0.25f * col[ch] : g;
                }
            }
        UNET_TRY(unet_image_writer_rows(o->overlay, o->strip, plane, rows));
    }
    return unet_image_writer_end_page(o->overlay);
}

/* Prediction on the resized image sm, probabilities resized back to w x h
 * and handed to on_rows in strips of 64 rows. */
static unet_status predict_scaled(unet_net *net, const unet_image *sm, int w, int h, unsigned flags, outputs *o,
                                  progress *pr)
{
    int K = o->classes;
    float *probs = malloc((size_t)K * sm->w * sm->h * sizeof *probs);
    float *strip = malloc((size_t)K * 64 * w * sizeof *strip);
    unet_status st = UNET_OK;
    if (!probs || !strip) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the probabilities of %s", o->stem);
    if (st == UNET_OK) st = unet_predict_image_ex(net, sm->data, sm->h, sm->w, flags, probs, progress_cb, pr);
    for (int y0 = 0; st == UNET_OK && y0 < h; y0 += 64) {
        int rows = h - y0 < 64 ? h - y0 : 64;
        unet_resize_bilinear_rows(probs, K, sm->h, sm->w, strip, h, w, y0, rows);
        st = on_rows(strip, y0, rows, w, o);
    }
    free(probs);
    free(strip);
    return st;
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
    unet_config *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        free(sets);
        return 1;
    }
    unet_config_default(cfg);
    int rc = 1;
    unet_context *ctx = NULL;
    unet_model *model = NULL;
    unet_net *net = NULL;
    char **files = NULL;
    int nfiles = 0;
    unet_image img = {0}, small = {0};
    outputs o;
    memset(&o, 0, sizeof o);
    int32_t *inst = NULL;
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
        char buf[UNET_CONFIG_STR + 32];
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
        if (o_tta) cfg->infer.tta = 1;
    }
    if (unet_config_validate(cfg) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    const unet_infer_config *ic = &cfg->infer;
    if (!ic->model[0] || !ic->input[0] || !ic->output[0]) {
        fprintf(stderr, "unetcl infer: no %s given: set [infer] %s in %s or pass --%s\n",
                !ic->model[0] ? "model" : !ic->input[0] ? "input" : "output",
                !ic->model[0] ? "model" : !ic->input[0] ? "input" : "output", cfg_path,
                !ic->model[0] ? "model" : !ic->input[0] ? "input" : "output");
        goto out;
    }
    if (!ic->outputs) {
        fprintf(stderr, "unetcl infer: [infer] outputs selects nothing to write\n");
        goto out;
    }
    struct stat sb;
    if (stat(ic->model, &sb) != 0) {
        fprintf(stderr, "unetcl infer: model file %s: %s\n", ic->model, strerror(errno));
        goto out;
    }
    if (unet_list_files(ic->input, &files, &nfiles) != UNET_OK) {
        fprintf(stderr, "unetcl infer: input: %s\n", unet_last_error());
        goto out;
    }
    if (unet_mkdir_p(ic->output) != 0) {
        fprintf(stderr, "unetcl infer: cannot create the output folder %s: %s\n", ic->output, strerror(errno));
        goto out;
    }
    if (access(ic->output, W_OK | X_OK) != 0) {
        fprintf(stderr, "unetcl infer: the output folder %s is not writable: %s\n", ic->output, strerror(errno));
        goto out;
    }

    unet_context_options co;
    unet_context_options_default(&co);
    co.device = cfg->device.select;
    /* mpirun: input file f goes to rank f mod N, each rank on its own device */
    const unet_dist *dist = cli_dist();
    char rdev[256];
    if (dist->size > 1) {
        unet_device_info *infos = NULL;
        int n = 0;
        if (unet_list_devices(&infos, &n) != UNET_OK) n = 0;
        co.device = unet_rank_device(cfg->device.select, cli_dist_local_rank(), infos, n, rdev, sizeof rdev);
        free(infos);
    }
    co.cache_dir = cfg->device.cache_dir[0] ? cfg->device.cache_dir : NULL;
    co.disable_cache = cfg->device.no_cache;
    co.precision_fp16 = cfg->device.precision == UNET_PRECISION_FP16;
    if (unet_context_create(&co, &ctx) != UNET_OK) {
        fprintf(stderr, "unetcl infer: %s\n", unet_last_error());
        goto out;
    }
    char *meta = NULL;
    if (unet_model_load(ctx, ic->model, 0, &model, &meta) != UNET_OK) {
        fprintf(stderr, "unetcl infer: loading the model %s: %s\n", ic->model, unet_last_error());
        goto out;
    }
    const unet_model_config *mc = unet_model_get_config(model);
    if (mc->classes < 2 || mc->classes > 256) {
        fprintf(stderr, "unetcl infer: the model %s has %d classes; inference supports 2 to 256\n", ic->model,
                mc->classes);
        free(meta);
        goto out;
    }
    {
        unet_config *tcfg = malloc(sizeof *tcfg);
        int found = 0;
        unet_status ts = tcfg ? unet_model_meta_config(meta, tcfg, &found) : UNET_ERR_OUT_OF_MEMORY;
        free(meta);
        if (ts != UNET_OK) {
            fprintf(stderr, "unetcl infer: %s: %s\n", ic->model, tcfg ? unet_last_error() : "out of host memory");
            free(tcfg);
            goto out;
        }
        unet_targets mt = found ? tcfg->data.targets : cfg->data.targets;
        double mscale = found ? tcfg->data.scale : cfg->data.scale;
        free(tcfg);
        if (mt != cfg->data.targets) {
            fprintf(stderr,
                    "unetcl infer: the model %s was trained with [data] targets = %s (%d classes) but %s has "
                    "targets = %s: use the configuration it was trained with, or --set data.targets=%s\n",
                    ic->model, unet_targets_name(mt), mc->classes, cfg_path, unet_targets_name(cfg->data.targets),
                    unet_targets_name(mt));
            goto out;
        }
        if (mscale != cfg->data.scale) {
            fprintf(stderr,
                    "unetcl infer: the model %s was trained on images resized by [data] scale = %g but %s has "
                    "scale = %g: use the configuration it was trained with, or --set data.scale=%g\n",
                    ic->model, mscale, cfg_path, cfg->data.scale, mscale);
            goto out;
        }
        if (cfg->data.targets == UNET_TARGETS_BORDER3 && cfg->data.label_type != UNET_LABEL_CLASSES &&
            mc->classes != 3) {
            fprintf(stderr,
                    "unetcl infer: %s has [data] targets = border3 (3 classes: background, border, interior) but "
                    "the model %s has %d classes: use the configuration it was trained with, or --set "
                    "data.targets=paper\n",
                    cfg_path, ic->model, mc->classes);
            goto out;
        }
    }
    unet_instance_options iopt;
    unet_instance_options_from_config(cfg, &iopt);
    const int border3 = cfg->data.targets == UNET_TARGETS_BORDER3 && mc->classes == 3;
    if (ic->tile && unet_tile_check(mc, ic->tile) != UNET_OK) {
        fprintf(stderr, "unetcl infer: tile %d: %s\n", ic->tile, unet_last_error());
        goto out;
    }
    unet_device_info dev;
    unet_context_device_info(ctx, &dev);
    if (!quiet)
        fprintf(stderr, "infer: %d file(s), model %s (depth %d, %d channels, %d classes), device %s%s\n", nfiles,
                ic->model, mc->depth, mc->base_channels, mc->classes, dev.name, ic->tta ? ", TTA x8" : "");

    /* count the images (pages) for the progress bar */
    progress pr = {quiet, isatty(2), 0, 0, NULL, unet_now_s(), 0, 0};
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

    int cur_tile = 0;
    for (int f = 0; f < nfiles; f++) {
        const char *path = files[f];
        int pages = 1;
        if (f % dist->size != dist->rank) continue;
        unet_status st = unet_image_count_pages(path, &pages);
        memset(&o, 0, sizeof o);
        o.sel = ic->outputs;
        o.classes = mc->classes;
        o.io = &iopt;
        o.interior_class = border3 ? 2 : 1;
        o.stack = pages > 1;
        snprintf(o.dir, sizeof o.dir, "%s", ic->output);
        stem_of(path, o.stem, sizeof o.stem);
        if (st == UNET_OK) st = outputs_open(&o);
        double t0 = unet_now_s();
        for (int pg = 0; pg < pages && st == UNET_OK; pg++, pr.image++) {
            pr.name = path;
            st = unet_image_read(path, pg, &img);
            if (st != UNET_OK) break;
            if (img.c != mc->in_channels) {
                st = unet_seterr(UNET_ERR_DATA, "%s%s has %d channel(s) but the model %s expects %d", path,
                                 o.stack ? " (a page)" : "", img.c, ic->model, mc->in_channels);
                break;
            }
            /* [data] scale: the network sees the image resized as in training
             * (resized raw, then normalised); the probabilities come back to
             * the input's size by bilinear interpolation */
            unet_image_free(&small);
            if (cfg->data.scale != 1.0) {
                st = unet_image_alloc(&small, unet_scaled_size(img.w, cfg->data.scale),
                                      unet_scaled_size(img.h, cfg->data.scale), img.c, img.bits);
                if (st != UNET_OK) break;
                unet_resize_bilinear(img.data, img.c, img.h, img.w, small.data, small.h, small.w);
                st = unet_normalize_image(cfg, &small, small.data);
                if (st != UNET_OK) {
                    st = unet_seterr(st, "%s: %s", path, unet_last_error());
                    break;
                }
            }
            /* normalised in place: the raw values are not needed again (the
             * overlay rescales min..max, which normalisation preserves) */
            st = unet_normalize_image(cfg, &img, img.data);
            if (st != UNET_OK) {
                st = unet_errctx(st, "%s", path);
                break;
            }
            int tile = ic->tile;
            if (!tile) {
                /* on a CPU the device memory is the host's: stay at 1024
                 * (larger tiles save little overlap there) */
                st = unet_choose_tile(model, small.data ? small.h : img.h, small.data ? small.w : img.w,
                                      dev.type == UNET_DEVICE_CPU ? 1024 : 0, &tile);
                if (st != UNET_OK) break;
            }
            if (tile != cur_tile) {
                unet_net_destroy(net);
                net = NULL;
                cur_tile = 0;
                st = unet_net_create(model, tile, tile, 0, &net);
                if (st != UNET_OK) break;
                cur_tile = tile;
            }
            const unet_plan_info *pi = unet_net_info(net);
            o.w = img.w;
            o.h = img.h;
            size_t strip = (size_t)pi->out_h * img.w * (mc->classes > 3 ? mc->classes : 3);
            if (strip < (size_t)64 * img.w) strip = (size_t)64 * img.w;
            free(o.strip);
            free(o.labels);
            free(o.fgp);
            free(o.intp);
            o.labels = NULL;
            o.fgp = o.intp = NULL;
            if ((ic->outputs & UNET_OUT_INSTANCES) && iopt.method == UNET_INSTANCES_WATERSHED) {
                o.fgp = malloc((size_t)img.w * img.h * sizeof *o.fgp);
                o.intp = malloc((size_t)img.w * img.h * sizeof *o.intp);
                if (!o.fgp || !o.intp) {
                    st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of %s", path);
                    break;
                }
            }
            o.strip = malloc(strip * sizeof *o.strip);
            o.strip_n = strip;
            if (ic->outputs & (UNET_OUT_INSTANCES | UNET_OUT_OVERLAY))
                o.labels = malloc((size_t)img.w * img.h);
            if (!o.strip || ((ic->outputs & (UNET_OUT_INSTANCES | UNET_OUT_OVERLAY)) && !o.labels)) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the outputs of %s", path);
                break;
            }
            st = begin_pages(&o);
            if (st == UNET_OK && !small.data)
                st = unet_predict_image_rows(net, img.data, img.h, img.w, ic->tta ? UNET_PREDICT_TTA : 0, on_rows, &o,
                                             progress_cb, &pr);
            else if (st == UNET_OK)
                st = predict_scaled(net, &small, img.w, img.h, ic->tta ? UNET_PREDICT_TTA : 0, &o, &pr);
            if (st == UNET_OK) st = end_pages(&o);
            int count = -1;
            free(inst);
            inst = NULL;
            if (st == UNET_OK && (ic->outputs & UNET_OUT_INSTANCES)) {
                inst = malloc((size_t)img.w * img.h * sizeof *inst);
                if (!inst) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of %s", path);
                else st = write_instances(&o, inst, &count);
            }
            if (st == UNET_OK && o.overlay) st = write_overlay(&o, img.data, img.c, inst);
            progress_clear(&pr);
            if (st == UNET_OK && !quiet) {
                char extra[64] = "";
                if (count >= 0) snprintf(extra, sizeof extra, ", %d objects", count);
                char pgs[32] = "";
                if (o.stack) snprintf(pgs, sizeof pgs, " page %d", pg);
                fprintf(stderr, "%s%s: %dx%d, tile %d (output %d)%s\n", path, pgs, img.w, img.h, pi->in_h,
                        pi->out_h, extra);
            }
            unet_image_free(&img);
        }
        outputs_close(&o, st == UNET_OK, &st);
        if (st != UNET_OK) {
            /* stop at the first failure: later images would likely fail alike */
            progress_clear(&pr);
            fprintf(stderr, "unetcl infer: %s: %s\n", path, unet_last_error());
            goto out;
        }
        if (!quiet)
            fprintf(stderr, "wrote the outputs of %s to %s (%.2f s)\n", path, ic->output, unet_now_s() - t0);
        free(o.strip);
        free(o.labels);
        free(o.fgp);
        free(o.intp);
        memset(&o, 0, sizeof o);
    }
    rc = 0;
out:
    rc = cli_dist_agree_rc(cli_dist(), rc, "infer"); /* every rank gets here: all return the same code */
    unet_image_free(&small);
    free(inst);
    free(o.strip);
    free(o.labels);
    free(o.fgp);
    free(o.intp);
    unet_image_free(&img);
    unet_net_destroy(net);
    unet_model_destroy(model);
    unet_context_destroy(ctx);
    unet_list_free(files, nfiles);
    free(cfg);
    free(sets);
    return rc;
}
