/* safetensors reader and atomic writer (see safetensors.h). */
#define _POSIX_C_SOURCE 200809L
#include "safetensors.h"
#include "atomicfile.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "error.h"

/* Largest accepted JSON header (the reference implementation's limit). */
#define ST_MAX_HEADER (100u << 20)

static const char *const DT_NAMES[] = {"F32", "I32", "I64", "U8"};
static const size_t DT_SIZES[] = {4, 4, 8, 1};

const char *unet_st_dtype_name(unet_st_dtype dt)
{
    return (unsigned)dt < 4 ? DT_NAMES[dt] : "?";
}

size_t unet_st_dtype_size(unet_st_dtype dt) { return (unsigned)dt < 4 ? DT_SIZES[dt] : 0; }

static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static void byteswap(void *p, size_t elsize, size_t count)
{
    unsigned char *b = p;
    if (elsize < 2) return;
    for (size_t i = 0; i < count; i++, b += elsize)
        for (size_t j = 0; j < elsize / 2; j++) {
            unsigned char t = b[j];
            b[j] = b[elsize - 1 - j];
            b[elsize - 1 - j] = t;
        }
}

char *unet_st_format_u64(uint64_t v, char *buf)
{
    snprintf(buf, 21, "%" PRIu64, v);
    return buf;
}

/* prod(shape) * elsize with overflow detection; -1 on overflow. */
static int tensor_bytes(const int64_t *shape, int ndim, size_t elsize, size_t *numel, size_t *nbytes)
{
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t s = (uint64_t)shape[d];
        if (s != 0 && n > UINT64_MAX / s) return -1;
        n *= s;
    }
    if (n > SIZE_MAX / elsize || n > (uint64_t)INT64_MAX / elsize) return -1;
    *numel = (size_t)n;
    *nbytes = (size_t)n * elsize;
    return 0;
}

static void format_shape(const int64_t *shape, int ndim, char *out, size_t n)
{
    size_t len = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < ndim && len < n; d++)
        len += (size_t)snprintf(out + len, n - len, "%s%" PRId64, d ? "," : "", shape[d]);
    if (len < n) snprintf(out + len, n - len, "]");
}

/* ---- writer ----------------------------------------------------------------- */

static unet_status write_all(FILE *f, const void *p, size_t n, const char *path)
{
    if (n && fwrite(p, 1, n, f) != n) return unet_write_fail(errno ? errno : EIO, path);
    return UNET_OK;
}

