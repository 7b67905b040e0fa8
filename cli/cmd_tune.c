/* unetcl tune: tunes CLBlast's GEMM kernels for one device and writes the
 * device's tuning file into the cache folder (src/host/ocl/clblast_tune.h).
 *
 * 1. CLBlast's own parameters for Xgemm, XgemmDirect and GemmRoutine are read
 *    (clblast::RetrieveParameters) and CLBlast's auto-tuner
 *    (clblast::TuneXgemm / TuneXgemmDirect, a random fraction of the search
 *    space) is run, both in the separate executable unetcl-tune-helper: the
 *    tuner is C++-only, and on CPU devices a bad configuration can write out
 *    of bounds into host memory, which here only kills the helper.
 * 2. In this process, on the U-Net's GEMM shapes (forward, backward data,
 *    backward weights), CLBlastSgemm is timed with the default parameters,
 *    with the tuned kernels through the direct and through the indirect path,
 *    and each result is compared with the default one. The switch point
 *    XGEMM_MIN_INDIRECT_SIZE is chosen from these timings; a tuned kernel
 *    that gives wrong results is dropped; if the tuned set is not faster in
 *    total, CLBlast's defaults are kept.
 * 3. The file is written; unet_gemm applies it with CLBlastOverrideParameters.
 * 4. unetcl's own GPU convolution kernels (src/host/ocl/conv_gpu.h): for the
 *    3x3 layers of the U-Net at the given tile, forward, input gradient and
 *    weight gradient are timed with the existing path (im2col + the GEMM,
 *    CLBlast with the file of step 3 on GPUs) and with every parameter set;
 *    the fastest correct candidate per layer and operation goes into the
 *    device's convgpu-*.json in the cache folder. */
#define _POSIX_C_SOURCE 200809L
#include "commands.h"
#include "clock.h"

#include "clblast_tune.h"
#include "conv_gpu.h"
#include "cpu_tune.h"
#include "gemm.h"
#include "tensor.h"
#include "unetcl/unetcl.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct tshape {
    size_t m, n, k;
    int ta, tb;
    const char *what;
} tshape;

/* conv = im2col + GEMM: forward C[cout, H*W] = W[cout, cin*9] x col;
 * backward data col = W^T dY (tA); backward weights dW = dY col^T (tB). */
