/* Winograd F(4x4,3x3) forward convolution (UNET_CONV_WINOGRAD_F4) against a
 * plain-C double reference on awkward shapes (output sizes not multiples of
 * 4, a single partial tile, 1 and 3 channels, output channel counts that are
 * not multiples of the GEMM's 8/12-row panels, more than one 32-tile panel),
 * chunked against unchunked, the fallback to im2col when the workspace is too
 * small, the per-device default choice, and the backward-data pass (the
 * adjoint convolution through Winograd), and the weight gradient through
 * Winograd (test_backward_weights). The reference and backward cases run
 * again with the 16-tile and the 8-tile transforms forced (UNETCL_WINO_TW).
 *
 * Tolerance: Winograd's transforms (entries up to 8 in A^T, 4 and 5 in B^T,
 * 1/24 in G) amplify float rounding compared with a direct dot product, so
 * the error is bounded relative to the output scale, not per element:
 *   |got - ref| <= 2e-4 * max|ref| + 1e-5   (inputs and weights in [-1, 1]).
 * Measured errors on these shapes are printed (a few 1e-6 of max|ref|). */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include "conv_internal.h"
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ref_forward(const float *in, const float *wt, const float *b, int cin, int h, int w, int cout,
                        int relu, double *out)
{
    const int ho = h - 2, wo = w - 2;
    for (int co = 0; co < cout; co++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                double s = b[co];
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                            s += (double)wt[((co * cin + ci) * 3 + ky) * 3 + kx] *
                                 (double)in[(ci * h + y + ky) * w + x + kx];
                if (relu && s < 0) s = 0;
                out[(co * ho + y) * wo + x] = s;
            }
}

enum { WOFF = 5, BOFF = 3 };

/* Runs the forward with algorithm algo (or the default choice when algo < 0)
 * and ws_floats of workspace; returns the downloaded output. */
static float *run(int algo, int cin, int cout, int h, int w, int relu, const float *in, const float *wt,
                  const float *b, size_t ws_floats)
{
    unet_context *ctx = tu_ctx();
    const int ho = h - 2, wo = w - 2;
    const size_t nw = (size_t)cout * cin * 9;
    unet_tensor tin = tu_tensor(cin, h, w, in);
    /* output prefilled with NaN: every value must be written */
    float *nan = malloc((size_t)cout * ho * wo * sizeof(float));
    assert_non_null(nan);
    for (size_t i = 0; i < (size_t)cout * ho * wo; i++) nan[i] = NAN;
    unet_tensor tout = tu_tensor(cout, ho, wo, nan);
    free(nan);
    cl_mem params, ws;
    TU_OK(unet_buffer_alloc(ctx, &params, (WOFF + nw + BOFF + (size_t)cout) * sizeof(float), "params"));
    unet_slice sw = {params, WOFF}, sb = {params, WOFF + nw + BOFF};
    TU_OK(unet_buffer_write(ctx, params, sw.off * 4, nw * 4, wt));
    TU_OK(unet_buffer_write(ctx, params, sb.off * 4, (size_t)cout * 4, b));
    TU_OK(unet_buffer_alloc(ctx, &ws, (ws_floats ? ws_floats : 1) * sizeof(float), "workspace"));
    if (algo < 0) TU_OK(unet_conv_forward(ctx, &tin, sw, sb, 3, relu, &tout, ws, ws_floats));
    else TU_OK(unet_conv_forward_algo(ctx, (unet_conv_algo_id)algo, &tin, sw, sb, 3, relu, &tout, ws, ws_floats));
    float *out = tu_download(&tout);
    clReleaseMemObject(ws);
    clReleaseMemObject(params);
    unet_tensor_free(&tin);
    unet_tensor_free(&tout);
    return out;
}

