/* Internal: the tuning and debugging switches of the compute code, read once
 * when a context is created (unet_knobs_init) and kept in the context. Every
 * field has one environment variable (table in docs/knobs.md, generated from
 * the table in knobs.c by `unetcl tune --knobs`); values from CPU autotuning
 * (cpu_tune.c) sit between the built-in defaults and the environment, which
 * wins. No launch path reads the environment. */
#ifndef UNETCL_KNOBS_H
#define UNETCL_KNOBS_H

#include <stddef.h>

enum { UNET_KNOB_AUTO = 0 };
enum { UNET_ALGO_IM2COL = 1, UNET_ALGO_WINOGRAD = 2 };       /* conv_algo, wgrad */
enum { UNET_KNOB_GEMM_CPU = 1, UNET_KNOB_GEMM_CLBLAST = 2 }; /* gemm */

typedef struct unet_knobs {
    /* algorithm choices (tests, benchmarks): 0 = the built-in choice */
    int conv_algo;  /* UNETCL_CONV_ALGO=im2col|winograd (also turns off the direct first layer) */
    int wgrad;      /* UNETCL_WGRAD=im2col|winograd */
    int gemm;       /* UNETCL_GEMM=cpu|clblast */
    int im2col_not; /* UNETCL_IM2COL_NOT=1: the plain column matrix on CPUs */
    int wino_vlayout; /* UNETCL_WINO_VLAYOUT: 0 or 1 plain, 2 interleaved */
    int no_nt;       /* UNETCL_NO_NT=1: plain stores in the Winograd transforms */
    int hugepages;   /* UNETCL_HUGEPAGES=0 turns huge pages off (default 1) */
    int kprof;       /* UNETCL_KPROF=1: per-kernel wall times to stderr */
    int no_cache;    /* UNETCL_NO_CACHE=1 */
    int clblast_tuning; /* UNETCL_CLBLAST_TUNING=0 ignores the CLBlast tuning file (default 1) */
    long cpu_tune_seconds; /* UNETCL_CPU_TUNE: first-use search budget (default 0 = off) */
    int gpu_kernels;       /* UNETCL_GPU_KERNELS=1: unetcl's GPU convolution kernels on any device */
    int gpu_conv_set;      /* UNETCL_GPU_CONV_SET: 0 unset, else 1 + the set's place in the knob's list */
    /* tunable (CPU autotuning): -1 or 0 = the built-in default */
    long wino_tw;         /* UNETCL_WINO_TW=8|16: row-padded tile numbering; 0 = dense */
    long wino_min_tiles;  /* UNETCL_WINO_MIN_TILES; -1 = 144 (64 with cached weights) */
    long wino_chunk_kb;   /* UNETCL_WINO_CHUNK_KB; -1 = 8 MiB, at least 4x the weights */
    long gemm_kc;         /* UNETCL_GEMM_KC; 0 = 1152 */
    long gemm_nchunk;     /* UNETCL_GEMM_NCHUNK; 0 = no N chunks */
    long gemm_lb;         /* UNETCL_GEMM_LB=0|1; -1 = by size */
    long wino_fused;      /* UNETCL_WINO_FUSED=0|1; -1 = by size */
    long wgrad_dot;       /* UNETCL_WGRAD_DOT=0|1; -1 = by size */
    long wgrad_fused;     /* UNETCL_WGRAD_FUSED=0|1; -1 = by size */
    long gemm_kred;       /* UNETCL_GEMM_KRED=0|1; -1 = by size */
    long prefetch;        /* UNETCL_PREFETCH: k steps ahead in the CPU micro-kernels; -1 = 32, 0 = off */
    /* which fields came from the environment (bit i = knob i of the table) */
    unsigned long from_env;
} unet_knobs;

/* The built-in defaults. */
void unet_knobs_default(unet_knobs *k);

/* Reads every UNETCL_* knob from the environment into k (over what is there).
 * Returns 0, or -1 with a one-line message in err (a bad value). Unknown
 * UNETCL_* names are listed in warn (one line each; "" when none). */
int unet_knobs_from_env(unet_knobs *k, char *err, size_t errn, char *warn, size_t warnn);

/* Sets knob `name` (the environment name, e.g. "UNETCL_WINO_CHUNK_KB") to the
 * text value, as the environment would. Returns 0, or -1 with a message. */
int unet_knob_set(unet_knobs *k, const char *name, const char *value, char *err, size_t errn);

/* Writes the current value of knob `name` as text (an enum knob: its value's
 * name, "" when unset), as unet_knob_set takes it; -1 if unknown. */
int unet_knob_get(const unet_knobs *k, const char *name, char *out, size_t n);

/* The documentation table (Markdown) of all knobs. */
void unet_knobs_doc(char *out, size_t n);

/* Number of knobs and the i-th's name (for listing). */
int unet_knob_count(void);
const char *unet_knob_name(int i);

#endif
