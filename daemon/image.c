/* image.c — image.json reader (image.h).  Fields a pre-noop image.json
 * lacks default to what such an image is: a Linux guest with every phase
 * that powers off and does not run under a paravirtual KVM. */
#include "image.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>

#include "guest-file.h"
#include "sha256.h"
#include "spec.h"
#include "utf8.h"
#include "util.h"

#define CALLER_IMAGE "image.json (passed by the caller)"
/* What a bring-your-own guest's command line starts from. */
#define PARTS_CMDLINE_BASE "console=ttyS0"

static const char *const phase_names[_IMAGE_PHASE_MAX] = {
        [IMAGE_PHASE_CONSOLE] = "console",
        [IMAGE_PHASE_KERNEL] = "kernel",
        [IMAGE_PHASE_INIT] = "init",
};

static int fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        /* jansson quotes the bytes near a parse error one by one: they may end
         * inside a character, and the sentence goes out as a D-Bus string. */
        if (*ret_error)
                (void) utf8_scrub(*ret_error);
        return -EBADMSG;
}

/* A string field: required fields must be non-empty strings. */
static int string_field(Image *img, const char *path, const char *key, bool required, const char **ret,
                        char **ret_error) {
        json_t *v = json_object_get(img->doc, key);
        if (!v && !required) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v) || !*json_string_value(v))
                return fail(ret_error, v ? "Guest image %s: field '%s' must be a non-empty string"
                                               : "Guest image %s lacks field '%s'", path, key);
        *ret = json_string_value(v);
        return 0;
}

static int bool_field(Image *img, const char *path, const char *key, bool def, bool *ret, char **ret_error) {
        json_t *v = json_object_get(img->doc, key);
        if (v && !json_is_boolean(v))
                return fail(ret_error, "Guest image %s: field '%s' must be true or false", path, key);
        *ret = v ? json_is_true(v) : def;
        return 0;
}

static int read_phases(Image *img, const char *path, char **ret_error) {
        json_t *v = json_object_get(img->doc, "phases"), *e;
        size_t i;
        if (!v) {
                img->phases = (1U << _IMAGE_PHASE_MAX) - 1;
                return 0;
        }
        if (!json_is_array(v))
                return fail(ret_error, "Guest image %s: field '%s' must be a list of phase names", path, "phases");
        json_array_foreach(v, i, e) {
                int k = -1;
                for (int p = 0; p < _IMAGE_PHASE_MAX; p++)
                        if (streq_ptr(json_string_value(e), phase_names[p]))
                                k = p;
                if (k < 0)
                        return fail(ret_error, "Guest image %s: unknown phase in '%s' (known: console, kernel, init)",
                                    path, "phases");
                img->phases |= 1U << k;
        }
        return 0;
}

static int read_kernels(Image *img, const char *path, char **ret_error) {
        bool any = false;
        for (int f = 0; f < _KERNEL_FORMAT_MAX; f++) {
                int r = string_field(img, path, kernel_format_to_string((KernelFormat) f), false, &img->kernels[f],
                                     ret_error);
                if (r < 0)
                        return r;
                any = any || img->kernels[f];
        }
        return any ? 0 : fail(ret_error, "Guest image %s lacks a kernel (field '%s', 'bzimage' or 'raw')", path, "vmlinux");
}

/* The disk an image boots from, and its format. */
static int read_disk(Image *img, const char *path, char **ret_error) {
        const char *format = NULL;
        int r = string_field(img, path, "disk_image", false, &img->disk, ret_error);
        r = r ?: string_field(img, path, "disk_image_format", false, &format, ret_error);
        if (r < 0)
                return r;
        img->disk_format = format ? disk_format_from_string(format) : DISK_FORMAT_RAW;
        if (img->disk_format < 0)
                return fail(ret_error, "Guest image %s: field '%s' must be raw or qcow2", path, "disk_image_format");
        return 0;
}

