/* log.c — process-wide leveled logging to stderr (journald-style <N> prefixes
 * when stderr is the journal, plain "virtlabd: " text otherwise). */
#include "util.h"

#include <stdio.h>

int log_max_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
        [LOG_LEVEL_ERR] = "err",   [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
        [LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (level_names[i] && streq(level_names[i], s))
                        return (int) i;
        return -EINVAL;
}

/* Expands %m to strerror(error) by hand, since errno may no longer hold it. */
int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        int e = error < 0 ? -error : error;
        if (level > log_max_level)
                return -e;

        char expanded[1024];
        size_t j = 0;
        for (const char *p = fmt; *p && j < sizeof(expanded) - 1; p++) {
                if (p[0] == '%' && p[1] == 'm') {
                        const char *msg = strerror(e);
                        size_t n = strlen(msg);
                        if (n > sizeof(expanded) - 1 - j)
                                n = sizeof(expanded) - 1 - j;
                        memcpy(expanded + j, msg, n);
                        j += n;
                        p++;
                } else
                        expanded[j++] = *p;
        }
        expanded[j] = 0;

        char msg[2048];
        va_list ap;
        va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        (void) vsnprintf(msg, sizeof(msg), expanded, ap);
#pragma GCC diagnostic pop
        va_end(ap);

        /* journald parses "<N>" as the priority; a terminal reader wants words. */
        bool journal = getenv("JOURNAL_STREAM") != NULL;
        char prefix[16] = "";
        if (journal)
                (void) snprintf(prefix, sizeof(prefix), "<%d>", level);
        if (log_max_level >= LOG_LEVEL_DEBUG)
                fprintf(stderr, "%s%s: %s (%s:%d)\n", prefix, program_invocation_short_name, msg, file, line);
        else if (journal || level > LOG_LEVEL_WARNING)
                fprintf(stderr, "%s%s: %s\n", prefix, program_invocation_short_name, msg);
        else
                fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, level_names[level], msg);
        return -e;
}
