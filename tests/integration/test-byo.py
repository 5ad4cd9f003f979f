#!/usr/bin/python3
"""Bring your own guest, end to end on real QEMU: the distro kernel (PVH
vmlinux and bzImage) with an initramfs this test builds (busybox getty and
login with a known root password, the virtio and ext4 modules), a raw ext4
disk of its own, a marker regex; the console login (right password: the
command's output in the result; wrong password: a clear error, one
attempt), and the password nowhere (store, results, logs, console logs).
Each run sees the disk as it was (copy-on-write), and the file itself is
never written.  Bad input is refused naming the value: a kernel that is no
kernel, an ELF without PVH, a disk that is no image, a format that is not
the file's, a marker regex that does not compile, a guest that never
prints its marker (its console log kept), StratoVirt asked to type."""
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import BUILD, IMAGE_DIR, SV, Lab, Tap  # noqa: E402

tap = Tap()
PASSWORD = "byo-Pw-2718"
KERNEL = os.path.join(IMAGE_DIR, "vmlinux")
BZIMAGE = os.path.join(IMAGE_DIR, "bzImage")
MODULES = os.path.join(IMAGE_DIR, "bench-modules")
MKCPIO = os.path.join(IMAGE_DIR, "tools", "mkcpio")
MOD_ORDER = ["virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_mmio",
             "virtio_blk", "crc32c_generic", "crc16", "mbcache", "jbd2", "ext4"]

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
hostname byo
for m in %s; do [ -e /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null; done
# The disk: fresh in every run, or a run's write leaked into the next.
i=0
while [ ! -b /dev/vda ] && [ -e /lib/modules/virtio_blk.ko ] && [ $i -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt; then
        if [ -e /mnt/written ]; then echo BYO-DISK-DIRTY; else echo BYO-DISK-CLEAN; fi
        echo x > /mnt/written
        umount /mnt
fi
echo BYO-GUEST-UP
while true; do getty -L 115200 ttyS0 vt100; done
""" % " ".join(MOD_ORDER)


def build_initramfs(tmp):
    """A newc initramfs (the project's mkcpio) with busybox, our init, a root account with PASSWORD."""
    root = os.path.join(tmp, "root")
    for d in ("bin", "etc", "dev", "proc", "sys", "mnt", "root", "lib/modules", "tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    h = subprocess.run(["busybox", "mkpasswd", "-m", "sha512", PASSWORD], capture_output=True, text=True).stdout.strip()
    files = {"init": (INIT, 0o755), "etc/passwd": ("root:x:0:0:root:/root:/bin/sh\n", 0o644),
             "etc/shadow": (f"root:{h}:19000:0:99999:7:::\n", 0o600), "etc/group": ("root:x:0:\n", 0o644)}
    spec = ["dir /bin 0755 0 0", "dir /etc 0755 0 0", "dir /dev 0755 0 0", "dir /proc 0555 0 0", "dir /sys 0555 0 0",
            "dir /mnt 0755 0 0", "dir /root 0700 0 0", "dir /lib 0755 0 0", "dir /lib/modules 0755 0 0",
            "dir /tmp 1777 0 0", "nod /dev/console 0600 0 0 c 5 1", "nod /dev/null 0666 0 0 c 1 3",
            "file /bin/busybox /bin/busybox 0755 0 0"]
    for name, (text, mode) in files.items():
        path = os.path.join(root, name)
        with open(path, "w") as f:
            f.write(text)
        spec.append(f"file /{name} {path} {mode:o} 0 0")
    for m in MOD_ORDER:
        ko = os.path.join(MODULES, m + ".ko")
        if os.path.exists(ko):
            spec.append(f"file /lib/modules/{m}.ko {ko} 0644 0 0")
    with open(os.path.join(tmp, "spec"), "w") as f:
        f.write("\n".join(spec) + "\n")
    out = os.path.join(tmp, "byo.cpio")
    with open(out, "wb") as f:
        subprocess.run([MKCPIO, os.path.join(tmp, "spec")], stdout=f, check=True)
    return out


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def everything_of(lab, *docs):
    """Every byte the daemon kept: store, its log, console logs, the results."""
    text = b""
    for f in glob.glob(os.path.join(lab.state_dir, "**"), recursive=True):
        if os.path.isfile(f):
            with open(f, "rb") as fh:
                text += fh.read()
    with open(lab.daemon_log, "rb") as fh:
        text += fh.read()
    for d in docs:
        text += repr(d).encode()
    return text


def console_log(doc):
    r = (doc or {}).get("runs", [{}])[-1]
    try:
        with open(r.get("console_log", ""), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def boot(lab, *args, timeout=600):
    return lab.ctl_json("boot", "--runs", "1", "--warmup", "0", "-q", *args, timeout=timeout)


def test_login(lab, initrd, disk):
    before = sha256(disk)
    p, doc = lab.ctl_json("boot", "--vmm", "qemu", "--kernel", KERNEL, "--initrd", initrd, "--disk", disk,
                          "--marker", "login: *$", "--console-login", "root:" + PASSWORD,
                          "--console-command", "echo hello-from-$(hostname); cat /proc/cmdline",
                          "--runs", "2", "--warmup", "0", "--timeout", "300", "-q", timeout=1200)
    ok = tap.ok(p.returncode == 0 and doc and doc["state"] == "done",
                "BYO q35: PVH kernel + initrd + disk, marker regex, console login and command", p.stderr + lab.log_tail())
    if not ok:
        return doc
    tap.schema(doc, "BYO boot result")
    r = doc["runs"][-1]
    tap.ok("hello-from-byo" in r.get("console_output", "") and r.get("console_rc") == 0 and
           "console=ttyS0" in r.get("console_output", ""),
           "the command's output (and exit status) is in the result", r.get("console_output"))
    tap.ok(r.get("boot_ms", 0) > 0 and r.get("t_kernel_ms", 0) > 0 and r["guest"].get("marker_line", "").rstrip().endswith("login:"),
           "boot_ms is the marker regex matching the login prompt (an unfinished line)", r.get("guest"))
    env = doc["environment"]["image"]
    tap.ok(env.get("source") == "caller" and env.get("kernel_format") == "vmlinux" and len(env.get("kernel_sha256", "")) == 64
           and len(env.get("initramfs_sha256", "")) == 64 and env.get("disk_image") == disk,
           "the environment names the caller's guest by its kernel and initrd hashes", env)
    argv = " ".join(r.get("vmm_argv", []))
    tap.ok("snapshot=on" in argv and "/dev/fdset/" in argv and disk not in argv,
           "the disk goes to QEMU as the caller's fd, with snapshot=on", argv)
    logs = [console_log({"runs": [x]}) for x in doc["runs"]]
    tap.ok(all("BYO-DISK-CLEAN" in t and "BYO-DISK-DIRTY" not in t for t in logs) and len(logs) == 2,
           "each run sees the disk as it was: the first run's write is gone in the second", [t[-300:] for t in logs])
    tap.ok(sha256(disk) == before, "the caller's disk file is never written")
    blob = everything_of(lab, doc, p.stdout, p.stderr)
    tap.ok(PASSWORD.encode() not in blob, "the password is in no store, result, log or console log")
    tap.ok(doc["spec"].get("console_login") == "root" and not any(PASSWORD in str(v) for v in doc["spec"].values()),
           "the stored spec holds the user name only", doc["spec"])
    return doc


def test_wrong_password(lab, initrd):
    p, doc = boot(lab, "--vmm", "qemu-microvm", "--kernel", KERNEL, "--initrd", initrd, "--marker", "login: *$",
                  "--console-login", "root:not-the-password", "--console-command", "true", "--timeout", "300")
    err = (doc or {}).get("error") or ""
    tap.ok(p.returncode == 1 and doc and doc["state"] == "failed" and "Console login as 'root' failed" in err and
           "Login incorrect" in err and "not retried" in err and "not-the-password" not in err,
           "a wrong password: a clear error naming the user, not the password", p.stderr + err)
    log = console_log(doc)
    tap.ok(log.count("Password:") == 1 and log.count("login: root") == 1 and "Login incorrect" in log,
           "one attempt only (no retry storm), and the full console log is kept", log[-1500:])
    tap.ok(b"not-the-password" not in everything_of(lab, doc, p.stdout), "the wrong password is kept nowhere either")


def test_bzimage_microvm(lab, initrd):
    p, doc = boot(lab, "--vmm", "qemu-microvm", "--kernel", BZIMAGE + ",format=bzimage", "--initrd", initrd,
                  "--marker", "BYO-GUEST-U[P]", "--timeout", "300")
    ok = tap.ok(p.returncode == 0 and doc and doc["state"] == "done", "BYO microvm: a bzImage, no login: stopped at the marker",
                p.stderr + lab.log_tail())
    if ok:
        r = doc["runs"][-1]
        tap.ok(doc["environment"]["image"]["kernel_format"] == "bzimage" and r.get("boot_ms", 0) > 0 and
               "console_output" not in r and r.get("vmm_exit"), "a marker-only guest: boot_ms, then the VMM is quit", r)


def test_never_marker(lab, initrd):
    p, doc = boot(lab, "--vmm", "qemu-microvm", "--kernel", KERNEL, "--initrd", initrd, "--marker", "NEVER-PRINTED-[0-9]+",
                  "--timeout", "12")
    err = (doc or {}).get("error") or ""
    log = console_log(doc)
    tap.ok(p.returncode == 1 and "No init marker within 12 s" in err, "a guest that never prints its marker times out clearly",
           err or p.stderr)
    tap.ok("Linux version" in log, "... and its whole console log is kept", log[-500:])


def refused(lab, args, want, what):
    p = lab.ctl("boot", "--runs", "1", *args)
    tap.ok(p.returncode == 2 and all(w in p.stderr for w in want), what, p.stderr)


def test_refusals(lab, tmp, initrd, disk):
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("not a kernel, not a disk\n" * 400)
    refused(lab, ["--kernel", text, "--marker", "x"], [f"Kernel '{text}' is not a kernel"], "a kernel that is no kernel")
    refused(lab, ["--kernel", "/bin/true", "--marker", "x"], ["Kernel '/bin/true' is an x86-64 ELF without a PVH entry note"],
            "an ELF that is no kernel")
    refused(lab, ["--kernel", KERNEL, "--disk", text, "--marker", "x"], [f"Disk '{text}' is not a disk image"],
            "a disk that is no image")
    refused(lab, ["--kernel", KERNEL, "--disk", disk + ",format=qcow2", "--marker", "x"], [f"Disk '{disk}' is not a qcow2 image"],
            "a format that is not the file's")
    refused(lab, ["--kernel", KERNEL, "--marker", "(unclosed"], ["Invalid marker '(unclosed'", "regular expression"],
            "a marker regex that does not compile")
    refused(lab, ["--kernel", KERNEL], ["needs a marker"], "a kernel without a marker")
    refused(lab, ["--marker", "x"], ["Field 'marker' is for a kernel of yours"], "a marker without a kernel")
    refused(lab, ["--image", "noop", "--kernel", KERNEL, "--marker", "x"], ["either an image", "not both"], "image and kernel")
    refused(lab, ["--kernel", KERNEL, "--marker", "x", "--param", "console_login=root:pw", "--console-command", "true"],
            ["the user name only"], "a password in the spec is refused, not stored")
    refused(lab, ["--kernel", KERNEL, "--marker", "x", "--console-login", "root:pw"], ["needs console_command"],
            "a login without a command")
    refused(lab, ["--console-command", "true"], ["powers off after its job"], "typing on a guest that powers off")
    if SV and os.access(SV, os.X_OK):
        refused(lab, ["--vmm", "stratovirt", "--kernel", BZIMAGE, "--initrd", initrd, "--marker", "x",
                      "--console-command", "true", "--param", "force_paravirt_kvm=true"],
                ["cannot take console input"], "StratoVirt's console takes no input: typing there is refused")
    else:
        tap.skip("StratoVirt's console takes no input: typing there is refused", "no StratoVirt ($VIRTLAB_STRATOVIRT)")


def main():
    missing = [p for p in (KERNEL, BZIMAGE, MKCPIO) if not os.path.exists(p)]
    if missing or not shutil.which("busybox") or not shutil.which("mke2fs"):
        tap.skip("bring-your-own guests", f"missing {missing or 'busybox/mke2fs'} (make image; apt install busybox-static e2fsprogs)")
        tap.done()
    tmp = tempfile.mkdtemp(prefix="virtlab-byo-")
    lab = Lab()
    try:
        initrd = build_initramfs(tmp)
        disk = os.path.join(tmp, "disk.img")
        subprocess.run(["mke2fs", "-q", "-t", "ext4", disk, "32M"], check=True, capture_output=True)
        lab.start_daemon()
        test_refusals(lab, tmp, initrd, disk)
        test_bzimage_microvm(lab, initrd)
        if os.path.isdir(MODULES):
            test_login(lab, initrd, disk)
        else:
            tap.skip("BYO q35 with a disk and a console login", "the default image has no bench-modules (NO_PARTS build)")
        test_wrong_password(lab, initrd)
        test_never_marker(lab, initrd)
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


main()
