/* Shared helpers of the libFuzzer harnesses (tests/fuzz/README.md).
 *
 * The readers of unetcl take a path, so each input is written to an
 * anonymous memory file (memfd) and read back through /proc/self/fd/N:
 * no disk traffic, nothing left behind. Without memfd a file in TMPDIR is
 * used instead (removed at exit). */
#ifndef UNETCL_FUZZ_COMMON_H
#define UNETCL_FUZZ_COMMON_H
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char fuzz_tmpname[4096];

static void fuzz_cleanup(void)
{
    if (fuzz_tmpname[0]) unlink(fuzz_tmpname);
}

/* Writes data to the harness's file (created on the first call, truncated
 * on each later one) and returns a path that opens it. Aborts on failure:
 * that is a broken harness environment, not a finding. */
static const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[4200];
    if (fd < 0) {
        fd = memfd_create("unetcl-fuzz", 0);
        if (fd >= 0) {
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            if (access(path, R_OK) != 0) { /* no /proc */
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0) {
            const char *tmp = getenv("TMPDIR");
            snprintf(fuzz_tmpname, sizeof fuzz_tmpname, "%s/unetcl-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
            fd = mkstemp(fuzz_tmpname);
            if (fd < 0) {
                perror("unetcl fuzz: mkstemp");
                abort();
            }
            atexit(fuzz_cleanup);
            snprintf(path, sizeof path, "%s", fuzz_tmpname);
        }
    }
    if (ftruncate(fd, 0) != 0) {
        perror("unetcl fuzz: ftruncate");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
        if (w <= 0) {
            perror("unetcl fuzz: pwrite");
            abort();
        }
        done += (size_t)w;
    }
    return path;
}

/* A NUL-terminated copy of the input (malloc'ed). */
static char *fuzz_string(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* Touches every element so that a wrong size shows up under ASan, and keeps
 * the compiler from dropping the reads. */
static volatile float fuzz_sink;
static void fuzz_touch_floats(const float *p, size_t n)
{
    float s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    fuzz_sink = s;
}
#endif
