/*
 * Instances from class probabilities: connected components, a seeded
 * watershed, small-object merging and hole filling (host C, no OpenCL).
 * Definitions and the reasons for them: docs/inference.md, "Instances".
 *
 * Layout: row-major, w columns, h rows. Instance images are int32 with
 * 0 = background and ids 1..n.
 */
#ifndef UNETCL_INSTANCES_H
#define UNETCL_INSTANCES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "unetcl/unetcl.h"

typedef struct unet_instance_options {
    unet_instance_method method; /* components (default) or watershed */
    int connectivity;            /* 8 (default) or 4: components, seeds and flooding */
    double fg_threshold;         /* 0.5: a pixel is a cell pixel where P(not background) > t */
    double seed_threshold;       /* 0.5: watershed seeds where the interior probability > t */
    int min_seed;                /* 0: seeds with fewer pixels are dropped */
    int min_size;                /* 0: objects with fewer pixels merge into a neighbour or go */
    int fill_holes;              /* 0: 1 = enclosed background joins its object */
} unet_instance_options;

void unet_instance_options_default(unet_instance_options *o);

/* The [infer] settings of cfg as options. */
void unet_instance_options_from_config(const unet_config *cfg, unet_instance_options *o);

/* Connected components of mask != 0 (4- or 8-connected): ids 1..n in raster
 * order of each component's first pixel, 0 elsewhere. n (may be NULL). */
unet_status unet_label_components(const uint8_t *mask, int w, int h, int connectivity, int32_t *out, int *n);

/* Seeded watershed by priority flood (Meyer): out starts as markers (ids > 0
 * are seeds; seeds where mask == 0 are dropped), then the unlabelled pixel
 * of lowest cost next to a labelled one takes that label, repeatedly; a
 * pixel is labelled when it is first reached (its cost enters a queue
 * ordered by cost, then by the order of arrival). Pixels with mask == 0
 * (mask may be NULL: all) are never flooded and stay 0, and so do pixels
 * that no seed reaches. This is the flooding of scikit-image's
 * segmentation.watershed (without compactness or watershed lines), checked
 * against it in tests/test_watershed_skimage.sh. */
unet_status unet_watershed(const float *cost, const int32_t *markers, const uint8_t *mask, int w, int h,
                           int connectivity, int32_t *out);

/* Objects of fewer than min_size pixels, smallest first, join the object
 * with which they share the most 4-neighbour pixel pairs (ties: the lower
 * id), or become background when they touch no other object. Ids are not
 * renumbered (see unet_instances_relabel). */
unet_status unet_instances_merge_small(int32_t *lab, int w, int h, int min_size);

/* Background regions (4-connected) that do not touch the image border and
 * whose 4-neighbours all belong to a single object become part of it. */
unet_status unet_instances_fill_holes(int32_t *lab, int w, int h);

/* Renumbers ids to 1..n in raster order of first appearance. */
unet_status unet_instances_relabel(int32_t *lab, size_t n, int *count);

/* Instances of one image. fg: probability that a pixel belongs to a cell
 * (1 - P(background)); interior: probability of the cell interior (targets
 * border3: P(interior); 2-class models: the foreground probability again).
 * components: the components of fg > fg_threshold. watershed: seeds are the
 * components of the cell pixels (fg > fg_threshold) where the interior is
 * the arg-max class (interior > fg - interior = P(border) and interior >
 * 1 - fg = P(background)) and interior > seed_threshold, with at least
 * min_seed pixels; they flood the cell pixels (fg > fg_threshold) in
 * order of 1 - interior; cell pixels no seed reaches keep their own
 * components (so no cell is lost for want of a seed). Then min_size and
 * fill_holes, and ids renumbered 1..count. */
unet_status unet_instances_from_probs(const float *fg, const float *interior, int w, int h,
                                      const unet_instance_options *o, int32_t *out, int *count);

/* The objects of the cell pixels (cell != 0; fg and interior as above)
 * before fill_holes and renumbering: what unet_instances_from_probs does
 * between the threshold and the hole filling. */
unet_status unet_instances_objects(const uint8_t *cell, const float *fg, const float *interior, int w, int h,
                                   const unet_instance_options *o, int32_t *out);

/* ---- streamed instances (inst_stream.c) ------------------------------------
 * The ids of unet_instances_from_probs, bit for bit (and the same count),
 * from rows of fg (and interior) given top to bottom, in memory bounded by
 * the tallest connected region of cell pixels rather than the image height.
 * Every step of the pipeline stays within one component of the cell mask
 * (fg > fg_threshold, `connectivity`), and a hole lies strictly within the
 * rows of the object around it, so the labeller holds a window of rows:
 * when a component no longer touches the last row received it is complete
 * and is segmented on the rows it spans (with the objects finished before
 * it in place, so that hole filling sees them), and rows above the top of
 * every incomplete component are final: their ids are numbered by first
 * appearance in raster order and handed to `rows` in order. A component
 * taller than max_rows rows is an error (UNET_ERR_DATA, naming its rows)
 * rather than a different labelling. docs/scale.md, "Instances". */
typedef struct unet_inst_stream unet_inst_stream;
/* Rows y0 .. y0+rows-1 of final ids (ids[r * w + x]); non-zero stops. */
typedef unet_status (*unet_inst_rows_fn)(const int32_t *ids, int y0, int rows, int w, void *user);
unet_status unet_inst_stream_create(int w, int h, const unet_instance_options *o, int max_rows, unet_inst_rows_fn rows,
                                    void *user, unet_inst_stream **s);
/* rows more rows: fg[r * w + x], interior likewise (NULL for components). */
unet_status unet_inst_stream_push(unet_inst_stream *s, const float *fg, const float *interior, int rows);
/* After the last row: segments what is left, hands over the last rows and
 * gives the object count. */
unet_status unet_inst_stream_finish(unet_inst_stream *s, int *count);
/* The most image rows the window held so far (memory: about
 * unet_inst_stream_row_bytes per pixel of them). */
int unet_inst_stream_peak_rows(const unet_inst_stream *s);
/* Ids handed over so far (the count once finished). */
int unet_inst_stream_count(const unet_inst_stream *s);
/* Host bytes per pixel of a held row: the window (fg, interior, ids) and
 * the scratch of segmenting components on it (an upper estimate). */
size_t unet_inst_stream_row_bytes(const unet_instance_options *o);
void unet_inst_stream_destroy(unet_inst_stream *s);

/* The most objects a 16-bit instance file holds (65535; above it a single
 * image's instances are float32 TIFF, a stack's an error). Defined in
 * infer.c; tests lower it to reach the float32 files with small images. */
extern int unet_infer_u16_max;

/* Classes of the border3 targets from instance ids (0 = background, other
 * values are objects): 0 background, 1 border (a cell pixel within
 * border_width, Euclidean, of a pixel of another id, the background
 * included; the image edge is not a border), 2 interior. */
unet_status unet_border3_targets(const int32_t *ids, int w, int h, int border_width, int32_t *classes);

/* The configuration a model was trained with, from the metadata that
 * unet_model_load returns (training keeps it there): *found = 1 and *train
 * filled (defaults, then the recorded settings) when the metadata records
 * it, else *found = 0 (a model from another tool). */
unet_status unet_model_meta_config(const char *meta_json, unet_config *train, int *found);

#endif
