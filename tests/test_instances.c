/* Instance post-processing (src/host/data/instances.c), the border3 targets and
 * the object counts of the metrics on hand-made cases whose answers follow
 * from the definitions (docs/inference.md, docs/metrics.md). No OpenCL. The
 * watershed is also compared with scikit-image in test_watershed_skimage.sh. */
#include "testutil.h"
#include "dataset.h"
#include "unetcl/image.h"
#include "instances.h"
#include "unetcl/metrics.h"
#include "unetcl/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Probability maps of discs: fg = 0.95 inside any disc (0.05 outside), the
 * interior falls from 0.95 at a centre to 0.05 at its rim. */
typedef struct disc {
    double x, y, r;
} disc;

static void discs_probs(const disc *d, int nd, int w, int h, float *fg, float *interior)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float f = 0.05f, in = 0.05f;
            for (int k = 0; k < nd; k++) {
                double dist = hypot(x - d[k].x, y - d[k].y);
                if (dist <= d[k].r) {
                    f = 0.95f;
                    float v = (float)(0.95 - 0.9 * dist / d[k].r);
                    if (v > in) in = v;
                }
            }
            fg[(size_t)y * w + x] = f;
            interior[(size_t)y * w + x] = in;
        }
}

static void test_components_connectivity(void **state)
{
    (void)state;
    /* two pixels touching diagonally: one object with 8-, two with 4-connectivity */
    uint8_t m[9] = {1, 0, 0, 0, 1, 0, 0, 0, 0};
    int32_t out[9];
    int n = 0;
    TU_OK(unet_label_components(m, 3, 3, 8, out, &n));
    assert_int_equal(n, 1);
    TU_OK(unet_label_components(m, 3, 3, 4, out, &n));
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[4], 2);
    assert_int_equal(unet_label_components(m, 3, 3, 6, out, &n), UNET_ERR_INVALID_ARGUMENT);
}

/* Two discs joined by a neck: components see one object, the watershed two,
 * each close to its disc. */
static void test_watershed_two_discs_with_neck(void **state)
{
    (void)state;
    const int w = 90, h = 50;
    disc d[2] = {{25, 25, 18}, {63, 25, 18}};
    float *fg = malloc(sizeof(float) * w * h), *in = malloc(sizeof(float) * w * h);
    int32_t *lab = malloc(sizeof(int32_t) * w * h);
    discs_probs(d, 2, w, h, fg, in);
    /* the neck: a 6 px wide bar between the discs, cell but not interior */
    for (int y = 22; y < 28; y++)
        for (int x = 25; x < 64; x++) fg[y * w + x] = 0.95f;
    unet_instance_options o;
    unet_instance_options_default(&o);
    int n = 0;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, lab, &n));
    assert_int_equal(n, 1);
    o.method = UNET_INSTANCES_WATERSHED;
    o.connectivity = 4;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, lab, &n));
    assert_int_equal(n, 2);
    /* the centres are in different objects, and each disc is mostly one id */
    int32_t a = lab[25 * w + 25], b = lab[25 * w + 63];
    assert_true(a != 0 && b != 0 && a != b);
    int in_a = 0, in_b = 0, tot_a = 0, tot_b = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            if (hypot(x - 25, y - 25) <= 17) tot_a++, in_a += lab[y * w + x] == a;
            if (hypot(x - 63, y - 25) <= 17) tot_b++, in_b += lab[y * w + x] == b;
        }
    assert_true(in_a == tot_a && in_b == tot_b);
    /* every cell pixel is labelled, nothing outside */
    for (int i = 0; i < w * h; i++) assert_int_equal(lab[i] != 0, fg[i] > 0.5f);
    free(fg), free(in), free(lab);
}

