#!/usr/bin/env bash
# libunetcl.so exports exactly the documented API: every dynamic symbol it
# defines is a function declared with UNETCL_API in include/unetcl/*.h, and
# every such declaration is exported (hidden visibility by default keeps
# the ~250 internal functions out).
set -euo pipefail
SRC=${UNETCL_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${UNETCL_BINARY_DIR:-$SRC/build}
LIB=$BIN/libunetcl.so
command -v nm >/dev/null || { echo "skipped: no nm"; exit 77; }
[ -f "$LIB" ] || { echo "FAIL: $LIB not built"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$LIB" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | sort -u > "$tmp/exported"
# declarations: UNETCL_API <type> name( possibly across lines
PY=$(command -v python3 || command -v /usr/bin/python3) || { echo "skipped: no python3"; exit 77; }
"$PY" - "$SRC"/include/unetcl/*.h > "$tmp/declared" <<'PYEOF'
import re, sys
names = set()
for path in sys.argv[1:]:
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)    # preprocessor lines (the macro itself)
    for m in re.finditer(r"UNETCL_API\s+[^;(]*?\b([A-Za-z_]\w*)\s*\(", text):
        names.add(m.group(1))
print("\n".join(sorted(names)))
PYEOF
n=$(wc -l < "$tmp/exported")
echo "libunetcl.so exports $n symbols; the headers declare $(wc -l < "$tmp/declared") with UNETCL_API"
bad=0
if comm -23 "$tmp/exported" "$tmp/declared" | grep .; then
    echo "FAIL: exported but not declared with UNETCL_API in include/unetcl/ (above)"; bad=1
fi
if comm -13 "$tmp/exported" "$tmp/declared" | grep .; then
    echo "FAIL: declared with UNETCL_API but not exported (above)"; bad=1
fi
grep -v '^unet_' "$tmp/exported" && { echo "FAIL: exported names outside the unet_ prefix (above)"; bad=1; }
[ "$n" -ge 50 ] || { echo "FAIL: only $n symbols exported"; bad=1; }
exit $bad
