/* Data augmentation, the pure-C half: options, their check and the seeded
 * draw of a sample's parameters (counter-based RNG). The device warp and
 * gray-value kernels are applied by ocl/augment.c (src/cl/augment.cl). */
#include "unetcl/augment.h"
#include "error.h"
#include "mix.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define GOLDEN 0x9e3779b97f4a7c15ULL

/* Slots of the counter-based generator: fixed per parameter. */
#define SLOT_DISP 0 /* 4 per node (2 components x 2 uniforms), up to 1024 */
#define SLOT_ANGLE 2000
#define SLOT_FLIPX 2001
#define SLOT_FLIPY 2002
#define SLOT_CX 2003
#define SLOT_CY 2004
#define SLOT_BRIGHT 2005
#define SLOT_CONTRAST 2006
#define SLOT_GAMMA 2007
#define SLOT_NOISE 2008
#define SLOT_SHIFTX 2009
#define SLOT_SHIFTY 2010

static uint64_t sample_key(uint64_t seed, uint64_t step, uint64_t index)
{
    uint64_t h = unet_mix64(seed + GOLDEN);
    h = unet_mix64(h ^ (step + 0x632be59bd9b4e019ULL));
    h = unet_mix64(h ^ (index + 0x85157af5ULL * GOLDEN));
    return h;
}

static uint64_t slot_u64(uint64_t key, uint64_t slot) { return unet_mix64(key + (slot + 1) * GOLDEN); }

/* [0, 1) */
static double slot_uniform(uint64_t key, uint64_t slot)
{
    return (double)(slot_u64(key, slot) >> 11) * (1.0 / 9007199254740992.0);
}

/* N(0, 1) by Box-Muller from slots (slot, slot+1). */
static double slot_normal(uint64_t key, uint64_t slot)
{
    double u1 = ((double)(slot_u64(key, slot) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = slot_uniform(key, slot + 1);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void unet_augment_options_default(unet_augment_options *o)
{
    memset(o, 0, sizeof *o);
    o->enabled = 1;
    o->elastic = 1;
    o->grid = 3;
    o->sigma = 10.0;
    o->rotate = 1;
    o->max_angle = 180.0;
    o->flip = 1;
    o->shift = 1;
    o->gray = 1;
    o->brightness = 0.1;
    o->contrast = 0.1;
    o->gamma = 0.1;
    o->noise_std = 0.02;
    o->pivot = 0.5;
}

void unet_augment_options_none(unet_augment_options *o)
{
    unet_augment_options_default(o);
    o->enabled = o->elastic = o->rotate = o->flip = o->shift = o->gray = 0;
}

static int finite_in(double v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

unet_status unet_augment_options_check(const unet_augment_options *o)
{
    if (!o) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: options are NULL");
    if (o->grid < 1 || o->grid > UNET_AUGMENT_MAX_GRID)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: elastic grid = %d is out of range: use 1..%d nodes per side (paper: 3)",
                           o->grid, UNET_AUGMENT_MAX_GRID);
    if (!finite_in(o->sigma, 0.0, 1.0e4))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: elastic sigma = %g px is out of range: use 0..10000 (paper: 10)", o->sigma);
    if (!finite_in(o->shift_px, 0.0, 1.0e4))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: extra shift = %g px is out of range: use 0..10000", o->shift_px);
    if (!finite_in(o->max_angle, 0.0, 360.0))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: max rotation angle = %g degrees is out of range: use 0..360 "
                           "(180 = any orientation)", o->max_angle);
    if (!finite_in(o->brightness, 0.0, 100.0))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: brightness = %g is out of range: use 0..100 (normalised units, e.g. 0.1)",
                           o->brightness);
    if (!finite_in(o->contrast, 0.0, 0.999))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: contrast = %g is out of range: use 0..0.999 (factor in [1-c, 1+c])",
                           o->contrast);
    if (!finite_in(o->gamma, 0.0, 0.999))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: gamma = %g is out of range: use 0..0.999 (exponent in [1-g, 1+g])", o->gamma);
    if (!finite_in(o->noise_std, 0.0, 100.0))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: noise std = %g is out of range: use 0..100 (normalised units)", o->noise_std);
    if (!finite_in(o->pivot, -1.0e6, 1.0e6))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: contrast pivot = %g is not a sane number",
                           o->pivot);
    return UNET_OK;
}

