/* The whole U-Net: tile arithmetic, parameter count, memory plan, a
 * finite-difference gradient check of the full network on a tiny
 * configuration, and determinism. */
#include "testutil.h"
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_tiles(void **state)
{
    (void)state;
    unet_model_config c;
    unet_model_config_default(&c);
    assert_int_equal(unet_tile_output(&c, 572), 388);
    assert_int_equal(unet_tile_output(&c, 700), 516);
    assert_int_equal(unet_tile_output(&c, 188), 4);
    assert_int_equal(unet_tile_output(&c, 571), 0);
    assert_int_equal(unet_tile_output(&c, 574), 0);
    /* valid sizes are 188 + 16k */
    for (int t = 100; t < 1200; t++) assert_int_equal(unet_tile_output(&c, t) != 0, t >= 188 && (t - 188) % 16 == 0);
    assert_int_equal(unet_tile_valid_below(&c, 600), 588);
    assert_int_equal(unet_tile_for_output(&c, 512), 700);
    assert_int_equal(unet_tile_check(&c, 572), UNET_OK);
    assert_int_equal(unet_tile_check(&c, 570), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "556"));
    assert_non_null(strstr(unet_last_error(), "572"));
    assert_int_equal(unet_tile_check(&c, 100), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "188"));
    c.depth = 3;
    assert_int_equal(unet_tile_output(&c, 44), 4); /* 44-4=40,/2=20,-4=16,/2=8,-4=4, up 8-4=4, up 8-4=4 */
}

static void test_paper_model_and_plan(void **state)
{
    (void)state;
    unet_model_config c;
    unet_model_config_default(&c);
    unet_model *m;
    TU_OK(unet_model_create(tu_ctx(), &c, 1, &m));
    assert_int_equal(unet_model_param_count(m), 31030658);
    assert_int_equal(unet_model_tensor_count(m), 46); /* 23 convolutions: weight + bias */
    const char *name;
    int shape[4], ndim;
    TU_OK(unet_model_tensor_info(m, 0, &name, shape, &ndim, NULL, NULL));
    assert_string_equal(name, "enc1.conv1.weight");
    assert_int_equal(shape[0], 64);
    assert_int_equal(shape[1], 1);
    /* initialisation: std sqrt(2/fan_in) (enc2.conv2: fan-in 128*9) */
    int idx = -1;
    size_t off = 0, cnt = 0;
    for (int i = 0; i < unet_model_tensor_count(m); i++) {
        TU_OK(unet_model_tensor_info(m, i, &name, shape, &ndim, &off, &cnt));
        if (!strcmp(name, "enc2.conv2.weight")) {
            idx = i;
            break;
        }
    }
    assert_true(idx >= 0);
    float *p = malloc(unet_model_param_count(m) * sizeof *p);
    TU_OK(unet_model_get_params(m, p));
    double s = 0, s2 = 0;
    for (size_t i = 0; i < cnt; i++) {
        s += p[off + i];
        s2 += (double)p[off + i] * p[off + i];
    }
    double mean = s / cnt, sd = sqrt(s2 / cnt - mean * mean), want = sqrt(2.0 / (128 * 9));
    print_message("  enc2.conv2 init: mean %.2g std %.5f (want %.5f)\n", mean, sd, want);
    assert_true(fabs(sd / want - 1) < 0.01);
    assert_true(fabs(mean) < 0.01 * want);
    free(p);

    unet_plan_info info;
    TU_OK(unet_plan(m, 572, 572, 1, &info));
    assert_int_equal(info.out_h, 388);
    print_message("  572 training plan: total %.2f GiB (act %.2f, grad %.2f, params %.2f, ws %.2f); %.1f GFLOP forward\n",
                  info.total_bytes / 1073741824.0, info.activation_bytes / 1073741824.0,
                  info.gradient_bytes / 1073741824.0, info.parameter_bytes / 1073741824.0,
                  info.workspace_bytes / 1073741824.0, info.forward_flops * 1e-9);
    assert_true(fabs(info.forward_flops * 1e-9 - 300.9) < 0.5);
    TU_OK(unet_plan(m, 700, 700, 0, &info));
    assert_true(fabs(info.forward_flops * 1e-9 - 493.3) < 0.5);
    /* an impossible plan is a clear error, not a crash */
    assert_int_equal(unet_plan(m, 4012, 4012, 1, &info), UNET_ERR_DOES_NOT_FIT);
    print_message("  4012 tile: %s\n", unet_last_error());
    assert_non_null(strstr(unet_last_error(), "use a tile of at most"));
    unet_net *n = NULL;
    assert_int_equal(unet_net_create(m, 4012, 4012, 1, &n), UNET_ERR_DOES_NOT_FIT);
    assert_null(n);
    unet_model_destroy(m);
}

