/* extract-vmlinux.c — turns an x86 bzImage back into the ELF vmlinux it was
 * built from, so VMMs can boot it directly through its PVH entry point.
 *
 * Divisions: reading the file; the boot setup header (locates the compressed
 * payload); compression detection by magic; decompression through the
 * packaged tool (xz, zstd, gzip, ...) over pipes; checking that the result is
 * an x86_64 ELF with a PVH note.
 *
 * Usage: extract-vmlinux BZIMAGE OUT
 *        extract-vmlinux --release BZIMAGE   (prints the kernel release) */

#include <elf.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

#define PROG "extract-vmlinux"

/* Offsets into the boot sector / setup header (Documentation/x86/boot.rst). */
#define HDR_SETUP_SECTS    0x1f1
#define HDR_MAGIC          0x202
#define HDR_VERSION        0x206
#define HDR_KERNEL_VERSION 0x20e
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_END            0x250

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Nothing sane is larger; stops a bogus header from making us eat the disk. */
#define VMLINUX_MAX ((size_t) 1 << 30)

typedef struct Blob {
        uint8_t *data; /* malloc'ed contents */
        size_t size;   /* valid bytes in data */
        size_t alloc;  /* allocated bytes */
} Blob;

typedef struct Compression {
        const char *name;         /* for messages */
        const uint8_t *magic;     /* first bytes of the stream */
        size_t magic_len;
        bool size_appended;       /* kbuild appended a le32 size we must not feed the tool */
        const char *const argv[4]; /* decompressor, reading stdin, writing stdout */
} Compression;

static const uint8_t magic_gzip[] = { 0x1f, 0x8b };
static const uint8_t magic_xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
static const uint8_t magic_zstd[] = { 0x28, 0xb5, 0x2f, 0xfd };
/* Legacy .lzma has no real magic; kbuild's "lzma -9" always starts with these. */
static const uint8_t magic_lzma[] = { 0x5d, 0x00, 0x00 };
static const uint8_t magic_lz4_legacy[] = { 0x02, 0x21, 0x4c, 0x18 };
static const uint8_t magic_bzip2[] = { 'B', 'Z', 'h' };
static const uint8_t magic_lzo[] = { 0x89, 'L', 'Z', 'O', 0x00 };

/* gzip carries its size in its own trailer; every other kbuild format has
 * the uncompressed size appended as 4 extra bytes the tools would reject as
 * trailing garbage. */
static const Compression compressions[] = {
        { "gzip", magic_gzip, sizeof(magic_gzip), false, { "gzip", "-dc", NULL } },
        { "xz", magic_xz, sizeof(magic_xz), true, { "xz", "-dc", NULL } },
        { "zstd", magic_zstd, sizeof(magic_zstd), true, { "zstd", "-dcq", NULL } },
        { "lzma", magic_lzma, sizeof(magic_lzma), true, { "xz", "--format=lzma", "-dc", NULL } },
        { "lz4", magic_lz4_legacy, sizeof(magic_lz4_legacy), true, { "lz4", "-dc", NULL } },
        { "bzip2", magic_bzip2, sizeof(magic_bzip2), true, { "bzip2", "-dc", NULL } },
        { "lzo", magic_lzo, sizeof(magic_lzo), true, { "lzop", "-dc", NULL } },
};

