/* Streamed instances (src/host/data/inst_stream.c, docs/scale.md "Instances"):
 * the ids handed over row by row are bitwise those of
 * unet_instances_from_probs on the whole image, with the same count, for
 * random probability maps (touching discs, rings with holes and specks in
 * them, tall snakes, noise, quantised interiors so that the watershed's
 * queue sees ties), both methods, both connectivities, min_seed, min_size,
 * fill_holes, and pushes of 1 row to the whole image; with a random row
 * cap the stream fails exactly when a region of cell pixels is taller than
 * the cap (and gives the same ids otherwise); a region taller than the
 * allowed rows is a one-line error; the window stays bounded (its peak rows)
 * on a tall image of small cells. No OpenCL. */
#include "testutil.h"
#include "instances.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static int rndi(int n) { return (int)(rnd() % (uint32_t)n); }

/* A random map: q[i] = 0 background, else an interior level 1..5. */
static void random_map(int w, int h, int kind, float *fg, float *in)
{
    uint8_t *q = calloc((size_t)w * h, 1);
    int ndisc = kind == 2 ? w * h / 300 : 2 + rndi(w * h / 150 + 1);
    for (int k = 0; k < ndisc; k++) {
        double cx = rndi(w), cy = rndi(h), r = 1 + rndi(kind == 2 ? 4 : 12), r0 = rndi(3) == 0 ? r * 0.5 : -1;
        for (int y = (int)(cy - r) - 1; y <= cy + r + 1; y++)
            for (int x = (int)(cx - r) - 1; x <= cx + r + 1; x++) {
                if (x < 0 || y < 0 || x >= w || y >= h) continue;
                double d = hypot(x - cx, y - cy);
                if (d > r || d < r0) continue; /* r0: a ring with a hole */
                int lev = 5 - (int)(4.0 * d / (r + 1e-9));
                uint8_t *p = &q[(size_t)y * w + x];
                if (lev > *p) *p = (uint8_t)lev;
            }
        if (r0 > 1 && rndi(2)) q[(size_t)(int)cy * w + (int)cx] = 1 + rndi(5); /* a speck in the hole */
    }
    if (kind == 1) { /* snakes: tall random walks */
        int ns = 1 + rndi(3);
        for (int k = 0; k < ns; k++) {
            int x = rndi(w), y = rndi(h / 3 + 1), len = h / 2 + rndi(h), thick = 1 + rndi(2);
            for (int t = 0; t < len && y < h; t++) {
                for (int d = 0; d < thick; d++)
                    if (x + d < w) q[(size_t)y * w + x + d] = 1 + rndi(3);
                int m = rndi(4);
                if (m == 0 && x > 0) x--;
                else if (m == 1 && x < w - 1) x++;
                else y++;
            }
        }
    }
    int noise = kind == 2 ? 0 : rndi(3);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        if (noise && rndi(100) < noise * 2) q[i] = q[i] ? 0 : 1 + rndi(5);
        /* quantised: many equal costs */
        fg[i] = q[i] ? 0.55f + 0.1f * rndi(5) : 0.05f * rndi(8);
        in[i] = q[i] ? fg[i] * (0.2f * q[i]) : 0.0f;
    }
    free(q);
}

typedef struct collect {
    int32_t *ids;
    int w, next_row;
} collect;

static unet_status collect_rows(const int32_t *ids, int y0, int rows, int w, void *user)
{
    collect *c = user;
    assert_int_equal(y0, c->next_row); /* in order, without gaps */
    memcpy(c->ids + (size_t)y0 * w, ids, (size_t)rows * w * sizeof *ids);
    c->next_row = y0 + rows;
    return UNET_OK;
}

