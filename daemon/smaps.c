/* smaps.c — parser for /proc/PID/smaps and the memory views built on it.
 *
 * Divisions: lexing helpers; header and field lines; the parse loop; reading
 * /proc; queries (totals, address lookup, guest-RAM guess); JSON views.
 *
 * The text is untrusted (a fuzz target feeds it garbage), so the parser works
 * on (pointer, end) pairs, never past end, never relies on a NUL terminator,
 * and accepts only what the kernel prints (fs/proc/task_mmu.c):
 *   header  "start-end perms offset major:minor inode [spaces path]"
 *   field   "Key:  <value>"; the kB fields we keep must read "<decimal> kB".
 * Anything else — an empty line, a NUL byte, a field before the first
 * header, mappings out of order or overlapping, a repeated kB field, a
 * mapping without Size or Rss — is -EBADMSG with its line number. */
#include "smaps.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "util.h"

/* A kB count above this would not fit in 64 bits as bytes: no mapping is
 * that big, so the text is lying. */
#define KIB_MAX (UINT64_MAX >> 10)

/* The kB fields we keep; bit i of a mapping's "seen" mask is kib_fields[i]. */
static const struct {
        const char *key; /* field name before the colon */
        size_t offset;   /* where its value goes in SmapsMapping */
} kib_fields[] = {
        { "Size", offsetof(SmapsMapping, size_kib) },
        { "Rss", offsetof(SmapsMapping, rss_kib) },
        { "Pss", offsetof(SmapsMapping, pss_kib) },
        { "Shared_Clean", offsetof(SmapsMapping, shared_clean_kib) },
        { "Shared_Dirty", offsetof(SmapsMapping, shared_dirty_kib) },
        { "Private_Clean", offsetof(SmapsMapping, private_clean_kib) },
        { "Private_Dirty", offsetof(SmapsMapping, private_dirty_kib) },
        { "Anonymous", offsetof(SmapsMapping, anonymous_kib) },
        { "Swap", offsetof(SmapsMapping, swap_kib) },
};
/* Every mapping must carry these: without them the numbers are meaningless. */
#define REQUIRED_FIELDS ((1U << 0) | (1U << 1)) /* Size, Rss */

/* Value of a hex digit, or -1. */
static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decimal digit, independent of the locale (unlike isdigit()). */
static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* ASCII letter, independent of the locale. */
static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reads 1..max_digits hex digits at *p (no more may follow); advances *p. */
static bool lex_hex(const char **p, const char *end, unsigned max_digits, uint64_t *ret) {
        uint64_t v = 0;
        unsigned n = 0;
        const char *q = *p;
        for (; q < end && hex_value(*q) >= 0; q++, n++) {
                if (n == max_digits)
                        return false;
                v = (v << 4) | (uint64_t) hex_value(*q);
        }
        if (n == 0)
                return false;
        *p = q;
        *ret = v;
        return true;
}

