/* test-host.c — host.c's report of what this kernel cannot give: on a host
 * like the lab's 4.19 ones (no PSI, no Pss_Anon, no pidfd, and here no TSC
 * rate or CPU model either) the host object never carries a silent zero:
 * "tsc_khz" is absent and "degraded" names each missing thing and why.  On
 * this machine's own probe, every entry matches what the kernel has. */
#include "host.c"

#include "test-helpers.h"

#include <sys/syscall.h>
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* The host as a 4.19 kernel on an unknown CPU would show it. */
static HostInfo old_host(void) {
        HostInfo h = { .cores = 2, .kvm = KVM_FLAVOUR_NONE, .psi_errno = ENOENT };
        snprintf(h.kernel_release, sizeof(h.kernel_release), "4.19.0-27-amd64");
        decide_default_accel(&h);
        return h;
}

static bool has_entry(json_t *degraded, const char *needle) {
        size_t i;
        json_t *v;
        json_array_foreach(degraded, i, v)
                if (strstr(json_string_value(v), needle))
                        return true;
        return false;
}

static void test_degraded_old_kernel(void **state) {
        HostInfo h = old_host();
        json_auto_t *o = host_to_json(&h);
        assert_non_null(o);
        assert_null(json_object_get(o, "tsc_khz")); /* absent, not 0 */
        assert_string_equal(json_string_value(json_object_get(o, "cpu_model")), "unknown");
        json_t *d = json_object_get(o, "degraded");
        assert_true(json_is_array(d));
        assert_int_equal(json_array_size(d), 5);
        assert_true(has_entry(d, "tsc_khz: not measured"));
        assert_true(has_entry(d, "cpu_model: not measured"));
        assert_true(has_entry(d, "contention (PSI): not measured: /proc/pressure/cpu: No such file or directory"));
        assert_true(has_entry(d, "pss_anon_kib, pss_file_kib, pss_shmem_kib: not measured"));
        assert_true(has_entry(d, "pidfd_open: Function not implemented, needs Linux 5.3"));
}

/* PSI built in but off (psi=0): the read fails, and the sentence says so. */
static void test_degraded_psi_disabled(void **state) {
        HostInfo h = old_host();
        h.psi_errno = EOPNOTSUPP;
        json_auto_t *o = host_to_json(&h);
        assert_true(has_entry(json_object_get(o, "degraded"), "/proc/pressure/cpu: Operation not supported"));
}

/* A host with everything: nothing degraded, tsc_khz present. */
static void test_degraded_none(void **state) {
        HostInfo h = old_host();
        h.psi_errno = 0;
        h.smaps_pss_anon = h.pidfd = true;
        h.tsc_khz = 2000000;
        snprintf(h.cpu_model, sizeof(h.cpu_model), "Some CPU");
        json_auto_t *o = host_to_json(&h);
        assert_int_equal(json_integer_value(json_object_get(o, "tsc_khz")), 2000000);
        assert_int_equal(json_array_size(json_object_get(o, "degraded")), 0);
}

/* This machine: each probe agrees with the kernel it runs on (under
 * old-kernel too, where pidfd_open is ENOSYS). */
static void test_probe_here(void **state) {
        HostInfo h;
        assert_int_equal(host_probe(&h), 0);
        _cleanup_free_ char *psi = read_file("/proc/pressure/cpu");
        assert_int_equal(h.psi_errno == 0, psi && strncmp(psi, "some ", 5) == 0);
        _cleanup_free_ char *rollup = read_file("/proc/self/smaps_rollup");
        assert_int_equal(h.smaps_pss_anon, rollup && strstr(rollup, "\nPss_Anon:") != NULL);
        int fd = (int) syscall(SYS_pidfd_open, getpid(), 0);
        bool pidfd = fd >= 0 || errno != ENOSYS;
        safe_close(fd);
        assert_int_equal(h.pidfd, pidfd);
        json_auto_t *o = host_to_json(&h);
        assert_int_equal(json_array_size(json_object_get(o, "degraded")) == 0,
                         h.tsc_khz && h.cpu_model[0] && !h.psi_errno && h.smaps_pss_anon && h.pidfd);
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_degraded_old_kernel),
                cmocka_unit_test(test_degraded_psi_disabled),
                cmocka_unit_test(test_degraded_none),
                cmocka_unit_test(test_probe_here),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
