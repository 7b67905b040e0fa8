/* Buffer reuse by liveness (src/host/ocl/net.c): the arenas are smaller than
 * the tensors they hold, and no two tensors alive at the same step share
 * bytes, checked on the actual sub-buffers (CL_MEM_ASSOCIATED_MEMOBJECT and
 * CL_MEM_OFFSET) for inference and training plans of several tiles. The
 * values a net computes with shared buffers are checked by test_network's
 * gradient checks and test_torch_reference (unchanged). */
#include "testutil.h"

#include "gemm.h"
#include "knobs.h"
#include "net.h"

#include <stdlib.h>

static void test_liveness_reuse(void **state)
{
    (void)state;
    unet_model_config mc;
    unet_model_config_default(&mc);
    mc.base_channels = 8;
    mc.depth = 4;
    unet_model *m;
    TU_OK(unet_model_create(tu_ctx(), &mc, 1, &m));
    const int tiles[] = {92, 188, 252};
    for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++)
        for (int tr = 0; tr <= 1; tr++) {
            unet_net *n;
            TU_OK(unet_net_create(m, tiles[t], tiles[t], tr, &n));
            const unet_plan_info *pi = unet_net_info(n);
            assert_true(pi->activation_bytes < pi->unshared_bytes);
            char why[200] = "";
            int pairs = 0;
            int r = unet_net_alias_check(n, &pairs, why, sizeof why);
            print_message("  tile %d %s: arenas %.1f of %.1f MiB, %d live pairs disjoint%s%s\n", tiles[t],
                          tr ? "training" : "inference", pi->activation_bytes / 1048576.0,
                          pi->unshared_bytes / 1048576.0, pairs, r ? ": " : "", why);
            assert_int_equal(r, 0);
            assert_true(pairs > 20);
            unet_net_destroy(n);
        }
    unet_model_destroy(m);
}

/* The paper's network: planned totals of a 700 inference and a 572 training
 * tile at least 35 % below the unshared plan of the same buffers. */
static void test_paper_plans(void **state)
{
    (void)state;
    unet_model_config mc;
    unet_model_config_default(&mc);
    unet_model *m;
    TU_OK(unet_model_create(tu_ctx(), &mc, 1, &m));
    unet_plan_info a, b;
    TU_OK(unet_plan(m, 700, 700, 0, &a));
    TU_OK(unet_plan(m, 572, 572, 1, &b));
    print_message("  700 inference: total %.2f GiB, arenas %.2f of %.2f GiB\n", a.total_bytes / 1073741824.0,
                  a.activation_bytes / 1073741824.0, a.unshared_bytes / 1073741824.0);
    print_message("  572 training:  total %.2f GiB, arenas %.2f of %.2f GiB\n", b.total_bytes / 1073741824.0,
                  b.activation_bytes / 1073741824.0, b.unshared_bytes / 1073741824.0);
    assert_true(a.activation_bytes < 0.65 * a.unshared_bytes);
    assert_true(b.activation_bytes < 0.65 * b.unshared_bytes);
    unet_model_destroy(m);
}

/* CLBlast's temporaries are in the plan: with the GEMMs on CLBlast (as on
 * GPUs; forced here on PoCL, im2col for every layer), the plan names the
 * largest temporary one GEMM needs, unet_net_create reserves exactly that, and
 * a training step (every GEMM of the forward and backward passes) and an
 * inference pass never need more: the context's buffer does not grow. */
static void test_blas_temp_planned(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    unet_knobs *kn = unet_context_knobs(ctx);
    char err[200];
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "clblast", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_CONV_ALGO", "im2col", err, sizeof err), 0);
    unet_model_config mc;
    unet_model_config_default(&mc);
    mc.base_channels = 64; /* the first layers' GEMMs are large enough for CLBlast's indirect kernel */
    mc.depth = 2;
    unet_model *m;
    TU_OK(unet_model_create(ctx, &mc, 1, &m));
    const int tiles[] = {124};
    for (size_t t = 0; t < sizeof tiles / sizeof *tiles; t++)
        for (int tr = 0; tr <= 1; tr++) {
            unet_net *n;
            TU_OK(unet_net_create(m, tiles[t], tiles[t], tr, &n));
            const unet_plan_info *pi = unet_net_info(n);
            const size_t held0 = unet_gemm_blas_temp_held(ctx);
            const size_t in = (size_t)tiles[t] * tiles[t], out = (size_t)pi->out_h * pi->out_w;
            float *x = malloc(in * 4), *w = malloc(out * 4), *probs = malloc(out * 2 * 4);
            int32_t *lab = malloc(out * 4);
            for (size_t i = 0; i < in; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
            for (size_t i = 0; i < out; i++) lab[i] = (int32_t)(i % 2), w[i] = 1.0f;
            unet_step_result r;
            if (tr) TU_OK(unet_net_loss_backward(n, x, lab, w, 1, &r));
            else TU_OK(unet_net_forward(n, x, 0, 0, probs, NULL));
            TU_OK(unet_finish(ctx));
            const size_t held1 = unet_gemm_blas_temp_held(ctx);
            print_message("  tile %d %s: CLBlast temporary planned %llu bytes, held %zu after create, %zu after the "
                          "pass\n", tiles[t], tr ? "training" : "inference",
                          (unsigned long long)pi->blas_temp_bytes, held0, held1);
            assert_true(pi->blas_temp_bytes > 0); /* these odd sizes need padded copies */
            assert_true(held0 >= pi->blas_temp_bytes);
            assert_int_equal(held1, held0); /* no GEMM needed more than planned */
            assert_true(pi->total_bytes >= pi->activation_bytes + pi->parameter_bytes + pi->workspace_bytes +
                                               pi->blas_temp_bytes);
            free(x), free(w), free(probs), free(lab);
            unet_net_destroy(n);
        }
    unet_model_destroy(m);
    /* the CPU GEMM path plans none */
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "cpu", err, sizeof err), 0);
    TU_OK(unet_model_create(ctx, &mc, 1, &m));
    unet_plan_info pc;
    TU_OK(unet_plan(m, 92, 92, 1, &pc));
    assert_int_equal(pc.blas_temp_bytes, 0);
    unet_model_destroy(m);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_CONV_ALGO", "", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_liveness_reuse), cmocka_unit_test(test_paper_plans),
                                       cmocka_unit_test(test_blas_temp_planned)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_ctx_release();
    return rc;
}
