/* GPU convolution kernels (src/host/ocl/conv_gpu.c): implicit GEMM for the
 * 3x3 valid convolutions, forward, input gradient and weight gradient, with
 * no im2col buffer in global memory. Tensors are channel-major [C][H][W]
 * floats; weights [cout][cin][3][3].
 *
 * One GEMM skeleton, C[M][N] = A[M][K] . B[K][N], where A and B are read
 * through index maps (the convolution's implicit matrices):
 *   conv_fwd:   M = cout, N = ho*wo, K = cin*9
 *               A(m,k) = W[m][k], B(k,n) = in[k/9][y + r/3][x + r%3]
 *               (r = k%9, (y,x) = pixel n); store relu?(acc + bias[m]).
 *   conv_dgrad: M = cin, N = h*w, K = cout*9
 *               A(m,k) = W[k/9][m][8 - r], B(k,n) = dout[k/9][y+r/3-2][x+r%3-2]
 *               (0 outside); store din (+)= acc.
 *   conv_wgrad: M = cout, N = cin*9, K = ho*wo (split into KS slices along
 *               dimension 1 of the launch; slice s writes its partial sum to
 *               part + s*M*N when KS > 1, summed in slice order by
 *               conv_wgrad_reduce: deterministic)
 *               A(m,k) = dout[m][k], B(k,n) = in[n/9][y + r/3][x + r%3].
 *
 * Parameters (compile-time defines, defaults below):
 *   WGM x WGN  work-items of a work-group (1-D launch of WGM*WGN)
 *   RM x RN    outputs per work-item (register tile); the work-group's tile is
 *              TM x TN = WGM*RM x WGN*RN, a work-item's outputs strided by
 *              WGM (rows) and WGN (columns) so local reads do not conflict
 *   TK         K chunk staged in local memory (rows padded by one word),
 *              double buffered (the next
 *              chunk is read into registers while the current is multiplied)
 *   VW         vector width of the A loads where A is contiguous in k
 *              (forward weights, weight-gradient dout): vloadVW
 *   HALF       1: operands staged in local memory as binary16 (vstore_half,
 *              round to nearest even; vload_half), accumulation in float.
 *              vload_half/vstore_half are core OpenCL 1.2: no cl_khr_fp16.
 * Requires TK % VW == 0, (TM*TK) % (WGM*WGN*VW) == 0, (TK*TN) % (WGM*WGN) == 0
 * (the host checks the parameter sets). */

#ifndef WGM
#define WGM 16
#endif
#ifndef WGN
#define WGN 16
#endif
#ifndef RM
#define RM 4
#endif
#ifndef RN
#define RN 4
#endif
#ifndef TK
#define TK 16
#endif
#ifndef VW
#define VW 4
#endif
#ifndef HALF
#define HALF 0
#endif

#define NT (WGM * WGN)
#define TM (WGM * RM)
#define TN (WGN * RN)
#define SA (TM + 1) /* local row strides, padded: the transposing stores do not hit one bank */
#define SB (TN + 1)
#define LA ((TM * TK) / (NT * VW)) /* A vectors loaded per work-item per chunk */
#define LB ((TK * TN) / NT)        /* B values loaded per work-item per chunk */

#if (TK % VW) != 0 || ((TM * TK) % (NT * VW)) != 0 || ((TK * TN) % NT) != 0
#error "conv_gpu.cl: tile parameters do not divide (TK % VW, TM*TK % (NT*VW), TK*TN % NT)"
#endif

#if VW == 1
#define VTYPE float
#define VLOAD(p) (*(p))
#elif VW == 2
#define VTYPE float2
#define VLOAD(p) vload2(0, (p))
#elif VW == 4
#define VTYPE float4
#define VLOAD(p) vload4(0, (p))
#else
#error "conv_gpu.cl: VW must be 1, 2 or 4"
#endif

#define MODE_FWD 0
#define MODE_DGRAD 1
#define MODE_WGRAD 2

