/* Internal helpers shared by conv.c and upconv.c (kernels of src/cl/conv.cl). */
#ifndef UNETCL_CONV_INTERNAL_H
#define UNETCL_CONV_INTERNAL_H

#include "layers.h"

/* x[c][i] = relu?(x[c][i] + bias[c]), channels x hw values, in place. */
unet_status unet_conv_bias_act(unet_context *ctx, cl_mem x, int channels, size_t hw, unet_slice bias,
                               int relu);

/* dout[i] = out[i] > 0 ? dout[i] : 0 over n values. */
unet_status unet_conv_relu_mask(unet_context *ctx, cl_mem dout, cl_mem out, size_t n);

/* dbias[c] (+)= sum over hw of d[c][.], deterministic (fixed work-group tree). */
unet_status unet_conv_bias_grad(unet_context *ctx, cl_mem d, int channels, size_t hw, unet_slice dbias,
                                int accumulate);

/* relu_mask (when out is not NULL) then bias_grad, in one pass on CPU devices. */
unet_status unet_conv_relu_bias_grad(unet_context *ctx, cl_mem d, cl_mem out, int channels, size_t hw,
                                     unet_slice dbias, int accumulate);

/* Checks that a count fits the int indices of the kernels. */
unet_status unet_conv_check_int(size_t n, const char *what);

/* Checks that a parameter slice holds n floats from its offset (and that
 * the offset fits the kernels' int indices); messages start with layer. */
unet_status unet_conv_check_slice(const char *layer, unet_slice s, size_t n, const char *what);

/* Checks that a tensor is allocated and has the shape c x h x w. */
unet_status unet_conv_check_tensor(const char *layer, const unet_tensor *t, int c, int h, int w,
                                   const char *what);

/* Checks that ws holds at least ws_floats floats and that ws_floats >= need. */
unet_status unet_conv_check_ws(const char *layer, cl_mem ws, size_t ws_floats, size_t need);

/* unet_conv_forward with a given algorithm instead of the per-device choice
 * (tests, benchmarks). An algorithm that cannot run the problem (Winograd with
 * k = 1, or a workspace too small for one tile row) falls back to im2col. */
unet_status unet_conv_forward_algo(unet_context *ctx, unet_conv_algo_id algo, const unet_tensor *in,
                                   unet_slice weight, unet_slice bias, int k, int relu, unet_tensor *out,
                                   cl_mem ws, size_t ws_floats);

/* unet_conv_backward with a given algorithm (Winograd: din by the adjoint
 * Winograd convolution, dW by im2col + GEMM; falls back to im2col for din when
 * the workspace is too small). */
unet_status unet_conv_backward_algo(unet_context *ctx, unet_conv_algo_id algo, const unet_tensor *in,
                                    const unet_tensor *out, unet_tensor *dout, unet_slice weight, int k, int relu,
                                    unet_tensor *din, int din_accumulate, unet_slice dweight, unet_slice dbias,
                                    int param_accumulate, cl_mem ws, size_t ws_floats);

/* The linear part of the backward pass only (no ReLU mask, no bias
 * gradient) with a given algorithm: din (+)= when din is not NULL, dweight
 * (+)= when dweight.mem is not NULL (timing in `unetcl tune`). */
unet_status unet_conv_linear_backward_algo(unet_context *ctx, unet_conv_algo_id algo, const unet_tensor *in,
                                           const unet_tensor *dout, unet_slice weight, int k, unet_tensor *din,
                                           int din_accumulate, unet_slice dweight, int param_accumulate, cl_mem ws,
                                           size_t ws_floats);

/* Workspace floats the Winograd forward needs to process tile_rows rows of
 * 4x4 output tiles per chunk (tests: chunking). */
size_t unet_conv_winograd_workspace_floats(int cin, int cout, int h, int w, int tile_rows);

#endif
