/* Synthetic cell-like images with instance labels (see synth.h). */
#include "unetcl/synth.h"
#include "error.h"
#include "mix.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SYN_ONE 1024      /* the cell boundary in the integer distance D */
#define SYN_WOBBLE 200    /* amplitude of the boundary noise, in D units */
#define SYN_NUC_WOBBLE 160
#define SYN_NOISE_GRID 8  /* grid spacing of the boundary noise, pixels */
#define SYN_MIN_AREA 40   /* smaller pieces of a cell are merged into a neighbour */
#define SYN_MAX_CELLS 65535

void unet_synth_options_default(unet_synth_options *o)
{
    memset(o, 0, sizeof *o);
    o->width = 256;
    o->height = 256;
    o->seed = 1;
    o->radius_min = 12;
    o->radius_max = 30;
    o->fill_min = 0.40;
    o->fill_max = 0.60;
    o->membrane = 2;
    o->blur_sigma = 1.0;
    o->photons = 300.0;
    o->noise_sigma = 0.02;
}

/* ---- integer random numbers (splitmix64) ------------------------------------ */

typedef struct syn_rng { uint64_t s; } syn_rng;

static uint64_t rng_next(syn_rng *r) { return unet_splitmix64(&r->s); }
/* Uniform integer in [lo, hi]. */
static int rng_int(syn_rng *r, int lo, int hi)
{
    if (hi <= lo) return lo;
    return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}
