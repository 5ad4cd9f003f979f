/* test-image.c — image.json reader (image.c) on real files in temporary
 * directories: the built default image (or, when it is not built, one
 * written by the real guest-images/mkimage-json.sh), every refusal and the
 * sentence naming file and field, optional fields and their defaults, and
 * the questions the plan asks an image (which kernel for a backend, which
 * guest jobs it runs). */
#include "image.c"

#include "backends/registry.h"
#include "guest-protocol.h"
#include "test-helpers.h"

typedef struct Fixture {
        char *dir;          /* temporary directory holding image.json */
        char *json;         /* its image.json path */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        f->dir = test_tmpdir();
        f->json = path_join(f->dir, "image.json");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        rm_rf(f->dir);
        free(f->dir);
        free(f->json);
        free(f);
        return 0;
}

/* Writes text as the fixture's image.json and loads it. */
static int load_text(Fixture *f, const char *text, Image **ret, char **ret_error) {
        write_file(f->json, text, 0644);
        *ret_error = NULL;
        return image_load(f->dir, ret, ret_error);
}

/* Asserts text is refused with -EBADMSG and a sentence holding the path and `want`. */
static void expect_bad(Fixture *f, const char *text, const char *want) {
        Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_text(f, text, &img, &err), -EBADMSG);
        assert_null(img);
        assert_non_null(err);
        if (!strstr(err, f->json) || !strstr(err, want))
                fail_msg("error '%s' lacks '%s' or the path %s", err, want, f->json);
}

#define MINIMAL "\"name\":\"t\",\"marker\":\"M\",\"cmdline_base\":\"console=ttyS0\",\"vmlinux\":\"/k\""

/* Checks what every default image has: Linux guest, default marker, every
 * phase, powers off, kernels that exist, one for each registered backend. */
static void check_default_image(const Image *img, const char *dir) {
        assert_string_equal(img->name, "default");
        assert_string_equal(img->dir, dir);
        assert_string_equal(img->guest, "linux");
        assert_string_equal(img->marker, GUEST_INIT_MARKER);
        assert_non_null(strstr(img->cmdline_base, "console=ttyS0"));
        assert_true(img->powers_off);
        assert_false(img->paravirt_kvm_ok);
        assert_null(img->jobs);
        for (int p = 0; p < _IMAGE_PHASE_MAX; p++)
                assert_true(image_has_phase(img, (ImagePhase) p));
        assert_non_null(img->initrd);
        assert_int_equal(access(img->initrd, R_OK), 0);
        for (const VmmBackend *const *b = vmm_backends(); *b; b++) {
                const char *k = image_kernel_for(img, *b, NULL);
                assert_non_null(k);
                assert_int_equal(access(k, R_OK), 0);
        }
}

/* The image `make image` built loads as it is; when it is not built, an
 * image.json written by the same script (mkimage-json.sh, on stand-in
 * files) is checked instead, and a TAP comment says so. */
static void test_default_image(void **state) {
        Fixture *f = *state;
        const char *env = getenv("IMAGE_DIR");
        _cleanup_free_ char *dir = strdup(env && *env ? env : "build/images/default");
        _cleanup_free_ char *json = path_join(dir, "image.json");
        if (access(json, R_OK) < 0) {
                printf("# %s not built: checking an image.json written by guest-images/mkimage-json.sh\n", json);
                static const char *const parts[] = { "vmlinux", "bzImage", "initramfs.cpio.gz", NULL };
                for (const char *const *p = parts; *p; p++) {
                        _cleanup_free_ char *path = path_join(f->dir, *p);
                        write_file(path, *p, 0644);
                }
                _cleanup_free_ char *cmd = NULL;
                assert_true(asprintf(&cmd,
                                     "guest-images/mkimage-json.sh default /boot/vmlinuz 6.1.0 %1$s/vmlinux %1$s/bzImage "
                                     "%1$s/initramfs.cpio.gz %2$s 'console=ttyS0 reboot=t panic=-1' >%1$s/image.json",
                                     f->dir, GUEST_INIT_MARKER) > 0);
                assert_int_equal(system(cmd), 0);
                free(dir);
                dir = strdup(f->dir);
        }
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        int r = image_load(dir, &img, &err);
        if (r < 0)
                fail_msg("image_load(%s): %s", dir, strempty(err));
        check_default_image(img, dir);
        /* The document is kept whole: every result records it. */
        assert_non_null(json_object_get(img->doc, "image_hash"));
}

/* A directory without image.json: -ENOENT, and the sentence names the
 * path and how to build it. */
