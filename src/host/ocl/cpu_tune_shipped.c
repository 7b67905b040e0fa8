/* Shipped CPU tuning entries: the fallback for a CPU model when the device
 * has no tuning file of its own (cpu_tune.h). Each entry is the text of a
 * tuning file with a "match" line (a substring of the OpenCL device name; an
 * optional "platform" line must be a substring of the platform name) instead
 * of device/driver identity; the checksum covers the text before it.
 *
 * To add a CPU: run `unetcl tune --cpu --ship "NAME SUBSTRING"` on it, which
 * prints such an entry as a C string, and paste it below with the command,
 * date and measured totals in a comment. Entries are tried in order; keep
 * more specific matches first. */
#include <stddef.h>

const char *const unet_cpu_tuning_shipped_texts[] = {
    NULL, /* (end) */
};
