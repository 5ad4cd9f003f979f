/* virtlabctl — thin D-Bus client of virtlabd (org.virtlab.Lab1).
 * Starts experiments and waits for them with a progress line on a TTY,
 * prints results as table, CSV, Markdown or JSON.  This file is the
 * dispatcher: the verb table (each verb's handler, options and help) and
 * main(); the verbs live in cmd-*.c, the command line in args.c, the bus in
 * bus.c.
 * Exit codes: 0 ok, 1 experiment failed or canceled, 2 usage or invalid
 * request, 3 daemon unreachable, 4 regression against compare --baseline. */
#include <stdio.h>

#include "args.h"
#include "cmd.h"

/* Option groups per verb: its own first (they win over a same-named common
 * option, e.g. compare's --vmm A,B), then the shared ones. */
static const OptionGroup *const experiment_groups[] = { &args_experiment_group, NULL };
static const OptionGroup *const boot_groups[] = { &guest_group, &console_group, &args_experiment_group, NULL };
static const OptionGroup *const memory_groups[] = { &guest_group, &args_experiment_group, NULL };
static const OptionGroup *const kvm_sample_groups[] = { &kvm_sample_group, &args_experiment_group, NULL };
static const OptionGroup *const density_groups[] = { &density_group, &args_experiment_group, NULL };
static const OptionGroup *const bench_groups[] = { &bench_group, &args_experiment_group, NULL };
static const OptionGroup *const mtree_groups[] = { &mtree_group, &args_experiment_group, NULL };
static const OptionGroup *const translate_groups[] = { &translate_group, &args_experiment_group, NULL };
static const OptionGroup *const compare_groups[] = { &compare_group, &args_experiment_group, &density_group, NULL };
static const OptionGroup *const results_groups[] = { &results_group, NULL };
static const OptionGroup *const report_groups[] = { &report_group, NULL };

/* Looked up by name in order; the last entry takes any other word as an
 * experiment kind (the daemon names the known ones, see describe). */
static const Verb verbs[] = {
        { .name = "describe", .run = cmd_describe, .summary = "Host, accelerator, VMMs, guest image, store." },
        { .name = "boot", .run = cmd_experiment, .groups = boot_groups,
          .summary = "Boot-time experiment (spawn → guest init marker); --image systemd adds the guest's own\n"
                     "systemd-analyze time; --kernel/--initrd/--disk/--marker boot a guest of your own\n"
                     "(docs/guests.md)." },
        { .name = "memory", .run = cmd_experiment, .groups = memory_groups,
          .summary = "VMM memory footprint experiment (smaps / pmap)." },
        { .name = "density", .run = cmd_experiment, .groups = density_groups,
          .summary = "Many VMs at once (noop image by default): per-VM RSS/PSS/USS/Pss_Anon as the count grows,\n"
                     "boot time by index, creation rate; --count N --step N --parallel P --min-free MIB." },
        { .name = "mtree", .run = cmd_mtree, .groups = mtree_groups,
          .summary = "QEMU memory-region tree (info mtree), --format text|json|dot|svg (docs/memory-lab.md);\n"
                     "with --job ID, read from the VM that job is running now." },
        { .name = "translate", .run = cmd_translate, .groups = translate_groups,
          .summary = "One GVA -> GPA -> HVA -> HPA walk: --gva ADDR | --symbol NAME | --guest-alloc (default),\n"
                     "--module (compare the guest's own walk); --format text|json (docs/memory-lab.md)." },
        { .name = "bench", .run = cmd_bench, .groups = bench_groups, .max_args = -1, .usage = "bench cpu|memory|fileio",
          .summary = "sysbench in the guest, the lab's matrices (docs/benchmarks.md)." },
        { .name = "jobs", .run = cmd_jobs, .summary = "Active and queued jobs." },
        { .name = "cancel", .run = cmd_cancel, .max_args = -1, .usage = "cancel ID", .summary = "Cancel a job." },
        { .name = "results", .run = cmd_results, .groups = results_groups, .max_args = -1, .usage = "results [ID...]",
          .summary = "List stored results, or show the given ones (several IDs: side-by-side comparison)." },
        { .name = "compare", .run = cmd_compare, .groups = compare_groups, .max_args = -1, .usage = "compare [ID...]",
          .summary = "VMMs side by side: runs interleaved A B C A B C..., one job per experiment kind;\n"
                     "one table per metric with ratio and significance verdict (docs/compare.md).\n"
                     "With IDs: no new runs, the stored results (re-gate a job)." },
        { .name = "report", .run = cmd_report, .groups = report_groups, .max_args = -1,
          .usage = "report --out DIR [ID...]",
          .summary = "The lab report (Markdown, or --format html) with SVG figures: the summary table, the\n"
                     "environment, a section per experiment.  Without IDs: the newest compare job and its\n"
                     "siblings, else the newest job of each kind per VMM (docs/compare.md)." },
        { .name = "kvm-sample", .run = cmd_experiment, .groups = kvm_sample_groups,
          .summary = "The lab's raw-KVM VMM as a job: guest output + VM exits (kvm-sample/README.md)." },
        { .name = "edu", .run = cmd_experiment, .groups = experiment_groups,
          .summary = "QEMU edu PCI device + guest driver: pass/fail per feature\n"
                     "(q35 only; --param require_crc32=true needs a patched QEMU)." },
        { .name = NULL, .run = cmd_experiment, .groups = experiment_groups,
          .summary = "An experiment kind virtlabd offers (see describe); --param KEY=VALUE sets any spec field." },
};

