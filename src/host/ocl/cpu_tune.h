/* Internal: tuned parameters of unetcl's own CPU kernels (the CPU GEMM's
 * K-chunk, N-chunk and fused-B choice; the Winograd transform width and
 * chunk size), searched per device and kept in the cache folder like the
 * CLBlast tuning (clblast_tune.h).
 *
 * File: <cache_dir>/cpu-tuning-<hash of platform, vendor, device name>.txt,
 * text, one "key = value" per line: format, device, vendor, platform, driver,
 * then the tuned knobs by their environment names (UNETCL_GEMM_KC, ...,
 * docs/knobs.md), the measured totals, and last a checksum line (FNV-1a of
 * everything before it). A file whose driver differs is stale; a file that
 * does not parse, has a bad checksum or a value out of range is corrupt.
 * Either is ignored with a one-line reason (verbose contexts print it;
 * `unetcl tune --cpu --show` reports it) and the shipped entry for the CPU
 * model (cpu_tune_shipped.c), else the built-in defaults are used.
 *
 * Precedence: built-in defaults < shipped entry < tuning file < environment
 * (a knob set in the environment is never overwritten).
 *
 * First use: on a CPU device with no valid file, the first network plan
 * (unet_net_create) runs the search within the knob UNETCL_CPU_TUNE seconds
 * (default 20; 0 = never search on first use), with progress on stderr, and
 * writes the file. `unetcl tune --cpu` runs it explicitly. */
#ifndef UNETCL_CPU_TUNE_H
#define UNETCL_CPU_TUNE_H

#include "ocl.h"

#define UNET_CPU_TUNING_FORMAT "unetcl-cpu-tuning-2" /* -1: without the last two knobs */
#define UNET_CPU_TUNED_KNOBS 7

/* The knobs a CPU tuning sets (environment names). */
extern const char *const unet_cpu_tuned_knobs[UNET_CPU_TUNED_KNOBS];

typedef struct unet_cpu_tuning {
    char device[256], vendor[128], platform[128], driver[128];
    char match[128]; /* shipped entries: a substring of the device name */
    long values[UNET_CPU_TUNED_KNOBS];
    double default_ms, tuned_ms; /* probe totals with the defaults and the winner */
    char method[160];
} unet_cpu_tuning;

typedef enum unet_cpu_tuning_state {
    UNET_CPU_TUNING_NONE = 0, /* nothing applied: built-in defaults */
    UNET_CPU_TUNING_FILE,     /* the device's tuning file */
    UNET_CPU_TUNING_SHIPPED,  /* a shipped entry for the CPU model */
    UNET_CPU_TUNING_SEARCHED  /* searched in this process (and written) */
} unet_cpu_tuning_state;

/* Path of the device's tuning file in cache_dir. */
void unet_cpu_tuning_path(const char *cache_dir, const unet_device_info *dev, char *out, size_t n);

/* Text of a tuning (with checksum line); returns the length or 0 if n is too small. */
size_t unet_cpu_tuning_format(const unet_cpu_tuning *t, char *out, size_t n);

/* Parses text. dev (may be NULL) is checked: another device or driver is
 * stale. Returns 0 and fills t, or -1 with a one-line reason in why. */
int unet_cpu_tuning_parse(const char *text, const unet_device_info *dev, unet_cpu_tuning *t, char *why,
                          size_t whyn);

/* Reads a file: 0 ok, 1 no file, -1 stale or corrupt (why says which). */
int unet_cpu_tuning_read(const char *path, const unet_device_info *dev, unet_cpu_tuning *t, char *why,
                         size_t whyn);

/* Writes atomically (folder created); UNET_ERR_IO on failure. */
unet_status unet_cpu_tuning_write(const char *path, const unet_cpu_tuning *t);

/* Applies a tuning's values to knobs not set from the environment. */
void unet_cpu_tuning_apply(unet_knobs *k, const unet_cpu_tuning *t);

/* The shipped entry whose match is in the device name; 0 found, -1 none. */
int unet_cpu_tuning_shipped(const unet_device_info *dev, unet_cpu_tuning *t);

/* At context creation (CPU devices): the file, else the shipped entry.
 * Sets ctx->cpu_tuning and ctx->cpu_tuning_why. Never fails. */
void unet_cpu_tuning_load(unet_context *ctx);

/* Candidate values per tuned knob (the search space; tests check every one
 * for correctness). Returns the count, values in *vals. */
int unet_cpu_tune_candidates(int knob, const long **vals);

/* One line of progress and the fraction of the budget used; non-zero cancels
 * the search (UNET_ERR_INTERRUPTED). */
typedef int (*unet_cpu_tune_progress)(void *user, const char *line, double fraction);

/* Searches the tuned knobs on the context's device: coordinate descent over
 * the candidates, each setting timed on probe GEMMs and Winograd
 * convolutions (median of 3 after a warm-up); a candidate must beat the
 * current choice by 5 % to replace it (noise). Stops trying new candidates
 * after budget_s seconds. Knobs set in the environment are not searched.
 * Leaves the winner applied to ctx and in *t (not written). Cancelled by
 * progress: UNET_ERR_INTERRUPTED; on any failure the context's knobs are
 * left as they were. */
unet_status unet_cpu_tune_search(unet_context *ctx, double budget_s, unet_cpu_tune_progress progress, void *user,
                                 unet_cpu_tuning *t);

/* First use: on CPU devices with nothing tuned yet (state NONE or SHIPPED)
 * and UNETCL_CPU_TUNE > 0, searches within that many seconds (progress to
 * stderr), writes the file and applies it. Failures to search or write fall
 * back to the current values (never an error). */
void unet_cpu_tune_first_use(unet_context *ctx);

#endif
