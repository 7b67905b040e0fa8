/* The U-Net weight map: exact EDT, separating borders, class balance. See weightmap.h. */
#define _POSIX_C_SOURCE 200809L
#include "atomicfile.h"
#include "fsutil.h"
#include "unetcl/weightmap.h"
#include "instances.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void unet_weightmap_options_default(unet_weightmap_options *o)
{
    memset(o, 0, sizeof *o);
    o->w0 = 10.0;
    o->sigma = 5.0;
    o->balance = UNET_WM_BALANCE_IMAGE;
    o->border = 1;
    o->exp_cutoff = 1e-6;
}

static unet_status check_size(const char *fn, int w, int h)
{
    if (w < 1 || h < 1)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: image size %dx%d: width and height must be >= 1", fn, w,
                           h);
    if ((size_t)w > ((size_t)1 << 40) / (size_t)h)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: image size %dx%d is too large", fn, w, h);
    return UNET_OK;
}

/* ---- exact Euclidean distance transform ------------------------------------ */

/* Scratch of the 1-D transform for lines of up to n samples. */
typedef struct edt_scratch {
    double *f, *d, *z;
    int *v;
} edt_scratch;

static int scratch_alloc(edt_scratch *s, int n)
{
    s->f = malloc((size_t)n * sizeof *s->f);
    s->d = malloc((size_t)n * sizeof *s->d);
    s->z = malloc(((size_t)n + 1) * sizeof *s->z);
    s->v = malloc((size_t)n * sizeof *s->v);
    return s->f && s->d && s->z && s->v;
}

static void scratch_free(edt_scratch *s)
{
    free(s->f);
    free(s->d);
    free(s->z);
    free(s->v);
}

/* Felzenszwalb & Huttenlocher: d[q] = min_p (q - p)^2 + f[p] over the p with
 * finite f[p] (the lower envelope of parabolas rooted at those p); +INF if
 * there is none. Values stay integers when f holds integers, so doubles are
 * exact. */
static void edt_1d(const double *f, double *d, int n, int *v, double *z)
{
    int k = -1;
    for (int q = 0; q < n; q++) {
        if (isinf(f[q])) continue;
        double fq = f[q] + (double)q * q;
        if (k < 0) {
            k = 0;
            v[0] = q;
            z[0] = -INFINITY;
            z[1] = INFINITY;
            continue;
        }
        double s;
        for (;;) {
            int p = v[k];
            s = (fq - (f[p] + (double)p * p)) / (2.0 * (q - p));
            if (s > z[k]) break;
            k--; /* z[0] = -INF, so k stays >= 0 */
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = INFINITY;
    }
    if (k < 0) {
        for (int q = 0; q < n; q++) d[q] = INFINITY;
        return;
    }
    int j = 0;
    for (int q = 0; q < n; q++) {
        while (z[j + 1] < q) j++;
        double t = (double)(q - v[j]);
        d[q] = t * t + f[v[j]];
    }
}

/* In place on a w x h window of g (row stride `stride`): g holds 0 on feature
 * pixels and +INF elsewhere; on return the squared distance to the nearest
 * feature pixel of the window. */
static void edt_2d_sq(double *g, int w, int h, size_t stride, edt_scratch *s)
{
    for (int x = 0; x < w; x++) {
        for (int y = 0; y < h; y++) s->f[y] = g[(size_t)y * stride + x];
        edt_1d(s->f, s->d, h, s->v, s->z);
        for (int y = 0; y < h; y++) g[(size_t)y * stride + x] = s->d[y];
    }
    for (int y = 0; y < h; y++) {
        double *row = g + (size_t)y * stride;
        memcpy(s->f, row, (size_t)w * sizeof *row);
        edt_1d(s->f, row, w, s->v, s->z);
    }
}

unet_status unet_edt(const uint8_t *mask, int w, int h, float *dist)
{
    UNET_TRY(check_size("unet_edt", w, h));
    if (!mask || !dist) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_edt: mask and dist must not be NULL");
    size_t n = (size_t)w * h;
    double *g = malloc(n * sizeof *g);
    edt_scratch s;
    int ok = scratch_alloc(&s, w > h ? w : h);
    if (!g || !ok) {
        free(g);
        scratch_free(&s);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_edt: cannot allocate %zu bytes for a %dx%d image",
                           n * sizeof *g, w, h);
    }
    for (size_t i = 0; i < n; i++) g[i] = mask[i] ? 0.0 : INFINITY;
    edt_2d_sq(g, w, h, (size_t)w, &s);
    for (size_t i = 0; i < n; i++) dist[i] = (float)sqrt(g[i]);
    free(g);
    scratch_free(&s);
    return UNET_OK;
}

