/* walk.c — GVA → GPA → HVA → HPA, done by hand:
 *   GVA → GPA  walk the guest's 4-level page tables in guest memory, starting
 *              at CR3, and cross-check with KVM_TRANSLATE (KVM's own walker);
 *   GPA → HVA  look the GPA up in our memslot table (vm.c);
 *   HVA → HPA  read this process's /proc/self/pagemap entry for the HVA. */
#include <cpuid.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "vmm.h"

#define PAGE_SIZE UINT64_C(4096)
#define EFER_LMA (1ULL << 10)
#define PTE_ADDR_MASK UINT64_C(0x000ffffffffff000) /* bits 51:12 */
#define PT_INDEX(gva, level) (((gva) >> (12 + 9 * ((level) - 1))) & 511)

#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_PFN_MASK ((1ULL << 55) - 1)

static const char *const level_names[WALK_LEVELS_MAX + 1] = {
        [4] = "PML4", [3] = "PDPT", [2] = "PD", [1] = "PT",
};

/* Entry bit names; bit 7 is PS in a PDE/PDPTE but PAT in a 4 KiB PTE. */
static const struct {
        int bit;
        const char *name;
        bool leaf_only;
} entry_bits[] = {
        { 0, "P", false },   { 1, "RW", false },  { 2, "US", false }, { 3, "PWT", false },
        { 4, "PCD", false }, { 5, "A", false },   { 6, "D", true },   { 8, "G", true },
        { 63, "NX", false },
};

static void entry_flags(const struct walk_level *l, const char *names[static 12], unsigned *ret_n) {
        unsigned n = 0;

        for (size_t i = 0; i < ELEMENTSOF(entry_bits); i++)
                if ((l->entry >> entry_bits[i].bit & 1) && (l->leaf || !entry_bits[i].leaf_only))
                        names[n++] = entry_bits[i].name;
        if (l->entry & (1ULL << 7))
                names[n++] = streq(l->name, "PT") ? "PAT" : "PS";
        *ret_n = n;
}

static bool gva_is_canonical(uint64_t gva) {
        /* Bits 63:47 must all equal bit 47 with 48-bit virtual addresses. */
        uint64_t top = gva >> 47;
        return top == 0 || top == 0x1ffff;
}

static void walk_tables(struct vm *vm, struct walk *w) {
        uint64_t table = w->cr3 & PTE_ADDR_MASK;

        if (!gva_is_canonical(w->gva)) {
                w->stop = "address is not canonical";
                return;
        }
        for (int level = 4; level >= 1; level--) {
                struct walk_level *l = &w->levels[w->n_levels++];
                const uint64_t *t = vm_gpa_to_hva(vm, table, PAGE_SIZE, NULL);

                *l = (struct walk_level) { .name = level_names[level], .table_gpa = table, .index = PT_INDEX(w->gva, level) };
                if (!t) {
                        w->stop = "table lies outside guest memory";
                        return;
                }
                l->entry = t[l->index];
                if (!(l->entry & 1)) {
                        w->stop = "entry not present";
                        return;
                }
                l->leaf = level == 1 || ((level == 2 || level == 3) && (l->entry & (1ULL << 7)));
                if (l->leaf) {
                        w->page_size = 1ULL << (12 + 9 * (level - 1));
                        /* Large-page entries keep PAT in bit 12; masking by the page size drops it. */
                        w->gpa = (l->entry & PTE_ADDR_MASK & ~(w->page_size - 1)) | (w->gva & (w->page_size - 1));
                        return;
                }
                table = l->entry & PTE_ADDR_MASK;
        }
}

static void walk_kvm_translate(struct vm *vm, struct walk *w) {
        struct kvm_translation tr = { .linear_address = w->gva };

        if (ioctl(vm->vcpu_fd, KVM_TRANSLATE, &tr) < 0) {
                (void) snprintf(w->kvm_note, sizeof(w->kvm_note), "KVM_TRANSLATE: %m");
                return;
        }
        w->kvm_valid = tr.valid;
        w->kvm_gpa = tr.physical_address;
        w->match = w->stop ? !tr.valid : tr.valid && tr.physical_address == w->gpa;
}

