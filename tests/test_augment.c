/* Data augmentation: parameter drawing, warp kernel (bicubic image, nearest
 * labels, bilinear weights, mirror extrapolation) and gray-value kernel,
 * against a plain-C double reference of the same sampling. Also writes
 * augmented samples of a synthetic pattern to /tmp/unetcl_augment/ (PNG) for
 * looking at. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "augment.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* ---- plain-C reference (double) ------------------------------------------ */

static int ref_reflect(int i, int n)
{
    if (n <= 1) return 0;
    int period = 2 * n - 2;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

static void ref_cubic(double t, double *w)
{
    double t2 = t * t, t3 = t2 * t;
    w[0] = -0.5 * t3 + t2 - 0.5 * t;
    w[1] = 1.5 * t3 - 2.5 * t2 + 1.0;
    w[2] = -1.5 * t3 + 2.0 * t2 + 0.5 * t;
    w[3] = 0.5 * t3 - 0.5 * t2;
}

static int clampi(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/* Source coordinate of tile pixel (x, y), with the parameters as the device
 * sees them (float). */
static void ref_coord(const unet_augment_params *p, int x, int y, double *sx, double *sy)
{
    int T = p->tile, G = p->grid;
    double ct = 0.5 * (T - 1), u = x - ct, v = y - ct;
    double dx = 0, dy = 0;
    if (G > 0) {
        double gu = T > 1 ? (double)x * (G - 1) / (T - 1) : 0, gv = T > 1 ? (double)y * (G - 1) / (T - 1) : 0;
        double wu[4], wv[4];
        int iu = (int)floor(gu), iv = (int)floor(gv);
        ref_cubic(gu - iu, wu);
        ref_cubic(gv - iv, wv);
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++) {
                int n = clampi(iv - 1 + j, G) * G + clampi(iu - 1 + i, G);
                dx += wv[j] * wu[i] * p->disp[2 * n];
                dy += wv[j] * wu[i] * p->disp[2 * n + 1];
            }
    }
    double a00 = (float)p->a[0], a01 = (float)p->a[1], a10 = (float)p->a[2], a11 = (float)p->a[3];
    *sx = (float)p->cx + a00 * u + a01 * v + dx;
    *sy = (float)p->cy + a10 * u + a11 * v + dy;
}

typedef struct ref_out {
    double *img; /* C x T x T */
    int *lab;    /* O x O */
    double *wt;  /* O x O */
    unsigned char *ambiguous; /* O x O: nearest-rounding tie within 1e-3 px */
} ref_out;

static void ref_warp(const unet_augment_params *p, const float *img, int C, int H, int W, const int *lab,
                     const float *wt, int O, ref_out *r)
{
    int T = p->tile, off = (T - O) / 2;
    r->img = malloc(sizeof(double) * C * T * T);
    r->lab = malloc(sizeof(int) * O * O);
    r->wt = malloc(sizeof(double) * O * O);
    r->ambiguous = calloc((size_t)O * O, 1);
    assert_true(r->img && r->lab && r->wt && r->ambiguous);
    for (int y = 0; y < T; y++)
        for (int x = 0; x < T; x++) {
            double sx, sy;
            ref_coord(p, x, y, &sx, &sy);
            int ix = (int)floor(sx), iy = (int)floor(sy);
            double wx[4], wy[4];
            ref_cubic(sx - ix, wx);
            ref_cubic(sy - iy, wy);
            for (int c = 0; c < C; c++) {
                double acc = 0;
                for (int j = 0; j < 4; j++)
                    for (int i = 0; i < 4; i++)
                        acc += wy[j] * wx[i] *
                               img[((size_t)c * H + ref_reflect(iy - 1 + j, H)) * W + ref_reflect(ix - 1 + i, W)];
                r->img[((size_t)c * T + y) * T + x] = acc;
            }
            int ox = x - off, oy = y - off;
            if (ox < 0 || oy < 0 || ox >= O || oy >= O) continue;
            size_t o = (size_t)oy * O + ox;
            if (lab) {
                double fx = sx - floor(sx), fy = sy - floor(sy);
                r->ambiguous[o] = fabs(fx - 0.5) < 1e-3 || fabs(fy - 0.5) < 1e-3;
                r->lab[o] = lab[(size_t)ref_reflect((int)floor(sy + 0.5), H) * W + ref_reflect((int)floor(sx + 0.5), W)];
            }
            if (wt) {
                double tx = sx - ix, ty = sy - iy;
                int x0 = ref_reflect(ix, W), x1 = ref_reflect(ix + 1, W);
                int y0 = ref_reflect(iy, H), y1 = ref_reflect(iy + 1, H);
                double v = (1 - ty) * ((1 - tx) * wt[y0 * W + x0] + tx * wt[y0 * W + x1]) +
                           ty * ((1 - tx) * wt[y1 * W + x0] + tx * wt[y1 * W + x1]);
                r->wt[o] = v > 0 ? v : 0;
            }
        }
}

static void ref_free(ref_out *r)
{
    free(r->img);
    free(r->lab);
    free(r->wt);
    free(r->ambiguous);
}

static uint64_t ref_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The gray-value transform of element e (double). */
static double ref_gray(const unet_augment_params *p, double v, uint64_t e)
{
    double g = (float)p->gamma;
    if (g != 1.0) v = copysign(pow(fabs(v), g), v);
    if ((float)p->contrast != 1.0f) v = (float)p->pivot + (float)p->contrast * (v - (float)p->pivot);
    v += (float)p->brightness;
    if ((float)p->noise_std > 0) {
        uint64_t z1 = ref_mix(p->noise_seed + (2 * e + 1) * 0x9e3779b97f4a7c15ULL);
        uint64_t z2 = ref_mix(p->noise_seed + (2 * e + 2) * 0x9e3779b97f4a7c15ULL);
        double u1 = ((double)(z1 >> 41) + 0.5) / 8388608.0, u2 = (double)(z2 >> 41) / 8388608.0;
        v += (float)p->noise_std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
    }
    return v;
}

/* ---- helpers ------------------------------------------------------------- */

/* Smooth random image in [0,1]: sums of random sinusoids (bounded gradients,
 * so float coordinate rounding stays far below the tolerance). */
static float *smooth_image(tu_rng *r, int C, int H, int W)
{
    float *img = malloc(sizeof(float) * C * H * W);
    assert_non_null(img);
    for (int c = 0; c < C; c++) {
        double fx[4], fy[4], ph[4];
        for (int k = 0; k < 4; k++) {
            fx[k] = (tu_uniform(r) - 0.5) * 0.6;
            fy[k] = (tu_uniform(r) - 0.5) * 0.6;
            ph[k] = tu_uniform(r) * 6.283;
        }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double v = 0.5;
                for (int k = 0; k < 4; k++) v += 0.12 * sin(fx[k] * x + fy[k] * y + ph[k]);
                img[((size_t)c * H + y) * W + x] = (float)v;
            }
    }
    return img;
}

