/* unet_gemm: the CPU-device GEMM (src/cl/gemm_cpu.cl) and the CLBlast path,
 * both against a double-precision C reference on awkward shapes, all four
 * transpose combinations, offsets, padded leading dimensions, alpha/beta
 * (beta = 0 with NaN in C, beta = 1), K- and N-chunking, argument errors.
 * Tolerance: |got - want| <= 1e-5 * K + 1e-4 * |want| (inputs in [-1, 1]). */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gcase {
    int ta, tb;
    size_t m, n, k;
    size_t a_off, b_off, c_off; /* in floats */
    size_t pad_a, pad_b, pad_c; /* ld = columns + pad */
    float alpha, beta;
} gcase;

static double g_maxerr[3]; /* by path: worst |diff| / tolerance seen */

static cl_mem upload(unet_context *ctx, const float *h, size_t n)
{
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof(float), (void *)h,
                              &err);
    assert_int_equal(err, CL_SUCCESS);
    return m;
}

/* Runs one case on one path and checks every element of the C buffer: the
 * m x n window against the reference, everything else unchanged. */
static void run_case(unet_context *ctx, unet_gemm_path path, const gcase *g, tu_rng *rng)
{
    const size_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k;
    const size_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n;
    const size_t lda = ac + g->pad_a, ldb = bc + g->pad_b, ldc = g->n + g->pad_c;
    const size_t na = g->a_off + ar * lda + 3, nb = g->b_off + br * ldb + 3, nc = g->c_off + g->m * ldc + 5;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    float *got = malloc(nc * sizeof *got);
    assert_true(A && B && C && got);
    tu_fill_uniform(rng, A, na, -1.0f, 1.0f);
    tu_fill_uniform(rng, B, nb, -1.0f, 1.0f);
    tu_fill_uniform(rng, C, nc, -1.0f, 1.0f);
    if (g->beta == 0.0f) /* beta = 0 must not read C: fill the window with NaN */
        for (size_t i = 0; i < g->m; i++)
            for (size_t j = 0; j < g->n; j++) C[g->c_off + i * ldc + j] = NAN;

    cl_mem da = upload(ctx, A, na), db = upload(ctx, B, nb), dc = upload(ctx, C, nc);
    TU_OK(unet_gemm_with(ctx, path, g->ta, g->tb, g->m, g->n, g->k, g->alpha, da, g->a_off, lda, db, g->b_off,
                         ldb, g->beta, dc, g->c_off, ldc));
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, 0, nc * sizeof(float), got, 0, NULL, NULL),
                     CL_SUCCESS);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);

    const double atol = 1e-5 * (double)(g->k > 0 ? g->k : 1), rtol = 1e-4;
    for (size_t idx = 0; idx < nc; idx++) {
        const int inside = idx >= g->c_off && (idx - g->c_off) / ldc < g->m && (idx - g->c_off) % ldc < g->n;
        if (!inside) {
            if (memcmp(&got[idx], &C[idx], sizeof(float)) != 0)
                fail_msg("path %d ta=%d tb=%d %zux%zux%zu: C[%zu] outside the window changed (%g -> %g)", (int)path,
                         g->ta, g->tb, g->m, g->n, g->k, idx, (double)C[idx], (double)got[idx]);
            continue;
        }
        const size_t i = (idx - g->c_off) / ldc, j = (idx - g->c_off) % ldc;
        double s = 0.0;
        for (size_t p = 0; p < g->k; p++) {
            const double av = g->ta ? A[g->a_off + p * lda + i] : A[g->a_off + i * lda + p];
            const double bv = g->tb ? B[g->b_off + j * ldb + p] : B[g->b_off + p * ldb + j];
            s += av * bv;
        }
        double want = (double)g->alpha * s;
        if (g->beta != 0.0f) want += (double)g->beta * (double)C[idx];
        const double d = fabs((double)got[idx] - want), tol = atol + rtol * fabs(want);
        if (!(d <= tol))
            fail_msg("path %d ta=%d tb=%d m=%zu n=%zu k=%zu offs %zu/%zu/%zu alpha %g beta %g: C[%zu,%zu] = %.9g, "
                     "want %.9g (tol %.3g)",
                     (int)path, g->ta, g->tb, g->m, g->n, g->k, g->a_off, g->b_off, g->c_off, (double)g->alpha,
                     (double)g->beta, i, j, (double)got[idx], want, tol);
        if (d / tol > g_maxerr[path]) g_maxerr[path] = d / tol;
    }
    free(A);
    free(B);
    free(C);
    free(got);
}

