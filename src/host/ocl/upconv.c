/* 2x2 stride-2 up-convolution (ConvTranspose2d, kernel 2, stride 2) + bias +
 * optional ReLU, forward and backward, batch 1.
 *
 * The weight [cin][cout][2][2] is the matrix W[cin][cout*4]. Every output
 * pixel gets exactly one input pixel, so the layer is a 1x1 convolution to
 * cout*4 channels followed by a pixel shuffle:
 *   forward:  ws[cout*4][h*w] = W^T . in;  out[co][2y+dy][2x+dx] =
 *             relu?(ws[co*4+dy*2+dx][y*w+x] + bias[co])
 *   backward: dout masked by ReLU; dbias = sum; ws = unshuffle(dout);
 *             din (+)= W . ws;  dW (+)= in . ws^T. */
#include "conv_internal.h"
#include "gemm.h"

size_t unet_upconv_workspace_floats(int cout, int h, int w)
{
    if (cout <= 0 || h <= 0 || w <= 0) return 0;
    return (size_t)cout * 4 * (size_t)h * (size_t)w;
}

static unet_status check_common(const unet_tensor *in, int cout, int *cin)
{
    if (!in) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "upconv: input tensor is NULL");
    if (in->c <= 0 || in->h <= 0 || in->w <= 0 || cout <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "upconv: empty shape (input %dx%dx%d, %d output channels)",
                           in->c, in->h, in->w, cout);
    *cin = in->c;
    UNET_TRY(unet_conv_check_int((size_t)cout * 4 * (size_t)in->h * (size_t)in->w, "the up-convolution output"));
    UNET_TRY(unet_conv_check_int((size_t)in->c * (size_t)in->h * (size_t)in->w, "the up-convolution input"));
    return UNET_OK;
}

static unet_status shuffle_kernel(unet_context *ctx, const char *name, cl_kernel *k)
{
    return unet_kernel_get(ctx, "conv", name, k);
}

/* The largest temporary buffer CLBlast needs for this up-convolution's GEMMs
 * (see unet_conv_blas_temp_bytes). */
size_t unet_upconv_blas_temp_bytes(const unet_context *ctx, int cin, int h, int w, int cout, int training)
{
    if (cin <= 0 || cout <= 0 || h <= 0 || w <= 0) return 0;
    const size_t hw = (size_t)h * (size_t)w, m = (size_t)cout * 4, ci = (size_t)cin;
    size_t t = unet_gemm_blas_temp_bytes(ctx, 1, 0, m, hw, ci, 0, m, 0, hw, 0, hw);
    if (training) {
        size_t d = unet_gemm_blas_temp_bytes(ctx, 0, 0, ci, hw, m, 0, m, 0, hw, 0, hw);
        size_t g = unet_gemm_blas_temp_bytes(ctx, 0, 1, ci, m, hw, 0, hw, 0, hw, 0, m);
        if (d > t) t = d;
        if (g > t) t = g;
    }
    return t;
}

unet_status unet_upconv_forward(unet_context *ctx, const unet_tensor *in, unet_slice weight, unet_slice bias,
                                int relu, unet_tensor *out, cl_mem ws, size_t ws_floats)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "upconv forward: output tensor is NULL");
    int cin = 0, cout = out->c;
    UNET_TRY(check_common(in, cout, &cin));
    const int h = in->h, w = in->w;
    UNET_TRY(unet_conv_check_tensor("upconv", in, cin, h, w, "input"));
    UNET_TRY(unet_conv_check_tensor("upconv", out, cout, 2 * h, 2 * w, "output"));
    UNET_TRY(unet_conv_check_slice("upconv", weight, (size_t)cin * (size_t)cout * 4, "weight"));
    UNET_TRY(unet_conv_check_slice("upconv", bias, (size_t)cout, "bias"));
    size_t hw = (size_t)h * (size_t)w, m = (size_t)cout * 4;
    UNET_TRY(unet_conv_check_ws("upconv", ws, ws_floats, m * hw));

    /* ws[cout*4][hw] = W[cin][cout*4]^T . in[cin][hw] */
    UNET_TRY(unet_gemm(ctx, 1, 0, m, hw, (size_t)cin, 1.0f, weight.mem, weight.off, m, in->mem, 0, hw, 0.0f, ws,
                       0, hw));
    cl_kernel k;
    UNET_TRY(shuffle_kernel(ctx, "pixel_shuffle_bias", &k));
    cl_int ih = h, iw = w, ic = cout, boff = (cl_int)bias.off, r = relu ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(ws), unet_arg_int(ih), unet_arg_int(iw), unet_arg_int(ic),
                              unet_arg_mem(bias.mem), unet_arg_int(boff), unet_arg_int(r), unet_arg_mem(out->mem)),
                "setting arguments of kernel pixel_shuffle_bias");
    size_t gws[2] = {((size_t)w + 7) / 8, 2 * (size_t)h * (size_t)cout};
    return unet_enqueue(ctx, k, "pixel_shuffle_bias", 2, gws, NULL);
}

