/* translate.c — the lab's address translation, GVA → GPA → HVA →
 * HPA, for one guest virtual address, without a patched host kernel.
 *
 * The guest runs /usr/bin/virtlab-ptdump (job run: + virtlab.hold=1): with
 * the virtlab_ptdump module it allocates a page holding 1772334 and prints
 * its own page-table walk; with sym:NAME it resolves a kernel symbol.  Then
 * the host walks the same address from the outside, one HMP command per
 * fact, and writes down how each was obtained:
 *   CR3, CR4.LA57   HMP "info registers"
 *   each entry      HMP "xp /1gx ENTRY_GPA" (guest-physical read by QEMU)
 *   GPA             the walk, cross-checked with HMP "gva2gpa"
 *   HVA, RAM block  HMP "gpa2hva"
 *   HPA             /proc/PID/pagemap (PFN, needs root) and HMP "gpa2hpa"
 *   value           8 bytes of /proc/PID/mem at the HVA
 * The chain is a fixed sequence of steps; each HMP reply moves it on. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "experiments/experiment.h"
#include "qmp-client.h"
#include "utf8.h"

#define HMP_TIMEOUT_USEC (5 * USEC_PER_SEC)
#define ADDR_MASK UINT64_C(0x000ffffffffff000)
#define PTE_PRESENT (UINT64_C(1) << 0)
#define PTE_PS (UINT64_C(1) << 7)
#define CR4_LA57 (UINT64_C(1) << 12)
#define AD_BITS UINT64_C(0x60) /* accessed/dirty: the MMU may set them between two walks */
#define SYMBOL_MAX 128

static const char *const translate_metrics[] = { "levels", NULL };
static const char *const level_names[] = { "PML5", "PML4", "PDPT", "PD", "PT" };
static const unsigned level_shift[] = { 48, 39, 30, 21, 12 };

typedef enum Step {
        STEP_REGS,     /* info registers */
        STEP_ENTRY,    /* xp of the current level's entry */
        STEP_GVA2GPA,  /* QEMU's own translation */
        STEP_GPA2HVA,  /* RAM block and host virtual address */
        STEP_GPA2HPA,  /* QEMU's host physical address */
        _STEP_MAX,
} Step;

typedef struct Walk {
        Run *run;          /* owner; not touched after -ECANCELED */
        Step step;         /* what the pending HMP reply answers */
        uint64_t gva;      /* the address */
        uint64_t table;    /* GPA of the table being read */
        unsigned level;    /* index into level_names */
        uint64_t gpa;      /* result of our walk (0 until the leaf) */
        uint64_t hva;      /* from gpa2hva */
        json_t *out;       /* the "translate" document being filled */
} Walk;

static void walk_send(Walk *w, const char *fmt, ...) _printf_(2, 3);
static void on_hmp(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata);

static json_t *hex(uint64_t v) {
        char buf[24];
        snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
        return json_string(buf);
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 16);
        if (errno || end == s)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* ---- spec ------------------------------------------------------------- */

static int check_gva(json_t *spec, const SpecField *f, json_t *gva, char **ret_error) {
        uint64_t v;
        const char *s = json_string_value(gva);
        char b[SPEC_ECHO_MAX + 8];
        if (strncmp(s, "0x", 2) != 0 || parse_u64(s, &v) < 0 || strlen(s) > 18 || strspn(s + 2, "0123456789abcdefABCDEF") != strlen(s + 2))
                return spec_fail(ret_error, "Invalid gva '%s': a hex address like 0xffffffff81000000", spec_echo(gva, b));
        return 0;
}

