/* vmm.h — how the pieces of kvm-sample fit together:
 *   vm.c     owns /dev/kvm, the VM, its one vCPU and the guest memory slots;
 *   modes.c  loads the guest program and puts the vCPU in real, protected or
 *            long mode (GDT, page tables, control registers);
 *   run.c    is the trap-and-emulate loop (KVM_RUN → exit → emulate → again);
 *   walk.c   walks the guest page tables by hand: GVA → GPA → HVA → HPA;
 *   vmm.c    parses the command line and prints the result as text or JSON. */
#pragma once

#include <inttypes.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <stdio.h>

#include "util.h"

/* A failure description, written once by the function that failed and
 * printed once by main (the sd_bus_error pattern). */
typedef struct vmm_error {
        char message[512]; /* names the failed step and the offending value */
        bool refused;      /* the host KVM refused the CPU mode; not a guest bug */
} vmm_error;

/* Formats the message; returns r (a negative errno) so callers can
 * `return vmm_error_set(err, -errno, "...")`. */
int vmm_error_set(vmm_error *e, int r, const char *fmt, ...) _printf_(3, 4);
/* Same, and marks the failure as the host refusing the requested mode. */
int vmm_error_refused(vmm_error *e, int r, const char *fmt, ...) _printf_(3, 4);

enum vm_mode {
        VM_MODE_REAL,      /* 16-bit real mode, the state a vCPU starts in */
        VM_MODE_PROTECTED, /* 32-bit, flat segments, no paging */
        VM_MODE_PAGED,     /* 32-bit, flat segments, 2-level 32-bit paging */
        VM_MODE_LONG,      /* 64-bit, 4-level paging */
        _VM_MODE_MAX,
        _VM_MODE_INVALID = -EINVAL,
};
const char *vm_mode_to_string(enum vm_mode m);
enum vm_mode vm_mode_from_string(const char *s);

#define VM_SLOTS_MAX 4

/* One KVM_SET_USER_MEMORY_REGION: guest-physical range backed by our mmap. */
struct memslot {
        uint32_t slot; /* KVM slot number */
        uint64_t gpa;  /* first guest-physical address */
        uint64_t size; /* bytes */
        uint8_t *hva;  /* where it lives in this process */
};

struct vm {
        int kvm_fd;                           /* /dev/kvm: system ioctls */
        int vm_fd;                            /* KVM_CREATE_VM: VM ioctls */
        int vcpu_fd;                          /* KVM_CREATE_VCPU: vCPU ioctls */
        struct kvm_run *run;                  /* shared exit info, mmap of vcpu_fd */
        size_t run_size;                      /* KVM_GET_VCPU_MMAP_SIZE */
        struct memslot slots[VM_SLOTS_MAX];   /* our copy of the memslot table */
        unsigned n_slots;
        bool has_1g_pages;                    /* guest CPUID advertises PDPE1GB */
};

/* Opens /dev/kvm, checks the API version, creates the VM and vCPU 0, and
 * gives the vCPU the host-supported CPUID. */
int vm_new(struct vm **ret, vmm_error *err);
/* Accepts NULL and half-built VMs; returns NULL. */
struct vm *vm_free(struct vm *vm);
static inline void vm_freep(struct vm **p) {
        (void) vm_free(*p);
}
/* Maps size bytes of anonymous memory and registers it at gpa as a new slot. */
int vm_add_memory(struct vm *vm, uint64_t gpa, uint64_t size, vmm_error *err);
/* Returns the host address of [gpa, gpa+len) if one slot covers all of it,
 * else NULL.  ret_slot (may be NULL) gets the slot. */
void *vm_gpa_to_hva(const struct vm *vm, uint64_t gpa, uint64_t len, const struct memslot **ret_slot);

/* Copies the mode's guest program to CODE_GPA and sets up GDT, page tables,
 * segment/control registers and RIP for it. */
int mode_setup(struct vm *vm, enum vm_mode mode, vmm_error *err);

#define EXIT_REASONS_MAX 64
#define OUTPUT_MAX 4096

struct run_opts {
        uint16_t port;      /* where our serial port lives (the guest uses SERIAL_PORT) */
        bool upper;         /* emulate a serial port that upper-cases */
        bool trace;         /* one stderr line per exit */
        unsigned timeout_s; /* give up on a guest that never halts */
};

struct run_result {
        char output[OUTPUT_MAX + 1];        /* bytes the guest wrote to SERIAL_PORT */
        size_t output_len;
        uint64_t exits[EXIT_REASONS_MAX];   /* count per KVM_EXIT_* reason */
        uint64_t n_exits;
};

/* "IO", "HLT", … or "UNKNOWN_<n>" (static buffer) for reasons we do not know. */
const char *exit_reason_to_string(uint32_t reason);
/* Runs the vCPU until the guest halts (0) or something else happens (<0). */
int vm_run(struct vm *vm, const struct run_opts *opts, struct run_result *res, vmm_error *err);
/* The per-reason exit counts as a small bar chart. */
void run_print_histogram(const struct run_result *res, FILE *f);

#define WALK_LEVELS_MAX 4

struct walk_level {
        const char *name;   /* "PML4", "PDPT", "PD", "PT" */
        uint64_t table_gpa; /* where this level's table is */
        unsigned index;     /* which of its 512 entries the GVA selects */
        uint64_t entry;     /* the entry's value */
        bool leaf;          /* the entry maps a page (PS set, or PT level) */
};

struct walk {
        uint64_t gva, cr3;
        struct walk_level levels[WALK_LEVELS_MAX];
        unsigned n_levels;
        const char *stop;          /* why the walk failed, NULL if it reached a page */
        uint64_t page_size;        /* 4 KiB, 2 MiB or 1 GiB leaf */
        uint64_t gpa;

        bool kvm_valid;            /* KVM_TRANSLATE's answer */
        char kvm_note[96];         /* why KVM_TRANSLATE could not answer */
        uint64_t kvm_gpa;
        bool match;                /* our walk and KVM's agree */

        struct memslot slot;       /* GPA → HVA: a copy, the walk outlives the VM */
        uint64_t hva;

        uint64_t pagemap;          /* raw /proc/self/pagemap entry */
        uint64_t hpa;              /* 0 if unknown */
        char hpa_note[160];        /* why the HPA is unknown */

        bool value_ok;             /* the 32-bit value at the HVA */
        uint32_t value;
        bool devmem_ok;            /* the same value read at the HPA via /dev/mem */
        uint32_t devmem_value;
        char devmem_note[160];     /* why /dev/mem could not be read */
};

/* Walks the long-mode page tables for gva, then cross-checks and follows the
 * result down to host memory.  An unmapped gva is a result (stop != NULL),
 * not an error. */
int walk_gva(struct vm *vm, uint64_t gva, struct walk *ret, vmm_error *err);
void walk_print(const struct walk *w, FILE *f);
json_t *walk_to_json(const struct walk *w);