static char *build_header(const unet_st_tensor *t, size_t n, const size_t *order, const unet_st_kv *meta,
                          size_t nmeta, size_t *data_size)
{
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    char num[64];
    if (ok && nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        ok = m != NULL;
        for (size_t i = 0; ok && i < nmeta; i++)
            ok = cJSON_AddStringToObject(m, meta[i].key, meta[i].value) != NULL;
    }
    uint64_t off = 0;
    for (size_t k = 0; ok && k < n; k++) {
        const unet_st_tensor *x = &t[order[k]];
        size_t numel = 0, nbytes = 0;
        tensor_bytes(x->shape, x->ndim, DT_SIZES[x->dtype], &numel, &nbytes); /* checked by caller */
        cJSON *o = cJSON_AddObjectToObject(root, x->name);
        cJSON *shape = o ? cJSON_AddArrayToObject(o, "shape") : NULL;
        cJSON *offs = NULL;
        ok = o && cJSON_AddStringToObject(o, "dtype", DT_NAMES[x->dtype]) && shape;
        /* exact integers (cJSON would print large doubles with an exponent) */
        for (int d = 0; ok && d < x->ndim; d++) {
            snprintf(num, sizeof num, "%" PRId64, x->shape[d]);
            cJSON *v = cJSON_CreateRaw(num);
            ok = v && cJSON_AddItemToArray(shape, v);
        }
        if (ok) ok = (offs = cJSON_AddArrayToObject(o, "data_offsets")) != NULL;
        for (int e = 0; ok && e < 2; e++) {
            snprintf(num, sizeof num, "%" PRIu64, e ? off + nbytes : off);
            cJSON *v = cJSON_CreateRaw(num);
            ok = v && cJSON_AddItemToArray(offs, v);
        }
        off += nbytes;
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    *data_size = (size_t)off;
    return s;
}

unet_status unet_st_write(const char *path, const unet_st_tensor *t, size_t n, const unet_st_kv *meta,
                          size_t nmeta)
{
    if (!path || !*path || (n && !t) || (nmeta && !meta))
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_write: NULL or empty argument");
    if (strlen(path) > 4000)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_write: path too long");
    /* validate the request */
    for (size_t i = 0; i < n; i++) {
        const unet_st_tensor *x = &t[i];
        size_t numel, nbytes;
        if (!x->name || !*x->name || strcmp(x->name, "__metadata__") == 0)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': tensor %zu has an empty or reserved name",
                               path, i);
        if ((unsigned)x->dtype >= 4)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': tensor '%s' has an unknown dtype %d",
                               path, x->name, (int)x->dtype);
        if (x->ndim < 0 || x->ndim > UNET_ST_MAX_DIM || (x->ndim > 0 && !x->shape))
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': tensor '%s' has %d dimensions (0..%d)",
                               path, x->name, x->ndim, UNET_ST_MAX_DIM);
        for (int d = 0; d < x->ndim; d++)
            if (x->shape[d] < 0)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': tensor '%s' has a negative size",
                                   path, x->name);
        if (tensor_bytes(x->shape, x->ndim, DT_SIZES[x->dtype], &numel, &nbytes))
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': tensor '%s' is too large", path,
                               x->name);
        if (nbytes && !x->data)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': tensor '%s' has no data", path,
                               x->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t[j].name, x->name) == 0)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': two tensors are named '%s'",
                                   path, x->name);
    }
    for (size_t i = 0; i < nmeta; i++) {
        if (!meta[i].key || !*meta[i].key || !meta[i].value)
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': metadata entry %zu has no key or value",
                               path, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(meta[j].key, meta[i].key) == 0)
                return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "writing '%s': metadata key '%s' given twice",
                                   path, meta[i].key);
    }

    /* order: by decreasing element size (alignment), stable */
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!order) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing '%s': out of memory", path);
    size_t k = 0;
    for (size_t es = 8; es >= 1; es /= 2)
        for (size_t i = 0; i < n; i++)
            if (DT_SIZES[t[i].dtype] == es) order[k++] = i;

    size_t data_size = 0;
    char *json = build_header(t, n, order, meta, nmeta, &data_size);
    if (!json) {
        free(order);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing '%s': out of memory building the header", path);
    }
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    unsigned char len8[8];
    for (int b = 0; b < 8; b++) len8[b] = (unsigned char)((uint64_t)hl >> (8 * b));

    unet_atomic_file af;
    unet_status st = unet_atomic_open(&af, path);
    if (st != UNET_OK) goto out;
    FILE *f = af.f;
    errno = 0;
    st = write_all(f, len8, 8, path);
    if (st == UNET_OK) st = write_all(f, json, jl, path);
    for (size_t p = jl; st == UNET_OK && p < hl; p++) st = write_all(f, " ", 1, path);
    for (size_t i = 0; st == UNET_OK && i < n; i++) {
        const unet_st_tensor *x = &t[order[i]];
        size_t numel = 0, nbytes = 0, es = DT_SIZES[x->dtype];
        tensor_bytes(x->shape, x->ndim, es, &numel, &nbytes);
        if (host_is_le() || es == 1) {
            st = write_all(f, x->data, nbytes, path);
        } else {
            unsigned char buf[4096];
            for (size_t off = 0; st == UNET_OK && off < nbytes; off += sizeof buf) {
                size_t c = nbytes - off < sizeof buf ? nbytes - off : sizeof buf;
                memcpy(buf, (const unsigned char *)x->data + off, c);
                byteswap(buf, es, c / es);
                st = write_all(f, buf, c, path);
            }
        }
    }
    if (st != UNET_OK) unet_atomic_abort(&af);
    else st = unet_atomic_commit(&af);
out:
    free(json);
    free(order);
    return st;
}

/* ---- reader ----------------------------------------------------------------- */

typedef struct st_entry {
    char *name;
    unet_st_dtype dtype;
    int ndim;
    int64_t shape[UNET_ST_MAX_DIM];
    size_t numel, nbytes;
    uint64_t begin, end;
    void *own; /* aligned copy when the file's offset is misaligned */
} st_entry;

struct unet_st_file {
    char *path;
    unsigned char *data; /* the data section */
    size_t data_size;
    st_entry *t;
    size_t n;
    char **mkey, **mval;
    size_t nmeta;
};

