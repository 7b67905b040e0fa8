/*
 * unetcl — the U-Net of Ronneberger, Fischer & Brox (2015) on any OpenCL device.
 *
 * The core of the public C API: status codes and messages, devices and
 * contexts, models, networks, SGD and prediction. Every function returns a unet_status; on failure
 * unet_last_error() holds a message that says what failed, where, and what to
 * do about it. The library never calls exit() or abort().
 */
#ifndef UNETCL_CORE_H
#define UNETCL_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "unetcl/api.h"
#include "unetcl/version.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef enum unet_status {
    UNET_OK = 0,
    UNET_ERR_INVALID_ARGUMENT, /* a parameter is out of range or inconsistent */
    UNET_ERR_NO_DEVICE,        /* no OpenCL platform/device, or none matches */
    UNET_ERR_OPENCL,           /* an OpenCL call failed */
    UNET_ERR_BUILD,            /* an OpenCL program failed to compile */
    UNET_ERR_BLAS,             /* a CLBlast call failed */
    UNET_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
    UNET_ERR_DOES_NOT_FIT,     /* the plan needs more device memory than there is */
    UNET_ERR_IO,               /* a file could not be read or written */
    UNET_ERR_FORMAT,           /* a file is corrupt, truncated or of another kind */
    UNET_ERR_CONFIG,           /* a configuration key or value is wrong */
    UNET_ERR_DATA,             /* training/inference data is inconsistent */
    UNET_ERR_INTERRUPTED,      /* stopped on request (Ctrl-C) */
    UNET_ERR_INTERNAL          /* a bug: please report it */
} unet_status;

/* A short fixed description of a status code ("OpenCL error", ...). */
UNETCL_API const char *unet_status_string(unet_status status);

/* The message of the last failure in this thread ("" if none). */
UNETCL_API const char *unet_last_error(void);

/* Sets the last-error message of this thread (printf format) and returns
 * status: for callbacks a caller gives the library (row readers, the
 * collectives of unet_dist), so that their failures carry a message. */
