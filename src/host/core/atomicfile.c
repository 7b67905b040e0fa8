/* Whole files written atomically (see atomicfile.h). */
#include "atomicfile.h"
#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int unet_temp_create(const char *path, char *tmp, size_t tmpsize, int mode)
{
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned k = __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED);
        int len = snprintf(tmp, tmpsize, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        if (len < 0 || (size_t)len >= tmpsize) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, (mode_t)mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

unet_status unet_write_file_atomic(const char *path, const void *data, size_t n)
{
    if (!path || !*path || (n && !data))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_write_file_atomic: NULL or empty argument");
    if (strlen(path) > 4000) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%.64s...': path too long", path);
    char tmp[4200];
    int fd = unet_temp_create(path, tmp, sizeof tmp, 0666);
    if (fd < 0)
        return unet_seterr(UNET_ERR_IO,
                           "writing '%s': cannot create a temporary file next to it: %s (does the folder exist and "
                           "is it writable?)",
                           path, strerror(errno));
    const unsigned char *p = data;
    size_t done = 0;
    unet_status st = UNET_OK;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            st = unet_seterr(UNET_ERR_IO, "writing '%s': %s (is the disk full?)", path,
                             w < 0 ? strerror(errno) : "no progress");
            break;
        }
        done += (size_t)w;
    }
    if (st == UNET_OK && fsync(fd) != 0)
        st = unet_seterr(UNET_ERR_IO, "writing '%s': fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && st == UNET_OK) st = unet_seterr(UNET_ERR_IO, "writing '%s': %s", path, strerror(errno));
    if (st == UNET_OK && rename(tmp, path) != 0)
        st = unet_seterr(UNET_ERR_IO, "writing '%s': cannot replace it with the new file: %s", path, strerror(errno));
    if (st != UNET_OK) unlink(tmp);
    return st;
}
