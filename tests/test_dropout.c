/* Inverted dropout: the mask is a pure function of (seed, index) (checked
 * against a C copy of the hash), forward and backward apply the same mask,
 * the dropped fraction matches p within statistical bounds, p = 0 is the
 * identity, the adjoint identity holds, bad p is refused. */
#include "testutil.h"
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Reference of the counter-based hash in src/cl/dropout.cl (splitmix64). */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static int ref_dropped(uint64_t seed, uint64_t i, float p)
{
    uint64_t s = mix(seed + 0x9e3779b97f4a7c15ULL);
    uint32_t u = (uint32_t)(mix(s + (i + 1) * 0x9e3779b97f4a7c15ULL) >> 40);
    return (double)u < (double)p * 16777216.0 - 0.5; /* u < round(p * 2^24) */
}

static float *run(unet_tensor *t, const float *x, float p, uint64_t seed, int backward)
{
    unet_context *ctx = tu_ctx();
    TU_OK(unet_tensor_upload(ctx, t, x));
    if (backward) TU_OK(unet_dropout_backward(ctx, t, p, seed));
    else TU_OK(unet_dropout_forward(ctx, t, p, seed));
    return tu_download(t);
}

static void check_ref(int c, int h, int w, float p, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed ^ 77);
    size_t n = (size_t)c * h * w;
    float *x = malloc(n * 4);
    double *want = malloc(n * 8);
    assert_true(x && want);
    tu_fill_uniform(&r, x, n, 0.1f, 2.0f);
    unet_tensor t = tu_tensor(c, h, w, NULL);
    float *y = run(&t, x, p, seed, 0);
    double scale = (double)(float)(1.0 / (1.0 - (double)p));
    for (size_t i = 0; i < n; i++) want[i] = ref_dropped(seed, i, p) ? 0.0 : (double)x[i] * scale;
    tu_assert_close("dropout forward vs reference mask", y, want, n, 0.0, 1e-7);
    float *g = run(&t, x, p, seed, 1);
    tu_assert_close("dropout backward vs reference mask", g, want, n, 0.0, 1e-7);
    free(y); free(g); free(x); free(want);
    unet_tensor_free(&t);
}

static void test_reference_mask(void **state)
{
    (void)state;
    check_ref(3, 14, 22, 0.5f, 1);
    check_ref(1, 6, 10, 0.3f, 0xdeadbeefcafef00dULL);
    check_ref(5, 7, 9, 0.9f, 12345);
}

static void test_fraction_and_seeds(void **state)
{
    (void)state;
    const int c = 4, h = 250, w = 100; /* 1e5 elements */
    const size_t n = (size_t)c * h * w;
    float *ones = malloc(n * 4);
    assert_non_null(ones);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    unet_tensor t = tu_tensor(c, h, w, NULL);
    const float ps[] = {0.5f, 0.1f, 0.75f};
    for (int k = 0; k < 3; k++) {
        float p = ps[k];
        float *a = run(&t, ones, p, 42 + k, 0);
        float *b = run(&t, ones, p, 42 + k, 0);
        float *d = run(&t, ones, p, 4242 + k, 0);
        size_t dropped = 0, differ = 0;
        float keep = (float)(1.0 / (1.0 - (double)p));
        for (size_t i = 0; i < n; i++) {
            if (a[i] != b[i]) fail_msg("p=%g: same seed gave a different value at %zu", (double)p, i);
            if (a[i] == 0.0f) dropped++;
            else if (a[i] != keep) fail_msg("kept value %.9g, want %.9g", (double)a[i], (double)keep);
            differ += (a[i] == 0.0f) != (d[i] == 0.0f);
        }
        double mean = p * (double)n, sd = sqrt(n * p * (1.0 - p));
        print_message("  p=%.2f: dropped %zu of %zu (expected %.0f +- %.0f)\n", (double)p, dropped, n, mean, sd);
        assert_true(fabs((double)dropped - mean) < 5.0 * sd);
        /* another seed: independent masks disagree on about 2p(1-p) of elements */
        double dm = 2.0 * p * (1.0 - p) * n, dsd = sqrt(dm);
        assert_true(fabs((double)differ - dm) < 6.0 * dsd + 0.01 * dm);
        /* the mean is preserved (inverted scaling) */
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += a[i];
        assert_true(fabs(sum / n - 1.0) < 5.0 * sqrt(p / (1.0 - p) / n));
        free(a); free(b); free(d);
    }
    free(ones);
    unet_tensor_free(&t);
}

static void test_p_zero_identity(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 9);
    float x[3 * 5 * 7];
    tu_fill_uniform(&r, x, 105, -3, 3);
    unet_tensor t = tu_tensor(3, 5, 7, NULL);
    float *y = run(&t, x, 0.0f, 1, 0);
    float *g = run(&t, x, 0.0f, 1, 1);
    assert_memory_equal(y, x, sizeof x);
    assert_memory_equal(g, x, sizeof x);
    free(y); free(g);
    unet_tensor_free(&t);
}

/* D is diagonal: <dy, D x> = <D^T dy, x> with the backward as D^T. */
static void test_adjoint(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 10);
    const int c = 3, h = 6, w = 10;
    size_t n = (size_t)c * h * w;
    float x[180], dy[180];
    tu_fill_uniform(&r, x, n, -1, 1);
    tu_fill_uniform(&r, dy, n, -1, 1);
    unet_tensor t = tu_tensor(c, h, w, NULL);
    float *fx = run(&t, x, 0.4f, 99, 0);
    float *bdy = run(&t, dy, 0.4f, 99, 1);
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) {
        lhs += (double)dy[i] * fx[i];
        rhs += (double)bdy[i] * x[i];
        mag += fabs((double)dy[i] * fx[i]);
        zeros += fx[i] == 0.0f;
        /* the same elements are dropped in both directions */
        assert_int_equal(fx[i] == 0.0f, bdy[i] == 0.0f);
    }
    assert_true(zeros > 0 && zeros < n);
    assert_true(fabs(lhs - rhs) <= 1e-6 * (1.0 + mag));
    free(fx); free(bdy);
    unet_tensor_free(&t);
}

static void test_bad_p(void **state)
{
    (void)state;
    unet_tensor t = tu_tensor(1, 2, 2, NULL);
    assert_int_equal(unet_dropout_forward(tu_ctx(), &t, 1.0f, 1), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_dropout_forward(tu_ctx(), &t, -0.1f, 1), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_dropout_backward(tu_ctx(), &t, NAN, 1), UNET_ERR_INVALID_ARGUMENT);
    unet_tensor_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_mask),
        cmocka_unit_test(test_fraction_and_seeds),
        cmocka_unit_test(test_p_zero_identity),
        cmocka_unit_test(test_adjoint),
        cmocka_unit_test(test_bad_p),
    };
    return TU_RUN("dropout", tests);
}
