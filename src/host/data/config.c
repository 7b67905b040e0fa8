/*
 * Run configuration: defaults, INI reader/writer, command-line overrides and
 * JSON (for checkpoints). Everything is driven by one table of keys (KEYS
 * below), so adding a setting means adding a struct field and one table row.
 *
 * The INI reader is our own rather than inih: see config.h for why and for the
 * accepted syntax.
 */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "atomicfile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "error.h"

/* ---- the table of keys --------------------------------------------------- */

typedef enum { T_INT, T_U64, T_REAL, T_BOOL, T_STR, T_ENUM, T_FLAGS } ktype;

typedef struct key_desc {
    const char *section;
    const char *key;
    ktype type;
    size_t off;  /* offset in unet_config */
    size_t size; /* T_STR: capacity of the char array */
    double lo, hi;
    int lo_open, hi_open; /* 1: bound excluded */
    const char *const *names; /* T_ENUM/T_FLAGS: value names (index/bit order) */
    const char *help;
} key_desc;

static const char *const label_names[] = {"instances", "binary", "classes", NULL};
static const char *const norm_names[] = {"per_image", "fixed", NULL};
static const char *const sched_names[] = {"constant", "step", "poly", NULL};
static const char *const balance_names[] = {"image", "dataset", NULL};
static const char *const targets_names[] = {"paper", "border3", NULL};
static const char *const instance_names[] = {"components", "watershed", NULL};
static const char *const precision_names[] = {"fp32", "fp16", NULL};
static const char *const output_names[] = {"prob", "mask", "instances", "overlay", NULL};

static const char *const section_names[] = {"model",   "data",   "train", "augment",
                                            "weights", "device", "infer", "output", NULL};

#define OFF(m) offsetof(unet_config, m)
#define INF HUGE_VAL
/* closed range [lo, hi] / half-open variants */
#define INT_(s, k, m, lo, hi, h) {s, k, T_INT, OFF(m), 0, lo, hi, 0, 0, NULL, h}
#define REAL_(s, k, m, lo, lo_open, hi, hi_open, h) {s, k, T_REAL, OFF(m), 0, lo, hi, lo_open, hi_open, NULL, h}
#define BOOL_(s, k, m, h) {s, k, T_BOOL, OFF(m), 0, 0, 1, 0, 0, NULL, h}
#define STR_(s, k, m, h) {s, k, T_STR, OFF(m), sizeof(((unet_config *)0)->m), 0, 0, 0, 0, NULL, h}
#define ENUM_(s, k, m, names, h) {s, k, T_ENUM, OFF(m), 0, 0, 0, 0, 0, names, h}

