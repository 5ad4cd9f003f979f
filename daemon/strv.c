/* strv.c — string vectors. */
#include "strv.h"

#include <stdarg.h>
#include <stdio.h>

int strv_push(char ***v, size_t *n, const char *s) {
        char *copy = strdup(s);
        char **nv = copy ? realloc(*v, sizeof(char *) * (*n + 2)) : NULL;
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[(*n)++] = copy;
        nv[*n] = NULL;
        *v = nv;
        return 0;
}

int strv_pushf(char ***v, size_t *n, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0) {
                s = NULL;
                return -ENOMEM;
        }
        return strv_push(v, n, s);
}

char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

size_t strv_length(char *const *v) {
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

bool strv_contains(char *const *v, const char *s) {
        for (char *const *p = v; p && *p; p++)
                if (streq(*p, s))
                        return true;
        return false;
}

json_t *strv_to_json(char *const *v) {
        json_t *a = json_array();
        for (char *const *p = v; a && p && *p; p++)
                json_array_append_new(a, json_string(*p));
        return a;
}

void strv_join(const char *const *v, const char *sep, char *buf, size_t size) {
        size_t len = 0;
        if (size == 0)
                return;
        buf[0] = 0;
        for (const char *const *p = v; p && *p && len < size; p++) {
                int k = snprintf(buf + len, size - len, "%s%s", p == v ? "" : sep, *p);
                if (k < 0)
                        break;
                len += (size_t) k;
        }
}
