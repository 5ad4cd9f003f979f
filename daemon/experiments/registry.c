/* registry.c — the list of experiment kinds. */
#include "experiments/experiment.h"

extern const ExperimentKind experiment_boot;
extern const ExperimentKind experiment_memory;
extern const ExperimentKind experiment_kvm_sample;
extern const ExperimentKind experiment_edu;
extern const ExperimentKind experiment_bench_cpu;
extern const ExperimentKind experiment_bench_memory;
extern const ExperimentKind experiment_bench_fileio;
extern const ExperimentKind experiment_mtree;
extern const ExperimentKind experiment_translate;
extern const ExperimentKind experiment_density;

static const ExperimentKind *const kinds[] = {
        &experiment_boot,
        &experiment_memory,
        &experiment_kvm_sample,
        &experiment_edu,
        &experiment_bench_cpu,
        &experiment_bench_memory,
        &experiment_bench_fileio,
        &experiment_mtree,
        &experiment_translate,
        &experiment_density,
        NULL,
};

const ExperimentKind *const *experiment_kinds(void) {
        return kinds;
}

const ExperimentKind *experiment_kind_find(const char *name) {
        for (size_t i = 0; kinds[i]; i++)
                if (name && streq(kinds[i]->name, name))
                        return kinds[i];
        return NULL;
}

void experiment_kind_names(char *buf, size_t size) {
        const char *names[ELEMENTSOF(kinds)] = {};
        for (size_t i = 0; kinds[i]; i++)
                names[i] = kinds[i]->name;
        strv_join(names, ", ", buf, size);
}
