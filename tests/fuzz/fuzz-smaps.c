/* fuzz-smaps.c — fuzz target for the smaps parser: arbitrary bytes go to
 * smaps_parse(); whatever parses goes through every query and JSON view,
 * and the invariants the parser promises are checked with abort(). */
#include <jansson.h>

#include "fuzz.h"
#include "smaps.h"
#include "util.h"

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_(smaps_freep) Smaps *s = NULL;
        size_t line = 0;
        int r = smaps_parse((const char *) data, size, &s, &line);
        if (r < 0) {
                /* Only these errors; a bad line is a line of the input. */
                if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
                        abort();
                if (r == -EBADMSG && (line == 0 || line > size + 1))
                        abort();
                return 0;
        }

        SmapsTotals t;
        smaps_totals(s, &t);
        for (size_t i = 0; i < s->n_mappings; i++) {
                const SmapsMapping *m = &s->mappings[i];
                if (m->start >= m->end || (i > 0 && m->start < s->mappings[i - 1].end))
                        abort();
                if (smaps_find_address(s, m->start) != m || smaps_find_address(s, m->end - 1) != m)
                        abort();
                (void) smaps_find_address(s, m->end);
        }
        (void) smaps_guess_guest_ram(s, UINT64_C(128) << 20);
        (void) smaps_guess_guest_ram(s, 1);

        json_t *j = smaps_to_json_summary(s);
        json_t *table = smaps_pmap_table(s);
        if (!j || !table || json_array_size(table) != s->n_mappings)
                abort();
        json_decref(j);
        json_decref(table);
        return 0;
}