static const tshape FULL[] = {
    {64, 128 * 128, 576, 0, 0, "L1 conv2 fwd, 128x128 px"},
    {128, 64 * 64, 1152, 0, 0, "L2 conv2 fwd, 64x64 px"},
    {256, 32 * 32, 2304, 0, 0, "L3 conv2 fwd, 32x32 px"},
    {1024, 28 * 28, 4608, 0, 0, "L5 conv fwd (572 tile)"},
    {576, 128 * 128, 64, 1, 0, "L1 conv2 bwd data"},
    {64, 576, 128 * 128, 0, 1, "L1 conv2 bwd weights"},
    {64, 20 * 20, 576, 0, 0, "L1 conv2 fwd, 20x20 px"},
};
static const tshape QUICK[] = {
    {64, 128 * 128, 576, 0, 0, "L1 conv2 fwd, 128x128 px"},
    {128, 32 * 32, 1152, 0, 0, "L2 conv2 fwd, 32x32 px"},
    {512, 8 * 8, 4608, 0, 0, "L4 conv2 fwd, 8x8 px"},
    {576, 128 * 128, 64, 1, 0, "L1 conv2 bwd data"},
    {64, 576, 64 * 64, 0, 1, "L1 conv2 bwd weights"},
    {64, 16 * 16, 576, 0, 0, "L1 conv2 fwd, 16x16 px"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl tune [--device SEL] [--quick] [--fraction F] [--direct-fraction F] [--timeout S]\n"
            "                   [--reps N] [--cache-dir DIR] [--helper PATH] [-v]\n"
            "                   [--conv-only | --no-conv] [--tile T] [--precision fp32|fp16]\n\n"
            "Tunes CLBlast's GEMM kernels (Xgemm, XgemmDirect and the direct/indirect switch point) for one\n"
            "device and writes the parameters to the device's file in the cache folder; unetcl then applies\n"
            "them whenever it uses CLBlast on that device (not with $UNETCL_CLBLAST_TUNING=0). Run it again\n"
            "after a driver or CLBlast update (the file then counts as stale and is ignored).\n\n"
            "  --device SEL   device as for `unetcl devices` (default: first GPU, else first CPU)\n"
            "  --quick        small search and small shapes (minutes on a CPU device)\n"
            "  --fraction F   fraction of CLBlast's Xgemm search space to try (default 0.002; quick 0.0002)\n"
            "  --direct-fraction F   same for XgemmDirect (default 0.02; quick 0.003)\n"
            "  --timeout S    stop one tuner run after S seconds (default 1800; quick 420)\n"
            "  --reps N       timing runs per shape (median; default 5, quick 3)\n"
            "  --cache-dir D  cache folder (default $UNETCL_CACHE_DIR, $XDG_CACHE_HOME/unetcl, ~/.cache/unetcl)\n"
            "  --helper PATH  the tuner helper (default $UNETCL_TUNE_HELPER, else unetcl-tune-helper next to\n"
            "                 this program, else on PATH)\n"
            "  -v             log what is done\n"
            "  --conv-only    only step 4: time unetcl's GPU convolution kernels against the existing path per\n"
            "                 layer and keep the winners (convgpu-*.json in the cache folder; used on GPUs)\n"
            "  --no-conv      only the CLBlast steps\n"
            "  --tile T       U-Net input tile whose 3x3 layers are timed in step 4 (default 572; quick 188)\n"
            "  --base B       base channels of that U-Net (default 64, the paper's; smaller: quick checks)\n"
            "  --precision P  fp32 (default) or fp16: the [device] precision the entries are for\n\n"
            
            "usage: unetcl tune --cpu [--device SEL] [--seconds S] [--cache-dir DIR] [--show] [--ship MATCH]\n\n"
            "Searches the parameters of unetcl's own CPU kernels (CPU GEMM K-chunk, N-chunk and fused B\n"
            "packing; Winograd transform width and chunk size) on a CPU device by timing probe GEMMs and\n"
            "Winograd convolutions, and writes the winner to the device's CPU tuning file in the cache\n"
            "folder (docs/knobs.md: the environment still overrides each value). Without a file, the first\n"
            "network plan on a CPU searches only when $UNETCL_CPU_TUNE gives it seconds (default 0: never).\n\n"
            "  --seconds S    time budget of the search (default 120)\n"
            "  --show         print where the current parameters come from and the file; search nothing\n"
            "  --ship MATCH   also print the result as a shipped entry for src/host/ocl/cpu_tune_shipped.c\n"
            "                 (MATCH: a substring of the device name)\n");
}

static void cpu_progress(void *user, const char *line)
{
    (void)user;
    printf("  %s\n", line);
    fflush(stdout);
}

static const char *cpu_state_name(int s)
{
    return s == UNET_CPU_TUNING_FILE      ? "tuning file"
           : s == UNET_CPU_TUNING_SHIPPED ? "shipped entry"
           : s == UNET_CPU_TUNING_SEARCHED ? "searched now"
                                           : "built-in defaults";
}

