/* The inference pipeline (include/unetcl/infer.h): what `unetcl infer` does
 * for one input file, and its in-memory parts. Whole images are read, then
 * predicted strip by strip into the output writers; images above
 * [infer] stream_megapixels are streamed end to end: read by rows, strips or
 * tiles, normalised with statistics from earlier passes over the file,
 * predicted with unet_predict_stream and written by rows or as tiled
 * BigTIFF (docs/inference.md, docs/scale.md). */
#define _POSIX_C_SOURCE 200809L
#include "unetcl/infer.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "unetcl/image.h"
#include "instances.h"
#include "net.h"
#include "normalize.h"
#include "tiling.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The tiles of tiled BigTIFF outputs (streamed images). */
#define INFER_TIFF_TILE 256

int unet_infer_u16_max = 65535;

struct unet_infer {
    unet_model *model;
    unet_config cfg;
    unet_infer_options opt;
    unet_instance_options iopt;
    int classes, in_channels, interior_class, cpu;
    unet_net *net;
    int cur_tile;
    char model_name[1024];
};

void unet_infer_options_default(unet_infer_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->outputs = UNET_INFER_PROB | UNET_INFER_MASK | UNET_INFER_INSTANCES | UNET_INFER_OVERLAY;
    o->stream_megapixels = 64;
}

void unet_infer_options_from_config(const unet_config *cfg, unet_infer_options *o)
{
    if (!cfg || !o) return;
    o->outputs = cfg->infer.outputs;
    o->tile = cfg->infer.tile;
    o->tta = cfg->infer.tta;
    o->stream_megapixels = cfg->infer.stream_megapixels;
}

unet_status unet_infer_create(unet_model *model, const unet_config *cfg, const unet_infer_options *opts,
                              unet_infer **out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_create: NULL argument");
    *out = NULL;
    if (!model || !cfg) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_create: NULL argument");
    unet_infer_options from_cfg;
    if (!opts) {
        unet_infer_options_default(&from_cfg);
        unet_infer_options_from_config(cfg, &from_cfg);
        opts = &from_cfg;
    }
    const unet_model_config *mc = unet_model_get_config(model);
    if (mc->classes < 2 || mc->classes > 256)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "the model has %d classes; inference supports 2 to 256",
                           mc->classes);
    if (opts->outputs & ~(unsigned)(UNET_INFER_PROB | UNET_INFER_MASK | UNET_INFER_INSTANCES | UNET_INFER_OVERLAY))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_create: unknown output bits 0x%x", opts->outputs);
    if (!(opts->stream_megapixels >= 0))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_create: stream_megapixels = %g (must be >= 0)",
                           opts->stream_megapixels);
    if (opts->tile && unet_tile_check(mc, opts->tile) != UNET_OK) return unet_errctx(UNET_ERR_INVALID_ARGUMENT, "tile %d", opts->tile);
    unet_infer *inf = calloc(1, sizeof *inf);
    if (!inf) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_infer_create: out of host memory");
    inf->model = model;
    inf->cfg = *cfg;
    inf->opt = *opts;
    snprintf(inf->model_name, sizeof inf->model_name, "%s", opts->model_name ? opts->model_name : "(in memory)");
    inf->opt.model_name = inf->model_name;
    unet_instance_options_from_config(cfg, &inf->iopt);
    inf->classes = mc->classes;
    inf->in_channels = mc->in_channels;
    inf->interior_class = (cfg->data.targets == UNET_TARGETS_BORDER3 && mc->classes == 3) ? 2 : 1;
    unet_device_info dev;
    inf->cpu = unet_context_device_info(model->ctx, &dev) == UNET_OK && dev.type == UNET_DEVICE_CPU;
    *out = inf;
    return UNET_OK;
}

void unet_infer_destroy(unet_infer *inf)
{
    if (!inf) return;
    unet_net_destroy(inf->net);
    free(inf);
}

unet_status unet_infer_check_model(const unet_model *model, const char *meta, const unet_config *cfg,
                                   const char *model_path, const char *cfg_path)
{
    if (!model || !cfg) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_check_model: NULL argument");
    if (!model_path) model_path = "the model";
    if (!cfg_path) cfg_path = "the configuration";
    const unet_model_config *mc = unet_model_get_config(model);
    if (mc->classes < 2 || mc->classes > 256)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "the model %s has %d classes; inference supports 2 to 256",
                           model_path, mc->classes);
    unet_config *tcfg = malloc(sizeof *tcfg);
    if (!tcfg) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of host memory", model_path);
    int found = 0;
    unet_status ts = meta ? unet_model_meta_config(meta, tcfg, &found) : UNET_OK;
    if (ts != UNET_OK) {
        free(tcfg);
        return unet_errctx(ts, "%s", model_path);
    }
    unet_targets mt = found ? tcfg->data.targets : cfg->data.targets;
    double mscale = found ? tcfg->data.scale : cfg->data.scale;
    free(tcfg);
    if (mt != cfg->data.targets)
        return unet_seterr(UNET_ERR_CONFIG,
                           "the model %s was trained with [data] targets = %s (%d classes) but %s has targets = %s: "
                           "use the configuration it was trained with, or --set data.targets=%s",
                           model_path, unet_targets_name(mt), mc->classes, cfg_path,
                           unet_targets_name(cfg->data.targets), unet_targets_name(mt));
    if (mscale != cfg->data.scale)
        return unet_seterr(UNET_ERR_CONFIG,
                           "the model %s was trained on images resized by [data] scale = %g but %s has scale = %g: "
                           "use the configuration it was trained with, or --set data.scale=%g",
                           model_path, mscale, cfg_path, cfg->data.scale, mscale);
    if (cfg->data.targets == UNET_TARGETS_BORDER3 && cfg->data.label_type != UNET_LABEL_CLASSES && mc->classes != 3)
        return unet_seterr(UNET_ERR_CONFIG,
                           "%s has [data] targets = border3 (3 classes: background, border, interior) but the model "
                           "%s has %d classes: use the configuration it was trained with, or --set "
                           "data.targets=paper",
                           cfg_path, model_path, mc->classes);
    return UNET_OK;
}

/* ---- helpers -------------------------------------------------------------- */

