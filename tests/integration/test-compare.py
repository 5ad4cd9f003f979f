#!/usr/bin/python3
"""`virtlabctl compare` and `virtlabctl report` end to end: real dbus-daemon,
virtlabd, QEMU (TCG here), guest image.  qemu vs qemu-microvm, 3 runs each,
interleaved; tables; baseline save (checked against
schemas/baseline.schema.json) and gate (a doctored baseline must fail
naming the metric); JUnit; report (Markdown and HTML) whose SVGs parse as XML;
the result document against schemas/result.schema.json."""
import json
import os
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import Lab, Tap  # noqa: E402

tap = Tap()
lab = Lab()
out = tempfile.mkdtemp(prefix="virtlab-compare-")


def validate(doc, what):
    tap.schema(doc, what)


def parses_as_xml(path):
    try:
        ET.parse(path)
        return True, ""
    except (ET.ParseError, OSError) as e:
        return False, str(e)


def test_bad_input():
    for args, needle in [(["compare", "--vmm", "qemu,xyz", "--runs", "1"], "'xyz'"),
                         (["compare", "--vmm", "qemu,qemu", "--runs", "1"], "twice"),
                         (["compare", "--vmm", "qemu,qemu-microvm", "--threshold", "abc"], "--threshold")]:
        p = lab.ctl(*args)
        tap.ok(p.returncode == 2 and needle in p.stderr, f"{' '.join(args)} → exit 2 naming {needle}",
               f"rc={p.returncode} {p.stderr}")


def test_compare():
    base = os.path.join(out, "baseline.json")
    junit = os.path.join(out, "junit.xml")
    p = lab.ctl("compare", "--vmm", "qemu,qemu-microvm", "--runs", "3", "--save-baseline", base, "--junit", junit,
                "--json")
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
    if not tap.ok(p.returncode == 0 and doc and doc.get("state") == "done", "compare qemu,qemu-microvm --runs 3 succeeds",
                  p.stderr + lab.log_tail()):
        return None, base
    validate(doc, "compare result")
    order = [(r["vmm"], r["warmup"]) for r in doc["runs"]]
    want = [("qemu", True), ("qemu-microvm", True)] + [("qemu", False), ("qemu-microvm", False)] * 3
    tap.ok(order == want, "runs interleave the VMMs (A B A B...), one warm-up each", order)
    by = doc.get("summary_by_vmm", {})
    tap.ok(set(by) == {"qemu", "qemu-microvm"} and all(by[v]["boot_ms"]["n"] == 3 for v in by),
           "summary_by_vmm has 3 boot_ms samples per VMM", json.dumps(by)[:400])
    rows = [c for c in doc.get("comparisons", []) if c["metric"] == "boot_ms"]
    tap.ok(len(rows) == 1 and rows[0]["reference"] == "qemu" and 0 <= rows[0]["p"] <= 1 and rows[0]["ratio"] > 0,
           "boot_ms compared against qemu with a p-value", rows)
    for r in (rows[:1]):
        print(f"# TCG boot_ms: qemu {by['qemu']['boot_ms']['mean']:.0f} ms, qemu-microvm "
              f"{by['qemu-microvm']['boot_ms']['mean']:.0f} ms, ratio {r['ratio']:.3f}, p = {r['p']:.3f}")
    ok, err = parses_as_xml(junit)
    tap.ok(ok and ET.parse(junit).getroot().find("testsuite") is not None, "--junit writes JUnit XML", err)
    b = json.load(open(base)) if os.path.exists(base) else {}
    tap.ok(b.get("schema") == "virtlab/baseline/v1" and "boot/qemu-microvm/boot_ms" in b.get("entries", {}),
           "--save-baseline writes the samples per kind/VMM/metric", json.dumps(b)[:300])
    tap.schema(b, "the saved baseline", "baseline.schema.json")
    return doc, base


