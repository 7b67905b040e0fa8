/* Internal: the OpenCL context, the program builder/cache and launch helpers. */
#ifndef UNETCL_OCL_H
#define UNETCL_OCL_H

#include "cl_error.h"
#include "knobs.h"
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
    int force_gpu_kernels; /* option force_gpu_kernels or the knob UNETCL_GPU_KERNELS=1 */
    int fp16;              /* [device] precision = fp16 (option precision_fp16) */
    void *gpuconv;         /* owned by conv_gpu.c: built programs, tuning table */
    void (*gpuconv_free)(void *);
    unet_knobs knobs;    /* read once at creation (knobs.h) */
    int cpu_tuning;      /* unet_cpu_tuning_state (cpu_tune.h) */
    int cpu_tune_busy;   /* a search is running (no nested first-use search) */
    char cpu_tuning_why[1200]; /* where the CPU kernel parameters came from */
    char warnings[1024]; /* unknown UNETCL_* names, one line each ("" none) */
};

/* The context's knobs (tests and benchmarks change them between calls). */
unet_knobs *unet_context_knobs(unet_context *ctx);

/* Where to put the event of the next command: &slot when events are being
 * collected, else NULL; after enqueueing, unet_event_add(ctx, slot). */
#define UNET_EVENT_PTR(ctx, slot) ((ctx)->ev_collect ? &(slot) : NULL)
void unet_event_add(unet_context *ctx, cl_event ev);
/* Waits for the collected events and returns the sum of their execution times
 * (CL_PROFILING_COMMAND_START..END) since the last call, in seconds; -1 when
 * the queue has no profiling. */
double unet_events_take(unet_context *ctx);

/* The options every program is compiled with (one place). */
void unet_program_options(const unet_context *ctx, char *buf, size_t n);

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

/* unet_finish (waits for the queue) is public: include/unetcl/core.h. */

/* Typed kernel arguments: UNET_SET_ARGS(k, unet_arg_mem(buf), unet_arg_int(n),
 * unet_arg_float(scale), unet_arg_ulong(off), unet_arg_local(bytes)) sets
 * arguments 0, 1, ... in order and returns the first error (CL_SUCCESS when
 * all were set): use with UNET_CL_TRY. The count comes from the list, and each
 * constructor accepts exactly one C type (a _Generic selection with one
 * association), so a missing argument type, an int where the kernel takes a
 * ulong or a size_t where it takes an int does not compile. */
typedef enum unet_karg_kind { UNET_KARG_MEM, UNET_KARG_INT, UNET_KARG_UINT, UNET_KARG_ULONG, UNET_KARG_FLOAT,
                              UNET_KARG_LOCAL } unet_karg_kind;

typedef struct unet_karg {
    unet_karg_kind kind;
    union {
        cl_mem mem;
        cl_int i;
        cl_uint u;
        cl_ulong ul;
        cl_float f;
        size_t local_bytes;
    } v;
} unet_karg;

static inline unet_karg unet_karg_mem_(cl_mem m) { unet_karg a = {UNET_KARG_MEM, {.mem = m}}; return a; }
static inline unet_karg unet_karg_int_(cl_int x) { unet_karg a = {UNET_KARG_INT, {.i = x}}; return a; }
static inline unet_karg unet_karg_uint_(cl_uint x) { unet_karg a = {UNET_KARG_UINT, {.u = x}}; return a; }
static inline unet_karg unet_karg_ulong_(cl_ulong x) { unet_karg a = {UNET_KARG_ULONG, {.ul = x}}; return a; }
static inline unet_karg unet_karg_float_(cl_float x) { unet_karg a = {UNET_KARG_FLOAT, {.f = x}}; return a; }
static inline unet_karg unet_karg_local_(size_t bytes)
{
    unet_karg a = {UNET_KARG_LOCAL, {.local_bytes = bytes}};
    return a;
}

#define unet_arg_mem(x) _Generic((x), cl_mem: unet_karg_mem_)(x)
#define unet_arg_int(x) _Generic((x), cl_int: unet_karg_int_)(x)
#define unet_arg_uint(x) _Generic((x), cl_uint: unet_karg_uint_)(x)
#define unet_arg_ulong(x) _Generic((x), cl_ulong: unet_karg_ulong_)(x)
#define unet_arg_float(x) _Generic((x), cl_float: unet_karg_float_)(x)
/* __local memory of the given size (bytes; size_t) */
#define unet_arg_local(bytes) _Generic((bytes), size_t: unet_karg_local_)(bytes)

/* Sets arguments 0..n-1 of k; returns the first error. */
cl_int unet_set_args(cl_kernel k, const unet_karg *args, size_t n);

/* Each argument goes through unet_karg_check_ (a function taking a unet_karg),
 * so a bare value is a compile error too (in a plain array initializer brace
 * elision would take an int as the first member). Up to 32 arguments. */
