/* Internal: the training loop of `unetcl train`. */
#ifndef UNETCL_TRAIN_H
#define UNETCL_TRAIN_H

#include "config.h"
#include <signal.h>
#include <stdio.h>

/* Data-parallel training: the collectives unet_train needs, supplied by the
 * caller (the CLI implements them with MPI in src/mpi/). Every rank calls
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

typedef struct unet_train_options {
    const char *resume;               /* checkpoint to continue from, or NULL */
    const char *device;               /* overrides [device] select when not NULL */
    volatile sig_atomic_t *stop;      /* set asynchronously (Ctrl-C): checkpoint and stop */
    FILE *log;                        /* progress and messages (stderr) */
    int quiet;                        /* no progress bar */
    const unet_dist *dist;            /* NULL: one process */
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
 * checkpoint) when *stop was set. */
unet_status unet_train(const unet_config *cfg, const unet_train_options *opts, unet_train_summary *summary);

/* Validation of a model on samples (whole images, overlap-tile): mean
 * weighted loss, pixel accuracy and IoU (foreground IoU for 2 classes, mean
 * IoU over classes otherwise). */
struct unet_dataset;
unet_status unet_validate(unet_net *net, const unet_config *cfg, const struct unet_dataset *val, double *loss,
                          double *accuracy, double *iou);

#endif
