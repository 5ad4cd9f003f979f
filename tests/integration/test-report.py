#!/usr/bin/python3
"""`virtlabctl report` as a student uses it, end to end (real dbus-daemon,
virtlabd, VMMs): which jobs a report without IDs covers (separate jobs, said
so and never called interleaved; then the newest compare job and its
siblings, even after a later single job), the summary table first (the right
VMMs with their accelerator, ratio and significance), units for people (ms to
3 significant figures, MiB), the figures (boot phases, footprint, small
multiples, the mtree SVG linked from the memory lab), a quiet terminal (no
gnuplot words), and the HTML rendered in a real browser: headless Chromium
loads every image and shows the summary table (skipped, visibly, without
Chromium).  Uses the noop guest under KVM where /dev/kvm works (StratoVirt
when $VIRTLAB_STRATOVIRT names it), else the Linux guest under TCG."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(__file__))
from virtlab_test import BUILD, HAVE_SV, SV, Lab, Tap  # noqa: E402

tap = Tap()
KVM_OK = os.access("/dev/kvm", os.R_OK | os.W_OK)
if KVM_OK:
    IMAGE = ["--image", "noop"]
    # q35 takes ~5 s a boot on kvm_pvm (SeaBIOS emulated): fewer runs without StratoVirt.
    VMMS, RUNS = (["stratovirt", "qemu-microvm"], "3") if HAVE_SV else (["qemu-microvm", "qemu"], "2")
else:
    IMAGE, VMMS, RUNS = [], ["qemu-microvm", "qemu"], "2"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
out = tempfile.mkdtemp(prefix="virtlab-report-")
lab = Lab()


def run(*args, timeout=600):
    p, doc = lab.ctl_json(*args, *IMAGE, "--runs", RUNS, "-q", timeout=timeout)
    ok = p.returncode == 0 and doc is not None
    tap.ok(ok, f"{' '.join(args)} {' '.join(IMAGE)} --runs {RUNS} succeeds", p.stderr + lab.log_tail())
    return doc if ok else None


def report(name, *args):
    """Runs report --out OUT/name ARGS; returns (process, text of the report)."""
    d = os.path.join(out, name)
    p = lab.ctl("report", "--out", d, *args)
    fmt = "html" if "html" in args else "md"
    path = os.path.join(d, "report." + fmt)
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    return p, d, text


def sig_figs(number):
    """Significant figures of a printed number ("4900" → 2, "19.7" → 3, "0.083" → 2)."""
    digits = number.replace(".", "").lstrip("0")
    if "." not in number:
        digits = digits.rstrip("0") or "0"
    return len(digits)


def summary_cells(html):
    """The summary table of an HTML report: its header cells and rows of cell texts."""
    root = ET.fromstring(html.replace("<!DOCTYPE html>", ""))
    table = root.find(".//table[@id='summary']")
    if table is None:
        return None, []
    rows = [["".join(td.itertext()) if not list(td) else "\n".join(t.strip() for t in td.itertext())
             for td in tr] for tr in table.findall("tr")]
    return rows[0], rows[1:]


def test_separate(jobs):
    p, d, text = report("separate")
    ids = [str(j["job_id"]) for j in jobs]
    tap.ok(p.returncode == 0 and p.stdout.strip() == os.path.join(d, "report.md") and not p.stderr,
           "report --out DIR: prints only the report's path, nothing on stderr (no gnuplot words)",
           f"rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}")
    tap.ok("separate jobs" in text and "interleaved" not in text.lower(),
           "without a compare job: the newest job of each kind per VMM, said to be separate jobs, never 'interleaved'",
           text[:2000])
    tap.ok(all(f"{v} (" in text for v in VMMS) and all(i in text for i in ids),
           f"the separate report covers {', '.join(VMMS)} and jobs {', '.join(ids)}", text[:1500])
    first = text.find("## Summary")
    tap.ok(0 <= first < text.find("## Environment") < text.find("## Boot time"),
           "the report opens with the summary, then the environment, then the experiments", text[:600])


def test_compare_set(compare_docs, later):
    p, d, text = report("compare", "--format", "html")
    ids = [str(j["job_id"]) for j in compare_docs]
    tap.ok(p.returncode == 0 and not p.stderr, "report --format html succeeds quietly", p.stderr)
    sel = re.search(r"<p>This report covers the most recent complete set[^<]*</p>", text)
    tap.ok(sel and all(i in sel.group(0) for i in ids) and str(later["job_id"]) not in sel.group(0),
           f"without IDs it covers the newest compare job and its sibling (jobs {', '.join(ids)}), "
           f"not the later single job {later['job_id']}", sel.group(0) if sel else text[:1500])
    tap.ok("interleaved run by run" in text, "the compare set is said to be interleaved", text[:1500])
    try:
        head, rows = summary_cells(text)
    except ET.ParseError as e:
        head, rows = None, []
        tap.ok(False, "report.html parses as XML", str(e))
    want_head = [f"{v} ({compare_docs[0]['environment']['vmms'][i]['accel']})" for i, v in enumerate(VMMS)]
    tap.ok(head is not None and [h.rstrip(" †") for h in head[1:]] == want_head,
           "the summary table's columns are the compared VMMs with their accelerator", head)
    titles = [r[0] for r in rows]
    tap.ok(any(t.startswith("Boot time") for t in titles) and any(t.startswith("VMM memory") for t in titles),
           "summary rows: boot time and VMM memory", titles)
    boot = next((r for r in rows if r[0].startswith("Boot time")), [""] * 3)
    mem = next((r for r in rows if r[0].startswith("VMM memory")), [""] * 3)
    cell = re.compile(r"^([0-9.]+) ± [0-9.]+ (ms|MiB)\n")
    m_boot = [cell.match(c + "\n") or cell.match(c) for c in boot[1:]]
    m_mem = [cell.match(c) for c in mem[1:]]
    tap.ok(all(m and m.group(2) == "ms" and sig_figs(m.group(1)) <= 3 for m in m_boot),
           "boot time in ms to 3 significant figures", boot)
    tap.ok(all(m and m.group(2) == "MiB" for m in m_mem) and "KiB" not in "".join(mem),
           "VMM memory in MiB", mem)
    tap.ok("reference" in boot[1] and re.search(r"×[0-9.]+, (n\.s\.|better|worse) \(p = ", boot[2] or ""),
           "the other VMM has a ratio and a significance verdict", boot)
    raw = [f"{x:.2f}" for x in [compare_docs[1]["summary"]["vmm_overhead_kib"]["mean"]]]
    tap.ok(not any(r in text for r in raw), "no raw KiB means (they stay in JSON/CSV)", raw)
    figs = sorted(os.path.basename(f) for f in glob.glob(os.path.join(d, "*.svg")))
    want = ["boot-phases.svg", "boot-runs.svg", "memory-footprint.svg", "memory-runs.svg"]
    bad = []
    for f in figs:
        try:
            ET.parse(os.path.join(d, f))
        except ET.ParseError as e:
            bad.append((f, str(e)))
    tap.ok(all(w in figs for w in want) and not bad, "figures: boot phases, footprint, small multiples; SVGs parse",
           f"{figs} {bad}")
    mtree = [f for f in figs if f.startswith("mtree-")]
    tap.ok(mtree and f'href="{mtree[0]}"' in text and text.find('id="memory-lab"') < text.find(mtree[0]),
           "the mtree SVG is linked from the memory-lab section", f"{figs}")
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    tap.ok(imgs and all(os.path.exists(os.path.join(d, i)) for i in imgs), "every <img> of report.html exists", imgs)
    tap.ok(not [f for f in os.listdir(d) if f.startswith(".")] and not os.path.exists(os.path.join(d, "report.log")),
           "no scratch files and no tool log left behind", os.listdir(d))
    return d


CHECK_JS = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                .map(function (i) { return i.getAttribute('src'); });
  var t = document.getElementById('summary');
  var out = document.createElement('pre');
  out.id = 'virtlab-check';
  out.textContent = 'IMAGES ' + imgs.length + ' BROKEN [' + bad.join(',') + '] SUMMARY ' +
                    (t ? t.rows.length + 'x' + t.rows[0].cells.length : 'none') + ' END';
  document.body.appendChild(out);
});
</script>"""


