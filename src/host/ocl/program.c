/* Program builder with an on-disk binary cache.
 *
 * Cache entry: <cache_dir>/<family>-<key>.bin where key is a 128-bit hash
 * (two FNV-1a streams) of the source, the build options, the device name,
 * the device and driver versions and the platform. The file starts with a
 * header {magic, key, payload length, payload hash}; an entry that does not
 * verify, or that the driver refuses, is ignored and the program compiled
 * from source. Entries are written to a temporary file in the same folder,
 * fsync'ed and renamed, so a reader never sees a partial file. */
#define _POSIX_C_SOURCE 200809L
#include "atomicfile.h"
#include "fsutil.h"
#include "clock.h"
#include "cl_sources.h"
#include "ocl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "UNETCLB1"

uint64_t unet_hash64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void unet_program_options(const unet_context *ctx, char *buf, size_t n)
{
    /* No fast-relaxed math: results are compared with double references. The
     * knob UNETCL_NO_NT=1: plain stores instead of the streaming stores of the
     * Winograd transforms (benchmarks). On CPU devices the micro-kernels
     * prefetch their operands UNETCL_PREFETCH k steps ahead (default 32). */
    long pf = ctx->knobs.prefetch < 0 ? 32 : ctx->knobs.prefetch;
    if (ctx->info.type != UNET_DEVICE_CPU) pf = 0;
    char pfs[32] = "";
    if (pf > 0) snprintf(pfs, sizeof pfs, " -DGEMM_PF=%ld", pf);
    snprintf(buf, n, "-cl-std=CL1.2%s%s", ctx->knobs.no_nt ? " -DWINO_NO_NT" : "", pfs);
}

cl_int unet_set_args(cl_kernel k, const unet_karg *args, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const unet_karg *a = &args[i];
        cl_int err;
        switch (a->kind) {
        case UNET_KARG_MEM: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_mem), &a->v.mem); break;
        case UNET_KARG_INT: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_int), &a->v.i); break;
        case UNET_KARG_UINT: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_uint), &a->v.u); break;
        case UNET_KARG_ULONG: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_ulong), &a->v.ul); break;
        case UNET_KARG_FLOAT: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_float), &a->v.f); break;
        case UNET_KARG_LOCAL: err = clSetKernelArg(k, (cl_uint)i, a->v.local_bytes, NULL); break;
        default: err = CL_INVALID_ARG_VALUE; break;
        }
        if (err != CL_SUCCESS) return err;
    }
    return CL_SUCCESS;
}

static int find_source(const char *family)
{
    for (size_t i = 0; i < unet_cl_source_count; i++)
        if (strcmp(unet_cl_sources[i].name, family) == 0) return (int)i;
    return -1;
}

/* Put before every program's source. UNET_FTZ_DAZ(): denormal floats as
 * zero (FTZ and DAZ in the MXCSR of the thread running the work-item) on x86
 * CPU devices; a no-op where the builtins are absent (GPUs flush
 * single-precision denormals themselves). An x86 FMA on a denormal operand
 * takes a microcode assist: on the 2-core Xeon under PoCL a 512x4096x512 GEMM
 * whose A holds denormals took 1620-1685 ms against 10-12 ms with normal
 * values; with FTZ/DAZ 10.5-10.6 ms (best of 3, three rounds; gradients can
 * drift into that range in training). PoCL sets the floating-point mode per
 * command (its -cl-denorms-are-zero gives FTZ without DAZ), so the CPU
 * kernels that do the arithmetic (GEMM tiles, Winograd transforms, im2col
 * helpers, the CPU bias gradient, SGD) call it at their start; every kernel
 * runs in a defined mode and results stay deterministic.
 * UNET_PREFETCH(p): a software prefetch of the line at the global pointer p
 * into every cache level where the build options define GEMM_PF (CPU
 * devices, the knob UNETCL_PREFETCH; unet_program_options) and Clang offers
 * the builtin (a prefetch never faults); nothing elsewhere.
 * unet_hsum16: the sum of a float16's lanes in a fixed order.
 * unet_transpose16: a 16x16 transpose of x[0..15] in registers; stage s
 * exchanges bit s of the row and the lane index (element (i, k) with bit s
 * of i != bit s of k goes to (i ^ s, k ^ s)): four stages of 16 two-source
 * shuffles (the Winograd weight gradient's transforms, the GEMM packs).
 * UNET_INLINE: the helpers the CPU kernels call in their inner loops (the
 * Winograd row loads and transposes, the GEMM's row store) are inlined
 * always: PoCL's compiler left the transpose, wino_row16 and
 * wino_dout_rows16 as calls, their float16 arrays in memory (perf: 12 % of
 * the packed weight gradient's samples in the transpose alone);
 * bench_unet --ab against plain inline: training step B/A 0.978 (8 of 8
 * pairs faster), inference 0.991 (8 pairs). */
