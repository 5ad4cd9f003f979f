/* plan.c — from a submitted spec to a resolved JobPlan (plan.h).
 *
 * Order: the spec's shape (known fields), the kind's table and prepare()
 * (its computed defaults), the common table, then resolution: image, each
 * VMM (available, devices, CPU model, HMP, memory floor, accelerator), and
 * last the kind's validate() against the resolved plan. */
#include "plan.h"

#include <stdio.h>

#include "backends/registry.h"
#include "spec.h"

static int fail(char **ret_error, PlanError *ret_class, PlanError class, const char *fmt, ...) _printf_(4, 5);
static int fail(char **ret_error, PlanError *ret_class, PlanError class, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        *ret_class = class;
        return -EINVAL;
}

/* Longest console password taken (a file of the caller's). */
#define CONSOLE_PASSWORD_MAX 128

JobPlan *plan_free(JobPlan *p) {
        if (!p)
                return NULL;
        if (p->console_password)
                explicit_bzero(p->console_password, strlen(p->console_password));
        free(p->console_password);
        for (size_t i = 0; i < p->n_vmms; i++)
                vmm_info_done(&p->vmms[i].info);
        image_free(p->image);
        json_decref(p->spec);
        caller_files_done(&p->files);
        free(p);
        return NULL;
}

static void plan_freep(JobPlan **p) {
        (void) plan_free(*p);
}

/* A bring-your-own guest's fields and files come together, and never
 * with an image: each alone is refused naming what is missing. */
static int check_parts(const JobPlan *p, char **ret_error) {
        static const char *const needs_kernel[] = { "marker", "kernel_format", "initrd", "disk_image", "disk_image_format" };
        static const struct {
                const char *field, *role, *flag;
        } files[] = { { "kernel", CALLER_FILE_KERNEL, "--kernel" }, { "initrd", CALLER_FILE_INITRD, "--initrd" },
                      { "disk_image", CALLER_FILE_DISK_IMAGE, "--disk" } };
        char b[SPEC_ECHO_MAX + 8];
        bool kernel = caller_files_get(&p->files, CALLER_FILE_KERNEL);
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (spec_string(p->spec, files[i].field) && !caller_files_get(&p->files, files[i].role))
                        return spec_fail(ret_error, "Invalid %s '%s': a file of yours is passed as a file (virtlabctl %s FILE "
                                                    "opens it with your rights)", files[i].field,
                                         spec_echo_str(spec_string(p->spec, files[i].field), b), files[i].flag);
        if (kernel && (caller_files_get(&p->files, CALLER_FILE_IMAGE_JSON) || spec_string(p->spec, "image")))
                return spec_fail(ret_error, "Pass either an image (--image) or a kernel of yours (--kernel), not both");
        if (!kernel && caller_files_get(&p->files, CALLER_FILE_INITRD))
                return spec_fail(ret_error, "An initrd of yours needs a kernel of yours (--kernel FILE)");
        for (size_t i = 0; !kernel && i < ELEMENTSOF(needs_kernel); i++)
                if (json_object_get(p->spec, needs_kernel[i]) &&
                    !(streq(needs_kernel[i], "disk_image") && caller_files_get(&p->files, CALLER_FILE_IMAGE_JSON)))
                        return spec_fail(ret_error, "Field '%s' is for a kernel of yours (--kernel FILE)", needs_kernel[i]);
        if (!kernel && caller_files_get(&p->files, CALLER_FILE_DISK_IMAGE) && !caller_files_get(&p->files, CALLER_FILE_IMAGE_JSON))
                return spec_fail(ret_error, "A disk image of yours needs a kernel of yours (--kernel FILE) or an image that "
                                            "names it");
        return 0;
}

/* The image: the caller's, passed as files (its "image" field is then only
 * a label) or as parts (kernel, initrd, disk, marker), or the daemon's own:
 * the default, or a sibling of it by name.  A path the caller names is
 * never opened: the caller opens it. */
