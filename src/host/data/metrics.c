/*
 * Segmentation metrics: ISBI 2012 (pixel, foreground-restricted Rand and
 * warping error), Cell Tracking Challenge SEG, IoU/Dice. Sources and the
 * choices made where the papers leave room are in metrics.h and
 * docs/metrics.md. Plain host C; no OpenCL.
 */
#include "unetcl/metrics.h"
#include "error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

static unet_status oom(const char *what)
{
    return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "metrics: out of host memory allocating %s", what);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Maps arbitrary ids to 0 (for 0) and 1..K (the distinct nonzero ids in
 * increasing order). out may alias in. */
static unet_status relabel_compact(const uint32_t *in, size_t n, uint32_t *out, uint32_t *k_out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += in[i] != 0;
    uint32_t *u = malloc((m ? m : 1) * sizeof *u);
    if (!u) return oom("a label table");
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i]) u[m++] = in[i];
    qsort(u, m, sizeof *u, cmp_u32);
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (k == 0 || u[i] != u[k - 1]) u[k++] = u[i];
    for (size_t i = 0; i < n; i++) {
        uint32_t v = in[i];
        if (!v) {
            out[i] = 0;
            continue;
        }
        size_t lo = 0, hi = k; /* u[lo..hi) holds v */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (u[mid] <= v) lo = mid;
            else hi = mid;
        }
        out[i] = (uint32_t)(lo + 1);
    }
    free(u);
    *k_out = (uint32_t)k;
    return UNET_OK;
}

/* Connected components of mask != 0 with 4- or 8-connectivity into labels
 * 1..K in raster order of their first pixel (0 = background). queue: n
 * uint32 of workspace. Internal on purpose (a public labelling function may
 * live elsewhere). */
static uint32_t label_components(const uint8_t *mask, int w, int h, int conn, uint32_t *lab, uint32_t *queue)
{
    static const int dx8[8] = {1, -1, 0, 0, 1, 1, -1, -1};
    static const int dy8[8] = {0, 0, 1, -1, 1, -1, 1, -1};
    const int nn = conn == 8 ? 8 : 4;
    size_t n = (size_t)w * h;
    memset(lab, 0, n * sizeof *lab);
    uint32_t k = 0;
    for (size_t s = 0; s < n; s++) {
        if (!mask[s] || lab[s]) continue;
        k++;
        size_t qh = 0, qt = 0;
        lab[s] = k;
        queue[qt++] = (uint32_t)s;
        while (qh < qt) {
            uint32_t p = queue[qh++];
            int x = (int)(p % (uint32_t)w), y = (int)(p / (uint32_t)w);
            for (int d = 0; d < nn; d++) {
                int xx = x + dx8[d], yy = y + dy8[d];
                if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                size_t q = (size_t)yy * w + xx;
                if (mask[q] && !lab[q]) {
                    lab[q] = k;
                    queue[qt++] = (uint32_t)q;
                }
            }
        }
    }
    return k;
}

