/* args.c — virtlabctl's command-line parsing (see args.h).
 * Divisions: defaults; value parsers (integers, fractions, ids, lists);
 * option parsers for the tables; the global and experiment option groups;
 * args_parse(), which reads every option before and after the command word in
 * one getopt pass and only then, knowing the verb, checks and applies them;
 * per-verb --help. */
#include "args.h"
#include "utf8.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "gate.h"

/* Distinct option names over all verbs; getopt needs them in one table. */
#define OPTIONS_MAX 96

/* An option as found on the command line, applied once the verb is known. */
typedef struct Given {
        const char *name;  /* its long name */
        const char *value; /* its value (into argv), NULL for a flag */
} Given;

static int args_set_format(Args *a, const Option *o, const char *value);
static int args_set_json(Args *a, const Option *o, const char *value);
static int args_set_param(Args *a, const Option *o, const char *value);

void args_init(Args *a) {
        const char *bus = getenv("VIRTLAB_BUS");
        *a = (Args) { .bus = bus && *bus ? bus : "system", .format = OUTPUT_TABLE, .spec = json_object(),
                      .threshold = GATE_DEFAULT_THRESHOLD, .gate_alpha = GATE_DEFAULT_ALPHA,
                      .alpha = COMPARE_DEFAULT_ALPHA };
}

void args_done(Args *a) {
        json_decref(a->spec);
        a->spec = NULL;
        free(a->words);
        a->words = a->argv = NULL;
}

int args_parse_long(const char *flag, const char *value, long *ret) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (!*value || *end || errno == ERANGE) {
                fprintf(stderr, "virtlabctl: invalid %s '%s': not an integer\n", flag, value);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int args_parse_fraction(const char *flag, const char *value, double min, double max, double *ret) {
        char *end;
        double v = strtod(value, &end);
        if (end != value && *end == '%' && end[1] == 0) {
                v /= 100;
                end++;
        }
        if (end == value || *end || !(v >= min && v <= max)) {
                fprintf(stderr, "virtlabctl: invalid %s '%s': expected a number between %g and %g (or N%%)\n", flag, value,
                        min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

int args_parse_ids(char **args, int n, uint32_t *ids, int max) {
        if (n > max) {
                fprintf(stderr, "virtlabctl: too many job ids (at most %d)\n", max);
                return -EINVAL;
        }
        for (int i = 0; i < n; i++) {
                long v = 0;
                if (args_parse_long("job id", args[i], &v) < 0)
                        return -EINVAL;
                if (v <= 0 || v > (long) UINT32_MAX) {
                        fprintf(stderr, "virtlabctl: invalid job id '%s'\n", args[i]);
                        return -EINVAL;
                }
                ids[i] = (uint32_t) v;
        }
        return 0;
}

json_t *args_split_list(const char *s) {
        json_t *v = json_array();
        for (const char *p = s; v && p && *p;) {
                size_t k = strcspn(p, ",");
                if (k > 0)
                        json_array_append_new(v, json_stringn(p, k));
                p += k + (p[k] == ',');
        }
        return v;
}

/* "--name" of an option, for error messages. */
static const char *option_flag(const Option *o, char *buf, size_t size) {
        snprintf(buf, size, "--%s", o->name);
        return buf;
}

/* The Args field an option's offset names. */
static void *field(Args *a, const Option *o) {
        return (char *) a + o->offset;
}

int args_spec_string(Args *a, const Option *o, const char *value) {
        json_object_set_new(a->spec, o->key, json_string(value));
        return 0;
}

int args_spec_int(Args *a, const Option *o, const char *value) {
        char flag[64];
        long v;
        if (args_parse_long(option_flag(o, flag, sizeof(flag)), value, &v) < 0)
                return -EINVAL;
        json_object_set_new(a->spec, o->key, json_integer(v));
        return 0;
}

int args_spec_true(Args *a, const Option *o, const char *value) {
        json_object_set_new(a->spec, o->key, json_true());
        return 0;
}

int args_set_string(Args *a, const Option *o, const char *value) {
        *(const char **) field(a, o) = value;
        return 0;
}

int args_set_true(Args *a, const Option *o, const char *value) {
        *(bool *) field(a, o) = true;
        return 0;
}

int args_set_long(Args *a, const Option *o, const char *value) {
        char flag[64];
        return args_parse_long(option_flag(o, flag, sizeof(flag)), value, (long *) field(a, o));
}

int args_set_alpha(Args *a, const Option *o, const char *value) {
        char flag[64];
        return args_parse_fraction(option_flag(o, flag, sizeof(flag)), value, 1e-9, 0.5, (double *) field(a, o));
}

/* --format: html exists for 'report' only; tables elsewhere fall back to Markdown. */
static int args_set_format(Args *a, const Option *o, const char *value) {
        if (strcmp(value, "html") == 0) {
                a->html = true;
                a->format = OUTPUT_MD;
                return 0;
        }
        OutputFormat f = output_format_from_string(value);
        if ((int) f < 0) {
                fprintf(stderr, "virtlabctl: invalid --format '%s': use table, csv, md, json, openmetrics (mtree, translate: text, dot, svg; report: md, html)\n",
                        value);
                return -EINVAL;
        }
        a->format = f;
        return 0;
}

static int args_set_json(Args *a, const Option *o, const char *value) {
        a->format = OUTPUT_JSON;
        return 0;
}

/* --param KEY=VALUE: VALUE is taken as JSON when it parses, else as a string. */
static int args_set_param(Args *a, const Option *o, const char *kv) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
                fprintf(stderr, "virtlabctl: invalid --param '%s': expected KEY=VALUE\n", kv);
                return -EINVAL;
        }
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int) (eq - kv), kv);
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        json_object_set_new(a->spec, key, v ? v : json_string(eq + 1));
        return 0;
}