typedef struct tiny {
    unet_model *m;
    unet_net *n;
    float *x, *w;
    int32_t *lab;
    size_t nin, nout;
} tiny;

static void tiny_make(tiny *t, float dropout, uint64_t seed)
{
    unet_model_config c = {.in_channels = 2, .classes = 3, .depth = 3, .base_channels = 3, .dropout = dropout,
                           .upconv_relu = 1};
    TU_OK(unet_model_create(tu_ctx(), &c, seed, &t->m));
    int tile = 60; /* output 20 */
    assert_int_equal(unet_tile_output(&c, tile), 20);
    TU_OK(unet_net_create(t->m, tile, tile, 1, &t->n));
    const unet_plan_info *pi = unet_net_info(t->n);
    t->nin = (size_t)2 * tile * tile;
    t->nout = (size_t)pi->out_h * pi->out_w;
    t->x = malloc(t->nin * 4);
    t->w = malloc(t->nout * 4);
    t->lab = malloc(t->nout * 4);
    tu_rng r;
    tu_seed(&r, seed + 7);
    tu_fill_uniform(&r, t->x, t->nin, -1, 1);
    for (size_t i = 0; i < t->nout; i++) {
        t->w[i] = (float)(0.5 + 2 * tu_uniform(&r));
        t->lab[i] = (int32_t)(tu_uniform(&r) * 3);
    }
    t->lab[5] = -1; /* ignored */
}

static void tiny_free(tiny *t)
{
    unet_net_destroy(t->n);
    unet_model_destroy(t->m);
    free(t->x);
    free(t->w);
    free(t->lab);
}

static void gradient_check(float dropout)
{
    tiny t;
    tiny_make(&t, dropout, 3);
    size_t np = unet_model_param_count(t.m);
    float *p = malloc(np * 4), *g = malloc(np * 4);
    TU_OK(unet_model_get_params(t.m, p));
    /* non-zero biases so that bias gradients are exercised */
    tu_rng r;
    tu_seed(&r, 11);
    for (int i = 0; i < unet_model_tensor_count(t.m); i++) {
        int nd;
        size_t off, cnt;
        TU_OK(unet_model_tensor_info(t.m, i, NULL, NULL, &nd, &off, &cnt));
        if (nd == 1)
            for (size_t k = 0; k < cnt; k++) p[off + k] = (float)(0.1 * tu_normal(&r));
    }
    TU_OK(unet_model_set_params(t.m, p));
    unet_step_result res;
    const uint64_t seed = 1234;
    TU_OK(unet_net_loss_backward(t.n, t.x, t.lab, t.w, seed, &res));
    TU_OK(unet_model_get_grads(t.m, g));
    print_message("  tiny net (dropout %.1f): loss %.6f over %.0f labelled pixels\n", dropout, res.loss, res.labelled);
    assert_true(isfinite(res.loss) && res.loss > 0);
    /* finite differences on a sample of weights of every tensor */
    int checked = 0, bad = 0, nonsmooth = 0;
    double worst = 0;
    for (int i = 0; i < unet_model_tensor_count(t.m); i++) {
        const char *name;
        int nd;
        size_t off, cnt;
        TU_OK(unet_model_tensor_info(t.m, i, &name, NULL, &nd, &off, &cnt));
        int tensor_bad = 0;
        for (int s = 0; s < 4; s++) {
            size_t k = off + (size_t)(tu_uniform(&r) * cnt);
            float orig = p[k];
            /* central differences at two step sizes: where they disagree the
             * loss is not smooth within the step (a ReLU or a max-pool switches)
             * and the sample says nothing about the gradient: skip it */
            double fd2[2];
            const float eps[2] = {5e-4f, 2.5e-4f};
            for (int e = 0; e < 2; e++) {
                double lp, lm;
                p[k] = orig + eps[e];
                TU_OK(unet_model_set_params(t.m, p));
                TU_OK(unet_net_loss_backward(t.n, t.x, t.lab, t.w, seed, &res));
                lp = res.loss;
                p[k] = orig - eps[e];
                TU_OK(unet_model_set_params(t.m, p));
                TU_OK(unet_net_loss_backward(t.n, t.x, t.lab, t.w, seed, &res));
                lm = res.loss;
                fd2[e] = (lp - lm) / (2.0 * (double)eps[e]);
            }
            p[k] = orig;
            if (fabs(fd2[0] - fd2[1]) > 3e-4 + 0.02 * fabs(fd2[1])) {
                nonsmooth++;
                continue;
            }
            double fd = fd2[1];
            double err = fabs(fd - g[k]);
            double tol = 3e-4 + 2e-2 * fabs(fd);
            checked++;
            if (err > tol) {
                bad++;
                tensor_bad++;
                print_message("  %s[%zu]: analytic %.6g finite-difference %.6g\n", name, k - off, g[k], fd);
            }
            if (err / (fabs(fd) + 1e-3) > worst) worst = err / (fabs(fd) + 1e-3);
        }
        /* a wrong gradient shows in most samples of its tensor */
        assert_true(tensor_bad <= 1);
    }
    TU_OK(unet_model_set_params(t.m, p));
    print_message("  %d weights checked, %d outside tolerance (3e-4 + 2%%), worst relative error %.3g; "
                  "%d samples skipped as non-smooth\n", checked, bad, worst, nonsmooth);
    /* Kinks of ReLU/max-pool just outside the smoothness test can still bias a
     * lone sample of a first-layer weight (each touches every pixel); the
     * exact check of every gradient is test_torch_reference. */
    assert_true(bad <= checked / 50);
    assert_true(checked >= 3 * (checked + nonsmooth) / 4);
    free(p);
    free(g);
    tiny_free(&t);
}

