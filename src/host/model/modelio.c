/* Model files: safetensors with unetcl's tensor names and metadata. */
#include "net.h"
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_TAG "unetcl-model-1"

unet_status unet_model_save(unet_model *m, const char *path, int with_momentum, const unet_kv *meta, size_t nmeta)
{
    if (!m || !path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_model_save: NULL argument");
    size_t np = m->nparams;
    float *p = malloc(np * sizeof *p), *v = with_momentum ? malloc(np * sizeof *v) : NULL;
    int nt = m->nt, k = 0;
    unet_st_tensor *ts = calloc((size_t)(2 * nt), sizeof *ts);
    int64_t(*shapes)[4] = calloc((size_t)nt, sizeof *shapes);
    char(*vnames)[64] = calloc((size_t)nt, sizeof *vnames);
    unet_st_kv *kv = calloc(nmeta + 8, sizeof *kv);
    unet_status st = UNET_OK;
    if (!p || (with_momentum && !v) || !ts || !shapes || !vnames || !kv) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory saving %s", path);
        goto done;
    }
    if ((st = unet_model_get_params(m, p)) != UNET_OK) goto done;
    if (with_momentum && (st = unet_model_get_momentum(m, v)) != UNET_OK) goto done;
    for (int i = 0; i < nt; i++) {
        const unet_param_tensor *t = &m->t[i];
        for (int d = 0; d < t->ndim; d++) shapes[i][d] = t->shape[d];
        ts[k++] = (unet_st_tensor){.name = t->name, .shape = shapes[i], .ndim = t->ndim, .data = p + t->off};
        if (with_momentum) {
            snprintf(vnames[i], sizeof vnames[i], "momentum.%s", t->name);
            ts[k++] = (unet_st_tensor){.name = vnames[i], .shape = shapes[i], .ndim = t->ndim, .data = v + t->off};
        }
    }
    char b[6][32];
    snprintf(b[0], sizeof b[0], "%d", m->cfg.in_channels);
    snprintf(b[1], sizeof b[1], "%d", m->cfg.classes);
    snprintf(b[2], sizeof b[2], "%d", m->cfg.depth);
    snprintf(b[3], sizeof b[3], "%d", m->cfg.base_channels);
    snprintf(b[4], sizeof b[4], "%.9g", (double)m->cfg.dropout);
    snprintf(b[5], sizeof b[5], "%d", m->cfg.upconv_relu);
    size_t nk = 0;
    kv[nk++] = (unet_st_kv){"format", FORMAT_TAG};
    kv[nk++] = (unet_st_kv){"model.in_channels", b[0]};
    kv[nk++] = (unet_st_kv){"model.classes", b[1]};
    kv[nk++] = (unet_st_kv){"model.depth", b[2]};
    kv[nk++] = (unet_st_kv){"model.base_channels", b[3]};
    kv[nk++] = (unet_st_kv){"model.dropout", b[4]};
    kv[nk++] = (unet_st_kv){"model.upconv_relu", b[5]};
    for (size_t i = 0; i < nmeta; i++) kv[nk++] = (unet_st_kv){meta[i].key, meta[i].value};
    st = unet_st_write(path, ts, (size_t)k, kv, nk);
done:
    free(p);
    free(v);
    free(ts);
    free(shapes);
    free(vnames);
    free(kv);
    return st;
}

/* 1: *out set; 0: no such key; -1: not an integer; -2: out of int's range
 * (a long stored in an int wrapped: 4294967298 read as 2). */
static int meta_int(const unet_st_file *f, const char *key, int *out)
{
    const char *s = unet_st_meta(f, key);
    if (!s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0') return -1;
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX) return -2;
    *out = (int)v;
    return 1;
}

