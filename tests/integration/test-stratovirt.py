#!/usr/bin/python3
"""The StratoVirt backend end to end.

Part 1 runs always: virtlabd drives tests/integration/fakes/fake-stratovirt, a
FAKE StratoVirt (a script, no VM) that takes StratoVirt's command line and
speaks its QMP dialect, so the path-mode plumbing (sockets in a per-VM run
directory, connect-retry, the -D log followed for port 0x3ff lines and KVM
errors) and the failure reasons (KVM error in the log, alive but stuck,
SIGSYS) are tested on any host.  Part 2 needs a real StratoVirt in
$VIRTLAB_STRATOVIRT and is skipped visibly without one."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import ROOT, Lab, Tap  # noqa: E402

tap = Tap()
FAKE = os.path.join(ROOT, "tests/integration/fakes/fake-stratovirt")
REAL = os.environ.get("VIRTLAB_STRATOVIRT", "")
KVM_OK = os.access("/dev/kvm", os.R_OK | os.W_OK)
# The fake plays a Linux guest; on a paravirtual KVM the daemon refuses a
# Linux guest on a KVM-only VMM unless asked to run it anyway.
PVM = os.path.exists("/sys/module/kvm_pvm")
FORCE = ["--param", "force_paravirt_kvm=true"] if PVM else []


def run_dir_entries(lab):
    d = os.path.join(lab.state_dir, "run")
    return os.listdir(d) if os.path.isdir(d) else []


def with_daemon(mode, binary, fn):
    os.environ["FAKE_STRATOVIRT_MODE"] = mode
    lab = Lab()
    try:
        lab.start_daemon("--stratovirt", binary)
        fn(lab)
        tap.ok(not lab.vmm_children(), f"[{mode}] no VMM left running")
        tap.ok(not run_dir_entries(lab), f"[{mode}] per-VM socket directories removed", run_dir_entries(lab))
    finally:
        lab.close()


def fake_boot(lab):
    p, d = lab.ctl_json("describe")
    sv = [v for v in (d or {}).get("vmms", []) if v["name"] == "stratovirt"]
    tap.ok(sv and sv[0]["available"] and "StratoVirt" in (sv[0]["version"] or ""),
           "describe reports the StratoVirt binary and its version", sv)
    p, doc = lab.ctl_json("boot", "--vmm", "stratovirt", "--runs", "2", "--timeout", "20", *FORCE)
    ok = tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "boot --vmm stratovirt (fake) succeeds",
                p.stderr + lab.log_tail())
    if not ok:
        return
    run = doc["runs"][-1]
    argv = run.get("vmm_argv", [])
    qmp = argv[argv.index("-qmp") + 1] if "-qmp" in argv else ""
    tap.ok(qmp.startswith("unix:") and qmp.endswith(",server,nowait") and "-D" in argv and "-serial" in argv,
           "argv: -qmp unix:…,server,nowait, serial socket, -D log", argv)
    tap.ok(run.get("vmm_qmp_version") == "5.0.1 (StratoVirt-2.5.0)", "QMP greeting version and package recorded",
           run.get("vmm_qmp_version"))
    tap.ok(run.get("accel") == "kvm" and doc["environment"]["vmms"][0]["accel"] == "kvm",
           "StratoVirt runs on KVM (it has no TCG)", doc["environment"]["vmms"])
    tap.ok(0 < run.get("t_port_boot_start_ms", -1) <= run.get("t_port_boot_done_ms", -1) and run.get("boot_ms", -1) > 0,
           "port 0x3ff log lines and the serial marker both timed", {k: v for k, v in run.items() if k.startswith("t_")})


def fake_kvm_error(lab):
    t = time.monotonic()
    p, doc = lab.ctl_json("boot", "--vmm", "stratovirt", "--runs", "1", "--timeout", "30", *FORCE)
    err = (doc or {}).get("error") or ""
    tap.ok(p.returncode == 1 and "KVM error in the VMM's log" in err and "internal error" in err and
           time.monotonic() - t < 20, "a KVM internal error in the log fails the run at once, quoting it", err)


def fake_stuck(lab):
    t = time.monotonic()
    p, doc = lab.ctl_json("boot", "--vmm", "stratovirt", "--runs", "1", "--timeout", "3", *FORCE)
    err = (doc or {}).get("error") or ""
    tap.ok(p.returncode == 1 and "No init marker within 3 s" in err and "alive but stuck" in err and
           time.monotonic() - t < 30, "an alive but silent VMM fails at the timeout, saying so", err)


def fake_sigsys(lab):
    p, doc = lab.ctl_json("boot", "--vmm", "stratovirt", "--runs", "1", "--timeout", "10", *FORCE)
    err = (doc or {}).get("error") or ""
    tap.ok(p.returncode == 1 and "SIGSYS" in err and "seccomp" in err, "a SIGSYS death is named as a seccomp kill", err)


def real_stratovirt(lab):
    p, d = lab.ctl_json("describe")
    sv = [v for v in (d or {}).get("vmms", []) if v["name"] == "stratovirt"]
    tap.ok(sv and sv[0]["available"], "describe finds the real StratoVirt", sv)
    host = (d or {}).get("host", {})
    t = time.monotonic()
    p, doc = lab.ctl_json("boot", "--vmm", "stratovirt", "--runs", "3", "--timeout", "60", timeout=900)
    took = time.monotonic() - t
    if host.get("kvm_flavour") in ("kvm_intel", "kvm_amd") and host.get("kvm_usable"):
        tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "real StratoVirt boots the guest 3 times",
               p.stderr + lab.log_tail())
    else:
        err = (doc or {}).get("error") or p.stderr
        tap.ok(p.returncode != 0 and err and took < 200,
               f"real StratoVirt on a {host.get('kvm_flavour')} host fails with a reason, without hanging", err)


if KVM_OK:
    with_daemon("boot", FAKE, fake_boot)
    with_daemon("kvm-error", FAKE, fake_kvm_error)
    with_daemon("stuck", FAKE, fake_stuck)
    with_daemon("sigsys", FAKE, fake_sigsys)
else:
    tap.skip("fake StratoVirt path-mode tests", "no usable /dev/kvm: the StratoVirt backend refuses to start without KVM")
if REAL:
    with_daemon("real", REAL, real_stratovirt)
else:
    tap.skip("boot with a real StratoVirt", "$VIRTLAB_STRATOVIRT not set (no StratoVirt binary on this host)")
tap.done()
