/* unet_predict_stream: overlap-tile prediction with the input supplied row by
 * row. Checks that
 *  - the probabilities are bitwise those of unet_predict_image_ex on the whole
 *    image, for heights from 1 row to many rows of tiles, depths 3 and 4 (the
 *    depth-4 case has rows of tiles near the bottom whose mirrored windows
 *    reach back above the previous one), 3 input channels, and TTA;
 *  - every input row is asked for exactly once, top to bottom;
 *  - the rows held never exceed unet_predict_stream_window, which does not
 *    grow with the image height (10^4 and 10^6 rows: the same) and is at most
 *    two input tiles;
 *  - a failing input callback stops the prediction with its status. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unet_model *tiny_model(int cin, int depth, uint64_t seed)
{
    unet_model_config c;
    unet_model_config_default(&c);
    c.in_channels = cin;
    c.classes = 2;
    c.depth = depth;
    c.base_channels = 4;
    unet_model *m = NULL;
    TU_OK(unet_model_create(tu_ctx(), &c, seed, &m));
    return m;
}

typedef struct feed {
    const float *img;
    int c, h, w;
    int next;      /* the next row expected */
    int calls;
} feed;

static unet_status feed_rows(float *dst, int y0, int rows, int w, void *user)
{
    feed *f = user;
    if (y0 != f->next || rows <= 0 || y0 + rows > f->h || w != f->w) fail_msg("rows %d..%d asked, expected from %d", y0, y0 + rows - 1, f->next);
    for (int ch = 0; ch < f->c; ch++)
        memcpy(dst + (size_t)ch * rows * w, f->img + ((size_t)ch * f->h + y0) * w, (size_t)rows * w * sizeof *dst);
    f->next += rows;
    f->calls++;
    return UNET_OK;
}

static unet_status feed_fail(float *dst, int y0, int rows, int w, void *user)
{
    (void)dst, (void)y0, (void)rows, (void)w, (void)user;
    return unet_seterr(UNET_ERR_IO, "test: the reader failed");
}

typedef struct sink {
    float *probs;
    int h;
} sink;

static unet_status sink_rows(const float *rows, int y0, int n, int w, void *user)
{
    sink *s = user;
    for (int k = 0; k < 2; k++)
        memcpy(s->probs + ((size_t)k * s->h + y0) * w, rows + (size_t)k * n * w, (size_t)n * w * sizeof *rows);
    return UNET_OK;
}

static void check(unet_model *m, int tile, int h, int w, unsigned flags)
{
    int c = unet_model_get_config(m)->in_channels;
    size_t n = (size_t)c * h * w;
    float *img = malloc(n * sizeof *img), *whole = malloc(2 * (size_t)h * w * sizeof *whole),
          *str = malloc(2 * (size_t)h * w * sizeof *str);
    tu_rng r;
    tu_seed(&r, (uint64_t)h * 131 + w);
    tu_fill_uniform(&r, img, n, -2, 2);
    unet_net *net = NULL;
    TU_OK(unet_net_create(m, tile, tile, 0, &net));
    TU_OK(unet_predict_image_ex(net, img, h, w, flags, whole, NULL, NULL));
    for (size_t i = 0; i < 2 * (size_t)h * w; i++) str[i] = NAN;
    feed f = {img, c, h, w, 0, 0};
    sink s = {str, h};
    TU_OK(unet_predict_stream(net, h, w, flags, feed_rows, &f, sink_rows, &s, NULL, NULL));
    assert_int_equal(f.next, h);
    if (memcmp(whole, str, 2 * (size_t)h * w * sizeof *str))
        fail_msg("tile %d, %dx%d, flags %u: streamed prediction differs from the whole-image one", tile, w, h, flags);
    int win = 0;
    TU_OK(unet_predict_stream_window(net, h, w, &win));
    assert_true(win >= 1 && win <= 2 * tile);
    unet_net_destroy(net);
    free(img);
    free(whole);
    free(str);
}

static void test_depth3(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 3, 5);
    const int hs[] = {1, 2, 5, 19, 20, 21, 39, 41, 61, 97, 203};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) check(m, 60, hs[i], 23, 0);
    check(m, 60, 97, 61, UNET_PREDICT_TTA);
    unet_model_destroy(m);
}

static void test_depth4(void **state)
{
    (void)state;
    unet_model *m = tiny_model(3, 4, 7);
    /* tile 124: output 36, stride 32, margin 44; h = 97 and 98 have a last row of
     * tiles whose mirrored window starts above the one before it */
    const int hs[] = {3, 33, 97, 98, 130, 161};
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) check(m, 124, hs[i], 17, 0);
    unet_model_destroy(m);
}

static void test_window_bound(void **state)
{
    (void)state;
    unet_model *m = tiny_model(1, 4, 7);
    unet_net *net = NULL;
    TU_OK(unet_net_create(m, 124, 124, 0, &net));
    int a = 0, b = 0;
    TU_OK(unet_predict_stream_window(net, 10000, 5, &a));
    TU_OK(unet_predict_stream_window(net, 1000000, 5, &b));
    printf("input rows held for 10^4 and 10^6 rows (tile 124): %d and %d\n", a, b);
    assert_int_equal(a, b);
    assert_true(a <= 2 * 124);
    /* a failing reader stops the prediction with its status */
    sink s = {malloc(2 * 50 * 9 * sizeof(float)), 50};
    assert_int_equal(unet_predict_stream(net, 50, 9, 0, feed_fail, NULL, sink_rows, &s, NULL, NULL), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "the reader failed"));
    free(s.probs);
    unet_net_destroy(net);
    unet_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_depth3), cmocka_unit_test(test_depth4),
                                       cmocka_unit_test(test_window_bound)};
    return TU_RUN("predict_stream", tests);
}
