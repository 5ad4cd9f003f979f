/* cmd-describe.c — `virtlabctl describe`: what virtlabd reports about the
 * host, the accelerator it picks and why, its VMMs, the guest image and the
 * store, as a few lines or (--json) the daemon's document. */
#include <stdio.h>

#include "bus.h"
#include "cmd.h"
#include "util.h"

/* The Describe document in a few lines. */
static void describe_print(json_t *d) {
        json_t *h = json_object_get(d, "host"), *v;
        size_t i;
        printf("virtlabd %s\nhost: kernel %s, %s, %lld cores, KVM %s\naccel: %s (%s)\nstore: %s\n",
               json_string_value(json_object_get(d, "version")), json_string_value(json_object_get(h, "kernel")),
               json_string_value(json_object_get(h, "cpu_model")), (long long) json_integer_value(json_object_get(h, "cores")),
               json_string_value(json_object_get(h, "kvm_flavour")), json_string_value(json_object_get(h, "default_accel")),
               json_string_value(json_object_get(h, "accel_reason")), json_string_value(json_object_get(d, "store")));
        json_array_foreach(json_object_get(h, "degraded"), i, v)
                printf("degraded: %s\n", json_string_value(v));
        json_array_foreach(json_object_get(d, "vmms"), i, v)
                printf("vmm %-14s %s\n", json_string_value(json_object_get(v, "name")),
                       json_is_true(json_object_get(v, "available")) ? json_string_value(json_object_get(v, "version"))
                                                                     : json_string_value(json_object_get(v, "error")));
        json_t *img = json_object_get(d, "image");
        printf("image: %s\n", json_object_get(img, "error") ? json_string_value(json_object_get(img, "error"))
                                                          : json_string_value(json_object_get(img, "image_hash")));
}

int cmd_describe(Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        json_auto_t *d = NULL;
        int code = bus_open(a->bus, &bus);
        if (code == EXIT_OK)
                code = bus_call_json(bus, "Describe", &d, NULL);
        if (code != EXIT_OK)
                return code;
        if (a->format == OUTPUT_JSON) {
                json_dumpf(d, stdout, JSON_INDENT(2));
                putchar('\n');
        } else
                describe_print(d);
        return EXIT_OK;
}