/* max |got - want| / max |want| with the stated bound; returns the ratio. */
static double check_scaled(const char *what, const float *got, const double *want, size_t n)
{
    double mx = 0, err = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= err)) { /* NaN counts as the worst */
            err = isnan(d) ? INFINITY : d;
            worst = i;
        }
    }
    const double bound = 2e-4 * mx + 1e-5;
    print_message("  %-44s max|ref| %8.3f  max err %.3g (%.2g of max|ref|)\n", what, mx, err,
                  mx > 0 ? err / mx : err);
    if (!(err <= bound))
        fail_msg("%s: value %zu is %.8g, reference %.8g: error %.3g > bound %.3g", what, worst, got[worst],
                 want[worst], err, bound);
    return mx > 0 ? err / mx : err;
}

typedef struct wcase {
    int cin, cout, h, w, relu;
} wcase;

static void make_data(uint64_t seed, int cin, int cout, int h, int w, float **in, float **wt, float **b)
{
    tu_rng r;
    tu_seed(&r, seed);
    *in = malloc((size_t)cin * h * w * sizeof(float));
    *wt = malloc((size_t)cout * cin * 9 * sizeof(float));
    *b = malloc((size_t)cout * sizeof(float));
    assert_true(*in && *wt && *b);
    tu_fill_uniform(&r, *in, (size_t)cin * h * w, -1, 1);
    tu_fill_uniform(&r, *wt, (size_t)cout * cin * 9, -1, 1);
    tu_fill_uniform(&r, *b, (size_t)cout, -0.5f, 0.5f);
}

