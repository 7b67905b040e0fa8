/* Host images: PNG (libpng) and TIFF (libtiff) reading and writing, file listing. */
#define _POSIX_C_SOURCE 200809L
#include "unetcl/image.h"
#include "atomicfile.h"
#include "error.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

/* Largest image accepted (elements), to fail cleanly on absurd headers. */
#define UNET_IMAGE_MAX_ELEMS ((size_t)1 << 31)

/* Sizes from a header are checked against the file before anything is
 * allocated (issue 12, item 7): the encoded samples of a page must fit in
 * the file times the largest expansion of its compression (1 uncompressed;
 * 64 PackBits; 1032 deflate, the bound of the format; 2048 LZW, whose worst
 * case is about 1340; 65536 for the others), with 16 MiB always allowed for
 * compressed data. A header that claims more is refused as corrupt. */
#define UNET_HEADER_FREE_BYTES ((uint64_t)16 << 20)

static uint64_t file_bytes(int fd)
{
    struct stat sb;
    return fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
}

/* 0 if `need` encoded bytes can come from a file of `have` bytes with
 * expansion `ratio` (1: uncompressed, no allowance). */
static int header_size_ok(uint64_t need, uint64_t have, uint64_t ratio)
{
    if (ratio == 1) return need <= have;
    if (need <= UNET_HEADER_FREE_BYTES) return 1;
    return have > 0 && need / ratio <= have;
}

/* ---- image ------------------------------------------------------------- */

unet_status unet_image_alloc(unet_image *img, int w, int h, int c, int bits)
{
    if (!img) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_alloc: image is NULL");
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || c <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_alloc: bad size %d x %d x %d", w, h, c);
    if (bits != 8 && bits != 16 && bits != 32)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_alloc: bits must be 8, 16 or 32, not %d", bits);
    size_t n = (size_t)w * (size_t)h * (size_t)c;
    if (n / (size_t)w / (size_t)h != (size_t)c || n > UNET_IMAGE_MAX_ELEMS)
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "image of %d x %d x %d is too large", w, h, c);
    img->data = calloc(n, sizeof(float));
    if (!img->data)
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for an image of %d x %d x %d", w, h, c);
    img->w = w;
    img->h = h;
    img->c = c;
    img->bits = bits;
    return UNET_OK;
}

void unet_image_free(unet_image *img)
{
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

static unet_status check_image(const char *path, const unet_image *img)
{
    if (!path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing an image: no file name given");
    if (!img || !img->data || img->w <= 0 || img->h <= 0 || img->c <= 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: the image is empty", path);
    return UNET_OK;
}

static unsigned to_uint(float v, unsigned maxv)
{
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= (float)maxv) return maxv;
    return (unsigned)lrintf(v);
}

/* ---- atomic file creation ---------------------------------------------- */

/* Creates a new temporary file next to path; returns its fd and name. */
static int open_temp(const char *path, char *tmp, size_t tmpsize)
{
    return unet_temp_create(path, tmp, tmpsize, 0666);
}

static unet_status finish_temp(const char *tmp, const char *path) { return unet_atomic_rename(tmp, path); }

/* ---- PNG reading --------------------------------------------------------- */

typedef struct png_job {
    const char *path;
    FILE *f;
    png_structp png;
    png_infop info;
    unsigned char *pixels;
    png_bytep *rows;
    char msg[512];
    int werr; /* errno of a failed write (ENOSPC: the disk is full) */
} png_job;

static void png_err_fn(png_structp png, png_const_charp msg)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (e.g. a bad ancillary chunk) are not errors: ignored */
}

/* Writing through our own function keeps the errno of a failed write, which
 * libpng's default reduces to "Write Error". */
static void png_write_fn(png_structp png, png_bytep data, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    errno = 0;
    if (fwrite(data, 1, n, job->f) != n) {
        job->werr = errno ? errno : EIO;
        png_error(png, "Write Error");
    }
}

static void png_flush_fn(png_structp png)
{
    png_job *job = png_get_io_ptr(png);
    if (fflush(job->f) != 0) {
        job->werr = errno ? errno : EIO;
        png_error(png, "Write Error");
    }
}

/* The message of a failed PNG write: the disk's error if there was one. */
static unet_status png_write_err(const png_job *job, const char *path, int row)
{
    if (job->werr) return unet_write_fail(job->werr, path);
    if (row >= 0) return unet_seterr(UNET_ERR_IO, "writing %s row %d: libpng: %s", path, row, job->msg);
    return unet_seterr(UNET_ERR_IO, "writing %s: libpng: %s", path, job->msg);
}

/* Runs the libpng part; returns 0 on success, 1 after a libpng error. Keeps
 * all state in *job so nothing depends on locals across longjmp. */
static int png_read_body(png_job *job, unet_image *img, unet_status *st)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    png_init_io(job->png, job->f);
    png_set_sig_bytes(job->png, 8);
    png_read_info(job->png, job->info);
    png_uint_32 w = png_get_image_width(job->png, job->info);
    png_uint_32 h = png_get_image_height(job->png, job->info);
    int depth = png_get_bit_depth(job->png, job->info);
    int ctype = png_get_color_type(job->png, job->info);
    int file_channels = png_get_channels(job->png, job->info);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(job->png);
    /* Alpha, and the alpha that expansion makes of a tRNS chunk, is dropped
     * (libpng strips after expanding). */
    if ((ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(job->png, job->info, PNG_INFO_tRNS))
        png_set_strip_alpha(job->png);
    png_set_interlace_handling(job->png);
    png_read_update_info(job->png, job->info);
    int channels = png_get_channels(job->png, job->info);
    int bits = png_get_bit_depth(job->png, job->info);
    size_t rowbytes = png_get_rowbytes(job->png, job->info);
    if ((channels != 1 && channels != 3) || (bits != 8 && bits != 16)) {
        *st = unet_seterr(UNET_ERR_FORMAT, "reading %s: unsupported PNG layout (%d channels of %d bits after expansion)",
                          job->path, channels, bits);
        return 0;
    }
    if (w == 0 || h == 0 || w > 1000000 || h > 1000000 ||
        (size_t)w * h * channels > UNET_IMAGE_MAX_ELEMS) {
        *st = unet_seterr(UNET_ERR_FORMAT, "reading %s: PNG size %lu x %lu is out of range", job->path,
                          (unsigned long)w, (unsigned long)h);
        return 0;
    }
    /* the filtered rows as stored (1 filter byte per row), from the header */
    uint64_t raw = ((uint64_t)w * (uint64_t)file_channels * (uint64_t)depth + 7) / 8 + 1;
    raw *= h;
    uint64_t have = file_bytes(fileno(job->f));
    if (!header_size_ok(raw, have, 1032)) {
        *st = unet_seterr(UNET_ERR_FORMAT,
                          "reading %s: corrupt PNG: its header claims %lu x %lu pixels (%llu bytes of rows) but "
                          "its %llu bytes decompress to at most %llu (deflate expands at most 1032 times); re-save "
                          "or replace the file",
                          job->path, (unsigned long)w, (unsigned long)h, (unsigned long long)raw,
                          (unsigned long long)have, (unsigned long long)have * 1032);
        return 0;
    }
    job->pixels = malloc(rowbytes * h);
    job->rows = malloc(sizeof(png_bytep) * h);
    if (!job->pixels || !job->rows) {
        *st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory for %lu x %lu pixels", job->path,
                          (unsigned long)w, (unsigned long)h);
        return 0;
    }
    for (png_uint_32 y = 0; y < h; y++) job->rows[y] = job->pixels + rowbytes * y;
    png_read_image(job->png, job->rows);
    png_read_end(job->png, NULL);

    *st = unet_image_alloc(img, (int)w, (int)h, channels, bits);
    if (*st != UNET_OK) return 0;
    size_t plane = (size_t)w * h;
    for (png_uint_32 y = 0; y < h; y++) {
        const unsigned char *r = job->rows[y];
        for (png_uint_32 x = 0; x < w; x++)
            for (int ch = 0; ch < channels; ch++) {
                size_t k = (size_t)x * channels + ch;
                float v = bits == 16 ? (float)((r[2 * k] << 8) | r[2 * k + 1]) : (float)r[k];
                img->data[ch * plane + (size_t)y * w + x] = v;
            }
    }
    return 0;
}

