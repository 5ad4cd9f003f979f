/* backend-stratovirt.c — StratoVirt's x86_64 "microvm" machine.
 *
 * StratoVirt cannot inherit sockets, so QMP and the serial console are unix
 * sockets it listens on (server,nowait) inside the VM's private run
 * directory; vm.c connects to them with retry while the process lives.  Its
 * QMP server parses each read() as one JSON object and numbers ids as strings
 * (QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS).  It has no TCG: only
 * KVM (docs/stratovirt.md says what happens on hosts where that cannot work). */
#include <stdio.h>

#include "util.h"
#include "vmm.h"

/* Where the VMM's own log goes: StratoVirt writes it with -D, and this
 * level makes the boot_time feature's port 0x3ff lines appear in it. */
static const char *const stratovirt_env[] = { "STRATOVIRT_LOG_LEVEL=info", NULL };

/* Renders one -drive/-device pair per disk: virtio-mmio block devices, which
 * reach the guest as virtio_mmio.device= words on its command line. */
static int push_disks(char ***v, size_t *n, const VmConfig *c) {
        int r = 0;
        for (size_t i = 0; r == 0 && i < c->n_disks; i++) {
                const VmDisk *d = &c->disks[i];
                if (!d->path || strchr(d->path, ','))
                        return -EINVAL; /* StratoVirt has no escape for ',' in option values */
                r = r ?: strv_push(v, n, "-drive");
                r = r ?: strv_pushf(v, n, "id=virtlab-disk%zu,file=%s,readonly=%s,direct=%s", i, d->path,
                                    d->read_only ? "on" : "off", d->direct ? "on" : "off");
                r = r ?: strv_push(v, n, "-device");
                r = r ?: strv_pushf(v, n, "virtio-blk-device,drive=virtlab-disk%zu,id=virtlab-blk%zu", i, i);
        }
        return r;
}

static int stratovirt_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        /* -qmp is mandatory; -serial stdio needs a TTY; sockets are the only
         * channels that work for a daemon's child. */
        if (!c->qmp_path || !c->serial_path)
                return -EBADF;
        if (c->accel != ACCEL_KVM)
                return -EOPNOTSUPP; /* no TCG in StratoVirt */
        if (strchr(c->kernel, ',') || (c->initrd && strchr(c->initrd, ',')) || strchr(c->qmp_path, ',') ||
            strchr(c->serial_path, ',') || (c->log_path && strchr(c->log_path, ',')))
                return -EINVAL;
        char **v = NULL;
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
        r = r ?: strv_pushf(&v, &n, "socket,path=%s,server,nowait", c->serial_path);
        if (c->log_path) {
                r = r ?: strv_push(&v, &n, "-D");
                r = r ?: strv_push(&v, &n, c->log_path);
        }
        r = r ?: push_disks(&v, &n, c);
        for (char *const *e = c->extra_argv; r == 0 && e && *e; e++)
                r = strv_push(&v, &n, *e);
        if (r < 0) {
                strv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

const VmmBackend vmm_backend_stratovirt = {
        .name = "stratovirt",
        .description = "StratoVirt, microvm machine (virtio-mmio, KVM only)",
        .binary = "stratovirt",
        .binary_env = "VIRTLAB_STRATOVIRT",
        .kernel_format = KERNEL_FORMAT_BZIMAGE,
        .qmp_flags = QMP_CLIENT_ONE_IN_FLIGHT | QMP_CLIENT_STRING_IDS,
        .takes_fds = false,
        .has_hmp = false, /* human-monitor-command exists but knows neither gpa2hva nor info mtree */
        .needs_kvm = true,
        .min_memory_mib = 128,
        .env = stratovirt_env,
        .build_argv = stratovirt_build_argv,
};
