/* test-systemd-analyze.c — `systemd-analyze time` parsed (systemd-analyze.c):
 * the texts systemd prints (measured on our systemd guest, with and without
 * EFI and a systemd initrd, minutes and milliseconds), the "not finished"
 * answer, garbage, and the sample fields they become. */
#include "systemd-analyze.c"

#include "test-helpers.h"

static void assert_close(double got, double want) {
        if (!(fabs(got - want) < 1e-6))
                fail_msg("got %.6f, want %.6f", got, want);
}

/* What our systemd guest printed under QEMU q35, TCG. */
static void test_kernel_userspace(void **state) {
        SystemdTimes t;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(systemd_analyze_parse("Startup finished in 8.988s (kernel) + 10.618s (userspace) = 19.606s \n"
                                               "graphical.target reached after 10.210s in userspace.\n",
                                               &t, &err),
                         0);
        assert_close(t.phase_ms[SYSTEMD_PHASE_KERNEL], 8988);
        assert_close(t.phase_ms[SYSTEMD_PHASE_USERSPACE], 10618);
        assert_true(isnan(t.phase_ms[SYSTEMD_PHASE_FIRMWARE]) && isnan(t.phase_ms[SYSTEMD_PHASE_LOADER]) &&
                    isnan(t.phase_ms[SYSTEMD_PHASE_INITRD]));
        assert_close(t.total_ms, 19606);
        assert_string_equal(t.target, "graphical.target");
        assert_close(t.target_ms, 10210);
}

/* EFI firmware and loader, a systemd initrd, minutes in a term and in the total. */
static void test_every_phase(void **state) {
        SystemdTimes t;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(systemd_analyze_parse("Startup finished in 2.611s (firmware) + 873ms (loader) + 1.113s (kernel) + "
                                               "1min 4.391s (initrd) + 14.050s (userspace) = 1min 23.038s\n"
                                               "multi-user.target reached after 13.9s in userspace\n",
                                               &t, &err),
                         0);
        assert_close(t.phase_ms[SYSTEMD_PHASE_FIRMWARE], 2611);
        assert_close(t.phase_ms[SYSTEMD_PHASE_LOADER], 873);
        assert_close(t.phase_ms[SYSTEMD_PHASE_KERNEL], 1113);
        assert_close(t.phase_ms[SYSTEMD_PHASE_INITRD], 64391);
        assert_close(t.phase_ms[SYSTEMD_PHASE_USERSPACE], 14050);
        assert_close(t.total_ms, 83038);
        assert_string_equal(t.target, "multi-user.target");
        assert_close(t.target_ms, 13900);
}

/* Found wherever it sits in the job output (after other lines, \r endings,
 * no "reached" line). */
static void test_in_output(void **state) {
        SystemdTimes t;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(systemd_analyze_parse("root@virtlab:~# x\nStartup finished in 1.5s (kernel) + 2s (userspace) = 3.5s\r\n",
                                               &t, &err),
                         0);
        assert_close(t.total_ms, 3500);
        assert_string_equal(t.target, "");
        assert_true(isnan(t.target_ms));
}

static void test_timespans(void **state) {
        static const struct {
                const char *text;
                double ms;
        } ok[] = { { "873ms", 873 }, { "1.5s", 1500 }, { "2min", 120000 }, { "1h 2min 3.5s", 3723500 }, { "250us", 0.25 },
                   { "250\u00b5s", 0.25 }, { "1d", 86400000 } };
        static const char *const bad[] = { "", "s", "12", "1.5x", "1.5 s", "1.5ss", "ms1" };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                double v;
                assert_int_equal(systemd_timespan_ms(ok[i].text, strlen(ok[i].text), &v), 0);
                assert_close(v, ok[i].ms);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                double v;
                if (systemd_timespan_ms(bad[i], strlen(bad[i]), &v) != -EINVAL)
                        fail_msg("'%s' parsed as %g", bad[i], v);
        }
}

/* A boot job still running (a oneshot reporter would cause it): -EAGAIN and
 * a sentence saying what to wait for; no line at all, or a broken one:
 * -EBADMSG naming it. */
static void test_refusals(void **state) {
        SystemdTimes t;
        char *err = NULL;
        assert_int_equal(systemd_analyze_parse("Bootup is not yet finished (org.freedesktop.systemd1.Manager."
                                               "FinishTimestampMonotonic=0).\nPlease try again later.\n",
                                               &t, &err),
                         -EAGAIN);
        assert_non_null(strstr(err, "is-system-running --wait"));
        free(err);
        err = NULL;
        assert_int_equal(systemd_analyze_parse("hello\n", &t, &err), -EBADMSG);
        assert_non_null(strstr(err, "Startup finished in"));
        free(err);
        err = NULL;
        assert_int_equal(systemd_analyze_parse("Startup finished in 1s (kernel) + 2s (moon) = 3s\n", &t, &err), -EBADMSG);
        assert_non_null(strstr(err, "(moon)"));
        free(err);
        err = NULL;
        assert_int_equal(systemd_analyze_parse("Startup finished in 1s (kernel) + 2s (userspace)\n", &t, &err), -EBADMSG);
        free(err);
        /* Nothing after the words (trailing blanks trimmed): no line to parse,
         * not a length below zero. */
        err = NULL;
        assert_int_equal(systemd_analyze_parse("Startup finished in \n", &t, &err), -EBADMSG);
        free(err);
}

static void test_to_sample(void **state) {
        SystemdTimes t;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(systemd_analyze_parse("Startup finished in 8.988s (kernel) + 10.618s (userspace) = 19.606s\n"
                                               "graphical.target reached after 10.210s in userspace.\n",
                                               &t, &err),
                         0);
        json_auto_t *s = json_object();
        systemd_times_to_sample(&t, s);
        assert_close(json_real_value(json_object_get(s, "systemd_kernel_ms")), 8988);
        assert_close(json_real_value(json_object_get(s, "systemd_userspace_ms")), 10618);
        assert_close(json_real_value(json_object_get(s, "systemd_total_ms")), 19606);
        assert_close(json_real_value(json_object_get(s, "systemd_target_ms")), 10210);
        assert_string_equal(json_string_value(json_object_get(s, "systemd_target")), "graphical.target");
        assert_null(json_object_get(s, "systemd_firmware_ms"));
        assert_null(json_object_get(s, "systemd_initrd_ms"));
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kernel_userspace), cmocka_unit_test(test_every_phase),
                cmocka_unit_test(test_in_output),        cmocka_unit_test(test_timespans),
                cmocka_unit_test(test_refusals),         cmocka_unit_test(test_to_sample),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