/* Base name without folder and extension. */
static void stem_of(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, n, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

static int emit(const unet_infer *inf, const unet_infer_event *ev)
{
    return inf->opt.callback ? inf->opt.callback(ev, inf->opt.user) : 0;
}

/* The net for an h x w image: the configured tile, or the largest that fits
 * (on a CPU the device memory is the host's: at most 1024, larger tiles
 * save little overlap there). */
static unet_status ensure_net(unet_infer *inf, int h, int w)
{
    int tile = inf->opt.tile;
    if (!tile) UNET_TRY(unet_choose_tile(inf->model, h, w, inf->cpu ? 1024 : 0, &tile));
    if (tile != inf->cur_tile || !inf->net) {
        unet_net_destroy(inf->net);
        inf->net = NULL;
        inf->cur_tile = 0;
        UNET_TRY(unet_net_create(inf->model, tile, tile, 0, &inf->net));
        inf->cur_tile = tile;
    }
    return UNET_OK;
}

/* ---- progress ------------------------------------------------------------- */

typedef struct tile_progress {
    const unet_infer *inf;
    unet_infer_event ev;
} tile_progress;

static int on_tile(int done, int total, void *user)
{
    tile_progress *tp = user;
    tp->ev.kind = UNET_INFER_EV_TILE;
    tp->ev.tiles_done = done;
    tp->ev.tiles_total = total;
    return emit(tp->inf, &tp->ev);
}

/* ---- outputs of one input file -------------------------------------------- */

typedef struct outputs {
    unsigned sel;
    int classes, stack, tiled; /* tiled: TIFF outputs as tiled BigTIFF (streamed inputs) */
    char dir[4096], stem[1024];
    unet_image_writer *prob[256]; /* K = 2: prob[0] only */
    unet_image_writer *mask, *inst, *overlay;
    /* a streamed single page: the float32 instances, written alongside the
     * 16-bit ones and kept instead of them above 65535 objects */
    unet_image_writer *inst_f;
    /* per page */
    int w, h;
    uint8_t *labels;   /* arg-max per pixel (instances / overlay) */
    float *fgp, *intp; /* watershed: P(not background), P(interior) per pixel */
    int interior_class;
    const unet_instance_options *io;
    float *strip; /* strip_n floats */
    size_t strip_n;
    /* a streamed page with instances: the labeller, STRIP_ROWS rows of its
     * inputs (fg; interior for the watershed) and of converted ids */
    unet_inst_stream *ist;
    int ist_ws;
    float *sfg, *sin, *istrip;
    /* a streamed page with the overlay: a second reader of the page (the
     * input rows again, normalised with the same statistics), the grey
     * scale from the normalised min and max, a ring of 3 rows of ids (or
     * classes), STRIP_ROWS rows of input and of RGB */
    unet_image_reader *ord;
    const unet_norm_stream *ons;
    int oc, orecv, oin_y0, oin_rows, orgb_rows;
    float olo, oscale;
    int32_t *olab, *ocls;
    float *oin, *orgb;
    const unet_infer *inf;
    const char *path;
} outputs;

static unet_status out_path(const outputs *o, const char *suffix, const char *ext, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%s/%s%s.%s", o->dir, o->stem, suffix, ext);
    if (len < 0 || (size_t)len >= n)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "output file name too long in %s", o->dir);
    return UNET_OK;
}

static unet_status open_writer(const outputs *o, const char *suffix, int png_ok, int bits, unet_image_writer **wr)
{
    char path[8192];
    int tif = !(png_ok && !o->stack);
    UNET_TRY(out_path(o, suffix, tif ? "tif" : "png", path, sizeof path));
    if (tif && o->tiled) return unet_image_writer_open_tiled(path, bits, INFER_TIFF_TILE, wr);
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
    unet_image_writer_close(o->inst_f, 0); /* (closed at the end of its page on success) */
    o->inst_f = NULL;
}

static void outputs_free_page(outputs *o)
{
    free(o->strip);
    free(o->labels);
    free(o->fgp);
    free(o->intp);
    o->strip = NULL;
    o->labels = NULL;
    o->fgp = o->intp = NULL;
    o->strip_n = 0;
    unet_inst_stream_destroy(o->ist);
    free(o->sfg);
    free(o->sin);
    free(o->istrip);
    o->ist = NULL;
    o->sfg = o->sin = o->istrip = NULL;
    unet_image_reader_close(o->ord);
    free(o->olab);
    free(o->ocls);
    free(o->oin);
    free(o->orgb);
    o->ord = NULL;
    o->olab = o->ocls = NULL;
    o->oin = o->orgb = NULL;
}

/* Opens the writers of the prediction-time outputs (prob, mask, overlay).
 * The instances are opened after the first page (their format depends on
 * the object count). */
static unet_status outputs_open(outputs *o)
{
    if (o->sel & UNET_INFER_PROB) {
        if (o->classes == 2) UNET_TRY(open_writer(o, "_prob", 1, 16, &o->prob[0]));
        else
            for (int k = 0; k < o->classes; k++) {
                char suf[32];
                snprintf(suf, sizeof suf, "_prob_c%d", k);
                UNET_TRY(open_writer(o, suf, 0, 32, &o->prob[k]));
            }
    }
    if (o->sel & UNET_INFER_MASK) UNET_TRY(open_writer(o, "_mask", 1, 8, &o->mask));
    if (o->sel & UNET_INFER_OVERLAY) UNET_TRY(open_writer(o, "_overlay", 1, 8, &o->overlay));
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

static size_t writers_bytes(const outputs *o)
{
    size_t b = 0;
    for (int k = 0; k < 256; k++) b += unet_image_writer_buffer_bytes(o->prob[k]);
    return b + unet_image_writer_buffer_bytes(o->mask);
}

/* Arg-max class of pixel i of n (ties: the lower class). */
static inline int argmax_at(const float *probs, int K, size_t n, size_t i)
{
    int best = 0;
    float bv = probs[i];
    for (int k = 1; k < K; k++)
        if (probs[(size_t)k * n + i] > bv) {
            bv = probs[(size_t)k * n + i];
            best = k;
        }
    return best;
}

/* Rows are handed to the writers at most this many at a time. */
#define STRIP_ROWS 64

static unet_status overlay_stream_rows(outputs *o, const int32_t *ids, int rows);

/* Rows y0 .. y0+rows-1 (rows <= STRIP_ROWS) of probabilities with plane
 * stride n: written to prob / mask, arg-max kept. */
static unet_status on_strip(outputs *o, const float *probs, size_t n, int y0, int rows, int w)
{
    size_t m = (size_t)rows * w;
    int K = o->classes;
    if (o->prob[0]) {
        if (K == 2) {
            for (size_t i = 0; i < m; i++) o->strip[i] = probs[n + i] * 65535.0f;
            UNET_TRY(unet_image_writer_rows(o->prob[0], o->strip, m, rows));
        } else
            for (int k = 0; k < K; k++) UNET_TRY(unet_image_writer_rows(o->prob[k], probs + (size_t)k * n, m, rows));
    }
    if (o->fgp) {
        const float *pi = probs + (size_t)o->interior_class * n;
        float *fd = o->fgp + (size_t)y0 * w, *id = o->intp + (size_t)y0 * w;
        for (size_t i = 0; i < m; i++) {
            fd[i] = 1.0f - probs[i];
            id[i] = pi[i];
        }
    }
    int comp = o->ist && !o->ist_ws; /* streamed components: of the non-background arg-max */
    if (o->mask || o->labels || comp || o->ocls) {
        float scale = (float)(255 / (K - 1));
        for (size_t i = 0; i < m; i++) {
            int best = argmax_at(probs, K, n, i);
            if (o->labels) o->labels[(size_t)y0 * w + i] = (uint8_t)best;
            if (comp) o->sfg[i] = best != 0; /* as page_instances */
            if (o->ocls) o->ocls[i] = best;
            o->strip[i] = best * scale;
        }
        if (o->mask) UNET_TRY(unet_image_writer_rows(o->mask, o->strip, m, rows));
        if (o->ocls) UNET_TRY(overlay_stream_rows(o, o->ocls, rows));
    }
    if (o->ist) {
        if (o->ist_ws) {
            const float *pi = probs + (size_t)o->interior_class * n;
            for (size_t i = 0; i < m; i++) {
                o->sfg[i] = 1.0f - probs[i];
                o->sin[i] = pi[i];
            }
        }
        unet_status st = unet_inst_stream_push(o->ist, o->sfg, o->ist_ws ? o->sin : NULL, rows);
        if (st != UNET_OK) return st == UNET_ERR_DATA ? unet_errctx(st, "%s", o->path) : st;
    }
    return UNET_OK;
}

/* One row of tiles of probabilities, in strips of STRIP_ROWS rows. */
static unet_status on_rows(const float *probs, int y0, int rows, int w, void *user)
{
    outputs *o = user;
    size_t n = (size_t)rows * w;
    if ((size_t)STRIP_ROWS * w > o->strip_n) return unet_seterr(UNET_ERR_INTERNAL, "infer: strip smaller than planned");
    for (int r = 0; r < rows; r += STRIP_ROWS)
        UNET_TRY(on_strip(o, probs + (size_t)r * w, n, y0 + r, rows - r < STRIP_ROWS ? rows - r : STRIP_ROWS, w));
    return UNET_OK;
}

/* Instance ids from the page's arg-max (components) or probabilities
 * (watershed). */
static unet_status page_instances(const outputs *o, int32_t *inst, int *count)
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
    return UNET_OK;
}

