/* The knob table: one row per UNETCL_* environment variable of the compute
 * code (see knobs.h). */
#define _POSIX_C_SOURCE 200809L
#include "knobs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern char **environ;

typedef enum { K_BOOL, K_ENUM, K_LONG } knob_kind;

typedef struct knob_def {
    const char *name;
    knob_kind kind;
    size_t off;         /* of an int (K_BOOL, K_ENUM) or a long (K_LONG) in unet_knobs */
    const char *values; /* K_ENUM: "|"-separated, value i+1 each; K_LONG: the allowed range as text */
    long lo, hi;        /* K_LONG range */
    const char *dflt;
    const char *doc;
} knob_def;

#define OFF(f) offsetof(unet_knobs, f)
static const knob_def g_knobs[] = {
    {"UNETCL_CONV_ALGO", K_ENUM, OFF(conv_algo), "im2col|winograd", 0, 0, "per layer",
     "forces one convolution algorithm on every 3x3 layer (and turns off the direct first layer)"},
    {"UNETCL_WGRAD", K_ENUM, OFF(wgrad), "im2col|winograd", 0, 0, "per layer",
     "forces the algorithm of the weight gradient"},
    {"UNETCL_GEMM", K_ENUM, OFF(gemm), "cpu|clblast", 0, 0, "cpu on CPUs, else clblast", "GEMM path"},
    {"UNETCL_IM2COL_NOT", K_BOOL, OFF(im2col_not), NULL, 0, 1, "0",
     "1: the plain (not transposed) column matrix on CPUs (benchmarks)"},
    {"UNETCL_WINO_VLAYOUT", K_ENUM, OFF(wino_vlayout), "plain|interleaved", 0, 0, "plain",
     "Winograd transformed input as [e][q][c][32] (plain: the GEMM reads each B panel contiguously) or "
     "[q][c][e][32] (interleaved: one run per transform work-item; the default until 2026-12, 5-11 % slower on "
     "the Xeon, docs/notes/issue17-cpu.md) (benchmarks)"},
    {"UNETCL_NO_NT", K_BOOL, OFF(no_nt), NULL, 0, 1, "0",
     "1: plain stores instead of streaming stores in the Winograd transforms (benchmarks)"},
    {"UNETCL_HUGEPAGES", K_BOOL, OFF(hugepages), NULL, 0, 1, "1",
     "0: no transparent huge pages for CPU buffers of 2 MiB and more"},
    {"UNETCL_KPROF", K_BOOL, OFF(kprof), NULL, 0, 1, "0",
     "1: wait for every launch and print per-kernel wall times to stderr when the context is destroyed"},
    {"UNETCL_NO_CACHE", K_BOOL, OFF(no_cache), NULL, 0, 1, "0",
     "1: always compile the OpenCL programs (as unet_context_options.disable_cache)"},
    {"UNETCL_CLBLAST_TUNING", K_BOOL, OFF(clblast_tuning), NULL, 0, 1, "1",
     "0: ignore the CLBlast tuning file of `unetcl tune` (as disable_clblast_tuning)"},
    {"UNETCL_CPU_TUNE", K_LONG, OFF(cpu_tune_seconds), "0..3600", 0, 3600, "0",
     "seconds the first network plan on a CPU may spend searching the [tuned] knobs when the device has no tuning "
     "file (0: never, the default until a search is shown to beat the defaults; `unetcl tune --cpu` searches "
     "explicitly)"},
    {"UNETCL_GPU_CONV_SET", K_ENUM, OFF(gpu_conv_set),
     "m64n64k16r4x4v4|m128n64k8r8x4v4|m64n128k8r4x8v2|m128n128k8r8x8v4|m32n64k16r2x4v2|m32n32k16r4x4v1|"
     "wf2c16t16k8r4x4|wf2c32t32k4r8x8|wf2c16t32k4r4x8", 0, 0,
     "the tuned set, else m64n64k16r4x4v4",
     "parameter set of unetcl's GPU convolution kernels where no tuning entry chose one (docs/gpu.md); the "
     "Winograd sets wf2* run the forward pass and the input gradient in fp32, the weight gradient and fp16 stay on "
     "m64n64k16r4x4v4"},
    {"UNETCL_GPU_KERNELS", K_BOOL, OFF(gpu_kernels), NULL, 0, 1, "0",
     "1: every 3x3 convolution on unetcl's own GPU kernels on any device (as "
     "unet_context_options.force_gpu_kernels; tests run what a GPU runs on PoCL)"},
    {"UNETCL_WINO_TW", K_LONG, OFF(wino_tw), "0, 8 or 16", 0, 16, "0 (dense)",
     "0: the separate Winograd kernels number the tiles densely (16 per transform work-item, no padded "
     "tiles in the GEMM); 8 or 16: tile rows padded to that many tiles per transform work-item [tuned]"},
    {"UNETCL_WINO_MIN_TILES", K_LONG, OFF(wino_min_tiles), "-1 or 0..10^9", -1, 1000000000L,
     "-1 (36; 144 for the weight gradient)", "4x4 output tiles from which a layer uses Winograd on CPUs"},
    {"UNETCL_WINO_CHUNK_KB", K_LONG, OFF(wino_chunk_kb), "-1 or 0..2^30", -1, 1L << 30,
     "-1 (8 MiB, at least 4x the transformed weights; weight gradient: at least its sums)",
     "KiB of transformed input + GEMM results per Winograd chunk; 0 = as large as the workspace [tuned]"},
    {"UNETCL_GEMM_KC", K_LONG, OFF(gemm_kc), "0 or 16..65536", 0, 65536, "0 (1152)",
     "K-chunk of the CPU GEMM [tuned]"},
    {"UNETCL_GEMM_NCHUNK", K_LONG, OFF(gemm_nchunk), "0..2^30", 0, 1L << 30, "0 (none)",
     "columns per N-chunk of the CPU GEMM (B packed separately) [tuned]"},
    {"UNETCL_GEMM_LB", K_LONG, OFF(gemm_lb), "-1, 0 or 1", -1, 1, "-1 (by size)",
     "1: B packed by the tile kernel into local memory, 0: packed separately [tuned]"},
    {"UNETCL_WINO_FUSED", K_LONG, OFF(wino_fused), "-1, 0 or 1", -1, 1, "-1 (by size)",
     "1: every Winograd layer whose scratch fits local memory on one fused kernel (transforms and GEMMs of a "
     "32-tile panel in cache), 0: never; -1: layers with at most 128 input channels (src/host/ocl/conv.c, wino_use_fused) [tuned]"},
    {"UNETCL_WGRAD_DOT", K_LONG, OFF(wgrad_dot), "-1, 0 or 1", -1, 1, "-1 (by size)",
     "1: the Winograd weight gradient as dot products along the tiles, 0: as packed GEMMs; -1: dot products for "
     "layers with at most 64 x 64 channels (src/host/ocl/conv.c, wino_wgrad); layers the fused kernel takes "
     "(UNETCL_WGRAD_FUSED) use neither [tuned]"},
    {"UNETCL_WGRAD_FUSED", K_LONG, OFF(wgrad_fused), "-1, 0 or 1", -1, 1, "-1 (by size)",
     "1: the Winograd weight gradient in one fused kernel (transforms and products of 32-tile panels in local "
     "memory, partial sums per work-item) wherever its scratch fits local memory, 0: never; -1: layers with at most "
     "64 x 128 channels (src/host/ocl/conv.c, wino_wgrad)"},
    {"UNETCL_GEMM_KRED", K_LONG, OFF(gemm_kred), "-1, 0 or 1", -1, 1, "-1 (by size)",
     "1: every CPU GEMM of A . B^T with C of at most 64 x 64 as K split in parts (4 x 4 blocks of C in "
     "registers, the parts added in order), 0: never; -1: when K >= 4096 and C has at most 1024 elements "
     "(src/host/ocl/gemm.c)"},
    {"UNETCL_PREFETCH", K_LONG, OFF(prefetch), "-1 or 0..256", -1, 256, "-1 (32)",
     "software prefetch distance, in k steps, of the packed operands in the CPU GEMM micro-kernels and of the "
     "fused Winograd kernel's products, which also fetches the input rows of the channel two ahead (CPU devices; "
     "0: none)"},
};
#define NKNOBS ((int)(sizeof g_knobs / sizeof g_knobs[0]))