static void test_watershed_one_disc_and_no_seeds(void **state)
{
    (void)state;
    const int w = 40, h = 40;
    disc d = {20, 20, 15};
    float *fg = malloc(sizeof(float) * w * h), *in = malloc(sizeof(float) * w * h);
    int32_t *lab = malloc(sizeof(int32_t) * w * h);
    discs_probs(&d, 1, w, h, fg, in);
    unet_instance_options o;
    unet_instance_options_default(&o);
    o.method = UNET_INSTANCES_WATERSHED;
    int n = 0;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, lab, &n));
    assert_int_equal(n, 1);
    /* seeds that find nothing (threshold above every interior value): the
     * cell pixels keep their own components, so the disc is still one object */
    o.seed_threshold = 0.99;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, lab, &n));
    assert_int_equal(n, 1);
    /* nothing above the foreground threshold: no object, not an error */
    for (int i = 0; i < w * h; i++) fg[i] = 0.1f;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, lab, &n));
    assert_int_equal(n, 0);
    for (int i = 0; i < w * h; i++) assert_int_equal(lab[i], 0);
    free(fg), free(in), free(lab);
}

/* The flooding order: the pixel of lowest cost next to a region is taken
 * first, so a lower-cost path wins over a geometrically shorter one. */
static void test_watershed_order(void **state)
{
    (void)state;
    /* 1 x 7 line: seeds at both ends, costs rise from the left seed to a
     * ridge at index 4: pixels 1..3 (cost below the ridge) go to the left
     * seed, the ridge pixel to the side that reaches it first (the left:
     * its neighbour 3 has cost 0.3, the right seed's cost is 0.9) */
    float cost[7] = {0.0f, 0.1f, 0.2f, 0.3f, 0.95f, 0.5f, 0.9f};
    int32_t mk[7] = {1, 0, 0, 0, 0, 0, 2}, out[7];
    TU_OK(unet_watershed(cost, mk, NULL, 7, 1, 4, out));
    int32_t want[7] = {1, 1, 1, 1, 1, 2, 2};
    for (int i = 0; i < 7; i++) assert_int_equal(out[i], want[i]);
    /* a mask stops the flood; seeds outside the mask are dropped */
    uint8_t mask[7] = {1, 1, 0, 1, 1, 1, 0};
    TU_OK(unet_watershed(cost, mk, mask, 7, 1, 4, out));
    int32_t want2[7] = {1, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 7; i++) assert_int_equal(out[i], want2[i]);
    cost[3] = NAN;
    assert_int_equal(unet_watershed(cost, mk, NULL, 7, 1, 4, out), UNET_ERR_DATA);
}

static void test_merge_small_and_fill_holes(void **state)
{
    (void)state;
    /* 10 x 6: object 1 (big, with a hole), object 2 (3 px, touching 1),
     * object 3 (2 px, touching nothing) */
    const int w = 10, h = 6;
    int32_t lab[60] = {
        1, 1, 1, 1, 1, 0, 0, 0, 0, 0, /* */
        1, 0, 0, 1, 1, 2, 0, 0, 3, 0, /* */
        1, 0, 0, 1, 1, 2, 0, 0, 3, 0, /* */
        1, 1, 1, 1, 1, 2, 0, 0, 0, 0, /* */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    };
    int32_t a[60];
    memcpy(a, lab, sizeof a);
    TU_OK(unet_instances_merge_small(a, w, h, 4));
    for (int i = 0; i < 60; i++) {
        int32_t want = lab[i] == 2 ? 1 : lab[i] == 3 ? 0 : lab[i];
        assert_int_equal(a[i], want);
    }
    TU_OK(unet_instances_fill_holes(a, w, h));
    assert_int_equal(a[1 * w + 1], 1);
    assert_int_equal(a[2 * w + 2], 1);
    assert_int_equal(a[4 * w + 4], 0); /* open background stays */
    /* a hole between two objects is not filled */
    int32_t b[25] = {1, 1, 2, 2, 0, 1, 0, 2, 2, 0, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    TU_OK(unet_instances_fill_holes(b, 5, 5));
    assert_int_equal(b[1 * 5 + 1], 0);
    /* a hole inside one object is */
    b[1 * 5 + 1] = 0;
    b[2] = b[7] = b[12] = b[3] = b[8] = b[13] = 1;
    TU_OK(unet_instances_fill_holes(b, 5, 5));
    assert_int_equal(b[1 * 5 + 1], 1);
    int n = 0;
    int32_t c[6] = {0, 7, 7, 0, 3, 9};
    TU_OK(unet_instances_relabel(c, 6, &n));
    assert_int_equal(n, 3);
    int32_t wantc[6] = {0, 1, 1, 0, 2, 3};
    for (int i = 0; i < 6; i++) assert_int_equal(c[i], wantc[i]);
}

static void test_border3_targets(void **state)
{
    (void)state;
    /* two 8 x 8 squares touching along a vertical edge, on background */
    const int w = 20, h = 12;
    int32_t ids[240] = {0}, cls[240];
    for (int y = 2; y < 10; y++)
        for (int x = 2; x < 18; x++) ids[y * w + x] = x < 10 ? 5 : 9;
    TU_OK(unet_border3_targets(ids, w, h, 2, cls));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = y * w + x;
            if (!ids[i]) {
                assert_int_equal(cls[i], 0);
                continue;
            }
            /* distance to a pixel of another id (background or the other square) */
            int edge = x - 2 < 2 || 17 - x < 2 || y - 2 < 2 || 9 - y < 2 || (x < 10 ? 9 - x : x - 10) < 2;
            assert_int_equal(cls[i], edge ? 1 : 2);
        }
    /* the image edge is not a border: a cell filling the image is interior */
    int32_t full[16], c2[16];
    for (int i = 0; i < 16; i++) full[i] = 3;
    TU_OK(unet_border3_targets(full, 4, 4, 1, c2));
    for (int i = 0; i < 16; i++) assert_int_equal(c2[i], 2);
    assert_int_equal(unet_border3_targets(full, 4, 4, 0, c2), UNET_ERR_INVALID_ARGUMENT);
}

