/* Weight map (weightmap.h): exact EDT, connected components, separating
 * border, class balance, border term, cache. Host-only: needs no OpenCL. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "unetcl/weightmap.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- references --------------------------------------------------------------- */

/* Brute-force exact distance to the nearest nonzero pixel (INF if none). */
static void ref_edt(const uint8_t *m, int w, int h, double *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double best = INFINITY;
            for (int v = 0; v < h; v++)
                for (int u = 0; u < w; u++)
                    if (m[v * w + u]) {
                        double d = (double)(x - u) * (x - u) + (double)(y - v) * (y - v);
                        if (d < best) best = d;
                    }
            out[y * w + x] = sqrt(best);
        }
}

/* Straightforward reference of the whole weight map (see weightmap.h for
 * the definitions): border = 8-neighbour of another nonzero id; d1/d2 by
 * brute force over every surviving pixel of every cell; border term on
 * background only; w_c = N / (K n_k). */
static void ref_weightmap(const int32_t *in, int w, int h, double w0, double sigma, int border, int32_t *cls,
                          double *wt)
{
    int n = w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int a = in[y * w + x], c = a > 0;
            if (c && border)
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        int u = x + dx, v = y + dy;
                        if (u >= 0 && u < w && v >= 0 && v < h && in[v * w + u] > 0 && in[v * w + u] != a) c = 0;
                    }
            cls[y * w + x] = c;
        }
    double cnt[2] = {0, 0};
    for (int i = 0; i < n; i++) cnt[cls[i]] += 1;
    int K = (cnt[0] > 0) + (cnt[1] > 0);
    double wc[2];
    for (int k = 0; k < 2; k++) wc[k] = cnt[k] > 0 ? n / (K * cnt[k]) : 1.0;
    /* distinct ids */
    int32_t *ids = malloc(sizeof *ids * n);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (in[i] <= 0) continue;
        int seen = 0;
        for (int j = 0; j < m; j++) seen |= ids[j] == in[i];
        if (!seen) ids[m++] = in[i];
    }
    double *dc = malloc(sizeof *dc * (m ? m : 1));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = y * w + x;
            if (cls[i]) {
                wt[i] = wc[1];
                continue;
            }
            for (int c = 0; c < m; c++) dc[c] = INFINITY;
            for (int j = 0; j < n; j++) {
                if (!cls[j]) continue;
                int c = 0;
                while (ids[c] != in[j]) c++;
                double du = (j % w) - x, dv = (j / w) - y;
                double d = sqrt(du * du + dv * dv);
                if (d < dc[c]) dc[c] = d;
            }
            double b1 = INFINITY, b2 = INFINITY;
            for (int c = 0; c < m; c++) {
                if (dc[c] < b1) {
                    b2 = b1;
                    b1 = dc[c];
                } else if (dc[c] < b2)
                    b2 = dc[c];
            }
            wt[i] = wc[0] + (isfinite(b2) ? w0 * exp(-(b1 + b2) * (b1 + b2) / (2 * sigma * sigma)) : 0.0);
        }
    free(ids);
    free(dc);
}

/* Random instance image: overlapping/touching rectangles and discs with ids
 * from `idv` (non-contiguous on purpose). */
static void random_instances(tu_rng *r, int w, int h, int nshapes, const int32_t *idv, int nid, int32_t *out)
{
    memset(out, 0, sizeof *out * w * h);
    for (int s = 0; s < nshapes; s++) {
        int32_t id = idv[s % nid];
        int cx = (int)(tu_uniform(r) * w), cy = (int)(tu_uniform(r) * h);
        int rad = 1 + (int)(tu_uniform(r) * 6);
        int disc = tu_uniform(r) < 0.5;
        for (int y = cy - rad; y <= cy + rad; y++)
            for (int x = cx - rad; x <= cx + rad; x++) {
                if (x < 0 || y < 0 || x >= w || y >= h) continue;
                if (disc && (x - cx) * (x - cx) + (y - cy) * (y - cy) > rad * rad) continue;
                out[y * w + x] = id;
            }
    }
}