static int check_symbol(json_t *spec, const SpecField *f, json_t *sym, char **ret_error) {
        const char *s = json_string_value(sym);
        char b[SPEC_ECHO_MAX + 8];
        size_t n = strlen(s);
        if (n == 0 || n > SYMBOL_MAX ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") != n)
                return spec_fail(ret_error, "Invalid symbol '%s': a kernel symbol name", spec_echo(sym, b));
        return 0;
}

static int check_cpu(json_t *spec, const SpecField *f, json_t *cpu, char **ret_error) {
        const char *s = json_string_value(cpu);
        char b[SPEC_ECHO_MAX + 8];
        if (!*s || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s))
                return spec_fail(ret_error, "Invalid cpu '%s': a CPU model like max", spec_echo(cpu, b));
        return 0;
}

static const SpecField translate_fields[] = {
        { .name = "gva", .type = SPEC_STRING, .check = check_gva },
        { .name = "symbol", .type = SPEC_STRING, .check = check_symbol },
        { .name = "guest_alloc", .type = SPEC_BOOL },
        { .name = "module", .type = SPEC_BOOL },
        { .name = "cpu", .type = SPEC_STRING, .check = check_cpu },
        {},
};

static const SpecDefault single_run[] = { { "runs", 1 }, { "warmup", 0 }, {} };

/* One of gva, symbol, guest_alloc (the default); the module by default
 * with guest_alloc, which needs it. */
static int translate_prepare(json_t *spec, char **ret_error) {
        json_t *gva = json_object_get(spec, "gva"), *sym = json_object_get(spec, "symbol");
        json_t *alloc = json_object_get(spec, "guest_alloc"), *mod = json_object_get(spec, "module");
        if ((gva != NULL) + (sym != NULL) + json_is_true(alloc) > 1)
                return spec_fail(ret_error, "Give one of gva, symbol or guest_alloc");
        if (!gva && !sym)
                json_object_set_new(spec, "guest_alloc", json_true());
        if (!mod)
                json_object_set_new(spec, "module", json_boolean(spec_bool(spec, "guest_alloc")));
        if (spec_bool(spec, "guest_alloc") && !spec_bool(spec, "module"))
                return spec_fail(ret_error, "guest_alloc needs the guest module (module must not be false)");
        return 0;
}

static const char *translate_cpu_model(json_t *spec) {
        return spec_string(spec, "cpu");
}

static int translate_guest_cmdline(Run *run, char **ret) {
        json_t *spec = run_spec(run);
        const char *gva = json_string_value(json_object_get(spec, "gva"));
        const char *sym = json_string_value(json_object_get(spec, "symbol"));
        bool mod = json_is_true(json_object_get(spec, "module"));
        int r = asprintf(ret, "virtlab.job=run:/bin/sh,/usr/bin/virtlab-ptdump,%s%s virtlab.hold=1%s", sym ? "sym:" : "",
                         gva ?: sym ?: "alloc", mod ? " virtlab.modules=virtlab_ptdump" : "");
        return r < 0 ? -ENOMEM : 0;
}

/* ---- guest side ------------------------------------------------------- */

/* Value of " key=" in a line, copied up to the next space. */
/* The n bytes at p, cut to buf: the cut may fall inside a character, and
 * what is kept goes into JSON strings, which must be UTF-8. */
static void copy_text(char *buf, size_t size, const char *p, size_t n) {
        snprintf(buf, size, "%.*s", (int) n, p);
        (void) utf8_scrub(buf);
}

static bool field(const char *line, const char *key, char *buf, size_t size) {
        char pat[32];
        snprintf(pat, sizeof(pat), " %s=", key);
        const char *p = strstr(line, pat);
        if (!p)
                return false;
        p += strlen(pat);
        copy_text(buf, size, p, strcspn(p, " \n"));
        return true;
}

