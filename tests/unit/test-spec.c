/* test-spec.c — the table-driven spec checker (spec.c): defaults, types and
 * ranges with their exact sentences (the bus sends them to users verbatim),
 * unknown and inapplicable fields, the vmm/vmms rules, accel and pin_cpus,
 * and the cap on how much of a caller's value an error echoes back. */
#include "spec.c"

#include "test-helpers.h"
#include "utf8.h"

/* Runs the common table over a spec given as JSON text; returns the result,
 * the (defaulted) spec in *ret_spec and the error sentence in *ret_error. */
static int check_common(const char *text, bool has_vm, json_t **ret_spec, char **ret_error) {
        json_error_t e;
        json_t *spec = json_loads(text, 0, &e);
        assert_non_null(spec);
        *ret_error = NULL;
        int r = spec_check(spec, spec_common_fields, has_vm, ret_error);
        *ret_spec = spec;
        return r;
}

/* Asserts that text is refused (-EINVAL) with exactly `want`. */
static void expect_refused(const char *text, bool has_vm, const char *want) {
        json_auto_t *spec = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(check_common(text, has_vm, &spec, &err), -EINVAL);
        assert_non_null(err);
        assert_string_equal(err, want);
}

/* Asserts that text passes; returns the defaulted spec (caller decrefs). */
static json_t *expect_ok(const char *text, bool has_vm) {
        json_t *spec = NULL;
        _cleanup_free_ char *err = NULL;
        int r = check_common(text, has_vm, &spec, &err);
        if (r != 0)
                fail_msg("spec %s refused: %s", text, strempty(err));
        assert_null(err);
        return spec;
}

/* An empty spec gets every default the table declares, and only those:
 * optional fields without a default stay absent. */
static void test_defaults_filled(void **state) {
        json_auto_t *spec = expect_ok("{}", true);
        assert_string_equal(spec_string(spec, "vmm"), "qemu");
        assert_int_equal(spec_int(spec, "runs"), 10);
        assert_int_equal(spec_int(spec, "warmup"), 1);
        assert_int_equal(spec_int(spec, "memory_mib"), 256);
        assert_int_equal(spec_int(spec, "vcpus"), 1);
        assert_int_equal(spec_int(spec, "timeout_s"), 60);
        assert_int_equal(spec_int(spec, "settle_ms"), 500);
        assert_string_equal(spec_string(spec, "accel"), "auto");
        assert_true(json_is_false(json_object_get(spec, "drop_caches")));
        assert_true(json_is_false(json_object_get(spec, "force_paravirt_kvm")));
        assert_null(json_object_get(spec, "vmms"));
        assert_null(json_object_get(spec, "image"));
        assert_null(json_object_get(spec, "pin_cpus"));
        assert_null(json_object_get(spec, "bind_to_client"));
        assert_int_equal(json_object_size(spec), 10);

        /* A given value is kept, not replaced by the default. */
        json_auto_t *given = expect_ok("{\"runs\": 7, \"accel\": \"tcg\"}", true);
        assert_int_equal(spec_int(given, "runs"), 7);
        assert_string_equal(spec_string(given, "accel"), "tcg");
}

/* Without a VM, the VM-only fields get no default (nothing would read them). */
static void test_defaults_vm_less(void **state) {
        json_auto_t *spec = expect_ok("{}", false);
        assert_int_equal(spec_int(spec, "runs"), 10);
        assert_int_equal(spec_int(spec, "timeout_s"), 60);
        assert_non_null(json_object_get(spec, "drop_caches"));
        assert_null(json_object_get(spec, "vmm"));
        assert_null(json_object_get(spec, "memory_mib"));
        assert_null(json_object_get(spec, "accel"));
        assert_null(json_object_get(spec, "settle_ms"));
        assert_null(json_object_get(spec, "force_paravirt_kvm"));
}