static const key_desc KEYS[] = {
    INT_("model", "in_channels", model.in_channels, 1, 64, "channels of the input images"),
    INT_("model", "classes", model.classes, 2, 256, "output classes K (2: background/foreground)"),
    INT_("model", "depth", model.depth, 2, 8, "resolution levels including the bottleneck (paper: 5)"),
    INT_("model", "base_channels", model.base_channels, 1, 4096,
         "channels of the first level, doubled per level (paper: 64)"),
    REAL_("model", "dropout", model.dropout, 0, 0, 1, 1,
          "drop-out probability at the end of the contracting path, 0 <= p < 1"),
    BOOL_("model", "upconv_relu", model.upconv_relu, "ReLU after each 2x2 up-convolution"),

    STR_("data", "train_images", data.train_images, "training images: folder, glob or multi-page TIFF"),
    STR_("data", "train_labels", data.train_labels, "training labels, same order as the images"),
    STR_("data", "val_images", data.val_images, "validation images (empty: hold out val_fraction)"),
    STR_("data", "val_labels", data.val_labels, "validation labels"),
    REAL_("data", "val_fraction", data.val_fraction, 0, 0, 1, 1,
          "fraction of the training images held out when val_images is empty"),
    ENUM_("data", "label_type", data.label_type, label_names,
          "instances (ids, 0 = background) | binary (== foreground_value) | classes (value = class)"),
    INT_("data", "foreground_value", data.foreground_value, 0, 65535,
         "label value of the foreground for label_type = binary"),
    ENUM_("data", "normalize", data.normalize, norm_names,
          "per_image (zero mean, unit std per image) | fixed ((x - norm_mean) / norm_std)"),
    REAL_("data", "norm_mean", data.norm_mean, -INF, 1, INF, 1, "mean for normalize = fixed (intensity in [0,1])"),
    REAL_("data", "norm_std", data.norm_std, 0, 1, INF, 1, "std for normalize = fixed, > 0"),
    BOOL_("data", "invert_labels", data.invert_labels, "swap foreground and background of binary labels"),
    REAL_("data", "scale", data.scale, 0.05, 0, 4, 0,
          "resize factor of images and labels for training and inference, 0.05..4 (0.5: half size; "
          "probabilities are resized back to the input's size)"),
    ENUM_("data", "targets", data.targets, targets_names,
          "paper (2 classes: background / cell, touching cells split by a background border) | border3 "
          "(3 classes: background / cell border / cell interior, for instance segmentation)"),
    STR_("data", "partial", data.partial,
         "glob of label file names (e.g. t067.png or *_partial.png) that are partially annotated: their "
         "background far from every annotated cell is not trained on (empty: none)"),
    INT_("data", "background_margin", data.background_margin, 0, 100000,
         "partial labels: background farther than this (px) from every annotated cell gets loss weight 0"),
    INT_("data", "border_width", data.border_width, 1, 64,
         "targets = border3: cell pixels within this distance (px) of another cell or the background are border"),

    INT_("train", "tile", train.tile, 1, 16384, "input tile edge in pixels (paper: 572)"),
    INT_("train", "iterations", train.iterations, 1, INT_MAX, "SGD steps (one tile per step)"),
    INT_("train", "batch", train.batch, 1, 4096,
         "tiles per SGD step (per MPI rank): gradients and loss averaged over the step's tiles"),
    REAL_("train", "lr", train.lr, 0, 1, INF, 1, "learning rate, > 0"),
    REAL_("train", "momentum", train.momentum, 0, 0, 1, 1, "SGD momentum (paper: 0.99), 0 <= m < 1"),
    REAL_("train", "weight_decay", train.weight_decay, 0, 0, INF, 1, "L2 weight decay, >= 0"),
    ENUM_("train", "lr_schedule", train.lr_schedule, sched_names,
          "constant | step (lr * lr_gamma^floor(iter/lr_step)) | poly (lr * (1-iter/iterations)^lr_power)"),
    INT_("train", "lr_step", train.lr_step, 1, INT_MAX, "iterations between decays (lr_schedule = step)"),
    REAL_("train", "lr_gamma", train.lr_gamma, 0, 1, 1, 0, "decay factor (lr_schedule = step), 0 < g <= 1"),
    REAL_("train", "lr_power", train.lr_power, 0, 1, INF, 1, "exponent (lr_schedule = poly), > 0"),
    {"train", "seed", T_U64, OFF(train.seed), 0, 0, 0, 0, 0, NULL,
     "random seed of initialisation, sampling and augmentation (0..2^64-1)"},
    INT_("train", "val_every", train.val_every, 0, INT_MAX, "validate every N iterations (0 = never)"),
    INT_("train", "checkpoint_every", train.checkpoint_every, 0, INT_MAX,
         "write a checkpoint every N iterations (0 = only at the end)"),
    INT_("train", "log_every", train.log_every, 1, INT_MAX, "log the loss every N iterations"),

    BOOL_("augment", "enabled", augment.enabled, "master switch of the augmentation"),
    BOOL_("augment", "elastic", augment.elastic, "random elastic deformation (paper)"),
    INT_("augment", "elastic_grid", augment.elastic_grid, 2, 16, "coarse displacement grid points per axis (paper: 3)"),
    REAL_("augment", "elastic_sigma", augment.elastic_sigma, 0, 0, 10000, 0,
          "std of the grid displacements in pixels (paper: 10)"),
    BOOL_("augment", "rotate", augment.rotate, "random rotation"),
    REAL_("augment", "rotate_max_deg", augment.rotate_max_deg, 0, 0, 180, 0,
          "rotation angle uniform in [-max, max] degrees"),
    BOOL_("augment", "flip", augment.flip, "random horizontal and vertical flips"),
    REAL_("augment", "shift", augment.shift, 0, 0, 10000, 0,
          "extra random shift in pixels, uniform in [-s, s] (tiles are already placed at random)"),
    BOOL_("augment", "gray", augment.gray, "gray-value variation (brightness, contrast, gamma, noise)"),
    REAL_("augment", "brightness", augment.brightness, 0, 0, 1, 0, "additive offset uniform in [-b, b]"),
    REAL_("augment", "contrast", augment.contrast, 0, 0, 0.999, 0,
          "multiplicative factor uniform in [1-c, 1+c] about 0.5"),
    REAL_("augment", "gamma", augment.gamma, 0, 0, 0.999, 0, "gamma exponent uniform in [1-g, 1+g]"),
    REAL_("augment", "noise_std", augment.noise_std, 0, 0, 100, 0, "std of additive Gaussian noise"),

    BOOL_("weights", "enabled", weights.enabled, "weight the loss per pixel (paper's weight map)"),
    REAL_("weights", "w0", weights.w0, 0, 0, INF, 1, "border weight w0 (paper: 10)"),
    REAL_("weights", "sigma", weights.sigma, 0, 1, INF, 1, "border width sigma in pixels (paper: about 5)"),
    BOOL_("weights", "class_balance", weights.class_balance, "w_c balances the class frequencies"),
    ENUM_("weights", "balance_from", weights.balance_from, balance_names,
          "image (frequencies per label image) | dataset (over all training labels)"),
    BOOL_("weights", "border", weights.border,
          "separate touching instances by a background border (morphological)"),

    STR_("device", "select", device.select, "auto | gpu | cpu | N | gpu:N | cpu:N | name substring"),
    STR_("device", "cache_dir", device.cache_dir, "program-binary cache folder (empty: default)"),
    BOOL_("device", "no_cache", device.no_cache, "always compile the OpenCL programs"),
    ENUM_("device", "precision", device.precision, precision_names,
          "fp32 | fp16 (convolution operands stored as binary16, float accumulation; GPU devices: docs/gpu.md)"),

    STR_("infer", "model", infer.model, "checkpoint or weights file (.safetensors)"),
    STR_("infer", "input", infer.input, "image, folder, glob or multi-page TIFF"),
    STR_("infer", "output", infer.output, "output folder"),
    INT_("infer", "tile", infer.tile, 0, 16384, "input tile edge (0: automatic)"),
    BOOL_("infer", "tta", infer.tta, "average over flipped and rotated inputs"),
    {"infer", "outputs", T_FLAGS, OFF(infer.outputs), 0, 0, 0, 0, 0, output_names,
     "comma-separated: prob, mask, instances, overlay"},
    ENUM_("infer", "instances", infer.instances, instance_names,
          "components (connected components of the arg-max) | watershed (seeded, docs/inference.md)"),
    INT_("infer", "connectivity", infer.connectivity, 4, 8, "4 or 8: neighbourhood of components and seeds"),
    REAL_("infer", "fg_threshold", infer.fg_threshold, 0, 0, 1, 1,
          "watershed: cell pixels are where P(not background) > t, 0 <= t < 1"),
    REAL_("infer", "seed_threshold", infer.seed_threshold, 0, 0, 1, 1,
          "watershed: seeds are the components where the interior is the arg-max class and its probability > t"),
    INT_("infer", "min_seed", infer.min_seed, 0, INT_MAX, "watershed: seeds with fewer pixels are dropped"),
    INT_("infer", "min_size", infer.min_size, 0, INT_MAX,
         "objects with fewer pixels merge into the object they touch most, or are removed"),
    BOOL_("infer", "fill_holes", infer.fill_holes, "background enclosed by a single object becomes part of it"),
    REAL_("infer", "stream_megapixels", infer.stream_megapixels, 0, 0, 1e6, 0,
          "larger images are segmented streamed in bounded memory at [data] scale = 1 (0: whenever possible)"),

    STR_("output", "dir", output.dir, "run folder (checkpoints, logs)"),
    STR_("output", "checkpoint", output.checkpoint, "checkpoint file (empty: DIR/checkpoint.safetensors)"),
    STR_("output", "log_csv", output.log_csv, "training log (empty: DIR/train_log.csv)"),
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

/* enum fields are read and written through int pointers */
_Static_assert(sizeof(unet_label_type) == sizeof(int) && sizeof(unet_normalize) == sizeof(int) &&
                   sizeof(unet_targets) == sizeof(int) && sizeof(unet_instance_method) == sizeof(int) &&
                   sizeof(unet_lr_schedule) == sizeof(int) && sizeof(unet_balance_from) == sizeof(int),
               "enum size");

void unet_config_default(unet_config *c)
{
    memset(c, 0, sizeof *c);
    c->model.in_channels = 1;
    c->model.classes = 2;
    c->model.depth = 5;
    c->model.base_channels = 64;
    c->model.dropout = 0.5;
    c->model.upconv_relu = 1;

    c->data.val_fraction = 0.2;
    c->data.label_type = UNET_LABEL_INSTANCES;
    c->data.foreground_value = 255;
    c->data.normalize = UNET_NORM_PER_IMAGE;
    c->data.norm_mean = 0.0;
    c->data.norm_std = 1.0;
    c->data.invert_labels = 0;
    c->data.scale = 1.0;
    c->data.targets = UNET_TARGETS_PAPER;
    c->data.border_width = 2;
    c->data.background_margin = 20;

    c->train.tile = 572;
    c->train.iterations = 10000;
    c->train.batch = 1;
    c->train.lr = 0.01;
    c->train.momentum = 0.99;
    c->train.weight_decay = 0.0;
    c->train.lr_schedule = UNET_LR_CONSTANT;
    c->train.lr_step = 5000;
    c->train.lr_gamma = 0.1;
    c->train.lr_power = 0.9;
    c->train.seed = 1;
    c->train.val_every = 500;
    c->train.checkpoint_every = 1000;
    c->train.log_every = 10;

    c->augment.enabled = 1;
    c->augment.elastic = 1;
    c->augment.elastic_grid = 3;
    c->augment.elastic_sigma = 10.0;
    c->augment.rotate = 1;
    c->augment.rotate_max_deg = 180.0;
    c->augment.flip = 1;
    c->augment.shift = 0.0;
    c->augment.gray = 1;
    c->augment.brightness = 0.1;
    c->augment.contrast = 0.1;
    c->augment.gamma = 0.1;
    c->augment.noise_std = 0.02;

    c->weights.enabled = 1;
    c->weights.w0 = 10.0;
    c->weights.sigma = 5.0;
    c->weights.class_balance = 1;
    c->weights.balance_from = UNET_BALANCE_IMAGE;
    c->weights.border = 1;

    strcpy(c->device.select, "auto");
    c->device.no_cache = 0;

    c->infer.tile = 0;
    c->infer.tta = 0;
    c->infer.outputs = UNET_OUT_PROB | UNET_OUT_MASK | UNET_OUT_INSTANCES | UNET_OUT_OVERLAY;
    c->infer.instances = UNET_INSTANCES_COMPONENTS;
    c->infer.connectivity = 8;
    c->infer.fg_threshold = 0.5;
    c->infer.seed_threshold = 0.5;
    c->infer.min_seed = 0;
    c->infer.min_size = 0;
    c->infer.fill_holes = 0;
    c->infer.stream_megapixels = 64;

    strcpy(c->output.dir, "runs/unet");
}

static const char *enum_name(const char *const *names, int v)
{
    int n = 0;
    while (names[n]) n++;
    return (v >= 0 && v < n) ? names[v] : "?";
}
const char *unet_label_type_name(unet_label_type t) { return enum_name(label_names, (int)t); }
const char *unet_targets_name(unet_targets t) { return enum_name(targets_names, (int)t); }
const char *unet_instance_method_name(unet_instance_method m) { return enum_name(instance_names, (int)m); }

int unet_config_target_classes(const unet_config *cfg)
{
    if (cfg->data.label_type == UNET_LABEL_CLASSES) return cfg->model.classes;
    return cfg->data.targets == UNET_TARGETS_BORDER3 ? 3 : 2;
}
const char *unet_normalize_name(unet_normalize n) { return enum_name(norm_names, (int)n); }
const char *unet_lr_schedule_name(unet_lr_schedule s) { return enum_name(sched_names, (int)s); }
const char *unet_balance_from_name(unet_balance_from b) { return enum_name(balance_names, (int)b); }

/* ---- helpers -------------------------------------------------------------- */

static int is_section(const char *s)
{
    for (int i = 0; section_names[i]; i++)
        if (strcmp(section_names[i], s) == 0) return 1;
    return 0;
}

static int find_key(const char *section, const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].section, section) == 0 && strcmp(KEYS[i].key, key) == 0) return (int)i;
    return -1;
}

