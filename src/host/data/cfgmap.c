/* [augment] / [weights] -> library option structs. See cfgmap.h. */
#include "cfgmap.h"

#include <string.h>

_Static_assert(UNET_AUGMENT_MAX_GRID >= 16, "config.c accepts elastic_grid up to 16");

void unet_config_augment_options(const unet_config *cfg, unet_augment_options *o)
{
    const unet_augment_config *a = &cfg->augment;
    unet_augment_options_default(o);
    o->enabled = a->enabled != 0;
    o->elastic = a->elastic != 0;
    o->grid = a->elastic_grid;
    o->sigma = a->elastic_sigma;
    o->rotate = a->rotate != 0;
    o->max_angle = a->rotate_max_deg;
    o->flip = a->flip != 0;
    o->shift = 1; /* random tile position: part of sampling whenever enabled */
    o->shift_px = a->shift;
    o->gray = a->gray != 0;
    o->brightness = a->brightness;
    o->contrast = a->contrast;
    o->gamma = a->gamma;
    o->noise_std = a->noise_std;
}

void unet_config_weightmap_options(const unet_config *cfg, unet_weightmap_options *o)
{
    const unet_weights_config *w = &cfg->weights;
    unet_weightmap_options_default(o);
    o->w0 = w->w0;
    o->sigma = w->sigma;
    o->border = w->border != 0;
    o->class_counts[0] = o->class_counts[1] = 0.0;
    if (!w->class_balance) o->balance = UNET_WM_BALANCE_NONE;
    else o->balance = w->balance_from == UNET_BALANCE_DATASET ? UNET_WM_BALANCE_GIVEN : UNET_WM_BALANCE_IMAGE;
    if (!w->enabled) {
        o->w0 = 0.0;
        o->balance = UNET_WM_BALANCE_NONE;
    }
}
