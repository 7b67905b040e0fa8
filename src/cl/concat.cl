/* Centre crop of the skip feature map + channel concatenation, forward and
 * backward. The crop offset (oy, ox) is computed on the host:
 * ((hs - hu) / 2, (ws - wu) / 2), rounded down. */

/* One work-item per output element: (cs + cu) * hu * wu. */
__kernel void concat_fwd(__global const float *skip, __global const float *up, __global float *out,
                         const int cs, const int hs, const int ws, const int cu, const int hu,
                         const int wu, const int oy, const int ox)
{
    const size_t plane = (size_t)hu * (size_t)wu;
    const size_t n = (size_t)(cs + cu) * plane;
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const size_t ch = i / plane;
    const size_t r = i - ch * plane;
    if (ch < (size_t)cs) {
        const int y = (int)(r / (size_t)wu), x = (int)(r % (size_t)wu);
        out[i] = skip[(ch * (size_t)hs + (size_t)(y + oy)) * (size_t)ws + (size_t)(x + ox)];
    } else {
        out[i] = up[i - (size_t)cs * plane];
    }
}

/* Gradient of the skip map: one work-item per skip element cs * hs * ws.
 * Outside the crop the gradient is 0. */
__kernel void concat_bwd_skip(__global const float *dout, __global float *dskip, const int cs,
                              const int hs, const int ws, const int hu, const int wu, const int oy,
                              const int ox, const int accumulate)
{
    const size_t n = (size_t)cs * (size_t)hs * (size_t)ws;
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const int x = (int)(i % (size_t)ws);
    const size_t t = i / (size_t)ws;
    const int y = (int)(t % (size_t)hs);
    const size_t ch = t / (size_t)hs;
    const int yu = y - oy, xu = x - ox;
    float g = 0.0f;
    if (yu >= 0 && yu < hu && xu >= 0 && xu < wu)
        g = dout[(ch * (size_t)hu + (size_t)yu) * (size_t)wu + (size_t)xu];
    dskip[i] = accumulate ? dskip[i] + g : g;
}

/* Gradient of the up map: the channels cs.. of dout. n = cu * hu * wu. */
__kernel void concat_bwd_up(__global const float *dout, __global float *dup, const int cs,
                            const int cu, const int hu, const int wu, const int accumulate)
{
    const size_t plane = (size_t)hu * (size_t)wu;
    const size_t n = (size_t)cu * plane;
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float g = dout[i + (size_t)cs * plane];
    dup[i] = accumulate ? dup[i] + g : g;
}
