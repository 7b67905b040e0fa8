/* Convolution layers (3x3 valid or 1x1) + bias + optional ReLU, forward and
 * backward, batch 1.
 *
 * The linear part (out = W * in, and its adjoints) goes through an internal
 * algorithm table keyed by unet_conv_algo_id: im2col + GEMM everywhere, and
 * on CPU devices Winograd F(4x4,3x3) for the forward pass, the input
 * gradient (the adjoint convolution) and the weight gradient of 3x3 layers
 * with enough 4x4 tiles (select_algo, select_backward, wgrad_use_winograd). The ReLU mask and the bias gradient are
 * common to all algorithms and done here; bias + ReLU are fused into the
 * Winograd output transform.
 *
 * im2col + GEMM (k = 3): the column matrix col[cin*k*k][rows*wo] of a chunk
 * of whole output rows [r0, r1) is built in the workspace, then
 *   forward:  out[:, r0*wo .. r1*wo) = W[cout][cin*k*k] . col
 *   backward: dW (+)= dout_chunk . col^T; dcol = W^T . dout_chunk (in the
 *             workspace, overwriting col); din += col2im(dcol).
 * k = 1 needs no workspace: out = W[cout][cin] . in[cin][h*w].
 *
 * CPU devices also use: a direct kernel for the forward pass of 3x3 layers
 * with cin <= 4 (the first layer), and for dW the transposed column matrix
 * colT[pixel][cin*9] (dW = dout . colT, B not transposed), see
 * im2colT_rows3. Winograd transforms take 16 tiles per work-item, or 8 where
 * that pads fewer tiles on layers with many channels. */
#include "conv_internal.h"
#include "conv_gpu.h"
#include "gemm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared small kernels ------------------------------------------------ */

unet_status unet_conv_check_int(size_t n, const char *what)
{
    if (n > (size_t)INT_MAX)
        return unet_seterr(UNET_ERR_DOES_NOT_FIT,
                           "%s has %zu elements, more than the 32-bit indices of the kernels allow "
                           "(%d): use a smaller tile size",
                           what, n, INT_MAX);
    return UNET_OK;
}

unet_status unet_conv_bias_act(unet_context *ctx, cl_mem x, int channels, size_t hw, unet_slice bias,
                               int relu)
{
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "conv", "bias_act", &k));
    cl_int ihw = (cl_int)hw, ic = channels, boff = (cl_int)bias.off, r = relu ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(x), unet_arg_int(ihw), unet_arg_int(ic), unet_arg_mem(bias.mem),
                              unet_arg_int(boff), unet_arg_int(r)),
                "setting arguments of kernel bias_act");
    size_t gws[2] = {hw, (size_t)channels};
    return unet_enqueue(ctx, k, "bias_act", 2, gws, NULL);
}

unet_status unet_conv_relu_mask(unet_context *ctx, cl_mem dout, cl_mem out, size_t n)
{
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "conv", "relu_mask", &k));
    cl_int in_ = (cl_int)n;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(dout), unet_arg_mem(out), unet_arg_int(in_)),
                "setting arguments of kernel relu_mask");
    size_t gws[1] = {n};
    return unet_enqueue(ctx, k, "relu_mask", 1, gws, NULL);
}

unet_status unet_conv_relu_bias_grad(unet_context *ctx, cl_mem d, cl_mem out, int channels, size_t hw,
                                     unet_slice dbias, int accumulate)
{
    if (ctx->info.type != UNET_DEVICE_CPU) {
        if (out) UNET_TRY(unet_conv_relu_mask(ctx, d, out, (size_t)channels * hw));
        return unet_conv_bias_grad(ctx, d, channels, hw, dbias, accumulate);
    }
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "conv", "relu_bias_grad_cpu", &k));
    cl_mem o = out ? out : d;
    cl_int r = out ? 1 : 0, ihw = (cl_int)hw, ic = channels, off = (cl_int)dbias.off, acc = accumulate ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(d), unet_arg_mem(o), unet_arg_int(r), unet_arg_int(ihw),
                              unet_arg_int(ic), unet_arg_mem(dbias.mem), unet_arg_int(off), unet_arg_int(acc)),
                "setting arguments of kernel relu_bias_grad_cpu");
    size_t gws[1] = {(size_t)channels}, l[1] = {1};
    return unet_enqueue(ctx, k, "relu_bias_grad_cpu", 1, gws, l);
}

unet_status unet_conv_bias_grad(unet_context *ctx, cl_mem d, int channels, size_t hw, unet_slice dbias,
                                int accumulate)
{
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "conv", "bias_grad", &k));
    size_t kwg = 0;
    UNET_CL_TRY(clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg, &kwg, NULL),
                "querying the work-group size of kernel bias_grad");
    /* a fixed power of two per device: the reduction order never changes */
    size_t lws = 1;
    while (lws * 2 <= 256 && lws * 2 <= kwg) lws *= 2;
    cl_int ihw = (cl_int)hw, ic = channels, off = (cl_int)dbias.off, acc = accumulate ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(d), unet_arg_int(ihw), unet_arg_int(ic), unet_arg_mem(dbias.mem),
                              unet_arg_int(off), unet_arg_int(acc), unet_arg_local(lws * sizeof(float))),
                "setting arguments of kernel bias_grad");
    size_t gws[1] = {(size_t)channels * lws}, l[1] = {lws};
    return unet_enqueue(ctx, k, "bias_grad", 1, gws, l);
}

/* ---- argument checks ------------------------------------------------------ */

unet_status unet_conv_check_slice(const char *layer, unet_slice s, size_t n, const char *what)
{
    if (!s.mem) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: %s buffer is NULL", layer, what);
    size_t bytes = 0;
    UNET_CL_TRY(clGetMemObjectInfo(s.mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL), "querying a buffer size");
    if (s.off > bytes / sizeof(float) || n > bytes / sizeof(float) - s.off)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: %s needs %zu floats at offset %zu but its buffer holds only %zu floats",
                           layer, what, n, s.off, bytes / sizeof(float));
    if (s.off + n > (size_t)INT_MAX)
        return unet_seterr(UNET_ERR_DOES_NOT_FIT, "%s: %s offset %zu exceeds 32-bit kernel indices", layer, what,
                           s.off);
    return UNET_OK;
}

unet_status unet_conv_check_ws(const char *layer, cl_mem ws, size_t ws_floats, size_t need)
{
    if (!ws) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: the workspace buffer is NULL", layer);
    size_t bytes = 0;
    UNET_CL_TRY(clGetMemObjectInfo(ws, CL_MEM_SIZE, sizeof bytes, &bytes, NULL), "querying the workspace size");
    if (ws_floats > bytes / sizeof(float))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: workspace said to hold %zu floats but its buffer holds only %zu", layer,
                           ws_floats, bytes / sizeof(float));
    if (ws_floats < need)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: workspace of %zu floats is too small, %zu needed: size it with the layer's "
                           "workspace function",
                           layer, ws_floats, need);
    return UNET_OK;
}

unet_status unet_conv_check_tensor(const char *layer, const unet_tensor *t, int c, int h, int w,
                                   const char *what)
{
    if (!t || !t->mem)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: tensor %s is not allocated", layer, what);
    if (t->c != c || t->h != h || t->w != w)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: tensor %s is %dx%dx%d but must be %dx%dx%d", layer, what,
                           t->c, t->h, t->w, c, h, w);
    return UNET_OK;
}

/* ---- algorithm interface ---------------------------------------------------- */

typedef struct conv_shape {
    int cin, h, w, k, cout, ho, wo;
} conv_shape;

typedef struct conv_algo {
    const char *name;
    /* floats of workspace for a problem with no single buffer above max_bytes;
     * (size_t)-1 if it cannot fit */
    size_t (*workspace)(const conv_shape *s, size_t max_bytes);
    /* out = relu?(W * in + bias) */
    unet_status (*forward)(unet_context *ctx, const conv_shape *s, cl_mem in, unet_slice weight, unet_slice bias,
                           int relu, cl_mem out, cl_mem ws, size_t ws_floats);
    /* dweight (+)= d/dW, din (+)= d/din (din may be NULL) given dout */
    unet_status (*backward)(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout, unet_slice weight,
                            cl_mem din, int din_accumulate, unet_slice dweight, int param_accumulate,
                            cl_mem ws, size_t ws_floats);
} conv_algo;

static unet_status conv_forward_impl(unet_context *ctx, const struct conv_algo *a, const unet_tensor *in,
                                     unet_slice weight, unet_slice bias, int k, int relu, unet_tensor *out,
                                     cl_mem ws, size_t ws_floats, unet_conv_wcache *wc, uint64_t version);

/* -- im2col + GEMM -- */

static size_t im2col_row_floats(const conv_shape *s)
{
    return (size_t)s->cin * (size_t)s->k * (size_t)s->k * (size_t)s->wo;
}

static size_t im2col_workspace(const conv_shape *s, size_t max_bytes)
{
    if (s->k == 1) return 0;
    size_t row = im2col_row_floats(s);
    size_t rows = max_bytes / sizeof(float) / row;
    if (rows == 0) return (size_t)-1;
    if (rows > (size_t)s->ho) rows = (size_t)s->ho;
    return rows * row;
}

static unet_status im2col_rows(unet_context *ctx, const conv_shape *s, size_t ws_floats, int *rows)
{
    size_t row = im2col_row_floats(s);
    size_t r = ws_floats / row;
    if (r == 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "conv %dx%dx%d k=%d: workspace of %zu floats is smaller than one output row "
                           "(%zu floats): size it with unet_conv_workspace_floats",
                           s->cin, s->h, s->w, s->k, ws_floats, row);
    if (r > (size_t)s->ho) r = (size_t)s->ho;
    *rows = (int)r;
    return unet_conv_check_int(r * row, "the im2col workspace");
}

