/* cpuset.c — parses CPU lists ("0-3,6") and checks the CPUs are online. */
#include "cpuset.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

static int parse_cpu(const char **p, long *ret) {
        if (!isdigit((unsigned char) **p))
                return -EINVAL;
        char *end;
        errno = 0;
        long v = strtol(*p, &end, 10);
        if (errno || v < 0 || v >= CPU_SETSIZE)
                return -EINVAL;
        *p = end;
        *ret = v;
        return 0;
}

int cpuset_parse(const char *s, cpu_set_t *ret) {
        cpu_set_t set, online;
        CPU_ZERO(&set);
        if (!s || !*s)
                return -EINVAL;
        for (const char *p = s;;) {
                long lo, hi;
                if (parse_cpu(&p, &lo) < 0)
                        return -EINVAL;
                hi = lo;
                if (*p == '-') {
                        p++;
                        if (parse_cpu(&p, &hi) < 0 || hi < lo)
                                return -EINVAL;
                }
                for (long c = lo; c <= hi; c++)
                        CPU_SET((int) c, &set);
                if (*p == 0)
                        break;
                if (*p++ != ',')
                        return -EINVAL;
        }
        if (sched_getaffinity(0, sizeof(online), &online) == 0) {
                cpu_set_t both;
                CPU_AND(&both, &set, &online);
                if (!CPU_EQUAL(&both, &set))
                        return -ENXIO;
        }
        *ret = set;
        return 0;
}
