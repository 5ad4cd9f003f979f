/* guest-file.c — kernels and disks told apart by content (guest-file.h).
 * Everything is read with pread() from the caller's fd; nothing is opened
 * by name.  Offsets: Documentation/x86/boot.rst (setup header), the ELF
 * program headers and notes (PVH: Xen note 18, XEN_ELFNOTE_PHYS32_ENTRY). */
#include "guest-file.h"

#include <elf.h>
#include <stdio.h>
#include <sys/stat.h>

#include <blkid/blkid.h>

#include "util.h"

#define HDR_MAGIC 0x202
#define HDR_KERNEL_VERSION 0x20e
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define NOTES_MAX (64 * 1024)
#define BANNER "Linux version "
#define SCAN_MAX ((off_t) 256 << 20)

static const uint8_t qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };
/* qcow2 header fields (big-endian; docs/interop/qcow2.txt in QEMU). */
#define QCOW2_VERSION 4
#define QCOW2_BACKING_OFFSET 8
#define QCOW2_INCOMPATIBLE 72
#define QCOW2_DATA_FILE_BIT (1ULL << 2)

static int read_at(int fd, void *buf, size_t len, off_t off) {
        ssize_t k = pread(fd, buf, len, off);
        if (k < 0)
                return -errno;
        return (size_t) k == len ? 0 : -ENODATA;
}

static void release_from(const char *s, size_t len, char *release, size_t size) {
        size_t n = 0;
        while (n < len && s[n] && s[n] != ' ' && n + 1 < size) {
                release[n] = s[n] >= 0x21 && s[n] <= 0x7e ? s[n] : '?';
                n++;
        }
        release[n] = 0;
}

/* The release after the first "Linux version " in the file (every kernel
 * image carries its banner string, compressed ones only in the payload). */
static void scan_release(int fd, char *release, size_t size) {
        char buf[65536 + 64];
        size_t keep = 0;
        for (off_t off = 0; off < SCAN_MAX;) {
                ssize_t k = pread(fd, buf + keep, sizeof(buf) - 64 - keep, off);
                if (k <= 0)
                        return;
                size_t n = keep + (size_t) k;
                const char *hit = memmem(buf, n, BANNER, strlen(BANNER));
                if (hit && (size_t) (hit - buf) + strlen(BANNER) + 64 <= n) {
                        release_from(hit + strlen(BANNER), n - (size_t) (hit - buf) - strlen(BANNER), release, size);
                        return;
                }
                off += k;
                keep = n < 128 ? n : 128; /* a banner cut between two reads */
                memmove(buf, buf + n - keep, keep);
        }
}

static bool is_bzimage(int fd, char *release, size_t size) {
        char magic[4];
        uint16_t ver;
        if (read_at(fd, magic, 4, HDR_MAGIC) < 0 || memcmp(magic, "HdrS", 4) != 0)
                return false;
        char text[128] = "";
        if (read_at(fd, &ver, sizeof(ver), HDR_KERNEL_VERSION) == 0 && ver)
                (void) pread(fd, text, sizeof(text) - 1, (off_t) ver + 0x200);
        release_from(text, sizeof(text), release, size);
        return true;
}

/* Whether one PT_NOTE segment holds the PVH entry note. */
static bool notes_have_pvh(const uint8_t *p, size_t len) {
        for (size_t off = 0; off + sizeof(Elf64_Nhdr) <= len;) {
                const Elf64_Nhdr *n = (const Elf64_Nhdr *) (p + off);
                size_t name = (n->n_namesz + 3) & ~3U, desc = (n->n_descsz + 3) & ~3U;
                size_t next = off + sizeof(Elf64_Nhdr) + name + desc;
                if (next > len || next <= off)
                        return false;
                if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && n->n_namesz == 4 &&
                    memcmp(p + off + sizeof(Elf64_Nhdr), "Xen", 4) == 0)
                        return true;
                off = next;
        }
        return false;
}

/* 1: an x86-64 ELF with a PVH note; 0: an ELF without; -1: not an x86-64 ELF. */
static int elf_pvh(int fd) {
        Elf64_Ehdr eh;
        if (read_at(fd, &eh, sizeof(eh), 0) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
            eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr))
                return -1;
        for (unsigned i = 0; i < eh.e_phnum && i < 64; i++) {
                Elf64_Phdr ph;
                if (read_at(fd, &ph, sizeof(ph), (off_t) (eh.e_phoff + i * sizeof(ph))) < 0)
                        return 0;
                if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > NOTES_MAX)
                        continue;
                _cleanup_free_ uint8_t *notes = malloc(ph.p_filesz);
                if (notes && read_at(fd, notes, ph.p_filesz, (off_t) ph.p_offset) == 0 && notes_have_pvh(notes, ph.p_filesz))
                        return 1;
        }
        return 0;
}

static int refuse(char *why, size_t size, const char *fmt, ...) _printf_(3, 4);
static int refuse(char *why, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
        return -EMEDIUMTYPE;
}

