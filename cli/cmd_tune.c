/* unetcl tune: argument parsing and printing around the tuning drivers of
 * include/unetcl/tune.h (src/host/ocl/tune.c):
 *
 * - unet_tune_clblast: CLBlast's GEMM kernels (its tuner in the separate
 *   executable unetcl-tune-helper, then timed on the U-Net's GEMM shapes) ->
 *   the device's clblast-*.json; then, unless --no-conv,
 * - unet_tune_conv: unetcl's GPU convolution kernels per 3x3 layer ->
 *   convgpu-*.json (alone with --conv-only);
 * - unet_tune_cpu (--cpu): unetcl's CPU kernel parameters -> cpu-tuning-*.txt;
 *   unet_tune_describe (--show) says where the current ones come from.
 * The drivers report through a progress callback, which prints each line. */
#include "commands.h"
#include "unetcl/unetcl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: unetcl tune [--device SEL] [--quick] [--fraction F] [--direct-fraction F] [--timeout S]\n"
            "                   [--reps N] [--cache-dir DIR] [--helper PATH] [-v]\n"
            "                   [--conv-only | --no-conv] [--tile T] [--precision fp32|fp16]\n\n"
            "Tunes CLBlast's GEMM kernels (Xgemm, XgemmDirect and the direct/indirect switch point) for one\n"
            "device and writes the parameters to the device's file in the cache folder; unetcl then applies\n"
            "them whenever it uses CLBlast on that device (not with $UNETCL_CLBLAST_TUNING=0). Run it again\n"
            "after a driver or CLBlast update (the file then counts as stale and is ignored).\n\n"
            "  --device SEL   device as for `unetcl devices` (default: first GPU, else first CPU)\n"
            "  --quick        small search and small shapes (minutes on a CPU device)\n"
            "  --fraction F   fraction of CLBlast's Xgemm search space to try (default 0.002; quick 0.0002)\n"
            "  --direct-fraction F   same for XgemmDirect (default 0.02; quick 0.003)\n"
            "  --timeout S    stop one tuner run after S seconds (default 1800; quick 420)\n"
            "  --reps N       timing runs per shape (median; default 5, quick 3)\n"
            "  --cache-dir D  cache folder (default $UNETCL_CACHE_DIR, $XDG_CACHE_HOME/unetcl, ~/.cache/unetcl)\n"
            "  --helper PATH  the tuner helper (default $UNETCL_TUNE_HELPER, else unetcl-tune-helper next to\n"
            "                 this program, else on PATH)\n"
            "  -v             log what is done\n"
            "  --conv-only    only step 4: time unetcl's GPU convolution kernels against the existing path per\n"
            "                 layer and keep the winners (convgpu-*.json in the cache folder; used on GPUs)\n"
            "  --no-conv      only the CLBlast steps\n"
            "  --tile T       U-Net input tile whose 3x3 layers are timed in step 4 (default 572; quick 188)\n"
            "  --base B       base channels of that U-Net (default 64, the paper's; smaller: quick checks)\n"
            "  --precision P  fp32 (default) or fp16: the [device] precision the entries are for\n\n"
            
            "usage: unetcl tune --cpu [--device SEL] [--seconds S] [--cache-dir DIR] [--show] [--ship MATCH]\n\n"
            "Searches the parameters of unetcl's own CPU kernels (CPU GEMM K-chunk, N-chunk and fused B\n"
            "packing; Winograd tile numbering, chunk size and fused-kernel threshold; the weight gradient's\n"
            "formulation) on a CPU device by timing probe GEMMs and Winograd convolutions and weight\n"
            "gradients, and writes the winner to the device's CPU tuning file in the cache\n"
            "folder (docs/knobs.md: the environment still overrides each value). Without a file, the first\n"
            "network plan on a CPU searches only when $UNETCL_CPU_TUNE gives it seconds (default 0: never).\n\n"
            "  --seconds S    time budget of the search (default 120)\n"
            "  --show         print where the current parameters come from and the file; search nothing\n"
            "  --ship MATCH   also print the result as a shipped entry for src/host/ocl/cpu_tune_shipped.c\n"
            "                 (MATCH: a substring of the device name)\n");
}

