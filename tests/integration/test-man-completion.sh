#!/usr/bin/env bash
# test-man-completion.sh — the tooling around virtlabctl, without a daemon:
# the man pages (built from docs/man/*.scd by scdoc) render with groff and
# man -l without a warning and name every option each command's --help
# lists; the bash completion (completions/virtlabctl.bash, sourced into bash
# with bash-completion's own helpers) completes commands, a command's
# options, VMM names after --vmm (comma lists for compare), formats and
# bench's sub-commands; `make install DESTDIR=…` installs both.  TAP, see
# tests/README.md.  Skips (visibly) what needs a missing tool.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD_ARG=${BUILD:-build} # as given, for make (relative to the repo root)
case $BUILD_ARG in /*) BUILD=$BUILD_ARG ;; *) BUILD=$ROOT/$BUILD_ARG ;; esac
C=$BUILD/virtlabctl
export VIRTLAB_BUS=unix:path=/nonexistent/virtlab-test-bus # no daemon is needed, none is reached
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- man pages ---------------------------------------------------------------

for page in virtlabctl.1 virtlabd.8; do
        f=$BUILD/man/$page
        if [ ! -s "$f" ]; then
                not_ok "$page is built (make man)" "no $f"
                continue
        fi
        if command -v groff >/dev/null; then
                warn=$(groff -man -Tutf8 -ww -z "$f" 2>&1)
                if [ -z "$warn" ]; then ok "$page: groff -man -Tutf8 -ww renders it without a warning"
                else not_ok "$page: groff -man -Tutf8 -ww renders it without a warning" "$warn"; fi
        else
                skip "$page: groff renders it" "groff not installed"
        fi
        if command -v man >/dev/null; then
                MANWIDTH=80 man -l "$f" >"$tmp/$page.txt" 2>"$tmp/$page.err"
                rc=$?
                if [ $rc -eq 0 ] && [ ! -s "$tmp/$page.err" ] && grep -q "^NAME" "$tmp/$page.txt" &&
                        grep -q "^SYNOPSIS" "$tmp/$page.txt" && grep -q "^OPTIONS\|^EXPERIMENT OPTIONS" "$tmp/$page.txt"; then
                        ok "$page: man -l shows NAME, SYNOPSIS and the options, nothing on stderr"
                else
                        not_ok "$page: man -l shows NAME, SYNOPSIS and the options, nothing on stderr" \
                                "rc=$rc $(head -c 600 "$tmp/$page.err")"
                fi
        else
                skip "$page: man -l renders it" "man-db not installed"
        fi
done

# Every option of every command's --help is in the man page (the page
# documents what the program takes).
if [ -s "$tmp/virtlabctl.1.txt" ]; then
        missing=""
        verbs=$("$C" --help | sed -n '/^Commands:/,/^$/{s/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p}')
        for v in $verbs; do
                for o in $("$C" "$v" --help | sed -n 's/^  \(-[a-zA-Z], \)\{0,1\}\(--[a-z0-9-]*\).*/\2/p'); do
                        grep -q -- "$o\b" "$tmp/virtlabctl.1.txt" || missing+=" $v:$o"
                done
        done
        if [ -z "$missing" ] && [ -n "$verbs" ]; then ok "virtlabctl.1 names every option of every command's --help"
        else not_ok "virtlabctl.1 names every option of every command's --help" "missing:$missing"; fi
        for v in $verbs; do
                grep -q "^       $v\b" "$tmp/virtlabctl.1.txt" || missing+=" $v"
        done
        if [ -z "$missing" ]; then ok "virtlabctl.1 describes every command of --help"
        else not_ok "virtlabctl.1 describes every command of --help" "missing:$missing"; fi
        if "$BUILD/virtlabd" --help | sed -n 's/^  \(-[a-z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' |
                while read -r o; do grep -q -- "$o\b" "$tmp/virtlabd.8.txt" || { echo "missing $o"; exit 1; }; done; then
                ok "virtlabd.8 names every option of virtlabd --help"
        else
                not_ok "virtlabd.8 names every option of virtlabd --help"
        fi
fi

# ---- bash completion ---------------------------------------------------------

BC=/usr/share/bash-completion/bash_completion
# complete WORDS...: what _virtlabctl offers for the last word (in a fresh
# bash, with bash-completion's helpers; compopt is only valid inside a real
# completion, so it is stubbed).
complete_words() {
        bash --norc --noprofile -c '
                source "$1" && source "$2" || exit 9
                compopt() { :; }
                shift 2
                COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
                _virtlabctl
                printf "%s\n" "${COMPREPLY[@]}"' _ "$BC" "$ROOT/completions/virtlabctl.bash" "$@" 2>&1 | sed '/^$/d' | sort | tr '\n' ' '
}

