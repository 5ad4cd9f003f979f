/* virtlabctl — thin D-Bus client of virtlabd (org.virtlab.Lab1).
 * Starts experiments and waits for them with a progress line on a TTY,
 * prints results as table, CSV, Markdown or JSON.
 * Exit codes: 0 ok, 1 experiment failed or canceled, 2 usage or invalid
 * request, 3 daemon unreachable. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "compare.h"
#include "gate.h"
#include "output.h"
#include "report.h"

#define BUS_NAME "org.virtlab.Lab1"
#define BUS_PATH "/org/virtlab/Lab1"
#define JOB_IFACE "org.virtlab.Lab1.Job"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3, EXIT_REGRESSION = 4 };

typedef struct Args {
        const char *bus;         /* system | session | ADDRESS */
        OutputFormat format;     /* how to print */
        json_t *spec;            /* experiment spec being built from flags */
        bool no_wait;            /* print the job id and return */
        bool quiet;              /* no progress even on a TTY */
        const char *kind, *state; /* results filter */
        long limit;              /* results filter */
        const char *experiments; /* compare: kinds, comma-separated */
        const char *baseline;    /* compare: gate against this baseline file */
        const char *save_baseline; /* compare: write the baseline here */
        const char *junit;       /* compare: JUnit XML here */
        const char *out;         /* report (and compare --report): output directory */
        bool html;               /* report: --format html */
        double threshold;        /* compare: regression threshold, fraction */
        double gate_alpha;       /* compare: significance the gate needs */
        double alpha;            /* compare/report: significance of table verdicts */
        long attach_job;         /* mtree: read the tree of this running job's VM */
} Args;

typedef struct Waiter {
        uint32_t id;             /* job we wait for */
        char *path;              /* its object path */
        bool done;               /* JobRemoved seen */
        char result[16];         /* its final state */
        unsigned runs_done, runs_total; /* progress */
        char phase[160];         /* current phase ("cell 3/12 t32.4K.rndrd, ETA 2m10s") */
        bool tty;                /* draw progress */
} Waiter;

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
        interrupted = 1;
}

static void help(void) {
        printf("Usage: virtlabctl [OPTIONS] COMMAND [ARGS]\n\n"
               "Commands:\n"
               "  describe               host, accelerator, VMMs, guest image, store\n"
               "  boot                   boot-time experiment (spawn → guest init marker)\n"
               "  memory                 VMM memory footprint experiment (smaps / pmap)\n"
               "  mtree                  QEMU memory-region tree (info mtree): --flat, --device edu,\n"
               "                         --format text|json|dot|svg (docs/memory-lab.md)\n"
               "  translate              one GVA -> GPA -> HVA -> HPA walk: --gva ADDR | --symbol NAME |\n"
               "                         --guest-alloc (default), --module (compare the guest's own walk)\n"
               "  bench cpu|memory|fileio  sysbench in the guest, the lab's matrices (docs/benchmarks.md):\n"
               "                         --time SEC per cell [60; --quick: 1], --threads 1,4,...,\n"
               "                         --sizes 1K,4K,..., --modes seq,rnd|rndrd,rndwr,seqrd,seqwr,\n"
               "                         --quick (tiny matrix), --cpu-max-prime N [10000],\n"
               "                         fileio: --disk FILE|DEVICE [scratch file], --force\n"
               "  jobs                   active and queued jobs\n"
               "  cancel ID              cancel a job\n"
               "  results [ID...]        list stored results, or show the given ones\n"
               "                         (several IDs: side-by-side comparison)\n"
               "  compare [ID...]        VMMs side by side: --vmm A,B[,C] (default qemu,qemu-microvm),\n"
               "                         --experiments boot[,memory]; runs interleaved A B C A B C...;\n"
               "                         one table per metric with ratio and significance verdict;\n"
               "                         with IDs: no new runs, the stored results (re-gate a job)\n"
               "  report --out DIR [ID...]  lab-report section (Markdown or --format html) with SVG plots\n"
               "  kvm-sample             the lab's raw-KVM VMM as a job: guest output + VM exits;\n"
               "                         --upper, --trace, --mode real|protected|paged|long, --walk GVA\n"
               "  edu                    QEMU edu PCI device + guest driver: pass/fail per feature\n"
               "                         (q35 only; --param require_crc32=true needs a patched QEMU)\n"
               "  KIND                   any other experiment kind virtlabd offers (see describe)\n\n"
               "Experiment options:\n"
               "  --vmm NAME             qemu (q35), qemu-microvm, stratovirt [qemu]\n"
               "  --runs N               measured runs, 1..1000            [10]\n"
               "  --warmup N             discarded warm-up runs            [1]\n"
               "  --accel auto|kvm|tcg   accelerator                       [auto]\n"
               "  --memory MIB           guest RAM           [256; memory: 1024]\n"
               "  --vcpus N              guest CPUs                        [1]\n"
               "  --timeout SEC          per-run timeout                   [60]\n"
               "  --settle-ms MS         wait after init before measuring  [500]\n"
               "  --pin CPUS             pin the VMM to these host CPUs (0, 0-1, 0,2)\n"
               "  --drop-caches          sync and drop the page cache before every run (root)\n"
               "  --image DIR            guest image directory (image.json)\n"
               "  --param KEY=VALUE      any other spec field (VALUE is JSON or a string)\n"
               "  --job ID               mtree: read the tree of the VM job ID is running now\n"
               "  --no-wait              print the job id and return at once\n\n"
               "Compare options:\n"
               "  --save-baseline FILE   write the measured samples as a baseline\n"
               "  --baseline FILE        gate: exit 4 when a metric's mean grew by more than the\n"
               "                         threshold AND the change is significant\n"
               "  --threshold F|N%%      regression threshold                 [10%%]\n"
               "  --gate-alpha P         significance the gate needs          [0.01]\n"
               "  --alpha P              significance of the table verdicts   [0.05]\n"
               "  --junit FILE           JUnit XML for CI   --report DIR  also write the report\n\n"
               "Output and connection:\n"
               "  --format table|csv|md|json   --json   -q, --quiet (no progress)\n"
               "  --kind K --state S --limit N   filters for 'results'\n"
               "  --bus system|session|ADDRESS  [$VIRTLAB_BUS, else system]\n\n"
               "Exit status: 0 ok, 1 experiment failed or canceled, 2 usage or invalid\n"
               "request, 3 daemon unreachable, 4 regression against --baseline.\n");
}

