/* Internal: device tensors (float32, channel-major C x H x W, batch 1). */
#ifndef UNETCL_TENSOR_H
#define UNETCL_TENSOR_H

#include "ocl.h"
#include <stddef.h>

typedef struct unet_tensor {
    cl_mem mem; /* NULL when not allocated */
    int c, h, w;
} unet_tensor;

static inline size_t unet_tensor_count(const unet_tensor *t)
{
    return (size_t)t->c * (size_t)t->h * (size_t)t->w;
}
static inline size_t unet_tensor_bytes(const unet_tensor *t) { return unet_tensor_count(t) * sizeof(float); }

/* Allocates a device buffer of c*h*w floats (checked against the device's
 * max single allocation, with a message naming what). */
unet_status unet_tensor_alloc(unet_context *ctx, unet_tensor *t, int c, int h, int w, const char *what);
void unet_tensor_free(unet_tensor *t);

/* Makes t (c x h x w) a view of parent's floats from float offset off on
 * (an OpenCL sub-buffer). When the device cannot place a sub-buffer at that
 * offset (CL_DEVICE_MEM_BASE_ADDR_ALIGN), t->mem stays NULL and UNET_OK is
 * returned: the caller allocates a buffer of its own instead. */
unet_status unet_tensor_view(unet_context *ctx, cl_mem parent, size_t off, unet_tensor *t, int c, int h, int w,
                             const char *what);

/* Allocates a raw device buffer of n bytes with a checked error message. */
unet_status unet_buffer_alloc(unet_context *ctx, cl_mem *mem, size_t bytes, const char *what);

/* Blocking host <-> device copies of the whole tensor. */
unet_status unet_tensor_upload(unet_context *ctx, unet_tensor *t, const float *host);
unet_status unet_tensor_download(unet_context *ctx, const unet_tensor *t, float *host);

/* Blocking copies of n bytes at byte offset off of a buffer. */
unet_status unet_buffer_write(unet_context *ctx, cl_mem m, size_t off, size_t n, const void *host);
unet_status unet_buffer_read(unet_context *ctx, cl_mem m, size_t off, size_t n, void *host);

/* Sets n floats at float offset off of a buffer to value (enqueued). */
unet_status unet_buffer_fill(unet_context *ctx, cl_mem m, size_t off, size_t n, float value);

/* Copies n floats between buffers (enqueued). */
unet_status unet_buffer_copy(unet_context *ctx, cl_mem src, size_t src_off, cl_mem dst, size_t dst_off, size_t n);

/* A new buffer of n floats, uniform in [-0.5, 0.5) from a seeded LCG (the
 * inputs of tuning runs and benchmarks); NULL on failure. */
cl_mem unet_buffer_random(unet_context *ctx, size_t n, unsigned seed);

/* Human-readable bytes ("1.07 GiB") into buf. */
const char *unet_format_bytes(double bytes, char *buf, size_t n);

#endif
