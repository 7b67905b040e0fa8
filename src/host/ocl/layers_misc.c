/* Layer operations other than (up-)convolution: max-pooling, crop+concat,
 * dropout, softmax / weighted cross-entropy and the SGD update.
 * Kernels: src/cl/pool.cl, concat.cl, dropout.cl, loss.cl, sgd.cl. */
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- argument checks ------------------------------------------------------ */

/* Size in bytes of a buffer (0 on failure). */
static size_t mem_size(cl_mem m)
{
    size_t sz = 0;
    if (!m || clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof sz, &sz, NULL) != CL_SUCCESS) return 0;
    return sz;
}

static unet_status check_mem(const char *fn, const char *what, cl_mem m, size_t bytes)
{
    if (!m) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: %s is NULL (no device buffer)", fn, what);
    size_t sz = mem_size(m);
    if (sz < bytes)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: %s holds %zu bytes but %zu are needed: allocate it with the size the "
                           "layer needs",
                           fn, what, sz, bytes);
    return UNET_OK;
}

static unet_status check_tensor(const char *fn, const char *what, const unet_tensor *t)
{
    if (!t) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, what);
    if (t->c <= 0 || t->h <= 0 || t->w <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: %s has shape %dx%dx%d: every size must be >= 1",
                           fn, what, t->c, t->h, t->w);
    if (unet_tensor_count(t) > (size_t)INT32_MAX)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: %s has %zu elements, more than 2^31-1", fn,
                           what, unet_tensor_count(t));
    return check_mem(fn, what, t->mem, unet_tensor_bytes(t));
}

static unet_status check_shape(const char *fn, const char *what, const unet_tensor *t, int c, int h,
                               int w)
{
    if (t->c != c || t->h != h || t->w != w)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: %s has shape %dx%dx%d, expected %dx%dx%d", fn,
                           what, t->c, t->h, t->w, c, h, w);
    return UNET_OK;
}


/* ---- max-pooling ------------------------------------------------------------ */

unet_status unet_maxpool_forward(unet_context *ctx, const unet_tensor *in, unet_tensor *out,
                                 cl_mem argmax)
{
    static const char fn[] = "unet_maxpool_forward";
    UNET_TRY(check_tensor(fn, "input", in));
    if (in->h % 2 || in->w % 2)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: input of %dx%d: 2x2 max-pooling needs even sizes (choose a valid tile "
                           "size)",
                           fn, in->h, in->w);
    UNET_TRY(check_tensor(fn, "output", out));
    UNET_TRY(check_shape(fn, "output", out, in->c, in->h / 2, in->w / 2));
    if (argmax) UNET_TRY(check_mem(fn, "argmax buffer", argmax, unet_tensor_count(out)));
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "pool", "pool_max_fwd", &k));
    cl_int c = in->c, h = in->h, w = in->w, want = argmax ? 1 : 0;
    cl_mem am = argmax ? argmax : out->mem; /* not written when want = 0 */
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(in->mem), unet_arg_mem(out->mem), unet_arg_mem(am), unet_arg_int(c),
                              unet_arg_int(h), unet_arg_int(w), unet_arg_int(want)),
                "setting pool_max_fwd arguments");
    size_t gws[2] = {((size_t)out->w + 7) / 8, (size_t)out->c * (size_t)out->h};
    return unet_enqueue(ctx, k, "pool_max_fwd", 2, gws, NULL);
}

unet_status unet_maxpool_backward(unet_context *ctx, const unet_tensor *dout, cl_mem argmax,
                                  unet_tensor *din, int accumulate)
{
    static const char fn[] = "unet_maxpool_backward";
    UNET_TRY(check_tensor(fn, "input gradient", din));
    if (din->h % 2 || din->w % 2)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: input gradient of %dx%d: sizes must be even", fn,
                           din->h, din->w);
    UNET_TRY(check_tensor(fn, "output gradient", dout));
    UNET_TRY(check_shape(fn, "output gradient", dout, din->c, din->h / 2, din->w / 2));
    UNET_TRY(check_mem(fn, "argmax buffer", argmax, unet_tensor_count(dout)));
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "pool", "pool_max_bwd", &k));
    cl_int c = din->c, h = din->h, w = din->w, acc = accumulate ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(dout->mem), unet_arg_mem(argmax), unet_arg_mem(din->mem),
                              unet_arg_int(c), unet_arg_int(h), unet_arg_int(w), unet_arg_int(acc)),
                "setting pool_max_bwd arguments");
    size_t gws[2] = {((size_t)dout->w + 7) / 8, (size_t)din->c * (size_t)din->h};
    return unet_enqueue(ctx, k, "pool_max_bwd", 2, gws, NULL);
}

/* ---- crop + concat ------------------------------------------------------------ */

