/* Internal: synthetic cell-like microscopy images with instance labels.
 *
 * Each (seed, index) pair gives one reproducible image: clusters of touching
 * cells (wobbly ellipses, semi-axes radius_min..radius_max px), each with a
 * textured, dome-shaded cytoplasm, a darker nucleus with nucleoli and a few
 * bright vesicles; dark membranes (about `membrane` px wide) along every
 * boundary, between touching cells and towards the background; then Gaussian
 * blur, uneven illumination (smooth gradient), Poisson-like shot noise and
 * Gaussian read noise.
 *
 * Labels: 16-bit instance ids, 0 = background, 1..N the cells, numbered in
 * raster order of their first pixel. Every cell is one 4-connected region.
 * Touching cells are directly adjacent in the labels (two different nonzero
 * ids on 4-neighbouring pixels); the membrane between them lies on the
 * boundary in the image only (half on each cell), as in Cell Tracking
 * Challenge annotations. The labels are computed with integer arithmetic only
 * (integer RNG, integer geometry), so they are identical on every machine;
 * the image uses floating point (blur, noise) and is identical for a given
 * build and C library.
 */
#ifndef UNETCL_SYNTH_H
#define UNETCL_SYNTH_H

#include "unetcl/api.h"

#include "unetcl/image.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct unet_synth_options {
    int width, height;          /* 256 x 256 */
    uint64_t seed;              /* 1 */
    int radius_min, radius_max; /* 12, 30: semi-axes of the cells, pixels */
    double fill_min, fill_max;  /* 0.40, 0.60: the foreground fraction aimed at */
    int membrane;               /* 2: membrane width in pixels (2, 4, 6: 1, 2, 3 px on each side) */
    double blur_sigma;          /* 1.0 px (0 = none) */
    double photons;             /* 300: shot noise, variance = value / photons (0 = none) */
    double noise_sigma;         /* 0.02: Gaussian read noise, intensity units of 0..1 */
} unet_synth_options;

UNETCL_API void unet_synth_options_default(unet_synth_options *o);

/* Generates image `index` (>= 0) of the series `o->seed`: image = 1 channel,
 * bits 8, values 0..255; labels = 1 channel, bits 16, instance ids. Either
 * output may be NULL. Both are allocated here (free with unet_image_free). */
UNETCL_API unet_status unet_synth_generate(const unet_synth_options *o, int index, unet_image *image, unet_image *labels);

#ifdef __cplusplus
}
#endif

#endif
