/* Image I/O: PNG/TIFF round trips, exact label values, multi-page stacks,
 * error handling on missing/corrupt files, listing. No OpenCL needed. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "unetcl/image.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <png.h>
#include <tiffio.h>
#include <unistd.h>

static char g_dir[1024];

static const char *tmp_path(const char *name)
{
    static char p[4][1200];
    static int k;
    k = (k + 1) & 3;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("UNETCL_BINARY_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_image_XXXXXX", b && *b ? b : "/tmp");
    if (!mkdtemp(g_dir)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void fill_random(unet_image *img, unsigned maxv, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    for (size_t i = 0; i < unet_image_count(img); i++) img->data[i] = (float)(int)(tu_uniform(&r) * (maxv + 1.0));
}

static void assert_same(const unet_image *a, const unet_image *b)
{
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    assert_int_equal(a->c, b->c);
    for (size_t i = 0; i < unet_image_count(a); i++)
        if (memcmp(&a->data[i], &b->data[i], sizeof(float)) != 0)
            fail_msg("element %zu differs: %.9g vs %.9g", i, (double)a->data[i], (double)b->data[i]);
}

/* Runs with stderr redirected to a file; returns how many bytes were printed. */
static int g_saved_fd = -1;
static char g_errfile[1200];
static void stderr_capture_begin(void)
{
    fflush(stderr);
    snprintf(g_errfile, sizeof g_errfile, "%s", tmp_path("stderr.txt"));
    int fd = open(g_errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    g_saved_fd = dup(2);
    dup2(fd, 2);
    close(fd);
}
static long stderr_capture_end(void)
{
    fflush(stderr);
    dup2(g_saved_fd, 2);
    close(g_saved_fd);
    struct stat sb;
    assert_int_equal(stat(g_errfile, &sb), 0);
    return (long)sb.st_size;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static long file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long)sb.st_size;
}

/* ---- round trips ----------------------------------------------------------- */

static void test_png8_roundtrip(void **state)
{
    (void)state;
    unet_image a, b;
    TU_OK(unet_image_alloc(&a, 37, 23, 1, 8));
    fill_random(&a, 255, 1);
    a.data[0] = 0;
    a.data[1] = 255;
    const char *p = tmp_path("g8.png");
    TU_OK(unet_png_write(p, &a, 8));
    TU_OK(unet_png_read(p, &b));
    assert_int_equal(b.bits, 8);
    assert_same(&a, &b);
    unet_image_free(&b);
    /* generic reader */
    TU_OK(unet_image_read(p, 0, &b));
    assert_same(&a, &b);
    unet_image_free(&b);
    int pages = 0;
    TU_OK(unet_image_count_pages(p, &pages));
    assert_int_equal(pages, 1);
    assert_int_equal(unet_image_read(p, 1, &b), UNET_ERR_INVALID_ARGUMENT);
    unet_image_free(&a);
    unet_image_free(&b);
}

static void test_png16_exact(void **state)
{
    (void)state;
    unet_image a, b;
    TU_OK(unet_image_alloc(&a, 61, 17, 1, 16));
    fill_random(&a, 65535, 2);
    const float special[] = {0, 1, 255, 256, 257, 4095, 32767, 32768, 65534, 65535};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) a.data[i * 7] = special[i];
    const char *p = tmp_path("labels16.png");
    TU_OK(unet_png_write(p, &a, 16));
    TU_OK(unet_image_read(p, 0, &b));
    assert_int_equal(b.bits, 16);
    assert_same(&a, &b);
    unet_image_free(&a);
    unet_image_free(&b);
}

