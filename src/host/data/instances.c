/* Instances from class probabilities (instances.h, docs/inference.md). */
#include "instances.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void unet_instance_options_default(unet_instance_options *o)
{
    memset(o, 0, sizeof *o);
    o->method = UNET_INSTANCES_COMPONENTS;
    o->connectivity = 8;
    o->fg_threshold = 0.5;
    o->seed_threshold = 0.5;
}

void unet_instance_options_from_config(const unet_config *cfg, unet_instance_options *o)
{
    unet_instance_options_default(o);
    o->method = cfg->infer.instances;
    o->connectivity = cfg->infer.connectivity;
    o->fg_threshold = cfg->infer.fg_threshold;
    o->seed_threshold = cfg->infer.seed_threshold;
    o->min_seed = cfg->infer.min_seed;
    o->min_size = cfg->infer.min_size;
    o->fill_holes = cfg->infer.fill_holes;
}

static unet_status check_args(const void *a, const void *b, int w, int h, const char *fn)
{
    if (!a || !b) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: NULL argument", fn);
    if (w <= 0 || h <= 0 || (int64_t)w * h > INT_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: image size %dx%d is out of range", fn, w, h);
    return UNET_OK;
}

static const int DX[8] = {-1, 1, 0, 0, -1, 1, -1, 1};
static const int DY[8] = {0, 0, -1, 1, -1, -1, 1, 1};

unet_status unet_label_components(const uint8_t *mask, int w, int h, int connectivity, int32_t *out, int *n)
{
    UNET_TRY(check_args(mask, out, w, h, "unet_label_components"));
    if (connectivity != 4 && connectivity != 8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "connectivity %d: use 4 or 8", connectivity);
    size_t np = (size_t)w * h;
    int32_t *stack = malloc(np * sizeof *stack);
    if (!stack) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %dx%d components", w, h);
    memset(out, 0, np * sizeof *out);
    int next = 0;
    for (size_t i = 0; i < np; i++) {
        if (!mask[i] || out[i]) continue;
        if (next == INT32_MAX) {
            free(stack);
            return unet_seterr(UNET_ERR_DATA, "more than %d objects", INT32_MAX - 1);
        }
        int id = ++next;
        size_t sp = 0;
        out[i] = id;
        stack[sp++] = (int32_t)i;
        while (sp) {
            int32_t p = stack[--sp];
            int x = p % w, y = p / w;
            for (int k = 0; k < connectivity; k++) {
                int xx = x + DX[k], yy = y + DY[k];
                if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                size_t q = (size_t)yy * w + xx;
                if (mask[q] && !out[q]) {
                    out[q] = id;
                    stack[sp++] = (int32_t)q;
                }
            }
        }
    }
    free(stack);
    if (n) *n = next;
    return UNET_OK;
}

/* ---- priority queue: (cost, age) min-heap ----------------------------------- */

typedef struct hnode {
    float cost;
    int32_t index;
    uint64_t age;
} hnode;

typedef struct heap {
    hnode *v;
    size_t n, cap;
} heap;

static int hless(const hnode *a, const hnode *b)
{
    return a->cost < b->cost || (a->cost == b->cost && a->age < b->age);
}

static int heap_push(heap *hp, hnode e)
{
    if (hp->n == hp->cap) {
        size_t cap = hp->cap ? hp->cap * 2 : 1024;
        hnode *v = realloc(hp->v, cap * sizeof *v);
        if (!v) return -1;
        hp->v = v;
        hp->cap = cap;
    }
    size_t i = hp->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&e, &hp->v[p])) break;
        hp->v[i] = hp->v[p];
        i = p;
    }
    hp->v[i] = e;
    return 0;
}

static hnode heap_pop(heap *hp)
{
    hnode top = hp->v[0], last = hp->v[--hp->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= hp->n) break;
        if (c + 1 < hp->n && hless(&hp->v[c + 1], &hp->v[c])) c++;
        if (!hless(&hp->v[c], &last)) break;
        hp->v[i] = hp->v[c];
        i = c;
    }
    if (hp->n) hp->v[i] = last;
    return top;
}

