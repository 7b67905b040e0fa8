#include "commands.h"
#include "clblast_tune.h"
#include "conv_gpu.h"
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *type_name(unet_device_type t)
{
    switch (t) {
    case UNET_DEVICE_CPU: return "cpu";
    case UNET_DEVICE_GPU: return "gpu";
    case UNET_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

int cmd_devices(int argc, char **argv)
{
    int select_default = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: unetcl devices\n\nLists every OpenCL platform and device. Choose one with\n"
                   "--device N (index), --device gpu|cpu, --device gpu:1, or a name substring,\n"
                   "or [device] select = ... in the INI file. Default: the first GPU, else the first CPU.\n"
                   "Also says whether CLBlast has tuned parameters for the device (`unetcl tune`).\n");
            return 0;
        }
        select_default = select_default || !strcmp(argv[i], "--default");
    }
    unet_device_info *d = NULL;
    int n = 0;
    if (unet_list_devices(&d, &n) != UNET_OK) {
        fprintf(stderr, "unetcl devices: %s\n", unet_last_error());
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "unetcl devices: %s\n", unet_last_error()); /* why, when it can be told */
        return 1;
    }
    char cache_dir[1024];
    unet_default_cache_dir(cache_dir, sizeof cache_dir);
    static unet_clblast_tuning tuning[1];
    int last_platform = -1;
    for (int i = 0; i < n; i++) {
        if (d[i].platform_index != last_platform) {
            printf("platform %d: %s\n", d[i].platform_index, d[i].platform_name);
            last_platform = d[i].platform_index;
        }
        printf("  [%d] %s\n", d[i].index, d[i].name);
        printf("      vendor: %s   type: %s\n", d[i].vendor, type_name(d[i].type));
        printf("      driver: %s   %s   %s\n", d[i].driver_version, d[i].device_version, d[i].opencl_c_version);
        printf("      compute units: %u   global memory: %.2f GiB   max allocation: %.2f GiB   "
               "local memory: %llu KiB\n",
               d[i].compute_units, (double)d[i].global_mem_bytes / (1 << 30),
               (double)d[i].max_alloc_bytes / (1 << 30), (unsigned long long)(d[i].local_mem_bytes / 1024));
        char path[1100], why[512];
        unet_clblast_tuning_path(cache_dir, &d[i], path, sizeof path);
        const unet_tuning_state ts = unet_clblast_tuning_read(path, &d[i], tuning, why, sizeof why);
        if (ts == UNET_TUNING_OK)
            printf("      CLBlast: tuned (%s)\n", path);
        else if (ts == UNET_TUNING_NONE)
            printf("      CLBlast: default parameters (`unetcl tune --device %d` tunes them)\n", d[i].index);
        else
            printf("      CLBlast: default parameters; tuning file ignored: %s\n", why);
        unet_gpuconv_tuning_path(cache_dir, &d[i], path, sizeof path);
        if (d[i].type == UNET_DEVICE_CPU)
            printf("      GPU convolution kernels: not used on CPU devices (UNETCL_GPU_KERNELS=1 forces them)\n"
                   "      precision fp16: GPU devices only (cl_khr_fp16: %s)\n",
                   d[i].fp16_arithmetic ? "yes" : "no");
        else
            printf("      GPU convolution kernels: %s\n"
                   "      precision fp16: available (binary16 storage by vload_half/vstore_half, float "
                   "accumulation; cl_khr_fp16 half arithmetic: %s)\n",
                   access(path, R_OK) == 0 ? path : "not tuned: im2col + CLBlast (`unetcl tune` chooses per layer)",
                   d[i].fp16_arithmetic ? "yes" : "no");
    }
    unet_context *ctx;
    if (unet_context_create(NULL, &ctx) == UNET_OK) {
        unet_device_info info;
        unet_context_device_info(ctx, &info);
        printf("default device: [%d] %s\n", info.index, info.name);
        unet_context_destroy(ctx);
    }
    free(d);
    return 0;
}
