/* spec.c — the table-driven spec checker (spec.h) and the common fields. */
#include "spec.h"

#include <stdarg.h>
#include <stdio.h>

#include "backends/registry.h"
#include "cpuset.h"
#include "host.h"
#include "utf8.h"

/* Most VMMs one job rotates through (a "compare" of qemu, qemu-microvm, stratovirt, …). */
#define JOB_VMMS_MAX 4

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

const char *spec_echo_str(const char *s, char buf[static SPEC_ECHO_MAX + 8]) {
        size_t n = strlen(s);
        if (n <= SPEC_ECHO_MAX)
                return s;
        /* Cut at a character boundary: the text goes out as UTF-8. */
        size_t cut = SPEC_ECHO_MAX;
        while (cut > 0 && ((unsigned char) s[cut] & 0xc0) == 0x80)
                cut--;
        snprintf(buf, SPEC_ECHO_MAX + 8, "%.*s…", (int) cut, s);
        return buf;
}

const char *spec_echo(json_t *v, char buf[static SPEC_ECHO_MAX + 8]) {
        return json_is_string(v) ? spec_echo_str(json_string_value(v), buf) : "(not a string)";
}

/* The text just before a JSON error: jansson does not always quote the
 * offending token ("too big integer"). */
static void spec_text_near(const char *text, int position, char near[static 40]) {
        size_t len = strlen(text);
        size_t end = position >= 0 && (size_t) position < len ? (size_t) position : len;
        size_t start = end > 39 ? end - 39 : 0;
        snprintf(near, 40, "%.*s", (int) (end - start), text + start);
}

int spec_parse_text(const char *text, json_t **ret, char **ret_error) {
        if (!text[0])
                return spec_fail(ret_error, "Experiment spec is empty: pass a JSON object, {} for every default");
        json_error_t e;
        json_t *spec = json_loads(text, 0, &e);
        if (!spec) {
                char near[40];
                spec_text_near(text, e.position, near);
                int r = spec_fail(ret_error, "Experiment spec is not valid JSON: %s (at column %d, after '%s')", e.text,
                                  e.column, near);
                /* jansson quotes the text near the error byte by byte, and the cut near it may
                 * split a character too: the error goes out as UTF-8. */
                if (*ret_error)
                        (void) utf8_scrub(*ret_error);
                return r;
        }
        *ret = spec;
        return 0;
}

json_int_t spec_int(json_t *spec, const char *field) {
        return json_integer_value(json_object_get(spec, field));
}
bool spec_bool(json_t *spec, const char *field) {
        return json_is_true(json_object_get(spec, field));
}
const char *spec_string(json_t *spec, const char *field) {
        return json_string_value(json_object_get(spec, field));
}

/* ---- common fields ---------------------------------------------------- */

static int check_vmm_name(const char *name, char **ret_error) {
        char known[256], b[SPEC_ECHO_MAX + 8];
        if (vmm_backend_find(name))
                return 0;
        vmm_backend_names(known, sizeof(known));
        return spec_fail(ret_error, "Unknown VMM '%s' (known: %s)", spec_echo_str(name, b), known);
}

static const char *echo_given(json_t *v, char buf[static SPEC_ECHO_MAX + 8]);

static int check_vmm(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        return json_is_string(v) ? check_vmm_name(json_string_value(v), ret_error)
                                 : spec_fail(ret_error, "Field 'vmm' must be a string, not %s", echo_given(v, b));
}

/* "vmms": [A, B, ...] makes a compare job: runs rotate
 * through them.  "vmm" then defaults to (and must equal) the first. */