def test_tables(job_id):
    p = lab.ctl("compare", str(job_id))
    tap.ok(p.returncode == 0 and "boot: boot_ms" in p.stdout and "qemu-microvm" in p.stdout and "ratio" in p.stdout,
           "compare ID prints one table per metric with ratios", p.stdout[-1500:] + p.stderr)
    p = lab.ctl("compare", str(job_id), "--format", "md")
    tap.ok(p.returncode == 0 and "| VMM | n | mean ± CI95 |" in p.stdout, "compare --format md prints Markdown tables",
           p.stdout[-800:] + p.stderr)


def test_gate(job_id, base):
    p = lab.ctl("compare", str(job_id), "--baseline", base)
    tap.ok(p.returncode == 0 and "Baseline gate" in p.stdout, "re-gating against the saved baseline passes",
           f"rc={p.returncode}\n{p.stdout[-1500:]}{p.stderr}")
    doctored = os.path.join(out, "doctored.json")
    b = json.load(open(base))
    for e in b["entries"].values():
        e["samples"] = [x / 2 for x in e["samples"]]
        e["mean"] /= 2
    json.dump(b, open(doctored, "w"))
    junit = os.path.join(out, "gate.xml")
    # 3 runs a side can reach p = 0.1 at best: the test loosens alpha, not the threshold.
    p = lab.ctl("compare", str(job_id), "--baseline", doctored, "--gate-alpha", "0.2", "--junit", junit)
    tap.ok(p.returncode == 4 and "REGRESSION" in p.stdout and "boot/qemu-microvm/boot_ms" in p.stdout,
           "a baseline with halved means fails the gate (exit 4) naming the metric",
           f"rc={p.returncode}\n{p.stdout[-1500:]}{p.stderr}")
    ok, err = parses_as_xml(junit)
    fails = ET.parse(junit).getroot().find("testsuite").get("failures") if ok else None
    tap.ok(ok and fails and int(fails) > 0, "JUnit XML of the failed gate has failures", err or fails)
    p = lab.ctl("compare", str(job_id), "--baseline", "/nonexistent/b.json")
    tap.ok(p.returncode == 2 and "/nonexistent/b.json" in p.stderr, "an unreadable baseline is a usage error", p.stderr)


def test_report(job_id, doc):
    for fmt in ("md", "html"):
        d = os.path.join(out, "report-" + fmt)
        p = lab.ctl("report", "--format", fmt, "--out", d, str(job_id))
        path = os.path.join(d, "report." + fmt)
        text = open(path).read() if os.path.exists(path) else ""
        img = doc["environment"]["image"]["image_hash"]
        tap.ok(p.returncode == 0 and "boot_ms" in text and img in text and "qemu-microvm" in text,
               f"report --format {fmt} renders tables and the environment", p.stderr + text[:500])
        svgs = sorted(f for f in os.listdir(d) if f.endswith(".svg")) if os.path.isdir(d) else []
        bad = [(f, e) for f in svgs for ok, e in [parses_as_xml(os.path.join(d, f))] if not ok]
        tap.ok(len(svgs) >= 1 and "boot-runs.svg" in svgs and "boot-phases.svg" in svgs and not bad, f"report {fmt}: SVG plots parse as XML",
               f"{svgs} {bad}")
        leftovers = [f for f in os.listdir(d) if f.startswith(".")] if os.path.isdir(d) else []
        tap.ok(not leftovers, f"report {fmt}: no gnuplot scratch files left", leftovers)
    ok, err = parses_as_xml(os.path.join(out, "report-html", "report.html"))
    tap.ok(ok, "report.html is well-formed XHTML-ish XML", err)


try:
    lab.start_daemon()
    test_bad_input()
    doc, base = test_compare()
    if doc:
        test_tables(doc["job_id"])
        test_gate(doc["job_id"], base)
        test_report(doc["job_id"], doc)
    tap.ok(not lab.vmm_children(), "no VMM left running")
finally:
    lab.close()
    os.system(f"rm -rf {out}")
tap.done()