void unet_st_close(unet_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].own);
    }
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->mkey[i]);
        free(f->mval[i]);
    }
    free(f->t);
    free(f->mkey);
    free(f->mval);
    free(f->data);
    free(f->path);
    free(f);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A guess at what a foreign file is, from its first bytes. */
static const char *sniff(const unsigned char *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "a PNG image";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "a TIFF image";
    if (n >= 3 && memcmp(b, "\xff\xd8\xff", 3) == 0) return "a JPEG image";
    if (n >= 4 && memcmp(b, "PK\x03\x04", 4) == 0)
        return "a zip archive (a PyTorch .pt/.pth file? convert it with safetensors.torch.save_file)";
    if (n >= 2 && b[0] == 0x80 && b[1] <= 5) return "a Python pickle (convert it with safetensors.torch.save_file)";
    if (n >= 1 && (b[0] == '{' || b[0] == '[' || b[0] == ';')) return "a text file";
    return NULL;
}

/* Reads a non-negative integer JSON number into *v. */
static int json_u64(const cJSON *j, uint64_t *v)
{
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0) || d != floor(d) || d > 9007199254740992.0) return -1; /* 2^53 */
    *v = (uint64_t)d;
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

#define FMT(...) unet_seterr(UNET_ERR_FORMAT, __VA_ARGS__)

static unet_status parse_entry(unet_st_file *f, const cJSON *o, st_entry *e)
{
    const char *p = f->path, *name = e->name;
    if (!cJSON_IsObject(o)) return FMT("%s: tensor '%s': header entry is not a JSON object", p, name);
    const cJSON *dt = NULL, *shape = NULL, *offs = NULL, *it;
    cJSON_ArrayForEach(it, o)
    {
        if (strcmp(it->string, "dtype") == 0 && !dt) dt = it;
        else if (strcmp(it->string, "shape") == 0 && !shape) shape = it;
        else if (strcmp(it->string, "data_offsets") == 0 && !offs) offs = it;
        else return FMT("%s: tensor '%s': unexpected or repeated field \"%s\"", p, name, it->string);
    }
    if (!dt || !shape || !offs)
        return FMT("%s: tensor '%s': missing \"%s\"", p, name, !dt ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!cJSON_IsString(dt)) return FMT("%s: tensor '%s': dtype is not a string", p, name);
    int found = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(dt->valuestring, DT_NAMES[i]) == 0) found = i;
    if (found < 0) {
        static const char *const known[] = {"F16", "BF16", "F64", "I8", "I16", "U16", "U32", "U64", "BOOL",
                                            "F8_E4M3", "F8_E5M2", "C64", NULL};
        for (int i = 0; known[i]; i++)
            if (strcmp(dt->valuestring, known[i]) == 0)
                return FMT("%s: tensor '%s' has dtype %s, which unetcl does not read (only F32, I32, I64, "
                           "U8): convert it to float32 in Python (tensor.float()) and save again",
                           p, name, dt->valuestring);
        return FMT("%s: tensor '%s' has an unknown dtype \"%.32s\"", p, name, dt->valuestring);
    }
    e->dtype = (unet_st_dtype)found;
    if (!cJSON_IsArray(shape)) return FMT("%s: tensor '%s': shape is not an array", p, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > UNET_ST_MAX_DIM)
        return FMT("%s: tensor '%s' has %d dimensions (at most %d supported)", p, name, nd, UNET_ST_MAX_DIM);
    e->ndim = nd;
    int d = 0;
    cJSON_ArrayForEach(it, shape)
    {
        uint64_t v;
        if (json_u64(it, &v)) return FMT("%s: tensor '%s': shape entries must be non-negative integers", p, name);
        e->shape[d++] = (int64_t)v;
    }
    if (tensor_bytes(e->shape, e->ndim, DT_SIZES[e->dtype], &e->numel, &e->nbytes))
        return FMT("%s: tensor '%s': shape is too large", p, name);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || json_u64(offs->child, &e->begin) ||
        json_u64(offs->child->next, &e->end))
        return FMT("%s: tensor '%s': data_offsets must be [begin, end] with non-negative integers", p, name);
    if (e->end < e->begin)
        return FMT("%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", p, name,
                   e->begin, e->end);
    if (e->end - e->begin != e->nbytes) {
        char sh[160];
        format_shape(e->shape, e->ndim, sh, sizeof sh);
        return FMT("%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                   " bytes but shape %s of %s needs %zu bytes",
                   p, name, e->begin, e->end, e->end - e->begin, sh, DT_NAMES[e->dtype], e->nbytes);
    }
    return UNET_OK;
}

