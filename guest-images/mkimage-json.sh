#!/bin/sh
# mkimage-json.sh — writes image.json, the description of a built guest image
# that the daemon reads: component paths, their sha256, and image_hash, the
# sha256 of the three component hashes concatenated (vmlinux, bzImage,
# initramfs, as lowercase hex, no separators), which names the image by
# content alone.
#
# Usage: mkimage-json.sh NAME KERNEL RELEASE VMLINUX BZIMAGE INITRAMFS MARKER CMDLINE_BASE
set -eu

if [ "$#" -ne 8 ]; then
        echo "usage: $0 NAME KERNEL RELEASE VMLINUX BZIMAGE INITRAMFS MARKER CMDLINE_BASE" >&2
        exit 2
fi

# Values are emitted as JSON strings verbatim, so refuse what would need escaping.
for v in "$@"; do
        case "$v" in
        *[\"\\]* | *[[:cntrl:]]*)
                echo "$0: refusing value with a quote, backslash or control character: $v" >&2
                exit 1
                ;;
        esac
done

hash() {
        h=$(sha256sum -- "$1") || exit 1
        echo "${h%% *}"
}

vmlinux_sha=$(hash "$4")
bzimage_sha=$(hash "$5")
initramfs_sha=$(hash "$6")
image_hash=$(printf '%s%s%s' "$vmlinux_sha" "$bzimage_sha" "$initramfs_sha" | sha256sum)
image_hash=${image_hash%% *}

printf '{"name":"%s","kernel":"%s","kernel_release":"%s",' "$1" "$2" "$3"
printf '"vmlinux":"%s","vmlinux_sha256":"%s",' "$4" "$vmlinux_sha"
printf '"bzimage":"%s","bzimage_sha256":"%s",' "$5" "$bzimage_sha"
printf '"initramfs":"%s","initramfs_sha256":"%s",' "$6" "$initramfs_sha"
printf '"image_hash":"%s","marker":"%s","cmdline_base":"%s"}\n' "$image_hash" "$7" "$8"
