/* fuzz-mtree.c — fuzz target for the `info mtree` parser: arbitrary bytes go
 * to mtree_parse(); whatever parses is printed as text and DOT, the text is
 * parsed again, and the invariants the parser promises are checked with
 * abort(). */
#include <jansson.h>

#include "fuzz.h"
#include "mtree.h"
#include "util.h"

int fuzz_one(const uint8_t *data, size_t size) {
        json_auto_t *doc = NULL, *again = NULL;
        size_t line = 0;
        int r = mtree_parse((const char *) data, size, &doc, &line);
        if (r < 0) {
                if (r != -EBADMSG && r != -E2BIG && r != -ENOMEM)
                        abort();
                if (r == -EBADMSG && line > size + 1)
                        abort();
                return 0;
        }
        _cleanup_free_ char *text = NULL, *dot = NULL;
        if (mtree_format_text(doc, &text) < 0)
                abort();
        r = mtree_format_dot(doc, NULL, &dot);
        if (r < 0 && r != -ENOENT && r != -EOPNOTSUPP)
                abort();
        (void) mtree_find_region(doc, "system");
        /* What we print, we parse (an empty document prints as nothing). */
        if (text[0] && mtree_parse(text, strlen(text), &again, &line) < 0)
                abort();
        return 0;
}
