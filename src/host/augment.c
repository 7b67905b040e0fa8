/* Data augmentation: parameter drawing (counter-based RNG) and the device
 * warp / gray-value kernels (src/cl/augment.cl). See augment.h. */
#include "augment.h"

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

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t sample_key(uint64_t seed, uint64_t step, uint64_t index)
{
    uint64_t h = mix64(seed + GOLDEN);
    h = mix64(h ^ (step + 0x632be59bd9b4e019ULL));
    h = mix64(h ^ (index + 0x85157af5ULL * GOLDEN));
    return h;
}

static uint64_t slot_u64(uint64_t key, uint64_t slot) { return mix64(key + (slot + 1) * GOLDEN); }

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
static unet_status mem_size(cl_mem m, size_t *bytes, const char *what)
{
    cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof *bytes, bytes, NULL);
    if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, what);
    return UNET_OK;
}

static unet_status need_size(cl_mem m, size_t need, const char *what)
{
    size_t have = 0;
    UNET_TRY(mem_size(m, &have, what));
    if (have < need)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: %s buffer holds %zu bytes but %zu are needed: allocate it for the "
                           "source/tile size", what, have, need);
    return UNET_OK;
}

unet_status unet_augment_apply(unet_context *ctx, const unet_augment_params *p,
                               const unet_tensor *src, cl_mem src_labels, cl_mem src_weights,
                               unet_tensor *dst, int out, cl_mem dst_labels, cl_mem dst_weights)
{
    if (!ctx || !p || !src || !dst || !src->mem || !dst->mem)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: context, parameters, source and destination tensors are required");
    int T = p->tile;
    if (src->c < 1 || src->h < 1 || src->w < 1)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: source tensor %d x %d x %d is empty",
                           src->c, src->h, src->w);
    if (T < 1 || dst->c != src->c || dst->h != T || dst->w != T)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: destination tensor is %d x %d x %d but the source has %d channels and "
                           "the tile is %d: allocate a C x T x T tile", dst->c, dst->h, dst->w, src->c, T);
    if ((size_t)src->c * (size_t)T * (size_t)T > (size_t)INT_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: tile %d x %d x %d is too large", src->c, T, T);
    if (p->src_w != src->w || p->src_h != src->h)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: parameters were drawn for a %d x %d source but the source is %d x %d: "
                           "draw them for this image", p->src_w, p->src_h, src->w, src->h);
    if ((src_labels && !dst_labels) || (!src_labels && dst_labels) || (src_weights && !dst_weights) ||
        (!src_weights && dst_weights))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "augment: labels and weights need both a source and a destination buffer (or neither)");
    int flags = (src_labels ? 1 : 0) | (src_weights ? 2 : 0);
    int off = 0;
    if (flags) {
        if (out < 1 || out > T || (T - out) % 2 != 0)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                               "augment: output size %d does not fit tile %d: need 1 <= out <= tile with "
                               "tile - out even", out, T);
        off = (T - out) / 2;
    }
    if (p->grid < 0 || p->grid > UNET_AUGMENT_MAX_GRID)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: grid %d out of range 0..%d", p->grid,
                           UNET_AUGMENT_MAX_GRID);
    for (int i = 0; i < 2 * p->grid * p->grid; i++)
        if (!isfinite(p->disp[i]) || fabsf(p->disp[i]) > 1.0e6f)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: displacement %d is %g (not finite or huge)",
                               i, (double)p->disp[i]);
    for (int i = 0; i < 4; i++)
        if (!isfinite(p->a[i]) || fabs(p->a[i]) > 1.0e3)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: matrix entry %d is %g", i, p->a[i]);
    if (!finite_in(p->cx, -1.0e6, 1.0e6) || !finite_in(p->cy, -1.0e6, 1.0e6))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: tile centre (%g, %g) is out of range",
                           p->cx, p->cy);

    size_t plane = (size_t)src->h * (size_t)src->w;
    UNET_TRY(need_size(src->mem, unet_tensor_bytes(src), "source image"));
    UNET_TRY(need_size(dst->mem, unet_tensor_bytes(dst), "destination tile"));
    if (src_labels) {
        UNET_TRY(need_size(src_labels, plane * sizeof(int32_t), "source labels"));
        UNET_TRY(need_size(dst_labels, (size_t)out * out * sizeof(int32_t), "destination labels"));
    }
    if (src_weights) {
        UNET_TRY(need_size(src_weights, plane * sizeof(float), "source weights"));
        UNET_TRY(need_size(dst_weights, (size_t)out * out * sizeof(float), "destination weights"));
    }

    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "augment", "augment_warp", &k));
    cl_mem grid = NULL;
    if (p->grid > 0) {
        cl_int err;
        /* tiny (<= 2 KiB) and copied at creation; released right after the
         * launch (the runtime keeps it until the kernel has run) */
        grid = clCreateBuffer(ctx->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                              sizeof(float) * 2 * (size_t)p->grid * (size_t)p->grid, (void *)p->disp, &err);
        if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, "augment: displacement grid buffer");
    }
    cl_int C = src->c, H = src->h, W = src->w, Tc = T, Oc = out, offc = off, fl = flags, G = p->grid;
    cl_float a00 = (float)p->a[0], a01 = (float)p->a[1], a10 = (float)p->a[2], a11 = (float)p->a[3];
    cl_float cx = (float)p->cx, cy = (float)p->cy;
    cl_int err = unet_args(k, sizeof(cl_mem), &src->mem, sizeof C, &C, sizeof H, &H, sizeof W, &W,
                           sizeof(cl_mem), &src_labels, sizeof(cl_mem), &src_weights, sizeof(cl_mem), &dst->mem,
                           sizeof Tc, &Tc, sizeof(cl_mem), &dst_labels, sizeof(cl_mem), &dst_weights, sizeof Oc,
                           &Oc, sizeof offc, &offc, sizeof fl, &fl, sizeof(cl_mem), &grid, sizeof G, &G,
                           sizeof a00, &a00, sizeof a01, &a01, sizeof a10, &a10, sizeof a11, &a11, sizeof cx,
                           &cx, sizeof cy, &cy, (size_t)0);
    unet_status st = UNET_OK;
    if (err != CL_SUCCESS) st = unet_cl_fail(err, __FILE__, __LINE__, "augment: setting augment_warp arguments");
    if (st == UNET_OK) {
        size_t gws[2] = {(size_t)T, (size_t)T};
        st = unet_enqueue(ctx, k, "augment_warp", 2, gws, NULL);
    }
    if (grid) clReleaseMemObject(grid);
    if (st != UNET_OK || !p->gray) return st;

    cl_kernel kg;
    UNET_TRY(unet_kernel_get(ctx, "augment", "augment_gray", &kg));
    cl_int n = (cl_int)unet_tensor_count(dst);
    cl_float gamma = (float)p->gamma, contrast = (float)p->contrast, pivot = (float)p->pivot;
    cl_float bright = (float)p->brightness, noise = (float)p->noise_std;
    cl_ulong nseed = p->noise_seed;
    cl_int gfl = (gamma != 1.0f ? 1 : 0) | (noise > 0.0f ? 2 : 0) | (contrast != 1.0f ? 4 : 0);
    UNET_CL_TRY(unet_args(kg, sizeof(cl_mem), &dst->mem, sizeof n, &n, sizeof gamma, &gamma, sizeof contrast,
                          &contrast, sizeof pivot, &pivot, sizeof bright, &bright, sizeof noise, &noise,
                          sizeof nseed, &nseed, sizeof gfl, &gfl, (size_t)0),
                "augment: setting augment_gray arguments");
    size_t gws1 = (size_t)n;
    return unet_enqueue(ctx, kg, "augment_gray", 1, &gws1, NULL);
}