/* Turns the "ptdump ..." lines of the guest output into JSON. */
static json_t *guest_walk_parse(const char *text) {
        json_t *g = json_pack("{s:[], s:s}", "levels", "how", "guest module virtlab_ptdump (/proc/virtlab_ptdump)");
        char line[512], v[128], idx[32], entry[64], table[64];
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                copy_text(line, sizeof(line), p, n);
                p += n + (p[n] == '\n');
                if (strncmp(line, "ptdump ", 7) != 0)
                        continue;
                if (strncmp(line, "ptdump alloc ", 13) == 0) {
                        if (field(line, "gva", v, sizeof(v)))
                                json_object_set_new(g, "alloc_gva", json_string(v));
                        if (field(line, "value", v, sizeof(v)))
                                json_object_set_new(g, "alloc_value", json_integer(strtoll(v, NULL, 10)));
                } else if (strncmp(line, "ptdump symbol ", 14) == 0 && field(line, "gva", v, sizeof(v)))
                        json_object_set_new(g, "symbol_gva", json_string(v));
                else if (strncmp(line, "ptdump walk ", 12) == 0) {
                        if (field(line, "gva", v, sizeof(v)))
                                json_object_set_new(g, "gva", json_string(v));
                        if (field(line, "cr3", v, sizeof(v)))
                                json_object_set_new(g, "cr3", json_string(v));
                        if (field(line, "la57", v, sizeof(v)))
                                json_object_set_new(g, "la57", json_boolean(streq(v, "1")));
                } else if (strncmp(line, "ptdump level=", 13) == 0 && field(line, "index", idx, sizeof(idx)) &&
                           field(line, "entry", entry, sizeof(entry)) && field(line, "table", table, sizeof(table))) {
                        char name[16];
                        copy_text(name, sizeof(name), line + 13, strcspn(line + 13, " "));
                        json_array_append_new(json_object_get(g, "levels"),
                                              json_pack("{s:s, s:s, s:I, s:s}", "level", name, "table_gpa", table, "index",
                                                        (json_int_t) strtoll(idx, NULL, 10), "entry", entry));
                } else if (strncmp(line, "ptdump leaf=", 12) == 0) {
                        copy_text(v, sizeof(v), line + 12, strcspn(line + 12, " "));
                        json_object_set_new(g, "leaf", json_string(v));
                        if (field(line, "mask", v, sizeof(v)))
                                json_object_set_new(g, "offset_mask", json_string(v));
                        if (field(line, "gpa", v, sizeof(v)))
                                json_object_set_new(g, "gpa", json_string(v));
                } else if (strncmp(line, "ptdump hypercall=", 17) == 0)
                        json_object_set_new(g, "hypercall_22", json_string(line + 7));
                else if (strncmp(line, "ptdump error=", 13) == 0 || strncmp(line, "ptdump module=", 14) == 0)
                        json_object_set_new(g, "error", json_string(line + 7));
        }
        return g;
}

static uint64_t hexs(json_t *o, const char *key) {
        uint64_t v = 0;
        const char *s = json_string_value(json_object_get(o, key));
        return s && parse_u64(s, &v) == 0 ? v : 0;
}

/* Same levels, indices, entries (A/D masked), leaf and GPA. */
static bool walks_agree(json_t *host, json_t *guest, char *why, size_t size) {
        json_t *hl = json_object_get(host, "levels"), *gl = json_object_get(guest, "levels");
        if (json_array_size(hl) != json_array_size(gl)) {
                snprintf(why, size, "host walked %zu levels, guest %zu", json_array_size(hl), json_array_size(gl));
                return false;
        }
        for (size_t i = 0; i < json_array_size(hl); i++) {
                json_t *h = json_array_get(hl, i), *g = json_array_get(gl, i);
                if (!streq_ptr(json_string_value(json_object_get(h, "level")), json_string_value(json_object_get(g, "level"))) ||
                    json_integer_value(json_object_get(h, "index")) != json_integer_value(json_object_get(g, "index")) ||
                    (hexs(h, "entry") & ~AD_BITS) != (hexs(g, "entry") & ~AD_BITS) ||
                    (i > 0 && hexs(h, "table_gpa") != hexs(g, "table_gpa"))) {
                        snprintf(why, size, "level %s differs", strempty(json_string_value(json_object_get(h, "level"))));
                        return false;
                }
        }
        if (!streq_ptr(json_string_value(json_object_get(host, "leaf")), json_string_value(json_object_get(guest, "leaf"))) ||
            hexs(host, "gpa") != hexs(guest, "gpa")) {
                snprintf(why, size, "leaf or GPA differs");
                return false;
        }
        snprintf(why, size, "same indices, entries (accessed/dirty bits ignored), leaf and GPA");
        return true;
}