def chromium(*args, timeout=90):
    prof = tempfile.mkdtemp(prefix="virtlab-chromium-")
    try:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run",
                               "--user-data-dir=" + prof, *args], capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def test_browser(d):
    what = "headless Chromium renders report.html: every image loads, the summary table is there"
    if not CHROMIUM:
        tap.skip(what, "chromium not installed (apt-get install chromium)")
        return
    # The page plus a script that writes what the browser saw into the DOM.
    html = open(os.path.join(d, "report.html"), encoding="utf-8").read()
    check = os.path.join(d, "check.html")
    with open(check, "w", encoding="utf-8") as f:
        f.write(html.replace("</body>", CHECK_JS + "</body>"))
    p = chromium("--virtual-time-budget=10000", "--dump-dom", "file://" + check)
    m = re.search(r"IMAGES (\d+) BROKEN \[([^\]]*)\] SUMMARY (\S+) END", p.stdout)
    n_vmms = len(VMMS)
    tap.ok(m and int(m.group(1)) >= 5 and m.group(2) == "" and m.group(3).endswith(f"x{n_vmms + 1}"),
           what, (m.group(0) if m else p.stdout[-800:]) + p.stderr[-800:])
    shot = os.path.join(BUILD, "test-logs", "report-screenshot.png")
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    p = chromium("--window-size=1100,2400", "--screenshot=" + shot, "file://" + os.path.join(d, "report.html"))
    tap.ok(p.returncode == 0 and os.path.getsize(shot) > 10000, f"Chromium takes a screenshot ({shot})",
           p.stderr[-800:])


try:
    lab.start_daemon(*(["--stratovirt", SV] if HAVE_SV else []))
    separate = [j for v in VMMS for j in (run("boot", "--vmm", v), run("memory", "--vmm", v))]
    if all(separate):
        test_separate(separate)
    p, docs = lab.ctl_json("compare", "--vmm", ",".join(VMMS), *IMAGE, "--runs", RUNS, "--experiments",
                           "boot,memory", "-q", timeout=900)
    docs = docs if isinstance(docs, list) else []
    tap.ok(p.returncode == 0 and len(docs) == 2, f"compare --vmm {','.join(VMMS)} --experiments boot,memory succeeds",
           p.stderr + lab.log_tail())
    later = run("boot", "--vmm", VMMS[0])
    p, tree = lab.ctl_json("mtree", "--vmm", "qemu-microvm" if KVM_OK else "qemu", *IMAGE, "-q", timeout=300)
    tap.ok(p.returncode == 0 and tree, "an mtree job for the memory lab", p.stderr)
    if len(docs) == 2 and later:
        d = test_compare_set(docs, later)
        test_browser(d)
    tap.ok(not lab.vmm_children(), "no VMM left running")
finally:
    lab.close()
    shutil.rmtree(out, ignore_errors=True)
tap.done()
