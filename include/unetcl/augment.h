/* Internal: data augmentation on the device (paper section 3.1).
 *
 * Each training step takes a T x T input tile from a source image (C x H x W
 * float, labels int32 H x W, weight map float H x W, all on the device) and
 * the labels/weights of its centre O x O output region (offset (T-O)/2).
 *
 * Geometry. Pixel centres are at integer coordinates. For tile pixel
 * p = (x, y), with tile centre ct = ((T-1)/2, (T-1)/2), the source coordinate is
 *     s(p) = c + R(angle) F (p - ct) + d(p)
 * - c: source coordinate of the tile centre. With `shift`, the tile's central
 *   pixel floor(T/2) lands on a source pixel drawn uniformly from all H*W
 *   pixels (so every part of the image, borders included, is trained on; the
 *   part of a tile outside the image is mirrored). Without it, the tile is
 *   centred: origin floor((W-T)/2). Either way the tile origin is an integer,
 *   so without rotation/elastic the samples hit pixel centres exactly.
 *   shift_px = s > 0 adds an offset uniform in [-s, s] px (continuous, so
 *   generally sub-pixel) to each coordinate of c, with or without `shift`.
 * - F = diag(+-1, +-1): flips (each axis with probability 1/2).
 * - R(angle): rotation, angle uniform in [-max_angle, +max_angle] degrees
 *   (default 180: any orientation). Exact for multiples of 90 degrees.
 * - d(p): elastic deformation. A grid x grid array of displacement vectors,
 *   each component N(0, sigma^2) px, with nodes spread over the tile: node k
 *   sits at tile pixel k (T-1)/(grid-1) (first and last node on the border
 *   pixels of the tile, the middle node of a 3x3 grid on its centre). d(p) is
 *   the bicubic (Catmull-Rom, Keys a = -0.5) interpolation of the nodes, with
 *   ghost nodes beyond the grid replicating the edge nodes; it passes through
 *   the node vectors exactly, so the displacement at a node has standard
 *   deviation sigma, smaller in between. grid = 1 is a random translation.
 *
 * Resampling (one kernel, the same s(p) for all three): image bicubic (Keys
 * a = -0.5, may overshoot slightly like any bicubic), labels nearest (a label
 * of the tile is always a label of the source), weights bilinear clamped at 0
 * (no overshoot, so no negative or inflated weights near the sharp ridges of
 * the paper's border weights). Outside the source, mirror extrapolation
 * without repeating the edge pixel (-1 -> 1, W -> W-2; numpy 'reflect'),
 * periodic beyond one reflection.
 *
 * Gray-value variation, on the warped image tile, in this order, with one
 * set of parameters for all channels; values are taken to be normalised (0 =
 * black, 1 = white, as the image loader produces):
 *     v <- sign(v) |v|^g        g uniform in [1-gamma, 1+gamma]
 *     v <- pivot + k (v - pivot)   k uniform in [1-contrast, 1+contrast]
 *     v <- v + b                b uniform in [-brightness, +brightness]
 *     v <- v + noise_std N(0,1) independent per pixel and channel
 * The gamma curve fixes 0 and 1 (and is odd, so it is defined for the small
 * negative overshoots of bicubic resampling).
 *
 * Reproducibility. unet_augment_draw is a pure function of (options, seed,
 * step, index, source size, tile): a counter-based generator (splitmix64
 * finaliser applied to a hash of (seed, step, index) plus a fixed slot
 * number per parameter), so a resumed run sees the same augmentations, and
 * switching one option off does not change the other parameters drawn. The
 * per-pixel noise is a hash of (noise_seed, element index).
 */
#ifndef UNETCL_AUGMENT_PUBLIC_H
#define UNETCL_AUGMENT_PUBLIC_H

/* The options, their check and the seeded draw of one sample's parameters
 * are pure C (src/host/data/augment_params.c); applying them runs on the
 * device (src/host/ocl/augment.c). */

#include "unetcl/config.h"
#include "unetcl/core.h"
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNET_AUGMENT_MAX_GRID 16

typedef struct unet_augment_options {
    int enabled;         /* master switch: 0 = centred tile, no change at all */
    int elastic;         /* random elastic deformation */
    int grid;            /* nodes per side of the coarse grid (paper: 3), 1..16 */
    double sigma;        /* standard deviation of a node displacement, px (paper: 10) */
    int rotate;          /* random rotation */
    double max_angle;    /* degrees; angle uniform in [-max, max] (180: full circle) */
    int flip;            /* random flips of x and y */
    int shift;           /* random tile position */
    double shift_px;     /* extra random offset of the tile centre, uniform in [-s, s] px per axis */
    int gray;            /* gray-value variation */
    double brightness;   /* additive, uniform in [-b, b] (normalised units) */
    double contrast;     /* factor uniform in [1-c, 1+c] about `pivot` */
    double gamma;        /* exponent uniform in [1-g, 1+g], g < 1 */
    double noise_std;    /* additive Gaussian noise, normalised units */
    double pivot;        /* contrast pivot (0.5: mid-gray of [0,1] images) */
} unet_augment_options;