/* ---- tests -------------------------------------------------------------------- */

static void test_edt_bruteforce(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1}, {1, 17}, {17, 1}, {2, 2}, {5, 7}, {13, 9}, {31, 23}, {64, 3}, {3, 40}};
    static const double dens[] = {0.0, 0.01, 0.05, 0.3, 0.9, 1.0};
    tu_rng r;
    tu_seed(&r, 11);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t k = 0; k < sizeof dens / sizeof dens[0]; k++) {
            int w = sizes[s][0], h = sizes[s][1], n = w * h;
            uint8_t *m = malloc(n);
            float *got = malloc(sizeof *got * n);
            double *want = malloc(sizeof *want * n);
            for (int i = 0; i < n; i++) m[i] = tu_uniform(&r) < dens[k];
            if (dens[k] > 0 && dens[k] < 1 && n > 4) m[(int)(tu_uniform(&r) * n)] = 1; /* at least one */
            TU_OK(unet_edt(m, w, h, got));
            ref_edt(m, w, h, want);
            int nfeat = 0;
            for (int i = 0; i < n; i++) nfeat += m[i] != 0;
            if (nfeat == 0) {
                for (int i = 0; i < n; i++) assert_true(isinf(got[i]) && got[i] > 0);
            } else {
                char what[64];
                snprintf(what, sizeof what, "EDT %dx%d density %.2f", w, h, dens[k]);
                /* exact integer squared distances, then one float rounding of sqrt */
                tu_assert_close(what, got, want, n, 0.0, 1e-6);
            }
            free(m);
            free(got);
            free(want);
        }
    /* single feature pixel in a corner: the distance to the far corner is exact */
    uint8_t m2[40 * 30] = {0};
    float d2[40 * 30];
    m2[0] = 1;
    TU_OK(unet_edt(m2, 40, 30, d2));
    assert_true(fabs(d2[40 * 30 - 1] - sqrt(39.0 * 39 + 29 * 29)) < 1e-4);
}

static void test_components(void **state)
{
    (void)state;
    enum { W = 20, H = 12 };
    /* blob letters: same letter = one 8-connected component by construction */
    static const char *pic[H] = {
        "aa.....b....c.......",
        "aa....b.....c...dddd",
        "..a..b......c...d..d",
        "...........cc...d..d",
        "e...............dddd",
        "....ffff............",
        "....f..f.....g......",
        "....f..f....g.g.....",
        "....ffff...g...g....",
        "............g.g...hh",
        ".............g....h.",
        "i.................hh",
    };
    uint8_t m[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) m[y * W + x] = pic[y][x] != '.';
    int32_t lab[W * H];
    int n = -1;
    TU_OK(unet_instances_from_mask(m, W, H, lab, &n));
    assert_int_equal(n, 9); /* a..i */
    /* same letter <=> same label; background <=> 0; labels 1..n */
    for (int i = 0; i < W * H; i++) {
        char ci = pic[i / W][i % W];
        assert_true((ci == '.') == (lab[i] == 0));
        assert_true(lab[i] >= 0 && lab[i] <= n);
        for (int j = 0; j < W * H; j++) {
            char cj = pic[j / W][j % W];
            if (ci != '.' && cj != '.') assert_true((ci == cj) == (lab[i] == lab[j]));
        }
    }
    /* first pixel (raster order) gets 1 */
    assert_int_equal(lab[0], 1);
    /* empty mask */
    memset(m, 0, sizeof m);
    TU_OK(unet_instances_from_mask(m, W, H, lab, &n));
    assert_int_equal(n, 0);
    /* 1xN: alternating runs */
    uint8_t row[9] = {1, 1, 0, 1, 0, 0, 1, 1, 1};
    int32_t rl[9];
    TU_OK(unet_instances_from_mask(row, 9, 1, rl, &n));
    assert_int_equal(n, 3);
    assert_int_equal(rl[8], 3);
}

