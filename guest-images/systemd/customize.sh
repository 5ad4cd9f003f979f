#!/bin/sh
# customize.sh — virtlab's own files on top of the fetched rootfs
# (idempotent, no chroot, no root needed beyond owning DIR):
#   /usr/local/sbin/virtlab-report    + its service, enabled
#   /usr/bin/virtlab-bench            the bench kinds' guest side
#   root's password                   "virtlab-root" (a lab guest without network;
#                                     --console-login root:virtlab-root)
#   no getty generator                a serial getty started at boot would print its
#                                     "login:" prompt into the reporter's frames on the
#                                     same console; virtlab-report starts it after them
#
#   customize.sh DIR MARKER BENCH_SCRIPT
set -eu
[ "$#" -eq 3 ] || { echo "usage: $0 DIR MARKER BENCH_SCRIPT" >&2; exit 2; }
dir=$1 marker=$2 bench=$3
here=$(dirname "$0")

install -d "$dir/usr/local/sbin" "$dir/etc/systemd/system/multi-user.target.wants"
sed "s/@MARKER@/$marker/" "$here/virtlab-report" > "$dir/usr/local/sbin/virtlab-report"
chmod 0755 "$dir/usr/local/sbin/virtlab-report"
install -m 0644 "$here/virtlab-report.service" "$dir/etc/systemd/system/virtlab-report.service"
ln -sf /etc/systemd/system/virtlab-report.service "$dir/etc/systemd/system/multi-user.target.wants/virtlab-report.service"
install -m 0755 "$bench" "$dir/usr/bin/virtlab-bench"
# A generator linked to /dev/null in /etc is masked (systemd.generator(7));
# serial-getty@ttyS0.service itself stays, for virtlab-report to start.
install -d "$dir/etc/systemd/system-generators"
ln -sf /dev/null "$dir/etc/systemd/system-generators/systemd-getty-generator"

# busybox's mkpasswd: a SHA-512 crypt() hash without chroot or openssl.
hash=$(busybox mkpasswd -m sha512 virtlab-root)
case $hash in
'$6$'*) ;;
*) echo "$0: busybox mkpasswd gave no SHA-512 hash" >&2; exit 1 ;;
esac
sed -i "s|^root:[^:]*:|root:$hash:|" "$dir/etc/shadow"