/* UNETCL_* names that are not knobs of the library but are read by the CLI,
 * the tests or the scripts: not warned about. */
static const char *g_other_names[] = {
    "UNETCL_CACHE_DIR", "UNETCL_TUNE_HELPER", "UNETCL_TEST_DEVICE", "UNETCL_SOURCE_DIR", "UNETCL_BINARY_DIR",
    "UNETCL_CLI", "UNETCL_IN_NS", "UNETCL_DATA_DIR", "UNETCL_DEMO_DIR", "UNETCL_DEVICE", "UNETCL_JOBS",
    "UNETCL_KILL_CYCLES", "UNETCL_LIFECYCLE_ROUNDS", "UNETCL_ASAN_BUILD", "UNETCL_ASAN_EXCLUDE",
    "UNETCL_ASAN_JOBS", "UNETCL_ASAN_QUIET", "UNETCL_ASAN_TESTS", "UNETCL_FUZZ_JOBS", "UNETCL_FUZZ_SECONDS",
    "UNETCL_BUILD_BENCH", "UNETCL_BUILD_TUNE_HELPER", "UNETCL_MPI"};

void unet_knobs_default(unet_knobs *k)
{
    memset(k, 0, sizeof *k);
    k->hugepages = 1;
    k->clblast_tuning = 1;
    k->wino_min_tiles = -1;
    k->wino_chunk_kb = -1;
    k->gemm_lb = -1;
    k->wino_fused = -1;
    k->wgrad_dot = -1;
    k->wgrad_fused = -1;
    k->gemm_kred = -1;
    k->prefetch = -1;
}

