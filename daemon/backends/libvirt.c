/* libvirt.c — "libvirt": QEMU's q35 machine started by libvirtd as a
 * transient domain (vm-libvirt.c runs it; libvirt-xml.c says it).  The
 * same guest, kernel format and QEMU binary as the "qemu" backend, so a
 * compare of the two measures what the libvirt path costs.  Its "log" is
 * libvirt's steps and lifecycle events, timestamped by the driver: they
 * become the t_libvirt_*_ms phases. */
#include <string.h>

#include "backends/backend.h"

static const char *const libvirt_version_argv[] = { "--version", NULL };
static const KernelFormat libvirt_kernel_formats[] = { KERNEL_FORMAT_PVH, KERNEL_FORMAT_BZIMAGE, _KERNEL_FORMAT_INVALID };

typedef struct PhaseLine {
        const char *line;   /* what the driver logs */
        const char *phase;  /* sample field stem */
} PhaseLine;

static const PhaseLine phase_lines[] = {
        { "libvirt: domain created (paused)", "libvirt_created" },
        { "libvirt: console stream open", "libvirt_console_open" },
        { "libvirt: domain resumed", "libvirt_resumed" },
        { "libvirt: event started ", "libvirt_event_started" },
        { "libvirt: event resumed ", "libvirt_event_resumed" },
        { "libvirt: event shutdown ", "libvirt_event_shutdown" },
        { "libvirt: event stopped ", "libvirt_event_stopped" },
};

static VmmLogEvent libvirt_parse_log_line(const char *line) {
        for (size_t i = 0; i < ELEMENTSOF(phase_lines); i++)
                if (strncmp(line, phase_lines[i].line, strlen(phase_lines[i].line)) == 0)
                        return (VmmLogEvent) { .type = VMM_LOG_PHASE, .phase = phase_lines[i].phase };
        return (VmmLogEvent) { .type = VMM_LOG_NONE };
}

static int libvirt_build_argv(const VmmBackend *b, const char *binary, const VmConfig *c, char ***ret) {
        return -EOPNOTSUPP; /* libvirtd builds QEMU's command line from the domain XML */
}

/* kvm_pvm refuses IA32_ARCH_CAPABILITIES, which host-passthrough passes on. */
static const char *libvirt_default_cpu_model(const HostInfo *h, Accel accel) {
        if (accel == ACCEL_KVM && h->kvm == KVM_FLAVOUR_PVM)
                return "host,-arch-capabilities";
        return accel == ACCEL_KVM ? "host" : NULL;
}

static const char *libvirt_caveat(const HostInfo *h, Accel accel) {
        if (accel == ACCEL_KVM && h->kvm == KVM_FLAVOUR_PVM)
                return "through libvirt: QEMU runs as libvirtd's qemu user (its own gpa2hpa sees no PFNs; virtlabd's "
                       "pagemap read still gives the HPA); q35 boots through SeaBIOS, which kvm_pvm emulates "
                       "instruction by instruction";
        return "through libvirt: QEMU runs as libvirtd's qemu user (its own gpa2hpa sees no PFNs; virtlabd's pagemap "
               "read still gives the HPA); domain create and destroy are synchronous libvirt calls";
}

const VmmBackend vmm_backend_libvirt = {
        .name = "libvirt",
        .description = "QEMU q35 through libvirt (transient domain; console stream; QMP via virDomainQemuMonitorCommand)",
        .product = "QEMU",
        .binary = "qemu-system-x86_64",
        .binary_env = "VIRTLAB_QEMU",
        .version_argv = libvirt_version_argv,
        .version_prefix = "QEMU emulator version ",
        .kernel_formats = libvirt_kernel_formats,
        .runner = VMM_RUNNER_LIBVIRT,
        .caps = { .has_tcg = true, .has_hmp = true, .has_pci = true, .has_firmware = true, .has_cpu_model = true,
                  .devices = 1U << VM_DEVICE_EDU, .footprint_mib = 48 },
        .build_argv = libvirt_build_argv,
        .parse_log_line = libvirt_parse_log_line,
        .default_cpu_model = libvirt_default_cpu_model,
        .caveat = libvirt_caveat,
};
