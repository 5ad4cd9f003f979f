/* utf8.c — in-place UTF-8 validation (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
#include "utf8.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid sequence starting at p, or 0 if it is invalid. */
static size_t utf8_valid_length(const unsigned char *p) {
        if (p[0] < 0x80)
                return 1;
        size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
        if (n == 0)
                return 0;
        uint32_t cp = p[0] & (0x7f >> n);
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3f);
        }
        static const uint32_t min_for_length[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (cp < min_for_length[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

unsigned utf8_scrub(char *s) {
        unsigned replaced = 0;
        unsigned char *p = (unsigned char *) s;
        while (*p) {
                size_t n = utf8_valid_length(p);
                if (n == 0) {
                        *p++ = '?';
                        replaced++;
                } else
                        p += n;
        }
        return replaced;
}

bool utf8_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                size_t n = utf8_valid_length(p);
                if (n == 0)
                        return false;
                p += n;
        }
        return true;
}

size_t utf8_prefix_len(const char *s, size_t max) {
        size_t n = strnlen(s, max);
        if (s[n] == 0)
                return n;
        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80)
                n--;
        return n;
}
