/* test-guest-file.c — kernels and disks told apart by content
 * (guest-file.c) on real files: the distro kernel as bzImage and as the
 * PVH vmlinux the default image extracts, an ELF that is no kernel, text,
 * a real ext4 image (mke2fs), a qcow2 header, empty files; plus the
 * per-run disk copy (guest-disk.c) keeping holes. */
#include "guest-file.c"
#include "guest-disk.c"

#include <sys/utsname.h>

#include "test-helpers.h"

typedef struct Fixture {
        char *dir;               /* scratch directory */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        f->dir = test_tmpdir();
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

/* The newest /boot/vmlinuz-*, as the image builds use it. */
static char *distro_kernel(void) {
        FILE *p = popen("ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1", "r");
        char line[512] = "";
        if (p && !fgets(line, sizeof(line), p))
                line[0] = 0;
        if (p)
                pclose(p);
        line[strcspn(line, "\n")] = 0;
        return line[0] ? strdup(line) : NULL;
}

static int probe_kernel(const char *path, KernelFormat declared, KernelFormat *f, char *rel, char *why) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        return guest_kernel_probe(fd, declared, f, rel, 64, why, 256);
}

static char *write_bytes(Fixture *f, const char *name, const void *data, size_t len) {
        char *path = path_join(f->dir, name);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        return path;
}

/* The distro kernel: a bzImage naming its release; the same asked for as
 * a vmlinux is refused naming both. */
static void test_bzimage(void **state) {
        _cleanup_free_ char *k = distro_kernel();
        char rel[64], why[256];
        KernelFormat fmt;
        if (!k) {
                print_message("no /boot/vmlinuz-* (apt install linux-image-amd64)\n");
                skip();
        }
        assert_int_equal(probe_kernel(k, _KERNEL_FORMAT_INVALID, &fmt, rel, why), 0);
        assert_int_equal(fmt, KERNEL_FORMAT_BZIMAGE);
        assert_true(strlen(rel) > 3 && strstr(k, rel));
        assert_int_equal(probe_kernel(k, KERNEL_FORMAT_PVH, &fmt, rel, why), -EMEDIUMTYPE);
        assert_string_equal(why, "is a bzImage, not a vmlinux");
}

/* The vmlinux the default image extracted: a PVH ELF, release from its banner. */
static void test_pvh_vmlinux(void **state) {
        const char *image = getenv("IMAGE_DIR");
        _cleanup_free_ char *v = image ? path_join(image, "vmlinux") : NULL;
        char rel[64], why[256];
        KernelFormat fmt;
        if (!v || access(v, R_OK) < 0) {
                print_message("no built default image (make image)\n");
                skip();
        }
        assert_int_equal(probe_kernel(v, _KERNEL_FORMAT_INVALID, &fmt, rel, why), 0);
        assert_int_equal(fmt, KERNEL_FORMAT_PVH);
        assert_true(strlen(rel) > 3);
}

/* Not kernels: an x86-64 ELF without a PVH note (a program), text, a tiny
 * file; a flat binary only when said so. */
static void test_not_kernels(void **state) {
        Fixture *f = *state;
        char rel[64], why[256], text[8192];
        KernelFormat fmt;
        assert_int_equal(probe_kernel("/bin/true", _KERNEL_FORMAT_INVALID, &fmt, rel, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "without a PVH entry note"));
        memset(text, 'x', sizeof(text));
        _cleanup_free_ char *t = write_bytes(f, "text", text, sizeof(text));
        assert_int_equal(probe_kernel(t, _KERNEL_FORMAT_INVALID, &fmt, rel, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "is not a kernel: neither a bzImage"));
        assert_int_equal(probe_kernel(t, KERNEL_FORMAT_RAW, &fmt, rel, why), 0);
        assert_int_equal(fmt, KERNEL_FORMAT_RAW);
        _cleanup_free_ char *tiny = write_bytes(f, "tiny", "hi\n", 3);
        assert_int_equal(probe_kernel(tiny, KERNEL_FORMAT_RAW, &fmt, rel, why), -EMEDIUMTYPE);
        assert_string_equal(why, "is not a kernel: 3 bytes");
}

