/*
 * The weight map of the U-Net paper (Ronneberger et al. 2015, eq. 2, Fig. 3):
 *
 *     w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))
 *
 * computed on the host from a ground-truth instance label image. Independent
 * of image I/O and of OpenCL.
 *
 * Choices made here (the paper leaves them open):
 *
 *  - Separating border (Fig. 3c). A pixel of cell a (id a > 0) becomes
 *    background when its 3x3 window (8-neighbourhood) contains a pixel of
 *    another nonzero id b != a. This is a morphological operation: the cell
 *    mask minus its intersection with the dilation (3x3 square) of all other
 *    cells. Both sides of a contact lose one pixel, so cells that touch along
 *    a straight edge end up separated by a 2-pixel background line, cells
 *    that touch only diagonally by a 1-pixel gap; after the operation no two
 *    different cells are 8-adjacent.
 *
 *  - Class labels: 0 = background, 1 = foreground = cell pixels that survive
 *    the border operation.
 *
 *  - d1, d2: Euclidean distance (exact EDT, Felzenszwalb & Huttenlocher's
 *    separable lower-envelope algorithm) from a pixel to the nearest pixel of
 *    the nearest and of the second-nearest cell, the cells being taken AFTER
 *    the border operation (so a pixel of the separating line has d1 = 1).
 *    With fewer than two cells d2 is infinite and the border term is 0.
 *    Each cell's EDT is computed only inside its bounding box dilated by
 *    R = sigma * sqrt(2 ln(1/exp_cutoff)); outside it the cell counts as
 *    infinitely far. Since d1 + d2 >= d2 > R there, the border term left out
 *    is below w0 * exp_cutoff (default 1e-6 relative). exp_cutoff = 0 gives
 *    the EDT over the whole image for every cell (exact, slower).
 *
 *  - The border term is added on BACKGROUND pixels only (class 0), as in the
 *    original Caffe implementation; foreground pixels get w_c(1) alone.
 *
 *  - Class balance w_c(k) = 1 / f_k scaled so that the pixel-mean of w_c is 1:
 *        w_c(k) = N / (K * n_k)
 *    where n_k is the pixel count of class k, N = sum_k n_k and K the number
 *    of classes with n_k > 0 (a class with n_k = 0 gets w_c = 1). With
 *    UNET_WM_BALANCE_IMAGE the counts are those of this image (the mean of
 *    w_c over the image is then exactly 1); with UNET_WM_BALANCE_GIVEN they
 *    are given counts (e.g. of the whole training set, accumulated with
 *    unet_weightmap_count_classes), so the mean is 1 over that set. With
 *    UNET_WM_BALANCE_NONE w_c = 1.
 */
#ifndef UNETCL_WEIGHTMAP_H
#define UNETCL_WEIGHTMAP_H

#include "unetcl/api.h"

#include <stdint.h>

#include "unetcl/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum unet_wm_balance {
    UNET_WM_BALANCE_NONE = 0,  /* w_c = 1 */
    UNET_WM_BALANCE_IMAGE = 1, /* class frequencies of this image */
    UNET_WM_BALANCE_GIVEN = 2  /* class_counts[] (e.g. of the whole training set) */
} unet_wm_balance;

typedef struct unet_weightmap_options {
    double w0;              /* border weight, paper: 10 */
    double sigma;           /* border width in pixels, paper: about 5 */
    unet_wm_balance balance;/* default UNET_WM_BALANCE_IMAGE */
    double class_counts[2]; /* for UNET_WM_BALANCE_GIVEN: pixels of class 0 and 1 */
    int border;             /* 1: separate touching cells (default), 0: keep labels */
    double exp_cutoff;      /* relative truncation of the border term, default 1e-6; 0 = none */
} unet_weightmap_options;

/* Summary of one computation (optional output). */
typedef struct unet_weightmap_info {
    int cells;               /* distinct nonzero ids in the input */
    long long border_pixels; /* cell pixels turned into background by the border operation */
    long long class_pixels[2];
    double wc[2];            /* the class weights used */
    double max_weight;
} unet_weightmap_info;

/* The paper's values: w0 = 10, sigma = 5, balance from the image, border on. */
UNETCL_API void unet_weightmap_options_default(unet_weightmap_options *o);

/* Exact Euclidean distance transform: dist[i] = distance from pixel i to the
 * nearest pixel with mask != 0 (0 on such pixels, +INFINITY everywhere when
 * the mask is empty). Row-major w x h. */
UNETCL_API unet_status unet_edt(const uint8_t *mask, int w, int h, float *dist);

/* Connected components (8-connected) of mask != 0: instances_out gets ids
 * 1..n in raster order of each component's first pixel, 0 for background.
 * n_out (may be NULL) receives n. */
UNETCL_API unet_status unet_instances_from_mask(const uint8_t *mask, int w, int h, int32_t *instances_out, int *n_out);

/* The weight map. instances: w x h ids, 0 = background, > 0 cell ids (any
 * values, not necessarily contiguous; negative ids are an error).
 * classes_out (w x h, 0/1) and weights_out (w x h) may each be NULL. */
UNETCL_API unet_status unet_weightmap_compute(const int32_t *instances, int w, int h, const unet_weightmap_options *o,
                                   int32_t *classes_out, float *weights_out);

/* Same, and fills info (may be NULL). */
UNETCL_API unet_status unet_weightmap_compute_ex(const int32_t *instances, int w, int h, const unet_weightmap_options *o,
                                      int32_t *classes_out, float *weights_out, unet_weightmap_info *info);

/* ADDS the class pixel counts of one label image (after the border operation
 * when o->border) to counts[0] (background) and counts[1] (foreground). Call
 * it for every training label image, then use UNET_WM_BALANCE_GIVEN with
 * class_counts = counts. */
UNETCL_API unet_status unet_weightmap_count_classes(const int32_t *instances, int w, int h, const unet_weightmap_options *o,
                                         double counts[2]);

/* Class weights wc[k] = N / (K n_k) from counts (see above). */
UNETCL_API void unet_weightmap_class_weights(const double counts[2], double wc[2]);

/* Cached weight map. The key is a 64-bit FNV-1a hash of the bytes of the
 * file label_path, of `variant` (may be NULL: how the caller turned the file
 * into instances, e.g. "binary fg=255") and of the options; the entry cache_dir/wm_<key>.bin holds
 * a header (magic, version, w, h, key) followed by w*h int32 classes and w*h
 * float32 weights. On a hit the entry is read (instances is not used); on a
 * miss the map is computed from instances (the decoded label_path, w x h)
 * and written atomically (temporary file, fsync, rename). cache_dir is
 * created if missing. *hit (may be NULL) tells which happened. A corrupt or
 * mismatching entry is recomputed and replaced. */
UNETCL_API unet_status unet_weightmap_cached(const char *cache_dir, const char *label_path, const char *variant,
                                  const int32_t *instances, int w, int h, const unet_weightmap_options *o,
                                  int32_t *classes_out, float *weights_out, int *hit);

#ifdef __cplusplus
}
#endif

#endif
