/* unetcl's own GPU convolution kernels: parameter sets, launches, the
 * per-layer choice and its tuning (see conv_gpu.h, src/cl/conv_gpu.cl). */
#define _POSIX_C_SOURCE 200809L
#include "conv_gpu.h"
#include "knobs.h"

#include "atomicfile.h"
#include "clock.h"
#include "conv_internal.h"
#include "fsutil.h"
#include "tensor.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every set must satisfy the divisibility rules of conv_gpu.cl (checked by
 * the kernel's #error and by tests/test_conv_gpu.c, which runs each). */
static const unet_gpuconv_params SETS[] = {
    {"m64n64k16r4x4v4", 16, 16, 4, 4, 16, 4, 0},   /* default: 256 work-items, 16 outputs each */
    {"m128n64k8r8x4v4", 16, 16, 8, 4, 8, 4, 0},    /* tall tiles: many output channels */
    {"m64n128k8r4x8v2", 16, 16, 4, 8, 8, 2, 0},    /* wide tiles: many pixels */
    {"m128n128k8r8x8v4", 16, 16, 8, 8, 8, 4, 0},   /* 64 accumulators per work-item: big GPUs */
    {"m32n64k16r2x4v2", 16, 16, 2, 4, 16, 2, 0},   /* few output channels */
    {"m32n32k16r4x4v1", 8, 8, 4, 4, 16, 1, 0},     /* small layers (deep levels), 64 work-items */
    /* Winograd F(2x2,3x3), forward and input gradient (wino_gpu.cl): "wf2" c(output channels TCO) t(2x2
     * tiles TT) k(input channels per chunk) r(register tile); 256 work-items each */
    {"wf2c16t16k8r4x4", 4, 4, 4, 4, 8, 1, 2},   /* 16 accumulators per work-item */
    {"wf2c32t32k4r8x8", 4, 4, 8, 8, 4, 1, 2},   /* 64 accumulators: more reuse per local-memory read */
    {"wf2c16t32k4r4x8", 4, 4, 4, 8, 4, 1, 2},   /* wide: many pixels, few output channels */
};
#define NSETS ((int)(sizeof SETS / sizeof SETS[0]))
#define FORMAT "unetcl-convgpu-tuning-1"
#define MAX_ENTRIES 256

int unet_gpuconv_set_count(void) { return NSETS; }

const unet_gpuconv_params *unet_gpuconv_set(int i) { return i >= 0 && i < NSETS ? &SETS[i] : NULL; }

int unet_gpuconv_set_find(const char *name)
{
    for (int i = 0; name && i < NSETS; i++)
        if (!strcmp(SETS[i].name, name)) return i;
    return -1;
}

static const char *const OP_NAMES[3] = {"fwd", "dgrad", "wgrad"};

const char *unet_gpuconv_op_name(unet_gpuconv_op op) { return (int)op >= 0 && op < 3 ? OP_NAMES[op] : "?"; }

/* ---- per-context state -------------------------------------------------------- */

typedef struct entry {
    int op, cin, cout, h, w, fp16;
    int choice; /* -1 existing path, else set index */
} entry;

typedef struct state {
    cl_program prog[NSETS][2];
    cl_kernel kern[NSETS][2][4]; /* fwd, dgrad, wgrad, reduce */
    int tuning_loaded;
    int nentries;
    entry entries[MAX_ENTRIES];
    int env_set; /* the knob UNETCL_GPU_CONV_SET, -1 if unset */
    cl_mem wu;   /* Winograd sets: transformed weights of calls without a cache */
    size_t wu_floats;
} state;

static void state_free(void *p)
{
    state *s = p;
    for (int i = 0; i < NSETS; i++)
        for (int h = 0; h < 2; h++) {
            for (int k = 0; k < 4; k++)
                if (s->kern[i][h][k]) clReleaseKernel(s->kern[i][h][k]);
            if (s->prog[i][h]) clReleaseProgram(s->prog[i][h]);
        }
    if (s->wu) clReleaseMemObject(s->wu);
    free(s);
}

static state *get_state(unet_context *ctx)
{
    if (ctx->gpuconv) return ctx->gpuconv;
    state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->env_set = -1;
    if (ctx->knobs.gpu_conv_set > 0) {
        char name[64];
        unet_knob_get(&ctx->knobs, "UNETCL_GPU_CONV_SET", name, sizeof name);
        s->env_set = unet_gpuconv_set_find(name); /* by name: the knob's list and SETS cannot drift apart */
        if (s->env_set < 0) {
            free(s);
            unet_seterr(UNET_ERR_INTERNAL, "UNETCL_GPU_CONV_SET=%s is a knob value but no parameter set", name);
            return NULL;
        }
    }
    ctx->gpuconv = s;
    ctx->gpuconv_free = state_free;
    return s;
}

static const char *const KNAMES[4] = {"conv_fwd", "conv_dgrad", "conv_wgrad", "conv_wgrad_reduce"};
static const char *const WKNAMES[2] = {"wino2_conv", "wino2_weights"}; /* `which` of a Winograd set */

int unet_gpuconv_set_supports(int set, unet_gpuconv_op op, int fp16)
{
    if (set < 0 || set >= NSETS || (int)op < 0 || op > UNET_GPUCONV_WGRAD) return 0;
    if (!SETS[set].wino) return 1;
    return op != UNET_GPUCONV_WGRAD && !fp16;
}