static const char g_prologue[] =
    "#if defined(__clang__) && defined(__has_builtin)\n"
    "#if __has_builtin(__builtin_ia32_ldmxcsr) && __has_builtin(__builtin_ia32_stmxcsr)\n"
    "#define UNET_FTZ_DAZ() __builtin_ia32_ldmxcsr(__builtin_ia32_stmxcsr() | 0x8040)\n"
    "#endif\n"
    "#if defined(GEMM_PF) && __has_builtin(__builtin_prefetch)\n"
    "#define UNET_PREFETCH(p) __builtin_prefetch((const void *)(ulong)(p), 0, 3)\n"
    "#endif\n"
    "#endif\n"
    "#ifndef UNET_FTZ_DAZ\n"
    "#define UNET_FTZ_DAZ()\n"
    "#endif\n"
    "#ifndef UNET_PREFETCH\n"
    "#define UNET_PREFETCH(p)\n"
    "#endif\n"
    "#if defined(__clang__)\n"
    "#define UNET_INLINE inline __attribute__((always_inline))\n"
    "#else\n"
    "#define UNET_INLINE inline\n"
    "#endif\n"
    "UNET_INLINE void unet_transpose16(float16 x[16])\n"
    "{\n"
    "    const uint16 lo1 = (uint16)(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);\n"
    "    const uint16 hi1 = (uint16)(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);\n"
    "    const uint16 lo2 = (uint16)(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);\n"
    "    const uint16 hi2 = (uint16)(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);\n"
    "    const uint16 lo4 = (uint16)(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);\n"
    "    const uint16 hi4 = (uint16)(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);\n"
    "    const uint16 lo8 = (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);\n"
    "    const uint16 hi8 = (uint16)(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 16; i++)\n"
    "        if (!(i & 1)) {\n"
    "            const float16 a = x[i], b = x[i | 1];\n"
    "            x[i] = shuffle2(a, b, lo1);\n"
    "            x[i | 1] = shuffle2(a, b, hi1);\n"
    "        }\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 16; i++)\n"
    "        if (!(i & 2)) {\n"
    "            const float16 a = x[i], b = x[i | 2];\n"
    "            x[i] = shuffle2(a, b, lo2);\n"
    "            x[i | 2] = shuffle2(a, b, hi2);\n"
    "        }\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 16; i++)\n"
    "        if (!(i & 4)) {\n"
    "            const float16 a = x[i], b = x[i | 4];\n"
    "            x[i] = shuffle2(a, b, lo4);\n"
    "            x[i | 4] = shuffle2(a, b, hi4);\n"
    "        }\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 16; i++)\n"
    "        if (!(i & 8)) {\n"
    "            const float16 a = x[i], b = x[i | 8];\n"
    "            x[i] = shuffle2(a, b, lo8);\n"
    "            x[i | 8] = shuffle2(a, b, hi8);\n"
    "        }\n"
    "}\n"
    "inline float unet_hsum16(const float16 v)\n"
    "{\n"
    "    const float8 a = v.lo + v.hi;\n"
    "    const float4 b = a.lo + a.hi;\n"
    "    const float2 c = b.lo + b.hi;\n"
    "    return c.x + c.y;\n"
    "}\n"
    "#line 1\n";

static void cache_key(const unet_context *ctx, const unet_cl_source *src, const char *opts,
                      uint64_t key[2])
{
    const unet_device_info *d = &ctx->info;
    const char *parts[] = {g_prologue, src->text, opts, d->name, d->vendor, d->device_version,
                           d->driver_version, d->platform_name, "unetcl-cache-v1"};
    uint64_t a = UNET_HASH_INIT, b = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = strlen(parts[i]) + 1; /* include NUL as separator */
        a = unet_hash64(a, parts[i], n);
        b = unet_hash64(b ^ (uint64_t)i, parts[i], n);
    }
    key[0] = a;
    key[1] = b;
}

