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
 * one work-item per work-group and no local memory: the shape PoCL compiles to
 * straight AVX-512 code. Global id 0 walks M tiles, id 1 N tiles, so the work-
 * groups that run back to back share one B panel (kept in L2). */

#define NR 32

/* ---- packing ------------------------------------------------------------ */

/* gid0 = kk in [0,kc), gid1 = panel p. */
#define PACK_A(MR)                                                                            \
    __kernel void gemm_cpu_pack_a##MR(__global const float *a, const ulong a_off,             \
                                      const ulong lda, const int trans, const int m,          \
                                      const int k0, const int kc, const int npanels,          \
                                      __global float *ap)                                     \
    {                                                                                         \
        const int kk = get_global_id(0);                                                      \
        const int p = get_global_id(1);                                                       \
        if (kk >= kc || p >= npanels) return;                                                 \
        __global float *dst = ap + ((size_t)p * kc + kk) * MR;                                \
        const int i0 = p * MR;                                                                \
        const size_t kcol = (size_t)(k0 + kk);                                                \
        for (int r = 0; r < MR; r++) {                                                        \
            const int i = i0 + r;                                                             \
            float v = 0.0f;                                                                   \
            if (i < m) v = trans ? a[a_off + kcol * lda + i] : a[a_off + (size_t)i * lda + kcol]; \
            dst[r] = v;                                                                       \
        }                                                                                     \
    }

PACK_A(12)
PACK_A(8)

/* gid0 = kk in [0,kc), gid1 = panel q; ncols = width of the chunk starting at
 * column col0 of op(B). */
__kernel void gemm_cpu_pack_b(__global const float *b, const ulong b_off, const ulong ldb,
                              const int trans, const int col0, const int ncols, const int k0,
                              const int kc, const int npanels, __global float *bp)
{
    const int kk = get_global_id(0);
    const int q = get_global_id(1);
    if (kk >= kc || q >= npanels) return;
    __global float *dst = bp + ((size_t)q * kc + kk) * NR;
    const int j0 = q * NR;
    const size_t krow = (size_t)(k0 + kk);
    if (!trans) {
        __global const float *src = b + b_off + krow * ldb + (size_t)(col0 + j0);
        if (j0 + NR <= ncols) {
            vstore16(vload16(0, src), 0, dst);
            vstore16(vload16(1, src), 1, dst);
        } else {
            for (int j = 0; j < NR; j++) dst[j] = (j0 + j < ncols) ? src[j] : 0.0f;
        }
    } else {
        __global const float *src = b + b_off + (size_t)(col0 + j0) * ldb + krow;
        for (int j = 0; j < NR; j++) dst[j] = (j0 + j < ncols) ? src[(size_t)j * ldb] : 0.0f;
    }
}

/* ---- micro-kernel ------------------------------------------------------- */

/* Writes one row of a tile: alpha * acc (+ beta * C unless beta == 0, in which
 * case C is never read). Only the first ncols (<= 32) columns are written. */
inline void gemm_cpu_store_row(__global float *c, const float16 v0, const float16 v1,
                               const int ncols, const float alpha, const float beta)
{
    if (ncols >= NR) {
        if (beta == 0.0f) {
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

/* gid0 = M tile, gid1 = N tile within the chunk starting at column col0 of C
 * (ncols_chunk wide). kc may be 0 (C = beta * C). */
#define MICRO_HEAD(MR)                                                                         \
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
        const int ncols = min(NR, ncols_chunk - nt * NR);

#define MICRO_TAIL(MR)                                                                         \
        __global float *crow = c + c_off + (size_t)(mt * MR) * ldc + (size_t)(col0 + nt * NR); \
        (void)crow;

MICRO_HEAD(12)
    ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3) ACC_DECL(4) ACC_DECL(5)
    ACC_DECL(6) ACC_DECL(7) ACC_DECL(8) ACC_DECL(9) ACC_DECL(10) ACC_DECL(11)
    for (int p = 0; p < kc; p++) {
        const float16 b0 = vload16(0, pb);
        const float16 b1 = vload16(1, pb);
        ACC_FMA(0) ACC_FMA(1) ACC_FMA(2) ACC_FMA(3) ACC_FMA(4) ACC_FMA(5)
        ACC_FMA(6) ACC_FMA(7) ACC_FMA(8) ACC_FMA(9) ACC_FMA(10) ACC_FMA(11)
        pa += 12;
        pb += NR;
    }
    MICRO_TAIL(12)
    ACC_STORE(0) ACC_STORE(1) ACC_STORE(2) ACC_STORE(3) ACC_STORE(4) ACC_STORE(5)
    ACC_STORE(6) ACC_STORE(7) ACC_STORE(8) ACC_STORE(9) ACC_STORE(10) ACC_STORE(11)
}

MICRO_HEAD(8)
    ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3)
    ACC_DECL(4) ACC_DECL(5) ACC_DECL(6) ACC_DECL(7)
    for (int p = 0; p < kc; p++) {
        const float16 b0 = vload16(0, pb);
        const float16 b1 = vload16(1, pb);
        ACC_FMA(0) ACC_FMA(1) ACC_FMA(2) ACC_FMA(3)
        ACC_FMA(4) ACC_FMA(5) ACC_FMA(6) ACC_FMA(7)
        pa += 8;
        pb += NR;
    }
    MICRO_TAIL(8)
    ACC_STORE(0) ACC_STORE(1) ACC_STORE(2) ACC_STORE(3)
    ACC_STORE(4) ACC_STORE(5) ACC_STORE(6) ACC_STORE(7)
}
