/* cmd-jobs.c — `virtlabctl jobs` (the active and queued jobs, a table or
 * --json) and `virtlabctl cancel ID`. */
#include <stdio.h>

#include "bus.h"
#include "cmd.h"
#include "util.h"

/* ListJobs() → a(usssdo) as a JSON array of rows into *ret, or an exit code. */
static int list_jobs(sd_bus *bus, json_t **ret) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "ListJobs", &e, &reply, NULL);
        if (r < 0) {
                int code = bus_call_failed("ListJobs", &e, r);
                sd_bus_error_free(&e);
                return code;
        }
        json_t *rows = json_array();
        uint32_t id;
        const char *kind, *vmm, *state, *path;
        double progress;
        sd_bus_message_enter_container(reply, 'a', "(usssdo)");
        while (sd_bus_message_read(reply, "(usssdo)", &id, &kind, &vmm, &state, &progress, &path) > 0)
                json_array_append_new(rows, json_pack("{s:I, s:s, s:s, s:s, s:f, s:s}", "job_id", (json_int_t) id, "kind",
                                                      kind, "vmm", vmm, "state", state, "progress", progress, "path", path));
        *ret = rows;
        return EXIT_OK;
}

/* The jobs table. */
static void jobs_print(json_t *rows) {
        json_t *j;
        size_t i;
        printf("%6s  %-8s %-14s %-9s %8s  %s\n", "JOB", "KIND", "VMM", "STATE", "PROGRESS", "OBJECT");
        json_array_foreach(rows, i, j)
                printf("%6lld  %-8s %-14s %-9s %7.0f%%  %s\n", (long long) json_integer_value(json_object_get(j, "job_id")),
                       json_string_value(json_object_get(j, "kind")), json_string_value(json_object_get(j, "vmm")),
                       json_string_value(json_object_get(j, "state")),
                       100 * json_real_value(json_object_get(j, "progress")),
                       json_string_value(json_object_get(j, "path")));
}

int cmd_jobs(Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        json_auto_t *rows = NULL;
        int code = bus_open(a->bus, &bus);
        if (code == EXIT_OK)
                code = list_jobs(bus, &rows);
        if (code != EXIT_OK)
                return code;
        if (a->format == OUTPUT_JSON) {
                json_dumpf(rows, stdout, JSON_INDENT(2));
                putchar('\n');
        } else
                jobs_print(rows);
        return EXIT_OK;
}

int cmd_cancel(Args *a) {
        uint32_t id;
        if (a->argc != 1 || args_parse_ids(a->argv, 1, &id, 1) < 0) {
                fprintf(stderr, "virtlabctl: usage: cancel ID\n");
                return EXIT_USAGE;
        }
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        if (code != EXIT_OK)
                return code;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "CancelJob", &e, NULL, "u", id);
        if (r < 0)
                code = bus_call_failed("cancel", &e, r);
        sd_bus_error_free(&e);
        return code;
}