static int parse_long(const char *flag, const char *value, long *ret) {
        char *end;
        long v = strtol(value, &end, 10);
        if (!*value || *end) {
                fprintf(stderr, "virtlabctl: invalid %s '%s': not an integer\n", flag, value);
                return -1;
        }
        *ret = v;
        return 0;
}

/* A number in [min, max]; "10%" means 0.10. */
static int parse_fraction(const char *flag, const char *value, double min, double max, double *ret) {
        char *end;
        double v = strtod(value, &end);
        if (end != value && *end == '%' && end[1] == 0) {
                v /= 100;
                end++;
        }
        if (end == value || *end || !(v >= min && v <= max)) {
                fprintf(stderr, "virtlabctl: invalid %s '%s': expected a number between %g and %g (or N%%)\n", flag, value,
                        min, max);
                return -1;
        }
        *ret = v;
        return 0;
}

static int set_int(Args *a, const char *key, const char *flag, const char *value) {
        long v;
        if (parse_long(flag, value, &v) < 0)
                return -1;
        json_object_set_new(a->spec, key, json_integer(v));
        return 0;
}

/* --param KEY=VALUE: VALUE is taken as JSON when it parses, else as a string. */
static int set_param(Args *a, const char *kv) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
                fprintf(stderr, "virtlabctl: invalid --param '%s': expected KEY=VALUE\n", kv);
                return -1;
        }
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int) (eq - kv), kv);
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        json_object_set_new(a->spec, key, v ? v : json_string(eq + 1));
        return 0;
}

/* --device NAME (repeatable): devices for the mtree experiment. */
static int add_device(Args *a, const char *name) {
        json_t *list = json_object_get(a->spec, "device");
        if (!json_is_array(list))
                json_object_set_new(a->spec, "device", list = json_array());
        return json_array_append_new(list, json_string(name)) < 0 ? -1 : 0;
}

