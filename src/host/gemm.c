#include "gemm.h"

#include <clblast_c.h>
#include <stdio.h>

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

unet_status unet_gemm(unet_context *ctx, int ta, int tb, size_t m, size_t n, size_t k, float alpha,
                      cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off, size_t ldb,
                      float beta, cl_mem c, size_t c_off, size_t ldc)
{
    if (m == 0 || n == 0) return UNET_OK;
    CLBlastStatusCode s = CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                       tb ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, a,
                                       a_off, lda, b, b_off, ldb, beta, c, c_off, ldc, &ctx->queue, NULL);
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
