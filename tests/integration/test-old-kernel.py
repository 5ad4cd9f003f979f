#!/usr/bin/python3
"""virtlabd on a kernel without pidfd: the real daemon, its VMMs and its
probes run under build/tests/old-kernel, a seccomp filter that answers
ENOSYS for every system call newer than Linux 4.19 (pidfd_open,
pidfd_send_signal, clone3, close_range, openat2, faccessat2, io_uring, …).
The filter is inherited, so QEMU runs under it too.  Real dbus-daemon, real
virtlabctl, real QEMU (TCG), real guest image.  TAP, see tests/README.md."""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import BUILD, Lab, Tap, pid_alive, wait_for  # noqa: E402

OLD_KERNEL = os.path.join(BUILD, "tests", "old-kernel")
tap = Tap()


def seccomp_mode(pid):
    """The Seccomp: line of /proc/PID/status (2 = filter), None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def zombies_of(pid):
    """Children of pid that exited and were never reaped."""
    out = []
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] == "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def job_state(lab, job_id):
    p, doc = lab.ctl_json("results", str(job_id))
    return doc.get("state") if doc else None


def test_daemon_without_pidfd(lab):
    pid = lab.daemon.pid
    tap.ok(seccomp_mode(pid) == 2, "virtlabd runs under the seccomp filter (Seccomp: 2)", seccomp_mode(pid))
    log = lab.log_tail()
    tap.ok("Child supervision: SIGCHLD + waitpid per child" in log and "pidfd_open" in log,
           "virtlabd logs that it supervises children through SIGCHLD, pidfd_open missing", log)
    tap.ok("close-on-exec: each fd in /proc/self/fd" in log, "virtlabd logs the close_range fallback", log)
    p, d = lab.ctl_json("describe")
    qemu = [v for v in (d or {}).get("vmms", []) if v["name"] == "qemu"]
    tap.ok(qemu and qemu[0]["available"] and "QEMU" in (qemu[0]["version"] or ""),
           "the QEMU version probe (child_run) completes without pidfd", p.stderr + json.dumps(qemu))


def test_boot(lab):
    p, doc = lab.ctl_json("boot", "--runs", "2", "--warmup", "1")
    ok = tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "boot --runs 2 (TCG, default image) succeeds",
                p.stderr + lab.log_tail())
    if ok:
        runs = [r for r in doc["runs"] if not r["warmup"]]
        tap.ok(len(runs) == 2 and all(r["boot_ms"] > 0 and r["t_exec_ms"] > 0 for r in runs),
               "every run has its boot phases", json.dumps([r.get("boot_ms") for r in runs]))
    tap.ok(not lab.vmm_children() and not zombies_of(lab.daemon.pid), "no VMM left after the boot job, nor a zombie")


def test_memory(lab):
    p, doc = lab.ctl_json("memory", "--runs", "1", "--warmup", "0", "--memory", "256")
    if not tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "memory job succeeds",
                  p.stderr + lab.log_tail()):
        return
    r = doc["runs"][0]
    tap.ok(0 < r["guest_ram_rss_kib"] <= 256 * 1024 and r["rss_kib"] > r["guest_ram_rss_kib"],
           "memory: guest-RAM RSS and VMM RSS measured", json.dumps({k: r.get(k) for k in ("rss_kib", "guest_ram_rss_kib")}))
    tap.ok(not lab.vmm_children(), "no VMM left after the memory job")


def test_timeout(lab):
    """The run's deadline kills the VMM with kill(), since there is no pidfd."""
    p, doc = lab.ctl_json("boot", "--runs", "1", "--warmup", "0", "--timeout", "1")
    tap.ok(p.returncode == 1 and doc and doc["state"] == "failed" and "No init marker within 1 s" in (doc["error"] or ""),
           "a run past its timeout fails naming the cause", (doc or {}).get("error", p.stderr))
    tap.ok(not lab.vmm_children(), "the timed-out VMM was killed and reaped")


