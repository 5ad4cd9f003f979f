/* host.c — probes the host: kernel, CPU model, TSC frequency and KVM flavour.
 * The KVM flavour decides the default accelerator: a kvm_pvm host exposes
 * /dev/kvm, yet a stock Linux guest hangs under QEMU -enable-kvm there, so
 * "auto" must not trust /dev/kvm alone. */
#include "host.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/utsname.h>

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

json_t *host_to_json(const HostInfo *h) {
        return json_pack("{s:s, s:s, s:I, s:I, s:b, s:s, s:b, s:s, s:s}", "kernel", h->kernel_release, "cpu_model",
                         h->cpu_model, "cores", (json_int_t) h->cores, "tsc_khz", (json_int_t) h->tsc_khz,
                         "tsc_invariant", h->tsc_invariant,
                         "kvm_flavour", kvm_flavour_to_string(h->kvm), "kvm_usable", h->kvm_usable,
                         "default_accel", accel_to_string(h->default_accel), "accel_reason", h->accel_reason);
}
