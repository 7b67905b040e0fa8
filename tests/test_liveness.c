/* Buffer reuse by liveness (src/host/ocl/net.c): the arenas are smaller than
 * the tensors they hold, and no two tensors alive at the same step share
 * bytes, checked on the actual sub-buffers (CL_MEM_ASSOCIATED_MEMOBJECT and
 * CL_MEM_OFFSET) for inference and training plans of several tiles. The
 * values a net computes with shared buffers are checked by test_network's
 * gradient checks and test_torch_reference (unchanged). */
#include "testutil.h"

#include "net.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_liveness_reuse), cmocka_unit_test(test_paper_plans)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_ctx_release();
    return rc;
}