/* Local memory of a Winograd set in bytes (wino_gpu.cl: two buffers each of
 * U and V, and M, every component's stride padded). */
static size_t wino_local_bytes(const unet_gpuconv_params *p)
{
    const size_t tco = (size_t)(p->wgm * p->rm), tt = (size_t)(p->wgn * p->rn), ck = (size_t)p->tk;
    const size_t su = ck * tco + (size_t)p->wgm, sv = ck * tt + (size_t)p->wgn, sm = (size_t)p->wgm * tt + (size_t)p->wgn;
    return 4 * 16 * (2 * su + 2 * sv + sm);
}

static unet_status get_kernel(unet_context *ctx, int set, int which, cl_kernel *out)
{
    if (set < 0 || set >= NSETS)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "GPU convolution: no parameter set %d (0..%d)", set, NSETS - 1);
    state *s = get_state(ctx);
    if (!s) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "GPU convolution: out of host memory");
    const unet_gpuconv_params *p = &SETS[set];
    if (p->wino && ctx->fp16)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "GPU convolution set %s (Winograd) is fp32 only: choose another set (UNETCL_GPU_CONV_SET) "
                           "for precision = fp16", p->name);
    const int h = ctx->fp16 ? 1 : 0;
    if (!s->kern[set][h][which]) {
        if (!s->prog[set][h]) {
            const int nt = (p->wino ? 16 : 1) * p->wgm * p->wgn;
            if ((size_t)nt > ctx->info.max_work_group_size)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                                   "GPU convolution set %s needs work-groups of %d, %s allows %zu: choose another "
                                   "set (UNETCL_GPU_CONV_SET) or run `unetcl tune`",
                                   p->name, nt, ctx->info.name, ctx->info.max_work_group_size);
            if (p->wino && wino_local_bytes(p) > ctx->info.local_mem_bytes)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                                   "GPU convolution set %s needs %zu bytes of local memory, %s has %llu: choose "
                                   "another set (UNETCL_GPU_CONV_SET) or run `unetcl tune`",
                                   p->name, wino_local_bytes(p), ctx->info.name,
                                   (unsigned long long)ctx->info.local_mem_bytes);
            char defs[256];
            if (p->wino)
                snprintf(defs, sizeof defs, "-DGCO=%d -DGT=%d -DRCO=%d -DRT=%d -DCK=%d", p->wgm, p->wgn, p->rm, p->rn,
                         p->tk);
            else
                snprintf(defs, sizeof defs, "-DWGM=%d -DWGN=%d -DRM=%d -DRN=%d -DTK=%d -DVW=%d -DHALF=%d", p->wgm,
                         p->wgn, p->rm, p->rn, p->tk, p->vw, h);
            UNET_TRY(unet_program_build_with(ctx, p->wino ? "wino_gpu" : "conv_gpu", defs, &s->prog[set][h]));
        }
        cl_int err;
        cl_kernel k = clCreateKernel(s->prog[set][h], p->wino ? WKNAMES[which] : KNAMES[which], &err);
        if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, "clCreateKernel(conv_gpu)");
        s->kern[set][h][which] = k;
    }
    *out = s->kern[set][h][which];
    return UNET_OK;
}

static size_t groups(const unet_gpuconv_params *p, int m, int n)
{
    const size_t tm = (size_t)(p->wgm * p->rm), tn = (size_t)(p->wgn * p->rn);
    return (((size_t)m + tm - 1) / tm) * (((size_t)n + tn - 1) / tn);
}

/* ---- launches ------------------------------------------------------------------ */

static unet_status check_dims(const char *what, int cin, int h, int w, int cout)
{
    if (cin <= 0 || cout <= 0 || h < 3 || w < 3)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "GPU convolution %s: shape %dx%dx%d -> %d is invalid", what, cin,
                           h, w, cout);
    UNET_TRY(unet_conv_check_int((size_t)cin * 9 * (size_t)h * (size_t)w, "the GPU convolution's input"));
    UNET_TRY(unet_conv_check_int((size_t)cout * 9 * (size_t)h * (size_t)w, "the GPU convolution's output"));
    return UNET_OK;
}

/* ---- Winograd F(2x2,3x3) (wino_gpu.cl) ---------------------------------------- */

/* wc->mr of a cache holding this path's U[cin][16][cout] (the CPU path's
 * caches hold its panel width there, > 0) */
#define WINO_GPU_WC_TAG (-2)

/* U of the convolution with cin inputs and cout outputs (flip: the adjoint
 * of the layer weight [cin][cout], i.e. the layer's cout inputs) into u. */
static unet_status wino_weights(unet_context *ctx, int set, unet_slice weight, int cin, int cout, int flip, cl_mem u)
{
    cl_kernel k = NULL;
    UNET_TRY(get_kernel(ctx, set, 1, &k));
    const cl_int wo = (cl_int)weight.off, ic = cin, oc = cout, fl = flip ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(weight.mem), unet_arg_int(wo), unet_arg_int(ic), unet_arg_int(oc),
                              unet_arg_int(fl), unet_arg_mem(u)),
                "setting arguments of kernel wino2_weights");
    const size_t l[1] = {64}, g[1] = {((size_t)cin * (size_t)cout + 63) / 64 * 64};
    return unet_enqueue(ctx, k, "wino2_weights", 1, g, l);
}

/* out (+)= the convolution of in[cin][h][w] zero-padded by pad with U;
 * bias.mem NULL: no bias (and no ReLU). */