static double rng_uniform(syn_rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_normal(syn_rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static uint64_t hash3(int64_t x, int64_t y, uint64_t key)
{
    return unet_mix64((uint64_t)x * 0x9E3779B97F4A7C15ULL ^ unet_mix64((uint64_t)y + 0x632BE59BD9B4E019ULL) ^ key);
}

/* Smooth integer value noise in [-amp, amp] (bilinear on a grid of g px). */
static int inoise(int x, int y, uint64_t key, int g, int amp)
{
    int gx = x / g, gy = y / g, fx = x % g, fy = y % g; /* x, y >= 0 */
    int64_t span = 2 * (int64_t)amp + 1;
    int64_t v00 = (int64_t)(hash3(gx, gy, key) % (uint64_t)span) - amp;
    int64_t v10 = (int64_t)(hash3(gx + 1, gy, key) % (uint64_t)span) - amp;
    int64_t v01 = (int64_t)(hash3(gx, gy + 1, key) % (uint64_t)span) - amp;
    int64_t v11 = (int64_t)(hash3(gx + 1, gy + 1, key) % (uint64_t)span) - amp;
    int64_t s = v00 * (g - fx) * (g - fy) + v10 * fx * (g - fy) + v01 * (g - fx) * fy + v11 * fx * fy;
    return (int)(s / ((int64_t)g * g));
}

/* Smooth float value noise in [-1, 1] at scale s px (image texture only). */
static double fnoise(double x, double y, double s, uint64_t key)
{
    double u = x / s, v = y / s;
    double fu = floor(u), fv = floor(v);
    int64_t iu = (int64_t)fu, iv = (int64_t)fv;
    double tu = u - fu, tv = v - fv;
    tu = tu * tu * (3 - 2 * tu);
    tv = tv * tv * (3 - 2 * tv);
    double k = 1.0 / 9007199254740992.0;
    double a = (double)(hash3(iu, iv, key) >> 11) * k, b = (double)(hash3(iu + 1, iv, key) >> 11) * k;
    double c = (double)(hash3(iu, iv + 1, key) >> 11) * k, d = (double)(hash3(iu + 1, iv + 1, key) >> 11) * k;
    double top = a + (b - a) * tu, bot = c + (d - c) * tu;
    return 2.0 * (top + (bot - top) * tv) - 1.0;
}

static int64_t isqrt64(int64_t n)
{
    if (n <= 0) return 0;
    int64_t x = n, y = (x + 1) / 2;
    while (y < x) {
        x = y;
        y = (x + n / x) / 2;
    }
    return x;
}

/* ---- cells --------------------------------------------------------------------- */

typedef struct ellipse {
    int cx, cy; /* centre */
    int a, b;   /* semi-axes along (p, q) and (-q, p), a >= b */
    int p, q;   /* orientation vector (integers, not normalised) */
    uint64_t key;
    int wobble;
} ellipse;

typedef struct cell {
    ellipse shape, nucleus;
    double brightness;
    uint64_t tex_key;
} cell;

/* Integer distance: < SYN_ONE inside the (wobbly) ellipse. */
static int64_t ell_dist(const ellipse *e, int x, int y)
{
    int64_t dx = x - e->cx, dy = y - e->cy;
    int64_t u = dx * e->p + dy * e->q, v = dy * e->p - dx * e->q;
    int64_t a2 = (int64_t)e->a * e->a, b2 = (int64_t)e->b * e->b, pq = (int64_t)e->p * e->p + (int64_t)e->q * e->q;
    int64_t num = (u * u * b2 + v * v * a2) * SYN_ONE;
    int64_t d = num / (a2 * b2 * pq);
    return d - inoise(x, y, e->key, SYN_NOISE_GRID, e->wobble);
}

/* Bounding radius of the wobbly ellipse: (1 + wobble/ONE) * a^2 < (5a/4)^2. */
static int ell_reach(const ellipse *e) { return e->a + e->a / 4 + 2; }

static void random_direction(syn_rng *r, int *p, int *q)
{
    for (;;) {
        int x = rng_int(r, -64, 64), y = rng_int(r, -64, 64);
        int n = x * x + y * y;
        if (n >= 32 * 32 && n <= 64 * 64) {
            *p = x;
            *q = y;
            return;
        }
    }
}

static void make_cell(syn_rng *r, const unet_synth_options *o, int cx, int cy, int a, cell *c)
{
    memset(c, 0, sizeof *c);
    ellipse *s = &c->shape;
    s->cx = cx;
    s->cy = cy;
    s->a = a;
    s->b = a * rng_int(r, 70, 100) / 100;
    if (s->b < 3) s->b = 3;
    if (s->b > s->a) s->b = s->a;
    random_direction(r, &s->p, &s->q);
    s->key = rng_next(r);
    s->wobble = SYN_WOBBLE;
    ellipse *n = &c->nucleus;
    n->a = s->a * rng_int(r, 38, 52) / 100;
    n->b = n->a * rng_int(r, 75, 100) / 100;
    if (n->a < 2) n->a = 2;
    if (n->b < 2) n->b = 2;
    n->cx = cx + rng_int(r, -s->b / 5, s->b / 5);
    n->cy = cy + rng_int(r, -s->b / 5, s->b / 5);
    random_direction(r, &n->p, &n->q);
    n->key = rng_next(r);
    n->wobble = SYN_NUC_WOBBLE;
    c->brightness = 0.58 + 0.16 * rng_uniform(r);
    c->tex_key = rng_next(r);
    (void)o;
}

typedef struct cell_list {
    cell *v;
    int n, cap;
} cell_list;

static int cells_push(cell_list *l, const cell *c)
{
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 64;
        cell *p = realloc(l->v, sizeof(cell) * (size_t)nc);
        if (!p) return 0;
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n++] = *c;
    return 1;
}

/* Marks the pixels of cell c in cov; returns the number newly covered. */
static long cover(const cell *c, unsigned char *cov, int w, int h)
{
    const ellipse *e = &c->shape;
    int R = ell_reach(e);
    long added = 0;
    for (int y = e->cy - R; y <= e->cy + R; y++) {
        if (y < 0 || y >= h) continue;
        for (int x = e->cx - R; x <= e->cx + R; x++) {
            if (x < 0 || x >= w) continue;
            if (!cov[(size_t)y * w + x] && ell_dist(e, x, y) < SYN_ONE) {
                cov[(size_t)y * w + x] = 1;
                added++;
            }
        }
    }
    return added;
}

/* Places clusters of touching cells until the covered fraction reaches a
 * random target in [fill_min, fill_max]. */
static unet_status place_cells(const unet_synth_options *o, syn_rng *r, cell_list *cells)
{
    int w = o->width, h = o->height;
    unsigned char *cov = calloc((size_t)w * h, 1);
    if (!cov) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    /* integer target: single IEEE products only, so no contraction can change it */
    long npix = (long)w * h, tlo = (long)(o->fill_min * (double)npix), thi = (long)(o->fill_max * (double)npix);
    long target = tlo + (long)(rng_next(r) % (uint64_t)(thi - tlo + 1));
    long covered = 0;
    int cluster_start = 0, cluster_size = 0, failures = 0;
    for (int attempt = 0; attempt < 20000 && covered < target && cells->n < SYN_MAX_CELLS; attempt++) {
        int a = rng_int(r, o->radius_min, o->radius_max);
        int cx, cy;
        int in_cluster = cells->n - cluster_start;
        if (in_cluster == 0 || in_cluster >= cluster_size || failures > 40) {
            /* a new cluster, anywhere in the image */
            cluster_start = cells->n;
            cluster_size = rng_int(r, 3, 14);
            failures = 0;
            cx = rng_int(r, 0, w - 1);
            cy = rng_int(r, 0, h - 1);
        } else {
            /* next to a random cell of the current cluster, overlapping it */
            const cell *par = &cells->v[rng_int(r, cluster_start, cells->n - 1)];
            int p, q;
            random_direction(r, &p, &q);
            int64_t len = isqrt64((int64_t)p * p + (int64_t)q * q);
            int64_t dist = (int64_t)(par->shape.b + a * 85 / 100) * rng_int(r, 80, 100) / 100;
            cx = par->shape.cx + (int)(p * dist / len);
            cy = par->shape.cy + (int)(q * dist / len);
        }
        if (cx < 0 || cy < 0 || cx >= w || cy >= h) {
            failures++;
            continue;
        }
        /* keep centres apart so that every cell keeps a good part of its area */
        int ok = 1;
        for (int i = 0; i < cells->n && ok; i++) {
            const ellipse *e = &cells->v[i].shape;
            int64_t dx = cx - e->cx, dy = cy - e->cy, s = e->b + a * 85 / 100;
            if (100 * (dx * dx + dy * dy) < 64 * s * s) ok = 0;
        }
        if (!ok) {
            failures++;
            continue;
        }
        cell c;
        make_cell(r, o, cx, cy, a, &c);
        if (!cells_push(cells, &c)) {
            free(cov);
            return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
        }
        covered += cover(&c, cov, w, h);
        failures = 0;
    }
    free(cov);
    return UNET_OK;
}

/* Labels each pixel with the cell of smallest distance D (< ONE), ties to the
 * lower index; dist receives D (ONE for background). */
static void rasterize(const cell_list *cells, int w, int h, int32_t *lab, int32_t *dist)
{
    for (size_t i = 0; i < (size_t)w * h; i++) {
        lab[i] = 0;
        dist[i] = SYN_ONE;
    }
    for (int k = 0; k < cells->n; k++) {
        const ellipse *e = &cells->v[k].shape;
        int R = ell_reach(e);
        for (int y = e->cy - R; y <= e->cy + R; y++) {
            if (y < 0 || y >= h) continue;
            for (int x = e->cx - R; x <= e->cx + R; x++) {
                if (x < 0 || x >= w) continue;
                int64_t d = ell_dist(e, x, y);
                size_t i = (size_t)y * w + x;
                if (d < SYN_ONE && d < dist[i]) {
                    dist[i] = (int32_t)(d < -SYN_ONE ? -SYN_ONE : d);
                    lab[i] = k + 1;
                }
            }
        }
    }
}

/* Every label becomes one 4-connected region of at least SYN_MIN_AREA pixels:
 * other pieces go to the neighbouring label they touch most (or background). */
static unet_status clean_labels(int32_t *lab, int w, int h, int ncells)
{
    size_t np = (size_t)w * h;
    int32_t *comp = malloc(np * sizeof *comp);
    int32_t *stack = malloc(np * sizeof *stack);
    int32_t *best = calloc((size_t)ncells + 1, sizeof *best);   /* largest component per label */
    int32_t *bestn = calloc((size_t)ncells + 1, sizeof *bestn); /* its size */
    int32_t *csize = NULL;
    unet_status st = UNET_OK;
    if (!comp || !stack || !best || !bestn) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
        goto done;
    }
    for (size_t i = 0; i < np; i++) comp[i] = -1;
    int ncomp = 0, cap = 0;
    static const int DX[4] = {1, -1, 0, 0}, DY[4] = {0, 0, 1, -1};
    for (size_t s = 0; s < np; s++) {
        if (lab[s] == 0 || comp[s] >= 0) continue;
        if (ncomp == cap) {
            cap = cap ? cap * 2 : 256;
            int32_t *p = realloc(csize, sizeof *csize * (size_t)cap);
            if (!p) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
                goto done;
            }
            csize = p;
        }
        int id = ncomp++, l = lab[s], top = 0, n = 0;
        comp[s] = id;
        stack[top++] = (int32_t)s;
        while (top) {
            int32_t i = stack[--top];
            n++;
            int x = i % w, y = i / w;
            for (int k = 0; k < 4; k++) {
                int xx = x + DX[k], yy = y + DY[k];
                if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                int32_t j = yy * w + xx;
                if (lab[j] == l && comp[j] < 0) {
                    comp[j] = id;
                    stack[top++] = j;
                }
            }
        }
        csize[id] = n;
        if (n > bestn[l]) {
            bestn[l] = n;
            best[l] = id;
        }
    }
    /* Pixels of the pieces to move, in raster order: each takes the label its
     * 4-neighbours outside the piece have most often. Repeated so that pieces
     * enclosed by other pieces resolve too. */
    for (int round = 0; round < 4; round++) {
        int moved = 0;
        for (size_t i = 0; i < np; i++) {
            int l = lab[i];
            if (l == 0) continue;
            int c = comp[i];
            if (c == best[l] && csize[c] >= SYN_MIN_AREA) continue;
            /* majority label among the 4-neighbours of the whole piece */
            /* flood the piece again and count neighbour labels */
            int top = 0, cand[16], cnt[16], ncand = 0;
            stack[top++] = (int32_t)i;
            int32_t *members = NULL;
            size_t nm = 0, capm = 0;
            comp[i] = -2;
            while (top) {
                int32_t p = stack[--top];
                if (nm == capm) {
                    capm = capm ? capm * 2 : 64;
                    int32_t *q = realloc(members, capm * sizeof *q);
                    if (!q) {
                        free(members);
                        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
                        goto done;
                    }
                    members = q;
                }
                members[nm++] = p;
                int x = p % w, y = p / w;
                for (int k = 0; k < 4; k++) {
                    int xx = x + DX[k], yy = y + DY[k];
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    int32_t j = yy * w + xx;
                    if (comp[j] == c) {
                        comp[j] = -2;
                        stack[top++] = j;
                    } else if (comp[j] != -2) {
                        int lj = lab[j], f = 0;
                        for (int t = 0; t < ncand; t++)
                            if (cand[t] == lj) {
                                cnt[t]++;
                                f = 1;
                                break;
                            }
                        if (!f && ncand < 16) {
                            cand[ncand] = lj;
                            cnt[ncand++] = 1;
                        }
                    }
                }
            }
            int newl = 0, bc = 0;
            for (int t = 0; t < ncand; t++)
                if (cnt[t] > bc || (cnt[t] == bc && cand[t] < newl)) {
                    bc = cnt[t];
                    newl = cand[t];
                }
            /* join the neighbouring component (by its id), or background */
            int newc = -1;
            if (newl != 0) {
                for (size_t m = 0; m < nm && newc < 0; m++) {
                    int x = members[m] % w, y = members[m] / w;
                    for (int k = 0; k < 4; k++) {
                        int xx = x + DX[k], yy = y + DY[k];
                        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                        int32_t j = yy * w + xx;
                        if (lab[j] == newl && comp[j] >= 0) {
                            newc = comp[j];
                            break;
                        }
                    }
                }
                if (newc < 0) newl = 0;
            }
            for (size_t m = 0; m < nm; m++) {
                lab[members[m]] = newl;
                comp[members[m]] = newc;
            }
            if (newc >= 0) csize[newc] += (int32_t)nm;
            free(members);
            moved++;
        }
        if (!moved) break;
    }
