/* Convolution layer (3x3 valid and 1x1, bias, ReLU): OpenCL forward and
 * backward against a plain-C double reference, the reference backward
 * against finite differences, the chunked im2col path against the
 * single-chunk path, and argument errors. */
#include "testutil.h"

#include "conv_internal.h"
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- plain-C double reference ---------------------------------------------- */

static void ref_forward(const double *in, const double *wt, const double *b, int cin, int h, int w, int k,
                        int cout, int relu, double *out)
{
    int ho = h - k + 1, wo = w - k + 1;
    for (int co = 0; co < cout; co++)
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                double s = b[co];
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                            s += wt[((co * cin + ci) * k + ky) * k + kx] * in[(ci * h + y + ky) * w + x + kx];
                if (relu && s < 0) s = 0;
                out[(co * ho + y) * wo + x] = s;
            }
}

/* Gradients of L = sum(dout * out) given the ReLU mask (mask[i] != 0: the
 * output was > 0); mask NULL when !relu. Overwrites din, dw, db. */
static void ref_backward(const double *in, const double *wt, const unsigned char *mask, const double *dout,
                         int cin, int h, int w, int k, int cout, double *din, double *dw, double *db)
{
    int ho = h - k + 1, wo = w - k + 1;
    memset(din, 0, sizeof(double) * (size_t)cin * h * w);
    memset(dw, 0, sizeof(double) * (size_t)cout * cin * k * k);
    for (int co = 0; co < cout; co++) {
        double sb = 0;
        for (int y = 0; y < ho; y++)
            for (int x = 0; x < wo; x++) {
                int o = (co * ho + y) * wo + x;
                double g = (mask && !mask[o]) ? 0.0 : dout[o];
                sb += g;
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int wi = ((co * cin + ci) * k + ky) * k + kx, ii = (ci * h + y + ky) * w + x + kx;
                            dw[wi] += g * in[ii];
                            din[ii] += g * wt[wi];
                        }
            }
        db[co] = sb;
    }
}