/* virtlabctl --help: the overview. */
static void help(void) {
        printf("Usage: virtlabctl [OPTIONS] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  describe               host, accelerator, VMMs, guest image, store\n"
               "  boot                   boot-time experiment (spawn → guest init marker); --image systemd:\n"
               "                         also the guest's own systemd-analyze time; your own guest:\n"
               "                         --kernel FILE[,format=F] [--initrd FILE] [--disk FILE[,format=F]]\n"
               "                         [--append WORDS] --marker REGEX [--console-login USER[:PASSWORD]\n"
               "                         --console-command CMD] (docs/guests.md)\n"
               "  memory                 VMM memory footprint experiment (smaps / pmap)\n"
               "  density                many VMs at once: --count N [10] --step N [10] --parallel P [1]\n"
               "                         --min-free MIB; per-VM memory by count, boot time by index\n"
               "  mtree                  QEMU memory-region tree (info mtree): --flat, --device edu,\n"
               "                         --format text|json|dot|svg (docs/memory-lab.md)\n"
               "  translate              one GVA -> GPA -> HVA -> HPA walk: --gva ADDR | --symbol NAME |\n"
               "                         --guest-alloc (default), --module (compare the guest's own walk)\n"
               "  bench cpu|memory|fileio  sysbench in the guest, the lab's matrices (docs/benchmarks.md):\n"
               "                         --time SEC per cell [60; --quick: 1], --threads 1,4,...,\n"
               "                         --sizes 1K,4K,..., --modes seq,rnd|rndrd,rndwr,seqrd,seqwr,\n"
               "                         --quick (tiny matrix), --cpu-max-prime N [10000],\n"
               "                         fileio: --disk FILE|DEVICE [scratch file], --force\n"
               "  jobs                   active and queued jobs\n"
               "  cancel ID              cancel a job\n"
               "  results [ID...]        list stored results, or show the given ones\n"
               "                         (several IDs: side-by-side comparison)\n"
               "  compare [ID...]        VMMs side by side: --vmm A,B[,C] (default qemu,qemu-microvm),\n"
               "                         --experiments boot[,memory]; runs interleaved A B C A B C...;\n"
               "                         one table per metric with ratio and significance verdict;\n"
               "                         with IDs: no new runs, the stored results (re-gate a job)\n"
               "  report --out DIR [ID...]  the lab report (Markdown or --format html) with SVG figures;\n"
               "                         without IDs the newest compare set\n"
               "  kvm-sample             the lab's raw-KVM VMM as a job: guest output + VM exits;\n"
               "                         --upper, --trace, --mode real|protected|paged|long, --walk GVA\n"
               "  edu                    QEMU edu PCI device + guest driver: pass/fail per feature\n"
               "                         (q35 only; --param require_crc32=true needs a patched QEMU)\n"
               "  KIND                   any other experiment kind virtlabd offers (see describe)\n"
               "Each command takes only its own options: virtlabctl COMMAND --help lists them.\n\n"
               "Experiment options:\n"
               "  --vmm NAME             qemu (q35), qemu-microvm, stratovirt, libvirt [qemu]\n"
               "  --runs N               measured runs, 1..1000            [10]\n"
               "  --warmup N             discarded warm-up runs            [1]\n"
               "  --accel auto|kvm|tcg   accelerator                       [auto]\n"
               "  --memory MIB           guest RAM           [256; memory: 1024]\n"
               "  --vcpus N              guest CPUs                        [1]\n"
               "  --timeout SEC          per-run timeout                   [60]\n"
               "  --settle-ms MS         wait after init before measuring  [500]\n"
               "  --pin CPUS             pin the VMM to these host CPUs (0, 0-1, 0,2)\n"
               "  --drop-caches          sync and drop the page cache before every run (root)\n"
               "  --image NAME|DIR       default, noop, systemd, or a guest image directory (image.json)\n"
               "  --param KEY=VALUE      any other spec field (VALUE is JSON or a string)\n"
               "  --job ID               mtree: read the tree of the VM job ID is running now\n"
               "  --no-wait              print the job id and return at once\n\n"
               "Compare options:\n"
               "  --save-baseline FILE   write the measured samples as a baseline\n"
               "  --baseline FILE        gate: exit 4 when a metric's mean grew by more than the\n"
               "                         threshold AND the change is significant\n"
               "  --threshold F|N%%      regression threshold                 [10%%]\n"
               "  --gate-alpha P         significance the gate needs          [0.01]\n"
               "  --alpha P              significance of the table verdicts   [0.05]\n"
               "  --junit FILE           JUnit XML for CI   --report DIR  also write the report\n"
               "  --openmetrics FILE     the results as OpenMetrics text (Prometheus)\n\n"
               "Output and connection:\n"
               "  --format table|csv|md|json|openmetrics   --json   -q, --quiet (no progress)\n"
               "  --kind K --state S --limit N   filters for 'results'\n"
               "  --bus system|session|ADDRESS  [$VIRTLAB_BUS, else system]\n\n"
               "Exit status: 0 ok, 1 experiment failed or canceled, 2 usage or invalid\n"
               "request, 3 daemon unreachable, 4 regression against --baseline.\n"
               "See virtlabctl(1).\n");
}

int main(int argc, char **argv) {
        const Verb *v = NULL;
        Args a;
        args_init(&a);
        int code = args_parse(&a, argc, argv, verbs, &v);
        if (code == EXIT_OK && a.help) {
                if (v)
                        args_print_verb_help(v, a.verb);
                else
                        help();
        } else if (code == EXIT_OK)
                code = v->run(&a);
        args_done(&a);
        return code;
}
