/*
 * Segmentation metrics of the U-Net paper's experiments (host C, no OpenCL).
 *
 * Sources (full discussion and the choices made: docs/metrics.md):
 *  - ISBI 2012 EM challenge: Arganda-Carreras et al. 2015, "Crowdsourcing the
 *    creation of image segmentation algorithms for connectomics", Front.
 *    Neuroanat. 9:142, doi:10.3389/fnana.2015.00142, and the challenge's Fiji
 *    scoring code (Trainable_Segmentation, trainableSegmentation.metrics:
 *    PixelError, RandError.foregroundRestrictedStatsN2, WarpingError).
 *  - Warping error: Jain et al. 2010, "Boundary learning by optimization with
 *    topological constraints", CVPR 2010, doi:10.1109/CVPR.2010.5539950;
 *    simple points by topological numbers, Bertrand & Malandain 1994, Pattern
 *    Recognit. Lett. 15:169-175.
 *  - Cell Tracking Challenge SEG: Maska et al. 2014, Bioinformatics 30:1609
 *    ("A benchmark for comparison of cell tracking algorithms"); Ulman et al.
 *    2017, Nature Methods 14:1141 ("An objective comparison of cell-tracking
 *    algorithms").
 *
 * Image layout: row-major, w columns, h rows, one value per pixel. Label
 * images are uint32_t with 0 = background; any other value is an id (need not
 * be consecutive). Every function returns UNET_OK or an error status with
 * unet_last_error() set; none aborts on bad input.
 */
#ifndef UNETCL_METRICS_H
#define UNETCL_METRICS_H

#include "unetcl/api.h"

#include "unetcl/core.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Rand index (foreground-restricted) ---------------------------------- */

/* Flags of unet_rand_fr. 0 = the ISBI 2012 definition (Fiji script
 * RandError.foregroundRestrictedStatsN2): N^2 normalisation (sums of squared
 * counts) and predicted-background pixels inside the ground-truth foreground
 * each counted as a segment of its own. */
enum {
    UNET_RAND_PAIRS = 1,            /* count pairs, n(n-1), instead of n^2 (skimage) */
    UNET_RAND_PRED_BG_SEGMENT = 2   /* predicted label 0 is one ordinary segment (skimage) */
};

typedef struct unet_rand_stats {
    uint64_t n;        /* pixels with truth != 0 (the only pixels scored) */
    uint64_t sum_ab;   /* sum_ij f(n_ij) over the contingency table (+ singletons) */
    uint64_t sum_a;    /* sum_i f(t_i): truth segment sizes */
    uint64_t sum_b;    /* sum_j f(s_j): predicted segment sizes inside truth fg (+ singletons) */
    double split;      /* V_split = sum_ab / sum_a (the "recall"); 1 when 0/0 */
    double merge;      /* V_merge = sum_ab / sum_b (the "precision"); 1 when 0/0 */
    double f;          /* V_Rand = 2 split merge / (split + merge) */
    double error;      /* 1 - f */
} unet_rand_stats;

/* Foreground-restricted Rand scores of two label images of n pixels:
 * pixels with truth == 0 are ignored. f(c) = c^2, or c(c-1) with
 * UNET_RAND_PAIRS. Labels are arbitrary uint32 ids. */
UNETCL_API unet_status unet_rand_fr(const uint32_t *truth, const uint32_t *pred, size_t n, int flags,
                         unet_rand_stats *out);

/* ---- ISBI 2012: pixel, Rand and warping error over thresholds ------------ */

#define UNET_ISBI_MAX_THRESHOLDS 64

typedef struct unet_isbi_options {
    int n_thresholds;            /* 0 = default: the 11 values of the Fiji script, 0.0, 0.1, ...,
                                    0.9, 0.9999999999999999 (0.1 added up in double) */
    double thresholds[UNET_ISBI_MAX_THRESHOLDS];
    int warp_fg_connectivity;    /* 4 (default, as Fiji; background 8) or 8 (background 4) */
    int skip_warping;            /* nonzero: do not compute the warping error (it is the slow part) */
} unet_isbi_options;

UNETCL_API void unet_isbi_options_default(unet_isbi_options *o);

typedef struct unet_isbi_threshold {
    double threshold;            /* prediction is interior where prob > threshold */
    uint64_t tp, fp, fn, tn;     /* pixel classification, positive = interior */
    unet_rand_stats rand;        /* foreground-restricted Rand (ISBI definition) */
    uint64_t warp_mismatch;      /* pixels still disagreeing after warping the truth */
    double pixel_f;              /* F-score of the pixel classification */
} unet_isbi_threshold;

