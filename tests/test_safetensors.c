/* safetensors: round trip, refusal of truncated/foreign/corrupt files, atomic
 * writes. No OpenCL needed.
 *
 *   test_safetensors                 run the tests
 *   test_safetensors --write FILE    write the fixed file that
 *                                    test_safetensors_torch.sh checks in Python
 *   test_safetensors --dump FILE     print every tensor and metadata entry
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safetensors.h"

static char g_dir[256];

static const char *tpath(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* A file from a literal header (padded to 8 with spaces unless pad = 0) and
 * data bytes. */
static void write_raw(const char *path, const char *header, const void *data, size_t dlen, int pad)
{
    size_t hl = strlen(header), n = pad ? (hl + 7) / 8 * 8 : hl;
    unsigned char *b = calloc(1, 8 + n + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', n - hl);
    if (dlen) memcpy(b + 8 + n, data, dlen);
    write_bytes(path, b, 8 + n + dlen);
    free(b);
}

/* Expects unet_st_open to refuse path with UNET_ERR_FORMAT and a message
 * naming the file and containing needle. */
static void expect_refused(const char *path, const char *needle, const char *what)
{
    unet_st_file *f = (unet_st_file *)1;
    unet_clear_error();
    unet_status st = unet_st_open(path, &f);
    const char *msg = unet_last_error();
    if (st != UNET_ERR_FORMAT || f != NULL || !strstr(msg, path) || (needle && !strstr(msg, needle)))
        fail_msg("%s: status %d, message \"%s\" (wanted \"%s\")", what, (int)st, msg, needle ? needle : "");
}

/* ---- the fixed file (also checked from Python) ---------------------------- */

static const uint32_t SPECIAL_BITS[] = {0x80000000u, 0x00000001u, 0x7f800000u, 0x7fc00001u, 0xff7fffffu};

static void fixed_conv(float *w, size_t n)
{
    for (size_t i = 0; i < n; i++) w[i] = (float)((int)((i * 37) % 101) - 50) * 0.125f;
    for (size_t i = 0; i < 5; i++) memcpy(&w[i], &SPECIAL_BITS[i], 4);
}

#define CFG_JSON "{\"model\":{\"depth\":5},\"note\":\"quote \\\" backslash \\\\ \xc3\xa9 \xe2\x9c\x93\"}"

static unet_status write_fixed(const char *path)
{
    static float conv[4 * 3 * 3 * 3], bias[5], scalar = 3.25f;
    fixed_conv(conv, 108);
    for (int i = 0; i < 5; i++) bias[i] = (float)i - 2.5f;
    static const int64_t step[2] = {-2, 1234567890123LL};
    static const uint8_t mask[3] = {1, 2, 255};
    static const int32_t counts[4] = {-1, 0, 7, INT32_MAX};
    const int64_t s_conv[] = {4, 3, 3, 3}, s_bias[] = {5}, s_empty[] = {0, 4}, s_step[] = {2}, s_mask[] = {3},
                  s_counts[] = {2, 2};
    const unet_st_tensor t[] = {
        {"mask", s_mask, 1, mask, UNET_ST_U8},
        {"conv.weight", s_conv, 4, conv, UNET_ST_F32},
        {"conv.bias", s_bias, 1, bias, UNET_ST_F32},
        {"scalar", NULL, 0, &scalar, UNET_ST_F32},
        {"empty", s_empty, 2, NULL, UNET_ST_F32},
        {"step", s_step, 1, step, UNET_ST_I64},
        {"counts", s_counts, 2, counts, UNET_ST_I32},
    };
    char rng[24];
    const unet_st_kv meta[] = {
        {"format", "unetcl-test"},
        {"config", CFG_JSON},
        {"rng", unet_st_format_u64(UINT64_MAX, rng)},
        {"empty", ""},
    };
    return unet_st_write(path, t, sizeof t / sizeof t[0], meta, sizeof meta / sizeof meta[0]);
}

static void check_fixed(const char *path)
{
    unet_st_file *f = NULL;
    TU_OK(unet_st_open(path, &f));
    assert_int_equal(unet_st_count(f), 7);
    unet_st_info in;
    TU_OK(unet_st_find(f, "conv.weight", &in));
    assert_int_equal(in.dtype, UNET_ST_F32);
    assert_int_equal(in.ndim, 4);
    assert_true(in.shape[0] == 4 && in.shape[1] == 3 && in.shape[2] == 3 && in.shape[3] == 3);
    assert_int_equal(in.numel, 108);
    assert_int_equal(in.nbytes, 432);
    float conv[108];
    fixed_conv(conv, 108);
    assert_memory_equal(in.data, conv, sizeof conv); /* bitwise: -0, denormal, inf, NaN payload */
    assert_int_equal((uintptr_t)in.data % 4, 0);

    const float *bias;
    const int64_t sb[] = {5};
    TU_OK(unet_st_get_f32(f, "conv.bias", 1, sb, &bias));
    for (int i = 0; i < 5; i++) assert_true(bias[i] == (float)i - 2.5f);
    const float *sc;
    TU_OK(unet_st_get_f32(f, "scalar", 0, NULL, &sc));
    assert_true(*sc == 3.25f);
    TU_OK(unet_st_find(f, "scalar", &in));
    assert_int_equal(in.ndim, 0);
    assert_int_equal(in.numel, 1);
    TU_OK(unet_st_find(f, "empty", &in));
    assert_int_equal(in.numel, 0);
    assert_int_equal(in.ndim, 2);
    TU_OK(unet_st_find(f, "step", &in));
    assert_int_equal(in.dtype, UNET_ST_I64);
    assert_int_equal((uintptr_t)in.data % 8, 0);
    assert_true(((const int64_t *)in.data)[0] == -2 && ((const int64_t *)in.data)[1] == 1234567890123LL);
    TU_OK(unet_st_find(f, "mask", &in));
    assert_int_equal(in.dtype, UNET_ST_U8);
    assert_memory_equal(in.data, "\x01\x02\xff", 3);
    TU_OK(unet_st_find(f, "counts", &in));
    assert_int_equal(in.dtype, UNET_ST_I32);
    assert_true(((const int32_t *)in.data)[3] == INT32_MAX && ((const int32_t *)in.data)[0] == -1);

    assert_string_equal(unet_st_meta(f, "format"), "unetcl-test");
    assert_string_equal(unet_st_meta(f, "config"), CFG_JSON);
    assert_string_equal(unet_st_meta(f, "empty"), "");
    assert_null(unet_st_meta(f, "absent"));
    assert_int_equal(unet_st_meta_count(f), 4);
    uint64_t r = 0;
    TU_OK(unet_st_meta_u64(f, "rng", &r));
    assert_true(r == UINT64_MAX);
    assert_int_equal(unet_st_meta_u64(f, "format", &r), UNET_ERR_FORMAT);
    assert_int_equal(unet_st_meta_u64(f, "absent", &r), UNET_ERR_FORMAT);

    /* data order: 8-byte, then 4-byte, then 1-byte tensors (aligned) */
    uint64_t prev = 9;
    for (size_t i = 0; i < unet_st_count(f); i++) {
        TU_OK(unet_st_at(f, i, &in));
        size_t es = unet_st_dtype_size(in.dtype);
        assert_true(es <= prev);
        prev = es;
        assert_int_equal((uintptr_t)in.data % es, 0);
    }
    assert_int_equal(unet_st_at(f, 7, &in), UNET_ERR_INVALID_ARGUMENT);

    /* lookups that must fail, with messages naming the tensor */
    assert_false(unet_st_has(f, "nope"));
    assert_int_equal(unet_st_find(f, "nope", &in), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "no tensor 'nope'"));
    const int64_t wrong[] = {4, 3, 3, 2};
    const float *p;
    assert_int_equal(unet_st_get_f32(f, "conv.weight", 4, wrong, &p), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "tensor 'conv.weight' has shape [4,3,3,3], expected [4,3,3,2]"));
    assert_int_equal(unet_st_get_f32(f, "conv.weight", 3, wrong, &p), UNET_ERR_FORMAT);
    assert_int_equal(unet_st_get_f32(f, "step", 0, NULL, &p), UNET_ERR_FORMAT);
    assert_non_null(strstr(unet_last_error(), "tensor 'step' has dtype I64, expected F32"));
    unet_st_close(f);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char *path = tpath("fixed.safetensors");
    TU_OK(write_fixed(path));
    check_fixed(path);
    /* layout: header length multiple of 8, file = 8 + N + data */
    size_t len;
    unsigned char *b = read_file(path, &len);
    assert_non_null(b);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    assert_int_equal(hl % 8, 0);
    size_t data = 108 * 4 + 5 * 4 + 4 + 0 + 2 * 8 + 3 + 4 * 4;
    assert_int_equal(len, 8 + hl + data);
    assert_int_equal(b[8], '{');
    free(b);
    assert_int_equal(count_entries(g_dir), 1); /* no temporary file left */
    /* overwrite with other content */
    const float one = 1.0f;
    const int64_t s1[] = {1};
    const unet_st_tensor t = {"x", s1, 1, &one, UNET_ST_F32};
    TU_OK(unet_st_write(path, &t, 1, NULL, 0));
    unet_st_file *f;
    TU_OK(unet_st_open(path, &f));
    assert_int_equal(unet_st_count(f), 1);
    assert_int_equal(unet_st_meta_count(f), 0);
    unet_st_close(f);
    /* no tensors at all */
    TU_OK(unet_st_write(path, NULL, 0, NULL, 0));
    TU_OK(unet_st_open(path, &f));
    assert_int_equal(unet_st_count(f), 0);
    unet_st_close(f);
    assert_int_equal(count_entries(g_dir), 1);
    unlink(path);
}

