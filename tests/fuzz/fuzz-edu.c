/* fuzz-edu.c — fuzz target for the parser of edu-test's verdict lines
 * (edu_parse() in experiments/edu.c), which the guest prints.  The input is
 * the job output as the run hands it over: UTF-8 lines (vm.c scrubs them).
 * Checked: at most FEATURES_MAX verdicts, each {feature, result, detail}
 * strings with result pass, fail or skip, counted once in its result; the
 * failed names fit and are listed; the summary flag is exactly "a line
 * starts with EDU-TEST summary"; and no failed verdict is lost: every line
 * "EDU-TEST feature=NAME result=fail" (NAME plain ASCII) counts as a
 * failure unless the FEATURES_MAX cap was reached — a lost one would let a
 * broken device pass. */
#include "experiments/edu.c"

#include "fuzz.h"
#include "utf8.h"

typedef struct Reference {
        unsigned fails;    /* plain "EDU-TEST feature=NAME result=fail" lines */
        bool summary;      /* a line starts with "EDU-TEST summary" */
} Reference;

static bool plain_name(const char *s, size_t n) {
        return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") >= n;
}

static void reference_line(char *line, void *userdata) {
        Reference *ref = userdata;
        static const char prefix[] = LINE_PREFIX "feature=";
        if (strncmp(line, LINE_PREFIX "summary", strlen(LINE_PREFIX "summary")) == 0)
                ref->summary = true;
        if (strncmp(line, prefix, strlen(prefix)) != 0)
                return;
        const char *name = line + strlen(prefix);
        size_t n = strcspn(name, " ");
        const char *rest = name + n;
        if (plain_name(name, n) && strncmp(rest, " result=fail", 12) == 0 && (rest[12] == ' ' || rest[12] == 0))
                ref->fails++;
}

static void check_feature(json_t *f, unsigned counts[3]) {
        static const char *const results[] = { "pass", "fail", "skip" };
        const char *feature = json_string_value(json_object_get(f, "feature"));
        const char *result = json_string_value(json_object_get(f, "result"));
        fuzz_assert(json_is_object(f) && json_object_size(f) == 3);
        fuzz_assert(feature && result && json_is_string(json_object_get(f, "detail")));
        for (size_t i = 0; i < ELEMENTSOF(results); i++)
                if (streq(result, results[i])) {
                        counts[i]++;
                        return;
                }
        fuzz_assert(!"a known result");
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_free_ char *out = fuzz_strndup(data, size);
        (void) utf8_scrub(out); /* console lines reach the kind as UTF-8 */
        EduReport rep;
        edu_parse(out, &rep);
        json_auto_t *features = rep.features;

        unsigned counts[3] = {};
        size_t i;
        json_t *f;
        fuzz_assert(json_is_array(features) && json_array_size(features) <= FEATURES_MAX);
        json_array_foreach(features, i, f) check_feature(f, counts);
        fuzz_assert(counts[0] == rep.pass && counts[1] == rep.fail && counts[2] == rep.skip);
        fuzz_assert(strnlen(rep.failed, sizeof(rep.failed)) < sizeof(rep.failed));
        fuzz_assert(!rep.failed[0] || rep.fail > 0); /* an empty name fails the run, naming nothing */

        Reference ref = {};
        fuzz_foreach_line((const uint8_t *) out, strlen(out), reference_line, &ref);
        fuzz_assert(rep.summary == ref.summary);
        if (json_array_size(features) < FEATURES_MAX) {
                if (rep.fail < ref.fails)
                        fprintf(stderr, "fuzz: %u failed verdicts, %u counted\n", ref.fails, rep.fail);
                fuzz_assert(rep.fail >= ref.fails);
        }
        return 0;
}