/* Ranges are inclusive, and the sentence names field, value and range. */
static void test_int_ranges(void **state) {
        expect_refused("{\"runs\": 0}", true, "Invalid runs 0: must be between 1 and 1000");
        expect_refused("{\"runs\": 1001}", true, "Invalid runs 1001: must be between 1 and 1000");
        expect_refused("{\"warmup\": 101}", true, "Invalid warmup 101: must be between 0 and 100");
        expect_refused("{\"memory_mib\": -1}", true, "Invalid memory_mib -1: must be between 64 and 65536");
        expect_refused("{\"timeout_s\": 3601}", true, "Invalid timeout_s 3601: must be between 1 and 3600");
        expect_refused("{\"vcpus\": 9223372036854775807}", true,
                       "Invalid vcpus 9223372036854775807: must be between 1 and 64");
        json_decref(expect_ok("{\"runs\": 1, \"warmup\": 0, \"memory_mib\": 64, \"settle_ms\": 0}", true));
        json_decref(expect_ok("{\"runs\": 1000, \"warmup\": 100, \"memory_mib\": 65536, \"vcpus\": 64}", true));
}

/* Anything but a JSON integer is refused for an integer field: a string of
 * digits, a real, a bool, null. */
static void test_int_types(void **state) {
        expect_refused("{\"runs\": \"5\"}", true, "Field 'runs' must be an integer, not '5'");
        expect_refused("{\"runs\": 2.0}", true, "Field 'runs' must be an integer, not 2");
        expect_refused("{\"timeout_s\": true}", true, "Field 'timeout_s' must be an integer, not true");
        expect_refused("{\"memory_mib\": null}", true, "Field 'memory_mib' must be an integer, not null");
        expect_refused("{\"vcpus\": [1]}", true, "Field 'vcpus' must be an integer, not an array");
}

/* Booleans are JSON true/false only; optional ones keep a given value. */
static void test_bools(void **state) {
        expect_refused("{\"drop_caches\": 1}", true, "Field 'drop_caches' must be true or false, not 1");
        expect_refused("{\"drop_caches\": \"yes\"}", true, "Field 'drop_caches' must be true or false, not 'yes'");
        expect_refused("{\"bind_to_client\": 0}", true, "Field 'bind_to_client' must be true or false, not 0");
        json_auto_t *spec = expect_ok("{\"bind_to_client\": true, \"drop_caches\": true}", true);
        assert_true(spec_bool(spec, "bind_to_client"));
        assert_true(spec_bool(spec, "drop_caches"));

        /* The single-field helper defaults and checks the same way. */
        json_auto_t *s = json_object();
        _cleanup_free_ char *err = NULL;
        assert_int_equal(spec_check_bool(s, "upper", true, &err), 0);
        assert_true(spec_bool(s, "upper"));
        json_object_set_new(s, "trace", json_string("no"));
        assert_int_equal(spec_check_bool(s, "trace", false, &err), -EINVAL);
        assert_string_equal(err, "Field 'trace' must be true or false, not 'no'");
}

/* spec_check_int: a kind's computed field, defaulted and ranged like a row. */
static void test_check_int_helper(void **state) {
        json_auto_t *s = json_object();
        _cleanup_free_ char *err = NULL;
        assert_int_equal(spec_check_int(s, "block_kib", 4, 1, 1024, &err), 0);
        assert_int_equal(spec_int(s, "block_kib"), 4);
        json_object_set_new(s, "block_kib", json_integer(2048));
        assert_int_equal(spec_check_int(s, "block_kib", 4, 1, 1024, &err), -EINVAL);
        assert_string_equal(err, "Invalid block_kib 2048: must be between 1 and 1024");
}

/* A key in neither table is refused by name; a kind's own field and every
 * common field are known. */
static void test_unknown_field(void **state) {
        static const SpecField kind_fields[] = { SPEC_BOOL_FIELD("upper", false), {} };
        json_auto_t *spec = json_pack("{s:i, s:b, s:i}", "runs", 3, "upper", 1, "runz", 1);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(spec_check_known(spec, kind_fields, true, "boot", &err), -EINVAL);
        assert_string_equal(err, "Unknown field 'runz' in experiment spec");

        json_object_del(spec, "runz");
        assert_int_equal(spec_check_known(spec, kind_fields, true, "boot", &err), 0);
        /* Without the kind's table, its field is unknown too. */
        free(err);
        err = NULL;
        assert_int_equal(spec_check_known(spec, NULL, true, "boot", &err), -EINVAL);
        assert_string_equal(err, "Unknown field 'upper' in experiment spec");
}

/* A VM-less kind refuses each field that only means something with a VM,
 * naming field and kind; the fields it does use pass. */