/* Object counts: one case of each kind, checked by hand. */
static void test_object_counts(void **state)
{
    (void)state;
    /* truth: objects 1..6 as 4-px squares in a row (with gaps) */
    const int w = 30;
    uint32_t t[60] = {0}, p[60] = {0};
    for (int k = 0; k < 6; k++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++) t[y * w + 5 * k + x] = (uint32_t)k + 1;
    /* 1: one-to-one; 2 and 3: one predicted object over both (+ the gap) */
    for (int y = 0; y < 2; y++) {
        p[y * w + 0] = p[y * w + 1] = 10;
        for (int x = 5; x <= 11; x++) p[y * w + x] = 20;
    }
    /* 4 (x 15,16): split in two columns, each a predicted object inside it */
    p[0 * w + 15] = p[1 * w + 15] = 30;
    p[0 * w + 16] = p[1 * w + 16] = 31;
    /* 5 (x 20,21): missed; 6 (x 25,26): missed too, a 1 px sliver inside it
     * (belongs to it, not a false positive) */
    p[0 * w + 25] = 40;
    /* a false positive in the background */
    p[0 * w + 28] = p[1 * w + 28] = 50;
    unet_object_counts c;
    TU_OK(unet_object_counts_compute(t, p, 60, &c));
    assert_int_equal(c.n_truth, 6);
    assert_int_equal(c.n_pred, 6);
    assert_int_equal(c.one_to_one, 1);
    assert_int_equal(c.merged, 2);
    assert_int_equal(c.merges, 1);
    assert_int_equal(c.split, 1);
    assert_int_equal(c.missed, 2);
    assert_int_equal(c.false_positives, 1);
    /* DET: NS = 1 (object 20 matches 2 and 3), FN = 3 (4, 5, 6 unmatched:
     * halves are not > 1/2), FP = 4 (30, 31, 40, 50 match nothing) */
    assert_int_equal(c.det_ns, 1);
    assert_int_equal(c.det_fn, 3);
    assert_int_equal(c.det_fp, 4);
    assert_true(fabs(c.det - (1.0 - (5.0 + 30.0 + 4.0) / 60.0)) < 1e-12);
    /* a perfect prediction */
    TU_OK(unet_object_counts_compute(t, t, 60, &c));
    assert_int_equal(c.one_to_one, 6);
    assert_true(c.det == 1.0);
    unet_object_counts sum;
    memset(&sum, 0, sizeof sum);
    unet_object_counts_add(&sum, &c);
    unet_object_counts_add(&sum, &c);
    assert_int_equal(sum.n_truth, 12);
    assert_true(sum.det == 1.0);
    /* no truth objects: DET undefined */
    memset(t, 0, sizeof t);
    TU_OK(unet_object_counts_compute(t, p, 60, &c));
    assert_true(isnan(c.det));
    assert_int_equal(c.false_positives, 6);
}

