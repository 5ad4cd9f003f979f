/* sysbench.c — parser of sysbench 1.0 "run" output.
 *
 * The output is a human report, so the parser goes line by line and looks
 * for the labels sysbench 1.0.x prints (src/sysbench.c report functions and
 * src/tests/{cpu,memory,fileio}): a label it does not know is skipped, a
 * known label with a malformed number fails the parse.  Which test ran is
 * decided by the section it printed, not by what the caller expected. */
#include "sysbench.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Figures seen, so that a missing one is told apart from a printed 0. */
enum {
        SEEN_THREADS = 1 << 0,
        SEEN_TIME = 1 << 1,
        SEEN_EVENTS = 1 << 2,
        SEEN_LAT_AVG = 1 << 3,
        SEEN_LAT_MAX = 1 << 4,
        SEEN_CPU_EPS = 1 << 5,
        SEEN_MEM_OPS = 1 << 6,
        SEEN_MEM_MIB = 1 << 7,
        SEEN_FILE_OPS = 1 << 8,
        SEEN_FILE_MIB = 1 << 9,
};

static const char *const test_table[_SYSBENCH_TEST_MAX] = {
        [SYSBENCH_CPU] = "cpu",
        [SYSBENCH_MEMORY] = "memory",
        [SYSBENCH_FILEIO] = "fileio",
};

const char *sysbench_test_to_string(SysbenchTest t) {
        return t >= 0 && t < _SYSBENCH_TEST_MAX ? test_table[t] : NULL;
}

const char *sysbench_headline(SysbenchTest t) {
        static const char *const headline[_SYSBENCH_TEST_MAX] = {
                [SYSBENCH_CPU] = "events_per_s", [SYSBENCH_MEMORY] = "mib_per_s", [SYSBENCH_FILEIO] = "iops",
        };
        return t >= 0 && t < _SYSBENCH_TEST_MAX ? headline[t] : NULL;
}

/* Parses a non-negative finite number at p (after blanks); *ret_end is
 * where it stopped.  -EBADMSG if there is none. */
static int parse_number(const char *p, double *ret, const char **ret_end) {
        while (*p == ' ' || *p == '\t')
                p++;
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
                return -EBADMSG;
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || v < 0)
                return -EBADMSG;
        *ret = v;
        if (ret_end)
                *ret_end = end;
        return 0;
}

/* "LABEL: NUMBER[UNIT]" where line starts with label; the whole value must
 * be the number (plus an optional unit suffix such as "s"). */
static int parse_labelled(const char *line, const char *label, const char *unit, double *ret) {
        const char *end;
        if (parse_number(line + strlen(label), ret, &end) < 0)
                return -EBADMSG;
        if (unit && strncmp(end, unit, strlen(unit)) == 0)
                end += strlen(unit);
        while (*end == ' ' || *end == '\t' || *end == '\r')
                end++;
        return *end ? -EBADMSG : 0;
}