done:
    free(comp);
    free(stack);
    free(best);
    free(bestn);
    free(csize);
    return st;
}

/* Separable Gaussian blur with mirrored borders. */
static unet_status blur(float *img, int w, int h, double sigma)
{
    if (sigma <= 0) return UNET_OK;
    int rad = (int)ceil(3 * sigma);
    if (rad > w - 1) rad = w - 1;
    if (rad > h - 1) rad = h - 1;
    if (rad < 1) return UNET_OK;
    double *k = malloc(sizeof(double) * (size_t)(2 * rad + 1));
    float *tmp = malloc(sizeof(float) * (size_t)w * h);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
    }
    double sum = 0;
    for (int i = -rad; i <= rad; i++) sum += k[i + rad] = exp(-0.5 * i * i / (sigma * sigma));
    for (int i = 0; i <= 2 * rad; i++) k[i] /= sum;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int i = -rad; i <= rad; i++) {
                int xx = x + i;
                if (xx < 0) xx = -xx;
                if (xx >= w) xx = 2 * w - 2 - xx;
                s += k[i + rad] * img[(size_t)y * w + xx];
            }
            tmp[(size_t)y * w + x] = (float)s;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int i = -rad; i <= rad; i++) {
                int yy = y + i;
                if (yy < 0) yy = -yy;
                if (yy >= h) yy = 2 * h - 2 - yy;
                s += k[i + rad] * tmp[(size_t)yy * w + x];
            }
            img[(size_t)y * w + x] = (float)s;
        }
    free(k);
    free(tmp);
    return UNET_OK;
}

