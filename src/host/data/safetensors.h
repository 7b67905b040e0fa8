/*
 * safetensors files: named tensors + a string map of metadata, the format of
 * Hugging Face's `safetensors` (loads in PyTorch with
 * safetensors.torch.load_file).
 *
 * Layout: 8-byte little-endian header length N; N bytes of JSON
 *   {"__metadata__":{"k":"v",...},
 *    "name":{"dtype":"F32","shape":[...],"data_offsets":[begin,end]},...}
 * padded with spaces so that N is a multiple of 8; then the data section:
 * raw little-endian tensors, contiguous, offsets relative to its start.
 *
 * Supported dtypes: F32, I32, I64, U8 (read and write). Other dtypes (F16,
 * BF16, F64, ...) are refused with a message naming the tensor.
 *
 * RNG state (uint64): store it as a metadata string in decimal
 * (unet_st_format_u64 / unet_st_meta_u64): exact, readable in Python as
 * int(meta["rng"]). An array of words can also go in an I64 tensor holding
 * the same bits (uint64 -> int64 two's complement).
 *
 * Writing is atomic: a temporary file in the target's folder, fflush, fsync,
 * rename over the target, fsync of the folder. On any failure the temporary
 * file is removed and an existing target is left untouched.
 *
 * Reading validates everything (header length against the file size, the
 * JSON, dtypes, shapes against offsets, contiguous offsets that exactly cover
 * the data section) and reports "FILE: tensor 'NAME': ..." messages with
 * UNET_ERR_FORMAT (UNET_ERR_IO when the file cannot be read).
 */
#ifndef UNETCL_SAFETENSORS_H
#define UNETCL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "unetcl/unetcl.h"

#define UNET_ST_MAX_DIM 8

typedef enum unet_st_dtype {
    UNET_ST_F32 = 0, /* the default of a zero-initialised unet_st_tensor */
    UNET_ST_I32 = 1,
    UNET_ST_I64 = 2,
    UNET_ST_U8 = 3
} unet_st_dtype;

/* "F32", "I32", "I64", "U8". */
const char *unet_st_dtype_name(unet_st_dtype dt);
size_t unet_st_dtype_size(unet_st_dtype dt);

/* One tensor to write. data points to prod(shape) elements of dtype (host
 * order; float for F32); it may be NULL when that product is 0. ndim 0 is a
 * scalar (one element). */
typedef struct unet_st_tensor {
    const char *name;
    const int64_t *shape;
    int ndim;
    const void *data;
    unet_st_dtype dtype;
} unet_st_tensor;

typedef struct unet_st_kv {
    const char *key;
    const char *value;
} unet_st_kv;

/* Writes n tensors and nmeta metadata entries to path, atomically. Names
 * must be unique, non-empty and not "__metadata__". Tensors are stored by
 * decreasing element size (so every tensor is aligned in the data section),
 * otherwise in the given order. */
unet_status unet_st_write(const char *path, const unet_st_tensor *tensors, size_t n, const unet_st_kv *meta,
                          size_t nmeta);

/* ---- reading -------------------------------------------------------------- */

typedef struct unet_st_file unet_st_file;

typedef struct unet_st_info {
    const char *name;
    unet_st_dtype dtype;
    int ndim;
    int64_t shape[UNET_ST_MAX_DIM];
    size_t numel;
    size_t nbytes;
    const void *data; /* host order, aligned to the element size; valid until close */
} unet_st_info;

/* Reads and validates a whole file. */
unet_status unet_st_open(const char *path, unet_st_file **file);
void unet_st_close(unet_st_file *file);

const char *unet_st_path(const unet_st_file *file);
size_t unet_st_count(const unet_st_file *file);
/* Tensor i (0..count-1) in the order of the data section. */
unet_status unet_st_at(const unet_st_file *file, size_t i, unet_st_info *info);
/* 1 if the file holds a tensor of that name. */
int unet_st_has(const unet_st_file *file, const char *name);
/* Looks a tensor up by name; UNET_ERR_FORMAT "FILE has no tensor 'NAME'" if absent. */
unet_status unet_st_find(const unet_st_file *file, const char *name, unet_st_info *info);
/* Float data of a F32 tensor. If shape is not NULL the tensor must have
 * exactly ndim dimensions of these sizes, else UNET_ERR_FORMAT with both
 * shapes in the message. */
unet_status unet_st_get_f32(const unet_st_file *file, const char *name, int ndim, const int64_t *shape,
                            const float **data);

/* Metadata value of key, or NULL if absent. */
const char *unet_st_meta(const unet_st_file *file, const char *key);
size_t unet_st_meta_count(const unet_st_file *file);
void unet_st_meta_at(const unet_st_file *file, size_t i, const char **key, const char **value);
/* Metadata value parsed as a decimal uint64 (see unet_st_format_u64). */
unet_status unet_st_meta_u64(const unet_st_file *file, const char *key, uint64_t *value);
/* Decimal text of v into buf (at least 21 bytes); returns buf. */
char *unet_st_format_u64(uint64_t v, char *buf);

#endif
