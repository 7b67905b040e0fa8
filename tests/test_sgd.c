/* SGD with momentum (Caffe form) against a double reference over several
 * steps, on slices at offsets inside larger buffers (values outside the
 * slices must stay untouched); bad arguments are refused. */
#include "testutil.h"
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void run_case(size_t n, float lr, float mom, float wd, int steps, uint64_t seed)
{
    unet_context *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, seed);
    const size_t wo = 5, go = 0, vo = 11, pad = 7;
    size_t nw = wo + n + pad, ng = go + n + pad, nv = vo + n + pad;
    float *w = malloc(nw * 4), *g = malloc(ng * 4), *v = malloc(nv * 4);
    double *rw = malloc(n * 8), *rv = malloc(n * 8);
    assert_true(w && g && v && rw && rv);
    tu_fill_uniform(&r, w, nw, -1, 1);
    tu_fill_uniform(&r, v, nv, -0.1f, 0.1f);
    for (size_t i = 0; i < n; i++) rw[i] = w[wo + i], rv[i] = v[vo + i];
    cl_mem mw, mg, mv;
    TU_OK(unet_buffer_alloc(ctx, &mw, nw * 4, "w"));
    TU_OK(unet_buffer_alloc(ctx, &mg, ng * 4, "g"));
    TU_OK(unet_buffer_alloc(ctx, &mv, nv * 4, "v"));
    TU_OK(unet_buffer_write(ctx, mw, 0, nw * 4, w));
    TU_OK(unet_buffer_write(ctx, mv, 0, nv * 4, v));
    for (int s = 0; s < steps; s++) {
        tu_fill_uniform(&r, g, ng, -2, 2);
        TU_OK(unet_buffer_write(ctx, mg, 0, ng * 4, g));
        TU_OK(unet_sgd_update(ctx, (unet_slice){mw, wo}, (unet_slice){mg, go}, (unet_slice){mv, vo}, n, lr, mom,
                              wd));
        for (size_t i = 0; i < n; i++) {
            rv[i] = (double)mom * rv[i] - (double)lr * ((double)g[go + i] + (double)wd * rw[i]);
            rw[i] += rv[i];
        }
    }
    float *gw = malloc(nw * 4), *gv = malloc(nv * 4);
    assert_true(gw && gv);
    TU_OK(unet_buffer_read(ctx, mw, 0, nw * 4, gw));
    TU_OK(unet_buffer_read(ctx, mv, 0, nv * 4, gv));
    tu_assert_close("sgd weights", gw + wo, rw, n, 1e-6, 1e-5);
    tu_assert_close("sgd momentum", gv + vo, rv, n, 1e-7, 1e-5);
    /* outside the slices nothing changed */
    assert_memory_equal(gw, w, wo * 4);
    assert_memory_equal(gw + wo + n, w + wo + n, pad * 4);
    assert_memory_equal(gv, v, vo * 4);
    assert_memory_equal(gv + vo + n, v + vo + n, pad * 4);
    /* the update moved every weight */
    size_t moved = 0;
    for (size_t i = 0; i < n; i++) moved += gw[wo + i] != w[wo + i];
    assert_true(moved > n * 9 / 10);
    clReleaseMemObject(mw); clReleaseMemObject(mg); clReleaseMemObject(mv);
    free(w); free(g); free(v); free(rw); free(rv); free(gw); free(gv);
}

static void test_steps(void **state)
{
    (void)state;
    run_case(1237, 0.01f, 0.99f, 5e-4f, 6, 1); /* the paper's momentum, weight decay */
    run_case(1, 0.1f, 0.9f, 0.0f, 4, 2);
    run_case(3001, 0.05f, 0.0f, 0.0f, 3, 3);   /* plain SGD */
    run_case(64, 1e-3f, 0.5f, 1e-2f, 5, 4);
}

static void test_errors(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    cl_mem m;
    TU_OK(unet_buffer_alloc(ctx, &m, 100 * 4, "buf"));
    unet_slice a = {m, 0}, b = {m, 50}, c = {m, 90};
    /* slice beyond the end of its buffer */
    assert_int_equal(unet_sgd_update(ctx, a, b, c, 20, 0.1f, 0.9f, 0.0f), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "momentum"));
    assert_int_equal(unet_sgd_update(ctx, a, b, (unet_slice){NULL, 0}, 5, 0.1f, 0.9f, 0.0f),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_sgd_update(ctx, a, b, c, 5, NAN, 0.9f, 0.0f), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_sgd_update(ctx, a, b, c, 10, 0.1f, 0.9f, 0.0f));
    TU_OK(unet_sgd_update(ctx, a, b, c, 0, 0.1f, 0.9f, 0.0f));
    clReleaseMemObject(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steps),
        cmocka_unit_test(test_errors),
    };
    return TU_RUN("sgd", tests);
}
