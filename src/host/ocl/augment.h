/* Internal: augmentation applied on the device (the options and the draw are
 * in data/augment_params.h). */
#ifndef UNETCL_AUGMENT_H
#define UNETCL_AUGMENT_H

#include "augment_params.h"
#include "tensor.h"
#include <stdint.h>

/* Resamples one sample on the device (enqueued, not waited for):
 *   src: C x H x W image; src_labels: int32 H x W or NULL; src_weights:
 *   float H x W or NULL (H, W from src);
 *   dst: C x T x T (T = p->tile); dst_labels: int32 out x out (when
 *   src_labels); dst_weights: float out x out (when src_weights), the centre
 *   region at offset (T-out)/2, T-out even.
 * Then applies the gray-value variation to dst when p->gray. */
unet_status unet_augment_apply(unet_context *ctx, const unet_augment_params *p,
                               const unet_tensor *src, cl_mem src_labels, cl_mem src_weights,
                               unet_tensor *dst, int out, cl_mem dst_labels, cl_mem dst_weights);

/* Host-memory convenience (for the CLI's `augment` command and for previews):
 * uploads the source, draws the parameters of (seed, step, index), applies
 * them and downloads the results. labels/weights (and their outputs) may be
 * NULL. dst_img: c*tile*tile floats, dst_labels/dst_weights: out*out. If
 * params is not NULL, the drawn parameters are stored there. Allocates and
 * frees its device buffers per call: not for the training loop. */
unet_status unet_augment_host(unet_context *ctx, const unet_augment_options *o, uint64_t seed,
                              uint64_t step, uint64_t index, const float *img, int c, int h, int w,
                              const int32_t *labels, const float *weights, int tile, int out,
                              float *dst_img, int32_t *dst_labels, float *dst_weights,
                              unet_augment_params *params);

#endif
