/* result.c — the result document (result.h). */
#include "result.h"

#include <time.h>

#include "summary.h"

char *result_now_iso(void) {
        char buf[64];
        time_t t = time(NULL);
        struct tm tm;
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        return strdup(buf);
}

static json_t *vmm_environment(const PlanVmm *v) {
        json_t *o = vmm_info_to_json(v->backend, &v->info);
        json_object_del(o, "probing");
        json_object_set_new(o, "accel", json_string(accel_to_string(v->accel)));
        json_object_set_new(o, "accel_reason", json_string(v->accel_reason));
        if (v->caveat)
                json_object_set_new(o, "caveat", json_string(v->caveat));
        return o;
}

json_t *result_environment(const JobPlan *p) {
        if (p->n_vmms == 0)
                return json_pack("{s:o, s:s, s:b}", "host", host_to_json(p->host), "kind", p->kind->name, "vm_less", true);
        json_t *vmms = json_array();
        for (size_t i = 0; vmms && i < p->n_vmms; i++)
                json_array_append_new(vmms, vmm_environment(&p->vmms[i]));
        const PlanVmm *ref = &p->vmms[0];
        return json_pack("{s:o, s:o, s:o, s:s, s:s, s:O, s:s, s:I, s:I, s:s}", "host", host_to_json(p->host), "vmm",
                         vmm_environment(ref), "vmms", vmms, "accel", accel_to_string(ref->accel), "accel_reason",
                         ref->accel_reason, "image", p->image->doc, "marker", p->image->marker, "vcpus",
                         spec_int(p->spec, "vcpus"), "memory_mib", spec_int(p->spec, "memory_mib"), "kind", p->kind->name);
}

json_t *result_document(const ResultInput *in) {
        const JobPlan *p = in->plan;
        json_t *metrics = json_array();
        char **names = plan_metric_names(p);
        for (char **m = names; m && *m; m++)
                json_array_append_new(metrics, json_string(*m));
        const char *vmms[PLAN_VMMS_MAX] = {};
        for (size_t i = 0; i < p->n_vmms; i++)
                vmms[i] = p->vmms[i].backend->name;
        bool multi = p->n_vmms > 1;
        /* A compare job's "summary" is its reference VMM's; summary_by_vmm has them all. */
        json_t *summary = summary_of(in->samples, names, multi ? vmms[0] : NULL);
        json_t *doc = json_pack("{s:s, s:I, s:s, s:s, s:s?, s:O, s:O?, s:s?, s:s, s:o, s:o, s:O, s:I, s:I}", "schema",
                                "virtlab/result/v1", "job_id", (json_int_t) in->job_id, "kind", p->kind->name, "state",
                                in->state, "error", in->error, "spec", p->spec, "environment", in->environment,
                                "started_at", in->started_at, "finished_at", in->finished_at, "metrics", metrics,
                                "summary", summary, "runs", in->samples, "runs_total", (json_int_t) in->runs_total,
                                "warmup", (json_int_t) in->warmup);
        if (doc && multi) {
                json_t *rotation = json_array();
                for (size_t i = 0; rotation && i < p->n_vmms; i++)
                        json_array_append_new(rotation, json_string(vmms[i]));
                json_object_set_new(doc, "vmms", rotation);
                json_object_set_new(doc, "summary_by_vmm", summary_by_vmm(in->samples, names, vmms, p->n_vmms));
                json_object_set_new(doc, "comparisons", summary_comparisons(in->samples, names, vmms, p->n_vmms));
        }
        strv_free(names);
        return doc;
}