static void blob_done(Blob *b) {
        free(b->data);
        *b = (Blob) {};
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* Makes room for at least `more` bytes past b->size; -ENOMEM or -EFBIG. */
static int blob_reserve(Blob *b, size_t more) {
        size_t want, n;
        uint8_t *p;

        if (more > VMLINUX_MAX || b->size > VMLINUX_MAX - more)
                return -EFBIG;
        want = b->size + more;
        if (want <= b->alloc)
                return 0;
        n = b->alloc ? b->alloc : 1 << 20;
        while (n < want)
                n *= 2;
        p = realloc(b->data, n);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->alloc = n;
        return 0;
}

/* Reads all of fd into *ret. */
static int read_all(int fd, Blob *ret) {
        Blob b = {};
        int r;

        for (;;) {
                ssize_t n;

                r = blob_reserve(&b, 1 << 16);
                if (r < 0)
                        goto fail;
                n = read(fd, b.data + b.size, b.alloc - b.size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                if (n == 0)
                        break;
                b.size += (size_t) n;
        }
        *ret = b;
        return 0;
fail:
        blob_done(&b);
        return r;
}

static int read_file(const char *path, Blob *ret) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return read_all(fd, ret);
}

/* Locates the compressed payload inside a bzImage; on failure prints why,
 * naming the file and the offending value. */
static int bzimage_payload(const char *path, const Blob *img, const uint8_t **ret_data, size_t *ret_size) {
        unsigned setup_sects;
        uint16_t version;
        uint64_t pm_start, off, len;

        if (img->size < HDR_END) {
                fprintf(stderr, PROG ": %s: not a bzImage: only %zu bytes, a boot setup header needs %d\n",
                        path, img->size, HDR_END);
                return -EINVAL;
        }
        if (memcmp(img->data + HDR_MAGIC, "HdrS", 4) != 0) {
                fprintf(stderr, PROG ": %s: not a bzImage: no \"HdrS\" magic at offset 0x%x (found %02x %02x %02x %02x)\n",
                        path, HDR_MAGIC, img->data[HDR_MAGIC], img->data[HDR_MAGIC + 1],
                        img->data[HDR_MAGIC + 2], img->data[HDR_MAGIC + 3]);
                return -EINVAL;
        }
        version = le16(img->data + HDR_VERSION);
        if (version < 0x0208) {
                fprintf(stderr, PROG ": %s: boot protocol %u.%02u has no payload_offset (needs >= 2.08)\n",
                        path, version >> 8, version & 0xff);
                return -EINVAL;
        }

        /* The boot protocol says 0 means 4, for ancient bootloaders. */
        setup_sects = img->data[HDR_SETUP_SECTS] ?: 4;
        pm_start = ((uint64_t) setup_sects + 1) * 512;
        off = le32(img->data + HDR_PAYLOAD_OFFSET);
        len = le32(img->data + HDR_PAYLOAD_LENGTH);
        if (len == 0 || pm_start + off + len > img->size) {
                fprintf(stderr,
                        PROG ": %s: payload_offset 0x%" PRIx64 " + payload_length 0x%" PRIx64
                        " after protected-mode start 0x%" PRIx64 " (setup_sects %u) exceeds file size 0x%zx\n",
                        path, off, len, pm_start, setup_sects, img->size);
                return -EINVAL;
        }
        *ret_data = img->data + pm_start + off;
        *ret_size = (size_t) len;
        return 0;
}

static const Compression *compression_detect(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(compressions); i++)
                if (n >= compressions[i].magic_len && memcmp(p, compressions[i].magic, compressions[i].magic_len) == 0)
                        return &compressions[i];
        return NULL;
}

static int fd_nonblock(int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

/* Child side of decompress(): never returns. */
static _Noreturn void exec_tool(const char *const *argv, int in_fd, int out_fd) {
        if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
                _exit(126);
        (void) signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], (char *const *) argv);
        fprintf(stderr, PROG ": cannot run '%s': %m\n", argv[0]);
        _exit(errno == ENOENT ? 127 : 126);
}

/* Feeds `in` to the tool's stdin while collecting its stdout, with poll() so
 * neither side of a pipe fills up and deadlocks us.  Takes ownership of
 * to_child_fd and closes it on every path, or the tool would wait forever. */
static int pump(int to_child_fd, int from_child, const uint8_t *in, size_t in_size, Blob *out) {
        _cleanup_close_ int to_child = to_child_fd;
        size_t written = 0;
        int r;

        for (;;) {
                struct pollfd pfd[2] = {
                        { .fd = from_child, .events = POLLIN },
                        { .fd = to_child, .events = POLLOUT },
                };
                nfds_t nfds = to_child >= 0 ? 2 : 1;

                if (poll(pfd, nfds, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }

                if (nfds == 2 && (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t n = write(to_child, in + written, in_size - written);

                        if (n < 0 && errno == EPIPE)
                                /* The tool quit early; its exit status will say why. */
                                written = in_size;
                        else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                        else if (n > 0)
                                written += (size_t) n;
                        if (written == in_size)
                                to_child = safe_close(to_child);
                }

                if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n;

                        r = blob_reserve(out, 1 << 16);
                        if (r < 0)
                                return r;
                        n = read(from_child, out->data + out->size, out->alloc - out->size);
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                        if (n == 0)
                                break;
                        if (n > 0)
                                out->size += (size_t) n;
                }
        }
        return 0;
}

/* Runs the compression's tool on `in`; returns 0 with *ret filled, or a
 * negative errno after printing why. */
static int decompress(const char *path, const Compression *c, const uint8_t *in, size_t in_size, Blob *ret) {
        int in_pipe[2] = { -EBADF, -EBADF }, out_pipe[2] = { -EBADF, -EBADF };
        Blob out = {};
        pid_t pid;
        int r, status;

        if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
                r = -errno;
                fprintf(stderr, PROG ": pipe: %s\n", strerror(-r));
                goto finish;
        }
        pid = fork();
        if (pid < 0) {
                r = -errno;
                fprintf(stderr, PROG ": fork: %s\n", strerror(-r));
                goto finish;
        }
        if (pid == 0)
                exec_tool(c->argv, in_pipe[0], out_pipe[1]);

        in_pipe[0] = safe_close(in_pipe[0]);
        out_pipe[1] = safe_close(out_pipe[1]);
        r = fd_nonblock(in_pipe[1]);
        if (r >= 0)
                r = fd_nonblock(out_pipe[0]);
        if (r >= 0)
                r = pump(TAKE_FD(in_pipe[1]), out_pipe[0], in, in_size, &out);
        if (r < 0)
                fprintf(stderr, PROG ": %s: talking to '%s': %s\n", path, c->argv[0], strerror(-r));
        /* Both ends must be closed before waiting, or a tool blocked on
         * either pipe never exits. */
        in_pipe[1] = safe_close(in_pipe[1]);
        out_pipe[0] = safe_close(out_pipe[0]);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        r = -errno;
                        goto finish;
                }
        if (r < 0)
                goto finish;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
                        fprintf(stderr, PROG ": %s: payload is %s, but '%s' is not installed\n",
                                path, c->name, c->argv[0]);
                else
                        fprintf(stderr, PROG ": %s: '%s' failed to decompress the %s payload (%s %d)\n",
                                path, c->argv[0], c->name, WIFEXITED(status) ? "exit status" : "signal",
                                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                r = -EIO;
                goto finish;
        }
        *ret = out;
        out = (Blob) {};
        r = 0;