unet_status unet_png_read(const char *path, unet_image *img)
{
    if (!img) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_png_read: image is NULL");
    memset(img, 0, sizeof *img);
    if (!path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading a PNG: no file name given");
    png_job *job = calloc(1, sizeof *job);
    if (!job) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
    job->path = path;
    unet_status st = UNET_OK;
    unsigned char sig[8];
    job->f = fopen(path, "rb");
    if (!job->f) {
        st = unet_seterr(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        goto done;
    }
    if (fread(sig, 1, 8, job->f) != 8 || png_sig_cmp(sig, 0, 8) != 0) {
        st = unet_seterr(UNET_ERR_FORMAT, "%s is not a PNG file (bad signature or too short)", path);
        goto done;
    }
    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, png_err_fn, png_warn_fn);
    if (job->png) job->info = png_create_info_struct(job->png);
    if (!job->png || !job->info) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: cannot create the libpng reader", path);
        goto done;
    }
    if (png_read_body(job, img, &st)) {
        unet_image_free(img);
        st = unet_seterr(UNET_ERR_FORMAT, "reading %s: corrupt or truncated PNG: %s", path, job->msg);
    }
done:
    if (job->png) png_destroy_read_struct(&job->png, job->info ? &job->info : NULL, NULL);
    if (job->f) fclose(job->f);
    free(job->rows);
    free(job->pixels);
    free(job);
    if (st != UNET_OK) unet_image_free(img);
    return st;
}

/* ---- PNG writing --------------------------------------------------------- */

static int png_write_body(png_job *job, const unet_image *img, int bits)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    int w = img->w, h = img->h, c = img->c;
    png_set_write_fn(job->png, job, png_write_fn, png_flush_fn);
    png_set_IHDR(job->png, job->info, (png_uint_32)w, (png_uint_32)h, bits,
                 c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(job->png, job->info);
    size_t plane = (size_t)w * h;
    unsigned maxv = bits == 16 ? 65535u : 255u;
    for (int y = 0; y < h; y++) {
        unsigned char *r = job->pixels;
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                unsigned v = to_uint(img->data[ch * plane + (size_t)y * w + x], maxv);
                size_t k = (size_t)x * c + ch;
                if (bits == 16) {
                    r[2 * k] = (unsigned char)(v >> 8);
                    r[2 * k + 1] = (unsigned char)(v & 255u);
                } else
                    r[k] = (unsigned char)v;
            }
        png_write_row(job->png, r);
    }
    png_write_end(job->png, NULL);
    return 0;
}

unet_status unet_png_write(const char *path, const unet_image *img, int bits)
{
    UNET_TRY(check_image(path, img));
    if (bits != 8 && bits != 16)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: PNG bits must be 8 or 16, not %d", path, bits);
    if (img->c != 1 && img->c != 3)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: PNG needs 1 (grey) or 3 (RGB) channels, not %d",
                           path, img->c);
    char tmp[4096];
    int fd = open_temp(path, tmp, sizeof tmp);
    if (fd < 0) return unet_seterr(UNET_ERR_IO, "cannot create a file next to %s: %s", path, strerror(errno));
    png_job *job = calloc(1, sizeof *job);
    unet_status st = UNET_OK;
    if (!job) {
        close(fd);
        unlink(tmp);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    }
    job->path = path;
    job->f = fdopen(fd, "wb");
    if (!job->f) {
        st = unet_seterr(UNET_ERR_IO, "writing %s: %s", path, strerror(errno));
        close(fd);
        goto done;
    }
    job->pixels = malloc((size_t)img->w * img->c * (bits / 8));
    job->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, png_err_fn, png_warn_fn);
    if (job->png) job->info = png_create_info_struct(job->png);
    if (!job->pixels || !job->png || !job->info) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
        goto done;
    }
    if (png_write_body(job, img, bits)) st = png_write_err(job, path, -1);
done:
    if (job->png) png_destroy_write_struct(&job->png, job->info ? &job->info : NULL);
    if (job->f) {
        int bad = ferror(job->f);
        errno = 0;
        if (fclose(job->f) != 0 || bad) {
            if (st == UNET_OK) st = unet_write_fail(errno ? errno : job->werr ? job->werr : EIO, path);
        }
    }
    free(job->pixels);
    free(job);
    if (st != UNET_OK) {
        unlink(tmp);
        return st;
    }
    return finish_temp(tmp, path);
}

/* ---- TIFF messages -------------------------------------------------------- */

static _Thread_local char g_tiff_msg[512];
static _Thread_local int g_tiff_errno; /* errno when libtiff reported a write error */

static void tiff_error_handler(const char *module, const char *fmt, va_list ap)
{
    int e = errno;
    if (!g_tiff_errno && (e == ENOSPC || e == EFBIG || e == EIO
#ifdef EDQUOT
                          || e == EDQUOT
#endif
                          ))
        g_tiff_errno = e;
    char m[400];
    vsnprintf(m, sizeof m, fmt, ap);
    if (module && *module) snprintf(g_tiff_msg, sizeof g_tiff_msg, "%s: %s", module, m);
    else snprintf(g_tiff_msg, sizeof g_tiff_msg, "%s", m);
}

static void tiff_warning_handler(const char *module, const char *fmt, va_list ap)
{
    (void)module;
    (void)fmt;
    (void)ap; /* warnings (unknown tags etc.) are not errors: dropped */
}

static pthread_once_t g_tiff_once = PTHREAD_ONCE_INIT;
static void tiff_install_handlers(void)
{
    TIFFSetErrorHandler(tiff_error_handler);
    TIFFSetWarningHandler(tiff_warning_handler);
}

static void tiff_prepare(void)
{
    pthread_once(&g_tiff_once, tiff_install_handlers);
    g_tiff_msg[0] = '\0';
    g_tiff_errno = 0;
}

static const char *tiff_msg(void) { return g_tiff_msg[0] ? g_tiff_msg : "no details from libtiff"; }

/* The message of a failed TIFF write: the disk's error if there was one. */
static unet_status tiff_write_err(const char *path, const char *doing)
{
    if (g_tiff_errno) return unet_write_fail(g_tiff_errno, path);
    return unet_seterr(UNET_ERR_IO, "writing %s: %s: %s", path, doing, tiff_msg());
}

/* Opens an existing TIFF for reading with clear errors. mode "r", or "rm"
 * (no memory mapping: the streaming reader, whose resident memory would
 * otherwise grow by every page of the file it has read). */
static unet_status tiff_open_read_mode(const char *path, const char *mode, TIFF **out);
static unet_status tiff_open_read(const char *path, TIFF **out) { return tiff_open_read_mode(path, "r", out); }