/* ---- connected components ----------------------------------------------------- */

unet_status unet_instances_from_mask(const uint8_t *mask, int w, int h, int32_t *out, int *n_out)
{
    UNET_TRY(check_size("unet_instances_from_mask", w, h));
    if (!mask || !out)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_instances_from_mask: mask and output must not be NULL");
    return unet_label_components(mask, w, h, 8, out, n_out);
}

/* ---- separating border and classes ---------------------------------------- */

/* classes[i] = 1 for cell pixels that survive the border operation. Returns
 * the number of removed pixels in *removed. */
static void make_classes(const int32_t *inst, int w, int h, int border, int32_t *classes, long long *removed)
{
    long long r = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            int32_t a = inst[i];
            int32_t c = a > 0;
            if (c && border) {
                for (int dy = -1; dy <= 1 && c; dy++) {
                    int yy = y + dy;
                    if (yy < 0 || yy >= h) continue;
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx;
                        if (xx < 0 || xx >= w) continue;
                        int32_t b = inst[(size_t)yy * w + xx];
                        if (b > 0 && b != a) {
                            c = 0;
                            break;
                        }
                    }
                }
                if (!c) r++;
            }
            classes[i] = c;
        }
    }
    *removed = r;
}

static unet_status check_common(const char *fn, const int32_t *inst, int w, int h, const unet_weightmap_options *o)
{
    UNET_TRY(check_size(fn, w, h));
    if (!inst) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: instances must not be NULL", fn);
    if (!o) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: options must not be NULL", fn);
    if (!(o->w0 >= 0.0) || !isfinite(o->w0))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: w0 = %g: must be a finite number >= 0 (paper: 10)", fn,
                           o->w0);
    if (!(o->sigma > 0.0) || !isfinite(o->sigma))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: sigma = %g: must be a finite number > 0 (paper: 5)", fn,
                           o->sigma);
    if (!(o->exp_cutoff >= 0.0 && o->exp_cutoff < 1.0))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: exp_cutoff = %g: must be in [0, 1) (default 1e-6)", fn,
                           o->exp_cutoff);
    if (o->balance != UNET_WM_BALANCE_NONE && o->balance != UNET_WM_BALANCE_IMAGE &&
        o->balance != UNET_WM_BALANCE_GIVEN)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: unknown class balance mode %d", fn, (int)o->balance);
    if (o->balance == UNET_WM_BALANCE_GIVEN) {
        for (int k = 0; k < 2; k++)
            if (!(o->class_counts[k] >= 0.0) || !isfinite(o->class_counts[k]))
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                                   "%s: class_counts[%d] = %g: must be a finite count >= 0", fn, k,
                                   o->class_counts[k]);
        if (o->class_counts[0] + o->class_counts[1] <= 0.0)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                               "%s: class_counts are all 0: accumulate them with unet_weightmap_count_classes", fn);
    }
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        if (inst[i] < 0)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                               "%s: instance id %d at pixel (%d, %d) is negative: ids must be 0 (background) or > 0",
                               fn, (int)inst[i], (int)(i % (size_t)w), (int)(i / (size_t)w));
    return UNET_OK;
}

