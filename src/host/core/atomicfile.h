/* Internal: whole files written atomically. */
#ifndef UNETCL_ATOMICFILE_H
#define UNETCL_ATOMICFILE_H

#include <stddef.h>
#include <stdio.h>

#include "unetcl/core.h"

/* A file written through a temporary file next to it and renamed into
 * place: the one way every writer of unetcl replaces a file (models,
 * checkpoints, logs, tuning and cache files, images, configurations).
 *
 *     unet_atomic_file af;
 *     UNET_TRY(unet_atomic_open(&af, path));
 *     fwrite(..., af.f);              // any stdio writes
 *     return unet_atomic_commit(&af); // or unet_atomic_abort(&af)
 *
 * A reader never sees a half-written file and a failure leaves the old file
 * as it was and no temporary file behind. */
typedef struct unet_atomic_file {
    FILE *f;
    char path[4100];
    char tmp[4200];
} unet_atomic_file;

/* Creates the temporary file (unet_temp_create, mode 0666 before the umask)
 * and opens it for writing. The message names path. */
unet_status unet_atomic_open(unet_atomic_file *af, const char *path);

/* Flushes, fsyncs and closes the file and renames it over path; on any
 * failure (a full disk: "no space left on device: PATH ...") removes the
 * temporary file. af->f is NULL afterwards. */
unet_status unet_atomic_commit(unet_atomic_file *af);

/* The last step of every atomic writer, for those that write the
 * temporary file themselves (libtiff and libpng writers own their file
 * descriptor): renames tmp over path and fsyncs the folder, or removes tmp
 * and reports. */
unet_status unet_atomic_rename(const char *tmp, const char *path);

/* Closes and removes the temporary file (after a failure while writing). */
void unet_atomic_abort(unet_atomic_file *af);

/* unet_write_file_atomic is public (include/unetcl/core.h). */

/* Creates a new temporary file next to path, named PATH.tmp.PID.N (N from a
 * process-wide counter; O_CREAT | O_EXCL, up to 100 names are tried), opened
 * write-only with the given mode (before the umask). Returns the descriptor
 * and the name in tmp, or -1 with errno set (ENAMETOOLONG when the name does
 * not fit in tmpsize, EEXIST when every name was taken). The name is one that
 * unet_remove_stale_temps recognises. The caller writes, renames tmp over
 * path, and unlinks tmp on failure. Shared by every atomic writer. */
int unet_temp_create(const char *path, char *tmp, size_t tmpsize, int mode);

#endif