static const size_t SIZES_M[] = {1, 7, 13, 33, 65};
static const size_t SIZES_N[] = {1, 7, 31, 33, 65};
static const size_t SIZES_K[] = {1, 13, 65};
static const float ALPHAS[] = {1.0f, -0.75f, 2.0f};
static const float BETAS[] = {0.0f, 1.0f, 0.5f};

static void sweep(unet_context *ctx, unet_gemm_path path, uint64_t seed)
{
    tu_rng rng;
    tu_seed(&rng, seed);
    int ncase = 0;
    for (int t = 0; t < 4; t++)
        for (size_t im = 0; im < sizeof SIZES_M / sizeof *SIZES_M; im++)
            for (size_t in = 0; in < sizeof SIZES_N / sizeof *SIZES_N; in++)
                for (size_t ik = 0; ik < sizeof SIZES_K / sizeof *SIZES_K; ik++) {
                    gcase g = {0};
                    g.ta = t & 1;
                    g.tb = (t >> 1) & 1;
                    g.m = SIZES_M[im];
                    g.n = SIZES_N[in];
                    g.k = SIZES_K[ik];
                    const int v = ncase++;
                    g.a_off = (size_t)(v % 3) * 5;
                    g.b_off = (size_t)(v % 4) * 3;
                    g.c_off = (size_t)(v % 5) * 7;
                    g.pad_a = (size_t)(v % 2) * 3;
                    g.pad_b = (size_t)((v / 2) % 2) * 17;
                    g.pad_c = (size_t)((v / 3) % 2) * 9;
                    g.alpha = ALPHAS[v % 3];
                    g.beta = BETAS[(v / 3) % 3];
                    run_case(ctx, path, &g, &rng);
                }
    /* a few larger ones, 12- and 8-row tiles, several N panels */
    const size_t big[][3] = {{64, 300, 97}, {100, 129, 576}, {24, 1000, 40}, {130, 70, 33}};
    for (size_t s = 0; s < sizeof big / sizeof *big; s++)
        for (int t = 0; t < 4; t++) {
            gcase g = {t & 1, (t >> 1) & 1, big[s][0], big[s][1], big[s][2], 3, 1, 2, 1, 0, 4, 1.0f, (t & 1) ? 0.0f : 1.0f};
            run_case(ctx, path, &g, &rng);
            ncase++;
        }
    print_message("  path %s: %d cases, worst |diff|/tolerance %.3f\n", path == UNET_GEMM_CPU ? "cpu" : "clblast",
                  ncase, g_maxerr[path]);
}

static void test_cpu_path(void **state)
{
    (void)state;
    sweep(tu_ctx(), UNET_GEMM_CPU, 11);
}

static void test_clblast_path(void **state)
{
    (void)state;
    sweep(tu_ctx(), UNET_GEMM_CLBLAST, 12);
}

/* K = 0 gives C = beta * C (alpha ignored); beta = 0 gives zeros even over NaN. */
static void test_k_zero(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    tu_rng rng;
    tu_seed(&rng, 5);
    for (int p = UNET_GEMM_CLBLAST; p <= UNET_GEMM_CPU; p++) {
        gcase g = {0, 0, 9, 40, 0, 0, 0, 3, 0, 0, 2, 1.5f, 0.5f};
        run_case(ctx, (unet_gemm_path)p, &g, &rng);
        g.beta = 0.0f;
        run_case(ctx, (unet_gemm_path)p, &g, &rng);
    }
}

