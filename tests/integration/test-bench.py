#!/usr/bin/python3
"""Guest benchmarks end to end: real dbus-daemon, virtlabd, virtlabctl and
QEMU (TCG here), the real guest image with sysbench on its tools disk.
Quick matrices (1 s per cell, 2 runs) on q35 and microvm: every cell parsed
and positive, the result matches the schema, bad matrix values and a disk
holding a file system are refused with the value named."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import IMAGE_DIR, Lab, Tap  # noqa: E402

tap = Tap()
lab = Lab()
HEADLINE = {"bench-cpu": "events_per_s", "bench-memory": "mib_per_s", "bench-fileio": "iops"}


def validate(doc, what):
    tap.schema(doc, what)


def check_matrix(doc, kind, cells, what):
    """Every expected cell has a parsed, positive headline in every run and a summary."""
    runs = doc.get("runs", []) if doc else []
    head = HEADLINE[kind]
    bad = [f"run {r['index']} {c}" for r in runs for c in cells
           if not (isinstance(r.get(f"{c}.{head}"), (int, float)) and r[f"{c}.{head}"] > 0)]
    tap.ok(doc and doc.get("state") == "done" and len(runs) == 2 and not bad,
           f"{what}: {len(cells)} cells x 2 runs, each with a positive {head}",
           json.dumps({"state": (doc or {}).get("state"), "error": (doc or {}).get("error"), "bad": bad})[:800])
    summ = (doc or {}).get("summary", {})
    missing = [c for c in cells if summ.get(f"{c}.{head}", {}).get("n") != 2 or summ[f"{c}.{head}"].get("ci95_low") is None]
    tap.ok(not missing and (doc or {}).get("metrics", [None])[0] == f"{cells[0]}.{head}",
           f"{what}: mean and CI95 over 2 runs for every cell", f"missing {missing}")
    got = [c["id"] for c in runs[0].get("bench", {}).get("cells", [])] if runs else []
    tap.ok(got == cells, f"{what}: cells in the sample are the matrix, in order", f"{got} != {cells}")


def test_bad_values():
    cases = [
        (["bench", "cpu", "--threads", "1,0"], "'0'"),
        (["bench", "cpu", "--threads", "4,x"], "'x'"),
        (["bench", "memory", "--sizes", "3Q"], "'3Q'"),
        (["bench", "memory", "--modes", "seq,sideways"], "'sideways'"),
        (["bench", "fileio", "--modes", "rndrd,rnd"], "'rnd'"),
        (["bench", "fileio", "--threads", "2"], "threads [2]"),
        (["bench", "cpu", "--time", "0"], "time_s 0"),
        (["bench", "fileio", "--disk", "/nonexistent/disk.img"], "'/nonexistent/disk.img'"),
        (["bench", "gpu"], "'gpu'"),
    ]
    for args, needle in cases:
        p = lab.ctl(*args)
        tap.ok(p.returncode == 2 and needle in p.stderr, f"{' '.join(args)} is refused naming {needle}",
               f"rc {p.returncode}: {p.stderr}")


def test_force():
    tmp = tempfile.mkdtemp(prefix="virtlab-bench-")
    disk = os.path.join(tmp, "ext4.img")
    subprocess.run(["truncate", "-s", "96M", disk], check=True)
    mk = subprocess.run(["mkfs.ext4", "-q", "-F", disk], capture_output=True, text=True)
    if mk.returncode != 0:
        tap.skip("a disk holding ext4 is refused, naming it", "mkfs.ext4 failed: " + mk.stderr)
    else:
        p = lab.ctl("bench", "fileio", "--quick", "--disk", disk)
        tap.ok(p.returncode == 2 and disk in p.stderr and "ext2/ext3/ext4" in p.stderr and "--force" in p.stderr,
               "a disk holding ext4 is refused, naming the disk, the file system and --force", p.stderr)
        # --force passes validation: the job starts (canceled at once, we only check acceptance).
        p = lab.ctl("bench", "fileio", "--quick", "--disk", disk, "--force", "--no-wait")
        ok = p.returncode == 0 and p.stdout.strip().isdigit()
        tap.ok(ok, "--force accepts the same disk", p.stderr)
        if ok:
            lab.ctl("cancel", p.stdout.strip())
    subprocess.run(["rm", "-rf", tmp])


def run_bench(what, cells, *args):
    p, doc = lab.ctl_json(*args, "--quick", "-q")
    tap.ok(p.returncode == 0 and doc is not None, f"virtlabctl {' '.join(args)} --quick succeeds", p.stderr + lab.log_tail())
    if doc:
        check_matrix(doc, doc["kind"], cells, what)
        validate(doc, what)
    return doc


def main():
    lab.start_daemon()
    if not os.path.exists(os.path.join(IMAGE_DIR, "bench-tools.cpio")):
        tap.skip("guest benchmarks", f"no {IMAGE_DIR}/bench-tools.cpio (install sysbench, then make image)")
        return
    test_bad_values()
    test_force()
    cpu = run_bench("bench cpu on qemu", ["t1", "t4"], "bench", "cpu", "--vmm", "qemu")
    run_bench("bench memory on qemu-microvm", ["t4.1K.seq", "t4.1K.rnd", "t4.8K.seq", "t4.8K.rnd"],
              "bench", "memory", "--vmm", "qemu-microvm")
    fio = run_bench("bench fileio on qemu (scratch disk)", ["t1.4K.rndrd", "t1.4K.seqwr", "t32.4K.rndrd", "t32.4K.seqwr"],
                    "bench", "fileio", "--vmm", "qemu")
    if fio:
        argv = " ".join(fio["runs"][0].get("vmm_argv", []))
        tap.ok("cache=none,aio=native" in argv and "virtio-blk-pci" in argv and "readonly=on" in argv,
               "the test disk is attached with the host cache off, the tools disk read-only", argv[-600:])
    # A user-given raw file (no file system: accepted without --force) on microvm's virtio-mmio.
    disk = os.path.join(lab.tmp, "raw.img")
    subprocess.run(["truncate", "-s", "96M", disk], check=True)
    mvm = run_bench("bench fileio on qemu-microvm (--disk raw file)", ["t1.4K.rndrd", "t1.4K.seqwr"],
                    "bench", "fileio", "--vmm", "qemu-microvm", "--disk", disk, "--threads", "1")
    if mvm:
        argv = " ".join(mvm["runs"][0].get("vmm_argv", []))
        tap.ok("file=/dev/fdset/" in argv and "opaque=virtlab-disk1" in argv and "cache=none,aio=native" in argv and "virtio-blk-device" in argv,
               "microvm gets the user's disk (as our fd, in an fdset) on virtio-mmio with the host cache off", argv[-600:])
    if cpu:
        p = lab.ctl("results", str(cpu["job_id"]))
        tap.ok(p.returncode == 0 and "events/s" in p.stdout and "±" in p.stdout, "results renders the bench table", p.stdout)
    if cpu and fio:
        out = os.path.join(lab.tmp, "report")
        p = lab.ctl("report", str(cpu["job_id"]), str(fio["job_id"]), "--out", out)
        md = open(os.path.join(out, "report.md")).read() if os.path.exists(os.path.join(out, "report.md")) else ""
        tap.ok(p.returncode == 0 and "## CPU performance (sysbench cpu)" in md and "## I/O performance" in md
               and os.path.exists(os.path.join(out, "bench-cpu-events_per_s.svg")),
               "report has the CPU and I/O sections with an SVG plot", p.stderr + md[-1500:])


try:
    main()
finally:
    lab.close()
    tap.done()