static void test_vm_only_refused(void **state) {
        static const char *const vm_only[] = { "vmm", "vmms", "memory_mib", "vcpus", "settle_ms",
                                               "accel", "image", "force_paravirt_kvm", NULL };
        for (const char *const *f = vm_only; *f; f++) {
                json_auto_t *spec = json_pack("{s:i}", *f, 1);
                _cleanup_free_ char *err = NULL, *want = NULL;
                assert_int_equal(spec_check_known(spec, NULL, false, "kvm-sample", &err), -EINVAL);
                assert_true(asprintf(&want, "Field '%s' does not apply to 'kvm-sample': it runs no VM", *f) > 0);
                assert_string_equal(err, want);
                /* The same field is fine for a kind with a VM. */
                assert_int_equal(spec_check_known(spec, NULL, true, "boot", &err), 0);
        }
        json_auto_t *ok = json_pack("{s:i, s:i, s:i, s:b, s:s, s:b}", "runs", 1, "warmup", 0, "timeout_s", 5,
                                    "drop_caches", 0, "pin_cpus", "0", "bind_to_client", 1);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(spec_check_known(ok, NULL, false, "kvm-sample", &err), 0);
}

/* vmm: a string naming a known backend; the refusal lists the known ones. */
static void test_vmm(void **state) {
        char known[256], want[512];
        vmm_backend_names(known, sizeof(known));
        assert_string_equal(known, "qemu, qemu-microvm, stratovirt, libvirt");
        snprintf(want, sizeof(want), "Unknown VMM 'firecracker' (known: %s)", known);
        expect_refused("{\"vmm\": \"firecracker\"}", true, want);
        expect_refused("{\"vmm\": 5}", true, "Field 'vmm' must be a string, not 5");
        json_auto_t *spec = expect_ok("{\"vmm\": \"stratovirt\"}", true);
        assert_string_equal(spec_string(spec, "vmm"), "stratovirt");
}

/* vmms: 1..JOB_VMMS_MAX known, distinct names; it sets vmm to its first,
 * and a vmm given alongside must be that first. */
static void test_vmms(void **state) {
        char known[256], want[512];
        vmm_backend_names(known, sizeof(known));

        json_auto_t *spec = expect_ok("{\"vmms\": [\"qemu-microvm\", \"qemu\"]}", true);
        assert_string_equal(spec_string(spec, "vmm"), "qemu-microvm");
        json_auto_t *same = expect_ok("{\"vmm\": \"qemu\", \"vmms\": [\"qemu\", \"stratovirt\"]}", true);
        assert_string_equal(spec_string(same, "vmm"), "qemu");

        expect_refused("{\"vmms\": [\"qemu\", \"qemu\"]}", true, "VMM 'qemu' appears twice in 'vmms'");
        expect_refused("{\"vmms\": [\"qemu\", \"stratovirt\", \"qemu-microvm\", \"stratovirt\"]}", true,
                       "VMM 'stratovirt' appears twice in 'vmms'");
        expect_refused("{\"vmms\": []}", true, "Field 'vmms' must be an array of 1 to 4 VMM names");
        expect_refused("{\"vmms\": \"qemu\"}", true, "Field 'vmms' must be an array of 1 to 4 VMM names");
        expect_refused("{\"vmms\": [\"qemu\", \"qemu\", \"qemu\", \"qemu\", \"qemu\"]}", true,
                       "Field 'vmms' must be an array of 1 to 4 VMM names");
        expect_refused("{\"vmms\": [\"qemu\", 3]}", true, "Field 'vmms' must hold VMM names (strings)");
        snprintf(want, sizeof(want), "Unknown VMM 'nope' (known: %s)", known);
        expect_refused("{\"vmms\": [\"qemu\", \"nope\"]}", true, want);
        expect_refused("{\"vmm\": \"qemu-microvm\", \"vmms\": [\"qemu\", \"qemu-microvm\"]}", true,
                       "Field 'vmm' ('qemu-microvm') must be the first of 'vmms' ('qemu')");
        /* A vmm that is not even a string is echoed as such, not dereferenced. */
        expect_refused("{\"vmm\": 5, \"vmms\": [\"qemu\"]}", true,
                       "Field 'vmm' ('(not a string)') must be the first of 'vmms' ('qemu')");
}