unet_status unet_upconv_backward(unet_context *ctx, const unet_tensor *in, const unet_tensor *out,
                                 unet_tensor *dout, unet_slice weight, int relu, unet_tensor *din,
                                 int din_accumulate, unet_slice dweight, unet_slice dbias, int param_accumulate,
                                 cl_mem ws, size_t ws_floats)
{
    if (!dout) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "upconv backward: output gradient is NULL");
    int cin = 0, cout = dout->c;
    UNET_TRY(check_common(in, cout, &cin));
    const int h = in->h, w = in->w;
    UNET_TRY(unet_conv_check_tensor("upconv", in, cin, h, w, "input"));
    UNET_TRY(unet_conv_check_tensor("upconv", dout, cout, 2 * h, 2 * w, "output gradient"));
    if (relu) UNET_TRY(unet_conv_check_tensor("upconv", out, cout, 2 * h, 2 * w, "output"));
    if (din) UNET_TRY(unet_conv_check_tensor("upconv", din, cin, h, w, "input gradient"));
    size_t nw = (size_t)cin * (size_t)cout * 4;
    UNET_TRY(unet_conv_check_slice("upconv", weight, nw, "weight"));
    UNET_TRY(unet_conv_check_slice("upconv", dweight, nw, "weight gradient"));
    UNET_TRY(unet_conv_check_slice("upconv", dbias, (size_t)cout, "bias gradient"));
    size_t hw = (size_t)h * (size_t)w, m = (size_t)cout * 4;
    UNET_TRY(unet_conv_check_ws("upconv", ws, ws_floats, m * hw));

    UNET_TRY(unet_conv_relu_bias_grad(ctx, dout->mem, relu ? out->mem : NULL, cout, 4 * hw, dbias, param_accumulate));

    cl_kernel k;
    UNET_TRY(shuffle_kernel(ctx, "pixel_unshuffle", &k));
    cl_int ih = h, iw = w, ic = cout;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(dout->mem), unet_arg_int(ih), unet_arg_int(iw), unet_arg_int(ic),
                              unet_arg_mem(ws)),
                "setting arguments of kernel pixel_unshuffle");
    size_t gws[2] = {((size_t)w + 7) / 8, 2 * (size_t)h * (size_t)cout};
    UNET_TRY(unet_enqueue(ctx, k, "pixel_unshuffle", 2, gws, NULL));

    /* din[cin][hw] (+)= W[cin][cout*4] . ws[cout*4][hw] */
    if (din)
        UNET_TRY(unet_gemm(ctx, 0, 0, (size_t)cin, hw, m, 1.0f, weight.mem, weight.off, m, ws, 0, hw,
                           din_accumulate ? 1.0f : 0.0f, din->mem, 0, hw));
    /* dW[cin][cout*4] (+)= in[cin][hw] . ws[cout*4][hw]^T */
    return unet_gemm(ctx, 0, 1, (size_t)cin, m, hw, 1.0f, in->mem, 0, hw, ws, 0, hw,
                     param_accumulate ? 1.0f : 0.0f, dweight.mem, dweight.off, m);
}
