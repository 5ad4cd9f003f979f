/* mkcpio.c — writes a "newc" cpio archive (what the kernel unpacks as an
 * initramfs) from a text spec, without root and without building a tree:
 * device nodes and ownership exist only in the archive.
 *
 * Output is byte-reproducible: mtimes are 0, inode numbers count up in spec
 * order, and nothing from the host file's metadata except its contents is
 * used.
 *
 * Spec, one entry per line ('#' starts a comment line):
 *   dir   NAME MODE UID GID
 *   file  NAME HOSTPATH MODE UID GID
 *   nod   NAME MODE UID GID c|b MAJOR MINOR
 *   slink NAME TARGET MODE UID GID
 * NAME is absolute; its parent must be declared earlier (the kernel does not
 * create missing parents).  MODE is octal.
 *
 * Usage: mkcpio SPEC > archive.cpio   (SPEC may be "-" for stdin) */

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

#define PROG "mkcpio"
#define FIELDS_MAX 9
#define NAMES_MAX 65536

typedef struct Name {
        char *path;         /* as written in the spec */
        bool is_dir;        /* may be a parent */
} Name;

typedef struct Spec {
        const char *path;   /* spec file name, for messages */
        unsigned line;      /* current line number */
        uint32_t next_ino;  /* inode numbers are handed out in spec order */
        Name *names;        /* every NAME so far, for duplicate/parent checks */
        size_t n_names;
        FILE *out;          /* the archive */
} Spec;

typedef struct Entry {
        const char *name;   /* without the leading '/' */
        uint32_t mode;      /* file type and permission bits */
        uint32_t uid, gid;
        uint32_t nlink;
        uint32_t size;      /* data bytes following the name */
        uint32_t rmajor, rminor;
} Entry;

_printf_(2, 3) static int spec_error(const Spec *s, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, PROG ": %s:%u: ", s->path, s->line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -EINVAL;
}

static void pad4(FILE *out, size_t n) {
        static const char zeros[4];

        fwrite(zeros, 1, (4 - n % 4) % 4, out);
}

/* Header and name; the caller writes `size` bytes of data and pads. */
static void entry_write_header(Spec *s, const Entry *e, uint32_t ino) {
        size_t namesize = strlen(e->name) + 1;

        fprintf(s->out, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08zX%08X",
                ino, e->mode, e->uid, e->gid, e->nlink, 0u /* mtime */, e->size,
                0u, 0u /* device holding the file */, e->rmajor, e->rminor, namesize, 0u /* check */);
        fwrite(e->name, 1, namesize, s->out);
        pad4(s->out, 110 + namesize);
}

static int parse_u32(const Spec *s, const char *what, const char *str, int base, uint32_t max, uint32_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(str, &end, base);
        if (errno != 0 || end == str || *end || str[0] == '-' || v > max)
                return spec_error(s, "invalid %s '%s'", what, str);
        *ret = (uint32_t) v;
        return 0;
}

static int parse_mode(const Spec *s, const char *str, uint32_t *ret) {
        return parse_u32(s, "mode (octal, at most 07777)", str, 8, 07777, ret);
}

static const Name *spec_find(const Spec *s, const char *name) {
        for (size_t i = 0; i < s->n_names; i++)
                if (streq(s->names[i].path, name))
                        return &s->names[i];
        return NULL;
}

/* Checks NAME and records it; returns the archive name (no leading '/'). */
static int spec_add_name(Spec *s, const char *name, bool is_dir, const char **ret) {
        _cleanup_free_ char *parent = NULL;
        const Name *p;
        char *slash;
        Name *n;

        if (name[0] != '/' || !name[1])
                return spec_error(s, "name '%s' must be an absolute path other than /", name);
        if (strstr(name, "//") || strstr(name, "/./") || strstr(name, "/../") || name[strlen(name) - 1] == '/' ||
            (strlen(name) >= 2 && streq(name + strlen(name) - 2, "/.")) ||
            (strlen(name) >= 3 && streq(name + strlen(name) - 3, "/..")))
                return spec_error(s, "name '%s' is not a normalized path", name);
        if (spec_find(s, name))
                return spec_error(s, "'%s' is declared twice", name);

        parent = strdup(name);
        if (!parent)
                return -ENOMEM;
        slash = strrchr(parent, '/');
        *slash = '\0';
        if (parent[0]) {
                p = spec_find(s, parent);
                if (!p)
                        return spec_error(s, "parent directory '%s' of '%s' is not declared before it", parent, name);
                if (!p->is_dir)
                        return spec_error(s, "parent '%s' of '%s' is not a directory", parent, name);
        }

        if (s->n_names >= NAMES_MAX)
                return spec_error(s, "more than %d entries", NAMES_MAX);
        n = realloc(s->names, (s->n_names + 1) * sizeof(Name));
        if (!n)
                return -ENOMEM;
        s->names = n;
        n[s->n_names] = (Name) { .path = strdup(name), .is_dir = is_dir };
        if (!n[s->n_names].path)
                return -ENOMEM;
        s->n_names++;
        *ret = name + 1;
        return 0;
}

