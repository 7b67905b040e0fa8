/* Internal: host images and their PNG / TIFF files (libpng, libtiff).
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

#include "unetcl/unetcl.h"

#include <stddef.h>

typedef struct unet_image {
    int w, h, c;
    int bits;    /* 8, 16 or 32 (float) of the source */
    float *data; /* c planes of h*w, channel-major, values as read (not normalised) */
} unet_image;

/* Allocates a zero-filled w x h x c image (data owned by the image). */
unet_status unet_image_alloc(unet_image *img, int w, int h, int c, int bits);
/* Frees the data and zeroes the struct; safe on a zeroed or freed image. */
void unet_image_free(unet_image *img);

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
unet_status unet_png_read(const char *path, unet_image *img);

/* The number of pages (directories) of a TIFF file. */
unet_status unet_tiff_count_pages(const char *path, int *pages);
/* Page `page` (0-based) of a TIFF file: 8/16-bit unsigned or 32-bit float
 * samples, grey or RGB (extra samples such as alpha are dropped), contiguous
 * planar configuration, stripped or tiled, any compression libtiff decodes. */
unet_status unet_tiff_read(const char *path, int page, unet_image *img);

/* Reads PNG or TIFF, recognised by the file's magic bytes (the extension
 * only serves the error message). page must be 0 for PNG. */
unet_status unet_image_read(const char *path, int page, unet_image *img);
/* 1 for PNG, the page count for TIFF. */
unet_status unet_image_count_pages(const char *path, int *pages);

/* ---- writing ---------------------------------------------------------- */
/* Integer formats round each value to the nearest integer and clamp it to
 * 0 .. 2^bits-1 (NaN -> 0). Files are written to a temporary file in the same
 * folder and renamed over `path`, so a reader never sees a half-written file. */

/* PNG of bits 8 or 16; c = 1 (grey) or 3 (RGB). */
unet_status unet_png_write(const char *path, const unet_image *img, int bits);

/* TIFF (LZW) of bits 8, 16 (unsigned) or 32 (float); c = 1 or 3.
 * append = 0: creates/replaces the file (atomically) with one page.
 * append = 1: adds a page at the end of an existing stack (created when
 * absent); the append is done in place, not atomically. */
unet_status unet_tiff_write(const char *path, const unet_image *img, int bits, int append);

/* Chooses PNG or TIFF by the extension of path (.png, .tif, .tiff; case
 * insensitive). bits as above (PNG: 8 or 16). */
unet_status unet_image_write(const char *path, const unet_image *img, int bits);

/* ---- listing ---------------------------------------------------------- */

/* Lists input files:
 *  - a directory: its *.png, *.tif, *.tiff files (case-insensitive), sorted;
 *  - an existing file: that file;
 *  - otherwise a glob(3) pattern: the matches, sorted (byte order).
 * *paths is a malloc'ed array of *n malloc'ed strings (free with
 * unet_list_free). Finding no file is an error (UNET_ERR_IO). */
unet_status unet_list_files(const char *pattern_or_dir, char ***paths, int *n);
void unet_list_free(char **paths, int n);

/* ---- streaming writing ---------------------------------------------------- */
/* Writes an image (or a TIFF stack) a few rows at a time, so that large
 * outputs never need to be held whole. The file is written to a temporary
 * name next to path and renamed over it by unet_image_writer_close(wr, 1).
 * Format by the extension (.png: one page; .tif/.tiff: any number of
 * pages, LZW). Values are converted as by the writers above. */
typedef struct unet_image_writer unet_image_writer;
unet_status unet_image_writer_open(const char *path, int bits, unet_image_writer **wr);
/* Starts a page of w x h with c = 1 or 3 channels. */
unet_status unet_image_writer_begin_page(unet_image_writer *wr, int w, int h, int c);
/* nrows rows: data[ch * plane_stride + y * w + x]. */
unet_status unet_image_writer_rows(unet_image_writer *wr, const float *data, size_t plane_stride, int nrows);
/* Finishes the page after all its rows. */
unet_status unet_image_writer_end_page(unet_image_writer *wr);
/* commit = 1: renames the finished file into place (an error if a page is
 * unfinished or something failed); commit = 0: discards it. Frees wr. */
unet_status unet_image_writer_close(unet_image_writer *wr, int commit);

/* A tiled BigTIFF (64-bit offsets, so beyond 4 GiB) of tile x tile tiles
 * (a multiple of 16), LZW: the writer keeps one row of tiles
 * (tile x ceil(w / tile) * tile pixels), so large outputs stay in bounded
 * memory and read back quickly by region. */
unet_status unet_image_writer_open_tiled(const char *path, int bits, int tile, unet_image_writer **wr);
/* The writer's own row buffers in bytes (a converted row; tiled: the row of
 * tiles and one tile) for the current page; the encoder's state not counted. */
size_t unet_image_writer_buffer_bytes(const unet_image_writer *wr);

/* ---- streaming reading ------------------------------------------------------ */
/* Reads one page of a PNG (row by row through libpng; not interlaced) or a
 * TIFF (by strips or by tiles, BigTIFF too) top to bottom, keeping one
 * strip or one row of tiles decoded: memory grows with the width, not the
 * height. Values as unet_image_read gives them, with the same checks of the
 * header against the file. */
typedef struct unet_image_reader unet_image_reader;
unet_status unet_image_reader_open(const char *path, int page, unet_image_reader **rd);
void unet_image_reader_info(const unet_image_reader *rd, int *w, int *h, int *c, int *bits);
/* The next nrows rows: dst[ch * plane_stride + y * w + x]. */
unet_status unet_image_reader_rows(unet_image_reader *rd, float *dst, size_t plane_stride, int nrows);
/* Back to row 0 (a PNG is opened again; a TIFF's strips are addressed). */
unet_status unet_image_reader_rewind(unet_image_reader *rd);
/* Bytes of decoded rows the reader holds: PNG 3 rows + the 32 KiB inflate
 * window; TIFF one strip, or one row of tiles plus a tile. */
size_t unet_image_reader_buffer_bytes(const unet_image_reader *rd);
void unet_image_reader_close(unet_image_reader *rd);

/* Size of a side after resizing by `scale` ([data] scale): round(n * scale),
 * at least 1. */
int unet_scaled_size(int n, double scale);

/* Bilinear resize of c planes h x w into c planes oh x ow, pixel centres
 * aligned (x_src = (x + 0.5) * w / ow - 0.5, clamped at the edges): halving
 * averages 2 x 2 blocks. */
void unet_resize_bilinear(const float *in, int c, int h, int w, float *out, int oh, int ow);

/* Rows y0..y0+rows-1 of that resize only: out holds c planes of rows x ow. */
void unet_resize_bilinear_rows(const float *in, int c, int h, int w, float *out, int oh, int ow, int y0, int rows);

/* Nearest-neighbour resize of a label image (ids are not blended). */
void unet_resize_nearest_i32(const int32_t *in, int h, int w, int32_t *out, int oh, int ow);

#endif