static unet_status wino_conv(unet_context *ctx, int set, cl_mem in, int cin, int h, int w, int pad, cl_mem u,
                             int cout, unet_slice bias, int relu, int accumulate, cl_mem out)
{
    const unet_gpuconv_params *p = &SETS[set];
    const int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
    const size_t tiles = (size_t)((ho + 1) / 2) * (size_t)((wo + 1) / 2);
    const size_t tco = (size_t)(p->wgm * p->rm), tt = (size_t)(p->wgn * p->rn), nt = (size_t)(16 * p->wgm * p->wgn);
    const size_t ngroups = (((size_t)cout + tco - 1) / tco) * ((tiles + tt - 1) / tt);
    UNET_TRY(unet_conv_check_int(ngroups, "the Winograd convolution's work-groups"));
    cl_kernel k = NULL;
    UNET_TRY(get_kernel(ctx, set, 0, &k));
    const cl_int ic = cin, ih = h, iw = w, ip = pad, oc = cout, bo = bias.mem ? (cl_int)bias.off : -1,
                 r = relu ? 1 : 0, acc = accumulate ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(in), unet_arg_int(ic), unet_arg_int(ih), unet_arg_int(iw),
                              unet_arg_int(ip), unet_arg_mem(u), unet_arg_int(oc),
                              unet_arg_mem(bias.mem ? bias.mem : out), unet_arg_int(bo), unet_arg_int(r),
                              unet_arg_int(acc), unet_arg_mem(out)),
                "setting arguments of kernel wino2_conv");
    const size_t g[1] = {ngroups * nt}, l[1] = {nt};
    return unet_enqueue(ctx, k, pad ? "wino2_conv_dgrad" : "wino2_conv_fwd", 1, g, l);
}

/* The context's scratch buffer for U (calls without a cache), grown to n. */
static unet_status wino_scratch(unet_context *ctx, size_t n, cl_mem *out)
{
    state *s = get_state(ctx);
    if (!s) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "GPU convolution: out of host memory");
    if (!s->wu || s->wu_floats < n) {
        if (s->wu) clReleaseMemObject(s->wu);
        s->wu = NULL;
        s->wu_floats = 0;
        UNET_TRY(unet_buffer_alloc(ctx, &s->wu, n * sizeof(float), "Winograd transformed weights"));
        s->wu_floats = n;
    }
    *out = s->wu;
    return UNET_OK;
}

static unet_status wino_forward(unet_context *ctx, int set, cl_mem in, int cin, int h, int w, unet_slice weight,
                                unet_slice bias, int relu, int cout, cl_mem out, unet_conv_wcache *wc,
                                uint64_t version)
{
    const size_t need = (size_t)16 * (size_t)cin * (size_t)cout;
    UNET_TRY(unet_conv_check_int(need, "the Winograd transformed weights"));
    cl_mem u;
    int transform = 1;
    if (wc && version) {
        if (wc->mem && wc->floats >= need && wc->version == version && wc->src == weight.mem &&
            wc->src_off == weight.off && wc->cin == cin && wc->cout == cout && wc->mr == WINO_GPU_WC_TAG) {
            transform = 0;
        } else {
            if (wc->mem && wc->floats < need) unet_conv_wcache_release(wc);
            if (!wc->mem) {
                UNET_TRY(unet_buffer_alloc(ctx, &wc->mem, need * sizeof(float), "cached Winograd weights"));
                wc->floats = need;
            }
            wc->version = 0; /* until the transform below is enqueued */
        }
        u = wc->mem;
    } else {
        UNET_TRY(wino_scratch(ctx, need, &u));
    }
    if (transform) {
        UNET_TRY(wino_weights(ctx, set, weight, cin, cout, 0, u));
        if (wc && version) {
            wc->version = version;
            wc->src = weight.mem;
            wc->src_off = weight.off;
            wc->cin = cin;
            wc->cout = cout;
            wc->mr = WINO_GPU_WC_TAG;
        }
    }
    return wino_conv(ctx, set, in, cin, h, w, 0, u, cout, bias, relu, 0, out);
}

unet_status unet_gpuconv_forward_cached(unet_context *ctx, int set, cl_mem in, int cin, int h, int w,
                                        unet_slice weight, unet_slice bias, int relu, int cout, cl_mem out,
                                        unet_conv_wcache *wc, uint64_t weights_version)
{
    UNET_TRY(check_dims("forward", cin, h, w, cout));
    if (set >= 0 && set < NSETS && SETS[set].wino)
        return wino_forward(ctx, set, in, cin, h, w, weight, bias, relu, cout, out, wc, weights_version);
    return unet_gpuconv_forward(ctx, set, in, cin, h, w, weight, bias, relu, cout, out);
}

/* ---- the launches of the sets --------------------------------------------------- */

unet_status unet_gpuconv_forward(unet_context *ctx, int set, cl_mem in, int cin, int h, int w, unet_slice weight,
                                 unet_slice bias, int relu, int cout, cl_mem out)
{
    UNET_TRY(check_dims("forward", cin, h, w, cout));
    if (set >= 0 && set < NSETS && SETS[set].wino)
        return wino_forward(ctx, set, in, cin, h, w, weight, bias, relu, cout, out, NULL, 0);
    cl_kernel k;
    UNET_TRY(get_kernel(ctx, set, 0, &k));
    const cl_int ic = cin, ih = h, iw = w, wo = (cl_int)weight.off, bo = (cl_int)bias.off, r = relu ? 1 : 0,
                 oc = cout;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(in), unet_arg_int(ic), unet_arg_int(ih), unet_arg_int(iw), unet_arg_mem(weight.mem), unet_arg_int(wo), unet_arg_mem(bias.mem), unet_arg_int(bo), unet_arg_int(r), unet_arg_int(oc), unet_arg_mem(out)),
                "setting arguments of kernel conv_fwd");
    const unet_gpuconv_params *p = &SETS[set];
    const size_t nt = (size_t)(p->wgm * p->wgn);
    const size_t g[1] = {groups(p, cout, (h - 2) * (w - 2)) * nt}, l[1] = {nt};
    return unet_enqueue(ctx, k, "conv_gpu_fwd", 1, g, l);
}