/* The 16-bit (or float) instance output. inst: w*h int32 scratch. */
static unet_status write_instances(outputs *o, int32_t *inst, int *count, int page)
{
    UNET_TRY(page_instances(o, inst, count));
    if (!o->inst) {
        int use_float = !o->stack && *count > unet_infer_u16_max;
        if (*count > unet_infer_u16_max && o->stack)
            return unet_seterr(UNET_ERR_DATA,
                               "%s: %d objects do not fit the 16-bit instance stack; use outputs without instances",
                               o->stem, *count);
        if (use_float) {
            char path[8192], msg[8400];
            UNET_TRY(out_path(o, "_instances", "tif", path, sizeof path));
            snprintf(msg, sizeof msg, "%s has %d objects (> %d): instances written as float32 TIFF", o->stem,
                     *count, unet_infer_u16_max);
            unet_infer_event ev = {.kind = UNET_INFER_EV_NOTICE, .path = o->path, .page = page, .message = msg};
            emit(o->inf, &ev);
            UNET_TRY(unet_image_writer_open(path, 32, &o->inst));
        } else
            UNET_TRY(open_writer(o, "_instances", 1, 16, &o->inst));
    } else if (*count > unet_infer_u16_max)
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

static const float OVERLAY_COLOURS[8][3] = {{0, 255, 0},   {255, 255, 0}, {255, 0, 255}, {0, 255, 255},
                                            {255, 128, 0}, {255, 0, 0},   {0, 128, 255}, {128, 255, 128}};

/* One row of the overlay: the normalised input as grey (min..max -> 0..255,
 * the mean of its channels) with the contour pixels of the segmentation (an
 * object pixel with a 4-neighbour of another id) in a bright colour per
 * class. ids: the row's instance ids (inst = 1) or arg-max classes (inst =
 * 0); up / down: the rows above and below (NULL at the image's edge). img:
 * the row's c channels, plane stride img_stride. dst: 3 planes, stride
 * plane. Shared by the whole-image and the streamed path. */
static void overlay_row(const int32_t *up, const int32_t *ids, const int32_t *down, int w, int inst, const float *img,
                        size_t img_stride, int c, float lo, float scale, float *dst, size_t plane)
{
    for (int x = 0; x < w; x++) {
        int32_t id = ids[x];
        int edge = 0;
        if (id != 0)
            edge = (up && up[x] != id) || (down && down[x] != id) || (x > 0 && ids[x - 1] != id) ||
                   (x + 1 < w && ids[x + 1] != id);
        /* instances: each object in its own colour (contour, and a light
         * tint inside); else the colour of the class */
        float col[3];
        if (id != 0) instance_colour(inst ? (uint32_t)id : 0, id, OVERLAY_COLOURS, col);
        if (edge) {
            for (int ch = 0; ch < 3; ch++) dst[ch * plane + x] = col[ch];
        } else {
            float g = 0;
            for (int ch = 0; ch < c; ch++) g += img[(size_t)ch * img_stride + x] - lo;
            g *= scale;
            for (int ch = 0; ch < 3; ch++) dst[ch * plane + x] = (inst && id != 0) ? 0.75f * g + 0.25f * col[ch] : g;
        }
    }
}

/* The grey scale of the overlay from the normalised image's min and max. */
static float overlay_scale(float lo, float hi, int c) { return hi > lo ? 255.0f / (hi - lo) / c : 0.0f; }

/* ---- the overlay, streamed ---------------------------------------------------- */

/* Overlay row y of a streamed page, its ids in the ring (rows y-1 and y+1
 * there too where they exist): the input row read again and normalised,
 * the RGB row collected and written STRIP_ROWS at a time. */
static unet_status overlay_stream_row(outputs *o, int y)
{
    int w = o->w, h = o->h;
    if (y >= o->oin_y0 + o->oin_rows) {
        int rows = h - y < STRIP_ROWS ? h - y : STRIP_ROWS;
        size_t n = (size_t)rows * w;
        UNET_TRY(unet_image_reader_rows(o->ord, o->oin, n, rows));
        unet_status st = unet_norm_stream_apply(o->ons, o->oin, n, n, (size_t)y * w);
        if (st != UNET_OK) return unet_errctx(st, "%s", o->path);
        o->oin_y0 = y;
        o->oin_rows = rows;
    }
    const int32_t *up = y > 0 ? o->olab + (size_t)((y - 1) % 3) * w : NULL;
    const int32_t *down = y + 1 < h ? o->olab + (size_t)((y + 1) % 3) * w : NULL;
    overlay_row(up, o->olab + (size_t)(y % 3) * w, down, w, o->ist != NULL, o->oin + (size_t)(y - o->oin_y0) * w,
                (size_t)o->oin_rows * w, o->oc, o->olo, o->oscale, o->orgb + (size_t)o->orgb_rows * w,
                (size_t)STRIP_ROWS * w);
    if (++o->orgb_rows == STRIP_ROWS || y + 1 == h) {
        UNET_TRY(unet_image_writer_rows(o->overlay, o->orgb, (size_t)STRIP_ROWS * w, o->orgb_rows));
        o->orgb_rows = 0;
    }
    return UNET_OK;
}

/* The next rows of ids (instances) or classes, top to bottom: each row
 * completes the overlay row above it; the last row its own. */
static unet_status overlay_stream_rows(outputs *o, const int32_t *ids, int rows)
{
    int w = o->w;
    for (int r = 0; r < rows; r++) {
        int y = o->orecv++;
        memcpy(o->olab + (size_t)(y % 3) * w, ids + (size_t)r * w, (size_t)w * sizeof *ids);
        if (y > 0) UNET_TRY(overlay_stream_row(o, y - 1));
        if (y + 1 == o->h) UNET_TRY(overlay_stream_row(o, y));
    }
    return UNET_OK;
}

/* A streamed page with the overlay: raw min and max per channel (from the
 * statistics passes) give the normalised min and max (normalisation is
 * increasing, per channel), hence the whole-image path's grey scale; a
 * second reader of the page and the buffers. */
static unet_status overlay_stream_begin(outputs *o, int page, const unet_norm_stream *ns, int c, const float *rmin,
                                        const float *rmax)
{
    int w = o->w;
    float lo_px[UNET_NORM_MAX_CHANNELS], hi_px[UNET_NORM_MAX_CHANNELS];
    for (int ch = 0; ch < c; ch++) lo_px[ch] = rmin[ch], hi_px[ch] = rmax[ch];
    unet_status st = unet_norm_stream_apply(ns, lo_px, 1, 1, 0);
    if (st == UNET_OK) st = unet_norm_stream_apply(ns, hi_px, 1, 1, 0);
    if (st != UNET_OK) return unet_errctx(st, "%s", o->path);
    float lo = lo_px[0], hi = hi_px[0];
    for (int ch = 1; ch < c; ch++) {
        if (lo_px[ch] < lo) lo = lo_px[ch];
        if (hi_px[ch] > hi) hi = hi_px[ch];
    }
    o->olo = lo;
    o->oscale = overlay_scale(lo, hi, c);
    o->oc = c;
    o->ons = ns;
    o->orecv = o->oin_y0 = o->oin_rows = o->orgb_rows = 0;
    UNET_TRY(unet_image_reader_open(o->path, page, &o->ord));
    o->olab = malloc((size_t)3 * w * sizeof *o->olab);
    o->oin = malloc((size_t)c * STRIP_ROWS * w * sizeof *o->oin);
    o->orgb = malloc((size_t)3 * STRIP_ROWS * w * sizeof *o->orgb);
    if (!(o->sel & UNET_INFER_INSTANCES)) o->ocls = malloc((size_t)STRIP_ROWS * w * sizeof *o->ocls);
    if (!o->olab || !o->oin || !o->orgb || (!(o->sel & UNET_INFER_INSTANCES) && !o->ocls))
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the overlay of %s", o->path);
    return unet_image_writer_begin_page(o->overlay, w, o->h, 3);
}

/* Host bytes of the streamed overlay (docs/scale.md). */
static uint64_t overlay_stream_bytes(const outputs *o)
{
    uint64_t w = (uint64_t)o->w;
    return unet_image_reader_buffer_bytes(o->ord) + 4 * (3 * w + (uint64_t)o->oc * STRIP_ROWS * w + 3 * STRIP_ROWS * w +
                                                         (o->ocls ? STRIP_ROWS * w : 0)) +
           unet_image_writer_buffer_bytes(o->overlay);
}

/* The overlay of a page in memory (img normalised, c planes; inst: the
 * instance ids, or NULL: the arg-max classes o->labels). */
static unet_status write_overlay(outputs *o, const float *img, int c, const int32_t *inst)
{
    int w = o->w, h = o->h;
    size_t n = (size_t)w * h;
    float lo = img[0], hi = img[0];
    for (size_t i = 0; i < n * c; i++) {
        if (img[i] < lo) lo = img[i];
        if (img[i] > hi) hi = img[i];
    }
    float scale = overlay_scale(lo, hi, c);
    int rows_max = (int)(o->strip_n / (3 * (size_t)w));
    if (rows_max < 1) return unet_seterr(UNET_ERR_INTERNAL, "infer: overlay strip too small");
    int32_t *cls = NULL; /* without instances: 3 rows of classes as ids */
    if (!inst && !(cls = malloc((size_t)3 * w * sizeof *cls)))
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the overlay of %s", o->path);
    unet_status st = unet_image_writer_begin_page(o->overlay, w, h, 3);
    for (int y0 = 0; y0 < h && st == UNET_OK; y0 += rows_max) {
        int rows = h - y0 < rows_max ? h - y0 : rows_max;
        size_t plane = (size_t)rows * w;
        for (int y = y0; y < y0 + rows; y++) {
            const int32_t *r[3] = {NULL, NULL, NULL}; /* rows y-1, y, y+1 */
            for (int k = 0; k < 3; k++) {
                int yy = y - 1 + k;
                if (yy < 0 || yy >= h) continue;
                if (inst) r[k] = inst + (size_t)yy * w;
                else {
                    int32_t *d = cls + (size_t)k * w;
                    for (int x = 0; x < w; x++) d[x] = o->labels[(size_t)yy * w + x];
                    r[k] = d;
                }
            }
            overlay_row(r[0], r[1], r[2], w, inst != NULL, img + (size_t)y * w, n, c, lo, scale,
                        o->strip + (size_t)(y - y0) * w, plane);
        }
        st = unet_image_writer_rows(o->overlay, o->strip, plane, rows);
    }
    free(cls);
    if (st != UNET_OK) return st;
    return unet_image_writer_end_page(o->overlay);
}

/* Prediction on the resized image sm, probabilities resized back to w x h
 * and handed to rows_fn in strips of 64 rows. */
static unet_status predict_scaled(unet_net *net, const unet_image *sm, int w, int h, int K, unsigned flags,
                                  unet_rows_fn rows_fn, void *rows_user, tile_progress *tp)
{
    float *probs = malloc((size_t)K * sm->w * sm->h * sizeof *probs);
    float *strip = malloc((size_t)K * 64 * w * sizeof *strip);
    unet_status st = UNET_OK;
    if (!probs || !strip) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the probabilities of %dx%d", w, h);
    if (st == UNET_OK) st = unet_predict_image_ex(net, sm->data, sm->h, sm->w, flags, probs, on_tile, tp);
    for (int y0 = 0; st == UNET_OK && y0 < h; y0 += 64) {
        int rows = h - y0 < 64 ? h - y0 : 64;
        unet_resize_bilinear_rows(probs, K, sm->h, sm->w, strip, h, w, y0, rows);
        st = rows_fn(strip, y0, rows, w, rows_user);
    }
    free(probs);
    free(strip);
    return st;
}

/* The page's strip buffer: STRIP_ROWS rows of 3 planes (the overlay's RGB;
 * prob, mask and instances use one). */
static unet_status alloc_strip(outputs *o, int w)
{
    size_t strip = (size_t)3 * STRIP_ROWS * w;
    o->strip = malloc(strip * sizeof *o->strip);
    o->strip_n = strip;
    if (!o->strip) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the outputs of %s", o->path);
    return UNET_OK;
}

/* ---- one page, whole in memory ---------------------------------------------- */

static unet_status page_whole(unet_infer *inf, outputs *o, int page, tile_progress *tp, int *objects)
{
    const char *path = o->path;
    unet_image img = {0}, small = {0};
    int32_t *inst = NULL;
    unet_status st = unet_image_read(path, page, &img);
    if (st != UNET_OK) goto done;
    if (img.c != inf->in_channels) {
        st = unet_seterr(UNET_ERR_DATA, "%s%s has %d channel(s) but the model %s expects %d", path,
                         o->stack ? " (a page)" : "", img.c, inf->model_name, inf->in_channels);
        goto done;
    }
    /* [data] scale: the network sees the image resized as in training
     * (resized raw, then normalised); the probabilities come back to the
     * input's size by bilinear interpolation */
    if (inf->cfg.data.scale != 1.0) {
        st = unet_image_alloc(&small, unet_scaled_size(img.w, inf->cfg.data.scale),
                              unet_scaled_size(img.h, inf->cfg.data.scale), img.c, img.bits);
        if (st != UNET_OK) goto done;
        unet_resize_bilinear(img.data, img.c, img.h, img.w, small.data, small.h, small.w);
        st = unet_normalize_image(&inf->cfg, &small, small.data);
        if (st != UNET_OK) {
            st = unet_seterr(st, "%s: %s", path, unet_last_error());
            goto done;
        }
    }
    /* normalised in place: the raw values are not needed again (the overlay
     * rescales min..max, which normalisation preserves) */
    st = unet_normalize_image(&inf->cfg, &img, img.data);
    if (st != UNET_OK) {
        st = unet_errctx(st, "%s", path);
        goto done;
    }
    st = ensure_net(inf, small.data ? small.h : img.h, small.data ? small.w : img.w);
    if (st != UNET_OK) goto done;
    const unet_plan_info *pi = unet_net_info(inf->net);
    o->w = img.w;
    o->h = img.h;
    outputs_free_page(o);
    unsigned sel = o->sel;
    if ((sel & UNET_INFER_INSTANCES) && inf->iopt.method == UNET_INSTANCES_WATERSHED) {
        o->fgp = malloc((size_t)img.w * img.h * sizeof *o->fgp);
        o->intp = malloc((size_t)img.w * img.h * sizeof *o->intp);
        if (!o->fgp || !o->intp) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of %s", path);
            goto done;
        }
    }
    if ((st = alloc_strip(o, img.w)) != UNET_OK) goto done;
    if (sel & (UNET_INFER_INSTANCES | UNET_INFER_OVERLAY)) {
        o->labels = malloc((size_t)img.w * img.h);
        if (!o->labels) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the outputs of %s", path);
            goto done;
        }
    }
    tp->ev.w = img.w;
    tp->ev.h = img.h;
    tp->ev.tile = pi->in_h;
    tp->ev.tile_out = pi->out_h;
    unsigned flags = inf->opt.tta ? UNET_PREDICT_TTA : 0;
    st = begin_pages(o);
    if (st == UNET_OK && !small.data)
        st = unet_predict_image_rows(inf->net, img.data, img.h, img.w, flags, on_rows, o, on_tile, tp);
    else if (st == UNET_OK)
        st = predict_scaled(inf->net, &small, img.w, img.h, o->classes, flags, on_rows, o, tp);
    if (st == UNET_OK) st = end_pages(o);
    if (st == UNET_OK && (sel & UNET_INFER_INSTANCES)) {
        inst = malloc((size_t)img.w * img.h * sizeof *inst);
        if (!inst) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of %s", path);
        else st = write_instances(o, inst, objects, page);
    }
    if (st == UNET_OK && o->overlay) st = write_overlay(o, img.data, img.c, inst);
