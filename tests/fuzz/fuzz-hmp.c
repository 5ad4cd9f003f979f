/* fuzz-hmp.c — fuzz target for the parsers of HMP replies, the VMM's text
 * answers to human-monitor-command: translate.c's parse_regs ("info
 * registers"), parse_xp ("xp /1gx"), parse_for_is ("gpa2hva"/"gpa2hpa") and
 * memory.c's parse_gpa2hva, which parse the same reply twice over.  The
 * input is one reply (UTF-8, as it arrives inside a JSON string).  Checked:
 * a reply in QEMU's exact format gives exactly its numbers; the two gpa2hva
 * parsers agree on the address and RAM block; the block name is the text
 * between the first '(' and the next ')', cut to its buffer and UTF-8 (it
 * goes into the result JSON). */
#include "experiments/memory.c"
#include "experiments/translate.c"

#include "fuzz.h"
#include "utf8.h"

/* QEMU prints these registers and words as exactly 16 hex digits: their
 * value if s starts so (and no further hex digit follows), else -1. */
static int ref_hex(const char *s, uint64_t *ret) {
        size_t n = strspn(s, "0123456789abcdefABCDEF");
        if (n != 16)
                return -1;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v = v << 4 | (uint64_t) (s[i] <= '9' ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
        *ret = v;
        return 0;
}

static void check_regs(const char *text) {
        uint64_t cr3 = 0, cr4 = 0, want3, want4;
        int r = parse_regs(text, &cr3, &cr4);
        const char *c3 = strstr(text, "CR3="), *c4 = strstr(text, "CR4=");
        fuzz_assert(r == 0 || r == -EBADMSG);
        if (r == 0)
                fuzz_assert(c3 && c4);
        if (c3 && c4 && ref_hex(c3 + 4, &want3) == 0 && ref_hex(c4 + 4, &want4) == 0)
                fuzz_assert(r == 0 && cr3 == want3 && cr4 == want4);
}

static void check_xp(const char *text) {
        uint64_t e = 0, want;
        int r = parse_xp(text, &e);
        const char *colon = strstr(text, ": ");
        fuzz_assert(r == 0 || r == -EBADMSG);
        if (colon && strncmp(colon + 2, "0x", 2) == 0 && ref_hex(colon + 4, &want) == 0)
                fuzz_assert(r == 0 && e == want);
}

static void check_block(const char *text, const char *block, size_t size) {
        const char *open = strchr(text, '(');
        fuzz_assert(open && strnlen(block, size) < size);
        /* The name between the parentheses, cut to the buffer, made UTF-8. */
        char want[64];
        fuzz_assert(size <= sizeof(want));
        snprintf(want, size, "%.*s", (int) strcspn(open + 1, ")"), open + 1);
        (void) utf8_scrub(want);
        fuzz_assert(streq(block, want));
        if (!fuzz_is_utf8(block))
                fprintf(stderr, "fuzz: RAM block name is not UTF-8: %s\n", block);
        fuzz_assert(fuzz_is_utf8(block));
}

static void check_gpa2hva(const char *text) {
        char a[64] = "", b[64] = "";
        uint64_t hva_a = 0, hva_b = 0;
        int ra = parse_for_is(text, &hva_a, a, sizeof(a));
        int rb = parse_gpa2hva(text, &hva_b, b, sizeof(b));
        fuzz_assert((ra == 0 || ra == -EBADMSG) && (rb == 0 || rb == -EBADMSG));
        if (ra == 0)
                check_block(text, a, sizeof(a));
        if (rb == 0) {
                /* memory.c refuses 0 (no backing page); otherwise the two agree. */
                fuzz_assert(hva_b != 0 && ra == 0 && hva_a == hva_b && streq(a, b));
                check_block(text, b, sizeof(b));
        }
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_strndup(data, size);
        (void) utf8_scrub(text); /* HMP replies arrive in JSON strings */
        check_regs(text);
        check_xp(text);
        check_gpa2hva(text);
        uint64_t v;
        (void) parse_u64(text, &v);
        return 0;
}