static unet_status tiff_open_read_mode(const char *path, const char *mode, TIFF **out)
{
    *out = NULL;
    if (!path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading a TIFF: no file name given");
    FILE *f = fopen(path, "rb");
    if (!f) return unet_seterr(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char sig[4];
    size_t got = fread(sig, 1, 4, f);
    fclose(f);
    if (got != 4 || !((sig[0] == 'I' && sig[1] == 'I' && (sig[2] == 42 || sig[2] == 43) && sig[3] == 0) ||
                      (sig[0] == 'M' && sig[1] == 'M' && sig[2] == 0 && (sig[3] == 42 || sig[3] == 43))))
        return unet_seterr(UNET_ERR_FORMAT, "%s is not a TIFF file (bad header or too short)", path);
    tiff_prepare();
    TIFF *t = TIFFOpen(path, mode);
    if (!t) return unet_seterr(UNET_ERR_FORMAT, "reading %s: corrupt TIFF: %s", path, tiff_msg());
    *out = t;
    return UNET_OK;
}

unet_status unet_tiff_count_pages(const char *path, int *pages)
{
    if (!pages) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_tiff_count_pages: pages is NULL");
    *pages = 0;
    TIFF *t;
    UNET_TRY(tiff_open_read(path, &t));
    tdir_t n = TIFFNumberOfDirectories(t);
    TIFFClose(t);
    if (n <= 0) return unet_seterr(UNET_ERR_FORMAT, "reading %s: the TIFF has no readable page: %s", path, tiff_msg());
    *pages = (int)n;
    return UNET_OK;
}

/* Copies one decoded block (rows x cols pixels of spp samples, row stride in
 * samples) to the image at (y0, x0), keeping the first c samples. */
static void tiff_copy_block(unet_image *img, const unsigned char *buf, int fmt_float, int bps, int spp,
                            size_t stride, int y0, int x0, int rows, int cols)
{
    size_t plane = (size_t)img->w * img->h;
    for (int r = 0; r < rows; r++)
        for (int x = 0; x < cols; x++)
            for (int ch = 0; ch < img->c; ch++) {
                size_t k = (size_t)r * stride + (size_t)x * spp + ch;
                float v;
                if (fmt_float) {
                    memcpy(&v, buf + 4 * k, 4);
                } else if (bps == 16) {
                    uint16_t u;
                    memcpy(&u, buf + 2 * k, 2);
                    v = (float)u;
                } else
                    v = (float)buf[k];
                img->data[ch * plane + (size_t)(y0 + r) * img->w + (x0 + x)] = v;
            }
}

/* The checked layout of the current TIFF page. */
typedef struct tiff_layout {
    uint32_t w, h;
    uint16_t bps, spp;
    int c, is_float;
} tiff_layout;

/* Reads and checks the current page's layout (samples, colours, size, the
 * header's claims against the file, tile sizes): the checks of every reader. */
static unet_status tiff_check_layout(TIFF *t, const char *path, int page, tiff_layout *L)
{
    uint32_t w = 0, h = 0;
    uint16_t bps = 1, spp = 1, fmt = SAMPLEFORMAT_UINT, photo = PHOTOMETRIC_MINISBLACK, planar = PLANARCONFIG_CONTIG;
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h))
        return unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: the TIFF has no image size", path, page);
    TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &planar);
    if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;

    int is_float = fmt == SAMPLEFORMAT_IEEEFP;
    if (!((fmt == SAMPLEFORMAT_UINT && (bps == 8 || bps == 16)) || (is_float && bps == 32)))
        return unet_seterr(UNET_ERR_FORMAT,
                           "reading %s page %d: unsupported TIFF samples (%u bits, %s); supported are 8/16-bit "
                           "unsigned and 32-bit float",
                           path, page, (unsigned)bps,
                           fmt == SAMPLEFORMAT_INT ? "signed integer"
                           : fmt == SAMPLEFORMAT_IEEEFP ? "float"
                           : fmt == SAMPLEFORMAT_UINT ? "unsigned integer"
                                                        : "other sample format");
    int c;
    if (photo == PHOTOMETRIC_MINISBLACK && spp >= 1) c = 1;
    else if (photo == PHOTOMETRIC_RGB && spp >= 3) c = 3;
    else
        return unet_seterr(UNET_ERR_FORMAT,
                           "reading %s page %d: unsupported TIFF colour layout (photometric %u, %u samples per "
                           "pixel); supported are grey (min-is-black) and RGB",
                           path, page, (unsigned)photo, (unsigned)spp);
    if (planar != PLANARCONFIG_CONTIG && spp > 1)
        return unet_seterr(UNET_ERR_FORMAT,
                           "reading %s page %d: separate colour planes (PlanarConfiguration 2) are not supported; "
                           "save the TIFF with contiguous (interleaved) samples",
                           path, page);
    if (w == 0 || h == 0 || w > 1000000 || h > 1000000 || (size_t)w * h * c > UNET_IMAGE_MAX_ELEMS)
        return unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: TIFF size %lu x %lu is out of range", path, page,
                           (unsigned long)w, (unsigned long)h);
    uint16_t comp = COMPRESSION_NONE;
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
    uint64_t ratio = comp == COMPRESSION_NONE ? 1
                     : comp == COMPRESSION_PACKBITS ? 64
                     : (comp == COMPRESSION_DEFLATE || comp == COMPRESSION_ADOBE_DEFLATE) ? 1032
                     : comp == COMPRESSION_LZW ? 2048
                                               : 65536;
    uint64_t need = (uint64_t)w * h * spp * (bps / 8), have = file_bytes(TIFFFileno(t));
    if (!header_size_ok(need, have, ratio))
        return unet_seterr(UNET_ERR_FORMAT,
                           "reading %s page %d: corrupt TIFF: its header claims %lu x %lu pixels (%llu bytes of "
                           "samples, compression %u) but the file has only %llu bytes; re-save or replace the file",
                           path, page, (unsigned long)w, (unsigned long)h, (unsigned long long)need, (unsigned)comp,
                           (unsigned long long)have);
    size_t bytes = bps / 8;
    if (TIFFIsTiled(t)) {
        /* tiles may overhang the image, but not by more than a tile of the
         * image's own size (at least 1 MiB) */
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        uint64_t tile = (uint64_t)tw * th * spp * bytes, most = need * 4 > ((uint64_t)1 << 20) ? need * 4 : (uint64_t)1 << 20;
        if (tw == 0 || th == 0 || tile > most)
            return unet_seterr(UNET_ERR_FORMAT,
                               "reading %s page %d: corrupt TIFF: tiles of %lu x %lu pixels for an image of %lu x %lu "
                               "(at most %llu bytes per tile allowed); re-save or replace the file",
                               path, page, (unsigned long)tw, (unsigned long)th, (unsigned long)w, (unsigned long)h,
                               (unsigned long long)most);
    }
    L->w = w;
    L->h = h;
    L->bps = bps;
    L->spp = spp;
    L->c = c;
    L->is_float = is_float;
    return UNET_OK;
}

static unet_status tiff_read_page(TIFF *t, const char *path, int page, unet_image *img)
{
    tiff_layout L;
    UNET_TRY(tiff_check_layout(t, path, page, &L));
    uint32_t w = L.w, h = L.h;
    uint16_t bps = L.bps, spp = L.spp;
    int c = L.c, is_float = L.is_float;
    size_t bytes = bps / 8;
    UNET_TRY(unet_image_alloc(img, (int)w, (int)h, c, bps));
    unsigned char *buf = NULL;
    unet_status st = UNET_OK;
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(t, TIFFTAG_TILELENGTH, &th);
        tmsize_t tsize = TIFFTileSize(t);
        if (tw == 0 || th == 0 || tsize <= 0 || (size_t)tsize < (size_t)tw * th * spp * bytes) {
            st = unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: bad TIFF tile layout", path, page);
            goto done;
        }
        buf = malloc((size_t)tsize);
        if (!buf) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
            goto done;
        }
        for (uint32_t y = 0; y < h; y += th)
            for (uint32_t x = 0; x < w; x += tw) {
                if (TIFFReadTile(t, buf, x, y, 0, 0) < 0) {
                    st = unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: corrupt or truncated TIFF tile at (%u, %u): %s",
                                     path, page, (unsigned)x, (unsigned)y, tiff_msg());
                    goto done;
                }
                int rows = (int)(h - y < th ? h - y : th), cols = (int)(w - x < tw ? w - x : tw);
                tiff_copy_block(img, buf, is_float, bps, spp, (size_t)tw * spp, (int)y, (int)x, rows, cols);
            }
    } else {
        uint32_t rps = 0;
        TIFFGetFieldDefaulted(t, TIFFTAG_ROWSPERSTRIP, &rps);
        if (rps == 0 || rps > h) rps = h;
        tmsize_t ssize = TIFFStripSize(t);
        size_t rowbytes = (size_t)w * spp * bytes;
        if (ssize <= 0) {
            st = unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: bad TIFF strip layout: %s", path, page, tiff_msg());
            goto done;
        }
        buf = malloc((size_t)ssize);
        if (!buf) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
            goto done;
        }
        uint32_t nstrips = TIFFNumberOfStrips(t);
        for (uint32_t s = 0; s < nstrips && (uint64_t)s * rps < h; s++) {
            uint32_t y = s * rps;
            int rows = (int)(h - y < rps ? h - y : rps);
            tmsize_t got = TIFFReadEncodedStrip(t, s, buf, (tmsize_t)(rowbytes * rows));
            if (got < 0 || (size_t)got < rowbytes * rows) {
                st = unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: corrupt or truncated TIFF strip %u: %s", path,
                                 page, (unsigned)s, got < 0 ? tiff_msg() : "too few bytes");
                goto done;
            }
            tiff_copy_block(img, buf, is_float, bps, spp, (size_t)w * spp, (int)y, 0, rows, (int)w);
        }
        if ((uint64_t)nstrips * rps < h) {
            st = unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: the TIFF has too few strips (%u of %u rows)", path,
                             page, (unsigned)(nstrips * rps), (unsigned)h);
            goto done;
        }
    }
