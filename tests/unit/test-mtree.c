/* test-mtree.c — unit tests of mtree.c on real `info mtree` output.
 *
 * tests/unit/data/mtree-{q35,microvm,q35-edu}[-flat].txt are the "return"
 * strings of QMP human-monitor-command "info mtree" and "info mtree -f"
 * (QEMU 7.2, Debian 12 package, -accel tcg -m 256 -nodefaults), taken after
 * the default guest image booted to virtlab.job=hold, so the guest kernel
 * had programmed the PCI BARs (edu-mmio is mapped at 0xfea00000).  Machines:
 * q35; microvm,pit=off,pic=off,isa-serial=on; q35 with -device edu.  The
 * files keep QEMU's \r\n line endings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mtree.c"

static void read_data(const char *name, char **ret, size_t *ret_len) {
        char path[4096];
        const char *slash = strrchr(__FILE__, '/');
        (void) snprintf(path, sizeof(path), "%.*s/data/%s", slash ? (int) (slash - __FILE__) : 1, slash ? __FILE__ : ".",
                        name);
        FILE *f = fopen(path, "re");
        if (!f) {
                char exe[2048];
                ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
                assert_true(k > 0);
                exe[k] = 0;
                *strrchr(exe, '/') = 0;
                (void) snprintf(path, sizeof(path), "%s/../../tests/unit/data/%s", exe, name);
                f = fopen(path, "re");
        }
        assert_non_null(f);
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
}

static json_t *parse_file(const char *name) {
        _cleanup_free_ char *text = NULL;
        size_t len, line = 0;
        json_t *doc = NULL;
        read_data(name, &text, &len);
        int r = mtree_parse(text, len, &doc, &line);
        if (r < 0)
                print_error("%s: error %d at line %zu\n", name, r, line);
        assert_int_equal(r, 0);
        return doc;
}

static uint64_t hexv(json_t *o, const char *k) {
        return strtoull(json_string_value(json_object_get(o, k)), NULL, 16);
}

/* parse → print → parse gives the same document, for every capture. */
static void test_round_trip(void **state) {
        static const char *const files[] = {
                "mtree-q35.txt", "mtree-q35-flat.txt", "mtree-microvm.txt", "mtree-microvm-flat.txt",
                "mtree-q35-edu.txt", "mtree-q35-edu-flat.txt",
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                json_auto_t *a = parse_file(files[i]), *b = NULL;
                _cleanup_free_ char *text = NULL, *again = NULL;
                size_t line = 0;
                assert_int_equal(mtree_format_text(a, &text), 0);
                assert_int_equal(mtree_parse(text, strlen(text), &b, &line), 0);
                assert_true(json_equal(a, b));
                /* Printing is a fixed point once the indentation is canonical. */
                assert_int_equal(mtree_format_text(b, &again), 0);
                assert_string_equal(text, again);
        }
}

/* The capture with canonical indentation prints back byte for byte (minus \r). */
static void test_print_identical(void **state) {
        _cleanup_free_ char *text = NULL, *out = NULL;
        size_t len, line;
        json_auto_t *doc = NULL;
        read_data("mtree-microvm.txt", &text, &len);
        size_t k = 0;
        for (size_t i = 0; i < len; i++)
                if (text[i] != '\r')
                        text[k++] = text[i];
        text[k] = 0;
        assert_int_equal(mtree_parse(text, k, &doc, &line), 0);
        assert_int_equal(mtree_format_text(doc, &out), 0);
        assert_string_equal(out, text);
}

