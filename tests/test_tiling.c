/* Overlap-tile inference: mirror padding and tile extraction against a plain
 * reference, the tile grid, tile-size invariance of whole-image prediction
 * (several tile sizes, one tile covering the image, images smaller than a
 * tile, larger in one axis only, odd sizes), row streaming = whole image,
 * test-time augmentation = the average of the 8 transformed predictions,
 * automatic tile choice. */
#include "testutil.h"
#include "tiling.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- references --------------------------------------------------------- */

/* Mirror by repeated reflection at -0.5... i.e. about the edge pixels
 * (-1 -> 1, n -> n-2), one step at a time. */
static int ref_mirror(int i, int n)
{
    if (n == 1) return 0;
    while (i < 0 || i >= n) {
        if (i < 0) i = -i;
        if (i >= n) i = 2 * (n - 1) - i;
    }
    return i;
}

static void test_mirror(void **state)
{
    (void)state;
    for (int n = 1; n <= 9; n++)
        for (int i = -60; i <= 60; i++) assert_int_equal(unet_mirror(i, n), ref_mirror(i, n));
    /* the edge pixel is not repeated */
    assert_int_equal(unet_mirror(-1, 5), 1);
    assert_int_equal(unet_mirror(5, 5), 3);
}

static void test_extract(void **state)
{
    (void)state;
    const int c = 3, h = 7, w = 11;
    float *img = malloc(sizeof(float) * c * h * w);
    for (int i = 0; i < c * h * w; i++) img[i] = (float)(i * 7 % 101) + 0.25f * i;
    const int cases[][4] = {{-5, -9, 20, 30}, {0, 0, 7, 11}, {3, 4, 9, 13}, {-20, 8, 44, 5}, {6, 10, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int y0 = cases[k][0], x0 = cases[k][1], th = cases[k][2], tw = cases[k][3];
        float *tile = malloc(sizeof(float) * c * th * tw);
        unet_extract_tile_mirror(img, c, h, w, y0, x0, th, tw, tile);
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < th; y++)
                for (int x = 0; x < tw; x++) {
                    float want = img[((size_t)ch * h + ref_mirror(y0 + y, h)) * w + ref_mirror(x0 + x, w)];
                    assert_true(tile[((size_t)ch * th + y) * tw + x] == want);
                }
        free(tile);
    }
    free(img);
}

static void test_grid(void **state)
{
    (void)state;
    for (int n = 1; n < 300; n += 7)
        for (int out = 4; out < 90; out += 9) {
            unet_tile_grid g;
            TU_OK(unet_tile_grid_make(n, out + 40, out, 4, &g));
            int *cover = calloc((size_t)n, sizeof *cover);
            for (int i = 0; i < g.count; i++) {
                int o = unet_tile_origin(&g, i);
                assert_int_equal(o % 4, 0);
                assert_true(o < n);
                for (int p = o; p < o + g.stride && p < n; p++) cover[p]++;
            }
            for (int p = 0; p < n; p++) assert_int_equal(cover[p], 1);
            free(cover);
        }
}

/* ---- prediction --------------------------------------------------------- */

static unet_model *tiny_model(int cin, int classes, int depth, uint64_t seed)
{
    unet_model_config c;
    unet_model_config_default(&c);
    c.in_channels = cin;
    c.classes = classes;
    c.depth = depth;
    c.base_channels = 4;
    unet_model *m = NULL;
    TU_OK(unet_model_create(tu_ctx(), &c, seed, &m));
    return m;
}

static float *predict(unet_model *m, int tile, const float *img, int h, int w, unsigned flags)
{
    const unet_model_config *c = unet_model_get_config(m);
    unet_net *net = NULL;
    TU_OK(unet_net_create(m, tile, tile, 0, &net));
    float *p = malloc(sizeof(float) * c->classes * h * w);
    for (size_t i = 0; i < (size_t)c->classes * h * w; i++) p[i] = NAN;
    TU_OK(unet_predict_image_ex(net, img, h, w, flags, p, NULL, NULL));
    unet_net_destroy(net);
    return p;
}

static float *random_image(int c, int h, int w, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    float *img = malloc(sizeof(float) * c * h * w);
    tu_fill_uniform(&r, img, (size_t)c * h * w, -1.5f, 1.5f);
    return img;
}

/* Probabilities sum to 1 and every pixel is written. */
static void check_probs(const float *p, int classes, int h, int w)
{
    size_t n = (size_t)h * w;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < classes; k++) {
            assert_false(isnan(p[k * n + i]));
            s += p[k * n + i];
        }
        assert_true(fabs(s - 1) < 1e-5);
    }
}

