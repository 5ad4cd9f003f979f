/* human.c — numbers for people (see human.h).  The quantity of a metric
 * follows from its name's suffix, the convention of every experiment kind
 * (docs/measurements.md); the few metrics with a better name than their
 * field are in a table. */
#include "human.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Labels of the metrics a student reads most; sorted by name. */
static const struct {
        const char *metric; /* result-document name */
        const char *label;  /* what to call it */
} labels[] = {
        { "boot_ms", "boot, spawn → init marker" },
        { "guest_ram_rss_kib", "guest RAM resident" },
        { "guest_uptime_at_init_ms", "guest uptime at init" },
        { "pss_anon_kib", "Pss_Anon" },
        { "pss_kib", "PSS" },
        { "rss_kib", "RSS" },
        { "t_console_ms", "first console byte" },
        { "t_exec_ms", "VMM exec" },
        { "t_guest_entry_ms", "guest entry" },
        { "t_init_ms", "init marker" },
        { "t_kernel_ms", "kernel" },
        { "t_qmp_ms", "QMP ready" },
        { "uss_kib", "USS" },
        { "vmm_overhead_kib", "VMM overhead = RSS − guest RAM" },
};

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);
        return n >= k && strcmp(s + n - k, suffix) == 0;
}

HumanMetric human_metric(const char *metric) {
        const char *m = metric ? metric : "";
        /* A bench metric is CELL.FIGURE; the figure says what it is. */
        const char *fig = strrchr(m, '.') ? strrchr(m, '.') + 1 : m;
        HumanMetric h = { .quantity = HUMAN_COUNT, .scale = 1, .unit = "", .label = m };
        if (ends_with(fig, "_ms"))
                h = (HumanMetric) { HUMAN_TIME, 1, "ms", false, m };
        else if (ends_with(fig, "_kib"))
                h = (HumanMetric) { HUMAN_MEMORY, 1.0 / 1024, "MiB", false, m };
        else if (ends_with(fig, "mib_per_s"))
                h = (HumanMetric) { HUMAN_BANDWIDTH, 1, "MiB/s", true, m };
        else if (strcmp(fig, "iops") == 0)
                h = (HumanMetric) { HUMAN_RATE, 1, "IOPS", true, m };
        else if (strcmp(fig, "events_per_s") == 0)
                h = (HumanMetric) { HUMAN_RATE, 1, "events/s", true, m };
        else if (strcmp(fig, "ops_per_s") == 0)
                h = (HumanMetric) { HUMAN_RATE, 1, "ops/s", true, m };
        else if (strcmp(fig, "creation_rate_vms_per_s") == 0)
                h = (HumanMetric) { HUMAN_RATE, 1, "VMs/s", true, m };
        else if (ends_with(fig, "_per_s"))
                h = (HumanMetric) { HUMAN_RATE, 1, "/s", true, m };
        else if (strcmp(fig, "vms_alive") == 0) /* density: more VMs fit */
                h = (HumanMetric) { HUMAN_COUNT, 1, "VMs", true, m };
        else if (strcmp(fig, "daemon_kib_per_vm") == 0)
                h = (HumanMetric) { HUMAN_MEMORY, 1, "KiB", false, m };
        for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
                if (strcmp(labels[i].metric, m) == 0)
                        h.label = labels[i].label;
        return h;
}

char *human_sig(double v, int digits, char *buf, size_t size) {
        if (!isfinite(v)) {
                snprintf(buf, size, "–");
                return buf;
        }
        if (v == 0) {
                snprintf(buf, size, "0");
                return buf;
        }
        /* Round first, so 9.996 counts as 10.0 (magnitude 1), not 9.996. */
        char e[40];
        snprintf(e, sizeof(e), "%.*e", digits - 1, v);
        v = strtod(e, NULL);
        int mag = (int) floor(log10(fabs(v)));
        int decimals = digits - 1 - mag;
        if (decimals < 0) {
                /* 4895.9 → 4900: round away the digits that are not significant. */
                double unit = pow(10, -decimals);
                snprintf(buf, size, "%.0f", round(v / unit) * unit);
        } else
                snprintf(buf, size, "%.*f", decimals > 6 ? 6 : decimals, v);
        return buf;
}

char *human_mean_ci(const HumanMetric *m, double mean, double half, char *buf, size_t size) {
        char a[32], b[32];
        human_sig(mean * m->scale, 3, a, sizeof(a));
        if (isfinite(half))
                snprintf(buf, size, "%s ± %s", a, human_sig(half * m->scale, 2, b, sizeof(b)));
        else
                snprintf(buf, size, "%s", a);
        return buf;
}

char *human_value(const HumanMetric *m, double raw, char *buf, size_t size) {
        return human_sig(raw * m->scale, 3, buf, size);
}

char *human_cell(const char *cell, char *buf, size_t size) {
        unsigned threads = 0;
        char block[16] = "", mode[16] = "";
        int k = sscanf(cell ? cell : "", "t%u.%15[^.].%15s", &threads, block, mode);
        if (k < 1)
                snprintf(buf, size, "%s", cell ? cell : "");
        else if (k < 3)
                snprintf(buf, size, "%u thread%s", threads, threads == 1 ? "" : "s");
        else
                snprintf(buf, size, "%u thread%s, %s %s", threads, threads == 1 ? "" : "s", block, mode);
        return buf;
}
