/* fuzz-sysbench.c — fuzz target for the sysbench output parser
 * (sysbench.c), whose text the guest prints: arbitrary bytes go to
 * sysbench_parse(); whatever parses must hold the invariants the parser
 * promises (finite non-negative figures, a known test, a bounded version). */
#include <math.h>

#include "fuzz.h"
#include "sysbench.h"
#include "util.h"

int fuzz_one(const uint8_t *data, size_t size) {
        SysbenchResult r;
        size_t line = 0;
        int e = sysbench_parse((const char *) data, size, &r, &line);
        if (e < 0) {
                fuzz_assert(e == -EBADMSG || e == -EIO || e == -E2BIG);
                /* FATAL is always on a line of the input. */
                fuzz_assert(e != -EIO || (line > 0 && line <= size + 1));
                return 0;
        }
        fuzz_assert(r.test >= 0 && r.test < _SYSBENCH_TEST_MAX);
        fuzz_assert(r.threads >= 1 && r.total_time_s > 0);
        const double figures[] = { r.total_time_s, r.total_events, r.events_per_s, r.lat_min_ms, r.lat_avg_ms,
                                   r.lat_max_ms, r.lat_pct_ms, r.ops_per_s, r.mib_per_s, r.reads_per_s,
                                   r.writes_per_s, r.fsyncs_per_s, r.read_mib_per_s, r.write_mib_per_s };
        for (size_t i = 0; i < ELEMENTSOF(figures); i++)
                fuzz_assert(isfinite(figures[i]) && figures[i] >= 0);
        fuzz_assert(strnlen(r.version, sizeof(r.version)) < sizeof(r.version));
        fuzz_assert(fuzz_is_utf8(r.version));
        json_t *j = sysbench_figures(&r);
        fuzz_assert(j && json_object_get(j, sysbench_headline(r.test)));
        json_decref(j);
        return 0;
}
