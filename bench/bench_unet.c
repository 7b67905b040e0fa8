/* bench_unet: 512x512 inference latency (cold and warm) and a training step
 * of the U-Net on every OpenCL device or a chosen one, with GFLOP/s by the
 * paper-network FLOP count, share of the device's measured FMA peak, the
 * planned device memory and per-layer times. Writes JSON with --json. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include "unetcl/unetcl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


typedef struct opts {
    const char *device;
    int size, tile, runs, warmup, train_tile, train_runs, profile, cold;
    int fp16, gpu_kernels; /* [device] precision = fp16; force unetcl's GPU convolution kernels */
    unet_model_config model;
    const char *json;
    const char *ab; /* --ab NAME=A,B: two contexts, knob NAME = A and = B, runs alternated */
} opts;

static void usage(void)
{
    printf("usage: bench_unet [options]\n"
           "  --device SEL     device selector (index, gpu, cpu, name) or 'all' (default: all)\n"
           "  --size N         image size for inference (default 512)\n"
           "  --tile T         inference tile (default: the smallest valid tile covering the image)\n"
           "  --runs N         timed warm runs (default 5), median reported\n"
           "  --warmup N       untimed warm-up runs (default 1)\n"
           "  --train-tile T   training step tile (default 572; 0 = skip)\n"
           "  --train-runs N   timed training steps (default 3)\n"
           "  --depth D --base B --classes K --in-channels C   model (default: the paper's)\n"
           "  --profile        per-layer times (inference forward; training forward + backward)\n"
           "  --no-cold        skip the cold run (fresh program cache)\n"
           "  --precision P    fp32 (default) or fp16 ([device] precision, docs/gpu.md)\n"
           "  --gpu-kernels    force unetcl's GPU convolution kernels (as UNETCL_GPU_KERNELS=1)\n"
           "  --json FILE      write results as JSON\n"
           "  --ab NAME=A,B    A/B of a knob (docs/knobs.md) in one process: two contexts created with\n"
           "                   NAME=A and NAME=B in the environment, their inference runs and training\n"
           "                   steps alternated (--runs, --train-runs pairs); medians and the median of\n"
           "                   the per-pair ratios B/A (less exposed to a shared host's drift than two\n"
           "                   processes one after the other)\n");
}

/* Measured memory on CPU devices (the device's buffers are host memory): the
 * process's resident set (VmRSS, VmHWM of /proc/self/status, KiB); the peak is
 * reset by writing 5 to /proc/self/clear_refs. -1 where unavailable. */
static long status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    const size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = atol(line + n + 1);
            break;
        }
    fclose(f);
    return v;
}

static void peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static const char *devtype(unet_device_type t)
{
    return t == UNET_DEVICE_GPU ? "gpu" : t == UNET_DEVICE_CPU ? "cpu" : "other";
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_unet: %s: %s\n", what, unet_last_error());
    return 1;
}

/* The benchmark's inputs, the same for every run and side: a smooth
 * in_channels x size x size image; for a training tile (plan ti) the input,
 * class labels in stripes and unit weights. NULL / -1 when out of memory. */
static float *make_image(const opts *o)
{
    const size_t n = (size_t)o->model.in_channels * o->size * o->size;
    float *img = malloc(n * sizeof(float));
    if (img)
        for (size_t i = 0; i < n; i++) img[i] = (float)sin(0.01 * (double)i) * 0.5f;
    return img;
}

static int make_train_data(const opts *o, const unet_plan_info *ti, float **x, float **w, int32_t **lab)
{
    const size_t nin = (size_t)o->model.in_channels * o->train_tile * o->train_tile;
    const size_t nout = (size_t)ti->out_h * ti->out_w;
    *x = malloc(nin * 4), *w = malloc(nout * 4), *lab = malloc(nout * 4);
    if (!*x || !*w || !*lab) {
        free(*x), free(*w), free(*lab);
        *x = *w = NULL, *lab = NULL;
        fprintf(stderr, "bench_unet: out of host memory\n");
        return -1;
    }
    for (size_t i = 0; i < nin; i++) (*x)[i] = (float)sin(0.013 * (double)i);
    for (size_t i = 0; i < nout; i++) (*lab)[i] = (int32_t)((i / 7) % (size_t)o->model.classes), (*w)[i] = 1.0f;
    return 0;
}

