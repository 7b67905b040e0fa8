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
