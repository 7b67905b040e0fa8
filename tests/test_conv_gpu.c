/* unetcl's GPU convolution kernels (src/cl/conv_gpu.cl) on whatever device
 * the tests run on (PoCL's CPU device in CI): every parameter set that
 * `unetcl tune` may choose, in fp32 and fp16, forward (bias + ReLU fused),
 * input gradient and weight gradient (with and without the split along the
 * pixels, accumulating or not) against a plain-C double reference; the fp16
 * storage against the bound of binary16 operand rounding; the Winograd
 * F(2x2,3x3) sets (forward, input gradient, cached transformed weights)
 * against the bound of their own rounding (wino_absum); the layer entry
 * points with the force switch (dispatch hook); the tuning file (written,
 * read back, used, ignored when corrupt); argument errors. The reference's
 * own backward is checked by finite differences in test_conv.c, which also
 * runs with UNETCL_GPU_KERNELS=1 (test_conv_gpukernels). */
#include "testutil.h"

#include "conv_gpu.h"
#include "conv_internal.h"
#include "knobs.h"
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- plain-C double reference (3x3 valid) ------------------------------------ */

static void ref_forward(const float *in, const float *wt, const float *b, int cin, int h, int w, int cout, int relu,
                        double *out, double *absum)
{
    const int ho = h - 2, wo = w - 2;
    for (int co = 0; co < cout; co++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                double s = b ? b[co] : 0, a = 0;
                for (int ci = 0; ci < cin; ci++)
                    for (int k = 0; k < 9; k++) {
                        const double p = (double)wt[(co * cin + ci) * 9 + k] * in[(ci * h + y + k / 3) * w + x + k % 3];
                        s += p;
                        a += fabs(p);
                    }
                if (relu && s < 0) s = 0;
                out[(co * ho + y) * wo + x] = s;
                if (absum) absum[(co * ho + y) * wo + x] = a;
            }
}

/* din = adjoint of the convolution applied to dout; dw = dout x in. */
static void ref_backward(const float *in, const float *wt, const float *dout, int cin, int h, int w, int cout,
                         double *din, double *dw, double *din_abs, double *dw_abs)
{
    const int ho = h - 2, wo = w - 2;
    memset(din, 0, sizeof(double) * (size_t)cin * h * w);
    memset(dw, 0, sizeof(double) * (size_t)cout * cin * 9);
    if (din_abs) memset(din_abs, 0, sizeof(double) * (size_t)cin * h * w);
    if (dw_abs) memset(dw_abs, 0, sizeof(double) * (size_t)cout * cin * 9);
    for (int co = 0; co < cout; co++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                const double g = dout[(co * ho + y) * wo + x];
                for (int ci = 0; ci < cin; ci++)
                    for (int k = 0; k < 9; k++) {
                        const int wi = (co * cin + ci) * 9 + k, ii = (ci * h + y + k / 3) * w + x + k % 3;
                        dw[wi] += g * in[ii];
                        din[ii] += g * wt[wi];
                        if (dw_abs) dw_abs[wi] += fabs(g * in[ii]);
                        if (din_abs) din_abs[ii] += fabs(g * wt[wi]);
                    }
            }
}

static float *falloc(size_t n)
{
    float *f = calloc(n ? n : 1, sizeof *f);
    assert_non_null(f);
    return f;
}

static double *dalloc(size_t n)
{
    double *d = calloc(n ? n : 1, sizeof *d);
    assert_non_null(d);
    return d;
}

static cl_mem upload(unet_context *ctx, const float *h, size_t n)
{
    cl_mem m;
    TU_OK(unet_buffer_alloc(ctx, &m, (n ? n : 1) * sizeof(float), "test buffer"));
    if (h) TU_OK(unet_buffer_write(ctx, m, 0, n * sizeof(float), h));
    return m;
}

static float *download(unet_context *ctx, cl_mem m, size_t off, size_t n)
{
    float *h = falloc(n);
    TU_OK(unet_buffer_read(ctx, m, off * sizeof(float), n * sizeof(float), h));
    return h;
}

static unet_context *make_ctx(int force, int fp16)
{
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = getenv("UNETCL_TEST_DEVICE");
    o.force_gpu_kernels = force;
    o.precision_fp16 = fp16;
    unet_context *c = NULL;
    TU_OK(unet_context_create(&o, &c));
    return c;
}

/* Tolerance against the double reference: fp32, |err| <= 1e-5 * (1 + sum|terms|)
 * (float accumulation of at most a few thousand terms in [-1, 1]); fp16,
 * each product of two operands rounded to binary16 (unit roundoff u = 2^-11)
 * is off by at most (2u + u^2)|product|, plus the fp32 part. */
static void check(const char *what, const float *got, const double *want, const double *absum, size_t n, int fp16,
                  double *worst_rel)
{
    const double u = 1.0 / 2048;
    for (size_t i = 0; i < n; i++) {
        const double tol = 1e-5 * (1 + absum[i]) + (fp16 ? 1.001 * (2 * u + u * u) * absum[i] : 0);
        const double d = fabs((double)got[i] - want[i]);
        if (!(d <= tol)) fail_msg("%s[%zu]: got %.9g, reference %.9g, |diff| %.3g > tolerance %.3g", what, i, got[i], want[i], d, tol);
        if (absum[i] > 0 && worst_rel && d / absum[i] > *worst_rel) *worst_rel = d / absum[i];
    }
}

typedef struct shape {
    int cin, cout, h, w;
} shape;

/* Partial tiles everywhere; K not a multiple of TK or VW; M above 64 and 128;
 * a first layer (cin 1). */
static const shape SHAPES[] = {{3, 5, 9, 11}, {17, 70, 12, 13}, {1, 8, 14, 10}, {9, 130, 7, 8}};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

