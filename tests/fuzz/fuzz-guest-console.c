/* fuzz-guest-console.c — fuzz target for the guest console protocol
 * (guest-protocol.c), whose lines the guest prints.  The input, split into
 * lines, is fed to a GuestConsole scrubbed to UTF-8 the way vm.c delivers
 * console lines, or as raw bytes when its first byte is odd (one pass per
 * input is twice as fast, and the choice survives most mutations).  A first line "marker=TEXT" sets the
 * image's marker.  Checked after every line: each event at most once and
 * only with its state, output is whole lines within GUEST_OUTPUT_MAX and
 * grows only by the line just fed, the result frame is taken at most once
 * (an object or a reason, never both) and never changes afterwards, and
 * with UTF-8 lines everything it keeps is UTF-8.
 *
 * The cap is lowered so inputs of a few KiB reach it: the code is the
 * daemon's own, compiled with a smaller GUEST_OUTPUT_MAX. */
#include "guest-protocol.h"
#undef GUEST_OUTPUT_MAX
#define GUEST_OUTPUT_MAX 2048U
#include "guest-protocol.c"

#include "fuzz.h"
#include "utf8.h"

#define ALL_EVENTS (GUEST_LINE_KERNEL | GUEST_LINE_INIT | GUEST_LINE_OUTPUT | GUEST_LINE_RESULT)

typedef struct Feed {
        GuestConsole gc;        /* the parser under test */
        bool scrub;             /* feed lines scrubbed to UTF-8 (as vm.c does) */
        bool first;             /* the next line is the first */
        unsigned seen;          /* OR of the events so far */
        json_t *result;         /* gc.result when the frame was taken */
        char result_error[sizeof(((GuestConsole *) NULL)->result_error)]; /* gc.result_error then */
} Feed;

/* Per line, in time linear in the line: output grew by this line or not at all. */
static void check_output(const GuestConsole *gc, size_t before, const char *line, unsigned ev) {
        fuzz_assert(gc->output_len <= GUEST_OUTPUT_MAX);
        fuzz_assert((gc->output == NULL) == (gc->output_len == 0));
        if (!(ev & GUEST_LINE_OUTPUT)) {
                fuzz_assert(gc->output_len == before);
                return;
        }
        fuzz_assert(!guest_is_printk_line(line));
        size_t n = strlen(line);
        if (gc->output_len == before) /* dropped whole: it did not fit */
                fuzz_assert(before + n + 1 > GUEST_OUTPUT_MAX);
        else
                fuzz_assert(gc->output_len == before + n + 1 && memcmp(gc->output + before, line, n) == 0 &&
                            gc->output[before + n] == '\n' && gc->output[before + n + 1] == 0);
}

static void check_result(Feed *f, unsigned ev) {
        const GuestConsole *gc = &f->gc;
        fuzz_assert(!(gc->result && gc->result_error[0]));
        fuzz_assert(strnlen(gc->result_error, sizeof(gc->result_error)) < sizeof(gc->result_error));
        fuzz_assert(!gc->result || json_is_object(gc->result));
        if (ev & GUEST_LINE_RESULT) {
                fuzz_assert(!(f->seen & GUEST_LINE_RESULT)); /* parsed at most once */
                fuzz_assert(gc->result || gc->result_error[0]);
                f->result = gc->result;
                memcpy(f->result_error, gc->result_error, sizeof(f->result_error));
        } else if (f->seen & GUEST_LINE_RESULT) /* later frames are ignored */
                fuzz_assert(gc->result == f->result && streq(gc->result_error, f->result_error));
        else
                fuzz_assert(!gc->result && !gc->result_error[0]);
}

/* Once at the end: what the console kept, whole. */
static void check_final(const Feed *f) {
        const GuestConsole *gc = &f->gc;
        if (gc->output)
                fuzz_assert(strlen(gc->output) == gc->output_len && gc->output[gc->output_len - 1] == '\n');
        if (gc->result) {
                _cleanup_free_ char *text = json_dumps(gc->result, JSON_COMPACT);
                fuzz_assert(text);
        }
        if (f->scrub) {
                fuzz_assert(fuzz_is_utf8(gc->result_error));
                fuzz_assert(!gc->output || fuzz_is_utf8(gc->output));
        }
}

static void feed_line(char *line, void *userdata) {
        Feed *f = userdata;
        if (f->scrub)
                (void) utf8_scrub(line);
        if (f->first) {
                f->first = false;
                if (strncmp(line, "marker=", 7) == 0) {
                        guest_console_done(&f->gc);
                        guest_console_init(&f->gc, line + 7);
                        fuzz_assert(strlen(f->gc.marker) < sizeof(f->gc.marker) && f->gc.marker[0]);
                        return;
                }
        }
        size_t before = f->gc.output_len;
        unsigned ev = guest_console_feed(&f->gc, line);
        fuzz_assert((ev & ~ALL_EVENTS) == 0);
        fuzz_assert(!(ev & f->seen & (GUEST_LINE_KERNEL | GUEST_LINE_INIT))); /* once each */
        fuzz_assert(!(ev & GUEST_LINE_KERNEL) || strstr(line, GUEST_KERNEL_BANNER));
        fuzz_assert(!(ev & GUEST_LINE_INIT) || strstr(line, f->gc.marker));
        fuzz_assert(!(ev & GUEST_LINE_RESULT) || strstr(line, GUEST_RESULT_PREFIX));
        check_output(&f->gc, before, line, ev);
        check_result(f, ev);
        f->seen |= ev;
        fuzz_assert(f->gc.seen_kernel == !!(f->seen & GUEST_LINE_KERNEL));
        fuzz_assert(f->gc.seen_init == !!(f->seen & GUEST_LINE_INIT));
}

static void feed(const uint8_t *data, size_t size, bool scrub) {
        Feed f = { .scrub = scrub, .first = true };
        guest_console_init(&f.gc, NULL);
        fuzz_foreach_line(data, size, feed_line, &f);
        check_final(&f);
        guest_console_done(&f.gc);
}

int fuzz_one(const uint8_t *data, size_t size) {
        feed(data, size, size == 0 || !(data[0] & 1));
        return 0;
}
