/* Internal: CLBlast parameters tuned for one device, persisted in the cache
 * folder and applied with CLBlastOverrideParameters.
 *
 * File: <cache_dir>/clblast-<hash of platform, vendor and device name>.json,
 * written by unet_tune_clblast (include/unetcl/tune.h, src/host/ocl/tune.c;
 * `unetcl tune`), which runs CLBlast's C++ tuner in the separate executable
 * unetcl-tune-helper. It records the device name,
 * driver version and CLBlast version it was tuned with; a file whose driver
 * or CLBlast version differs is stale. Its "kernels" object holds complete
 * single-precision parameter sets for "Xgemm", "XgemmDirect" and
 * "GemmRoutine" (XGEMM_MIN_INDIRECT_SIZE: unet_gemm calls CLBlast's direct
 * kernel when m*n*k < size^3); "defaults" holds CLBlast's own values for the
 * same kernels (for side-by-side benchmarks); "measured" the timings
 * `unetcl tune` took its decision from.
 *
 * unet_gemm's CLBlast path loads and applies the file once per context, at
 * its first call. A missing, corrupt or stale file is ignored (logged with
 * the context's verbose option); $UNETCL_CLBLAST_TUNING=0 or the context
 * option disable_clblast_tuning turn this off. CLBlast keeps overrides per
 * process and device: they also hold for other contexts on the same device. */
#ifndef UNETCL_CLBLAST_TUNE_H
#define UNETCL_CLBLAST_TUNE_H

#include "ocl.h"

#define UNET_CLBLAST_MAX_PARAMS 24
#define UNET_CLBLAST_MAX_KERNELS 3
#define UNET_CLBLAST_MAX_MEASURED 24
#define UNET_CLBLAST_FORMAT "unetcl-clblast-tuning-1"

typedef struct unet_clblast_params {
    char kernel[32]; /* "Xgemm", "XgemmDirect" or "GemmRoutine" */
    int n;
    char names[UNET_CLBLAST_MAX_PARAMS][32];
    size_t values[UNET_CLBLAST_MAX_PARAMS];
} unet_clblast_params;

typedef struct unet_clblast_measure {
    char shape[64]; /* "MxNxK[tA][tB]" */
    double default_ms, tuned_ms;
} unet_clblast_measure;

typedef struct unet_clblast_tuning {
    char device[256], vendor[128], platform[128], driver[128], clblast[32];
    char method[256]; /* how it was tuned (free text) */
    int nkernels, ndefaults, nmeasured;
    unet_clblast_params kernels[UNET_CLBLAST_MAX_KERNELS];
    unet_clblast_params defaults[UNET_CLBLAST_MAX_KERNELS];
    unet_clblast_measure measured[UNET_CLBLAST_MAX_MEASURED];
} unet_clblast_tuning;

typedef enum unet_tuning_state {
    UNET_TUNING_NONE = 0, /* no file */
    UNET_TUNING_OK,       /* file matches the device, driver and CLBlast */
    UNET_TUNING_STALE,    /* other driver or CLBlast version */
    UNET_TUNING_CORRUPT   /* unreadable, not JSON, wrong format or values */
} unet_tuning_state;

/* The CLBlast version unetcl was built with ("1.5.3", or "unknown"). */
const char *unet_clblast_version(void);

/* The tuning file of a device in cache_dir. */
void unet_clblast_tuning_path(const char *cache_dir, const unet_device_info *dev, char *out, size_t n);

/* Fills the identity fields of t (device, vendor, platform, driver, CLBlast). */
void unet_clblast_tuning_init(unet_clblast_tuning *t, const unet_device_info *dev);

/* Reads and checks a tuning file against dev (NULL: no device check).
 * Returns the state; *why (may be NULL) gets a one-line reason when it is
 * not UNET_TUNING_OK. Never fails otherwise. */
unet_tuning_state unet_clblast_tuning_read(const char *path, const unet_device_info *dev, unet_clblast_tuning *t,
                                           char *why, size_t why_len);

/* Writes t atomically (folder created). UNET_ERR_IO on failure. */
unet_status unet_clblast_tuning_write(const char *path, const unet_clblast_tuning *t);

/* Applies parameter sets with CLBlastOverrideParameters (single precision)
 * to the context's device. UNET_ERR_BLAS names the kernel when CLBlast
 * refuses a set (missing or unknown parameter). */
unet_status unet_clblast_apply(unet_context *ctx, const unet_clblast_params *p, int n);

/* Sets one parameter in a set (adds it if absent); 0 if the set is full. */
int unet_clblast_params_set(unet_clblast_params *p, const char *name, size_t value);
/* Value of a parameter, or dflt. */
size_t unet_clblast_params_get(const unet_clblast_params *p, const char *name, size_t dflt);

/* The lines unet_device_tuning_describe gives (what `unetcl devices`
 * prints), for the files in cache_dir. */
void unet_tuning_summary(const char *cache_dir, const unet_device_info *dev, char *out, size_t n);

/* Called by unet_gemm's CLBlast path: loads and applies the context's tuning
 * file once. Never fails (problems are logged when ctx->verbose). */
void unet_clblast_tuning_autoload(unet_context *ctx);

#endif