static void cache_path(const unet_context *ctx, const char *family, const uint64_t key[2],
                       char *out, size_t n)
{
    snprintf(out, n, "%s/%s-%016llx%016llx.bin", ctx->cache_dir, family,
             (unsigned long long)key[0], (unsigned long long)key[1]);
}

typedef struct cache_header {
    char magic[8];
    uint64_t key[2];
    uint64_t length;
    uint64_t hash;
} cache_header;

/* Reads a cache entry; returns malloc'ed binary or NULL (any problem). */
static unsigned char *cache_read(const char *path, const uint64_t key[2], size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cache_header h;
    unsigned char *buf = NULL;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, CACHE_MAGIC, 8) != 0 ||
        h.key[0] != key[0] || h.key[1] != key[1] || h.length == 0 || h.length > (1u << 30))
        goto bad;
    buf = malloc(h.length);
    if (!buf || fread(buf, 1, h.length, f) != h.length) goto bad;
    if (fgetc(f) != EOF) goto bad; /* trailing garbage */
    if (unet_hash64(UNET_HASH_INIT, buf, h.length) != h.hash) goto bad;
    fclose(f);
    *len = h.length;
    return buf;
bad:
    free(buf);
    fclose(f);
    return NULL;
}


/* Writes atomically; failures are not errors (the cache is an optimisation). */
static void cache_write(const unet_context *ctx, const char *path, const uint64_t key[2],
                        const unsigned char *bin, size_t len)
{
    if (unet_mkdir_p(ctx->cache_dir) != 0) return;
    cache_header h;
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.key[0] = key[0];
    h.key[1] = key[1];
    h.length = len;
    h.hash = unet_hash64(UNET_HASH_INIT, bin, len);
    unet_atomic_file af;
    if (unet_atomic_open(&af, path) != UNET_OK) {
        unet_clear_error();
        return;
    }
    if (fwrite(&h, sizeof h, 1, af.f) != 1 || fwrite(bin, 1, len, af.f) != len) unet_atomic_abort(&af);
    else if (unet_atomic_commit(&af) != UNET_OK) unet_clear_error();
}

static unet_status build_log_error(unet_context *ctx, cl_program p, const char *family, cl_int err)
{
    size_t n = 0;
    clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    char *log = malloc(n + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(p, ctx->device, CL_PROGRAM_BUILD_LOG, n, log, NULL);
        log[n] = '\0';
    }
    unet_status st = unet_seterr_multiline(UNET_ERR_BUILD,
                                 "building OpenCL program \"%s\" for %s failed (%s); build log:\n%s",
                                 family, ctx->info.name, unet_cl_errname(err), log ? log : "(none)");
    free(log);
    return st;
}

static cl_program try_binary(unet_context *ctx, const unsigned char *bin, size_t len, const char *opts)
{
    cl_int err, bstatus;
    const unsigned char *bins[1] = {bin};
    cl_program p = clCreateProgramWithBinary(ctx->ctx, 1, &ctx->device, &len, bins, &bstatus, &err);
    if (err != CL_SUCCESS || bstatus != CL_SUCCESS) {
        if (p) clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &ctx->device, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

/* Builds (or loads from the binary cache) the program of source idx with
 * the given options. */
static unet_status build_cached(unet_context *ctx, int idx, const char *family, const char *opts, cl_program *out)
{
    const unet_cl_source *src = &unet_cl_sources[idx];
    double t0 = unet_now_s();
    uint64_t key[2];
    char path[1200];
    cache_key(ctx, src, opts, key);
    cache_path(ctx, family, key, path, sizeof path);

    cl_program p = NULL;
    if (ctx->cache_enabled) {
        size_t len;
        unsigned char *bin = cache_read(path, key, &len);
        if (bin) {
            p = try_binary(ctx, bin, len, opts);
            free(bin);
            if (p) {
                ctx->stats.programs_loaded++;
                if (ctx->verbose) fprintf(stderr, "unetcl: program %s loaded from %s\n", family, path);
            }
        }
    }
    if (!p) {
        cl_int err;
        const char *text[2] = {g_prologue, src->text};
        size_t len[2] = {sizeof g_prologue - 1, src->length};
        p = clCreateProgramWithSource(ctx->ctx, 2, text, len, &err);
        if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, "clCreateProgramWithSource");
        err = clBuildProgram(p, 1, &ctx->device, opts, NULL, NULL);
        if (err != CL_SUCCESS) {
            unet_status st = build_log_error(ctx, p, family, err);
            clReleaseProgram(p);
            return st;
        }
        ctx->stats.programs_compiled++;
        if (ctx->verbose) fprintf(stderr, "unetcl: program %s compiled (%.2f s)\n", family, unet_now_s() - t0);
        if (ctx->cache_enabled) {
            size_t blen = 0;
            if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof blen, &blen, NULL) == CL_SUCCESS &&
                blen > 0) {
                unsigned char *bin = malloc(blen);
                unsigned char *bins[1] = {bin};
                if (bin && clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
                    cache_write(ctx, path, key, bin, blen);
                free(bin);
            }
        }
    }
    ctx->stats.build_seconds += unet_now_s() - t0;
    *out = p;
    return UNET_OK;
}

