/* systemd-analyze.c — `systemd-analyze time` parsed (systemd-analyze.h). */
#include "systemd-analyze.h"

#include <math.h>
#include <stdio.h>

#include "utf8.h"
#include "util.h"

#define STARTUP "Startup finished in "
#define NOT_FINISHED "Bootup is not yet finished"

static const char *const phase_names[_SYSTEMD_PHASE_MAX] = {
        [SYSTEMD_PHASE_FIRMWARE] = "firmware", [SYSTEMD_PHASE_LOADER] = "loader", [SYSTEMD_PHASE_KERNEL] = "kernel",
        [SYSTEMD_PHASE_INITRD] = "initrd",     [SYSTEMD_PHASE_USERSPACE] = "userspace",
};

const char *systemd_phase_to_string(SystemdPhase p) {
        return p >= 0 && p < _SYSTEMD_PHASE_MAX ? phase_names[p] : NULL;
}

static SystemdPhase phase_from(const char *s, size_t len) {
        for (int p = 0; p < _SYSTEMD_PHASE_MAX; p++)
                if (strlen(phase_names[p]) == len && strncmp(s, phase_names[p], len) == 0)
                        return (SystemdPhase) p;
        return _SYSTEMD_PHASE_INVALID;
}

/* systemd's format_timespan() units, longest name first where one is a prefix of another. */
static const struct {
        const char *name;
        double ms;
} units[] = {
        { "month", 2629800000.0 }, { "min", 60000.0 }, { "ms", 1.0 }, { "us", 0.001 }, { "\u00b5s", 0.001 },
        { "y", 31557600000.0 },    { "w", 604800000.0 }, { "d", 86400000.0 }, { "h", 3600000.0 }, { "s", 1000.0 },
};

int systemd_timespan_ms(const char *s, size_t len, double *ret) {
        const char *p = s, *end = s + len;
        double sum = 0;
        bool any = false;
        while (p < end) {
                while (p < end && *p == ' ')
                        p++;
                if (p == end)
                        break;
                char num[32], *stop;
                size_t n = strspn(p, "0123456789.");
                if (n == 0 || n >= sizeof(num) || p + n > end)
                        return -EINVAL;
                memcpy(num, p, n);
                num[n] = 0;
                double v = strtod(num, &stop);
                if (*stop)
                        return -EINVAL;
                p += n;
                size_t u = 0;
                while (u < ELEMENTSOF(units) &&
                       !((size_t) (end - p) >= strlen(units[u].name) && strncmp(p, units[u].name, strlen(units[u].name)) == 0))
                        u++;
                if (u == ELEMENTSOF(units))
                        return -EINVAL;
                p += strlen(units[u].name);
                if (p < end && *p != ' ')
                        return -EINVAL;
                sum += v * units[u].ms;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret = sum;
        return 0;
}

/* One "TIMESPAN (phase)" term of the startup line. */
static int parse_term(const char *s, size_t len, SystemdTimes *t) {
        const char *open = memchr(s, '(', len);
        if (!open || s[len - 1] != ')')
                return -EBADMSG;
        SystemdPhase p = phase_from(open + 1, (size_t) (s + len - 1 - (open + 1)));
        double ms;
        if (p < 0 || systemd_timespan_ms(s, (size_t) (open - s), &ms) < 0)
                return -EBADMSG;
        t->phase_ms[p] = ms;
        return 0;
}

static int parse_startup(const char *line, size_t len, SystemdTimes *t) {
        const char *eq = NULL;
        for (const char *q = line; q + 2 < line + len; q++)
                if (q[0] == ' ' && q[1] == '=' && q[2] == ' ')
                        eq = q;
        if (!eq || systemd_timespan_ms(eq + 3, (size_t) (line + len - eq - 3), &t->total_ms) < 0)
                return -EBADMSG;
        for (const char *p = line; p < eq;) {
                const char *plus = p;
                while (plus + 2 < eq && !(plus[0] == ' ' && plus[1] == '+' && plus[2] == ' '))
                        plus++;
                if (plus + 2 >= eq)
                        plus = eq;
                if (parse_term(p, (size_t) (plus - p), t) < 0)
                        return -EBADMSG;
                p = plus == eq ? eq : plus + 3;
        }
        return 0;
}

/* "multi-user.target reached after 10.210s in userspace." */
static void parse_reached(const char *text, SystemdTimes *t) {
        const char *r = strstr(text, " reached after ");
        if (!r)
                return;
        const char *start = r;
        while (start > text && start[-1] != '\n' && start[-1] != ' ')
                start--;
        const char *after = r + strlen(" reached after "), *in = strstr(after, " in userspace");
        const char *eol = after + strcspn(after, "\n");
        if (!in || in > eol || (size_t) (r - start) >= sizeof(t->target))
                return;
        double ms;
        if (systemd_timespan_ms(after, (size_t) (in - after), &ms) < 0)
                return;
        snprintf(t->target, sizeof(t->target), "%.*s", (int) (r - start), start);
        t->target_ms = ms;
}

static int fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        /* The quoted line is cut at its buffer, maybe inside a character. */
        if (*ret_error)
                (void) utf8_scrub(*ret_error);
        return r;
}

int systemd_analyze_parse(const char *text, SystemdTimes *ret, char **ret_error) {
        SystemdTimes t = { .total_ms = NAN, .target_ms = NAN };
        for (int p = 0; p < _SYSTEMD_PHASE_MAX; p++)
                t.phase_ms[p] = NAN;
        const char *s = strstr(text, STARTUP);
        if (!s) {
                const char *nf = strstr(text, NOT_FINISHED);
                if (nf)
                        return fail(ret_error, -EAGAIN,
                                    "systemd-analyze time in the guest says '%s' (wait for 'systemctl is-system-running --wait' first)",
                                    NOT_FINISHED);
                return fail(ret_error, -EBADMSG, "systemd-analyze time printed no '%s' line", "Startup finished in");
        }
        size_t len = strcspn(s, "\n");
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\r'))
                len--;
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int) len, s);
        if (len <= strlen(STARTUP) || parse_startup(s + strlen(STARTUP), len - strlen(STARTUP), &t) < 0)
                return fail(ret_error, -EBADMSG, "systemd-analyze time: cannot parse '%s'", line);
        parse_reached(s + len, &t);
        *ret = t;
        return 0;
}

void systemd_times_to_sample(const SystemdTimes *t, json_t *sample) {
        for (int p = 0; p < _SYSTEMD_PHASE_MAX; p++)
                if (!isnan(t->phase_ms[p])) {
                        char key[64];
                        snprintf(key, sizeof(key), "systemd_%s_ms", phase_names[p]);
                        json_object_set_new(sample, key, json_real(t->phase_ms[p]));
                }
        json_object_set_new(sample, "systemd_total_ms", json_real(t->total_ms));
        if (t->target[0]) {
                json_object_set_new(sample, "systemd_target", json_string(t->target));
                json_object_set_new(sample, "systemd_target_ms", json_real(t->target_ms));
        }
}