/* Denormals as zero in the CPU GEMM (UNET_FTZ_DAZ, program.c): on an x86
 * CPU device a product of a denormal A (1e-39) with B = 1 is exactly 0 (DAZ),
 * and one of normal values is not; elsewhere skipped. */
static void test_denormals_as_zero(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
#if defined(__x86_64__) || defined(__i386__)
    unet_device_info info;
    TU_OK(unet_context_device_info(ctx, &info));
    if (info.type != UNET_DEVICE_CPU) skip();
#else
    skip();
#endif
    const size_t m = 24, n = 64, k = 48;
    float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(m * n * 4);
    assert_non_null(a), assert_non_null(b), assert_non_null(c);
    cl_mem da, db, dc;
    TU_OK(unet_buffer_alloc(ctx, &da, m * k * 4, "a"));
    TU_OK(unet_buffer_alloc(ctx, &db, k * n * 4, "b"));
    TU_OK(unet_buffer_alloc(ctx, &dc, m * n * 4, "c"));
    for (size_t i = 0; i < k * n; i++) b[i] = 1.0f;
    TU_OK(unet_buffer_write(ctx, db, 0, k * n * 4, b));
    const float vals[2] = {1e-39f, 1e-30f};
    for (int v = 0; v < 2; v++) {
        for (size_t i = 0; i < m * k; i++) a[i] = vals[v];
        TU_OK(unet_buffer_write(ctx, da, 0, m * k * 4, a));
        TU_OK(unet_gemm_with(ctx, UNET_GEMM_CPU, 0, 0, m, n, k, 1.0f, da, 0, k, db, 0, n, 0.0f, dc, 0, n));
        TU_OK(unet_buffer_read(ctx, dc, 0, m * n * 4, c));
        for (size_t i = 0; i < m * n; i++) {
            if (v == 0) assert_true(c[i] == 0.0f);
            else assert_true(fabsf(c[i] - 48e-30f) <= 1e-35f);
        }
    }
    clReleaseMemObject(da), clReleaseMemObject(db), clReleaseMemObject(dc);
    free(a), free(b), free(c);
}

/* Small K- and N-chunks, with and without the fused kernel (knobs read at
 * the context's first CPU GEMM): partial sums over K chunks and the N chunks
 * must give the same result. */
static void chunked(const char *lb)
{
    setenv("UNETCL_GEMM_KC", "16", 1);
    setenv("UNETCL_GEMM_NCHUNK", "64", 1);
    setenv("UNETCL_GEMM_LB", lb, 1);
    unet_context_options o;
    unet_context_options_default(&o);
    const char *d = getenv("UNETCL_TEST_DEVICE");
    o.device = (d && *d) ? d : NULL;
    unet_context *ctx = NULL;
    TU_OK(unet_context_create(&o, &ctx));
    tu_rng rng;
    tu_seed(&rng, 9);
    const size_t shapes[][3] = {{13, 200, 100}, {65, 65, 16}, {8, 97, 17}, {1, 1, 33}, {20, 300, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++)
            for (int bz = 0; bz < 2; bz++) {
                gcase g = {t & 1, (t >> 1) & 1, shapes[s][0], shapes[s][1], shapes[s][2], 1, 2, 3, 2, 1, 0,
                           0.5f, bz ? 0.0f : 1.0f};
                run_case(ctx, UNET_GEMM_CPU, &g, &rng);
            }
    unet_context_destroy(ctx);
    unsetenv("UNETCL_GEMM_KC");
    unsetenv("UNETCL_GEMM_NCHUNK");
    unsetenv("UNETCL_GEMM_LB");
}

static void test_chunking(void **state)
{
    (void)state;
    chunked("0"); /* B packed separately, N in chunks of 64 */
    chunked("1"); /* B packed by the tile kernel into local memory */
}

/* Runs op(A) . op(B) (ta=0, tb=1) on the CPU path with UNETCL_GEMM_KRED set
 * to kred; returns C (m x n, ldc = n, beta = 0). */
static float *long_k_result(unet_context *ctx, const char *kred, const float *A, const float *B, size_t m,
                            size_t n, size_t k)
{
    char err[256];
    assert_int_equal(unet_knob_set(unet_context_knobs(ctx), "UNETCL_GEMM_KRED", kred, err, sizeof err), 0);
    cl_mem da = upload(ctx, A, m * k), db = upload(ctx, B, n * k);
    float *C = malloc(m * n * sizeof *C);
    assert_non_null(C);
    for (size_t i = 0; i < m * n; i++) C[i] = NAN;
    cl_mem dc = upload(ctx, C, m * n);
    TU_OK(unet_gemm_with(ctx, UNET_GEMM_CPU, 0, 1, m, n, k, 1.0f, da, 0, k, db, 0, k, 0.0f, dc, 0, n));
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, 0, m * n * sizeof(float), C, 0, NULL, NULL),
                     CL_SUCCESS);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    return C;
}

