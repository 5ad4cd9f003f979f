/* spec.h — the one spec checker: every experiment field, common or a
 * kind's own, is a row of a SpecField table (name, type, default, range);
 * spec_check() walks the tables, fills defaults, and refuses a bad value with
 * one sentence naming the field and (at most SPEC_ECHO_MAX bytes of) the
 * value.  Fields that need more than a type and a range name a check
 * function.  The bus, the plan and every kind use these texts, so each
 * message exists once. */
#pragma once

#include <jansson.h>

#include "util.h"

/* Longest piece of a caller's value quoted back in an error. */
#define SPEC_ECHO_MAX 256

typedef enum SpecType {
        SPEC_INT,    /* integer in [min, max] */
        SPEC_BOOL,   /* true or false */
        SPEC_STRING, /* any string (check() may narrow it) */
        SPEC_ANY,    /* any JSON value: check() decides */
} SpecType;

typedef struct SpecField SpecField;
struct SpecField {
        const char *name;        /* JSON key */
        SpecType type;           /* what the value must be */
        bool vm_only;            /* common field that only means something when a VM runs */
        bool has_default;        /* fill def_* when absent (else leave it absent) */
        json_int_t def_int;      /* SPEC_INT default */
        bool def_bool;           /* SPEC_BOOL default */
        const char *def_string;  /* SPEC_STRING default */
        json_int_t min, max;     /* SPEC_INT range */
        /* Optional: further checks (and normalisation) of a present value,
         * after the type check; -EINVAL with *ret_error. */
        int (*check)(json_t *spec, const SpecField *f, json_t *value, char **ret_error);
};

/* A kind's preference for a common field's default (e.g. memory_mib 1024). */
typedef struct SpecDefault {
        const char *name;        /* common field */
        json_int_t value;        /* integer default */
} SpecDefault;

#define SPEC_INT_FIELD(n, d, lo, hi) { .name = (n), .type = SPEC_INT, .has_default = true, .def_int = (d), .min = (lo), .max = (hi) }
#define SPEC_BOOL_FIELD(n, d) { .name = (n), .type = SPEC_BOOL, .has_default = true, .def_bool = (d) }

/* The fields every experiment has (vmm, runs, accel, image, …). */
extern const SpecField spec_common_fields[];

/* Formats *ret_error; returns -EINVAL (or -ENOMEM if formatting failed). */
int spec_fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
/* A caller's string for an error message: at most SPEC_ECHO_MAX bytes, cut
 * with "…"; "(not a string)" for anything else. */
const char *spec_echo(json_t *v, char buf[static SPEC_ECHO_MAX + 8]);
const char *spec_echo_str(const char *s, char buf[static SPEC_ECHO_MAX + 8]);
/* Parses a caller's spec text; -EINVAL with a sentence when it is empty or
 * not JSON (any JSON value: the plan refuses what is not an object). */
int spec_parse_text(const char *text, json_t **ret, char **ret_error);
/* Refuses a key that is in neither table (kind_fields may be NULL), and,
 * for a kind without a VM, the common fields that need one. */
int spec_check_known(json_t *spec, const SpecField *kind_fields, bool has_vm, const char *kind, char **ret_error);
/* Sets each absent field of defaults (a kind's preferences). */
int spec_apply_defaults(json_t *spec, const SpecDefault *defaults);
/* Checks and defaults every field of the table (ends with a NULL name);
 * with has_vm false, vm_only fields are skipped. */
int spec_check(json_t *spec, const SpecField *fields, bool has_vm, char **ret_error);
/* Single-field helpers for kinds with computed defaults. */
int spec_check_int(json_t *spec, const char *field, json_int_t def, json_int_t min, json_int_t max, char **ret_error);
int spec_check_bool(json_t *spec, const char *field, bool def, char **ret_error);
/* Shorthands for reading a checked spec. */
json_int_t spec_int(json_t *spec, const char *field);
bool spec_bool(json_t *spec, const char *field);
const char *spec_string(json_t *spec, const char *field);
