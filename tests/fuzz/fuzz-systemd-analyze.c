/* fuzz-systemd-analyze.c — fuzz target for the `systemd-analyze time`
 * parser (systemd-analyze.c), whose text the guest prints (the reporter's
 * frame, or a console command's output): scrubbed to UTF-8 as the console
 * delivers it, then parsed.  A parse gives finite, non-negative figures
 * that a sample holds; a refusal is one of the two errors, with a UTF-8
 * sentence of bounded length. */
#include <math.h>

#include "fuzz.h"
#include "systemd-analyze.h"
#include "utf8.h"
#include "util.h"

static void check_parsed(const SystemdTimes *t) {
        fuzz_assert(isfinite(t->total_ms) && t->total_ms >= 0);
        for (int p = 0; p < _SYSTEMD_PHASE_MAX; p++)
                fuzz_assert(isnan(t->phase_ms[p]) || (isfinite(t->phase_ms[p]) && t->phase_ms[p] >= 0));
        fuzz_assert(strnlen(t->target, sizeof(t->target)) < sizeof(t->target));
        fuzz_assert(fuzz_is_utf8(t->target));
        fuzz_assert(!t->target[0] || (isfinite(t->target_ms) && t->target_ms >= 0));
        json_t *s = json_object();
        systemd_times_to_sample(t, s);
        fuzz_assert(json_is_real(json_object_get(s, "systemd_total_ms")));
        fuzz_assert(!t->target[0] || json_is_string(json_object_get(s, "systemd_target")));
        char *dump = json_dumps(s, 0);
        fuzz_assert(dump);
        free(dump);
        json_decref(s);
}

int fuzz_one(const uint8_t *data, size_t size) {
        char *text = fuzz_strndup(data, size), *error = NULL;
        (void) utf8_scrub(text);
        SystemdTimes t;
        int r = systemd_analyze_parse(text, &t, &error);
        if (r == 0)
                check_parsed(&t);
        else {
                fuzz_assert(r == -EAGAIN || r == -EBADMSG);
                fuzz_assert(error && fuzz_is_utf8(error) && strlen(error) <= 1024);
        }
        /* Any span of the text is a timespan or -EINVAL, never a negative or
         * infinite one. */
        double ms;
        size_t len = strlen(text);
        if (systemd_timespan_ms(text, len, &ms) == 0)
                fuzz_assert(isfinite(ms) && ms >= 0);
        free(error);
        free(text);
        return 0;
}