unet_status unet_watershed(const float *cost, const int32_t *markers, const uint8_t *mask, int w, int h,
                           int connectivity, int32_t *out)
{
    UNET_TRY(check_args(cost, markers, w, h, "unet_watershed"));
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_watershed: NULL argument");
    if (connectivity != 4 && connectivity != 8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "connectivity %d: use 4 or 8", connectivity);
    size_t np = (size_t)w * h;
    for (size_t i = 0; i < np; i++)
        if (isnan(cost[i])) return unet_seterr(UNET_ERR_DATA, "watershed: cost is NaN at pixel %zu", i);
    heap hp = {0};
    uint64_t age = 0;
    for (size_t i = 0; i < np; i++) {
        int32_t m = markers[i] > 0 && (!mask || mask[i]) ? markers[i] : 0;
        out[i] = m;
        if (m && heap_push(&hp, (hnode){cost[i], (int32_t)i, age++}) != 0) goto oom;
    }
    while (hp.n) {
        hnode e = heap_pop(&hp);
        int x = e.index % w, y = e.index / w;
        for (int k = 0; k < connectivity; k++) {
            int xx = x + DX[k], yy = y + DY[k];
            if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
            size_t q = (size_t)yy * w + xx;
            if (out[q] || (mask && !mask[q])) continue;
            out[q] = out[e.index];
            if (heap_push(&hp, (hnode){cost[q], (int32_t)q, age++}) != 0) goto oom;
        }
    }
    free(hp.v);
    return UNET_OK;
oom:
    free(hp.v);
    return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the watershed of a %dx%d image", w, h);
}

unet_status unet_instances_relabel(int32_t *lab, size_t n, int *count)
{
    if (!lab) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_instances_relabel: NULL argument");
    int32_t maxid = 0;
    for (size_t i = 0; i < n; i++) {
        if (lab[i] < 0) return unet_seterr(UNET_ERR_DATA, "negative instance id %d at pixel %zu", lab[i], i);
        if (lab[i] > maxid) maxid = lab[i];
    }
    int32_t *map = calloc((size_t)maxid + 1, sizeof *map);
    if (!map) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %d ids", maxid);
    int32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t v = lab[i];
        if (!v) continue;
        if (!map[v]) map[v] = ++next;
        lab[i] = map[v];
    }
    free(map);
    if (count) *count = next;
    return UNET_OK;
}

unet_status unet_instances_merge_small(int32_t *lab, int w, int h, int min_size)
{
    UNET_TRY(check_args(lab, lab, w, h, "unet_instances_merge_small"));
    if (min_size <= 1) return UNET_OK;
    size_t np = (size_t)w * h;
    int32_t maxid = 0;
    for (size_t i = 0; i < np; i++) {
        if (lab[i] < 0) return unet_seterr(UNET_ERR_DATA, "negative instance id %d at pixel %zu", lab[i], i);
        if (lab[i] > maxid) maxid = lab[i];
    }
    size_t nid = (size_t)maxid + 1;
    int64_t *size = calloc(nid, sizeof *size);
    int *x0 = malloc(nid * sizeof *x0), *x1 = malloc(nid * sizeof *x1), *y0 = malloc(nid * sizeof *y0),
        *y1 = malloc(nid * sizeof *y1);
    int32_t *order = malloc(nid * sizeof *order);
    unet_status st = UNET_OK;
    if (!size || !x0 || !x1 || !y0 || !y1 || !order) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %d objects", maxid);
        goto out;
    }
    for (size_t k = 0; k < nid; k++) x0[k] = y0[k] = INT_MAX, x1[k] = y1[k] = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int32_t v = lab[(size_t)y * w + x];
            if (!v) continue;
            size[v]++;
            if (x < x0[v]) x0[v] = x;
            if (x > x1[v]) x1[v] = x;
            if (y < y0[v]) y0[v] = y;
            if (y > y1[v]) y1[v] = y;
        }
    int nsmall = 0;
    for (int32_t v = 1; v <= maxid; v++)
        if (size[v] > 0 && size[v] < min_size) order[nsmall++] = v;
    /* smallest first, ties by id (insertion sort: small objects are few) */
    for (int i = 1; i < nsmall; i++) {
        int32_t v = order[i];
        int j = i - 1;
        while (j >= 0 && (size[order[j]] > size[v] || (size[order[j]] == size[v] && order[j] > v))) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    /* shared boundary counts of one object with its neighbours: a small
     * sparse list (objects have few neighbours) */
    int32_t nb_id[64];
    int64_t nb_cnt[64];
    for (int i = 0; i < nsmall; i++) {
        int32_t v = order[i];
        if (size[v] == 0 || size[v] >= min_size) continue; /* grew by an earlier merge */
        int nn = 0;
        for (int y = y0[v]; y <= y1[v]; y++)
            for (int x = x0[v]; x <= x1[v]; x++) {
                if (lab[(size_t)y * w + x] != v) continue;
                for (int k = 0; k < 4; k++) {
                    int xx = x + DX[k], yy = y + DY[k];
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    int32_t u = lab[(size_t)yy * w + xx];
                    if (!u || u == v) continue;
                    int j = 0;
                    while (j < nn && nb_id[j] != u) j++;
                    if (j == nn) {
                        if (nn == 64) continue; /* more than 64 neighbours: the rest are ignored */
                        nb_id[nn] = u;
                        nb_cnt[nn++] = 0;
                    }
                    nb_cnt[j]++;
                }
            }
        int32_t to = 0;
        int64_t best = 0;
        for (int j = 0; j < nn; j++)
            if (nb_cnt[j] > best || (nb_cnt[j] == best && nb_id[j] < to)) best = nb_cnt[j], to = nb_id[j];
        for (int y = y0[v]; y <= y1[v]; y++)
            for (int x = x0[v]; x <= x1[v]; x++)
                if (lab[(size_t)y * w + x] == v) lab[(size_t)y * w + x] = to;
        if (to) {
            size[to] += size[v];
            if (x0[v] < x0[to]) x0[to] = x0[v];
            if (x1[v] > x1[to]) x1[to] = x1[v];
            if (y0[v] < y0[to]) y0[to] = y0[v];
            if (y1[v] > y1[to]) y1[to] = y1[v];
        }
        size[v] = 0;
    }
out:
    free(size), free(x0), free(x1), free(y0), free(y1), free(order);
    return st;
}

