/* Augmentation previews (`unetcl augment`): augmented training samples as
 * the training loop draws them (image tile, class labels and weights of the
 * output region), plus an optional contact sheet with label contours. */
#define _POSIX_C_SOURCE 200809L
#include "augment.h"
#include "cfgmap.h"
#include "config.h"
#include "error.h"
#include "fsutil.h"
#include "unetcl/augment.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the data set: (file, page) entries ----------------------------------- */

typedef struct entry {
    const char *path;
    int page;
} entry;

typedef struct entries {
    char **files;
    int nfiles;
    entry *e;
    int n;
} entries;

static void entries_free(entries *s)
{
    unet_list_free(s->files, s->nfiles);
    free(s->e);
    memset(s, 0, sizeof *s);
}

/* Every page of every file matched by pattern (a folder, glob or file). */
static unet_status entries_list(const char *pattern, const char *key, entries *s)
{
    memset(s, 0, sizeof *s);
    if (!pattern[0])
        return unet_seterr(UNET_ERR_CONFIG,
                           "[data] %s is empty: set it in the config file or with --set data.%s=PATH", key, key);
    unet_status st = unet_list_files(pattern, &s->files, &s->nfiles);
    if (st != UNET_OK)
        return unet_errctx(st, "[data] %s = \"%s\"", key, pattern);
    for (int i = 0; i < s->nfiles; i++) {
        int pages = 0;
        st = unet_image_count_pages(s->files[i], &pages);
        if (st != UNET_OK) break;
        entry *ne = realloc(s->e, sizeof *ne * (size_t)(s->n + pages));
        if (!ne) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory listing %s", pattern);
            break;
        }
        s->e = ne;
        for (int p = 0; p < pages; p++) s->e[s->n++] = (entry){s->files[i], p};
    }
    if (st != UNET_OK) entries_free(s);
    return st;
}

static const char *entry_name(const entry *e, char *buf, size_t n)
{
    if (e->page) snprintf(buf, n, "%s (page %d)", e->path, e->page);
    else snprintf(buf, n, "%s", e->path);
    return buf;
}

/* The label image of e as int32 ids: instance ids (instances, binary: the
 * 8-connected components of the foreground) or class ids (classes). */
