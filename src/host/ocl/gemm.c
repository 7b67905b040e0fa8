/* The GEMM entry of the library: a register-tiled OpenCL GEMM for CPU devices
 * (src/cl/gemm_cpu.cl) and CLBlast everywhere else. UNETCL_GEMM=clblast|cpu
 * overrides the choice. */
#include "gemm.h"

#include "clblast_tune.h"
#include "tensor.h"

#include <clblast_c.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- CLBlast ---------------------------------------------------------------- */

static const char *clblast_name(CLBlastStatusCode s)
{
    switch (s) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    case CLBlastNoHalfPrecision: return "CLBlastNoHalfPrecision";
    case CLBlastInvalidLocalNumDimensions: return "CLBlastInvalidLocalNumDimensions";
    case CLBlastInvalidLocalThreadsDim: return "CLBlastInvalidLocalThreadsDim";
    case CLBlastInvalidLocalThreadsTotal: return "CLBlastInvalidLocalThreadsTotal";
    case CLBlastUnknownError: return "CLBlastUnknownError";
    default: return (s < 0 && s > -1000) ? unet_cl_errname((cl_int)s) : "CLBlast error";
    }
}

static cl_mem blas_temp_mem(const unet_context *ctx);

size_t unet_gemm_blas_temp_bytes(const unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k,
                                 size_t a_off, size_t lda, size_t b_off, size_t ldb, size_t c_off, size_t ldc)
{
    unet_gemm_path path = UNET_GEMM_CLBLAST;
    if (!ctx || m == 0 || n == 0 || k == 0 || unet_gemm_path_of(ctx, &path) != UNET_OK || path != UNET_GEMM_CLBLAST)
        return 0;
    size_t bytes = 0;
    cl_command_queue q = ctx->queue; /* CLBlast takes a pointer to a non-const queue; it only reads it */
    if (CLBlastSGemmTempBufferSize(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                   tb ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, a_off, lda, b_off, ldb,
                                   c_off, ldc, &q, &bytes) != CLBlastSuccess)
        return 0;
    return bytes;
}

/* CLBlast's GEMM copies operands whose sizes are not multiples of its tiles
 * into padded temporaries. It would allocate (and free) them per call, where
 * the plan cannot see them; instead the context keeps one buffer, sized by
 * the plan (unet_plan_info.blas_temp_bytes, which unet_net_create reserves
 * through unet_gemm_blas_temp_reserve) and grown here only if a call needs
 * more, and hands it to CLBlast. */
static unet_status gemm_clblast(unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k,
                                float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b,
                                size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                                size_t ldc)
{
    unet_clblast_tuning_autoload(ctx); /* once per context: `unetcl tune`'s parameters */
    const size_t need = unet_gemm_blas_temp_bytes(ctx, ta, tb, m, n, k, a_off, lda, b_off, ldb, c_off, ldc);
    if (need) UNET_TRY(unet_gemm_blas_temp_reserve(ctx, need));
    cl_event ev = NULL;
    const CLBlastTranspose cta = ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                           ctb = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s =
        need ? CLBlastSgemmWithTempBuffer(CLBlastLayoutRowMajor, cta, ctb, m, n, k, alpha, a, a_off, lda, b, b_off,
                                          ldb, beta, c, c_off, ldc, &ctx->queue, UNET_EVENT_PTR(ctx, ev), blas_temp_mem(ctx))
             : CLBlastSgemm(CLBlastLayoutRowMajor, cta, ctb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                            c_off, ldc, &ctx->queue, UNET_EVENT_PTR(ctx, ev));
    if (ev) unet_event_add(ctx, ev);
    if (s != CLBlastSuccess) {
        if (s == CLBlastInsufficientMemoryTemp || s == (CLBlastStatusCode)CL_MEM_OBJECT_ALLOCATION_FAILURE ||
            s == (CLBlastStatusCode)CL_OUT_OF_RESOURCES)
            return unet_seterr(UNET_ERR_OUT_OF_MEMORY,
                               "CLBlastSgemm (%zux%zux%zu) ran out of device memory (%s): use a smaller tile",
                               m, n, k, clblast_name(s));
        return unet_seterr(UNET_ERR_BLAS, "CLBlastSgemm (m=%zu n=%zu k=%zu ta=%d tb=%d) failed: %s (%d)", m,
                           n, k, ta, tb, clblast_name(s), (int)s);
    }
    return UNET_OK;
}

