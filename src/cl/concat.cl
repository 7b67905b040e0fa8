/* Centre crop of the skip feature map + channel concatenation, forward and
 * backward. The crop offset (oy, ox) is computed on the host:
 * ((hs - hu) / 2, (ws - wu) / 2), rounded down. The up half of the
 * concatenation is a plain copy (clEnqueueCopyBuffer, or nothing at all when
 * the up-convolution writes straight into the concatenation buffer); the
 * kernels here do the cropped skip half, 16 columns of one row per
 * work-item (vector loads/stores, the row tail element-wise). */

/* out[ch][y][x] = skip[ch][y + oy][x + ox] for ch < cs.
 * Global size: (ceil(wu / 16), cs * hu). */
__kernel void concat_crop_fwd(__global const float *skip, __global float *out, const int cs, const int hs,
                              const int ws, const int hu, const int wu, const int oy, const int ox)
{
    const int x0 = (int)get_global_id(0) * 16;
    const int r = (int)get_global_id(1);
    if (x0 >= wu || r >= cs * hu) return;
    const int ch = r / hu, y = r - ch * hu;
    __global const float *src = skip + ((size_t)ch * (size_t)hs + (size_t)(y + oy)) * (size_t)ws + (size_t)(ox + x0);
    __global float *dst = out + (size_t)r * (size_t)wu + (size_t)x0;
    if (x0 + 16 <= wu) {
        vstore16(vload16(0, src), 0, dst);
        return;
    }
    for (int x = 0; x0 + x < wu; x++) dst[x] = src[x];
}

/* Gradient of the skip map: 16 columns of one row of dskip per work-item.
 * Outside the crop the gradient is 0. Global size: (ceil(ws / 16), cs * hs). */
__kernel void concat_bwd_skip(__global const float *dout, __global float *dskip, const int cs,
                              const int hs, const int ws, const int hu, const int wu, const int oy,
                              const int ox, const int accumulate)
{
    const int x0 = (int)get_global_id(0) * 16;
    const int r = (int)get_global_id(1);
    if (x0 >= ws || r >= cs * hs) return;
    const int ch = r / hs, y = r - ch * hs;
    const int yu = y - oy;
    __global float *p = dskip + (size_t)r * (size_t)ws + (size_t)x0;
    const int inside = yu >= 0 && yu < hu;
    __global const float *src = dout + ((size_t)ch * (size_t)hu + (size_t)(inside ? yu : 0)) * (size_t)wu;
    if (x0 + 16 <= ws && (!inside || (x0 >= ox && x0 + 16 <= ox + wu))) {
        float16 g = inside ? vload16(0, src + (x0 - ox)) : (float16)(0.0f);
        if (accumulate) g += vload16(0, p);
        vstore16(g, 0, p);
        return;
    }
    for (int x = x0; x < x0 + 16 && x < ws; x++) {
        const int xu = x - ox;
        const float g = (inside && xu >= 0 && xu < wu) ? src[xu] : 0.0f;
        p[x - x0] = accumulate ? p[x - x0] + g : g;
    }
}

/* Gradient of the up map, accumulated: dup += channels cs.. of dout.
 * n = cu * hu * wu (the overwrite case is a buffer copy). */
__kernel void concat_bwd_up_acc(__global const float *dout, __global float *dup, const int cs,
                                const int cu, const int hu, const int wu)
{
    const size_t plane = (size_t)hu * (size_t)wu;
    const size_t n = (size_t)cu * plane;
    const size_t i = get_global_id(0);
    if (i >= n) return;
    dup[i] += dout[i + (size_t)cs * plane];
}
