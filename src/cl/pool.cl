/* 2x2 stride-2 max-pooling, forward and backward (gather, no atomics).
 * argmax holds the position of the maximum in its window as a uchar:
 * 0 = (0,0), 1 = (0,1), 2 = (1,0), 3 = (1,1); the first maximum wins.
 *
 * Both kernels work on 8 outputs of one row per work-item (16 input
 * columns, vector loads/stores; the row tail is done element-wise). Since
 * h is even, input row 2r and 2r+1 of the flattened (channel, row) index
 * belong to output row r of the same channel. */

/* Global size: (ceil(wo / 8), c * ho). want_arg = 0: argmax is not written
 * (inference; pass any buffer). */
__kernel void pool_max_fwd(__global const float *in, __global float *out, __global uchar *argmax,
                           const int c, const int h, const int w, const int want_arg)
{
    const int ho = h / 2, wo = w / 2;
    const int x0 = (int)get_global_id(0) * 8;
    const int r = (int)get_global_id(1);
    if (x0 >= wo || r >= c * ho) return;
    __global const float *p0 = in + (size_t)(2 * r) * (size_t)w + (size_t)(2 * x0);
    __global const float *p1 = p0 + w;
    const size_t o = (size_t)r * (size_t)wo + (size_t)x0;
    if (x0 + 8 <= wo) {
        const float16 a = vload16(0, p0), b = vload16(0, p1);
        float8 best = a.even;
        int8 arg = (int8)(0);
        int8 s = isgreater(a.odd, best);
        best = select(best, a.odd, s);
        arg = select(arg, (int8)(1), s);
        s = isgreater(b.even, best);
        best = select(best, b.even, s);
        arg = select(arg, (int8)(2), s);
        s = isgreater(b.odd, best);
        best = select(best, b.odd, s);
        arg = select(arg, (int8)(3), s);
        vstore8(best, 0, out + o);
        if (want_arg) vstore8(convert_uchar8(arg), 0, argmax + o);
        return;
    }
    for (int x = 0; x0 + x < wo; x++) {
        const float v0 = p0[2 * x], v1 = p0[2 * x + 1], v2 = p1[2 * x], v3 = p1[2 * x + 1];
        float best = v0;
        uchar arg = 0;
        if (v1 > best) { best = v1; arg = 1; }
        if (v2 > best) { best = v2; arg = 2; }
        if (v3 > best) { best = v3; arg = 3; }
        out[o + x] = best;
        if (want_arg) argmax[o + x] = arg;
    }
}

/* Global size: (ceil(wo / 8), c * h): 16 input pixels of one input row per
 * work-item. Each pixel takes the gradient of its window when it is the
 * window's argmax, else 0. */
__kernel void pool_max_bwd(__global const float *dout, __global const uchar *argmax,
                           __global float *din, const int c, const int h, const int w,
                           const int accumulate)
{
    const int wo = w / 2;
    const int x0 = (int)get_global_id(0) * 8;
    const int R = (int)get_global_id(1);
    if (x0 >= wo || R >= c * h) return;
    const size_t o = (size_t)(R >> 1) * (size_t)wo + (size_t)x0;
    __global float *p = din + (size_t)R * (size_t)w + (size_t)(2 * x0);
    const int dy2 = (R & 1) * 2;
    if (x0 + 8 <= wo) {
        const float8 g = vload8(0, dout + o);
        const int8 a = convert_int8(vload8(0, argmax + o));
        const float8 ge = select((float8)(0.0f), g, a == (int8)(dy2));
        const float8 go = select((float8)(0.0f), g, a == (int8)(dy2 + 1));
        float16 v;
        v.even = ge;
        v.odd = go;
        if (accumulate) v += vload16(0, p);
        vstore16(v, 0, p);
        return;
    }
    for (int x = 0; x0 + x < wo; x++) {
        const uchar a = argmax[o + x];
        const float g = dout[o + x];
        const float ge = a == dy2 ? g : 0.0f, go = a == dy2 + 1 ? g : 0.0f;
        p[2 * x] = accumulate ? p[2 * x] + ge : ge;
        p[2 * x + 1] = accumulate ? p[2 * x + 1] + go : go;
    }
}
