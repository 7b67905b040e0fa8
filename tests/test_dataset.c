/* Training data: pairing, label types, errors naming the file, the split,
 * and the same normalisation as inference (unet_normalize_image). */
#include "testutil.h"
#include "dataset.h"
#include "normalize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[128];

static void write_img(const char *name, int w, int h, int c, int bits, float (*f)(int, int, int))
{
    unet_image im;
    TU_OK(unet_image_alloc(&im, w, h, c, bits));
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) *unet_image_at(&im, ch, y, x) = f(ch, y, x);
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    TU_OK(unet_image_write(p, &im, bits));
    unet_image_free(&im);
}

static float f_img(int ch, int y, int x) { return (float)(1000 * ch + 37 * ((x * 7 + y * 13) % 97) + 5000); }
static float f_inst(int ch, int y, int x)
{
    (void)ch;
    return (float)((x < 20 && y < 20) ? 1 : (x >= 20 && x < 40 && y < 20) ? 2 : (y > 30 && x > 10 && x < 30) ? 7 : 0);
}
static float f_bin(int ch, int y, int x) { return f_inst(ch, y, x) > 0 ? 255.0f : 0.0f; }
static float f_bad(int ch, int y, int x) { return (x == 3 && y == 4) ? 128.0f : f_bin(ch, y, x); }

static float g_huge; /* the label value f_huge puts at (x 5, y 6) */
static float f_huge(int ch, int y, int x) { return (x == 5 && y == 6) ? g_huge : f_inst(ch, y, x); }

static void setup(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/img %s/lab %s/bin %s/bad %s/small", g_dir, g_dir, g_dir, g_dir, g_dir,
             g_dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 3; i++) {
        char n[64];
        snprintf(n, sizeof n, "img/a%d.png", i);
        write_img(n, 48, 40, 3, 16, f_img);
        snprintf(n, sizeof n, "lab/a%d.png", i);
        write_img(n, 48, 40, 1, 16, f_inst);
        snprintf(n, sizeof n, "bin/a%d.png", i);
        write_img(n, 48, 40, 1, 8, f_bin);
        snprintf(n, sizeof n, "bad/a%d.png", i);
        write_img(n, 48, 40, 1, 8, i == 1 ? f_bad : f_bin);
        snprintf(n, sizeof n, "small/a%d.png", i);
        write_img(n, i == 2 ? 47 : 48, 40, 1, 8, f_bin);
    }
}

static void cfg_default(unet_config *c)
{
    unet_config_default(c);
    c->model.in_channels = 3;
}

static void test_instances_and_normalisation(void **state)
{
    (void)state;
    unet_config c;
    cfg_default(&c);
    char im[200], lb[200];
    snprintf(im, sizeof im, "%s/img", g_dir);
    snprintf(lb, sizeof lb, "%s/lab", g_dir);
    unet_dataset ds;
    TU_OK(unet_dataset_load(&c, im, lb, &ds));
    assert_int_equal(ds.n, 3);
    const unet_sample *s = &ds.s[0];
    assert_int_equal(s->w, 48);
    assert_int_equal(s->c, 3);
    assert_int_equal(s->cells, 3);
    assert_non_null(s->weights);
    /* touching cells 1 and 2 at x = 19|20 get a separating background border */
    assert_int_equal(s->labels[5 * 48 + 19], 0);
    assert_int_equal(s->labels[5 * 48 + 20], 0);
    assert_int_equal(s->labels[5 * 48 + 10], 1);
    assert_true(s->weights[5 * 48 + 19] > 5.0f); /* w_c + w0 exp(-(1+1)^2/50) */
    /* training normalisation == inference normalisation, channel by channel */
    unet_image raw;
    char p[256];
    snprintf(p, sizeof p, "%s/img/a0.png", g_dir);
    TU_OK(unet_image_read(p, 0, &raw));
    float *ref = malloc(unet_image_count(&raw) * sizeof *ref), *got = malloc(unet_image_count(&raw) * sizeof *got);
    TU_OK(unet_normalize_image(&c, &raw, ref));
    size_t plane = (size_t)raw.w * raw.h;
    for (int ch = 0; ch < 3; ch++) {
        float a, b;
        unet_sample_affine(&c, s, ch, &a, &b);
        for (size_t i = 0; i < plane; i++) got[ch * plane + i] = a * s->image[ch * plane + i] + b;
    }
    tu_assert_close_f("per_image normalisation vs inference", got, ref, unet_image_count(&raw), 2e-4, 2e-4);
    c.data.normalize = UNET_NORM_FIXED;
    c.data.norm_mean = 0.1;
    c.data.norm_std = 0.2;
    unet_dataset fx;
    TU_OK(unet_dataset_load(&c, im, lb, &fx));
    TU_OK(unet_normalize_image(&c, &raw, ref));
    for (int ch = 0; ch < 3; ch++) {
        float a, b;
        unet_sample_affine(&c, &fx.s[0], ch, &a, &b);
        for (size_t i = 0; i < plane; i++) got[ch * plane + i] = a * fx.s[0].image[ch * plane + i] + b;
    }
    tu_assert_close_f("fixed normalisation vs inference", got, ref, unet_image_count(&raw), 1e-5, 1e-5);
    unet_dataset_free(&fx);
    free(ref);
    free(got);
    unet_image_free(&raw);
    /* split: deterministic, disjoint, complete */
    unet_dataset val;
    TU_OK(unet_dataset_split(&ds, 0.34, 7, &val));
    assert_int_equal(val.n, 1);
    assert_int_equal(ds.n, 2);
    assert_string_not_equal(val.s[0].name, ds.s[0].name);
    assert_string_not_equal(val.s[0].name, ds.s[1].name);
    unet_dataset_free(&ds);
    unet_dataset_free(&val);
}