static void test_missing_file(void **state) {
        Fixture *f = *state;
        Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(image_load(f->dir, &img, &err), -ENOENT);
        assert_null(img);
        assert_non_null(strstr(err, f->json));
        assert_non_null(strstr(err, "make image"));

        /* A directory that does not exist at all: the same. */
        _cleanup_free_ char *gone = path_join(f->dir, "no-such-image");
        _cleanup_free_ char *err2 = NULL;
        assert_int_equal(image_load(gone, &img, &err2), -ENOENT);
        assert_non_null(strstr(err2, gone));
}

/* Text that is not one JSON object is refused, naming the file. */
static void test_bad_json(void **state) {
        Fixture *f = *state;
        expect_bad(f, "{ \"name\": ", "does not parse");
        expect_bad(f, "", "does not parse");
        expect_bad(f, "[]", "image.json must be a JSON object");
        expect_bad(f, "{" MINIMAL ",\"name\":\"twice\"}", "does not parse");
}

/* A caller names the image directory: an image.json that is a FIFO with
 * no writer is refused at once, not waited on. */
static void test_fifo(void **state) {
        Fixture *f = *state;
        Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(mkfifo(f->json, 0600), 0);
        alarm(10); /* a blocked open() fails the test instead of hanging it */
        assert_int_equal(image_load(f->dir, &img, &err), -EBADMSG);
        alarm(0);
        assert_null(img);
        assert_non_null(strstr(err, "does not parse"));
        assert_non_null(strstr(err, f->json));
}

/* Required fields: missing, empty or not a string, each named. */
static void test_required_fields(void **state) {
        Fixture *f = *state;
        expect_bad(f, "{\"name\":\"t\",\"cmdline_base\":\"c\",\"vmlinux\":\"/k\"}", "lacks field 'marker'");
        expect_bad(f, "{\"name\":\"t\",\"marker\":\"\",\"cmdline_base\":\"c\",\"vmlinux\":\"/k\"}",
                   "field 'marker' must be a non-empty string");
        expect_bad(f, "{\"name\":\"t\",\"marker\":7,\"cmdline_base\":\"c\",\"vmlinux\":\"/k\"}",
                   "field 'marker' must be a non-empty string");
        expect_bad(f, "{\"marker\":\"M\",\"cmdline_base\":\"c\",\"vmlinux\":\"/k\"}", "lacks field 'name'");
        expect_bad(f, "{\"name\":\"t\",\"marker\":\"M\",\"vmlinux\":\"/k\"}", "lacks field 'cmdline_base'");
        expect_bad(f, "{\"name\":\"t\",\"marker\":\"M\",\"cmdline_base\":\"c\"}", "lacks a kernel");
        expect_bad(f, "{" MINIMAL ",\"bzimage\":\"\"}", "field 'bzimage' must be a non-empty string");
        expect_bad(f, "{" MINIMAL ",\"initramfs\":false}", "field 'initramfs' must be a non-empty string");
}

/* A minimal image.json gets what an older image is: Linux, every phase,
 * powers off, no initrd, every guest job. */
static void test_defaults(void **state) {
        Fixture *f = *state;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_text(f, "{" MINIMAL "}", &img, &err), 0);
        assert_string_equal(img->name, "t");
        assert_string_equal(img->marker, "M");
        assert_string_equal(img->guest, "linux");
        assert_null(img->initrd);
        assert_string_equal(img->kernels[KERNEL_FORMAT_PVH], "/k");
        assert_null(img->kernels[KERNEL_FORMAT_BZIMAGE]);
        assert_null(img->kernels[KERNEL_FORMAT_RAW]);
        assert_true(img->powers_off);
        assert_false(img->paravirt_kvm_ok);
        assert_false(img->touch_ram);
        assert_int_equal(img->phases, (1U << _IMAGE_PHASE_MAX) - 1);
        assert_true(image_runs_job(img, "anything"));
}

/* phases, jobs, guest and the booleans parse, and bad values are refused. */
static void test_optional_fields(void **state) {
        Fixture *f = *state;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_text(f,
                                   "{" MINIMAL ",\"guest\":\"noop\",\"phases\":[\"console\",\"init\"],"
                                   "\"jobs\":[\"boot\",\"hold\"],\"powers_off\":false,\"paravirt_kvm_ok\":true,"
                                   "\"touch_ram\":true,\"initramfs\":\"/i\"}",
                                   &img, &err),
                         0);
        assert_string_equal(img->guest, "noop");
        assert_true(image_has_phase(img, IMAGE_PHASE_CONSOLE));
        assert_false(image_has_phase(img, IMAGE_PHASE_KERNEL));
        assert_true(image_has_phase(img, IMAGE_PHASE_INIT));
        assert_false(image_has_phase(img, _IMAGE_PHASE_MAX));
        assert_false(image_has_phase(img, _IMAGE_PHASE_INVALID));
        assert_false(img->powers_off);
        assert_true(img->paravirt_kvm_ok);
        assert_true(img->touch_ram);
        assert_string_equal(img->initrd, "/i");
        assert_int_equal(json_array_size(img->jobs), 2);

        /* An empty phase list is a guest with no guest-side phases. */
        _cleanup_(image_freep) Image *none = NULL;
        assert_int_equal(load_text(f, "{" MINIMAL ",\"phases\":[]}", &none, &err), 0);
        assert_int_equal(none->phases, 0);

        expect_bad(f, "{" MINIMAL ",\"phases\":[\"bios\"]}", "unknown phase in 'phases'");
        expect_bad(f, "{" MINIMAL ",\"phases\":[1]}", "unknown phase in 'phases'");
        expect_bad(f, "{" MINIMAL ",\"phases\":\"init\"}", "field 'phases' must be a list of phase names");
        expect_bad(f, "{" MINIMAL ",\"jobs\":\"boot\"}", "field 'jobs' must be a list of guest job names");
        expect_bad(f, "{" MINIMAL ",\"powers_off\":\"yes\"}", "field 'powers_off' must be true or false");
        expect_bad(f, "{" MINIMAL ",\"paravirt_kvm_ok\":1}", "field 'paravirt_kvm_ok' must be true or false");
        expect_bad(f, "{" MINIMAL ",\"touch_ram\":null}", "field 'touch_ram' must be true or false");
}

