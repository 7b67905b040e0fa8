/* Winograd F(2x2,3x3) convolution for GPUs (host: src/host/ocl/conv_gpu.c,
 * the parameter sets named "wf2..."): the forward pass of a 3x3 valid
 * convolution with bias + ReLU fused into the store, and the input gradient
 * (the adjoint convolution: the same kernel on dout zero-padded by 2, with
 * the weights rotated by 180 degrees and transposed, accumulating or not).
 * Tensors are channel-major [C][H][W] floats; weights [cout][cin][3][3].
 *
 * Why F(2x2,3x3) and fully fused (not F(4x4,3x3) with V in global memory):
 *  - one kernel per layer, no transformed input V and no products M in
 *    global memory: the input is read once per block of output channels
 *    (4x4 patches with overlap, served by the caches), the transformed
 *    weights once per block of tiles, and the output written once;
 *  - 16 components map onto power-of-two work-groups (16 x GCO x GT work-items,
 *    256 in the sets here, each owning one component of a block): F(4x4)'s 36 give 144
 *    or 288, or an uneven split, and a 6x6 patch (36 registers) per
 *    transform instead of 16;
 *  - the transforms' coefficients are 0, +-1 and +-1/2: exact in binary, so
 *    the rounding error stays close to the direct convolution's (F(4x4)'s
 *    coefficients 1/4, 1/6, 1/12, 1/24, which are not exact in binary, and
 *    larger sums per component make its rounding error several times
 *    larger; the bound of tests/test_conv_gpu.c is derived for F(2x2)).
 * What F(4x4) would have and this has not: 4x fewer multiplications than the
 * direct convolution instead of 2.25x (not done; unmeasured either way).
 * Arithmetic per 2x2 output tile, input channel and output channel: 16
 * multiply-adds instead of 36 (2.25x fewer); the input transform (32 adds
 * per 4x4 patch and channel) is done once per work-group for its TCO output
 * channels, the output transform (24 adds per 2x2 tile and output channel)
 * once per output. Global memory per work-group and input channel: TT
 * patches of 16 floats (4x the pixels: overlapping reads, mostly cache hits)
 * and 16 x TCO transformed weights; per layer: the input about
 * ceil(cout/TCO) times, U (16 cin cout floats, 1.8x the weights) about
 * ceil(tiles/TT) times, the output once; no intermediate tensors.
 *
 * Work-group: NT = 16 x GCO x GT work-items; work-item (e, gco, gt) owns the
 * transformed component e (of 16) of RCO output channels (co0 + gco + i*GCO)
 * x RT tiles (t0 + gt + j*GT): a TCO x TT block (TCO = GCO*RCO output
 * channels, TT = GT*RT 2x2 tiles, tiles numbered row-major over the output).
 * The input channels are walked in chunks of CK, double buffered in local
 * memory like conv_gpu.cl: the next chunk's 4x4 patches and transformed
 * weights are read into registers while the current chunk is multiplied,
 * the patches are transformed (V = B^T d B) while they are stored into local
 * memory. At the end the accumulators M (all 16 components) go through local
 * memory, RCO rows at a time, and the output transform Y = A^T M A, bias,
 * ReLU (or the accumulation into din) happen in the store.
 *
 * The transformed weights U = G g G^T come from wino2_weights, once per
 * weights version when the caller keeps them (unet_conv_wcache), as
 * U[ci][e][co] (co contiguous: the loads of a chunk are coalesced).
 *
 * Parameters (compile-time defines): GCO, GT (work-item groups along output
 * channels and tiles), RCO, RT (register tile), CK (input channels per
 * chunk). Requires (16*CK*TCO) % NT == 0. */

#ifndef GCO
#define GCO 4
#endif
#ifndef GT
#define GT 4
#endif
#ifndef RCO
#define RCO 4
#endif
#ifndef RT
#define RT 4
#endif
#ifndef CK
#define CK 8
#endif

#define NG (GCO * GT)
#define NT (16 * NG)
#define TCO (GCO * RCO)
#define TT (GT * RT)
/* local strides of one component, padded so that the two components a
 * 32-wide warp reads fall into different banks */
#define SU (CK * TCO + GCO)
#define SV (CK * TT + GT)
#define SM (GCO * TT + GT)
#define NP (CK * TT)                 /* patches per chunk */
#define LP ((NP + NT - 1) / NT)      /* patches per work-item per chunk */
#define NU (16 * CK * TCO)           /* transformed weights per chunk */
#define LU (NU / NT)                 /* of them per work-item */

#if (NU % NT) != 0
#error "wino_gpu.cl: 16*CK*TCO must be a multiple of the work-group size"
#endif