/* 1 when sub is a sub-buffer of parent starting off bytes into it (the
 * up-convolution output placed in the concatenation buffer, see
 * unet_tensor_view). */
/* 1 when sub covers parent's bytes from off on: a sub-buffer of parent at off,
 * or both sub-buffers of one buffer (the network's arenas) that far apart. */
static int is_view_of(cl_mem sub, cl_mem parent, size_t off)
{
    cl_mem assoc = NULL, passoc = NULL;
    size_t o = 0, po = 0;
    if (clGetMemObjectInfo(sub, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof assoc, &assoc, NULL) != CL_SUCCESS || !assoc)
        return 0;
    if (clGetMemObjectInfo(sub, CL_MEM_OFFSET, sizeof o, &o, NULL) != CL_SUCCESS) return 0;
    if (assoc == parent) return o == off;
    if (clGetMemObjectInfo(parent, CL_MEM_ASSOCIATED_MEMOBJECT, sizeof passoc, &passoc, NULL) != CL_SUCCESS ||
        passoc != assoc)
        return 0;
    if (clGetMemObjectInfo(parent, CL_MEM_OFFSET, sizeof po, &po, NULL) != CL_SUCCESS) return 0;
    return o == po + off;
}

static unet_status crop_offsets(const char *fn, int hs, int ws, int hu, int wu, cl_int *oy, cl_int *ox)
{
    if (hs < hu || ws < wu)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: skip map %dx%d is smaller than the up-sampled map %dx%d: it cannot be "
                           "cropped to it",
                           fn, hs, ws, hu, wu);
    *oy = (hs - hu) / 2;
    *ox = (ws - wu) / 2;
    return UNET_OK;
}

unet_status unet_crop_concat_forward(unet_context *ctx, const unet_tensor *skip, const unet_tensor *up,
                                     unet_tensor *out)
{
    static const char fn[] = "unet_crop_concat_forward";
    UNET_TRY(check_tensor(fn, "skip map", skip));
    UNET_TRY(check_tensor(fn, "up map", up));
    UNET_TRY(check_tensor(fn, "output", out));
    cl_int oy = 0, ox = 0;
    UNET_TRY(crop_offsets(fn, skip->h, skip->w, up->h, up->w, &oy, &ox));
    UNET_TRY(check_shape(fn, "output", out, skip->c + up->c, up->h, up->w));
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "concat", "concat_crop_fwd", &k));
    cl_int cs = skip->c, hs = skip->h, ws = skip->w, hu = up->h, wu = up->w;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(skip->mem), unet_arg_mem(out->mem), unet_arg_int(cs), unet_arg_int(hs),
                              unet_arg_int(ws), unet_arg_int(hu), unet_arg_int(wu), unet_arg_int(oy),
                              unet_arg_int(ox)),
                "setting concat_crop_fwd arguments");
    size_t gws[2] = {((size_t)wu + 15) / 16, (size_t)cs * (size_t)hu};
    UNET_TRY(unet_enqueue(ctx, k, "concat_crop_fwd", 2, gws, NULL));
    size_t plane = (size_t)hu * (size_t)wu;
    if (is_view_of(up->mem, out->mem, (size_t)cs * plane * sizeof(float))) return UNET_OK; /* already in place */
    return unet_buffer_copy(ctx, up->mem, 0, out->mem, (size_t)cs * plane, unet_tensor_count(up));
}