/* The long-K path for a small C (gemm_cpu_kred: 4 x 4 blocks of C, K in
 * parts, the parts added in order), forced on every shape it takes (C up to
 * 64 x 64, tails of m, n and k, one or many parts, offsets, padded leading
 * dimensions, alpha, beta = 0 with NaN in C), the other transpose
 * combinations still on the packed path; then the default's choice on a
 * long K: the same bits as the forced path, other bits than the packed one. */
static void test_long_k(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    char err[256];
    unet_knobs *kn = unet_context_knobs(ctx);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM_KRED", "1", err, sizeof err), 0);
    tu_rng rng;
    tu_seed(&rng, 21);
    const size_t shapes[][3] = {{1, 1, 1},    {5, 7, 13},  {4, 4, 16},   {64, 64, 33}, {3, 9, 1000},
                                {17, 2, 4099}, {64, 9, 20000}, {2, 64, 9000}, {64, 64, 5000}};
    int ncase = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++)
        for (int t = 0; t < 4; t++) {
            const int v = ncase++;
            gcase g = {t & 1, (t >> 1) & 1, shapes[sh][0], shapes[sh][1], shapes[sh][2], (size_t)(v % 3) * 5,
                       (size_t)(v % 4) * 3, (size_t)(v % 5) * 7, (size_t)(v % 2) * 3, (size_t)((v / 2) % 2) * 17,
                       (size_t)((v / 3) % 2) * 9, ALPHAS[v % 3], BETAS[(v / 2) % 3]};
            run_case(ctx, UNET_GEMM_CPU, &g, &rng);
        }
    print_message("  long-K path forced: %d cases, worst |diff|/tolerance %.3f\n", ncase, g_maxerr[UNET_GEMM_CPU]);

    /* the default on the output layer's weight gradient shape (2 x 64 over 150544 pixels) */
    const size_t m = 2, n = 64, k = 150544;
    float *A = malloc(m * k * sizeof *A), *B = malloc(n * k * sizeof *B);
    assert_true(A && B);
    tu_fill_uniform(&rng, A, m * k, -1.0f, 1.0f);
    tu_fill_uniform(&rng, B, n * k, -1.0f, 1.0f);
    float *forced = long_k_result(ctx, "1", A, B, m, n, k), *packed = long_k_result(ctx, "0", A, B, m, n, k),
          *dflt = long_k_result(ctx, "-1", A, B, m, n, k);
    assert_memory_equal(dflt, forced, m * n * sizeof(float));
    assert_memory_not_equal(packed, forced, m * n * sizeof(float));
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double want = 0.0;
            for (size_t p = 0; p < k; p++) want += (double)A[i * k + p] * (double)B[j * k + p];
            const double tol = 1e-5 * (double)k + 1e-4 * fabs(want);
            if (!(fabs((double)forced[i * n + j] - want) <= tol) || !(fabs((double)packed[i * n + j] - want) <= tol))
                fail_msg("2x64x150544: C[%zu,%zu] = %.9g (long-K) / %.9g (packed), want %.9g", i, j,
                         (double)forced[i * n + j], (double)packed[i * n + j], want);
        }
    free(A);
    free(B);
    free(forced);
    free(packed);
    free(dflt);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM_KRED", "-1", err, sizeof err), 0);
}

