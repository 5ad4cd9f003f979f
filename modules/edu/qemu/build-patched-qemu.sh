#!/usr/bin/env bash
# build-patched-qemu.sh — builds qemu-system-x86_64 with the edu CRC-32
# register (0001-edu-add-crc32-register.patch) from the distribution's QEMU
# source package, out of tree.  Never run by `make check`: it downloads about
# 24 MB of source and compiles for 15-30 minutes on two cores.
#
#   modules/edu/qemu/build-patched-qemu.sh [--install-deps] [--src DIR] [--out DIR]
#
#   --src DIR       use an existing, unpacked QEMU 7.2 source tree (the patch
#                   is applied to it unless already applied)
#   --out DIR       work and build directory           [build/qemu-edu]
#   --install-deps  apt-get install the build dependencies first
#
# Without --src the source comes from `apt-get source qemu`.  When apt has no
# deb-src line configured, a private apt configuration (in OUT, nothing under
# /etc is changed) adds one for the running Debian release.
#
# Result: OUT/build/qemu-system-x86_64.  Use it with
#   VIRTLAB_QEMU=$PWD/build/qemu-edu/build/qemu-system-x86_64 build/virtlabd ...
# `-device edu,help` of that binary lists the property "crc32".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
patch_file=$here/0001-edu-add-crc32-register.patch
out=$root/build/qemu-edu
src=""
install_deps=0
while [ $# -gt 0 ]; do
    case $1 in
        --src) src=$(cd "$2" && pwd); shift ;;
        --out) mkdir -p "$2"; out=$(cd "$2" && pwd); shift ;;
        --install-deps) install_deps=1 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-patched-qemu: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"

# What QEMU 7.2 needs for a TCG+KVM x86_64 system emulator and nothing more.
build_deps=(build-essential dpkg-dev meson ninja-build pkg-config python3 libglib2.0-dev
            libpixman-1-dev libfdt-dev zlib1g-dev flex bison)
if [ "$install_deps" -eq 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${build_deps[@]}"
fi

# apt-get source with the system's sources when they carry deb-src, else with
# a private sources list and lists directory under $out/apt.
fetch_source() {
    local dir=$out/src
    mkdir -p "$dir"
    cd "$dir"
    if ! ls -d qemu-*/ >/dev/null 2>&1; then
        if ! apt-get source --download-only qemu >/dev/null 2>&1; then
            local codename
            codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
            mkdir -p "$out/apt/lists/partial"
            cat >"$out/apt/sources.list" <<EOF
deb-src http://deb.debian.org/debian $codename main
deb-src http://deb.debian.org/debian $codename-updates main
deb-src http://deb.debian.org/debian-security $codename-security main
EOF
            local o=(-o "Dir::Etc::SourceList=$out/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
                     -o "Dir::State::Lists=$out/apt/lists")
            apt-get "${o[@]}" update
            apt-get "${o[@]}" source --download-only qemu
        fi
        dpkg-source -x qemu_*.dsc qemu-src
    fi
    src=$(ls -d "$dir"/qemu-*/ | head -n 1)
    src=${src%/}
}

[ -n "$src" ] || fetch_source
[ -f "$src/hw/misc/edu.c" ] || { echo "build-patched-qemu: $src has no hw/misc/edu.c" >&2; exit 1; }

if grep -q EDU_CRC32_LEN "$src/hw/misc/edu.c"; then
    echo "build-patched-qemu: patch already applied in $src"
else
    patch -d "$src" -p1 --forward <"$patch_file"
fi

# Firmware comes from the distribution packages (seabios, qemu-system-data,
# ipxe-qemu), the same search path Debian's own build uses; nothing is installed.
mkdir -p "$out/build"
cd "$out/build"
if [ ! -f build.ninja ]; then
    "$src/configure" --target-list=x86_64-softmmu --without-default-features \
        --enable-kvm --enable-tcg --disable-docs --disable-werror --disable-debug-info \
        --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
        --prefix="$out/install"
fi
ninja -j"$(nproc)" qemu-system-x86_64
# Run from its build directory, QEMU looks for every data and firmware file
# under ./qemu-bundle/<configured path> instead; point those at the packages.
for d in /usr/share/qemu /usr/share/seabios /usr/lib/ipxe/qemu; do
    mkdir -p "qemu-bundle$(dirname "$d")"
    ln -sfn "$d" "qemu-bundle$d"
done
./qemu-system-x86_64 -device edu,help | grep -q crc32 ||
    { echo "build-patched-qemu: built QEMU lacks the edu crc32 property" >&2; exit 1; }
echo "build-patched-qemu: $out/build/qemu-system-x86_64"
