#!/usr/bin/env bash
# test-systemd-host.sh — virtlabd under a real systemd: a Debian rootfs of the
# host's release (mmdebstrap, cached under build/systemd-host by a hash of its
# recipe) is booted with systemd-nspawn, systemd 252 as its PID 1 and a real
# system bus; `make install DESTDIR=` goes into it while it runs, as on a live
# host; then, inside, over that bus and under the unit exactly as shipped:
# systemctl start, D-Bus activation, a TCG boot, translate down to the HPA,
# --drop-caches, KVM through DeviceAllow= (QEMU, StratoVirt, kvm-sample),
# density, a mounted block device refused as a bench disk, group virtlab
# against an outsider, systemctl stop and SIGKILL mid-job, systemd-analyze
# verify and security.  Emits TAP; skips visibly without root, systemd-nspawn,
# nsenter, a cgroup2 hierarchy, or (to build the rootfs) mmdebstrap and
# reachable apt sources.  Cached, it takes ~25 s on 2 idle cores; building the
# rootfs adds 80-130 s.
#
# Environment: BUILD, IMAGE_DIR (make check sets both), VIRTLAB_STRATOVIRT.
# Everything inside runs through `nsenter -t <container PID 1> -a`; the
# container gets a cgroup of its own on the host, which is emptied and removed
# on exit whatever happened.
# Check functions are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_ARG=${BUILD:-build}
case $BUILD_ARG in /*) BUILD=$BUILD_ARG ;; *) BUILD=$ROOT/$BUILD_ARG ;; esac
IMAGE_DIR=$(realpath -m "${IMAGE_DIR:-$ROOT/build/images/default}")
NOOP_DIR=$(dirname "$IMAGE_DIR")/noop
SV=${VIRTLAB_STRATOVIRT:-$(command -v stratovirt || true)}
IMAGES_IN=/var/lib/virtlab/images # the daemon's default on the system bus (virtlabd --help)
MEMBER=vltest-member OUTSIDER=vltest-outsider
START=$SECONDS

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

skip_all() {
        skip "virtlabd under a real systemd (nspawn container)" "$1"
        echo "1..$n"
        exit 0
}

[ "$(id -u)" = 0 ] || skip_all "needs root (nspawn, nsenter)"
for c in systemd-nspawn nsenter python3; do
        command -v "$c" >/dev/null || skip_all "$c not installed (tools/install-deps.sh: systemd-container)"
done
[ -x "$BUILD/virtlabd" ] && [ -x "$BUILD/virtlabctl" ] || skip_all "$BUILD/virtlabd not built"
[ -f "$IMAGE_DIR/image.json" ] && [ -f "$NOOP_DIR/image.json" ] || skip_all "no guest images (make image)"
# The unit's DevicePolicy= is BPF on cgroup2; the container gets a unified
# hierarchy even on a hybrid host (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 below).
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        CG2=/sys/fs/cgroup
elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
        CG2=/sys/fs/cgroup/unified
else
        skip_all "no cgroup2 hierarchy: the unit's DevicePolicy= could not be enforced in the container"
fi

TMP=$(mktemp -d "$BUILD/systemd-host-run.XXXXXX")
CG_DIRS=() NSPAWN_PID="" P1="" MERGED=$TMP/root OVERLAY=0 LOOP=""

# ---- the rootfs, cached by its recipe -------------------------------------------

# What virtlabd, virtlabctl, kvm-sample and the VMMs need at run time (the
# sanitizer runtimes for make check SANITIZE=1), systemd and the system bus,
# useradd and setpriv (passwd, util-linux: both in minbase).
PKGS=(systemd-sysv udev dbus libevent-2.1-7 libjansson4 libsqlite3-0 libsystemd0 libblkid1 libvirt0 libxml2
        qemu-system-x86 libasan8 libubsan1)
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
# The chroot keeps no sources.list: nothing in build/ names a mirror.
MMDEBSTRAP=(mmdebstrap --variant=minbase "--include=$(IFS=, && echo "${PKGS[*]}")"
        '--customize-hook=rm -f "$1/etc/apt/sources.list"' "$SUITE")
KEY=$(printf '%s\n' "${MMDEBSTRAP[@]}" | sha256sum | cut -c1-16)
CACHE=$ROOT/build/systemd-host # one cache for build/ and build-san/
ROOTFS=$CACHE/rootfs-$KEY

# apt's own configured sources for the host's release (no mirror named here):
# one "deb URI SUITE COMPONENT" line per Debian index apt has fetched.
apt_sources() {
        apt-get indextargets --format '$(ORIGIN)|$(IDENTIFIER)|$(REPO_URI)|$(RELEASE)|$(COMPONENT)' 2>/dev/null |
                awk -F'|' -v s="$SUITE" '$1 == "Debian" && $2 == "Packages" &&
                        ($4 == s || $4 == s "-updates" || $4 == s "-security") { print "deb " $3 " " $4 " " $5 }' |
                sort -u
}

build_rootfs() {
        local sources uri rel t0=$SECONDS
        [ -n "$SUITE" ] && command -v apt-get >/dev/null || skip_all "not a Debian host (no apt, no VERSION_CODENAME)"
        command -v mmdebstrap >/dev/null || skip_all "mmdebstrap not installed (tools/install-deps.sh)"
        sources=$(apt_sources)
        [ -n "$sources" ] || skip_all "apt has no Debian package lists for $SUITE (apt-get update)"
        read -r _ uri rel _ <<<"$(head -n1 <<<"$sources")"
        timeout 30 /usr/lib/apt/apt-helper download-file "${uri}dists/$rel/InRelease" "$TMP/probe" >/dev/null 2>&1 ||
                skip_all "apt sources unreachable (${uri}dists/$rel/InRelease)"
        rm -rf "$CACHE"/rootfs-* "$CACHE"/tmp-*
        mkdir -p "$CACHE"
        if ! "${MMDEBSTRAP[@]}" "$CACHE/tmp-$KEY" - <<<"$sources" >"$TMP/mmdebstrap.log" 2>&1; then
                not_ok "rootfs built (${MMDEBSTRAP[*]})" "$(tail -n 20 "$TMP/mmdebstrap.log")"
                rm -rf "$CACHE/tmp-$KEY"
                return 1
        fi
        mv "$CACHE/tmp-$KEY" "$ROOTFS"
        ok "rootfs built in $((SECONDS - t0)) s ($SUITE, $(du -sh "$ROOTFS" | cut -f1), cached as $ROOTFS)"
}

# ---- the container ----------------------------------------------------------------

# IN CMD...: runs CMD in the container, in all its namespaces, with a clean
# environment (nothing of the host's VIRTLAB_* leaks in).
IN() {
        timeout 300 nsenter -t "$P1" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                LANG=C.UTF-8 "$@"
}
# AS USER CMD...: CMD in the container as USER with its groups.
AS() {
        local u=$1
        shift
        IN setpriv "--reuid=$u" "--regid=$u" --init-groups -- "$@"
}

boot_container() {
        local d rel
        # A cgroup of our own (in name=systemd too, on a hybrid host), so that
        # nspawn's supervisor/payload split happens in it and cleanup finds
        # every process of the container.
        rel=$(sed -n 's/^0:://p' /proc/self/cgroup)
        CG_DIRS=("$CG2${rel%/}/virtlab-systemd-host-$$")
        if [ "$CG2" != /sys/fs/cgroup ] && mountpoint -q /sys/fs/cgroup/systemd; then
                rel=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
                CG_DIRS+=("/sys/fs/cgroup/systemd${rel%/}/virtlab-systemd-host-$$")
        fi
        for d in "${CG_DIRS[@]}"; do mkdir "$d" || return 1; done
        # --private-network: the container (and so the unit's PrivateNetwork=)
        # gets CAP_NET_ADMIN for its loopback, and no route out; it hides
        # /sys/module, which the daemon's KVM probe reads, hence the bind.
        # CAP_BPF and bpf(): systemd inside needs them for DevicePolicy= and
        # IPAddressDeny=, which nspawn's filter would otherwise refuse.
        (
                for d in "${CG_DIRS[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
                exec env SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn --quiet --register=no --keep-unit \
                        --settings=no --link-journal=no --timezone=off --resolv-conf=off --console=read-only \
                        --private-network --capability=CAP_BPF --system-call-filter=bpf \
                        --bind=/dev/kvm --bind-ro=/sys/module ${LOOP:+"--bind=$LOOP"} \
                        -M "virtlab-test-$$" -D "$MERGED" -b
        ) </dev/null >"$TMP/console.log" 2>&1 &
        NSPAWN_PID=$!
        for _ in $(seq 200); do
                P1=$(pgrep -P "$NSPAWN_PID" | head -n1)
                [ -n "$P1" ] && [ "$(cat "/proc/$P1/comm" 2>/dev/null)" = systemd ] && break
                P1=
                kill -0 "$NSPAWN_PID" 2>/dev/null || break
                sleep 0.05
        done
        [ -n "$P1" ] || { tail -n 20 "$TMP/console.log"; return 1; }
        local state
        # systemctl talks to PID 1 over /run/systemd/private, made early in boot.
        for _ in $(seq 200); do IN test -S /run/systemd/private && break; sleep 0.05; done
        state=$(IN systemctl is-system-running --wait 2>&1)
        [ "$state" = running ] || { echo "is-system-running: $state"; IN systemctl --failed --no-pager; return 1; }
        IN busctl --system status org.freedesktop.DBus >/dev/null || { echo "no system bus"; return 1; }
}

# Stops the container (its init powers off on nspawn's SIGTERM), then kills
# whatever is left in its cgroups (noted in LEFT) and removes them.
LEFT=""
stop_container() {
        local d p
        if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
                kill -TERM "$NSPAWN_PID"
                for _ in $(seq 300); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$NSPAWN_PID" 2>/dev/null
        fi
        [ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
        NSPAWN_PID=""
        for d in "${CG_DIRS[@]}"; do
                while read -r p; do
                        LEFT+=" $p($(cat "/proc/$p/comm" 2>/dev/null))"
                done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
                for _ in 1 2 3; do
                        while read -r p; do kill -KILL "$p" 2>/dev/null; done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
                        sleep 0.1
                done
                find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
}

cleanup() {
        stop_container
        [ "$OVERLAY" = 1 ] && umount "$MERGED" 2>/dev/null
        [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP

if [ -f "$ROOTFS/etc/os-release" ]; then
        ok "rootfs cached ($ROOTFS, key of: ${MMDEBSTRAP[*]})"
else
        build_rootfs || { echo "1..$n"; exit 1; }
fi

# The cached rootfs stays pristine: each run boots an overlay of it.
mkdir -p "$TMP/upper" "$TMP/work" "$MERGED"
if mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$TMP/upper,workdir=$TMP/work" "$MERGED" 2>/dev/null; then
        OVERLAY=1
else
        cp -a "$ROOTFS/." "$MERGED/"
fi

# A block device holding ext4, to be mounted inside: the bench disk check
# must see it in use under the unit.
if command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null && truncate -s 128M "$TMP/disk.img" &&
        mkfs.ext4 -q -F "$TMP/disk.img" && LOOP=$(losetup --find --show "$TMP/disk.img" 2>/dev/null); then
        :
else
        LOOP=""
fi

t0=$SECONDS
# Not in $( ): boot_container sets NSPAWN_PID, P1 and CG_DIRS.
if boot_container >"$TMP/boot.out" 2>&1; then
        ok "the container boots systemd $(IN systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p') as PID 1 with a system bus ($((SECONDS - t0)) s)"
else
        not_ok "the container boots systemd as PID 1 with a system bus" "$(cat "$TMP/boot.out")"
        echo "1..$n"
        exit 1
fi

# ---- make install into the running system ------------------------------------------

# The images go where the daemon looks by default, image.json naming them there.
install_images() {
        local name src
        for name in default noop; do
                src=$IMAGE_DIR
                [ "$name" = noop ] && src=$NOOP_DIR
                mkdir -p "$MERGED$IMAGES_IN/$name"
                cp -a "$src/." "$MERGED$IMAGES_IN/$name/"
                python3 - "$src" "$IMAGES_IN/$name" "$MERGED$IMAGES_IN/$name/image.json" <<'EOF' || return 1
import json, sys
src, dst, path = sys.argv[1].rstrip("/") + "/", sys.argv[2] + "/", sys.argv[3]
img = json.load(open(path))
img = {k: dst + v[len(src):] if isinstance(v, str) and v.startswith(src) else v for k, v in img.items()}
json.dump(img, open(path, "w"))
EOF
        done
}
if out=$(make -C "$ROOT" install DESTDIR="$MERGED" BUILD="$BUILD_ARG" 2>&1) && out=$(install_images 2>&1); then
        ok "make install DESTDIR=<the running container's root>, guest images in $IMAGES_IN"
else
        not_ok "make install DESTDIR=<the running container's root>" "$(tail -n 20 <<<"$out")"
fi
if [ -n "$SV" ] && [ -x "$SV" ]; then
        install -m0755 "$SV" "$MERGED/usr/local/bin/stratovirt"
fi
# make check SANITIZE=1: LeakSanitizer stops the world with ptrace(), which
# the unit's SystemCallFilter= refuses, and then fails the exit of virtlabd
# and kvm-sample.  Leak checks are off under the unit; its hardening is not
# touched, and ASan and UBSan stay on.
if ldd "$BUILD/virtlabd" | grep -q libasan; then
        mkdir -p "$MERGED/etc/systemd/system/virtlabd.service.d"
        printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
                >"$MERGED/etc/systemd/system/virtlabd.service.d/sanitizer.conf"
        IN systemctl daemon-reload
        echo "# sanitizer build: virtlabd.service.d/sanitizer.conf sets ASAN_OPTIONS=detect_leaks=0"
fi

# Mounted before virtlabd first starts; each start's namespace sees it.
[ -n "$LOOP" ] && ! IN sh -c "mkdir -p /mnt/vltest && mount $LOOP /mnt/vltest" && LOOP_MOUNT_FAILED=1

# The running bus loads the new policy by itself (inotify on system.d, no
# reload asked for): root may then own the name (busctl releases it on exit).
check_policy_loaded() {
        local out
        for _ in $(seq 50); do
                out=$(IN busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                        RequestName su org.virtlab.Lab1 0 2>&1) && return 0
                sleep 0.1
        done
        echo "root still may not own org.virtlab.Lab1 5 s after make install: $out"
        return 1
}
check "the running system bus picked up the installed policy by itself: root may own org.virtlab.Lab1" check_policy_loaded

check_group() {
        IN getent group virtlab >/dev/null || { echo "no group virtlab"; return 1; }
        IN useradd --system -M -s /usr/sbin/nologin -G virtlab "$MEMBER" &&
                IN useradd --system -M -s /usr/sbin/nologin "$OUTSIDER"
}
check "group virtlab exists after make install (sysusers); users $MEMBER (in it) and $OUTSIDER made" check_group

check_verify() {
        local out
        out=$(IN systemd-analyze verify virtlabd.service 2>&1) || { echo "$out"; return 1; }
        [ -z "$out" ] || { echo "$out"; return 1; }
}
check "systemd-analyze verify virtlabd.service, installed, inside: no errors, no warnings" check_verify

# ---- systemctl start, D-Bus activation ---------------------------------------------

check_start() {
        IN systemctl start virtlabd || { IN journalctl -b -u virtlabd --no-pager | tail -n 20; return 1; }
        [ "$(IN systemctl is-active virtlabd)" = active ] || return 1
        IN virtlabctl describe
}
check "systemctl start virtlabd: active; virtlabctl describe as root over the system bus" check_start

# The hardening is really in force here (a container could silently drop it).
check_hardening() {
        local pid st
        pid=$(IN systemctl show -P MainPID virtlabd)
        st=$(IN cat "/proc/$pid/status")
        grep -qx $'CapBnd:\t0000000000200000' <<<"$st" || { grep Cap <<<"$st"; echo "want CAP_SYS_ADMIN only"; return 1; }
        grep -qx $'NoNewPrivs:\t1' <<<"$st" && grep -qx $'Seccomp:\t2' <<<"$st" || { echo "$st"; return 1; }
        # DevicePolicy= is live: the same closed policy without DeviceAllow= refuses /dev/kvm.
        if IN systemd-run --quiet --wait --pipe -p DevicePolicy=closed sh -c 'exec 3<>/dev/kvm' 2>/dev/null; then
                echo "a DevicePolicy=closed unit opened /dev/kvm: device control is not enforced here"
                return 1
        fi
}
check "the unit's bounding set is CAP_SYS_ADMIN alone, NoNewPrivs and a seccomp filter are on, DevicePolicy= is enforced" \
        check_hardening

check_activation() {
        IN systemctl stop virtlabd || return 1
        [ "$(IN systemctl is-active virtlabd)" != active ] || { echo "still active after stop"; return 1; }
        IN virtlabctl describe >/dev/null || return 1
        [ "$(IN systemctl is-active virtlabd)" = active ] || { echo "describe answered, but virtlabd.service is not active"; return 1; }
        IN journalctl -b -u dbus --no-pager -o cat | grep -q "Activating via systemd: service name='org.virtlab.Lab1' unit='virtlabd.service'" ||
                { echo "dbus-daemon did not activate virtlabd.service"; return 1; }
}
check "D-Bus activation: with virtlabd stopped, virtlabctl describe starts virtlabd.service" check_activation

# ---- lab steps under the unit ----------------------------------------------------------

# jq KEY-PATH < JSON: one value from virtlabctl's JSON (python3 on the host).
jq_() { python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v.get(k)
print("" if v is None else v)' "$1"; }

check_tcg_boot() {
        local out
        out=$(IN virtlabctl boot --vmm qemu-microvm --accel tcg --runs 1 --warmup 0 --json) || { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] && [ "$(jq_ runs.0.accel <<<"$out")" = tcg ] ||
                { jq_ error <<<"$out"; return 1; }
}
check "a boot job on qemu-microvm under TCG (no MemoryDenyWriteExecute=)" check_tcg_boot

check_translate() {
        local out hpa how
        out=$(IN virtlabctl translate --module --json) || { echo "$out" | tail; return 1; }
        hpa=$(jq_ runs.0.translate.hpa <<<"$out") how=$(jq_ runs.0.translate.hpa_how <<<"$out")
        [ -n "$hpa" ] && [[ $how == *"PFN of the HVA"* ]] || { echo "hpa=$hpa ($how)"; jq_ error <<<"$out"; return 1; }
        [ "$(jq_ runs.0.translate.value_matches <<<"$out")" = True ] || { echo "value at the HVA does not match"; return 1; }
        echo "hpa $hpa"
}
check "translate --module: GVA -> GPA -> HVA -> HPA, the PFN read from pagemap with the unit's CAP_SYS_ADMIN" check_translate

# Works where /proc/sys/vm/drop_caches can be made writable for the unit
# (ReadWritePaths=), is refused up front with the reason where it cannot.
check_drop_caches() {
        local out rc
        out=$(IN virtlabctl boot --vmm qemu-microvm --image noop --runs 1 --warmup 0 --drop-caches --json 2>&1)
        rc=$?
        if [ "$rc" = 0 ]; then
                [ "$(jq_ runs.0.caches_dropped <<<"$out")" = True ] && echo "works (the run records caches_dropped)" && return 0
                echo "the job ran, but its run does not record caches_dropped"
                return 1
        fi
        if [ "$rc" = 2 ] && grep -q "drop_caches cannot be done here: .*not writable" <<<"$out"; then
                echo "refused up front: $(grep -o "drop_caches cannot be done here: .*not writable[^\"]*" <<<"$out")"
                return 0
        fi
        echo "exit $rc: $out"
        return 1
}
if out=$(check_drop_caches 2>&1); then
        ok "--drop-caches: $out"
else
        not_ok "--drop-caches works or is refused up front with the reason" "$out"
fi

# KVM through DeviceAllow=/dev/kvm: the noop micro-guest runs under KVM on any
# host KVM, kvm_pvm included.
check_kvm_noop() {
        local out
        out=$(IN virtlabctl boot --vmm qemu-microvm --image noop --accel kvm --runs 1 --warmup 0 --json) ||
                { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] && [ "$(jq_ runs.0.accel <<<"$out")" = kvm ]
}
check "QEMU microvm runs the noop image under KVM through DeviceAllow=/dev/kvm" check_kvm_noop

check_stratovirt() {
        local out
        IN virtlabctl describe | grep -q '^vmm stratovirt *StratoVirt' || { IN virtlabctl describe; return 1; }
        out=$(IN virtlabctl boot --vmm stratovirt --image noop --runs 2 --warmup 0 --json) || { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] || { jq_ error <<<"$out"; return 1; }
        out=$(IN virtlabctl memory --vmm stratovirt --image noop --memory 256 --runs 1 --warmup 0 --json) ||
                { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] || { jq_ error <<<"$out"; return 1; }
}
if [ -n "$SV" ] && [ -x "$SV" ]; then
        check "StratoVirt (its own seccomp inside the unit's) boots and measures the noop image under KVM" check_stratovirt
else
        skip "StratoVirt under the unit" "no StratoVirt binary (\$VIRTLAB_STRATOVIRT, PATH)"
fi

check_kvm_sample() {
        local out
        out=$(IN virtlabctl kvm-sample --upper --json) || { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] || { jq_ error <<<"$out"; return 1; }
}
check "kvm-sample (installed in libexec/virtlab) runs as a job on /dev/kvm" check_kvm_sample

# Many VMMs at once in the unit's cgroup (tasks, fds: virtlabd raises its
# soft RLIMIT_NOFILE to the unit's hard limit, which needs no capability).
check_density() {
        local out
        out=$(IN virtlabctl density --vmm qemu-microvm --count 8 --step 4 --parallel 2 --runs 1 --warmup 0 --json) ||
                { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] || { jq_ error <<<"$out"; return 1; }
        IN journalctl -b -u virtlabd -o cat --no-pager | grep "Could not raise RLIMIT_NOFILE" && return 1
        return 0
}
if IN virtlabctl density --help >/dev/null 2>&1; then
        check "density: 8 noop VMs on qemu-microvm, 2 booting at once, under the unit" check_density
else
        skip "density under the unit" "this virtlabctl has no density verb"
fi

# The in-use check stat()s the sources /proc/self/mounts names: it needs the
# host's /dev, which PrivateDevices=yes would hide.
check_mounted_disk() {
        local out
        if out=$(IN virtlabctl bench fileio --quick --disk "$LOOP" --force --no-wait 2>&1); then
                IN virtlabctl cancel "$out"
                echo "accepted a mounted block device as a bench disk (job $out)"
                return 1
        fi
        grep -q "it is mounted or an active swap area" <<<"$out" || { echo "$out"; return 1; }
}
if [ -z "$LOOP" ]; then
        skip "a mounted block device is refused as a bench disk under the unit" "no loop device (losetup, mkfs.ext4)"
elif [ -n "${LOOP_MOUNT_FAILED:-}" ]; then
        not_ok "a mounted block device is refused as a bench disk under the unit" "mount $LOOP failed in the container"
else
        check "a mounted block device ($LOOP, ext4) is refused as a bench disk under the unit, even with --force" \
                check_mounted_disk
fi

# ---- who may do what, on the real system bus ------------------------------------------

# job_state ID: the state of a finished job, empty while it runs.
job_state() { IN virtlabctl results "$1" --json 2>/dev/null | jq_ state 2>/dev/null; }
# start_long_job [AS USER]: a noop VM that stays up 30 s; prints the job ID.
LONG_JOB=(memory --vmm qemu-microvm --image noop --memory 256 --runs 1 --warmup 0 --settle-ms 30000 --no-wait)
# vmm_pid: the PID (in the container) of the VMM in virtlabd's cgroup, once it runs.
vmm_pid() {
        local p
        for _ in $(seq 150); do
                p=$(IN sh -c 'for p in $(cat /sys/fs/cgroup/system.slice/virtlabd.service/cgroup.procs 2>/dev/null); do
                        case $(cat /proc/$p/comm 2>/dev/null) in qemu-system*|stratovirt)
                                grep -q -- --version /proc/$p/cmdline || echo $p ;; esac; done' | head -n1)
                [ -n "$p" ] && { echo "$p"; return 0; }
                sleep 0.1
        done
        return 1
}
# cgroup_vmms: VMM processes left in virtlabd's cgroup (none is the answer wanted).
cgroup_vmms() {
        IN sh -c 'for p in $(cat /sys/fs/cgroup/system.slice/virtlabd.service/cgroup.procs 2>/dev/null); do
                case $(cat /proc/$p/comm 2>/dev/null) in qemu-system*|stratovirt) echo "$p $(tr "\0" " " </proc/$p/cmdline)" ;; esac
        done'
}

check_member() {
        local out job
        AS "$MEMBER" virtlabctl describe >/dev/null || return 1
        out=$(AS "$MEMBER" virtlabctl boot --vmm qemu-microvm --image noop --runs 1 --warmup 0 --json) ||
                { echo "$out" | tail; return 1; }
        [ "$(jq_ state <<<"$out")" = "done" ] || { echo "boot: $(jq_ error <<<"$out")"; return 1; }
        job=$(AS "$MEMBER" virtlabctl "${LONG_JOB[@]}") || { echo "start: $job"; return 1; }
        vmm_pid >/dev/null || { echo "job $job: no VMM appeared"; return 1; }
        AS "$MEMBER" virtlabctl cancel "$job" || return 1
        for _ in $(seq 100); do [ -n "$(job_state "$job")" ] && break; sleep 0.1; done
        [ "$(job_state "$job")" = canceled ] || { echo "job $job is '$(job_state "$job")', want canceled"; return 1; }
}
check "a member of group virtlab describes, starts a job and cancels one" check_member

check_outsider() {
        local out
        if out=$(AS "$OUTSIDER" virtlabctl describe 2>&1); then echo "describe succeeded"; return 1; fi
        grep -Eq "AccessDenied|Rejected send message" <<<"$out" || { echo "$out"; return 1; }
        if out=$(AS "$OUTSIDER" virtlabctl boot --vmm qemu-microvm --image noop --runs 1 2>&1); then
                echo "boot succeeded"
                return 1
        fi
        grep -Eq "AccessDenied|Rejected send message" <<<"$out" || { echo "$out"; return 1; }
}
check "a user outside group virtlab is denied describe and start by the bus policy" check_outsider

# ---- stopping and killing mid-job ---------------------------------------------------------

check_stop_mid_job() {
        local job pid t0 took left
        job=$(IN virtlabctl "${LONG_JOB[@]}") || { echo "start: $job"; return 1; }
        pid=$(vmm_pid) || { echo "job $job: no VMM appeared"; return 1; }
        t0=$(date +%s%N)
        IN systemctl stop virtlabd || return 1
        took=$((($(date +%s%N) - t0) / 1000000))
        [ "$(IN systemctl show -P Result virtlabd)" = success ] ||
                { echo "Result=$(IN systemctl show -P Result virtlabd): virtlabd did not exit by itself"; return 1; }
        ! IN test -e "/proc/$pid" || { echo "VMM $pid still runs"; return 1; }
        left=$(cgroup_vmms)
        [ -z "$left" ] || { echo "left in the cgroup: $left"; return 1; }
        # Reading the result activates virtlabd again.
        [ "$(job_state "$job")" = failed ] || { echo "job $job is '$(job_state "$job")', want failed"; return 1; }
        IN virtlabctl results "$job" --json | jq_ error | grep -q "virtlabd was stopped (SIGTERM)" || {
                IN virtlabctl results "$job" --json | jq_ error
                return 1
        }
        echo "stopped in $took ms"
}
if out=$(check_stop_mid_job 2>&1); then
        ok "systemctl stop virtlabd mid-job: $(tail -n1 <<<"$out"), clean exit, job failed ('stopped (SIGTERM)'), no VMM left in the cgroup"
else
        not_ok "systemctl stop virtlabd mid-job: clean exit, job failed, no VMM left in the cgroup" "$out"
fi

# SIGKILL to virtlabd alone (--kill-whom=main; the default, all, would kill
# the VMM too and prove nothing): PR_SET_PDEATHSIG takes the VMM down,
# Restart=on-failure brings virtlabd back, which fails the interrupted job.
check_kill_mid_job() {
        local job pid main restarts left
        IN systemctl start virtlabd || return 1
        restarts=$(IN systemctl show -P NRestarts virtlabd)
        main=$(IN systemctl show -P MainPID virtlabd)
        job=$(IN virtlabctl "${LONG_JOB[@]}") || { echo "start: $job"; return 1; }
        pid=$(vmm_pid) || { echo "job $job: no VMM appeared"; return 1; }
        IN systemctl kill -s SIGKILL --kill-whom=main virtlabd || return 1
        for _ in $(seq 50); do IN test -e "/proc/$pid" || break; sleep 0.1; done
        ! IN test -e "/proc/$pid" || { echo "VMM $pid outlived virtlabd by 5 s"; return 1; }
        for _ in $(seq 100); do
                [ "$(IN systemctl is-active virtlabd)" = active ] && [ "$(IN systemctl show -P MainPID virtlabd)" != "$main" ] && break
                sleep 0.1
        done
        [ "$(IN systemctl show -P NRestarts virtlabd)" = $((restarts + 1)) ] ||
                { echo "systemd did not restart virtlabd (NRestarts=$(IN systemctl show -P NRestarts virtlabd))"; return 1; }
        left=$(cgroup_vmms)
        [ -z "$left" ] || { echo "orphan in the cgroup: $left"; return 1; }
        [ "$(job_state "$job")" = failed ] || { echo "job $job is '$(job_state "$job")', want failed"; return 1; }
        IN virtlabctl results "$job" --json | jq_ error | grep -q "^interrupted" || {
                IN virtlabctl results "$job" --json | jq_ error
                return 1
        }
}
check "systemctl kill -s SIGKILL --kill-whom=main mid-job: VMM gone, virtlabd restarted, job failed ('interrupted'), no orphan" \
        check_kill_mid_job

# ---- systemd-analyze security ------------------------------------------------------------

# The score is recorded in docs/security.md; a higher (worse) one here fails.
check_security() {
        local out score doc
        out=$(IN systemd-analyze security virtlabd --no-pager 2>&1)
        score=$(sed -n 's/.*Overall exposure level for virtlabd.service: \([0-9.]*\).*/\1/p' <<<"$out")
        doc=$(sed -n 's/.*`systemd-analyze security virtlabd`.*: \*\*\([0-9.]*\)\*\*.*/\1/p' "$ROOT/docs/security.md" | head -n1)
        [ -n "$score" ] && [ -n "$doc" ] || { echo "score '$score', docs/security.md records '$doc'"; echo "$out"; return 1; }
        grep '^✗' <<<"$out" | sed 's/  */ /g'
        python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$score" "$doc" ||
                { echo "exposure $score is worse than the $doc recorded in docs/security.md"; return 1; }
        echo "exposure $score (docs/security.md: $doc)"
}
if out=$(check_security 2>&1); then
        ok "systemd-analyze security virtlabd: $(tail -n1 <<<"$out")"
        sed '$d; s/^/#   /' <<<"$out"
else
        not_ok "systemd-analyze security virtlabd: no worse than docs/security.md records" "$out"
fi

# ---- nothing left behind --------------------------------------------------------------------

stop_container
check_nothing_left() {
        local d left=""
        for d in "${CG_DIRS[@]}"; do [ -d "$d" ] && left+=" $d"; done
        [ -z "$LEFT" ] || { echo "processes left after the container exited (killed now):$LEFT"; return 1; }
        [ -z "$left" ] || { echo "cgroups left:$left"; return 1; }
}
check "container stopped: its cgroups are gone, no QEMU or StratoVirt of it is left on the host" check_nothing_left
echo "# $((SECONDS - START)) s in all"
echo "1..$n"
exit "$failed"
