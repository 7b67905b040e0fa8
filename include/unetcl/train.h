/*
 * unetcl: training as `unetcl train` does it (data, augmentation, weight
 * maps, the paper's loss, SGD, validation, logs, checkpoints, resume).
 *
 *     unet_config *cfg;  unet_config_new(&cfg);
 *     unet_config_load(cfg, "configs/tiny.ini");
 *     unet_train_options o = {0};
 *     o.log = stderr;  o.on_step = my_progress;  o.user = my_state;
 *     unet_train_summary s;
 *     unet_status st = unet_train(cfg, &o, &s);
 */
#ifndef UNETCL_TRAIN_PUBLIC_H
#define UNETCL_TRAIN_PUBLIC_H

#include "unetcl/config.h"
#include "unetcl/core.h"

#include <signal.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Data-parallel training: the collectives unet_train needs, supplied by the
 * caller (the CLI implements them with MPI in cli/dist.c). Every rank calls
 * unet_train with the same configuration; rank r computes tiles r, r + size,
 * ... of each step's batch of size x [train] batch tiles; rank 0 alone writes
 * logs, validation, checkpoints and the model. Each function returns UNET_OK
 * or an error with a message, and must be called by all ranks. */
typedef struct unet_dist {
    int rank, size;
    /* Every rank's `bytes` bytes at `mine`, concatenated in rank order into
     * `all` (size x bytes) on every rank. */
    unet_status (*allgather)(const void *mine, size_t bytes, void *all, void *user);
    /* buf[i] = sum over ranks of buf[i], added in rank order ((r0 + r1) + r2
     * ...) whatever the number of ranks, so the same bits on every rank and
     * in every run. */
    unet_status (*sum)(float *buf, size_t n, void *user);
    void *user;
} unet_dist;

/* What on_step sees after each step. */
typedef struct unet_train_progress {
    int step;             /* steps done (1-based) */
    int total;            /* [train] iterations */
    double loss;          /* the step's weighted loss (mean over its tiles) */
    double accuracy;      /* the step's pixel accuracy */
    double lr;            /* learning rate used */
    double val_loss, val_accuracy, val_iou; /* after a validation at this step, else -1 */
    double seconds;       /* since this call started */
} unet_train_progress;

typedef struct unet_train_options {
    const char *resume;               /* checkpoint to continue from, or NULL */
    const char *device;               /* overrides [device] select when not NULL */
    volatile sig_atomic_t *stop;      /* set asynchronously (Ctrl-C): checkpoint and stop */
    FILE *log;                        /* progress and messages (stderr) */
    int quiet;                        /* no progress bar */
    const unet_dist *dist;            /* NULL: one process */
    /* Called after every step (on every rank) with the step's figures;
     * a non-zero return stops training as Ctrl-C does: a checkpoint is
     * written and unet_train returns UNET_ERR_INTERRUPTED. May be NULL. */
    int (*on_step)(const unet_train_progress *progress, void *user);
    void *user;                       /* passed to on_step */
} unet_train_options;

typedef struct unet_train_summary {
    int steps_done;                   /* steps run in this call */
    int last_step;                    /* index of the next step (= iterations when finished) */
    double last_loss;
    double val_loss, val_accuracy, val_iou; /* last validation, -1 when none */
    double seconds;
} unet_train_summary;

/* Trains as the configuration says; writes checkpoints, logs and the final
 * model under [output] dir. Returns UNET_ERR_INTERRUPTED (after writing a
 * checkpoint) when *stop was set or on_step asked to stop. */
UNETCL_API unet_status unet_train(const unet_config *cfg, const unet_train_options *opts, unet_train_summary *summary);

#ifdef __cplusplus
}
#endif

#endif
