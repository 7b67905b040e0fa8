/* GEMM for CPU OpenCL devices (PoCL): packing kernels and a register-tiled
 * micro-kernel. C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major.
 *
 * Packed layouts (one K-chunk of kc columns of op(A) / rows of op(B)):
 *   A: row panels of MR (12 or 8) rows; panel p holds op(A)[p*MR + r, k0 + kk]
 *      at ap[(p*kc + kk)*MR + r], rows past M are zero.
 *   B: column panels of 32 columns; panel q holds op(B)[k0 + kk, col0 + q*32 + j]
 *      at bp[(q*kc + kk)*32 + j], columns past the chunk's width are zero.
 * The micro-kernel gives each work-item one MR x 32 tile of C held in float16
 * accumulators (24 zmm registers for MR=12), broadcast-A x vector-B with fma(),
 * one work-item per work-group: the shape PoCL compiles to straight AVX-512
 * code. Two drivers: gemm_cpu_tile* (both operands packed; global id 0 walks M
 * tiles, id 1 N tiles, so the work-groups that run back to back share one B
 * panel, kept in L2) and
 * gemm_cpu_tile*_lb (each work-item packs its own B panel into local memory,
 * used as a private scratch without barriers, then walks all M tiles: B is
 * read once and no packed copy of it goes through memory). */

#define NR 32

/* ---- packing ------------------------------------------------------------ */

/* Each work-item packs a block of KB consecutive k of one panel: reads go
 * along the contiguous dimension of the source (vload16 where whole), the
 * transposition happens in registers (unet_transpose16, whole 16 x 16 blocks)
 * or in a private block (tails), writes are contiguous runs. The register
 * transposes (bench_gemm, three interleaved rounds): 128x256x38416tB 33-38 ->
 * 19-22 ms, 256x512x10000tB 21-26 -> 16-22 ms, 512x1024x2704tB 18-24 -> 14-20 ms. */
#define KB 16

/* gid0 = block of KBA k (packed KB at a time), gid1 = panel p; work-groups of
 * one (many small work-items with PoCL's own vectorization were ~100x slower
 * on the long-K shapes of the weight gradient). */
#define KBA 256
#define PACK_A(MR)                                                                            \
    __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_pack_a##MR(         \
                                      __global const float *a, const ulong a_off,             \
                                      const ulong lda, const int trans, const int m,          \
                                      const int k0, const int kc, const int npanels,          \
                                      __global float *ap)                                     \
    {                                                                                         \
        const int kb0 = get_global_id(0) * KBA;                                               \
        const int p = get_global_id(1);                                                       \
        if (kb0 >= kc || p >= npanels) return;                                                \
        const int i0 = p * MR;                                                                \
        for (int kb = kb0; kb < kc && kb < kb0 + KBA; kb += KB) {                             \
        const int nk = min(KB, kc - kb);                                                      \
        __global float *dst = ap + ((size_t)p * kc + kb) * MR;                                \
        if (!trans && nk == KB) {                                                             \
            /* the MR rows' 16 k as 16 vectors, transposed in registers: x[kk] lane r */     \
            float16 x[16];                                                                    \
            _Pragma("unroll") for (int r = 0; r < 16; r++)                                    \
                x[r] = (r < MR && i0 + r < m)                                                 \
                           ? vload16(0, a + a_off + (size_t)(i0 + r) * lda + (size_t)(k0 + kb)) \
                           : (float16)(0.0f);                                                 \
            unet_transpose16(x);                                                              \
            _Pragma("unroll") for (int kk = 0; kk < KB; kk++) {                               \
                vstore8(x[kk].lo, 0, dst + kk * MR);                                          \
                if (MR == 12) vstore4(x[kk].s89ab, 0, dst + kk * MR + 8);                     \
            }                                                                                 \
        } else if (!trans) { /* the last block's tail of fewer than KB k */                   \
            for (int kk = 0; kk < nk; kk++)                                                   \
                for (int r = 0; r < MR; r++)                                                  \
                    dst[kk * MR + r] =                                                        \
                        i0 + r < m ? a[a_off + (size_t)(i0 + r) * lda + (size_t)(k0 + kb + kk)] : 0.0f; \
        } else {                                                                              \
            for (int kk = 0; kk < nk; kk++) {                                                 \
                __global const float *src = a + a_off + (size_t)(k0 + kb + kk) * lda + i0;    \
                for (int r = 0; r < MR; r++) dst[kk * MR + r] = (i0 + r < m) ? src[r] : 0.0f; \
            }                                                                                 \
        }                                                                                     \
        }                                                                                     \
    }

