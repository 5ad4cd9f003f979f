#!/bin/sh
# mkimage-json.sh — image.json of the systemd guest: the fields of a Linux
# image (../mkimage-json.sh; image_hash = sha256 of the component hashes,
# here vmlinux, bzImage, initrd and the disk), plus what the daemon must
# know of this guest: it boots from its disk (each run gets a copy-on-write
# view of it), reports through virtlab-report once systemd has booted
# (with `systemd-analyze time`, the guest's own clock), holds afterwards,
# has sysbench installed, and needs minutes under TCG.
#
# Usage: mkimage-json.sh KERNEL RELEASE VMLINUX BZIMAGE INITRD DISK MARKER CMDLINE_BASE
set -eu
[ "$#" -eq 8 ] || { echo "usage: $0 KERNEL RELEASE VMLINUX BZIMAGE INITRD DISK MARKER CMDLINE_BASE" >&2; exit 2; }
for v in "$@"; do
        case "$v" in
        *[\"\\]* | *[[:cntrl:]]*) echo "$0: refusing value needing JSON escapes: $v" >&2; exit 1 ;;
        esac
done
hash() { h=$(sha256sum -- "$1") || exit 1; echo "${h%% *}"; }
vmlinux=$(hash "$3"); bzimage=$(hash "$4"); initrd=$(hash "$5"); disk=$(hash "$6")
image_hash=$(printf '%s%s%s%s' "$vmlinux" "$bzimage" "$initrd" "$disk" | sha256sum)
image_hash=${image_hash%% *}
printf '{"name":"systemd","guest":"linux","kernel":"%s","kernel_release":"%s",' "$1" "$2"
printf '"vmlinux":"%s","vmlinux_sha256":"%s","bzimage":"%s","bzimage_sha256":"%s",' "$3" "$vmlinux" "$4" "$bzimage"
printf '"initramfs":"%s","initramfs_sha256":"%s",' "$5" "$initrd"
printf '"disk_image":"%s","disk_image_format":"raw","disk_image_sha256":"%s","image_hash":"%s",' "$6" "$disk" "$image_hash"
printf '"marker":"%s","cmdline_base":"%s",' "$7" "$8"
printf '"jobs":["boot","hold","run"],"powers_off":false,"sysbench":true,"guest_clock":"systemd-analyze",'
printf '"extra_timeout_s":540,"console_user":"root"}\n'
