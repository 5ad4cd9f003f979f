/* bench.c — guest benchmarks, the lab's part 4: sysbench cpu,
 * memory and fileio matrices ("bench-cpu", "bench-memory", "bench-fileio").
 *
 * One run is one boot that runs the whole matrix: /bin/virtlab-bench in the
 * guest (guest-images/bench/) gets the cell list on the kernel command line
 * and prints one framed sysbench report per cell; here each report is parsed
 * (sysbench.c) into flat sample fields "CELL.FIGURE" (t4.events_per_s,
 * t32.4K.rndrd.iops), which the runner summarises across runs like any
 * metric, so every cell gets mean ± CI95.  A cell ID is tTHREADS for cpu and
 * tTHREADS.BLOCK.MODE otherwise.
 *
 * sysbench and its libraries travel on a read-only disk (bench-tools.cpio of
 * the image), not in the initramfs every boot unpacks.  fileio adds the test
 * disk: the user's raw file or block device, or a scratch file in the state
 * directory, attached with the host page cache off.  A disk that holds a
 * file system or partition table is refused unless "force" is set.
 *
 * Per-run state (progress, the disk paths handed to the VMM) lives in the
 * run's private data (BenchRun). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "experiments/experiment.h"
#include "guest-file.h"
#include "plan.h"
#include "sysbench.h"
#include "utf8.h"

#define THREADS_MAX 1024
#define CELLS_MAX 64
#define CELLS_ARG_MAX 900         /* bytes of the cells= argument: the kernel command line is 2 KiB */
#define BLOCK_SIZE_MAX (64 << 20) /* bytes */
#define VIRTIO_MODULES "virtio_ring,virtio,virtio_pci_legacy_dev,virtio_pci_modern_dev,virtio_pci,virtio_mmio,virtio_blk"
#define TOOLS_FILE "bench-tools.cpio"
#define SCRATCH_FILE "bench-scratch.img"
#define FILE_NUM_LAB 128  /* sysbench's default --file-num */
#define FILE_NUM_QUICK 4

typedef enum BenchType {
        BENCH_CPU,
        BENCH_MEMORY,
        BENCH_FILEIO,
        _BENCH_TYPE_MAX,
        _BENCH_TYPE_INVALID = -EINVAL,
} BenchType;

/* The lab's fileio groups: latency, throughput, IOPS. */
static const struct {
        unsigned threads;  /* sysbench --threads */
        const char *size;  /* --file-block-size */
} fileio_profiles[] = { { 1, "4K" }, { 32, "128K" }, { 32, "4K" } };

static const char *const bench_test[_BENCH_TYPE_MAX] = { "cpu", "memory", "fileio" };
static const char *const memory_modes[] = { "seq", "rnd", NULL };
static const char *const fileio_modes[] = { "rndrd", "rndwr", "seqrd", "seqwr", "rndrw", "seqrewr", NULL };

/* Figures kept per cell, headline first. */
static const char *const cpu_figures[] = { "events_per_s", "lat_avg_ms", "lat_p95_ms", "lat_max_ms", NULL };
static const char *const memory_figures[] = { "mib_per_s", "ops_per_s", "lat_avg_ms", "lat_p95_ms", "lat_max_ms", NULL };
static const char *const fileio_figures[] = { "iops", "mib_per_s", "reads_per_s", "writes_per_s", "read_mib_per_s",
                                              "write_mib_per_s", "lat_avg_ms", "lat_p95_ms", "lat_max_ms", NULL };
static const char *const *const bench_figures[_BENCH_TYPE_MAX] = { cpu_figures, memory_figures, fileio_figures };

/* Checked by bench_prepare() (their defaults depend on each other and on
 * "quick"); listed so the spec checker knows them. */
static const SpecField cpu_fields[] = {
        { .name = "quick", .type = SPEC_BOOL }, { .name = "time_s", .type = SPEC_ANY },
        { .name = "threads", .type = SPEC_ANY }, { .name = "cpu_max_prime", .type = SPEC_ANY }, {},
};
static const SpecField memory_fields[] = {
        { .name = "quick", .type = SPEC_BOOL }, { .name = "time_s", .type = SPEC_ANY },
        { .name = "threads", .type = SPEC_ANY }, { .name = "sizes", .type = SPEC_ANY },
        { .name = "modes", .type = SPEC_ANY }, {},
};
static const SpecField fileio_fields[] = {
        { .name = "quick", .type = SPEC_BOOL }, { .name = "time_s", .type = SPEC_ANY },
        { .name = "threads", .type = SPEC_ANY }, { .name = "sizes", .type = SPEC_ANY },
        { .name = "modes", .type = SPEC_ANY }, { .name = "disk", .type = SPEC_ANY },
        { .name = "force", .type = SPEC_BOOL }, { .name = "file_total_mib", .type = SPEC_ANY }, {},
};

