#!/usr/bin/python3
"""The StratoVirt backend end to end against the REAL StratoVirt binary
($VIRTLAB_STRATOVIRT; .ci/run points it at ../shared/vmm/stratovirt-2.5.0),
with the noop micro-guest under real KVM: version from -V, path-mode QMP,
the serial FIFO, the -D log, the QMP dialect, guest RAM found in smaps and
checked against RAM the guest touched, and every way a run can fail, each
produced by the real program: a KVM internal error (the noop guest's
virtlab.fault=1: StratoVirt then stays alive with its vCPU gone), a guest
that never speaks (virtlab.hang=1), signals sent to the real process
(KILL, SYS, TERM), a binary that is not StratoVirt, a Linux guest on a paravirtual
KVM (refused, then forced).  No fake StratoVirt is used.  Everything is
skipped visibly where no binary or no /dev/kvm exists."""
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import IMAGE_DIR, ROOT, Lab, Tap, children_of, wait_for  # noqa: E402

tap = Tap()
REAL = os.environ.get("VIRTLAB_STRATOVIRT", "")
if REAL and not os.path.isabs(REAL):
    REAL = os.path.join(ROOT, REAL)
KVM_OK = os.access("/dev/kvm", os.R_OK | os.W_OK)
PVM = os.path.exists("/sys/module/kvm_pvm")
NOOP = os.path.join(os.path.dirname(IMAGE_DIR), "noop")


def run_dirs(lab):
    d = os.path.join(lab.state_dir, "run")
    return [e for e in os.listdir(d) if e.startswith("vm-")] if os.path.isdir(d) else []


def clean(lab, what):
    tap.ok(not lab.vmm_children(), f"{what}: no VMM left running", lab.vmm_children())
    tap.ok(not run_dirs(lab), f"{what}: per-VM socket and FIFO directories removed", run_dirs(lab))


def boot(lab, *args, runs=1, timeout=120):
    return lab.ctl_json("boot", "--vmm", "stratovirt", "--image", "noop", "--runs", str(runs), "--warmup", "0", *args,
                        timeout=timeout)


def test_describe(lab):
    p, d = lab.ctl_json("describe")
    sv = [v for v in (d or {}).get("vmms", []) if v["name"] == "stratovirt"]
    tap.ok(sv and sv[0]["available"] and (sv[0]["version"] or "").startswith("StratoVirt 2.5"),
           "describe reports the real StratoVirt and its -V version", sv)
    p = lab.ctl("describe")
    tap.ok(p.returncode == 0 and "stratovirt" in p.stdout and "StratoVirt 2.5" in p.stdout and "(null)" not in p.stdout,
           "the describe table names StratoVirt's version", p.stdout)


def test_boot(lab):
    p, doc = boot(lab, runs=3)
    ok = tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "boot --vmm stratovirt --image noop --runs 3 succeeds",
                p.stderr + lab.log_tail())
    if not ok:
        return
    tap.schema(doc, "stratovirt noop boot result")
    runs = [r for r in doc["runs"] if not r["warmup"]]
    r = runs[-1]
    argv = r.get("vmm_argv", [])
    arg = lambda f: argv[argv.index(f) + 1] if f in argv else ""  # noqa: E731
    tap.ok(arg("-qmp").startswith("unix:") and arg("-qmp").endswith(",server,nowait") and
           arg("-serial").startswith("file,path=") and arg("-serial").endswith("serial.fifo") and "-D" in argv and
           arg("-kernel").endswith("noop.bin") and arg("-initrd").endswith("initrd.img"),
           "argv: QMP socket, serial FIFO, -D log, the raw noop kernel and its dummy initrd", argv)
    tap.ok(r.get("accel") == "kvm" and doc["environment"]["vmms"][0]["accel"] == "kvm",
           "the noop guest runs on KVM", doc["environment"]["vmms"][0])
    tap.ok(r.get("vmm_qmp_version") == "5.0.1 (StratoVirt-2.5.0)", "QMP greeting version and package recorded",
           r.get("vmm_qmp_version"))
    tap.ok(all(0 < x.get("boot_ms", 0) < 5000 and 0 < x.get("t_console_ms", 0) <= x["boot_ms"] and
               0 < x.get("t_qmp_ms", 0) and "t_kernel_ms" not in x for x in runs),
           "every run has boot, console and QMP phases and no kernel phase (noop has none)",
           [{k: v for k, v in x.items() if k.startswith("t_") or k == "boot_ms"} for x in runs])
    tap.ok("t_kernel_ms" not in doc["metrics"] and "boot_ms" in doc["summary"] and doc["summary"]["boot_ms"]["n"] == 3,
           "metrics follow the image's phases; boot_ms over the 3 runs", doc["metrics"])
    ev = [e["event"] for e in r.get("qmp_events", [])]
    tap.ok("SHUTDOWN" in ev and r.get("vmm_exit") == "exited with status 0",
           "stopped through QMP quit: SHUTDOWN event recorded, exit status 0", (ev, r.get("vmm_exit")))
    if r.get("guest_entry_to_marker_ms") is not None:
        tap.ok(0 <= r["guest_entry_to_marker_ms"] < r["boot_ms"] and 0 < r["t_guest_entry_ms"] < r["boot_ms"],
               "guest-side phase from the guest's TSC: entry before the marker, inside the run",
               {k: r.get(k) for k in ("t_guest_entry_ms", "guest_entry_to_marker_ms", "boot_ms")})
    else:
        tap.skip("guest-side phase from the guest's TSC", r.get("guest_clock", "no invariant TSC here"))
    log = r.get("vmm_log", "")
    tap.ok(os.path.exists(log) and "vcpu0 start running" in open(log, errors="replace").read().lower(),
           "StratoVirt's -D log is kept beside the console log", log)
    clean(lab, "boot")


