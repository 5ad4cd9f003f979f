/* test-sysbench.c — unit tests of sysbench.c on real sysbench output and on
 * hand-made damage.
 *
 * tests/unit/data/sysbench-*.txt are the stdout of sysbench 1.0.20 (Debian 12
 * package, system LuaJIT) on the development host, unchanged:
 *   cpu-t1:   sysbench cpu --threads=1 --time=1 run
 *   cpu-t4:   sysbench cpu --threads=4 --time=1 --cpu-max-prime=10000 run
 *   memory-4k-rnd: sysbench memory --threads=4 --time=1 --memory-block-size=4K
 *             --memory-access-mode=rnd --memory-total-size=100G run
 *   memory-1k-seq: ... --memory-block-size=1K --memory-access-mode=seq --memory-total-size=1T run
 *   fileio-rndrw-direct: sysbench fileio --file-total-size=64M --file-num=4 --file-test-mode=rndrw
 *             --threads=4 --time=1 --file-block-size=4K --file-extra-flags=direct run
 *   fileio-seqwr: ... --file-test-mode=seqwr --threads=1 --file-block-size=4K run
 *   fileio-fatal: seqrd after seqwr had shortened the files (sysbench's FATAL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sysbench.c"

/* Reads a whole small file; 0 or -errno. */
static int slurp(const char *path, char **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        char *buf = malloc(SYSBENCH_TEXT_MAX + 1);
        size_t n = buf ? fread(buf, 1, SYSBENCH_TEXT_MAX, f) : 0;
        fclose(f);
        if (!buf)
                return -ENOMEM;
        buf[n] = 0;
        *ret = buf;
        *ret_len = n;
        return 0;
}

/* Reads tests/unit/data/<name>, next to this source when run from the
 * repository root, else relative to the binary (build/tests/). */
static void read_data(const char *name, char **ret, size_t *ret_len) {
        char exe[4096], path[sizeof(exe) + 64];
        const char *slash = strrchr(__FILE__, '/');
        (void) snprintf(path, sizeof(path), "%.*s/data/%s", slash ? (int) (slash - __FILE__) : 1,
                        slash ? __FILE__ : ".", name);
        if (slurp(path, ret, ret_len) == 0)
                return;
        ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        assert_true(k > 0);
        exe[k] = 0;
        char *d = strrchr(exe, '/');
        assert_non_null(d);
        *d = 0;
        (void) snprintf(path, sizeof(path), "%s/../../tests/unit/data/%s", exe, name);
        assert_int_equal(slurp(path, ret, ret_len), 0);
}

static SysbenchResult parse_file(const char *name) {
        _cleanup_free_ char *text = NULL;
        size_t len, line = 0;
        SysbenchResult r;
        read_data(name, &text, &len);
        int e = sysbench_parse(text, len, &r, &line);
        if (e < 0)
                print_error("%s: %d at line %zu\n", name, e, line);
        assert_int_equal(e, 0);
        return r;
}

#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void test_cpu(void **state) {
        SysbenchResult r = parse_file("sysbench-cpu-t4.txt");
        assert_int_equal(r.test, SYSBENCH_CPU);
        assert_string_equal(r.version, "1.0.20");
        assert_int_equal(r.threads, 4);
        assert_near(r.events_per_s, 4332.48);
        assert_near(r.total_time_s, 1.0005);
        assert_near(r.total_events, 4341);
        assert_near(r.lat_min_ms, 0.22);
        assert_near(r.lat_avg_ms, 0.91);
        assert_near(r.lat_max_ms, 51.67);
        assert_int_equal(r.lat_pct, 95);
        assert_near(r.lat_pct_ms, 6.43);

        r = parse_file("sysbench-cpu-t1.txt");
        assert_int_equal(r.threads, 1);
        assert_near(r.events_per_s, 2640.83);
        assert_near(r.lat_pct_ms, 0.30);
}

static void test_memory(void **state) {
        SysbenchResult r = parse_file("sysbench-memory-4k-rnd.txt");
        assert_int_equal(r.test, SYSBENCH_MEMORY);
        assert_int_equal(r.threads, 4);
        assert_near(r.ops_per_s, 254961.00);
        assert_near(r.mib_per_s, 995.94);
        assert_near(r.total_events, 317679);
        assert_near(r.events_per_s, 317679 / 1.2455);
        assert_near(r.lat_max_ms, 574.00);

        r = parse_file("sysbench-memory-1k-seq.txt");
        assert_near(r.ops_per_s, 3629480.28);
        assert_near(r.mib_per_s, 3544.41);
        assert_near(r.lat_avg_ms, 0.0); /* printed as 0.00: fast, not missing */
}