unet_status unet_weightmap_count_classes(const int32_t *inst, int w, int h, const unet_weightmap_options *o,
                                         double counts[2])
{
    UNET_TRY(check_common("unet_weightmap_count_classes", inst, w, h, o));
    if (!counts)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_weightmap_count_classes: counts must not be NULL");
    size_t n = (size_t)w * h;
    int32_t *cls = malloc(n * sizeof *cls);
    if (!cls)
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_weightmap_count_classes: cannot allocate %zu bytes",
                           n * sizeof *cls);
    long long removed;
    make_classes(inst, w, h, o->border, cls, &removed);
    long long fg = 0;
    for (size_t i = 0; i < n; i++) fg += cls[i];
    counts[0] += (double)((long long)n - fg);
    counts[1] += (double)fg;
    free(cls);
    return UNET_OK;
}

void unet_weightmap_class_weights(const double counts[2], double wc[2])
{
    double total = 0.0;
    int k_present = 0;
    for (int k = 0; k < 2; k++)
        if (counts[k] > 0.0) {
            total += counts[k];
            k_present++;
        }
    for (int k = 0; k < 2; k++) wc[k] = counts[k] > 0.0 ? total / (k_present * counts[k]) : 1.0;
}

/* ---- the weight map ------------------------------------------------------------ */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

typedef struct cell_box {
    int x0, y0, x1, y1; /* inclusive bounds of the surviving pixels; x0 > x1 when none */
} cell_box;

/* Index of id in the sorted unique ids (present by construction). */
static size_t id_index(const int32_t *ids, size_t m, int32_t id)
{
    size_t lo = 0, hi = m;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] <= id) lo = mid;
        else hi = mid;
    }
    return lo;
}

unet_status unet_weightmap_compute_ex(const int32_t *inst, int w, int h, const unet_weightmap_options *o,
                                      int32_t *classes_out, float *weights_out, unet_weightmap_info *info)
{
    static const char *fn = "unet_weightmap_compute";
    UNET_TRY(check_common(fn, inst, w, h, o));
    size_t n = (size_t)w * h;
    unet_status st = UNET_OK;
    int32_t *cls = classes_out ? classes_out : malloc(n * sizeof *cls);
    int32_t *ids = malloc(n * sizeof *ids);
    double *d1 = malloc(n * sizeof *d1), *d2 = malloc(n * sizeof *d2), *g = malloc(n * sizeof *g);
    cell_box *box = NULL;
    edt_scratch s = {0};
    int sok = scratch_alloc(&s, w > h ? w : h);
    if (!cls || !ids || !d1 || !d2 || !g || !sok) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: cannot allocate working memory for a %dx%d image", fn, w, h);
        goto done;
    }

    long long removed;
    make_classes(inst, w, h, o->border, cls, &removed);

    /* Distinct nonzero ids, sorted. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (inst[i] > 0) ids[m++] = inst[i];
    qsort(ids, m, sizeof *ids, cmp_i32);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || ids[i] != ids[u - 1]) ids[u++] = ids[i];
    m = u;

    /* Bounding boxes of the surviving pixels of every cell. */
    box = malloc((m ? m : 1) * sizeof *box);
    if (!box) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu cell boxes", fn, m);
        goto done;
    }
    for (size_t c = 0; c < m; c++) box[c] = (cell_box){w, h, -1, -1};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!cls[i]) continue;
            cell_box *b = &box[id_index(ids, m, inst[i])];
            if (x < b->x0) b->x0 = x;
            if (x > b->x1) b->x1 = x;
            if (y < b->y0) b->y0 = y;
            if (y > b->y1) b->y1 = y;
        }

    /* d1, d2 as squared distances: per cell EDT inside its dilated box. */
    for (size_t i = 0; i < n; i++) d1[i] = d2[i] = INFINITY;
    int margin;
    if (o->exp_cutoff > 0.0) {
        double r = o->sigma * sqrt(2.0 * log(1.0 / o->exp_cutoff));
        margin = r >= (double)(w > h ? w : h) ? (w > h ? w : h) : (int)ceil(r);
    } else {
        margin = w > h ? w : h;
    }
    int ncells_alive = 0;
    for (size_t c = 0; c < m; c++) {
        if (box[c].x0 > box[c].x1) continue; /* every pixel became border */
        ncells_alive++;
        if (o->w0 == 0.0) continue;
        int x0 = box[c].x0 - margin, x1 = box[c].x1 + margin;
        int y0 = box[c].y0 - margin, y1 = box[c].y1 + margin;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > w - 1) x1 = w - 1;
        if (y1 > h - 1) y1 = h - 1;
        int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
        double *gb = g + (size_t)y0 * w + x0;
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++) {
                size_t i = (size_t)(y0 + y) * w + (x0 + x);
                gb[(size_t)y * w + x] = (cls[i] && inst[i] == ids[c]) ? 0.0 : INFINITY;
            }
        edt_2d_sq(gb, bw, bh, (size_t)w, &s);
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++) {
                size_t i = (size_t)(y0 + y) * w + (x0 + x);
                double d = gb[(size_t)y * w + x];
                if (d < d1[i]) {
                    d2[i] = d1[i];
                    d1[i] = d;
                } else if (d < d2[i]) {
                    d2[i] = d;
                }
            }
    }

    /* Class weights. */
    long long fg = 0;
    for (size_t i = 0; i < n; i++) fg += cls[i];
    double here[2] = {(double)((long long)n - fg), (double)fg};
    double wc[2] = {1.0, 1.0};
    if (o->balance == UNET_WM_BALANCE_IMAGE) unet_weightmap_class_weights(here, wc);
    else if (o->balance == UNET_WM_BALANCE_GIVEN) unet_weightmap_class_weights(o->class_counts, wc);

    double maxw = 0.0;
    double inv = 1.0 / (2.0 * o->sigma * o->sigma);
    for (size_t i = 0; i < n; i++) {
        double wt;
        if (cls[i]) wt = wc[1];
        else {
            wt = wc[0];
            if (isfinite(d2[i])) {
                double sum = sqrt(d1[i]) + sqrt(d2[i]);
                wt += o->w0 * exp(-sum * sum * inv);
            }
        }
        if (weights_out) weights_out[i] = (float)wt;
        if (wt > maxw) maxw = wt;
    }
    if (info) {
        info->cells = (int)m;
        info->border_pixels = removed;
        info->class_pixels[0] = (long long)n - fg;
        info->class_pixels[1] = fg;
        info->wc[0] = wc[0];
        info->wc[1] = wc[1];
        info->max_weight = maxw;
    }
    (void)ncells_alive;