static void walk_pagemap(struct walk *w) {
        _cleanup_close_ int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        uint64_t e;

        if (fd < 0 || pread(fd, &e, sizeof(e), (off_t) (w->hva / PAGE_SIZE * sizeof(e))) != sizeof(e)) {
                (void) snprintf(w->hpa_note, sizeof(w->hpa_note), "/proc/self/pagemap: %m");
                return;
        }
        w->pagemap = e;
        if (!(e & PAGEMAP_PRESENT))
                (void) snprintf(w->hpa_note, sizeof(w->hpa_note), "page not present in host RAM (never touched, or swapped)");
        else if ((e & PAGEMAP_PFN_MASK) == 0)
                (void) snprintf(w->hpa_note, sizeof(w->hpa_note), "PFN reads as 0: the kernel hides PFNs without CAP_SYS_ADMIN (run as root)");
        else
                w->hpa = (e & PAGEMAP_PFN_MASK) * PAGE_SIZE + (w->hva & (PAGE_SIZE - 1));
}

static void walk_devmem(struct walk *w) {
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        if (w->hpa == 0) {
                (void) snprintf(w->devmem_note, sizeof(w->devmem_note), "no HPA");
                return;
        }
        fd = open("/dev/mem", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                (void) snprintf(w->devmem_note, sizeof(w->devmem_note), "/dev/mem: %m%s",
                                errno == ENOENT || errno == ENXIO ? " (this kernel may be built without CONFIG_DEVMEM)" : "");
                return;
        }
        n = pread(fd, &w->devmem_value, sizeof(w->devmem_value), (off_t) w->hpa);
        if (n != sizeof(w->devmem_value)) {
                (void) snprintf(w->devmem_note, sizeof(w->devmem_note), "pread(/dev/mem, 0x%" PRIx64 "): %s%s", w->hpa,
                                n < 0 ? strerror(errno) : "short read",
                                n < 0 && errno == EPERM ? " (CONFIG_STRICT_DEVMEM forbids reading RAM)" : "");
                return;
        }
        w->devmem_ok = true;
}

int walk_gva(struct vm *vm, uint64_t gva, struct walk *w, vmm_error *err) {
        struct kvm_sregs sregs;

        *w = (struct walk) { .gva = gva };
        if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
                return vmm_error_set(err, -errno, "KVM_GET_SREGS: %m");
        if (!(sregs.efer & EFER_LMA))
                return vmm_error_set(err, -EINVAL, "Page walk needs a long-mode guest (EFER.LMA is clear)");
        w->cr3 = sregs.cr3;

        walk_tables(vm, w);
        walk_kvm_translate(vm, w);
        if (w->stop)
                return 0;

        const struct memslot *slot;
        const uint8_t *hva = vm_gpa_to_hva(vm, w->gpa, sizeof(w->value), &slot);
        if (!hva) {
                w->stop = "GPA is not backed by any memslot";
                return 0;
        }
        w->slot = *slot;
        w->hva = (uint64_t) (uintptr_t) hva;
        memcpy(&w->value, hva, sizeof(w->value));
        w->value_ok = true;

        walk_pagemap(w);
        walk_devmem(w);
        return 0;
}

/* True when we are ourselves a guest: then "HPA" is only our own GPA. */
static bool running_nested(void) {
        unsigned a, b, c, d;
        return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 31));
}

static void walk_print_level(const struct walk_level *l, FILE *f) {
        const char *names[12];
        unsigned n;
        char flags[64] = "";

        entry_flags(l, names, &n);
        for (unsigned i = 0; i < n; i++)
                (void) snprintf(flags + strlen(flags), sizeof(flags) - strlen(flags), "%s%s", i ? " " : "", names[i]);
        fprintf(f, "  %-4s  table 0x%06" PRIx64 "  index %3u  entry 0x%016" PRIx64 "  %-16s", l->name, l->table_gpa,
                l->index, l->entry, flags);
        if (!(l->entry & 1))
                fprintf(f, "\n");
        else if (l->leaf)
                fprintf(f, " -> page\n");
        else
                fprintf(f, " -> table 0x%" PRIx64 "\n", l->entry & PTE_ADDR_MASK);
}

