/* Segments an image with a trained model and writes what `unetcl infer`
 * writes (probabilities, mask, instances, overlay) into a folder, then
 * counts the cells in memory. Usage: segment MODEL IMAGE OUTDIR [CONFIG.ini] */
#include <stdio.h>
#include <stdlib.h>
#include <unetcl/unetcl.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL IMAGE OUTDIR [CONFIG.ini]\n", argv[0]);
        return 2;
    }
    unet_context *ctx = NULL;
    unet_model *model = NULL;
    unet_config *cfg = NULL;
    unet_infer *inf = NULL;
    unet_image img = {0};
    float *probs = NULL;
    int32_t *ids = NULL;
    int count = 0;
    unet_status st = unet_context_create_on(NULL, &ctx); /* the first GPU, else the CPU */
    if (st == UNET_OK) st = unet_model_load(ctx, argv[1], 0, &model, NULL);
    if (st == UNET_OK) st = unet_config_new(&cfg);
    if (st == UNET_OK && argc > 4) st = unet_config_load(cfg, argv[4]);
    unet_infer_options io;
    if (st == UNET_OK) {
        unet_infer_options_default(&io);
        unet_infer_options_from_config(cfg, &io); /* [infer]: tile, tta, outputs */
        st = unet_infer_create(model, cfg, &io, &inf);
    }
    /* the files of `unetcl infer` */
    if (st == UNET_OK) st = unet_infer_file(inf, argv[2], argv[3]);
    /* and in memory: probabilities, then instances */
    if (st == UNET_OK) st = unet_image_read(argv[2], 0, &img);
    if (st == UNET_OK) {
        int classes = unet_model_get_config(model)->classes;
        probs = malloc(sizeof *probs * (size_t)classes * img.w * img.h);
        ids = malloc(sizeof *ids * (size_t)img.w * img.h);
        if (!probs || !ids) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == UNET_OK) st = unet_infer_image(inf, img.data, img.c, img.h, img.w, img.bits, probs);
    if (st == UNET_OK) st = unet_infer_instances(inf, probs, img.h, img.w, ids, &count);
    if (st == UNET_OK) printf("%s: %d cells; outputs in %s\n", argv[2], count, argv[3]);
    else fprintf(stderr, "segment: %s\n", unet_last_error());
    free(probs);
    free(ids);
    unet_image_free(&img);
    unet_infer_destroy(inf);
    unet_config_free(cfg);
    unet_model_destroy(model);
    unet_context_destroy(ctx);
    return st == UNET_OK ? 0 : 1;
}
