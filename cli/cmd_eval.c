/* `unetcl eval`: scores a prediction against ground truth with the metrics of
 * the U-Net paper's experiments (src/host/data/metrics.h, docs/metrics.md). */
#include "commands.h"
#include "unetcl/image.h"
#include "unetcl/metrics.h"
#include "unetcl/unetcl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_ISBI = UNET_EVAL_ISBI, M_SEG = UNET_EVAL_SEG, M_IOU = UNET_EVAL_IOU };
enum { PK_PROB = UNET_PRED_PROB, PK_MASK = UNET_PRED_MASK, PK_INST = UNET_PRED_INSTANCES };
enum { TK_BINARY = UNET_TRUTH_BINARY, TK_INST = UNET_TRUTH_INSTANCES, TK_CLASSES = UNET_TRUTH_CLASSES };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl eval --pred P --truth T [--metric isbi|seg|iou|all] [--json OUT.json]\n"
            "                   [--pred-kind prob|mask|instances] [--truth-kind binary|instances|classes]\n"
            "                   [--warp-conn 4|8] [--no-warp]\n\n"
            "Scores a prediction against ground truth. P and T are PNG (8/16-bit grey) or TIFF\n"
            "(8/16-bit, 32-bit float; multi-page stacks are scored slice by slice and averaged).\n\n"
            "  --pred-kind prob       interior/foreground probability: 8-bit /255, 16-bit /65535,\n"
            "                         float as is, in [0,1] (default)\n"
            "  --pred-kind mask       binary mask, nonzero = foreground\n"
            "  --pred-kind instances  instance ids, 0 = background\n"
            "  --truth-kind binary    nonzero = foreground / cell interior (default)\n"
            "  --truth-kind instances instance ids, 0 = background (Cell Tracking Challenge)\n"
            "  --truth-kind classes   class-index image (grey values are classes): mean IoU\n\n"
            "Metrics (definitions and sources: docs/metrics.md):\n"
            "  isbi  ISBI 2012: pixel error = 1 - best pixel F-score over thresholds 0,0.1,...,1\n"
            "        (prob > t) and the plain error fraction at 0.5; Rand error = 1 - best\n"
            "        foreground-restricted Rand F-score; warping error (Jain et al. 2010) = min over\n"
            "        thresholds of the pixels left after simple-point warping / all pixels.\n"
            "        --warp-conn: foreground connectivity of the warping (4, default, or 8).\n"
            "  seg   Cell Tracking Challenge SEG (mean Jaccard of matched objects); binary images\n"
            "        are split into 4-connected components first. Also object counts (1:1, merged,\n"
            "        merges, split, missed, false positives) and the challenge's DET.\n"
            "  iou   foreground IoU and Dice (prob > 0.5), and mean IoU for --truth-kind classes.\n"
            "  all   every metric that applies (default).\n"
            "A stack also gets a pooled ISBI score (one best threshold for all slices, as the\n"
            "challenge scored its 30-slice test stack) and a pooled SEG (mean over all objects).\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *pred_path = NULL, *truth_path = NULL, *json_path = NULL;
    int metrics = M_ISBI | M_SEG | M_IOU, metric_explicit = 0, pk = PK_PROB, tk = TK_BINARY;
    unet_eval_options opt;
    unet_eval_options_default(&opt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-warp")) {
            opt.skip_warping = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "unetcl eval: option %s needs a value (see unetcl eval --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--pred")) pred_path = v;
        else if (!strcmp(a, "--truth")) truth_path = v;
        else if (!strcmp(a, "--json")) json_path = v;
        else if (!strcmp(a, "--metric")) {
            metric_explicit = 1;
            if (!strcmp(v, "isbi")) metrics = M_ISBI;
            else if (!strcmp(v, "seg")) metrics = M_SEG;
            else if (!strcmp(v, "iou")) metrics = M_IOU;
            else if (!strcmp(v, "all")) metrics = M_ISBI | M_SEG | M_IOU, metric_explicit = 0;
            else {
                fprintf(stderr, "unetcl eval: unknown metric \"%s\" (isbi, seg, iou or all)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--pred-kind")) {
            if (!strcmp(v, "prob")) pk = PK_PROB;
            else if (!strcmp(v, "mask")) pk = PK_MASK;
            else if (!strcmp(v, "instances")) pk = PK_INST;
            else {
                fprintf(stderr, "unetcl eval: unknown --pred-kind \"%s\" (prob, mask or instances)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--truth-kind")) {
            if (!strcmp(v, "binary")) tk = TK_BINARY;
            else if (!strcmp(v, "instances")) tk = TK_INST;
            else if (!strcmp(v, "classes")) tk = TK_CLASSES;
            else {
                fprintf(stderr, "unetcl eval: unknown --truth-kind \"%s\" (binary, instances or classes)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--warp-conn")) {
            if (strcmp(v, "4") && strcmp(v, "8")) {
                fprintf(stderr, "unetcl eval: --warp-conn must be 4 or 8, not \"%s\"\n", v);
                return 2;
            }
            opt.warp_connectivity = atoi(v);
        } else {
            fprintf(stderr, "unetcl eval: unknown option \"%s\" (see unetcl eval --help)\n", a);
            return 2;
        }
    }
    if (!pred_path || !truth_path) {
        fprintf(stderr, "unetcl eval: --pred and --truth are required\n\n");
        usage(stderr);
        return 2;
    }
    if (tk == TK_CLASSES) {
        if (metric_explicit && (metrics & (M_ISBI | M_SEG))) {
            fprintf(stderr, "unetcl eval: --truth-kind classes supports only --metric iou (mean IoU)\n");
            return 2;
        }
        metrics = M_IOU;
    }
    opt.metrics = metrics;
    opt.pred_kind = pk;
    opt.truth_kind = tk;
    char *report = NULL, *json = NULL;
    if (unet_evaluate_files(pred_path, truth_path, &opt, &report, json_path ? &json : NULL) != UNET_OK) {
        fprintf(stderr, "unetcl eval: %s\n", unet_last_error());
        return 1;
    }
    fputs(report, stdout);
    free(report);
    if (json_path) {
        size_t len = strlen(json);
        char *text = realloc(json, len + 2);
        if (text) {
            json = text;
            memcpy(json + len, "\n", 2);
        }
        unet_status st = text ? unet_write_file_atomic(json_path, json, len + 1)
                              : unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        free(json);
        if (st != UNET_OK) {
            fprintf(stderr, "unetcl eval: %s\n", unet_last_error());
            return 1;
        }
    }
    return 0;
}

