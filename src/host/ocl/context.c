#define _POSIX_C_SOURCE 200809L
#include "ocl.h"

#include "cpu_tune.h"
#include "fsutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

static void info_string(cl_device_id d, cl_device_info what, char *out, size_t n)
{
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, n, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[n - 1] = '\0';
    /* trim trailing blanks that some drivers append */
    size_t len = strlen(out);
    while (len > 0 && isspace((unsigned char)out[len - 1])) out[--len] = '\0';
}

static void fill_info(cl_platform_id p, int pidx, cl_device_id d, int index, unet_device_info *di)
{
    memset(di, 0, sizeof *di);
    di->index = index;
    di->platform_index = pidx;
    clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof di->platform_name, di->platform_name, NULL);
    di->platform_name[sizeof di->platform_name - 1] = '\0';
    info_string(d, CL_DEVICE_NAME, di->name, sizeof di->name);
    info_string(d, CL_DEVICE_VENDOR, di->vendor, sizeof di->vendor);
    info_string(d, CL_DRIVER_VERSION, di->driver_version, sizeof di->driver_version);
    info_string(d, CL_DEVICE_VERSION, di->device_version, sizeof di->device_version);
    info_string(d, CL_DEVICE_OPENCL_C_VERSION, di->opencl_c_version, sizeof di->opencl_c_version);
    cl_device_type t = 0;
    clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    di->type = (t & CL_DEVICE_TYPE_GPU)           ? UNET_DEVICE_GPU
               : (t & CL_DEVICE_TYPE_CPU)         ? UNET_DEVICE_CPU
               : (t & CL_DEVICE_TYPE_ACCELERATOR) ? UNET_DEVICE_ACCELERATOR
                                                  : UNET_DEVICE_OTHER;
    cl_uint cu = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    di->compute_units = cu;
    cl_ulong v = 0;
    clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof v, &v, NULL);
    di->global_mem_bytes = v;
    v = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof v, &v, NULL);
    di->max_alloc_bytes = v;
    v = 0;
    clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof v, &v, NULL);
    di->local_mem_bytes = v;
    size_t wg = 0;
    clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    di->max_work_group_size = wg;
    size_t en = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &en) == CL_SUCCESS && en > 0) {
        char *ext = malloc(en + 1);
        if (ext && clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, en, ext, NULL) == CL_SUCCESS) {
            ext[en] = '\0';
            di->fp16_arithmetic = strstr(ext, "cl_khr_fp16") != NULL;
        }
        free(ext);
    }
}

typedef struct dev_entry {
    cl_platform_id platform;
    cl_device_id device;
    unet_device_info info;
} dev_entry;

static const char *no_platform_hint =
    "no OpenCL platform found: install an OpenCL driver. For the CPU, PoCL works everywhere "
    "(Debian/Ubuntu: apt-get install pocl-opencl-icd); for GPUs, the vendor's OpenCL ICD "
    "(nvidia-opencl-icd, mesa-opencl-icd/rocm-opencl-icd, intel-opencl-icd)";

/* PoCL (the CPU driver) gives no device when it cannot create its kernel
 * cache (POCL_CACHE_DIR, else $XDG_CACHE_HOME/pocl/kcache, else
 * $HOME/.cache/pocl/kcache, else /tmp/POCL_CACHE, as PoCL 3 chooses): with
 * HOME unwritable every command said only "no OpenCL device" (issue 12,
 * item 8). Returns 1 and a message when PoCL is installed and that folder
 * cannot be made. */
static int pocl_cache_problem(char *msg, size_t n)
{
    const char *vd = getenv("OCL_ICD_VENDORS");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", vd && *vd ? vd : "/etc/OpenCL/vendors");
    int pocl = 0;
    struct stat sb;
    if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strstr(e->d_name, "pocl")) pocl = 1;
        if (d) closedir(d);
    } else if (strstr(dir, "pocl"))
        pocl = 1;
    if (!pocl) return 0;
    char cache[1024];
    const char *e = getenv("POCL_CACHE_DIR"), *how;
    if (e && *e) {
        snprintf(cache, sizeof cache, "%s", e);
        how = "POCL_CACHE_DIR";
    } else if ((e = getenv("XDG_CACHE_HOME")) && *e) {
        snprintf(cache, sizeof cache, "%s/pocl/kcache", e);
        how = "XDG_CACHE_HOME";
    } else if ((e = getenv("HOME"))) {
        snprintf(cache, sizeof cache, "%s/.cache/pocl/kcache", e);
        how = "HOME";
    } else {
        snprintf(cache, sizeof cache, "/tmp/POCL_CACHE");
        how = "the default (HOME is not set)";
    }
    if (stat(cache, &sb) == 0 && S_ISDIR(sb.st_mode) && access(cache, W_OK | X_OK) == 0) return 0;
    int err;
    if (stat(cache, &sb) == 0 && S_ISDIR(sb.st_mode)) err = EACCES;
    else if (unet_mkdir_p(cache) == 0) return 0; /* PoCL would have made it as well */
    else err = errno;
    snprintf(msg, n,
             "no OpenCL device: PoCL is installed but cannot create its kernel cache %s (from %s: %s); set HOME, "
             "XDG_CACHE_HOME or POCL_CACHE_DIR to a writable folder",
             cache, how, strerror(err));
    return 1;
}