static void test_against_reference(void **state)
{
    (void)state;
    const wcase cases[] = {
        {1, 1, 3, 3, 0},    /* one output pixel: one partial tile */
        {1, 3, 6, 6, 1},    /* exactly one 4x4 tile */
        {3, 1, 9, 13, 0},   /* 7x11: partial tiles on both edges */
        {3, 3, 17, 11, 1},  {2, 13, 10, 7, 0}, /* cout 13: partial 8/12-row panel */
        {17, 24, 19, 23, 1}, {8, 64, 14, 14, 0}, {5, 7, 41, 39, 1}, /* 10x10 tiles: > 3 tile panels of 32 */
        {64, 9, 12, 30, 0}, /* K = 64 */
        {4, 5, 7, 74, 1},   /* 18 tiles per row (with UNETCL_WINO_TW=8: rows straddling 32-tile panels) */
        {6, 10, 14, 230, 1}, /* wide rows: the transforms' whole-vector paths (and the edge paths) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const wcase *c = &cases[i];
        float *in, *wt, *b;
        make_data(500 + i, c->cin, c->cout, c->h, c->w, &in, &wt, &b);
        const size_t nout = (size_t)c->cout * (c->h - 2) * (c->w - 2);
        double *want = malloc(nout * sizeof(double));
        assert_non_null(want);
        ref_forward(in, wt, b, c->cin, c->h, c->w, c->cout, c->relu, want);
        size_t wsf = unet_conv_winograd_workspace_floats(tu_ctx(), c->cin, c->cout, c->h, c->w, (c->h - 2 + 3) / 4);
        float *got = run(UNET_CONV_WINOGRAD_F4, c->cin, c->cout, c->h, c->w, c->relu, in, wt, b, wsf);
        char what[96];
        snprintf(what, sizeof what, "winograd %d->%d %dx%d relu%d", c->cin, c->cout, c->h, c->w, c->relu);
        check_scaled(what, got, want, nout);
        free(got), free(want), free(in), free(wt), free(b);
    }
}

/* Chunks of 1, 2 and 3 tile rows (the last partial) give the same values as
 * one chunk: each output depends only on its own tile and the GEMM's K order
 * is the same. A workspace too small for one tile row falls back to im2col. */
static void test_chunks_and_fallback(void **state)
{
    (void)state;
    const int cin = 3, cout = 5, h = 23, w = 18, relu = 1; /* 21x16 out: 6 tile rows, last partial */
    float *in, *wt, *b;
    make_data(600, cin, cout, h, w, &in, &wt, &b);
    const size_t nout = (size_t)cout * (h - 2) * (w - 2);
    double *want = malloc(nout * sizeof(double));
    assert_non_null(want);
    ref_forward(in, wt, b, cin, h, w, cout, relu, want);
    float *one = run(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, relu, in, wt, b,
                     unet_conv_winograd_workspace_floats(tu_ctx(), cin, cout, h, w, 6));
    check_scaled("one chunk", one, want, nout);
    for (int rows = 1; rows <= 4; rows++) {
        size_t wsf = unet_conv_winograd_workspace_floats(tu_ctx(), cin, cout, h, w, rows);
        float *got = run(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, relu, in, wt, b, wsf);
        char what[64];
        snprintf(what, sizeof what, "chunks of %d tile rows vs one chunk", rows);
        tu_assert_close_f(what, got, one, nout, 1e-6, 1e-6);
        free(got);
    }
    /* one tile row needs more than this: im2col does the layer (its own workspace) */
    size_t small = unet_conv_winograd_workspace_floats(tu_ctx(), cin, cout, h, w, 1) - 1;
    assert_true(small >= (size_t)cin * 9 * (w - 2)); /* room for im2col chunks of >= 1 output row */
    float *fb = run(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, relu, in, wt, b, small);
    check_scaled("fallback to im2col (workspace too small)", fb, want, nout);
    free(fb), free(one), free(want), free(in), free(wt), free(b);
}

/* The default choice (Winograd on CPU devices for layers big enough) gives
 * the reference's values on a layer above the thresholds. */
static void test_default_choice(void **state)
{
    (void)state;
    const int cin = 16, cout = 20, h = 62, w = 61, relu = 1; /* 15x15 tiles */
    float *in, *wt, *b;
    make_data(700, cin, cout, h, w, &in, &wt, &b);
    const size_t nout = (size_t)cout * (h - 2) * (w - 2);
    double *want = malloc(nout * sizeof(double));
    assert_non_null(want);
    ref_forward(in, wt, b, cin, h, w, cout, relu, want);
    size_t wsf = unet_conv_workspace_floats(cin, h, w, 3, (size_t)1 << 30);
    float *got = run(-1, cin, cout, h, w, relu, in, wt, b, wsf);
    check_scaled("default algorithm 16->20 62x61", got, want, nout);
    float *im = run(UNET_CONV_IM2COL_GEMM, cin, cout, h, w, relu, in, wt, b, wsf);
    check_scaled("im2col 16->20 62x61", im, want, nout);
    float *wi = run(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, relu, in, wt, b, wsf);
    check_scaled("winograd 16->20 62x61", wi, want, nout);
    /* the choice: Winograd on CPU devices, im2col elsewhere (deterministic
     * kernels: the same bits as the chosen algorithm run directly) */
    unet_device_info info;
    TU_OK(unet_context_device_info(tu_ctx(), &info));
    assert_memory_equal(got, info.type == UNET_DEVICE_CPU ? wi : im, nout * sizeof(float));
    free(wi), free(im), free(got), free(want), free(in), free(wt), free(b);
}

/* Backward with Winograd: din (the adjoint convolution of the zero-padded
 * dout) against a double reference, overwriting and accumulating; dW and
 * dbias bit-equal to the im2col path's (the same code computes them). */
static void test_backward_data(void **state)
{
    (void)state;
    const wcase cases[] = {{1, 3, 9, 13, 0}, {3, 8, 17, 11, 1}, {13, 5, 23, 18, 0}, {8, 20, 30, 29, 1}};
    unet_context *ctx = tu_ctx();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int acc = 0; acc <= 1; acc++) {
            const wcase *c = &cases[i];
            const int ho = c->h - 2, wo = c->w - 2;
            const size_t nin = (size_t)c->cin * c->h * c->w, nout = (size_t)c->cout * ho * wo,
                         nw = (size_t)c->cout * c->cin * 9;
            float *in, *wt, *b;
            make_data(800 + i, c->cin, c->cout, c->h, c->w, &in, &wt, &b);
            tu_rng r;
            tu_seed(&r, 900 + i);
            float *dout = malloc(nout * 4), *din0 = malloc(nin * 4);
            assert_true(dout && din0);
            tu_fill_uniform(&r, dout, nout, -1, 1);
            tu_fill_uniform(&r, din0, nin, -1, 1);
            /* reference: din[ci][y][x] = sum dout[co][y-ky][x-kx] * w[co][ci][ky][kx] (+ din0) */
            double *want = malloc(nin * sizeof(double));
            assert_non_null(want);
            for (int ci = 0; ci < c->cin; ci++)
                for (int y = 0; y < c->h; y++)
                    for (int x = 0; x < c->w; x++) {
                        double sum = acc ? din0[((size_t)ci * c->h + y) * c->w + x] : 0.0;
                        for (int co = 0; co < c->cout; co++)
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++) {
                                    const int oy = y - ky, ox = x - kx;
                                    if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
                                    sum += (double)dout[((size_t)co * ho + oy) * wo + ox] *
                                           (double)wt[((co * c->cin + ci) * 3 + ky) * 3 + kx];
                                }
                        want[((size_t)ci * c->h + y) * c->w + x] = sum;
                    }
            size_t wsf = unet_conv_workspace_floats(c->cin, c->h, c->w, 3, (size_t)1 << 30);
            size_t wwf = unet_conv_winograd_workspace_floats(tu_ctx(), c->cout, c->cin, ho + 4, wo + 4, (c->h + 3) / 4);
            if (wwf > wsf) wsf = wwf;
            float *res_din[2], *res_dw[2], *res_db[2];
            for (int algo = 0; algo < 2; algo++) {
                const int id = algo ? UNET_CONV_WINOGRAD_F4 : UNET_CONV_IM2COL_GEMM;
                unet_tensor tin = tu_tensor(c->cin, c->h, c->w, in), tdout = tu_tensor(c->cout, ho, wo, dout);
                unet_tensor tdin = tu_tensor(c->cin, c->h, c->w, din0), tout = tu_tensor(c->cout, ho, wo, NULL);
                cl_mem params, grads, ws;
                TU_OK(unet_buffer_alloc(ctx, &params, (nw + (size_t)c->cout) * 4, "params"));
                TU_OK(unet_buffer_alloc(ctx, &grads, (nw + (size_t)c->cout) * 4, "grads"));
                TU_OK(unet_buffer_alloc(ctx, &ws, wsf * 4, "ws"));
                TU_OK(unet_buffer_write(ctx, params, 0, nw * 4, wt));
                unet_slice sw = {params, 0}, gw = {grads, 0}, gb = {grads, nw};
                TU_OK(unet_conv_backward_algo(ctx, (unet_conv_algo_id)id, &tin, &tout, &tdout, sw, 3, 0, &tdin, acc,
                                              gw, gb, 0, ws, wsf));
                res_din[algo] = tu_download(&tdin);
                res_dw[algo] = malloc(nw * 4);
                res_db[algo] = malloc((size_t)c->cout * 4);
                TU_OK(unet_buffer_read(ctx, grads, 0, nw * 4, res_dw[algo]));
                TU_OK(unet_buffer_read(ctx, grads, nw * 4, (size_t)c->cout * 4, res_db[algo]));
                clReleaseMemObject(params), clReleaseMemObject(grads), clReleaseMemObject(ws);
                unet_tensor_free(&tin), unet_tensor_free(&tdout), unet_tensor_free(&tdin), unet_tensor_free(&tout);
            }
            char what[96];
            snprintf(what, sizeof what, "din im2col   %d->%d %dx%d acc%d", c->cin, c->cout, c->h, c->w, acc);
            check_scaled(what, res_din[0], want, nin);
            snprintf(what, sizeof what, "din winograd %d->%d %dx%d acc%d", c->cin, c->cout, c->h, c->w, acc);
            check_scaled(what, res_din[1], want, nin);
            assert_memory_equal(res_dw[0], res_dw[1], nw * 4);
            assert_memory_equal(res_db[0], res_db[1], (size_t)c->cout * 4);
            for (int a = 0; a < 2; a++) free(res_din[a]), free(res_dw[a]), free(res_db[a]);
            free(want), free(dout), free(din0), free(in), free(wt), free(b);
        }
}