#if HALF
#define LTYPE ushort
#define LSTORE(buf, i, v) vstore_half((v), (i), (__local half *)(buf))
#define LLOAD(buf, i) vload_half((i), (__local const half *)(buf))
#else
#define LTYPE float
#define LSTORE(buf, i, v) ((buf)[(i)] = (v))
#define LLOAD(buf, i) ((buf)[(i)])
#endif

/* Element i of a VTYPE value. */
static inline float vget(const VTYPE v, const int i)
{
#if VW == 1
    (void)i;
    return v;
#else
    float t[VW];
#if VW == 2
    vstore2(v, 0, t);
#else
    vstore4(v, 0, t);
#endif
    return t[i];
#endif
}

/* A(m, k) for the element-wise (not vector) path; m < M and k < K checked
 * by the caller. */
static inline float a_elem(const int mode, __global const float *a, const int lda, const int m, const int k,
                           const int cin)
{
    if (mode == MODE_DGRAD) {
        const int co = k / 9, r = k - co * 9;
        return a[(co * cin + m) * 9 + 8 - r];
    }
    return a[m * lda + k];
}

/* The work-item's A loads of chunk [k0, k0+TK): LA vectors of VW
 * consecutive k of one row m (rows past M and columns past kend read 0). */
static inline void load_a(const int mode, __global const float *a, const int lda, const int M, const int kend,
                          const int m0, const int k0, const int tid, const int cin, VTYPE *ra)
{
    for (int l = 0; l < LA; l++) {
        const int e = (tid + l * NT) * VW;
        const int m = e / TK, kk = e - m * TK;
        const int gm = m0 + m, gk = k0 + kk;
        if (mode != MODE_DGRAD && gm < M && gk + VW <= kend) {
            ra[l] = VLOAD(a + gm * lda + gk);
        } else {
            float t[VW];
            for (int v = 0; v < VW; v++)
                t[v] = (gm < M && gk + v < kend) ? a_elem(mode, a, lda, gm, gk + v, cin) : 0.0f;
#if VW == 1
            ra[l] = t[0];
#elif VW == 2
            ra[l] = vload2(0, t);
#else
            ra[l] = vload4(0, t);
#endif
        }
    }
}

static inline void store_a(__local LTYPE *as, const VTYPE *ra, const int tid)
{
    for (int l = 0; l < LA; l++) {
        const int e = (tid + l * NT) * VW;
        const int m = e / TK, kk = e - m * TK;
        for (int v = 0; v < VW; v++) LSTORE(as, (kk + v) * SA + m, vget(ra[l], v));
    }
}

/* B loads: slot l of the work-item is element e = tid + l*NT of the TK x TN
 * chunk; forward and input gradient: kk = e / TN, n = e % TN (neighbouring
 * work-items read neighbouring pixels); weight gradient: n = e / TK,
 * kk = e % TK (K runs over pixels there). pinfo[l] holds what does not
 * change from chunk to chunk: the pixel's offset (forward), its (y, x)
 * packed as y*65536+x (input gradient), or the (ci, ky, kx) offset of
 * column n (weight gradient); -1 past N. */
static inline void b_slot(const int mode, const int l, const int tid, int *kk, int *n)
{
    const int e = tid + l * NT;
    if (mode == MODE_WGRAD) {
        *n = e / TK;
        *kk = e - *n * TK;
    } else {
        *kk = e / TN;
        *n = e - *kk * TN;
    }
}