static unet_status parse_header(unet_st_file *f, const char *hdr, size_t hl, uint64_t file_size)
{
    const char *p = f->path;
    const char *end = NULL;
    size_t first = 0;
    while (first < hl && (hdr[first] == ' ' || hdr[first] == '\n' || hdr[first] == '\r' || hdr[first] == '\t'))
        first++;
    if (first == hl || hdr[first] != '{')
        return FMT("%s: not a safetensors file (the header does not start with a JSON object)", p);
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hl, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = (ep && ep >= hdr && ep <= hdr + hl) ? (long)(ep - hdr) : -1;
        return FMT("%s: the JSON header is malformed (near byte %ld of %zu)", p, at + 8, hl + 8);
    }
    unet_status st = UNET_OK;
    for (const char *q = end; q < hdr + hl; q++)
        if (*q != ' ' && *q != '\n' && *q != '\r' && *q != '\t' && *q != '\0') {
            st = FMT("%s: unexpected bytes after the JSON header (at byte %ld)", p, (long)(q - hdr) + 8);
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        st = FMT("%s: the JSON header is not an object", p);
        goto done;
    }
    size_t count = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) count++;
    f->t = calloc(count ? count : 1, sizeof *f->t);
    if (!f->t) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", p);
        goto done;
    }
    int have_meta = 0;
    cJSON_ArrayForEach(it, root)
    {
        if (strcmp(it->string, "__metadata__") == 0) {
            if (have_meta++) {
                st = FMT("%s: __metadata__ appears twice", p);
                goto done;
            }
            if (!cJSON_IsObject(it)) {
                st = FMT("%s: __metadata__ is not a JSON object", p);
                goto done;
            }
            size_t m = 0;
            const cJSON *kv;
            cJSON_ArrayForEach(kv, it) m++;
            f->mkey = calloc(m ? m : 1, sizeof *f->mkey);
            f->mval = calloc(m ? m : 1, sizeof *f->mval);
            if (!f->mkey || !f->mval) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", p);
                goto done;
            }
            cJSON_ArrayForEach(kv, it)
            {
                if (!cJSON_IsString(kv)) {
                    st = FMT("%s: metadata '%s' is not a string (safetensors metadata maps strings to strings)",
                             p, kv->string);
                    goto done;
                }
                for (size_t j = 0; j < f->nmeta; j++)
                    if (strcmp(f->mkey[j], kv->string) == 0) {
                        st = FMT("%s: metadata key '%s' appears twice", p, kv->string);
                        goto done;
                    }
                f->mkey[f->nmeta] = xstrdup(kv->string);
                f->mval[f->nmeta] = xstrdup(kv->valuestring);
                if (!f->mkey[f->nmeta] || !f->mval[f->nmeta]) {
                    free(f->mkey[f->nmeta]);
                    free(f->mval[f->nmeta]);
                    st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", p);
                    goto done;
                }
                f->nmeta++;
            }
            continue;
        }
        if (!*it->string) {
            st = FMT("%s: a tensor has an empty name", p);
            goto done;
        }
        for (size_t j = 0; j < f->n; j++)
            if (strcmp(f->t[j].name, it->string) == 0) {
                st = FMT("%s: tensor '%s' appears twice in the header", p, it->string);
                goto done;
            }
        st_entry *e = &f->t[f->n];
        e->name = xstrdup(it->string);
        if (!e->name) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", p);
            goto done;
        }
        f->n++;
        st = parse_entry(f, it, e);
        if (st != UNET_OK) goto done;
    }

    /* offsets: within the data section, contiguous from 0, covering it exactly */
    {
        uint64_t data_size = file_size - 8 - hl;
        st_entry **by = malloc((f->n ? f->n : 1) * sizeof *by);
        if (!by) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", p);
            goto done;
        }
        uint64_t max_end = 0;
        const st_entry *last = NULL;
        for (size_t i = 0; i < f->n; i++) {
            by[i] = &f->t[i];
            if (f->t[i].end > max_end) max_end = f->t[i].end, last = &f->t[i];
        }
        if (max_end > data_size) {
            st = FMT("%s: the file is truncated: tensor '%s' ends at byte %" PRIu64 " of the data section "
                     "but only %" PRIu64 " bytes follow the header (the file should have %" PRIu64
                     " bytes, it has %" PRIu64 ")",
                     p, last->name, max_end, data_size, 8 + hl + max_end, file_size);
            free(by);
            goto done;
        }
        qsort(by, f->n, sizeof *by, cmp_begin);
        uint64_t pos = 0;
        for (size_t i = 0; i < f->n; i++) {
            if (by[i]->begin != pos) {
                if (i == 0)
                    st = FMT("%s: tensor '%s' starts at byte %" PRIu64 " of the data section; the first tensor "
                             "must start at 0",
                             p, by[i]->name, by[i]->begin);
                else
                    st = FMT("%s: tensor '%s' starts at byte %" PRIu64 " but the previous tensor '%s' ends at %"
                             PRIu64 ": the data offsets must be contiguous, without gaps or overlaps",
                             p, by[i]->name, by[i]->begin, by[i - 1]->name, pos);
                free(by);
                goto done;
            }
            pos = by[i]->end;
        }
        free(by);
        if (pos != data_size) {
            st = FMT("%s: %" PRIu64 " unexpected bytes after the last tensor (data section of %" PRIu64
                     " bytes, tensors cover %" PRIu64 ")",
                     p, data_size - pos, data_size, pos);
            goto done;
        }
        f->data_size = (size_t)data_size;
    }
