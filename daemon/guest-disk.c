/* guest-disk.c — a run's copy-on-write view of an image's disk (guest-disk.h). */
#include "guest-disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "util.h"

/* Copies [off, end) of src to dst at the same offsets. */
static int copy_range(int src, int dst, off_t off, off_t end) {
        while (off < end) {
                loff_t in = off, out = off;
                ssize_t k = copy_file_range(src, &in, dst, &out, (size_t) (end - off), 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ENODATA; /* the source shrank under us */
                off += k;
        }
        return 0;
}

/* Data extents only (SEEK_DATA/SEEK_HOLE): a 1 GiB image holding 250 MB
 * costs 250 MB of copying and of disk. */
static int copy_sparse(int src, int dst, off_t size) {
        for (off_t data = 0; data < size;) {
                data = lseek(src, data, SEEK_DATA);
                if (data < 0)
                        return errno == ENXIO ? 0 : -errno;
                off_t hole = lseek(src, data, SEEK_HOLE);
                if (hole < 0)
                        return -errno;
                int r = copy_range(src, dst, data, hole);
                if (r < 0)
                        return r;
                data = hole;
        }
        return 0;
}

int guest_disk_copy(int src, const char *path) {
        struct stat st;
        if (fstat(src, &st) < 0)
                return -errno;
        _cleanup_close_ int dst = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (dst < 0)
                return -errno;
        int r = 0;
        if (ioctl(dst, FICLONE, src) < 0) {
                r = ftruncate(dst, st.st_size) < 0 ? -errno : copy_sparse(src, dst, st.st_size);
        }
        if (r < 0)
                (void) unlink(path);
        return r;
}

/* The image's disk as a run sees it: snapshot on, or a private copy. */
static int disk_for_run(const Image *img, const VmmBackend *b, const char *copy_path, VmDisk *ret) {
        *ret = (VmDisk) { .path = img->disk, .fd = img->disk_fd, .format = img->disk_format, .snapshot = true };
        if (b->caps.has_snapshot)
                return 0;
        _cleanup_close_ int own = img->disk ? open(img->disk, O_RDONLY | O_CLOEXEC) : -EBADF;
        if (img->disk && own < 0)
                return -errno;
        int r = guest_disk_copy(img->disk ? own : img->disk_fd, copy_path);
        if (r < 0)
                return r;
        *ret = (VmDisk) { .path = copy_path, .fd = -EBADF, .format = img->disk_format };
        return 0;
}

int guest_disk_prepend(const Image *img, const VmmBackend *b, const char *copy_path, VmDisk **disks, size_t *n) {
        VmDisk d;
        int r = disk_for_run(img, b, copy_path, &d);
        if (r < 0)
                return r;
        VmDisk *v = realloc(*disks, (*n + 1) * sizeof(VmDisk));
        if (!v)
                return -ENOMEM;
        memmove(v + 1, v, *n * sizeof(VmDisk));
        v[0] = d;
        *disks = v;
        (*n)++;
        return 0;
}
