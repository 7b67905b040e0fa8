/* Tuned parameters of the CPU kernels: file format, shipped entries, the
 * search and its first-use trigger (see cpu_tune.h). */
#define _POSIX_C_SOURCE 200809L
#include "cpu_tune.h"

#include "atomicfile.h"
#include "clock.h"
#include "conv_internal.h"
#include "fsutil.h"
#include "gemm.h"
#include "layers.h"
#include "tensor.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const unet_cpu_tuned_knobs[UNET_CPU_TUNED_KNOBS] = {
    "UNETCL_GEMM_KC",       "UNETCL_GEMM_LB",    "UNETCL_GEMM_NCHUNK", "UNETCL_WINO_TW",
    "UNETCL_WINO_CHUNK_KB", "UNETCL_WINO_FUSED", "UNETCL_WGRAD_DOT"};

/* The built-in values (as unet_knobs_default) in the order above. */
static const long g_builtin[UNET_CPU_TUNED_KNOBS] = {0, -1, 0, 0, -1, -1, -1};

/* The probe group each knob acts on: 0 the GEMM probes, 1 the Winograd
 * forward, 2 the Winograd weight gradient. The thresholds of the fused
 * kernel (input channels) and of the dot-product weight gradient (channel
 * product) were measured on one Xeon with 2 MiB of L2 per core; where the
 * cache differs the search can move them. */
static const int g_group[UNET_CPU_TUNED_KNOBS] = {0, 0, 0, 1, 1, 1, 2};
#define NGROUPS 3

/* Search space. 0 / -1 are the built-in choices (1152; by size; none; dense
 * tile numbering; 8 MiB and at least 4x the transformed weights (the weight
 * gradient: at least its sums); fused up to
 * 128 input channels; dot products up to 64 x 64 channels). */
static const long c_kc[] = {0, 384, 768, 2304};
static const long c_lb[] = {-1, 0, 1};
static const long c_nchunk[] = {0, 2048, 8192};
static const long c_tw[] = {0, 8, 16};
/* (0, chunks as large as the workspace, is not a candidate: the probes are
 * too small to show what it costs on the large layers: a tuned file with it
 * (and width 8) gave 1.9x slower inference in interleaved runs,
 * bench/results/cpu_intel_xeon_bench_only_20261203.txt) */
static const long c_chunk[] = {-1, 1024, 2048, 4096, 16384};
static const long c_fused[] = {-1, 0, 1};
static const long c_wdot[] = {-1, 0, 1};

int unet_cpu_tune_candidates(int knob, const long **vals)
{
    switch (knob) {
    case 0: *vals = c_kc; return (int)(sizeof c_kc / sizeof *c_kc);
    case 1: *vals = c_lb; return (int)(sizeof c_lb / sizeof *c_lb);
    case 2: *vals = c_nchunk; return (int)(sizeof c_nchunk / sizeof *c_nchunk);
    case 3: *vals = c_tw; return (int)(sizeof c_tw / sizeof *c_tw);
    case 4: *vals = c_chunk; return (int)(sizeof c_chunk / sizeof *c_chunk);
    case 5: *vals = c_fused; return (int)(sizeof c_fused / sizeof *c_fused);
    case 6: *vals = c_wdot; return (int)(sizeof c_wdot / sizeof *c_wdot);
    default: *vals = NULL; return 0;
    }
}

void unet_cpu_tuning_path(const char *cache_dir, const unet_device_info *dev, char *out, size_t n)
{
    unet_device_cache_path(cache_dir, dev, "cpu-tuning", "txt", out, n);
}

/* ---- text format ---------------------------------------------------------- */