unet_status unet_crop_concat_backward(unet_context *ctx, const unet_tensor *dout, unet_tensor *dskip,
                                      int skip_accumulate, unet_tensor *dup, int up_accumulate)
{
    static const char fn[] = "unet_crop_concat_backward";
    if (!dskip && !dup) return UNET_OK;
    UNET_TRY(check_tensor(fn, "output gradient", dout));
    if (dskip) UNET_TRY(check_tensor(fn, "skip gradient", dskip));
    if (dup) UNET_TRY(check_tensor(fn, "up gradient", dup));
    cl_int cs = dskip ? dskip->c : dout->c - dup->c;
    cl_int cu = dup ? dup->c : dout->c - dskip->c;
    if (cs <= 0 || cu <= 0 || cs + cu != dout->c)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: output gradient has %d channels, which is not skip %d + up %d channels", fn,
                           dout->c, cs, cu);
    cl_int hu = dout->h, wu = dout->w;
    if (dup) UNET_TRY(check_shape(fn, "up gradient", dup, cu, hu, wu));
    if (dskip) {
        cl_int oy = 0, ox = 0, hs = dskip->h, ws = dskip->w;
        UNET_TRY(crop_offsets(fn, hs, ws, hu, wu, &oy, &ox));
        cl_kernel k;
        UNET_TRY(unet_kernel_get(ctx, "concat", "concat_bwd_skip", &k));
        cl_int acc = skip_accumulate ? 1 : 0;
        UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(dout->mem), unet_arg_mem(dskip->mem), unet_arg_int(cs),
                                  unet_arg_int(hs), unet_arg_int(ws), unet_arg_int(hu), unet_arg_int(wu),
                                  unet_arg_int(oy), unet_arg_int(ox), unet_arg_int(acc)),
                    "setting concat_bwd_skip arguments");
        size_t gws[2] = {((size_t)ws + 15) / 16, (size_t)cs * (size_t)hs};
        UNET_TRY(unet_enqueue(ctx, k, "concat_bwd_skip", 2, gws, NULL));
    }
    if (dup) {
        size_t plane = (size_t)hu * (size_t)wu, off = (size_t)cs * plane;
        if (is_view_of(dup->mem, dout->mem, off * sizeof(float))) {
            if (up_accumulate)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                                   "%s: the up gradient is a view of the output gradient's second half, so it "
                                   "cannot be accumulated into: pass up_accumulate = 0",
                                   fn);
            return UNET_OK; /* the gradient is already in place */
        }
        if (!up_accumulate) return unet_buffer_copy(ctx, dout->mem, off, dup->mem, 0, unet_tensor_count(dup));
        cl_kernel k;
        UNET_TRY(unet_kernel_get(ctx, "concat", "concat_bwd_up_acc", &k));
        UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(dout->mem), unet_arg_mem(dup->mem), unet_arg_int(cs),
                                  unet_arg_int(cu), unet_arg_int(hu), unet_arg_int(wu)),
                    "setting concat_bwd_up_acc arguments");
        size_t gws = unet_tensor_count(dup);
        UNET_TRY(unet_enqueue(ctx, k, "concat_bwd_up_acc", 1, &gws, NULL));
    }
    return UNET_OK;
}

/* ---- dropout --------------------------------------------------------------------- */

static unet_status dropout_apply(unet_context *ctx, const char *fn, unet_tensor *x, float p, uint64_t seed)
{
    if (!(p >= 0.0f && p < 1.0f))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "%s: drop probability %g is outside [0, 1)", fn,
                           (double)p);
    UNET_TRY(check_tensor(fn, "tensor", x));
    if (p == 0.0f) return UNET_OK;
    cl_uint thr = (cl_uint)floor((double)p * 16777216.0 + 0.5); /* drop when 24-bit u < thr */
    cl_float scale = (cl_float)(1.0 / (1.0 - (double)p));
    cl_ulong n = unet_tensor_count(x), s = seed;
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "dropout", "dropout_apply", &k));
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(x->mem), unet_arg_ulong(n), unet_arg_ulong(s), unet_arg_uint(thr),
                              unet_arg_float(scale)),
                "setting dropout_apply arguments");
    size_t gws = (size_t)n;
    return unet_enqueue(ctx, k, "dropout_apply", 1, &gws, NULL);
}

unet_status unet_dropout_forward(unet_context *ctx, unet_tensor *x, float p, uint64_t seed)
{
    return dropout_apply(ctx, "unet_dropout_forward", x, p, seed);
}

unet_status unet_dropout_backward(unet_context *ctx, unet_tensor *dx, float p, uint64_t seed)
{
    return dropout_apply(ctx, "unet_dropout_backward", dx, p, seed);
}

/* ---- softmax and weighted cross-entropy ----------------------------------------- */



size_t unet_xent_workspace_floats(size_t pixels) { return 3 * pixels; }

unet_status unet_softmax_forward(unet_context *ctx, const unet_tensor *logits, unet_tensor *probs)
{
    static const char fn[] = "unet_softmax_forward";
    UNET_TRY(check_tensor(fn, "logits", logits));
    UNET_TRY(check_tensor(fn, "probabilities", probs));
    UNET_TRY(check_shape(fn, "probabilities", probs, logits->c, logits->h, logits->w));
    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "loss", "loss_softmax", &k));
    cl_int kc = logits->c, p = logits->h * logits->w;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(logits->mem), unet_arg_mem(probs->mem), unet_arg_int(kc),
                              unet_arg_int(p)),
                "setting loss_softmax arguments");
    size_t gws = (size_t)p;
    return unet_enqueue(ctx, k, "loss_softmax", 1, &gws, NULL);
}

/* Largest power of two <= min(kernel's work-group limit, cap). */