static double *to_d(const float *f, size_t n)
{
    double *d = malloc(n * sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

static double *dalloc(size_t n)
{
    double *d = calloc(n ? n : 1, sizeof *d);
    assert_non_null(d);
    return d;
}

static float *falloc(size_t n)
{
    float *f = calloc(n ? n : 1, sizeof *f);
    assert_non_null(f);
    return f;
}

/* ---- finite differences on the reference (double) --------------------------- */

static double loss_of(const double *in, const double *wt, const double *b, const double *g, int cin, int h,
                      int w, int k, int cout, int relu, double *tmp)
{
    ref_forward(in, wt, b, cin, h, w, k, cout, relu, tmp);
    size_t n = (size_t)cout * (h - k + 1) * (w - k + 1);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += g[i] * tmp[i];
    return s;
}

static void fd_check(double *x, size_t n, const double *analytic, const char *what, const double *in,
                     const double *wt, const double *b, const double *g, int cin, int h, int w, int k, int cout,
                     int relu, double *tmp)
{
    const double eps = 1e-6, atol = 1e-7, rtol = 1e-6;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + eps;
        double lp = loss_of(in, wt, b, g, cin, h, w, k, cout, relu, tmp);
        x[i] = x0 - eps;
        double lm = loss_of(in, wt, b, g, cin, h, w, k, cout, relu, tmp);
        x[i] = x0;
        double fd = (lp - lm) / (2 * eps), d = fabs(fd - analytic[i]);
        if (!(d <= atol + rtol * fabs(fd)))
            fail_msg("FD %s[%zu] (k=%d relu=%d): analytic %.12g, finite difference %.12g", what, i, k, relu,
                     analytic[i], fd);
        if (d > worst) worst = d;
    }
    print_message("  FD %-6s k=%d relu=%d: %zu values, max |diff| %.3g (eps %g, atol %g, rtol %g)\n", what, k,
                  relu, n, worst, eps, atol, rtol);
}

static void test_reference_fd(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 11);
    for (int k = 1; k <= 3; k += 2)
        for (int relu = 0; relu <= 1; relu++) {
            const int cin = 2, cout = 3, h = 6, w = 7, ho = h - k + 1, wo = w - k + 1;
            size_t nin = (size_t)cin * h * w, nw = (size_t)cout * cin * k * k, nout = (size_t)cout * ho * wo;
            double *in = dalloc(nin), *wt = dalloc(nw), *b = dalloc(cout), *g = dalloc(nout);
            double *out = dalloc(nout), *din = dalloc(nin), *dw = dalloc(nw), *db = dalloc(cout);
            unsigned char *mask = malloc(nout);
            for (size_t i = 0; i < nin; i++) in[i] = 2 * tu_uniform(&r) - 1;
            for (size_t i = 0; i < nw; i++) wt[i] = 2 * tu_uniform(&r) - 1;
            for (int i = 0; i < cout; i++) b[i] = 0.5 * (2 * tu_uniform(&r) - 1);
            for (size_t i = 0; i < nout; i++) g[i] = 2 * tu_uniform(&r) - 1;
            ref_forward(in, wt, b, cin, h, w, k, cout, relu, out);
            size_t npos = 0;
            for (size_t i = 0; i < nout; i++) {
                mask[i] = out[i] > 0;
                npos += mask[i];
            }
            if (relu) assert_true(npos > 0 && npos < nout); /* both sides of the kink are exercised */
            ref_backward(in, wt, relu ? mask : NULL, g, cin, h, w, k, cout, din, dw, db);
            fd_check(in, nin, din, "input", in, wt, b, g, cin, h, w, k, cout, relu, out);
            fd_check(wt, nw, dw, "weight", in, wt, b, g, cin, h, w, k, cout, relu, out);
            fd_check(b, cout, db, "bias", in, wt, b, g, cin, h, w, k, cout, relu, out);
            free(in), free(wt), free(b), free(g), free(out), free(din), free(dw), free(db), free(mask);
        }
}

/* ---- OpenCL vs reference ---------------------------------------------------- */

typedef struct conv_case {
    int cin, cout, h, w, k, relu;
    int chunk_rows; /* 0: one chunk (all output rows) */
    int din_acc, param_acc, din_null;
} conv_case;

/* Results of one GPU run. */
typedef struct conv_result {
    float *out, *dout_after, *din, *dw, *db;
} conv_result;

static void free_result(conv_result *r)
{
    free(r->out), free(r->dout_after), free(r->din), free(r->dw), free(r->db);
    memset(r, 0, sizeof *r);
}

enum { WOFF = 7, BOFF = 3 }; /* parameter slices at odd offsets into bigger buffers */

/* Runs forward + backward on the device. Host inputs: in, wt, b, dout; prefill
 * values of din/dw/db (the accumulate flags decide whether they count). */