/* ---- CPU GEMM (packed panels + register-tiled micro-kernel) ----------------- */

#define GC_NR 32
#define GC_KB 16   /* k block of the A pack kernel */
#define GC_KBB 256 /* k block of the B pack kernel */
#define GC_KBA 256 /* k per work-item of the A pack kernel */
/* Largest pack buffer of either kind (also bounded by the device's max alloc). */
#define GC_PACK_CAP ((size_t)256 << 20)
/* Default K-chunk: a 12 x kc A panel and a 32 x kc B panel stay in L2. */
#define GC_KC_DEFAULT 1152
/* The fused kernel (B panel packed into local memory by the work-item that
 * uses it) needs enough 32-column panels to keep every core busy. */
#define GC_LB_MIN_PANELS 8
/* Long K, small C (gemm_kred): by default from K >= GC_KRED_MIN_K with C of at
 * most GC_KRED_MAX_MN elements; each dimension at most GC_KRED_MAX_DIM (the sum
 * kernel's row); parts of about GC_KRED_PART k. */
#define GC_KRED_MIN_K 4096
#define GC_KRED_MAX_MN 1024
#define GC_KRED_MAX_DIM 64
#define GC_KRED_PART 2048

/* Internal knobs, read once per context from the environment (tests and
 * tuning): UNETCL_GEMM_KC (K-chunk), UNETCL_GEMM_NCHUNK (columns of B packed
 * per chunk), UNETCL_GEMM_LB (0: never the fused kernel, 1: whenever possible). */
typedef struct gemm_cpu_state {
    cl_mem ap, bp;
    size_t ap_bytes, bp_bytes;
    cl_mem tmp; /* CLBlast's temporary buffer (GPU path) */
    size_t tmp_bytes;
    size_t kc_max;
    size_t nchunk_max;
    int lb; /* -1 auto */
} gemm_cpu_state;

static void gemm_state_free(void *p)
{
    gemm_cpu_state *s = p;
    if (!s) return;
    if (s->ap) clReleaseMemObject(s->ap);
    if (s->bp) clReleaseMemObject(s->bp);
    if (s->tmp) clReleaseMemObject(s->tmp);
    free(s);
}

static unet_status gemm_state(unet_context *ctx, gemm_cpu_state **out)
{
    if (!ctx->blas_state) {
        gemm_cpu_state *s = calloc(1, sizeof *s);
        if (!s) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_gemm: out of host memory");
        ctx->blas_state = s;
        ctx->blas_free = gemm_state_free;
    }
    /* the knobs (tuning, tests): read per call, they may change between calls */
    gemm_cpu_state *s = ctx->blas_state;
    s->kc_max = ctx->knobs.gemm_kc > 0 ? (size_t)ctx->knobs.gemm_kc : GC_KC_DEFAULT;
    s->nchunk_max = ctx->knobs.gemm_nchunk > 0 ? (size_t)ctx->knobs.gemm_nchunk : 0;
    s->lb = (ctx->knobs.gemm_lb == 0 || ctx->knobs.gemm_lb == 1) ? (int)ctx->knobs.gemm_lb : -1;
    *out = s;
    return UNET_OK;
}

/* Makes *buf at least bytes large (contents are not kept). */
static unet_status grow(unet_context *ctx, cl_mem *buf, size_t *have, size_t bytes, const char *what)
{
    if (bytes < 64) bytes = 64;
    if (*buf && *have >= bytes) return UNET_OK;
    if (*buf) clReleaseMemObject(*buf);
    *buf = NULL;
    *have = 0;
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS || !m) {
        char msg[160];
        snprintf(msg, sizeof msg, "unet_gemm: allocating the %s pack buffer (%zu MiB)", what, bytes >> 20);
        return unet_cl_fail(err != CL_SUCCESS ? err : CL_MEM_OBJECT_ALLOCATION_FAILURE, __FILE__, __LINE__, msg);
    }
    *buf = m;
    *have = bytes;
    return UNET_OK;
}