/* A depth-4 model (output = tile - 88, always 4 mod 8, so the 8-pixel
 * alignment of the tile origins matters) on an image, with several tile
 * sizes and with one tile covering it all: the same probabilities (1e-5). */
static void invariance_case(int cin, int classes, int h, int w, const int *tiles, int ntiles, unsigned flags)
{
    unet_model *m = tiny_model(cin, classes, 4, 11 + cin + classes);
    const unet_model_config *c = unet_model_get_config(m);
    float *img = random_image(cin, h, w, 5 + h * 1000 + w);
    int cover = unet_tile_for_output(c, ((h > w ? h : w) + 7) / 8 * 8);
    float *ref = predict(m, cover, img, h, w, flags);
    check_probs(ref, classes, h, w);
    for (int i = 0; i < ntiles; i++) {
        float *p = predict(m, tiles[i], img, h, w, flags);
        char what[96];
        snprintf(what, sizeof what, "%dx%d, %d ch, %d classes, tile %d vs %d%s", w, h, cin, classes, tiles[i],
                 cover, flags ? " (TTA)" : "");
        tu_assert_close_f(what, p, ref, (size_t)classes * h * w, 1e-5, 0);
        free(p);
    }
    free(ref);
    free(img);
    unet_model_destroy(m);
}

static void test_invariance(void **state)
{
    (void)state;
    const int tiles[] = {108, 140, 116}; /* outputs 20, 52, 28: strides 16, 48, 24 */
    invariance_case(1, 2, 97, 131, tiles, 3, 0);
}

static void test_invariance_channels(void **state)
{
    (void)state;
    const int tiles[] = {100, 124};
    invariance_case(3, 3, 45, 53, tiles, 2, 0);
}

static void test_small_and_one_axis(void **state)
{
    (void)state;
    /* smaller than one tile output in both axes (tile 124: output 36) */
    const int t1[] = {124, 100};
    invariance_case(1, 2, 5, 7, t1, 2, 0);
    invariance_case(1, 2, 1, 1, t1, 2, 0);
    /* larger than the tile in one axis only, odd sizes */
    const int t2[] = {108, 132};
    invariance_case(1, 2, 9, 131, t2, 2, 0);
    invariance_case(1, 2, 123, 13, t2, 2, 0);
}

typedef struct rows_check {
    float *probs;
    int h, classes, next_y, calls;
} rows_check;

static unet_status rows_cb(const float *probs, int y0, int rows, int w, void *user)
{
    rows_check *rc = user;
    /* each row exactly once, top to bottom */
    if (y0 != rc->next_y || rows <= 0 || y0 + rows > rc->h) return UNET_ERR_INTERNAL;
    for (int k = 0; k < rc->classes; k++)
        memcpy(rc->probs + ((size_t)k * rc->h + y0) * w, probs + (size_t)k * rows * w, sizeof(float) * rows * w);
    rc->next_y += rows;
    rc->calls++;
    return UNET_OK;
}

static unet_status rows_fail(const float *probs, int y0, int rows, int w, void *user)
{
    (void)probs, (void)rows, (void)w, (void)user;
    return y0 > 0 ? UNET_ERR_IO : UNET_OK;
}

static void test_rows_streaming(void **state)
{
    (void)state;
    const int h = 97, w = 131;
    unet_model *m = tiny_model(1, 2, 3, 3);
    float *img = random_image(1, h, w, 99);
    float *whole = predict(m, 60, img, h, w, 0);
    unet_net *net = NULL;
    TU_OK(unet_net_create(m, 60, 60, 0, &net));
    rows_check rc = {malloc(sizeof(float) * 2 * h * w), h, 2, 0, 0};
    TU_OK(unet_predict_image_rows(net, img, h, w, 0, rows_cb, &rc, NULL, NULL));
    assert_int_equal(rc.next_y, h);
    assert_int_equal(rc.calls, (h + 19) / 20); /* output 20 = stride 20: one call per row of tiles */
    assert_memory_equal(rc.probs, whole, sizeof(float) * 2 * h * w);
    /* a failing callback stops the prediction with its status */
    assert_int_equal(unet_predict_image_rows(net, img, h, w, 0, rows_fail, NULL, NULL, NULL), UNET_ERR_IO);
    unet_net_destroy(net);
    free(rc.probs);
    free(whole);
    free(img);
    unet_model_destroy(m);
}

/* ---- TTA ----------------------------------------------------------------- */

/* Named operations of the reference: rotate by 90 degrees counter-clockwise
 * and mirror left-right, of c planes of n x n. */
static void rot90(const float *src, int c, int n, float *dst)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
                dst[((size_t)ch * n + y) * n + x] = src[((size_t)ch * n + x) * n + (n - 1 - y)];
}

