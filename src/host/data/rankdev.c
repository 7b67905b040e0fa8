/* The device of an MPI rank: see rankdev.h. */
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <strings.h>

const char *unet_rank_device(const char *sel, int local_rank, const unet_device_info *infos, int count, char *out,
                             size_t n)
{
    if (!sel) sel = "";
    int gpus = 0;
    for (int i = 0; i < count; i++) gpus += infos[i].type == UNET_DEVICE_GPU;
    int is_gpu = strcasecmp(sel, "gpu") == 0, is_auto = !*sel || strcasecmp(sel, "auto") == 0;
    if ((is_gpu || is_auto) && gpus > 0 && local_rank >= 0)
        snprintf(out, n, "gpu:%d", local_rank % gpus);
    else
        snprintf(out, n, "%s", sel);
    return out;
}
