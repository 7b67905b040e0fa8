/* Model files: save/load round trip (weights, momenta, metadata), inference
 * of the configuration from tensor shapes, and refusal of bad files. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[128];

static void path(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_dir, name); }

static void test_round_trip(void **state)
{
    (void)state;
    unet_model_config c = {.in_channels = 3, .classes = 4, .depth = 3, .base_channels = 5, .dropout = 0.25f, .upconv_relu = 0};
    unet_model *a, *b;
    TU_OK(unet_model_create(tu_ctx(), &c, 9, &a));
    size_t np = unet_model_param_count(a);
    float *v = malloc(np * 4), *p1 = malloc(np * 4), *p2 = malloc(np * 4);
    for (size_t i = 0; i < np; i++) v[i] = (float)i * 1e-3f - 1.0f;
    TU_OK(unet_model_set_momentum(a, v));
    char f[256];
    path(f, sizeof f, "m.safetensors");
    unet_kv meta[2] = {{"step", "1234"}, {"note", "hello \"json\""}};
    TU_OK(unet_model_save(a, f, 1, meta, 2));
    char *json = NULL;
    TU_OK(unet_model_load(tu_ctx(), f, 1, &b, &json));
    const unet_model_config *cb = unet_model_get_config(b);
    assert_int_equal(cb->in_channels, 3);
    assert_int_equal(cb->classes, 4);
    assert_int_equal(cb->depth, 3);
    assert_int_equal(cb->base_channels, 5);
    assert_int_equal(cb->upconv_relu, 0);
    assert_true(cb->dropout == 0.25f);
    assert_non_null(strstr(json, "\"step\":\"1234\""));
    assert_non_null(strstr(json, "unetcl-model-1"));
    free(json);
    TU_OK(unet_model_get_params(a, p1));
    TU_OK(unet_model_get_params(b, p2));
    assert_memory_equal(p1, p2, np * 4);
    TU_OK(unet_model_get_momentum(b, p2));
    assert_memory_equal(v, p2, np * 4);
    unet_model_destroy(b);

    /* weights only: loads without momenta, refused as a training checkpoint */
    path(f, sizeof f, "w.safetensors");
    TU_OK(unet_model_save(a, f, 0, NULL, 0));
    TU_OK(unet_model_load(tu_ctx(), f, 0, &b, NULL));
    unet_model_destroy(b);
    assert_int_equal(unet_model_load(tu_ctx(), f, 1, &b, NULL), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "momentum"));

    /* truncated: refused with the file name */
    FILE *fp = fopen(f, "rb");
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *bytes = malloc((size_t)len);
    assert_int_equal(fread(bytes, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    char t[256];
    path(t, sizeof t, "t.safetensors");
    fp = fopen(t, "wb");
    fwrite(bytes, 1, (size_t)len / 2, fp);
    fclose(fp);
    b = (unet_model *)0x1;
    assert_int_equal(unet_model_load(tu_ctx(), t, 0, &b, NULL), UNET_ERR_FORMAT);
    assert_null(b);
    assert_non_null(strstr(unet_last_error(), "t.safetensors"));
    free(bytes);
    /* a foreign file */
    path(t, sizeof t, "foreign.safetensors");
    fp = fopen(t, "wb");
    fputs("\x89PNG\r\n\x1a\n not a model at all", fp);
    fclose(fp);
    assert_int_equal(unet_model_load(tu_ctx(), t, 0, &b, NULL), UNET_ERR_FORMAT);
    unet_model_destroy(a);
    free(v), free(p1), free(p2);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/unetcl-modelio-%ld", (long)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip)};
    int rc = TU_RUN("modelio", tests);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) return 1;
    return rc;
}
