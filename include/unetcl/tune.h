/*
 * unetcl — tuning a device, as `unetcl tune` does it.
 *
 * Three drivers, each of which times kernels on one device and writes that
 * device's file in the cache folder (the same folder and file names as the
 * library reads back at context creation or at the first GEMM):
 *
 *   unet_tune_clblast  CLBlast's GEMM kernels (Xgemm, XgemmDirect and the
 *                      direct/indirect switch point) -> clblast-<hash>.json
 *   unet_tune_conv     unetcl's GPU convolution kernels against the existing
 *                      path, per 3x3 layer of a U-Net -> convgpu-<hash>.json
 *   unet_tune_cpu      unetcl's CPU kernel parameters (CPU GEMM chunks,
 *                      Winograd width and chunk) -> cpu-tuning-<hash>.txt
 *
 * and unet_tune_describe, which says what is cached for a context's device
 * and what the context uses. Each driver creates the contexts it needs from
 * the options (device selector, cache folder) and destroys them.
 *
 * Nothing is printed: progress and the tables go to the options' progress
 * callback, one line at a time, with an estimate of the fraction done;
 * returning non-zero from it cancels the run (UNET_ERR_INTERRUPTED, and no
 * file nor temporary file is written). Results come back in a struct; the
 * files are written atomically. Bad options are UNET_ERR_INVALID_ARGUMENT
 * with a one-line message (unet_last_error()), before anything is timed.
 *
 * Child process: CLBlast's tuner is C++-only and, on CPU devices, can run a
 * configuration that writes out of bounds into host memory. unet_tune_clblast
 * therefore runs it in the separate executable unetcl-tune-helper, which it
 * starts with posix_spawn (no library code runs in the child), reads through
 * pipes, waits for by its process id only (waitpid(pid), never "any child")
 * and kills (SIGKILL) after timeout_s. It is the only function of the
 * library that starts a process; unet_tune_conv, unet_tune_cpu and the rest
 * of the library never do. A caller that must not have child processes (or
 * that sets SIGCHLD to SIG_IGN, which makes the exit status unreadable)
 * gives run_helper: the library then calls it instead of starting anything.
 */
#ifndef UNETCL_TUNE_H
#define UNETCL_TUNE_H

#include <stddef.h>

#include "unetcl/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a tuning run: one line of text (no newline) and the fraction
 * of the run done so far (0..1, an estimate). Return non-zero to cancel: the
 * driver stops at the next line (a running CLBlast tuner helper is waited
 * for, at most timeout_s) and returns UNET_ERR_INTERRUPTED. */
typedef int (*unet_tune_progress_fn)(const char *message, double fraction, void *user);

/* Runs the helper as unet_tune_clblast would: argv[0] is the helper's path,
 * argv is NULL-terminated. The callback writes what the helper writes on its
 * standard output into out (NUL-terminated, at most n bytes: "param NAME
 * VALUE" and "ok" lines are what is read) and returns UNET_OK when the
 * helper exited with status 0; else a status with a message (unet_seterr). */
typedef unet_status (*unet_tune_run_helper_fn)(char *const argv[], double timeout_s, char *out, size_t n,
                                               void *user);

typedef struct unet_tune_options {
    /* All drivers. */
    const char *device;    /* selector as in unet_context_options (NULL: first GPU, else first
                            * CPU; unet_tune_cpu: NULL means "cpu") */
    const char *cache_dir; /* NULL: $UNETCL_CACHE_DIR, $XDG_CACHE_HOME/unetcl, ~/.cache/unetcl */
    int verbose;           /* 1: contexts log to stderr; more progress lines (the parameter sets) */
    unet_tune_progress_fn progress; /* NULL: silent, never cancelled */
    void *user;

    /* unet_tune_clblast; 0 for a value = its default, which depends on quick. */
    int quick;              /* small search, small shapes (minutes on a CPU device) */
    double fraction;        /* of CLBlast's Xgemm search space, (0, 1]: 0.002 (quick 0.0002) */
    double direct_fraction; /* same for XgemmDirect: 0.02 (quick 0.003) */
    double timeout_s;       /* one tuner run at most, >= 1: 1800 (quick 420) */
    int reps;               /* timing runs per shape (median), also unet_tune_conv: 5 (quick 3); at most 31 */
    /* The tuner helper: NULL = unetcl-tune-helper in the folder of the
     * running executable, else on PATH (`unetcl tune` passes --helper, else
     * $UNETCL_TUNE_HELPER: the library reads no environment here). */
    const char *helper;
    unet_tune_run_helper_fn run_helper; /* NULL: the library starts the helper (posix_spawn) */
    void *run_helper_user;

    /* unet_tune_conv */
    int tile;              /* U-Net input tile whose 3x3 layers are timed: 0 = 572 (quick 188) */
    int base;              /* base channels of that U-Net, 1..1024: 64 */
    const char *precision; /* "fp32" (NULL too) or "fp16": the [device] precision the entries are for */

    /* unet_tune_cpu */
    double seconds;         /* time budget of the search, [1, 36000]: 120 */
    const char *ship_match; /* non-NULL: also give the result as a shipped entry matching this
                             * substring of the device name (unet_tune_cpu_result.shipped) */
} unet_tune_options;

