#!/usr/bin/env bash
# The README's first command (via `make demo`): a private D-Bus bus, virtlabd
# on it, then the lab's comparisons printed as tables, each labelled with its
# image and every VMM's accelerator:
#   1. the noop micro-guest under KVM: StratoVirt vs QEMU microvm vs q35
#      (StratoVirt whenever a binary is found: $VIRTLAB_STRATOVIRT, PATH),
#      boot time and memory footprint, 10 runs each, interleaved;
#   2. the Linux guest: QEMU q35 vs microvm, boot time and footprint (TCG on
#      hosts whose KVM cannot run Linux, like ours).
# After each comparison, its report (HTML with figures) goes to
# build/demo-report/{noop,linux}/report.html.  Then everything it started is
# stopped.  Results stay in build/demo-state for `virtlabctl results`; what
# dbus-daemon and virtlabd said is in build/demo-logs (dbus-daemon's "Failed
# to set fd limit" as root without CAP_SYS_RESOURCE is noise: not on the
# terminal).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
IMAGE_DIR=${IMAGE_DIR:-$PWD/build/images/default}
RUNS=${RUNS:-10}
state=$PWD/build/demo-state
logs=$PWD/build/demo-logs
reports=$PWD/build/demo-report
mkdir -p "$logs"
tmp=$(mktemp -d /tmp/virtlab-demo.XXXXXX)
cat >"$tmp/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=$tmp/bus</listen>
<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow send_type="method_return"/><allow send_type="error"/><allow send_type="signal"/><allow own="*"/></policy></busconfig>
CONF
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile >"$logs/dbus-daemon.log" 2>&1 &
pids+=($!)
export VIRTLAB_BUS=unix:path=$tmp/bus
for _ in $(seq 100); do [ -S "$tmp/bus" ] && break; sleep 0.05; done
# StratoVirt: $VIRTLAB_STRATOVIRT, else the daemon looks in PATH, else the
# copy a lab's shared tree may hold next to this checkout.
sv=()
if [ -z "${VIRTLAB_STRATOVIRT:-}" ] && ! command -v stratovirt >/dev/null; then
    for f in ../shared/vmm/stratovirt-*/stratovirt; do [ -x "$f" ] && VIRTLAB_STRATOVIRT=$(realpath "$f"); done
fi
[ -n "${VIRTLAB_STRATOVIRT:-}" ] && sv=(--stratovirt "$VIRTLAB_STRATOVIRT")
"$BUILD/virtlabd" --state-dir "$state" --image-dir "$IMAGE_DIR" "${sv[@]}" >"$logs/virtlabd.log" 2>&1 &
pids+=($!)
ctl() { "$BUILD/virtlabctl" "$@"; }
for _ in $(seq 100); do timeout 5 "$BUILD/virtlabctl" describe >/dev/null 2>&1 && break; sleep 0.1; done
ctl describe
echo
status=0
vmm_ok() {
    ctl describe --json | python3 -c 'import json,sys; d=json.load(sys.stdin)
sys.exit(0 if any(v["name"] == sys.argv[1] and v["available"] for v in d["vmms"]) else 1)' "$1"
}
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    vmms=qemu,qemu-microvm
    if vmm_ok stratovirt; then
        vmms=stratovirt,qemu-microvm,qemu
    else
        echo "(no StratoVirt binary: set VIRTLAB_STRATOVIRT or put stratovirt in PATH to add it)"
    fi
    echo "== 1. noop micro-guest under KVM: $vmms, boot time and memory, $RUNS runs + 1 warm-up each"
    ctl compare --vmm "$vmms" --image noop --runs "$RUNS" --experiments boot,memory || status=1
    # Without job ids, report covers the newest compare: the one just run.
    ctl report --out "$reports/noop" --format html || status=1
else
    echo "== 1. noop micro-guest: skipped, no usable /dev/kvm"
fi
echo "== 2. Linux guest: qemu (q35) vs qemu-microvm, boot time and memory, $RUNS runs + 1 warm-up each"
ctl compare --vmm qemu,qemu-microvm --runs "$RUNS" --experiments boot,memory || status=1
ctl report --out "$reports/linux" --format html || status=1
echo "Results are kept in $state (see README.md for querying them later), the daemons' logs in $logs."
exit $status
