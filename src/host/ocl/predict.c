/* Overlap-tile prediction of whole images, streamed one row of tiles at a
 * time, with optional test-time augmentation (the 8 dihedral transforms). */
#include "net.h"
#include "tiling.h"

#include <stdlib.h>
#include <string.h>

/* Dihedral transform d (0..7) of an n x n plane: dst(y,x) = src(sy,sx) with
 * (a,b) = transpose ? (x,y) : (y,x), sy = flip_y ? n-1-a : a,
 * sx = flip_x ? n-1-b : b. d = 0 is the identity. Because the U-Net output
 * of a square tile is its centre, the same map with n = output size is the
 * matching transform of the output. */
static inline void dihedral_src(int d, int n, int y, int x, int *sy, int *sx)
{
    int a = (d & 4) ? x : y, b = (d & 4) ? y : x;
    *sy = (d & 2) ? n - 1 - a : a;
    *sx = (d & 1) ? n - 1 - b : b;
}

void unet_dihedral_apply(int d, const float *src, int c, int n, float *dst)
{
    for (int ch = 0; ch < c; ch++) {
        const float *s = src + (size_t)ch * n * n;
        float *o = dst + (size_t)ch * n * n;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                int sy, sx;
                dihedral_src(d, n, y, x, &sy, &sx);
                o[(size_t)y * n + x] = s[(size_t)sy * n + sx];
            }
    }
}

/* acc(sy,sx) += b(y,x): undoes transform d of b and adds it to acc. */
static void dihedral_inverse_add(int d, const float *b, int c, int n, float *acc)
{
    for (int ch = 0; ch < c; ch++) {
        const float *s = b + (size_t)ch * n * n;
        float *o = acc + (size_t)ch * n * n;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                int sy, sx;
                dihedral_src(d, n, y, x, &sy, &sx);
                o[(size_t)sy * n + sx] += s[(size_t)y * n + x];
            }
    }
}

/* Fills the input tile whose top-left corner is (y0, x0) in image
 * coordinates (outside: mirrored). */
typedef unet_status (*tile_fn)(void *u, int y0, int x0, float *tile);

typedef struct whole_input {
    const float *image;
    int c, h, w, th, tw;
} whole_input;

static unet_status whole_tile(void *u, int y0, int x0, float *tile)
{
    const whole_input *wi = u;
    unet_extract_tile_mirror(wi->image, wi->c, wi->h, wi->w, y0, x0, wi->th, wi->tw, tile);
    return UNET_OK;
}

static unet_status predict_rows(unet_net *n, int h, int w, unsigned flags, tile_fn get_tile, void *tile_user,
                                unet_rows_fn rows_fn, void *rows_user, unet_progress_fn progress, void *user);

unet_status unet_predict_image_rows(unet_net *n, const float *image, int h, int w, unsigned flags,
                                    unet_rows_fn rows_fn, void *rows_user, unet_progress_fn progress, void *user)
{
    if (!n || !image || !rows_fn)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_predict_image_rows: NULL argument");
    whole_input wi = {image, n->m->cfg.in_channels, h, w, n->info.in_h, n->info.in_w};
    return predict_rows(n, h, w, flags, whole_tile, &wi, rows_fn, rows_user, progress, user);
}

/* ---- the input streamed too ------------------------------------------------------ */

/* The rows of a row of tiles: [lo, hi] spans the mirrored rows of the tiles'
 * input window. */
static void window_rows(int y0, int th, int h, int *lo, int *hi)
{
    *lo = h;
    *hi = -1;
    for (int y = y0; y < y0 + th; y++) {
        int m = unet_mirror(y, h);
        if (m < *lo) *lo = m;
        if (m > *hi) *hi = m;
    }
}

/* Input rows are read (and staged) at most this many at a time. */
#define STAGE_ROWS 64

typedef struct stream_input {
    unet_input_rows_fn input;
    void *user;
    int c, h, w, th, tw, margin, stride, count;
    int *keep;      /* per row of tiles: the lowest row still needed from it on */
    int cur;        /* row of tiles the window holds (-1: none yet) */
    int blo, bhi;   /* rows [blo, bhi) are in buf at [ch][row - blo][x] */
    int cap;        /* rows buf can hold */
    float *buf;
} stream_input;

