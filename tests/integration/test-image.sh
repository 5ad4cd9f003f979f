#!/usr/bin/env bash
# test-image.sh — checks the default guest image built by guest-images/:
# files and hashes in image.json, byte-reproducible initramfs, the tools'
# error handling, and real boots under QEMU TCG (microvm and q35, PVH entry
# of the extracted vmlinux) that follow virtlab-init's console protocol.
# Emits TAP; spawn→marker times are printed as TAP comments.
#
# Environment: IMAGE_DIR (default build/images/default under the repo),
# BOOT_TIMEOUT (seconds per boot, default 60).
# Check functions are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE_DIR=${IMAGE_DIR:-$ROOT/build/images/default}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-60}
TOOLS=$IMAGE_DIR/tools
QEMU=${QEMU:-qemu-system-x86_64}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

# ---- image files and hashes -------------------------------------------------

have_image=1
for f in vmlinux bzImage initramfs.cpio.gz image.json tools/mkcpio tools/extract-vmlinux; do
        [ -s "$IMAGE_DIR/$f" ] || { have_image=0; missing=$f; break; }
done
if [ "$have_image" = 1 ]; then
        ok "image files exist in $IMAGE_DIR"
else
        not_ok "image files exist in $IMAGE_DIR" "missing $missing (run: make image)"
        echo "1..$n"
        exit 1
fi

check_hashes() {
        "$PY" - "$IMAGE_DIR/image.json" <<'EOF'
import hashlib, json, sys
img = json.load(open(sys.argv[1]))
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
for k in ("vmlinux", "bzimage", "initramfs"):
    got = sha(img[k])
    if got != img[k + "_sha256"]:
        sys.exit(f"{k}: {img[k]} hashes to {got}, image.json says {img[k + '_sha256']}")
cat = (img["vmlinux_sha256"] + img["bzimage_sha256"] + img["initramfs_sha256"]).encode()
if hashlib.sha256(cat).hexdigest() != img["image_hash"]:
    sys.exit("image_hash is not sha256(vmlinux_sha256 + bzimage_sha256 + initramfs_sha256)")
for k in ("name", "kernel", "kernel_release", "marker", "cmdline_base"):
    if not img.get(k):
        sys.exit(f"image.json lacks {k}")
if img["marker"] != "VIRTLAB-INIT-MARKER":
    sys.exit(f"unexpected marker {img['marker']!r}")
EOF
}
check "image.json parses and its hashes match the files" check_hashes

RELEASE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel_release"])' "$IMAGE_DIR/image.json" 2>/dev/null)
KERNEL=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernel"])' "$IMAGE_DIR/image.json" 2>/dev/null)

# ---- mkcpio -------------------------------------------------------------------

check_cpio_repro() {
        "$TOOLS/mkcpio" "$IMAGE_DIR/initramfs.spec" > "$TMP/a.cpio" || return 1
        "$TOOLS/mkcpio" "$IMAGE_DIR/initramfs.spec" > "$TMP/b.cpio" || return 1
        cmp "$TMP/a.cpio" "$TMP/b.cpio" || return 1
        cmp "$TMP/a.cpio" "$IMAGE_DIR/initramfs.cpio" || return 1
        gzip -n -9 -c "$TMP/a.cpio" | cmp - "$IMAGE_DIR/initramfs.cpio.gz" || return 1
        # Host metadata must not leak in: same bytes after touching the input.
        echo hello > "$TMP/payload"
        printf 'dir /d 0755 0 0\nfile /d/f %s 0644 0 0\n' "$TMP/payload" > "$TMP/small.spec"
        "$TOOLS/mkcpio" "$TMP/small.spec" > "$TMP/c.cpio" || return 1
        touch -d '2001-02-03 04:05:06' "$TMP/payload"
        chmod 0600 "$TMP/payload"
        "$TOOLS/mkcpio" "$TMP/small.spec" > "$TMP/d.cpio" || return 1
        cmp "$TMP/c.cpio" "$TMP/d.cpio" || return 1
        tail -c 200 "$TMP/c.cpio" | grep -aq 'TRAILER!!!' || { echo "no TRAILER!!! at the end"; return 1; }
        cpio -it < "$TMP/c.cpio" 2>/dev/null | tr '\n' ' ' | grep -qx 'd d/f ' || { echo "cpio(1) cannot list it"; return 1; }
}
check "mkcpio output is byte-reproducible and matches the built initramfs" check_cpio_repro

