#include "tiling.h"
#include "error.h"

unet_status unet_tile_grid_make(int n, int tile, int out, int align, unet_tile_grid *g)
{
    if (n <= 0 || tile <= 0 || out <= 0 || out > tile || align <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tile grid: bad sizes (n %d, tile %d, out %d)", n, tile, out);
    g->tile = tile;
    g->out = out;
    g->margin = (tile - out) / 2;
    g->align = align;
    g->stride = out / align * align;
    if (g->stride <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tile output %d is smaller than the alignment %d", out, align);
    g->count = (n + g->stride - 1) / g->stride;
    return UNET_OK;
}

void unet_extract_tile_mirror(const float *img, int c, int h, int w, int y0, int x0, int th, int tw, float *tile)
{
    for (int ch = 0; ch < c; ch++) {
        const float *src = img + (size_t)ch * h * w;
        float *dst = tile + (size_t)ch * th * tw;
        for (int y = 0; y < th; y++) {
            int sy = unet_mirror(y0 + y, h);
            const float *row = src + (size_t)sy * w;
            float *drow = dst + (size_t)y * tw;
            int x = 0;
            /* fast path for the part inside the image */
            for (; x < tw && x0 + x < 0; x++) drow[x] = row[unet_mirror(x0 + x, w)];
            for (; x < tw && x0 + x < w; x++) drow[x] = row[x0 + x];
            for (; x < tw; x++) drow[x] = row[unet_mirror(x0 + x, w)];
        }
    }
}
