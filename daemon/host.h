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
        KvmFlavour kvm;           /* what /dev/kvm is backed by */
        bool kvm_usable;          /* /dev/kvm opens read-write */
        Accel default_accel;      /* what ACCEL_AUTO resolves to */
        char accel_reason[256];   /* one sentence: why default_accel */
} HostInfo;

/* Probes the host; cheap (a few small /proc and /sys reads). */
int host_probe(HostInfo *ret);
/* Resolves ACCEL_AUTO against the host; explicit choices pass through.
 * ret_reason (may be NULL) receives a sentence for the result and terminal. */
Accel host_resolve_accel(const HostInfo *h, Accel requested, const char **ret_reason);
json_t *host_to_json(const HostInfo *h);