/* Runs the backward of algorithm id (dW and dbias only, no din) with a
 * workspace of wsf floats; dW prefilled with dw0 (param_accumulate = acc). */
static float *run_wgrad(int id, int cin, int cout, int h, int w, const float *in, const float *dout, const float *wt,
                        const float *dw0, int acc, size_t wsf)
{
    unet_context *ctx = tu_ctx();
    const int ho = h - 2, wo = w - 2;
    const size_t nw = (size_t)cout * cin * 9;
    unet_tensor tin = tu_tensor(cin, h, w, in), tdout = tu_tensor(cout, ho, wo, dout);
    unet_tensor tout = tu_tensor(cout, ho, wo, NULL);
    cl_mem params, grads, ws;
    TU_OK(unet_buffer_alloc(ctx, &params, (nw + (size_t)cout) * 4, "params"));
    TU_OK(unet_buffer_alloc(ctx, &grads, (WOFF + nw + (size_t)cout) * 4, "grads"));
    TU_OK(unet_buffer_alloc(ctx, &ws, wsf * 4, "ws"));
    TU_OK(unet_buffer_write(ctx, params, 0, nw * 4, wt));
    TU_OK(unet_buffer_write(ctx, grads, WOFF * 4, nw * 4, dw0));
    unet_slice sw = {params, 0}, gw = {grads, WOFF}, gb = {grads, WOFF + nw};
    TU_OK(unet_conv_backward_algo(ctx, (unet_conv_algo_id)id, &tin, &tout, &tdout, sw, 3, 0, NULL, 0, gw, gb, acc,
                                  ws, wsf));
    float *dw = malloc(nw * 4);
    assert_non_null(dw);
    TU_OK(unet_buffer_read(ctx, grads, WOFF * 4, nw * 4, dw));
    clReleaseMemObject(params), clReleaseMemObject(grads), clReleaseMemObject(ws);
    unet_tensor_free(&tin), unet_tensor_free(&tdout), unet_tensor_free(&tout);
    return dw;
}