static void test_bad_write_arguments(void **state)
{
    (void)state;
    const float v[2] = {1, 2};
    const int64_t s2[] = {2}, sneg[] = {-2};
    const char *path = tpath("args.safetensors");
    unet_st_tensor dup[] = {{"a", s2, 1, v, UNET_ST_F32}, {"a", s2, 1, v, UNET_ST_F32}};
    assert_int_equal(unet_st_write(path, dup, 2, NULL, 0), UNET_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(unet_last_error(), "two tensors are named 'a'"));
    unet_st_tensor bad[] = {{"__metadata__", s2, 1, v, UNET_ST_F32}};
    assert_int_equal(unet_st_write(path, bad, 1, NULL, 0), UNET_ERR_INVALID_ARGUMENT);
    unet_st_tensor neg[] = {{"n", sneg, 1, v, UNET_ST_F32}};
    assert_int_equal(unet_st_write(path, neg, 1, NULL, 0), UNET_ERR_INVALID_ARGUMENT);
    unet_st_tensor nodata[] = {{"n", s2, 1, NULL, UNET_ST_F32}};
    assert_int_equal(unet_st_write(path, nodata, 1, NULL, 0), UNET_ERR_INVALID_ARGUMENT);
    unet_st_kv m[] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(unet_st_write(path, NULL, 0, m, 2), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(count_entries(g_dir), 0);
}

/* Cut a valid file at several points: every prefix is refused. */
static void test_truncated(void **state)
{
    (void)state;
    const char *path = tpath("full.safetensors");
    TU_OK(write_fixed(path));
    size_t len;
    unsigned char *b = read_file(path, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | b[i];
    const size_t cuts[] = {0, 1, 7, 8, 9, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 1, 8 + hl + 100, len - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        const char *cut = tpath("cut.safetensors");
        write_bytes(cut, b, cuts[c]);
        char what[64];
        snprintf(what, sizeof what, "cut at %zu of %zu", cuts[c], len);
        const char *needle = cuts[c] < 8 ? "too short" : cuts[c] < 8 + hl ? "or truncated" : "is truncated: tensor '";
        expect_refused(cut, needle, what);
    }
    /* a byte too many is refused too */
    unsigned char *b2 = malloc(len + 1);
    memcpy(b2, b, len);
    b2[len] = 0;
    write_bytes(tpath("long.safetensors"), b2, len + 1);
    expect_refused(tpath("long.safetensors"), "1 unexpected bytes after the last tensor", "one extra byte");
    free(b2);
    free(b);
    /* the truncation message names the last tensor of the data section */
    write_raw(tpath("t.safetensors"),
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
              "0123456789abcdef", 16, 1);
    expect_refused(tpath("t.safetensors"), "truncated: tensor 'b' ends at byte 24", "truncated b");
}

static void test_foreign(void **state)
{
    (void)state;
    /* a real (tiny) PNG: signature + IHDR + IEND */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H',
                                        'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0, 0x3a, 0x7e, 0x9b,
                                        0x55, 0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    write_bytes(tpath("image.png"), png, sizeof png);
    expect_refused(tpath("image.png"), "looks like a PNG image", "PNG");
    static const unsigned char zip[64] = {'P', 'K', 3, 4, 20, 0};
    write_bytes(tpath("model.pt"), zip, sizeof zip);
    expect_refused(tpath("model.pt"), "PyTorch", "zip");
    static const unsigned char tif[64] = {'I', 'I', 42, 0, 8, 0, 0, 0};
    write_bytes(tpath("stack.tif"), tif, sizeof tif);
    expect_refused(tpath("stack.tif"), "TIFF", "TIFF");
    const char *text = "[train]\nlr = 0.1\n; a configuration file, not weights\n";
    write_bytes(tpath("c.ini"), text, strlen(text));
    expect_refused(tpath("c.ini"), "not a safetensors file", "text");
    write_bytes(tpath("empty"), "", 0);
    expect_refused(tpath("empty"), "too short", "empty file");
    /* not a regular file / missing */
    unet_st_file *f;
    assert_int_equal(unet_st_open(g_dir, &f), UNET_ERR_IO);
    assert_int_equal(unet_st_open(tpath("missing.safetensors"), &f), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "missing.safetensors"));
}

static void test_header_length(void **state)
{
    (void)state;
    unsigned char b[64];
    memset(b, ' ', sizeof b);
    const uint64_t lens[] = {UINT64_MAX, (uint64_t)1 << 63, 1000000000000ULL, 200u << 20, 57, 0, 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int k = 0; k < 8; k++) b[k] = (unsigned char)(lens[i] >> (8 * k));
        b[8] = '{', b[9] = '}';
        write_bytes(tpath("hl.safetensors"), b, sizeof b);
        char what[64];
        snprintf(what, sizeof what, "header length %" PRIu64, lens[i]);
        expect_refused(tpath("hl.safetensors"), lens[i] == 57 ? "header length is 57 bytes but only 56" : "header length", what);
    }
}

