/* test-smaps.c — unit tests of smaps.c on real captured smaps text and on
 * hand-made garbage.
 *
 * tests/unit/data/smaps-qemu-microvm.txt is /proc/PID/smaps of
 *   qemu-system-x86_64 -accel tcg -M microvm -m 128 -nodefaults -display none -S -daemonize
 * (QEMU 7.2.22, Debian 12 package, host kernel 6.18), cut down to 28 of its
 * 313 mappings, each kept whole and unchanged, in their original order: the
 * binary, bss, heap, guest RAM (7f921fe00000, 131072 kB) and its guard page,
 * the TCG code buffer, a thread stack, libc, vvar/vdso, ld.so, stack and
 * vsyscall.  smaps-qemu-microvm.pmap-x.txt is `pmap -x` (procps) of the same
 * process, taken right after, keeping the rows of those 28 mappings.
 * The expected totals below were counted with awk on the data file:
 *   awk '/^Rss:/{r+=$2} /^Pss:/{p+=$2} /^Private_(Clean|Dirty):/{u+=$2} ...' */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "smaps.c"

#define DATA_SMAPS "smaps-qemu-microvm.txt"
#define DATA_PMAP "smaps-qemu-microvm.pmap-x.txt"

/* Reads tests/unit/data/<name>, found next to this source when run from the
 * repository root, else relative to the binary (build/tests/). */
static void read_data(const char *name, char **ret, size_t *ret_len) {
        char exe[4096], path[sizeof(exe) + 64];
        const char *slash = strrchr(__FILE__, '/');
        (void) snprintf(path, sizeof(path), "%.*s/data/%s", slash ? (int) (slash - __FILE__) : 1,
                        slash ? __FILE__ : ".", name);
        if (read_full_file(path, SIZE_MAX / 2, ret, ret_len) == 0)
                return;

        ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        assert_true(k > 0);
        exe[k] = 0;
        char *d = strrchr(exe, '/');
        assert_non_null(d);
        *d = 0;
        (void) snprintf(path, sizeof(path), "%s/../../tests/unit/data/%s", exe, name);
        assert_int_equal(read_full_file(path, SIZE_MAX / 2, ret, ret_len), 0);
}

/* Parses the captured file. */
static Smaps *parse_capture(void) {
        _cleanup_free_ char *text = NULL;
        size_t len, line = 0;
        Smaps *s = NULL;
        read_data(DATA_SMAPS, &text, &len);
        assert_int_equal(smaps_parse(text, len, &s, &line), 0);
        return s;
}

/* Parses a NUL-terminated literal, expecting success. */
static Smaps *parse_ok(const char *text) {
        Smaps *s = NULL;
        size_t line = 0;
        int r = smaps_parse(text, strlen(text), &s, &line);
        if (r < 0)
                print_error("unexpected %d at line %zu for:\n%s\n", r, line, text);
        assert_int_equal(r, 0);
        return s;
}

