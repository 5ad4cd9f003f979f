/* systemd-analyze.h — the guest's own clock of its boot: the text of
 * `systemd-analyze time`, parsed.
 *
 *   Startup finished in 8.988s (kernel) + 10.618s (userspace) = 19.606s
 *   graphical.target reached after 10.210s in userspace.
 *
 * Phases a boot did not have (firmware and loader without EFI, initrd
 * without systemd in the initrd) are absent from the text and NAN here.
 * Pure: no I/O. */
#pragma once

#include <errno.h>
#include <jansson.h>

typedef enum SystemdPhase {
        SYSTEMD_PHASE_FIRMWARE,  /* EFI firmware, as the loader reported it */
        SYSTEMD_PHASE_LOADER,    /* the boot loader */
        SYSTEMD_PHASE_KERNEL,    /* kernel start to the first userspace process of the real root (or the initrd) */
        SYSTEMD_PHASE_INITRD,    /* a systemd initrd until switch-root */
        SYSTEMD_PHASE_USERSPACE, /* systemd's start until the boot job finished */
        _SYSTEMD_PHASE_MAX,
        _SYSTEMD_PHASE_INVALID = -EINVAL,
} SystemdPhase;

typedef struct SystemdTimes {
        double phase_ms[_SYSTEMD_PHASE_MAX]; /* NAN where the boot had no such phase */
        double total_ms;         /* the sum systemd printed after '=' */
        char target[128];        /* the default target reached ("" if not printed) */
        double target_ms;        /* ... after this long in userspace, NAN if not printed */
} SystemdTimes;

/* The phase's name in systemd's text ("kernel") and in sample fields. */
const char *systemd_phase_to_string(SystemdPhase p);
/* Parses the first "Startup finished in" line of text (and the "reached
 * after" line after it).  -EAGAIN when the text says the boot has not
 * finished; -EBADMSG when there is no such line or it does not parse; both
 * with a sentence in *ret_error. */
int systemd_analyze_parse(const char *text, SystemdTimes *ret, char **ret_error);
/* A timespan as systemd prints it ("1min 13.031s", "873ms", "2h 5.1s") in
 * milliseconds; -EINVAL if it is none. */
int systemd_timespan_ms(const char *s, size_t len, double *ret);
/* Adds systemd_<phase>_ms, systemd_total_ms, systemd_target and
 * systemd_target_ms to sample (phases the boot had only). */
void systemd_times_to_sample(const SystemdTimes *t, json_t *sample);
