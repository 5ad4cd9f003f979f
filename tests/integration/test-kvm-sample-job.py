#!/usr/bin/python3
"""kvm-sample as a daemon job: real dbus-daemon, real virtlabd, real
virtlabctl, real kvm-sample on /dev/kvm.  Exact guest output, one IO exit per
character plus one HLT, --upper/--trace/--mode flags, the exit histogram
table, bad input named, a missing binary named.  TAP, see tests/README.md."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import BUILD, Lab, Tap  # noqa: E402

HELLO = "Hello, World!\n"
tap = Tap()


def validate(doc, what):
    tap.schema(doc, what)


def measured(doc):
    return [r for r in (doc or {}).get("runs", []) if not r["warmup"]]


def test_plain(lab):
    p, doc = lab.ctl_json("kvm-sample", "--runs", "3", "--warmup", "1")
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "kvm-sample --runs 3 succeeds",
                  p.stderr + lab.log_tail()):
        return None
    runs = measured(doc)
    tap.ok(len(runs) == 3 and all(r["output"] == HELLO for r in runs),
           'every run printed exactly "Hello, World!\\n"', json.dumps([r.get("output") for r in runs]))
    tap.ok(all(r["exits"] == {"IO": len(HELLO), "HLT": 1} and r["io_exits"] == len(HELLO) and r["exits_total"] == 15
               for r in runs), "one IO exit per character (14) + one HLT, 15 in all",
           json.dumps([r.get("exits") for r in runs]))
    st = doc["summary"]
    tap.ok(st.get("exits_total", {}).get("mean") == 15 and st.get("io_exits", {}).get("n") == 3
           and st.get("runtime_us", {}).get("mean", 0) > 0, "summary: exits_total 15, runtime_us > 0 over 3 runs",
           json.dumps(st)[:500])
    tap.ok(all(r["argv"][1:] == ["--json", "--mode", "real"] for r in runs), "default spec runs --json --mode real",
           json.dumps(runs[0].get("argv")))
    validate(doc, "kvm-sample result")
    return doc


def test_upper_trace(lab):
    p, doc = lab.ctl_json("kvm-sample", "--upper", "--trace", "--mode", "long", "--runs", "2", "--warmup", "0")
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "kvm-sample --upper --trace --mode long succeeds",
                  p.stderr + lab.log_tail()):
        return
    runs = measured(doc)
    tap.ok(all(r["output"] == "HELLO, WORLD!\n" for r in runs), 'with --upper every run printed "HELLO, WORLD!\\n"',
           json.dumps([r.get("output") for r in runs]))
    traces = [[l for l in r.get("trace", "").splitlines() if l.startswith("trace:")] for r in runs]
    tap.ok(all(len(t) == 15 and sum(" IO " in l for l in t) == 14 and "HLT" in t[-1] for t in traces),
           "--trace: 15 trace lines per run, 14 IO then HLT", json.dumps(traces[0][-3:] if traces else None))
    tap.ok(all(r["mode"] == "long" and r["upper"] is True and r.get("guest_runtime_us", -1) >= 0 for r in runs),
           "runs record mode long, upper, guest_runtime_us from the trace")
    validate(doc, "kvm-sample --trace result")
    t = lab.ctl("results", str(doc["job_id"]))
    tap.ok(t.returncode == 0 and '"HELLO, WORLD!"' in t.stdout and "IO" in t.stdout and "#" * 14 in t.stdout,
           "results table shows the output and the exit histogram", t.stdout + t.stderr)


def test_modes(lab):
    for mode in ("protected", "paged"):
        p, doc = lab.ctl_json("kvm-sample", "--mode", mode, "--runs", "1", "--warmup", "0")
        if doc and doc["state"] == "failed" and "refuses" in (doc.get("error") or ""):
            tap.skip(f"kvm-sample --mode {mode}", f"host KVM refuses it (kvm-sample says: {doc['error'][:120]})")
            continue
        tap.ok(p.returncode == 0 and doc and measured(doc)[0]["output"] == HELLO
               and measured(doc)[0]["exits"] == {"IO": 14, "HLT": 1}, f"kvm-sample --mode {mode}: same output, same exits",
               p.stderr + json.dumps(doc)[:600])


def test_bad_input(lab):
    cases = [
        (["kvm-sample", "--mode", "warp"], "'warp'"),
        (["kvm-sample", "--walk", "xyz"], "'xyz'"),
        (["kvm-sample", "--param", "upper=3"], "'upper'"),
        (["kvm-sample", "--param", "colour=red"], "'colour'"),
    ]
    for args, needle in cases:
        p = lab.ctl(*args)
        tap.ok(p.returncode == 2 and needle in p.stderr, f"{' '.join(args)} → exit 2 naming {needle}",
               f"rc={p.returncode} stderr={p.stderr}")


def test_missing_binary(lab):
    lab.stop_daemon()
    os.environ["VIRTLAB_KVM_SAMPLE"] = "/nonexistent/kvm-sample"
    try:
        lab.start_daemon()
        p, doc = lab.ctl_json("kvm-sample", "--runs", "1", "--warmup", "0")
        tap.ok(p.returncode == 1 and doc and doc["state"] == "failed" and "/nonexistent/kvm-sample" in (doc["error"] or ""),
               "a missing kvm-sample binary fails the job naming the path", p.stderr + json.dumps(doc)[:400])
    finally:
        del os.environ["VIRTLAB_KVM_SAMPLE"]


def main():
    if not os.path.exists("/dev/kvm"):
        tap.skip("kvm-sample job tests", "/dev/kvm is absent on this machine")
        tap.done()
    if not os.access(os.path.join(BUILD, "kvm-sample/kvm-sample"), os.X_OK):
        tap.ok(False, "build/kvm-sample/kvm-sample is built", "run: make kvm-sample")
        tap.done()
    lab = Lab()
    try:
        lab.start_daemon()
        test_plain(lab)
        test_upper_trace(lab)
        test_modes(lab)
        test_bad_input(lab)
        test_missing_binary(lab)
        tap.ok(not lab.vmm_children(), "no child process left behind")
    finally:
        lab.close()
    tap.done()


main()