int unet_knob_count(void) { return NKNOBS; }
const char *unet_knob_name(int i) { return (i >= 0 && i < NKNOBS) ? g_knobs[i].name : NULL; }

static int find(const char *name)
{
    for (int i = 0; i < NKNOBS; i++)
        if (!strcmp(g_knobs[i].name, name)) return i;
    return -1;
}

static int set_one(unet_knobs *k, int i, const char *v, char *err, size_t errn)
{
    const knob_def *d = &g_knobs[i];
    char *base = (char *)k;
    if (d->kind == K_BOOL) {
        int b;
        if (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcasecmp(v, "true")) b = 1;
        else if (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcasecmp(v, "false") ||
                 !*v)
            b = 0;
        else {
            snprintf(err, errn, "environment %s=%s: use 1 or 0 (or unset it; see docs/knobs.md)", d->name, v);
            return -1;
        }
        memcpy(base + d->off, &b, sizeof b);
        return 0;
    }
    if (d->kind == K_ENUM) {
        int val = 0, idx = 1;
        if (*v) {
            const char *p = d->values;
            while (*p) {
                size_t n = strcspn(p, "|");
                if (strlen(v) == n && !strncmp(p, v, n)) {
                    val = idx;
                    break;
                }
                p += n;
                if (*p == '|') p++;
                idx++;
            }
            if (!val) {
                snprintf(err, errn, "environment %s=%s: use %s (or unset it; see docs/knobs.md)", d->name, v,
                         d->values);
                return -1;
            }
        }
        memcpy(base + d->off, &val, sizeof val);
        return 0;
    }
    /* K_LONG */
    char *end = NULL;
    errno = 0;
    long val = strtol(v, &end, 10);
    int ok = *v && end && *end == '\0' && errno == 0 && val >= d->lo && val <= d->hi;
    if (ok && !strcmp(d->name, "UNETCL_WINO_TW")) ok = val == 0 || val == 8 || val == 16;
    if (ok && !strcmp(d->name, "UNETCL_GEMM_KC")) ok = val == 0 || val >= 16;
    if (!ok) {
        snprintf(err, errn, "environment %s=%s: use an integer in %s (or unset it; see docs/knobs.md)", d->name, v,
                 d->values);
        return -1;
    }
    memcpy(base + d->off, &val, sizeof val);
    return 0;
}