done:
    cJSON_Delete(root);
    return st;
}

static int cmp_entry_begin(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static unet_status read_exact(FILE *fp, void *buf, size_t n, const char *path)
{
    if (n && fread(buf, 1, n, fp) != n)
        return ferror(fp) ? unet_seterr(UNET_ERR_IO, "%s: read error: %s", path, strerror(errno))
                          : FMT("%s: the file is truncated (it changed while being read?)", path);
    return UNET_OK;
}

unet_status unet_st_open(const char *path, unet_st_file **out)
{
    if (!path || !out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_open: NULL argument");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return unet_seterr(UNET_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    unet_st_file *f = calloc(1, sizeof *f);
    char *hdr = NULL;
    unet_status st = UNET_OK;
    struct stat sb;
    if (!f || !(f->path = xstrdup(path))) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = unet_seterr(UNET_ERR_IO, "'%s' is not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char head[16] = {0};
    size_t got = fread(head, 1, sizeof head, fp);
    const char *kind = sniff(head, got);
    if (size < 8) {
        st = FMT("%s: not a safetensors file (%" PRIu64 " bytes, too short to hold the 8-byte header length)",
                 path, size);
        goto fail;
    }
    uint64_t hl = 0;
    for (int b = 7; b >= 0; b--) hl = (hl << 8) | head[b];
    if (hl < 2 || hl > ST_MAX_HEADER || hl > size - 8) {
        if (kind)
            st = FMT("%s: not a safetensors file: it looks like %s", path, kind);
        else if (hl > ST_MAX_HEADER || hl < 2)
            st = FMT("%s: not a safetensors file (the first 8 bytes give an implausible header length of %" PRIu64
                     " bytes)",
                     path, hl);
        else
            st = FMT("%s: not a safetensors file, or truncated: the header length is %" PRIu64
                     " bytes but only %" PRIu64 " bytes follow",
                     path, hl, size - 8);
        goto fail;
    }
    hdr = malloc((size_t)hl + 1);
    if (!hdr) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory for a %" PRIu64 "-byte header", path, hl);
        goto fail;
    }
    if (fseek(fp, 8, SEEK_SET) != 0) {
        st = unet_seterr(UNET_ERR_IO, "%s: seek failed: %s", path, strerror(errno));
        goto fail;
    }
    if ((st = read_exact(fp, hdr, (size_t)hl, path)) != UNET_OK) goto fail;
    hdr[hl] = '\0';
    if ((st = parse_header(f, hdr, (size_t)hl, size)) != UNET_OK) goto fail;
    /* the data section */
    f->data = malloc(f->data_size ? f->data_size : 1);
    if (!f->data) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu bytes of tensor data", path,
                         f->data_size);
        goto fail;
    }
    if ((st = read_exact(fp, f->data, f->data_size, path)) != UNET_OK) goto fail;
    /* keep the tensors in data order; align, convert to host order */
    qsort(f->t, f->n, sizeof *f->t, cmp_entry_begin);
    for (size_t i = 0; i < f->n; i++) {
        st_entry *e = &f->t[i];
        size_t es = DT_SIZES[e->dtype];
        unsigned char *src = f->data + e->begin;
        if (((uintptr_t)src % es) != 0) {
            e->own = malloc(e->nbytes ? e->nbytes : 1);
            if (!e->own) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
                goto fail;
            }
            memcpy(e->own, src, e->nbytes);
        }
        if (!host_is_le()) byteswap(e->own ? e->own : src, es, e->numel);
    }
    free(hdr);
    fclose(fp);
    *out = f;
    return UNET_OK;