check_cpio_errors() {
        local err
        printf 'dir /a 0755 0 0\nfile /b/c %s 0644 0 0\n' "$0" > "$TMP/bad1.spec"
        if "$TOOLS/mkcpio" "$TMP/bad1.spec" > "$TMP/bad.cpio" 2> "$TMP/err"; then echo "accepted undeclared parent"; return 1; fi
        err=$(cat "$TMP/err")
        [[ $err == *bad1.spec:2:*"'/b'"* ]] || { echo "unclear error: $err"; return 1; }
        printf 'dir /a 0799 0 0\n' > "$TMP/bad2.spec"
        if "$TOOLS/mkcpio" "$TMP/bad2.spec" > "$TMP/bad.cpio" 2> "$TMP/err"; then echo "accepted mode 0799"; return 1; fi
        err=$(cat "$TMP/err")
        [[ $err == *bad2.spec:1:*0799* ]] || { echo "unclear error: $err"; return 1; }
}
check "mkcpio rejects bad spec lines, naming file:line and value" check_cpio_errors

# ---- extract-vmlinux ------------------------------------------------------------

check_extract_rejects() {
        local err
        head -c 4096 /dev/zero > "$TMP/not-a-bzimage"
        if "$TOOLS/extract-vmlinux" "$TMP/not-a-bzimage" "$TMP/out" 2> "$TMP/err"; then echo "accepted zeros"; return 1; fi
        err=$(cat "$TMP/err")
        [[ $err == *not-a-bzimage*HdrS* ]] || { echo "unclear error: $err"; return 1; }
        [ ! -e "$TMP/out" ] || { echo "left an output file behind"; return 1; }
}
check "extract-vmlinux rejects a non-bzImage with a clear error" check_extract_rejects

check_extract_again() {
        local err
        "$TOOLS/extract-vmlinux" "$KERNEL" "$TMP/vmlinux" 2> "$TMP/err" || { cat "$TMP/err"; return 1; }
        err=$(cat "$TMP/err")
        [ -z "$err" ] || { echo "unexpected warning: $err"; return 1; }
        cmp "$TMP/vmlinux" "$IMAGE_DIR/vmlinux" || return 1
        rm -f "$TMP/vmlinux"
        [ "$("$TOOLS/extract-vmlinux" --release "$KERNEL")" = "$RELEASE" ] || { echo "--release disagrees with image.json"; return 1; }
}
check "extract-vmlinux reproduces vmlinux (ELF64 x86_64 with PVH note, no warning)" check_extract_again

# ---- real boots -------------------------------------------------------------------

