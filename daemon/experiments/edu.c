/* edu.c — the lab's part 3 (I/O virtualization) as a job: boots the guest
 * with QEMU's edu PCI device (VMMs that cannot render it, e.g. one without
 * a PCI bus, are refused by the plan), loads virtlab_edu
 * (modules/edu) and runs /bin/edu-test, which prints one verdict line per
 * feature:
 *   EDU-TEST feature=NAME result=pass|fail|skip detail="..."
 *   EDU-TEST summary pass=N fail=N skip=N
 * The sample keeps every verdict and the guest log; a failed feature fails
 * the run, naming it.  The crc32 feature exists only on a QEMU built with
 * modules/edu/qemu/0001-edu-add-crc32-register.patch (VIRTLAB_QEMU=...); the
 * guest driver detects it from the device's id register, and without it the
 * feature is a skip with the reason, unless the spec sets require_crc32. */
#include <stdio.h>

#include "experiments/experiment.h"
#include "utf8.h"

/* The driver's DMA buffers sit below 4 GiB. */
#define EDU_DMA_MASK UINT64_C(0xFFFFFFFF)
#define EDU_GUEST_CMDLINE "virtlab.modules=virtlab_edu virtlab.job=run:/bin/edu-test,--report-only"
#define LINE_PREFIX "EDU-TEST "
#define FEATURES_MAX 32

static const char *const edu_metrics[] = { "features_pass", "features_fail", "features_skip", "boot_ms", NULL };

static const SpecField edu_fields[] = { SPEC_BOOL_FIELD("require_crc32", false), {} };

/* One boot answers the question; repeat with --runs to time it. */
static const SpecDefault edu_defaults[] = { { "runs", 1 }, { "warmup", 0 }, {} };

static int edu_guest_cmdline(Run *run, char **ret) {
        char *s = strdup(EDU_GUEST_CMDLINE);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* The edu device sits on PCI: the plan refuses VMMs that cannot render it. */
static int edu_devices(json_t *spec, VmDevice **ret, size_t *n) {
        VmDevice *d = calloc(1, sizeof(VmDevice));
        if (!d)
                return -ENOMEM;
        *d = (VmDevice) { .kind = VM_DEVICE_EDU, .dma_mask = EDU_DMA_MASK };
        *ret = d;
        *n = 1;
        return 0;
}

/* Parses 'key=value' or 'key="value"' at *p; advances *p.  Writes value
 * (unquoted) into buf.  Returns false when the key does not match. */
static bool take_field(const char **p, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);
        while (**p == ' ')
                (*p)++;
        if (strncmp(*p, key, klen) != 0 || (*p)[klen] != '=')
                return false;
        const char *v = *p + klen + 1, *end;
        if (*v == '"') {
                v++;
                end = strchr(v, '"');
                if (!end)
                        end = v + strlen(v);
                *p = *end ? end + 1 : end;
        } else {
                end = v + strcspn(v, " ");
                *p = end;
        }
        snprintf(buf, size, "%.*s", (int) (end - v), v);
        /* A value cut at the buffer may end inside a character; JSON then refuses
         * the whole verdict, and a failure would be lost. */
        (void) utf8_scrub(buf);
        return true;
}

/* One "EDU-TEST feature=... result=... detail=..." line into a JSON object. */
static json_t *parse_feature_line(const char *line) {
        char feature[64], result[16], detail[1024] = "";
        const char *p = line + strlen(LINE_PREFIX);
        if (!take_field(&p, "feature", feature, sizeof(feature)) || !take_field(&p, "result", result, sizeof(result)))
                return NULL;
        (void) take_field(&p, "detail", detail, sizeof(detail));
        if (!streq(result, "pass") && !streq(result, "fail") && !streq(result, "skip"))
                return NULL;
        return json_pack("{s:s, s:s, s:s}", "feature", feature, "result", result, "detail", detail);
}

/* What edu-test's output says. */
typedef struct EduReport {
        json_t *features;          /* [{feature, result, detail}], at most FEATURES_MAX */
        unsigned pass, fail, skip; /* verdicts per result */
        bool summary;              /* the summary line came: edu-test finished */
        char failed[512];          /* the failed features' names, ", "-separated */
} EduReport;

/* Collects the verdict lines of the guest output into *ret (features owned by the caller). */
static void edu_parse(const char *out, EduReport *ret) {
        EduReport rep = { .features = json_array() };
        for (const char *line = out; *line;) {
                size_t len = strcspn(line, "\n");
                char buf[2048];
                snprintf(buf, sizeof(buf), "%.*s", (int) len, line);
                line += len + (line[len] == '\n');
                if (strncmp(buf, LINE_PREFIX "summary", strlen(LINE_PREFIX "summary")) == 0) {
                        rep.summary = true;
                        continue;
                }
                if (strncmp(buf, LINE_PREFIX, strlen(LINE_PREFIX)) != 0 || json_array_size(rep.features) >= FEATURES_MAX)
                        continue;
                json_t *f = parse_feature_line(buf);
                if (!f)
                        continue;
                const char *res = json_string_value(json_object_get(f, "result"));
                const char *name = json_string_value(json_object_get(f, "feature"));
                if (streq(res, "pass"))
                        rep.pass++;
                else if (streq(res, "skip"))
                        rep.skip++;
                else {
                        rep.fail++;
                        snprintf(rep.failed + strlen(rep.failed), sizeof(rep.failed) - strlen(rep.failed), "%s%s",
                                 rep.failed[0] ? ", " : "", name);
                }
                json_array_append_new(rep.features, f);
        }
        *ret = rep;
}

static void edu_on_guest_result(Run *run) {
        run_set_phase(run, "shutdown");
        const char *out = run_guest_output(run);
        EduReport rep;
        edu_parse(out, &rep);
        json_t *s = run_sample(run), *features = rep.features;
        unsigned pass = rep.pass, fail = rep.fail, skip = rep.skip;
        json_object_set_new(s, "edu_features", features);
        json_object_set_new(s, "features_pass", json_integer(pass));
        json_object_set_new(s, "features_fail", json_integer(fail));
        json_object_set_new(s, "features_skip", json_integer(skip));
        json_object_set_new(s, "guest_log", json_string(out));
        if (!rep.summary)
                run_fail(run, "edu-test did not finish (no summary line; %u features reported)", pass + fail + skip);
        else if (fail > 0)
                run_fail(run, "edu features failed: %s", rep.failed);
        else if (spec_bool(run_spec(run), "require_crc32")) {
                size_t i;
                json_t *f;
                json_array_foreach(features, i, f)
                        if (streq(json_string_value(json_object_get(f, "feature")), "crc32") &&
                            !streq(json_string_value(json_object_get(f, "result")), "pass"))
                                run_fail(run, "edu feature crc32 required but skipped: %s",
                                         json_string_value(json_object_get(f, "detail")));
        }
}

const ExperimentKind experiment_edu = {
        .name = "edu",
        .description = "QEMU edu PCI device: guest driver virtlab_edu + edu-test, pass/fail per feature (DMA verified)",
        .guest_job = "run:/bin/edu-test",
        .metrics = edu_metrics,
        .defaults = edu_defaults,
        .on_guest_result = edu_on_guest_result,
        .guest_powers_off = true,
        .fields = edu_fields,
        .guest_cmdline = edu_guest_cmdline,
        .devices = edu_devices,
};
