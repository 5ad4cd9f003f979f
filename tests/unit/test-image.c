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
        expect_bad(f,
                   "{\"name\":\"n1234567890123456789012345678901234567890123456789012345678901234\","
                   "\"marker\":\"M\",\"cmdline_base\":\"c\",\"vmlinux\":\"/k\"}",
                   "field 'name' must be at most 64 bytes");
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

/* The systemd image's fields: its disk (and format), sysbench, the guest's
 * clock, whether it reports; bad values refused naming the field. */
static void test_disk_fields(void **state) {
        Fixture *f = *state;
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        assert_int_equal(load_text(f,
                                   "{" MINIMAL ",\"disk_image\":\"/d.img\",\"disk_image_format\":\"qcow2\",\"sysbench\":true,"
                                   "\"guest_clock\":\"systemd-analyze\"}",
                                   &img, &err),
                         0);
        assert_string_equal(img->disk, "/d.img");
        assert_int_equal(img->disk_fd, -EBADF);
        assert_int_equal(img->disk_format, DISK_FORMAT_QCOW2);
        assert_true(image_has_disk(img));
        assert_true(img->has_sysbench);
        assert_true(img->reports);
        assert_string_equal(img->clock, "systemd-analyze");
        assert_null(img->marker_re);

        _cleanup_(image_freep) Image *plain = NULL;
        assert_int_equal(load_text(f, "{" MINIMAL "}", &plain, &err), 0);
        assert_false(image_has_disk(plain));
        assert_false(plain->has_sysbench);
        assert_null(plain->clock);

        expect_bad(f, "{" MINIMAL ",\"disk_image\":\"/d\",\"disk_image_format\":\"vmdk\"}",
                   "field 'disk_image_format' must be raw or qcow2");
        expect_bad(f, "{" MINIMAL ",\"guest_clock\":\"uptime\"}", "field 'guest_clock' must be \"systemd-analyze\"");
        expect_bad(f, "{" MINIMAL ",\"sysbench\":1}", "field 'sysbench' must be true or false");
        expect_bad(f, "{" MINIMAL ",\"disk_image\":\"\"}", "field 'disk_image' must be a non-empty string");
}

/* Adds path under role to files, as the bus would (read-only). */
static void add_file(CallerFiles *files, const char *role, const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *err = NULL;
        assert_true(fd >= 0);
        if (caller_files_add(files, role, fd, &err) < 0)
                fail_msg("caller_files_add(%s): %s", role, err);
}

/* A guest from its parts: the kernel sealed and hashed, the initrd too, the
 * disk probed and kept as the caller's fd, the marker compiled; every
 * refusal names the value. */
static void test_from_parts(void **state) {
        Fixture *f = *state;
        FILE *p = popen("ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1", "r");
        char kernel[512] = "";
        if (!p || !fgets(kernel, sizeof(kernel), p))
                kernel[0] = 0;
        if (p)
                pclose(p);
        kernel[strcspn(kernel, "\n")] = 0;
        if (!kernel[0]) {
                print_message("no /boot/vmlinuz-* (apt install linux-image-amd64)\n");
                skip();
        }
        _cleanup_free_ char *initrd = path_join(f->dir, "initrd"), *disk = path_join(f->dir, "disk.img"), *cmd = NULL;
        write_file(initrd, "an initrd", 0644);
        assert_true(asprintf(&cmd, "mke2fs -q -t ext4 '%s' 8M > /dev/null 2>&1", disk) > 0);
        assert_int_equal(system(cmd), 0);

        CallerFiles files = {};
        add_file(&files, CALLER_FILE_KERNEL, kernel);
        add_file(&files, CALLER_FILE_INITRD, initrd);
        add_file(&files, CALLER_FILE_DISK_IMAGE, disk);
        json_auto_t *spec = json_pack("{s:s, s:s, s:s, s:s}", "kernel", kernel, "initrd", initrd, "disk_image", disk,
                                      "marker", "login: *$");
        _cleanup_(image_freep) Image *img = NULL;
        _cleanup_free_ char *err = NULL;
        if (image_from_parts(&files, spec, &img, &err) < 0)
                fail_msg("image_from_parts: %s", strempty(err));
        assert_string_equal(img->name, "custom");
        assert_string_equal(img->cmdline_base, "console=ttyS0");
        assert_false(img->reports);
        assert_false(img->powers_off);
        assert_true(image_runs_job(img, "boot") && image_runs_job(img, "hold") && !image_runs_job(img, "run"));
        assert_non_null(img->marker_re);
        assert_int_equal(regexec(img->marker_re, "box login: ", 0, NULL, 0), 0);
        assert_non_null(img->kernels[KERNEL_FORMAT_BZIMAGE]);
        assert_non_null(strstr(img->kernels[KERNEL_FORMAT_BZIMAGE], "/proc/self/fd/"));
        assert_non_null(strstr(img->initrd, "/proc/self/fd/"));
        assert_null(img->disk);
        assert_int_equal(img->disk_fd, caller_files_fd(&files, CALLER_FILE_DISK_IMAGE));
        assert_int_equal(img->disk_format, DISK_FORMAT_RAW);
        /* Sealed: the VMM reopens our copy, never the caller's file. */
        int kfd = caller_files_fd(&files, CALLER_FILE_KERNEL);
        assert_true(fcntl(kfd, F_GET_SEALS) & F_SEAL_WRITE);
        json_t *d = img->doc;
        assert_string_equal(json_string_value(json_object_get(d, "source")), "caller");
        assert_string_equal(json_string_value(json_object_get(d, "kernel")), kernel);
        assert_string_equal(json_string_value(json_object_get(d, "kernel_format")), "bzimage");
        assert_int_equal(strlen(json_string_value(json_object_get(d, "kernel_sha256"))), 64);
        assert_int_equal(strlen(json_string_value(json_object_get(d, "image_hash"))), 64);
        assert_string_equal(json_string_value(json_object_get(d, "initramfs_sha256")),
                            "d52742203e8e42f16f5bbe48a6e8aa94d9876c5abc0185f12c7f7b9ff94c814d");
        assert_true(strlen(json_string_value(json_object_get(d, "kernel_release"))) > 3);
        caller_files_done(&files);
}

/* Each bad part refused, naming it. */
static void test_parts_refused(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *text = path_join(f->dir, "notes.txt");
        char big[8192];
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        write_file(text, big, 0644);
        static const struct {
                const char *marker, *kernel_role_file, *want;
        } cases[] = {
                { "(", "/bin/true", "Invalid marker '(': not a POSIX extended regular expression" },
                { NULL, "/bin/true", "needs a marker" },
                { "x", "/bin/true", "Kernel '/bin/true' is an x86-64 ELF without a PVH entry note" },
                { "x", NULL, "is not a kernel" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CallerFiles files = {};
                const char *k = cases[i].kernel_role_file ?: text;
                add_file(&files, CALLER_FILE_KERNEL, k);
                json_auto_t *spec = json_pack("{s:s}", "kernel", k);
                if (cases[i].marker)
                        json_object_set_new(spec, "marker", json_string(cases[i].marker));
                Image *img = NULL;
                _cleanup_free_ char *err = NULL;
                assert_int_equal(image_from_parts(&files, spec, &img, &err), -EINVAL);
                assert_null(img);
                if (!err || !strstr(err, cases[i].want))
                        fail_msg("case %zu: '%s' lacks '%s'", i, strempty(err), cases[i].want);
                caller_files_done(&files);
        }
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
                cmocka_unit_test_setup_teardown(test_disk_fields, setup, teardown),
                cmocka_unit_test_setup_teardown(test_from_parts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_parts_refused, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