static int bench_device(const opts *o, const char *sel, FILE *json, int first)
{
    unet_context_options co;
    unet_context_options_default(&co);
    co.device = sel;
    /* --profile: a profiling queue, so per-layer times come with the
     * execution time of their commands from OpenCL profiling events */
    co.enable_profiling = o->profile;
    co.precision_fp16 = o->fp16;
    co.force_gpu_kernels = o->gpu_kernels;
    char cold_dir[256];
    snprintf(cold_dir, sizeof cold_dir, "/tmp/unetcl-bench-cold-%ld", (long)getpid());
    unet_context *ctx;
    unet_device_info info;
    double cold_s = -1;
    float *img = make_image(o);
    float *probs = malloc((size_t)o->model.classes * o->size * o->size * sizeof(float));
    if (!img || !probs) {
        free(img), free(probs);
        fprintf(stderr, "bench_unet: out of host memory\n");
        return 1;
    }
    int tile = o->tile ? o->tile : unet_tile_for_output(&o->model, o->size);

    if (o->cold) {
        /* cold: new context, empty program cache, model, plan, first image */
        co.cache_dir = cold_dir;
        co.disable_cache = 1;
        double t0 = bench_now_s();
        if (unet_context_create(&co, &ctx) != UNET_OK) return fail("context");
        unet_model *m;
        unet_net *n;
        if (unet_model_create(ctx, &o->model, 1, &m) != UNET_OK) return fail("model");
        if (unet_net_create(m, tile, tile, 0, &n) != UNET_OK) return fail("plan");
        if (unet_predict_image(n, img, o->size, o->size, probs, NULL, NULL) != UNET_OK) return fail("cold inference");
        cold_s = bench_now_s() - t0;
        unet_net_destroy(n);
        unet_model_destroy(m);
        unet_context_destroy(ctx);
        co.disable_cache = 0;
        co.cache_dir = NULL;
    }
    if (unet_context_create(&co, &ctx) != UNET_OK) return fail("context");
    unet_context_device_info(ctx, &info);
    double peak = 0;
    if (unet_measure_peak_gflops(ctx, &peak) != UNET_OK) return fail("peak probe");
    unet_model *m;
    unet_net *n;
    /* measured peak: resident-set growth from here (before the model) */
    const int measure = info.type == UNET_DEVICE_CPU;
    const long rss0 = measure ? status_kib("VmRSS") : -1;
    peak_reset();
    if (unet_model_create(ctx, &o->model, 1, &m) != UNET_OK) return fail("model");
    if (unet_net_create(m, tile, tile, 0, &n) != UNET_OK) return fail("plan");
    const unet_plan_info *pi = unet_net_info(n);
    int align = 1 << (o->model.depth - 1);
    int stride = pi->out_h / align * align;
    int tiles_axis = (o->size + stride - 1) / stride;
    double flops = pi->forward_flops * tiles_axis * tiles_axis;
    for (int i = 0; i < o->warmup; i++)
        if (unet_predict_image(n, img, o->size, o->size, probs, NULL, NULL) != UNET_OK) return fail("inference");
    double *t = calloc((size_t)o->runs, sizeof *t);
    for (int i = 0; i < o->runs; i++) {
        double t0 = bench_now_s();
        if (unet_predict_image(n, img, o->size, o->size, probs, NULL, NULL) != UNET_OK) return fail("inference");
        t[i] = bench_now_s() - t0;
    }
    double tmin = t[0];
    for (int i = 1; i < o->runs; i++) tmin = t[i] < tmin ? t[i] : tmin;
    double *t_all = malloc((size_t)o->runs * sizeof *t_all); /* in their order, for the JSON */
    if (t_all) memcpy(t_all, t, (size_t)o->runs * sizeof *t_all);
    double tmed = bench_median(t, o->runs);
    printf("\ndevice [%d] %s (%s, %s)\n", info.index, info.name, devtype(info.type), info.driver_version);
    printf("  measured FMA peak          %9.1f GFLOP/s\n", peak);
    printf("  inference %dx%d, tile %d (output %d, %d tile%s, %.1f GFLOP)\n", o->size, o->size, tile, pi->out_h,
           tiles_axis * tiles_axis, tiles_axis * tiles_axis > 1 ? "s" : "", flops * 1e-9);
    if (cold_s >= 0) printf("    cold (compile + first image) %9.1f ms\n", cold_s * 1e3);
    /* by the direct-convolution FLOP count: Winograd does fewer multiplications,
     * so the share can exceed 100 % */
    printf("    warm median of %d        %9.1f ms   (min %.1f ms)   %.1f GFLOP/s = %.0f%% of peak (direct-conv FLOPs)\n", o->runs,
           tmed * 1e3, tmin * 1e3, flops / tmed * 1e-9, 100.0 * flops / tmed * 1e-9 / peak);
    const long hwm_inf = measure ? status_kib("VmHWM") : -1;
    const double meas_inf = (rss0 >= 0 && hwm_inf >= 0) ? (hwm_inf - rss0) / 1024.0 : -1;
    const double pack_inf = unet_gemm_cpu_pack_bytes(ctx) / 1048576.0;
    printf("    planned device memory    %9.1f MiB (activation arenas %.1f of %.1f without reuse, parameters and "
           "weight caches %.1f, workspace %.1f, GEMM packs %.1f)\n",
           pi->total_bytes / 1048576.0, pi->activation_bytes / 1048576.0, pi->unshared_bytes / 1048576.0,
           pi->parameter_bytes / 1048576.0, pi->workspace_bytes / 1048576.0, pi->gemm_pack_bytes / 1048576.0);
    if (pi->blas_temp_bytes)
        printf("    CLBlast temporaries      %9.1f MiB (in the plan: one buffer, the largest one GEMM needs)\n",
               pi->blas_temp_bytes / 1048576.0);
    if (meas_inf >= 0)
        printf("    measured peak            %9.1f MiB (resident-set growth since before the model; GEMM packs "
               "%.1f MiB)\n", meas_inf, pack_inf);

    if (o->profile) {
        unet_net_set_profiling(n, 1);
        if (unet_predict_image(n, img, o->size, o->size, probs, NULL, NULL) != UNET_OK) return fail("profile");
        const char *name;
        double sec;
        int calls;
        double total = 0;
        for (int i = 0; unet_net_profile(n, i, &name, &sec, &calls); i++) total += sec;
        printf("  per-layer forward times (one image; wall, and the commands' execution from profiling events):\n");
        for (int i = 0; unet_net_profile(n, i, &name, &sec, &calls); i++)
            printf("    %-14s %8.1f ms  %5.1f%%   events %8.1f ms\n", name, sec * 1e3, 100 * sec / total,
                   unet_net_profile_device(n, i) * 1e3);
        unet_net_set_profiling(n, 0);
    }
    unet_net_destroy(n);

    double tr_med = -1, tr_min = -1, tr_flops = 0, meas_tr = -1, *tr_all = NULL;
    uint64_t tr_mem = 0;
    if (o->train_tile > 0) {
        peak_reset();
        unet_net *tn;
        if (unet_net_create(m, o->train_tile, o->train_tile, 1, &tn) != UNET_OK) return fail("training plan");
        const unet_plan_info *ti = unet_net_info(tn);
        float *x, *w;
        int32_t *lab;
        if (make_train_data(o, ti, &x, &w, &lab) != 0) return 1;
        unet_step_result r;
        /* two untimed steps: the second still paid one-time costs on PoCL
         * (measured: 8.1 s, then 4.3-4.4 s for the steps after it) */
        for (int i = 0; i < 2; i++)
            if (unet_net_loss_backward(tn, x, lab, w, 1, &r) != UNET_OK ||
                unet_model_sgd(m, 1e-4f, 0.99f, 0) != UNET_OK || unet_finish(ctx) != UNET_OK)
                return fail("training step");
        double *tt = calloc((size_t)o->train_runs, sizeof *tt);
        for (int i = 0; i < o->train_runs; i++) {
            double t0 = bench_now_s();
            if (unet_net_loss_backward(tn, x, lab, w, 2 + i, &r) != UNET_OK || unet_model_sgd(m, 1e-4f, 0.99f, 0) != UNET_OK ||
                unet_finish(ctx) != UNET_OK)
                return fail("training step");
            tt[i] = bench_now_s() - t0;
        }
        /* the runs in their order, for the JSON (bench_median sorts) */
        tr_all = malloc((size_t)o->train_runs * sizeof *tr_all);
        if (tr_all) memcpy(tr_all, tt, (size_t)o->train_runs * sizeof *tr_all);
        tr_med = bench_median(tt, o->train_runs);
        tr_min = tt[0]; /* sorted */
        if (o->profile) {
            /* one more step, every layer waited for */
            unet_net_set_profiling(tn, 1);
            double t0 = bench_now_s();
            if (unet_net_loss_backward(tn, x, lab, w, 99, &r) != UNET_OK) return fail("training step");
            const double lb = bench_now_s() - t0;
            t0 = bench_now_s();
            if (unet_model_sgd(m, 1e-4f, 0.99f, 0) != UNET_OK || unet_finish(ctx) != UNET_OK) return fail("SGD");
            const double sgd = bench_now_s() - t0;
            const char *name;
            double sec, total = 0;
            int calls;
            for (int i = 0; unet_net_profile(tn, i, &name, &sec, &calls); i++) total += sec;
            printf("  per-layer training-step times (forward, backward; loss %.1f ms, SGD %.1f ms, step %.1f ms):\n",
                   (lb - total) * 1e3, sgd * 1e3, (lb + sgd) * 1e3);
            for (int i = 0; unet_net_profile(tn, i, &name, &sec, &calls); i++)
                printf("    %-18s %8.1f ms  %5.1f%%   events %8.1f ms\n", name, sec * 1e3, 100 * sec / (lb + sgd),
                       unet_net_profile_device(tn, i) * 1e3);
            unet_net_set_profiling(tn, 0);
        }
        tr_flops = 3.0 * ti->forward_flops;
        tr_mem = ti->total_bytes;
        printf("  training step %dx%d (forward+backward+SGD, ~%.0f GFLOP)\n", o->train_tile, o->train_tile,
               tr_flops * 1e-9);
        printf("    median of %d             %9.1f ms   %.1f GFLOP/s\n", o->train_runs, tr_med * 1e3,
               tr_flops / tr_med * 1e-9);
        printf("    planned device memory    %9.1f MiB (activation and gradient arenas %.1f of %.1f without reuse, "
               "parameters %.1f, workspace %.1f, GEMM packs %.1f)\n",
               tr_mem / 1048576.0, ti->activation_bytes / 1048576.0, ti->unshared_bytes / 1048576.0,
               ti->parameter_bytes / 1048576.0, ti->workspace_bytes / 1048576.0, ti->gemm_pack_bytes / 1048576.0);
        if (ti->blas_temp_bytes)
            printf("    CLBlast temporaries      %9.1f MiB (in the plan: one buffer, the largest one GEMM needs)\n",
                   ti->blas_temp_bytes / 1048576.0);
        const long hwm_tr = measure ? status_kib("VmHWM") : -1;
        if (rss0 >= 0 && hwm_tr >= 0) {
            meas_tr = (hwm_tr - rss0) / 1024.0;
            printf("    measured peak            %9.1f MiB (resident-set growth since before the model; GEMM packs "
                   "%.1f MiB)\n", meas_tr, unet_gemm_cpu_pack_bytes(ctx) / 1048576.0);
        }
        free(tt);
        free(x);
        free(w);
        free(lab);
        unet_net_destroy(tn);
    }
    if (json) {
        fprintf(json,
                "%s  {\"device\": \"%s\", \"type\": \"%s\", \"driver\": \"%s\", \"peak_gflops\": %.1f,\n"
                "   \"image\": %d, \"tile\": %d, \"tiles\": %d, \"gflop\": %.2f, \"cold_ms\": %.1f,\n"
                "   \"warm_median_ms\": %.2f, \"warm_min_ms\": %.2f, \"runs\": %d, \"gflops\": %.1f,\n"
                "   \"infer_device_bytes\": %llu, \"train_tile\": %d, \"train_step_median_ms\": %.1f,\n"
                "   \"train_gflops\": %.1f, \"train_device_bytes\": %llu, \"precision\": \"%s\", \"gpu_kernels\": %d,\n"
                "   \"infer_measured_peak_mib\": %.1f, \"train_measured_peak_mib\": %.1f,\n"
                "   \"train_step_min_ms\": %.1f, \"infer_runs_ms\": [",
                first ? "" : ",\n", info.name, devtype(info.type), info.driver_version, peak, o->size, tile,
                tiles_axis * tiles_axis, flops * 1e-9, cold_s * 1e3, tmed * 1e3, tmin * 1e3, o->runs,
                flops / tmed * 1e-9, (unsigned long long)pi->total_bytes, o->train_tile, tr_med * 1e3,
                tr_med > 0 ? tr_flops / tr_med * 1e-9 : 0.0, (unsigned long long)tr_mem, o->fp16 ? "fp16" : "fp32",
                o->gpu_kernels, meas_inf, meas_tr, tr_min * 1e3);
        for (int i = 0; t_all && i < o->runs; i++) fprintf(json, "%s%.1f", i ? ", " : "", t_all[i] * 1e3);
        fprintf(json, "], \"train_runs_ms\": [");
        for (int i = 0; tr_all && i < o->train_runs; i++) fprintf(json, "%s%.1f", i ? ", " : "", tr_all[i] * 1e3);
        fprintf(json, "]}");
    }
    free(tr_all);
    free(t_all);
    free(t);
    free(img);
    free(probs);
    unet_model_destroy(m);
    unet_context_destroy(ctx);
    return 0;
}