/* Runs every operation of set `set` on shape s in context ctx against the
 * reference; returns the worst error relative to sum|terms| (fp16 check). */
static double run_set(unet_context *ctx, int set, const shape *s, int fp16, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    const int ho = s->h - 2, wo = s->w - 2;
    const size_t nin = (size_t)s->cin * s->h * s->w, nw = (size_t)s->cout * s->cin * 9, nout = (size_t)s->cout * ho * wo;
    float *in = falloc(nin), *wt = falloc(nw), *b = falloc(s->cout), *dout = falloc(nout), *din0 = falloc(nin),
          *dw0 = falloc(nw);
    tu_fill_uniform(&r, in, nin, -1, 1);
    tu_fill_uniform(&r, wt, nw, -1, 1);
    tu_fill_uniform(&r, b, s->cout, -0.5f, 0.5f);
    tu_fill_uniform(&r, dout, nout, -1, 1);
    tu_fill_uniform(&r, din0, nin, -1, 1);
    tu_fill_uniform(&r, dw0, nw, -1, 1);
    double *rout = dalloc(nout), *aout = dalloc(nout), *rdin = dalloc(nin), *adin = dalloc(nin), *rdw = dalloc(nw),
           *adw = dalloc(nw);
    ref_backward(in, wt, dout, s->cin, s->h, s->w, s->cout, rdin, rdw, adin, adw);
    double worst = 0;
    enum { WOFF = 5, BOFF = 3 };
    /* parameters at odd offsets of bigger buffers */
    float *pbuf = falloc(WOFF + nw + BOFF + s->cout);
    memcpy(pbuf + WOFF, wt, nw * 4);
    memcpy(pbuf + WOFF + nw + BOFF, b, (size_t)s->cout * 4);
    cl_mem params = upload(ctx, pbuf, WOFF + nw + BOFF + s->cout), min = upload(ctx, in, nin), mout = upload(ctx, NULL, nout),
           mdout = upload(ctx, dout, nout);
    const unet_slice sw = {params, WOFF}, sb = {params, WOFF + nw + BOFF};
    char what[160];
    const char *sn = unet_gpuconv_set(set)->name;
    for (int relu = 0; relu <= 1; relu++) {
        ref_forward(in, wt, b, s->cin, s->h, s->w, s->cout, relu, rout, aout);
        for (size_t i = 0; i < nout; i++) aout[i] += fabs(b[i / ((size_t)ho * wo)]);
        TU_OK(unet_buffer_fill(ctx, mout, 0, nout, NAN));
        TU_OK(unet_gpuconv_forward(ctx, set, min, s->cin, s->h, s->w, sw, sb, relu, s->cout, mout));
        float *got = download(ctx, mout, 0, nout);
        snprintf(what, sizeof what, "%s%s fwd %dx%dx%d->%d relu=%d", sn, fp16 ? " fp16" : "", s->cin, s->h, s->w, s->cout,
                 relu);
        check(what, got, rout, aout, nout, fp16, &worst);
        free(got);
    }
    if (s->cin > 1 || s->cout > 1)
        for (int acc = 0; acc <= 1; acc++) {
            cl_mem mdin = upload(ctx, acc ? din0 : NULL, nin);
            if (!acc) TU_OK(unet_buffer_fill(ctx, mdin, 0, nin, NAN)); /* must not be read */
            TU_OK(unet_gpuconv_dgrad(ctx, set, mdout, s->cout, s->h, s->w, sw, s->cin, mdin, acc));
            float *got = download(ctx, mdin, 0, nin);
            double *want = dalloc(nin);
            for (size_t i = 0; i < nin; i++) want[i] = rdin[i] + (acc ? din0[i] : 0);
            snprintf(what, sizeof what, "%s%s dgrad %dx%dx%d->%d acc=%d", sn, fp16 ? " fp16" : "", s->cin, s->h, s->w,
                     s->cout, acc);
            double *ab = dalloc(nin);
            for (size_t i = 0; i < nin; i++) ab[i] = adin[i] + (acc ? fabs(din0[i]) : 0);
            check(what, got, want, ab, nin, fp16, &worst);
            free(got), free(want), free(ab);
            clReleaseMemObject(mdin);
        }
    /* weight gradient: no split, a split into 3 uneven slices, the automatic choice */
    const int splits[3] = {1, 3, 0};
    float *prev = NULL;
    for (int acc = 0; acc <= 1; acc++)
        for (int sp = 0; sp < 3; sp++) {
            float *g0 = falloc(WOFF + nw);
            memcpy(g0 + WOFF, dw0, nw * 4);
            cl_mem mdw = upload(ctx, g0, WOFF + nw);
            if (!acc) TU_OK(unet_buffer_fill(ctx, mdw, WOFF, nw, NAN));
            const size_t wsf = 4 * nw;
            cl_mem ws = upload(ctx, NULL, wsf);
            TU_OK(unet_buffer_fill(ctx, ws, 0, wsf, NAN));
            const unet_slice dws = {mdw, WOFF};
            TU_OK(unet_gpuconv_wgrad(ctx, set, min, s->cin, s->h, s->w, mdout, s->cout, dws, acc, ws, wsf, splits[sp]));
            float *all = download(ctx, mdw, 0, WOFF + nw);
            for (int i = 0; i < WOFF; i++) assert_true(all[i] == g0[i]); /* nothing before the slice */
            double *want = dalloc(nw), *ab = dalloc(nw);
            for (size_t i = 0; i < nw; i++) {
                want[i] = rdw[i] + (acc ? dw0[i] : 0);
                ab[i] = adw[i] + (acc ? fabs(dw0[i]) : 0);
            }
            snprintf(what, sizeof what, "%s%s wgrad %dx%dx%d->%d acc=%d split=%d", sn, fp16 ? " fp16" : "", s->cin, s->h,
                     s->w, s->cout, acc, splits[sp]);
            check(what, all + WOFF, want, ab, nw, fp16, &worst);
            /* deterministic: the same split twice gives the same bits */
            if (sp == 1) {
                if (!acc) TU_OK(unet_buffer_fill(ctx, mdw, WOFF, nw, NAN));
                else TU_OK(unet_buffer_write(ctx, mdw, WOFF * 4, nw * 4, dw0));
                TU_OK(unet_gpuconv_wgrad(ctx, set, min, s->cin, s->h, s->w, mdout, s->cout, dws, acc, ws, wsf, 3));
                free(prev);
                prev = download(ctx, mdw, WOFF, nw);
                assert_memory_equal(prev, all + WOFF, nw * 4);
            }
            free(all), free(want), free(ab), free(g0);
            clReleaseMemObject(mdw);
            clReleaseMemObject(ws);
        }
    free(prev);
    clReleaseMemObject(params), clReleaseMemObject(min), clReleaseMemObject(mout), clReleaseMemObject(mdout);
    free(in), free(wt), free(b), free(dout), free(din0), free(dw0), free(pbuf);
    free(rout), free(aout), free(rdin), free(adin), free(rdw), free(adw);
    return worst;
}

