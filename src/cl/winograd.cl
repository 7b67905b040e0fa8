/* Winograd F(4x4, 3x3) convolution (valid, cross-correlation as in CNNs),
 * Lavin & Gray 2015:  Y = A^T [ (G g G^T) (.) (B^T d B) ] A  per 4x4 output
 * tile, d the 6x6 input patch at (4*ty, 4*tx). The 36 element-wise products
 * summed over input channels are 36 GEMMs  M_e[cout][T] = U_e[cout][cin] .
 * V_e[cin][T]  (T tiles), run by gemm_cpu_tile*_batched. The transforms write
 * the packed layouts that GEMM consumes (see gemm_cpu.cl):
 *   U_e: row panels of MR output channels: u[e*a_stride + (p*cin + ci)*MR + r],
 *        co = p*MR + r, rows past cout zero;
 *   V_e: 32-tile panels: v[e*b_stride + (q*cin + c)*32 + j], t = q*32 + j,
 *        tiles past T zero.
 * e = 6*i + j indexes the 6x6 transformed tile. */

/* y = B^T x (6 -> 6) */
#define WINO_BT(x, y)                                                      \
    {                                                                      \
        y[0] = 4.0f * x[0] - 5.0f * x[2] + x[4];                           \
        y[1] = -4.0f * x[1] - 4.0f * x[2] + x[3] + x[4];                   \
        y[2] = 4.0f * x[1] - 4.0f * x[2] - x[3] + x[4];                    \
        y[3] = -2.0f * x[1] - x[2] + 2.0f * x[3] + x[4];                   \
        y[4] = 2.0f * x[1] - x[2] - 2.0f * x[3] + x[4];                    \
        y[5] = 4.0f * x[1] - 5.0f * x[3] + x[5];                           \
    }

/* y = G x (3 -> 6) */
#define WINO_G(x, y)                                                       \
    {                                                                      \
        y[0] = 0.25f * x[0];                                               \
        y[1] = (-1.0f / 6.0f) * (x[0] + x[1] + x[2]);                      \
        y[2] = (-1.0f / 6.0f) * (x[0] - x[1] + x[2]);                      \
        y[3] = (1.0f / 24.0f) * x[0] + (1.0f / 12.0f) * x[1] + (1.0f / 6.0f) * x[2]; \
        y[4] = (1.0f / 24.0f) * x[0] - (1.0f / 12.0f) * x[1] + (1.0f / 6.0f) * x[2]; \
        y[5] = x[2];                                                       \
    }

/* y = A^T x (6 -> 4) */
#define WINO_AT(x, y)                                                      \
    {                                                                      \
        y[0] = x[0] + x[1] + x[2] + x[3] + x[4];                           \
        y[1] = x[1] - x[2] + 2.0f * (x[3] - x[4]);                         \
        y[2] = x[1] + x[2] + 4.0f * (x[3] + x[4]);                         \
        y[3] = x[1] - x[2] + 8.0f * (x[3] - x[4]) + x[5];                  \
    }

/* ---- vectorized transforms: 16 horizontally adjacent tiles per work-item ----
 * Tiles of a chunk are numbered t = (ty - ty0)*ntxp + tx with ntxp = ntx
 * rounded up to 16, so that a work-item's 16 tiles are 16 consecutive columns
 * of the GEMM operands (one aligned half of a 32-tile panel). The tiles past
 * ntx read zeros and their results are never stored. */

/* elements 4j+k (j = 0..15) of the 64 floats v0..v3 */
#define DEINT(v0, v1, v2, v3, S) (float16)(v0.S, v1.S, v2.S, v3.S)
#define IL4(a, b, c, d, i) a.s##i, b.s##i, c.s##i, d.s##i

/* Store of a transformed-input vector that the GEMM reads only later: a
 * non-temporal (streaming) store where Clang offers it: no read for ownership
 * of lines that are written whole, and the caches keep what is reused (on
 * PoCL: input transform 36 -> 18 ms, the whole 64->64 698x698 layer 90 ->
 * 79 ms). The packed layouts keep p 64-byte aligned (checked: plain store
 * otherwise).
 * -DWINO_NO_NT (UNETCL_NO_NT=1) turns it off. */
#if defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store) && !defined(WINO_NO_NT)
#define WINO_STORE_NT(v, p)                                                      \
    {                                                                            \
        __global float *p_ = (p);                                                \
        if (((ulong)p_ & 63) == 0) __builtin_nontemporal_store((v), (__global float16 *)p_); \
        else vstore16((v), 0, p_);                                               \
    }
#endif
#endif
#ifndef WINO_STORE_NT
#define WINO_STORE_NT(v, p) vstore16((v), 0, (p))
#endif
/* Streaming stores are weakly ordered on x86: an sfence makes them visible
 * before the work-item ends (the next kernel may run on another thread). */
#if defined(__clang__) && defined(__has_builtin) && !defined(WINO_NO_NT)
#if __has_builtin(__builtin_ia32_sfence)
#define WINO_NT_FENCE() __builtin_ia32_sfence()
#endif
#endif
#ifndef WINO_NT_FENCE
#define WINO_NT_FENCE() mem_fence(CLK_GLOBAL_MEM_FENCE)
#endif

/* Weight transform into packed row panels. w[w_off + (co*cin + ci)*9 + 3*ky + kx].
 * One work-item per block of 16 input channels and row panel p: for each ci
 * of the block the panel's mr output channels are transformed, and each of
 * the 36 packed blocks gets the block's 16 x mr floats as one contiguous run
 * of whole cache lines (rows past cout are zero), written with streaming
 * stores (no read for ownership of lines written whole): 70-77 ms against
 * 81-118 ms for one channel per work-item writing 36 runs of 48 bytes
 * (bench_conv, 18 transforms of 512->512, 1024->512 and 64->64 weights, four
 * interleaved rounds). Global size: (ceil(cin/16), npanels). */
