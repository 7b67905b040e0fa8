/* Convolution helpers: im2col / col2im for k x k valid convolutions (chunks
 * of output rows), bias (+ReLU), ReLU backward mask, bias gradient, and the
 * pixel shuffle / unshuffle of the 2x2 stride-2 up-convolution.
 * Tensors are channel-major [C][H][W]; all indices are checked against the
 * sizes because the global size is rounded up to the work-group size. */

/* col[col_off + row*ncols + j], row = c*k*k + ky*k + kx, ncols = (r1-r0)*wo,
 * j = (oy-r0)*wo + ox, holds in[c][oy+ky][ox+kx] for output rows [r0, r1).
 * Global size: (ncols, cin*k*k). */
__kernel void im2col(__global const float *in, const int h, const int w, const int k, const int r0,
                     const int r1, const int cin, __global float *col, const int col_off)
{
    const int j = get_global_id(0);
    const int row = get_global_id(1);
    const int wo = w - k + 1;
    const int ncols = (r1 - r0) * wo;
    if (j >= ncols || row >= cin * k * k) return;
    const int kk = k * k;
    const int c = row / kk;
    const int rem = row - c * kk;
    const int ky = rem / k;
    const int kx = rem - ky * k;
    const int oy = r0 + j / wo;
    const int ox = j % wo;
    col[col_off + row * ncols + j] = in[(c * h + oy + ky) * w + ox + kx];
}

/* Adjoint of im2col for the chunk of output rows [r0, r1): every input pixel
 * of rows [r0, r1+k-1) gathers the column entries that came from it and adds
 * their sum to din (no atomics: each work-item owns one pixel; chunks run one
 * after the other on the in-order queue). The sum is in fixed (ky, kx) order.
 * Global size: (w, cin * (r1 - r0 + k - 1)). */
__kernel void col2im_add(__global const float *col, const int col_off, const int h, const int w,
                         const int k, const int r0, const int r1, const int cin,
                         __global float *din)
{
    const int x = get_global_id(0);
    const int g = get_global_id(1);
    const int nrows = r1 - r0 + k - 1;
    if (x >= w || g >= cin * nrows) return;
    const int c = g / nrows;
    const int y = r0 + (g - c * nrows);
    if (y >= h) return;
    const int wo = w - k + 1;
    const int ncols = (r1 - r0) * wo;
    float s = 0.0f;
    for (int ky = 0; ky < k; ky++) {
        const int oy = y - ky;
        if (oy < r0 || oy >= r1) continue;
        for (int kx = 0; kx < k; kx++) {
            const int ox = x - kx;
            if (ox < 0 || ox >= wo) continue;
            const int row = (c * k + ky) * k + kx;
            s += col[col_off + row * ncols + (oy - r0) * wo + ox];
        }
    }
    din[(c * h + y) * w + x] += s;
}

/* x[c][i] = relu?(x[c][i] + bias[c]) in place; x has hw values per channel.
 * Global size: (hw, channels). */
__kernel void bias_act(__global float *x, const int hw, const int channels,
                       __global const float *bias, const int bias_off, const int relu)
{
    const int i = get_global_id(0);
    const int c = get_global_id(1);
    if (i >= hw || c >= channels) return;
    const int idx = c * hw + i;
    float v = x[idx] + bias[bias_off + c];
    if (relu) v = v > 0.0f ? v : 0.0f;
    x[idx] = v;
}