done:
    if (cls != classes_out) free(cls);
    free(ids);
    free(d1);
    free(d2);
    free(g);
    free(box);
    scratch_free(&s);
    return st;
}

unet_status unet_weightmap_compute(const int32_t *inst, int w, int h, const unet_weightmap_options *o,
                                   int32_t *classes_out, float *weights_out)
{
    return unet_weightmap_compute_ex(inst, w, h, o, classes_out, weights_out, NULL);
}

/* ---- cache ------------------------------------------------------------------------ */

#define WM_MAGIC "UNETWM01"
#define WM_VERSION 1u

static uint64_t fnv1a(uint64_t hsh, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        hsh ^= b[i];
        hsh *= 1099511628211ULL;
    }
    return hsh;
}

static uint64_t fnv_double(uint64_t hsh, double v)
{
    char buf[40];
    int len = snprintf(buf, sizeof buf, "%.17g;", v); /* byte-order independent */
    return fnv1a(hsh, buf, (size_t)len);
}

typedef struct wm_header {
    char magic[8];
    uint32_t version;
    int32_t w, h;
    uint32_t pad;
    uint64_t key;
} wm_header;


static int read_entry(const char *path, int w, int h, uint64_t key, int32_t *cls, float *wts)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    wm_header hd;
    size_t n = (size_t)w * h;
    int ok = fread(&hd, sizeof hd, 1, f) == 1 && !memcmp(hd.magic, WM_MAGIC, 8) && hd.version == WM_VERSION &&
             hd.w == w && hd.h == h && hd.key == key;
    if (ok) {
        if (cls) ok = fread(cls, sizeof *cls, n, f) == n;
        else ok = fseek(f, (long)(n * sizeof *cls), SEEK_CUR) == 0;
    }
    if (ok && wts) ok = fread(wts, sizeof *wts, n, f) == n;
    if (ok) { /* exact size: nothing after the weights */
        struct stat sb;
        ok = fstat(fileno(f), &sb) == 0 && (size_t)sb.st_size == sizeof hd + n * (sizeof *cls + sizeof *wts);
    }
    if (ok && cls)
        for (size_t i = 0; i < n && ok; i++) ok = cls[i] == 0 || cls[i] == 1;
    if (ok && wts)
        for (size_t i = 0; i < n && ok; i++) ok = isfinite(wts[i]) && wts[i] >= 0.0f;
    fclose(f);
    return ok;
}

