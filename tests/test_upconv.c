/* 2x2 stride-2 up-convolution (ConvTranspose2d layout, bias, ReLU): OpenCL
 * forward and backward against a plain-C double reference, the reference
 * backward against finite differences, and argument errors. */
#include "testutil.h"

#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- plain-C double reference (direct definition of ConvTranspose2d with
 * kernel 2, stride 2: out[co][2y+dy][2x+dx] = b[co] + sum_ci in[ci][y][x] *
 * W[ci][co][dy][dx]) ------------------------------------------------------ */

static void ref_forward(const double *in, const double *wt, const double *b, int cin, int h, int w, int cout,
                        int relu, double *out)
{
    int H = 2 * h, W = 2 * w;
    for (int co = 0; co < cout; co++)
        for (int Y = 0; Y < H; Y++)
            for (int X = 0; X < W; X++) {
                int y = Y / 2, x = X / 2, dy = Y % 2, dx = X % 2;
                double s = b[co];
                for (int ci = 0; ci < cin; ci++)
                    s += in[(ci * h + y) * w + x] * wt[((ci * cout + co) * 2 + dy) * 2 + dx];
                if (relu && s < 0) s = 0;
                out[(co * H + Y) * W + X] = s;
            }
}

static void ref_backward(const double *in, const double *wt, const unsigned char *mask, const double *dout,
                         int cin, int h, int w, int cout, double *din, double *dw, double *db)
{
    int H = 2 * h, W = 2 * w;
    memset(din, 0, sizeof(double) * (size_t)cin * h * w);
    memset(dw, 0, sizeof(double) * (size_t)cin * cout * 4);
    for (int co = 0; co < cout; co++) {
        double sb = 0;
        for (int Y = 0; Y < H; Y++)
            for (int X = 0; X < W; X++) {
                int o = (co * H + Y) * W + X;
                double g = (mask && !mask[o]) ? 0.0 : dout[o];
                sb += g;
                int y = Y / 2, x = X / 2, dy = Y % 2, dx = X % 2;
                for (int ci = 0; ci < cin; ci++) {
                    int wi = ((ci * cout + co) * 2 + dy) * 2 + dx, ii = (ci * h + y) * w + x;
                    dw[wi] += g * in[ii];
                    din[ii] += g * wt[wi];
                }
            }
        db[co] = sb;
    }
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

static double *to_d(const float *f, size_t n)
{
    double *d = dalloc(n);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

/* ---- finite differences on the reference ------------------------------------ */

typedef struct fd_ctx {
    const double *in, *wt, *b, *g;
    int cin, h, w, cout, relu;
    double *tmp;
} fd_ctx;

static double loss_of(const fd_ctx *f)
{
    ref_forward(f->in, f->wt, f->b, f->cin, f->h, f->w, f->cout, f->relu, f->tmp);
    size_t n = (size_t)f->cout * 4 * f->h * f->w;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += f->g[i] * f->tmp[i];
    return s;
}

static void fd_check(const fd_ctx *f, double *x, size_t n, const double *analytic, const char *what)
{
    const double eps = 1e-6, atol = 1e-7, rtol = 1e-6;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + eps;
        double lp = loss_of(f);
        x[i] = x0 - eps;
        double lm = loss_of(f);
        x[i] = x0;
        double fd = (lp - lm) / (2 * eps), d = fabs(fd - analytic[i]);
        if (!(d <= atol + rtol * fabs(fd)))
            fail_msg("FD %s[%zu] (relu=%d): analytic %.12g, finite difference %.12g", what, i, f->relu,
                     analytic[i], fd);
        if (d > worst) worst = d;
    }
    print_message("  FD %-6s relu=%d: %zu values, max |diff| %.3g (eps %g, atol %g, rtol %g)\n", what, f->relu, n,
                  worst, eps, atol, rtol);
}

static void test_reference_fd(void **state)
{
    (void)state;
    tu_rng r;
    tu_seed(&r, 21);
    for (int relu = 0; relu <= 1; relu++) {
        const int cin = 3, cout = 2, h = 3, w = 5;
        size_t nin = (size_t)cin * h * w, nw = (size_t)cin * cout * 4, nout = (size_t)cout * 4 * h * w;
        double *in = dalloc(nin), *wt = dalloc(nw), *b = dalloc(cout), *g = dalloc(nout), *out = dalloc(nout);
        double *din = dalloc(nin), *dw = dalloc(nw), *db = dalloc(cout);
        unsigned char *mask = malloc(nout);
        for (size_t i = 0; i < nin; i++) in[i] = 2 * tu_uniform(&r) - 1;
        for (size_t i = 0; i < nw; i++) wt[i] = 2 * tu_uniform(&r) - 1;
        for (int i = 0; i < cout; i++) b[i] = 0.5 * (2 * tu_uniform(&r) - 1);
        for (size_t i = 0; i < nout; i++) g[i] = 2 * tu_uniform(&r) - 1;
        ref_forward(in, wt, b, cin, h, w, cout, relu, out);
        size_t npos = 0;
        for (size_t i = 0; i < nout; i++) npos += (mask[i] = out[i] > 0);
        if (relu) assert_true(npos > 0 && npos < nout);
        ref_backward(in, wt, relu ? mask : NULL, g, cin, h, w, cout, din, dw, db);
        fd_ctx f = {in, wt, b, g, cin, h, w, cout, relu, out};
        fd_check(&f, in, nin, din, "input");
        fd_check(&f, wt, nw, dw, "weight");
        fd_check(&f, b, cout, db, "bias");
        free(in), free(wt), free(b), free(g), free(out), free(din), free(dw), free(db), free(mask);
    }
}

/* ---- OpenCL vs reference ---------------------------------------------------- */

typedef struct up_case {
    int cin, cout, h, w, relu, din_acc, param_acc, din_null;
} up_case;

enum { WOFF = 5, BOFF = 2 };
#define ATOL 1e-4
#define RTOL 1e-4

static void check_case(const up_case *c, uint64_t seed)
{
    unet_context *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, seed);
    const int H = 2 * c->h, W = 2 * c->w;
    size_t nin = (size_t)c->cin * c->h * c->w, nw = (size_t)c->cin * c->cout * 4, nout = (size_t)c->cout * H * W;
    float *in = falloc(nin), *wt = falloc(nw), *b = falloc(c->cout), *dout = falloc(nout);
    float *din0 = falloc(nin), *dw0 = falloc(nw), *db0 = falloc(c->cout);
    tu_fill_uniform(&r, in, nin, -1, 1);
    tu_fill_uniform(&r, wt, nw, -1, 1);
    tu_fill_uniform(&r, b, c->cout, -0.5f, 0.5f);
    tu_fill_uniform(&r, dout, nout, -1, 1);
    tu_fill_uniform(&r, din0, nin, c->din_acc ? -1.0f : 900.0f, c->din_acc ? 1.0f : 1000.0f);
    tu_fill_uniform(&r, dw0, nw, c->param_acc ? -1.0f : 900.0f, c->param_acc ? 1.0f : 1000.0f);
    tu_fill_uniform(&r, db0, c->cout, c->param_acc ? -1.0f : 900.0f, c->param_acc ? 1.0f : 1000.0f);

    unet_tensor tin = tu_tensor(c->cin, c->h, c->w, in), tout = tu_tensor(c->cout, H, W, NULL);
    unet_tensor tdout = tu_tensor(c->cout, H, W, dout), tdin = tu_tensor(c->cin, c->h, c->w, din0);
    cl_mem params, grads, ws;
    size_t np = WOFF + nw + BOFF + (size_t)c->cout + 3;
    TU_OK(unet_buffer_alloc(ctx, &params, np * 4, "params"));
    TU_OK(unet_buffer_alloc(ctx, &grads, np * 4, "grads"));
    unet_slice sw = {params, WOFF}, sb = {params, WOFF + nw + BOFF}, gw = {grads, WOFF}, gb = {grads, WOFF + nw + BOFF};
    TU_OK(unet_buffer_write(ctx, params, sw.off * 4, nw * 4, wt));
    TU_OK(unet_buffer_write(ctx, params, sb.off * 4, (size_t)c->cout * 4, b));
    TU_OK(unet_buffer_write(ctx, grads, gw.off * 4, nw * 4, dw0));
    TU_OK(unet_buffer_write(ctx, grads, gb.off * 4, (size_t)c->cout * 4, db0));
    size_t wsf = unet_upconv_workspace_floats(c->cout, c->h, c->w);
    assert_int_equal(wsf, (size_t)c->cout * 4 * c->h * c->w);
    TU_OK(unet_buffer_alloc(ctx, &ws, wsf * 4, "ws"));

    TU_OK(unet_upconv_forward(ctx, &tin, sw, sb, c->relu, &tout, ws, wsf));
    TU_OK(unet_upconv_backward(ctx, &tin, &tout, &tdout, sw, c->relu, c->din_null ? NULL : &tdin, c->din_acc, gw,
                               gb, c->param_acc, ws, wsf));
    float *gout = tu_download(&tout), *gdout = tu_download(&tdout), *gdin = tu_download(&tdin);
    float *gdw = falloc(nw), *gdb = falloc(c->cout);
    TU_OK(unet_buffer_read(ctx, grads, gw.off * 4, nw * 4, gdw));
    TU_OK(unet_buffer_read(ctx, grads, gb.off * 4, (size_t)c->cout * 4, gdb));

    double *din = to_d(in, nin), *dwt = to_d(wt, nw), *dbv = to_d(b, c->cout), *ddout = to_d(dout, nout);
    double *out = dalloc(nout), *rdin = dalloc(nin), *rdw = dalloc(nw), *rdb = dalloc(c->cout);
    ref_forward(din, dwt, dbv, c->cin, c->h, c->w, c->cout, c->relu, out);
    char what[128];
    snprintf(what, sizeof what, "fwd %d->%d %dx%d relu%d", c->cin, c->cout, c->h, c->w, c->relu);
    tu_assert_close(what, gout, out, nout, ATOL, RTOL);

    unsigned char *mask = malloc(nout);
    for (size_t i = 0; i < nout; i++) mask[i] = gout[i] > 0.0f;
    ref_backward(din, dwt, c->relu ? mask : NULL, ddout, c->cin, c->h, c->w, c->cout, rdin, rdw, rdb);
    for (size_t i = 0; i < nout; i++) {
        float want = (c->relu && !mask[i]) ? 0.0f : dout[i];
        if (gdout[i] != want) fail_msg("%s: dout[%zu] after backward is %g, want %g", what, i, gdout[i], want);
    }
    if (c->din_acc)
        for (size_t i = 0; i < nin; i++) rdin[i] += din0[i];
    if (c->param_acc) {
        for (size_t i = 0; i < nw; i++) rdw[i] += dw0[i];
        for (int i = 0; i < c->cout; i++) rdb[i] += db0[i];
    }
    snprintf(what, sizeof what, "dW  %d->%d %dx%d relu%d acc%d", c->cin, c->cout, c->h, c->w, c->relu, c->param_acc);
    tu_assert_close(what, gdw, rdw, nw, ATOL, RTOL);
    snprintf(what, sizeof what, "db  %d->%d %dx%d relu%d acc%d", c->cin, c->cout, c->h, c->w, c->relu, c->param_acc);
    tu_assert_close(what, gdb, rdb, c->cout, ATOL, RTOL);
    if (c->din_null) assert_memory_equal(gdin, din0, nin * 4);
    else {
        snprintf(what, sizeof what, "din %d->%d %dx%d relu%d acc%d", c->cin, c->cout, c->h, c->w, c->relu,
                 c->din_acc);
        tu_assert_close(what, gdin, rdin, nin, ATOL, RTOL);
    }

    clReleaseMemObject(params), clReleaseMemObject(grads), clReleaseMemObject(ws);
    unet_tensor_free(&tin), unet_tensor_free(&tout), unet_tensor_free(&tdout), unet_tensor_free(&tdin);
    free(in), free(wt), free(b), free(dout), free(din0), free(dw0), free(db0);
    free(gout), free(gdout), free(gdin), free(gdw), free(gdb);
    free(din), free(dwt), free(dbv), free(ddout), free(out), free(rdin), free(rdw), free(rdb), free(mask);
}

