/*
 * unetcl — the U-Net of Ronneberger, Fischer & Brox (2015) on any OpenCL device.
 *
 * Public C API. Every function returns a unet_status; on failure
 * unet_last_error() holds a message that says what failed, where, and what to
 * do about it. The library never calls exit() or abort().
 */
#ifndef UNETCL_UNETCL_H
#define UNETCL_UNETCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UNETCL_VERSION_MAJOR 0
#define UNETCL_VERSION_MINOR 1
#define UNETCL_VERSION_PATCH 0

typedef enum unet_status {
    UNET_OK = 0,
    UNET_ERR_INVALID_ARGUMENT, /* a parameter is out of range or inconsistent */
    UNET_ERR_NO_DEVICE,        /* no OpenCL platform/device, or none matches */
    UNET_ERR_OPENCL,           /* an OpenCL call failed */
    UNET_ERR_BUILD,            /* an OpenCL program failed to compile */
    UNET_ERR_BLAS,             /* a CLBlast call failed */
    UNET_ERR_OUT_OF_MEMORY,    /* host or device allocation failed */
    UNET_ERR_DOES_NOT_FIT,     /* the plan needs more device memory than there is */
    UNET_ERR_IO,               /* a file could not be read or written */
    UNET_ERR_FORMAT,           /* a file is corrupt, truncated or of another kind */
    UNET_ERR_CONFIG,           /* a configuration key or value is wrong */
    UNET_ERR_DATA,             /* training/inference data is inconsistent */
    UNET_ERR_INTERRUPTED,      /* stopped on request (Ctrl-C) */
    UNET_ERR_INTERNAL          /* a bug: please report it */
} unet_status;

/* A short fixed description of a status code ("OpenCL error", ...). */
const char *unet_status_string(unet_status status);

/* The message of the last failure in this thread ("" if none). */
const char *unet_last_error(void);

/* Clears the last-error message of this thread. */
void unet_clear_error(void);

/* Library version as "MAJOR.MINOR.PATCH". */
const char *unet_version(void);

/* ---- devices ------------------------------------------------------------ */

typedef enum unet_device_type {
    UNET_DEVICE_CPU = 1,
    UNET_DEVICE_GPU = 2,
    UNET_DEVICE_ACCELERATOR = 4,
    UNET_DEVICE_OTHER = 8
} unet_device_type;

typedef struct unet_device_info {
    int index;                 /* global index over all platforms */
    int platform_index;
    char platform_name[128];
    char name[256];
    char vendor[128];
    char driver_version[128];
    char device_version[128];  /* "OpenCL 3.0 PoCL ..." */
    char opencl_c_version[128];
    unet_device_type type;
    unsigned compute_units;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    uint64_t local_mem_bytes;
    size_t max_work_group_size;
} unet_device_info;

/* Lists every OpenCL device of every platform. *count receives the number;
 * *infos (malloc'ed, free with free()) the descriptions. Zero devices is not
 * an error here: *count is 0. */
unet_status unet_list_devices(unet_device_info **infos, int *count);

/* ---- context ------------------------------------------------------------ */

typedef struct unet_context unet_context;

typedef struct unet_context_options {
    /* Device selector: NULL/""/"auto" = first GPU, else first CPU;
     * "gpu", "cpu", "accelerator" = first of that type; "N" = device index N
     * from unet_list_devices; "gpu:N"/"cpu:N" = N-th of that type;
     * anything else = first device whose name, vendor or platform contains
     * the string (case-insensitive). */
    const char *device;
    /* Program-binary cache folder. NULL = $UNETCL_CACHE_DIR, else
     * $XDG_CACHE_HOME/unetcl, else ~/.cache/unetcl. */
    const char *cache_dir;
    int disable_cache;   /* 1: always compile (also $UNETCL_NO_CACHE=1) */
    int enable_profiling; /* 1: command queue with profiling events */
    int verbose;          /* 1: log program builds and cache hits to stderr */
} unet_context_options;

void unet_context_options_default(unet_context_options *opts);

unet_status unet_context_create(const unet_context_options *opts, unet_context **ctx);
void unet_context_destroy(unet_context *ctx);
unet_status unet_context_device_info(const unet_context *ctx, unet_device_info *info);

/* Statistics of the program cache since the context was created. */
typedef struct unet_cache_stats {
    int programs_compiled;
    int programs_loaded;   /* from the on-disk binary cache */
    double build_seconds;  /* wall time spent in compile/load */
} unet_cache_stats;
void unet_context_cache_stats(const unet_context *ctx, unet_cache_stats *stats);

/* Compiles (or loads from cache) every embedded kernel program now. */
unet_status unet_context_build_all(unet_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* UNETCL_UNETCL_H */
