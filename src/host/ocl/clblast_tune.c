/* CLBlast tuning file: read, check, write, apply (see clblast_tune.h). */
#define _POSIX_C_SOURCE 200809L
#include "atomicfile.h"
#include "fsutil.h"
#include "clblast_tune.h"
#include "conv_gpu.h"

#include <cjson/cJSON.h>
#include <clblast_c.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef UNETCL_CLBLAST_VERSION
#define UNETCL_CLBLAST_VERSION "unknown"
#endif

/* Largest file accepted (a real one is about 3 KiB). */
#define MAX_FILE_BYTES (1 << 20)

static const char *const KERNELS[UNET_CLBLAST_MAX_KERNELS] = {"Xgemm", "XgemmDirect", "GemmRoutine"};

const char *unet_clblast_version(void) { return UNETCL_CLBLAST_VERSION; }

void unet_clblast_tuning_path(const char *cache_dir, const unet_device_info *dev, char *out, size_t n)
{
    unet_device_cache_path(cache_dir, dev, "clblast", "json", out, n);
}

void unet_clblast_tuning_init(unet_clblast_tuning *t, const unet_device_info *dev)
{
    memset(t, 0, sizeof *t);
    snprintf(t->device, sizeof t->device, "%s", dev->name);
    snprintf(t->vendor, sizeof t->vendor, "%s", dev->vendor);
    snprintf(t->platform, sizeof t->platform, "%s", dev->platform_name);
    snprintf(t->driver, sizeof t->driver, "%s", dev->driver_version);
    snprintf(t->clblast, sizeof t->clblast, "%s", UNETCL_CLBLAST_VERSION);
}

int unet_clblast_params_set(unet_clblast_params *p, const char *name, size_t value)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->names[i], name)) {
            p->values[i] = value;
            return 1;
        }
    if (p->n >= UNET_CLBLAST_MAX_PARAMS || strlen(name) >= sizeof p->names[0]) return 0;
    snprintf(p->names[p->n], sizeof p->names[0], "%s", name);
    p->values[p->n++] = value;
    return 1;
}

size_t unet_clblast_params_get(const unet_clblast_params *p, const char *name, size_t dflt)
{
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->names[i], name)) return p->values[i];
    return dflt;
}

/* ---- reading ------------------------------------------------------------- */

static int why_set(char *why, size_t n, const char *fmt, const char *a, const char *b)
{
    if (why && n) snprintf(why, n, fmt, a, b);
    return 0;
}

static int copy_string(const cJSON *o, const char *key, char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || !v->valuestring || strlen(v->valuestring) >= n) return 0;
    snprintf(out, n, "%s", v->valuestring);
    return 1;
}

/* Parses {"Xgemm": {"MWG": 64, ...}, ...}; every kernel must be one of
 * KERNELS, every value an integer in [0, 2^20]. */
static int parse_kernels(const cJSON *obj, unet_clblast_params *out, int *count, char *why, size_t wn,
                         const char *what)
{
    *count = 0;
    if (!cJSON_IsObject(obj)) return why_set(why, wn, "\"%s\" is missing or not an object%s", what, "");
    const cJSON *k;
    cJSON_ArrayForEach(k, obj)
    {
        int known = 0;
        for (int i = 0; i < UNET_CLBLAST_MAX_KERNELS; i++) known |= k->string && !strcmp(k->string, KERNELS[i]);
        if (!known) return why_set(why, wn, "unknown kernel \"%s\" in \"%s\"", k->string ? k->string : "?", what);
        if (!cJSON_IsObject(k) || *count >= UNET_CLBLAST_MAX_KERNELS)
            return why_set(why, wn, "kernel \"%s\" in \"%s\" is not an object (or repeated)", k->string, what);
        unet_clblast_params *p = &out[(*count)++];
        memset(p, 0, sizeof *p);
        snprintf(p->kernel, sizeof p->kernel, "%s", k->string);
        const cJSON *v;
        cJSON_ArrayForEach(v, k)
        {
            if (!v->string || !cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)(1 << 20) ||
                v->valuedouble != (double)(long long)v->valuedouble)
                return why_set(why, wn, "parameter \"%s\" of %s is not an integer in [0, 1048576]",
                               v->string ? v->string : "?", p->kernel);
            if (!unet_clblast_params_set(p, v->string, (size_t)v->valuedouble))
                return why_set(why, wn, "kernel %s has too many parameters or a too long name (\"%s\")", p->kernel,
                               v->string);
        }
        if (p->n == 0) return why_set(why, wn, "kernel %s in \"%s\" has no parameters", p->kernel, what);
    }
    return 1;
}

