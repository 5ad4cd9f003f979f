/* cmd-translate.c — `virtlabctl translate`: one GVA → GPA → HVA → HPA walk
 * (the translate experiment, docs/memory-lab.md) of an address the guest
 * allocates (default), a kernel symbol or any GVA. */
#include "bus.h"
#include "cmd.h"
#include "util.h"

static const Option translate_options[] = {
        { .name = "gva", .arg = "ADDR", .parse = args_spec_string, .key = "gva", .help = "walk this guest virtual address" },
        { .name = "symbol", .arg = "NAME", .parse = args_spec_string, .key = "symbol",
          .help = "walk the address of this kernel symbol (jiffies)" },
        { .name = "guest-alloc", .parse = args_spec_true, .key = "guest_alloc",
          .help = "walk a page the guest module allocates (default)" },
        { .name = "module", .parse = args_spec_true, .key = "module",
          .help = "compare with the guest module's own walk" },
        {},
};
const OptionGroup translate_group = { "translate options", translate_options };

int cmd_translate(Args *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int code = bus_open(a->bus, &bus);
        return code == EXIT_OK ? experiment_run(bus, a, "translate", NULL) : code;
}