static const Option global_options[] = {
        { .name = "format", .arg = "FORMAT", .parse = args_set_format,
          .help = "table, csv, md, json, openmetrics (mtree, translate: text, dot, svg; report: md, html)" },
        { .name = "json", .parse = args_set_json, .help = "same as --format json" },
        { .name = "bus", .arg = "BUS", .parse = args_set_string, .offset = offsetof(Args, bus),
          .help = "system, session or a D-Bus address  [$VIRTLAB_BUS, else system]" },
        { .name = "quiet", .short_name = 'q', .parse = args_set_true, .offset = offsetof(Args, quiet),
          .help = "no progress line, even on a terminal" },
        { .name = "help", .short_name = 'h', .parse = args_set_true, .offset = offsetof(Args, help),
          .help = "this help" },
        {},
};
const OptionGroup args_global_group = { "Output and connection", global_options };

static const Option experiment_options[] = {
        { .name = "vmm", .arg = "NAME", .parse = args_spec_string, .key = "vmm",
          .help = "qemu (q35), qemu-microvm, stratovirt, libvirt [qemu]" },
        { .name = "runs", .arg = "N", .parse = args_spec_int, .key = "runs",
          .help = "measured runs, 1..1000            [10]" },
        { .name = "warmup", .arg = "N", .parse = args_spec_int, .key = "warmup",
          .help = "discarded warm-up runs            [1]" },
        { .name = "accel", .arg = "auto|kvm|tcg", .parse = args_spec_string, .key = "accel",
          .help = "accelerator                       [auto]" },
        { .name = "memory", .arg = "MIB", .parse = args_spec_int, .key = "memory_mib",
          .help = "guest RAM           [256; memory: 1024]" },
        { .name = "vcpus", .arg = "N", .parse = args_spec_int, .key = "vcpus",
          .help = "guest CPUs                        [1]" },
        { .name = "timeout", .arg = "SEC", .parse = args_spec_int, .key = "timeout_s",
          .help = "per-run timeout                   [60]" },
        { .name = "settle-ms", .arg = "MS", .parse = args_spec_int, .key = "settle_ms",
          .help = "wait after init before measuring  [500]" },
        { .name = "pin", .arg = "CPUS", .parse = args_spec_string, .key = "pin_cpus",
          .help = "pin the VMM to these host CPUs (0, 0-1, 0,2)" },
        { .name = "drop-caches", .parse = args_spec_true, .key = "drop_caches",
          .help = "sync and drop the page cache before every run (root)" },
        { .name = "image", .arg = "DIR", .parse = args_spec_string, .key = "image",
          .help = "guest image directory (image.json)" },
        { .name = "param", .arg = "KEY=VALUE", .parse = args_set_param,
          .help = "any other spec field (VALUE is JSON or a string)" },
        { .name = "no-wait", .parse = args_set_true, .offset = offsetof(Args, no_wait),
          .help = "print the job id and return at once" },
        {},
};
const OptionGroup args_experiment_group = { "Experiment options", experiment_options };

