/* backend.h — the VMM backend seam.  A backend owns everything about one
 * VMM: how its binary is found and versioned, the argv for a VmConfig, the
 * kernel format it boots, its QMP dialect, what it can do (capabilities, the
 * devices it can render), what its own log lines mean, and its caveats on
 * this host.  Nothing outside daemon/backends/ knows a VMM by name.
 * Adding a VMM is adding one file here and one line in registry.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "host.h"
#include "qmp-client.h"
#include "strv.h"
#include "util.h"

typedef enum KernelFormat {
        KERNEL_FORMAT_PVH,     /* ELF with a PVH note (QEMU -kernel; image.json "vmlinux") */
        KERNEL_FORMAT_BZIMAGE, /* x86 boot protocol image (image.json "bzimage") */
        KERNEL_FORMAT_RAW,     /* flat binary entered in 64-bit mode at 16 MiB (image.json "raw") */
        _KERNEL_FORMAT_MAX,
        _KERNEL_FORMAT_INVALID = -EINVAL,
} KernelFormat;

const char *kernel_format_to_string(KernelFormat f); /* the image.json key */
KernelFormat kernel_format_from_string(const char *s);

/* Devices an experiment asks for, abstractly; the backend renders them. */
typedef enum VmDeviceKind {
        VM_DEVICE_EDU,          /* QEMU's educational PCI device */
        _VM_DEVICE_KIND_MAX,
        _VM_DEVICE_KIND_INVALID = -EINVAL,
} VmDeviceKind;

const char *vm_device_kind_to_string(VmDeviceKind k);
VmDeviceKind vm_device_kind_from_string(const char *s);

typedef struct VmDevice {
        VmDeviceKind kind;      /* what */
        uint64_t dma_mask;      /* edu: the DMA mask it advertises, 0 = the device's default */
} VmDevice;

typedef enum DiskFormat {
        DISK_FORMAT_RAW,        /* the bytes are the disk */
        DISK_FORMAT_QCOW2,      /* QEMU copy-on-write image */
        _DISK_FORMAT_MAX,
        _DISK_FORMAT_INVALID = -EINVAL,
} DiskFormat;

const char *disk_format_to_string(DiskFormat f);
DiskFormat disk_format_from_string(const char *s);

typedef struct VmDisk {
        const char *path;       /* image file or block device (the daemon's own); NULL: fd */
        int fd;                 /* without path: the caller's open disk, inherited by the VMM */
        DiskFormat format;      /* raw (the default) or qcow2 */
        bool read_only;         /* attach read-only */
        bool direct;            /* bypass the host page cache (QEMU cache=none, StratoVirt direct=on) */
        bool snapshot;          /* the VMM discards the guest's writes (QEMU snapshot=on); needs caps.has_snapshot */
} VmDisk;

typedef struct VmConfig {
        const char *kernel;     /* path, in one of the backend's kernel_formats */
        const char *initrd;     /* path or NULL */
        const char *cmdline;    /* full kernel command line */
        unsigned memory_mib;    /* guest RAM */
        unsigned vcpus;         /* guest CPUs */
        Accel accel;            /* resolved: ACCEL_KVM or ACCEL_TCG */
        const char *cpu_model;  /* guest CPU model, NULL = the backend's default */
        int qmp_fd;             /* connected socket end passed to the VMM, or -EBADF */
        const char *qmp_path;   /* unix socket path when the VMM cannot take an fd */
        int serial_fd;          /* connected socket end for the serial console, or -EBADF */
        const char *serial_path; /* unix socket path when it cannot take an fd */
        const char *log_path;   /* file for the VMM's own log, or NULL */
        const VmDevice *devices; /* extra devices, rendered by the backend */
        size_t n_devices;       /* entries in devices */
        const VmDisk *disks;    /* virtio-blk disks, rendered by the backend */
        size_t n_disks;         /* entries in disks */
} VmConfig;