/* The lab asks for at least two runs of each; a warm-up run would cost a whole matrix. */
static const SpecDefault bench_defaults[] = { { "runs", 2 }, { "warmup", 0 }, {} };

typedef struct BenchRun {
        char phase[160];         /* progress text (run_set_phase keeps the pointer) */
        unsigned cell;           /* cells started in this run */
        usec_t t_run;            /* when this run's guest output began */
        usec_t t_first_cell;     /* when its first cell began */
        char tools[4096];        /* disk paths handed to the VMM */
        char test[4096];
} BenchRun;

static void *bench_data_new(Run *run) {
        return calloc(1, sizeof(BenchRun));
}

static BenchType bench_type_of(json_t *spec);

/* A list field is a JSON array or a "a,b,c" string (what virtlabctl sends);
 * returns it as a new array of strings, NULL (not an error) when absent. */
static int list_field(json_t *spec, const char *field, json_t **ret, char **ret_error) {
        json_t *v = json_object_get(spec, field), *e, *out = json_array();
        size_t i;
        *ret = NULL;
        if (!v) {
                json_decref(out);
                return 0;
        }
        if (json_is_string(v)) {
                _cleanup_free_ char *copy = strdup(json_string_value(v));
                char *save = NULL;
                for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
                        json_array_append_new(out, json_string(t));
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, e) {
                        if (json_is_integer(e)) {
                                char buf[32];
                                snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(e));
                                json_array_append_new(out, json_string(buf));
                        } else if (json_is_string(e))
                                json_array_append(out, e);
                        else {
                                json_decref(out);
                                return spec_fail(ret_error, "Field '%s' must list numbers or strings", field);
                        }
                }
        } else {
                json_decref(out);
                return spec_fail(ret_error, "Field '%s' must be a list (\"a,b\" or an array)", field);
        }
        if (json_array_size(out) == 0 || json_array_size(out) > CELLS_MAX) {
                json_decref(out);
                return spec_fail(ret_error, "Field '%s' must name 1 to %d values", field, CELLS_MAX);
        }
        *ret = out;
        return 0;
}

/* One listed value, checked: what the list keeps of it, or NULL with the
 * refusal in *ret_error. */
typedef json_t *(*ListItem)(json_t *item, const void *arg, char **ret_error);

/* Sets spec[key] to the listed values as item() keeps them, or to def when
 * the field is absent. */
static int set_list(json_t *spec, const char *key, json_t *def, ListItem item, const void *arg, char **ret_error) {
        json_auto_t *out = def, *list = NULL;
        json_t *e;
        size_t i;
        int r = list_field(spec, key, &list, ret_error);
        if (r < 0)
                return r;
        if (list)
                json_array_clear(out);
        json_array_foreach(list, i, e) {
                json_t *v = item(e, arg, ret_error);
                if (!v)
                        return -EINVAL;
                json_array_append_new(out, v);
        }
        return json_object_set(spec, key, out);
}

static json_t *thread_item(json_t *e, const void *arg, char **ret_error) {
        const char *s = json_string_value(e);
        char *end, b[SPEC_ECHO_MAX + 8];
        errno = 0;
        long v = strtol(s, &end, 10);
        if (!*s || *end || errno || v < 1 || v > THREADS_MAX) {
                (void) spec_fail(ret_error, "Invalid threads value '%s': must be an integer between 1 and %d",
                                 spec_echo_str(s, b), THREADS_MAX);
                return NULL;
        }
        return json_integer(v);
}

static int set_threads(json_t *spec, const unsigned *def, size_t n_def, char **ret_error) {
        json_t *d = json_array();
        for (size_t i = 0; i < n_def; i++)
                json_array_append_new(d, json_integer(def[i]));
        return set_list(spec, "threads", d, thread_item, NULL, ret_error);
}

