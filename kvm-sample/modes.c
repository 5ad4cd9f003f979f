/* modes.c — puts vCPU 0 into the CPU mode its guest program was written for.
 *
 * KVM_SET_SREGS loads the segment registers' hidden parts (base, limit,
 * attributes) directly, so the guest runs no mode-switch code of its own.
 * The VMM still writes a matching GDT, because that is what a guest reloading
 * a segment would read, and page tables, because the MMU (and KVM_TRANSLATE,
 * and walk.c) translate through them. */
#include "layout.h"
#include "vmm.h"

#include <sys/ioctl.h>

#define CR0_PE (1ULL << 0)  /* protection enable */
#define CR0_ET (1ULL << 4)  /* always 1 on anything newer than a 386 */
#define CR0_PG (1ULL << 31) /* paging */
#define CR4_PAE (1ULL << 5) /* 64-bit page-table entries; required by long mode */
#define EFER_LME (1ULL << 8)  /* long mode enable … */
#define EFER_LMA (1ULL << 10) /* … and active: set together since no guest code switches */

#define PTE_P (1ULL << 0)  /* present */
#define PTE_RW (1ULL << 1) /* writable */
#define PTE_PS (1ULL << 7) /* this entry maps a large page instead of a table */

#define PAGE_SIZE UINT64_C(4096)
#define PT_INDEX(gva, level) (((gva) >> (12 + 9 * ((level) - 1))) & 511)

static const char *const vm_mode_table[_VM_MODE_MAX] = {
        [VM_MODE_REAL] = "real",
        [VM_MODE_PROTECTED] = "protected",
        [VM_MODE_PAGED] = "paged",
        [VM_MODE_LONG] = "long",
};

extern const uint8_t guest_real_start[], guest_real_end[];
extern const uint8_t guest_protected_start[], guest_protected_end[];
extern const uint8_t guest_long_start[], guest_long_end[];

const char *vm_mode_to_string(enum vm_mode m) {
        if (m < 0 || m >= _VM_MODE_MAX)
                return NULL;
        return vm_mode_table[m];
}

enum vm_mode vm_mode_from_string(const char *s) {
        for (int i = 0; i < _VM_MODE_MAX; i++)
                if (streq(vm_mode_table[i], s))
                        return i;
        return _VM_MODE_INVALID;
}

static int load_program(struct vm *vm, enum vm_mode mode, vmm_error *err) {
        const uint8_t *start, *end;

        switch (mode) {
        case VM_MODE_REAL:
                start = guest_real_start, end = guest_real_end;
                break;
        case VM_MODE_PROTECTED:
        case VM_MODE_PAGED:
                start = guest_protected_start, end = guest_protected_end;
                break;
        case VM_MODE_LONG:
                start = guest_long_start, end = guest_long_end;
                break;
        default:
                abort();
        }

        size_t size = (size_t) (end - start);
        uint8_t *dst = vm_gpa_to_hva(vm, CODE_GPA, size, NULL);
        if (!dst || size > STACK_TOP_GPA - PAGE_SIZE - CODE_GPA)
                return vmm_error_set(err, -E2BIG, "Guest program (%zu bytes) does not fit at GPA 0x%x", size, CODE_GPA);
        memcpy(dst, start, size);
        return 0;
}

/* A flat 4 GiB segment as KVM wants it in kvm_sregs. */
static struct kvm_segment segment_flat(uint16_t selector, uint8_t type, bool code64) {
        return (struct kvm_segment) {
                .base = 0,
                .limit = 0xffffffff,
                .selector = selector,
                .type = type,
                .present = 1,
                .s = 1, /* code/data, not a system segment */
                .db = !code64, /* 32-bit default operand size; must be 0 when L=1 */
                .l = code64,
                .g = 1, /* limit counts 4 KiB units */
        };
}

/* The same segment as the 8-byte descriptor the CPU would load from the GDT. */
static uint64_t segment_to_descriptor(const struct kvm_segment *s) {
        uint64_t limit = s->g ? s->limit >> 12 : s->limit;

        return (limit & 0xffff) | (uint64_t) (s->base & 0xffffff) << 16 | (uint64_t) (s->type & 0xf) << 40 |
               (uint64_t) s->s << 44 | (uint64_t) (s->dpl & 3) << 45 | (uint64_t) s->present << 47 |
               ((limit >> 16) & 0xf) << 48 | (uint64_t) s->avl << 52 | (uint64_t) s->l << 53 |
               (uint64_t) s->db << 54 | (uint64_t) s->g << 55 | ((s->base >> 24) & 0xff) << 56;
}

