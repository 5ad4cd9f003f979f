/* vmm.c — kvm-sample, a minimal VMM on the raw KVM API (the lab's
 * "sample-qemu"): one VM, one vCPU, one memslot, a guest program that prints
 * "Hello, World!" through port 0x3f8.  This file is the command line and the
 * output; the VMM itself is in vm.c, modes.c, run.c and walk.c. */
#include <getopt.h>
#include <stdio.h>

#include "layout.h"
#include "vmm.h"

#define EXIT_GUEST_FAILURE 1
#define EXIT_USAGE 2
#define RUN_TIMEOUT_S 5

struct args {
        enum vm_mode mode;
        bool mode_given;
        bool upper, trace, json;
        uint16_t port;      /* the emulated serial port */
        bool walk;          /* --walk given */
        uint64_t walk_gva;  /* its address, DATA_VALUE_GVA if none */
};

static void help(void) {
        printf("Usage: %s [OPTIONS]\n"
               "Run a tiny guest that prints \"Hello, World!\" through port 0x%x.\n\n"
               "  --mode MODE    real (default), protected, paged (32-bit paging) or long\n"
               "  --upper        emulate the port so that it prints upper case\n"
               "  --port PORT    emulate the serial port at PORT instead (the guest\n"
               "                 still writes 0x%x: shows the unexpected-port failure)\n"
               "  --trace        print every VM exit and an exit histogram to stderr\n"
               "  --walk [GVA]   long mode: walk the guest page tables for GVA\n"
               "                 (default 0x%lx, the data page the guest wrote %d to)\n"
               "  --json         print the result as one JSON object\n"
               "  --help         this text\n\n"
               "Exit status: 0 ok, 1 guest or KVM failure, 2 usage error.\n",
               program_invocation_short_name, SERIAL_PORT, SERIAL_PORT, (unsigned long) DATA_VALUE_GVA, DATA_VALUE);
}

static int parse_gva(const char *s, uint64_t *ret) {
        char *end;

        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno != 0 || end == s || *end != 0 || *s == '-')
                return log_error_errno(-EINVAL, "Invalid address '%s': expected a number such as 0x%lx", s,
                                       (unsigned long) DATA_VALUE_GVA);
        /* With 48-bit virtual addresses, bits 63:47 must be all 0 or all 1. */
        if (v >> 47 != 0 && v >> 47 != 0x1ffff)
                return log_error_errno(-EINVAL, "Invalid address '%s': not canonical (bits 63:47 differ)", s);
        *ret = v;
        return 0;
}

static int parse_port(const char *s, uint16_t *ret) {
        char *end;

        errno = 0;
        unsigned long v = strtoul(s, &end, 0);
        if (errno != 0 || end == s || *end != 0 || *s == '-' || v > UINT16_MAX)
                return log_error_errno(-EINVAL, "Invalid port '%s': expected 0..0xffff", s);
        *ret = (uint16_t) v;
        return 0;
}

/* Returns 1 to run, 0 after --help, <0 on a usage error (already logged). */
static int parse_args(int argc, char *argv[], struct args *a) {
        enum { ARG_MODE = 0x100, ARG_PORT, ARG_UPPER, ARG_TRACE, ARG_WALK, ARG_JSON };
        static const struct option options[] = {
                { "mode", required_argument, NULL, ARG_MODE },
                { "port", required_argument, NULL, ARG_PORT },
                { "upper", no_argument, NULL, ARG_UPPER },
                { "trace", no_argument, NULL, ARG_TRACE },
                { "walk", optional_argument, NULL, ARG_WALK },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c, r;

        *a = (struct args) { .mode = VM_MODE_REAL, .port = SERIAL_PORT, .walk_gva = DATA_VALUE_GVA };
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_MODE:
                        a->mode = vm_mode_from_string(optarg);
                        if (a->mode < 0)
                                return log_error_errno(a->mode, "Invalid mode '%s': expected real, protected, paged or long", optarg);
                        a->mode_given = true;
                        break;
                case ARG_PORT:
                        r = parse_port(optarg, &a->port);
                        if (r < 0)
                                return r;
                        break;
                case ARG_UPPER:
                        a->upper = true;
                        break;
                case ARG_TRACE:
                        a->trace = true;
                        break;
                case ARG_WALK:
                        a->walk = true;
                        /* Accept "--walk ADDR" as well as "--walk=ADDR". */
                        if (!optarg && optind < argc && argv[optind][0] != '-')
                                optarg = argv[optind++];
                        if (optarg) {
                                r = parse_gva(optarg, &a->walk_gva);
                                if (r < 0)
                                        return r;
                        }
                        break;
                case ARG_JSON:
                        a->json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        /* getopt already named the bad option. */
                        return log_error_errno(-EINVAL, "Try '%s --help'", program_invocation_short_name);
                }

        if (optind < argc)
                return log_error_errno(-EINVAL, "Unexpected argument '%s'", argv[optind]);
        if (a->walk && !a->mode_given)
                a->mode = VM_MODE_LONG;
        if (a->walk && a->mode != VM_MODE_LONG)
                return log_error_errno(-EINVAL, "--walk needs --mode long, not '%s'", vm_mode_to_string(a->mode));
        return 1;
}