/* "4k", "4K", "4096" → "4K"; "1m" → "1M". */
static int normalize_size(const char *s, char *buf, size_t size) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        unsigned long long mult = 1;
        if (!*s || *s == '-' || errno || end == s)
                return -EINVAL;
        if ((*end == 'k' || *end == 'K') && !end[1])
                mult = 1024;
        else if ((*end == 'm' || *end == 'M') && !end[1])
                mult = 1024 * 1024;
        else if (*end)
                return -EINVAL;
        if (v == 0 || v > BLOCK_SIZE_MAX / mult)
                return -EINVAL;
        v *= mult;
        if (v % (1024 * 1024) == 0)
                snprintf(buf, size, "%lluM", v >> 20);
        else if (v % 1024 == 0)
                snprintf(buf, size, "%lluK", v >> 10);
        else
                snprintf(buf, size, "%llu", v);
        return 0;
}

static json_t *strings_json(const char *const *v) {
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *size_item(json_t *e, const void *arg, char **ret_error) {
        char buf[32], b[SPEC_ECHO_MAX + 8];
        if (normalize_size(json_string_value(e), buf, sizeof(buf)) < 0) {
                (void) spec_fail(ret_error, "Invalid sizes value '%s': must be a block size such as 1K, 4K or 128K (at most 64M)",
                                 spec_echo(e, b));
                return NULL;
        }
        return json_string(buf);
}

static int set_sizes(json_t *spec, const char *const *def, char **ret_error) {
        return set_list(spec, "sizes", strings_json(def), size_item, NULL, ret_error);
}

/* arg: the NULL-terminated list of modes allowed. */
static json_t *mode_item(json_t *e, const void *arg, char **ret_error) {
        const char *const *allowed = arg, *m = json_string_value(e);
        char known[128] = "", b[SPEC_ECHO_MAX + 8];
        for (const char *const *a = allowed; *a; a++)
                if (streq(m, *a))
                        return json_incref(e);
        for (const char *const *a = allowed; *a; a++)
                snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", known[0] ? ", " : "", *a);
        (void) spec_fail(ret_error, "Invalid modes value '%s': must be one of %s", spec_echo_str(m, b), known);
        return NULL;
}

static int set_modes(json_t *spec, const char *const *allowed, const char *const *def, char **ret_error) {
        return set_list(spec, "modes", strings_json(def), mode_item, allowed, ret_error);
}

static bool list_has_int(json_t *list, json_int_t x) {
        json_t *e;
        size_t i;
        json_array_foreach(list, i, e) if (json_integer_value(e) == x) return true;
        return false;
}

static bool list_has_str(json_t *list, const char *s) {
        json_t *e;
        size_t i;
        json_array_foreach(list, i, e) if (streq(json_string_value(e), s)) return true;
        return false;
}

/* The cell IDs the (validated) spec asks for, in run order. */
static int bench_cells(json_t *spec, char ***ret) {
        json_t *threads = json_object_get(spec, "threads"), *sizes = json_object_get(spec, "sizes");
        json_t *modes = json_object_get(spec, "modes"), *t, *s, *m;
        char **v = NULL;
        size_t n = 0, i, j, k;
        int r = 0;
        switch (bench_type_of(spec)) {
        case BENCH_CPU:
                json_array_foreach(threads, i, t) r = r ?: strv_pushf(&v, &n, "t%" JSON_INTEGER_FORMAT, json_integer_value(t));
                break;
        case BENCH_MEMORY:
                json_array_foreach(threads, i, t) json_array_foreach(sizes, j, s) json_array_foreach(modes, k, m)
                        r = r ?: strv_pushf(&v, &n, "t%" JSON_INTEGER_FORMAT ".%s.%s", json_integer_value(t),
                                            json_string_value(s), json_string_value(m));
                break;
        case BENCH_FILEIO:
                for (i = 0; i < ELEMENTSOF(fileio_profiles); i++) {
                        if ((threads && !list_has_int(threads, fileio_profiles[i].threads)) ||
                            (sizes && !list_has_str(sizes, fileio_profiles[i].size)))
                                continue;
                        json_array_foreach(modes, k, m) r = r ?: strv_pushf(&v, &n, "t%u.%s.%s", fileio_profiles[i].threads,
                                                                             fileio_profiles[i].size, json_string_value(m));
                }
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0 || n == 0) {
                strv_free(v);
                return r < 0 ? r : -ENOENT;
        }
        *ret = v;
        return 0;
}

/* True when the block device is a mounted file system's source or an
 * active swap area: --force does not override that.  Compares device
 * numbers; the system's own tables name the sources. */
static bool disk_in_use(dev_t rdev) {
        static const char *const tables[] = { "/proc/self/mounts", "/proc/swaps" };
        for (size_t t = 0; t < ELEMENTSOF(tables); t++) {
                FILE *f = fopen(tables[t], "re");
                char line[4096];
                while (f && fgets(line, sizeof(line), f)) {
                        line[strcspn(line, " \t\n")] = '\0';
                        struct stat st;
                        if (line[0] == '/' && stat(line, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == rdev) {
                                fclose(f);
                                return true;
                        }
                }
                if (f)
                        fclose(f);
        }
        return false;
}

/* The caller's test disk (passed as a file, opened read-write by the
 * caller): a regular file or block device, big enough, and holding nothing
 * we would destroy (unless forced). */
static int check_disk(json_t *spec, const JobPlan *plan, char **ret_error) {
        const CallerFile *cf = caller_files_get(&plan->files, CALLER_FILE_DISK);
        const char *label = spec_string(spec, "disk");
        char b[SPEC_ECHO_MAX + 8], what[128];
        if (!cf) {
                if (label)
                        return spec_fail(ret_error, "Invalid disk '%s': a disk of yours is passed as a file (virtlabctl "
                                                    "--disk FILE opens it with your rights)", spec_echo_str(label, b));
                return 0;
        }
        const char *name = label ? spec_echo_str(label, b) : "(the disk passed)";
        if (!cf->writable)
                return spec_fail(ret_error, "Disk '%s' is open read-only: sysbench fileio writes to it", name);
        struct stat st;
        if (fstat(cf->fd, &st) < 0)
                return spec_fail(ret_error, "Invalid disk '%s': %s", name, strerror(errno));
        off_t end = S_ISBLK(st.st_mode) ? lseek(cf->fd, 0, SEEK_END) : st.st_size;
        uint64_t size = end > 0 ? (uint64_t) end : 0;
        uint64_t need = ((uint64_t) spec_int(spec, "file_total_mib") * 5 / 4 + 64) << 20;
        if (size < need)
                return spec_fail(ret_error, "Disk '%s' is too small: %" PRIu64 " MiB, the test files need %" PRIu64
                                            " MiB (lower file_total_mib)", name, size >> 20, need >> 20);
        if (S_ISBLK(st.st_mode) && disk_in_use(st.st_rdev))
                return spec_fail(ret_error, "Refusing to use disk '%s': it is mounted or an active swap area", name);
        const char *holds = guest_disk_contents(cf->fd, what, sizeof(what));
        if (holds && !spec_bool(spec, "force"))
                return spec_fail(ret_error, "Refusing to write to disk '%s': it holds %s (its contents would be destroyed; "
                                            "pass --force to overwrite it)", name, holds);
        return 0;
}

/* The benchmark tools ride on a disk beside the daemon's own image, or are
 * installed in it (the systemd image). */
static int bench_validate(json_t *spec, const JobPlan *plan, char **ret_error) {
        if (!plan->image->dir && !plan->image->has_sysbench)
                return spec_fail(ret_error, "Benchmarks run on one of the daemon's images (their tools disk sits beside "
                                            "it), not on an image passed as files");
        return 0;
}

static int fileio_validate(json_t *spec, const JobPlan *plan, char **ret_error) {
        int r = bench_validate(spec, plan, ret_error);
        return r ?: check_disk(spec, plan, ret_error);
}


static int bench_prepare(json_t *spec, BenchType type, char **ret_error) {
        static const unsigned cpu_threads[] = { 1, 4, 16, 32, 64 }, cpu_threads_quick[] = { 1, 4 }, four[] = { 4 };
        static const char *const mem_sizes[] = { "1K", "2K", "4K", "8K", NULL }, *const mem_sizes_quick[] = { "1K", "8K", NULL };
        static const char *const fileio_quick_modes[] = { "rndrd", "seqwr", NULL };
        static const char *const fileio_lab_modes[] = { "rndrd", "rndwr", "seqrd", "seqwr", NULL };
        bool quick = spec_bool(spec, "quick");
        int r = spec_check_int(spec, "time_s", quick ? 1 : 60, 1, 3600, ret_error);
        switch (type) {
        case BENCH_CPU:
                r = r ?: set_threads(spec, quick ? cpu_threads_quick : cpu_threads,
                                     quick ? ELEMENTSOF(cpu_threads_quick) : ELEMENTSOF(cpu_threads), ret_error);
                r = r ?: spec_check_int(spec, "cpu_max_prime", 10000, 3, 100000000, ret_error);
                break;
        case BENCH_MEMORY:
                r = r ?: set_threads(spec, four, 1, ret_error);
                r = r ?: set_sizes(spec, quick ? mem_sizes_quick : mem_sizes, ret_error);
                r = r ?: set_modes(spec, memory_modes, memory_modes, ret_error);
                break;
        case BENCH_FILEIO:
                /* threads and sizes pick among the lab's groups. */
                if (json_object_get(spec, "threads"))
                        r = r ?: set_threads(spec, NULL, 0, ret_error);
                if (json_object_get(spec, "sizes"))
                        r = r ?: set_sizes(spec, NULL, ret_error);
                else if (quick && r == 0)
                        json_object_set_new(spec, "sizes", json_pack("[s]", "4K"));
                r = r ?: set_modes(spec, fileio_modes, quick ? fileio_quick_modes : fileio_lab_modes, ret_error);
                r = r ?: spec_check_int(spec, "file_total_mib", quick ? 16 : 2048, 4, 1 << 20, ret_error);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        char **cells = NULL;
        r = bench_cells(spec, &cells);
        if (r == -ENOENT) {
                _cleanup_free_ char *t = json_dumps(json_object_get(spec, "threads"), JSON_COMPACT | JSON_ENCODE_ANY);
                _cleanup_free_ char *s = json_dumps(json_object_get(spec, "sizes"), JSON_COMPACT | JSON_ENCODE_ANY);
                return spec_fail(ret_error, "No fileio cell matches threads %s and sizes %s (the lab's groups are 1 thread × 4K, "
                                       "32 × 128K and 32 × 4K)", t ?: "any", s ?: "any");
        }
        if (r < 0)
                return spec_fail(ret_error, "Cannot build the benchmark matrix: %s", strerror(-r));
        size_t n = 0, len = 0;
        for (char **c = cells; *c; c++, n++)
                len += strlen(*c) + 1;
        strv_free(cells);
        if (n > CELLS_MAX || len > CELLS_ARG_MAX)
                return spec_fail(ret_error, "The matrix has %zu cells, more than fit on the guest's command line (at most %d)",
                            n, CELLS_MAX);
        /* Time per run: the cells plus sysbench start-up and, for fileio,
         * preparing the files; set unless the user chose a timeout. */
        if (!json_object_get(spec, "timeout_s")) {
                json_int_t t = json_integer_value(json_object_get(spec, "time_s"));
                json_int_t est = 120 + (json_int_t) n * (t + 30);
                /* fileio writes the file set before the first cell and after
                 * each seqwr cell; assume a slow (TCG) 10 MiB/s. */
                if (type == BENCH_FILEIO) {
                        json_t *m, *modes = json_object_get(spec, "modes");
                        size_t i, rewrites = 1, groups = n / (json_array_size(modes) ?: 1);
                        json_array_foreach(modes, i, m) rewrites += streq(json_string_value(m), "seqwr") ? groups : 0;
                        est += (json_int_t) rewrites * json_integer_value(json_object_get(spec, "file_total_mib")) / 10;
                }
                json_object_set_new(spec, "timeout_s", json_integer(est > 3600 ? 3600 : est));
        }
        return 0;
}

static int cpu_prepare(json_t *spec, char **ret_error) { return bench_prepare(spec, BENCH_CPU, ret_error); }
static int memory_prepare(json_t *spec, char **ret_error) { return bench_prepare(spec, BENCH_MEMORY, ret_error); }
static int fileio_prepare(json_t *spec, char **ret_error) { return bench_prepare(spec, BENCH_FILEIO, ret_error); }

/* The type follows from which fields validate() filled in. */
static BenchType bench_type_of(json_t *spec) {
        if (json_object_get(spec, "file_total_mib"))
                return BENCH_FILEIO;
        if (json_object_get(spec, "cpu_max_prime"))
                return BENCH_CPU;
        if (json_object_get(spec, "sizes"))
                return BENCH_MEMORY;
        return _BENCH_TYPE_INVALID;
}

static int bench_spec_metrics(json_t *spec, char ***ret) {
        BenchType type = bench_type_of(spec);
        char **cells = NULL, **v = NULL;
        size_t n = 0;
        if (type < 0)
                return -EINVAL;
        int r = bench_cells(spec, &cells);
        for (char **c = cells; r == 0 && *c; c++)
                for (const char *const *f = bench_figures[type]; r == 0 && *f; f++)
                        r = strv_pushf(&v, &n, "%s.%s", *c, *f);
        strv_free(cells);
        if (r < 0) {
                strv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}

static int bench_guest_cmdline(Run *run, char **ret) {
        json_t *spec = run_spec(run);
        BenchType type = bench_type_of(spec);
        char **cells = NULL;
        int r = bench_cells(spec, &cells);
        if (r < 0)
                return r;
        char list[CELLS_ARG_MAX + 64] = "";
        for (char **c = cells; *c; c++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", c == cells ? "" : ":", *c);
        strv_free(cells);
        bool quick = spec_bool(spec, "quick");
        BenchRun *b = run_data(run);
        b->cell = 0;
        b->t_run = now_usec();
        b->t_first_cell = 0;
        /* quiet: kernel messages would interleave with sysbench's report. */
        r = asprintf(ret,
                     "quiet virtlab.modules=" VIRTIO_MODULES " virtlab.job=run:/bin/virtlab-bench,%s,time=%" JSON_INTEGER_FORMAT
                     ",cells=%s,prime=%" JSON_INTEGER_FORMAT ",total=%" JSON_INTEGER_FORMAT ",files=%d",
                     bench_test[type], json_integer_value(json_object_get(spec, "time_s")), list,
                     json_integer_value(json_object_get(spec, "cpu_max_prime")),
                     json_integer_value(json_object_get(spec, "file_total_mib")), quick ? FILE_NUM_QUICK : FILE_NUM_LAB);
        return r < 0 ? -ENOMEM : 0;
}

/* The scratch disk when the user gave none: a preallocated file in the
 * state directory (not the run directory, which may be a tmpfs without
 * O_DIRECT), reused by every job. */
static int scratch_disk(Run *run, char *path, size_t size) {
        uint64_t mib = (uint64_t) json_integer_value(json_object_get(run_spec(run), "file_total_mib"));
        off_t bytes = (off_t) ((mib * 5 / 4 + 64) << 20);
        snprintf(path, size, "%s/../" SCRATCH_FILE, run_logs_dir(run));
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, bytes) < 0)
                return -errno;
        int r = posix_fallocate(fd, 0, bytes);
        return r == EOPNOTSUPP ? 0 : -r;
}

/* The tools disk (sysbench and its libraries) unless the guest has
 * sysbench installed; the test disk for fileio.  An image's own disk comes
 * before these (run.c). */
static int bench_vm_disks(Run *run, VmDisk **ret, size_t *n) {
        json_t *spec = run_spec(run);
        const JobPlan *plan = run_plan(run);
        BenchRun *bench_state = run_data(run);
        bool tools = !plan->image->has_sysbench;
        snprintf(bench_state->tools, sizeof(bench_state->tools), "%s/" TOOLS_FILE, strempty(plan->image->dir));
        if (tools && access(bench_state->tools, R_OK) < 0) {
                run_fail(run, "The guest image has no benchmark tools (%s): install sysbench, then run 'make image'",
                         bench_state->tools);
                return -ENOENT;
        }
        VmDisk *d = calloc(2, sizeof(VmDisk));
        if (!d)
                return -ENOMEM;
        *n = 0;
        if (tools)
                d[(*n)++] = (VmDisk) { .path = bench_state->tools, .read_only = true };
        if (bench_type_of(spec) == BENCH_FILEIO) {
                const CallerFile *cf = caller_files_get(&plan->files, CALLER_FILE_DISK);
                if (cf) {
                        d[(*n)++] = (VmDisk) { .fd = cf->fd, .direct = true };
                        snprintf(bench_state->test, sizeof(bench_state->test), "%s", spec_string(spec, "disk") ?: "(the disk passed)");
                } else {
                        int r = scratch_disk(run, bench_state->test, sizeof(bench_state->test));
                        if (r < 0) {
                                run_fail(run, "Cannot create the scratch disk %s: %s", bench_state->test, strerror(-r));
                                free(d);
                                return r;
                        }
                        d[(*n)++] = (VmDisk) { .path = bench_state->test, .direct = true };
                }
                json_object_set_new(run_sample(run), "bench_disk", json_string(bench_state->test));
        }
        *ret = d;
        return 0;
}

static void format_duration(char *buf, size_t size, usec_t t) {
        unsigned long s = (unsigned long) (t / USEC_PER_SEC);
        if (s >= 3600)
                snprintf(buf, size, "%luh%02lum", s / 3600, s / 60 % 60);
        else
                snprintf(buf, size, "%lum%02lus", s / 60, s % 60);
}

/* Progress after a "@@BENCH-CELL ID@@" line: "cell k/N ID, ETA 3m20s" in
 * b->phase, across all runs of the job (run is this run's index); false
 * for any other line. */
static bool bench_progress(BenchRun *b, json_t *spec, unsigned run, const char *line, usec_t now) {
        static const char begin[] = "@@BENCH-CELL ";
        if (strncmp(line, begin, strlen(begin)) != 0)
                return false;
        char **cells = NULL;
        if (bench_cells(spec, &cells) < 0)
                return false;
        size_t n = 0;
        while (cells[n])
                n++;
        strv_free(cells);
        if (b->cell++ == 0)
                b->t_first_cell = now;
        unsigned runs = (unsigned) (json_integer_value(json_object_get(spec, "runs")) +
                                    json_integer_value(json_object_get(spec, "warmup")));
        unsigned runs_after = runs > run + 1 ? runs - run - 1 : 0;
        usec_t per_cell = b->cell > 1 ? (now - b->t_first_cell) / (b->cell - 1)
                                      : (usec_t) (json_integer_value(json_object_get(spec, "time_s")) + 1) * USEC_PER_SEC;
        usec_t setup = b->t_first_cell - b->t_run;
        usec_t eta = per_cell * (n - b->cell + 1) + runs_after * (setup + per_cell * n);
        char id[48], left[32];
        snprintf(id, sizeof(id), "%.*s", (int) strcspn(line + strlen(begin), "@"), line + strlen(begin));
        /* The phase is a D-Bus string: the cut may not end inside a character. */
        (void) utf8_scrub(id);
        format_duration(left, sizeof(left), eta);
        snprintf(b->phase, sizeof(b->phase), "cell %u/%zu %s, ETA %s", b->cell, n, id, left);
        return true;
}

static void bench_on_guest_line(Run *run, const char *line) {
        BenchRun *b = run_data(run);
        if (bench_progress(b, run_spec(run), run_index(run), line, now_usec()))
                run_set_phase(run, b->phase);
}

/* Formats *ret_why; returns -EBADMSG. */
static int bench_why(char **ret_why, const char *fmt, ...) _printf_(2, 3);
static int bench_why(char **ret_why, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_why, fmt, ap) < 0)
                *ret_why = NULL;
        va_end(ap);
        return -EBADMSG;
}

/* Finds the text of cell id in the guest output: between its BEGIN and END
 * lines; *ret_rc is the END line's rc.  -ENOENT if the cell never ran,
 * -EPIPE if it began but did not end. */
static int cell_text(const char *out, const char *id, const char **ret_text, size_t *ret_len, int *ret_rc) {
        char begin[96], end[96];
        snprintf(begin, sizeof(begin), "@@BENCH-CELL %s@@\n", id);
        snprintf(end, sizeof(end), "@@BENCH-CELL-END %s rc=", id);
        const char *b = strstr(out, begin);
        if (!b)
                return -ENOENT;
        b += strlen(begin);
        const char *e = strstr(b, end);
        if (!e)
                return -EPIPE;
        *ret_text = b;
        *ret_len = (size_t) (e - b);
        *ret_rc = atoi(e + strlen(end));
        return 0;
}

/* The line-th line of text (1-based), for error messages. */
static void nth_line(const char *text, size_t len, size_t line, char *buf, size_t size) {
        const char *p = text, *end = text + len;
        for (size_t i = 1; i < line && p < end; i++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                p = nl ? nl + 1 : end;
        }
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        snprintf(buf, size, "%.*s", (int) ((nl ?: end) - p), p);
}

/* The last non-empty line of text. */
static void last_line(const char *text, size_t len, char *buf, size_t size) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
                len--;
        size_t start = len;
        while (start > 0 && text[start - 1] != '\n')
                start--;
        snprintf(buf, size, "%.*s", (int) (len - start), text + start);
}

