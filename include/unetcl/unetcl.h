/*
 * unetcl — the U-Net of Ronneberger, Fischer & Brox (2015) on any OpenCL device.
 *
 * The whole public C API, one header per area (each can be included alone):
 *   unetcl/core.h      status codes, devices, contexts, models, networks, prediction
 *   unetcl/config.h    run configurations (INI files, overrides)
 *   unetcl/image.h     PNG / TIFF reading and writing
 *   unetcl/weightmap.h the paper's weight maps
 *   unetcl/synth.h     synthetic cell images
 *   unetcl/augment.h   the paper's augmentation, previews
 *   unetcl/metrics.h   ISBI 2012 and Cell Tracking Challenge metrics
 *   unetcl/train.h     training as `unetcl train` does it
 *   unetcl/infer.h     inference as `unetcl infer` does it (outputs, streaming)
 *   unetcl/export.h    ONNX and bioimage.io export, training curves
 *   unetcl/tune.h      tuning a device as `unetcl tune` does it (CLBlast, GPU
 *                      convolution kernels, CPU kernels), what is cached
 * Every function returns a unet_status (or is documented otherwise); on
 * failure unet_last_error() holds a one-line message. The library never
 * calls exit() or abort(). Link with -lunetcl (pkg-config unetcl, or CMake
 * find_package(unetcl) and unetcl::unetcl).
 */
#ifndef UNETCL_UNETCL_H
#define UNETCL_UNETCL_H

#include "unetcl/core.h"
#include "unetcl/config.h"
#include "unetcl/image.h"
#include "unetcl/weightmap.h"
#include "unetcl/synth.h"
#include "unetcl/augment.h"
#include "unetcl/metrics.h"
#include "unetcl/train.h"
#include "unetcl/infer.h"
#include "unetcl/export.h"
#include "unetcl/tune.h"

#endif /* UNETCL_UNETCL_H */