/* Streams fg/in in pushes of `step` rows; 0 or the status of the failure. */
static unet_status stream(const float *fg, const float *in, int w, int h, const unet_instance_options *o, int step,
                          int max_rows, int32_t *ids, int *count, int *peak)
{
    collect c = {ids, w, 0};
    unet_inst_stream *s = NULL;
    unet_status st = unet_inst_stream_create(w, h, o, max_rows, collect_rows, &c, &s);
    for (int y = 0; st == UNET_OK && y < h; y += step) {
        int rows = h - y < step ? h - y : step;
        st = unet_inst_stream_push(s, fg + (size_t)y * w, o->method == UNET_INSTANCES_WATERSHED ? in + (size_t)y * w : NULL,
                                   rows);
    }
    if (st == UNET_OK) st = unet_inst_stream_finish(s, count);
    if (st == UNET_OK) assert_int_equal(c.next_row, h);
    if (peak) *peak = unet_inst_stream_peak_rows(s);
    unet_inst_stream_destroy(s);
    return st;
}

static void test_random_bitwise(void **state)
{
    (void)state;
    rng_state = 12345;
    int cases = 0, objects = 0, capped_ok = 0, capped_fail = 0;
    for (int t = 0; t < 240; t++) {
        int w = 8 + rndi(70), h = 8 + rndi(150), kind = t % 3;
        size_t n = (size_t)w * h;
        float *fg = malloc(n * sizeof *fg), *in = malloc(n * sizeof *in);
        int32_t *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
        random_map(w, h, kind, fg, in);
        unet_instance_options o;
        unet_instance_options_default(&o);
        o.method = rndi(2) ? UNET_INSTANCES_WATERSHED : UNET_INSTANCES_COMPONENTS;
        o.connectivity = rndi(2) ? 8 : 4;
        o.fg_threshold = rndi(4) ? 0.5 : 0.7;
        o.seed_threshold = 0.3 + 0.1 * rndi(4);
        o.min_seed = rndi(2) ? 0 : 1 + rndi(6);
        o.min_size = rndi(3) ? 0 : 2 + rndi(40);
        o.fill_holes = rndi(2);
        int count_ref = -1;
        TU_OK(unet_instances_from_probs(fg, in, w, h, &o, ref, &count_ref));
        int steps[5] = {1, 2 + rndi(5), 7 + rndi(30), h, 1 + rndi(h)};
        for (int k = 0; k < 5; k++) {
            int count = -2, peak = 0;
            memset(got, 0x55, n * sizeof *got);
            TU_OK(stream(fg, in, w, h, &o, steps[k], h, got, &count, &peak));
            if (count != count_ref || memcmp(ref, got, n * sizeof *ref)) {
                fprintf(stderr, "case %d (%dx%d kind %d method %d conn %d min_seed %d min_size %d holes %d step %d): "
                                "count %d vs %d\n",
                        t, w, h, kind, o.method, o.connectivity, o.min_seed, o.min_size, o.fill_holes, steps[k], count,
                        count_ref);
                for (size_t i = 0; i < n; i++)
                    if (ref[i] != got[i]) {
                        fprintf(stderr, "first difference at x %d y %d: %d vs %d\n", (int)(i % w), (int)(i / w), got[i],
                                ref[i]);
                        break;
                    }
                fail();
            }
            assert_true(peak <= h);
            cases++;
        }
        /* a random row cap: the stream fails exactly when a region of cell
         * pixels is taller than the cap (one more row is allowed at the
         * image's bottom, where no further row is awaited), and otherwise
         * gives the same ids */
        {
            uint8_t *cell = malloc(n);
            int32_t *cc = malloc(n * sizeof *cc);
            int nc = 0;
            for (size_t i = 0; i < n; i++) cell[i] = fg[i] > o.fg_threshold;
            TU_OK(unet_label_components(cell, w, h, o.connectivity, cc, &nc));
            int *y0 = malloc(((size_t)nc + 1) * sizeof *y0), *y1 = malloc(((size_t)nc + 1) * sizeof *y1);
            for (int k = 0; k <= nc; k++) y0[k] = h, y1[k] = -1;
            for (size_t i = 0; i < n; i++)
                if (cc[i]) {
                    int y = (int)(i / w);
                    if (y < y0[cc[i]]) y0[cc[i]] = y;
                    if (y > y1[cc[i]]) y1[cc[i]] = y;
                }
            int cap = 1 + rndi(h), too_tall = 0;
            for (int k = 1; k <= nc; k++) {
                int height = y1[k] - y0[k] + 1;
                if (height > cap && !(y1[k] == h - 1 && height == cap + 1)) too_tall = 1;
            }
            int count = -2;
            unet_status st = stream(fg, in, w, h, &o, 1 + rndi(8), cap, got, &count, NULL);
            if (too_tall) {
                assert_int_equal(st, UNET_ERR_DATA);
                assert_non_null(strstr(unet_last_error(), "the streamed labelling may hold"));
                capped_fail++;
            } else {
                TU_OK(st);
                assert_int_equal(count, count_ref);
                assert_memory_equal(ref, got, n * sizeof *ref);
                capped_ok++;
            }
            free(cell), free(cc), free(y0), free(y1);
        }
        objects += count_ref;
        free(fg), free(in), free(ref), free(got);
    }
    printf("%d streamed cases bitwise equal to the whole image (%d objects); with a random row cap: %d equal, %d "
           "refused (a region taller than the cap)\n",
           cases, objects, capped_ok, capped_fail);
    assert_true(capped_ok > 20 && capped_fail > 20);
}

