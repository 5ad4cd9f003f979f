/* test-vmm-argv.c — the argv each backend builds from a VmConfig (the
 * backend seam).  Includes backends/stratovirt.c; the QEMU backends come
 * from the library through vmm_backend_find().  Facts checked for StratoVirt:
 * -qmp is always there (it is mandatory), serial is a file (our FIFO; stdio needs a
 * TTY), no -pidfile (it needs -daemonize), no TCG, disks as -drive +
 * virtio-blk-device, and option values that would need escaping are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backends/registry.h"
#include "backends/stratovirt.c"

static VmConfig base_config(void) {
        return (VmConfig) { .kernel = "/img/bzImage", .initrd = "/img/initramfs.cpio.gz",
                            .cmdline = "console=ttyS0 reboot=t panic=-1", .memory_mib = 256, .vcpus = 2,
                            .accel = ACCEL_KVM, .qmp_fd = -EBADF, .serial_fd = -EBADF };
}

/* Index of the first argv element equal to s, or -1. */
static int find_arg(char **v, const char *s) {
        for (int i = 0; v && v[i]; i++)
                if (streq(v[i], s))
                        return i;
        return -1;
}

/* The value following flag, or NULL. */
static const char *arg_after(char **v, const char *flag) {
        int i = find_arg(v, flag);
        return i >= 0 ? v[i + 1] : NULL;
}

static void test_registry(void **state) {
        assert_ptr_equal(vmm_backend_find("stratovirt"), &vmm_backend_stratovirt);
        assert_non_null(vmm_backend_find("qemu"));
        assert_non_null(vmm_backend_find("qemu-microvm"));
        assert_null(vmm_backend_find("firecracker"));
        const VmmBackend *s = &vmm_backend_stratovirt;
        assert_false(s->caps.takes_fds);
        assert_false(s->caps.has_tcg);
        assert_false(s->caps.has_hmp);
        assert_false(s->caps.has_pci);
        assert_true(s->caps.writes_log);
        assert_int_equal(s->kernel_formats[0], KERNEL_FORMAT_BZIMAGE);
        assert_int_equal(s->kernel_formats[1], KERNEL_FORMAT_RAW);
        assert_int_equal(s->kernel_formats[2], _KERNEL_FORMAT_INVALID);
        assert_string_equal(s->version_argv[0], "-V");
        assert_int_equal(s->qmp_flags, QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS);
        assert_string_equal(s->binary_env, "VIRTLAB_STRATOVIRT");
}

static void test_stratovirt_argv(void **state) {
        VmConfig c = base_config();
        c.qmp_path = "/run/virtlab/vm-x/qmp.sock";
        c.serial_path = "/run/virtlab/vm-x/serial.fifo";
        c.log_path = "/var/lib/virtlab/logs/job-1/run-0.vmm.log";
        char **v = NULL;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "/usr/bin/stratovirt", &c, &v), 0);
        assert_string_equal(v[0], "/usr/bin/stratovirt");
        assert_string_equal(arg_after(v, "-machine"), "microvm");
        assert_string_equal(arg_after(v, "-kernel"), "/img/bzImage");
        assert_string_equal(arg_after(v, "-initrd"), "/img/initramfs.cpio.gz");
        assert_string_equal(arg_after(v, "-append"), "console=ttyS0 reboot=t panic=-1");
        assert_string_equal(arg_after(v, "-m"), "256");
        assert_string_equal(arg_after(v, "-smp"), "2");
        assert_string_equal(arg_after(v, "-qmp"), "unix:/run/virtlab/vm-x/qmp.sock,server,nowait");
        assert_string_equal(arg_after(v, "-serial"), "file,path=/run/virtlab/vm-x/serial.fifo");
        assert_string_equal(arg_after(v, "-D"), "/var/lib/virtlab/logs/job-1/run-0.vmm.log");
        /* Nothing QEMU-only, nothing that needs a TTY or -daemonize. */
        assert_int_equal(find_arg(v, "-accel"), -1);
        assert_int_equal(find_arg(v, "-nodefaults"), -1);
        assert_int_equal(find_arg(v, "-pidfile"), -1);
        assert_int_equal(find_arg(v, "stdio"), -1);
        assert_int_equal(find_arg(v, "-drive"), -1);
        strv_free(v);
}

