#!/bin/sh
# virtlab-ptdump [HEXADDR | sym:NAME | alloc] — guest side of `virtlabctl translate`.
# Resolves a kernel symbol through /proc/kallsyms (works with KASLR), points
# the virtlab_ptdump module at the address and prints its walk.  Lines start
# with "ptdump " so the host can tell them from anything else.
arg=${1:-alloc}
addr=
case "$arg" in
sym:*)
        name=${arg#sym:}
        addr=$(grep -m1 -E "^[0-9a-f]+ [A-Za-z] $name\$" /proc/kallsyms | cut -d' ' -f1)
        if [ -z "$addr" ]; then
                echo "ptdump error=no-such-symbol name=$name"
                exit 3
        fi
        echo "ptdump symbol name=$name gva=0x$addr"
        ;;
alloc) ;;
*) addr=${arg#0x} ;;
esac
if [ ! -e /proc/virtlab_ptdump ]; then
        echo "ptdump module=absent"
        exit 0
fi
[ -n "$addr" ] && echo "$addr" > /proc/virtlab_ptdump
cat /proc/virtlab_ptdump
