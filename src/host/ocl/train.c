/* The training loop: SGD with momentum on one augmented tile per step, as the
 * paper trains; validation on held-out images; atomic checkpoints that make a
 * resumed run bitwise identical to an uninterrupted one. */
#include "atomicfile.h"
#include "fsutil.h"
#include "clock.h"
#include "train.h"
#include "augment.h"
#include "cfgmap.h"
#include "dataset.h"
#include "net.h"
#include "plot.h"
#include "safetensors.h"
#include "mix.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Counter-based draws: a pure function of (seed, step, stream). */
static uint64_t draw(uint64_t seed, uint64_t step, uint64_t stream)
{
    return unet_mix64(unet_mix64(seed + 0x9E3779B97F4A7C15ULL) ^ unet_mix64(step * 0xD1B54A32D192ED03ULL + stream));
}

static double learning_rate(const unet_train_config *t, int step)
{
    switch (t->lr_schedule) {
    case UNET_LR_STEP: return t->lr * pow(t->lr_gamma, floor((double)step / (t->lr_step > 0 ? t->lr_step : 1)));
    case UNET_LR_POLY: {
        double f = 1.0 - (double)step / (t->iterations > 0 ? t->iterations : 1);
        return t->lr * pow(f > 0 ? f : 0, t->lr_power);
    }
    default: return t->lr;
    }
}


/* ---- validation -------------------------------------------------------------- */

unet_status unet_validate(unet_net *net, const unet_config *cfg, const unet_dataset *val, double *loss,
                          double *accuracy, double *iou)
{
    int K = cfg->model.classes;
    double lsum = 0, npx = 0, correct = 0;
    double *inter = calloc((size_t)K, sizeof *inter), *uni = calloc((size_t)K, sizeof *uni);
    if (!inter || !uni) {
        free(inter);
        free(uni);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    unet_status st = UNET_OK;
    for (int i = 0; i < val->n && st == UNET_OK; i++) {
        const unet_sample *s = &val->s[i];
        size_t n = (size_t)s->w * s->h, nc = n * (size_t)s->c;
        float *x = malloc(nc * sizeof *x), *p = malloc(n * (size_t)K * sizeof *p);
        if (!x || !p) {
            free(x), free(p);
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
            break;
        }
        for (int ch = 0; ch < s->c; ch++) {
            float a, b;
            unet_sample_affine(cfg, s, ch, &a, &b);
            for (size_t k = (size_t)ch * n; k < (size_t)(ch + 1) * n; k++) x[k] = a * s->image[k] + b;
        }
        st = unet_predict_image(net, x, s->h, s->w, p, NULL, NULL);
        for (size_t k = 0; st == UNET_OK && k < n; k++) {
            int lab = s->labels[k], best = 0;
            for (int c = 1; c < K; c++)
                if (p[(size_t)c * n + k] > p[(size_t)best * n + k]) best = c;
            double w = s->weights ? s->weights[k] : 1.0;
            double pl = p[(size_t)lab * n + k];
            lsum += -w * log(pl > 1e-30 ? pl : 1e-30);
            npx += 1;
            correct += best == lab;
            for (int c = 0; c < K; c++) {
                int in_l = lab == c, in_p = best == c;
                inter[c] += in_l && in_p;
                uni[c] += in_l || in_p;
            }
        }
        free(x);
        free(p);
    }
    if (st == UNET_OK) {
        *loss = npx > 0 ? lsum / npx : 0;
        *accuracy = npx > 0 ? correct / npx : 0;
        if (K == 2) *iou = uni[1] > 0 ? inter[1] / uni[1] : 1.0;
        else {
            double s = 0;
            int m = 0;
            for (int c = 0; c < K; c++)
                if (uni[c] > 0) s += inter[c] / uni[c], m++;
            *iou = m ? s / m : 1.0;
        }
    }
    free(inter);
    free(uni);
    return st;
}

/* ---- checkpoints ------------------------------------------------------------- */

static unet_status save_checkpoint(unet_model *m, const unet_config *cfg, const char *path, int next_step,
                                   int with_momentum)
{
    char *json = NULL;
    UNET_TRY(unet_config_to_json(cfg, &json));
    char step[32], seed[32];
    snprintf(step, sizeof step, "%d", next_step);
    unet_st_format_u64(cfg->train.seed, seed);
    char lib[48];
    snprintf(lib, sizeof lib, "unetcl %s", unet_version());
    unet_kv kv[4] = {{"step", step}, {"seed", seed}, {"config", json}, {"library", lib}};
    unet_status st = unet_model_save(m, path, with_momentum, kv, 4);
    free(json);
    return st;
}

/* Rewrites a CSV log for a resumed run: the header, then the complete rows
 * (ending in a newline) whose step is below keep_below, the rows that the
 * checkpoint's run wrote before the checkpoint; later rows come again. A
 * missing or empty log (killed before its header reached the disk) gets
 * the header. */
static unet_status truncate_log(const char *path, const char *header, int keep_below)
{
    FILE *f = fopen(path, "r");
    if (!f && errno != ENOENT) return unet_seterr(UNET_ERR_IO, "cannot read the log %s to resume it: %s", path, strerror(errno));
    unet_atomic_file af;
    unet_status st = unet_atomic_open(&af, path);
    if (st != UNET_OK) {
        if (f) fclose(f);
        return unet_errctx(st, "resuming the log %s", path);
    }
    fputs(header, af.f);
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') continue; /* cut by a kill, or too long to be ours */
        if (line[0] < '0' || line[0] > '9') continue;  /* the header */
        if (atoi(line) < keep_below) fputs(line, af.f);
    }
    if (f) fclose(f);
    /* on failure the old log stays as it was: no temporary file, no doubled rows */
    return unet_atomic_commit(&af);
}

