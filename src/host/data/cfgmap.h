/* Internal: the INI sections [augment] and [weights] (config.h) mapped onto
 * the option structs of the library (augment.h, weightmap.h).
 *
 * [augment] -> unet_augment_options:
 *   enabled        -> enabled (0: centred tile, nothing drawn at all)
 *   elastic        -> elastic          elastic_grid  -> grid
 *   elastic_sigma  -> sigma            rotate        -> rotate
 *   rotate_max_deg -> max_angle        flip          -> flip
 *   shift (px)     -> shift_px (extra offset uniform in [-s, s] per axis)
 *   gray           -> gray             brightness, contrast, gamma, noise_std
 *                                      -> the fields of the same name
 *   The random tile position (library `shift`) is on whenever `enabled` is:
 *   tiles are placed uniformly over the image as part of sampling, so there
 *   is no key for it ("tiles are already placed at random"). With every
 *   switch off and shift = 0 a draw is therefore an integer crop of the
 *   source (exact pixel copies), and with enabled = false the centred crop.
 *   pivot keeps the library default 0.5 (mid-gray of [0,1] images).
 *
 * [weights] -> unet_weightmap_options:
 *   w0, sigma, border -> the fields of the same name
 *   class_balance = false -> balance NONE (w_c = 1)
 *   class_balance = true  -> balance IMAGE (balance_from = image) or GIVEN
 *       (balance_from = dataset: class_counts are set to 0 here; the caller
 *       accumulates them over the training labels with
 *       unet_weightmap_count_classes, called with a copy of the options
 *       whose balance is IMAGE since it rejects GIVEN with zero counts,
 *       before computing the maps)
 *   enabled = false -> w0 = 0 and balance NONE: every weight is 1 (the loss
 *       is unweighted); `border` still decides the separating background
 *       line of the class labels.
 *   exp_cutoff keeps the library default.
 */
#ifndef UNETCL_CFGMAP_H
#define UNETCL_CFGMAP_H

#include "unetcl/augment.h"
#include "config.h"
#include "unetcl/weightmap.h"

void unet_config_augment_options(const unet_config *cfg, unet_augment_options *o);
void unet_config_weightmap_options(const unet_config *cfg, unet_weightmap_options *o);

#endif