static void test_every_set_fp32(void **state)
{
    (void)state;
    unet_context *ctx = make_ctx(1, 0);
    for (int set = 0; set < unet_gpuconv_set_count(); set++) {
        if (unet_gpuconv_set(set)->wino) continue; /* test_winograd_sets */
        for (int i = 0; i < NSHAPES; i++) run_set(ctx, set, &SHAPES[i], 0, 100 + (uint64_t)(set * NSHAPES + i));
        print_message("  set %-18s fp32: forward, input and weight gradient match the reference (%d shapes)\n",
                      unet_gpuconv_set(set)->name, NSHAPES);
    }
    unet_context_destroy(ctx);
}

static void test_every_set_fp16(void **state)
{
    (void)state;
    unet_context *ctx = make_ctx(1, 1);
    const double u = 1.0 / 2048;
    for (int set = 0; set < unet_gpuconv_set_count(); set++) {
        if (!unet_gpuconv_set_supports(set, UNET_GPUCONV_FWD, 1)) continue; /* the Winograd sets: fp32 only */
        double worst = 0;
        for (int i = 0; i < NSHAPES; i++) {
            const double w = run_set(ctx, set, &SHAPES[i], 1, 100 + (uint64_t)(set * NSHAPES + i));
            if (w > worst) worst = w;
        }
        /* the rounding is really there (not fp32 in disguise), and within the bound */
        assert_true(worst > 1e-5);
        assert_true(worst <= 2.002 * u);
        print_message("  set %-18s fp16: within (2u+u^2) sum|a*b| of the reference, worst %.3g (bound %.3g)\n",
                      unet_gpuconv_set(set)->name, worst, 2 * u + u * u);
    }
    unet_context_destroy(ctx);
}

/* ---- Winograd F(2x2,3x3) sets ------------------------------------------------ */

/* The magnitude the rounding of Winograd F(2x2,3x3) is proportional to. For
 * each output: T = sum over input channels of |A^T| (Ubar (.) Vbar) |A| at the
 * output's place in its 2x2 tile, Ubar = |G| |g| |G|^T, Vbar = |B^T| |d| |B|
 * (d: the tile's 4x4 patch of the input zero-padded by pad, g: the kernel;
 * flip: the adjoint's, rotated W[c][k] with W as [C][K][9], else W[k][c] with
 * W as [K][C][9]). T >= the direct convolution's sum of |terms|. */
static void wino_absum(const float *in, int C, int H, int W, int pad, const float *wt, int K, int flip, double *T)
{
    static const double G[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, .5, .5}, {0, 0, 1}};
    static const double BT[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
    static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};
    const int ho = H + 2 * pad - 2, wo = W + 2 * pad - 2, nty = (ho + 1) / 2, ntx = (wo + 1) / 2;
    memset(T, 0, sizeof(double) * (size_t)K * ho * wo);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            double g[3][3], gt[4][3], ub[4][4];
            for (int r = 0; r < 9; r++)
                g[r / 3][r % 3] = fabs(flip ? wt[((size_t)c * K + k) * 9 + 8 - r] : wt[((size_t)k * C + c) * 9 + r]);
            for (int a = 0; a < 4; a++)
                for (int j = 0; j < 3; j++) gt[a][j] = G[a][0] * g[0][j] + G[a][1] * g[1][j] + G[a][2] * g[2][j];
            for (int a = 0; a < 4; a++)
                for (int b = 0; b < 4; b++) ub[a][b] = gt[a][0] * G[b][0] + gt[a][1] * G[b][1] + gt[a][2] * G[b][2];
            for (int ty = 0; ty < nty; ty++)
                for (int tx = 0; tx < ntx; tx++) {
                    double d[4][4], bt[4][4], p[4][4];
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++) {
                            const int y = 2 * ty + a - pad, x = 2 * tx + b - pad;
                            d[a][b] = (y >= 0 && y < H && x >= 0 && x < W) ? fabs(in[((size_t)c * H + y) * W + x]) : 0;
                        }
                    for (int a = 0; a < 4; a++)
                        for (int j = 0; j < 4; j++)
                            bt[a][j] = BT[a][0] * d[0][j] + BT[a][1] * d[1][j] + BT[a][2] * d[2][j] + BT[a][3] * d[3][j];
                    for (int a = 0; a < 4; a++)
                        for (int b = 0; b < 4; b++)
                            p[a][b] = ub[a][b] * (bt[a][0] * BT[b][0] + bt[a][1] * BT[b][1] + bt[a][2] * BT[b][2] +
                                                  bt[a][3] * BT[b][3]);
                    for (int oy = 0; oy < 2; oy++)
                        for (int ox = 0; ox < 2; ox++) {
                            const int y = 2 * ty + oy, x = 2 * tx + ox;
                            if (y >= ho || x >= wo) continue;
                            double t = 0;
                            for (int a = 0; a < 4; a++)
                                for (int b = 0; b < 4; b++) t += AT[oy][a] * AT[ox][b] * p[a][b];
                            T[((size_t)k * ho + y) * wo + x] += t;
                        }
                }
        }
}

