/* cmd-experiment.c — the experiment verbs without a file of their own:
 * `boot`, `memory`, `edu`, `kvm-sample` (with its options) and any other
 * KIND virtlabd offers: start the job, wait for it, print its result.
 * experiment_run() is that step for the verbs that have their own file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "cmd.h"
#include "files.h"
#include "util.h"

/* kvm-sample: the daemon checks the mode and the address. */
static const Option kvm_sample_options[] = {
        { .name = "upper", .parse = args_spec_true, .key = "upper",
          .help = "the VMM upper-cases the guest's output (\"HELLO, WORLD!\")" },
        { .name = "trace", .parse = args_spec_true, .key = "trace", .help = "record every VM exit" },
        { .name = "mode", .arg = "MODE", .parse = args_spec_string, .key = "mode",
          .help = "real|protected|paged|long: the guest's CPU mode" },
        { .name = "walk", .arg = "GVA", .parse = args_spec_string, .key = "walk",
          .help = "walk GVA's page tables after the guest halts (long mode)" },
        {},
};
const OptionGroup kvm_sample_group = { "kvm-sample options", kvm_sample_options };

/* density: the daemon checks the ranges, the fit in memory and the fds. */
static const Option density_options[] = {
        { .name = "count", .arg = "N", .parse = args_spec_int, .key = "count",
          .help = "VMs to start, 1..1024                  [10]" },
        { .name = "step", .arg = "N", .parse = args_spec_int, .key = "step",
          .help = "VMs per step; all alive are measured after each [10]" },
        { .name = "parallel", .arg = "P", .parse = args_spec_int, .key = "parallel",
          .help = "VMs booting at once (> 1: a boot storm) [1]" },
        { .name = "min-free", .arg = "MIB", .parse = args_spec_int, .key = "min_free_mib",
          .help = "stop before MemAvailable would drop below this [25% of it]" },
        { .name = "vm-timeout", .arg = "SEC", .parse = args_spec_int, .key = "vm_timeout_s",
          .help = "a VM not up within this ends the ramp   [30]" },
        { .name = "hold", .arg = "SEC", .parse = args_spec_int, .key = "hold_s",
          .help = "keep every VM up this long before the teardown [0]" },
        {},
};
const OptionGroup density_group = { "density options", density_options };

/* --kernel FILE[,format=F], --disk FILE[,format=F]: the path, and the
 * format into its own spec field. */
static int set_file_with_format(Args *a, const Option *o, const char *value, const char *format_key) {
        const char *comma = strstr(value, ",format=");
        if (!comma) {
                json_object_set_new(a->spec, o->key, json_string(value));
                return 0;
        }
        if (comma == value || !comma[strlen(",format=")]) {
                fprintf(stderr, "virtlabctl: invalid --%s '%s': expected FILE[,format=FORMAT]\n", o->name, value);
                return -EINVAL;
        }
        json_object_set_new(a->spec, o->key, json_stringn(value, (size_t) (comma - value)));
        json_object_set_new(a->spec, format_key, json_string(comma + strlen(",format=")));
        return 0;
}

static int set_kernel(Args *a, const Option *o, const char *value) {
        return set_file_with_format(a, o, value, "kernel_format");
}

static int set_disk_image(Args *a, const Option *o, const char *value) {
        return set_file_with_format(a, o, value, "disk_image_format");
}

/* --console-login USER[:PASSWORD]: the password never goes into the spec
 * the daemon stores; it travels as a file (files.c) and is starred out of
 * our command line at once (ps would show it).  Without ":PASSWORD",
 * $VIRTLAB_CONSOLE_PASSWORD is used when set. */
static int set_console_login(Args *a, const Option *o, const char *value) {
        char *colon = strchr(value, ':');
        const char *env = getenv("VIRTLAB_CONSOLE_PASSWORD");
        if (colon == value) {
                fprintf(stderr, "virtlabctl: invalid --console-login: expected USER[:PASSWORD]\n");
                return -EINVAL;
        }
        json_object_set_new(a->spec, "console_login",
                            colon ? json_stringn(value, (size_t) (colon - value)) : json_string(value));
        if (colon || (env && *env))
                json_object_set_new(a->spec, CLIENT_SECRET_KEY, json_string(colon ? colon + 1 : env));
        if (colon)
                memset(colon + 1, '*', strlen(colon + 1)); /* optarg points into argv */
        return 0;
}

/* A guest of your own (docs/guests.md): the daemon checks every value. */
static const Option guest_options[] = {
        { .name = "kernel", .arg = "FILE[,format=F]", .parse = set_kernel, .key = "kernel",
          .help = "boot this kernel (bzImage or PVH vmlinux by content;\nformat=raw for a flat binary)" },
        { .name = "initrd", .arg = "FILE", .parse = args_spec_string, .key = "initrd", .help = "... with this initrd" },
        { .name = "disk", .arg = "FILE[,format=F]", .parse = set_disk_image, .key = "disk_image",
          .help = "... and this disk (raw or qcow2 by content); each run\nsees it fresh, it is never written" },
        { .name = "append", .arg = "WORDS", .parse = args_spec_string, .key = "append",
          .help = "kernel command line after console=ttyS0 (root=/dev/vda ...)" },
        { .name = "marker", .arg = "REGEX", .parse = args_spec_string, .key = "marker",
          .help = "the console line that says it booted (POSIX ERE)" },
        {},
};
const OptionGroup guest_group = { "Guest options (bring your own)", guest_options };

/* boot: typing on the guest's serial console after the marker. */
static const Option console_options[] = {
        { .name = "console-login", .arg = "USER[:PASSWORD]", .parse = set_console_login,
          .help = "after the marker, log in on the serial console\n[password: $VIRTLAB_CONSOLE_PASSWORD]" },
        { .name = "console-command", .arg = "CMD", .parse = args_spec_string, .key = "console_command",
          .help = "... and run CMD there, its output into the result\n(systemd-analyze time is parsed)" },
        {},
};
const OptionGroup console_group = { "Console options", console_options };

int experiment_run(sd_bus *bus, Args *a, const char *kind, uint32_t *ret_id) {
        BusJobFlags flags = (a->no_wait ? BUS_JOB_NO_WAIT : 0) | (a->quiet ? BUS_JOB_QUIET : 0);
        uint32_t id = 0;
        bool done = false;
        int code = bus_run_job(bus, kind, a->spec, flags, &id, &done);
        if (code != EXIT_OK)
                return code;
        if (a->no_wait) {
                printf("%u\n", id);
                return EXIT_OK;
        }
        if (ret_id) {
                *ret_id = id;
                return done ? EXIT_OK : EXIT_FAILED;
        }
        code = results_show(bus, a, &id, 1);
        return done ? code : EXIT_FAILED;
}

int cmd_experiment(Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        return code == EXIT_OK ? experiment_run(bus, a, a->verb, NULL) : code;
}
