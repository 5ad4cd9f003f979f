#!/bin/sh
# mkrootfs.sh — the systemd guest's root file system, from the host's apt
# sources: mmdebstrap --variant=minbase with systemd, udev, dbus, sysbench
# and e2fsprogs (bench-fileio makes its test file system in the guest).
#
#   mkrootfs.sh DIR SUITE
#
# The sources are the host's own files (/etc/apt/sources.list and
# /etc/apt/sources.list.d/*.list|*.sources), pasted by mmdebstrap, so no
# mirror is named here; they are removed from the image afterwards, with
# the host's resolv.conf and hostname mmdebstrap copies in (the guest has no
# network).  Exit 75 (EX_TEMPFAIL) when the sources cannot be reached, with
# a sentence saying so; other failures exit 1.
set -eu
[ "$#" -eq 2 ] || { echo "usage: $0 DIR SUITE" >&2; exit 2; }
dir=$1 suite=$2
packages=systemd-sysv,udev,dbus,sysbench,e2fsprogs

sources=
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -s "$f" ] && sources="$sources $f"
done
if [ -z "$sources" ]; then
        echo "mkrootfs.sh: the host has no apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/): the systemd image is built from them" >&2
        exit 75
fi

command -v mmdebstrap > /dev/null || { echo "mkrootfs.sh: mmdebstrap is not installed (tools/install-deps.sh)" >&2; exit 1; }
log=$dir.log
rm -rf "$dir" "$dir.tmp"
# shellcheck disable=SC2086 # one argument per sources file
if ! mmdebstrap --variant=minbase --include="$packages" \
        --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/* "$1"/etc/resolv.conf' \
        --customize-hook='echo virtlab > "$1"/etc/hostname' \
        "$suite" "$dir.tmp" $sources > "$log" 2>&1; then
        rm -rf "$dir.tmp"
        why=$(grep -E -m1 "Could not resolve|Temporary failure resolving|Failed to fetch|Unable to connect|Could not connect|Connection failed|Network is unreachable|No route to host|connection timed out" "$log" || true)
        if [ -n "$why" ]; then
                echo "mkrootfs.sh: apt's sources are unreachable ($why): the systemd image is built from them; check the network and$sources (log: $log)" >&2
                exit 75
        fi
        echo "mkrootfs.sh: mmdebstrap failed: $(grep -E '^E:' "$log" | tail -n 1) (log: $log)" >&2
        exit 1
fi
mv "$dir.tmp" "$dir"
