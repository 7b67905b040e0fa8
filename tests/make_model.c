/* Helper of test_infer_cli.sh and of the memory measurement: writes a
 * randomly initialised model with unet_model_save.
 * usage: unet_make_model OUT.safetensors IN_CHANNELS CLASSES DEPTH BASE SEED */
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s OUT.safetensors IN_CHANNELS CLASSES DEPTH BASE SEED\n", argv[0]);
        return 2;
    }
    unet_model_config c;
    unet_model_config_default(&c);
    c.in_channels = atoi(argv[2]);
    c.classes = atoi(argv[3]);
    c.depth = atoi(argv[4]);
    c.base_channels = atoi(argv[5]);
    unet_context *ctx = NULL;
    unet_model *m = NULL;
    unet_status st = unet_context_create(NULL, &ctx);
    if (st == UNET_OK) st = unet_model_create(ctx, &c, strtoull(argv[6], NULL, 10), &m);
    if (st == UNET_OK) st = unet_model_save(m, argv[1], 0, NULL, 0);
    if (st != UNET_OK) fprintf(stderr, "unet_make_model: %s\n", unet_last_error());
    unet_model_destroy(m);
    unet_context_destroy(ctx);
    return st == UNET_OK ? 0 : 1;
}
