/* unetcl: the export macro of the public API.
 *
 * libunetcl.so is built with -fvisibility=hidden: only functions declared
 * with UNETCL_API in the headers of include/unetcl/ are exported
 * (`nm -D --defined-only libunetcl.so` lists exactly them; tests/test_api_symbols.sh
 * checks it). */
#ifndef UNETCL_API_H
#define UNETCL_API_H

#if defined(__GNUC__) || defined(__clang__)
#define UNETCL_API __attribute__((visibility("default")))
#else
#define UNETCL_API
#endif

#endif