/* dout[i] = out[i] > 0 ? dout[i] : 0 (ReLU backward from the ReLU output). */
__kernel void relu_mask(__global float *dout, __global const float *out, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    dout[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* CPU devices: the ReLU mask (when out is given: d = out > 0 ? d : 0, written
 * back) and the bias gradient in one pass, one work-item per channel summing
 * float16 lanes in a fixed order (deterministic). Global size: channels. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void relu_bias_grad_cpu(
    __global float *d, __global const float *out, const int relu, const int hw, const int channels,
    __global float *dbias, const int dbias_off, const int accumulate)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int c = get_global_id(0);
    if (c >= channels) return;
    __global float *p = d + (size_t)c * hw;
    __global const float *o = out + (size_t)c * hw;
    float16 acc = (float16)(0.0f);
    int i = 0;
    for (; i + 16 <= hw; i += 16) {
        float16 x = vload16(0, p + i);
        if (relu) {
            x = select((float16)(0.0f), x, vload16(0, o + i) > (float16)(0.0f));
            vstore16(x, 0, p + i);
        }
        acc += x;
    }
    float s = 0.0f;
    for (; i < hw; i++) {
        float x = p[i];
        if (relu) {
            x = o[i] > 0.0f ? x : 0.0f;
            p[i] = x;
        }
        s += x;
    }
    const float8 a8 = acc.lo + acc.hi;
    const float4 a4 = a8.lo + a8.hi;
    const float2 a2 = a4.lo + a4.hi;
    s += a2.x + a2.y;
    dbias[dbias_off + c] = (accumulate ? dbias[dbias_off + c] : 0.0f) + s;
}

/* dbias[c] = (accumulate ? dbias[c] : 0) + sum_i d[c][i], one work-group per
 * channel: each work-item sums a strided part in order, then a fixed tree
 * over local memory (the work-group size must be a power of two).
 * Global size: channels * lws, local size lws. */
__kernel void bias_grad(__global const float *d, const int hw, const int channels,
                        __global float *dbias, const int dbias_off, const int accumulate,
                        __local float *scratch)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int n = get_local_size(0);
    float s = 0.0f;
    if (c < channels) {
        __global const float *p = d + (size_t)c * hw;
        for (int i = lid; i < hw; i += n) s += p[i];
    }
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = n / 2; step > 0; step /= 2) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && c < channels) {
        const float prev = accumulate ? dbias[dbias_off + c] : 0.0f;
        dbias[dbias_off + c] = prev + scratch[0];
    }
}

/* Up-convolution output: out[co][2y+dy][2x+dx] = relu?(ws[co*4+dy*2+dx][y*w+x]
 * + bias[co]). h, w: input size. */
__kernel void pixel_shuffle_bias(__global const float *ws, const int h, const int w, const int cout,
                                 __global const float *bias, const int bias_off, const int relu,
                                 __global float *out)
{
    /* 8 input columns -> 16 output columns of output row Y per work-item.
     * Global size: (ceil(w / 8), 2h * cout). */
    const int x0 = (int)get_global_id(0) * 8;
    const int g = (int)get_global_id(1);
    const int W2 = 2 * w, H2 = 2 * h;
    if (x0 >= w || g >= H2 * cout) return;
    const int co = g / H2;
    const int Y = g - co * H2;
    const int y = Y >> 1, dy = Y & 1;
    const size_t hw = (size_t)h * (size_t)w;
    __global const float *s0 = ws + (size_t)(co * 4 + dy * 2) * hw + (size_t)y * (size_t)w + (size_t)x0;
    __global const float *s1 = s0 + hw;
    __global float *o = out + (size_t)g * (size_t)W2 + (size_t)(2 * x0);
    const float b = bias[bias_off + co];
    if (x0 + 8 <= w) {
        float16 v;
        v.even = vload8(0, s0);
        v.odd = vload8(0, s1);
        v += b;
        if (relu) v = select((float16)(0.0f), v, isgreater(v, (float16)(0.0f)));
        vstore16(v, 0, o);
        return;
    }
    for (int x = 0; x0 + x < w; x++) {
        float v0 = s0[x] + b, v1 = s1[x] + b;
        if (relu) {
            v0 = v0 > 0.0f ? v0 : 0.0f;
            v1 = v1 > 0.0f ? v1 : 0.0f;
        }
        o[2 * x] = v0;
        o[2 * x + 1] = v1;
    }
}

/* Inverse of the shuffle: ws[co*4+dy*2+dx][y*w+x] = d[co][2y+dy][2x+dx].
 * Global size: (ceil(w / 8), 2h * cout): 16 columns of one row of d per
 * work-item. */
