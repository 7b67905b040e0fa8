/*
 * unetcl — exporting trained models for other tools, and pictures of a
 * training. Part of the public C API (see unetcl.h for the conventions:
 * every function returns a unet_status, unet_last_error() says what failed,
 * where, and what to do; nothing here exits or aborts).
 */
#ifndef UNETCL_EXPORT_H
#define UNETCL_EXPORT_H

#include "unetcl/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- geometry and input normalisation ------------------------------------ */

/* Valid tile sizes of a network are min_tile + k * tile_step (k >= 0); the
 * output of a tile is 2 * halo smaller along each axis (halo = the context
 * the network needs on each side of an output pixel: 92 for the paper's
 * network, whose valid tiles are 188 + 16k). */
typedef struct unet_geometry {
    int min_tile, tile_step, halo;
} unet_geometry;
UNETCL_API unet_status unet_model_geometry(const unet_model_config *cfg, unet_geometry *g);

/* How the input of a model must be normalised, from the training
 * configuration kept in a model file's metadata (the meta_json of
 * unet_model_load). known = 0 when the file has no training configuration
 * (a model not written by `unetcl train`): unetcl then normalises per image. */
typedef struct unet_input_norm {
    int known;
    int per_image; /* 1: per image and channel (x - mean) / std; 0: fixed */
    double mean, std; /* fixed: (x * s - mean) / std, s = 1/255 (8 bit), 1/65535 (16 bit), 1 (float) */
    double resize;    /* [data] scale of training: images resized by this factor first (1: not resized) */
} unet_input_norm;
UNETCL_API unet_status unet_model_input_norm(const char *meta_json, unet_input_norm *norm);

/* ---- ONNX ---------------------------------------------------------------- */

/* Writes the network as an ONNX model (IR version 7, opset 13), atomically:
 * input "input" float32 [N, in_channels, H, W] (normalised; H and W valid
 * tile sizes), output "probabilities" float32 [N, classes, H - 2 halo,
 * W - 2 halo] (softmax over the classes). Valid 3x3 Conv + Relu, 2x2
 * MaxPool, 2x2 stride-2 ConvTranspose (+ Relu when the model has
 * upconv_relu), centre crop (Slice) + Concat [skip, up-sampled], final 1x1
 * Conv, Softmax; drop-out (identity at inference) is left out. metadata_props
 * hold the model configuration, the input normalisation (unetcl.normalize,
 * unetcl.norm_mean, unetcl.norm_std, unetcl.input) and the tile geometry.
 * tile > 0 (a valid tile size) declares H = W = tile in the graph's input
 * (OpenCV 4.6's importer needs declared sizes; the graph itself computes any
 * valid size); tile = 0 leaves H and W symbolic. meta_json (may be NULL) is
 * the metadata of the model file. A model whose parameters exceed the 2 GiB
 * limit of a protobuf message is refused with UNET_ERR_INVALID_ARGUMENT. */
UNETCL_API unet_status unet_export_onnx(unet_model *model, const char *meta_json, int tile, const char *path);

/* ---- bioimage.io ------------------------------------------------------- */

typedef struct unet_bioimageio_options {
    const char *name;        /* NULL: "U-Net (unetcl)" */
    const char *description; /* NULL: one generated from the configuration */
    const char *authors;     /* comma-separated names; NULL: "unetcl user" */
    const char *license;     /* SPDX identifier; NULL: "CC-BY-4.0" */
    const char *sample;      /* image (PNG/TIFF) whose centre is the test input; NULL: a synthetic cell image */
    int tile;                /* test tile size; 0: the largest valid tile <= 572 (at least the rdf's minimum) */
} unet_bioimageio_options;
UNETCL_API void unet_bioimageio_options_default(unet_bioimageio_options *o);

/* Writes a bioimage.io model folder (format_version 0.4) at out_dir, which
 * must not exist: rdf.yaml (inputs/outputs with axes bcyx, valid shapes as
 * min/step, halo = the network's context, the preprocessing of the model's
 * normalisation, the U-Net paper cited), weights.onnx (H and W symbolic),
 * weights.safetensors (a copy of model_path, an attachment), test_input.npy
 * (values before preprocessing) with test_output.npy (the library's
 * probabilities after the declared preprocessing), cover.png and README.md.
 * Everything is written into a staging folder renamed to out_dir at the end;
 * on failure nothing is left. */
UNETCL_API unet_status unet_export_bioimageio(unet_model *model, const char *meta_json, const char *model_path, const char *out_dir,
                                   const unet_bioimageio_options *opts);

/* ---- pictures of a training ---------------------------------------------- */

/* Draws the curves of one or more training runs into a PNG (atomically):
 * training loss (with a moving average) and validation loss on a log scale
 * against the step on the left, validation IoU on the right. Each run_dir
 * holds train_log.csv (step,loss,pixel_accuracy,lr,image,seconds) and
 * val_log.csv (step,val_loss,val_pixel_accuracy,val_iou; may have no rows);
 * a missing or malformed file is UNET_ERR_FORMAT/UNET_ERR_IO naming the file
 * and line. width/height <= 0: 1200 x 500. */
UNETCL_API unet_status unet_plot_runs(const char *const *run_dirs, int nruns, const char *png_path, int width, int height);

#ifdef __cplusplus
}
#endif

#endif /* UNETCL_EXPORT_H */
