/* guest-file.h — what a file handed over as a guest's kernel or disk
 * really is, read from its fd: a kernel must be a bzImage or an ELF vmlinux
 * with a PVH entry (or a flat binary, when the caller says so), a disk a
 * qcow2 image or raw bytes holding a partition table or file system.  The
 * answer is a sentence, so a refusal names what was found. */
#pragma once

#include <stddef.h>

#include "backends/backend.h"

/* The kernel's format.  declared is what the caller said
 * (_KERNEL_FORMAT_INVALID: nothing, tell by content).  On success
 * *ret_format is set and release (may be NULL) holds the kernel release it
 * names ("" if none found).  -EMEDIUMTYPE with a sentence in why when it is
 * not such a kernel; -errno when it cannot be read. */
int guest_kernel_probe(int fd, KernelFormat declared, KernelFormat *ret_format, char *release, size_t release_size,
                       char *why, size_t why_size);
/* The disk's format, like guest_kernel_probe(): qcow2 by its magic, raw
 * when libblkid finds a partition table or file system on it. */
int guest_disk_probe(int fd, DiskFormat declared, DiskFormat *ret_format, char *why, size_t why_size);
/* What libblkid finds on a disk ("an ext4 file system (ext2/ext3/ext4)",
 * "a gpt partition table"), in buf; NULL when nothing. */
const char *guest_disk_contents(int fd, char *buf, size_t size);
