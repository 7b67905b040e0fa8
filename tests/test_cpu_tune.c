/* CPU kernel tuning (src/host/ocl/cpu_tune.c): every candidate setting of the
 * search space gives correct GEMMs (double reference) and Winograd
 * convolutions (against im2col + GEMM with the default knobs), the tuning
 * file round-trips, a corrupt or stale file is refused with a one-line
 * reason and the context falls back (shipped entry or defaults), the file's
 * values apply at context creation under the environment's, and a short
 * search and the first-use path write a file that the next context uses. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "conv_internal.h"
#include "cpu_tune.h"
#include "gemm.h"
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256];

static unet_context *make(const char *cache_dir)
{
    unet_context_options o;
    unet_context_options_default(&o);
    const char *d = getenv("UNETCL_TEST_DEVICE");
    o.device = (d && *d) ? d : NULL;
    o.cache_dir = cache_dir;
    unet_context *c = NULL;
    TU_OK(unet_context_create(&o, &c));
    return c;
}

static int is_cpu(void) { return tu_ctx()->info.type == UNET_DEVICE_CPU; }

static cl_mem upload(unet_context *ctx, const float *h, size_t n)
{
    cl_mem m;
    TU_OK(unet_buffer_alloc(ctx, &m, n * 4, "test"));
    assert_int_equal(clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, 0, n * 4, h, 0, NULL, NULL), CL_SUCCESS);
    return m;
}

static void download(unet_context *ctx, cl_mem m, float *h, size_t n)
{
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, m, CL_TRUE, 0, n * 4, h, 0, NULL, NULL), CL_SUCCESS);
}

/* C = A.B with every transpose, K larger than the smallest K-chunk candidate
 * and N larger than the smallest N-chunk candidate, against double sums. */
static void check_gemms(unet_context *ctx, const char *what)
{
    const size_t shapes[][3] = {{13, 2100, 900}, {65, 300, 1600}, {8, 97, 17}};
    tu_rng r;
    tu_seed(&r, 5);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            const int ta = t & 1, tb = t >> 1;
            const size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *c = malloc(m * n * 4);
            double *want = malloc(m * n * sizeof(double));
            assert_true(a && b && c && want);
            tu_fill_uniform(&r, a, m * k, -1, 1);
            tu_fill_uniform(&r, b, k * n, -1, 1);
            for (size_t i = 0; i < m; i++)
                for (size_t j = 0; j < n; j++) {
                    double sum = 0;
                    for (size_t q = 0; q < k; q++)
                        sum += (double)(ta ? a[q * m + i] : a[i * k + q]) * (double)(tb ? b[j * k + q] : b[q * n + j]);
                    want[i * n + j] = sum;
                }
            cl_mem da = upload(ctx, a, m * k), db = upload(ctx, b, k * n), dc = upload(ctx, c, m * n);
            TU_OK(unet_gemm_with(ctx, UNET_GEMM_CPU, ta, tb, m, n, k, 1.0f, da, 0, ta ? m : k, db, 0, tb ? k : n, 0.0f,
                                 dc, 0, n));
            download(ctx, dc, c, m * n);
            char w[160];
            snprintf(w, sizeof w, "%s gemm %zux%zux%zu ta%d tb%d", what, m, n, k, ta, tb);
            tu_assert_close(w, c, want, m * n, 1e-4 * sqrt((double)k), 1e-4);
            clReleaseMemObject(da), clReleaseMemObject(db), clReleaseMemObject(dc);
            free(a), free(b), free(c), free(want);
        }
}

/* Winograd forward and backward (data and weights) against plain-C double
 * sums (filled on the first call). */
typedef struct wref {
    double *out, *din, *dw;
} wref;