size_t unet_cpu_tuning_format(const unet_cpu_tuning *t, char *out, size_t n)
{
    size_t used = 0;
#define PUT(...)                                                              \
    do {                                                                      \
        int w_ = snprintf(out + used, used < n ? n - used : 0, __VA_ARGS__); \
        if (w_ < 0) return 0;                                                 \
        used += (size_t)w_;                                                   \
    } while (0)
    PUT("format = %s\n", UNET_CPU_TUNING_FORMAT);
    if (t->match[0]) PUT("match = %s\n", t->match);
    if (t->device[0]) PUT("device = %s\n", t->device);
    if (t->vendor[0]) PUT("vendor = %s\n", t->vendor);
    if (t->platform[0]) PUT("platform = %s\n", t->platform);
    if (t->driver[0]) PUT("driver = %s\n", t->driver);
    if (t->method[0]) PUT("method = %s\n", t->method);
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) PUT("%s = %ld\n", unet_cpu_tuned_knobs[i], t->values[i]);
    if (t->default_ms > 0) PUT("probe_default_ms = %.2f\n", t->default_ms);
    if (t->tuned_ms > 0) PUT("probe_tuned_ms = %.2f\n", t->tuned_ms);
    if (used >= n) return 0;
    const uint64_t h = unet_hash64(UNET_HASH_INIT, out, used);
    PUT("checksum = %016llx\n", (unsigned long long)h);
#undef PUT
    return used < n ? used : 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t') i++;
    if (i) memmove(s, s + i, n - i + 1);
}

int unet_cpu_tuning_parse(const char *text, const unet_device_info *dev, unet_cpu_tuning *t, char *why,
                          size_t whyn)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) t->values[i] = g_builtin[i];
    int have_format = 0, have_sum = 0, seen[UNET_CPU_TUNED_KNOBS] = {0};
    const char *p = text;
    int line = 0;
    while (*p) {
        line++;
        const char *start = p;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        p += len + (nl ? 1 : 0);
        char buf[512];
        if (len >= sizeof buf) {
            snprintf(why, whyn, "line %d is too long", line);
            return -1;
        }
        memcpy(buf, start, len);
        buf[len] = '\0';
        trim(buf);
        if (!buf[0] || buf[0] == '#') continue;
        char *eq = strchr(buf, '=');
        if (!eq) {
            snprintf(why, whyn, "line %d has no \"key = value\"", line);
            return -1;
        }
        *eq = '\0';
        char *key = buf, *val = eq + 1;
        trim(key);
        trim(val);
        if (!strcmp(key, "checksum")) {
            const uint64_t h = unet_hash64(UNET_HASH_INIT, text, (size_t)(start - text));
            char want[32];
            snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
            if (strcmp(val, want) != 0) {
                snprintf(why, whyn, "checksum mismatch (the file was changed or cut short)");
                return -1;
            }
            have_sum = 1;
            if (*p) {
                snprintf(why, whyn, "text after the checksum line");
                return -1;
            }
            break;
        }
        if (!strcmp(key, "format")) {
            if (strcmp(val, UNET_CPU_TUNING_FORMAT) != 0) {
                snprintf(why, whyn, "format \"%.60s\" is not %s", val, UNET_CPU_TUNING_FORMAT);
                return -1;
            }
            have_format = 1;
        } else if (!strcmp(key, "match")) snprintf(t->match, sizeof t->match, "%s", val);
        else if (!strcmp(key, "device")) snprintf(t->device, sizeof t->device, "%s", val);
        else if (!strcmp(key, "vendor")) snprintf(t->vendor, sizeof t->vendor, "%s", val);
        else if (!strcmp(key, "platform")) snprintf(t->platform, sizeof t->platform, "%s", val);
        else if (!strcmp(key, "driver")) snprintf(t->driver, sizeof t->driver, "%s", val);
        else if (!strcmp(key, "method")) snprintf(t->method, sizeof t->method, "%s", val);
        else if (!strcmp(key, "probe_default_ms")) t->default_ms = atof(val);
        else if (!strcmp(key, "probe_tuned_ms")) t->tuned_ms = atof(val);
        else {
            int i = 0;
            while (i < UNET_CPU_TUNED_KNOBS && strcmp(key, unet_cpu_tuned_knobs[i]) != 0) i++;
            if (i == UNET_CPU_TUNED_KNOBS) {
                snprintf(why, whyn, "unknown key \"%.60s\" on line %d", key, line);
                return -1;
            }
            /* the knob's own range check */
            unet_knobs k;
            unet_knobs_default(&k);
            char err[256];
            if (unet_knob_set(&k, key, val, err, sizeof err) != 0) {
                snprintf(why, whyn, "line %d: %s = %.40s is out of range", line, key, val);
                return -1;
            }
            t->values[i] = strtol(val, NULL, 10);
            seen[i] = 1;
        }
    }
    if (!have_format) {
        snprintf(why, whyn, "no \"format = %s\" line", UNET_CPU_TUNING_FORMAT);
        return -1;
    }
    if (!have_sum) {
        snprintf(why, whyn, "no checksum line (the file was cut short?)");
        return -1;
    }
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++)
        if (!seen[i]) {
            snprintf(why, whyn, "no value for %s", unet_cpu_tuned_knobs[i]);
            return -1;
        }
    if (dev && !t->match[0]) {
        if (strcmp(t->device, dev->name) != 0 || strcmp(t->platform, dev->platform_name) != 0) {
            snprintf(why, whyn, "tuned for another device (%.80s)", t->device);
            return -1;
        }
        if (strcmp(t->driver, dev->driver_version) != 0) {
            snprintf(why, whyn, "stale: tuned with driver %.40s, the device now has %.40s", t->driver,
                     dev->driver_version);
            return -1;
        }
    }
    return 0;
}

