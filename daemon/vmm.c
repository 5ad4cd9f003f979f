/* vmm.c — backend registry, binary discovery and versioning, strv helpers. */
#include "vmm.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>

#include "util.h"

extern const VmmBackend vmm_backend_qemu;
extern const VmmBackend vmm_backend_qemu_microvm;
extern const VmmBackend vmm_backend_stratovirt;

static const VmmBackend *const backends[] = {
        &vmm_backend_qemu,
        &vmm_backend_qemu_microvm,
        &vmm_backend_stratovirt,
        NULL,
};

const VmmBackend *const *vmm_backends(void) {
        return backends;
}

const VmmBackend *vmm_backend_find(const char *name) {
        for (size_t i = 0; backends[i]; i++)
                if (name && streq(backends[i]->name, name))
                        return backends[i];
        return NULL;
}

int strv_push(char ***v, size_t *n, const char *s) {
        char *copy = strdup(s);
        char **nv = copy ? realloc(*v, sizeof(char *) * (*n + 2)) : NULL;
        if (!nv) {
                free(copy);
                return -ENOMEM;
        }
        nv[(*n)++] = copy;
        nv[*n] = NULL;
        *v = nv;
        return 0;
}

int strv_pushf(char ***v, size_t *n, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0) {
                s = NULL;
                return -ENOMEM;
        }
        return strv_push(v, n, s);
}

char **strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
        return NULL;
}

json_t *strv_to_json(char *const *v) {
        json_t *a = json_array();
        for (char *const *p = v; a && p && *p; p++)
                json_array_append_new(a, json_string(*p));
        return a;
}

static char *find_in_path(const char *name) {
        if (strchr(name, '/'))
                return access(name, X_OK) == 0 ? realpath(name, NULL) : NULL;
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;
        for (char *dir = copy ? strtok_r(copy, ":", &save) : NULL; dir; dir = strtok_r(NULL, ":", &save)) {
                char full[4096];
                snprintf(full, sizeof(full), "%s/%s", dir, name);
                if (access(full, X_OK) == 0)
                        return realpath(full, NULL);
        }
        return NULL;
}

/* Runs "binary --version" without a shell and returns its first line. */
static char *read_version(const char *binary) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return NULL;
        pid_t pid = fork();
        if (pid < 0) {
                safe_close(p[0]);
                safe_close(p[1]);
                return NULL;
        }
        if (pid == 0) {
                (void) dup2(p[1], STDOUT_FILENO);
                int null = open("/dev/null", O_RDWR);
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(null, STDERR_FILENO);
                execl(binary, binary, "--version", (char *) NULL);
                _exit(127);
        }
        safe_close(p[1]);
        char buf[512];
        ssize_t len = 0, k;
        while (len < (ssize_t) sizeof(buf) - 1 && (k = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
                len += k;
        safe_close(p[0]);
        (void) waitpid(pid, NULL, 0);
        buf[len > 0 ? len : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return buf[0] ? strdup(buf) : NULL;
}

void vmm_probe(const VmmBackend *b, VmmInfo *ret) {
        VmmInfo i = {};
        const char *override = b->binary_env ? getenv(b->binary_env) : NULL;
        const char *want = override && *override ? override : b->binary;
        i.path = find_in_path(want);
        if (!i.path) {
                if (asprintf(&i.error, "%s not found%s%s%s", want, override ? " (from $" : " in PATH",
                             override ? b->binary_env : "", override ? ")" : "") < 0)
                        i.error = NULL;
        } else
                i.version = read_version(i.path);
        *ret = i;
}

void vmm_info_done(VmmInfo *i) {
        free(i->path);
        free(i->version);
        free(i->error);
        *i = (VmmInfo) {};
}

json_t *vmm_info_to_json(const VmmBackend *b, const VmmInfo *i) {
        return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b}", "name", b->name, "description", b->description,
                         "path", i->path, "version", i->version, "error", i->error, "available", !i->error);
}
