/* libFuzzer harness: the label reader of the dataset (unet_dataset_load:
 * reading a label image and converting it to instance ids or classes, the
 * binary-mask components, the weight maps).
 *
 * Input: one byte of options, then the label file (PNG or TIFF). The
 * harness writes a grey image with the same page count and page sizes next
 * to it (so that the label conversion is reached, not only the size check)
 * and loads the pair. Options, bit by bit: 0-1 label type (instances,
 * binary, classes, instances), 2 weight maps, 3 targets = border3,
 * 4 [data] scale = 0.5, 5 invert_labels, 6 foreground_value 1 (else 255),
 * 7 classes = 3 (else 2). */
#include "fuzz_common.h"
#include "config.h"
#include "dataset.h"
#include "unetcl/image.h"

#define MAX_PAGES 3
#define MAX_PIXELS (96 * 96) /* per page: keeps the weight maps fast */

static char dir[4096];
static char image_path[4200];

static void remove_dir(void)
{
    unlink(image_path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/unetcl-fuzz-label.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("unetcl fuzz: mkdtemp");
            abort();
        }
        snprintf(image_path, sizeof image_path, "%s/image.tif", dir);
        atexit(remove_dir);
    }
    const uint8_t opt = data[0];
    const char *labels = fuzz_file(data + 1, size - 1);

    unet_config cfg;
    unet_config_default(&cfg);
    cfg.model.in_channels = 1;
    cfg.model.classes = (opt & 0x80) ? 3 : 2;
    cfg.data.label_type = (opt & 3) == 3 ? UNET_LABEL_INSTANCES : (unet_label_type)(opt & 3);
    cfg.weights.enabled = (opt & 4) != 0;
    cfg.data.targets = (opt & 8) ? UNET_TARGETS_BORDER3 : UNET_TARGETS_PAPER;
    if (cfg.data.targets == UNET_TARGETS_BORDER3) cfg.model.classes = 3;
    cfg.data.scale = (opt & 0x10) ? 0.5 : 1.0;
    cfg.data.invert_labels = (opt & 0x20) != 0;
    cfg.data.foreground_value = (opt & 0x40) ? 1 : 255;
    if (unet_config_validate(&cfg) != UNET_OK) return 0;

    /* an image of the label file's pages and sizes (a 1x1 page where a
     * label page cannot be read: the load must then fail cleanly) */
    unlink(image_path);
    int pages = 1;
    if (unet_image_count_pages(labels, &pages) != UNET_OK || pages < 1) pages = 1;
    if (pages > MAX_PAGES) return 0;
    for (int p = 0; p < pages; p++) {
        unet_image lab, img;
        memset(&lab, 0, sizeof lab);
        memset(&img, 0, sizeof img);
        int w = 1, h = 1;
        if (unet_image_read(labels, p, &lab) == UNET_OK) {
            w = lab.w;
            h = lab.h;
        }
        unet_image_free(&lab);
        if ((size_t)w * (size_t)h > MAX_PIXELS) return 0;
        if (unet_image_alloc(&img, w, h, 1, 8) != UNET_OK) abort();
        for (size_t i = 0; i < (size_t)w * h; i++) img.data[i] = (float)((i * 37u) & 255u);
        if (unet_tiff_write(image_path, &img, 8, 1) != UNET_OK) {
            fprintf(stderr, "unetcl fuzz: %s\n", unet_last_error());
            abort();
        }
        unet_image_free(&img);
    }

    unet_dataset ds;
    if (unet_dataset_load(&cfg, image_path, labels, &ds) == UNET_OK) {
        for (int i = 0; i < ds.n; i++) {
            const unet_sample *s = &ds.s[i];
            size_t n = (size_t)s->w * s->h;
            for (size_t k = 0; k < n; k++)
                if (s->labels[k] < 0 || s->labels[k] >= cfg.model.classes) {
                    fprintf(stderr, "class %d at %zu outside 0..%d\n", s->labels[k], k, cfg.model.classes - 1);
                    abort();
                }
            if (s->weights) fuzz_touch_floats(s->weights, n);
        }
        unet_dataset_free(&ds);
    }
    return 0;
}