static int read_clock(Image *img, const char *path, char **ret_error) {
        int r = string_field(img, path, "guest_clock", false, &img->clock, ret_error);
        if (r == 0 && img->clock && !streq(img->clock, "systemd-analyze"))
                return fail(ret_error, "Guest image %s: field '%s' must be \"systemd-analyze\"", path, "guest_clock");
        return r;
}

static int image_parse(Image *img, const char *path, char **ret_error) {
        int r = string_field(img, path, "name", true, &img->name, ret_error);
        /* Errors and results quote the name: bounded here, once. */
        if (r == 0 && strlen(img->name) > IMAGE_NAME_MAX)
                return fail(ret_error, "Guest image %s: field '%s' must be at most %d bytes", path, "name", IMAGE_NAME_MAX);
        r = r ?: string_field(img, path, "marker", true, &img->marker, ret_error);
        r = r ?: string_field(img, path, "cmdline_base", true, &img->cmdline_base, ret_error);
        r = r ?: string_field(img, path, "initramfs", false, &img->initrd, ret_error);
        r = r ?: string_field(img, path, "guest", false, &img->guest, ret_error);
        r = r ?: read_kernels(img, path, ret_error);
        r = r ?: read_phases(img, path, ret_error);
        r = r ?: bool_field(img, path, "powers_off", true, &img->powers_off, ret_error);
        r = r ?: bool_field(img, path, "paravirt_kvm_ok", false, &img->paravirt_kvm_ok, ret_error);
        r = r ?: bool_field(img, path, "touch_ram", false, &img->touch_ram, ret_error);
        r = r ?: bool_field(img, path, "sysbench", false, &img->has_sysbench, ret_error);
        r = r ?: bool_field(img, path, "reports", true, &img->reports, ret_error);
        r = r ?: read_disk(img, path, ret_error);
        r = r ?: read_clock(img, path, ret_error);
        if (r < 0)
                return r;
        img->guest = img->guest ?: "linux";
        img->jobs = json_object_get(img->doc, "jobs");
        if (img->jobs && !json_is_array(img->jobs))
                return fail(ret_error, "Guest image %s: field '%s' must be a list of guest job names", path, "jobs");
        return 0;
}

static Image *image_new(void) {
        Image *img = calloc(1, sizeof(Image));
        if (img)
                img->disk_fd = -EBADF;
        return img;
}

int image_from_json(json_t *doc, const char *dir, Image **ret, char **ret_error) {
        _cleanup_(image_freep) Image *img = image_new();
        char path[4096];
        if (!img || !(img->dir = strdup(dir)))
                return -ENOMEM;
        img->doc = json_incref(doc);
        snprintf(path, sizeof(path), "%s/image.json", dir);
        if (!json_is_object(img->doc))
                return fail(ret_error, "Guest image %s: %s must be a JSON object", path, "image.json");
        int r = image_parse(img, path, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

/* Parses path, which a caller may have made a FIFO: O_NONBLOCK, so reading it
 * ends at once (as a parse error) instead of blocking the daemon. */
static json_t *load_file(const char *path, json_error_t *e) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                *e = (json_error_t) { .line = -1 };
                snprintf(e->text, sizeof(e->text), "unable to open it: %s", strerror(errno));
                return NULL;
        }
        return json_loadfd(fd, JSON_REJECT_DUPLICATES, e);
}

int image_load(const char *dir, Image **ret, char **ret_error) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/image.json", dir);
        json_error_t e;
        json_auto_t *doc = load_file(path, &e);
        if (!doc) {
                if (access(path, R_OK) < 0) {
                        int r = -errno;
                        if (asprintf(ret_error, "Guest image not found: %s (build it with 'make image')", path) < 0)
                                *ret_error = NULL;
                        return r == -ENOENT ? -ENOENT : -EBADMSG;
                }
                return fail(ret_error, "Guest image %s does not parse: %s (line %d)", path, e.text, e.line);
        }
        return image_from_json(doc, dir, ret, ret_error);
}

