/* image.h — a guest image as its image.json describes it: the kernel in each
 * format it ships, the initrd, the console marker and base command line, and
 * what the guest needs and does (which boot phases it has, which guest jobs
 * it runs, whether it powers off by itself, whether its code runs under a
 * paravirtual KVM).  Written by guest-images/ (mkimage-json.sh, noop/). */
#pragma once

#include <jansson.h>
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