/* The border3 targets through the dataset loader: 3 classes, weights with
 * the class balance plus the border term, and the check of [model] classes. */
static void test_dataset_border3(void **state)
{
    (void)state;
    char dir[] = "/tmp/unetcl_inst_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char ip[128], lp[128];
    snprintf(ip, sizeof ip, "%s/img.png", dir);
    snprintf(lp, sizeof lp, "%s/lab.png", dir);
    const int w = 48, h = 32;
    unet_image im = {0}, lb = {0};
    im.w = lb.w = w;
    im.h = lb.h = h;
    im.c = lb.c = 1;
    im.bits = 8;
    lb.bits = 16;
    im.data = malloc(sizeof(float) * w * h);
    lb.data = malloc(sizeof(float) * w * h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int id = (y >= 6 && y < 26 && x >= 4 && x < 44) ? (x < 24 ? 1 : 2) : 0;
            lb.data[y * w + x] = (float)id;
            im.data[y * w + x] = id ? 200.0f : 50.0f;
        }
    TU_OK(unet_image_write(ip, &im, 8));
    TU_OK(unet_image_write(lp, &lb, 16));
    unet_config cfg;
    unet_config_default(&cfg);
    TU_OK(unet_config_set(&cfg, "data.targets=border3"));
    assert_int_equal(unet_config_validate(&cfg), UNET_ERR_CONFIG); /* classes = 2 */
    assert_non_null(strstr(unet_last_error(), "classes = 3"));
    TU_OK(unet_config_set(&cfg, "model.classes=3"));
    TU_OK(unet_config_set(&cfg, "data.border_width=3"));
    TU_OK(unet_config_validate(&cfg));
    unet_dataset ds;
    TU_OK(unet_dataset_load(&cfg, ip, lp, &ds));
    assert_int_equal(ds.n, 1);
    const unet_sample *s = &ds.s[0];
    assert_int_equal(s->cells, 2);
    int32_t *want = malloc(sizeof(int32_t) * w * h), *ids = malloc(sizeof(int32_t) * w * h);
    for (int i = 0; i < w * h; i++) ids[i] = (int32_t)lb.data[i];
    TU_OK(unet_border3_targets(ids, w, h, 3, want));
    double cnt[3] = {0};
    for (int i = 0; i < w * h; i++) {
        assert_int_equal(s->labels[i], want[i]);
        cnt[want[i]]++;
    }
    /* interior pixels carry the class weight alone: N / (3 n_interior) */
    for (int i = 0; i < w * h; i++)
        if (want[i] == 2) assert_true(fabs(s->weights[i] - w * h / (3.0 * cnt[2])) < 1e-4);
    /* the pixels between the two cells carry more than the border class weight */
    assert_true(s->weights[16 * w + 24] > w * h / (3.0 * cnt[1]) + 1.0);
    unet_dataset_free(&ds);
    /* the same label file marked as partially annotated: background farther
     * than 3 px from the cells has weight 0, nearer background keeps its weight */
    TU_OK(unet_config_set(&cfg, "data.partial=lab*.png"));
    TU_OK(unet_config_set(&cfg, "data.background_margin=3"));
    TU_OK(unet_dataset_load(&cfg, ip, lp, &ds));
    s = &ds.s[0];
    assert_int_equal(s->partial, 1);
    assert_true(s->weights[0] == 0.0f);              /* corner, 4+ px from the cells */
    assert_true(s->weights[4 * w + 10] > 0.0f);      /* 2 px above a cell */
    assert_true(s->weights[16 * w + 10] > 0.0f);     /* inside a cell */
    unet_dataset_free(&ds);
    TU_OK(unet_config_set(&cfg, "data.partial=other.png"));
    TU_OK(unet_dataset_load(&cfg, ip, lp, &ds));
    assert_int_equal(ds.s[0].partial, 0);
    assert_true(ds.s[0].weights[0] > 0.0f);
    unet_dataset_free(&ds);
    free(want), free(ids);
    unet_image_free(&im);
    unet_image_free(&lb);
    unlink(ip);
    unlink(lp);
    rmdir(dir);
}

/* From perfect border3 targets, the watershed gives the truth's instances
 * back (SEG >= 0.97, no merges), while the components of the same cell
 * pixels merge touching cells. The upper bound of the recipe, on synthetic
 * touching cells always and on the Cell Tracking Challenge frames when
 * ../shared/data is there. */
