/* Internal: small file-system helpers shared by the library and the CLI. */
#ifndef UNETCL_FSUTIL_H
#define UNETCL_FSUTIL_H

#include "unetcl/unetcl.h"

/* unet_mkdir_p is public (include/unetcl/core.h). */

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