fail:
    free(hdr);
    fclose(fp);
    unet_st_close(f);
    return st;
}

const char *unet_st_path(const unet_st_file *f) { return f ? f->path : ""; }
size_t unet_st_count(const unet_st_file *f) { return f ? f->n : 0; }

static void fill_info(const unet_st_file *f, const st_entry *e, unet_st_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = e->name;
    info->dtype = e->dtype;
    info->ndim = e->ndim;
    memcpy(info->shape, e->shape, sizeof e->shape);
    info->numel = e->numel;
    info->nbytes = e->nbytes;
    info->data = e->own ? e->own : (const void *)(f->data + e->begin);
}

unet_status unet_st_at(const unet_st_file *f, size_t i, unet_st_info *info)
{
    if (!f || !info || i >= f->n)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_at: index %zu out of range", i);
    fill_info(f, &f->t[i], info);
    return UNET_OK;
}

static const st_entry *lookup(const unet_st_file *f, const char *name)
{
    for (size_t i = 0; f && name && i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

int unet_st_has(const unet_st_file *f, const char *name) { return lookup(f, name) != NULL; }

unet_status unet_st_find(const unet_st_file *f, const char *name, unet_st_info *info)
{
    if (!f || !name || !info) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_find: NULL argument");
    const st_entry *e = lookup(f, name);
    if (!e) return FMT("%s has no tensor '%s' (it holds %zu tensors)", f->path, name, f->n);
    fill_info(f, e, info);
    return UNET_OK;
}

unet_status unet_st_get_f32(const unet_st_file *f, const char *name, int ndim, const int64_t *shape,
                            const float **data)
{
    unet_st_info info;
    if (!data) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_get_f32: NULL argument");
    UNET_TRY(unet_st_find(f, name, &info));
    if (info.dtype != UNET_ST_F32)
        return FMT("%s: tensor '%s' has dtype %s, expected F32", f->path, name, DT_NAMES[info.dtype]);
    if (shape) {
        int same = info.ndim == ndim;
        for (int d = 0; same && d < ndim; d++) same = info.shape[d] == shape[d];
        if (!same) {
            char a[160], b[160];
            format_shape(info.shape, info.ndim, a, sizeof a);
            format_shape(shape, ndim < 0 ? 0 : ndim > UNET_ST_MAX_DIM ? UNET_ST_MAX_DIM : ndim, b, sizeof b);
            return FMT("%s: tensor '%s' has shape %s, expected %s (a model of another configuration?)", f->path,
                       name, a, b);
        }
    }
    *data = info.data;
    return UNET_OK;
}

const char *unet_st_meta(const unet_st_file *f, const char *key)
{
    for (size_t i = 0; f && key && i < f->nmeta; i++)
        if (strcmp(f->mkey[i], key) == 0) return f->mval[i];
    return NULL;
}

size_t unet_st_meta_count(const unet_st_file *f) { return f ? f->nmeta : 0; }

void unet_st_meta_at(const unet_st_file *f, size_t i, const char **key, const char **value)
{
    int ok = f && i < f->nmeta;
    if (key) *key = ok ? f->mkey[i] : NULL;
    if (value) *value = ok ? f->mval[i] : NULL;
}

unet_status unet_st_meta_u64(const unet_st_file *f, const char *key, uint64_t *value)
{
    if (!f || !key || !value) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_st_meta_u64: NULL argument");
    const char *s = unet_st_meta(f, key);
    if (!s) return FMT("%s has no metadata '%s'", f->path, key);
    uint64_t v = 0;
    const char *q = s;
    if (!*q) return FMT("%s: metadata '%s' is empty, expected an unsigned integer", f->path, key);
    for (; *q; q++) {
        if (*q < '0' || *q > '9') return FMT("%s: metadata '%s' = \"%.40s\" is not an unsigned integer", f->path, key, s);
        unsigned digit = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - digit) / 10) return FMT("%s: metadata '%s' does not fit in 64 bits", f->path, key);
        v = v * 10 + digit;
    }
    *value = v;
    return UNET_OK;
}
