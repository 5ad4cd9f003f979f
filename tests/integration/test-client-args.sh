#!/usr/bin/env bash
# test-client-args.sh — virtlabctl's command line, without a daemon: each verb
# takes its own options and refuses the others (exit 2, naming the option and
# the verb), options work before and after the verb, `VERB --help` lists the
# verb's options, and virtlabctl links neither libevent nor SQLite.
# A command line the parser accepts goes on to connect to a bus address that
# does not exist, so "accepted" is exit 3 with the "cannot connect" message
# naming that address.  TAP, see tests/README.md.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
C=$BUILD/virtlabctl
NOBUS=unix:path=/nonexistent/virtlab-test-bus
# Even a command that wrongly gets past the parser reaches no daemon.
export VIRTLAB_BUS=$NOBUS
# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ctl ARGS...: runs virtlabctl; sets rc, out (stdout) and err (stderr).
ctl() {
        out=$("$C" "$@" 2>"$tmp/err")
        rc=$?
        err=$(cat "$tmp/err")
}

# expect DESC RC [NEEDLE...]: the last ctl exited RC and its stderr holds every NEEDLE.
expect() {
        local desc=$1 want=$2 why="" needle
        shift 2
        [ "$rc" -eq "$want" ] || why="exit status $rc, expected $want"
        for needle in "$@"; do
                [[ $err == *"$needle"* ]] || why="$why; stderr lacks '$needle'"
        done
        if [ -z "$why" ]; then ok "$desc"; else not_ok "$desc" "${why#; }"$'\n'"stderr: $err"; fi
}

# refused VERB OPTION ARGS...: virtlabctl ARGS... is a usage error naming OPTION and VERB.
refused() {
        local verb=$1 opt=$2
        shift 2
        ctl "$@"
        expect "$* → exit 2: '$verb' does not take $opt" 2 "'$verb' does not take $opt" "virtlabctl $verb --help"
}

# accepted ARGS...: the parser takes virtlabctl ARGS... (it fails only at the bogus bus).
accepted() {
        ctl "$@"
        expect "$* is accepted (exit 3: no daemon)" 3 "cannot connect to the $NOBUS bus"
}

# listed TEXT OPTION: TEXT has a --help line for OPTION ("  --runs N ..." or "  -q, --quiet ...").
listed() {
        grep -qe "^  \(-., \)\?$2\( \|$\)" <<<"$1"
}

# help_lists VERB OPTION... [-- ABSENT...]: VERB --help exits 0 with a usage
# line, lists every OPTION and the global ones, and no ABSENT one.
help_lists() {
        local verb=$1 why="" o want=1
        shift
        ctl "$verb" --help
        [ "$rc" -eq 0 ] || why="exit status $rc"
        [[ $out == "Usage: virtlabctl [OPTIONS] $verb"* ]] || why="$why; no usage line for $verb"
        for o in --format --json --bus --quiet --help "$@"; do
                if [ "$o" = -- ]; then
                        want=0
                elif [ $want -eq 1 ] && ! listed "$out" "$o"; then
                        why="$why; $o missing"
                elif [ $want -eq 0 ] && listed "$out" "$o"; then
                        why="$why; $o listed"
                fi
        done
        if [ -z "$why" ]; then
                ok "$verb --help lists its options"
        else
                not_ok "$verb --help lists its options" "${why#; }"$'\n'"$(head -n 8 <<<"$out")"
        fi
}

if [ ! -x "$C" ]; then
        not_ok "$C is built" "run: make"
        echo "1..$n"
        exit 1
fi

