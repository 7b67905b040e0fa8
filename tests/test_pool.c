/* 2x2 stride-2 max-pooling: forward (values and argmax, ties: first maximum
 * wins), backward (gather) against a plain-C reference, the adjoint identity
 * <dout, F(x)> = <B(dout), x>, and finite differences of the reference. */
#include "testutil.h"
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reference forward: first maximum in the order (0,0), (0,1), (1,0), (1,1). */
static void ref_fwd(const float *in, int c, int h, int w, double *out, unsigned char *arg)
{
    int ho = h / 2, wo = w / 2;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                const float *p = in + ((size_t)ch * h + 2 * y) * w + 2 * x;
                float v[4] = {p[0], p[1], p[w], p[w + 1]};
                int a = 0;
                for (int q = 1; q < 4; q++)
                    if (v[q] > v[a]) a = q;
                size_t o = ((size_t)ch * ho + y) * wo + x;
                out[o] = v[a];
                arg[o] = (unsigned char)a;
            }
}

/* Reference backward from the reference argmax. */
static void ref_bwd(const float *dout, const unsigned char *arg, int c, int h, int w, double *din)
{
    int ho = h / 2, wo = w / 2;
    memset(din, 0, sizeof(double) * (size_t)c * h * w);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                size_t o = ((size_t)ch * ho + y) * wo + x;
                int a = arg[o];
                din[((size_t)ch * h + 2 * y + (a >> 1)) * w + 2 * x + (a & 1)] = dout[o];
            }
}

/* Double-precision pooling for finite differences: L(x) = <dout, pool(x)>. */
static double ref_loss(const double *x, const float *dout, int c, int h, int w)
{
    int ho = h / 2, wo = w / 2;
    double l = 0.0;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < ho; y++)
            for (int xx = 0; xx < wo; xx++) {
                const double *p = x + ((size_t)ch * h + 2 * y) * w + 2 * xx;
                double m = fmax(fmax(p[0], p[1]), fmax(p[w], p[w + 1]));
                l += dout[((size_t)ch * ho + y) * wo + xx] * m;
            }
    return l;
}

static void run_case(int c, int h, int w, int ties, uint64_t seed)
{
    unet_context *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, seed);
    int ho = h / 2, wo = w / 2;
    size_t n = (size_t)c * h * w, no = (size_t)c * ho * wo;
    float *x = malloc(n * sizeof *x), *dout = malloc(no * sizeof *dout), *din0 = malloc(n * sizeof *din0);
    double *rout = malloc(no * sizeof *rout), *rdin = malloc(n * sizeof *rdin);
    unsigned char *rarg = malloc(no), *garg = malloc(no);
    assert_true(x && dout && din0 && rout && rdin && rarg && garg);
    if (ties) /* few distinct values: many ties inside windows */
        for (size_t i = 0; i < n; i++) x[i] = (float)(int)(tu_uniform(&r) * 3.0) - 1.0f;
    else
        tu_fill_uniform(&r, x, n, -2.0f, 2.0f);
    tu_fill_uniform(&r, dout, no, -1.0f, 1.0f);
    tu_fill_uniform(&r, din0, n, -1.0f, 1.0f);

    unet_tensor tin = tu_tensor(c, h, w, x), tout = tu_tensor(c, ho, wo, NULL);
    unet_tensor tdout = tu_tensor(c, ho, wo, dout), tdin = tu_tensor(c, h, w, din0);
    cl_mem arg;
    TU_OK(unet_buffer_alloc(ctx, &arg, no, "argmax"));
    TU_OK(unet_maxpool_forward(ctx, &tin, &tout, arg));
    float *gout = tu_download(&tout);
    TU_OK(unet_buffer_read(ctx, arg, 0, no, garg));
    ref_fwd(x, c, h, w, rout, rarg);
    tu_assert_close("maxpool forward", gout, rout, no, 0.0, 0.0);
    size_t ntie = 0;
    for (size_t i = 0; i < no; i++) {
        if (garg[i] != rarg[i])
            fail_msg("argmax[%zu] = %d, reference (first maximum) %d", i, garg[i], rarg[i]);
    }
    if (ties) {
        /* the case must contain windows whose maximum occurs more than once */
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < ho; y++)
                for (int xx = 0; xx < wo; xx++) {
                    const float *p = x + ((size_t)ch * h + 2 * y) * w + 2 * xx;
                    float m = rout[((size_t)ch * ho + y) * wo + xx];
                    ntie += (p[0] == m) + (p[1] == m) + (p[w] == m) + (p[w + 1] == m) > 1;
                }
        assert_true(ntie > no / 4);
    }

    /* forward without the argmax (inference): the same maxima, argmax untouched */
    {
        unet_tensor tout2 = tu_tensor(c, ho, wo, NULL);
        TU_OK(unet_maxpool_forward(ctx, &tin, &tout2, NULL));
        float *gout2 = tu_download(&tout2);
        tu_assert_close("maxpool forward without argmax", gout2, rout, no, 0.0, 0.0);
        free(gout2);
        unet_tensor_free(&tout2);
    }

    /* backward, overwrite (din pre-filled with garbage) */
    TU_OK(unet_maxpool_backward(ctx, &tdout, arg, &tdin, 0));
    float *gdin = tu_download(&tdin);
    ref_bwd(dout, rarg, c, h, w, rdin);
    tu_assert_close("maxpool backward", gdin, rdin, n, 0.0, 0.0);

    /* adjoint identity <dout, F(x)> = <B(dout), x> */
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (size_t i = 0; i < no; i++) lhs += (double)dout[i] * gout[i], mag += fabs((double)dout[i] * gout[i]);
    for (size_t i = 0; i < n; i++) rhs += (double)gdin[i] * x[i];
    assert_true(fabs(lhs - rhs) <= 1e-9 * (1.0 + mag));

    /* backward, accumulate */
    TU_OK(unet_maxpool_backward(ctx, &tdout, arg, &tdin, 1));
    float *gacc = tu_download(&tdin);
    for (size_t i = 0; i < n; i++) rdin[i] = 2.0 * rdin[i];
    tu_assert_close("maxpool backward accumulate", gacc, rdin, n, 1e-7, 1e-6);

    /* finite differences of the double reference (distinct values only:
     * the maximum is differentiable there) */
    if (!ties) {
        double *xd = malloc(n * sizeof *xd);
        assert_non_null(xd);
        for (size_t i = 0; i < n; i++) xd[i] = x[i];
        ref_bwd(dout, rarg, c, h, w, rdin);
        const double eps = 1e-6;
        for (size_t i = 0; i < n; i++) {
            double s = xd[i];
            xd[i] = s + eps;
            double lp = ref_loss(xd, dout, c, h, w);
            xd[i] = s - eps;
            double lm = ref_loss(xd, dout, c, h, w);
            xd[i] = s;
            double fd = (lp - lm) / (2 * eps);
            if (fabs(fd - rdin[i]) > 1e-6) fail_msg("FD at %zu: %.9g vs analytic %.9g", i, fd, rdin[i]);
        }
        free(xd);
    }
    free(gout);
    free(gdin);
    free(gacc);
    clReleaseMemObject(arg);
    unet_tensor_free(&tin);
    unet_tensor_free(&tout);
    unet_tensor_free(&tdout);
    unet_tensor_free(&tdin);
    free(x); free(dout); free(din0); free(rout); free(rdin); free(rarg); free(garg);
}