/* The bound of the Winograd sets (float, u = 2^-24): every path from an
 * input and a weight to an output passes through at most 4 roundings in
 * U = G g G^T (two additions per product with G; the halvings are exact), 2
 * in V = B^T d B, 1 per input channel in the fma accumulation of U*V over
 * the C channels, 4 in Y = A^T M A and 1 each for the bias and for
 * accumulating into din. With (1 + gamma_a)(1 + gamma_b) <= 1 + gamma_(a+b)
 * (Higham, ch. 3), |computed - exact| <= gamma_n (T + |bias| + |din0|),
 * gamma_n = n u / (1 - n u), n = C + 12 (one to spare); ReLU does not
 * increase a difference. The double reference's own error (~1e-16 of the
 * sum) is far below. */
static double wino_gamma(int C)
{
    const double u = ldexp(1.0, -24), n = C + 12;
    return n * u / (1 - n * u);
}

typedef struct wino_worst {
    double vs_bound; /* max |err| / (gamma_n T) */
    double vs_t;     /* max |err| / T */
    double vs_s;     /* max |err| / S (the direct sum of |terms|) */
} wino_worst;

static void wino_check(const char *what, const float *got, const double *want, const double *T, const double *S,
                       size_t n, int C, wino_worst *ww)
{
    const double gam = wino_gamma(C);
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]), tol = gam * T[i];
        if (!(d <= tol))
            fail_msg("%s[%zu]: got %.9g, reference %.9g, |diff| %.3g > gamma_%d T = %.3g", what, i, got[i], want[i], d,
                     C + 12, tol);
        if (T[i] > 0) {
            ww->vs_bound = fmax(ww->vs_bound, d / tol);
            ww->vs_t = fmax(ww->vs_t, d / T[i]);
        }
        if (S[i] > 0) ww->vs_s = fmax(ww->vs_s, d / S[i]);
    }
}

/* Forward (ReLU off and on, parameters at odd offsets, NaN-filled output)
 * and input gradient (accumulating or not, NaN prefill) of Winograd set
 * `set` on shape s against the double reference and the bound. */
static void run_wino_set(unet_context *ctx, int set, const shape *s, uint64_t seed, wino_worst *ww)
{
    tu_rng r;
    tu_seed(&r, seed);
    const int ho = s->h - 2, wo = s->w - 2;
    const size_t nin = (size_t)s->cin * s->h * s->w, nw = (size_t)s->cout * s->cin * 9, nout = (size_t)s->cout * ho * wo;
    float *in = falloc(nin), *wt = falloc(nw), *b = falloc(s->cout), *dout = falloc(nout), *din0 = falloc(nin);
    tu_fill_uniform(&r, in, nin, -1, 1);
    tu_fill_uniform(&r, wt, nw, -1, 1);
    tu_fill_uniform(&r, b, s->cout, -0.5f, 0.5f);
    tu_fill_uniform(&r, dout, nout, -1, 1);
    tu_fill_uniform(&r, din0, nin, -1, 1);
    double *rout = dalloc(nout), *aout = dalloc(nout), *tout = dalloc(nout), *rdin = dalloc(nin), *adin = dalloc(nin),
           *tdin = dalloc(nin), *rdw = dalloc(nw);
    ref_backward(in, wt, dout, s->cin, s->h, s->w, s->cout, rdin, rdw, adin, NULL);
    wino_absum(in, s->cin, s->h, s->w, 0, wt, s->cout, 0, tout);
    wino_absum(dout, s->cout, ho, wo, 2, wt, s->cin, 1, tdin);
    enum { WOFF = 7, BOFF = 1 };
    float *pbuf = falloc(WOFF + nw + BOFF + s->cout);
    memcpy(pbuf + WOFF, wt, nw * 4);
    memcpy(pbuf + WOFF + nw + BOFF, b, (size_t)s->cout * 4);
    cl_mem params = upload(ctx, pbuf, WOFF + nw + BOFF + s->cout), min = upload(ctx, in, nin),
           mout = upload(ctx, NULL, nout), mdout = upload(ctx, dout, nout);
    const unet_slice sw = {params, WOFF}, sb = {params, WOFF + nw + BOFF};
    char what[160];
    const char *sn = unet_gpuconv_set(set)->name;
    for (int relu = 0; relu <= 1; relu++) {
        ref_forward(in, wt, b, s->cin, s->h, s->w, s->cout, relu, rout, aout);
        double *tb = dalloc(nout);
        for (size_t i = 0; i < nout; i++) {
            aout[i] += fabs(b[i / ((size_t)ho * wo)]);
            tb[i] = tout[i] + fabs(b[i / ((size_t)ho * wo)]);
        }
        TU_OK(unet_buffer_fill(ctx, mout, 0, nout, NAN));
        TU_OK(unet_gpuconv_forward(ctx, set, min, s->cin, s->h, s->w, sw, sb, relu, s->cout, mout));
        float *got = download(ctx, mout, 0, nout);
        snprintf(what, sizeof what, "%s fwd %dx%dx%d->%d relu=%d", sn, s->cin, s->h, s->w, s->cout, relu);
        wino_check(what, got, rout, tb, aout, nout, s->cin, ww);
        free(got), free(tb);
    }
    for (int acc = 0; acc <= 1; acc++) {
        cl_mem mdin = upload(ctx, acc ? din0 : NULL, nin);
        if (!acc) TU_OK(unet_buffer_fill(ctx, mdin, 0, nin, NAN)); /* must not be read */
        TU_OK(unet_gpuconv_dgrad(ctx, set, mdout, s->cout, s->h, s->w, sw, s->cin, mdin, acc));
        float *got = download(ctx, mdin, 0, nin);
        double *want = dalloc(nin), *tb = dalloc(nin), *ab = dalloc(nin);
        for (size_t i = 0; i < nin; i++) {
            want[i] = rdin[i] + (acc ? din0[i] : 0);
            tb[i] = tdin[i] + (acc ? fabs(din0[i]) : 0);
            ab[i] = adin[i] + (acc ? fabs(din0[i]) : 0);
        }
        snprintf(what, sizeof what, "%s dgrad %dx%dx%d->%d acc=%d", sn, s->cin, s->h, s->w, s->cout, acc);
        wino_check(what, got, want, tb, ab, nin, s->cout, ww);
        free(got), free(want), free(tb), free(ab);
        clReleaseMemObject(mdin);
    }
    clReleaseMemObject(params), clReleaseMemObject(min), clReleaseMemObject(mout), clReleaseMemObject(mdout);
    free(in), free(wt), free(b), free(dout), free(din0), free(pbuf);
    free(rout), free(aout), free(tout), free(rdin), free(adin), free(tdin), free(rdw);
}

