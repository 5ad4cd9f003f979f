/* fuzz-main.c — the harness around every fuzz target (fuzz.h).  Built with
 * -DVIRTLAB_LIBFUZZER and -fsanitize=fuzzer (`make fuzz`) it is libFuzzer's
 * entry point.  Otherwise it replays a corpus, so every target runs in `make
 * check` (under ASan/UBSan with SANITIZE=1): each input file runs in a child
 * process, through every prefix and then whole, and gets one TAP line: "ok"
 * when the child exits 0, "not ok" when an invariant aborted it, a
 * sanitizer stopped it, it crashed or it hung (REPLAY_FILE_SECONDS).
 *
 * Divisions: helpers for targets · libFuzzer entry · corpus replay. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"
#include "utf8.h"

/* One input file may take this long (all its prefixes): a hang is a failure. */
#define REPLAY_FILE_SECONDS 30

/* ---- helpers for targets ---------------------------------------------- */

_Noreturn void fuzz_violation(const char *expr, const char *file, int line) {
        fprintf(stderr, "fuzz: invariant violated at %s:%d: %s\n", file, line, expr);
        abort();
}

char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                abort();
        if (size > 0)
                memcpy(s, data, size);
        s[size] = 0;
        return s;
}

void fuzz_foreach_line(const uint8_t *data, size_t size, void (*cb)(char *line, void *userdata), void *userdata) {
        char *copy = fuzz_strndup(data, size);
        for (char *p = copy, *end = copy + size; p < end;) {
                char *nl = memchr(p, '\n', (size_t) (end - p));
                if (nl)
                        *nl = 0;
                cb(p, userdata);
                p = nl ? nl + 1 : end;
        }
        free(copy);
}

bool fuzz_is_utf8(const char *s) {
        char *copy = strdup(s);
        if (!copy)
                abort();
        bool ok = utf8_scrub(copy) == 0;
        free(copy);
        return ok;
}

#ifdef VIRTLAB_LIBFUZZER
/* ---- libFuzzer entry -------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) fuzz_one(data, size);
        return 0;
}
#else
/* ---- corpus replay ---------------------------------------------------- */

/* Reads a whole file into a malloc'd buffer; -1 on failure. */
static int read_input(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return -1;
        size_t cap = 4096, len = 0, k;
        uint8_t *buf = malloc(cap);
        while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
                len += k;
                if (len == cap) {
                        uint8_t *nb = realloc(buf, cap *= 2);
                        if (!nb)
                                free(buf);
                        buf = nb;
                }
        }
        fclose(f);
        if (!buf)
                return -1;
        *ret = buf;
        *ret_len = len;
        return 0;
}

/* The child: every prefix (truncated input is the common real-world
 * garbage), then the whole input.  Exits 0 only if nothing aborted. */
static _Noreturn void replay_child(const char *path) {
        uint8_t *buf;
        size_t len;
        alarm(REPLAY_FILE_SECONDS);
        if (read_input(path, &buf, &len) < 0) {
                fprintf(stderr, "fuzz: cannot read %s\n", path);
                _exit(2);
        }
        for (size_t cut = 0; cut < len; cut += (len / 64) + 1)
                (void) fuzz_one(buf, cut);
        (void) fuzz_one(buf, len);
        free(buf);
        exit(0);
}

static int replay_file(const char *path, unsigned *n) {
        fflush(NULL); /* nothing buffered may be printed twice */
        pid_t pid = fork();
        if (pid < 0) {
                printf("not ok %u - %s: cannot fork\n", ++*n, path);
                return -1;
        }
        if (pid == 0)
                replay_child(path);
        int status;
        if (waitpid(pid, &status, 0) < 0) {
                printf("not ok %u - %s: cannot wait\n", ++*n, path);
                return -1;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                printf("ok %u - replay %s\n", ++*n, path);
                return 0;
        }
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
                printf("not ok %u - replay %s: hung (over %d s)\n", ++*n, path, REPLAY_FILE_SECONDS);
        else if (WIFSIGNALED(status))
                printf("not ok %u - replay %s: killed by signal %d (see the log above)\n", ++*n, path,
                       WTERMSIG(status));
        else
                printf("not ok %u - replay %s: exit status %d (see the log above)\n", ++*n, path, WEXITSTATUS(status));
        return -1;
}

static int replay_path(const char *path, unsigned *n) {
        struct stat st;
        if (stat(path, &st) < 0) {
                printf("not ok %u - %s: missing\n", ++*n, path);
                return -1;
        }
        if (!S_ISDIR(st.st_mode))
                return replay_file(path, n);

        struct dirent **names;
        int k = scandir(path, &names, NULL, alphasort), r = 0;
        if (k < 0) {
                printf("not ok %u - %s: cannot list\n", ++*n, path);
                return -1;
        }
        for (int i = 0; i < k; i++) {
                if (names[i]->d_name[0] != '.') {
                        char child[4096];
                        snprintf(child, sizeof(child), "%s/%s", path, names[i]->d_name);
                        if (replay_file(child, n) < 0)
                                r = -1;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int main(int argc, char **argv) {
        unsigned n = 0;
        int r = 0;
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (int i = 1; i < argc; i++)
                if (replay_path(argv[i], &n) < 0)
                        r = 1;
        printf("1..%u\n", n);
        return r;
}
#endif