int unet_cpu_tuning_read(const char *path, const unet_device_info *dev, unet_cpu_tuning *t, char *why,
                         size_t whyn)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whyn, "no tuning file %s", path);
        return 1;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    buf[n] = '\0';
    if (more || strlen(buf) != n) {
        snprintf(why, whyn, "%s: not a tuning file (too large or binary)", path);
        return -1;
    }
    char r[300];
    if (unet_cpu_tuning_parse(buf, dev, t, r, sizeof r) != 0) {
        snprintf(why, whyn, "%s: %s", path, r);
        return -1;
    }
    return 0;
}

unet_status unet_cpu_tuning_write(const char *path, const unet_cpu_tuning *t)
{
    char buf[4096];
    size_t n = unet_cpu_tuning_format(t, buf, sizeof buf);
    if (!n) return unet_seterr(UNET_ERR_INTERNAL, "CPU tuning text does not fit its buffer");
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (unet_mkdir_p(dir) != 0)
            return unet_seterr(UNET_ERR_IO, "cannot create the cache folder %s for the CPU tuning file", dir);
    }
    return unet_write_file_atomic(path, buf, n);
}

void unet_cpu_tuning_apply(unet_knobs *k, const unet_cpu_tuning *t)
{
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) {
        int bit = -1;
        for (int j = 0; j < unet_knob_count(); j++)
            if (!strcmp(unet_knob_name(j), unet_cpu_tuned_knobs[i])) bit = j;
        if (bit >= 0 && (k->from_env & (1UL << bit))) continue; /* the environment wins */
        char v[32], err[200];
        snprintf(v, sizeof v, "%ld", t->values[i]);
        (void)unet_knob_set(k, unet_cpu_tuned_knobs[i], v, err, sizeof err); /* range-checked when parsed */
    }
}

/* ---- shipped entries -------------------------------------------------------- */

extern const char *const unet_cpu_tuning_shipped_texts[];

int unet_cpu_tuning_shipped(const unet_device_info *dev, unet_cpu_tuning *t)
{
    for (int i = 0; unet_cpu_tuning_shipped_texts[i]; i++) {
        char why[300];
        unet_cpu_tuning c;
        if (unet_cpu_tuning_parse(unet_cpu_tuning_shipped_texts[i], NULL, &c, why, sizeof why) != 0) continue;
        if (c.match[0] && strstr(dev->name, c.match) && (!c.platform[0] || strstr(dev->platform_name, c.platform))) {
            *t = c;
            return 0;
        }
    }
    return -1;
}