static void test_png_rgb_and_clamp(void **state)
{
    (void)state;
    unet_image a, b;
    TU_OK(unet_image_alloc(&a, 9, 5, 3, 8));
    fill_random(&a, 255, 3);
    /* channel planes must stay distinct and in order */
    *unet_image_at(&a, 0, 2, 3) = 10;
    *unet_image_at(&a, 1, 2, 3) = 20;
    *unet_image_at(&a, 2, 2, 3) = 30;
    const char *p = tmp_path("rgb.png");
    TU_OK(unet_png_write(p, &a, 8));
    TU_OK(unet_png_read(p, &b));
    assert_int_equal(b.c, 3);
    assert_same(&a, &b);
    assert_true(*unet_image_at(&b, 2, 2, 3) == 30.0f);
    unet_image_free(&b);

    /* rounding and clamping of values that do not fit */
    a.data[0] = -3.0f;
    a.data[1] = 300.4f;
    a.data[2] = 12.6f;
    a.data[3] = NAN;
    a.data[4] = INFINITY;
    TU_OK(unet_png_write(p, &a, 8));
    TU_OK(unet_png_read(p, &b));
    assert_true(b.data[0] == 0.0f && b.data[1] == 255.0f && b.data[2] == 13.0f && b.data[3] == 0.0f &&
                b.data[4] == 255.0f);
    unet_image_free(&b);

    /* bad arguments */
    assert_int_equal(unet_png_write(p, &a, 12), UNET_ERR_INVALID_ARGUMENT);
    a.c = 2;
    assert_int_equal(unet_png_write(p, &a, 8), UNET_ERR_INVALID_ARGUMENT);
    a.c = 3;
    assert_int_equal(unet_image_write(tmp_path("x.bmp"), &a, 8), UNET_ERR_INVALID_ARGUMENT);
    unet_image_free(&a);
}


/* Writes a PNG with libpng directly (layouts our writer does not produce). */
static void raw_png(const char *path, int w, int h, int depth, int ctype, int interlace, const unsigned char *pix,
                    const png_color *pal, int npal, const unsigned char *trns, int ntrns)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)pix + rowbytes * (size_t)y;
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static void test_png_layouts(void **state)
{
    (void)state;
    unet_image b;
    const int w = 7, h = 5;
    /* palette (with transparency): expanded to RGB, alpha ignored */
    png_color pal[3] = {{10, 20, 30}, {200, 100, 50}, {0, 255, 1}};
    unsigned char trns[3] = {255, 0, 128};
    unsigned char idx[7 * 5];
    for (int i = 0; i < w * h; i++) idx[i] = (unsigned char)(i % 3);
    raw_png(tmp_path("pal.png"), w, h, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, idx, pal, 3, trns, 3);
    TU_OK(unet_image_read(tmp_path("pal.png"), 0, &b));
    assert_int_equal(b.c, 3);
    assert_int_equal(b.bits, 8);
    for (int i = 0; i < w * h; i++) {
        assert_true(b.data[i] == pal[i % 3].red);
        assert_true(b.data[w * h + i] == pal[i % 3].green);
        assert_true(b.data[2 * w * h + i] == pal[i % 3].blue);
    }
    unet_image_free(&b);

    /* 16-bit grey + alpha, interlaced: alpha dropped, values exact */
    unsigned char ga[7 * 5 * 4];
    for (int i = 0; i < w * h; i++) {
        unsigned v = (unsigned)(i * 1871 + 3), a = (unsigned)(65535 - i);
        ga[4 * i] = (unsigned char)(v >> 8);
        ga[4 * i + 1] = (unsigned char)v;
        ga[4 * i + 2] = (unsigned char)(a >> 8);
        ga[4 * i + 3] = (unsigned char)a;
    }
    raw_png(tmp_path("ga16.png"), w, h, 16, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_ADAM7, ga, NULL, 0, NULL, 0);
    TU_OK(unet_image_read(tmp_path("ga16.png"), 0, &b));
    assert_int_equal(b.c, 1);
    assert_int_equal(b.bits, 16);
    for (int i = 0; i < w * h; i++) assert_true(b.data[i] == (float)((unsigned)(i * 1871 + 3) & 0xFFFFu));
    unet_image_free(&b);

    /* 8-bit RGBA: alpha dropped */
    unsigned char rgba[7 * 5 * 4];
    for (int i = 0; i < 4 * w * h; i++) rgba[i] = (unsigned char)(i * 7);
    raw_png(tmp_path("rgba.png"), w, h, 8, PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE, rgba, NULL, 0, NULL, 0);
    TU_OK(unet_image_read(tmp_path("rgba.png"), 0, &b));
    assert_int_equal(b.c, 3);
    for (int i = 0; i < w * h; i++)
        for (int ch = 0; ch < 3; ch++) assert_true(b.data[ch * w * h + i] == (float)rgba[4 * i + ch]);
    unet_image_free(&b);

    /* 1-bit grey: scaled to 0/255 */
    unsigned char bits1[5] = {0xA0, 0x40, 0xFE, 0x00, 0x02}; /* 7 px per row, 1 byte per row */
    raw_png(tmp_path("g1.png"), w, h, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, bits1, NULL, 0, NULL, 0);
    TU_OK(unet_image_read(tmp_path("g1.png"), 0, &b));
    assert_int_equal(b.bits, 8);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            assert_true(*unet_image_at(&b, 0, y, x) == (((bits1[y] >> (7 - x)) & 1) ? 255.0f : 0.0f));
    unet_image_free(&b);
}

