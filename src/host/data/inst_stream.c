/* Streamed instances (instances.h, "streamed instances"; docs/scale.md,
 * "Instances"): the ids of unet_instances_from_probs from rows given top to
 * bottom, holding a window of rows.
 *
 * Why the result is the same, bit for bit:
 *  - every step acts within one connected component of the cell mask
 *    (fg > fg_threshold, `connectivity`): seeds are components of a subset
 *    of it with the same connectivity; the watershed floods only cell pixels
 *    from their neighbours; unseeded regions are components of cell pixels;
 *    min_size merges an object into one it shares 4-neighbour pairs with
 *    (4-adjacent cell pixels are in one component) or drops it;
 *  - the watershed's queue orders entries by (cost, age), age = the order of
 *    insertion: the entries of one component are inserted in the same
 *    relative order (raster order first, then as its own pixels are popped)
 *    whatever else is in the queue, so each component floods the same way
 *    alone as in the whole image;
 *  - objects are numbered within a component in the same relative order
 *    (seeds in raster order, then unseeded regions in raster order), which
 *    is all that min_size's tie-breaks (size, then id; most pairs, then the
 *    lower id) look at;
 *  - a hole (a 4-connected background region off the image border whose
 *    4-neighbours all belong to one object A) lies strictly within A's rows
 *    and every component inside it lies within those rows too, so it is
 *    complete when A is: segmenting a batch of complete components on the
 *    rows they span, with the objects finished earlier present (as one
 *    other id) and unfinished cell pixels as background, finds exactly the
 *    holes of the batch's objects;
 *  - the final ids are numbered by first appearance in raster order over the
 *    final image, as unet_instances_relabel does, row by row as rows become
 *    final (no later component can change a row above the top of every
 *    component still growing).
 */
#include "error.h"
#include "instances.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct unet_inst_stream {
    int w, h, max_rows, ws;
    unet_instance_options o;
    unet_inst_rows_fn fn;
    void *user;
    /* window: image rows [base, cur); lab: -1 = cell pixel not yet
     * segmented, 0 = background, > 0 = key of a finished object */
    int base, cur, u0, last_round, cap_rows, peak_rows;
    float *fg, *in;
    int32_t *lab;
    /* scratch of a round, grown as needed */
    uint8_t *mask, *done;
    int32_t *cc, *raw, *fill, *rawkey;
    int *ymin, *ymax;
    size_t scratch_px, ncomp_cap, rawkey_cap;
    /* keys -> final ids: final_of[key - key_lo] for keys key_lo .. key_hi - 1 */
    int32_t key_lo, key_hi, *final_of;
    size_t map_cap, map_compact_at;
    int next_id, failed;
};

size_t unet_inst_stream_row_bytes(const unet_instance_options *o)
{
    /* window: fg, ids (+ interior); scratch: mask, components and their
     * stack, raw ids, hole image and its labelling (+ seeds, cost, seed mask
     * and the queue of the watershed, 16 bytes an entry, doubled) */
    return o && o->method == UNET_INSTANCES_WATERSHED ? 12 + 84 : 8 + 40;
}

int unet_inst_stream_peak_rows(const unet_inst_stream *s) { return s ? s->peak_rows : 0; }
int unet_inst_stream_count(const unet_inst_stream *s) { return s ? s->next_id : 0; }

void unet_inst_stream_destroy(unet_inst_stream *s)
{
    if (!s) return;
    free(s->fg), free(s->in), free(s->lab), free(s->mask), free(s->done), free(s->cc), free(s->raw);
    free(s->fill), free(s->rawkey), free(s->ymin), free(s->ymax), free(s->final_of);
    free(s);
}

unet_status unet_inst_stream_create(int w, int h, const unet_instance_options *o, int max_rows, unet_inst_rows_fn rows,
                                    void *user, unet_inst_stream **out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_inst_stream_create: NULL argument");
    *out = NULL;
    if (!o || !rows) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_inst_stream_create: NULL argument");
    if (w <= 0 || h <= 0 || (int64_t)w * h > INT_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_inst_stream_create: image size %dx%d is out of range", w, h);
    if (o->connectivity != 4 && o->connectivity != 8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "connectivity %d: use 4 or 8", o->connectivity);
    if (max_rows < 1)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_inst_stream_create: max_rows = %d (must be >= 1)", max_rows);
    unet_inst_stream *s = calloc(1, sizeof *s);
    if (!s) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for streamed instances");
    s->w = w;
    s->h = h;
    s->o = *o;
    s->ws = o->method == UNET_INSTANCES_WATERSHED;
    s->max_rows = max_rows;
    s->fn = rows;
    s->user = user;
    s->key_lo = s->key_hi = 1;
    s->map_compact_at = 4096;
    *out = s;
    return UNET_OK;
}

static unet_status fail(unet_inst_stream *s, unet_status st)
{
    s->failed = 1;
    return st;
}

static unet_status oom(unet_inst_stream *s)
{
    return fail(s, unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the streamed instances of a %dx%d image",
                               s->w, s->h));
}