/* Returns optind of the command, or -1 on a usage error, 0 for --help. */
static int parse_args(int argc, char **argv, Args *a, bool stop_at_command) {
        enum { O_VMM = 256, O_RUNS, O_WARMUP, O_ACCEL, O_MEMORY, O_VCPUS, O_TIMEOUT, O_SETTLE, O_IMAGE, O_NOWAIT,
               O_FORMAT, O_JSON, O_BUS, O_KIND, O_STATE, O_LIMIT, O_PARAM, O_FLAT, O_DEVICE, O_GVA, O_SYMBOL, O_GUEST_ALLOC, O_MODULE, O_EXPERIMENTS, O_BASELINE,
               O_SAVE_BASELINE, O_JUNIT, O_OUT, O_THRESHOLD, O_GATE_ALPHA, O_ALPHA,
               O_TIME, O_THREADS, O_SIZES, O_MODES, O_QUICK, O_DISK, O_FORCE, O_CPU_MAX_PRIME,
               O_UPPER, O_TRACE, O_MODE, O_WALK, O_JOB, O_DROP_CACHES, O_PIN };
        static const struct option opts[] = {
                { "vmm", required_argument, NULL, O_VMM },         { "runs", required_argument, NULL, O_RUNS },
                { "warmup", required_argument, NULL, O_WARMUP },   { "accel", required_argument, NULL, O_ACCEL },
                { "memory", required_argument, NULL, O_MEMORY },   { "vcpus", required_argument, NULL, O_VCPUS },
                { "timeout", required_argument, NULL, O_TIMEOUT }, { "settle-ms", required_argument, NULL, O_SETTLE },
                { "image", required_argument, NULL, O_IMAGE },     { "no-wait", no_argument, NULL, O_NOWAIT },
                { "format", required_argument, NULL, O_FORMAT },   { "json", no_argument, NULL, O_JSON },
                { "bus", required_argument, NULL, O_BUS },         { "kind", required_argument, NULL, O_KIND },
                { "state", required_argument, NULL, O_STATE },     { "limit", required_argument, NULL, O_LIMIT },
                { "param", required_argument, NULL, O_PARAM },
                { "flat", no_argument, NULL, O_FLAT },             { "device", required_argument, NULL, O_DEVICE },
                { "job", required_argument, NULL, O_JOB },
                { "drop-caches", no_argument, NULL, O_DROP_CACHES }, { "pin", required_argument, NULL, O_PIN },
                { "gva", required_argument, NULL, O_GVA },         { "symbol", required_argument, NULL, O_SYMBOL },
                { "guest-alloc", no_argument, NULL, O_GUEST_ALLOC }, { "module", no_argument, NULL, O_MODULE },
                { "experiments", required_argument, NULL, O_EXPERIMENTS }, { "baseline", required_argument, NULL, O_BASELINE },
                { "save-baseline", required_argument, NULL, O_SAVE_BASELINE }, { "junit", required_argument, NULL, O_JUNIT },
                { "out", required_argument, NULL, O_OUT },         { "report", required_argument, NULL, O_OUT },
                { "threshold", required_argument, NULL, O_THRESHOLD }, { "gate-alpha", required_argument, NULL, O_GATE_ALPHA },
                { "alpha", required_argument, NULL, O_ALPHA },
                { "time", required_argument, NULL, O_TIME },       { "threads", required_argument, NULL, O_THREADS },
                { "sizes", required_argument, NULL, O_SIZES },     { "modes", required_argument, NULL, O_MODES },
                { "quick", no_argument, NULL, O_QUICK },           { "disk", required_argument, NULL, O_DISK },
                { "force", no_argument, NULL, O_FORCE },           { "cpu-max-prime", required_argument, NULL, O_CPU_MAX_PRIME },
                { "upper", no_argument, NULL, O_UPPER },           { "trace", no_argument, NULL, O_TRACE },
                { "mode", required_argument, NULL, O_MODE },       { "walk", required_argument, NULL, O_WALK },
                { "quiet", no_argument, NULL, 'q' },               { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;
        while ((c = getopt_long(argc, argv, stop_at_command ? "+qh" : "qh", opts, NULL)) >= 0) {
                int r = 0;
                switch (c) {
                case O_VMM: json_object_set_new(a->spec, "vmm", json_string(optarg)); break;
                case O_ACCEL: json_object_set_new(a->spec, "accel", json_string(optarg)); break;
                case O_IMAGE: json_object_set_new(a->spec, "image", json_string(optarg)); break;
                case O_RUNS: r = set_int(a, "runs", "--runs", optarg); break;
                case O_WARMUP: r = set_int(a, "warmup", "--warmup", optarg); break;
                case O_MEMORY: r = set_int(a, "memory_mib", "--memory", optarg); break;
                case O_VCPUS: r = set_int(a, "vcpus", "--vcpus", optarg); break;
                case O_TIMEOUT: r = set_int(a, "timeout_s", "--timeout", optarg); break;
                case O_SETTLE: r = set_int(a, "settle_ms", "--settle-ms", optarg); break;
                case O_NOWAIT: a->no_wait = true; break;
                case O_JSON: a->format = OUTPUT_JSON; break;
                case O_BUS: a->bus = optarg; break;
                case O_KIND: a->kind = optarg; break;
                case O_STATE: a->state = optarg; break;
                case O_LIMIT: r = parse_long("--limit", optarg, &a->limit); break;
                case O_PARAM: r = set_param(a, optarg); break;
                case O_FLAT: json_object_set_new(a->spec, "flat", json_true()); break;
                case O_JOB: r = parse_long("--job", optarg, &a->attach_job); break;
                case O_DROP_CACHES: json_object_set_new(a->spec, "drop_caches", json_true()); break;
                case O_PIN: json_object_set_new(a->spec, "pin_cpus", json_string(optarg)); break;
                case O_DEVICE: r = add_device(a, optarg); break;
                case O_GVA: json_object_set_new(a->spec, "gva", json_string(optarg)); break;
                case O_SYMBOL: json_object_set_new(a->spec, "symbol", json_string(optarg)); break;
                case O_GUEST_ALLOC: json_object_set_new(a->spec, "guest_alloc", json_true()); break;
                case O_MODULE: json_object_set_new(a->spec, "module", json_true()); break;
                case O_EXPERIMENTS: a->experiments = optarg; break;
                /* Matrix lists go as typed: the daemon checks them and names a bad value. */
                case O_TIME: r = set_int(a, "time_s", "--time", optarg); break;
                case O_THREADS: json_object_set_new(a->spec, "threads", json_string(optarg)); break;
                case O_SIZES: json_object_set_new(a->spec, "sizes", json_string(optarg)); break;
                case O_MODES: json_object_set_new(a->spec, "modes", json_string(optarg)); break;
                case O_QUICK: json_object_set_new(a->spec, "quick", json_true()); break;
                case O_DISK: json_object_set_new(a->spec, "disk", json_string(optarg)); break;
                case O_FORCE: json_object_set_new(a->spec, "force", json_true()); break;
                case O_CPU_MAX_PRIME: r = set_int(a, "cpu_max_prime", "--cpu-max-prime", optarg); break;
                /* kvm-sample; the daemon checks the mode and the address. */
                case O_UPPER: json_object_set_new(a->spec, "upper", json_true()); break;
                case O_TRACE: json_object_set_new(a->spec, "trace", json_true()); break;
                case O_MODE: json_object_set_new(a->spec, "mode", json_string(optarg)); break;
                case O_WALK: json_object_set_new(a->spec, "walk", json_string(optarg)); break;
                case O_BASELINE: a->baseline = optarg; break;
                case O_SAVE_BASELINE: a->save_baseline = optarg; break;
                case O_JUNIT: a->junit = optarg; break;
                case O_OUT: a->out = optarg; break;
                case O_THRESHOLD: r = parse_fraction("--threshold", optarg, 0, 10, &a->threshold); break;
                case O_GATE_ALPHA: r = parse_fraction("--gate-alpha", optarg, 1e-9, 0.5, &a->gate_alpha); break;
                case O_ALPHA: r = parse_fraction("--alpha", optarg, 1e-9, 0.5, &a->alpha); break;
                case O_FORMAT:
                        /* html exists for 'report' only; tables elsewhere fall back to Markdown. */
                        if (strcmp(optarg, "html") == 0) {
                                a->html = true;
                                a->format = OUTPUT_MD;
                                break;
                        }
                        a->format = output_format_from_string(optarg);
                        if ((int) a->format < 0) {
                                fprintf(stderr, "virtlabctl: invalid --format '%s': use table, csv, md, json (mtree: text, dot, svg)\n", optarg);
                                r = -1;
                        }
                        break;
                case 'q': a->quiet = true; break;
                case 'h': help(); return 0;
                default: return -1;
                }
                if (r < 0)
                        return -1;
        }
        return optind;
}

static int bus_connect(const char *which, sd_bus **ret) {
        if (strcmp(which, "system") == 0)
                return sd_bus_open_system(ret);
        if (strcmp(which, "session") == 0)
                return sd_bus_open_user(ret);
        sd_bus *bus = NULL;
        int r = sd_bus_new(&bus);
        r = r < 0 ? r : sd_bus_set_address(bus, which);
        r = r < 0 ? r : sd_bus_set_bus_client(bus, true);
        r = r < 0 ? r : sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

/* Maps a failed call to an exit code, printing the daemon's own words. */
static int call_failed(const char *what, const sd_bus_error *e, int r) {
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_NO_REPLY,
                                   SD_BUS_ERROR_DISCONNECTED)) {
                fprintf(stderr, "virtlabctl: virtlabd is not reachable: %s\n", e->message ? e->message : strerror(-r));
                return EXIT_UNREACHABLE;
        }
        fprintf(stderr, "virtlabctl: %s: %s\n", what, e && e->message ? e->message : strerror(-r));
        return sd_bus_error_has_names(e, SD_BUS_ERROR_INVALID_ARGS, "org.virtlab.Lab1.NoSuchJob",
                                      "org.virtlab.Lab1.VmmUnavailable", "org.virtlab.Lab1.TooManyJobs")
                       ? EXIT_USAGE
                       : EXIT_FAILED;
}

/* Calls a manager method returning one string; *ret is malloc'd. */
static int call_string(sd_bus *bus, const char *method, char **ret, const char *types, ...) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        va_list ap;
        va_start(ap, types);
        sd_bus_message *m = NULL;
        int r = sd_bus_message_new_method_call(bus, &m, BUS_NAME, BUS_PATH, BUS_NAME, method);
        if (r >= 0 && types)
                r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &e, &reply);
        sd_bus_message_unref(m);
        if (r < 0) {
                int code = call_failed(method, &e, r);
                sd_bus_error_free(&e);
                return -code;
        }
        const char *s;
        r = sd_bus_message_read(reply, "s", &s);
        *ret = r >= 0 ? strdup(s) : NULL;
        sd_bus_message_unref(reply);
        return *ret ? 0 : -EXIT_FAILED;
}