/* U = G g G^T of one 3x3 kernel, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
 * One work-item per (ci, co) of the convolution it serves. flip = 0: the
 * forward convolution, g = W[co][ci]; flip = 1: the adjoint (cin here is the
 * layer's cout and cout its cin), g = W[ci][co] rotated by 180 degrees.
 * u: U[ci][16][cout]. */
__kernel void wino2_weights(__global const float *wt, const int woff, const int cin, const int cout, const int flip,
                            __global float *u)
{
    const int i = get_global_id(0);
    if (i >= cin * cout) return;
    const int ci = i / cout, co = i - ci * cout;
    __global const float *g = wt + woff + (flip ? ci * cout + co : co * cin + ci) * 9;
    float k[9];
    for (int r = 0; r < 9; r++) k[r] = g[flip ? 8 - r : r];
    float s[4][3];
    for (int j = 0; j < 3; j++) {
        s[0][j] = k[j];
        s[1][j] = 0.5f * ((k[j] + k[3 + j]) + k[6 + j]);
        s[2][j] = 0.5f * ((k[j] - k[3 + j]) + k[6 + j]);
        s[3][j] = k[6 + j];
    }
    __global float *o = u + ci * 16 * cout + co;
    for (int a = 0; a < 4; a++) {
        o[(a * 4 + 0) * cout] = s[a][0];
        o[(a * 4 + 1) * cout] = 0.5f * ((s[a][0] + s[a][1]) + s[a][2]);
        o[(a * 4 + 2) * cout] = 0.5f * ((s[a][0] - s[a][1]) + s[a][2]);
        o[(a * 4 + 3) * cout] = s[a][2];
    }
}

/* The 4x4 patch of channel ci at (y0, x0) of the input zero-padded by pad
 * (y0, x0 already shifted by -pad); 0 outside or when !ok. */
static inline void load_patch(__global const float *in, const int ci, const int cin, const int h, const int w,
                              const int y0, const int x0, const int ok, float *d)
{
    const int live = ok && ci < cin;
    for (int a = 0; a < 4; a++) {
        const int y = y0 + a;
        for (int b = 0; b < 4; b++) {
            const int x = x0 + b;
            d[a * 4 + b] = (live && y >= 0 && y < h && x >= 0 && x < w) ? in[(ci * h + y) * w + x] : 0.0f;
        }
    }
}

/* V = B^T d B, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], stored as
 * component e = 4*row + column at vl[e*SV + off]. */
static inline void store_v(__local float *vl, const int off, const float *d)
{
    float t[4][4];
    for (int j = 0; j < 4; j++) {
        t[0][j] = d[j] - d[8 + j];
        t[1][j] = d[4 + j] + d[8 + j];
        t[2][j] = d[8 + j] - d[4 + j];
        t[3][j] = d[4 + j] - d[12 + j];
    }
    for (int a = 0; a < 4; a++) {
        vl[(a * 4 + 0) * SV + off] = t[a][0] - t[a][2];
        vl[(a * 4 + 1) * SV + off] = t[a][1] + t[a][2];
        vl[(a * 4 + 2) * SV + off] = t[a][2] - t[a][1];
        vl[(a * 4 + 3) * SV + off] = t[a][1] - t[a][3];
    }
}