done:
    free(inst);
    unet_image_free(&img);
    unet_image_free(&small);
    return st;
}

/* ---- one page, streamed ---------------------------------------------------------- */

typedef struct stream_in {
    unet_image_reader *rd;
    const unet_norm_stream *ns;
    int w;
    const char *path;
} stream_in;

/* (reader errors name the file; normalisation errors get it prepended, as
 * on the whole-image path) */
static unet_status stream_rows(float *dst, int y0, int rows, int w, void *user)
{
    stream_in *si = user;
    size_t n = (size_t)rows * w;
    UNET_TRY(unet_image_reader_rows(si->rd, dst, n, rows));
    unet_status st = unet_norm_stream_apply(si->ns, dst, n, n, (size_t)y0 * si->w);
    return st == UNET_OK ? st : unet_errctx(st, "%s", si->path);
}

/* Host bytes of a streamed page besides the reader and the writers: the
 * input window and its staging rows, the tile buffers, a row of tiles of
 * output and the pipeline's strip (docs/scale.md). */
static unet_status stream_core_bytes(const unet_net *net, int h, int w, int c, int K, int tta, size_t strip_n,
                                     uint64_t *bytes)
{
    const unet_plan_info *pi = unet_net_info(net);
    int rows = 0;
    UNET_TRY(unet_predict_stream_window(net, h, w, &rows));
    unet_tile_grid gy;
    UNET_TRY(unet_tile_grid_make(h, pi->in_h, pi->out_h, 1 << (net->m->cfg.depth - 1), &gy));
    uint64_t window = (uint64_t)c * (rows + 64) * w * sizeof(float); /* + 64 staging rows */
    uint64_t tiles = ((uint64_t)c * pi->in_h * pi->in_w + (uint64_t)K * pi->out_h * pi->out_w) * sizeof(float);
    if (tta) tiles *= 2;
    uint64_t outrows = (uint64_t)K * gy.stride * w * sizeof(float);
    /* (not counted: 4 bytes per row of tiles for the window's bookkeeping) */
    *bytes = window + tiles + outrows + (uint64_t)strip_n * sizeof(float);
    return UNET_OK;
}

