/* libFuzzer harness: the command-line override reader (unet_config_set,
 * "section.key=value", as given to --set). Each input line is one override;
 * a failed override must leave the configuration unchanged. */
#include "fuzz_common.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    unet_config cfg;
    unet_config_default(&cfg);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unet_config before = cfg;
        if (unet_config_set(&cfg, line) != UNET_OK && !unet_config_equal(&before, &cfg)) {
            fprintf(stderr, "failed override changed the configuration: %s\n", line);
            abort();
        }
    }
    (void)unet_config_validate(&cfg);
    FILE *f = fopen("/dev/null", "w");
    if (f) {
        (void)unet_config_to_ini(&cfg, f);
        fclose(f);
    }
    free(text);
    return 0;
}