#define WW_CI 16
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_weights(
    __global const float *w, const int w_off, const int cin, const int cout, const int mr,
    const int npanels, __global float *u, const ulong u_off, const ulong a_stride, const int flip)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int cb = get_global_id(0);
    const int p = get_global_id(1);
    if (p >= npanels || cb * WW_CI >= cin || mr > 12) return;
    const int ci0 = cb * WW_CI, ci1 = min(cin, ci0 + WW_CI), nci = ci1 - ci0;
    /* The block's weights, read along memory: wb[r*144 + c*9 + i] = w[co = p*mr + r][ci0 + c][i]
     * (forward) or wb[c*144 + r*9 + i] = w[ci0 + c][co][i] (flip: the transposed layout is
     * contiguous over co); entries past mr, cout or ci1 are zero. A gather of the 16 output
     * channels straight from memory (one cache line each) was a third of the kernel's time. */
    float16 wbv[16 * 9];
    float *wb = (float *)wbv;
    const int nco = max(0, min(mr, cout - p * mr));
    if (!flip) {
        for (int r = 0; r < 16; r++) {
            __global const float *src = w + w_off + ((size_t)(p * mr + r) * cin + ci0) * 9;
            if (r < nco && nci == WW_CI) {
                for (int v = 0; v < 9; v++) wbv[r * 9 + v] = vload16(v, src);
            } else {
                for (int x = 0; x < 144; x++) wb[r * 144 + x] = (r < nco && x < nci * 9) ? src[x] : 0.0f;
            }
        }
    } else {
        for (int c = 0; c < 16; c++) {
            __global const float *src = w + w_off + ((size_t)(ci0 + c) * cout + p * mr) * 9;
            const int n = c < nci ? nco * 9 : 0;
            int x = 0;
            for (; x + 16 <= n; x += 16) vstore16(vload16(0, src + x), 0, wb + c * 144 + x);
            for (; x < 144; x++) wb[c * 144 + x] = x < n ? src[x] : 0.0f;
        }
    }
    const int rs = flip ? 9 : 144; /* stride of the output channel r in wb */
    float16 ubv[36][WW_CI * 12 / 16]; /* the block's packed runs, [e][(ci - ci0)*mr + r]; float16: aligned */
    for (int ci = ci0; ci < ci1; ci++) {
        const int c = ci - ci0;
        float16 gg[9]; /* gg[i] lane r: tap i (rotated by 180 degrees for flip) of output channel p*mr + r */
        for (int i = 0; i < 9; i++) {
            const int o = flip ? c * 144 + 8 - i : c * 9 + i;
#define WW_L(r) wb[o + (r) * rs]
            gg[i] = (float16)(WW_L(0), WW_L(1), WW_L(2), WW_L(3), WW_L(4), WW_L(5), WW_L(6), WW_L(7), WW_L(8),
                              WW_L(9), WW_L(10), WW_L(11), WW_L(12), WW_L(13), WW_L(14), WW_L(15));
#undef WW_L
        }
        float16 t[6][3];
        for (int kx = 0; kx < 3; kx++) {
            float16 x[3] = {gg[kx], gg[3 + kx], gg[6 + kx]}, y[6];
            WINO_G(x, y);
            for (int i = 0; i < 6; i++) t[i][kx] = y[i];
        }
        const int off = c * mr;
        for (int i = 0; i < 6; i++) {
            float16 y[6];
            WINO_G(t[i], y);
            /* the branch on mr outside the unrolled stores: y stays in registers */
            if (mr == 12) {
#pragma unroll
                for (int j = 0; j < 6; j++) {
                    float *d = (float *)ubv[6 * i + j] + off;
                    vstore8(y[j].lo, 0, d);
                    vstore4(y[j].s89ab, 0, d + 8);
                }
            } else if (mr == 8) {
#pragma unroll
                for (int j = 0; j < 6; j++) vstore8(y[j].lo, 0, (float *)ubv[6 * i + j] + off);
            } else {
                for (int j = 0; j < 6; j++) {
                    float *d = (float *)ubv[6 * i + j] + off, tt[16];
                    vstore16(y[j], 0, tt);
                    for (int r = 0; r < mr; r++) d[r] = tt[r];
                }
            }
        }
    }
    /* each e: the block's (ci1 - ci0) * mr floats, one run */
    const int n = nci * mr, nv = n / 16;
    __global float *dst = u + u_off + ((size_t)p * cin + ci0) * mr;
    for (int e = 0; e < 36; e++) {
        __global float *d = dst + (size_t)e * a_stride;
        const float *ub = (const float *)ubv[e];
        for (int v = 0; v < nv; v++) WINO_STORE_NT(ubv[e][v], d + 16 * v);
        for (int x = 16 * nv; x < n; x++) d[x] = ub[x];
    }
    WINO_NT_FENCE();
}

/* Loads input row y of 16 horizontally adjacent 6x6 tiles (the first's
 * left column at x0; outside the h x w plane src reads zero), de-interleaved:
 * d[k] lane j = row[x0 + 4j + k]. */
UNET_INLINE void wino_row16(__global const float *src, const int h, const int w, const int y, const int x0,
                       float16 d[6])
{
    float16 v0, v1, v2, v3, v4;
    if (y >= 0 && y < h && x0 >= 0 && x0 + 80 <= w) {
        __global const float *row = src + (size_t)y * w + x0;
        v0 = vload16(0, row), v1 = vload16(1, row), v2 = vload16(2, row), v3 = vload16(3, row);
        v4 = vload16(4, row);
    } else {
        float buf[80];
        for (int x = 0; x < 80; x++)
            buf[x] = (y >= 0 && y < h && x0 + x >= 0 && x0 + x < w) ? src[(size_t)y * w + x0 + x] : 0.0f;
        v0 = vload16(0, buf), v1 = vload16(1, buf), v2 = vload16(2, buf), v3 = vload16(3, buf);
        v4 = vload16(4, buf);
    }
    d[0] = DEINT(v0, v1, v2, v3, s048c);
    d[1] = DEINT(v0, v1, v2, v3, s159d);
    d[2] = DEINT(v0, v1, v2, v3, s26ae);
    d[3] = DEINT(v0, v1, v2, v3, s37bf);
    d[4] = (float16)(v0.s48c, v1.s048c, v2.s048c, v3.s048c, v4.s0);
    d[5] = (float16)(v0.s59d, v1.s159d, v2.s159d, v3.s159d, v4.s1);
}

/* Loads the 6 input rows of 16 horizontally adjacent 6x6 tiles (top-left
 * corner of the first at row y0, column x0 of the h x w plane src; outside
 * reads zero) and transforms each along x: r[i][k'] = (d B)[i][k'] for row i. */
UNET_INLINE void wino_rows16(__global const float *src, const int h, const int w, const int y0, const int x0,
                        float16 r[6][6])
{
    for (int i = 0; i < 6; i++) {
        float16 d[6];
        wino_row16(src, h, w, y0 + i, x0, d);
        WINO_BT(d, r[i]);
    }
}

/* B^T along y of the rows r[i][k'] = (d B)[i][k'] of 16 tiles, element e =
 * 6i + k' of each stored (streaming) at dst + e*e_stride, then the fence. */
UNET_INLINE void wino_store_v16(float16 r[6][6], __global float *dst, const ulong e_stride)
{
    for (int k = 0; k < 6; k++) {
        float16 x[6] = {r[0][k], r[1][k], r[2][k], r[3][k], r[4][k], r[5][k]}, y[6];
        WINO_BT(x, y);
        for (int i = 0; i < 6; i++) WINO_STORE_NT(y[i], dst + (size_t)(6 * i + k) * e_stride);
    }
    WINO_NT_FENCE();
}

/* The 36 GEMM results of 16 tiles (element e at src + e*32) transformed
 * along x: s[i][k'] = (M A)[i][k']. */
UNET_INLINE void wino_m_rows16(__global const float *src, float16 s[6][4])
{
    for (int i = 0; i < 6; i++) {
        float16 x[6];
        for (int k = 0; k < 6; k++) x[k] = vload16(0, src + (6 * i + k) * 32);
        WINO_AT(x, s[i]);
    }
}

/* Input transform of the input zero-padded by pad on every side (h, w: the
 * unpadded size) into v + v_off: element e of channel c, tiles t of 32-tile
 * panel q at ((q*cin + c)*c_stride + e*e_stride + t%32): the GEMM's packed B
 * operands, either [e][q][c][32] (c_stride 32) or [q][c][e][32] (c_stride
 * 36*32, e_stride 32: a work-item's 36 results land in one 4.5 KiB run
 * instead of 36 places). Global size: (ntxp/16, nty, cin). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_input16(
                           __global const float *in, const int h, const int w, const int cin, const int ty0, const int nty, const int ntxp, __global float *v,
                           const ulong v_off, const ulong c_stride, const ulong e_stride, const int pad)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int tyl = get_global_id(1);
    const int c = get_global_id(2);
    if (g * 16 >= ntxp || tyl >= nty || c >= cin) return;
    float16 r[6][6]; /* r[i][k'] = (d B)[i][k'] for input row i */
    wino_rows16(in + (size_t)c * h * w, h, w, 4 * (ty0 + tyl) - pad, 64 * g - pad, r);
    const int t0 = tyl * ntxp + 16 * g, q = t0 / 32, j0 = t0 - q * 32;
    __global float *dst = v + v_off + ((size_t)q * cin + c) * c_stride + j0;
    wino_store_v16(r, dst, e_stride);
}

/* Output transform of 16 horizontally adjacent tiles from s[i][k'] = (M A)[i][k']
 * (one output channel): + b (+ ReLU), stored at rows y0.., columns x0.. of
 * the ho x wo plane dst, columns from wl on left alone (wl <= wo; out +=
 * result when accumulate). */
