/* Export helpers: the tile geometry against the paper's numbers, the input
 * normalisation read from model metadata, SHA-256 against the FIPS 180-4
 * examples, and the refusal of a model too large for one ONNX file. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "net.h"
#include "sha256.h"
#include "unetcl/export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_geometry(void **state)
{
    (void)state;
    unet_model_config c;
    unet_model_config_default(&c);
    unet_geometry g;
    TU_OK(unet_model_geometry(&c, &g));
    /* the paper: 572 -> 388, so the context is 92 on every side */
    assert_int_equal(g.halo, 92);
    assert_int_equal(unet_tile_output(&c, 572), 572 - 2 * g.halo);
    assert_int_equal(g.min_tile, 188);
    assert_int_equal(g.tile_step, 16);
    for (int t = 1; t < 700; t++) /* valid exactly at min + k step */
        assert_int_equal(unet_tile_output(&c, t) > 0, t >= g.min_tile && (t - g.min_tile) % g.tile_step == 0);
    c.depth = 3;
    TU_OK(unet_model_geometry(&c, &g));
    assert_int_equal(g.min_tile, 44);
    assert_int_equal(g.tile_step, 4);
    assert_int_equal(g.halo, 20);
}

static void test_norm(void **state)
{
    (void)state;
    unet_input_norm n;
    TU_OK(unet_model_input_norm(NULL, &n));
    assert_int_equal(n.known, 0);
    TU_OK(unet_model_input_norm("{\"step\":\"5\"}", &n));
    assert_int_equal(n.known, 0);
    TU_OK(unet_model_input_norm("{\"config\":\"{\\\"data\\\":{\\\"normalize\\\":\\\"per_image\\\"}}\"}", &n));
    assert_int_equal(n.known, 1);
    assert_int_equal(n.per_image, 1);
    TU_OK(unet_model_input_norm(
        "{\"config\":\"{\\\"data\\\":{\\\"normalize\\\":\\\"fixed\\\",\\\"norm_mean\\\":0.25,\\\"norm_std\\\":0.5}}\"}", &n));
    assert_int_equal(n.known, 1);
    assert_int_equal(n.per_image, 0);
    assert_true(n.mean == 0.25 && n.std == 0.5);
    assert_true(n.resize == 1);
    TU_OK(unet_model_input_norm("{\"config\":\"{\\\"data\\\":{\\\"normalize\\\":\\\"per_image\\\",\\\"scale\\\":0.5}}\"}", &n));
    assert_true(n.resize == 0.5);
    assert_int_equal(unet_model_input_norm("{\"config\":\"{\\\"data\\\":{\\\"normalize\\\":\\\"quantile\\\"}}\"}", &n),
                     UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "quantile"));
    assert_int_equal(unet_model_input_norm("{\"config\":\"{not json\"}", &n), UNET_ERR_FORMAT);
    assert_int_equal(unet_model_input_norm("nope", &n), UNET_ERR_FORMAT);
}

static void test_sha256(void **state)
{
    (void)state;
    char h[65];
    unet_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two blocks of padding */
    unet_sha256_hex(two, strlen(two), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    unet_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_too_large(void **state)
{
    (void)state;
    unet_model_config c = {.in_channels = 1, .classes = 2, .depth = 3, .base_channels = 2, .dropout = 0, .upconv_relu = 1};
    unet_model *m;
    TU_OK(unet_model_create(tu_ctx(), &c, 1, &m));
    char f[128];
    snprintf(f, sizeof f, "/tmp/unetcl-export-%ld.onnx", (long)getpid());
    /* the check comes before any parameter is read: pretend 600 M parameters */
    size_t np = m->nparams;
    m->nparams = (size_t)600 << 20;
    assert_int_equal(unet_export_onnx(m, NULL, 0, f), UNET_ERR_INVALID_ARGUMENT);
    m->nparams = np;
    assert_non_null(strstr(unet_last_error(), "2 GiB"));
    assert_int_equal(access(f, F_OK), -1);
    assert_int_equal(unet_export_onnx(m, NULL, 45, f), UNET_ERR_INVALID_ARGUMENT); /* not a valid tile */
    assert_int_equal(access(f, F_OK), -1);
    TU_OK(unet_export_onnx(m, NULL, 44, f));
    assert_int_equal(access(f, F_OK), 0);
    unlink(f);
    unet_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_geometry), cmocka_unit_test(test_norm),
                                       cmocka_unit_test(test_sha256), cmocka_unit_test(test_too_large)};
    return TU_RUN("export", tests);
}
