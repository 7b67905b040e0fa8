/* The one reader of label images (training data, augmentation previews,
 * weight maps): a single-channel PNG/TIFF page of non-negative integers. */
#include "error.h"
#include "unetcl/image.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void unet_label_options_default(unet_label_options *o)
{
    memset(o, 0, sizeof *o);
    o->type = UNET_LABEL_INSTANCES;
    o->foreground_value = 255;
    o->classes = 2;
}

unet_status unet_labels_read(const char *path, int page, const unet_label_options *o, int32_t **ids, int *w, int *h)
{
    if (!path || !o || !ids || !w || !h) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_labels_read: NULL argument");
    *ids = NULL;
    char name[1100];
    if (page > 0) snprintf(name, sizeof name, "%.1024s[%d]", path, page);
    else snprintf(name, sizeof name, "%.1024s", path);
    unet_image lab;
    memset(&lab, 0, sizeof lab);
    UNET_TRY(unet_image_read(path, page, &lab));
    unet_status st = UNET_OK;
    size_t n = (size_t)lab.w * (size_t)lab.h;
    int32_t *out = NULL;
    if (lab.c != 1)
        st = unet_seterr(UNET_ERR_DATA, "label image %s has %d channels: labels must be single-channel", name, lab.c);
    else if (!(out = malloc(n * sizeof *out)))
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the label image %s", name);
    for (size_t i = 0; st == UNET_OK && i < n; i++) {
        float v = lab.data[i];
        int x = (int)(i % (size_t)lab.w), y = (int)(i / (size_t)lab.w);
        /* 2147483647.0f rounds up to 2^31, which int32_t cannot hold */
        if (!(v >= 0) || v != floorf(v) || v >= 2147483648.0f) {
            st = unet_seterr(UNET_ERR_DATA, "label image %s: value %g at (x %d, y %d) is not a non-negative integer",
                             name, (double)v, x, y);
            break;
        }
        int32_t iv = (int32_t)v;
        switch (o->type) {
        case UNET_LABEL_INSTANCES: out[i] = iv; break;
        case UNET_LABEL_BINARY:
            if (iv != 0 && iv != o->foreground_value) {
                st = unet_seterr(UNET_ERR_DATA,
                                 "label image %s: value %d at (x %d, y %d) is neither 0 nor the foreground value %d "
                                 "([data] foreground_value; or use label_type = instances or classes)",
                                 name, iv, x, y, o->foreground_value);
                break;
            }
            out[i] = (iv == o->foreground_value) != (o->invert != 0);
            break;
        case UNET_LABEL_CLASSES:
            if (iv >= o->classes) {
                st = unet_seterr(UNET_ERR_DATA,
                                 "label image %s: class %d at (x %d, y %d) is outside 0..%d ([model] classes = %d)",
                                 name, iv, x, y, o->classes - 1, o->classes);
                break;
            }
            out[i] = iv;
            break;
        default: st = unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_labels_read: unknown label type %d", (int)o->type);
        }
    }
    *w = lab.w;
    *h = lab.h;
    unet_image_free(&lab);
    if (st != UNET_OK) {
        free(out);
        return st;
    }
    *ids = out;
    return UNET_OK;
}