static void run_gpu(const conv_case *c, const float *in, const float *wt, const float *b, const float *dout,
                    const float *din0, const float *dw0, const float *db0, conv_result *res)
{
    unet_context *ctx = tu_ctx();
    const int k = c->k, ho = c->h - k + 1, wo = c->w - k + 1;
    size_t nw = (size_t)c->cout * c->cin * k * k;
    unet_tensor tin = tu_tensor(c->cin, c->h, c->w, in);
    unet_tensor tout = tu_tensor(c->cout, ho, wo, NULL);
    unet_tensor tdout = tu_tensor(c->cout, ho, wo, dout);
    unet_tensor tdin = tu_tensor(c->cin, c->h, c->w, din0);
    cl_mem params, grads;
    TU_OK(unet_buffer_alloc(ctx, &params, (WOFF + nw + BOFF + c->cout + 5) * sizeof(float), "params"));
    TU_OK(unet_buffer_alloc(ctx, &grads, (WOFF + nw + BOFF + c->cout + 5) * sizeof(float), "grads"));
    unet_slice sw = {params, WOFF}, sb = {params, WOFF + nw + BOFF};
    unet_slice gw = {grads, WOFF}, gb = {grads, WOFF + nw + BOFF};
    TU_OK(unet_buffer_write(ctx, params, sw.off * 4, nw * 4, wt));
    TU_OK(unet_buffer_write(ctx, params, sb.off * 4, (size_t)c->cout * 4, b));
    TU_OK(unet_buffer_write(ctx, grads, gw.off * 4, nw * 4, dw0));
    TU_OK(unet_buffer_write(ctx, grads, gb.off * 4, (size_t)c->cout * 4, db0));

    size_t row_bytes = (size_t)c->cin * k * k * wo * sizeof(float);
    size_t max_bytes = c->chunk_rows ? (size_t)c->chunk_rows * row_bytes + row_bytes / 2 : (size_t)1 << 30;
    size_t wsf = unet_conv_workspace_floats(c->cin, c->h, c->w, k, max_bytes);
    assert_true(wsf != (size_t)-1);
    if (k == 1) assert_int_equal(wsf, 0);
    else if (c->chunk_rows) assert_int_equal(wsf, (size_t)(c->chunk_rows < ho ? c->chunk_rows : ho) * row_bytes / 4);
    else assert_int_equal(wsf, (size_t)ho * row_bytes / 4);
    cl_mem ws = NULL;
    if (wsf) TU_OK(unet_buffer_alloc(ctx, &ws, wsf * sizeof(float), "workspace"));

    TU_OK(unet_conv_forward(ctx, &tin, sw, sb, k, c->relu, &tout, ws, wsf));
    TU_OK(unet_conv_backward(ctx, &tin, &tout, &tdout, sw, k, c->relu, c->din_null ? NULL : &tdin, c->din_acc,
                             gw, gb, c->param_acc, ws, wsf));
    res->out = tu_download(&tout);
    res->dout_after = tu_download(&tdout);
    res->din = tu_download(&tdin);
    res->dw = falloc(nw);
    res->db = falloc((size_t)c->cout);
    TU_OK(unet_buffer_read(ctx, grads, gw.off * 4, nw * 4, res->dw));
    TU_OK(unet_buffer_read(ctx, grads, gb.off * 4, (size_t)c->cout * 4, res->db));
    /* the parameters are untouched */
    float *wback = falloc(nw);
    TU_OK(unet_buffer_read(ctx, params, sw.off * 4, nw * 4, wback));
    assert_memory_equal(wback, wt, nw * 4);
    free(wback);
    if (ws) clReleaseMemObject(ws);
    clReleaseMemObject(params);
    clReleaseMemObject(grads);
    unet_tensor_free(&tin), unet_tensor_free(&tout), unet_tensor_free(&tdout), unet_tensor_free(&tdin);
}

/* Tolerances of the device results against the double reference (inputs in
 * [-1,1], weights in [-1,1], reduction lengths up to 7*9=63 and ~1500). */
#define ATOL 1e-4
#define RTOL 1e-4