unet_status unet_gpuconv_dgrad(unet_context *ctx, int set, cl_mem dout, int cout, int h, int w, unet_slice weight,
                               int cin, cl_mem din, int accumulate)
{
    UNET_TRY(check_dims("input gradient", cin, h, w, cout));
    if (h >= 32768 || w >= 65536)
        return unet_seterr(UNET_ERR_DOES_NOT_FIT, "GPU convolution input gradient: %dx%d is too large (h < 32768, "
                           "w < 65536)", h, w);
    if (set >= 0 && set < NSETS && SETS[set].wino) {
        /* the adjoint: a forward convolution of dout padded by 2 (cout
         * channels) with the rotated, transposed weights onto h x w */
        const size_t need = (size_t)16 * (size_t)cin * (size_t)cout;
        UNET_TRY(unet_conv_check_int(need, "the Winograd transformed weights"));
        cl_mem u;
        UNET_TRY(wino_scratch(ctx, need, &u));
        UNET_TRY(wino_weights(ctx, set, weight, cout, cin, 1, u));
        const unet_slice none = {NULL, 0};
        return wino_conv(ctx, set, dout, cout, h - 2, w - 2, 2, u, cin, none, 0, accumulate, din);
    }
    cl_kernel k;
    UNET_TRY(get_kernel(ctx, set, 1, &k));
    const cl_int oc = cout, ih = h, iw = w, wo = (cl_int)weight.off, ic = cin, acc = accumulate ? 1 : 0;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(dout), unet_arg_int(oc), unet_arg_int(ih), unet_arg_int(iw), unet_arg_mem(weight.mem), unet_arg_int(wo), unet_arg_int(ic), unet_arg_int(acc), unet_arg_mem(din)),
                "setting arguments of kernel conv_dgrad");
    const unet_gpuconv_params *p = &SETS[set];
    const size_t nt = (size_t)(p->wgm * p->wgn);
    const size_t g[1] = {groups(p, cin, h * w) * nt}, l[1] = {nt};
    return unet_enqueue(ctx, k, "conv_gpu_dgrad", 1, g, l);
}

unet_status unet_gpuconv_wgrad(unet_context *ctx, int set, cl_mem in, int cin, int h, int w, cl_mem dout, int cout,
                               unet_slice dweight, int accumulate, cl_mem ws, size_t ws_floats, int ksplit)
{
    UNET_TRY(check_dims("weight gradient", cin, h, w, cout));
    if (set >= 0 && set < NSETS && SETS[set].wino)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "GPU convolution set %s (Winograd) has no weight gradient: use an implicit-GEMM set",
                           SETS[set].name);
    cl_kernel k, kr;
    UNET_TRY(get_kernel(ctx, set, 2, &k));
    const unet_gpuconv_params *p = &SETS[set];
    const size_t nw = (size_t)cout * (size_t)cin * 9, K = (size_t)(h - 2) * (size_t)(w - 2);
    const size_t tiles = groups(p, cout, cin * 9);
    size_t ks = (size_t)(ksplit > 0 ? ksplit : 0);
    if (ks == 0) {
        /* about 4 work-groups per compute unit, slices of at least 16 chunks */
        const size_t want = 4 * (size_t)(ctx->info.compute_units ? ctx->info.compute_units : 1);
        ks = (want + tiles - 1) / tiles;
        const size_t most = K / (16 * (size_t)p->tk);
        if (ks > most) ks = most;
    }
    if (ks > 1 && (!ws || ws_floats / nw < 2)) ks = 1;
    if (ks > 1 && ks > ws_floats / nw) ks = ws_floats / nw;
    if (ks < 1) ks = 1;
    if (ks > 65535) ks = 65535;
    size_t kslice = (K + ks - 1) / ks;
    kslice = (kslice + (size_t)p->tk - 1) / (size_t)p->tk * (size_t)p->tk;
    ks = (K + kslice - 1) / kslice;
    const cl_int ic = cin, ih = h, iw = w, oc = cout, iks = (cl_int)ks, isl = (cl_int)kslice, acc = accumulate ? 1 : 0,
                 dwo = (cl_int)dweight.off;
    cl_mem part = ks > 1 ? ws : dweight.mem;
    UNET_CL_TRY(UNET_SET_ARGS(k, unet_arg_mem(in), unet_arg_int(ic), unet_arg_int(ih), unet_arg_int(iw), unet_arg_mem(dout), unet_arg_int(oc), unet_arg_int(iks), unet_arg_int(isl), unet_arg_int(acc), unet_arg_mem(dweight.mem), unet_arg_int(dwo), unet_arg_mem(part)),
                "setting arguments of kernel conv_wgrad");
    const size_t nt = (size_t)(p->wgm * p->wgn);
    const size_t g[2] = {tiles * nt, ks}, l[2] = {nt, 1};
    UNET_TRY(unet_enqueue(ctx, k, "conv_gpu_wgrad", 2, g, l));
    if (ks == 1) return UNET_OK;
    UNET_TRY(get_kernel(ctx, set, 3, &kr));
    const cl_int n = (cl_int)nw;
    UNET_CL_TRY(UNET_SET_ARGS(kr, unet_arg_mem(ws), unet_arg_int(iks), unet_arg_int(n), unet_arg_int(acc), unet_arg_mem(dweight.mem), unet_arg_int(dwo)),
                "setting arguments of kernel conv_wgrad_reduce");
    const size_t gr[1] = {nw};
    return unet_enqueue(ctx, kr, "conv_gpu_wgrad_reduce", 1, gr, NULL);
}

