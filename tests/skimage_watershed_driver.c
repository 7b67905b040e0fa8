/* Driver of tests/test_watershed_skimage.sh: runs unet_watershed and
 * unet_instances_from_probs on records of a raw file.
 * Input records: int32 kind, w, h, connectivity, then
 *   kind 0 (watershed): w*h float32 cost, w*h int32 markers, w*h uint8 mask
 *   kind 1 (instances): float32 seed_threshold, int32 min_seed, then w*h
 *          float32 fg and w*h float32 interior
 * Output (file argv[2]): per record w*h int32 labels. */
#include "instances.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb"), *g = fopen(argv[2], "wb");
    if (!f || !g) {
        perror("open");
        return 1;
    }
    int32_t hd[4];
    while (fread(hd, sizeof hd, 1, f) == 1) {
        int w = hd[1], h = hd[2], conn = hd[3];
        if (w <= 0 || h <= 0 || (int64_t)w * h > (1 << 24)) {
            fprintf(stderr, "bad record size %dx%d\n", w, h);
            return 1;
        }
        size_t n = (size_t)w * h;
        int32_t *out = malloc(n * sizeof *out);
        unet_status st;
        if (hd[0] == 0) {
            float *cost = malloc(n * sizeof *cost);
            int32_t *mk = malloc(n * sizeof *mk);
            uint8_t *mask = malloc(n);
            if (fread(cost, 4, n, f) != n || fread(mk, 4, n, f) != n || fread(mask, 1, n, f) != n) {
                fprintf(stderr, "truncated input\n");
                return 1;
            }
            st = unet_watershed(cost, mk, mask, w, h, conn, out);
            free(cost), free(mk), free(mask);
        } else {
            float t;
            int32_t ms;
            float *fg = malloc(n * sizeof *fg), *in = malloc(n * sizeof *in);
            if (fread(&t, 4, 1, f) != 1 || fread(&ms, 4, 1, f) != 1 || fread(fg, 4, n, f) != n ||
                fread(in, 4, n, f) != n) {
                fprintf(stderr, "truncated input\n");
                return 1;
            }
            unet_instance_options o;
            unet_instance_options_default(&o);
            o.method = UNET_INSTANCES_WATERSHED;
            o.connectivity = conn;
            o.seed_threshold = t;
            o.min_seed = ms;
            st = unet_instances_from_probs(fg, in, w, h, &o, out, NULL);
            free(fg), free(in);
        }
        if (st != UNET_OK) {
            fprintf(stderr, "%s\n", unet_last_error());
            return 1;
        }
        fwrite(out, sizeof *out, n, g);
        free(out);
    }
    fclose(f);
    return fclose(g) ? 1 : 0;
}