/* ---- data parallelism (unet_dist) --------------------------------------------- */

static uint64_t fnv1a(const char *str)
{
    uint64_t h = 0xCBF29CE484222325ULL;
    for (; *str; str++) h = (h ^ (unsigned char)*str) * 0x100000001B3ULL;
    return h;
}

/* Every rank's status and a value that must agree (a configuration hash, the
 * step resumed at). Returns st, the status of the first rank that failed (with
 * a message naming it on the other ranks), or UNET_ERR_CONFIG when a value
 * differs from rank 0's. All ranks get the same verdict. */
static unet_status dist_agree(const unet_dist *d, unet_status st, uint64_t value, const char *phase, const char *value_msg)
{
    uint64_t mine[2] = {(uint64_t)st, value}, *all = calloc((size_t)d->size, sizeof mine);
    if (!all) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    unet_status gs = d->allgather(mine, sizeof mine, all, d->user);
    for (int r = 0; gs == UNET_OK && r < d->size; r++)
        if (all[2 * r] != UNET_OK) {
            if (st == UNET_OK)
                st = unet_seterr((unet_status)all[2 * r], "rank %d of %d failed %s (%s; its own message is on its error output); all ranks stop",
                                 r, d->size, phase, unet_status_string((unet_status)all[2 * r]));
            free(all);
            return st;
        }
    for (int r = 1; gs == UNET_OK && st == UNET_OK && r < d->size; r++)
        if (all[2 * r + 1] != all[1])
            st = unet_seterr(UNET_ERR_CONFIG, "ranks disagree: rank %d %s (rank %d: %llu, rank 0: %llu); all ranks stop", r,
                             value_msg, r, (unsigned long long)all[2 * r + 1], (unsigned long long)all[1]);
    free(all);
    return gs != UNET_OK ? gs : st;
}

/* What each rank reports after computing its tiles of a step. */
typedef struct tile_rec {
    double loss, correct;
    int32_t image, pad;
} tile_rec;

/* ---- the loop ------------------------------------------------------------------ */

typedef struct dev_sample {
    unet_tensor image;
    cl_mem labels, weights;
} dev_sample;

static void progress(FILE *f, int tty, int step, int total, double loss, double acc, double rate, double eta,
                     const char *extra)
{
    if (tty) {
        int width = 24, fill = total > 0 ? (int)((double)width * step / total) : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[width] = '\0';
        fprintf(f, "\r  step %6d/%d [%s] loss %.4f acc %.3f  %.2f step/s  ETA %02d:%02d:%02d %s\033[K", step, total,
                bar, loss, acc, rate, (int)(eta / 3600), (int)fmod(eta / 60, 60), (int)fmod(eta, 60), extra);
    } else {
        fprintf(f, "  step %6d/%d  loss %.4f  acc %.3f  %.2f step/s  ETA %.0f s %s\n", step, total, loss, acc, rate,
                eta, extra);
    }
    fflush(f);
}