static unet_status read_labels(const unet_config *cfg, const entry *e, int32_t **ids, int *w, int *h)
{
    unet_label_options lo;
    unet_label_options_from_config(cfg, &lo);
    UNET_TRY(unet_labels_read(e->path, e->page, &lo, ids, w, h));
    if (lo.type != UNET_LABEL_BINARY) return UNET_OK;
    size_t n = (size_t)*w * (size_t)*h;
    uint8_t *mask = malloc(n);
    unet_status st = mask ? UNET_OK : unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %s", e->path);
    for (size_t i = 0; st == UNET_OK && i < n; i++) mask[i] = (uint8_t)((*ids)[i] != 0);
    if (st == UNET_OK) st = unet_instances_from_mask(mask, *w, *h, *ids, NULL);
    free(mask);
    if (st != UNET_OK) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

/* The image of e as floats scaled to [0,1] by the bit depth (8, 16 bit);
 * float images are taken as they are. */
static unet_status read_image(const entry *e, unet_image *im)
{
    UNET_TRY(unet_image_read(e->path, e->page, im));
    double scale = im->bits == 8 ? 1.0 / 255.0 : im->bits == 16 ? 1.0 / 65535.0 : 1.0;
    size_t n = unet_image_count(im);
    for (size_t i = 0; i < n; i++) im->data[i] = (float)(im->data[i] * scale);
    return UNET_OK;
}

/* ---- writing ------------------------------------------------------------ */

/* Writes n = c*w*h values times `scale` as an 8-bit PNG (c = 1 or 3). */
static unet_status write_png8(const char *path, const float *v, int c, int w, int h, double scale)
{
    unet_image im = {0};
    UNET_TRY(unet_image_alloc(&im, w, h, c, 8));
    size_t n = unet_image_count(&im);
    for (size_t i = 0; i < n; i++) {
        double x = v[i] * scale;
        im.data[i] = (float)(x > 255.0 ? 255.0 : x > 0.0 ? x : 0.0);
    }
    unet_status st = unet_png_write(path, &im, 8);
    unet_image_free(&im);
    return st;
}

/* ---- the contact sheet --------------------------------------------------- */

#define SHEET_GAP 4

typedef struct sheet {
    int cols, rows, cell;
    unet_image im; /* RGB, values 0..255 */
} sheet;

static unet_status sheet_init(sheet *s, int count, int cols, int cell)
{
    s->cols = cols < count ? cols : count;
    s->rows = (count + s->cols - 1) / s->cols;
    s->cell = cell;
    int w = s->cols * cell + (s->cols + 1) * SHEET_GAP, h = s->rows * cell + (s->rows + 1) * SHEET_GAP;
    if ((double)w * h > 4.0e8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "the contact sheet would be %d x %d pixels: use fewer samples or a smaller --sheet-cell",
                           w, h);
    UNET_TRY(unet_image_alloc(&s->im, w, h, 3, 8));
    size_t n = unet_image_count(&s->im);
    for (size_t i = 0; i < n; i++) s->im.data[i] = 48.0f; /* dark gray gaps */
    return UNET_OK;
}

static void sheet_put(sheet *s, int x, int y, const float rgb[3])
{
    for (int ch = 0; ch < 3; ch++) *unet_image_at(&s->im, ch, y, x) = rgb[ch];
}

static int lab_at(const int32_t *lab, int out, int off, int T, int S, int cx, int cy)
{
    if (cx < 0 || cy < 0 || cx >= S || cy >= S) return -1;
    int ox = (int)floor((cx + 0.5) * T / S) - off, oy = (int)floor((cy + 0.5) * T / S) - off;
    if (ox < 0 || oy < 0 || ox >= out || oy >= out) return -1;
    return lab[(size_t)oy * out + ox];
}

/* Sample k: the tile (channel 0, or RGB when c = 3) reduced to cell x cell by
 * area averaging, the label contours of the output region in yellow (drawn
 * on the pixels of classes > 0 that touch another class) and the output
 * region framed in cyan. */
static void sheet_cell(sheet *s, int k, const float *img, int c, int T, const int32_t *lab, int out)
{
    int S = s->cell, off = (T - out) / 2;
    int X0 = SHEET_GAP + (k % s->cols) * (S + SHEET_GAP), Y0 = SHEET_GAP + (k / s->cols) * (S + SHEET_GAP);
    size_t plane = (size_t)T * T;
    for (int cy = 0; cy < S; cy++) {
        int y0 = (int)((long)cy * T / S), y1 = (int)((long)(cy + 1) * T / S);
        if (y1 <= y0) y1 = y0 + 1;
        for (int cx = 0; cx < S; cx++) {
            int x0 = (int)((long)cx * T / S), x1 = (int)((long)(cx + 1) * T / S);
            if (x1 <= x0) x1 = x0 + 1;
            float rgb[3];
            for (int ch = 0; ch < 3; ch++) {
                const float *p = img + (c == 3 ? (size_t)ch * plane : 0);
                double sum = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) sum += p[(size_t)y * T + x];
                double v = 255.0 * sum / ((double)(y1 - y0) * (x1 - x0));
                rgb[ch] = (float)(v > 255.0 ? 255.0 : v > 0.0 ? v : 0.0);
            }
            sheet_put(s, X0 + cx, Y0 + cy, rgb);
        }
    }
    /* labels sampled at the cell pixel centres; -1 outside the output region */
#define LAB_AT(x, y) lab_at(lab, out, off, T, S, x, y)
    static const float yellow[3] = {255, 215, 0}, cyan[3] = {0, 200, 255};
    for (int cy = 0; cy < S; cy++)
        for (int cx = 0; cx < S; cx++) {
            int l = LAB_AT(cx, cy);
            if (l <= 0) continue;
            int nb[4] = {LAB_AT(cx - 1, cy), LAB_AT(cx + 1, cy), LAB_AT(cx, cy - 1), LAB_AT(cx, cy + 1)};
            for (int i = 0; i < 4; i++)
                if (nb[i] >= 0 && nb[i] != l) {
                    sheet_put(s, X0 + cx, Y0 + cy, yellow);
                    break;
                }
        }
#undef LAB_AT
    int b0 = (int)((long)off * S / T), b1 = (int)((long)(off + out) * S / T) - 1;
    if (b1 < b0) b1 = b0;
    for (int i = b0; i <= b1; i++) {
        sheet_put(s, X0 + i, Y0 + b0, cyan);
        sheet_put(s, X0 + i, Y0 + b1, cyan);
        sheet_put(s, X0 + b0, Y0 + i, cyan);
        sheet_put(s, X0 + b1, Y0 + i, cyan);
    }
}

/* ---- the command ---------------------------------------------------------- */

typedef struct run {
    unet_config cfg;
    FILE *log;
    unet_augment_options ao;
    unet_weightmap_options wo;
    int tile, out, count;
    const char *dir;
    entries images, labels;
    unet_context *ctx;
    sheet sh;
    int use_sheet;
    unsigned char *written; /* [count][3]: files of this run, removed if it fails */
} run;

static const char *const AUG_KINDS[3] = {"image", "labels", "weights"};

/* A run that fails leaves no sample behind (issue 12: a bad label of the
 * second image left the first image's samples). */