/* The message when no device was found. */
static unet_status no_device(void)
{
    char msg[2600];
    if (pocl_cache_problem(msg, sizeof msg)) return unet_seterr(UNET_ERR_NO_DEVICE, "%s", msg);
    return unet_seterr(UNET_ERR_NO_DEVICE, "%s", no_platform_hint);
}

static unet_status enumerate(dev_entry **out, int *count)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    *out = NULL;
    *count = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return UNET_OK;
    if (err != CL_SUCCESS) return unet_cl_fail(err, __FILE__, __LINE__, "clGetPlatformIDs");
    if (np > MAX_PLATFORMS) np = MAX_PLATFORMS;
    dev_entry *list = calloc(MAX_DEVICES, sizeof *list);
    if (!list) return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue; /* a platform without devices (CL_DEVICE_NOT_FOUND) */
        if (nd > MAX_DEVICES) nd = MAX_DEVICES;
        for (cl_uint d = 0; d < nd && n < MAX_DEVICES; d++) {
            list[n].platform = plats[p];
            list[n].device = devs[d];
            fill_info(plats[p], (int)p, devs[d], n, &list[n].info);
            n++;
        }
    }
    *out = list;
    *count = n;
    return UNET_OK;
}

unet_status unet_list_devices(unet_device_info **infos, int *count)
{
    if (!infos || !count) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_list_devices: NULL argument");
    dev_entry *list;
    int n;
    UNET_TRY(enumerate(&list, &n));
    *infos = NULL;
    *count = n;
    if (n == 0) {
        free(list);
        no_device(); /* the reason as the last error; no devices is not a failure here */
        return UNET_OK;
    }
    unet_device_info *arr = calloc((size_t)n, sizeof *arr);
    if (!arr) {
        free(list);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    }
    for (int i = 0; i < n; i++) arr[i] = list[i].info;
    free(list);
    *infos = arr;
    return UNET_OK;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, nl) == 0) return 1;
    return 0;
}

