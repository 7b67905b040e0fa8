/* Internal: whole files written atomically. */
#ifndef UNETCL_ATOMICFILE_H
#define UNETCL_ATOMICFILE_H

#include <stddef.h>

#include "unetcl/unetcl.h"

/* Writes n bytes to path atomically: a new temporary file next to it,
 * fflush, fsync, rename over path. On failure the temporary file is removed,
 * an existing path is left as it was, and the message names path. */
unet_status unet_write_file_atomic(const char *path, const void *data, size_t n);

/* Creates a new temporary file next to path, named PATH.tmp.PID.N (N from a
 * process-wide counter; O_CREAT | O_EXCL, up to 100 names are tried), opened
 * write-only with the given mode (before the umask). Returns the descriptor
 * and the name in tmp, or -1 with errno set (ENAMETOOLONG when the name does
 * not fit in tmpsize, EEXIST when every name was taken). The name is one that
 * unet_remove_stale_temps recognises. The caller writes, renames tmp over
 * path, and unlinks tmp on failure. Shared by every atomic writer. */
int unet_temp_create(const char *path, char *tmp, size_t tmpsize, int mode);

#endif
