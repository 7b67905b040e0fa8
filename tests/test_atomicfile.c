/* The shared temporary-file helper of the atomic writers (unet_temp_create)
 * and unet_write_file_atomic: names PATH.tmp.PID.N that
 * unet_remove_stale_temps recognises, never an existing file reused, the
 * mode given, a name too long refused; the writers (whole buffer and
 * streaming: open, commit, abort) leave no temporary file. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "fsutil.h"

static char dir[256];

static int count_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_temp_names(void **state)
{
    (void)state;
    char path[512], tmp[600], tmp2[600], prefix[600];
    snprintf(path, sizeof path, "%s/out.png", dir);
    snprintf(prefix, sizeof prefix, "%s.tmp.%ld.", path, (long)getpid());
    umask(022);
    int fd = unet_temp_create(path, tmp, sizeof tmp, 0644);
    assert_true(fd >= 0);
    assert_int_equal(strncmp(tmp, prefix, strlen(prefix)), 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    int fd2 = unet_temp_create(path, tmp2, sizeof tmp2, 0666);
    assert_true(fd2 >= 0);
    assert_string_not_equal(tmp, tmp2); /* a new file each time */
    assert_int_equal(fstat(fd2, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644); /* 0666 minus the umask */
    close(fd);
    close(fd2);
    /* the names are the ones the stale-file cleaner knows: with a PID that
     * runs (ours) they are kept */
    assert_int_equal(unet_remove_stale_temps(path), 0);
    assert_int_equal(count_files(), 2);
    unlink(tmp);
    unlink(tmp2);
    /* a name that does not fit */
    char small[16];
    errno = 0;
    assert_int_equal(unet_temp_create(path, small, sizeof small, 0666), -1);
    assert_int_equal(errno, ENAMETOOLONG);
    /* a folder that does not exist */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/none/out.png", dir);
    assert_int_equal(unet_temp_create(nodir, tmp, sizeof tmp, 0666), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(count_files(), 0);
}

static void test_write_file_atomic(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/data.bin", dir);
    assert_int_equal(unet_write_file_atomic(path, "old", 3), UNET_OK);
    assert_int_equal(unet_write_file_atomic(path, "new contents", 12), UNET_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[32] = {0};
    assert_int_equal(fread(buf, 1, sizeof buf, f), 12);
    fclose(f);
    assert_string_equal(buf, "new contents");
    assert_int_equal(count_files(), 1); /* no temporary file left */
    char nodir[600];
    snprintf(nodir, sizeof nodir, "%s/none/data.bin", dir);
    assert_int_equal(unet_write_file_atomic(nodir, "x", 1), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), nodir));
    unlink(path);
}

static void read_back(const char *path, char *buf, size_t n)
{
    memset(buf, 0, n);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, n - 1, f);
    (void)got;
    fclose(f);
}

/* The streaming writer every file writer uses: commit replaces the file,
 * abort keeps the old one, a failed commit (here: the path became a folder,
 * so the rename fails) keeps it too, and none leaves a temporary file. */
static void test_atomic_stream(void **state)
{
    (void)state;
    char path[512], buf[64];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    unet_atomic_file af;
    assert_int_equal(unet_atomic_open(&af, path), UNET_OK);
    fprintf(af.f, "step,loss\n0,1.5\n");
    assert_int_equal(count_files(), 1); /* the temporary file only */
    assert_int_equal(unet_atomic_commit(&af), UNET_OK);
    assert_null(af.f);
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "step,loss\n0,1.5\n");

    assert_int_equal(unet_atomic_open(&af, path), UNET_OK);
    fprintf(af.f, "half-written");
    unet_atomic_abort(&af);
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "step,loss\n0,1.5\n");
    assert_int_equal(count_files(), 1);

    char sub[600], inner[700];
    snprintf(sub, sizeof sub, "%s/adir", dir);
    snprintf(inner, sizeof inner, "%s/x", sub);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(unet_write_file_atomic(inner, "x", 1), UNET_OK); /* a non-empty folder: rename(2) fails */
    assert_int_equal(unet_atomic_open(&af, sub), UNET_OK);
    fprintf(af.f, "data");
    assert_int_equal(unet_atomic_commit(&af), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), sub));
    assert_int_equal(count_files(), 2); /* log.csv and adir: no temporary file */
    unlink(inner);
    rmdir(sub);
    unlink(path);

    char longp[5000];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(unet_atomic_open(&af, longp), UNET_ERR_INVALID_ARGUMENT);
    assert_null(af.f);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/unetcl-atomic.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_temp_names),
        cmocka_unit_test(test_write_file_atomic),
        cmocka_unit_test(test_atomic_stream),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