static void fliplr(const float *src, int c, int n, float *dst)
{
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) dst[((size_t)ch * n + y) * n + x] = src[((size_t)ch * n + y) * n + (n - 1 - x)];
}

/* g = rot^k (flip first if f): forward and inverse. */
static void transform(const float *src, int c, int n, int k, int f, int inverse, float *dst, float *tmp)
{
    size_t bytes = sizeof(float) * c * n * n;
    memcpy(dst, src, bytes);
    if (!inverse && f) {
        fliplr(dst, c, n, tmp);
        memcpy(dst, tmp, bytes);
    }
    for (int r = 0; r < (inverse ? (4 - k) % 4 : k); r++) {
        rot90(dst, c, n, tmp);
        memcpy(dst, tmp, bytes);
    }
    if (inverse && f) {
        fliplr(dst, c, n, tmp);
        memcpy(dst, tmp, bytes);
    }
}

static void test_tta_average(void **state)
{
    (void)state;
    /* an image whose size equals the tile output (a multiple of the 4-pixel
     * alignment): one tile, and transforming the image = transforming it */
    const int cin = 2, K = 3, T = 76, n = 36;
    unet_model *m = tiny_model(cin, K, 3, 21);
    float *img = random_image(cin, n, n, 7);
    float *tta = predict(m, T, img, n, n, UNET_PREDICT_TTA);
    check_probs(tta, K, n, n);
    size_t np = (size_t)K * n * n;
    double *avg = calloc(np, sizeof *avg);
    float *timg = malloc(sizeof(float) * cin * n * n), *tmp = malloc(sizeof(float) * (cin > K ? cin : K) * n * n);
    float *back = malloc(sizeof(float) * np);
    float *plain = predict(m, T, img, n, n, 0);
    double maxdiff = 0;
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 4; k++) {
            transform(img, cin, n, k, f, 0, timg, tmp);
            float *p = predict(m, T, timg, n, n, 0);
            transform(p, K, n, k, f, 1, back, tmp);
            for (size_t i = 0; i < np; i++) {
                avg[i] += back[i] / 8.0;
                if (fabs(back[i] - plain[i]) > maxdiff) maxdiff = fabs(back[i] - plain[i]);
            }
            free(p);
        }
    /* the model is not equivariant: the transforms really differ */
    assert_true(maxdiff > 1e-3);
    tu_assert_close("TTA vs manual average of the 8 transforms", tta, avg, np, 1e-5, 0);
    free(plain);
    free(back);
    free(tmp);
    free(timg);
    free(avg);
    free(tta);
    free(img);
    unet_model_destroy(m);
}

static void test_tta_invariance(void **state)
{
    (void)state;
    const int tiles[] = {108, 124};
    invariance_case(1, 2, 45, 53, tiles, 2, UNET_PREDICT_TTA);
}

static void test_tta_needs_square(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 2, 3, 1);
    unet_net *net = NULL;
    TU_OK(unet_net_create(m, 60, 64, 0, &net));
    float img[50 * 50] = {0}, out[2 * 50 * 50];
    assert_int_equal(unet_predict_image_ex(net, img, 50, 50, UNET_PREDICT_TTA, out, NULL, NULL),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "square"));
    /* non-square tiles without TTA work */
    TU_OK(unet_predict_image_ex(net, img, 50, 50, 0, out, NULL, NULL));
    unet_net_destroy(net);
    unet_model_destroy(m);
}

static void test_choose_tile(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 2, 3, 1);
    const unet_model_config *c = unet_model_get_config(m);
    int t = 0;
    /* small image: the smallest tile whose output covers it (aligned) */
    TU_OK(unet_choose_tile(m, 97, 131, 0, &t));
    assert_int_equal(t, unet_tile_for_output(c, 132));
    assert_true(unet_tile_output(c, t) >= 131);
    /* large image: the limit caps it, and the tile is valid */
    TU_OK(unet_choose_tile(m, 5000, 300, 500, &t));
    assert_true(t <= 500 && t > 400);
    assert_true(unet_tile_output(c, t) > 0);
    unet_plan_info info;
    TU_OK(unet_plan(m, t, t, 0, &info));
    unet_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mirror),
        cmocka_unit_test(test_extract),
        cmocka_unit_test(test_grid),
        cmocka_unit_test(test_invariance),
        cmocka_unit_test(test_invariance_channels),
        cmocka_unit_test(test_small_and_one_axis),
        cmocka_unit_test(test_rows_streaming),
        cmocka_unit_test(test_tta_average),
        cmocka_unit_test(test_tta_invariance),
        cmocka_unit_test(test_tta_needs_square),
        cmocka_unit_test(test_choose_tile),
    };
    return TU_RUN("tiling", tests);
}