UNET_INLINE void wino_store16(float16 s[6][4], const float16 b, const int relu, const int y0, const int x0,
                         const int ho, const int wo, const int wl, __global float *dst, const int accumulate)
{
    float16 yk[4][4]; /* yk[k'][i'] */
    for (int k = 0; k < 4; k++) {
        float16 x[6] = {s[0][k], s[1][k], s[2][k], s[3][k], s[4][k], s[5][k]};
        WINO_AT(x, yk[k]);
    }
    for (int i = 0; i < 4; i++) {
        const int y = y0 + i;
        if (y >= ho) break;
        float16 a = yk[0][i] + b, bb = yk[1][i] + b, cc = yk[2][i] + b, dd = yk[3][i] + b;
        if (relu) {
            a = fmax(a, 0.0f), bb = fmax(bb, 0.0f), cc = fmax(cc, 0.0f), dd = fmax(dd, 0.0f);
        }
        const float16 o0 = (float16)(IL4(a, bb, cc, dd, 0), IL4(a, bb, cc, dd, 1), IL4(a, bb, cc, dd, 2),
                                     IL4(a, bb, cc, dd, 3));
        const float16 o1 = (float16)(IL4(a, bb, cc, dd, 4), IL4(a, bb, cc, dd, 5), IL4(a, bb, cc, dd, 6),
                                     IL4(a, bb, cc, dd, 7));
        const float16 o2 = (float16)(IL4(a, bb, cc, dd, 8), IL4(a, bb, cc, dd, 9), IL4(a, bb, cc, dd, a),
                                     IL4(a, bb, cc, dd, b));
        const float16 o3 = (float16)(IL4(a, bb, cc, dd, c), IL4(a, bb, cc, dd, d), IL4(a, bb, cc, dd, e),
                                     IL4(a, bb, cc, dd, f));
        __global float *row = dst + (size_t)y * wo + x0;
        if (x0 + 64 <= wl) {
            if (accumulate) {
                vstore16(o0 + vload16(0, row), 0, row), vstore16(o1 + vload16(1, row), 1, row);
                vstore16(o2 + vload16(2, row), 2, row), vstore16(o3 + vload16(3, row), 3, row);
            } else {
                vstore16(o0, 0, row), vstore16(o1, 1, row), vstore16(o2, 2, row), vstore16(o3, 3, row);
            }
        } else {
            float buf[64];
            vstore16(o0, 0, buf), vstore16(o1, 1, buf), vstore16(o2, 2, buf), vstore16(o3, 3, buf);
            for (int x = 0; x < 64 && x0 + x < wl; x++) row[x] = accumulate ? row[x] + buf[x] : buf[x];
        }
    }
}

/* Output transform + bias (+ ReLU) of 16 tiles. The GEMM results are stored
 * per output channel and 32-tile panel with the 36 elements together:
 * m[m_off + co*ldm + (t/32)*36*32 + e*32 + t%32] (one contiguous block per
 * channel and panel).
 * accumulate: out += result (no bias, no ReLU) instead of out = result.
 * Global size: (ntxp/16, nty, cout). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_output16(
                            __global const float *m, const ulong m_off, const ulong ldm, const int ty0,
                            const int nty, const int ntxp, const int cout, const int ho, const int wo,
                            __global const float *bias, const int bias_off, const int relu,
                            __global float *out, const int accumulate)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int tyl = get_global_id(1);
    const int co = get_global_id(2);
    if (g * 16 >= ntxp || tyl >= nty || co >= cout) return;
    const int t0 = tyl * ntxp + 16 * g, q = t0 / 32, j0 = t0 - 32 * q;
    __global const float *src = m + m_off + (size_t)co * ldm + (size_t)q * (36 * 32) + j0;
    float16 s[6][4]; /* s[i][k'] = (M A)[i][k'] */
    wino_m_rows16(src, s);
    const float16 b = (float16)((accumulate || bias_off < 0) ? 0.0f : bias[bias_off + co]); /* bias_off < 0: none */
    wino_store16(s, b, relu, 4 * (ty0 + tyl), 64 * g, ho, wo, wo, out + (size_t)co * ho * wo, accumulate);
}

/* ---- dense tile numbering (the separate kernels' default) --------------
 * The kernels above number a chunk's tiles t = (ty - ty0)*ntxp + tx with ntxp
 * = ntx rounded up to their 16 (or 8) tiles, so that a work-item's tiles lie
 * in one tile row; the GEMM then multiplies the padded tiles too (8-44 % of
 * its columns in the 256-1024-channel layers of the paper's network, where
 * ntx = 7..66). These two number them densely, t = (ty - ty0)*ntx + tx: a
 * work-item's 16 consecutive tiles may lie in several tile rows
 * ("segments"); each segment is loaded as 16 tiles starting at its first and
 * its lanes moved into place with one permutation per vector. Lanes past the
 * chunk's last tile (up to the end of its last 32-tile panel) are zero. */
#define WINO_LANES16 ((uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))

/* Global size: (2*ceil(nty*ntx/32), 1, cin); layout as wino_input16. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_input16d(
                           __global const float *in, const int h, const int w, const int cin, const int ty0, const int nty, const int ntx, __global float *v,
                           const ulong v_off, const ulong c_stride, const ulong e_stride, const int pad)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int c = get_global_id(2);
    const int ttot = nty * ntx;
    if (c >= cin || g * 16 >= (ttot + 31) / 32 * 32) return;
    const int t0 = 16 * g;
    __global const float *src = in + (size_t)c * h * w;
    const int16 lane = as_int16(WINO_LANES16);
    float16 r[6][6]; /* r[i][k'] = (d B)[i][k'] for input row i */
    for (int i = 0; i < 6; i++) {
        float16 d[6] = {(float16)(0.0f), (float16)(0.0f), (float16)(0.0f),
                        (float16)(0.0f), (float16)(0.0f), (float16)(0.0f)};
        for (int t = t0, l0 = 0; l0 < 16 && t < ttot;) {
            const int tyl = t / ntx, tx = t - tyl * ntx, len = min(16 - l0, ntx - tx);
            float16 ds[6];
            wino_row16(src, h, w, 4 * (ty0 + tyl) + i - pad, 4 * tx - pad, ds);
            if (len == 16) {
                for (int k = 0; k < 6; k++) d[k] = ds[k];
            } else {
                const uint16 perm = as_uint16(lane - l0) & 15u;
                const int16 in_seg = (lane >= l0) & (lane < l0 + len);
                for (int k = 0; k < 6; k++) d[k] = select(d[k], shuffle(ds[k], perm), in_seg);
            }
            l0 += len, t += len;
        }
        WINO_BT(d, r[i]);
    }
    const int q = t0 / 32, j0 = t0 - q * 32;
    __global float *dst = v + v_off + ((size_t)q * cin + c) * c_stride + j0;
    wino_store_v16(r, dst, e_stride);
}

/* Global size: (ceil(nty*ntx/16), 1, cout); layout and arguments as
 * wino_output16 (ntx for ntxp). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_output16d(
                            __global const float *m, const ulong m_off, const ulong ldm, const int ty0,
                            const int nty, const int ntx, const int cout, const int ho, const int wo,
                            __global const float *bias, const int bias_off, const int relu,
                            __global float *out, const int accumulate)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int co = get_global_id(2);
    const int ttot = nty * ntx;
    if (g * 16 >= ttot || co >= cout) return;
    const int t0 = 16 * g, q = t0 / 32, j0 = t0 - 32 * q;
    __global const float *src = m + m_off + (size_t)co * ldm + (size_t)q * (36 * 32) + j0;
    float16 s[6][4]; /* s[i][k'] = (M A)[i][k'] */
    wino_m_rows16(src, s);
    const float16 b = (float16)((accumulate || bias_off < 0) ? 0.0f : bias[bias_off + co]); /* bias_off < 0: none */
    __global float *dst = out + (size_t)co * ho * wo;
    for (int t = t0, l0 = 0; l0 < 16 && t < ttot;) {
        const int tyl = t / ntx, tx = t - tyl * ntx, len = min(16 - l0, ntx - tx);
        const int wl = min(wo, 4 * (tx + len));
        if (l0 == 0) {
            wino_store16(s, b, relu, 4 * (ty0 + tyl), 4 * tx, ho, wo, wl, dst, accumulate);
        } else {
            const uint16 perm = (WINO_LANES16 + (uint)l0) & 15u;
            float16 sh[6][4];
            for (int i = 0; i < 6; i++)
                for (int k = 0; k < 4; k++) sh[i][k] = shuffle(s[i][k], perm);
            wino_store16(sh, b, relu, 4 * (ty0 + tyl), 4 * tx, ho, wo, wl, dst, accumulate);
        }
        l0 += len, t += len;
    }
}

