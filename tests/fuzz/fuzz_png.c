/* libFuzzer harness: the PNG reader (unet_png_read, and unet_image_read /
 * unet_image_count_pages, which recognise the format by its magic bytes). */
#include "fuzz_common.h"
#include "unetcl/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    unet_image img;
    memset(&img, 0, sizeof img);
    if (unet_png_read(path, &img) == UNET_OK) {
        if (img.w <= 0 || img.h <= 0 || (img.c != 1 && img.c != 3) || !img.data) abort();
        fuzz_touch_floats(img.data, unet_image_count(&img));
    }
    unet_image_free(&img);
    int pages = 0;
    if (unet_image_count_pages(path, &pages) == UNET_OK && pages >= 1) {
        memset(&img, 0, sizeof img);
        if (unet_image_read(path, 0, &img) == UNET_OK) fuzz_touch_floats(img.data, unet_image_count(&img));
        unet_image_free(&img);
    }
    return 0;
}
