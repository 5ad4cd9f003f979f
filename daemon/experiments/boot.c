/* boot.c — boot time: the guest init prints its marker as its first
 * action, reports its own uptime, and powers off (or, a guest that holds,
 * is stopped).  The phases themselves (t_qmp, t_console, t_kernel, t_init)
 * are recorded by run.c for every kind; this kind declares them as metrics.
 *
 * Two more things a boot can report, both the guest's own clock of its
 * boot (systemd-analyze time, systemd-analyze.h): an image whose reporter
 * prints it in its result frame (image.json "guest_clock"), and a console
 * command: after the marker (or the result), console_command is typed on
 * the serial console, after logging in as console_login if asked
 * (console-login.h); its output is kept, and parsed when it is systemd's.
 * The password comes as a file and lives only in the plan. */
#include <stdio.h>

#include "console-login.h"
#include "experiments/experiment.h"
#include "plan.h"
#include "systemd-analyze.h"
#include "utf8.h"

/* Each console step (a prompt, the command's end) must come within this. */
#define CONSOLE_STEP_USEC (120 * USEC_PER_SEC)
/* Of the command's output, this much goes into the sample. */
#define CONSOLE_OUTPUT_KEPT (64 * 1024)
#define USER_MAX 64

static const char *const boot_metrics[] = {
        "boot_ms", "t_exec_ms", "t_qmp_ms", "t_console_ms", "t_kernel_ms", "guest_uptime_at_init_ms",
        "systemd_firmware_ms", "systemd_loader_ms", "systemd_kernel_ms", "systemd_initrd_ms", "systemd_userspace_ms",
        "systemd_total_ms", "systemd_target_ms", NULL,
};

typedef struct BootRun {
        ConsoleLogin *login;     /* the console session, NULL before (or without) one */
        char pending[512];       /* the console's unfinished line, before the session starts */
        char phase[96];          /* progress text (run_set_phase keeps the pointer) */
} BootRun;

static void *boot_data_new(Run *run) {
        return calloc(1, sizeof(BootRun));
}

static void boot_data_free(void *data) {
        BootRun *b = data;
        console_login_free(b->login);
        free(b);
}

/* A user name to type at "login:": one word, and never a password. */
static int check_console_login(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        const char *s = json_string_value(v);
        char b[SPEC_ECHO_MAX + 8];
        if (strchr(s, ':'))
                return spec_fail(ret_error, "Invalid console_login: the user name only; the password is passed as a file "
                                            "(virtlabctl --console-login USER:PASSWORD does that), never in the spec");
        for (const char *p = s; *p; p++)
                if (*p <= 0x20 || *p > 0x7e)
                        return spec_fail(ret_error, "Invalid console_login '%s': a user name is one word of printable ASCII",
                                         spec_echo(v, b));
        if (!*s || strlen(s) > USER_MAX)
                return spec_fail(ret_error, "Invalid console_login: 1 to %d bytes", USER_MAX);
        return 0;
}

static int check_console_command(json_t *spec, const SpecField *f, json_t *v, char **ret_error) {
        const char *s = json_string_value(v);
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return spec_fail(ret_error, "Invalid console_command: one line, no control characters");
        if (!*s || strlen(s) > CONSOLE_COMMAND_MAX)
                return spec_fail(ret_error, "Invalid console_command: 1 to %d bytes", CONSOLE_COMMAND_MAX);
        return 0;
}

static const SpecField boot_fields[] = {
        { .name = "console_login", .type = SPEC_STRING, .check = check_console_login },
        { .name = "console_command", .type = SPEC_STRING, .check = check_console_command },
        {},
};

/* Typing needs a console that takes input (QEMU's socket, not StratoVirt's FIFO). */
static int boot_validate(json_t *spec, const JobPlan *plan, char **ret_error) {
        bool login = spec_string(spec, "console_login"), command = spec_string(spec, "console_command");
        if (plan->console_password && !login)
                return spec_fail(ret_error, "A console password was passed without console_login");
        if (login && !command)
                return spec_fail(ret_error, "console_login needs console_command: what to run once logged in");
        if (command && plan->image->powers_off)
                return spec_fail(ret_error, "Guest image '%s' powers off after its job: there is no console to type "
                                            "console_command on", plan->image->name);
        for (size_t i = 0; command && i < plan->n_vmms; i++)
                if (!plan->vmms[i].backend->caps.console_input)
                        return spec_fail(ret_error, "VMM '%s' cannot take console input (its serial console is a file it only "
                                                    "writes to), so console_login/console_command cannot work there; use "
                                                    "qemu or qemu-microvm", plan->vmms[i].backend->name);
        return 0;
}

