/* Driver of tests/test_metrics_skimage.sh: reads label-image pairs from a raw
 * file and prints unet_rand_fr's scores in both conventions.
 * Input: repeated records of int32 w, int32 h, then w*h uint32 truth and
 * w*h uint32 prediction (native byte order). Output: one line per record,
 * "<skimage-convention error> <ISBI-convention error>" with 17 digits. */
#include "unetcl/metrics.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    int32_t wh[2];
    while (fread(wh, sizeof wh, 1, f) == 1) {
        if (wh[0] <= 0 || wh[1] <= 0 || (int64_t)wh[0] * wh[1] > (1 << 26)) {
            fprintf(stderr, "bad record size %dx%d\n", wh[0], wh[1]);
            return 1;
        }
        size_t n = (size_t)wh[0] * (size_t)wh[1];
        uint32_t *t = malloc(n * sizeof *t), *p = malloc(n * sizeof *p);
        if (!t || !p || fread(t, sizeof *t, n, f) != n || fread(p, sizeof *p, n, f) != n) {
            fprintf(stderr, "truncated input\n");
            return 1;
        }
        unet_rand_stats sk, isbi;
        if (unet_rand_fr(t, p, n, UNET_RAND_PAIRS | UNET_RAND_PRED_BG_SEGMENT, &sk) != UNET_OK ||
            unet_rand_fr(t, p, n, 0, &isbi) != UNET_OK) {
            fprintf(stderr, "unet_rand_fr: %s\n", unet_last_error());
            return 1;
        }
        printf("%.17g %.17g\n", sk.error, isbi.error);
        free(t);
        free(p);
    }
    fclose(f);
    return 0;
}