static float *random_image(tu_rng *r, size_t n)
{
    float *x = malloc(sizeof(float) * n);
    assert_non_null(x);
    tu_fill_uniform(r, x, n, 0.0f, 1.0f);
    return x;
}

static int *random_labels(tu_rng *r, size_t n, int nid)
{
    int *l = malloc(sizeof(int) * n);
    assert_non_null(l);
    for (size_t i = 0; i < n; i++) l[i] = 1000 + (int)(tu_uniform(r) * nid) * 7;
    return l;
}

/* Runs unet_augment_apply on host arrays; lab/wt may be NULL. */
static void run_apply(const unet_augment_params *p, const float *img, int C, int H, int W, const int *lab,
                      const float *wt, int O, float *out_img, int *out_lab, float *out_wt)
{
    unet_context *ctx = tu_ctx();
    int T = p->tile;
    unet_tensor src = tu_tensor(C, H, W, img);
    unet_tensor dst = tu_tensor(C, T, T, NULL);
    cl_mem sl = NULL, sw = NULL, dl = NULL, dw = NULL;
    if (lab) {
        TU_OK(unet_buffer_alloc(ctx, &sl, sizeof(int) * H * W, "labels"));
        TU_OK(unet_buffer_write(ctx, sl, 0, sizeof(int) * H * W, lab));
        TU_OK(unet_buffer_alloc(ctx, &dl, sizeof(int) * O * O, "labels out"));
    }
    if (wt) {
        TU_OK(unet_buffer_alloc(ctx, &sw, sizeof(float) * H * W, "weights"));
        TU_OK(unet_buffer_write(ctx, sw, 0, sizeof(float) * H * W, wt));
        TU_OK(unet_buffer_alloc(ctx, &dw, sizeof(float) * O * O, "weights out"));
    }
    TU_OK(unet_augment_apply(ctx, p, &src, sl, sw, &dst, O, dl, dw));
    TU_OK(unet_tensor_download(ctx, &dst, out_img));
    if (lab) TU_OK(unet_buffer_read(ctx, dl, 0, sizeof(int) * O * O, out_lab));
    if (wt) TU_OK(unet_buffer_read(ctx, dw, 0, sizeof(float) * O * O, out_wt));
    if (sl) clReleaseMemObject(sl);
    if (sw) clReleaseMemObject(sw);
    if (dl) clReleaseMemObject(dl);
    if (dw) clReleaseMemObject(dw);
    unet_tensor_free(&src);
    unet_tensor_free(&dst);
}

typedef struct sample {
    float *img;
    int *lab;
    float *wt;
} sample;

static sample run_sample(const unet_augment_params *p, const float *img, int C, int H, int W, const int *lab,
                         const float *wt, int O)
{
    sample s;
    int T = p->tile;
    s.img = malloc(sizeof(float) * C * T * T);
    s.lab = malloc(sizeof(int) * O * O);
    s.wt = malloc(sizeof(float) * O * O);
    assert_true(s.img && s.lab && s.wt);
    run_apply(p, img, C, H, W, lab, wt, O, s.img, lab ? s.lab : NULL, wt ? s.wt : NULL);
    return s;
}

static void sample_free(sample *s)
{
    free(s->img);
    free(s->lab);
    free(s->wt);
}

/* Expects the sample to be an exact resampling at integer source positions
 * given by map(x, y) -> (sx, sy) (then reflected). */
typedef void (*int_map)(const unet_augment_params *p, int x, int y, int *sx, int *sy);

static void expect_exact(const char *what, const unet_augment_params *p, int_map map, const float *img, int C,
                         int H, int W, const int *lab, const float *wt, int O, const sample *s)
{
    int T = p->tile, off = (T - O) / 2;
    size_t bad = 0;
    for (int y = 0; y < T; y++)
        for (int x = 0; x < T; x++) {
            int sx, sy;
            map(p, x, y, &sx, &sy);
            sx = ref_reflect(sx, W);
            sy = ref_reflect(sy, H);
            for (int c = 0; c < C; c++)
                if (s->img[((size_t)c * T + y) * T + x] != img[((size_t)c * H + sy) * W + sx]) bad++;
            int ox = x - off, oy = y - off;
            if (ox < 0 || oy < 0 || ox >= O || oy >= O) continue;
            if (lab && s->lab[oy * O + ox] != lab[sy * W + sx]) bad++;
            if (wt && s->wt[oy * O + ox] != wt[sy * W + sx]) bad++;
        }
    if (bad) fail_msg("%s: %zu values differ from the exact resampling", what, bad);
    print_message("  %-48s exact (%d x %d tile, %d ch)\n", what, T, T, C);
}

