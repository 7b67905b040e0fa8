#include "dataset.h"
#include "cfgmap.h"
#include "error.h"
#include "instances.h"
#include "unetcl/weightmap.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

unet_status unet_scale01(const unet_config *cfg, const unet_image *img, float *out, float *mean, float *std)
{
    size_t n = unet_image_count(img);
    double scale = img->bits == 8 ? 1.0 / 255.0 : img->bits == 16 ? 1.0 / 65535.0 : 1.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(img->data[i]))
            return unet_seterr(UNET_ERR_DATA, "image has a non-finite value at element %zu", i);
        out[i] = (float)(img->data[i] * scale);
    }
    if (cfg->data.normalize == UNET_NORM_PER_IMAGE && n > 1) {
        float *tmp = malloc(n * sizeof *tmp);
        if (!tmp) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        memcpy(tmp, out, n * sizeof *tmp);
        qsort(tmp, n, sizeof *tmp, cmp_float);
        float lo = tmp[(size_t)(0.005 * (double)(n - 1))], hi = tmp[(size_t)(0.995 * (double)(n - 1))];
        free(tmp);
        if (hi > lo)
            for (size_t i = 0; i < n; i++) out[i] = (out[i] - lo) / (hi - lo);
    }
    size_t plane = (size_t)img->w * img->h;
    for (int ch = 0; ch < img->c; ch++) {
        const float *x = out + (size_t)ch * plane;
        double s = 0, s2 = 0;
        for (size_t i = 0; i < plane; i++) s += x[i];
        double m = s / (double)plane;
        for (size_t i = 0; i < plane; i++) s2 += (x[i] - m) * (x[i] - m);
        double sd = sqrt(s2 / (double)plane);
        mean[ch] = (float)m;
        std[ch] = (float)(sd > 1e-6 ? sd : 1e-6);
    }
    return UNET_OK;
}

/* One (file, page) entry of a list. */
typedef struct entry {
    char *path;
    int page, pages;
} entry;

static unet_status expand(const char *spec, const char *what, entry **out, int *count)
{
    char **paths = NULL;
    int n = 0;
    unet_status st = unet_list_files(spec, &paths, &n);
    if (st != UNET_OK) return unet_errctx(st, "%s \"%s\"", what, spec);
    int total = 0;
    int *pages = calloc((size_t)n + 1, sizeof *pages);
    if (!pages) {
        unet_list_free(paths, n);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    for (int i = 0; i < n; i++) {
        if ((st = unet_image_count_pages(paths[i], &pages[i])) != UNET_OK) {
            free(pages);
            unet_list_free(paths, n);
            return st;
        }
        total += pages[i];
    }
    entry *e = calloc((size_t)total + 1, sizeof *e);
    if (!e) {
        free(pages);
        unet_list_free(paths, n);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < pages[i]; p++) {
            e[k].path = strdup(paths[i]);
            e[k].page = p;
            e[k].pages = pages[i];
            k++;
        }
    free(pages);
    unet_list_free(paths, n);
    *out = e;
    *count = total;
    return UNET_OK;
}

static void free_entries(entry *e, int n)
{
    for (int i = 0; e && i < n; i++) free(e[i].path);
    free(e);
}

static void entry_name(const entry *e, char *buf, size_t n)
{
    if (e->pages > 1) snprintf(buf, n, "%s[%d]", e->path, e->page);
    else snprintf(buf, n, "%s", e->path);
}

/* Label image -> instance ids (instances), 0/1 (binary) or classes
 * (classes), checked against the size of its image. */
static unet_status read_labels(const unet_config *cfg, const entry *e, const unet_sample *s, int32_t *ids)
{
    unet_label_options lo;
    unet_label_options_from_config(cfg, &lo);
    int32_t *v = NULL;
    int w = 0, h = 0;
    UNET_TRY(unet_labels_read(e->path, e->page, &lo, &v, &w, &h));
    unet_status st = UNET_OK;
    if (w != s->w || h != s->h) {
        char name[512];
        entry_name(e, name, sizeof name);
        st = unet_seterr(UNET_ERR_DATA, "label image %s is %dx%d but its image %s is %dx%d", name, w, h, s->name, s->w,
                         s->h);
    } else {
        memcpy(ids, v, (size_t)w * (size_t)h * sizeof *ids);
    }
    free(v);
    return st;
}


void unet_dataset_free(unet_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) {
        free(ds->s[i].image);
        free(ds->s[i].labels);
        free(ds->s[i].weights);
    }
    free(ds->s);
    memset(ds, 0, sizeof *ds);
}