void walk_print(const struct walk *w, FILE *f) {
        fprintf(f, "walk of GVA 0x%016" PRIx64 " (CR3 0x%" PRIx64 ", 4-level paging)\n", w->gva, w->cr3);
        for (unsigned i = 0; i < w->n_levels; i++)
                walk_print_level(&w->levels[i], f);

        if (w->stop)
                fprintf(f, "  not mapped: %s\n", w->stop);
        else
                fprintf(f, "  leaf: %s page, offset mask 0x%" PRIx64 ", offset 0x%" PRIx64 " -> GPA 0x%" PRIx64 "\n",
                        w->page_size == PAGE_SIZE ? "4 KiB" : w->page_size == 512 * PAGE_SIZE ? "2 MiB" : "1 GiB",
                        w->page_size - 1, w->gva & (w->page_size - 1), w->gpa);

        if (w->kvm_note[0])
                fprintf(f, "  %s -> MISMATCH (cannot cross-check)\n", w->kvm_note);
        else if (w->kvm_valid)
                fprintf(f, "  KVM_TRANSLATE: GPA 0x%" PRIx64 " -> %s\n", w->kvm_gpa, w->match ? "match" : "MISMATCH");
        else
                fprintf(f, "  KVM_TRANSLATE: not mapped -> %s\n", w->match ? "match" : "MISMATCH");
        if (!w->value_ok)
                return;

        fprintf(f, "  GPA -> HVA: memslot %u (GPA 0x%" PRIx64 "+0x%" PRIx64 " at HVA %p) -> HVA 0x%" PRIx64 "\n",
                w->slot.slot, w->slot.gpa, w->slot.size, (void *) w->slot.hva, w->hva);
        fprintf(f, "  HVA -> HPA: pagemap entry 0x%016" PRIx64, w->pagemap);
        if (w->hpa)
                fprintf(f, " -> HPA 0x%" PRIx64 "%s\n", w->hpa,
                        running_nested() ? " (this host is itself a VM: its \"HPA\" is a GPA one level down)" : "");
        else
                fprintf(f, " -> HPA unknown: %s\n", w->hpa_note);
        fprintf(f, "  value at HVA: %" PRIu32 " (0x%" PRIx32 ")\n", w->value, w->value);
        if (w->devmem_ok)
                fprintf(f, "  value at HPA via /dev/mem: %" PRIu32 "\n", w->devmem_value);
        else
                fprintf(f, "  value at HPA via /dev/mem: skipped: %s\n", w->devmem_note);
}

static json_t *hex(uint64_t v) {
        char buf[24];
        (void) snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
        return json_string(buf);
}

static json_t *walk_level_to_json(const struct walk_level *l) {
        json_t *flags = json_array();
        const char *names[12];
        unsigned n;

        entry_flags(l, names, &n);
        for (unsigned i = 0; i < n; i++)
                (void) json_array_append_new(flags, json_string(names[i]));
        return json_pack("{s:s, s:o, s:i, s:o, s:o, s:b}", "level", l->name, "table_gpa", hex(l->table_gpa),
                         "index", (int) l->index, "entry", hex(l->entry), "flags", flags, "leaf", l->leaf);
}

json_t *walk_to_json(const struct walk *w) {
        json_t *levels = json_array();

        for (unsigned i = 0; i < w->n_levels; i++)
                (void) json_array_append_new(levels, walk_level_to_json(&w->levels[i]));

        json_t *o = json_pack("{s:o, s:o, s:o, s:b, s:{s:b, s:o}, s:b}", "gva", hex(w->gva), "cr3", hex(w->cr3),
                              "levels", levels, "mapped", !w->stop, "kvm_translate", "valid", w->kvm_valid, "gpa",
                              w->kvm_valid ? hex(w->kvm_gpa) : json_null(), "match", w->match);
        if (!o)
                return NULL;
        if (w->stop) {
                (void) json_object_set_new(o, "stop", json_string(w->stop));
                return o;
        }
        (void) json_object_set_new(o, "page_size", json_integer((json_int_t) w->page_size));
        (void) json_object_set_new(o, "offset_mask", hex(w->page_size - 1));
        (void) json_object_set_new(o, "gpa", hex(w->gpa));
        if (!w->value_ok)
                return o;
        (void) json_object_set_new(o, "memslot", json_integer(w->slot.slot));
        (void) json_object_set_new(o, "hva", hex(w->hva));
        (void) json_object_set_new(o, "pagemap", hex(w->pagemap));
        (void) json_object_set_new(o, "hpa", w->hpa ? hex(w->hpa) : json_null());
        (void) json_object_set_new(o, "host_is_vm", json_boolean(running_nested()));
        if (!w->hpa)
                (void) json_object_set_new(o, "hpa_note", json_string(w->hpa_note));
        (void) json_object_set_new(o, "value", json_integer(w->value));
        (void) json_object_set_new(o, "devmem_value", w->devmem_ok ? json_integer(w->devmem_value) : json_null());
        if (!w->devmem_ok)
                (void) json_object_set_new(o, "devmem_note", json_string(w->devmem_note));
        return o;
}
