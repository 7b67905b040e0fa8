/* Measures the device's float32 FMA throughput (for "share of peak"). */
#define _POSIX_C_SOURCE 200809L
#include "ocl.h"
#include "clock.h"
#include "tensor.h"

#include <time.h>


unet_status unet_measure_peak_gflops(unet_context *ctx, double *gflops)
{
    cl_kernel k;
    const int cpu = ctx->info.type == UNET_DEVICE_CPU;
    /* CPU devices: work-groups of one work-item (peak.cl says why), 16 chains */
    UNET_TRY(unet_kernel_get(ctx, "peak", cpu ? "fma_peak_cpu" : "fma_peak", &k));
    const int chains = cpu ? 16 : 8;
    size_t items = (size_t)ctx->info.compute_units * (ctx->info.type == UNET_DEVICE_GPU ? 2048 : 16);
    const size_t one = 1;
    cl_mem out;
    UNET_TRY(unet_buffer_alloc(ctx, &out, items * sizeof(float), "peak probe"));
    float a = 0.999f, b = 1e-4f;
    int iters = 1024;
    double best = 0;
    unet_status st = UNET_OK;
    for (int rep = 0; rep < 6 && st == UNET_OK; rep++) {
        cl_int e = UNET_SET_ARGS(k, unet_arg_mem(out), unet_arg_int(iters), unet_arg_float(a), unet_arg_float(b));
        if (e != CL_SUCCESS) {
            st = unet_cl_fail(e, __FILE__, __LINE__, "setting fma_peak arguments");
            break;
        }
        double t0 = unet_now_s();
        if ((st = unet_enqueue(ctx, k, "fma_peak", 1, &items, cpu ? &one : NULL)) != UNET_OK) break;
        if ((st = unet_finish(ctx)) != UNET_OK) break;
        double dt = unet_now_s() - t0;
        double g = (double)items * iters * chains * 16 * 2 / dt * 1e-9;
        if (g > best) best = g;
        if (dt < 0.05 && iters < (1 << 20)) iters *= 4; /* grow until it takes long enough */
    }
    clReleaseMemObject(out);
    *gflops = best;
    return st;
}
