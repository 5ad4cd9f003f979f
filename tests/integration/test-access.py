#!/usr/bin/python3
"""Who may do what, tested as users would meet it: a real dbus-daemon whose
configuration is the system bus's own (/usr/share/dbus-1/system.conf, made
to listen on a private socket) including our shipped policy
(systemd/org.virtlab.Lab1.conf); virtlabd as root on it; real users made
for the test (a member of group virtlab, one who is not) calling through
virtlabctl run with setpriv.  Checks docs/security.md's access model:
- the member describes, starts (a noop boot), cancels, passes its own image
  directory and disk as files; files it cannot read itself (an image naming
  /etc/shadow, a root-only disk) are refused before virtlabd sees them;
- a path in a raw StartExperiment is refused: virtlabd never opens it;
- the outsider is turned away by the bus policy;
- with a policy that lets everyone talk, virtlabd itself still refuses to
  start or cancel for a non-member (the in-daemon check), while read-only
  calls work.
The users, and the group if it did not exist, are removed at the end.
Needs root, setpriv, useradd; skipped visibly otherwise."""
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import BUILD, IMAGE_DIR, ROOT, Tap, wait_for  # noqa: E402

tap = Tap()
MEMBER, OUTSIDER, GROUP = "vltest-member", "vltest-outsider", "virtlab"
SYSTEM_CONF = "/usr/share/dbus-1/system.conf"
POLICY = os.path.join(ROOT, "systemd", "org.virtlab.Lab1.conf")
NOOP = os.path.join(os.path.dirname(IMAGE_DIR), "noop")
CTL = os.path.join(BUILD, "virtlabctl")


def bus_config(path, socket, policy):
    """system.conf as the real system bus reads it, listening on socket, with only our policy included."""
    text = open(SYSTEM_CONF).read()
    text = re.sub(r"<listen>.*?</listen>", f"<listen>unix:path={socket}</listen>", text)
    for tag in ("fork", "standard_system_servicedirs", "syslog"):
        text = text.replace(f"<{tag}/>", "")
    text = re.sub(r"<(pidfile|servicehelper|servicedir|includedir)>.*?</\1>", "", text)
    text = re.sub(r"<include[^>]*>.*?</include>", "", text)
    text = text.replace("</busconfig>", f"<include>{policy}</include>\n</busconfig>")
    with open(path, "w") as f:
        f.write(text)


