// SPDX-License-Identifier: GPL-2.0
/* virtlab_ptdump.c — guest side of the memory-virtualization lab (GVA→GPA).
 *
 * On load: kmallocs one page, stores 1772334 in its first 8 bytes (the
 * handout's value) and makes /proc/virtlab_ptdump.  Reading that file walks
 * the page tables of the current CR3 for the target address (the page, or
 * whatever address was written to the file in hex) the way the MMU does:
 * PML5 (only when LA57 is on), PML4, PDPT, PD, PT, stopping at a 1 GiB,
 * 2 MiB or 4 KiB leaf.  One "key=value" line per fact, prefixed "ptdump",
 * so the host (virtlabd translate) can compare it with its own QMP walk.
 *
 * Hypercall 22 (the handout's EPT dump) is issued only on KVM (CPUID
 * hypervisor bit and KVM signature), with an exception-table fixup around
 * vmcall/vmmcall: a host without the patch answers -KVM_ENOSYS, and under
 * TCG the instruction is never executed. */
#include <linux/kvm_para.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/asm.h>
#include <asm/cpufeature.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>

#define PTDUMP_VALUE 1772334ULL
#define PTDUMP_HC 22

static u64 *alloc_page_va;      /* the kmalloc'ed page */
static unsigned long target;     /* address the next read walks */
static DEFINE_MUTEX(target_lock);

static void flags_of(struct seq_file *m, u64 e, bool leaf_level) {
        seq_printf(m, " flags=%s%s%s%s%s%s%s%s", e & _PAGE_PRESENT ? "P" : "-", e & _PAGE_RW ? ",RW" : "",
                   e & _PAGE_USER ? ",US" : "", e & _PAGE_PWT ? ",PWT" : "", e & _PAGE_PCD ? ",PCD" : "",
                   e & _PAGE_ACCESSED ? ",A" : "", e & _PAGE_DIRTY ? ",D" : "",
                   e & _PAGE_PSE ? (leaf_level ? "" : ",PS") : "");
        seq_printf(m, "%s%s", e & _PAGE_GLOBAL ? ",G" : "", e & _PAGE_NX ? ",NX" : "");
}

static void level_line(struct seq_file *m, const char *name, u64 table, unsigned idx, u64 e, bool pte) {
        seq_printf(m, "ptdump level=%s table=0x%llx index=%u entry=0x%016llx", name, table, idx, e);
        flags_of(m, e, pte);
        seq_putc(m, '\n');
}

static void leaf_line(struct seq_file *m, const char *size, u64 mask, u64 e, unsigned long va) {
        u64 base = (e & PTE_PFN_MASK) & ~mask;
        seq_printf(m, "ptdump leaf=%s mask=0x%llx gpa=0x%llx\n", size, mask, base | (va & mask));
}

static void walk(struct seq_file *m, unsigned long va) {
        u64 cr3 = __read_cr3() & CR3_ADDR_MASK, table = cr3, e;
        bool l5 = pgtable_l5_enabled();
        pgd_t *pgd = (pgd_t *) __va(cr3) + pgd_index(va);
        p4d_t *p4d;
        pud_t *pud;
        pmd_t *pmd;
        pte_t *pte;

        seq_printf(m, "ptdump walk gva=0x%lx cr3=0x%llx la57=%d levels=%d\n", va, cr3, l5, l5 ? 5 : 4);
        if (l5) {
                e = pgd_val(*pgd);
                level_line(m, "PML5", table, pgd_index(va), e, false);
                if (!(e & _PAGE_PRESENT))
                        goto absent;
                table = e & PTE_PFN_MASK;
                p4d = p4d_offset(pgd, va);
                e = p4d_val(*p4d);
                level_line(m, "PML4", table, p4d_index(va), e, false);
        } else {
                /* The p4d level is folded: the pgd entry is the PML4 entry. */
                p4d = p4d_offset(pgd, va);
                e = p4d_val(*p4d);
                level_line(m, "PML4", table, pgd_index(va), e, false);
        }
        if (!(e & _PAGE_PRESENT))
                goto absent;
        table = e & PTE_PFN_MASK;
        pud = pud_offset(p4d, va);
        e = pud_val(*pud);
        level_line(m, "PDPT", table, pud_index(va), e, pud_leaf(*pud));
        if (!(e & _PAGE_PRESENT))
                goto absent;
        if (pud_leaf(*pud)) {
                leaf_line(m, "1G", ~PUD_MASK, e, va);
                return;
        }
        table = e & PTE_PFN_MASK;
        pmd = pmd_offset(pud, va);
        e = pmd_val(*pmd);
        level_line(m, "PD", table, pmd_index(va), e, pmd_leaf(*pmd));
        if (!(e & _PAGE_PRESENT))
                goto absent;
        if (pmd_leaf(*pmd)) {
                leaf_line(m, "2M", ~PMD_MASK, e, va);
                return;
        }
        table = e & PTE_PFN_MASK;
        pte = (pte_t *) __va(table) + pte_index(va);
        e = pte_val(*pte);
        level_line(m, "PT", table, pte_index(va), e, true);
        if (!(e & _PAGE_PRESENT))
                goto absent;
        leaf_line(m, "4K", ~PAGE_MASK, e, va);
        return;
absent:
        seq_puts(m, "ptdump leaf=none (entry not present)\n");
}

