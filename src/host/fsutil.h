/* Internal: small file-system helpers shared by the library and the CLI. */
#ifndef UNETCL_FSUTIL_H
#define UNETCL_FSUTIL_H

/* Creates a folder and its parents (like mkdir -p). 0 on success; -1 with
 * errno set (ENOTDIR when a component exists and is not a folder,
 * ENAMETOOLONG for paths of 4096 bytes or more). */
int unet_mkdir_p(const char *path);

#endif
