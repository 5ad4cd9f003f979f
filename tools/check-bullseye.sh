#!/usr/bin/env bash
# check-bullseye.sh — builds virtlab and runs its unit tests on Debian 11
# (bullseye: glibc 2.31, systemd 247, jansson 2.13, SQLite 3.34, libevent
# 2.1.12, cmocka 1.1.5, QEMU 5.2), the oldest userspace we support.
#
#   tools/check-bullseye.sh [--integration [NAME,NAME...]]
#
# A bullseye root file system is made with mmdebstrap from the mirror this
# host's apt already uses (read from apt's own sources at run time, passed on
# the command line, never written into a file), and cached under
# build/bullseye/ by a hash of what it holds.  The source tree is
# bind-mounted read-only into it at its own path (so the absolute paths in
# build/images/*/image.json hold there too), and `make all check-unit` runs in
# a chroot inside a private mount namespace (the mounts vanish with it),
# building into /build.  --integration also runs the integration tests there
# against bullseye's own QEMU and dbus-daemon (NAMEs: only the tests whose
# name holds one of them, as tests/run-tests.sh --only).
#
# Where apt's sources are unreachable (or this is not a Debian host), says
# SKIP and why, and exits 0: CI shows the skip, it does not fail on it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUITE=bullseye
# What `make all check-unit` needs (python3: test-vm's path-mode fake VMM).
UNIT_PKGS=(build-essential pkg-config libevent-dev libjansson-dev libsystemd-dev libsqlite3-dev libcmocka-dev
           python3)
# What the integration tests need on top (the guest image is the host's).
INTEGRATION_PKGS=(qemu-system-x86 dbus python3-jsonschema libxml2-utils procps mount e2fsprogs)
# What only some integration tests use (report plots, mtree SVG, --json
# checks, systemd-analyze): a second, larger rootfs, made only for a run of
# every integration test (--integration without names).
FULL_PKGS=(gnuplot-nox graphviz jq systemd)
# Integration tests that cannot mean anything here, and why.
INTEGRATION_SKIPS=("test-image.sh=the guest image and its tools (mkcpio, extract-vmlinux) are built on the host and link its glibc")
# Bump when the recipe changes in a way the package list does not show.
RECIPE=1

integration=0 only=""
while [ $# -gt 0 ]; do
    case $1 in
        --integration) integration=1
            if [ $# -gt 1 ] && [[ $2 != --* ]]; then only=$2; shift; fi ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--integration [NAME,NAME...]]" >&2; exit 2 ;;
    esac
    shift
done

say() { echo "check-bullseye: $*"; }
skip() { say "SKIP: $*"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, mounts)"
command -v apt-get >/dev/null || skip "no apt on this host"

# The mirror that serves this host's own suite, as apt's sources name it
# (not -security or -updates, which have no plain "bullseye").
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' 2>/dev/null |
         awk -v s="$codename" '$2 == s && $3 == "deb" { print $1; exit }')
mirror=${mirror%/}
[ -n "$mirror" ] || skip "apt's sources name no Debian mirror for '$codename'"
probe=$(mktemp)
trap 'rm -f "$probe"' EXIT
if ! timeout 30 /usr/lib/apt/apt-helper download-file "$mirror/dists/$SUITE/Release" "$probe" >/dev/null 2>&1; then
    skip "apt's mirror is unreachable from here (dists/$SUITE/Release could not be fetched)"
fi
grep -q "^Codename: $SUITE" "$probe" || skip "apt's mirror has no $SUITE suite"

if ! command -v mmdebstrap >/dev/null; then
    say "installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends mmdebstrap >/dev/null
fi

# The core rootfs serves the unit tests and named integration tests (CI);
# every integration test needs the full one.
tier=core
all_pkgs=("${UNIT_PKGS[@]}" "${INTEGRATION_PKGS[@]}")
if [ "$integration" -eq 1 ] && [ -z "$only" ]; then
    tier=full
    all_pkgs+=("${FULL_PKGS[@]}")
fi
key=$(printf '%s\n' "$SUITE" "$RECIPE" "$(uname -m)" "${all_pkgs[@]}" | sha256sum | cut -c1-16)
cache=$ROOT/build/bullseye
rootfs=$cache/rootfs-$tier-$key
mkdir -p "$cache"

