/* bench_gemm: times unet_gemm's two paths (the CPU-device GEMM and CLBlast)
 * side by side on the U-Net's GEMM shapes: per shape and path the median
 * wall time of several runs (clFinish after each; runs of the two paths
 * interleaved so that load on a shared machine hits both alike), GFLOP/s
 * (multiply-add = 2) and the speedup of the CPU GEMM (clblast ms / cpu ms).
 *
 *   bench_gemm [--quick] [--reps N] [--path both|cpu|clblast] [--device SEL]
 *              [--shape MxNxK[tA][tB]]...   (e.g. --shape 576x322624x64tA)
 *   bench_gemm --tuning [--quick] [--reps N] [--device SEL] [--shape ...]
 *
 * --tuning: CLBlast with its default parameters against CLBlast with the
 * device's tuned parameters (the file `unetcl tune` writes), both through
 * unet_gemm's CLBlast path, switched with CLBlastOverrideParameters before
 * every run; the last column is default ms / tuned ms.
 */
#define _POSIX_C_SOURCE 200809L
#include "clblast_tune.h"
#include "bench_util.h"
#include "clock.h"
#include "gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bshape {
    size_t m, n, k;
    int ta, tb;
    const char *what;
} bshape;

/* Paper network, 572x572 input tile (conv = im2col + GEMM: C[Cout, H*W] = W[Cout, Cin*9] x col). */
static const bshape FULL[] = {
    {64, 568 * 568, 576, 0, 0, "L1 conv2 fwd (572 tile)"},
    {128, 280 * 280, 1152, 0, 0, "L2 conv2 fwd"},
    {256, 136 * 136, 2304, 0, 0, "L3 conv2 fwd"},
    {512, 64 * 64, 4608, 0, 0, "L4 conv2 fwd"},
    {1024, 28 * 28, 4608, 0, 0, "L5 conv fwd (K as conv1)"},
    {576, 568 * 568, 64, 1, 0, "L1 conv2 bwd data (W^T dY)"},
    {64, 576, 568 * 568, 0, 1, "L1 conv2 bwd weights (dY col^T)"},
    {1152, 280 * 280, 128, 1, 0, "L2 conv2 bwd data"},
    {512, 4608, 64 * 64, 0, 1, "L4 conv2 bwd weights"},
};
/* --quick: the same kinds of shapes, smaller (a few seconds in all). */
static const bshape QUICK[] = {
    {64, 128 * 128, 576, 0, 0, "L1 conv2 fwd, 128x128 px"},
    {128, 64 * 64, 1152, 0, 0, "L2 conv2 fwd, 64x64 px"},
    {1024, 28 * 28, 4608, 0, 0, "L5 conv fwd"},
    {576, 128 * 128, 64, 1, 0, "L1 conv2 bwd data, 128x128 px"},
    {64, 576, 128 * 128, 0, 1, "L1 conv2 bwd weights, 128x128 px"},
};

static cl_mem make_buf(unet_context *ctx, size_t n, float v)
{
    cl_int err;
    cl_mem m = clCreateBuffer(ctx->ctx, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, "bench_gemm: allocating %zu MiB: %s\n", (n * sizeof(float)) >> 20, unet_cl_errname(err));
        return NULL;
    }
    if (clEnqueueFillBuffer(ctx->queue, m, &v, sizeof v, 0, n * sizeof(float), 0, NULL, NULL) != CL_SUCCESS) {
        clReleaseMemObject(m);
        return NULL;
    }
    return m;
}

static int parse_shape(const char *s, bshape *b)
{
    unsigned long long m, n, k;
    int used = 0;
    if (sscanf(s, "%llux%llux%llu%n", &m, &n, &k, &used) != 3 || !m || !n || !k) return -1;
    memset(b, 0, sizeof *b);
    b->m = m;
    b->n = n;
    b->k = k;
    b->ta = strstr(s + used, "tA") != NULL;
    b->tb = strstr(s + used, "tB") != NULL;
    b->what = "command line";
    return 0;
}

static void usage(void)
{
    printf("usage: bench_gemm [--quick] [--reps N] [--path both|cpu|clblast] [--device SEL] [--shape MxNxK[tA][tB]]...\n"
           "Times unet_gemm's CPU-device GEMM and CLBlast side by side (median of N runs, default 5;\n"
           "--quick: smaller shapes, 3 runs). Prints ms and GFLOP/s per path and the speedup (clblast ms / cpu ms).\n"
           "--tuning: CLBlast default parameters vs the device's tuned ones (`unetcl tune`), speedup = default / tuned.\n");
}