/* unetcl tune --cpu */
static int tune_cpu(const char *device, const char *cache_dir, double seconds, int show, const char *ship,
                    int verbose)
{
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = device ? device : "cpu";
    o.cache_dir = cache_dir;
    o.verbose = verbose;
    unet_context *ctx = NULL;
    if (unet_context_create(&o, &ctx) != UNET_OK) {
        fprintf(stderr, "unetcl tune --cpu: %s\n", unet_last_error());
        return 1;
    }
    if (ctx->info.type != UNET_DEVICE_CPU) {
        fprintf(stderr, "unetcl tune --cpu: %s is not a CPU device (its GEMMs run on CLBlast: use `unetcl tune`)\n",
                ctx->info.name);
        unet_context_destroy(ctx);
        return 2;
    }
    char path[1100];
    unet_cpu_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    printf("device [%d] %s (%s)\nCPU tuning file: %s\n", ctx->info.index, ctx->info.name, ctx->info.driver_version,
           path);
    printf("current parameters: %s (%s)\n", cpu_state_name(ctx->cpu_tuning), ctx->cpu_tuning_why);
    for (int i = 0; i < UNET_CPU_TUNED_KNOBS; i++) {
        char v[32];
        unet_knob_get(&ctx->knobs, unet_cpu_tuned_knobs[i], v, sizeof v);
        printf("  %-22s %s\n", unet_cpu_tuned_knobs[i], v);
    }
    if (show) {
        unet_context_destroy(ctx);
        return 0;
    }
    printf("searching (at most %.0f s; times are medians of 3 passes over the probes)\n", seconds);
    unet_cpu_tuning t;
    unet_status st = unet_cpu_tune_search(ctx, seconds, cpu_progress, NULL, &t);
    if (st == UNET_OK) st = unet_cpu_tuning_write(path, &t);
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl tune --cpu: %s\n", unet_last_error());
        unet_context_destroy(ctx);
        return 1;
    }
    char text[4096];
    unet_cpu_tuning_format(&t, text, sizeof text);
    printf("written %s:\n%s", path, text);
    if (ship && *ship) {
        unet_cpu_tuning s = t;
        snprintf(s.match, sizeof s.match, "%s", ship);
        s.device[0] = s.vendor[0] = s.driver[0] = '\0';
        char shipped[4096];
        unet_cpu_tuning_format(&s, shipped, sizeof shipped);
        printf("\nshipped entry for src/host/ocl/cpu_tune_shipped.c:\n    \"");
        for (const char *c = shipped; *c; c++) {
            if (*c == '\n') printf(c[1] ? "\\n\"\n    \"" : "\\n\",\n");
            else if (*c == '"' || *c == '\\') printf("\\%c", *c);
            else putchar(*c);
        }
    }
    unet_context_destroy(ctx);
    return 0;
}

/* ---- the helper process ---------------------------------------------------- */

static void find_helper(const char *opt, char *out, size_t n)
{
    const char *e = opt ? opt : getenv("UNETCL_TUNE_HELPER");
    if (e && *e) {
        snprintf(out, n, "%s", e);
        return;
    }
    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, n, "%s/unetcl-tune-helper", self);
            if (access(out, X_OK) == 0) return;
        }
    }
    snprintf(out, n, "unetcl-tune-helper"); /* PATH */
}

/* Runs the helper with args; parses "param NAME VALUE" lines into p (kernel
 * name set by the caller). Returns 0 on success, -1 on failure (message
 * printed). The helper is killed after timeout_s. */