/* s = origin + p for an axis-aligned tile */
static void map_shift(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    int T = p->tile;
    *sx = (int)lround(p->cx - 0.5 * (T - 1)) + x;
    *sy = (int)lround(p->cy - 0.5 * (T - 1)) + y;
}

/* ---- tests --------------------------------------------------------------- */

static void test_identity(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 1);
    /* T == source: the input back exactly; T < source: the centred crop;
     * T > source: the centred tile with mirrored borders */
    const int cases[][4] = {{3, 37, 37, 37}, {1, 33, 40, 25}, {3, 20, 17, 45}, {1, 1, 1, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int C = cases[k][0], H = cases[k][1], W = cases[k][2], T = cases[k][3];
        int O = T >= 21 ? T - 20 : 1;
        float *img = random_image(&r, (size_t)C * H * W);
        int *lab = random_labels(&r, (size_t)H * W, 50);
        float *wt = random_image(&r, (size_t)H * W);
        unet_augment_params p;
        unet_augment_params_identity(&p, W, H, T);
        sample s = run_sample(&p, img, C, H, W, lab, wt, O);
        char what[96];
        snprintf(what, sizeof what, "identity src %dx%dx%d tile %d out %d", C, H, W, T, O);
        expect_exact(what, &p, map_shift, img, C, H, W, lab, wt, O, &s);
        if (T == W && T == H) assert_memory_equal(s.img, img, sizeof(float) * C * H * W);
        /* the same through unet_augment_draw with everything off */
        unet_augment_options o;
        unet_augment_options_none(&o);
        unet_augment_params q;
        TU_OK(unet_augment_draw(&o, 5, 6, 7, W, H, T, &q));
        assert_memory_equal(&p, &q, sizeof p);
        /* with every switch on but zero magnitudes and no shift */
        unet_augment_options_default(&o);
        o.shift = 0;
        o.sigma = 0;
        o.max_angle = 0;
        o.flip = 0;
        o.brightness = o.contrast = o.gamma = o.noise_std = 0;
        TU_OK(unet_augment_draw(&o, 5, 6, 7, W, H, T, &q));
        sample s2 = run_sample(&q, img, C, H, W, lab, wt, O);
        expect_exact("  ... all switches on, zero magnitudes", &q, map_shift, img, C, H, W, lab, wt, O, &s2);
        sample_free(&s2);
        sample_free(&s);
        free(img);
        free(lab);
        free(wt);
    }
}

static void test_integer_shift(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 2);
    int C = 3, H = 31, W = 26, T = 23, O = 9;
    float *img = random_image(&r, (size_t)C * H * W);
    int *lab = random_labels(&r, (size_t)H * W, 30);
    float *wt = random_image(&r, (size_t)H * W);
    const int shifts[][2] = {{3, -5}, {-7, 2}, {0, 9}, {15, -20}, {-30, 40}};
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        unet_augment_params p;
        unet_augment_params_identity(&p, W, H, T);
        p.cx += shifts[k][0];
        p.cy += shifts[k][1];
        sample s = run_sample(&p, img, C, H, W, lab, wt, O);
        char what[64];
        snprintf(what, sizeof what, "shift (%d, %d)", shifts[k][0], shifts[k][1]);
        expect_exact(what, &p, map_shift, img, C, H, W, lab, wt, O, &s);
        sample_free(&s);
    }
    /* drawn shifts (shift only): integer tile origins, exact crops; the
     * central pixel covers the whole source over many draws */
    unet_augment_options o;
    unet_augment_options_none(&o);
    o.enabled = 1;
    o.shift = 1;
    int minx = 1 << 30, maxx = -1, miny = 1 << 30, maxy = -1;
    for (int i = 0; i < 400; i++) {
        unet_augment_params p;
        TU_OK(unet_augment_draw(&o, 11, 3, (uint64_t)i, W, H, T, &p));
        int ix = (int)lround(p.cx - 0.5 * (T - 1)) + T / 2, iy = (int)lround(p.cy - 0.5 * (T - 1)) + T / 2;
        assert_true(fabs(p.cx - 0.5 * (T - 1) - lround(p.cx - 0.5 * (T - 1))) == 0.0);
        minx = ix < minx ? ix : minx;
        maxx = ix > maxx ? ix : maxx;
        miny = iy < miny ? iy : miny;
        maxy = iy > maxy ? iy : maxy;
        if (i < 3) {
            sample s = run_sample(&p, img, C, H, W, lab, wt, O);
            expect_exact("drawn shift", &p, map_shift, img, C, H, W, lab, wt, O, &s);
            sample_free(&s);
        }
    }
    assert_int_equal(minx, 0);
    assert_int_equal(maxx, W - 1);
    assert_int_equal(miny, 0);
    assert_int_equal(maxy, H - 1);
    free(img);
    free(lab);
    free(wt);
}

