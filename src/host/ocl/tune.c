/* The tuning drivers of include/unetcl/tune.h (what `unetcl tune` runs):
 * CLBlast's GEMM tuning with its helper process, the per-layer choice of the
 * GPU convolution kernels, the CPU kernel search, and the description of
 * what is cached for a device. Nothing here prints: lines go to the
 * caller's progress callback. */
#define _POSIX_C_SOURCE 200809L
#include "unetcl/tune.h"

#include "clblast_tune.h"
#include "clock.h"
#include "conv_gpu.h"
#include "cpu_tune.h"
#include "gemm.h"
#include "knobs.h"
#include "ocl.h"
#include "tensor.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

_Static_assert(UNET_TUNE_CPU_KNOBS == UNET_CPU_TUNED_KNOBS, "tune.h mirrors cpu_tune.h's knob count");

/* ---- options --------------------------------------------------------------- */

void unet_tune_options_default(unet_tune_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->base = 64;
    o->seconds = 120;
}

static int is_fp16(const unet_tune_options *o)
{
    return o->precision && !strcmp(o->precision, "fp16");
}

static int resolved_reps(const unet_tune_options *o)
{
    int reps = o->reps > 0 ? o->reps : (o->quick ? 3 : 5);
    return reps > 31 ? 31 : reps;
}

static int resolved_tile(const unet_tune_options *o)
{
    return o->tile > 0 ? o->tile : (o->quick ? 188 : 572);
}

unet_status unet_tune_options_check(const unet_tune_options *o, unsigned drivers)
{
    if (!o) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: no options");
    if (drivers & UNET_TUNE_CLBLAST) {
        if (!(o->fraction >= 0 && o->fraction <= 1) || !(o->direct_fraction >= 0 && o->direct_fraction <= 1) ||
            !(o->timeout_s == 0 || o->timeout_s >= 1))
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                               "tune: fraction and direct fraction must lie in (0, 1] (0: default), the timeout >= 1 s "
                               "(given %g, %g, %g)",
                               o->fraction, o->direct_fraction, o->timeout_s);
    }
    if (drivers & UNET_TUNE_CONV) {
        if (o->precision && strcmp(o->precision, "fp32") != 0 && strcmp(o->precision, "fp16") != 0)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: precision must be fp32 or fp16, not \"%s\"",
                               o->precision);
        if (o->base < 1 || o->base > 1024)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: base channels must lie in 1..1024, not %d", o->base);
        if (o->tile < 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: tile %d is negative", o->tile);
        unet_model_config mc;
        unet_model_config_default(&mc);
        const int tile = resolved_tile(o);
        if (unet_tile_check(&mc, tile) != UNET_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", unet_last_error());
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: tile %d: %s", tile, why);
        }
    }
    if (drivers & UNET_TUNE_CPU) {
        if (!(o->seconds >= 1 && o->seconds <= 36000))
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: seconds must lie in [1, 36000], not %g", o->seconds);
    }
    return UNET_OK;
}