static json_t *parse_json(const char *text) {
        json_error_t je;
        json_t *j = json_loads(text, 0, &je);
        if (!j)
                fprintf(stderr, "virtlabctl: daemon sent invalid JSON: %s\n", je.text);
        return j;
}

static int cmd_describe(sd_bus *bus, Args *a) {
        char *text = NULL;
        int r = call_string(bus, "Describe", &text, NULL);
        if (r < 0)
                return -r;
        json_t *d = parse_json(text);
        free(text);
        if (!d)
                return EXIT_FAILED;
        if (a->format == OUTPUT_JSON)
                json_dumpf(d, stdout, JSON_INDENT(2)), putchar('\n');
        else {
                json_t *h = json_object_get(d, "host"), *v;
                size_t i;
                printf("virtlabd %s\nhost: kernel %s, %s, %lld cores, KVM %s\naccel: %s (%s)\nstore: %s\n",
                       json_string_value(json_object_get(d, "version")), json_string_value(json_object_get(h, "kernel")),
                       json_string_value(json_object_get(h, "cpu_model")),
                       (long long) json_integer_value(json_object_get(h, "cores")),
                       json_string_value(json_object_get(h, "kvm_flavour")),
                       json_string_value(json_object_get(h, "default_accel")),
                       json_string_value(json_object_get(h, "accel_reason")),
                       json_string_value(json_object_get(d, "store")));
                json_array_foreach(json_object_get(d, "vmms"), i, v) printf(
                        "vmm %-14s %s\n", json_string_value(json_object_get(v, "name")),
                        json_is_true(json_object_get(v, "available")) ? json_string_value(json_object_get(v, "version"))
                                                                      : json_string_value(json_object_get(v, "error")));
                json_t *img = json_object_get(d, "image");
                printf("image: %s\n", json_object_get(img, "error") ? json_string_value(json_object_get(img, "error"))
                                                                  : json_string_value(json_object_get(img, "image_hash")));
        }
        json_decref(d);
        return EXIT_OK;
}

static void progress_draw(Waiter *w) {
        if (!w->tty)
                return;
        unsigned width = 24, filled = w->runs_total ? width * w->runs_done / w->runs_total : 0;
        char bar[64];
        for (unsigned i = 0; i < width; i++)
                bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[Kjob %u [%s] run %u/%u %s", w->id, bar,
                w->runs_done < w->runs_total ? w->runs_done + 1 : w->runs_total, w->runs_total, w->phase);
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        uint32_t id;
        const char *path, *result;
        if (sd_bus_message_read(m, "uos", &id, &path, &result) < 0 || id != w->id)
                return 0;
        w->done = true;
        snprintf(w->result, sizeof(w->result), "%s", result);
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        const char *iface, *name;
        if (!w->path || strcmp(sd_bus_message_get_path(m), w->path) != 0 || sd_bus_message_read(m, "s", &iface) < 0 ||
            sd_bus_message_enter_container(m, 'a', "{sv}") < 0)
                return 0;
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                if (sd_bus_message_read(m, "s", &name) < 0)
                        break;
                const char *s;
                uint32_t u;
                if (strcmp(name, "Phase") == 0 && sd_bus_message_read(m, "v", "s", &s) >= 0)
                        snprintf(w->phase, sizeof(w->phase), "%s", s);
                else if (strcmp(name, "RunsDone") == 0 && sd_bus_message_read(m, "v", "u", &u) >= 0)
                        w->runs_done = u;
                else
                        sd_bus_message_skip(m, "v");
                sd_bus_message_exit_container(m);
        }
        progress_draw(w);
        return 0;
}

static int on_run_finished(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Waiter *w = userdata;
        uint32_t idx;
        const char *json;
        if (!w->path || strcmp(sd_bus_message_get_path(m), w->path) != 0 || sd_bus_message_read(m, "us", &idx, &json) < 0 ||
            !w->tty)
                return 0;
        json_t *s = json_loads(json, 0, NULL);
        json_t *err = json_object_get(s, "error");
        json_t *boot = json_object_get(s, "boot_ms"), *over = json_object_get(s, "vmm_overhead_kib");
        fprintf(stderr, "\r\033[Krun %u%s: ", idx, json_is_true(json_object_get(s, "warmup")) ? " (warm-up)" : "");
        if (json_is_string(err))
                fprintf(stderr, "FAILED: %s\n", json_string_value(err));
        else if (over)
                fprintf(stderr, "overhead %lld KiB, boot %.1f ms\n", (long long) json_integer_value(over), json_number_value(boot));
        else
                fprintf(stderr, "boot %.1f ms\n", json_number_value(boot));
        json_decref(s);
        return 0;
}

static int add_matches(sd_bus *bus, Waiter *w) {
        int r = sd_bus_match_signal(bus, NULL, BUS_NAME, BUS_PATH, BUS_NAME, "JobRemoved", on_job_removed, w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, BUS_NAME, NULL, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        on_properties_changed, w);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, BUS_NAME, NULL, JOB_IFACE, "RunFinished", on_run_finished, w);
        return r;
}