static void reference(const float *x, const float *wt, const float *bias, const float *dy, int cin, int cout, int h,
                      int w, wref *ref)
{
    const int ho = h - 2, wo = w - 2;
    ref->out = calloc((size_t)cout * ho * wo, sizeof(double));
    ref->din = calloc((size_t)cin * h * w, sizeof(double));
    ref->dw = calloc((size_t)cout * cin * 9, sizeof(double));
    assert_true(ref->out && ref->din && ref->dw);
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++)
            for (int k = 0; k < 9; k++) {
                const int ky = k / 3, kx = k % 3;
                const double wv = wt[((size_t)co * cin + ci) * 9 + k];
                double dwsum = 0;
                for (int y = 0; y < ho; y++) {
                    const float *xr = x + ((size_t)ci * h + y + ky) * w + kx;
                    const float *dyr = dy + ((size_t)co * ho + y) * wo;
                    double *outr = ref->out + ((size_t)co * ho + y) * wo;
                    double *dinr = ref->din + ((size_t)ci * h + y + ky) * w + kx;
                    for (int xx = 0; xx < wo; xx++) {
                        outr[xx] += wv * xr[xx];
                        dinr[xx] += wv * dyr[xx];
                        dwsum += (double)dyr[xx] * xr[xx];
                    }
                }
                ref->dw[((size_t)co * cin + ci) * 9 + k] = dwsum;
            }
    for (int co = 0; co < cout; co++)
        for (size_t i = 0; i < (size_t)ho * wo; i++) ref->out[(size_t)co * ho * wo + i] += bias[co];
}