static int resolve_image(const PlanContext *ctx, JobPlan *p, char **ret_error) {
        const char *v = spec_string(p->spec, "image");
        bool by_kind = !v && p->kind->default_image;
        char b[SPEC_ECHO_MAX + 8];
        _cleanup_free_ char *dir = NULL;
        int r = check_parts(p, ret_error);
        if (r < 0)
                return r;
        if (caller_files_get(&p->files, CALLER_FILE_KERNEL))
                return image_from_parts(&p->files, p->spec, &p->image, ret_error);
        if (caller_files_get(&p->files, CALLER_FILE_IMAGE_JSON)) {
                r = image_from_caller(&p->files, &p->image, ret_error);
                return r < 0 ? (r == -ENOMEM ? r : -EINVAL) : 0;
        }
        if (by_kind)
                v = p->kind->default_image;
        if (!v)
                dir = strdup(ctx->image_dir);
        else if (strchr(v, '/') || streq(v, ".") || streq(v, ".."))
                return spec_fail(ret_error, "Invalid image '%s': a directory of yours is passed as files (virtlabctl "
                                            "--image DIR opens it with your rights); by name, the daemon's images "
                                            "sit beside %s", spec_echo_str(v, b), ctx->image_dir);
        else {
                _cleanup_free_ char *parent = strdup(ctx->image_dir);
                char *slash = parent ? strrchr(parent, '/') : NULL;
                if (slash)
                        *slash = 0;
                if (parent && asprintf(&dir, "%s/%s", slash ? parent : ".", v) < 0)
                        dir = NULL;
        }
        if (!dir)
                return -ENOMEM;
        r = image_load(dir, &p->image, ret_error);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        if ((by_kind || !v) && json_object_set_new(p->spec, "image", json_string(by_kind ? v : dir)) < 0)
                return -ENOMEM;
        return 0;
}

/* What the kind asks of the VMM, from its capabilities alone. */
static int check_capabilities(const JobPlan *p, const VmmBackend *b, char **ret_error) {
        const ExperimentKind *k = p->kind;
        if (k->hmp_use && !b->caps.has_hmp)
                return spec_fail(ret_error, "'%s' is not supported by %s: it has no human monitor (HMP) to ask", k->hmp_use,
                                 b->name);
        json_int_t mib = spec_int(p->spec, "memory_mib");
        if (b->caps.min_memory_mib && mib < b->caps.min_memory_mib)
                return spec_fail(ret_error, "Invalid memory_mib %" JSON_INTEGER_FORMAT ": VMM '%s' needs at least %u", mib,
                                 b->name, b->caps.min_memory_mib);
        if (k->cpu_model && k->cpu_model(p->spec) && !b->caps.has_cpu_model)
                return spec_fail(ret_error, "VMM '%s' cannot take a guest CPU model ('%s')", b->name, k->cpu_model(p->spec));
        _cleanup_free_ VmDevice *devices = NULL;
        size_t n = 0;
        int r = k->devices ? k->devices(p->spec, &devices, &n) : 0;
        if (r < 0)
                return r;
        char buf[256];
        const char *why = vmm_refuse_devices(b, devices, n, buf, sizeof(buf));
        return why ? spec_fail(ret_error, "Invalid vmm '%s' for %s: %s", b->name, k->name, why) : 0;
}