static void test_fileio(void **state) {
        SysbenchResult r = parse_file("sysbench-fileio-rndrw-direct.txt");
        assert_int_equal(r.test, SYSBENCH_FILEIO);
        assert_int_equal(r.threads, 4);
        assert_near(r.reads_per_s, 19653.86);
        assert_near(r.writes_per_s, 13102.91);
        assert_near(r.fsyncs_per_s, 1322.58);
        assert_near(r.read_mib_per_s, 76.77);
        assert_near(r.write_mib_per_s, 51.18);
        assert_near(r.lat_avg_ms, 0.12);
        assert_near(r.lat_pct_ms, 0.17);
        assert_near(r.lat_max_ms, 194.18);

        json_t *j = sysbench_figures(&r);
        assert_non_null(j);
        assert_near(json_real_value(json_object_get(j, "iops")), 19653.86 + 13102.91);
        assert_near(json_real_value(json_object_get(j, "mib_per_s")), 76.77 + 51.18);
        assert_near(json_real_value(json_object_get(j, "lat_p95_ms")), 0.17);
        /* Headline first. */
        void *it = json_object_iter(j);
        assert_string_equal(json_object_iter_key(it), "iops");
        json_decref(j);

        r = parse_file("sysbench-fileio-seqwr.txt");
        assert_near(r.reads_per_s, 0);
        assert_near(r.writes_per_s, 7256.91);
        assert_near(r.write_mib_per_s, 28.35);
}

static void test_fatal(void **state) {
        _cleanup_free_ char *text = NULL;
        size_t len, line = 0;
        SysbenchResult r;
        read_data("sysbench-fileio-fatal.txt", &text, &len);
        assert_int_equal(sysbench_parse(text, len, &r, &line), -EIO);
        assert_int_equal(line, 16); /* "FATAL: Size of file 'test_file.1' is 12.906MiB, ..." */
}

/* Every prefix of a real report: either a clean error or, once the last
 * required line is in, the same figures. */
static void test_truncated(void **state) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        read_data("sysbench-cpu-t4.txt", &text, &len);
        for (size_t n = 0; n < len; n++) {
                SysbenchResult r;
                size_t line = 0;
                int e = sysbench_parse(text, n, &r, &line);
                assert_true(e == 0 || e == -EBADMSG);
                if (e == 0)
                        assert_near(r.events_per_s, 4332.48);
        }
}

static void test_garbage(void **state) {
        static const char *const bad[] = {
                "",
                "hello\nworld\n",
                /* a known label with a broken figure */
                "Number of threads: 4\nCPU speed:\n    events per second:  12x\n",
                "Number of threads: -1\n",
                "Number of threads: 4\nCPU speed:\n    events per second:  nan\n",
                "Number of threads: 4\nTotal operations: 5 (1.0 per minute)\n",
                "Latency (ms):\n  95th percentile: 1e999\n",
                "Latency (ms):\n  250th percentile: 1\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SysbenchResult r;
                size_t line = 0;
                assert_int_equal(sysbench_parse(bad[i], strlen(bad[i]), &r, &line), -EBADMSG);
        }
        /* A CPU report without latency figures is incomplete. */
        const char *partial = "Number of threads: 1\nCPU speed:\n events per second: 5.0\n total time: 1.0s\n"
                              " total number of events: 5\n";
        SysbenchResult r;
        size_t line = 7;
        assert_int_equal(sysbench_parse(partial, strlen(partial), &r, &line), -EBADMSG);
        assert_int_equal(line, 0);
}

static void test_headline(void **state) {
        assert_string_equal(sysbench_headline(SYSBENCH_CPU), "events_per_s");
        assert_string_equal(sysbench_headline(SYSBENCH_MEMORY), "mib_per_s");
        assert_string_equal(sysbench_headline(SYSBENCH_FILEIO), "iops");
        assert_null(sysbench_headline(_SYSBENCH_TEST_INVALID));
        assert_string_equal(sysbench_test_to_string(SYSBENCH_FILEIO), "fileio");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cpu),       cmocka_unit_test(test_memory),    cmocka_unit_test(test_fileio),
                cmocka_unit_test(test_fatal),     cmocka_unit_test(test_truncated), cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_headline),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