static unet_status check_image(const char *fn, int w, int h)
{
    if (w <= 0 || h <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: image size %dx%d is empty", fn, w, h);
    if ((uint64_t)w * (uint64_t)h >= UINT32_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: image %dx%d has too many pixels (limit 2^32-1)", fn,
                           w, h);
    return UNET_OK;
}

/* ---- Rand index ------------------------------------------------------------
 * Arganda-Carreras et al. 2015, Sec. "Foreground-restricted Rand scoring":
 * p_ij = fraction of truth-foreground pixels in truth segment i and predicted
 * segment j; V_split = sum p_ij^2 / sum t_i^2, V_merge = sum p_ij^2 / sum s_j^2,
 * V_Rand = 2 V_split V_merge / (V_split + V_merge). Counted here in pixels
 * (n^2 normalisation cancels). Predicted-background pixels inside the truth
 * foreground are singletons, as RandError.foregroundRestrictedStatsN2 of the
 * challenge's Fiji code (each adds 1 to sum_ab and to sum_b). */

typedef struct rand_prep {
    uint32_t kt;      /* truth segments 1..kt */
    uint32_t *start;  /* kt + 2 offsets into order */
    uint32_t *order;  /* pixel indices with truth != 0, grouped by segment */
    uint64_t nfg;
} rand_prep;

static void rand_prep_free(rand_prep *rp)
{
    free(rp->start);
    free(rp->order);
    memset(rp, 0, sizeof *rp);
}

static unet_status rand_prepare(const uint32_t *tc, uint32_t kt, size_t n, rand_prep *rp)
{
    memset(rp, 0, sizeof *rp);
    rp->kt = kt;
    rp->start = calloc((size_t)kt + 2, sizeof *rp->start);
    if (!rp->start) return oom("segment offsets");
    for (size_t i = 0; i < n; i++)
        if (tc[i]) rp->start[tc[i] + 1]++;
    for (uint32_t i = 1; i <= kt + 1; i++) rp->start[i] += rp->start[i - 1];
    rp->nfg = rp->start[kt + 1];
    rp->order = malloc((rp->nfg ? rp->nfg : 1) * sizeof *rp->order);
    uint32_t *fill = malloc(((size_t)kt + 1) * sizeof *fill);
    if (!rp->order || !fill) {
        free(fill);
        rand_prep_free(rp);
        return oom("segment pixel lists");
    }
    memcpy(fill, rp->start, ((size_t)kt + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        if (tc[i]) rp->order[fill[tc[i]]++] = (uint32_t)i;
    free(fill);
    return UNET_OK;
}

static uint64_t rand_f(uint64_t c, int flags) { return (flags & UNET_RAND_PAIRS) ? c * (c ? c - 1 : 0) : c * c; }

static void rand_derive(unet_rand_stats *s)
{
    s->split = s->sum_a ? (double)s->sum_ab / (double)s->sum_a : 1.0;
    s->merge = s->sum_b ? (double)s->sum_ab / (double)s->sum_b : 1.0;
    s->f = (s->split + s->merge) > 0 ? 2.0 * s->split * s->merge / (s->split + s->merge) : 0.0;
    s->error = 1.0 - s->f;
}

/* pc: compact predicted labels 0..kp. cnt, col: kp+1 zeroed uint64 (left
 * zeroed on return for cnt); touched: kp+1 uint32. */
static void rand_compute(const rand_prep *rp, const uint32_t *pc, uint32_t kp, int flags, uint64_t *cnt,
                         uint64_t *col, uint32_t *touched, unet_rand_stats *out)
{
    memset(out, 0, sizeof *out);
    memset(col, 0, ((size_t)kp + 1) * sizeof *col);
    uint64_t singles = 0;
    for (uint32_t i = 1; i <= rp->kt; i++) {
        uint32_t a = rp->start[i], b = rp->start[i + 1];
        out->sum_a += rand_f(b - a, flags);
        uint32_t nt = 0;
        for (uint32_t q = a; q < b; q++) {
            uint32_t j = pc[rp->order[q]];
            if (!cnt[j]) touched[nt++] = j;
            cnt[j]++;
        }
        for (uint32_t t = 0; t < nt; t++) {
            uint32_t j = touched[t];
            uint64_t c = cnt[j];
            cnt[j] = 0;
            if (j == 0 && !(flags & UNET_RAND_PRED_BG_SEGMENT)) {
                singles += c;
            } else {
                out->sum_ab += rand_f(c, flags);
                col[j] += c;
            }
        }
    }
    for (uint32_t j = 0; j <= kp; j++) out->sum_b += rand_f(col[j], flags);
    out->sum_ab += singles * rand_f(1, flags);
    out->sum_b += singles * rand_f(1, flags);
    out->n = rp->nfg;
    rand_derive(out);
}

unet_status unet_rand_fr(const uint32_t *truth, const uint32_t *pred, size_t n, int flags, unet_rand_stats *out)
{
    if (!truth || !pred || !out || n == 0 || n >= UINT32_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_rand_fr: null image or bad pixel count %zu", n);
    if (flags & ~(UNET_RAND_PAIRS | UNET_RAND_PRED_BG_SEGMENT))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_rand_fr: unknown flags 0x%x", (unsigned)flags);
    unet_status st = UNET_OK;
    uint32_t *tc = malloc(n * sizeof *tc), *pc = malloc(n * sizeof *pc);
    uint64_t *cnt = NULL, *col = NULL;
    uint32_t *touched = NULL;
    rand_prep rp = {0};
    uint32_t kt = 0, kp = 0;
    if (!tc || !pc) {
        st = oom("label images");
        goto done;
    }
    if ((st = relabel_compact(truth, n, tc, &kt)) != UNET_OK) goto done;
    if ((st = relabel_compact(pred, n, pc, &kp)) != UNET_OK) goto done;
    if ((st = rand_prepare(tc, kt, n, &rp)) != UNET_OK) goto done;
    cnt = calloc((size_t)kp + 1, sizeof *cnt);
    col = calloc((size_t)kp + 1, sizeof *col);
    touched = malloc(((size_t)kp + 1) * sizeof *touched);
    if (!cnt || !col || !touched) {
        st = oom("the contingency table");
        goto done;
    }
    rand_compute(&rp, pc, kp, flags, cnt, col, touched, out);
done:
    rand_prep_free(&rp);
    free(tc);
    free(pc);
    free(cnt);
    free(col);
    free(touched);
    return st;
}

/* ---- simple points ----------------------------------------------------------
 * A pixel is simple when flipping it changes no topology. In 2D with the
 * (4,8) or (8,4) pair of connectivities this is decided on the 3x3
 * neighbourhood by the topological numbers of Bertrand & Malandain (1994):
 * T_n(x, X) = number of n-components of X n N8*(x) that are n-adjacent to x;
 * x is simple iff T_fg(x, F) == 1 and T_bg(x, B) == 1. Neighbour k of the
 * 8-bit configuration: E, NE, N, NW, W, SW, S, SE (even k = 4-neighbours). */

static const int ring_dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
static const int ring_dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};

typedef struct topo_tables {
    uint8_t t4[256], t8[256];
} topo_tables;

static int topo_number(unsigned cfg, int conn)
{
    int parent[8];
    for (int k = 0; k < 8; k++) parent[k] = k;
    for (int a = 0; a < 8; a++) {
        if (!(cfg >> a & 1)) continue;
        for (int b = a + 1; b < 8; b++) {
            if (!(cfg >> b & 1)) continue;
            int ddx = abs(ring_dx[a] - ring_dx[b]), ddy = abs(ring_dy[a] - ring_dy[b]);
            int adj = conn == 8 ? (ddx <= 1 && ddy <= 1) : (ddx + ddy == 1);
            if (!adj) continue;
            int ra = a, rb = b;
            while (parent[ra] != ra) ra = parent[ra];
            while (parent[rb] != rb) rb = parent[rb];
            if (ra != rb) parent[rb] = ra;
        }
    }
    int counted[8] = {0}, t = 0;
    for (int k = 0; k < 8; k++) {
        if (!(cfg >> k & 1)) continue;
        if (conn == 4 && (k & 1)) continue; /* must be 4-adjacent to the centre */
        int r = k;
        while (parent[r] != r) r = parent[r];
        if (!counted[r]) {
            counted[r] = 1;
            t++;
        }
    }
    return t;
}

static void topo_init(topo_tables *tt)
{
    for (unsigned c = 0; c < 256; c++) {
        tt->t4[c] = (uint8_t)topo_number(c, 4);
        tt->t8[c] = (uint8_t)topo_number(c, 8);
    }
}

static unsigned neighbour_config(const uint8_t *img, int w, int h, int x, int y)
{
    unsigned cfg = 0;
    for (int k = 0; k < 8; k++) {
        int xx = x + ring_dx[k], yy = y + ring_dy[k];
        if (xx >= 0 && yy >= 0 && xx < w && yy < h && img[(size_t)yy * w + xx]) cfg |= 1u << k;
    }
    return cfg;
}

/* The topology of the foreground and background is the same whether the
 * centre is in or out, so the test looks at the neighbours only. */
static int simple_cfg(const topo_tables *tt, unsigned cfg, int fg_conn)
{
    unsigned bg = ~cfg & 0xffu;
    if (fg_conn == 8) return tt->t8[cfg] == 1 && tt->t4[bg] == 1;
    return tt->t4[cfg] == 1 && tt->t8[bg] == 1;
}

int unet_is_simple_point(const uint8_t *img, int w, int h, int x, int y, int fg_connectivity)
{
    if (!img || w <= 0 || h <= 0 || x < 0 || y < 0 || x >= w || y >= h) return 0;
    topo_tables tt;
    topo_init(&tt);
    return simple_cfg(&tt, neighbour_config(img, w, h, x, y), fg_connectivity == 8 ? 8 : 4);
}

/* ---- warping ------------------------------------------------------------------
 * Jain et al. 2010: the warped truth L* is obtained from the truth by flipping
 * simple points only, toward the (binarised) prediction; the warping error is
 * the number of pixels where L* and the prediction still differ. The order
 * is that of the ISBI 2012 scoring code (Fiji, WarpingError.simplePointWarp2d),
 * because the result depends on it (issue 12, item 9): passes over the
 * mismatches of the pass's start, sorted by |prob - t| (larger first; ties in
 * column order, x outer and y inner, as Fiji lists them and its stable sort
 * keeps them), each flipped at once if it is simple in the current image;
 * passes repeat until one flips nothing. */

typedef struct warp_item {
    float pr;
    uint32_t ord; /* column-major position: the tie order */
    uint32_t idx; /* raster index */
} warp_item;

static int warp_item_cmp(const void *pa, const void *pb)
{
    const warp_item *a = pa, *b = pb;
    /* descending, as Java's Float.compare(o2, o1): NaN above everything */
    int an = isnan(a->pr), bn = isnan(b->pr);
    if (an != bn) return an ? -1 : 1;
    if (!an && a->pr != b->pr) return a->pr > b->pr ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

typedef struct warp_ws {
    warp_item *list;
    uint8_t *cur;
} warp_ws;

static void warp_ws_free(warp_ws *ws)
{
    free(ws->list);
    free(ws->cur);
}

static unet_status warp_ws_alloc(warp_ws *ws, size_t n)
{
    ws->list = malloc(n * sizeof *ws->list);
    ws->cur = malloc(n);
    if (!ws->list || !ws->cur) {
        warp_ws_free(ws);
        return oom("the warping queue");
    }
    return UNET_OK;
}

static uint64_t warp_run(const topo_tables *tt, warp_ws *ws, const uint8_t *truth_fg, const uint8_t *target,
                         const float *priority, int w, int h, int fg_conn)
{
    size_t n = (size_t)w * h;
    uint8_t *cur = ws->cur;
    for (size_t i = 0; i < n; i++) cur[i] = truth_fg[i] != 0;
    for (;;) {
        size_t m = 0;
        for (int x = 0; x < w; x++)
            for (int y = 0; y < h; y++) {
                size_t i = (size_t)y * w + x;
                if (cur[i] != (target[i] != 0))
                    ws->list[m++] = (warp_item){priority ? priority[i] : 0.0f, (uint32_t)((size_t)x * h + y),
                                                (uint32_t)i};
            }
        if (m == 0) return 0;
        qsort(ws->list, m, sizeof *ws->list, warp_item_cmp);
        size_t flips = 0;
        for (size_t k = 0; k < m; k++) {
            size_t i = ws->list[k].idx;
            int x = (int)(i % (size_t)w), y = (int)(i / (size_t)w);
            if (!simple_cfg(tt, neighbour_config(cur, w, h, x, y), fg_conn)) continue;
            cur[i] = target[i] != 0;
            flips++;
        }
        if (flips == 0) return m; /* each flip removes one mismatch */
    }
}

unet_status unet_warp_simple_points(const uint8_t *truth_fg, const uint8_t *target, const float *priority,
                                    int w, int h, int fg_connectivity, uint8_t *warped, uint64_t *mismatch)
{
    UNET_TRY(check_image("unet_warp_simple_points", w, h));
    if (!truth_fg || !target || !mismatch)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_warp_simple_points: null image");
    if (fg_connectivity != 4 && fg_connectivity != 8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "unet_warp_simple_points: foreground connectivity %d (use 4 or 8)", fg_connectivity);
    topo_tables tt;
    topo_init(&tt);
    warp_ws ws;
    UNET_TRY(warp_ws_alloc(&ws, (size_t)w * h));
    *mismatch = warp_run(&tt, &ws, truth_fg, target, priority, w, h, fg_connectivity);
    if (warped) memcpy(warped, ws.cur, (size_t)w * h);
    warp_ws_free(&ws);
    return UNET_OK;
}

/* ---- ISBI 2012 ----------------------------------------------------------------- */

void unet_isbi_options_default(unet_isbi_options *o)
{
    memset(o, 0, sizeof *o);
    /* The thresholds of the challenge's Fiji script, generated the same way
     * (for (th = 0.0; th <= 1.0; th += 0.1)): 0, 0.1, ..., 0.9 and, through
     * rounding, 0.9999999999999999 last, so "prob > t" at the last one keeps
     * the pixels with prob == 1 (saturated 8/16-bit maps) instead of being
     * always empty. */
    double th = 0.0;
    int k = 0;
    for (; th <= 1.0 && k < UNET_ISBI_MAX_THRESHOLDS; th += 0.1) o->thresholds[k++] = th;
    o->n_thresholds = k;
    o->warp_fg_connectivity = 4;
}

/* Pixel F-score with the conventions of the Fiji ClassificationStatistics:
 * precision = 1 when there are no false positives, recall = 1 when there are
 * no false negatives, F = 0 when both are 0. */
static double pixel_fscore(uint64_t tp, uint64_t fp, uint64_t fn)
{
    double p = fp == 0 ? 1.0 : (double)tp / (double)(tp + fp);
    double r = fn == 0 ? 1.0 : (double)tp / (double)(tp + fn);
    return (p + r) > 0 ? 2.0 * p * r / (p + r) : 0.0;
}

void unet_isbi_finish(unet_isbi_result *r)
{
    r->pixel_error = r->rand_error = 1.0;
    r->warping_error = NAN;
    r->warping_error_at_best_rand = NAN;
    r->best_threshold_pixel = r->best_threshold_rand = r->best_threshold_warp = NAN;
    int best_rk = -1;
    double best_pf = -1, best_rf = -1;
    uint64_t best_w = UINT64_MAX;
    for (int k = 0; k < r->n_thresholds; k++) {
        unet_isbi_threshold *t = &r->t[k];
        t->pixel_f = pixel_fscore(t->tp, t->fp, t->fn);
        rand_derive(&t->rand);
        if (t->pixel_f > best_pf) {
            best_pf = t->pixel_f;
            r->best_threshold_pixel = t->threshold;
        }
        if (t->rand.f > best_rf) {
            best_rf = t->rand.f;
            r->best_threshold_rand = t->threshold;
            best_rk = k;
        }
        if (r->has_warping && t->warp_mismatch < best_w) {
            best_w = t->warp_mismatch;
            r->best_threshold_warp = t->threshold;
        }
    }
    if (r->n_thresholds > 0) {
        r->pixel_error = 1.0 - best_pf;
        r->rand_error = 1.0 - best_rf;
        if (r->has_warping && r->n_pixels) {
            r->warping_error = (double)best_w / (double)r->n_pixels;
            r->warping_error_at_best_rand = (double)r->t[best_rk].warp_mismatch / (double)r->n_pixels;
        }
    }
    r->pixel_error_plain = r->n_pixels ? (double)r->plain_mismatch / (double)r->n_pixels : NAN;
}

unet_status unet_isbi_eval(const float *prob, const uint32_t *pred_labels, const uint32_t *truth,
                           int truth_is_instances, int w, int h, const unet_isbi_options *opt,
                           unet_isbi_result *out)
{
    UNET_TRY(check_image("unet_isbi_eval", w, h));
    if (!prob || !truth || !out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_isbi_eval: null image");
    unet_isbi_options def;
    if (!opt || opt->n_thresholds == 0) {
        unet_isbi_options_default(&def);
        if (opt) {
            def.warp_fg_connectivity = opt->warp_fg_connectivity ? opt->warp_fg_connectivity : 4;
            def.skip_warping = opt->skip_warping;
        }
        opt = &def;
    }
    if (opt->n_thresholds < 0 || opt->n_thresholds > UNET_ISBI_MAX_THRESHOLDS)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_isbi_eval: %d thresholds (1..%d)", opt->n_thresholds,
                           UNET_ISBI_MAX_THRESHOLDS);
    int fg_conn = opt->warp_fg_connectivity ? opt->warp_fg_connectivity : 4;
    if (fg_conn != 4 && fg_conn != 8)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_isbi_eval: warping connectivity %d (use 4 or 8)",
                           fg_conn);
    size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(prob[i]))
            return unet_seterr(UNET_ERR_DATA,
                               "unet_isbi_eval: prediction pixel (%zu, %zu) is not a finite number; "
                               "probabilities must lie in [0, 1]",
                               i % (size_t)w, i / (size_t)w);

    unet_status st = UNET_OK;
    memset(out, 0, sizeof *out);
    out->n_thresholds = opt->n_thresholds;
    out->n_pixels = n;
    out->has_warping = !opt->skip_warping;

    uint32_t *tc = malloc(n * sizeof *tc), *pc = malloc(n * sizeof *pc), *queue = malloc(n * sizeof *queue);
    uint8_t *tfg = malloc(n), *bin = malloc(n);
    float *prio = opt->skip_warping ? NULL : malloc(n * sizeof *prio);
    uint64_t *cnt = NULL, *col = NULL;
    uint32_t *touched = NULL;
    rand_prep rp = {0};
    warp_ws ws = {0};
    topo_tables tt;
    uint32_t kt = 0, kp = 0;
    if (!tc || !pc || !queue || !tfg || !bin || (!opt->skip_warping && !prio)) {
        st = oom("ISBI work images");
        goto done;
    }
    for (size_t i = 0; i < n; i++) tfg[i] = truth[i] != 0;
    if (truth_is_instances) {
        if ((st = relabel_compact(truth, n, tc, &kt)) != UNET_OK) goto done;
    } else {
        kt = label_components(tfg, w, h, 4, tc, queue);
    }
    if ((st = rand_prepare(tc, kt, n, &rp)) != UNET_OK) goto done;
    if (pred_labels && (st = relabel_compact(pred_labels, n, pc, &kp)) != UNET_OK) goto done;
    /* kp <= n for components; allocate the contingency workspace once. */
    {
        size_t kmax = pred_labels ? (size_t)kp + 1 : n + 1;
        cnt = calloc(kmax, sizeof *cnt);
        col = calloc(kmax, sizeof *col);
        touched = malloc(kmax * sizeof *touched);
        if (!cnt || !col || !touched) {
            st = oom("the contingency table");
            goto done;
        }
    }
    if (!opt->skip_warping) {
        if ((st = warp_ws_alloc(&ws, n)) != UNET_OK) goto done;
        topo_init(&tt);
    }
    for (size_t i = 0; i < n; i++) out->plain_mismatch += (prob[i] > 0.5f) != tfg[i];

    for (int k = 0; k < opt->n_thresholds; k++) {
        unet_isbi_threshold *t = &out->t[k];
        double th = opt->thresholds[k];
        if (!isfinite(th)) {
            st = unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_isbi_eval: threshold %d is not finite", k);
            goto done;
        }
        t->threshold = th;
        for (size_t i = 0; i < n; i++) {
            bin[i] = (double)prob[i] > th;
            if (bin[i]) {
                if (tfg[i]) t->tp++;
                else t->fp++;
            } else {
                if (tfg[i]) t->fn++;
                else t->tn++;
            }
        }
        if (!pred_labels) kp = label_components(bin, w, h, 4, pc, queue);
        rand_compute(&rp, pc, kp, 0, cnt, col, touched, &t->rand);
        if (!opt->skip_warping) {
            for (size_t i = 0; i < n; i++) prio[i] = (float)fabs((double)prob[i] - th);
            t->warp_mismatch = warp_run(&tt, &ws, tfg, bin, prio, w, h, fg_conn);
        }
    }
    unet_isbi_finish(out);
done:
    rand_prep_free(&rp);
    if (!opt->skip_warping) warp_ws_free(&ws);
    free(tc);
    free(pc);
    free(queue);
    free(tfg);
    free(bin);
    free(prio);
    free(cnt);
    free(col);
    free(touched);
    return st;
}

unet_status unet_isbi_pool(const unet_isbi_result *r, int n, unet_isbi_result *out)
{
    if (!r || !out || n <= 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_isbi_pool: no results");
    unet_isbi_result acc;
    memset(&acc, 0, sizeof acc);
    acc.n_thresholds = r[0].n_thresholds;
    acc.has_warping = r[0].has_warping;
    for (int s = 0; s < n; s++) {
        if (r[s].n_thresholds != acc.n_thresholds)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                               "unet_isbi_pool: result %d has %d thresholds, result 0 has %d", s,
                               r[s].n_thresholds, acc.n_thresholds);
        acc.has_warping = acc.has_warping && r[s].has_warping;
        acc.n_pixels += r[s].n_pixels;
        acc.plain_mismatch += r[s].plain_mismatch;
        for (int k = 0; k < acc.n_thresholds; k++) {
            const unet_isbi_threshold *a = &r[s].t[k];
            unet_isbi_threshold *b = &acc.t[k];
            if (s > 0 && a->threshold != b->threshold)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                                   "unet_isbi_pool: threshold %d differs between results (%g vs %g)", k,
                                   a->threshold, b->threshold);
            b->threshold = a->threshold;
            b->tp += a->tp;
            b->fp += a->fp;
            b->fn += a->fn;
            b->tn += a->tn;
            b->rand.n += a->rand.n;
            b->rand.sum_ab += a->rand.sum_ab;
            b->rand.sum_a += a->rand.sum_a;
            b->rand.sum_b += a->rand.sum_b;
            b->warp_mismatch += a->warp_mismatch;
        }
    }
    unet_isbi_finish(&acc);
    *out = acc;
    return UNET_OK;
}

/* ---- Cell Tracking Challenge SEG ---------------------------------------------
 * Maska et al. 2014 / Ulman et al. 2017: a reference object R and a
 * segmented object S match iff |R n S| > 0.5 |R| (so each R has at most one
 * match, and an R covered exactly half is unmatched); J(R,S) = |R n S| /
 * |R u S|, 0 without a match; SEG = mean J over all reference objects. |S|
 * counts every pixel of S, inside the reference background too. */

static double det_of(const unet_object_counts *c)
{
    if (c->n_truth <= 0) return NAN;
    double aogm = 5.0 * c->det_ns + 10.0 * c->det_fn + 1.0 * c->det_fp, aogm0 = 10.0 * c->n_truth;
    return 1.0 - (aogm < aogm0 ? aogm : aogm0) / aogm0;
}

void unet_object_counts_add(unet_object_counts *a, const unet_object_counts *b)
{
    a->n_truth += b->n_truth;
    a->n_pred += b->n_pred;
    a->one_to_one += b->one_to_one;
    a->merged += b->merged;
    a->merges += b->merges;
    a->split += b->split;
    a->missed += b->missed;
    a->false_positives += b->false_positives;
    a->det_ns += b->det_ns;
    a->det_fn += b->det_fn;
    a->det_fp += b->det_fp;
    a->det = det_of(a);
}

/* SEG (seg may be NULL) and the object counts (out may be NULL) from one
 * walk over the truth objects' overlaps with the predicted objects. */
static unet_status seg_counts(const uint32_t *truth, const uint32_t *pred, size_t n, unet_seg_result *seg,
                              unet_object_counts *out_counts)
{
    if (!truth || !pred || (!seg && !out_counts) || n == 0 || n >= UINT32_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "SEG / object counts: null image or bad pixel count %zu", n);
    unet_object_counts local, *out = out_counts ? out_counts : &local;
    if (seg) memset(seg, 0, sizeof *seg);
    unet_status st = UNET_OK;
    uint32_t *tc = malloc(n * sizeof *tc), *pc = malloc(n * sizeof *pc);
    uint64_t *psize = NULL, *cnt = NULL;
    uint32_t *touched = NULL, *match = NULL, *matched_by = NULL, *belongs = NULL, *nbelong = NULL;
    rand_prep rp = {0};
    uint32_t kt = 0, kp = 0;
    memset(out, 0, sizeof *out);
    if (!tc || !pc) {
        st = oom("label images");
        goto done;
    }
    if ((st = relabel_compact(truth, n, tc, &kt)) != UNET_OK) goto done;
    if ((st = relabel_compact(pred, n, pc, &kp)) != UNET_OK) goto done;
    if ((st = rand_prepare(tc, kt, n, &rp)) != UNET_OK) goto done;
    psize = calloc((size_t)kp + 1, sizeof *psize);
    cnt = calloc((size_t)kp + 1, sizeof *cnt);
    touched = malloc(((size_t)kp + 1) * sizeof *touched);
    match = calloc((size_t)kt + 1, sizeof *match);
    nbelong = calloc((size_t)kt + 1, sizeof *nbelong);
    matched_by = calloc((size_t)kp + 1, sizeof *matched_by);
    belongs = calloc((size_t)kp + 1, sizeof *belongs);
    if (!psize || !cnt || !touched || !match || !nbelong || !matched_by || !belongs) {
        st = oom("object tables");
        goto done;
    }
    for (size_t i = 0; i < n; i++) psize[pc[i]]++;
    out->n_truth = (int)kt;
    out->n_pred = (int)kp;
    for (uint32_t i = 1; i <= kt; i++) {
        uint32_t a = rp.start[i], b = rp.start[i + 1], nt = 0;
        uint64_t rsize = b - a;
        for (uint32_t q = a; q < b; q++) {
            uint32_t j = pc[rp.order[q]];
            if (!cnt[j]) touched[nt++] = j;
            cnt[j]++;
        }
        for (uint32_t t = 0; t < nt; t++) {
            uint32_t j = touched[t];
            uint64_t c = cnt[j];
            cnt[j] = 0;
            if (j == 0) continue;
            if (2 * c > rsize) {
                match[i] = j;
                matched_by[j]++;
                if (seg) {
                    seg->n_matched++;
                    seg->sum_jaccard += (double)c / (double)(rsize + psize[j] - c);
                }
            }
            if (2 * c > psize[j]) {
                belongs[j] = i;
                nbelong[i]++;
            }
        }
    }
    for (uint32_t j = 1; j <= kp; j++) {
        if (matched_by[j] >= 2) {
            out->merges++;
            out->det_ns += (int)matched_by[j] - 1;
        }
        if (!matched_by[j]) {
            out->det_fp++;
            if (!belongs[j]) out->false_positives++;
        }
    }
    for (uint32_t i = 1; i <= kt; i++) {
        if (!match[i]) out->det_fn++;
        if (match[i] && matched_by[match[i]] >= 2) out->merged++;
        else if (nbelong[i] >= 2) out->split++;
        else if (match[i]) out->one_to_one++;
        else out->missed++;
    }
    out->det = det_of(out);
    if (seg) {
        seg->n_truth = (int)kt;
        seg->seg = kt ? seg->sum_jaccard / kt : NAN;
    }
done:
    rand_prep_free(&rp);
    free(tc), free(pc), free(psize), free(cnt), free(touched);
    free(match), free(matched_by), free(belongs), free(nbelong);
    return st;
}

/* The label images of a 2-D comparison: a binary side (is_mask) becomes its
 * 4-connected components; *tl / *pl are NULL when the input is used as is. */
static unet_status labels_2d(const uint32_t *truth, int truth_is_mask, const uint32_t *pred, int pred_is_mask, int w,
                             int h, uint32_t **tl, uint32_t **pl)
{
    size_t n = (size_t)w * h;
    *tl = *pl = NULL;
    uint32_t *queue = malloc(n * sizeof *queue);
    uint8_t *m = malloc(n);
    unet_status st = UNET_OK;
    if (!queue || !m) {
        st = oom("component labels");
        goto done;
    }
    for (int side = 0; side < 2; side++) {
        const uint32_t *in = side ? pred : truth;
        if (!(side ? pred_is_mask : truth_is_mask)) continue;
        uint32_t *lab = malloc(n * sizeof *lab);
        if (!lab) {
            st = oom("component labels");
            goto done;
        }
        for (size_t i = 0; i < n; i++) m[i] = in[i] != 0;
        label_components(m, w, h, 4, lab, queue);
        *(side ? pl : tl) = lab;
    }
done:
    free(queue);
    free(m);
    if (st != UNET_OK) {
        free(*tl), free(*pl);
        *tl = *pl = NULL;
    }
    return st;
}

unet_status unet_seg_ctc(const uint32_t *truth, const uint32_t *pred, size_t n, unet_seg_result *out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_seg_ctc: null result");
    return seg_counts(truth, pred, n, out, NULL);
}

unet_status unet_object_counts_compute(const uint32_t *truth, const uint32_t *pred, size_t n,
                                       unet_object_counts *out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_object_counts_compute: null result");
    return seg_counts(truth, pred, n, NULL, out);
}

unet_status unet_seg_ctc_2d(const uint32_t *truth, int truth_is_mask, const uint32_t *pred, int pred_is_mask, int w,
                            int h, unet_seg_result *out)
{
    return unet_seg_counts_2d(truth, truth_is_mask, pred, pred_is_mask, w, h, out, NULL);
}

unet_status unet_seg_counts_2d(const uint32_t *truth, int truth_is_mask, const uint32_t *pred, int pred_is_mask,
                               int w, int h, unet_seg_result *seg, unet_object_counts *counts)
{
    UNET_TRY(check_image("unet_seg_counts_2d", w, h));
    if (!truth || !pred || (!seg && !counts))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_seg_counts_2d: null argument");
    uint32_t *tl, *pl;
    UNET_TRY(labels_2d(truth, truth_is_mask, pred, pred_is_mask, w, h, &tl, &pl));
    size_t n = (size_t)w * h;
    unet_status st = UNET_OK;
    st = seg_counts(tl ? tl : truth, pl ? pl : pred, n, seg, counts);
    free(tl);
    free(pl);
    return st;
}

/* ---- IoU / Dice ---------------------------------------------------------------- */

unet_status unet_overlap_binary(const uint8_t *truth, const uint8_t *pred, size_t n, unet_overlap_result *out)
{
    if (!truth || !pred || !out || n == 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_overlap_binary: null or empty image");
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        int t = truth[i] != 0, p = pred[i] != 0;
        if (t && p) out->tp++;
        else if (p) out->fp++;
        else if (t) out->fn++;
        else out->tn++;
    }
    uint64_t u = out->tp + out->fp + out->fn;
    out->iou = u ? (double)out->tp / (double)u : 1.0;
    out->dice = u ? 2.0 * (double)out->tp / (double)(2 * out->tp + out->fp + out->fn) : 1.0;
    return UNET_OK;
}

unet_status unet_iou_classes(const uint32_t *truth, const uint32_t *pred, size_t n, int n_classes, double *iou,
                             double *miou)
{
    if (!truth || !pred || !miou || n == 0 || n_classes <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_iou_classes: null/empty image or %d classes",
                           n_classes);
    uint64_t *inter = calloc((size_t)n_classes * 3, sizeof *inter);
    if (!inter) return oom("class tables");
    uint64_t *tcount = inter + n_classes, *pcount = tcount + n_classes;
    for (size_t i = 0; i < n; i++) {
        if (truth[i] >= (uint32_t)n_classes || pred[i] >= (uint32_t)n_classes) {
            uint32_t bad = truth[i] >= (uint32_t)n_classes ? truth[i] : pred[i];
            free(inter);
            return unet_seterr(UNET_ERR_DATA,
                               "unet_iou_classes: pixel %zu has class %u but there are only %d classes (0..%d)",
                               i, (unsigned)bad, n_classes, n_classes - 1);
        }
        tcount[truth[i]]++;
        pcount[pred[i]]++;
        if (truth[i] == pred[i]) inter[truth[i]]++;
    }
    double sum = 0;
    int present = 0;
    for (int c = 0; c < n_classes; c++) {
        uint64_t u = tcount[c] + pcount[c] - inter[c];
        double v = u ? (double)inter[c] / (double)u : NAN;
        if (iou) iou[c] = v;
        if (u) {
            sum += v;
            present++;
        }
    }
    *miou = present ? sum / present : NAN;
    free(inter);
    return UNET_OK;
}
