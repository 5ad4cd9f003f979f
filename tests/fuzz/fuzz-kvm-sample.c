/* fuzz-kvm-sample.c — fuzz target for what virtlabd reads back from the
 * kvm-sample child (experiments/kvm-sample.c): its --json document on
 * stdout (kvm_sample_record()) and its stderr, where last_trace_us() finds
 * the last "trace: N us" line and last_err_line() the error message.  The
 * input is used as both streams.  Checked: the trace figure comes from the
 * last line starting "trace:" and -ENOENT means there is none; the error
 * line is the input's last non-empty line, cut to its buffer, with no line
 * break; a JSON object records the fields the sample always has, with the
 * types the result schema expects, and the sample prints as JSON. */
#include "experiments/kvm-sample.c"

#include "fuzz.h"

static void check_trace(const char *err) {
        json_int_t us = -1;
        int r = last_trace_us(err, &us);
        bool any = strncmp(err, "trace:", 6) == 0 || strstr(err, "\ntrace:");
        fuzz_assert(r == 0 || r == -ENOENT || r == -EBADMSG);
        fuzz_assert((r == -ENOENT) == !any);
        if (r == 0) {
                const char *last = strncmp(err, "trace:", 6) == 0 ? err : NULL;
                for (const char *p = strstr(err, "\ntrace:"); p; p = strstr(p + 1, "\ntrace:"))
                        last = p + 1;
                fuzz_assert(last && strtoll(last + 6, NULL, 10) == us);
        }
}

static void check_err_line(const char *err) {
        char line[512];
        memset(line, 'x', sizeof(line));
        last_err_line(err, line, sizeof(line));
        fuzz_assert(strnlen(line, sizeof(line)) < sizeof(line) && !strchr(line, '\n'));
        fuzz_assert(strstr(err, line)); /* a piece of the input, not garbage */
}

static void check_record(const char *out) {
        json_error_t e;
        json_auto_t *doc = json_loads(out, 0, &e);
        if (!json_is_object(doc))
                return;
        json_auto_t *s = json_object();
        kvm_sample_record(s, doc);
        fuzz_assert(json_is_string(json_object_get(s, "output")) && json_is_string(json_object_get(s, "mode")));
        fuzz_assert(json_is_integer(json_object_get(s, "exits_total")) && json_is_integer(json_object_get(s, "io_exits")));
        fuzz_assert(json_is_integer(json_object_get(s, "hlt_exits")) && json_is_boolean(json_object_get(s, "upper")));
        fuzz_assert(json_object_get(s, "exits"));
        _cleanup_free_ char *text = json_dumps(s, JSON_COMPACT);
        fuzz_assert(text);
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_strndup(data, size);
        check_trace(text);
        check_err_line(text);
        check_record(text);
        return 0;
}
