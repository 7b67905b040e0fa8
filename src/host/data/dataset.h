/* Internal: training/validation data — image/label pairs from folders, glob
 * patterns or multi-page TIFF stacks, turned into classes and weight maps. */
#ifndef UNETCL_DATASET_H
#define UNETCL_DATASET_H

#include "config.h"
#include "unetcl/image.h"
#include <stdint.h>

typedef struct unet_sample {
    char name[512];   /* "path" or "path[page]" for pages of a stack */
    int w, h, c;
    float *image;     /* [c][h][w], scaled to about [0,1] (see unet_scale01) */
    float mean[64], std[64]; /* per-channel statistics of `image` (per_image normalisation,
                              * as unet_normalize_image does at inference) */
    int32_t *labels;  /* class per pixel [h][w] */
    float *weights;   /* loss weight per pixel [h][w], NULL when weights are off */
    int cells;        /* instances in the ground truth (instance/binary labels) */
    int partial;      /* [data] partial matched its label file: far background has weight 0 */
} unet_sample;

typedef struct unet_dataset {
    int n;
    unet_sample *s;
    double class_pixels[256]; /* pixels per class over the set */
} unet_dataset;

/* Scales raw image values to about [0,1] for augmentation: 8-bit / 255,
 * 16-bit / 65535, float as is; per_image normalisation additionally
 * stretches the 0.5..99.5 percentile range to [0,1] (so that 16-bit images
 * that use a small part of their range see sensible gray-value variation;
 * the final per-image standardisation makes the stretch irrelevant to the
 * network). Writes c*h*w floats to out and the per-channel mean and std
 * (arrays of c) of the result. */
unet_status unet_scale01(const unet_config *cfg, const unet_image *img, float *out, float *mean, float *std);

/* The affine map a*x + b of channel ch that turns the scaled image into the
 * network's input: per_image (x - mean_ch) / std_ch, fixed (x - norm_mean) /
 * norm_std; the same as unet_normalize_image on the raw image. */
void unet_sample_affine(const unet_config *cfg, const unet_sample *s, int ch, float *a, float *b);

/* Loads every pair of (images, labels): both are a folder, a glob pattern or
 * a file (multi-page TIFF: every page is an image). Pairs are matched in
 * sorted order; counts, sizes and label values are checked, with errors
 * naming the files. Labels become classes (and weight maps when
 * cfg->weights.enabled) per cfg->data.label_type. */
unet_status unet_dataset_load(const unet_config *cfg, const char *images, const char *labels, unet_dataset *ds);

/* Moves a deterministic (seed) fraction of ds into val (at least one sample
 * when fraction > 0 and ds has two or more). */
unet_status unet_dataset_split(unet_dataset *ds, double fraction, uint64_t seed, unet_dataset *val);

void unet_dataset_free(unet_dataset *ds);

#endif
