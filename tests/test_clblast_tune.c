/* CLBlast tuning file (src/host/ocl/clblast_tune.c): write/read round trip,
 * application by unet_gemm's CLBlast path with results still right (double
 * reference, awkward shapes, all transposes, through CLBlast's indirect and
 * direct kernels), and files that must be ignored: corrupt JSON, wrong
 * types, unknown kernels, incomplete parameter sets, stale driver, disabled
 * by $UNETCL_CLBLAST_TUNING=0.
 *
 * The parameter sets are complete sets of CLBlast 1.5's single-precision
 * Xgemm / XgemmDirect parameters that differ from CLBlast's defaults and
 * satisfy its constraints; when unetcl-tune-helper is built, the test also
 * checks that CLBlast's own sets (`current`) have exactly these names.
 * Tolerance: |got - want| <= 1e-5 * K + 1e-4 * |want| (inputs in [-1, 1]).
 * CLBlast keeps overrides per process and device, so the cases run in order. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "clblast_tune.h"
#include "gemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

static unet_clblast_params make_set(const char *kernel, const char *const *names, const size_t *values, int n)
{
    unet_clblast_params p;
    memset(&p, 0, sizeof p);
    snprintf(p.kernel, sizeof p.kernel, "%s", kernel);
    for (int i = 0; i < n; i++) assert_true(unet_clblast_params_set(&p, names[i], values[i]));
    return p;
}

static const char *const XN[] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
                                 "NDIMC", "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN"};
static const size_t XV[] = {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 2, 2};
static const char *const DN[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"};
static const size_t DV[] = {2, 8, 8, 8, 8, 1, 1, 2, 2, 16};

static void make_tuning(unet_clblast_tuning *t, const unet_device_info *dev, size_t min_indirect)
{
    unet_clblast_tuning_init(t, dev);
    snprintf(t->method, sizeof t->method, "test_clblast_tune");
    t->nkernels = 3;
    t->kernels[0] = make_set("Xgemm", XN, XV, 16);
    t->kernels[1] = make_set("XgemmDirect", DN, DV, 10);
    const char *rn[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    t->kernels[2] = make_set("GemmRoutine", rn, &min_indirect, 1);
    t->ndefaults = 0;
    t->nmeasured = 2;
    snprintf(t->measured[0].shape, sizeof t->measured[0].shape, "64x4096x576");
    t->measured[0].default_ms = 12.5;
    t->measured[0].tuned_ms = 3.25;
    snprintf(t->measured[1].shape, sizeof t->measured[1].shape, "576x4096x64tA");
    t->measured[1].default_ms = 7;
    t->measured[1].tuned_ms = 2.5;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    assert_non_null(buf);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static unet_context *make_ctx(int verbose)
{
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = getenv("UNETCL_TEST_DEVICE");
    o.cache_dir = g_dir;
    o.verbose = verbose;
    unet_context *c = NULL;
    TU_OK(unet_context_create(&o, &c));
    return c;
}

/* C = alpha op(A) op(B) + beta C through unet_gemm's CLBlast path, checked
 * against a double reference. */
static void check_gemm(unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, float beta, uint64_t seed)
{
    tu_rng rng;
    tu_seed(&rng, seed);
    const size_t na = m * k, nb = k * n, nc = m * n;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C),
          *got = malloc(nc * sizeof *got);
    double *want = malloc(nc * sizeof *want);
    assert_true(A && B && C && got && want);
    tu_fill_uniform(&rng, A, na, -1, 1);
    tu_fill_uniform(&rng, B, nb, -1, 1);
    tu_fill_uniform(&rng, C, nc, -1, 1);
    const size_t lda = ta ? m : k, ldb = tb ? k : n;
    const float alpha = 0.75f;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t p = 0; p < k; p++)
                s += (double)(ta ? A[p * lda + i] : A[i * lda + p]) * (double)(tb ? B[j * ldb + p] : B[p * ldb + j]);
            want[i * n + j] = alpha * s + (double)beta * C[i * n + j];
        }
    cl_int err;
    cl_mem da = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, na * 4, A, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_mem db = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, nb * 4, B, &err);
    assert_int_equal(err, CL_SUCCESS);
    cl_mem dc = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, nc * 4, C, &err);
    assert_int_equal(err, CL_SUCCESS);
    TU_OK(unet_gemm_with(ctx, UNET_GEMM_CLBLAST, ta, tb, m, n, k, alpha, da, 0, lda, db, 0, ldb, beta, dc, 0, n));
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, dc, CL_TRUE, 0, nc * 4, got, 0, NULL, NULL), CL_SUCCESS);
    char what[96];
    snprintf(what, sizeof what, "CLBlast %zux%zux%zu ta=%d tb=%d", m, n, k, ta, tb);
    tu_assert_close(what, got, want, nc, 1e-5 * (double)k, 1e-4);
    clReleaseMemObject(da);
    clReleaseMemObject(db);
    clReleaseMemObject(dc);
    free(A);
    free(B);
    free(C);
    free(got);
    free(want);
}