/* The default's weight gradient on a layer of 64 x 64 channels (the U-Net's
 * first and last 3x3 layers) is the fused kernel's: bit-identical to the
 * forced fused path, not to the dot-product path that had those layers
 * before. */
static void test_wgrad_default_fused(void **state)
{
    (void)state;
    const int cin = 64, cout = 64, h = 52, w = 51; /* 13 x 13 tiles: Winograd's weight gradient by default */
    unet_knobs *kn = unet_context_knobs(tu_ctx());
    char err[256];
    float *in, *wt, *b;
    make_data(1400, cin, cout, h, w, &in, &wt, &b);
    const size_t nout = (size_t)cout * (h - 2) * (w - 2), nw = (size_t)cout * cin * 9;
    float *dout = malloc(nout * 4), *dw0 = calloc(nw, 4);
    assert_true(dout && dw0);
    tu_rng r;
    tu_seed(&r, 1401);
    tu_fill_uniform(&r, dout, nout, -1, 1);
    const size_t wsf = (size_t)64 << 20;
    float *dflt = run_wgrad(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, in, dout, wt, dw0, 0, wsf);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_FUSED", "1", err, sizeof err), 0);
    float *fused = run_wgrad(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, in, dout, wt, dw0, 0, wsf);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_FUSED", "0", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_DOT", "1", err, sizeof err), 0);
    float *dot = run_wgrad(UNET_CONV_WINOGRAD_F4, cin, cout, h, w, in, dout, wt, dw0, 0, wsf);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_FUSED", "-1", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_DOT", "-1", err, sizeof err), 0);
    assert_memory_equal(dflt, fused, nw * 4);
    assert_memory_not_equal(dflt, dot, nw * 4);
    free(dflt), free(fused), free(dot), free(dout), free(dw0), free(in), free(wt), free(b);
}

/* Winograd weight gradient (UNETCL_WGRAD=winograd forces it on any shape):
 * dW = G^T [sum over tiles (A dY A^T) (.) (B^T X B)] G against a double
 * reference, overwriting and accumulating, in one chunk and in chunks of one
 * tile row (UNETCL_WINO_CHUNK_KB=1), on shapes with partial tiles, channel
 * counts off the 8/12-row and 32-column panels, and rows of more than 16
 * tiles; then a workspace too small for the sums falls back to im2col
 * (bit-equal to the im2col path). */