/* The drawn parameters of one sample (everything unet_augment_apply needs). */
typedef struct unet_augment_params {
    int tile;              /* T */
    int src_w, src_h;      /* source size the centre was drawn for */
    int grid;              /* 0: no elastic deformation */
    float disp[2 * UNET_AUGMENT_MAX_GRID * UNET_AUGMENT_MAX_GRID]; /* (dx,dy) per node, row-major */
    double angle;          /* degrees */
    int flip_x, flip_y;
    double a[4];           /* R(angle) F, row-major: s - c = a (p - ct) + d */
    double cx, cy;         /* source coordinate of the tile centre */
    int gray;              /* apply the gray-value kernel */
    double gamma, contrast, pivot, brightness, noise_std;
    uint64_t noise_seed;
} unet_augment_params;

/* The paper's values: elastic 3x3, sigma 10 px, full rotation, flips, shift,
 * gray (brightness 0.1, contrast 0.1, gamma 0.1, noise 0.02, pivot 0.5). The
 * paper gives no numbers for the gray-value variation: these are ours. */
UNETCL_API void unet_augment_options_default(unet_augment_options *o);

/* Options with everything off (enabled = 0). */
UNETCL_API void unet_augment_options_none(unet_augment_options *o);

/* UNET_OK or UNET_ERR_INVALID_ARGUMENT naming the option and its range. */
UNETCL_API unet_status unet_augment_options_check(const unet_augment_options *o);

/* Draws the parameters of sample `index` in step `step` for a source of
 * src_w x src_h pixels and a tile x tile input. Pure function. */
UNETCL_API unet_status unet_augment_draw(const unet_augment_options *o, uint64_t seed, uint64_t step,
                              uint64_t index, int src_w, int src_h, int tile,
                              unet_augment_params *p);

/* Sets p to the identity for the given tile and source (centred tile). */
UNETCL_API void unet_augment_params_identity(unet_augment_params *p, int src_w, int src_h, int tile);

/* Recomputes p->a from p->angle and the flips (after editing them by hand).
 * Multiples of 90 degrees give an exact matrix. */
UNETCL_API void unet_augment_params_update(unet_augment_params *p);

/* Host-memory convenience (for the CLI's `augment` command and for previews):
 * uploads the source, draws the parameters of (seed, step, index), applies
 * them and downloads the results. labels/weights (and their outputs) may be
 * NULL. dst_img: c*tile*tile floats, dst_labels/dst_weights: out*out. If
 * params is not NULL, the drawn parameters are stored there. Allocates and
 * frees its device buffers per call: not for the training loop. */
UNETCL_API unet_status unet_augment_host(unet_context *ctx, const unet_augment_options *o, uint64_t seed,
                              uint64_t step, uint64_t index, const float *img, int c, int h, int w,
                              const int32_t *labels, const float *weights, int tile, int out,
                              float *dst_img, int32_t *dst_labels, float *dst_weights,
                              unet_augment_params *params);

/* Augmentation previews as `unetcl augment` writes them: sample i uses
 * training image i mod n and the draw (seed = [train] seed, step = i,
 * index = 0) of the configuration's [augment], [weights], [data], [model]
 * and [train] tile, and is written as output_dir/aug_XXX_image.png (the
 * input tile, 8-bit), aug_XXX_labels.png (the output region's classes, class
 * k -> k * 255 / (classes - 1)) and aug_XXX_weights.png (weights scaled by
 * the source's maximum). A run that fails removes the samples it wrote. */
typedef struct unet_augment_preview_options {
    int count;              /* samples, 1..100000 */
    const char *output_dir; /* created if missing */
    const char *device;     /* NULL: [device] select */
    const char *sheet;      /* also a contact sheet (PNG) with label contours, or NULL */
    int sheet_cols;         /* samples per sheet row (0: 4) */
    int sheet_cell;         /* edge of one sample on the sheet, px (0: the tile, at most 256) */
    FILE *log;              /* one line per sample and a summary, or NULL */
} unet_augment_preview_options;

UNETCL_API unet_status unet_augment_preview(const unet_config *cfg, const unet_augment_preview_options *o);

#ifdef __cplusplus
}
#endif

#endif