unet_tuning_state unet_clblast_tuning_read(const char *path, const unet_device_info *dev, unet_clblast_tuning *t,
                                           char *why, size_t why_len)
{
    memset(t, 0, sizeof *t);
    if (why && why_len) why[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (why && why_len) snprintf(why, why_len, "no tuning file %s (%s)", path, strerror(errno));
        return UNET_TUNING_NONE;
    }
    char *buf = malloc(MAX_FILE_BYTES + 1);
    size_t len = buf ? fread(buf, 1, MAX_FILE_BYTES + 1, f) : 0;
    fclose(f);
    if (!buf || len == 0 || len > MAX_FILE_BYTES) {
        free(buf);
        why_set(why, why_len, "%s is empty, too large or unreadable%s", path, "");
        return UNET_TUNING_CORRUPT;
    }
    buf[len] = '\0';
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    unet_tuning_state st = UNET_TUNING_CORRUPT;
    char fmt[64] = "";
    if (!root || !cJSON_IsObject(root)) {
        why_set(why, why_len, "%s is not a JSON object (corrupt)%s", path, "");
        goto done;
    }
    if (!copy_string(root, "format", fmt, sizeof fmt) || strcmp(fmt, UNET_CLBLAST_FORMAT) != 0) {
        why_set(why, why_len, "%s: \"format\" is not \"%s\"", path, UNET_CLBLAST_FORMAT);
        goto done;
    }
    if (!copy_string(root, "device", t->device, sizeof t->device) ||
        !copy_string(root, "driver", t->driver, sizeof t->driver) ||
        !copy_string(root, "clblast", t->clblast, sizeof t->clblast)) {
        why_set(why, why_len, "%s: \"device\", \"driver\" or \"clblast\" is missing%s", path, "");
        goto done;
    }
    copy_string(root, "vendor", t->vendor, sizeof t->vendor);
    copy_string(root, "platform", t->platform, sizeof t->platform);
    copy_string(root, "method", t->method, sizeof t->method);
    char sub[200];
    if (!parse_kernels(cJSON_GetObjectItemCaseSensitive(root, "kernels"), t->kernels, &t->nkernels, sub, sizeof sub,
                       "kernels")) {
        why_set(why, why_len, "%s: %s", path, sub);
        goto done;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (d && !parse_kernels(d, t->defaults, &t->ndefaults, sub, sizeof sub, "defaults")) {
        why_set(why, why_len, "%s: %s", path, sub);
        goto done;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "measured"), *e;
    if (cJSON_IsArray(m))
        cJSON_ArrayForEach(e, m)
        {
            if (t->nmeasured >= UNET_CLBLAST_MAX_MEASURED) break;
            unet_clblast_measure *r = &t->measured[t->nmeasured];
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "default_ms"),
                        *b = cJSON_GetObjectItemCaseSensitive(e, "tuned_ms");
            if (!copy_string(e, "shape", r->shape, sizeof r->shape) || !cJSON_IsNumber(a) || !cJSON_IsNumber(b))
                continue;
            r->default_ms = a->valuedouble;
            r->tuned_ms = b->valuedouble;
            t->nmeasured++;
        }
    st = UNET_TUNING_OK;
    if (dev) {
        if (strcmp(t->device, dev->name) != 0) {
            why_set(why, why_len, "tuning file is for device \"%s\", not \"%s\"", t->device, dev->name);
            st = UNET_TUNING_STALE;
        } else if (strcmp(t->driver, dev->driver_version) != 0) {
            why_set(why, why_len, "tuned with driver \"%s\", the device now has \"%s\" (stale: run `unetcl tune`)",
                    t->driver, dev->driver_version);
            st = UNET_TUNING_STALE;
        } else if (strcmp(t->clblast, UNETCL_CLBLAST_VERSION) != 0) {
            why_set(why, why_len, "tuned with CLBlast %s, unetcl uses CLBlast %s (stale: run `unetcl tune`)",
                    t->clblast, UNETCL_CLBLAST_VERSION);
            st = UNET_TUNING_STALE;
        }
    }
done:
    cJSON_Delete(root);
    return st;
}

