/* unet_rank_device (src/host/data/rankdev.h): which device each MPI rank of a host
 * opens. Host only: device lists are made up (no GPU is needed). */
#include "testutil.h"

#include <string.h>

#include "unetcl/unetcl.h"

static unet_device_info dev(int index, unet_device_type type)
{
    unet_device_info d;
    memset(&d, 0, sizeof d);
    d.index = index;
    d.type = type;
    return d;
}

static void test_gpu_per_rank(void **state)
{
    (void)state;
    unet_device_info l[4] = {dev(0, UNET_DEVICE_CPU), dev(1, UNET_DEVICE_GPU), dev(2, UNET_DEVICE_GPU),
                             dev(3, UNET_DEVICE_GPU)};
    char b[64];
    /* one GPU per local rank, the CPU device not counted */
    assert_string_equal(unet_rank_device("gpu", 0, l, 4, b, sizeof b), "gpu:0");
    assert_string_equal(unet_rank_device("gpu", 1, l, 4, b, sizeof b), "gpu:1");
    assert_string_equal(unet_rank_device("GPU", 2, l, 4, b, sizeof b), "gpu:2");
    /* more ranks than GPUs: round-robin */
    assert_string_equal(unet_rank_device("gpu", 3, l, 4, b, sizeof b), "gpu:0");
    assert_string_equal(unet_rank_device("gpu", 7, l, 4, b, sizeof b), "gpu:1");
    /* auto with GPUs: the same */
    assert_string_equal(unet_rank_device("auto", 1, l, 4, b, sizeof b), "gpu:1");
    assert_string_equal(unet_rank_device("", 2, l, 4, b, sizeof b), "gpu:2");
    assert_string_equal(unet_rank_device(NULL, 0, l, 4, b, sizeof b), "gpu:0");
}

static void test_explicit_and_no_gpu(void **state)
{
    (void)state;
    unet_device_info l[2] = {dev(0, UNET_DEVICE_CPU), dev(1, UNET_DEVICE_GPU)};
    char b[64];
    /* an explicit choice is kept on every rank */
    assert_string_equal(unet_rank_device("cpu", 1, l, 2, b, sizeof b), "cpu");
    assert_string_equal(unet_rank_device("gpu:0", 1, l, 2, b, sizeof b), "gpu:0");
    assert_string_equal(unet_rank_device("1", 3, l, 2, b, sizeof b), "1");
    assert_string_equal(unet_rank_device("pocl", 3, l, 2, b, sizeof b), "pocl");
    /* no GPU: "gpu" stays (context creation says there is none), auto stays auto (the CPU) */
    unet_device_info c[1] = {dev(0, UNET_DEVICE_CPU)};
    assert_string_equal(unet_rank_device("gpu", 1, c, 1, b, sizeof b), "gpu");
    assert_string_equal(unet_rank_device("auto", 1, c, 1, b, sizeof b), "auto");
    assert_string_equal(unet_rank_device("gpu", 0, NULL, 0, b, sizeof b), "gpu");
    /* truncation is NUL-terminated */
    char s[4];
    assert_string_equal(unet_rank_device("gpu", 12, l, 2, s, sizeof s), "gpu");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpu_per_rank), cmocka_unit_test(test_explicit_and_no_gpu)};
    return cmocka_run_group_tests_name("rankdev", tests, NULL, NULL);
}