int main(int argc, char **argv)
{
    int quick = 0, reps = 0, use[3] = {0, 1, 1}, tuning = 0;
    const char *device = NULL;
    bshape custom[32];
    int ncustom = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--tuning")) tuning = 1;
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--path") && i + 1 < argc) {
            const char *p = argv[++i];
            use[UNET_GEMM_CPU] = !strcmp(p, "both") || !strcmp(p, "cpu");
            use[UNET_GEMM_CLBLAST] = !strcmp(p, "both") || !strcmp(p, "clblast");
            if (!use[1] && !use[2]) { usage(); return 2; }
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc && ncustom < 32) {
            if (parse_shape(argv[++i], &custom[ncustom])) { usage(); return 2; }
            ncustom++;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(); return 0; }
        else { usage(); return 2; }
    }
    if (reps <= 0) reps = quick ? 3 : 5;
    if (reps > 100) reps = 100;
    const bshape *shapes = ncustom ? custom : quick ? QUICK : FULL;
    const int nshapes = ncustom ? ncustom : quick ? (int)(sizeof QUICK / sizeof *QUICK) : (int)(sizeof FULL / sizeof *FULL);

    unet_context_options o;
    unet_context_options_default(&o);
    o.device = device;
    o.disable_clblast_tuning = tuning; /* bench_gemm switches the parameters itself */
    unet_context *ctx = NULL;
    if (unet_context_create(&o, &ctx) != UNET_OK) {
        fprintf(stderr, "bench_gemm: %s\n", unet_last_error());
        return 1;
    }
    static unet_clblast_tuning tf;
    if (tuning) {
        char path[1100], why[512];
        unet_clblast_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
        if (unet_clblast_tuning_read(path, &ctx->info, &tf, why, sizeof why) != UNET_TUNING_OK || !tf.ndefaults) {
            fprintf(stderr, "bench_gemm --tuning: %s%s; run `unetcl tune` first\n", why,
                    tf.ndefaults ? "" : " (or the file has no defaults)");
            unet_context_destroy(ctx);
            return 1;
        }
        printf("tuning file: %s\n  %s\n", path, tf.method);
        use[UNET_GEMM_CPU] = use[UNET_GEMM_CLBLAST] = 1; /* here: 1 = tuned, 2 = default */
    }
    unet_gemm_path auto_path = UNET_GEMM_CLBLAST;
    if (unet_gemm_path_of(ctx, &auto_path) != UNET_OK) fprintf(stderr, "bench_gemm: %s\n", unet_last_error());
    printf("device: %s (%s); unet_gemm picks %s here; median of %d runs after 1 warm-up\n", ctx->info.name,
           ctx->info.device_version, auto_path == UNET_GEMM_CPU ? "cpu" : "clblast", reps);
    if (tuning)
        printf("%-34s %-22s %8s | %10s %8s | %10s %8s | %7s\n", "shape", "MxNxK", "GFLOP", "tuned ms", "GFLOP/s",
               "default ms", "GFLOP/s", "speedup");
    else
        printf("%-34s %-22s %8s | %10s %8s | %10s %8s | %7s\n", "shape", "MxNxK", "GFLOP", "cpu ms", "GFLOP/s",
               "clblast ms", "GFLOP/s", "speedup");
    int rc = 0;
    for (int s = 0; s < nshapes; s++) {
        const bshape *b = &shapes[s];
        const size_t lda = b->ta ? b->m : b->k, ldb = b->tb ? b->k : b->n;
        cl_mem A = make_buf(ctx, b->m * b->k, 0.01f), B = make_buf(ctx, b->k * b->n, 0.02f),
               C = make_buf(ctx, b->m * b->n, 0.0f);
        char dims[64];
        snprintf(dims, sizeof dims, "%zux%zux%zu%s%s", b->m, b->n, b->k, b->ta ? "tA" : "", b->tb ? "tB" : "");
        const double gflop = 2.0 * (double)b->m * (double)b->n * (double)b->k * 1e-9;
        if (!A || !B || !C) {
            printf("%-34s %-22s %8.2f | skipped: not enough device memory\n", b->what, dims, gflop);
            if (A) clReleaseMemObject(A);
            if (B) clReleaseMemObject(B);
            if (C) clReleaseMemObject(C);
            continue;
        }
        double t[3][101];
        int ok[3] = {0, use[1], use[2]};
        for (int r = -1; r < reps; r++)
            for (int p = 1; p <= 2; p++) {
                if (!ok[p]) continue;
                unet_gemm_path path = (unet_gemm_path)p;
                if (tuning) {
                    path = UNET_GEMM_CLBLAST;
                    const unet_clblast_params *set = p == UNET_GEMM_CPU ? tf.kernels : tf.defaults;
                    const int nset = p == UNET_GEMM_CPU ? tf.nkernels : tf.ndefaults;
                    if (unet_clblast_apply(ctx, set, nset) != UNET_OK) {
                        fprintf(stderr, "bench_gemm: %s\n", unet_last_error());
                        ok[p] = 0;
                        rc = 1;
                        continue;
                    }
                }
                double t0 = unet_now_s();
                unet_status st = unet_gemm_with(ctx, path, b->ta, b->tb, b->m, b->n, b->k, 1.0f, A, 0,
                                                lda, B, 0, ldb, 0.0f, C, 0, b->n);
                if (st == UNET_OK) st = unet_finish(ctx);
                double dt = unet_now_s() - t0;
                if (st != UNET_OK) {
                    fprintf(stderr, "bench_gemm: %s on %s: %s\n",
                            tuning ? (p == UNET_GEMM_CPU ? "tuned" : "default") : p == UNET_GEMM_CPU ? "cpu" : "clblast", dims,
                            unet_last_error());
                    ok[p] = 0;
                    rc = 1;
                    continue;
                }
                if (r >= 0) t[p][r] = dt;
            }
        double ms[3] = {0, 0, 0};
        for (int p = 1; p <= 2; p++)
            if (ok[p]) {
                ms[p] = 1e3 * bench_median(t[p], reps);
            }
        printf("%-34s %-22s %8.2f |", b->what, dims, gflop);
        for (int p = UNET_GEMM_CPU; p >= UNET_GEMM_CLBLAST; p--) {
            if (ok[p]) printf(" %10.2f %8.1f |", ms[p], gflop / (ms[p] * 1e-3));
            else printf(" %10s %8s |", "-", "-");
        }
        if (ok[1] && ok[2]) printf(" %6.1fx\n", ms[UNET_GEMM_CLBLAST] / ms[UNET_GEMM_CPU]);
        else printf(" %7s\n", "-");
        fflush(stdout);
        clReleaseMemObject(A);
        clReleaseMemObject(B);
        clReleaseMemObject(C);
    }
    unet_context_destroy(ctx);
    return rc;
}