/* The defaults above. */
UNETCL_API void unet_tune_options_default(unet_tune_options *opts);

/* Which drivers unet_tune_options_check checks the options for. */
enum { UNET_TUNE_CLBLAST = 1, UNET_TUNE_CONV = 2, UNET_TUNE_CPU = 4 };

/* Checks the options the given drivers (a mask of the values above) use,
 * without touching a device: UNET_OK, or UNET_ERR_INVALID_ARGUMENT with a
 * one-line message. Each driver checks its own; a caller that runs several
 * one after the other checks them all first. */
UNETCL_API unet_status unet_tune_options_check(const unet_tune_options *opts, unsigned drivers);

/* ---- CLBlast's GEMM kernels ---------------------------------------------- */

#define UNET_TUNE_MAX_SHAPES 16

typedef struct unet_tune_gemm_shape {
    char what[48];               /* "L1 conv2 fwd, 128x128 px" */
    char dims[48];               /* "MxNxK", tA / tB appended for transposed operands */
    double gflop;                /* 2 m n k / 1e9 */
    double default_ms, tuned_ms; /* medians: CLBlast's defaults, and what the file holds */
    int direct;                  /* 1: the file's switch point sends the shape to XgemmDirect */
} unet_tune_gemm_shape;

typedef struct unet_tune_clblast_result {
    char path[1100];  /* the file written */
    int tuned;        /* 1: the file holds the tuned set; 0: CLBlast's defaults (tuned not faster) */
    int tuner_ok[2];  /* Xgemm, XgemmDirect: the tuner gave a set, correct on every shape */
    int nshapes;
    unet_tune_gemm_shape shapes[UNET_TUNE_MAX_SHAPES];
    double default_total_ms, tuned_total_ms;
    size_t min_indirect, default_min_indirect; /* XGEMM_MIN_INDIRECT_SIZE written / CLBlast's */
    /* The parameter sets written, one line each: the kernel name padded to
     * 12 characters, then " NAME=VALUE" per parameter. */
    char params[3][800];
} unet_tune_clblast_result;

/* 1. CLBlast's own parameters and its auto-tuner (a random fraction of the
 * search space) in the helper process; 2. on the U-Net's GEMM shapes,
 * CLBlast timed with its defaults and with the tuned kernels through the
 * direct and the indirect path, each result compared with the default one;
 * the switch point minimising the total is chosen, a tuned kernel that fails
 * or is wrong anywhere is dropped, and CLBlast's defaults are kept when the
 * tuned set is not faster; 3. the file is written (unet_gemm applies it on
 * that device from then on, unless disable_clblast_tuning). A tuner run that
 * fails or times out is reported through progress and keeps that kernel's
 * defaults (not an error). result may be NULL. Does not run unet_tune_conv. */
UNETCL_API unet_status unet_tune_clblast(const unet_tune_options *opts, unet_tune_clblast_result *result);

/* ---- unetcl's GPU convolution kernels ------------------------------------ */

typedef struct unet_tune_conv_result {
    char path[1100]; /* the file written */
    int layers;      /* 3x3 layers timed */
    int entries;     /* entries written (3 per layer: forward, input and weight gradient) */
    int cpu_device;  /* 1: a CPU device, where the choice is not used (UNETCL_GPU_KERNELS=1 forces it) */
} unet_tune_conv_result;