static void check_case(const conv_case *c, uint64_t seed, conv_result *keep)
{
    tu_rng r;
    tu_seed(&r, seed);
    const int k = c->k, ho = c->h - k + 1, wo = c->w - k + 1;
    size_t nin = (size_t)c->cin * c->h * c->w, nw = (size_t)c->cout * c->cin * k * k;
    size_t nout = (size_t)c->cout * ho * wo;
    float *in = falloc(nin), *wt = falloc(nw), *b = falloc(c->cout), *dout = falloc(nout);
    float *din0 = falloc(nin), *dw0 = falloc(nw), *db0 = falloc(c->cout);
    tu_fill_uniform(&r, in, nin, -1, 1);
    tu_fill_uniform(&r, wt, nw, -1, 1);
    tu_fill_uniform(&r, b, c->cout, -0.5f, 0.5f);
    tu_fill_uniform(&r, dout, nout, -1, 1);
    /* prefill: garbage that must vanish when not accumulating */
    tu_fill_uniform(&r, din0, nin, c->din_acc ? -1.0f : 900.0f, c->din_acc ? 1.0f : 1000.0f);
    tu_fill_uniform(&r, dw0, nw, c->param_acc ? -1.0f : 900.0f, c->param_acc ? 1.0f : 1000.0f);
    tu_fill_uniform(&r, db0, c->cout, c->param_acc ? -1.0f : 900.0f, c->param_acc ? 1.0f : 1000.0f);

    conv_result g;
    run_gpu(c, in, wt, b, dout, din0, dw0, db0, &g);

    double *din = to_d(in, nin), *dwt = to_d(wt, nw), *dbv = to_d(b, c->cout), *ddout = to_d(dout, nout);
    double *out = dalloc(nout), *rdin = dalloc(nin), *rdw = dalloc(nw), *rdb = dalloc(c->cout);
    ref_forward(din, dwt, dbv, c->cin, c->h, c->w, k, c->cout, c->relu, out);
    char what[160];
    snprintf(what, sizeof what, "fwd %d->%d %dx%d k%d relu%d rows%d", c->cin, c->cout, c->h, c->w, k, c->relu,
             c->chunk_rows);
    tu_assert_close(what, g.out, out, nout, ATOL, RTOL);

    /* the mask is the device output's (> 0), as the API defines */
    unsigned char *mask = malloc(nout);
    for (size_t i = 0; i < nout; i++) mask[i] = g.out[i] > 0.0f;
    ref_backward(din, dwt, c->relu ? mask : NULL, ddout, c->cin, c->h, c->w, k, c->cout, rdin, rdw, rdb);
    /* dout is masked in place */
    for (size_t i = 0; i < nout; i++) {
        float want = (c->relu && !mask[i]) ? 0.0f : dout[i];
        if (g.dout_after[i] != want)
            fail_msg("%s: dout[%zu] after backward is %g, want %g", what, i, g.dout_after[i], want);
    }
    if (c->din_acc)
        for (size_t i = 0; i < nin; i++) rdin[i] += din0[i];
    if (c->param_acc) {
        for (size_t i = 0; i < nw; i++) rdw[i] += dw0[i];
        for (int i = 0; i < c->cout; i++) rdb[i] += db0[i];
    }
    snprintf(what, sizeof what, "dW  %d->%d %dx%d k%d relu%d rows%d acc%d", c->cin, c->cout, c->h, c->w, k,
             c->relu, c->chunk_rows, c->param_acc);
    tu_assert_close(what, g.dw, rdw, nw, ATOL, RTOL);
    snprintf(what, sizeof what, "db  %d->%d %dx%d k%d relu%d acc%d", c->cin, c->cout, c->h, c->w, k, c->relu,
             c->param_acc);
    tu_assert_close(what, g.db, rdb, c->cout, ATOL, RTOL);
    if (c->din_null) {
        /* din not requested: the buffer passed nowhere keeps its prefill */
        assert_memory_equal(g.din, din0, nin * 4);
    } else {
        snprintf(what, sizeof what, "din %d->%d %dx%d k%d relu%d rows%d acc%d", c->cin, c->cout, c->h, c->w, k,
                 c->relu, c->chunk_rows, c->din_acc);
        tu_assert_close(what, g.din, rdin, nin, ATOL, RTOL);
    }
    if (keep) *keep = g;
    else free_result(&g);
    free(in), free(wt), free(b), free(dout), free(din0), free(dw0), free(db0);
    free(din), free(dwt), free(dbv), free(ddout), free(out), free(rdin), free(rdw), free(rdb), free(mask);
}