static void remove_written(const run *r)
{
    for (int i = 0; r->written && i < r->count; i++)
        for (int k = 0; k < 3; k++)
            if (r->written[3 * i + k]) {
                char path[UNET_CONFIG_STR + 64];
                snprintf(path, sizeof path, "%s/aug_%03d_%s.png", r->dir, i, AUG_KINDS[k]);
                unlink(path);
            }
}

/* Class pixel counts over all training labels (balance_from = dataset). */
static unet_status count_dataset(run *r)
{
    unet_weightmap_options oc = r->wo;
    oc.balance = UNET_WM_BALANCE_IMAGE;
    r->wo.class_counts[0] = r->wo.class_counts[1] = 0.0;
    for (int i = 0; i < r->labels.n; i++) {
        int32_t *ids = NULL;
        int w = 0, h = 0;
        UNET_TRY(read_labels(&r->cfg, &r->labels.e[i], &ids, &w, &h));
        unet_status st = unet_weightmap_count_classes(ids, w, h, &oc, r->wo.class_counts);
        free(ids);
        UNET_TRY(st);
    }
    return UNET_OK;
}

/* All samples of training image idx: i = idx, idx + n, idx + 2n, ... */
static unet_status do_image(run *r, int idx)
{
    char name[UNET_CONFIG_STR + 32], lname[UNET_CONFIG_STR + 32];
    entry_name(&r->images.e[idx], name, sizeof name);
    entry_name(&r->labels.e[idx], lname, sizeof lname);
    unet_image im = {0};
    int32_t *ids = NULL, *cls = NULL, *dlab = NULL;
    float *wt = NULL, *dimg = NULL, *dwt = NULL;
    int lw = 0, lh = 0;
    unet_status st = read_image(&r->images.e[idx], &im);
    if (st != UNET_OK) goto done;
    if (im.c != r->cfg.model.in_channels) {
        st = unet_seterr(UNET_ERR_FORMAT, "%s has %d channel(s) but [model] in_channels = %d", name, im.c,
                         r->cfg.model.in_channels);
        goto done;
    }
    st = read_labels(&r->cfg, &r->labels.e[idx], &ids, &lw, &lh);
    if (st != UNET_OK) goto done;
    if (lw != im.w || lh != im.h) {
        st = unet_seterr(UNET_ERR_DATA, "%s is %d x %d but its labels %s are %d x %d", name, im.w, im.h, lname,
                         lw, lh);
        goto done;
    }
    size_t n = (size_t)im.w * im.h, oo = (size_t)r->out * r->out, tt = (size_t)r->tile * r->tile;
    cls = malloc(sizeof *cls * n);
    wt = malloc(sizeof *wt * n);
    dimg = malloc(sizeof *dimg * tt * (size_t)im.c);
    dlab = malloc(sizeof *dlab * oo);
    dwt = malloc(sizeof *dwt * oo);
    if (!cls || !wt || !dimg || !dlab || !dwt) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory for %s", name);
        goto done;
    }
    if (r->cfg.data.label_type == UNET_LABEL_CLASSES) {
        memcpy(cls, ids, sizeof *cls * n);
        for (size_t i = 0; i < n; i++) wt[i] = 1.0f; /* the weight map needs instances */
    } else {
        st = unet_weightmap_compute(ids, im.w, im.h, &r->wo, cls, wt);
        if (st != UNET_OK) {
            st = unet_errctx(st, "%s", lname);
            goto done;
        }
    }
    double maxw = 0;
    for (size_t i = 0; i < n; i++) maxw = wt[i] > maxw ? wt[i] : maxw;
    double lscale = 255.0 / (r->cfg.model.classes - 1), wscale = maxw > 0 ? 255.0 / maxw : 0.0;
    int wc = im.c == 3 ? 3 : 1; /* other channel counts: the first channel is written */
    int nimg = r->images.n;
    for (int i = idx; i < r->count; i += nimg) {
        unet_augment_params p;
        st = unet_augment_host(r->ctx, &r->ao, r->cfg.train.seed, (uint64_t)i, 0, im.data, im.c, im.h, im.w, cls,
                               wt, r->tile, r->out, dimg, dlab, dwt, &p);
        if (st != UNET_OK) goto done;
        char path[UNET_CONFIG_STR + 64];
        float *fl = malloc(sizeof *fl * oo);
        if (!fl) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory");
            goto done;
        }
        for (size_t j = 0; j < oo; j++) fl[j] = (float)dlab[j];
        const float *planes[3] = {dimg, fl, dwt};
        for (int k = 0; k < 3 && st == UNET_OK; k++) {
            snprintf(path, sizeof path, "%s/aug_%03d_%s.png", r->dir, i, AUG_KINDS[k]);
            st = k == 0 ? write_png8(path, planes[k], wc, r->tile, r->tile, 255.0)
                        : write_png8(path, planes[k], 1, r->out, r->out, k == 1 ? lscale : wscale);
            if (st == UNET_OK) r->written[3 * i + k] = 1;
        }
        free(fl);
        if (st != UNET_OK) goto done;
        if (r->use_sheet) sheet_cell(&r->sh, i, dimg, im.c, r->tile, dlab, r->out);
        if (r->log) fprintf(r->log, "aug_%03d  %s  centre (%.1f, %.1f)  angle %6.1f  flip %d%d  elastic %s  gray %s", i, name,
               p.cx - (r->tile - 1) / 2.0 + r->tile / 2, p.cy - (r->tile - 1) / 2.0 + r->tile / 2, p.angle,
               p.flip_x, p.flip_y, p.grid ? "on" : "off", p.gray ? "on" : "off");
        if (p.gray)
            if (r->log) fprintf(r->log, " (gamma %.3f, contrast %.3f, brightness %+.3f, noise %.3f)", p.gamma, p.contrast, p.brightness,
                   p.noise_std);
        if (r->log) fputc('\n', r->log);
    }
