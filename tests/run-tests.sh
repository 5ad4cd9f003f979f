#!/usr/bin/env bash
# Runs every test program and counts its TAP lines (see tests/README.md).
# Ends with exactly one line "N passed, N failed, N skipped".
#   --unit-only     unit tests and fuzz replays only (no VMs)
#   --valgrind      only tests/valgrind/ (virtlabd under valgrind; make check-valgrind)
#   --only PATTERN  run test files whose name matches PATTERN (repeatable: any)
#   --skip NAME=WHY test file NAME is not run: one skip, with WHY
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD IMAGE_DIR=${IMAGE_DIR:-$PWD/build/images/default}
export CMOCKA_MESSAGE_OUTPUT=TAP
unit_only=0 valgrind=0
only=()
declare -A skip_why=()
while [ $# -gt 0 ]; do
    case $1 in
        --unit-only) unit_only=1 ;;
        --valgrind) valgrind=1 ;;
        --only) only+=("$2"); shift ;;
        --skip) skip_why[${2%%=*}]=${2#*=}; shift ;;
        *) echo "usage: $0 [--unit-only|--valgrind] [--only PATTERN] [--skip NAME=WHY]..." >&2; exit 2 ;;
    esac
    shift
done

logdir=$BUILD/test-logs
mkdir -p "$logdir"
passed=0 failed=0 skipped=0
failed_names=()

# run_one NAME TIMEOUT CMD...: runs CMD, tees its output to a log, counts TAP.
run_one() {
    local name=$1 limit=$2; shift 2
    if [ ${#only[@]} -gt 0 ]; then
        local pat match=0
        for pat in "${only[@]}"; do [[ $name == *$pat* ]] && match=1; done
        [ "$match" -eq 1 ] || return 0
    fi
    if [ -n "${skip_why[$name]:-}" ]; then
        printf '%-34s %3d passed %3d failed %3d skipped\n' "$name" 0 0 1
        echo "    ok 1 - $name # SKIP ${skip_why[$name]}"
        skipped=$((skipped + 1))
        return 0
    fi
    local log=$logdir/$name.log start=$SECONDS rc
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    rc=$?
    local p f s
    # cmocka prints skip() as "not ok N - name # SKIP": a skip, not a failure.
    p=$(grep -Ec '^ok [0-9]+' "$log" | tr -d ' ')
    s=$(grep -Eic '^(not )?ok [0-9]+.*# skip' "$log" | tr -d ' ')
    f=$(grep -E '^not ok [0-9]+' "$log" | grep -Eicv '# skip' | tr -d ' ')
    p=$((p - $(grep -Eic '^ok [0-9]+.*# skip' "$log" | tr -d ' ')))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        local why="exited with status $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${limit}s"
        echo "not ok - $name $why" >>"$log"
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
    printf '%-34s %3d passed %3d failed %3d skipped  %3ds\n' "$name" "$p" "$f" "$s" $((SECONDS - start))
    grep -Ei '^not ok|^ok [0-9]+.*# skip' "$log" | sed 's/^/    /'
    [ "$f" -gt 0 ] && failed_names+=("$name")
    return 0
}

if [ "$valgrind" -eq 1 ]; then
    for t in tests/valgrind/test-*; do
        [ -x "$t" ] && run_one "$(basename "$t")" 1200 "$t"
    done
else
    for t in "$BUILD"/tests/test-*; do
        [ -x "$t" ] && run_one "$(basename "$t")" 120 "$t"
    done
    # The unit tests again as on Linux 4.19: every system call newer than 4.19
    # answers ENOSYS (tests/integration/old-kernel.c), so child.c's fallbacks
    # and every library's run for real.
    old_kernel=$BUILD/tests/old-kernel
    if [ -x "$old_kernel" ]; then
        for t in "$BUILD"/tests/test-*; do
            [ -x "$t" ] && run_one "$(basename "$t")@4.19" 120 "$old_kernel" "$t"
        done
    else
        echo "    ok - unit tests as on Linux 4.19 # SKIP $old_kernel not built"
        skipped=$((skipped + 1))
    fi
    for t in "$BUILD"/tests/fuzz-*; do
        [ -x "$t" ] || continue
        n=$(basename "$t"); corpus=tests/fuzz/corpus/${n#fuzz-}
        run_one "$n" 120 "$t" "$corpus"
    done
    if [ "$unit_only" -eq 0 ]; then
        for t in tests/integration/test-*; do
            [ -x "$t" ] && run_one "$(basename "$t")" 900 "$t"
        done
    fi
fi

if [ ${#failed_names[@]} -gt 0 ]; then
    echo "failed: ${failed_names[*]} (logs in $logdir/)"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
