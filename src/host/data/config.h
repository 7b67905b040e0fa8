/*
 * Run configuration: every setting of the INI sections [model], [data],
 * [train], [augment], [weights], [device], [infer] and [output].
 *
 * Defaults are the values of the U-Net paper (Ronneberger et al. 2015) where
 * the paper gives one, otherwise a documented choice (see config.c and the
 * commented presets in configs/).
 *
 * Parsing: a small INI reader of our own (not inih). Debian's libinih 55 is
 * built without INI_HANDLER_LINENO, cuts lines at 200 bytes (the rest of a
 * long path is parsed as a line of its own), has no quoting (a value cannot
 * hold " ;") and treats indented lines as
 * continuations; we need exact line numbers for every error, duplicate-key
 * detection and long paths, so config.c reads the file itself. Syntax:
 *
 *   ; comment            # comment         (whole-line comments)
 *   [section]
 *   key = value          ; inline comment  (";" or "#" after whitespace)
 *   key = "value with ; or # or leading/trailing spaces"  (\" and \\ escapes)
 *
 * Values are trimmed; an unquoted value ends at the first " ;" / " #".
 * Booleans: true/false, yes/no, on/off, 1/0 (case-insensitive). Integers are
 * decimal; reals accept anything strtod does except inf/nan/overflow.
 * Every error (unknown section or key, malformed or out-of-range value,
 * duplicate key, syntax) is UNET_ERR_CONFIG with "FILE:LINE: ..." in
 * unet_last_error(). Relative paths are used as written, i.e. relative to the
 * current working directory of the process.
 */
#ifndef UNETCL_CONFIG_H
#define UNETCL_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "unetcl/config.h"
#include "unetcl/unetcl.h"

/* Longest string value (paths), including the terminating NUL. */
#define UNET_CONFIG_STR 4096

/* unet_label_type ([data] label_type) is public: include/unetcl/image.h. */
#include "unetcl/image.h"

/* What the network learns from instance (or binary) labels. */
typedef enum unet_targets {
    UNET_TARGETS_PAPER = 0,  /* 2 classes: background / cell, touching cells separated by a
                              * background border (the paper's recipe) */
    UNET_TARGETS_BORDER3 = 1 /* 3 classes: background / cell border / cell interior; the border
                              * is every cell pixel within border_width of another id or of
                              * the background (docs/inference.md) */
} unet_targets;

/* How [infer] turns class probabilities into instances. */
typedef enum unet_instance_method {
    UNET_INSTANCES_COMPONENTS = 0, /* connected components of the non-background arg-max */
    UNET_INSTANCES_WATERSHED = 1   /* seeded watershed (docs/inference.md) */
} unet_instance_method;

typedef enum unet_normalize {
    UNET_NORM_PER_IMAGE = 0, /* subtract the image mean, divide by its std */
    UNET_NORM_FIXED = 1      /* (x - norm_mean) / norm_std, x in [0,1] */
} unet_normalize;

typedef enum unet_lr_schedule {
    UNET_LR_CONSTANT = 0,
    UNET_LR_STEP = 1, /* lr * lr_gamma^(floor(iter / lr_step)) */
    UNET_LR_POLY = 2  /* lr * (1 - iter/iterations)^lr_power */
} unet_lr_schedule;

typedef enum unet_balance_from {
    UNET_BALANCE_IMAGE = 0,  /* class frequencies of each ground-truth image */
    UNET_BALANCE_DATASET = 1 /* class frequencies over the whole training set */
} unet_balance_from;

/* Bits of unet_infer_config.outputs. */
enum {
    UNET_OUT_PROB = 1,
    UNET_OUT_MASK = 2,
    UNET_OUT_INSTANCES = 4,
    UNET_OUT_OVERLAY = 8
};

/* The [model] section (the library's unet_model_config is made from it
 * with unet_config_model). */
typedef struct unet_model_settings {
    int in_channels;   /* 1 */
    int classes;       /* 2 */
    int depth;         /* 5: resolution levels including the bottleneck */
    int base_channels; /* 64: channels of the first level, doubled per level */
    double dropout;    /* 0.5: drop-out at the end of the contracting path, [0,1) */
    int upconv_relu;   /* 1: ReLU after the 2x2 up-convolution */
} unet_model_settings;

typedef struct unet_data_config {
    char train_images[UNET_CONFIG_STR]; /* folder, glob or multi-page TIFF */
    char train_labels[UNET_CONFIG_STR];
    char val_images[UNET_CONFIG_STR];   /* optional; else val_fraction of train */
    char val_labels[UNET_CONFIG_STR];
    double val_fraction;                /* 0.2, [0,1) */
    unet_label_type label_type;         /* instances */
    int foreground_value;               /* 255 (binary labels) */
    unet_normalize normalize;           /* per_image */
    double norm_mean;                   /* 0 (fixed) */
    double norm_std;                    /* 1 (fixed), > 0 */
    int invert_labels;                  /* 0: 1 = swap foreground/background */
    double scale;                       /* 1: images (and labels) are resized by this factor for
                                         * training and inference (cells of the size the network
                                         * learns best at, fewer pixels per step) */
    unet_targets targets;               /* paper */
    int border_width;                   /* 2 px (targets = border3) */
    char partial[UNET_CONFIG_STR];      /* "": glob of label file names that are partially annotated */
    int background_margin;              /* 20 px: background of partial labels farther from every cell
                                         * gets loss weight 0 */
} unet_data_config;

