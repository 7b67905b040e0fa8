/* Internal: unetcl's own GPU convolution kernels (src/cl/conv_gpu.cl):
 * implicit GEMM for 3x3 valid convolutions, forward (bias + ReLU fused into
 * the store), input gradient and weight gradient (split along the pixels,
 * partial sums reduced in a fixed order), and a fused Winograd F(2x2,3x3)
 * for the forward pass and the input gradient (src/cl/wino_gpu.cl), in
 * parameter sets compiled with -D defines, and the per-layer choice between them and the existing path
 * (im2col + CLBlast on GPUs).
 *
 * Choice (unet_gpuconv_choose), per layer shape and operation:
 *  - force_gpu_kernels (option or $UNETCL_GPU_KERNELS=1) or precision fp16:
 *    always our kernels, with the set the tuning file names for the nearest
 *    shape, else $UNETCL_GPU_CONV_SET (a set name), else the default set
 *    (set 0); a set without a kernel for the operation or precision (the
 *    Winograd sets: weight gradient, fp16) gives way to the default set;
 *  - GPU devices: what the tuning file written by `unetcl tune` says for the
 *    nearest tuned shape of the same operation and channels (by pixel
 *    count); without an entry the existing path (im2col + CLBlast);
 *  - CPU devices: the existing path (Winograd / own GEMM), file not read.
 * Tuning file: <cache_dir>/convgpu-<hash of platform, vendor, device>.json,
 * format "unetcl-convgpu-tuning-1", device and driver recorded (a file of
 * another driver is stale and ignored). */
#ifndef UNETCL_CONV_GPU_H
#define UNETCL_CONV_GPU_H

#include "ocl.h"
#include "layers.h"

#include <stdio.h>

typedef enum unet_gpuconv_op { UNET_GPUCONV_FWD = 0, UNET_GPUCONV_DGRAD, UNET_GPUCONV_WGRAD } unet_gpuconv_op;

typedef struct unet_gpuconv_params {
    const char *name;
    int wgm, wgn; /* work-group shape (work-items along M and N) */
    int rm, rn;   /* register tile per work-item */
    int tk;       /* K chunk in local memory (double buffered) */
    int vw;       /* vector width of the A loads */
    int wino;     /* 0: implicit GEMM (conv_gpu.cl); 2: Winograd F(2x2,3x3) (wino_gpu.cl), where wgm x wgn are
                   * the work-item groups along output channels and tiles (work-group 16 x wgm x wgn), rm x rn
                   * their register tile (output channels x 2x2 tiles), tk the input channels per chunk; vw unused.
                   * Forward and input gradient only, fp32 only. */
} unet_gpuconv_params;

/* The parameter sets `unetcl tune` chooses from (set 0 is the default). */
int unet_gpuconv_set_count(void);
const unet_gpuconv_params *unet_gpuconv_set(int i);
/* Index of a set by name, -1 if none. */
int unet_gpuconv_set_find(const char *name);
const char *unet_gpuconv_op_name(unet_gpuconv_op op);
/* 1 when set `set` has a kernel for op in that precision (the Winograd sets:
 * forward and input gradient, fp32), else 0. */
int unet_gpuconv_set_supports(int set, unet_gpuconv_op op, int fp16);

/* out[cout][h-2][w-2] = relu?(W * in + bias), with set `set`. */
unet_status unet_gpuconv_forward(unet_context *ctx, int set, cl_mem in, int cin, int h, int w, unet_slice weight,
                                 unet_slice bias, int relu, int cout, cl_mem out);
/* unet_gpuconv_forward keeping a Winograd set's transformed weights in wc
 * while weights_version (>= 1) and the weight slice are unchanged (as
 * unet_conv_forward_cached; wc NULL or version 0: transformed on every call
 * into a scratch buffer of the context). Other sets ignore wc. */
unet_status unet_gpuconv_forward_cached(unet_context *ctx, int set, cl_mem in, int cin, int h, int w,
                                        unet_slice weight, unet_slice bias, int relu, int cout, cl_mem out,
                                        unet_conv_wcache *wc, uint64_t weights_version);
/* din[cin][h][w] (+)= the input gradient of dout[cout][h-2][w-2]. */
unet_status unet_gpuconv_dgrad(unet_context *ctx, int set, cl_mem dout, int cout, int h, int w, unet_slice weight,
                               int cin, cl_mem din, int accumulate);
/* dweight (+)= the weight gradient, the pixels split into `ksplit` slices
 * whose partial sums go to ws (ksplit 0: chosen from the device's compute
 * units, limited by ws_floats / (cout*cin*9); 1: no split, ws unused).
 * Not for the Winograd sets (an error). */
unet_status unet_gpuconv_wgrad(unet_context *ctx, int set, cl_mem in, int cin, int h, int w, cl_mem dout, int cout,
                               unet_slice dweight, int accumulate, cl_mem ws, size_t ws_floats, int ksplit);

/* The set to run op of a 3x3 layer cin x h x w -> cout with, or -1 for the
 * existing path (see the top of this file). Never fails: a tuning file that
 * cannot be used is ignored (logged when the context is verbose). */
int unet_gpuconv_choose(unet_context *ctx, unet_gpuconv_op op, int cin, int cout, int h, int w);

/* ---- tuning (`unetcl tune`) ---------------------------------------------- */

typedef struct unet_gpuconv_layer {
    int cin, cout, h, w; /* the convolution's input size */
    int no_dgrad;        /* 1: its input gradient is never computed (the first layer): not timed */
} unet_gpuconv_layer;

/* The 3x3 layers of a U-Net (depth levels, base channels, in_channels) for a
 * square input tile: at most 4*depth entries into out; returns the count. */
int unet_gpuconv_unet_layers(int depth, int base, int in_channels, int tile, unet_gpuconv_layer *out, int max);

void unet_gpuconv_tuning_path(const char *cache_dir, const unet_device_info *dev, char *out, size_t n);

/* Times, for every layer and operation, the existing path and our kernels
 * with every parameter set (median of reps after one warm-up), checks our
 * results against the existing path's, keeps the fastest correct candidate,
 * writes the table to the device's tuning file in the context's cache
 * folder and makes this context use it. Progress and the table go to log. */
unet_status unet_gpuconv_tune(unet_context *ctx, const unet_gpuconv_layer *layers, int nlayers, int reps,
                              FILE *log);

/* The same with the lines (no newline) going to progress, with the fraction
 * of layers done; non-zero from progress cancels before the file is written
 * (UNET_ERR_INTERRUPTED). path_out (may be NULL) receives the file written. */
typedef int (*unet_gpuconv_progress)(void *user, const char *line, double fraction);
unet_status unet_gpuconv_tune_cb(unet_context *ctx, const unet_gpuconv_layer *layers, int nlayers, int reps,
                                 unet_gpuconv_progress progress, void *user, char *path_out, size_t path_n);

#endif
