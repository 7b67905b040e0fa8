/* Internal: whole files written atomically. */
#ifndef UNETCL_ATOMICFILE_H
#define UNETCL_ATOMICFILE_H

#include <stddef.h>

#include "unetcl/unetcl.h"

/* Writes n bytes to path atomically: a new temporary file next to it,
 * fflush, fsync, rename over path. On failure the temporary file is removed,
 * an existing path is left as it was, and the message names path. */
unet_status unet_write_file_atomic(const char *path, const void *data, size_t n);

#endif