static void gdt_write(struct vm *vm, struct kvm_sregs *sregs) {
        const struct kvm_segment code32 = segment_flat(SEL_CODE32, 0xb, false); /* execute/read, accessed */
        const struct kvm_segment data = segment_flat(SEL_DATA, 0x3, false);     /* read/write, accessed */
        const struct kvm_segment code64 = segment_flat(SEL_CODE64, 0xb, true);
        uint64_t *gdt = vm_gpa_to_hva(vm, GDT_GPA, PAGE_SIZE, NULL);

        gdt[0] = 0; /* the null descriptor */
        gdt[SEL_CODE32 / 8] = segment_to_descriptor(&code32);
        gdt[SEL_DATA / 8] = segment_to_descriptor(&data);
        gdt[SEL_CODE64 / 8] = segment_to_descriptor(&code64);

        sregs->gdt.base = GDT_GPA;
        sregs->gdt.limit = 4 * 8 - 1;
        sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
}

static void setup_real(struct kvm_sregs *sregs) {
        /* The reset state is already real mode, but CS points at the BIOS
         * reset vector (0xffff0000); move it to 0 so IP = CODE_GPA. */
        sregs->cs.base = 0;
        sregs->cs.selector = 0;
}

static void setup_protected(struct vm *vm, struct kvm_sregs *sregs) {
        gdt_write(vm, sregs);
        sregs->cs = segment_flat(SEL_CODE32, 0xb, false);
        sregs->cr0 |= CR0_PE | CR0_ET;
}

/* 32-bit paging: one page directory entry → one page table of 1024 4 KiB
 * entries identity-mapping the first 4 MiB, which is all of guest memory. */
static void setup_paged(struct vm *vm, struct kvm_sregs *sregs) {
        uint32_t *pd = vm_gpa_to_hva(vm, PML4_GPA, PAGE_SIZE, NULL);
        uint32_t *pt = vm_gpa_to_hva(vm, PDPT_LO_GPA, PAGE_SIZE, NULL);

        setup_protected(vm, sregs);
        memset(pd, 0, PAGE_SIZE);
        pd[0] = PDPT_LO_GPA | PTE_P | PTE_RW;
        for (uint32_t i = 0; i < 1024; i++)
                pt[i] = i * (uint32_t) PAGE_SIZE | PTE_P | PTE_RW;

        sregs->cr3 = PML4_GPA;
        sregs->cr4 &= ~CR4_PAE;
        sregs->cr0 |= CR0_PG;
}

static uint64_t *table(struct vm *vm, uint64_t gpa) {
        uint64_t *t = vm_gpa_to_hva(vm, gpa, PAGE_SIZE, NULL);
        memset(t, 0, PAGE_SIZE);
        return t;
}

/* 4-level paging with three kinds of leaf:
 *   GVA 0 .. 2 MiB        → GPA 0          one 2 MiB page (code, stack, tables)
 *   GVA HUGE_GVA .. +1GiB → GPA 0          one 1 GiB page (if the CPU has them)
 *   GVA DATA_GVA          → GPA DATA_GPA   one 4 KiB page, through its own tables */