/* The option named name in group g, or NULL. */
static const Option *group_option(const OptionGroup *g, const char *name) {
        for (const Option *o = g->options; o->name; o++)
                if (strcmp(o->name, name) == 0)
                        return o;
        return NULL;
}

/* The option named name as verb v takes it (its own groups first), or NULL. */
static const Option *verb_option(const Verb *v, const char *name) {
        for (const OptionGroup *const *g = v ? v->groups : NULL; g && *g; g++) {
                const Option *o = group_option(*g, name);
                if (o)
                        return o;
        }
        return group_option(&args_global_group, name);
}

/* Adds g's options to the getopt table (names once; a name means the same
 * arity everywhere, or getopt could not parse before knowing the verb). */
static void table_add(struct option *table, size_t *n, const OptionGroup *g) {
        for (const Option *o = g->options; o->name; o++) {
                size_t i = 0;
                while (i < *n && strcmp(table[i].name, o->name) != 0)
                        i++;
                int has_arg = o->arg ? required_argument : no_argument;
                if (i < *n) {
                        assert(table[i].has_arg == has_arg);
                        continue;
                }
                assert(*n < OPTIONS_MAX);
                table[*n] = (struct option) { o->name, has_arg, NULL, 256 + (int) *n };
                (*n)++;
        }
}

/* The getopt table of every option of every verb, and the short options. */
static void table_build(const Verb *verbs, struct option *table, char *shorts, size_t shorts_size) {
        size_t n = 0, k = 0;
        table_add(table, &n, &args_global_group);
        for (const Verb *v = verbs;; v++) {
                for (const OptionGroup *const *g = v->groups; g && *g; g++)
                        table_add(table, &n, *g);
                if (!v->name)
                        break;
        }
        table[n] = (struct option) {};
        shorts[k++] = '-'; /* non-options come back in order, as value 1 */
        for (const Option *o = global_options; o->name && k + 2 < shorts_size; o++)
                if (o->short_name) {
                        shorts[k++] = o->short_name;
                        if (o->arg)
                                shorts[k++] = ':';
                }
        shorts[k] = 0;
}

/* The long name of what getopt returned (c), or NULL. */
static const char *given_name(const struct option *table, int c) {
        if (c >= 256)
                return table[c - 256].name;
        for (const Option *o = global_options; o->name; o++)
                if (o->short_name == c)
                        return o->name;
        return NULL;
}

/* One getopt pass over argv: options into given[], words (the command word
 * and its arguments, in order) into words[].  EXIT_USAGE when getopt refused
 * an option (it said why). */
static int scan(int argc, char **argv, const struct option *table, const char *shorts, Given *given, int *ret_given,
                char **words, int *ret_words) {
        int ng = 0, nw = 0, c;
        optind = 0; /* 0 makes glibc re-initialise */
        while ((c = getopt_long(argc, argv, shorts, table, NULL)) >= 0) {
                if (c == 1) {
                        words[nw++] = optarg;
                        continue;
                }
                const char *name = c == '?' ? NULL : given_name(table, c);
                if (!name)
                        return EXIT_USAGE;
                given[ng++] = (Given) { name, optarg };
        }
        while (optind < argc) /* after "--" */
                words[nw++] = argv[optind++];
        *ret_given = ng;
        *ret_words = nw;
        return EXIT_OK;
}

/* The verb of a command word: its entry, else the catch-all kind verb. */
static const Verb *verb_find(const Verb *verbs, const char *word) {
        const Verb *v = verbs;
        for (; v->name; v++)
                if (strcmp(v->name, word) == 0)
                        return v;
        return word[0] != '-' && word[0] ? v : NULL;
}

