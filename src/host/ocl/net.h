/* Internal: model parameters and the planned network. */
#ifndef UNETCL_NET_H
#define UNETCL_NET_H

#include "layers.h"
#include "unetcl/unetcl.h"

#define UNET_MAX_DEPTH 8
#define UNET_MAX_TENSORS 128
#define UNET_MAX_ARENAS 8

typedef struct unet_param_tensor {
    char name[48];
    int shape[4];
    int ndim;
    size_t off, count;
} unet_param_tensor;

typedef struct unet_layer_params {
    int w, b; /* indices into model->t */
} unet_layer_params;

struct unet_model {
    unet_context *ctx;
    unet_model_config cfg;
    int nt;
    unet_param_tensor t[UNET_MAX_TENSORS];
    size_t nparams;
    cl_mem params, grads, momentum;
    unet_layer_params enc[UNET_MAX_DEPTH][2];
    unet_layer_params up[UNET_MAX_DEPTH];
    unet_layer_params dec[UNET_MAX_DEPTH][2];
    unet_layer_params out;
    int channels[UNET_MAX_DEPTH];
    /* bumped whenever the parameter values change (set_params, sgd): keys
     * the transformed-weight caches of inference plans */
    uint64_t version;
};

struct unet_net {
    unet_model *m;
    unet_plan_info info;
    int training;
    unet_tensor input;
    unet_tensor enc[UNET_MAX_DEPTH][2], pool[UNET_MAX_DEPTH];
    cl_mem argmax[UNET_MAX_DEPTH];
    unet_tensor up[UNET_MAX_DEPTH], cat[UNET_MAX_DEPTH], dec[UNET_MAX_DEPTH][2];
    unet_tensor logits, probs;
    /* gradients (training only) */
    unet_tensor denc[UNET_MAX_DEPTH][2], dpool[UNET_MAX_DEPTH];
    unet_tensor dup[UNET_MAX_DEPTH], dcat[UNET_MAX_DEPTH], ddec[UNET_MAX_DEPTH][2];
    unet_tensor dlogits;
    cl_mem ws;
    size_t ws_floats;
    /* activations and gradients: sub-buffers of a few arenas, placed by
     * lifetime (net.c, "buffer reuse by liveness") */
    cl_mem arena[UNET_MAX_ARENAS];
    int narena;
    /* inference plans: transformed 3x3 weights per conv layer, refreshed when
     * m->version changes (counted in info.parameter_bytes) */
    unet_conv_wcache wenc[UNET_MAX_DEPTH][2], wdec[UNET_MAX_DEPTH][2];
    cl_mem labels, weights, xent_ws;
    int has_weights;
    /* per-layer wall times of forward passes (when profiling is on) */
    int profile;
    int nprof;
    char prof_name[64][24];
    double prof_seconds[64];
    double prof_device[64]; /* OpenCL profiling events; -1: not available */
    int prof_calls[64];
};

/* Slices of the flat parameter/gradient/momentum buffers for tensor i. */
static inline unet_slice unet_pslice(const unet_model *m, int i) { unet_slice s = {m->params, m->t[i].off}; return s; }
/* Gradients and momentum, allocated (zeroed) on the model's first training
 * use: a training net, SGD, or reading/writing them. */
unet_status unet_model_training_buffers(unet_model *m);

static inline unet_slice unet_gslice(const unet_model *m, int i) { unet_slice s = {m->grads, m->t[i].off}; return s; }

/* A unet_rows_fn that copies each row block of probabilities into a whole
 * image [classes][h][w] (unet_predict_image_ex, unet_infer_image). */
typedef struct unet_whole_rows {
    float *probs;
    int h, classes;
} unet_whole_rows;
unet_status unet_rows_into_image(const float *rows, int y0, int nrows, int w, void *user);

/* Forward pass on the device-resident input (net->input already filled). */
unet_status unet_net_forward_device(unet_net *net, int train_mode, uint64_t dropout_seed);
/* Loss+backward with labels/weights already in net->labels / net->weights. */
unet_status unet_net_loss_backward_device(unet_net *net, int has_weights, uint64_t dropout_seed,
                                          unet_step_result *r);

/* Checks the net's actual sub-buffers against the liveness schedule: 1 (and
 * why) when two tensors alive at the same step share bytes, 0 when none do
 * (pairs: how many live pairs were compared), -1 on failure (tests). */
int unet_net_alias_check(unet_net *n, int *pairs, char *why, size_t whyn);

#endif