/* The library's message after "unetcl tune: " (its own "tune: " prefix not repeated). */
static void print_error(void)
{
    const char *m = unet_last_error();
    if (!strncmp(m, "tune: ", 6)) m += 6;
    fprintf(stderr, "unetcl tune: %s\n", m);
}

static int print_line(const char *message, double fraction, void *user)
{
    (void)fraction;
    printf("%s%s\n", (const char *)user, message);
    fflush(stdout);
    return 0;
}

/* unetcl tune --cpu */
static int tune_cpu(unet_tune_options *o, int show)
{
    unet_context_options co;
    unet_context_options_default(&co);
    co.device = o->device ? o->device : "cpu";
    co.cache_dir = o->cache_dir;
    co.verbose = o->verbose;
    unet_context *ctx = NULL;
    unet_tune_info *info = calloc(1, sizeof *info);
    if (!info || unet_context_create(&co, &ctx) != UNET_OK || unet_tune_describe(ctx, info) != UNET_OK) {
        if (info) print_error();
        else fprintf(stderr, "unetcl tune: out of memory\n");
        unet_context_destroy(ctx);
        free(info);
        return 1;
    }
    unet_context_destroy(ctx);
    const unet_device_info *d = &info->device;
    if (d->type != UNET_DEVICE_CPU) {
        fprintf(stderr, "unetcl tune --cpu: %s is not a CPU device (its GEMMs run on CLBlast: use `unetcl tune`)\n",
                d->name);
        free(info);
        return 2;
    }
    printf("device [%d] %s (%s)\nCPU tuning file: %s\n", d->index, d->name, d->driver_version, info->cpu_path);
    printf("current parameters: %s (%s)\n", unet_tune_cpu_source_name(info->cpu_source), info->cpu_why);
    for (int i = 0; i < info->cpu_nknobs; i++) printf("  %-22s %s\n", info->cpu_knobs[i], info->cpu_knob_values[i]);
    free(info);
    if (show) return 0;
    printf("searching (at most %.0f s; each setting against the current best in interleaved pairs of probe passes, fastest pass per side)\n", o->seconds);
    o->device = co.device;
    o->progress = print_line;
    o->user = "  ";
    unet_tune_cpu_result *r = calloc(1, sizeof *r);
    if (!r || unet_tune_cpu(o, r) != UNET_OK) {
        if (r) print_error();
        else fprintf(stderr, "unetcl tune: out of memory\n");
        free(r);
        return 1;
    }
    printf("written %s:\n%s", r->path, r->text);
    if (r->shipped[0]) {
        printf("\nshipped entry for src/host/ocl/cpu_tune_shipped.c:\n    \"");
        for (const char *c = r->shipped; *c; c++) {
            if (*c == '\n') printf(c[1] ? "\\n\"\n    \"" : "\\n\",\n");
            else if (*c == '"' || *c == '\\') printf("\\%c", *c);
            else putchar(*c);
        }
    }
    free(r);
    return 0;
}

/* Step 4 (--conv-only, or after the CLBlast steps): our GPU convolution kernels per layer. */
static int tune_conv(unet_tune_options *o)
{
    printf("\n");
    o->progress = print_line;
    o->user = "";
    unet_tune_conv_result r;
    if (unet_tune_conv(o, &r) != UNET_OK) {
        print_error();
        return 1;
    }
    if (r.cpu_device)
        printf("note: on CPU devices the choice is not used (the CPU path stays); UNETCL_GPU_KERNELS=1 forces our "
               "kernels, with the tuned sets\n");
    return 0;
}