/* The most rows the streamed labeller may hold for a w-pixel-wide page:
 * stream_megapixels worth of rows, at least 1024 (docs/scale.md). */
static int instance_max_rows(const unet_infer *inf, int w, int h)
{
    double rows = ceil(inf->opt.stream_megapixels * 1e6 / w);
    if (rows < 1024) rows = 1024;
    return rows > h ? h : (int)rows;
}

/* Ids handed over by the labeller: written as they come. */
static unet_status inst_rows(const int32_t *ids, int y0, int rows, int w, void *user)
{
    (void)y0;
    outputs *o = user;
    for (int r = 0; r < rows; r += STRIP_ROWS) {
        int k = rows - r < STRIP_ROWS ? rows - r : STRIP_ROWS;
        size_t m = (size_t)k * w;
        const int32_t *src = ids + (size_t)r * w;
        for (size_t i = 0; i < m; i++) o->istrip[i] = (float)src[i];
        UNET_TRY(unet_image_writer_rows(o->inst, o->istrip, m, k));
        if (o->inst_f) UNET_TRY(unet_image_writer_rows(o->inst_f, o->istrip, m, k));
    }
    if (o->ord) UNET_TRY(overlay_stream_rows(o, ids, rows));
    return UNET_OK;
}

/* A streamed page with instances: the writers (the count is not known until
 * the last row: a single page gets the 16-bit file and the float32 TIFF of
 * the whole-image path above 65535 objects, both written, one kept; a stack
 * is 16-bit), the labeller and its row buffers. */