/* Levenshtein distance, capped (short identifiers only). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

/* " (did you mean 'x'?)" for the closest candidate within distance 2, or
 * a list of the valid names. */
static void suggest_section(const char *s, char *out, size_t n)
{
    int best = -1, bd = 3;
    for (int i = 0; section_names[i]; i++) {
        int d = edit_distance(s, section_names[i]);
        if (d < bd) bd = d, best = i;
    }
    if (best >= 0) snprintf(out, n, "did you mean [%s]?", section_names[best]);
    else
        snprintf(out, n, "sections are [model], [data], [train], [augment], [weights], [device], "
                         "[infer], [output]");
}

static void suggest_key(const char *section, const char *key, char *out, size_t n)
{
    int best = -1, bd = 3;
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(KEYS[i].section, section) != 0) continue;
        int d = edit_distance(key, KEYS[i].key);
        if (d < bd) bd = d, best = (int)i;
    }
    if (best >= 0) {
        snprintf(out, n, "did you mean '%s'?", KEYS[best].key);
        return;
    }
    /* is it a key of another section? */
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].key, key) == 0) {
            snprintf(out, n, "'%s' belongs in [%s]", key, KEYS[i].section);
            return;
        }
    size_t len = (size_t)snprintf(out, n, "keys of [%s]:", section);
    for (size_t i = 0; i < NKEYS && len < n; i++)
        if (strcmp(KEYS[i].section, section) == 0)
            len += (size_t)snprintf(out + len, n - len, " %s", KEYS[i].key);
}