/* Window room for `rows` image rows. */
static int grow_window(unet_inst_stream *s, int rows)
{
    if (rows <= s->cap_rows) return 0;
    int cap = s->cap_rows ? s->cap_rows : 64;
    while (cap < rows) cap *= 2;
    int lim = s->max_rows + 1 < s->h ? s->max_rows + 1 : s->h;
    if (cap > lim) cap = lim;
    if (cap < rows) cap = rows;
    size_t n = (size_t)cap * s->w;
    float *fg = realloc(s->fg, n * sizeof *fg);
    if (!fg) return -1;
    s->fg = fg;
    if (s->ws) {
        float *in = realloc(s->in, n * sizeof *in);
        if (!in) return -1;
        s->in = in;
    }
    int32_t *lab = realloc(s->lab, n * sizeof *lab);
    if (!lab) return -1;
    s->lab = lab;
    s->cap_rows = cap;
    return 0;
}

static int grow_scratch(unet_inst_stream *s, size_t np)
{
    if (np <= s->scratch_px) return 0;
    free(s->mask), free(s->cc), free(s->raw), free(s->fill);
    s->mask = malloc(np);
    s->cc = malloc(np * sizeof *s->cc);
    s->raw = malloc(np * sizeof *s->raw);
    s->fill = s->o.fill_holes ? malloc(np * sizeof *s->fill) : NULL;
    s->scratch_px = 0;
    if (!s->mask || !s->cc || !s->raw || (s->o.fill_holes && !s->fill)) return -1;
    s->scratch_px = np;
    return 0;
}

/* A new key, its final id not yet known. */
static int new_key(unet_inst_stream *s, int32_t *key)
{
    if (s->key_hi == INT32_MAX) return -1;
    size_t need = (size_t)(s->key_hi - s->key_lo) + 1;
    if (need > s->map_cap) {
        size_t cap = s->map_cap ? s->map_cap * 2 : 1024;
        int32_t *m = realloc(s->final_of, cap * sizeof *m);
        if (!m) return -2;
        s->final_of = m;
        s->map_cap = cap;
    }
    s->final_of[s->key_hi - s->key_lo] = 0;
    *key = s->key_hi++;
    return 0;
}

/* Segments the complete components (done[cc]) of the unsegmented pixels,
 * on image rows y0 .. y0+sh-1; cc holds the component of each pixel of the
 * rows from s->u0. */
static unet_status segment(unet_inst_stream *s, int y0, int sh)
{
    int w = s->w;
    size_t np = (size_t)sh * w, off = (size_t)(y0 - s->base) * w;
    const int32_t *cc = s->cc + (size_t)(y0 - s->u0) * w;
    int32_t *lab = s->lab + off;
    uint8_t *cell = s->mask; /* the mask of the labelling is no longer needed */
    for (size_t i = 0; i < np; i++) cell[i] = cc[i] && s->done[cc[i]];
    unet_status st = unet_instances_objects(cell, s->fg + off, s->ws ? s->in + off : NULL, w, sh, &s->o, s->raw);
    if (st != UNET_OK) return fail(s, st);
    int32_t m = 0;
    for (size_t i = 0; i < np; i++)
        if (s->raw[i] > m) m = s->raw[i];
    const int32_t *ids = s->raw;
    if (s->o.fill_holes) {
        if (m == INT32_MAX) return fail(s, unet_seterr(UNET_ERR_DATA, "more than %d objects", INT32_MAX - 1));
        /* objects finished earlier are one other id: the holes of this
         * batch's objects are what matters, and a region next to both is
         * not one */
        for (size_t i = 0; i < np; i++) s->fill[i] = s->raw[i] ? s->raw[i] : (lab[i] > 0 ? m + 1 : 0);
        if ((st = unet_instances_fill_holes(s->fill, w, sh)) != UNET_OK) return fail(s, st);
        ids = s->fill;
    }
    if ((size_t)m + 1 > s->rawkey_cap) {
        free(s->rawkey);
        s->rawkey = malloc(((size_t)m + 1) * sizeof *s->rawkey);
        s->rawkey_cap = s->rawkey ? (size_t)m + 1 : 0;
        if (!s->rawkey) return oom(s);
    }
    memset(s->rawkey, 0, ((size_t)m + 1) * sizeof *s->rawkey);
    for (size_t i = 0; i < np; i++) {
        int32_t v = ids[i];
        if (v >= 1 && v <= m) {
            if (!cell[i] && lab[i] != 0)
                return fail(s, unet_seterr(UNET_ERR_INTERNAL, "streamed instances: a hole covers a labelled pixel"));
            if (!s->rawkey[v]) {
                int r = new_key(s, &s->rawkey[v]);
                if (r == -2) return oom(s);
                if (r) return fail(s, unet_seterr(UNET_ERR_DATA, "more than %d objects", INT32_MAX - 2));
            }
            lab[i] = s->rawkey[v];
        } else if (cell[i])
            lab[i] = 0; /* dropped by min_size */
    }
    return UNET_OK;
}

