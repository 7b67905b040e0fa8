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

/* Weight transform into packed row panels. w[w_off + (co*cin + ci)*9 + 3*ky + kx].
 * Global size: (cin, mtiles*mr). */
__kernel void wino_weights(__global const float *w, const int w_off, const int cin, const int cout,
                           const int mr, const int mrows_pad, __global float *u, const ulong u_off,
                           const ulong a_stride)
{
    const int ci = get_global_id(0);
    const int co = get_global_id(1);
    if (ci >= cin || co >= mrows_pad) return;
    const int p = co / mr, r = co - p * mr;
    __global float *dst = u + u_off + ((size_t)p * cin + ci) * mr + r;
    if (co >= cout) {
        for (int e = 0; e < 36; e++) dst[(size_t)e * a_stride] = 0.0f;
        return;
    }
    __global const float *g = w + w_off + ((size_t)co * cin + ci) * 9;
    float t[6][3];
    for (int kx = 0; kx < 3; kx++) {
        float x[3] = {g[kx], g[3 + kx], g[6 + kx]}, y[6];
        WINO_G(x, y);
        for (int i = 0; i < 6; i++) t[i][kx] = y[i];
    }
    for (int i = 0; i < 6; i++) {
        float y[6];
        WINO_G(t[i], y);
        for (int j = 0; j < 6; j++) dst[(size_t)(6 * i + j) * a_stride] = y[j];
    }
}

/* Input transform of the tiles of tile rows [ty0, ty0 + nty) (ntx tiles per
 * row, T = nty*ntx) into packed 32-tile panels. in[c][h][w]; values outside
 * the input read as 0 (they only reach outputs past the valid ones).
 * Global size: (npanels*32, cin). */
__kernel void wino_input(__global const float *in, const int h, const int w, const int cin,
                         const int ty0, const int nty, const int ntx, __global float *v,
                         const ulong v_off, const ulong b_stride, const int npanels)
{
    const int t = get_global_id(0);
    const int c = get_global_id(1);
    if (t >= npanels * 32 || c >= cin) return;
    const int q = t / 32, j = t - q * 32;
    __global float *dst = v + v_off + ((size_t)q * cin + c) * 32 + j;
    if (t >= nty * ntx) {
        for (int e = 0; e < 36; e++) dst[(size_t)e * b_stride] = 0.0f;
        return;
    }
    const int ty = ty0 + t / ntx, tx = t % ntx;
    const int y0 = 4 * ty, x0 = 4 * tx;
    __global const float *src = in + (size_t)c * h * w;
    float d[6][6];
    if (y0 + 6 <= h && x0 + 6 <= w) {
        for (int i = 0; i < 6; i++) {
            __global const float *row = src + (size_t)(y0 + i) * w + x0;
            for (int k = 0; k < 6; k++) d[i][k] = row[k];
        }
    } else {
        for (int i = 0; i < 6; i++)
            for (int k = 0; k < 6; k++)
                d[i][k] = (y0 + i < h && x0 + k < w) ? src[(size_t)(y0 + i) * w + x0 + k] : 0.0f;
    }
    /* columns: t1 = B^T d, then rows: V = t1 B */
    float t1[6][6];
    for (int k = 0; k < 6; k++) {
        float x[6] = {d[0][k], d[1][k], d[2][k], d[3][k], d[4][k], d[5][k]}, y[6];
        WINO_BT(x, y);
        for (int i = 0; i < 6; i++) t1[i][k] = y[i];
    }
    for (int i = 0; i < 6; i++) {
        float y[6];
        WINO_BT(t1[i], y);
        for (int k = 0; k < 6; k++) dst[(size_t)(6 * i + k) * b_stride] = y[k];
    }
}

/* Output transform + bias (+ ReLU): m[m_off + e*m_stride + co*T + t] for the
 * chunk's T tiles; writes the valid part of each 4x4 tile of out[co][ho][wo].
 * Global size: (T, cout). */
__kernel void wino_output(__global const float *m, const ulong m_off, const ulong m_stride, const int ty0,
                          const int nty, const int ntx, const int cout, const int ho, const int wo,
                          __global const float *bias, const int bias_off, const int relu,
                          __global float *out)
{
    const int t = get_global_id(0);
    const int co = get_global_id(1);
    const int T = nty * ntx;
    if (t >= T || co >= cout) return;
    __global const float *src = m + m_off + (size_t)co * T + t;
    float t1[4][6];
    for (int k = 0; k < 6; k++) {
        float x[6], y[4];
        for (int i = 0; i < 6; i++) x[i] = src[(size_t)(6 * i + k) * m_stride];
        WINO_AT(x, y);
        for (int i = 0; i < 4; i++) t1[i][k] = y[i];
    }
    const float b = bias[bias_off + co];
    const int ty = ty0 + t / ntx, tx = t % ntx;
    const int y0 = 4 * ty, x0 = 4 * tx;
    __global float *dst = out + (size_t)co * ho * wo;
    for (int i = 0; i < 4; i++) {
        float y[4];
        WINO_AT(t1[i], y);
        if (y0 + i >= ho) break;
        for (int k = 0; k < 4; k++) {
            if (x0 + k >= wo) break;
            float val = y[k] + b;
            if (relu) val = val > 0.0f ? val : 0.0f;
            dst[(size_t)(y0 + i) * wo + x0 + k] = val;
        }
    }
}
