/* Small utility kernels: scaling, accumulation. */

__kernel void scale_inplace(__global float *x, const int n, const float s)
{
    int i = get_global_id(0);
    if (i < n) x[i] *= s;
}

__kernel void axpy(__global float *y, __global const float *x, const int n, const float a)
{
    int i = get_global_id(0);
    if (i < n) y[i] += a * x[i];
}

/* x = a * x + b (normalisation of an input tile) */
__kernel void affine_inplace(__global float *x, const int off, const int n, const float a, const float b)
{
    int i = get_global_id(0);
    if (i < n) x[off + i] = a * x[off + i] + b;
}