/* ---- fused: input transform, the 36 GEMMs and the output transform -----
 * One work-item per 32-tile panel of the tile numbering above (ntxp a
 * multiple of 16): it transforms the panel's input tiles of all cin channels
 * into local memory (a private scratch, as gemm_cpu_tile*_lb's, no barriers),
 * then per row panel of MR output channels runs the 36 MR x 32 products with
 * the packed transformed weights U (as wino_weights writes them) into a
 * second scratch and transforms those MR channels out. Nothing intermediate
 * goes through global memory: for layers with few channels the separate
 * kernels spend most of their time moving V and M (36/16 of the activations,
 * twice each). Scratch: 36*cin*32 + MR*36*32 floats.
 * Global size: (ceil(nty*ntxp/32)). */
#define WF_DECL(r) float16 c##r##a = (float16)(0.0f), c##r##b = (float16)(0.0f);
#define WF_FMA(r)                                     \
    {                                                 \
        const float16 a_ = (float16)(pa[r]);          \
        c##r##a = fma(a_, b0, c##r##a);               \
        c##r##b = fma(a_, b1, c##r##b);               \
    }
#define WF_STORE(r)                                   \
    vstore16(c##r##a, 0, ml + (r * 36 + e) * 32);     \
    vstore16(c##r##b, 0, ml + (r * 36 + e) * 32 + 16);
#define WF_DECL8 WF_DECL(0) WF_DECL(1) WF_DECL(2) WF_DECL(3) WF_DECL(4) WF_DECL(5) WF_DECL(6) WF_DECL(7)
#define WF_FMA8 WF_FMA(0) WF_FMA(1) WF_FMA(2) WF_FMA(3) WF_FMA(4) WF_FMA(5) WF_FMA(6) WF_FMA(7)
#define WF_STORE8 WF_STORE(0) WF_STORE(1) WF_STORE(2) WF_STORE(3) WF_STORE(4) WF_STORE(5) WF_STORE(6) WF_STORE(7)
#define WF_DECL12 WF_DECL8 WF_DECL(8) WF_DECL(9) WF_DECL(10) WF_DECL(11)
#define WF_FMA12 WF_FMA8 WF_FMA(8) WF_FMA(9) WF_FMA(10) WF_FMA(11)
#define WF_STORE12 WF_STORE8 WF_STORE(8) WF_STORE(9) WF_STORE(10) WF_STORE(11)

/* Software prefetch of the products' operands GEMM_PF k steps ahead, as in
 * gemm_cpu.cl (the knob UNETCL_PREFETCH; CPU devices): bench_unet --ab,
 * inference B/A 0.973 (12 pairs) on top of the GEMM's prefetch. Past the end
 * of a B panel it fetches the next element's, which follows it in scratch. */
#define WF_PREFETCH(MR)                                                              \
    UNET_PREFETCH(pb + GEMM_PF * 32);                                                \
    UNET_PREFETCH(pb + GEMM_PF * 32 + 16);                                           \
    UNET_PREFETCH(pa + GEMM_PF * MR);
/* ... and of the input rows of the channel two ahead (the transform's loads
 * come from memory: its six rows of 66 floats per channel are more streams
 * than the hardware prefetchers follow). bench_unet --ab on top of the
 * products' prefetch: inference B/A 0.942 (10 pairs) and 0.965 (12 pairs),
 * training step 0.953 (8 pairs) and 1.058 (4 pairs); UNETCL_KPROF, two rounds:
 * wino_fused8 1.36-1.46 -> 1.12-1.18 s, wino_fused12 1.00-1.07 -> 0.86-0.94 s. */
#ifdef GEMM_PF
#define WF_PREFETCH_IN(src, h, w, y0, x0)                                                   \
    for (int i_ = 0; i_ < 6; i_++) {                                                        \
        const int y_ = (y0) + i_;                                                           \
        if (y_ >= 0 && y_ < (h)) {                                                          \
            __global const float *row_ = (src) + (size_t)y_ * (w) + max((x0), 0);           \
            for (int x_ = 0; x_ < 66; x_ += 16) UNET_PREFETCH(row_ + x_);                   \
        }                                                                                   \
    }
#else
#define WF_PREFETCH_IN(src, h, w, y0, x0)
#endif
#define WINO_FUSED(MR)                                                                              \
    __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_fused##MR(                    \
        __global const float *in, const int h, const int w, const int cin, const int pad,          \
        const int ty0, const int nty, const int ntxp, __global const float *u, const ulong a_stride, \
        const int cout, const int ho, const int wo, __global const float *bias, const int bias_off, \
        const int relu, __global float *out, const int accumulate, __local float *scratch)         \
    {                                                                                               \
        UNET_FTZ_DAZ(); /* denormals as zero (program.c) */                                         \
        const int q = get_global_id(0), ttot = nty * ntxp;                                          \
        if (q * 32 >= ttot) return;                                                                 \
        __local float *vl = scratch;                  /* [e][c][32] */                              \
        __local float *ml = scratch + 36 * cin * 32;  /* [r][e][32] */                              \
        for (int hh = 0; hh < 2; hh++) {                                                            \
            const int tt = q * 32 + 16 * hh;                                                        \
            if (tt >= ttot) { /* the panel's second half past the last tile row: zeros */           \
                for (int x = 0; x < 36 * cin; x++) vstore16((float16)(0.0f), 0, vl + x * 32 + 16);  \
                continue;                                                                           \
            }                                                                                       \
            const int tyl = tt / ntxp, g = (tt - tyl * ntxp) / 16;                                  \
            for (int c = 0; c < cin; c++) {                                                         \
                WF_PREFETCH_IN(in + (size_t)min(c + 2, cin - 1) * h * w, h, w, 4 * (ty0 + tyl) - pad, 64 * g - pad) \
                float16 r[6][6];                                                                    \
                wino_rows16(in + (size_t)c * h * w, h, w, 4 * (ty0 + tyl) - pad, 64 * g - pad, r);  \
                for (int k = 0; k < 6; k++) {                                                       \
                    float16 x[6] = {r[0][k], r[1][k], r[2][k], r[3][k], r[4][k], r[5][k]}, y[6];    \
                    WINO_BT(x, y);                                                                  \
                    for (int i = 0; i < 6; i++) vstore16(y[i], 0, vl + ((6 * i + k) * cin + c) * 32 + 16 * hh); \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
        const int mtiles = (cout + MR - 1) / MR;                                                    \
        for (int mt = 0; mt < mtiles; mt++) {                                                       \
            for (int e = 0; e < 36; e++) {                                                          \
                __global const float *pa = u + (size_t)e * a_stride + (size_t)mt * cin * MR;        \
                __local const float *pb = vl + e * cin * 32;                                        \
                WF_DECL##MR                                                                         \
                for (int p = 0; p < cin; p++) {                                                     \
                    WF_PREFETCH(MR)                                                                 \
                    const float16 b0 = vload16(0, pb), b1 = vload16(1, pb);                         \
                    WF_FMA##MR                                                                      \
                    pa += MR;                                                                       \
                    pb += 32;                                                                       \
                }                                                                                   \
                WF_STORE##MR                                                                        \
            }                                                                                       \
            for (int r = 0; r < MR; r++) {                                                          \
                const int co = mt * MR + r;                                                         \
                if (co >= cout) break;                                                              \
                const float16 bv = (float16)((accumulate || bias_off < 0) ? 0.0f : bias[bias_off + co]); \
                for (int hh = 0; hh < 2; hh++) {                                                    \
                    const int tt = q * 32 + 16 * hh;                                                \
                    if (tt >= ttot) break;                                                          \
                    const int tyl = tt / ntxp, g = (tt - tyl * ntxp) / 16;                          \
                    __local const float *src = ml + r * 36 * 32 + 16 * hh;                          \
                    float16 s[6][4];                                                                \
                    for (int i = 0; i < 6; i++) {                                                   \
                        float16 x[6];                                                               \
                        for (int k = 0; k < 6; k++) x[k] = vload16(0, src + (6 * i + k) * 32);      \
                        WINO_AT(x, s[i]);                                                           \
                    }                                                                               \
                    wino_store16(s, bv, relu, 4 * (ty0 + tyl), 64 * g, ho, wo, wo, out + (size_t)co * ho * wo, \
                                 accumulate);                                                       \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }

WINO_FUSED(12)
WINO_FUSED(8)

/* ---- the same transforms on 8 horizontally adjacent tiles per work-item ----
 * Used when ntx rounded up to 8 is less than rounded up to 16 (fewer padded
 * tiles in the GEMM, e.g. ntx = 18: 24 instead of 32 columns per tile row).
 * Tiles are numbered t = (ty - ty0)*ntxp + tx with ntxp = ntx rounded up to
 * 8: a work-item's 8 tiles are one aligned quarter of a 32-tile panel. */

/* Global size: (ntxp/8, nty, cin). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_input8(
                           __global const float *in, const int h, const int w, const int cin, const int ty0, const int nty, const int ntxp, __global float *v,
                           const ulong v_off, const ulong c_stride, const ulong e_stride, const int pad)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int tyl = get_global_id(1);
    const int c = get_global_id(2);
    if (g * 8 >= ntxp || tyl >= nty || c >= cin) return;
    const int y0 = 4 * (ty0 + tyl) - pad, x0 = 32 * g - pad;
    __global const float *src = in + (size_t)c * h * w;
    float8 r[6][6];
    for (int i = 0; i < 6; i++) {
        const int y = y0 + i;
        float16 v0, v1;
        float2 v2;
        if (y >= 0 && y < h && x0 >= 0 && x0 + 34 <= w) {
            __global const float *row = src + (size_t)y * w + x0;
            v0 = vload16(0, row), v1 = vload16(1, row), v2 = vload2(16, row);
        } else {
            float buf[34];
            for (int x = 0; x < 34; x++)
                buf[x] = (y >= 0 && y < h && x0 + x >= 0 && x0 + x < w) ? src[(size_t)y * w + x0 + x] : 0.0f;
            v0 = vload16(0, buf), v1 = vload16(1, buf), v2 = vload2(16, buf);
        }
        float8 d[6];
        d[0] = (float8)(v0.s048c, v1.s048c);
        d[1] = (float8)(v0.s159d, v1.s159d);
        d[2] = (float8)(v0.s26ae, v1.s26ae);
        d[3] = (float8)(v0.s37bf, v1.s37bf);
        d[4] = (float8)(v0.s48c, v1.s048c, v2.s0);
        d[5] = (float8)(v0.s59d, v1.s159d, v2.s1);
        WINO_BT(d, r[i]);
    }
    const int t0 = tyl * ntxp + 8 * g, q = t0 / 32, j0 = t0 - q * 32;
    __global float *dst = v + v_off + ((size_t)q * cin + c) * c_stride + j0;
    for (int k = 0; k < 6; k++) {
        float8 x[6] = {r[0][k], r[1][k], r[2][k], r[3][k], r[4][k], r[5][k]}, y[6];
        WINO_BT(x, y);
        for (int i = 0; i < 6; i++) vstore8(y[i], 0, dst + (size_t)(6 * i + k) * e_stride);
    }
}

/* Global size: (ntxp/8, nty, cout). Layout and arguments as wino_output16. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_output8(
                            __global const float *m, const ulong m_off, const ulong ldm, const int ty0,
                            const int nty, const int ntxp, const int cout, const int ho, const int wo,
                            __global const float *bias, const int bias_off, const int relu,
                            __global float *out, const int accumulate)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int tyl = get_global_id(1);
    const int co = get_global_id(2);
    if (g * 8 >= ntxp || tyl >= nty || co >= cout) return;
    const int t0 = tyl * ntxp + 8 * g, q = t0 / 32, j0 = t0 - 32 * q;
    __global const float *src = m + m_off + (size_t)co * ldm + (size_t)q * (36 * 32) + j0;
    float8 s[6][4];
    for (int i = 0; i < 6; i++) {
        float8 x[6];
        for (int k = 0; k < 6; k++) x[k] = vload8(0, src + (6 * i + k) * 32);
        WINO_AT(x, s[i]);
    }
    const float8 b = (float8)((accumulate || bias_off < 0) ? 0.0f : bias[bias_off + co]);
    const int y0 = 4 * (ty0 + tyl), x0 = 32 * g;
    __global float *dst = out + (size_t)co * ho * wo;
    float8 yk[4][4];
    for (int k = 0; k < 4; k++) {
        float8 x[6] = {s[0][k], s[1][k], s[2][k], s[3][k], s[4][k], s[5][k]};
        WINO_AT(x, yk[k]);
    }
    for (int i = 0; i < 4; i++) {
        const int y = y0 + i;
        if (y >= ho) break;
        float8 a = yk[0][i] + b, bb = yk[1][i] + b, cc = yk[2][i] + b, dd = yk[3][i] + b;
        if (relu) {
            a = fmax(a, 0.0f), bb = fmax(bb, 0.0f), cc = fmax(cc, 0.0f), dd = fmax(dd, 0.0f);
        }
        const float16 o0 = (float16)(IL4(a, bb, cc, dd, 0), IL4(a, bb, cc, dd, 1), IL4(a, bb, cc, dd, 2),
                                     IL4(a, bb, cc, dd, 3));
        const float16 o1 = (float16)(IL4(a, bb, cc, dd, 4), IL4(a, bb, cc, dd, 5), IL4(a, bb, cc, dd, 6),
                                     IL4(a, bb, cc, dd, 7));
        __global float *row = dst + (size_t)y * wo + x0;
        if (x0 + 32 <= wo) {
            if (accumulate) {
                vstore16(o0 + vload16(0, row), 0, row), vstore16(o1 + vload16(1, row), 1, row);
            } else {
                vstore16(o0, 0, row), vstore16(o1, 1, row);
            }
        } else {
            float buf[32];
            vstore16(o0, 0, buf), vstore16(o1, 1, buf);
            for (int x = 0; x < 32 && x0 + x < wo; x++) row[x] = accumulate ? row[x] + buf[x] : buf[x];
        }
    }
}

/* ---- weight gradient: dW = G^T [ sum_t (A dY_t A^T) (.) (B^T X_t B) ] G ----
 * The adjoint of the forward Y_t = A^T [(G w G^T) (.) (B^T X_t B)] A with
 * respect to w: for each 4x4 output tile t (its 6x6 input tile X_t), the
 * transformed output gradient times the transformed input, summed over tiles
 * as 36 GEMMs C_e[cout][cin] = V_e[cout][T] . U_e[T][cin] (K = tiles), then
 * G^T C G per (co, ci). Tiles of a chunk of tile rows are numbered without
 * padding, t = (ty - ty0)*ntx + tx, so every K column is a real tile. The
 * transforms are vectorized over 16 adjacent tiles like the forward's, but
 * write the channel-innermost packed layouts of the GEMM's K-major operands:
 *   V (A operand, row panels of mr output channels): ap[e*a_stride + (p*kc + t)*mr + r]
 *   U (B operand, panels of 32 input channels):      bp[e*b_stride + (q*kc + t)*32 + j]
 * with kc = tiles of the chunk; channels past cout / cin (up to the padded
 * panel) are written as zeros. */

/* y = A x (4 -> 6), A = (A^T)^T */
#define WINO_A(x, y)                                                       \
    {                                                                      \
        y[0] = x[0];                                                       \
        y[1] = x[0] + x[1] + x[2] + x[3];                                  \
        y[2] = x[0] - x[1] + x[2] - x[3];                                  \
        y[3] = x[0] + 2.0f * x[1] + 4.0f * x[2] + 8.0f * x[3];             \
        y[4] = x[0] - 2.0f * x[1] + 4.0f * x[2] - 8.0f * x[3];             \
        y[5] = x[3];                                                       \
    }

/* y = G^T x (6 -> 3) */
#define WINO_GT(x, y)                                                                          \
    {                                                                                          \
        y[0] = 0.25f * x[0] - (1.0f / 6.0f) * (x[1] + x[2]) + (1.0f / 24.0f) * (x[3] + x[4]);   \
        y[1] = (1.0f / 6.0f) * (x[2] - x[1]) + (1.0f / 12.0f) * (x[3] - x[4]);                  \
        y[2] = (1.0f / 6.0f) * (x[3] + x[4] - x[1] - x[2]) + x[5];                              \
    }

/* ---- weight gradient by dot products over tiles (no transposition) ----
 * The input is transformed by wino_input16 (pad 0) into the plain layout
 * [e][q][c][32] and the output gradient by wino_wgrad_dout_t16 into the same
 * layout with cout rows, tiles numbered t = (ty - ty0)*ntxp + tx (ntxp: ntx
 * rounded up to 16; the tiles past ntx have a zero output gradient, so they
 * add nothing). Then C_e[co][ci] (+)= sum_t V_e[co][t] U_e[ci][t] is a dot
 * product along the tiles, which both operands hold contiguously, 16 at a
 * time: no transposition (the packed-GEMM formulation below transposes every
 * transformed tile; conv.c's wino_wgrad chooses between the two by size). */

/* Loads the 4 output-gradient rows of 16 horizontally adjacent 4x4 tiles
 * (top-left corner of the first at row y0, column x0 of the ho x wo plane
 * src; outside reads zero) and transforms each along x:
 * s[a][k'] = (dY A^T)[a][k'] for output row a. */
UNET_INLINE void wino_dout_rows16(__global const float *src, const int ho, const int wo, const int y0, const int x0,
                             float16 s[4][6])
{
    for (int a = 0; a < 4; a++) {
        const int yy = y0 + a;
        float16 v0, v1, v2, v3;
        if (yy < ho && x0 + 64 <= wo) {
            __global const float *row = src + (size_t)yy * wo + x0;
            v0 = vload16(0, row), v1 = vload16(1, row), v2 = vload16(2, row), v3 = vload16(3, row);
        } else {
            float buf[64];
            for (int x = 0; x < 64; x++) buf[x] = (yy < ho && x0 + x < wo) ? src[(size_t)yy * wo + x0 + x] : 0.0f;
            v0 = vload16(0, buf), v1 = vload16(1, buf), v2 = vload16(2, buf), v3 = vload16(3, buf);
        }
        float16 d[4];
        d[0] = DEINT(v0, v1, v2, v3, s048c);
        d[1] = DEINT(v0, v1, v2, v3, s159d);
        d[2] = DEINT(v0, v1, v2, v3, s26ae);
        d[3] = DEINT(v0, v1, v2, v3, s37bf);
        WINO_A(d, s[a]);
    }
}

/* (A dY A^T) of 16 horizontally adjacent tiles of one output-gradient
 * channel into w_t[e*e_stride + (q*cout + co)*32 + j] (t = q*32 + j).
 * Global size: (ntxp/16, nty, cout). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_wgrad_dout_t16(
    __global const float *dout, const int ho, const int wo, const int cout, const int ty0, const int nty,
    const int ntxp, __global float *v, const ulong v_off, const ulong e_stride)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int tyl = get_global_id(1);
    const int co = get_global_id(2);
    if (16 * g >= ntxp || tyl >= nty || co >= cout) return;
    __global const float *src = dout + (size_t)co * ho * wo;
    const int y0 = 4 * (ty0 + tyl), x0 = 64 * g;
    float16 s[4][6]; /* s[a][k'] = (dY A^T)[a][k'] for output row a */
    wino_dout_rows16(src, ho, wo, y0, x0, s);
    const int t0 = tyl * ntxp + 16 * g, q = t0 / 32, j0 = t0 - 32 * q;
    __global float *dst = v + v_off + ((size_t)q * cout + co) * 32 + j0;
    for (int k = 0; k < 6; k++) {
        float16 x[4] = {s[0][k], s[1][k], s[2][k], s[3][k]}, z[6];
        WINO_A(x, z);
        for (int i = 0; i < 6; i++) WINO_STORE_NT(z[i], dst + (size_t)(6 * i + k) * e_stride);
    }
    WINO_NT_FENCE();
}

/* C_e[co][ci] = beta * C_e[co][ci] + sum over t < T of V_e[co][t] U_e[ci][t],
 * U and V as above (u: cin rows, v: cout rows, element e at e*cin*tpad and
 * e*cout*tpad), C at c + c_off + e*cout*cin + co*cin + ci. One work-item per
 * block of WD_CO x WD_CI (C entries) and e: WD_CO*WD_CI float16 partial sums
 * over 16 tiles at a time, reduced at the end. T: a multiple of 16.
 * Global size: (ceil(cin/WD_CI), ceil(cout/WD_CO), 36). */
#define WD_CO 4
#define WD_CI 6
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_wgrad_dot(
    __global const float *u, const ulong u_off, __global const float *v, const ulong v_off, const int cin,
    const int cout, const int T, const ulong tpad, __global float *c, const ulong c_off, const float beta)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int cb = get_global_id(0);
    const int ob = get_global_id(1);
    const int e = get_global_id(2);
    const int ci0 = cb * WD_CI, co0 = ob * WD_CO;
    if (ci0 >= cin || co0 >= cout || e >= 36) return;
    /* rows past cin / cout repeat the last one; their sums are not stored.
     * The 24 sums are named variables (an array of them was kept in memory:
     * 2-3x slower) */
    __global const float *ue = u + u_off + (size_t)e * cin * tpad;
    __global const float *ve = v + v_off + (size_t)e * cout * tpad;
#define WD_R(i) const int r##i = min(ci0 + i, cin - 1) * 32;
#define WD_O(k) const int o##k = min(co0 + k, cout - 1) * 32;
    WD_R(0) WD_R(1) WD_R(2) WD_R(3) WD_R(4) WD_R(5)
    WD_O(0) WD_O(1) WD_O(2) WD_O(3)
#define WD_DECL(o) float16 a##o##0 = 0.0f, a##o##1 = 0.0f, a##o##2 = 0.0f, a##o##3 = 0.0f, a##o##4 = 0.0f, a##o##5 = 0.0f;
    WD_DECL(0) WD_DECL(1) WD_DECL(2) WD_DECL(3)
    for (int t = 0; t < T; t += 16) {
        const int q = t >> 5, j = t & 31;
        __global const float *uq = ue + (size_t)q * cin * 32 + j;
        __global const float *vq = ve + (size_t)q * cout * 32 + j;
        const float16 u0 = vload16(0, uq + r0), u1 = vload16(0, uq + r1), u2 = vload16(0, uq + r2),
                      u3 = vload16(0, uq + r3), u4 = vload16(0, uq + r4), u5 = vload16(0, uq + r5);
#define WD_FMA(k)                                                                                  \
    {                                                                                              \
        const float16 vr = vload16(0, vq + o##k);                                                  \
        a##k##0 = fma(vr, u0, a##k##0), a##k##1 = fma(vr, u1, a##k##1), a##k##2 = fma(vr, u2, a##k##2); \
        a##k##3 = fma(vr, u3, a##k##3), a##k##4 = fma(vr, u4, a##k##4), a##k##5 = fma(vr, u5, a##k##5); \
    }
        WD_FMA(0) WD_FMA(1) WD_FMA(2) WD_FMA(3)
    }
    __global float *ce = c + c_off + (size_t)e * cout * cin;
#define WD_PUT(o, i)                                                                               \
    if (co0 + o < cout && ci0 + i < cin) {                                                         \
        __global float *d = ce + (size_t)(co0 + o) * cin + ci0 + i;                                \
        const float sum = unet_hsum16(a##o##i);                                                    \
        *d = beta == 0.0f ? sum : beta * *d + sum;                                                 \
    }
#define WD_PUTO(o) WD_PUT(o, 0) WD_PUT(o, 1) WD_PUT(o, 2) WD_PUT(o, 3) WD_PUT(o, 4) WD_PUT(o, 5)
    WD_PUTO(0) WD_PUTO(1) WD_PUTO(2) WD_PUTO(3)
}

/* the output gradient's 4 rows (64 floats) of the channel two ahead, as
 * WF_PREFETCH_IN does for the input */
#ifdef GEMM_PF
#define WGF_PREFETCH_DOUT(src, h, w, y0, x0)                                                \
    for (int i_ = 0; i_ < 4; i_++) {                                                        \
        const int y_ = (y0) + i_;                                                           \
        if (y_ < (h) && (x0) < (w)) {                                                       \
            __global const float *row_ = (src) + (size_t)y_ * (w) + (x0);                   \
            for (int x_ = 0; x_ < 64; x_ += 16) UNET_PREFETCH(row_ + x_);                   \
        }                                                                                   \
    }
#else
#define WGF_PREFETCH_DOUT(src, h, w, y0, x0)
#endif

/* The weight gradient's two transforms of 16 horizontally adjacent tiles
 * (top-left output pixel of the first at row y0, column x0) for 16 channels,
 * into tmp[e*16 + channel] with the tiles in the lanes (whole vectors; the
 * callers transpose each e in registers: scattering single floats into a
 * tile-major scratch cost 2/3 of the weight gradient of 64-channel layers).
 * tmp is float16, not float: 64-byte aligned, no load splits a cache line.
 * wino_u16_block: U = B^T X B of input channels c0.. (zeros past cin; no
 * padding). wino_v16_block: V = A dY A^T of output-gradient channels co0 +
 * r for r < n (zeros for r >= n or past cout; outside the plane reads zero).
 * pf: prefetch the rows of the channel two ahead (the fused weight gradient;
 * GEMM_PF builds only); a constant at every call, so it folds away. */
UNET_INLINE void wino_u16_block(__global const float *in, const int h, const int w, const int cin, const int c0,
                                const int y0, const int x0, const int pf, float16 tmp[36 * 16])
{
    for (int cc = 0; cc < 16; cc++) {
        const int c = c0 + cc;
        if (c >= cin) {
            for (int e = 0; e < 36; e++) tmp[e * 16 + cc] = (float16)(0.0f);
            continue;
        }
        if (pf) {
            WF_PREFETCH_IN(in + (size_t)min(c + 2, cin - 1) * h * w, h, w, y0, x0)
        }
        float16 r[6][6];
        wino_rows16(in + (size_t)c * h * w, h, w, y0, x0, r);
        for (int k = 0; k < 6; k++) {
            float16 x[6] = {r[0][k], r[1][k], r[2][k], r[3][k], r[4][k], r[5][k]}, z[6];
            WINO_BT(x, z);
            for (int i = 0; i < 6; i++) tmp[(6 * i + k) * 16 + cc] = z[i];
        }
    }
}

UNET_INLINE void wino_v16_block(__global const float *dout, const int ho, const int wo, const int cout,
                                const int co0, const int n, const int y0, const int x0, const int pf,
                                float16 tmp[36 * 16])
{
    for (int r = 0; r < 16; r++) {
        const int co = co0 + r;
        if (r >= n || co >= cout) {
            for (int e = 0; e < 36; e++) tmp[e * 16 + r] = (float16)(0.0f);
            continue;
        }
        if (pf) {
            WGF_PREFETCH_DOUT(dout + (size_t)min(co + 2, cout - 1) * ho * wo, ho, wo, y0, x0)
        }
        float16 s[4][6]; /* s[a][k'] = (dY A^T)[a][k'] for output row a */
        wino_dout_rows16(dout + (size_t)co * ho * wo, ho, wo, y0, x0, s);
        for (int k = 0; k < 6; k++) {
            float16 x[4] = {s[0][k], s[1][k], s[2][k], s[3][k]}, z[6];
            WINO_A(x, z);
            for (int i = 0; i < 6; i++) tmp[(6 * i + k) * 16 + r] = z[i];
        }
    }
}

/* U = B^T X B of the input (h x w, cin channels, no padding) for tile rows
 * [ty0, ty0 + nty), ntx tiles per row; 16 channels (one aligned half of a
 * 32-channel panel) x 16 tiles per work-item, transposed in registers so
 * that every (e, tile) is one 64-byte store. Global size: (npad/16,
 * (ntx+15)/16, nty) with npad = cin rounded up to 32. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_wgrad_input16(
    __global const float *in, const int h, const int w, const int cin, const int ty0, const int nty, const int ntx,
    const int kc, __global float *u, const ulong u_off, const ulong b_stride)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int cg = get_global_id(0);
    const int g = get_global_id(1);
    const int tyl = get_global_id(2);
    if (16 * g >= ntx || tyl >= nty) return;
    const int nvalid = min(16, ntx - 16 * g), c0 = 16 * cg, q = c0 / 32, t0 = tyl * ntx + 16 * g;
    float16 tmp[36 * 16];
    wino_u16_block(in, h, w, cin, c0, 4 * (ty0 + tyl), 64 * g, 0, tmp);
    __global float *dst = u + u_off + ((size_t)q * kc + t0) * 32 + (c0 - 32 * q);
    for (int e = 0; e < 36; e++) {
        float16 x[16];
#pragma unroll
        for (int l = 0; l < 16; l++) x[l] = tmp[e * 16 + l];
        unet_transpose16(x); /* x[tile] = the 16 channels */
#pragma unroll
        for (int l = 0; l < 16; l++)
            if (l < nvalid) WINO_STORE_NT(x[l], dst + (size_t)e * b_stride + (size_t)l * 32);
    }
    WINO_NT_FENCE();
}

/* V = A dY A^T of the output gradient (ho x wo, cout channels; outside reads
 * zero) for the same tiles; one row panel of mr (<= 12) output channels x 16
 * tiles per work-item, so that every e is one contiguous run of 16*mr floats.
 * Global size: (mpad/mr, (ntx+15)/16, nty) with mpad = cout rounded up to mr. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_wgrad_dout16(
    __global const float *dout, const int ho, const int wo, const int cout, const int ty0, const int nty,
    const int ntx, const int kc, const int mr, __global float *v, const ulong v_off, const ulong a_stride)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int p = get_global_id(0);
    const int g = get_global_id(1);
    const int tyl = get_global_id(2);
    if (16 * g >= ntx || tyl >= nty || mr > 12) return;
    const int nvalid = min(16, ntx - 16 * g), t0 = tyl * ntx + 16 * g;
    float16 tmp[36 * 16]; /* rows past mr are zero */
    wino_v16_block(dout, ho, wo, cout, p * mr, mr, 4 * (ty0 + tyl), 64 * g, 0, tmp);
    __global float *dst = v + v_off + ((size_t)p * kc + t0) * mr;
    for (int e = 0; e < 36; e++) {
        float16 x[16];
#pragma unroll
        for (int l = 0; l < 16; l++) x[l] = tmp[e * 16 + l];
        unet_transpose16(x); /* x[tile] = the mr channels in lanes 0..mr-1 */
        __global float *de = dst + (size_t)e * a_stride;
#pragma unroll
        for (int l = 0; l < 16; l++) {
            if (l >= nvalid) break;
            if (mr == 12) {
                vstore8(x[l].lo, 0, de + l * 12);
                vstore4(x[l].s89ab, 0, de + l * 12 + 8);
            } else if (mr == 8) {
                vstore8(x[l].lo, 0, de + l * 8);
            } else {
                float t[16];
                vstore16(x[l], 0, t);
                for (int r = 0; r < mr; r++) de[l * mr + r] = t[r];
            }
        }
    }
}

/* dW[co][ci][ky][kx] (+)= (G^T C G)[ky][kx] with C[e] = the sum over the
 * nparts parts (in order) of c[c_off + part*part_stride + e*c_stride + co*cin
 * + ci]; 16 input channels per work-item (fewer at the end).
 * Global size: ((cin+15)/16, cout). */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_wgrad_weights(
    __global const float *c, const ulong c_off, const ulong c_stride, const int cin, const int cout,
    __global float *dw, const int dw_off, const int accumulate, const int nparts, const ulong part_stride)
{
    UNET_FTZ_DAZ(); /* denormals as zero (program.c) */
    const int g = get_global_id(0);
    const int co = get_global_id(1);
    if (16 * g >= cin || co >= cout) return;
    const int ci0 = 16 * g, n = min(16, cin - ci0);
    __global const float *src = c + c_off + (size_t)co * cin + ci0;
    float16 m[36];
    for (int e = 0; e < 36; e++) {
        m[e] = (float16)(0.0f);
        for (int pt = 0; pt < nparts; pt++) {
            __global const float *se = src + pt * part_stride + (size_t)e * c_stride;
            if (n == 16) {
                m[e] += vload16(0, se);
            } else {
                float t[16];
                for (int l = 0; l < 16; l++) t[l] = l < n ? se[l] : 0.0f;
                m[e] += vload16(0, t);
            }
        }
    }
    float16 tk[3][6]; /* tk[ky][j] = (G^T C)[ky][j] */
    for (int j = 0; j < 6; j++) {
        float16 x[6] = {m[j], m[6 + j], m[12 + j], m[18 + j], m[24 + j], m[30 + j]}, z[3];
        WINO_GT(x, z);
        for (int ky = 0; ky < 3; ky++) tk[ky][j] = z[ky];
    }
    float res[3][3][16];
    for (int ky = 0; ky < 3; ky++) {
        float16 z[3];
        WINO_GT(tk[ky], z);
        for (int kx = 0; kx < 3; kx++) vstore16(z[kx], 0, res[ky][kx]);
    }
    __global float *d = dw + dw_off + ((size_t)co * cin + ci0) * 9;
    for (int l = 0; l < n; l++)
        for (int k = 0; k < 9; k++) {
            const float val = res[k / 3][k % 3][l];
            d[l * 9 + k] = accumulate ? d[l * 9 + k] + val : val;
        }
}

/* ---- fused weight gradient (layers with few channels) -----------------
 * The packed path above writes U and V of every tile to memory and reads them
 * back in the GEMMs: for 64 x 64 channels that is 36/16 of the input and of
 * the output gradient twice over, for as many multiply-adds as the forward
 * pass's fused kernel does without any of it. Here one work-item per part
 * takes the 32-tile panels q = part, part + nparts, ... of the 16-padded tile
 * numbering (t = ty*ntxp + tx, as wino_fused*), transforms the panel's input
 * and output gradient into local scratch (a private scratch, no barriers) in
 * the packed GEMM layouts with K = the panel's 32 tiles,
 *   ul[((e*npan + j)*32 + t)*32 + c%32]   (j = c/32, npan = ceil(cin/32)),
 *   vl[((e*mpan + p)*32 + t)*MR + r]      (p = co/MR, mpan = ceil(cout/MR)),
 * and adds the 36 products C_e[co][ci] += sum_t V_e[co][t] U_e[ci][t] into
 * its own partial sums c[c_off + part*36*cout*cin + (e*cout + co)*cin + ci]
 * (its first panel stores them; every part has at least one panel).
 * wino_wgrad_weights adds the parts in order: the result does not depend on
 * how the work-items were scheduled. Tiles past the output gradient's edge
 * (tx >= ntx, the padding of a tile row) read zeros there and add nothing.
 * Scratch: 36*32*(32*npan + MR*mpan) floats. Global size: (nparts). */
#define WGF_PUT(r)                                                                                  \
    if (co0 + r < cout) {                                                                           \
        __global float *d_ = ce + (size_t)(co0 + r) * cin + ci0;                                    \
        if (ncols == 32) {                                                                          \
            if (first) {                                                                            \
                vstore16(c##r##a, 0, d_), vstore16(c##r##b, 1, d_);                                 \
            } else {                                                                                \
                vstore16(c##r##a + vload16(0, d_), 0, d_), vstore16(c##r##b + vload16(1, d_), 1, d_); \
            }                                                                                       \
        } else {                                                                                    \
            float t_[32];                                                                           \
            vstore16(c##r##a, 0, t_), vstore16(c##r##b, 1, t_);                                     \
            for (int x_ = 0; x_ < ncols; x_++) d_[x_] = first ? t_[x_] : d_[x_] + t_[x_];           \
        }                                                                                           \
    }
#define WGF_PUT8 WGF_PUT(0) WGF_PUT(1) WGF_PUT(2) WGF_PUT(3) WGF_PUT(4) WGF_PUT(5) WGF_PUT(6) WGF_PUT(7)
#define WGF_PUT12 WGF_PUT8 WGF_PUT(8) WGF_PUT(9) WGF_PUT(10) WGF_PUT(11)
#define WINO_WGRAD_FUSED(MR)                                                                        \
    __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void wino_wgrad_fused##MR(              \
        __global const float *in, const int h, const int w, const int cin, __global const float *dout, \
        const int ho, const int wo, const int cout, const int nty, const int ntxp, const int nparts, \
        __global float *c, const ulong c_off, __local float *scratch)                               \
    {                                                                                               \
        UNET_FTZ_DAZ(); /* denormals as zero (program.c) */                                         \
        const int part = get_global_id(0), ttot = nty * ntxp, npanels = (ttot + 31) / 32;           \
        if (part >= nparts) return;                                                                 \
        const int npan = (cin + 31) / 32, mpan = (cout + MR - 1) / MR;                              \
        __local float *ul = scratch;                                                                \
        __local float *vl = scratch + 36 * npan * 32 * 32;                                          \
        __global float *cp = c + c_off + (size_t)part * 36 * cout * cin;                            \
        int first = 1;                                                                              \
        for (int q = part; q < npanels; q += nparts, first = 0) {                                   \
            for (int hh = 0; hh < 2; hh++) {                                                        \
                const int tt = q * 32 + 16 * hh;                                                    \
                if (tt >= ttot) { /* the panel's second half past the last tile row: zeros */       \
                    for (int x = 0; x < 36 * npan; x++)                                             \
                        for (int l = 0; l < 32; l++) vstore16((float16)(0.0f), 0, ul + (x * 32 + 16 * hh) * 32 + 16 * l); \
                    for (int x = 0; x < 36 * mpan; x++)                                             \
                        for (int l = 0; l < 16 * MR; l++) vl[x * 32 * MR + 16 * hh * MR + l] = 0.0f; \
                    continue;                                                                       \
                }                                                                                   \
                const int tyl = tt / ntxp, g = (tt - tyl * ntxp) / 16, y0 = 4 * tyl, x0 = 64 * g;  \
                for (int cg = 0; cg < 2 * npan; cg++) { /* 16 input channels */                     \
                    float16 tmp[36 * 16];                                                           \
                    wino_u16_block(in, h, w, cin, 16 * cg, y0, x0, 1, tmp);                         \
                    for (int e = 0; e < 36; e++) {                                                  \
                        float16 x[16];                                                              \
                        _Pragma("unroll") for (int l = 0; l < 16; l++) x[l] = tmp[e * 16 + l];      \
                        unet_transpose16(x); /* x[tile] = the 16 channels */                        \
                        __local float *d = ul + ((e * npan + cg / 2) * 32 + 16 * hh) * 32 + 16 * (cg & 1); \
                        _Pragma("unroll") for (int l = 0; l < 16; l++) vstore16(x[l], 0, d + l * 32); \
                    }                                                                               \
                }                                                                                   \
                for (int p = 0; p < mpan; p++) { /* MR output channels */                           \
                    float16 tmp[36 * 16];                                                           \
                    wino_v16_block(dout, ho, wo, cout, p * MR, MR, y0, x0, 1, tmp);                \
                    for (int e = 0; e < 36; e++) {                                                  \
                        float16 x[16];                                                              \
                        _Pragma("unroll") for (int l = 0; l < 16; l++) x[l] = tmp[e * 16 + l];      \
                        unet_transpose16(x); /* x[tile] = the MR channels in lanes 0..MR-1 */       \
                        __local float *d = vl + ((e * mpan + p) * 32 + 16 * hh) * MR;               \
                        _Pragma("unroll") for (int l = 0; l < 16; l++) {                            \
                            vstore8(x[l].lo, 0, d + l * MR);                                        \
                            if (MR == 12) vstore4(x[l].s89ab, 0, d + l * MR + 8);                   \
                        }                                                                           \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
            for (int e = 0; e < 36; e++) {                                                          \
                __global float *ce = cp + (size_t)e * cout * cin;                                   \
                for (int p = 0; p < mpan; p++) {                                                    \
                    const int co0 = p * MR;                                                         \
                    for (int j = 0; j < npan; j++) {                                                \
                        const int ci0 = 32 * j, ncols = min(32, cin - ci0);                         \
                        __local const float *pa = vl + (e * mpan + p) * 32 * MR;                    \
                        __local const float *pb = ul + (e * npan + j) * 32 * 32;                    \
                        WF_DECL##MR                                                                 \
                        for (int k = 0; k < 32; k++) {                                              \
                            const float16 b0 = vload16(0, pb), b1 = vload16(1, pb);                 \
                            WF_FMA##MR                                                              \
                            pa += MR;                                                               \
                            pb += 32;                                                               \
                        }                                                                           \
                        WGF_PUT##MR                                                                 \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }

WINO_WGRAD_FUSED(12)
WINO_WGRAD_FUSED(8)
