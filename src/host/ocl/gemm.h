/* Internal: the one GEMM entry point of the library (row-major, float32).
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, offsets and leading
 * dimensions in elements. beta == 0 never reads C (C may hold NaN); K == 0
 * gives C = beta * C on both paths.
 *
 * Two paths: a register-tiled OpenCL GEMM for CPU devices (src/cl/gemm_cpu.cl,
 * selected on CPU devices such as PoCL) and CLBlast (everything else). The
 * environment variable UNETCL_GEMM=clblast|cpu overrides the choice. The CPU
 * path keeps its pack buffers in ctx->blas_state (allocated once per context,
 * grown as needed, each at most min(256 MiB, device max alloc)). */
#ifndef UNETCL_GEMM_H
#define UNETCL_GEMM_H

#include "ocl.h"

typedef enum unet_gemm_path {
    UNET_GEMM_AUTO = 0, /* $UNETCL_GEMM, else CPU GEMM on CPU devices, else CLBlast */
    UNET_GEMM_CLBLAST,
    UNET_GEMM_CPU
} unet_gemm_path;

unet_status unet_gemm(unet_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* Same with an explicit path (tests and benchmarks). */
unet_status unet_gemm_with(unet_context *ctx, unet_gemm_path path, int trans_a, int trans_b, size_t m,
                           size_t n, size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                           cl_mem b, size_t b_off, size_t ldb, float beta, cl_mem c, size_t c_off,
                           size_t ldc);

/* The path unet_gemm takes on this context: the knob UNETCL_GEMM (read at
 * context creation, where a value other than "clblast" or "cpu" is an error),
 * else the CPU GEMM on CPU devices and CLBlast elsewhere. */
unet_status unet_gemm_path_of(const unet_context *ctx, unet_gemm_path *path);

/* CPU GEMM building blocks for callers that write the packed layouts of
 * src/cl/gemm_cpu.cl themselves (the Winograd convolution):
 * unet_gemm_cpu_mr gives the row-panel height (8 or 12) used for M rows;
 * unet_gemm_cpu_packed_batched computes, for e < batch,
 *   C_e[M][N] (ld ldc, at c_off + e*c_stride, 32-column panel q at column
 *   offset q*c_pstride: 32 for a plain row-major C) = A_e . B_e + beta C_e
 * with A_e packed as M/mr row panels (ap + a_off + e*a_stride, layout
 * [panel][k][mr], rows past M zero) and B_e as 32-column panels (bp + b_off +
 * e*b_stride; panel q at + q*b_pstride, its rows of 32 floats b_rstride
 * apart: k*32 and 32 for the plain layout [panel][k][32]), one K-chunk of k.
 * C is not read when beta == 0. Works on any device but is meant for CPU
 * devices. */
int unet_gemm_cpu_mr(size_t m);
unet_status unet_gemm_cpu_packed_batched(unet_context *ctx, int mr, size_t m, size_t n, size_t k, size_t batch,
                                         cl_mem ap, size_t a_off, size_t a_stride, cl_mem bp, size_t b_off,
                                         size_t b_stride, size_t b_pstride, size_t b_rstride, cl_mem c,
                                         size_t c_off, size_t c_stride, size_t ldc, size_t c_pstride, float beta);

/* unet_gemm_cpu_pack_bytes is public: include/unetcl/core.h. */
size_t unet_gemm_cpu_pack_bound(const unet_context *ctx, size_t m_max, size_t k_max);

/* CLBlast's temporary buffer: the bytes one GEMM needs (0 on the CPU path or
 * when none is needed), the context's buffer made at least that large, and
 * its present size. */
size_t unet_gemm_blas_temp_bytes(const unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k,
                                 size_t a_off, size_t lda, size_t b_off, size_t ldb, size_t c_off, size_t ldc);
unet_status unet_gemm_blas_temp_reserve(unet_context *ctx, size_t bytes);
size_t unet_gemm_blas_temp_held(const unet_context *ctx);

#endif
