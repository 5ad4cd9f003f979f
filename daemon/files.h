/* files.h — files a caller hands over as file descriptors (the importd
 * pattern): the caller opens its image and disk with its own rights, the
 * daemon uses the open files and never opens a caller-named path as root.
 * A VMM gets such a file as an inherited fd, named "/proc/self/fd/N" (same
 * N in the VMM: child_spawn keeps inherited fds at their numbers) or, for
 * QEMU disks, an fdset. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Roles a caller may pass; image files are named by their image.json key. */
#define CALLER_FILE_IMAGE_JSON "image.json"
#define CALLER_FILE_DISK "disk"                   /* a benchmark's test disk, read-write */
#define CALLER_FILE_DISK_IMAGE "disk_image"       /* the disk a guest boots from; never written (copy-on-write per run) */
#define CALLER_FILE_KERNEL "kernel"               /* a bring-your-own guest's kernel */
#define CALLER_FILE_INITRD "initrd"               /* ... and its initrd */
#define CALLER_FILE_CONSOLE_PASSWORD "console_password" /* the console login's password: read once, never stored */
#define CALLER_FILES_MAX 8

typedef struct CallerFile {
        char role[32];        /* "image.json", "vmlinux", "bzimage", "raw", "initramfs", "disk" */
        int fd;               /* ours (dup'ed, close-on-exec until a spawn hands it over) */
        bool writable;        /* opened O_RDWR */
        char sha256[65];      /* of the contents, once sealed (caller_files_seal_copy), else "" */
} CallerFile;

typedef struct CallerFiles {
        CallerFile files[CALLER_FILES_MAX]; /* in the order given */
        size_t n;             /* entries */
} CallerFiles;

/* Adds a caller's fd under role (it is dup'ed; the caller keeps its own).
 * -EINVAL with a sentence in *ret_error for an unknown or repeated role, a
 * file that is neither a regular file nor (for "disk") a block device, or
 * an image file not open for reading. */
int caller_files_add(CallerFiles *f, const char *role, int fd, char **ret_error);
/* The fd passed for role, or -EBADF. */
int caller_files_fd(const CallerFiles *f, const char *role);
const CallerFile *caller_files_get(const CallerFiles *f, const char *role);
/* "/proc/self/fd/N" for role into buf; NULL if it was not passed. */
const char *caller_files_path(const CallerFiles *f, const char *role, char *buf, size_t size);
/* Replaces role's fd by a sealed memfd copy of the file: what the VMM
 * reopens through /proc/self/fd/N is then ours (no file-permission check
 * against the caller's file, no change by the caller mid-job), and hashes
 * it (CallerFile.sha256).  -errno. */
int caller_files_seal_copy(CallerFiles *f, const char *role);
/* Whether role is one of an image's files a VMM reopens by name (kernel,
 * initrd): inherited as /proc/self/fd/N, not attached as a disk. */
bool caller_file_is_image_part(const char *role);
/* Reads role's (small) contents into a new string, and closes and drops
 * that file: what the console password comes as.  -ENOENT if not passed,
 * -EFBIG above max bytes, -EBADMSG if it holds a NUL or newline. */
int caller_files_take_text(CallerFiles *f, const char *role, size_t max, char **ret);
/* Closes every fd. */
void caller_files_done(CallerFiles *f);
/* Moves *from into *to (from is left empty). */
void caller_files_move(CallerFiles *to, CallerFiles *from);
