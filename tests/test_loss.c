/* Pixel-wise softmax and weighted softmax cross-entropy against a plain-C
 * double reference: loss, weight sum, correct count and d loss / d logits,
 * with zero weights, ignored labels (outside [0,K)), NULL weights, several
 * reduction work-groups, logits of +-1e4; finite differences of the double
 * reference; bitwise repeatability; argument errors. */
#include "testutil.h"
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ref_out { double loss, wsum, correct; } ref_out;

/* -log softmax(x)(l) of one pixel, double, stable. */
static double pixel_nll(const double *x, size_t stride, int k, int l)
{
    double m = x[0];
    for (int c = 1; c < k; c++) m = fmax(m, x[c * stride]);
    double s = 0.0;
    for (int c = 0; c < k; c++) s += exp(x[c * stride] - m);
    return (m - x[l * stride]) + log(s);
}

static ref_out ref_xent(const double *x, const int *lab, const float *wt, int k, size_t p, double scale,
                        double *dl)
{
    ref_out o = {0, 0, 0};
    for (size_t i = 0; i < p; i++) {
        int l = lab[i];
        int valid = l >= 0 && l < k;
        double w = valid ? (wt ? wt[i] : 1.0) : 0.0;
        double m = x[i];
        int am = 0;
        for (int c = 1; c < k; c++)
            if (x[c * p + i] > m) m = x[c * p + i], am = c;
        double s = 0.0;
        for (int c = 0; c < k; c++) s += exp(x[c * p + i] - m);
        if (valid) {
            o.loss += w * pixel_nll(x + i, p, k, l);
            o.wsum += w;
            o.correct += am == l;
        }
        for (int c = 0; c < k; c++)
            dl[c * p + i] = valid ? scale * w * (exp(x[c * p + i] - m) / s - (c == l)) : 0.0;
    }
    o.loss *= scale;
    return o;
}

typedef struct xcase {
    int k, h, w;
    int weighted;  /* weights buffer (with ~20 % zeros) or NULL */
    int huge;      /* logits of +-1e4 */
    double scale;
    uint64_t seed;
} xcase;

