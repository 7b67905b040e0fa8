/* Internal: overlap-tile placement (the paper's Fig. 2) and mirror padding. */
#ifndef UNETCL_TILING_H
#define UNETCL_TILING_H

#include "unetcl/unetcl.h"

/* Mirror index: reflects i into [0, n) without repeating the edge pixel
 * (-1 -> 1, n -> n-2), repeatedly for far-away i. n == 1 -> 0. */
static inline int unet_mirror(int i, int n)
{
    if (n == 1) return 0;
    int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

typedef struct unet_tile_grid {
    int tile, out;    /* input tile size and its output size along this axis */
    int margin;       /* (tile - out) / 2: context on each side */
    int stride;       /* distance between output origins: a multiple of align */
    int align;        /* 2^(depth-1): tile origins on this grid keep max-pooling aligned */
    int count;        /* tiles along this axis */
} unet_tile_grid;

/* Places tiles along an axis of length n so that their outputs cover
 * [0, n) exactly once when each tile contributes [origin, origin+stride)
 * (the last one up to n). Output origins are multiples of `align`, so any
 * two tilings of the same image give the same result. */
unet_status unet_tile_grid_make(int n, int tile, int out, int align, unet_tile_grid *g);

/* Output origin of tile i. */
static inline int unet_tile_origin(const unet_tile_grid *g, int i) { return i * g->stride; }

/* Copies an input tile (channels c, tile_h x tile_w) whose top-left corner
 * is (y0, x0) in image coordinates (may be negative / beyond the image) from
 * img [c][h][w], mirroring outside. */
void unet_extract_tile_mirror(const float *img, int c, int h, int w, int y0, int x0, int tile_h, int tile_w,
                              float *tile);

/* Dihedral transform d (0..7) of c planes of n x n: dst(y,x) = src(sy,sx)
 * with (a,b) = (d&4) ? (x,y) : (y,x), sy = (d&2) ? n-1-a : a,
 * sx = (d&1) ? n-1-b : b (d = 0: identity). */
void unet_dihedral_apply(int d, const float *src, int c, int n, float *dst);

#endif