unet_status unet_dataset_load(const unet_config *cfg, const char *images, const char *labels, unet_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    if (!images || !*images || !labels || !*labels)
        return unet_seterr(UNET_ERR_CONFIG, "[data] needs both images and labels (train_images / train_labels)");
    entry *ei = NULL, *el = NULL;
    int ni = 0, nl = 0;
    UNET_TRY(expand(images, "images", &ei, &ni));
    unet_status st = expand(labels, "labels", &el, &nl);
    if (st != UNET_OK) {
        free_entries(ei, ni);
        return st;
    }
    if (ni != nl) {
        st = unet_seterr(UNET_ERR_DATA, "%d images (%s) but %d label images (%s): they are paired in sorted order", ni,
                         images, nl, labels);
        goto out;
    }
    ds->s = calloc((size_t)ni, sizeof *ds->s);
    if (!ds->s) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        goto out;
    }
    int32_t **ids = calloc((size_t)ni, sizeof *ids);
    unet_weightmap_options wo;
    unet_config_weightmap_options(cfg, &wo);
    const int instance_like = cfg->data.label_type != UNET_LABEL_CLASSES;
    const int border3 = instance_like && cfg->data.targets == UNET_TARGETS_BORDER3;
    for (int i = 0; i < ni && st == UNET_OK; i++) {
        unet_sample *s = &ds->s[i];
        entry_name(&ei[i], s->name, sizeof s->name);
        unet_image img;
        memset(&img, 0, sizeof img);
        if ((st = unet_image_read(ei[i].path, ei[i].page, &img)) != UNET_OK) break;
        if (img.c != cfg->model.in_channels) {
            st = unet_seterr(UNET_ERR_DATA, "image %s has %d channel%s but [model] in_channels = %d", s->name, img.c,
                             img.c == 1 ? "" : "s", cfg->model.in_channels);
            unet_image_free(&img);
            break;
        }
        const int ow = img.w, oh = img.h; /* the label image has the original size */
        if (cfg->data.scale != 1.0) {
            unet_image sm;
            memset(&sm, 0, sizeof sm);
            st = unet_image_alloc(&sm, unet_scaled_size(img.w, cfg->data.scale),
                                  unet_scaled_size(img.h, cfg->data.scale), img.c, img.bits);
            if (st != UNET_OK) {
                unet_image_free(&img);
                unet_errctx(st, "%s resized by [data] scale = %g", s->name, cfg->data.scale);
                break;
            }
            unet_resize_bilinear(img.data, img.c, img.h, img.w, sm.data, sm.h, sm.w);
            unet_image_free(&img);
            img = sm;
        }
        s->w = img.w;
        s->h = img.h;
        s->c = img.c;
        ds->n = i + 1;
        size_t n = (size_t)s->w * s->h;
        s->image = malloc(unet_image_count(&img) * sizeof(float));
        s->labels = malloc(n * sizeof(int32_t));
        ids[i] = malloc(n * sizeof(int32_t));
        if (!s->image || !s->labels || !ids[i]) {
            unet_image_free(&img);
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for %s", s->name);
            break;
        }
        st = unet_scale01(cfg, &img, s->image, s->mean, s->std);
        unet_image_free(&img);
        if (st != UNET_OK) {
            unet_errctx(st, "%s", s->name);
            break;
        }
        if (cfg->data.scale == 1.0) {
            if ((st = read_labels(cfg, &el[i], s, ids[i])) != UNET_OK) break;
        } else {
            /* labels at their own size, then nearest-neighbour to the image's */
            unet_sample orig = *s;
            orig.w = ow;
            orig.h = oh;
            int32_t *full = malloc((size_t)ow * oh * sizeof *full);
            if (!full) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the labels of %s", s->name);
                break;
            }
            st = read_labels(cfg, &el[i], &orig, full);
            if (st == UNET_OK) unet_resize_nearest_i32(full, oh, ow, ids[i], s->h, s->w);
            free(full);
            if (st != UNET_OK) break;
        }
        if (cfg->data.label_type == UNET_LABEL_BINARY) {
            /* binary mask -> instances (8-connected components) */
            uint8_t *mask = malloc(n);
            if (!mask) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
            for (size_t k = 0; k < n; k++) mask[k] = ids[i][k] != 0;
            st = unet_instances_from_mask(mask, s->w, s->h, ids[i], &s->cells);
            free(mask);
        }
        if (st == UNET_OK && instance_like && !border3 && wo.balance == UNET_WM_BALANCE_GIVEN) {
            double counts[2] = {ds->class_pixels[0], ds->class_pixels[1]};
            unet_weightmap_options co = wo;
            co.balance = UNET_WM_BALANCE_IMAGE; /* counting needs no class counts */
            st = unet_weightmap_count_classes(ids[i], s->w, s->h, &co, counts);
            ds->class_pixels[0] = counts[0];
            ds->class_pixels[1] = counts[1];
        }
        if (st == UNET_OK && !instance_like)
            for (size_t k = 0; k < n; k++) ds->class_pixels[ids[i][k]] += 1;
    }
    /* classes and weight maps (after the counts, for balance over the set) */
    if (st == UNET_OK && instance_like && !border3 && wo.balance == UNET_WM_BALANCE_GIVEN) {
        wo.class_counts[0] = ds->class_pixels[0];
        wo.class_counts[1] = ds->class_pixels[1];
    }
    for (int i = 0; i < ds->n && st == UNET_OK; i++) {
        unet_sample *s = &ds->s[i];
        size_t n = (size_t)s->w * s->h;
        if (cfg->weights.enabled) {
            s->weights = malloc(n * sizeof(float));
            if (!s->weights) {
                st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
                break;
            }
        }
        if (border3) {
            /* background / border / interior; the weight is the class balance
             * (below) plus the paper's border term w0 exp(-(d1+d2)^2/2 sigma^2)
             * on the pixels that are background in the paper's targets (the
             * gaps between touching cells and the background around them) */
            if ((st = unet_border3_targets(ids[i], s->w, s->h, cfg->data.border_width, s->labels)) != UNET_OK) {
                unet_errctx(st, "targets of %s", s->name);
                break;
            }
            unet_weightmap_info info;
            unet_weightmap_options bo = wo;
            bo.balance = UNET_WM_BALANCE_NONE;
            st = unet_weightmap_compute_ex(ids[i], s->w, s->h, &bo, NULL, s->weights, &info);
            if (st != UNET_OK) {
                unet_errctx(st, "weight map of %s", s->name);
                break;
            }
            s->cells = info.cells;
            if (s->weights)
                for (size_t k = 0; k < n; k++) s->weights[k] -= 1.0f; /* the border term alone */
            for (size_t k = 0; k < n; k++) ds->class_pixels[s->labels[k]] += 1;
        } else if (instance_like) {
            unet_weightmap_info info;
            st = unet_weightmap_compute_ex(ids[i], s->w, s->h, &wo, s->labels, s->weights, &info);
            if (st != UNET_OK) {
                unet_errctx(st, "weight map of %s", s->name);
                break;
            }
            s->cells = info.cells;
            if (wo.balance != UNET_WM_BALANCE_GIVEN) {
                ds->class_pixels[0] += (double)info.class_pixels[0];
                ds->class_pixels[1] += (double)info.class_pixels[1];
            }
        } else {
            memcpy(s->labels, ids[i], n * sizeof(int32_t));
            if (s->weights)
                for (size_t k = 0; k < n; k++) s->weights[k] = 0.0f;
        }
    }
    /* multi-class targets (label_type = classes, targets = border3): the
     * class balance w_c(k) = N / (K n_k), added to what is there (the border
     * term of border3), over the image or, after all counts, the set */
    for (int i = 0; i < ds->n && st == UNET_OK && (border3 || !instance_like); i++) {
        unet_sample *s = &ds->s[i];
        if (!s->weights) continue;
        size_t n = (size_t)s->w * s->h;
        double cnt[256] = {0}, tot = (double)n;
        int K = cfg->model.classes, present = 0;
        const double *src = cnt;
        for (size_t k = 0; k < n; k++) cnt[s->labels[k]] += 1;
        if (cfg->weights.balance_from == UNET_BALANCE_DATASET) {
            src = ds->class_pixels;
            tot = 0;
            for (int k = 0; k < K; k++) tot += src[k];
        }
        for (int k = 0; k < K; k++) present += src[k] > 0;
        for (size_t k = 0; k < n; k++) {
            double c = src[s->labels[k]];
            s->weights[k] += cfg->weights.class_balance && c > 0 ? (float)(tot / (present * c)) : 1.0f;
        }
    }
    /* partially annotated label images: background far from every annotated
     * cell may be an unannotated cell, so it is not trained on */
    for (int i = 0; i < ds->n && st == UNET_OK && cfg->data.partial[0]; i++) {
        const char *base = strrchr(el[i].path, '/');
        base = base ? base + 1 : el[i].path;
        if (fnmatch(cfg->data.partial, base, 0) != 0) continue;
        unet_sample *s = &ds->s[i];
        size_t n = (size_t)s->w * s->h;
        uint8_t *cell = malloc(n);
        float *dist = malloc(n * sizeof *dist);
        if (!s->weights) {
            s->weights = malloc(n * sizeof *s->weights);
            if (s->weights)
                for (size_t k = 0; k < n; k++) s->weights[k] = 1.0f;
        }
        if (!cell || !dist || !s->weights) {
            free(cell), free(dist);
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the partial labels of %s", s->name);
            break;
        }
        for (size_t k = 0; k < n; k++) cell[k] = ids[i][k] != 0;
        st = unet_edt(cell, s->w, s->h, dist);
        if (st == UNET_OK)
            for (size_t k = 0; k < n; k++)
                if (s->labels[k] == 0 && dist[k] > (float)cfg->data.background_margin) s->weights[k] = 0.0f;
        s->partial = 1;
        free(cell), free(dist);
    }
    for (int i = 0; i < ni; i++) free(ids[i]);
    free(ids);