static int show_results(sd_bus *bus, Args *a, uint32_t *ids, size_t n) {
        json_t **docs = calloc(n ? n : 1, sizeof(json_t *));
        int code = docs ? EXIT_OK : EXIT_FAILED;
        size_t got = 0;
        for (; code != EXIT_USAGE && code != EXIT_UNREACHABLE && docs && got < n; got++) {
                char *text = NULL;
                int r = call_string(bus, "GetResult", &text, "u", ids[got]);
                if (r < 0) {
                        code = -r;
                        break;
                }
                docs[got] = parse_json(text);
                free(text);
                if (!docs[got]) {
                        code = EXIT_FAILED;
                        break;
                }
                if (strcmp(json_string_value(json_object_get(docs[got], "state")) ?: "", "done") != 0)
                        code = EXIT_FAILED;
        }
        if (docs && got == n)
                output_results(stdout, docs, got, a->format);
        for (size_t i = 0; docs && i < n; i++)
                json_decref(docs[i]);
        free(docs);
        return code;
}

static int wait_for_job(sd_bus *bus, Waiter *w) {
        bool cancel_sent = false;
        while (!w->done) {
                int r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        fprintf(stderr, "\nvirtlabctl: lost the connection to virtlabd: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
                if (r > 0)
                        continue;
                if (interrupted && !cancel_sent) {
                        cancel_sent = true;
                        fprintf(stderr, "\nvirtlabctl: canceling job %u...\n", w->id);
                        (void) sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "CancelJob", NULL, NULL, "u", w->id);
                        continue;
                }
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0 && r != -EINTR) {
                        fprintf(stderr, "\nvirtlabctl: waiting for virtlabd failed: %s\n", strerror(-r));
                        return EXIT_UNREACHABLE;
                }
        }
        if (w->tty)
                fprintf(stderr, "\r\033[K");
        return EXIT_OK;
}

/* Starts an experiment and waits for it.  With ret_id, the result is not
 * printed: the id is returned and the exit code says whether it is done. */
static int run_experiment(sd_bus *bus, Args *a, const char *kind, uint32_t *ret_id) {
        Waiter w = { .tty = isatty(STDERR_FILENO) && !a->quiet };
        if (!a->no_wait) {
                /* Tie the job to this client: Ctrl-C or a crash here cancels it. */
                json_object_set_new(a->spec, "bind_to_client", json_true());
                if (add_matches(bus, &w) < 0) {
                        fprintf(stderr, "virtlabctl: failed to subscribe to job signals\n");
                        return EXIT_FAILED;
                }
        }
        char *spec = json_dumps(a->spec, JSON_COMPACT);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "StartExperiment", &e, &reply, "ss", kind, spec);
        free(spec);
        if (r < 0) {
                int code = call_failed("cannot start the experiment", &e, r);
                sd_bus_error_free(&e);
                return code;
        }
        const char *path;
        r = sd_bus_message_read(reply, "uo", &w.id, &path);
        w.path = r >= 0 ? strdup(path) : NULL;
        sd_bus_message_unref(reply);
        if (w.path)
                (void) sd_bus_get_property_trivial(bus, BUS_NAME, w.path, JOB_IFACE, "RunsTotal", NULL, 'u', &w.runs_total);
        if (a->no_wait) {
                printf("%u\n", w.id);
                free(w.path);
                return EXIT_OK;
        }
        struct sigaction sa = { .sa_handler = on_sigint };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        int code = wait_for_job(bus, &w);
        free(w.path);
        if (code != EXIT_OK)
                return code;
        if (ret_id) {
                *ret_id = w.id;
                return strcmp(w.result, "done") == 0 ? EXIT_OK : EXIT_FAILED;
        }
        code = show_results(bus, a, &w.id, 1);
        return strcmp(w.result, "done") == 0 ? code : EXIT_FAILED;
}

static int cmd_experiment(sd_bus *bus, Args *a, const char *kind) {
        return run_experiment(bus, a, kind, NULL);
}

/* GetResult as a parsed document; NULL after printing why. */
static json_t *fetch_result(sd_bus *bus, uint32_t id, int *ret_code) {
        char *text = NULL;
        int r = call_string(bus, "GetResult", &text, "u", id);
        if (r < 0) {
                *ret_code = -r;
                return NULL;
        }
        json_t *doc = parse_json(text);
        free(text);
        if (!doc)
                *ret_code = EXIT_FAILED;
        return doc;
}

/* Splits "a,b,c" into a JSON array of strings (empty items dropped). */
static json_t *split_list(const char *s) {
        json_t *v = json_array();
        for (const char *p = s; v && p && *p;) {
                size_t k = strcspn(p, ",");
                if (k > 0)
                        json_array_append_new(v, json_stringn(p, k));
                p += k + (p[k] == ',');
        }
        return v;
}

static int parse_ids(char **args, int n, uint32_t *ids);

/* Rows for JUnit without a baseline: every comparison (its verdict in words)
 * and every failed job, so CI shows what ran. */
static json_t *junit_rows_without_baseline(json_t *const *docs, size_t n, double alpha) {
        json_t *rows = json_array(), *row;
        for (size_t d = 0; d < n; d++) {
                const char *kind = json_string_value(json_object_get(docs[d], "kind"));
                size_t i;
                if (json_is_string(json_object_get(docs[d], "error")))
                        json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:O}", "kind", kind, "vmm", "all",
                                                              "metric", "job", "verdict", "failed", "message",
                                                              json_object_get(docs[d], "error")));
                json_array_foreach(json_object_get(docs[d], "comparisons"), i, row) {
                        char verdict[128], msg[256];
                        compare_verdict(row, alpha, verdict, sizeof(verdict));
                        json_t *ratio = json_object_get(row, "ratio");
                        snprintf(msg, sizeof(msg), "ratio to %s %.3f: %s",
                                 json_string_value(json_object_get(row, "reference")),
                                 json_is_number(ratio) ? json_number_value(ratio) : 0.0, verdict);
                        json_array_append_new(rows, json_pack("{s:s, s:O, s:O, s:s, s:s}", "kind", kind, "vmm",
                                                              json_object_get(row, "vmm"), "metric",
                                                              json_object_get(row, "metric"), "verdict", "ok", "message", msg));
                }
        }
        return rows;
}

