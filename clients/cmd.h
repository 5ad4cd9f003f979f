/* cmd.h — the verbs of virtlabctl, one clients/cmd-*.c file each: their
 * handlers (Verb.run: read Args, connect, act, print; return an exit code)
 * and option groups, which clients/virtlabctl.c puts in its verb table; plus
 * the two steps several verbs share. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "args.h"

/* cmd-describe.c */
int cmd_describe(Args *a);

/* cmd-experiment.c: boot, memory, edu, kvm-sample and any other KIND; the
 * experiment kind is the command word. */
int cmd_experiment(Args *a);
extern const OptionGroup kvm_sample_group;
extern const OptionGroup density_group;
/* --kernel --initrd --disk --append --marker: a guest of the caller's */
extern const OptionGroup guest_group;
/* --console-login --console-command (boot) */
extern const OptionGroup console_group;
/* Starts experiment kind with a's spec and waits for it.  Without ret_id it
 * prints the result; with ret_id it does not, and sets *ret_id (EXIT_OK only
 * when the job is done).  With --no-wait it prints the job id and returns. */
int experiment_run(sd_bus *bus, Args *a, const char *kind, uint32_t *ret_id);

/* cmd-bench.c: bench cpu|memory|fileio */
int cmd_bench(Args *a);
extern const OptionGroup bench_group;

/* cmd-mtree.c: the mtree experiment, or --job ID: a running job's tree */
int cmd_mtree(Args *a);
extern const OptionGroup mtree_group;

/* cmd-translate.c */
int cmd_translate(Args *a);
extern const OptionGroup translate_group;

/* cmd-jobs.c */
int cmd_jobs(Args *a);
int cmd_cancel(Args *a);

/* cmd-results.c */
int cmd_results(Args *a);
extern const OptionGroup results_group;
/* Fetches and prints the results of jobs ids[0..n) (side by side when n > 1).
 * EXIT_FAILED when one of them is not done. */
int results_show(sd_bus *bus, Args *a, const uint32_t *ids, size_t n);

/* cmd-compare.c */
int cmd_compare(Args *a);
extern const OptionGroup compare_group;

/* cmd-report.c */
int cmd_report(Args *a);
extern const OptionGroup report_group;
