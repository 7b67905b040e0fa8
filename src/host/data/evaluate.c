/* Evaluation of prediction files against ground-truth files, as `unetcl
 * eval` reports it (metrics.h, docs/metrics.md): images or stacks read,
 * values checked, every metric per slice, means, pooled scores, a text
 * report and the JSON document. */
#define _POSIX_C_SOURCE 200809L
#include "error.h"
#include "unetcl/image.h"
#include "unetcl/metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { M_ISBI = UNET_EVAL_ISBI, M_SEG = UNET_EVAL_SEG, M_IOU = UNET_EVAL_IOU };
enum { PK_PROB = UNET_PRED_PROB, PK_MASK = UNET_PRED_MASK, PK_INST = UNET_PRED_INSTANCES };
enum { TK_BINARY = UNET_TRUTH_BINARY, TK_INST = UNET_TRUTH_INSTANCES, TK_CLASSES = UNET_TRUTH_CLASSES };

/* A grey image or a multi-page stack (src/host/data/image.h), values as stored
 * (no scaling) in doubles, pages * h * w. */
typedef struct eval_stack {
    int w, h, pages;
    int bits;     /* 8, 16, 32 */
    int is_float; /* IEEE float samples (32 bits) */
    double *v;
} eval_stack;

static unet_status read_stack(const char *path, eval_stack *s)
{
    memset(s, 0, sizeof *s);
    int pages = 0;
    unet_status st = unet_image_count_pages(path, &pages);
    for (int p = 0; st == UNET_OK && p < pages; p++) {
        unet_image img;
        if ((st = unet_image_read(path, p, &img)) != UNET_OK) break;
        if (img.c != 1)
            st = unet_seterr(UNET_ERR_DATA, "%s%s has %d channels; eval needs grey images", path,
                             pages > 1 ? " (a page)" : "", img.c);
        else if (p > 0 && (img.w != s->w || img.h != s->h || img.bits != s->bits))
            st = unet_seterr(UNET_ERR_DATA, "%s: page %d is %dx%d with %d bits but page 0 is %dx%d with %d bits", path,
                             p, img.w, img.h, img.bits, s->w, s->h, s->bits);
        if (st == UNET_OK && p == 0) {
            s->w = img.w;
            s->h = img.h;
            s->bits = img.bits;
            s->is_float = img.bits == 32;
            s->v = malloc(sizeof *s->v * (size_t)img.w * img.h * pages);
            if (!s->v) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory reading %s", path);
        }
        if (st == UNET_OK) {
            size_t n = (size_t)img.w * img.h;
            for (size_t i = 0; i < n; i++) s->v[n * p + i] = img.data[i];
            s->pages = p + 1;
        }
        unet_image_free(&img);
    }
    if (st != UNET_OK) {
        free(s->v);
        memset(s, 0, sizeof *s);
    }
    return st;
}


typedef struct slice_result {
    int has_isbi, has_seg, has_iou, has_miou;
    unet_isbi_result isbi;
    unet_seg_result seg;
    unet_object_counts cnt;
    unet_overlap_result ov;
    double miou;
    double *class_iou;
} slice_result;

static double mean_finite(const double *v, int n)
{
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            s += v[i];
            k++;
        }
    return k ? s / k : NAN;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *isbi_json(const unet_isbi_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "pixel_error", num_or_null(r->pixel_error));
    cJSON_AddItemToObject(o, "pixel_error_plain", num_or_null(r->pixel_error_plain));
    cJSON_AddItemToObject(o, "rand_error", num_or_null(r->rand_error));
    cJSON_AddItemToObject(o, "warping_error", num_or_null(r->warping_error));
    cJSON_AddItemToObject(o, "warping_error_at_best_rand_threshold", num_or_null(r->warping_error_at_best_rand));
    cJSON_AddItemToObject(o, "best_threshold_pixel", num_or_null(r->best_threshold_pixel));
    cJSON_AddItemToObject(o, "best_threshold_rand", num_or_null(r->best_threshold_rand));
    cJSON_AddItemToObject(o, "best_threshold_warp", num_or_null(r->best_threshold_warp));
    cJSON *th = cJSON_AddArrayToObject(o, "thresholds");
    for (int k = 0; k < r->n_thresholds; k++) {
        const unet_isbi_threshold *t = &r->t[k];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "threshold", t->threshold);
        cJSON_AddNumberToObject(e, "tp", (double)t->tp);
        cJSON_AddNumberToObject(e, "fp", (double)t->fp);
        cJSON_AddNumberToObject(e, "fn", (double)t->fn);
        cJSON_AddNumberToObject(e, "tn", (double)t->tn);
        cJSON_AddNumberToObject(e, "pixel_f", t->pixel_f);
        cJSON_AddNumberToObject(e, "rand_split", t->rand.split);
        cJSON_AddNumberToObject(e, "rand_merge", t->rand.merge);
        cJSON_AddNumberToObject(e, "rand_f", t->rand.f);
        if (r->has_warping) cJSON_AddNumberToObject(e, "warp_mismatch", (double)t->warp_mismatch);
        cJSON_AddItemToArray(th, e);
    }
    return o;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (isfinite(v)) snprintf(buf, n, "%.6f", v);
    else snprintf(buf, n, "-");
}

