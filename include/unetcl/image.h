/* Host images and their PNG / TIFF files (libpng, libtiff).
 *
 * Reading keeps values as stored in the file (not normalised): 0..255 for
 * 8-bit, 0..65535 for 16-bit, the float values of a 32-bit float TIFF. Label
 * images therefore keep their exact integer ids (16-bit instance ids are
 * exact in float). Colour channels stay channels (c = 3 for RGB); alpha is
 * dropped; palette images are expanded to RGB; grey PNGs of 1, 2 or 4 bits are
 * scaled to 8 bits (0/1 -> 0/255), like most image tools do.
 *
 * Every function returns UNET_OK or an error status with a message (see
 * unet_last_error()) that names the file and the problem: UNET_ERR_IO when the
 * file cannot be opened, read or written, UNET_ERR_FORMAT when it is corrupt,
 * truncated, not of the expected kind or of an unsupported layout,
 * UNET_ERR_INVALID_ARGUMENT for bad parameters. Nothing is printed to stderr.
 */
#ifndef UNETCL_IMAGE_H
#define UNETCL_IMAGE_H

#include "unetcl/api.h"

#include "unetcl/core.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct unet_image {
    int w, h, c;
    int bits;    /* 8, 16 or 32 (float) of the source */
    float *data; /* c planes of h*w, channel-major, values as read (not normalised) */
} unet_image;

/* Allocates a zero-filled w x h x c image (data owned by the image). */
UNETCL_API unet_status unet_image_alloc(unet_image *img, int w, int h, int c, int bits);
/* Frees the data and zeroes the struct; safe on a zeroed or freed image. */
UNETCL_API void unet_image_free(unet_image *img);

static inline size_t unet_image_count(const unet_image *img)
{
    return (size_t)img->w * (size_t)img->h * (size_t)img->c;
}
/* Element (channel ch, row y, column x). */
static inline float *unet_image_at(const unet_image *img, int ch, int y, int x)
{
    return img->data + ((size_t)ch * img->h + (size_t)y) * img->w + x;
}

/* ---- reading ---------------------------------------------------------- */

/* A PNG file (8/16-bit grey, grey+alpha, RGB, RGBA, palette; interlaced too). */
UNETCL_API unet_status unet_png_read(const char *path, unet_image *img);

/* The number of pages (directories) of a TIFF file. */
UNETCL_API unet_status unet_tiff_count_pages(const char *path, int *pages);
/* Page `page` (0-based) of a TIFF file: 8/16-bit unsigned or 32-bit float
 * samples, grey or RGB (extra samples such as alpha are dropped), contiguous
 * planar configuration, stripped or tiled, any compression libtiff decodes. */
UNETCL_API unet_status unet_tiff_read(const char *path, int page, unet_image *img);

/* Reads PNG or TIFF, recognised by the file's magic bytes (the extension
 * only serves the error message). page must be 0 for PNG. */
UNETCL_API unet_status unet_image_read(const char *path, int page, unet_image *img);
/* 1 for PNG, the page count for TIFF. */
UNETCL_API unet_status unet_image_count_pages(const char *path, int *pages);

/* ---- writing ---------------------------------------------------------- */
/* Integer formats round each value to the nearest integer and clamp it to
 * 0 .. 2^bits-1 (NaN -> 0). Files are written to a temporary file in the same
 * folder and renamed over `path`, so a reader never sees a half-written file. */

/* PNG of bits 8 or 16; c = 1 (grey) or 3 (RGB). */
UNETCL_API unet_status unet_png_write(const char *path, const unet_image *img, int bits);

/* TIFF (LZW) of bits 8, 16 (unsigned) or 32 (float); c = 1 or 3.
 * append = 0: creates/replaces the file (atomically) with one page.
 * append = 1: adds a page at the end of an existing stack (created when
 * absent); the append is done in place, not atomically. */
UNETCL_API unet_status unet_tiff_write(const char *path, const unet_image *img, int bits, int append);

/* Chooses PNG or TIFF by the extension of path (.png, .tif, .tiff; case
 * insensitive). bits as above (PNG: 8 or 16). */
UNETCL_API unet_status unet_image_write(const char *path, const unet_image *img, int bits);

/* ---- listing ---------------------------------------------------------- */

/* Lists input files:
 *  - a directory: its *.png, *.tif, *.tiff files (case-insensitive), sorted;
 *  - an existing file: that file;
 *  - otherwise a glob(3) pattern: the matches, sorted (byte order).
 * *paths is a malloc'ed array of *n malloc'ed strings (free with
 * unet_list_free). Finding no file is an error (UNET_ERR_IO). */
UNETCL_API unet_status unet_list_files(const char *pattern_or_dir, char ***paths, int *n);
UNETCL_API void unet_list_free(char **paths, int n);

/* ---- streaming writing ---------------------------------------------------- */
/* Writes an image (or a TIFF stack) a few rows at a time, so that large
 * outputs never need to be held whole. The file is written to a temporary
 * name next to path and renamed over it by unet_image_writer_close(wr, 1).
 * Format by the extension (.png: one page; .tif/.tiff: any number of
 * pages, LZW). Values are converted as by the writers above. */
