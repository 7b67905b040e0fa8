/* Input normalisation (unet_normalize_image) against a double reference, and
 * the streaming image writer (PNG / multi-page TIFF written strip by strip)
 * read back with the image reader. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "unetcl/image.h"
#include "normalize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fill(unet_image *img, int w, int h, int c, int bits, uint64_t seed, float hi)
{
    TU_OK(unet_image_alloc(img, w, h, c, bits));
    tu_rng r;
    tu_seed(&r, seed);
    for (size_t i = 0; i < unet_image_count(img); i++) img->data[i] = bits == 32 ? (float)(tu_uniform(&r) * hi)
                                                                                : (float)floor(tu_uniform(&r) * hi);
}

static void test_per_image(void **state)
{
    (void)state;
    unet_config cfg;
    unet_config_default(&cfg);
    cfg.data.normalize = UNET_NORM_PER_IMAGE;
    unet_image img;
    fill(&img, 37, 23, 3, 16, 5, 65535);
    for (size_t i = 0; i < 37 * 23; i++) img.data[2 * 37 * 23 + i] = 40000 + (float)(i % 3); /* offset channel */
    size_t plane = 37 * 23, n = plane * 3;
    double *want = malloc(sizeof(double) * n);
    for (int ch = 0; ch < 3; ch++) {
        double s = 0, ss = 0;
        for (size_t i = 0; i < plane; i++) s += img.data[ch * plane + i];
        double m = s / plane;
        for (size_t i = 0; i < plane; i++) ss += (img.data[ch * plane + i] - m) * (img.data[ch * plane + i] - m);
        double sd = sqrt(ss / plane);
        for (size_t i = 0; i < plane; i++) want[ch * plane + i] = (img.data[ch * plane + i] - m) / sd;
    }
    float *out = malloc(sizeof(float) * n);
    TU_OK(unet_normalize_image(&cfg, &img, out));
    tu_assert_close("per_image", out, want, n, 1e-5, 1e-5);
    /* in place gives the same */
    TU_OK(unet_normalize_image(&cfg, &img, img.data));
    tu_assert_close_f("per_image in place", img.data, out, n, 0, 0);
    /* a constant image: std floored, all zeros */
    for (size_t i = 0; i < n; i++) img.data[i] = 7;
    TU_OK(unet_normalize_image(&cfg, &img, out));
    for (size_t i = 0; i < n; i++) assert_true(out[i] == 0.0f);
    /* NaN is an error */
    img.data[5] = NAN;
    assert_int_equal(unet_normalize_image(&cfg, &img, out), UNET_ERR_DATA);
    free(out);
    free(want);
    unet_image_free(&img);
}

static void test_fixed(void **state)
{
    (void)state;
    unet_config cfg;
    unet_config_default(&cfg);
    cfg.data.normalize = UNET_NORM_FIXED;
    cfg.data.norm_mean = 0.3;
    cfg.data.norm_std = 0.2;
    const int bits[] = {8, 16, 32};
    const double full[] = {255, 65535, 1};
    for (int b = 0; b < 3; b++) {
        unet_image img;
        fill(&img, 19, 11, 1, bits[b], 9 + b, bits[b] == 32 ? 1.0f : (float)full[b] + 1);
        size_t n = unet_image_count(&img);
        double *want = malloc(sizeof(double) * n);
        for (size_t i = 0; i < n; i++) want[i] = (img.data[i] / full[b] - 0.3) / 0.2;
        float *out = malloc(sizeof(float) * n);
        TU_OK(unet_normalize_image(&cfg, &img, out));
        tu_assert_close("fixed", out, want, n, 1e-6, 1e-6);
        free(out);
        free(want);
        unet_image_free(&img);
    }
    unet_image bad = {0};
    TU_OK(unet_image_alloc(&bad, 2, 2, 1, 8));
    bad.bits = 12;
    float o[4];
    assert_int_equal(unet_normalize_image(&cfg, &bad, o), UNET_ERR_DATA);
    unet_image_free(&bad);
}