PACK_A(12)
PACK_A(8)

/* Packs rows [0, nk) of op(B) (b points at the chunk's row 0, column 0) of
 * the 32-column panel starting at column j0 (ncols valid columns) into DST
 * (row stride NR, in global or local memory). Transposed B is read one source
 * row (= one column of op(B)) at a time along k: long contiguous runs. */
#define PACK_B_PANEL(DST)                                                                   \
    if (!trans) {                                                                           \
        for (int kk = 0; kk < nk; kk++) {                                                   \
            __global const float *src = b + (size_t)kk * ldb + (size_t)j0;                  \
            float16 v0, v1;                                                                 \
            if (j0 + NR <= ncols) {                                                         \
                v0 = vload16(0, src);                                                       \
                v1 = vload16(1, src);                                                       \
            } else {                                                                        \
                float t[NR];                                                                \
                for (int j = 0; j < NR; j++) t[j] = (j0 + j < ncols) ? src[j] : 0.0f;       \
                v0 = vload16(0, t);                                                         \
                v1 = vload16(1, t);                                                         \
            }                                                                               \
            vstore16(v0, 0, DST + kk * NR);                                                 \
            vstore16(v1, 1, DST + kk * NR);                                                 \
        }                                                                                   \
    } else {                                                                                \
        /* 16 columns x 16 k at a time, transposed in registers (scalar stores   \
         * with a stride of NR were most of the packing's time) */                         \
        for (int jb = 0; jb < NR; jb += 16) {                                               \
            int kk = 0;                                                                     \
            for (; kk + 16 <= nk; kk += 16) {                                               \
                float16 x[16];                                                              \
                _Pragma("unroll") for (int l = 0; l < 16; l++)                              \
                    x[l] = j0 + jb + l < ncols ? vload16(0, b + (size_t)(j0 + jb + l) * ldb + kk) \
                                               : (float16)(0.0f);                          \
                unet_transpose16(x);                                                        \
                _Pragma("unroll") for (int l = 0; l < 16; l++) vstore16(x[l], 0, DST + (kk + l) * NR + jb); \
            }                                                                               \
            for (; kk < nk; kk++)                                                           \
                for (int l = 0; l < 16; l++)                                                \
                    DST[kk * NR + jb + l] = j0 + jb + l < ncols ? b[(size_t)(j0 + jb + l) * ldb + kk] : 0.0f; \
        }                                                                                   \
    }

/* k block of the separate B packing kernel */
#define KBB 256

/* gid0 = k block of KBB, gid1 = panel q; the chunk is the ncols columns of
 * op(B) starting at col0. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_pack_b(__global const float *bsrc, const ulong b_off, const ulong ldb,
                              const int trans, const int col0, const int ncols, const int k0,
                              const int kc, const int npanels, __global float *bp)
{
    const int kb = get_global_id(0) * KBB;
    const int q = get_global_id(1);
    if (kb >= kc || q >= npanels) return;
    const int nk = min(KBB, kc - kb), j0 = q * NR;
    /* the block's origin moved into the pointer: row k0 + kb, column col0 */
    const size_t kr = (size_t)(k0 + kb);
    __global const float *b = bsrc + b_off + (trans ? (size_t)col0 * ldb + kr : kr * ldb + (size_t)col0);
    __global float *dst = bp + ((size_t)q * kc + kb) * NR;
    PACK_B_PANEL(dst)
}

/* ---- micro-kernel ------------------------------------------------------- */

/* Streaming (non-temporal) stores of whole, 64-byte aligned rows of C where
 * Clang offers them (-DWINO_NO_NT, UNETCL_NO_NT=1: plain stores). */
#if defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store) && !defined(WINO_NO_NT)
#define GEMM_NT 1
#endif
#endif
/* x86 orders streaming stores only with a fence (see winograd.cl) */
#ifdef GEMM_NT
#if __has_builtin(__builtin_ia32_sfence)
#define GEMM_NT_FENCE() __builtin_ia32_sfence()
#endif
#endif
#ifndef GEMM_NT_FENCE
#define GEMM_NT_FENCE() mem_fence(CLK_GLOBAL_MEM_FENCE)
#endif

/* Writes one row of a tile: alpha * acc (+ beta * C unless beta == 0, in which
 * case C is never read). Only the first ncols (<= 32) columns are written. */
