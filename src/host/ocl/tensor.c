#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

const char *unet_format_bytes(double b, char *buf, size_t n)
{
    if (b >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(buf, n, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024.0) snprintf(buf, n, "%.1f KiB", b / 1024.0);
    else snprintf(buf, n, "%.0f B", b);
    return buf;
}

/* CPU devices: buffers of 2 MiB and more live in host memory we allocate on
 * 2 MiB boundaries and mark for transparent huge pages (MADV_HUGEPAGE; the
 * kernel's default "madvise" mode gives them only on request), used by the
 * device in place (CL_MEM_USE_HOST_PTR). Fewer TLB misses in the Winograd
 * transforms and GEMMs, whose accesses stride across many pages.
 * UNETCL_HUGEPAGES=0 turns it off (benchmarks). */
#define HUGE_MIN ((size_t)2 << 20)

static void *huge_alloc(size_t bytes)
{
    const size_t a = (size_t)2 << 20, n = (bytes + a - 1) / a * a;
    void *p = NULL;
    if (posix_memalign(&p, a, n) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, n, MADV_HUGEPAGE); /* advice only: fine if refused */
#endif
    return p;
}

/* The host memory comes as the callback's user data: PoCL answers
 * CL_MEM_HOST_PTR with NULL once the object is being destroyed, and querying
 * it there leaked every huge-page buffer (issue 12, item 1). */
static void CL_CALLBACK huge_free(cl_mem m, void *user)
{
    (void)m;
    free(user);
}

unet_status unet_buffer_alloc(unet_context *ctx, cl_mem *mem, size_t bytes, const char *what)
{
    *mem = NULL;
    if (bytes == 0) bytes = sizeof(float); /* OpenCL refuses size 0 */
    if ((uint64_t)bytes > ctx->info.max_alloc_bytes) {
        char a[32], b[32];
        return unet_seterr(UNET_ERR_DOES_NOT_FIT,
                           "%s needs one buffer of %s but %s allows at most %s per buffer "
                           "(CL_DEVICE_MAX_MEM_ALLOC_SIZE): use a smaller tile size",
                           what ? what : "a tensor", unet_format_bytes((double)bytes, a, sizeof a),
                           ctx->info.name, unet_format_bytes((double)ctx->info.max_alloc_bytes, b, sizeof b));
    }
    cl_int err;
    void *host = NULL;
    if (ctx->info.type == UNET_DEVICE_CPU && bytes >= HUGE_MIN && ctx->knobs.hugepages) host = huge_alloc(bytes);
    if (host) {
        *mem = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, host, &err);
        if (err == CL_SUCCESS && clSetMemObjectDestructorCallback(*mem, huge_free, host) != CL_SUCCESS) {
            clReleaseMemObject(*mem); /* nothing enqueued on it yet */
            err = CL_INVALID_VALUE;
        }
        if (err != CL_SUCCESS) {
            /* the device refused our memory: its own allocation instead */
            free(host);
            host = NULL;
        }
    }
    if (!host) *mem = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        *mem = NULL;
        char msg[160];
        snprintf(msg, sizeof msg, "allocating %zu bytes for %s", bytes, what ? what : "a tensor");
        return unet_cl_fail(err, __FILE__, __LINE__, msg);
    }
    return UNET_OK;
}

/* Sets t's shape (no buffer yet); an empty shape is an error. */
static unet_status tensor_shape(unet_tensor *t, int c, int h, int w, const char *what)
{
    t->mem = NULL;
    t->c = c;
    t->h = h;
    t->w = w;
    if (c <= 0 || h <= 0 || w <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tensor %s has an empty shape %dx%dx%d",
                           what ? what : "", c, h, w);
    return UNET_OK;
}

unet_status unet_tensor_alloc(unet_context *ctx, unet_tensor *t, int c, int h, int w, const char *what)
{
    UNET_TRY(tensor_shape(t, c, h, w, what));
    return unet_buffer_alloc(ctx, &t->mem, unet_tensor_bytes(t), what);
}