static void check_all_shapes(unet_context *ctx, uint64_t seed)
{
    /* odd sizes, not multiples of any tile; 1 and 3 rows (channels) */
    check_gemm(ctx, 0, 0, 37, 101, 27, 0.0f, seed + 1);
    check_gemm(ctx, 1, 0, 27, 53, 3, 1.0f, seed + 2);
    check_gemm(ctx, 0, 1, 3, 27, 90, 0.5f, seed + 3);
    check_gemm(ctx, 1, 1, 1, 65, 19, 0.0f, seed + 4);
}

/* Round trip: every field written comes back. */
static void test_round_trip(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    static unet_clblast_tuning t, r;
    make_tuning(&t, &ctx->info, 1);
    char path[1100];
    unet_clblast_tuning_path(g_dir, &ctx->info, path, sizeof path);
    TU_OK(unet_clblast_tuning_write(path, &t));
    char why[512];
    assert_int_equal(unet_clblast_tuning_read(path, &ctx->info, &r, why, sizeof why), UNET_TUNING_OK);
    assert_string_equal(r.device, ctx->info.name);
    assert_string_equal(r.driver, ctx->info.driver_version);
    assert_string_equal(r.clblast, unet_clblast_version());
    assert_string_equal(r.method, "test_clblast_tune");
    assert_int_equal(r.nkernels, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.kernels[i].kernel, t.kernels[i].kernel);
        assert_int_equal(r.kernels[i].n, t.kernels[i].n);
        for (int j = 0; j < t.kernels[i].n; j++)
            assert_int_equal(unet_clblast_params_get(&r.kernels[i], t.kernels[i].names[j], 999999),
                             t.kernels[i].values[j]);
    }
    assert_int_equal(r.nmeasured, 2);
    assert_string_equal(r.measured[1].shape, "576x4096x64tA");
    assert_true(r.measured[0].default_ms == 12.5 && r.measured[0].tuned_ms == 3.25);
    /* another device name: not applied */
    unet_device_info other = ctx->info;
    snprintf(other.name, sizeof other.name, "some other device");
    assert_int_equal(unet_clblast_tuning_read(path, &other, &r, why, sizeof why), UNET_TUNING_STALE);
}

/* CLBlast's own parameter sets have the names this test uses (helper built). */
static void test_helper_names(void **state)
{
    (void)state;
    const char *bin = getenv("UNETCL_BINARY_DIR");
    char helper[1024];
    snprintf(helper, sizeof helper, "%s/unetcl-tune-helper", bin ? bin : ".");
    if (access(helper, X_OK) != 0) {
        print_message("  unetcl-tune-helper not built: name check skipped\n");
        return;
    }
    unet_context *ctx = tu_ctx();
    const char *kern[2] = {"Xgemm", "XgemmDirect"};
    const char *const *names[2] = {XN, DN};
    const int counts[2] = {16, 10};
    for (int i = 0; i < 2; i++) {
        char cmd[1400], line[256];
        snprintf(cmd, sizeof cmd, "'%s' --device %d current %s", helper, ctx->info.index, kern[i]);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        int n = 0, ok = 0;
        while (fgets(line, sizeof line, p)) {
            char name[64];
            unsigned long long v;
            if (sscanf(line, "param %63s %llu", name, &v) == 2) {
                int found = 0;
                for (int j = 0; j < counts[i]; j++) found |= !strcmp(names[i][j], name);
                if (!found) fail_msg("CLBlast's %s has parameter %s, unknown to this test", kern[i], name);
                n++;
            } else if (!strncmp(line, "ok", 2))
                ok = 1;
        }
        assert_int_equal(pclose(p), 0);
        assert_true(ok);
        assert_int_equal(n, counts[i]);
    }
}

/* The file is applied at the first CLBlast GEMM and results stay right,
 * through the indirect (XGEMM_MIN_INDIRECT_SIZE 1) and the direct kernel. */
static void test_apply(void **state)
{
    (void)state;
    unet_context *info_ctx = tu_ctx();
    static unet_clblast_tuning t;
    char path[1100];
    unet_clblast_tuning_path(g_dir, &info_ctx->info, path, sizeof path);
    const size_t switch_at[2] = {1, 100000};
    for (int i = 0; i < 2; i++) {
        make_tuning(&t, &info_ctx->info, switch_at[i]);
        TU_OK(unet_clblast_tuning_write(path, &t));
        unet_context *ctx = make_ctx(1);
        assert_int_equal(ctx->clblast_tuning, 0);
        check_all_shapes(ctx, 100 + 10 * (uint64_t)i);
        assert_int_equal(ctx->clblast_tuning, 1); /* applied */
        unet_context_destroy(ctx);
    }
}

/* Files that must be ignored: CLBlast's path runs (with whatever parameters
 * it has) and stays right; the state says why. */