/* One cell's report into sample ("CELL.FIGURE" fields) and list; -EBADMSG
 * with the reason in *ret_why when it is missing or not understood. */
static int bench_parse_cell(BenchType type, const char *cell, const char *out, json_t *sample, json_t *list,
                            char version[static 32], char **ret_why) {
        const char *text;
        size_t len, line = 0;
        int rc;
        int r = cell_text(out, cell, &text, &len, &rc);
        if (r < 0)
                return bench_why(ret_why, "Cell %s: %s", cell, r == -ENOENT ? "the guest never ran it" : "its output ends early");
        SysbenchResult res;
        r = sysbench_parse(text, len, &res, &line);
        if (r < 0 || rc != 0) {
                char why[256] = "no figures";
                if (line > 0)
                        nth_line(text, len, line, why, sizeof(why));
                else if (len > 0) /* sysbench's last words */
                        last_line(text, len, why, sizeof(why));
                return bench_why(ret_why, "Cell %s: sysbench %s (rc %d): %s", cell,
                                 r == -EIO ? "failed" : "output not understood", rc, why);
        }
        if ((int) res.test != (int) type)
                return bench_why(ret_why, "Cell %s: sysbench ran the %s test, not %s", cell,
                                 sysbench_test_to_string(res.test), bench_test[type]);
        json_t *fig = sysbench_figures(&res);
        double head = json_number_value(json_object_get(fig, bench_figures[type][0]));
        if (!(head > 0)) {
                json_decref(fig);
                return bench_why(ret_why, "Cell %s: %s is %g, not a positive figure", cell, bench_figures[type][0], head);
        }
        const char *key;
        json_t *val;
        json_object_foreach(fig, key, val) {
                char name[128];
                snprintf(name, sizeof(name), "%s.%s", cell, key);
                json_object_set(sample, name, val);
        }
        snprintf(version, 32, "%s", res.version);
        json_array_append_new(list, json_pack("{s:s, s:I, s:o}", "id", cell, "threads", (json_int_t) res.threads,
                                              "figures", fig));
        return 0;
}