/* Writes pages in strips of 5 rows, reads back, compares with rounding. */
static void roundtrip(const char *path, int bits, int c, int pages)
{
    const int w = 23, h = 17;
    unet_image_writer *wr = NULL;
    TU_OK(unet_image_writer_open(path, bits, &wr));
    unet_image ref[3];
    for (int p = 0; p < pages; p++) {
        fill(&ref[p], w, h, c, 32, 100 + p, bits == 32 ? 3.0f : bits == 16 ? 65535.0f : 255.0f);
        TU_OK(unet_image_writer_begin_page(wr, w, h, c));
        float *strip = malloc(sizeof(float) * c * 5 * w);
        for (int y = 0; y < h; y += 5) {
            int rows = h - y < 5 ? h - y : 5;
            for (int ch = 0; ch < c; ch++)
                memcpy(strip + (size_t)ch * rows * w, ref[p].data + ((size_t)ch * h + y) * w, sizeof(float) * rows * w);
            TU_OK(unet_image_writer_rows(wr, strip, (size_t)rows * w, rows));
        }
        free(strip);
        TU_OK(unet_image_writer_end_page(wr));
    }
    /* nothing visible before the commit */
    assert_int_not_equal(access(path, F_OK), 0);
    TU_OK(unet_image_writer_close(wr, 1));
    int np = 0;
    TU_OK(unet_image_count_pages(path, &np));
    assert_int_equal(np, pages);
    for (int p = 0; p < pages; p++) {
        unet_image got;
        TU_OK(unet_image_read(path, p, &got));
        assert_int_equal(got.w, w);
        assert_int_equal(got.h, h);
        assert_int_equal(got.c, c);
        assert_int_equal(got.bits, bits);
        for (size_t i = 0; i < unet_image_count(&got); i++) {
            float want = bits == 32 ? ref[p].data[i] : rintf(ref[p].data[i]); /* to nearest, ties to even */
            if (got.data[i] != want) fail_msg("%s page %d element %zu: %g, want %g", path, p, i, got.data[i], want);
        }
        unet_image_free(&got);
        unet_image_free(&ref[p]);
    }
}

static void test_writer(void **state)
{
    (void)state;
    char dir[] = "/tmp/unet_infer_io_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a.png", dir);
    roundtrip(path, 16, 1, 1);
    snprintf(path, sizeof path, "%s/b.png", dir);
    roundtrip(path, 8, 3, 1);
    snprintf(path, sizeof path, "%s/c.tif", dir);
    roundtrip(path, 32, 1, 3);
    snprintf(path, sizeof path, "%s/d.tiff", dir);
    roundtrip(path, 16, 1, 2);
    snprintf(path, sizeof path, "%s/e.tif", dir);
    roundtrip(path, 8, 3, 2);
    /* errors: PNG stacks, unknown extension, missing folder, too many rows, discard */
    unet_image_writer *wr = NULL;
    snprintf(path, sizeof path, "%s/f.png", dir);
    TU_OK(unet_image_writer_open(path, 8, &wr));
    TU_OK(unet_image_writer_begin_page(wr, 4, 2, 1));
    float px[12] = {0};
    assert_int_equal(unet_image_writer_rows(wr, px, 4, 3), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_image_writer_rows(wr, px, 8, 2));
    TU_OK(unet_image_writer_end_page(wr));
    assert_int_equal(unet_image_writer_begin_page(wr, 4, 2, 1), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_image_writer_close(wr, 0));
    assert_int_not_equal(access(path, F_OK), 0); /* discarded */
    snprintf(path, sizeof path, "%s/g.jpg", dir);
    assert_int_equal(unet_image_writer_open(path, 8, &wr), UNET_ERR_INVALID_ARGUMENT);
    snprintf(path, sizeof path, "%s/no/such/h.png", dir);
    assert_int_equal(unet_image_writer_open(path, 8, &wr), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "h.png"));
    snprintf(path, sizeof path, "%s/i.tif", dir);
    TU_OK(unet_image_writer_open(path, 16, &wr));
    TU_OK(unet_image_writer_begin_page(wr, 4, 2, 1));
    assert_int_not_equal(unet_image_writer_close(wr, 1), UNET_OK); /* unfinished page */
    assert_int_not_equal(access(path, F_OK), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_image),
        cmocka_unit_test(test_fixed),
        cmocka_unit_test(test_writer),
    };
    /* no device needed */
    return cmocka_run_group_tests_name("infer_io", tests, NULL, NULL);
}
