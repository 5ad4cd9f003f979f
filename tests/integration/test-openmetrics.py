#!/usr/bin/python3
"""OpenMetrics output end to end (real dbus-daemon, virtlabd, VMMs):
`results ID --format openmetrics` of a single job and `compare
--openmetrics FILE` (plus `compare ID --format openmetrics`) of a compare
job, each validated by `promtool check metrics` (Debian's prometheus
package) and by the strict OpenMetrics parser of python3-prometheus-client;
the labels (kind, vmm, accel, image, metric, quantile; job_id only to keep
two jobs of one kind and VMM apart) and base units (seconds, bytes) checked
against the result document.  Uses the noop
guest under KVM where /dev/kvm works, else the Linux guest under TCG.
Skips (visibly) what needs a missing tool."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import HAVE_SV, SV, Lab, Tap  # noqa: E402

tap = Tap()
KVM_OK = os.access("/dev/kvm", os.R_OK | os.W_OK)
IMAGE = ["--image", "noop"] if KVM_OK else []
# StratoVirt where there is one: q35 takes ~5 s a boot on kvm_pvm.
VMMS = ["qemu-microvm", "stratovirt"] if HAVE_SV and KVM_OK else ["qemu-microvm", "qemu"]
PROMTOOL = shutil.which("promtool")
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    text_string_to_metric_families = None
lab = Lab()

SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')


def parse(text):
    """Sample lines as (name, {label: value}, value)."""
    out = []
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            labels = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def validate(text, what):
    if PROMTOOL:
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
        tap.ok(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
               f"{what}: promtool check metrics accepts it, no lint problem", p.stdout + p.stderr)
    else:
        tap.skip(f"{what}: promtool check metrics", "promtool not installed (apt-get install prometheus)")
    if text_string_to_metric_families:
        try:
            fams = {f.name: f for f in text_string_to_metric_families(text)}
            tap.ok(fams and all(f.documentation for f in fams.values()),
                   f"{what}: the strict OpenMetrics parser accepts it (every family has HELP)", list(fams))
        except ValueError as e:
            tap.ok(False, f"{what}: the strict OpenMetrics parser accepts it", str(e))
    else:
        tap.skip(f"{what}: strict OpenMetrics parser", "python3-prometheus-client not installed")


def test_single():
    p, doc = lab.ctl_json("boot", "--vmm", VMMS[0], *IMAGE, "--runs", "2", "-q", timeout=300)
    if not tap.ok(p.returncode == 0 and doc, f"boot --vmm {VMMS[0]} succeeds", p.stderr + lab.log_tail()):
        return
    p = lab.ctl("results", str(doc["job_id"]), "--format", "openmetrics")
    tap.ok(p.returncode == 0 and p.stdout.endswith("# EOF\n") and "# TYPE virtlab_duration_seconds summary" in p.stdout
           and "# UNIT virtlab_duration_seconds seconds" in p.stdout,
           "results ID --format openmetrics: a summary family in seconds, ending # EOF", p.stdout[:800] + p.stderr)
    validate(p.stdout, "results ID --format openmetrics")
    samples = parse(p.stdout)
    st = doc["summary"]["boot_ms"]
    env = doc["environment"]
    want = {"kind": "boot", "vmm": VMMS[0], "accel": env["vmms"][0]["accel"],
            "image": env["image"]["name"], "metric": "boot_ms"}
    got = {lab_["quantile"]: v for name, lab_, v in samples
           if name == "virtlab_duration_seconds" and {k: lab_.get(k) for k in want} == want}
    count = [v for name, lab_, v in samples if name == "virtlab_duration_seconds_count" and lab_.get("metric") == "boot_ms"]
    tap.ok(set(got) == {"0", "0.5", "1"} and abs(got["0.5"] - st["median"] / 1000) < 1e-12
           and abs(got["0"] - st["min"] / 1000) < 1e-9 and abs(got["1"] - st["max"] / 1000) < 1e-9 and count == [st["n"]],
           "boot_ms: labels kind, vmm, accel, image, metric; quantiles 0/0.5/1 = min/median/max in seconds",
           f"{got} {count} {st}")
    tap.ok(all("job_id" not in lab_ for name, lab_, v in samples),
           "no job_id label (a series per CI run would grow Prometheus without bound)", samples[:2])
    return doc
    p = lab.ctl("results", "--format", "openmetrics")
    tap.ok(p.returncode == 2 and "job ids" in p.stderr, "results --format openmetrics without IDs is a usage error",
           p.stderr)


def test_two_jobs(first):
    """The same kind and VMM twice: job_id keeps the series apart, and the text stays valid."""
    p, doc = lab.ctl_json("boot", "--vmm", VMMS[0], *IMAGE, "--runs", "2", "-q", timeout=300)
    if not doc:
        tap.ok(False, "a second boot job", p.stderr)
        return
    p = lab.ctl("results", str(first["job_id"]), str(doc["job_id"]), "--format", "openmetrics")
    samples = parse(p.stdout)
    ids = {lab_.get("job_id") for name, lab_, v in samples}
    tap.ok(p.returncode == 0 and ids == {str(first["job_id"]), str(doc["job_id"])},
           "two jobs of the same kind and VMM: every sample carries its job_id", ids)
    validate(p.stdout, "results ID ID (same kind and VMM)")


def test_compare(tmp):
    path = os.path.join(tmp, "metrics.txt")
    p, docs = lab.ctl_json("compare", "--vmm", ",".join(VMMS), *IMAGE, "--runs", "2", "--experiments",
                           "boot,memory", "--openmetrics", path, "-q", timeout=900)
    docs = docs if isinstance(docs, list) else []
    if not tap.ok(p.returncode == 0 and len(docs) == 2 and os.path.exists(path),
                  f"compare --vmm {','.join(VMMS)} --experiments boot,memory --openmetrics FILE succeeds",
                  p.stderr + lab.log_tail()):
        return
    text = open(path).read()
    validate(text, "compare --openmetrics FILE")
    samples = parse(text)
    mem = docs[1]
    rss = mem["summary_by_vmm"][VMMS[1]]["rss_kib"]
    got = [v for name, lab_, v in samples if name == "virtlab_memory_bytes" and lab_.get("vmm") == VMMS[1]
           and lab_.get("metric") == "rss_kib" and lab_.get("quantile") == "0.5"]
    tap.ok(got == [rss["median"] * 1024], "memory in bytes per VMM (rss_kib × 1024), labelled with its VMM",
           f"{got} {rss['median']}")
    vmms = {lab_.get("vmm") for name, lab_, v in samples}
    tap.ok(set(VMMS) <= vmms, "every compared VMM has samples", vmms)
    ratios = [(lab_, v) for name, lab_, v in samples if name == "virtlab_comparison_ratio"]
    row = next(r for r in docs[0]["comparisons"] if r["metric"] == "boot_ms")
    tap.ok(any(lab_.get("metric") == "boot_ms" and lab_.get("reference") == VMMS[0] and abs(v - row["ratio"]) <= 1e-8 * abs(row["ratio"])
               for lab_, v in ratios), "compare jobs add virtlab_comparison_ratio with a reference label", ratios[:3])
    p = lab.ctl("compare", str(docs[0]["job_id"]), "--format", "openmetrics")
    tap.ok(p.returncode == 0 and p.stdout.endswith("# EOF\n") and "virtlab_comparison_p_value" in p.stdout,
           "compare ID --format openmetrics prints the same to stdout", p.stdout[-400:] + p.stderr)


try:
    lab.start_daemon(*(["--stratovirt", SV] if HAVE_SV else []))
    first = test_single()
    if first:
        test_two_jobs(first)
    test_compare(lab.tmp)
    tap.ok(not lab.vmm_children(), "no VMM left running")
finally:
    lab.close()
tap.done()