/* The guest output of one run into sample: every cell's figures, then
 * "bench" with the cells that parsed.  -EBADMSG (or -EINVAL) with the
 * reason in *ret_why at the first cell that failed. */
static int bench_parse(json_t *spec, const char *out, json_t *sample, char **ret_why) {
        BenchType type = bench_type_of(spec);
        const char *err = strstr(out, "@@BENCH-ERROR ");
        if (err) {
                err += strlen("@@BENCH-ERROR ");
                return bench_why(ret_why, "Guest benchmark setup failed: %.*s", (int) strcspn(err, "@\n"), err);
        }
        char **cells = NULL;
        if (bench_cells(spec, &cells) < 0)
                return bench_why(ret_why, "Cannot build the benchmark matrix");
        json_t *list = json_array();
        char version[32] = "";
        int r = 0;
        for (char **c = cells; r == 0 && *c; c++)
                r = bench_parse_cell(type, *c, out, sample, list, version, ret_why);
        strv_free(cells);
        json_object_set_new(sample, "bench", json_pack("{s:s, s:s, s:o}", "test", bench_test[type], "sysbench_version",
                                                       version, "cells", list));
        return r;
}

static void bench_on_guest_result(Run *run) {
        _cleanup_free_ char *why = NULL;
        if (bench_parse(run_spec(run), run_guest_output(run), run_sample(run), &why) < 0)
                run_fail(run, "%s", strempty(why));
        /* virtlab-init powers the guest off after the job. */
}