static int check_vmms(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        json_t *e;
        size_t i;
        char b1[SPEC_ECHO_MAX + 8], b2[SPEC_ECHO_MAX + 8];
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > JOB_VMMS_MAX)
                return spec_fail(ret_error, "Field 'vmms' must be an array of 1 to %d VMM names", JOB_VMMS_MAX);
        json_array_foreach(v, i, e) {
                if (!json_is_string(e))
                        return spec_fail(ret_error, "Field 'vmms' must hold VMM names (strings)");
                int r = check_vmm_name(json_string_value(e), ret_error);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (streq(json_string_value(e), json_string_value(json_array_get(v, k))))
                                return spec_fail(ret_error, "VMM '%s' appears twice in 'vmms'", json_string_value(e));
        }
        json_t *first = json_array_get(v, 0), *vmm = json_object_get(spec, "vmm");
        if (vmm && !json_equal(vmm, first))
                return spec_fail(ret_error, "Field 'vmm' ('%s') must be the first of 'vmms' ('%s')", spec_echo(vmm, b1),
                                 spec_echo(first, b2));
        return json_object_set(spec, "vmm", first) < 0 ? -ENOMEM : 0;
}

static int check_accel(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        if (accel_from_string(json_string_value(v)) < 0)
                return spec_fail(ret_error, "Invalid accel '%s': must be auto, kvm or tcg", spec_echo(v, b));
        return 0;
}

static int check_pin_cpus(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        cpu_set_t set;
        char b[SPEC_ECHO_MAX + 8];
        int r = cpuset_parse(json_string_value(v), &set);
        if (r == -ENXIO)
                return spec_fail(ret_error, "Invalid pin_cpus '%s': names a CPU that is not online here", spec_echo(v, b));
        if (r < 0)
                return spec_fail(ret_error, "Invalid pin_cpus '%s': expected a CPU list like 0 or 0-1 or 0,2",
                                 spec_echo(v, b));
        return 0;
}

/* Refused up front where it cannot work (not root, or /proc/sys read-only
 * as under the unit's ProtectKernelTunables=yes), not at the first run. */
static int check_drop_caches(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        if (!json_is_true(v) || access("/proc/sys/vm/drop_caches", W_OK) == 0)
                return 0;
        return spec_fail(ret_error, "drop_caches cannot be done here: /proc/sys/vm/drop_caches is not writable (%s)",
                         errno == EROFS ? "read-only: /proc/sys is protected, e.g. by ProtectKernelTunables=yes"
                                        : strerror(errno));
}

static int check_image_field(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        return json_string_length(v) > 0 ? 0 : spec_fail(ret_error, "Field 'image' must be a directory path or image name");
}