static void test_shapes(void **state)
{
    (void)state;
    run_case(1, 2, 2, 0, 1);
    run_case(3, 6, 10, 0, 2);
    run_case(5, 14, 22, 0, 3);
    run_case(7, 34, 18, 0, 4);
    run_case(2, 4, 32, 0, 7);  /* rows of exactly two 8-wide vectors */
    run_case(3, 6, 50, 0, 8);  /* three vectors + tail of 1 */
}

static void test_ties(void **state)
{
    (void)state;
    run_case(3, 6, 10, 1, 5);
    run_case(4, 14, 22, 1, 6);
    run_case(2, 8, 36, 1, 9);
    /* all equal: the first element wins everywhere */
    unet_context *ctx = tu_ctx();
    float x[2 * 4 * 6];
    for (int i = 0; i < 48; i++) x[i] = 0.5f;
    unet_tensor t = tu_tensor(2, 4, 6, x), o = tu_tensor(2, 2, 3, NULL);
    cl_mem arg;
    unsigned char a[12];
    TU_OK(unet_buffer_alloc(ctx, &arg, 12, "argmax"));
    TU_OK(unet_maxpool_forward(ctx, &t, &o, arg));
    TU_OK(unet_buffer_read(ctx, arg, 0, 12, a));
    for (int i = 0; i < 12; i++) assert_int_equal(a[i], 0);
    clReleaseMemObject(arg);
    unet_tensor_free(&t);
    unet_tensor_free(&o);
}

static void test_errors(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    unet_tensor in = tu_tensor(2, 5, 6, NULL), out = tu_tensor(2, 2, 3, NULL);
    cl_mem arg;
    TU_OK(unet_buffer_alloc(ctx, &arg, 12, "argmax"));
    assert_int_equal(unet_maxpool_forward(ctx, &in, &out, arg), UNET_ERR_INVALID_ARGUMENT);
    unet_tensor in2 = tu_tensor(2, 4, 6, NULL), bad = tu_tensor(2, 2, 2, NULL);
    assert_int_equal(unet_maxpool_forward(ctx, &in2, &bad, arg), UNET_ERR_INVALID_ARGUMENT);
    cl_mem small;
    TU_OK(unet_buffer_alloc(ctx, &small, 4, "argmax"));
    assert_int_equal(unet_maxpool_forward(ctx, &in2, &out, small), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "argmax"));
    assert_int_equal(unet_maxpool_backward(ctx, &bad, arg, &in2, 0), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_maxpool_forward(ctx, &in2, &out, arg));
    clReleaseMemObject(arg);
    clReleaseMemObject(small);
    unet_tensor_free(&in);
    unet_tensor_free(&out);
    unet_tensor_free(&in2);
    unet_tensor_free(&bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_errors),
    };
    return TU_RUN("pool", tests);
}