finish:
        (void) safe_close(in_pipe[0]);
        (void) safe_close(in_pipe[1]);
        (void) safe_close(out_pipe[0]);
        (void) safe_close(out_pipe[1]);
        blob_done(&out);
        return r;
}

/* Walks one note area; returns true if it holds Xen's PHYS32_ENTRY note. */
static bool notes_have_pvh(const uint8_t *p, uint64_t size) {
        uint64_t pos = 0;

        while (size - pos >= sizeof(Elf64_Nhdr)) {
                Elf64_Nhdr nh;
                uint64_t namesz, descsz;

                memcpy(&nh, p + pos, sizeof(nh));
                pos += sizeof(nh);
                namesz = ((uint64_t) nh.n_namesz + 3) & ~(uint64_t) 3;
                descsz = ((uint64_t) nh.n_descsz + 3) & ~(uint64_t) 3;
                if (namesz > size - pos || descsz > size - pos - namesz)
                        return false;
                if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 && memcmp(p + pos, "Xen", 4) == 0)
                        return true;
                pos += namesz + descsz;
        }
        return false;
}

static bool range_ok(uint64_t off, uint64_t size, size_t total) {
        return off <= total && size <= total - off;
}

/* Checks ELF64 / x86_64; *ret_pvh tells whether a PVH entry note exists,
 * looked up via program headers first (what QEMU reads), sections second. */
static int elf_check(const char *what, const Blob *b, bool *ret_pvh) {
        Elf64_Ehdr eh;

        if (b->size < sizeof(eh) || memcmp(b->data, ELFMAG, SELFMAG) != 0) {
                fprintf(stderr, PROG ": %s: decompressed payload is not an ELF file\n", what);
                return -EINVAL;
        }
        memcpy(&eh, b->data, sizeof(eh));
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
                fprintf(stderr, PROG ": %s: vmlinux is not ELF64 little-endian (class %u, data %u)\n",
                        what, eh.e_ident[EI_CLASS], eh.e_ident[EI_DATA]);
                return -EINVAL;
        }
        if (eh.e_machine != EM_X86_64) {
                fprintf(stderr, PROG ": %s: vmlinux e_machine is %u, not x86_64 (%u)\n", what, eh.e_machine, EM_X86_64);
                return -EINVAL;
        }

        *ret_pvh = false;
        if (eh.e_phentsize == sizeof(Elf64_Phdr) &&
            range_ok(eh.e_phoff, (uint64_t) eh.e_phnum * sizeof(Elf64_Phdr), b->size))
                for (unsigned i = 0; i < eh.e_phnum && !*ret_pvh; i++) {
                        Elf64_Phdr ph;

                        memcpy(&ph, b->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
                        if (ph.p_type == PT_NOTE && range_ok(ph.p_offset, ph.p_filesz, b->size))
                                *ret_pvh = notes_have_pvh(b->data + ph.p_offset, ph.p_filesz);
                }
        if (!*ret_pvh && eh.e_shentsize == sizeof(Elf64_Shdr) &&
            range_ok(eh.e_shoff, (uint64_t) eh.e_shnum * sizeof(Elf64_Shdr), b->size))
                for (unsigned i = 0; i < eh.e_shnum && !*ret_pvh; i++) {
                        Elf64_Shdr sh;

                        memcpy(&sh, b->data + eh.e_shoff + i * sizeof(sh), sizeof(sh));
                        if (sh.sh_type == SHT_NOTE && range_ok(sh.sh_offset, sh.sh_size, b->size))
                                *ret_pvh = notes_have_pvh(b->data + sh.sh_offset, sh.sh_size);
                }
        return 0;
}