/* --ab NAME=A,B: one context, model (same initial weights), inference plan
 * and training plan per side, the knob set in the environment while the
 * side's context is created (contexts read knobs once); then the runs
 * alternate A, B, B, A, ... so that both sides see the same drift of a shared
 * host. Prints the medians and the median of the per-pair ratios B/A. */
typedef struct ab_side {
    unet_context *ctx;
    unet_model *m;
    unet_net *n, *tn;
} ab_side;

static int ratio_cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int ab_compare(const opts *o, const char *sel)
{
    char name[128], val[2][64];
    const char *eq = strchr(o->ab, '='), *comma = eq ? strchr(eq + 1, ',') : NULL;
    if (!eq || !comma || eq == o->ab || (size_t)(eq - o->ab) >= sizeof name || strlen(eq + 1) >= sizeof val[0]) {
        fprintf(stderr, "bench_unet: --ab needs NAME=A,B (e.g. UNETCL_WINO_TW=0,16)\n");
        return 2;
    }
    snprintf(name, sizeof name, "%.*s", (int)(eq - o->ab), o->ab);
    snprintf(val[0], sizeof val[0], "%.*s", (int)(comma - eq - 1), eq + 1);
    snprintf(val[1], sizeof val[1], "%s", comma + 1);
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    ab_side sd[2] = {{0}};
    int rc = 1;
    const int tile = o->tile ? o->tile : unet_tile_for_output(&o->model, o->size);
    float *img = make_image(o), *probs = malloc((size_t)o->model.classes * o->size * o->size * 4);
    float *x = NULL, *w = NULL;
    int32_t *lab = NULL;
    double *t[2] = {calloc((size_t)o->runs, sizeof(double)), calloc((size_t)o->runs, sizeof(double))};
    double *tt[2] = {calloc((size_t)o->train_runs, sizeof(double)), calloc((size_t)o->train_runs, sizeof(double))};
    double *ri = calloc((size_t)o->runs, sizeof(double)), *rt = calloc((size_t)o->train_runs, sizeof(double));
    if (!img || !probs || !t[0] || !t[1] || !tt[0] || !tt[1] || !ri || !rt) {
        fprintf(stderr, "bench_unet: out of host memory\n");
        goto done;
    }
    for (int s = 0; s < 2; s++) {
        unet_context_options co;
        unet_context_options_default(&co);
        co.device = sel;
        co.precision_fp16 = o->fp16;
        co.force_gpu_kernels = o->gpu_kernels;
        setenv(name, val[s], 1);
        const unet_status st = unet_context_create(&co, &sd[s].ctx);
        if (saved) setenv(name, saved, 1);
        else unsetenv(name);
        if (st != UNET_OK) {
            fail("context");
            goto done;
        }
        if (unet_model_create(sd[s].ctx, &o->model, 1, &sd[s].m) != UNET_OK ||
            unet_net_create(sd[s].m, tile, tile, 0, &sd[s].n) != UNET_OK) {
            fail("model or plan");
            goto done;
        }
        for (int i = 0; i < o->warmup; i++)
            if (unet_predict_image(sd[s].n, img, o->size, o->size, probs, NULL, NULL) != UNET_OK) {
                fail("inference");
                goto done;
            }
    }
    for (int i = 0; i < o->runs; i++)
        for (int k = 0; k < 2; k++) {
            const int s = (i & 1) ? 1 - k : k; /* A B, B A, ... */
            const double t0 = bench_now_s();
            if (unet_predict_image(sd[s].n, img, o->size, o->size, probs, NULL, NULL) != UNET_OK) {
                fail("inference");
                goto done;
            }
            t[s][i] = bench_now_s() - t0;
        }
    for (int s = 0; s < 2; s++) {
        unet_net_destroy(sd[s].n);
        sd[s].n = NULL;
    }
    if (o->train_tile > 0) {
        for (int s = 0; s < 2; s++)
            if (unet_net_create(sd[s].m, o->train_tile, o->train_tile, 1, &sd[s].tn) != UNET_OK) {
                fail("training plan");
                goto done;
            }
        const unet_plan_info *ti = unet_net_info(sd[0].tn);
        if (make_train_data(o, ti, &x, &w, &lab) != 0) goto done;
        unet_step_result r;
        for (int i = 0; i < 2 + o->train_runs; i++)
            for (int k = 0; k < 2; k++) {
                const int s = (i & 1) ? 1 - k : k;
                const double t0 = bench_now_s();
                if (unet_net_loss_backward(sd[s].tn, x, lab, w, 1 + i, &r) != UNET_OK ||
                    unet_model_sgd(sd[s].m, 1e-4f, 0.99f, 0) != UNET_OK || unet_finish(sd[s].ctx) != UNET_OK) {
                    fail("training step");
                    goto done;
                }
                if (i >= 2) tt[s][i - 2] = bench_now_s() - t0; /* two untimed steps each, as above */
            }
    }
    printf("A/B in one process, %s = %s (A) | %s (B), device %s, runs alternated A B, B A, ...\n", name, val[0],
           val[1], sel);
    for (int i = 0; i < o->runs; i++) ri[i] = t[1][i] / t[0][i];
    qsort(ri, (size_t)o->runs, sizeof *ri, ratio_cmp);
    printf("  inference %dx%d, tile %d: A median %.1f ms, B median %.1f ms; B/A per pair: median %.3f (%.3f .. %.3f, "
           "%d pairs)\n", o->size, o->size, tile, bench_median(t[0], o->runs) * 1e3, bench_median(t[1], o->runs) * 1e3,
           bench_median(ri, o->runs), ri[0], ri[o->runs - 1], o->runs);
    if (o->train_tile > 0) {
        for (int i = 0; i < o->train_runs; i++) rt[i] = tt[1][i] / tt[0][i];
        qsort(rt, (size_t)o->train_runs, sizeof *rt, ratio_cmp);
        printf("  training step %d: A median %.1f ms, B median %.1f ms; B/A per pair: median %.3f (%.3f .. %.3f, "
               "%d pairs)\n", o->train_tile, bench_median(tt[0], o->train_runs) * 1e3,
               bench_median(tt[1], o->train_runs) * 1e3, bench_median(rt, o->train_runs), rt[0],
               rt[o->train_runs - 1], o->train_runs);
    }
    rc = 0;
done:
    for (int s = 0; s < 2; s++) {
        if (sd[s].n) unet_net_destroy(sd[s].n);
        if (sd[s].tn) unet_net_destroy(sd[s].tn);
        if (sd[s].m) unet_model_destroy(sd[s].m);
        if (sd[s].ctx) unet_context_destroy(sd[s].ctx);
        free(t[s]), free(tt[s]);
    }
    free(saved), free(img), free(probs), free(x), free(w), free(lab), free(ri), free(rt);
    return rc;
}