static void test_parse_capture(void **state) {
        _cleanup_(smaps_freep) Smaps *s = parse_capture();

        assert_int_equal(s->n_mappings, 28);
        SmapsTotals t;
        smaps_totals(s, &t);
        assert_int_equal(t.rss_kib, 17848);
        assert_int_equal(t.pss_kib, 16362);
        assert_int_equal(t.uss_kib, 16128);
        assert_int_equal(t.swap_kib, 0);

        uint64_t size = 0, anon = 0, shared_clean = 0;
        for (size_t i = 0; i < s->n_mappings; i++) {
                const SmapsMapping *m = &s->mappings[i];
                assert_int_equal(m->size_kib, (m->end - m->start) >> 10);
                size += m->size_kib;
                anon += m->anonymous_kib;
                shared_clean += m->shared_clean_kib;
        }
        assert_int_equal(size, 1218924);
        assert_int_equal(anon, 8896);
        assert_int_equal(shared_clean, 1720);

        const SmapsMapping *m = &s->mappings[0];
        assert_int_equal(m->start, 0x55c5cff03000);
        assert_int_equal(m->end, 0x55c5d030a000);
        assert_string_equal(m->perms, "r--p");
        assert_int_equal(m->offset, 0);
        assert_int_equal(m->dev_major, 0xfe);
        assert_int_equal(m->dev_minor, 0);
        assert_int_equal(m->inode, 10977368);
        assert_string_equal(m->path, "/usr/bin/qemu-system-x86_64");
        assert_int_equal(m->size_kib, 4124);
        assert_int_equal(m->rss_kib, 1268);
        assert_int_equal(m->pss_kib, 1268);
        assert_int_equal(m->private_clean_kib, 1268);
        assert_int_equal(m->private_dirty_kib, 0);

        assert_int_equal(s->mappings[1].offset, 0x407000);
        assert_string_equal(s->mappings[1].perms, "r-xp");
        assert_string_equal(s->mappings[5].path, ""); /* bss: anonymous, trailing space */
        assert_string_equal(s->mappings[6].path, "[heap]");
        assert_int_equal(s->mappings[6].rss_kib, 648);
        assert_int_equal(s->mappings[6].private_dirty_kib, 648);
        assert_int_equal(s->mappings[6].anonymous_kib, 648);
        assert_string_equal(s->mappings[27].path, "[vsyscall]");
        assert_int_equal(s->mappings[27].start, 0xffffffffff600000);

        json_auto_t *j = smaps_to_json_summary(s);
        assert_non_null(j);
        assert_int_equal(json_object_size(j), 5);
        assert_int_equal(json_integer_value(json_object_get(j, "rss_kib")), 17848);
        assert_int_equal(json_integer_value(json_object_get(j, "pss_kib")), 16362);
        assert_int_equal(json_integer_value(json_object_get(j, "uss_kib")), 16128);
        assert_int_equal(json_integer_value(json_object_get(j, "swap_kib")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "mappings")), 28);
}

static void test_pmap_matches_procps(void **state) {
        _cleanup_(smaps_freep) Smaps *s = parse_capture();
        json_auto_t *table = smaps_pmap_table(s);
        assert_non_null(table);
        assert_int_equal(json_array_size(table), s->n_mappings);

        _cleanup_free_ char *text = NULL;
        size_t len;
        read_data(DATA_PMAP, &text, &len);
        /* Two header lines (pid/cmdline, column names), then one row per mapping. */
        char *save = NULL, *row = strtok_r(text, "\n", &save);
        assert_non_null(row);
        row = strtok_r(NULL, "\n", &save);
        assert_non_null(row);
        size_t i = 0;
        for (row = strtok_r(NULL, "\n", &save); row; row = strtok_r(NULL, "\n", &save), i++) {
                char addr[32], mode[16], mapping[256];
                unsigned long long kbytes, rss, dirty;
                assert_int_equal(sscanf(row, "%31s %llu %llu %llu %15s %255[^\n]", addr, &kbytes, &rss, &dirty, mode,
                                        mapping),
                                 6);
                json_t *o = json_array_get(table, i);
                assert_non_null(o);
                assert_string_equal(json_string_value(json_object_get(o, "address")), addr);
                assert_int_equal(json_integer_value(json_object_get(o, "kbytes")), kbytes);
                assert_int_equal(json_integer_value(json_object_get(o, "rss")), rss);
                assert_int_equal(json_integer_value(json_object_get(o, "dirty")), dirty);
                assert_string_equal(json_string_value(json_object_get(o, "mode")), mode);
                assert_string_equal(json_string_value(json_object_get(o, "mapping")), mapping);
        }
        assert_int_equal(i, s->n_mappings);
}