/* Reads a decimal number that fits in 64 bits at *p; advances *p. */
static bool lex_dec(const char **p, const char *end, uint64_t *ret) {
        uint64_t v = 0;
        const char *q = *p;
        for (; q < end && is_digit(*q); q++) {
                uint64_t d = (uint64_t) (*q - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        if (q == *p)
                return false;
        *p = q;
        *ret = v;
        return true;
}

/* Consumes the character c at *p. */
static bool lex_char(const char **p, const char *end, char c) {
        if (*p >= end || **p != c)
                return false;
        (*p)++;
        return true;
}

/* Skips spaces at *p; returns how many. */
static size_t lex_spaces(const char **p, const char *end) {
        const char *q = *p;
        while (q < end && *q == ' ')
                q++;
        size_t n = (size_t) (q - *p);
        *p = q;
        return n;
}

/* A header starts with hex digits and a '-'; no field name does. */
static bool looks_like_header(const char *p, const char *end) {
        const char *q = p;
        while (q < end && hex_value(*q) >= 0)
                q++;
        return q > p && q < end && *q == '-';
}

/* Parses a header line into *m (zeroed by the caller); m->path is allocated. */
static int parse_header(const char *p, const char *end, SmapsMapping *m) {
        uint64_t major, minor;

        if (!lex_hex(&p, end, 16, &m->start) || !lex_char(&p, end, '-') || !lex_hex(&p, end, 16, &m->end) ||
            !lex_char(&p, end, ' '))
                return -EBADMSG;
        if (m->start >= m->end)
                return -EBADMSG;

        if (end - p < 4 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
            (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's'))
                return -EBADMSG;
        memcpy(m->perms, p, 4);
        m->perms[4] = 0;
        p += 4;

        /* Majors are 12 bits and minors 20 bits, printed as %02x. */
        if (!lex_char(&p, end, ' ') || !lex_hex(&p, end, 16, &m->offset) || !lex_char(&p, end, ' ') ||
            !lex_hex(&p, end, 3, &major) || !lex_char(&p, end, ':') || !lex_hex(&p, end, 5, &minor) ||
            !lex_char(&p, end, ' ') || !lex_dec(&p, end, &m->inode))
                return -EBADMSG;
        m->dev_major = (unsigned) major;
        m->dev_minor = (unsigned) minor;

        /* The kernel pads with spaces before the path, and leaves one
         * trailing space when there is none. */
        if (p < end && lex_spaces(&p, end) == 0)
                return -EBADMSG;
        m->path = strndup(p, (size_t) (end - p));
        if (!m->path)
                return -ENOMEM;
        return 0;
}

/* Parses a "Key: value" line; stores kept kB fields in *m, marks them in *seen. */
static int parse_field(const char *p, const char *end, SmapsMapping *m, unsigned *seen) {
        const char *key = p;
        if (p >= end || !is_alpha(*p))
                return -EBADMSG;
        while (p < end && (is_alpha(*p) || is_digit(*p) || *p == '_'))
                p++;
        size_t key_len = (size_t) (p - key);
        if (!lex_char(&p, end, ':'))
                return -EBADMSG;

        for (size_t i = 0; i < ELEMENTSOF(kib_fields); i++) {
                if (strlen(kib_fields[i].key) != key_len || memcmp(kib_fields[i].key, key, key_len) != 0)
                        continue;

                uint64_t v;
                (void) lex_spaces(&p, end);
                if (!lex_dec(&p, end, &v) || v > KIB_MAX || lex_spaces(&p, end) == 0 || end - p != 2 ||
                    p[0] != 'k' || p[1] != 'B')
                        return -EBADMSG;
                if (*seen & (1U << i))
                        return -EBADMSG;
                *seen |= 1U << i;
                memcpy((char *) m + kib_fields[i].offset, &v, sizeof(v));
                return 0;
        }
        /* VmFlags, THPeligible, ProtectionKey, Pss_Dirty, …: not ours. */
        return 0;
}

/* a + b, stuck at UINT64_MAX instead of wrapping. */
static uint64_t add_sat(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Checks the mapping just completed and adds it to the totals. */
static int finish_mapping(Smaps *s, unsigned seen) {
        if ((seen & REQUIRED_FIELDS) != REQUIRED_FIELDS)
                return -EBADMSG;
        const SmapsMapping *m = &s->mappings[s->n_mappings - 1];
        s->totals.rss_kib = add_sat(s->totals.rss_kib, m->rss_kib);
        s->totals.pss_kib = add_sat(s->totals.pss_kib, m->pss_kib);
        s->totals.uss_kib = add_sat(s->totals.uss_kib, add_sat(m->private_clean_kib, m->private_dirty_kib));
        s->totals.swap_kib = add_sat(s->totals.swap_kib, m->swap_kib);
        return 0;
}

/* Appends a zeroed mapping to s, growing the array; NULL on OOM. */
static SmapsMapping *append_mapping(Smaps *s, size_t *cap) {
        if (s->n_mappings == *cap) {
                size_t n = *cap ? *cap * 2 : 64;
                SmapsMapping *a = realloc(s->mappings, n * sizeof(SmapsMapping));
                if (!a)
                        return NULL;
                s->mappings = a;
                *cap = n;
        }
        SmapsMapping *m = &s->mappings[s->n_mappings++];
        *m = (SmapsMapping) { 0 };
        return m;
}

Smaps *smaps_free(Smaps *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_mappings; i++)
                free(s->mappings[i].path);
        free(s->mappings);
        free(s);
        return NULL;
}

int smaps_parse(const char *text, size_t len, Smaps **ret, size_t *reterr_line) {
        if (!ret || (!text && len > 0))
                return -EINVAL;

        _cleanup_(smaps_freep) Smaps *s = calloc(1, sizeof(Smaps));
        if (!s)
                return -ENOMEM;

        size_t cap = 0, line = 0, header_line = 0;
        unsigned seen = 0;
        int r = 0;
        for (size_t pos = 0; pos < len;) {
                const char *p = text + pos;
                const char *nl = memchr(p, '\n', len - pos);
                const char *end = nl ? nl : text + len;
                pos = (size_t) (end - text) + (nl ? 1 : 0);
                line++;

                if (end == p || memchr(p, 0, (size_t) (end - p))) {
                        r = -EBADMSG;
                        goto finish;
                }

                if (looks_like_header(p, end)) {
                        if (s->n_mappings > 0) {
                                r = finish_mapping(s, seen);
                                if (r < 0) {
                                        line = header_line;
                                        goto finish;
                                }
                        }
                        if (s->n_mappings >= SMAPS_MAPPINGS_MAX) {
                                r = -E2BIG;
                                goto finish;
                        }
                        SmapsMapping *m = append_mapping(s, &cap);
                        if (!m) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        r = parse_header(p, end, m);
                        if (r < 0)
                                goto finish;
                        /* The kernel walks VMAs in address order. */
                        if (s->n_mappings > 1 && m->start < s->mappings[s->n_mappings - 2].end) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        header_line = line;
                        seen = 0;
                } else {
                        if (s->n_mappings == 0) {
                                r = -EBADMSG;
                                goto finish;
                        }
                        r = parse_field(p, end, &s->mappings[s->n_mappings - 1], &seen);
                        if (r < 0)
                                goto finish;
                }
        }
        if (s->n_mappings > 0) {
                r = finish_mapping(s, seen);
                if (r < 0)
                        line = header_line;
        }

finish:
        if (r < 0) {
                if (r == -EBADMSG && reterr_line)
                        *reterr_line = line;
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* Reads all of path (a /proc file: its size is unknown up front) into a
 * NUL-terminated buffer; -E2BIG past max bytes. */
static int read_full_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (cap - len < 4096 + 1) {
                        size_t n = cap ? cap * 2 : 65536;
                        char *b = realloc(buf, n);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        cap = n;
                }
                ssize_t k = read(fd, buf + len, cap - len - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                len += (size_t) k;
                if (len > max)
                        return -E2BIG;
        }
        buf[len] = 0;
        *ret_len = len;
        *ret = TAKE_PTR(buf);
        return 0;
}

int smaps_read_pid(pid_t pid, Smaps **ret) {
        if (pid <= 0 || !ret)
                return -EINVAL;

        char path[64];
        (void) snprintf(path, sizeof(path), "/proc/%d/smaps", (int) pid);

        _cleanup_free_ char *text = NULL;
        size_t len = 0, line = 0;
        int r = read_full_file(path, SMAPS_TEXT_MAX, &text, &len);
        if (r < 0)
                return log_debug_errno(r, "Failed to read %s: %m", path);
        r = smaps_parse(text, len, ret, &line);
        if (r == -EBADMSG)
                return log_debug_errno(r, "%s: line %zu is not smaps syntax", path, line);
        return r;
}

/* One "Key:   N kB" value of a rollup; 1 found, 0 absent, -EBADMSG bad. */
static int rollup_value(const char *text, const char *key, uint64_t *ret) {
        size_t klen = strlen(key);
        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, klen) != 0 || p[klen] != ':')
                        continue;
                const char *q = p + klen + 1, *end = q + strcspn(q, "\n");
                uint64_t v;
                (void) lex_spaces(&q, end);
                if (!lex_dec(&q, end, &v) || v > KIB_MAX || lex_spaces(&q, end) == 0 || end - q != 2 || q[0] != 'k' ||
                    q[1] != 'B')
                        return -EBADMSG;
                *ret = v;
                return 1;
        }
        return 0;
}