/* ---- tuning file -------------------------------------------------------------- */

void unet_gpuconv_tuning_path(const char *cache_dir, const unet_device_info *dev, char *out, size_t n)
{
    unet_device_cache_path(cache_dir, dev, "convgpu", "json", out, n);
}

static int json_int(const cJSON *o, const char *key, int lo, int hi, int *v)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(x) || x->valuedouble < lo || x->valuedouble > hi || x->valuedouble != (double)(int)x->valuedouble)
        return 0;
    *v = (int)x->valuedouble;
    return 1;
}

/* Loads the tuning table once; problems are logged (verbose) and ignored. */
static void load_tuning(unet_context *ctx, state *s)
{
    if (s->tuning_loaded) return;
    s->tuning_loaded = 1;
    s->nentries = 0;
    char path[1100];
    unet_gpuconv_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (ctx->verbose)
            fprintf(stderr, "unetcl: no GPU convolution tuning file %s: existing path unless forced (`unetcl tune`)\n",
                    path);
        return;
    }
    char *buf = malloc(1 << 20);
    size_t len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf) return;
    buf[len] = '\0';
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    const char *why = NULL;
    const cJSON *fmt = root ? cJSON_GetObjectItemCaseSensitive(root, "format") : NULL;
    const cJSON *drv = root ? cJSON_GetObjectItemCaseSensitive(root, "driver") : NULL;
    const cJSON *dev = root ? cJSON_GetObjectItemCaseSensitive(root, "device") : NULL;
    const cJSON *es = root ? cJSON_GetObjectItemCaseSensitive(root, "entries") : NULL, *e;
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, FORMAT) != 0) why = "not a " FORMAT " file";
    else if (!cJSON_IsString(dev) || strcmp(dev->valuestring, ctx->info.name) != 0) why = "written for another device";
    else if (!cJSON_IsString(drv) || strcmp(drv->valuestring, ctx->info.driver_version) != 0)
        why = "written with another driver (stale: run `unetcl tune` again)";
    else if (!cJSON_IsArray(es)) why = "no \"entries\" array";
    if (!why)
        cJSON_ArrayForEach(e, es)
        {
            entry t;
            const cJSON *op = cJSON_GetObjectItemCaseSensitive(e, "op"), *ch = cJSON_GetObjectItemCaseSensitive(e, "choice"),
                        *pr = cJSON_GetObjectItemCaseSensitive(e, "precision");
            t.op = -1;
            for (int i = 0; cJSON_IsString(op) && i < 3; i++)
                if (!strcmp(op->valuestring, OP_NAMES[i])) t.op = i;
            if (t.op < 0 || !json_int(e, "cin", 1, INT_MAX, &t.cin) || !json_int(e, "cout", 1, INT_MAX, &t.cout) ||
                !json_int(e, "h", 3, INT_MAX, &t.h) || !json_int(e, "w", 3, INT_MAX, &t.w) || !cJSON_IsString(ch) ||
                !cJSON_IsString(pr) || (strcmp(pr->valuestring, "fp32") && strcmp(pr->valuestring, "fp16"))) {
                why = "an entry lacks op, cin, cout, h, w, precision or choice";
                break;
            }
            t.fp16 = !strcmp(pr->valuestring, "fp16");
            t.choice = !strcmp(ch->valuestring, "existing") ? -1 : unet_gpuconv_set_find(ch->valuestring);
            if (t.choice < 0 && strcmp(ch->valuestring, "existing") != 0) {
                why = "an entry names an unknown parameter set (older unetcl: run `unetcl tune` again)";
                break;
            }
            if (s->nentries < MAX_ENTRIES) s->entries[s->nentries++] = t;
        }
    if (why) {
        s->nentries = 0;
        if (ctx->verbose) fprintf(stderr, "unetcl: GPU convolution tuning file %s ignored: %s\n", path, why);
    } else if (ctx->verbose)
        fprintf(stderr, "unetcl: GPU convolution tuning: %d entries from %s\n", s->nentries, path);
    cJSON_Delete(root);
}