/* Checks that a rows x cols matrix at off with leading dimension ld lies in buf. */
static unet_status check_matrix(const char *name, cl_mem buf, size_t off, size_t rows, size_t cols, size_t ld)
{
    if (rows == 0 || cols == 0) return UNET_OK;
    if (!buf) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_gemm: matrix %s is NULL", name);
    if (ld < cols)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "unet_gemm: leading dimension of %s (%zu) is smaller than its %zu columns", name, ld,
                           cols);
    size_t bytes = 0;
    cl_int err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, "unet_gemm: querying a matrix buffer");
    size_t have = bytes / sizeof(float);
    /* last element index: off + (rows-1)*ld + cols - 1, checked without overflow */
    if (off > have || rows - 1 > (have - off) / ld || (rows - 1) * ld + cols > have - off)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "unet_gemm: matrix %s (%zux%zu, ld %zu, offset %zu) does not fit its buffer of %zu floats",
                           name, rows, cols, ld, off, have);
    return UNET_OK;
}

static int choose_mr(size_t m)
{
    /* 12-row tiles do 1.5x the FMAs per load of 8-row ones (about 10 % faster
     * per FMA); 8 wins when it pads M much less (M = 64: 64 rows, not 72). */
    const size_t p12 = (m + 11) / 12 * 12, p8 = (m + 7) / 8 * 8;
    return (double)p8 < 0.9 * (double)p12 ? 8 : 12;
}

/* The long-K path (gemm_cpu_kred in gemm_cpu.cl): C = alpha * A . B^T + beta * C
 * with A[m][k], B[n][k] row-major, m, n <= GC_KRED_MAX_DIM. The parts' sums
 * (parts x m x n floats) live in the A pack buffer, sized at most
 * budget_floats (what the packed path would use) unless one part needs more. */
static unet_status gemm_kred(unet_context *ctx, gemm_cpu_state *st, size_t m, size_t n, size_t k, float alpha,
                             cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb, float beta,
                             cl_mem c, size_t c_off, size_t ldc, size_t budget_floats)
{
    size_t parts = (k + GC_KRED_PART - 1) / GC_KRED_PART;
    const size_t fit = budget_floats / (m * n);
    if (parts > fit) parts = fit ? fit : 1;
    size_t kp = (k + parts - 1) / parts;
    kp = (kp + 15) / 16 * 16; /* whole float16 steps except in the last part */
    parts = (k + kp - 1) / kp;
    UNET_TRY(grow(ctx, &st->ap, &st->ap_bytes, parts * m * n * sizeof(float), "A"));
    cl_kernel kr, ks;
    UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", "gemm_cpu_kred", &kr));
    UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", "gemm_cpu_kred_sum", &ks));
    const size_t nti = (m + 3) / 4, ntj = (n + 3) / 4;
    const cl_ulong ua = a_off, ula = lda, ub = b_off, ulb = ldb, uc = c_off, ulc = ldc;
    const cl_int im = (cl_int)m, in = (cl_int)n, ik = (cl_int)k, ikp = (cl_int)kp, intj = (cl_int)ntj,
                 iparts = (cl_int)parts;
    UNET_CL_TRY(UNET_SET_ARGS(kr, unet_arg_mem(a), unet_arg_ulong(ua), unet_arg_ulong(ula), unet_arg_mem(b),
                              unet_arg_ulong(ub), unet_arg_ulong(ulb), unet_arg_int(im), unet_arg_int(in),
                              unet_arg_int(ik), unet_arg_int(ikp), unet_arg_int(intj), unet_arg_mem(st->ap)),
                "unet_gemm: arguments of gemm_cpu_kred");
    const size_t g[2] = {nti * ntj, parts}, l[2] = {1, 1};
    UNET_TRY(unet_enqueue(ctx, kr, "gemm_cpu_kred", 2, g, l));
    UNET_CL_TRY(UNET_SET_ARGS(ks, unet_arg_mem(st->ap), unet_arg_int(iparts), unet_arg_int(im), unet_arg_int(in),
                              unet_arg_mem(c), unet_arg_ulong(uc), unet_arg_ulong(ulc), unet_arg_float(alpha),
                              unet_arg_float(beta)),
                "unet_gemm: arguments of gemm_cpu_kred_sum");
    const size_t gs[1] = {m}, ls[1] = {1};
    return unet_enqueue(ctx, ks, "gemm_cpu_kred_sum", 1, gs, ls);
}