static unet_status check_options(const unet_synth_options *o, int index)
{
    if (!o) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "synth: options are NULL");
    if (index < 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "synth: index %d is negative", index);
    if (o->width < 16 || o->height < 16 || o->width > 16384 || o->height > 16384)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "synth: size %d x %d is out of range (16..16384 per side)",
                           o->width, o->height);
    int side = o->width < o->height ? o->width : o->height;
    if (o->radius_min < 4 || o->radius_max < o->radius_min || o->radius_max > 1000 || o->radius_min > side / 2)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "synth: cell radius %d..%d is out of range (4 <= min <= max <= 1000, min <= half the "
                           "image side %d)",
                           o->radius_min, o->radius_max, side / 2);
    if (!(o->fill_min > 0 && o->fill_min <= o->fill_max && o->fill_max <= 0.9))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "synth: foreground fraction %g..%g is out of range (0 < min <= max <= 0.9)", o->fill_min,
                           o->fill_max);
    if (o->membrane < 0 || o->membrane > 8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "synth: membrane width %d is out of range (0..8)", o->membrane);
    if (!(o->blur_sigma >= 0 && o->blur_sigma <= 20) || !(o->photons >= 0) || !(o->noise_sigma >= 0 && o->noise_sigma <= 1))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "synth: blur %g (0..20), photons %g (>= 0) or noise %g (0..1) out of range", o->blur_sigma,
                           o->photons, o->noise_sigma);
    return UNET_OK;
}