static unet_status run_im2col(unet_context *ctx, const conv_shape *s, cl_mem in, int r0, int r1, cl_mem ws)
{
    cl_kernel kr;
    const int cpu = ctx->info.type == UNET_DEVICE_CPU;
    UNET_TRY(unet_kernel_get(ctx, "conv", cpu ? "im2col_rows" : "im2col", &kr));
    cl_int h = s->h, w = s->w, k = s->k, a = r0, b = r1, cin = s->cin, off = 0;
    UNET_CL_TRY(UNET_SET_ARGS(kr, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(k),
                              unet_arg_int(a), unet_arg_int(b), unet_arg_int(cin), unet_arg_mem(ws),
                              unet_arg_int(off)),
                "setting arguments of kernel im2col");
    if (cpu) {
        size_t gws[2] = {(size_t)(r1 - r0), (size_t)s->cin * (size_t)(s->k * s->k)}, l[2] = {1, 1};
        return unet_enqueue(ctx, kr, "im2col_rows", 2, gws, l);
    }
    size_t gws[2] = {(size_t)(r1 - r0) * (size_t)s->wo, (size_t)s->cin * (size_t)(s->k * s->k)};
    return unet_enqueue(ctx, kr, "im2col", 2, gws, NULL);
}

static unet_status run_im2colT(unet_context *ctx, const conv_shape *s, cl_mem in, int r0, int r1, cl_mem ws)
{
    cl_kernel kr;
    UNET_TRY(unet_kernel_get(ctx, "conv", "im2colT_rows3", &kr));
    cl_int h = s->h, w = s->w, a = r0, b = r1, cin = s->cin;
    UNET_CL_TRY(UNET_SET_ARGS(kr, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(a),
                              unet_arg_int(b), unet_arg_int(cin), unet_arg_mem(ws)),
                "setting arguments of kernel im2colT_rows3");
    size_t gws[2] = {((size_t)s->wo + 15) / 16, (size_t)(r1 - r0)}, l[2] = {1, 1};
    return unet_enqueue(ctx, kr, "im2colT_rows3", 2, gws, l);
}

static unet_status run_col2im(unet_context *ctx, const conv_shape *s, cl_mem ws, int r0, int r1, cl_mem din)
{
    cl_kernel kr;
    const int cpu = ctx->info.type == UNET_DEVICE_CPU;
    UNET_TRY(unet_kernel_get(ctx, "conv", cpu ? "col2im_rows" : "col2im_add", &kr));
    cl_int off = 0, h = s->h, w = s->w, k = s->k, a = r0, b = r1, cin = s->cin;
    UNET_CL_TRY(UNET_SET_ARGS(kr, unet_arg_mem(ws), unet_arg_int(off), unet_arg_int(h), unet_arg_int(w),
                              unet_arg_int(k), unet_arg_int(a), unet_arg_int(b), unet_arg_int(cin),
                              unet_arg_mem(din)),
                "setting arguments of kernel col2im_add");
    if (cpu) {
        size_t gws[2] = {(size_t)(r1 - r0 + s->k - 1), (size_t)s->cin}, l[2] = {1, 1};
        return unet_enqueue(ctx, kr, "col2im_rows", 2, gws, l);
    }
    size_t gws[2] = {(size_t)s->w, (size_t)s->cin * (size_t)(r1 - r0 + s->k - 1)};
    return unet_enqueue(ctx, kr, "col2im_add", 2, gws, NULL);
}

static unet_status im2col_forward(unet_context *ctx, const conv_shape *s, cl_mem in, unet_slice weight,
                                  unet_slice bias, int relu, cl_mem out, cl_mem ws, size_t ws_floats)
{
    size_t ohw = (size_t)s->ho * (size_t)s->wo;
    if (s->k == 1) {
        UNET_TRY(unet_gemm(ctx, 0, 0, (size_t)s->cout, ohw, (size_t)s->cin, 1.0f, weight.mem, weight.off,
                           (size_t)s->cin, in, 0, ohw, 0.0f, out, 0, ohw));
        return unet_conv_bias_act(ctx, out, s->cout, ohw, bias, relu);
    }
    int rows = 0;
    UNET_TRY(im2col_rows(ctx, s, ws_floats, &rows));
    size_t kdim = (size_t)s->cin * (size_t)(s->k * s->k);
    for (int r0 = 0; r0 < s->ho; r0 += rows) {
        int r1 = r0 + rows < s->ho ? r0 + rows : s->ho;
        size_t n = (size_t)(r1 - r0) * (size_t)s->wo;
        UNET_TRY(run_im2col(ctx, s, in, r0, r1, ws));
        UNET_TRY(unet_gemm(ctx, 0, 0, (size_t)s->cout, n, kdim, 1.0f, weight.mem, weight.off, kdim, ws, 0, n,
                           0.0f, out, (size_t)r0 * (size_t)s->wo, ohw));
    }
    return unet_conv_bias_act(ctx, out, s->cout, ohw, bias, relu);
}

/* dweight.mem == NULL: din only. */
static unet_status im2col_backward(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout,
                                   unet_slice weight, cl_mem din, int din_accumulate, unet_slice dweight,
                                   int param_accumulate, cl_mem ws, size_t ws_floats)
{
    size_t ohw = (size_t)s->ho * (size_t)s->wo;
    if (s->k == 1) {
        size_t hw = (size_t)s->h * (size_t)s->w; /* == ohw */
        /* dW[cout][cin] (+)= dout[cout][hw] . in[cin][hw]^T */
        if (dweight.mem)
            UNET_TRY(unet_gemm(ctx, 0, 1, (size_t)s->cout, (size_t)s->cin, hw, 1.0f, dout, 0, hw, in, 0, hw,
                           param_accumulate ? 1.0f : 0.0f, dweight.mem, dweight.off, (size_t)s->cin));
        /* din[cin][hw] (+)= W[cout][cin]^T . dout[cout][hw] */
        if (din)
            UNET_TRY(unet_gemm(ctx, 1, 0, (size_t)s->cin, hw, (size_t)s->cout, 1.0f, weight.mem, weight.off,
                               (size_t)s->cin, dout, 0, hw, din_accumulate ? 1.0f : 0.0f, din, 0, hw));
        return UNET_OK;
    }
    int rows = 0;
    UNET_TRY(im2col_rows(ctx, s, ws_floats, &rows));
    size_t kdim = (size_t)s->cin * (size_t)(s->k * s->k);
    if (din && !din_accumulate)
        UNET_TRY(unet_buffer_fill(ctx, din, 0, (size_t)s->cin * (size_t)s->h * (size_t)s->w, 0.0f));
    /* CPU devices: the transposed column matrix (same GEMM products, same
     * summation order; B packed without a transposing scatter), except for a
     * column matrix of at most 64 rows (one or a few input channels), whose
     * weight gradient, a long-K GEMM with a small C, is summed along the rows
     * of the plain one (unet_gemm's long-K path, UNETCL_GEMM_KRED).
     * UNETCL_IM2COL_NOT set: the plain column matrix (benchmarks). */
    const int colT = ctx->info.type == UNET_DEVICE_CPU && s->k == 3 && !ctx->knobs.im2col_not &&
                     !(s->cin * 9 <= 64 && ctx->knobs.gemm_kred != 0);
    for (int r0 = 0; r0 < s->ho; r0 += rows) {
        int r1 = r0 + rows < s->ho ? r0 + rows : s->ho;
        size_t n = (size_t)(r1 - r0) * (size_t)s->wo;
        size_t doff = (size_t)r0 * (size_t)s->wo;
        float beta = (r0 == 0 && !param_accumulate) ? 0.0f : 1.0f;
        if (!dweight.mem) {
            /* din only (dW done by the caller) */
        } else if (colT) {
            /* dW[cout][kdim] (+)= dout[:, chunk] . colT[n][kdim] */
            UNET_TRY(run_im2colT(ctx, s, in, r0, r1, ws));
            UNET_TRY(unet_gemm(ctx, 0, 0, (size_t)s->cout, kdim, n, 1.0f, dout, doff, ohw, ws, 0, kdim, beta,
                               dweight.mem, dweight.off, kdim));
        } else {
            /* dW[cout][kdim] (+)= dout[:, chunk] . col^T */
            UNET_TRY(run_im2col(ctx, s, in, r0, r1, ws));
            UNET_TRY(unet_gemm(ctx, 0, 1, (size_t)s->cout, kdim, n, 1.0f, dout, doff, ohw, ws, 0, n, beta,
                               dweight.mem, dweight.off, kdim));
        }
        if (din) {
            /* dcol[kdim][n] = W^T . dout[:, chunk], then scatter-free col2im */
            UNET_TRY(unet_gemm(ctx, 1, 0, kdim, n, (size_t)s->cout, 1.0f, weight.mem, weight.off, kdim, dout,
                               doff, ohw, 0.0f, ws, 0, n));
            UNET_TRY(run_col2im(ctx, s, ws, r0, r1, din));
        }
    }
    return UNET_OK;
}

/* The largest temporary buffer CLBlast needs for one of the GEMMs the
 * im2col path issues for this layer (forward; with training also the weight
 * and input gradients), with the chunks a workspace of ws_floats gives; 0 on
 * the CPU GEMM path. Weight offsets are taken as 0 (the plan does not know
 * where the parameters lie; gemm.c grows the buffer if a call needs more). */
static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

