/* cmd-report.c — `virtlabctl report --out DIR [ID...]`: the lab report
 * (report.c: Markdown, or HTML with --format html, plus SVG figures) of the
 * given results, else of the most recent complete set: the newest compare
 * job and its siblings, or without one the newest job of each kind per VMM
 * (report_pick() in report-set.c decides; the report says which). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cmd.h"
#include "report-set.h"
#include "report.h"
#include "util.h"

static const Option report_options[] = {
        { .name = "out", .arg = "DIR", .parse = args_set_string, .offset = offsetof(Args, out),
          .help = "write DIR/report.md (--format html: report.html) and the figures" },
        { .name = "alpha", .arg = "P", .parse = args_set_alpha, .offset = offsetof(Args, alpha),
          .help = "significance of the verdicts  [0.05]" },
        {},
};
const OptionGroup report_group = { "report options", report_options };

/* ListResults rows and the documents fetched so far (the pick's cache). */
typedef struct Listing {
        sd_bus *bus;                        /* the connection */
        json_t *rows;                       /* ListResults, newest first */
        json_t *docs[REPORT_PICK_SCAN_MAX]; /* GetResult of rows[i], once fetched */
        int code;                           /* exit code of the first failed fetch */
} Listing;

static int listing_fetch(size_t i, void *userdata, json_t **ret) {
        Listing *l = userdata;
        if (i >= REPORT_PICK_SCAN_MAX)
                return -EINVAL;
        if (!l->docs[i]) {
                uint32_t id = (uint32_t) json_integer_value(json_object_get(json_array_get(l->rows, i), "job_id"));
                int code = bus_get_result(l->bus, id, &l->docs[i]);
                if (code != EXIT_OK) {
                        l->code = code;
                        return -EIO;
                }
        }
        *ret = l->docs[i];
        return 0;
}

/* Whether a row is one of the extras a pick adds (benchmarks, memory lab). */
static bool row_is_extra(const ReportRow *row) {
        return row->kind && (strncmp(row->kind, "bench-", 6) == 0 || streq(row->kind, "mtree") || streq(row->kind, "translate"));
}

/* "3, 4" of the picked rows (extra: the extras, else the others) into buf. */
static void ids_text(const ReportRow *rows, const size_t *idx, size_t n, bool extra, char *buf, size_t size) {
        buf[0] = 0;
        for (size_t k = 0; k < n; k++)
                if (row_is_extra(&rows[idx[k]]) == extra)
                        snprintf(buf + strlen(buf), size - strlen(buf), "%s%u", buf[0] ? ", " : "", rows[idx[k]].id);
}

/* The default set into ids (*ret_n of them) and the sentence that says how
 * it was chosen.  An exit code. */
static int pick_default(sd_bus *bus, uint32_t *ids, size_t max, size_t *ret_n, char *why, size_t why_size) {
        Listing l = { .bus = bus };
        int code = bus_call_json(bus, "ListResults", &l.rows, "s", "{\"state\":\"done\",\"limit\":200}");
        if (code != EXIT_OK)
                return code;
        size_t n = json_array_size(l.rows), k = 0, idx[ARGS_IDS_MAX];
        ReportRow *rows = calloc(n ? n : 1, sizeof(ReportRow));
        ReportPick how = REPORT_PICK_SEPARATE;
        int r = rows ? 0 : -ENOMEM;
        for (size_t i = 0; rows && i < n; i++) {
                json_t *row = json_array_get(l.rows, i);
                rows[i] = (ReportRow) { (uint32_t) json_integer_value(json_object_get(row, "job_id")),
                                        json_string_value(json_object_get(row, "kind")),
                                        json_string_value(json_object_get(row, "vmm")) };
        }
        if (r == 0)
                r = report_pick(rows, n, listing_fetch, &l, idx, max < ARGS_IDS_MAX ? max : ARGS_IDS_MAX, &k, &how);
        if (r == 0) {
                char core[256], extra[256], tail[384] = "";
                ids_text(rows, idx, k, false, core, sizeof(core));
                ids_text(rows, idx, k, true, extra, sizeof(extra));
                if (*extra)
                        snprintf(tail, sizeof(tail), "; with the newest benchmark and memory-lab jobs that fit (%s)", extra);
                for (size_t i = 0; i < k; i++)
                        ids[i] = rows[idx[i]].id;
                *ret_n = k;
                if (how == REPORT_PICK_COMPARE)
                        snprintf(why, why_size, "This report covers the most recent complete set: the newest compare job and "
                                                "the jobs its command ran with it (%s)%s.",
                                 core, tail);
                else if (*core)
                        snprintf(why, why_size, "There is no compare job, so this report covers the newest finished boot and "
                                                "memory job of each VMM (%s): separate jobs, run one after another%s.",
                                 core, tail);
                else
                        snprintf(why, why_size, "This report covers the newest finished jobs (%s).", extra);
        } else if (r == -ENODATA)
                fprintf(stderr, "virtlabctl: no finished results to report\n");
        free(rows);
        for (size_t i = 0; i < REPORT_PICK_SCAN_MAX; i++)
                json_decref(l.docs[i]);
        json_decref(l.rows);
        if (r == -EIO)
                return l.code;
        return r < 0 ? EXIT_FAILED : EXIT_OK;
}

/* Fetches ids[0..n) and writes the report; prints its path. */
static int report_jobs(sd_bus *bus, Args *a, const uint32_t *ids, size_t n, const char *why) {
        json_t *docs[ARGS_IDS_MAX];
        size_t got = 0;
        int code = EXIT_OK;
        while (got < n && (code = bus_get_result(bus, ids[got], &docs[got])) == EXIT_OK)
                got++;
        if (got == n) {
                const char *err = NULL;
                int r = report_write(a->out, docs, got, a->html ? REPORT_HTML : REPORT_MD, a->alpha, why, &err);
                if (r < 0) {
                        fprintf(stderr, "virtlabctl: report: %s: %s\n", err, strerror(-r));
                        code = EXIT_FAILED;
                } else
                        printf("%s/report.%s\n", a->out, a->html ? "html" : "md");
        }
        for (size_t i = 0; i < got; i++)
                json_decref(docs[i]);
        return code;
}

int cmd_report(Args *a) {
        uint32_t ids[ARGS_IDS_MAX];
        size_t n = (size_t) a->argc;
        char why[1024] = "";
        if (!a->out) {
                fprintf(stderr, "virtlabctl: report needs --out DIR\n");
                return EXIT_USAGE;
        }
        if (args_parse_ids(a->argv, a->argc, ids, ARGS_IDS_MAX) < 0)
                return EXIT_USAGE;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        if (code == EXIT_OK && n == 0)
                code = pick_default(bus, ids, ARGS_IDS_MAX, &n, why, sizeof(why));
        return code == EXIT_OK ? report_jobs(bus, a, ids, n, *why ? why : NULL) : code;
}