static void map_flip_x(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    *sx = p->tile - 1 - x;
    *sy = y;
}
static void map_flip_y(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    *sx = x;
    *sy = p->tile - 1 - y;
}
/* +90 degrees: s - c = R (p - ct), R = [[0,-1],[1,0]] */
static void map_rot90(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    *sx = p->tile - 1 - y;
    *sy = x;
}
static void map_rot180(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    *sx = p->tile - 1 - x;
    *sy = p->tile - 1 - y;
}
static void map_rot270(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    *sx = y;
    *sy = p->tile - 1 - x;
}
/* 90 degrees with flip_x: R F (p - ct), F = diag(-1, 1) */
static void map_rot90_fx(const unet_augment_params *p, int x, int y, int *sx, int *sy)
{
    *sx = p->tile - 1 - y;
    *sy = p->tile - 1 - x;
}

static void test_flips_rot90(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 3);
    const int sizes[][2] = {{1, 29}, {3, 24}}; /* odd and even tiles */
    for (size_t k = 0; k < 2; k++) {
        int C = sizes[k][0], T = sizes[k][1], H = T, W = T, O = T - 12;
        float *img = random_image(&r, (size_t)C * H * W);
        int *lab = random_labels(&r, (size_t)H * W, 40);
        float *wt = random_image(&r, (size_t)H * W);
        struct {
            const char *name;
            double angle;
            int fx, fy;
            int_map map;
        } cases[] = {{"flip x", 0, 1, 0, map_flip_x},        {"flip y", 0, 0, 1, map_flip_y},
                     {"rotate 90", 90, 0, 0, map_rot90},      {"rotate 180", 180, 0, 0, map_rot180},
                     {"rotate -90", -90, 0, 0, map_rot270},   {"rotate 270", 270, 0, 0, map_rot270},
                     {"flip x+y", 0, 1, 1, map_rot180},       {"rotate 90 + flip x", 90, 1, 0, map_rot90_fx}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            unet_augment_params p;
            unet_augment_params_identity(&p, W, H, T);
            p.angle = cases[i].angle;
            p.flip_x = cases[i].fx;
            p.flip_y = cases[i].fy;
            unet_augment_params_update(&p);
            sample s = run_sample(&p, img, C, H, W, lab, wt, O);
            char what[80];
            snprintf(what, sizeof what, "%s (tile %d, %d ch)", cases[i].name, T, C);
            expect_exact(what, &p, cases[i].map, img, C, H, W, lab, wt, O, &s);
            sample_free(&s);
        }
        free(img);
        free(lab);
        free(wt);
    }
}

/* Random elastic + rotation + flip + shift against the double reference. */
static void check_against_reference(const char *what, const unet_augment_params *p, const float *img, int C,
                                    int H, int W, const int *lab, const float *wt, int O)
{
    sample s = run_sample(p, img, C, H, W, lab, wt, O);
    ref_out r;
    ref_warp(p, img, C, H, W, lab, wt, O, &r);
    int T = p->tile;
    char buf[160];
    snprintf(buf, sizeof buf, "%s: image", what);
    tu_assert_close(buf, s.img, r.img, (size_t)C * T * T, 1e-5, 0);
    if (wt) {
        snprintf(buf, sizeof buf, "%s: weights", what);
        tu_assert_close(buf, s.wt, r.wt, (size_t)O * O, 1e-5, 0);
    }
    if (lab) {
        size_t bad = 0, amb = 0;
        for (int i = 0; i < O * O; i++) {
            if (r.ambiguous[i]) amb++;
            else if (s.lab[i] != r.lab[i]) bad++;
        }
        if (bad) fail_msg("%s: %zu labels differ from the nearest-neighbour reference", what, bad);
        assert_true(amb < (size_t)(O * O) / 20 + 1);
    }
    ref_free(&r);
    sample_free(&s);
}

static void test_warp_reference(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 4);
    /* awkward shapes: odd/even, non-square sources, tiles larger than the
     * source (mirroring), 1 and 3 channels */
    const int cases[][5] = {{1, 45, 38, 29, 13}, {3, 31, 52, 36, 20}, {3, 19, 23, 41, 25}, {1, 64, 17, 33, 1}};
    unet_augment_options o;
    unet_augment_options_default(&o);
    o.gray = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int C = cases[k][0], H = cases[k][1], W = cases[k][2], T = cases[k][3], O = cases[k][4];
        float *img = smooth_image(&r, C, H, W);
        int *lab = random_labels(&r, (size_t)H * W, 100);
        float *wt = random_image(&r, (size_t)H * W);
        for (int i = 0; i < 3; i++) {
            unet_augment_params p;
            o.grid = 3 + (int)k % 3; /* 3, 4, 5, 3 */
            TU_OK(unet_augment_draw(&o, 99, (uint64_t)k, (uint64_t)i, W, H, T, &p));
            char what[96];
            snprintf(what, sizeof what, "warp %dx%dx%d T%d O%d grid %d #%d", C, H, W, T, O, p.grid, i);
            check_against_reference(what, &p, img, C, H, W, lab, wt, O);
        }
        free(img);
        free(lab);
        free(wt);
    }
}