def test_memory(lab):
    found = {}
    for touch in (0, 64):
        p, doc = lab.ctl_json("memory", "--vmm", "stratovirt", "--image", "noop", "--memory", "256", "--runs", "2",
                              "--warmup", "0", "--settle-ms", "100", "--param", f"touch_mib={touch}", timeout=120)
        if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", f"memory on stratovirt, touch_mib={touch}",
                      p.stderr + lab.log_tail()):
            return
        r = doc["runs"][-1]
        found[touch] = r
        tap.schema(doc, f"stratovirt memory result (touch {touch})")
    ram0, ram64 = found[0]["guest_ram_rss_kib"], found[64]["guest_ram_rss_kib"]
    tap.ok(ram64 >= 64 * 1024 and ram64 - ram0 >= 63 * 1024 and ram64 - ram0 <= 66 * 1024,
           "guest RAM found in smaps grows by the 64 MiB the guest touched", (ram0, ram64))
    m = found[64]["guest_ram_mapping"]
    tap.ok(m["size_kib"] == 256 * 1024 and "largest anonymous mapping" in m["found_by"],
           "StratoVirt's guest RAM: the 256 MiB anonymous mapping (no HMP to ask)", m)
    over = found[0]["vmm_overhead_kib"]
    tap.ok(0 < over < 64 * 1024 and abs(found[64]["vmm_overhead_kib"] - over) < 4 * 1024,
           "VMM overhead (RSS minus guest RAM) does not depend on what the guest touched",
           (over, found[64]["vmm_overhead_kib"]))
    clean(lab, "memory")


def test_kvm_error(lab):
    t = time.monotonic()
    p, doc = boot(lab, "--param", "append=virtlab.fault=1", "--timeout", "60")
    took = time.monotonic() - t
    err = (doc or {}).get("error") or p.stderr
    tap.ok(p.returncode == 1 and "KVM error in the VMM's log" in err and "KVM_EXIT_INTERNAL_ERROR" in err,
           "a KVM internal error in StratoVirt's log fails the run, quoting the line", err)
    tap.ok(took < 10, f"... at once, not at the 60 s timeout (the job took {took:.2f} s)", took)
    clean(lab, "KVM error")


def test_hang(lab):
    p, doc = boot(lab, "--param", "append=virtlab.hang=1", "--timeout", "3")
    err = (doc or {}).get("error") or p.stderr
    tap.ok(p.returncode == 1 and "No init marker within 3 s" in err and "alive but stuck" in err,
           "a guest that never speaks fails at the timeout, saying the VMM is alive but stuck", err)
    clean(lab, "silent guest")


def held_vm(lab):
    """Starts a memory job that holds its StratoVirt for 20 s; returns (job id, VMM pids)."""
    job = lab.ctl("memory", "--vmm", "stratovirt", "--image", "noop", "--memory", "256", "--runs", "1", "--warmup", "0",
                  "--settle-ms", "20000", "--no-wait").stdout.strip()
    wait_for(lambda: lab.vmm_children(), 20, "StratoVirt to start")
    time.sleep(0.5)
    return job, lab.vmm_children()


def test_signals(lab):
    """StratoVirt 2.5.0 traps SIGSYS and SIGTERM (its seccomp filter traps rather than kills: a
    refused call panics, exit 1): whatever ends it, the run fails with the right words."""
    for sig, needle in ((signal.SIGKILL, "killed by SIGKILL"), (signal.SIGSYS, "receive signal 31"),
                        (signal.SIGTERM, "receive signal 15")):
        try:
            job, pids = held_vm(lab)
            for pid in pids:
                os.kill(pid, sig)
            wait_for(lambda: (lab.ctl_json("results", job)[1] or {}).get("state") in ("done", "failed"), 30,
                     "the job to end")
        except TimeoutError as e:
            tap.ok(False, f"a StratoVirt ended by {sig.name} fails the run", str(e))
            continue
        p, doc = lab.ctl_json("results", job)
        err = (doc or {}).get("error") or p.stderr
        tap.ok(doc and doc["state"] == "failed" and needle in err and "stratovirt" in err,
               f"a StratoVirt ended by {sig.name} mid-run fails the run, quoting why ({needle})", err)
    clean(lab, "signals")


