/* Internal: intensity normalisation of input images, shared by training and
 * inference so that a model sees the same value range in both. */
#ifndef UNETCL_NORMALIZE_H
#define UNETCL_NORMALIZE_H

#include "config.h"
#include "unetcl/image.h"

/* Writes the normalised image (c planes of h*w floats, the layout of
 * img->data) to out, as [data] normalize says:
 *  - per_image: (x - mean) / std per channel, mean and (population) std
 *    computed in double over all pixels of that channel, std floored at 1e-6
 *    (a constant image becomes all zeros);
 *  - fixed: x is first scaled to [0,1] by the bit depth of the source
 *    (8-bit: /255, 16-bit: /65535, 32-bit float: as is), then
 *    (x - norm_mean) / norm_std.
 * out may be img->data (in place). Non-finite input values are an error
 * (UNET_ERR_DATA); so is an image of another bit depth than 8, 16 or 32. */
unet_status unet_normalize_image(const unet_config *cfg, const unet_image *img, float *out);

#endif
