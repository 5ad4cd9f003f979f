/* strv.h — NULL-terminated string vectors (argv, metric lists): push,
 * formatted push, free, length and JSON conversion. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "util.h"

/* Appends a copy of s; *v stays NULL-terminated.  -ENOMEM. */
int strv_push(char ***v, size_t *n, const char *s);
/* Appends a formatted string. */
int strv_pushf(char ***v, size_t *n, const char *fmt, ...) _printf_(3, 4);
/* Frees every string and the vector; accepts NULL, returns NULL. */
char **strv_free(char **v);
static inline void strv_freep(char ***v) {
        (void) strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
/* Number of strings before the NULL. */
size_t strv_length(char *const *v);
/* True when s is one of v's strings. */
bool strv_contains(char *const *v, const char *s);
/* A JSON array of the strings; NULL on OOM. */
json_t *strv_to_json(char *const *v);
/* Joins with sep into buf (truncated to size), e.g. for "known: a, b, c". */
void strv_join(const char *const *v, const char *sep, char *buf, size_t size);