/* out[cout][ho][wo] (ho = h + 2 pad - 2, wo likewise) = the convolution of
 * in[cin][h][w], zero-padded by pad, with the transformed weights u
 * (U[cin][16][cout]); then boff >= 0: + bias[boff + co], ReLU when relu;
 * accumulate: out += the result. Launch: ceil(cout/TCO) * ceil(tiles/TT)
 * work-groups of NT (1-D), output-channel blocks fastest (the groups that
 * run together share their input patches in the caches). */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1))) void wino2_conv(
    __global const float *in, const int cin, const int h, const int w, const int pad, __global const float *u,
    const int cout, __global const float *bias, const int boff, const int relu, const int accumulate,
    __global float *out)
{
    __local float ul0[16 * SU], ul1[16 * SU], vl0[16 * SV], vl1[16 * SV], ml[16 * SM];
    const int ho = h + 2 * pad - 2, wo = w + 2 * pad - 2;
    const int ntx = (wo + 1) / 2, ntiles = ntx * ((ho + 1) / 2);
    const int nco = (cout + TCO - 1) / TCO, g = get_group_id(0);
    const int co0 = (g % nco) * TCO, t0 = (g / nco) * TT;
    const int tid = get_local_id(0), e = tid / NG, gco = (tid % NG) / GT, gt = tid % GT;

    /* this work-item's patches: channel pc (in the chunk; -1: none), origin */
    int pc[LP], py[LP], px[LP], pok[LP];
    for (int l = 0; l < LP; l++) {
        const int p = tid + l * NT;
        pc[l] = -1, py[l] = 0, px[l] = 0, pok[l] = 0;
        if (p < NP) {
            const int c = p / TT, t = t0 + (p - c * TT);
            pc[l] = c;
            if (t < ntiles) {
                const int ty = t / ntx;
                py[l] = 2 * ty - pad;
                px[l] = 2 * (t - ty * ntx) - pad;
                pok[l] = 1;
            }
        }
    }

    float acc[RCO][RT];
    for (int i = 0; i < RCO; i++)
        for (int j = 0; j < RT; j++) acc[i][j] = 0.0f;

    float rd[LP][16], ru[LU];
    const int nchunks = (cin + CK - 1) / CK;
#define LOAD_CHUNK(ci0)                                                                                          \
    do {                                                                                                         \
        for (int l = 0; l < LP; l++)                                                                             \
            if (pc[l] >= 0) load_patch(in, (ci0) + pc[l], cin, h, w, py[l], px[l], pok[l], rd[l]);               \
        for (int l = 0; l < LU; l++) {                                                                           \
            const int q = tid + l * NT, co = q % TCO, r = q / TCO, c = r % CK, ee = r / CK;                      \
            ru[l] = ((ci0) + c < cin && co0 + co < cout) ? u[(((ci0) + c) * 16 + ee) * cout + co0 + co] : 0.0f; \
        }                                                                                                        \
    } while (0)
#define STORE_CHUNK(ul, vl)                                                                                      \
    do {                                                                                                         \
        for (int l = 0; l < LP; l++)                                                                             \
            if (pc[l] >= 0) store_v((vl), tid + l * NT, rd[l]);                      \
        for (int l = 0; l < LU; l++) {                                                                           \
            const int q = tid + l * NT, co = q % TCO, r = q / TCO, c = r % CK, ee = r / CK;                      \
            (ul)[ee * SU + c * TCO + co] = ru[l];                                                                \
        }                                                                                                        \
    } while (0)

    LOAD_CHUNK(0);
    STORE_CHUNK(ul0, vl0);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < nchunks; t++) {
        __local const float *ul = (t & 1) ? ul1 : ul0;
        __local const float *vl = (t & 1) ? vl1 : vl0;
        const int more = t + 1 < nchunks;
        if (more) LOAD_CHUNK((t + 1) * CK);
#pragma unroll
        for (int c = 0; c < CK; c++) {
            float av[RCO], bv[RT];
#pragma unroll
            for (int i = 0; i < RCO; i++) av[i] = ul[e * SU + c * TCO + gco + i * GCO];
#pragma unroll
            for (int j = 0; j < RT; j++) bv[j] = vl[e * SV + c * TT + gt + j * GT];
#pragma unroll
            for (int i = 0; i < RCO; i++)
#pragma unroll
                for (int j = 0; j < RT; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        if (more) {
            if (t & 1) STORE_CHUNK(ul0, vl0);
            else STORE_CHUNK(ul1, vl1);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#undef LOAD_CHUNK
#undef STORE_CHUNK

    /* output transform, one row i of the register tile at a time:
     * Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1] */
    for (int i = 0; i < RCO; i++) {
        for (int j = 0; j < RT; j++) ml[e * SM + gco * TT + gt + j * GT] = acc[i][j];
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int p = tid; p < GCO * TT; p += NT) {
            const int q = p / TT, tt = p - q * TT, co = co0 + q + i * GCO, t = t0 + tt;
            if (co >= cout || t >= ntiles) continue;
            float m[16];
            for (int k = 0; k < 16; k++) m[k] = ml[k * SM + p];
            float r[2][4];
            for (int j = 0; j < 4; j++) {
                r[0][j] = (m[j] + m[4 + j]) + m[8 + j];
                r[1][j] = (m[4 + j] - m[8 + j]) - m[12 + j];
            }
            float y[2][2];
            for (int a = 0; a < 2; a++) {
                y[a][0] = (r[a][0] + r[a][1]) + r[a][2];
                y[a][1] = (r[a][1] - r[a][2]) - r[a][3];
            }
            const int ty = t / ntx, oy = 2 * ty, ox = 2 * (t - ty * ntx);
            const float b = boff >= 0 ? bias[boff + co] : 0.0f;
            for (int a = 0; a < 2; a++) {
                if (oy + a >= ho) break;
                for (int c = 0; c < 2; c++) {
                    if (ox + c >= wo) break;
                    __global float *o = out + (co * ho + oy + a) * wo + ox + c;
                    float v = y[a][c];
                    if (boff >= 0) {
                        v += b;
                        if (relu) v = fmax(v, 0.0f);
                    }
                    if (accumulate) v += *o;
                    *o = v;
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
