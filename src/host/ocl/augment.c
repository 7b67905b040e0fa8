#include "augment.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int finite_in(double v, double lo, double hi) { return isfinite(v) && v >= lo && v <= hi; }

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
    cl_int err = UNET_SET_ARGS(k, unet_arg_mem(src->mem), unet_arg_int(C), unet_arg_int(H), unet_arg_int(W),
                               unet_arg_mem(src_labels), unet_arg_mem(src_weights), unet_arg_mem(dst->mem),
                               unet_arg_int(Tc), unet_arg_mem(dst_labels), unet_arg_mem(dst_weights),
                               unet_arg_int(Oc), unet_arg_int(offc), unet_arg_int(fl), unet_arg_mem(grid),
                               unet_arg_int(G), unet_arg_float(a00), unet_arg_float(a01), unet_arg_float(a10),
                               unet_arg_float(a11), unet_arg_float(cx), unet_arg_float(cy));
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
    UNET_CL_TRY(UNET_SET_ARGS(kg, unet_arg_mem(dst->mem), unet_arg_int(n), unet_arg_float(gamma),
                              unet_arg_float(contrast), unet_arg_float(pivot), unet_arg_float(bright),
                              unet_arg_float(noise), unet_arg_ulong(nseed), unet_arg_int(gfl)),
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