int main(int argc, char **argv)
{
    opts o = {.device = "all", .size = 512, .runs = 5, .warmup = 1, .train_tile = 572, .train_runs = 3, .cold = 1};
    unet_model_config_default(&o.model);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                          \
    do {                                                                 \
        if (!v) {                                                        \
            fprintf(stderr, "bench_unet: %s needs a value\n", a);        \
            return 2;                                                    \
        }                                                                \
        i++;                                                             \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--device")) { NEEDV(); o.device = v; }
        else if (!strcmp(a, "--size")) { NEEDV(); o.size = atoi(v); }
        else if (!strcmp(a, "--tile")) { NEEDV(); o.tile = atoi(v); }
        else if (!strcmp(a, "--runs")) { NEEDV(); o.runs = atoi(v); }
        else if (!strcmp(a, "--warmup")) { NEEDV(); o.warmup = atoi(v); }
        else if (!strcmp(a, "--train-tile")) { NEEDV(); o.train_tile = atoi(v); }
        else if (!strcmp(a, "--train-runs")) { NEEDV(); o.train_runs = atoi(v); }
        else if (!strcmp(a, "--depth")) { NEEDV(); o.model.depth = atoi(v); }
        else if (!strcmp(a, "--base")) { NEEDV(); o.model.base_channels = atoi(v); }
        else if (!strcmp(a, "--classes")) { NEEDV(); o.model.classes = atoi(v); }
        else if (!strcmp(a, "--in-channels")) { NEEDV(); o.model.in_channels = atoi(v); }
        else if (!strcmp(a, "--json")) { NEEDV(); o.json = v; }
        else if (!strcmp(a, "--ab")) { NEEDV(); o.ab = v; }
        else if (!strcmp(a, "--gpu-kernels")) o.gpu_kernels = 1;
        else if (!strcmp(a, "--precision")) {
            NEEDV();
            if (strcmp(v, "fp16") && strcmp(v, "fp32")) {
                fprintf(stderr, "bench_unet: --precision must be fp32 or fp16\n");
                return 2;
            }
            o.fp16 = !strcmp(v, "fp16");
        }
        else if (!strcmp(a, "--profile")) o.profile = 1;
        else if (!strcmp(a, "--no-cold")) o.cold = 0;
        else {
            fprintf(stderr, "bench_unet: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (o.runs < 1 || o.size < 1 || o.train_runs < 1) {
        fprintf(stderr, "bench_unet: --runs, --train-runs and --size must be >= 1\n");
        return 2;
    }
    if (o.tile && unet_tile_check(&o.model, o.tile) != UNET_OK) return fail("--tile");
    if (o.ab) {
        if (!strcmp(o.device, "all")) {
            fprintf(stderr, "bench_unet: --ab needs one --device\n");
            return 2;
        }
        return ab_compare(&o, o.device);
    }
    FILE *json = NULL;
    if (o.json && !(json = fopen(o.json, "w"))) {
        perror(o.json);
        return 1;
    }
    if (json) fprintf(json, "{\"benchmark\": \"unet_inference_512\", \"results\": [\n");
    int rc = 0;
    if (!strcmp(o.device, "all")) {
        unet_device_info *d;
        int nd;
        if (unet_list_devices(&d, &nd) != UNET_OK) return fail("listing devices");
        if (nd == 0) {
            fprintf(stderr, "bench_unet: no OpenCL device (install pocl-opencl-icd for the CPU)\n");
            return 1;
        }
        for (int i = 0; i < nd && !rc; i++) {
            char sel[16];
            snprintf(sel, sizeof sel, "%d", i);
            rc = bench_device(&o, sel, json, i == 0);
        }
        free(d);
    } else {
        rc = bench_device(&o, o.device, json, 1);
    }
    if (json) {
        fprintf(json, "\n]}\n");
        fclose(json);
    }
    return rc;
}