static void test_backward_weights(void **state)
{
    (void)state;
    const wcase cases[] = {{1, 1, 3, 3, 0},    {3, 13, 9, 13, 0},  {17, 5, 23, 18, 0}, {33, 20, 30, 29, 0},
                           {8, 64, 14, 14, 0}, {40, 9, 12, 74, 0}, {64, 24, 70, 66, 0}};
    unet_knobs *kn = unet_context_knobs(tu_ctx());
    char err[256];
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD", "winograd", err, sizeof err), 0);
    /* the three formulations: packed GEMMs (form 0), dot products along the
     * tiles (1) and the fused kernel with partial sums per work-item (2) */
    static const char *const FORM[] = {"gemm", "dot", "fused"};
    for (int pass = 0; pass < 6; pass++) {
        const int chunked = pass & 1, form = pass >> 1, dot = form == 1;
        assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_DOT", dot ? "1" : "0", err, sizeof err), 0);
        assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_FUSED", form == 2 ? "1" : "0", err, sizeof err), 0);
        assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_CHUNK_KB", chunked ? "1" : "-1", err, sizeof err), 0);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (int acc = 0; acc <= 1; acc++) {
                const wcase *c = &cases[i];
                const int ho = c->h - 2, wo = c->w - 2;
                const size_t nout = (size_t)c->cout * ho * wo, nw = (size_t)c->cout * c->cin * 9;
                float *in, *wt, *b;
                make_data(1200 + i, c->cin, c->cout, c->h, c->w, &in, &wt, &b);
                tu_rng r;
                tu_seed(&r, 1300 + i);
                float *dout = malloc(nout * 4), *dw0 = malloc(nw * 4);
                double *want = malloc(nw * sizeof(double));
                assert_true(dout && dw0 && want);
                tu_fill_uniform(&r, dout, nout, -1, 1);
                tu_fill_uniform(&r, dw0, nw, -1, 1);
                for (int co = 0; co < c->cout; co++)
                    for (int ci = 0; ci < c->cin; ci++)
                        for (int k = 0; k < 9; k++) {
                            const int ky = k / 3, kx = k % 3;
                            const size_t wi = ((size_t)co * c->cin + ci) * 9 + (size_t)k;
                            double sum = acc ? dw0[wi] : 0.0;
                            for (int y = 0; y < ho; y++)
                                for (int x = 0; x < wo; x++)
                                    sum += (double)dout[((size_t)co * ho + y) * wo + x] *
                                           (double)in[((size_t)ci * c->h + y + ky) * c->w + x + kx];
                            want[wi] = sum;
                        }
                const size_t wsf = unet_conv_workspace_floats(c->cin, c->h, c->w, 3, (size_t)1 << 30) +
                                   36 * (size_t)(c->cout + 12) * (size_t)(c->cin + 32) * (size_t)(1 + (ho + 3) / 4 * (wo + 3) / 4);
                float *got = run_wgrad(UNET_CONV_WINOGRAD_F4, c->cin, c->cout, c->h, c->w, in, dout, wt, dw0, acc, wsf);
                char what[96];
                snprintf(what, sizeof what, "dW winograd-%s %d->%d %dx%d acc%d chunk%d", FORM[form], c->cin,
                         c->cout, c->h, c->w, acc, chunked);
                check_scaled(what, got, want, nw);
                free(got);
                if (form == 2 && chunked) {
                    /* a workspace with room for the sums of one part only: one work-item takes every panel */
                    got = run_wgrad(UNET_CONV_WINOGRAD_F4, c->cin, c->cout, c->h, c->w, in, dout, wt, dw0, acc,
                                    36 * (size_t)c->cout * (size_t)c->cin + 16);
                    snprintf(what, sizeof what, "dW winograd-fused one part %d->%d %dx%d acc%d", c->cin, c->cout,
                             c->h, c->w, acc);
                    check_scaled(what, got, want, nw);
                    free(got);
                }
                if (!chunked && acc) {
                    /* too small for the 36 x cout x cin sums: im2col does dW */
                    const size_t small = unet_conv_workspace_floats(c->cin, c->h, c->w, 3, (size_t)1 << 30);
                    if (small < 36 * (size_t)c->cout * (size_t)c->cin) {
                        float *fb = run_wgrad(UNET_CONV_WINOGRAD_F4, c->cin, c->cout, c->h, c->w, in, dout, wt, dw0,
                                              acc, small);
                        float *im = run_wgrad(UNET_CONV_IM2COL_GEMM, c->cin, c->cout, c->h, c->w, in, dout, wt, dw0,
                                              acc, small);
                        assert_memory_equal(fb, im, nw * 4);
                        free(fb), free(im);
                    }
                }
                free(want), free(dout), free(dw0), free(in), free(wt), free(b);
            }
    }
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_CHUNK_KB", "-1", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_DOT", "-1", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD_FUSED", "-1", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WGRAD", "", err, sizeof err), 0);
}