/* accel: auto, kvm or tcg. */
static void test_accel(void **state) {
        static const char *const good[] = { "auto", "kvm", "tcg", NULL };
        for (const char *const *a = good; *a; a++) {
                _cleanup_free_ char *text = NULL;
                assert_true(asprintf(&text, "{\"accel\": \"%s\"}", *a) > 0);
                json_auto_t *spec = expect_ok(text, true);
                assert_string_equal(spec_string(spec, "accel"), *a);
        }
        expect_refused("{\"accel\": \"hvf\"}", true, "Invalid accel 'hvf': must be auto, kvm or tcg");
        expect_refused("{\"accel\": \"KVM\"}", true, "Invalid accel 'KVM': must be auto, kvm or tcg");
        expect_refused("{\"accel\": 1}", true, "Field 'accel' must be a string, not 1");
}

/* pin_cpus: a CPU list of online CPUs; a malformed list and an offline CPU
 * get different sentences. */
static void test_pin_cpus(void **state) {
        json_decref(expect_ok("{\"pin_cpus\": \"0\"}", true));
        json_decref(expect_ok("{\"pin_cpus\": \"0-0,0\"}", false));
        static const char *const bad[] = { "abc", "", "0-", "1-0", "0,,1", "-1", "0 ", "99999", NULL };
        for (const char *const *b = bad; *b; b++) {
                _cleanup_free_ char *text = NULL, *want = NULL;
                assert_true(asprintf(&text, "{\"pin_cpus\": \"%s\"}", *b) > 0);
                assert_true(asprintf(&want, "Invalid pin_cpus '%s': expected a CPU list like 0 or 0-1 or 0,2", *b) > 0);
                expect_refused(text, true, want);
        }
        /* 1023 parses (below CPU_SETSIZE) but no test machine has it online. */
        expect_refused("{\"pin_cpus\": \"0,1023\"}", true,
                       "Invalid pin_cpus '0,1023': names a CPU that is not online here");
        expect_refused("{\"pin_cpus\": 0}", true, "Field 'pin_cpus' must be a string, not 0");
}

static void test_image_field(void **state) {
        expect_refused("{\"image\": \"\"}", true, "Field 'image' must be a directory path or image name");
        expect_refused("{\"image\": 3}", true, "Field 'image' must be a string, not 3");
        json_decref(expect_ok("{\"image\": \"noop\"}", true));
}

/* A 10 MB field name comes back as SPEC_ECHO_MAX bytes and "…": a client
 * cannot make the daemon send (or log) its garbage back in full. */
static void test_echo_cap(void **state) {
        const size_t big = 10U * 1024U * 1024U;
        _cleanup_free_ char *name = malloc(big + 1);
        assert_non_null(name);
        memset(name, 'a', big);
        name[big] = 0;
        json_auto_t *spec = json_object();
        assert_int_equal(json_object_set_new(spec, name, json_integer(1)), 0);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(spec_check_known(spec, NULL, true, "boot", &err), -EINVAL);

        const char *pre = "Unknown field '", *post = "…' in experiment spec";
        assert_int_equal(strlen(err), strlen(pre) + SPEC_ECHO_MAX + strlen(post));
        assert_memory_equal(err, pre, strlen(pre));
        for (size_t i = 0; i < SPEC_ECHO_MAX; i++)
                assert_int_equal(err[strlen(pre) + i], 'a');
        assert_string_equal(err + strlen(pre) + SPEC_ECHO_MAX, post);

        /* The same for a value: a 10 MB accel. */
        json_auto_t *v = json_object();
        json_object_set_new(v, "accel", json_string(name));
        _cleanup_free_ char *err2 = NULL;
        assert_int_equal(spec_check(v, spec_common_fields, true, &err2), -EINVAL);
        assert_true(strlen(err2) <= strlen("Invalid accel '': must be auto, kvm or tcg") + SPEC_ECHO_MAX + strlen("…"));
        assert_non_null(strstr(err2, "…': must be auto, kvm or tcg"));
}

/* True when s is well-formed UTF-8 (what D-Bus demands of a string). */
static bool valid_utf8(const char *s) {
        _cleanup_free_ char *copy = strdup(s);
        assert_non_null(copy);
        return utf8_scrub(copy) == 0;
}

