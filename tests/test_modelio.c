/* Model files: save/load round trip (weights, momenta, metadata), inference
 * of the configuration from tensor shapes, and refusal of bad files. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "net.h"

#include <math.h>
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

/* NaN or infinity in a weight or a momentum: refused, naming the tensor
 * (issue 12, item 2). */
static void test_non_finite(void **state)
{
    (void)state;
    unet_model_config c = {.in_channels = 1, .classes = 2, .depth = 2, .base_channels = 4, .dropout = 0, .upconv_relu = 1};
    unet_model *a, *b;
    TU_OK(unet_model_create(tu_ctx(), &c, 3, &a));
    size_t np = unet_model_param_count(a);
    float *p = malloc(np * 4), *v = calloc(np, 4);
    assert_non_null(p);
    assert_non_null(v);
    TU_OK(unet_model_get_params(a, p));
    const char *name = NULL;
    int shape[4], ndim = 0;
    size_t off = 0, cnt = 0;
    TU_OK(unet_model_tensor_info(a, 1, &name, shape, &ndim, &off, &cnt));
    assert_true(cnt > 2);
    char f[256], want[160];
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    const char *badname[3] = {"NaN", "+inf", "-inf"};
    for (int k = 0; k < 3; k++) {
        float keep = p[off + 2];
        p[off + 2] = bad[k];
        TU_OK(unet_model_set_params(a, p));
        path(f, sizeof f, "nan.safetensors");
        TU_OK(unet_model_save(a, f, 0, NULL, 0));
        b = (unet_model *)0x1;
        assert_int_equal(unet_model_load(tu_ctx(), f, 0, &b, NULL), UNET_ERR_FORMAT);
        assert_null(b);
        snprintf(want, sizeof want, "tensor '%s' holds %s at element 2", name, badname[k]);
        if (!strstr(unet_last_error(), want) || !strstr(unet_last_error(), "nan.safetensors"))
            fail_msg("message \"%s\" lacks \"%s\" or the file name", unet_last_error(), want);
        p[off + 2] = keep;
    }
    /* a checkpoint whose momentum is NaN */
    TU_OK(unet_model_set_params(a, p));
    v[5] = NAN;
    TU_OK(unet_model_set_momentum(a, v));
    path(f, sizeof f, "nanmom.safetensors");
    TU_OK(unet_model_save(a, f, 1, NULL, 0));
    TU_OK(unet_model_load(tu_ctx(), f, 0, &b, NULL)); /* weights only: fine */
    unet_model_destroy(b);
    assert_int_equal(unet_model_load(tu_ctx(), f, 1, &b, NULL), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "'momentum."));
    assert_non_null(strstr(unet_last_error(), "NaN"));
    unet_model_destroy(a);
    free(p);
    free(v);
}

/* Copies a safetensors file, replacing `from` by `to` in its JSON header. */
static void patch_header(const char *src, const char *dst, const char *from, const char *to)
{
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)b[i] << (8 * i);
    char *json = calloc(hl + 1 + strlen(to), 1);
    memcpy(json, b + 8, hl);
    char *at = strstr(json, from);
    assert_non_null(at);
    size_t fl = strlen(from), tl = strlen(to);
    memmove(at + tl, at + fl, strlen(at + fl) + 1);
    memcpy(at, to, tl);
    size_t jl = strlen(json);
    while (jl > 0 && json[jl - 1] == ' ') jl--; /* the old padding */
    uint64_t nl = (jl + 7) / 8 * 8;
    f = fopen(dst, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8; i++) fputc((int)((nl >> (8 * i)) & 255), f);
    fwrite(json, 1, jl, f);
    for (uint64_t i = jl; i < nl; i++) fputc(' ', f);
    fwrite(b + 8 + hl, 1, (size_t)len - 8 - hl, f);
    fclose(f);
    free(json);
    free(b);
}

/* Integer metadata beyond int's range: refused (model.depth = 4294967298 was
 * read as a long and stored in an int, i.e. as 2). */
static void test_metadata_range(void **state)
{
    (void)state;
    unet_model_config c = {.in_channels = 1, .classes = 2, .depth = 2, .base_channels = 4, .dropout = 0, .upconv_relu = 1};
    unet_model *a, *b;
    TU_OK(unet_model_create(tu_ctx(), &c, 3, &a));
    char f[256], g[256];
    path(f, sizeof f, "d2.safetensors");
    TU_OK(unet_model_save(a, f, 0, NULL, 0));
    unet_model_destroy(a);
    path(g, sizeof g, "dwrap.safetensors");
    patch_header(f, g, "\"model.depth\":\"2\"", "\"model.depth\":\"4294967298\"");
    b = (unet_model *)0x1;
    assert_int_equal(unet_model_load(tu_ctx(), g, 0, &b, NULL), UNET_ERR_FORMAT);
    assert_null(b);
    assert_non_null(strstr(unet_last_error(), "dwrap.safetensors"));
    assert_non_null(strstr(unet_last_error(), "model.depth = \"4294967298\" is out of range"));
    patch_header(f, g, "\"model.depth\":\"2\"", "\"model.depth\":\"-99999999999999999999\"");
    assert_int_equal(unet_model_load(tu_ctx(), g, 0, &b, NULL), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "out of range"));
    /* the unpatched copy still loads */
    patch_header(f, g, "\"model.depth\":\"2\"", "\"model.depth\":\"2\"");
    TU_OK(unet_model_load(tu_ctx(), g, 0, &b, NULL));
    unet_model_destroy(b);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/unetcl-modelio-%ld", (long)getpid());
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", g_dir);
    if (system(cmd) != 0) return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip), cmocka_unit_test(test_non_finite),
                                       cmocka_unit_test(test_metadata_range)};
    int rc = TU_RUN("modelio", tests);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) return 1;
    return rc;
}