static inline void load_b(const int mode, __global const float *b, const int N, const int kend, const int n0,
                          const int k0, const int tid, const int h, const int w, const int wo, const int ho,
                          const int *pinfo, float *rb)
{
    const int hw = h * w, ohw = ho * wo;
    for (int l = 0; l < LB; l++) {
        int kk, n;
        b_slot(mode, l, tid, &kk, &n);
        const int gk = k0 + kk;
        float v = 0.0f;
        if (pinfo[l] >= 0 && gk < kend) {
            if (mode == MODE_FWD) {
                const int ci = gk / 9, r = gk - ci * 9, ky = r / 3;
                v = b[ci * hw + ky * w + (r - ky * 3) + pinfo[l]];
            } else if (mode == MODE_DGRAD) {
                const int co = gk / 9, r = gk - co * 9, ky = r / 3;
                const int y = (pinfo[l] >> 16) + ky - 2, x = (pinfo[l] & 0xffff) + (r - ky * 3) - 2;
                if (y >= 0 && y < ho && x >= 0 && x < wo) v = b[co * ohw + y * wo + x];
            } else {
                const int y = gk / wo, x = gk - y * wo;
                v = b[y * w + x + pinfo[l]];
            }
        }
        rb[l] = v;
    }
}

static inline void store_b(const int mode, __local LTYPE *bs, const float *rb, const int tid)
{
    for (int l = 0; l < LB; l++) {
        int kk, n;
        b_slot(mode, l, tid, &kk, &n);
        LSTORE(bs, kk * SB + n, rb[l]);
    }
}

/* The skeleton. a, b: operand buffers (offsets applied); c: output (offset
 * applied), ldc its row length. kbeg..kend: the K range of this launch's
 * slice. epi: 0 store, 1 add to C (accumulate), 2 bias (+ReLU when relu). */
static inline void gemm(const int mode, __global const float *a, const int lda, __global const float *b,
                        __global float *c, const int M, const int N, const int kbeg, const int kend, const int cin,
                        const int h, const int w, const int ho, const int wo, const int epi,
                        __global const float *bias, const int relu, __local LTYPE *as0, __local LTYPE *as1,
                        __local LTYPE *bs0, __local LTYPE *bs1)
{
    const int tid = get_local_id(0);
    const int tiles_n = (N + TN - 1) / TN;
    const int g = get_group_id(0);
    const int m0 = (g / tiles_n) * TM, n0 = (g - (g / tiles_n) * tiles_n) * TN;
    const int tm = tid / WGN, tn = tid - (tid / WGN) * WGN;

    int pinfo[LB];
    for (int l = 0; l < LB; l++) {
        int kk, n;
        b_slot(mode, l, tid, &kk, &n);
        const int gn = n0 + n;
        if (gn >= N) pinfo[l] = -1;
        else if (mode == MODE_FWD) pinfo[l] = (gn / wo) * w + gn % wo;
        else if (mode == MODE_DGRAD) pinfo[l] = (gn / w) * 65536 + gn % w;
        else {
            const int ci = gn / 9, r = gn - ci * 9, ky = r / 3;
            pinfo[l] = ci * h * w + ky * w + (r - ky * 3);
        }
    }

    float acc[RM][RN];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++) acc[i][j] = 0.0f;

    VTYPE ra[LA];
    float rb[LB];
    const int nchunks = kend > kbeg ? (kend - kbeg + TK - 1) / TK : 0;
    if (nchunks > 0) {
        load_a(mode, a, lda, M, kend, m0, kbeg, tid, cin, ra);
        load_b(mode, b, N, kend, n0, kbeg, tid, h, w, wo, ho, pinfo, rb);
        store_a(as0, ra, tid);
        store_b(mode, bs0, rb, tid);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int t = 0; t < nchunks; t++) {
        __local LTYPE *as = (t & 1) ? as1 : as0;
        __local LTYPE *bs = (t & 1) ? bs1 : bs0;
        const int more = t + 1 < nchunks;
        if (more) {
            const int k0 = kbeg + (t + 1) * TK;
            load_a(mode, a, lda, M, kend, m0, k0, tid, cin, ra);
            load_b(mode, b, N, kend, n0, k0, tid, h, w, wo, ho, pinfo, rb);
        }
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float av[RM], bv[RN];
#pragma unroll
            for (int i = 0; i < RM; i++) av[i] = LLOAD(as, kk * SA + tm + i * WGM);
#pragma unroll
            for (int j = 0; j < RN; j++) bv[j] = LLOAD(bs, kk * SB + tn + j * WGN);
#pragma unroll
            for (int i = 0; i < RM; i++)
#pragma unroll
                for (int j = 0; j < RN; j++) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
        if (more) {
            store_a((t & 1) ? as0 : as1, ra, tid);
            store_b(mode, (t & 1) ? bs0 : bs1, rb, tid);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int i = 0; i < RM; i++) {
        const int gm = m0 + tm + i * WGM;
        if (gm >= M) continue;
        for (int j = 0; j < RN; j++) {
            const int gn = n0 + tn + j * WGN;
            if (gn >= N) continue;
            float v = acc[i][j];
            __global float *p = c + gm * N + gn;
            if (epi == 2) {
                v += bias[gm];
                if (relu) v = fmax(v, 0.0f);
            } else if (epi == 1) {
                v += *p;
            }
            *p = v;
        }
    }
}