/* A hole whose enclosing ring completes rows after the speck inside it, a
 * speck dropped by min_size and a surviving object inside another ring:
 * the holes come out as in the whole image. */
static void test_holes_across_rounds(void **state)
{
    (void)state;
    int w = 30, h = 40;
    size_t n = (size_t)w * h;
    float *fg = calloc(n, sizeof *fg), *in = calloc(n, sizeof *in);
    int32_t *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    /* ring 1: rows 2..30, columns 2..12; ring 2: rows 5..35, columns 16..28 */
    for (int y = 2; y <= 30; y++)
        for (int x = 2; x <= 12; x++)
            if (y == 2 || y == 30 || x == 2 || x == 12) fg[(size_t)y * w + x] = 0.9f;
    for (int y = 5; y <= 35; y++)
        for (int x = 16; x <= 28; x++)
            if (y == 5 || y == 35 || x == 16 || x == 28) fg[(size_t)y * w + x] = 0.9f;
    fg[(size_t)10 * w + 7] = 0.9f;                 /* speck in ring 1 (dropped by min_size) */
    for (int y = 12; y < 20; y++)
        for (int x = 20; x < 25; x++) fg[(size_t)y * w + x] = 0.9f; /* an object in ring 2 */
    for (size_t i = 0; i < n; i++) in[i] = fg[i];
    unet_instance_options o;
    unet_instance_options_default(&o);
    o.min_size = 3;
    o.fill_holes = 1;
    for (int conn = 4; conn <= 8; conn += 4)
        for (int step = 1; step <= h; step += 13) {
            o.connectivity = conn;
            int cr = 0, cg = 0;
            TU_OK(unet_instances_from_probs(fg, in, w, h, &o, ref, &cr));
            TU_OK(stream(fg, in, w, h, &o, step, h, got, &cg, NULL));
            assert_int_equal(cr, 3);
            assert_int_equal(cg, cr);
            assert_memory_equal(ref, got, n * sizeof *ref);
            assert_int_equal(got[(size_t)10 * w + 7], got[(size_t)2 * w + 2]); /* the speck's hole filled */
            assert_int_not_equal(got[(size_t)8 * w + 18], got[(size_t)5 * w + 16]); /* not ring 2's hole */
        }
    free(fg), free(in), free(ref), free(got);
}

/* A snake taller than max_rows: an error naming its rows, not other ids. */
static void test_too_tall(void **state)
{
    (void)state;
    int w = 20, h = 300;
    size_t n = (size_t)w * h;
    float *fg = calloc(n, sizeof *fg);
    int32_t *got = malloc(n * sizeof *got);
    for (int y = 50; y < 250; y++) fg[(size_t)y * w + 5] = fg[(size_t)y * w + 5 + (y / 10) % 2] = 0.9f;
    unet_instance_options o;
    unet_instance_options_default(&o);
    int count = 0;
    /* 200 rows tall: fits in 200 rows, not in 199 */
    TU_OK(stream(fg, NULL, w, h, &o, 16, 200, got, &count, NULL));
    assert_int_equal(count, 1);
    unet_status st = stream(fg, NULL, w, h, &o, 16, 199, got, &count, NULL);
    assert_int_equal(st, UNET_ERR_DATA);
    const char *msg = unet_last_error();
    printf("too tall: %s\n", msg);
    assert_non_null(strstr(msg, "spans rows 50..249"));
    assert_non_null(strstr(msg, "199 rows"));
    assert_non_null(strstr(msg, "stream_megapixels"));
    assert_null(strchr(msg, '\n'));
    free(fg), free(got);
}