size_t unet_conv_blas_temp_bytes(const unet_context *ctx, int cin, int h, int w, int k, int cout, size_t ws_floats,
                                 int training)
{
    if (cin <= 0 || cout <= 0 || h < k || w < k || (k != 1 && k != 3)) return 0;
    const conv_shape s = {cin, h, w, k, cout, h - k + 1, w - k + 1};
    const size_t ohw = (size_t)s.ho * (size_t)s.wo, ci = (size_t)cin, co = (size_t)cout;
    size_t t = 0;
    if (k == 1) {
        t = unet_gemm_blas_temp_bytes(ctx, 0, 0, co, ohw, ci, 0, ci, 0, ohw, 0, ohw);
        if (training) {
            t = max_sz(t, unet_gemm_blas_temp_bytes(ctx, 0, 1, co, ci, ohw, 0, ohw, 0, ohw, 0, ci));
            t = max_sz(t, unet_gemm_blas_temp_bytes(ctx, 1, 0, ci, ohw, co, 0, ci, 0, ohw, 0, ohw));
        }
        return t;
    }
    const size_t row = im2col_row_floats(&s);
    size_t rows = ws_floats / row;
    if (rows == 0) return 0;
    if (rows > (size_t)s.ho) rows = (size_t)s.ho;
    const size_t kdim = ci * 9;
    const int colT = ctx->info.type == UNET_DEVICE_CPU && !ctx->knobs.im2col_not;
    for (size_t r0 = 0; r0 < (size_t)s.ho; r0 += rows) {
        const size_t r1 = r0 + rows < (size_t)s.ho ? r0 + rows : (size_t)s.ho;
        const size_t n = (r1 - r0) * (size_t)s.wo, off = r0 * (size_t)s.wo;
        t = max_sz(t, unet_gemm_blas_temp_bytes(ctx, 0, 0, co, n, kdim, 0, kdim, 0, n, off, ohw));
        if (!training) continue;
        t = max_sz(t, colT ? unet_gemm_blas_temp_bytes(ctx, 0, 0, co, kdim, n, off, ohw, 0, kdim, 0, kdim)
                           : unet_gemm_blas_temp_bytes(ctx, 0, 1, co, kdim, n, off, ohw, 0, n, 0, kdim));
        t = max_sz(t, unet_gemm_blas_temp_bytes(ctx, 1, 0, kdim, n, co, 0, kdim, off, ohw, 0, n));
    }
    return t;
}

/* Winograd on CPU devices for 3x3 layers with enough input channels (the
 * first layer, cin = 1, would make K = 1 GEMMs) and enough 4x4 tiles to
 * amortize the weight transform (36 cin x cout blocks per call). Measured on
 * the 2-core AVX-512 PoCL machine (bench_conv, medians, side by side):
 * speed-up over im2col + GEMM 2.3x at 256ch 168x168, 1.9x 256ch 134x134,
 * 1.55x 512ch 80x80, 1.3x 1024->512 70x70, 1.2-1.4x at 196 tiles
 * (1024->512 56x56, 512ch 54x54; the weight gradient 1.2-1.45x there), but
 * 0.5-0.8x at 49-100 tiles (1024ch 30x30 to 36x36, 512->1024 32x32 to
 * 38x38; the weight gradient 1.0x at 49-64 tiles). In a 572 training step
 * the threshold 144 instead of 200 moves dec4 (196 tiles) onto Winograd:
 * its four passes 490 -> 290 ms (bench_unet --profile, side by side).
 * On the Xeon (2026-12, after the weight transform and the GEMM's B layout
 * improved) Winograd also won the forward at 49-64 tiles with the weights
 * transformed every call: 512->1024 32x32 35-37 vs 50-52 ms, 1024->1024
 * 30x30 65-68 vs 85-96 ms (bench_conv, two rounds); the weight gradient
 * there was even (0.85-1.1x). A 572 training step with the threshold 36
 * instead of 144 (enc5 on Winograd), 3 interleaved pairs: 3354/3480,
 * 3064/3522, 3386/3542 ms. So: 36 tiles for the forward and the input
 * gradient, 144 for the weight gradient.
 * UNETCL_CONV_ALGO=im2col|winograd overrides (benchmarks). */
#define WINO_MIN_CIN 8
#define WINO_MIN_TILES 36
#define WGRAD_MIN_TILES 144

/* The knob UNETCL_WINO_MIN_TILES (tuning, benchmarks) overrides the tile
 * threshold of both choices. */
static size_t wino_min_tiles(const unet_context *ctx, size_t dflt)
{
    return ctx->knobs.wino_min_tiles >= 0 ? (size_t)ctx->knobs.wino_min_tiles : dflt;
}

/* -- Winograd F(4x4, 3x3), forward and input gradient (src/cl/winograd.cl) --
 * Workspace: the transformed weights U (36 packed A operands), then per chunk
 * of tile rows the transformed input V (36 packed B operands) and the GEMM
 * results M[36][cout][T]; chunks are as many tile rows as fit the workspace
 * given. If not even one tile row fits, im2col + GEMM does the layer. */

#define WINO_ALIGN(x) (((x) + 15) / 16 * 16)

typedef struct wino_plan {
    int mr, ntx, nty, ntxp; /* ntxp: tiles per tile row in the numbering (ntx, or ntx rounded up to tw) */
    int tw;                 /* tiles per transform work-item: 16, or 8 (UNETCL_WINO_TW) */
    int fused;              /* one fused kernel (wino_fused*, padded 16-tile numbering) */
    int dense;              /* separate kernels on the dense numbering (wino_input16d, wino_output16d) */
    size_t mpad, a_stride, u_floats;
} wino_plan;

/* Local scratch of the fused kernel (wino_fused*): the panel's transformed
 * input and the GEMM results of one row panel. */
static size_t wino_fused_bytes(const conv_shape *s, const wino_plan *p)
{
    return (36 * (size_t)s->cin * 32 + (size_t)p->mr * 36 * 32) * sizeof(float);
}

/* The fused kernel where its scratch fits local memory and, by default,
 * where the layer has few input channels: there the separate kernels move V
 * and M through memory for little arithmetic per byte, and the panel's V
 * (36 x cin x 32 floats, 576 KiB at 128) stays in L2. bench_conv on the Xeon,
 * two interleaved rounds, fused vs separate: 64->64 698x698 85-90 vs 132-158
 * ms, 128->64 698x698 169-191 vs 233-279, 128->128 345x345 78-79 vs 86-90,
 * 128->256 170x170 33-35 vs 41-47; at 256 input channels mixed (256->256
 * 170x170 59-82 vs 71-75, 256->128 345x345 164-239 vs 159-164).
 * UNETCL_WINO_FUSED=0|1 overrides. */
#define FUSED_MAX_CIN 128
static int wino_use_fused(const unet_context *ctx, const conv_shape *s, const wino_plan *p)
{
    if (p->tw != 16 || ctx->knobs.wino_fused == 0) return 0;
    if (wino_fused_bytes(s, p) > ctx->info.local_mem_bytes) return 0;
    if (ctx->knobs.wino_fused == 1) return 1;
    return s->cin <= FUSED_MAX_CIN;
}

static void wino_plan_make(const unet_context *ctx, const conv_shape *s, wino_plan *p)
{
    p->mr = unet_gemm_cpu_mr((size_t)s->cout);
    p->mpad = ((size_t)s->cout + (size_t)p->mr - 1) / (size_t)p->mr * (size_t)p->mr;
    p->a_stride = p->mpad * (size_t)s->cin;
    p->u_floats = WINO_ALIGN(36 * p->a_stride);
    p->ntx = (s->wo + 3) / 4;
    p->nty = (s->ho + 3) / 4;
    /* The separate kernels number the tiles densely unless UNETCL_WINO_TW=8|16
     * forces the row-padded numbering with 8- or 16-tile work-items (tuning,
     * tests, benchmarks); the fused kernel keeps the 16-padded one. Dense
     * against the former rule (16, or 8 where that padded fewer tiles, for
     * layers of at least 256x256 channels), bench_unet --ab in one process on
     * the Xeon: inference 7.1 % faster (median of 8 pairs), training step
     * 4.6 % (5 pairs); bench_conv, 256->512 84x84 .. 256->128 264x264, nine
     * layers: 618-694 ms against 731-775 for the better of 8 and 16. */
    p->tw = (ctx->knobs.wino_tw == 8) ? 8 : 16;
    p->ntxp = (p->ntx + p->tw - 1) / p->tw * p->tw;
    p->fused = wino_use_fused(ctx, s, p);
    p->dense = !p->fused && ctx->knobs.wino_tw != 8 && ctx->knobs.wino_tw != 16;
    if (p->dense) p->ntxp = p->ntx;
}

static size_t wino_chunk_floats(const conv_shape *s, const wino_plan *p, size_t rows)
{
    const size_t t = rows * (size_t)p->ntxp, tpad = (t + 31) / 32 * 32;
    return WINO_ALIGN(36 * (size_t)s->cin * tpad) + WINO_ALIGN(36 * (size_t)s->cout * tpad);
}

/* Tile rows per chunk that fit ws_floats (0: none). */
static int wino_rows(const conv_shape *s, const wino_plan *p, size_t ws_floats)
{
    if (ws_floats <= p->u_floats) return 0;
    const size_t avail = ws_floats - p->u_floats;
    size_t per_row = wino_chunk_floats(s, p, 1);
    size_t r = avail / per_row + 1;
    if (r > (size_t)p->nty) r = (size_t)p->nty;
    while (r > 0 && wino_chunk_floats(s, p, r) > avail) r--;
    /* 32-bit tile indices in the kernels */
    while (r > 0 && r * (size_t)p->ntxp * 36 > (size_t)INT_MAX / 64) r--;
    return (int)r;
}