typedef struct unet_train_config {
    int tile;                   /* 572: input tile edge */
    int iterations;             /* 10000 */
    int batch;                  /* 1: tiles per SGD step on one device (gradient accumulation) */
    double lr;                  /* 0.01 */
    double momentum;            /* 0.99 */
    double weight_decay;        /* 0 */
    unet_lr_schedule lr_schedule; /* constant */
    int lr_step;                /* 5000 (step) */
    double lr_gamma;            /* 0.1 (step) */
    double lr_power;            /* 0.9 (poly) */
    uint64_t seed;              /* 1 */
    int val_every;              /* 500 iterations; 0 = never */
    int checkpoint_every;       /* 1000 iterations; 0 = only at the end */
    int log_every;              /* 10 iterations */
} unet_train_config;

/* The [augment] section; unet_config_augment_options (cfgmap.h) maps it onto
 * the library's unet_augment_options (augment.h documents the semantics). */
typedef struct unet_augment_config {
    int enabled;           /* 1: master switch */
    int elastic;           /* 1 */
    int elastic_grid;      /* 3: coarse grid points per axis, 2..16 */
    double elastic_sigma;  /* 10 px: std of the grid displacements */
    int rotate;            /* 1 */
    double rotate_max_deg; /* 180: uniform angle in [-max, max] */
    int flip;              /* 1: random horizontal/vertical flips */
    double shift;          /* 0 px: extra random shift uniform in [-s, s] (tiles are already placed at random) */
    int gray;              /* 1: gray-value variation (brightness, contrast, gamma, noise) */
    double brightness;     /* 0.1: additive, uniform in [-b, b] (intensity in [0,1]) */
    double contrast;       /* 0.1: multiplicative, uniform in [1-c, 1+c] about 0.5, c <= 0.999 */
    double gamma;          /* 0.1: exponent uniform in [1-g, 1+g], g <= 0.999 */
    double noise_std;      /* 0.02: additive Gaussian noise */
} unet_augment_config;

typedef struct unet_weights_config {
    int enabled;       /* 1: weighted loss */
    double w0;         /* 10 */
    double sigma;      /* 5 px */
    int class_balance; /* 1: w_c balances class frequencies */
    unet_balance_from balance_from; /* image */
    int border;        /* 1: separating border between touching instances */
} unet_weights_config;

typedef enum unet_precision { UNET_PRECISION_FP32 = 0, UNET_PRECISION_FP16 } unet_precision;

typedef struct unet_device_config {
    char select[256];                /* "auto" (see unet_context_options.device) */
    char cache_dir[UNET_CONFIG_STR]; /* "" = default cache folder */
    int no_cache;                    /* 0 */
    unet_precision precision;        /* fp32; fp16: convolution operands in binary16 (docs/gpu.md) */
} unet_device_config;

typedef struct unet_infer_config {
    char model[UNET_CONFIG_STR];  /* checkpoint / weights file */
    char input[UNET_CONFIG_STR];  /* image, folder, glob or TIFF stack */
    char output[UNET_CONFIG_STR]; /* output folder */
    int tile;                     /* 0 = choose automatically */
    int tta;                      /* 0: 1 = average over flips/rotations */
    unsigned outputs;             /* UNET_OUT_* bits; "prob,mask,instances,overlay" */
    unet_instance_method instances; /* components */
    int connectivity;             /* 8: of components and seeds (4 or 8) */
    double fg_threshold;          /* 0.5: cell pixels where P(not background) > t (watershed) */
    double seed_threshold;        /* 0.5: seeds where the interior probability > t (watershed) */
    int min_seed;                 /* 0 px: smaller seeds are dropped (watershed) */
    int min_size;                 /* 0 px: smaller objects merge into the neighbour they touch most, or go */
    int fill_holes;               /* 0: 1 = background enclosed by one object joins it */
    double stream_megapixels;     /* 64: larger images are segmented streamed (0: always) */
} unet_infer_config;

typedef struct unet_output_config {
    char dir[UNET_CONFIG_STR];        /* "runs/unet" */
    char checkpoint[UNET_CONFIG_STR]; /* "" = DIR/checkpoint.safetensors */
    char log_csv[UNET_CONFIG_STR];    /* "" = DIR/train_log.csv */
} unet_output_config;

struct unet_config {
    unet_model_settings model;
    unet_data_config data;
    unet_train_config train;
    unet_augment_config augment;
    unet_weights_config weights;
    unet_device_config device;
    unet_infer_config infer;
    unet_output_config output;
};

/* The public functions (new, free, load, set, get, validate, save, JSON)
 * are declared in include/unetcl/config.h. */

/* Writes every setting as a commented INI file to f. */
unet_status unet_config_to_ini(const unet_config *cfg, FILE *f);


/* Names of enum values ("instances", "step", ...) for logs. */
const char *unet_label_type_name(unet_label_type t);
const char *unet_normalize_name(unet_normalize n);
const char *unet_lr_schedule_name(unet_lr_schedule s);
const char *unet_balance_from_name(unet_balance_from b);
const char *unet_targets_name(unet_targets t);
const char *unet_instance_method_name(unet_instance_method m);

/* Classes the network has for the [data] settings: label_type = classes:
 * [model] classes; targets = border3: 3; otherwise 2. */
int unet_config_target_classes(const unet_config *cfg);

#endif