int unet_gpuconv_choose(unet_context *ctx, unet_gpuconv_op op, int cin, int cout, int h, int w)
{
    const int forced = ctx->force_gpu_kernels || ctx->fp16;
    if (!forced && ctx->info.type != UNET_DEVICE_GPU) return -1;
    if (op == UNET_GPUCONV_DGRAD && (h >= 32768 || w >= 65536)) return -1;
    state *s = get_state(ctx);
    if (!s) return -1;
    load_tuning(ctx, s);
    const entry *best = NULL;
    double bd = INFINITY;
    for (int i = 0; i < s->nentries; i++) {
        const entry *e = &s->entries[i];
        if (e->op != (int)op || e->cin != cin || e->cout != cout || e->fp16 != ctx->fp16) continue;
        const double d = fabs(log(((double)e->h * e->w) / ((double)h * w)));
        if (d < bd) {
            bd = d;
            best = e;
        }
    }
    const int fp16 = ctx->fp16;
    if (forced) {
        if (best && best->choice >= 0 && unet_gpuconv_set_supports(best->choice, op, fp16)) return best->choice;
        return s->env_set >= 0 && unet_gpuconv_set_supports(s->env_set, op, fp16) ? s->env_set : 0;
    }
    if (best && best->choice >= 0 && !unet_gpuconv_set_supports(best->choice, op, fp16)) return -1;
    return best ? best->choice : -1;
}

int unet_gpuconv_unet_layers(int depth, int base, int in_channels, int tile, unet_gpuconv_layer *out, int max)
{
    int n = 0, s = tile, c = in_channels;
    for (int l = 0; l < depth; l++) {
        const int o = base << l;
        if (n + 2 > max || s < 5) return n;
        out[n++] = (unet_gpuconv_layer){c, o, s, s, l == 0};
        out[n++] = (unet_gpuconv_layer){o, o, s - 2, s - 2, 0};
        s -= 4;
        c = o;
        if (l < depth - 1) s /= 2;
    }
    for (int l = depth - 2; l >= 0; l--) {
        const int o = base << l;
        s *= 2;
        if (n + 2 > max || s < 5) return n;
        out[n++] = (unet_gpuconv_layer){2 * o, o, s, s, 0};
        out[n++] = (unet_gpuconv_layer){o, o, s - 2, s - 2, 0};
        s -= 4;
    }
    return n;
}

/* ---- tuning -------------------------------------------------------------------- */