static unet_status stream_tile(void *u, int y0, int x0, float *tile)
{
    stream_input *si = u;
    int k = (y0 + si->margin) / si->stride; /* the row of tiles */
    if (k != si->cur) {
        int lo, hi;
        window_rows(y0, si->th, si->h, &lo, &hi);
        int keep = si->keep[k];
        /* drop rows no later row of tiles needs, read the new ones in order */
        if (keep > si->blo) {
            int d = (keep < si->bhi ? keep : si->bhi) - si->blo, nrow = si->bhi - si->blo - d;
            for (int ch = 0; ch < si->c && nrow > 0; ch++) {
                float *b = si->buf + (size_t)ch * si->cap * si->w;
                memmove(b, b + (size_t)d * si->w, (size_t)nrow * si->w * sizeof *b);
            }
            si->blo += d;
            if (si->bhi < si->blo) si->bhi = si->blo;
        }
        if (hi + 1 > si->bhi) {
            if (hi + 1 - si->blo > si->cap) return unet_seterr(UNET_ERR_INTERNAL, "streamed prediction: window overflow");
            float *tmp = si->buf + (size_t)si->c * si->cap * si->w; /* staging: [c][nrow][w], nrow <= STAGE_ROWS */
            for (int y = si->bhi; y <= hi; y += STAGE_ROWS) {
                int nrow = hi + 1 - y < STAGE_ROWS ? hi + 1 - y : STAGE_ROWS;
                UNET_TRY(si->input(tmp, y, nrow, si->w, si->user));
                for (int ch = 0; ch < si->c; ch++)
                    memcpy(si->buf + ((size_t)ch * si->cap + (size_t)(y - si->blo)) * si->w,
                           tmp + (size_t)ch * nrow * si->w, (size_t)nrow * si->w * sizeof *tmp);
            }
            si->bhi = hi + 1;
        }
        if (lo < si->blo) return unet_seterr(UNET_ERR_INTERNAL, "streamed prediction: row %d was dropped", lo);
        si->cur = k;
    }
    for (int ch = 0; ch < si->c; ch++) {
        const float *src = si->buf + (size_t)ch * si->cap * si->w;
        float *dst = tile + (size_t)ch * si->th * si->tw;
        for (int y = 0; y < si->th; y++) {
            const float *row = src + (size_t)(unet_mirror(y0 + y, si->h) - si->blo) * si->w;
            float *drow = dst + (size_t)y * si->tw;
            int x = 0, tw = si->tw, w = si->w;
            for (; x < tw && x0 + x < 0; x++) drow[x] = row[unet_mirror(x0 + x, w)];
            int in = (x0 + tw < w ? x0 + tw : w) - (x0 + x); /* columns inside the image */
            if (in > 0) {
                memcpy(drow + x, row + x0 + x, (size_t)in * sizeof *drow);
                x += in;
            }
            for (; x < tw; x++) drow[x] = row[unet_mirror(x0 + x, w)];
        }
    }
    return UNET_OK;
}