/* Besides SHAPES: odd output sizes with more tiles than a work-group's and
 * input channels over several chunks (33 = 4x8 + 1), output channels no
 * multiple of 16 or 32; a single output channel. */
static const shape WSHAPES[] = {{33, 40, 21, 19}, {20, 1, 16, 15}, {5, 33, 10, 30}};
#define NWSHAPES ((int)(sizeof WSHAPES / sizeof WSHAPES[0]))

static void test_winograd_sets(void **state)
{
    (void)state;
    unet_context *ctx = make_ctx(1, 0);
    int nwino = 0;
    for (int set = 0; set < unet_gpuconv_set_count(); set++) {
        if (!unet_gpuconv_set(set)->wino) continue;
        nwino++;
        assert_true(unet_gpuconv_set_supports(set, UNET_GPUCONV_FWD, 0));
        assert_true(unet_gpuconv_set_supports(set, UNET_GPUCONV_DGRAD, 0));
        assert_false(unet_gpuconv_set_supports(set, UNET_GPUCONV_WGRAD, 0));
        assert_false(unet_gpuconv_set_supports(set, UNET_GPUCONV_FWD, 1));
        wino_worst ww = {0, 0, 0};
        for (int i = 0; i < NSHAPES + NWSHAPES; i++)
            run_wino_set(ctx, set, i < NSHAPES ? &SHAPES[i] : &WSHAPES[i - NSHAPES], 300 + (uint64_t)(set * 16 + i),
                         &ww);
        assert_true(ww.vs_t > 0); /* rounding is there */
        print_message("  set %-18s fp32: forward and input gradient within gamma_(C+12) T (%d shapes); worst |err| = "
                      "%.3g of the bound, %.3g T, %.3g of the direct sum of |terms|\n",
                      unet_gpuconv_set(set)->name, NSHAPES + NWSHAPES, ww.vs_bound, ww.vs_t, ww.vs_s);
    }
    assert_true(nwino >= 2);
    unet_context_destroy(ctx);
}

/* The transformed weights kept in a unet_conv_wcache: reused while the
 * version holds (shown by changing the weights under the same version),
 * transformed again for a new version; and the layer entry point passes the
 * cache on. */
