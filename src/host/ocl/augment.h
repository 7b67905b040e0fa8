/* Internal: augmentation applied on the device (the options and the draw are
 * in data/augment_params.h). */
#ifndef UNETCL_AUGMENT_H
#define UNETCL_AUGMENT_H

#include "unetcl/augment.h"
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

#endif