/* image_kernel_for: the first of the backend's formats (preferred first)
 * that the image ships; the format is reported; NULL leaves it alone. */
static void test_kernel_for(void **state) {
        Fixture *f = *state;
        const VmmBackend *qemu = vmm_backend_find("qemu"), *sv = vmm_backend_find("stratovirt");
        assert_non_null(qemu);
        assert_non_null(sv);
        _cleanup_free_ char *err = NULL;
        KernelFormat fmt;

        _cleanup_(image_freep) Image *all = NULL;
        assert_int_equal(load_text(f,
                                   "{\"name\":\"t\",\"marker\":\"M\",\"cmdline_base\":\"c\",\"vmlinux\":\"/k.elf\","
                                   "\"bzimage\":\"/k.bz\",\"raw\":\"/k.raw\"}",
                                   &all, &err),
                         0);
        assert_string_equal(image_kernel_for(all, qemu, &fmt), "/k.elf");
        assert_int_equal(fmt, KERNEL_FORMAT_PVH);
        assert_string_equal(image_kernel_for(all, sv, &fmt), "/k.bz");
        assert_int_equal(fmt, KERNEL_FORMAT_BZIMAGE);
        assert_string_equal(image_kernel_for(all, vmm_backend_find("qemu-microvm"), NULL), "/k.elf");

        _cleanup_(image_freep) Image *raw = NULL;
        assert_int_equal(load_text(f, "{\"name\":\"t\",\"marker\":\"M\",\"cmdline_base\":\"c\",\"raw\":\"/k.raw\"}",
                                   &raw, &err),
                         0);
        fmt = _KERNEL_FORMAT_INVALID;
        assert_null(image_kernel_for(raw, qemu, &fmt));
        assert_int_equal(fmt, _KERNEL_FORMAT_INVALID);
        assert_string_equal(image_kernel_for(raw, sv, &fmt), "/k.raw");
        assert_int_equal(fmt, KERNEL_FORMAT_RAW);

        _cleanup_(image_freep) Image *bz = NULL;
        assert_int_equal(load_text(f, "{\"name\":\"t\",\"marker\":\"M\",\"cmdline_base\":\"c\",\"bzimage\":\"/k.bz\"}",
                                   &bz, &err),
                         0);
        assert_string_equal(image_kernel_for(bz, qemu, &fmt), "/k.bz");
        assert_int_equal(fmt, KERNEL_FORMAT_BZIMAGE);
}

/* image_runs_job matches the job's name up to ':' exactly. */
static void test_runs_job(void **state) {
        Fixture *f = *state;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_text(f, "{" MINIMAL ",\"jobs\":[\"boot\",\"run\",7]}", &img, &err), 0);
        assert_true(image_runs_job(img, "run"));
        assert_true(image_runs_job(img, "run:/bin/x"));
        assert_true(image_runs_job(img, "run:"));
        assert_true(image_runs_job(img, "boot"));
        assert_false(image_runs_job(img, "ru"));
        assert_false(image_runs_job(img, "runx"));
        assert_false(image_runs_job(img, "runx:/bin/x"));
        assert_false(image_runs_job(img, "hold"));
        assert_false(image_runs_job(img, ""));

        _cleanup_(image_freep) Image *empty = NULL;
        assert_int_equal(load_text(f, "{" MINIMAL ",\"jobs\":[]}", &empty, &err), 0);
        assert_false(image_runs_job(empty, "boot"));
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_default_image, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_required_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
                cmocka_unit_test_setup_teardown(test_optional_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kernel_for, setup, teardown),
                cmocka_unit_test_setup_teardown(test_runs_job, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
