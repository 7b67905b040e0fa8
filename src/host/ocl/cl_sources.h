/* Table of the OpenCL sources embedded at build time (cmake/embed_cl.cmake). */
#ifndef UNETCL_CL_SOURCES_H
#define UNETCL_CL_SOURCES_H
#include <stddef.h>

typedef struct unet_cl_source {
    const char *name; /* file name without .cl: the kernel family */
    const char *text; /* NUL-terminated */
    size_t length;    /* without the NUL */
} unet_cl_source;

extern const unet_cl_source unet_cl_sources[];
extern const size_t unet_cl_source_count;

#endif
