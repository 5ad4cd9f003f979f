/* fuzz-mtree.c — fuzz target for the `info mtree` parser (mtree.c), whose
 * text comes from the VMM over HMP: arbitrary bytes go to mtree_parse();
 * whatever parses is printed as text and DOT, the text is parsed again, and
 * the invariants the parser promises are checked. */
#include <jansson.h>

#include "fuzz.h"
#include "mtree.h"
#include "util.h"

int fuzz_one(const uint8_t *data, size_t size) {
        json_auto_t *doc = NULL, *again = NULL;
        size_t line = 0;
        int r = mtree_parse((const char *) data, size, &doc, &line);
        if (r < 0) {
                fuzz_assert(r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
                fuzz_assert(r != -EBADMSG || line <= size + 1);
                return 0;
        }
        _cleanup_free_ char *text = NULL, *dot = NULL;
        fuzz_assert(mtree_format_text(doc, &text) >= 0);
        r = mtree_format_dot(doc, NULL, &dot);
        fuzz_assert(r >= 0 || r == -ENOENT || r == -EOPNOTSUPP);
        (void) mtree_find_region(doc, "system");
        /* What we print, we parse (an empty document prints as nothing). */
        fuzz_assert(!text[0] || mtree_parse(text, strlen(text), &again, &line) >= 0);
        return 0;
}