/* Tile rows per Winograd chunk (forward, input gradient, weight gradient):
 * at most rows, about 8 MiB of the chunk's data (row_floats per tile row) but
 * at least min_floats' worth; the knob UNETCL_WINO_CHUNK_KB sets the size
 * instead (tuning; 0: as many rows as the workspace holds). At least 1. */
static size_t chunk_rows_cap(const unet_context *ctx, size_t rows, size_t row_floats, size_t min_floats)
{
    const long kb = ctx->knobs.wino_chunk_kb;
    size_t cap = kb >= 0 ? (size_t)kb * 256 : (size_t)2 << 20;
    if (kb < 0 && cap < min_floats) cap = min_floats;
    if (cap) {
        size_t r = cap / row_floats;
        if (r < 1) r = 1;
        if (r < rows) rows = r;
    }
    return rows;
}

/* One Winograd convolution. s: the logical problem (s->h, s->w: the input
 * after zero-padding by pad on every side); in holds the unpadded input
 * (s->h - 2*pad rows). flip: the adjoint convolution (weight [s->cin][s->cout]
 * rotated by 180 degrees). accumulate: out += result (bias and relu unused).
 * Returns UNET_ERR_DOES_NOT_FIT (without error text) if the workspace cannot
 * hold one tile row. */
static unet_status wino_run(unet_context *ctx, const conv_shape *s, cl_mem in, int pad, unet_slice weight, int flip,
                            unet_slice bias, int relu, int accumulate, cl_mem out, cl_mem ws, size_t ws_floats,
                            unet_conv_wcache *wc, uint64_t version)
{
    wino_plan p;
    wino_plan_make(ctx, s, &p);
    int rows = wino_rows(s, &p, ws_floats);
    if (rows == 0) return UNET_ERR_DOES_NOT_FIT;
    /* Chunks small enough that V and M stay in cache between the input
     * transform, the GEMM and the output transform (measured: 1.6x on 64ch
     * 696x696 with 8 MiB chunks), but at least 4x the transformed weights,
     * which every chunk reads again (512ch 80x80: 1-row chunks were 1.2x
     * slower). */
    rows = (int)chunk_rows_cap(ctx, (size_t)rows, wino_chunk_floats(s, &p, 1), 4 * p.u_floats);

    /* Transformed weights: from the cache when it holds these weights at this
     * version, else transformed into the cache (allocated on first use) or,
     * without a cache, into the workspace. */
    cl_mem umem = ws;
    int transform = 1;
    if (wc && !flip) {
        const size_t need = 36 * p.a_stride + 64; /* the packed GEMM needs 1 float past the last block */
        if (wc->mem && wc->floats >= need && wc->version == version && version != 0 && wc->src == weight.mem &&
            wc->src_off == weight.off && wc->cin == s->cin && wc->cout == s->cout && wc->mr == p.mr) {
            transform = 0;
        } else {
            if (wc->mem && wc->floats < need) unet_conv_wcache_release(wc);
            if (!wc->mem) {
                UNET_TRY(unet_buffer_alloc(ctx, &wc->mem, need * 4, "cached Winograd weights"));
                wc->floats = need;
            }
            wc->version = 0; /* until the transform below is enqueued */
        }
        umem = wc->mem;
    }
    cl_kernel kw, ki, ko;
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_weights", &kw));
    const char *kin = p.dense ? "wino_input16d" : p.tw == 8 ? "wino_input8" : "wino_input16",
               *kout = p.dense ? "wino_output16d" : p.tw == 8 ? "wino_output8" : "wino_output16";
    UNET_TRY(unet_kernel_get(ctx, "winograd", kin, &ki));
    UNET_TRY(unet_kernel_get(ctx, "winograd", kout, &ko));
    if (transform) {
        const cl_int woff = (cl_int)weight.off, cin = s->cin, cout = s->cout, mr = p.mr,
                     mpad = (cl_int)(p.mpad / (size_t)p.mr), iflip = flip ? 1 : 0; /* row panels */
        const cl_ulong uoff = 0, ast = p.a_stride;
        UNET_CL_TRY(UNET_SET_ARGS(kw, unet_arg_mem(weight.mem), unet_arg_int(woff), unet_arg_int(cin),
                                  unet_arg_int(cout), unet_arg_int(mr), unet_arg_int(mpad), unet_arg_mem(umem),
                                  unet_arg_ulong(uoff), unet_arg_ulong(ast), unet_arg_int(iflip)),
                    "setting arguments of kernel wino_weights");
        const size_t g[2] = {((size_t)s->cin + 15) / 16, p.mpad / (size_t)p.mr}, l[2] = {1, 1}; /* WW_CI */
        UNET_TRY(unet_enqueue(ctx, kw, "wino_weights", 2, g, l));
        if (umem != ws) {
            wc->version = version;
            wc->src = weight.mem;
            wc->src_off = weight.off;
            wc->cin = s->cin;
            wc->cout = s->cout;
            wc->mr = p.mr;
        }
    }
    if (p.fused) {
        cl_kernel kf;
        const char *kname = p.mr == 12 ? "wino_fused12" : "wino_fused8";
        UNET_TRY(unet_kernel_get(ctx, "winograd", kname, &kf));
        const size_t t = (size_t)p.nty * (size_t)p.ntxp, npanels = (t + 31) / 32;
        UNET_TRY(unet_conv_check_int(t, "the Winograd tiles of one layer"));
        const cl_int h = s->h - 2 * pad, w = s->w - 2 * pad, cin = s->cin, ipad = pad, ity0 = 0, inty = p.nty,
                     intxp = p.ntxp, cout = s->cout, ho = s->ho, wo = s->wo,
                     boff = bias.mem ? (cl_int)bias.off : -1, r = relu ? 1 : 0, acc = accumulate ? 1 : 0;
        const cl_ulong ast = p.a_stride;
        cl_mem bmem = bias.mem ? bias.mem : out;
        UNET_CL_TRY(UNET_SET_ARGS(kf, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(cin),
                                  unet_arg_int(ipad), unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intxp),
                                  unet_arg_mem(umem), unet_arg_ulong(ast), unet_arg_int(cout), unet_arg_int(ho),
                                  unet_arg_int(wo), unet_arg_mem(bmem), unet_arg_int(boff), unet_arg_int(r),
                                  unet_arg_mem(out), unet_arg_int(acc), unet_arg_local(wino_fused_bytes(s, &p))),
                    "setting arguments of the fused Winograd kernel");
        const size_t g[1] = {npanels}, l[1] = {1};
        return unet_enqueue(ctx, kf, kname, 1, g, l);
    }
    const int vplain = ctx->knobs.wino_vlayout != 2;
    for (int ty0 = 0; ty0 < p.nty; ty0 += rows) {
        const int nty = (p.nty - ty0 < rows) ? p.nty - ty0 : rows;
        const size_t t = (size_t)nty * (size_t)p.ntxp, npanels = (t + 31) / 32, tpad = npanels * 32;
        const size_t v_off = p.u_floats, b_stride = (size_t)s->cin * tpad;
        /* V as [e][q][c][32] (the GEMM reads each 32-tile B panel as one
         * contiguous run: 5-11 % faster inference and training steps on the
         * Xeon, 3 of 3 interleaved pairs) or, UNETCL_WINO_VLAYOUT=interleaved,
         * [q][c][e][32] (each transform work-item writes one run) */
        const size_t c_str = vplain ? 32 : 36 * 32, e_str = vplain ? b_stride : 32;
        /* GEMM results: [cout][panel][36][32] (see wino_output16) */
        const size_t m_off = v_off + WINO_ALIGN(36 * b_stride), ldm = npanels * 36 * 32;
        {
            const cl_int h = s->h - 2 * pad, w = s->w - 2 * pad, cin = s->cin, ity0 = ty0, inty = nty,
                         intxp = p.ntxp, ipad = pad;
            const cl_ulong vo = v_off, cs = c_str, es = e_str;
            UNET_CL_TRY(UNET_SET_ARGS(ki, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(cin),
                                      unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intxp), unet_arg_mem(ws),
                                      unet_arg_ulong(vo), unet_arg_ulong(cs), unet_arg_ulong(es), unet_arg_int(ipad)),
                        "setting arguments of the Winograd input transform");
            const size_t gd[3] = {2 * npanels, 1, (size_t)s->cin}, l[3] = {1, 1, 1};
            const size_t g[3] = {(size_t)(p.ntxp / p.tw), (size_t)nty, (size_t)s->cin};
            UNET_TRY(unet_enqueue(ctx, ki, kin, 3, p.dense ? gd : g, l));
        }
        UNET_TRY(unet_gemm_cpu_packed_batched(ctx, p.mr, (size_t)s->cout, t, (size_t)s->cin, 36, umem, 0,
                                              p.a_stride, ws, v_off, e_str, (size_t)s->cin * c_str, c_str, ws,
                                              m_off, 32, ldm, 36 * 32, 0.0f));
        {
            const cl_ulong mo = m_off, ms = ldm;
            cl_mem bmem = bias.mem ? bias.mem : out;
            const cl_int ity0 = ty0, inty = nty, intx = p.ntxp, cout = s->cout, ho = s->ho, wo = s->wo,
                         boff = bias.mem ? (cl_int)bias.off : -1, r = relu ? 1 : 0, acc = accumulate ? 1 : 0;
            UNET_CL_TRY(UNET_SET_ARGS(ko, unet_arg_mem(ws), unet_arg_ulong(mo), unet_arg_ulong(ms),
                                      unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intx), unet_arg_int(cout),
                                      unet_arg_int(ho), unet_arg_int(wo), unet_arg_mem(bmem), unet_arg_int(boff),
                                      unet_arg_int(r), unet_arg_mem(out), unet_arg_int(acc)),
                        "setting arguments of the Winograd output transform");
            const size_t gd[3] = {(t + 15) / 16, 1, (size_t)s->cout}, l[3] = {1, 1, 1};
            const size_t g[3] = {(size_t)(p.ntxp / p.tw), (size_t)nty, (size_t)s->cout};
            UNET_TRY(unet_enqueue(ctx, ko, kout, 3, p.dense ? gd : g, l));
        }
    }
    return UNET_OK;
}