unet_status unet_predict_stream_window(const unet_net *n, int h, int w, int *rows)
{
    if (!n || !rows || h <= 0 || w <= 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_predict_stream_window: bad arguments");
    const unet_model_config *c = &n->m->cfg;
    unet_tile_grid gy;
    UNET_TRY(unet_tile_grid_make(h, n->info.in_h, n->info.out_h, 1 << (c->depth - 1), &gy));
    int best = 0, keep = h;
    /* from the last row of tiles up: the lowest row needed from row k on, and the window then */
    for (int k = gy.count - 1; k >= 0; k--) {
        int lo, hi;
        window_rows(unet_tile_origin(&gy, k) - gy.margin, gy.tile, h, &lo, &hi);
        if (lo < keep) keep = lo;
        if (hi + 1 - keep > best) best = hi + 1 - keep;
    }
    *rows = best;
    return UNET_OK;
}

unet_status unet_predict_stream(unet_net *n, int h, int w, unsigned flags, unet_input_rows_fn input, void *in_user,
                                unet_rows_fn rows_fn, void *rows_user, unet_progress_fn progress, void *user)
{
    if (!n || !input || !rows_fn) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_predict_stream: NULL argument");
    if (h <= 0 || w <= 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "image of size %dx%d", w, h);
    const unet_model_config *c = &n->m->cfg;
    unet_tile_grid gy;
    UNET_TRY(unet_tile_grid_make(h, n->info.in_h, n->info.out_h, 1 << (c->depth - 1), &gy));
    stream_input si = {input, in_user, c->in_channels, h, w, n->info.in_h, n->info.in_w, gy.margin, gy.stride,
                       gy.count, NULL, -1, 0, 0, 0, NULL};
    UNET_TRY(unet_predict_stream_window(n, h, w, &si.cap));
    si.keep = malloc((size_t)gy.count * sizeof *si.keep);
    /* the window, then STAGE_ROWS rows for staging the rows being read */
    si.buf = malloc((size_t)c->in_channels * (si.cap + STAGE_ROWS) * w * sizeof *si.buf);
    unet_status st;
    if (!si.keep || !si.buf)
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %d input rows of a %d-wide image", si.cap + STAGE_ROWS, w);
    else {
        int keep = h;
        for (int k = gy.count - 1; k >= 0; k--) {
            int lo, hi;
            window_rows(unet_tile_origin(&gy, k) - gy.margin, gy.tile, h, &lo, &hi);
            if (lo < keep) keep = lo;
            si.keep[k] = keep;
        }
        st = predict_rows(n, h, w, flags, stream_tile, &si, rows_fn, rows_user, progress, user);
    }
    free(si.keep);
    free(si.buf);
    return st;
}

static unet_status predict_rows(unet_net *n, int h, int w, unsigned flags, tile_fn get_tile, void *tile_user,
                                unet_rows_fn rows_fn, void *rows_user, unet_progress_fn progress, void *user)
{
    if (h <= 0 || w <= 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "image of size %dx%d", w, h);
    if (flags & ~(unsigned)UNET_PREDICT_TTA)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_predict_image_rows: unknown flags 0x%x", flags);
    const unet_model_config *c = &n->m->cfg;
    const unet_plan_info *pi = &n->info;
    int tta = (flags & UNET_PREDICT_TTA) != 0;
    if (tta && (pi->in_h != pi->in_w))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "test-time augmentation needs square tiles (rotations), but the net's tile is %dx%d",
                           pi->in_w, pi->in_h);
    int align = 1 << (c->depth - 1);
    unet_tile_grid gy, gx;
    UNET_TRY(unet_tile_grid_make(h, pi->in_h, pi->out_h, align, &gy));
    UNET_TRY(unet_tile_grid_make(w, pi->in_w, pi->out_w, align, &gx));
    size_t tin = (size_t)c->in_channels * pi->in_h * pi->in_w;
    size_t tout = (size_t)c->classes * pi->out_h * pi->out_w;
    size_t strip = (size_t)c->classes * gy.stride * w;
    float *tile = malloc(tin * sizeof *tile), *out = malloc(tout * sizeof *out);
    float *ttile = tta ? malloc(tin * sizeof *ttile) : NULL, *acc = tta ? malloc(tout * sizeof *acc) : NULL;
    float *rows = malloc(strip * sizeof *rows);
    unet_status st = UNET_OK;
    if (!tile || !out || !rows || (tta && (!ttile || !acc))) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY,
                         "out of host memory for a %dx%d tile and a %d-row strip of a %d-wide image", pi->in_w,
                         pi->in_h, gy.stride, w);
        goto done;
    }
    int total = gy.count * gx.count, done = 0;
    for (int ty = 0; ty < gy.count && st == UNET_OK; ty++) {
        int oy = unet_tile_origin(&gy, ty);
        int ny = (oy + gy.stride < h ? gy.stride : h - oy);
        for (int tx = 0; tx < gx.count && st == UNET_OK; tx++) {
            int ox = unet_tile_origin(&gx, tx);
            int nx = (ox + gx.stride < w ? gx.stride : w - ox);
            if ((st = get_tile(tile_user, oy - gy.margin, ox - gx.margin, tile)) != UNET_OK) break;
            const float *res = out;
            if (!tta) {
                st = unet_net_forward(n, tile, 0, 0, out, NULL);
            } else {
                memset(acc, 0, tout * sizeof *acc);
                for (int d = 0; d < 8 && st == UNET_OK; d++) {
                    unet_dihedral_apply(d, tile, c->in_channels, pi->in_h, ttile);
                    st = unet_net_forward(n, ttile, 0, 0, out, NULL);
                    if (st == UNET_OK) dihedral_inverse_add(d, out, c->classes, pi->out_h, acc);
                }
                for (size_t i = 0; i < tout; i++) acc[i] *= 0.125f;
                res = acc;
            }
            if (st != UNET_OK) break;
            for (int k = 0; k < c->classes; k++)
                for (int y = 0; y < ny; y++)
                    memcpy(rows + ((size_t)k * ny + y) * w + ox, res + ((size_t)k * pi->out_h + y) * pi->out_w,
                           (size_t)nx * sizeof *rows);
            done++;
            if (progress && progress(done, total, user)) st = unet_seterr(UNET_ERR_INTERRUPTED, "prediction stopped");
        }
        if (st == UNET_OK) st = rows_fn(rows, oy, ny, w, rows_user);
    }
