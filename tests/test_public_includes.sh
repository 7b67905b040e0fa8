#!/usr/bin/env bash
# cli/, bench/ and examples/ use the public API only: every quoted #include
# is a header of include/unetcl/ or of their own folder (cli/commands.h,
# cli/dist.h, bench/bench_util.h). The build enforces the same (the CLI and
# the benchmarks get no internal include folder); this test names the file
# and line when someone adds one. Exceptions would be listed in EXCEPT
# (none: cli/cmd_tune.c, the last one, calls include/unetcl/tune.h since the
# tuning drivers moved into the library).
set -euo pipefail
SRC=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$SRC"
EXCEPT=""
bad=0
checked=0
for f in cli/*.c cli/*.h bench/*.c bench/*.h examples/*.c; do
    [ -e "$f" ] || continue
    case " $EXCEPT " in *" $f "*) continue ;; esac
    checked=$((checked + 1))
    dir=$(dirname "$f")
    while IFS=: read -r line inc; do
        hdr=$(printf '%s' "$inc" | sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/')
        case "$hdr" in
            unetcl/*) [ -f "include/$hdr" ] || [ "$hdr" = unetcl/version.h ] || { echo "$f:$line: $hdr is not a public header"; bad=1; } ;;
            *) [ -f "$dir/$hdr" ] || { echo "$f:$line: includes \"$hdr\", not a public header (include/unetcl/) nor one of $dir/"; bad=1; } ;;
        esac
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
done
[ "$checked" -ge 14 ] || { echo "FAIL: only $checked files checked"; exit 1; }
[ $bad -eq 0 ] && echo "$checked files of cli/, bench/ and examples/ include public headers only (exceptions: ${EXCEPT:-none})"
exit $bad