done:
    unet_image_free(&im);
    free(ids);
    free(cls);
    free(wt);
    free(dimg);
    free(dlab);
    free(dwt);
    return st;
}

unet_status unet_augment_preview(const unet_config *cfg, const unet_augment_preview_options *o)
{
    if (!cfg || !o || !o->output_dir || o->count < 1 || o->count > 100000)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_augment_preview: a configuration, an output folder and a count 1..100000 are needed");
    run r;
    memset(&r, 0, sizeof r);
    r.cfg = *cfg;
    r.log = o->log;
    r.dir = o->output_dir;
    int count = o->count, cols = o->sheet_cols > 0 ? o->sheet_cols : 4, cell = o->sheet_cell;
    const char *sheet_path = o->sheet, *device = o->device;
    unet_model_config mc;
    unet_config_model(&r.cfg, &mc);
    r.tile = r.cfg.train.tile;
    UNET_TRY(unet_errctx(unet_tile_check(&mc, r.tile), "[train] tile = %d", r.tile));
    r.out = unet_tile_output(&mc, r.tile);
    r.count = count;
    unet_config_augment_options(&r.cfg, &r.ao);
    unet_config_weightmap_options(&r.cfg, &r.wo);
    UNET_TRY(unet_errctx(unet_augment_options_check(&r.ao), "[augment]"));

    unet_status st = entries_list(r.cfg.data.train_images, "train_images", &r.images);
    if (st == UNET_OK) st = entries_list(r.cfg.data.train_labels, "train_labels", &r.labels);
    if (st == UNET_OK && r.images.n != r.labels.n)
        st = unet_seterr(UNET_ERR_DATA,
                         "[data] train_images has %d image(s) but train_labels has %d: they must pair up in order",
                         r.images.n, r.labels.n);
    if (st == UNET_OK && r.wo.balance == UNET_WM_BALANCE_GIVEN && r.cfg.data.label_type != UNET_LABEL_CLASSES)
        st = count_dataset(&r);
    if (st == UNET_OK && sheet_path) {
        if (!cell) cell = r.tile < 256 ? r.tile : 256;
        st = sheet_init(&r.sh, count, cols, cell);
        r.use_sheet = st == UNET_OK;
    }
    if (st == UNET_OK && !(r.written = calloc((size_t)count * 3, 1)))
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    if (st == UNET_OK && unet_mkdir_p(r.dir) != 0)
        st = unet_seterr(UNET_ERR_IO, "cannot create the output folder %s: %s", r.dir, strerror(errno));
    if (st == UNET_OK) {
        unet_context_options co;
        unet_context_options_from_config(&r.cfg, device, &co);
        st = unet_context_create(&co, &r.ctx);
    }
    if (st == UNET_OK) {
        if (r.log) fprintf(r.log, "%d training image(s); tile %d -> output %d x %d (margin %d); seed %llu\n", r.images.n, r.tile,
               r.out, r.out, (r.tile - r.out) / 2, (unsigned long long)r.cfg.train.seed);
        for (int idx = 0; idx < r.images.n && idx < count && st == UNET_OK; idx++) st = do_image(&r, idx);
    }
    if (st == UNET_OK && r.use_sheet) {
        st = unet_png_write(sheet_path, &r.sh.im, 8);
        if (st == UNET_OK && r.log) fprintf(r.log, "wrote %s (%d x %d)\n", sheet_path, r.sh.im.w, r.sh.im.h);
    }
    if (st == UNET_OK && r.log) fprintf(r.log, "wrote %d sample(s) to %s\n", count, r.dir);
    if (st != UNET_OK) remove_written(&r);
    free(r.written);
    if (r.ctx) unet_context_destroy(r.ctx);
    unet_image_free(&r.sh.im);
    entries_free(&r.images);
    entries_free(&r.labels);
    return st;
}
