/* fuzz-sysbench.c — fuzz target for the sysbench output parser: arbitrary
 * bytes go to sysbench_parse(); whatever parses must hold the invariants the
 * parser promises, checked with abort(). */
#include <math.h>

#include "fuzz.h"
#include "sysbench.h"
#include "util.h"

static void check_figure(double v) {
        if (!isfinite(v) || v < 0)
                abort();
}

int fuzz_one(const uint8_t *data, size_t size) {
        SysbenchResult r;
        size_t line = 0;
        int e = sysbench_parse((const char *) data, size, &r, &line);
        if (e < 0) {
                if (e != -EBADMSG && e != -EIO && e != -E2BIG)
                        abort();
                /* FATAL is always on a line of the input. */
                if (e == -EIO && (line == 0 || line > size + 1))
                        abort();
                return 0;
        }
        if (r.test < 0 || r.test >= _SYSBENCH_TEST_MAX || r.threads < 1 || r.total_time_s <= 0)
                abort();
        const double figures[] = { r.total_time_s, r.total_events, r.events_per_s, r.lat_min_ms, r.lat_avg_ms,
                                   r.lat_max_ms, r.lat_pct_ms, r.ops_per_s, r.mib_per_s, r.reads_per_s,
                                   r.writes_per_s, r.fsyncs_per_s, r.read_mib_per_s, r.write_mib_per_s };
        for (size_t i = 0; i < ELEMENTSOF(figures); i++)
                check_figure(figures[i]);
        if (strnlen(r.version, sizeof(r.version)) >= sizeof(r.version))
                abort();
        json_t *j = sysbench_figures(&r);
        if (!j || !json_object_get(j, sysbench_headline(r.test)))
                abort();
        json_decref(j);
        return 0;
}
