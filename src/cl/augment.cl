/* Data augmentation (src/host/augment.c): one warp kernel that resamples the
 * image (bicubic, Keys a = -0.5 / Catmull-Rom), the labels (nearest, never
 * blended) and the weight map (bilinear, >= 0) of a training tile through the
 * same sampling map, with mirror extrapolation outside the source; and the
 * gray-value kernel (gamma, contrast, brightness, noise) applied afterwards.
 *
 * Sampling map, for tile pixel p = (x, y), tile centre ct = (T-1)/2:
 *   s = c + A (p - ct) + d(p)
 * c = source coordinate of the tile centre, A = R(angle) F(flips), d(p) the
 * Catmull-Rom interpolation of a G x G grid of displacement vectors whose
 * nodes lie at x = k (T-1)/(G-1), k = 0..G-1 (first and last node on the tile
 * border pixels), ghost nodes beyond the grid replicate the edge nodes.
 * Pixel centres are at integer coordinates.
 *
 * Contraction is off so that every device computes the same coordinates as
 * the plain-C reference of the tests (and the labels never depend on whether
 * a compiler fused a multiply-add). */
#pragma OPENCL FP_CONTRACT OFF

/* Mirror index without repeating the edge: -1 -> 1, n -> n-2 (numpy
 * 'reflect'); periodic beyond one reflection. */