static void test_selection_and_errors(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    unet_gemm_path p;
    char err[256];
    unet_knobs *kn = unet_context_knobs(ctx);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "", err, sizeof err), 0);
    TU_OK(unet_gemm_path_of(ctx, &p));
    assert_int_equal(p, ctx->info.type == UNET_DEVICE_CPU ? UNET_GEMM_CPU : UNET_GEMM_CLBLAST);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "clblast", err, sizeof err), 0);
    TU_OK(unet_gemm_path_of(ctx, &p));
    assert_int_equal(p, UNET_GEMM_CLBLAST);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "cpu", err, sizeof err), 0);
    TU_OK(unet_gemm_path_of(ctx, &p));
    assert_int_equal(p, UNET_GEMM_CPU);
    assert_int_equal(unet_knob_set(kn, "UNETCL_GEMM", "", err, sizeof err), 0);

    float h[64];
    for (int i = 0; i < 64; i++) h[i] = (float)i;
    cl_mem a = upload(ctx, h, 64), b = upload(ctx, h, 64), c = upload(ctx, h, 64);
    /* a bad value in the environment: the context is not created (one line naming the knob) */
    setenv("UNETCL_GEMM", "fast", 1);
    unet_context_options o;
    unet_context_options_default(&o);
    const char *d = getenv("UNETCL_TEST_DEVICE");
    o.device = (d && *d) ? d : NULL;
    unet_context *bad = NULL;
    assert_int_equal(unet_context_create(&o, &bad), UNET_ERR_CONFIG);
    assert_null(bad);
    assert_non_null(strstr(unet_last_error(), "UNETCL_GEMM=fast"));
    assert_null(strchr(unet_last_error(), '\n'));
    unsetenv("UNETCL_GEMM");
    /* lda smaller than the columns of A */
    assert_int_equal(unet_gemm_with(ctx, UNET_GEMM_CPU, 0, 0, 4, 4, 4, 1.0f, a, 0, 3, b, 0, 4, 0.0f, c, 0, 4),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "leading dimension of A"));
    /* B does not fit its buffer (offset) */
    assert_int_equal(unet_gemm_with(ctx, UNET_GEMM_CPU, 0, 1, 4, 8, 8, 1.0f, a, 0, 8, b, 10, 8, 0.0f, c, 0, 8),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "matrix B"));
    /* C too small */
    assert_int_equal(unet_gemm_with(ctx, UNET_GEMM_CPU, 0, 0, 9, 8, 1, 1.0f, a, 0, 1, b, 0, 8, 0.0f, c, 0, 8),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "matrix C"));
    /* the buffers were not touched */
    float back[64];
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, c, CL_TRUE, 0, sizeof back, back, 0, NULL, NULL), CL_SUCCESS);
    for (int i = 0; i < 64; i++) assert_true(back[i] == (float)i);
    /* m = 0 / n = 0: nothing to do on either path */
    TU_OK(unet_gemm_with(ctx, UNET_GEMM_CPU, 0, 0, 0, 4, 4, 1.0f, a, 0, 4, b, 0, 4, 0.0f, c, 0, 4));
    TU_OK(unet_gemm_with(ctx, UNET_GEMM_CLBLAST, 0, 0, 4, 0, 4, 1.0f, a, 0, 4, b, 0, 4, 0.0f, c, 0, 4));
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseMemObject(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_path),
        cmocka_unit_test(test_clblast_path),
        cmocka_unit_test(test_k_zero),
        cmocka_unit_test(test_denormals_as_zero),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_long_k),
        cmocka_unit_test(test_selection_and_errors),
    };
    int r = TU_RUN("gemm", tests);
    tu_ctx_release();
    return r;
}