/* Copies exactly e->size bytes from fd, failing if the file changed size
 * under us (the header already promised the size). */
static int copy_data(Spec *s, int fd, const char *host, uint32_t size) {
        char buf[1 << 16];
        uint64_t done = 0;

        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, PROG ": %s:%u: reading '%s': %m\n", s->path, s->line, host);
                        return -errno;
                }
                if (n == 0)
                        break;
                if (done + (uint64_t) n > size)
                        break;
                fwrite(buf, 1, (size_t) n, s->out);
                done += (uint64_t) n;
        }
        if (done != size)
                return spec_error(s, "'%s' changed size while being archived", host);
        pad4(s->out, size);
        return 0;
}

static int spec_file(Spec *s, char **f, size_t nf) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        Entry e = { .nlink = 1 };
        int r;

        if (nf != 6)
                return spec_error(s, "'file' needs NAME HOSTPATH MODE UID GID, got %zu fields", nf - 1);
        if ((r = parse_mode(s, f[3], &e.mode)) < 0 || (r = parse_u32(s, "uid", f[4], 10, UINT32_MAX, &e.uid)) < 0 ||
            (r = parse_u32(s, "gid", f[5], 10, UINT32_MAX, &e.gid)) < 0)
                return r;
        fd = open(f[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return spec_error(s, "cannot open '%s': %m", f[2]);
        if (fstat(fd, &st) < 0)
                return spec_error(s, "cannot stat '%s': %m", f[2]);
        if (!S_ISREG(st.st_mode))
                return spec_error(s, "'%s' is not a regular file", f[2]);
        if (st.st_size > (off_t) UINT32_MAX)
                return spec_error(s, "'%s' is larger than newc's 4 GiB limit", f[2]);
        r = spec_add_name(s, f[1], false, &e.name);
        if (r < 0)
                return r;
        e.mode |= S_IFREG;
        e.size = (uint32_t) st.st_size;
        entry_write_header(s, &e, s->next_ino++);
        return copy_data(s, fd, f[2], e.size);
}

static int spec_dir(Spec *s, char **f, size_t nf) {
        Entry e = { .nlink = 2 };
        int r;

        if (nf != 5)
                return spec_error(s, "'dir' needs NAME MODE UID GID, got %zu fields", nf - 1);
        if ((r = parse_mode(s, f[2], &e.mode)) < 0 || (r = parse_u32(s, "uid", f[3], 10, UINT32_MAX, &e.uid)) < 0 ||
            (r = parse_u32(s, "gid", f[4], 10, UINT32_MAX, &e.gid)) < 0)
                return r;
        r = spec_add_name(s, f[1], true, &e.name);
        if (r < 0)
                return r;
        e.mode |= S_IFDIR;
        entry_write_header(s, &e, s->next_ino++);
        return 0;
}

static int spec_nod(Spec *s, char **f, size_t nf) {
        Entry e = { .nlink = 1 };
        int r;

        if (nf != 8)
                return spec_error(s, "'nod' needs NAME MODE UID GID c|b MAJOR MINOR, got %zu fields", nf - 1);
        if ((r = parse_mode(s, f[2], &e.mode)) < 0 || (r = parse_u32(s, "uid", f[3], 10, UINT32_MAX, &e.uid)) < 0 ||
            (r = parse_u32(s, "gid", f[4], 10, UINT32_MAX, &e.gid)) < 0 ||
            (r = parse_u32(s, "major", f[6], 10, UINT32_MAX, &e.rmajor)) < 0 ||
            (r = parse_u32(s, "minor", f[7], 10, UINT32_MAX, &e.rminor)) < 0)
                return r;
        if (streq(f[5], "c"))
                e.mode |= S_IFCHR;
        else if (streq(f[5], "b"))
                e.mode |= S_IFBLK;
        else
                return spec_error(s, "device type '%s' is neither 'c' nor 'b'", f[5]);
        r = spec_add_name(s, f[1], false, &e.name);
        if (r < 0)
                return r;
        entry_write_header(s, &e, s->next_ino++);
        return 0;
}

static int spec_slink(Spec *s, char **f, size_t nf) {
        Entry e = { .nlink = 1 };
        size_t len;
        int r;

        if (nf != 6)
                return spec_error(s, "'slink' needs NAME TARGET MODE UID GID, got %zu fields", nf - 1);
        if ((r = parse_mode(s, f[3], &e.mode)) < 0 || (r = parse_u32(s, "uid", f[4], 10, UINT32_MAX, &e.uid)) < 0 ||
            (r = parse_u32(s, "gid", f[5], 10, UINT32_MAX, &e.gid)) < 0)
                return r;
        len = strlen(f[2]);
        if (len >= PATH_MAX)
                return spec_error(s, "symlink target of '%s' is too long", f[1]);
        r = spec_add_name(s, f[1], false, &e.name);
        if (r < 0)
                return r;
        e.mode |= S_IFLNK;
        e.size = (uint32_t) len;
        entry_write_header(s, &e, s->next_ino++);
        fwrite(f[2], 1, len, s->out);
        pad4(s->out, len);
        return 0;
}

static int spec_line(Spec *s, char *line) {
        char *f[FIELDS_MAX + 1], *save = NULL, *tok;
        size_t nf = 0;

        for (tok = strtok_r(line, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
                if (nf == 0 && tok[0] == '#')
                        return 0;
                if (nf > FIELDS_MAX)
                        return spec_error(s, "too many fields");
                f[nf++] = tok;
        }
        if (nf == 0)
                return 0;
        if (streq(f[0], "file"))
                return spec_file(s, f, nf);
        if (streq(f[0], "dir"))
                return spec_dir(s, f, nf);
        if (streq(f[0], "nod"))
                return spec_nod(s, f, nf);
        if (streq(f[0], "slink"))
                return spec_slink(s, f, nf);
        return spec_error(s, "unknown entry type '%s' (expected dir, file, nod or slink)", f[0]);
}

static void spec_done(Spec *s) {
        for (size_t i = 0; i < s->n_names; i++)
                free(s->names[i].path);
        free(s->names);
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *line = NULL;
        size_t line_size = 0;
        Spec s = { .next_ino = 1, .out = stdout };
        Entry trailer = { .name = "TRAILER!!!", .nlink = 1 };
        FILE *in;
        int r = 0;

        if (argc != 2 || (argv[1][0] == '-' && argv[1][1])) {
                fprintf(stderr, "usage: " PROG " SPEC > archive.cpio   (SPEC '-' reads stdin)\n");
                return 2;
        }
        if (isatty(STDOUT_FILENO)) {
                fprintf(stderr, PROG ": refusing to write an archive to a terminal\n");
                return 2;
        }
        s.path = argv[1];
        in = streq(s.path, "-") ? stdin : fopen(s.path, "re");
        if (!in) {
                fprintf(stderr, PROG ": cannot open spec '%s': %m\n", s.path);
                return 1;
        }

        while (getline(&line, &line_size, in) >= 0) {
                s.line++;
                r = spec_line(&s, line);
                if (r < 0)
                        break;
        }
        if (r >= 0 && ferror(in)) {
                fprintf(stderr, PROG ": reading spec '%s' failed\n", s.path);
                r = -EIO;
        }
        if (in != stdin)
                (void) fclose(in);
        spec_done(&s);
        if (r == -ENOMEM)
                fprintf(stderr, PROG ": %s:%u: out of memory\n", s.path, s.line);
        if (r < 0)
                return 1;

        entry_write_header(&s, &trailer, 0);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, PROG ": writing the archive failed: %m\n");
                return 1;
        }
        return 0;
}
