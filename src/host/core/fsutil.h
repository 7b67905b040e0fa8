/* Internal: small file-system helpers shared by the library and the CLI. */
#ifndef UNETCL_FSUTIL_H
#define UNETCL_FSUTIL_H

#include "unetcl/unetcl.h"

/* Creates a folder and its parents (like mkdir -p). 0 on success; -1 with
 * errno set (ENOTDIR when a component exists and is not a folder,
 * ENAMETOOLONG for paths of 4096 bytes or more). */
int unet_mkdir_p(const char *path);

/* Reports a failed write of path with errno value err: a full disk (ENOSPC,
 * EDQUOT) as "no space left on device: PATH ...", a file size limit (EFBIG)
 * as "file too large: PATH ...", anything else as "writing PATH: strerror";
 * returns UNET_ERR_IO. */
unet_status unet_write_fail(int err, const char *path);

/* Removes the temporary files that processes no longer running left next to
 * path: PATH.tmp.PID and PATH.tmp.PID.N (the names of the atomic writers),
 * where no process PID exists. Returns the number removed. */
int unet_remove_stale_temps(const char *path);

#endif
