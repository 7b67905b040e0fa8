#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for two paths of PATH_MAX (4096) and the text around them; a longer
 * message ends in "[...]" so that the cut shows (issue 12, item 8: messages
 * were cut silently at 2,048 bytes). */
#define UNET_ERRMSG_MAX 16384
static _Thread_local char g_errmsg[UNET_ERRMSG_MAX];

const char *unet_status_string(unet_status st)
{
    switch (st) {
    case UNET_OK: return "success";
    case UNET_ERR_INVALID_ARGUMENT: return "invalid argument";
    case UNET_ERR_NO_DEVICE: return "no OpenCL device";
    case UNET_ERR_OPENCL: return "OpenCL error";
    case UNET_ERR_BUILD: return "OpenCL program build failed";
    case UNET_ERR_BLAS: return "CLBlast error";
    case UNET_ERR_OUT_OF_MEMORY: return "out of memory";
    case UNET_ERR_DOES_NOT_FIT: return "does not fit in device memory";
    case UNET_ERR_IO: return "I/O error";
    case UNET_ERR_FORMAT: return "bad file format";
    case UNET_ERR_CONFIG: return "configuration error";
    case UNET_ERR_DATA: return "data error";
    case UNET_ERR_INTERRUPTED: return "interrupted";
    case UNET_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *unet_last_error(void) { return g_errmsg; }
void unet_clear_error(void) { g_errmsg[0] = '\0'; }
const char *unet_version(void) { return UNETCL_VERSION_STRING; }

/* Stores msg (len bytes, truncated: more followed) as the message: control
 * bytes (which a file's contents quoted in a message may hold: escape
 * sequences, newlines) become \xNN, so the message is one line that cannot
 * drive the terminal. */
static void store_ml(const char *msg, size_t len, int truncated, int multiline)
{
    static const char hex[] = "0123456789abcdef";
    const size_t room = UNET_ERRMSG_MAX - 6; /* "[...]" and the NUL */
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if ((ch < 0x20 || ch == 0x7f) && !(multiline && (ch == '\n' || ch == '\t'))) {
            if (o + 4 > room) {
                truncated = 1;
                break;
            }
            g_errmsg[o++] = '\\';
            g_errmsg[o++] = 'x';
            g_errmsg[o++] = hex[ch >> 4];
            g_errmsg[o++] = hex[ch & 15];
        } else {
            if (o + 1 > room) {
                truncated = 1;
                break;
            }
            g_errmsg[o++] = (char)ch;
        }
    }
    if (truncated) {
        memcpy(g_errmsg + o, "[...]", 5);
        o += 5;
    }
    g_errmsg[o] = '\0';
}

static void store(const char *msg, size_t len, int truncated) { store_ml(msg, len, truncated, 0); }

/* Formats into msg (UNET_ERRMSG_MAX bytes, a copy: an argument may be
 * unet_last_error() itself, and vsnprintf's output must not overlap its
 * input); 1 if the text was cut. */
static int vformat(char *msg, const char *fmt, va_list ap)
{
    int n = vsnprintf(msg, UNET_ERRMSG_MAX, fmt, ap);
    return n >= UNET_ERRMSG_MAX;
}

unet_status unet_seterr(unet_status st, const char *fmt, ...)
{
    char msg[UNET_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int truncated = vformat(msg, fmt, ap);
    va_end(ap);
    store(msg, strlen(msg), truncated);
    return st;
}

unet_status unet_seterr_multiline(unet_status st, const char *fmt, ...)
{
    char msg[UNET_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int truncated = vformat(msg, fmt, ap);
    va_end(ap);
    store_ml(msg, strlen(msg), truncated, 1);
    return st;
}

unet_status unet_errctx(unet_status st, const char *fmt, ...)
{
    char msg[UNET_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int truncated = vformat(msg, fmt, ap);
    va_end(ap);
    size_t pl = strlen(msg);
    const char *rest = g_errmsg[0] ? g_errmsg : unet_status_string(st);
    size_t rl = strlen(rest);
    /* a build log (unet_seterr_multiline) keeps its lines under the context */
    int multiline = strchr(rest, '\n') != NULL;
    if (truncated || pl + 3 >= sizeof msg) {
        truncated = 1; /* no room for the old message */
    } else if (pl + 2 + rl < sizeof msg) {
        memcpy(msg + pl, ": ", 2);
        memcpy(msg + pl + 2, rest, rl + 1);
        pl += 2 + rl;
    } else {
        /* keep the start of the old message; the cut shows */
        size_t keep = sizeof msg - 1 - pl - 2;
        memcpy(msg + pl, ": ", 2);
        memcpy(msg + pl + 2, rest, keep);
        pl += 2 + keep;
        msg[pl] = '\0';
        truncated = 1;
    }
    store_ml(msg, pl, truncated, multiline);
    return st;
}
