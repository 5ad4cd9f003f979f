#!/usr/bin/env bash
# Installs the Debian 12 packages virtlab needs to build, make its guest image
# and run its tests.  Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(build-essential pkg-config libevent-dev libjansson-dev libsystemd-dev libsqlite3-dev
      libcmocka-dev qemu-system-x86 busybox-static linux-image-amd64 dbus cpio gzip xz-utils zstd
      python3 python3-jsonschema python3-dbus libxml2-utils
      linux-headers-amd64 graphviz gnuplot-nox
      sysbench fio e2fsprogs kmod libblkid-dev
      systemd-container mmdebstrap procps initramfs-tools
      libvirt-dev libvirt-daemon-system libvirt-clients libxml2-dev
      scdoc groff-base man-db bash-completion
      chromium prometheus python3-prometheus-client
      valgrind clang libclang-rt-14-dev)
# systemd-container (systemd-nspawn) and mmdebstrap: test-systemd-host.sh boots
# a Debian rootfs with systemd as PID 1 to run virtlabd.service for real;
# mmdebstrap also builds the systemd guest's rootfs (make image-systemd),
# whose disk the distro kernel's initrd (initramfs-tools) mounts.
# libvirt-*: the libvirt backend and test-libvirt.py's private libvirtd.
# scdoc: the man pages; chromium: the report is rendered in a real browser by
# test-report-browser.py; prometheus: its promtool validates the OpenMetrics
# output (python3-prometheus-client: the strict OpenMetrics parser).
# valgrind: make check-valgrind; mmdebstrap: also make check-bullseye (Debian 11 rootfs).
# clang, libclang-rt-14-dev (its libFuzzer and sanitizer runtimes): make fuzz.
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