static void test_q35_tree(void **state) {
        json_auto_t *doc = parse_file("mtree-q35.txt");
        assert_string_equal(json_string_value(json_object_get(doc, "view")), "tree");
        /* "cpu-memory-0" and "memory" share one tree. */
        json_t *as = NULL, *g;
        size_t i;
        json_array_foreach(json_object_get(doc, "address_spaces"), i, g)
                if (json_array_size(json_object_get(g, "names")) == 2)
                        as = g;
        assert_non_null(as);
        assert_string_equal(json_string_value(json_array_get(json_object_get(as, "names"), 0)), "cpu-memory-0");
        assert_string_equal(json_string_value(json_array_get(json_object_get(as, "names"), 1)), "memory");
        json_t *sys = json_array_get(json_object_get(as, "regions"), 0);
        assert_string_equal(json_string_value(json_object_get(sys, "name")), "system");
        assert_string_equal(json_string_value(json_object_get(sys, "kind")), "container");
        assert_string_equal(json_string_value(json_object_get(sys, "type")), "i/o");
        json_t *ram = json_array_get(json_object_get(sys, "children"), 0);
        assert_string_equal(json_string_value(json_object_get(ram, "name")), "ram-below-4g");
        assert_string_equal(json_string_value(json_object_get(ram, "kind")), "ram");
        json_t *alias = json_object_get(ram, "alias");
        assert_string_equal(json_string_value(json_object_get(alias, "target")), "pc.ram");
        assert_int_equal(hexv(alias, "offset"), 0);
        assert_int_equal(hexv(ram, "end"), 0x0fffffff);
        json_t *pci = mtree_find_region(doc, "pci");
        assert_int_equal(json_integer_value(json_object_get(pci, "priority")), -1);
        json_t *bios = mtree_find_region(doc, "isa-bios");
        assert_string_equal(json_string_value(json_object_get(bios, "kind")), "rom");
        assert_int_equal(hexv(json_object_get(bios, "alias"), "offset"), 0x20000);
        /* The alias targets follow as memory-region sections. */
        json_t *mr = json_object_get(doc, "memory_regions");
        assert_true(json_array_size(mr) >= 4);
        assert_string_equal(json_string_value(json_object_get(json_array_get(mr, 0), "name")), "system");
        /* A child printed deeper than parent+1 (a hidden disabled region in
         * between) still hangs under the nearest shallower line. */
        json_t *io = mtree_find_region(doc, "io");
        assert_non_null(io);
        assert_true(json_array_size(json_object_get(io, "children")) > 10);
}

static void test_edu(void **state) {
        json_auto_t *doc = parse_file("mtree-q35-edu.txt");
        json_t *edu = mtree_find_region(doc, "edu-mmio");
        assert_non_null(edu);
        assert_int_equal(hexv(edu, "size"), 1 << 20);
        assert_int_equal(hexv(edu, "start"), 0xfea00000);
        json_auto_t *flat = parse_file("mtree-q35-edu-flat.txt");
        json_t *fv0 = NULL, *fv, *rg, *hit = NULL;
        size_t i;
        json_array_foreach(json_object_get(flat, "flat_views"), i, fv)
                if (!fv0 && streq_ptr(json_string_value(json_object_get(fv, "root")), "system"))
                        fv0 = fv;
        assert_non_null(fv0);
        json_array_foreach(json_object_get(fv0, "ranges"), i, rg)
                if (streq(json_string_value(json_object_get(rg, "name")), "edu-mmio"))
                        hit = rg;
        assert_non_null(hit);
        /* A flat range's offset into its region equals its start for pc.ram (alias offset 0). */
        json_array_foreach(json_object_get(fv0, "ranges"), i, rg)
                if (streq(json_string_value(json_object_get(rg, "name")), "pc.ram") && json_object_get(rg, "offset"))
                        assert_int_equal(hexv(rg, "offset"), hexv(rg, "start"));
}

static void test_microvm(void **state) {
        json_auto_t *doc = parse_file("mtree-microvm.txt");
        json_t *ram = mtree_find_region(doc, "ram-below-4g");
        assert_string_equal(json_string_value(json_object_get(json_object_get(ram, "alias"), "target")), "microvm.ram");
        json_auto_t *flat = parse_file("mtree-microvm-flat.txt");
        json_t *fv, *hollow = NULL;
        size_t i;
        json_array_foreach(json_object_get(flat, "flat_views"), i, fv)
                if (json_is_false(json_object_get(fv, "rendered")))
                        hollow = fv;
        (void) hollow; /* microvm may or may not have an unrendered view */
        assert_true(json_array_size(json_object_get(flat, "flat_views")) >= 2);
}

