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

/* The same normalisation of an image streamed by rows (an image too large
 * to hold), bit-identical to unet_normalize_image: per_image takes two
 * passes over the rows before the first row can be normalised (the sum in
 * double in pixel order, then the centred sum of squares: the very additions
 * of unet_normalize_image), fixed none.
 *
 *   unet_norm_stream_begin(cfg, c, bits, w, h, &ns);
 *   for (p = 0; p < unet_norm_stream_passes(&ns); p++) {
 *       every row, top to bottom: unet_norm_stream_add(&ns, rows, plane_stride, n);
 *       unet_norm_stream_end_pass(&ns);
 *   }
 *   then unet_norm_stream_apply on the rows, in any order. */
#define UNET_NORM_MAX_CHANNELS 16
typedef struct unet_norm_stream {
    int mode, c, pass;
    size_t plane, seen;
    double scale, m, inv_fixed;             /* fixed */
    double sum[UNET_NORM_MAX_CHANNELS], ss[UNET_NORM_MAX_CHANNELS];
    double mean[UNET_NORM_MAX_CHANNELS], inv[UNET_NORM_MAX_CHANNELS];
} unet_norm_stream;

unet_status unet_norm_stream_begin(const unet_config *cfg, int c, int bits, int w, int h, unet_norm_stream *ns);
/* Passes over the rows needed before unet_norm_stream_apply: 2 or 0. */
int unet_norm_stream_passes(const unet_norm_stream *ns);
/* n pixels (whole rows, in order) of c planes: rows[ch * plane_stride + i]. */
unet_status unet_norm_stream_add(unet_norm_stream *ns, const float *rows, size_t plane_stride, size_t n);
unet_status unet_norm_stream_end_pass(unet_norm_stream *ns);
/* Normalises n pixels of c planes in place; first = index of the first
 * pixel in the image (for the message of a non-finite value). */
unet_status unet_norm_stream_apply(const unet_norm_stream *ns, float *rows, size_t plane_stride, size_t n, size_t first);

#endif
