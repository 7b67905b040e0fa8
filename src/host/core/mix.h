/* Internal: the one 64-bit mixer of the host code (the finaliser of
 * Steele, Lea & Flood's splitmix64, 2014). Every counter-based draw (tiles,
 * augmentation, dropout seeds, synthetic data, weight initialisation) is a
 * function of its inputs through it, so that runs, resumes and ranks draw
 * the same numbers. */
#ifndef UNETCL_MIX_H
#define UNETCL_MIX_H

#include <stdint.h>

#define UNET_GOLDEN64 0x9E3779B97F4A7C15ULL

static inline uint64_t unet_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The splitmix64 generator: advances *state and returns the next value. */
static inline uint64_t unet_splitmix64(uint64_t *state) { return unet_mix64(*state += UNET_GOLDEN64); }

#endif
