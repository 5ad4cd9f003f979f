/* fuzz-spec.c — fuzz target for what a caller's StartExperiment spec goes
 * through before anything is stored: the text is parsed as manager.c does
 * (spec_parse_text(), UTF-8 as D-Bus delivers it), then checked for every
 * experiment kind in plan_new()'s order (plan_check_spec(): known fields,
 * the kind's table and prepare(), defaults, the common table with
 * spec_common_fields).  Checked: a refusal is -EINVAL with one sentence,
 * valid UTF-8 and bounded however long the caller's values are (echoed
 * values are cut at SPEC_ECHO_MAX); an accepted spec prints as JSON, and
 * that text, parsed and checked again, passes unchanged (idempotence: the
 * stored spec means what was accepted); the kind's spec-derived questions
 * (metrics, devices, CPU model) answer.
 *
 * A kind that takes a disk (bench-fileio) gets its validate() too, on a
 * plan holding one of a few fixture files as the caller's disk fd (none,
 * small, big, big but read-only, holding an ext2 superblock), the way a
 * caller passes it (files.h: the daemon never opens a caller's path); the
 * fixture is picked by a hash of the spec's "disk" label.  A directory and
 * a FIFO are refused as files at all (caller_files_add()), checked once. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "experiments/experiment.h"
#include "files.h"
#include "fuzz.h"
#include "plan.h"
#include "spec.h"
#include "strv.h"
#include "utf8.h"

/* Longest refusal: fixed text, two echoed values and a short list. */
#define ERROR_MAX (2 * (SPEC_ECHO_MAX + 4) + 512)

/* The caller's disk as each fixture passes it; -EBADF for none. */
enum { DISK_NONE, DISK_SMALL, DISK_BIG, DISK_BIG_RO, DISK_EXT2, _DISK_MAX };
static int disk_fds[_DISK_MAX] = { -EBADF, -EBADF, -EBADF, -EBADF, -EBADF };
static char fixture_dir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

