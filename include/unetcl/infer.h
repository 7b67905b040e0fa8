/*
 * unetcl: the inference pipeline as a library (what `unetcl infer` does).
 *
 * An unet_infer segments images with a loaded model: normalisation as in
 * training ([data] normalize), [data] scale, the overlap-tile prediction
 * (optionally with test-time augmentation), and the outputs of `unetcl infer`
 * (docs/inference.md): probabilities, the arg-max mask, instances and the
 * overlay, for single images and multi-page TIFF stacks. Images larger than
 * a threshold are segmented streamed, in host memory that does not grow with
 * the image height (docs/scale.md, "Streaming").
 *
 * Plain C types only; no OpenCL type is needed. Every function returns
 * UNET_OK or a status with a one-line message (unet_last_error()).
 */
#ifndef UNETCL_INFER_H
#define UNETCL_INFER_H

#include "unetcl/api.h"
#include "unetcl/config.h"
#include "unetcl/core.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Outputs of unet_infer_file (bits of unet_infer_options.outputs; the values
 * of [infer] outputs). */
enum {
    UNET_INFER_PROB = 1,      /* NAME_prob.png (2 classes, 16-bit p*65535) or NAME_prob_cK.tif (float) */
    UNET_INFER_MASK = 2,      /* NAME_mask.png: class k * (255 / (classes - 1)) */
    UNET_INFER_INSTANCES = 4, /* NAME_instances.png: 16-bit ids (float TIFF above 65535 objects) */
    UNET_INFER_OVERLAY = 8    /* NAME_overlay.png: the input in grey, objects in colour */
};

/* What the callback is told. */
typedef enum unet_infer_event_kind {
    UNET_INFER_EV_TILE = 0,   /* a tile was segmented: tiles_done of tiles_total of this page */
    UNET_INFER_EV_PAGE = 1,   /* a page's outputs are written: w, h, tile, tile_out, objects */
    UNET_INFER_EV_NOTICE = 2  /* a one-line notice in message (e.g. instances written as float TIFF) */
} unet_infer_event_kind;

typedef struct unet_infer_event {
    unet_infer_event_kind kind;
    const char *path;       /* the input file */
    int page, pages;        /* 0-based page of the file, and its page count */
    int tiles_done, tiles_total;
    int w, h;               /* page size */
    int tile, tile_out;     /* input tile edge and its output edge */
    int objects;            /* instances written (-1: none asked for) */
    int streamed;           /* 1: this page was segmented streamed */
    uint64_t stream_host_bytes; /* streamed: the host buffers of the pipeline (docs/scale.md) */
    int stream_instance_rows;   /* streamed with instances: the most rows the instance labelling held */
    const char *message;    /* UNET_INFER_EV_NOTICE */
} unet_infer_event;

/* Progress, page results and notices. Return non-zero to stop: the call in
 * progress returns UNET_ERR_INTERRUPTED and writes no file of that input. */
typedef int (*unet_infer_callback)(const unet_infer_event *ev, void *user);

typedef struct unet_infer_options {
    unsigned outputs;         /* UNET_INFER_* bits: all four by default */
    int tile;                 /* input tile edge; 0 = the largest that fits (at most 1024 on CPU devices) */
    int tta;                  /* 1: average over the 8 flips/rotations */
    /* Images (pages) of more than this many megapixels are segmented
     * streamed when prob, mask and/or instances are asked for at [data]
     * scale = 1: read by rows, strips or tiles, written by rows (PNG) or as
     * tiled BigTIFF, in memory bounded by the width (instances: by the width
     * times the tallest region of touching cells, at most
     * max(1024, stream_megapixels * 1e6 / width) rows, else an error). With
     * the overlay or a scale (which need the whole image) they are segmented
     * in memory as below the threshold, with a notice, or refused when that
     * would need more than memory_limit_bytes. 0 = stream whenever possible.
     * Default 64. */
    double stream_megapixels;
    /* The whole-image path's limit for images above stream_megapixels
     * (estimated bytes; docs/scale.md). 0 = the machine's physical memory. */
    uint64_t memory_limit_bytes;
    const char *model_name;   /* names the model in messages (e.g. its file); may be NULL */
    unet_infer_callback callback; /* may be NULL */
    void *user;
} unet_infer_options;

UNETCL_API void unet_infer_options_default(unet_infer_options *o);
/* The [infer] section of cfg (outputs, tile, tta, stream_megapixels); the
 * callback and model_name are left as they are. */
UNETCL_API void unet_infer_options_from_config(const unet_config *cfg, unet_infer_options *o);

typedef struct unet_infer unet_infer;

/* An inference pipeline for model. cfg supplies [data] (normalize,
 * norm_mean, norm_std, scale, targets) and the [infer] instance settings
 * (instances, connectivity, thresholds, min_seed, min_size, fill_holes); it
 * is copied. opts may be NULL: unet_infer_options_from_config(cfg). The
 * model must outlive the pipeline. */
UNETCL_API unet_status unet_infer_create(unet_model *model, const unet_config *cfg, const unet_infer_options *opts,
                                         unet_infer **inf);
UNETCL_API void unet_infer_destroy(unet_infer *inf);

/* Checks that a model fits the configuration it is used with, from the
 * metadata unet_model_load returned (meta_json may be NULL): classes 2..256,
 * the [data] targets and scale it was trained with. model_path and cfg_path
 * only serve the message, which says what to set. */
UNETCL_API unet_status unet_infer_check_model(const unet_model *model, const char *meta_json, const unet_config *cfg,
                                              const char *model_path, const char *cfg_path);

/* Segments one input file (PNG or TIFF; a multi-page TIFF gives multi-page
 * TIFF outputs) into out_dir (created with its parents when missing): the
 * files `unetcl infer` writes, named after
 * the input (NAME_prob.png, ...). Outputs are written to temporary files and
 * renamed into place when the whole input succeeded. */
UNETCL_API unet_status unet_infer_file(unet_infer *inf, const char *path, const char *out_dir);

/* ---- in memory ------------------------------------------------------------ */

/* Class probabilities [classes][h][w] of an image [c][h][w] of raw values
 * (as read from an 8-, 16-bit or float file; bits = 8, 16 or 32 for
 * normalize = fixed): normalised, resized by [data] scale and back, as
 * unet_infer_file does. */
UNETCL_API unet_status unet_infer_image(unet_infer *inf, const float *image, int c, int h, int w, int bits,
                                        float *probs);

/* The arg-max class of each pixel of probs [classes][h][w] (ties: the lower
 * class). */
UNETCL_API unet_status unet_infer_mask(const float *probs, int classes, int h, int w, uint8_t *mask);

/* Instances (ids 1..count, 0 background; row-major h x w) from probs
 * [classes][h][w] by the pipeline's [infer] instance settings: components of
 * the non-background arg-max, or the seeded watershed of the probabilities
 * (border3: interior = class 2). The same ids as NAME_instances. */
UNETCL_API unet_status unet_infer_instances(const unet_infer *inf, const float *probs, int h, int w, int32_t *ids,
                                            int *count);

#ifdef __cplusplus
}
#endif

#endif /* UNETCL_INFER_H */