unet_status unet_instances_fill_holes(int32_t *lab, int w, int h)
{
    UNET_TRY(check_args(lab, lab, w, h, "unet_instances_fill_holes"));
    size_t np = (size_t)w * h;
    uint8_t *bg = malloc(np);
    int32_t *comp = malloc(np * sizeof *comp);
    int32_t *owner = NULL;
    unet_status st = UNET_OK;
    if (!bg || !comp) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the holes of a %dx%d image", w, h);
        goto out;
    }
    for (size_t i = 0; i < np; i++) bg[i] = lab[i] == 0;
    int n = 0;
    if ((st = unet_label_components(bg, w, h, 4, comp, &n)) != UNET_OK) goto out;
    /* owner[c]: 0 = no object seen yet, > 0 = the one object around it, -1 = not a hole */
    owner = calloc((size_t)n + 1, sizeof *owner);
    if (!owner) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %d background regions", n);
        goto out;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int32_t c = comp[(size_t)y * w + x];
            if (!c || owner[c] < 0) continue;
            if (x == 0 || y == 0 || x == w - 1 || y == h - 1) {
                owner[c] = -1;
                continue;
            }
            for (int k = 0; k < 4; k++) {
                int32_t u = lab[(size_t)(y + DY[k]) * w + x + DX[k]];
                if (!u) continue;
                if (!owner[c]) owner[c] = u;
                else if (owner[c] != u) owner[c] = -1;
            }
        }
    for (size_t i = 0; i < np; i++)
        if (comp[i] && owner[comp[i]] > 0) lab[i] = owner[comp[i]];
out:
    free(bg), free(comp), free(owner);
    return st;
}

/* The objects of the cell pixels (cell != 0) before hole filling and
 * renumbering: components, or seeds, watershed and unseeded regions; then
 * min_size. Shared by unet_instances_from_probs and the streamed labeller
 * (inst_stream.c), which runs it on the rows of complete mask components. */