__kernel void pixel_unshuffle(__global const float *d, const int h, const int w, const int cout,
                              __global float *ws)
{
    const int x0 = (int)get_global_id(0) * 8;
    const int g = (int)get_global_id(1);
    const int W2 = 2 * w, H2 = 2 * h;
    if (x0 >= w || g >= H2 * cout) return;
    const int co = g / H2;
    const int Y = g - co * H2;
    const int y = Y >> 1, dy = Y & 1;
    const size_t hw = (size_t)h * (size_t)w;
    __global float *s0 = ws + (size_t)(co * 4 + dy * 2) * hw + (size_t)y * (size_t)w + (size_t)x0;
    __global float *s1 = s0 + hw;
    __global const float *i = d + (size_t)g * (size_t)W2 + (size_t)(2 * x0);
    if (x0 + 8 <= w) {
        const float16 v = vload16(0, i);
        vstore8(v.even, 0, s0);
        vstore8(v.odd, 0, s1);
        return;
    }
    for (int x = 0; x0 + x < w; x++) {
        s0[x] = i[2 * x];
        s1[x] = i[2 * x + 1];
    }
}

/* CPU-device variants of im2col / col2im_add (same results, same layout):
 * one work-item per whole row, copied or summed with 16-wide vectors; run
 * with work-groups of one (PoCL then keeps the explicit vectors). */

/* Global size: (r1 - r0, cin*k*k): output row oy = r0 + gid0 of column-matrix row gid1. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void im2col_rows(
    __global const float *in, const int h, const int w, const int k, const int r0, const int r1,
    const int cin, __global float *col, const int col_off)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int oyl = get_global_id(0);
    const int row = get_global_id(1);
    if (oyl >= r1 - r0 || row >= cin * k * k) return;
    const int wo = w - k + 1, ncols = (r1 - r0) * wo, kk = k * k;
    const int c = row / kk, rem = row - c * kk, ky = rem / k, kx = rem - ky * k;
    __global const float *src = in + ((size_t)c * h + (size_t)(r0 + oyl + ky)) * w + kx;
    __global float *dst = col + col_off + (size_t)row * ncols + (size_t)oyl * wo;
    int x = 0;
    for (; x + 16 <= wo; x += 16) vstore16(vload16(0, src + x), 0, dst + x);
    for (; x < wo; x++) dst[x] = src[x];
}

/* Global size: (r1 - r0 + k - 1, cin): input row y = r0 + gid0 of channel gid1.
 * The same (ky, kx) summation order as col2im_add: identical results. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void col2im_rows(
    __global const float *col, const int col_off, const int h, const int w, const int k, const int r0,
    const int r1, const int cin, __global float *din)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int yl = get_global_id(0);
    const int c = get_global_id(1);
    const int nrows = r1 - r0 + k - 1;
    if (yl >= nrows || c >= cin) return;
    const int y = r0 + yl;
    if (y >= h) return;
    const int wo = w - k + 1, ncols = (r1 - r0) * wo;
    __global float *drow = din + ((size_t)c * h + y) * w;
    for (int x0 = 0; x0 < w; x0 += 16) {
        float16 s = (float16)(0.0f);
        const int fast = x0 >= k - 1 && x0 + 16 <= wo;
        for (int ky = 0; ky < k; ky++) {
            const int oy = y - ky;
            if (oy < r0 || oy >= r1) continue;
            for (int kx = 0; kx < k; kx++) {
                __global const float *src =
                    col + col_off + (size_t)((c * k + ky) * k + kx) * ncols + (size_t)(oy - r0) * wo;
                if (fast) {
                    s += vload16(0, src + x0 - kx);
                } else {
                    float t[16];
                    for (int j = 0; j < 16; j++) {
                        const int ox = x0 + j - kx;
                        t[j] = (ox >= 0 && ox < wo) ? src[ox] : 0.0f;
                    }
                    s += vload16(0, t);
                }
            }
        }
        if (x0 + 16 <= w) {
            vstore16(vload16(0, drow + x0) + s, 0, drow + x0);
        } else {
            float t[16];
            vstore16(s, 0, t);
            for (int j = 0; x0 + j < w; j++) drow[x0 + j] += t[j];
        }
    }
}

/* Direct 3x3 valid convolution + bias + optional ReLU for few input channels
 * (the first layer: cin = 1, where im2col + GEMM has K = 9). 16 output
 * columns of one row of one output channel per work-item; each input row is
 * read as 18 floats and shifted. w[w_off + (co*cin + ci)*9 + 3*ky + kx].
 * Global size: (ceil(wo / 16), ho, cout). */