static unet_status stream_instances_begin(const unet_infer *inf, outputs *o, int page)
{
    (void)page;
    int w = o->w;
    if (!o->inst) {
        UNET_TRY(open_writer(o, "_instances", 1, 16, &o->inst));
        if (!o->stack) {
            char path[8192];
            UNET_TRY(out_path(o, "_instances", "tif", path, sizeof path));
            UNET_TRY(unet_image_writer_open(path, 32, &o->inst_f));
        }
    }
    UNET_TRY(unet_image_writer_begin_page(o->inst, o->w, o->h, 1));
    if (o->inst_f) UNET_TRY(unet_image_writer_begin_page(o->inst_f, o->w, o->h, 1));
    unet_instance_options io = *o->io;
    o->ist_ws = io.method == UNET_INSTANCES_WATERSHED;
    if (!o->ist_ws) io.method = UNET_INSTANCES_COMPONENTS; /* of the non-background arg-max, as page_instances */
    size_t n = (size_t)STRIP_ROWS * w;
    o->sfg = malloc(n * sizeof *o->sfg);
    o->istrip = malloc(n * sizeof *o->istrip);
    if (o->ist_ws) o->sin = malloc(n * sizeof *o->sin);
    if (!o->sfg || !o->istrip || (o->ist_ws && !o->sin))
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of %s", o->path);
    return unet_inst_stream_create(w, o->h, &io, instance_max_rows(inf, w, o->h), inst_rows, o, &o->ist);
}

/* After the page's last row: the last ids, the count, and which file stays. */
static unet_status stream_instances_end(outputs *o, int page, int *count)
{
    unet_status st = unet_inst_stream_finish(o->ist, count);
    if (st != UNET_OK) return st == UNET_ERR_DATA ? unet_errctx(st, "%s", o->path) : st;
    if (*count > unet_infer_u16_max && o->stack)
        return page == 0 ? unet_seterr(UNET_ERR_DATA,
                                       "%s: %d objects do not fit the 16-bit instance stack; use outputs without "
                                       "instances",
                                       o->stem, *count)
                         : unet_seterr(UNET_ERR_DATA, "%s: %d objects do not fit the 16-bit instance stack", o->stem,
                                       *count);
    UNET_TRY(unet_image_writer_end_page(o->inst));
    if (!o->inst_f) return UNET_OK;
    UNET_TRY(unet_image_writer_end_page(o->inst_f));
    if (*count <= unet_infer_u16_max) {
        unet_image_writer_close(o->inst_f, 0);
        o->inst_f = NULL;
        return UNET_OK;
    }
    char msg[1200];
    snprintf(msg, sizeof msg, "%s has %d objects (> %d): instances written as float32 TIFF", o->stem, *count,
             unet_infer_u16_max);
    unet_infer_event ev = {.kind = UNET_INFER_EV_NOTICE, .path = o->path, .page = page, .message = msg};
    emit(o->inf, &ev);
    unet_image_writer_close(o->inst, 0);
    o->inst = o->inst_f;
    o->inst_f = NULL;
    return UNET_OK;
}

