/* Writes one forward/backward case of the U-Net to a safetensors file for
 * tests/torch_reference.py: the weights (unetcl names, PyTorch layouts), the
 * input tile, labels, weight map, and unetcl's logits, loss and gradients.
 * usage: unet_ref_dump OUT.safetensors DEPTH BASE IN_CH CLASSES TILE_H TILE_W UPCONV_RELU */
#include "net.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t g_s = 88172645463325252ULL;
static double urand(void)
{
    g_s ^= g_s << 13;
    g_s ^= g_s >> 7;
    g_s ^= g_s << 17;
    return (double)(g_s >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: %s OUT DEPTH BASE IN_CH CLASSES TILE_H TILE_W UPCONV_RELU\n", argv[0]);
        return 2;
    }
    unet_model_config c = {.depth = atoi(argv[2]), .base_channels = atoi(argv[3]), .in_channels = atoi(argv[4]),
                           .classes = atoi(argv[5]), .dropout = 0.0f, .upconv_relu = atoi(argv[8])};
    int th = atoi(argv[6]), tw = atoi(argv[7]);
    unet_context *ctx;
    unet_model *m;
    unet_net *n;
    if (unet_context_create(NULL, &ctx) != UNET_OK || unet_model_create(ctx, &c, 42, &m) != UNET_OK ||
        unet_net_create(m, th, tw, 1, &n) != UNET_OK) {
        fprintf(stderr, "ref_dump: %s\n", unet_last_error());
        return 1;
    }
    const unet_plan_info *pi = unet_net_info(n);
    size_t np = unet_model_param_count(m), nin = (size_t)c.in_channels * th * tw,
           nout = (size_t)pi->out_h * pi->out_w, nlog = nout * (size_t)c.classes;
    float *p = malloc(np * 4), *g = malloc(np * 4), *x = malloc(nin * 4), *w = malloc(nout * 4),
          *labf = malloc(nout * 4), *logits = malloc(nlog * 4);
    int32_t *lab = malloc(nout * 4);
    /* He-initialised weights plus random biases, so every bias matters */
    unet_model_get_params(m, p);
    for (int i = 0; i < unet_model_tensor_count(m); i++) {
        int nd;
        size_t off, cnt;
        unet_model_tensor_info(m, i, NULL, NULL, &nd, &off, &cnt);
        if (nd == 1)
            for (size_t k = 0; k < cnt; k++) p[off + k] = (float)(0.2 * (urand() - 0.5));
    }
    unet_model_set_params(m, p);
    for (size_t i = 0; i < nin; i++) x[i] = (float)(2 * urand() - 1);
    for (size_t i = 0; i < nout; i++) {
        lab[i] = (int32_t)(urand() * c.classes);
        if (i % 17 == 3) lab[i] = -1; /* ignored */
        w[i] = (float)(urand() < 0.1 ? 0.0 : 0.5 + 10 * urand());
        labf[i] = (float)lab[i];
    }
    unet_step_result r;
    if (unet_net_loss_backward(n, x, lab, w, 1, &r) != UNET_OK || unet_model_get_grads(m, g) != UNET_OK ||
        unet_net_forward(n, x, 0, 0, NULL, logits) != UNET_OK) {
        fprintf(stderr, "ref_dump: %s\n", unet_last_error());
        return 1;
    }
    int nt = unet_model_tensor_count(m);
    unet_st_tensor *ts = calloc((size_t)(2 * nt + 5), sizeof *ts);
    int64_t(*shapes)[4] = calloc((size_t)(2 * nt + 5), sizeof *shapes);
    char(*names)[64] = calloc((size_t)nt, sizeof *names);
    int k = 0;
    for (int i = 0; i < nt; i++) {
        const char *name;
        int sh[4], nd;
        size_t off;
        unet_model_tensor_info(m, i, &name, sh, &nd, &off, NULL);
        for (int d = 0; d < nd; d++) shapes[i][d] = sh[d];
        ts[k++] = (unet_st_tensor){.name = name, .shape = shapes[i], .ndim = nd, .data = p + off};
        snprintf(names[i], sizeof names[i], "grad.%s", name);
        ts[k++] = (unet_st_tensor){.name = names[i], .shape = shapes[i], .ndim = nd, .data = g + off};
    }
    float loss = (float)r.loss;
    int64_t s_in[3] = {c.in_channels, th, tw}, s_out[2] = {pi->out_h, pi->out_w},
            s_log[3] = {c.classes, pi->out_h, pi->out_w}, s_one[1] = {1};
    ts[k++] = (unet_st_tensor){.name = "input", .shape = s_in, .ndim = 3, .data = x};
    ts[k++] = (unet_st_tensor){.name = "labels", .shape = s_out, .ndim = 2, .data = labf};
    ts[k++] = (unet_st_tensor){.name = "weights", .shape = s_out, .ndim = 2, .data = w};
    ts[k++] = (unet_st_tensor){.name = "out.logits", .shape = s_log, .ndim = 3, .data = logits};
    ts[k++] = (unet_st_tensor){.name = "out.loss", .shape = s_one, .ndim = 1, .data = &loss};
    unet_st_kv meta[2] = {{"depth", argv[2]}, {"upconv_relu", argv[8]}};
    if (unet_st_write(argv[1], ts, (size_t)k, meta, 2) != UNET_OK) {
        fprintf(stderr, "ref_dump: %s\n", unet_last_error());
        return 1;
    }
    printf("ref_dump: %s: %d tensors, loss %.6f (device %s)\n", argv[1], k, r.loss, ctx->info.name);
    unet_net_destroy(n);
    unet_model_destroy(m);
    unet_context_destroy(ctx);
    free(p), free(g), free(x), free(w), free(labf), free(logits), free(lab), free(ts), free(shapes), free(names);
    return 0;
}