typedef struct unet_isbi_result {
    int n_thresholds;
    unet_isbi_threshold t[UNET_ISBI_MAX_THRESHOLDS];
    uint64_t n_pixels;
    uint64_t plain_mismatch;     /* pixels where (prob > 0.5) != truth */
    int has_warping;
    /* derived (unet_isbi_finish) */
    double pixel_error;          /* 1 - max_t pixel F-score */
    double pixel_error_plain;    /* plain_mismatch / n_pixels (threshold 0.5) */
    double rand_error;           /* 1 - max_t V_Rand */
    double warping_error;        /* min_t warp_mismatch / n_pixels (NaN without warping) */
    double warping_error_at_best_rand; /* warp_mismatch / n_pixels at best_threshold_rand */
    double best_threshold_pixel, best_threshold_rand, best_threshold_warp;
} unet_isbi_result;

/* One image (w x h). prob: interior probability in [0,1]. truth: 0 =
 * membrane/background, != 0 = interior. If truth_is_instances, the ids of
 * truth are the Rand segments; otherwise the segments are the 4-connected
 * components of truth != 0 (as the challenge). pred_labels: NULL (the Rand
 * segments of the prediction are the 4-connected components of prob > t), or
 * an instance image used as the predicted segments at every threshold
 * (label 0 = background). */
UNETCL_API unet_status unet_isbi_eval(const float *prob, const uint32_t *pred_labels, const uint32_t *truth,
                           int truth_is_instances, int w, int h, const unet_isbi_options *opt,
                           unet_isbi_result *out);

/* Pools the per-threshold counts of n results (a stack scored as one, the
 * challenge's way: one best threshold for all slices) into *out. All must use
 * the same thresholds. */
UNETCL_API unet_status unet_isbi_pool(const unet_isbi_result *r, int n, unet_isbi_result *out);

/* Recomputes the derived fields of *r from its counts. */
UNETCL_API void unet_isbi_finish(unet_isbi_result *r);

/* Warps the binary truth (truth_fg != 0 = foreground) toward target (!= 0 =
 * foreground) by flipping simple points only, most confident mismatches first
 * (priority[i], larger first, in passes as the ISBI scoring code; NULL =
 * column order, its order of ties). warped (w*h bytes, may be
 * NULL) receives the result. *mismatch = pixels where the warped truth and
 * target still differ. Outside the image counts as background. */
UNETCL_API unet_status unet_warp_simple_points(const uint8_t *truth_fg, const uint8_t *target, const float *priority,
                                    int w, int h, int fg_connectivity, uint8_t *warped, uint64_t *mismatch);

/* 1 if pixel (x, y) of the binary image img is a simple point for
 * (fg_connectivity, the other) connectivity: T_fg(x) == 1 and T_bg(x) == 1
 * (topological numbers over the 3x3 neighbourhood); outside = background. */
UNETCL_API int unet_is_simple_point(const uint8_t *img, int w, int h, int x, int y, int fg_connectivity);

/* ---- Cell Tracking Challenge SEG and overlap measures -------------------- */

typedef struct unet_seg_result {
    int n_truth;        /* ground-truth objects */
    int n_matched;      /* objects with a predicted object covering > 1/2 of them */
    double seg;         /* mean Jaccard over truth objects (0 for unmatched); NaN if n_truth == 0 */
    double sum_jaccard; /* numerator of seg (to pool slices: sum / sum n_truth) */
} unet_seg_result;

/* SEG of the Cell Tracking Challenge: for each truth object R the predicted
 * object S with |R n S| > |R|/2 (strictly) is its match, J = |R n S|/|R u S|,
 * 0 if none; SEG = mean J over truth objects. */
UNETCL_API unet_status unet_seg_ctc(const uint32_t *truth, const uint32_t *pred, size_t n, unet_seg_result *out);

/* SEG of a w x h image where either side may be a binary mask (is_mask
 * nonzero: != 0 = foreground), which is split into its 4-connected
 * components first. */
UNETCL_API unet_status unet_seg_ctc_2d(const uint32_t *truth, int truth_is_mask, const uint32_t *pred, int pred_is_mask, int w,
                            int h, unet_seg_result *out);

/* Object-level counts of an instance prediction against instance truth
 * (docs/metrics.md, "Object counts"). A truth object R's match is the
 * predicted object S with |R n S| > |R|/2 (SEG's rule); a predicted object
 * S belongs to R when |R n S| > |S|/2. Every truth object falls in exactly
 * one of: merged (its match is also the match of another truth object),
 * split (two or more predicted objects belong to it, and not merged),
 * one_to_one (matched, neither), missed (no match, not split). */
