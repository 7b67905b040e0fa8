/* Internal error reporting: a thread-local last-error message. */
#ifndef UNETCL_ERROR_H
#define UNETCL_ERROR_H

#include "unetcl/unetcl.h"
#include <CL/cl.h>

#if defined(__GNUC__)
#define UNET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UNET_PRINTF(a, b)
#endif

/* Sets the last-error message (printf format) and returns st. Control bytes
 * (below 0x20 and 0x7f: escape sequences, newlines from a file's contents)
 * are stored as \xNN; a message longer than 16 KiB ends in "[...]". */
unet_status unet_seterr(unet_status st, const char *fmt, ...) UNET_PRINTF(2, 3);

/* The same for the one message that keeps its lines (an OpenCL compiler's
 * build log): newlines and tabs stay; other control bytes are escaped as
 * everywhere. */
unet_status unet_seterr_multiline(unet_status st, const char *fmt, ...) UNET_PRINTF(2, 3);

/* Prepends context to the current message ("loading x.png: <old message>")
 * and returns st unchanged. */
unet_status unet_errctx(unet_status st, const char *fmt, ...) UNET_PRINTF(2, 3);

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

#define UNET_TRY(expr)                                                            \
    do {                                                                          \
        unet_status unet_s_ = (expr);                                             \
        if (unet_s_ != UNET_OK) return unet_s_;                                   \
    } while (0)

#endif
