/* experiment.c — registry of experiment kinds. */
#include "experiment.h"

extern const ExperimentKind experiment_boot;
extern const ExperimentKind experiment_memory;

static const ExperimentKind *const kinds[] = {
        &experiment_boot,
        &experiment_memory,
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