static void test_binary_and_errors(void **state)
{
    (void)state;
    unet_config c;
    unet_config_default(&c);
    c.data.label_type = UNET_LABEL_BINARY;
    char im[200], lb[200];
    snprintf(im, sizeof im, "%s/bin", g_dir); /* the masks as (1-channel) images too */
    snprintf(lb, sizeof lb, "%s/bin", g_dir);
    unet_dataset ds;
    TU_OK(unet_dataset_load(&c, im, lb, &ds));
    assert_int_equal(ds.s[0].cells, 2); /* cells 1 and 2 touch: one component; 7 is separate */
    unet_dataset_free(&ds);
    /* an unexpected value names the file and the pixel */
    snprintf(lb, sizeof lb, "%s/bad", g_dir);
    assert_int_equal(unet_dataset_load(&c, im, lb, &ds), UNET_ERR_DATA);
    assert_non_null(strstr(unet_last_error(), "bad/a1.png"));
    assert_non_null(strstr(unet_last_error(), "(x 3, y 4)"));
    /* a label of another size names both files */
    snprintf(lb, sizeof lb, "%s/small", g_dir);
    assert_int_equal(unet_dataset_load(&c, im, lb, &ds), UNET_ERR_DATA);
    assert_non_null(strstr(unet_last_error(), "small/a2.png"));
    assert_non_null(strstr(unet_last_error(), "47x40"));
    /* channel mismatch with the model */
    c.model.in_channels = 3;
    snprintf(lb, sizeof lb, "%s/bin", g_dir);
    assert_int_equal(unet_dataset_load(&c, im, lb, &ds), UNET_ERR_DATA);
    assert_non_null(strstr(unet_last_error(), "in_channels = 3"));
    /* class labels out of range */
    c.model.in_channels = 1;
    c.data.label_type = UNET_LABEL_CLASSES;
    c.model.classes = 3;
    assert_int_equal(unet_dataset_load(&c, im, lb, &ds), UNET_ERR_DATA);
    assert_non_null(strstr(unet_last_error(), "class 255"));
}

/* Label values of 2^31 and above do not fit the int32 ids: refused with the
 * file and the position instead of an undefined conversion (issue 12,
 * item 3). The largest float below 2^31 is accepted. */
static void test_huge_label_values(void **state)
{
    (void)state;
    unet_config c;
    unet_config_default(&c);
    c.data.label_type = UNET_LABEL_INSTANCES;
    char cmd[400], im[200], lb[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s/huge && mkdir -p %s/huge", g_dir, g_dir);
    assert_int_equal(system(cmd), 0);
    snprintf(im, sizeof im, "%s/bin", g_dir);
    snprintf(lb, sizeof lb, "%s/huge", g_dir);
    const float values[] = {2147483648.0f, 4294967296.0f, 3.0e38f, 2147483520.0f};
    for (int k = 0; k < 4; k++) {
        g_huge = values[k];
        for (int i = 0; i < 3; i++) {
            char n[64];
            snprintf(n, sizeof n, "huge/a%d.tif", i);
            write_img(n, 48, 40, 1, 32, i == 1 ? f_huge : f_inst);
        }
        unet_dataset ds;
        unet_status st = unet_dataset_load(&c, im, lb, &ds);
        if (k == 3) {
            TU_OK(st);
            unet_dataset_free(&ds);
            continue;
        }
        if (st != UNET_ERR_DATA || !strstr(unet_last_error(), "huge/a1.tif") ||
            !strstr(unet_last_error(), "(x 5, y 6)"))
            fail_msg("label value %g: status %d, message \"%s\"", (double)values[k], (int)st, unet_last_error());
        if (st == UNET_OK) unet_dataset_free(&ds);
    }
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/unetcl-dataset-%ld", (long)getpid());
    setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances_and_normalisation),
        cmocka_unit_test(test_binary_and_errors),
        cmocka_unit_test(test_huge_label_values),
    };
    int rc = _cmocka_run_group_tests("dataset", tests, sizeof tests / sizeof tests[0], NULL, NULL);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) return 1;
    return rc;
}