unet_status unet_synth_generate(const unet_synth_options *o, int index, unet_image *image, unet_image *labels)
{
    if (image) memset(image, 0, sizeof *image);
    if (labels) memset(labels, 0, sizeof *labels);
    UNET_TRY(check_options(o, index));
    int w = o->width, h = o->height;
    size_t np = (size_t)w * h;
    syn_rng r;
    r.s = unet_mix64(o->seed ^ 0x5DEECE66DULL) ^ unet_mix64((uint64_t)index * 0xD1B54A32D192ED03ULL + 1);

    cell_list cells = {0};
    int32_t *lab = malloc(np * sizeof *lab), *dist = malloc(np * sizeof *dist);
    int32_t *remap = NULL;
    float *v = NULL;
    unet_status st = UNET_OK;
    if (!lab || !dist) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory for %d x %d", w, h);
        goto done;
    }
    st = place_cells(o, &r, &cells);
    if (st != UNET_OK) goto done;
    rasterize(&cells, w, h, lab, dist);
    st = clean_labels(lab, w, h, cells.n);
    if (st != UNET_OK) goto done;

    /* contiguous ids 1..N in raster order of first appearance */
    remap = calloc((size_t)cells.n + 1, sizeof *remap);
    if (!remap) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
        goto done;
    }
    int next_id = 0;
    for (size_t i = 0; i < np; i++)
        if (lab[i] && !remap[lab[i]]) remap[lab[i]] = ++next_id;

    if (labels) {
        st = unet_image_alloc(labels, w, h, 1, 16);
        if (st != UNET_OK) goto done;
        for (size_t i = 0; i < np; i++) labels->data[i] = lab[i] ? (float)remap[lab[i]] : 0.0f;
    }
    if (!image) goto done;

    /* ---- the image (intensities in 0..1) ---- */
    v = malloc(np * sizeof *v);
    if (!v) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "synth: out of host memory");
        goto done;
    }
    uint64_t bg_key = rng_next(&r), fine_key = rng_next(&r), mem_key = rng_next(&r);
    double bg_level = 0.28 + 0.08 * rng_uniform(&r);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int l = lab[i];
            double val;
            if (l == 0) {
                val = bg_level + 0.03 * fnoise(x, y, 40.0, bg_key) + 0.015 * fnoise(x, y, 5.0, bg_key ^ 1);
            } else {
                const cell *c = &cells.v[l - 1];
                double dn = (double)dist[i] / SYN_ONE; /* < 1 inside; the dome shading */
                if (dn < 0) dn = 0;
                val = c->brightness * (1.0 - 0.18 * dn * dn);
                val += 0.05 * fnoise(x, y, 7.0, c->tex_key) + 0.035 * fnoise(x, y, 2.5, c->tex_key ^ 2);
                if (ell_dist(&c->nucleus, x, y) < SYN_ONE) {
                    val = val * 0.70 + 0.03 * fnoise(x, y, 2.0, c->tex_key ^ 3);
                    /* nucleoli: darker spots of the nucleus texture */
                    double nn = fnoise(x, y, 3.5, c->tex_key ^ 4);
                    if (nn > 0.55) val -= 0.25 * (nn - 0.55);
                } else {
                    /* vesicles: small bright granules in the cytoplasm */
                    double g = fnoise(x, y, 2.2, c->tex_key ^ 5);
                    if (g > 0.7) val += 0.5 * (g - 0.7);
                }
            }
            val += 0.01 * fnoise(x, y, 1.5, fine_key);
            v[i] = (float)val;
        }
    /* membranes: pixels with a differently labelled pixel within membrane/2 (L1) */
    int half = o->membrane / 2;
    if (o->membrane > 0 && half < 1) half = 1;
    if (o->membrane > 0)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                int l = lab[i], edge = 0;
                for (int dy = -half; dy <= half && !edge; dy++)
                    for (int dx = -half; dx <= half && !edge; dx++) {
                        int xx = x + dx, yy = y + dy;
                        if ((dx < 0 ? -dx : dx) + (dy < 0 ? -dy : dy) > half) continue;
                        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                        int m = lab[(size_t)yy * w + xx];
                        if (m != l) edge = 1;
                    }
                if (edge) v[i] = (float)(0.05 + 0.02 * fnoise(x, y, 3.0, mem_key));
            }
    st = blur(v, w, h, o->blur_sigma);
    if (st != UNET_OK) goto done;
    /* uneven illumination: a smooth gradient and vignetting */
    double gx = 0.5 * (rng_uniform(&r) - 0.5), gy = 0.5 * (rng_uniform(&r) - 0.5), gq = 0.4 * rng_uniform(&r);
    double gain = 0.9 + 0.25 * rng_uniform(&r);
    st = unet_image_alloc(image, w, h, 1, 8);
    if (st != UNET_OK) goto done;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            double u = (double)x / w - 0.5, t = (double)y / h - 0.5;
            double val = v[i] * gain * (1.0 + gx * u + gy * t - gq * (u * u + t * t));
            if (val < 0) val = 0;
            if (o->photons > 0) val += sqrt(val / o->photons) * rng_normal(&r);
            if (o->noise_sigma > 0) val += o->noise_sigma * rng_normal(&r);
            double q = floor(val * 255.0 + 0.5);
            image->data[i] = (float)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
done:
    free(lab);
    free(dist);
    free(remap);
    free(v);
    free(cells.v);
    if (st != UNET_OK) {
        if (image) unet_image_free(image);
        if (labels) unet_image_free(labels);
    }
    return st;
}
