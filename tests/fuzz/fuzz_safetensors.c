/* libFuzzer harness: the safetensors reader (unet_st_open and every
 * accessor on what it accepted). */
#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    unet_st_file *f = NULL;
    if (unet_st_open(path, &f) != UNET_OK) return 0;
    size_t n = unet_st_count(f);
    for (size_t i = 0; i < n; i++) {
        unet_st_info info;
        if (unet_st_at(f, i, &info) != UNET_OK) abort(); /* indices below count are valid */
        const volatile uint8_t *b = info.data;
        uint8_t acc = 0;
        for (size_t k = 0; k < info.nbytes; k++) acc ^= b[k];
        fuzz_sink = acc;
        if (!unet_st_has(f, info.name)) abort();
        unet_st_info again;
        if (unet_st_find(f, info.name, &again) != UNET_OK || again.data != info.data) abort();
        const float *fp = NULL;
        if (info.dtype == UNET_ST_F32 && unet_st_get_f32(f, info.name, info.ndim, info.shape, &fp) == UNET_OK)
            fuzz_touch_floats(fp, info.numel);
    }
    size_t nm = unet_st_meta_count(f);
    for (size_t i = 0; i < nm; i++) {
        const char *k = NULL, *v = NULL;
        unet_st_meta_at(f, i, &k, &v);
        if (!k || !v) abort();
        if (unet_st_meta(f, k) == NULL) abort();
        uint64_t u;
        (void)unet_st_meta_u64(f, k, &u);
    }
    unet_st_close(f);
    return 0;
}