static void roundtrip(const int32_t *ids, int w, int h, int bw, double *seg_ws, double *seg_cc, int *merges_ws)
{
    size_t n = (size_t)w * h;
    int32_t *cls = malloc(n * sizeof *cls), *out = malloc(n * sizeof *out);
    float *fg = malloc(n * sizeof *fg), *in = malloc(n * sizeof *in);
    uint32_t *t = malloc(n * sizeof *t), *p = malloc(n * sizeof *p);
    TU_OK(unet_border3_targets(ids, w, h, bw, cls));
    for (size_t i = 0; i < n; i++) {
        fg[i] = cls[i] != 0;
        in[i] = cls[i] == 2;
        t[i] = (uint32_t)ids[i];
    }
    unet_instance_options o;
    unet_instance_options_default(&o);
    o.method = UNET_INSTANCES_WATERSHED;
    o.connectivity = 4;
    int cnt = 0;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, out, &cnt));
    for (size_t i = 0; i < n; i++) p[i] = (uint32_t)out[i];
    unet_seg_result seg;
    unet_object_counts oc;
    TU_OK(unet_seg_counts_2d(t, 0, p, 0, w, h, &seg, &oc));
    *seg_ws = seg.seg;
    *merges_ws = oc.merges;
    o.method = UNET_INSTANCES_COMPONENTS;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, out, &cnt));
    for (size_t i = 0; i < n; i++) p[i] = (uint32_t)out[i];
    TU_OK(unet_seg_ctc(t, p, n, &seg));
    *seg_cc = seg.seg;
    free(cls), free(out), free(fg), free(in), free(t), free(p);
}

static void test_roundtrip_synthetic(void **state)
{
    (void)state;
    unet_synth_options so;
    unet_synth_options_default(&so);
    for (int k = 0; k < 3; k++) {
        unet_image lab = {0};
        TU_OK(unet_synth_generate(&so, k, NULL, &lab));
        size_t n = (size_t)lab.w * lab.h;
        int32_t *ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)lab.data[i];
        double ws, cc;
        int merges;
        roundtrip(ids, lab.w, lab.h, 2, &ws, &cc, &merges);
        printf("synthetic %d: SEG watershed %.4f (merges %d), components %.4f\n", k, ws, merges, cc);
        assert_true(ws >= 0.97 && merges == 0);
        assert_true(cc < ws - 0.05); /* the synthetic images have clusters of touching cells */
        free(ids);
        unet_image_free(&lab);
    }
}

static void test_roundtrip_ctc(void **state)
{
    (void)state;
    const char *root = tu_shared_data();
    if (!root) skip();
    const char *sets[][3] = {{"dic-hela/01/labels/t039.png", "4", "touching"},
                             {"dic-hela/01/labels/t054.png", "4", "touching"},
                             {"phc-psc/01/labels/t098.png", "1", ""},
                             {"phc-psc/01/labels/t122.png", "1", ""}};
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, sets[k][0]);
        unet_image lab = {0};
        if (unet_image_read(path, 0, &lab) != UNET_OK) skip();
        size_t n = (size_t)lab.w * lab.h;
        int32_t *ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)lab.data[i];
        double ws, cc;
        int merges;
        roundtrip(ids, lab.w, lab.h, atoi(sets[k][1]), &ws, &cc, &merges);
        printf("%s: SEG watershed %.4f (merges %d), components %.4f\n", sets[k][0], ws, merges, cc);
        assert_true(ws >= 0.97 && merges == 0);
        if (sets[k][2][0]) assert_true(cc < ws - 0.1);
        free(ids);
        unet_image_free(&lab);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_components_connectivity),
        cmocka_unit_test(test_watershed_two_discs_with_neck),
        cmocka_unit_test(test_watershed_one_disc_and_no_seeds),
        cmocka_unit_test(test_watershed_order),
        cmocka_unit_test(test_merge_small_and_fill_holes),
        cmocka_unit_test(test_border3_targets),
        cmocka_unit_test(test_object_counts),
        cmocka_unit_test(test_dataset_border3),
        cmocka_unit_test(test_roundtrip_synthetic),
        cmocka_unit_test(test_roundtrip_ctc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
