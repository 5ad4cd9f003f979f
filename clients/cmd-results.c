/* cmd-results.c — `virtlabctl results`: the stored jobs (ListResults, with
 * --kind/--state/--vmm/--limit filters), or with IDs their results, several
 * side by side.  results_show() also prints what an experiment verb ran. */
#include <stdio.h>
#include <string.h>

#include "bus.h"
#include "cmd.h"
#include "util.h"

static const Option results_options[] = {
        { .name = "kind", .arg = "K", .parse = args_set_string, .offset = offsetof(Args, kind),
          .help = "only jobs of this experiment kind" },
        { .name = "state", .arg = "S", .parse = args_set_string, .offset = offsetof(Args, state),
          .help = "only jobs in this state (done, failed, canceled)" },
        { .name = "vmm", .arg = "NAME", .parse = args_set_string, .offset = offsetof(Args, vmm),
          .help = "only jobs of this VMM" },
        { .name = "limit", .arg = "N", .parse = args_set_long, .offset = offsetof(Args, limit),
          .help = "at most N jobs, newest first" },
        {},
};
const OptionGroup results_group = { "results filters", results_options };

int results_show(sd_bus *bus, Args *a, const uint32_t *ids, size_t n) {
        json_t **docs = calloc(n ? n : 1, sizeof(json_t *));
        int code = docs ? EXIT_OK : EXIT_FAILED;
        size_t got = 0;
        for (; code != EXIT_USAGE && code != EXIT_UNREACHABLE && docs && got < n; got++) {
                int c = bus_get_result(bus, ids[got], &docs[got]);
                if (c != EXIT_OK) {
                        code = c;
                        break;
                }
                if (strcmp(json_string_value(json_object_get(docs[got], "state")) ?: "", "done") != 0)
                        code = EXIT_FAILED;
        }
        if (docs && got == n)
                output_results(stdout, docs, got, a->format);
        for (size_t i = 0; docs && i < n; i++)
                json_decref(docs[i]);
        free(docs);
        return code;
}

/* ListResults with a's filters, printed as a list. */
static int results_list(sd_bus *bus, Args *a) {
        json_auto_t *f = json_pack("{s:s?, s:s?, s:s?}", "kind", a->kind, "vmm", a->vmm, "state", a->state);
        if (a->limit)
                json_object_set_new(f, "limit", json_integer(a->limit));
        _cleanup_free_ char *filter = json_dumps(f, JSON_COMPACT);
        json_auto_t *rows = NULL;
        int code = bus_call_json(bus, "ListResults", &rows, "s", filter);
        if (code != EXIT_OK)
                return code;
        output_result_list(stdout, rows, a->format);
        return EXIT_OK;
}

int cmd_results(Args *a) {
        uint32_t ids[ARGS_IDS_MAX];
        if (args_parse_ids(a->argv, a->argc, ids, ARGS_IDS_MAX) < 0)
                return EXIT_USAGE;
        if (a->argc == 0 && a->format == OUTPUT_OPENMETRICS) {
                fprintf(stderr, "virtlabctl: --format openmetrics needs job ids (results ID...)\n");
                return EXIT_USAGE;
        }
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        if (code != EXIT_OK)
                return code;
        return a->argc > 0 ? results_show(bus, a, ids, (size_t) a->argc) : results_list(bus, a);
}
