/* fuzz-vmm-version.c — fuzz target for the catalog's check of a VMM
 * binary's version output (on_probe_done() in backends/catalog.c): the
 * first line of what `BINARY --version` (-V) printed must start with the
 * backend's version_prefix, else the binary is reported as not that VMM,
 * quoting the line.  The input is the probe's stdout (any bytes: the binary
 * may be anything $VIRTLAB_QEMU names), judged for every backend, as exited
 * 0, exited 1 or timed out (by the input's length).  Checked: exactly one of version and error;
 * a version is the first line (cut, made UTF-8) and starts with the prefix;
 * both are UTF-8 and bounded (they go to Describe over D-Bus and into every
 * result), and vmm_info_to_json() can represent them. */
#include "backends/catalog.c"

#include <signal.h>

#include "fuzz.h"
#include "utf8.h"

/* Sentences are the path, the product and one line cut to 255 bytes. */
#define TEXT_MAX 1024

static void check_info(const VmmBackend *b, const VmmInfo *i, const char *out, bool timed_out) {
        fuzz_assert((i->version == NULL) != (i->error == NULL));
        fuzz_assert(!i->probing);
        if (i->version) {
                fuzz_assert(!timed_out && strncmp(i->version, b->version_prefix, strlen(b->version_prefix)) == 0);
                /* The first line, cut to 255 bytes and scrubbed to UTF-8. */
                char want[256];
                snprintf(want, sizeof(want), "%.*s", (int) strcspn(out, "\n"), out);
                (void) utf8_scrub(want);
                fuzz_assert(streq(i->version, want));
        }
        const char *text = i->version ?: i->error;
        if (!fuzz_is_utf8(text))
                fprintf(stderr, "fuzz: %s: not UTF-8: %s\n", b->name, text);
        fuzz_assert(fuzz_is_utf8(text) && strlen(text) <= TEXT_MAX);
        json_t *j = vmm_info_to_json(b, i);
        fuzz_assert(j);
        json_decref(j);
}

static void probe(const VmmBackend *b, const char *out, size_t len, int wait_status, bool timed_out) {
        VmmCatalog c = {};
        Entry e = { .catalog = &c, .b = b, .info = { .path = strdup("/usr/bin/vmm"), .probing = true } };
        fuzz_assert(e.info.path);
        ChildRunResult r = { .wait_status = wait_status, .timed_out = timed_out, .out = out, .out_len = len, .err = "" };
        on_probe_done(&r, &e);
        check_info(b, &e.info, out, timed_out);
        vmm_info_done(&e.info);
}

int fuzz_one(const uint8_t *data, size_t size) {
        _cleanup_free_ char *out = fuzz_strndup(data, size);
        static const struct {
                int wait_status; /* as waitpid() reports it */
                bool timed_out;  /* killed at the deadline */
        } ends[] = { { 0, false }, { 1 << 8, false }, { SIGKILL, true } };
        for (const VmmBackend *const *b = vmm_backends(); *b; b++)
                probe(*b, out, size, ends[size % ELEMENTSOF(ends)].wait_status, ends[size % ELEMENTSOF(ends)].timed_out);
        return 0;
}
