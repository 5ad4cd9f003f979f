#!/usr/bin/python3
"""virtlabd under valgrind (memcheck) through real work: a boot job, a memory
job, a failed (timed-out) run, a canceled job, a queued job canceled, a
client that dies mid-job, an mtree job, a compare job on the noop guest
(StratoVirt too when $VIRTLAB_STRATOVIRT names it), a kvm-sample job, bad
input, then SIGTERM mid-job, a restart that finds the interrupted job, and
SIGTERM when idle.  Each daemon process must end with zero errors (invalid reads or
writes, uses of uninitialised values, bad frees) and zero definitely-lost
bytes: valgrind's --error-exitcode makes any of them its exit status, and
the log's summary lines are checked too.  Real dbus-daemon, real virtlabctl,
real QEMU (TCG here; valgrind slows the daemon, not the VMs).

valgrind gives no pidfd_open (ENOSYS, as Linux 4.19 would), so this also
runs child.c's SIGCHLD supervision.  Run by `make check-valgrind`, which
builds a -O1 -g build without sanitizers into build-valgrind/.
TAP, see tests/README.md."""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from virtlab_test import BUILD, Lab, Tap, pid_alive, wait_for  # noqa: E402

SUPP = os.path.join(HERE, "virtlabd.supp")
tap = Tap()
_t0 = time.monotonic()


def note(what):
    """A TAP comment with the time since start: where the minutes go in CI."""
    print(f"# {time.monotonic() - _t0:6.1f} s  {what}", flush=True)


def valgrind_cmd(logdir):
    return ["valgrind", "--quiet", "--leak-check=full", "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite", "--error-exitcode=99", "--track-fds=no",
            "--num-callers=30", f"--suppressions={SUPP}", f"--log-file={logdir}/valgrind.%p.log"]


def check_log(path, what, rc):
    """One TAP line: the valgrind log of one daemon process is clean."""
    with open(path) as f:
        text = f.read()
    # With --quiet the log holds only errors and leak records; a clean run
    # leaves it empty.  The "definitely lost" record names our frames.
    errors = re.findall(r"^==\d+== (?:Invalid|Conditional|Use of uninit|Syscall param|Mismatched|"
                        r"Source and destination|Argument|.*definitely lost)", text, re.M)
    tap.ok(rc == 0 and not errors, f"{what}: exit 0, no memcheck errors, no definite leak",
           f"rc={rc} (99 = valgrind found errors)\n{text[:6000]}")


def job_state(lab, job_id):
    p, doc = lab.ctl_json("results", str(job_id))
    return doc.get("state") if doc else None