static void test_gradient_check(void **state)
{
    (void)state;
    gradient_check(0.0f);
}

static void test_gradient_check_dropout(void **state)
{
    (void)state;
    gradient_check(0.5f);
}

static void test_deterministic(void **state)
{
    (void)state;
    tiny a, b;
    tiny_make(&a, 0.5f, 5);
    tiny_make(&b, 0.5f, 5);
    size_t np = unet_model_param_count(a.m);
    float *ga = malloc(np * 4), *gb = malloc(np * 4);
    unet_step_result ra, rb;
    for (int step = 0; step < 3; step++) {
        TU_OK(unet_net_loss_backward(a.n, a.x, a.lab, a.w, 100 + step, &ra));
        TU_OK(unet_model_sgd(a.m, 0.01f, 0.99f, 0.0f));
        TU_OK(unet_net_loss_backward(b.n, b.x, b.lab, b.w, 100 + step, &rb));
        TU_OK(unet_model_sgd(b.m, 0.01f, 0.99f, 0.0f));
        assert_true(ra.loss == rb.loss);
    }
    TU_OK(unet_model_get_grads(a.m, ga));
    TU_OK(unet_model_get_grads(b.m, gb));
    assert_memory_equal(ga, gb, np * 4);
    TU_OK(unet_model_get_params(a.m, ga));
    TU_OK(unet_model_get_params(b.m, gb));
    assert_memory_equal(ga, gb, np * 4);
    /* training lowers the loss on a fixed sample */
    double first = ra.loss;
    for (int step = 0; step < 30; step++) {
        TU_OK(unet_net_loss_backward(a.n, a.x, a.lab, a.w, 1000 + step, &ra));
        TU_OK(unet_model_sgd(a.m, 0.05f, 0.9f, 0.0f));
    }
    print_message("  loss %.4f -> %.4f after 30 SGD steps on one sample\n", first, ra.loss);
    assert_true(ra.loss < first);
    free(ga);
    free(gb);
    tiny_free(&a);
    tiny_free(&b);
}

/* Per-layer profiling of a training step: every forward and backward layer
 * gets a wall time, and with a profiling queue the execution time of its
 * commands from OpenCL profiling events (positive for the convolutions, not
 * more than the wall time); without one the device time reads -1. */
static void profile_case(int events)
{
    unet_context_options o;
    unet_context_options_default(&o);
    const char *d = getenv("UNETCL_TEST_DEVICE");
    o.device = (d && *d) ? d : NULL;
    o.enable_profiling = events;
    unet_context *ctx;
    TU_OK(unet_context_create(&o, &ctx));
    unet_model_config c = {.in_channels = 1, .classes = 2, .depth = 3, .base_channels = 8, .dropout = 0,
                           .upconv_relu = 1};
    unet_model *m;
    unet_net *n;
    TU_OK(unet_model_create(ctx, &c, 3, &m));
    TU_OK(unet_net_create(m, 92, 92, 1, &n));
    const unet_plan_info *pi = unet_net_info(n);
    const size_t nout = (size_t)pi->out_h * pi->out_w;
    float *x = calloc(92 * 92, 4), *w = malloc(nout * 4);
    int32_t *lab = calloc(nout, 4);
    assert_true(x && w && lab);
    for (size_t i = 0; i < nout; i++) w[i] = 1.0f, lab[i] = (int32_t)(i % 2);
    for (int i = 0; i < 92 * 92; i++) x[i] = (float)(i % 7) / 7.0f;
    unet_step_result r;
    unet_net_set_profiling(n, 1);
    TU_OK(unet_net_loss_backward(n, x, lab, w, 1, &r));
    const char *name;
    double sec;
    int calls, nconv = 0, nbwd = 0;
    for (int i = 0; unet_net_profile(n, i, &name, &sec, &calls); i++) {
        const double dev = unet_net_profile_device(n, i);
        assert_true(sec > 0 && calls == 1);
        if (!events) {
            assert_true(dev == -1.0);
            continue;
        }
        assert_true(dev >= 0 && dev <= sec * 1.05 + 1e-3);
        if (strstr(name, "conv")) {
            assert_true(dev > 0);
            nconv++;
        }
        if (!strncmp(name, "bwd ", 4)) nbwd++;
    }
    assert_true(unet_net_profile_device(n, 999) == -1.0);
    if (events) {
        /* 3 levels: 10 3x3 convolutions + the 1x1 output, forward and backward */
        assert_int_equal(nconv, 22);
        assert_true(nbwd >= 11);
    }
    print_message("  profiling %s: %d convolution entries with event times, %d backward entries\n",
                  events ? "with events" : "without events", nconv, nbwd);
    free(x), free(w), free(lab);
    unet_net_destroy(n);
    unet_model_destroy(m);
    unet_context_destroy(ctx);
}

