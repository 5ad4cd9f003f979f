#!/usr/bin/env bash
# test-systemd-units.sh — checks systemd/: the service unit (Type=dbus, bus
# name, paths, stop behaviour, hardening that keeps /dev/kvm and TCG usable),
# the D-Bus policy (well-formed, accepted by a real dbus-daemon, and enforced:
# only root owns the name, root and group virtlab may call, others are denied),
# the bus activation file (parsed by a real dbus-daemon), `make install
# DESTDIR=…` paths, and `systemd-analyze verify`.  Emits TAP.
#
# Environment: BUILD (build directory, default build).  The policy behaviour
# checks need root and setpriv (they run clients as uid 65534); else SKIP.
# Check functions are called through check(), which shellcheck cannot see.
# shellcheck disable=SC2317
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_ARG=${BUILD:-build} # as given, for make (relative to the repo root)
case $BUILD_ARG in /*) BUILD=$BUILD_ARG ;; *) BUILD=$ROOT/$BUILD_ARG ;; esac
SD=$ROOT/systemd
UNIT=$SD/virtlabd.service
POLICY=$SD/org.virtlab.Lab1.conf
ACTIVATION=$SD/org.virtlab.Lab1.service
NAME=org.virtlab.Lab1
PREFIX=/usr/local # the Makefile's default

TMP=$(mktemp -d)
BUS_PID="" DAEMON_PID=""
cleanup() {
        [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
        [ -n "$BUS_PID" ] && kill "$BUS_PID" 2>/dev/null && wait "$BUS_PID" 2>/dev/null
        rm -rf "$TMP"
}
trap cleanup EXIT
chmod 0755 "$TMP" # clients running as uid 65534 must reach the bus socket

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

# key FILE KEY: the value of the last KEY= line (systemd/D-Bus .ini style).
key() { sed -n "s/^$2=//p" "$1" | tail -n1; }

# ---- the unit ----------------------------------------------------------------

check_unit_type() {
        local t b
        t=$(key "$UNIT" Type) b=$(key "$UNIT" BusName)
        [ "$t" = dbus ] || { echo "Type=$t, want dbus"; return 1; }
        [ "$b" = "$NAME" ] || { echo "BusName=$b, want $NAME"; return 1; }
}
check "virtlabd.service is Type=dbus with BusName=$NAME" check_unit_type

check_unit_paths() {
        local exec
        exec=$(key "$UNIT" ExecStart)
        [ "$exec" = "$PREFIX/libexec/virtlabd --bus system" ] || { echo "ExecStart=$exec"; return 1; }
        [ "$(key "$ACTIVATION" Exec)" = "$exec" ] || { echo "activation Exec= differs from ExecStart="; return 1; }
        [ "$(key "$UNIT" StateDirectory)" = virtlab ] || { echo "StateDirectory= is not virtlab"; return 1; }
        [ "$(key "$UNIT" RuntimeDirectory)" = virtlab ] || { echo "RuntimeDirectory= is not virtlab"; return 1; }
        [ "$(key "$UNIT" RuntimeDirectoryMode)" = 0700 ] || { echo "RuntimeDirectoryMode= is not 0700"; return 1; }
}
check "ExecStart= is $PREFIX/libexec/virtlabd --bus system, as Exec= of the activation file; state and runtime dirs" check_unit_paths

check_unit_stop() {
        [ "$(key "$UNIT" KillMode)" = mixed ] || { echo "KillMode= is not mixed"; return 1; }
        [ -n "$(key "$UNIT" TimeoutStopSec)" ] || { echo "no TimeoutStopSec="; return 1; }
}
check "KillMode=mixed (virtlabd kills and reaps its VMs) and TimeoutStopSec= set" check_unit_stop

check_unit_kvm_tcg() {
        [ "$(key "$UNIT" DevicePolicy)" = closed ] || { echo "DevicePolicy= is not closed"; return 1; }
        grep -qx 'DeviceAllow=/dev/kvm rw' "$UNIT" || { echo "no DeviceAllow=/dev/kvm rw"; return 1; }
        # A private /dev hides /dev/kvm and the mounted devices the bench disk check stat()s.
        ! grep -Eq '^PrivateDevices=(yes|true|1|on)' "$UNIT" || {
                echo "PrivateDevices= hides /dev/kvm and the nodes of mounted disks (bench's in-use check)"
                return 1
        }
        ! grep -Eq '^MemoryDenyWriteExecute=(yes|true|1|on)' "$UNIT" || {
                echo "MemoryDenyWriteExecute= breaks QEMU TCG"
                return 1
        }
        local k
        for k in ProtectSystem=strict ProtectHome=read-only PrivateTmp=yes NoNewPrivileges=yes \
                ProtectKernelTunables=yes ProtectKernelModules=yes RestrictNamespaces=yes LockPersonality=yes \
                RestrictRealtime=yes SystemCallArchitectures=native; do
                grep -qx "$k" "$UNIT" || { echo "missing $k"; return 1; }
        done
}
check "hardening is on, /dev/kvm allowed, no PrivateDevices=/MemoryDenyWriteExecute=" check_unit_kvm_tcg

# ---- the policy ----------------------------------------------------------------

if command -v xmllint >/dev/null; then
        check "org.virtlab.Lab1.conf is well-formed XML (xmllint)" xmllint --noout "$POLICY"
elif command -v python3 >/dev/null; then
        check "org.virtlab.Lab1.conf is well-formed XML (python3)" \
                python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$POLICY"
else
        skip "org.virtlab.Lab1.conf is well-formed XML" "neither xmllint nor python3 installed"
fi

# The private bus copies the system bus's default policy (system.conf) and
# includes ours, so what is denied and allowed is what the real bus would do.
# GROUP stands for "virtlab" when that group does not exist here.
write_bus_conf() {
        cat >"$TMP/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$TMP/bus</listen>
  <auth>EXTERNAL</auth>
  <servicedir>$TMP/services</servicedir>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>$1</include>
</busconfig>
EOF
}

have_dbus=1
command -v dbus-daemon >/dev/null || have_dbus=0
if [ "$have_dbus" = 0 ]; then
        skip "a real dbus-daemon accepts a config including the policy" "dbus-daemon not installed"
else
        write_bus_conf "$POLICY"
        mkdir -p "$TMP/services"
        cp "$ACTIVATION" "$TMP/services/"
        dbus-daemon --config-file="$TMP/bus.conf" --nofork --nopidfile 2>"$TMP/bus.err" &
        BUS_PID=$!
        for _ in $(seq 100); do
                [ -S "$TMP/bus" ] && break
                kill -0 "$BUS_PID" 2>/dev/null || break
                sleep 0.05
        done
        if [ -S "$TMP/bus" ] && kill -0 "$BUS_PID" 2>/dev/null; then
                ok "a real dbus-daemon accepts a config including the policy"
        else
                not_ok "a real dbus-daemon accepts a config including the policy" "$(cat "$TMP/bus.err")"
                have_dbus=0
        fi
        # A broken policy must make the same bus fail, or the check above proves nothing.
        printf '<busconfig><policy context="default"><allow own=</busconfig>\n' >"$TMP/broken.conf"
        write_bus_conf "$TMP/broken.conf"
        if timeout 10 dbus-daemon --config-file="$TMP/bus.conf" --nofork --nopidfile >/dev/null 2>&1; then
                not_ok "the same dbus-daemon rejects a malformed policy (control)"
        else
                ok "the same dbus-daemon rejects a malformed policy (control)"
        fi
fi

A=unix:path=$TMP/bus
# call AS... -- METHOD: a method call to virtlabd, run as the given setpriv identity.
call() {
        local who=()
        while [ "$1" != -- ]; do who+=("$1"); shift; done
        shift
        "${who[@]}" dbus-send --bus="$A" --print-reply --dest="$NAME" /org/virtlab/Lab1 "$1"
}
expect_denied() {
        local out
        if out=$("$@" 2>&1); then echo "succeeded: $out" | head -3; return 1; fi
        grep -q AccessDenied <<<"$out" || { echo "$out"; return 1; }
}

if [ "$have_dbus" = 1 ]; then
        check_activatable() {
                dbus-send --bus="$A" --print-reply --dest=org.freedesktop.DBus / \
                        org.freedesktop.DBus.ListActivatableNames | grep -q "\"$NAME\""
        }
        check_activation_file() {
                [ "$(key "$ACTIVATION" Name)" = "$NAME" ] || { echo "Name= is not $NAME"; return 1; }
                [ "$(key "$ACTIVATION" SystemdService)" = virtlabd.service ] || { echo "SystemdService="; return 1; }
                [ "$(key "$ACTIVATION" User)" = root ] || { echo "User= is not root"; return 1; }
                check_activatable || { echo "dbus-daemon does not list $NAME as activatable"; return 1; }
        }
        check "org.virtlab.Lab1.service: SystemdService=virtlabd.service, User=root, activatable on a real bus" \
                check_activation_file
else
        skip "org.virtlab.Lab1.service is activatable on a real bus" "no private dbus-daemon"
fi

# Policy behaviour: needs root (to own the name and to run clients as others).
why=
[ "$have_dbus" = 1 ] || why="no private dbus-daemon"
[ -z "$why" ] && [ "$(id -u)" != 0 ] && why="needs root"
[ -z "$why" ] && ! command -v setpriv >/dev/null && why="setpriv not installed"
[ -z "$why" ] && ! command -v dbus-send >/dev/null && why="dbus-send not installed"
[ -z "$why" ] && [ ! -x "$BUILD/virtlabd" ] && why="$BUILD/virtlabd not built"
POLICY_GROUP=virtlab
if [ -z "$why" ] && ! getent group virtlab >/dev/null; then
        # Stand-in for the missing group: any existing group other than
        # nogroup (uid 65534's own primary group).
        POLICY_GROUP=$(getent group daemon bin sys adm | grep -v ':65534:' | head -n1 | cut -d: -f1)
        [ -n "$POLICY_GROUP" ] || why="no group virtlab and no stand-in group"
fi
if [ -n "$why" ]; then
        for t in "uid 65534 cannot own $NAME" "root owns $NAME and may call Describe" \
                "uid 65534 is denied Describe and Introspect" "a member of group virtlab may call Describe"; do
                skip "$t" "$why"
        done
else
        GID=$(getent group "$POLICY_GROUP" | cut -d: -f3)
        sed "s/group=\"virtlab\"/group=\"$POLICY_GROUP\"/" "$POLICY" >"$TMP/policy.conf"
        kill "$BUS_PID" && wait "$BUS_PID" 2>/dev/null
        rm -f "$TMP/bus"
        write_bus_conf "$TMP/policy.conf"
        dbus-daemon --config-file="$TMP/bus.conf" --nofork --nopidfile 2>"$TMP/bus.err" &
        BUS_PID=$!
        for _ in $(seq 100); do [ -S "$TMP/bus" ] && break; sleep 0.05; done
        NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        MEMBER=(setpriv --reuid=65534 --regid=65534 "--groups=$GID")
        mkdir -m 0777 "$TMP/other"
        check_other_cannot_own() {
                local out
                if out=$("${NOBODY[@]}" timeout 20 "$BUILD/virtlabd" --bus "$A" --state-dir "$TMP/other/state" \
                        --run-dir "$TMP/other/run" --image-dir "$TMP/other" 2>&1); then
                        echo "virtlabd as uid 65534 ran and exited 0: $out"
                        return 1
                fi
                grep -q "Failed to take the name.*Permission denied" <<<"$out" || { echo "$out"; return 1; }
        }
        check "uid 65534 cannot own $NAME" check_other_cannot_own
        mkdir "$TMP/state"
        "$BUILD/virtlabd" --bus "$A" --state-dir "$TMP/state" --run-dir "$TMP/run" --image-dir "$TMP/state" \
                >"$TMP/virtlabd.log" 2>&1 &
        DAEMON_PID=$!
        check_root() {
                local _
                for _ in $(seq 100); do
                        call -- "$NAME.Describe" >/dev/null 2>&1 && return 0
                        kill -0 "$DAEMON_PID" 2>/dev/null || break
                        sleep 0.1
                done
                cat "$TMP/virtlabd.log"
                call -- "$NAME.Describe"
                return 1
        }
        check "root owns $NAME and may call Describe" check_root
        check_other_denied() {
                expect_denied call "${NOBODY[@]}" -- "$NAME.Describe" &&
                        expect_denied call "${NOBODY[@]}" -- org.freedesktop.DBus.Introspectable.Introspect
        }
        check "uid 65534 is denied Describe and Introspect" check_other_denied
        check_member() {
                call "${MEMBER[@]}" -- "$NAME.Describe" >/dev/null
        }
        desc="a member of group virtlab ($POLICY_GROUP, gid $GID, stands in) may call Describe"
        # dbus-daemon before 1.14 (bullseye: 1.12) takes a caller's groups
        # from the user database by uid, not from the connection, so a group
        # given by setpriv cannot stand in there; real members (usermod -aG
        # virtlab USER) are still matched.
        dbus_version=$(dbus-daemon --version | sed -n '1s/.* \([0-9][0-9.]*\)$/\1/p')
        if out=$(check_member 2>&1); then
                ok "$desc"
        elif [ "$(printf '%s\n' "$dbus_version" 1.14 | sort -V | head -n1)" != 1.14 ]; then
                skip "$desc" "dbus-daemon $dbus_version reads groups from the user database, not the connection"
        else
                not_ok "$desc" "$out"
        fi
fi

# ---- make install --------------------------------------------------------------

DEST=$TMP/dest
if out=$(make -C "$ROOT" install DESTDIR="$DEST" BUILD="$BUILD_ARG" 2>&1); then
        ok "make install DESTDIR=… succeeds"
        INSTALLED_POLICY=$(cd "$DEST" && find . -name org.virtlab.Lab1.conf | sed 's:^\.::')
        [ "$(wc -l <<<"$INSTALLED_POLICY")" = 1 ] || INSTALLED_POLICY=
        check_installed() {
                local f mode
                for f in libexec/virtlabd:755 bin/virtlabctl:755 lib/systemd/system/virtlabd.service:644 \
                        share/dbus-1/system-services/org.virtlab.Lab1.service:644; do
                        [ -f "$DEST$PREFIX/${f%:*}" ] || { echo "missing $PREFIX/${f%:*}"; return 1; }
                        mode=$(stat -c %a "$DEST$PREFIX/${f%:*}")
                        [ "$mode" = "${f#*:}" ] || { echo "$PREFIX/${f%:*} has mode $mode, want ${f#*:}"; return 1; }
                done
                # The policy's directory is the system bus's business, not PREFIX's.
                [ -n "$INSTALLED_POLICY" ] || { echo "org.virtlab.Lab1.conf not installed"; return 1; }
                mode=$(stat -c %a "$DEST$INSTALLED_POLICY")
                [ "$mode" = 644 ] || { echo "$INSTALLED_POLICY has mode $mode, want 644"; return 1; }
                cmp "$UNIT" "$DEST$PREFIX/lib/systemd/system/virtlabd.service" &&
                        cmp "$POLICY" "$DEST$INSTALLED_POLICY" &&
                        cmp "$ACTIVATION" "$DEST$PREFIX/share/dbus-1/system-services/org.virtlab.Lab1.service" &&
                        ls "$DEST$PREFIX"/share/virtlab/schemas/*.xml >/dev/null
        }
        check "installed: binaries, unit, policy, activation file, schemas at the expected paths and modes" \
                check_installed
        # The installed ExecStart= binary is where the unit says it is.
        check_execstart_installed() {
                local bin
                bin=$(key "$UNIT" ExecStart | cut -d' ' -f1)
                [ -x "$DEST$bin" ] || { echo "$DEST$bin is not executable"; return 1; }
        }
        check "ExecStart= names the installed binary" check_execstart_installed
        # dbus-daemon reads policies only from the includedirs of system.conf
        # (system.d next to it, /etc/dbus-1/system.d), never from PREFIX.
        SYSCONF=/usr/share/dbus-1/system.conf
        if [ -r "$SYSCONF" ]; then
                check_policy_read() {
                        local dirs d
                        dirs=$(sed -n 's:.*<includedir>\(.*\)</includedir>.*:\1:p' "$SYSCONF" |
                                sed "s:^\([^/]\):$(dirname "$SYSCONF")/\1:")
                        [ -n "$INSTALLED_POLICY" ] || { echo "org.virtlab.Lab1.conf not installed"; return 1; }
                        for d in $dirs; do
                                [ "$d" = "$(dirname "$INSTALLED_POLICY")" ] && return 0
                        done
                        echo "the system bus reads policies from: $(echo "$dirs" | tr '\n' ' ')"
                        echo "but make install puts org.virtlab.Lab1.conf in $(dirname "$INSTALLED_POLICY"),"
                        echo "so the bus would refuse virtlabd the name (default: deny own)"
                        return 1
                }
                check "the installed policy is in a directory the system bus reads" check_policy_read
        else
                skip "the installed policy is in a directory the system bus reads" "no $SYSCONF"
        fi
        if command -v systemd-analyze >/dev/null; then
                check_unit_dir() {
                        systemd-analyze unit-paths 2>/dev/null | grep -qx "$PREFIX/lib/systemd/system" || {
                                echo "$PREFIX/lib/systemd/system is not a systemd unit directory here"
                                return 1
                        }
                }
                check "the installed unit is in a systemd unit directory" check_unit_dir
        else
                skip "the installed unit is in a systemd unit directory" "systemd-analyze not installed"
        fi
else
        not_ok "make install DESTDIR=… succeeds" "$(tail -n 20 <<<"$out")"
        DEST=
fi

# ---- systemd-analyze verify ------------------------------------------------------

if ! command -v systemd-analyze >/dev/null; then
        skip "systemd-analyze verify virtlabd.service" "systemd-analyze not installed"
else
        # verify checks that ExecStart= exists: point it into DESTDIR (else at
        # the built binary); the unit is otherwise unchanged and keeps its name.
        mkdir -p "$TMP/units"
        if [ -n "$DEST" ]; then
                sed "s|^ExecStart=/|ExecStart=$DEST/|" "$UNIT" >"$TMP/units/virtlabd.service"
        else
                sed "s|^ExecStart=[^ ]*|ExecStart=$BUILD/virtlabd|" "$UNIT" >"$TMP/units/virtlabd.service"
        fi
        check_verify() {
                local out
                out=$(systemd-analyze verify "$TMP/units/virtlabd.service" 2>&1) || { echo "$out"; return 1; }
                # Warnings do not change the exit status: treat any as a failure.
                [ -z "$out" ] || { echo "$out"; return 1; }
        }
        check "systemd-analyze verify virtlabd.service (no errors, no warnings)" check_verify
fi

echo "1..$n"
exit "$failed"
