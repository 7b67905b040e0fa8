/* [augment] / [weights] -> library options (src/host/data/cfgmap.h).
 *
 * Host only (no device): the mapping, the drawn parameters and a small
 * weight map. Checks that
 *  - the defaults of the INI sections map to the paper's library defaults;
 *  - enabled = false gives exactly the identity parameters, and every
 *    individual switch off (shift = 0) gives the identity up to an integer
 *    tile position (an exact crop);
 *  - every [augment] key changes the options and the drawn parameters, with
 *    the documented meaning (ranges and spreads of the draws);
 *  - every value the config loader accepts passes the library's check, and
 *    the loader rejects values the library would reject;
 *  - the [weights] mapping: balance modes, border, enabled = false -> all 1.
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgmap.h"

static void set(unet_config *c, const char *kv)
{
    unet_status st = unet_config_set(c, kv);
    if (st != UNET_OK) fail_msg("unet_config_set(\"%s\"): %s", kv, unet_last_error());
}

static void test_defaults(void **state)
{
    (void)state;
    unet_config c;
    unet_config_default(&c);
    unet_augment_options o, d;
    unet_config_augment_options(&c, &o);
    unet_augment_options_default(&d);
    /* the paper's values (augment.h), field by field, then the whole struct */
    assert_int_equal(o.enabled, 1);
    assert_int_equal(o.elastic, 1);
    assert_int_equal(o.grid, 3);
    assert_true(o.sigma == 10.0);
    assert_int_equal(o.rotate, 1);
    assert_true(o.max_angle == 180.0);
    assert_int_equal(o.flip, 1);
    assert_int_equal(o.shift, 1);
    assert_true(o.shift_px == 0.0);
    assert_int_equal(o.gray, 1);
    assert_true(o.brightness == 0.1 && o.contrast == 0.1 && o.gamma == 0.1 && o.noise_std == 0.02);
    assert_true(o.pivot == 0.5);
    assert_memory_equal(&o, &d, sizeof o);
    TU_OK(unet_augment_options_check(&o));

    unet_weightmap_options w, wd;
    unet_config_weightmap_options(&c, &w);
    unet_weightmap_options_default(&wd);
    assert_true(w.w0 == 10.0 && w.sigma == 5.0);
    assert_int_equal(w.balance, UNET_WM_BALANCE_IMAGE);
    assert_int_equal(w.border, 1);
    assert_memory_equal(&w, &wd, sizeof w);
}

static void test_identity(void **state)
{
    (void)state;
    const int sizes[][3] = {{64, 48, 33}, {50, 50, 50}, {31, 77, 20}}; /* w, h, tile */
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int W = sizes[k][0], H = sizes[k][1], T = sizes[k][2];
        unet_augment_params id;
        unet_augment_params_identity(&id, W, H, T);
        for (uint64_t step = 0; step < 20; step++) {
            /* master switch off: exactly the identity (centred tile) */
            unet_config c;
            unet_config_default(&c);
            set(&c, "augment.enabled=false");
            set(&c, "augment.shift=7");
            unet_augment_options o;
            unet_config_augment_options(&c, &o);
            unet_augment_params p;
            TU_OK(unet_augment_draw(&o, 3, step, 1, W, H, T, &p));
            assert_memory_equal(&p, &id, sizeof p);

            /* every switch off, no extra shift: identity up to an integer tile position */
            unet_config_default(&c);
            set(&c, "augment.elastic=false");
            set(&c, "augment.rotate=false");
            set(&c, "augment.flip=false");
            set(&c, "augment.gray=false");
            set(&c, "augment.shift=0");
            unet_config_augment_options(&c, &o);
            TU_OK(unet_augment_draw(&o, 3, step, 1, W, H, T, &p));
            double dx = p.cx - id.cx, dy = p.cy - id.cy;
            assert_true(dx == floor(dx) && dy == floor(dy));
            /* the tile's central pixel floor(T/2) lies on a source pixel */
            double ox = p.cx - (T - 1) / 2.0 + T / 2, oy = p.cy - (T - 1) / 2.0 + T / 2;
            assert_true(ox >= 0 && ox < W && oy >= 0 && oy < H);
            unet_augment_params q = p;
            q.cx = id.cx;
            q.cy = id.cy;
            assert_memory_equal(&q, &id, sizeof q);
        }
    }
}