unet_status unet_tensor_view(unet_context *ctx, cl_mem parent, size_t off, unet_tensor *t, int c, int h, int w,
                             const char *what)
{
    UNET_TRY(tensor_shape(t, c, h, w, what));
    size_t psize = 0;
    UNET_CL_TRY(clGetMemObjectInfo(parent, CL_MEM_SIZE, sizeof psize, &psize, NULL), "querying a buffer size");
    cl_buffer_region reg = {off * sizeof(float), unet_tensor_bytes(t)};
    if (reg.origin > psize || reg.size > psize - reg.origin)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tensor %s: view of %zu bytes at byte %zu lies outside its "
                           "buffer of %zu bytes", what ? what : "", reg.size, reg.origin, psize);
    cl_uint align_bits = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits, &align_bits, NULL) !=
            CL_SUCCESS ||
        align_bits < 8)
        return UNET_OK;
    if (reg.origin % (align_bits / 8)) return UNET_OK; /* caller falls back to its own buffer */
    cl_int err;
    cl_mem m = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &reg, &err);
    if (err == CL_MISALIGNED_SUB_BUFFER_OFFSET) return UNET_OK;
    if (err != CL_SUCCESS) {
        char msg[160];
        snprintf(msg, sizeof msg, "creating a sub-buffer for %s", what ? what : "a tensor");
        return unet_cl_fail(err, __FILE__, __LINE__, msg);
    }
    t->mem = m;
    return UNET_OK;
}

void unet_tensor_free(unet_tensor *t)
{
    if (t && t->mem) {
        clReleaseMemObject(t->mem);
        t->mem = NULL;
    }
}

unet_status unet_buffer_write(unet_context *ctx, cl_mem m, size_t off, size_t n, const void *host)
{
    if (n == 0) return UNET_OK;
    UNET_CL_SYNC_TRY(clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, off, n, host, 0, NULL, NULL),
                "clEnqueueWriteBuffer");
    return UNET_OK;
}

unet_status unet_buffer_read(unet_context *ctx, cl_mem m, size_t off, size_t n, void *host)
{
    if (n == 0) return UNET_OK;
    UNET_CL_SYNC_TRY(clEnqueueReadBuffer(ctx->queue, m, CL_TRUE, off, n, host, 0, NULL, NULL),
                "clEnqueueReadBuffer");
    return UNET_OK;
}

unet_status unet_tensor_upload(unet_context *ctx, unet_tensor *t, const float *host)
{
    return unet_buffer_write(ctx, t->mem, 0, unet_tensor_bytes(t), host);
}

unet_status unet_tensor_download(unet_context *ctx, const unet_tensor *t, float *host)
{
    return unet_buffer_read(ctx, t->mem, 0, unet_tensor_bytes(t), host);
}

unet_status unet_buffer_fill(unet_context *ctx, cl_mem m, size_t off, size_t n, float value)
{
    if (n == 0) return UNET_OK;
    cl_event ev = NULL;
    UNET_CL_TRY(clEnqueueFillBuffer(ctx->queue, m, &value, sizeof value, off * sizeof(float),
                                    n * sizeof(float), 0, NULL, UNET_EVENT_PTR(ctx, ev)),
                "clEnqueueFillBuffer");
    if (ev) unet_event_add(ctx, ev);
    return UNET_OK;
}

unet_status unet_buffer_copy(unet_context *ctx, cl_mem src, size_t so, cl_mem dst, size_t doff, size_t n)
{
    if (n == 0) return UNET_OK;
    cl_event ev = NULL;
    UNET_CL_TRY(clEnqueueCopyBuffer(ctx->queue, src, dst, so * sizeof(float), doff * sizeof(float),
                                    n * sizeof(float), 0, NULL, UNET_EVENT_PTR(ctx, ev)),
                "clEnqueueCopyBuffer");
    if (ev) unet_event_add(ctx, ev);
    return UNET_OK;
}

/* Uniform values in [-0.5, 0.5) from a seeded LCG (tuning and benchmark
 * inputs: the same numbers on every run). */
cl_mem unet_buffer_random(unet_context *ctx, size_t n, unsigned seed)
{
    float *h = malloc(n * sizeof *h);
    if (!h) return NULL;
    unsigned s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        h[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, n * sizeof(float), h, &err);
    free(h);
    return err == CL_SUCCESS ? m : NULL;
}
