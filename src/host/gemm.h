/* Internal: the one GEMM entry point of the library (row-major, float32).
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, offsets and leading
 * dimensions in elements. Today CLBlast; a device-specific GEMM can be
 * selected here per device without touching the layers. */
#ifndef UNETCL_GEMM_H
#define UNETCL_GEMM_H

#include "ocl.h"

unet_status unet_gemm(unet_context *ctx, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                      float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                      size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

#endif
