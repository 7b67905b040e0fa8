/* Internal: OpenCL error codes turned into unetcl status codes and messages. */
#ifndef UNETCL_CL_ERROR_H
#define UNETCL_CL_ERROR_H

#include "error.h"
#include <CL/cl.h>

/* The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"). */
const char *unet_cl_errname(cl_int err);

/* Reports a failed OpenCL call: maps allocation failures to
 * UNET_ERR_OUT_OF_MEMORY and the rest to UNET_ERR_OPENCL. */
unet_status unet_cl_fail(cl_int err, const char *file, int line, const char *what);

/* Reports a failed synchronisation (clFinish, a blocking read or write):
 * CL_OUT_OF_RESOURCES there is an earlier kernel's failure, reported as
 * UNET_ERR_OPENCL with a way to find the kernel; the rest as unet_cl_fail. */
unet_status unet_cl_sync_fail(cl_int err, const char *file, int line, const char *what);

#define UNET_CL_SYNC_TRY(expr, what)                                              \
    do {                                                                          \
        cl_int unet_e_ = (expr);                                                  \
        if (unet_e_ != CL_SUCCESS) return unet_cl_sync_fail(unet_e_, __FILE__, __LINE__, (what)); \
    } while (0)

#define UNET_CL_TRY(expr, what)                                                   \
    do {                                                                          \
        cl_int unet_e_ = (expr);                                                  \
        if (unet_e_ != CL_SUCCESS) return unet_cl_fail(unet_e_, __FILE__, __LINE__, (what)); \
    } while (0)

#endif