static void test_conv3x3(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {1, 1, 9, 13, 3, 0, 0, 0, 0, 0},  {1, 1, 9, 13, 3, 1, 0, 1, 1, 0},  {3, 3, 17, 11, 3, 1, 0, 0, 0, 0},
        {3, 3, 17, 11, 3, 0, 0, 1, 0, 0}, {5, 7, 9, 13, 3, 1, 0, 0, 1, 0},  {5, 7, 9, 13, 3, 0, 0, 1, 1, 0},
        {3, 1, 5, 4, 3, 1, 0, 0, 0, 0},   {1, 3, 3, 3, 3, 0, 0, 0, 0, 0},   {2, 4, 3, 7, 3, 1, 0, 1, 1, 0},
        {3, 3, 9, 13, 3, 1, 0, 0, 0, 1},  {4, 2, 8, 5, 3, 0, 0, 1, 0, 1},
        {1, 5, 6, 40, 3, 1, 0, 0, 0, 0},  {2, 3, 5, 34, 3, 0, 0, 1, 0, 0}, /* wide rows: 16-wide direct kernel */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], 100 + i, NULL);
}

static void test_conv1x1(void **state)
{
    (void)state;
    const conv_case cases[] = {
        {1, 1, 9, 13, 1, 0, 0, 0, 0, 0},  {1, 1, 9, 13, 1, 1, 0, 1, 1, 0}, {3, 3, 17, 11, 1, 1, 0, 0, 1, 0},
        {5, 7, 9, 13, 1, 0, 0, 1, 0, 0},  {5, 2, 9, 13, 1, 1, 0, 0, 0, 1}, {64, 2, 3, 5, 1, 1, 0, 1, 1, 0},
        {3, 3, 40, 37, 1, 1, 0, 0, 0, 0}, /* 1480 values per channel: several per work-item in bias_grad */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], 200 + i, NULL);
}

/* Several chunks of output rows (with a last partial chunk) give the same
 * results as one chunk, and both match the reference. */
static void test_chunked(void **state)
{
    (void)state;
    const conv_case base[] = {
        {3, 3, 17, 11, 3, 1, 0, 0, 0, 0}, /* ho 15 */
        {5, 7, 9, 13, 3, 0, 0, 1, 1, 0},  /* ho 7 */
        {1, 1, 9, 13, 3, 1, 0, 0, 1, 0},
    };
    const int rows[] = {1, 2, 4, 6};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        conv_result one;
        check_case(&base[i], 300 + i, &one);
        const int k = base[i].k, ho = base[i].h - k + 1, wo = base[i].w - k + 1;
        size_t nin = (size_t)base[i].cin * base[i].h * base[i].w, nw = (size_t)base[i].cout * base[i].cin * k * k;
        size_t nout = (size_t)base[i].cout * ho * wo;
        for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++) {
            conv_case c = base[i];
            c.chunk_rows = rows[j];
            conv_result ch;
            check_case(&c, 300 + i, &ch); /* same seed: same data */
            char what[96];
            /* forward: the same dot product per output value (bit-equal on
             * PoCL, but a GEMM may block differently per shape); din: rows
             * at chunk borders add two partial sums; dW: the sum over
             * output positions is split into chunks */
            snprintf(what, sizeof what, "chunks of %d rows vs one: out", rows[j]);
            tu_assert_close_f(what, ch.out, one.out, nout, 1e-6, 1e-6);
            snprintf(what, sizeof what, "chunks of %d rows vs one: din", rows[j]);
            tu_assert_close_f(what, ch.din, one.din, nin, 1e-5, 1e-5);
            snprintf(what, sizeof what, "chunks of %d rows vs one: dW", rows[j]);
            tu_assert_close_f(what, ch.dw, one.dw, nw, 1e-5, 1e-5);
            assert_memory_equal(ch.db, one.db, (size_t)c.cout * 4); /* bias grad does not depend on chunks */
            free_result(&ch);
        }
        free_result(&one);
    }
}

