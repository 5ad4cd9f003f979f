/* files.c — opening the caller's files (files.h). */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

static int add(ClientFiles *f, const char *role, const char *path, int flags, const char *what) {
        if (f->n == CLIENT_FILES_MAX) {
                fprintf(stderr, "virtlabctl: too many files (at most %d)\n", CLIENT_FILES_MAX);
                return -1;
        }
        int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "virtlabctl: cannot open %s '%s': %s\n", what, path, strerror(errno));
                return -1;
        }
        f->role[f->n] = role;
        f->path[f->n] = strdup(path);
        f->fd[f->n++] = fd;
        return 0;
}

/* DIR/image.json and every kernel/initrd/disk file it names (relative to
 * DIR); the disk read-only, for the daemon never writes it. */
static int open_image(ClientFiles *f, const char *dir) {
        static const char *const keys[] = { "vmlinux", "bzimage", "raw", "initramfs", "disk_image" };
        char path[4096];
        snprintf(path, sizeof(path), "%s/image.json", dir);
        if (add(f, "image.json", path, O_RDONLY, "the guest image") < 0)
                return -1;
        json_error_t e;
        json_auto_t *img = json_loadfd(f->fd[f->n - 1], 0, &e);
        if (!json_is_object(img)) {
                fprintf(stderr, "virtlabctl: the guest image %s does not parse: %s\n", path, e.text);
                return -1;
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *file = json_string_value(json_object_get(img, keys[i]));
                char what[128];
                if (!file)
                        continue;
                if (file[0] == '/')
                        snprintf(path, sizeof(path), "%s", file);
                else
                        snprintf(path, sizeof(path), "%s/%s", dir, file);
                snprintf(what, sizeof(what), "'%s' named by %s/image.json:", keys[i], dir);
                if (add(f, keys[i], path, O_RDONLY, what) < 0)
                        return -1;
        }
        return 0;
}

/* The console password as a sealed memfd: no file on disk ever holds it. */
static int add_secret(ClientFiles *f, json_t *spec) {
        const char *s = json_string_value(json_object_get(spec, CLIENT_SECRET_KEY));
        if (!s)
                return 0;
        int fd = memfd_create("console_password", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        size_t len = strlen(s);
        if (fd < 0 || write(fd, s, len) != (ssize_t) len || fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW) < 0 ||
            f->n == CLIENT_FILES_MAX) {
                fprintf(stderr, "virtlabctl: cannot pass the console password: %s\n", strerror(errno ?: E2BIG));
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        json_object_del(spec, CLIENT_SECRET_KEY);
        f->role[f->n] = "console_password";
        f->path[f->n] = strdup("(--console-login's password)");
        f->fd[f->n++] = fd;
        return 0;
}

int client_files_open(json_t *spec, ClientFiles *ret) {
        ClientFiles f = { .n = 0 };
        const char *image = json_string_value(json_object_get(spec, "image"));
        const char *disk = json_string_value(json_object_get(spec, "disk"));
        const char *kernel = json_string_value(json_object_get(spec, "kernel"));
        const char *initrd = json_string_value(json_object_get(spec, "initrd"));
        const char *disk_image = json_string_value(json_object_get(spec, "disk_image"));
        int r = 0;
        if (image && strchr(image, '/'))
                r = open_image(&f, image);
        if (r == 0 && disk)
                r = add(&f, "disk", disk, O_RDWR, "disk");
        if (r == 0 && kernel)
                r = add(&f, "kernel", kernel, O_RDONLY, "kernel");
        if (r == 0 && initrd)
                r = add(&f, "initrd", initrd, O_RDONLY, "initrd");
        if (r == 0 && disk_image)
                r = add(&f, "disk_image", disk_image, O_RDONLY, "disk");
        if (r == 0)
                r = add_secret(&f, spec);
        if (r < 0) {
                client_files_close(&f);
                return -1;
        }
        *ret = f;
        return 0;
}

void client_files_close(ClientFiles *f) {
        for (size_t i = 0; i < f->n; i++) {
                close(f->fd[i]);
                free(f->path[i]);
        }
        f->n = 0;
}

void client_files_explain(const ClientFiles *f, const char *error_message) {
        if (!error_message || !strstr(error_message, "passed by the caller"))
                return;
        for (size_t i = 0; i < f->n; i++)
                fprintf(stderr, "virtlabctl: %s was %s\n", f->role[i], f->path[i] ? f->path[i] : "?");
}