# expect_completion DESC WANT WORDS...: the offer is exactly WANT (sorted).
expect_completion() {
        local desc=$1 want=$2 got
        shift 2
        got=$(complete_words "$@")
        want=$(tr ' ' '\n' <<<"$want" | sed '/^$/d' | sort | tr '\n' ' ')
        if [ "$got" = "$want" ]; then ok "$desc"; else not_ok "$desc" "want: $want"$'\n'"got:  $got"; fi
}

# expect_contains DESC WORD... -- WORDS...: the offer holds every WORD.
expect_contains() {
        local desc=$1 got w
        shift
        local -a need=()
        while [ "$1" != -- ]; do need+=("$1"); shift; done
        shift
        got=" $(complete_words "$@")"
        for w in "${need[@]}"; do
                [[ $got == *" $w "* ]] || { not_ok "$desc" "no $w in:$got"; return; }
        done
        ok "$desc"
}

if [ ! -r "$BC" ]; then
        skip "bash completion" "bash-completion not installed (apt-get install bash-completion)"
else
        expect_contains "completion: commands after virtlabctl" describe boot memory compare report results bench \
                kvm-sample -- "$C" ""
        expect_completion "completion: commands by prefix (re → report results)" "report results" "$C" re
        expect_completion "completion: boot's options by prefix (--v → --vcpus --vmm)" "--vcpus --vmm" "$C" boot --v
        expect_contains "completion: compare's own options" --experiments --baseline --junit --openmetrics --report -- \
                "$C" compare --
        expect_completion "completion: report takes only its options and the global ones" \
                "--alpha --bus --format --help --json --out --quiet" "$C" report --
        expect_completion "completion: VMM names after --vmm" "qemu qemu-microvm stratovirt" "$C" boot --vmm ""
        expect_completion "completion: compare --vmm completes a comma list without repeats" \
                "qemu,qemu-microvm qemu,stratovirt" "$C" compare --vmm qemu,
        expect_completion "completion: options before the command word count" "--runs" "$C" --bus session boot --ru
        expect_completion "completion: nothing is guessed for --runs N" "" "$C" boot --runs ""
        expect_completion "completion: report --format md|html" "html md" "$C" report --format ""
        expect_completion "completion: results --format includes openmetrics" "openmetrics" "$C" results --format o
        expect_completion "completion: bench cpu|memory|fileio" "cpu fileio memory" "$C" bench ""
        expect_completion "completion: boot's guest options (--k → --kernel)" "--kernel" "$C" boot --k
        expect_completion "completion: boot's console options" "--console-command --console-login" "$C" boot --cons
        expect_contains "completion: the named images after --image" default noop systemd -- "$C" boot --image ""
        touch "$tmp/vmlinuz-test"
        expect_completion "completion: --kernel completes a file" "$tmp/vmlinuz-test" "$C" boot --kernel "$tmp/vmlinuz-t"
        expect_completion "completion: nothing is guessed for --marker REGEX" "" "$C" boot --marker ""
        expect_completion "completion: experiment kinds after --experiments" "boot,memory boot,mtree" \
                "$C" compare --experiments boot,m
fi

# ---- make install --------------------------------------------------------------

DEST=$tmp/dest
if out=$(make -C "$ROOT" install DESTDIR="$DEST" PREFIX=/usr BUILD="$BUILD_ARG" 2>&1); then
        missing=""
        for f in usr/share/man/man1/virtlabctl.1 usr/share/man/man8/virtlabd.8 \
                usr/share/bash-completion/completions/virtlabctl usr/share/virtlab/schemas/baseline.schema.json; do
                [ -s "$DEST/$f" ] || missing+=" $f"
        done
        if [ -z "$missing" ]; then ok "make install DESTDIR=… PREFIX=/usr installs the man pages, the completion, the schemas"
        else not_ok "make install DESTDIR=… PREFIX=/usr installs the man pages, the completion, the schemas" "missing:$missing"; fi
        if MANPATH=$DEST/usr/share/man man -w virtlabctl 2>/dev/null | grep -q "$DEST"; then
                ok "man finds the installed virtlabctl(1) in its MANPATH"
        else
                not_ok "man finds the installed virtlabctl(1) in its MANPATH" "$(MANPATH=$DEST/usr/share/man man -w virtlabctl 2>&1)"
        fi
        if cmp -s "$DEST/usr/share/bash-completion/completions/virtlabctl" completions/virtlabctl.bash; then
                ok "the installed completion is completions/virtlabctl.bash"
        else
                not_ok "the installed completion is completions/virtlabctl.bash"
        fi
else
        not_ok "make install DESTDIR=… succeeds" "$(tail -n 20 <<<"$out")"
fi

echo "1..$n"
exit "$failed"
