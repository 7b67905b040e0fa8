/* Overlap-tile prediction of whole images. */
#include "net.h"
#include "tiling.h"

#include <stdlib.h>
#include <string.h>

unet_status unet_predict_image(unet_net *n, const float *image, int h, int w, float *probs,
                               unet_progress_fn progress, void *user)
{
    if (!n || !image || !probs) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_predict_image: NULL argument");
    if (h <= 0 || w <= 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "image of size %dx%d", w, h);
    const unet_model_config *c = &n->m->cfg;
    const unet_plan_info *pi = &n->info;
    int align = 1 << (c->depth - 1);
    unet_tile_grid gy, gx;
    UNET_TRY(unet_tile_grid_make(h, pi->in_h, pi->out_h, align, &gy));
    UNET_TRY(unet_tile_grid_make(w, pi->in_w, pi->out_w, align, &gx));
    size_t tin = (size_t)c->in_channels * pi->in_h * pi->in_w;
    size_t tout = (size_t)c->classes * pi->out_h * pi->out_w;
    float *tile = malloc(tin * sizeof *tile), *out = malloc(tout * sizeof *out);
    if (!tile || !out) {
        free(tile);
        free(out);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for a %dx%d tile", pi->in_w, pi->in_h);
    }
    unet_status st = UNET_OK;
    int total = gy.count * gx.count, done = 0;
    for (int ty = 0; ty < gy.count && st == UNET_OK; ty++) {
        int oy = unet_tile_origin(&gy, ty);
        int ny = (oy + gy.stride < h ? gy.stride : h - oy);
        for (int tx = 0; tx < gx.count && st == UNET_OK; tx++) {
            int ox = unet_tile_origin(&gx, tx);
            int nx = (ox + gx.stride < w ? gx.stride : w - ox);
            unet_extract_tile_mirror(image, c->in_channels, h, w, oy - gy.margin, ox - gx.margin, pi->in_h, pi->in_w,
                                     tile);
            st = unet_net_forward(n, tile, 0, 0, out, NULL);
            if (st != UNET_OK) break;
            for (int k = 0; k < c->classes; k++)
                for (int y = 0; y < ny; y++)
                    memcpy(probs + ((size_t)k * h + oy + y) * w + ox, out + ((size_t)k * pi->out_h + y) * pi->out_w,
                           (size_t)nx * sizeof *out);
            done++;
            if (progress && progress(done, total, user)) st = unet_seterr(UNET_ERR_INTERRUPTED, "prediction stopped");
        }
    }
    free(tile);
    free(out);
    return st;
}
