/* run.c — the trap-and-emulate loop.  KVM_RUN enters the guest and returns
 * when the guest does something the hardware will not let it do alone (an
 * `out`, a `hlt`, …); kvm_run->exit_reason says what, and we emulate it. */
#include <ctype.h>
#include <signal.h>
#include <sys/ioctl.h>

#include "vmm.h"

/* Newer than the linux-libc-dev this may be built against (bullseye's
 * 5.10 headers end at KVM_EXIT_X86_WRMSR); the values are the ABI's. */
#ifndef KVM_EXIT_DIRTY_RING_FULL
#define KVM_EXIT_DIRTY_RING_FULL 31
#endif
#ifndef KVM_EXIT_AP_RESET_HOLD
#define KVM_EXIT_AP_RESET_HOLD 32
#endif
#ifndef KVM_EXIT_X86_BUS_LOCK
#define KVM_EXIT_X86_BUS_LOCK 33
#endif
#ifndef KVM_EXIT_XEN
#define KVM_EXIT_XEN 34
#endif
#ifndef KVM_EXIT_RISCV_SBI
#define KVM_EXIT_RISCV_SBI 35
#endif
#ifndef KVM_EXIT_RISCV_CSR
#define KVM_EXIT_RISCV_CSR 36
#endif
#ifndef KVM_EXIT_NOTIFY
#define KVM_EXIT_NOTIFY 37
#endif
#define EXIT_MEMORY_FAULT 38
#define EXIT_TDX 39

