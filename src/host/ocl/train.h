/* Internal: validation inside the training loop (the public training API is
 * include/unetcl/train.h). */
#ifndef UNETCL_TRAIN_H
#define UNETCL_TRAIN_H

#include "config.h"
#include <signal.h>
#include <stdio.h>

#include "unetcl/train.h"

/* Validation of a model on samples (whole images, overlap-tile): mean
 * weighted loss, pixel accuracy and IoU (foreground IoU for 2 classes, mean
 * IoU over classes otherwise). */
struct unet_dataset;
unet_status unet_validate(unet_net *net, const unet_config *cfg, const struct unet_dataset *val, double *loss,
                          double *accuracy, double *iou);

#endif
