#define _DEFAULT_SOURCE /* kill, DT_ */
#include "fsutil.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int unet_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            struct stat sb;
            if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
                errno = ENOTDIR;
                return -1;
            }
            buf[i] = c;
        }
    }
    return 0;
}

unet_status unet_write_fail(int err, const char *path)
{
    if (err == ENOSPC
#ifdef EDQUOT
        || err == EDQUOT
#endif
    )
        return unet_seterr(UNET_ERR_IO, "no space left on device: %s could not be written (%s): free space on that "
                           "disk or choose another output folder", path, strerror(err));
    if (err == EFBIG)
        return unet_seterr(UNET_ERR_IO, "file too large: %s could not be written (%s): the file system or the "
                           "process's file size limit (ulimit -f) does not allow it", path, strerror(err));
    return unet_seterr(UNET_ERR_IO, "writing %s: %s", path, strerror(err ? err : EIO));
}

/* "PID" or "PID.N" with decimal numbers: the PID; else -1. */
static long temp_owner(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9') return -1;
    long pid = strtol(s, &end, 10);
    if (*end == '.') {
        const char *n = end + 1;
        if (*n < '0' || *n > '9') return -1;
        strtoul(n, &end, 10);
    }
    return *end == '\0' && pid > 0 ? pid : -1;
}

int unet_remove_stale_temps(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return 0;
        memcpy(dir, path, n);
        dir[n ? n : 1] = '\0';
        if (!n) dir[0] = '/';
    } else
        snprintf(dir, sizeof dir, ".");
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp.", 5) != 0) continue;
        long pid = temp_owner(e->d_name + bl + 5);
        if (pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* its writer may still run */
        char p[8192];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        if (unlink(p) == 0) removed++;
    }
    closedir(d);
    return removed;
}