typedef struct unet_object_counts {
    int n_truth, n_pred;
    int one_to_one;      /* truth objects matched alone and not split */
    int merged;          /* truth objects whose match covers another truth object too */
    int merges;          /* predicted objects that are the match of two or more truth objects */
    int split;           /* truth objects with two or more predicted objects belonging to them */
    int missed;          /* truth objects with no match that are not split */
    int false_positives; /* predicted objects that match no truth object and belong to none */
    /* Cell Tracking Challenge DET (Matula et al. 2015, PLoS ONE 10:e0144959;
     * Ulman et al. 2017): AOGM-D = 5 NS + 10 FN + 1 FP with NS = splitting
     * operations needed (sum over predicted objects of matched truth - 1),
     * FN = truth objects without a match, FP = predicted objects that match
     * no truth object; DET = 1 - min(AOGM-D, 10 n_truth) / (10 n_truth). */
    int det_ns, det_fn, det_fp;
    double det;          /* NaN if n_truth == 0 */
} unet_object_counts;

/* Object counts of two instance images of n pixels (0 = background, any
 * other value an id). */
UNETCL_API unet_status unet_object_counts_compute(const uint32_t *truth, const uint32_t *pred, size_t n,
                                       unet_object_counts *out);

/* Adds the counts of b to a and recomputes a->det (to pool slices). */
UNETCL_API void unet_object_counts_add(unet_object_counts *a, const unet_object_counts *b);

/* SEG and object counts of a w x h image (either may be NULL, not both),
 * binary sides split into 4-connected components as unet_seg_ctc_2d. */
UNETCL_API unet_status unet_seg_counts_2d(const uint32_t *truth, int truth_is_mask, const uint32_t *pred, int pred_is_mask,
                               int w, int h, unet_seg_result *seg, unet_object_counts *counts);

typedef struct unet_overlap_result {
    uint64_t tp, fp, fn, tn;
    double iou;   /* tp / (tp + fp + fn); 1 when both masks are empty */
    double dice;  /* 2 tp / (2 tp + fp + fn); 1 when both masks are empty */
} unet_overlap_result;

/* Foreground IoU and Dice of two binary masks (!= 0 = foreground). */
UNETCL_API unet_status unet_overlap_binary(const uint8_t *truth, const uint8_t *pred, size_t n, unet_overlap_result *out);

/* Multi-class IoU of class-index images (values < n_classes). iou (n_classes
 * doubles, may be NULL) receives per-class IoU, NaN for a class absent from
 * both; *miou the mean over the classes present in either image. */
UNETCL_API unet_status unet_iou_classes(const uint32_t *truth, const uint32_t *pred, size_t n, int n_classes, double *iou,
                             double *miou);

/* ---- evaluation of files, as `unetcl eval` does it ------------------------- */

enum { UNET_EVAL_ISBI = 1, UNET_EVAL_SEG = 2, UNET_EVAL_IOU = 4 };
typedef enum unet_pred_kind {
    UNET_PRED_PROB = 0,     /* probability: 8-bit /255, 16-bit /65535, float as is */
    UNET_PRED_MASK = 1,     /* binary mask, nonzero = foreground */
    UNET_PRED_INSTANCES = 2 /* instance ids, 0 = background */
} unet_pred_kind;
typedef enum unet_truth_kind {
    UNET_TRUTH_BINARY = 0,    /* nonzero = foreground */
    UNET_TRUTH_INSTANCES = 1, /* instance ids (Cell Tracking Challenge) */
    UNET_TRUTH_CLASSES = 2    /* class-index image: mean IoU only */
} unet_truth_kind;

typedef struct unet_eval_options {
    int metrics;               /* UNET_EVAL_* bits (default all three) */
    unet_pred_kind pred_kind;  /* default PROB */
    unet_truth_kind truth_kind;/* default BINARY */
    int warp_connectivity;     /* warping error's foreground connectivity, 4 (default) or 8 */
    int skip_warping;          /* 1: no warping error (the slow part) */
} unet_eval_options;

UNETCL_API void unet_eval_options_default(unet_eval_options *o);

/* Scores a prediction file against a ground-truth file (PNG or TIFF; stacks
 * slice by slice, plus pooled scores): *report (may be NULL) receives the
 * text `unetcl eval` prints, *json (may be NULL) the JSON document `unetcl
 * eval --json` writes; both malloc'ed (free with free()). Sizes that differ,
 * values that are not of the given kind, unreadable files: UNET_ERR_DATA,
 * UNET_ERR_IO or UNET_ERR_FORMAT naming the file and pixel. */
UNETCL_API unet_status unet_evaluate_files(const char *pred, const char *truth, const unet_eval_options *o, char **report,
                                           char **json);

#ifdef __cplusplus
}
#endif

#endif
