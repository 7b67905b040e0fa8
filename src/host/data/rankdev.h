/* Internal: the device of an MPI rank ([device] select = gpu with mpirun). */
#ifndef UNETCL_RANKDEV_H
#define UNETCL_RANKDEV_H

#include "unetcl/unetcl.h"

/* The device selector for the process of local rank L (its rank among the
 * processes of its host; Open MPI: OMPI_COMM_WORLD_LOCAL_RANK) given the
 * selector `sel` and the host's devices (unet_list_devices):
 *   "gpu"          -> "gpu:(L mod G)" with G GPUs (one GPU per rank; more
 *                     ranks than GPUs share them round-robin); "gpu" when
 *                     there is none (context creation then reports it);
 *   "auto" or ""   -> the same when there are GPUs, else "auto" (all ranks
 *                     on the first CPU device);
 *   anything else  -> unchanged ("cpu", "gpu:N", "N", a name: the user chose).
 * Writes into out (at most n bytes, NUL-terminated) and returns it. */
const char *unet_rank_device(const char *sel, int local_rank, const unet_device_info *infos, int count, char *out,
                             size_t n);

#endif
