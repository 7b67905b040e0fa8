#!/usr/bin/env bash
# Typed kernel arguments (src/host/ocl/ocl.h, UNET_SET_ARGS): a list of right
# types compiles; a value of the wrong C type for its constructor (an int
# where a ulong is expected, a size_t for an int, a double for a float, a
# host pointer for a buffer) and a bare value without a constructor do not.
set -u
src=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cc=${CC:-cc}
command -v "$cc" >/dev/null || { echo "SKIP: no C compiler ($cc)"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
inc=(-I"$src/include" -I"${UNETCL_BINARY_DIR:-$src/build}/include" -I"$src/src/host/ocl" -I"$src/src/host/core" -I"$src/src/host/data")
try() { # try NAME BODY: 0 when it compiles
  printf '#define CL_TARGET_OPENCL_VERSION 120\n#include "ocl.h"\ncl_int f(cl_kernel k, cl_mem m, cl_int i, cl_ulong u, float x, size_t z, double d, int *p) {\n (void)k; (void)m; (void)i; (void)u; (void)x; (void)z; (void)d; (void)p;\n return %s;\n}\n' "$2" >"$tmp/$1.c"
  "$cc" -std=c11 -fsyntax-only -Werror "${inc[@]}" "$tmp/$1.c" >"$tmp/$1.log" 2>&1
}
fail=0
try good 'UNET_SET_ARGS(k, unet_arg_mem(m), unet_arg_int(i), unet_arg_ulong(u), unet_arg_float(x), unet_arg_local(z), unet_arg_uint((cl_uint)3), unet_arg_ulong(z))' ||
  { echo "FAIL: a well-typed argument list does not compile:"; cat "$tmp/good.log"; fail=1; }
for bad in 'unet_arg_ulong(i)' 'unet_arg_int(z)' 'unet_arg_int(u)' 'unet_arg_float(d)' 'unet_arg_mem(p)' 'unet_arg_local(i)' 'unet_arg_int(x)'; do
  if try bad "UNET_SET_ARGS(k, unet_arg_mem(m), $bad)"; then echo "FAIL: $bad compiled"; fail=1; else echo "ok: $bad is a compile error"; fi
done
if try bare 'UNET_SET_ARGS(k, unet_arg_mem(m), i)'; then echo "FAIL: a bare int without constructor compiled"; fail=1; else echo "ok: a bare value is a compile error"; fi
# the count comes from the list: three arguments set three (checked through the array size)
try count '(UNET_KARG_COUNT_(unet_arg_int(i), unet_arg_int(i), unet_arg_float(x)) == 3) ? 0 : 1' ||
  { echo "FAIL: count"; cat "$tmp/count.log"; fail=1; }
exit $fail