static void test_winograd_wcache(void **state)
{
    (void)state;
    unet_context *ctx = make_ctx(1, 0);
    const int set = unet_gpuconv_set_find("wf2c16t16k8r4x4");
    assert_true(set >= 0);
    char err[256];
    assert_int_equal(unet_knob_set(unet_context_knobs(ctx), "UNETCL_GPU_CONV_SET", "wf2c16t16k8r4x4", err, sizeof err),
                     0);
    const int cin = 6, cout = 10, h = 9, w = 8, ho = h - 2, wo = w - 2;
    const size_t nin = (size_t)cin * h * w, nw = (size_t)cout * cin * 9, nout = (size_t)cout * ho * wo;
    tu_rng r;
    tu_seed(&r, 21);
    float *in = falloc(nin), *p1 = falloc(nw + cout), *p2 = falloc(nw + cout);
    tu_fill_uniform(&r, in, nin, -1, 1);
    tu_fill_uniform(&r, p1, nw + cout, -1, 1);
    tu_fill_uniform(&r, p2, nw + cout, -1, 1);
    memcpy(p2 + nw, p1 + nw, (size_t)cout * 4); /* same bias */
    cl_mem min = upload(ctx, in, nin), mp = upload(ctx, p1, nw + cout), mout = upload(ctx, NULL, nout);
    const unet_slice sw = {mp, 0}, sb = {mp, nw};
    unet_conv_wcache wc;
    memset(&wc, 0, sizeof wc);
    float *got[4];
    TU_OK(unet_gpuconv_forward_cached(ctx, set, min, cin, h, w, sw, sb, 0, cout, mout, &wc, 1));
    got[0] = download(ctx, mout, 0, nout);
    assert_non_null(wc.mem);
    assert_int_equal((int)wc.version, 1);
    TU_OK(unet_buffer_write(ctx, mp, 0, nw * 4, p2)); /* new weights, the same version: the cache is used */
    TU_OK(unet_gpuconv_forward_cached(ctx, set, min, cin, h, w, sw, sb, 0, cout, mout, &wc, 1));
    got[1] = download(ctx, mout, 0, nout);
    assert_memory_equal(got[0], got[1], nout * 4);
    TU_OK(unet_gpuconv_forward_cached(ctx, set, min, cin, h, w, sw, sb, 0, cout, mout, &wc, 2));
    got[2] = download(ctx, mout, 0, nout);
    TU_OK(unet_gpuconv_forward(ctx, set, min, cin, h, w, sw, sb, 0, cout, mout)); /* no cache */
    got[3] = download(ctx, mout, 0, nout);
    assert_memory_equal(got[2], got[3], nout * 4);
    assert_true(memcmp(got[1], got[2], nout * 4) != 0);
    double *ref = dalloc(nout);
    ref_forward(in, p2, p2 + nw, cin, h, w, cout, 0, ref, NULL);
    for (size_t i = 0; i < nout; i++) assert_true(fabs(got[2][i] - ref[i]) < 1e-4);
    unet_conv_wcache_release(&wc);
    /* through the layer entry point with the knob selecting the set */
    assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_FWD, cin, cout, h, w), set);
    unet_tensor ti = {min, cin, h, w}, to = {mout, cout, ho, wo};
    const size_t wsf = unet_conv_workspace_floats(cin, h, w, 3, (size_t)1 << 24);
    cl_mem ws = upload(ctx, NULL, wsf);
    TU_OK(unet_buffer_fill(ctx, mout, 0, nout, NAN));
    TU_OK(unet_conv_forward_cached(ctx, &ti, sw, sb, 3, 0, &to, ws, wsf, &wc, 5));
    assert_non_null(wc.mem);
    assert_int_equal((int)wc.version, 5);
    float *lay = download(ctx, mout, 0, nout);
    assert_memory_equal(lay, got[3], nout * 4);
    free(lay);
    for (int i = 0; i < 4; i++) free(got[i]);
    unet_conv_wcache_release(&wc);
    clReleaseMemObject(ws);
    free(ref), free(in), free(p1), free(p2);
    clReleaseMemObject(min), clReleaseMemObject(mp), clReleaseMemObject(mout);
    unet_context_destroy(ctx);
}

/* UNETCL_GPU_CONV_SET naming a Winograd set: forward and input gradient on
 * it, the weight gradient and fp16 on the default set; its weight gradient
 * and fp16 launches are errors in one line. */
static void test_winograd_choice(void **state)
{
    (void)state;
    const int set = unet_gpuconv_set_find("wf2c32t32k4r8x8");
    assert_true(set >= 0);
    for (int fp16 = 0; fp16 <= 1; fp16++) {
        unet_context *ctx = make_ctx(1, fp16);
        char err[256];
        assert_int_equal(unet_knob_set(unet_context_knobs(ctx), "UNETCL_GPU_CONV_SET", "wf2c32t32k4r8x8", err,
                                       sizeof err), 0);
        assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_FWD, 8, 16, 20, 20), fp16 ? 0 : set);
        assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_DGRAD, 8, 16, 20, 20), fp16 ? 0 : set);
        assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_WGRAD, 8, 16, 20, 20), 0);
        cl_mem m = upload(ctx, NULL, 4096);
        const unet_slice sm = {m, 0};
        if (fp16) {
            assert_int_equal(unet_gpuconv_forward(ctx, set, m, 2, 6, 6, sm, sm, 0, 2, m), UNET_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(unet_last_error(), "fp32 only"));
        } else {
            assert_int_equal(unet_gpuconv_wgrad(ctx, set, m, 2, 6, 6, m, 2, sm, 0, m, 4096, 0),
                             UNET_ERR_INVALID_ARGUMENT);
            assert_non_null(strstr(unet_last_error(), "no weight gradient"));
        }
        assert_null(strchr(unet_last_error(), '\n'));
        unet_clear_error();
        clReleaseMemObject(m);
        unet_context_destroy(ctx);
    }
}

/* The layer entry points with the switch: the dispatch hook sends 3x3 layers
 * to our kernels, ReLU mask and bias gradient as before; 1x1 layers stay. */
