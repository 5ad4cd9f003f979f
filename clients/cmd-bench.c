/* cmd-bench.c — `virtlabctl bench cpu|memory|fileio`: sysbench in the guest
 * (the bench-* experiment kinds, docs/benchmarks.md) and the options that
 * shape its matrix.  The lists go as typed: the daemon checks them and names
 * a bad value. */
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "cmd.h"
#include "util.h"

static const Option bench_options[] = {
        { .name = "time", .arg = "SEC", .parse = args_spec_int, .key = "time_s",
          .help = "per cell                          [60; --quick: 1]" },
        { .name = "threads", .arg = "LIST", .parse = args_spec_string, .key = "threads",
          .help = "thread counts, 1,4,..." },
        { .name = "sizes", .arg = "LIST", .parse = args_spec_string, .key = "sizes", .help = "block sizes, 1K,4K,..." },
        { .name = "modes", .arg = "LIST", .parse = args_spec_string, .key = "modes",
          .help = "memory: seq,rnd; fileio: rndrd,rndwr,seqrd,seqwr" },
        { .name = "quick", .parse = args_spec_true, .key = "quick", .help = "tiny matrix, 1 s per cell" },
        { .name = "cpu-max-prime", .arg = "N", .parse = args_spec_int, .key = "cpu_max_prime",
          .help = "cpu: primes up to N               [10000]" },
        { .name = "disk", .arg = "FILE|DEVICE", .parse = args_spec_string, .key = "disk",
          .help = "fileio: test on this disk         [scratch file]" },
        { .name = "force", .parse = args_spec_true, .key = "force",
          .help = "fileio: use --disk even if it holds a file system" },
        {},
};
const OptionGroup bench_group = { "bench options", bench_options };

/* The experiment kind of a bench test word, or NULL. */
static const char *bench_kind(const char *test) {
        static const char *const kinds[][2] = { { "cpu", "bench-cpu" }, { "memory", "bench-memory" },
                                                { "fileio", "bench-fileio" } };
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++)
                if (strcmp(test, kinds[i][0]) == 0)
                        return kinds[i][1];
        return NULL;
}

int cmd_bench(Args *a) {
        const char *kind = a->argc == 1 ? bench_kind(a->argv[0]) : NULL;
        if (!kind) {
                fprintf(stderr,
                        "virtlabctl: usage: bench cpu|memory|fileio [--quick] [--time SEC] [--threads LIST] ...%s%s%s\n",
                        a->argc ? " (not '" : "", a->argc ? a->argv[0] : "", a->argc ? "')" : "");
                return EXIT_USAGE;
        }
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        return code == EXIT_OK ? experiment_run(bus, a, kind, NULL) : code;
}
