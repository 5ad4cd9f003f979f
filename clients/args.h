/* args.h — virtlabctl's command line: exit codes, the parsed arguments
 * (Args), the option and verb descriptors, and the parsing helpers the verbs
 * share (integers, fractions, --param KEY=VALUE, lists, job ids).
 * Options are tables (Option, grouped in an OptionGroup); a verb lists the
 * groups it takes, and args_parse() refuses any other option by name. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output.h"

/* Exit status of virtlabctl (README, --help). */
enum {
        EXIT_OK = 0,          /* done */
        EXIT_FAILED = 1,      /* experiment failed or canceled, or a local step failed */
        EXIT_USAGE = 2,       /* usage error or invalid request */
        EXIT_UNREACHABLE = 3, /* virtlabd not reachable */
        EXIT_REGRESSION = 4,  /* compare --baseline found a regression */
};

/* Most job ids one command takes (results, compare, report). */
#define ARGS_IDS_MAX 64

typedef struct Args {
        const char *verb;          /* the command word ("boot", or any KIND) */
        char **argv;               /* positional arguments after it (strings of main's argv) */
        int argc;                  /* how many */
        char **words;              /* owned array: the command word, then argv */
        /* Global options. */
        const char *bus;           /* system | session | ADDRESS */
        OutputFormat format;       /* how to print */
        bool html;                 /* --format html: report writes HTML, tables fall back to Markdown */
        bool quiet;                /* no progress even on a TTY */
        bool help;                 /* -h/--help: print help, do nothing else */
        /* Experiment verbs. */
        json_t *spec;              /* experiment spec being built from flags */
        bool no_wait;              /* print the job id and return */
        long attach_job;           /* mtree --job: read the tree of this running job's VM */
        /* results filters. */
        const char *kind;          /* --kind */
        const char *state;         /* --state */
        const char *vmm;           /* --vmm */
        long limit;                /* --limit, 0: the daemon's default */
        /* compare and report. */
        const char *experiments;   /* compare: kinds, comma-separated */
        const char *baseline;      /* compare: gate against this baseline file */
        const char *save_baseline; /* compare: write the baseline here */
        const char *junit;         /* compare: JUnit XML here */
        const char *openmetrics;   /* compare: OpenMetrics text here */
        const char *out;           /* report (and compare --report): output directory */
        double threshold;          /* compare: regression threshold, fraction */
        double gate_alpha;         /* compare: significance the gate needs */
        double alpha;              /* compare/report: significance of table verdicts */
} Args;

typedef struct Option Option;

/* Applies one option (value is NULL for a flag) to a.  Returns 0, or -EINVAL
 * after printing why. */
typedef int (*OptionParse)(Args *a, const Option *o, const char *value);

struct Option {
        const char *name;   /* long name, without "--" */
        const char *arg;    /* the value's placeholder in --help ("N"); NULL: a flag */
        OptionParse parse;  /* applies it */
        const char *key;    /* spec field, for args_spec_*() */
        size_t offset;      /* Args field, for args_set_*() */
        const char *help;   /* the rest of its --help line */
        char short_name;    /* 'q', 'h', or 0 */
};

typedef struct OptionGroup {
        const char *title;      /* heading in --help */
        const Option *options;  /* ends with an entry whose name is NULL */
} OptionGroup;

typedef struct Verb {
        const char *name;                 /* command word; NULL: any experiment kind */
        int (*run)(Args *a);              /* does it; returns an exit code */
        const OptionGroup *const *groups; /* options besides the global ones, NULL-terminated */
        int max_args;                     /* positional arguments taken; -1: run() checks them */
        const char *usage;                /* "bench cpu|memory|fileio": after "virtlabctl [OPTIONS] " */
        const char *summary;              /* what it does, for VERB --help */
} Verb;

/* Options every verb takes: --format, --json, --bus, -q, -h. */
extern const OptionGroup args_global_group;
/* Options of every experiment verb: --vmm --runs ... --param --no-wait. */
extern const OptionGroup args_experiment_group;

/* Sets the defaults ($VIRTLAB_BUS, table format, gate thresholds, empty spec). */
void args_init(Args *a);
/* Frees what args_init() and args_parse() allocated. */
void args_done(Args *a);

/* Parses argv against verbs (the catch-all entry, name NULL, last).  Options
 * may come before or after the command word; an option the verb does not take
 * is a usage error naming both.  Returns EXIT_OK with *ret_verb set (NULL when
 * there is no command word and a->help is set), or EXIT_USAGE after printing
 * why.  Positional arguments after the command word go to a->argv. */
int args_parse(Args *a, int argc, char **argv, const Verb *verbs, const Verb **ret_verb);
/* Prints "Usage: ..." and the options of one verb. */
void args_print_verb_help(const Verb *v, const char *word);

/* Option parsers, for the tables. */
int args_spec_string(Args *a, const Option *o, const char *value); /* spec[key] = value */
int args_spec_int(Args *a, const Option *o, const char *value);    /* spec[key] = integer value */
int args_spec_true(Args *a, const Option *o, const char *value);   /* spec[key] = true */
int args_set_string(Args *a, const Option *o, const char *value);  /* Args field at offset = value */
int args_set_true(Args *a, const Option *o, const char *value);    /* bool at offset = true */
int args_set_long(Args *a, const Option *o, const char *value);    /* long at offset = integer value */
int args_set_alpha(Args *a, const Option *o, const char *value);   /* double at offset, a significance level */

/* An integer; flag names it in the error.  Returns 0 or -EINVAL after printing why. */
int args_parse_long(const char *flag, const char *value, long *ret);
/* A number in [min, max]; "10%" means 0.10.  Returns 0 or -EINVAL after printing why. */
int args_parse_fraction(const char *flag, const char *value, double min, double max, double *ret);
/* Job ids 1..UINT32_MAX into ids (n entries, at most max).  Returns 0, or
 * -EINVAL after printing why. */
int args_parse_ids(char **args, int n, uint32_t *ids, int max);
/* Splits "a,b,c" into a new JSON array of strings (empty items dropped). */
json_t *args_split_list(const char *s);