void unet_cpu_tuning_load(unet_context *ctx)
{
    ctx->cpu_tuning = UNET_CPU_TUNING_NONE;
    ctx->cpu_tuning_why[0] = '\0';
    if (ctx->info.type != UNET_DEVICE_CPU) return;
    char path[1100], why[600];
    unet_cpu_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    unet_cpu_tuning t;
    int r = unet_cpu_tuning_read(path, &ctx->info, &t, why, sizeof why);
    if (r == 0) {
        unet_cpu_tuning_apply(&ctx->knobs, &t);
        ctx->cpu_tuning = UNET_CPU_TUNING_FILE;
        snprintf(ctx->cpu_tuning_why, sizeof ctx->cpu_tuning_why, "%s", path);
        if (ctx->verbose) fprintf(stderr, "unetcl: CPU kernel parameters from %s\n", path);
        return;
    }
    if (r < 0 && ctx->verbose) fprintf(stderr, "unetcl: CPU tuning file ignored: %s\n", why);
    if (unet_cpu_tuning_shipped(&ctx->info, &t) == 0) {
        unet_cpu_tuning_apply(&ctx->knobs, &t);
        ctx->cpu_tuning = UNET_CPU_TUNING_SHIPPED;
        snprintf(ctx->cpu_tuning_why, sizeof ctx->cpu_tuning_why, "shipped entry \"%s\"%s%.400s", t.match,
                 r < 0 ? "; " : "", r < 0 ? why : "");
        if (ctx->verbose) fprintf(stderr, "unetcl: CPU kernel parameters: %s\n", ctx->cpu_tuning_why);
        return;
    }
    snprintf(ctx->cpu_tuning_why, sizeof ctx->cpu_tuning_why, "built-in defaults (%.500s)", why);
}

/* ---- the search ---------------------------------------------------------------- */

typedef struct probe_conv {
    int cin, cout, hw;
} probe_conv;

typedef struct probe_gemm {
    int ta, tb;
    size_t m, n, k;
} probe_gemm;

/* Layer shapes of the paper's U-Net (700 inference / 572 training tiles,
 * scaled so that one pass over all probes takes about 0.2-0.5 s on a 2-core
 * CPU): Winograd forward at 64..512 channels, and im2col-like GEMMs of the
 * deep layers (K = 9 cin) and the 1x1 / up-convolution products. */
static const probe_conv g_pconv[] = {{64, 64, 196}, {128, 128, 132}, {256, 256, 68}, {512, 512, 44}};
static const probe_gemm g_pgemm[] = {{0, 0, 1024, 900, 4608}, {0, 1, 512, 1024, 4608}, {1, 0, 256, 4096, 512},
                                     {0, 0, 2048, 1024, 512}};

typedef struct tune_bufs {
    cl_mem a, b, c, ws;
    size_t ws_floats;
    unet_tensor in[4], out[4];
    cl_mem w, bias, dw;
} tune_bufs;

static void bufs_free(tune_bufs *b)
{
    cl_mem *m[] = {&b->a, &b->b, &b->c, &b->ws, &b->w, &b->bias, &b->dw};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (*m[i]) clReleaseMemObject(*m[i]), *m[i] = NULL;
    for (int i = 0; i < 4; i++) {
        unet_tensor_free(&b->in[i]);
        unet_tensor_free(&b->out[i]);
    }
}

static unet_status fill_random(unet_context *ctx, cl_mem m, size_t n, uint64_t seed)
{
    float *h = malloc(n * sizeof(float));
    if (!h) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "CPU tuning: out of host memory");
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        h[i] = (float)((double)(s >> 40) / 16777216.0 - 0.5) * 0.1f;
    }
    cl_int err = clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, 0, n * sizeof(float), h, 0, NULL, NULL);
    free(h);
    if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, "CPU tuning: writing probe data");
    return UNET_OK;
}

