/* guest-protocol.c — the host's parser of the guest console protocol
 * (guest-protocol.h).  Pure: no I/O, no clock. */
#include "guest-protocol.h"

#include <jansson.h>
#include <stdio.h>

#include "utf8.h"
#include "util.h"

void guest_console_init(GuestConsole *gc, const char *marker) {
        *gc = (GuestConsole) {};
        snprintf(gc->marker, sizeof(gc->marker), "%s", marker && *marker ? marker : GUEST_INIT_MARKER);
}

void guest_console_done(GuestConsole *gc) {
        free(gc->output);
        json_decref(gc->result);
        *gc = (GuestConsole) {};
}

bool guest_is_printk_line(const char *line) {
        size_t i = 0;
        if (line[i++] != '[')
                return false;
        while (line[i] == ' ')
                i++;
        size_t digits = strspn(line + i, "0123456789");
        return digits > 0 && line[i + digits] == '.' && strchr(line + i, ']') != NULL;
}

static void append_output(GuestConsole *gc, const char *line) {
        size_t n = strlen(line);
        if (gc->output_len + n + 1 > GUEST_OUTPUT_MAX)
                return;
        char *p = realloc(gc->output, gc->output_len + n + 2);
        if (!p)
                return;
        memcpy(p + gc->output_len, line, n);
        gc->output_len += n;
        p[gc->output_len++] = '\n';
        p[gc->output_len] = 0;
        gc->output = p;
}

static void take_result(GuestConsole *gc, const char *json_text) {
        json_error_t e;
        /* Trailing bytes after the object (a stray kernel message) are not the guest's. */
        json_t *res = json_loads(json_text, JSON_DISABLE_EOF_CHECK, &e);
        if (!json_is_object(res)) {
                json_decref(res);
                snprintf(gc->result_error, sizeof(gc->result_error), "Guest result frame is not a JSON object: %s", e.text);
                /* jansson quotes the bytes near the error one by one: the quote may end inside a character. */
                (void) utf8_scrub(gc->result_error);
                return;
        }
        gc->result = res;
}

void guest_console_set_marker_regex(GuestConsole *gc, const regex_t *re, bool result_at_marker) {
        gc->marker_re = re;
        gc->result_at_marker = result_at_marker;
}

static bool marker_in(const GuestConsole *gc, const char *text) {
        return gc->marker_re ? regexec(gc->marker_re, text, 0, NULL, 0) == 0 : strstr(text, gc->marker) != NULL;
}

/* The marker seen: GUEST_LINE_INIT, and the result it stands for. */
static unsigned take_marker(GuestConsole *gc, const char *text) {
        gc->seen_init = true;
        if (!gc->result_at_marker || gc->result || gc->result_error[0])
                return GUEST_LINE_INIT;
        gc->result = json_pack("{s:s, s:i, s:s%}", "job", "boot", "rc", 0, "marker_line", text, utf8_prefix_len(text, 200));
        return GUEST_LINE_INIT | GUEST_LINE_RESULT;
}

unsigned guest_console_feed_partial(GuestConsole *gc, const char *text) {
        return !gc->seen_init && gc->marker_re && marker_in(gc, text) ? take_marker(gc, text) : 0;
}

unsigned guest_console_feed(GuestConsole *gc, const char *line) {
        unsigned ev = 0;
        if (!gc->seen_kernel && strstr(line, GUEST_KERNEL_BANNER)) {
                gc->seen_kernel = true;
                ev |= GUEST_LINE_KERNEL;
        }
        if (!gc->seen_init && marker_in(gc, line))
                ev |= take_marker(gc, line);
        if (strncmp(line, GUEST_FRAME_END, strlen(GUEST_FRAME_END)) == 0)
                gc->in_frame = false;
        else if (gc->in_frame) {
                if (!guest_is_printk_line(line)) {
                        append_output(gc, line);
                        ev |= GUEST_LINE_OUTPUT;
                }
        } else if (strncmp(line, GUEST_FRAME_BEGIN, strlen(GUEST_FRAME_BEGIN)) == 0)
                gc->in_frame = true;
        /* strstr, not a prefix match: a stray kernel message may precede it on the line. */
        const char *result = gc->result || gc->result_error[0] ? NULL : strstr(line, GUEST_RESULT_PREFIX);
        if (result) {
                take_result(gc, result + strlen(GUEST_RESULT_PREFIX));
                ev |= GUEST_LINE_RESULT;
        }
        return ev;
}
