/* vm.c — the KVM objects: /dev/kvm → VM → one vCPU with its kvm_run page,
 * plus the guest memory slots and our own copy of the slot table (KVM has no
 * "GPA → HVA" ioctl, so walk.c looks addresses up here). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "vmm.h"

#define CPUID_ENTRIES_MAX 256
#define CPUID_EXT_FEATURES 0x80000001
#define CPUID_EDX_PDPE1GB (1u << 26)

static int vmm_error_vset(vmm_error *e, bool refused, int r, const char *fmt, va_list ap) {
        int saved = errno;
        char msg[sizeof(e->message)];

        /* %m in fmt refers to r, not to whatever errno is now. */
        errno = r < 0 ? -r : r;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
#pragma GCC diagnostic pop
        errno = saved;
        memcpy(e->message, msg, sizeof(msg));
        e->refused = refused;
        return r;
}

int vmm_error_set(vmm_error *e, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        r = vmm_error_vset(e, false, r, fmt, ap);
        va_end(ap);
        return r;
}

int vmm_error_refused(vmm_error *e, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        r = vmm_error_vset(e, true, r, fmt, ap);
        va_end(ap);
        return r;
}

static int kvm_open(struct vm *vm, vmm_error *err) {
        vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (vm->kvm_fd < 0) {
                if (errno == ENOENT)
                        return vmm_error_set(err, -errno,
                                             "/dev/kvm: %m (no KVM here: is the kvm module loaded, or is this a VM without nested virtualization?)");
                if (errno == EACCES || errno == EPERM)
                        return vmm_error_set(err, -errno, "/dev/kvm: %m (run as root or join group 'kvm')");
                return vmm_error_set(err, -errno, "/dev/kvm: %m");
        }

        int version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
        if (version < 0)
                return vmm_error_set(err, -errno, "KVM_GET_API_VERSION: %m");
        /* 12 is the only stable KVM API there has ever been. */
        if (version != KVM_API_VERSION)
                return vmm_error_set(err, -ENOTSUP, "KVM_GET_API_VERSION returned %d, this program speaks %d",
                                     version, KVM_API_VERSION);
        return 0;
}

static int vcpu_create(struct vm *vm, vmm_error *err) {
        vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
        if (vm->vcpu_fd < 0)
                return vmm_error_set(err, -errno, "KVM_CREATE_VCPU: %m");

        int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (size < (int) sizeof(struct kvm_run))
                return vmm_error_set(err, size < 0 ? -errno : -EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %m");

        /* The kvm_run page is how KVM tells us why the guest exited, and where
         * the data of an I/O exit is. */
        void *p = mmap(NULL, (size_t) size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
        if (p == MAP_FAILED)
                return vmm_error_set(err, -errno, "mmap(kvm_run): %m");
        vm->run = p;
        vm->run_size = (size_t) size;
        return 0;
}

/* Without KVM_SET_CPUID2 the guest sees an empty CPUID: no long mode bit, a
 * 36-bit MAXPHYADDR, no 1 GiB pages.  Give it everything the host offers. */
static int vcpu_set_cpuid(struct vm *vm, vmm_error *err) {
        _cleanup_free_ struct kvm_cpuid2 *cpuid = NULL;

        cpuid = calloc(1, sizeof(*cpuid) + CPUID_ENTRIES_MAX * sizeof(cpuid->entries[0]));
        if (!cpuid)
                return vmm_error_set(err, -ENOMEM, "Out of memory");
        cpuid->nent = CPUID_ENTRIES_MAX;

        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0)
                return vmm_error_set(err, -errno, "KVM_GET_SUPPORTED_CPUID: %m");
        if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0)
                return vmm_error_set(err, -errno, "KVM_SET_CPUID2: %m");

        for (uint32_t i = 0; i < cpuid->nent; i++)
                if (cpuid->entries[i].function == CPUID_EXT_FEATURES)
                        vm->has_1g_pages = cpuid->entries[i].edx & CPUID_EDX_PDPE1GB;
        return 0;
}

int vm_new(struct vm **ret, vmm_error *err) {
        _cleanup_(vm_freep) struct vm *vm = NULL;
        int r;

        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return vmm_error_set(err, -ENOMEM, "Out of memory");
        vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -EBADF;

        r = kvm_open(vm, err);
        if (r < 0)
                return r;

        vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
        if (vm->vm_fd < 0)
                return vmm_error_set(err, -errno, "KVM_CREATE_VM: %m%s",
                                     errno == EINVAL ? " (VM type 0 not supported by this KVM)" : "");

        r = vcpu_create(vm, err);
        if (r < 0)
                return r;
        r = vcpu_set_cpuid(vm, err);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(vm);
        return 0;
}

struct vm *vm_free(struct vm *vm) {
        if (!vm)
                return NULL;
        if (vm->run)
                (void) munmap(vm->run, vm->run_size);
        for (unsigned i = 0; i < vm->n_slots; i++)
                (void) munmap(vm->slots[i].hva, vm->slots[i].size);
        (void) safe_close(vm->vcpu_fd);
        (void) safe_close(vm->vm_fd);
        (void) safe_close(vm->kvm_fd);
        free(vm);
        return NULL;
}

int vm_add_memory(struct vm *vm, uint64_t gpa, uint64_t size, vmm_error *err) {
        if (vm->n_slots >= VM_SLOTS_MAX)
                return vmm_error_set(err, -E2BIG, "Too many memory slots (max %d)", VM_SLOTS_MAX);

        void *hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (hva == MAP_FAILED)
                return vmm_error_set(err, -errno, "mmap(%" PRIu64 " bytes of guest memory): %m", size);

        struct kvm_userspace_memory_region region = {
                .slot = vm->n_slots,
                .guest_phys_addr = gpa,
                .memory_size = size,
                .userspace_addr = (uint64_t) (uintptr_t) hva,
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
                int r = -errno;
                (void) munmap(hva, size);
                return vmm_error_set(err, r, "KVM_SET_USER_MEMORY_REGION(GPA 0x%" PRIx64 ", %" PRIu64 " bytes): %m",
                                     gpa, size);
        }

        vm->slots[vm->n_slots++] = (struct memslot) {
                .slot = region.slot,
                .gpa = gpa,
                .size = size,
                .hva = hva,
        };
        return 0;
}

void *vm_gpa_to_hva(const struct vm *vm, uint64_t gpa, uint64_t len, const struct memslot **ret_slot) {
        for (unsigned i = 0; i < vm->n_slots; i++) {
                const struct memslot *s = &vm->slots[i];

                if (gpa < s->gpa || gpa - s->gpa >= s->size || len > s->size - (gpa - s->gpa))
                        continue;
                if (ret_slot)
                        *ret_slot = s;
                return s->hva + (gpa - s->gpa);
        }
        return NULL;
}