def test_cancel(lab):
    p = lab.ctl("memory", "--runs", "5", "--warmup", "0", "--settle-ms", "20000", "--no-wait")
    job_id = int(p.stdout.strip() or 0)
    wait_for(lambda: lab.vmm_children(), 60, "a VMM child of virtlabd")
    pids = lab.vmm_children()
    tap.ok(all(seccomp_mode(x) == 2 for x in pids), "the VMM inherited the filter (QEMU 7.2 copes)",
           [seccomp_mode(x) for x in pids])
    c = lab.ctl("cancel", str(job_id))
    wait_for(lambda: job_state(lab, job_id) is not None, 30, "the canceled job's result")
    tap.ok(c.returncode == 0 and job_state(lab, job_id) == "canceled", "cancel mid-job ends it as canceled", c.stderr)
    wait_for(lambda: not any(pid_alive(x) for x in pids), 10, "the VMM to go")
    tap.ok(not lab.vmm_children() and not zombies_of(lab.daemon.pid), "cancel leaves no VMM child, nor a zombie",
           f"children={lab.vmm_children()} zombies={zombies_of(lab.daemon.pid)}")


def test_kvm_sample(lab):
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        tap.skip("kvm-sample job without pidfd", "/dev/kvm is absent or not writable")
        return
    p, doc = lab.ctl_json("kvm-sample", "--runs", "1", "--warmup", "0")
    tap.ok(p.returncode == 0 and doc and doc["state"] == "done" and doc["runs"][0]["output"] == "Hello, World!\n",
           "a kvm-sample job (a VM-less child) completes without pidfd", p.stderr + json.dumps(doc)[:300])


def test_noop_kvm(lab):
    """The noop guest under KVM on each VMM at hand, StratoVirt included
    (path mode: its QMP socket and serial FIFO), with touched RAM."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        tap.skip("noop guest under KVM without pidfd", "/dev/kvm is absent or not writable")
        return
    vmms = ["qemu-microvm"] + (["stratovirt"] if os.environ.get("VIRTLAB_STRATOVIRT") else [])
    for vmm in vmms:
        p, doc = lab.ctl_json("memory", "--vmm", vmm, "--image", "noop", "--runs", "1", "--warmup", "0",
                              "--memory", "256", "--param", "touch_mib=64")
        r = (doc or {}).get("runs", [{}])[0]
        tap.ok(p.returncode == 0 and doc["state"] == "done" and r.get("guest_ram_rss_kib", 0) >= 64 * 1024,
               f"memory --vmm {vmm} --image noop (KVM, 64 MiB touched) without pidfd",
               p.stderr + json.dumps(doc)[:400])
    if not os.environ.get("VIRTLAB_STRATOVIRT"):
        tap.skip("the same on StratoVirt", "$VIRTLAB_STRATOVIRT not set")
    tap.ok(not lab.vmm_children() and not zombies_of(lab.daemon.pid), "no VMM left after the noop jobs, nor a zombie")


def test_sigterm(lab):
    p = lab.ctl("boot", "--runs", "20", "--no-wait")
    job_id = int(p.stdout.strip() or 0)
    wait_for(lambda: lab.vmm_children(), 60, "a VMM child of virtlabd")
    pids = lab.vmm_children()
    rc = lab.stop_daemon(signal.SIGTERM)
    tap.ok(rc == 0 and not any(pid_alive(x) for x in pids), "SIGTERM mid-job: virtlabd exits 0, its VMM reaped",
           f"rc={rc} alive={[x for x in pids if pid_alive(x)]}")
    return job_id


def main():
    if not os.access(OLD_KERNEL, os.X_OK):
        tap.ok(False, f"{OLD_KERNEL} is built", "run: make check (it builds tests/old-kernel)")
        tap.done()
    lab = Lab(wrapper=[OLD_KERNEL], start_timeout=30)
    try:
        lab.start_daemon()
        test_daemon_without_pidfd(lab)
        test_boot(lab)
        test_memory(lab)
        test_timeout(lab)
        test_cancel(lab)
        test_kvm_sample(lab)
        test_noop_kvm(lab)
        job_id = test_sigterm(lab)
        lab.start_daemon()
        p, doc = lab.ctl_json("results", str(job_id))
        tap.ok(doc and doc["state"] == "failed" and "SIGTERM" in (doc["error"] or ""),
               "the job stopped by SIGTERM says so after a restart", p.stdout[:300])
    except Exception as e:  # noqa: BLE001 - a crash of the harness is one failure, with its reason
        tap.ok(False, "the old-kernel scenario ran to the end", f"{e!r}\n{lab.log_tail()}")
    finally:
        lab.close()
    tap.done()


main()