static void test_upconv(void **state)
{
    (void)state;
    const up_case cases[] = {
        {1, 1, 9, 13, 0, 0, 0, 0}, {1, 1, 9, 13, 1, 1, 1, 0}, {3, 3, 5, 7, 1, 0, 1, 0},  {3, 3, 17, 11, 0, 1, 0, 0},
        {5, 7, 9, 13, 1, 0, 0, 0}, {5, 7, 9, 13, 0, 1, 1, 0}, {7, 5, 9, 13, 1, 1, 0, 1}, {2, 4, 1, 1, 1, 0, 0, 0},
        {4, 2, 17, 11, 1, 0, 0, 1}, {64, 3, 3, 5, 0, 1, 1, 0}, /* long reduction for din */
        {3, 2, 20, 23, 1, 0, 0, 0}, /* 1840 values per channel in the bias gradient */
        {2, 3, 5, 16, 1, 1, 1, 0},  /* rows of whole 8-wide vectors in the (un)shuffle */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], 500 + i);
}

static void test_errors(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    assert_int_equal(unet_upconv_workspace_floats(7, 9, 13), (size_t)7 * 4 * 9 * 13);
    unet_tensor in = tu_tensor(3, 4, 5, NULL), out = tu_tensor(2, 8, 10, NULL), bad = tu_tensor(2, 8, 9, NULL);
    cl_mem p, ws;
    const size_t wsf = 2 * 4 * 4 * 5;
    TU_OK(unet_buffer_alloc(ctx, &p, 32 * 4, "params"));
    TU_OK(unet_buffer_alloc(ctx, &ws, wsf * 4, "ws"));
    unet_slice w = {p, 0}, b = {p, 24};
    TU_OK(unet_upconv_forward(ctx, &in, w, b, 1, &out, ws, wsf));
    assert_int_equal(unet_upconv_forward(ctx, &in, w, b, 1, &out, ws, wsf - 1), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "workspace"));
    assert_int_equal(unet_upconv_forward(ctx, &in, w, b, 1, &out, ws, wsf + 1), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_upconv_forward(ctx, &in, w, b, 1, &bad, ws, wsf), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "8x9"));
    unet_slice wfar = {p, 10};
    assert_int_equal(unet_upconv_forward(ctx, &in, wfar, b, 1, &out, ws, wsf), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_upconv_backward(ctx, &in, &out, &bad, w, 1, NULL, 0, w, b, 0, ws, wsf),
                     UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_upconv_backward(ctx, &in, &out, &out, w, 1, &in, 0, (unet_slice){NULL, 0}, b, 0, ws, wsf),
                     UNET_ERR_INVALID_ARGUMENT);
    TU_OK(unet_finish(ctx));
    unet_tensor_free(&in), unet_tensor_free(&out), unet_tensor_free(&bad);
    clReleaseMemObject(p), clReleaseMemObject(ws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_fd),
        cmocka_unit_test(test_upconv),
        cmocka_unit_test(test_errors),
    };
    return TU_RUN("upconv", tests);
}
