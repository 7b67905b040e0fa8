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