/* Applies the options in order; stops at --help. */
static int apply(Args *a, const Verb *v, const Given *given, int n) {
        for (int i = 0; i < n && !a->help; i++) {
                const Option *o = verb_option(v, given[i].name);
                if (!o) {
                        fprintf(stderr, "virtlabctl: '%s' does not take --%s (see virtlabctl %s --help)\n", a->verb,
                                given[i].name, a->verb);
                        return EXIT_USAGE;
                }
                /* JSON strings are UTF-8: a value that is not would vanish from the spec. */
                if (given[i].value && !utf8_valid(given[i].value)) {
                        fprintf(stderr, "virtlabctl: invalid --%s value: not valid UTF-8\n", given[i].name);
                        return EXIT_USAGE;
                }
                if (o->parse(a, o, given[i].value) < 0)
                        return EXIT_USAGE;
        }
        return EXIT_OK;
}

/* Without a command word only the global options count: --help, or a usage error. */
static int parse_no_verb(Args *a, const Given *given, int n) {
        for (int i = 0; i < n && !a->help; i++) {
                const Option *o = group_option(&args_global_group, given[i].name);
                if (o && o->parse(a, o, given[i].value) < 0)
                        return EXIT_USAGE;
        }
        if (a->help)
                return EXIT_OK;
        fprintf(stderr, "virtlabctl: missing command (try --help)\n");
        return EXIT_USAGE;
}

int args_parse(Args *a, int argc, char **argv, const Verb *verbs, const Verb **ret_verb) {
        struct option table[OPTIONS_MAX + 1];
        char shorts[16];
        table_build(verbs, table, shorts, sizeof(shorts));
        Given *given = calloc(argc + 1, sizeof(Given));
        char **words = calloc(argc + 1, sizeof(char *));
        int ng = 0, nw = 0;
        int r = given && words ? scan(argc, argv, table, shorts, given, &ng, words, &nw) : EXIT_FAILED;
        const Verb *v = NULL;
        if (r == EXIT_OK && nw == 0)
                r = parse_no_verb(a, given, ng);
        else if (r == EXIT_OK && !(v = verb_find(verbs, words[0]))) {
                fprintf(stderr, "virtlabctl: unknown command '%s' (try --help)\n", words[0]);
                r = EXIT_USAGE;
        } else if (r == EXIT_OK) {
                a->words = words;
                a->verb = words[0];
                a->argv = words + 1;
                a->argc = nw - 1;
                words = NULL; /* a owns it now */
                r = apply(a, v, given, ng);
        }
        if (r == EXIT_OK && v && !a->help && v->max_args >= 0 && a->argc > v->max_args) {
                fprintf(stderr, "virtlabctl: unexpected argument '%s' for '%s' (try --help)\n", a->argv[v->max_args],
                        a->verb);
                r = EXIT_USAGE;
        }
        free(given);
        free(words);
        if (r == EXIT_OK)
                *ret_verb = v;
        return r;
}

/* One --help line: the option (and its value) then its help, aligned. */
static void print_option(const Option *o) {
        char left[64];
        if (o->short_name)
                snprintf(left, sizeof(left), "-%c, --%s", o->short_name, o->name);
        else
                snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        /* A long option, and every further line of its help, starts in column 26. */
        if (strlen(left) > 22)
                printf("  %s\n%25s", left, "");
        else
                printf("  %-22s ", left);
        for (const char *p = o->help; *p;) {
                size_t k = strcspn(p, "\n");
                printf("%.*s\n", (int) k, p);
                p += k;
                if (*p && *++p)
                        printf("%25s", "");
        }
}

/* A group's options as v takes them (a name an earlier group of v defines is
 * shown there). */
static void print_group(const Verb *v, const OptionGroup *g) {
        printf("\n%s:\n", g->title);
        for (const Option *o = g->options; o->name; o++)
                if (verb_option(v, o->name) == o)
                        print_option(o);
}

void args_print_verb_help(const Verb *v, const char *word) {
        printf("Usage: virtlabctl [OPTIONS] %s\n\n%s\n", v->usage ? v->usage : word, v->summary);
        for (const OptionGroup *const *g = v->groups; g && *g; g++)
                print_group(v, *g);
        print_group(v, &args_global_group);
        printf("\nExit status: 0 ok, 1 experiment failed or canceled, 2 usage or invalid\n"
               "request, 3 daemon unreachable, 4 regression against --baseline.\n");
}