static void test_layer_dispatch(void **state)
{
    (void)state;
    unet_context *gpu = make_ctx(1, 0), *plain = make_ctx(0, 0);
    const int cin = 6, cout = 20, h = 15, w = 12, ho = h - 2, wo = w - 2;
    const size_t nin = (size_t)cin * h * w, nw = (size_t)cout * cin * 9, nout = (size_t)cout * ho * wo;
    tu_rng r;
    tu_seed(&r, 7);
    float *in = falloc(nin), *wt = falloc(nw + cout), *dout = falloc(nout);
    tu_fill_uniform(&r, in, nin, -1, 1);
    tu_fill_uniform(&r, wt, nw + cout, -1, 1);
    tu_fill_uniform(&r, dout, nout, -1, 1);
    float *res[2][4];
    unet_context *cs[2] = {gpu, plain};
    for (int c = 0; c < 2; c++) {
        unet_context *ctx = cs[c];
        unet_tensor ti = {upload(ctx, in, nin), cin, h, w}, to = {upload(ctx, NULL, nout), cout, ho, wo},
                    td = {upload(ctx, dout, nout), cout, ho, wo}, tdi = {upload(ctx, NULL, nin), cin, h, w};
        cl_mem p = upload(ctx, wt, nw + cout), g = upload(ctx, NULL, nw + cout);
        const size_t wsf = unet_conv_workspace_floats(cin, h, w, 3, (size_t)1 << 24) + 8 * nw;
        cl_mem ws = upload(ctx, NULL, wsf);
        const unet_slice sw = {p, 0}, sb = {p, nw}, gw = {g, 0}, gb = {g, nw};
        TU_OK(unet_conv_forward(ctx, &ti, sw, sb, 3, 1, &to, ws, wsf));
        TU_OK(unet_conv_backward(ctx, &ti, &to, &td, sw, 3, 1, &tdi, 0, gw, gb, 0, ws, wsf));
        res[c][0] = download(ctx, to.mem, 0, nout);
        res[c][1] = download(ctx, tdi.mem, 0, nin);
        res[c][2] = download(ctx, g, 0, nw);
        res[c][3] = download(ctx, g, nw, (size_t)cout);
        clReleaseMemObject(ti.mem), clReleaseMemObject(to.mem), clReleaseMemObject(td.mem), clReleaseMemObject(tdi.mem);
        clReleaseMemObject(p), clReleaseMemObject(g), clReleaseMemObject(ws);
    }
    /* against the double reference through the same ReLU mask */
    double *rout = dalloc(nout), *aout = dalloc(nout);
    ref_forward(in, wt, wt + nw, cin, h, w, cout, 1, rout, aout);
    for (size_t i = 0; i < nout; i++) aout[i] += 1;
    check("dispatched forward", res[0][0], rout, aout, nout, 0, NULL);
    float *dm = falloc(nout);
    for (size_t i = 0; i < nout; i++) dm[i] = res[0][0][i] > 0 ? dout[i] : 0;
    double *rdin = dalloc(nin), *adin = dalloc(nin), *rdw = dalloc(nw), *adw = dalloc(nw);
    ref_backward(in, wt, dm, cin, h, w, cout, rdin, rdw, adin, adw);
    check("dispatched input gradient", res[0][1], rdin, adin, nin, 0, NULL);
    check("dispatched weight gradient", res[0][2], rdw, adw, nw, 0, NULL);
    /* and the same as the default path of the device, within float rounding */
    tu_assert_close_f("forward vs default path", res[0][0], res[1][0], nout, 1e-4, 1e-4);
    tu_assert_close_f("input gradient vs default path", res[0][1], res[1][1], nin, 1e-4, 1e-4);
    tu_assert_close_f("weight gradient vs default path", res[0][2], res[1][2], nw, 1e-3, 1e-4);
    tu_assert_close_f("bias gradient vs default path", res[0][3], res[1][3], (size_t)cout, 1e-4, 1e-4);
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 4; i++) free(res[c][i]);
    free(in), free(wt), free(dout), free(dm), free(rout), free(aout), free(rdin), free(adin), free(rdw), free(adw);
    unet_context_destroy(gpu);
    unet_context_destroy(plain);
}

static void test_choice_and_tuning(void **state)
{
    (void)state;
    char dir[] = "/tmp/unetcl-convgpu-XXXXXX";
    assert_non_null(mkdtemp(dir));
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = getenv("UNETCL_TEST_DEVICE");
    o.cache_dir = dir;
    unet_context *ctx;
    TU_OK(unet_context_create(&o, &ctx));
    unet_device_info info;
    TU_OK(unet_context_device_info(ctx, &info));
    /* no tuning file: the existing path on every device unless forced */
    assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_FWD, 8, 16, 20, 20), -1);
    /* tune two small layers; the file is written and read back */
    const unet_gpuconv_layer L[2] = {{4, 8, 12, 12, 0}, {8, 16, 10, 9, 0}};
    TU_OK(unet_gpuconv_tune(ctx, L, 2, 1, NULL));
    char path[1100];
    unet_gpuconv_tuning_path(dir, &info, path, sizeof path);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    assert_non_null(strstr(text, "\"unetcl-convgpu-tuning-1\""));
    assert_non_null(strstr(text, "\"wgrad\""));
    unet_context_destroy(ctx);
    /* a forced context uses the tuned set where the file names one of ours,
     * else the default set; an unforced CPU context ignores the file */
    o.force_gpu_kernels = 1;
    TU_OK(unet_context_create(&o, &ctx));
    for (int op = 0; op < 3; op++) {
        const int c = unet_gpuconv_choose(ctx, (unet_gpuconv_op)op, 8, 16, 10, 9);
        assert_true(c >= 0 && c < unet_gpuconv_set_count());
        char want[128];
        if (c > 0) { /* the file must say so */
            snprintf(want, sizeof want, "\"choice\":\t\"%s\"", unet_gpuconv_set(c)->name);
            assert_non_null(strstr(text, want));
        }
    }
    /* a shape never tuned: the default set */
    assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_FWD, 3, 3, 10, 10), 0);
    unet_context_destroy(ctx);
    if (info.type == UNET_DEVICE_CPU) {
        o.force_gpu_kernels = 0;
        TU_OK(unet_context_create(&o, &ctx));
        assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_FWD, 8, 16, 10, 9), -1);
        unet_context_destroy(ctx);
    }
    /* a corrupt file is ignored: forced contexts use the default set */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"format\": \"unetcl-convgpu-tuning-1\", \"entries\": 3", f);
    fclose(f);
    o.force_gpu_kernels = 1;
    TU_OK(unet_context_create(&o, &ctx));
    assert_int_equal(unet_gpuconv_choose(ctx, UNET_GPUCONV_WGRAD, 8, 16, 10, 9), 0);
    unet_context_destroy(ctx);
    unlink(path);
    rmdir(dir);
}