done:
    free(buf);
    if (st != UNET_OK) unet_image_free(img);
    return st;
}

unet_status unet_tiff_read(const char *path, int page, unet_image *img)
{
    if (!img) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_tiff_read: image is NULL");
    memset(img, 0, sizeof *img);
    TIFF *t;
    UNET_TRY(tiff_open_read(path, &t));
    unet_status st = UNET_OK;
    if (page < 0) {
        st = unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading %s: page %d is negative", path, page);
    } else if (page > 0 && !TIFFSetDirectory(t, (tdir_t)page)) {
        int n = (int)TIFFNumberOfDirectories(t);
        st = unet_seterr(n <= page ? UNET_ERR_INVALID_ARGUMENT : UNET_ERR_FORMAT,
                         "reading %s: cannot go to page %d (the file has %d pages): %s", path, page, n,
                         n <= page ? "page out of range" : tiff_msg());
    } else
        st = tiff_read_page(t, path, page, img);
    TIFFClose(t);
    return st;
}

/* ---- TIFF writing ---------------------------------------------------------- */

/* The tags of one page: w x h, c interleaved channels of bits (8, 16: unsigned;
 * 32: float), LZW with the matching predictor. 1 on success. */
static int tiff_set_tags_tiled(TIFF *t, int w, int h, int c, int bits, int tile);
static int tiff_set_tags(TIFF *t, int w, int h, int c, int bits) { return tiff_set_tags_tiled(t, w, h, c, bits, 0); }

/* tile > 0: tiles of tile x tile pixels instead of strips. */
static int tiff_set_tags_tiled(TIFF *t, int w, int h, int c, int bits, int tile)
{
    int ok = 1;
    ok &= TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    ok &= TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    ok &= TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)bits);
    ok &= TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)c);
    ok &= TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, (uint16_t)(bits == 32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT));
    ok &= TIFFSetField(t, TIFFTAG_PHOTOMETRIC, (uint16_t)(c == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK));
    ok &= TIFFSetField(t, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_CONTIG);
    ok &= TIFFSetField(t, TIFFTAG_COMPRESSION, (uint16_t)COMPRESSION_LZW);
    ok &= TIFFSetField(t, TIFFTAG_PREDICTOR, (uint16_t)(bits == 32 ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL));
    ok &= TIFFSetField(t, TIFFTAG_ORIENTATION, (uint16_t)ORIENTATION_TOPLEFT);
    if (tile > 0) {
        ok &= TIFFSetField(t, TIFFTAG_TILEWIDTH, (uint32_t)tile);
        ok &= TIFFSetField(t, TIFFTAG_TILELENGTH, (uint32_t)tile);
    } else
        ok &= TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(t, 0));
    return ok;
}

static unet_status tiff_write_page(TIFF *t, const char *path, const unet_image *img, int bits)
{
    int w = img->w, h = img->h, c = img->c;
    if (!tiff_set_tags(t, w, h, c, bits)) return unet_seterr(UNET_ERR_IO, "writing %s: cannot set the TIFF tags: %s", path, tiff_msg());
    size_t bytes = (size_t)bits / 8, plane = (size_t)w * h;
    unsigned char *row = malloc((size_t)w * c * bytes);
    if (!row) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    unet_status st = UNET_OK;
    for (int y = 0; y < h && st == UNET_OK; y++) {
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                float v = img->data[ch * plane + (size_t)y * w + x];
                size_t k = (size_t)x * c + ch;
                if (bits == 32) memcpy(row + 4 * k, &v, 4);
                else if (bits == 16) {
                    uint16_t u = (uint16_t)to_uint(v, 65535u);
                    memcpy(row + 2 * k, &u, 2);
                } else
                    row[k] = (unsigned char)to_uint(v, 255u);
            }
        if (TIFFWriteScanline(t, row, (uint32_t)y, 0) < 0) st = tiff_write_err(path, "a row");
    }
    free(row);
    if (st == UNET_OK && !TIFFWriteDirectory(t)) st = tiff_write_err(path, "cannot finish the TIFF page");
    return st;
}

unet_status unet_tiff_write(const char *path, const unet_image *img, int bits, int append)
{
    UNET_TRY(check_image(path, img));
    if (bits != 8 && bits != 16 && bits != 32)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: TIFF bits must be 8, 16 or 32 (float), not %d", path,
                           bits);
    if (img->c != 1 && img->c != 3)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: TIFF needs 1 (grey) or 3 (RGB) channels, not %d",
                           path, img->c);
    tiff_prepare();
    if (append) {
        struct stat sb;
        if (stat(path, &sb) == 0) {
            /* Check that it is a TIFF we may append to before libtiff touches it. */
            TIFF *r;
            UNET_TRY(tiff_open_read(path, &r));
            TIFFClose(r);
            tiff_prepare();
            TIFF *t = TIFFOpen(path, "a");
            if (!t) return unet_seterr(UNET_ERR_IO, "cannot open %s to append a page: %s", path, tiff_msg());
            unet_status st = tiff_write_page(t, path, img, bits);
            TIFFClose(t);
            return st;
        }
    }
    char tmp[4096];
    int fd = open_temp(path, tmp, sizeof tmp);
    if (fd < 0) return unet_seterr(UNET_ERR_IO, "cannot create a file next to %s: %s", path, strerror(errno));
    TIFF *t = TIFFFdOpen(fd, tmp, "w");
    if (!t) {
        close(fd);
        unlink(tmp);
        return tiff_write_err(path, "cannot start a TIFF");
    }
    unet_status st = tiff_write_page(t, path, img, bits);
    TIFFClose(t); /* closes fd */
    if (st != UNET_OK) {
        unlink(tmp);
        return st;
    }
    return finish_temp(tmp, path);
}

/* ---- generic ---------------------------------------------------------------- */

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static int is_image_name(const char *name)
{
    return ends_with_ci(name, ".png") || ends_with_ci(name, ".tif") || ends_with_ci(name, ".tiff");
}

typedef enum { KIND_UNKNOWN, KIND_PNG, KIND_TIFF } file_kind;

static unet_status sniff(const char *path, file_kind *kind)
{
    *kind = KIND_UNKNOWN;
    if (!path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading an image: no file name given");
    FILE *f = fopen(path, "rb");
    if (!f) return unet_seterr(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    if (got == 8 && png_sig_cmp(sig, 0, 8) == 0) *kind = KIND_PNG;
    else if (got >= 4 && ((sig[0] == 'I' && sig[1] == 'I') || (sig[0] == 'M' && sig[1] == 'M')))
        *kind = KIND_TIFF;
    else
        return unet_seterr(UNET_ERR_FORMAT, "%s is neither a PNG nor a TIFF file%s", path,
                           got == 0 ? " (it is empty)" : " (unknown header)");
    return UNET_OK;
}

unet_status unet_image_read(const char *path, int page, unet_image *img)
{
    if (!img) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_read: image is NULL");
    memset(img, 0, sizeof *img);
    file_kind k;
    UNET_TRY(sniff(path, &k));
    if (k == KIND_PNG) {
        if (page != 0)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading %s: a PNG has one page, page %d asked for", path,
                               page);
        return unet_png_read(path, img);
    }
    return unet_tiff_read(path, page, img);
}

unet_status unet_image_count_pages(const char *path, int *pages)
{
    if (!pages) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_count_pages: pages is NULL");
    *pages = 0;
    file_kind k;
    UNET_TRY(sniff(path, &k));
    if (k == KIND_PNG) {
        *pages = 1;
        return UNET_OK;
    }
    return unet_tiff_count_pages(path, pages);
}

unet_status unet_image_write(const char *path, const unet_image *img, int bits)
{
    UNET_TRY(check_image(path, img));
    if (ends_with_ci(path, ".png")) return unet_png_write(path, img, bits);
    if (ends_with_ci(path, ".tif") || ends_with_ci(path, ".tiff")) return unet_tiff_write(path, img, bits, 0);
    return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: unknown image extension (use .png, .tif or .tiff)",
                       path);
}