static void test_mirror_borders(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 5);
    int C = 1, H = 13, W = 11, T = 41, O = 31;
    float *img = smooth_image(&r, C, H, W);
    int *lab = random_labels(&r, (size_t)H * W, 20);
    float *wt = random_image(&r, (size_t)H * W);
    /* tiles centred on corners and edges, extending over several reflection
     * periods; rotated and deformed */
    const double centres[][2] = {{0, 0}, {W - 1, H - 1}, {-3, 6}, {5, H + 2}, {-15, -15}};
    for (size_t k = 0; k < sizeof centres / sizeof centres[0]; k++) {
        unet_augment_params p;
        unet_augment_params_identity(&p, W, H, T);
        p.cx = centres[k][0];
        p.cy = centres[k][1];
        sample s = run_sample(&p, img, C, H, W, lab, wt, O);
        char what[80];
        snprintf(what, sizeof what, "mirror, centre (%g, %g)", p.cx, p.cy);
        expect_exact(what, &p, map_shift, img, C, H, W, lab, wt, O, &s);
        sample_free(&s);
        p.angle = 37.0 + 20.0 * k;
        unet_augment_params_update(&p);
        p.grid = 3;
        for (int i = 0; i < 18; i++) p.disp[i] = (float)(8.0 * tu_normal(&r));
        snprintf(what, sizeof what, "mirror, centre (%g, %g) rotated+elastic", p.cx, p.cy);
        check_against_reference(what, &p, img, C, H, W, lab, wt, O);
    }
    /* reflection does not repeat the edge: the pixel left of column 0 is column 1 */
    unet_augment_params p;
    unet_augment_params_identity(&p, W, H, 1);
    p.cx = -1;
    p.cy = 0;
    float v;
    run_apply(&p, img, C, H, W, NULL, NULL, 1, &v, NULL, NULL);
    assert_true(v == img[1]);
    p.cx = W;
    run_apply(&p, img, C, H, W, NULL, NULL, 1, &v, NULL, NULL);
    assert_true(v == img[W - 2]);
    free(img);
    free(lab);
    free(wt);
}

static void test_labels_not_blended(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 6);
    int H = 57, W = 49, T = 45, O = 29;
    /* a label image with many ids in blocks (like cells), ids not contiguous */
    int *lab = malloc(sizeof(int) * H * W);
    float *wt = malloc(sizeof(float) * H * W);
    float *img = smooth_image(&r, 1, H, W);
    assert_true(lab && wt);
    int ids[400];
    for (int i = 0; i < 400; i++) ids[i] = (int)(tu_uniform(&r) * 1.0e6) * 2 + 1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            lab[y * W + x] = ids[((y / 3) * 17 + x / 3) % 400];
            wt[y * W + x] = (float)(0.5 + ((x + y) % 5));
        }
    unet_augment_options o;
    unet_augment_options_default(&o);
    o.sigma = 15.0;
    size_t checked = 0;
    for (int i = 0; i < 20; i++) {
        unet_augment_params p;
        TU_OK(unet_augment_draw(&o, 7, 100, (uint64_t)i, W, H, T, &p));
        sample s = run_sample(&p, img, 1, H, W, lab, wt, O);
        for (int j = 0; j < O * O; j++) {
            int found = 0;
            for (int q = 0; q < 400 && !found; q++) found = s.lab[j] == ids[q];
            if (!found) fail_msg("draw %d: label %d at %d is not a label of the input", i, s.lab[j], j);
            assert_true(s.wt[j] >= 0.5f - 1e-6f && s.wt[j] <= 4.5f + 1e-6f); /* bilinear: no overshoot */
            checked++;
        }
        sample_free(&s);
    }
    print_message("  %-48s %zu labels checked\n", "labels only take input values", checked);
    free(lab);
    free(wt);
    free(img);
}

static void test_displacement_statistics(void **state)
{
    (void)state;
    unet_augment_options o;
    unet_augment_options_default(&o);
    const double sigmas[] = {10.0, 3.5};
    for (int k = 0; k < 2; k++) {
        o.sigma = sigmas[k];
        double s1 = 0, s2 = 0, cross = 0;
        size_t n = 0;
        for (int i = 0; i < 2000; i++) {
            unet_augment_params p;
            TU_OK(unet_augment_draw(&o, 1234, (uint64_t)i / 10, (uint64_t)i % 10, 300, 300, 100, &p));
            assert_int_equal(p.grid, 3);
            for (int j = 0; j < 18; j++) {
                s1 += p.disp[j];
                s2 += (double)p.disp[j] * p.disp[j];
                n++;
            }
            cross += (double)p.disp[0] * p.disp[1];
        }
        double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
        print_message("  displacements sigma %.1f: mean %.3f sd %.3f over %zu\n", o.sigma, mean, sd, n);
        assert_true(fabs(sd / o.sigma - 1.0) < 0.03);
        assert_true(fabs(mean) < 4.0 * o.sigma / sqrt((double)n));
        /* components independent */
        assert_true(fabs(cross / 2000.0) < 4.0 * o.sigma * o.sigma / sqrt(2000.0));
    }
    /* on the device: the per-pixel field passes through the node vectors
     * (warping a linear ramp, which bicubic reproduces exactly, gives the
     * source coordinate); the nodes of a 3x3 grid over T = 33 sit on pixels
     * 0, 16, 32 */
    int T = 33, H = 161, W = 161;
    float *ramp = malloc(sizeof(float) * 2 * H * W);
    float *out = malloc(sizeof(float) * 2 * T * T);
    assert_true(ramp && out);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            ramp[y * W + x] = (float)x;
            ramp[H * W + y * W + x] = (float)y;
        }
    o.sigma = 10.0;
    o.rotate = o.flip = o.shift = o.gray = 0;
    double s2 = 0;
    int n = 0;
    for (int i = 0; i < 12; i++) {
        unet_augment_params p;
        TU_OK(unet_augment_draw(&o, 77, 5, (uint64_t)i, W, H, T, &p));
        run_apply(&p, ramp, 2, H, W, NULL, NULL, 1, out, NULL, NULL);
        for (int gy = 0; gy < 3; gy++)
            for (int gx = 0; gx < 3; gx++) {
                int x = gx * 16, y = gy * 16, nd = gy * 3 + gx;
                double dx = out[y * T + x] - (p.cx - 16 + x), dy = out[T * T + y * T + x] - (p.cy - 16 + y);
                assert_true(fabs(dx - p.disp[2 * nd]) < 1e-3);
                assert_true(fabs(dy - p.disp[2 * nd + 1]) < 1e-3);
                s2 += dx * dx + dy * dy;
                n += 2;
            }
    }
    print_message("  device field at the nodes: rms %.2f px over %d components\n", sqrt(s2 / n), n);
    free(ramp);
    free(out);
}