static unet_status wino_forward_cached(unet_context *ctx, const conv_shape *s, cl_mem in, unet_slice weight,
                                       unet_slice bias, int relu, cl_mem out, cl_mem ws, size_t ws_floats,
                                       unet_conv_wcache *wc, uint64_t version)
{
    if (s->k == 3) {
        unet_status st = wino_run(ctx, s, in, 0, weight, 0, bias, relu, 0, out, ws, ws_floats, wc, version);
        if (st != UNET_ERR_DOES_NOT_FIT) return st;
    }
    return im2col_forward(ctx, s, in, weight, bias, relu, out, ws, ws_floats);
}

static unet_status wino_forward(unet_context *ctx, const conv_shape *s, cl_mem in, unet_slice weight,
                                unet_slice bias, int relu, cl_mem out, cl_mem ws, size_t ws_floats)
{
    return wino_forward_cached(ctx, s, in, weight, bias, relu, out, ws, ws_floats, NULL, 0);
}

void unet_conv_wcache_release(unet_conv_wcache *wc)
{
    if (!wc) return;
    if (wc->mem) clReleaseMemObject(wc->mem);
    memset(wc, 0, sizeof *wc);
}

/* dW (+)= G^T C_e G from the sums C[36][cout][cin] at the start of ws, the
 * sum of nparts parts of 36*cout*cin floats each (in order) */
static unet_status wgrad_weights_parts(unet_context *ctx, const conv_shape *s, cl_mem ws, unet_slice dweight,
                                       int param_accumulate, int nparts)
{
    cl_kernel kw;
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_wgrad_weights", &kw));
    const cl_ulong co = 0, cs = (cl_ulong)s->cout * (cl_ulong)s->cin, ps = 36 * cs;
    const cl_int cin = s->cin, cout = s->cout, dwo = (cl_int)dweight.off, acc = param_accumulate ? 1 : 0,
                 np = nparts;
    UNET_CL_TRY(UNET_SET_ARGS(kw, unet_arg_mem(ws), unet_arg_ulong(co), unet_arg_ulong(cs), unet_arg_int(cin),
                              unet_arg_int(cout), unet_arg_mem(dweight.mem), unet_arg_int(dwo), unet_arg_int(acc),
                              unet_arg_int(np), unet_arg_ulong(ps)),
                "setting arguments of kernel wino_wgrad_weights");
    const size_t g[2] = {((size_t)s->cin + 15) / 16, (size_t)s->cout}, l[2] = {1, 1};
    return unet_enqueue(ctx, kw, "wino_wgrad_weights", 2, g, l);
}

static unet_status wgrad_weights(unet_context *ctx, const conv_shape *s, cl_mem ws, unet_slice dweight,
                                 int param_accumulate)
{
    return wgrad_weights_parts(ctx, s, ws, dweight, param_accumulate, 1);
}

typedef struct wgrad_plan {
    int ntx, nty, ntxp;
    size_t c_floats, row_floats; /* row_floats: U + V of one tile row */
} wgrad_plan;

static void wgrad_plan_make(const conv_shape *s, wgrad_plan *p)
{
    p->ntx = (s->wo + 3) / 4;
    p->nty = (s->ho + 3) / 4;
    p->ntxp = (p->ntx + 15) / 16 * 16;
    p->c_floats = WINO_ALIGN(36 * (size_t)s->cout * (size_t)s->cin);
    p->row_floats = 36 * ((size_t)s->cin + (size_t)s->cout) * (size_t)p->ntxp;
}

/* Floats of U and V for a chunk of T tiles (panels of 32) */
static size_t wgrad_chunk_floats(const conv_shape *s, size_t t)
{
    const size_t tpad = (t + 31) / 32 * 32;
    return WINO_ALIGN(36 * (size_t)s->cin * tpad) + WINO_ALIGN(36 * (size_t)s->cout * tpad);
}

/* Winograd weight gradient as dot products along the tiles (src/cl/winograd.cl,
 * "weight gradient by dot products"). Workspace: C[36][cout][cin], then per
 * chunk of tile rows U and V in the plain layout; the chunks accumulate into C
 * (beta = 1 after the first). UNET_ERR_DOES_NOT_FIT (no error text) if C and
 * one tile row do not fit. */
static unet_status wino_wgrad_dot(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout, unet_slice dweight,
                                  int param_accumulate, cl_mem ws, size_t ws_floats)
{
    wgrad_plan p;
    wgrad_plan_make(s, &p);
    if (ws_floats < p.c_floats + wgrad_chunk_floats(s, (size_t)p.ntxp)) return UNET_ERR_DOES_NOT_FIT;
    size_t rows = (ws_floats - p.c_floats) / p.row_floats;
    rows = chunk_rows_cap(ctx, rows, p.row_floats, p.c_floats); /* at least C: see wino_wgrad_packed */
    if (rows > (size_t)p.nty) rows = (size_t)p.nty;
    while (rows > 1 && p.c_floats + wgrad_chunk_floats(s, rows * (size_t)p.ntxp) > ws_floats) rows--;
    while (rows > 1 && rows * (size_t)p.ntxp * 36 * ((size_t)s->cin + (size_t)s->cout) > (size_t)INT_MAX / 2) rows--;
    UNET_TRY(unet_conv_check_int(36 * (size_t)s->cout * (size_t)s->cin, "the Winograd weight-gradient sums"));
    cl_kernel ku, kv, kd;
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_input16", &ku));
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_wgrad_dout_t16", &kv));
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_wgrad_dot", &kd));
    for (int ty0 = 0; ty0 < p.nty; ty0 += (int)rows) {
        const int nty = (p.nty - ty0 < (int)rows) ? p.nty - ty0 : (int)rows;
        const size_t t = (size_t)nty * (size_t)p.ntxp, tpad = (t + 31) / 32 * 32;
        const size_t u_off = p.c_floats, v_off = u_off + WINO_ALIGN(36 * (size_t)s->cin * tpad);
        const cl_int ity0 = ty0, inty = nty, intxp = p.ntxp;
        {
            /* the forward's input transform, valid (pad 0), plain layout */
            const cl_int h = s->h, w = s->w, cin = s->cin, pad = 0;
            const cl_ulong uo = u_off, cs = 32, es = (cl_ulong)s->cin * tpad;
            UNET_CL_TRY(UNET_SET_ARGS(ku, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(cin),
                                      unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intxp), unet_arg_mem(ws),
                                      unet_arg_ulong(uo), unet_arg_ulong(cs), unet_arg_ulong(es), unet_arg_int(pad)),
                        "setting arguments of the Winograd input transform (weight gradient)");
            const size_t g[3] = {(size_t)p.ntxp / 16, (size_t)nty, (size_t)s->cin}, l[3] = {1, 1, 1};
            UNET_TRY(unet_enqueue(ctx, ku, "wino_input16", 3, g, l));
        }
        {
            const cl_int ho = s->ho, wo = s->wo, cout = s->cout;
            const cl_ulong vo = v_off, es = (cl_ulong)s->cout * tpad;
            UNET_CL_TRY(UNET_SET_ARGS(kv, unet_arg_mem(dout), unet_arg_int(ho), unet_arg_int(wo), unet_arg_int(cout),
                                      unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intxp), unet_arg_mem(ws),
                                      unet_arg_ulong(vo), unet_arg_ulong(es)),
                        "setting arguments of kernel wino_wgrad_dout_t16");
            const size_t g[3] = {(size_t)p.ntxp / 16, (size_t)nty, (size_t)s->cout}, l[3] = {1, 1, 1};
            UNET_TRY(unet_enqueue(ctx, kv, "wino_wgrad_dout_t16", 3, g, l));
        }
        {
            const cl_ulong uo = u_off, vo = v_off, tp = tpad, co = 0;
            const cl_int cin = s->cin, cout = s->cout, T = (cl_int)t;
            const cl_float beta = ty0 == 0 ? 0.0f : 1.0f;
            UNET_CL_TRY(UNET_SET_ARGS(kd, unet_arg_mem(ws), unet_arg_ulong(uo), unet_arg_mem(ws), unet_arg_ulong(vo),
                                      unet_arg_int(cin), unet_arg_int(cout), unet_arg_int(T), unet_arg_ulong(tp),
                                      unet_arg_mem(ws), unet_arg_ulong(co), unet_arg_float(beta)),
                        "setting arguments of kernel wino_wgrad_dot");
            const size_t g[3] = {((size_t)s->cin + 5) / 6, ((size_t)s->cout + 3) / 4, 36}, l[3] = {1, 1, 1}; /* WD_CI, WD_CO */
            UNET_TRY(unet_enqueue(ctx, kd, "wino_wgrad_dot", 3, g, l));
        }
    }
    return wgrad_weights(ctx, s, ws, dweight, param_accumulate);
}