static void test_stratovirt_disks_and_devices(void **state) {
        VmConfig c = base_config();
        static const VmDisk disks[] = { { .path = "/data/a.raw", .direct = true }, { .path = "/data/b.raw", .read_only = true } };
        static const VmDevice edu[] = { { .kind = VM_DEVICE_EDU } };
        c.qmp_path = "/r/qmp.sock";
        c.serial_path = "/r/serial.sock";
        c.disks = disks;
        c.n_disks = 2;
        char **v = NULL;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), 0);
        int i = find_arg(v, "-drive");
        assert_true(i > 0);
        assert_string_equal(v[i + 1], "id=virtlab-disk0,file=/data/a.raw,readonly=off,direct=on");
        assert_string_equal(v[i + 2], "-device");
        assert_string_equal(v[i + 3], "virtio-blk-device,drive=virtlab-disk0,id=virtlab-blk0");
        assert_string_equal(v[i + 5], "id=virtlab-disk1,file=/data/b.raw,readonly=on,direct=off");
        assert_int_equal(find_arg(v, "-D"), -1); /* no log path, no -D */
        v = strv_free(v);
        /* A device it cannot render is refused, and the plan says why first. */
        c.devices = edu;
        c.n_devices = 1;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), -EOPNOTSUPP);
        assert_null(v);
        char why[128];
        assert_non_null(vmm_refuse_devices(&vmm_backend_stratovirt, edu, 1, why, sizeof(why)));
        assert_non_null(strstr(why, "stratovirt") && strstr(why, "edu") ? why : NULL);
        assert_null(vmm_refuse_devices(vmm_backend_find("qemu"), edu, 1, why, sizeof(why)));
        assert_non_null(vmm_refuse_devices(vmm_backend_find("qemu-microvm"), edu, 1, why, sizeof(why)));
}

static void test_stratovirt_log_lines(void **state) {
        VmmLogEvent e = stratovirt_parse_log_line("2026-12-01T15:09:31: [969][969][src/boot.rs:10]:INFO: Kernel starts to boot!");
        assert_int_equal(e.type, VMM_LOG_PHASE);
        assert_string_equal(e.phase, "port_boot_start");
        e = stratovirt_parse_log_line("...: Kernel boot complete!");
        assert_string_equal(e.phase, "port_boot_done");
        e = stratovirt_parse_log_line("...:ERROR: Vcpu0 received KVM_EXIT_INTERNAL_ERROR signal");
        assert_int_equal(e.type, VMM_LOG_FATAL);
        e = stratovirt_parse_log_line("...:INFO: VmConfig is VmConfig { guest_name: \"\" }");
        assert_int_equal(e.type, VMM_LOG_NONE);
}

static void test_stratovirt_refusals(void **state) {
        VmConfig c = base_config();
        char **v = NULL;
        /* No socket paths (a caller that thinks it can pass fds): refused. */
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), -EBADF);
        c.qmp_path = "/r/qmp.sock";
        c.serial_path = "/r/serial.sock";
        c.accel = ACCEL_TCG;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), -EOPNOTSUPP);
        c.accel = ACCEL_KVM;
        c.kernel = "/img/a,b";
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), -EINVAL);
        c.kernel = "/img/bzImage";
        static const VmDisk bad[] = { { .path = "/d/x,y.raw" } };
        c.disks = bad;
        c.n_disks = 1;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), -EINVAL);
        assert_null(v);
}

static void test_qemu_argv(void **state) {
        const VmmBackend *q = vmm_backend_find("qemu"), *m = vmm_backend_find("qemu-microvm");
        VmConfig c = base_config();
        c.kernel = "/img/vmlinux";
        c.accel = ACCEL_TCG;
        c.qmp_fd = 7;
        c.serial_fd = 8;
        char **v = NULL;
        assert_int_equal(q->build_argv(q, "/usr/bin/qemu-system-x86_64", &c, &v), 0);
        assert_string_equal(arg_after(v, "-machine"), "q35");
        assert_string_equal(arg_after(v, "-accel"), "tcg");
        assert_int_equal(find_arg(v, "-cpu"), -1); /* -cpu host only with KVM */
        assert_string_equal(arg_after(v, "-kernel"), "/img/vmlinux");
        assert_true(find_arg(v, "socket,id=virtlab-qmp,fd=7") > 0);
        assert_true(find_arg(v, "socket,id=virtlab-serial,fd=8") > 0);
        assert_true(find_arg(v, "-no-reboot") > 0);
        assert_int_equal(find_arg(v, "-qmp"), -1);
        v = strv_free(v);

        c.accel = ACCEL_KVM;
        assert_int_equal(m->build_argv(m, "qemu", &c, &v), 0);
        assert_string_equal(arg_after(v, "-machine"), "microvm,pit=off,pic=off,isa-serial=on");
        assert_string_equal(arg_after(v, "-accel"), "kvm");
        assert_string_equal(arg_after(v, "-cpu"), "host");
        v = strv_free(v);

        /* A CPU model replaces -cpu host; devices come last; microvm has no PCI. */
        static const VmDevice edu[] = { { .kind = VM_DEVICE_EDU, .dma_mask = 0xFFFFFFFF } };
        c.cpu_model = "max";
        c.devices = edu;
        c.n_devices = 1;
        assert_int_equal(q->build_argv(q, "qemu", &c, &v), 0);
        assert_string_equal(arg_after(v, "-cpu"), "max");
        size_t n = strv_length(v);
        assert_string_equal(v[n - 2], "-device");
        assert_string_equal(v[n - 1], "edu,dma_mask=0xFFFFFFFF");
        v = strv_free(v);
        assert_int_equal(m->build_argv(m, "qemu", &c, &v), -EOPNOTSUPP);
        c.devices = NULL;
        c.n_devices = 0;

        /* QEMU needs the inherited fds. */
        c.qmp_fd = -EBADF;
        assert_int_equal(q->build_argv(q, "qemu", &c, &v), -EBADF);
}