/* ---- writing ------------------------------------------------------------- */


static cJSON *kernels_json(const unet_clblast_params *p, int n)
{
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < n; i++) {
        cJSON *k = cJSON_AddObjectToObject(o, p[i].kernel);
        for (int j = 0; k && j < p[i].n; j++) cJSON_AddNumberToObject(k, p[i].names[j], (double)p[i].values[j]);
    }
    return o;
}

unet_status unet_clblast_tuning_write(const char *path, const unet_clblast_tuning *t)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);
    cJSON_AddStringToObject(root, "format", UNET_CLBLAST_FORMAT);
    cJSON_AddStringToObject(root, "device", t->device);
    cJSON_AddStringToObject(root, "vendor", t->vendor);
    cJSON_AddStringToObject(root, "platform", t->platform);
    cJSON_AddStringToObject(root, "driver", t->driver);
    cJSON_AddStringToObject(root, "clblast", t->clblast);
    cJSON_AddStringToObject(root, "precision", "single");
    cJSON_AddStringToObject(root, "method", t->method);
    cJSON_AddItemToObject(root, "kernels", kernels_json(t->kernels, t->nkernels));
    cJSON_AddItemToObject(root, "defaults", kernels_json(t->defaults, t->ndefaults));
    cJSON *m = cJSON_AddArrayToObject(root, "measured");
    for (int i = 0; m && i < t->nmeasured; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "shape", t->measured[i].shape);
        cJSON_AddNumberToObject(e, "default_ms", t->measured[i].default_ms);
        cJSON_AddNumberToObject(e, "tuned_ms", t->measured[i].tuned_ms);
        cJSON_AddItemToArray(m, e);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "writing %s: out of host memory", path);

    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (unet_mkdir_p(dir) != 0) {
            free(text);
            return unet_seterr(UNET_ERR_IO, "creating the cache folder %s: %s (set UNETCL_CACHE_DIR)", dir,
                               strerror(errno));
        }
    }
    unet_atomic_file af;
    unet_status st = unet_atomic_open(&af, path);
    if (st == UNET_OK) {
        size_t len = strlen(text);
        if (fwrite(text, 1, len, af.f) != len || fputc('\n', af.f) == EOF) {
            st = unet_write_fail(errno, path);
            unet_atomic_abort(&af);
        } else {
            st = unet_atomic_commit(&af);
        }
    }
    free(text);
    return st != UNET_OK ? unet_errctx(st, "writing the CLBlast tuning file") : UNET_OK;
}

/* ---- applying ------------------------------------------------------------ */

unet_status unet_clblast_apply(unet_context *ctx, const unet_clblast_params *p, int n)
{
    for (int i = 0; i < n; i++) {
        const char *names[UNET_CLBLAST_MAX_PARAMS];
        for (int j = 0; j < p[i].n; j++) names[j] = p[i].names[j];
        CLBlastStatusCode s = CLBlastOverrideParameters(ctx->device, p[i].kernel, CLBlastPrecisionSingle,
                                                        (size_t)p[i].n, names, p[i].values);
        if (s != CLBlastSuccess)
            return unet_seterr(UNET_ERR_BLAS,
                               "CLBlastOverrideParameters(%s, %d parameters) failed with status %d (%s): the "
                               "parameter set does not match this CLBlast version; run `unetcl tune` again",
                               p[i].kernel, p[i].n, (int)s,
                               s == CLBlastMissingOverrideParameter ? "missing or unknown parameter" : "error");
    }
    return UNET_OK;
}