/* The separate kernels on the dense tile numbering (UNETCL_WINO_TW=0: a
 * work-item's 16 tiles spread over up to 16 tile rows on these shapes, ntx =
 * 1..57) and on the row-padded one with both transform widths, with both
 * layouts of the transformed input, and the fused kernel (which the default
 * picks for these small shapes) forced, on every shape: forward, chunked
 * forward and input gradient. */
static void test_forced_variants(void **state)
{
    static const char *tw[] = {"0", "16", "8"}, *lay[] = {"plain", "interleaved"};
    unet_knobs *kn = unet_context_knobs(tu_ctx());
    char err[256];
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_FUSED", "0", err, sizeof err), 0);
    for (int l = 0; l < 2; l++) {
        assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_VLAYOUT", lay[l], err, sizeof err), 0);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_TW", tw[i], err, sizeof err), 0);
            test_against_reference(state);
            test_chunks_and_fallback(state);
            test_backward_data(state);
        }
    }
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_TW", "16", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_FUSED", "1", err, sizeof err), 0);
    test_against_reference(state);
    test_backward_data(state);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_TW", "0", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_VLAYOUT", "", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_FUSED", "-1", err, sizeof err), 0);
}

/* The dense numbering changes which GEMM column a tile lands in, not its
 * arithmetic (columns are independent, the transforms per tile the same):
 * outputs are bit-identical to the row-padded numbering. */
static void test_dense_bit_identical(void **state)
{
    (void)state;
    const wcase cases[] = {{3, 1, 9, 13, 0}, {5, 7, 41, 39, 1}, {4, 5, 7, 74, 1}, {6, 10, 14, 230, 1}};
    unet_knobs *kn = unet_context_knobs(tu_ctx());
    char err[256];
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_FUSED", "0", err, sizeof err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const wcase *c = &cases[i];
        float *in, *wt, *b;
        make_data(700 + i, c->cin, c->cout, c->h, c->w, &in, &wt, &b);
        const size_t nout = (size_t)c->cout * (c->h - 2) * (c->w - 2);
        float *got[2];
        for (int k = 0; k < 2; k++) {
            assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_TW", k ? "16" : "0", err, sizeof err), 0);
            const size_t wsf =
                unet_conv_winograd_workspace_floats(tu_ctx(), c->cin, c->cout, c->h, c->w, (c->h - 2 + 3) / 4);
            got[k] = run(UNET_CONV_WINOGRAD_F4, c->cin, c->cout, c->h, c->w, c->relu, in, wt, b, wsf);
        }
        assert_memory_equal(got[0], got[1], nout * sizeof(float));
        free(got[0]), free(got[1]), free(in), free(wt), free(b);
    }
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_TW", "0", err, sizeof err), 0);
    assert_int_equal(unet_knob_set(kn, "UNETCL_WINO_FUSED", "-1", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_chunks_and_fallback),
        cmocka_unit_test(test_default_choice),
        cmocka_unit_test(test_backward_data),
        cmocka_unit_test(test_backward_weights),
        cmocka_unit_test(test_wgrad_default_fused),
        cmocka_unit_test(test_forced_variants),
        cmocka_unit_test(test_dense_bit_identical),
    };
    return TU_RUN("winograd", tests);
}