static double maxabs(const double *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

static void check_winograd(unet_context *ctx, const char *what, wref *ref)
{
    const int cin = 64, cout = 40, h = 102, w = 102, ho = h - 2, wo = w - 2;
    const size_t nin = (size_t)cin * h * w, nout = (size_t)cout * ho * wo, nw = (size_t)cout * cin * 9;
    tu_rng r;
    tu_seed(&r, 11);
    float *x = malloc(nin * 4), *wt = malloc(nw * 4), *bias = malloc(cout * 4), *dy = malloc(nout * 4);
    assert_true(x && wt && bias && dy);
    tu_fill_uniform(&r, x, nin, -1, 1);
    tu_fill_uniform(&r, wt, nw, -0.1f, 0.1f);
    tu_fill_uniform(&r, bias, cout, -0.1f, 0.1f);
    tu_fill_uniform(&r, dy, nout, -1, 1);
    unet_tensor in, out, din, dout;
    TU_OK(unet_tensor_alloc(ctx, &in, cin, h, w, "in"));
    TU_OK(unet_tensor_alloc(ctx, &out, cout, ho, wo, "out"));
    TU_OK(unet_tensor_alloc(ctx, &din, cin, h, w, "din"));
    TU_OK(unet_tensor_alloc(ctx, &dout, cout, ho, wo, "dout"));
    assert_int_equal(clEnqueueWriteBuffer(ctx->queue, in.mem, CL_TRUE, 0, nin * 4, x, 0, NULL, NULL), CL_SUCCESS);
    cl_mem wm = upload(ctx, wt, nw), bm = upload(ctx, bias, cout), dwm = upload(ctx, wt, nw), dbm = upload(ctx, bias, cout);
    const size_t wsf = 4 * unet_conv_winograd_workspace_floats(ctx, cout, cin, h + 2, w + 2, (h + 3) / 4) +
                       36 * (size_t)(cout + 12) * (size_t)(cin + 32) * (size_t)(1 + (ho + 3) / 4 * ((wo + 3) / 4));
    cl_mem ws;
    TU_OK(unet_buffer_alloc(ctx, &ws, wsf * 4, "ws"));
    const unet_slice W = {wm, 0}, B = {bm, 0}, DW = {dwm, 0}, DB = {dbm, 0};
    if (!ref->out) reference(x, wt, bias, dy, cin, cout, h, w, ref);
    const unet_conv_algo_id algo = UNET_CONV_WINOGRAD_F4;
    TU_OK(unet_conv_forward_algo(ctx, algo, &in, W, B, 3, 0, &out, ws, wsf));
    assert_int_equal(clEnqueueWriteBuffer(ctx->queue, dout.mem, CL_TRUE, 0, nout * 4, dy, 0, NULL, NULL), CL_SUCCESS);
    TU_OK(unet_conv_backward_algo(ctx, algo, &in, &out, &dout, W, 3, 0, &din, 0, DW, DB, 0, ws, wsf));
    float *o = malloc(nout * 4), *di = malloc(nin * 4), *dw = malloc(nw * 4);
    download(ctx, out.mem, o, nout);
    download(ctx, din.mem, di, nin);
    download(ctx, dwm, dw, nw);
    /* bounds relative to the largest value (as test_winograd's check_scaled):
     * the weight gradient sums 10^4 products per value through the transforms */
    char m[160];
    snprintf(m, sizeof m, "%s winograd forward", what);
    tu_assert_close(m, o, ref->out, nout, 2e-4 * maxabs(ref->out, nout) + 1e-5, 0);
    snprintf(m, sizeof m, "%s winograd input gradient", what);
    tu_assert_close(m, di, ref->din, nin, 2e-4 * maxabs(ref->din, nin) + 1e-5, 0);
    snprintf(m, sizeof m, "%s weight gradient", what);
    tu_assert_close(m, dw, ref->dw, nw, 2e-4 * maxabs(ref->dw, nw) + 1e-5, 0);
    free(o), free(di), free(dw);
    unet_tensor_free(&in), unet_tensor_free(&out), unet_tensor_free(&din), unet_tensor_free(&dout);
    clReleaseMemObject(wm), clReleaseMemObject(bm), clReleaseMemObject(dwm), clReleaseMemObject(dbm);
    clReleaseMemObject(ws);
    free(x), free(wt), free(bias), free(dy);
}

static void test_every_candidate_is_correct(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    unet_knobs *k = unet_context_knobs(ctx);
    const unet_knobs dflt = *k;
    char err[200];
    assert_int_equal(unet_knob_set(k, "UNETCL_WGRAD", "winograd", err, sizeof err), 0);
    wref ref = {0};
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) {
        const long *vals;
        const int nv = unet_cpu_tune_candidates(i, &vals);
        assert_true(nv >= 2);
        for (int v = 0; v < nv; v++) {
            char txt[32], what[96];
            snprintf(txt, sizeof txt, "%ld", vals[v]);
            assert_int_equal(unet_knob_set(k, unet_cpu_tuned_knobs[i], txt, err, sizeof err), 0);
            snprintf(what, sizeof what, "%s=%s", unet_cpu_tuned_knobs[i], txt);
            if (i < 3) check_gemms(ctx, what);
            else check_winograd(ctx, what, &ref);
            printf("  ok: %s\n", what);
        }
        *k = dflt;
        assert_int_equal(unet_knob_set(k, "UNETCL_WGRAD", "winograd", err, sizeof err), 0);
    }
    *k = dflt;
    free(ref.out), free(ref.din), free(ref.dw);
}

/* docs/knobs.md marks *[tuned]* (at the end of a description) exactly the
 * knobs a CPU tuning sets (the table is generated from the same
 * descriptions, test_knobs). */
static void test_tuned_marks_match(void **state)
{
    (void)state;
    static char doc[65536];
    unet_knobs_doc(doc, sizeof doc);
    int marked = 0;
    for (char *line = doc; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        if (strstr(line, "[tuned] |") && line[0] == '|' && line[1] == ' ' && line[2] == '`') {
            char name[64];
            const char *e = strchr(line + 3, '`');
            assert_non_null(e);
            snprintf(name, sizeof name, "%.*s", (int)(e - line - 3), line + 3);
            int found = 0;
            for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) found |= !strcmp(name, unet_cpu_tuned_knobs[i]);
            if (!found) fail_msg("%s is marked [tuned] but no CPU tuning sets it", name);
            marked++;
        }
        line = nl ? nl + 1 : NULL;
    }
    assert_int_equal(marked, UNET_CPU_TUNED_KNOBS);
}