/* One progress line; UNET_ERR_INTERRUPTED (with a message) when the caller cancels. */
static unet_status say(const unet_tune_options *o, double fraction, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static unet_status say(const unet_tune_options *o, double fraction, const char *fmt, ...)
{
    if (!o->progress) return UNET_OK;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (o->progress(line, fraction, o->user) != 0) return unet_seterr(UNET_ERR_INTERRUPTED, "tune: cancelled");
    return UNET_OK;
}

static unet_status make_context(const unet_tune_options *o, const char *device, int disable_clblast_tuning,
                                int fp16, unet_context **ctx)
{
    unet_context_options co;
    unet_context_options_default(&co);
    co.device = device;
    co.cache_dir = o->cache_dir;
    co.verbose = o->verbose;
    co.disable_clblast_tuning = disable_clblast_tuning;
    co.precision_fp16 = fp16;
    co.force_gpu_kernels = fp16; /* the timing calls each path explicitly; fp16 on a CPU device needs the switch */
    return unet_context_create(&co, ctx);
}

/* ---- the helper process ------------------------------------------------------ */

static void find_helper(const char *opt, char *out, size_t n)
{
    if (opt && *opt) {
        snprintf(out, n, "%s", opt);
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

static int cloexec_pipe(int fd[2])
{
    if (pipe(fd) != 0) return -1;
    fcntl(fd[0], F_SETFD, FD_CLOEXEC);
    fcntl(fd[1], F_SETFD, FD_CLOEXEC);
    return 0;
}

/* Appends the complete lines of buf[0..*used) that are "param ..." or "ok"
 * to out; keeps an incomplete last line in buf. */
static void keep_result_lines(char *buf, size_t *used, char *out, size_t n, int flush)
{
    size_t start = 0;
    for (size_t i = 0; i < *used; i++) {
        if (buf[i] != '\n' && !(flush && i + 1 == *used)) continue;
        const size_t len = i - start + (buf[i] == '\n' ? 0 : 1);
        const char *line = buf + start;
        if ((len >= 6 && !strncmp(line, "param ", 6)) || (len == 2 && !strncmp(line, "ok", 2))) {
            const size_t have = strlen(out);
            if (have + len + 2 <= n) {
                memcpy(out + have, line, len);
                out[have + len] = '\n';
                out[have + len + 1] = '\0';
            }
        }
        start = i + 1;
    }
    if (start >= *used) *used = 0;
    else {
        memmove(buf, buf + start, *used - start);
        *used -= start;
    }
}

/* The default runner: posix_spawn, stdout and stderr through pipes, waited for by pid. */
static unet_status spawn_helper(char *const argv[], double timeout_s, char *out, size_t n, void *user)
{
    (void)user;
    out[0] = '\0';
    int po[2], pe[2];
    if (cloexec_pipe(po) != 0) return unet_seterr(UNET_ERR_IO, "tune: pipe: %s", strerror(errno));
    if (cloexec_pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return unet_seterr(UNET_ERR_IO, "tune: pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, po[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, pe[1], STDERR_FILENO);
    pid_t pid = 0;
    const int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(po[1]);
    close(pe[1]);
    if (err != 0) {
        close(po[0]);
        close(pe[0]);
        return unet_seterr(UNET_ERR_IO,
                           "tune: cannot run the tuner helper \"%s\": %s (it is built with unetcl when a C++ compiler "
                           "is available, target unetcl_tune_helper; give its path as the helper option, `unetcl tune "
                           "--helper` or $UNETCL_TUNE_HELPER)",
                           argv[0], strerror(err));
    }
    char obuf[4096], ebuf[2048];
    size_t oused = 0, eused = 0;
    const double deadline = unet_now_s() + timeout_s;
    int timed_out = 0, open_o = 1, open_e = 1;
    while (open_o || open_e) {
        const double left = deadline - unet_now_s();
        if (left <= 0) {
            timed_out = 1;
            kill(pid, SIGKILL);
            break;
        }
        struct pollfd pf[2] = {{open_o ? po[0] : -1, POLLIN, 0}, {open_e ? pe[0] : -1, POLLIN, 0}};
        const int r = poll(pf, 2, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (open_o && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (oused >= sizeof obuf - 1) oused = 0; /* a line longer than the buffer is no result line */
            const ssize_t got = read(po[0], obuf + oused, sizeof obuf - 1 - oused);
            if (got <= 0) open_o = 0;
            else {
                oused += (size_t)got;
                keep_result_lines(obuf, &oused, out, n, 0);
            }
        }
        if (open_e && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (eused >= sizeof ebuf - 1) { /* keep the tail: the last line says why */
                memmove(ebuf, ebuf + sizeof ebuf / 2, eused - sizeof ebuf / 2);
                eused -= sizeof ebuf / 2;
            }
            const ssize_t got = read(pe[0], ebuf + eused, sizeof ebuf - 1 - eused);
            if (got <= 0) open_e = 0;
            else eused += (size_t)got;
        }
    }
    keep_result_lines(obuf, &oused, out, n, 1);
    close(po[0]);
    close(pe[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return unet_seterr(UNET_ERR_INTERRUPTED,
                           "tune: the tuner ran longer than %.0f s and was stopped (use a smaller fraction or a larger "
                           "timeout)",
                           timeout_s);
    if (WIFSIGNALED(status))
        return unet_seterr(UNET_ERR_INTERNAL,
                           "tune: the tuner helper died with signal %d (%s); CLBlast's tuner can run configurations "
                           "that write out of bounds on CPU devices: try another fraction",
                           WTERMSIG(status), strsignal(WTERMSIG(status)));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* the helper's last line on stderr says why */
        ebuf[eused] = '\0';
        while (eused > 0 && (ebuf[eused - 1] == '\n' || ebuf[eused - 1] == '\r')) ebuf[--eused] = '\0';
        const char *last = strrchr(ebuf, '\n');
        last = last ? last + 1 : ebuf;
        if (*last) return unet_seterr(UNET_ERR_BLAS, "%s", last);
        return unet_seterr(UNET_ERR_BLAS, "tune: the tuner helper exited with status %d",
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return UNET_OK;
}

/* Runs the helper with args; reads its "param NAME VALUE" lines into p
 * (kernel name set by the caller). */
static unet_status run_helper(const unet_tune_options *o, char *const *args, double timeout_s,
                              unet_clblast_params *p)
{
    char out[8192];
    out[0] = '\0';
    unet_status st = o->run_helper ? o->run_helper(args, timeout_s, out, sizeof out, o->run_helper_user)
                                   : spawn_helper(args, timeout_s, out, sizeof out, NULL);
    if (st != UNET_OK) return st;
    int ok = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        unsigned long long v;
        if (sscanf(line, "param %63s %llu", name, &v) == 2) {
            if (!unet_clblast_params_set(p, name, (size_t)v))
                return unet_seterr(UNET_ERR_FORMAT, "tune: the tuner helper gave more than %d parameters for %s",
                                   UNET_CLBLAST_MAX_PARAMS, p->kernel);
        } else if (!strcmp(line, "ok"))
            ok = 1;
    }
    if (!ok || p->n == 0) return unet_seterr(UNET_ERR_FORMAT, "tune: the tuner helper gave no parameters");
    return UNET_OK;
}

static unet_status helper_current(const unet_tune_options *o, const char *helper, const unet_context *ctx,
                                  const char *kernel, unet_clblast_params *p)
{
    char idx[16];
    snprintf(idx, sizeof idx, "%d", ctx->info.index);
    memset(p, 0, sizeof *p);
    snprintf(p->kernel, sizeof p->kernel, "%s", kernel);
    char *args[] = {(char *)helper, "--device", idx, "--expect-name", (char *)ctx->info.name, "current",
                    (char *)kernel, NULL};
    return run_helper(o, args, 120.0, p);
}

static unet_status helper_tune(const unet_tune_options *o, const char *helper, const unet_context *ctx,
                               const char *kernel, size_t m, size_t n, size_t k, double fraction, double timeout_s,
                               unet_clblast_params *p)
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
    return run_helper(o, args, timeout_s, p);
}

/* ---- CLBlast: timing on the network's shapes ------------------------------------ */

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

typedef struct shape_run {
    cl_mem a, b, c;
    float *ref;      /* C with CLBlast's defaults */
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
 * being made). Returns seconds, or -1 on failure / wrong result (the reason
 * in the last error). */
static double time_gemm(unet_context *ctx, const tshape *s, shape_run *r, int make_ref)
{
    const size_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    const double t0 = unet_now_s();
    unet_status st = unet_gemm_with(ctx, UNET_GEMM_CLBLAST, s->ta, s->tb, s->m, s->n, s->k, 1.0f, r->a, 0, lda,
                                    r->b, 0, ldb, 0.0f, r->c, 0, s->n);
    if (st == UNET_OK) st = unet_finish(ctx);
    const double dt = unet_now_s() - t0;
    if (st != UNET_OK) return -1.0;
    const size_t nc = s->m * s->n;
    float *got = make_ref ? r->ref : malloc(nc * sizeof *got);
    if (!got) {
        unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        return -1.0;
    }
    if (clEnqueueReadBuffer(ctx->queue, r->c, CL_TRUE, 0, nc * sizeof(float), got, 0, NULL, NULL) != CL_SUCCESS) {
        if (!make_ref) free(got);
        unet_seterr(UNET_ERR_OPENCL, "reading the result back failed");
        return -1.0;
    }
    if (!make_ref) {
        /* inputs in [-0.5, 0.5): |error| of a float sum of K terms stays far below this */
        const double tol = 1e-5 * (double)s->k + 1e-4;
        int bad = 0;
        for (size_t i = 0; i < nc && !bad; i++)
            bad = !(fabs((double)got[i] - (double)r->ref[i]) <= tol + 1e-4 * fabs((double)r->ref[i]));
        free(got);
        if (bad) {
            unet_seterr(UNET_ERR_BLAS, "wrong results");
            return -1.0;
        }
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

static void format_params(const unet_clblast_params *p, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "%-12s", p->kernel);
    for (int j = 0; j < p->n && len < n; j++)
        len += (size_t)snprintf(out + len, n - len, " %s=%zu", p->names[j], p->values[j]);
}

unet_status unet_tune_clblast(const unet_tune_options *o, unet_tune_clblast_result *res)
{
    unet_status st = unet_tune_options_check(o, UNET_TUNE_CLBLAST);
    if (st != UNET_OK) return st;
    const int quick = o->quick, reps = resolved_reps(o);
    const double fraction = o->fraction > 0 ? o->fraction : (quick ? 0.0002 : 0.002);
    const double dfraction = o->direct_fraction > 0 ? o->direct_fraction : (quick ? 0.003 : 0.02);
    const double timeout_s = o->timeout_s > 0 ? o->timeout_s : (quick ? 420 : 1800);
    unet_tune_clblast_result *r = calloc(1, sizeof *r);
    unet_clblast_tuning *t = calloc(1, sizeof *t);
    if (!r || !t) {
        free(r);
        free(t);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of host memory");
    }
    unet_context *ctx = NULL;
    shape_run *runs = NULL;
    const tshape *shapes = quick ? QUICK : FULL;
    const int ns = quick ? (int)(sizeof QUICK / sizeof *QUICK) : (int)(sizeof FULL / sizeof *FULL);
    /* start from CLBlast's own parameters */
    if ((st = make_context(o, o->device, 1, 0, &ctx)) != UNET_OK) goto out;
    char helper[1100];
    find_helper(o->helper, helper, sizeof helper);
    unet_clblast_tuning_path(ctx->cache_dir, &ctx->info, r->path, sizeof r->path);
    if ((st = say(o, 0.0, "device [%d] %s (%s), CLBlast %s", ctx->info.index, ctx->info.name,
                  ctx->info.driver_version, unet_clblast_version())) != UNET_OK ||
        (st = say(o, 0.0, "tuning file: %s", r->path)) != UNET_OK)
        goto out;
    unet_clblast_tuning_init(t, &ctx->info);

    /* 1. CLBlast's defaults and its tuner. */
    static const char *const kn[3] = {"Xgemm", "XgemmDirect", "GemmRoutine"};
    for (int i = 0; i < 3; i++)
        if ((st = helper_current(o, helper, ctx, kn[i], &t->defaults[i])) != UNET_OK) {
            char why[600];
            snprintf(why, sizeof why, "%s", unet_last_error());
            st = unet_seterr(st, "tune: could not read CLBlast's parameters for %s: %s", kn[i], why);
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
        if ((st = say(o, 0.4 * i, "CLBlast tuner: %s at %zux%zux%zu, %.3g%% of its search space...", kn[i], tm[i],
                      tn[i], tk[i], 100.0 * tf[i])) != UNET_OK)
            goto out;
        const double t0 = unet_now_s();
        have[i] = helper_tune(o, helper, ctx, kn[i], tm[i], tn[i], tk[i], tf[i], timeout_s, &tuned[i]) == UNET_OK;
        if (have[i]) st = say(o, 0.4 * (i + 1), "  done (%.0f s)", unet_now_s() - t0);
        else {
            char why[600];
            snprintf(why, sizeof why, "%s", unet_last_error());
            unet_clear_error();
            st = say(o, 0.4 * (i + 1), "  failed: keeping CLBlast's default (%.0f s): %s", unet_now_s() - t0,
                     strncmp(why, "tune: ", 6) ? why : why + 6);
        }
        if (st == UNET_OK && have[i] && o->verbose) {
            char line[800];
            format_params(&tuned[i], line, sizeof line);
            st = say(o, 0.4 * (i + 1), "  %s", line);
        }
        if (st != UNET_OK) goto out;
    }

    /* 2. Time the network's shapes: default / tuned-direct / tuned-indirect, interleaved. */
    runs = calloc((size_t)ns, sizeof *runs);
    if (!runs) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of host memory");
        goto out;
    }
    unet_clblast_params cfg[3][3];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 2; i++) cfg[c][i] = (c > 0 && have[i]) ? tuned[i] : t->defaults[i];
    cfg[0][2] = t->defaults[2];
    cfg[1][2] = routine_params(1u << 16); /* m*n*k < 2^48: always direct */
    cfg[2][2] = routine_params(1);        /* never direct */
    if ((st = say(o, 0.8, "timing %d GEMM shapes of the network (median of %d)...", ns, reps)) != UNET_OK) goto out;
    for (int s = 0; s < ns; s++) {
        const tshape *sh = &shapes[s];
        shape_run *rr = &runs[s];
        rr->a = unet_buffer_random(ctx, sh->m * sh->k, 1u + (unsigned)s);
        rr->b = unet_buffer_random(ctx, sh->k * sh->n, 101u + (unsigned)s);
        rr->c = unet_buffer_random(ctx, sh->m * sh->n, 7u);
        rr->ref = malloc(sh->m * sh->n * sizeof(float));
        if (!rr->a || !rr->b || !rr->c || !rr->ref) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of memory for shape %zux%zux%zu", sh->m, sh->n,
                             sh->k);
            goto out;
        }
        if (unet_clblast_apply(ctx, cfg[0], 3) != UNET_OK || time_gemm(ctx, sh, rr, 1) < 0) {
            char why[600];
            snprintf(why, sizeof why, "%s", unet_last_error());
            st = unet_seterr(UNET_ERR_BLAS, "tune: CLBlast fails with its default parameters on %zux%zux%zu: %s",
                             sh->m, sh->n, sh->k, why);
            goto out;
        }
        for (int rep = -1; rep < reps; rep++)
            for (int c = 0; c < 3; c++) {
                if (rr->bad[c]) continue;
                double dt = -1;
                if (unet_clblast_apply(ctx, cfg[c], 3) == UNET_OK) dt = time_gemm(ctx, sh, rr, 0);
                if (dt < 0) {
                    char why[600];
                    snprintf(why, sizeof why, "%s", unet_last_error());
                    unet_clear_error();
                    rr->bad[c] = 1;
                    if ((st = say(o, 0.8, "  %zux%zux%zu, %s: %s", sh->m, sh->n, sh->k,
                                  c == 1 ? "tuned direct" : "tuned indirect", why)) != UNET_OK)
                        goto out;
                } else if (rep >= 0)
                    rr->t[c][rep] = dt;
            }
        if ((st = say(o, 0.8 + 0.2 * (s + 1) / ns, "  %s: timed", sh->what)) != UNET_OK) goto out;
    }
    /* A tuned kernel that fails or is wrong on any shape is dropped. */
    int dropped[2] = {0, 0};
    for (int s = 0; s < ns; s++) {
        if (runs[s].bad[1] && have[1]) {
            if ((st = say(o, 1.0, "tuned XgemmDirect failed or was wrong on %zux%zux%zu: dropped", shapes[s].m,
                          shapes[s].n, shapes[s].k)) != UNET_OK)
                goto out;
            have[1] = 0;
            dropped[1] = 1;
        }
        if (runs[s].bad[2] && have[0]) {
            if ((st = say(o, 1.0, "tuned Xgemm failed or was wrong on %zux%zux%zu: dropped", shapes[s].m,
                          shapes[s].n, shapes[s].k)) != UNET_OK)
                goto out;
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
        const double rt = cbrt((double)shapes[c].m * (double)shapes[c].n * (double)shapes[c].k);
        cands[nc++] = (size_t)floor(rt);     /* shape c indirect */
        cands[nc++] = (size_t)floor(rt) + 1; /* shape c direct */
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
    t->nmeasured = 0;
    r->nshapes = 0;
    for (int s = 0; s < ns; s++) {
        const tshape *sh = &shapes[s];
        const double mnk = (double)sh->m * (double)sh->n * (double)sh->k;
        const int direct = mnk < (double)best_t * (double)best_t * (double)best_t;
        const double tms = use_tuned ? (direct ? dir[s] : ind[s]) : dms[s];
        unet_tune_gemm_shape *g = &r->shapes[r->nshapes++];
        snprintf(g->what, sizeof g->what, "%s", sh->what);
        snprintf(g->dims, sizeof g->dims, "%zux%zux%zu%s%s", sh->m, sh->n, sh->k, sh->ta ? "tA" : "",
                 sh->tb ? "tB" : "");
        g->gflop = 2e-9 * mnk;
        g->default_ms = dms[s];
        g->tuned_ms = tms;
        g->direct = direct;
        if (t->nmeasured < UNET_CLBLAST_MAX_MEASURED) {
            unet_clblast_measure *mm = &t->measured[t->nmeasured++];
            snprintf(mm->shape, sizeof mm->shape, "%s", g->dims);
            mm->default_ms = dms[s];
            mm->tuned_ms = tms;
        }
    }
    r->tuned = use_tuned;
    r->tuner_ok[0] = have[0];
    r->tuner_ok[1] = have[1];
    r->default_total_ms = dtot;
    r->tuned_total_ms = use_tuned ? best : dtot;
    r->min_indirect = use_tuned ? best_t : def_t;
    r->default_min_indirect = def_t;
    for (int i = 0; i < 3; i++) format_params(&t->kernels[i], r->params[i], sizeof r->params[i]);
    st = unet_clblast_tuning_write(r->path, t);
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
    if (st == UNET_OK && res) *res = *r;
    free(r);
    return st;
}

/* ---- GPU convolution kernels --------------------------------------------------- */

/* A driver's progress line passed on to the caller's callback (user: the options). */
static int forward_line(void *user, const char *line, double fraction)
{
    const unet_tune_options *o = user;
    return o->progress ? o->progress(line, fraction, o->user) : 0;
}

unet_status unet_tune_conv(const unet_tune_options *o, unet_tune_conv_result *res)
{
    unet_status st = unet_tune_options_check(o, UNET_TUNE_CONV);
    if (st != UNET_OK) return st;
    const int fp16 = is_fp16(o), tile = resolved_tile(o), reps = resolved_reps(o);
    unet_context *ctx = NULL;
    if ((st = make_context(o, o->device, 0, fp16, &ctx)) != UNET_OK) return st;
    unet_model_config mc;
    unet_model_config_default(&mc);
    unet_gpuconv_layer layers[64];
    const int n = unet_gpuconv_unet_layers(mc.depth, o->base, mc.in_channels, tile, layers, 64);
    unet_tune_conv_result r;
    memset(&r, 0, sizeof r);
    r.layers = n;
    r.entries = 3 * n;
    r.cpu_device = ctx->info.type == UNET_DEVICE_CPU;
    st = say(o, 0.0,
             "GPU convolution kernels (%s) vs the existing path on %s, %d layers of a %d tile, base %d channels, "
             "median of %d:",
             fp16 ? "fp16" : "fp32", ctx->info.name, n, tile, o->base, reps);
    if (st == UNET_OK) st = unet_gpuconv_tune_cb(ctx, layers, n, reps, forward_line, (void *)o, r.path, sizeof r.path);
    unet_context_destroy(ctx);
    if (st == UNET_OK && res) *res = r;
    return st;
}

/* ---- CPU kernels ----------------------------------------------------------------- */

unet_status unet_tune_cpu(const unet_tune_options *o, unet_tune_cpu_result *res)
{
    unet_status st = unet_tune_options_check(o, UNET_TUNE_CPU);
    if (st != UNET_OK) return st;
    unet_context *ctx = NULL;
    if ((st = make_context(o, o->device ? o->device : "cpu", 0, 0, &ctx)) != UNET_OK) return st;
    unet_tune_cpu_result *r = calloc(1, sizeof *r);
    if (!r) {
        unet_context_destroy(ctx);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of host memory");
    }
    if (ctx->info.type != UNET_DEVICE_CPU) {
        st = unet_seterr(UNET_ERR_INVALID_ARGUMENT,
                         "tune: %s is not a CPU device (its GEMMs run on CLBlast: tune them with `unetcl tune`)",
                         ctx->info.name);
        goto out;
    }
    unet_cpu_tuning_path(ctx->cache_dir, &ctx->info, r->path, sizeof r->path);
    unet_cpu_tuning t;
    if ((st = unet_cpu_tune_search(ctx, o->seconds, forward_line, (void *)o, &t)) != UNET_OK) goto out;
    if ((st = unet_cpu_tuning_write(r->path, &t)) != UNET_OK) goto out;
    unet_cpu_tuning_format(&t, r->text, sizeof r->text);
    r->default_ms = t.default_ms;
    r->tuned_ms = t.tuned_ms;
    if (o->ship_match && *o->ship_match) {
        unet_cpu_tuning s = t;
        snprintf(s.match, sizeof s.match, "%s", o->ship_match);
        s.device[0] = s.vendor[0] = s.driver[0] = '\0';
        unet_cpu_tuning_format(&s, r->shipped, sizeof r->shipped);
    }
out:
    unet_context_destroy(ctx);
    if (st == UNET_OK && res) *res = *r;
    free(r);
    return st;
}

/* ---- what is cached ------------------------------------------------------------- */

const char *unet_tune_cpu_source_name(unet_tune_cpu_source s)
{
    return s == UNET_TUNE_CPU_FILE       ? "tuning file"
           : s == UNET_TUNE_CPU_SHIPPED  ? "shipped entry"
           : s == UNET_TUNE_CPU_SEARCHED ? "searched now"
                                         : "built-in defaults";
}

unet_status unet_tune_describe(const unet_context *ctx, unet_tune_info *info)
{
    if (!ctx || !info) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "tune: describe needs a context and a result");
    memset(info, 0, sizeof *info);
    info->device = ctx->info;
    snprintf(info->cache_dir, sizeof info->cache_dir, "%s", ctx->cache_dir);
    snprintf(info->clblast_version, sizeof info->clblast_version, "%s", unet_clblast_version());
    unet_clblast_tuning_path(ctx->cache_dir, &ctx->info, info->clblast_path, sizeof info->clblast_path);
    unet_clblast_tuning *t = malloc(sizeof *t);
    if (!t) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "tune: out of host memory");
    const unet_tuning_state ts =
        unet_clblast_tuning_read(info->clblast_path, &ctx->info, t, info->clblast_why, sizeof info->clblast_why);
    free(t);
    info->clblast_state = ts == UNET_TUNING_OK      ? UNET_TUNE_FILE_OK
                          : ts == UNET_TUNING_STALE ? UNET_TUNE_FILE_STALE
                          : ts == UNET_TUNING_CORRUPT ? UNET_TUNE_FILE_CORRUPT
                                                      : UNET_TUNE_FILE_NONE;
    if (info->clblast_state == UNET_TUNE_FILE_OK || info->clblast_state == UNET_TUNE_FILE_NONE)
        info->clblast_why[0] = '\0';
    unet_gpuconv_tuning_path(ctx->cache_dir, &ctx->info, info->conv_path, sizeof info->conv_path);
    info->conv_present = access(info->conv_path, R_OK) == 0;
    unet_cpu_tuning_path(ctx->cache_dir, &ctx->info, info->cpu_path, sizeof info->cpu_path);
    if (ctx->info.type == UNET_DEVICE_CPU) {
        info->cpu_source = ctx->cpu_tuning == UNET_CPU_TUNING_FILE       ? UNET_TUNE_CPU_FILE
                           : ctx->cpu_tuning == UNET_CPU_TUNING_SHIPPED  ? UNET_TUNE_CPU_SHIPPED
                           : ctx->cpu_tuning == UNET_CPU_TUNING_SEARCHED ? UNET_TUNE_CPU_SEARCHED
                                                                          : UNET_TUNE_CPU_DEFAULTS;
        snprintf(info->cpu_why, sizeof info->cpu_why, "%s", ctx->cpu_tuning_why);
        info->cpu_nknobs = UNET_TUNE_CPU_KNOBS < UNET_CPU_TUNED_KNOBS ? UNET_TUNE_CPU_KNOBS : UNET_CPU_TUNED_KNOBS;
        for (int i = 0; i < info->cpu_nknobs; i++) {
            snprintf(info->cpu_knobs[i], sizeof info->cpu_knobs[i], "%s", unet_cpu_tuned_knobs[i]);
            unet_knob_get(&ctx->knobs, unet_cpu_tuned_knobs[i], info->cpu_knob_values[i],
                          sizeof info->cpu_knob_values[i]);
        }
    } else {
        snprintf(info->cpu_why, sizeof info->cpu_why, "not a CPU device: its GEMMs run on CLBlast");
    }
    unet_tuning_summary(ctx->cache_dir, &ctx->info, info->summary, sizeof info->summary);
    return UNET_OK;
}