static void describe_range(const key_desc *k, char *out, size_t n)
{
    int has_lo = isfinite(k->lo), has_hi = isfinite(k->hi);
    if (k->type == T_INT) {
        if (k->hi >= (double)INT_MAX) snprintf(out, n, "an integer >= %.0f", k->lo);
        else snprintf(out, n, "an integer from %.0f to %.0f", k->lo, k->hi);
    } else if (has_lo && has_hi)
        snprintf(out, n, "a number with %g %s x %s %g", k->lo, k->lo_open ? "<" : "<=",
                 k->hi_open ? "<" : "<=", k->hi);
    else if (has_lo)
        snprintf(out, n, "a number %s %g", k->lo_open ? ">" : ">=", k->lo);
    else if (has_hi)
        snprintf(out, n, "a number %s %g", k->hi_open ? "<" : "<=", k->hi);
    else
        snprintf(out, n, "a finite number");
}

static int parse_real(const char *s, double *out, char *err, size_t errn)
{
    if (!*s) {
        snprintf(err, errn, "empty value, expected a number");
        return -1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') {
        snprintf(err, errn, "malformed number \"%s\"", s);
        return -1;
    }
    if (!isfinite(v) || (errno == ERANGE && fabs(v) == HUGE_VAL)) {
        snprintf(err, errn, "number \"%s\" is not finite or too large for a double", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *s, long long *out, char *err, size_t errn)
{
    if (!*s) {
        snprintf(err, errn, "empty value, expected an integer");
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        double d;
        char e2[8];
        if (parse_real(s, &d, e2, sizeof e2) == 0)
            snprintf(err, errn, "\"%s\" is not an integer", s);
        else
            snprintf(err, errn, "malformed integer \"%s\"", s);
        return -1;
    }
    if (errno == ERANGE) {
        snprintf(err, errn, "integer \"%s\" is too large", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out, char *err, size_t errn)
{
    if (!*s) {
        snprintf(err, errn, "empty value, expected an unsigned integer");
        return -1;
    }
    int hex = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));
    const char *p = hex ? s + 2 : s;
    if (!(hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p))) {
        snprintf(err, errn, "malformed unsigned integer \"%s\"", s);
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, hex ? 16 : 10);
    if (*end != '\0') {
        snprintf(err, errn, "malformed unsigned integer \"%s\"", s);
        return -1;
    }
    if (errno == ERANGE) {
        snprintf(err, errn, "\"%s\" does not fit in 64 bits", s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, t[i]) == 0) return *out = 1, 0;
        if (strcasecmp(s, f[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

static void list_names(const char *const *names, const char *sep, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; names[i] && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? sep : "", names[i]);
}

/* Sets KEYS[ki] in cfg from the text value. 0 on success; else -1 and err
 * holds the reason (without location). */
static int set_value(unet_config *cfg, const key_desc *k, const char *val, char *err, size_t errn)
{
    char *base = (char *)cfg + k->off;
    char rng[128];
    switch (k->type) {
    case T_INT: {
        long long v;
        if (parse_int(val, &v, err, errn)) return -1;
        if ((double)v < k->lo || (double)v > k->hi) {
            describe_range(k, rng, sizeof rng);
            snprintf(err, errn, "%s is out of range: must be %s (%s)", val, rng, k->help);
            return -1;
        }
        *(int *)base = (int)v;
        return 0;
    }
    case T_U64: {
        uint64_t v;
        if (parse_u64(val, &v, err, errn)) return -1;
        *(uint64_t *)base = v;
        return 0;
    }
    case T_REAL: {
        double v;
        if (parse_real(val, &v, err, errn)) return -1;
        int bad = (k->lo_open ? v <= k->lo : v < k->lo) || (k->hi_open ? v >= k->hi : v > k->hi);
        if (bad) {
            describe_range(k, rng, sizeof rng);
            snprintf(err, errn, "%s is out of range: must be %s (%s)", val, rng, k->help);
            return -1;
        }
        *(double *)base = v;
        return 0;
    }
    case T_BOOL: {
        int v;
        if (parse_bool(val, &v)) {
            snprintf(err, errn, "\"%s\" is not a boolean: use true/false, yes/no, on/off or 1/0", val);
            return -1;
        }
        *(int *)base = v;
        return 0;
    }
    case T_STR: {
        size_t len = strlen(val);
        if (len >= k->size) {
            snprintf(err, errn, "value is too long (%zu bytes, at most %zu)", len, k->size - 1);
            return -1;
        }
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)val[i] < 0x20 || val[i] == 0x7f) {
                snprintf(err, errn, "value contains a control character (byte 0x%02x)",
                         (unsigned)(unsigned char)val[i]);
                return -1;
            }
        memcpy(base, val, len + 1);
        return 0;
    }
    case T_ENUM: {
        for (int i = 0; k->names[i]; i++)
            if (strcasecmp(val, k->names[i]) == 0) {
                *(int *)base = i; /* enums are int-sized */
                return 0;
            }
        list_names(k->names, ", ", rng, sizeof rng);
        snprintf(err, errn, "\"%s\" is not one of: %s", val, rng);
        return -1;
    }
    case T_FLAGS: {
        unsigned bits = 0;
        const char *p = val;
        while (*p) {
            while (*p == ' ' || *p == '\t' || *p == ',') p++;
            if (!*p) break;
            const char *q = p;
            while (*q && *q != ',' && *q != ' ' && *q != '\t') q++;
            size_t len = (size_t)(q - p);
            int found = -1;
            for (int i = 0; k->names[i]; i++)
                if (strlen(k->names[i]) == len && strncasecmp(p, k->names[i], len) == 0) found = i;
            if (found < 0) {
                list_names(k->names, ", ", rng, sizeof rng);
                snprintf(err, errn, "\"%.*s\" is not one of: %s", (int)len, p, rng);
                return -1;
            }
            bits |= 1u << found;
            p = q;
        }
        if (!bits) {
            list_names(k->names, ",", rng, sizeof rng);
            snprintf(err, errn, "empty list: name at least one of %s", rng);
            return -1;
        }
        *(unsigned *)base = bits;
        return 0;
    }
    }
    snprintf(err, errn, "internal: bad key type");
    return -1;
}

/* Formats a real so that strtod reads back the same double. */
static void format_real(double v, char *out, size_t n)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

/* Text form of a value (unquoted). */
static void format_value(const unet_config *cfg, const key_desc *k, char *out, size_t n)
{
    const char *base = (const char *)cfg + k->off;
    switch (k->type) {
    case T_INT: snprintf(out, n, "%d", *(const int *)base); break;
    case T_U64: snprintf(out, n, "%llu", (unsigned long long)*(const uint64_t *)base); break;
    case T_REAL: format_real(*(const double *)base, out, n); break;
    case T_BOOL: snprintf(out, n, "%s", *(const int *)base ? "true" : "false"); break;
    case T_STR: snprintf(out, n, "%s", base); break;
    case T_ENUM: snprintf(out, n, "%s", enum_name(k->names, *(const int *)base)); break;
    case T_FLAGS: {
        unsigned bits = *(const unsigned *)base;
        size_t len = 0;
        out[0] = '\0';
        for (int i = 0; k->names[i] && len < n; i++)
            if (bits & (1u << i)) len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "," : "", k->names[i]);
        break;
    }
    }
}

static int value_equal(const unet_config *a, const unet_config *b, const key_desc *k)
{
    const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;
    switch (k->type) {
    case T_INT:
    case T_BOOL:
    case T_ENUM: return *(const int *)pa == *(const int *)pb;
    case T_FLAGS: return *(const unsigned *)pa == *(const unsigned *)pb;
    case T_U64: return *(const uint64_t *)pa == *(const uint64_t *)pb;
    case T_REAL: return *(const double *)pa == *(const double *)pb;
    case T_STR: return strcmp(pa, pb) == 0;
    }
    return 0;
}

unet_status unet_config_new(unet_config **cfg)
{
    if (!cfg) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_new: NULL argument");
    *cfg = malloc(sizeof **cfg);
    if (!*cfg) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_config_new: out of memory");
    unet_config_default(*cfg);
    return UNET_OK;
}

unet_status unet_config_clone(const unet_config *src, unet_config **cfg)
{
    if (!src || !cfg) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_clone: NULL argument");
    *cfg = malloc(sizeof **cfg);
    if (!*cfg) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_config_clone: out of memory");
    memcpy(*cfg, src, sizeof **cfg);
    return UNET_OK;
}

void unet_config_free(unet_config *cfg) { free(cfg); }

unet_status unet_config_get(const unet_config *cfg, const char *key, char *buf, size_t n)
{
    if (!cfg || !key || !buf || n == 0)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_get: NULL argument or empty buffer");
    const char *dot = strchr(key, '.');
    char section[64];
    if (!dot || (size_t)(dot - key) >= sizeof section)
        return unet_seterr(UNET_ERR_CONFIG, "unknown setting '%s': write section.key, e.g. train.lr", key);
    memcpy(section, key, (size_t)(dot - key));
    section[dot - key] = '\0';
    int i = find_key(section, dot + 1);
    if (i < 0) {
        char hint[160] = "";
        if (is_section(section)) suggest_key(section, dot + 1, hint, sizeof hint);
        else suggest_section(section, hint, sizeof hint);
        return unet_seterr(UNET_ERR_CONFIG, "unknown setting '%s': %s", key, hint);
    }
    char *tmp = malloc(UNET_CONFIG_STR + 64);
    if (!tmp) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_config_get: out of memory");
    format_value(cfg, &KEYS[i], tmp, UNET_CONFIG_STR + 64);
    size_t len = strlen(tmp);
    unet_status st = UNET_OK;
    if (len >= n) st = unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_get: the value of %s needs %zu bytes, the buffer has %zu", key, len + 1, n);
    else memcpy(buf, tmp, len + 1);
    free(tmp);
    return st;
}

void unet_label_options_from_config(const unet_config *cfg, unet_label_options *o)
{
    unet_label_options_default(o);
    o->type = cfg->data.label_type;
    o->foreground_value = cfg->data.foreground_value;
    o->invert = cfg->data.invert_labels != 0;
    o->classes = cfg->model.classes;
}

unet_status unet_config_checkpoint_path(const unet_config *cfg, char *buf, size_t n)
{
    if (!cfg || !buf || n == 0) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_checkpoint_path: NULL argument");
    int len = cfg->output.checkpoint[0] ? snprintf(buf, n, "%s", cfg->output.checkpoint)
                                        : snprintf(buf, n, "%s/checkpoint.safetensors", cfg->output.dir);
    if (len < 0 || (size_t)len >= n)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_checkpoint_path: the path needs %d bytes, the buffer has %zu", len + 1, n);
    return UNET_OK;
}

int unet_config_equal(const unet_config *a, const unet_config *b)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (!value_equal(a, b, &KEYS[i])) return 0;
    return 1;
}

