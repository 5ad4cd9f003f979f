/* registry.c — the list of VMM backends and the few helpers every backend
 * shares (names of formats and devices, device refusal). */
#include <stdio.h>

#include "backends/backend.h"
#include "backends/registry.h"

extern const VmmBackend vmm_backend_qemu;
extern const VmmBackend vmm_backend_qemu_microvm;
extern const VmmBackend vmm_backend_stratovirt;
extern const VmmBackend vmm_backend_libvirt;

static const VmmBackend *const backends[] = {
        &vmm_backend_qemu,
        &vmm_backend_qemu_microvm,
        &vmm_backend_stratovirt,
        &vmm_backend_libvirt,
        NULL,
};

const VmmBackend *const *vmm_backends(void) {
        return backends;
}

const VmmBackend *vmm_backend_find(const char *name) {
        for (size_t i = 0; backends[i]; i++)
                if (name && streq(backends[i]->name, name))
                        return backends[i];
        return NULL;
}

void vmm_backend_names(char *buf, size_t size) {
        const char *names[ELEMENTSOF(backends)] = {};
        for (size_t i = 0; backends[i]; i++)
                names[i] = backends[i]->name;
        strv_join(names, ", ", buf, size);
}

static const char *const kernel_format_table[_KERNEL_FORMAT_MAX] = {
        [KERNEL_FORMAT_PVH] = "vmlinux",
        [KERNEL_FORMAT_BZIMAGE] = "bzimage",
        [KERNEL_FORMAT_RAW] = "raw",
};

const char *kernel_format_to_string(KernelFormat f) {
        return f >= 0 && f < _KERNEL_FORMAT_MAX ? kernel_format_table[f] : NULL;
}

KernelFormat kernel_format_from_string(const char *s) {
        for (int i = 0; i < _KERNEL_FORMAT_MAX; i++)
                if (s && streq(s, kernel_format_table[i]))
                        return (KernelFormat) i;
        return _KERNEL_FORMAT_INVALID;
}

static const char *const disk_format_table[_DISK_FORMAT_MAX] = {
        [DISK_FORMAT_RAW] = "raw",
        [DISK_FORMAT_QCOW2] = "qcow2",
};

const char *disk_format_to_string(DiskFormat f) {
        return f >= 0 && f < _DISK_FORMAT_MAX ? disk_format_table[f] : NULL;
}

DiskFormat disk_format_from_string(const char *s) {
        for (int i = 0; i < _DISK_FORMAT_MAX; i++)
                if (s && streq(s, disk_format_table[i]))
                        return (DiskFormat) i;
        return _DISK_FORMAT_INVALID;
}

static const char *const device_kind_table[_VM_DEVICE_KIND_MAX + 1] = {
        [VM_DEVICE_EDU] = "edu",
};

const char *vm_device_kind_to_string(VmDeviceKind k) {
        return k >= 0 && k < _VM_DEVICE_KIND_MAX ? device_kind_table[k] : NULL;
}

VmDeviceKind vm_device_kind_from_string(const char *s) {
        for (int i = 0; i < _VM_DEVICE_KIND_MAX; i++)
                if (s && streq(s, device_kind_table[i]))
                        return (VmDeviceKind) i;
        return _VM_DEVICE_KIND_INVALID;
}

void vm_device_kind_names(char *buf, size_t size) {
        strv_join((const char *const *) device_kind_table, ", ", buf, size);
}

const char *vmm_refuse_devices(const VmmBackend *b, const VmDevice *d, size_t n, char *buf, size_t size) {
        for (size_t i = 0; i < n; i++)
                if (!(b->caps.devices & (1U << d[i].kind))) {
                        snprintf(buf, size, "VMM '%s' cannot provide the %s device%s", b->name,
                                 vm_device_kind_to_string(d[i].kind),
                                 b->caps.has_pci ? "" : " (it has no PCI bus)");
                        return buf;
                }
        return NULL;
}