/* Winograd weight gradient as packed GEMMs (src/cl/winograd.cl, "weight gradient"):
 * dW[co][ci] (+)= G^T [sum over 4x4 output tiles of (A dY A^T) (.) (B^T X B)] G.
 * Workspace: C[36][cout][cin] (the sums), then per chunk of tile rows the
 * transformed output gradient V (36 packed A operands, K = tiles) and input U
 * (36 packed B operands). The chunks' GEMMs accumulate into C (beta = 1 after
 * the first). Returns UNET_ERR_DOES_NOT_FIT (no error text) if C and one tile
 * row do not fit the workspace. */
typedef struct wgrad_pplan {
    int mr, ntx, nty;
    size_t mpad, npad, c_floats, row_floats; /* row_floats: V + U of one tile row */
} wgrad_pplan;

static void wgrad_pplan_make(const conv_shape *s, wgrad_pplan *p)
{
    p->mr = unet_gemm_cpu_mr((size_t)s->cout);
    p->mpad = ((size_t)s->cout + (size_t)p->mr - 1) / (size_t)p->mr * (size_t)p->mr;
    p->npad = ((size_t)s->cin + 31) / 32 * 32;
    p->ntx = (s->wo + 3) / 4;
    p->nty = (s->ho + 3) / 4;
    p->c_floats = WINO_ALIGN(36 * (size_t)s->cout * (size_t)s->cin);
    p->row_floats = 36 * (p->mpad + p->npad) * (size_t)p->ntx;
}

static unet_status wino_wgrad_packed(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout, unet_slice dweight,
                              int param_accumulate, cl_mem ws, size_t ws_floats)
{
    wgrad_pplan p;
    wgrad_pplan_make(s, &p);
    const size_t slack = 64; /* the packed GEMM reads one float past an operand's last block */
    if (ws_floats < p.c_floats + p.row_floats + 2 * slack) return UNET_ERR_DOES_NOT_FIT;
    size_t rows = (ws_floats - p.c_floats - 2 * slack) / p.row_floats;
    /* chunks that stay in cache between the transforms and the products, but
     * at least as large as the sums C, which every chunk after the first
     * reads and writes again: at 512 x 512 channels C is 36 MiB, and 8 MiB
     * chunks meant six passes over it (bench_unet --ab against 8 MiB chunks
     * on the Xeon: training step B/A 0.934, 6 pairs, and 0.965, 8 of 8 pairs
     * faster) */
    rows = chunk_rows_cap(ctx, rows, p.row_floats, p.c_floats);
    if (rows > (size_t)p.nty) rows = (size_t)p.nty;
    while (rows > 1 && rows * (size_t)p.ntx * 36 * (p.mpad + p.npad) > (size_t)INT_MAX / 2) rows--;
    UNET_TRY(unet_conv_check_int(36 * (size_t)s->cout * (size_t)s->cin, "the Winograd weight-gradient sums"));
    cl_kernel ku, kv;
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_wgrad_input16", &ku));
    UNET_TRY(unet_kernel_get(ctx, "winograd", "wino_wgrad_dout16", &kv));
    const size_t c_stride = (size_t)s->cout * (size_t)s->cin;
    for (int ty0 = 0; ty0 < p.nty; ty0 += (int)rows) {
        const int nty = (p.nty - ty0 < (int)rows) ? p.nty - ty0 : (int)rows;
        const size_t kc = (size_t)nty * (size_t)p.ntx;
        const size_t a_stride = p.mpad * kc, b_stride = p.npad * kc;
        const size_t v_off = p.c_floats, u_off = v_off + WINO_ALIGN(36 * a_stride + slack);
        const cl_int ity0 = ty0, inty = nty, intx = p.ntx, ikc = (cl_int)kc;
        {
            const cl_int h = s->h, w = s->w, cin = s->cin;
            const cl_ulong uo = u_off, bs = b_stride;
            UNET_CL_TRY(UNET_SET_ARGS(ku, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(cin),
                                      unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intx), unet_arg_int(ikc),
                                      unet_arg_mem(ws), unet_arg_ulong(uo), unet_arg_ulong(bs)),
                        "setting arguments of kernel wino_wgrad_input16");
            const size_t g[3] = {p.npad / 16, ((size_t)p.ntx + 15) / 16, (size_t)nty}, l[3] = {1, 1, 1};
            UNET_TRY(unet_enqueue(ctx, ku, "wino_wgrad_input16", 3, g, l));
        }
        {
            const cl_int ho = s->ho, wo = s->wo, cout = s->cout, mr = p.mr;
            const cl_ulong vo = v_off, as = a_stride;
            UNET_CL_TRY(UNET_SET_ARGS(kv, unet_arg_mem(dout), unet_arg_int(ho), unet_arg_int(wo), unet_arg_int(cout),
                                      unet_arg_int(ity0), unet_arg_int(inty), unet_arg_int(intx), unet_arg_int(ikc),
                                      unet_arg_int(mr), unet_arg_mem(ws), unet_arg_ulong(vo), unet_arg_ulong(as)),
                        "setting arguments of kernel wino_wgrad_dout16");
            const size_t g[3] = {p.mpad / (size_t)p.mr, ((size_t)p.ntx + 15) / 16, (size_t)nty}, l[3] = {1, 1, 1};
            UNET_TRY(unet_enqueue(ctx, kv, "wino_wgrad_dout16", 3, g, l));
        }
        UNET_TRY(unet_gemm_cpu_packed_batched(ctx, p.mr, (size_t)s->cout, (size_t)s->cin, kc, 36, ws, v_off,
                                              a_stride, ws, u_off, b_stride, kc * 32, 32, ws, 0, c_stride,
                                              (size_t)s->cin, 32,
                                              ty0 == 0 ? 0.0f : 1.0f));
    }
    return wgrad_weights(ctx, s, ws, dweight, param_accumulate);
}

/* Winograd weight gradient in one fused kernel (src/cl/winograd.cl, "fused
 * weight gradient"): each of nparts work-items transforms its 32-tile panels'
 * input and output gradient into local scratch and adds the 36 products into
 * its own sums C_part[36][cout][cin] at the start of ws; wino_wgrad_weights
 * adds the parts in order. Two parts per compute unit (fewer where the layer
 * has fewer panels or the workspace holds fewer sums). UNET_ERR_DOES_NOT_FIT
 * (no error text) where the scratch exceeds local memory or not even one
 * part's sums fit the workspace. */
static size_t wgrad_fused_scratch_bytes(const conv_shape *s, int mr)
{
    const size_t npan = ((size_t)s->cin + 31) / 32, mpan = ((size_t)s->cout + (size_t)mr - 1) / (size_t)mr;
    return 36 * 32 * (32 * npan + (size_t)mr * mpan) * sizeof(float);
}

static unet_status wino_wgrad_fused(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout,
                                    unet_slice dweight, int param_accumulate, cl_mem ws, size_t ws_floats)
{
    const int mr = unet_gemm_cpu_mr((size_t)s->cout);
    const size_t scratch = wgrad_fused_scratch_bytes(s, mr);
    if (scratch > ctx->info.local_mem_bytes) return UNET_ERR_DOES_NOT_FIT;
    wgrad_plan p; /* the tile counts; rows padded to 16 tiles, as the fused kernel numbers them */
    wgrad_plan_make(s, &p);
    const size_t ttot = (size_t)p.nty * (size_t)p.ntxp, npanels = (ttot + 31) / 32;
    const size_t part_floats = 36 * (size_t)s->cout * (size_t)s->cin;
    size_t nparts = 2 * (size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    if (nparts > npanels) nparts = npanels;
    if (nparts > ws_floats / part_floats) nparts = ws_floats / part_floats;
    if (nparts == 0) return UNET_ERR_DOES_NOT_FIT;
    UNET_TRY(unet_conv_check_int(ttot + 32, "the Winograd tiles of one layer"));
    UNET_TRY(unet_conv_check_int(part_floats, "the Winograd weight-gradient sums"));
    cl_kernel k;
    const char *kname = mr == 12 ? "wino_wgrad_fused12" : "wino_wgrad_fused8";
    UNET_TRY(unet_kernel_get(ctx, "winograd", kname, &k));
    const cl_int h = s->h, w = s->w, cin = s->cin, ho = s->ho, wo = s->wo, cout = s->cout, inty = p.nty,
                 intxp = p.ntxp, np = (cl_int)nparts;
    const cl_ulong coff = 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(in), unet_arg_int(h), unet_arg_int(w), unet_arg_int(cin),
                              unet_arg_mem(dout), unet_arg_int(ho), unet_arg_int(wo), unet_arg_int(cout),
                              unet_arg_int(inty), unet_arg_int(intxp), unet_arg_int(np), unet_arg_mem(ws),
                              unet_arg_ulong(coff), unet_arg_local(scratch)),
                "setting arguments of the fused Winograd weight-gradient kernel");
    const size_t g[1] = {nparts}, l[1] = {1};
    UNET_TRY(unet_enqueue(ctx, k, kname, 1, g, l));
    return wgrad_weights_parts(ctx, s, ws, dweight, param_accumulate, (int)nparts);
}

/* The weight gradient: for layers of at most 64 x 128 channels the fused
 * kernel above (wino_wgrad_fused; bench_conv --wgrad, two interleaved rounds
 * against the choice below: 64->64 570x570 91-94 vs 121-138 ms, 128->64
 * 392x392 and 64->128 284x284 even; 128->128 282x282, where one part's sums
 * no longer stay in L2, 70-74 vs 52-70 ms; UNETCL_WGRAD_FUSED=0|1
 * overrides). Else packed GEMMs (transforms transposed into the GEMM's
 * K-major layouts, in registers) or, for layers with 64 x 64 channels or
 * fewer, dot products along the tiles (no transposition; its 4x6 register
 * blocks re-read the operands from L2, which costs more than the
 * transposition on wider layers). bench_conv --wgrad on the Xeon, two
 * interleaved rounds, dot vs packed: 64->64 570x570 106-122 vs 120-128 ms,
 * 64->128 284x284 56-58 vs 52-55, 128->64 392x392 120-124 vs 89-99,
 * 512->512 66x66 134-150 vs 68-79 (before the in-register transposes the
 * packed path was 161-222 ms at 64->64 and 128->64).
 * UNETCL_WGRAD_DOT=0|1 overrides. */