static unet_status page_stream(unet_infer *inf, outputs *o, int page, unet_image_reader *rd, tile_progress *tp,
                               int *objects)
{
    const char *path = o->path;
    int w, h, c, bits;
    unet_image_reader_info(rd, &w, &h, &c, &bits);
    if (c != inf->in_channels)
        return unet_seterr(UNET_ERR_DATA, "%s%s has %d channel(s) but the model %s expects %d", path,
                           o->stack ? " (a page)" : "", c, inf->model_name, inf->in_channels);
    double mp = (double)w * h / 1e6;
    if (inf->cfg.data.scale != 1.0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: %dx%d (%.0f megapixels) is above [infer] stream_megapixels = %g, and streamed "
                           "segmentation needs [data] scale = 1 (it is %g): resize the image beforehand, or raise "
                           "stream_megapixels",
                           path, w, h, mp, inf->opt.stream_megapixels, inf->cfg.data.scale);
    /* statistics: passes over the file before the first row is normalised */
    unet_norm_stream ns;
    unet_status st = unet_norm_stream_begin(&inf->cfg, c, bits, w, h, &ns);
    if (st != UNET_OK) return unet_errctx(st, "%s", path);
    int passes = unet_norm_stream_passes(&ns), ovl = (o->sel & UNET_INFER_OVERLAY) != 0;
    /* the overlay: the raw min and max per channel, in the first pass (an
     * extra one with normalize = fixed) */
    float rmin[UNET_NORM_MAX_CHANNELS], rmax[UNET_NORM_MAX_CHANNELS];
    for (int ch = 0; ch < UNET_NORM_MAX_CHANNELS; ch++) rmin[ch] = INFINITY, rmax[ch] = -INFINITY;
    int runs = passes > 0 ? passes : ovl;
    if (runs > 0) {
        const int chunk = 64;
        float *buf = malloc((size_t)c * chunk * w * sizeof *buf);
        if (!buf) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for 64 rows of %s", path);
        for (int p = 0; p < runs && st == UNET_OK; p++) {
            if (p > 0) st = unet_image_reader_rewind(rd);
            for (int y = 0; y < h && st == UNET_OK; y += chunk) {
                int rows = h - y < chunk ? h - y : chunk;
                size_t n = (size_t)rows * w;
                st = unet_image_reader_rows(rd, buf, n, rows);
                if (st == UNET_OK && p < passes && (st = unet_norm_stream_add(&ns, buf, n, n)) != UNET_OK)
                    st = unet_errctx(st, "%s", path);
                if (st == UNET_OK && p == 0 && ovl)
                    for (int ch = 0; ch < c; ch++)
                        for (size_t i = 0; i < n; i++) {
                            float v = buf[(size_t)ch * n + i];
                            if (v < rmin[ch]) rmin[ch] = v;
                            if (v > rmax[ch]) rmax[ch] = v;
                        }
            }
            if (st == UNET_OK && p < passes) st = unet_norm_stream_end_pass(&ns);
        }
        free(buf);
        if (st == UNET_OK) st = unet_image_reader_rewind(rd);
        if (st != UNET_OK) return st;
    }
    UNET_TRY(ensure_net(inf, h, w));
    const unet_plan_info *pi = unet_net_info(inf->net);
    o->w = w;
    o->h = h;
    outputs_free_page(o);
    UNET_TRY(alloc_strip(o, w));
    UNET_TRY(begin_pages(o));
    if (o->sel & UNET_INFER_INSTANCES) UNET_TRY(stream_instances_begin(inf, o, page));
    if (ovl) UNET_TRY(overlay_stream_begin(o, page, &ns, c, rmin, rmax));
    uint64_t core = 0;
    UNET_TRY(stream_core_bytes(inf->net, h, w, c, o->classes, inf->opt.tta, o->strip_n, &core));
    tp->ev.w = w;
    tp->ev.h = h;
    tp->ev.tile = pi->in_h;
    tp->ev.tile_out = pi->out_h;
    tp->ev.streamed = 1;
    tp->ev.stream_host_bytes = core + unet_image_reader_buffer_bytes(rd) + writers_bytes(o);
    stream_in si = {rd, &ns, w, path};
    st = unet_predict_stream(inf->net, h, w, inf->opt.tta ? UNET_PREDICT_TTA : 0, stream_rows, &si, on_rows, o, on_tile,
                             tp);
    if (st == UNET_OK) st = end_pages(o);
    if (st == UNET_OK && o->ist) {
        /* the instance writers, the labeller's window at its peak and its
         * row buffers (docs/scale.md) */
        uint64_t wb = unet_image_writer_buffer_bytes(o->inst) + unet_image_writer_buffer_bytes(o->inst_f);
        st = stream_instances_end(o, page, objects);
        int peak = unet_inst_stream_peak_rows(o->ist);
        tp->ev.stream_instance_rows = peak;
        tp->ev.stream_host_bytes += (uint64_t)peak * w * unet_inst_stream_row_bytes(o->io) +
                                    (uint64_t)(o->ist_ws ? 3 : 2) * STRIP_ROWS * w * sizeof(float) + wb;
    }
    if (st == UNET_OK && o->ord) {
        tp->ev.stream_host_bytes += overlay_stream_bytes(o);
        if (o->orecv != h) st = unet_seterr(UNET_ERR_INTERNAL, "infer: the overlay got %d of %d rows", o->orecv, h);
        else st = unet_image_writer_end_page(o->overlay);
    }
    unet_inst_stream_destroy(o->ist);
    o->ist = NULL;
    unet_image_reader_close(o->ord);
    o->ord = NULL;
    return st;
}

/* ---- one file --------------------------------------------------------------------- */

/* Host bytes the whole-image path needs for a w x h page (an estimate, per
 * pixel: the float input and the reader's raw copy, the arg-max, and with
 * instances the ids and the labelling's buffers, with the watershed its two
 * probability planes and queue, with [data] scale the resized image and its
 * probabilities). */
static uint64_t whole_bytes(const unet_infer *inf, int w, int h, int c)
{
    double px = (double)w * h, per = 6.0 * c + 1;
    if (inf->opt.outputs & UNET_INFER_INSTANCES) per += 12 + (inf->iopt.method == UNET_INSTANCES_WATERSHED ? 24 : 0);
    double s = inf->cfg.data.scale;
    if (s != 1.0) per += 4.0 * (c + inf->classes) * s * s;
    return (uint64_t)(px * per);
}

static uint64_t memory_limit(const unet_infer *inf)
{
    if (inf->opt.memory_limit_bytes) return inf->opt.memory_limit_bytes;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : UINT64_MAX;
}

/* How page `page` of path is segmented: *stream = 1 (streamed; *rd then
 * holds its reader) when it is above stream_megapixels at [data] scale = 1
 * (all outputs stream). Above the threshold with a scale, the whole-image
 * path runs (a notice says so) unless its estimate exceeds the memory
 * limit: then an error says what to set. A file the streaming reader cannot
 * open goes the whole-image way, whose reader reports the problem. */
static unet_status choose_path(const unet_infer *inf, const char *path, int page, unet_image_reader **rd, int *stream)
{
    *rd = NULL;
    *stream = 0;
    if (unet_image_reader_open(path, page, rd) != UNET_OK) {
        unet_clear_error();
        return UNET_OK;
    }
    int w, h, c;
    unet_image_reader_info(*rd, &w, &h, &c, NULL);
    double mp = (double)w * h / 1e6;
    if (mp > inf->opt.stream_megapixels) {
        if (inf->cfg.data.scale == 1.0) {
            *stream = 1;
            return UNET_OK;
        }
        uint64_t need = whole_bytes(inf, w, h, c), have = memory_limit(inf);
        unet_image_reader_close(*rd);
        *rd = NULL;
        if (need > have)
            return unet_seterr(UNET_ERR_OUT_OF_MEMORY,
                               "%s%s: %dx%d (%.0f megapixels) would need about %.1f GiB in memory ([data] scale "
                               "resizes the whole image), more than the %.1f GiB limit: resize the image beforehand "
                               "and set [data] scale = 1 to segment it streamed in bounded memory",
                               path, page ? " (a page)" : "", w, h, mp, need / 1073741824.0, have / 1073741824.0);
        char msg[600];
        snprintf(msg, sizeof msg,
                 "%s: %dx%d (%.0f megapixels) is above [infer] stream_megapixels = %g but [data] scale resizes the "
                 "whole image: segmented in memory (about %.1f GiB); [data] scale = 1 would stream it",
                 path, w, h, mp, inf->opt.stream_megapixels, need / 1073741824.0);
        unet_infer_event ev = {.kind = UNET_INFER_EV_NOTICE, .path = path, .page = page, .message = msg};
        emit(inf, &ev);
        return UNET_OK;
    }
    unet_image_reader_close(*rd);
    *rd = NULL;
    return UNET_OK;
}