/* Two squares touching along a vertical edge: a 2-pixel separating line. */
static void test_touching_squares(void **state)
{
    (void)state;
    enum { W = 40, H = 30 };
    int32_t in[W * H] = {0}, cls[W * H];
    float wt[W * H];
    for (int y = 10; y < 20; y++)
        for (int x = 10; x < 30; x++) in[y * W + x] = x < 20 ? 1 : 2;
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    unet_weightmap_info info;
    TU_OK(unet_weightmap_compute_ex(in, W, H, &o, cls, wt, &info));
    assert_int_equal(info.cells, 2);
    assert_int_equal(info.border_pixels, 20);
    /* hand-computed class weights: 180 foreground, 1020 background pixels */
    double wc0 = 1200.0 / (2 * 1020.0), wc1 = 1200.0 / (2 * 180.0);
    assert_true(fabs(info.wc[0] - wc0) < 1e-12 && fabs(info.wc[1] - wc1) < 1e-12);
    double line = wc0 + 10.0 * exp(-(1.0 + 2.0) * (1.0 + 2.0) / (2 * 25.0)); /* d1 = 1, d2 = 2 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int i = y * W + x;
            int is_line = y >= 10 && y < 20 && (x == 19 || x == 20);
            int is_cell = y >= 10 && y < 20 && x >= 10 && x < 30 && !is_line;
            assert_int_equal(cls[i], is_cell);
            if (is_cell) assert_true(fabs(wt[i] - wc1) <= 1e-5 * wc1);
            if (is_line) {
                if (fabs(wt[i] - line) > 1e-5 * line)
                    fail_msg("line pixel (%d,%d): %.7g, want %.7g", x, y, (double)wt[i], line);
                /* the "about w_c(bg) + w0" of the paper: exp(-9/50) = 0.835 */
                assert_true(wt[i] >= wc0 + 0.8 * o.w0);
            }
        }
    /* far away from both cells the border term vanishes */
    assert_true(fabs(wt[0] - wc0) < 1e-6);
    /* the maximum is on the separating line, below max(w_c) + w0 */
    assert_true(info.max_weight <= wc1 + o.w0 + 1e-9);
    assert_true(fabs(info.max_weight - line) < 1e-6 * line);

    /* border off keeps all cell pixels */
    o.border = 0;
    TU_OK(unet_weightmap_compute_ex(in, W, H, &o, cls, wt, &info));
    assert_int_equal(info.border_pixels, 0);
    assert_int_equal(info.class_pixels[1], 200);
}

/* Two cells with a gap of 2d-1 pixels: on the row between them every pixel
 * has d1 + d2 = 2d; a lone cell gets no border term (d2 = infinity). */
static void test_gap_and_lone_cell(void **state)
{
    (void)state;
    enum { W = 50, H = 30 };
    int32_t in[W * H], cls[W * H];
    float wt[W * H];
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    o.balance = UNET_WM_BALANCE_NONE;
    for (int d = 1; d <= 6; d++) {
        memset(in, 0, sizeof in);
        for (int y = 8; y < 20; y++) {
            for (int x = 5; x <= 12; x++) in[y * W + x] = 7;
            for (int x = 12 + 2 * d; x <= 12 + 2 * d + 8 && x < W; x++) in[y * W + x] = 9;
        }
        TU_OK(unet_weightmap_compute(in, W, H, &o, cls, wt));
        double want = 1.0 + o.w0 * exp(-(2.0 * d) * (2.0 * d) / (2 * o.sigma * o.sigma));
        for (int y = 8; y < 20; y++)
            for (int x = 13; x < 12 + 2 * d; x++)
                if (fabs(wt[y * W + x] - want) > 1e-5 * want)
                    fail_msg("gap %d, pixel (%d,%d): %.7g, want 1 + w0 exp(-(2d)^2/(2 sigma^2)) = %.7g", 2 * d - 1, x,
                             y, (double)wt[y * W + x], want);
    }
    /* lone cell: w = w_c everywhere */
    memset(in, 0, sizeof in);
    for (int y = 10; y < 16; y++)
        for (int x = 20; x < 27; x++) in[y * W + x] = 5;
    unet_weightmap_options_default(&o);
    unet_weightmap_info info;
    TU_OK(unet_weightmap_compute_ex(in, W, H, &o, cls, wt, &info));
    for (int i = 0; i < W * H; i++) assert_true(fabs(wt[i] - info.wc[cls[i]]) < 1e-6 * info.wc[cls[i]]);
}

