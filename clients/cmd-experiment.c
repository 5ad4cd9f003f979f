/* cmd-experiment.c — the experiment verbs without a file of their own:
 * `boot`, `memory`, `edu`, `kvm-sample` (with its options) and any other
 * KIND virtlabd offers: start the job, wait for it, print its result.
 * experiment_run() is that step for the verbs that have their own file. */
#include <stdio.h>

#include "bus.h"
#include "cmd.h"
#include "util.h"

/* kvm-sample: the daemon checks the mode and the address. */
static const Option kvm_sample_options[] = {
        { .name = "upper", .parse = args_spec_true, .key = "upper",
          .help = "the VMM upper-cases the guest's output (\"HELLO, WORLD!\")" },
        { .name = "trace", .parse = args_spec_true, .key = "trace", .help = "record every VM exit" },
        { .name = "mode", .arg = "MODE", .parse = args_spec_string, .key = "mode",
          .help = "real|protected|paged|long: the guest's CPU mode" },
        { .name = "walk", .arg = "GVA", .parse = args_spec_string, .key = "walk",
          .help = "walk GVA's page tables after the guest halts (long mode)" },
        {},
};
const OptionGroup kvm_sample_group = { "kvm-sample options", kvm_sample_options };

/* density: the daemon checks the ranges, the fit in memory and the fds. */
static const Option density_options[] = {
        { .name = "count", .arg = "N", .parse = args_spec_int, .key = "count",
          .help = "VMs to start, 1..1024                  [10]" },
        { .name = "step", .arg = "N", .parse = args_spec_int, .key = "step",
          .help = "VMs per step; all alive are measured after each [10]" },
        { .name = "parallel", .arg = "P", .parse = args_spec_int, .key = "parallel",
          .help = "VMs booting at once (> 1: a boot storm) [1]" },
        { .name = "min-free", .arg = "MIB", .parse = args_spec_int, .key = "min_free_mib",
          .help = "stop before MemAvailable would drop below this [25% of it]" },
        { .name = "vm-timeout", .arg = "SEC", .parse = args_spec_int, .key = "vm_timeout_s",
          .help = "a VM not up within this ends the ramp   [30]" },
        { .name = "hold", .arg = "SEC", .parse = args_spec_int, .key = "hold_s",
          .help = "keep every VM up this long before the teardown [0]" },
        {},
};
const OptionGroup density_group = { "density options", density_options };

int experiment_run(sd_bus *bus, Args *a, const char *kind, uint32_t *ret_id) {
        BusJobFlags flags = (a->no_wait ? BUS_JOB_NO_WAIT : 0) | (a->quiet ? BUS_JOB_QUIET : 0);
        uint32_t id = 0;
        bool done = false;
        int code = bus_run_job(bus, kind, a->spec, flags, &id, &done);
        if (code != EXIT_OK)
                return code;
        if (a->no_wait) {
                printf("%u\n", id);
                return EXIT_OK;
        }
        if (ret_id) {
                *ret_id = id;
                return done ? EXIT_OK : EXIT_FAILED;
        }
        code = results_show(bus, a, &id, 1);
        return done ? code : EXIT_FAILED;
}

int cmd_experiment(Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        return code == EXIT_OK ? experiment_run(bus, a, a->verb, NULL) : code;
}
