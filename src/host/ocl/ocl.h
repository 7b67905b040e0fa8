/* Internal: the OpenCL context, the program builder/cache and launch helpers. */
#ifndef UNETCL_OCL_H
#define UNETCL_OCL_H

#include "cl_error.h"
#include "unetcl/unetcl.h"
#include <CL/cl.h>

#define UNET_MAX_PROGRAMS 32
#define UNET_MAX_KERNELS 256

typedef struct unet_kernel_entry {
    char name[64];
    cl_kernel kernel;
} unet_kernel_entry;

struct unet_context {
    cl_platform_id platform;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;
    unet_device_info info;
    char cache_dir[1024];
    int cache_enabled;
    int verbose;
    int profiling;
    /* per-layer device times: while ev_collect is set (and the queue has
     * profiling), every command's event is kept here (unet_event_add) and
     * unet_events_take sums their execution times */
    int ev_collect;
    int nev;
    cl_event ev[64];
    double ev_seconds;
    cl_program programs[UNET_MAX_PROGRAMS]; /* by index into unet_cl_sources */
    unet_kernel_entry kernels[UNET_MAX_KERNELS];
    int nkernels;
    unet_cache_stats stats;
    void *blas_state; /* owned by gemm.c (custom GEMM) */
    int clblast_tuning;          /* 0 not loaded yet, 1 applied, -1 none (clblast_tune.c) */
    int clblast_tuning_disabled; /* option or $UNETCL_CLBLAST_TUNING=0 */
    void (*blas_free)(void *);
    /* GPU convolution kernels (conv_gpu.c): options read once at creation */
    int force_gpu_kernels; /* option force_gpu_kernels or $UNETCL_GPU_KERNELS=1 */
    int fp16;              /* [device] precision = fp16 (option precision_fp16) */
    void *gpuconv;         /* owned by conv_gpu.c: built programs, tuning table */
    void (*gpuconv_free)(void *);
};

/* Where to put the event of the next command: &slot when events are being
 * collected, else NULL; after enqueueing, unet_event_add(ctx, slot). */
#define UNET_EVENT_PTR(ctx, slot) ((ctx)->ev_collect ? &(slot) : NULL)
void unet_event_add(unet_context *ctx, cl_event ev);
/* Waits for the collected events and returns the sum of their execution times
 * (CL_PROFILING_COMMAND_START..END) since the last call, in seconds; -1 when
 * the queue has no profiling. */
double unet_events_take(unet_context *ctx);

/* The options every program is compiled with (one place). */
const char *unet_program_options(const unet_context *ctx);

/* Returns the built program of a kernel family (file name of src/cl/ without
 * .cl), compiling it or loading it from the binary cache on first use. */
unet_status unet_program_get(unet_context *ctx, const char *family, cl_program *prog);

/* Builds a separate program of a kernel family with extra options
 * (-D defines), through the same binary cache; the caller releases it. */
unet_status unet_program_build_with(unet_context *ctx, const char *family, const char *defines, cl_program *prog);

/* Returns a kernel by name from the given family (cached per context). */
unet_status unet_kernel_get(unet_context *ctx, const char *family, const char *name,
                            cl_kernel *kernel);

/* Enqueues a kernel; global sizes are rounded up to multiples of local sizes
 * (lws may be NULL). Errors name the kernel. */
unet_status unet_enqueue(unet_context *ctx, cl_kernel k, const char *name, cl_uint dims,
                         const size_t *gws, const size_t *lws);

/* Prints (stderr) and clears the per-kernel times gathered when UNETCL_KPROF=1. */
void unet_kprof_report(void);

/* Waits for the queue. */
unet_status unet_finish(unet_context *ctx);

/* Sets kernel argument i to the value v (an lvalue). */
#define UNET_ARG(k, i, v) clSetKernelArg((k), (cl_uint)(i), sizeof(v), &(v))

/* Sets arguments in order, stopping at the first error: use with
 * UNET_CL_TRY(unet_args(...)). Each pair is (size_t size, const void *ptr),
 * terminated by size 0. */
cl_int unet_args(cl_kernel k, ...);

/* The default cache folder: $UNETCL_CACHE_DIR, else $XDG_CACHE_HOME/unetcl,
 * else ~/.cache/unetcl. */
void unet_default_cache_dir(char *out, size_t n);

/* 64-bit FNV-1a, used for cache keys. */
uint64_t unet_hash64(uint64_t h, const void *data, size_t n);
#define UNET_HASH_INIT 1469598103934665603ULL

#endif
