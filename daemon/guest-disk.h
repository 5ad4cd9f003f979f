/* guest-disk.h — the disk an image boots from, for one run.  Every run
 * starts from the image as built, whatever an earlier run wrote: a VMM that
 * discards a disk's writes itself (caps.has_snapshot: QEMU snapshot=on)
 * gets the image with that on; any other gets a private copy, made before
 * the spawn (reflinked where the file system can, else copied sparsely) and
 * removed after the run. */
#pragma once

#include <stdbool.h>

#include "backends/backend.h"
#include "image.h"

/* Puts img's disk for a run on b first in *disks (n entries, realloc'ed):
 * the guest's root is the first disk, /dev/vda.  Where b cannot discard
 * writes, the disk is copied to copy_path first (the caller unlinks
 * copy_path after the run, which may be a no-op; the VmDisk points to it,
 * so it must outlive the spawn).  -errno. */
int guest_disk_prepend(const Image *img, const VmmBackend *b, const char *copy_path, VmDisk **disks, size_t *n);
/* Copies the file open at src to a new file at path (mode 0600), holes
 * kept.  -errno; nothing is left at path on failure. */
int guest_disk_copy(int src, const char *path);
