/* Context options from a configuration's [device] section (the one place
 * that maps them; train, infer and augment previews use it). */
#include "config.h"

void unet_context_options_from_config(const unet_config *cfg, const char *device, unet_context_options *o)
{
    unet_context_options_default(o);
    o->device = device ? device : cfg->device.select;
    o->cache_dir = cfg->device.cache_dir[0] ? cfg->device.cache_dir : NULL;
    o->disable_cache = cfg->device.no_cache;
    o->precision_fp16 = cfg->device.precision == UNET_PRECISION_FP16;
}

unet_status unet_context_create_on(const char *device, unet_context **ctx)
{
    unet_context_options o;
    unet_context_options_default(&o);
    o.device = device;
    return unet_context_create(&o, ctx);
}
