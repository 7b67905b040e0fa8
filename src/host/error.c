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
const char *unet_version(void) { return "0.1.0"; }

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

const char *unet_cl_errname(cl_int e)
{
    switch (e) {
#define E(x) case x: return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT) E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_HOST_PTR) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    E(CL_INVALID_IMAGE_SIZE) E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
    E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
    E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
    E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE)
    E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR (no OpenCL platform installed)";
    default: return "unknown OpenCL error";
    }
}

unet_status unet_cl_fail(cl_int err, const char *file, int line, const char *what)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES ||
        err == CL_OUT_OF_HOST_MEMORY || err == CL_INVALID_BUFFER_SIZE)
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY,
                           "%s failed with %s (%d) at %s:%d: the device ran out of memory; "
                           "use a smaller tile size or a device with more memory",
                           what, unet_cl_errname(err), (int)err, base, line);
    return unet_seterr(UNET_ERR_OPENCL, "%s failed with %s (%d) at %s:%d", what,
                       unet_cl_errname(err), (int)err, base, line);
}

unet_status unet_cl_sync_fail(cl_int err, const char *file, int line, const char *what)
{
    if (err != CL_OUT_OF_RESOURCES && err != CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        return unet_cl_fail(err, file, line, what);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    /* at a synchronisation point this is the failure of a kernel enqueued
     * before (an access out of bounds, a driver time-out), not an
     * allocation: "out of memory" sent users to smaller tiles in vain */
    return unet_seterr(UNET_ERR_OPENCL,
                       "%s failed with %s (%d) at %s:%d: a kernel enqueued before it failed on the device (an access "
                       "out of bounds, a driver time-out or exhausted device resources); run again with "
                       "UNETCL_KPROF=1, which waits after each kernel, to find which one",
                       what, unet_cl_errname(err), (int)err, base, line);
}