/* Every [augment] key changes the mapped options and the drawn parameters. */
static void test_every_key(void **state)
{
    (void)state;
    static const char *const assigns[] = {
        "augment.enabled=false", "augment.elastic=false",     "augment.elastic_grid=5",
        "augment.elastic_sigma=3", "augment.rotate=false",    "augment.rotate_max_deg=30",
        "augment.flip=false",    "augment.shift=4",           "augment.gray=false",
        "augment.brightness=0.3", "augment.contrast=0.3",     "augment.gamma=0.3",
        "augment.noise_std=0.1",
    };
    /* the table covers every key of the section: the INI writer lists them */
    unet_config c0;
    unet_config_default(&c0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    TU_OK(unet_config_to_ini(&c0, f));
    fclose(f);
    const char *sec = strstr(buf, "[augment]");
    assert_non_null(sec);
    const char *end = strstr(sec + 1, "\n[");
    int nkeys = 0;
    for (const char *line = strchr(sec, '\n'); line && (!end || line < end); line = strchr(line + 1, '\n')) {
        const char *s = line + 1;
        if (*s == ';' || *s == '#' || *s == '\n' || *s == '[' || *s == '\0') continue;
        size_t kl = strcspn(s, " =");
        int found = 0;
        for (size_t i = 0; i < sizeof assigns / sizeof assigns[0]; i++)
            if (!strncmp(assigns[i] + 8, s, kl) && assigns[i][8 + kl] == '=') found = 1;
        if (!found) fail_msg("[augment] key \"%.*s\" has no case in this test", (int)kl, s);
        nkeys++;
    }
    free(buf);
    assert_int_equal(nkeys, (int)(sizeof assigns / sizeof assigns[0]));

    unet_augment_options d;
    unet_config_augment_options(&c0, &d);
    for (size_t i = 0; i < sizeof assigns / sizeof assigns[0]; i++) {
        unet_config c;
        unet_config_default(&c);
        set(&c, assigns[i]);
        unet_augment_options o;
        unet_config_augment_options(&c, &o);
        TU_OK(unet_augment_options_check(&o));
        if (!memcmp(&o, &d, sizeof o)) fail_msg("%s does not change the options", assigns[i]);
        int differ = 0;
        for (uint64_t step = 0; step < 8; step++) {
            unet_augment_params p, q;
            TU_OK(unet_augment_draw(&d, 9, step, 0, 80, 70, 41, &p));
            TU_OK(unet_augment_draw(&o, 9, step, 0, 80, 70, 41, &q));
            differ += memcmp(&p, &q, sizeof p) != 0;
        }
        /* flips are both off with probability 1/4: at least one draw of 8 */
        if (differ < 1) fail_msg("%s changes none of 8 draws", assigns[i]);
    }
}

/* The meaning of the magnitudes, from the draws. */
static void test_semantics(void **state)
{
    (void)state;
    unet_config c;
    unet_config_default(&c);
    set(&c, "augment.elastic_grid=4");
    set(&c, "augment.elastic_sigma=3");
    set(&c, "augment.rotate_max_deg=30");
    set(&c, "augment.brightness=0.3");
    set(&c, "augment.contrast=0.2");
    set(&c, "augment.gamma=0.4");
    set(&c, "augment.noise_std=0.05");
    unet_augment_options o, o0;
    unet_config_augment_options(&c, &o);
    set(&c, "augment.shift=4");
    unet_augment_options o4;
    unet_config_augment_options(&c, &o4);
    o0 = o;
    const int N = 2000;
    double s2 = 0, amax = 0, bmax = 0, kmin = 2, kmax = 0, gmin = 2, gmax = 0, smax = 0, ss2 = 0;
    int nd = 0, fx = 0;
    for (int i = 0; i < N; i++) {
        unet_augment_params p, q;
        TU_OK(unet_augment_draw(&o0, 11, (uint64_t)i, 0, 100, 90, 61, &p));
        TU_OK(unet_augment_draw(&o4, 11, (uint64_t)i, 0, 100, 90, 61, &q));
        assert_int_equal(p.grid, 4);
        for (int n = 0; n < 2 * 16; n++, nd++) s2 += (double)p.disp[n] * p.disp[n];
        amax = fmax(amax, fabs(p.angle));
        assert_true(fabs(p.angle) <= 30.0);
        fx += p.flip_x;
        assert_true(fabs(p.brightness) <= 0.3);
        bmax = fmax(bmax, fabs(p.brightness));
        kmin = fmin(kmin, p.contrast);
        kmax = fmax(kmax, p.contrast);
        gmin = fmin(gmin, p.gamma);
        gmax = fmax(gmax, p.gamma);
        assert_true(p.noise_std == 0.05);
        assert_true(p.pivot == 0.5);
        /* shift = 4 moves only the tile centre, by at most 4 px per axis */
        double dx = q.cx - p.cx, dy = q.cy - p.cy;
        assert_true(fabs(dx) <= 4.0 && fabs(dy) <= 4.0);
        smax = fmax(smax, fmax(fabs(dx), fabs(dy)));
        ss2 += dx * dx + dy * dy;
        q.cx = p.cx;
        q.cy = p.cy;
        assert_memory_equal(&p, &q, sizeof p);
    }
    double sd = sqrt(s2 / nd), ssd = sqrt(ss2 / (2.0 * N));
    print_message("  disp sd %.3f (want 3), |angle| max %.2f, flips x %d/%d, |b| max %.3f, k [%.3f, %.3f], "
                  "g [%.3f, %.3f], shift sd %.3f (want %.3f)\n", sd, amax, fx, N, bmax, kmin, kmax, gmin, gmax,
                  ssd, 4.0 / sqrt(3.0));
    assert_true(fabs(sd / 3.0 - 1.0) < 0.05);
    assert_true(amax > 29.0);
    assert_true(fx > N / 2 - 150 && fx < N / 2 + 150);
    assert_true(bmax > 0.29);
    assert_true(kmin >= 0.8 && kmin < 0.81 && kmax <= 1.2 && kmax > 1.19);
    assert_true(gmin >= 0.6 && gmin < 0.61 && gmax <= 1.4 && gmax > 1.39);
    assert_true(smax > 3.9);
    assert_true(fabs(ssd / (4.0 / sqrt(3.0)) - 1.0) < 0.06);
}

/* The config loader's ranges agree with the library's checks. */
static void test_ranges(void **state)
{
    (void)state;
    static const char *const extremes[] = {
        "augment.elastic_grid=16", "augment.elastic_grid=2", "augment.elastic_sigma=10000",
        "augment.elastic_sigma=0", "augment.shift=10000",    "augment.rotate_max_deg=180",
        "augment.contrast=0.999",  "augment.gamma=0.999",    "augment.noise_std=100",
        "augment.brightness=1",
    };
    for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++) {
        unet_config c;
        unet_config_default(&c);
        set(&c, extremes[i]);
        unet_augment_options o;
        unet_config_augment_options(&c, &o);
        unet_status st = unet_augment_options_check(&o);
        if (st != UNET_OK) fail_msg("%s: accepted by the config, rejected by the library: %s", extremes[i],
                                    unet_last_error());
        unet_augment_params p;
        TU_OK(unet_augment_draw(&o, 1, 2, 3, 40, 40, 25, &p));
    }
    static const char *const bad[] = {
        "augment.elastic_grid=17", "augment.elastic_grid=1", "augment.elastic_sigma=10001",
        "augment.shift=-1",        "augment.contrast=1",     "augment.gamma=1",
        "augment.noise_std=101",   "augment.rotate_max_deg=181",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unet_config c;
        unet_config_default(&c);
        if (unet_config_set(&c, bad[i]) == UNET_OK) fail_msg("%s was accepted", bad[i]);
    }
}

