/* Shared helpers of the test programs (cmocka). */
#ifndef UNETCL_TESTUTIL_H
#define UNETCL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ocl.h"
#include "tensor.h"
#include "unetcl/unetcl.h"

/* The context of the test program: device from $UNETCL_TEST_DEVICE (any
 * unet_context_options.device selector), default "auto". Created once. */
unet_context *tu_ctx(void);
void tu_ctx_release(void);

/* Fails the test with the library's last error when st != UNET_OK. */
#define TU_OK(expr)                                                                        \
    do {                                                                                   \
        unet_status tu_s_ = (expr);                                                        \
        if (tu_s_ != UNET_OK)                                                              \
            fail_msg("%s -> %s: %s", #expr, unet_status_string(tu_s_), unet_last_error()); \
    } while (0)

/* Deterministic pseudo-random numbers (xorshift64*). */
typedef struct tu_rng { uint64_t s; } tu_rng;
void tu_seed(tu_rng *r, uint64_t seed);
double tu_uniform(tu_rng *r);             /* [0,1) */
double tu_normal(tu_rng *r);              /* N(0,1) */
void tu_fill_uniform(tu_rng *r, float *x, size_t n, float lo, float hi);

/* Compares got (float) with want (double reference): passes if for every i
 * |got-want| <= atol + rtol*|want|. On failure reports the worst index. */
void tu_assert_close(const char *what, const float *got, const double *want, size_t n, double atol,
                     double rtol);
/* Same, both float. */
void tu_assert_close_f(const char *what, const float *got, const float *want, size_t n, double atol,
                       double rtol);

/* Uploads host floats into a new tensor. */
unet_tensor tu_tensor(int c, int h, int w, const float *host);
/* Downloads a tensor into a new malloc'ed array. */
float *tu_download(const unet_tensor *t);

/* Runs the cmocka group; returns 77 (skip) when no OpenCL device exists. */
int tu_run(const char *name, const struct CMUnitTest *tests, size_t n);
#define TU_RUN(name, tests) tu_run(name, tests, sizeof(tests) / sizeof((tests)[0]))

/* Root of the shared data ("../shared/data" next to the source tree, or
 * $UNETCL_DATA_DIR); NULL if absent. */
const char *tu_shared_data(void);

#endif