typedef struct unet_image_writer unet_image_writer;
UNETCL_API unet_status unet_image_writer_open(const char *path, int bits, unet_image_writer **wr);
/* Starts a page of w x h with c = 1 or 3 channels. */
UNETCL_API unet_status unet_image_writer_begin_page(unet_image_writer *wr, int w, int h, int c);
/* nrows rows: data[ch * plane_stride + y * w + x]. */
UNETCL_API unet_status unet_image_writer_rows(unet_image_writer *wr, const float *data, size_t plane_stride, int nrows);
/* Finishes the page after all its rows. */
UNETCL_API unet_status unet_image_writer_end_page(unet_image_writer *wr);
/* commit = 1: renames the finished file into place (an error if a page is
 * unfinished or something failed); commit = 0: discards it. Frees wr. */
UNETCL_API unet_status unet_image_writer_close(unet_image_writer *wr, int commit);

/* A tiled BigTIFF (64-bit offsets, so beyond 4 GiB) of tile x tile tiles
 * (a multiple of 16), LZW: the writer keeps one row of tiles
 * (tile x ceil(w / tile) * tile pixels), so large outputs stay in bounded
 * memory and read back quickly by region. */
UNETCL_API unet_status unet_image_writer_open_tiled(const char *path, int bits, int tile, unet_image_writer **wr);
/* The writer's own row buffers in bytes (a converted row; tiled: the row of
 * tiles and one tile) for the current page; the encoder's state not counted. */
UNETCL_API size_t unet_image_writer_buffer_bytes(const unet_image_writer *wr);

/* ---- streaming reading ------------------------------------------------------ */
/* Reads one page of a PNG (row by row through libpng; not interlaced) or a
 * TIFF (by strips or by tiles, BigTIFF too) top to bottom, keeping one
 * strip or one row of tiles decoded: memory grows with the width, not the
 * height. Values as unet_image_read gives them, with the same checks of the
 * header against the file. */
typedef struct unet_image_reader unet_image_reader;
UNETCL_API unet_status unet_image_reader_open(const char *path, int page, unet_image_reader **rd);
UNETCL_API void unet_image_reader_info(const unet_image_reader *rd, int *w, int *h, int *c, int *bits);
/* The next nrows rows: dst[ch * plane_stride + y * w + x]. */
UNETCL_API unet_status unet_image_reader_rows(unet_image_reader *rd, float *dst, size_t plane_stride, int nrows);
/* Back to row 0 (a PNG is opened again; a TIFF's strips are addressed). */
UNETCL_API unet_status unet_image_reader_rewind(unet_image_reader *rd);
/* Bytes of decoded rows the reader holds: PNG 3 rows + the 32 KiB inflate
 * window; TIFF one strip, or one row of tiles plus a tile. */
UNETCL_API size_t unet_image_reader_buffer_bytes(const unet_image_reader *rd);
UNETCL_API void unet_image_reader_close(unet_image_reader *rd);

/* Size of a side after resizing by `scale` ([data] scale): round(n * scale),
 * at least 1. */
UNETCL_API int unet_scaled_size(int n, double scale);

/* Bilinear resize of c planes h x w into c planes oh x ow, pixel centres
 * aligned (x_src = (x + 0.5) * w / ow - 0.5, clamped at the edges): halving
 * averages 2 x 2 blocks. */
UNETCL_API void unet_resize_bilinear(const float *in, int c, int h, int w, float *out, int oh, int ow);

/* Rows y0..y0+rows-1 of that resize only: out holds c planes of rows x ow. */
UNETCL_API void unet_resize_bilinear_rows(const float *in, int c, int h, int w, float *out, int oh, int ow, int y0, int rows);

/* Nearest-neighbour resize of a label image (ids are not blended). */
UNETCL_API void unet_resize_nearest_i32(const int32_t *in, int h, int w, int32_t *out, int oh, int ow);

/* ---- label images ---------------------------------------------------------- */

typedef enum unet_label_type {
    UNET_LABEL_INSTANCES = 0, /* integer instance ids, 0 = background */
    UNET_LABEL_BINARY = 1,    /* foreground where pixel == foreground_value */
    UNET_LABEL_CLASSES = 2    /* pixel value = class index 0..classes-1 */
} unet_label_type;

typedef struct unet_label_options {
    unet_label_type type;  /* [data] label_type */
    int foreground_value;  /* BINARY: the foreground's value (others must be 0) */
    int invert;            /* BINARY: foreground is where the value is 0 */
    int classes;           /* CLASSES: ids must be 0..classes-1 */
} unet_label_options;

/* INSTANCES, foreground 255, not inverted, 2 classes. */
UNETCL_API void unet_label_options_default(unet_label_options *o);

/* Reads page `page` of a label image (PNG or TIFF, one channel) into w x h
 * int32 values (malloc'ed; free with free()): INSTANCES: the ids as stored;
 * BINARY: 1 for foreground, 0 for background; CLASSES: the class ids.
 * Values that are not non-negative integers, a BINARY value other than 0 and
 * the foreground value, and a class id >= classes are UNET_ERR_DATA naming
 * the file, the pixel and the setting to check. */
UNETCL_API unet_status unet_labels_read(const char *path, int page, const unet_label_options *o, int32_t **ids, int *w,
                                        int *h);

#ifdef __cplusplus
}
#endif

#endif