static void test_weights(void **state)
{
    (void)state;
    /* two touching squares on a 24 x 16 background */
    enum { W = 24, H = 16 };
    int32_t lab[W * H] = {0};
    for (int y = 4; y < 12; y++)
        for (int x = 4; x < 20; x++) lab[y * W + x] = x < 12 ? 3 : 8;
    int32_t cls_def[W * H], cls[W * H];
    float wt_def[W * H], wt[W * H];
    unet_config c;
    unet_weightmap_options o;

    unet_config_default(&c);
    unet_config_weightmap_options(&c, &o);
    unet_weightmap_info info;
    TU_OK(unet_weightmap_compute_ex(lab, W, H, &o, cls_def, wt_def, &info));

    /* w0, sigma pass through */
    set(&c, "weights.w0=3");
    set(&c, "weights.sigma=2.5");
    unet_config_weightmap_options(&c, &o);
    assert_true(o.w0 == 3.0 && o.sigma == 2.5);

    /* class_balance = false: w_c = 1 */
    unet_config_default(&c);
    set(&c, "weights.class_balance=false");
    unet_config_weightmap_options(&c, &o);
    assert_int_equal(o.balance, UNET_WM_BALANCE_NONE);
    TU_OK(unet_weightmap_compute(lab, W, H, &o, cls, wt));
    /* the same border term, w_c = 1 instead of the image's class weights */
    for (int i = 0; i < W * H; i++) {
        double want = 1.0 + (double)wt_def[i] - info.wc[cls_def[i]];
        if (fabs(wt[i] - want) > 1e-5 * want) fail_msg("pixel %d: %g, want %g", i, (double)wt[i], want);
    }
    assert_true(info.wc[0] != 1.0 && info.wc[1] != 1.0);

    /* balance_from = dataset: GIVEN with zero counts for the caller to fill */
    unet_config_default(&c);
    set(&c, "weights.balance_from=dataset");
    unet_config_weightmap_options(&c, &o);
    assert_int_equal(o.balance, UNET_WM_BALANCE_GIVEN);
    assert_true(o.class_counts[0] == 0.0 && o.class_counts[1] == 0.0);
    unet_weightmap_options oc = o;
    oc.balance = UNET_WM_BALANCE_IMAGE; /* counting checks the options: no zero GIVEN counts */
    TU_OK(unet_weightmap_count_classes(lab, W, H, &oc, o.class_counts));
    TU_OK(unet_weightmap_compute(lab, W, H, &o, cls, wt));
    /* one image as the whole data set: the same map as balance_from = image */
    for (int i = 0; i < W * H; i++) assert_true(fabsf(wt[i] - wt_def[i]) <= 1e-6f * wt_def[i]);

    /* enabled = false: every weight 1, classes unchanged (border still applied) */
    unet_config_default(&c);
    set(&c, "weights.enabled=false");
    unet_config_weightmap_options(&c, &o);
    TU_OK(unet_weightmap_compute(lab, W, H, &o, cls, wt));
    for (int i = 0; i < W * H; i++) assert_true(wt[i] == 1.0f);
    assert_memory_equal(cls, cls_def, sizeof cls);
    assert_int_equal(cls_def[8 * W + 11], 0); /* the separating line */

    /* border = false: the touching cells stay foreground */
    unet_config_default(&c);
    set(&c, "weights.border=false");
    unet_config_weightmap_options(&c, &o);
    assert_int_equal(o.border, 0);
    TU_OK(unet_weightmap_compute(lab, W, H, &o, cls, wt));
    assert_int_equal(cls[8 * W + 11], 1);
    assert_int_equal(cls[8 * W + 12], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_identity), cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_semantics), cmocka_unit_test(test_ranges),  cmocka_unit_test(test_weights),
    };
    return cmocka_run_group_tests_name("cfgmap", tests, NULL, NULL);
}
