/* fuzz.h — contract of a fuzz target: consume one input, never crash, and
 * check what the parser promises with fuzz_assert().  A violated promise
 * aborts, so libFuzzer saves the input as a crash and the corpus replay
 * (fuzz-main.c) prints "not ok" for its file.  The helpers turn the raw
 * bytes into what the daemon's parsers take: C strings and lines. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The target: one input, any bytes.  The return value is ignored. */
int fuzz_one(const uint8_t *data, size_t size);

/* Reports the violated invariant on stderr and aborts. */
_Noreturn void fuzz_violation(const char *expr, const char *file, int line);
#define fuzz_assert(expr) ((expr) ? (void) 0 : fuzz_violation(#expr, __FILE__, __LINE__))

/* A NUL-terminated malloc'd copy of the input (a parser of C strings sees it
 * up to the first NUL); aborts on OOM. */
char *fuzz_strndup(const uint8_t *data, size_t size);
/* Calls cb for each '\n'-terminated (or final) line of the input, as a
 * NUL-terminated copy without the '\n' that cb may modify. */
void fuzz_foreach_line(const uint8_t *data, size_t size, void (*cb)(char *line, void *userdata), void *userdata);
/* True if s is valid UTF-8 (RFC 3629): what D-Bus and JSON strings must be. */
bool fuzz_is_utf8(const char *s);