/* The caller's disk of its image: its fd, checked to be what the image
 * says (a disk is too large to copy: the VMM gets the fd, per run). */
static int image_take_caller_disk(Image *img, CallerFiles *files, char **ret_error) {
        json_t *v = json_object_get(img->doc, "disk_image");
        const char *format = json_string_value(json_object_get(img->doc, "disk_image_format"));
        char why[256];
        DiskFormat f;
        if (!v)
                return 0;
        const CallerFile *c = caller_files_get(files, CALLER_FILE_DISK_IMAGE);
        if (!c)
                return fail(ret_error, "Guest image %s names a '%s' file, but no file was passed for it", CALLER_IMAGE,
                            "disk_image");
        int r = guest_disk_probe(c->fd, format ? disk_format_from_string(format) : DISK_FORMAT_RAW, &f, why, sizeof(why));
        if (r < 0)
                return fail(ret_error, "Guest image %s: its disk_image %s", CALLER_IMAGE, r == -EMEDIUMTYPE ? why : strerror(-r));
        img->disk_fd = c->fd;
        if (json_object_set(img->doc, "disk_image_caller_path", v) < 0 ||
            json_object_set_new(img->doc, "disk_image", json_string("(passed by the caller)")) < 0)
                return -ENOMEM;
        return 0;
}

/* The caller's image: image.json from its fd, and every file it names
 * replaced by the fd the caller passed for that key. */