/* Creates the VM, runs the guest to its HLT, and walks if asked. */
static int run(const struct args *a, struct run_result *res, struct walk *w, vmm_error *err) {
        _cleanup_(vm_freep) struct vm *vm = NULL;
        const struct run_opts opts = { .port = a->port, .upper = a->upper, .trace = a->trace, .timeout_s = RUN_TIMEOUT_S };
        int r;

        r = vm_new(&vm, err);
        if (r < 0)
                return r;
        r = vm_add_memory(vm, 0, GUEST_MEM_SIZE, err);
        if (r < 0)
                return r;
        r = mode_setup(vm, a->mode, err);
        if (r < 0)
                return r;
        r = vm_run(vm, &opts, res, err);
        if (r < 0)
                return r;
        if (a->walk)
                return walk_gva(vm, a->walk_gva, w, err);
        return 0;
}

static int print_json(const struct args *a, int r, const struct run_result *res, const struct walk *w,
                      const vmm_error *err) {
        json_auto_t *exits = json_object(), *o = NULL;

        for (uint32_t i = 0; i < EXIT_REASONS_MAX; i++)
                if (res->exits[i])
                        (void) json_object_set_new(exits, exit_reason_to_string(i), json_integer((json_int_t) res->exits[i]));

        o = json_pack("{s:b, s:s, s:b, s:s%, s:O, s:I}", "ok", r >= 0, "mode", vm_mode_to_string(a->mode),
                      "upper", a->upper, "output", res->output, res->output_len, "exits", exits,
                      "total_exits", (json_int_t) res->n_exits);
        if (!o)
                return log_error_errno(-ENOMEM, "Failed to build JSON");
        if (r < 0) {
                (void) json_object_set_new(o, "error", json_string(err->message));
                (void) json_object_set_new(o, "refused", json_boolean(err->refused));
        }
        if (r >= 0 && a->walk)
                (void) json_object_set_new(o, "walk", walk_to_json(w));

        if (json_dumpf(o, stdout, JSON_COMPACT) < 0)
                return log_error_errno(-EIO, "Failed to write JSON");
        putchar('\n');
        return 0;
}

static void print_text(const struct args *a, int r, const struct run_result *res, const struct walk *w,
                       const vmm_error *err) {
        (void) fwrite(res->output, 1, res->output_len, stdout);
        (void) fflush(stdout);
        if (a->trace)
                run_print_histogram(res, stderr);
        if (r >= 0 && a->walk)
                walk_print(w, stdout);
        if (r < 0 && err->refused)
                (void) log_error_errno(r, "host KVM refuses %s mode: %s", vm_mode_to_string(a->mode), err->message);
        else if (r < 0)
                (void) log_error_errno(r, "%s", err->message);
}

int main(int argc, char *argv[]) {
        struct args a;
        struct run_result res = {};
        struct walk w = {};
        vmm_error err = {};
        int r;

        r = parse_args(argc, argv, &a);
        if (r <= 0)
                return r < 0 ? EXIT_USAGE : EXIT_SUCCESS;

        r = run(&a, &res, &w, &err);
        if (a.json) {
                if (print_json(&a, r, &res, &w, &err) < 0)
                        return EXIT_GUEST_FAILURE;
        } else
                print_text(&a, r, &res, &w, &err);
        return r < 0 ? EXIT_GUEST_FAILURE : EXIT_SUCCESS;
}
