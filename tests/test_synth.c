/* Synthetic cell images: reproducibility, label structure (contiguous ids,
 * one connected region per cell, touching cells), foreground fraction, dark
 * membranes in the image, the `unetcl synth` command. No OpenCL needed. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "unetcl/image.h"
#include "unetcl/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[1024];

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("UNETCL_BINARY_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_synth_XXXXXX", b && *b ? b : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static unsigned char *slurp(const char *path, long *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*n);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static size_t count_diff(const unet_image *a, const unet_image *b)
{
    assert_int_equal(unet_image_count(a), unet_image_count(b));
    size_t d = 0;
    for (size_t i = 0; i < unet_image_count(a); i++) d += a->data[i] != b->data[i];
    return d;
}

static void test_reproducible(void **state)
{
    (void)state;
    unet_synth_options o;
    unet_synth_options_default(&o);
    o.seed = 42;
    unet_image i1, l1, i2, l2;
    TU_OK(unet_synth_generate(&o, 3, &i1, &l1));
    TU_OK(unet_synth_generate(&o, 3, &i2, &l2));
    assert_int_equal(count_diff(&i1, &i2), 0);
    assert_int_equal(count_diff(&l1, &l2), 0);
    /* identical file bytes */
    char p1[1200], p2[1200];
    snprintf(p1, sizeof p1, "%s/a.png", g_dir);
    snprintf(p2, sizeof p2, "%s/b.png", g_dir);
    TU_OK(unet_png_write(p1, &i1, 8));
    TU_OK(unet_png_write(p2, &i2, 8));
    long n1, n2;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, (size_t)n1);
    free(b1);
    free(b2);
    /* labels only (image NULL) are the same labels */
    unet_image l3;
    TU_OK(unet_synth_generate(&o, 3, NULL, &l3));
    assert_int_equal(count_diff(&l1, &l3), 0);
    unet_image_free(&l3);

    /* another index, another seed: other images */
    unet_image i4, l4;
    TU_OK(unet_synth_generate(&o, 4, &i4, &l4));
    size_t np = unet_image_count(&i1);
    assert_true(count_diff(&i1, &i4) > np / 2);
    assert_true(count_diff(&l1, &l4) > np / 10);
    unet_image_free(&i4);
    unet_image_free(&l4);
    o.seed = 43;
    TU_OK(unet_synth_generate(&o, 3, &i4, &l4));
    assert_true(count_diff(&i1, &i4) > np / 2);
    assert_true(count_diff(&l1, &l4) > np / 10);
    unet_image_free(&i4);
    unet_image_free(&l4);
    unet_image_free(&i1);
    unet_image_free(&l1);
    unet_image_free(&i2);
    unet_image_free(&l2);
}

/* Checks the label image; returns the number of cells. */
static int check_labels(const unet_image *lab, const unet_image *img)
{
    int w = lab->w, h = lab->h;
    size_t np = (size_t)w * h;
    assert_int_equal(lab->c, 1);
    assert_int_equal(lab->bits, 16);
    int n = 0;
    size_t fg = 0;
    for (size_t i = 0; i < np; i++) {
        float v = lab->data[i];
        assert_true(v >= 0 && v <= 65535 && v == (float)(int)v);
        if ((int)v > n) n = (int)v;
        fg += v > 0;
    }
    /* ids contiguous 1..n, each one 4-connected region */
    int *area = calloc((size_t)n + 1, sizeof *area);
    int *seen = calloc((size_t)n + 1, sizeof *seen);
    int *stack = malloc(np * sizeof *stack);
    unsigned char *vis = calloc(np, 1);
    for (size_t i = 0; i < np; i++) area[(int)lab->data[i]]++;
    for (int k = 1; k <= n; k++)
        if (area[k] == 0) fail_msg("instance id %d of 1..%d is missing", k, n);
    for (size_t s = 0; s < np; s++) {
        int l = (int)lab->data[s];
        if (!l || vis[s]) continue;
        if (seen[l]) fail_msg("cell %d has more than one connected region", l);
        seen[l] = 1;
        int top = 0, cnt = 0;
        stack[top++] = (int)s;
        vis[s] = 1;
        while (top) {
            int i = stack[--top], x = i % w, y = i / w;
            cnt++;
            const int nb[4][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
            for (int k = 0; k < 4; k++) {
                int xx = x + nb[k][0], yy = y + nb[k][1];
                if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                int j = yy * w + xx;
                if (!vis[j] && (int)lab->data[j] == l) {
                    vis[j] = 1;
                    stack[top++] = j;
                }
            }
        }
        assert_int_equal(cnt, area[l]);
        assert_true(cnt >= 40); /* no specks */
    }
    /* touching cells: 4-adjacent pixels with two different nonzero ids */
    size_t touching = 0;
    double sum_edge = 0, sum_in = 0, sum_bg = 0;
    size_t n_edge = 0, n_in = 0, n_bg = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int l = (int)lab->data[y * w + x];
            if (x + 1 < w) {
                int r = (int)lab->data[y * w + x + 1];
                touching += l && r && l != r;
            }
            if (y + 1 < h) {
                int d = (int)lab->data[(y + 1) * w + x];
                touching += l && d && l != d;
            }
            /* classify for the intensity check: boundary between two cells,
             * deep interior (all within 4 px the same cell), deep background */
            int same = 1, cellcell = 0;
            for (int dy = -4; dy <= 4; dy++)
                for (int dx = -4; dx <= 4; dx++) {
                    int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
                    int m = (int)lab->data[yy * w + xx];
                    if (m != l) same = 0;
                    if (abs(dx) + abs(dy) == 1 && l && m && m != l) cellcell = 1;
                }
            float v = img->data[y * w + x];
            if (cellcell) sum_edge += v, n_edge++;
            else if (same && l) sum_in += v, n_in++;
            else if (same && !l) sum_bg += v, n_bg++;
        }
    double frac = (double)fg / np;
    print_message("  %dx%d: %d cells, foreground %.3f, %zu touching pixel pairs; mean grey: between cells %.1f, "
                  "cell interior %.1f, background %.1f\n",
                  w, h, n, frac, touching, sum_edge / (n_edge ? n_edge : 1), sum_in / (n_in ? n_in : 1),
                  sum_bg / (n_bg ? n_bg : 1));
    assert_true(n >= 5);
    assert_true(frac >= 0.3 && frac <= 0.8);
    assert_true(touching >= 10);
    assert_true(n_edge > 0 && n_in > 0 && n_bg > 0);
    /* membranes between touching cells are dark, interiors bright, background in between */
    assert_true(sum_edge / n_edge < sum_in / n_in - 40.0);
    assert_true(sum_bg / n_bg < sum_in / n_in - 30.0);
    free(area);
    free(seen);
    free(stack);
    free(vis);
    return n;
}

