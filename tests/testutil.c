#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static unet_context *g_ctx;

unet_context *tu_ctx(void)
{
    if (g_ctx) return g_ctx;
    unet_context_options o;
    unet_context_options_default(&o);
    const char *d = getenv("UNETCL_TEST_DEVICE");
    o.device = (d && *d) ? d : NULL;
    unet_status st = unet_context_create(&o, &g_ctx);
    if (st != UNET_OK) fail_msg("creating OpenCL context: %s", unet_last_error());
    return g_ctx;
}

void tu_ctx_release(void)
{
    unet_context_destroy(g_ctx);
    g_ctx = NULL;
}

void tu_seed(tu_rng *r, uint64_t seed) { r->s = seed * 2685821657736338717ULL + 0x9E3779B97F4A7C15ULL; if (!r->s) r->s = 1; }

static uint64_t next(tu_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

double tu_uniform(tu_rng *r) { return (double)(next(r) >> 11) * (1.0 / 9007199254740992.0); }

double tu_normal(tu_rng *r)
{
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_uniform(tu_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * tu_uniform(r));
}

void tu_assert_close(const char *what, const float *got, const double *want, size_t n, double atol, double rtol)
{
    size_t worst = 0, nbad = 0;
    double worst_excess = -1.0, maxabs = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double tol = atol + rtol * fabs(want[i]);
        if (!(d <= tol)) nbad++; /* also catches NaN */
        double ex = isnan(d) ? INFINITY : d - tol;
        if (ex > worst_excess || i == 0) {
            worst_excess = ex;
            worst = i;
        }
        if (d > maxabs) maxabs = d;
    }
    if (nbad)
        fail_msg("%s: %zu of %zu values out of tolerance (atol %g, rtol %g); worst at %zu: got %.9g want %.9g",
                 what, nbad, n, atol, rtol, worst, (double)got[worst], want[worst]);
    print_message("  %-48s max |diff| %.3g over %zu values (atol %g, rtol %g)\n", what, maxabs, n, atol, rtol);
}

void tu_assert_close_f(const char *what, const float *got, const float *want, size_t n, double atol, double rtol)
{
    double *w = malloc(n * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++) w[i] = want[i];
    tu_assert_close(what, got, w, n, atol, rtol);
    free(w);
}

unet_tensor tu_tensor(int c, int h, int w, const float *host)
{
    unet_tensor t;
    TU_OK(unet_tensor_alloc(tu_ctx(), &t, c, h, w, "test tensor"));
    if (host) TU_OK(unet_tensor_upload(tu_ctx(), &t, host));
    else TU_OK(unet_buffer_fill(tu_ctx(), t.mem, 0, unet_tensor_count(&t), 0.0f));
    return t;
}

float *tu_download(const unet_tensor *t)
{
    float *h = malloc(unet_tensor_bytes(t));
    assert_non_null(h);
    TU_OK(unet_tensor_download(tu_ctx(), t, h));
    return h;
}

int tu_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
    unet_device_info *d;
    int count = 0;
    if (unet_list_devices(&d, &count) != UNET_OK || count == 0) {
        fprintf(stderr, "%s: SKIP: no OpenCL device (%s)\n", name, unet_last_error());
        return 77;
    }
    free(d);
    int rc = _cmocka_run_group_tests(name, tests, n, NULL, NULL);
    tu_ctx_release();
    return rc;
}

const char *tu_shared_data(void)
{
    static char path[1024];
    struct stat sb;
    const char *e = getenv("UNETCL_DATA_DIR");
    if (e && *e) snprintf(path, sizeof path, "%s", e);
    else {
        const char *src = getenv("UNETCL_SOURCE_DIR");
        snprintf(path, sizeof path, "%s/../shared/data", src ? src : ".");
    }
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return NULL;
    return path;
}