static void test_pmap_names(void **state) {
        _cleanup_(smaps_freep) Smaps *s = parse_ok("00400000-00401000 rw-s 00000000 00:01 32769 /SYSV00000000 (deleted)\n"
                                                   "Size: 4 kB\nRss: 4 kB\nShared_Dirty: 4 kB\nPrivate_Dirty: 0 kB\n"
                                                   "00500000-00501000 r--p 00000000 08:01 7 /weird/dir/\n"
                                                   "Size: 4 kB\nRss: 0 kB\n"
                                                   "00600000-00601000 rw-p 00000000 08:01 8 /tmp/\xff\xfe bin\n"
                                                   "Size: 4 kB\nRss: 0 kB\n"
                                                   "7ffc0000-7ffc1000 rw-p 00000000 00:00 0 [stack]\n"
                                                   "Size: 4 kB\nRss: 4 kB\n");
        json_auto_t *table = smaps_pmap_table(s);
        assert_non_null(table);
        static const char *const names[] = { "[ shmid=0x8001 ]", "/", "?? bin", "[ stack ]" };
        static const char *const modes[] = { "rw-s-", "r----", "rw---", "rw---" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                json_t *o = json_array_get(table, i);
                assert_string_equal(json_string_value(json_object_get(o, "mapping")), names[i]);
                assert_string_equal(json_string_value(json_object_get(o, "mode")), modes[i]);
        }
        assert_string_equal(json_string_value(json_object_get(json_array_get(table, 3), "address")),
                            "000000007ffc0000");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(table, 0), "dirty")), 4);
}