unet_status unet_train(const unet_config *cfg, const unet_train_options *o, unet_train_summary *sum)
{
    FILE *log = o->log ? o->log : stderr;
    int tty = !o->quiet && isatty(fileno(log));
    memset(sum, 0, sizeof *sum);
    sum->val_loss = sum->val_accuracy = sum->val_iou = -1;
    const unet_dist *d = o->dist && o->dist->size > 1 ? o->dist : NULL;
    int lead = !d || d->rank == 0; /* writes logs, checkpoints and the model */
    if (d) {
        char *json = NULL;
        unet_status cs = unet_config_to_json(cfg, &json);
        cs = dist_agree(d, cs, cs == UNET_OK ? fnv1a(json) : 0, "to read its configuration",
                        "has another configuration than rank 0: start every rank with the same CONFIG and --set "
                        "options (FNV-1a hashes of the configurations");
        free(json);
        if (cs != UNET_OK) return cs;
    }
    UNET_TRY(unet_config_validate(cfg));
    const unet_train_config *tc = &cfg->train;

    /* output paths */
    char ckpt[UNET_CONFIG_STR + 64], csv[UNET_CONFIG_STR + 64], vcsv[UNET_CONFIG_STR + 64],
        final[UNET_CONFIG_STR + 64], ini[UNET_CONFIG_STR + 64], curves[UNET_CONFIG_STR + 64];
    if (unet_mkdir_p(cfg->output.dir) != 0)
        return unet_seterr(UNET_ERR_IO, "cannot create the output folder %s ([output] dir): %s", cfg->output.dir,
                           strerror(errno));
    if (cfg->output.checkpoint[0]) snprintf(ckpt, sizeof ckpt, "%s", cfg->output.checkpoint);
    else snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", cfg->output.dir);
    if (cfg->output.log_csv[0]) snprintf(csv, sizeof csv, "%s", cfg->output.log_csv);
    else snprintf(csv, sizeof csv, "%s/train_log.csv", cfg->output.dir);
    snprintf(vcsv, sizeof vcsv, "%s/val_log.csv", cfg->output.dir);
    snprintf(final, sizeof final, "%s/model.safetensors", cfg->output.dir);
    snprintf(ini, sizeof ini, "%s/config.ini", cfg->output.dir);
    snprintf(curves, sizeof curves, "%s/curves.png", cfg->output.dir);
    /* temporary files of a run killed while writing (kill -9, power loss);
     * with MPI only rank 0, the one that writes them, looks */
    int stale = !lead ? 0 : unet_remove_stale_temps(ckpt) + unet_remove_stale_temps(final) + unet_remove_stale_temps(csv) +
                unet_remove_stale_temps(vcsv);
    stale += !lead ? 0 : unet_remove_stale_temps(curves);
    if (stale) fprintf(log, "  removed %d temporary file%s left by an interrupted run\n", stale, stale == 1 ? "" : "s");

    /* data */
    unet_dataset train, val;
    memset(&val, 0, sizeof val);
    double t0 = unet_now_s();
    unet_status st = unet_dataset_load(cfg, cfg->data.train_images, cfg->data.train_labels, &train);
    if (st != UNET_OK) return d ? dist_agree(d, st, 0, "to load its training data", "") : st;
    if (cfg->data.val_images[0]) st = unet_dataset_load(cfg, cfg->data.val_images, cfg->data.val_labels, &val);
    else st = unet_dataset_split(&train, cfg->data.val_fraction, tc->seed, &val);
    if (st != UNET_OK) {
        unet_dataset_free(&train);
        return d ? dist_agree(d, st, 0, "to load its validation data", "") : st;
    }
    fprintf(log, "unetcl train: %d training image%s, %d validation image%s (%.1f s to load, weight maps %s)\n", train.n,
            train.n == 1 ? "" : "s", val.n, val.n == 1 ? "" : "s", unet_now_s() - t0, cfg->weights.enabled ? "on" : "off");
    for (int i = 0; i < val.n; i++) fprintf(log, "  held out for validation: %s\n", val.s[i].name);
    for (int i = 0; i < train.n; i++)
        if (train.s[i].partial)
            fprintf(log, "  partially annotated: %s (background farther than %d px from its cells is not trained on)\n",
                    train.s[i].name, cfg->data.background_margin);

    /* device, model */
    unet_context_options co;
    unet_context_options_from_config(cfg, o->device, &co);
    unet_context *ctx = NULL;
    unet_model *m = NULL;
    unet_net *net = NULL;
    dev_sample *ds = NULL;
    FILE *fcsv = NULL, *fval = NULL;
    int start = 0, synced = 0;
    int nranks = d ? d->size : 1, rank = d ? d->rank : 0, K = tc->batch, B = K * nranks;
    cl_mem gacc = NULL;     /* sum of this rank's tile gradients of a step (batch > 1) */
    float *hsum = NULL;     /* host copy of it for the sum over ranks */
    int cancel_req = 0;     /* a progress callback asked to stop (MPI: agreed at the next step) */
    tile_rec *recs = NULL;  /* per rank: status and stop flag, then its K tiles */
    if ((st = unet_context_create(&co, &ctx)) != UNET_OK) goto done;
    unet_model_config mc;
    unet_config_model(cfg, &mc);
    if (o->resume) {
        char *meta = NULL;
        if ((st = unet_model_load(ctx, o->resume, 1, &m, &meta)) != UNET_OK) goto done;
        const unet_model_config *lc = unet_model_get_config(m);
        if (lc->in_channels != mc.in_channels || lc->classes != mc.classes || lc->depth != mc.depth ||
            lc->base_channels != mc.base_channels || lc->upconv_relu != mc.upconv_relu) {
            st = unet_seterr(UNET_ERR_CONFIG, "checkpoint %s holds another model (depth %d, %d base channels, %d classes) "
                                              "than the configuration (depth %d, %d, %d)",
                             o->resume, lc->depth, lc->base_channels, lc->classes, mc.depth, mc.base_channels, mc.classes);
            free(meta);
            goto done;
        }
        const char *sp = meta ? strstr(meta, "\"step\":\"") : NULL;
        if (!sp) {
            st = unet_seterr(UNET_ERR_FORMAT, "%s has no training step in its metadata: not a training checkpoint", o->resume);
            free(meta);
            goto done;
        }
        start = atoi(sp + 8);
        free(meta);
        fprintf(log, "  resuming from %s at step %d\n", o->resume, start);
    } else if ((st = unet_model_create(ctx, &mc, tc->seed, &m)) != UNET_OK)
        goto done;
    if ((st = unet_tile_check(&mc, tc->tile)) != UNET_OK) {
        unet_errctx(st, "[train] tile");
        goto done;
    }
    if ((st = unet_net_create(m, tc->tile, tc->tile, 1, &net)) != UNET_OK) goto done;
    const unet_plan_info *pi = unet_net_info(net);
    {
        unet_device_info di;
        unet_context_device_info(ctx, &di);
        char b[32];
        fprintf(log, "  device: %s; model: %zu parameters; tile %d -> %d; device memory %s\n", di.name,
                unet_model_param_count(m), pi->in_h, pi->out_h, unet_format_bytes((double)pi->total_bytes, b, sizeof b));
    }
    /* training images on the device, once */
    ds = calloc((size_t)train.n, sizeof *ds);
    if (!ds) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    for (int i = 0; i < train.n && st == UNET_OK; i++) {
        unet_sample *s = &train.s[i];
        size_t n = (size_t)s->w * s->h;
        if ((st = unet_tensor_alloc(ctx, &ds[i].image, s->c, s->h, s->w, "training image")) != UNET_OK ||
            (st = unet_tensor_upload(ctx, &ds[i].image, s->image)) != UNET_OK ||
            (st = unet_buffer_alloc(ctx, &ds[i].labels, n * 4, "training labels")) != UNET_OK ||
            (st = unet_buffer_write(ctx, ds[i].labels, 0, n * 4, s->labels)) != UNET_OK)
            break;
        if (s->weights && ((st = unet_buffer_alloc(ctx, &ds[i].weights, n * 4, "weight map")) != UNET_OK ||
                           (st = unet_buffer_write(ctx, ds[i].weights, 0, n * 4, s->weights)) != UNET_OK))
            break;
    }
    if (st != UNET_OK) goto done;

    /* sum over the batch: gradients on the device; over ranks, on the host */
    if (K > 1 && (st = unet_buffer_alloc(ctx, &gacc, unet_model_param_count(m) * 4, "gradient sum of a batch")) != UNET_OK)
        goto done;
    recs = calloc((size_t)nranks * (size_t)(K + 1), sizeof *recs);
    if (d) hsum = malloc(unet_model_param_count(m) * sizeof *hsum);
    if (!recs || (d && !hsum)) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
        goto done;
    }
    if (!lead) goto train; /* rank 0 alone writes files */

    /* logs: a resumed run continues them. The training log has a row per
     * step before `start`; the validation log's rows are numbered by the
     * step count after them, and the row of `start` itself was written
     * before the checkpoint was (issue 12, item 5: it was lost). */
    static const char train_header[] = "step,loss,pixel_accuracy,lr,image,seconds\n",
                      val_header[] = "step,val_loss,val_pixel_accuracy,val_iou\n";
    if (o->resume) {
        if ((st = truncate_log(csv, train_header, start)) != UNET_OK ||
            (st = truncate_log(vcsv, val_header, start + 1)) != UNET_OK)
            goto done;
    }
    {
        FILE *ini_f = fopen(ini, "w");
        if (ini_f) {
            unet_config_to_ini(cfg, ini_f);
            fclose(ini_f);
        }
    }
    fcsv = fopen(csv, o->resume ? "a" : "w");
    fval = fopen(vcsv, o->resume ? "a" : "w");
    if (!fcsv || !fval) {
        st = unet_seterr(UNET_ERR_IO, "cannot write the training log %s: %s", !fcsv ? csv : vcsv, strerror(errno));
        goto done;
    }
    if (!o->resume) {
        /* on disk at once: a run killed before its first row still leaves
         * the header (a resumed run writes it in any case) */
        fputs(train_header, fcsv);
        fputs(val_header, fval);
        if (fflush(fcsv) != 0) st = unet_write_fail(errno, csv);
        else if (fflush(fval) != 0) st = unet_write_fail(errno, vcsv);
        if (st != UNET_OK) goto done;
    }