static inline unet_karg unet_karg_check_(unet_karg a) { return a; }
#define UNET_KARG_NTH_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, N, ...) N
#define UNET_KARG_COUNT_(...) UNET_KARG_NTH_(__VA_ARGS__, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define UNET_KARG_CAT_(a, b) a##b
#define UNET_KARG_MAP_(n, ...) UNET_KARG_CAT_(UNET_KARG_MAP_, n)(__VA_ARGS__)
#define UNET_KARG_MAP_1(x) unet_karg_check_(x)
#define UNET_KARG_MAP_2(x, ...) unet_karg_check_(x), UNET_KARG_MAP_1(__VA_ARGS__)
#define UNET_KARG_MAP_3(x, ...) unet_karg_check_(x), UNET_KARG_MAP_2(__VA_ARGS__)
#define UNET_KARG_MAP_4(x, ...) unet_karg_check_(x), UNET_KARG_MAP_3(__VA_ARGS__)
#define UNET_KARG_MAP_5(x, ...) unet_karg_check_(x), UNET_KARG_MAP_4(__VA_ARGS__)
#define UNET_KARG_MAP_6(x, ...) unet_karg_check_(x), UNET_KARG_MAP_5(__VA_ARGS__)
#define UNET_KARG_MAP_7(x, ...) unet_karg_check_(x), UNET_KARG_MAP_6(__VA_ARGS__)
#define UNET_KARG_MAP_8(x, ...) unet_karg_check_(x), UNET_KARG_MAP_7(__VA_ARGS__)
#define UNET_KARG_MAP_9(x, ...) unet_karg_check_(x), UNET_KARG_MAP_8(__VA_ARGS__)
#define UNET_KARG_MAP_10(x, ...) unet_karg_check_(x), UNET_KARG_MAP_9(__VA_ARGS__)
#define UNET_KARG_MAP_11(x, ...) unet_karg_check_(x), UNET_KARG_MAP_10(__VA_ARGS__)
#define UNET_KARG_MAP_12(x, ...) unet_karg_check_(x), UNET_KARG_MAP_11(__VA_ARGS__)
#define UNET_KARG_MAP_13(x, ...) unet_karg_check_(x), UNET_KARG_MAP_12(__VA_ARGS__)
#define UNET_KARG_MAP_14(x, ...) unet_karg_check_(x), UNET_KARG_MAP_13(__VA_ARGS__)
#define UNET_KARG_MAP_15(x, ...) unet_karg_check_(x), UNET_KARG_MAP_14(__VA_ARGS__)
#define UNET_KARG_MAP_16(x, ...) unet_karg_check_(x), UNET_KARG_MAP_15(__VA_ARGS__)
#define UNET_KARG_MAP_17(x, ...) unet_karg_check_(x), UNET_KARG_MAP_16(__VA_ARGS__)
#define UNET_KARG_MAP_18(x, ...) unet_karg_check_(x), UNET_KARG_MAP_17(__VA_ARGS__)
#define UNET_KARG_MAP_19(x, ...) unet_karg_check_(x), UNET_KARG_MAP_18(__VA_ARGS__)
#define UNET_KARG_MAP_20(x, ...) unet_karg_check_(x), UNET_KARG_MAP_19(__VA_ARGS__)
#define UNET_KARG_MAP_21(x, ...) unet_karg_check_(x), UNET_KARG_MAP_20(__VA_ARGS__)
#define UNET_KARG_MAP_22(x, ...) unet_karg_check_(x), UNET_KARG_MAP_21(__VA_ARGS__)
#define UNET_KARG_MAP_23(x, ...) unet_karg_check_(x), UNET_KARG_MAP_22(__VA_ARGS__)
#define UNET_KARG_MAP_24(x, ...) unet_karg_check_(x), UNET_KARG_MAP_23(__VA_ARGS__)
#define UNET_KARG_MAP_25(x, ...) unet_karg_check_(x), UNET_KARG_MAP_24(__VA_ARGS__)
#define UNET_KARG_MAP_26(x, ...) unet_karg_check_(x), UNET_KARG_MAP_25(__VA_ARGS__)
#define UNET_KARG_MAP_27(x, ...) unet_karg_check_(x), UNET_KARG_MAP_26(__VA_ARGS__)
#define UNET_KARG_MAP_28(x, ...) unet_karg_check_(x), UNET_KARG_MAP_27(__VA_ARGS__)
#define UNET_KARG_MAP_29(x, ...) unet_karg_check_(x), UNET_KARG_MAP_28(__VA_ARGS__)
#define UNET_KARG_MAP_30(x, ...) unet_karg_check_(x), UNET_KARG_MAP_29(__VA_ARGS__)
#define UNET_KARG_MAP_31(x, ...) unet_karg_check_(x), UNET_KARG_MAP_30(__VA_ARGS__)
#define UNET_KARG_MAP_32(x, ...) unet_karg_check_(x), UNET_KARG_MAP_31(__VA_ARGS__)
#define UNET_SET_ARGS(k, ...)                                                                        \
    unet_set_args((k), (const unet_karg[]){UNET_KARG_MAP_(UNET_KARG_COUNT_(__VA_ARGS__), __VA_ARGS__)}, \
                  (size_t)UNET_KARG_COUNT_(__VA_ARGS__))

/* The default cache folder: $UNETCL_CACHE_DIR, else $XDG_CACHE_HOME/unetcl,
 * else ~/.cache/unetcl. */
void unet_default_cache_dir(char *out, size_t n);

/* 64-bit FNV-1a, used for cache keys. */
uint64_t unet_hash64(uint64_t h, const void *data, size_t n);
#define UNET_HASH_INIT 1469598103934665603ULL

/* A per-device file of the cache folder: DIR/PREFIX-HASH.EXT with HASH the
 * FNV-1a of the device's platform, vendor and name (the CLBlast, GPU
 * convolution and CPU tuning files). */
void unet_device_cache_path(const char *cache_dir, const unet_device_info *dev, const char *prefix, const char *ext,
                            char *out, size_t n);

#endif
