/* Context creation, device selection and the program-binary cache. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_cache[256];

static void rm_cache(void)
{
    DIR *d = opendir(g_cache);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", g_cache, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static int count_entries(void)
{
    DIR *d = opendir(g_cache);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin") && !strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}

static unet_context *make(const char *device, int disable)
{
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = device;
    o.cache_dir = g_cache;
    o.disable_cache = disable;
    unet_context *c = NULL;
    TU_OK(unet_context_create(&o, &c));
    return c;
}

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = UNET_OK; s <= UNET_ERR_INTERNAL; s++) {
        const char *m = unet_status_string((unet_status)s);
        assert_non_null(m);
        assert_true(strlen(m) > 3);
        assert_string_not_equal(m, "unknown status");
    }
    assert_string_equal(unet_status_string((unet_status)999), "unknown status");
}

static void test_selectors(void **state)
{
    (void)state;
    unet_device_info *d;
    int n;
    TU_OK(unet_list_devices(&d, &n));
    assert_true(n > 0);
    unet_context *c = make("0", 1);
    unet_device_info info;
    TU_OK(unet_context_device_info(c, &info));
    assert_string_equal(info.name, d[0].name);
    unet_context_destroy(c);
    /* a name substring selects the same device */
    char sub[8];
    snprintf(sub, sizeof sub, "%.5s", d[0].name);
    c = make(sub, 1);
    TU_OK(unet_context_device_info(c, &info));
    assert_int_equal(info.index, 0);
    unet_context_destroy(c);
    /* no match: a clear error listing the devices */
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = "no-such-device-xyz";
    unet_context *bad = NULL;
    assert_int_equal(unet_context_create(&o, &bad), UNET_ERR_NO_DEVICE);
    assert_null(bad);
    assert_non_null(strstr(unet_last_error(), "no-such-device-xyz"));
    assert_non_null(strstr(unet_last_error(), d[0].name));
    o.device = "999";
    assert_int_equal(unet_context_create(&o, &bad), UNET_ERR_NO_DEVICE);
    free(d);
}

static void test_binary_cache(void **state)
{
    (void)state;
    rm_cache();
    unet_cache_stats s1, s2;
    unet_context *c = make(getenv("UNETCL_TEST_DEVICE"), 0);
    TU_OK(unet_context_build_all(c));
    unet_context_cache_stats(c, &s1);
    unet_context_destroy(c);
    assert_true(s1.programs_compiled > 0);
    assert_int_equal(s1.programs_loaded, 0);
    int entries = count_entries();
    assert_int_equal(entries, s1.programs_compiled);

    c = make(getenv("UNETCL_TEST_DEVICE"), 0);
    TU_OK(unet_context_build_all(c));
    unet_context_cache_stats(c, &s2);
    unet_context_destroy(c);
    assert_int_equal(s2.programs_compiled, 0);
    assert_int_equal(s2.programs_loaded, s1.programs_compiled);
    print_message("  cold build %.3f s, cached %.3f s (%d programs)\n", s1.build_seconds, s2.build_seconds,
                  s1.programs_compiled);

    /* corrupt every entry: the next context must silently compile again */
    DIR *d = opendir(g_cache);
    struct dirent *e;
    char p[600];
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".bin")) continue;
        snprintf(p, sizeof p, "%s/%s", g_cache, e->d_name);
        FILE *f = fopen(p, "r+b");
        assert_non_null(f);
        fseek(f, 40, SEEK_SET);
        fputc(0x5a, f);
        fputc(0xa5, f);
        fclose(f);
    }
    closedir(d);
    c = make(getenv("UNETCL_TEST_DEVICE"), 0);
    TU_OK(unet_context_build_all(c));
    unet_context_cache_stats(c, &s2);
    unet_context_destroy(c);
    assert_int_equal(s2.programs_loaded, 0);
    assert_int_equal(s2.programs_compiled, s1.programs_compiled);

    /* disabled cache never loads */
    c = make(getenv("UNETCL_TEST_DEVICE"), 1);
    TU_OK(unet_context_build_all(c));
    unet_context_cache_stats(c, &s2);
    unet_context_destroy(c);
    assert_int_equal(s2.programs_loaded, 0);
    rm_cache();
    rmdir(g_cache);
}

int main(void)
{
    snprintf(g_cache, sizeof g_cache, "/tmp/unetcl-test-cache-%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_binary_cache),
    };
    return TU_RUN("context", tests);
}
