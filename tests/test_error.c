/* The last-error message: context prepended to it and a message formatted
 * from the current one stay intact (issue 12, item 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "error.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seterr_from_itself),
        cmocka_unit_test(test_errctx),
    };
    return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
