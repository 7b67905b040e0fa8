/* Internal: SHA-256 (FIPS 180-4) of a byte buffer, for the checksums of
 * exported files. */
#ifndef UNETCL_SHA256_H
#define UNETCL_SHA256_H

#include <stddef.h>

/* hex receives 64 lowercase hex digits and a terminating NUL. */
void unet_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
