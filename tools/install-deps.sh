#!/usr/bin/env bash
# Installs the Debian 12 packages virtlab needs to build, make its guest image
# and run its tests.  Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(build-essential pkg-config libevent-dev libjansson-dev libsystemd-dev libsqlite3-dev
      libcmocka-dev qemu-system-x86 busybox-static linux-image-amd64 dbus cpio gzip xz-utils zstd
      python3 python3-jsonschema python3-dbus libxml2-utils
      linux-headers-amd64 graphviz gnuplot-nox
      sysbench fio e2fsprogs kmod libblkid-dev
      mmdebstrap initramfs-tools)
# mmdebstrap builds the systemd guest's rootfs from apt's sources (make
# image-systemd); the distro kernel's initrd (initramfs-tools) mounts its disk.
# Not here, on purpose: the build dependencies of the optional patched QEMU
# (meson ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev
# flex bison dpkg-dev), which modules/edu/qemu/build-patched-qemu.sh
# --install-deps installs; make check never builds QEMU.
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
