#include "fsutil.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

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
