/* qemu.c — QEMU x86_64 backends: "qemu" (q35, the lab's machine) and
 * "qemu-microvm".  QMP and serial are inherited socketpair ends, so there is
 * no socket path to race on or leave behind; QEMU's diagnostics go to its
 * stderr, which the runner reads like a log. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"

static const char *const qemu_version_argv[] = { "--version", NULL };
/* The PVH entry of an ELF vmlinux is ~2x faster under TCG than a bzImage. */
static const KernelFormat qemu_kernel_formats[] = { KERNEL_FORMAT_PVH, KERNEL_FORMAT_BZIMAGE, _KERNEL_FORMAT_INVALID };

/* Arguments shared by both machine types. */
static int push_common(char ***v, size_t *n, const VmConfig *c) {
        int r = 0;
        r = r ?: strv_push(v, n, "-accel");
        r = r ?: strv_push(v, n, c->accel == ACCEL_KVM ? "kvm" : "tcg");
        if (c->cpu_model || c->accel == ACCEL_KVM) {
                r = r ?: strv_push(v, n, "-cpu");
                r = r ?: strv_push(v, n, c->cpu_model ?: "host");
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

/* One -drive/-device pair per disk.  The format is explicit so QEMU never
 * probes (and never lets guest data pick the format); a direct disk bypasses
 * the host page cache (cache=none is O_DIRECT) and uses Linux native AIO,
 * which QEMU only allows together with O_DIRECT.  A snapshot disk's writes
 * go to a temporary overlay QEMU creates (and unlinks at once), so the
 * image stays as it was and every run starts from it.  A caller's disk is
 * its fd in an fdset (-add-fd): QEMU dups it, so it can never open the file
 * more widely than the caller did (a snapshot disk's fd is read-only: QEMU
 * opens a snapshot's image read-only, and an fdset hands out only an fd of
 * the same access mode).  Without auto-read-only QEMU opens it once, and
 * with locking off it takes no OFD lock on a description we keep open
 * across runs (which would lock the next run out).  q35 puts virtio-blk on
 * PCI, microvm on its virtio-mmio transports. */
static int push_disks(char ***v, size_t *n, const VmConfig *c, const char *device) {
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->n_disks; i++) {
                const VmDisk *d = &c->disks[i];
                char file[96];
                if (!d->path) {
                        r = r ?: strv_push(v, n, "-add-fd");
                        r = r ?: strv_pushf(v, n, "fd=%d,set=%zu,opaque=virtlab-disk%zu", d->fd, i + 1, i);
                        snprintf(file, sizeof(file), "/dev/fdset/%zu,file.auto-read-only=off,file.locking=off", i + 1);
                } else if (strchr(d->path, ','))
                        return -EINVAL; /* QEMU would split the option there */
                r = r ?: strv_push(v, n, "-drive");
                r = r ?: strv_pushf(v, n, "file=%s,if=none,id=virtlab-disk%zu,format=%s,readonly=%s%s%s", d->path ?: file, i,
                                    disk_format_to_string(d->format) ?: "raw", d->read_only ? "on" : "off",
                                    d->direct ? ",cache=none,aio=native" : "", d->snapshot ? ",snapshot=on" : "");
                r = r ?: strv_push(v, n, "-device");
                r = r ?: strv_pushf(v, n, "%s,drive=virtlab-disk%zu,id=virtlab-blk%zu", device, i, i);
        }
        return r;
}

static int push_devices(char ***v, size_t *n, const VmConfig *c) {
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->n_devices; i++) {
                const VmDevice *d = &c->devices[i];
                if (d->kind != VM_DEVICE_EDU)
                        return -EOPNOTSUPP;
                r = r ?: strv_push(v, n, "-device");
                if (d->dma_mask)
                        r = r ?: strv_pushf(v, n, "edu,dma_mask=0x%" PRIX64, d->dma_mask);
                else
                        r = r ?: strv_push(v, n, "edu");
        }
        return r;
}

