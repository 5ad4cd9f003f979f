/* sysbench.h — parser of sysbench 1.0 "run" output (cpu, memory, fileio):
 * the figures the lab records (events/s, latency avg/p95/max, MiB/s, IOPS
 * and the read/write split).  Pure: text in, struct out, no I/O. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Largest input accepted; one run's output is about 1 KiB. */
#define SYSBENCH_TEXT_MAX (1024 * 1024)

typedef enum SysbenchTest {
        SYSBENCH_CPU,    /* "CPU speed:" section */
        SYSBENCH_MEMORY, /* "Total operations:" / "MiB transferred" lines */
        SYSBENCH_FILEIO, /* "File operations:" section */
        _SYSBENCH_TEST_MAX,
        _SYSBENCH_TEST_INVALID = -EINVAL,
} SysbenchTest;

typedef struct SysbenchResult {
        SysbenchTest test;        /* which test printed the output */
        char version[32];         /* "1.0.20" from the banner, "" if absent */
        unsigned threads;         /* "Number of threads:" */
        double total_time_s;      /* "total time:" */
        double total_events;      /* "total number of events:" */
        double events_per_s;      /* cpu: as printed; else total_events / total_time_s */
        double lat_min_ms;        /* Latency (ms) section */
        double lat_avg_ms;        /* mean latency of one event */
        double lat_max_ms;        /* worst event */
        double lat_pct_ms;        /* the percentile line (95th unless --percentile changed it) */
        unsigned lat_pct;         /* which percentile lat_pct_ms is, 0 if absent */
        double ops_per_s;         /* memory: "Total operations: N (X per second)" */
        double mib_per_s;         /* memory: "(X MiB/sec)" */
        double reads_per_s;       /* fileio "reads/s:" */
        double writes_per_s;      /* fileio "writes/s:" */
        double fsyncs_per_s;      /* fileio "fsyncs/s:" */
        double read_mib_per_s;    /* fileio "read, MiB/s:" */
        double write_mib_per_s;   /* fileio "written, MiB/s:" */
} SysbenchResult;

const char *sysbench_test_to_string(SysbenchTest t);

/* Parses one sysbench run's output.  Returns 0, or -EIO when sysbench
 * reported "FATAL:" (*reterr_line is that line), -EBADMSG on a malformed
 * figure (*reterr_line is its line) or a missing one (*reterr_line is 0),
 * -E2BIG above SYSBENCH_TEXT_MAX.  Lines are 1-based. */
int sysbench_parse(const char *text, size_t len, SysbenchResult *ret, size_t *reterr_line);

/* The figures of a result as a flat JSON object of numbers: the headline
 * first (cpu events_per_s, memory mib_per_s, fileio iops), then the rest.
 * NULL on OOM. */
json_t *sysbench_figures(const SysbenchResult *r);

/* The headline figure's name for a test ("events_per_s", "mib_per_s",
 * "iops"), NULL for an invalid test. */
const char *sysbench_headline(SysbenchTest t);
