#!/usr/bin/env bash
# The README's first command (via `make demo`): a private D-Bus bus, virtlabd
# on it, the lab's QEMU boot-time comparison (q35 vs microvm, 10 runs each)
# and the memory footprint (10 runs), printed as tables; then everything it
# started is stopped.  Results stay in build/demo-state for `virtlabctl results`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
IMAGE_DIR=${IMAGE_DIR:-$PWD/build/images/default}
RUNS=${RUNS:-10}
state=$PWD/build/demo-state
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
dbus-daemon --config-file="$tmp/bus.conf" --nofork --nopidfile &
pids+=($!)
export VIRTLAB_BUS=unix:path=$tmp/bus
for _ in $(seq 100); do [ -S "$tmp/bus" ] && break; sleep 0.05; done
"$BUILD/virtlabd" --state-dir "$state" --image-dir "$IMAGE_DIR" 2>"$tmp/virtlabd.log" &
pids+=($!)
ctl() { "$BUILD/virtlabctl" "$@"; }
for _ in $(seq 100); do timeout 5 "$BUILD/virtlabctl" describe >/dev/null 2>&1 && break; sleep 0.1; done
ctl describe
echo
# Runs one experiment in the foreground (progress on a TTY) and prints its job id.
run() {
    ctl "$1" --vmm "$2" --runs "$RUNS" --json >"$tmp/last.json" || true
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["job_id"])' "$tmp/last.json"
}
echo "== boot time, qemu (q35): $RUNS runs + 1 warm-up"
a=$(run boot qemu)
echo "== boot time, qemu-microvm: $RUNS runs + 1 warm-up"
b=$(run boot qemu-microvm)
echo "== memory, qemu (q35, 1 GiB guest): $RUNS runs + 1 warm-up"
c=$(run memory qemu)
echo
status=0
ctl results "$a" "$b" || status=1
ctl results "$c" || status=1
echo "Results are kept in $state; see README.md for querying them later."
exit $status
