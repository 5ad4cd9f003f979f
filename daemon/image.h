/* image.h — a guest image as its image.json describes it: the kernel in each
 * format it ships, the initrd, the console marker and base command line, and
 * what the guest needs and does (which boot phases it has, which guest jobs
 * it runs, whether it powers off by itself, whether its code runs under a
 * paravirtual KVM, whether it boots from a disk).  Written by guest-images/
 * (mkimage-json.sh, noop/, systemd/); a guest of the caller's (bring your
 * own: a kernel, an initrd, a disk and a marker regex) is described here
 * the same way (image_from_parts). */
#pragma once

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>

#include "backends/backend.h"
#include "files.h"

/* Boot phases a guest can have, beyond the VMM-side ones (exec, QMP). */
typedef enum ImagePhase {
        IMAGE_PHASE_CONSOLE,    /* first byte on the serial console */
        IMAGE_PHASE_KERNEL,     /* the kernel's banner line */
        IMAGE_PHASE_INIT,       /* init's marker */
        _IMAGE_PHASE_MAX,
        _IMAGE_PHASE_INVALID = -EINVAL,
} ImagePhase;

#define IMAGE_NAME_MAX 64 /* bytes of image.json's "name" */

typedef struct Image {
        char *dir;              /* the directory holding image.json, NULL for a caller's image */
        json_t *doc;            /* image.json as read (recorded in every result) */
        const char *name;       /* "default", "noop", … (borrowed from doc) */
        const char *guest;      /* "linux" or "noop" */
        const char *kernels[_KERNEL_FORMAT_MAX]; /* path per format, NULL where it ships none */
        const char *initrd;     /* initramfs (or the dummy a VMM insists on), NULL if none */
        const char *marker;     /* the init marker line */
        const char *cmdline_base; /* kernel command line every run starts from */
        unsigned phases;        /* bit (1 << ImagePhase) per phase the guest has */
        json_t *jobs;           /* guest jobs it runs: "boot", "hold", "run", … (borrowed) */
        bool powers_off;        /* ends a finished job by powering the VM off */
        bool paravirt_kvm_ok;   /* runs under a paravirtual KVM (kvm_pvm), where Linux guests hang */
        bool touch_ram;         /* takes virtlab.touch_mib=N (touches N MiB before its marker) */
        const char *disk;       /* the disk it boots from ("disk_image"): the daemon's path, NULL if none or the caller's */
        int disk_fd;            /* a caller's image: that disk's fd (owned by the plan's files), -EBADF if none */
        DiskFormat disk_format; /* "disk_image_format": raw (default) or qcow2 */
        bool has_sysbench;      /* "sysbench": installed in the guest (the bench kinds attach no tools disk) */
        bool reports;           /* prints virtlab's result frame; false: its marker is all it says */
        const char *clock;      /* "guest_clock": "systemd-analyze" when its result carries the guest's own boot clock */
        regex_t *marker_re;     /* a caller's guest: the marker as a POSIX extended regex, NULL: a literal */
} Image;

/* Reads DIR/image.json.  -ENOENT when it is missing; -EBADMSG when it does
 * not parse or lacks a field, with a sentence naming the file and field in
 * *ret_error. */
int image_load(const char *dir, Image **ret, char **ret_error);
/* A caller's image, passed as files (files.h): image.json read from its fd,
 * every file it names ("vmlinux", "bzimage", "raw", "initramfs") taken
 * from the fd passed under that key, copied into a sealed memfd (which
 * replaces it in files) and named "/proc/self/fd/N".  Errors as
 * image_load(). */
int image_from_caller(CallerFiles *files, Image **ret, char **ret_error);
/* The checks of image_load() on a document already parsed (referenced, not
 * taken), with the same sentences, naming DIR/image.json. */
int image_from_json(json_t *doc, const char *dir, Image **ret, char **ret_error);
/* A guest of the caller's from its parts (bring your own): the files
 * "kernel" (format by content, or spec "kernel_format"), optionally
 * "initrd" and "disk_image" (format by content or "disk_image_format"),
 * and spec "marker", a POSIX extended regex.  Kernel and initrd are sealed
 * into memfds like image files; every refusal names the value.  -EINVAL
 * with a sentence in *ret_error, or -ENOMEM. */
int image_from_parts(CallerFiles *files, json_t *spec, Image **ret, char **ret_error);
Image *image_free(Image *img);
static inline void image_freep(Image **i) {
        (void) image_free(*i);
}
/* The kernel for a backend: the first of its formats the image ships;
 * NULL if none (then *ret_format is untouched). */
const char *image_kernel_for(const Image *img, const VmmBackend *b, KernelFormat *ret_format);
/* True when the guest runs job ("run:/bin/x" is the "run" job). */
bool image_runs_job(const Image *img, const char *job);
bool image_has_phase(const Image *img, ImagePhase p);
/* Whether the image boots from a disk of its own. */
bool image_has_disk(const Image *img);
