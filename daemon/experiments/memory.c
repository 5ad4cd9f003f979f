/* memory.c — VMM memory footprint, the lab's "pmap 10 runs":
 * after the guest init is up and has settled, read /proc/PID/smaps of the
 * VMM.  Guest RAM is located exactly through QMP (HMP gpa2hva of a RAM
 * address, then the mapping holding that HVA); VMMs without HMP fall back
 * to "the anonymous mapping closest above the configured RAM size".
 * VMM overhead = RSS − guest-RAM RSS, Firecracker's and StratoVirt's own
 * definition; see docs/measurements.md for why PSS-based totals differ. */
#include <inttypes.h>
#include <stdio.h>

#include "experiments/experiment.h"
#include "plan.h"
#include "qmp-client.h"
#include "smaps.h"
#include "utf8.h"

#define GPA_PROBE "0x100000" /* 1 MiB: RAM on every x86 machine type, above legacy holes */
#define HMP_TIMEOUT_USEC (5 * USEC_PER_SEC)

static const char *const memory_metrics[] = {
        "vmm_overhead_kib", "rss_kib", "pss_kib", "uss_kib", "pss_anon_kib", "guest_ram_rss_kib", NULL,
};

/* The lab compares footprints at 1 GiB of guest RAM. */
static const SpecDefault memory_defaults[] = { { "memory_mib", 1024 }, {} };

/* touch_mib: guest RAM the (noop) guest writes before its marker, so the
 * guest-RAM figure has a known floor; the guest starts at 32 MiB and can
 * reach no further than 992 MiB. */
static const SpecField memory_fields[] = { SPEC_INT_FIELD("touch_mib", 0, 0, 960), {} };

static int memory_validate(json_t *spec, const JobPlan *plan, char **ret_error) {
        json_int_t touch = spec_int(spec, "touch_mib"), mib = spec_int(spec, "memory_mib");
        if (touch == 0)
                return 0;
        if (!plan->image->touch_ram)
                return spec_fail(ret_error, "Invalid touch_mib %" JSON_INTEGER_FORMAT ": guest image '%s' cannot touch "
                                            "RAM on request (the noop image can)", touch, plan->image->name);
        if (touch + 32 > mib)
                return spec_fail(ret_error, "Invalid touch_mib %" JSON_INTEGER_FORMAT ": the guest touches from 32 MiB "
                                            "up, so memory_mib %" JSON_INTEGER_FORMAT " leaves room for at most %"
                                            JSON_INTEGER_FORMAT, touch, mib, mib > 32 ? mib - 32 : 0);
        return 0;
}

static int memory_guest_cmdline(Run *run, char **ret) {
        json_int_t touch = spec_int(run_spec(run), "touch_mib");
        if (touch == 0)
                return 0;
        return asprintf(ret, "virtlab.touch_mib=%" JSON_INTEGER_FORMAT, touch) < 0 ? -ENOMEM : 0;
}