static const char *const exit_reason_table[EXIT_REASONS_MAX] = {
        [KVM_EXIT_UNKNOWN] = "UNKNOWN",
        [KVM_EXIT_EXCEPTION] = "EXCEPTION",
        [KVM_EXIT_IO] = "IO",
        [KVM_EXIT_HYPERCALL] = "HYPERCALL",
        [KVM_EXIT_DEBUG] = "DEBUG",
        [KVM_EXIT_HLT] = "HLT",
        [KVM_EXIT_MMIO] = "MMIO",
        [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
        [KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
        [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
        [KVM_EXIT_INTR] = "INTR",
        [KVM_EXIT_SET_TPR] = "SET_TPR",
        [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
        [KVM_EXIT_S390_SIEIC] = "S390_SIEIC",
        [KVM_EXIT_S390_RESET] = "S390_RESET",
        [KVM_EXIT_DCR] = "DCR",
        [KVM_EXIT_NMI] = "NMI",
        [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [KVM_EXIT_OSI] = "OSI",
        [KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL",
        [KVM_EXIT_S390_UCONTROL] = "S390_UCONTROL",
        [KVM_EXIT_WATCHDOG] = "WATCHDOG",
        [KVM_EXIT_S390_TSCH] = "S390_TSCH",
        [KVM_EXIT_EPR] = "EPR",
        [KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
        [KVM_EXIT_S390_STSI] = "S390_STSI",
        [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
        [KVM_EXIT_HYPERV] = "HYPERV",
        [KVM_EXIT_ARM_NISV] = "ARM_NISV",
        [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
        [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
        [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
        [KVM_EXIT_AP_RESET_HOLD] = "AP_RESET_HOLD",
        [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
        [KVM_EXIT_XEN] = "XEN",
        [KVM_EXIT_RISCV_SBI] = "RISCV_SBI",
        [KVM_EXIT_RISCV_CSR] = "RISCV_CSR",
        [KVM_EXIT_NOTIFY] = "NOTIFY",
        [EXIT_MEMORY_FAULT] = "MEMORY_FAULT",
        [EXIT_TDX] = "TDX",
};

static const char *const internal_error_table[] = {
        [KVM_INTERNAL_ERROR_EMULATION] = "instruction emulation failed",
        [KVM_INTERNAL_ERROR_SIMUL_EX] = "exception while delivering an exception",
        [KVM_INTERNAL_ERROR_DELIVERY_EV] = "exit while delivering an event",
        [KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON] = "unexpected hardware exit reason",
};

/* Set while the vCPU runs, so SIGALRM can kick it out of KVM_RUN. */
static struct kvm_run *volatile alarm_run;

const char *exit_reason_to_string(uint32_t reason) {
        static char buf[32];

        if (reason < EXIT_REASONS_MAX && exit_reason_table[reason])
                return exit_reason_table[reason];
        (void) snprintf(buf, sizeof(buf), "UNKNOWN_%" PRIu32, reason);
        return buf;
}

static void on_alarm(int sig) {
        /* A signal that lands between two KVM_RUNs would be lost; immediate_exit
         * makes the next KVM_RUN return -EINTR at once instead. */
        if (alarm_run)
                alarm_run->immediate_exit = 1;
}

static void trace_exit(const struct kvm_run *run, uint64_t n, usec_t since) {
        fprintf(stderr, "trace: %8" PRIu64 " us  exit #%-3" PRIu64 " %-14s", since, n, exit_reason_to_string(run->exit_reason));
        if (run->exit_reason == KVM_EXIT_IO) {
                const uint8_t *data = (const uint8_t *) run + run->io.data_offset;
                fprintf(stderr, " port=0x%x size=%u dir=%s count=%u", run->io.port, run->io.size,
                        run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.count);
                if (run->io.direction == KVM_EXIT_IO_OUT)
                        fprintf(stderr, " data=0x%02x '%s%c'", data[0], data[0] == '\n' ? "\\" : "",
                                data[0] == '\n' ? 'n' : isprint(data[0]) ? data[0] : '.');
        }
        fputc('\n', stderr);
}

/* Our whole "device model": a write-only serial port. */
static int handle_io(const struct kvm_run *run, const struct run_opts *opts, struct run_result *res, vmm_error *err) {
        const uint8_t *data = (const uint8_t *) run + run->io.data_offset;
        const char *dir = run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in";

        if (run->io.port != opts->port)
                return vmm_error_set(err, -EIO, "Guest did I/O (%s, size %u) on unexpected port 0x%x",
                                     dir, run->io.size, run->io.port);
        if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 1)
                return vmm_error_set(err, -EIO, "Guest did unsupported I/O on port 0x%x: %s, size %u",
                                     run->io.port, dir, run->io.size);

        /* `rep outsb` delivers several bytes in one exit. */
        for (uint32_t i = 0; i < run->io.count; i++) {
                if (res->output_len >= OUTPUT_MAX)
                        return vmm_error_set(err, -E2BIG, "Guest wrote more than %d bytes", OUTPUT_MAX);
                /* The lab's "modified QEMU": same guest, different emulation. */
                res->output[res->output_len++] = opts->upper ? (char) toupper(data[i]) : (char) data[i];
        }
        res->output[res->output_len] = 0;
        return 0;
}

static int explain_internal_error(const struct kvm_run *run, vmm_error *err) {
        const uint32_t sub = run->internal.suberror;
        const char *what = sub < ELEMENTSOF(internal_error_table) && internal_error_table[sub]
                ? internal_error_table[sub] : "unknown suberror";
        char data[160] = "";
        size_t n = 0;

        for (uint32_t i = 0; i < run->internal.ndata && i < 8 && n < sizeof(data); i++)
                n += (size_t) snprintf(data + n, sizeof(data) - n, " 0x%llx", run->internal.data[i]);
        return vmm_error_set(err, -EIO, "KVM_EXIT_INTERNAL_ERROR: suberror %u (%s), data:%s", sub, what,
                             n ? data : " none");
}

static int explain_fail_entry(const struct kvm_run *run, vmm_error *err) {
        uint64_t reason = run->fail_entry.hardware_entry_failure_reason;
        /* VMX basic exit reasons 33/34; SVM reports VMEXIT_INVALID (-1). */
        const char *what = (reason & 0xffff) == 33 ? " (VMX: invalid guest state)"
                : (reason & 0xffff) == 34 ? " (VMX: MSR loading)"
                : reason == UINT64_MAX ? " (SVM: VMEXIT_INVALID, invalid guest state)" : "";

        return vmm_error_set(err, -EIO, "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%" PRIx64 "%s on cpu %u",
                             reason, what, run->fail_entry.cpu);
}

/* Anything but IO and HLT ends the run; say what it was in words. */
static int explain_exit(struct vm *vm, vmm_error *err) {
        const struct kvm_run *run = vm->run;
        struct kvm_regs regs = {};
        int r;

        switch (run->exit_reason) {
        case KVM_EXIT_INTERNAL_ERROR:
                r = explain_internal_error(run, err);
                break;
        case KVM_EXIT_FAIL_ENTRY:
                r = explain_fail_entry(run, err);
                break;
        case KVM_EXIT_SHUTDOWN:
                r = vmm_error_set(err, -EIO, "KVM_EXIT_SHUTDOWN: the guest triple-faulted (bad code, GDT or page tables)");
                break;
        case KVM_EXIT_MMIO:
                r = vmm_error_set(err, -EIO, "KVM_EXIT_MMIO: guest %s %u bytes at GPA 0x%llx, which no memslot backs",
                                  run->mmio.is_write ? "wrote" : "read", run->mmio.len, run->mmio.phys_addr);
                break;
        default:
                r = vmm_error_set(err, -EIO, "Unexpected exit reason %s (%u)", exit_reason_to_string(run->exit_reason),
                                  run->exit_reason);
        }

        if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) >= 0) {
                size_t n = strlen(err->message);
                (void) snprintf(err->message + n, sizeof(err->message) - n, " [rip=0x%llx]", regs.rip);
        }
        return r;
}

static int run_once(struct vm *vm, const struct run_opts *opts, const struct run_result *res, vmm_error *err) {
        if (ioctl(vm->vcpu_fd, KVM_RUN, 0) >= 0)
                return 0;
        if (errno == EINTR && vm->run->immediate_exit)
                return vmm_error_set(err, -ETIME, "Guest did not halt within %u s (%" PRIu64 " exits so far)",
                                     opts->timeout_s, res->n_exits);
        /* Before the first exit, an error is the host refusing this vCPU state. */
        if (res->n_exits == 0)
                return vmm_error_refused(err, -errno, "first KVM_RUN: %m");
        return vmm_error_set(err, -errno, "KVM_RUN: %m");
}

int vm_run(struct vm *vm, const struct run_opts *opts, struct run_result *res, vmm_error *err) {
        const struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: KVM_RUN must return */
        const usec_t start = now_usec();
        int r;

        if (sigaction(SIGALRM, &sa, NULL) < 0)
                return vmm_error_set(err, -errno, "sigaction(SIGALRM): %m");
        alarm_run = vm->run;
        (void) alarm(opts->timeout_s);

        for (;;) {
                r = run_once(vm, opts, res, err);
                if (r < 0)
                        break;

                uint32_t reason = vm->run->exit_reason;
                res->n_exits++;
                res->exits[reason < EXIT_REASONS_MAX ? reason : KVM_EXIT_UNKNOWN]++;
                if (opts->trace)
                        trace_exit(vm->run, res->n_exits, now_usec() - start);

                if (reason == KVM_EXIT_HLT)
                        break;
                if (reason == KVM_EXIT_IO)
                        r = handle_io(vm->run, opts, res, err);
                else
                        r = explain_exit(vm, err);
                if (r < 0)
                        break;
        }

        (void) alarm(0);
        alarm_run = NULL;
        /* A mode the host cannot run usually fails on the first instruction. */
        if (r < 0 && res->exits[KVM_EXIT_IO] == 0 && (vm->run->exit_reason == KVM_EXIT_INTERNAL_ERROR ||
                                                       vm->run->exit_reason == KVM_EXIT_FAIL_ENTRY))
                err->refused = true;
        return r;
}

void run_print_histogram(const struct run_result *res, FILE *f) {
        fprintf(f, "exit summary: %" PRIu64 " exits\n", res->n_exits);
        for (uint32_t i = 0; i < EXIT_REASONS_MAX; i++) {
                if (res->exits[i] == 0)
                        continue;
                fprintf(f, "  %-16s %6" PRIu64 "  ", exit_reason_to_string(i), res->exits[i]);
                /* One # per exit, capped so a chatty guest stays on one line. */
                for (uint64_t j = 0; j < res->exits[i] && j < 60; j++)
                        fputc('#', f);
                fputc('\n', f);
        }
}