/* --baseline: the gate.  Prints one line per regression (naming the metric)
 * and returns the number of regressions, or -1 after printing why not. */
static int gate(Args *a, json_t *const *docs, size_t n, json_t **ret_rows) {
        json_error_t je;
        json_t *baseline = json_load_file(a->baseline, 0, &je);
        if (!baseline) {
                fprintf(stderr, "virtlabctl: cannot read baseline %s: %s\n", a->baseline, je.text);
                return -1;
        }
        json_t *current = gate_baseline_from_results(docs, n), *rows = NULL, *row;
        int k = current ? gate_check(baseline, current, a->threshold, a->gate_alpha, &rows) : -ENOMEM;
        json_decref(baseline);
        json_decref(current);
        if (k < 0) {
                fprintf(stderr, "virtlabctl: %s is not a virtlab baseline (write one with --save-baseline)\n", a->baseline);
                return -1;
        }
        size_t i;
        FILE *f = a->format == OUTPUT_JSON ? stderr : stdout;
        fprintf(f, "Baseline gate (%s): regression = mean up by more than %.0f %% with p < %g\n", a->baseline,
                100 * a->threshold, a->gate_alpha);
        json_array_foreach(rows, i, row) {
                const char *v = json_string_value(json_object_get(row, "verdict"));
                json_t *change = json_object_get(row, "change"), *p = json_object_get(row, "p");
                fprintf(f, "  %-12s %-40s %+7.1f %%  p = %.3g\n", strcmp(v, "regression") == 0 ? "REGRESSION" : v,
                        json_string_value(json_object_get(row, "key")),
                        json_is_number(change) ? 100 * json_number_value(change) : 0.0,
                        json_is_number(p) ? json_number_value(p) : NAN);
        }
        *ret_rows = rows;
        return k;
}

/* compare: one interleaved multi-VMM job per experiment kind, then tables,
 * baseline save/gate, JUnit and optionally the report.  With job IDs, no
 * new runs: the same over those stored results (re-gating a finished job). */
static int cmd_compare(sd_bus *bus, Args *a, char **args, int n_args) {
        const char *vmm_arg = json_string_value(json_object_get(a->spec, "vmm"));
        json_t *vmms = split_list(vmm_arg ? vmm_arg : "qemu,qemu-microvm");
        json_t *kinds = split_list(a->experiments ? a->experiments : "boot"), *kind;
        json_t *docs = json_array(), *gate_rows = NULL;
        int code = EXIT_OK;
        size_t i;
        if (json_array_size(vmms) == 0 || json_array_size(kinds) == 0) {
                fprintf(stderr, "virtlabctl: compare needs --vmm A,B[,C] and --experiments K[,K]\n");
                code = EXIT_USAGE;
                goto finish;
        }
        if (n_args > 0) {
                uint32_t ids[64];
                if (n_args > 64 || parse_ids(args, n_args, ids) < 0) {
                        code = EXIT_USAGE;
                        goto finish;
                }
                for (int k = 0; k < n_args; k++) {
                        int c = EXIT_OK;
                        json_t *doc = fetch_result(bus, ids[k], &c);
                        if (!doc) {
                                code = c;
                                goto finish;
                        }
                        if (strcmp(json_string_value(json_object_get(doc, "state")) ?: "", "done") != 0)
                                code = EXIT_FAILED;
                        json_array_append_new(docs, doc);
                }
                json_array_clear(kinds);
        }
        json_object_del(a->spec, "vmm");
        json_object_set(a->spec, "vmms", vmms);
        json_array_foreach(kinds, i, kind) {
                uint32_t id = 0;
                int c = run_experiment(bus, a, json_string_value(kind), &id);
                if (id == 0) {
                        code = c;
                        goto finish;
                }
                json_t *doc = fetch_result(bus, id, &c);
                if (!doc) {
                        code = c;
                        goto finish;
                }
                if (c != EXIT_OK)
                        code = EXIT_FAILED;
                json_array_append_new(docs, doc);
        }
        size_t n = json_array_size(docs);
        json_t **dv = calloc(n ? n : 1, sizeof(json_t *));
        for (i = 0; dv && i < n; i++)
                dv[i] = json_array_get(docs, i);
        if (a->format == OUTPUT_JSON) {
                json_dumpf(n == 1 ? dv[0] : docs, stdout, JSON_INDENT(2));
                putchar('\n');
        } else
                compare_print(stdout, dv, n, a->alpha, a->format == OUTPUT_MD);
        if (a->save_baseline) {
                json_t *b = gate_baseline_from_results(dv, n);
                if (!b || json_dump_file(b, a->save_baseline, JSON_INDENT(2)) < 0) {
                        fprintf(stderr, "virtlabctl: cannot write baseline %s\n", a->save_baseline);
                        code = EXIT_FAILED;
                } else
                        fprintf(stderr, "virtlabctl: baseline written to %s\n", a->save_baseline);
                json_decref(b);
        }
        if (a->baseline) {
                int k = gate(a, dv, n, &gate_rows);
                if (k < 0)
                        code = EXIT_USAGE;
                else if (k > 0 && code == EXIT_OK)
                        code = EXIT_REGRESSION;
        }
        if (a->junit) {
                json_t *rows = gate_rows ? json_incref(gate_rows) : junit_rows_without_baseline(dv, n, a->alpha);
                FILE *f = fopen(a->junit, "we");
                if (f) {
                        gate_write_junit(f, "virtlab-compare", rows);
                        fclose(f);
                } else {
                        fprintf(stderr, "virtlabctl: cannot write %s: %s\n", a->junit, strerror(errno));
                        code = code == EXIT_OK ? EXIT_FAILED : code;
                }
                json_decref(rows);
        }
        if (a->out) {
                const char *why = NULL;
                int r = report_write(a->out, dv, n, a->html ? REPORT_HTML : REPORT_MD, a->alpha, &why);
                if (r < 0) {
                        fprintf(stderr, "virtlabctl: report: %s: %s\n", why, strerror(-r));
                        code = code == EXIT_OK ? EXIT_FAILED : code;
                }
        }
        free(dv);
finish:
        json_decref(vmms);
        json_decref(kinds);
        json_decref(docs);
        json_decref(gate_rows);
        return code;
}

