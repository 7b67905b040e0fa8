/* Monotonic wall clock for timings (progress, profiles, benchmarks). */
#ifndef UNETCL_CLOCK_H
#define UNETCL_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double unet_now_s(void);

#endif
