/* fuzz-smaps.c — fuzz target for the smaps parser (smaps.c), whose text the
 * kernel writes about a VMM the guest drives: arbitrary bytes go to
 * smaps_parse(); whatever parses goes through every query and JSON view,
 * and the invariants the parser promises are checked (sorted, disjoint,
 * non-empty mappings that the address lookup finds). */
#include <jansson.h>

#include "fuzz.h"
#include "smaps.h"
#include "util.h"

static void check_mappings(const Smaps *s) {
        for (size_t i = 0; i < s->n_mappings; i++) {
                const SmapsMapping *m = &s->mappings[i];
                fuzz_assert(m->start < m->end);
                fuzz_assert(i == 0 || m->start >= s->mappings[i - 1].end);
                fuzz_assert(smaps_find_address(s, m->start) == m && smaps_find_address(s, m->end - 1) == m);
                fuzz_assert(m->path && strnlen(m->perms, sizeof(m->perms)) < sizeof(m->perms));
                (void) smaps_find_address(s, m->end);
        }
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_(smaps_freep) Smaps *s = NULL;
        size_t line = 0;
        int r = smaps_parse((const char *) data, size, &s, &line);
        if (r < 0) {
                /* Only these errors; a bad line is a line of the input. */
                fuzz_assert(r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
                fuzz_assert(r != -EBADMSG || (line > 0 && line <= size + 1));
                return 0;
        }

        SmapsTotals t;
        smaps_totals(s, &t);
        check_mappings(s);
        (void) smaps_guess_guest_ram(s, UINT64_C(128) << 20);
        (void) smaps_guess_guest_ram(s, 1);

        json_t *j = smaps_to_json_summary(s);
        json_t *table = smaps_pmap_table(s);
        fuzz_assert(j && table && json_array_size(table) == s->n_mappings);
        json_decref(j);
        json_decref(table);
        return 0;
}