static bool starts_with(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One line, leading blanks already skipped.  Returns 0 (used or ignored),
 * -EBADMSG for a known label with a bad figure, -EIO for FATAL. */
static int parse_line(const char *l, SysbenchResult *r, unsigned *seen, bool *in_latency) {
        double v;
        const char *end;

        if (starts_with(l, "FATAL:"))
                return -EIO;
        if (starts_with(l, "sysbench ") && !r->version[0]) {
                /* A version is a plain token ("1.0.20"), ended by a blank or the line's
                 * end (strchr() finds the NUL too): it goes into JSON as it is. */
                size_t n = strspn(l + 9, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+-~_");
                if (n > 0 && n < sizeof(r->version) && l[9] >= '0' && l[9] <= '9' && strchr(" \t\r", l[9 + n]))
                        snprintf(r->version, sizeof(r->version), "%.*s", (int) n, l + 9);
                return 0;
        }
        if (starts_with(l, "Latency (ms):")) {
                *in_latency = true;
                return 0;
        }
        /* The latency block ends at its blank line or the next section. */
        if (!l[0] || starts_with(l, "Threads fairness:") || starts_with(l, "General statistics:"))
                *in_latency = false;

        if (starts_with(l, "Number of threads:")) {
                if (parse_labelled(l, "Number of threads:", NULL, &v) < 0 || v < 1 || v > 1e6 || v != floor(v))
                        return -EBADMSG;
                r->threads = (unsigned) v;
                *seen |= SEEN_THREADS;
        } else if (starts_with(l, "CPU speed:")) {
                r->test = SYSBENCH_CPU;
        } else if (starts_with(l, "events per second:")) {
                if (parse_labelled(l, "events per second:", NULL, &r->events_per_s) < 0)
                        return -EBADMSG;
                *seen |= SEEN_CPU_EPS;
        } else if (starts_with(l, "Running memory speed test")) {
                r->test = SYSBENCH_MEMORY;
        } else if (starts_with(l, "Total operations:")) {
                /* "Total operations: 317679 (254961.00 per second)" */
                double total;
                if (parse_number(l + strlen("Total operations:"), &total, &end) < 0)
                        return -EBADMSG;
                while (*end == ' ')
                        end++;
                if (*end != '(' || parse_number(end + 1, &r->ops_per_s, &end) < 0 || !starts_with(end, " per second)"))
                        return -EBADMSG;
                r->test = SYSBENCH_MEMORY;
                *seen |= SEEN_MEM_OPS;
        } else if (strstr(l, " MiB transferred (")) {
                /* "1240.93 MiB transferred (995.94 MiB/sec)" */
                double total;
                if (parse_number(l, &total, &end) < 0 || !starts_with(end, " MiB transferred (") ||
                    parse_number(end + strlen(" MiB transferred ("), &r->mib_per_s, &end) < 0 ||
                    !starts_with(end, " MiB/sec)"))
                        return -EBADMSG;
                r->test = SYSBENCH_MEMORY;
                *seen |= SEEN_MEM_MIB;
        } else if (starts_with(l, "File operations:")) {
                r->test = SYSBENCH_FILEIO;
        } else if (starts_with(l, "reads/s:")) {
                if (parse_labelled(l, "reads/s:", NULL, &r->reads_per_s) < 0)
                        return -EBADMSG;
                *seen |= SEEN_FILE_OPS;
        } else if (starts_with(l, "writes/s:")) {
                if (parse_labelled(l, "writes/s:", NULL, &r->writes_per_s) < 0)
                        return -EBADMSG;
        } else if (starts_with(l, "fsyncs/s:")) {
                if (parse_labelled(l, "fsyncs/s:", NULL, &r->fsyncs_per_s) < 0)
                        return -EBADMSG;
        } else if (starts_with(l, "read, MiB/s:")) {
                if (parse_labelled(l, "read, MiB/s:", NULL, &r->read_mib_per_s) < 0)
                        return -EBADMSG;
                *seen |= SEEN_FILE_MIB;
        } else if (starts_with(l, "written, MiB/s:")) {
                if (parse_labelled(l, "written, MiB/s:", NULL, &r->write_mib_per_s) < 0)
                        return -EBADMSG;
        } else if (starts_with(l, "total time:")) {
                if (parse_labelled(l, "total time:", "s", &r->total_time_s) < 0)
                        return -EBADMSG;
                *seen |= SEEN_TIME;
        } else if (starts_with(l, "total number of events:")) {
                if (parse_labelled(l, "total number of events:", NULL, &r->total_events) < 0)
                        return -EBADMSG;
                *seen |= SEEN_EVENTS;
        } else if (*in_latency) {
                if (starts_with(l, "min:")) {
                        if (parse_labelled(l, "min:", NULL, &r->lat_min_ms) < 0)
                                return -EBADMSG;
                } else if (starts_with(l, "avg:")) {
                        if (parse_labelled(l, "avg:", NULL, &r->lat_avg_ms) < 0)
                                return -EBADMSG;
                        *seen |= SEEN_LAT_AVG;
                } else if (starts_with(l, "max:")) {
                        if (parse_labelled(l, "max:", NULL, &r->lat_max_ms) < 0)
                                return -EBADMSG;
                        *seen |= SEEN_LAT_MAX;
                } else if (strstr(l, "th percentile:")) {
                        /* "95th percentile:", or whatever --percentile asked for */
                        double pct;
                        if (parse_number(l, &pct, &end) < 0 || pct < 1 || pct > 100 || pct != floor(pct) ||
                            !starts_with(end, "th percentile:") ||
                            parse_labelled(end, "th percentile:", NULL, &r->lat_pct_ms) < 0)
                                return -EBADMSG;
                        r->lat_pct = (unsigned) pct;
                }
        }
        return 0;
}

int sysbench_parse(const char *text, size_t len, SysbenchResult *ret, size_t *reterr_line) {
        SysbenchResult r = { .test = _SYSBENCH_TEST_INVALID };
        unsigned seen = 0;
        bool in_latency = false;
        size_t lineno = 0;

        if (len > SYSBENCH_TEXT_MAX)
                return -E2BIG;
        for (size_t pos = 0; pos < len;) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - (text + pos)) : len - pos;
                char line[512];

                lineno++;
                /* Longer lines carry nothing we read; a NUL ends the line. */
                snprintf(line, sizeof(line), "%.*s", (int) (n < sizeof(line) - 1 ? n : sizeof(line) - 1), text + pos);
                pos += n + 1;
                const char *l = line;
                while (*l == ' ' || *l == '\t')
                        l++;
                size_t k = strlen(l);
                while (k > 0 && (l[k - 1] == '\r' || l[k - 1] == ' '))
                        line[l - line + --k] = '\0';
                int e = parse_line(l, &r, &seen, &in_latency);
                if (e < 0) {
                        if (reterr_line)
                                *reterr_line = lineno;
                        return e;
                }
        }

        unsigned need = SEEN_THREADS | SEEN_TIME | SEEN_EVENTS | SEEN_LAT_AVG | SEEN_LAT_MAX;
        switch (r.test) {
        case SYSBENCH_CPU: need |= SEEN_CPU_EPS; break;
        case SYSBENCH_MEMORY: need |= SEEN_MEM_OPS | SEEN_MEM_MIB; break;
        case SYSBENCH_FILEIO: need |= SEEN_FILE_OPS | SEEN_FILE_MIB; break;
        default:
                if (reterr_line)
                        *reterr_line = 0;
                return -EBADMSG;
        }
        if ((seen & need) != need || r.total_time_s <= 0) {
                if (reterr_line)
                        *reterr_line = 0;
                return -EBADMSG;
        }
        if (r.test != SYSBENCH_CPU)
                r.events_per_s = r.total_events / r.total_time_s;
        *ret = r;
        return 0;
}

