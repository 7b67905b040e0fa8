/* Centre crop + channel concatenation: forward and backward against a
 * plain-C reference (crop offset floor((hs-hu)/2), floor((ws-wu)/2)), the
 * adjoint identity <dout, F(skip, up)> = <dskip, skip> + <dup, up>, finite
 * differences of the reference, accumulate modes and NULL gradients. */
#include "testutil.h"
#include "layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct shp { int cs, hs, ws, cu, hu, wu; } shp;

/* Reference forward in double; the crop offset is computed independently. */
static void ref_fwd(const shp *s, const double *skip, const double *up, double *out)
{
    int oy = (int)floor((s->hs - s->hu) / 2.0), ox = (int)floor((s->ws - s->wu) / 2.0);
    for (int c = 0; c < s->cs + s->cu; c++)
        for (int y = 0; y < s->hu; y++)
            for (int x = 0; x < s->wu; x++) {
                size_t o = ((size_t)c * s->hu + y) * s->wu + x;
                if (c < s->cs) out[o] = skip[((size_t)c * s->hs + y + oy) * s->ws + x + ox];
                else out[o] = up[((size_t)(c - s->cs) * s->hu + y) * s->wu + x];
            }
}

static void ref_bwd(const shp *s, const float *dout, double *dskip, double *dup)
{
    int oy = (int)floor((s->hs - s->hu) / 2.0), ox = (int)floor((s->ws - s->wu) / 2.0);
    memset(dskip, 0, sizeof(double) * (size_t)s->cs * s->hs * s->ws);
    for (int c = 0; c < s->cs + s->cu; c++)
        for (int y = 0; y < s->hu; y++)
            for (int x = 0; x < s->wu; x++) {
                double g = dout[((size_t)c * s->hu + y) * s->wu + x];
                if (c < s->cs) dskip[((size_t)c * s->hs + y + oy) * s->ws + x + ox] = g;
                else dup[((size_t)(c - s->cs) * s->hu + y) * s->wu + x] = g;
            }
}

static double dot_fd(const shp *s, const double *skip, const double *up, const float *dout, double *tmp)
{
    ref_fwd(s, skip, up, tmp);
    double l = 0.0;
    size_t no = (size_t)(s->cs + s->cu) * s->hu * s->wu;
    for (size_t i = 0; i < no; i++) l += dout[i] * tmp[i];
    return l;
}