# ---- options a verb does not take ----------------------------------------
refused boot --threads boot --threads x
refused boot --threads --threads x boot
refused boot --threads boot --thread x # an abbreviation is named in full
refused boot --upper boot --upper
refused boot --baseline boot --baseline b.json
refused boot --kind boot --kind memory
refused memory --time memory --time 5
refused memory --console-login memory --console-login root:pw
refused edu --flat edu --flat
refused kvm-sample --quick kvm-sample --quick
refused translate --device translate --device edu
refused mtree --gva mtree --gva 0x1000
refused results --runs results --runs 3
refused report --runs report --out /nonexistent/report-dir --runs 3
refused report --baseline report --out /nonexistent/report-dir --baseline b.json
refused compare --disk compare --disk x
refused describe --vmm describe --vmm qemu
refused jobs --runs jobs --runs 1
refused cancel --no-wait cancel 3 --no-wait
refused some-kind --disk some-kind --disk x

# ---- what each verb does take --------------------------------------------
accepted bench cpu --disk x
accepted boot --kernel k,format=raw --initrd i --disk d,format=qcow2 --append "root=/dev/vda" --marker 'login: ' \
        --console-login root:pw --console-command 'systemd-analyze time'
accepted memory --kernel k --marker x
ctl boot --kernel ,format=raw
expect "boot --kernel ,format=raw → exit 2" 2 "expected FILE[,format=FORMAT]"
ctl boot --console-login :pw
expect "boot --console-login :pw → exit 2" 2 "expected USER[:PASSWORD]"
accepted bench fileio --disk x --force --quick --time 1 --threads 1 --sizes 4K --modes rndrd,seqwr
accepted bench cpu --cpu-max-prime 20000 --vmm qemu --runs 2 --warmup 0 --no-wait
accepted boot --vmm qemu --runs 3 --warmup 0 --accel tcg --memory 512 --vcpus 2 --timeout 30 --settle-ms 10 \
        --pin 0 --drop-caches --image /nonexistent/image --param a=1 --no-wait
accepted kvm-sample --upper --trace --mode long --walk 0x1000 --runs 2
accepted mtree --flat --device edu --device pci-testdev --vmm qemu
accepted mtree --job 7 --flat --format dot
accepted translate --gva 0x1000 --symbol jiffies --guest-alloc --module --format text
accepted compare --vmm qemu,qemu-microvm --runs 3 --experiments boot,memory --baseline b.json \
        --save-baseline s.json --junit j.xml --report /nonexistent/report-dir --threshold 5% --gate-alpha 0.02 --alpha 0.1
accepted compare 3 4 --out /nonexistent/report-dir --format md
accepted report --out /nonexistent/report-dir --alpha 0.1 --format html 3
accepted results --kind boot --state done --limit 5 --vmm qemu --format csv
accepted results 3 4 --json
accepted jobs -q --format md
accepted describe --json
accepted cancel 12
accepted some-kind --param x=true --runs 2 --vmm qemu
accepted edu --param require_crc32=true

# ---- options before and after the verb -----------------------------------
ctl --bus unix:path=/nonexistent/before --runs 3 --vmm qemu boot
expect "options before the verb apply (--bus, --runs, --vmm boot)" 3 "/nonexistent/before"
ctl boot --runs 3 --bus unix:path=/nonexistent/after -q --json
expect "options after the verb apply (boot --runs 3 --bus ...)" 3 "/nonexistent/after"
ctl --json -q bench --quick cpu --bus unix:path=/nonexistent/mixed --time 1
expect "options on both sides and between the verb and its argument" 3 "/nonexistent/mixed"
ctl --runs ten boot
expect "a bad value before the verb is still checked (exit 2)" 2 "invalid --runs 'ten'"
ctl boot --runs ten
expect "a bad value after the verb is checked (exit 2)" 2 "invalid --runs 'ten'"
ctl compare --threshold abc
expect "compare --threshold abc → exit 2 naming --threshold" 2 "--threshold"
ctl boot --bogus
expect "an unknown option is a usage error" 2 "unrecognized option '--bogus'"
ctl boot --vmm
expect "an option without its value is a usage error" 2 "'--vmm' requires an argument"