static void sample(unet_cpu_tuning *t, const unet_device_info *d)
{
    memset(t, 0, sizeof *t);
    snprintf(t->device, sizeof t->device, "%s", d->name);
    snprintf(t->vendor, sizeof t->vendor, "%s", d->vendor);
    snprintf(t->platform, sizeof t->platform, "%s", d->platform_name);
    snprintf(t->driver, sizeof t->driver, "%s", d->driver_version);
    const long v[UNET_CPU_TUNED_KNOBS] = {768, 0, 2048, 8, 4096, 0, 1};
    memcpy(t->values, v, sizeof v);
    t->default_ms = 100, t->tuned_ms = 80;
    snprintf(t->method, sizeof t->method, "test");
}

static void test_file_round_trip(void **state)
{
    (void)state;
    const unet_device_info *d = &tu_ctx()->info;
    unet_cpu_tuning t, r;
    sample(&t, d);
    char path[1100], why[600];
    unet_cpu_tuning_path(g_dir, d, path, sizeof path);
    TU_OK(unet_cpu_tuning_write(path, &t));
    assert_int_equal(unet_cpu_tuning_read(path, d, &r, why, sizeof why), 0);
    assert_memory_equal(t.values, r.values, sizeof t.values);
    assert_string_equal(r.device, d->name);
    assert_string_equal(r.driver, d->driver_version);
    remove(path);
    assert_int_equal(unet_cpu_tuning_read(path, d, &r, why, sizeof why), 1);
}

