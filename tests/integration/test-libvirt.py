#!/usr/bin/python3
"""The libvirt VMM against a real libvirtd: virtlogd and libvirtd started
here as plain processes, in their own mount namespace (private /etc/libvirt,
/run/libvirt, /var/lib|cache|log/libvirt) with their socket in our temp dir,
so no system libvirtd is touched.  Boots the noop guest through libvirt
under TCG (phases from libvirt's steps and lifecycle events plus the serial
marker), checks nothing is left (virsh list --all), compare qemu,libvirt,
memory and mtree through libvirt, Describe's libvirt facts, clear errors
(unreachable, refusing URI, a domain that fails to start, a name
collision), and the clean-up of a SIGKILLed daemon's domains on restart.
Skips visibly only where libvirtd cannot start."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import Lab, Tap, wait_for  # noqa: E402

tap = Tap()
NOOP = ["--image", "noop", "--accel", "tcg"]

START = """set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/libvirt /run/lock
mount --bind {t}/run /run/libvirt
mount --bind {t}/etc /etc/libvirt
mount --bind {t}/lib /var/lib/libvirt
mount --bind {t}/cache /var/cache/libvirt
mount --bind {t}/log /var/log/libvirt
/usr/sbin/virtlogd &
exec /usr/sbin/libvirtd -f {t}/etc/libvirtd.conf
"""


class Libvirtd:
    """A private virtlogd + libvirtd in a new session and mount namespace."""

    def __init__(self):
        self.t = tempfile.mkdtemp(prefix="virtlab-libvirtd-")
        for d in ("etc", "run", "lib", "cache", "log", "sock"):
            os.makedirs(os.path.join(self.t, d))
        shutil.copytree("/etc/libvirt", os.path.join(self.t, "etc"), dirs_exist_ok=True)
        with open(os.path.join(self.t, "etc/libvirtd.conf"), "w") as f:
            f.write(f'unix_sock_dir = "{self.t}/sock"\nunix_sock_rw_perms = "0700"\n'
                    'auth_unix_rw = "none"\nauth_unix_ro = "none"\n')
        # No cgroups (they are the host's, shared); QEMU as libvirt-qemu in
        # the group that owns /dev/kvm here (libvirt re-probes QEMU on every
        # start when its user cannot open /dev/kvm).
        kvm_group = subprocess.run(["stat", "-c", "%G", "/dev/kvm"], capture_output=True, text=True).stdout.strip()
        with open(os.path.join(self.t, "etc/qemu.conf"), "w") as f:
            f.write(f'cgroup_controllers = [ ]\nuser = "libvirt-qemu"\ngroup = "{kvm_group or "kvm"}"\n')
        with open(os.path.join(self.t, "start.sh"), "w") as f:
            f.write(START.format(t=self.t))
        self.uri = f"qemu:///system?socket={self.t}/sock/libvirt-sock"
        self.log = open(os.path.join(self.t, "libvirtd.log"), "w")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", self.t + "/start.sh"],
                                     stdout=self.log, stderr=self.log, start_new_session=True)

    def ready(self, timeout=30):
        try:
            wait_for(lambda: self.virsh("version").returncode == 0 or self.proc.poll() is not None, timeout,
                     "libvirtd")
        except TimeoutError:
            return False
        return self.proc.poll() is None

    def virsh(self, *args):
        return subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True, text=True, timeout=60)

    def domains(self, prefix=""):
        p = self.virsh("list", "--all", "--name")
        return [n for n in p.stdout.split() if n.startswith(prefix)]

    def tail(self):
        with open(os.path.join(self.t, "libvirtd.log")) as f:
            return f.read()[-2000:]

    def stop(self):
        # Our own session: libvirtd, virtlogd and any QEMU they left.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        subprocess.run(["rm", "-rf", self.t])


def runs_ok(doc):
    return doc and doc.get("state") == "done" and all(r.get("ok") for r in doc.get("runs", []))


def test_unreachable_describe():
    lab = Lab()
    try:
        lab.start_daemon("--libvirt-uri", "qemu:///system?socket=/nonexistent/virtlab-libvirt-sock")
        p, d = lab.ctl_json("describe")
        lv = (d or {}).get("libvirt", {})
        tap.ok(lv.get("reachable") is False and "libvirt unreachable" in lv.get("error", ""),
               "describe without libvirtd: 'libvirt unreachable: ...'", lv)
        p, doc = lab.ctl_json("boot", "--vmm", "libvirt", *NOOP, "--runs", "1")
        err = (doc or {}).get("error") or p.stderr
        tap.ok(p.returncode == 1 and "libvirt unreachable at" in err and "No such file" in err,
               "boot through an unreachable libvirt fails with libvirt's words", err)
        p, d = lab.ctl_json("describe")
        tap.ok(p.returncode == 0, "the daemon keeps serving after it", p.stderr)
    finally:
        lab.close()


def boot_checks(lab, lv, prefix):
    p, doc = lab.ctl_json("boot", "--vmm", "libvirt", *NOOP, "--runs", "2", timeout=300)
    if not tap.ok(p.returncode == 0 and runs_ok(doc), "boot --vmm libvirt --image noop (TCG) succeeds",
                  p.stderr + lab.log_tail() + lv.tail()):
        return None
    tap.schema(doc, "libvirt boot result")
    r = doc["runs"][-1]
    order = ["t_libvirt_created_ms", "t_libvirt_console_open_ms", "t_libvirt_resumed_ms", "t_console_ms", "t_init_ms"]
    vals = [r.get(k) for k in order]
    tap.ok(all(isinstance(v, (int, float)) for v in vals) and vals == sorted(vals) and r["boot_ms"] == r["t_init_ms"],
           "phases: created (paused) <= console open <= resumed <= first serial byte <= marker",
           {k: r.get(k) for k in order})
    tap.ok(isinstance(r.get("t_libvirt_event_started_ms"), float) and isinstance(r.get("t_qmp_ms"), float),
           "libvirt's lifecycle event 'started' and the QMP greeting (relay) are timed",
           {k: v for k, v in r.items() if k.startswith("t_")})
    argv = r.get("vmm_argv") or []
    tap.ok("-name" in argv and any(a.startswith("guest=" + prefix) for a in argv) and "tcg" in argv,
           "vmm_argv is QEMU's command line as libvirt built it, domain named with the daemon's prefix", argv[:12])
    tap.ok(lv.domains(prefix) == [] and lv.domains() == [], "nothing left after the job: virsh list --all is empty",
           lv.virsh("list", "--all").stdout)
    return doc


def describe_blocking(lab, during):
    """Describe latencies (ms) while during() runs a libvirt job."""
    lat, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            t0 = time.monotonic()
            lab.ctl("describe", "--json", timeout=60)
            lat.append((time.monotonic() - t0) * 1000)
    base = []
    for _ in range(5):
        t0 = time.monotonic()
        lab.ctl("describe", "--json")
        base.append((time.monotonic() - t0) * 1000)
    th = threading.Thread(target=poll)
    th.start()
    try:
        result = during()
    finally:
        stop.set()
        th.join()
    return result, sorted(base), sorted(lat)


def test_compare_memory_mtree(lab, lv):
    def compare():
        return lab.ctl_json("compare", "--vmm", "qemu,libvirt", *NOOP, "--runs", "3", timeout=400)
    (p, doc), base, lat = describe_blocking(lab, compare)
    ok = tap.ok(p.returncode == 0 and runs_ok(doc), "compare --vmm qemu,libvirt --runs 3 in one job",
                p.stderr + lab.log_tail())
    if ok:
        cmp = [c for c in doc.get("comparisons", []) if c.get("metric") == "boot_ms"]
        tap.ok(bool(cmp) and all("p_permutation" in c or "p" in c or "verdict" in c for c in cmp),
               "compare: boot_ms compared with a significance verdict", cmp)
        by = doc.get("summary_by_vmm", {})
        q, l = by.get("qemu", {}).get("boot_ms", {}), by.get("libvirt", {}).get("boot_ms", {})
        print(f"# boot_ms qemu {q.get('mean')} libvirt {l.get('mean')}", flush=True)
        for k in ("t_libvirt_created_ms", "t_libvirt_resumed_ms", "t_console_ms"):
            vals = [r.get(k) for r in doc["runs"] if r.get("vmm") == "libvirt" and not r.get("warmup")]
            print(f"# libvirt {k}: {vals}", flush=True)
    if lat:
        print(f"# Describe ms idle {base[len(base) // 2]:.0f} (median); during the compare median "
              f"{lat[len(lat) // 2]:.0f}, max {lat[-1]:.0f}, n {len(lat)}", flush=True)
        tap.ok(lat[-1] < 30000, "Describe keeps answering while domains are created and destroyed", lat[-5:])
    tap.ok(lv.domains() == [], "nothing left after the compare", lv.virsh("list", "--all").stdout)
    p, doc = lab.ctl_json("memory", "--vmm", "libvirt", *NOOP, "--runs", "1", timeout=300)
    r = (doc or {}).get("runs", [{}])[-1]
    tap.ok(p.returncode == 0 and runs_ok(doc) and r.get("rss_kib", 0) > 0 and r.get("guest_ram_rss_kib", 0) > 0,
           "memory through libvirt: smaps of libvirt's QEMU, guest RAM found by HMP gpa2hva",
           p.stderr + str({k: r.get(k) for k in ("rss_kib", "guest_ram_rss_kib", "error")}))
    env = ((doc or {}).get("environment") or {}).get("vmms", [{}])[0]
    tap.ok("libvirt" in (env.get("caveat") or "") and "pagemap" in (env.get("caveat") or ""),
           "the result says what differs through libvirt (QEMU's user, gpa2hpa vs our pagemap)", env)
    p = lab.ctl("mtree", "--vmm", "libvirt", "--device", "edu", "--accel", "tcg", timeout=300)
    tap.ok(p.returncode == 0 and "edu-mmio" in p.stdout and "pc.ram" in p.stdout,
           "mtree --device edu through libvirt: QEMU's info mtree via virDomainQemuMonitorCommand, edu mapped",
           p.stderr[-1500:] + p.stdout[-500:])
    tap.ok(lv.domains() == [], "nothing left after memory and mtree", lv.virsh("list", "--all").stdout)


def test_bad_input(lab, lv, prefix):
    p, doc = lab.ctl_json("boot", "--vmm", "libvirt", *NOOP, "--runs", "1", "--param", "libvirt_uri=bogus:///nothing")
    err = (doc or {}).get("error") or p.stderr
    tap.ok(p.returncode == 1 and "libvirt unreachable at bogus:///nothing" in err, "a URI libvirt refuses: its words",
           err)
    p = lab.ctl("boot", "--vmm", "qemu", *NOOP, "--param", "libvirt_uri=" + lv.uri)
    tap.ok(p.returncode == 2 and "libvirt_uri" in p.stderr, "libvirt_uri without the libvirt VMM is refused", p.stderr)
    # A name collision: a persistent domain holds the name the next run
    # takes (job ids are the store's row ids; a refused request adds none).
    n = (doc or {}).get("job_id", 0) + 1
    name = f"{prefix}j{n}-r0-v0"
    xml = os.path.join(lv.t, "collide.xml")
    with open(xml, "w") as f:
        f.write(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory><os><type arch='x86_64' "
                "machine='q35'>hvm</type></os></domain>")
    d = lv.virsh("define", xml)
    p, doc = lab.ctl_json("boot", "--vmm", "libvirt", *NOOP, "--runs", "1", "--warmup", "0")
    err = (doc or {}).get("error") or p.stderr
    tap.ok(d.returncode == 0 and p.returncode == 1 and "already exists" in err and name in err,
           "a name collision: libvirt's error quoted", d.stderr + err)
    lv.virsh("undefine", name)
    # A domain that fails to start: an emulator libvirt cannot probe.
    fake = os.path.join(lv.t, "fake-qemu")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\n[ \"$1\" = --version ] && echo 'QEMU emulator version 7.2.0' && exit 0\nexit 1\n")
    os.chmod(fake, 0o755)
    lab.stop_daemon()
    lab.start_daemon("--libvirt-uri", lv.uri, env={"VIRTLAB_QEMU": fake})
    p, doc = lab.ctl_json("boot", "--vmm", "libvirt", *NOOP, "--runs", "1", "--warmup", "0")
    err = (doc or {}).get("error") or p.stderr
    tap.ok(p.returncode == 1 and "libvirt could not start domain" in err and fake in err,
           "a domain that fails to start: libvirt's error quoted", err)
    tap.ok(lab.ctl("describe", "--json").returncode == 0 and lv.domains() == [],
           "the daemon keeps serving, nothing left", lv.virsh("list", "--all").stdout)
    lab.stop_daemon()
    lab.start_daemon("--libvirt-uri", lv.uri)


def test_sigkill_restart(lab, lv, prefix):
    p = lab.ctl("boot", "--vmm", "libvirt", *NOOP, "--runs", "20", "--no-wait")
    # Each noop run's domain lives for milliseconds, so the daemon is frozen
    # while the test looks: the kill then lands while a domain exists (a
    # domain seen, then gone before the kill, was a flake under ASan).
    left, deadline = [], time.monotonic() + 60
    while not left and time.monotonic() < deadline:
        lab.daemon.send_signal(signal.SIGSTOP)
        left = lv.domains(prefix)
        if not left:
            lab.daemon.send_signal(signal.SIGCONT)
            time.sleep(0.02)
    lab.stop_daemon(signal.SIGKILL)
    still = lv.domains(prefix)
    tap.ok(p.returncode == 0 and bool(left) and bool(still),
           "SIGKILL mid-job leaves libvirt's domain running (libvirtd owns QEMU)", (p.stderr, left, still))
    lab.start_daemon("--libvirt-uri", lv.uri)
    tap.ok(lv.domains(prefix) == [], "a restarted daemon destroys the domains its predecessor left",
           lv.virsh("list", "--all").stdout + lab.log_tail())
    lab.ctl("describe")


def test_sigterm(lab, lv, prefix):
    p = lab.ctl("boot", "--vmm", "libvirt", *NOOP, "--runs", "20", "--no-wait")
    try:
        wait_for(lambda: lv.domains(prefix), 60, "a running domain")
    except TimeoutError:
        pass
    had = bool(lv.domains(prefix))
    rc = lab.stop_daemon(signal.SIGTERM)
    tap.ok(p.returncode == 0 and had and rc == 0 and lv.domains() == [],
           "SIGTERM destroys the running domain before the daemon exits", (had, rc, lv.domains()))
    lab.start_daemon("--libvirt-uri", lv.uri)


def main():
    if not shutil.which("libvirtd") and not os.path.exists("/usr/sbin/libvirtd"):
        tap.skip("libvirt VMM", "libvirtd is not installed (libvirt-daemon-system)")
        tap.done()
    test_unreachable_describe()
    lv = Libvirtd()
    if not lv.ready():
        tap.skip("libvirt VMM against a private libvirtd", "libvirtd could not start: " + lv.tail()[-300:])
        lv.stop()
        tap.done()
    lab = Lab()
    try:
        lab.start_daemon("--libvirt-uri", lv.uri)
        p, d = lab.ctl_json("describe")
        info = (d or {}).get("libvirt", {})
        prefix = info.get("domain_prefix", "virtlab-")
        tap.ok(info.get("reachable") and info.get("libvirt_version") and info.get("hypervisor_version")
               and info.get("node", {}).get("cpus") and info.get("domain_capabilities", {}).get("qemu", {})
               .get("supported") and prefix.startswith("virtlab-"),
               "describe: libvirt and hypervisor versions, node info, domain capabilities, name prefix", info)
        boot_checks(lab, lv, prefix)
        test_compare_memory_mtree(lab, lv)
        test_bad_input(lab, lv, prefix)
        test_sigterm(lab, lv, prefix)
        test_sigkill_restart(lab, lv, prefix)
    finally:
        lab.close()
        left = lv.domains()
        lv.stop()
    tap.ok(left == [], "nothing left on the private libvirtd at the end", left)
    tap.done()


main()