inline int aug_reflect(int i, int n)
{
    if (n <= 1) return 0;
    int period = 2 * n - 2;
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

/* Keys cubic convolution weights (a = -0.5) for taps -1, 0, 1, 2 at t in [0,1). */
inline void aug_cubic_weights(float t, float *w)
{
    float t2 = t * t, t3 = t2 * t;
    w[0] = -0.5f * t3 + t2 - 0.5f * t;
    w[1] = 1.5f * t3 - 2.5f * t2 + 1.0f;
    w[2] = -1.5f * t3 + 2.0f * t2 + 0.5f * t;
    w[3] = 0.5f * t3 - 0.5f * t2;
}

inline int aug_clampi(int i, int n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

/* Catmull-Rom interpolation of the G x G displacement grid (dx, dy
 * interleaved, row-major nodes) at tile pixel (x, y). */
inline float2 aug_displacement(__global const float *grid, int G, int T, int x, int y)
{
    if (G <= 0) return (float2)(0.0f, 0.0f);
    float gu = T > 1 ? (float)(x * (G - 1)) / (float)(T - 1) : 0.0f;
    float gv = T > 1 ? (float)(y * (G - 1)) / (float)(T - 1) : 0.0f;
    float fu = floor(gu), fv = floor(gv);
    int iu = (int)fu, iv = (int)fv;
    float wu[4], wv[4];
    aug_cubic_weights(gu - fu, wu);
    aug_cubic_weights(gv - fv, wv);
    float2 d = (float2)(0.0f, 0.0f);
    for (int j = 0; j < 4; j++) {
        int ny = aug_clampi(iv - 1 + j, G);
        float2 row = (float2)(0.0f, 0.0f);
        for (int i = 0; i < 4; i++) {
            int nx = aug_clampi(iu - 1 + i, G);
            int n = ny * G + nx;
            row.x += wu[i] * grid[2 * n];
            row.y += wu[i] * grid[2 * n + 1];
        }
        d.x += wv[j] * row.x;
        d.y += wv[j] * row.y;
    }
    return d;
}

/* One work-item per tile pixel (x, y) of the T x T input tile: writes all C
 * image channels; inside the centre O x O output region (offset off) it also
 * writes the label (flags & 1) and the weight (flags & 2). */
__kernel void augment_warp(__global const float *src, const int C, const int H, const int W,
                           __global const int *src_lab, __global const float *src_wt,
                           __global float *dst, const int T,
                           __global int *dst_lab, __global float *dst_wt, const int O, const int off,
                           const int flags, __global const float *grid, const int G,
                           const float a00, const float a01, const float a10, const float a11,
                           const float cx, const float cy)
{
    int x = get_global_id(0), y = get_global_id(1);
    if (x >= T || y >= T) return;
    float ct = 0.5f * (float)(T - 1);
    float u = (float)x - ct, v = (float)y - ct;
    float2 d = aug_displacement(grid, G, T, x, y);
    float sx = cx + (a00 * u + a01 * v) + d.x;
    float sy = cy + (a10 * u + a11 * v) + d.y;
    /* keep the integer conversions defined for any input (NaN -> bound) */
    sx = fmax(fmin(sx, 1.0e7f), -1.0e7f);
    sy = fmax(fmin(sy, 1.0e7f), -1.0e7f);

    /* image: bicubic */
    float fx = floor(sx), fy = floor(sy);
    int ix = (int)fx, iy = (int)fy;
    float wx[4], wy[4];
    aug_cubic_weights(sx - fx, wx);
    aug_cubic_weights(sy - fy, wy);
    int cols[4], rows[4];
    for (int k = 0; k < 4; k++) {
        cols[k] = aug_reflect(ix - 1 + k, W);
        rows[k] = aug_reflect(iy - 1 + k, H);
    }
    size_t plane = (size_t)H * (size_t)W;
    size_t tplane = (size_t)T * (size_t)T;
    for (int c = 0; c < C; c++) {
        __global const float *s = src + (size_t)c * plane;
        float acc = 0.0f;
        for (int j = 0; j < 4; j++) {
            __global const float *r = s + (size_t)rows[j] * (size_t)W;
            float racc = wx[0] * r[cols[0]] + wx[1] * r[cols[1]] + wx[2] * r[cols[2]] + wx[3] * r[cols[3]];
            acc += wy[j] * racc;
        }
        dst[(size_t)c * tplane + (size_t)y * (size_t)T + (size_t)x] = acc;
    }

    int ox = x - off, oy = y - off;
    if (ox < 0 || oy < 0 || ox >= O || oy >= O) return;
    size_t o = (size_t)oy * (size_t)O + (size_t)ox;
    if (flags & 1) {
        /* labels: nearest, never blended */
        int lx = aug_reflect((int)floor(sx + 0.5f), W);
        int ly = aug_reflect((int)floor(sy + 0.5f), H);
        dst_lab[o] = src_lab[(size_t)ly * (size_t)W + (size_t)lx];
    }
    if (flags & 2) {
        /* weights: bilinear (no overshoot), clamped >= 0 */
        float tx = sx - fx, ty = sy - fy;
        int x0 = aug_reflect(ix, W), x1 = aug_reflect(ix + 1, W);
        int y0 = aug_reflect(iy, H), y1 = aug_reflect(iy + 1, H);
        __global const float *r0 = src_wt + (size_t)y0 * (size_t)W;
        __global const float *r1 = src_wt + (size_t)y1 * (size_t)W;
        float top = (1.0f - tx) * r0[x0] + tx * r0[x1];
        float bot = (1.0f - tx) * r1[x0] + tx * r1[x1];
        float w = (1.0f - ty) * top + ty * bot;
        dst_wt[o] = fmax(w, 0.0f);
    }
}

inline ulong aug_mix(ulong z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}

/* Gray-value variation of the warped tile x (n = C*T*T values), in place:
 *   v <- sign(v) |v|^gamma                 (flags & 1; identity at 0 and +-1)
 *   v <- pivot + contrast (v - pivot)      (flags & 4)
 *   v <- v + brightness
 *   v <- v + noise_std * N(0,1)            (flags & 2)
 * The normal deviate of element e comes from a counter-based hash of
 * (noise_seed, e) via Box-Muller, so it does not depend on the launch. */
__kernel void augment_gray(__global float *x, const int n, const float gamma, const float contrast,
                           const float pivot, const float brightness, const float noise_std,
                           const ulong noise_seed, const int flags)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    if (flags & 1) v = copysign(pow(fabs(v), gamma), v);
    if (flags & 4) v = pivot + contrast * (v - pivot);
    v = v + brightness;
    if (flags & 2) {
        ulong e = (ulong)i;
        ulong z1 = aug_mix(noise_seed + (2UL * e + 1UL) * 0x9e3779b97f4a7c15UL);
        ulong z2 = aug_mix(noise_seed + (2UL * e + 2UL) * 0x9e3779b97f4a7c15UL);
        float u1 = ((float)(z1 >> 41) + 0.5f) * (1.0f / 8388608.0f);
        float u2 = (float)(z2 >> 41) * (1.0f / 8388608.0f);
        float g = sqrt(-2.0f * log(u1)) * cospi(2.0f * u2);
        v = v + noise_std * g;
    }
    x[i] = v;
}
