/* unetcl export: a trained model as ONNX or as a bioimage.io model folder. */
#include "commands.h"
#include "unetcl/export.h"
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl export --format onnx MODEL.safetensors OUT.onnx [--tile T] [--device D]\n"
            "       unetcl export --format bioimageio MODEL.safetensors OUT_DIR [--name N] [--description D]\n"
            "                     [--authors \"A, B\"] [--license L] [--sample IMAGE] [--tile T] [--device D]\n\n"
            "Writes a trained model for other tools.\n\n"
            "  --format onnx    ONNX graph (IR 7, opset 13): input \"input\" float32 [N, C, H, W]\n"
            "                   (normalised, H and W valid tile sizes), output \"probabilities\"\n"
            "                   [N, classes, H - 2 halo, W - 2 halo]; the normalisation and the\n"
            "                   valid tile sizes are in the model's metadata_props\n"
            "  --format bioimageio\n"
            "                   a bioimage.io model folder (format 0.4; OUT_DIR must not exist): rdf.yaml,\n"
            "                   weights.onnx, weights.safetensors, test_input.npy, test_output.npy,\n"
            "                   cover.png, README.md\n"
            "  --name, --description, --authors, --license\n"
            "                   rdf.yaml fields (defaults: \"U-Net (unetcl)\", generated, \"unetcl user\",\n"
            "                   CC-BY-4.0)\n"
            "  --sample IMAGE   bioimageio: the test input is the centre of IMAGE (default: a\n"
            "                   synthetic cell image)\n"
            "  --tile T         bioimageio: the test tile (default: the largest valid <= 572)\n"
            "  --tile T         onnx: input size declared in the ONNX graph (default: the largest valid\n"
            "                   tile <= 572); any valid size runs, but OpenCV 4.6 needs a declared\n"
            "                   one. 0: H and W symbolic (for ONNX Runtime and other tools)\n"
            "  --device D       OpenCL device that loads the model (as for infer; default auto)\n");
}

int cmd_export(int argc, char **argv)
{
    const char *format = NULL, *device = NULL, *pos[2] = {NULL, NULL};
    unet_bioimageio_options bo;
    unet_bioimageio_options_default(&bo);
    struct {
        const char *opt;
        const char **dst;
    } text_opts[] = {{"--name", &bo.name},       {"--description", &bo.description}, {"--authors", &bo.authors},
                     {"--license", &bo.license}, {"--sample", &bo.sample}};
    int npos = 0, tile = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(a, "--format") || !strcmp(a, "--device")) && i + 1 < argc) {
            *(a[2] == 'f' ? &format : &device) = argv[++i];
        } else if (i + 1 < argc && (!strcmp(a, "--name") || !strcmp(a, "--description") || !strcmp(a, "--authors") ||
                                    !strcmp(a, "--license") || !strcmp(a, "--sample"))) {
            for (size_t k = 0; k < sizeof text_opts / sizeof text_opts[0]; k++)
                if (!strcmp(a, text_opts[k].opt)) *text_opts[k].dst = argv[i + 1];
            i++;
        } else if (!strcmp(a, "--tile") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || v < 0 || v > 1000000) {
                fprintf(stderr, "unetcl export: --tile %s: expected a tile size (0 = symbolic)\n", argv[i]);
                return 2;
            }
            tile = (int)v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "unetcl export: unknown option or missing value: %s (see unetcl export --help)\n", a);
            return 2;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "unetcl export: unexpected argument %s (see unetcl export --help)\n", a);
            return 2;
        }
    }
    if (!format || npos != 2) {
        fprintf(stderr, "unetcl export: needs --format, a model file and an output (see unetcl export --help)\n");
        return 2;
    }
    int bioimageio = !strcmp(format, "bioimageio");
    if (strcmp(format, "onnx") != 0 && !bioimageio) {
        fprintf(stderr, "unetcl export: unknown format \"%s\" (known: onnx, bioimageio)\n", format);
        return 2;
    }
    unet_context_options co;
    unet_context_options_default(&co);
    co.device = device;
    unet_context *ctx = NULL;
    unet_model *model = NULL;
    char *meta = NULL;
    unet_status st = unet_context_create(&co, &ctx);
    if (st == UNET_OK) st = unet_model_load(ctx, pos[0], 0, &model, &meta);
    if (bioimageio) {
        bo.tile = tile > 0 ? tile : 0;
        if (st == UNET_OK) st = unet_export_bioimageio(model, meta, pos[0], pos[1], &bo);
        if (st == UNET_OK) printf("unetcl export: wrote the bioimage.io model folder %s (rdf.yaml)\n", pos[1]);
    } else {
        if (st == UNET_OK && tile < 0) tile = unet_tile_valid_below(unet_model_get_config(model), 572);
        if (st == UNET_OK) st = unet_export_onnx(model, meta, tile, pos[1]);
    }
    if (st == UNET_OK && !bioimageio) {
        const unet_model_config *c = unet_model_get_config(model);
        unet_geometry g;
        unet_model_geometry(c, &g);
        char decl[48] = "symbolic";
        if (tile > 0) snprintf(decl, sizeof decl, "%d -> %d", tile, unet_tile_output(c, tile));
        printf("unetcl export: wrote %s (ONNX; %d -> %d channels, depth %d; declared tile %s; valid tiles %d + %d k, "
               "output 2 x %d smaller)\n",
               pos[1], c->in_channels, c->classes, c->depth, decl, g.min_tile, g.tile_step, g.halo);
    }
    free(meta);
    unet_model_destroy(model);
    unet_context_destroy(ctx);
    if (st != UNET_OK) {
        fprintf(stderr, "unetcl export: %s\n", unet_last_error());
        return 1;
    }
    return 0;
}
