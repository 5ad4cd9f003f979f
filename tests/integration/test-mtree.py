#!/usr/bin/python3
"""virtlabctl mtree end to end: a TCG q35 guest with -device edu, HMP info
mtree (and -f) over QMP, the parsed tree checked against the schema and
against what QEMU must have mapped; the text and DOT renderings; StratoVirt
refused with a clear error."""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import Lab, Tap, wait_for  # noqa: E402

tap = Tap()
lab = Lab()


def regions(tree):
    for r in tree:
        yield r
        yield from regions(r.get("children", []))


try:
    lab.start_daemon()
    p, doc = lab.ctl_json("mtree", "--vmm", "qemu", "--device", "edu", "--flat", timeout=90)
    tap.ok(p.returncode == 0 and doc and doc.get("state") == "done", "mtree --device edu --flat succeeds",
           p.stderr + (json.dumps(doc)[:500] if doc else ""))
    run = (doc or {}).get("runs", [{}])[0]
    tree, flat = run.get("mtree"), run.get("mtree_flat")
    if doc:
        tap.schema(doc, "result document")
    tap.schema(tree or {}, "tree view", "mtree.schema.json")
    tap.schema(flat or {}, "flat view", "mtree.schema.json")
    system = [s for s in (tree or {}).get("address_spaces", []) if "memory" in s["names"]]
    sysregs = list(regions(system[0]["regions"])) if system else []
    tap.ok(system and system[0]["regions"][0]["name"] == "system", "address space 'memory' has root 'system'")
    ram_aliases = [r for r in sysregs if r.get("alias", {}).get("target") == "pc.ram"]
    tap.ok(len(ram_aliases) >= 1 and all(r["kind"] == "ram" for r in ram_aliases),
           "system holds pc.ram-backed alias regions", [r["name"] for r in ram_aliases])
    edu = [r for r in sysregs if r["name"] == "edu-mmio"]
    tap.ok(len(edu) == 1 and int(edu[0]["size"], 16) == 1 << 20, "edu-mmio is mapped, 1 MiB",
           json.dumps(edu))
    fv = [v for v in (flat or {}).get("flat_views", []) if v.get("root") == "system"]
    tap.ok(fv and any(r["name"] == "edu-mmio" for r in fv[0]["ranges"]), "flat view of system has edu-mmio")

    p = lab.ctl("results", str(doc["job_id"]) if doc else "0", "--format", "text")
    tap.ok(p.returncode == 0 and "FlatView #0" in p.stdout and 'AS "memory", root: system' in p.stdout
           and "(prio 1, i/o): edu-mmio" in p.stdout, "text output re-prints the flat view (--flat)", p.stdout[:300] + p.stderr)
    p = lab.ctl("results", str(doc["job_id"]) if doc else "0", "--format", "dot")
    tap.ok(p.returncode == 0 and p.stdout.startswith("digraph mtree {") and "style=dashed" in p.stdout
           and "edu-mmio" in p.stdout, "dot output draws system with alias edges", p.stdout[:300] + p.stderr)
    if shutil.which("dot"):
        p = lab.ctl("results", str(doc["job_id"]) if doc else "0", "--format", "svg")
        tap.ok(p.returncode == 0 and "<svg" in p.stdout, "svg output through graphviz", p.stderr)
    else:
        tap.skip("svg output through graphviz", "graphviz (dot) not installed")

    p = lab.ctl("mtree", "--vmm", "stratovirt", timeout=30)
    tap.ok(p.returncode == 2 and "not supported by stratovirt" in p.stderr, "stratovirt is refused clearly", p.stderr)

    # Attach to another job's VM: a memory job holding its guest during a long settle.
    job = lab.ctl("memory", "--runs", "1", "--warmup", "0", "--settle-ms", "30000", "--no-wait").stdout.strip()
    wait_for(lambda: lab.vmm_children(), 30, "the memory job's VM")
    # Until QMP is up the daemon answers "no running VM ... (phase 'spawn')": retry briefly.
    for _ in range(60):
        p, attached = lab.ctl_json("mtree", "--job", job, timeout=60)
        if p.returncode == 0 or "no running VM" not in p.stderr:
            break
        time.sleep(0.25)
    regs = [r for s in (attached or {}).get("address_spaces", []) for r in regions(s["regions"])]
    tap.ok(p.returncode == 0 and any(r["name"] == "system" for r in regs)
           and any(r.get("alias", {}).get("target") == "pc.ram" for r in regs),
           "mtree --job attaches to a running job's VM", p.stderr)
    tap.schema(attached or {}, "attached tree", "mtree.schema.json")
    lab.ctl("cancel", job)
    wait_for(lambda: not lab.vmm_children(), 30, "the canceled job's VM to go")
    wait_for(lambda: not any(str(j["job_id"]) == job for j in (lab.ctl_json("jobs")[1] or [])), 30,
             "the canceled job to end")
    p = lab.ctl("mtree", "--job", job)
    tap.ok(p.returncode == 2 and f"no active job {job}" in p.stderr, "mtree --job of a finished job is refused", p.stderr)
finally:
    lab.close()
tap.done()
