/* The last-error message: context prepended to it and a message formatted
 * from the current one stay intact (issue 12, item 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cl_error.h"

static void test_seterr_from_itself(void **state)
{
    (void)state;
    unet_seterr(UNET_ERR_DATA, "image pixel %d of channel %d is not a finite number", 3, 0);
    /* the pattern the CLI used: the old message as an argument */
    assert_int_equal(unet_seterr(UNET_ERR_DATA, "%s: %s", "/data/in.tif", unet_last_error()), UNET_ERR_DATA);
    assert_string_equal(unet_last_error(), "/data/in.tif: image pixel 3 of channel 0 is not a finite number");
    /* the old message first, then more */
    unet_seterr(UNET_ERR_IO, "%s (and then %s)", unet_last_error(), "more");
    assert_string_equal(unet_last_error(),
                        "/data/in.tif: image pixel 3 of channel 0 is not a finite number (and then more)");
}

static void test_errctx(void **state)
{
    (void)state;
    unet_seterr(UNET_ERR_FORMAT, "bad header");
    assert_int_equal(unet_errctx(UNET_ERR_FORMAT, "%s", "a.png"), UNET_ERR_FORMAT);
    assert_string_equal(unet_last_error(), "a.png: bad header");
    /* the context may quote the message itself */
    unet_errctx(UNET_ERR_FORMAT, "[%s]", unet_last_error());
    assert_string_equal(unet_last_error(), "[a.png: bad header]: a.png: bad header");
    /* no message yet: the status string */
    unet_clear_error();
    unet_errctx(UNET_ERR_IO, "b.png");
    assert_string_equal(unet_last_error(), "b.png: I/O error");
}

/* Messages up to 16 KiB are kept whole (they were cut at 2,048 bytes
 * without a sign); longer ones end in "[...]" (issue 12, item 8). */
static void test_long_messages(void **state)
{
    (void)state;
    static char path[6001], want[8000], huge[40001];
    memset(path, 'p', sizeof path - 1);
    path[0] = '/';
    snprintf(want, sizeof want, "cannot open %s: No such file or directory", path);
    unet_seterr(UNET_ERR_IO, "cannot open %s: %s", path, "No such file or directory");
    assert_string_equal(unet_last_error(), want);
    /* two long paths through errctx */
    unet_errctx(UNET_ERR_IO, "reading %s", path);
    assert_int_equal(strlen(unet_last_error()), strlen("reading : ") + strlen(path) + strlen(want));
    assert_non_null(strstr(unet_last_error(), "No such file or directory"));
    /* too long: cut, and the cut shows */
    memset(huge, 'h', sizeof huge - 1);
    unet_seterr(UNET_ERR_IO, "x%s", huge);
    size_t n = strlen(unet_last_error());
    assert_true(n > 16000 && n < 16384);
    assert_string_equal(unet_last_error() + n - 5, "[...]");
    unet_seterr(UNET_ERR_IO, "short");
    unet_errctx(UNET_ERR_IO, "%s", huge);
    n = strlen(unet_last_error());
    assert_true(n > 16000 && n < 16384);
    assert_string_equal(unet_last_error() + n - 5, "[...]");
    unet_seterr(UNET_ERR_IO, "%.16000s", huge);
    unet_errctx(UNET_ERR_IO, "%.16000s", huge);
    n = strlen(unet_last_error());
    assert_true(n < 16384);
    assert_string_equal(unet_last_error() + n - 5, "[...]");
}

/* Control bytes quoted from a file (an escape sequence in an INI value or a
 * model's metadata) are shown as \xNN, never sent to the terminal. */
static void test_control_bytes(void **state)
{
    (void)state;
    unet_seterr(UNET_ERR_CONFIG, "a.ini:3: value \"%s\" is not a number", "\x1b[2J\x1b]0;pwned\x07\r\n\x7f!");
    assert_string_equal(unet_last_error(), "a.ini:3: value \"\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x0a\\x7f!\" is not a number");
    unet_errctx(UNET_ERR_CONFIG, "loading \x1b[31m%s", "b\tc");
    assert_string_equal(unet_last_error(),
                        "loading \\x1b[31mb\\x09c: a.ini:3: value \"\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x0a\\x7f!\" is not a number");
    /* a compiler's build log keeps its lines, also under context; other
     * control bytes in it are escaped */
    unet_seterr_multiline(UNET_ERR_BUILD, "build log:\n%s", "k.cl:3:1: error\x1b[0m\n\tx = 1;");
    unet_errctx(UNET_ERR_BUILD, "[train] %s", "tile\x1b");
    assert_string_equal(unet_last_error(), "[train] tile\\x1b: build log:\nk.cl:3:1: error\\x1b[0m\n\tx = 1;");
    /* UTF-8 stays as it is */
    unet_seterr(UNET_ERR_IO, "cannot open %s", "Zellkerne_\xc3\xa4.tif");
    assert_string_equal(unet_last_error(), "cannot open Zellkerne_\xc3\xa4.tif");
}

/* CL_OUT_OF_RESOURCES at clFinish or a blocking read is an earlier kernel's
 * failure, not memory (it was reported as "out of memory"); at an
 * allocation it stays out of memory. */
static void test_sync_failure(void **state)
{
    (void)state;
    assert_int_equal(unet_cl_sync_fail(CL_OUT_OF_RESOURCES, "src/host/ocl/program.c", 377, "clFinish"), UNET_ERR_OPENCL);
    assert_null(strstr(unet_last_error(), "out of memory"));
    assert_non_null(strstr(unet_last_error(), "clFinish failed with CL_OUT_OF_RESOURCES (-5) at program.c:377"));
    assert_non_null(strstr(unet_last_error(), "UNETCL_KPROF=1"));
    assert_int_equal(unet_cl_sync_fail(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, "t.c", 1, "clEnqueueReadBuffer"),
                     UNET_ERR_OPENCL);
    assert_non_null(strstr(unet_last_error(), "a kernel enqueued before it failed"));
    /* other errors at a synchronisation point as before */
    assert_int_equal(unet_cl_sync_fail(CL_OUT_OF_HOST_MEMORY, "t.c", 1, "clFinish"), UNET_ERR_OUT_OF_MEMORY);
    assert_int_equal(unet_cl_sync_fail(CL_INVALID_COMMAND_QUEUE, "t.c", 1, "clFinish"), UNET_ERR_OPENCL);
    /* an allocation */
    assert_int_equal(unet_cl_fail(CL_OUT_OF_RESOURCES, "t.c", 1, "clCreateBuffer"), UNET_ERR_OUT_OF_MEMORY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seterr_from_itself),
        cmocka_unit_test(test_errctx),
        cmocka_unit_test(test_long_messages),
        cmocka_unit_test(test_control_bytes),
        cmocka_unit_test(test_sync_failure),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
