/* stratovirt.c — StratoVirt's x86_64 "microvm" machine.
 *
 * StratoVirt cannot inherit sockets, so QMP is a unix socket it listens on
 * (server,nowait) and the serial console a FIFO it writes to (file,path=),
 * both inside the VM's private run directory; vm.c opens the FIFO before
 * the spawn and connects to QMP with retry while the process lives.  Its
 * QMP server parses each read() as one JSON object and numbers ids as strings
 * (QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS).  It has no TCG.  Its
 * own log (-D) carries the boot_time feature's port 0x3ff lines and the
 * vCPU's KVM errors (docs/stratovirt.md). */
#include <stdio.h>

#include "backends/backend.h"

static const char *const stratovirt_version_argv[] = { "-V", NULL };
/* microvm enters a bzImage at its 64-bit entry and copies anything else raw
 * to 16 MiB; it does not parse ELF. */
static const KernelFormat stratovirt_kernel_formats[] = { KERNEL_FORMAT_BZIMAGE, KERNEL_FORMAT_RAW, _KERNEL_FORMAT_INVALID };

/* This level makes the boot_time feature's port 0x3ff lines appear in -D. */
static const char *const stratovirt_env[] = { "STRATOVIRT_LOG_LEVEL=info", NULL };

/* Renders one -drive/-device pair per disk: virtio-mmio block devices, which
 * reach the guest as virtio_mmio.device= words on its command line.  A
 * caller's disk is the inherited fd, reopened through /proc/self/fd/N
 * (StratoVirt has no fdsets); the plan checked it was opened read-write.
 * It cannot discard a disk's writes (no snapshot=on): a run gives it a
 * private copy of an image's disk instead (guest-disk.c). */
static int push_disks(char ***v, size_t *n, const VmConfig *c) {
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->n_disks; i++) {
                const VmDisk *d = &c->disks[i];
                char file[64];
                if (d->snapshot)
                        return -EOPNOTSUPP;
                if (!d->path)
                        snprintf(file, sizeof(file), "/proc/self/fd/%d", d->fd);
                else if (strchr(d->path, ','))
                        return -EINVAL; /* StratoVirt has no escape for ',' in option values */
                r = r ?: strv_push(v, n, "-drive");
                r = r ?: strv_pushf(v, n, "id=virtlab-disk%zu,file=%s,readonly=%s,direct=%s%s", i, d->path ?: file,
                                    d->read_only ? "on" : "off", d->direct ? "on" : "off",
                                    d->format == DISK_FORMAT_QCOW2 ? ",format=qcow2" : "");
                r = r ?: strv_push(v, n, "-device");
                r = r ?: strv_pushf(v, n, "virtio-blk-device,drive=virtlab-disk%zu,id=virtlab-blk%zu", i, i);
        }
        return r;
}

static bool has_comma(const char *s) {
        return s && strchr(s, ',');
}

static int stratovirt_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        /* -qmp is mandatory; -serial stdio needs a TTY; a serial socket drops
         * what the guest prints before we connect, a file (our FIFO) does not. */
        if (!c->qmp_path || !c->serial_path)
                return -EBADF;
        if (c->accel != ACCEL_KVM || c->n_devices > 0 || c->cpu_model)
                return -EOPNOTSUPP;
        if (has_comma(c->kernel) || has_comma(c->initrd) || has_comma(c->qmp_path) || has_comma(c->serial_path) ||
            has_comma(c->log_path))
                return -EINVAL;
        _cleanup_strv_free_ char **v = NULL;
        size_t n = 0;
        int r = strv_push(&v, &n, binary);
        r = r ?: strv_push(&v, &n, "-machine");
        r = r ?: strv_push(&v, &n, "microvm");
        r = r ?: strv_push(&v, &n, "-kernel");
        r = r ?: strv_push(&v, &n, c->kernel);
        if (c->initrd) {
                r = r ?: strv_push(&v, &n, "-initrd");
                r = r ?: strv_push(&v, &n, c->initrd);
        }
        r = r ?: strv_push(&v, &n, "-append");
        r = r ?: strv_push(&v, &n, c->cmdline);
        r = r ?: strv_push(&v, &n, "-m");
        r = r ?: strv_pushf(&v, &n, "%u", c->memory_mib);
        r = r ?: strv_push(&v, &n, "-smp");
        r = r ?: strv_pushf(&v, &n, "%u", c->vcpus);
        r = r ?: strv_push(&v, &n, "-qmp");
        r = r ?: strv_pushf(&v, &n, "unix:%s,server,nowait", c->qmp_path);
        r = r ?: strv_push(&v, &n, "-serial");
        r = r ?: strv_pushf(&v, &n, "file,path=%s", c->serial_path);
        if (c->log_path) {
                r = r ?: strv_push(&v, &n, "-D");
                r = r ?: strv_push(&v, &n, c->log_path);
        }
        r = r ?: push_disks(&v, &n, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

/* "Kernel starts to boot!" / "Kernel boot complete!": the boot_time
 * feature's lines for guest writes of 0x01 / 0x02 to port 0x3ff.  A vCPU
 * that hit KVM_EXIT_INTERNAL_ERROR leaves the process alive with no vCPU
 * thread and query-status still "running": the log line is the only sign. */
static VmmLogEvent stratovirt_parse_log_line(const char *line) {
        if (strstr(line, "Kernel starts to boot!"))
                return (VmmLogEvent) { .type = VMM_LOG_PHASE, .phase = "port_boot_start" };
        if (strstr(line, "Kernel boot complete!"))
                return (VmmLogEvent) { .type = VMM_LOG_PHASE, .phase = "port_boot_done" };
        if (strstr(line, "KVM_EXIT_INTERNAL_ERROR") || strstr(line, "KVM_EXIT_FAIL_ENTRY") ||
            strstr(line, "KVM_EXIT_SHUTDOWN") ||
            (strcasestr(line, "kvm") && (strcasestr(line, "internal error") || strcasestr(line, "emulation failure"))))
                return (VmmLogEvent) { .type = VMM_LOG_FATAL };
        return (VmmLogEvent) { .type = VMM_LOG_NONE };
}

const VmmBackend vmm_backend_stratovirt = {
        .name = "stratovirt",
        .description = "StratoVirt, microvm machine (virtio-mmio, KVM only)",
        .product = "StratoVirt",
        .binary = "stratovirt",
        .binary_env = "VIRTLAB_STRATOVIRT",
        .version_argv = stratovirt_version_argv,
        .version_prefix = "StratoVirt ",
        .kernel_formats = stratovirt_kernel_formats,
        .qmp_flags = QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS,
        /* human-monitor-command exists but knows neither gpa2hva nor info mtree */
        .caps = { .writes_log = true, .min_memory_mib = 128, .footprint_mib = 12 },
        .env = stratovirt_env,
        .build_argv = stratovirt_build_argv,
        .parse_log_line = stratovirt_parse_log_line,
};