void unet_clblast_tuning_autoload(unet_context *ctx)
{
    if (ctx->clblast_tuning != 0) return;
    ctx->clblast_tuning = -1;
    if (ctx->clblast_tuning_disabled) {
        if (ctx->verbose) fprintf(stderr, "unetcl: CLBlast tuning file not used (disabled)\n");
        return;
    }
    char path[1100], why[512];
    unet_clblast_tuning_path(ctx->cache_dir, &ctx->info, path, sizeof path);
    unet_clblast_tuning *t = malloc(sizeof *t);
    if (!t) return;
    const unet_tuning_state st = unet_clblast_tuning_read(path, &ctx->info, t, why, sizeof why);
    if (st != UNET_TUNING_OK) {
        if (ctx->verbose)
            fprintf(stderr, "unetcl: CLBlast uses its default parameters on %s: %s%s\n", ctx->info.name, why,
                    st == UNET_TUNING_NONE ? " (run `unetcl tune` to tune)" : "; file ignored");
        free(t);
        return;
    }
    if (unet_clblast_apply(ctx, t->kernels, t->nkernels) != UNET_OK) {
        if (ctx->verbose) fprintf(stderr, "unetcl: %s: %s; file ignored\n", path, unet_last_error());
        /* Back to CLBlast's own parameters for whatever was applied. */
        if (t->ndefaults) (void)unet_clblast_apply(ctx, t->defaults, t->ndefaults);
        unet_clear_error(); /* not an error of the caller */
    } else {
        ctx->clblast_tuning = 1;
        if (ctx->verbose) fprintf(stderr, "unetcl: CLBlast tuned parameters applied from %s\n", path);
    }
    free(t);
}

void unet_device_tuning_describe(const unet_device_info *dev, char *out, size_t n)
{
    if (!dev || !out || n == 0) return;
    char cache_dir[1024];
    unet_default_cache_dir(cache_dir, sizeof cache_dir);
    unet_tuning_summary(cache_dir, dev, out, n);
}

void unet_tuning_summary(const char *cache_dir, const unet_device_info *dev, char *out, size_t n)
{
    if (!dev || !out || n == 0) return;
    char path[1100], why[512];
    unet_clblast_tuning_path(cache_dir, dev, path, sizeof path);
    unet_clblast_tuning *t = malloc(sizeof *t);
    if (!t) {
        snprintf(out, n, "CLBlast: tuning state unknown (out of memory)");
        return;
    }
    const unet_tuning_state ts = unet_clblast_tuning_read(path, dev, t, why, sizeof why);
    free(t);
    if (ts == UNET_TUNING_OK) snprintf(out, n, "CLBlast: tuned (%s)", path);
    else if (ts == UNET_TUNING_NONE)
        snprintf(out, n, "CLBlast: default parameters (`unetcl tune --device %d` tunes them)", dev->index);
    else snprintf(out, n, "CLBlast: default parameters; tuning file ignored: %s", why);
    size_t len = strlen(out);
    unet_gpuconv_tuning_path(cache_dir, dev, path, sizeof path);
    if (dev->type == UNET_DEVICE_CPU)
        snprintf(out + len, n - len,
                 "\nGPU convolution kernels: not used on CPU devices (UNETCL_GPU_KERNELS=1 forces them)"
                 "\nprecision fp16: GPU devices only (cl_khr_fp16: %s)",
                 dev->fp16_arithmetic ? "yes" : "no");
    else
        snprintf(out + len, n - len,
                 "\nGPU convolution kernels: %s"
                 "\nprecision fp16: available (binary16 storage by vload_half/vstore_half, float "
                 "accumulation; cl_khr_fp16 half arithmetic: %s)",
                 access(path, R_OK) == 0 ? path : "not tuned: im2col + CLBlast (`unetcl tune` chooses per layer)",
                 dev->fp16_arithmetic ? "yes" : "no");
}
