/* host.c — probes the host: kernel, CPU model, TSC frequency, KVM flavour,
 * and the newer kernel features measurements lean on (PSI, Pss_Anon, pidfd).
 * The KVM flavour decides the default accelerator: a kvm_pvm host exposes
 * /dev/kvm, yet a stock Linux guest hangs under QEMU -enable-kvm there, so
 * "auto" must not trust /dev/kvm alone. */
#include "host.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "child.h"
#include "util.h"

static const char *const kvm_flavour_table[_KVM_FLAVOUR_MAX] = {
        [KVM_FLAVOUR_NONE] = "none",     [KVM_FLAVOUR_INTEL] = "kvm_intel", [KVM_FLAVOUR_AMD] = "kvm_amd",
        [KVM_FLAVOUR_PVM] = "kvm_pvm",   [KVM_FLAVOUR_OTHER] = "kvm",
};
static const char *const accel_table[_ACCEL_MAX] = {
        [ACCEL_AUTO] = "auto",
        [ACCEL_KVM] = "kvm",
        [ACCEL_TCG] = "tcg",
};

const char *kvm_flavour_to_string(KvmFlavour f) {
        return f >= 0 && f < _KVM_FLAVOUR_MAX ? kvm_flavour_table[f] : NULL;
}
const char *accel_to_string(Accel a) {
        return a >= 0 && a < _ACCEL_MAX ? accel_table[a] : NULL;
}
Accel accel_from_string(const char *s) {
        for (int i = 0; i < _ACCEL_MAX; i++)
                if (s && streq(s, accel_table[i]))
                        return (Accel) i;
        return _ACCEL_INVALID;
}

static bool path_exists(const char *p) {
        struct stat st;
        return stat(p, &st) == 0;
}

/* Reads the value of the first "key<spaces>: value" line of /proc/cpuinfo. */
static void cpuinfo_field(const char *key, char *buf, size_t size) {
        FILE *f = fopen("/proc/cpuinfo", "re");
        char line[4096];
        size_t klen = strlen(key);
        buf[0] = 0;
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                if (strncmp(line, key, klen) != 0)
                        continue;
                char *colon = strchr(line, ':');
                if (!colon)
                        continue;
                colon += 1 + strspn(colon + 1, " \t");
                colon[strcspn(colon, "\n")] = 0;
                snprintf(buf, size, "%s", colon);
                break;
        }
        fclose(f);
}

static unsigned long probe_tsc_khz(void) {
        FILE *f = fopen("/sys/devices/system/cpu/cpu0/tsc_freq_khz", "re");
        unsigned long khz = 0;
        if (f) {
                if (fscanf(f, "%lu", &khz) != 1)
                        khz = 0;
                fclose(f);
                if (khz > 0)
                        return khz;
        }
        /* With constant_tsc, "cpu MHz" is the TSC rate as the kernel calibrated it. */
        char mhz[64];
        cpuinfo_field("cpu MHz", mhz, sizeof(mhz));
        return mhz[0] ? (unsigned long) (strtod(mhz, NULL) * 1000.0) : 0;
}

static KvmFlavour probe_kvm_flavour(void) {
        if (!path_exists("/dev/kvm"))
                return KVM_FLAVOUR_NONE;
        if (path_exists("/sys/module/kvm_pvm"))
                return KVM_FLAVOUR_PVM;
        if (path_exists("/sys/module/kvm_intel"))
                return KVM_FLAVOUR_INTEL;
        if (path_exists("/sys/module/kvm_amd"))
                return KVM_FLAVOUR_AMD;
        return KVM_FLAVOUR_OTHER;
}

/* PSI: /proc/pressure exists from Linux 4.20 with CONFIG_PSI; reading it
 * fails with EOPNOTSUPP where it is built in but disabled (psi=0). */