json_t *sysbench_figures(const SysbenchResult *r) {
        json_t *o = json_object();
        if (!o)
                return NULL;
        switch (r->test) {
        case SYSBENCH_CPU:
                json_object_set_new(o, "events_per_s", json_real(r->events_per_s));
                break;
        case SYSBENCH_MEMORY:
                json_object_set_new(o, "mib_per_s", json_real(r->mib_per_s));
                json_object_set_new(o, "ops_per_s", json_real(r->ops_per_s));
                break;
        case SYSBENCH_FILEIO:
                json_object_set_new(o, "iops", json_real(r->reads_per_s + r->writes_per_s));
                json_object_set_new(o, "mib_per_s", json_real(r->read_mib_per_s + r->write_mib_per_s));
                json_object_set_new(o, "reads_per_s", json_real(r->reads_per_s));
                json_object_set_new(o, "writes_per_s", json_real(r->writes_per_s));
                json_object_set_new(o, "fsyncs_per_s", json_real(r->fsyncs_per_s));
                json_object_set_new(o, "read_mib_per_s", json_real(r->read_mib_per_s));
                json_object_set_new(o, "write_mib_per_s", json_real(r->write_mib_per_s));
                break;
        default:
                json_decref(o);
                return NULL;
        }
        json_object_set_new(o, "lat_avg_ms", json_real(r->lat_avg_ms));
        if (r->lat_pct) {
                char key[32];
                snprintf(key, sizeof(key), "lat_p%u_ms", r->lat_pct);
                json_object_set_new(o, key, json_real(r->lat_pct_ms));
        }
        json_object_set_new(o, "lat_max_ms", json_real(r->lat_max_ms));
        json_object_set_new(o, "lat_min_ms", json_real(r->lat_min_ms));
        json_object_set_new(o, "events", json_real(r->total_events));
        json_object_set_new(o, "time_s", json_real(r->total_time_s));
        return o;
}