unet_status unet_program_get(unet_context *ctx, const char *family, cl_program *out)
{
    int idx = find_source(family);
    if (idx < 0 || idx >= UNET_MAX_PROGRAMS)
        return unet_seterr(UNET_ERR_INTERNAL, "no embedded OpenCL source named \"%s\"", family);
    if (ctx->programs[idx]) {
        *out = ctx->programs[idx];
        return UNET_OK;
    }
    cl_program p;
    char opts[128];
    unet_program_options(ctx, opts, sizeof opts);
    UNET_TRY(build_cached(ctx, idx, family, opts, &p));
    ctx->programs[idx] = p;
    *out = p;
    return UNET_OK;
}

unet_status unet_program_build_with(unet_context *ctx, const char *family, const char *defines, cl_program *out)
{
    int idx = find_source(family);
    if (idx < 0)
        return unet_seterr(UNET_ERR_INTERNAL, "no embedded OpenCL source named \"%s\"", family);
    char base[128], opts[1024];
    unet_program_options(ctx, base, sizeof base);
    snprintf(opts, sizeof opts, "%s %s", base, defines ? defines : "");
    return build_cached(ctx, idx, family, opts, out);
}

unet_status unet_kernel_get(unet_context *ctx, const char *family, const char *name, cl_kernel *out)
{
    for (int i = 0; i < ctx->nkernels; i++)
        if (strcmp(ctx->kernels[i].name, name) == 0) {
            *out = ctx->kernels[i].kernel;
            return UNET_OK;
        }
    if (ctx->nkernels >= UNET_MAX_KERNELS)
        return unet_seterr(UNET_ERR_INTERNAL, "kernel table full (raise UNET_MAX_KERNELS)");
    cl_program p;
    UNET_TRY(unet_program_get(ctx, family, &p));
    cl_int err;
    cl_kernel k = clCreateKernel(p, name, &err);
    if (err != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "clCreateKernel(%s/%s)", family, name);
        return unet_cl_fail(err, __FILE__, __LINE__, what);
    }
    unet_kernel_entry *e = &ctx->kernels[ctx->nkernels++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kernel = k;
    *out = k;
    return UNET_OK;
}

unet_status unet_context_build_all(unet_context *ctx)
{
    for (size_t i = 0; i < unet_cl_source_count; i++) {
        cl_program p;
        UNET_TRY(unet_program_get(ctx, unet_cl_sources[i].name, &p));
    }
    return UNET_OK;
}