/* The whole map against the brute-force reference on random touching and
 * overlapping cells with non-contiguous ids; exact and truncated EDT. */
static void test_random_vs_reference(void **state)
{
    (void)state;
    static const int sizes[][2] = {{37, 29}, {1, 23}, {23, 2}, {16, 16}};
    static const int32_t idv[] = {3, 70, 1000, 5, 123456, 2};
    tu_rng r;
    tu_seed(&r, 5);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int rep = 0; rep < 3; rep++) {
            int w = sizes[s][0], h = sizes[s][1], n = w * h;
            int32_t *in = malloc(sizeof *in * n), *cls = malloc(sizeof *cls * n), *rcls = malloc(sizeof *rcls * n);
            float *wt = malloc(sizeof *wt * n);
            double *rw = malloc(sizeof *rw * n);
            random_instances(&r, w, h, 4 + rep * 3, idv, 6, in);
            double sigma = rep == 0 ? 5.0 : rep == 1 ? 2.0 : 1.0;
            ref_weightmap(in, w, h, 10.0, sigma, 1, rcls, rw);
            unet_weightmap_options o;
            unet_weightmap_options_default(&o);
            o.sigma = sigma;
            for (int cut = 0; cut < 2; cut++) {
                o.exp_cutoff = cut ? 1e-6 : 0.0;
                TU_OK(unet_weightmap_compute(in, w, h, &o, cls, wt));
                for (int i = 0; i < n; i++) assert_int_equal(cls[i], rcls[i]);
                char what[96];
                snprintf(what, sizeof what, "weight map %dx%d sigma %g cutoff %g", w, h, sigma, o.exp_cutoff);
                /* float rounding + truncated tail below w0 * exp_cutoff */
                tu_assert_close(what, wt, rw, n, 1e-5 + o.w0 * o.exp_cutoff, 1e-6);
            }
            free(in);
            free(cls);
            free(rcls);
            free(wt);
            free(rw);
        }
}

/* Non-contiguous ids give the same map as ids 1..n. */
static void test_id_invariance(void **state)
{
    (void)state;
    enum { W = 45, H = 33 };
    static const int32_t a[] = {1, 2, 3, 4}, b[] = {1000, 3, 70, 99999};
    int32_t ia[W * H], ib[W * H], ca[W * H], cb[W * H];
    float wa[W * H], wb[W * H];
    tu_rng r1, r2;
    tu_seed(&r1, 77);
    tu_seed(&r2, 77);
    random_instances(&r1, W, H, 14, a, 4, ia);
    random_instances(&r2, W, H, 14, b, 4, ib);
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    TU_OK(unet_weightmap_compute(ia, W, H, &o, ca, wa));
    TU_OK(unet_weightmap_compute(ib, W, H, &o, cb, wb));
    assert_memory_equal(ca, cb, sizeof ca);
    assert_memory_equal(wa, wb, sizeof wa);
}