static int resolve_vmm(const PlanContext *ctx, JobPlan *p, PlanVmm *v, char **ret_error, PlanError *ret_class) {
        const VmmBackend *b = v->backend;
        int r = check_capabilities(p, b, ret_error);
        if (r < 0)
                return r;
        const VmmInfo *info = vmm_catalog_get(ctx->catalog, b);
        if (!info)
                return -ENOMEM;
        if (info->error && !info->probing)
                return fail(ret_error, ret_class, PLAN_VMM_UNAVAILABLE, "VMM '%s' is unavailable: %s", b->name, info->error);
        r = vmm_info_copy(info, &v->info);
        if (r < 0)
                return r;
        v->kernel = image_kernel_for(p->image, b, NULL);
        if (!v->kernel)
                return spec_fail(ret_error, "Guest image '%s' has no kernel that VMM '%s' boots", p->image->name, b->name);
        AccelNeeds needs = { .vmm_has_tcg = b->caps.has_tcg, .guest_ok_on_pvm = p->image->paravirt_kvm_ok,
                             .force_pvm = spec_bool(p->spec, "force_paravirt_kvm") };
        const char *no = NULL;
        if (host_choose_accel(ctx->host, accel_from_string(spec_string(p->spec, "accel")), &needs, &v->accel,
                              &v->accel_reason, &no) < 0)
                return spec_fail(ret_error, "VMM '%s': %s", b->name, no);
        v->caveat = b->caveat ? b->caveat(ctx->host, v->accel) : NULL;
        v->cpu_model = p->kind->cpu_model ? p->kind->cpu_model(p->spec) : NULL;
        if (!v->cpu_model && b->default_cpu_model)
                v->cpu_model = b->default_cpu_model(ctx->host, v->accel);
        return 0;
}