static int run_helper(const char *helper, char *const *args, double timeout_s, unet_clblast_params *p)
{
    int fd[2];
    if (pipe(fd) != 0) {
        fprintf(stderr, "unetcl tune: pipe: %s\n", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "unetcl tune: fork: %s\n", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execvp(helper, args);
        fprintf(stderr,
                "unetcl tune: cannot run the tuner helper \"%s\": %s. It is built with unetcl when a C++\n"
                "compiler is available (target unetcl_tune_helper); point --helper or $UNETCL_TUNE_HELPER at it.\n",
                helper, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    char buf[8192];
    size_t used = 0;
    const double deadline = unet_now_s() + timeout_s;
    int timed_out = 0;
    for (;;) {
        const double left = deadline - unet_now_s();
        if (left <= 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pf = {fd[0], POLLIN, 0};
        int r = poll(&pf, 1, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (used >= sizeof buf - 1) break;
        ssize_t got = read(fd[0], buf + used, sizeof buf - 1 - used);
        if (got <= 0) break;
        used += (size_t)got;
    }
    close(fd[0]);
    buf[used] = '\0';
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        fprintf(stderr, "unetcl tune: the tuner ran longer than %.0f s and was stopped (use a smaller --fraction "
                        "or a larger --timeout)\n", timeout_s);
        return -1;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "unetcl tune: the tuner helper died with signal %d (%s); CLBlast's tuner can run\n"
                        "configurations that write out of bounds on CPU devices: try another --fraction\n",
                WTERMSIG(status), strsignal(WTERMSIG(status)));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1; /* the helper said why */
    int ok = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64];
        unsigned long long v;
        if (sscanf(line, "param %63s %llu", name, &v) == 2) {
            if (!unet_clblast_params_set(p, name, (size_t)v)) return -1;
        } else if (!strcmp(line, "ok"))
            ok = 1;
    }
    if (!ok || p->n == 0) {
        fprintf(stderr, "unetcl tune: the tuner helper gave no parameters\n");
        return -1;
    }
    return 0;
}

static int helper_current(const char *helper, const unet_context *ctx, const char *kernel, unet_clblast_params *p)
{
    char idx[16];
    snprintf(idx, sizeof idx, "%d", ctx->info.index);
    memset(p, 0, sizeof *p);
    snprintf(p->kernel, sizeof p->kernel, "%s", kernel);
    char *args[] = {(char *)helper, "--device", idx, "--expect-name", (char *)ctx->info.name, "current",
                    (char *)kernel, NULL};
    return run_helper(helper, args, 120.0, p);
}

static int helper_tune(const char *helper, const unet_context *ctx, const char *kernel, size_t m, size_t n,
                       size_t k, double fraction, double timeout_s, unet_clblast_params *p)
{
    char idx[16], ms[24], ns[24], ks[24], fs[32];
    snprintf(idx, sizeof idx, "%d", ctx->info.index);
    snprintf(ms, sizeof ms, "%zu", m);
    snprintf(ns, sizeof ns, "%zu", n);
    snprintf(ks, sizeof ks, "%zu", k);
    snprintf(fs, sizeof fs, "%.6g", fraction);
    memset(p, 0, sizeof *p);
    snprintf(p->kernel, sizeof p->kernel, "%s", kernel);
    char *args[] = {(char *)helper, "--device", idx, "--expect-name", (char *)ctx->info.name, "tune", (char *)kernel,
                    ms, ns, ks, fs, NULL};
    return run_helper(helper, args, timeout_s, p);
}

/* ---- timing on the network's shapes ---------------------------------------- */

typedef struct shape_run {
    cl_mem a, b, c;
    float *ref; /* C with CLBlast's defaults */
    double t[3][32]; /* by config: 0 default, 1 tuned direct, 2 tuned indirect */
    int bad[3];      /* config gave wrong results or failed */
} shape_run;


static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

/* One timed GEMM; checks the result against ref (or stores it when ref is
 * being made). Returns seconds, or -1 on failure / wrong result. */
static double time_gemm(unet_context *ctx, const tshape *s, shape_run *r, int make_ref)
{
    const size_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    const double t0 = unet_now_s();
    unet_status st = unet_gemm_with(ctx, UNET_GEMM_CLBLAST, s->ta, s->tb, s->m, s->n, s->k, 1.0f, r->a, 0, lda,
                                    r->b, 0, ldb, 0.0f, r->c, 0, s->n);
    if (st == UNET_OK) st = unet_finish(ctx);
    const double dt = unet_now_s() - t0;
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl tune: %zux%zux%zu: %s\n", s->m, s->n, s->k, unet_last_error());
        return -1.0;
    }
    const size_t nc = s->m * s->n;
    float *got = make_ref ? r->ref : malloc(nc * sizeof *got);
    if (!got || clEnqueueReadBuffer(ctx->queue, r->c, CL_TRUE, 0, nc * sizeof(float), got, 0, NULL, NULL) != CL_SUCCESS) {
        if (!make_ref) free(got);
        return -1.0;
    }
    if (!make_ref) {
        /* inputs in [-0.5, 0.5): |error| of a float sum of K terms stays far below this */
        const double tol = 1e-5 * (double)s->k + 1e-4;
        int bad = 0;
        for (size_t i = 0; i < nc && !bad; i++)
            bad = !(fabs((double)got[i] - (double)r->ref[i]) <= tol + 1e-4 * fabs((double)r->ref[i]));
        free(got);
        if (bad) return -1.0;
    }
    return dt;
}

static unet_clblast_params routine_params(size_t min_indirect)
{
    unet_clblast_params p;
    memset(&p, 0, sizeof p);
    snprintf(p.kernel, sizeof p.kernel, "GemmRoutine");
    unet_clblast_params_set(&p, "XGEMM_MIN_INDIRECT_SIZE", min_indirect);
    return p;
}

/* Step 4: our GPU convolution kernels against the existing path, per layer. */
static int tune_conv(const char *device, const char *cache_dir, int verbose, int tile, int base, int reps, int fp16)
{
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = device;
    o.cache_dir = cache_dir;
    o.verbose = verbose;
    o.precision_fp16 = fp16;
    o.force_gpu_kernels = fp16; /* the timing calls each path explicitly; fp16 on a CPU device needs the switch */
    unet_context *ctx = NULL;
    if (unet_context_create(&o, &ctx) != UNET_OK) {
        fprintf(stderr, "unetcl tune: %s\n", unet_last_error());
        return 1;
    }
    unet_model_config mc;
    unet_model_config_default(&mc);
    unet_gpuconv_layer layers[64];
    const int n = unet_gpuconv_unet_layers(mc.depth, base, mc.in_channels, tile, layers, 64);
    printf("\nGPU convolution kernels (%s) vs the existing path on %s, %d layers of a %d tile, base %d channels, "
           "median of %d:\n",
           fp16 ? "fp16" : "fp32", ctx->info.name, n, tile, base, reps);
    fflush(stdout);
    const unet_status st = unet_gpuconv_tune(ctx, layers, n, reps, stdout);
    if (st != UNET_OK) fprintf(stderr, "unetcl tune: %s\n", unet_last_error());
    if (st == UNET_OK && ctx->info.type == UNET_DEVICE_CPU)
        printf("note: on CPU devices the choice is not used (the CPU path stays); UNETCL_GPU_KERNELS=1 forces our "
               "kernels, with the tuned sets\n");
    unet_context_destroy(ctx);
    return st == UNET_OK ? 0 : 1;
}

static void print_params(const unet_clblast_params *p)
{
    printf("  %-12s", p->kernel);
    for (int j = 0; j < p->n; j++) printf(" %s=%zu", p->names[j], p->values[j]);
    printf("\n");
}

int cmd_tune(int argc, char **argv)
{
    const char *device = NULL, *cache_dir = NULL, *helper_opt = NULL;
    int quick = 0, verbose = 0, reps = 0, conv = 1, clb = 1, tile = 0, fp16 = 0, base = 64, cpu = 0, show = 0;
    double cpu_seconds = 120;
    const char *ship = NULL;
    double fraction = 0, dfraction = 0, timeout_s = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) quick = 1;
        else if (!strcmp(a, "--cpu")) cpu = 1;
        else if (!strcmp(a, "--show")) show = 1;
        else if (!strcmp(a, "--seconds") && more) cpu_seconds = atof(argv[++i]);
        else if (!strcmp(a, "--ship") && more) ship = argv[++i];
        else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) verbose = 1;
        else if (!strcmp(a, "--device") && more) device = argv[++i];
        else if (!strcmp(a, "--cache-dir") && more) cache_dir = argv[++i];
        else if (!strcmp(a, "--helper") && more) helper_opt = argv[++i];
        else if (!strcmp(a, "--fraction") && more) fraction = atof(argv[++i]);
        else if (!strcmp(a, "--direct-fraction") && more) dfraction = atof(argv[++i]);
        else if (!strcmp(a, "--timeout") && more) timeout_s = atof(argv[++i]);
        else if (!strcmp(a, "--reps") && more) reps = atoi(argv[++i]);
        else if (!strcmp(a, "--conv-only")) clb = 0;
        else if (!strcmp(a, "--no-conv")) conv = 0;
        else if (!strcmp(a, "--tile") && more) tile = atoi(argv[++i]);
        else if (!strcmp(a, "--base") && more) base = atoi(argv[++i]);
        else if (!strcmp(a, "--precision") && more) {
            const char *v = argv[++i];
            if (!strcmp(v, "fp16")) fp16 = 1;
            else if (strcmp(v, "fp32") != 0) {
                fprintf(stderr, "unetcl tune: --precision must be fp32 or fp16, not \"%s\"\n", v);
                return 2;
            }
        }
        else {
            fprintf(stderr, "unetcl tune: unknown or incomplete option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (cpu || show || ship) {
        if (!(cpu_seconds >= 1 && cpu_seconds <= 36000)) {
            fprintf(stderr, "unetcl tune --cpu: --seconds must lie in [1, 36000]\n");
            return 2;
        }
        return tune_cpu(device, cache_dir, cpu_seconds, show, ship, verbose);
    }
    if (fraction == 0) fraction = quick ? 0.0002 : 0.002;
    if (dfraction == 0) dfraction = quick ? 0.003 : 0.02;
    if (timeout_s == 0) timeout_s = quick ? 420 : 1800;
    if (reps <= 0) reps = quick ? 3 : 5;
    if (reps > 31) reps = 31;
    if (!(fraction > 0 && fraction <= 1) || !(dfraction > 0 && dfraction <= 1) || timeout_s < 1) {
        fprintf(stderr, "unetcl tune: --fraction and --direct-fraction must lie in (0, 1], --timeout >= 1\n");
        return 2;
    }
    if (!conv && !clb) {
        fprintf(stderr, "unetcl tune: --conv-only and --no-conv leave nothing to do\n");
        return 2;
    }
    if (tile == 0) tile = quick ? 188 : 572;
    if (base < 1 || base > 1024) {
        fprintf(stderr, "unetcl tune: --base must lie in 1..1024\n");
        return 2;
    }
    {
        unet_model_config mc;
        unet_model_config_default(&mc);
        if (conv && unet_tile_check(&mc, tile) != UNET_OK) {
            fprintf(stderr, "unetcl tune: --tile %d: %s\n", tile, unet_last_error());
            return 2;
        }
    }
    if (!clb) return tune_conv(device, cache_dir, verbose, tile, base, reps, fp16);

    unet_context_options o;
    unet_context_options_default(&o);
    o.device = device;
    o.cache_dir = cache_dir;
    o.verbose = verbose;
    o.disable_clblast_tuning = 1; /* start from CLBlast's own parameters */
    unet_context *ctx = NULL;
    if (unet_context_create(&o, &ctx) != UNET_OK) {
        fprintf(stderr, "unetcl tune: %s\n", unet_last_error());
        return 1;
    }
    char helper[1100], path[1100];
    find_helper(helper_opt, helper, sizeof helper);
    unet_clblast_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    printf("device [%d] %s (%s), CLBlast %s\ntuning file: %s\n", ctx->info.index, ctx->info.name,
           ctx->info.driver_version, unet_clblast_version(), path);

    unet_clblast_tuning *t = calloc(1, sizeof *t);
    shape_run *runs = NULL;
    const tshape *shapes = quick ? QUICK : FULL;
    const int ns = quick ? (int)(sizeof QUICK / sizeof *QUICK) : (int)(sizeof FULL / sizeof *FULL);
    int rc = 1;
    if (!t) goto out;
    unet_clblast_tuning_init(t, &ctx->info);

    /* 1. CLBlast's defaults and its tuner. */
    static const char *const kn[3] = {"Xgemm", "XgemmDirect", "GemmRoutine"};
    for (int i = 0; i < 3; i++)
        if (helper_current(helper, ctx, kn[i], &t->defaults[i]) != 0) {
            fprintf(stderr, "unetcl tune: could not read CLBlast's parameters for %s\n", kn[i]);
            goto out;
        }
    t->ndefaults = 3;
    unet_clblast_params tuned[2];
    int have[2] = {0, 0};
    /* Xgemm: sizes multiples of the largest tile (128) and of KWG; XgemmDirect: a small GEMM, the
     * sizes the direct kernel is meant for. */
    const size_t tm[2] = {128, 64}, tn[2] = {quick ? 1024u : 4096u, quick ? 512u : 1024u},
                 tk[2] = {quick ? 576u : 1152u, 576};
    const double tf[2] = {fraction, dfraction};
    for (int i = 0; i < 2; i++) {
        printf("CLBlast tuner: %s at %zux%zux%zu, %.3g%% of its search space...\n", kn[i], tm[i], tn[i], tk[i],
               100.0 * tf[i]);
        fflush(stdout);
        const double t0 = unet_now_s();
        have[i] = helper_tune(helper, ctx, kn[i], tm[i], tn[i], tk[i], tf[i], timeout_s, &tuned[i]) == 0;
        printf("  %s (%.0f s)\n", have[i] ? "done" : "failed: keeping CLBlast's default", unet_now_s() - t0);
        if (have[i] && verbose) print_params(&tuned[i]);
    }

    /* 2. Time the network's shapes: default / tuned-direct / tuned-indirect, interleaved. */
    runs = calloc((size_t)ns, sizeof *runs);
    if (!runs) goto out;
    unet_clblast_params cfg[3][3];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 2; i++) cfg[c][i] = (c > 0 && have[i]) ? tuned[i] : t->defaults[i];
    cfg[0][2] = t->defaults[2];
    cfg[1][2] = routine_params(1u << 16); /* m*n*k < 2^48: always direct */
    cfg[2][2] = routine_params(1);        /* never direct */
    printf("timing %d GEMM shapes of the network (median of %d)...\n", ns, reps);
    fflush(stdout);
    for (int s = 0; s < ns; s++) {
        const tshape *sh = &shapes[s];
        shape_run *r = &runs[s];
        r->a = unet_buffer_random(ctx, sh->m * sh->k, 1u + (unsigned)s);
        r->b = unet_buffer_random(ctx, sh->k * sh->n, 101u + (unsigned)s);
        r->c = unet_buffer_random(ctx, sh->m * sh->n, 7u);
        r->ref = malloc(sh->m * sh->n * sizeof(float));
        if (!r->a || !r->b || !r->c || !r->ref) {
            fprintf(stderr, "unetcl tune: out of memory for shape %zux%zux%zu\n", sh->m, sh->n, sh->k);
            goto out;
        }
        if (unet_clblast_apply(ctx, cfg[0], 3) != UNET_OK || time_gemm(ctx, sh, r, 1) < 0) {
            fprintf(stderr, "unetcl tune: CLBlast fails with its default parameters: %s\n", unet_last_error());
            goto out;
        }
        for (int rep = -1; rep < reps; rep++)
            for (int c = 0; c < 3; c++) {
                if (r->bad[c]) continue;
                if (unet_clblast_apply(ctx, cfg[c], 3) != UNET_OK) {
                    fprintf(stderr, "unetcl tune: %s\n", unet_last_error());
                    r->bad[c] = 1;
                    continue;
                }
                const double dt = time_gemm(ctx, sh, r, 0);
                if (dt < 0) r->bad[c] = 1;
                else if (rep >= 0) r->t[c][rep] = dt;
            }
    }
    /* A tuned kernel that fails or is wrong on any shape is dropped. */
    int dropped[2] = {0, 0};
    for (int s = 0; s < ns; s++) {
        if (runs[s].bad[1] && have[1]) {
            fprintf(stderr, "unetcl tune: tuned XgemmDirect failed or was wrong on %zux%zux%zu: dropped\n",
                    shapes[s].m, shapes[s].n, shapes[s].k);
            have[1] = 0;
            dropped[1] = 1;
        }
        if (runs[s].bad[2] && have[0]) {
            fprintf(stderr, "unetcl tune: tuned Xgemm failed or was wrong on %zux%zux%zu: dropped\n", shapes[s].m,
                    shapes[s].n, shapes[s].k);
            have[0] = 0;
            dropped[0] = 1;
        }
    }
    double dms[32], dir[32], ind[32];
    for (int s = 0; s < ns; s++) {
        dms[s] = 1e3 * median(runs[s].t[0], reps);
        dir[s] = runs[s].bad[1] ? INFINITY : 1e3 * median(runs[s].t[1], reps);
        ind[s] = runs[s].bad[2] ? INFINITY : 1e3 * median(runs[s].t[2], reps);
        /* a dropped kernel's path was timed with it: not a choice any more */
        if (dropped[1]) dir[s] = INFINITY;
        if (dropped[0]) ind[s] = INFINITY;
    }
    /* 3. The switch point: XGEMM_MIN_INDIRECT_SIZE minimising the total (direct when m*n*k < size^3).
     * The total only changes where a shape changes sides: candidates are those places and CLBlast's
     * default; of the equally good ones, the one nearest to the default (no extrapolation). */
    const size_t def_t = unet_clblast_params_get(&t->defaults[2], "XGEMM_MIN_INDIRECT_SIZE", 384);
    size_t best_t = def_t;
    double best = INFINITY;
    size_t cands[2 * 32 + 3];
    int nc = 0;
    cands[nc++] = 1;
    cands[nc++] = 1u << 16;
    cands[nc++] = def_t;
    for (int c = 0; c < ns; c++) {
        const double r = cbrt((double)shapes[c].m * (double)shapes[c].n * (double)shapes[c].k);
        cands[nc++] = (size_t)floor(r);    /* shape c indirect */
        cands[nc++] = (size_t)floor(r) + 1; /* shape c direct */
    }
    double cost[2 * 32 + 3];
    for (int c = 0; c < nc; c++) {
        const double cand3 = (double)cands[c] * (double)cands[c] * (double)cands[c];
        cost[c] = 0;
        for (int s = 0; s < ns; s++)
            cost[c] += (double)shapes[s].m * (double)shapes[s].n * (double)shapes[s].k < cand3 ? dir[s] : ind[s];
        if (cost[c] < best) best = cost[c];
    }
    double best_dist = INFINITY;
    for (int c = 0; c < nc; c++) {
        const double dist = fabs(log((double)cands[c] / (double)def_t));
        if (cost[c] <= best * (1 + 1e-12) && dist < best_dist) {
            best_dist = dist;
            best_t = cands[c];
        }
    }
    double dtot = 0;
    for (int s = 0; s < ns; s++) dtot += dms[s];
    const int use_tuned = (have[0] || have[1]) && best < dtot;
    t->nkernels = 3;
    t->kernels[0] = (use_tuned && have[0]) ? tuned[0] : t->defaults[0];
    t->kernels[1] = (use_tuned && have[1]) ? tuned[1] : t->defaults[1];
    t->kernels[2] = use_tuned ? routine_params(best_t) : t->defaults[2];
    snprintf(t->method, sizeof t->method,
             "%s: clblast::TuneXgemm %zux%zux%zu fraction %g (%s), clblast::TuneXgemmDirect %zux%zux%zu fraction %g "
             "(%s); switch point and choice timed on %d shapes, median of %d",
             use_tuned ? "tuned" : "CLBlast defaults kept (tuned set not faster)", tm[0], tn[0], tk[0], fraction,
             have[0] ? "used" : "not used", tm[1], tn[1], tk[1], dfraction, have[1] ? "used" : "not used", ns, reps);

    printf("\n%-28s %-18s | %10s %8s | %10s %8s %5s | %6s\n", "shape", "MxNxK", "default ms", "GFLOP/s", "tuned ms",
           "GFLOP/s", "path", "ratio");
    t->nmeasured = 0;
    for (int s = 0; s < ns; s++) {
        const tshape *sh = &shapes[s];
        const double mnk = (double)sh->m * (double)sh->n * (double)sh->k, gflop = 2e-9 * mnk;
        const int direct = mnk < (double)best_t * (double)best_t * (double)best_t;
        const double tms = use_tuned ? (direct ? dir[s] : ind[s]) : dms[s];
        char dims[64];
        snprintf(dims, sizeof dims, "%zux%zux%zu%s%s", sh->m, sh->n, sh->k, sh->ta ? "tA" : "", sh->tb ? "tB" : "");
        printf("%-28s %-18s | %10.2f %8.1f | %10.2f %8.1f %5s | %5.2fx\n", sh->what, dims, dms[s], gflop / dms[s] * 1e3,
               tms, gflop / tms * 1e3, direct ? "dir" : "ind", dms[s] / tms);
        if (t->nmeasured < UNET_CLBLAST_MAX_MEASURED) {
            unet_clblast_measure *mm = &t->measured[t->nmeasured++];
            snprintf(mm->shape, sizeof mm->shape, "%s", dims);
            mm->default_ms = dms[s];
            mm->tuned_ms = tms;
        }
    }
    printf("total: default %.1f ms, tuned %.1f ms (%.2fx); XGEMM_MIN_INDIRECT_SIZE %zu (default %zu)\n", dtot,
           use_tuned ? best : dtot, dtot / (use_tuned ? best : dtot), use_tuned ? best_t : def_t,
           def_t);
    if (!use_tuned) printf("the tuned parameters were not faster: the file keeps CLBlast's defaults\n");
    if (unet_clblast_tuning_write(path, t) != UNET_OK) {
        fprintf(stderr, "unetcl tune: %s\n", unet_last_error());
        goto out;
    }
    printf("wrote %s\n", path);
    if (verbose)
        for (int i = 0; i < t->nkernels; i++) print_params(&t->kernels[i]);
    rc = 0;
out:
    for (int s = 0; runs && s < ns; s++) {
        if (runs[s].a) clReleaseMemObject(runs[s].a);
        if (runs[s].b) clReleaseMemObject(runs[s].b);
        if (runs[s].c) clReleaseMemObject(runs[s].c);
        free(runs[s].ref);
    }
    free(runs);
    free(t);
    unet_context_destroy(ctx);
    /* step 4 in a context of its own: CLBlast with the file just written */
    if (rc == 0 && conv) return tune_conv(device, cache_dir, verbose, tile, base, reps, fp16);
    return rc;
}