static unet_status gemm_cpu(unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                            cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                            float beta, cl_mem c, size_t c_off, size_t ldc)
{
    const size_t lim = (size_t)INT_MAX - 64;
    if (m > lim || n > lim || k > lim)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_gemm: %zux%zux%zu is too large (each size < 2^31)",
                           m, n, k);
    if (k > 0) {
        UNET_TRY(check_matrix("A", a, a_off, ta ? k : m, ta ? m : k, lda));
        UNET_TRY(check_matrix("B", b, b_off, tb ? n : k, tb ? k : n, ldb));
    }
    UNET_TRY(check_matrix("C", c, c_off, m, n, ldc));

    gemm_cpu_state *st = NULL;
    UNET_TRY(gemm_state(ctx, &st));
    const int mr = choose_mr(m);
    const size_t mtiles = (m + (size_t)mr - 1) / (size_t)mr, mpad = mtiles * (size_t)mr;
    const size_t ntiles_all = (n + GC_NR - 1) / GC_NR, npad = ntiles_all * GC_NR;

    size_t cap = GC_PACK_CAP;
    if (ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes < cap) cap = (size_t)ctx->info.max_alloc_bytes;
    const size_t cap_floats = cap / sizeof(float);

    /* Fused kernel when there are enough B panels (and K > 0); its B panel
     * lives in local memory, which bounds the K-chunk. */
    const size_t local_floats = ctx->info.local_mem_bytes / sizeof(float);
    const size_t lb_kc_max = local_floats / GC_NR / 2 / GC_KB * GC_KB;
    int lb = k > 0 && lb_kc_max >= GC_KB && (st->lb == 1 || (st->lb < 0 && ntiles_all >= GC_LB_MIN_PANELS));

    /* K-chunk: at most kc_max, chunks of equal length; smaller if the A
     * panels or one B panel would not fit the buffer cap. */
    size_t kc_max = st->kc_max;
    if (kc_max > cap_floats / mpad) kc_max = cap_floats / mpad;
    if (kc_max > cap_floats / GC_NR) kc_max = cap_floats / GC_NR;
    if (lb && kc_max > lb_kc_max) kc_max = lb_kc_max;
    if (kc_max == 0 && k > 0)
        return unet_seterr(UNET_ERR_DOES_NOT_FIT, "unet_gemm: M=%zu is too large for the device's %zu MiB buffers",
                           m, cap >> 20);
    size_t kc = k;
    if (k > kc_max) {
        const size_t nchunks = (k + kc_max - 1) / kc_max;
        kc = (k + nchunks - 1) / nchunks;
        kc = (kc + GC_KB - 1) / GC_KB * GC_KB; /* whole pack blocks */
        if (kc > kc_max) kc = kc_max;
    }
    /* N-chunk (separately packed B only): as many 32-column panels as fit. */
    size_t nch = npad;
    if (st->nchunk_max && nch > st->nchunk_max) nch = (st->nchunk_max + GC_NR - 1) / GC_NR * GC_NR;
    if (kc > 0 && nch > cap_floats / kc / GC_NR * GC_NR) nch = cap_floats / kc / GC_NR * GC_NR;

    /* Long K with a small C, both operands along k: K split in parts, their
     * sums kept in the A pack buffer, no larger than the packed path would
     * make it here (the planned peak stays true). */
    if (!ta && tb && k > 0 && m <= GC_KRED_MAX_DIM && n <= GC_KRED_MAX_DIM &&
        (ctx->knobs.gemm_kred == 1 || (ctx->knobs.gemm_kred < 0 && k >= GC_KRED_MIN_K && m * n <= GC_KRED_MAX_MN)))
        return gemm_kred(ctx, st, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc,
                         mpad * kc);

    UNET_TRY(grow(ctx, &st->ap, &st->ap_bytes, mpad * kc * sizeof(float), "A"));
    if (!lb) UNET_TRY(grow(ctx, &st->bp, &st->bp_bytes, nch * kc * sizeof(float), "B"));

    cl_kernel kpa, kpb = NULL, ktile;
    UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", mr == 12 ? "gemm_cpu_pack_a12" : "gemm_cpu_pack_a8", &kpa));
    if (lb) {
        UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", mr == 12 ? "gemm_cpu_tile12_lb" : "gemm_cpu_tile8_lb", &ktile));
    } else {
        UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", "gemm_cpu_pack_b", &kpb));
        UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", mr == 12 ? "gemm_cpu_tile12" : "gemm_cpu_tile8", &ktile));
    }

    const cl_ulong ua_off = a_off, ulda = lda, ub_off = b_off, uldb = ldb, uc_off = c_off, uldc = ldc;
    const cl_int ita = ta ? 1 : 0, itb = tb ? 1 : 0, im = (cl_int)m, in = (cl_int)n, impan = (cl_int)mtiles;
    size_t k0 = 0;
    do {
        const size_t kcc = (k - k0 < kc) ? k - k0 : kc;
        const cl_int ik0 = (cl_int)k0, ikc = (cl_int)kcc;
        const float beta_k = (k0 == 0) ? beta : 1.0f; /* later K-chunks accumulate */
        if (kcc > 0) {
            UNET_CL_TRY(UNET_SET_ARGS(kpa, unet_arg_mem(a), unet_arg_ulong(ua_off), unet_arg_ulong(ulda),
                                      unet_arg_int(ita), unet_arg_int(im), unet_arg_int(ik0), unet_arg_int(ikc),
                                      unet_arg_int(impan), unet_arg_mem(st->ap)),
                        "unet_gemm: arguments of gemm_cpu_pack_a");
            const size_t g[2] = {(kcc + GC_KBA - 1) / GC_KBA, mtiles}, l[2] = {1, 1};
            UNET_TRY(unet_enqueue(ctx, kpa, "gemm_cpu_pack_a", 2, g, l));
        }
        if (lb) {
            const cl_int intl = (cl_int)ntiles_all;
            UNET_CL_TRY(UNET_SET_ARGS(ktile, unet_arg_mem(st->ap), unet_arg_mem(b), unet_arg_ulong(ub_off),
                                      unet_arg_ulong(uldb), unet_arg_int(itb), unet_arg_int(ik0), unet_arg_int(ikc),
                                      unet_arg_mem(c), unet_arg_ulong(uc_off), unet_arg_ulong(uldc), unet_arg_int(im),
                                      unet_arg_int(in), unet_arg_int(impan), unet_arg_int(intl),
                                      unet_arg_float(alpha), unet_arg_float(beta_k),
                                      unet_arg_local(kcc * GC_NR * sizeof(float))),
                        "unet_gemm: arguments of gemm_cpu_tile_lb");
            const size_t g[1] = {ntiles_all}, l[1] = {1};
            UNET_TRY(unet_enqueue(ctx, ktile, "gemm_cpu_tile_lb", 1, g, l));
        } else {
            for (size_t col0 = 0; col0 < n; col0 += nch) {
                const size_t ncols = (n - col0 < nch) ? n - col0 : nch;
                const size_t ntiles = (ncols + GC_NR - 1) / GC_NR;
                const cl_int icol0 = (cl_int)col0, incols = (cl_int)ncols, intl = (cl_int)ntiles;
                if (kcc > 0) {
                    UNET_CL_TRY(UNET_SET_ARGS(kpb, unet_arg_mem(b), unet_arg_ulong(ub_off), unet_arg_ulong(uldb),
                                              unet_arg_int(itb), unet_arg_int(icol0), unet_arg_int(incols),
                                              unet_arg_int(ik0), unet_arg_int(ikc), unet_arg_int(intl),
                                              unet_arg_mem(st->bp)),
                                "unet_gemm: arguments of gemm_cpu_pack_b");
                    const size_t g[2] = {(kcc + GC_KBB - 1) / GC_KBB, ntiles}, l[2] = {1, 1};
                    UNET_TRY(unet_enqueue(ctx, kpb, "gemm_cpu_pack_b", 2, g, l));
                }
                UNET_CL_TRY(UNET_SET_ARGS(ktile, unet_arg_mem(st->ap), unet_arg_mem(st->bp), unet_arg_int(ikc),
                                          unet_arg_mem(c), unet_arg_ulong(uc_off), unet_arg_ulong(uldc),
                                          unet_arg_int(im), unet_arg_int(icol0), unet_arg_int(incols),
                                          unet_arg_int(impan), unet_arg_int(intl), unet_arg_float(alpha),
                                          unet_arg_float(beta_k)),
                            "unet_gemm: arguments of gemm_cpu_tile");
                const size_t g[2] = {mtiles, ntiles}, l[2] = {1, 1};
                UNET_TRY(unet_enqueue(ctx, ktile, "gemm_cpu_tile", 2, g, l));
            }
        }
        k0 += kcc;
    } while (k0 < k);
    return UNET_OK;
}