static unet_status bufs_make(unet_context *ctx, tune_bufs *b)
{
    memset(b, 0, sizeof *b);
    size_t amax = 0, bmax = 0, cmax = 0;
    for (size_t i = 0; i < sizeof g_pgemm / sizeof *g_pgemm; i++) {
        const probe_gemm *g = &g_pgemm[i];
        if (g->m * g->k > amax) amax = g->m * g->k;
        if (g->k * g->n > bmax) bmax = g->k * g->n;
        if (g->m * g->n > cmax) cmax = g->m * g->n;
    }
    UNET_TRY(unet_buffer_alloc(ctx, &b->a, amax * 4, "CPU tuning A"));
    UNET_TRY(unet_buffer_alloc(ctx, &b->b, bmax * 4, "CPU tuning B"));
    UNET_TRY(unet_buffer_alloc(ctx, &b->c, cmax * 4, "CPU tuning C"));
    UNET_TRY(fill_random(ctx, b->a, amax, 1));
    UNET_TRY(fill_random(ctx, b->b, bmax, 2));
    size_t wmax = 0, ws = 0;
    for (int i = 0; i < 4; i++) {
        const probe_conv *p = &g_pconv[i];
        UNET_TRY(unet_tensor_alloc(ctx, &b->in[i], p->cin, p->hw, p->hw, "CPU tuning input"));
        UNET_TRY(unet_tensor_alloc(ctx, &b->out[i], p->cout, p->hw - 2, p->hw - 2, "CPU tuning output"));
        UNET_TRY(fill_random(ctx, b->in[i].mem, unet_tensor_count(&b->in[i]), 3 + (uint64_t)i));
        /* also the weight gradient's output gradient (before any forward probe) */
        UNET_TRY(fill_random(ctx, b->out[i].mem, unet_tensor_count(&b->out[i]), 13 + (uint64_t)i));
        if ((size_t)p->cin * p->cout * 9 > wmax) wmax = (size_t)p->cin * p->cout * 9;
        /* room for all tile rows at either transform width */
        unet_knobs save = ctx->knobs;
        for (int tw = 8; tw <= 16; tw += 8) {
            ctx->knobs.wino_tw = tw;
            size_t f = unet_conv_winograd_workspace_floats(ctx, p->cin, p->cout, p->hw, p->hw, (p->hw - 2 + 3) / 4);
            if (f > ws) ws = f;
        }
        ctx->knobs = save;
        /* the weight gradient's probes: the network's workspace rule */
        const size_t fw = unet_conv_workspace_floats(p->cin, p->hw, p->hw, 3, (size_t)192 << 20);
        if (fw != (size_t)-1 && fw > ws) ws = fw;
    }
    b->ws_floats = ws;
    UNET_TRY(unet_buffer_alloc(ctx, &b->ws, ws * 4, "CPU tuning workspace"));
    UNET_TRY(unet_buffer_alloc(ctx, &b->w, wmax * 4, "CPU tuning weights"));
    UNET_TRY(unet_buffer_alloc(ctx, &b->dw, wmax * 4, "CPU tuning weight gradient"));
    UNET_TRY(unet_buffer_alloc(ctx, &b->bias, 512 * 4, "CPU tuning bias"));
    UNET_TRY(fill_random(ctx, b->w, wmax, 7));
    UNET_TRY(fill_random(ctx, b->bias, 512, 8));
    return UNET_OK;
}

/* One pass over the probes of a group (0: GEMM, 1: Winograd forward, 2: the
 * weight gradient of the first three Winograd shapes, with the algorithm the
 * network would choose; the fourth is below the weight gradient's Winograd
 * threshold); seconds. */
