// unetcl-tune-helper: the only C++ in unetcl. A tiny separate executable that
// runs CLBlast's auto-tuner (C++-only API: clblast::TuneXgemm,
// clblast::TuneXgemmDirect) or reads CLBlast's current parameters
// (clblast::RetrieveParameters) for one OpenCL device, and prints them as
// text. `unetcl tune` (cli/cmd_tune.c) runs it, measures the result on the
// network's GEMM shapes and writes the per-device tuning file; the C11
// library only reads that file and applies it with CLBlastOverrideParameters.
//
//   unetcl-tune-helper --device INDEX [--expect-name NAME] tune Xgemm|XgemmDirect M N K FRACTION
//   unetcl-tune-helper --device INDEX [--expect-name NAME] current Xgemm|XgemmDirect|GemmRoutine
//
// INDEX is the global device index of `unetcl devices` (platforms in order,
// every device of each). Output on success (exit 0), one line each:
//   param NAME VALUE
//   ok
// On failure: a message on stderr and exit status 1 (2: usage).
#include <CL/cl.h>
#include <clblast.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

int usage()
{
    std::fprintf(stderr,
                 "usage: unetcl-tune-helper --device INDEX [--expect-name NAME] tune Xgemm|XgemmDirect M N K FRACTION\n"
                 "       unetcl-tune-helper --device INDEX [--expect-name NAME] current Xgemm|XgemmDirect|GemmRoutine\n"
                 "Runs CLBlast's tuner (single precision) or prints CLBlast's current parameters.\n"
                 "Normally started by `unetcl tune`.\n");
    return 2;
}

bool parse_size(const char *s, size_t *out)
{
    char *end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (!end || *end || v == 0 || v > (1ull << 20)) return false;
    *out = static_cast<size_t>(v);
    return true;
}

// The device with the given global index, enumerated like src/host/context.c.
bool find_device(int want, cl_platform_id *plat, cl_device_id *dev)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS) return false;
    if (np > 16) np = 16;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_device_id devs[64];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 64, devs, &nd) != CL_SUCCESS) continue;
        if (nd > 64) nd = 64;
        for (cl_uint d = 0; d < nd && n < 64; d++, n++)
            if (n == want) {
                *plat = plats[p];
                *dev = devs[d];
                return true;
            }
    }
    return false;
}

std::string device_name(cl_device_id d)
{
    char buf[256] = {0};
    clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof buf - 1, buf, nullptr);
    std::string s(buf);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t')) s.pop_back();
    return s;
}

void print_params(const std::unordered_map<std::string, size_t> &p)
{
    std::map<std::string, size_t> sorted(p.begin(), p.end());
    for (const auto &kv : sorted) std::printf("param %s %zu\n", kv.first.c_str(), kv.second);
    std::printf("ok\n");
}

} // namespace

int main(int argc, char **argv)
{
    int index = -1;
    const char *expect = nullptr;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!std::strcmp(argv[i], "--device") && i + 1 < argc) index = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--expect-name") && i + 1 < argc) expect = argv[++i];
        else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) { usage(); return 0; }
        else return usage();
    }
    if (index < 0 || i + 2 > argc) return usage();
    const std::string mode = argv[i], kernel = argv[i + 1];

    cl_platform_id plat;
    cl_device_id dev;
    if (!find_device(index, &plat, &dev)) {
        std::fprintf(stderr, "unetcl-tune-helper: no OpenCL device with index %d (see `unetcl devices`)\n", index);
        return 1;
    }
    if (expect && device_name(dev) != expect) {
        std::fprintf(stderr, "unetcl-tune-helper: device %d is \"%s\", expected \"%s\"\n", index,
                     device_name(dev).c_str(), expect);
        return 1;
    }

    std::unordered_map<std::string, size_t> params;
    if (mode == "current") {
        if (i + 2 != argc || (kernel != "Xgemm" && kernel != "XgemmDirect" && kernel != "GemmRoutine")) return usage();
        clblast::StatusCode s = clblast::RetrieveParameters(dev, kernel, clblast::Precision::kSingle, params);
        if (s != clblast::StatusCode::kSuccess) {
            std::fprintf(stderr, "unetcl-tune-helper: clblast::RetrieveParameters(%s) failed with status %d\n",
                         kernel.c_str(), static_cast<int>(s));
            return 1;
        }
        print_params(params);
        return 0;
    }
    if (mode != "tune" || i + 6 != argc || (kernel != "Xgemm" && kernel != "XgemmDirect")) return usage();
    size_t m, n, k;
    char *end = nullptr;
    const double fraction = std::strtod(argv[i + 5], &end);
    if (!parse_size(argv[i + 2], &m) || !parse_size(argv[i + 3], &n) || !parse_size(argv[i + 4], &k) || !end ||
        *end || !(fraction > 0.0 && fraction <= 1.0))
        return usage();

    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, reinterpret_cast<cl_context_properties>(plat), 0};
    cl_context ctx = clCreateContext(props, 1, &dev, nullptr, nullptr, &err);
    if (err != CL_SUCCESS) {
        std::fprintf(stderr, "unetcl-tune-helper: clCreateContext failed (%d)\n", err);
        return 1;
    }
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
    cl_command_queue q = clCreateCommandQueue(ctx, dev, CL_QUEUE_PROFILING_ENABLE, &err);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    if (err != CL_SUCCESS) {
        std::fprintf(stderr, "unetcl-tune-helper: clCreateCommandQueue failed (%d)\n", err);
        clReleaseContext(ctx);
        return 1;
    }
    clblast::StatusCode s;
    try {
        s = kernel == "Xgemm" ? clblast::TuneXgemm<float>(&q, m, n, k, fraction, params)
                              : clblast::TuneXgemmDirect<float>(&q, m, n, k, fraction, params);
    } catch (...) {
        s = clblast::StatusCode::kUnknownError;
    }
    clReleaseCommandQueue(q);
    clReleaseContext(ctx);
    if (s != clblast::StatusCode::kSuccess || params.empty()) {
        std::fprintf(stderr,
                     "unetcl-tune-helper: clblast::Tune%s<float>(%zu, %zu, %zu, fraction %g) failed with status %d "
                     "(no configuration ran correctly: try a larger fraction)\n",
                     kernel.c_str(), m, n, k, fraction, static_cast<int>(s));
        return 1;
    }
    print_params(params);
    return 0;
}
