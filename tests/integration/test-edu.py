#!/usr/bin/python3
"""The edu experiment end to end: real dbus-daemon, real virtlabd, real
virtlabctl, real QEMU q35 with -device edu (TCG here), the guest driver
virtlab_edu and /bin/edu-test from the guest image.  Every feature passes,
DMA verified byte for byte; microvm is rejected naming it; the CRC-32
feature of the patched QEMU (modules/edu/qemu) runs when such a QEMU is
found ($VIRTLAB_EDU_QEMU, else build/qemu-edu/build/qemu-system-x86_64) and
is a visible SKIP otherwise.  TAP, see tests/README.md."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import ROOT, Lab, Tap  # noqa: E402

BASE_FEATURES = ["devnode", "busmaster", "id", "liveness", "factorial", "irq", "dma"]
tap = Tap()


def validate(doc, what):
    tap.schema(doc, what)


def patched_qemu():
    """(path, None) for a QEMU whose edu device has the crc32 property, else (None, why)."""
    path = os.environ.get("VIRTLAB_EDU_QEMU") or os.path.join(ROOT, "build/qemu-edu/build/qemu-system-x86_64")
    if not os.access(path, os.X_OK):
        return None, f"no patched QEMU at {path} (build it: modules/edu/qemu/build-patched-qemu.sh)"
    try:
        p = subprocess.run([path, "-device", "edu,help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{path} -device edu,help failed: {e}"
    if "crc32" not in p.stdout:
        return None, f"{path} has no edu crc32 property (unpatched)"
    return path, None


def features(doc):
    runs = (doc or {}).get("runs") or [{}]
    return {f["feature"]: f for f in runs[-1].get("edu_features", [])}


def test_stock(lab):
    p, doc = lab.ctl_json("edu", "--vmm", "qemu")
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "edu --vmm qemu succeeds",
                  p.stderr + json.dumps(doc)[:800] + lab.log_tail()):
        return
    run = doc["runs"][-1]
    tap.ok(doc["spec"]["runs"] == 1 and doc["spec"]["warmup"] == 0, "edu defaults to 1 run, no warm-up")
    tap.ok("-device" in run["vmm_argv"] and "edu,dma_mask=0xFFFFFFFF" in run["vmm_argv"],
           "QEMU got -device edu,dma_mask=0xFFFFFFFF", json.dumps(run.get("vmm_argv")))
    f = features(doc)
    for name in BASE_FEATURES:
        tap.ok(f.get(name, {}).get("result") == "pass", f"feature {name} passes in the TCG guest",
               json.dumps(f.get(name)))
    dma = f.get("dma", {}).get("detail", "")
    tap.ok("4095 bytes RAM->device->RAM identical byte for byte" in dma and "offset 1000" in dma,
           "DMA verified byte for byte (full window and an offset write)", dma)
    tap.ok("MSI" in f.get("id", {}).get("detail", "") or "INTx" in f.get("id", {}).get("detail", ""),
           "the driver reports its interrupt mode")
    crc = f.get("crc32", {})
    if crc.get("result") == "skip":
        tap.ok("not patched" in crc.get("detail", ""), "stock QEMU: crc32 is a skip that says why", json.dumps(crc))
    else:
        tap.ok(crc.get("result") == "pass", "crc32 passes (this QEMU is patched)", json.dumps(crc))
    tap.ok("kernel: virtlab_edu" in run.get("guest_log", "") and "EDU-TEST summary" in run.get("guest_log", ""),
           "the result carries the guest log with the driver's probe line")
    validate(doc, "edu result")
    t = lab.ctl("results", str(doc["job_id"]))
    tap.ok(t.returncode == 0 and all(f"{n:<10} PASS" in t.stdout for n in BASE_FEATURES),
           "results table lists every feature as PASS", t.stdout + t.stderr)


def test_bad_input(lab):
    cases = [
        (["edu", "--vmm", "qemu-microvm"], "'qemu-microvm'"),
        (["edu", "--param", "require_crc32=maybe"], "'require_crc32'"),
    ]
    for args, needle in cases:
        p = lab.ctl(*args)
        tap.ok(p.returncode == 2 and needle in p.stderr, f"{' '.join(args)} → exit 2 naming {needle}",
               f"rc={p.returncode} stderr={p.stderr}")
    tap.ok(not lab.vmm_children(), "bad input started no VMM")


def test_patched(lab):
    path, why = patched_qemu()
    if not path:
        tap.skip("crc32 feature on a patched QEMU", why)
        return
    lab.stop_daemon()
    os.environ["VIRTLAB_QEMU"] = path
    lab.start_daemon()
    p, doc = lab.ctl_json("edu", "--param", "require_crc32=true")
    f = features(doc)
    tap.ok(p.returncode == 0 and doc and doc["state"] == "done" and f.get("crc32", {}).get("result") == "pass"
           and all(f.get(n, {}).get("result") == "pass" for n in BASE_FEATURES),
           f"patched QEMU ({path}): crc32 and every other feature pass", p.stderr + json.dumps(f)[:1500])
    tap.ok("0xcbf43926" in f.get("crc32", {}).get("detail", ""), "device CRC-32 of '123456789' is the check value 0xcbf43926",
           json.dumps(f.get("crc32")))
    validate(doc, "edu result on the patched QEMU")


def main():
    lab = Lab()
    try:
        lab.start_daemon()
        test_stock(lab)
        test_bad_input(lab)
        test_patched(lab)
    finally:
        lab.close()
    tap.done()


main()
