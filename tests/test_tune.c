/* The public tuning API (include/unetcl/tune.h): bad options get one-line
 * errors before any device work; a short CPU search writes the device's
 * tuning file, which a new context then uses (unet_tune_describe); a
 * cancelled search returns UNET_ERR_INTERRUPTED and leaves neither a file nor
 * a temporary file; the GPU-convolution choice on a tiny U-Net writes its
 * entries (and is cancellable too); the CLBlast driver reports a helper that
 * cannot run, or a caller's run_helper that fails, as an error and writes
 * nothing. Calls only unetcl/unetcl.h. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "unetcl/unetcl.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[256];
static int g_case;

/* A new empty cache folder per case. */
static void new_dir(char *out, size_t n)
{
    snprintf(out, n, "%s/c%d", g_root, ++g_case);
    assert_int_equal(unet_mkdir_p(out), 0);
}

/* Tuning files in dir, their temporaries (PATH.tmp.PID.N) included; any
 * temporary file at all counts too. (The folder also holds the program
 * binary cache of the contexts.) */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (!strncmp(e->d_name, "cpu-tuning-", 11) || !strncmp(e->d_name, "convgpu-", 8) ||
            !strncmp(e->d_name, "clblast-", 8) || strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

static const char *device(void)
{
    const char *d = getenv("UNETCL_TEST_DEVICE");
    return (d && *d) ? d : NULL;
}

static int is_cpu(void)
{
    unet_device_info info;
    TU_OK(unet_context_device_info(tu_ctx(), &info));
    return info.type == UNET_DEVICE_CPU;
}

typedef struct progress_log {
    int lines;
    int cancel_at; /* cancel on this line (1-based); 0: never */
    int bad_fraction;
    double last_fraction;
} progress_log;

static int on_progress(const char *message, double fraction, void *user)
{
    progress_log *p = user;
    p->lines++;
    if (!(fraction >= 0 && fraction <= 1)) p->bad_fraction = 1;
    p->last_fraction = fraction;
    assert_non_null(message);
    assert_null(strchr(message, '\n'));
    return p->cancel_at > 0 && p->lines >= p->cancel_at;
}

static void expect_bad(const unet_tune_options *o, unsigned drivers, const char *needle)
{
    assert_int_equal(unet_tune_options_check(o, drivers), UNET_ERR_INVALID_ARGUMENT);
    const char *m = unet_last_error();
    if (!strstr(m, needle)) fail_msg("message \"%s\" does not name \"%s\"", m, needle);
    assert_null(strchr(m, '\n'));
    /* the driver itself refuses the same options before touching a device */
    unet_status st = drivers == UNET_TUNE_CPU    ? unet_tune_cpu(o, NULL)
                     : drivers == UNET_TUNE_CONV ? unet_tune_conv(o, NULL)
                                                 : unet_tune_clblast(o, NULL);
    assert_int_equal(st, UNET_ERR_INVALID_ARGUMENT);
    assert_null(strchr(unet_last_error(), '\n'));
}

static void test_bad_options(void **state)
{
    (void)state;
    unet_tune_options o;
    unet_tune_options_default(&o);
    assert_int_equal(o.base, 64);
    assert_true(o.seconds == 120);
    TU_OK(unet_tune_options_check(&o, UNET_TUNE_CLBLAST | UNET_TUNE_CONV | UNET_TUNE_CPU));
    o.seconds = -5;
    expect_bad(&o, UNET_TUNE_CPU, "seconds");
    unet_tune_options_default(&o);
    o.precision = "fp8";
    expect_bad(&o, UNET_TUNE_CONV, "fp8");
    unet_tune_options_default(&o);
    o.base = 0;
    expect_bad(&o, UNET_TUNE_CONV, "base");
    unet_tune_options_default(&o);
    o.tile = 124;
    expect_bad(&o, UNET_TUNE_CONV, "188");
    unet_tune_options_default(&o);
    o.fraction = -0.1;
    expect_bad(&o, UNET_TUNE_CLBLAST, "fraction");
    unet_tune_options_default(&o);
    o.timeout_s = 0.5;
    expect_bad(&o, UNET_TUNE_CLBLAST, "timeout");
    assert_int_equal(unet_tune_options_check(NULL, UNET_TUNE_CPU), UNET_ERR_INVALID_ARGUMENT);
    /* each driver checks only what it uses */
    unet_tune_options_default(&o);
    o.precision = "fp8";
    TU_OK(unet_tune_options_check(&o, UNET_TUNE_CPU));
}

/* A 1-second search writes the file; a new context on the same folder uses it. */
static void test_cpu_search_and_describe(void **state)
{
    (void)state;
    if (!is_cpu()) skip();
    char dir[320];
    new_dir(dir, sizeof dir);
    unet_context_options co;
    unet_context_options_default(&co);
    co.device = device();
    co.cache_dir = dir;
    unet_context *c = NULL;
    TU_OK(unet_context_create(&co, &c));
    unet_tune_info *info = calloc(1, sizeof *info);
    assert_non_null(info);
    TU_OK(unet_tune_describe(c, info));
    unet_context_destroy(c);
    assert_int_not_equal(info->cpu_source, UNET_TUNE_CPU_FILE);
    assert_int_equal(info->cpu_nknobs, UNET_TUNE_CPU_KNOBS);
    assert_string_equal(info->cache_dir, dir);
    assert_int_equal(info->clblast_state, UNET_TUNE_FILE_NONE);
    assert_non_null(strstr(info->summary, "CLBlast:"));

    unet_tune_options o;
    unet_tune_options_default(&o);
    o.device = device();
    o.cache_dir = dir;
    o.seconds = 1;
    o.ship_match = "Test CPU";
    progress_log p = {0};
    o.progress = on_progress;
    o.user = &p;
    unet_tune_cpu_result *r = calloc(1, sizeof *r);
    assert_non_null(r);
    TU_OK(unet_tune_cpu(&o, r));
    assert_true(p.lines >= 3);
    assert_false(p.bad_fraction);
    assert_true(p.last_fraction == 1.0);
    assert_string_equal(r->path, info->cpu_path);
    assert_int_equal(access(r->path, R_OK), 0);
    assert_non_null(strstr(r->text, "UNETCL_GEMM_KC"));
    assert_non_null(strstr(r->shipped, "Test CPU"));
    assert_true(r->default_ms > 0 && r->tuned_ms > 0 && r->tuned_ms <= r->default_ms);
    assert_int_equal(count_files(dir), 1); /* the file, no temporary left */

    TU_OK(unet_context_create(&co, &c));
    TU_OK(unet_tune_describe(c, info));
    unet_context_destroy(c);
    assert_int_equal(info->cpu_source, UNET_TUNE_CPU_FILE);
    assert_string_equal(unet_tune_cpu_source_name(info->cpu_source), "tuning file");
    assert_non_null(strstr(info->cpu_why, r->path));
    free(r);
    free(info);
}

/* Cancelled from the callback: UNET_ERR_INTERRUPTED, nothing written. */
static void test_cpu_cancel(void **state)
{
    (void)state;
    if (!is_cpu()) skip();
    char dir[320];
    new_dir(dir, sizeof dir);
    unet_tune_options o;
    unet_tune_options_default(&o);
    o.device = device();
    o.cache_dir = dir;
    o.seconds = 30;
    progress_log p = {0};
    p.cancel_at = 2;
    o.progress = on_progress;
    o.user = &p;
    unet_tune_cpu_result r;
    assert_int_equal(unet_tune_cpu(&o, &r), UNET_ERR_INTERRUPTED);
    assert_int_equal(p.lines, 2);
    assert_non_null(strstr(unet_last_error(), "cancelled"));
    assert_int_equal(count_files(dir), 0);
}

/* The per-layer choice on a tiny U-Net (`unetcl tune --conv-only --tile 188 --base 4 --reps 1`). */
static void test_conv_choice(void **state)
{
    (void)state;
    char dir[320];
    new_dir(dir, sizeof dir);
    unet_tune_options o;
    unet_tune_options_default(&o);
    o.device = device();
    o.cache_dir = dir;
    o.tile = 188;
    o.base = 4;
    o.reps = 1;
    progress_log p = {0};
    o.progress = on_progress;
    o.user = &p;
    /* cancelled after the third line: nothing written */
    p.cancel_at = 3;
    assert_int_equal(unet_tune_conv(&o, NULL), UNET_ERR_INTERRUPTED);
    assert_int_equal(count_files(dir), 0);

    memset(&p, 0, sizeof p);
    unet_tune_conv_result r;
    TU_OK(unet_tune_conv(&o, &r));
    assert_int_equal(r.layers, 18);
    assert_int_equal(r.entries, 54);
    assert_int_equal(r.cpu_device, is_cpu());
    assert_true(p.lines >= 1 + 54);
    assert_false(p.bad_fraction);
    FILE *f = fopen(r.path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 1 << 20);
    assert_non_null(text);
    const size_t len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    assert_true(len > 0);
    assert_non_null(strstr(text, "unetcl-convgpu-tuning-1"));
    int entries = 0;
    for (const char *s = text; (s = strstr(s, "\"choice\"")); s++) entries++;
    assert_int_equal(entries, 54);
    free(text);
    assert_int_equal(count_files(dir), 1);

    unet_context_options co;
    unet_context_options_default(&co);
    co.device = device();
    co.cache_dir = dir;
    unet_context *c = NULL;
    TU_OK(unet_context_create(&co, &c));
    unet_tune_info info;
    TU_OK(unet_tune_describe(c, &info));
    unet_context_destroy(c);
    assert_int_equal(info.conv_present, 1);
    assert_string_equal(info.conv_path, r.path);
}

static unet_status failing_runner(char *const argv[], double timeout_s, char *out, size_t n, void *user)
{
    (void)timeout_s;
    (void)out;
    (void)n;
    int *calls = user;
    (*calls)++;
    assert_non_null(argv[0]);
    assert_string_equal(argv[0], "my-helper");
    return unet_seterr(UNET_ERR_IO, "no helper here");
}

static unet_status silent_runner(char *const argv[], double timeout_s, char *out, size_t n, void *user)
{
    (void)argv;
    (void)timeout_s;
    (void)user;
    snprintf(out, n, "something else\n");
    return UNET_OK;
}

/* The CLBlast driver: the helper cannot run / the caller's runner fails or gives nothing. */
static void test_clblast_helper_errors(void **state)
{
    (void)state;
    char dir[320];
    new_dir(dir, sizeof dir);
    unet_tune_options o;
    unet_tune_options_default(&o);
    o.device = device();
    o.cache_dir = dir;
    o.quick = 1;
    o.helper = "/nonexistent/unetcl-tune-helper";
    assert_int_not_equal(unet_tune_clblast(&o, NULL), UNET_OK);
    assert_non_null(strstr(unet_last_error(), "cannot run the tuner helper"));
    assert_null(strchr(unet_last_error(), '\n'));

    int calls = 0;
    o.helper = "my-helper";
    o.run_helper = failing_runner;
    o.run_helper_user = &calls;
    assert_int_equal(unet_tune_clblast(&o, NULL), UNET_ERR_IO);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(unet_last_error(), "no helper here"));
    assert_non_null(strstr(unet_last_error(), "CLBlast's parameters"));

    o.run_helper = silent_runner;
    assert_int_equal(unet_tune_clblast(&o, NULL), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "no parameters"));
    assert_int_equal(count_files(dir), 0);
}

int main(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/unetcl-test-tune-%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_cpu_search_and_describe),
        cmocka_unit_test(test_cpu_cancel),
        cmocka_unit_test(test_conv_choice),
        cmocka_unit_test(test_clblast_helper_errors),
    };
    int rc = TU_RUN("tune", tests);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