static void test_find_address(void **state) {
        _cleanup_(smaps_freep) Smaps *s = parse_capture();
        static const struct {
                uint64_t addr;  /* looked up */
                uint64_t start; /* start of the expected mapping, 0 for none */
        } cases[] = {
                { 0x7f921fe00000, 0x7f921fe00000 }, /* first byte of guest RAM */
                { 0x7f9227dfffff, 0x7f921fe00000 }, /* last byte */
                { 0x7f9227e00000, 0x7f9227e00000 }, /* end is exclusive: the guard page */
                { 0x55c5cff03000, 0x55c5cff03000 }, /* first mapping */
                { 0x55c5cff02fff, 0 },              /* just below it */
                { 0x55c5d10c3000, 0 },              /* gap between bss and heap */
                { 0x55c5ef5bd123, 0x55c5ef5bd000 }, /* heap */
                { 0xffffffffff600fff, 0xffffffffff600000 },
                { 0xffffffffff601000, 0 },
                { 0, 0 },
                { UINT64_MAX, 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const SmapsMapping *m = smaps_find_address(s, cases[i].addr);
                if (cases[i].start == 0)
                        assert_null(m);
                else {
                        assert_non_null(m);
                        assert_int_equal(m->start, cases[i].start);
                }
        }
        assert_null(smaps_find_address(NULL, 0x7f921fe00000));

        /* Every mapping is found by its first and last byte. */
        for (size_t i = 0; i < s->n_mappings; i++) {
                assert_ptr_equal(smaps_find_address(s, s->mappings[i].start), &s->mappings[i]);
                assert_ptr_equal(smaps_find_address(s, s->mappings[i].end - 1), &s->mappings[i]);
        }
}

static void test_guess_guest_ram(void **state) {
        _cleanup_(smaps_freep) Smaps *s = parse_capture();
        const uint64_t MiB = UINT64_C(1) << 20;
        const SmapsMapping *m;

        m = smaps_guess_guest_ram(s, 128 * MiB);
        assert_non_null(m);
        assert_int_equal(m->start, 0x7f921fe00000);
        assert_int_equal(m->end - m->start, 128 * MiB);
        /* Closest from above, not the largest. */
        m = smaps_guess_guest_ram(s, 100 * MiB);
        assert_non_null(m);
        assert_int_equal(m->start, 0x7f921fe00000);
        m = smaps_guess_guest_ram(s, 8 * MiB);
        assert_non_null(m);
        assert_int_equal(m->start, 0x7f926d400000); /* the 8 MiB thread stack */
        /* One byte more: the heuristic's known failure, the 1 GiB TCG buffer. */
        m = smaps_guess_guest_ram(s, 128 * MiB + 1);
        assert_non_null(m);
        assert_int_equal(m->start, 0x7f9228000000);
        assert_null(smaps_guess_guest_ram(s, 2048 * MiB));
        assert_null(smaps_guess_guest_ram(s, 0));
        assert_null(smaps_guess_guest_ram(NULL, 128 * MiB));

        /* Named anonymous and memfd count; heap, files and read-only do not. */
        _cleanup_(smaps_freep) Smaps *t = parse_ok("00100000-00300000 rw-p 00000000 00:00 0 [heap]\n"
                                                   "Size: 2048 kB\nRss: 0 kB\n"
                                                   "00400000-00600000 r--p 00000000 00:00 0 \n"
                                                   "Size: 2048 kB\nRss: 0 kB\n"
                                                   "00600000-00800000 rw-p 00000000 08:01 9 /var/big.img\n"
                                                   "Size: 2048 kB\nRss: 0 kB\n"
                                                   "00800000-00a00000 rw-s 00000000 00:01 5 /memfd:pc.ram (deleted)\n"
                                                   "Size: 2048 kB\nRss: 0 kB\n"
                                                   "00a00000-00c00000 rw-p 00000000 00:00 0 [anon:guest-ram]\n"
                                                   "Size: 2048 kB\nRss: 0 kB\n");
        m = smaps_guess_guest_ram(t, 2 * MiB);
        assert_non_null(m);
        assert_int_equal(m->start, 0x00800000); /* the first of two equal candidates */
        assert_string_equal(m->path, "/memfd:pc.ram (deleted)");
}

static void test_valid_variants(void **state) {
        Smaps *s = NULL;
        size_t line = 0;

        /* Empty: a kernel thread has no mappings. */
        assert_int_equal(smaps_parse("", 0, &s, &line), 0);
        assert_int_equal(s->n_mappings, 0);
        s = smaps_free(s);
        assert_int_equal(smaps_parse(NULL, 0, &s, &line), 0);
        s = smaps_free(s);

        /* No final newline; unknown keys anywhere; path with spaces. */
        s = parse_ok("00400000-00402000 r-xp 00001000 103:0a 42            /tmp/my file (deleted)\n"
                     "Future_Key9: whatever 12 MB\n"
                     "Size:      8 kB\n"
                     "VmFlags: rd ex mr mw me\n"
                     "Rss:       4 kB\n"
                     "Swap:      4 kB");
        assert_int_equal(s->n_mappings, 1);
        assert_string_equal(s->mappings[0].path, "/tmp/my file (deleted)");
        assert_int_equal(s->mappings[0].dev_major, 0x103);
        assert_int_equal(s->mappings[0].dev_minor, 0x0a);
        assert_int_equal(s->mappings[0].offset, 0x1000);
        assert_int_equal(s->mappings[0].pss_kib, 0);
        assert_int_equal(s->totals.swap_kib, 4);
        s = smaps_free(s);

        /* Anonymous without even the trailing space. */
        s = parse_ok("00400000-00401000 ---p 00000000 00:00 0\nSize: 4 kB\nRss: 0 kB\n");
        assert_string_equal(s->mappings[0].path, "");
        s = smaps_free(s);

        assert_int_equal(smaps_parse("x", 1, NULL, &line), -EINVAL);
        assert_int_equal(smaps_parse(NULL, 1, &s, &line), -EINVAL);
        assert_null(smaps_free(NULL));
}

#define HDR "00400000-00401000 r-xp 00000000 08:02 173521 /usr/bin/x\n"
#define OK_FIELDS "Size: 4 kB\nRss: 4 kB\n"

static void test_garbage(void **state) {
        static const struct {
                const char *text; /* input (may hold a NUL: len is sizeof - 1) */
                size_t len;       /* its length */
                size_t line;      /* expected bad line */
        } cases[] = {
#define C(t, l) { t, sizeof(t) - 1, l }
                C("Size: 4 kB\n", 1),                      /* field before any header */
                C("\n", 1),                                /* empty line */
                C(HDR "\n" OK_FIELDS, 2),                  /* empty line inside */
                C("garbage\n", 1),                         /* no colon */
                C(":\n", 1),                               /* no key */
                C("12:34\n", 1),                           /* key must start with a letter */
                C(HDR "Size : 4 kB\nRss: 4 kB\n", 2),      /* space before colon */
                C("00400000-00300000 r-xp 00000000 08:02 1 /x\n" OK_FIELDS, 1), /* end < start */
                C("00400000-00400000 r-xp 00000000 08:02 1 /x\n" OK_FIELDS, 1), /* empty mapping */
                C("00400000-00401000 rwzp 00000000 08:02 1 /x\n" OK_FIELDS, 1), /* perms */
                C("00400000-00401000 r-x 00000000 08:02 1 /x\n" OK_FIELDS, 1),  /* short perms */
                C("00400000-00401000 r-xp 00000000 08:02 1/x\n" OK_FIELDS, 1),  /* no space before path */
                C("00400000-00401000 r-xp 00000000 0802 1 /x\n" OK_FIELDS, 1),  /* dev without colon */
                C("00400000-00401000 r-xp 00000000 1000:02 1 /x\n" OK_FIELDS, 1), /* major > 12 bits */
                C("00400000-00401000 r-xp 00000000 08:02 -1 /x\n" OK_FIELDS, 1),  /* inode sign */
                C("00400000-00401000 r-xp 00000000 08:02 99999999999999999999 /x\n" OK_FIELDS, 1), /* overflow */
                C("00000000400000000-00401000 r-xp 00000000 08:02 1 /x\n" OK_FIELDS, 1), /* 17 digits */
                C("00400000-\n", 1),                       /* truncated header */
                C(HDR "Size: 4 KB\nRss: 4 kB\n", 2),       /* unit */
                C(HDR "Size: 4\nRss: 4 kB\n", 2),          /* no unit */
                C(HDR "Size: -4 kB\nRss: 4 kB\n", 2),      /* sign */
                C(HDR "Size: 4kB\nRss: 4 kB\n", 2),        /* no space before unit */
                C(HDR "Size: 4 kB extra\nRss: 4 kB\n", 2), /* trailing text */
                C(HDR "Size: 4 kB\r\nRss: 4 kB\n", 2),     /* CRLF */
                C(HDR "Size: kB\nRss: 4 kB\n", 2),         /* no number */
                C(HDR "Size: 18014398509481984 kB\nRss: 4 kB\n", 2), /* 2^54 kB: > 64-bit bytes */
                C(HDR "Size: 4 kB\nRss: 4 kB\nRss: 4 kB\n", 4),      /* repeated */
                C(HDR "Size: 4 kB\n", 1),                  /* no Rss at EOF: blame the header */
                C(HDR "Size: 4 kB\n"
                      "00500000-00501000 r-xp 00000000 08:02 1 /y\n" OK_FIELDS, 1), /* … or before the next */
                C(HDR OK_FIELDS "00300000-00301000 r-xp 00000000 08:02 1 /y\n" OK_FIELDS, 4), /* out of order */
                C(HDR OK_FIELDS "00400fff-00402000 r-xp 00000000 08:02 1 /y\n" OK_FIELDS, 4), /* overlap */
                C("00400000-00401000 r-xp 00000000 08:02 1 /x\0y\n" OK_FIELDS, 1),           /* NUL */
                C(HDR "Size: 4 kB\nRss:\0 4 kB\n", 3),                                      /* NUL in field */
                C(HDR OK_FIELDS "VmFlags: rd\0ex\n", 4),                                    /* NUL in unknown */
#undef C
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Smaps *s = NULL;
                size_t line = 0;
                int r = smaps_parse(cases[i].text, cases[i].len, &s, &line);
                if (r != -EBADMSG || line != cases[i].line)
                        print_error("case %zu: r=%d line=%zu, expected -EBADMSG at line %zu\n", i, r, line,
                                    cases[i].line);
                assert_int_equal(r, -EBADMSG);
                assert_int_equal(line, cases[i].line);
                assert_null(s);
        }
}

/* Runs every query on a parse result, so sanitizers see them on odd input. */
static void exercise(const Smaps *s) {
        SmapsTotals t;
        smaps_totals(s, &t);
        for (size_t i = 0; i < s->n_mappings; i++)
                assert_ptr_equal(smaps_find_address(s, s->mappings[i].start), &s->mappings[i]);
        (void) smaps_guess_guest_ram(s, UINT64_C(128) << 20);
        json_auto_t *a = smaps_to_json_summary(s);
        json_auto_t *b = smaps_pmap_table(s);
        assert_non_null(a);
        assert_non_null(b);
}

static void test_truncated_everywhere(void **state) {
        _cleanup_free_ char *text = NULL;
        size_t len, oks = 0;
        read_data(DATA_SMAPS, &text, &len);

        /* Parse a heap copy of each prefix so ASan catches any read past it. */
        for (size_t cut = 0; cut <= len; cut++) {
                _cleanup_free_ char *copy = malloc(cut ? cut : 1);
                assert_non_null(copy);
                memcpy(copy, text, cut);
                _cleanup_(smaps_freep) Smaps *s = NULL;
                size_t line = 0, lines = 1;
                for (size_t i = 0; i < cut; i++)
                        lines += copy[i] == '\n';
                int r = smaps_parse(copy, cut, &s, &line);
                if (r == 0) {
                        oks++;
                        /* Whole mappings only: a cut can shorten a path or a number,
                         * but never invent a mapping. */
                        assert_true(s->n_mappings <= 28);
                        if (cut % 97 == 0 || cut == len)
                                exercise(s);
                } else {
                        assert_int_equal(r, -EBADMSG);
                        assert_true(line >= 1 && line <= lines);
                }
        }
        assert_true(oks > 28);

        /* A cut right before a header leaves the mappings before it. */
        const char *second = strstr(text, "\n55c5d030a000-");
        assert_non_null(second);
        _cleanup_(smaps_freep) Smaps *s = NULL;
        assert_int_equal(smaps_parse(text, (size_t) (second - text) + 1, &s, NULL), 0);
        assert_int_equal(s->n_mappings, 1);
        assert_int_equal(s->totals.rss_kib, 1268);
}

/* xorshift64: deterministic mutations, reproducible failures. */
static uint64_t rnd(uint64_t *x) {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        return *x;
}

static void test_mutations(void **state) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        read_data(DATA_SMAPS, &text, &len);
        static const char alphabet[] = "0123456789abcdefkB:- \n\0\xff[]/pswrx";

        uint64_t seed = 0x5eed;
        for (unsigned round = 0; round < 2000; round++) {
                _cleanup_free_ char *buf = malloc(len);
                assert_non_null(buf);
                memcpy(buf, text, len);
                size_t n = len;
                for (unsigned k = 1 + rnd(&seed) % 8; k > 0; k--) {
                        size_t at = rnd(&seed) % n;
                        switch (rnd(&seed) % 3) {
                        case 0: /* replace */
                                buf[at] = alphabet[rnd(&seed) % (sizeof(alphabet) - 1)];
                                break;
                        case 1: /* delete */
                                memmove(buf + at, buf + at + 1, n - at - 1);
                                n--;
                                break;
                        default: /* truncate */
                                n = at + 1;
                        }
                }
                _cleanup_(smaps_freep) Smaps *s = NULL;
                size_t line = 0;
                int r = smaps_parse(buf, n, &s, &line);
                if (r == 0)
                        exercise(s);
                else
                        assert_int_equal(r, -EBADMSG);
        }

        /* Pure noise. */
        for (unsigned round = 0; round < 500; round++) {
                char noise[512];
                size_t n = rnd(&seed) % sizeof(noise);
                for (size_t i = 0; i < n; i++)
                        noise[i] = (char) rnd(&seed);
                _cleanup_(smaps_freep) Smaps *s = NULL;
                int r = smaps_parse(noise, n, &s, NULL);
                assert_true(r == 0 || r == -EBADMSG);
        }
}