class Bus:
    def __init__(self, tmp, policy, name):
        self.socket = os.path.join(tmp, name + ".sock")
        conf = os.path.join(tmp, name + ".conf")
        bus_config(conf, self.socket, policy)
        self.log = open(os.path.join(tmp, name + ".log"), "w")
        self.proc = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile"],
                                     stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.socket), 10, "dbus-daemon socket")
        self.address = "unix:path=" + self.socket
        self.daemon = None

    def start_daemon(self, tmp):
        state = os.path.join(tmp, "state-" + os.path.basename(self.socket))
        self.daemon_log = os.path.join(tmp, "virtlabd-" + os.path.basename(self.socket) + ".log")
        self.daemon = subprocess.Popen([os.path.join(BUILD, "virtlabd"), "--bus", self.address, "--state-dir", state,
                                        "--image-dir", IMAGE_DIR], stdout=open(self.daemon_log, "w"),
                                       stderr=subprocess.STDOUT)
        wait_for(lambda: self.ctl_as(None, "describe").returncode == 0, 15, "virtlabd on the bus")

    def ctl_as(self, user, *args, timeout=300):
        who = [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        return subprocess.run([*who, CTL, "--bus", self.address, *args], capture_output=True, text=True,
                              timeout=timeout, cwd="/")

    def close(self):
        for p in (self.daemon, self.proc):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def ensure_users():
    made = []
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        run("groupadd", "--system", GROUP)
        made.append(("group", GROUP))
    for user, groups in ((MEMBER, [GROUP]), (OUTSIDER, [])):
        try:
            pwd.getpwnam(user)
            run("userdel", user)
        except KeyError:
            pass
        run("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group",
            *(["--groups", ",".join(groups)] if groups else []), user)
        made.append(("user", user))
    return made


def remove(made):
    for kind, name in reversed(made):
        subprocess.run(["userdel" if kind == "user" else "groupdel", name], capture_output=True)


def job_state(bus, job):
    p = bus.ctl_as(None, "results", job, "--json")
    try:
        return json.loads(p.stdout).get("state")
    except ValueError:
        return None


def member_image(tmp, initrd=None):
    """A copy of the noop image the member can read (paths relative to it)."""
    d = tempfile.mkdtemp(dir=tmp, prefix="img-")
    img = json.load(open(os.path.join(NOOP, "image.json")))
    for k in ("vmlinux", "raw", "initramfs"):
        shutil.copy(img[k], d)
        img[k] = os.path.basename(img[k])
    if initrd:
        img["initramfs"] = initrd
    json.dump(img, open(os.path.join(d, "image.json"), "w"))
    for root, dirs, files in os.walk(d):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return d


def test_member(bus, tmp):
    p = bus.ctl_as(MEMBER, "describe")
    tap.ok(p.returncode == 0 and "virtlabd" in p.stdout, "a member of group virtlab describes", p.stderr)
    p = bus.ctl_as(MEMBER, "boot", "--vmm", "qemu-microvm", "--image", "noop", "--runs", "1", "--warmup", "0", "--json")
    tap.ok(p.returncode == 0 and json.loads(p.stdout or "{}").get("state") == "done",
           "a member of group virtlab starts a job (noop boot) and it runs", p.stderr)
    p = bus.ctl_as(MEMBER, "memory", "--vmm", "qemu-microvm", "--image", "noop", "--memory", "256", "--runs", "1",
                   "--warmup", "0", "--settle-ms", "30000", "--no-wait")
    job = p.stdout.strip()
    ok = p.returncode == 0 and job.isdigit()
    if ok:
        wait_for(lambda: job_state(bus, job) is None, 5, "the job to be running")
        c = bus.ctl_as(MEMBER, "cancel", job)
        wait_for(lambda: job_state(bus, job) is not None, 30, "the canceled job to end")
        ok = c.returncode == 0 and job_state(bus, job) == "canceled"
    tap.ok(ok, "a member of group virtlab cancels a job", p.stderr)
    d = member_image(tmp)
    p = bus.ctl_as(MEMBER, "boot", "--vmm", "qemu-microvm", "--image", d, "--runs", "1", "--warmup", "0", "--json")
    doc = json.loads(p.stdout or "{}")
    argv = (doc.get("runs") or [{}])[-1].get("vmm_argv", [])
    tap.ok(p.returncode == 0 and doc.get("state") == "done" and any(a.startswith("/proc/self/fd/") for a in argv),
           "the member's own image directory, passed as files, boots (-kernel /proc/self/fd/N)", p.stderr + str(argv))
    d = member_image(tmp, initrd="/etc/shadow")
    p = bus.ctl_as(MEMBER, "boot", "--vmm", "qemu-microvm", "--image", d, "--runs", "1")
    tap.ok(p.returncode == 2 and "/etc/shadow" in p.stderr and "Permission denied" in p.stderr,
           "an image naming /etc/shadow is refused: the member cannot open it, and virtlabd never does", p.stderr)
    secret = os.path.join(tmp, "root-only.img")
    subprocess.run(["truncate", "-s", "128M", secret], check=True)
    os.chmod(secret, 0o600)
    p = bus.ctl_as(MEMBER, "bench", "fileio", "--quick", "--disk", secret)
    tap.ok(p.returncode == 2 and secret in p.stderr and "Permission denied" in p.stderr,
           "a disk the member cannot write is refused before virtlabd sees it", p.stderr)
    spec = json.dumps({"image": "/root", "runs": 1})
    p = subprocess.run(["setpriv", f"--reuid={MEMBER}", f"--regid={MEMBER}", "--init-groups", "--", "busctl",
                        "--address=" + bus.address, "call", "org.virtlab.Lab1", "/org/virtlab/Lab1", "org.virtlab.Lab1",
                        "StartExperiment", "ss", "boot", spec], capture_output=True, text=True, timeout=30)
    tap.ok(p.returncode != 0 and "passed as files" in p.stderr and "/root" in p.stderr,
           "a path in a raw StartExperiment is refused: virtlabd opens no path a caller names", p.stderr)


def test_outsider(bus):
    p = bus.ctl_as(OUTSIDER, "describe")
    tap.ok(p.returncode != 0 and ("AccessDenied" in p.stderr or "Rejected send message" in p.stderr),
           "a user outside group virtlab is turned away by the bus policy", p.stdout + p.stderr)
    p = bus.ctl_as(OUTSIDER, "boot", "--image", "noop", "--runs", "1")
    tap.ok(p.returncode != 0, "... and cannot start a job", p.stderr)


def test_daemon_check(tmp):
    """A policy that lets anyone talk: virtlabd's own check is what stands."""
    open_policy = os.path.join(tmp, "open-policy.conf")
    with open(open_policy, "w") as f:
        f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"\n'
                ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n<busconfig>\n'
                '<policy user="root"><allow own="org.virtlab.Lab1"/></policy>\n'
                '<policy context="default"><allow send_destination="org.virtlab.Lab1"/></policy>\n</busconfig>\n')
    bus = Bus(tmp, open_policy, "open")
    try:
        bus.start_daemon(tmp)
        p = bus.ctl_as(OUTSIDER, "describe")
        tap.ok(p.returncode == 0, "with an open policy, a non-member may describe (read-only)", p.stderr)
        p = bus.ctl_as(OUTSIDER, "boot", "--vmm", "qemu-microvm", "--image", "noop", "--runs", "1")
        tap.ok(p.returncode != 0 and "needs root or membership in group 'virtlab'" in p.stderr,
               "... but virtlabd itself refuses to start a job for a non-member", p.stderr)
        job = bus.ctl_as(None, "memory", "--vmm", "qemu-microvm", "--image", "noop", "--memory", "256", "--runs", "1",
                         "--warmup", "0", "--settle-ms", "30000", "--no-wait").stdout.strip()
        p = bus.ctl_as(OUTSIDER, "cancel", job)
        tap.ok(p.returncode != 0 and "needs root or membership" in p.stderr, "... or to cancel one", p.stderr)
        p = bus.ctl_as(OUTSIDER, "mtree", "--job", job)
        tap.ok(p.returncode != 0 and "needs root or membership" in p.stderr, "... or to attach to a job's VM", p.stderr)
        bus.ctl_as(None, "cancel", job)
    finally:
        bus.close()


why = None
if os.geteuid() != 0:
    why = "needs root (to make users and own the bus name)"
elif not all(shutil.which(c) for c in ("setpriv", "useradd", "groupadd", "dbus-daemon", "busctl")):
    why = "needs setpriv, useradd, groupadd, dbus-daemon and busctl"
elif not os.path.exists(SYSTEM_CONF):
    why = f"{SYSTEM_CONF} missing (dbus not installed)"
if why:
    tap.skip("access model with real users on a system-like bus", why)
else:
    tmp = tempfile.mkdtemp(prefix="virtlab-access-")
    os.chmod(tmp, 0o755)
    made = ensure_users()
    bus = None
    try:
        bus = Bus(tmp, POLICY, "system")
        bus.start_daemon(tmp)
        test_member(bus, tmp)
        test_outsider(bus)
        bus.close()
        bus = None
        test_daemon_check(tmp)
    finally:
        if bus:
            bus.close()
        remove(made)
        shutil.rmtree(tmp, ignore_errors=True)
    tap.ok(not any(u in (p.pw_name for p in pwd.getpwall()) for u in (MEMBER, OUTSIDER)), "test users removed")
tap.done()