static void test_structure(void **state)
{
    (void)state;
    unet_synth_options o;
    unet_synth_options_default(&o);
    for (int idx = 0; idx < 6; idx++) {
        unet_image img, lab;
        TU_OK(unet_synth_generate(&o, idx, &img, &lab));
        assert_int_equal(img.c, 1);
        assert_int_equal(img.bits, 8);
        double mn = 255, mx = 0;
        for (size_t i = 0; i < unet_image_count(&img); i++) {
            float v = img.data[i];
            assert_true(v >= 0 && v <= 255 && v == (float)(int)v);
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        assert_true(mx - mn > 100); /* real contrast */
        check_labels(&lab, &img);
        unet_image_free(&img);
        unet_image_free(&lab);
    }
    /* another size and other radii */
    o.width = 150;
    o.height = 97;
    o.radius_min = 8;
    o.radius_max = 14;
    o.seed = 7;
    unet_image img, lab;
    TU_OK(unet_synth_generate(&o, 0, &img, &lab));
    assert_int_equal(img.w, 150);
    assert_int_equal(img.h, 97);
    check_labels(&lab, &img);
    unet_image_free(&img);
    unet_image_free(&lab);
}

static void test_bad_options(void **state)
{
    (void)state;
    unet_synth_options o;
    unet_image img, lab;
    unet_synth_options_default(&o);
    o.width = 8;
    assert_int_equal(unet_synth_generate(&o, 0, &img, &lab), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "size"));
    assert_null(img.data);
    unet_synth_options_default(&o);
    o.radius_max = 5;
    assert_int_equal(unet_synth_generate(&o, 0, &img, &lab), UNET_ERR_INVALID_ARGUMENT);
    unet_synth_options_default(&o);
    o.fill_max = 0.99;
    assert_int_equal(unet_synth_generate(&o, 0, &img, &lab), UNET_ERR_INVALID_ARGUMENT);
    unet_synth_options_default(&o);
    assert_int_equal(unet_synth_generate(&o, -1, &img, &lab), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_synth_generate(NULL, 0, &img, &lab), UNET_ERR_INVALID_ARGUMENT);
}

static void test_cli(void **state)
{
    (void)state;
    const char *cli = getenv("UNETCL_CLI");
    if (!cli || access(cli, X_OK) != 0) {
        print_message("  SKIP: $UNETCL_CLI not set (run through ctest)\n");
        skip();
    }
    char cmd[4096], p[1400];
    snprintf(cmd, sizeof cmd, "'%s' synth --output '%s/out' --count 3 --size 80x64 --seed 9 --start 2 >/dev/null", cli,
             g_dir);
    assert_int_equal(system(cmd), 0);
    unet_synth_options o;
    unet_synth_options_default(&o);
    o.width = 80;
    o.height = 64;
    o.seed = 9;
    for (int idx = 2; idx < 5; idx++) {
        unet_image img, lab, fi, fl;
        TU_OK(unet_synth_generate(&o, idx, &img, &lab));
        snprintf(p, sizeof p, "%s/out/images/synth_%03d.png", g_dir, idx);
        TU_OK(unet_image_read(p, 0, &fi));
        snprintf(p, sizeof p, "%s/out/labels/synth_%03d.png", g_dir, idx);
        TU_OK(unet_image_read(p, 0, &fl));
        assert_int_equal(fi.bits, 8);
        assert_int_equal(fl.bits, 16);
        assert_int_equal(count_diff(&img, &fi), 0);
        assert_int_equal(count_diff(&lab, &fl), 0);
        unet_image_free(&img);
        unet_image_free(&lab);
        unet_image_free(&fi);
        unet_image_free(&fl);
    }
    snprintf(p, sizeof p, "%s/out/images/synth_005.png", g_dir);
    assert_int_not_equal(access(p, F_OK), 0);
    /* usage errors */
    snprintf(cmd, sizeof cmd, "'%s' synth --count 3 2>/dev/null", cli);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' synth -o '%s/x' -n 1 --size 80by64 2>/dev/null", cli, g_dir);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' synth --help >/dev/null", cli);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("synth", tests, setup, teardown);
}