static void run_case(xcase cs)
{
    unet_context *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, cs.seed);
    const int k = cs.k;
    const size_t p = (size_t)cs.h * cs.w, n = (size_t)k * p;
    float *x = malloc(n * 4), *wt = malloc(p * 4), *garb = malloc(n * 4);
    double *xd = malloc(n * 8), *dl = malloc(n * 8), *pr = malloc(n * 8);
    int *lab = malloc(p * sizeof *lab);
    assert_true(x && wt && garb && xd && dl && pr && lab);
    for (size_t i = 0; i < n; i++) {
        if (cs.huge) {
            double u = tu_uniform(&r);
            x[i] = u < 0.4 ? 1e4f : u < 0.8 ? -1e4f : (float)(2e4 * tu_uniform(&r) - 1e4);
        } else {
            x[i] = (float)(3.0 * tu_normal(&r));
        }
        xd[i] = x[i];
    }
    size_t nzero = 0, nign = 0;
    for (size_t i = 0; i < p; i++) {
        double u = tu_uniform(&r);
        lab[i] = u < 0.08 ? -1 : u < 0.12 ? k + (int)(tu_uniform(&r) * 3) : (int)(tu_uniform(&r) * k) % k;
        nign += lab[i] < 0 || lab[i] >= k;
        wt[i] = tu_uniform(&r) < 0.2 ? 0.0f : (float)(0.1 + 5.0 * tu_uniform(&r));
        nzero += wt[i] == 0.0f && lab[i] >= 0 && lab[i] < k;
    }
    assert_true(nign > 0);
    if (cs.weighted) assert_true(nzero > 0);
    tu_fill_uniform(&r, garb, n, -9, 9);

    unet_tensor tx = tu_tensor(k, cs.h, cs.w, x), td = tu_tensor(k, cs.h, cs.w, garb);
    unet_tensor tp = tu_tensor(k, cs.h, cs.w, NULL);
    cl_mem mlab, mw, ws;
    TU_OK(unet_buffer_alloc(ctx, &mlab, p * 4, "labels"));
    TU_OK(unet_buffer_alloc(ctx, &mw, p * 4, "weights"));
    TU_OK(unet_buffer_alloc(ctx, &ws, unet_xent_workspace_floats(p) * 4, "ws"));
    TU_OK(unet_buffer_write(ctx, mlab, 0, p * 4, lab));
    TU_OK(unet_buffer_write(ctx, mw, 0, p * 4, wt));

    /* softmax forward */
    TU_OK(unet_softmax_forward(ctx, &tx, &tp));
    float *gp = tu_download(&tp);
    for (size_t i = 0; i < p; i++) {
        double m = xd[i], s = 0.0;
        for (int c = 1; c < k; c++) m = fmax(m, xd[c * p + i]);
        for (int c = 0; c < k; c++) s += exp(xd[c * p + i] - m);
        for (int c = 0; c < k; c++) pr[c * p + i] = exp(xd[c * p + i] - m) / s;
    }
    tu_assert_close("softmax forward", gp, pr, n, 1e-6, 1e-5);

    /* loss, sums and gradient */
    const float *wref = cs.weighted ? wt : NULL;
    ref_out ro = ref_xent(xd, lab, wref, k, p, cs.scale, dl);
    double loss = NAN, wsum = NAN, corr = NAN;
    TU_OK(unet_softmax_xent(ctx, &tx, mlab, cs.weighted ? mw : NULL, (float)cs.scale, &td, ws, &loss, &wsum,
                            &corr));
    float *gd = tu_download(&td);
    print_message("  K=%d %dx%d%s%s: loss %.9g (ref %.9g), weight sum %.9g (ref %.9g), correct %.0f\n", k,
                  cs.h, cs.w, cs.weighted ? " weighted" : "", cs.huge ? " +-1e4" : "", loss, ro.loss, wsum,
                  ro.wsum, corr);
    assert_true(isfinite(loss));
    assert_true(fabs(loss - ro.loss) <= 1e-6 + 1e-5 * fabs(ro.loss));
    assert_true(fabs(wsum - ro.wsum) <= 1e-6 + 1e-6 * fabs(ro.wsum));
    assert_true(corr == ro.correct);
    double gmax = fabs(cs.scale) * (cs.weighted ? 5.1 : 1.0);
    tu_assert_close("xent gradient", gd, dl, n, 2e-6 * gmax, 1e-4);
    /* zero-weight and ignored pixels: exactly zero gradient */
    for (size_t i = 0; i < p; i++) {
        int dead = lab[i] < 0 || lab[i] >= k || (cs.weighted && wt[i] == 0.0f);
        for (int c = 0; dead && c < k; c++)
            if (gd[c * p + i] != 0.0f) fail_msg("pixel %zu (label %d, weight %g): gradient %g, want 0", i,
                                                lab[i], (double)wt[i], (double)gd[c * p + i]);
    }

    /* bitwise repeatable, and the gradient alone (no workspace) is the same */
    double loss2, wsum2, corr2;
    TU_OK(unet_softmax_xent(ctx, &tx, mlab, cs.weighted ? mw : NULL, (float)cs.scale, NULL, ws, &loss2, &wsum2,
                            &corr2));
    assert_memory_equal(&loss, &loss2, sizeof loss);
    assert_memory_equal(&wsum, &wsum2, sizeof wsum);
    assert_true(corr == corr2);
    TU_OK(unet_tensor_upload(ctx, &td, garb));
    TU_OK(unet_softmax_xent(ctx, &tx, mlab, cs.weighted ? mw : NULL, (float)cs.scale, &td, NULL, NULL, NULL,
                            NULL));
    float *gd2 = tu_download(&td);
    assert_memory_equal(gd, gd2, n * 4);

    /* finite differences of the double reference (one pixel at a time: the
     * loss is a sum over pixels) on a sample of logits */
    if (!cs.huge) {
        const double eps = 1e-5;
        for (size_t j = 0; j < n; j += 1 + n / 301) {
            size_t i = j % p;
            int l = lab[i];
            if (l < 0 || l >= k) continue;
            double w = wref ? wref[i] : 1.0;
            double v = xd[j];
            xd[j] = v + eps;
            double lp = pixel_nll(xd + i, p, k, l);
            xd[j] = v - eps;
            double lm = pixel_nll(xd + i, p, k, l);
            xd[j] = v;
            double fd = cs.scale * w * (lp - lm) / (2 * eps);
            if (fabs(fd - dl[j]) > 1e-8 + 1e-6 * fabs(dl[j]))
                fail_msg("FD at %zu: %.12g vs analytic %.12g", j, fd, dl[j]);
        }
    }

    free(gp); free(gd); free(gd2);
    clReleaseMemObject(mlab); clReleaseMemObject(mw); clReleaseMemObject(ws);
    unet_tensor_free(&tx); unet_tensor_free(&td); unet_tensor_free(&tp);
    free(x); free(wt); free(garb); free(xd); free(dl); free(pr); free(lab);
}

