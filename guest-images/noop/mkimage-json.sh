#!/bin/sh
# mkimage-json.sh — image.json of the noop micro-guest: the same fields as a
# Linux image (guest-images/mkimage-json.sh; image_hash = sha256 of the
# component hashes), plus what the daemon must know of this guest: it has
# no kernel phase, runs only the boot and hold jobs, never powers off by
# itself, runs under a paravirtual KVM, and takes virtlab.touch_mib=.
#
# Usage: mkimage-json.sh ELF RAW INITRD MARKER
set -eu
[ "$#" -eq 4 ] || { echo "usage: $0 ELF RAW INITRD MARKER" >&2; exit 2; }
for v in "$@"; do
        case "$v" in
        *[\"\\]* | *[[:cntrl:]]*) echo "$0: refusing value needing JSON escapes: $v" >&2; exit 1 ;;
        esac
done
hash() { h=$(sha256sum -- "$1") || exit 1; echo "${h%% *}"; }
elf=$(hash "$1"); raw=$(hash "$2"); initrd=$(hash "$3")
image_hash=$(printf '%s%s%s' "$elf" "$raw" "$initrd" | sha256sum)
image_hash=${image_hash%% *}
printf '{"name":"noop","guest":"noop","kernel":"noop","kernel_release":"noop",'
printf '"vmlinux":"%s","vmlinux_sha256":"%s","raw":"%s","raw_sha256":"%s",' "$1" "$elf" "$2" "$raw"
printf '"initramfs":"%s","initramfs_sha256":"%s","image_hash":"%s",' "$3" "$initrd" "$image_hash"
printf '"marker":"%s","cmdline_base":"console=ttyS0",' "$4"
printf '"phases":["console","init"],"jobs":["boot","hold"],"powers_off":false,'
printf '"paravirt_kvm_ok":true,"touch_ram":true}\n'