static int cmp_d(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct tune_bufs {
    unet_tensor in, out, dout, din;
    cl_mem params, grads, ws;
    size_t wsf, nw;
} tune_bufs;

/* One run of candidate cand (-1: existing path) of op. */
static unet_status run_cand(unet_context *ctx, int op, int cand, const unet_gpuconv_layer *L, tune_bufs *b)
{
    const unet_slice wt = {b->params, 0}, bias = {b->params, b->nw}, dw = {b->grads, 0}, none = {NULL, 0};
    if (cand < 0) {
        if (op == UNET_GPUCONV_FWD)
            return unet_conv_forward_algo(ctx, UNET_CONV_IM2COL_GEMM, &b->in, wt, bias, 3, 1, &b->out, b->ws, b->wsf);
        return unet_conv_linear_backward_algo(ctx, UNET_CONV_IM2COL_GEMM, &b->in, &b->dout, wt, 3,
                                              op == UNET_GPUCONV_DGRAD ? &b->din : NULL, 0,
                                              op == UNET_GPUCONV_WGRAD ? dw : none, 0, b->ws, b->wsf);
    }
    if (op == UNET_GPUCONV_FWD)
        return unet_gpuconv_forward(ctx, cand, b->in.mem, L->cin, L->h, L->w, wt, bias, 1, L->cout, b->out.mem);
    if (op == UNET_GPUCONV_DGRAD)
        return unet_gpuconv_dgrad(ctx, cand, b->dout.mem, L->cout, L->h, L->w, wt, L->cin, b->din.mem, 0);
    return unet_gpuconv_wgrad(ctx, cand, b->in.mem, L->cin, L->h, L->w, b->dout.mem, L->cout, dw, 0, b->ws, b->wsf, 0);
}

static unet_status read_result(unet_context *ctx, int op, tune_bufs *b, float *host, size_t n)
{
    if (op == UNET_GPUCONV_FWD) return unet_tensor_download(ctx, &b->out, host);
    if (op == UNET_GPUCONV_DGRAD) return unet_tensor_download(ctx, &b->din, host);
    return unet_buffer_read(ctx, b->grads, 0, n * sizeof(float), host);
}

/* Where the tuning's lines go: a callback (cancels with non-zero) and the
 * fraction done so far. */
typedef struct reporter {
    unet_gpuconv_progress fn;
    void *user;
    double fraction;
} reporter;

static unet_status report(reporter *rp, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static unet_status report(reporter *rp, const char *fmt, ...)
{
    if (!rp || !rp->fn) return UNET_OK;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (rp->fn(rp->user, line, rp->fraction) != 0)
        return unet_seterr(UNET_ERR_INTERRUPTED, "GPU convolution tuning: cancelled");
    return UNET_OK;
}

static unet_status tune_layer(unet_context *ctx, const unet_gpuconv_layer *L, int reps, entry *res, double *ms,
                              reporter *rp)
{
    tune_bufs b;
    memset(&b, 0, sizeof b);
    unet_status st = UNET_OK;
    const int ho = L->h - 2, wo = L->w - 2;
    float *ref = NULL, *got = NULL;
    b.nw = (size_t)L->cout * (size_t)L->cin * 9;
    b.wsf = unet_conv_workspace_floats(L->cin, L->h, L->w, 3, (size_t)256 << 20);
    if (b.wsf == (size_t)-1) return unet_seterr(UNET_ERR_DOES_NOT_FIT, "tune: layer does not fit");
    /* room for split weight gradients, within the device's largest buffer */
    size_t cap = (size_t)(ctx->info.max_alloc_bytes / 4 / sizeof(float));
    if (cap > ((size_t)256 << 20) / sizeof(float)) cap = ((size_t)256 << 20) / sizeof(float);
    if (b.wsf < 64 * b.nw) b.wsf = 64 * b.nw < cap ? 64 * b.nw : (b.wsf > cap ? b.wsf : cap);
    b.in.mem = unet_buffer_random(ctx, (size_t)L->cin * L->h * L->w, 1);
    b.in.c = L->cin, b.in.h = L->h, b.in.w = L->w;
    b.dout.mem = unet_buffer_random(ctx, (size_t)L->cout * ho * wo, 2);
    b.dout.c = L->cout, b.dout.h = ho, b.dout.w = wo;
    b.params = unet_buffer_random(ctx, b.nw + (size_t)L->cout, 3);
    b.grads = unet_buffer_random(ctx, b.nw, 4);
    b.ws = unet_buffer_random(ctx, b.wsf, 5);
    if (!b.in.mem || !b.dout.mem || !b.params || !b.grads || !b.ws) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of device memory for layer %dx%dx%d", L->cin, L->h, L->w);
        goto out;
    }
    if ((st = unet_tensor_alloc(ctx, &b.out, L->cout, ho, wo, "tune output")) != UNET_OK) goto out;
    if ((st = unet_tensor_alloc(ctx, &b.din, L->cin, L->h, L->w, "tune input gradient")) != UNET_OK) goto out;
    for (int op = 0; op < 3; op++) {
        if (op == UNET_GPUCONV_DGRAD && L->no_dgrad) {
            /* the first layer: its input gradient is never computed */
            res[op] = (entry){op, L->cin, L->cout, L->h, L->w, ctx->fp16, -1};
            continue;
        }
        const size_t n = op == 0 ? (size_t)L->cout * ho * wo : op == 1 ? (size_t)L->cin * L->h * L->w : b.nw;
        ref = malloc(n * sizeof *ref);
        got = malloc(n * sizeof *got);
        if (!ref || !got) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of host memory");
            goto out;
        }
        double best = INFINITY;
        int choice = -1;
        for (int c = -1; c < NSETS; c++) {
            double t[64];
            int bad = 0;
            if (c >= 0 && !unet_gpuconv_set_supports(c, (unet_gpuconv_op)op, ctx->fp16)) continue; /* no kernel */
            for (int r = -1; r < reps && !bad; r++) {
                const double t0 = unet_now_s();
                st = run_cand(ctx, op, c, L, &b);
                if (st == UNET_OK) st = unet_finish(ctx);
                if (st != UNET_OK) {
                    if (c < 0) goto out; /* the existing path must work */
                    char why[400];
                    snprintf(why, sizeof why, "%s", unet_last_error());
                    unet_clear_error();
                    if ((st = report(rp, "    %s %s: %s (skipped)", OP_NAMES[op], SETS[c].name, why)) != UNET_OK)
                        goto out;
                    bad = 1;
                    break;
                }
                if (r >= 0) t[r] = unet_now_s() - t0;
                if (r == -1) {
                    /* correctness against the existing path: the same sums in another order */
                    if ((st = read_result(ctx, op, &b, c < 0 ? ref : got, n)) != UNET_OK) goto out;
                    if (c >= 0) {
                        const size_t K = op == 0 ? (size_t)L->cin * 9 : op == 1 ? (size_t)L->cout * 9 : (size_t)ho * wo;
                        const double tol = (ctx->fp16 ? 2e-3 : 1e-5) * sqrt((double)K) + 1e-5;
                        for (size_t i = 0; i < n && !bad; i++)
                            bad = !(fabs((double)got[i] - (double)ref[i]) <= tol * (1 + fabs((double)ref[i])));
                        if (bad && (st = report(rp, "    %s %s: wrong results (dropped)", OP_NAMES[op],
                                                SETS[c].name)) != UNET_OK)
                            goto out;
                    }
                }
            }
            if (bad) continue;
            qsort(t, (size_t)reps, sizeof t[0], cmp_d);
            const double med = 1e3 * t[reps / 2];
            ms[op * (NSETS + 1) + c + 1] = med;
            if (med < best) {
                best = med;
                choice = c;
            }
        }
        res[op] = (entry){op, L->cin, L->cout, L->h, L->w, ctx->fp16, choice};
        free(ref), free(got);
        ref = got = NULL;
    }
out:
    free(ref), free(got);
    unet_tensor_free(&b.out), unet_tensor_free(&b.din);
    if (b.in.mem) clReleaseMemObject(b.in.mem);
    if (b.dout.mem) clReleaseMemObject(b.dout.mem);
    if (b.params) clReleaseMemObject(b.params);
    if (b.grads) clReleaseMemObject(b.grads);
    if (b.ws) clReleaseMemObject(b.ws);
    return st;
}

