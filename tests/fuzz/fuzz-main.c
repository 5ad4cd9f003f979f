/* fuzz-main.c — replays a corpus through a fuzz target, so every target runs
 * under ASan/UBSan in `make check` without libFuzzer.  With
 * -DVIRTLAB_LIBFUZZER and -fsanitize=fuzzer the same target is a libFuzzer
 * binary.  Prints one TAP line per input file. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifdef VIRTLAB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        (void) fuzz_one(data, size);
        return 0;
}
#else
static int replay_file(const char *path, unsigned *n) {
        FILE *f = fopen(path, "rb");
        if (!f) {
                printf("not ok %u - %s: cannot open\n", ++*n, path);
                return -1;
        }
        size_t cap = 4096, len = 0;
        uint8_t *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
                len += k;
                if (len == cap) {
                        uint8_t *nb = realloc(buf, cap *= 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                        } else
                                buf = nb;
                }
        }
        fclose(f);
        if (!buf) {
                printf("not ok %u - %s: out of memory\n", ++*n, path);
                return -1;
        }
        /* Every prefix, too: truncated input is the common real-world garbage. */
        for (size_t cut = 0; cut <= len; cut += (len / 64) + 1)
                (void) fuzz_one(buf, cut);
        (void) fuzz_one(buf, len);
        free(buf);
        printf("ok %u - replay %s\n", ++*n, path);
        return 0;
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
        for (int i = 1; i < argc; i++)
                if (replay_path(argv[i], &n) < 0)
                        r = 1;
        printf("1..%u\n", n);
        return r;
}
#endif