/* ---- entry ------------------------------------------------------------------ */

unet_status unet_gemm_path_of(const unet_context *ctx, unet_gemm_path *path)
{
    /* the knob UNETCL_GEMM (read at context creation, where a bad value is an error) */
    if (ctx->knobs.gemm == UNET_KNOB_GEMM_CPU) { *path = UNET_GEMM_CPU; return UNET_OK; }
    if (ctx->knobs.gemm == UNET_KNOB_GEMM_CLBLAST) { *path = UNET_GEMM_CLBLAST; return UNET_OK; }
    *path = ctx->info.type == UNET_DEVICE_CPU ? UNET_GEMM_CPU : UNET_GEMM_CLBLAST;
    return UNET_OK;
}

unet_status unet_gemm_with(unet_context *ctx, unet_gemm_path path, int ta, int tb, size_t m, size_t n,
                           size_t k, float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                           size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc)
{
    if (!ctx) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_gemm: NULL context");
    if (m == 0 || n == 0) return UNET_OK;
    if (path == UNET_GEMM_AUTO) UNET_TRY(unet_gemm_path_of(ctx, &path));
    /* K = 0 (C = beta * C) is an error in CLBlast: the CPU path's tile kernel
     * does it on any device. */
    if (path == UNET_GEMM_CPU || k == 0)
        return gemm_cpu(ctx, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
    return gemm_clblast(ctx, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc);
}

unet_status unet_gemm(unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                      cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                      float beta, cl_mem c, size_t c_off, size_t ldc)
{
    return unet_gemm_with(ctx, UNET_GEMM_AUTO, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta, c,
                          c_off, ldc);
}

unet_status unet_gemm_blas_temp_reserve(unet_context *ctx, size_t bytes)
{
    gemm_cpu_state *s = NULL;
    UNET_TRY(gemm_state(ctx, &s));
    if (bytes <= s->tmp_bytes) return UNET_OK;
    /* a GEMM still queued keeps the old buffer alive until it is done */
    if (s->tmp) clReleaseMemObject(s->tmp);
    s->tmp = NULL;
    s->tmp_bytes = 0;
    UNET_TRY(unet_buffer_alloc(ctx, &s->tmp, bytes, "CLBlast's temporary GEMM buffer"));
    s->tmp_bytes = bytes;
    return UNET_OK;
}

static cl_mem blas_temp_mem(const unet_context *ctx)
{
    const gemm_cpu_state *s = ctx->blas_state;
    return s ? s->tmp : NULL;
}

size_t unet_gemm_blas_temp_held(const unet_context *ctx)
{
    const gemm_cpu_state *s = ctx ? ctx->blas_state : NULL;
    return s ? s->tmp_bytes : 0;
}

/* ---- batched GEMM on operands packed by the caller (CPU devices) -------------- */

int unet_gemm_cpu_mr(size_t m) { return choose_mr(m); }

size_t unet_gemm_cpu_pack_bytes(const unet_context *ctx)
{
    const gemm_cpu_state *s = ctx->blas_state;
    return s ? s->ap_bytes + s->bp_bytes : 0;
}

size_t unet_gemm_cpu_pack_bound(const unet_context *ctx, size_t m_max, size_t k_max)
{
    size_t cap = GC_PACK_CAP;
    if (ctx->info.max_alloc_bytes && ctx->info.max_alloc_bytes < cap) cap = (size_t)ctx->info.max_alloc_bytes;
    size_t kc = ctx->knobs.gemm_kc > 0 ? (size_t)ctx->knobs.gemm_kc : GC_KC_DEFAULT;
    if (kc > k_max) kc = (k_max + GC_KB - 1) / GC_KB * GC_KB;
    const size_t mpad = (m_max + 11) / 12 * 12;
    size_t a = mpad * kc * sizeof(float);
    /* B is packed separately only with fewer than GC_LB_MIN_PANELS panels, or
     * for every size when the knob UNETCL_GEMM_LB=0 says so */
    size_t b = ctx->knobs.gemm_lb == 0 ? cap : (size_t)GC_LB_MIN_PANELS * GC_NR * kc * sizeof(float);
    if (ctx->knobs.gemm_nchunk > 0 && ctx->knobs.gemm_lb == 0) {
        const size_t nb = ((size_t)ctx->knobs.gemm_nchunk + GC_NR - 1) / GC_NR * GC_NR * kc * sizeof(float);
        if (nb < b) b = nb;
    }
    return (a < cap ? a : cap) + (b < cap ? b : cap);
}

unet_status unet_gemm_cpu_packed_batched(unet_context *ctx, int mr, size_t m, size_t n, size_t k, size_t batch,
                                         cl_mem ap, size_t a_off, size_t a_stride, cl_mem bp, size_t b_off,
                                         size_t b_stride, size_t b_pstride, size_t b_rstride, cl_mem c,
                                         size_t c_off, size_t c_stride, size_t ldc, size_t c_pstride, float beta)
{
    if (mr != 8 && mr != 12)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_gemm_cpu_packed_batched: row panel of %d (use 8 or 12)",
                           mr);
    if (m == 0 || n == 0 || batch == 0) return UNET_OK;
    const size_t lim = (size_t)INT_MAX - 64;
    if (m > lim || n > lim || k > lim || batch > lim || c_pstride < GC_NR || b_rstride < GC_NR || b_rstride > lim)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                           "unet_gemm_cpu_packed_batched: bad sizes m=%zu n=%zu k=%zu batch=%zu ldc=%zu", m, n, k,
                           batch, ldc);
    const size_t mtiles = (m + (size_t)mr - 1) / (size_t)mr, ntiles = (n + GC_NR - 1) / GC_NR;
    /* the last element each operand reaches must lie in its buffer */
    UNET_TRY(check_matrix("A (packed)", ap, a_off + (batch - 1) * a_stride, 1, mtiles * (size_t)mr * k + 1,
                          mtiles * (size_t)mr * k + 1));
    {
        const size_t extent = (ntiles - 1) * b_pstride + (k ? (k - 1) * b_rstride : 0) + GC_NR + 1;
        UNET_TRY(check_matrix("B (packed)", bp, b_off + (batch - 1) * b_stride, 1, extent, extent));
    }
    {
        const size_t last_cols = n - (ntiles - 1) * GC_NR; /* valid columns of the last panel */
        const size_t extent = (batch - 1) * c_stride + (m - 1) * ldc + (ntiles - 1) * c_pstride + last_cols;
        UNET_TRY(check_matrix("C", c, c_off, 1, extent, extent));
    }
    cl_kernel kt;
    UNET_TRY(unet_kernel_get(ctx, "gemm_cpu", mr == 12 ? "gemm_cpu_tile12_batched" : "gemm_cpu_tile8_batched", &kt));
    const cl_ulong uao = a_off, uas = a_stride, ubo = b_off, ubs = b_stride, ubp = b_pstride, uco = c_off,
                   ucs = c_stride, uldc = ldc, ucp = c_pstride;
    const cl_int ibr = (cl_int)b_rstride;
    const cl_int ikc = (cl_int)k, im = (cl_int)m, in = (cl_int)n, imt = (cl_int)mtiles, int_ = (cl_int)ntiles,
                 ib = (cl_int)batch;
    UNET_CL_TRY(UNET_SET_ARGS(kt, unet_arg_mem(ap), unet_arg_ulong(uao), unet_arg_ulong(uas), unet_arg_mem(bp),
                              unet_arg_ulong(ubo), unet_arg_ulong(ubs), unet_arg_ulong(ubp), unet_arg_int(ibr),
                              unet_arg_int(ikc), unet_arg_mem(c), unet_arg_ulong(uco), unet_arg_ulong(ucs),
                              unet_arg_ulong(uldc), unet_arg_int(im), unet_arg_int(in), unet_arg_int(imt),
                              unet_arg_int(int_), unet_arg_int(ib), unet_arg_ulong(ucp), unet_arg_float(beta)),
                "unet_gemm_cpu_packed_batched: arguments of gemm_cpu_tile_batched");
    const size_t g[3] = {mtiles, ntiles, batch}, l[3] = {1, 1, 1};
    return unet_enqueue(ctx, kt, "gemm_cpu_tile_batched", 3, g, l);
}