/* Extra kernel command-line words: printable ASCII, within what a kernel takes. */
static int check_append(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        const char *s = json_string_value(v);
        char b[SPEC_ECHO_MAX + 8];
        for (const char *p = s; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        return spec_fail(ret_error, "Invalid append '%s': kernel command-line words must be printable ASCII",
                                         spec_echo(v, b));
        if (strlen(s) > 1024)
                return spec_fail(ret_error, "Invalid append: %zu bytes, at most 1024", strlen(s));
        return 0;
}

/* A caller's path, echoed in results and errors (the file itself comes as an fd). */
static int check_label(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        return json_string_length(v) > 0 && json_string_length(v) <= 4096
                       ? 0
                       : spec_fail(ret_error, "Field '%s' must be the path of the file passed (1 to 4096 bytes)", f->name);
}

static int check_kernel_format(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        return kernel_format_from_string(json_string_value(v)) >= 0
                       ? 0
                       : spec_fail(ret_error, "Invalid kernel_format '%s': must be vmlinux, bzimage or raw", spec_echo(v, b));
}

static int check_disk_format(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        return disk_format_from_string(json_string_value(v)) >= 0
                       ? 0
                       : spec_fail(ret_error, "Invalid disk_image_format '%s': must be raw or qcow2", spec_echo(v, b));
}

/* The regex itself is compiled where the image is built (image.c). */
static int check_marker(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        size_t n = json_string_length(v);
        return n > 0 && n <= 256 ? 0 : spec_fail(ret_error, "Field 'marker' must be a regex of 1 to 256 bytes");
}

/* A libvirt URI for the libvirt VMM: printable, bounded, and only where
 * a VMM of the job runs through libvirt. */
static int check_libvirt_uri(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        const char *s = json_string_value(v);
        char b[SPEC_ECHO_MAX + 8];
        json_t *vmms = json_object_get(spec, "vmms"), *e;
        size_t i;
        bool libvirt = streq_ptr(spec_string(spec, "vmm"), "libvirt");
        json_array_foreach(vmms, i, e)
                libvirt = libvirt || streq_ptr(json_string_value(e), "libvirt");
        if (!libvirt)
                return spec_fail(ret_error, "Field 'libvirt_uri' applies only when a VMM of the job is 'libvirt'");
        for (const char *p = s; *p; p++)
                if (*p <= 0x20 || *p > 0x7e)
                        return spec_fail(ret_error, "Invalid libvirt_uri '%s': must be printable ASCII without spaces",
                                         spec_echo(v, b));
        if (strlen(s) == 0 || strlen(s) > 512)
                return spec_fail(ret_error, "Invalid libvirt_uri: %zu bytes, must be 1 to 512", strlen(s));
        return 0;
}

const SpecField spec_common_fields[] = {
        { .name = "vmms", .type = SPEC_ANY, .vm_only = true, .check = check_vmms },
        { .name = "vmm", .type = SPEC_STRING, .vm_only = true, .has_default = true, .def_string = "qemu", .check = check_vmm },
        SPEC_INT_FIELD("runs", 10, 1, 1000),
        SPEC_INT_FIELD("warmup", 1, 0, 100),
        { .name = "memory_mib", .type = SPEC_INT, .vm_only = true, .has_default = true, .def_int = 256, .min = 64, .max = 65536 },
        { .name = "vcpus", .type = SPEC_INT, .vm_only = true, .has_default = true, .def_int = 1, .min = 1, .max = 64 },
        SPEC_INT_FIELD("timeout_s", 60, 1, 3600),
        { .name = "settle_ms", .type = SPEC_INT, .vm_only = true, .has_default = true, .def_int = 500, .min = 0, .max = 60000 },
        { .name = "accel", .type = SPEC_STRING, .vm_only = true, .has_default = true, .def_string = "auto", .check = check_accel },
        { .name = "image", .type = SPEC_STRING, .vm_only = true, .check = check_image_field },
        { .name = "drop_caches", .type = SPEC_BOOL, .has_default = true, .def_bool = false, .check = check_drop_caches },
        { .name = "pin_cpus", .type = SPEC_STRING, .check = check_pin_cpus },
        { .name = "bind_to_client", .type = SPEC_BOOL },
        { .name = "append", .type = SPEC_STRING, .vm_only = true, .check = check_append },
        /* A guest of the caller's (bring your own): labels of the files passed, formats, the marker regex. */
        { .name = "kernel", .type = SPEC_STRING, .vm_only = true, .check = check_label },
        { .name = "kernel_format", .type = SPEC_STRING, .vm_only = true, .check = check_kernel_format },
        { .name = "initrd", .type = SPEC_STRING, .vm_only = true, .check = check_label },
        { .name = "disk_image", .type = SPEC_STRING, .vm_only = true, .check = check_label },
        { .name = "disk_image_format", .type = SPEC_STRING, .vm_only = true, .check = check_disk_format },
        { .name = "marker", .type = SPEC_STRING, .vm_only = true, .check = check_marker },
        /* Runs a Linux guest on a paravirtual KVM with a KVM-only VMM although it hangs there. */
        { .name = "force_paravirt_kvm", .type = SPEC_BOOL, .vm_only = true, .has_default = true, .def_bool = false },
        { .name = "libvirt_uri", .type = SPEC_STRING, .vm_only = true, .check = check_libvirt_uri },
        {},
};

/* ---- the checker ------------------------------------------------------ */

static const SpecField *find_field(const SpecField *t, const char *name) {
        for (; t && t->name; t++)
                if (streq(t->name, name))
                        return t;
        return NULL;
}

int spec_check_known(json_t *spec, const SpecField *kind_fields, bool has_vm, const char *kind, char **ret_error) {
        const char *key;
        json_t *v;
        char b[SPEC_ECHO_MAX + 8];
        json_object_foreach(spec, key, v) {
                const SpecField *f = find_field(spec_common_fields, key);
                if (f && f->vm_only && !has_vm)
                        return spec_fail(ret_error, "Field '%s' does not apply to '%s': it runs no VM", key, kind);
                if (!f && !find_field(kind_fields, key))
                        return spec_fail(ret_error, "Unknown field '%s' in experiment spec", spec_echo_str(key, b));
        }
        return 0;
}

int spec_apply_defaults(json_t *spec, const SpecDefault *defaults) {
        for (const SpecDefault *d = defaults; d && d->name; d++)
                if (!json_object_get(spec, d->name) && json_object_set_new(spec, d->name, json_integer(d->value)) < 0)
                        return -ENOMEM;
        return 0;
}

static json_t *default_value(const SpecField *f) {
        switch (f->type) {
        case SPEC_INT: return json_integer(f->def_int);
        case SPEC_BOOL: return json_boolean(f->def_bool);
        case SPEC_STRING: return json_string(f->def_string);
        default: return NULL;
        }
}

/* What a caller gave, for "must be X, not Y": a string (cut to SPEC_ECHO_MAX), a
 * number or literal as JSON spells it, or the kind of a container. */
static const char *echo_given(json_t *v, char buf[static SPEC_ECHO_MAX + 8]) {
        char q[SPEC_ECHO_MAX + 8];
        switch (json_typeof(v)) {
        case JSON_STRING: snprintf(buf, SPEC_ECHO_MAX + 8, "'%s'", spec_echo_str(json_string_value(v), q)); return buf;
        case JSON_INTEGER: snprintf(buf, SPEC_ECHO_MAX + 8, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); return buf;
        case JSON_REAL: snprintf(buf, SPEC_ECHO_MAX + 8, "%.17g", json_real_value(v)); return buf;
        case JSON_TRUE: return "true";
        case JSON_FALSE: return "false";
        case JSON_NULL: return "null";
        case JSON_ARRAY: return "an array";
        case JSON_OBJECT: return "an object";
        }
        return "?";
}

static int check_type(const SpecField *f, json_t *v, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        switch (f->type) {
        case SPEC_INT:
                if (!json_is_integer(v))
                        return spec_fail(ret_error, "Field '%s' must be an integer, not %s", f->name, echo_given(v, b));
                if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
                        return spec_fail(ret_error, "Invalid %s %" JSON_INTEGER_FORMAT ": must be between %" JSON_INTEGER_FORMAT
                                                    " and %" JSON_INTEGER_FORMAT, f->name, json_integer_value(v), f->min, f->max);
                return 0;
        case SPEC_BOOL:
                return json_is_boolean(v) ? 0
                                          : spec_fail(ret_error, "Field '%s' must be true or false, not %s", f->name,
                                                      echo_given(v, b));
        case SPEC_STRING:
                return json_is_string(v) ? 0
                                         : spec_fail(ret_error, "Field '%s' must be a string, not %s", f->name,
                                                     echo_given(v, b));
        case SPEC_ANY:
                return 0;
        }
        abort();
}

int spec_check(json_t *spec, const SpecField *fields, bool has_vm, char **ret_error) {
        for (const SpecField *f = fields; f && f->name; f++) {
                if (f->vm_only && !has_vm)
                        continue;
                json_t *v = json_object_get(spec, f->name);
                if (!v && f->has_default) {
                        if (json_object_set_new(spec, f->name, v = default_value(f)) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!v)
                        continue;
                int r = check_type(f, v, ret_error);
                r = r ?: f->check ? f->check(spec, f, v, ret_error) : 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

int spec_check_int(json_t *spec, const char *field, json_int_t def, json_int_t min, json_int_t max, char **ret_error) {
        const SpecField f[] = { SPEC_INT_FIELD(field, def, min, max), {} };
        return spec_check(spec, f, true, ret_error);
}

int spec_check_bool(json_t *spec, const char *field, bool def, char **ret_error) {
        const SpecField f[] = { SPEC_BOOL_FIELD(field, def), {} };
        return spec_check(spec, f, true, ret_error);
}