static int image_take_caller_files(Image *img, CallerFiles *files, char **ret_error) {
        static const char *const keys[] = { "vmlinux", "bzimage", "raw", "initramfs" };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_t *v = json_object_get(img->doc, keys[i]);
                char path[64];
                if (!v)
                        continue;
                if (!caller_files_get(files, keys[i]))
                        return fail(ret_error, "Guest image %s names a '%s' file, but no file was passed for it",
                                    "image.json (passed by the caller)", keys[i]);
                int r = caller_files_seal_copy(files, keys[i]);
                if (r < 0)
                        return fail(ret_error, "Guest image %s: cannot copy its '%s' file: %s",
                                    "image.json (passed by the caller)", keys[i], strerror(-r));
                (void) caller_files_path(files, keys[i], path, sizeof(path));
                /* Kept for the record: the path as the caller named it. */
                char was[48];
                snprintf(was, sizeof(was), "%s_caller_path", keys[i]);
                if (json_object_set(img->doc, was, v) < 0 || json_object_set_new(img->doc, keys[i], json_string(path)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int image_from_caller(CallerFiles *files, Image **ret, char **ret_error) {
        _cleanup_(image_freep) Image *img = image_new();
        int fd = caller_files_fd(files, CALLER_FILE_IMAGE_JSON);
        if (!img)
                return -ENOMEM;
        if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0)
                return fail(ret_error, "Guest image %s: %s", "image.json (passed by the caller)", "not a readable file");
        json_error_t e;
        img->doc = json_loadfd(fd, JSON_REJECT_DUPLICATES, &e);
        if (!img->doc)
                return fail(ret_error, "Guest image %s does not parse: %s", "image.json (passed by the caller)", e.text);
        if (!json_is_object(img->doc))
                return fail(ret_error, "Guest image %s: %s must be a JSON object", "(passed by the caller)", "image.json");
        int r = image_take_caller_files(img, files, ret_error);
        r = r ?: image_take_caller_disk(img, files, ret_error);
        r = r ?: image_parse(img, CALLER_IMAGE, ret_error);
        if (r < 0)
                return r;
        img->disk = NULL; /* the caller's: disk_fd */
        *ret = TAKE_PTR(img);
        return 0;
}

Image *image_free(Image *img) {
        if (!img)
                return NULL;
        if (img->marker_re)
                regfree(img->marker_re);
        free(img->marker_re);
        json_decref(img->doc);
        free(img->dir);
        free(img);
        return NULL;
}

const char *image_kernel_for(const Image *img, const VmmBackend *b, KernelFormat *ret_format) {
        for (const KernelFormat *f = b->kernel_formats; *f >= 0; f++)
                if (img->kernels[*f]) {
                        if (ret_format)
                                *ret_format = *f;
                        return img->kernels[*f];
                }
        return NULL;
}

bool image_runs_job(const Image *img, const char *job) {
        size_t len = strcspn(job, ":");
        json_t *e;
        size_t i;
        if (!img->jobs)
                return true; /* virtlab-init runs every job */
        json_array_foreach(img->jobs, i, e) {
                const char *s = json_string_value(e);
                if (s && strlen(s) == len && strncmp(s, job, len) == 0)
                        return true;
        }
        return false;
}

bool image_has_phase(const Image *img, ImagePhase p) {
        return p >= 0 && p < _IMAGE_PHASE_MAX && (img->phases & (1U << p));
}

bool image_has_disk(const Image *img) {
        return img->disk || img->disk_fd >= 0;
}

/* ---- a caller's guest from its parts ---------------------------------- */

/* The kernel: its format by content (or as declared), sealed, named in doc
 * under its format's key like an image.json's kernel. */
static int parts_kernel(Image *img, CallerFiles *files, json_t *spec, char **ret_error) {
        const CallerFile *c = caller_files_get(files, CALLER_FILE_KERNEL);
        const char *declared = spec_string(spec, "kernel_format");
        char b[SPEC_ECHO_MAX + 8], release[64], why[256], path[64];
        const char *label = spec_string(spec, "kernel") ? spec_echo_str(spec_string(spec, "kernel"), b) : "(passed)";
        KernelFormat f;
        int r = guest_kernel_probe(c->fd, declared ? kernel_format_from_string(declared) : _KERNEL_FORMAT_INVALID, &f,
                                   release, sizeof(release), why, sizeof(why));
        if (r < 0)
                return spec_fail(ret_error, "Kernel '%s' %s", label, r == -EMEDIUMTYPE ? why : strerror(-r));
        r = caller_files_seal_copy(files, CALLER_FILE_KERNEL);
        if (r < 0)
                return spec_fail(ret_error, "Kernel '%s': cannot copy it: %s", label, strerror(-r));
        c = caller_files_get(files, CALLER_FILE_KERNEL);
        (void) caller_files_path(files, CALLER_FILE_KERNEL, path, sizeof(path));
        json_object_set_new(img->doc, kernel_format_to_string(f), json_string(path));
        json_object_set_new(img->doc, "kernel_format", json_string(kernel_format_to_string(f)));
        json_object_set_new(img->doc, "kernel_sha256", json_string(c->sha256));
        json_object_set_new(img->doc, "kernel_release", json_string(release[0] ? release : "unknown"));
        return 0;
}

static int parts_initrd(Image *img, CallerFiles *files, json_t *spec, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8], path[64];
        const char *label = spec_string(spec, "initrd") ? spec_echo_str(spec_string(spec, "initrd"), b) : "(passed)";
        if (!caller_files_get(files, CALLER_FILE_INITRD))
                return 0;
        int r = caller_files_seal_copy(files, CALLER_FILE_INITRD);
        if (r < 0)
                return spec_fail(ret_error, "Initrd '%s': cannot copy it: %s", label, strerror(-r));
        (void) caller_files_path(files, CALLER_FILE_INITRD, path, sizeof(path));
        json_object_set_new(img->doc, "initramfs", json_string(path));
        json_object_set_new(img->doc, "initramfs_sha256", json_string(caller_files_get(files, CALLER_FILE_INITRD)->sha256));
        return 0;
}

/* The disk: checked to be an image, never copied (it may be gigabytes). */
static int parts_disk(Image *img, CallerFiles *files, json_t *spec, char **ret_error) {
        const CallerFile *c = caller_files_get(files, CALLER_FILE_DISK_IMAGE);
        const char *declared = spec_string(spec, "disk_image_format");
        char b[SPEC_ECHO_MAX + 8], why[256];
        const char *label = spec_string(spec, "disk_image") ? spec_echo_str(spec_string(spec, "disk_image"), b) : "(passed)";
        DiskFormat f;
        if (!c)
                return 0;
        int r = guest_disk_probe(c->fd, declared ? disk_format_from_string(declared) : _DISK_FORMAT_INVALID, &f, why,
                                 sizeof(why));
        if (r < 0)
                return spec_fail(ret_error, "Disk '%s' %s", label, r == -EMEDIUMTYPE ? why : strerror(-r));
        img->disk_fd = c->fd;
        json_object_set_new(img->doc, "disk_image", json_string(label));
        json_object_set_new(img->doc, "disk_image_format", json_string(disk_format_to_string(f)));
        return 0;
}

static int parts_marker(Image *img, json_t *spec, char **ret_error) {
        const char *m = spec_string(spec, "marker");
        char b[SPEC_ECHO_MAX + 8], why[256];
        if (!m)
                return spec_fail(ret_error, "A kernel of yours needs a marker: the regex of the console line that says it "
                                            "booted (--marker REGEX, e.g. 'login: ')");
        img->marker_re = calloc(1, sizeof(regex_t));
        if (!img->marker_re)
                return -ENOMEM;
        int r = regcomp(img->marker_re, m, REG_EXTENDED | REG_NOSUB);
        if (r != 0) {
                regerror(r, img->marker_re, why, sizeof(why));
                img->marker_re = (free(img->marker_re), NULL);
                return spec_fail(ret_error, "Invalid marker '%s': not a POSIX extended regular expression (%s)",
                                 spec_echo_str(m, b), why);
        }
        json_object_set_new(img->doc, "marker", json_string(m));
        return 0;
}

/* Names the guest by its kernel and initrd contents (a disk is not hashed:
 * it can be gigabytes, read while the caller waits). */
static void parts_hash(Image *img) {
        Sha256 h;
        char hex[SHA256_HEX_SIZE];
        sha256_init(&h);
        const char *k = json_string_value(json_object_get(img->doc, "kernel_sha256"));
        const char *i = json_string_value(json_object_get(img->doc, "initramfs_sha256"));
        sha256_update(&h, strempty(k), strlen(strempty(k)));
        sha256_update(&h, strempty(i), strlen(strempty(i)));
        sha256_final_hex(&h, hex);
        json_object_set_new(img->doc, "image_hash", json_string(hex));
}

int image_from_parts(CallerFiles *files, json_t *spec, Image **ret, char **ret_error) {
        _cleanup_(image_freep) Image *img = image_new();
        if (!img)
                return -ENOMEM;
        img->doc = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:[ss]}", "name", "custom", "guest", "linux", "source",
                             "caller", "cmdline_base", PARTS_CMDLINE_BASE, "reports", false, "powers_off", false, "jobs",
                             "boot", "hold");
        if (!img->doc)
                return -ENOMEM;
        if (spec_string(spec, "kernel"))
                json_object_set(img->doc, "kernel", json_object_get(spec, "kernel"));
        if (spec_string(spec, "initrd"))
                json_object_set(img->doc, "initrd", json_object_get(spec, "initrd"));
        int r = parts_marker(img, spec, ret_error);
        r = r ?: parts_kernel(img, files, spec, ret_error);
        r = r ?: parts_initrd(img, files, spec, ret_error);
        r = r ?: parts_disk(img, files, spec, ret_error);
        if (r < 0)
                return r;
        parts_hash(img);
        r = image_parse(img, "(your kernel, initrd and disk)", ret_error);
        if (r < 0)
                return r == -EBADMSG ? -EINVAL : r;
        img->disk = NULL; /* the caller's: disk_fd */
        *ret = TAKE_PTR(img);
        return 0;
}
