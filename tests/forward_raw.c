/* Helper of test_export_onnx.sh: one forward pass of a model over one tile,
 * through the library (unet_net_forward).
 * usage: unet_forward_raw MODEL.safetensors IN.f32 H W OUT.f32
 * IN.f32: float32 [in_channels][H][W] (normalised), OUT.f32: float32
 * softmax probabilities [classes][H_out][W_out], host byte order. */
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL.safetensors IN.f32 H W OUT.f32\n", argv[0]);
        return 2;
    }
    int h = atoi(argv[3]), w = atoi(argv[4]);
    unet_context *ctx = NULL;
    unet_model *m = NULL;
    unet_net *net = NULL;
    float *x = NULL, *p = NULL;
    unet_status st = unet_context_create(NULL, &ctx);
    if (st == UNET_OK) st = unet_model_load(ctx, argv[1], 0, &m, NULL);
    if (st == UNET_OK) st = unet_net_create(m, h, w, 0, &net);
    if (st == UNET_OK) {
        const unet_model_config *c = unet_model_get_config(m);
        const unet_plan_info *pi = unet_net_info(net);
        size_t nin = (size_t)c->in_channels * h * w, nout = (size_t)c->classes * pi->out_h * pi->out_w;
        x = malloc(nin * sizeof *x);
        p = malloc(nout * sizeof *p);
        FILE *f = fopen(argv[2], "rb");
        int ok = x && p && f && fread(x, sizeof *x, nin, f) == nin;
        if (f) fclose(f);
        if (!ok) {
            fprintf(stderr, "unet_forward_raw: cannot read %zu floats from %s\n", nin, argv[2]);
            return 1;
        }
        st = unet_net_forward(net, x, 0, 0, p, NULL);
        if (st == UNET_OK) {
            FILE *o = fopen(argv[5], "wb");
            if (!o || fwrite(p, sizeof *p, nout, o) != nout || fclose(o) != 0) {
                fprintf(stderr, "unet_forward_raw: cannot write %s\n", argv[5]);
                return 1;
            }
        }
    }
    if (st != UNET_OK) fprintf(stderr, "unet_forward_raw: %s\n", unet_last_error());
    free(x);
    free(p);
    unet_net_destroy(net);
    unet_model_destroy(m);
    unet_context_destroy(ctx);
    return st == UNET_OK ? 0 : 1;
}