static void test_profile(void **state)
{
    (void)state;
    profile_case(1);
    profile_case(0);
}

/* Inference plans cache the Winograd-transformed weights (CPU devices); after
 * an SGD step and after set_params the cached weights must be refreshed: the
 * inference plan's logits must match a training plan's (no cache, im2col
 * there for these sizes) with the current weights. */
static void test_weight_cache_invalidation(void **state)
{
    (void)state;
    unet_model_config c = {.in_channels = 1, .classes = 2, .depth = 2, .base_channels = 8, .upconv_relu = 1};
    unet_model *m;
    TU_OK(unet_model_create(tu_ctx(), &c, 11, &m));
    int tile = unet_tile_valid_below(&c, 72);
    assert_true(tile > 0);
    unet_net *ni, *nt;
    TU_OK(unet_net_create(m, tile, tile, 0, &ni));
    TU_OK(unet_net_create(m, tile, tile, 1, &nt));
    const unet_plan_info *pi = unet_net_info(ni);
    size_t nin = (size_t)tile * tile, nout = (size_t)2 * pi->out_h * pi->out_w;
    float *x = malloc(nin * 4), *a = malloc(nout * 4), *b = malloc(nout * 4), *prev = malloc(nout * 4);
    int32_t *lab = malloc(nout / 2 * 4);
    float *p = malloc(m->nparams * 4);
    assert_non_null(x);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(prev);
    assert_non_null(lab);
    assert_non_null(p);
    tu_rng r;
    tu_seed(&r, 5);
    tu_fill_uniform(&r, x, nin, -1, 1);
    for (size_t i = 0; i < nout / 2; i++) lab[i] = (int32_t)(tu_uniform(&r) * 2);
    for (int round = 0; round < 3; round++) {
        if (round == 1) { /* SGD step with a large rate: weights change clearly */
            unet_step_result sr;
            TU_OK(unet_net_loss_backward(nt, x, lab, NULL, 1, &sr));
            TU_OK(unet_model_sgd(m, 0.1f, 0.0f, 0.0f));
        } else if (round == 2) {
            TU_OK(unet_model_get_params(m, p));
            for (size_t i = 0; i < m->nparams; i++) p[i] *= -1.0f;
            TU_OK(unet_model_set_params(m, p));
        }
        TU_OK(unet_net_forward(ni, x, 0, 0, NULL, a));
        TU_OK(unet_net_forward(nt, x, 0, 0, NULL, b));
        double scale = 0;
        for (size_t i = 0; i < nout; i++) scale = fmax(scale, fabs(b[i]));
        /* Winograd (fp32) vs im2col: 1e-3 of the largest logit */
        tu_assert_close_f("cached-weight logits", a, b, nout, 1e-3 * scale + 1e-6, 1e-3);
        if (round > 0) { /* the weights did change the output */
            double d = 0;
            for (size_t i = 0; i < nout; i++) d = fmax(d, fabs(a[i] - prev[i]));
            assert_true(d > 1e-2 * scale);
        }
        memcpy(prev, a, nout * 4);
    }
    free(x);
    free(a);
    free(b);
    free(prev);
    free(lab);
    free(p);
    unet_net_destroy(ni);
    unet_net_destroy(nt);
    unet_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiles),
        cmocka_unit_test(test_paper_model_and_plan),
        cmocka_unit_test(test_gradient_check),
        cmocka_unit_test(test_gradient_check_dropout),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_weight_cache_invalidation),
        cmocka_unit_test(test_profile),
    };
    return TU_RUN("network", tests);
}