static void test_bad_headers(void **state)
{
    (void)state;
    static const char data[64] = {0};
    static const struct {
        const char *header, *needle;
        size_t dlen;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
         "tensor 'b' starts at byte 12 but the previous tensor 'a' ends at 8", 20},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         "tensor 'b' starts at byte 4 but the previous tensor 'a' ends at 8", 12},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "tensor 'a' starts at byte 4", 12},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
         "tensor 'a': data_offsets [0, 8] hold 8 bytes but shape [3] of F32 needs 12 bytes", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", "tensor 'a': data_offsets [8, 0] end before", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", "tensor 'a': data_offsets must be", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", "tensor 'a': data_offsets must be", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.5]}}", "tensor 'a': data_offsets must be", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "tensor 'a': shape entries", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", "tensor 'a': shape entries", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", "tensor 'a': shape is not an array", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", "9 dimensions", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}",
         "tensor 'a': shape is too large", 8},
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
         "tensor 'a' has dtype F16, which unetcl does not read", 8},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", "dtype BF16", 8},
        {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,8]}}", "tensor 'a' has an unknown dtype \"Q7\"", 8},
        {"{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype is not a string", 8},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "tensor 'a': missing \"dtype\"", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", "unexpected or repeated field \"x\"", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "repeated field", 8},
        {"{\"a\":[1,2]}", "tensor 'a': header entry is not a JSON object", 8},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         "tensor 'a' appears twice", 16},
        {"{\"__metadata__\":{\"k\":1}}", "metadata 'k' is not a string", 0},
        {"{\"__metadata__\":[]}", "__metadata__ is not a JSON object", 0},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", "metadata key 'k' appears twice", 0},
        {"{\"a\":{\"dtype\":\"F32\",", "JSON header is malformed", 0},
        {"{\"a\":1} x", "unexpected bytes after the JSON header", 0},
        {"[1,2,3]", "does not start with a JSON object", 0},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "empty name", 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64], what[64];
        snprintf(name, sizeof name, "bad%02zu.safetensors", i);
        write_raw(tpath(name), cases[i].header, data, cases[i].dlen, 1);
        snprintf(what, sizeof what, "bad header %zu", i);
        expect_refused(tpath(name), cases[i].needle, what);
        unlink(tpath(name));
    }
    /* accepted: unpadded header, __metadata__ anywhere, empty object,
     * misaligned I64 after an odd U8 tensor (copied to aligned memory) */
    unsigned char d[11] = {7, 8, 9};
    int64_t v = -5;
    memcpy(d + 3, &v, 8);
    write_raw(tpath("ok.safetensors"),
              "{\"q\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[3,11]},\"__metadata__\":{\"k\":\"v\"},"
              "\"u\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}",
              d, 11, 0);
    unet_st_file *f;
    TU_OK(unet_st_open(tpath("ok.safetensors"), &f));
    unet_st_info in;
    TU_OK(unet_st_find(f, "q", &in));
    assert_int_equal((uintptr_t)in.data % 8, 0);
    assert_true(*(const int64_t *)in.data == -5);
    TU_OK(unet_st_at(f, 0, &in));
    assert_string_equal(in.name, "u");
    assert_string_equal(unet_st_meta(f, "k"), "v");
    unet_st_close(f);
    write_raw(tpath("ok.safetensors"), "{}", NULL, 0, 1);
    TU_OK(unet_st_open(tpath("ok.safetensors"), &f));
    assert_int_equal(unet_st_count(f), 0);
    unet_st_close(f);
    unlink(tpath("ok.safetensors"));
}