/* The cut never splits a multi-byte character: for 2-, 3- and 4-byte
 * characters straddling byte SPEC_ECHO_MAX, the echo ends before the
 * character and stays valid UTF-8. */
static void test_echo_utf8_boundary(void **state) {
        static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", NULL };
        for (const char *const *c = chars; *c; c++) {
                size_t clen = strlen(*c);
                for (size_t lead = SPEC_ECHO_MAX - clen + 1; lead < SPEC_ECHO_MAX; lead++) {
                        /* lead 'x's, then the character across the limit, then more text. */
                        char s[SPEC_ECHO_MAX + 64], buf[SPEC_ECHO_MAX + 8];
                        memset(s, 'x', lead);
                        memcpy(s + lead, *c, clen);
                        strcpy(s + lead + clen, "tail-tail-tail");
                        const char *e = spec_echo_str(s, buf);
                        assert_ptr_equal(e, buf);
                        assert_int_equal(strlen(e), lead + strlen("…"));
                        assert_memory_equal(e, s, lead);
                        assert_string_equal(e + lead, "…");
                        assert_true(valid_utf8(e));
                }
        }
        /* A character that ends exactly at the limit is kept whole. */
        char s[SPEC_ECHO_MAX + 8], buf[SPEC_ECHO_MAX + 8];
        memset(s, 'x', SPEC_ECHO_MAX - 2);
        strcpy(s + SPEC_ECHO_MAX - 2, "\xc3\xa9zz");
        assert_string_equal(spec_echo_str(s, buf) + SPEC_ECHO_MAX - 2, "\xc3\xa9…");

        /* Up to the limit the text is returned as it is (same pointer). */
        char exact[SPEC_ECHO_MAX + 1];
        memset(exact, 'y', SPEC_ECHO_MAX);
        exact[SPEC_ECHO_MAX] = 0;
        assert_ptr_equal(spec_echo_str(exact, buf), exact);
        json_auto_t *n = json_integer(3);
        assert_string_equal(spec_echo(n, buf), "(not a string)");
}

/* spec_apply_defaults: a kind's preference fills an absent common field
 * before the common table runs, so the table's own default loses; a value
 * the user gave wins over both. */
static void test_apply_defaults(void **state) {
        static const SpecDefault defaults[] = { { "memory_mib", 1024 }, { "timeout_s", 300 }, {} };
        json_auto_t *spec = json_pack("{s:i}", "timeout_s", 20);
        _cleanup_free_ char *err = NULL;
        assert_int_equal(spec_apply_defaults(spec, defaults), 0);
        assert_int_equal(spec_int(spec, "memory_mib"), 1024);
        assert_int_equal(spec_int(spec, "timeout_s"), 20);
        assert_int_equal(spec_check(spec, spec_common_fields, true, &err), 0);
        assert_int_equal(spec_int(spec, "memory_mib"), 1024);
        assert_int_equal(spec_int(spec, "timeout_s"), 20);
        assert_int_equal(spec_int(spec, "runs"), 10);
        /* No table at all is fine. */
        assert_int_equal(spec_apply_defaults(spec, NULL), 0);
        /* A kind default still goes through the range check. */
        static const SpecDefault too_small[] = { { "memory_mib", 16 }, {} };
        json_auto_t *s2 = json_object();
        assert_int_equal(spec_apply_defaults(s2, too_small), 0);
        assert_int_equal(spec_check(s2, spec_common_fields, true, &err), -EINVAL);
        assert_string_equal(err, "Invalid memory_mib 16: must be between 64 and 65536");
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_filled),   cmocka_unit_test(test_defaults_vm_less),
                cmocka_unit_test(test_int_ranges),        cmocka_unit_test(test_int_types),
                cmocka_unit_test(test_bools),             cmocka_unit_test(test_check_int_helper),
                cmocka_unit_test(test_unknown_field),     cmocka_unit_test(test_vm_only_refused),
                cmocka_unit_test(test_vmm),               cmocka_unit_test(test_vmms),
                cmocka_unit_test(test_accel),             cmocka_unit_test(test_pin_cpus),
                cmocka_unit_test(test_image_field),       cmocka_unit_test(test_echo_cap),
                cmocka_unit_test(test_echo_utf8_boundary), cmocka_unit_test(test_apply_defaults),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