unet_status unet_augment_host(unet_context *ctx, const unet_augment_options *o, uint64_t seed,
                              uint64_t step, uint64_t index, const float *img, int c, int h, int w,
                              const int32_t *labels, const float *weights, int tile, int out,
                              float *dst_img, int32_t *dst_labels, float *dst_weights,
                              unet_augment_params *params)
{
    if (!ctx || !img || !dst_img || c < 1)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: context, image, output and channels >= 1 required");
    if ((labels && !dst_labels) || (weights && !dst_weights))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "augment: labels/weights given without an output array");
    unet_augment_params p;
    UNET_TRY(unet_augment_draw(o, seed, step, index, w, h, tile, &p));
    if (params) *params = p;
    unet_tensor src = {0}, dst = {0};
    cl_mem sl = NULL, sw = NULL, dl = NULL, dw = NULL;
    size_t plane = (size_t)h * (size_t)w;
    size_t oo = (size_t)(out > 0 ? out : 1) * (size_t)(out > 0 ? out : 1);
    unet_status st = unet_tensor_alloc(ctx, &src, c, h, w, "augment source");
    if (st == UNET_OK) st = unet_tensor_alloc(ctx, &dst, c, tile, tile, "augment tile");
    if (st == UNET_OK) st = unet_tensor_upload(ctx, &src, img);
    if (st == UNET_OK && labels) {
        st = unet_buffer_alloc(ctx, &sl, plane * sizeof(int32_t), "augment source labels");
        if (st == UNET_OK) st = unet_buffer_alloc(ctx, &dl, oo * sizeof(int32_t), "augment labels");
        if (st == UNET_OK) st = unet_buffer_write(ctx, sl, 0, plane * sizeof(int32_t), labels);
    }
    if (st == UNET_OK && weights) {
        st = unet_buffer_alloc(ctx, &sw, plane * sizeof(float), "augment source weights");
        if (st == UNET_OK) st = unet_buffer_alloc(ctx, &dw, oo * sizeof(float), "augment weights");
        if (st == UNET_OK) st = unet_buffer_write(ctx, sw, 0, plane * sizeof(float), weights);
    }
    if (st == UNET_OK) st = unet_augment_apply(ctx, &p, &src, sl, sw, &dst, out, dl, dw);
    if (st == UNET_OK) st = unet_tensor_download(ctx, &dst, dst_img);
    if (st == UNET_OK && labels) st = unet_buffer_read(ctx, dl, 0, oo * sizeof(int32_t), dst_labels);
    if (st == UNET_OK && weights) st = unet_buffer_read(ctx, dw, 0, oo * sizeof(float), dst_weights);
    if (sl) clReleaseMemObject(sl);
    if (sw) clReleaseMemObject(sw);
    if (dl) clReleaseMemObject(dl);
    if (dw) clReleaseMemObject(dw);
    unet_tensor_free(&src);
    unet_tensor_free(&dst);
    return st;
}
