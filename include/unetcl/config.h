/*
 * unetcl: run configurations (the INI files of configs/ and `--set`
 * overrides), as an opaque handle.
 *
 *     unet_config *cfg;
 *     unet_config_new(&cfg);                      // the paper's defaults
 *     unet_config_load(cfg, "configs/tiny.ini");  // a file on top
 *     unet_config_set(cfg, "train.iterations=100");
 *     unet_config_validate(cfg);
 *     char v[64]; unet_config_get(cfg, "train.lr", v, sizeof v);
 *     unet_config_free(cfg);
 *
 * Every key, its range and its default: `unetcl config --defaults` and the
 * commented presets in configs/. Errors are UNET_ERR_CONFIG with
 * "FILE:LINE: ..." (or the override) in unet_last_error().
 */
#ifndef UNETCL_CONFIG_PUBLIC_H
#define UNETCL_CONFIG_PUBLIC_H

#include "unetcl/core.h"
#include "unetcl/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct unet_config unet_config;

/* A configuration holding the defaults (free with unet_config_free). */
UNETCL_API unet_status unet_config_new(unet_config **cfg);

/* A copy of src. */
UNETCL_API unet_status unet_config_clone(const unet_config *src, unet_config **cfg);

UNETCL_API void unet_config_free(unet_config *cfg);

/* Resets every setting to its default (the paper's values). */
UNETCL_API void unet_config_default(unet_config *cfg);

/* Reads an INI file and applies its settings on top of cfg. On error cfg is
 * unchanged and the message starts with "PATH:LINE: ". */
UNETCL_API unet_status unet_config_load(unet_config *cfg, const char *path);

/* The same for INI text in memory; name is used in messages ("NAME:LINE"). */
UNETCL_API unet_status unet_config_parse_string(unet_config *cfg, const char *text, const char *name);

/* Applies one override "section.key=value" (value as in the INI file,
 * without quotes needed). On error cfg is unchanged. */
UNETCL_API unet_status unet_config_set(unet_config *cfg, const char *assignment);

/* The value of "section.key" as text, as the INI file would write it
 * (booleans true/false, reals that read back exactly, flags as a comma
 * list). UNET_ERR_CONFIG for an unknown key, UNET_ERR_INVALID_ARGUMENT when
 * the value does not fit in n bytes. */
UNETCL_API unet_status unet_config_get(const unet_config *cfg, const char *key, char *buf, size_t n);

/* Checks the relations between settings (e.g. val_images without
 * val_labels). Single values are already checked when set. */
UNETCL_API unet_status unet_config_validate(const unet_config *cfg);

/* Writes every setting as a commented INI file that unet_config_load reads
 * back to an equal configuration (written atomically: a temporary file
 * renamed into place). */
UNETCL_API unet_status unet_config_save(const unet_config *cfg, const char *path);

/* Serialises to a JSON object {"model":{...},"data":{...},...} (malloc'ed,
 * free with free()). */
UNETCL_API unet_status unet_config_to_json(const unet_config *cfg, char **json);

/* Applies a JSON object as written by unet_config_to_json on top of cfg
 * (missing keys keep their value). On error cfg is unchanged. */
UNETCL_API unet_status unet_config_from_json(unet_config *cfg, const char *json);

/* 1 if every setting is equal (reals compared exactly), else 0. */
UNETCL_API int unet_config_equal(const unet_config *a, const unet_config *b);

/* The model configuration of the network from the [model] (and [data])
 * sections. */
UNETCL_API void unet_config_model(const unet_config *cfg, unet_model_config *model);

/* Context options from the [device] section: device = [device] select (or
 * `device` when not NULL), cache_dir, disable_cache; the rest defaults.
 * The strings point into cfg (and device): keep them alive until
 * unet_context_create has returned. */
UNETCL_API void unet_context_options_from_config(const unet_config *cfg, const char *device, unet_context_options *o);

/* How the [data] section reads label images (label_type,
 * foreground_value, invert_labels; [model] classes). */
UNETCL_API void unet_label_options_from_config(const unet_config *cfg, unet_label_options *o);

/* The checkpoint file of a run: [output] checkpoint, or
 * [output] dir/checkpoint.safetensors when that is empty. */
UNETCL_API unet_status unet_config_checkpoint_path(const unet_config *cfg, char *buf, size_t n);

#ifdef __cplusplus
}
#endif

#endif
