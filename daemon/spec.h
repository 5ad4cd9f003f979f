/* spec.h — checks shared by every experiment kind's spec validation.  Each
 * check fills a default when the field is absent and, on a bad value,
 * returns -EINVAL with a sentence naming the field and value. */
#pragma once

#include <jansson.h>

#include "util.h"

/* Formats *ret_error; returns -EINVAL (or -ENOMEM if formatting failed). */
int spec_fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
/* Integer field in [min, max], def when absent. */
int spec_check_int(json_t *spec, const char *field, json_int_t def, json_int_t min, json_int_t max, char **ret_error);
/* Boolean field, def when absent. */
int spec_check_bool(json_t *spec, const char *field, bool def, char **ret_error);