static void test_class_balance(void **state)
{
    (void)state;
    enum { W = 31, H = 17 };
    static const int32_t idv[] = {4, 9};
    int32_t in[W * H], in2[W * H], cls[W * H];
    float wt[W * H];
    tu_rng r;
    tu_seed(&r, 3);
    random_instances(&r, W, H, 6, idv, 2, in);
    random_instances(&r, W, H, 3, idv, 2, in2);
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    o.w0 = 0.0; /* weights = w_c alone */
    TU_OK(unet_weightmap_compute(in, W, H, &o, cls, wt));
    double mean = 0, n1 = 0;
    for (int i = 0; i < W * H; i++) {
        mean += wt[i];
        n1 += cls[i];
    }
    mean /= W * H;
    double n0 = W * H - n1;
    assert_true(n0 > 0 && n1 > 0);
    assert_true(fabs(mean - 1.0) < 1e-6);
    float w0v = 0, w1v = 0;
    for (int i = 0; i < W * H; i++) *(cls[i] ? &w1v : &w0v) = wt[i];
    assert_true(fabs((double)w0v / w1v - n1 / n0) < 1e-6 * (n1 / n0)); /* inverse frequency ratio */

    /* no balance: all ones */
    o.balance = UNET_WM_BALANCE_NONE;
    TU_OK(unet_weightmap_compute(in, W, H, &o, cls, wt));
    for (int i = 0; i < W * H; i++) assert_true(wt[i] == 1.0f);

    /* whole-training-set mode: counts over two images */
    double counts[2] = {0, 0};
    TU_OK(unet_weightmap_count_classes(in, W, H, &o, counts));
    TU_OK(unet_weightmap_count_classes(in2, W, H, &o, counts));
    assert_true(counts[0] + counts[1] == 2.0 * W * H);
    o.balance = UNET_WM_BALANCE_GIVEN;
    o.class_counts[0] = counts[0];
    o.class_counts[1] = counts[1];
    double mean2 = 0;
    for (int im = 0; im < 2; im++) {
        TU_OK(unet_weightmap_compute(im ? in2 : in, W, H, &o, cls, wt));
        for (int i = 0; i < W * H; i++) {
            double want = 2.0 * W * H / (2 * counts[cls[i]]);
            assert_true(fabs(wt[i] - want) < 1e-6 * want);
            mean2 += wt[i];
        }
    }
    assert_true(fabs(mean2 / (2.0 * W * H) - 1.0) < 1e-6); /* mean 1 over the set */
}

static void test_empty_and_tiny(void **state)
{
    (void)state;
    enum { W = 19, H = 7 };
    int32_t in[W * H] = {0}, cls[W * H];
    float wt[W * H];
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    TU_OK(unet_weightmap_compute(in, W, H, &o, cls, wt));
    for (int i = 0; i < W * H; i++) {
        assert_true(isfinite(wt[i]));
        assert_true(wt[i] == 1.0f);
        assert_int_equal(cls[i], 0);
    }
    /* all foreground, one cell */
    for (int i = 0; i < W * H; i++) in[i] = 8;
    TU_OK(unet_weightmap_compute(in, W, H, &o, cls, wt));
    for (int i = 0; i < W * H; i++) assert_true(wt[i] == 1.0f && cls[i] == 1);
    /* 1x1 */
    int32_t one = 5, c1;
    float w1;
    TU_OK(unet_weightmap_compute(&one, 1, 1, &o, &c1, &w1));
    assert_true(c1 == 1 && w1 == 1.0f);
    /* NULL outputs are allowed */
    TU_OK(unet_weightmap_compute(in, W, H, &o, NULL, NULL));
}