static void test_read_pid_self(void **state) {
        _cleanup_(smaps_freep) Smaps *s = NULL;
        assert_int_equal(smaps_read_pid(getpid(), &s), 0);
        assert_true(s->n_mappings > 0);
        assert_true(s->totals.rss_kib > 0);
        assert_true(s->totals.pss_kib > 0);

        int local = 0;
        const SmapsMapping *m = smaps_find_address(s, (uint64_t) (uintptr_t) &local);
        assert_non_null(m);
        assert_string_equal(m->path, "[stack]");
        m = smaps_find_address(s, (uint64_t) (uintptr_t) &smaps_parse);
        assert_non_null(m);
        assert_int_equal(m->perms[2], 'x');

        Smaps *none = NULL;
        assert_int_equal(smaps_read_pid(0, &none), -EINVAL);
        assert_int_equal(smaps_read_pid(-1, &none), -EINVAL);
        assert_int_equal(smaps_read_pid(INT32_MAX, &none), -ENOENT); /* above any pid_max */
        assert_null(none);
}

/* smaps_rollup as Linux 4.19 writes it (fs/proc/task_mmu.c: no Pss_Anon,
 * Pss_File, Pss_Shmem; those came in 5.7) is -ENODATA, which memory.c turns
 * into "pss_anon: not measured: ... (Linux before 5.7)"; as 6.x writes it
 * (this host's, Pss_Dirty included) it gives the split.  The 4.19 text
 * follows that kernel's show_smap() field order; it is not a capture. */
