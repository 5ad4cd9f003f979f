/* registry.h — finding backends by name. */
#pragma once

#include "backends/backend.h"

const VmmBackend *vmm_backend_find(const char *name);
/* NULL-terminated list of every backend, in Describe() order. */
const VmmBackend *const *vmm_backends(void);
/* "qemu, qemu-microvm, …" for error messages. */
void vmm_backend_names(char *buf, size_t size);
/* "edu, …": the device kinds experiments may ask for. */
void vm_device_kind_names(char *buf, size_t size);
