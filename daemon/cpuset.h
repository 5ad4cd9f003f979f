/* cpuset.h — CPU lists as users write them ("0", "0-3", "0,2-3"), for
 * pinning VMMs on request. */
#pragma once

#include <sched.h>

/* Parses a CPU list; -EINVAL on bad syntax or a CPU ≥ CPU_SETSIZE, -ENXIO
 * when a listed CPU is not online. */
int cpuset_parse(const char *s, cpu_set_t *ret);
