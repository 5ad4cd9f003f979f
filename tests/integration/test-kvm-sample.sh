#!/usr/bin/env bash
# test-kvm-sample.sh — drives $BUILD/kvm-sample/kvm-sample (the lab's minimal
# VMM): exact guest output, --upper, --trace exit counts, every --mode (a mode
# the host refuses is a SKIP only when the program said so itself), the
# long-mode page walk against KVM_TRANSLATE and the value 1772334, --json,
# usage errors (exit 2) and the /dev/kvm errors.  TAP, see tests/README.md.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
K=$BUILD/kvm-sample/kvm-sample
HELLO='Hello, World!'
VALUE=1772334

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
finish() { echo "1..$n"; exit 0; }

if [ ! -e /dev/kvm ]; then
    skip "kvm-sample integration tests" "/dev/kvm is absent on this machine"
    finish
fi
if [ ! -x "$K" ]; then
    not_ok "$K is built" "run: make kvm-sample"
    finish
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run ARGS...: runs kvm-sample, leaving $rc, $tmp/out and $tmp/err.
run() {
    "$K" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
# out_is TEXT: stdout is exactly TEXT plus one newline.
out_is() { cmp -s "$tmp/out" <(printf '%s\n' "$1"); }
err_has() { grep -qF -- "$1" "$tmp/err"; }
diag() { echo "rc=$rc stdout=$(head -c 200 "$tmp/out" | od -c | head -3 | tr -s ' ')"; echo "stderr: $(head -c 300 "$tmp/err")"; }

# --- output and --upper ------------------------------------------------------
run
if [ "$rc" -eq 0 ] && out_is "$HELLO"; then ok "prints exactly '$HELLO'"; else not_ok "prints exactly '$HELLO'" "$(diag)"; fi

run --upper
if [ "$rc" -eq 0 ] && out_is "HELLO, WORLD!"; then ok "--upper prints exactly 'HELLO, WORLD!' (same guest)"; else not_ok "--upper prints 'HELLO, WORLD!'" "$(diag)"; fi

# --- --trace: one IO exit per character, exactly one HLT ----------------------
run --trace
chars=$(wc -c <"$tmp/out")
io=$(grep -cE 'exit #[0-9]+ +IO ' "$tmp/err")
hlt=$(grep -cE 'exit #[0-9]+ +HLT' "$tmp/err")
if [ "$rc" -eq 0 ] && [ "$chars" -eq 14 ] && [ "$io" -eq "$chars" ] && [ "$hlt" -eq 1 ]; then
    ok "--trace: $io IO exits for $chars characters, $hlt HLT"
else
    not_ok "--trace: IO exits = characters, one HLT" "chars=$chars io=$io hlt=$hlt" "$(diag)"
fi
if grep -qE '^ +IO +14 ' "$tmp/err" && grep -qE '^ +HLT +1 ' "$tmp/err" &&
    grep -qE 'port=0x3f8 size=1 dir=out count=1 data=0x48 .H.' "$tmp/err" && grep -qE '^trace: +[0-9]+ us' "$tmp/err"; then
    ok "--trace shows port/size/direction/data/time per exit and a histogram"
else
    not_ok "--trace shows per-exit details and a histogram" "$(diag)"
fi

# --- every mode: same output, or an explained refusal ------------------------
for mode in real protected paged long; do
    run --mode "$mode"
    if [ "$rc" -eq 0 ] && out_is "$HELLO"; then
        ok "--mode $mode prints '$HELLO'"
    elif [ "$rc" -eq 1 ] && err_has "host KVM refuses $mode mode: "; then
        reason=$(sed -n "s/.*host KVM refuses $mode mode: //p" "$tmp/err" | head -1)
        skip "--mode $mode prints '$HELLO'" "host KVM refuses $mode: $reason"
    else
        not_ok "--mode $mode prints '$HELLO' or explains a refusal" "$(diag)"
    fi
done

# --- --json ------------------------------------------------------------------
if ! command -v jq >/dev/null; then
    skip "--json checks" "jq is not installed"
    skip "long-mode --walk checks" "jq is not installed"
    have_jq=0
else
    have_jq=1
fi

if [ "$have_jq" -eq 1 ]; then
    for mode in real protected paged long; do
        run --json --mode "$mode"
        if jq -e --arg m "$mode" '.ok == true and .mode == $m and .output == "Hello, World!\n"
                and .exits.IO == 14 and .exits.HLT == 1 and .total_exits == 15' "$tmp/out" >/dev/null; then
            ok "--json --mode $mode: output, 14 IO + 1 HLT"
        elif [ "$rc" -eq 1 ] && jq -e '.ok == false and .refused == true and (.error | length > 0)' "$tmp/out" >/dev/null; then
            skip "--json --mode $mode" "host KVM refuses $mode: $(jq -r .error "$tmp/out")"
        else
            not_ok "--json --mode $mode" "$(diag)"
        fi
    done

    # --- long-mode page walk ---------------------------------------------------
    run --json --walk
    w() { jq -r ".walk.$1" "$tmp/out"; }
    if [ "$rc" -eq 0 ] && jq -e '.walk.mapped and .walk.match and .walk.kvm_translate.valid
            and .walk.gpa == .walk.kvm_translate.gpa and (.walk.levels | length) == 4
            and .walk.page_size == 4096' "$tmp/out" >/dev/null; then
        ok "--walk (data page GVA $(w gva)): 4-level walk to 4 KiB leaf, GPA $(w gpa) equals KVM_TRANSLATE"
    else
        not_ok "--walk equals KVM_TRANSLATE" "$(diag)"
    fi
    if [ "$(w value)" = "$VALUE" ]; then
        ok "value read at the HVA is $VALUE"
    else
        not_ok "value read at the HVA is $VALUE" "got $(w value)"
    fi
    if [ "$(id -u)" -ne 0 ]; then
        skip "value read at the HPA is $VALUE" "not root: /proc/self/pagemap hides PFNs and /dev/mem is closed"
    elif [ "$(w hpa)" = null ]; then
        not_ok "HVA -> HPA through /proc/self/pagemap (as root)" "$(w hpa_note)"
    elif [ "$(w devmem_value)" = null ]; then
        skip "value read at the HPA $(w hpa) is $VALUE" "$(w devmem_note)"
    elif [ "$(w devmem_value)" = "$VALUE" ]; then
        ok "value read at the HPA $(w hpa) via /dev/mem is $VALUE"
    else
        not_ok "value read at the HPA via /dev/mem is $VALUE" "got $(w devmem_value)"
    fi

    run --json --walk 0x8000
    if [ "$rc" -eq 0 ] && jq -e '.walk.match and .walk.page_size == 2097152 and .walk.gpa == "0x8000"
            and (.walk.levels | length) == 3' "$tmp/out" >/dev/null; then
        ok "--walk 0x8000: 2 MiB identity leaf, equals KVM_TRANSLATE"
    else
        not_ok "--walk 0x8000: 2 MiB leaf" "$(diag)"
    fi

    run --json --walk 0x7f0000000000
    if [ "$rc" -eq 0 ] && jq -e '.walk.mapped == false and .walk.match and .walk.kvm_translate.valid == false' \
            "$tmp/out" >/dev/null; then
        ok "--walk of an unmapped GVA: not present, and KVM_TRANSLATE agrees"
    else
        not_ok "--walk of an unmapped GVA" "$(diag)"
    fi
fi

run --walk
if [ "$rc" -eq 0 ] && grep -qE 'KVM_TRANSLATE: GPA 0x3002a8 -> match' "$tmp/out" &&
    grep -qE "value at HVA: $VALUE " "$tmp/out" && grep -qE '^  PT +table' "$tmp/out"; then
    ok "--walk text output: levels, KVM_TRANSLATE match, value $VALUE"
else
    not_ok "--walk text output" "$(diag)"
fi

# --- usage errors: exit 2, message names the bad value --------------------------
usage_case() {
    local what=$1 needle=$2; shift 2
    run "$@"
    if [ "$rc" -eq 2 ] && err_has "$needle"; then ok "$what: exit 2 naming '$needle'"; else not_ok "$what: exit 2 naming '$needle'" "$(diag)"; fi
}
usage_case "unknown flag" "--bogus" --bogus
usage_case "bad --walk address" "xyz" --walk xyz
usage_case "non-canonical --walk address" "0x800000000000" --walk 0x800000000000
usage_case "bad --mode" "foo" --mode foo
usage_case "bad --port" "70000" --port 70000
usage_case "--walk outside long mode" "real" --mode real --walk

# --- failures: exit 1 with a clear message ----------------------------------------
run --port 0x2f8
if [ "$rc" -eq 1 ] && err_has "unexpected port 0x3f8"; then
    ok "I/O on a port the VMM does not emulate: exit 1 naming port 0x3f8"
else
    not_ok "I/O on an unexpected port" "$(diag)"
fi

if [ "$(id -u)" -ne 0 ]; then
    skip "no /dev/kvm: clear error" "needs root for a private mount namespace"
    skip "no permission on /dev/kvm: clear error" "needs root to drop to nobody"
else
    if unshare -m true 2>/dev/null; then
        unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0"' "$K" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ "$rc" -eq 1 ] && err_has "/dev/kvm: No such file or directory"; then
            ok "no /dev/kvm: exit 1, '$(head -1 "$tmp/err")'"
        else
            not_ok "no /dev/kvm: clear error" "$(diag)"
        fi
    else
        skip "no /dev/kvm: clear error" "unshare -m is not permitted here"
    fi
    if command -v setpriv >/dev/null; then
        setpriv --reuid=65534 --regid=65534 --clear-groups "$K" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        if [ "$rc" -eq 1 ] && err_has "/dev/kvm: Permission denied"; then
            ok "no permission on /dev/kvm: exit 1, '$(head -1 "$tmp/err")'"
        elif err_has "Permission denied" && ! err_has "/dev/kvm"; then
            skip "no permission on /dev/kvm: clear error" "nobody cannot execute $K"
        else
            not_ok "no permission on /dev/kvm: clear error" "$(diag)"
        fi
    else
        skip "no permission on /dev/kvm: clear error" "setpriv is not installed"
    fi
fi

finish