/* ---- listing ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void unet_list_free(char **paths, int n)
{
    if (!paths) return;
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

static unet_status list_push(char ***paths, int *n, int *cap, const char *s)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 16;
        char **p = realloc(*paths, sizeof(char *) * (size_t)nc);
        if (!p) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "listing files: out of host memory");
        *paths = p;
        *cap = nc;
    }
    size_t len = strlen(s);
    char *c = malloc(len + 1);
    if (!c) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "listing files: out of host memory");
    memcpy(c, s, len + 1);
    (*paths)[(*n)++] = c;
    return UNET_OK;
}

unet_status unet_list_files(const char *pattern, char ***paths_out, int *n_out)
{
    if (!paths_out || !n_out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_list_files: NULL output");
    *paths_out = NULL;
    *n_out = 0;
    if (!pattern || !*pattern) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "listing files: no path or pattern given");
    char **paths = NULL;
    int n = 0, cap = 0;
    unet_status st = UNET_OK;
    struct stat sb;
    if (stat(pattern, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(pattern);
        if (!d) return unet_seterr(UNET_ERR_IO, "cannot list the folder %s: %s", pattern, strerror(errno));
        size_t pl = strlen(pattern);
        int slash = pl > 0 && pattern[pl - 1] == '/';
        struct dirent *e;
        while (st == UNET_OK && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || !is_image_name(e->d_name)) continue;
            size_t len = pl + 1 + strlen(e->d_name) + 1;
            char *full = malloc(len);
            if (!full) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "listing files: out of host memory");
                break;
            }
            snprintf(full, len, "%s%s%s", pattern, slash ? "" : "/", e->d_name);
            struct stat fs;
            if (stat(full, &fs) == 0 && S_ISREG(fs.st_mode)) st = list_push(&paths, &n, &cap, full);
            free(full);
        }
        closedir(d);
        if (st == UNET_OK && n == 0)
            st = unet_seterr(UNET_ERR_IO, "the folder %s has no image files (*.png, *.tif, *.tiff)", pattern);
    } else if (stat(pattern, &sb) == 0) {
        st = list_push(&paths, &n, &cap, pattern);
    } else if (strpbrk(pattern, "*?[")) {
        glob_t g;
        memset(&g, 0, sizeof g);
        int r = glob(pattern, 0, NULL, &g);
        if (r == GLOB_NOMATCH) st = unet_seterr(UNET_ERR_IO, "no file matches %s", pattern);
        else if (r != 0)
            st = unet_seterr(r == GLOB_NOSPACE ? UNET_ERR_OUT_OF_MEMORY : UNET_ERR_IO, "cannot expand the pattern %s%s",
                             pattern, r == GLOB_NOSPACE ? ": out of memory" : ": read error");
        else
            for (size_t i = 0; i < g.gl_pathc && st == UNET_OK; i++) st = list_push(&paths, &n, &cap, g.gl_pathv[i]);
        globfree(&g);
    } else {
        st = unet_seterr(UNET_ERR_IO, "%s: %s", pattern, strerror(errno));
    }
    if (st != UNET_OK) {
        unet_list_free(paths, n);
        return st;
    }
    qsort(paths, (size_t)n, sizeof *paths, cmp_str);
    *paths_out = paths;
    *n_out = n;
    return UNET_OK;
}

/* ---- streaming writer ------------------------------------------------------ */

struct unet_image_writer {
    char path[4096], tmp[4096];
    int is_tiff, w, h, c, bits;
    int page_open, pages, row; /* rows written to the current page */
    unsigned char *buf;
    png_job *job; /* PNG */
    TIFF *tif;    /* TIFF */
    int failed;
    /* tiled BigTIFF: tile x tile tiles; band holds the converted rows of the
     * current row of tiles (band_rows of tile), tilebuf one tile */
    int tile, band_rows;
    size_t band_stride;
    unsigned char *band, *tilebuf;
};

static unet_status writer_open(const char *path, int bits, int tile, unet_image_writer **out);

unet_status unet_image_writer_open(const char *path, int bits, unet_image_writer **out)
{
    return writer_open(path, bits, 0, out);
}

unet_status unet_image_writer_open_tiled(const char *path, int bits, int tile, unet_image_writer **out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_writer_open_tiled: NULL argument");
    *out = NULL;
    if (tile < 16 || tile % 16 || tile > 4096)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: TIFF tiles of %d pixels (use a multiple of 16, 16..4096)",
                           path ? path : "", tile);
    if (!path || !(ends_with_ci(path, ".tif") || ends_with_ci(path, ".tiff")))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: a tiled image must be a .tif or .tiff file",
                           path ? path : "");
    return writer_open(path, bits, tile, out);
}

size_t unet_image_writer_buffer_bytes(const unet_image_writer *wr)
{
    if (!wr) return 0;
    size_t row = (size_t)wr->w * wr->c * (wr->bits / 8);
    if (wr->tile) return row + wr->band_stride * wr->tile + (size_t)wr->tile * wr->tile * wr->c * (wr->bits / 8);
    return row;
}

static unet_status writer_open(const char *path, int bits, int tile, unet_image_writer **out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_writer_open: NULL argument");
    *out = NULL;
    if (!path || !*path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing an image: no file name given");
    int tiff = ends_with_ci(path, ".tif") || ends_with_ci(path, ".tiff");
    if (!tiff && !ends_with_ci(path, ".png"))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: the name must end in .png, .tif or .tiff", path);
    if (tiff ? (bits != 8 && bits != 16 && bits != 32) : (bits != 8 && bits != 16))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: %d bits per sample are not supported for %s", path,
                           bits, tiff ? "TIFF" : "PNG");
    unet_image_writer *wr = calloc(1, sizeof *wr);
    if (!wr) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    if (strlen(path) >= sizeof wr->path) {
        free(wr);
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: the file name is too long", path);
    }
    snprintf(wr->path, sizeof wr->path, "%s", path);
    wr->is_tiff = tiff;
    wr->bits = bits;
    int fd = open_temp(path, wr->tmp, sizeof wr->tmp);
    if (fd < 0) {
        unet_status st = unet_seterr(UNET_ERR_IO, "cannot create a file next to %s: %s", path, strerror(errno));
        free(wr);
        return st;
    }
    if (tiff) {
        /* libtiff reads back earlier directories when it links a new page */
        close(fd);
        fd = open(wr->tmp, O_RDWR);
        if (fd < 0) {
            unet_status st = unet_seterr(UNET_ERR_IO, "cannot open %s: %s", wr->tmp, strerror(errno));
            unlink(wr->tmp);
            free(wr);
            return st;
        }
        tiff_prepare();
        wr->tile = tile;
        wr->tif = TIFFFdOpen(fd, wr->tmp, tile ? "w8" : "w"); /* tiled: BigTIFF (64-bit offsets) */
        if (!wr->tif) {
            close(fd);
            unlink(wr->tmp);
            free(wr);
            return tiff_write_err(path, "cannot start a TIFF");
        }
    } else {
        wr->job = calloc(1, sizeof *wr->job);
        if (wr->job) wr->job->f = fdopen(fd, "wb");
        if (!wr->job || !wr->job->f) {
            if (wr->job && !wr->job->f) close(fd);
            unlink(wr->tmp);
            free(wr->job);
            free(wr);
            return unet_seterr(UNET_ERR_IO, "writing %s: cannot open the temporary file", path);
        }
        wr->job->path = wr->path;
    }
    *out = wr;
    return UNET_OK;
}

static int png_stream_begin(png_job *job, int w, int h, int c, int bits)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    png_set_write_fn(job->png, job, png_write_fn, png_flush_fn);
    png_set_compression_level(job->png, 3); /* large outputs: fast, still compact for masks */
    png_set_IHDR(job->png, job->info, (png_uint_32)w, (png_uint_32)h, bits,
                 c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(job->png, job->info);
    return 0;
}