static unet_status probe_pass(unet_context *ctx, tune_bufs *b, int group, double *sec)
{
    double t0 = unet_now_s();
    if (group == 0) {
        for (size_t i = 0; i < sizeof g_pgemm / sizeof *g_pgemm; i++) {
            const probe_gemm *g = &g_pgemm[i];
            UNET_TRY(unet_gemm_with(ctx, UNET_GEMM_CPU, g->ta, g->tb, g->m, g->n, g->k, 1.0f, b->a, 0,
                                    g->ta ? g->m : g->k, b->b, 0, g->tb ? g->k : g->n, 0.0f, b->c, 0, g->n));
        }
    } else if (group == 1) {
        for (int i = 0; i < 4; i++) {
            unet_slice w = {b->w, 0}, bias = {b->bias, 0};
            UNET_TRY(unet_conv_forward_algo(ctx, UNET_CONV_WINOGRAD_F4, &b->in[i], w, bias, 3, 1, &b->out[i], b->ws,
                                            b->ws_floats));
        }
    } else {
        for (int i = 0; i < 3; i++) {
            unet_slice w = {b->w, 0}, dw = {b->dw, 0};
            UNET_TRY(unet_conv_linear_backward_algo(ctx, UNET_CONV_WINOGRAD_F4, &b->in[i], &b->out[i], w, 3, NULL, 0,
                                                    dw, 0, b->ws, b->ws_floats));
        }
    }
    UNET_TRY(unet_finish(ctx));
    *sec = unet_now_s() - t0;
    return UNET_OK;
}


/* Paired, interleaved timing of two settings of the tuned knobs (whole value
 * sets, applied to ctx->knobs before each pass): a warm-up pass of each, then
 * PAIRS rounds of "incumbent pass, candidate pass". Each side's figure is
 * its fastest pass: on a shared host contention only ever adds time, and
 * alternating the two means a slow stretch of the host hits both alike
 * (before, a candidate timed now was compared with the incumbent's median
 * timed minutes earlier, and the search chased the host's noise: its one
 * result made real inference 1.9x slower). *wins: rounds the candidate won.
 * Leaves the incumbent applied. */
#define PAIRS 4
static unet_status measure_pair(unet_context *ctx, tune_bufs *b, int group, const unet_cpu_tuning *inc,
                                const unet_cpu_tuning *cand, double *ms_inc, double *ms_cand, int *wins)
{
    double w, a = 1e30, c = 1e30;
    *wins = 0;
    unet_cpu_tuning_apply(&ctx->knobs, inc);
    UNET_TRY(probe_pass(ctx, b, group, &w));
    unet_cpu_tuning_apply(&ctx->knobs, cand);
    UNET_TRY(probe_pass(ctx, b, group, &w));
    for (int r = 0; r < PAIRS; r++) {
        double ta, tc;
        unet_cpu_tuning_apply(&ctx->knobs, inc);
        UNET_TRY(probe_pass(ctx, b, group, &ta));
        unet_cpu_tuning_apply(&ctx->knobs, cand);
        UNET_TRY(probe_pass(ctx, b, group, &tc));
        *wins += tc < ta;
        a = ta < a ? ta : a;
        c = tc < c ? tc : c;
    }
    unet_cpu_tuning_apply(&ctx->knobs, inc);
    *ms_inc = a * 1e3;
    *ms_cand = c * 1e3;
    return UNET_OK;
}