/* An image's disk: QEMU discards the guest's writes itself (snapshot=on,
 * the caller's read-only fd in an fdset), the format always explicit;
 * StratoVirt cannot, so a snapshot disk is refused there (the run gives it
 * a private copy instead), and qcow2 is named. */
static void test_image_disks(void **state) {
        const VmmBackend *q = vmm_backend_find("qemu"), *m = vmm_backend_find("qemu-microvm");
        assert_true(q->caps.has_snapshot && q->caps.console_input);
        assert_true(m->caps.has_snapshot && m->caps.console_input);
        assert_false(vmm_backend_stratovirt.caps.has_snapshot || vmm_backend_stratovirt.caps.console_input);
        VmConfig c = base_config();
        c.kernel = "/img/vmlinux";
        c.qmp_fd = 7;
        c.serial_fd = 8;
        static const VmDisk disks[] = { { .path = "/img/rootfs.img", .snapshot = true },
                                        { .fd = 12, .format = DISK_FORMAT_QCOW2, .snapshot = true } };
        c.disks = disks;
        c.n_disks = 2;
        char **v = NULL;
        assert_int_equal(q->build_argv(q, "qemu", &c, &v), 0);
        int i = find_arg(v, "-drive");
        assert_true(i > 0);
        assert_string_equal(v[i + 1], "file=/img/rootfs.img,if=none,id=virtlab-disk0,format=raw,readonly=off,snapshot=on");
        assert_string_equal(v[i + 3], "virtio-blk-pci,drive=virtlab-disk0,id=virtlab-blk0");
        assert_string_equal(arg_after(v, "-add-fd"), "fd=12,set=2,opaque=virtlab-disk1");
        assert_string_equal(v[i + 7], "file=/dev/fdset/2,file.auto-read-only=off,file.locking=off,if=none,id=virtlab-disk1,"
                                      "format=qcow2,readonly=off,snapshot=on");
        v = strv_free(v);
        assert_int_equal(m->build_argv(m, "qemu", &c, &v), 0);
        i = find_arg(v, "-drive");
        assert_string_equal(v[i + 3], "virtio-blk-device,drive=virtlab-disk0,id=virtlab-blk0");
        v = strv_free(v);

        c.qmp_path = "/r/qmp.sock";
        c.serial_path = "/r/serial.fifo";
        c.kernel = "/img/bzImage";
        c.n_disks = 1;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), -EOPNOTSUPP);
        static const VmDisk copy[] = { { .path = "/state/run-0.disk", .format = DISK_FORMAT_QCOW2 } };
        c.disks = copy;
        assert_int_equal(vmm_backend_stratovirt.build_argv(&vmm_backend_stratovirt, "sv", &c, &v), 0);
        assert_string_equal(arg_after(v, "-drive"), "id=virtlab-disk0,file=/state/run-0.disk,readonly=off,direct=off,format=qcow2");
        v = strv_free(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_registry),           cmocka_unit_test(test_stratovirt_argv),
                cmocka_unit_test(test_stratovirt_disks_and_devices), cmocka_unit_test(test_stratovirt_refusals),
                cmocka_unit_test(test_stratovirt_log_lines),
                cmocka_unit_test(test_qemu_argv),          cmocka_unit_test(test_image_disks),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