UNET_INLINE void gemm_cpu_store_row(__global float *c, const float16 v0, const float16 v1,
                               const int ncols, const float alpha, const float beta)
{
    if (ncols >= NR) {
        if (beta == 0.0f) {
#ifdef GEMM_NT
            if (((ulong)c & 63) == 0) {
                __builtin_nontemporal_store(alpha * v0, (__global float16 *)c);
                __builtin_nontemporal_store(alpha * v1, (__global float16 *)(c + 16));
                return;
            }
#endif
            vstore16(alpha * v0, 0, c);
            vstore16(alpha * v1, 1, c);
        } else {
            vstore16(alpha * v0 + beta * vload16(0, c), 0, c);
            vstore16(alpha * v1 + beta * vload16(1, c), 1, c);
        }
    } else {
        float t[NR];
        vstore16(v0, 0, t);
        vstore16(v1, 1, t);
        for (int j = 0; j < ncols; j++)
            c[j] = (beta == 0.0f) ? alpha * t[j] : alpha * t[j] + beta * c[j];
    }
}

#define ACC_DECL(r) float16 c##r##a = (float16)(0.0f), c##r##b = (float16)(0.0f);
#define ACC_FMA(r)                                    \
    {                                                 \
        const float16 a_ = (float16)(pa[r]);          \
        c##r##a = fma(a_, b0, c##r##a);               \
        c##r##b = fma(a_, b1, c##r##b);               \
    }
#define ACC_STORE(r) \
    if (r < mrows) gemm_cpu_store_row(crow + (size_t)(r) * ldc, c##r##a, c##r##b, ncols, alpha, beta);

#define ACC_DECL12 ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3) ACC_DECL(4) ACC_DECL(5) \
                   ACC_DECL(6) ACC_DECL(7) ACC_DECL(8) ACC_DECL(9) ACC_DECL(10) ACC_DECL(11)
#define ACC_FMA12 ACC_FMA(0) ACC_FMA(1) ACC_FMA(2) ACC_FMA(3) ACC_FMA(4) ACC_FMA(5) \
                  ACC_FMA(6) ACC_FMA(7) ACC_FMA(8) ACC_FMA(9) ACC_FMA(10) ACC_FMA(11)
#define ACC_STORE12 ACC_STORE(0) ACC_STORE(1) ACC_STORE(2) ACC_STORE(3) ACC_STORE(4) ACC_STORE(5) \
                    ACC_STORE(6) ACC_STORE(7) ACC_STORE(8) ACC_STORE(9) ACC_STORE(10) ACC_STORE(11)
#define ACC_DECL8 ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3) \
                  ACC_DECL(4) ACC_DECL(5) ACC_DECL(6) ACC_DECL(7)
#define ACC_FMA8 ACC_FMA(0) ACC_FMA(1) ACC_FMA(2) ACC_FMA(3) ACC_FMA(4) ACC_FMA(5) ACC_FMA(6) ACC_FMA(7)
#define ACC_STORE8 ACC_STORE(0) ACC_STORE(1) ACC_STORE(2) ACC_STORE(3) \
                   ACC_STORE(4) ACC_STORE(5) ACC_STORE(6) ACC_STORE(7)

/* Software prefetch (CPU devices, -DGEMM_PF=d from the knob UNETCL_PREFETCH,
 * default 32): the B rows and the A column d k steps ahead of the micro-
 * kernel. Its B loads from L2 stalled the FMAs; bench_unet --ab on the Xeon,
 * distance 32 (with the fused Winograd kernel's) against none: inference B/A
 * 0.904 (10 pairs), training step 0.918 (6 of 6 pairs faster); the batched
 * GEMM's kernel time 0.88 (UNETCL_KPROF); distances 8 and 16 gained less, 64
 * as much. UNET_PREFETCH (program.c's prologue) is empty without GEMM_PF;
 * prefetches never fault, so running past a panel's end is harmless. */
#define GEMM_PREFETCH(MR, BRS)                        \
    UNET_PREFETCH(pb + GEMM_PF * (BRS));              \
    UNET_PREFETCH(pb + GEMM_PF * (BRS) + 16);         \
    UNET_PREFETCH(pa + GEMM_PF * MR);
/* One MR x 32 tile: pa/pb point at the tile's packed panels (kc steps),
 * crow at C[row 0 of the tile, column 0 of the tile]. */
#define MICRO_TILE(MR) MICRO_TILE_S(MR, NR)
/* ... with the rows of the B panel BRS floats apart */
/* UNET_FTZ_DAZ: denormals as zero (program.c) */
#define MICRO_TILE_S(MR, BRS)                           \
    {                                                   \
        UNET_FTZ_DAZ();                                 \
        ACC_DECL##MR                                    \
        for (int p = 0; p < kc; p++) {                  \
            GEMM_PREFETCH(MR, BRS)                      \
            const float16 b0 = vload16(0, pb);          \
            const float16 b1 = vload16(1, pb);          \
            ACC_FMA##MR                                 \
            pa += MR;                                   \
            pb += (BRS);                                \
        }                                               \
        ACC_STORE##MR                                   \
        GEMM_NT_FENCE();                                \
    }

/* Both operands packed. gid0 = M tile, gid1 = N tile within the chunk of C
 * starting at column col0 (ncols_chunk wide). kc may be 0 (C = beta * C). */
#define TILE_KERNEL(MR)                                                                        \
    __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_tile##MR(             \
        __global const float *ap, __global const float *bp, const int kc,                      \
        __global float *c, const ulong c_off, const ulong ldc, const int m, const int col0,    \
        const int ncols_chunk, const int mtiles, const int ntiles, const float alpha,          \
        const float beta)                                                                      \
    {                                                                                          \
        const int mt = get_global_id(0);                                                       \
        const int nt = get_global_id(1);                                                       \
        if (mt >= mtiles || nt >= ntiles) return;                                              \
        __global const float *pa = ap + (size_t)mt * kc * MR;                                  \
        __global const float *pb = bp + (size_t)nt * kc * NR;                                  \
        const int mrows = min(MR, m - mt * MR);                                                \
        const int ncols = min(NR, ncols_chunk - nt * NR);                                      \
        __global float *crow = c + c_off + (size_t)(mt * MR) * ldc + (size_t)(col0 + nt * NR); \
        MICRO_TILE(MR)                                                                         \
    }

