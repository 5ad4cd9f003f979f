#!/usr/bin/python3
"""The noop micro-guest with QEMU under real KVM (q35 and microvm), and the
lab's headline comparison: compare --vmm qemu,qemu-microvm,stratovirt
--image noop (StratoVirt when $VIRTLAB_STRATOVIRT names it).  Checks the
accelerator policy (auto picks KVM for noop even on kvm_pvm, TCG stays for
Linux there), the phases a noop guest has, guest RAM through HMP checked
against RAM the guest touched, QEMU's own words on a KVM internal error,
the q35-on-kvm_pvm caveat, and the compare tables and statistics."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import HAVE_SV, SV, Lab, Tap  # noqa: E402

tap = Tap()
KVM_OK = os.access("/dev/kvm", os.R_OK | os.W_OK)
PVM = os.path.exists("/sys/module/kvm_pvm")


def test_boot(lab, vmm, runs):
    p, doc = lab.ctl_json("boot", "--vmm", vmm, "--image", "noop", "--runs", str(runs), timeout=300)
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", f"boot --vmm {vmm} --image noop succeeds",
                  p.stderr + lab.log_tail()):
        return None
    tap.schema(doc, f"{vmm} noop boot result")
    env = doc["environment"]["vmms"][0]
    tap.ok(env["accel"] == "kvm" and ("KVM" in env["accel_reason"]),
           f"{vmm}: auto picks KVM for the noop guest", env)
    r = doc["runs"][-1]
    tap.ok(r.get("guest", {}).get("entry") == "pvh" and "t_kernel_ms" not in r and r.get("boot_ms", 0) > 0,
           f"{vmm}: QEMU enters the noop ELF through PVH; no kernel phase", {k: r.get(k) for k in ("guest", "boot_ms")})
    argv = r.get("vmm_argv", [])
    if PVM:
        tap.ok(argv[argv.index("-cpu") + 1] == "host,-arch-capabilities" if "-cpu" in argv else False,
               f"{vmm}: on kvm_pvm, -cpu host without the MSR kvm_pvm refuses", argv)
    return doc


def test_q35_caveat(doc):
    env = doc["environment"]["vmms"][0]
    if PVM:
        tap.ok("kvm_pvm" in (env.get("caveat") or ""), "q35 under kvm_pvm carries the firmware caveat", env)
    else:
        tap.ok("caveat" not in env, "q35 on a native KVM has no caveat", env)


def test_linux_stays_tcg(lab):
    p, d = lab.ctl_json("describe")
    want = "tcg" if PVM else "kvm"
    tap.ok(d and d["host"]["default_accel"] == want, f"Linux guests stay on {want} here", (d or {}).get("host"))


def test_memory(lab):
    found = {}
    for touch in (0, 32):
        p, doc = lab.ctl_json("memory", "--vmm", "qemu-microvm", "--image", "noop", "--memory", "256", "--runs", "1",
                              "--warmup", "0", "--settle-ms", "100", "--param", f"touch_mib={touch}", timeout=120)
        if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", f"memory qemu-microvm noop touch_mib={touch}",
                      p.stderr + lab.log_tail()):
            return
        found[touch] = doc["runs"][-1]
    m = found[32]["guest_ram_mapping"]
    tap.ok("gpa2hva" in m["found_by"] and m["size_kib"] >= 256 * 1024, "guest RAM located through HMP gpa2hva", m)
    d = found[32]["guest_ram_rss_kib"] - found[0]["guest_ram_rss_kib"]
    tap.ok(31 * 1024 <= d <= 34 * 1024, f"guest RAM grows by the 32 MiB the guest touched ({d} KiB)", d)
    p = lab.ctl("memory", "--image", "default", "--param", "touch_mib=8")
    tap.ok(p.returncode == 2 and "touch_mib" in p.stderr and "noop" in p.stderr,
           "touch_mib on a Linux image is refused, naming the field", p.stderr)


def test_fault(lab):
    t = time.monotonic()
    p, doc = lab.ctl_json("boot", "--vmm", "qemu-microvm", "--image", "noop", "--runs", "1", "--warmup", "0",
                          "--param", "append=virtlab.fault=1", "--timeout", "60", timeout=120)
    took = time.monotonic() - t
    err = (doc or {}).get("error") or p.stderr
    tap.ok(p.returncode == 1 and "KVM error in the VMM's output" in err and "KVM internal error" in err and took < 10,
           f"QEMU's KVM internal error on stderr fails the run at once ({took:.1f} s), quoting it", err)
    tap.ok(not lab.vmm_children(), "the paused QEMU is killed and reaped")


def test_compare(lab, vmms):
    p, doc = lab.ctl_json("compare", "--vmm", ",".join(vmms), "--image", "noop", "--runs", "3", timeout=600)
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done",
                  f"compare --vmm {','.join(vmms)} --image noop --runs 3 succeeds", p.stderr + lab.log_tail()):
        return
    tap.schema(doc, "three-VMM compare result")
    by = doc.get("summary_by_vmm", {})
    tap.ok(set(by) == set(vmms) and all(by[v]["boot_ms"]["n"] == 3 for v in vmms),
           "boot_ms: 3 samples per VMM", json.dumps({v: by.get(v, {}).get("boot_ms") for v in vmms})[:500])
    rows = [(r["vmm"], r["metric"]) for r in doc.get("comparisons", [])]
    tap.ok(all((v, "boot_ms") in rows for v in vmms[1:]), "every VMM compared against the first on boot_ms", rows)
    order = [r["vmm"] for r in doc["runs"] if not r["warmup"]]
    tap.ok(order == vmms * 3, "runs interleave the VMMs", order)
    t = lab.ctl("compare", str(doc["job_id"]))
    tap.ok(t.returncode == 0 and all(f"\n  {v} " in t.stdout for v in vmms) and "image noop" in t.stdout and
           t.stdout.count(" kvm: ") >= len(vmms) and "boot: boot_ms" in t.stdout and "ratio" in t.stdout,
           "compare prints the image, each VMM's accelerator, and per-phase tables with ratios", t.stdout[:2500])
    if PVM and "qemu" in vmms:
        tap.ok("CAVEAT" in t.stdout and "kvm_pvm" in t.stdout, "the q35 caveat is printed with the table", t.stdout[:800])


if not KVM_OK:
    tap.skip("noop guest under KVM", "no usable /dev/kvm")
else:
    lab = Lab()
    try:
        lab.start_daemon(*(["--stratovirt", SV] if HAVE_SV else []))
        test_linux_stays_tcg(lab)
        test_boot(lab, "qemu-microvm", 3)
        doc = test_boot(lab, "qemu", 1)
        if doc:
            test_q35_caveat(doc)
        test_memory(lab)
        test_fault(lab)
        if HAVE_SV:
            test_compare(lab, ["qemu", "qemu-microvm", "stratovirt"])
        else:
            tap.skip("compare qemu,qemu-microvm,stratovirt --image noop", "$VIRTLAB_STRATOVIRT not set")
            test_compare(lab, ["qemu", "qemu-microvm"])
        tap.ok(not lab.vmm_children(), "nothing left running")
    finally:
        lab.close()
tap.done()