/* Writes via a temporary name and rename(), so an interrupted run never
 * leaves a plausible-looking half vmlinux for make to trust. */
static int write_atomic(const char *path, const Blob *b) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t done = 0;
        int r;

        if (asprintf(&tmp, "%s.tmp.%d", path, (int) getpid()) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        while (done < b->size) {
                ssize_t n = write(fd, b->data + done, b->size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;
fail:
        (void) unlink(tmp);
        return r;
}

/* Prints the first word of the header's kernel_version string. */
static int print_release(const char *path, const Blob *img) {
        uint16_t ptr;
        size_t off, end;

        ptr = le16(img->data + HDR_KERNEL_VERSION);
        /* The pointer is relative to the start of the setup code at 0x200. */
        off = (size_t) ptr + 0x200;
        if (ptr == 0 || off >= img->size) {
                fprintf(stderr, PROG ": %s: kernel_version pointer 0x%x is outside the file\n", path, ptr);
                return -EINVAL;
        }
        for (end = off; end < img->size && end - off < 256; end++)
                if (img->data[end] <= ' ' || img->data[end] > '~')
                        break;
        if (end == off) {
                fprintf(stderr, PROG ": %s: kernel_version string is empty\n", path);
                return -EINVAL;
        }
        printf("%.*s\n", (int) (end - off), (const char *) img->data + off);
        return fflush(stdout) == 0 ? 0 : -EIO;
}

int main(int argc, char *argv[]) {
        Blob img = {}, vmlinux = {};
        const uint8_t *payload;
        size_t payload_size, feed_size;
        const Compression *c;
        const char *in, *out;
        bool release_only, pvh;
        int r;

        release_only = argc == 3 && streq(argv[1], "--release");
        if (argc != 3 || (argv[1][0] == '-' && !release_only)) {
                fprintf(stderr, "usage: " PROG " BZIMAGE OUT\n"
                                "       " PROG " --release BZIMAGE\n");
                return 2;
        }
        in = release_only ? argv[2] : argv[1];
        out = argv[2];

        /* A tool dying early must give us EPIPE, not kill us silently. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = read_file(in, &img);
        if (r < 0) {
                fprintf(stderr, PROG ": cannot read '%s': %s\n", in, strerror(-r));
                goto finish;
        }
        r = bzimage_payload(in, &img, &payload, &payload_size);
        if (r < 0)
                goto finish;
        if (release_only) {
                r = print_release(in, &img);
                goto finish;
        }

        c = compression_detect(payload, payload_size);
        if (!c) {
                fprintf(stderr, PROG ": %s: unknown payload compression (first bytes %02x %02x %02x %02x)\n",
                        in, payload[0], payload_size > 1 ? payload[1] : 0,
                        payload_size > 2 ? payload[2] : 0, payload_size > 3 ? payload[3] : 0);
                r = -EINVAL;
                goto finish;
        }
        feed_size = payload_size;
        if (c->size_appended) {
                if (payload_size <= 4) {
                        fprintf(stderr, PROG ": %s: %s payload of %zu bytes is too short\n", in, c->name, payload_size);
                        r = -EINVAL;
                        goto finish;
                }
                feed_size -= 4;
        }

        r = decompress(in, c, payload, feed_size, &vmlinux);
        if (r < 0)
                goto finish;
        /* Both gzip's trailer and kbuild's appended word hold the size mod 2^32. */
        if (le32(payload + payload_size - 4) != (uint32_t) vmlinux.size) {
                fprintf(stderr, PROG ": %s: decompressed %zu bytes, but the payload says %u\n",
                        in, vmlinux.size, le32(payload + payload_size - 4));
                r = -EIO;
                goto finish;
        }
        r = elf_check(in, &vmlinux, &pvh);
        if (r < 0)
                goto finish;

        r = write_atomic(out, &vmlinux);
        if (r < 0) {
                fprintf(stderr, PROG ": cannot write '%s': %s\n", out, strerror(-r));
                goto finish;
        }
        if (!pvh)
                fprintf(stderr, PROG ": WARNING: %s has no PVH entry note (\"Xen\", type %d): "
                                "QEMU will refuse to boot it with -kernel; rebuild with CONFIG_PVH=y or use the bzImage\n",
                        out, XEN_ELFNOTE_PHYS32_ENTRY);
        r = 0;
finish:
        blob_done(&img);
        blob_done(&vmlinux);
        return r < 0 ? 1 : 0;
}