void unet_augment_params_update(unet_augment_params *p)
{
    double c, s;
    double q = p->angle / 90.0;
    if (q == floor(q) && fabs(q) < 1.0e9) {
        /* exact matrices for multiples of 90 degrees */
        long k = ((long)q % 4 + 4) % 4;
        static const double cs[4][2] = {{1, 0}, {0, 1}, {-1, 0}, {0, -1}};
        c = cs[k][0];
        s = cs[k][1];
    } else {
        double r = p->angle * (M_PI / 180.0);
        c = cos(r);
        s = sin(r);
    }
    double fx = p->flip_x ? -1.0 : 1.0, fy = p->flip_y ? -1.0 : 1.0;
    p->a[0] = c * fx;
    p->a[1] = -s * fy;
    p->a[2] = s * fx;
    p->a[3] = c * fy;
}

/* Tile origin so that the tile is centred on the source (integer). */
static double centred(int src, int tile)
{
    return floor((double)(src - tile) / 2.0) + (double)(tile - 1) / 2.0;
}

void unet_augment_params_identity(unet_augment_params *p, int src_w, int src_h, int tile)
{
    memset(p, 0, sizeof *p);
    p->tile = tile;
    p->src_w = src_w;
    p->src_h = src_h;
    p->cx = centred(src_w, tile);
    p->cy = centred(src_h, tile);
    p->gamma = 1.0;
    p->contrast = 1.0;
    p->pivot = 0.5;
    unet_augment_params_update(p);
}

unet_status unet_augment_draw(const unet_augment_options *o, uint64_t seed, uint64_t step,
                              uint64_t index, int src_w, int src_h, int tile,
                              unet_augment_params *p)
{
    if (!p) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: params pointer is NULL");
    UNET_TRY(unet_augment_options_check(o));
    if (src_w < 1 || src_h < 1 || tile < 1 || src_w > (1 << 24) || src_h > (1 << 24) || tile > (1 << 16))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: source %d x %d with tile %d: sizes must be >= 1 (source <= 2^24, "
                           "tile <= 65536)", src_w, src_h, tile);
    unet_augment_params_identity(p, src_w, src_h, tile);
    p->pivot = o->pivot;
    if (!o->enabled) return UNET_OK;
    uint64_t key = sample_key(seed, step, index);

    if (o->elastic && o->sigma > 0.0) {
        p->grid = o->grid;
        for (int n = 0; n < o->grid * o->grid; n++)
            for (int c = 0; c < 2; c++)
                p->disp[2 * n + c] = (float)(o->sigma * slot_normal(key, SLOT_DISP + 2 * (2 * (uint64_t)n + c)));
    }
    if (o->rotate && o->max_angle > 0.0)
        p->angle = (2.0 * slot_uniform(key, SLOT_ANGLE) - 1.0) * o->max_angle;
    if (o->flip) {
        p->flip_x = slot_uniform(key, SLOT_FLIPX) < 0.5;
        p->flip_y = slot_uniform(key, SLOT_FLIPY) < 0.5;
    }
    unet_augment_params_update(p);
    if (o->shift) {
        int ix = (int)(slot_uniform(key, SLOT_CX) * src_w);
        int iy = (int)(slot_uniform(key, SLOT_CY) * src_h);
        if (ix >= src_w) ix = src_w - 1;
        if (iy >= src_h) iy = src_h - 1;
        /* the central pixel floor(T/2) of the tile lands on (ix, iy) */
        p->cx = (double)(ix - tile / 2) + (double)(tile - 1) / 2.0;
        p->cy = (double)(iy - tile / 2) + (double)(tile - 1) / 2.0;
    }
    if (o->shift_px > 0.0) {
        p->cx += (2.0 * slot_uniform(key, SLOT_SHIFTX) - 1.0) * o->shift_px;
        p->cy += (2.0 * slot_uniform(key, SLOT_SHIFTY) - 1.0) * o->shift_px;
    }
    if (o->gray) {
        p->gray = 1;
        p->brightness = (2.0 * slot_uniform(key, SLOT_BRIGHT) - 1.0) * o->brightness;
        p->contrast = 1.0 + (2.0 * slot_uniform(key, SLOT_CONTRAST) - 1.0) * o->contrast;
        p->gamma = 1.0 + (2.0 * slot_uniform(key, SLOT_GAMMA) - 1.0) * o->gamma;
        p->noise_std = o->noise_std;
        p->noise_seed = slot_u64(key, SLOT_NOISE);
    }
    return UNET_OK;
}

/* Size of a buffer, or 0 with an error set. */