out:
    free_entries(ei, ni);
    free_entries(el, nl);
    if (st != UNET_OK) unet_dataset_free(ds);
    return st;
}

unet_status unet_dataset_split(unet_dataset *ds, double fraction, uint64_t seed, unet_dataset *val)
{
    memset(val, 0, sizeof *val);
    if (fraction <= 0 || ds->n < 2) return UNET_OK;
    int nv = (int)floor(fraction * ds->n + 0.5);
    if (nv < 1) nv = 1;
    if (nv > ds->n - 1) nv = ds->n - 1;
    /* a seeded permutation picks the held-out samples; both parts keep the original order */
    int *perm = malloc((size_t)ds->n * sizeof *perm);
    char *is_val = calloc((size_t)ds->n, 1);
    if (!perm || !is_val) {
        free(perm);
        free(is_val);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    uint64_t x = seed ^ 0x5851F42D4C957F2DULL;
    for (int i = 0; i < ds->n; i++) perm[i] = i;
    for (int i = ds->n - 1; i > 0; i--) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        int j = (int)((x * 2685821657736338717ULL) % (uint64_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < nv; i++) is_val[perm[i]] = 1;
    unet_sample *tr = calloc((size_t)(ds->n - nv), sizeof *tr), *va = calloc((size_t)nv, sizeof *va);
    if (!tr || !va) {
        free(perm), free(is_val), free(tr), free(va);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    int a = 0, b = 0;
    for (int i = 0; i < ds->n; i++) {
        if (is_val[i]) va[b++] = ds->s[i];
        else tr[a++] = ds->s[i];
    }
    free(ds->s);
    ds->s = tr;
    ds->n = a;
    val->s = va;
    val->n = b;
    free(perm);
    free(is_val);
    return UNET_OK;
}

void unet_sample_affine(const unet_config *cfg, const unet_sample *s, int ch, float *a, float *b)
{
    if (cfg->data.normalize == UNET_NORM_PER_IMAGE) {
        *a = 1.0f / s->std[ch];
        *b = -s->mean[ch] / s->std[ch];
    } else {
        *a = (float)(1.0 / cfg->data.norm_std);
        *b = (float)(-cfg->data.norm_mean / cfg->data.norm_std);
    }
}
