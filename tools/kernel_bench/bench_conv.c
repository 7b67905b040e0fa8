/* bench_conv: one 3x3 convolution layer forward, the convolution algorithms
 * side by side in one process (alternating runs, medians), for comparing
 * them on a loaded machine. --wgrad: the weight gradient instead (dW only),
 * im2col + GEMM vs Winograd (UNETCL_WGRAD).
 *   bench_conv [--device SEL] [--runs N] [--wgrad] CIN COUT H W [CIN COUT H W ...] */
#define _POSIX_C_SOURCE 200809L
#include "conv_internal.h"
#include "bench_util.h"
#include "clock.h"
#include "unetcl/unetcl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* buf[i] = scale * sin(f * i) */
static unet_status fill_pattern(unet_context *ctx, cl_mem buf, size_t n, float scale, double f)
{
    float *x = malloc(n * sizeof(float));
    if (!x) return UNET_ERR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)sin(f * (double)i);
    unet_status st = unet_buffer_write(ctx, buf, 0, n * sizeof(float), x);
    free(x);
    return st;
}

int main(int argc, char **argv)
{
    const char *dev = "cpu";
    int runs = 3, i = 1, wgrad = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc) dev = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--wgrad")) wgrad = 1;
        else {
            printf("usage: bench_conv [--device SEL] [--runs N] [--wgrad] CIN COUT H W [...]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 50 || (argc - i) % 4 != 0 || argc == i) {
        printf("usage: bench_conv [--device SEL] [--runs N] [--wgrad] CIN COUT H W [...]\n");
        return 2;
    }
    unet_context_options co;
    unet_context_options_default(&co);
    co.device = dev;
    unet_context *ctx;
    if (unet_context_create(&co, &ctx) != UNET_OK) {
        fprintf(stderr, "bench_conv: %s\n", unet_last_error());
        return 1;
    }
    for (; i + 3 < argc; i += 4) {
        const int cin = atoi(argv[i]), cout = atoi(argv[i + 1]), h = atoi(argv[i + 2]), w = atoi(argv[i + 3]);
        unet_tensor in = {0}, out = {0};
        cl_mem params = NULL, ws = NULL;
        const size_t nw = (size_t)cout * cin * 9;
        /* as in the network: one workspace of up to 512 MiB shared by all layers */
        size_t wsf = unet_conv_workspace_floats(cin, h, w, 3, (size_t)512 << 20);
        size_t wwf = unet_conv_winograd_workspace_floats(ctx, cin, cout, h, w, (h - 2 + 3) / 4);
        if (wwf > wsf) wsf = wwf < ((size_t)128 << 20) ? wwf : ((size_t)128 << 20);
        if (wgrad && wsf < 36 * (size_t)cout * cin + ((size_t)4 << 20)) wsf = 36 * (size_t)cout * cin + ((size_t)4 << 20);
        unet_status st = unet_tensor_alloc(ctx, &in, cin, h, w, "in");
        if (st == UNET_OK) st = unet_tensor_alloc(ctx, &out, cout, h - 2, w - 2, "out");
        if (st == UNET_OK) st = unet_buffer_alloc(ctx, &params, 2 * (nw + (size_t)cout) * 4, "params");
        if (st == UNET_OK) st = unet_buffer_alloc(ctx, &ws, wsf * 4, "ws");
        /* data like a network's (constant data would make the caches and the
         * branch predictors look better than they are) */
        if (st == UNET_OK) st = fill_pattern(ctx, in.mem, (size_t)cin * h * w, 1.0f, 0.013);
        if (st == UNET_OK) st = fill_pattern(ctx, out.mem, (size_t)cout * (h - 2) * (w - 2), 1e-3f, 0.007);
        if (st == UNET_OK) st = fill_pattern(ctx, params, 2 * (nw + (size_t)cout), 0.05f, 0.011);
        unet_slice sw = {params, 0}, sb = {params, nw}, gw = {params, nw + (size_t)cout},
                   gb = {params, 2 * nw + (size_t)cout};
        double t[UNET_CONV_ALGO_COUNT][50];
        const double gflop = 2.0 * cout * cin * 9 * (double)(h - 2) * (w - 2) * 1e-9;
        for (int r = -1; st == UNET_OK && r < runs; r++)
            for (int a = 0; a < UNET_CONV_ALGO_COUNT && st == UNET_OK; a++) {
                double t0 = unet_now_s();
                if (wgrad) {
                    /* algo 0: im2col dW, 1: Winograd dW */
                    setenv("UNETCL_WGRAD", a ? "winograd" : "im2col", 1);
                    st = unet_conv_backward_algo(ctx, UNET_CONV_WINOGRAD_F4, &in, &out, &out, sw, 3, 0, NULL, 0, gw,
                                                 gb, 0, ws, wsf);
                } else {
                    st = unet_conv_forward_algo(ctx, (unet_conv_algo_id)a, &in, sw, sb, 3, 1, &out, ws, wsf);
                }
                if (st == UNET_OK) st = unet_finish(ctx);
                if (r >= 0) t[a][r] = unet_now_s() - t0;
            }
        if (st != UNET_OK) {
            fprintf(stderr, "bench_conv: %d->%d %dx%d: %s\n", cin, cout, h, w, unet_last_error());
            return 1;
        }
        printf("%s %4d->%4d %4dx%-4d %6.1f GFLOP:", wgrad ? "dW  " : "conv", cin, cout, h, w, gflop);
        double base = 0;
        for (int a = 0; a < UNET_CONV_ALGO_COUNT; a++) {
            double med = bench_median(t[a], runs);
            if (a == 0) base = med;
            printf("  algo%d %8.1f ms (%5.1f GFLOP/s, x%.2f)", a, 1e3 * med, gflop / med, base / med);
        }
        printf("\n");
        fflush(stdout);
        unet_tensor_free(&in), unet_tensor_free(&out);
        clReleaseMemObject(params), clReleaseMemObject(ws);
    }
    unet_context_destroy(ctx);
    return 0;
}