TILE_KERNEL(12)
TILE_KERNEL(8)

/* A packed, B read from its source: each work-item (gid0 = 32-column panel of
 * C) packs its B panel for k in [k0, k0+kc) into local memory (one work-item
 * per group: a private L1/L2-resident scratch, no barriers), then walks every
 * M tile with it. B is read from memory exactly once, never written back. */
#define TILE_KERNEL_LB(MR)                                                                     \
    __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_tile##MR##_lb(        \
        __global const float *ap, __global const float *bsrc, const ulong b_off, const ulong ldb,\
        const int trans_b, const int k0, const int kc, __global float *c, const ulong c_off,   \
        const ulong ldc, const int m, const int n, const int mtiles, const int ntiles,         \
        const float alpha, const float beta, __local float *bl)                                \
    {                                                                                          \
        const int nt = get_global_id(0);                                                       \
        if (nt >= ntiles) return;                                                              \
        {                                                                                      \
            __global const float *b = bsrc + b_off + (trans_b ? (size_t)k0 : (size_t)k0 * ldb);  \
            const int trans = trans_b, j0 = nt * NR, ncols = n, nk = kc;                       \
            PACK_B_PANEL(bl)                                                                   \
        }                                                                                      \
        const int ncols = min(NR, n - nt * NR);                                                \
        for (int mt = 0; mt < mtiles; mt++) {                                                  \
            __global const float *pa = ap + (size_t)mt * kc * MR;                              \
            __local const float *pb = bl;                                                      \
            const int mrows = min(MR, m - mt * MR);                                            \
            __global float *crow = c + c_off + (size_t)(mt * MR) * ldc + (size_t)(nt * NR);    \
            MICRO_TILE(MR)                                                                     \
        }                                                                                      \
    }

TILE_KERNEL_LB(12)
TILE_KERNEL_LB(8)

/* Batched, both operands already packed by the caller (one K-chunk: kc = K):
 * gid0 = M tile, gid1 = N panel, gid2 = batch index e. Batch e uses the packed
 * A at ap + a_off + e*a_stride, the packed B at bp + b_off + e*b_stride (its
 * 32-column panel nt at + nt*b_pstride, rows b_rstride floats apart: kc*32
 * and 32 for the plain packed layout) and
 * C at c + c_off + e*c_stride (leading dimension ldc, n valid columns; the
 * 32-column panel nt starts at column offset nt*c_pstride, 32 for plain C);
 * C = A.B + beta * C (C not read when beta == 0). Used by the Winograd
 * convolution, whose transforms write the packed layouts directly; beta = 1
 * accumulates the K-chunks of the Winograd weight gradient. */