#define BENCH_KIND(type_, name_, desc_, fields_, headline_, validate_, disk_)        \
        static const char *const type_##_headline[] = { headline_, NULL };            \
        const ExperimentKind experiment_bench_##type_ = {                             \
                .name = name_,                                                        \
                .description = desc_,                                                 \
                .guest_job = "run:/bin/virtlab-bench",                                \
                .metrics = type_##_headline,                                          \
                .fields = fields_,                                                    \
                .defaults = bench_defaults,                                           \
                .prepare = type_##_prepare,                                           \
                .validate = validate_,                                                \
                .takes_disk = disk_,                                                  \
                .run_data_new = bench_data_new,                                       \
                .run_data_free = free,                                                \
                .on_guest_result = bench_on_guest_result,                             \
                .guest_powers_off = true,                                             \
                .guest_cmdline = bench_guest_cmdline,                                 \
                .vm_disks = bench_vm_disks,                                           \
                .spec_metrics = bench_spec_metrics,                                   \
                .on_guest_line = bench_on_guest_line,                                 \
        }

BENCH_KIND(cpu, "bench-cpu", "sysbench cpu in the guest: threads 1,4,16,32,64 (lab part 4)", cpu_fields,
           "events_per_s", bench_validate, false);
BENCH_KIND(memory, "bench-memory", "sysbench memory in the guest: 4 threads, 1K-8K blocks, seq/rnd (lab part 4)",
           memory_fields, "mib_per_s", bench_validate, false);
BENCH_KIND(fileio, "bench-fileio", "sysbench fileio in the guest on a virtio-blk disk, host cache off (lab part 4)",
           fileio_fields, "iops", fileio_validate, true);