UNETCL_API unet_status unet_seterr(unet_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Writes n bytes to path atomically (a temporary file next to it, fsync,
 * rename): readers never see a partial file; on failure an existing file is
 * left as it was. */
UNETCL_API unet_status unet_write_file_atomic(const char *path, const void *data, size_t n);

/* Creates a folder and its parents (like mkdir -p). 0 on success; -1 with
 * errno set (ENOTDIR when a component exists and is not a folder,
 * ENAMETOOLONG for paths of 4096 bytes or more); not a unet_status. */
UNETCL_API int unet_mkdir_p(const char *path);

/* Clears the last-error message of this thread. */
UNETCL_API void unet_clear_error(void);

/* Library version as "MAJOR.MINOR.PATCH". */
UNETCL_API const char *unet_version(void);

/* ---- devices ------------------------------------------------------------ */

typedef enum unet_device_type {
    UNET_DEVICE_CPU = 1,
    UNET_DEVICE_GPU = 2,
    UNET_DEVICE_ACCELERATOR = 4,
    UNET_DEVICE_OTHER = 8
} unet_device_type;

typedef struct unet_device_info {
    int index;                 /* global index over all platforms */
    int platform_index;
    char platform_name[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char device_version[128];  /* "OpenCL 3.0 PoCL ..." */
    char opencl_c_version[128];
    unet_device_type type;
    unsigned compute_units;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_mem_bytes;
    size_t max_work_group_size;
    int fp16_arithmetic;       /* 1: the device offers cl_khr_fp16 (half arithmetic) */
} unet_device_info;

/* Lists every OpenCL device of every platform. *count receives the number;
 * *infos (malloc'ed, free with free()) the descriptions. Zero devices is not
 * an error here: *count is 0. */
UNETCL_API unet_status unet_list_devices(unet_device_info **infos, int *count);

/* ---- context ------------------------------------------------------------ */

typedef struct unet_context unet_context;

typedef struct unet_context_options {
    /* Device selector: NULL/""/"auto" = first GPU, else first CPU;
     * "gpu", "cpu", "accelerator" = first of that type; "N" = device index N
     * from unet_list_devices; "gpu:N"/"cpu:N" = N-th of that type;
     * anything else = first device whose name, vendor or platform contains
     * the string (case-insensitive). */
    const char *device;
    /* Program-binary cache folder. NULL = $UNETCL_CACHE_DIR, else
     * $XDG_CACHE_HOME/unetcl, else ~/.cache/unetcl. */
    const char *cache_dir;
    int disable_cache;   /* 1: always compile (also $UNETCL_NO_CACHE=1) */
    int enable_profiling; /* 1: command queue with profiling events */
    int verbose;          /* 1: log program builds and cache hits to stderr */
    /* 1: do not apply the device's CLBlast tuning file written by `unetcl
     * tune` (also $UNETCL_CLBLAST_TUNING=0). */
    int disable_clblast_tuning;
    /* 1: run every 3x3 convolution on unetcl's own GPU kernels (implicit
     * GEMM, src/cl/conv_gpu.cl) whatever the device and the tuning say, so
     * that a CPU device (PoCL) runs what a GPU runs (tests). Also
     * $UNETCL_GPU_KERNELS=1, read once here. */
    int force_gpu_kernels;
    /* 1: [device] precision = fp16: convolution operands stored as binary16
     * with float accumulation, on unetcl's GPU kernels (docs/gpu.md). GPU
     * devices only, unless force_gpu_kernels is set. */
    int precision_fp16;
} unet_context_options;

UNETCL_API void unet_context_options_default(unet_context_options *opts);

UNETCL_API unet_status unet_context_create(const unet_context_options *opts, unet_context **ctx);
/* unet_context_create with default options on the device `device` (a
 * selector as in unet_context_options; NULL: auto): for callers that do not
 * mirror the options struct (bindings). */
UNETCL_API unet_status unet_context_create_on(const char *device, unet_context **ctx);
UNETCL_API void unet_context_destroy(unet_context *ctx);
UNETCL_API unet_status unet_context_device_info(const unet_context *ctx, unet_device_info *info);

/* Waits until every command enqueued on the context has finished (for
 * timing: the library's calls may return before the device is done). */
UNETCL_API unet_status unet_finish(unet_context *ctx);

/* The device's measured FP32 peak in GFLOP/s (a multiply-add kernel timed
 * for about a second; benchmarks report their share of it). */
UNETCL_API unet_status unet_measure_peak_gflops(unet_context *ctx, double *gflops);

/* Bytes the CPU GEMM's pack buffers (kept per context, grown on demand)
 * hold now (0 on devices that use CLBlast); measured peaks count them. */
UNETCL_API size_t unet_gemm_cpu_pack_bytes(const unet_context *ctx);

/* Warnings of the context's creation, one per line: UNETCL_* environment
 * variables that are no knob of the library (a misspelt name; the knobs are
 * listed in docs/knobs.md); NULL when none. Also written to stderr, once per
 * process. A knob with a bad value makes unet_context_create fail
 * (UNET_ERR_CONFIG) instead. */
UNETCL_API const char *unet_context_warnings(const unet_context *ctx);

/* Statistics of the program cache since the context was created. */
typedef struct unet_cache_stats {
    int programs_compiled;
    int programs_loaded;   /* from the on-disk binary cache */
    double build_seconds;  /* wall time spent in compile/load */
} unet_cache_stats;
UNETCL_API void unet_context_cache_stats(const unet_context *ctx, unet_cache_stats *stats);

/* Compiles (or loads from cache) every embedded kernel program now. */
UNETCL_API unet_status unet_context_build_all(unet_context *ctx);


/* ---- model -------------------------------------------------------------- */

typedef struct unet_model_config {
    int in_channels;   /* 1 */
    int classes;       /* K = 2 */
    int depth;         /* levels including the bottleneck: 5 */
    int base_channels; /* channels of the first level: 64 (doubling per level) */
    float dropout;     /* drop-out rate at the end of the contracting path: 0.5 */
    int upconv_relu;   /* ReLU after each up-convolution (as the authors' Caffe model): 1 */
} unet_model_config;

/* The paper's network: 1 input channel, 2 classes, 5 levels, 64 channels. */
UNETCL_API void unet_model_config_default(unet_model_config *cfg);

/* Output size of an input tile of size `in` along one axis, or 0 if `in`
 * is not a valid tile (every max-pool must see an even size). */
UNETCL_API int unet_tile_output(const unet_model_config *cfg, int in);

/* UNET_OK if `in` is valid; else UNET_ERR_INVALID_ARGUMENT with a message
 * naming the nearest valid sizes. */
UNETCL_API unet_status unet_tile_check(const unet_model_config *cfg, int in);

/* The largest valid tile <= limit (0 if none), and the smallest valid tile
 * whose output is >= out_size. */
UNETCL_API int unet_tile_valid_below(const unet_model_config *cfg, int limit);
UNETCL_API int unet_tile_for_output(const unet_model_config *cfg, int out_size);

typedef struct unet_model unet_model;

/* Creates a model on the context's device with weights initialised as the
 * paper says: Gaussian, std sqrt(2/fan_in), from `seed`; biases zero. */
UNETCL_API unet_status unet_model_create(unet_context *ctx, const unet_model_config *cfg, uint64_t seed,
                              unet_model **model);
UNETCL_API void unet_model_destroy(unet_model *model);
UNETCL_API size_t unet_model_param_count(const unet_model *model);
UNETCL_API const unet_model_config *unet_model_get_config(const unet_model *model);

/* Parameters as named tensors (names like "enc1.conv1.weight"). */
UNETCL_API int unet_model_tensor_count(const unet_model *model);
UNETCL_API unet_status unet_model_tensor_info(const unet_model *model, int i, const char **name, int shape[4],
                                   int *ndim, size_t *offset, size_t *count);
/* Host copies of all parameters / gradients / momenta (param_count floats). */
UNETCL_API unet_status unet_model_get_params(unet_model *model, float *host);
UNETCL_API unet_status unet_model_set_params(unet_model *model, const float *host);
UNETCL_API unet_status unet_model_get_grads(unet_model *model, float *host);
UNETCL_API unet_status unet_model_get_momentum(unet_model *model, float *host);
UNETCL_API unet_status unet_model_set_momentum(unet_model *model, const float *host);

/* ---- model files (safetensors) ------------------------------------------ */

typedef struct unet_kv {
    const char *key;
    const char *value;
} unet_kv;

/* Writes the weights (and, with with_momentum, the momentum buffers as
 * "momentum.<name>") to a safetensors file, atomically (temporary file in the
 * same folder, fsync, rename). Tensor names say where they sit
 * ("enc1.conv1.weight"); the file loads in PyTorch with
 * safetensors.torch.load_file. __metadata__ holds the model configuration
 * and the given key/values. */
UNETCL_API unet_status unet_model_save(unet_model *model, const char *path, int with_momentum, const unet_kv *meta,
                            size_t nmeta);

/* Reads a model written by unet_model_save (or by any tool using the same
 * names and PyTorch layouts: without unetcl metadata the configuration is
 * inferred from the tensor shapes). with_momentum: also restore momenta
 * (an error if the file has none). meta_json (may be NULL) receives every
 * metadata entry as a JSON object (free with free()). A truncated or foreign
 * file, a missing tensor or a wrong shape is UNET_ERR_FORMAT naming the file
 * and the tensor. */
UNETCL_API unet_status unet_model_load(unet_context *ctx, const char *path, int with_momentum, unet_model **model,
                            char **meta_json);

/* ---- network plan: every buffer for one tile size, allocated once ------- */

typedef struct unet_net unet_net;

typedef struct unet_plan_info {
    int in_h, in_w, out_h, out_w;
    int training;
    /* activation_bytes: the arenas that hold the activations and (training)
     * the gradients, each tensor placed by its lifetime so that tensors not
     * alive at the same time share memory; gradient_bytes: 0 (inside the
     * arenas); total_bytes: arenas + parameters (+ gradients + momentum) and
     * transformed-weight caches + workspace + GEMM pack buffers + CLBlast's
     * temporary buffer */
    uint64_t activation_bytes, gradient_bytes, parameter_bytes, workspace_bytes, total_bytes;
    uint64_t largest_buffer_bytes;
    char largest_buffer[72];
    double forward_flops; /* multiply-add = 2 */
    uint64_t unshared_bytes;  /* activations + gradients with a buffer each (no reuse) */
    uint64_t gemm_pack_bytes; /* CPU devices: bound of the CPU GEMM's pack buffers (in total_bytes) */
    uint64_t blas_temp_bytes; /* GPU path: CLBlast's temporary buffer, the largest one GEMM needs (in total_bytes);
                                 reserved by unet_net_create and handed to CLBlast, which then allocates none */
} unet_plan_info;

/* Sizes the buffers of a forward (training=0) or forward+backward
 * (training=1) pass over an in_h x in_w tile, without allocating. Returns
 * UNET_ERR_DOES_NOT_FIT with what it needs, what the device has and what to
 * change when it does not fit. */
UNETCL_API unet_status unet_plan(const unet_model *model, int in_h, int in_w, int training, unet_plan_info *info);

/* Plans and allocates. */
UNETCL_API unet_status unet_net_create(unet_model *model, int in_h, int in_w, int training, unet_net **net);
UNETCL_API void unet_net_destroy(unet_net *net);
UNETCL_API const unet_plan_info *unet_net_info(const unet_net *net);

/* Forward pass of one tile: input host [in_channels][in_h][in_w]; on return
 * probs (may be NULL) receives softmax probabilities [classes][out_h][out_w]
 * and logits (may be NULL) the raw scores. `train_mode` enables drop-out
 * with the given seed. */
UNETCL_API unet_status unet_net_forward(unet_net *net, const float *input, int train_mode, uint64_t dropout_seed,
                             float *probs, float *logits);

typedef struct unet_step_result {
    double loss;        /* weighted loss of the tile (normalised by pixel count) */
    double weight_sum;  /* sum of weights of labelled pixels */
    double correct;     /* labelled pixels whose arg-max equals the label */
    double labelled;    /* labelled pixels */
} unet_step_result;

/* Forward + weighted softmax cross-entropy + backward, leaving the gradients
 * in the model (overwritten). labels: int32 [out_h][out_w] (outside [0,K):
 * ignored); weights: float [out_h][out_w] or NULL (all ones). */
UNETCL_API unet_status unet_net_loss_backward(unet_net *net, const float *input, const int32_t *labels,
                                   const float *weights, uint64_t dropout_seed,
                                   unet_step_result *result);

/* One SGD-with-momentum update of all parameters from the current gradients. */
UNETCL_API unet_status unet_model_sgd(unet_model *model, float lr, float momentum, float weight_decay);

/* Forward only, with loss and accuracy (validation): no gradients. */
UNETCL_API unet_status unet_net_evaluate(unet_net *net, const float *input, const int32_t *labels,
                              const float *weights, float *probs, unet_step_result *result);

/* Per-layer timing of forward passes (and of the backward layers of a
 * training step): with profiling on, every layer waits for the device and its
 * wall time is added up by layer name, and with a profiling queue
 * (unet_context_options.enable_profiling) the execution time of its commands
 * as well (unet_net_profile_device). */
UNETCL_API void unet_net_set_profiling(unet_net *net, int on);
/* Entry i of the profile (0 when i is past the end). */
UNETCL_API int unet_net_profile(const unet_net *net, int i, const char **name, double *seconds, int *calls);
/* Execution time of entry i's commands from OpenCL profiling events (kernels,
 * CLBlast GEMMs, buffer fills and copies), in seconds; -1 when the context was
 * created without enable_profiling or i is past the end. */
UNETCL_API double unet_net_profile_device(const unet_net *net, int i);

/* ---- overlap-tile prediction --------------------------------------------- */

/* Called after each tile with (done, total, user); return non-zero to stop
 * (the prediction then returns UNET_ERR_INTERRUPTED). */
typedef int (*unet_progress_fn)(int done, int total, void *user);

/* Segments an image of any size with the overlap-tile strategy of the
 * paper: tiles of the net's input size, outputs stitched without blending,
 * context beyond the border mirrored. Tile output origins lie on a grid of
 * 2^(depth-1) pixels so the result does not depend on the tile size.
 * image: [in_channels][h][w] normalised; probs: [classes][h][w]. */
UNETCL_API unet_status unet_predict_image(unet_net *net, const float *image, int h, int w, float *probs,
                               unet_progress_fn progress, void *user);

/* Flags of the prediction functions. */
enum {
    /* Test-time augmentation: every tile is also segmented flipped and
     * rotated (the 8 symmetries of the square: identity, 3 rotations by 90
     * degrees, 4 mirrorings), each output is transformed back and the class
     * probabilities are averaged. 8x the work; needs square tiles. Because
     * the output of a square tile is its centre, transforming tiles gives
     * the same result as transforming an image whose size equals the tile
     * output; tile output origins on the 2^(depth-1) grid keep the result
     * independent of the tile size as without TTA. */
    UNET_PREDICT_TTA = 1
};

/* Receives probabilities [classes][rows][w] of image rows y0 .. y0+rows-1
 * (the outputs of one row of tiles, top to bottom, each row exactly once).
 * The buffer is reused after the call returns. A status other than UNET_OK
 * (set with a message by the callback) stops the prediction with it. */
typedef unet_status (*unet_rows_fn)(const float *probs, int y0, int rows, int w, void *user);

/* unet_predict_image, streamed: the host holds one row of tiles of output
 * (classes x stride x w floats, stride <= the tile's output height) beside
 * the input, so images of any size can be written strip by strip. */
UNETCL_API unet_status unet_predict_image_rows(unet_net *net, const float *image, int h, int w, unsigned flags,
                                    unet_rows_fn rows, void *rows_user, unet_progress_fn progress, void *user);

/* Supplies rows y0 .. y0+rows-1 of the normalised input image into dst
 * ([in_channels][rows][w]). unet_predict_stream asks for every row exactly
 * once, top to bottom, so a reader can go through a file once. A status other
 * than UNET_OK (set with a message) stops the prediction with it. */
typedef unet_status (*unet_input_rows_fn)(float *dst, int y0, int rows, int w, void *user);

/* unet_predict_image_rows with the input streamed as well: the host holds a
 * window of input rows (unet_predict_stream_window) and 64 rows for reading
 * (rows are asked for at most 64 at a time), plus one row of tiles of
 * output, so memory does not grow with the image height. The probabilities are bitwise those of
 * unet_predict_image_rows on the whole image. */
UNETCL_API unet_status unet_predict_stream(unet_net *net, int h, int w, unsigned flags, unet_input_rows_fn input, void *in_user,
                                unet_rows_fn rows, void *rows_user, unet_progress_fn progress, void *user);

/* The number of input rows unet_predict_stream keeps for an h x w image:
 * at most a small multiple of the net's input tile height, whatever h. */
UNETCL_API unet_status unet_predict_stream_window(const unet_net *net, int h, int w, int *rows);

/* unet_predict_image with flags (UNET_PREDICT_TTA). */
UNETCL_API unet_status unet_predict_image_ex(unet_net *net, const float *image, int h, int w, unsigned flags, float *probs,
                                  unet_progress_fn progress, void *user);

/* The device selector for the process of local rank L (its rank among the
 * processes of its host; Open MPI: OMPI_COMM_WORLD_LOCAL_RANK) given the
 * selector `sel` and the host's devices (unet_list_devices):
 *   "gpu"          -> "gpu:(L mod G)" with G GPUs (one GPU per rank; more
 *                     ranks than GPUs share them round-robin); "gpu" when
 *                     there is none (context creation then reports it);
 *   "auto" or ""   -> the same when there are GPUs, else "auto" (all ranks
 *                     on the first CPU device);
 *   anything else  -> unchanged ("cpu", "gpu:N", "N", a name: the user chose).
 * Writes into out (at most n bytes, NUL-terminated) and returns it. */
UNETCL_API const char *unet_rank_device(const char *sel, int local_rank, const unet_device_info *infos, int count, char *out,
                             size_t n);

/* The device's tuned parameters as `unetcl devices` prints them, one line
 * each ("CLBlast: tuned (PATH)" or "CLBlast: default parameters ...", the
 * GPU convolution kernels' tuning, fp16), from the tuning cache ($UNETCL_CACHE_DIR, else $XDG_CACHE_HOME/unetcl or
 * ~/.cache/unetcl). */
UNETCL_API void unet_device_tuning_describe(const unet_device_info *dev, char *out, size_t n);

/* The tile size for inference on an h x w image: the largest valid square
 * tile whose inference plan fits the device (unet_plan), at most `limit`
 * (<= 0: 4096), but no larger than the smallest valid tile whose output
 * covers the whole image in one tile. UNET_ERR_DOES_NOT_FIT if none fits. */
UNETCL_API unet_status unet_choose_tile(const unet_model *model, int h, int w, int limit, int *tile);

#ifdef __cplusplus
}
#endif

#endif /* UNETCL_CORE_H */