/* ---- INI reader ------------------------------------------------------------ */

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* Parses the value part of a line (after '='), writing the result to out
 * (capacity n). Returns 0, or -1 with err set. */
static int parse_ini_value(const char *s, char *out, size_t n, char *err, size_t errn)
{
    while (is_blank(*s)) s++;
    size_t len = 0;
    if (*s == '"') {
        s++;
        for (;;) {
            char c = *s++;
            if (c == '\0') {
                snprintf(err, errn, "unterminated quoted value (missing closing \")");
                return -1;
            }
            if (c == '"') break;
            if (c == '\\' && (*s == '"' || *s == '\\')) c = *s++;
            if (len + 1 >= n) {
                snprintf(err, errn, "value is too long (at most %zu bytes)", n - 1);
                return -1;
            }
            out[len++] = c;
        }
        while (is_blank(*s)) s++;
        if (*s != '\0' && *s != ';' && *s != '#') {
            snprintf(err, errn, "unexpected text after the closing quote: \"%s\"", s);
            return -1;
        }
        out[len] = '\0';
        return 0;
    }
    /* unquoted: ends at ';' or '#' that starts the value or follows a blank */
    const char *end = s;
    for (const char *p = s; *p; p++) {
        if ((*p == ';' || *p == '#') && (p == s || is_blank(p[-1]))) break;
        end = p + 1;
    }
    while (end > s && is_blank(end[-1])) end--;
    len = (size_t)(end - s);
    if (len >= n) {
        snprintf(err, errn, "value is too long (%zu bytes, at most %zu)", len, n - 1);
        return -1;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static unet_status parse_ini(unet_config *cfg, const char *text, size_t textlen, const char *name)
{
    unet_config *tmp = malloc(sizeof *tmp);
    char *val = malloc(UNET_CONFIG_STR + 8);
    char *line = NULL;
    int seen[NKEYS] = {0};
    char section[64] = "";
    char err[1024];
    unet_status st = UNET_OK;
    int lineno = 0;
    if (!tmp || !val) {
        st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s: out of memory reading the configuration", name);
        goto done;
    }
    *tmp = *cfg;
    size_t pos = 0;
    if (textlen >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3; /* UTF-8 BOM */
    while (pos < textlen) {
        lineno++;
        const char *eol = memchr(text + pos, '\n', textlen - pos);
        size_t len = eol ? (size_t)(eol - (text + pos)) : textlen - pos;
        free(line);
        line = malloc(len + 1);
        if (!line) {
            st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "%s:%d: out of memory", name, lineno);
            goto done;
        }
        memcpy(line, text + pos, len);
        line[len] = '\0';
        pos += len + (eol ? 1 : 0);
        if (memchr(line, '\0', len)) {
            st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: NUL byte in the line: this is not a text INI file",
                             name, lineno);
            goto done;
        }
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
        char *s = line;
        while (is_blank(*s)) s++;
        if (*s == '\0' || *s == ';' || *s == '#') continue;

        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close) {
                st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: section header without ']': %s", name, lineno, s);
                goto done;
            }
            char *after = close + 1;
            while (is_blank(*after)) after++;
            if (*after != '\0' && *after != ';' && *after != '#') {
                st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: unexpected text after the section header: %s",
                                 name, lineno, after);
                goto done;
            }
            char *a = s + 1;
            while (is_blank(*a)) a++;
            char *b = close;
            while (b > a && is_blank(b[-1])) b--;
            *b = '\0';
            if (!is_section(a)) {
                char hint[256];
                suggest_section(a, hint, sizeof hint);
                st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: unknown section [%s]; %s", name, lineno, a, hint);
                goto done;
            }
            snprintf(section, sizeof section, "%s", a);
            continue;
        }

        char *eq = strchr(s, '=');
        if (!eq) {
            st = unet_seterr(UNET_ERR_CONFIG,
                             "%s:%d: expected 'key = value', '[section]' or a comment, found: %s", name,
                             lineno, s);
            goto done;
        }
        char *kend = eq;
        while (kend > s && is_blank(kend[-1])) kend--;
        *kend = '\0';
        if (*s == '\0') {
            st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: missing key name before '='", name, lineno);
            goto done;
        }
        if (!section[0]) {
            st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: key '%s' appears before any [section]", name, lineno, s);
            goto done;
        }
        int ki = find_key(section, s);
        if (ki < 0) {
            char hint[512];
            suggest_key(section, s, hint, sizeof hint);
            st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: unknown key '%s' in [%s]; %s", name, lineno, s, section,
                             hint);
            goto done;
        }
        if (seen[ki]) {
            st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: duplicate key '%s' in [%s] (first set on line %d)",
                             name, lineno, s, section, seen[ki]);
            goto done;
        }
        seen[ki] = lineno;
        if (parse_ini_value(eq + 1, val, UNET_CONFIG_STR + 8, err, sizeof err) ||
            set_value(tmp, &KEYS[ki], val, err, sizeof err)) {
            st = unet_seterr(UNET_ERR_CONFIG, "%s:%d: [%s] %s: %s", name, lineno, section, s, err);
            goto done;
        }
    }
    *cfg = *tmp;