/* Memory: small cells on a tall image; the window holds a few cell heights
 * and the pushed rows, whatever the height. */
static void test_window_bounded(void **state)
{
    (void)state;
    rng_state = 777;
    int w = 200, h = 4000;
    size_t n = (size_t)w * h;
    float *fg = malloc(n * sizeof *fg), *in = malloc(n * sizeof *in);
    int32_t *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    random_map(w, h, 2, fg, in); /* discs of radius <= 5 */
    unet_instance_options o;
    unet_instance_options_default(&o);
    o.method = UNET_INSTANCES_WATERSHED;
    o.fill_holes = 1;
    o.min_size = 10;
    int cr = 0, cg = 0;
    TU_OK(unet_instances_from_probs(fg, in, w, h, &o, ref, &cr));
    int steps[3] = {1, 16, 64};
    for (int k = 0; k < 3; k++) {
        int peak = 0;
        TU_OK(stream(fg, in, w, h, &o, steps[k], 1000, got, &cg, &peak));
        assert_int_equal(cg, cr);
        assert_memory_equal(ref, got, n * sizeof *ref);
        printf("4000 rows of small cells in pushes of %d rows: peak %d rows held, %d objects\n", steps[k], peak, cg);
        /* touching discs chain into regions a few cells tall; the pushes and
         * the rounds' slack come on top */
        assert_true(peak <= 3 * steps[k] + 120);
    }
    free(fg), free(in), free(ref), free(got);
}

static void test_bad_calls(void **state)
{
    (void)state;
    unet_instance_options o;
    unet_instance_options_default(&o);
    unet_inst_stream *s = NULL;
    int32_t ids[4];
    collect c = {ids, 2, 0};
    assert_int_equal(unet_inst_stream_create(0, 2, &o, 10, collect_rows, &c, &s), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_inst_stream_create(2, 2, &o, 0, collect_rows, &c, &s), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_inst_stream_create(2, 2, &o, 10, collect_rows, &c, &s));
    float fg[6] = {1, 0, 0, 1, 1, 1};
    assert_int_equal(unet_inst_stream_push(s, fg, NULL, 3), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_inst_stream_finish(s, NULL), UNET_ERR_INVALID_ARGUMENT); /* after a failure */
    unet_inst_stream_destroy(s);
    TU_OK(unet_inst_stream_create(2, 2, &o, 10, collect_rows, &c, &s));
    TU_OK(unet_inst_stream_push(s, fg, NULL, 1));
    assert_int_equal(unet_inst_stream_finish(s, NULL), UNET_ERR_INVALID_ARGUMENT); /* 1 of 2 rows */
    unet_inst_stream_destroy(s);
    /* NaN interior: the whole-image error, same pixel */
    o.method = UNET_INSTANCES_WATERSHED;
    float in[4] = {0.5f, 0.5f, NAN, 0.5f};
    int32_t out[4];
    assert_int_equal(unet_instances_from_probs(fg, in, 2, 2, &o, out, NULL), UNET_ERR_DATA);
    char ref[256];
    snprintf(ref, sizeof ref, "%s", unet_last_error());
    c.next_row = 0;
    assert_int_equal(stream(fg, in, 2, 2, &o, 1, 10, out, NULL, NULL), UNET_ERR_DATA);
    assert_string_equal(unet_last_error(), ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_bitwise), cmocka_unit_test(test_holes_across_rounds),
        cmocka_unit_test(test_too_tall),       cmocka_unit_test(test_window_bounded),
        cmocka_unit_test(test_bad_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
