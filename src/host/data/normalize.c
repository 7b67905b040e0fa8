#include "normalize.h"
#include "error.h"

#include <math.h>
#include <string.h>

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

/* ---- streamed ----------------------------------------------------------------- */

unet_status unet_norm_stream_begin(const unet_config *cfg, int c, int bits, int w, int h, unet_norm_stream *ns)
{
    if (!cfg || !ns) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_norm_stream_begin: NULL argument");
    memset(ns, 0, sizeof *ns);
    if (w <= 0 || h <= 0 || c <= 0 || c > UNET_NORM_MAX_CHANNELS)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_norm_stream_begin: image of %dx%d with %d channels", w, h,
                           c);
    ns->mode = cfg->data.normalize;
    ns->c = c;
    ns->plane = (size_t)w * h;
    if (ns->mode == UNET_NORM_FIXED) {
        if (bits == 8) ns->scale = 1.0 / 255.0;
        else if (bits == 16) ns->scale = 1.0 / 65535.0;
        else if (bits == 32) ns->scale = 1.0;
        else
            return unet_seterr(UNET_ERR_DATA, "normalize = fixed: image of %d bits per sample (expected 8, 16 or 32)",
                               bits);
        if (!(cfg->data.norm_std > 0))
            return unet_seterr(UNET_ERR_CONFIG, "[data] norm_std = %g: must be > 0", cfg->data.norm_std);
        ns->m = cfg->data.norm_mean;
        ns->inv_fixed = 1.0 / cfg->data.norm_std;
        ns->pass = 2;
    }
    return UNET_OK;
}

int unet_norm_stream_passes(const unet_norm_stream *ns) { return ns->mode == UNET_NORM_FIXED ? 0 : 2; }

unet_status unet_norm_stream_add(unet_norm_stream *ns, const float *rows, size_t plane_stride, size_t n)
{
    if (ns->pass > 1) return unet_seterr(UNET_ERR_INTERNAL, "unet_norm_stream_add: the statistics are complete");
    for (int ch = 0; ch < ns->c; ch++) {
        const float *src = rows + (size_t)ch * plane_stride;
        if (ns->pass == 0) {
            double s = ns->sum[ch];
            for (size_t i = 0; i < n; i++) {
                if (!isfinite(src[i]))
                    return unet_seterr(UNET_ERR_DATA, "image pixel %zu of channel %d is not a finite number",
                                       ns->seen + i, ch);
                s += src[i];
            }
            ns->sum[ch] = s;
        } else {
            double ss = ns->ss[ch], mean = ns->mean[ch];
            for (size_t i = 0; i < n; i++) {
                double d = src[i] - mean;
                ss += d * d;
            }
            ns->ss[ch] = ss;
        }
    }
    ns->seen += n;
    return UNET_OK;
}

unet_status unet_norm_stream_end_pass(unet_norm_stream *ns)
{
    if (ns->pass > 1 || ns->seen != ns->plane)
        return unet_seterr(UNET_ERR_INTERNAL, "unet_norm_stream_end_pass: %zu of %zu pixels seen in pass %d", ns->seen,
                           ns->plane, ns->pass);
    for (int ch = 0; ch < ns->c; ch++) {
        if (ns->pass == 0) ns->mean[ch] = ns->sum[ch] / (double)ns->plane;
        else {
            double sd = sqrt(ns->ss[ch] / (double)ns->plane);
            if (sd < 1e-6) sd = 1e-6;
            ns->inv[ch] = 1.0 / sd;
        }
    }
    ns->pass++;
    ns->seen = 0;
    return UNET_OK;
}

unet_status unet_norm_stream_apply(const unet_norm_stream *ns, float *rows, size_t plane_stride, size_t n, size_t first)
{
    if (ns->pass < 2) return unet_seterr(UNET_ERR_INTERNAL, "unet_norm_stream_apply: statistics incomplete");
    for (int ch = 0; ch < ns->c; ch++) {
        float *p = rows + (size_t)ch * plane_stride;
        if (ns->mode == UNET_NORM_FIXED) {
            for (size_t i = 0; i < n; i++) {
                double x = p[i];
                if (!isfinite(x))
                    return unet_seterr(UNET_ERR_DATA, "image pixel %zu of channel %d is not a finite number", first + i,
                                       ch);
                p[i] = (float)((x * ns->scale - ns->m) * ns->inv_fixed);
            }
        } else {
            double mean = ns->mean[ch], inv = ns->inv[ch];
            for (size_t i = 0; i < n; i++) p[i] = (float)((p[i] - mean) * inv);
        }
    }
    return UNET_OK;
}