int unet_knob_set(unet_knobs *k, const char *name, const char *value, char *err, size_t errn)
{
    int i = find(name);
    if (i < 0) {
        snprintf(err, errn, "%s is not a knob (see docs/knobs.md)", name);
        return -1;
    }
    return set_one(k, i, value ? value : "", err, errn);
}

int unet_knob_get(const unet_knobs *k, const char *name, char *out, size_t n)
{
    int i = find(name);
    if (i < 0) return -1;
    const knob_def *d = &g_knobs[i];
    const char *base = (const char *)k;
    if (d->kind == K_LONG) {
        long v;
        memcpy(&v, base + d->off, sizeof v);
        snprintf(out, n, "%ld", v);
    } else if (d->kind == K_ENUM) {
        /* the value's name, as unet_knob_set takes it ("" = unset) */
        int v, idx = 1;
        memcpy(&v, base + d->off, sizeof v);
        const char *p = d->values;
        if (n) out[0] = '\0';
        while (v > 0 && *p) {
            const size_t len = strcspn(p, "|");
            if (idx == v) {
                snprintf(out, n, "%.*s", (int)len, p);
                break;
            }
            p += len;
            if (*p == '|') p++;
            idx++;
        }
    } else {
        int v;
        memcpy(&v, base + d->off, sizeof v);
        snprintf(out, n, "%d", v);
    }
    return 0;
}

/* Levenshtein distance of two short names (for "did you mean"). */
static int distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int cur = row[j];
            int c = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < c) c = row[j] + 1;
            if (row[j - 1] + 1 < c) c = row[j - 1] + 1;
            row[j] = c;
            prev = cur;
        }
    }
    return row[lb];
}

int unet_knobs_from_env(unet_knobs *k, char *err, size_t errn, char *warn, size_t warnn)
{
    if (warnn) warn[0] = '\0';
    for (int i = 0; i < NKNOBS; i++) {
        const char *v = getenv(g_knobs[i].name);
        if (!v) continue;
        if (set_one(k, i, v, err, errn) != 0) return -1;
        k->from_env |= 1UL << i;
    }
    size_t used = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "UNETCL_", 7) != 0) continue;
        char name[96];
        size_t n = strcspn(*e, "=");
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        int known = find(name) >= 0;
        for (size_t j = 0; !known && j < sizeof g_other_names / sizeof g_other_names[0]; j++)
            known = !strcmp(g_other_names[j], name);
        if (known || used + 1 >= warnn) continue;
        const char *best = NULL;
        int bd = 4;
        for (int i = 0; i < NKNOBS; i++) {
            int d = distance(name, g_knobs[i].name);
            if (d < bd) bd = d, best = g_knobs[i].name;
        }
        int w = snprintf(warn + used, warnn - used, "%sunknown environment variable %s ignored%s%s%s (see docs/knobs.md)",
                         used ? "\n" : "", name, best ? " (did you mean " : "", best ? best : "", best ? "?)" : "");
        if (w > 0) used += (size_t)w < warnn - used ? (size_t)w : warnn - used - 1;
    }
    return 0;
}

void unet_knobs_doc(char *out, size_t n)
{
    size_t used = 0;
    int w = snprintf(out, n, "| variable | values | default | what |\n|---|---|---|---|\n");
    if (w > 0) used = (size_t)w;
    for (int i = 0; i < NKNOBS && used < n; i++) {
        const knob_def *d = &g_knobs[i];
        char vals[256]; /* the longest list (UNETCL_GPU_CONV_SET) whole */
        snprintf(vals, sizeof vals, "%s", d->values ? d->values : "0 or 1");
        for (char *c = vals; *c; c++)
            if (*c == '|') *c = '/'; /* a table cell */
        w = snprintf(out + used, n - used, "| `%s` | %s | %s | %s |\n", d->name, vals, d->dflt, d->doc);
        if (w > 0) used += (size_t)w;
    }
}
