/* files.c — a caller's files as fds (files.h). */
#include "files.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "sha256.h"
#include "spec.h"
#include "util.h"

static const char *const roles[] = { CALLER_FILE_IMAGE_JSON, "vmlinux", "bzimage", "raw", "initramfs",
                                     CALLER_FILE_DISK, CALLER_FILE_DISK_IMAGE, CALLER_FILE_KERNEL, CALLER_FILE_INITRD,
                                     CALLER_FILE_CONSOLE_PASSWORD, NULL };
static const char *const image_parts[] = { "vmlinux", "bzimage", "raw", "initramfs", CALLER_FILE_KERNEL,
                                           CALLER_FILE_INITRD, NULL };

static bool in_list(const char *const *list, const char *role) {
        for (const char *const *r = list; *r; r++)
                if (streq(*r, role))
                        return true;
        return false;
}

static bool known_role(const char *role) {
        return in_list(roles, role);
}

bool caller_file_is_image_part(const char *role) {
        return in_list(image_parts, role);
}

/* Checks what the fd is and how it was opened: a caller may only hand us
 * what it could open itself, in the mode it opened it. */
static int check_fd(const char *role, int fd, bool *ret_writable, char **ret_error) {
        struct stat st;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fstat(fd, &st) < 0)
                return spec_fail(ret_error, "File '%s' is not an open file descriptor", role);
        if ((fl & O_PATH) == O_PATH)
                return spec_fail(ret_error, "File '%s' is an O_PATH descriptor: open it for reading", role);
        bool disk = streq(role, CALLER_FILE_DISK) || streq(role, CALLER_FILE_DISK_IMAGE);
        if (!S_ISREG(st.st_mode) && !(disk && S_ISBLK(st.st_mode)))
                return spec_fail(ret_error, "File '%s' is not a regular file%s", role, disk ? " or block device" : "");
        int acc = fl & O_ACCMODE;
        if (acc == O_WRONLY)
                return spec_fail(ret_error, "File '%s' is open write-only: open it for reading", role);
        *ret_writable = acc == O_RDWR;
        return 0;
}

int caller_files_add(CallerFiles *f, const char *role, int fd, char **ret_error) {
        char b[SPEC_ECHO_MAX + 8];
        bool writable = false;
        if (!known_role(role))
                return spec_fail(ret_error, "Unknown file role '%s' (known: image.json, vmlinux, bzimage, raw, initramfs, "
                                            "disk, disk_image, kernel, initrd, console_password)", spec_echo_str(role, b));
        if (caller_files_get(f, role))
                return spec_fail(ret_error, "File '%s' passed twice", role);
        if (f->n == CALLER_FILES_MAX)
                return spec_fail(ret_error, "Too many files (at most %d)", CALLER_FILES_MAX);
        int r = check_fd(role, fd, &writable, ret_error);
        if (r < 0)
                return r;
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (copy < 0)
                return -errno;
        CallerFile *c = &f->files[f->n++];
        snprintf(c->role, sizeof(c->role), "%s", role);
        c->fd = copy;
        c->writable = writable;
        return 0;
}

int caller_files_seal_copy(CallerFiles *f, const char *role) {
        CallerFile *c = (CallerFile *) caller_files_get(f, role);
        if (!c)
                return -ENOENT;
        _cleanup_close_ int m = memfd_create(role, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (m < 0)
                return -errno;
        char buf[65536];
        off_t off = 0;
        Sha256 h;
        sha256_init(&h);
        for (;;) {
                ssize_t k = pread(c->fd, buf, sizeof(buf), off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                sha256_update(&h, buf, (size_t) k);
                for (ssize_t done = 0; done < k;) {
                        ssize_t w = write(m, buf + done, (size_t) (k - done));
                        if (w < 0)
                                return -errno;
                        done += w;
                }
                off += k;
        }
        if (fcntl(m, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                return -errno;
        safe_close(c->fd);
        c->fd = TAKE_FD(m);
        c->writable = false;
        sha256_final_hex(&h, c->sha256);
        return 0;
}

int caller_files_take_text(CallerFiles *f, const char *role, size_t max, char **ret) {
        CallerFile *c = (CallerFile *) caller_files_get(f, role);
        if (!c)
                return -ENOENT;
        _cleanup_free_ char *s = malloc(max + 2);
        if (!s)
                return -ENOMEM;
        size_t len = 0;
        while (len < max + 1) {
                ssize_t k = pread(c->fd, s + len, max + 1 - len, (off_t) len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        int r = len > max ? -EFBIG : memchr(s, 0, len) || memchr(s, '\n', len) || memchr(s, '\r', len) ? -EBADMSG : 0;
        s[len] = 0;
        /* Gone from the list at once: nothing later hands this fd to a VMM. */
        safe_close(c->fd);
        *c = f->files[--f->n];
        f->files[f->n] = (CallerFile) { .fd = -EBADF };
        if (r < 0) {
                explicit_bzero(s, len);
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

const CallerFile *caller_files_get(const CallerFiles *f, const char *role) {
        for (size_t i = 0; f && i < f->n; i++)
                if (streq(f->files[i].role, role))
                        return &f->files[i];
        return NULL;
}

int caller_files_fd(const CallerFiles *f, const char *role) {
        const CallerFile *c = caller_files_get(f, role);
        return c ? c->fd : -EBADF;
}

const char *caller_files_path(const CallerFiles *f, const char *role, char *buf, size_t size) {
        int fd = caller_files_fd(f, role);
        if (fd < 0)
                return NULL;
        snprintf(buf, size, "/proc/self/fd/%d", fd);
        return buf;
}

void caller_files_done(CallerFiles *f) {
        for (size_t i = 0; i < f->n; i++)
                safe_close(f->files[i].fd);
        *f = (CallerFiles) {};
}

void caller_files_move(CallerFiles *to, CallerFiles *from) {
        *to = *from;
        *from = (CallerFiles) {};
}