static void run_case(shp s, uint64_t seed)
{
    unet_context *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, seed);
    size_t ns = (size_t)s.cs * s.hs * s.ws, nu = (size_t)s.cu * s.hu * s.wu;
    size_t no = (size_t)(s.cs + s.cu) * s.hu * s.wu;
    float *skip = malloc(ns * 4), *up = malloc(nu * 4), *dout = malloc(no * 4);
    float *ds0 = malloc(ns * 4), *du0 = malloc(nu * 4);
    double *skipd = malloc(ns * 8), *upd = malloc(nu * 8), *rout = malloc(no * 8);
    double *rds = malloc(ns * 8), *rdu = malloc(nu * 8);
    assert_true(skip && up && dout && ds0 && du0 && skipd && upd && rout && rds && rdu);
    tu_fill_uniform(&r, skip, ns, -1, 1);
    tu_fill_uniform(&r, up, nu, -1, 1);
    tu_fill_uniform(&r, dout, no, -1, 1);
    tu_fill_uniform(&r, ds0, ns, -1, 1);
    tu_fill_uniform(&r, du0, nu, -1, 1);
    for (size_t i = 0; i < ns; i++) skipd[i] = skip[i];
    for (size_t i = 0; i < nu; i++) upd[i] = up[i];

    unet_tensor ts = tu_tensor(s.cs, s.hs, s.ws, skip), tu = tu_tensor(s.cu, s.hu, s.wu, up);
    unet_tensor to = tu_tensor(s.cs + s.cu, s.hu, s.wu, NULL), tdo = tu_tensor(s.cs + s.cu, s.hu, s.wu, dout);
    unet_tensor tds = tu_tensor(s.cs, s.hs, s.ws, ds0), tdu = tu_tensor(s.cu, s.hu, s.wu, du0);
    TU_OK(unet_crop_concat_forward(ctx, &ts, &tu, &to));
    float *gout = tu_download(&to);
    ref_fwd(&s, skipd, upd, rout);
    tu_assert_close("crop+concat forward", gout, rout, no, 0.0, 0.0);

    /* backward, overwrite (targets pre-filled with garbage) */
    TU_OK(unet_crop_concat_backward(ctx, &tdo, &tds, 0, &tdu, 0));
    float *gds = tu_download(&tds), *gdu = tu_download(&tdu);
    ref_bwd(&s, dout, rds, rdu);
    tu_assert_close("crop+concat backward skip", gds, rds, ns, 0.0, 0.0);
    tu_assert_close("crop+concat backward up", gdu, rdu, nu, 0.0, 0.0);

    /* adjoint identity */
    double lhs = 0.0, rhs = 0.0, mag = 0.0;
    for (size_t i = 0; i < no; i++) lhs += (double)dout[i] * gout[i], mag += fabs((double)dout[i] * gout[i]);
    for (size_t i = 0; i < ns; i++) rhs += (double)gds[i] * skip[i];
    for (size_t i = 0; i < nu; i++) rhs += (double)gdu[i] * up[i];
    assert_true(fabs(lhs - rhs) <= 1e-9 * (1.0 + mag));

    /* finite differences of the double reference on a sample of inputs */
    const double eps = 1e-3;
    for (size_t i = 0; i < ns; i += 1 + ns / 97) {
        double v = skipd[i];
        skipd[i] = v + eps;
        double lp = dot_fd(&s, skipd, upd, dout, rout);
        skipd[i] = v - eps;
        double lm = dot_fd(&s, skipd, upd, dout, rout);
        skipd[i] = v;
        if (fabs((lp - lm) / (2 * eps) - rds[i]) > 1e-9) fail_msg("FD skip[%zu]", i);
    }
    for (size_t i = 0; i < nu; i += 1 + nu / 97) {
        double v = upd[i];
        upd[i] = v + eps;
        double lp = dot_fd(&s, skipd, upd, dout, rout);
        upd[i] = v - eps;
        double lm = dot_fd(&s, skipd, upd, dout, rout);
        upd[i] = v;
        if (fabs((lp - lm) / (2 * eps) - rdu[i]) > 1e-9) fail_msg("FD up[%zu]", i);
    }

    /* accumulate: start from ds0 / du0 */
    TU_OK(unet_tensor_upload(ctx, &tds, ds0));
    TU_OK(unet_tensor_upload(ctx, &tdu, du0));
    TU_OK(unet_crop_concat_backward(ctx, &tdo, &tds, 1, &tdu, 1));
    float *ads = tu_download(&tds), *adu = tu_download(&tdu);
    for (size_t i = 0; i < ns; i++) rds[i] += ds0[i];
    for (size_t i = 0; i < nu; i++) rdu[i] += du0[i];
    tu_assert_close("crop+concat backward skip accumulate", ads, rds, ns, 1e-7, 1e-6);
    tu_assert_close("crop+concat backward up accumulate", adu, rdu, nu, 1e-7, 1e-6);

    /* one side NULL: the other alone, the untouched side unchanged */
    TU_OK(unet_tensor_upload(ctx, &tds, ds0));
    TU_OK(unet_tensor_upload(ctx, &tdu, du0));
    TU_OK(unet_crop_concat_backward(ctx, &tdo, NULL, 0, &tdu, 0));
    float *ndu = tu_download(&tdu);
    tu_assert_close_f("crop+concat backward up only", ndu, gdu, nu, 0.0, 0.0);
    TU_OK(unet_crop_concat_backward(ctx, &tdo, &tds, 0, NULL, 0));
    float *nds = tu_download(&tds);
    tu_assert_close_f("crop+concat backward skip only", nds, gds, ns, 0.0, 0.0);

    free(gout); free(gds); free(gdu); free(ads); free(adu); free(ndu); free(nds);
    unet_tensor_free(&ts); unet_tensor_free(&tu); unet_tensor_free(&to);
    unet_tensor_free(&tdo); unet_tensor_free(&tds); unet_tensor_free(&tdu);
    free(skip); free(up); free(dout); free(ds0); free(du0);
    free(skipd); free(upd); free(rout); free(rds); free(rdu);
}