unet_status unet_softmax_xent(unet_context *ctx, const unet_tensor *logits, cl_mem labels, cl_mem weights,
                              float scale, unet_tensor *dlogits, cl_mem ws, double *loss, double *weight_sum,
                              double *correct)
{
    static const char fn[] = "unet_softmax_xent";
    UNET_TRY(check_tensor(fn, "logits", logits));
    size_t pixels = (size_t)logits->h * (size_t)logits->w;
    UNET_TRY(check_mem(fn, "label buffer", labels, pixels * sizeof(cl_int)));
    if (weights) UNET_TRY(check_mem(fn, "weight buffer", weights, pixels * sizeof(float)));
    if (dlogits) {
        UNET_TRY(check_tensor(fn, "logit gradient", dlogits));
        UNET_TRY(check_shape(fn, "logit gradient", dlogits, logits->c, logits->h, logits->w));
    }
    int want = loss || weight_sum || correct;
    if (want) UNET_TRY(check_mem(fn, "workspace", ws, unet_xent_workspace_floats(pixels) * sizeof(float)));
    if (!want && !dlogits) return UNET_OK;

    cl_kernel k;
    UNET_TRY(unet_kernel_get(ctx, "loss", "loss_xent", &k));
    cl_int kc = logits->c, p = (cl_int)pixels, has_w = weights != NULL, has_d = dlogits != NULL, has_ws = want;
    cl_mem wmem = weights, dmem = dlogits ? dlogits->mem : NULL, wsmem = want ? ws : NULL;
    cl_float sc = scale;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(logits->mem), unet_arg_mem(labels), unet_arg_mem(wmem),
                              unet_arg_int(has_w), unet_arg_mem(dmem), unet_arg_int(has_d), unet_arg_mem(wsmem),
                              unet_arg_int(has_ws), unet_arg_int(kc), unet_arg_int(p), unet_arg_float(sc)),
                "setting loss_xent arguments");
    size_t gws = pixels;
    UNET_TRY(unet_enqueue(ctx, k, "loss_xent", 1, &gws, NULL));
    if (!want) return UNET_OK;

    /* The per-pixel terms are read back and added in double on the host, in
     * pixel order: deterministic, and precise enough for finite differences
     * of the whole network (a float reduction of ~1e5 terms is not). The
     * read-back is 12 bytes per output pixel. */
    float *part = malloc(3 * pixels * sizeof *part);
    if (!part) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of host memory for %zu pixels", fn, pixels);
    unet_status st = unet_buffer_read(ctx, ws, 0, 3 * pixels * sizeof(float), part);
    if (st != UNET_OK) {
        free(part);
        return unet_errctx(st, "%s: reading the per-pixel loss", fn);
    }
    double sum[3] = {0.0, 0.0, 0.0};
    for (int q = 0; q < 3; q++)
        for (size_t i = 0; i < pixels; i++) sum[q] += (double)part[(size_t)q * pixels + i];
    free(part);
    if (loss) *loss = (double)scale * sum[0];
    if (weight_sum) *weight_sum = sum[1];
    if (correct) *correct = sum[2];
    return UNET_OK;
}

/* ---- SGD with momentum -------------------------------------------------------------- */

unet_status unet_sgd_update(unet_context *ctx, unet_slice w, unet_slice g, unet_slice v, size_t n, float lr,
                            float momentum, float weight_decay)
{
    static const char fn[] = "unet_sgd_update";
    if (n == 0) return UNET_OK;
    if (!isfinite(lr) || !isfinite(momentum) || !isfinite(weight_decay))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "%s: learning rate %g, momentum %g and weight decay %g must all be finite", fn,
                           (double)lr, (double)momentum, (double)weight_decay);
    UNET_TRY(check_mem(fn, "weight buffer", w.mem, (w.off + n) * sizeof(float)));
    UNET_TRY(check_mem(fn, "gradient buffer", g.mem, (g.off + n) * sizeof(float)));
    UNET_TRY(check_mem(fn, "momentum buffer", v.mem, (v.off + n) * sizeof(float)));
    cl_kernel k;
    const int cpu = ctx->info.type == UNET_DEVICE_CPU;
    const char *name = cpu ? "sgd_momentum_cpu" : "sgd_momentum";
    UNET_TRY(unet_kernel_get(ctx, "sgd", name, &k));
    cl_ulong wo = w.off, go = g.off, vo = v.off, cn = n;
    cl_float a = lr, m = momentum, d = weight_decay;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(w.mem), unet_arg_ulong(wo), unet_arg_mem(g.mem), unet_arg_ulong(go),
                              unet_arg_mem(v.mem), unet_arg_ulong(vo), unet_arg_ulong(cn), unet_arg_float(a),
                              unet_arg_float(m), unet_arg_float(d)),
                "setting sgd_momentum arguments");
    if (cpu) {
        const size_t gws = (n + 1023) / 1024, lws = 1;
        return unet_enqueue(ctx, k, name, 1, &gws, &lws);
    }
    return unet_enqueue(ctx, k, name, 1, &n, NULL);
}