static void memory_measure(Run *run, uint64_t ram_hva, const char *how) {
        _cleanup_(smaps_freep) Smaps *sm = NULL;
        pid_t pid = run_vmm_pid(run);
        int r = smaps_read_pid(pid, &sm);
        if (r < 0) {
                run_fail(run, "Failed to read /proc/%d/smaps: %s", (int) pid, strerror(-r));
                return;
        }
        uint64_t ram_bytes = (uint64_t) json_integer_value(json_object_get(run_spec(run), "memory_mib")) << 20;
        const SmapsMapping *ram = ram_hva ? smaps_find_address(sm, ram_hva) : smaps_guess_guest_ram(sm, ram_bytes);
        if (!ram) {
                run_fail(run, "Could not find the guest RAM mapping in /proc/%d/smaps (%s)", (int) pid, how);
                return;
        }
        SmapsTotals t;
        smaps_totals(sm, &t);
        json_t *s = run_sample(run);
        json_object_set_new(s, "rss_kib", json_integer((json_int_t) t.rss_kib));
        json_object_set_new(s, "pss_kib", json_integer((json_int_t) t.pss_kib));
        json_object_set_new(s, "uss_kib", json_integer((json_int_t) t.uss_kib));
        json_object_set_new(s, "swap_kib", json_integer((json_int_t) t.swap_kib));
        json_object_set_new(s, "guest_ram_rss_kib", json_integer((json_int_t) ram->rss_kib));
        json_object_set_new(s, "vmm_overhead_kib", json_integer((json_int_t) (t.rss_kib - ram->rss_kib)));
        char addr[32];
        snprintf(addr, sizeof(addr), "0x%" PRIx64, ram->start);
        json_object_set_new(s, "guest_ram_mapping",
                            json_pack("{s:s, s:I, s:s}", "address", addr, "size_kib",
                                      (json_int_t) ((ram->end - ram->start) >> 10), "found_by", how));
        SmapsRollup roll;
        r = smaps_rollup_read_pid(pid, &roll);
        if (r == 0) {
                json_object_set_new(s, "pss_anon_kib", json_integer((json_int_t) roll.pss_anon_kib));
                json_object_set_new(s, "pss_file_kib", json_integer((json_int_t) roll.pss_file_kib));
                json_object_set_new(s, "pss_shmem_kib", json_integer((json_int_t) roll.pss_shmem_kib));
        } else
                json_object_set_new(s, "pss_anon", json_sprintf("not measured: /proc/%d/smaps_rollup %s", (int) pid,
                                                                r == -ENODATA ? "has no Pss_Anon (Linux before 5.7)"
                                                                              : strerror(-r)));
        json_object_set_new(s, "pmap", smaps_pmap_table(sm));
        run_stop_vm(run);
}

/* Parses "Host virtual address for 0x100000 (pc.ram) is 0x7f6afbf00000". */
static int parse_gpa2hva(const char *text, uint64_t *ret_hva, char *block, size_t block_size) {
        const char *open = strchr(text, '('), *close = open ? strchr(open, ')') : NULL;
        const char *is = close ? strstr(close, " is 0x") : NULL;
        if (!is)
                return -EBADMSG;
        snprintf(block, block_size, "%.*s", (int) (close - open - 1), open + 1);
        (void) utf8_scrub(block); /* cut at block_size, it may end inside a character; it goes into JSON */
        char *end;
        errno = 0;
        unsigned long long v = strtoull(is + 4, &end, 16);
        if (errno || v == 0)
                return -EBADMSG;
        *ret_hva = v;
        return 0;
}

static void on_gpa2hva(QmpClient *c, int error, json_t *result, const char *cls, const char *desc, void *userdata) {
        Run *run = userdata;
        if (error == -ECANCELED)
                return; /* the VM is being freed; the run is already ending */
        char block[64] = "", how[128];
        uint64_t hva = 0;
        if (error < 0 || parse_gpa2hva(strempty(json_string_value(result)), &hva, block, sizeof(block)) < 0) {
                snprintf(how, sizeof(how), "largest anonymous mapping >= guest RAM (gpa2hva failed: %s)",
                         desc ?: strerror(error < 0 ? -error : EBADMSG));
                memory_measure(run, 0, how);
                return;
        }
        snprintf(how, sizeof(how), "HMP gpa2hva " GPA_PROBE " -> RAM block %s", block);
        memory_measure(run, hva, how);
}

static void memory_start(Run *run) {
        run_set_phase(run, "measure");
        QmpClient *q = run_qmp(run);
        if (!q || !run_vmm_has_hmp(run) || qmp_client_hmp(q, "gpa2hva " GPA_PROBE, HMP_TIMEOUT_USEC, on_gpa2hva, run) < 0)
                memory_measure(run, 0, "largest anonymous mapping >= guest RAM (no HMP)");
}

static void memory_on_guest_result(Run *run) {
        run_after_settle(run, memory_start);
}

const ExperimentKind experiment_memory = {
        .name = "memory",
        .description = "VMM process memory (smaps: RSS, PSS, USS, guest-RAM RSS, overhead) after boot",
        .guest_job = "hold",
        .metrics = memory_metrics,
        .fields = memory_fields,
        .defaults = memory_defaults,
        .validate = memory_validate,
        .guest_cmdline = memory_guest_cmdline,
        .on_guest_result = memory_on_guest_result,
        .guest_powers_off = false,
};