static int png_stream_row(png_job *job, const unsigned char *row)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    png_write_row(job->png, (png_const_bytep)row);
    return 0;
}

static int png_stream_end(png_job *job)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    png_write_end(job->png, NULL);
    return 0;
}

unet_status unet_image_writer_begin_page(unet_image_writer *wr, int w, int h, int c)
{
    if (!wr || wr->failed) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "image writer: not usable (earlier error)");
    if (wr->page_open)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: page %d has %d of %d rows", wr->path, wr->pages,
                           wr->row, wr->h);
    if (w <= 0 || h <= 0 || (c != 1 && c != 3))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: bad page size %dx%d with %d channels", wr->path, w,
                           h, c);
    if (!wr->is_tiff && wr->pages > 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: a PNG file holds one image only (use .tif for "
                                                      "stacks)", wr->path);
    size_t rowbytes = (size_t)w * c * (wr->bits / 8);
    unsigned char *b = realloc(wr->buf, rowbytes);
    if (!b) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", wr->path);
    wr->buf = b;
    wr->w = w;
    wr->h = h;
    wr->c = c;
    wr->row = 0;
    if (wr->is_tiff) {
        TIFF *t = wr->tif;
        tiff_prepare();
        if (wr->tile) {
            size_t px = (size_t)c * (wr->bits / 8), across = ((size_t)w + wr->tile - 1) / wr->tile;
            wr->band_stride = across * wr->tile * px;
            free(wr->band);
            free(wr->tilebuf);
            wr->band = calloc(wr->band_stride, (size_t)wr->tile);
            wr->tilebuf = malloc((size_t)wr->tile * wr->tile * px);
            wr->band_rows = 0;
            if (!wr->band || !wr->tilebuf)
                return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory for a row of tiles", wr->path);
        }
        if (!tiff_set_tags_tiled(t, w, h, c, wr->bits, wr->tile)) {
            wr->failed = 1;
            return unet_seterr(UNET_ERR_IO, "writing %s: cannot set the TIFF tags: %s", wr->path, tiff_msg());
        }
    } else {
        png_job *job = wr->job;
        job->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, png_err_fn, png_warn_fn);
        if (job->png) job->info = png_create_info_struct(job->png);
        if (!job->png || !job->info) {
            wr->failed = 1;
            return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: cannot create the libpng writer", wr->path);
        }
        if (png_stream_begin(job, w, h, c, wr->bits)) {
            wr->failed = 1;
            return png_write_err(job, wr->path, -1);
        }
    }
    wr->page_open = 1;
    return UNET_OK;
}

/* Writes the band (the rows of the current row of tiles, ending before row
 * `end`) as tiles, padded with zeros. */
static unet_status writer_flush_tiles(unet_image_writer *wr, int end)
{
    size_t px = (size_t)wr->c * (wr->bits / 8), tb = (size_t)wr->tile * px;
    int y0 = end - wr->band_rows;
    tiff_prepare();
    for (int x = 0; x < wr->w; x += wr->tile) {
        memset(wr->tilebuf, 0, (size_t)wr->tile * tb);
        for (int r = 0; r < wr->band_rows; r++)
            memcpy(wr->tilebuf + (size_t)r * tb, wr->band + (size_t)r * wr->band_stride + (size_t)x * px, tb);
        if (TIFFWriteTile(wr->tif, wr->tilebuf, (uint32_t)x, (uint32_t)y0, 0, 0) < 0) {
            wr->failed = 1;
            return tiff_write_err(wr->path, "a tile");
        }
    }
    wr->band_rows = 0; /* the columns past w stay zero: rows never write there */
    return UNET_OK;
}

unet_status unet_image_writer_rows(unet_image_writer *wr, const float *data, size_t plane_stride, int nrows)
{
    if (!wr || wr->failed || !wr->page_open)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "image writer: no page open or an earlier error");
    if (nrows < 0 || wr->row + nrows > wr->h)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: %d rows after %d of %d", wr->path, nrows, wr->row,
                           wr->h);
    int w = wr->w, c = wr->c, bits = wr->bits;
    for (int y = 0; y < nrows; y++, wr->row++) {
        unsigned char *r = wr->buf;
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) {
                float v = data[ch * plane_stride + (size_t)y * w + x];
                size_t k = (size_t)x * c + ch;
                if (bits == 32) memcpy(r + 4 * k, &v, 4);
                else if (bits == 16) {
                    unsigned u = to_uint(v, 65535u);
                    if (wr->is_tiff) {
                        uint16_t u16 = (uint16_t)u;
                        memcpy(r + 2 * k, &u16, 2);
                    } else {
                        r[2 * k] = (unsigned char)(u >> 8);
                        r[2 * k + 1] = (unsigned char)(u & 255u);
                    }
                } else
                    r[k] = (unsigned char)to_uint(v, 255u);
            }
        if (wr->tile) {
            memcpy(wr->band + (size_t)wr->band_rows * wr->band_stride, r, (size_t)w * c * (bits / 8));
            if (++wr->band_rows == wr->tile || wr->row + 1 == wr->h) UNET_TRY(writer_flush_tiles(wr, wr->row + 1));
        } else if (wr->is_tiff) {
            tiff_prepare();
            if (TIFFWriteScanline(wr->tif, r, (uint32_t)wr->row, 0) < 0) {
                wr->failed = 1;
                return tiff_write_err(wr->path, "a row");
            }
        } else if (png_stream_row(wr->job, r)) {
            wr->failed = 1;
            return png_write_err(wr->job, wr->path, wr->row);
        }
    }
    return UNET_OK;
}

unet_status unet_image_writer_end_page(unet_image_writer *wr)
{
    if (!wr || wr->failed || !wr->page_open)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "image writer: no page open or an earlier error");
    if (wr->row != wr->h)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: the page has %d of its %d rows", wr->path, wr->row,
                           wr->h);
    if (wr->is_tiff) {
        tiff_prepare();
        if (!TIFFWriteDirectory(wr->tif)) {
            wr->failed = 1;
            return tiff_write_err(wr->path, "cannot finish the TIFF page");
        }
    } else if (png_stream_end(wr->job)) {
        wr->failed = 1;
        return png_write_err(wr->job, wr->path, -1);
    }
    wr->page_open = 0;
    wr->pages++;
    return UNET_OK;
}

unet_status unet_image_writer_close(unet_image_writer *wr, int commit)
{
    if (!wr) return UNET_OK;
    unet_status st = UNET_OK;
    if (commit && (wr->failed || wr->page_open || wr->pages == 0))
        st = unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing %s: %s", wr->path,
                         wr->failed ? "an earlier error" : wr->page_open ? "the last page is unfinished" : "no page");
    if (wr->is_tiff) {
        if (wr->tif) TIFFClose(wr->tif);
    } else if (wr->job) {
        if (wr->job->png) png_destroy_write_struct(&wr->job->png, wr->job->info ? &wr->job->info : NULL);
        if (wr->job->f) {
            int bad = ferror(wr->job->f);
            errno = 0;
            if ((fclose(wr->job->f) != 0 || bad) && st == UNET_OK && commit)
                st = unet_write_fail(errno ? errno : wr->job->werr ? wr->job->werr : EIO, wr->path);
        }
        free(wr->job);
    }
    if (commit && st == UNET_OK) st = finish_temp(wr->tmp, wr->path);
    else unlink(wr->tmp);
    free(wr->band);
    free(wr->tilebuf);
    free(wr->buf);
    free(wr);
    return commit ? st : UNET_OK;
}

int unet_scaled_size(int n, double scale)
{
    double v = floor(n * scale + 0.5);
    return v < 1 ? 1 : v > 1e9 ? 1000000000 : (int)v;
}

void unet_resize_bilinear(const float *in, int c, int h, int w, float *out, int oh, int ow)
{
    unet_resize_bilinear_rows(in, c, h, w, out, oh, ow, 0, oh);
}

/* Source sample of output index i on an axis of n_in -> n_out (pixel centres
 * aligned, clamped): neighbours i0, i1 and the weight f of i1. */
static void resize_src(int i, int n_in, int n_out, int *i0, int *i1, float *f)
{
    double s = (i + 0.5) * n_in / n_out - 0.5;
    if (s < 0) s = 0;
    if (s > n_in - 1) s = n_in - 1;
    *i0 = (int)s;
    *i1 = *i0 + 1 < n_in ? *i0 + 1 : *i0;
    *f = (float)(s - *i0);
}