static int resolve_vmms(const PlanContext *ctx, JobPlan *p, char **ret_error, PlanError *ret_class) {
        json_t *list = json_object_get(p->spec, "vmms"), *e;
        json_auto_t *one = list ? NULL : json_pack("[O]", json_object_get(p->spec, "vmm"));
        size_t i;
        json_array_foreach(list ?: one, i, e) {
                PlanVmm *v = &p->vmms[p->n_vmms++];
                v->backend = vmm_backend_find(json_string_value(e));
                int r = resolve_vmm(ctx, p, v, ret_error, ret_class);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A slow guest (systemd under TCG takes minutes) lengthens the default
 * timeout by what its image.json says ("extra_timeout_s"); a timeout the
 * caller chose stays. */
static int add_image_timeout(JobPlan *p) {
        json_int_t extra = json_integer_value(json_object_get(p->image->doc, "extra_timeout_s"));
        if (extra <= 0)
                return 0;
        json_int_t t = spec_int(p->spec, "timeout_s") + (extra < 3600 ? extra : 3600);
        return json_object_set_new(p->spec, "timeout_s", json_integer(t < 3600 ? t : 3600)) < 0 ? -ENOMEM : 0;
}

static int check_guest_job(JobPlan *p, char **ret_error) {
        const char *job = p->kind->guest_job;
        if (!job || image_runs_job(p->image, job))
                return 0;
        _cleanup_free_ char *jobs = json_dumps(p->image->jobs, JSON_COMPACT);
        return spec_fail(ret_error, "Guest image '%s' cannot run '%s' (its guest runs only %s)", p->image->name,
                         p->kind->name, jobs ?: "?");
}

/* What of the caller's files each VMM inherits: the image files, named
 * /proc/self/fd/N in its argv (a disk goes through VmDisk, per run). */
static void plan_collect_fds(JobPlan *p) {
        for (size_t i = 0; i < p->files.n; i++) {
                const CallerFile *c = &p->files.files[i];
                if (caller_file_is_image_part(c->role))
                        p->inherit_fds[p->n_inherit_fds++] = c->fd;
        }
}

/* A kind without a VM takes no files, a kind without a disk no disk. */
static int check_files(const ExperimentKind *k, const CallerFiles *files, char **ret_error) {
        bool vm = !k->vm_less;
        if ((!vm && files->n > 0) || (!k->takes_disk && caller_files_get(files, CALLER_FILE_DISK)))
                return spec_fail(ret_error, "'%s' takes no %s", k->name, vm ? "disk" : "files: it runs no VM");
        return 0;
}

int plan_check_spec(const ExperimentKind *k, json_t *spec, char **ret_error) {
        if (!json_is_object(spec))
                return spec_fail(ret_error, "Experiment spec must be a JSON object");
        bool vm = !k->vm_less;
        int r = spec_check_known(spec, k->fields, vm, k->name, ret_error);
        r = r ?: spec_check(spec, k->fields, true, ret_error);
        r = r ?: k->prepare ? k->prepare(spec, ret_error) : 0;
        r = r ?: spec_apply_defaults(spec, k->defaults);
        r = r ?: spec_check(spec, spec_common_fields, vm, ret_error);
        return r;
}

/* The console password comes as a file and is read here, once: it never
 * enters the spec, so neither the store nor a result ever holds it. */
static int take_console_password(JobPlan *p, char **ret_error) {
        int r = caller_files_take_text(&p->files, CALLER_FILE_CONSOLE_PASSWORD, CONSOLE_PASSWORD_MAX, &p->console_password);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG || r == -EBADMSG)
                return spec_fail(ret_error, "The console password passed must be one line of at most %d bytes",
                                 CONSOLE_PASSWORD_MAX);
        return r < 0 ? spec_fail(ret_error, "Cannot read the console password passed: %s", strerror(-r)) : 0;
}

int plan_new(const PlanContext *ctx, const ExperimentKind *k, json_t *spec, CallerFiles *files, JobPlan **ret,
             char **ret_error, PlanError *ret_class) {
        *ret_class = PLAN_INVALID;
        if (!json_is_object(spec))
                return spec_fail(ret_error, "Experiment spec must be a JSON object");
        _cleanup_(plan_freep) JobPlan *p = calloc(1, sizeof(JobPlan));
        if (!p)
                return -ENOMEM;
        *p = (JobPlan) { .kind = k, .spec = json_incref(spec), .host = ctx->host };
        if (files)
                caller_files_move(&p->files, files);
        bool own_timeout = json_object_get(spec, "timeout_s");
        int r = check_files(k, &p->files, ret_error);
        r = r ?: take_console_password(p, ret_error);
        r = r ?: plan_check_spec(k, spec, ret_error);
        if (r == 0 && !k->vm_less) {
                r = resolve_image(ctx, p, ret_error);
                r = r ?: own_timeout ? 0 : add_image_timeout(p);
                r = r ?: check_guest_job(p, ret_error);
                r = r ?: resolve_vmms(ctx, p, ret_error, ret_class);
        }
        r = r ?: k->validate ? k->validate(spec, p, ret_error) : 0;
        if (r < 0) {
                if (files)
                        caller_files_move(files, &p->files); /* still the caller's to close */
                return r;
        }
        plan_collect_fds(p);
        *ret = TAKE_PTR(p);
        return 0;
}

char *plan_vmm_label(const JobPlan *p) {
        const char *names[PLAN_VMMS_MAX + 1] = {};
        char buf[256];
        for (size_t i = 0; i < p->n_vmms; i++)
                names[i] = p->vmms[i].backend->name;
        strv_join(names, ",", buf, sizeof(buf));
        return strdup(p->n_vmms ? buf : "-");
}

/* Phase metrics exist only where the guest has the phase (no kernel
 * banner in a noop guest); the guest's own clock only where it reports it
 * or a console command asks systemd for it. */
static bool metric_applies(const JobPlan *p, const char *m) {
        if (!p->image)
                return true;
        if (strncmp(m, "systemd_", 8) == 0)
                return p->image->clock || strstr(strempty(spec_string(p->spec, "console_command")), "systemd-analyze");
        if (streq(m, "t_kernel_ms") || streq(m, "guest_uptime_at_init_ms"))
                return image_has_phase(p->image, IMAGE_PHASE_KERNEL);
        if (streq(m, "t_console_ms"))
                return image_has_phase(p->image, IMAGE_PHASE_CONSOLE);
        return true;
}

char **plan_metric_names(const JobPlan *p) {
        char **v = NULL;
        size_t n = 0;
        if (p->kind->spec_metrics)
                return p->kind->spec_metrics(p->spec, &v) < 0 ? NULL : v;
        for (const char *const *m = p->kind->metrics; *m; m++)
                if (metric_applies(p, *m) && strv_push(&v, &n, *m) < 0)
                        return strv_free(v);
        return v;
}