static void test_reproducible(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 8);
    int C = 3, H = 40, W = 35, T = 28, O = 12;
    float *img = smooth_image(&r, C, H, W);
    int *lab = random_labels(&r, (size_t)H * W, 10);
    float *wt = random_image(&r, (size_t)H * W);
    unet_augment_options o;
    unet_augment_options_default(&o);
    size_t ni = (size_t)C * T * T, no = (size_t)O * O;
    float *i1 = malloc(sizeof(float) * ni), *i2 = malloc(sizeof(float) * ni), *i3 = malloc(sizeof(float) * ni);
    int *l1 = malloc(sizeof(int) * no), *l2 = malloc(sizeof(int) * no);
    float *w1 = malloc(sizeof(float) * no), *w2 = malloc(sizeof(float) * no);
    unet_augment_params p1, p2, p3;
    unet_context *ctx = tu_ctx();
    TU_OK(unet_augment_host(ctx, &o, 42, 17, 3, img, C, H, W, lab, wt, T, O, i1, l1, w1, &p1));
    /* other draws in between do not matter (no hidden state) */
    TU_OK(unet_augment_host(ctx, &o, 42, 18, 3, img, C, H, W, lab, wt, T, O, i3, l2, w2, &p3));
    TU_OK(unet_augment_host(ctx, &o, 42, 17, 3, img, C, H, W, lab, wt, T, O, i2, l2, w2, &p2));
    assert_memory_equal(&p1, &p2, sizeof p1);
    assert_memory_equal(i1, i2, sizeof(float) * ni);
    assert_memory_equal(l1, l2, sizeof(int) * no);
    assert_memory_equal(w1, w2, sizeof(float) * no);
    /* a different step, index or seed gives different parameters and output */
    assert_true(memcmp(i1, i3, sizeof(float) * ni) != 0);
    assert_true(p1.disp[0] != p3.disp[0] && p1.angle != p3.angle && p1.noise_seed != p3.noise_seed);
    TU_OK(unet_augment_draw(&o, 42, 17, 4, W, H, T, &p3));
    assert_true(p1.disp[0] != p3.disp[0] && p1.angle != p3.angle);
    TU_OK(unet_augment_draw(&o, 43, 17, 3, W, H, T, &p3));
    assert_true(p1.disp[0] != p3.disp[0] && p1.angle != p3.angle);
    /* switching one option off leaves the others' draws unchanged */
    unet_augment_options o2 = o;
    o2.rotate = 0;
    o2.gray = 0;
    TU_OK(unet_augment_draw(&o2, 42, 17, 3, W, H, T, &p3));
    assert_memory_equal(p1.disp, p3.disp, sizeof p1.disp);
    assert_true(p1.cx == p3.cx && p1.cy == p3.cy && p1.flip_x == p3.flip_x);
    assert_true(p3.angle == 0.0 && p3.gray == 0);
    free(i1);
    free(i2);
    free(i3);
    free(l1);
    free(l2);
    free(w1);
    free(w2);
    free(img);
    free(lab);
    free(wt);
}

