/* libFuzzer harness: the TIFF reader (unet_tiff_count_pages, unet_tiff_read
 * of the first pages). */
#include "fuzz_common.h"
#include "unetcl/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    int pages = 0;
    if (unet_tiff_count_pages(path, &pages) != UNET_OK) {
        /* the page reader must fail cleanly as well */
        pages = 1;
    }
    if (pages > 4) pages = 4;
    for (int p = 0; p < pages; p++) {
        unet_image img;
        memset(&img, 0, sizeof img);
        if (unet_tiff_read(path, p, &img) == UNET_OK) {
            if (img.w <= 0 || img.h <= 0 || (img.c != 1 && img.c != 3) || !img.data) abort();
            fuzz_touch_floats(img.data, unet_image_count(&img));
        }
        unet_image_free(&img);
    }
    return 0;
}