/* Rows base .. upto-1 are final: numbered and handed over, and the window
 * moves down. */
static unet_status emit(unet_inst_stream *s, int upto)
{
    if (upto <= s->base) return UNET_OK;
    int w = s->w, rows = upto - s->base;
    size_t n = (size_t)rows * w;
    for (size_t i = 0; i < n; i++) {
        int32_t v = s->lab[i];
        if (v <= 0) continue;
        int32_t *f = &s->final_of[v - s->key_lo];
        if (!*f) {
            if (s->next_id == INT32_MAX - 1)
                return fail(s, unet_seterr(UNET_ERR_DATA, "more than %d objects", INT32_MAX - 1));
            *f = ++s->next_id;
        }
        s->lab[i] = *f;
    }
    unet_status st = s->fn(s->lab, s->base, rows, w, s->user);
    if (st != UNET_OK) return fail(s, st);
    size_t keep = (size_t)(s->cur - upto) * w;
    memmove(s->fg, s->fg + n, keep * sizeof *s->fg);
    if (s->ws) memmove(s->in, s->in + n, keep * sizeof *s->in);
    memmove(s->lab, s->lab + n, keep * sizeof *s->lab);
    s->base = upto;
    /* forget the keys no longer in the window */
    if ((size_t)(s->key_hi - s->key_lo) > s->map_compact_at) {
        int32_t lo = s->key_hi;
        for (size_t i = 0; i < keep; i++)
            if (s->lab[i] > 0 && s->lab[i] < lo) lo = s->lab[i];
        memmove(s->final_of, s->final_of + (lo - s->key_lo), (size_t)(s->key_hi - lo) * sizeof *s->final_of);
        s->key_lo = lo;
        size_t live = (size_t)(s->key_hi - s->key_lo);
        s->map_compact_at = live * 2 > 4096 ? live * 2 : 4096;
    }
    return UNET_OK;
}

/* Segments the components of unsegmented pixels that no longer touch the
 * last row received (all of them when final) and hands over the rows that
 * are final. */
