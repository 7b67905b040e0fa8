/* Internal: the layer operations of the U-Net, forward and backward, batch 1.
 *
 * Tensors are float32, channel-major [C][H][W]. Parameters live in slices of
 * flat device buffers (unet_slice: buffer + offset in floats), so that one
 * buffer holds all weights, one all gradients and one all momenta.
 * Weight layouts follow PyTorch, so safetensors files move between the two:
 *   Conv2d           weight [cout][cin][k][k], bias [cout]
 *   ConvTranspose2d  weight [cin][cout][2][2], bias [cout]
 * Every function only enqueues work on ctx->queue (in order) unless it says
 * it reads back. Gradient outputs take `accumulate`: 0 overwrites, 1 adds
 * to what is there (for feature maps used twice, the skip connections).
 * Deterministic: no float atomics; every reduction has a fixed order.
 */
#ifndef UNETCL_LAYERS_H
#define UNETCL_LAYERS_H

#include "tensor.h"
#include <stdint.h>

typedef struct unet_slice {
    cl_mem mem;
    size_t off; /* in floats */
} unet_slice;

/* ---- convolution (3x3 valid or 1x1), + bias, optional fused ReLU -------- */

typedef enum unet_conv_algo_id {
    UNET_CONV_IM2COL_GEMM = 0, /* im2col (chunked) + GEMM through unet_gemm */
    UNET_CONV_WINOGRAD_F4,     /* forward: Winograd F(4x4,3x3) + batched CPU GEMM (CPU devices);
                                  backward: im2col + GEMM */
    UNET_CONV_ALGO_COUNT
} unet_conv_algo_id;

/* Workspace (in floats) the convolution of an input cin x h x w with a
 * k x k kernel needs when no single buffer may exceed max_bytes: the
 * im2col matrix is processed in chunks of whole output rows. Returns 0 for
 * k == 1 (no workspace). If even one output row does not fit, returns
 * (size_t)-1. */
size_t unet_conv_workspace_floats(int cin, int h, int w, int k, size_t max_bytes);

/* out[cout][h-k+1][w-k+1] = relu?(conv(in, weight) + bias). `out` must be
 * allocated with the right shape. ws/ws_floats: workspace from above
 * (ws_floats may be larger; chunks are sized to what is given). */
unet_status unet_conv_forward(unet_context *ctx, const unet_tensor *in, unet_slice weight,
                              unet_slice bias, int k, int relu, unet_tensor *out, cl_mem ws,
                              size_t ws_floats);

/* Transformed weights of one 3x3 layer kept between forward calls (Winograd
 * on CPU devices). Zero-initialise; free with unet_conv_wcache_release. */
typedef struct unet_conv_wcache {
    cl_mem mem;
    size_t floats;
    uint64_t version; /* weights version held; 0: none */
    cl_mem src;       /* weights it was made from */
    size_t src_off;
    int cin, cout, mr;
} unet_conv_wcache;

/* unet_conv_forward that reuses the transformed weights in wc while the
 * caller's weights_version (>= 1) and weight slice are unchanged. The caller
 * must change weights_version whenever the weight values change. wc may be
 * NULL (no caching). */
unet_status unet_conv_forward_cached(unet_context *ctx, const unet_tensor *in, unet_slice weight,
                                     unet_slice bias, int k, int relu, unet_tensor *out, cl_mem ws,
                                     size_t ws_floats, unet_conv_wcache *wc, uint64_t weights_version);
void unet_conv_wcache_release(unet_conv_wcache *wc);
/* Floats unet_conv_forward_cached keeps for a 3x3 layer cin x h x w -> cout
 * on this device (0: the layer does not cache). */
size_t unet_conv_wcache_floats(const unet_context *ctx, int cin, int h, int w, int cout);

/* The largest temporary buffer CLBlast needs for one GEMM of a convolution
 * (im2col path, chunks of a ws_floats workspace) or an up-convolution (its
 * input h x w), forward and with training the backward; 0 on the CPU GEMM
 * path (unet_plan counts it, gemm.c hands CLBlast the context's buffer). */
size_t unet_conv_blas_temp_bytes(const unet_context *ctx, int cin, int h, int w, int k, int cout, size_t ws_floats,
                                 int training);
size_t unet_upconv_blas_temp_bytes(const unet_context *ctx, int cin, int h, int w, int cout, int training);

/* Backward of unet_conv_forward. `out` is the forward output (used for the
 * ReLU mask when relu); dout is its gradient and is modified in place (the
 * ReLU mask is applied to it). din may be NULL (first layer: no input
 * gradient). dweight/dbias receive the parameter gradients (accumulate
 * selects = or +=). */