static void test_rollup_old_and_new_kernel(void **state) {
        static const char v4_19[] =
                "00400000-7ffd1c1e1000 ---p 00000000 00:00 0                          [rollup]\n"
                "Rss:               39760 kB\nPss:               33013 kB\nShared_Clean:       7440 kB\n"
                "Shared_Dirty:          0 kB\nPrivate_Clean:      1084 kB\nPrivate_Dirty:     31236 kB\n"
                "Referenced:        39760 kB\nAnonymous:         31232 kB\nLazyFree:              0 kB\n"
                "AnonHugePages:     20480 kB\nShmemPmdMapped:        0 kB\nShared_Hugetlb:        0 kB\n"
                "Private_Hugetlb:       0 kB\nSwap:                  0 kB\nSwapPss:               0 kB\n"
                "Locked:                0 kB\n";
        static const char v6[] =
                "557460c0a000-7fffcde02000 ---p 00000000 00:00 0                          [rollup]\n"
                "Rss:                1640 kB\nPss:                 184 kB\nPss_Dirty:           112 kB\n"
                "Pss_Anon:            112 kB\nPss_File:             72 kB\nPss_Shmem:             0 kB\n"
                "Shared_Clean:       1488 kB\nShared_Dirty:          0 kB\nPrivate_Clean:        40 kB\n"
                "Private_Dirty:       112 kB\nAnonymous:           112 kB\nSwap:                  0 kB\n";
        SmapsRollup r = { .pss_anon_kib = 7 };
        assert_int_equal(smaps_rollup_parse(v4_19, &r), -ENODATA);
        assert_int_equal(r.pss_anon_kib, 7); /* untouched */
        assert_int_equal(smaps_rollup_parse(v6, &r), 0);
        assert_int_equal(r.pss_anon_kib, 112);
        assert_int_equal(r.pss_file_kib, 72);
        assert_int_equal(r.pss_shmem_kib, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_capture),    cmocka_unit_test(test_pmap_matches_procps),
                cmocka_unit_test(test_pmap_names),       cmocka_unit_test(test_find_address),
                cmocka_unit_test(test_guess_guest_ram),  cmocka_unit_test(test_valid_variants),
                cmocka_unit_test(test_garbage),          cmocka_unit_test(test_truncated_everywhere),
                cmocka_unit_test(test_mutations),        cmocka_unit_test(test_read_pid_self),
                cmocka_unit_test(test_rollup_old_and_new_kernel),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