/* Old file intact and no temporary file left when a write fails. */
static void test_atomic(void **state)
{
    (void)state;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/atomic", g_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    char target[700];
    snprintf(target, sizeof target, "%s/model.safetensors", sub);
    float big[25000];
    for (int i = 0; i < 25000; i++) big[i] = (float)i;
    const int64_t sbig[] = {25000};
    const unet_st_tensor tb = {"big", sbig, 1, big, UNET_ST_F32};

    /* the old file */
    TU_OK(write_fixed(target));
    size_t oldlen;
    unsigned char *old = read_file(target, &oldlen);

    /* 1. the write fails half way (file size limit: a full disk), in a child
     *    process so the limit does not touch the test's own output */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl;
        getrlimit(RLIMIT_FSIZE, &rl);
        rl.rlim_cur = 16384;
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        unet_status st = unet_st_write(target, &tb, 1, NULL, 0);
        _exit(st == UNET_ERR_IO && strstr(unet_last_error(), target) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    size_t len;
    unsigned char *now = read_file(target, &len);
    assert_int_equal(len, oldlen);
    assert_memory_equal(now, old, len);
    free(now);
    assert_int_equal(count_entries(sub), 1); /* no temporary file left */
    check_fixed(target);

    /* 2. the target is a folder: the final rename fails */
    char asdir[700];
    snprintf(asdir, sizeof asdir, "%s/folder.safetensors", sub);
    assert_int_equal(mkdir(asdir, 0755), 0);
    assert_int_equal(unet_st_write(asdir, &tb, 1, NULL, 0), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "folder.safetensors"));
    assert_int_equal(count_entries(sub), 2);
    assert_int_equal(count_entries(asdir), 0);
    rmdir(asdir);

    /* 3. the folder does not exist */
    char nodir[700];
    snprintf(nodir, sizeof nodir, "%s/no/such/dir/m.safetensors", sub);
    assert_int_equal(unet_st_write(nodir, &tb, 1, NULL, 0), UNET_ERR_IO);
    assert_non_null(strstr(unet_last_error(), "cannot create a temporary file"));

    /* 4. the folder is not writable (only meaningful when not root: root
     *    writes anyway; cases 1-2 cover the failure paths then) */
    assert_int_equal(chmod(sub, 0555), 0);
    if (access(sub, W_OK) != 0) {
        assert_int_equal(unet_st_write(target, &tb, 1, NULL, 0), UNET_ERR_IO);
        assert_non_null(strstr(unet_last_error(), "writable"));
        now = read_file(target, &len);
        assert_int_equal(len, oldlen);
        assert_memory_equal(now, old, len);
        free(now);
        assert_int_equal(count_entries(sub), 1);
    } else {
        fprintf(stderr, "note: running as root, the read-only folder case is not observable\n");
    }
    chmod(sub, 0755);

    /* 5. a successful overwrite replaces the file and leaves nothing else */
    TU_OK(unet_st_write(target, &tb, 1, NULL, 0));
    assert_int_equal(count_entries(sub), 1);
    unet_st_file *f;
    const float *p;
    TU_OK(unet_st_open(target, &f));
    TU_OK(unet_st_get_f32(f, "big", 1, sbig, &p));
    assert_memory_equal(p, big, sizeof big);
    unet_st_close(f);
    struct stat sb;
    assert_int_equal(stat(target, &sb), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(sb.st_mode & 0777, 0666 & ~mask); /* like any new file, not a temp file's 0600 */
    free(old);
    unlink(target);
    rmdir(sub);
}

/* Prints tensors (data order) and metadata, one per line, for the Python test. */
static int dump(const char *path)
{
    unet_st_file *f;
    if (unet_st_open(path, &f) != UNET_OK) {
        fprintf(stderr, "%s\n", unet_last_error());
        return 1;
    }
    for (size_t i = 0; i < unet_st_count(f); i++) {
        unet_st_info in;
        unet_st_at(f, i, &in);
        printf("tensor %s %s %d", in.name, unet_st_dtype_name(in.dtype), in.ndim);
        for (int d = 0; d < in.ndim; d++) printf(" %" PRId64, in.shape[d]);
        printf(" :");
        for (size_t k = 0; k < in.numel; k++) {
            switch (in.dtype) {
            case UNET_ST_F32: printf(" %.9g", (double)((const float *)in.data)[k]); break;
            case UNET_ST_I32: printf(" %" PRId32, ((const int32_t *)in.data)[k]); break;
            case UNET_ST_I64: printf(" %" PRId64, ((const int64_t *)in.data)[k]); break;
            case UNET_ST_U8: printf(" %u", (unsigned)((const uint8_t *)in.data)[k]); break;
            }
        }
        printf("\n");
    }
    for (size_t i = 0; i < unet_st_meta_count(f); i++) {
        const char *k, *v;
        unet_st_meta_at(f, i, &k, &v);
        printf("meta %s=%s\n", k, v);
    }
    unet_st_close(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        if (write_fixed(argv[2]) != UNET_OK) {
            fprintf(stderr, "%s\n", unet_last_error());
            return 1;
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) return dump(argv[2]);

    snprintf(g_dir, sizeof g_dir, "/tmp/unet_test_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_bad_write_arguments),
        cmocka_unit_test(test_truncated),   cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_header_length), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_atomic),
    };
    int rc = cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[1024];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(g_dir);
    return rc;
}