#define WGRAD_DOT_MAX (64 * 64)
#define WGRAD_FUSED_MAX (64 * 128)
static unet_status wino_wgrad(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout, unet_slice dweight,
                              int param_accumulate, cl_mem ws, size_t ws_floats)
{
    const long kf = ctx->knobs.wgrad_fused;
    if (kf == 1 || (kf == -1 && (size_t)s->cin * (size_t)s->cout <= WGRAD_FUSED_MAX)) {
        const unet_status st = wino_wgrad_fused(ctx, s, in, dout, dweight, param_accumulate, ws, ws_floats);
        if (st != UNET_ERR_DOES_NOT_FIT) return st;
    }
    const long kn = ctx->knobs.wgrad_dot;
    const int dot = kn == 1 || (kn == -1 && (size_t)s->cin * (size_t)s->cout <= WGRAD_DOT_MAX);
    return dot ? wino_wgrad_dot(ctx, s, in, dout, dweight, param_accumulate, ws, ws_floats)
               : wino_wgrad_packed(ctx, s, in, dout, dweight, param_accumulate, ws, ws_floats);
}

/* Winograd for dW on layers with enough input channels (N = cin of the
 * GEMMs, padded to 32) and output tiles; UNETCL_WGRAD=im2col|winograd
 * overrides (tests, benchmarks). */
static int wgrad_use_winograd(const unet_context *ctx, const conv_shape *s)
{
    if (s->k != 3) return 0;
    if (ctx->knobs.wgrad == UNET_ALGO_IM2COL) return 0;
    if (ctx->knobs.wgrad == UNET_ALGO_WINOGRAD) return 1;
    const size_t tiles = (size_t)((s->ho + 3) / 4) * (size_t)((s->wo + 3) / 4);
    return ctx->info.type == UNET_DEVICE_CPU && s->cin >= WINO_MIN_CIN && tiles >= wino_min_tiles(ctx, WGRAD_MIN_TILES);
}

/* Backward: dW by the Winograd weight gradient where it pays (else im2col
 * chunks + GEMM); din as the adjoint convolution (dout zero-padded by 2,
 * weights transposed and rotated) through Winograd. Either falls back to
 * im2col when the workspace is too small. */
static unet_status wino_backward(unet_context *ctx, const conv_shape *s, cl_mem in, cl_mem dout, unet_slice weight,
                                 cl_mem din, int din_accumulate, unet_slice dweight, int param_accumulate, cl_mem ws,
                                 size_t ws_floats)
{
    const conv_shape a = {s->cout, s->ho + 4, s->wo + 4, 3, s->cin, s->h, s->w};
    int dw_done = 0;
    if (dweight.mem && wgrad_use_winograd(ctx, s)) {
        unet_status st = wino_wgrad(ctx, s, in, dout, dweight, param_accumulate, ws, ws_floats);
        if (st != UNET_OK && st != UNET_ERR_DOES_NOT_FIT) return st;
        dw_done = st == UNET_OK;
    }
    const unet_slice none = {NULL, 0};
    wino_plan p;
    if (s->k == 3 && din) {
        wino_plan_make(ctx, &a, &p);
        if (wino_rows(&a, &p, ws_floats) > 0) {
            if (!dw_done)
                UNET_TRY(im2col_backward(ctx, s, in, dout, weight, NULL, 0, dweight, param_accumulate, ws, ws_floats));
            return wino_run(ctx, &a, dout, 2, weight, 1, none, 0, din_accumulate, din, ws, ws_floats, NULL, 0);
        }
    }
    if (dw_done && !din) return UNET_OK;
    return im2col_backward(ctx, s, in, dout, weight, din, din_accumulate, dw_done ? none : dweight,
                           param_accumulate, ws, ws_floats);
}

size_t unet_conv_winograd_workspace_floats(const unet_context *ctx, int cin, int cout, int h, int w, int tile_rows)
{
    if (cin <= 0 || cout <= 0 || h < 3 || w < 3 || tile_rows <= 0) return 0;
    conv_shape s = {cin, h, w, 3, cout, h - 2, w - 2};
    wino_plan p;
    wino_plan_make(ctx, &s, &p);
    return p.u_floats + wino_chunk_floats(&s, &p, (size_t)tile_rows);
}

static const conv_algo g_algos[UNET_CONV_ALGO_COUNT] = {
    [UNET_CONV_IM2COL_GEMM] = {"im2col+gemm", im2col_workspace, im2col_forward, im2col_backward},
    [UNET_CONV_WINOGRAD_F4] = {"winograd-f4", im2col_workspace, wino_forward, wino_backward},
};

static const conv_algo *select_algo(const unet_context *ctx, const conv_shape *s)
{
    if (s->k != 3) return &g_algos[UNET_CONV_IM2COL_GEMM];
    if (ctx->knobs.conv_algo == UNET_ALGO_IM2COL) return &g_algos[UNET_CONV_IM2COL_GEMM];
    if (ctx->knobs.conv_algo == UNET_ALGO_WINOGRAD) return &g_algos[UNET_CONV_WINOGRAD_F4];
    const size_t tiles = (size_t)((s->ho + 3) / 4) * (size_t)((s->wo + 3) / 4);
    const size_t min_tiles = wino_min_tiles(ctx, WINO_MIN_TILES); /* with cached transformed weights or without */
    if (ctx->info.type == UNET_DEVICE_CPU && s->cin >= WINO_MIN_CIN && tiles >= min_tiles)
        return &g_algos[UNET_CONV_WINOGRAD_F4];
    return &g_algos[UNET_CONV_IM2COL_GEMM];
}

/* Backward: Winograd does din as a 3x3 convolution of the padded dout with
 * cout input channels onto the h x w input grid. */
static const conv_algo *select_backward(const unet_context *ctx, const conv_shape *s)
{
    if (s->k != 3) return &g_algos[UNET_CONV_IM2COL_GEMM];
    if (ctx->knobs.conv_algo == UNET_ALGO_IM2COL) return &g_algos[UNET_CONV_IM2COL_GEMM];
    if (ctx->knobs.conv_algo == UNET_ALGO_WINOGRAD) return &g_algos[UNET_CONV_WINOGRAD_F4];
    const size_t tiles = (size_t)((s->h + 3) / 4) * (size_t)((s->w + 3) / 4);
    if (ctx->info.type == UNET_DEVICE_CPU && s->cout >= WINO_MIN_CIN && tiles >= wino_min_tiles(ctx, WINO_MIN_TILES))
        return &g_algos[UNET_CONV_WINOGRAD_F4];
    return &g_algos[UNET_CONV_IM2COL_GEMM];
}

unet_status unet_conv_forward_algo(unet_context *ctx, unet_conv_algo_id algo, const unet_tensor *in,
                                   unet_slice weight, unet_slice bias, int k, int relu, unet_tensor *out,
                                   cl_mem ws, size_t ws_floats)
{
    if ((int)algo < 0 || algo >= UNET_CONV_ALGO_COUNT)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv: unknown algorithm %d", (int)algo);
    return conv_forward_impl(ctx, &g_algos[algo], in, weight, bias, k, relu, out, ws, ws_floats, NULL, 0);
}

/* ---- public entry points ---------------------------------------------------- */

static unet_status make_shape(const unet_tensor *in, int cout, int k, conv_shape *s)
{
    if (!in) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv: input tensor is NULL");
    if (k != 1 && k != 3)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv: kernel size %d is not supported (use 1 or 3)", k);
    if (in->c <= 0 || in->h < k || in->w < k || cout <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "conv: input %dx%dx%d (-> %d channels) is too small for a %dx%d valid convolution",
                           in->c, in->h, in->w, cout, k, k);
    s->cin = in->c;
    s->h = in->h;
    s->w = in->w;
    s->k = k;
    s->cout = cout;
    s->ho = in->h - k + 1;
    s->wo = in->w - k + 1;
    UNET_TRY(unet_conv_check_int((size_t)s->cin * (size_t)s->h * (size_t)s->w, "the convolution input"));
    UNET_TRY(unet_conv_check_int((size_t)s->cout * (size_t)s->ho * (size_t)s->wo, "the convolution output"));
    return UNET_OK;
}

size_t unet_conv_workspace_floats(int cin, int h, int w, int k, size_t max_bytes)
{
    if (k == 1) return 0;
    if (cin <= 0 || k <= 0 || h < k || w < k) return 0; /* invalid: forward reports it */
    conv_shape s = {cin, h, w, k, 1, h - k + 1, w - k + 1};
    return im2col_workspace(&s, max_bytes);
}

/* Direct 3x3 forward for few input channels on CPU devices (the first
 * layer, cin = 1: im2col + GEMM there has K = 9 and writes a 9x larger column
 * matrix; measured 28 ms with im2col at 1 -> 64 channels 700x700). Used by
 * default (not through an algorithm id); UNETCL_CONV_ALGO set turns it off. */
#define DIRECT_MAX_CIN 4