static void test_dot(void **state) {
        json_auto_t *doc = parse_file("mtree-q35-edu.txt");
        _cleanup_free_ char *dot = NULL;
        assert_int_equal(mtree_format_dot(doc, NULL, &dot), 0);
        assert_non_null(strstr(dot, "digraph mtree {"));
        assert_non_null(strstr(dot, "edu-mmio"));
        assert_non_null(strstr(dot, "style=dashed"));
        assert_non_null(strstr(dot, "pc.ram\\n0000000000000000-000000000fffffff"));
        assert_int_equal(mtree_format_dot(doc, "no-such-region", &dot), -ENOENT);
        json_auto_t *flat = parse_file("mtree-q35-flat.txt");
        char *none = NULL;
        assert_int_equal(mtree_format_dot(flat, NULL, &none), -EOPNOTSUPP);
}

static void expect_bad(const char *text, size_t want_line) {
        json_t *doc = NULL;
        size_t line = 99;
        int r = mtree_parse(text, strlen(text), &doc, &line);
        if (r != -EBADMSG || line != want_line)
                print_error("for %s: r=%d line=%zu\n", text, r, line);
        assert_int_equal(r, -EBADMSG);
        assert_int_equal(line, want_line);
        assert_null(doc);
}

static void test_garbage(void **state) {
        expect_bad("", 0);
        expect_bad("\r\n\n", 0);
        expect_bad("hello\n", 1);
        expect_bad("  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n", 1); /* no header */
        expect_bad("address-space: memory\n  0000000000000000-ffffffffffffff", 2);    /* truncated */
        expect_bad("address-space: memory\n  00000000000000ff-0000000000000000 (prio 0, i/o): x\n", 2); /* end < start */
        expect_bad("address-space: memory\n  0-f (prio 0, weird): x\n", 2);
        expect_bad("address-space: memory\n  0-f (prio 99999999999, i/o): x\n", 2);
        expect_bad("address-space: m\n  0-f (prio 0, ram): \xff\xfe\n", 2); /* not UTF-8 */
        expect_bad("FlatView #0\n AS \"memory\" root: system\n", 2);
        expect_bad("FlatView #x\n", 1);
        /* A truncated alias is a plain region name, not a crash. */
        json_auto_t *doc = NULL;
        size_t line;
        const char *t = "address-space: m\n  0-f (prio 0, ram): alias x @pc.ram 00000000\n";
        assert_int_equal(mtree_parse(t, strlen(t), &doc, &line), 0);
        assert_null(json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(doc, "address_spaces"), 0),
                                                                  "regions"), 0), "alias"));
}

static void test_depth_cap(void **state) {
        char *text = malloc(200000);
        size_t n = (size_t) sprintf(text, "address-space: m\n");
        for (unsigned i = 0; i < MTREE_DEPTH_MAX + 2; i++) {
                for (unsigned k = 0; k <= i; k++)
                        n += (size_t) sprintf(text + n, "  ");
                n += (size_t) sprintf(text + n, "0-f (prio 0, i/o): r%u\n", i);
        }
        json_t *doc = NULL;
        size_t line;
        assert_int_equal(mtree_parse(text, n, &doc, &line), -E2BIG);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip), cmocka_unit_test(test_print_identical), cmocka_unit_test(test_q35_tree),
                cmocka_unit_test(test_edu),        cmocka_unit_test(test_microvm),         cmocka_unit_test(test_dot),
                cmocka_unit_test(test_garbage),    cmocka_unit_test(test_depth_cap),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