/* vmcall on Intel, vmmcall on AMD; the fixup turns a #UD into "not answered". */
static long hypercall22(u64 gpa, bool *answered) {
        long ret = PTDUMP_HC;

        if (boot_cpu_has(X86_FEATURE_VMMCALL))
                asm volatile("1: vmmcall\n2:\n" _ASM_EXTABLE(1b, 2b) : "+a"(ret) : "b"(gpa) : "memory");
        else
                asm volatile("1: vmcall\n2:\n" _ASM_EXTABLE(1b, 2b) : "+a"(ret) : "b"(gpa) : "memory");
        *answered = ret != PTDUMP_HC;
        return ret;
}

static void hypercall_line(struct seq_file *m, unsigned long va) {
        bool answered = false;
        long ret;

        if (!boot_cpu_has(X86_FEATURE_HYPERVISOR) || !kvm_para_available()) {
                seq_puts(m, "ptdump hypercall=skipped reason=not-kvm\n");
                return;
        }
        if (!virt_addr_valid(va)) {
                seq_puts(m, "ptdump hypercall=skipped reason=not-direct-map\n");
                return;
        }
        ret = hypercall22(__pa(va), &answered);
        if (!answered)
                seq_puts(m, "ptdump hypercall=faulted\n");
        else if (ret == -KVM_ENOSYS)
                seq_puts(m, "ptdump hypercall=unsupported reason=host-without-hc22-patch\n");
        else
                seq_printf(m, "ptdump hypercall=ok ret=%ld (EPT walk in the host's kernel log)\n", ret);
}

static int ptdump_show(struct seq_file *m, void *v) {
        unsigned long va;

        mutex_lock(&target_lock);
        va = target;
        mutex_unlock(&target_lock);
        seq_printf(m, "ptdump alloc gva=0x%lx value=%llu\n", (unsigned long) alloc_page_va, READ_ONCE(*alloc_page_va));
        walk(m, va);
        hypercall_line(m, va);
        return 0;
}

static int ptdump_open(struct inode *inode, struct file *file) {
        return single_open(file, ptdump_show, NULL);
}

static ssize_t ptdump_write(struct file *file, const char __user *buf, size_t len, loff_t *pos) {
        unsigned long va;
        int r = kstrtoul_from_user(buf, len, 16, &va);

        if (r < 0)
                return r;
        mutex_lock(&target_lock);
        target = va;
        mutex_unlock(&target_lock);
        return (ssize_t) len;
}

static const struct proc_ops ptdump_ops = {
        .proc_open = ptdump_open,
        .proc_read = seq_read,
        .proc_lseek = seq_lseek,
        .proc_release = single_release,
        .proc_write = ptdump_write,
};

static int __init ptdump_init(void) {
        alloc_page_va = kmalloc(PAGE_SIZE, GFP_KERNEL);
        if (!alloc_page_va)
                return -ENOMEM;
        WRITE_ONCE(*alloc_page_va, PTDUMP_VALUE);
        target = (unsigned long) alloc_page_va;
        if (!proc_create("virtlab_ptdump", 0600, NULL, &ptdump_ops)) {
                kfree(alloc_page_va);
                return -ENOMEM;
        }
        return 0;
}

static void __exit ptdump_exit(void) {
        remove_proc_entry("virtlab_ptdump", NULL);
        kfree(alloc_page_va);
}

module_init(ptdump_init);
module_exit(ptdump_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("virtlab: page-table walk of one address, for the GVA->GPA->HPA lab");
