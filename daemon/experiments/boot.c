/* boot.c — boot time: the guest init prints its marker as its first
 * action, reports its own uptime, and powers off (or, a guest that holds,
 * is stopped).  The phases themselves (t_qmp, t_console, t_kernel, t_init)
 * are recorded by run.c for every kind; this kind declares them as metrics. */
#include "experiments/experiment.h"

static const char *const boot_metrics[] = {
        "boot_ms", "t_exec_ms", "t_qmp_ms", "t_console_ms", "t_kernel_ms", "guest_uptime_at_init_ms", NULL,
};

static void boot_on_guest_result(Run *run) {
        run_set_phase(run, "shutdown");
}

const ExperimentKind experiment_boot = {
        .name = "boot",
        .description = "boot time: VMM spawn to the guest init's marker, with phases",
        .guest_job = "boot",
        .metrics = boot_metrics,
        .on_guest_result = boot_on_guest_result,
        .guest_powers_off = true,
};