#define TILE_KERNEL_BATCHED(MR)                                                                \
    __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_tile##MR##_batched(   \
        __global const float *ap, const ulong a_off, const ulong a_stride,                     \
        __global const float *bp, const ulong b_off, const ulong b_stride, const ulong b_pstride, \
        const int b_rstride, const int kc,                                                     \
        __global float *c, const ulong c_off, const ulong c_stride, const ulong ldc,           \
        const int m, const int n, const int mtiles, const int ntiles, const int batch,         \
        const ulong c_pstride, const float beta)                                               \
    {                                                                                          \
        const int mt = get_global_id(0);                                                       \
        const int nt = get_global_id(1);                                                       \
        const int e = get_global_id(2);                                                        \
        if (mt >= mtiles || nt >= ntiles || e >= batch) return;                                \
        __global const float *pa = ap + a_off + (size_t)e * a_stride + (size_t)mt * kc * MR;   \
        __global const float *pb = bp + b_off + (size_t)e * b_stride + (size_t)nt * b_pstride; \
        const int mrows = min(MR, m - mt * MR);                                                \
        const int ncols = min(NR, n - nt * NR);                                                \
        const float alpha = 1.0f;                                                              \
        __global float *crow = c + c_off + (size_t)e * c_stride + (size_t)(mt * MR) * ldc +    \
                               (size_t)nt * c_pstride;                                         \
        MICRO_TILE_S(MR, b_rstride)                                                            \
    }

TILE_KERNEL_BATCHED(12)
TILE_KERNEL_BATCHED(8)

/* ---- long K, small C ------------------------------------------------------ */

/* C = alpha * A[m][k] . B[n][k]^T + beta * C with both operands read along
 * their contiguous k and C small (the weight gradients of the 1x1 output layer
 * and of a first layer with one or three input channels: C of 2 x 64 or
 * 64 x 9 sums over 150-320 thousand pixels). The packed path gives them one
 * A pack, B pack and tile launch per K-chunk (several hundred launches) and
 * pads C to 12 x 32 tiles; here each work-item sums one 4 x 4 block of C over
 * one part of K in float16 accumulators (8 loads per 16 FMAs), and
 * gemm_cpu_kred_sum adds the parts in a fixed order.
 * gid0 = 4 x 4 block of C (ntj blocks per row of blocks), gid1 = part of kp
 * k; part[(p*m + i)*n + j] holds part p's sum. Rows and columns past m, n
 * read the last valid one and are not written. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_kred(
    __global const float *a, const ulong a_off, const ulong lda, __global const float *b, const ulong b_off,
    const ulong ldb, const int m, const int n, const int k, const int kp, const int ntj, __global float *part)
{
    UNET_FTZ_DAZ();
    const int t = get_global_id(0), p = get_global_id(1);
    const int i0 = (t / ntj) * 4, j0 = (t % ntj) * 4;
    const int k0 = p * kp, k1 = min(k, k0 + kp);
    if (i0 >= m || j0 >= n || k0 >= k) return;
    __global const float *ar[4], *br[4];
    for (int r = 0; r < 4; r++) {
        ar[r] = a + a_off + (size_t)min(i0 + r, m - 1) * lda;
        br[r] = b + b_off + (size_t)min(j0 + r, n - 1) * ldb;
    }
    float16 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) acc[r][q] = (float16)(0.0f);
    int kk = k0;
    for (; kk + 16 <= k1; kk += 16) {
        float16 av[4], bv[4];
        for (int r = 0; r < 4; r++) {
            av[r] = vload16(0, ar[r] + kk);
            bv[r] = vload16(0, br[r] + kk);
        }
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++) acc[r][q] = fma(av[r], bv[q], acc[r][q]);
    }
    float s[4][4];
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) s[r][q] = unet_hsum16(acc[r][q]);
    for (; kk < k1; kk++)
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++) s[r][q] = fma(ar[r][kk], br[q][kk], s[r][q]);
    for (int r = 0; r < 4 && i0 + r < m; r++)
        for (int q = 0; q < 4 && j0 + q < n; q++) part[((size_t)p * m + i0 + r) * n + j0 + q] = s[r][q];
}

/* gid0 = row i of C: c[i][j] = alpha * (sum over the parts, in order) + beta * c
 * (c not read when beta == 0). n <= 64. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_cpu_kred_sum(
    __global const float *part, const int parts, const int m, const int n, __global float *c, const ulong c_off,
    const ulong ldc, const float alpha, const float beta)
{
    UNET_FTZ_DAZ();
    const int i = get_global_id(0);
    if (i >= m || n > 64) return;
    float s[64];
    for (int j = 0; j < n; j++) s[j] = 0.0f;
    for (int p = 0; p < parts; p++) {
        __global const float *src = part + ((size_t)p * m + i) * n;
        for (int j = 0; j < n; j++) s[j] += src[j];
    }
    __global float *dst = c + c_off + (size_t)i * ldc;
    for (int j = 0; j < n; j++) dst[j] = beta == 0.0f ? alpha * s[j] : alpha * s[j] + beta * dst[j];
}