static void test_gray(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 9);
    unet_augment_options o;
    unet_augment_options_default(&o);
    /* drawn gray parameters: ranges and statistics over many draws */
    double sb = 0, sb2 = 0, minb = 1, maxb = -1, minc = 2, maxc = 0, ming = 2, maxg = 0;
    int N = 4000;
    for (int i = 0; i < N; i++) {
        unet_augment_params p;
        TU_OK(unet_augment_draw(&o, 5, (uint64_t)i, 0, 50, 50, 20, &p));
        assert_true(p.gray);
        sb += p.brightness;
        sb2 += p.brightness * p.brightness;
        minb = fmin(minb, p.brightness);
        maxb = fmax(maxb, p.brightness);
        minc = fmin(minc, p.contrast);
        maxc = fmax(maxc, p.contrast);
        ming = fmin(ming, p.gamma);
        maxg = fmax(maxg, p.gamma);
    }
    double mb = sb / N, sdb = sqrt(sb2 / N - mb * mb);
    print_message("  brightness mean %.4f sd %.4f (uniform: %.4f) range [%.3f, %.3f]\n", mb, sdb, 0.1 / sqrt(3.0),
                  minb, maxb);
    assert_true(fabs(sdb / (0.1 / sqrt(3.0)) - 1.0) < 0.05);
    assert_true(fabs(mb) < 4.0 * 0.1 / sqrt(3.0 * N));
    assert_true(minb >= -0.1 && maxb <= 0.1 && minb < -0.098 && maxb > 0.098);
    assert_true(minc >= 0.9 && maxc <= 1.1 && minc < 0.902 && maxc > 1.098);
    assert_true(ming >= 0.9 && maxg <= 1.1 && ming < 0.902 && maxg > 1.098);

    /* the kernel against the reference (identity geometry so the warp is exact) */
    int C = 3, T = 41;
    float *img = random_image(&r, (size_t)C * T * T);
    img[0] = -0.01f; /* a bicubic undershoot */
    img[1] = 0.0f;
    img[2] = 1.0f;
    float *out = malloc(sizeof(float) * C * T * T);
    double *want = malloc(sizeof(double) * C * T * T);
    assert_true(out && want);
    for (int i = 0; i < 3; i++) {
        unet_augment_params p;
        TU_OK(unet_augment_draw(&o, 6, 1, (uint64_t)i, T, T, T, &p));
        unet_augment_params q;
        unet_augment_params_identity(&q, T, T, T);
        q.gray = 1;
        q.gamma = p.gamma;
        q.contrast = p.contrast;
        q.brightness = p.brightness;
        q.noise_std = i == 2 ? 0.0 : (i == 1 ? 0.1 : p.noise_std);
        q.noise_seed = p.noise_seed;
        run_apply(&q, img, C, T, T, NULL, NULL, 1, out, NULL, NULL);
        for (size_t e = 0; e < (size_t)C * T * T; e++) want[e] = ref_gray(&q, img[e], e);
        char what[96];
        snprintf(what, sizeof what, "gray g %.3f k %.3f b %.3f noise %.3f", q.gamma, q.contrast, q.brightness,
                 q.noise_std);
        tu_assert_close(what, out, want, (size_t)C * T * T, 2e-5, 2e-5);
    }
    /* noise statistics on a constant image: mean 0, sd noise_std, no
     * correlation between neighbours; another noise seed gives other noise */
    for (size_t e = 0; e < (size_t)C * T * T; e++) img[e] = 0.5f;
    unet_augment_params q;
    unet_augment_params_identity(&q, T, T, T);
    q.gray = 1;
    q.noise_std = 0.05;
    q.noise_seed = 12345;
    run_apply(&q, img, C, T, T, NULL, NULL, 1, out, NULL, NULL);
    double s1 = 0, s2 = 0, sc = 0;
    size_t n = (size_t)C * T * T;
    for (size_t e = 0; e < n; e++) {
        double d = out[e] - 0.5;
        s1 += d;
        s2 += d * d;
        if (e + 1 < n) sc += d * (out[e + 1] - 0.5);
    }
    double m = s1 / n, sd = sqrt(s2 / n - m * m), corr = sc / n / (sd * sd);
    print_message("  noise mean %.5f sd %.5f (want 0.05) neighbour corr %.4f over %zu\n", m, sd, corr, n);
    assert_true(fabs(sd / 0.05 - 1.0) < 0.05);
    assert_true(fabs(m) < 4.0 * 0.05 / sqrt((double)n));
    assert_true(fabs(corr) < 4.0 / sqrt((double)n));
    float *out2 = malloc(sizeof(float) * n);
    assert_non_null(out2);
    q.noise_seed = 12346;
    run_apply(&q, img, C, T, T, NULL, NULL, 1, out2, NULL, NULL);
    size_t same = 0;
    for (size_t e = 0; e < n; e++) same += out[e] == out2[e];
    assert_true(same < n / 100);
    free(out2);
    free(img);
    free(out);
    free(want);
}

static void test_errors(void **state)
{
    (void)state;
    unet_augment_options o;
    unet_augment_params p;
    unet_augment_options_default(&o);
    o.grid = 0;
    assert_int_equal(unet_augment_draw(&o, 1, 1, 1, 10, 10, 5, &p), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "grid"));
    unet_augment_options_default(&o);
    o.sigma = NAN;
    assert_int_equal(unet_augment_options_check(&o), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "sigma"));
    unet_augment_options_default(&o);
    o.contrast = 1.5;
    assert_int_equal(unet_augment_options_check(&o), UNET_ERR_INVALID_ARGUMENT);
    unet_augment_options_default(&o);
    assert_int_equal(unet_augment_draw(&o, 1, 1, 1, 0, 10, 5, &p), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_augment_draw(&o, 1, 1, 1, 10, 10, 6, &p));
    /* wrong destination size, source size, output size, short buffers */
    unet_context *ctx = tu_ctx();
    unet_tensor src = tu_tensor(1, 10, 10, NULL), dst = tu_tensor(1, 5, 5, NULL), dst6 = tu_tensor(1, 6, 6, NULL);
    assert_int_equal(unet_augment_apply(ctx, &p, &src, NULL, NULL, &dst, 0, NULL, NULL), UNET_ERR_INVALID_ARGUMENT);
    print_message("  error: %s\n", unet_last_error());
    cl_mem lab, small;
    TU_OK(unet_buffer_alloc(ctx, &lab, sizeof(int) * 100, "labels"));
    TU_OK(unet_buffer_alloc(ctx, &small, sizeof(int) * 3, "small"));
    assert_int_equal(unet_augment_apply(ctx, &p, &src, lab, NULL, &dst6, 3, small, NULL), UNET_ERR_INVALID_ARGUMENT);
    print_message("  error: %s\n", unet_last_error());
    assert_int_equal(unet_augment_apply(ctx, &p, &src, lab, NULL, &dst6, 2, small, NULL), UNET_ERR_INVALID_ARGUMENT);
    print_message("  error: %s\n", unet_last_error());
    assert_int_equal(unet_augment_apply(ctx, &p, &src, lab, NULL, &dst6, 2, NULL, NULL), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_augment_apply(ctx, &p, &src, lab, NULL, &dst6, 2, lab, NULL));
    unet_augment_params q = p;
    q.src_w = 11;
    assert_int_equal(unet_augment_apply(ctx, &q, &src, NULL, NULL, &dst6, 0, NULL, NULL), UNET_ERR_INVALID_ARGUMENT);
    q = p;
    q.disp[0] = NAN;
    assert_int_equal(unet_augment_apply(ctx, &q, &src, NULL, NULL, &dst6, 0, NULL, NULL), UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_finish(ctx));
    clReleaseMemObject(lab);
    clReleaseMemObject(small);
    unet_tensor_free(&src);
    unet_tensor_free(&dst);
    unet_tensor_free(&dst6);
}

