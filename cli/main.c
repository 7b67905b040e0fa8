#include "commands.h"
#include "dist.h"
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command commands[] = {
    {"devices", cmd_devices, "list OpenCL platforms and devices"},
    {"train", cmd_train, "train a U-Net from an INI configuration"},
    {"weightmap", cmd_weightmap, "compute the paper's loss weight map of a label image"},
    {"synth", cmd_synth, "write synthetic cell images with instance labels"},
    {"augment", cmd_augment, "write augmented training samples (image, labels, weights) to look at"},
    {"infer", cmd_infer, "segment images with a trained model (overlap-tile, optional TTA)"},
    {"eval", cmd_eval, "score a prediction: ISBI pixel/Rand/warping error, SEG, IoU"},
    {"tune", cmd_tune, "tune CLBlast's GEMM for a device (parameters kept in the cache)"},
    {"plot", cmd_plot, "draw the training curves of one or more runs (PNG)"},
    {"export", cmd_export, "write a trained model as ONNX or as a bioimage.io model folder"},
};

static void usage(FILE *f)
{
    fprintf(f, "unetcl %s: U-Net segmentation on any OpenCL device\n\nusage: unetcl COMMAND [options]\n\ncommands:\n",
            unet_version());
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`unetcl COMMAND --help` describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("unetcl %s\n", unet_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        /* `mpirun -np N unetcl train|infer`: one rank per process (dist.h) */
        int mpi = !strcmp(argv[1], "train") || !strcmp(argv[1], "infer"), rc;
        if (mpi && (rc = cli_dist_init(&argc, &argv, argv[1])) != 0) return rc;
        rc = commands[i].fn(argc - 1, argv + 1);
        if (mpi) cli_dist_finalize();
        return rc;
    }
    fprintf(stderr, "unetcl: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