/* Passes a line to progress; UNET_ERR_INTERRUPTED (with a message) when it cancels. */
static unet_status say(unet_cpu_tune_progress progress, void *user, double start, double budget_s, const char *fmt,
                       ...)
{
    if (!progress) return UNET_OK;
    char line[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    double f = budget_s > 0 ? (unet_now_s() - start) / budget_s : 1;
    if (f > 1) f = 1;
    if (progress(user, line, f) != 0) return unet_seterr(UNET_ERR_INTERRUPTED, "CPU tuning: cancelled");
    return UNET_OK;
}

unet_status unet_cpu_tune_search(unet_context *ctx, double budget_s, unet_cpu_tune_progress progress, void *user,
                                 unet_cpu_tuning *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->device, sizeof t->device, "%s", ctx->info.name);
    snprintf(t->vendor, sizeof t->vendor, "%s", ctx->info.vendor);
    snprintf(t->platform, sizeof t->platform, "%s", ctx->info.platform_name);
    snprintf(t->driver, sizeof t->driver, "%s", ctx->info.driver_version);
    const double start = unet_now_s();
    const unet_knobs before = ctx->knobs;
    /* start from the built-in values (for knobs not set in the environment) */
    unet_cpu_tuning base;
    memset(&base, 0, sizeof base);
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) base.values[i] = g_builtin[i];
    unet_cpu_tuning_apply(&ctx->knobs, &base);
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) {
        char v[32];
        unet_knob_get(&ctx->knobs, unet_cpu_tuned_knobs[i], v, sizeof v);
        t->values[i] = strtol(v, NULL, 10);
    }
    tune_bufs b;
    unet_status st = bufs_make(ctx, &b);
    const unet_cpu_tuning start_values = *t; /* the defaults the search starts from */
    int tried = 0, skipped = 0;
    if (st == UNET_OK) {
        int ncand = 0;
        for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) {
            const long *vals;
            ncand += unet_cpu_tune_candidates(i, &vals) - 1;
        }
        st = say(progress, user, start, budget_s,
                 "%d knobs, %d other settings, each timed against the current best in %d interleaved pairs",
                 UNET_CPU_TUNED_KNOBS, ncand, PAIRS);
    }
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS && st == UNET_OK; i++) {
        const int g = g_group[i];
        int bit = -1;
        for (int j = 0; j < unet_knob_count(); j++)
            if (!strcmp(unet_knob_name(j), unet_cpu_tuned_knobs[i])) bit = j;
        if (bit >= 0 && (ctx->knobs.from_env & (1UL << bit))) {
            st = say(progress, user, start, budget_s, "%s: set in the environment, not searched",
                     unet_cpu_tuned_knobs[i]);
            continue;
        }
        const long *vals;
        const int nv = unet_cpu_tune_candidates(i, &vals);
        for (int v = 0; v < nv && st == UNET_OK; v++) {
            if (vals[v] == t->values[i]) continue;
            if (unet_now_s() - start > budget_s) {
                skipped++;
                continue;
            }
            unet_cpu_tuning cand = *t;
            cand.values[i] = vals[v];
            double ms_inc = 0, ms = 0;
            int wins = 0;
            st = measure_pair(ctx, &b, g, t, &cand, &ms_inc, &ms, &wins);
            tried++;
            /* faster by the margin on the fastest passes and in most rounds */
            const int better = st == UNET_OK && ms < 0.95 * ms_inc && wins >= PAIRS - 1;
            if (st == UNET_OK)
                st = say(progress, user, start, budget_s, "%s = %-6ld %8.1f ms against %.1f ms, faster in %d of %d rounds%s",
                         unet_cpu_tuned_knobs[i], vals[v], ms, ms_inc, wins, PAIRS, better ? "  (taken)" : "");
            if (better) t->values[i] = vals[v];
        }
    }
    /* the result against the defaults, interleaved, per probe group */
    static const char *const gname[NGROUPS] = {"GEMM", "Winograd", "weight-gradient"};
    double dflt[NGROUPS] = {0}, tuned[NGROUPS] = {0};
    for (int g = 0; g < NGROUPS && st == UNET_OK; g++) {
        int wins = 0;
        int changed = 0;
        for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++)
            changed |= g_group[i] == g && t->values[i] != start_values.values[i];
        if (!changed) continue;
        st = measure_pair(ctx, &b, g, &start_values, t, &dflt[g], &tuned[g], &wins);
        if (st != UNET_OK) break;
        st = say(progress, user, start, budget_s,
                 "%s probes: %.1f ms with the defaults, %.1f ms tuned (faster in %d of %d rounds)", gname[g],
                 dflt[g], tuned[g], wins, PAIRS);
        if (st != UNET_OK) break;
        /* what does not beat the defaults side by side at the end is not kept */
        if (tuned[g] >= dflt[g]) {
            for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++)
                if (g_group[i] == g) t->values[i] = start_values.values[i];
            tuned[g] = dflt[g];
            st = say(progress, user, start, budget_s, "%s: not faster than the defaults side by side, the defaults are kept",
                     gname[g]);
        }
    }
    /* groups left at their defaults: one pass each for the totals */
    for (int g = 0; g < NGROUPS && st == UNET_OK; g++) {
        if (dflt[g] > 0) continue;
        double a = 0, c = 0;
        int wins = 0;
        st = measure_pair(ctx, &b, g, &start_values, &start_values, &a, &c, &wins);
        dflt[g] = tuned[g] = a < c ? a : c;
        if (st == UNET_OK)
            st = say(progress, user, start, budget_s, "%s probes: %.1f ms with the defaults (kept)", gname[g],
                     dflt[g]);
    }
    unet_cpu_tuning_apply(&ctx->knobs, t);
    bufs_free(&b);
    if (st != UNET_OK) {
        ctx->knobs = before;
        return st;
    }
    t->default_ms = dflt[0] + dflt[1] + dflt[2];
    t->tuned_ms = tuned[0] + tuned[1] + tuned[2];
    snprintf(t->method, sizeof t->method,
             "coordinate descent, %d settings in %.0f s (budget %.0f s%s), %d interleaved pairs, fastest pass, "
             "5 %% margin, %d of %d pairs",
             tried, unet_now_s() - start, budget_s, skipped ? ", cut short" : "", PAIRS, PAIRS - 1, PAIRS);
    st = say(progress, user, start, -1, "probe total %.1f ms with the defaults, %.1f ms tuned (%.2fx)", t->default_ms,
             t->tuned_ms, t->tuned_ms > 0 ? t->default_ms / t->tuned_ms : 0.0);
    if (st != UNET_OK) ctx->knobs = before;
    return st;
}