/* Each corruption is refused with one line naming what is wrong. */
static void test_corrupt_and_stale(void **state)
{
    (void)state;
    const unet_device_info *d = &tu_ctx()->info;
    unet_cpu_tuning t, r;
    sample(&t, d);
    char good[4096], bad[4096], why[400];
    assert_true(unet_cpu_tuning_format(&t, good, sizeof good) > 0);
    assert_int_equal(unet_cpu_tuning_parse(good, d, &r, why, sizeof why), 0);
    struct {
        const char *from, *to, *expect;
    } cases[] = {
        {"UNETCL_GEMM_KC = 768", "UNETCL_GEMM_KC = 769", "checksum mismatch"},
        {"format = unetcl-cpu-tuning-2", "format = unetcl-cpu-tuning-1", "format"},
        {"checksum", "chksum", "unknown key"},
        {NULL, "checksum", "no checksum line"},
        {NULL, NULL, "no \"key = value\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(bad, sizeof bad, "%s", good);
        if (cases[i].from) {
            char *p = strstr(bad, cases[i].from);
            assert_non_null(p);
            char rest[4096];
            snprintf(rest, sizeof rest, "%s", p + strlen(cases[i].from));
            sprintf(p, "%s%s", cases[i].to, rest);
        } else if (cases[i].to) {
            *strstr(bad, cases[i].to) = '\0'; /* cut short at a line end */
        } else {
            strstr(bad, "UNETCL_GEMM_LB")[9] = '\0'; /* cut short inside a line: "UNETCL_GE" */
        }
        assert_int_equal(unet_cpu_tuning_parse(bad, d, &r, why, sizeof why), -1);
        printf("  refused: %s\n", why);
        assert_non_null(strstr(why, cases[i].expect));
        assert_null(strchr(why, '\n'));
    }
    /* out of range, with a valid checksum */
    unet_cpu_tuning o = t;
    o.values[3] = 12; /* UNETCL_WINO_TW */
    assert_true(unet_cpu_tuning_format(&o, bad, sizeof bad) > 0);
    assert_int_equal(unet_cpu_tuning_parse(bad, d, &r, why, sizeof why), -1);
    assert_non_null(strstr(why, "UNETCL_WINO_TW = 12 is out of range"));
    /* stale driver, other device */
    o = t;
    snprintf(o.driver, sizeof o.driver, "0.0-old");
    assert_true(unet_cpu_tuning_format(&o, bad, sizeof bad) > 0);
    assert_int_equal(unet_cpu_tuning_parse(bad, d, &r, why, sizeof why), -1);
    assert_non_null(strstr(why, "stale"));
    o = t;
    snprintf(o.device, sizeof o.device, "another CPU");
    assert_true(unet_cpu_tuning_format(&o, bad, sizeof bad) > 0);
    assert_int_equal(unet_cpu_tuning_parse(bad, d, &r, why, sizeof why), -1);
    assert_non_null(strstr(why, "another device"));
    /* binary garbage as a file: the context still comes up, on the fallback */
    if (!is_cpu()) return;
    char path[1100];
    unet_cpu_tuning_path(g_dir, d, path, sizeof path);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x01\x02\x00garbage", 1, 10, f);
    fclose(f);
    unet_context *c = make(g_dir);
    assert_true(c->cpu_tuning == UNET_CPU_TUNING_NONE || c->cpu_tuning == UNET_CPU_TUNING_SHIPPED);
    printf("  fallback: %s\n", c->cpu_tuning_why);
    assert_non_null(strstr(c->cpu_tuning_why, "not a tuning file"));
    unet_context_destroy(c);
    remove(path);
}

/* The file applies at context creation; the environment wins. */
static void test_applied_under_env(void **state)
{
    (void)state;
    if (!is_cpu()) skip();
    const unet_device_info *d = &tu_ctx()->info;
    unet_cpu_tuning t;
    sample(&t, d);
    char path[1100];
    unet_cpu_tuning_path(g_dir, d, path, sizeof path);
    TU_OK(unet_cpu_tuning_write(path, &t));
    unet_context *c = make(g_dir);
    assert_int_equal(c->cpu_tuning, UNET_CPU_TUNING_FILE);
    assert_int_equal(c->knobs.gemm_kc, 768);
    assert_int_equal(c->knobs.gemm_nchunk, 2048);
    assert_int_equal(c->knobs.wino_tw, 8);
    assert_int_equal(c->knobs.wino_chunk_kb, 4096);
    unet_context_destroy(c);
    setenv("UNETCL_GEMM_KC", "384", 1);
    c = make(g_dir);
    unsetenv("UNETCL_GEMM_KC");
    assert_int_equal(c->knobs.gemm_kc, 384);   /* the environment */
    assert_int_equal(c->knobs.wino_tw, 8);     /* the file */
    unet_context_destroy(c);
    remove(path);
}

/* A short search keeps its values inside the candidates; the first-use path
 * writes the file and the next context loads it. */
static void test_search_and_first_use(void **state)
{
    (void)state;
    if (!is_cpu()) skip();
    unet_context *c = make(g_dir);
    assert_int_equal(c->cpu_tuning == UNET_CPU_TUNING_FILE, 0);
    unet_cpu_tuning t;
    TU_OK(unet_cpu_tune_search(c, 1.0, NULL, NULL, &t));
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) {
        const long *vals;
        int nv = unet_cpu_tune_candidates(i, &vals), found = 0;
        for (int v = 0; v < nv; v++) found |= vals[v] == t.values[i];
        assert_true(found);
    }
    assert_true(t.default_ms > 0 && t.tuned_ms > 0 && t.tuned_ms <= t.default_ms);
    c->knobs.cpu_tune_seconds = 1;
    unet_cpu_tune_first_use(c);
    assert_int_equal(c->cpu_tuning, UNET_CPU_TUNING_SEARCHED);
    unet_context_destroy(c);
    c = make(g_dir);
    assert_int_equal(c->cpu_tuning, UNET_CPU_TUNING_FILE);
    unet_context_destroy(c);
    char path[1100];
    unet_cpu_tuning_path(g_dir, &tu_ctx()->info, path, sizeof path);
    remove(path);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/unetcl-test-cpu-tune-%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tuned_marks_match),
        cmocka_unit_test(test_file_round_trip),     cmocka_unit_test(test_corrupt_and_stale),
        cmocka_unit_test(test_applied_under_env),   cmocka_unit_test(test_search_and_first_use),
        cmocka_unit_test(test_every_candidate_is_correct),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