if [ ! -f "$rootfs/.virtlab-rootfs-key" ]; then
    # Stale: this tier's older recipes, and anything not of a tier (older script).
    for old in "$cache"/rootfs-*; do
        [ -e "$old" ] && [ "$old" != "$rootfs" ] || continue
        case ${old##*/} in
            rootfs-core-*|rootfs-full-*) [[ ${old##*/} == rootfs-$tier-* ]] || continue ;;
        esac
        say "removing stale $old"
        rm -rf --one-file-system "$old"
    done
    tmp=$rootfs.tmp
    rm -rf --one-file-system "$tmp"
    say "making a $SUITE rootfs (${#all_pkgs[@]} packages) in $rootfs"
    t0=$SECONDS
    mmdebstrap --quiet --variant=apt --mode=root --aptopt='Apt::Install-Recommends "false"' \
        --include="$(IFS=,; echo "${all_pkgs[*]}")" "$SUITE" "$tmp" "$mirror"
    # The rootfs never fetches again: keep no mirror host in a file.
    rm -f "$tmp/etc/apt/sources.list" "$tmp"/etc/apt/sources.list.d/*
    echo "$key" >"$tmp/.virtlab-rootfs-key"
    mv "$tmp" "$rootfs"
    say "rootfs ready in $((SECONDS - t0)) s"
else
    say "reusing $rootfs"
fi

versions=$(chroot "$rootfs" dpkg-query -W -f='${Package} ${Version}\n' \
           gcc-10 libc6 libsystemd-dev libjansson-dev libsqlite3-dev libevent-dev libcmocka-dev qemu-system-x86 2>/dev/null |
           tr '\n' ';' | sed 's/;$//; s/;/; /g')
say "$SUITE has: $versions"

# Runs bash -c SCRIPT in the chroot with this tree (read-only, same path), /proc,
# /sys, /dev (incl. /dev/kvm) and a fresh /tmp; the mounts live in a
# private namespace and go away with it.
in_rootfs() {
    unshare --mount --propagation private -- bash -euc '
        r=$1 src=$2 script=$3
        # A mount point of its own, so "/" in the chroot can be remounted (test-store does).
        mount --bind "$r" "$r"
        mkdir -p "$r$src"
        mount --bind "$src" "$r$src"
        mount -o remount,bind,ro "$r$src"
        mount -t proc proc "$r/proc"
        mount --rbind /sys "$r/sys"
        mount --rbind /dev "$r/dev"
        mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
        exec chroot "$r" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root \
            LANG=C.UTF-8 TERM=dumb bash -euc "$script"
    ' _ "$rootfs" "$ROOT" "$1"
}

rm -rf --one-file-system "$rootfs/build"
say "make -j2 all check-unit (BUILD=/build, this tree read-only at $ROOT)"
t0=$SECONDS
set +e
in_rootfs "cd $ROOT && make -j2 BUILD=/build all check-unit" 2>&1 | tee "$cache/unit.log" |
    grep --line-buffered -E '^(test-|fuzz-)|passed,|error:|Error [0-9]|^    '
rc=${PIPESTATUS[0]}
set -e
say "build + unit tests: exit $rc in $((SECONDS - t0)) s (log: $cache/unit.log)"
[ "$rc" -eq 0 ] || exit "$rc"

if [ "$integration" -eq 1 ]; then
    image=$ROOT/build/images/default
    [ -f "$ROOT/build/images/default/image.json" ] || { say "no guest image: run make image first"; exit 1; }
    say "integration tests against $SUITE's QEMU and dbus-daemon${only:+ (only $only)}"
    t0=$SECONDS
    set +e
    args=""
    for s in "${INTEGRATION_SKIPS[@]}"; do args+=" --skip '$s'"; done
    IFS=, read -ra names <<<"$only"
    for n in "${names[@]}"; do args+=" --only '$n'"; done
    in_rootfs "cd $ROOT && BUILD=/build IMAGE_DIR=$image tests/run-tests.sh$args" 2>&1 |
        tee "$cache/integration.log"
    rc=${PIPESTATUS[0]}
    set -e
    say "integration tests: exit $rc in $((SECONDS - t0)) s (log: $cache/integration.log)"
fi
exit "$rc"
