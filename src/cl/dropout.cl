/* Inverted dropout with a counter-based mask: element i is dropped when
 * 24 high bits of hash(seed, i) are below thr = round(p * 2^24); kept
 * elements are multiplied by scale = 1 / (1 - p). The same (seed, i) gives
 * the same decision in forward and backward, on every device. */

static ulong dropout_mix(ulong z)
{
    /* splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}

static ulong dropout_hash(ulong seed, ulong i)
{
    const ulong s = dropout_mix(seed + 0x9e3779b97f4a7c15UL);
    return dropout_mix(s + (i + 1UL) * 0x9e3779b97f4a7c15UL);
}

__kernel void dropout_apply(__global float *x, const ulong n, const ulong seed, const uint thr,
                            const float scale)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const uint u = (uint)(dropout_hash(seed, (ulong)i) >> 40);
    x[i] = (u < thr) ? 0.0f : x[i] * scale;
}
