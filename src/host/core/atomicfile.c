/* Whole files written atomically (see atomicfile.h). */
#include "atomicfile.h"
#include "error.h"
#include "fsutil.h"

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

/* The rename itself reaches the disk with the folder. */
static void fsync_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd); /* best effort: not every file system supports it on folders */
        close(fd);
    }
}

unet_status unet_atomic_open(unet_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (!path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing a file: empty path");
    if (strlen(path) >= sizeof af->path)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%.64s...': path too long", path);
    memcpy(af->path, path, strlen(path) + 1);
    int fd = unet_temp_create(path, af->tmp, sizeof af->tmp, 0666);
    if (fd < 0)
        return unet_seterr(UNET_ERR_IO,
                           "writing '%s': cannot create a temporary file next to it: %s (does the folder exist and "
                           "is it writable?)",
                           path, strerror(errno));
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        return unet_seterr(UNET_ERR_IO, "writing '%s': %s", path, strerror(e));
    }
    return UNET_OK;
}

unet_status unet_atomic_commit(unet_atomic_file *af)
{
    if (!af->f) return unet_seterr(UNET_ERR_INTERNAL, "unet_atomic_commit: %s is not open", af->path);
    unet_status st = UNET_OK;
    if (fflush(af->f) != 0 || ferror(af->f)) st = unet_write_fail(errno, af->path);
    if (st == UNET_OK && fsync(fileno(af->f)) != 0) st = unet_write_fail(errno, af->path);
    if (fclose(af->f) != 0 && st == UNET_OK) st = unet_write_fail(errno, af->path);
    af->f = NULL;
    if (st != UNET_OK) {
        unlink(af->tmp);
        return st;
    }
    return unet_atomic_rename(af->tmp, af->path);
}

unet_status unet_atomic_rename(const char *tmp, const char *path)
{
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return unet_seterr(UNET_ERR_IO, "writing '%s': cannot replace it with the new file: %s", path, strerror(e));
    }
    fsync_parent(path);
    return UNET_OK;
}

void unet_atomic_abort(unet_atomic_file *af)
{
    if (af->f) {
        fclose(af->f);
        af->f = NULL;
        unlink(af->tmp);
    }
}

unet_status unet_write_file_atomic(const char *path, const void *data, size_t n)
{
    if (!path || !*path || (n && !data))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_write_file_atomic: NULL or empty argument");
    unet_atomic_file af;
    UNET_TRY(unet_atomic_open(&af, path));
    if (n && fwrite(data, 1, n, af.f) != n) {
        unet_status st = unet_write_fail(errno, path);
        unet_atomic_abort(&af);
        return st;
    }
    return unet_atomic_commit(&af);
}