static void test_tiff_roundtrips(void **state)
{
    (void)state;
    unet_image a, b;
    /* float32 grey: exact bits, negative and fractional values */
    TU_OK(unet_image_alloc(&a, 45, 31, 1, 32));
    tu_rng r;
    tu_seed(&r, 4);
    for (size_t i = 0; i < unet_image_count(&a); i++) a.data[i] = (float)(tu_normal(&r) * 1000.0);
    a.data[0] = -0.0f;
    a.data[1] = 1e-30f;
    a.data[2] = 3.4e38f;
    const char *p = tmp_path("f32.tif");
    TU_OK(unet_tiff_write(p, &a, 32, 0));
    TU_OK(unet_image_read(p, 0, &b));
    assert_int_equal(b.bits, 32);
    assert_same(&a, &b);
    unet_image_free(&a);
    unet_image_free(&b);

    /* 16-bit grey */
    TU_OK(unet_image_alloc(&a, 130, 67, 1, 16));
    fill_random(&a, 65535, 5);
    a.data[0] = 65535;
    p = tmp_path("u16.tiff");
    TU_OK(unet_image_write(p, &a, 16));
    TU_OK(unet_tiff_read(p, 0, &b));
    assert_int_equal(b.bits, 16);
    assert_same(&a, &b);
    unet_image_free(&a);
    unet_image_free(&b);

    /* 8-bit RGB */
    TU_OK(unet_image_alloc(&a, 19, 11, 3, 8));
    fill_random(&a, 255, 6);
    p = tmp_path("rgb8.tif");
    TU_OK(unet_tiff_write(p, &a, 8, 0));
    TU_OK(unet_tiff_read(p, 0, &b));
    assert_int_equal(b.c, 3);
    assert_int_equal(b.bits, 8);
    assert_same(&a, &b);
    unet_image_free(&a);
    unet_image_free(&b);
}

static void test_tiff_stack(void **state)
{
    (void)state;
    const char *p = tmp_path("stack.tif");
    unet_image a[3], b;
    for (int i = 0; i < 3; i++) {
        TU_OK(unet_image_alloc(&a[i], 33, 21, 1, 32));
        for (size_t k = 0; k < unet_image_count(&a[i]); k++) a[i].data[k] = (float)(i * 100000 + (int)k) * 0.25f;
        TU_OK(unet_tiff_write(p, &a[i], 32, 1)); /* the first append creates the file */
    }
    int pages = 0;
    TU_OK(unet_tiff_count_pages(p, &pages));
    assert_int_equal(pages, 3);
    TU_OK(unet_image_count_pages(p, &pages));
    assert_int_equal(pages, 3);
    for (int i = 2; i >= 0; i--) { /* out of order on purpose */
        TU_OK(unet_tiff_read(p, i, &b));
        assert_same(&a[i], &b);
        unet_image_free(&b);
    }
    unet_status st = unet_tiff_read(p, 3, &b);
    assert_int_equal(st, UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "stack.tif"));
    assert_null(b.data);
    /* a non-append write replaces the stack with one page */
    TU_OK(unet_tiff_write(p, &a[1], 16, 0));
    TU_OK(unet_tiff_count_pages(p, &pages));
    assert_int_equal(pages, 1);
    for (int i = 0; i < 3; i++) unet_image_free(&a[i]);
}