/* For each 3x3 layer of the U-Net at opts->tile and opts->base: forward,
 * input gradient and weight gradient timed with the existing path (im2col +
 * the GEMM, with CLBlast's tuning file on GPUs) and with every parameter set
 * of the GPU kernels (median of reps), results checked against the existing
 * path; the fastest correct candidate per layer and operation is written.
 * The table goes to progress. result may be NULL. */
UNETCL_API unet_status unet_tune_conv(const unet_tune_options *opts, unet_tune_conv_result *result);

/* ---- unetcl's CPU kernels ------------------------------------------------ */

typedef struct unet_tune_cpu_result {
    char path[1100];   /* the file written */
    char text[4096];   /* its content */
    char shipped[4096]; /* with ship_match: the entry for src/host/ocl/cpu_tune_shipped.c (plain text) */
    double default_ms, tuned_ms; /* probe totals with the built-in values and with the winner */
} unet_tune_cpu_result;

/* Coordinate descent over the candidate values of the tuned parameters (a
 * parameter set in the environment is not searched), each setting timed on
 * probe GEMMs and Winograd convolutions; stops trying new candidates after
 * opts->seconds; writes the winner to the device's CPU tuning file. CPU
 * devices only (UNET_ERR_INVALID_ARGUMENT on others: their GEMMs run on
 * CLBlast). result may be NULL. */
UNETCL_API unet_status unet_tune_cpu(const unet_tune_options *opts, unet_tune_cpu_result *result);

/* ---- what is cached ------------------------------------------------------ */

typedef enum unet_tune_file_state {
    UNET_TUNE_FILE_NONE = 0, /* no file */
    UNET_TUNE_FILE_OK,       /* matches the device (and driver, CLBlast version) */
    UNET_TUNE_FILE_STALE,    /* written for another driver or CLBlast version: ignored */
    UNET_TUNE_FILE_CORRUPT   /* unreadable, not of the format, bad values: ignored */
} unet_tune_file_state;

typedef enum unet_tune_cpu_source {
    UNET_TUNE_CPU_DEFAULTS = 0, /* built-in defaults (also: not a CPU device) */
    UNET_TUNE_CPU_FILE,         /* the device's tuning file */
    UNET_TUNE_CPU_SHIPPED,      /* an entry shipped with unetcl for the CPU model */
    UNET_TUNE_CPU_SEARCHED      /* searched in this process (first use) and written */
} unet_tune_cpu_source;

#define UNET_TUNE_CPU_KNOBS 7

typedef struct unet_tune_info {
    unet_device_info device;
    char cache_dir[1024];
    char clblast_version[32]; /* CLBlast unetcl was built with ("1.5.3", or "unknown") */
    char clblast_path[1100];
    unet_tune_file_state clblast_state;
    char clblast_why[512];    /* why a file is ignored ("" when none is) */
    char conv_path[1100];
    int conv_present;         /* 1: the GPU-convolution file exists */
    char cpu_path[1100];
    unet_tune_cpu_source cpu_source; /* where the context's CPU kernel parameters come from */
    char cpu_why[1200];       /* the file or entry used, or why none is */
    int cpu_nknobs;           /* CPU devices: UNET_TUNE_CPU_KNOBS, else 0 */
    char cpu_knobs[UNET_TUNE_CPU_KNOBS][32];       /* names (docs/knobs.md: UNETCL_GEMM_KC, ...) */
    char cpu_knob_values[UNET_TUNE_CPU_KNOBS][32]; /* the values the context uses */
    char summary[2400];       /* lines as `unetcl devices` prints them (no trailing newline) */
} unet_tune_info;

/* What is cached for the context's device in the context's cache folder and
 * what the context uses. */
UNETCL_API unet_status unet_tune_describe(const unet_context *ctx, unet_tune_info *info);

/* A word for a CPU source ("tuning file", "shipped entry", "searched now",
 * "built-in defaults"). */
UNETCL_API const char *unet_tune_cpu_source_name(unet_tune_cpu_source source);

#ifdef __cplusplus
}
#endif

#endif /* UNETCL_TUNE_H */