/* What a VMM can do; experiments ask these, never names. */
typedef struct VmmCapabilities {
        bool has_tcg;           /* can run without KVM */
        bool has_hmp;           /* human-monitor-command knows gpa2hva, info mtree, xp, … */
        bool has_pci;           /* a PCI bus for PCI devices */
        bool has_firmware;      /* boots through firmware (SeaBIOS) before the kernel */
        bool has_cpu_model;     /* accepts a guest CPU model */
        bool takes_fds;         /* QMP and serial can be inherited fds (else unix paths) */
        bool writes_log;        /* writes its own log file (VmConfig.log_path) */
        bool has_snapshot;      /* discards a disk's writes itself (VmDisk.snapshot); else a run copies the disk */
        bool console_input;     /* its serial console takes input (a socket), not only output (a file) */
        unsigned devices;       /* bit (1 << VmDeviceKind) per device it can render */
        unsigned min_memory_mib; /* smallest guest RAM it accepts, 0 = no limit of its own */
        /* Its own memory per VM beyond guest RAM under KVM, rounded up from
         * what we measured (README): how many VMs fit.  0 = unknown. */
        unsigned footprint_mib;
} VmmCapabilities;

/* What a line of the VMM's own log (or stderr) means. */
typedef enum VmmLogEventType {
        VMM_LOG_NONE,           /* nothing we act on */
        VMM_LOG_PHASE,          /* a boot phase the VMM timestamps itself: phase names it */
        VMM_LOG_FATAL,          /* the guest cannot go on (KVM error): fail the run now */
} VmmLogEventType;

typedef struct VmmLogEvent {
        VmmLogEventType type;   /* what */
        const char *phase;      /* VMM_LOG_PHASE: sample field stem, e.g. "port_boot_start" */
} VmmLogEvent;

/* What runs the VMM (the VM-driver seam, vm-driver.h). */
typedef enum VmmRunner {
        VMM_RUNNER_PROCESS,     /* virtlabd forks it (build_argv) */
        VMM_RUNNER_LIBVIRT,     /* libvirtd starts it as a transient domain */
} VmmRunner;

typedef struct VmmBackend {
        const char *name;           /* as users type it: --vmm NAME */
        const char *description;    /* one line for Describe() */
        const char *product;        /* what the binary is ("QEMU"): named when a binary is not it */
        const char *binary;         /* executable searched in PATH */
        const char *binary_env;     /* environment variable that overrides the path */
        const char *const *version_argv; /* arguments that print the version, e.g. {"--version", NULL} */
        const char *version_prefix; /* the version line starts with this, or the binary is not this VMM */
        const KernelFormat *kernel_formats; /* what -kernel takes, preferred first, ended by _KERNEL_FORMAT_INVALID */
        QmpClientFlags qmp_flags;   /* dialect quirks */
        VmmCapabilities caps;       /* what it can do */
        const char *const *env;     /* "NAME=value" set for the VMM process, NULL-terminated, may be NULL */
        VmmRunner runner;           /* what starts it: virtlabd (default) or libvirtd */
        /* Builds the argv (NULL-terminated strv owned by the caller).  -EINVAL
         * for a value its syntax cannot carry; -EOPNOTSUPP for what it cannot do. */
        int (*build_argv)(const struct VmmBackend *b, const char *binary, const VmConfig *c, char ***ret);
        /* Optional: what a line of its own log or stderr means. */
        VmmLogEvent (*parse_log_line)(const char *line);
        /* Optional: the guest CPU model on this host when the experiment asks
         * for none (NULL: the backend's built-in default). */
        const char *(*default_cpu_model)(const HostInfo *h, Accel accel);
        /* Optional: a sentence for the result when this VMM runs with accel
         * on host (e.g. a firmware stage emulated slowly), NULL if none. */
        const char *(*caveat)(const HostInfo *h, Accel accel);
} VmmBackend;

/* Why a spec cannot run on a backend: NULL if it can, else a sentence
 * (static or in buf) naming the VMM and what it lacks. */
const char *vmm_refuse_devices(const VmmBackend *b, const VmDevice *d, size_t n, char *buf, size_t size);
