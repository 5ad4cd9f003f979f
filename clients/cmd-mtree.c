/* cmd-mtree.c — `virtlabctl mtree`: QEMU's memory-region tree (info mtree,
 * docs/memory-lab.md), either as an experiment of its own (a fresh VM,
 * optionally with --device edu) or, with --job ID, read from the VM a
 * running job has up right now (Job.MemoryTree). */
#include <stdio.h>

#include "bus.h"
#include "cmd.h"
#include "util.h"

static int add_device(Args *a, const Option *o, const char *name);

static const Option mtree_options[] = {
        { .name = "flat", .parse = args_spec_true, .key = "flat", .help = "also the flat view (info mtree -f)" },
        { .name = "device", .arg = "NAME", .parse = add_device,
          .help = "add this QEMU device (edu), repeatable" },
        { .name = "job", .arg = "ID", .parse = args_set_long, .offset = offsetof(Args, attach_job),
          .help = "read the tree of the VM job ID is running now" },
        {},
};
const OptionGroup mtree_group = { "mtree options", mtree_options };

/* --device NAME (repeatable): spec.device is the list. */
static int add_device(Args *a, const Option *o, const char *name) {
        json_t *list = json_object_get(a->spec, "device");
        if (!json_is_array(list))
                json_object_set_new(a->spec, "device", list = json_array());
        return json_array_append_new(list, json_string(name)) < 0 ? -ENOMEM : 0;
}

/* Job.MemoryTree(flat) of job id: the parsed tree into *ret, or an exit code. */
static int memory_tree(sd_bus *bus, long id, bool flat, json_t **ret) {
        char path[64];
        snprintf(path, sizeof(path), "/org/virtlab/Lab1/job/_%ld", id);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r = sd_bus_call_method(bus, BUS_NAME, path, BUS_JOB_IFACE, "MemoryTree", &e, &reply, "b", flat);
        if (r < 0) {
                bool gone = sd_bus_error_has_names(&e, SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_METHOD);
                if (gone)
                        fprintf(stderr, "virtlabctl: no active job %ld\n", id);
                int code = gone ? EXIT_USAGE : bus_call_failed("mtree", &e, r);
                sd_bus_error_free(&e);
                return code;
        }
        const char *text;
        json_t *tree = sd_bus_message_read(reply, "s", &text) >= 0 ? bus_parse_json(text) : NULL;
        if (!tree)
                return EXIT_FAILED;
        *ret = tree;
        return EXIT_OK;
}

/* mtree --job ID: print the tree like an mtree result. */
static int mtree_attach(sd_bus *bus, Args *a) {
        bool flat = json_is_true(json_object_get(a->spec, "flat"));
        json_auto_t *tree = NULL;
        int code = memory_tree(bus, a->attach_job, flat, &tree);
        if (code != EXIT_OK)
                return code;
        if (a->format == OUTPUT_JSON) {
                json_dumpf(tree, stdout, JSON_INDENT(2));
                putchar('\n');
                return EXIT_OK;
        }
        /* The renderer reads a result document: wrap the tree in one. */
        json_auto_t *doc = json_pack("{s:s, s:I, s:{s:b}, s:[{s:O}]}", "kind", "mtree", "job_id", (json_int_t) a->attach_job,
                                     "spec", "flat", flat, "runs", flat ? "mtree_flat" : "mtree", tree);
        return doc && output_mtree(stdout, doc, a->format) ? EXIT_OK : EXIT_FAILED;
}

int cmd_mtree(Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        if (code != EXIT_OK)
                return code;
        return a->attach_job > 0 ? mtree_attach(bus, a) : experiment_run(bus, a, "mtree", NULL);
}