/* report --out DIR [ID...]: the given results, else the newest finished
 * job of each kind. */
static int cmd_report(sd_bus *bus, Args *a, char **args, int n) {
        uint32_t ids[64];
        size_t k = 0;
        int code = EXIT_OK;
        if (!a->out) {
                fprintf(stderr, "virtlabctl: report needs --out DIR\n");
                return EXIT_USAGE;
        }
        if (n > 64 || parse_ids(args, n, ids) < 0)
                return EXIT_USAGE;
        k = (size_t) n;
        if (k == 0) {
                char *text = NULL;
                int r = call_string(bus, "ListResults", &text, "s", "{\"state\":\"done\",\"limit\":200}");
                if (r < 0)
                        return -r;
                json_t *rows = parse_json(text), *row;
                free(text);
                size_t i;
                /* Newest first: the first row of each kind wins. */
                json_array_foreach(rows, i, row) {
                        const char *kind = json_string_value(json_object_get(row, "kind"));
                        bool seen = false;
                        for (size_t j = 0; j < i; j++)
                                seen = seen || strcmp(json_string_value(json_object_get(json_array_get(rows, j), "kind")) ?: "",
                                                      kind ?: "") == 0;
                        if (!seen && k < 64)
                                ids[k++] = (uint32_t) json_integer_value(json_object_get(row, "job_id"));
                }
                json_decref(rows);
                if (k == 0) {
                        fprintf(stderr, "virtlabctl: no finished results to report\n");
                        return EXIT_FAILED;
                }
        }
        json_t *docs[64];
        size_t got = 0;
        for (size_t i = 0; i < k; i++) {
                docs[got] = fetch_result(bus, ids[i], &code);
                if (!docs[got])
                        break;
                got++;
        }
        if (got == k) {
                const char *why = NULL;
                int r = report_write(a->out, docs, got, a->html ? REPORT_HTML : REPORT_MD, a->alpha, &why);
                if (r < 0) {
                        fprintf(stderr, "virtlabctl: report: %s: %s\n", why, strerror(-r));
                        code = EXIT_FAILED;
                } else
                        printf("%s/report.%s\n", a->out, a->html ? "html" : "md");
        }
        for (size_t i = 0; i < got; i++)
                json_decref(docs[i]);
        return code;
}

static int cmd_jobs(sd_bus *bus, Args *a) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "ListJobs", &e, &reply, NULL);
        if (r < 0) {
                int code = call_failed("ListJobs", &e, r);
                sd_bus_error_free(&e);
                return code;
        }
        json_t *rows = json_array();
        uint32_t id;
        const char *kind, *vmm, *state, *path;
        double progress;
        sd_bus_message_enter_container(reply, 'a', "(usssdo)");
        while (sd_bus_message_read(reply, "(usssdo)", &id, &kind, &vmm, &state, &progress, &path) > 0)
                json_array_append_new(rows, json_pack("{s:I, s:s, s:s, s:s, s:f, s:s}", "job_id", (json_int_t) id, "kind",
                                                      kind, "vmm", vmm, "state", state, "progress", progress, "path", path));
        sd_bus_message_unref(reply);
        if (a->format == OUTPUT_JSON)
                json_dumpf(rows, stdout, JSON_INDENT(2)), putchar('\n');
        else {
                json_t *j;
                size_t i;
                printf("%6s  %-8s %-14s %-9s %8s  %s\n", "JOB", "KIND", "VMM", "STATE", "PROGRESS", "OBJECT");
                json_array_foreach(rows, i, j) printf("%6lld  %-8s %-14s %-9s %7.0f%%  %s\n",
                                                      (long long) json_integer_value(json_object_get(j, "job_id")),
                                                      json_string_value(json_object_get(j, "kind")),
                                                      json_string_value(json_object_get(j, "vmm")),
                                                      json_string_value(json_object_get(j, "state")),
                                                      100 * json_real_value(json_object_get(j, "progress")),
                                                      json_string_value(json_object_get(j, "path")));
        }
        json_decref(rows);
        return EXIT_OK;
}

static int parse_ids(char **args, int n, uint32_t *ids) {
        for (int i = 0; i < n; i++) {
                long v = 0;
                if (parse_long("job id", args[i], &v) < 0)
                        return -1;
                if (v <= 0 || v > (long) UINT32_MAX) {
                        fprintf(stderr, "virtlabctl: invalid job id '%s'\n", args[i]);
                        return -1;
                }
                ids[i] = (uint32_t) v;
        }
        return 0;
}

static int cmd_cancel(sd_bus *bus, char **args, int n) {
        uint32_t id;
        if (n != 1 || parse_ids(args, 1, &id) < 0) {
                fprintf(stderr, "virtlabctl: usage: cancel ID\n");
                return EXIT_USAGE;
        }
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH, BUS_NAME, "CancelJob", &e, NULL, "u", id);
        if (r < 0) {
                int code = call_failed("cancel", &e, r);
                sd_bus_error_free(&e);
                return code;
        }
        return EXIT_OK;
}

static int cmd_results(sd_bus *bus, Args *a, char **args, int n) {
        if (n > 0) {
                uint32_t ids[64];
                if (n > 64 || parse_ids(args, n, ids) < 0)
                        return EXIT_USAGE;
                return show_results(bus, a, ids, (size_t) n);
        }
        json_t *f = json_pack("{s:s?, s:s?, s:s?}", "kind", a->kind, "vmm", json_string_value(json_object_get(a->spec, "vmm")),
                              "state", a->state);
        if (a->limit)
                json_object_set_new(f, "limit", json_integer(a->limit));
        char *filter = json_dumps(f, JSON_COMPACT), *text = NULL;
        json_decref(f);
        int r = call_string(bus, "ListResults", &text, "s", filter);
        free(filter);
        if (r < 0)
                return -r;
        json_t *rows = parse_json(text);
        free(text);
        if (!rows)
                return EXIT_FAILED;
        output_result_list(stdout, rows, a->format);
        json_decref(rows);
        return EXIT_OK;
}

