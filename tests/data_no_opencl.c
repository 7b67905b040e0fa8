/* The data side of the library (src/host/core, src/host/data) without
 * OpenCL: this program is linked from the unetcl_data objects alone, with no
 * OpenCL library (tests/CMakeLists.txt; ctest also checks with ldd that
 * libOpenCL is not loaded), and uses each area once: configuration, image
 * IO, label reading, synthetic data, weight maps, the watershed, metrics and
 * file evaluation. A nonzero exit names what failed. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "instances.h"
#include "unetcl/image.h"
#include "unetcl/metrics.h"
#include "unetcl/synth.h"
#include "unetcl/weightmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c, what)                                                                       \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "FAIL: %s (%s)\n", what, unet_last_error());                     \
            return 1;                                                                        \
        }                                                                                    \
    } while (0)

int main(void)
{
    char dir[] = "/tmp/unetcl-nocl.XXXXXX";
    CHECK(mkdtemp(dir), "mkdtemp");
    unet_config *cfg = NULL;
    CHECK(unet_config_new(&cfg) == UNET_OK, "config");
    CHECK(unet_config_set(cfg, "data.label_type=instances") == UNET_OK, "config set");
    char v[64];
    CHECK(unet_config_get(cfg, "train.momentum", v, sizeof v) == UNET_OK && !strcmp(v, "0.99"), "paper momentum");

    unet_synth_options so;
    unet_synth_options_default(&so);
    so.width = so.height = 128;
    unet_image img = {0}, lab = {0};
    CHECK(unet_synth_generate(&so, 0, &img, &lab) == UNET_OK, "synth");
    char path[256];
    snprintf(path, sizeof path, "%s/labels.png", dir);
    CHECK(unet_image_write(path, &lab, 16) == UNET_OK, "write labels");
    unet_label_options lo;
    unet_label_options_from_config(cfg, &lo);
    int32_t *ids = NULL;
    int w = 0, h = 0;
    CHECK(unet_labels_read(path, 0, &lo, &ids, &w, &h) == UNET_OK && w == 128 && h == 128, "read labels");
    int cells = 0;
    for (int i = 0; i < w * h; i++) cells = ids[i] > cells ? ids[i] : cells;
    CHECK(cells >= 2, "synthetic image has cells");

    unet_weightmap_options wo;
    unet_weightmap_options_default(&wo);
    int32_t *cls = malloc(sizeof *cls * (size_t)w * h);
    float *wt = malloc(sizeof *wt * (size_t)w * h), *fg = malloc(sizeof *fg * (size_t)w * h);
    CHECK(cls && wt && fg, "memory");
    CHECK(unet_weightmap_compute(ids, w, h, &wo, cls, wt) == UNET_OK, "weight map");

    /* instances back from a perfect foreground probability: the watershed */
    for (int i = 0; i < w * h; i++) fg[i] = cls[i] == 1 ? 1.0f : 0.0f;
    unet_instance_options io;
    unet_instance_options_default(&io);
    int32_t *inst = malloc(sizeof *inst * (size_t)w * h);
    int n = 0;
    CHECK(inst && unet_instances_from_probs(fg, NULL, w, h, &io, inst, &n) == UNET_OK && n >= 1, "instances");

    uint32_t *t = malloc(sizeof *t * (size_t)w * h), *p = malloc(sizeof *p * (size_t)w * h);
    CHECK(t && p, "memory");
    for (int i = 0; i < w * h; i++) t[i] = (uint32_t)ids[i], p[i] = (uint32_t)ids[i];
    unet_seg_result seg;
    CHECK(unet_seg_ctc(t, p, (size_t)w * h, &seg) == UNET_OK && seg.seg == 1.0, "SEG of identical labels is 1");

    char *report = NULL, *json = NULL;
    unet_eval_options eo;
    unet_eval_options_default(&eo);
    eo.metrics = UNET_EVAL_SEG;
    eo.pred_kind = UNET_PRED_INSTANCES;
    eo.truth_kind = UNET_TRUTH_INSTANCES;
    CHECK(unet_evaluate_files(path, path, &eo, &report, &json) == UNET_OK && strstr(json, "\"seg\":\t1"),
          "evaluate files");
    printf("data side without OpenCL: %dx%d synthetic image, %d cells, %d instances, SEG %.3f\n", w, h, cells, n,
           seg.seg);
    free(report), free(json), free(ids), free(cls), free(wt), free(fg), free(inst), free(t), free(p);
    unet_image_free(&img);
    unet_image_free(&lab);
    unet_config_free(cfg);
    unlink(path);
    rmdir(dir);
    return 0;
}
