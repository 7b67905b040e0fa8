#include "commands.h"
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
        char tuning[2400];
        unet_device_tuning_describe(&d[i], tuning, sizeof tuning);
        for (char *line = strtok(tuning, "\n"); line; line = strtok(NULL, "\n")) printf("      %s\n", line);
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
