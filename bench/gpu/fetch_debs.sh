#!/usr/bin/env bash
# Downloads, where apt works, the Debian 12 packages that unetcl's build and
# tests need (scripts/install-deps.sh's list) with the libraries they pull in,
# into DIR (default .gpu-debs, keep it out of git: echo /.gpu-debs/ >>
# .git/info/exclude), for a machine without network: bench/gpu/run_gpu.sh
# --debs DIR unpacks them into a private prefix there (dpkg-deb -x), nothing
# is installed. The C library, the compiler's runtime and other packages every
# system has are left out; so are packages the device image has (CMake, a C
# compiler, Python with PyTorch).
#   bench/gpu/fetch_debs.sh [DIR]
set -euo pipefail
dir=${1:-.gpu-debs}
mkdir -p "$dir"
top=(libclblast-dev ocl-icd-opencl-dev opencl-headers libpng-dev libtiff-dev libcjson-dev libprotobuf-c-dev
     protobuf-c-compiler libcairo2-dev libcmocka-dev pkgconf)
skip='^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-s1|libstdc\+\+6|gcc-.*|cpp-.*|g\+\+.*|libgcc-.*-dev|libstdc\+\+-.*-dev|zlib1g|libzstd1|liblzma5|libbz2-1.0|libselinux1|libpcre2-8-0|debconf|dpkg|perl-base|perl|perl-modules-.*|libperl.*|tar|libcrypt1|libcrypt-dev|libnsl.*|libtirpc.*|libssl3|libffi8|libgmp10|libmpfr6|libmpc3|libisl23|binutils.*|libbinutils|libctf.*|libgprofng0|libsframe.*|libjansson4|libasan.*|libtsan.*|libubsan.*|liblsan.*|libhwasan.*|libitm.*|libquadmath.*|libatomic1|libgomp1|libcc1-0|python3.*|libpython3.*|mime-support|media-types|tzdata|readline-common|libreadline8|libncursesw6|libtinfo6|libsqlite3-0|libdb5.3|libexpat1|libuuid1|libblkid1|libmount1|libsystemd0|libudev1|libcap2|libgcrypt20|libgpg-error0|liblz4-1|libaudit1|libaudit-common|libcap-ng0|libpam.*|libsemanage.*|libsepol2|libacl1|libattr1|init-system-helpers|lsb-base|sysvinit-utils|libdebconfclient0|libnvidia.*|nvidia.*|fonts-.*|ttf-.*|xfonts-.*|cdebconf|libdebian-installer4|install-info|mailcap|x11-common|libglib2.0-bin|libglib2.0-data|libnewt0.52|libslang2|libtextwrap1|rpcsvc-proto|libgdbm.*|xorg-sgml-doctools|<.*>)$'
mapfile -t pkgs < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${top[@]}" 2>/dev/null | grep -v '^ ' | grep -vE "$skip" | sort -u)
echo "fetch_debs.sh: ${#pkgs[@]} packages into $dir"
(cd "$dir" && apt-get download "${pkgs[@]}" >/dev/null)
du -sh "$dir"
ls "$dir" | wc -l
