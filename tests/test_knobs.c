/* The knobs (src/host/ocl/knobs.c): read once at context creation from the
 * environment, a bad value refuses the context with one line naming it, an
 * unknown UNETCL_* name is a warning (with the nearest knob), the table in
 * docs/knobs.md is the one the code generates, and changing a knob on a live
 * context changes what the launch paths do (no getenv there: checked by
 * tests/test_no_getenv.sh). */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "gemm.h"
#include "ocl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unet_status create(unet_context **c)
{
    unet_context_options o;
    unet_context_options_default(&o);
    const char *d = getenv("UNETCL_TEST_DEVICE");
    o.device = (d && *d) ? d : NULL;
    *c = NULL;
    return unet_context_create(&o, c);
}

static void test_defaults_and_env(void **state)
{
    (void)state;
    unet_knobs d;
    unet_knobs_default(&d);
    assert_int_equal(d.hugepages, 1);
    assert_int_equal(d.wino_chunk_kb, -1);
    unet_context *c;
    TU_OK(create(&c));
    assert_int_equal(unet_context_knobs(c)->wino_chunk_kb, -1);
    assert_int_equal(unet_context_knobs(c)->conv_algo, 0);
    unet_context_destroy(c);

    setenv("UNETCL_WINO_CHUNK_KB", "512", 1);
    setenv("UNETCL_CONV_ALGO", "im2col", 1);
    setenv("UNETCL_HUGEPAGES", "0", 1);
    setenv("UNETCL_GEMM_LB", "1", 1);
    TU_OK(create(&c));
    unsetenv("UNETCL_WINO_CHUNK_KB");
    unsetenv("UNETCL_CONV_ALGO");
    unsetenv("UNETCL_HUGEPAGES");
    unsetenv("UNETCL_GEMM_LB");
    unet_knobs *k = unet_context_knobs(c);
    assert_int_equal(k->wino_chunk_kb, 512);
    assert_int_equal(k->conv_algo, UNET_ALGO_IM2COL);
    assert_int_equal(k->hugepages, 0);
    assert_int_equal(k->gemm_lb, 1);
    assert_true(k->from_env != 0);
    /* read once: the environment afterwards changes nothing */
    setenv("UNETCL_WINO_CHUNK_KB", "64", 1);
    assert_int_equal(k->wino_chunk_kb, 512);
    unsetenv("UNETCL_WINO_CHUNK_KB");
    char v[32];
    assert_int_equal(unet_knob_get(k, "UNETCL_WINO_CHUNK_KB", v, sizeof v), 0);
    assert_string_equal(v, "512");
    assert_int_equal(unet_knob_get(k, "UNETCL_NOPE", v, sizeof v), -1);
    /* an enum knob reads back as its value's name (what unet_knob_set and the
     * environment take; conv_gpu.c looks the GPU set up by it), "" unset */
    assert_int_equal(unet_knob_get(k, "UNETCL_CONV_ALGO", v, sizeof v), 0);
    assert_string_equal(v, "im2col");
    char err[256];
    assert_int_equal(unet_knob_set(k, "UNETCL_GPU_CONV_SET", "m128n64k8r8x4v4", err, sizeof err), 0);
    assert_int_equal(unet_knob_get(k, "UNETCL_GPU_CONV_SET", v, sizeof v), 0);
    assert_string_equal(v, "m128n64k8r8x4v4");
    assert_int_equal(unet_knob_set(k, "UNETCL_GPU_CONV_SET", "", err, sizeof err), 0);
    assert_int_equal(unet_knob_get(k, "UNETCL_GPU_CONV_SET", v, sizeof v), 0);
    assert_string_equal(v, "");
    unet_context_destroy(c);
}

