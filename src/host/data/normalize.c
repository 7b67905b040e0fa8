#include "normalize.h"
#include "error.h"

#include <math.h>

unet_status unet_normalize_image(const unet_config *cfg, const unet_image *img, float *out)
{
    if (!cfg || !img || !out || !img->data)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_normalize_image: NULL argument");
    if (img->w <= 0 || img->h <= 0 || img->c <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_normalize_image: empty image (%dx%d, %d channels)",
                           img->w, img->h, img->c);
    size_t plane = (size_t)img->w * img->h;
    if (cfg->data.normalize == UNET_NORM_FIXED) {
        double scale;
        if (img->bits == 8) scale = 1.0 / 255.0;
        else if (img->bits == 16) scale = 1.0 / 65535.0;
        else if (img->bits == 32) scale = 1.0;
        else
            return unet_seterr(UNET_ERR_DATA, "normalize = fixed: image of %d bits per sample (expected 8, 16 or 32)",
                               img->bits);
        if (!(cfg->data.norm_std > 0))
            return unet_seterr(UNET_ERR_CONFIG, "[data] norm_std = %g: must be > 0", cfg->data.norm_std);
        double m = cfg->data.norm_mean, inv = 1.0 / cfg->data.norm_std;
        size_t n = plane * img->c;
        for (size_t i = 0; i < n; i++) {
            double x = img->data[i];
            if (!isfinite(x))
                return unet_seterr(UNET_ERR_DATA, "image pixel %zu of channel %zu is not a finite number",
                                   i % plane, i / plane);
            out[i] = (float)((x * scale - m) * inv);
        }
        return UNET_OK;
    }
    for (int ch = 0; ch < img->c; ch++) {
        const float *src = img->data + (size_t)ch * plane;
        float *dst = out + (size_t)ch * plane;
        /* two passes in double: the mean first, then the centred sum of
         * squares (no cancellation for 16-bit images with a large offset) */
        double s = 0;
        for (size_t i = 0; i < plane; i++) {
            if (!isfinite(src[i]))
                return unet_seterr(UNET_ERR_DATA, "image pixel %zu of channel %d is not a finite number", i, ch);
            s += src[i];
        }
        double mean = s / (double)plane, ss = 0;
        for (size_t i = 0; i < plane; i++) {
            double d = src[i] - mean;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)plane);
        if (sd < 1e-6) sd = 1e-6;
        double inv = 1.0 / sd;
        for (size_t i = 0; i < plane; i++) dst[i] = (float)((src[i] - mean) * inv);
    }
    return UNET_OK;
}
