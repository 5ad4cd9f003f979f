/* fuzz-smaps-rollup.c — fuzz target for the smaps_rollup parser
 * (smaps_rollup_parse() in smaps.c), which reads the kernel's Pss split of a
 * VMM the guest drives.  The input, as a C string, is parsed and compared
 * with a reference written from the format: the first line "KEY:" of each
 * key, then spaces, a decimal kB count (at most KIB_MAX), at least one
 * space, "kB" and the end of the line.  Checked: -ENODATA exactly when there
 * is no Pss_Anon line, -EBADMSG exactly when a first key line is malformed,
 * else the same values (Rss, Pss, USS = Private_Clean + Private_Dirty,
 * Pss_Anon, Pss_File, Pss_Shmem; 0 for an absent line but Pss_Anon), and
 * *ret untouched on failure. */
#include "fuzz.h"
#include "smaps.h"
#include "util.h"

#define KIB_MAX (UINT64_MAX >> 10)

/* 1 with the value, 0 when no line starts with "KEY:", -1 when the first does not parse. */
static int ref_value(const char *text, const char *key, uint64_t *ret) {
        size_t klen = strlen(key);
        for (const char *line = text; *line;) {
                const char *eol = line + strcspn(line, "\n");
                if ((size_t) (eol - line) > klen && memcmp(line, key, klen) == 0 && line[klen] == ':') {
                        const char *p = line + klen + 1;
                        while (p < eol && *p == ' ')
                                p++;
                        const char *digits = p;
                        uint64_t v = 0;
                        for (; p < eol && *p >= '0' && *p <= '9'; p++) {
                                unsigned d = (unsigned) (*p - '0');
                                if (v > (KIB_MAX - d) / 10)
                                        return -1;
                                v = v * 10 + d;
                        }
                        const char *spaces = p;
                        while (p < eol && *p == ' ')
                                p++;
                        if (p == digits || p == spaces || eol - p != 2 || p[0] != 'k' || p[1] != 'B')
                                return -1;
                        *ret = v;
                        return 1;
                }
                line = *eol ? eol + 1 : eol;
        }
        return 0;
}

/* What smaps_rollup_parse() must return for text, from ref_value(). */
static int ref_parse(const char *text, SmapsRollup *want) {
        uint64_t clean = 0, dirty = 0;
        int a = ref_value(text, "Pss_Anon", &want->pss_anon_kib);
        if (a <= 0)
                return a < 0 ? -EBADMSG : -ENODATA;
        if (ref_value(text, "Pss_File", &want->pss_file_kib) < 0 || ref_value(text, "Pss_Shmem", &want->pss_shmem_kib) < 0 ||
            ref_value(text, "Rss", &want->rss_kib) < 0 || ref_value(text, "Pss", &want->pss_kib) < 0 ||
            ref_value(text, "Private_Clean", &clean) < 0 || ref_value(text, "Private_Dirty", &dirty) < 0)
                return -EBADMSG;
        want->uss_kib = clean + dirty;
        return 0;
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_free_ char *text = fuzz_strndup(data, size);
        const SmapsRollup poison = { 1, 2, 3, 4, 5, 6 };
        SmapsRollup got = poison, want = {};
        int r = smaps_rollup_parse(text, &got);

        fuzz_assert(r == ref_parse(text, &want));
        if (r < 0) {
                fuzz_assert(memcmp(&got, &poison, sizeof(got)) == 0);
                return 0;
        }
        fuzz_assert(got.rss_kib == want.rss_kib && got.pss_kib == want.pss_kib && got.uss_kib == want.uss_kib &&
                    got.pss_anon_kib == want.pss_anon_kib && got.pss_file_kib == want.pss_file_kib &&
                    got.pss_shmem_kib == want.pss_shmem_kib);
        return 0;
}