/* The guest's own clock into the sample; -1 (the run failed) when text is
 * systemd's but says the boot has not finished or does not parse. */
static int record_systemd_times(Run *run, const char *text, const char *source) {
        SystemdTimes t;
        _cleanup_free_ char *why = NULL;
        int r = systemd_analyze_parse(text, &t, &why);
        if (r < 0) {
                run_fail(run, "%s", why ?: "systemd-analyze time did not parse");
                return -1;
        }
        systemd_times_to_sample(&t, run_sample(run));
        json_object_set_new(run_sample(run), "systemd_analyze",
                            json_pack("{s:s, s:s%}", "source", source, "text", text, utf8_prefix_len(text, 1024)));
        return 0;
}

static void console_step_timeout(Run *run) {
        BootRun *b = run_data(run);
        run_fail(run, "Console: no %s within %llu s (console_command '%s')", console_login_waiting_for(b->login),
                 (unsigned long long) (CONSOLE_STEP_USEC / USEC_PER_SEC), spec_string(run_spec(run), "console_command"));
}

/* Types what the session asks for; a new state re-arms the step timer. */
static void console_type(Run *run, const char *text, ConsoleLoginState before) {
        BootRun *b = run_data(run);
        if (text) {
                int r = run_console_write(run, text, strlen(text));
                if (r < 0) {
                        run_fail(run, "Cannot type on the guest's console: %s", strerror(-r));
                        return;
                }
        }
        if (console_login_state(b->login) != before) {
                snprintf(b->phase, sizeof(b->phase), "console: waiting for %s", console_login_waiting_for(b->login));
                run_set_phase(run, b->phase);
                (void) run_after(run, CONSOLE_STEP_USEC, console_step_timeout);
        }
}

static void console_done(Run *run) {
        BootRun *b = run_data(run);
        const char *out = console_login_output(b->login);
        json_t *s = run_sample(run);
        json_object_set(s, "console_command", json_object_get(run_spec(run), "console_command"));
        json_object_set_new(s, "console_output", json_stringn(out, utf8_prefix_len(out, CONSOLE_OUTPUT_KEPT)));
        json_object_set_new(s, "console_rc", json_integer(console_login_rc(b->login)));
        if ((strstr(out, "Startup finished in") || strstr(out, "Bootup is not yet finished")) &&
            record_systemd_times(run, out, "console command") < 0)
                return;
        run_stop_vm(run);
}

static void boot_on_console(Run *run, const char *text, bool partial) {
        BootRun *b = run_data(run);
        if (!b->login) {
                snprintf(b->pending, sizeof(b->pending), "%s", partial ? text : "");
                return;
        }
        ConsoleLoginState before = console_login_state(b->login);
        const char *send = console_login_feed(b->login, text, partial);
        console_type(run, send, before);
        if (console_login_state(b->login) == CONSOLE_LOGIN_FAILED && before != CONSOLE_LOGIN_FAILED)
                run_fail(run, "%s", console_login_error(b->login));
        else if (console_login_state(b->login) == CONSOLE_LOGIN_DONE && before != CONSOLE_LOGIN_DONE)
                console_done(run);
}

static void console_start(Run *run) {
        BootRun *b = run_data(run);
        json_t *spec = run_spec(run);
        int r = console_login_new(spec_string(spec, "console_login"), run_plan(run)->console_password,
                                  spec_string(spec, "console_command"), &b->login);
        if (r < 0) {
                run_fail(run, "Cannot start the console session: %s", strerror(-r));
                return;
        }
        run_hold_vm(run);
        ConsoleLoginState before = _CONSOLE_LOGIN_STATE_INVALID;
        console_type(run, console_login_start(b->login, b->pending), before);
}

static void boot_on_guest_result(Run *run) {
        const Image *img = run_plan(run)->image;
        if (img->clock && record_systemd_times(run, run_guest_output(run), "guest reporter") < 0)
                return;
        if (spec_string(run_spec(run), "console_command")) {
                console_start(run);
                return;
        }
        run_set_phase(run, "shutdown");
}

const ExperimentKind experiment_boot = {
        .name = "boot",
        .description = "boot time: VMM spawn to the guest init's marker, with phases (and the guest's own clock)",
        .guest_job = "boot",
        .metrics = boot_metrics,
        .fields = boot_fields,
        .validate = boot_validate,
        .run_data_new = boot_data_new,
        .run_data_free = boot_data_free,
        .on_console = boot_on_console,
        .on_guest_result = boot_on_guest_result,
        .guest_powers_off = true,
};
