/* Internal: training curves drawn with cairo (see unet_plot_runs in
 * unetcl/export.h). */
#ifndef UNETCL_PLOT_H
#define UNETCL_PLOT_H

#include "unetcl/export.h"

/* One run: its name in the legend and its two CSV logs. */
typedef struct unet_plot_run {
    const char *label;
    const char *train_csv; /* step,loss,pixel_accuracy,lr,image,seconds */
    const char *val_csv;   /* step,val_loss,val_pixel_accuracy,val_iou */
} unet_plot_run;

/* Draws the runs into png_path (atomically). A last line without a newline
 * (a log being written) is left out; any other malformed line is
 * UNET_ERR_FORMAT naming file and line. */
unet_status unet_plot_files(const unet_plot_run *runs, int nruns, const char *png_path, int width, int height);

#endif
