#!/usr/bin/python3
"""virtlabctl translate end to end on a TCG guest: the guest module kmallocs
a page holding 1772334 and walks its page tables; virtlabd walks the same
GVA over QMP.  Checked: the walk's GPA equals QEMU's gva2gpa, the value read
at the HVA equals what the guest wrote, the guest walk equals the host walk,
HPAs come from pagemap when root; plus a --symbol walk and the schema."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import Lab, Tap  # noqa: E402

tap = Tap()
lab = Lab()


try:
    lab.start_daemon()
    p, doc = lab.ctl_json("translate", "--vmm", "qemu", "--guest-alloc", timeout=90)
    ok = p.returncode == 0 and doc and doc.get("state") == "done"
    tap.ok(ok, "translate --guest-alloc succeeds", p.stderr + (json.dumps(doc)[:800] if doc else ""))
    t = (doc or {}).get("runs", [{}])[0].get("translate", {})
    tap.schema(t, "translate document", "translate.schema.json")
    tap.ok(t.get("leaf") in ("4K", "2M", "1G") and len(t.get("levels", [])) in range(2, 6), "walk ends at a leaf",
           json.dumps(t.get("levels")))
    tap.ok(t.get("gpa") and t.get("gpa") == t.get("qemu_gva2gpa"), "walk GPA equals QEMU gva2gpa",
           f"{t.get('gpa')} vs {t.get('qemu_gva2gpa')}")
    tap.ok(t.get("expected_value") == 1772334 and t.get("value_at_hva") == 1772334,
           "value at the HVA is what the guest wrote (1772334)", f"{t.get('value_at_hva')}")
    tap.ok(t.get("guest_walk_agrees") is True, "guest module walk equals the QMP walk", t.get("guest_walk_comparison"))
    if os.geteuid() == 0:
        tap.ok(t.get("hpa") and (not t.get("qemu_gpa2hpa") or t["hpa"] == t["qemu_gpa2hpa"]),
               "HPA from pagemap (root) agrees with QEMU gpa2hpa", f"{t.get('hpa')} {t.get('hpa_how')}")
    else:
        tap.ok("CAP_SYS_ADMIN" in t.get("hpa_how", "") and "hpa" not in t, "without root the HPA is explained, not 0x0",
               t.get("hpa_how"))
    tap.ok("not-kvm" in t.get("guest_walk", {}).get("hypercall_22", "") or doc["environment"]["accel"] == "kvm",
           "hypercall 22 is not issued under TCG", t.get("guest_walk", {}).get("hypercall_22"))

    p = lab.ctl("results", str(doc["job_id"]) if doc else "0", "--format", "text")
    tap.ok(p.returncode == 0 and "GVA split" in p.stdout and " | " in p.stdout and "HVA -> HPA" in p.stdout,
           "text output has the binary index split and every step", p.stdout[:400] + p.stderr)

    p, doc = lab.ctl_json("translate", "--symbol", "jiffies", "--module", timeout=90)
    t = (doc or {}).get("runs", [{}])[0].get("translate", {})
    tap.ok(p.returncode == 0 and t.get("gpa") == t.get("qemu_gva2gpa") and t.get("guest_walk_agrees") is True,
           "translate --symbol jiffies --module: walks agree with each other and gva2gpa",
           p.stderr + json.dumps(t)[:600])
    p = lab.ctl("translate", "--gva", "nonsense", timeout=30)
    tap.ok(p.returncode == 2 and "Invalid gva" in p.stderr, "a bad --gva is a usage error", p.stderr)
finally:
    lab.close()
tap.done()