int smaps_rollup_parse(const char *text, SmapsRollup *ret) {
        SmapsRollup r = {};
        int k = rollup_value(text, "Pss_Anon", &r.pss_anon_kib);
        if (k <= 0)
                return k < 0 ? k : -ENODATA;
        uint64_t clean = 0, dirty = 0;
        if (rollup_value(text, "Pss_File", &r.pss_file_kib) < 0 || rollup_value(text, "Pss_Shmem", &r.pss_shmem_kib) < 0 ||
            rollup_value(text, "Rss", &r.rss_kib) < 0 || rollup_value(text, "Pss", &r.pss_kib) < 0 ||
            rollup_value(text, "Private_Clean", &clean) < 0 || rollup_value(text, "Private_Dirty", &dirty) < 0)
                return -EBADMSG;
        r.uss_kib = clean + dirty;
        *ret = r;
        return 0;
}

int smaps_rollup_read_pid(pid_t pid, SmapsRollup *ret) {
        char path[64];
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (pid <= 0)
                return -EINVAL;
        (void) snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
        int r = read_full_file(path, 64 * 1024, &text, &len);
        return r < 0 ? r : smaps_rollup_parse(text, ret);
}

void smaps_totals(const Smaps *s, SmapsTotals *ret) {
        *ret = s ? s->totals : (SmapsTotals) { 0 };
}