static unet_status round_(unet_inst_stream *s, int final)
{
    s->last_round = s->cur;
    int w = s->w;
    if (s->u0 < s->cur) {
        int n = s->cur - s->u0;
        size_t np = (size_t)n * w;
        if (grow_scratch(s, np)) return oom(s);
        const int32_t *lab = s->lab + (size_t)(s->u0 - s->base) * w;
        for (size_t i = 0; i < np; i++) s->mask[i] = lab[i] < 0;
        int nc = 0;
        unet_status st = unet_label_components(s->mask, w, n, s->o.connectivity, s->cc, &nc);
        if (st != UNET_OK) return fail(s, st);
        if ((size_t)nc + 1 > s->ncomp_cap) {
            free(s->ymin), free(s->ymax), free(s->done);
            s->ymin = malloc(((size_t)nc + 1) * sizeof *s->ymin);
            s->ymax = malloc(((size_t)nc + 1) * sizeof *s->ymax);
            s->done = malloc((size_t)nc + 1);
            s->ncomp_cap = s->ymin && s->ymax && s->done ? (size_t)nc + 1 : 0;
            if (!s->ncomp_cap) return oom(s);
        }
        for (int k = 0; k <= nc; k++) s->ymin[k] = INT_MAX, s->ymax[k] = -1;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < w; x++) {
                int32_t c = s->cc[(size_t)y * w + x];
                if (!c) continue;
                if (y < s->ymin[c]) s->ymin[c] = y;
                s->ymax[c] = y;
            }
        int sy0 = INT_MAX, sy1 = -1, next_u0 = n;
        s->done[0] = 0;
        for (int k = 1; k <= nc; k++) {
            s->done[k] = final || s->ymax[k] < n - 1;
            if (s->done[k]) {
                if (s->ymin[k] < sy0) sy0 = s->ymin[k];
                if (s->ymax[k] > sy1) sy1 = s->ymax[k];
            } else if (s->ymin[k] < next_u0)
                next_u0 = s->ymin[k];
        }
        if (sy1 >= 0) UNET_TRY(segment(s, s->u0 + sy0, sy1 - sy0 + 1));
        s->u0 += next_u0;
    }
    return emit(s, s->u0);
}

unet_status unet_inst_stream_push(unet_inst_stream *s, const float *fg, const float *interior, int rows)
{
    if (!s || !fg || (s->ws && !interior) || rows < 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_inst_stream_push: bad arguments");
    if (s->failed) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "streamed instances: an earlier call failed");
    if (rows > s->h - s->cur)
        return fail(s, unet_seterr(UNET_ERR_INVALID_ARGUMENT, "streamed instances: %d rows after %d of %d", rows, s->cur,
                                   s->h));
    int w = s->w;
    for (int r = 0; r < rows; r++) {
        if (s->cur - s->base > s->max_rows) {
            UNET_TRY(round_(s, 0));
            if (s->cur - s->base > s->max_rows) {
                int x = 0;
                const int32_t *l = s->lab + (size_t)(s->u0 - s->base) * w;
                while (x < w - 1 && l[x] >= 0) x++;
                return fail(s, unet_seterr(UNET_ERR_DATA,
                                           "instances: a connected region of cell pixels spans rows %d..%d (from x "
                                           "%d; %d rows, not yet complete), more than the %d rows the streamed "
                                           "labelling may hold: "
                                           "allow it more rows (e.g. raise [infer] stream_megapixels) or separate the "
                                           "cells (a model or fg_threshold that leaves background between them)",
                                           s->u0, s->cur - 1, x, s->cur - s->u0, s->max_rows));
            }
        }
        int held = s->cur - s->base + 1;
        if (grow_window(s, held)) return oom(s);
        size_t o = (size_t)(s->cur - s->base) * w;
        const float *f = fg + (size_t)r * w;
        memcpy(s->fg + o, f, (size_t)w * sizeof *f);
        if (s->ws) {
            const float *it = interior + (size_t)r * w;
            for (int x = 0; x < w; x++)
                if (isnan(it[x]))
                    return fail(s, unet_seterr(UNET_ERR_DATA, "watershed: cost is NaN at pixel %zu",
                                               (size_t)s->cur * w + x));
            memcpy(s->in + o, it, (size_t)w * sizeof *it);
        }
        /* the comparison of unet_instances_from_probs (fg > a double) */
        for (int x = 0; x < w; x++) s->lab[o + x] = f[x] > s->o.fg_threshold ? -1 : 0;
        s->cur++;
        if (held > s->peak_rows) s->peak_rows = held;
    }
    /* a round when the rows since the last one are at least half of the
     * unsegmented rows: each pixel is labelled a bounded number of times */
    int since = s->cur - s->last_round, pending = s->cur - s->u0;
    if (s->cur < s->h && since > 0 && since * 2 >= pending) UNET_TRY(round_(s, 0));
    return UNET_OK;
}

unet_status unet_inst_stream_finish(unet_inst_stream *s, int *count)
{
    if (!s) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_inst_stream_finish: NULL argument");
    if (s->failed) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "streamed instances: an earlier call failed");
    if (s->cur != s->h)
        return fail(s, unet_seterr(UNET_ERR_INVALID_ARGUMENT, "streamed instances: finished after %d of %d rows",
                                   s->cur, s->h));
    UNET_TRY(round_(s, 1));
    if (count) *count = s->next_id;
    return UNET_OK;
}