# The host TSC in kHz: without tsc_early_khz= a TCG guest can hang calibrating.
tsc_khz() {
        local mhz
        mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' | tail -n 1)
        [ -n "$mhz" ] || mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz.*/\1/p' | tail -n 1)
        [ -n "$mhz" ] || mhz=$(awk -F: '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
        [ -n "$mhz" ] && awk -v m="$mhz" 'BEGIN { printf "%d", m * 1000 }'
}
KHZ=$(tsc_khz)
APPEND_BASE="console=ttyS0 reboot=t panic=-1${KHZ:+ tsc_early_khz=$KHZ}"
MICROVM=microvm,pit=off,pic=off,rtc=off

# boot_start ID MACHINE JOB [QEMU ARGS...]: starts QEMU in the background;
# every console line lands in $TMP/ID.log prefixed with the host time it was
# read, QEMU's exit status in $TMP/ID.rc, the spawn time in START_ID.
boot_start() {
        local id=$1 machine=$2 job=$3
        shift 3
        rm -f "$TMP/$id.rc"
        printf -v "START_$id" '%s' "$EPOCHREALTIME"
        {
                timeout "$BOOT_TIMEOUT" "$QEMU" -accel tcg -M "$machine" -no-reboot -nodefaults -nographic \
                        -serial stdio -m 256 -kernel "$IMAGE_DIR/vmlinux" -initrd "$IMAGE_DIR/initramfs.cpio.gz" \
                        -append "$APPEND_BASE virtlab.job=$job" "$@" < /dev/null 2>&1
                echo $? > "$TMP/$id.rc"
        } | while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"; done > "$TMP/$id.log" &
        BOOT_PID=$!
}

# analyze ID JOB RC [TEXT]: checks the console protocol in ID's log; prints
# "spawn→marker" seconds on success, the reason on failure.
analyze() {
        local id=$1 start_var="START_$1"
        "$PY" - "$TMP/$id.log" "${!start_var}" "$2" "$3" "${4:-}" "$RELEASE" <<'EOF'
import json, sys
log, start, job, want_rc, text, release = sys.argv[1:]
lines = []
for raw in open(log, errors="replace"):
    t, _, s = raw.rstrip("\n").partition(" ")
    lines.append((float(t), s))
def find(pred, what, after=-1):
    for i, (t, s) in enumerate(lines):
        if i > after and pred(s):
            return i
    tail = "\n".join(s for _, s in lines[-8:])
    sys.exit(f"no {what} in the console output; last lines:\n{tail}")
m = find(lambda s: s == "VIRTLAB-INIT-MARKER", "marker line")
b = find(lambda s: s == f"@@VIRTLAB-BEGIN job={job}@@", "BEGIN line", m)
e = find(lambda s: s == f"@@VIRTLAB-END job={job} rc={want_rc}@@", f"END line with rc={want_rc}", b)
r = find(lambda s: s.startswith("@@VIRTLAB-RESULT@@ "), "RESULT line", e)
if text and not any(text in s for _, s in lines[b + 1:e]):
    sys.exit(f"{text!r} not inside the frame")
res = json.loads(lines[r][1][len("@@VIRTLAB-RESULT@@ "):])
checks = [
    (res.get("job") == job, "job"), (res.get("rc") == int(want_rc), "rc"),
    (isinstance(res.get("uptime_s"), (int, float)) and res["uptime_s"] > 0, "uptime_s > 0"),
    (isinstance(res.get("boottime_at_marker_ns"), int) and res["boottime_at_marker_ns"] > 0, "boottime_at_marker_ns"),
    (res.get("kernel_release") == release, "kernel_release"),
    (isinstance(res.get("nr_cpus"), int) and res["nr_cpus"] >= 1, "nr_cpus"),
    (isinstance(res.get("mem_total_kb"), int) and res["mem_total_kb"] > 0, "mem_total_kb"),
]
bad = [name for good, name in checks if not good]
if bad:
    sys.exit(f"RESULT fields wrong ({', '.join(bad)}): {res}")
print(f"{lines[m][0] - float(start):.3f}")
EOF
}

# boot_check DESC ID MACHINE JOB RC [TEXT]: boots, waits for QEMU to exit by
# itself (the guest powers off), checks the protocol.
boot_check() {
        local desc=$1 id=$2 machine=$3 job=$4 rc=$5 text=${6:-} out qrc
        boot_start "$id" "$machine" "$job"
        wait "$BOOT_PID"
        qrc=$(cat "$TMP/$id.rc" 2>/dev/null || echo '?')
        if ! out=$(analyze "$id" "$job" "$rc" "$text" 2>&1); then
                not_ok "$desc" "$out"
        elif [ "$qrc" != 0 ]; then
                not_ok "$desc" "QEMU did not exit by itself (status $qrc; 124 = killed after ${BOOT_TIMEOUT}s)"
        else
                ok "$desc"
                echo "# $id: spawn→marker ${out}s"
        fi
}

# QMP "quit" as the daemon does it, for the job that never powers off.
qmp_quit() {
        "$PY" - "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())
for cmd in ("qmp_capabilities", "quit"):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while "return" not in (reply := json.loads(f.readline())):
        if "error" in reply:
            sys.exit(f"{cmd}: {reply}")
EOF
}

check_hold() {
        local i
        boot_start hold "$MICROVM" hold -qmp "unix:$TMP/qmp.sock,server=on,wait=off"
        for ((i = 0; i < BOOT_TIMEOUT * 10; i++)); do
                grep -q '@@VIRTLAB-RESULT@@' "$TMP/hold.log" 2>/dev/null && break
                [ -e "$TMP/hold.rc" ] && break
                sleep 0.1
        done
        sleep 2
        if [ -e "$TMP/hold.rc" ]; then
                wait "$BOOT_PID"
                analyze hold hold 0 || true
                echo "QEMU exited (status $(cat "$TMP/hold.rc")) although the job is hold"
                return 1
        fi
        analyze hold hold 0 > /dev/null || { qmp_quit "$TMP/qmp.sock"; wait "$BOOT_PID"; return 1; }
        qmp_quit "$TMP/qmp.sock" || return 1
        wait "$BOOT_PID"
        [ "$(cat "$TMP/hold.rc" 2>/dev/null)" = 0 ] || { echo "QEMU status after QMP quit: $(cat "$TMP/hold.rc" 2>/dev/null)"; return 1; }
}

# ---- the noop micro-guest -------------------------------------------------------

NOOP_DIR=$(dirname "$IMAGE_DIR")/noop
check_noop_image() {
        "$PY" - "$NOOP_DIR" <<'EOF'
import hashlib, json, os, struct, sys
d = sys.argv[1]
img = json.load(open(os.path.join(d, "image.json")))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
for k in ("vmlinux", "raw", "initramfs"):
    if sha(img[k]) != img[k + "_sha256"]:
        sys.exit(f"{k}: hash mismatch")
if hashlib.sha256((img["vmlinux_sha256"] + img["raw_sha256"] + img["initramfs_sha256"]).encode()).hexdigest() != img["image_hash"]:
    sys.exit("image_hash is not sha256(vmlinux + raw + initramfs hashes)")
want = {"guest": "noop", "phases": ["console", "init"], "jobs": ["boot", "hold"], "powers_off": False,
        "paravirt_kvm_ok": True, "touch_ram": True, "marker": "VIRTLAB-INIT-MARKER"}
for k, v in want.items():
    if img.get(k) != v:
        sys.exit(f"image.json {k} = {img.get(k)!r}, want {v!r}")
raw = open(img["raw"], "rb").read()
if len(raw) % 4096 or raw[:2] != b"\x0f\x31":
    sys.exit(f"raw image: {len(raw)} bytes, first bytes {raw[:2].hex()} (want a 4 KiB multiple starting with rdtsc)")
if os.path.getsize(img["initramfs"]) != 4096 or open(img["initramfs"], "rb").read().strip(b"\0"):
    sys.exit("the dummy initrd is not 4 KiB of zeros")
elf = open(img["vmlinux"], "rb").read()
phoff, = struct.unpack_from("<Q", elf, 0x20)
phnum, = struct.unpack_from("<H", elf, 0x38)
for i in range(phnum):
    ptype, _, off, _, _, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + 56 * i)
    note = elf[off:off + filesz]
    if ptype == 4 and note[12:16] == b"Xen\0" and struct.unpack_from("<I", note, 8)[0] == 18:
        entry, = struct.unpack_from("<I", note, 16)
        if not 0x1000000 < entry < 0x1001000:
            sys.exit(f"PVH entry {entry:#x} is not inside the image at 16 MiB")
        break
else:
    sys.exit("no XEN_ELFNOTE_PHYS32_ENTRY note in a PT_NOTE segment")
EOF
}
if [ -f "$NOOP_DIR/image.json" ]; then
        check "noop image: hashes, needs, raw entry at byte 0, PVH note, dummy initrd" check_noop_image
else
        not_ok "noop image exists" "$NOOP_DIR/image.json missing (run: make image)"
fi

if ! command -v "$QEMU" > /dev/null; then
        for d in "microvm boot" "q35 boot" "run:/bin/true" "unknown job" "hold"; do
                skip "$d" "$QEMU not installed"
        done
else
        boot_check "microvm ($MICROVM) boots vmlinux via PVH, job=boot → rc 0, powers off" microvm "$MICROVM" boot 0
        boot_check "q35 boots vmlinux via PVH, job=boot → rc 0, powers off" q35 q35 boot 0
        boot_check "job=run:/bin/true → rc 0" run_true "$MICROVM" run:/bin/true 0
        boot_check "job=nosuch → rc 127 with an error line in the frame" nosuch "$MICROVM" nosuch 127 "unknown job 'nosuch'"
        check "job=hold stays up after its RESULT until QMP quit" check_hold
fi

echo "1..$n"
exit "$failed"
