/* spec.c — shared experiment-spec checks. */
#include "spec.h"

#include <stdio.h>

int spec_fail(char **ret_error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return -EINVAL;
}

int spec_check_int(json_t *spec, const char *field, json_int_t def, json_int_t min, json_int_t max, char **ret_error) {
        json_t *v = json_object_get(spec, field);
        if (!v)
                return json_object_set_new(spec, field, json_integer(def)) < 0 ? -ENOMEM : 0;
        if (!json_is_integer(v))
                return spec_fail(ret_error, "Field '%s' must be an integer", field);
        json_int_t x = json_integer_value(v);
        if (x < min || x > max)
                return spec_fail(ret_error, "Invalid %s %" JSON_INTEGER_FORMAT ": must be between %" JSON_INTEGER_FORMAT
                                            " and %" JSON_INTEGER_FORMAT, field, x, min, max);
        return 0;
}

int spec_check_bool(json_t *spec, const char *field, bool def, char **ret_error) {
        json_t *v = json_object_get(spec, field);
        if (!v)
                return json_object_set_new(spec, field, json_boolean(def)) < 0 ? -ENOMEM : 0;
        if (!json_is_boolean(v))
                return spec_fail(ret_error, "Field '%s' must be true or false", field);
        return 0;
}