__kernel void conv3x3_direct(__global const float *in, const int cin, const int h, const int w,
                             __global const float *wt, const int w_off, __global const float *bias,
                             const int bias_off, const int relu, const int cout, __global float *out)
{
    const int x0 = (int)get_global_id(0) * 16;
    const int y = (int)get_global_id(1);
    const int co = (int)get_global_id(2);
    const int ho = h - 2, wo = w - 2;
    if (x0 >= wo || y >= ho || co >= cout) return;
    float16 acc = (float16)(bias[bias_off + co]);
    __global const float *wc = wt + w_off + (size_t)co * (size_t)cin * 9;
    for (int ci = 0; ci < cin; ci++) {
        for (int ky = 0; ky < 3; ky++) {
            __global const float *row = in + ((size_t)ci * (size_t)h + (size_t)(y + ky)) * (size_t)w + (size_t)x0;
            float16 a;
            float2 b;
            if (x0 + 18 <= w) {
                a = vload16(0, row);
                b = vload2(8, row);
            } else {
                float buf[18];
                for (int x = 0; x < 18; x++) buf[x] = x0 + x < w ? row[x] : 0.0f;
                a = vload16(0, buf);
                b = vload2(8, buf);
            }
            const float16 s1 = (float16)(a.s1234, a.s5678, a.s9abc, a.sdef, b.s0);
            const float16 s2 = (float16)(a.s2345, a.s6789, a.sabcd, a.sef, b.s01);
            const float w0 = wc[ci * 9 + 3 * ky], w1 = wc[ci * 9 + 3 * ky + 1], w2 = wc[ci * 9 + 3 * ky + 2];
            acc = fma((float16)(w0), a, acc);
            acc = fma((float16)(w1), s1, acc);
            acc = fma((float16)(w2), s2, acc);
        }
    }
    if (relu) acc = fmax(acc, 0.0f);
    __global float *o = out + ((size_t)co * (size_t)ho + (size_t)y) * (size_t)wo + (size_t)x0;
    if (x0 + 16 <= wo) {
        vstore16(acc, 0, o);
    } else {
        float t[16];
        vstore16(acc, 0, t);
        for (int x = 0; x0 + x < wo; x++) o[x] = t[x];
    }
}

/* Transposed column matrix for the weight gradient on CPU devices (k = 3):
 * colT[p][ci*9 + 3*ky + kx] = in[ci][r0 + py + ky][px + kx], p = py*wo + px.
 * dW = dout . colT is then a GEMM with B not transposed, whose panels are
 * packed with contiguous 32-wide loads (instead of a transposing scatter).
 * One work-item per 16 output columns of one output row, all channels: it
 * fills 16 whole rows of colT (one contiguous block of 16 * cin * 9 floats).
 * Global size: (ceil(wo / 16), r1 - r0). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void im2colT_rows3(
    __global const float *in, const int h, const int w, const int r0, const int r1, const int cin,
    __global float *colT)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int x0 = (int)get_global_id(0) * 16;
    const int oyl = get_global_id(1);
    const int wo = w - 2;
    if (x0 >= wo || oyl >= r1 - r0) return;
    const size_t kdim = (size_t)cin * 9;
    __global float *dst = colT + ((size_t)oyl * (size_t)wo + (size_t)x0) * kdim;
    const int nx = min(16, wo - x0);
    for (int ci = 0; ci < cin; ci++) {
        float v[3][18];
        for (int ky = 0; ky < 3; ky++) {
            __global const float *row =
                in + ((size_t)ci * (size_t)h + (size_t)(r0 + oyl + ky)) * (size_t)w + (size_t)x0;
            if (x0 + 18 <= w) {
                vstore16(vload16(0, row), 0, v[ky]);
                vstore2(vload2(8, row), 8, v[ky]);
            } else {
                for (int x = 0; x < 18; x++) v[ky][x] = x0 + x < w ? row[x] : 0.0f;
            }
        }
        __global float *d = dst + (size_t)ci * 9;
        for (int j = 0; j < nx; j++) {
            /* the 9 values of pixel j: one contiguous run */
            vstore8((float8)(v[0][j], v[0][j + 1], v[0][j + 2], v[1][j], v[1][j + 1], v[1][j + 2], v[2][j],
                             v[2][j + 1]),
                    0, d + (size_t)j * kdim);
            d[(size_t)j * kdim + 8] = v[2][j + 2];
        }
    }
}