void unet_resize_bilinear_rows(const float *in, int c, int h, int w, float *out, int oh, int ow, int y0r, int rows)
{
    for (int y = y0r; y < y0r + rows; y++) {
        int y0, y1;
        float fy;
        resize_src(y, h, oh, &y0, &y1, &fy);
        for (int x = 0; x < ow; x++) {
            int x0, x1;
            float fx;
            resize_src(x, w, ow, &x0, &x1, &fx);
            for (int ch = 0; ch < c; ch++) {
                const float *p = in + (size_t)ch * h * w;
                float top = p[(size_t)y0 * w + x0] + fx * (p[(size_t)y0 * w + x1] - p[(size_t)y0 * w + x0]);
                float bot = p[(size_t)y1 * w + x0] + fx * (p[(size_t)y1 * w + x1] - p[(size_t)y1 * w + x0]);
                out[(size_t)ch * rows * ow + (size_t)(y - y0r) * ow + x] = top + fy * (bot - top);
            }
        }
    }
}

void unet_resize_nearest_i32(const int32_t *in, int h, int w, int32_t *out, int oh, int ow)
{
    for (int y = 0; y < oh; y++) {
        int sy = (int)((y + 0.5) * h / oh);
        if (sy > h - 1) sy = h - 1;
        for (int x = 0; x < ow; x++) {
            int sx = (int)((x + 0.5) * w / ow);
            if (sx > w - 1) sx = w - 1;
            out[(size_t)y * ow + x] = in[(size_t)sy * w + sx];
        }
    }
}

/* ---- streaming reader ---------------------------------------------------------- */

struct unet_image_reader {
    char path[4096];
    int page, kind; /* KIND_PNG / KIND_TIFF */
    int w, h, c, bits;
    int row; /* next row to deliver */
    size_t buffer_bytes;
    /* PNG */
    png_job *job;
    unsigned char *rowbuf;
    /* TIFF */
    TIFF *t;
    int tiled, spp, bps, is_float;
    uint32_t band_h, tw;   /* rows per strip or tile height; tile width */
    unsigned char *band;   /* decoded rows [band_y0, band_y0 + band_n) of samples, stride band_stride */
    size_t band_stride;    /* bytes per band row */
    int band_y0, band_n;
    unsigned char *tilebuf;
};

/* Sets up libpng for the rows of job->f (after the signature); 1 after a
 * libpng error. The transforms are those of png_read_body. */
static int png_reader_info(png_job *job, int *interlaced, uint64_t *raw)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    png_init_io(job->png, job->f);
    png_set_sig_bytes(job->png, 8);
    png_read_info(job->png, job->info);
    int depth = png_get_bit_depth(job->png, job->info);
    int ctype = png_get_color_type(job->png, job->info);
    /* the filtered rows as stored (1 filter byte per row), from the header */
    *raw = ((uint64_t)png_get_image_width(job->png, job->info) * (uint64_t)png_get_channels(job->png, job->info) *
                (uint64_t)depth + 7) / 8 + 1;
    *raw *= png_get_image_height(job->png, job->info);
    *interlaced = png_get_interlace_type(job->png, job->info) != PNG_INTERLACE_NONE;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(job->png);
    if ((ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(job->png, job->info, PNG_INFO_tRNS))
        png_set_strip_alpha(job->png);
    png_read_update_info(job->png, job->info);
    return 0;
}

static int png_reader_row(png_job *job, unsigned char *row)
{
    if (setjmp(png_jmpbuf(job->png))) return 1;
    png_read_row(job->png, row, NULL);
    return 0;
}

static void reader_release(unet_image_reader *rd)
{
    if (rd->job) {
        if (rd->job->png) png_destroy_read_struct(&rd->job->png, rd->job->info ? &rd->job->info : NULL, NULL);
        if (rd->job->f) fclose(rd->job->f);
        free(rd->job);
        rd->job = NULL;
    }
    if (rd->t) TIFFClose(rd->t);
    rd->t = NULL;
    free(rd->rowbuf);
    free(rd->band);
    free(rd->tilebuf);
    rd->rowbuf = rd->band = rd->tilebuf = NULL;
}

static unet_status png_reader_open(unet_image_reader *rd)
{
    const char *path = rd->path;
    png_job *job = rd->job = calloc(1, sizeof *job);
    if (!job) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
    job->path = rd->path;
    unsigned char sig[8];
    job->f = fopen(path, "rb");
    if (!job->f) return unet_seterr(UNET_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (fread(sig, 1, 8, job->f) != 8 || png_sig_cmp(sig, 0, 8) != 0)
        return unet_seterr(UNET_ERR_FORMAT, "%s is not a PNG file (bad signature or too short)", path);
    job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job, png_err_fn, png_warn_fn);
    if (job->png) job->info = png_create_info_struct(job->png);
    if (!job->png || !job->info)
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: cannot create the libpng reader", path);
    int interlaced = 0;
    uint64_t raw = 0;
    if (png_reader_info(job, &interlaced, &raw))
        return unet_seterr(UNET_ERR_FORMAT, "reading %s: corrupt or truncated PNG: %s", path, job->msg);
    png_uint_32 w = png_get_image_width(job->png, job->info), h = png_get_image_height(job->png, job->info);
    int channels = png_get_channels(job->png, job->info), bits = png_get_bit_depth(job->png, job->info);
    if ((channels != 1 && channels != 3) || (bits != 8 && bits != 16))
        return unet_seterr(UNET_ERR_FORMAT, "reading %s: unsupported PNG layout (%d channels of %d bits after expansion)",
                           path, channels, bits);
    if (w == 0 || h == 0 || w > 1000000 || h > 1000000)
        return unet_seterr(UNET_ERR_FORMAT, "reading %s: PNG size %lu x %lu is out of range", path, (unsigned long)w,
                           (unsigned long)h);
    if (interlaced)
        return unet_seterr(UNET_ERR_FORMAT,
                           "reading %s: an interlaced PNG cannot be read row by row (streamed); save it without "
                           "interlacing, or as a tiled TIFF",
                           path);
    uint64_t have = file_bytes(fileno(job->f));
    if (!header_size_ok(raw, have, 1032))
        return unet_seterr(UNET_ERR_FORMAT,
                           "reading %s: corrupt PNG: its header claims %lu x %lu pixels (%llu bytes of rows) but "
                           "its %llu bytes decompress to at most %llu (deflate expands at most 1032 times); re-save "
                           "or replace the file",
                           path, (unsigned long)w, (unsigned long)h, (unsigned long long)raw,
                           (unsigned long long)have, (unsigned long long)have * 1032);
    size_t rowbytes = png_get_rowbytes(job->png, job->info);
    rd->rowbuf = malloc(rowbytes);
    if (!rd->rowbuf) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory for a row", path);
    rd->w = (int)w;
    rd->h = (int)h;
    rd->c = channels;
    rd->bits = bits;
    /* the row, and libpng's: its current and previous row and the 32 KiB inflate window */
    rd->buffer_bytes = 3 * rowbytes + ((size_t)32 << 10);
    return UNET_OK;
}