static void test_shapes(void **state)
{
    (void)state;
    run_case((shp){3, 17, 21, 5, 9, 13}, 1);  /* offsets (4, 4) */
    run_case((shp){1, 6, 10, 1, 3, 5}, 2);    /* odd differences: (1, 2), floor */
    run_case((shp){2, 14, 22, 3, 11, 19}, 3); /* (1, 1) */
    run_case((shp){4, 2, 2, 3, 2, 2}, 4);     /* no crop */
    run_case((shp){64, 8, 8, 64, 4, 4}, 5);   /* paper-like, channels equal */
    run_case((shp){2, 40, 70, 3, 36, 50}, 6); /* wide rows: 16-wide vector paths and tails */
    run_case((shp){1, 20, 48, 1, 16, 32}, 7); /* rows of whole vectors */
}

/* The up map as a view (sub-buffer) of the output's second half, as the
 * network places it: forward copies only the skip half, backward leaves the
 * up gradient in place; results equal the reference. Skips when the device
 * cannot place the view. */
static void test_view(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    shp s = {32, 20, 40, 32, 16, 32}; /* second half at 32*16*32 floats */
    tu_rng r;
    tu_seed(&r, 11);
    size_t ns = (size_t)s.cs * s.hs * s.ws, nu = (size_t)s.cu * s.hu * s.wu, no = (size_t)(s.cs + s.cu) * s.hu * s.wu;
    float *skip = malloc(ns * 4), *up = malloc(nu * 4), *dout = malloc(no * 4), *g = malloc(no * 4);
    double *skipd = malloc(ns * 8), *upd = malloc(nu * 8), *rout = malloc(no * 8), *rds = malloc(ns * 8),
           *rdu = malloc(nu * 8);
    assert_true(skip && up && dout && g && skipd && upd && rout && rds && rdu);
    tu_fill_uniform(&r, skip, ns, -1, 1);
    tu_fill_uniform(&r, up, nu, -1, 1);
    tu_fill_uniform(&r, dout, no, -1, 1);
    for (size_t i = 0; i < ns; i++) skipd[i] = skip[i];
    for (size_t i = 0; i < nu; i++) upd[i] = up[i];
    unet_tensor ts = tu_tensor(s.cs, s.hs, s.ws, skip), to = tu_tensor(s.cs + s.cu, s.hu, s.wu, NULL);
    unet_tensor tdo = tu_tensor(s.cs + s.cu, s.hu, s.wu, dout), tds = tu_tensor(s.cs, s.hs, s.ws, NULL);
    unet_tensor tu, tdu;
    TU_OK(unet_tensor_view(ctx, to.mem, nu, &tu, s.cu, s.hu, s.wu, "up view"));
    TU_OK(unet_tensor_view(ctx, tdo.mem, nu, &tdu, s.cu, s.hu, s.wu, "up gradient view"));
    if (!tu.mem || !tdu.mem) {
        unet_tensor_free(&tu); unet_tensor_free(&tdu);
        unet_tensor_free(&ts); unet_tensor_free(&to); unet_tensor_free(&tdo); unet_tensor_free(&tds);
        free(skip); free(up); free(dout); free(g); free(skipd); free(upd); free(rout); free(rds); free(rdu);
        skip();
    }
    TU_OK(unet_tensor_upload(ctx, &tu, up)); /* as the up-convolution would write it */
    TU_OK(unet_crop_concat_forward(ctx, &ts, &tu, &to));
    TU_OK(unet_tensor_download(ctx, &to, g));
    ref_fwd(&s, skipd, upd, rout);
    tu_assert_close("crop+concat forward, up as a view", g, rout, no, 0.0, 0.0);
    TU_OK(unet_crop_concat_backward(ctx, &tdo, &tds, 0, &tdu, 0));
    ref_bwd(&s, dout, rds, rdu);
    float *gds = tu_download(&tds), *gdu = tu_download(&tdu);
    tu_assert_close("crop+concat backward skip, up as a view", gds, rds, ns, 0.0, 0.0);
    tu_assert_close("crop+concat backward up, up as a view", gdu, rdu, nu, 0.0, 0.0);
    /* accumulating into a view of dout itself is refused */
    assert_int_not_equal(unet_crop_concat_backward(ctx, &tdo, NULL, 0, &tdu, 1), UNET_OK);
    /* a view outside its buffer is refused */
    unet_tensor bad;
    assert_int_not_equal(unet_tensor_view(ctx, to.mem, nu + 1, &bad, s.cu, s.hu, s.wu, "bad view"), UNET_OK);
    free(gds); free(gdu);
    unet_tensor_free(&tu); unet_tensor_free(&tdu);
    unet_tensor_free(&ts); unet_tensor_free(&to); unet_tensor_free(&tdo); unet_tensor_free(&tds);
    free(skip); free(up); free(dout); free(g); free(skipd); free(upd); free(rout); free(rds); free(rdu);
}

