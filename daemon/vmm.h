/* vmm.h — the VMM backend seam.  A backend finds and versions its binary,
 * turns a VmConfig into argv, and names its QMP dialect and abilities.
 * Adding a VMM is adding one backend-*.c file and one line in vmm.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "host.h"
#include "qmp-client.h"

typedef enum KernelFormat {
        KERNEL_FORMAT_VMLINUX, /* ELF with a PVH note (QEMU -kernel, fastest under TCG) */
        KERNEL_FORMAT_BZIMAGE, /* x86 boot protocol image */
        KERNEL_FORMAT_RAW,     /* objcopy -O binary flat image (StratoVirt microvm) */
} KernelFormat;

typedef struct VmDisk {
        const char *path;   /* raw image file or block device */
        bool read_only;     /* attach read-only */
        bool direct;        /* bypass the host page cache (QEMU cache=none, StratoVirt direct=on) */
} VmDisk;

typedef struct VmConfig {
        const char *kernel;  /* path, in the backend's kernel_format */
        const char *initrd;  /* path or NULL */
        const char *cmdline; /* full kernel command line */
        unsigned memory_mib; /* guest RAM */
        unsigned vcpus;      /* guest CPUs */
        Accel accel;         /* resolved: ACCEL_KVM or ACCEL_TCG */
        int qmp_fd;          /* connected socket end passed to the VMM, or -EBADF */
        const char *qmp_path; /* unix socket path when the VMM cannot take an fd */
        int serial_fd;       /* connected socket end for the serial console, or -EBADF */
        const char *serial_path; /* unix socket path when it cannot take an fd */
        const char *log_path;    /* file for the VMM's own log (StratoVirt -D), or NULL */
        char *const *extra_argv; /* appended as given (devices from the experiment), may be NULL */
        const VmDisk *disks;  /* virtio-blk disks, rendered by the backend in its own syntax */
        size_t n_disks;       /* entries in disks */
} VmConfig;

typedef struct VmmBackend {
        const char *name;           /* "qemu", "qemu-microvm", ... as users type it */
        const char *description;    /* one line for Describe() */
        const char *binary;         /* executable searched in PATH */
        const char *binary_env;     /* environment variable that overrides the path */
        KernelFormat kernel_format; /* what -kernel wants */
        QmpClientFlags qmp_flags;   /* dialect quirks */
        bool takes_fds;             /* QMP and serial can be inherited fds (else unix paths) */
        bool has_hmp;               /* human-monitor-command works (gpa2hva, info mtree) */
        bool needs_kvm;             /* no TCG: runs only with ACCEL_KVM */
        unsigned min_memory_mib;    /* smallest -m it accepts, 0 = no limit of its own */
        const char *const *env;     /* "NAME=value" set for the VMM process, NULL-terminated, may be NULL */
        /* Builds the argv (NULL-terminated, strv owned by caller). */
        int (*build_argv)(const struct VmmBackend *b, const char *binary, const VmConfig *c, char ***ret);
} VmmBackend;

typedef struct VmmInfo {
        char *path;    /* absolute path of the binary, NULL if missing */
        char *version; /* first line of --version, NULL if unknown */
        char *error;   /* why it is unusable, NULL if usable */
} VmmInfo;

const VmmBackend *vmm_backend_find(const char *name);
/* NULL-terminated list of all backends, for Describe() and error messages. */
const VmmBackend *const *vmm_backends(void);
/* Finds the binary ($binary_env, then PATH) and its version; never fails:
 * ret->error says why a backend is unusable. */
void vmm_probe(const VmmBackend *b, VmmInfo *ret);
void vmm_info_done(VmmInfo *i);
json_t *vmm_info_to_json(const VmmBackend *b, const VmmInfo *i);

/* Small string-vector helpers the backends use. */
int strv_push(char ***v, size_t *n, const char *s);
int strv_pushf(char ***v, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
char **strv_free(char **v);
json_t *strv_to_json(char *const *v);