static void test_errors(void **state)
{
    (void)state;
    unet_context *ctx = make_ctx(1, 0);
    cl_mem m = upload(ctx, NULL, 64);
    const unet_slice s = {m, 0};
    assert_int_equal(unet_gpuconv_forward(ctx, unet_gpuconv_set_count(), m, 1, 4, 4, s, s, 0, 1, m),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "no parameter set"));
    assert_int_equal(unet_gpuconv_forward(ctx, 0, m, 1, 2, 4, s, s, 0, 1, m), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "invalid"));
    assert_int_equal(unet_gpuconv_set_find("nonsense"), -1);
    assert_int_equal(unet_gpuconv_set_find(unet_gpuconv_set(2)->name), 2);
    clReleaseMemObject(m);
    unet_context_destroy(ctx);
    /* fp16 without the switch on a CPU device: one line saying what to do */
    unet_device_info info;
    TU_OK(unet_context_device_info(tu_ctx(), &info));
    if (info.type == UNET_DEVICE_CPU && !getenv("UNETCL_GPU_KERNELS")) {
        unet_context_options o;
        unet_context_options_default(&o);
        o.device = getenv("UNETCL_TEST_DEVICE");
        o.precision_fp16 = 1;
        unet_context *c = NULL;
        assert_int_equal(unet_context_create(&o, &c), UNET_ERR_CONFIG);
        assert_null(c);
        assert_non_null(strstr(unet_last_error(), "precision = fp32"));
        assert_null(strchr(unet_last_error(), '\n'));
    }
}

/* The whole network (depth 3, 8 base channels, 2 input channels, 3 classes)
 * with fp16 storage against the same network in fp32 on our kernels and on
 * the device's default path: logits within 1 % of their largest magnitude
 * (binary16 rounding of every convolution's operands, 10 layers deep; 0.11 %
 * measured on PoCL), and the same arg-max on at least 99 % of the pixels. */
static void test_network_fp16(void **state)
{
    (void)state;
    unet_model_config c;
    unet_model_config_default(&c);
    c.depth = 3, c.base_channels = 8, c.in_channels = 2, c.classes = 3;
    const int tile = 60;
    unet_context *cs[3] = {make_ctx(1, 1), make_ctx(1, 0), make_ctx(0, 0)};
    float *logits[3] = {NULL, NULL, NULL};
    float *params = NULL;
    size_t np = 0, nout = 0, nin = (size_t)c.in_channels * tile * tile;
    float *x = falloc(nin);
    tu_rng r;
    tu_seed(&r, 5);
    tu_fill_uniform(&r, x, nin, -1, 1);
    for (int i = 0; i < 3; i++) {
        unet_model *m;
        unet_net *n;
        TU_OK(unet_model_create(cs[i], &c, 77, &m));
        if (!params) {
            np = unet_model_param_count(m);
            params = falloc(np);
            TU_OK(unet_model_get_params(m, params));
        }
        TU_OK(unet_model_set_params(m, params));
        TU_OK(unet_net_create(m, tile, tile, 0, &n));
        const unet_plan_info *pi = unet_net_info(n);
        nout = (size_t)c.classes * pi->out_h * pi->out_w;
        logits[i] = falloc(nout);
        TU_OK(unet_net_forward(n, x, 0, 0, NULL, logits[i]));
        unet_net_destroy(n);
        unet_model_destroy(m);
    }
    double mx = 0, worst16 = 0, worst32 = 0;
    for (size_t i = 0; i < nout; i++) mx = fmax(mx, fabs(logits[2][i]));
    for (size_t i = 0; i < nout; i++) {
        worst16 = fmax(worst16, fabs(logits[0][i] - logits[2][i]));
        worst32 = fmax(worst32, fabs(logits[1][i] - logits[2][i]));
    }
    const size_t px = nout / (size_t)c.classes;
    size_t same = 0;
    for (size_t p = 0; p < px; p++) {
        int a = 0, b = 0;
        for (int k = 1; k < c.classes; k++) {
            if (logits[0][k * px + p] > logits[0][a * px + p]) a = k;
            if (logits[2][k * px + p] > logits[2][b * px + p]) b = k;
        }
        same += a == b;
    }
    print_message("  network logits: fp16 vs default path max |diff| %.3g, fp32 ours vs default %.3g (max |logit| %.3g); "
                  "arg-max equal on %zu of %zu pixels\n", worst16, worst32, mx, same, px);
    assert_true(mx > 0);
    assert_true(worst32 <= 1e-4 * mx);
    assert_true(worst16 <= 0.01 * mx);
    assert_true(worst16 > worst32); /* the rounding is there */
    assert_true(same * 100 >= px * 99);
    for (int i = 0; i < 3; i++) {
        free(logits[i]);
        unet_context_destroy(cs[i]);
    }
    free(params);
    free(x);
}

/* The U-Net's layer list used by `unetcl tune`. */
static void test_unet_layers(void **state)
{
    (void)state;
    unet_gpuconv_layer L[32];
    const int n = unet_gpuconv_unet_layers(5, 64, 1, 572, L, 32);
    assert_int_equal(n, 18);
    assert_true(L[0].cin == 1 && L[0].cout == 64 && L[0].h == 572 && L[0].no_dgrad);
    for (int i = 1; i < n; i++) assert_int_equal(L[i].no_dgrad, 0);
    assert_true(L[1].cin == 64 && L[1].h == 570);
    assert_true(L[8].cin == 512 && L[8].cout == 1024 && L[8].h == 32);
    assert_true(L[10].cin == 1024 && L[10].cout == 512 && L[10].h == 56);
    assert_true(L[17].cin == 64 && L[17].cout == 64 && L[17].h == 390);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_layers),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_every_set_fp32),  cmocka_unit_test(test_every_set_fp16),
        cmocka_unit_test(test_winograd_sets),   cmocka_unit_test(test_winograd_wcache),
        cmocka_unit_test(test_winograd_choice),
        cmocka_unit_test(test_layer_dispatch),  cmocka_unit_test(test_choice_and_tuning),
        cmocka_unit_test(test_network_fp16),
    };
    return TU_RUN("conv_gpu", tests);
}
