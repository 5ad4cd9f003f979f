/* host.h — facts about the machine virtlabd runs on: kernel, CPU, which KVM
 * flavour is loaded and therefore which accelerator a Linux guest can use. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>

typedef enum KvmFlavour {
        KVM_FLAVOUR_NONE,  /* no /dev/kvm, or not accessible */
        KVM_FLAVOUR_INTEL, /* kvm_intel: VMX, full guests run */
        KVM_FLAVOUR_AMD,   /* kvm_amd: SVM, full guests run */
        KVM_FLAVOUR_PVM,   /* kvm_pvm: paravirtual nested KVM; stock Linux guests hang */
        KVM_FLAVOUR_OTHER, /* /dev/kvm with a module we do not know (e.g. arm64 kvm) */
        _KVM_FLAVOUR_MAX,
        _KVM_FLAVOUR_INVALID = -EINVAL,
} KvmFlavour;

typedef enum Accel {
        ACCEL_AUTO,
        ACCEL_KVM,
        ACCEL_TCG,
        _ACCEL_MAX,
        _ACCEL_INVALID = -EINVAL,
} Accel;

const char *kvm_flavour_to_string(KvmFlavour f);
const char *accel_to_string(Accel a);
Accel accel_from_string(const char *s);

typedef struct HostInfo {
        char kernel_release[128]; /* uname -r */
        char cpu_model[128];      /* /proc/cpuinfo "model name" */
        unsigned cores;           /* online CPUs */
        unsigned long tsc_khz;    /* host TSC frequency, 0 if unknown */
        bool tsc_invariant;       /* constant_tsc + nonstop_tsc: the TSC is a clock */
        KvmFlavour kvm;           /* what /dev/kvm is backed by */
        bool kvm_usable;          /* /dev/kvm opens read-write */
        Accel default_accel;      /* what ACCEL_AUTO resolves to */
        char accel_reason[256];   /* one sentence: why default_accel */
        int psi_errno;            /* 0: /proc/pressure/cpu reads (PSI, Linux 4.20 + CONFIG_PSI); else why not */
        bool smaps_pss_anon;      /* smaps_rollup has Pss_Anon (Linux 5.7) */
        bool pidfd;               /* children are watched through pidfds (Linux 5.3), else SIGCHLD */
} HostInfo;

/* Probes the host; cheap (a few small /proc and /sys reads). */
int host_probe(HostInfo *ret);
/* What a VMM and a guest need of the host's accelerators. */
typedef struct AccelNeeds {
        bool vmm_has_tcg;       /* the VMM can run without KVM */
        bool guest_ok_on_pvm;   /* the guest runs under a paravirtual KVM (a noop guest does, Linux does not) */
        bool force_pvm;         /* run on a paravirtual KVM even though the guest hangs there */
} AccelNeeds;

/* Chooses the accelerator for one VMM + guest: ACCEL_AUTO against the host,
 * explicit choices checked.  On success *ret and a sentence for the result
 * (*ret_reason, static); -EINVAL when the request cannot be met on this
 * host, with a sentence naming what is missing in *ret_error (static). */
int host_choose_accel(const HostInfo *h, Accel requested, const AccelNeeds *n, Accel *ret, const char **ret_reason,
                      const char **ret_error);
/* Why a run on accel may have hung here, for a timeout message ("" if no idea). */
const char *host_hang_hint(const HostInfo *h, Accel accel, bool vmm_has_tcg);
/* The host object of Describe and of every result's environment.  What the
 * kernel cannot give is never a silent zero: "tsc_khz" is absent when
 * unknown, and "degraded" lists one sentence per thing not measured (or
 * measured another way) on this host and why. */
json_t *host_to_json(const HostInfo *h);