const SmapsMapping *smaps_find_address(const Smaps *s, uint64_t addr) {
        if (!s)
                return NULL;
        /* Binary search: mappings are sorted and disjoint (checked by the parser). */
        size_t lo = 0, hi = s->n_mappings;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const SmapsMapping *m = &s->mappings[mid];
                if (addr < m->start)
                        hi = mid;
                else if (addr >= m->end)
                        lo = mid + 1;
                else
                        return m;
        }
        return NULL;
}

/* True if s begins with prefix. */
static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Memory not backed by a file the VMM opened: where guest RAM usually lives. */
static bool mapping_is_anonymous(const SmapsMapping *m) {
        return m->path[0] == 0 || startswith(m->path, "[anon:") || startswith(m->path, "[anon_shmem:") ||
               startswith(m->path, "/memfd:") || streq(m->path, "/dev/zero (deleted)");
}

const SmapsMapping *smaps_guess_guest_ram(const Smaps *s, uint64_t guest_ram_bytes) {
        if (!s || guest_ram_bytes == 0)
                return NULL;

        const SmapsMapping *best = NULL;
        for (size_t i = 0; i < s->n_mappings; i++) {
                const SmapsMapping *m = &s->mappings[i];
                uint64_t size = m->end - m->start;
                if (m->perms[0] != 'r' || m->perms[1] != 'w' || !mapping_is_anonymous(m) || size < guest_ram_bytes)
                        continue;
                if (!best || size < best->end - best->start)
                        best = m;
        }
        return best;
}

/* A kB count as a JSON integer; saturated totals stay positive. */
static json_t *json_kib(uint64_t v) {
        return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t) v);
}

/* A JSON string of s; paths need not be UTF-8, so on failure retry with
 * every non-ASCII byte replaced by '?'. */
static json_t *json_string_lossy(const char *s) {
        json_t *j = json_string(s);
        if (j)
                return j;
        _cleanup_free_ char *copy = strdup(s);
        if (!copy)
                return NULL;
        for (char *c = copy; *c; c++)
                if ((unsigned char) *c >= 0x80)
                        *c = '?';
        return json_string(copy);
}

json_t *smaps_to_json_summary(const Smaps *s) {
        if (!s)
                return NULL;
        return json_pack("{s:o, s:o, s:o, s:o, s:I}", "rss_kib", json_kib(s->totals.rss_kib), "pss_kib",
                         json_kib(s->totals.pss_kib), "uss_kib", json_kib(s->totals.uss_kib), "swap_kib",
                         json_kib(s->totals.swap_kib), "mappings", (json_int_t) s->n_mappings);
}

/* pmap's Mode column: rwx, 's' for shared, and a fifth column that smaps
 * cannot fill (procps prints '-' there too for everything we see). */
static void pmap_mode(const SmapsMapping *m, char ret[static 6]) {
        ret[0] = m->perms[0];
        ret[1] = m->perms[1];
        ret[2] = m->perms[2];
        ret[3] = m->perms[3] == 's' ? 's' : '-';
        ret[4] = '-';
        ret[5] = 0;
}

/* pmap's Mapping column, as procps's mapping_name() (without its column padding). */
static const char *pmap_name(const SmapsMapping *m, char *buf, size_t size) {
        if (startswith(m->path, "/SYSV")) {
                (void) snprintf(buf, size, "[ shmid=0x%" PRIx64 " ]", m->inode);
                return buf;
        }
        const char *slash = strrchr(m->path, '/');
        if (slash)
                return slash[1] ? slash + 1 : slash;
        if (streq(m->path, "[stack]"))
                return "[ stack ]";
        return "[ anon ]";
}

json_t *smaps_pmap_table(const Smaps *s) {
        if (!s)
                return NULL;

        json_auto_t *rows = json_array();
        if (!rows)
                return NULL;
        for (size_t i = 0; i < s->n_mappings; i++) {
                const SmapsMapping *m = &s->mappings[i];
                char addr[17], mode[6], namebuf[64];
                (void) snprintf(addr, sizeof(addr), "%016" PRIx64, m->start);
                pmap_mode(m, mode);
                /* json_array_append_new() fails on NULL, so OOM cannot leak. */
                if (json_array_append_new(
                            rows, json_pack("{s:s, s:o, s:o, s:o, s:s, s:o}", "address", addr, "kbytes",
                                            json_kib((m->end - m->start) >> 10), "rss", json_kib(m->rss_kib), "dirty",
                                            json_kib(add_sat(m->shared_dirty_kib, m->private_dirty_kib)), "mode",
                                            mode, "mapping", json_string_lossy(pmap_name(m, namebuf, sizeof(namebuf))))) < 0)
                        return NULL;
        }
        return TAKE_PTR(rows);
}
