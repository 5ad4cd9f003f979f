/* guest-protocol.h — the console protocol between a virtlab guest and the
 * host, defined once: virtlab-init (guest-images/) and the noop micro-guest
 * print it, the runner (run.c) parses it with the GuestConsole below, and
 * guest-images/Makefile reads the marker from here.
 *
 *   VIRTLAB-INIT-MARKER                      the guest's first action (image.json "marker")
 *   @@VIRTLAB-BEGIN job=NAME@@               job output follows
 *   ...                                      job text
 *   @@VIRTLAB-END job=NAME rc=N@@
 *   @@VIRTLAB-RESULT@@ {json on one line}    at least {"job":…, "rc":N}
 *
 * Plus two optional I/O port writes for VMMs that log them (StratoVirt's
 * boot_time feature): GUEST_BOOT_PORT_INIT_STARTED after the marker,
 * GUEST_BOOT_PORT_JOB_DONE after the result.
 *
 * Only the #defines are for the guest side (which has no JSON library); the
 * parser needs jansson. */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_INIT_MARKER "VIRTLAB-INIT-MARKER"
#define GUEST_FRAME_BEGIN "@@VIRTLAB-BEGIN "
#define GUEST_FRAME_END "@@VIRTLAB-END "
#define GUEST_RESULT_PREFIX "@@VIRTLAB-RESULT@@ "
/* The first line a Linux kernel prints: the "kernel" phase. */
#define GUEST_KERNEL_BANNER "Linux version "
#define GUEST_BOOT_PORT 0x3ff
#define GUEST_BOOT_PORT_INIT_STARTED 0x01
#define GUEST_BOOT_PORT_JOB_DONE 0x02
/* Job output kept per run; more is dropped (the console log keeps it all). */
#define GUEST_OUTPUT_MAX (4U * 1024U * 1024U)

struct json_t;

/* What one console line meant (a bit set). */
typedef enum GuestLineEvent {
        GUEST_LINE_KERNEL = 1 << 0, /* first kernel banner */
        GUEST_LINE_INIT = 1 << 1,   /* first init marker */
        GUEST_LINE_OUTPUT = 1 << 2, /* a line of job output (inside the frame, not a printk line) */
        GUEST_LINE_RESULT = 1 << 3, /* the result frame arrived (see result / result_error) */
} GuestLineEvent;

typedef struct GuestConsole {
        char marker[128];          /* the image's marker text */
        bool seen_kernel;          /* GUEST_LINE_KERNEL delivered */
        bool seen_init;            /* GUEST_LINE_INIT delivered */
        bool in_frame;             /* between BEGIN and END */
        char *output;              /* job output lines, '\n'-terminated, NUL-terminated; NULL before any */
        size_t output_len;         /* bytes in output */
        struct json_t *result;     /* the result object, NULL before it (or when it did not parse) */
        char result_error[256];    /* why the result frame was rejected, "" if it was not */
        const regex_t *marker_re;  /* a guest of the caller's: its marker as a regex (borrowed), NULL: marker */
        bool result_at_marker;     /* the guest prints no result frame: the marker is its result */
} GuestConsole;

/* Starts a parser for an image whose marker is `marker` (NULL: the default). */
void guest_console_init(GuestConsole *gc, const char *marker);
void guest_console_done(GuestConsole *gc);
/* Feeds one console line (no line ending); returns the GuestLineEvent bits.
 * A result frame is taken once: later ones are ignored. */
unsigned guest_console_feed(GuestConsole *gc, const char *line);
/* A guest that is not virtlab's own (bring your own): re replaces the
 * literal marker and is matched on unfinished lines too (a login prompt
 * has no newline); with result_at_marker the marker also stands for the
 * result frame such a guest never prints ({"job":"boot","rc":0}). */
void guest_console_set_marker_regex(GuestConsole *gc, const regex_t *re, bool result_at_marker);
/* Feeds the unfinished line so far: only a regex marker is looked for
 * there.  Returns GuestLineEvent bits like guest_console_feed(). */
unsigned guest_console_feed_partial(GuestConsole *gc, const char *text);
/* True for printk lines ("[    1.234567] ..."), which are never job output. */
bool guest_is_printk_line(const char *line);