unet_status unet_conv_backward(unet_context *ctx, const unet_tensor *in, const unet_tensor *out,
                               unet_tensor *dout, unet_slice weight, int k, int relu,
                               unet_tensor *din, int din_accumulate, unet_slice dweight,
                               unet_slice dbias, int param_accumulate, cl_mem ws, size_t ws_floats);

/* ---- 2x2 stride-2 up-convolution (transposed), + bias, optional ReLU ---- */

/* Workspace floats for an up-convolution from cin x h x w to cout channels. */
size_t unet_upconv_workspace_floats(int cout, int h, int w);

/* out[cout][2h][2w]; ws holds cout*4*h*w floats. */
unet_status unet_upconv_forward(unet_context *ctx, const unet_tensor *in, unet_slice weight,
                                unet_slice bias, int relu, unet_tensor *out, cl_mem ws,
                                size_t ws_floats);
unet_status unet_upconv_backward(unet_context *ctx, const unet_tensor *in, const unet_tensor *out,
                                 unet_tensor *dout, unet_slice weight, int relu, unet_tensor *din,
                                 int din_accumulate, unet_slice dweight, unet_slice dbias,
                                 int param_accumulate, cl_mem ws, size_t ws_floats);

/* ---- 2x2 stride-2 max-pooling ------------------------------------------ */

/* out[c][h/2][w/2] (h, w even); argmax: device buffer of c*(h/2)*(w/2)
 * bytes (uchar 0..3: position in the window, first maximum wins), or NULL
 * when no backward pass follows (inference). */
unet_status unet_maxpool_forward(unet_context *ctx, const unet_tensor *in, unet_tensor *out,
                                 cl_mem argmax);
unet_status unet_maxpool_backward(unet_context *ctx, const unet_tensor *dout, cl_mem argmax,
                                  unet_tensor *din, int accumulate);

/* ---- centre crop + channel concatenation -------------------------------- */

/* out[cs+cu][hu][wu] = concat(crop(skip to hu x wu, centred), up). The crop
 * offset is ((hs-hu)/2, (ws-wu)/2). When up is a view of out's second half
 * (unet_tensor_view at float offset cs*hu*wu), only the skip half is copied. */
unet_status unet_crop_concat_forward(unet_context *ctx, const unet_tensor *skip,
                                     const unet_tensor *up, unet_tensor *out);
/* dskip gets the gradient of the cropped part (zero outside the crop when
 * !skip_accumulate); dup the rest. Either may be NULL. When dup is a view of
 * dout's second half, it already holds its gradient (up_accumulate must be 0). */
unet_status unet_crop_concat_backward(unet_context *ctx, const unet_tensor *dout,
                                      unet_tensor *dskip, int skip_accumulate, unet_tensor *dup,
                                      int up_accumulate);

/* ---- dropout (inverted: kept values scaled by 1/(1-p)) ------------------ */

/* In place. The mask of element i is a pure function of (seed, i): the
 * backward call with the same seed applies the same mask. p = 0: no-op. */
unet_status unet_dropout_forward(unet_context *ctx, unet_tensor *x, float p, uint64_t seed);
unet_status unet_dropout_backward(unet_context *ctx, unet_tensor *dx, float p, uint64_t seed);

/* ---- pixel-wise softmax and weighted cross-entropy ----------------------- */

/* probs[K][H][W] = softmax over channels of logits. */
unet_status unet_softmax_forward(unet_context *ctx, const unet_tensor *logits, unet_tensor *probs);

/* Loss = scale * sum_x w(x) * -log softmax(logits)(label(x), x).
 * labels: int32 [H*W], a label outside [0,K) means "ignore" (contributes
 * nothing). weights: float [H*W] or NULL (all 1). dlogits (may be NULL) =
 * d loss / d logits. ws: at least unet_xent_workspace_floats(h*w) floats.
 * Reads back: *loss (double, fixed-order sum), *weight_sum (sum of weights
 * of non-ignored pixels) and *correct (count of non-ignored pixels whose
 * arg-max equals the label), each may be NULL. Finite for logits of +-1e4. */
size_t unet_xent_workspace_floats(size_t pixels);
unet_status unet_softmax_xent(unet_context *ctx, const unet_tensor *logits, cl_mem labels,
                              cl_mem weights, float scale, unet_tensor *dlogits, cl_mem ws,
                              double *loss, double *weight_sum, double *correct);

/* ---- SGD with momentum (Caffe form, as the paper's code) ---------------- */

/* v = momentum * v - lr * (g + weight_decay * w);  w += v. n floats. */
unet_status unet_sgd_update(unet_context *ctx, unet_slice w, unet_slice g, unet_slice v, size_t n,
                            float lr, float momentum, float weight_decay);

#endif