done:
    free(line);
    free(val);
    free(tmp);
    return st;
}

unet_status unet_config_parse_string(unet_config *cfg, const char *text, const char *name)
{
    if (!cfg || !text)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_parse_string: NULL argument");
    return parse_ini(cfg, text, strlen(text), name ? name : "<string>");
}

unet_status unet_config_load(unet_config *cfg, const char *path)
{
    if (!cfg || !path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_load: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f)
        return unet_seterr(UNET_ERR_IO, "cannot open configuration file '%s': %s", path, strerror(errno));
    const size_t max = 16u << 20;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    unet_status st = UNET_OK;
    while (buf) {
        if (len == cap) {
            if (cap >= max) {
                st = unet_seterr(UNET_ERR_CONFIG, "%s: larger than 16 MiB: not a configuration file", path);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) st = unet_seterr(UNET_ERR_IO, "error reading '%s': %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (!buf) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory reading '%s'", path);
    if (st == UNET_OK) st = parse_ini(cfg, buf, len, path);
    free(buf);
    return st;
}

unet_status unet_config_set(unet_config *cfg, const char *assignment)
{
    if (!cfg || !assignment)
        return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_set: NULL argument");
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq)
        return unet_seterr(UNET_ERR_CONFIG,
                           "override \"%s\": expected section.key=value (e.g. train.lr=0.001)", assignment);
    char section[64], key[64];
    const char *a = assignment;
    while (is_blank(*a)) a++;
    size_t sl = (size_t)(dot - a), kl;
    const char *k = dot + 1, *kend = eq;
    while (kend > k && is_blank(kend[-1])) kend--;
    kl = (size_t)(kend - k);
    if (sl == 0 || sl >= sizeof section || kl == 0 || kl >= sizeof key)
        return unet_seterr(UNET_ERR_CONFIG, "override \"%s\": expected section.key=value", assignment);
    memcpy(section, a, sl), section[sl] = '\0';
    memcpy(key, k, kl), key[kl] = '\0';
    if (!is_section(section)) {
        char hint[256];
        suggest_section(section, hint, sizeof hint);
        return unet_seterr(UNET_ERR_CONFIG, "override \"%s\": unknown section [%s]; %s", assignment, section,
                           hint);
    }
    int ki = find_key(section, key);
    if (ki < 0) {
        char hint[512];
        suggest_key(section, key, hint, sizeof hint);
        return unet_seterr(UNET_ERR_CONFIG, "override \"%s\": unknown key '%s' in [%s]; %s", assignment, key,
                           section, hint);
    }
    /* value: trimmed, otherwise literal (the shell has removed any quotes) */
    const char *v = eq + 1;
    while (is_blank(*v)) v++;
    size_t vl = strlen(v);
    while (vl > 0 && is_blank(v[vl - 1])) vl--;
    char *val = malloc(vl + 1);
    if (!val) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "override \"%s\": out of memory", assignment);
    memcpy(val, v, vl), val[vl] = '\0';
    /* set on a copy of the one field so that *cfg is unchanged on error */
    unet_config *tmp = malloc(sizeof *tmp);
    char err[1024];
    unet_status st = UNET_OK;
    if (!tmp) st = unet_seterr(UNET_ERR_OUT_OF_MEMORY, "override \"%s\": out of memory", assignment);
    else {
        *tmp = *cfg;
        if (set_value(tmp, &KEYS[ki], val, err, sizeof err))
            st = unet_seterr(UNET_ERR_CONFIG, "override \"%s\": [%s] %s: %s", assignment, section, key, err);
        else
            *cfg = *tmp;
    }
    free(tmp);
    free(val);
    return st;
}