static void print_row(FILE *f, const char *name, int metrics, const double *vals)
{
    if (!f) return;
    char b[32];
    fprintf(f, "%-8s", name);
    int cols = 0;
    if (metrics & M_ISBI) cols += 4;
    if (metrics & M_SEG) cols += 1;
    if (metrics & M_IOU) cols += 3;
    for (int i = 0; i < cols; i++) {
        fmt_num(b, sizeof b, vals[i]);
        fprintf(f, " %12s", b);
    }
    fprintf(f, "\n");
}

static cJSON *counts_json(const unet_object_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_truth", c->n_truth);
    cJSON_AddNumberToObject(o, "n_pred", c->n_pred);
    cJSON_AddNumberToObject(o, "one_to_one", c->one_to_one);
    cJSON_AddNumberToObject(o, "merged", c->merged);
    cJSON_AddNumberToObject(o, "merges", c->merges);
    cJSON_AddNumberToObject(o, "split", c->split);
    cJSON_AddNumberToObject(o, "missed", c->missed);
    cJSON_AddNumberToObject(o, "false_positives", c->false_positives);
    cJSON *d = cJSON_AddObjectToObject(o, "det");
    cJSON_AddItemToObject(d, "det", num_or_null(c->det));
    cJSON_AddNumberToObject(d, "ns", c->det_ns);
    cJSON_AddNumberToObject(d, "fn", c->det_fn);
    cJSON_AddNumberToObject(d, "fp", c->det_fp);
    return o;
}

void unet_eval_options_default(unet_eval_options *o)
{
    memset(o, 0, sizeof *o);
    o->metrics = UNET_EVAL_ISBI | UNET_EVAL_SEG | UNET_EVAL_IOU;
    o->pred_kind = UNET_PRED_PROB;
    o->truth_kind = UNET_TRUTH_BINARY;
    o->warp_connectivity = 4;
}