def test_refusals(lab):
    p = lab.ctl("boot", "--vmm", "stratovirt", "--image", "noop", "--accel", "tcg")
    tap.ok(p.returncode == 2 and "stratovirt" in p.stderr and "no TCG" in p.stderr,
           "--accel tcg with stratovirt is refused: it has no TCG", p.stderr)
    p = lab.ctl("boot", "--vmm", "stratovirt")
    if PVM:
        tap.ok(p.returncode == 2 and "kvm_pvm" in p.stderr and "--image noop" in p.stderr,
               "a Linux guest on kvm_pvm with StratoVirt is refused, naming the host's KVM and suggesting --image noop",
               p.stderr)
    else:
        tap.skip("a Linux guest on kvm_pvm is refused", "this host's KVM is not kvm_pvm")
    bad = tempfile.mkdtemp(prefix="virtlab-img-")
    img = json.load(open(os.path.join(NOOP, "image.json")))
    del img["marker"]
    json.dump(img, open(os.path.join(bad, "image.json"), "w"))
    p = lab.ctl("boot", "--vmm", "stratovirt", "--image", bad)
    tap.ok(p.returncode == 2 and "'marker'" in p.stderr and bad in p.stderr,
           "an image.json missing a field is refused, naming the file and the field", p.stderr)
    shutil.rmtree(bad)
    tap.ok(not lab.vmm_children(), "refusals started no VMM")


def test_not_stratovirt():
    d = tempfile.mkdtemp(prefix="virtlab-notsv-")
    fake = os.path.join(d, "stratovirt")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\necho 'garbage 1.0'\n")
    os.chmod(fake, stat.S_IRWXU)
    lab = Lab()
    try:
        lab.start_daemon("--stratovirt", fake)
        p, dd = lab.ctl_json("describe")
        sv = [v for v in (dd or {}).get("vmms", []) if v["name"] == "stratovirt"]
        tap.ok(sv and not sv[0]["available"] and "is not StratoVirt" in (sv[0]["error"] or "") and
               "garbage" in sv[0]["error"], "a binary that is not StratoVirt is reported unusable, quoting it", sv)
        p = lab.ctl("boot", "--vmm", "stratovirt", "--image", "noop")
        tap.ok(p.returncode == 2 and fake in p.stderr and "is not StratoVirt" in p.stderr,
               "... and a job on it is refused naming the binary", p.stderr)
        tap.ok(not lab.vmm_children(), "no VMM started from it")
    finally:
        lab.close()
        shutil.rmtree(d)


def test_linux_forced(lab):
    """A stock Linux bzImage on kvm_pvm under StratoVirt spins without a word (notes/stratovirt.md);
    forced with force_paravirt_kvm, the run must fail with the host's reason at its timeout, not hang."""
    t = time.monotonic()
    p, doc = lab.ctl_json("boot", "--vmm", "stratovirt", "--runs", "1", "--warmup", "0", "--timeout", "15",
                          "--param", "force_paravirt_kvm=true", timeout=120)
    took = time.monotonic() - t
    err = (doc or {}).get("error") or p.stderr
    tap.ok(p.returncode == 1 and "No init marker within 15 s" in err and "kvm_pvm" in err and "alive but stuck" in err,
           "a Linux guest forced onto kvm_pvm fails at its timeout naming the host's KVM", err)
    tap.ok(took < 60, f"... and the job ends (it took {took:.0f} s)", took)
    env = (doc or {}).get("environment", {}).get("vmms", [{}])[0]
    tap.ok("force_paravirt_kvm" in env.get("accel_reason", ""), "the result says the run was forced", env)
    clean(lab, "forced Linux guest")


if not REAL or not os.access(REAL, os.X_OK):
    tap.skip("the real StratoVirt backend", "$VIRTLAB_STRATOVIRT does not name a StratoVirt binary on this host")
elif not KVM_OK:
    tap.skip("the real StratoVirt backend", "no usable /dev/kvm: StratoVirt runs only on KVM")
elif not os.path.exists(os.path.join(NOOP, "image.json")):
    tap.ok(False, "the noop image exists", f"{NOOP}/image.json missing (make image)")
else:
    lab = Lab()
    try:
        lab.start_daemon("--stratovirt", REAL)
        for t in (test_describe, test_boot, test_memory, test_kvm_error, test_hang, test_signals, test_refusals):
            t(lab)
        if PVM:
            test_linux_forced(lab)
        else:
            tap.skip("a Linux guest forced onto kvm_pvm", "this host's KVM is not kvm_pvm")
    finally:
        lab.close()
    test_not_stratovirt()
tap.done()