unet_status unet_config_validate(const unet_config *c)
{
    if (!c) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_validate: NULL argument");
    if (!c->data.train_images[0] != !c->data.train_labels[0])
        return unet_seterr(UNET_ERR_CONFIG,
                           "[data] train_images and train_labels must be given together (%s is empty)",
                           c->data.train_images[0] ? "train_labels" : "train_images");
    if (!c->data.val_images[0] != !c->data.val_labels[0])
        return unet_seterr(UNET_ERR_CONFIG,
                           "[data] val_images and val_labels must be given together (%s is empty); "
                           "or leave both empty to hold out val_fraction of the training images",
                           c->data.val_images[0] ? "val_labels" : "val_images");
    if (c->data.label_type != UNET_LABEL_CLASSES && c->data.targets == UNET_TARGETS_BORDER3 && c->model.classes != 3)
        return unet_seterr(UNET_ERR_CONFIG,
                           "[data] targets = border3 gives 3 classes (background, cell border, cell interior) but "
                           "[model] classes = %d: set classes = 3, or targets = paper for 2 classes",
                           c->model.classes);
    if ((c->data.label_type == UNET_LABEL_BINARY || c->data.label_type == UNET_LABEL_INSTANCES) &&
        c->data.targets == UNET_TARGETS_PAPER && c->model.classes != 2)
        return unet_seterr(UNET_ERR_CONFIG,
                           "[data] label_type = %s gives 2 classes (background, foreground) but [model] "
                           "classes = %d: set classes = 2, targets = border3 (3 classes) or label_type = classes",
                           unet_label_type_name(c->data.label_type), c->model.classes);
    if (c->infer.connectivity != 4 && c->infer.connectivity != 8)
        return unet_seterr(UNET_ERR_CONFIG, "[infer] connectivity = %d: use 4 or 8", c->infer.connectivity);
    return UNET_OK;
}

/* ---- INI writer ------------------------------------------------------------ */

static int needs_quotes(const char *s)
{
    size_t n = strlen(s);
    if (n == 0) return 0;
    if (is_blank(s[0]) || is_blank(s[n - 1]) || s[0] == '"') return 1;
    return strpbrk(s, ";#\\\"") != NULL;
}

unet_status unet_config_to_ini(const unet_config *cfg, FILE *f)
{
    if (!cfg || !f) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_to_ini: NULL argument");
    char *buf = malloc(UNET_CONFIG_STR + 64);
    if (!buf) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "unet_config_to_ini: out of memory");
    fprintf(f, "; unetcl configuration\n");
    const char *cur = "";
    for (size_t i = 0; i < NKEYS; i++) {
        const key_desc *k = &KEYS[i];
        if (strcmp(cur, k->section) != 0) {
            fprintf(f, "\n[%s]\n", k->section);
            cur = k->section;
        }
        format_value(cfg, k, buf, UNET_CONFIG_STR + 64);
        fprintf(f, "; %s\n", k->help);
        if (k->type == T_STR && needs_quotes(buf)) {
            fprintf(f, "%s = \"", k->key);
            for (const char *p = buf; *p; p++) {
                if (*p == '"' || *p == '\\') fputc('\\', f);
                fputc(*p, f);
            }
            fprintf(f, "\"\n");
        } else {
            fprintf(f, "%s =%s%s\n", k->key, buf[0] ? " " : "", buf);
        }
    }
    free(buf);
    if (ferror(f)) return unet_seterr(UNET_ERR_IO, "error writing the configuration: %s", strerror(errno));
    return UNET_OK;
}

