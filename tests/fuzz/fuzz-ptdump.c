/* fuzz-ptdump.c — fuzz target for the parser of the guest's page-table walk
 * (guest_walk_parse() in experiments/translate.c), the "ptdump ..." lines
 * virtlab-ptdump prints.  The input is the job output as the run hands it
 * over (UTF-8 lines).  Checked: the result is an object with a "levels"
 * list of {level, table_gpa, index, entry} and prints as JSON; a guest's
 * error line ("ptdump error=", "ptdump module=") is never lost, since it
 * decides whether the run fails; a plain alloc line gives the address the
 * host then walks; and a walk agrees with itself (walks_agree()). */
#include "experiments/translate.c"

#include "fuzz.h"
#include "utf8.h"

typedef struct Reference {
        bool error;        /* a "ptdump error=" or "ptdump module=" line */
        bool alloc_gva;    /* a "ptdump alloc gva=0x<hex> ..." line */
} Reference;

static void reference_line(char *line, void *userdata) {
        Reference *ref = userdata;
        if (strncmp(line, "ptdump error=", 13) == 0 || strncmp(line, "ptdump module=", 14) == 0)
                ref->error = true;
        if (strncmp(line, "ptdump alloc gva=0x", 19) == 0) {
                size_t n = strspn(line + 19, "0123456789abcdef");
                ref->alloc_gva = ref->alloc_gva || (n > 0 && n <= 16 && (line[19 + n] == ' ' || line[19 + n] == 0));
        }
}

static void check_levels(json_t *levels) {
        size_t i;
        json_t *l;
        fuzz_assert(json_is_array(levels));
        json_array_foreach(levels, i, l) {
                fuzz_assert(json_is_string(json_object_get(l, "level")) && json_is_string(json_object_get(l, "table_gpa")));
                fuzz_assert(json_is_integer(json_object_get(l, "index")) && json_is_string(json_object_get(l, "entry")));
        }
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_free_ char *out = fuzz_strndup(data, size);
        (void) utf8_scrub(out); /* console lines reach the kind as UTF-8 */
        json_auto_t *g = guest_walk_parse(out);
        fuzz_assert(json_is_object(g) && json_is_string(json_object_get(g, "how")));
        check_levels(json_object_get(g, "levels"));
        _cleanup_free_ char *text = json_dumps(g, JSON_COMPACT);
        fuzz_assert(text);

        Reference ref = {};
        fuzz_foreach_line((const uint8_t *) out, strlen(out), reference_line, &ref);
        if (ref.error && !json_is_string(json_object_get(g, "error")))
                fprintf(stderr, "fuzz: the guest's error line was lost\n");
        fuzz_assert(!ref.error || json_is_string(json_object_get(g, "error")));
        fuzz_assert(!ref.alloc_gva || json_is_string(json_object_get(g, "alloc_gva")));

        char why[128];
        fuzz_assert(walks_agree(g, g, why, sizeof(why)));
        return 0;
}
