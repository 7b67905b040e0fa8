/* 2x2 stride-2 max-pooling, forward and backward (gather, no atomics).
 * argmax holds the position of the maximum in its window as a uchar:
 * 0 = (0,0), 1 = (0,1), 2 = (1,0), 3 = (1,1); the first maximum wins. */

/* One work-item per output element: c*ho*wo. */
__kernel void pool_max_fwd(__global const float *in, __global float *out, __global uchar *argmax,
                           const int c, const int h, const int w)
{
    const int ho = h / 2, wo = w / 2;
    const size_t n = (size_t)c * (size_t)ho * (size_t)wo;
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const int x = (int)(i % (size_t)wo);
    const size_t t = i / (size_t)wo;
    const int y = (int)(t % (size_t)ho);
    const size_t ch = t / (size_t)ho;
    __global const float *p = in + (ch * (size_t)h + (size_t)(2 * y)) * (size_t)w + (size_t)(2 * x);
    const float v0 = p[0], v1 = p[1], v2 = p[w], v3 = p[w + 1];
    float best = v0;
    uchar arg = 0;
    if (v1 > best) { best = v1; arg = 1; }
    if (v2 > best) { best = v2; arg = 2; }
    if (v3 > best) { best = v3; arg = 3; }
    out[i] = best;
    argmax[i] = arg;
}

/* One work-item per input element: c*h*w. Each pixel takes the gradient of
 * its window when it is the window's argmax, else 0. */
__kernel void pool_max_bwd(__global const float *dout, __global const uchar *argmax,
                           __global float *din, const int c, const int h, const int w,
                           const int accumulate)
{
    const size_t n = (size_t)c * (size_t)h * (size_t)w;
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const int ho = h / 2, wo = w / 2;
    const int x = (int)(i % (size_t)w);
    const size_t t = i / (size_t)w;
    const int y = (int)(t % (size_t)h);
    const size_t ch = t / (size_t)h;
    const size_t o = (ch * (size_t)ho + (size_t)(y >> 1)) * (size_t)wo + (size_t)(x >> 1);
    const uchar pos = (uchar)(((y & 1) << 1) | (x & 1));
    const float g = (argmax[o] == pos) ? dout[o] : 0.0f;
    din[i] = accumulate ? din[i] + g : g;
}
