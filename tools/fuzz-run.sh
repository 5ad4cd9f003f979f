#!/usr/bin/env bash
# Runs the libFuzzer targets `make fuzz` built (docs/fuzzing.md), each seeded
# from tests/fuzz/corpus/NAME, and prints one line per target: executions,
# seconds, coverage (cov/ft from libFuzzer's final line) and the verdict.
# What a target finds (a crash, a leak, a violated invariant, a timeout)
# makes this exit 1; the input is saved as BUILD/fuzz-artifacts/NAME-*.
#   --seconds N   run each target N seconds (-max_total_time)
#   --runs N      run each target for N executions (-runs)
#   --jobs J      run J targets at a time (default 1)
#   --only NAME   only targets whose name contains NAME
# New inputs go to BUILD/fuzz-corpus/NAME (never into the seed corpus), so a
# later run starts where this one stopped; logs go to BUILD/fuzz-logs/.
# tests/fuzz/fuzz-NAME.options adds a target's own flags (e.g. -max_len).
set -u
cd "$(dirname "$0")/.." || exit 2
limit=(-max_total_time=20) jobs=1 only=""
while [ $# -gt 1 ]; do
    case $1 in
        --seconds) limit=(-max_total_time="$2"); shift ;;
        --runs) limit=(-runs="$2"); shift ;;
        --jobs) jobs=$2; shift ;;
        --only) only=$2; shift ;;
        *) break ;;
    esac
    shift
done
if [ $# -ne 1 ] || [ ! -d "$1/tests" ]; then
    echo "usage: $0 [--seconds N | --runs N] [--jobs J] [--only NAME] BUILD_DIR (after make fuzz)" >&2
    exit 2
fi
build=$1
mkdir -p "$build/fuzz-logs" "$build/fuzz-artifacts"
rm -f "$build"/fuzz-logs/*.summary

# run_target BIN: one libFuzzer run; writes its log and a summary line.
run_target() {
    local bin=$1 name
    name=$(basename "$bin")
    name=${name#fuzz-}
    local work=$build/fuzz-corpus/$name log=$build/fuzz-logs/$name.log
    mkdir -p "$work"
    local start=$SECONDS rc opts=()
    # tests/fuzz/fuzz-NAME.options: the target's own libFuzzer flags, one a line.
    [ -f "tests/fuzz/fuzz-$name.options" ] && mapfile -t opts < "tests/fuzz/fuzz-$name.options"
    "$bin" "${limit[@]}" "${opts[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$name-" "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    local done_line execs cov ft verdict=ok
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
    if [ "$rc" -ne 0 ]; then
        verdict="FAILED (exit $rc): $(grep -m1 -E 'ERROR: |invariant violated|runtime error' "$log" | cut -c1-120)"
    fi
    printf '%-16s %12s execs %6ss  cov %6s  ft %7s  %s\n' "$name" "${execs:-?}" $((SECONDS - start)) \
        "${cov:-?}" "${ft:-?}" "$verdict" >"$log.summary"
}

n=0
for bin in "$build"/tests/fuzz-*; do
    [ -x "$bin" ] || continue
    [ -n "$only" ] && [[ $(basename "$bin") != *"$only"* ]] && continue
    n=$((n + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_target "$bin" &
done
wait
cat "$build"/fuzz-logs/*.summary 2>/dev/null
failed=0
# A target that left no summary line was killed: that is a failure too.
[ "$(cat "$build"/fuzz-logs/*.summary 2>/dev/null | wc -l)" -eq "$n" ] || failed=1
grep -q FAILED "$build"/fuzz-logs/*.summary 2>/dev/null && failed=1
rm -f "$build"/fuzz-logs/*.summary
[ "$failed" -eq 0 ] || echo "fuzzing found something: see $build/fuzz-logs/ and $build/fuzz-artifacts/" >&2
exit "$failed"
