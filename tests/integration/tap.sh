# tap.sh — TAP helpers for shell integration tests (sourced; see tests/README.md).
# ok DESC | not_ok DESC [DIAGNOSTIC] | skip DESC REASON | check DESC CMD...
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
        n=$((n + 1))
        failed=1
        echo "not ok $n - $1"
        [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'
        return 0
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check DESCRIPTION CMD...: one TAP line from a command's exit status; its
# output becomes the diagnostic on failure.
check() {
        local desc=$1 out
        shift
        if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$out"; fi
}