unet_status unet_infer_file(unet_infer *inf, const char *path, const char *out_dir)
{
    if (!inf || !path || !out_dir) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_file: NULL argument");
    if (!inf->opt.outputs) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "[infer] outputs selects nothing to write");
    if (unet_mkdir_p(out_dir) != 0)
        return unet_seterr(UNET_ERR_IO, "cannot create the output folder %s: %s", out_dir, strerror(errno));
    int pages = 1;
    unet_status st = unet_image_count_pages(path, &pages);
    outputs *o = calloc(1, sizeof *o);
    if (!o) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the outputs of %s", path);
    o->sel = inf->opt.outputs;
    o->classes = inf->classes;
    o->io = &inf->iopt;
    o->interior_class = inf->interior_class;
    o->stack = pages > 1;
    o->inf = inf;
    o->path = path;
    snprintf(o->dir, sizeof o->dir, "%s", out_dir);
    stem_of(path, o->stem, sizeof o->stem);
    unet_image_reader *rd = NULL;
    int stream0 = 0;
    if (st == UNET_OK) {
        /* TIFF outputs of a streamed file are tiled BigTIFF */
        st = choose_path(inf, path, 0, &rd, &stream0);
        o->tiled = stream0;
        if (st == UNET_OK) st = outputs_open(o);
    }
    for (int pg = 0; pg < pages && st == UNET_OK; pg++) {
        tile_progress tp;
        memset(&tp, 0, sizeof tp);
        tp.inf = inf;
        tp.ev.path = path;
        tp.ev.page = pg;
        tp.ev.pages = pages;
        tp.ev.objects = -1;
        int stream = stream0;
        if (pg > 0) st = choose_path(inf, path, pg, &rd, &stream);
        if (st != UNET_OK) break;
        if (stream) st = page_stream(inf, o, pg, rd, &tp, &tp.ev.objects);
        else st = page_whole(inf, o, pg, &tp, &tp.ev.objects);
        unet_image_reader_close(rd);
        rd = NULL;
        if (st == UNET_OK) {
            tp.ev.kind = UNET_INFER_EV_PAGE;
            if (emit(inf, &tp.ev)) st = unet_seterr(UNET_ERR_INTERRUPTED, "%s: stopped", path);
        } else if (st == UNET_ERR_INTERRUPTED)
            unet_seterr(st, "%s: stopped", path);
    }
    unet_image_reader_close(rd);
    outputs_close(o, st == UNET_OK, &st);
    outputs_free_page(o);
    free(o);
    return st;
}

/* ---- in memory ------------------------------------------------------------------------ */

unet_status unet_infer_image(unet_infer *inf, const float *image, int c, int h, int w, int bits, float *probs)
{
    if (!inf || !image || !probs) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_image: NULL argument");
    if (w <= 0 || h <= 0 || c != inf->in_channels)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_image: image of %dx%d with %d channel(s); the model "
                                                      "expects %d",
                           w, h, c, inf->in_channels);
    unet_image img = {0}, small = {0};
    UNET_TRY(unet_image_alloc(&img, w, h, c, bits));
    memcpy(img.data, image, unet_image_count(&img) * sizeof *img.data);
    unet_status st = UNET_OK;
    tile_progress tp;
    memset(&tp, 0, sizeof tp);
    tp.inf = inf;
    tp.ev.pages = 1;
    tp.ev.w = w;
    tp.ev.h = h;
    tp.ev.objects = -1;
    unsigned flags = inf->opt.tta ? UNET_PREDICT_TTA : 0;
    if (inf->cfg.data.scale != 1.0) {
        st = unet_image_alloc(&small, unet_scaled_size(w, inf->cfg.data.scale), unet_scaled_size(h, inf->cfg.data.scale),
                              c, bits);
        if (st == UNET_OK) {
            unet_resize_bilinear(img.data, c, h, w, small.data, small.h, small.w);
            st = unet_normalize_image(&inf->cfg, &small, small.data);
        }
        if (st == UNET_OK) st = ensure_net(inf, small.h, small.w);
        unet_whole_rows wr = {probs, h, inf->classes};
        if (st == UNET_OK)
            st = predict_scaled(inf->net, &small, w, h, inf->classes, flags, unet_rows_into_image, &wr, &tp);
    } else {
        st = unet_normalize_image(&inf->cfg, &img, img.data);
        if (st == UNET_OK) st = ensure_net(inf, h, w);
        if (st == UNET_OK) st = unet_predict_image_ex(inf->net, img.data, h, w, flags, probs, on_tile, &tp);
    }
    unet_image_free(&img);
    unet_image_free(&small);
    return st;
}

unet_status unet_infer_mask(const float *probs, int classes, int h, int w, uint8_t *mask)
{
    if (!probs || !mask || classes < 2 || classes > 256 || h <= 0 || w <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_mask: bad arguments (%d classes, %dx%d)", classes, w,
                           h);
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++) mask[i] = (uint8_t)argmax_at(probs, classes, n, i);
    return UNET_OK;
}

unet_status unet_infer_instances(const unet_infer *inf, const float *probs, int h, int w, int32_t *ids, int *count)
{
    if (!inf || !probs || !ids || h <= 0 || w <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_infer_instances: bad arguments");
    size_t n = (size_t)w * h;
    outputs o;
    memset(&o, 0, sizeof o);
    o.w = w;
    o.h = h;
    o.io = &inf->iopt;
    snprintf(o.stem, sizeof o.stem, "an image");
    unet_status st = UNET_OK;
    int K = inf->classes, dummy = 0;
    if (inf->iopt.method == UNET_INSTANCES_WATERSHED) {
        o.fgp = malloc(n * sizeof *o.fgp);
        o.intp = malloc(n * sizeof *o.intp);
        if (!o.fgp || !o.intp) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances");
        else
            for (size_t i = 0; i < n; i++) {
                o.fgp[i] = 1.0f - probs[i];
                o.intp[i] = probs[(size_t)inf->interior_class * n + i];
            }
    } else {
        o.labels = malloc(n);
        if (!o.labels) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances");
        else
            for (size_t i = 0; i < n; i++) o.labels[i] = (uint8_t)argmax_at(probs, K, n, i);
    }
    if (st == UNET_OK) st = page_instances(&o, ids, count ? count : &dummy);
    free(o.fgp);
    free(o.intp);
    free(o.labels);
    return st;
}