/* The configuration from metadata, else from the tensor shapes. */
static unet_status infer_config(const unet_st_file *f, const char *path, unet_model_config *c)
{
    unet_model_config_default(c);
    const char *fmt = unet_st_meta(f, "format");
    if (fmt && !strncmp(fmt, "unetcl-model-", 13) && strcmp(fmt, FORMAT_TAG) != 0)
        return unet_seterr(UNET_ERR_FORMAT,
                           "%s is a unetcl model file of format \"%s\"; unetcl %s reads \"%s\": use the unetcl "
                           "version that wrote it",
                           path, fmt, unet_version(), FORMAT_TAG);
    unet_st_info w;
    if (unet_st_find(f, "enc1.conv1.weight", &w) != UNET_OK || w.ndim != 4)
        return unet_seterr(UNET_ERR_FORMAT,
                           "%s is not a U-Net model file: it has no 4-D tensor 'enc1.conv1.weight' "
                           "(expected unetcl tensor names such as enc1.conv1.weight, dec1.up.weight, out.weight)",
                           path);
    c->base_channels = (int)w.shape[0];
    c->in_channels = (int)w.shape[1];
    int depth = 0;
    char name[64];
    for (;;) {
        snprintf(name, sizeof name, "enc%d.conv1.weight", depth + 1);
        if (!unet_st_has(f, name)) break;
        depth++;
    }
    c->depth = depth;
    unet_st_info o;
    if (unet_st_find(f, "out.weight", &o) != UNET_OK || o.ndim != 4)
        return unet_seterr(UNET_ERR_FORMAT, "%s: no 4-D tensor 'out.weight' (the final 1x1 convolution)", path);
    c->classes = (int)o.shape[0];
    int r, v;
    const char *keys[] = {"model.in_channels", "model.classes", "model.depth", "model.base_channels", "model.upconv_relu"};
    int *dst[] = {&c->in_channels, &c->classes, &c->depth, &c->base_channels, &c->upconv_relu};
    for (int i = 0; i < 5; i++) {
        r = meta_int(f, keys[i], &v);
        if (r == -1) return unet_seterr(UNET_ERR_FORMAT, "%s: metadata %s = \"%s\" is not an integer", path, keys[i], unet_st_meta(f, keys[i]));
        if (r == -2)
            return unet_seterr(UNET_ERR_FORMAT, "%s: metadata %s = \"%s\" is out of range: the file is damaged", path,
                               keys[i], unet_st_meta(f, keys[i]));
        if (r > 0) *dst[i] = v;
    }
    const char *d = unet_st_meta(f, "model.dropout");
    if (d) {
        char *end;
        double dv = strtod(d, &end);
        if (*end != '\0') return unet_seterr(UNET_ERR_FORMAT, "%s: metadata model.dropout = \"%s\" is not a number", path, d);
        c->dropout = (float)dv;
    }
    return UNET_OK;
}

/* Refuses a tensor holding NaN or infinity: such a model gives NaN
 * probabilities, and training resumed from it fails at its first step with
 * the learning rate blamed (issue 12, item 2). */
static unet_status check_finite(const char *path, const char *name, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return unet_seterr(UNET_ERR_FORMAT,
                               "%s: tensor '%s' holds %s at element %zu: the file is damaged or was written "
                               "by a training run that diverged; use an earlier checkpoint",
                               path, name, isnan(x[i]) ? "NaN" : x[i] > 0 ? "+inf" : "-inf", i);
    return UNET_OK;
}

unet_status unet_model_load(unet_context *ctx, const char *path, int with_momentum, unet_model **out, char **meta_json)
{
    if (!ctx || !path || !out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_model_load: NULL argument");
    *out = NULL;
    if (meta_json) *meta_json = NULL;
    unet_st_file *f;
    UNET_TRY(unet_st_open(path, &f));
    unet_model_config c;
    unet_model *m = NULL;
    float *p = NULL, *v = NULL;
    unet_status st = infer_config(f, path, &c);
    if (st == UNET_OK && (st = unet_model_create(ctx, &c, 0, &m)) != UNET_OK)
        unet_errctx(st, "%s: model configuration", path);
    if (st == UNET_OK) {
        p = malloc(m->nparams * sizeof *p);
        v = with_momentum ? malloc(m->nparams * sizeof *v) : NULL;
        if (!p || (with_momentum && !v)) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory loading %s", path);
    }
    for (int i = 0; st == UNET_OK && i < m->nt; i++) {
        const unet_param_tensor *t = &m->t[i];
        int64_t shape[4];
        for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        const float *data;
        if ((st = unet_st_get_f32(f, t->name, t->ndim, shape, &data)) != UNET_OK) break;
        if ((st = check_finite(path, t->name, data, t->count)) != UNET_OK) break;
        memcpy(p + t->off, data, t->count * sizeof *p);
        if (with_momentum) {
            char vn[64];
            snprintf(vn, sizeof vn, "momentum.%s", t->name);
            if (!unet_st_has(f, vn)) {
                st = unet_seterr(UNET_ERR_FORMAT, "%s has no momentum buffers (tensor '%s'): it is a weights-only file, not a training checkpoint",
                                 path, vn);
                break;
            }
            if ((st = unet_st_get_f32(f, vn, t->ndim, shape, &data)) != UNET_OK) break;
            if ((st = check_finite(path, vn, data, t->count)) != UNET_OK) break;
            memcpy(v + t->off, data, t->count * sizeof *v);
        }
    }
    if (st == UNET_OK) st = unet_model_set_params(m, p);
    if (st == UNET_OK && with_momentum) st = unet_model_set_momentum(m, v);
    if (st == UNET_OK && meta_json) {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; o && i < unet_st_meta_count(f); i++) {
            const char *k, *val;
            unet_st_meta_at(f, i, &k, &val);
            cJSON_AddStringToObject(o, k, val);
        }
        *meta_json = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!*meta_json) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory for the metadata of %s", path);
    }
    free(p);
    free(v);
    unet_st_close(f);
    if (st != UNET_OK) {
        unet_model_destroy(m);
        return st;
    }
    *out = m;
    return UNET_OK;
}
