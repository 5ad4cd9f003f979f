/* smaps.h — parsed /proc/PID/smaps of a VMM process: per-mapping sizes, the
 * RSS/PSS/USS/swap totals, the guest-RAM mapping and a `pmap -x`-style table
 * (DESIGN.md §4 "Memory").  The text is untrusted: the parser rejects
 * anything that is not smaps with -EBADMSG and never reads out of bounds. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* More mappings than this is not a process we measure (-E2BIG); the kernel's
 * default vm.max_map_count is 65530. */
#define SMAPS_MAPPINGS_MAX (1U << 20)
/* Largest smaps text smaps_read_pid() reads (-E2BIG beyond). */
#define SMAPS_TEXT_MAX ((size_t) 256 << 20)

typedef struct SmapsMapping {
        uint64_t start;             /* first address of the mapping */
        uint64_t end;               /* one past its last address; > start */
        char perms[5];              /* "rwxp"-style permissions, NUL-terminated */
        uint64_t offset;            /* offset in the backing file, bytes */
        unsigned dev_major;         /* device of the backing file (hex in the text) */
        unsigned dev_minor;         /* minor number of the same device */
        uint64_t inode;             /* inode of the backing file; 0 if anonymous */
        char *path;                 /* "" if anonymous, else e.g. "/usr/bin/x", "[heap]", "[anon:name]" */
        uint64_t size_kib;          /* Size: the virtual size */
        uint64_t rss_kib;           /* Rss: resident */
        uint64_t pss_kib;           /* Pss: resident, shared pages divided among sharers */
        uint64_t shared_clean_kib;  /* Shared_Clean */
        uint64_t shared_dirty_kib;  /* Shared_Dirty */
        uint64_t private_clean_kib; /* Private_Clean */
        uint64_t private_dirty_kib; /* Private_Dirty */
        uint64_t anonymous_kib;     /* Anonymous: resident anonymous pages */
        uint64_t swap_kib;          /* Swap */
} SmapsMapping;

typedef struct SmapsTotals {
        uint64_t rss_kib;  /* Σ Rss */
        uint64_t pss_kib;  /* Σ Pss */
        uint64_t uss_kib;  /* Σ Private_Clean + Private_Dirty: freed if the process exits */
        uint64_t swap_kib; /* Σ Swap */
} SmapsTotals;

typedef struct Smaps {
        SmapsMapping *mappings; /* sorted by start, non-overlapping */
        size_t n_mappings;      /* number of entries in mappings */
        SmapsTotals totals;     /* sums over all mappings (saturating) */
} Smaps;

/* Frees s and every path it owns; accepts NULL, returns NULL. */
Smaps *smaps_free(Smaps *s);
/* For _cleanup_(smaps_freep). */
static inline void smaps_freep(Smaps **s) {
        (void) smaps_free(*s);
}

/* Parses len bytes of smaps text (need not be NUL-terminated; empty text is
 * a process without mappings).  -EBADMSG on anything else, with the 1-based
 * number of the offending line in *reterr_line (may be NULL); -E2BIG past
 * SMAPS_MAPPINGS_MAX; -ENOMEM.  Unknown keys (VmFlags, THPeligible, …) are skipped. */
int smaps_parse(const char *text, size_t len, Smaps **ret, size_t *reterr_line);

/* Reads and parses /proc/pid/smaps.  -EINVAL for pid <= 0, -errno from
 * open/read (-ENOENT: no such process), else as smaps_parse(). */
int smaps_read_pid(pid_t pid, Smaps **ret);

/* The Pss split of /proc/PID/smaps_rollup (Linux 5.7+): what of the PSS is
 * anonymous memory (the per-VM cost when several VMMs share their program
 * pages), file-backed and shmem. */
typedef struct SmapsRollup {
        uint64_t rss_kib;        /* Rss */
        uint64_t pss_kib;        /* Pss */
        uint64_t uss_kib;        /* Private_Clean + Private_Dirty */
        uint64_t pss_anon_kib;   /* Pss_Anon */
        uint64_t pss_file_kib;   /* Pss_File */
        uint64_t pss_shmem_kib;  /* Pss_Shmem */
} SmapsRollup;

/* Parses smaps_rollup text; -ENODATA when it has no Pss_Anon (an older
 * kernel), -EBADMSG when a value is not "N kB". */
int smaps_rollup_parse(const char *text, SmapsRollup *ret);
/* Reads and parses /proc/pid/smaps_rollup; -errno from reading it. */
int smaps_rollup_read_pid(pid_t pid, SmapsRollup *ret);

/* Copies the totals of s into *ret. */
void smaps_totals(const Smaps *s, SmapsTotals *ret);

/* The mapping that contains addr, or NULL. */
const SmapsMapping *smaps_find_address(const Smaps *s, uint64_t addr);

/* Heuristic fallback when the VMM cannot tell where guest RAM lives: among
 * the readable+writable anonymous mappings ("", "[anon:…]", "[anon_shmem:…]",
 * "/memfd:…", "/dev/zero (deleted)"), the one whose size is >= guest_ram_bytes
 * and closest to it (lowest address on a tie); NULL if none or guest_ram_bytes
 * is 0.  Wrong when the VMM splits RAM over several mappings or keeps a larger
 * anonymous buffer of nearly that size (e.g. a TCG code buffer). */
const SmapsMapping *smaps_guess_guest_ram(const Smaps *s, uint64_t guest_ram_bytes);

/* {"rss_kib", "pss_kib", "uss_kib", "swap_kib", "mappings"}; NULL on OOM. */
json_t *smaps_to_json_summary(const Smaps *s);

/* `pmap -x` as a JSON array, one object per mapping: "address" (16 hex
 * digits), "kbytes", "rss", "dirty" (shared + private), "mode" ("r-x--"),
 * "mapping" (basename, "[ anon ]", "[ stack ]"); NULL on OOM. */
json_t *smaps_pmap_table(const Smaps *s);