static int to_stderr(void *user, const char *line, double fraction)
{
    (void)user;
    (void)fraction;
    fprintf(stderr, "unetcl: tuning: %s\n", line);
    return 0;
}

void unet_cpu_tune_first_use(unet_context *ctx)
{
    if (ctx->info.type != UNET_DEVICE_CPU || ctx->cpu_tuning == UNET_CPU_TUNING_FILE ||
        ctx->cpu_tuning == UNET_CPU_TUNING_SEARCHED || ctx->knobs.cpu_tune_seconds <= 0 || ctx->cpu_tune_busy)
        return;
    ctx->cpu_tune_busy = 1;
    char path[1100];
    unet_cpu_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    fprintf(stderr,
            "unetcl: tuning the CPU kernels for %s once (at most %ld s; the result goes to %s; "
            "`unetcl tune --cpu` redoes it, UNETCL_CPU_TUNE=0 skips it)\n",
            ctx->info.name, ctx->knobs.cpu_tune_seconds, path);
    const unet_knobs before = ctx->knobs;
    unet_cpu_tuning t;
    unet_status st = unet_cpu_tune_search(ctx, (double)ctx->knobs.cpu_tune_seconds, to_stderr, NULL, &t);
    if (st == UNET_OK) st = unet_cpu_tuning_write(path, &t);
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl: CPU tuning not kept: %s\n", unet_last_error());
        ctx->knobs = before;
    } else {
        ctx->knobs = before;
        unet_cpu_tuning_apply(&ctx->knobs, &t);
        ctx->cpu_tuning = UNET_CPU_TUNING_SEARCHED;
        snprintf(ctx->cpu_tuning_why, sizeof ctx->cpu_tuning_why, "%s", path);
    }
    ctx->cpu_tune_busy = 0;
}