static void setup_long(struct vm *vm, struct kvm_sregs *sregs) {
        uint64_t *pml4 = table(vm, PML4_GPA), *pdpt_lo = table(vm, PDPT_LO_GPA), *pd_lo = table(vm, PD_LO_GPA);
        uint64_t *pdpt_hi = table(vm, PDPT_HI_GPA), *pd_hi = table(vm, PD_HI_GPA), *pt_hi = table(vm, PT_HI_GPA);

        _Static_assert(PT_INDEX((uint64_t) DATA_GVA, 4) != 0, "DATA_GVA must not share the identity map's PML4 entry");

        pml4[0] = PDPT_LO_GPA | PTE_P | PTE_RW;
        pdpt_lo[0] = PD_LO_GPA | PTE_P | PTE_RW;
        pd_lo[0] = 0 | PTE_P | PTE_RW | PTE_PS;
        if (vm->has_1g_pages)
                pdpt_lo[PT_INDEX(HUGE_GVA, 3)] = 0 | PTE_P | PTE_RW | PTE_PS;

        pml4[PT_INDEX((uint64_t) DATA_GVA, 4)] = PDPT_HI_GPA | PTE_P | PTE_RW;
        pdpt_hi[PT_INDEX((uint64_t) DATA_GVA, 3)] = PD_HI_GPA | PTE_P | PTE_RW;
        pd_hi[PT_INDEX((uint64_t) DATA_GVA, 2)] = PT_HI_GPA | PTE_P | PTE_RW;
        pt_hi[PT_INDEX((uint64_t) DATA_GVA, 1)] = DATA_GPA | PTE_P | PTE_RW;

        gdt_write(vm, sregs);
        sregs->cs = segment_flat(SEL_CODE64, 0xb, true);
        sregs->cr3 = PML4_GPA;
        sregs->cr4 |= CR4_PAE;
        sregs->cr0 |= CR0_PE | CR0_ET | CR0_PG;
        sregs->efer |= EFER_LME | EFER_LMA;
}

/* Some KVMs (kvm_pvm, for one) accept KVM_SET_SREGS but quietly drop control
 * register bits they cannot virtualize, e.g. CR0.PG outside long mode; the
 * guest then faults on its first instruction.  Reading the state back turns
 * that into a clear refusal instead. */
static int sregs_check(struct vm *vm, const struct kvm_sregs *want, vmm_error *err) {
        struct kvm_sregs got;

        if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &got) < 0)
                return vmm_error_set(err, -errno, "KVM_GET_SREGS: %m");

        const struct {
                const char *name;
                uint64_t want, got;
        } regs[] = {
                { "CR0", want->cr0, got.cr0 },
                { "CR3", want->cr3, got.cr3 },
                { "CR4", want->cr4, got.cr4 },
                { "EFER", want->efer, got.efer },
        };
        for (size_t i = 0; i < ELEMENTSOF(regs); i++) {
                uint64_t dropped = regs[i].want & ~regs[i].got;

                if (regs[i].want == regs[i].got)
                        continue;
                return vmm_error_refused(err, -EOPNOTSUPP,
                                         "KVM_SET_SREGS accepted %s=0x%" PRIx64 " but the vCPU reads back 0x%" PRIx64
                                         " (bits 0x%" PRIx64 " dropped%s)",
                                         regs[i].name, regs[i].want, regs[i].got, dropped,
                                         i == 0 && (dropped & CR0_PG) ? ": CR0.PG, this KVM cannot run paging outside long mode" : "");
        }
        return 0;
}

int mode_setup(struct vm *vm, enum vm_mode mode, vmm_error *err) {
        struct kvm_sregs sregs;
        int r;

        if (!vm_gpa_to_hva(vm, 0, STACK_TOP_GPA, NULL) || !vm_gpa_to_hva(vm, DATA_GPA, PAGE_SIZE, NULL))
                return vmm_error_set(err, -EINVAL, "Guest memory does not cover the layout in layout.h");

        r = load_program(vm, mode, err);
        if (r < 0)
                return r;

        if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
                return vmm_error_set(err, -errno, "KVM_GET_SREGS: %m");

        switch (mode) {
        case VM_MODE_REAL:
                setup_real(&sregs);
                break;
        case VM_MODE_PROTECTED:
                setup_protected(vm, &sregs);
                break;
        case VM_MODE_PAGED:
                setup_paged(vm, &sregs);
                break;
        case VM_MODE_LONG:
                setup_long(vm, &sregs);
                break;
        default:
                abort();
        }

        /* KVM validates CR0/CR4/EFER/CR3 here: the first place a host that
         * cannot run this mode may say no. */
        if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
                return vmm_error_refused(err, -errno, "KVM_SET_SREGS (cr0=0x%llx cr4=0x%llx efer=0x%llx): %m",
                                         sregs.cr0, sregs.cr4, sregs.efer);
        r = sregs_check(vm, &sregs, err);
        if (r < 0)
                return r;

        struct kvm_regs regs = {
                .rip = CODE_GPA,
                .rsp = STACK_TOP_GPA,
                .rflags = 0x2, /* bit 1 is reserved and must be 1; IF=0: no interrupts */
        };
        if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
                return vmm_error_set(err, -errno, "KVM_SET_REGS: %m");
        return 0;
}