static int type_of(const char *s, unet_device_type *t)
{
    if (strcasecmp(s, "gpu") == 0) *t = UNET_DEVICE_GPU;
    else if (strcasecmp(s, "cpu") == 0) *t = UNET_DEVICE_CPU;
    else if (strcasecmp(s, "accelerator") == 0) *t = UNET_DEVICE_ACCELERATOR;
    else return 0;
    return 1;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

/* Picks a device from the list according to the selector; -1 if none. */
static int select_device(const dev_entry *list, int n, const char *sel)
{
    if (!sel || !*sel || strcasecmp(sel, "auto") == 0) {
        for (int i = 0; i < n; i++)
            if (list[i].info.type == UNET_DEVICE_GPU) return i;
        for (int i = 0; i < n; i++)
            if (list[i].info.type == UNET_DEVICE_CPU) return i;
        return n > 0 ? 0 : -1;
    }
    if (all_digits(sel)) {
        int idx = atoi(sel);
        return idx < n ? idx : -1;
    }
    unet_device_type t;
    char typ[32];
    const char *colon = strchr(sel, ':');
    if (colon && (size_t)(colon - sel) < sizeof typ && all_digits(colon + 1)) {
        memcpy(typ, sel, (size_t)(colon - sel));
        typ[colon - sel] = '\0';
        if (type_of(typ, &t)) {
            int want = atoi(colon + 1), k = 0;
            for (int i = 0; i < n; i++)
                if (list[i].info.type == t && k++ == want) return i;
            return -1;
        }
    }
    if (type_of(sel, &t)) {
        for (int i = 0; i < n; i++)
            if (list[i].info.type == t) return i;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (contains_ci(list[i].info.name, sel) || contains_ci(list[i].info.vendor, sel) ||
            contains_ci(list[i].info.platform_name, sel))
            return i;
    return -1;
}

void unet_context_options_default(unet_context_options *o)
{
    memset(o, 0, sizeof *o);
}

void unet_default_cache_dir(char *out, size_t n)
{
    const char *e = getenv("UNETCL_CACHE_DIR");
    if (e && *e) {
        snprintf(out, n, "%s", e);
        return;
    }
    e = getenv("XDG_CACHE_HOME");
    if (e && *e) {
        snprintf(out, n, "%s/unetcl", e);
        return;
    }
    e = getenv("HOME");
    snprintf(out, n, "%s/.cache/unetcl", (e && *e) ? e : "/tmp");
}

unet_status unet_context_create(const unet_context_options *opts, unet_context **out)
{
    if (!out) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_context_create: NULL output");
    *out = NULL;
    unet_context_options defaults;
    if (!opts) {
        unet_context_options_default(&defaults);
        opts = &defaults;
    }
    dev_entry *list;
    int n;
    UNET_TRY(enumerate(&list, &n));
    if (n == 0) {
        free(list);
        return no_device();
    }
    int idx = select_device(list, n, opts->device);
    if (idx < 0) {
        char names[1024] = "";
        size_t used = 0;
        for (int i = 0; i < n && used < sizeof names - 1; i++) {
            int w = snprintf(names + used, sizeof names - used, "%s[%d] %s", i ? ", " : "", i,
                             list[i].info.name);
            if (w < 0) break;
            used += (size_t)w;
        }
        free(list);
        return unet_seterr(UNET_ERR_NO_DEVICE,
                           "no OpenCL device matches \"%s\"; available: %s (see `unetcl devices`)",
                           opts->device, names);
    }
    unet_context *c = calloc(1, sizeof *c);
    if (!c) {
        free(list);
        return unet_seterr(UNET_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    c->platform = list[idx].platform;
    c->device = list[idx].device;
    c->info = list[idx].info;
    free(list);

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)c->platform, 0};
    c->ctx = clCreateContext(props, 1, &c->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        free(c);
        return unet_cl_fail(err, __FILE__, __LINE__, "clCreateContext");
    }
    c->profiling = opts->enable_profiling ? 1 : 0;
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    c->queue = clCreateCommandQueue(c->ctx, c->device,
                                    c->profiling ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (err != CL_SUCCESS) {
        clReleaseContext(c->ctx);
        free(c);
        return unet_cl_fail(err, __FILE__, __LINE__, "clCreateCommandQueue");
    }
    /* The knobs: built-in defaults, then the environment (once, here). */
    unet_knobs_default(&c->knobs);
    char kerr[512];
    if (unet_knobs_from_env(&c->knobs, kerr, sizeof kerr, c->warnings, sizeof c->warnings) != 0) {
        clReleaseCommandQueue(c->queue);
        clReleaseContext(c->ctx);
        free(c);
        return unet_seterr(UNET_ERR_CONFIG, "%s", kerr);
    }
    if (c->warnings[0]) {
        /* once per process: the same misspelt name would repeat per context */
        static int warned;
        if (!warned || opts->verbose) fprintf(stderr, "unetcl: warning: %s\n", c->warnings);
        warned = 1;
    }
    c->cache_enabled = !(opts->disable_cache || c->knobs.no_cache);
    if (opts->cache_dir && *opts->cache_dir)
        snprintf(c->cache_dir, sizeof c->cache_dir, "%s", opts->cache_dir);
    else
        unet_default_cache_dir(c->cache_dir, sizeof c->cache_dir);
    c->clblast_tuning_disabled = opts->disable_clblast_tuning || !c->knobs.clblast_tuning;
    c->verbose = opts->verbose;
    c->force_gpu_kernels = opts->force_gpu_kernels || c->knobs.gpu_kernels;
    c->fp16 = opts->precision_fp16 ? 1 : 0;
    if (c->fp16 && c->info.type == UNET_DEVICE_CPU && !c->force_gpu_kernels) {
        /* the message names the device: set it before the context (and its info) is freed */
        unet_status st = unet_seterr(UNET_ERR_CONFIG,
                                     "precision = fp16 runs on unetcl's GPU convolution kernels, and %s is a CPU "
                                     "device: use precision = fp32 there (or UNETCL_GPU_KERNELS=1 to force the GPU "
                                     "kernels, tests)",
                                     c->info.name);
        unet_context_destroy(c);
        return st;
    }
    /* CPU devices: tuned kernel parameters (file, else shipped entry) under the environment's */
    unet_cpu_tuning_load(c);
    *out = c;
    return UNET_OK;
}

void unet_context_destroy(unet_context *c)
{
    if (!c) return;
    if (c->queue) clFinish(c->queue);
    unet_kprof_report();
    if (c->blas_free && c->blas_state) c->blas_free(c->blas_state);
    if (c->gpuconv_free && c->gpuconv) c->gpuconv_free(c->gpuconv);
    for (int i = 0; i < c->nkernels; i++) clReleaseKernel(c->kernels[i].kernel);
    for (int i = 0; i < UNET_MAX_PROGRAMS; i++)
        if (c->programs[i]) clReleaseProgram(c->programs[i]);
    if (c->queue) clReleaseCommandQueue(c->queue);
    if (c->ctx) clReleaseContext(c->ctx);
    free(c);
}

unet_status unet_context_device_info(const unet_context *c, unet_device_info *info)
{
    if (!c || !info) return unet_seterr(UNET_ERR_INVALID_ARGUMENT, "unet_context_device_info: NULL argument");
    *info = c->info;
    return UNET_OK;
}

const char *unet_context_warnings(const unet_context *c)
{
    return (c && c->warnings[0]) ? c->warnings : NULL;
}

unet_knobs *unet_context_knobs(unet_context *c) { return c ? &c->knobs : NULL; }

void unet_context_cache_stats(const unet_context *c, unet_cache_stats *s)
{
    if (c && s) *s = c->stats;
}
