/* backend-qemu.c — QEMU x86_64 backends: "qemu" (q35, the lab's machine) and
 * "qemu-microvm".  QMP and serial are inherited socketpair ends, so there is
 * no socket path to race on or leave behind. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vmm.h"

/* Arguments shared by both machine types. */
static int push_common(char ***v, size_t *n, const VmConfig *c) {
        int r = 0;
        r = r ?: strv_push(v, n, "-accel");
        r = r ?: strv_push(v, n, c->accel == ACCEL_KVM ? "kvm" : "tcg");
        if (c->accel == ACCEL_KVM) {
                r = r ?: strv_push(v, n, "-cpu");
                r = r ?: strv_push(v, n, "host");
        }
        r = r ?: strv_push(v, n, "-m");
        r = r ?: strv_pushf(v, n, "%u", c->memory_mib);
        r = r ?: strv_push(v, n, "-smp");
        r = r ?: strv_pushf(v, n, "%u", c->vcpus);
        r = r ?: strv_push(v, n, "-nodefaults");
        r = r ?: strv_push(v, n, "-no-user-config");
        r = r ?: strv_push(v, n, "-display");
        r = r ?: strv_push(v, n, "none");
        /* The guest powers off by rebooting (reboot=t): -no-reboot turns that into exit. */
        r = r ?: strv_push(v, n, "-no-reboot");
        r = r ?: strv_push(v, n, "-chardev");
        r = r ?: strv_pushf(v, n, "socket,id=virtlab-qmp,fd=%d", c->qmp_fd);
        r = r ?: strv_push(v, n, "-mon");
        r = r ?: strv_push(v, n, "chardev=virtlab-qmp,mode=control");
        r = r ?: strv_push(v, n, "-chardev");
        r = r ?: strv_pushf(v, n, "socket,id=virtlab-serial,fd=%d", c->serial_fd);
        r = r ?: strv_push(v, n, "-serial");
        r = r ?: strv_push(v, n, "chardev:virtlab-serial");
        r = r ?: strv_push(v, n, "-kernel");
        r = r ?: strv_push(v, n, c->kernel);
        if (c->initrd) {
                r = r ?: strv_push(v, n, "-initrd");
                r = r ?: strv_push(v, n, c->initrd);
        }
        r = r ?: strv_push(v, n, "-append");
        r = r ?: strv_push(v, n, c->cmdline);
        return r;
}

/* One -drive/-device pair per disk.  format=raw is explicit so QEMU never
 * probes (and never lets guest data pick the format); a direct disk bypasses
 * the host page cache (cache=none is O_DIRECT) and uses Linux native AIO,
 * which QEMU only allows together with O_DIRECT.  q35 puts virtio-blk on PCI,
 * microvm on its virtio-mmio transports. */
static int push_disks(char ***v, size_t *n, const VmConfig *c, const char *device) {
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->n_disks; i++) {
                const VmDisk *d = &c->disks[i];
                if (strchr(d->path, ','))
                        return -EINVAL; /* QEMU would split the option there */
                r = r ?: strv_push(v, n, "-drive");
                r = r ?: strv_pushf(v, n, "file=%s,if=none,id=virtlab-disk%zu,format=raw,readonly=%s%s", d->path, i,
                                    d->read_only ? "on" : "off", d->direct ? ",cache=none,aio=native" : "");
                r = r ?: strv_push(v, n, "-device");
                r = r ?: strv_pushf(v, n, "%s,drive=virtlab-disk%zu,id=virtlab-blk%zu", device, i, i);
        }
        return r;
}

static int build_argv_machine(const char *machine, const char *binary, const VmConfig *c, char ***ret) {
        char **v = NULL;
        size_t n = 0;
        int r = strv_push(&v, &n, binary);
        r = r ?: strv_push(&v, &n, "-machine");
        r = r ?: strv_push(&v, &n, machine);
        r = r ?: push_common(&v, &n, c);
        r = r ?: push_disks(&v, &n, c, strncmp(machine, "microvm", 7) == 0 ? "virtio-blk-device" : "virtio-blk-pci");
        for (char *const *e = c->extra_argv; r == 0 && e && *e; e++)
                r = strv_push(&v, &n, *e);
        if (r < 0 || c->qmp_fd < 0 || c->serial_fd < 0) {
                strv_free(v);
                return r < 0 ? r : -EBADF;
        }
        *ret = v;
        return 0;
}

static int qemu_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        return build_argv_machine("q35", binary, c, ret);
}

/* No PIT/PIC: the lightweight configuration.  The RTC stays: the distro
 * kernel has rtc_cmos built in and stalls ~2.2 s probing a missing RTC.  Under TCG the guest
 * then needs tsc_early_khz= (the runner adds it) or calibration can hang. */
static int microvm_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        return build_argv_machine("microvm,pit=off,pic=off,isa-serial=on", binary, c, ret);
}

const VmmBackend vmm_backend_qemu = {
        .name = "qemu",
        .description = "QEMU, q35 machine (the lab's reference VMM)",
        .binary = "qemu-system-x86_64",
        .binary_env = "VIRTLAB_QEMU",
        .kernel_format = KERNEL_FORMAT_VMLINUX,
        .takes_fds = true,
        .has_hmp = true,
        .build_argv = qemu_build_argv,
};

const VmmBackend vmm_backend_qemu_microvm = {
        .name = "qemu-microvm",
        .description = "QEMU, microvm machine (no PCI, no legacy PIT/PIC)",
        .binary = "qemu-system-x86_64",
        .binary_env = "VIRTLAB_QEMU",
        .kernel_format = KERNEL_FORMAT_VMLINUX,
        .takes_fds = true,
        .has_hmp = true,
        .build_argv = microvm_build_argv,
};
