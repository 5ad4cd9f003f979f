/* utf8.h — text from guests and VMMs may be any bytes; D-Bus strings and
 * JSON strings must be valid UTF-8. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Replaces every byte that is not part of a valid UTF-8 sequence with '?',
 * in place.  Returns the number of bytes replaced. */
unsigned utf8_scrub(char *s);
/* True when s is valid UTF-8 throughout. */
bool utf8_valid(const char *s);
/* The length of s cut to at most max bytes, at a character boundary. */
size_t utf8_prefix_len(const char *s, size_t max);
