/* cmd-report.c — `virtlabctl report --out DIR [ID...]`: a lab-report section
 * (report.c: Markdown, or HTML with --format html, plus SVG plots) of the
 * given results, else of the newest finished job of each kind. */
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "cmd.h"
#include "report.h"
#include "util.h"

static const Option report_options[] = {
        { .name = "out", .arg = "DIR", .parse = args_set_string, .offset = offsetof(Args, out),
          .help = "write DIR/report.md (--format html: report.html) and the plots" },
        { .name = "alpha", .arg = "P", .parse = args_set_alpha, .offset = offsetof(Args, alpha),
          .help = "significance of the verdicts  [0.05]" },
        {},
};
const OptionGroup report_group = { "report options", report_options };

/* Whether an earlier row of rows (before index i) has the same kind. */
static bool kind_seen(json_t *rows, size_t i, const char *kind) {
        for (size_t j = 0; j < i; j++)
                if (strcmp(json_string_value(json_object_get(json_array_get(rows, j), "kind")) ?: "", kind ?: "") == 0)
                        return true;
        return false;
}

/* The newest finished job of each kind into ids (at most max); *ret_n how many. */
static int newest_per_kind(sd_bus *bus, uint32_t *ids, size_t max, size_t *ret_n) {
        json_auto_t *rows = NULL;
        int code = bus_call_json(bus, "ListResults", &rows, "s", "{\"state\":\"done\",\"limit\":200}");
        if (code != EXIT_OK)
                return code;
        json_t *row;
        size_t i, k = 0;
        /* Newest first: the first row of each kind wins. */
        json_array_foreach(rows, i, row) {
                const char *kind = json_string_value(json_object_get(row, "kind"));
                if (!kind_seen(rows, i, kind) && k < max)
                        ids[k++] = (uint32_t) json_integer_value(json_object_get(row, "job_id"));
        }
        if (k == 0) {
                fprintf(stderr, "virtlabctl: no finished results to report\n");
                return EXIT_FAILED;
        }
        *ret_n = k;
        return EXIT_OK;
}

/* Fetches ids[0..n) and writes the report; prints its path. */
static int report_jobs(sd_bus *bus, Args *a, const uint32_t *ids, size_t n) {
        json_t *docs[ARGS_IDS_MAX];
        size_t got = 0;
        int code = EXIT_OK;
        while (got < n && (code = bus_get_result(bus, ids[got], &docs[got])) == EXIT_OK)
                got++;
        if (got == n) {
                const char *why = NULL;
                int r = report_write(a->out, docs, got, a->html ? REPORT_HTML : REPORT_MD, a->alpha, &why);
                if (r < 0) {
                        fprintf(stderr, "virtlabctl: report: %s: %s\n", why, strerror(-r));
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
        if (!a->out) {
                fprintf(stderr, "virtlabctl: report needs --out DIR\n");
                return EXIT_USAGE;
        }
        if (args_parse_ids(a->argv, a->argc, ids, ARGS_IDS_MAX) < 0)
                return EXIT_USAGE;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        if (code == EXIT_OK && n == 0)
                code = newest_per_kind(bus, ids, ARGS_IDS_MAX, &n);
        return code == EXIT_OK ? report_jobs(bus, a, ids, n) : code;
}