done:
    free(tile);
    free(out);
    free(ttile);
    free(acc);
    free(rows);
    return st;
}

unet_status unet_rows_into_image(const float *rows, int y0, int nrows, int w, void *user)
{
    unet_whole_rows *wi = user;
    for (int k = 0; k < wi->classes; k++)
        memcpy(wi->probs + ((size_t)k * wi->h + y0) * w, rows + (size_t)k * nrows * w,
               (size_t)nrows * w * sizeof *rows);
    return UNET_OK;
}

unet_status unet_predict_image_ex(unet_net *n, const float *image, int h, int w, unsigned flags, float *probs,
                                  unet_progress_fn progress, void *user)
{
    if (!n || !image || !probs) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_predict_image: NULL argument");
    unet_whole_rows wi = {probs, h, n->m->cfg.classes};
    return unet_predict_image_rows(n, image, h, w, flags, unet_rows_into_image, &wi, progress, user);
}

unet_status unet_predict_image(unet_net *n, const float *image, int h, int w, float *probs,
                               unet_progress_fn progress, void *user)
{
    return unet_predict_image_ex(n, image, h, w, 0, probs, progress, user);
}

unet_status unet_choose_tile(const unet_model *m, int h, int w, int limit, int *tile)
{
    if (!m || !tile || h <= 0 || w <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_choose_tile: bad arguments");
    const unet_model_config *c = &m->cfg;
    int align = 1 << (c->depth - 1);
    int n = h > w ? h : w;
    int need = (n + align - 1) / align * align; /* stride = out rounded down to align */
    int cap = unet_tile_for_output(c, need);
    if (limit <= 0) limit = 4096;
    if (cap <= 0 || cap > limit) cap = unet_tile_valid_below(c, limit);
    if (cap <= 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "no valid tile size <= %d for this model", limit);
    /* valid tiles in decreasing order; fitting is monotone in the size, so
     * binary search for the first (largest) one that fits */
    int nt = 0, *tiles = malloc(sizeof *tiles * (size_t)(cap + 1));
    if (!tiles) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_choose_tile: out of memory");
    for (int t = cap; t > 0; t = unet_tile_valid_below(c, t - 1))
        if (unet_tile_output(c, t) >= align) tiles[nt++] = t;
    int lo = 0, hi = nt; /* tiles[hi..] fit (hi == nt: none known) */
    unet_status st = UNET_OK;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        unet_plan_info info;
        st = unet_plan(m, tiles[mid], tiles[mid], 0, &info);
        if (st == UNET_OK) hi = mid;
        else if (st == UNET_ERR_DOES_NOT_FIT) lo = mid + 1;
        else break;
    }
    int best = hi < nt ? tiles[hi] : 0;
    free(tiles);
    if (st != UNET_OK && st != UNET_ERR_DOES_NOT_FIT) return st;
    if (best) {
        unet_clear_error();
        *tile = best;
        return UNET_OK;
    }
    return unet_seterr(UNET_ERR_DOES_NOT_FIT,
                       "no valid tile of a depth-%d, %d-channel U-Net fits on this device: use a smaller model or "
                       "another device",
                       c->depth, c->base_channels);
}