static unet_status tiff_reader_open(unet_image_reader *rd)
{
    const char *path = rd->path;
    int page = rd->page;
    UNET_TRY(tiff_open_read_mode(path, "rm", &rd->t));
    if (page < 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading %s: page %d is negative", path, page);
    if (page > 0 && !TIFFSetDirectory(rd->t, (tdir_t)page)) {
        int n = (int)TIFFNumberOfDirectories(rd->t);
        return unet_seterr(n <= page ? UNET_ERR_INVALID_ARGUMENT : UNET_ERR_FORMAT,
                           "reading %s: cannot go to page %d (the file has %d pages): %s", path, page, n,
                           n <= page ? "page out of range" : tiff_msg());
    }
    tiff_layout L;
    UNET_TRY(tiff_check_layout(rd->t, path, page, &L));
    rd->w = (int)L.w;
    rd->h = (int)L.h;
    rd->c = L.c;
    rd->bits = L.bps;
    rd->spp = L.spp;
    rd->bps = L.bps;
    rd->is_float = L.is_float;
    rd->tiled = TIFFIsTiled(rd->t);
    size_t bytes = L.bps / 8;
    if (rd->tiled) {
        uint32_t tw = 0, th = 0;
        TIFFGetField(rd->t, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(rd->t, TIFFTAG_TILELENGTH, &th);
        tmsize_t tsize = TIFFTileSize(rd->t);
        if (tw == 0 || th == 0 || tsize <= 0 || (size_t)tsize < (size_t)tw * th * L.spp * bytes)
            return unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: bad TIFF tile layout", path, page);
        rd->tw = tw;
        rd->band_h = th;
        rd->band_stride = (size_t)L.w * L.spp * bytes;
        rd->tilebuf = malloc((size_t)tsize);
        rd->band = malloc(rd->band_stride * th);
        rd->buffer_bytes = (size_t)tsize + rd->band_stride * th;
    } else {
        uint32_t rps = 0;
        TIFFGetFieldDefaulted(rd->t, TIFFTAG_ROWSPERSTRIP, &rps);
        if (rps == 0 || rps > L.h) rps = L.h;
        tmsize_t ssize = TIFFStripSize(rd->t);
        if (ssize <= 0)
            return unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: bad TIFF strip layout: %s", path, page, tiff_msg());
        rd->band_h = rps;
        rd->band_stride = (size_t)L.w * L.spp * bytes;
        size_t need = rd->band_stride * rps > (size_t)ssize ? rd->band_stride * rps : (size_t)ssize;
        rd->band = malloc(need);
        rd->buffer_bytes = need;
    }
    if (!rd->band || (rd->tiled && !rd->tilebuf))
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory for %u rows of %d pixels", path,
                           (unsigned)rd->band_h, rd->w);
    rd->band_n = 0;
    return UNET_OK;
}

static unet_status reader_start(unet_image_reader *rd)
{
    rd->row = 0;
    rd->band_y0 = 0;
    rd->band_n = 0;
    return rd->kind == KIND_PNG ? png_reader_open(rd) : tiff_reader_open(rd);
}

unet_status unet_image_reader_open(const char *path, int page, unet_image_reader **out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_reader_open: NULL argument");
    *out = NULL;
    file_kind k;
    UNET_TRY(sniff(path, &k));
    if (k == KIND_PNG && page != 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading %s: a PNG has one page, page %d asked for", path, page);
    unet_image_reader *rd = calloc(1, sizeof *rd);
    if (!rd) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "reading %s: out of host memory", path);
    if (strlen(path) >= sizeof rd->path) {
        free(rd);
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading %s: the file name is too long", path);
    }
    snprintf(rd->path, sizeof rd->path, "%s", path);
    rd->page = page;
    rd->kind = k;
    unet_status st = reader_start(rd);
    if (st != UNET_OK) {
        reader_release(rd);
        free(rd);
        return st;
    }
    *out = rd;
    return UNET_OK;
}

void unet_image_reader_info(const unet_image_reader *rd, int *w, int *h, int *c, int *bits)
{
    if (w) *w = rd ? rd->w : 0;
    if (h) *h = rd ? rd->h : 0;
    if (c) *c = rd ? rd->c : 0;
    if (bits) *bits = rd ? rd->bits : 0;
}

size_t unet_image_reader_buffer_bytes(const unet_image_reader *rd) { return rd ? rd->buffer_bytes : 0; }

unet_status unet_image_reader_rewind(unet_image_reader *rd)
{
    if (!rd) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_reader_rewind: NULL reader");
    if (rd->kind == KIND_TIFF) { /* strips and tiles are addressed: start again at row 0 */
        rd->row = 0;
        return UNET_OK;
    }
    reader_release(rd);
    return reader_start(rd);
}

/* Decodes the strip or row of tiles that holds row y into the band. */
static unet_status tiff_reader_band(unet_image_reader *rd, int y)
{
    uint32_t bh = rd->band_h;
    int y0 = (int)((uint32_t)y / bh * bh), rows = rd->h - y0 < (int)bh ? rd->h - y0 : (int)bh;
    tiff_prepare();
    if (!rd->tiled) {
        uint32_t s = (uint32_t)y / bh;
        tmsize_t want = (tmsize_t)(rd->band_stride * rows);
        tmsize_t got = TIFFReadEncodedStrip(rd->t, s, rd->band, want);
        if (got < 0 || got < want)
            return unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: corrupt or truncated TIFF strip %u: %s", rd->path,
                               rd->page, (unsigned)s, got < 0 ? tiff_msg() : "too few bytes");
    } else {
        size_t px = (size_t)rd->spp * (rd->bps / 8);
        for (uint32_t x = 0; x < (uint32_t)rd->w; x += rd->tw) {
            if (TIFFReadTile(rd->t, rd->tilebuf, x, (uint32_t)y0, 0, 0) < 0)
                return unet_seterr(UNET_ERR_FORMAT, "reading %s page %d: corrupt or truncated TIFF tile at (%u, %u): %s",
                                   rd->path, rd->page, (unsigned)x, (unsigned)y0, tiff_msg());
            uint32_t cols = (uint32_t)rd->w - x < rd->tw ? (uint32_t)rd->w - x : rd->tw;
            for (int r = 0; r < rows; r++)
                memcpy(rd->band + (size_t)r * rd->band_stride + x * px, rd->tilebuf + (size_t)r * rd->tw * px,
                       cols * px);
        }
    }
    rd->band_y0 = y0;
    rd->band_n = rows;
    return UNET_OK;
}

/* Samples of one decoded row (spp interleaved, first c kept) to float planes. */
static void row_to_float(const unsigned char *src, int w, int c, int spp, int bps, int is_float, int big_endian16,
                         float *dst, size_t plane_stride)
{
    if (c == 1 && spp == 1 && !is_float && bps == 8) { /* the common case, without a branch per sample */
        for (int x = 0; x < w; x++) dst[x] = (float)src[x];
        return;
    }
    if (c == 1 && spp == 1 && !is_float && bps == 16 && big_endian16) {
        for (int x = 0; x < w; x++) dst[x] = (float)((src[2 * x] << 8) | src[2 * x + 1]);
        return;
    }
    for (int x = 0; x < w; x++)
        for (int ch = 0; ch < c; ch++) {
            size_t k = (size_t)x * spp + ch;
            float v;
            if (is_float) memcpy(&v, src + 4 * k, 4);
            else if (bps == 16) {
                if (big_endian16) v = (float)((src[2 * k] << 8) | src[2 * k + 1]);
                else {
                    uint16_t u;
                    memcpy(&u, src + 2 * k, 2);
                    v = (float)u;
                }
            } else
                v = (float)src[k];
            dst[(size_t)ch * plane_stride + x] = v;
        }
}

unet_status unet_image_reader_rows(unet_image_reader *rd, float *dst, size_t plane_stride, int nrows)
{
    if (!rd || !dst) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_image_reader_rows: NULL argument");
    if (nrows < 0 || rd->row + nrows > rd->h)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "reading %s: %d rows after %d of %d", rd->path, nrows, rd->row,
                           rd->h);
    for (int r = 0; r < nrows; r++, rd->row++) {
        float *d = dst + (size_t)r * rd->w;
        if (rd->kind == KIND_PNG) {
            if (png_reader_row(rd->job, rd->rowbuf))
                return unet_seterr(UNET_ERR_FORMAT, "reading %s: corrupt or truncated PNG: %s", rd->path, rd->job->msg);
            row_to_float(rd->rowbuf, rd->w, rd->c, rd->c, rd->bits, 0, 1, d, plane_stride);
        } else {
            if (rd->row < rd->band_y0 || rd->row >= rd->band_y0 + rd->band_n) UNET_TRY(tiff_reader_band(rd, rd->row));
            row_to_float(rd->band + (size_t)(rd->row - rd->band_y0) * rd->band_stride, rd->w, rd->c, rd->spp, rd->bps,
                         rd->is_float, 0, d, plane_stride);
        }
    }
    return UNET_OK;
}

void unet_image_reader_close(unet_image_reader *rd)
{
    if (!rd) return;
    reader_release(rd);
    free(rd);
}
