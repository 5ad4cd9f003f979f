"""Helpers for integration tests: a private dbus-daemon, a real virtlabd on
it, the real virtlabctl, and TAP output.  Nothing here fakes a component."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
# The real StratoVirt the tests drive ($VIRTLAB_STRATOVIRT, relative to the
# repository), and whether it can be run.
SV = os.environ.get("VIRTLAB_STRATOVIRT", "")
if SV and not os.path.isabs(SV):
    SV = os.path.join(ROOT, SV)
HAVE_SV = bool(SV) and os.access(SV, os.X_OK)
IMAGE_DIR = os.environ.get("IMAGE_DIR", os.path.join(ROOT, "build/images/default"))

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {what}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {what}", flush=True)
            for line in str(detail).splitlines()[-15:]:
                print(f"#   {line}", flush=True)
        return cond

    def skip(self, what, why):
        self.n += 1
        print(f"ok {self.n} - {what} # SKIP {why}", flush=True)

    def schema(self, doc, what, schema="result.schema.json"):
        """One TAP line: doc validates against schemas/<schema> (skip if jsonschema is missing)."""
        label = f"{what} matches schemas/{schema}"
        try:
            import jsonschema
        except ImportError:
            self.skip(label, "python3-jsonschema not installed")
            return
        with open(os.path.join(ROOT, "schemas", schema)) as f:
            spec = json.load(f)
        try:
            jsonschema.validate(doc, spec)
            self.ok(True, label)
        except jsonschema.ValidationError as e:
            self.ok(False, label, e.message)

    def done(self):
        # Called from a `finally:` while an exception unwinds (the script
        # crashed): sys.exit() here would swallow it and the run would look
        # clean with fewer tests.  A crash is a failure.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, SystemExit):
            import traceback
            self.ok(False, f"the test script ran to its end (it raised {type(exc).__name__})",
                    "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


class Lab:
    """A private bus and a virtlabd on it, torn down on exit.  wrapper is a
    command the daemon runs under (["valgrind", …], [old-kernel]); the
    daemon's pid is then the wrapper's, as both exec in place."""

    def __init__(self, wrapper=None, start_timeout=10):
        self.wrapper = list(wrapper or [])
        self.start_timeout = start_timeout
        self.tmp = tempfile.mkdtemp(prefix="virtlab-test-")
        self.bus_path = os.path.join(self.tmp, "bus")
        self.address = "unix:path=" + self.bus_path
        self.state_dir = os.path.join(self.tmp, "state")
        conf = os.path.join(self.tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONF.format(path=self.bus_path))
        # Its words ("Failed to set fd limit" as root without CAP_SYS_RESOURCE)
        # go to a log, not the test's output.
        self.bus_log = os.path.join(self.tmp, "dbus-daemon.log")
        with open(self.bus_log, "w") as log:
            self.bus = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork", "--nopidfile"],
                                        stdout=log, stderr=log)
        wait_for(lambda: os.path.exists(self.bus_path), 10, "dbus-daemon socket")
        self.daemon = None
        self.daemon_log = os.path.join(self.tmp, "virtlabd.log")

    def env(self):
        e = dict(os.environ)
        e["VIRTLAB_BUS"] = self.address
        return e

    def start_daemon(self, *extra, env=None, prefix=()):
        log = open(self.daemon_log, "a")
        self.daemon = subprocess.Popen([*self.wrapper, *prefix, os.path.join(BUILD, "virtlabd"), "--state-dir",
                                        self.state_dir, "--image-dir", IMAGE_DIR, *extra],
                                       env={**self.env(), **(env or {})}, stdout=log, stderr=log)
        wait_for(lambda: self.daemon.poll() is not None or self.ctl("describe", "--json").returncode == 0,
                 self.start_timeout, "virtlabd on the bus")
        if self.daemon.poll() is not None:
            raise RuntimeError(f"virtlabd exited with status {self.daemon.returncode}: {self.log_tail()}")
        return self.daemon

    def ctl(self, *args, timeout=600):
        return subprocess.run([os.path.join(BUILD, "virtlabctl"), *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def ctl_json(self, *args, timeout=600):
        p = self.ctl(*args, "--json", timeout=timeout)
        try:
            return p, json.loads(p.stdout)
        except ValueError:
            return p, None

    def vmm_children(self):
        """PIDs of processes whose parent is the daemon (its VMMs)."""
        if not self.daemon:
            return []
        return children_of(self.daemon.pid)

    def stop_daemon(self, sig=signal.SIGTERM, timeout=30):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(sig)
            try:
                self.daemon.wait(timeout)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        rc = self.daemon.returncode if self.daemon else None
        self.daemon = None
        return rc

    def log_tail(self):
        try:
            with open(self.daemon_log) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def close(self):
        self.stop_daemon()
        self.bus.terminate()
        self.bus.wait()
        subprocess.run(["rm", "-rf", self.tmp])


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")