static void test_bad_files(void **state)
{
    (void)state;
    unet_context *info_ctx = tu_ctx();
    char path[1100], why[512];
    unet_clblast_tuning_path(g_dir, &info_ctx->info, path, sizeof path);
    static unet_clblast_tuning t, r;
    make_tuning(&t, &info_ctx->info, 1);
    TU_OK(unet_clblast_tuning_write(path, &t));
    char *good = read_text(path);

    struct {
        const char *what;
        char text[8192];
        unet_tuning_state want;
    } *cases = calloc(12, sizeof *cases);
    assert_non_null(cases);
    int n = 0;
    cases[n].what = "empty";
    cases[n++].want = UNET_TUNING_CORRUPT;
    cases[n].what = "truncated";
    snprintf(cases[n].text, sizeof cases[n].text, "%.*s", (int)(strlen(good) / 2), good);
    cases[n++].want = UNET_TUNING_CORRUPT;
    cases[n].what = "binary garbage";
    for (int i = 0; i < 200; i++) cases[n].text[i] = (char)(1 + (i * 37) % 250);
    cases[n++].want = UNET_TUNING_CORRUPT;
    /* textual edits of the good file */
    const char *edits[][2] = {
        {"\"unetcl-clblast-tuning-1\"", "\"unetcl-clblast-tuning-0\""}, /* other format */
        {"\"MWG\":\t32", "\"MWG\":\t-32"},                             /* negative */
        {"\"MWG\":\t32", "\"MWG\":\t\"32\""},                          /* string */
        {"\"MWG\":\t32", "\"MWG\":\t32.5"},                            /* fraction */
        {"\"XgemmDirect\":", "\"XgemmIndirect\":"},                   /* unknown kernel */
        {"\"driver\":\t\"", "\"driver\":\t\"old "},                    /* stale driver */
        {"\"clblast\":\t\"", "\"clblast\":\t\"0.9 "},                   /* stale CLBlast */
    };
    const unet_tuning_state ewant[] = {UNET_TUNING_CORRUPT, UNET_TUNING_CORRUPT, UNET_TUNING_CORRUPT,
                                       UNET_TUNING_CORRUPT, UNET_TUNING_CORRUPT, UNET_TUNING_STALE, UNET_TUNING_STALE};
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        const char *at = strstr(good, edits[e][0]);
        if (!at) fail_msg("edit %zu: \"%s\" not in the written file:\n%s", e, edits[e][0], good);
        snprintf(cases[n].text, sizeof cases[n].text, "%.*s%s%s", (int)(at - good), good, edits[e][1],
                 at + strlen(edits[e][0]));
        cases[n].what = edits[e][1];
        cases[n++].want = ewant[e];
    }
    for (int c = 0; c < n; c++) {
        write_text(path, cases[c].text);
        const unet_tuning_state st = unet_clblast_tuning_read(path, &info_ctx->info, &r, why, sizeof why);
        if (st != cases[c].want) fail_msg("case \"%s\": state %d, want %d (%s)", cases[c].what, st, cases[c].want, why);
        assert_true(strlen(why) > 0);
    }
    /* one corrupt and one stale file through a context: ignored, GEMM right */
    for (int c = 2; c < n; c += n - 3) {
        write_text(path, cases[c].text);
        unet_context *ctx = make_ctx(1);
        check_all_shapes(ctx, 300 + (uint64_t)c);
        assert_int_equal(ctx->clblast_tuning, -1);
        unet_context_destroy(ctx);
    }
    /* a parameter set CLBlast refuses (one Xgemm parameter missing): ignored */
    make_tuning(&t, &info_ctx->info, 1);
    t.kernels[0].n--;
    TU_OK(unet_clblast_tuning_write(path, &t));
    assert_int_equal(unet_clblast_tuning_read(path, &info_ctx->info, &r, why, sizeof why), UNET_TUNING_OK);
    unet_context *ctx = make_ctx(1);
    check_all_shapes(ctx, 400);
    assert_int_equal(ctx->clblast_tuning, -1);
    unet_context_destroy(ctx);
    /* a good file, disabled by the environment */
    make_tuning(&t, &info_ctx->info, 1);
    TU_OK(unet_clblast_tuning_write(path, &t));
    setenv("UNETCL_CLBLAST_TUNING", "0", 1);
    ctx = make_ctx(1);
    unsetenv("UNETCL_CLBLAST_TUNING");
    check_all_shapes(ctx, 500);
    assert_int_equal(ctx->clblast_tuning, -1);
    unet_context_destroy(ctx);
    /* no file at all */
    remove(path);
    ctx = make_ctx(0);
    check_all_shapes(ctx, 600);
    assert_int_equal(ctx->clblast_tuning, -1);
    unet_context_destroy(ctx);
    free(cases);
    free(good);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/unetcl-test-clblast-tune-%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_helper_names),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_bad_files),
    };
    int rc = TU_RUN("clblast_tune", tests);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return rc;
}
