#!/usr/bin/python3
"""End-to-end: real dbus-daemon, real virtlabd, real virtlabctl, real QEMU
(TCG here; whatever `auto` picks elsewhere), real guest image."""
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import IMAGE_DIR, ROOT, Lab, Tap, pid_alive, wait_for  # noqa: E402

tap = Tap()
lab = Lab()


def validate(doc, what):
    tap.schema(doc, what)


def job_state(job_id):
    p, doc = lab.ctl_json("results", str(job_id))
    return doc.get("state") if doc else None


def exec_done(pid):
    """A forked child is virtlabd until it execs the VMM (and is pinned)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() != "virtlabd"
    except OSError:
        return False


def wait_for_vmm():
    wait_for(lambda: any(exec_done(p) for p in lab.vmm_children()), 30, "a VMM child of virtlabd")
    return [p for p in lab.vmm_children() if exec_done(p)]


def test_describe():
    p, d = lab.ctl_json("describe")
    tap.ok(p.returncode == 0 and d is not None, "describe returns JSON", p.stderr)
    host = (d or {}).get("host", {})
    tap.ok(host.get("kvm_flavour") in ("none", "kvm_intel", "kvm_amd", "kvm_pvm", "kvm") and host.get("accel_reason"),
           "describe names the KVM flavour and why the default accel", json.dumps(host))
    qemu = [v for v in (d or {}).get("vmms", []) if v["name"] == "qemu"]
    tap.ok(qemu and qemu[0]["available"] and "QEMU" in (qemu[0]["version"] or ""), "describe finds QEMU and its version")


def test_bad_input():
    cases = [
        (["boot", "--vmm", "xyz"], "'xyz'"),
        (["boot", "--runs", "0"], "runs 0"),
        (["boot", "--runs", "1001"], "runs 1001"),
        (["boot", "--runs", "ten"], "'ten'"),
        (["boot", "--accel", "warp"], "'warp'"),
        (["boot", "--image", "/nonexistent/img"], "/nonexistent/img/image.json"),
        (["boot", "--memory", "1"], "memory_mib 1"),
        (["boot", "--pin", "0-x"], "'0-x'"),
        (["boot", "--pin", "1023"], "'1023'"),
        (["results", "999999"], "999999"),
    ]
    for args, needle in cases:
        p = lab.ctl(*args)
        tap.ok(p.returncode == 2 and needle in p.stderr, f"{' '.join(args)} → exit 2 naming {needle}",
               f"rc={p.returncode} stderr={p.stderr}")
    tap.ok(not lab.vmm_children(), "bad input started no VMM")


def test_boot(vmm, runs):
    p, doc = lab.ctl_json("boot", "--vmm", vmm, "--runs", str(runs), "--warmup", "1")
    ok = tap.ok(p.returncode == 0 and doc and doc["state"] == "done", f"boot --vmm {vmm} --runs {runs} succeeds",
                p.stderr + lab.log_tail())
    if not ok:
        return None
    measured = [r for r in doc["runs"] if not r["warmup"]]
    tap.ok(len(doc["runs"]) == runs + 1 and len(measured) == runs, "every run and the warm-up are recorded")
    order_ok = True
    detail = ""
    for r in measured:
        seq = [r["t_spawn_ms"], r["t_exec_ms"], r["t_qmp_ms"], r["t_console_ms"], r["t_kernel_ms"], r["t_init_ms"]]
        if not (all(x > 0 for x in seq[1:]) and seq == sorted(seq) and r["boot_ms"] == r["t_init_ms"]):
            order_ok = False
            detail = json.dumps(seq)
    tap.ok(order_ok, "phases are positive and ordered: spawn < exec ≤ qmp ≤ console ≤ kernel ≤ init", detail)
    tap.ok(all(r["guest_uptime_at_init_ms"] > 0 and r["guest"]["rc"] == 0 for r in measured),
           "guest reports its own uptime at init")
    s = doc["summary"]["boot_ms"]
    tap.ok(s["n"] == runs and s["min"] <= s["median"] <= s["max"] and s["ci95_low"] <= s["mean"] <= s["ci95_high"],
           "boot_ms statistics cover exactly the measured runs", json.dumps(s))
    argv = measured[0]["vmm_argv"]
    tap.ok(argv[0].endswith("qemu-system-x86_64") and "-kernel" in argv and any("VIRTLAB" not in a for a in argv),
           "the exact VMM argv is recorded")
    env = doc["environment"]
    tap.ok(env["accel"] in ("kvm", "tcg") and env["marker"] == "VIRTLAB-INIT-MARKER" and len(env["image"]["image_hash"]) == 64,
           "environment records accel, marker and image hash")
    with open(measured[0]["console_log"]) as f:
        log = f.read()
    tap.ok("VIRTLAB-INIT-MARKER" in log and log.startswith("["), "console log is kept with timestamps")
    tap.ok(not lab.vmm_children(), "no VMM left after the job")
    validate(doc, f"boot result ({vmm})")
    return doc


def test_pin_and_drop_caches():
    p, doc = lab.ctl_json("boot", "--vmm", "qemu-microvm", "--runs", "1", "--warmup", "0", "--pin", "0",
                          "--drop-caches")
    r = (doc or {}).get("runs", [{}])[0]
    if os.geteuid() != 0:
        tap.skip("--pin 0 --drop-caches", "dropping caches needs root")
        return
    tap.ok(p.returncode == 0 and r.get("pinned_cpus") == "0" and r.get("caches_dropped") is True,
           "--pin 0 --drop-caches are applied and recorded", p.stderr)
    job = lab.ctl("memory", "--runs", "1", "--warmup", "0", "--pin", "0", "--settle-ms", "20000", "--no-wait").stdout
    pid = wait_for_vmm()[0]
    with open(f"/proc/{pid}/status") as f:
        allowed = [line.split()[1] for line in f if line.startswith("Cpus_allowed_list:")]
    tap.ok(allowed == ["0"], "the pinned VMM may run on CPU 0 only", allowed)
    lab.ctl("cancel", job.strip())
    wait_for(lambda: not lab.vmm_children(), 30, "the pinned VMM to go")


def test_memory():
    p, doc = lab.ctl_json("memory", "--vmm", "qemu", "--runs", "1", "--warmup", "0", "--memory", "512")
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "memory experiment succeeds", p.stderr):
        return
    r = doc["runs"][0]
    tap.ok(0 < r["guest_ram_rss_kib"] <= 512 * 1024, "guest-RAM RSS is positive and ≤ configured memory",
           r["guest_ram_rss_kib"])
    tap.ok(r["rss_kib"] == r["guest_ram_rss_kib"] + r["vmm_overhead_kib"] and r["uss_kib"] <= r["rss_kib"],
           "RSS = guest RAM + overhead, USS ≤ RSS")
    tap.ok("gpa2hva" in r["guest_ram_mapping"]["found_by"] and r["guest_ram_mapping"]["size_kib"] >= 512 * 1024,
           "guest RAM mapping located through QMP gpa2hva", json.dumps(r["guest_ram_mapping"]))
    tap.ok(len(r["pmap"]) > 10 and any(m["mapping"].startswith("qemu-system") for m in r["pmap"]),
           "pmap-style table recorded")
    validate(doc, "memory result")
    p = lab.ctl("results", str(doc["job_id"]), "--format", "csv")
    tap.ok(p.returncode == 0 and p.stdout.startswith("job_id,kind,vmm") and ",memory,qemu," in p.stdout,
           "results --format csv")


def test_timeout():
    p, doc = lab.ctl_json("boot", "--vmm", "qemu", "--runs", "1", "--warmup", "0", "--timeout", "1")
    tap.ok(p.returncode == 1 and doc and doc["state"] == "failed" and "No init marker within 1 s" in (doc["error"] or ""),
           "a run past its timeout fails naming the cause", (doc or {}).get("error", p.stderr))
    tap.ok(not lab.vmm_children(), "the timed-out VMM was killed and reaped")
    if doc:
        validate(doc, "failed result")


def introspect(path):
    p = subprocess.run(["dbus-send", "--bus=" + lab.address, "--print-reply=literal", "--dest=org.virtlab.Lab1", path,
                        "org.freedesktop.DBus.Introspectable.Introspect"], capture_output=True, text=True, timeout=30)
    text = p.stdout.strip()
    return ET.fromstring(text[text.index("<node"):]) if "<node" in text else None


def interface_shape(node, name):
    """Members of an interface as comparable tuples: (kind, name, signature)."""
    for i in node.iter("interface"):
        if i.get("name") == name:
            return sorted((m.tag, m.get("name"), "".join(f"{a.get('direction', '')}:{a.get('type')}" for a in m.iter("arg"))
                           + (m.get("type") or "")) for m in i if m.tag in ("method", "signal", "property"))
    return None


def test_introspection(job_path):
    spec = ET.parse(os.path.join(ROOT, "schemas/org.virtlab.Lab1.xml")).getroot()
    live = introspect("/org/virtlab/Lab1")
    tap.ok(live is not None and interface_shape(live, "org.virtlab.Lab1") == interface_shape(spec, "org.virtlab.Lab1"),
           "live org.virtlab.Lab1 matches schemas/org.virtlab.Lab1.xml")
    live_job = introspect(job_path)
    tap.ok(live_job is not None and
           interface_shape(live_job, "org.virtlab.Lab1.Job") == interface_shape(spec, "org.virtlab.Lab1.Job"),
           "live job object matches schemas/org.virtlab.Lab1.xml")


def test_cancel():
    p = lab.ctl("boot", "--vmm", "qemu", "--runs", "20", "--no-wait")
    job_id = int(p.stdout.strip() or 0)
    pids = wait_for_vmm()
    test_introspection(f"/org/virtlab/Lab1/job/_{job_id}")
    c = lab.ctl("cancel", str(job_id))
    wait_for(lambda: job_state(job_id) is not None, 30, "the canceled job's result")
    tap.ok(c.returncode == 0 and job_state(job_id) == "canceled", "cancel mid-job ends it as canceled", c.stderr)
    wait_for(lambda: not any(pid_alive(x) for x in pids), 10, "the VMM to go")
    tap.ok(not lab.vmm_children(), "cancel leaves no VMM child")


def test_client_disconnect():
    env = lab.env()
    client = subprocess.Popen([os.path.join(ROOT, os.environ.get("BUILD", "build"), "virtlabctl"), "boot", "--runs", "20",
                               "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pids = wait_for_vmm()
    client.kill()
    client.wait()
    wait_for(lambda: not any(pid_alive(x) for x in pids) and not lab.vmm_children(), 30, "the VMM to go")

    def last_row():
        p, rows = lab.ctl_json("results", "--limit", "1")
        return rows[0] if rows else {}
    wait_for(lambda: last_row().get("state") not in (None, "queued", "running"), 30, "the job to end")
    last = last_row()
    tap.ok(last.get("state") == "canceled" and "disconnected" in (last.get("error") or ""),
           "a client killed mid-job cancels its job, naming why", json.dumps(last))


def test_queue():
    a = int(lab.ctl("boot", "--vmm", "qemu-microvm", "--runs", "1", "--warmup", "0", "--no-wait").stdout)
    b = int(lab.ctl("boot", "--vmm", "qemu-microvm", "--runs", "1", "--warmup", "0", "--no-wait").stdout)
    p, jobs = lab.ctl_json("jobs")
    states = {j["job_id"]: j["state"] for j in jobs or []}
    tap.ok(states.get(b) == "queued" and states.get(a) in ("queued", "running"),
           "a second job waits in the queue while the first runs", json.dumps(states))
    wait_for(lambda: job_state(b) is not None, 120, "the queued job to finish")
    tap.ok(job_state(a) == "done" and job_state(b) == "done", "both queued jobs complete in order")


def test_daemon_kill_and_restart(earlier_job):
    p = lab.ctl("boot", "--vmm", "qemu", "--runs", "20", "--no-wait")
    job_id = int(p.stdout.strip() or 0)
    pids = wait_for_vmm()
    lab.stop_daemon(signal.SIGKILL)
    try:
        wait_for(lambda: not any(pid_alive(x) for x in pids), 10, "orphan VMM to die")
        tap.ok(True, "SIGKILL of virtlabd takes its VMM down too (no orphan)")
    except TimeoutError:
        tap.ok(False, "SIGKILL of virtlabd takes its VMM down too (no orphan)", f"still alive: {pids}")
        for x in pids:
            os.kill(x, signal.SIGKILL)
    lab.start_daemon()
    p, doc = lab.ctl_json("results", str(job_id))
    tap.ok(doc and doc["state"] == "failed" and "interrupted" in doc["error"],
           "after restart the interrupted job is marked failed", p.stdout[:500] + p.stderr)
    if earlier_job:
        p, old = lab.ctl_json("results", str(earlier_job))
        tap.ok(old and old["state"] == "done" and old["summary"]["boot_ms"]["n"] > 0,
               "earlier results survive a daemon crash")
    if doc:
        validate(doc, "interrupted result")


def test_sigterm():
    p = lab.ctl("boot", "--vmm", "qemu", "--runs", "20", "--no-wait")
    job_id = int(p.stdout.strip() or 0)
    pids = wait_for_vmm()
    rc = lab.stop_daemon(signal.SIGTERM)
    tap.ok(rc == 0 and not any(pid_alive(x) for x in pids), "SIGTERM stops virtlabd cleanly, VMM reaped", f"rc={rc}")
    lab.start_daemon()
    p, doc = lab.ctl_json("results", str(job_id))
    tap.ok(doc and doc["state"] == "failed" and "SIGTERM" in doc["error"], "the job stopped by SIGTERM says so",
           p.stdout[:300])


def test_vmm_exits_early():
    """An image whose kernel is not a kernel: QEMU exits at once; its own words reach the user.
    (A kernel file that does not exist is the client's to report: it opens the caller's files.)"""
    bad = os.path.join(lab.tmp, "bad-image")
    os.makedirs(bad, exist_ok=True)
    img = json.load(open(os.path.join(IMAGE_DIR, "image.json")))
    junk = os.path.join(bad, "not-a-kernel")
    with open(junk, "w") as f:
        f.write("not a kernel\n")
    img["vmlinux"] = junk
    json.dump(img, open(os.path.join(bad, "image.json"), "w"))
    p, doc = lab.ctl_json("boot", "--runs", "1", "--warmup", "0", "--image", bad)
    err = (doc or {}).get("error") or ""
    tap.ok(p.returncode == 1 and "exited with status 1 before the init marker" in err and "kernel" in err,
           "a VMM that exits early fails the run with its own error message", err or p.stderr)
    tap.ok(not lab.vmm_children(), "nothing left after the early exit")
    img["vmlinux"] = os.path.join(bad, "missing-vmlinux")
    json.dump(img, open(os.path.join(bad, "image.json"), "w"))
    p = lab.ctl("boot", "--runs", "1", "--warmup", "0", "--image", bad)
    tap.ok(p.returncode == 2 and "missing-vmlinux" in p.stderr and "vmlinux" in p.stderr,
           "a kernel the image names but that does not exist is refused by the client, naming it", p.stderr)


def test_qemu_missing():
    lab.stop_daemon()
    lab.start_daemon(env={"VIRTLAB_QEMU": "/nonexistent/qemu-system-x86_64"})
    p = lab.ctl("boot", "--runs", "1")
    tap.ok(p.returncode == 2 and "/nonexistent/qemu-system-x86_64 not found" in p.stderr,
           "a missing QEMU binary is refused up front, naming the path", p.stderr)
    p, d = lab.ctl_json("describe")
    qemu = [v for v in (d or {}).get("vmms", []) if v["name"] == "qemu"]
    tap.ok(qemu and not qemu[0]["available"] and "not found" in (qemu[0]["error"] or ""),
           "describe says why the VMM is unavailable")
    lab.stop_daemon()
    lab.start_daemon()


def test_unreachable():
    lab.stop_daemon()
    p = lab.ctl("describe")
    tap.ok(p.returncode == 3 and "not reachable" in p.stderr, "no daemon → exit 3", p.stderr)


try:
    lab.start_daemon()
    test_describe()
    test_bad_input()
    micro = test_boot("qemu-microvm", 3)
    test_boot("qemu", 2)
    test_pin_and_drop_caches()
    test_memory()
    test_timeout()
    test_vmm_exits_early()
    test_cancel()
    test_client_disconnect()
    test_queue()
    test_daemon_kill_and_restart(micro and micro["job_id"])
    test_sigterm()
    test_qemu_missing()
    test_unreachable()
except Exception as e:  # a crash of the test itself is a failure, never silence
    tap.ok(False, f"test aborted: {type(e).__name__}: {e}", lab.log_tail())
finally:
    lab.close()
tap.done()