static void fixtures_remove(void) {
        (void) nftw(fixture_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void fixture_path(const char *name, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", fixture_dir, name);
}

/* A sparse file of size bytes, with magic at offset when magic is set. */
static void make_file(const char *name, off_t size, off_t offset, const char *magic) {
        char path[512];
        fixture_path(name, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        fuzz_assert(fd >= 0 && ftruncate(fd, size) == 0);
        if (magic)
                fuzz_assert(pwrite(fd, magic, strlen(magic), offset) == (ssize_t) strlen(magic));
        close(fd);
}

static int open_fixture(const char *name, int mode) {
        char path[512];
        fixture_path(name, path, sizeof(path));
        int fd = open(path, mode | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        fuzz_assert(fd >= 0);
        return fd;
}

/* What is no file for a caller to pass is refused before any kind sees it. */
static void check_not_a_file(const char *name) {
        CallerFiles files = {};
        _cleanup_free_ char *error = NULL;
        int fd = open_fixture(name, O_RDONLY);
        fuzz_assert(caller_files_add(&files, CALLER_FILE_DISK, fd, &error) == -EINVAL);
        fuzz_assert(error && files.n == 0);
        close(fd);
}

static void fixtures_make(void) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fixture_dir, sizeof(fixture_dir), "%s/virtlab-fuzz-spec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        fuzz_assert(mkdtemp(fixture_dir));
        atexit(fixtures_remove);
        make_file("small.img", 1024, 0, NULL);
        make_file("big.img", (off_t) 8 << 30, 0, NULL);
        make_file("ext2.img", (off_t) 8 << 30, 0x438, "\x53\xef");
        disk_fds[DISK_SMALL] = open_fixture("small.img", O_RDWR);
        disk_fds[DISK_BIG] = open_fixture("big.img", O_RDWR);
        disk_fds[DISK_BIG_RO] = open_fixture("big.img", O_RDONLY);
        disk_fds[DISK_EXT2] = open_fixture("ext2.img", O_RDWR);
        char path[512];
        fixture_path("dir", path, sizeof(path));
        fuzz_assert(mkdir(path, 0700) == 0);
        fixture_path("fifo", path, sizeof(path));
        fuzz_assert(mkfifo(path, 0600) == 0);
        check_not_a_file("dir");
        check_not_a_file("fifo");
}

/* The fixture a spec's "disk" label stands for (FNV-1a of it; none without one). */
static int pick_disk(json_t *spec) {
        const char *label = json_string_value(json_object_get(spec, "disk"));
        uint32_t h = 2166136261U;
        for (const char *p = label ?: ""; *p; p++)
                h = (h ^ (uint8_t) *p) * 16777619U;
        return disk_fds[h % _DISK_MAX];
}

static void check_refusal(int r, const char *error) {
        fuzz_assert(r == -EINVAL);
        fuzz_assert(error && error[0]);
        if (!fuzz_is_utf8(error) || strlen(error) > ERROR_MAX)
                fprintf(stderr, "fuzz: refusal of %zu bytes: %.300s\n", strlen(error), error);
        fuzz_assert(fuzz_is_utf8(error));
        fuzz_assert(strlen(error) <= ERROR_MAX);
}

/* What the kind derives from an accepted spec. */
static void check_derived(const ExperimentKind *k, json_t *spec) {
        if (k->spec_metrics) {
                char **names = NULL;
                fuzz_assert(k->spec_metrics(spec, &names) == 0 && names && names[0]);
                for (char **n = names; *n; n++)
                        fuzz_assert(fuzz_is_utf8(*n));
                strv_free(names);
        }
        if (k->devices) {
                VmDevice *d = NULL;
                size_t n = 0;
                fuzz_assert(k->devices(spec, &d, &n) == 0);
                free(d);
        }
        if (k->cpu_model) {
                const char *m = k->cpu_model(spec);
                fuzz_assert(!m || fuzz_is_utf8(m));
        }
}

/* An accepted spec, stored as text and read back, passes again unchanged. */
static void check_idempotent(const ExperimentKind *k, json_t *spec) {
        _cleanup_free_ char *text = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
        fuzz_assert(text);
        json_auto_t *again = NULL;
        _cleanup_free_ char *error = NULL;
        fuzz_assert(spec_parse_text(text, &again, &error) == 0);
        int r = plan_check_spec(k, again, &error);
        if (r < 0)
                fprintf(stderr, "fuzz: %s refuses its own accepted spec %s: %s\n", k->name, text, strempty(error));
        fuzz_assert(r == 0);
        fuzz_assert(json_equal(spec, again));
}

/* validate() of a kind that takes a disk, on a plan with a fixture as the
 * caller's disk and a daemon image (the benchmarks' tools disk sits beside it). */
static void check_disk_validate(const ExperimentKind *k, json_t *spec) {
        Image image = { .dir = fixture_dir };
        JobPlan plan = { .kind = k, .spec = spec, .image = &image };
        _cleanup_free_ char *error = NULL;
        int fd = pick_disk(spec);
        if (fd >= 0)
                fuzz_assert(caller_files_add(&plan.files, CALLER_FILE_DISK, fd, &error) == 0);
        int r = k->validate ? k->validate(spec, &plan, &error) : 0;
        caller_files_done(&plan.files);
        if (r < 0) {
                check_refusal(r, error);
                return;
        }
        fuzz_assert(!error);
}

static void check_kind(const ExperimentKind *k, json_t *doc) {
        json_auto_t *spec = json_deep_copy(doc);
        _cleanup_free_ char *error = NULL;
        fuzz_assert(spec);
        int r = plan_check_spec(k, spec, &error);
        if (r < 0) {
                check_refusal(r, error);
                return;
        }
        fuzz_assert(!error);
        check_derived(k, spec);
        check_idempotent(k, spec);
        if (k->takes_disk)
                check_disk_validate(k, spec);
}

int fuzz_one(const uint8_t *data, size_t size) {
        if (!fixture_dir[0])
                fixtures_make();
        _cleanup_free_ char *text = fuzz_strndup(data, size);
        (void) utf8_scrub(text); /* D-Bus delivers valid UTF-8 only */
        json_auto_t *doc = NULL;
        _cleanup_free_ char *error = NULL;
        int r = spec_parse_text(text, &doc, &error);
        if (r < 0) {
                check_refusal(r, error);
                return 0;
        }
        for (const ExperimentKind *const *k = experiment_kinds(); *k; k++)
                check_kind(*k, doc);
        return 0;
}