static int tune_clblast(unet_tune_options *o)
{
    o->progress = print_line;
    o->user = "";
    unet_tune_clblast_result *r = calloc(1, sizeof *r);
    if (!r || unet_tune_clblast(o, r) != UNET_OK) {
        if (r) print_error();
        else fprintf(stderr, "unetcl tune: out of memory\n");
        free(r);
        return 1;
    }
    printf("\n%-28s %-18s | %10s %8s | %10s %8s %5s | %6s\n", "shape", "MxNxK", "default ms", "GFLOP/s", "tuned ms",
           "GFLOP/s", "path", "ratio");
    for (int s = 0; s < r->nshapes; s++) {
        const unet_tune_gemm_shape *g = &r->shapes[s];
        printf("%-28s %-18s | %10.2f %8.1f | %10.2f %8.1f %5s | %5.2fx\n", g->what, g->dims, g->default_ms,
               g->gflop / g->default_ms * 1e3, g->tuned_ms, g->gflop / g->tuned_ms * 1e3, g->direct ? "dir" : "ind",
               g->default_ms / g->tuned_ms);
    }
    printf("total: default %.1f ms, tuned %.1f ms (%.2fx); XGEMM_MIN_INDIRECT_SIZE %zu (default %zu)\n",
           r->default_total_ms, r->tuned_total_ms, r->default_total_ms / r->tuned_total_ms, r->min_indirect,
           r->default_min_indirect);
    if (!r->tuned) printf("the tuned parameters were not faster: the file keeps CLBlast's defaults\n");
    printf("wrote %s\n", r->path);
    if (o->verbose)
        for (int i = 0; i < 3; i++) printf("  %s\n", r->params[i]);
    free(r);
    return 0;
}

int cmd_tune(int argc, char **argv)
{
    unet_tune_options o;
    unet_tune_options_default(&o);
    int conv = 1, clb = 1, cpu = 0, show = 0, ship = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) o.quick = 1;
        else if (!strcmp(a, "--cpu")) cpu = 1;
        else if (!strcmp(a, "--show")) show = 1;
        else if (!strcmp(a, "--seconds") && more) o.seconds = atof(argv[++i]);
        else if (!strcmp(a, "--ship") && more) {
            o.ship_match = argv[++i];
            ship = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o.verbose = 1;
        else if (!strcmp(a, "--device") && more) o.device = argv[++i];
        else if (!strcmp(a, "--cache-dir") && more) o.cache_dir = argv[++i];
        else if (!strcmp(a, "--helper") && more) o.helper = argv[++i];
        else if (!strcmp(a, "--fraction") && more) o.fraction = atof(argv[++i]);
        else if (!strcmp(a, "--direct-fraction") && more) o.direct_fraction = atof(argv[++i]);
        else if (!strcmp(a, "--timeout") && more) o.timeout_s = atof(argv[++i]);
        else if (!strcmp(a, "--reps") && more) o.reps = atoi(argv[++i]);
        else if (!strcmp(a, "--conv-only")) clb = 0;
        else if (!strcmp(a, "--no-conv")) conv = 0;
        else if (!strcmp(a, "--tile") && more) o.tile = atoi(argv[++i]);
        else if (!strcmp(a, "--base") && more) o.base = atoi(argv[++i]);
        else if (!strcmp(a, "--precision") && more) o.precision = argv[++i];
        else {
            fprintf(stderr, "unetcl tune: unknown or incomplete option \"%s\"\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.helper) o.helper = getenv("UNETCL_TUNE_HELPER");
    if (cpu || show || ship) {
        if (unet_tune_options_check(&o, UNET_TUNE_CPU) != UNET_OK) {
            print_error();
            return 2;
        }
        return tune_cpu(&o, show);
    }
    if (!conv && !clb) {
        fprintf(stderr, "unetcl tune: --conv-only and --no-conv leave nothing to do\n");
        return 2;
    }
    /* every option checked before the first (long) step */
    if (unet_tune_options_check(&o, (clb ? UNET_TUNE_CLBLAST : 0u) | (conv ? UNET_TUNE_CONV : 0u)) != UNET_OK) {
        print_error();
        return 2;
    }
    if (clb) {
        const int rc = tune_clblast(&o);
        if (rc != 0) return rc;
    }
    /* step 4 in a context of its own: CLBlast with the file just written */
    return conv ? tune_conv(&o) : 0;
}