static void events_flush(unet_context *ctx)
{
    if (ctx->nev == 0) return;
    clWaitForEvents((cl_uint)ctx->nev, ctx->ev);
    for (int i = 0; i < ctx->nev; i++) {
        cl_ulong a = 0, b = 0;
        if (clGetEventProfilingInfo(ctx->ev[i], CL_PROFILING_COMMAND_START, sizeof a, &a, NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(ctx->ev[i], CL_PROFILING_COMMAND_END, sizeof b, &b, NULL) == CL_SUCCESS &&
            b >= a)
            ctx->ev_seconds += 1e-9 * (double)(b - a);
        clReleaseEvent(ctx->ev[i]);
    }
    ctx->nev = 0;
}

void unet_event_add(unet_context *ctx, cl_event ev)
{
    if (ctx->nev == (int)(sizeof ctx->ev / sizeof ctx->ev[0])) events_flush(ctx);
    ctx->ev[ctx->nev++] = ev;
}

double unet_events_take(unet_context *ctx)
{
    events_flush(ctx);
    const double s = ctx->ev_seconds;
    ctx->ev_seconds = 0;
    return ctx->profiling ? s : -1.0;
}

/* Development aid: with UNETCL_KPROF=1 in the environment every launch is
 * waited for and its wall time added to a per-kernel-name table, printed to
 * stderr by unet_kprof_report (called when a context is destroyed). */
#define KPROF_MAX 64
static struct { char name[48]; double s; long calls; } g_kprof[KPROF_MAX];
static int g_nkprof;

void unet_kprof_report(void)
{
    if (g_nkprof == 0) return;
    double tot = 0;
    for (int i = 0; i < g_nkprof; i++) tot += g_kprof[i].s;
    fprintf(stderr, "kernel profile (UNETCL_KPROF): %.3f s in all\n", tot);
    for (int i = 0; i < g_nkprof; i++)
        fprintf(stderr, "  %-28s %9.3f s %5.1f %% %8ld calls\n", g_kprof[i].name, g_kprof[i].s,
                100.0 * g_kprof[i].s / (tot > 0 ? tot : 1), g_kprof[i].calls);
    g_nkprof = 0;
}

static void kprof_add(const char *name, double s)
{
    int i = 0;
    for (; i < g_nkprof; i++)
        if (!strcmp(g_kprof[i].name, name)) break;
    if (i == g_nkprof) {
        if (g_nkprof >= KPROF_MAX) return;
        snprintf(g_kprof[i].name, sizeof g_kprof[i].name, "%s", name);
        g_nkprof++;
    }
    g_kprof[i].s += s;
    g_kprof[i].calls++;
}

unet_status unet_enqueue(unet_context *ctx, cl_kernel k, const char *name, cl_uint dims,
                         const size_t *gws, const size_t *lws)
{
    if (ctx->knobs.kprof) {
        for (cl_uint i = 0; i < dims; i++)
            if (gws[i] == 0) return UNET_OK;
        UNET_CL_SYNC_TRY(clFinish(ctx->queue), "clFinish");
        double t0 = unet_now_s();
        ctx->knobs.kprof = 0;
        unet_status st = unet_enqueue(ctx, k, name, dims, gws, lws);
        ctx->knobs.kprof = 1;
        if (st != UNET_OK) return st;
        UNET_CL_SYNC_TRY(clFinish(ctx->queue), "clFinish");
        kprof_add(name, unet_now_s() - t0);
        return UNET_OK;
    }
    size_t g[3];
    for (cl_uint i = 0; i < dims; i++) {
        g[i] = gws[i];
        if (g[i] == 0) return UNET_OK; /* nothing to do */
        if (lws && lws[i]) g[i] = (g[i] + lws[i] - 1) / lws[i] * lws[i];
    }
    cl_event ev = NULL;
    cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, lws, 0, NULL, UNET_EVENT_PTR(ctx, ev));
    if (ev) unet_event_add(ctx, ev);
    if (err != CL_SUCCESS) {
        char what[160];
        snprintf(what, sizeof what, "launching kernel %s", name);
        return unet_cl_fail(err, __FILE__, __LINE__, what);
    }
    return UNET_OK;
}

unet_status unet_finish(unet_context *ctx)
{
    UNET_CL_SYNC_TRY(clFinish(ctx->queue), "clFinish");
    return UNET_OK;
}

void unet_device_cache_path(const char *cache_dir, const unet_device_info *dev, const char *prefix, const char *ext,
                            char *out, size_t n)
{
    uint64_t h = UNET_HASH_INIT;
    h = unet_hash64(h, dev->platform_name, strlen(dev->platform_name) + 1);
    h = unet_hash64(h, dev->vendor, strlen(dev->vendor) + 1);
    h = unet_hash64(h, dev->name, strlen(dev->name) + 1);
    snprintf(out, n, "%s/%s-%016llx.%s", cache_dir, prefix, (unsigned long long)h, ext);
}