/* bench cpu|memory|fileio: the bench-* experiment kinds. */
static int cmd_bench(sd_bus *bus, Args *a, char **args, int n) {
        static const char *const tests[] = { "cpu", "memory", "fileio" };
        for (size_t i = 0; n == 1 && i < sizeof(tests) / sizeof(tests[0]); i++)
                if (strcmp(args[0], tests[i]) == 0) {
                        char kind[32];
                        snprintf(kind, sizeof(kind), "bench-%s", tests[i]);
                        return cmd_experiment(bus, a, kind);
                }
        fprintf(stderr, "virtlabctl: usage: bench cpu|memory|fileio [--quick] [--time SEC] [--threads LIST] ...%s%s%s\n",
                n ? " (not '" : "", n ? args[0] : "", n ? "')" : "");
        return EXIT_USAGE;
}

/* mtree --job ID: the memory tree of the VM a running job has up right now. */
static int cmd_mtree_attach(sd_bus *bus, Args *a) {
        char path[64];
        snprintf(path, sizeof(path), "/org/virtlab/Lab1/job/_%ld", a->attach_job);
        bool flat = json_is_true(json_object_get(a->spec, "flat"));
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, path, JOB_IFACE, "MemoryTree", &e, &reply, "b", flat);
        if (r < 0) {
                if (sd_bus_error_has_names(&e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD))
                        fprintf(stderr, "virtlabctl: no active job %ld\n", a->attach_job);
                int code = sd_bus_error_has_names(&e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD)
                                   ? EXIT_USAGE
                                   : call_failed("mtree", &e, r);
                sd_bus_error_free(&e);
                return code;
        }
        const char *text;
        r = sd_bus_message_read(reply, "s", &text);
        json_t *tree = r >= 0 ? parse_json(text) : NULL;
        sd_bus_message_unref(reply);
        if (!tree)
                return EXIT_FAILED;
        if (a->format == OUTPUT_JSON) {
                json_dumpf(tree, stdout, JSON_INDENT(2));
                putchar('\n');
        } else {
                /* The renderer reads a result document: wrap the tree in one. */
                json_t *doc = json_pack("{s:s, s:I, s:{s:b}, s:[{s:O}]}", "kind", "mtree", "job_id",
                                        (json_int_t) a->attach_job, "spec", "flat", flat, "runs",
                                        flat ? "mtree_flat" : "mtree", tree);
                bool ok = doc && output_mtree(stdout, doc, a->format);
                json_decref(doc);
                if (!ok) {
                        json_decref(tree);
                        return EXIT_FAILED;
                }
        }
        json_decref(tree);
        return EXIT_OK;
}

static int dispatch(sd_bus *bus, Args *a, const char *cmd, char **args, int n) {
        if (strcmp(cmd, "mtree") == 0 && a->attach_job > 0 && n == 0)
                return cmd_mtree_attach(bus, a);
        if (strcmp(cmd, "describe") == 0)
                return cmd_describe(bus, a);
        if (strcmp(cmd, "boot") == 0 || strcmp(cmd, "memory") == 0)
                return n == 0 ? cmd_experiment(bus, a, cmd) : EXIT_USAGE;
        if (strcmp(cmd, "bench") == 0)
                return cmd_bench(bus, a, args, n);
        if (strcmp(cmd, "jobs") == 0)
                return cmd_jobs(bus, a);
        if (strcmp(cmd, "cancel") == 0)
                return cmd_cancel(bus, args, n);
        if (strcmp(cmd, "results") == 0)
                return cmd_results(bus, a, args, n);
        if (strcmp(cmd, "compare") == 0)
                return cmd_compare(bus, a, args, n);
        if (strcmp(cmd, "report") == 0)
                return cmd_report(bus, a, args, n);
        /* Any other word is an experiment kind; the daemon names the known ones. */
        if (n == 0 && cmd[0] != '-')
                return cmd_experiment(bus, a, cmd);
        fprintf(stderr, "virtlabctl: unexpected argument '%s' for '%s' (try --help)\n", args[0], cmd);
        return EXIT_USAGE;
}

int main(int argc, char **argv) {
        Args a = { .format = OUTPUT_TABLE, .spec = json_object(), .threshold = GATE_DEFAULT_THRESHOLD,
                   .gate_alpha = GATE_DEFAULT_ALPHA, .alpha = COMPARE_DEFAULT_ALPHA };
        a.bus = getenv("VIRTLAB_BUS") && *getenv("VIRTLAB_BUS") ? getenv("VIRTLAB_BUS") : "system";
        /* Options may follow the command: parse, take the command, parse again. */
        int k = parse_args(argc, argv, &a, true);
        if (k <= 0 || k >= argc) {
                if (k != 0)
                        fprintf(stderr, "virtlabctl: missing command (try --help)\n");
                json_decref(a.spec);
                return k == 0 ? EXIT_OK : EXIT_USAGE;
        }
        const char *cmd = argv[k];
        int sub_argc = argc - k;
        char **sub_argv = argv + k;
        optind = 0; /* 0 makes glibc re-initialise, so it permutes again */
        int j = parse_args(sub_argc, sub_argv, &a, false);
        if (j <= 0) {
                json_decref(a.spec);
                return j == 0 ? EXIT_OK : EXIT_USAGE;
        }
        sd_bus *bus = NULL;
        int r = bus_connect(a.bus, &bus);
        if (r < 0) {
                fprintf(stderr, "virtlabctl: cannot connect to the %s bus: %s\n", a.bus, strerror(-r));
                json_decref(a.spec);
                return EXIT_UNREACHABLE;
        }
        int code = dispatch(bus, &a, cmd, sub_argv + j, sub_argc - j);
        sd_bus_flush_close_unref(bus);
        json_decref(a.spec);
        return code;
}