static int probe_psi(void) {
        char buf[256];
        _cleanup_close_ int fd = open("/proc/pressure/cpu", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno;
        return read(fd, buf, sizeof(buf)) < 0 ? errno : 0;
}

/* smaps_rollup (Linux 4.14) breaks PSS into anon/file/shmem from 5.7 on. */
static bool probe_smaps_pss_anon(void) {
        char line[256];
        bool found = false;
        FILE *f = fopen("/proc/self/smaps_rollup", "re");
        while (f && !found && fgets(line, sizeof(line), f))
                found = strncmp(line, "Pss_Anon:", 9) == 0;
        if (f)
                fclose(f);
        return found;
}

static void decide_default_accel(HostInfo *h) {
        const char *why;
        h->default_accel = ACCEL_TCG;
        if (h->kvm == KVM_FLAVOUR_NONE)
                why = "no /dev/kvm on this host: using TCG (software emulation), boot times are not comparable to KVM";
        else if (!h->kvm_usable)
                why = "/dev/kvm exists but cannot be opened read-write (permission?): using TCG";
        else if (h->kvm == KVM_FLAVOUR_PVM)
                why = "/dev/kvm is kvm_pvm (paravirtual nested KVM), under which a stock Linux guest hangs: using TCG";
        else {
                h->default_accel = ACCEL_KVM;
                why = "KVM is usable: using KVM";
        }
        snprintf(h->accel_reason, sizeof(h->accel_reason), "%s", why);
}

int host_probe(HostInfo *ret) {
        HostInfo h = {};
        struct utsname u;
        if (uname(&u) == 0)
                snprintf(h.kernel_release, sizeof(h.kernel_release), "%s", u.release);
        cpuinfo_field("model name", h.cpu_model, sizeof(h.cpu_model));
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        h.cores = n > 0 ? (unsigned) n : 1;
        h.tsc_khz = probe_tsc_khz();
        char flags[4096];
        cpuinfo_field("flags", flags, sizeof(flags));
        h.tsc_invariant = strstr(flags, " constant_tsc") && strstr(flags, " nonstop_tsc");
        h.kvm = probe_kvm_flavour();
        if (h.kvm != KVM_FLAVOUR_NONE) {
                int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
                h.kvm_usable = fd >= 0;
                safe_close(fd);
        }
        decide_default_accel(&h);
        h.psi_errno = probe_psi();
        h.smaps_pss_anon = probe_smaps_pss_anon();
        h.pidfd = streq(child_supervision(), "pidfd");
        *ret = h;
        return 0;
}

static bool kvm_native(const HostInfo *h) {
        return h->kvm_usable && (h->kvm == KVM_FLAVOUR_INTEL || h->kvm == KVM_FLAVOUR_AMD || h->kvm == KVM_FLAVOUR_OTHER);
}

static const char *no_kvm_reason(const HostInfo *h) {
        return h->kvm == KVM_FLAVOUR_NONE ? "it has no TCG and needs KVM, but this host has no /dev/kvm"
                                          : "it has no TCG and needs KVM, but /dev/kvm cannot be opened read-write";
}

static int choose_auto(const HostInfo *h, const AccelNeeds *n, Accel *ret, const char **ret_reason,
                       const char **ret_error) {
        if (kvm_native(h)) {
                *ret = ACCEL_KVM;
                *ret_reason = h->accel_reason;
                return 0;
        }
        if (h->kvm == KVM_FLAVOUR_PVM && h->kvm_usable && n->guest_ok_on_pvm) {
                *ret = ACCEL_KVM;
                *ret_reason = "KVM: /dev/kvm is kvm_pvm (paravirtual nested KVM), which runs this guest (it is not Linux)";
                return 0;
        }
        if (n->vmm_has_tcg) {
                *ret = ACCEL_TCG;
                *ret_reason = h->accel_reason;
                return 0;
        }
        if (h->kvm == KVM_FLAVOUR_PVM && h->kvm_usable) {
                if (!n->force_pvm) {
                        *ret_error = "it has no TCG, and this host's KVM is kvm_pvm (paravirtual nested KVM), under "
                                     "which a Linux guest hangs: use --image noop (a guest that runs there), or set "
                                     "force_paravirt_kvm to watch it fail";
                        return -EINVAL;
                }
                *ret = ACCEL_KVM;
                *ret_reason = "KVM (this VMM has no TCG) although this host's KVM is kvm_pvm, under which a Linux guest "
                              "hangs: forced by force_paravirt_kvm, the run is expected to fail";
                return 0;
        }
        *ret_error = no_kvm_reason(h);
        return -EINVAL;
}

int host_choose_accel(const HostInfo *h, Accel requested, const AccelNeeds *n, Accel *ret, const char **ret_reason,
                      const char **ret_error) {
        switch (requested) {
        case ACCEL_TCG:
                if (!n->vmm_has_tcg) {
                        *ret_error = "it has no TCG: use --accel kvm or auto";
                        return -EINVAL;
                }
                *ret = ACCEL_TCG;
                *ret_reason = "TCG forced by request";
                return 0;
        case ACCEL_KVM:
                if (!n->vmm_has_tcg && (h->kvm == KVM_FLAVOUR_NONE || !h->kvm_usable)) {
                        *ret_error = no_kvm_reason(h);
                        return -EINVAL;
                }
                *ret = ACCEL_KVM;
                *ret_reason = h->kvm == KVM_FLAVOUR_PVM && !n->guest_ok_on_pvm
                                      ? "KVM forced by request although this host's KVM is kvm_pvm: a Linux guest may hang"
                                      : "KVM forced by request";
                return 0;
        default:
                return choose_auto(h, n, ret, ret_reason, ret_error);
        }
}

const char *host_hang_hint(const HostInfo *h, Accel accel, bool vmm_has_tcg) {
        if (accel != ACCEL_KVM || h->kvm != KVM_FLAVOUR_PVM)
                return "";
        return vmm_has_tcg ? " (this host's KVM is kvm_pvm, where Linux guests hang: use --accel tcg)"
                           : " (this host's KVM is kvm_pvm, where Linux guests hang, and this VMM has no TCG)";
}

/* One sentence per thing this host cannot give, and what that costs. */
static json_t *host_degraded(const HostInfo *h) {
        json_t *a = json_array();
        if (!h->tsc_khz)
                json_array_append_new(a, json_string("tsc_khz: not measured: neither /sys/devices/system/cpu/cpu0/"
                                                     "tsc_freq_khz nor a 'cpu MHz' line in /proc/cpuinfo; guests get "
                                                     "no tsc_early_khz and no guest-side clock phase is recorded"));
        if (!h->cpu_model[0])
                json_array_append_new(a, json_string("cpu_model: not measured: /proc/cpuinfo has no 'model name' line"));
        if (h->psi_errno)
                json_array_append_new(a, json_sprintf("contention (PSI): not measured: /proc/pressure/cpu: %s (PSI needs "
                                                      "Linux 4.20 with CONFIG_PSI, and psi=1 where it is off by "
                                                      "default)", strerror(h->psi_errno)));
        if (!h->smaps_pss_anon)
                json_array_append_new(a, json_string("pss_anon_kib, pss_file_kib, pss_shmem_kib: not measured: "
                                                     "smaps_rollup has no Pss_Anon (Linux before 5.7)"));
        if (!h->pidfd)
                json_array_append_new(a, json_string("child supervision: SIGCHLD + waitpid per child instead of pidfds "
                                                     "(pidfd_open: Function not implemented, needs Linux 5.3); "
                                                     "measurements are unaffected"));
        return a;
}

json_t *host_to_json(const HostInfo *h) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:b, s:s, s:b, s:s, s:s, s:o}", "kernel", h->kernel_release,
                              "cpu_model", h->cpu_model[0] ? h->cpu_model : "unknown", "cores", (json_int_t) h->cores,
                              "tsc_invariant", h->tsc_invariant, "kvm_flavour", kvm_flavour_to_string(h->kvm),
                              "kvm_usable", h->kvm_usable, "default_accel", accel_to_string(h->default_accel),
                              "accel_reason", h->accel_reason, "degraded", host_degraded(h));
        if (o && h->tsc_khz)
                json_object_set_new(o, "tsc_khz", json_integer((json_int_t) h->tsc_khz));
        return o;
}
