/* Internal error reporting: a thread-local last-error message. */
#ifndef UNETCL_ERROR_H
#define UNETCL_ERROR_H

#include "unetcl/unetcl.h"

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

#define UNET_TRY(expr)                                                            \
    do {                                                                          \
        unet_status unet_s_ = (expr);                                             \
        if (unet_s_ != UNET_OK) return unet_s_;                                   \
    } while (0)

#endif