static int probe_disk(const char *path, DiskFormat declared, DiskFormat *fmt, char *why) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        return guest_disk_probe(fd, declared, fmt, why, 256);
}

static void test_disks(void **state) {
        Fixture *f = *state;
        char why[256], cmd[1024];
        DiskFormat fmt;
        _cleanup_free_ char *ext4 = path_join(f->dir, "ext4.img");
        snprintf(cmd, sizeof(cmd), "mke2fs -q -t ext4 '%s' 8M > /dev/null 2>&1", ext4);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(probe_disk(ext4, _DISK_FORMAT_INVALID, &fmt, why), 0);
        assert_int_equal(fmt, DISK_FORMAT_RAW);
        assert_int_equal(probe_disk(ext4, DISK_FORMAT_QCOW2, &fmt, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "is not a qcow2 image"));

        uint8_t qcow[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
        _cleanup_free_ char *q = write_bytes(f, "q.qcow2", qcow, sizeof(qcow));
        assert_int_equal(probe_disk(q, _DISK_FORMAT_INVALID, &fmt, why), 0);
        assert_int_equal(fmt, DISK_FORMAT_QCOW2);
        assert_int_equal(probe_disk(q, DISK_FORMAT_RAW, &fmt, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "say format=qcow2"));

        /* A backing file or an external data file would be opened by name, as root. */
        uint8_t backed[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
        backed[15] = 0x70; /* backing_file_offset */
        _cleanup_free_ char *b = write_bytes(f, "backed.qcow2", backed, sizeof(backed));
        assert_int_equal(probe_disk(b, _DISK_FORMAT_INVALID, &fmt, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "with a backing file"));
        uint8_t external[512] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
        external[79] = 0x04; /* incompatible_features: external data file */
        _cleanup_free_ char *x = write_bytes(f, "external.qcow2", external, sizeof(external));
        assert_int_equal(probe_disk(x, DISK_FORMAT_QCOW2, &fmt, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "external data file"));

        char text[65536];
        memset(text, 'a', sizeof(text));
        _cleanup_free_ char *t = write_bytes(f, "notes.txt", text, sizeof(text));
        assert_int_equal(probe_disk(t, _DISK_FORMAT_INVALID, &fmt, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "is not a disk image"));
        _cleanup_free_ char *e = write_bytes(f, "empty", "", 0);
        assert_int_equal(probe_disk(e, _DISK_FORMAT_INVALID, &fmt, why), -EMEDIUMTYPE);
        assert_non_null(strstr(why, "empty"));
}

/* The private copy a VMM without snapshot gets: same bytes, holes kept,
 * nothing left behind when it cannot be made. */
static void test_disk_copy(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *src = path_join(f->dir, "src.img"), *dst = path_join(f->dir, "dst.img");
        _cleanup_close_ int fd = open(src, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 256 << 20), 0);
        assert_int_equal(pwrite(fd, "head", 4, 0), 4);
        assert_int_equal(pwrite(fd, "tail", 4, (200 << 20) + 3), 4);
        assert_int_equal(guest_disk_copy(fd, dst), 0);
        struct stat st;
        assert_int_equal(stat(dst, &st), 0);
        assert_int_equal(st.st_size, 256 << 20);
        assert_true(st.st_blocks * 512 < (16 << 20)); /* sparse, not 256 MiB of zeros */
        assert_int_equal(st.st_mode & 0777, 0600);
        _cleanup_close_ int d = open(dst, O_RDONLY | O_CLOEXEC);
        char buf[8] = "";
        assert_int_equal(pread(d, buf, 4, 0), 4);
        assert_memory_equal(buf, "head", 4);
        assert_int_equal(pread(d, buf, 4, (200 << 20) + 3), 4);
        assert_memory_equal(buf, "tail", 4);
        /* An existing target is not overwritten. */
        assert_int_equal(guest_disk_copy(fd, dst), -EEXIST);
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_bzimage, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pvh_vmlinux, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_kernels, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_copy, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