static void test_weighted(void **state)
{
    (void)state;
    run_case((xcase){2, 14, 22, 1, 0, 0.37, 1});
    run_case((xcase){3, 6, 10, 1, 0, 1.0, 2});
    run_case((xcase){5, 100, 90, 1, 0, 1.0 / 9000, 3}); /* three reduction groups */
}

static void test_unweighted(void **state)
{
    (void)state;
    run_case((xcase){3, 6, 10, 0, 0, 1.0, 4});
    run_case((xcase){1, 5, 7, 0, 0, 1.0, 5}); /* K = 1: loss 0, gradient 0 */
    run_case((xcase){2, 70, 61, 0, 0, 2.0, 6});
}

static void test_huge_logits(void **state)
{
    (void)state;
    run_case((xcase){3, 6, 10, 1, 1, 0.5, 7});
    run_case((xcase){2, 14, 22, 0, 1, 1.0, 8});
}

/* Hand-checkable values: two classes, logits (0, log 3) -> p = (1/4, 3/4). */
static void test_known_values(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    float x[4] = {0.0f, 0.0f, (float)log(3.0), (float)log(3.0)};
    int lab[2] = {0, 7};
    float w[2] = {2.0f, 5.0f};
    unet_tensor tx = tu_tensor(2, 1, 2, x), td = tu_tensor(2, 1, 2, NULL);
    cl_mem ml, mw, ws;
    TU_OK(unet_buffer_alloc(ctx, &ml, 8, "labels"));
    TU_OK(unet_buffer_alloc(ctx, &mw, 8, "weights"));
    TU_OK(unet_buffer_alloc(ctx, &ws, unet_xent_workspace_floats(2) * 4, "ws"));
    TU_OK(unet_buffer_write(ctx, ml, 0, 8, lab));
    TU_OK(unet_buffer_write(ctx, mw, 0, 8, w));
    double loss, wsum, corr;
    TU_OK(unet_softmax_xent(ctx, &tx, ml, mw, 1.0f, &td, ws, &loss, &wsum, &corr));
    assert_true(fabs(loss - 2.0 * log(4.0)) < 1e-6);
    assert_true(wsum == 2.0 && corr == 0.0);
    float g[4];
    TU_OK(unet_tensor_download(ctx, &td, g));
    assert_true(fabs(g[0] - 2.0 * (0.25 - 1.0)) < 1e-6 && fabs(g[2] - 2.0 * 0.75) < 1e-6);
    assert_true(g[1] == 0.0f && g[3] == 0.0f);

    /* errors: workspace too small, labels too small, shape mismatch */
    cl_mem small;
    TU_OK(unet_buffer_alloc(ctx, &small, 4, "small"));
    assert_int_equal(unet_softmax_xent(ctx, &tx, ml, mw, 1.0f, &td, small, &loss, NULL, NULL),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "workspace"));
    assert_int_equal(unet_softmax_xent(ctx, &tx, small, NULL, 1.0f, &td, ws, &loss, NULL, NULL),
                     UNET_ERR_INVALID_ARGUMENT);
    unet_tensor bad = tu_tensor(3, 1, 2, NULL);
    assert_int_equal(unet_softmax_xent(ctx, &tx, ml, NULL, 1.0f, &bad, ws, NULL, NULL, NULL),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_softmax_forward(ctx, &tx, &bad), UNET_ERR_INVALID_ARGUMENT);
    clReleaseMemObject(small); clReleaseMemObject(ml); clReleaseMemObject(mw); clReleaseMemObject(ws);
    unet_tensor_free(&tx); unet_tensor_free(&td); unet_tensor_free(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weighted),
        cmocka_unit_test(test_unweighted),
        cmocka_unit_test(test_huge_logits),
        cmocka_unit_test(test_known_values),
    };
    return TU_RUN("loss", tests);
}
