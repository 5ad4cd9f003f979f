/* fuzz-bench.c — fuzz target for what the bench kinds read from the guest
 * (experiments/bench.c): the progress line per cell (bench_progress(), whose
 * text becomes the job's D-Bus Phase property) and the framed sysbench
 * reports (bench_parse(): cell_text(), sysbench_parse(), the figures and the
 * failure sentence).  The input is the job output as the run hands it over
 * (UTF-8 lines), read for the quick spec of the kind whose cells it names
 * (bench-fileio for a fileio mode, bench-memory for seq/rnd, else
 * bench-cpu), checked as plan_new() would.  Checked: a
 * progress line gives a phase that is UTF-8, "cell k/N ..." with k counting
 * the cell lines; a parse either fails with a bounded sentence or records
 * every cell's positive headline figure and a "bench" summary listing every
 * cell; the sample always prints as JSON. */
#include "experiments/bench.c"

#include "fuzz.h"
#include "plan.h"
#include "utf8.h"

/* The run error is stored and sent over D-Bus: the guest's words are cut. */
#define WHY_MAX 1024

static const char *const spec_texts[][2] = {
        { "bench-cpu", "{\"quick\":true}" },
        { "bench-memory", "{\"quick\":true}" },
        { "bench-fileio", "{\"quick\":true}" },
};
static json_t *specs[ELEMENTSOF(spec_texts)];

static void specs_make(void) {
        for (size_t i = 0; i < ELEMENTSOF(spec_texts); i++) {
                _cleanup_free_ char *error = NULL;
                specs[i] = json_loads(spec_texts[i][1], 0, NULL);
                fuzz_assert(specs[i] && plan_check_spec(experiment_kind_find(spec_texts[i][0]), specs[i], &error) == 0);
        }
}

typedef struct Progress {
        json_t *spec;      /* the job's spec */
        BenchRun b;        /* the run's state */
        unsigned lines;    /* lines fed */
        unsigned cells;    /* "@@BENCH-CELL " lines among them */
} Progress;

static void progress_line(char *line, void *userdata) {
        Progress *p = userdata;
        bool cell = strncmp(line, "@@BENCH-CELL ", 13) == 0;
        bool changed = bench_progress(&p->b, p->spec, 0, line, 2 + (usec_t) p->lines++ * USEC_PER_SEC);
        p->cells += cell;
        fuzz_assert(changed == cell && p->b.cell == p->cells);
        if (!changed)
                return;
        fuzz_assert(strnlen(p->b.phase, sizeof(p->b.phase)) < sizeof(p->b.phase) && strncmp(p->b.phase, "cell ", 5) == 0);
        if (!fuzz_is_utf8(p->b.phase))
                fprintf(stderr, "fuzz: the Phase property would not be UTF-8: %s\n", p->b.phase);
        fuzz_assert(fuzz_is_utf8(p->b.phase));
}

static void check_parsed(json_t *spec, json_t *sample) {
        BenchType type = bench_type_of(spec);
        char **cells = NULL;
        fuzz_assert(bench_cells(spec, &cells) == 0);
        size_t n = 0;
        for (char **c = cells; *c; c++, n++) {
                char name[128];
                snprintf(name, sizeof(name), "%s.%s", *c, bench_figures[type][0]);
                fuzz_assert(json_number_value(json_object_get(sample, name)) > 0);
        }
        strv_free(cells);
        json_t *bench = json_object_get(sample, "bench");
        fuzz_assert(json_is_object(bench) && json_array_size(json_object_get(bench, "cells")) == n);
}

static void check_spec(json_t *spec, const char *out) {
        Progress p = { .spec = spec, .b = { .t_run = 1 } };
        fuzz_foreach_line((const uint8_t *) out, strlen(out), progress_line, &p);

        json_auto_t *sample = json_object();
        _cleanup_free_ char *why = NULL;
        int r = bench_parse(spec, out, sample, &why);
        if (r < 0) {
                fuzz_assert(r == -EBADMSG && why && why[0]);
                if (strlen(why) > WHY_MAX)
                        fprintf(stderr, "fuzz: a run error of %zu bytes: %.200s...\n", strlen(why), why);
                fuzz_assert(strlen(why) <= WHY_MAX);
        } else {
                fuzz_assert(!why);
                check_parsed(spec, sample);
        }
        _cleanup_free_ char *text = json_dumps(sample, JSON_COMPACT);
        fuzz_assert(text);
}

/* The spec the output was printed for, by its first cell's name: one
 * spec per input keeps the target fast, and the choice is stable under
 * mutations elsewhere. */
static json_t *spec_for(const char *out) {
        const char *cell = strstr(out, "@@BENCH-CELL ");
        cell = cell ? cell + strlen("@@BENCH-CELL ") : NULL;
        size_t n = cell ? strcspn(cell, "@\n") : 0;
        for (const char *const *m = fileio_modes; cell && *m; m++)
                if (memmem(cell, n, *m, strlen(*m)))
                        return specs[2];
        if (cell && (memmem(cell, n, ".seq", 4) || memmem(cell, n, ".rnd", 4)))
                return specs[1];
        return specs[0];
}

int fuzz_one(const uint8_t *data, size_t size) {
        if (!specs[0])
                specs_make();
        _cleanup_free_ char *out = fuzz_strndup(data, size);
        (void) utf8_scrub(out); /* console lines reach the kind as UTF-8 */
        check_spec(spec_for(out), out);
        return 0;
}