static int build_argv_machine(const char *machine, const char *blk_device, const char *binary, const VmConfig *c,
                              bool pci, char ***ret) {
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        if (c->qmp_fd < 0 || c->serial_fd < 0)
                return -EBADF;
        if (c->n_devices > 0 && !pci)
                return -EOPNOTSUPP;
        int r = strv_push(&v, &n, binary);
        r = r ?: strv_push(&v, &n, "-machine");
        r = r ?: strv_push(&v, &n, machine);
        r = r ?: push_common(&v, &n, c);
        r = r ?: push_disks(&v, &n, c, blk_device);
        r = r ?: push_devices(&v, &n, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

static int qemu_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        return build_argv_machine("q35", "virtio-blk-pci", binary, c, true, ret);
}

/* No PIT/PIC: the lightweight configuration.  The RTC stays: the distro
 * kernel has rtc_cmos built in and stalls ~2.2 s probing a missing RTC.  Under TCG the guest
 * then needs tsc_early_khz= (the runner adds it) or calibration can hang. */
static int microvm_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        return build_argv_machine("microvm,pit=off,pic=off,isa-serial=on", "virtio-blk-device", binary, c, false, ret);
}

/* A KVM failure QEMU prints on stderr ("KVM internal error", a failed
 * KVM_RUN, an emulation failure) ends the run at once. */
static VmmLogEvent qemu_parse_log_line(const char *line) {
        bool kvm = strcasestr(line, "kvm") != NULL;
        if (kvm && (strcasestr(line, "internal error") || strcasestr(line, "emulation failure") ||
                    (strcasestr(line, "KVM_RUN") && (strcasestr(line, "fail") || strcasestr(line, "error")))))
                return (VmmLogEvent) { .type = VMM_LOG_FATAL };
        return (VmmLogEvent) { .type = VMM_LOG_NONE };
}

/* SeaBIOS's real-mode code is emulated instruction by instruction by a
 * paravirtual KVM (measured here: 1.9-5 s to the noop guest's marker under
 * kvm_pvm against ~90 ms under TCG). */
static const char *q35_caveat(const HostInfo *h, Accel accel) {
        if (accel == ACCEL_KVM && h->kvm == KVM_FLAVOUR_PVM)
                return "q35 boots through SeaBIOS, whose real-mode code kvm_pvm emulates instruction by instruction "
                       "(seconds here, against ~0.1 s under TCG): this figure says more about kvm_pvm than about QEMU";
        return NULL;
}

/* kvm_pvm refuses IA32_ARCH_CAPABILITIES (MSR 0x10a), which -cpu host
 * passes through: QEMU then aborts in kvm_buf_set_msrs(). */
static const char *qemu_default_cpu_model(const HostInfo *h, Accel accel) {
        if (accel == ACCEL_KVM && h->kvm == KVM_FLAVOUR_PVM)
                return "host,-arch-capabilities";
        return NULL;
}

const VmmBackend vmm_backend_qemu = {
        .name = "qemu",
        .description = "QEMU, q35 machine (the lab's reference VMM)",
        .product = "QEMU",
        .binary = "qemu-system-x86_64",
        .binary_env = "VIRTLAB_QEMU",
        .version_argv = qemu_version_argv,
        .version_prefix = "QEMU emulator version ",
        .kernel_formats = qemu_kernel_formats,
        .caps = { .has_tcg = true, .has_hmp = true, .has_pci = true, .has_firmware = true, .has_cpu_model = true,
                  .takes_fds = true, .has_snapshot = true, .console_input = true, .devices = 1U << VM_DEVICE_EDU,
                  .footprint_mib = 48 },
        .build_argv = qemu_build_argv,
        .parse_log_line = qemu_parse_log_line,
        .default_cpu_model = qemu_default_cpu_model,
        .caveat = q35_caveat,
};

const VmmBackend vmm_backend_qemu_microvm = {
        .name = "qemu-microvm",
        .description = "QEMU, microvm machine (no PCI, no legacy PIT/PIC)",
        .product = "QEMU",
        .binary = "qemu-system-x86_64",
        .binary_env = "VIRTLAB_QEMU",
        .version_argv = qemu_version_argv,
        .version_prefix = "QEMU emulator version ",
        .kernel_formats = qemu_kernel_formats,
        .caps = { .has_tcg = true, .has_hmp = true, .has_cpu_model = true, .takes_fds = true, .has_snapshot = true,
                  .console_input = true, .footprint_mib = 44 },
        .build_argv = microvm_build_argv,
        .parse_log_line = qemu_parse_log_line,
        .default_cpu_model = qemu_default_cpu_model,
};