unet_status unet_instances_objects(const uint8_t *cell, const float *fg, const float *interior, int w, int h,
                                   const unet_instance_options *o, int32_t *out)
{
    size_t np = (size_t)w * h;
    uint8_t *seedmask = NULL;
    int32_t *seeds = NULL, *rest = NULL;
    float *cost = NULL;
    unet_status st = UNET_OK;
    if (o->method == UNET_INSTANCES_COMPONENTS) {
        if ((st = unet_label_components(cell, w, h, o->connectivity, out, NULL)) != UNET_OK) goto out;
    } else {
        seedmask = malloc(np);
        seeds = malloc(np * sizeof *seeds);
        cost = malloc(np * sizeof *cost);
        if (!seedmask || !seeds || !cost) goto oom;
        for (size_t i = 0; i < np; i++) {
            /* the interior must be the arg-max class (P(border) = fg - interior,
             * P(background) = 1 - fg; for 2 classes interior = fg and this
             * is fg > 1/2) and above the threshold */
            seedmask[i] = cell[i] && interior[i] > o->seed_threshold && interior[i] > fg[i] - interior[i] &&
                          interior[i] > 1.0f - fg[i];
            cost[i] = 1.0f - interior[i];
        }
        int ns = 0;
        if ((st = unet_label_components(seedmask, w, h, o->connectivity, seeds, &ns)) != UNET_OK) goto out;
        if (o->min_seed > 1 && ns > 0) {
            int64_t *sz = calloc((size_t)ns + 1, sizeof *sz);
            if (!sz) goto oom;
            for (size_t i = 0; i < np; i++) sz[seeds[i]]++;
            for (size_t i = 0; i < np; i++)
                if (seeds[i] && sz[seeds[i]] < o->min_seed) seeds[i] = 0;
            free(sz);
        }
        if ((st = unet_watershed(cost, seeds, cell, w, h, o->connectivity, out)) != UNET_OK) goto out;
        /* cell pixels no seed reached: their own components, numbered after the seeds */
        int nr = 0;
        for (size_t i = 0; i < np; i++) seedmask[i] = cell[i] && !out[i];
        rest = seeds; /* the seeds are no longer needed */
        seeds = NULL;
        if ((st = unet_label_components(seedmask, w, h, o->connectivity, rest, &nr)) != UNET_OK) goto out;
        if (nr > 0) {
            if ((int64_t)ns + nr >= INT32_MAX) {
                st = unet_seterr(UNET_ERR_DATA, "too many objects (%d seeds + %d unseeded regions)", ns, nr);
                goto out;
            }
            for (size_t i = 0; i < np; i++)
                if (rest[i]) out[i] = ns + rest[i];
        }
    }
    if (o->min_size > 1 && (st = unet_instances_merge_small(out, w, h, o->min_size)) != UNET_OK) goto out;
    goto out;
oom:
    st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of a %dx%d image", w, h);
out:
    free(seedmask), free(seeds), free(rest), free(cost);
    return st;
}

unet_status unet_instances_from_probs(const float *fg, const float *interior, int w, int h,
                                      const unet_instance_options *o, int32_t *out, int *count)
{
    UNET_TRY(check_args(fg, out, w, h, "unet_instances_from_probs"));
    if (!o) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_instances_from_probs: NULL options");
    if (o->method == UNET_INSTANCES_WATERSHED && !interior)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_instances_from_probs: the watershed needs the interior");
    size_t np = (size_t)w * h;
    uint8_t *cell = malloc(np);
    if (!cell) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the instances of a %dx%d image", w, h);
    for (size_t i = 0; i < np; i++) cell[i] = fg[i] > o->fg_threshold;
    unet_status st = unet_instances_objects(cell, fg, interior, w, h, o, out);
    free(cell);
    if (st == UNET_OK && o->fill_holes) st = unet_instances_fill_holes(out, w, h);
    if (st == UNET_OK) st = unet_instances_relabel(out, np, count);
    return st;
}

unet_status unet_border3_targets(const int32_t *ids, int w, int h, int border_width, int32_t *classes)
{
    UNET_TRY(check_args(ids, classes, w, h, "unet_border3_targets"));
    if (border_width < 1 || border_width > 64)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "border width %d: use 1..64", border_width);
    const int r = border_width, r2 = r * r;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int32_t v = ids[i];
            if (v < 0) return unet_seterr(UNET_ERR_DATA, "negative instance id %d at (x %d, y %d)", v, x, y);
            if (!v) {
                classes[i] = 0;
                continue;
            }
            int border = 0;
            for (int dy = -r; dy <= r && !border; dy++) {
                int yy = y + dy;
                if (yy < 0 || yy >= h) continue;
                for (int dx = -r; dx <= r; dx++) {
                    int xx = x + dx;
                    if (xx < 0 || xx >= w || dx * dx + dy * dy > r2) continue;
                    if (ids[(size_t)yy * w + xx] != v) {
                        border = 1;
                        break;
                    }
                }
            }
            classes[i] = border ? 1 : 2;
        }
    return UNET_OK;
}

unet_status unet_model_meta_config(const char *meta_json, unet_config *train, int *found)
{
    *found = 0;
    if (!meta_json) return UNET_OK;
    cJSON *meta = cJSON_Parse(meta_json);
    const cJSON *c = meta ? cJSON_GetObjectItemCaseSensitive(meta, "config") : NULL;
    unet_status st = UNET_OK;
    if (cJSON_IsString(c)) {
        unet_config_default(train);
        st = unet_config_from_json(train, c->valuestring);
        if (st == UNET_OK) *found = 1;
        else st = unet_seterr(st, "the training configuration in the model's metadata is unreadable");
    }
    cJSON_Delete(meta);
    return st;
}
