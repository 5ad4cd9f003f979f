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
