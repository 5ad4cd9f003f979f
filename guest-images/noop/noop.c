/* noop.c — the noop micro-guest: no kernel, no init, a few hundred bytes
 * of code that speak the virtlab console protocol (daemon/guest-protocol.h)
 * on COM1 and then halt until the host stops the VM.  It measures what a
 * VMM costs by itself: spawn to the guest's first output, and the VMM's
 * memory with (almost) no guest memory in use.
 *
 * With virtlab.touch_mib=N on its command line it writes one byte to each
 * 4 KiB page of N MiB of RAM (from 32 MiB up) before its marker, so the
 * host's guest-RAM accounting has a known amount to find.  With
 * virtlab.fault=1 it ends in a KVM internal error instead of its marker;
 * with virtlab.hang=1 it halts without a word (both for testing how the
 * host notices a guest that fails). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest-protocol.h"

#define COM1 0x3f8
#define TOUCH_BASE (32ULL << 20) /* above the image (16 MiB) and its page tables */
#define TOUCH_MAX_MIB 960        /* StratoVirt identity-maps only the first GiB */
#define PVH_CMDLINE_OFFSET 24    /* hvm_start_info.cmdline_paddr */
#define ZEROPAGE_CMDLINE_OFFSET 0x228 /* boot_params.hdr.cmd_line_ptr */

enum { NOOP_ENTRY_RAW64 = 1, NOOP_ENTRY_PVH = 2 };

void noop_main(unsigned entry, uint64_t info, uint64_t tsc_entry);

static inline void outb(uint16_t port, uint8_t v) {
        __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port) {
        uint8_t v;
        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
        return v;
}

static inline uint64_t rdtsc(void) {
        uint32_t lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return (uint64_t) hi << 32 | lo;
}

/* Waits (boundedly) for the transmit holding register, then writes. */
static void serial_putc(char c) {
        for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
                ;
        outb(COM1, (uint8_t) c);
}

static void serial_puts(const char *s) {
        while (*s)
                serial_putc(*s++);
}

static void serial_putu(uint64_t v) {
        char buf[24];
        int n = 0;
        do
                buf[n++] = (char) ('0' + v % 10);
        while ((v /= 10) && n < (int) sizeof(buf));
        while (n > 0)
                serial_putc(buf[--n]);
}

typedef struct Params {
        uint64_t touch_mib;     /* virtlab.touch_mib= */
        uint64_t fault;         /* virtlab.fault= */
        uint64_t hang;          /* virtlab.hang= */
} Params;

static bool word_is(const char *p, const char *key, const char **ret_value) {
        while (*key && *p == *key)
                key++, p++;
        *ret_value = p;
        return !*key;
}

static uint64_t number(const char *q) {
        uint64_t v = 0;
        while (*q >= '0' && *q <= '9')
                v = v * 10 + (uint64_t) (*q++ - '0');
        return v;
}

/* One pass over the command line: every read is an uncached memory access
 * on a paravirtual KVM (~100x a cached one), so the marker waits for as
 * few of them as possible. */
static void parse_params(const char *cmdline, Params *ret) {
        *ret = (Params) {};
        for (const char *p = cmdline; p && *p; p++) {
                const char *v;
                if ((p != cmdline && p[-1] != ' ') || !word_is(p, "virtlab.", &v))
                        continue;
                if (word_is(v, "touch_mib=", &v))
                        ret->touch_mib = number(v);
                else if (word_is(v, "fault=", &v))
                        ret->fault = number(v);
                else if (word_is(v, "hang=", &v))
                        ret->hang = number(v);
        }
}

static const char *cmdline_of(unsigned entry, uint64_t info) {
        if (!info)
                return NULL;
        uint64_t p = entry == NOOP_ENTRY_PVH ? *(const uint64_t *) (uintptr_t) (info + PVH_CMDLINE_OFFSET)
                                             : *(const uint32_t *) (uintptr_t) (info + ZEROPAGE_CMDLINE_OFFSET);
        return (const char *) (uintptr_t) p;
}

/* entry.S: an SSE store to guest-physical memory nothing backs (a KVM
 * internal error on demand; see there). */
void noop_fault(void);

static void touch(uint64_t mib) {
        volatile uint8_t *p = (volatile uint8_t *) (uintptr_t) TOUCH_BASE;
        for (uint64_t off = 0; off < (mib << 20); off += 4096)
                p[off] = 1;
}

void noop_main(unsigned entry, uint64_t info, uint64_t tsc_entry) {
        Params par;
        parse_params(cmdline_of(entry, info), &par);
        uint64_t mib = par.touch_mib > TOUCH_MAX_MIB ? TOUCH_MAX_MIB : par.touch_mib;
        touch(mib);
        if (par.fault)
                noop_fault();
        if (par.hang)
                return; /* halts before its marker: a guest that never comes up */
        uint64_t tsc_marker = rdtsc();
        serial_puts(GUEST_INIT_MARKER "\n");
        outb(GUEST_BOOT_PORT, GUEST_BOOT_PORT_INIT_STARTED);
        serial_puts(GUEST_FRAME_BEGIN "job=noop@@\n" GUEST_FRAME_END "job=noop rc=0@@\n");
        serial_puts(GUEST_RESULT_PREFIX "{\"job\":\"noop\",\"rc\":0,\"entry\":\"");
        serial_puts(entry == NOOP_ENTRY_PVH ? "pvh" : "raw64");
        serial_puts("\",\"touched_mib\":");
        serial_putu(mib);
        serial_puts(",\"tsc_entry\":");
        serial_putu(tsc_entry);
        serial_puts(",\"tsc_marker\":");
        serial_putu(tsc_marker);
        serial_puts("}\n");
        outb(GUEST_BOOT_PORT, GUEST_BOOT_PORT_JOB_DONE);
}