int guest_kernel_probe(int fd, KernelFormat declared, KernelFormat *ret_format, char *release, size_t release_size,
                       char *why, size_t why_size) {
        char rel[64] = "";
        struct stat st;
        KernelFormat f;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size < 4096)
                return refuse(why, why_size, "is not a kernel: %lld bytes", (long long) st.st_size);
        int pvh = elf_pvh(fd);
        if (is_bzimage(fd, rel, sizeof(rel)))
                f = KERNEL_FORMAT_BZIMAGE;
        else if (pvh > 0)
                f = KERNEL_FORMAT_PVH;
        else if (pvh == 0)
                return refuse(why, why_size, "is an x86-64 ELF without a PVH entry note: no VMM here boots it "
                                             "(pass the bzImage, or a vmlinux built with CONFIG_PVH)");
        else if (declared == KERNEL_FORMAT_RAW)
                f = KERNEL_FORMAT_RAW;
        else
                return refuse(why, why_size, "is not a kernel: neither a bzImage (no 'HdrS' at 0x202) nor an x86-64 ELF "
                                             "vmlinux (say format=raw for a flat binary)");
        if (declared >= 0 && declared != f)
                return refuse(why, why_size, "is a %s, not a %s", f == KERNEL_FORMAT_BZIMAGE ? "bzImage" : "PVH vmlinux",
                              kernel_format_to_string(declared));
        if (!rel[0] && release)
                scan_release(fd, rel, sizeof(rel));
        if (release)
                snprintf(release, release_size, "%s", rel);
        *ret_format = f;
        return 0;
}

const char *guest_disk_contents(int fd, char *buf, size_t size) {
        blkid_probe pr = blkid_new_probe();
        const char *what = NULL, *type = NULL, *usage = NULL;
        if (!pr || blkid_probe_set_device(pr, fd, 0, 0) < 0) {
                blkid_free_probe(pr);
                return NULL;
        }
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_MAGIC);
        if (blkid_do_safeprobe(pr) == 0) {
                if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0) {
                        (void) blkid_probe_lookup_value(pr, "USAGE", &usage, NULL);
                        /* The ext2/ext3/ext4 family is told apart by features; name the family too. */
                        bool ext = streq(type, "ext2") || streq(type, "ext3") || streq(type, "ext4");
                        snprintf(buf, size, "a%s %s %s%s", strchr("aeiou", type[0]) ? "n" : "", type,
                                 usage && streq(usage, "filesystem") ? "file system" : usage ? usage : "signature",
                                 ext ? " (ext2/ext3/ext4)" : "");
                        what = buf;
                } else if (blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0) {
                        snprintf(buf, size, "a %s partition table", type);
                        what = buf;
                }
        }
        blkid_free_probe(pr);
        return what;
}

static uint64_t be(const uint8_t *p, size_t n) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

/* A qcow2 image can name other files (a backing file, an external data
 * file), which the VMM, running as root, would open by name: refused, so no
 * path inside a caller's image is ever opened. */
static int check_qcow2(int fd, char *why, size_t why_size) {
        uint8_t h[104] = {};
        if (pread(fd, h, sizeof(h), 0) < 20)
                return refuse(why, why_size, "is not a qcow2 image: its header is cut short");
        if (be(h + QCOW2_BACKING_OFFSET, 8) != 0)
                return refuse(why, why_size, "is a qcow2 image with a backing file, which the VMM would open by name as "
                                             "root: flatten it first (qemu-img convert -O qcow2)");
        if (be(h + QCOW2_VERSION, 4) >= 3 && (be(h + QCOW2_INCOMPATIBLE, 8) & QCOW2_DATA_FILE_BIT))
                return refuse(why, why_size, "is a qcow2 image with an external data file, which the VMM would open by "
                                             "name as root: convert it first (qemu-img convert -O qcow2)");
        return 0;
}

int guest_disk_probe(int fd, DiskFormat declared, DiskFormat *ret_format, char *why, size_t why_size) {
        uint8_t magic[4];
        char what[128];
        int r = read_at(fd, magic, sizeof(magic), 0);
        if (r == -ENODATA)
                return refuse(why, why_size, "is not a disk image: it is empty");
        if (r < 0)
                return r;
        bool qcow2 = memcmp(magic, qcow2_magic, sizeof(magic)) == 0;
        if (declared == DISK_FORMAT_QCOW2 && !qcow2)
                return refuse(why, why_size, "is not a qcow2 image (no 'QFI\\xfb' magic)");
        if (qcow2 && declared == DISK_FORMAT_RAW)
                return refuse(why, why_size, "is a qcow2 image, not raw (say format=qcow2)");
        if (qcow2 && (r = check_qcow2(fd, why, why_size)) < 0)
                return r;
        if (!qcow2 && !guest_disk_contents(fd, what, sizeof(what)))
                return refuse(why, why_size, "is not a disk image: neither qcow2 nor raw bytes holding a partition table "
                                             "or file system (libblkid found none)");
        *ret_format = qcow2 ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
        return 0;
}