/* out[cout][ho][wo] = relu?(conv(in, W) + bias). Launch: (tiles * NT) x 1,
 * local NT. */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1))) void conv_fwd(
    __global const float *in, const int cin, const int h, const int w, __global const float *wt, const int woff,
    __global const float *bias, const int boff, const int relu, const int cout, __global float *out)
{
    __local LTYPE as0[TK * SA], as1[TK * SA], bs0[TK * SB], bs1[TK * SB];
    const int ho = h - 2, wo = w - 2, K = cin * 9;
    gemm(MODE_FWD, wt + woff, K, in, out, cout, ho * wo, 0, K, cin, h, w, ho, wo, 2, bias + boff, relu, as0, as1,
         bs0, bs1);
}

/* din[cin][h][w] (+)= the adjoint convolution of dout[cout][h-2][w-2]. */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1))) void conv_dgrad(
    __global const float *dout, const int cout, const int h, const int w, __global const float *wt, const int woff,
    const int cin, const int accumulate, __global float *din)
{
    __local LTYPE as0[TK * SA], as1[TK * SA], bs0[TK * SB], bs1[TK * SB];
    const int ho = h - 2, wo = w - 2;
    gemm(MODE_DGRAD, wt + woff, 0, dout, din, cin, h * w, 0, cout * 9, cin, h, w, ho, wo, accumulate ? 1 : 0,
         wt, 0, as0, as1, bs0, bs1);
}

/* Weight gradient of K-slice s = get_group_id(1) of ks: pixels
 * [s*kslice, min((s+1)*kslice, ho*wo)). ks == 1: dw (+)= the gradient
 * (dw at dwoff); ks > 1: part[s][cout*cin*9] = the slice's sum. */
__kernel __attribute__((reqd_work_group_size(NT, 1, 1))) void conv_wgrad(
    __global const float *in, const int cin, const int h, const int w, __global const float *dout, const int cout,
    const int ks, const int kslice, const int accumulate, __global float *dw, const int dwoff, __global float *part)
{
    __local LTYPE as0[TK * SA], as1[TK * SA], bs0[TK * SB], bs1[TK * SB];
    const int ho = h - 2, wo = w - 2, K = ho * wo, s = get_group_id(1);
    const int kbeg = s * kslice, kend = min(K, kbeg + kslice);
    const int M = cout, N = cin * 9;
    __global float *c = ks > 1 ? part + (size_t)s * (size_t)(M * N) : dw + dwoff;
    gemm(MODE_WGRAD, dout, K, in, c, M, N, kbeg, kend, cin, h, w, ho, wo, (ks == 1 && accumulate) ? 1 : 0, dout, 0,
         as0, as1, bs0, bs1);
}

/* dw[i] (+)= sum over s < ks of part[s][i], in slice order. */
__kernel void conv_wgrad_reduce(__global const float *part, const int ks, const int n, const int accumulate,
                                __global float *dw, const int dwoff)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    float s = 0.0f;
    for (int j = 0; j < ks; j++) s += part[(size_t)j * (size_t)n + i];
    if (accumulate) s += dw[dwoff + i];
    dw[dwoff + i] = s;
}