static unet_status write_tuning(unet_context *ctx, const char *path, const entry *es, const double *ms, int n, int reps)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    cJSON_AddStringToObject(root, "format", FORMAT);
    cJSON_AddStringToObject(root, "device", ctx->info.name);
    cJSON_AddStringToObject(root, "vendor", ctx->info.vendor);
    cJSON_AddStringToObject(root, "platform", ctx->info.platform_name);
    cJSON_AddStringToObject(root, "driver", ctx->info.driver_version);
    char method[160];
    snprintf(method, sizeof method, "median of %d runs after one warm-up, wall time with clFinish", reps);
    cJSON_AddStringToObject(root, "method", method);
    cJSON *arr = cJSON_AddArrayToObject(root, "entries");
    for (int i = 0; arr && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", OP_NAMES[es[i].op]);
        cJSON_AddNumberToObject(e, "cin", es[i].cin);
        cJSON_AddNumberToObject(e, "cout", es[i].cout);
        cJSON_AddNumberToObject(e, "h", es[i].h);
        cJSON_AddNumberToObject(e, "w", es[i].w);
        cJSON_AddStringToObject(e, "precision", es[i].fp16 ? "fp16" : "fp32");
        cJSON_AddStringToObject(e, "choice", es[i].choice < 0 ? "existing" : SETS[es[i].choice].name);
        cJSON *m = cJSON_AddObjectToObject(e, "ms");
        for (int c = -1; m && c < NSETS; c++) {
            const double v = ms[(size_t)i * (NSETS + 1) + (size_t)(c + 1)];
            if (v > 0) cJSON_AddNumberToObject(m, c < 0 ? "existing" : SETS[c].name, v);
        }
        cJSON_AddItemToArray(arr, e);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    if (unet_mkdir_p(ctx->cache_dir) != 0) {
        free(text);
        return unet_seterr(UNET_ERR_IO, "creating the cache folder %s: %s (set UNETCL_CACHE_DIR)", ctx->cache_dir,
                           strerror(errno));
    }
    unet_atomic_file af;
    unet_status st = unet_atomic_open(&af, path);
    if (st == UNET_OK) {
        if (fputs(text, af.f) < 0 || fputc('\n', af.f) == EOF) {
            st = unet_write_fail(errno, path);
            unet_atomic_abort(&af);
        } else {
            st = unet_atomic_commit(&af);
        }
    }
    free(text);
    if (st != UNET_OK) return unet_errctx(st, "writing the GPU convolution tuning file");
    return UNET_OK;
}

unet_status unet_gpuconv_tune_cb(unet_context *ctx, const unet_gpuconv_layer *layers, int nlayers, int reps,
                                 unet_gpuconv_progress progress, void *user, char *path_out, size_t path_n)
{
    if (nlayers <= 0 || nlayers * 3 > MAX_ENTRIES || reps < 1 || reps > 64)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: %d layers (1..%d) and %d repetitions (1..64)", nlayers,
                           MAX_ENTRIES / 3, reps);
    reporter rp = {progress, user, 0.0};
    entry *es = calloc((size_t)nlayers * 3, sizeof *es);
    double *ms = calloc((size_t)nlayers * 3 * (NSETS + 1), sizeof *ms);
    unet_status st = UNET_OK;
    if (!es || !ms) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of host memory");
        goto out;
    }
    if ((st = report(&rp, "%-22s %-6s %10s %10s  %-18s %7s", "layer cin x h x w->cout", "op", "existing", "best ours",
                     "choice", "ratio")) != UNET_OK)
        goto out;
    for (int i = 0; i < nlayers; i++) {
        const unet_gpuconv_layer *L = &layers[i];
        double lm[3 * (NSETS + 1)];
        memset(lm, 0, sizeof lm);
        rp.fraction = (double)i / nlayers;
        if ((st = tune_layer(ctx, L, reps, &es[3 * i], lm, &rp)) != UNET_OK) goto out;
        rp.fraction = (double)(i + 1) / nlayers;
        for (int op = 0; op < 3; op++) {
            double bo = INFINITY;
            for (int c = 0; c < NSETS; c++) {
                const double v = lm[op * (NSETS + 1) + c + 1];
                ms[(size_t)(3 * i + op) * (NSETS + 1) + (size_t)(c + 1)] = v;
                if (v > 0 && v < bo) bo = v;
            }
            const double ex = lm[op * (NSETS + 1)];
            ms[(size_t)(3 * i + op) * (NSETS + 1)] = ex;
            if (op == UNET_GPUCONV_DGRAD && L->no_dgrad) {
                st = report(&rp, "%-22s %-6s not timed (the first layer's input gradient is never computed)", "",
                            OP_NAMES[op]);
            } else {
                char shape[64];
                snprintf(shape, sizeof shape, "%dx%dx%d->%d", L->cin, L->h, L->w, L->cout);
                st = report(&rp, "%-22s %-6s %8.3f ms %8.3f ms  %-18s %6.2fx", shape, OP_NAMES[op], ex, bo,
                            es[3 * i + op].choice < 0 ? "existing" : SETS[es[3 * i + op].choice].name, ex / bo);
            }
            if (st != UNET_OK) goto out;
        }
    }
    char path[1100];
    unet_gpuconv_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    if ((st = write_tuning(ctx, path, es, ms, nlayers * 3, reps)) != UNET_OK) goto out;
    if (path_out && path_n) snprintf(path_out, path_n, "%s", path);
    state *s = get_state(ctx);
    if (s) s->tuning_loaded = 0; /* read it back on the next choice */
    rp.fraction = 1.0;
    (void)report(&rp, "wrote %s", path); /* written: too late to cancel */
out:
    free(es);
    free(ms);
    return st;
}

static int to_file(void *user, const char *line, double fraction)
{
    (void)fraction;
    FILE *f = user;
    fprintf(f, "%s\n", line);
    fflush(f);
    return 0;
}

unet_status unet_gpuconv_tune(unet_context *ctx, const unet_gpuconv_layer *layers, int nlayers, int reps, FILE *log)
{
    return unet_gpuconv_tune_cb(ctx, layers, nlayers, reps, log ? to_file : NULL, log, NULL, 0);
}