unet_status unet_weightmap_cached(const char *cache_dir, const char *label_path, const char *variant,
                                  const int32_t *inst, int w, int h, const unet_weightmap_options *o,
                                  int32_t *classes_out, float *weights_out, int *hit)
{
    static const char *fn = "unet_weightmap_cached";
    if (hit) *hit = 0;
    if (!cache_dir || !label_path || !o)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: cache_dir, label_path and options must not be NULL", fn);
    UNET_TRY(check_size(fn, w, h));

    /* Key: label file bytes + size + options. */
    uint64_t key = 14695981039346656037ULL;
    FILE *lf = fopen(label_path, "rb");
    if (!lf) return unet_seterr(UNET_ERR_IO, "%s: cannot open label file %s: %s", fn, label_path, strerror(errno));
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, lf)) > 0) key = fnv1a(key, buf, got);
    int rerr = ferror(lf);
    fclose(lf);
    if (rerr) return unet_seterr(UNET_ERR_IO, "%s: error reading label file %s", fn, label_path);
    key = fnv1a(key, "|variant:", 9);
    if (variant) key = fnv1a(key, variant, strlen(variant) + 1);
    key = fnv_double(key, (double)w);
    key = fnv_double(key, (double)h);
    key = fnv_double(key, o->w0);
    key = fnv_double(key, o->sigma);
    key = fnv_double(key, (double)o->balance);
    if (o->balance == UNET_WM_BALANCE_GIVEN) {
        key = fnv_double(key, o->class_counts[0]);
        key = fnv_double(key, o->class_counts[1]);
    }
    key = fnv_double(key, (double)(o->border != 0));
    key = fnv_double(key, o->exp_cutoff);
    key = fnv_double(key, (double)WM_VERSION);

    if (unet_mkdir_p(cache_dir) != 0)
        return unet_seterr(UNET_ERR_IO, "weight map cache: cannot create the folder %s: %s", cache_dir, strerror(errno));
    char path[4200];
    snprintf(path, sizeof path, "%s/wm_%016llx.bin", cache_dir, (unsigned long long)key);
    if (read_entry(path, w, h, key, classes_out, weights_out)) {
        if (hit) *hit = 1;
        return UNET_OK;
    }
    if (!inst)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: no valid cache entry for %s and instances is NULL", fn,
                           label_path);

    size_t n = (size_t)w * h;
    int32_t *cls = malloc(n * sizeof *cls);
    float *wts = malloc(n * sizeof *wts);
    unet_status st = UNET_OK;
    if (!cls || !wts) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", fn, n * 8);
        goto out;
    }
    st = unet_weightmap_compute(inst, w, h, o, cls, wts);
    if (st != UNET_OK) goto out;
    if (classes_out) memcpy(classes_out, cls, n * sizeof *cls);
    if (weights_out) memcpy(weights_out, wts, n * sizeof *wts);

    wm_header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, WM_MAGIC, 8);
    hd.version = WM_VERSION;
    hd.w = w;
    hd.h = h;
    hd.key = key;
    unet_atomic_file af;
    st = unet_atomic_open(&af, path);
    if (st == UNET_OK) {
        if (fwrite(&hd, sizeof hd, 1, af.f) != 1 || fwrite(cls, sizeof *cls, n, af.f) != n ||
            fwrite(wts, sizeof *wts, n, af.f) != n) {
            st = unet_write_fail(errno, path);
            unet_atomic_abort(&af);
        } else {
            st = unet_atomic_commit(&af);
        }
    }
    if (st != UNET_OK) unet_errctx(st, "%s: cannot write the cache file (check free space and permissions of %s)", fn, cache_dir);
out:
    free(cls);
    free(wts);
    return st;
}