unet_status unet_config_save(const unet_config *cfg, const char *path)
{
    if (!cfg || !path) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_save: NULL argument");
    unet_atomic_file af;
    UNET_TRY(unet_atomic_open(&af, path));
    unet_status st = unet_config_to_ini(cfg, af.f);
    if (st != UNET_OK) {
        unet_atomic_abort(&af);
        return unet_errctx(st, "writing %s", path);
    }
    return unet_atomic_commit(&af);
}

/* ---- JSON ------------------------------------------------------------------ */

unet_status unet_config_to_json(const unet_config *cfg, char **json)
{
    if (!cfg || !json) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_to_json: NULL argument");
    *json = NULL;
    cJSON *root = cJSON_CreateObject();
    char *buf = malloc(UNET_CONFIG_STR + 64);
    int ok = root && buf;
    for (int s = 0; ok && section_names[s]; s++) {
        cJSON *sec = cJSON_AddObjectToObject(root, section_names[s]);
        if (!sec) ok = 0;
        for (size_t i = 0; ok && i < NKEYS; i++) {
            const key_desc *k = &KEYS[i];
            if (strcmp(k->section, section_names[s]) != 0) continue;
            const char *base = (const char *)cfg + k->off;
            cJSON *item = NULL;
            switch (k->type) {
            case T_INT: item = cJSON_CreateNumber(*(const int *)base); break;
            case T_REAL:
                /* cJSON's own number printing is lossy (it accepts 15 digits
                 * when they compare equal within an epsilon): print exactly */
                format_real(*(const double *)base, buf, UNET_CONFIG_STR + 64);
                item = cJSON_CreateRaw(buf);
                break;
            case T_BOOL: item = cJSON_CreateBool(*(const int *)base); break;
            default:
                format_value(cfg, k, buf, UNET_CONFIG_STR + 64);
                item = cJSON_CreateString(buf);
                break;
            }
            if (!item || !cJSON_AddItemToObject(sec, k->key, item)) {
                cJSON_Delete(item);
                ok = 0;
            }
        }
    }
    if (ok) *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    free(buf);
    if (!*json) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of memory writing the configuration as JSON");
    return UNET_OK;
}

unet_status unet_config_from_json(unet_config *cfg, const char *json)
{
    if (!cfg || !json) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_config_from_json: NULL argument");
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return unet_seterr(UNET_ERR_CONFIG, "configuration JSON: not a JSON object");
    }
    unet_config *tmp = malloc(sizeof *tmp);
    if (!tmp) {
        cJSON_Delete(root);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "configuration JSON: out of memory");
    }
    *tmp = *cfg;
    int seen[NKEYS] = {0};
    unet_status st = UNET_OK;
    char err[1024], num[64];
    cJSON *sec;
    cJSON_ArrayForEach(sec, root)
    {
        const char *sname = sec->string ? sec->string : "";
        if (!is_section(sname)) {
            st = unet_seterr(UNET_ERR_CONFIG, "configuration JSON: unknown section \"%s\"", sname);
            break;
        }
        if (!cJSON_IsObject(sec)) {
            st = unet_seterr(UNET_ERR_CONFIG, "configuration JSON: section \"%s\" is not an object", sname);
            break;
        }
        cJSON *it;
        cJSON_ArrayForEach(it, sec)
        {
            const char *kname = it->string ? it->string : "";
            int ki = find_key(sname, kname);
            if (ki < 0) {
                st = unet_seterr(UNET_ERR_CONFIG, "configuration JSON: unknown key \"%s\" in [%s]", kname, sname);
                break;
            }
            if (seen[ki]) {
                st = unet_seterr(UNET_ERR_CONFIG, "configuration JSON: duplicate key \"%s\" in [%s]", kname,
                                 sname);
                break;
            }
            seen[ki] = 1;
            const key_desc *k = &KEYS[ki];
            const char *text = NULL;
            if (cJSON_IsString(it)) text = it->valuestring;
            else if (cJSON_IsBool(it)) text = cJSON_IsTrue(it) ? "true" : "false";
            else if (cJSON_IsNumber(it)) {
                double d = it->valuedouble;
                if ((k->type == T_INT || k->type == T_U64) && d == floor(d) && fabs(d) < 9.2e18)
                    snprintf(num, sizeof num, "%.0f", d);
                else
                    snprintf(num, sizeof num, "%.17g", d);
                text = num;
            }
            if (!text) {
                st = unet_seterr(UNET_ERR_CONFIG, "configuration JSON: [%s] %s: expected a string, number or "
                                 "boolean", sname, kname);
                break;
            }
            if (set_value(tmp, k, text, err, sizeof err)) {
                st = unet_seterr(UNET_ERR_CONFIG, "configuration JSON: [%s] %s: %s", sname, kname, err);
                break;
            }
        }
        if (st != UNET_OK) break;
    }
    if (st == UNET_OK) *cfg = *tmp;
    free(tmp);
    cJSON_Delete(root);
    return st;
}

void unet_config_model(const unet_config *cfg, unet_model_config *m)
{
    m->in_channels = cfg->model.in_channels;
    m->classes = cfg->model.classes;
    m->depth = cfg->model.depth;
    m->base_channels = cfg->model.base_channels;
    m->dropout = (float)cfg->model.dropout;
    m->upconv_relu = cfg->model.upconv_relu;
}