static void test_workspace_and_errors(void **state)
{
    (void)state;
    /* cin 3, 9x13, k 3: one output row of the column matrix = 3*9*11 = 297 floats */
    const size_t row = 297;
    assert_int_equal(unet_conv_workspace_floats(3, 9, 13, 3, row * 4 - 1), (size_t)-1);
    assert_int_equal(unet_conv_workspace_floats(3, 9, 13, 3, 0), (size_t)-1);
    assert_int_equal(unet_conv_workspace_floats(3, 9, 13, 3, row * 4), row);
    assert_int_equal(unet_conv_workspace_floats(3, 9, 13, 3, row * 4 * 3 + 7), 3 * row);
    assert_int_equal(unet_conv_workspace_floats(3, 9, 13, 3, (size_t)1 << 30), 7 * row);
    assert_int_equal(unet_conv_workspace_floats(3, 9, 13, 1, 0), 0);
    /* the paper's first layer: 64 x 570 x 570 input, 568 columns of 576 */
    assert_int_equal(unet_conv_workspace_floats(64, 570, 570, 3, (size_t)1 << 30),
                     (size_t)568 * 64 * 9 * 568);
    assert_int_equal(unet_conv_workspace_floats(64, 570, 570, 3, (size_t)1 << 20), (size_t)-1);

    unet_context *ctx = tu_ctx();
    unet_tensor in = tu_tensor(3, 9, 13, NULL), out = tu_tensor(2, 7, 11, NULL), bad = tu_tensor(2, 7, 10, NULL);
    cl_mem p, ws;
    TU_OK(unet_buffer_alloc(ctx, &p, 64 * 4, "params"));
    TU_OK(unet_buffer_alloc(ctx, &ws, row * 4, "ws"));
    unet_slice w = {p, 0}, b = {p, 54};
    TU_OK(unet_conv_forward(ctx, &in, w, b, 3, 1, &out, ws, row));
    /* im2col needs one column-matrix row (the default on CPU devices, the
     * direct kernel for cin <= 4, needs no workspace) */
    assert_int_equal(unet_conv_forward_algo(ctx, UNET_CONV_IM2COL_GEMM, &in, w, b, 3, 1, &out, ws, row - 1),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "workspace"));
    assert_int_equal(unet_conv_forward(ctx, &in, w, b, 3, 1, &out, ws, row + 1), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_conv_forward(ctx, &in, w, b, 3, 1, &out, NULL, row), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_conv_forward(ctx, &in, w, b, 3, 1, &bad, ws, row), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "7x10"));
    assert_int_equal(unet_conv_forward(ctx, &in, w, b, 5, 1, &out, ws, row), UNET_ERR_INVALID_ARGUMENT);
    unet_slice wfar = {p, 20}; /* 54 weights from 20 overrun the 64-float buffer */
    assert_int_equal(unet_conv_forward(ctx, &in, wfar, b, 3, 1, &out, ws, row), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "weight"));
    unet_slice bfar = {p, 63};
    assert_int_equal(unet_conv_forward(ctx, &in, w, bfar, 3, 1, &out, ws, row), UNET_ERR_INVALID_ARGUMENT);
    unet_tensor tiny = tu_tensor(3, 2, 13, NULL);
    assert_int_equal(unet_conv_forward(ctx, &tiny, w, b, 3, 1, &out, ws, row), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_conv_backward(ctx, &in, &out, &bad, w, 3, 1, NULL, 0, w, b, 0, ws, row),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_conv_backward(ctx, &in, &out, &out, w, 3, 1, &bad, 0, w, b, 0, ws, row),
                     UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_finish(ctx));
    unet_tensor_free(&in), unet_tensor_free(&out), unet_tensor_free(&bad), unet_tensor_free(&tiny);
    clReleaseMemObject(p);
    clReleaseMemObject(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_fd), cmocka_unit_test(test_conv3x3),
        cmocka_unit_test(test_conv1x1),      cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_workspace_and_errors),
    };
    return TU_RUN("conv", tests);
}