# ---- positional arguments, checked before connecting ----------------------
ctl boot extra
expect "boot extra → exit 2" 2 "unexpected argument 'extra' for 'boot'"
ctl bench gpu
expect "bench gpu → exit 2 naming 'gpu', without a daemon" 2 "'gpu'"
ctl bench
expect "bench without a test → exit 2" 2 "usage: bench cpu|memory|fileio"
ctl cancel abc
expect "cancel abc → exit 2" 2 "invalid job id 'abc'"
ctl results 0
expect "results 0 → exit 2" 2 "invalid job id '0'"
ctl report 3
expect "report without --out → exit 2" 2 "report needs --out DIR"
ctl
expect "no command → exit 2" 2 "missing command"
ctl --runs 3
expect "options but no command → exit 2" 2 "missing command"

# ---- help ------------------------------------------------------------------
help_lists boot --vmm --runs --warmup --accel --memory --vcpus --timeout --settle-ms --pin --drop-caches \
        --image --param --no-wait --kernel --initrd --disk --append --marker --console-login --console-command \
        -- --time --upper --flat --gva --baseline --kind --out
help_lists memory --kernel --initrd --disk --marker --runs -- --console-login --console-command --time
help_lists bench --time --threads --sizes --modes --quick --disk --force --cpu-max-prime --runs --vmm \
        -- --upper --flat --gva --baseline --kind
help_lists kvm-sample --upper --trace --mode --walk --runs -- --disk --flat
help_lists mtree --flat --device --job --vmm -- --disk --gva
help_lists translate --gva --symbol --guest-alloc --module --vmm -- --disk --flat
help_lists compare --experiments --baseline --save-baseline --junit --report --out --threshold --gate-alpha \
        --alpha --vmm --runs -- --disk --kind
help_lists report --out --alpha -- --runs --vmm --baseline
help_lists results --kind --state --limit --vmm -- --runs --disk
help_lists jobs -- --runs --vmm
help_lists describe -- --runs --vmm
help_lists some-kind --param --runs --vmm -- --disk --upper
ctl --help bench
if [ "$rc" -eq 0 ] && [[ $out == "Usage: virtlabctl [OPTIONS] bench"* ]] && grep -q -- '--disk' <<<"$out"; then
        ok "--help before the verb prints the verb's help"
else
        not_ok "--help before the verb prints the verb's help" "rc $rc: $(head -n 3 <<<"$out")"
fi
ctl --help
if [ "$rc" -eq 0 ] && grep -q '^Commands:' <<<"$out" && grep -q 'compare \[ID...\]' <<<"$out" &&
        grep -q '^Exit status' <<<"$out"; then
        ok "--help alone prints the overview"
else
        not_ok "--help alone prints the overview" "rc $rc: $(head -n 3 <<<"$out")"
fi

# ---- what virtlabctl links ---------------------------------------------------
libs=$(ldd "$C" 2>&1)
if grep -q libjansson <<<"$libs" && grep -q libsystemd <<<"$libs" && ! grep -qe 'libevent' -e 'libsqlite3' <<<"$libs"
then
        ok "virtlabctl links jansson and sd-bus, neither libevent nor libsqlite3"
else
        not_ok "virtlabctl links jansson and sd-bus, neither libevent nor libsqlite3" "$libs"
fi

# The linker may drop unused libraries by itself (--as-needed), so check what
# the Makefile links virtlabctl with too: the link command of a forced dry run.
if link=$(make --no-print-directory -n -B BUILD="$BUILD" "$BUILD/virtlabctl" 2>&1 | grep -Fe "-o $BUILD/virtlabctl "); then
        if [[ $link == *libvirtlab-common.a* && $link != *libvirtlab.a* && $link != *-levent* && $link != *-lsqlite3* ]]
        then
                ok "virtlabctl is linked with libvirtlab-common.a, without libvirtlab.a, -levent, -lsqlite3"
        else
                not_ok "virtlabctl is linked with libvirtlab-common.a, without libvirtlab.a, -levent, -lsqlite3" "$link"
        fi
else
        not_ok "make -n shows how virtlabctl is linked" "$link"
fi

echo "1..$n"
exit "$failed"