static void test_bad_values(void **state)
{
    (void)state;
    static const char *bad[][2] = {{"UNETCL_CONV_ALGO", "fft"},     {"UNETCL_WINO_TW", "12"},
                                   {"UNETCL_WINO_CHUNK_KB", "lots"}, {"UNETCL_HUGEPAGES", "maybe"},
                                   {"UNETCL_GEMM_KC", "8"},          {"UNETCL_GEMM_LB", "2"},
                                   {"UNETCL_WINO_MIN_TILES", "-5"},  {"UNETCL_WGRAD", "Winograd"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(bad[i][0], bad[i][1], 1);
        unet_context *c;
        assert_int_equal(create(&c), UNET_ERR_CONFIG);
        assert_null(c);
        unsetenv(bad[i][0]);
        const char *m = unet_last_error();
        char want[96];
        snprintf(want, sizeof want, "%s=%s", bad[i][0], bad[i][1]);
        if (!strstr(m, want) || strchr(m, '\n')) fail_msg("message for %s: %s", want, m);
    }
}

static void test_unknown_names(void **state)
{
    (void)state;
    setenv("UNETCL_WINO_CHUNKKB", "4", 1); /* misspelt */
    setenv("UNETCL_TOTALLY_UNRELATED_THING", "1", 1);
    unet_context *c;
    TU_OK(create(&c));
    unsetenv("UNETCL_WINO_CHUNKKB");
    unsetenv("UNETCL_TOTALLY_UNRELATED_THING");
    const char *w = unet_context_warnings(c);
    assert_non_null(w);
    printf("warnings:\n%s\n", w);
    assert_non_null(strstr(w, "unknown environment variable UNETCL_WINO_CHUNKKB ignored (did you mean UNETCL_WINO_CHUNK_KB?)"));
    assert_non_null(strstr(w, "UNETCL_TOTALLY_UNRELATED_THING"));
    /* the misspelt knob did not change anything */
    assert_int_equal(unet_context_knobs(c)->wino_chunk_kb, -1);
    unet_context_destroy(c);
    TU_OK(create(&c));
    assert_null(unet_context_warnings(c));
    unet_context_destroy(c);
}

/* docs/knobs.md holds the table the code generates (one place of truth). */
static void test_doc_table(void **state)
{
    (void)state;
    const char *src = getenv("UNETCL_SOURCE_DIR");
    if (!src) skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/knobs.md", src);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    static char doc[65536], table[16384];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    unet_knobs_doc(table, sizeof table);
    if (!strstr(doc, table))
        fail_msg("docs/knobs.md does not hold the current knob table; replace it with:\n%s", table);
    for (int i = 0; i < unet_knob_count(); i++) assert_non_null(strstr(table, unet_knob_name(i)));
}

/* A knob changed on a live context changes the launch path: the GEMM path. */
static void test_live_change(void **state)
{
    (void)state;
    unet_context *c;
    TU_OK(create(&c));
    char err[200];
    unet_gemm_path p;
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_GEMM", "clblast", err, sizeof err), 0);
    TU_OK(unet_gemm_path_of(c, &p));
    assert_int_equal(p, UNET_GEMM_CLBLAST);
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_GEMM", "cpu", err, sizeof err), 0);
    TU_OK(unet_gemm_path_of(c, &p));
    assert_int_equal(p, UNET_GEMM_CPU);
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_GEMM", "gpu", err, sizeof err), -1);
    assert_non_null(strstr(err, "cpu|clblast"));
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_NOT_A_KNOB", "1", err, sizeof err), -1);
    unet_context_destroy(c);
}

/* The build options follow the knobs: UNETCL_PREFETCH sets the prefetch
 * distance of the CPU micro-kernels (default 32, 0 none, never on GPUs), and
 * UNETCL_NO_NT the streaming stores; the options are part of the program
 * cache's key, so each setting gets its own binaries. */
static void test_program_options(void **state)
{
    (void)state;
    unet_context *c;
    TU_OK(create(&c));
    char err[200], o[128];
    const int cpu = c->info.type == UNET_DEVICE_CPU;
    unet_program_options(c, o, sizeof o);
    assert_int_equal(strstr(o, "-DGEMM_PF=32") != NULL, cpu);
    assert_null(strstr(o, "WINO_NO_NT"));
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_PREFETCH", "0", err, sizeof err), 0);
    unet_program_options(c, o, sizeof o);
    assert_null(strstr(o, "GEMM_PF"));
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_PREFETCH", "16", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_NO_NT", "1", err, sizeof err), 0);
    unet_program_options(c, o, sizeof o);
    assert_int_equal(strstr(o, "-DGEMM_PF=16") != NULL, cpu);
    assert_non_null(strstr(o, "-DWINO_NO_NT"));
    assert_int_equal(unet_knob_set(unet_context_knobs(c), "UNETCL_PREFETCH", "257", err, sizeof err), -1);
    unet_context_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_env), cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_unknown_names),    cmocka_unit_test(test_doc_table),
        cmocka_unit_test(test_live_change),      cmocka_unit_test(test_program_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