train:;

    unet_augment_options ao;
    unet_config_augment_options(cfg, &ao);
    if (!ao.enabled) {
        /* no augmentation: still a random tile position every step */
        unet_augment_options_none(&ao);
        ao.enabled = 1;
        ao.shift = 1;
    }
    if ((st = unet_augment_options_check(&ao)) != UNET_OK) {
        unet_errctx(st, "[augment]");
        goto done;
    }
    cl_kernel affine, axpy = NULL, scale = NULL;
    if ((st = unet_kernel_get(ctx, "util", "affine_inplace", &affine)) != UNET_OK ||
        (B > 1 && (st = unet_kernel_get(ctx, "util", "axpy", &axpy)) != UNET_OK) ||
        (B > 1 && (st = unet_kernel_get(ctx, "util", "scale_inplace", &scale)) != UNET_OK))
        goto done;
    if (d) {
        /* every rank ready (device, data, model), at the same step */
        synced = 1;
        if ((st = dist_agree(d, st, (uint64_t)start, "to start (device, data or checkpoint)",
                             "resumes at another step than rank 0: give every rank the same checkpoint (steps")) != UNET_OK)
            goto done;
        fprintf(log, "  data parallel: %d ranks x batch %d = %d tiles per step\n", nranks, K, B);
    }

    double tstart = unet_now_s(), tlast = tstart, ema = -1, ema_acc = 0;
    char extra[96] = "";
    int np = (int)unet_model_param_count(m), agreed_exit = 0;
    for (int step = start; step < tc->iterations; step++) {
        /* This rank's tiles of the step: tile j of the step's B is number
         * step * B + j of the seeded stream (B = 1: the step), and rank r of
         * N computes j = r, r + N, ..., so N ranks x batch K draw the tiles of
         * one process with batch N * K. */
        tile_rec *mine = recs + (size_t)rank * (size_t)(K + 1);
        for (int k = 0; k < K && st == UNET_OK; k++) {
            uint64_t t = (uint64_t)step * (uint64_t)B + (uint64_t)rank + (uint64_t)nranks * (uint64_t)k;
            int idx = (int)(draw(tc->seed, t, 1) % (uint64_t)train.n);
            unet_sample *s = &train.s[idx];
            unet_augment_params ap;
            if ((st = unet_augment_draw(&ao, tc->seed, t, 0, s->w, s->h, tc->tile, &ap)) != UNET_OK) break;
            if ((st = unet_augment_apply(ctx, &ap, &ds[idx].image, ds[idx].labels, ds[idx].weights, &net->input,
                                         pi->out_h, net->labels, s->weights ? net->weights : NULL)) != UNET_OK)
                break;
            /* normalisation of the augmented tile, per channel (as unet_normalize_image) */
            int plane = pi->in_h * pi->in_w;
            for (int ch = 0; ch < s->c && st == UNET_OK; ch++) {
                float a, b;
                unet_sample_affine(cfg, s, ch, &a, &b);
                int off = ch * plane;
                size_t g = (size_t)plane;
                cl_int e = UNET_SET_ARGS(affine, unet_arg_mem(net->input.mem), unet_arg_int(off), unet_arg_int(plane),
                                         unet_arg_float(a), unet_arg_float(b));
                if (e != CL_SUCCESS) st = unet_cl_fail(e, __FILE__, __LINE__, "setting affine_inplace arguments");
                else st = unet_enqueue(ctx, affine, "affine_inplace", 1, &g, NULL);
            }
            if (st != UNET_OK) break;
            unet_step_result r;
            if ((st = unet_net_loss_backward_device(net, s->weights != NULL, draw(tc->seed, t, 2), &r)) != UNET_OK)
                break;
            /* gradient sum of the rank's tiles, in tile order, on the device */
            if (K > 1 && k == 0) st = unet_buffer_copy(ctx, m->grads, 0, gacc, 0, (size_t)np);
            else if (K > 1) {
                size_t g = (size_t)np;
                float one = 1.0f;
                cl_int e = UNET_SET_ARGS(axpy, unet_arg_mem(gacc), unet_arg_mem(m->grads), unet_arg_int(np),
                                         unet_arg_float(one));
                if (e != CL_SUCCESS) st = unet_cl_fail(e, __FILE__, __LINE__, "setting axpy arguments");
                else st = unet_enqueue(ctx, axpy, "axpy", 1, &g, NULL);
            }
            tile_rec tr = {r.loss, r.correct, idx, 0};
            mine[1 + k] = tr;
        }
        int stop = (o->stop && *o->stop) || cancel_req;
        if (d) {
            /* every rank's status, stop request and tiles, in rank order */
            tile_rec flags = {(double)st, (double)stop, 0, 0};
            mine[0] = flags;
            unet_status gs = d->allgather(mine, (size_t)(K + 1) * sizeof *mine, recs, d->user);
            if (gs != UNET_OK) st = gs;
            for (int q = 0; gs == UNET_OK && q < nranks; q++) {
                const tile_rec *f = &recs[(size_t)q * (size_t)(K + 1)];
                if (f->loss != 0 && st == UNET_OK)
                    st = unet_seterr((unet_status)f->loss, "rank %d of %d failed at step %d (%s; its own message is on "
                                     "its error output); all ranks stop", q, nranks, step, unet_status_string((unet_status)f->loss));
                if (f->correct != 0) stop = 1;
            }
            if (st != UNET_OK) {
                agreed_exit = 1;
                break;
            }
            if (stop) agreed_exit = 1; /* all ranks stop after this step */
        } else if (st != UNET_OK)
            break;
        /* the step's gradient: the mean over its B tiles (over ranks: summed in rank order) */
        if (d) {
            unet_status rs = unet_buffer_read(ctx, K > 1 ? gacc : m->grads, 0, (size_t)np * 4, hsum);
            unet_status ss = d->sum(hsum, (size_t)np, d->user); /* every rank calls it, whatever happened */
            st = rs != UNET_OK ? rs : ss;
            if (st == UNET_OK) st = unet_buffer_write(ctx, m->grads, 0, (size_t)np * 4, hsum);
        } else if (K > 1)
            st = unet_buffer_copy(ctx, gacc, 0, m->grads, 0, (size_t)np);
        if (st == UNET_OK && B > 1) {
            size_t g = (size_t)np;
            float inv = 1.0f / (float)B;
            cl_int e = UNET_SET_ARGS(scale, unet_arg_mem(m->grads), unet_arg_int(np), unet_arg_float(inv));
            if (e != CL_SUCCESS) st = unet_cl_fail(e, __FILE__, __LINE__, "setting scale_inplace arguments");
            else st = unet_enqueue(ctx, scale, "scale_inplace", 1, &g, NULL);
        }
        double lr = learning_rate(tc, step);
        if (st == UNET_OK) st = unet_model_sgd(m, (float)lr, (float)tc->momentum, (float)tc->weight_decay);
        if (st != UNET_OK) {
            if (d && !stop) continue; /* the next agreement tells the other ranks */
            break;
        }
        /* loss and accuracy of the step: means over its tiles, in tile order */
        unet_step_result r = {0, 0, 0, 0};
        for (int j = 0; j < B; j++) {
            const tile_rec *tr = &recs[(size_t)(j % nranks) * (size_t)(K + 1) + 1 + (size_t)(j / nranks)];
            r.loss += tr->loss;
            r.correct += tr->correct;
        }
        r.loss /= B;
        r.correct /= B;
        int idx = recs[1].image; /* the image of the step's first tile */
        if (!isfinite(r.loss)) {
            st = unet_seterr(UNET_ERR_DATA,
                             "the loss became %g at step %d: training diverged; lower [train] lr (now %g) "
                             "or momentum (now %g)",
                             r.loss, step, lr, tc->momentum);
            agreed_exit = 1; /* every rank sees the same loss */
            break;
        }
        size_t px = (size_t)pi->out_h * pi->out_w;
        double acc = r.correct / (double)px;
        if (fcsv) {
            fprintf(fcsv, "%d,%.6f,%.5f,%.6g,%d,%.3f\n", step, r.loss, acc, lr, idx, unet_now_s() - tstart);
            if (tc->log_every > 0 && (step + 1) % tc->log_every == 0) fflush(fcsv); /* tail -f works */
        }
        ema = ema < 0 ? r.loss : 0.95 * ema + 0.05 * r.loss;
        ema_acc = step == start ? acc : 0.95 * ema_acc + 0.05 * acc;
        sum->steps_done++;
        sum->last_step = step + 1;
        sum->last_loss = r.loss;
        int last = step + 1 == tc->iterations;
        const int validate = lead && tc->val_every > 0 && val.n > 0 && ((step + 1) % tc->val_every == 0 || last);
        if (validate) {
            double vl, va, vi;
            if ((st = unet_validate(net, cfg, &val, &vl, &va, &vi)) != UNET_OK) {
                if (d && !stop) continue;
                break;
            }
            fprintf(fval, "%d,%.6f,%.5f,%.5f\n", step + 1, vl, va, vi);
            fflush(fval);
            /* the curves so far; a picture that cannot be drawn never stops training */
            fflush(fcsv);
            unet_plot_run pr = {cfg->output.dir, csv, vcsv};
            if (unet_plot_files(&pr, 1, curves, 0, 0) != UNET_OK)
                fprintf(log, "%s  warning: %s not drawn (training goes on): %s\n", tty ? "\n" : "", curves,
                        unet_last_error());
            sum->val_loss = vl;
            sum->val_accuracy = va;
            sum->val_iou = vi;
            snprintf(extra, sizeof extra, "| val loss %.4f acc %.3f IoU %.3f", vl, va, vi);
            if (!tty) fprintf(log, "  validation after step %d: loss %.4f, pixel accuracy %.4f, IoU %.4f\n", step + 1,
                              vl, va, vi);
        }
        double now = unet_now_s();
        if (o->on_step) {
            unet_train_progress tp = {step + 1, tc->iterations, r.loss, acc, lr, -1.0, -1.0, -1.0, now - tstart};
            if (validate) tp.val_loss = sum->val_loss, tp.val_accuracy = sum->val_accuracy, tp.val_iou = sum->val_iou;
            if (o->on_step(&tp, o->user) != 0) {
                /* one process stops after this step; ranks agree on the
                 * request at the next step and stop after it */
                if (d) cancel_req = 1;
                else stop = 1;
            }
        }
        if (!o->quiet && (last || (tty && now - tlast > 0.5) || (!tty && tc->log_every > 0 && (step + 1) % tc->log_every == 0))) {
            double rate = (step + 1 - start) / (now - tstart);
            progress(log, tty, step + 1, tc->iterations, ema, ema_acc, rate, (tc->iterations - step - 1) / rate, extra);
            tlast = now;
            if (fcsv) fflush(fcsv);
        }
        if (lead && (stop || (tc->checkpoint_every > 0 && (step + 1) % tc->checkpoint_every == 0) || last)) {
            /* every row before the checkpoint is in the logs before it is:
             * a resumed run keeps them and writes the later ones again */
            if (fflush(fcsv) != 0 || ferror(fcsv)) st = unet_write_fail(errno, csv);
            else if (fflush(fval) != 0 || ferror(fval)) st = unet_write_fail(errno, vcsv);
            else st = save_checkpoint(m, cfg, ckpt, step + 1, 1);
            if (st != UNET_OK) {
                if (d && !stop) continue; /* the next agreement tells the other ranks */
                break;
            }
        }
        if (stop) {
            if (tty) fputc('\n', log);
            fprintf(log, "  stopped at step %d: checkpoint written to %s (continue with --resume)\n", step + 1, ckpt);
            st = unet_seterr(UNET_ERR_INTERRUPTED, "training stopped at step %d on request; checkpoint %s", step + 1, ckpt);
            break;
        }
    }
    if (tty && !o->quiet) fputc('\n', log);
    if (st == UNET_OK && lead) {
        if ((st = save_checkpoint(m, cfg, final, tc->iterations, 0)) == UNET_OK)
            fprintf(log, "  model written to %s; checkpoint %s; log %s\n", final, ckpt, csv);
    }
    if (d && !agreed_exit) {
        /* every rank must hold the same weights: a hash of their bytes */
        uint64_t h = 0;
        if (st == UNET_OK && (st = unet_buffer_read(ctx, m->params, 0, (size_t)np * 4, hsum)) == UNET_OK) {
            h = 0xCBF29CE484222325ULL;
            const unsigned char *b = (const unsigned char *)hsum;
            for (size_t i = 0; i < (size_t)np * 4; i++) h = (h ^ b[i]) * 0x100000001B3ULL;
        }
        st = dist_agree(d, st, h, "at the end of training",
                        "holds other weights than rank 0: a bug, please report it (FNV-1a hashes of the weights");
        if (st == UNET_OK) fprintf(log, "  weights bitwise identical on all %d ranks (hash %016llx)\n", nranks, (unsigned long long)h);
    }
    sum->seconds = unet_now_s() - tstart;
done:
    if (d && !synced) dist_agree(d, st, 0, "to start (device, data or checkpoint)", ""); /* tells the waiting ranks */
    if (gacc) clReleaseMemObject(gacc);
    free(hsum);
    free(recs);
    if (fcsv && fclose(fcsv) != 0 && st == UNET_OK) st = unet_write_fail(errno, csv);
    if (fval && fclose(fval) != 0 && st == UNET_OK) st = unet_write_fail(errno, vcsv);
    for (int i = 0; ds && i < train.n; i++) {
        unet_tensor_free(&ds[i].image);
        if (ds[i].labels) clReleaseMemObject(ds[i].labels);
        if (ds[i].weights) clReleaseMemObject(ds[i].weights);
    }
    free(ds);
    unet_net_destroy(net);
    unet_model_destroy(m);
    unet_context_destroy(ctx);
    unet_dataset_free(&train);
    unet_dataset_free(&val);
    return st;
}