/* A TIFF written with libtiff directly: tiled, 16-bit, to check the tile path. */
static void test_tiff_tiled_and_unsupported(void **state)
{
    (void)state;
    const char *p = tmp_path("tiled.tif");
    const int w = 50, h = 40;
    TIFF *t = TIFFOpen(p, "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_COMPRESSION, (uint16_t)COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(t, TIFFTAG_TILEWIDTH, (uint32_t)16);
    TIFFSetField(t, TIFFTAG_TILELENGTH, (uint32_t)16);
    uint16_t tile[16 * 16];
    for (int ty = 0; ty < h; ty += 16)
        for (int tx = 0; tx < w; tx += 16) {
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) tile[y * 16 + x] = (uint16_t)((ty + y) * 1000 + (tx + x));
            assert_true(TIFFWriteTile(t, tile, (uint32_t)tx, (uint32_t)ty, 0, 0) > 0);
        }
    TIFFClose(t);
    unet_image b;
    TU_OK(unet_tiff_read(p, 0, &b));
    assert_int_equal(b.w, w);
    assert_int_equal(b.h, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) assert_true(*unet_image_at(&b, 0, y, x) == (float)(y * 1000 + x));
    unet_image_free(&b);

    /* signed 16-bit samples: unsupported layout */
    p = tmp_path("signed.tif");
    t = TIFFOpen(p, "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)4);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)2);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, (uint16_t)SAMPLEFORMAT_INT);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_MINISBLACK);
    int16_t row[4] = {-1, 2, -3, 4};
    TIFFWriteScanline(t, row, 0, 0);
    TIFFWriteScanline(t, row, 1, 0);
    TIFFClose(t);
    assert_int_equal(unet_image_read(p, 0, &b), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "signed.tif"));
    assert_non_null(strstr(unet_last_error(), "unsupported"));
    assert_null(b.data);

    /* RGB with separate planes: unsupported layout */
    p = tmp_path("planar.tif");
    t = TIFFOpen(p, "w");
    assert_non_null(t);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)4);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)1);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)3);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, (uint16_t)PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, (uint16_t)PLANARCONFIG_SEPARATE);
    uint8_t plane[4] = {1, 2, 3, 4};
    for (uint16_t s = 0; s < 3; s++) TIFFWriteScanline(t, plane, 0, s);
    TIFFClose(t);
    assert_int_equal(unet_image_read(p, 0, &b), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "planar.tif"));
    assert_non_null(strstr(unet_last_error(), "separate"));
}

/* ---- errors ----------------------------------------------------------------- */

static void expect_error(unet_status got, unet_status want, const char *name)
{
    if (got != want)
        fail_msg("expected %s, got %s: %s", unet_status_string(want), unet_status_string(got), unet_last_error());
    if (!strstr(unet_last_error(), name)) fail_msg("message does not name %s: %s", name, unet_last_error());
    print_message("  ok: %s\n", unet_last_error());
}