static void test_bad_input(void **state)
{
    (void)state;
    int32_t in[6] = {0, 1, 2, -3, 0, 0};
    float wt[6];
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    assert_int_equal(unet_weightmap_compute(in, 3, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "negative"));
    in[3] = 3;
    assert_int_equal(unet_weightmap_compute(in, 0, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_weightmap_compute(NULL, 3, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    o.sigma = 0;
    assert_int_equal(unet_weightmap_compute(in, 3, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    o.sigma = 5;
    o.w0 = NAN;
    assert_int_equal(unet_weightmap_compute(in, 3, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    o.w0 = 10;
    o.balance = UNET_WM_BALANCE_GIVEN; /* counts all zero */
    assert_int_equal(unet_weightmap_compute(in, 3, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    o.balance = (unet_wm_balance)7;
    assert_int_equal(unet_weightmap_compute(in, 3, 2, &o, NULL, wt), UNET_ERR_INVALID_ARGUMENT);
    uint8_t m[2] = {1, 0};
    float d[2];
    assert_int_equal(unet_edt(m, -1, 2, d), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_weightmap_compute(in, 3, 2, (unet_weightmap_options[]){{10, 5, UNET_WM_BALANCE_IMAGE, {0, 0}, 1, 1e-6}},
                                 NULL, wt));
}

static void test_cache(void **state)
{
    (void)state;
    char dir[] = "/tmp/unetcl_wm_cacheXXXXXX";
    assert_non_null(mkdtemp(dir));
    char label[300], sub[300];
    snprintf(label, sizeof label, "%s/label.bin", dir);
    snprintf(sub, sizeof sub, "%s/cache/a", dir);
    enum { W = 21, H = 13 };
    int32_t in[W * H], c1[W * H], c2[W * H];
    float w1[W * H], w2[W * H];
    static const int32_t idv[] = {1, 2, 3};
    tu_rng r;
    tu_seed(&r, 9);
    random_instances(&r, W, H, 5, idv, 3, in);
    FILE *f = fopen(label, "wb");
    assert_non_null(f);
    fwrite(in, sizeof in, 1, f);
    fclose(f);
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    int hit = -1;
    TU_OK(unet_weightmap_cached(sub, label, NULL, in, W, H, &o, c1, w1, &hit));
    assert_int_equal(hit, 0);
    TU_OK(unet_weightmap_cached(sub, label, NULL, NULL, W, H, &o, c2, w2, &hit));
    assert_int_equal(hit, 1);
    assert_memory_equal(c1, c2, sizeof c1);
    assert_memory_equal(w1, w2, sizeof w1);
    int32_t c3[W * H];
    float w3[W * H];
    TU_OK(unet_weightmap_compute(in, W, H, &o, c3, w3));
    assert_memory_equal(w1, w3, sizeof w1);
    /* other options: miss */
    o.sigma = 3;
    TU_OK(unet_weightmap_cached(sub, label, NULL, in, W, H, &o, c2, w2, &hit));
    assert_int_equal(hit, 0);
    assert_memory_not_equal(w1, w2, sizeof w1);
    /* another variant of the same file: miss */
    TU_OK(unet_weightmap_cached(sub, label, "binary", in, W, H, &o, c2, w2, &hit));
    assert_int_equal(hit, 0);
    /* corrupt (truncate) every entry: recomputed, not trusted */
    o.sigma = 5;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "for f in %s/wm_*.bin; do truncate -s 100 \"$f\"; done", sub);
    assert_int_equal(system(cmd), 0);
    TU_OK(unet_weightmap_cached(sub, label, NULL, in, W, H, &o, c2, w2, &hit));
    assert_int_equal(hit, 0);
    assert_memory_equal(w1, w2, sizeof w1);
    /* missing label file: I/O error */
    assert_int_equal(unet_weightmap_cached(sub, "/nonexistent/x.png", NULL, in, W, H, &o, c2, w2, &hit), UNET_ERR_IO);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- real data ---------------------------------------------------------------- */

static int32_t *read_png_gray(const char *path, int *w, int *h)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    int32_t *out = NULL;
    png_bytep *rows = NULL;
    if (setjmp(png_jmpbuf(p))) {
        free(out);
        out = NULL;
        goto end;
    }
    png_init_io(p, f);
    png_read_info(p, info);
    int bd = png_get_bit_depth(p, info), ct = png_get_color_type(p, info);
    if (ct != PNG_COLOR_TYPE_GRAY) goto end;
    if (bd < 8) png_set_expand_gray_1_2_4_to_8(p);
    if (bd == 16) png_set_swap(p); /* little-endian host assumed by the test */
    png_read_update_info(p, info);
    *w = (int)png_get_image_width(p, info);
    *h = (int)png_get_image_height(p, info);
    size_t rb = png_get_rowbytes(p, info);
    unsigned char *buf = malloc(rb * (size_t)*h);
    rows = malloc(sizeof *rows * *h);
    for (int y = 0; y < *h; y++) rows[y] = buf + rb * y;
    png_read_image(p, rows);
    out = malloc(sizeof *out * (size_t)*w * *h);
    for (int y = 0; y < *h; y++)
        for (int x = 0; x < *w; x++)
            out[(size_t)y * *w + x] = bd == 16 ? ((uint16_t *)rows[y])[x] : rows[y][x];
    free(buf);
end:
    free(rows);
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
    return out;
}

static void test_dic_hela(void **state)
{
    (void)state;
    const char *root = tu_shared_data();
    if (!root) {
        print_message("  shared data not found: skipped\n");
        skip();
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/dic-hela/01/labels/t002.png", root);
    int w = 0, h = 0;
    int32_t *in = read_png_gray(path, &w, &h);
    if (!in) {
        print_message("  %s not readable: skipped\n", path);
        skip();
    }
    size_t n = (size_t)w * h;
    int32_t *cls = malloc(sizeof *cls * n);
    float *wt = malloc(sizeof *wt * n);
    unet_weightmap_options o;
    unet_weightmap_options_default(&o);
    unet_weightmap_info info;
    TU_OK(unet_weightmap_compute_ex(in, w, h, &o, cls, wt, &info));
    print_message("  t002: %dx%d, %d cells, %lld border pixels, w_c = %.3f / %.3f, max weight %.3f\n", w, h,
                  info.cells, info.border_pixels, info.wc[0], info.wc[1], info.max_weight);
    assert_true(info.cells >= 2);
    assert_true(info.border_pixels > 0);
    double wcmax = info.wc[0] > info.wc[1] ? info.wc[0] : info.wc[1];
    long long high = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(isfinite(wt[i]));
        assert_true(wt[i] >= (float)(info.wc[0] < info.wc[1] ? info.wc[0] : info.wc[1]) * 0.999999f);
        assert_true(wt[i] <= (float)(wcmax + o.w0) * 1.000001f);
        assert_true(cls[i] == 0 || in[i] > 0);
        if (wt[i] > info.wc[0] + 0.5 * o.w0) high++;
    }
    assert_true(high > 0); /* narrow gaps between cells carry the border weight */
    /* after the border operation no two cells are 8-adjacent */
    for (int y = 0; y < h; y++)
        for (int x = 0; x + 1 < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!cls[i]) continue;
            for (int dy = 0; dy <= 1 && y + dy < h; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    if (x + dx < 0 || (dy == 0 && dx <= 0)) continue;
                    size_t j = (size_t)(y + dy) * w + x + dx;
                    if (cls[j]) assert_int_equal(in[i], in[j]);
                }
        }
    free(in);
    free(cls);
    free(wt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edt_bruteforce),     cmocka_unit_test(test_components),
        cmocka_unit_test(test_touching_squares),   cmocka_unit_test(test_gap_and_lone_cell),
        cmocka_unit_test(test_random_vs_reference), cmocka_unit_test(test_id_invariance),
        cmocka_unit_test(test_class_balance),      cmocka_unit_test(test_empty_and_tiny),
        cmocka_unit_test(test_bad_input),          cmocka_unit_test(test_cache),
        cmocka_unit_test(test_dic_hela),
    };
    /* host-only: no OpenCL device needed */
    return cmocka_run_group_tests_name("weightmap", tests, NULL, NULL);
}