static void test_odd_offset_explicit(void **state)
{
    (void)state;
    /* skip 1x4x5 holding its own flat index, up 1x1x2: offset (1, 1) */
    unet_context *ctx = tu_ctx();
    float s[20], u[2] = {-1, -2}, o[4];
    for (int i = 0; i < 20; i++) s[i] = (float)i;
    unet_tensor ts = tu_tensor(1, 4, 5, s), tu = tu_tensor(1, 1, 2, u), to = tu_tensor(2, 1, 2, NULL);
    TU_OK(unet_crop_concat_forward(ctx, &ts, &tu, &to));
    TU_OK(unet_tensor_download(ctx, &to, o));
    assert_true(o[0] == 6.0f && o[1] == 7.0f && o[2] == -1.0f && o[3] == -2.0f);
    unet_tensor_free(&ts); unet_tensor_free(&tu); unet_tensor_free(&to);
}

static void test_errors(void **state)
{
    (void)state;
    unet_context *ctx = tu_ctx();
    unet_tensor s = tu_tensor(2, 4, 4, NULL), u = tu_tensor(2, 6, 4, NULL), o = tu_tensor(4, 6, 4, NULL);
    assert_int_equal(unet_crop_concat_forward(ctx, &s, &u, &o), UNET_ERR_INVALID_ARGUMENT);
    unet_tensor u2 = tu_tensor(2, 2, 2, NULL), o2 = tu_tensor(3, 2, 2, NULL);
    assert_int_equal(unet_crop_concat_forward(ctx, &s, &u2, &o2), UNET_ERR_INVALID_ARGUMENT);
    /* channel counts that do not add up */
    assert_int_equal(unet_crop_concat_backward(ctx, &o2, &s, 0, &u2, 0), UNET_ERR_INVALID_ARGUMENT);
    assert_int_equal(unet_crop_concat_backward(ctx, &o2, NULL, 0, NULL, 0), UNET_OK);
    unet_tensor_free(&s); unet_tensor_free(&u); unet_tensor_free(&o);
    unet_tensor_free(&u2); unet_tensor_free(&o2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_odd_offset_explicit),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_errors),
    };
    return TU_RUN("concat", tests);
}
