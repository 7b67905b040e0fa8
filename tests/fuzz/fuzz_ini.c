/* libFuzzer harness: the INI configuration reader
 * (unet_config_parse_string). For every accepted text, the INI and the JSON
 * written back (unet_config_to_ini, unet_config_to_json) must read back to an
 * equal configuration (unet_config_equal). */
#include "fuzz_common.h"
#include "config.h"

static char *to_ini(const unet_config *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    if (unet_config_to_ini(cfg, f) != UNET_OK) abort();
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    unet_config cfg;
    unet_config_default(&cfg);
    if (unet_config_parse_string(&cfg, text, "fuzz.ini") == UNET_OK) {
        (void)unet_config_validate(&cfg);
        char *ini1 = to_ini(&cfg);
        unet_config back;
        unet_config_default(&back);
        if (unet_config_parse_string(&back, ini1, "written.ini") != UNET_OK) {
            fprintf(stderr, "written INI does not parse: %s\n", unet_last_error());
            abort();
        }
        if (!unet_config_equal(&cfg, &back)) {
            fprintf(stderr, "INI round trip differs; written INI:\n%s\n", ini1);
            abort();
        }
        free(ini1);
        char *json = NULL;
        if (unet_config_to_json(&cfg, &json) != UNET_OK) abort();
        unet_config fromjson;
        unet_config_default(&fromjson);
        if (unet_config_from_json(&fromjson, json) != UNET_OK || !unet_config_equal(&cfg, &fromjson)) {
            fprintf(stderr, "JSON round trip differs (%s); JSON:\n%s\n", unet_last_error(), json);
            abort();
        }
        free(json);
    }
    free(text);
    return 0;
}