def first_session(lab):
    lab.start_daemon()
    log = lab.log_tail()
    tap.ok("Child supervision: SIGCHLD + waitpid per child" in log,
           "under valgrind the daemon falls back to SIGCHLD supervision (no pidfd_open)", log)
    p, d = lab.ctl_json("describe")
    tap.ok(p.returncode == 0 and d and any(v["name"] == "qemu" and v["available"] for v in d.get("vmms", [])),
           "describe (its QEMU version probe ran)", p.stderr)

    note("boot job")
    p, doc = lab.ctl_json("boot", "--runs", "2", "--warmup", "1")
    tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "boot job done", p.stderr + lab.log_tail())

    note("memory job")
    p, doc = lab.ctl_json("memory", "--runs", "1", "--warmup", "0", "--memory", "256")
    tap.ok(p.returncode == 0 and doc and doc["state"] == "done" and doc["runs"][0]["rss_kib"] > 0,
           "memory job done", p.stderr + lab.log_tail())

    note("timed-out run")
    p, doc = lab.ctl_json("boot", "--runs", "1", "--warmup", "0", "--timeout", "1")
    tap.ok(p.returncode == 1 and doc and doc["state"] == "failed", "a run past its timeout fails the job",
           (doc or {}).get("error", p.stderr))

    p = lab.ctl("boot", "--runs", "1", "--accel", "warp")
    tap.ok(p.returncode == 2, "bad input is refused", p.stderr)

    note("cancel mid-job")
    p = lab.ctl("memory", "--runs", "5", "--warmup", "0", "--settle-ms", "20000", "--no-wait")
    job_id = int(p.stdout.strip() or 0)
    wait_for(lambda: lab.vmm_children(), 60, "a VMM child of virtlabd")
    pids = lab.vmm_children()
    c = lab.ctl("cancel", str(job_id))
    wait_for(lambda: job_state(lab, job_id) is not None, 60, "the canceled job's result")
    wait_for(lambda: not any(pid_alive(x) for x in pids), 20, "the VMM to go")
    tap.ok(c.returncode == 0 and job_state(lab, job_id) == "canceled", "cancel mid-job", c.stderr)

    note("queue + cancel queued")
    a = int(lab.ctl("boot", "--vmm", "qemu-microvm", "--runs", "1", "--warmup", "0", "--no-wait").stdout or 0)
    b = int(lab.ctl("boot", "--vmm", "qemu-microvm", "--runs", "1", "--warmup", "0", "--no-wait").stdout or 0)
    c = lab.ctl("cancel", str(b))
    wait_for(lambda: job_state(lab, a) is not None and job_state(lab, b) is not None, 120, "both queued jobs")
    tap.ok(c.returncode == 0 and job_state(lab, a) == "done" and job_state(lab, b) == "canceled",
           "a queued job canceled before it ran, the one ahead done", c.stderr)

    note("client dies mid-job")
    client = subprocess.Popen([os.path.join(BUILD, "virtlabctl"), "boot", "--runs", "20", "--json"], env=lab.env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: lab.vmm_children(), 60, "a VMM child of virtlabd")
    pids = lab.vmm_children()
    client.kill()
    client.wait()
    wait_for(lambda: not any(pid_alive(x) for x in pids) and not lab.vmm_children(), 60, "the VMM to go")

    def last_row():
        p, rows = lab.ctl_json("results", "--limit", "1")
        return rows[0] if rows else {}
    wait_for(lambda: last_row().get("state") not in (None, "queued", "running"), 60, "the client's job to end")
    tap.ok(last_row().get("state") == "canceled", "a client killed mid-job cancels its job", json.dumps(last_row()))

    note("mtree job")
    p, doc = lab.ctl_json("mtree", "--vmm", "qemu", "--device", "edu", "--flat", timeout=120)
    tap.ok(p.returncode == 0 and doc and doc.get("state") == "done", "mtree job done (HMP info mtree parsed)",
           p.stderr)

    note("compare on noop + kvm-sample")
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        vmms = "qemu-microvm,qemu" + (",stratovirt" if os.environ.get("VIRTLAB_STRATOVIRT") else "")
        p = lab.ctl("compare", "--vmm", vmms, "--image", "noop", "--runs", "2", "--warmup", "0", "--settle-ms", "100",
                    "--experiments", "boot,memory",
                    timeout=300)
        tap.ok(p.returncode == 0, f"compare {vmms} --image noop (boot, memory) done", p.stdout[-800:] + p.stderr)
        p, doc = lab.ctl_json("kvm-sample", "--runs", "1", "--warmup", "0")
        tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "kvm-sample job done", p.stderr)
    else:
        tap.skip("compare on the noop guest", "/dev/kvm is absent or not writable")
        tap.skip("kvm-sample job done", "/dev/kvm is absent or not writable")

    note("results")
    p, rows = lab.ctl_json("results", "--limit", "10")
    tap.ok(p.returncode == 0 and rows and len(rows) >= 4, "results lists the jobs", p.stderr)

    note("SIGTERM mid-job")
    p = lab.ctl("boot", "--runs", "20", "--no-wait")
    interrupted = int(p.stdout.strip() or 0)
    wait_for(lambda: lab.vmm_children(), 60, "a VMM child of virtlabd")
    pids = lab.vmm_children()
    pid = lab.daemon.pid
    rc = lab.stop_daemon(signal.SIGTERM, timeout=120)
    tap.ok(not any(pid_alive(x) for x in pids), "SIGTERM mid-job: the VMM was reaped")
    note("daemon stopped (valgrind's leak check included)")
    return pid, rc, interrupted


def second_session(lab, interrupted):
    lab.start_daemon()
    p, doc = lab.ctl_json("results", str(interrupted))
    tap.ok(doc and doc["state"] == "failed" and "SIGTERM" in (doc.get("error") or ""),
           "after a restart the job stopped by SIGTERM says so", p.stdout[:300] + p.stderr)
    pid = lab.daemon.pid
    rc = lab.stop_daemon(signal.SIGTERM, timeout=120)
    return pid, rc


def main():
    lab = None
    try:
        if os.system("valgrind --version >/dev/null 2>&1") != 0:
            tap.skip("virtlabd under valgrind", "valgrind is not installed (apt-get install valgrind)")
            tap.done()
        lab = Lab(start_timeout=120)
        lab.wrapper = valgrind_cmd(lab.tmp)
        pid1, rc1, interrupted = first_session(lab)
        check_log(os.path.join(lab.tmp, f"valgrind.{pid1}.log"), "jobs, cancel, SIGTERM mid-job", rc1)
        pid2, rc2 = second_session(lab, interrupted)
        check_log(os.path.join(lab.tmp, f"valgrind.{pid2}.log"), "restart, SIGTERM when idle", rc2)
        # Each fork gets a log too (valgrind follows it up to its exec, then
        # lets the VMM run natively): what child.c does between fork and
        # exec is checked as well.
        forks = [g for g in glob.glob(os.path.join(lab.tmp, "valgrind.*.log"))
                 if not g.endswith((f".{pid1}.log", f".{pid2}.log"))]
        dirty = {g: open(g).read()[:2000] for g in forks if os.path.getsize(g) > 0}
        tap.ok(forks and not dirty, f"{len(forks)} forked children, from fork to exec: no memcheck errors",
               json.dumps(dirty, indent=1))
    except Exception as e:  # noqa: BLE001 - a harness crash is one failure, with its reason
        tap.ok(False, "the valgrind scenario ran to the end", f"{e!r}\n{lab.log_tail() if lab else ''}")
    finally:
        if lab:
            lab.close()
    tap.done()


main()
