/* SGD with momentum, Caffe form: v = momentum * v - lr * (g + wd * w); w += v. */
__kernel void sgd_momentum(__global float *w, const ulong woff, __global const float *g,
                           const ulong goff, __global float *v, const ulong voff, const ulong n,
                           const float lr, const float momentum, const float wd)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float wi = w[woff + i];
    const float vi = momentum * v[voff + i] - lr * (g[goff + i] + wd * wi);
    v[voff + i] = vi;
    w[woff + i] = wi + vi;
}

/* The same update for CPU devices: 1024 consecutive parameters per
 * work-item in float16 vectors (work-groups of one; PoCL runs the scalar
 * form above at ~7 GB/s). The arithmetic per element is the same. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void sgd_momentum_cpu(
    __global float *w, const ulong woff, __global const float *g, const ulong goff, __global float *v,
    const ulong voff, const ulong n, const float lr, const float momentum, const float wd)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const size_t i0 = get_global_id(0) * 1024;
    if (i0 >= n) return;
    __global float *pw = w + woff + i0, *pv = v + voff + i0;
    __global const float *pg = g + goff + i0;
    const size_t m = min((size_t)1024, (size_t)(n - i0));
    size_t i = 0;
    for (; i + 16 <= m; i += 16) {
        const float16 wi = vload16(0, pw + i);
        const float16 vi = momentum * vload16(0, pv + i) - lr * (vload16(0, pg + i) + wd * wi);
        vstore16(vi, 0, pv + i);
        vstore16(wi + vi, 0, pw + i);
    }
    for (; i < m; i++) {
        const float wi = pw[i];
        const float vi = momentum * pv[i] - lr * (pg[i] + wd * wi);
        pv[i] = vi;
        pw[i] = wi + vi;
    }
}