static unet_status direct_forward(unet_context *ctx, const conv_shape *s, cl_mem in, unet_slice weight,
                                  unet_slice bias, int relu, cl_mem out)
{
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "conv", "conv3x3_direct", &k));
    const cl_int cin = s->cin, h = s->h, w = s->w, woff = (cl_int)weight.off, boff = (cl_int)bias.off,
                 r = relu ? 1 : 0, cout = s->cout;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(in), unet_arg_int(cin), unet_arg_int(h), unet_arg_int(w),
                              unet_arg_mem(weight.mem), unet_arg_int(woff), unet_arg_mem(bias.mem),
                              unet_arg_int(boff), unet_arg_int(r), unet_arg_int(cout), unet_arg_mem(out)),
                "setting arguments of kernel conv3x3_direct");
    const size_t g[3] = {((size_t)s->wo + 15) / 16, (size_t)s->ho, (size_t)s->cout};
    return unet_enqueue(ctx, k, "conv3x3_direct", 3, g, NULL);
}

static unet_status conv_forward_impl(unet_context *ctx, const conv_algo *a, const unet_tensor *in,
                                     unet_slice weight, unet_slice bias, int k, int relu, unet_tensor *out,
                                     cl_mem ws, size_t ws_floats, unet_conv_wcache *wc, uint64_t version)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv forward: output tensor is NULL");
    conv_shape s;
    UNET_TRY(make_shape(in, out->c, k, &s));
    UNET_TRY(unet_conv_check_tensor("conv", in, s.cin, s.h, s.w, "input"));
    UNET_TRY(unet_conv_check_tensor("conv", out, s.cout, s.ho, s.wo, "output"));
    UNET_TRY(unet_conv_check_slice("conv", weight, (size_t)s.cout * (size_t)s.cin * (size_t)(k * k), "weight"));
    UNET_TRY(unet_conv_check_slice("conv", bias, (size_t)s.cout, "bias"));
    if (k != 1) UNET_TRY(unet_conv_check_ws("conv", ws, ws_floats, 0));
    /* dispatch hook: unetcl's GPU kernels where tuned or forced (conv_gpu.h) */
    const int gset = (!a && k == 3) ? unet_gpuconv_choose(ctx, UNET_GPUCONV_FWD, s.cin, s.cout, s.h, s.w) : -1;
    if (gset >= 0)
        return unet_gpuconv_forward_cached(ctx, gset, in->mem, s.cin, s.h, s.w, weight, bias, relu, s.cout, out->mem,
                                           wc, version);
    if (!a && k == 3 && s.cin <= DIRECT_MAX_CIN && ctx->info.type == UNET_DEVICE_CPU) {
        if (!ctx->knobs.conv_algo) return direct_forward(ctx, &s, in->mem, weight, bias, relu, out->mem);
    }
    if (!a) a = select_algo(ctx, &s);
    if (wc && a == &g_algos[UNET_CONV_WINOGRAD_F4])
        return wino_forward_cached(ctx, &s, in->mem, weight, bias, relu, out->mem, ws, ws_floats, wc, version);
    return a->forward(ctx, &s, in->mem, weight, bias, relu, out->mem, ws, ws_floats);
}

unet_status unet_conv_forward(unet_context *ctx, const unet_tensor *in, unet_slice weight, unet_slice bias,
                              int k, int relu, unet_tensor *out, cl_mem ws, size_t ws_floats)
{
    return conv_forward_impl(ctx, NULL, in, weight, bias, k, relu, out, ws, ws_floats, NULL, 0);
}

unet_status unet_conv_forward_cached(unet_context *ctx, const unet_tensor *in, unet_slice weight, unet_slice bias,
                                     int k, int relu, unet_tensor *out, cl_mem ws, size_t ws_floats,
                                     unet_conv_wcache *wc, uint64_t weights_version)
{
    if (wc && weights_version == 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv: weights version 0 is reserved (start counting at 1)");
    return conv_forward_impl(ctx, NULL, in, weight, bias, k, relu, out, ws, ws_floats, wc, weights_version);
}

size_t unet_conv_wcache_floats(const unet_context *ctx, int cin, int h, int w, int cout)
{
    if (cin <= 0 || cout <= 0 || h < 3 || w < 3) return 0;
    const conv_shape s = {cin, h, w, 3, cout, h - 2, w - 2};
    if (ctx->info.type == UNET_DEVICE_CPU && cin <= DIRECT_MAX_CIN) {
        if (!ctx->knobs.conv_algo) return 0;
    }
    if (select_algo(ctx, &s) != &g_algos[UNET_CONV_WINOGRAD_F4]) return 0;
    wino_plan p;
    wino_plan_make(ctx, &s, &p);
    return 36 * p.a_stride + 64;
}

static unet_status conv_backward_impl(unet_context *ctx, const conv_algo *a, const unet_tensor *in,
                                      const unet_tensor *out, unet_tensor *dout, unet_slice weight, int k, int relu,
                                      unet_tensor *din, int din_accumulate, unet_slice dweight, unet_slice dbias,
                                      int param_accumulate, cl_mem ws, size_t ws_floats)
{
    if (!dout) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv backward: output gradient is NULL");
    conv_shape s;
    UNET_TRY(make_shape(in, dout->c, k, &s));
    UNET_TRY(unet_conv_check_tensor("conv", in, s.cin, s.h, s.w, "input"));
    UNET_TRY(unet_conv_check_tensor("conv", dout, s.cout, s.ho, s.wo, "output gradient"));
    if (relu) UNET_TRY(unet_conv_check_tensor("conv", out, s.cout, s.ho, s.wo, "output"));
    if (din) UNET_TRY(unet_conv_check_tensor("conv", din, s.cin, s.h, s.w, "input gradient"));
    size_t nw = (size_t)s.cout * (size_t)s.cin * (size_t)(k * k);
    UNET_TRY(unet_conv_check_slice("conv", weight, nw, "weight"));
    UNET_TRY(unet_conv_check_slice("conv", dweight, nw, "weight gradient"));
    UNET_TRY(unet_conv_check_slice("conv", dbias, (size_t)s.cout, "bias gradient"));
    if (k != 1) UNET_TRY(unet_conv_check_ws("conv", ws, ws_floats, 0));
    size_t ohw = (size_t)s.ho * (size_t)s.wo;
    UNET_TRY(unet_conv_relu_bias_grad(ctx, dout->mem, relu ? out->mem : NULL, s.cout, ohw, dbias, param_accumulate));
    /* dispatch hook: unetcl's GPU kernels where tuned or forced (conv_gpu.h) */
    const int gd = (!a && k == 3 && din) ? unet_gpuconv_choose(ctx, UNET_GPUCONV_DGRAD, s.cin, s.cout, s.h, s.w) : -1;
    const int gw = (!a && k == 3) ? unet_gpuconv_choose(ctx, UNET_GPUCONV_WGRAD, s.cin, s.cout, s.h, s.w) : -1;
    if (gw >= 0)
        UNET_TRY(unet_gpuconv_wgrad(ctx, gw, in->mem, s.cin, s.h, s.w, dout->mem, s.cout, dweight, param_accumulate, ws,
                                    ws_floats, 0));
    if (gd >= 0)
        UNET_TRY(unet_gpuconv_dgrad(ctx, gd, dout->mem, s.cout, s.h, s.w, weight, s.cin, din->mem, din_accumulate));
    const unet_slice none = {NULL, 0};
    cl_mem dm = (din && gd < 0) ? din->mem : NULL;
    if (!dm && gw >= 0) return UNET_OK;
    if (!a) a = select_backward(ctx, &s);
    return a->backward(ctx, &s, in->mem, dout->mem, weight, dm, din_accumulate, gw >= 0 ? none : dweight,
                       param_accumulate, ws, ws_floats);
}

unet_status unet_conv_linear_backward_algo(unet_context *ctx, unet_conv_algo_id algo, const unet_tensor *in,
                                           const unet_tensor *dout, unet_slice weight, int k, unet_tensor *din,
                                           int din_accumulate, unet_slice dweight, int param_accumulate, cl_mem ws,
                                           size_t ws_floats)
{
    if ((int)algo < 0 || algo >= UNET_CONV_ALGO_COUNT)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv: unknown algorithm %d", (int)algo);
    if (!dout) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv backward: output gradient is NULL");
    conv_shape s;
    UNET_TRY(make_shape(in, dout->c, k, &s));
    return g_algos[algo].backward(ctx, &s, in->mem, dout->mem, weight, din ? din->mem : NULL, din_accumulate, dweight,
                                  param_accumulate, ws, ws_floats);
}

unet_status unet_conv_backward(unet_context *ctx, const unet_tensor *in, const unet_tensor *out,
                               unet_tensor *dout, unet_slice weight, int k, int relu, unet_tensor *din,
                               int din_accumulate, unet_slice dweight, unet_slice dbias, int param_accumulate,
                               cl_mem ws, size_t ws_floats)
{
    return conv_backward_impl(ctx, NULL, in, out, dout, weight, k, relu, din, din_accumulate, dweight, dbias,
                              param_accumulate, ws, ws_floats);
}

unet_status unet_conv_backward_algo(unet_context *ctx, unet_conv_algo_id algo, const unet_tensor *in,
                                    const unet_tensor *out, unet_tensor *dout, unet_slice weight, int k, int relu,
                                    unet_tensor *din, int din_accumulate, unet_slice dweight, unet_slice dbias,
                                    int param_accumulate, cl_mem ws, size_t ws_floats)
{
    if ((int)algo < 0 || algo >= UNET_CONV_ALGO_COUNT)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "conv: unknown algorithm %d", (int)algo);
    return conv_backward_impl(ctx, &g_algos[algo], in, out, dout, weight, k, relu, din, din_accumulate, dweight,
                              dbias, param_accumulate, ws, ws_floats);
}
