/* Pixel-wise softmax and weighted softmax cross-entropy.
 * Logits are [K][P] (channel-major, P = H*W pixels). All per-pixel work is
 * numerically stable (max subtracted before exp; log-sum-exp kept as
 * (max - x_label) + log(sum)), so logits of +-1e4 stay finite. */

/* One work-item per pixel. */
__kernel void loss_softmax(__global const float *logits, __global float *probs, const int k,
                           const int p)
{
    const int i = get_global_id(0);
    if (i >= p) return;
    float m = logits[i];
    for (int c = 1; c < k; c++) m = fmax(m, logits[(size_t)c * p + i]);
    float s = 0.0f;
    for (int c = 0; c < k; c++) s += exp(logits[(size_t)c * p + i] - m);
    const float inv = 1.0f / s;
    for (int c = 0; c < k; c++) probs[(size_t)c * p + i] = exp(logits[(size_t)c * p + i] - m) * inv;
}

/* One work-item per pixel. Writes, when has_ws, ws[i] = w * nll,
 * ws[p + i] = w (0 for ignored pixels), ws[2p + i] = 1 if the arg-max
 * (first maximum) equals the label. dlogits (when has_d) = scale * w *
 * (softmax - onehot), 0 for ignored pixels. A label outside [0,k) is
 * ignored. weights is read only when has_w. */
__kernel void loss_xent(__global const float *logits, __global const int *labels,
                        __global const float *weights, const int has_w, __global float *dlogits,
                        const int has_d, __global float *ws, const int has_ws, const int k,
                        const int p, const float scale)
{
    const int i = get_global_id(0);
    if (i >= p) return;
    float m = logits[i];
    int am = 0;
    for (int c = 1; c < k; c++) {
        const float v = logits[(size_t)c * p + i];
        if (v > m) { m = v; am = c; }
    }
    float s = 0.0f;
    for (int c = 0; c < k; c++) s += exp(logits[(size_t)c * p + i] - m);
    const int l = labels[i];
    const int valid = (l >= 0 && l < k);
    float w = 0.0f, loss = 0.0f;
    if (valid) {
        w = has_w ? weights[i] : 1.0f;
        if (w != 0.0f) loss = w * ((m - logits[(size_t)l * p + i]) + log(s));
    }
    if (has_ws) {
        ws[i] = loss;
        ws[(size_t)p + i] = w;
        ws[2 * (size_t)p + i] = (valid && am == l) ? 1.0f : 0.0f;
    }
    if (has_d) {
        const float f = scale * w;
        const float inv = 1.0f / s;
        for (int c = 0; c < k; c++) {
            float g = 0.0f;
            if (valid && w != 0.0f) {
                const float pr = exp(logits[(size_t)c * p + i] - m) * inv;
                g = f * (c == l ? pr - 1.0f : pr);
            }
            dlogits[(size_t)c * p + i] = g;
        }
    }
}