unet_status unet_evaluate_files(const char *pred_path, const char *truth_path, const unet_eval_options *o, char **report,
                                char **json)
{
    if (!pred_path || !truth_path || !o) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_evaluate_files: NULL argument");
    if (report) *report = NULL;
    if (json) *json = NULL;
    int metrics = o->metrics, pk = o->pred_kind, tk = o->truth_kind;
    if (tk == TK_CLASSES) {
        if (metrics & (M_ISBI | M_SEG))
            return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "--truth-kind classes supports only --metric iou (mean IoU)");
        metrics = M_IOU;
    }
    if (!metrics) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_evaluate_files: no metric selected");
    unet_isbi_options opt;
    unet_isbi_options_default(&opt);
    opt.skip_warping = o->skip_warping;
    if (o->warp_connectivity) opt.warp_fg_connectivity = o->warp_connectivity;
    eval_stack P, T;
    unet_status rs = read_stack(pred_path, &P);
    if (rs != UNET_OK) return unet_errctx(rs, "reading the prediction");
    if ((rs = read_stack(truth_path, &T)) != UNET_OK) {
        free(P.v);
        return unet_errctx(rs, "reading the ground truth");
    }
    unet_status st = UNET_ERR_DATA;
    FILE *rep = NULL;
    char *rep_text = NULL;
    size_t rep_len = 0;

    int W = P.w, H = P.h, S = P.pages;
    size_t n = (size_t)W * H;
    float *prob = NULL;
    uint32_t *pid = NULL, *tid = NULL, *classmap = NULL;
    uint8_t *pm = NULL, *tm = NULL;
    slice_result *res = NULL;
    int ncls = 0;
    cJSON *root = NULL;
    if (report && !(rep = open_memstream(&rep_text, &rep_len))) goto nomem;
    if (T.w != W || T.h != H || T.pages != S) {
        unet_seterr(UNET_ERR_DATA, "the prediction %s is %dx%d with %d page(s) but the ground truth %s is %dx%d with "
                "%d page(s); they must match",
                pred_path, W, H, S, truth_path, T.w, T.h, T.pages);
        goto out;
    }
    /* value checks and scaling */
    double pscale = 1.0;
    if (pk == PK_PROB) pscale = P.is_float ? 1.0 : P.bits == 8 ? 255.0 : P.bits == 16 ? 65535.0 : 0.0;
    if (pk == PK_PROB && pscale == 0.0) {
        unet_seterr(UNET_ERR_DATA, "%s holds 32-bit integers; use --pred-kind mask or instances", pred_path);
        goto out;
    }
    for (size_t i = 0; i < n * S; i++) {
        double pv = P.v[i], tv = T.v[i];
        if (pk == PK_PROB && !(pv / pscale >= 0.0 && pv / pscale <= 1.0)) {
            unet_seterr(UNET_ERR_DATA, "%s pixel %zu of slice %zu is %g, not a probability in [0,1]; use --pred-kind "
                    "mask or instances for label images",
                    pred_path, i % n, i / n, pv);
            goto out;
        }
        if (pk == PK_INST && (pv < 0 || pv != floor(pv) || pv > 4294967295.0)) {
            unet_seterr(UNET_ERR_DATA, "%s pixel %zu of slice %zu is %g, not an instance id", pred_path, i % n,
                    i / n, pv);
            goto out;
        }
        if (tk != TK_BINARY && (tv < 0 || tv != floor(tv) || tv > 4294967295.0)) {
            unet_seterr(UNET_ERR_DATA, "%s pixel %zu of slice %zu is %g, not an integer label", truth_path,
                    i % n, i / n, tv);
            goto out;
        }
        if (!isfinite(tv)) {
            unet_seterr(UNET_ERR_DATA, "%s pixel %zu of slice %zu is not a number", truth_path, i % n, i / n);
            goto out;
        }
    }
    /* class values (--truth-kind classes): the grey values present in the
     * truth or the prediction, in increasing order, are the classes */
    if (tk == TK_CLASSES) {
        classmap = calloc(65536, sizeof *classmap);
        if (!classmap) goto nomem;
        for (size_t i = 0; i < n * S; i++) {
            double a = T.v[i], b = P.v[i];
            if (a > 65535 || b > 65535 || b < 0 || b != floor(b)) {
                unet_seterr(UNET_ERR_DATA, "class values must be integers 0..65535 (pixel %zu of slice %zu: "
                                "truth %g, prediction %g)", i % n, i / n, a, b);
                goto out;
            }
            classmap[(uint32_t)a] = classmap[(uint32_t)b] = 1;
        }
        for (int v = 0; v < 65536; v++)
            if (classmap[v]) classmap[v] = (uint32_t)ncls++;
            else classmap[v] = UINT32_MAX;
    }
    prob = malloc(n * sizeof *prob);
    pid = malloc(n * sizeof *pid);
    tid = malloc(n * sizeof *tid);
    pm = malloc(n);
    tm = malloc(n);
    res = calloc((size_t)S, sizeof *res);
    if (!prob || !pid || !tid || !pm || !tm || !res) goto nomem;
    if (pk != PK_PROB) {
        opt.n_thresholds = 1;
        opt.thresholds[0] = 0.5;
    }
    for (int s = 0; s < S; s++) {
        const double *pv = P.v + n * s, *tv = T.v + n * s;
        slice_result *r = &res[s];
        for (size_t i = 0; i < n; i++) {
            prob[i] = pk == PK_PROB ? (float)(pv[i] / pscale) : (pv[i] != 0 ? 1.0f : 0.0f);
            pid[i] = pk == PK_INST ? (uint32_t)pv[i] : (prob[i] > 0.5f);
            tid[i] = tk == TK_CLASSES ? classmap[(uint32_t)tv[i]] : tk == TK_INST ? (uint32_t)tv[i] : (tv[i] != 0);
            pm[i] = prob[i] > 0.5f;
            tm[i] = tid[i] != 0;
        }
        st = UNET_OK;
        if (metrics & M_ISBI) {
            st = unet_isbi_eval(prob, pk == PK_INST ? pid : NULL, tid, tk == TK_INST, W, H, &opt, &r->isbi);
            r->has_isbi = st == UNET_OK;
        }
        if (st == UNET_OK && (metrics & M_SEG)) {
            st = unet_seg_counts_2d(tid, tk != TK_INST, pid, pk != PK_INST, W, H, &r->seg, &r->cnt);
            r->has_seg = st == UNET_OK;
        }
        if (st == UNET_OK && (metrics & M_IOU)) {
            if (tk == TK_CLASSES) {
                for (size_t i = 0; i < n; i++) pid[i] = classmap[(uint32_t)pv[i]];
                r->class_iou = malloc((size_t)ncls * sizeof *r->class_iou);
                if (!r->class_iou) goto nomem;
                st = unet_iou_classes(tid, pid, n, ncls, r->class_iou, &r->miou);
                r->has_miou = st == UNET_OK;
            } else {
                st = unet_overlap_binary(tm, pm, n, &r->ov);
                r->has_iou = st == UNET_OK;
            }
        }
        if (st != UNET_OK) {
            unet_errctx(st, "slice %d", s);
            goto out;
        }
    }

    /* ---- summaries ---- */
    unet_isbi_result pooled;
    int has_pooled = 0;
    if (metrics & M_ISBI) {
        unet_isbi_result *all = malloc((size_t)S * sizeof *all);
        if (!all) goto nomem;
        for (int s = 0; s < S; s++) all[s] = res[s].isbi;
        has_pooled = unet_isbi_pool(all, S, &pooled) == UNET_OK;
        free(all);
    }
    double sum_j = 0;
    long n_obj = 0;
    for (int s = 0; s < S; s++) {
        sum_j += res[s].seg.sum_jaccard;
        n_obj += res[s].seg.n_truth;
    }
    double seg_pooled = n_obj ? sum_j / n_obj : NAN;
    unet_object_counts cnt_pooled;
    memset(&cnt_pooled, 0, sizeof cnt_pooled);
    for (int s = 0; s < S; s++)
        if (res[s].has_seg) unet_object_counts_add(&cnt_pooled, &res[s].cnt);

    enum { NV = 8 };
    double *vals = malloc((size_t)S * NV * sizeof *vals);
    if (!vals) goto nomem;
    for (int s = 0; s < S; s++) {
        double *v = vals + (size_t)s * NV;
        int k = 0;
        if (metrics & M_ISBI) {
            v[k++] = res[s].isbi.pixel_error;
            v[k++] = res[s].isbi.pixel_error_plain;
            v[k++] = res[s].isbi.rand_error;
            v[k++] = res[s].isbi.warping_error;
        }
        if (metrics & M_SEG) v[k++] = res[s].seg.seg;
        if (metrics & M_IOU) {
            v[k++] = res[s].has_iou ? res[s].ov.iou : NAN;
            v[k++] = res[s].has_iou ? res[s].ov.dice : NAN;
            v[k++] = res[s].has_miou ? res[s].miou : NAN;
        }
        for (; k < NV; k++) v[k] = NAN;
    }
    double mean[NV];
    for (int k = 0; k < NV; k++) {
        double *c = malloc((size_t)S * sizeof *c);
        if (!c) {
            free(vals);
            goto nomem;
        }
        for (int s = 0; s < S; s++) c[s] = vals[(size_t)s * NV + k];
        mean[k] = mean_finite(c, S);
        free(c);
    }

    /* ---- table ---- */
    if (rep) fprintf(rep, "%-8s", "slice");
    if (rep && (metrics & M_ISBI)) fprintf(rep, " %12s %12s %12s %12s", "pixel_err", "pixel@0.5", "rand_err", "warp_err");
    if (rep && (metrics & M_SEG)) fprintf(rep, " %12s", "SEG");
    if (rep && (metrics & M_IOU)) fprintf(rep, " %12s %12s %12s", "IoU", "Dice", "mean_IoU");
    if (rep) fprintf(rep, "\n");
    for (int s = 0; s < S; s++) {
        char name[32];
        snprintf(name, sizeof name, "%d", s);
        print_row(rep, name, metrics, vals + (size_t)s * NV);
    }
    if (S > 1) {
        print_row(rep, "mean", metrics, mean);
        double pv[NV];
        for (int k = 0; k < NV; k++) pv[k] = NAN;
        int k = 0;
        if (metrics & M_ISBI) {
            pv[k++] = has_pooled ? pooled.pixel_error : NAN;
            pv[k++] = has_pooled ? pooled.pixel_error_plain : NAN;
            pv[k++] = has_pooled ? pooled.rand_error : NAN;
            pv[k++] = has_pooled ? pooled.warping_error : NAN;
        }
        if (metrics & M_SEG) pv[k++] = seg_pooled;
        print_row(rep, "pooled", metrics, pv);
    }
    if (metrics & M_SEG) {
        if (rep) fprintf(rep, "objects  %7s %7s %7s %7s %7s %7s %7s %7s %9s\n", "truth", "pred", "1:1", "merged", "merges", "split",
               "missed", "FP", "DET");
        for (int s = 0; s <= S; s++) {
            if (s == S && S == 1) break;
            const unet_object_counts *c = s < S ? &res[s].cnt : &cnt_pooled;
            char name[32], det[32];
            if (s < S) snprintf(name, sizeof name, "%d", s);
            else snprintf(name, sizeof name, "pooled");
            fmt_num(det, sizeof det, c->det);
            if (rep) fprintf(rep, "%-8s %7d %7d %7d %7d %7d %7d %7d %7d %9s\n", name, c->n_truth, c->n_pred, c->one_to_one, c->merged,
                   c->merges, c->split, c->missed, c->false_positives, det);
        }
        if (rep) fprintf(rep, "objects: truth objects are 1:1, merged (their match covers another one too; merges = such "
               "predicted objects), split or missed; FP = predicted objects matching and inside no truth object; "
               "DET as the Cell Tracking Challenge (docs/metrics.md)\n");
    }
    if (metrics & M_ISBI)
        if (rep) fprintf(rep, "ISBI: prob > t for t in {0, 0.1, ..., 0.9, 0.9999999999999999}%s; pixel_err = 1 - best pixel "
               "F, rand_err = 1 - best foreground-restricted Rand F, warp_err = min over t (%d-connected fg)\n",
               pk == PK_PROB ? "" : " (binary prediction: t = 0.5 only)", opt.warp_fg_connectivity);
    if (tk == TK_CLASSES && S == 1) {
        if (rep) fprintf(rep, "class IoU:");
        for (int v = 0, c = 0; v < 65536; v++)
            if (classmap[v] != UINT32_MAX) {
                char b[32];
                fmt_num(b, sizeof b, res[0].class_iou[c++]);
                if (rep) fprintf(rep, " %d:%s", v, b);
            }
        if (rep) fprintf(rep, "\n");
    }

    /* ---- JSON ---- */
    if (json) {
        static const char *pkn[] = {"prob", "mask", "instances"}, *tkn[] = {"binary", "instances", "classes"};
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "pred", pred_path);
        cJSON_AddStringToObject(root, "truth", truth_path);
        cJSON_AddStringToObject(root, "pred_kind", pkn[pk]);
        cJSON_AddStringToObject(root, "truth_kind", tkn[tk]);
        cJSON_AddNumberToObject(root, "width", W);
        cJSON_AddNumberToObject(root, "height", H);
        cJSON_AddNumberToObject(root, "slices", S);
        if (metrics & M_ISBI) cJSON_AddNumberToObject(root, "warp_fg_connectivity", opt.warp_fg_connectivity);
        cJSON *arr = cJSON_AddArrayToObject(root, "per_slice");
        for (int s = 0; s < S; s++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "slice", s);
            if (res[s].has_isbi) cJSON_AddItemToObject(e, "isbi", isbi_json(&res[s].isbi));
            if (res[s].has_seg) {
                cJSON *g = cJSON_AddObjectToObject(e, "seg");
                cJSON_AddItemToObject(g, "seg", num_or_null(res[s].seg.seg));
                cJSON_AddNumberToObject(g, "n_truth", res[s].seg.n_truth);
                cJSON_AddNumberToObject(g, "n_matched", res[s].seg.n_matched);
                cJSON_AddItemToObject(e, "objects", counts_json(&res[s].cnt));
            }
            if (res[s].has_iou) {
                cJSON *g = cJSON_AddObjectToObject(e, "iou");
                cJSON_AddNumberToObject(g, "iou", res[s].ov.iou);
                cJSON_AddNumberToObject(g, "dice", res[s].ov.dice);
                cJSON_AddNumberToObject(g, "tp", (double)res[s].ov.tp);
                cJSON_AddNumberToObject(g, "fp", (double)res[s].ov.fp);
                cJSON_AddNumberToObject(g, "fn", (double)res[s].ov.fn);
                cJSON_AddNumberToObject(g, "tn", (double)res[s].ov.tn);
            }
            if (res[s].has_miou) {
                cJSON *g = cJSON_AddObjectToObject(e, "classes");
                cJSON_AddItemToObject(g, "mean_iou", num_or_null(res[s].miou));
                cJSON *ci = cJSON_AddObjectToObject(g, "iou");
                for (int v = 0, c = 0; v < 65536; v++)
                    if (classmap[v] != UINT32_MAX) {
                        char key[16];
                        snprintf(key, sizeof key, "%d", v);
                        cJSON_AddItemToObject(ci, key, num_or_null(res[s].class_iou[c++]));
                    }
            }
            cJSON_AddItemToArray(arr, e);
        }
        cJSON *m = cJSON_AddObjectToObject(root, "mean");
        int k = 0;
        if (metrics & M_ISBI) {
            cJSON_AddItemToObject(m, "pixel_error", num_or_null(mean[k++]));
            cJSON_AddItemToObject(m, "pixel_error_plain", num_or_null(mean[k++]));
            cJSON_AddItemToObject(m, "rand_error", num_or_null(mean[k++]));
            cJSON_AddItemToObject(m, "warping_error", num_or_null(mean[k++]));
        }
        if (metrics & M_SEG) cJSON_AddItemToObject(m, "seg", num_or_null(mean[k++]));
        if (metrics & M_IOU) {
            cJSON_AddItemToObject(m, "iou", num_or_null(mean[k++]));
            cJSON_AddItemToObject(m, "dice", num_or_null(mean[k++]));
            cJSON_AddItemToObject(m, "mean_iou", num_or_null(mean[k++]));
        }
        cJSON *po = cJSON_AddObjectToObject(root, "pooled");
        if (has_pooled) cJSON_AddItemToObject(po, "isbi", isbi_json(&pooled));
        if (metrics & M_SEG) {
            cJSON_AddItemToObject(po, "seg", num_or_null(seg_pooled));
            cJSON_AddNumberToObject(po, "seg_objects", (double)n_obj);
            cJSON_AddItemToObject(po, "objects", counts_json(&cnt_pooled));
        }
        *json = cJSON_Print(root);
        if (!*json) {
            free(vals);
            goto nomem;
        }
    }
    free(vals);
    st = UNET_OK;
    goto out;
nomem:
    st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "evaluating %s against %s: out of host memory", pred_path, truth_path);
out:
    if (rep) {
        if (fclose(rep) != 0 && st == UNET_OK) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        if (st == UNET_OK) *report = rep_text;
        else free(rep_text);
    }
    if (st != UNET_OK && json && *json) {
        free(*json);
        *json = NULL;
    }
    if (res)
        for (int s = 0; s < S; s++) free(res[s].class_iou);
    free(res);
    free(prob);
    free(pid);
    free(tid);
    free(pm);
    free(tm);
    free(classmap);
    cJSON_Delete(root);
    free(P.v);
    free(T.v);
    return st;
}
