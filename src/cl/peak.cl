/* Peak floating-point throughput probe: independent chains of vector FMAs.
 * Each work-item does iters * 8 chains * 16 lanes * 2 flops. */
__kernel void fma_peak(__global float *out, const int iters, const float a, const float b)
{
    int gid = get_global_id(0);
    float16 x0 = (float16)(gid * 1e-9f), x1 = x0 + 1e-3f, x2 = x0 + 2e-3f, x3 = x0 + 3e-3f;
    float16 x4 = x0 + 4e-3f, x5 = x0 + 5e-3f, x6 = x0 + 6e-3f, x7 = x0 + 7e-3f;
    float16 va = (float16)(a), vb = (float16)(b);
    for (int i = 0; i < iters; i++) {
        x0 = fma(x0, va, vb); x1 = fma(x1, va, vb); x2 = fma(x2, va, vb); x3 = fma(x3, va, vb);
        x4 = fma(x4, va, vb); x5 = fma(x5, va, vb); x6 = fma(x6, va, vb); x7 = fma(x7, va, vb);
    }
    float16 s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
    out[gid] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7 + s.s8 + s.s9 + s.sa + s.sb + s.sc + s.sd +
               s.se + s.sf;
}

/* The same probe for CPU devices: one work-item per work-group, so that PoCL
 * compiles the work-item as written (straight AVX-512 code, the shape of
 * gemm_cpu.cl's micro-kernel) instead of vectorizing across work-items, which
 * mixed the float16 chains into narrower registers and measured about half of
 * the hardware's FMA rate (160-175 vs 250-330 GFLOP/s of a C loop of
 * 512-bit FMAs on the 2-core Xeon). 16 chains cover the FMA latency of two
 * FMA ports. Each work-item does iters * 16 chains * 16 lanes * 2 flops. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void fma_peak_cpu(__global float *out, const int iters,
                                                                          const float a, const float b)
{
    int gid = get_global_id(0);
    float16 x0 = (float16)(gid * 1e-9f), x1 = x0 + 1e-3f, x2 = x0 + 2e-3f, x3 = x0 + 3e-3f;
    float16 x4 = x0 + 4e-3f, x5 = x0 + 5e-3f, x6 = x0 + 6e-3f, x7 = x0 + 7e-3f;
    float16 x8 = x0 + 8e-3f, x9 = x0 + 9e-3f, xa = x0 + 1e-2f, xb = x0 + 1.1e-2f;
    float16 xc = x0 + 1.2e-2f, xd = x0 + 1.3e-2f, xe = x0 + 1.4e-2f, xf = x0 + 1.5e-2f;
    float16 va = (float16)(a), vb = (float16)(b);
    for (int i = 0; i < iters; i++) {
        x0 = fma(x0, va, vb); x1 = fma(x1, va, vb); x2 = fma(x2, va, vb); x3 = fma(x3, va, vb);
        x4 = fma(x4, va, vb); x5 = fma(x5, va, vb); x6 = fma(x6, va, vb); x7 = fma(x7, va, vb);
        x8 = fma(x8, va, vb); x9 = fma(x9, va, vb); xa = fma(xa, va, vb); xb = fma(xb, va, vb);
        xc = fma(xc, va, vb); xd = fma(xd, va, vb); xe = fma(xe, va, vb); xf = fma(xf, va, vb);
    }
    float16 s = x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + xa + xb + xc + xd + xe + xf;
    out[gid] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7 + s.s8 + s.s9 + s.sa + s.sb + s.sc + s.sd +
               s.se + s.sf;
}