/* ---- host side -------------------------------------------------------- */

static json_t *flags_json(uint64_t e, bool leaf) {
        json_t *a = json_array();
        static const struct { uint64_t bit; const char *name; } t[] = {
                { 1 << 0, "P" }, { 1 << 1, "RW" }, { 1 << 2, "US" }, { 1 << 3, "PWT" }, { 1 << 4, "PCD" },
                { 1 << 5, "A" }, { 1 << 6, "D" },  { 1 << 7, "PS" }, { 1 << 8, "G" },   { UINT64_C(1) << 63, "NX" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                if ((e & t[i].bit) && !(t[i].bit == PTE_PS && leaf && !(e & PTE_PS)))
                        json_array_append_new(a, json_string(t[i].name));
        return a;
}

static void walk_free(Walk *w) {
        if (!w)
                return;
        json_decref(w->out);
        free(w);
}

/* Fails the run with "what: detail" and ends the chain. */
static void walk_fail(Walk *w, const char *what, const char *detail) {
        run_fail(w->run, "%s: %.200s", what, detail);
        walk_free(w);
}

static void walk_send(Walk *w, const char *fmt, ...) {
        char cmd[128];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        QmpClient *q = run_qmp(w->run);
        if (!q || qmp_client_hmp(q, cmd, HMP_TIMEOUT_USEC, on_hmp, w) < 0)
                walk_fail(w, "Failed to send HMP command", cmd);
}

/* Reads 8 bytes of the VMM at hva, and the PFN behind it from pagemap. */
static void walk_read_host(Walk *w) {
        pid_t pid = run_vmm_pid(w->run);
        char path[64];
        uint64_t value = 0, pm = 0;
        json_t *o = w->out;
        snprintf(path, sizeof(path), "/proc/%d/mem", (int) pid);
        _cleanup_close_ int mem = open(path, O_RDONLY | O_CLOEXEC);
        if (mem >= 0 && pread(mem, &value, sizeof(value), (off_t) w->hva) == (ssize_t) sizeof(value)) {
                json_object_set_new(o, "value_at_hva", json_integer((json_int_t) value));
                json_object_set_new(o, "value_how", json_string("8 bytes of /proc/PID/mem at the HVA (read by virtlabd)"));
        } else
                json_object_set_new(o, "value_how", json_sprintf("/proc/%d/mem unreadable: %s", (int) pid, strerror(errno)));
        snprintf(path, sizeof(path), "/proc/%d/pagemap", (int) pid);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || pread(fd, &pm, sizeof(pm), (off_t) (w->hva / 4096 * 8)) != (ssize_t) sizeof(pm)) {
                json_object_set_new(o, "hpa_how", json_sprintf("%s unreadable: %s", path, strerror(errno)));
                return;
        }
        uint64_t pfn = pm & ((UINT64_C(1) << 55) - 1);
        if (!(pm >> 63))
                json_object_set_new(o, "hpa_how", json_string("/proc/PID/pagemap: page not present in the host"));
        else if (pfn == 0)
                json_object_set_new(o, "hpa_how", json_string("/proc/PID/pagemap hides PFNs without CAP_SYS_ADMIN: "
                                                              "run virtlabd as root to see the HPA"));
        else {
                json_object_set_new(o, "hpa", hex(pfn << 12 | (w->hva & 0xfff)));
                json_object_set_new(o, "hpa_how", json_string("/proc/PID/pagemap PFN of the HVA (read by virtlabd as root)"));
        }
}

static void walk_finish(Walk *w) {
        Run *run = w->run;
        json_t *o = w->out, *s = run_sample(run);
        walk_read_host(w);
        json_t *expect = json_object_get(o, "expected_value"), *got = json_object_get(o, "value_at_hva");
        if (expect)
                json_object_set_new(o, "value_matches", json_boolean(got && json_integer_value(got) == json_integer_value(expect)));
        json_t *q = json_object_get(o, "qemu_gpa2hpa");
        if (q && json_object_get(o, "hpa"))
                json_object_set_new(o, "gpa2hpa_agrees", json_boolean(hexs(o, "hpa") == hexs(o, "qemu_gpa2hpa")));
        json_t *g = json_object_get(o, "guest_walk");
        if (g && json_array_size(json_object_get(g, "levels")) > 0) {
                char why[128];
                bool ok = walks_agree(o, g, why, sizeof(why));
                json_object_set_new(o, "guest_walk_agrees", json_boolean(ok));
                json_object_set_new(o, "guest_walk_comparison", json_string(why));
        }
        json_object_set_new(s, "levels", json_integer((json_int_t) json_array_size(json_object_get(o, "levels"))));
        json_object_set(s, "translate", o);
        walk_free(w);
        run_stop_vm(run);
}

/* After the leaf (or a non-present entry): QEMU's own answers. */
static void walk_after_levels(Walk *w) {
        w->step = STEP_GVA2GPA;
        walk_send(w, "gva2gpa 0x%" PRIx64, w->gva);
}

static void walk_next_entry(Walk *w) {
        unsigned idx = (unsigned) (w->gva >> level_shift[w->level]) & 511;
        w->step = STEP_ENTRY;
        walk_send(w, "xp /1gx 0x%" PRIx64, w->table + idx * 8);
}

/* CR3 and CR4 from HMP "info registers" ("... CR3=0000000006066000 CR4=..."). */
static int parse_regs(const char *text, uint64_t *ret_cr3, uint64_t *ret_cr4) {
        const char *c3 = strstr(text, "CR3="), *c4 = strstr(text, "CR4=");
        uint64_t cr3, cr4;
        if (!c3 || !c4 || parse_u64(c3 + 4, &cr3) < 0 || parse_u64(c4 + 4, &cr4) < 0)
                return -EBADMSG;
        *ret_cr3 = cr3;
        *ret_cr4 = cr4;
        return 0;
}

/* The 8 bytes from HMP "xp /1gx" ("0000000006066888: 0x0000000004400067"). */
static int parse_xp(const char *text, uint64_t *ret) {
        const char *colon = strstr(text, ": ");
        return colon ? parse_u64(colon + 2, ret) : -EBADMSG;
}

static int on_regs(Walk *w, const char *text) {
        uint64_t cr3, cr4;
        if (parse_regs(text, &cr3, &cr4) < 0)
                return -EBADMSG;
        bool la57 = cr4 & CR4_LA57;
        json_object_set_new(w->out, "cr3", hex(cr3));
        json_object_set_new(w->out, "cr4", hex(cr4));
        json_object_set_new(w->out, "la57", json_boolean(la57));
        json_object_set_new(w->out, "cr3_how", json_string("HMP info registers (CR3; CR4 bit 12 = LA57)"));
        w->table = cr3 & ADDR_MASK;
        w->level = la57 ? 0 : 1;
        walk_next_entry(w);
        return 0;
}

static int on_entry(Walk *w, const char *text) {
        uint64_t e;
        if (parse_xp(text, &e) < 0)
                return -EBADMSG;
        unsigned idx = (unsigned) (w->gva >> level_shift[w->level]) & 511;
        bool present = e & PTE_PRESENT, leaf = w->level == 4 || (present && (w->level == 2 || w->level == 3) && (e & PTE_PS));
        char how[96];
        snprintf(how, sizeof(how), "HMP xp /1gx 0x%" PRIx64, w->table + idx * 8);
        json_array_append_new(json_object_get(w->out, "levels"),
                              json_pack("{s:s, s:o, s:I, s:I, s:o, s:o, s:o, s:s}", "level", level_names[w->level], "table_gpa",
                                        hex(w->table), "index", (json_int_t) idx, "shift", (json_int_t) level_shift[w->level],
                                        "entry_gpa", hex(w->table + idx * 8), "entry", hex(e), "flags", flags_json(e, w->level == 4),
                                        "how", how));
        if (!present) {
                json_object_set_new(w->out, "leaf", json_string("none"));
                walk_after_levels(w);
                return 0;
        }
        if (leaf) {
                uint64_t mask = (UINT64_C(1) << level_shift[w->level]) - 1;
                w->gpa = (e & ADDR_MASK & ~mask) | (w->gva & mask);
                json_object_set_new(w->out, "leaf", json_string(w->level == 2 ? "1G" : w->level == 3 ? "2M" : "4K"));
                json_object_set_new(w->out, "offset_mask", hex(mask));
                json_object_set_new(w->out, "gpa", hex(w->gpa));
                json_object_set_new(w->out, "gpa_how", json_string("page walk above: leaf frame | (GVA & offset mask)"));
                walk_after_levels(w);
                return 0;
        }
        w->table = e & ADDR_MASK;
        w->level++;
        walk_next_entry(w);
        return 0;
}

/* "Host virtual address for 0x6012000 (pc.ram) is 0x7f..." and the gpa2hpa twin. */
static int parse_for_is(const char *text, uint64_t *ret, char *block, size_t size) {
        const char *open = strchr(text, '('), *close = open ? strchr(open, ')') : NULL;
        const char *is = close ? strstr(close, " is 0x") : NULL;
        if (!is)
                return -EBADMSG;
        snprintf(block, size, "%.*s", (int) (close - open - 1), open + 1);
        (void) utf8_scrub(block); /* cut at size, it may end inside a character; it goes into JSON */
        return parse_u64(is + 4, ret);
}

static void on_hmp(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        Walk *w = userdata;
        if (error == -ECANCELED) {
                walk_free(w); /* the VM is being freed; the run is already ending */
                return;
        }
        if (error < 0) {
                walk_fail(w, "HMP command failed", desc ?: strerror(-error));
                return;
        }
        const char *text = strempty(json_string_value(result));
        char block[64];
        uint64_t v;
        int r = 0;
        switch (w->step) {
        case STEP_REGS:
                r = on_regs(w, text);
                break;
        case STEP_ENTRY:
                r = on_entry(w, text);
                break;
        case STEP_GVA2GPA:
                if (strncmp(text, "gpa: ", 5) == 0 && parse_u64(text + 5, &v) == 0) {
                        json_object_set_new(w->out, "qemu_gva2gpa", hex(v));
                        json_object_set_new(w->out, "gva2gpa_agrees", json_boolean(v == w->gpa));
                } else
                        json_object_set_new(w->out, "qemu_gva2gpa_error", json_stringn(text, strcspn(text, "\r\n")));
                if (!w->gpa) {
                        walk_finish(w); /* not mapped: nothing below the GPA */
                        return;
                }
                w->step = STEP_GPA2HVA;
                walk_send(w, "gpa2hva 0x%" PRIx64, w->gpa);
                return;
        case STEP_GPA2HVA:
                if (parse_for_is(text, &w->hva, block, sizeof(block)) < 0) {
                        walk_fail(w, "Cannot parse HMP gpa2hva output", text);
                        return;
                }
                json_object_set_new(w->out, "hva", hex(w->hva));
                json_object_set_new(w->out, "ram_block", json_string(block));
                json_object_set_new(w->out, "hva_how", json_string("HMP gpa2hva (QEMU's RAM block + offset)"));
                w->step = STEP_GPA2HPA;
                walk_send(w, "gpa2hpa 0x%" PRIx64, w->gpa);
                return;
        case STEP_GPA2HPA:
                if (parse_for_is(text, &v, block, sizeof(block)) == 0 && v != 0)
                        json_object_set_new(w->out, "qemu_gpa2hpa", hex(v));
                else
                        json_object_set_new(w->out, "qemu_gpa2hpa_note",
                                            json_string("QEMU printed no HPA (0x0: QEMU is not root, or no backing page)"));
                walk_finish(w);
                return;
        default:
                abort();
        }
        if (r < 0)
                walk_fail(w, "Cannot parse HMP output", text);
}

static bool host_is_vm(void) {
        _cleanup_free_ char *buf = malloc(1 << 16);
        _cleanup_close_ int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
        ssize_t n = buf && fd >= 0 ? read(fd, buf, (1 << 16) - 1) : -1;
        if (n <= 0)
                return false;
        buf[n] = 0;
        return strstr(buf, " hypervisor") != NULL;
}

static void translate_on_guest_result(Run *run) {
        run_set_phase(run, "walk");
        json_t *spec = run_spec(run);
        json_t *g = guest_walk_parse(run_guest_output(run));
        const char *err = json_string_value(json_object_get(g, "error"));
        uint64_t gva = 0;
        const char *source = json_object_get(spec, "gva") ? "gva" : json_object_get(spec, "symbol") ? "symbol" : "guest-alloc";
        if (err && (streq(source, "guest-alloc") || strncmp(err, "error=", 6) == 0)) {
                run_fail(run, "Guest side failed: %s", err);
                json_decref(g);
                return;
        }
        const char *key = streq(source, "gva") ? NULL : streq(source, "symbol") ? "symbol_gva" : "alloc_gva";
        const char *addr = key ? json_string_value(json_object_get(g, key)) : json_string_value(json_object_get(spec, "gva"));
        if (!addr || parse_u64(addr, &gva) < 0) {
                run_fail(run, "The guest printed no address to translate (output: '%.200s')", run_guest_output(run));
                json_decref(g);
                return;
        }
        Walk *w = calloc(1, sizeof(Walk));
        if (!w) {
                json_decref(g);
                run_fail(run, "Out of memory");
                return;
        }
        *w = (Walk) { .run = run, .gva = gva, .step = STEP_REGS };
        w->out = json_pack("{s:s, s:o, s:s, s:[]}", "schema", "virtlab/translate/v1", "gva", hex(gva), "source", source,
                           "levels");
        if (json_object_get(spec, "symbol"))
                json_object_set(w->out, "symbol", json_object_get(spec, "symbol"));
        if (streq(source, "guest-alloc"))
                json_object_set(w->out, "expected_value", json_object_get(g, "alloc_value"));
        if (json_is_true(json_object_get(spec, "module")) && !json_object_get(g, "error"))
                json_object_set(w->out, "guest_walk", g);
        json_object_set_new(w->out, "host_note",
                            json_string(host_is_vm() ? "this host is itself a VM: its 'HPA' is the L1 guest-physical address; "
                                                       "the level below is invisible from here"
                                                     : "bare-metal host: the HPA is a machine address"));
        json_decref(g);
        walk_send(w, "info registers");
}

const ExperimentKind experiment_translate = {
        .name = "translate",
        .description = "one guest virtual address through GVA->GPA->HVA->HPA, each step with how it was obtained",
        .guest_job = "run:/usr/bin/virtlab-ptdump",
        .metrics = translate_metrics,
        .fields = translate_fields,
        .defaults = single_run,
        .hmp_use = "translate",
        .prepare = translate_prepare,
        .cpu_model = translate_cpu_model,
        .on_guest_result = translate_on_guest_result,
        .guest_powers_off = false,
        .guest_cmdline = translate_guest_cmdline,
};