static void test_errors(void **state)
{
    (void)state;
    unet_image b;
    int pages;
    stderr_capture_begin();

    expect_error(unet_image_read(tmp_path("missing.png"), 0, &b), UNET_ERR_IO, "missing.png");
    expect_error(unet_png_read(tmp_path("missing.png"), &b), UNET_ERR_IO, "missing.png");
    expect_error(unet_tiff_read(tmp_path("missing.tif"), 0, &b), UNET_ERR_IO, "missing.tif");
    expect_error(unet_tiff_count_pages(tmp_path("missing.tif"), &pages), UNET_ERR_IO, "missing.tif");

    /* garbage */
    char garbage[300];
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (char)(i * 37 + 11);
    write_bytes(tmp_path("garbage.png"), garbage, sizeof garbage);
    expect_error(unet_image_read(tmp_path("garbage.png"), 0, &b), UNET_ERR_FORMAT, "garbage.png");
    expect_error(unet_png_read(tmp_path("garbage.png"), &b), UNET_ERR_FORMAT, "garbage.png");
    expect_error(unet_tiff_read(tmp_path("garbage.png"), 0, &b), UNET_ERR_FORMAT, "garbage.png");
    write_bytes(tmp_path("empty.tif"), "", 0);
    expect_error(unet_image_read(tmp_path("empty.tif"), 0, &b), UNET_ERR_FORMAT, "empty.tif");

    /* a TIFF header followed by garbage (IFD offset pointing past the end) */
    unsigned char bad_tiff[64] = {'I', 'I', 42, 0, 0xF0, 0xFF, 0, 0};
    for (int i = 8; i < 64; i++) bad_tiff[i] = (unsigned char)(i * 13);
    write_bytes(tmp_path("bad.tif"), bad_tiff, sizeof bad_tiff);
    expect_error(unet_image_read(tmp_path("bad.tif"), 0, &b), UNET_ERR_FORMAT, "bad.tif");
    expect_error(unet_tiff_count_pages(tmp_path("bad.tif"), &pages), UNET_ERR_FORMAT, "bad.tif");

    /* truncated PNG: a noisy 16-bit image cut in the middle of its data */
    unet_image a;
    TU_OK(unet_image_alloc(&a, 64, 64, 1, 16));
    fill_random(&a, 65535, 7);
    const char *full = tmp_path("full.png");
    TU_OK(unet_png_write(full, &a, 16));
    long n = file_size(full);
    assert_true(n > 4000);
    char *bytes = malloc((size_t)n);
    FILE *f = fopen(full, "rb");
    assert_int_equal(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    write_bytes(tmp_path("truncated.png"), bytes, (size_t)n / 2);
    expect_error(unet_image_read(tmp_path("truncated.png"), 0, &b), UNET_ERR_FORMAT, "truncated.png");
    assert_null(b.data);
    /* corrupt PNG: flip bytes inside the image data (CRC / zlib error) */
    for (long i = n / 2; i < n / 2 + 16; i++) bytes[i] ^= 0x5A;
    write_bytes(tmp_path("corrupt.png"), bytes, (size_t)n);
    expect_error(unet_image_read(tmp_path("corrupt.png"), 0, &b), UNET_ERR_FORMAT, "corrupt.png");
    free(bytes);

    /* truncated TIFF */
    TU_OK(unet_tiff_write(tmp_path("full.tif"), &a, 16, 0));
    n = file_size(tmp_path("full.tif"));
    bytes = malloc((size_t)n);
    f = fopen(tmp_path("full.tif"), "rb");
    assert_int_equal(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    /* libtiff writes the IFD after the data: keep the header, drop half the data */
    write_bytes(tmp_path("truncated.tif"), bytes, (size_t)n / 2);
    expect_error(unet_image_read(tmp_path("truncated.tif"), 0, &b), UNET_ERR_FORMAT, "truncated.tif");
    free(bytes);

    /* writing into a folder that does not exist */
    expect_error(unet_png_write(tmp_path("no/such/dir/x.png"), &a, 8), UNET_ERR_IO, "x.png");
    expect_error(unet_tiff_write(tmp_path("no/such/dir/x.tif"), &a, 8, 0), UNET_ERR_IO, "x.tif");
    /* appending to something that is not a TIFF */
    expect_error(unet_tiff_write(tmp_path("garbage.png"), &a, 8, 1), UNET_ERR_FORMAT, "garbage.png");
    unet_image_free(&a);

    long printed = stderr_capture_end();
    if (printed != 0) fail_msg("the library printed %ld bytes to stderr (see %s)", printed, g_errfile);
}

/* ---- listing ----------------------------------------------------------------- */

static void test_list(void **state)
{
    (void)state;
    char sub[1200];
    snprintf(sub, sizeof sub, "%s/list", g_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    const char *names[] = {"b.png", "a.tif", "c.TIFF", "notes.txt", "d.tiff.bak"};
    char p[1400];
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        write_bytes(p, "x", 1);
    }
    snprintf(p, sizeof p, "%s/dir.png", sub); /* a folder with an image name: skipped */
    assert_int_equal(mkdir(p, 0755), 0);

    char **paths;
    int n;
    TU_OK(unet_list_files(sub, &paths, &n));
    assert_int_equal(n, 3);
    const char *want[] = {"a.tif", "b.png", "c.TIFF"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, want[i]);
        assert_string_equal(paths[i], p);
    }
    unet_list_free(paths, n);

    snprintf(p, sizeof p, "%s/*.ti*", sub);
    TU_OK(unet_list_files(p, &paths, &n));
    assert_int_equal(n, 2); /* a.tif, d.tiff.bak (glob takes what it matches) */
    assert_non_null(strstr(paths[0], "a.tif"));
    assert_non_null(strstr(paths[1], "d.tiff.bak"));
    unet_list_free(paths, n);

    snprintf(p, sizeof p, "%s/b.png", sub);
    TU_OK(unet_list_files(p, &paths, &n));
    assert_int_equal(n, 1);
    assert_string_equal(paths[0], p);
    unet_list_free(paths, n);

    snprintf(p, sizeof p, "%s/*.jpg", sub);
    expect_error(unet_list_files(p, &paths, &n), UNET_ERR_IO, "*.jpg");
    assert_null(paths);
    assert_int_equal(n, 0);
    snprintf(p, sizeof p, "%s/nothing_here", sub);
    expect_error(unet_list_files(p, &paths, &n), UNET_ERR_IO, "nothing_here");
    snprintf(p, sizeof p, "%s/dir.png", sub);
    expect_error(unet_list_files(p, &paths, &n), UNET_ERR_IO, "dir.png");
}

/* ---- the shared real data --------------------------------------------------- */

static void test_shared_data(void **state)
{
    (void)state;
    const char *d = tu_shared_data();
    if (!d) {
        print_message("  SKIP: no shared data (../shared/data or $UNETCL_DATA_DIR)\n");
        skip();
    }
    char a[1200], b[1200];
    snprintf(a, sizeof a, "%s/dic-hela/01/tif/man_seg002.tif", d);
    snprintf(b, sizeof b, "%s/dic-hela/01/labels/t002.png", d);
    if (access(a, R_OK) != 0 || access(b, R_OK) != 0) {
        print_message("  SKIP: %s or %s missing\n", a, b);
    } else {
        unet_image ta, pb;
        TU_OK(unet_image_read(a, 0, &ta));
        TU_OK(unet_image_read(b, 0, &pb));
        assert_int_equal(ta.bits, 16);
        assert_int_equal(pb.bits, 16);
        assert_int_equal(ta.c, 1);
        assert_same(&ta, &pb);
        float maxv = 0;
        for (size_t i = 0; i < unet_image_count(&ta); i++) {
            assert_true(ta.data[i] == floorf(ta.data[i]));
            if (ta.data[i] > maxv) maxv = ta.data[i];
        }
        assert_true(maxv >= 2.0f); /* several instance ids */
        print_message("  dic-hela man_seg002.tif == t002.png (%d x %d, max id %g)\n", ta.w, ta.h, (double)maxv);
        unet_image_free(&ta);
        unet_image_free(&pb);
    }
    snprintf(a, sizeof a, "%s/isbi2012/train-volume.tif", d);
    if (access(a, R_OK) != 0) {
        print_message("  SKIP: %s missing\n", a);
        return;
    }
    int pages = 0;
    TU_OK(unet_image_count_pages(a, &pages));
    assert_int_equal(pages, 25);
    unet_image v;
    TU_OK(unet_image_read(a, 24, &v));
    assert_int_equal(v.w, 512);
    assert_int_equal(v.h, 512);
    assert_int_equal(v.bits, 8);
    snprintf(b, sizeof b, "%s/isbi2012/train/images/slice_24.png", d);
    if (access(b, R_OK) == 0) {
        unet_image s;
        TU_OK(unet_image_read(b, 0, &s));
        assert_same(&v, &s);
        print_message("  isbi2012 train-volume.tif page 24 == slice_24.png\n");
        unet_image_free(&s);
    }
    unet_image_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png8_roundtrip),
        cmocka_unit_test(test_png16_exact),
        cmocka_unit_test(test_png_rgb_and_clamp),
        cmocka_unit_test(test_png_layouts),
        cmocka_unit_test(test_tiff_roundtrips),
        cmocka_unit_test(test_tiff_stack),
        cmocka_unit_test(test_tiff_tiled_and_unsupported),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_shared_data),
    };
    /* No OpenCL is needed: run the group directly (tu_run would skip without a device). */
    return cmocka_run_group_tests_name("image", tests, setup, teardown);
}