/* ---- pictures ------------------------------------------------------------ */

static int write_png(const char *path, const unsigned char *rgb, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

static unsigned char to8(double v) { return (unsigned char)(v < 0 ? 0 : v > 1 ? 255 : lround(v * 255)); }

/* Synthetic EM-like pattern: grid lines every 16 px, round "cells" (labels
 * 1..n, background 0), border weights higher near the cell edges. */
static void synth(int H, int W, float *img, int *lab, float *wt)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int cx = (x / 32) * 32 + 16, cy = (y / 32) * 32 + 16;
            double r = sqrt((double)(x - cx) * (x - cx) + (double)(y - cy) * (y - cy));
            int id = r < 11 ? 1 + (y / 32) * (W / 32 + 1) + x / 32 : 0;
            double v = id ? 0.75 : 0.35;
            if (x % 16 == 0 || y % 16 == 0) v = 0.05;
            if (fabs(r - 11) < 1.2) v = 0.95;
            img[y * W + x] = (float)v;
            lab[y * W + x] = id;
            wt[y * W + x] = (float)(1.0 + 4.0 * exp(-(r - 11) * (r - 11) / 8.0));
        }
}

static void colour(int id, unsigned char *c)
{
    if (id == 0) {
        c[0] = c[1] = c[2] = 0;
        return;
    }
    uint64_t h = ref_mix((uint64_t)id * 0x9e3779b97f4a7c15ULL);
    c[0] = (unsigned char)(64 + (h & 191));
    c[1] = (unsigned char)(64 + ((h >> 8) & 191));
    c[2] = (unsigned char)(64 + ((h >> 16) & 191));
}

static void test_pictures(void **state)
{
    (void)state;
    int H = 256, W = 256, T = 188, O = 100, off = (T - O) / 2, N = 4;
    float *img = malloc(sizeof(float) * H * W), *wt = malloc(sizeof(float) * H * W);
    int *lab = malloc(sizeof(int) * H * W);
    float *ti = malloc(sizeof(float) * T * T), *tw = malloc(sizeof(float) * O * O);
    int *tl = malloc(sizeof(int) * O * O);
    int PW = N * (T + 4), PH = 2 * (T + 4);
    unsigned char *rgb = malloc((size_t)PW * PH * 3);
    assert_true(img && wt && lab && ti && tw && tl && rgb);
    synth(H, W, img, lab, wt);
    mkdir("/tmp/unetcl_augment", 0777);
    const char *names[] = {"elastic_only", "default", "elastic_sigma20"};
    for (int v = 0; v < 3; v++) {
        unet_augment_options o;
        unet_augment_options_default(&o);
        if (v == 0 || v == 2) {
            o.rotate = o.flip = o.shift = o.gray = 0;
            if (v == 2) o.sigma = 20;
        }
        memset(rgb, 255, (size_t)PW * PH * 3);
        for (int i = 0; i < N; i++) {
            unet_augment_params p;
            TU_OK(unet_augment_host(tu_ctx(), &o, 2015, 1, (uint64_t)i, img, 1, H, W, lab, wt, T, O, ti, tl, tw,
                                    &p));
            int x0 = i * (T + 4) + 2;
            for (int y = 0; y < T; y++)
                for (int x = 0; x < T; x++) {
                    unsigned char *c = rgb + ((size_t)(y + 2) * PW + x0 + x) * 3;
                    c[0] = c[1] = c[2] = to8(ti[y * T + x]);
                    /* second row: labels in the output region, weights shading */
                    unsigned char *d = rgb + ((size_t)(y + T + 6) * PW + x0 + x) * 3;
                    int ox = x - off, oy = y - off;
                    if (ox >= 0 && oy >= 0 && ox < O && oy < O) {
                        colour(tl[oy * O + ox], d);
                        double s = tw[oy * O + ox] / 5.0;
                        if (tl[oy * O + ox] == 0) d[0] = d[1] = d[2] = to8(s * 0.8);
                    } else {
                        d[0] = d[1] = d[2] = (unsigned char)(to8(ti[y * T + x]) / 3);
                    }
                }
        }
        char path[256];
        snprintf(path, sizeof path, "/tmp/unetcl_augment/%s.png", names[v]);
        assert_int_equal(write_png(path, rgb, PW, PH), 0);
        print_message("  wrote %s\n", path);
    }
    free(img);
    free(wt);
    free(lab);
    free(ti);
    free(tw);
    free(tl);
    free(rgb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),           cmocka_unit_test(test_integer_shift),
        cmocka_unit_test(test_flips_rot90),        cmocka_unit_test(test_warp_reference),
        cmocka_unit_test(test_mirror_borders),     cmocka_unit_test(test_labels_not_blended),
        cmocka_unit_test(test_displacement_statistics), cmocka_unit_test(test_reproducible),
        cmocka_unit_test(test_gray),               cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pictures),
    };
    return TU_RUN("augment", tests);
}
