/* test-sha256.c — SHA-256 (sha256.c) against the FIPS 180-4 examples and
 * sha256sum(1) on block-boundary lengths, fed in one piece and byte by byte. */
#include "sha256.c"

#include "test-helpers.h"

static void hex_of(const void *data, size_t len, size_t step, char out[SHA256_HEX_SIZE]) {
        Sha256 h;
        sha256_init(&h);
        for (size_t off = 0; off < len; off += step)
                sha256_update(&h, (const uint8_t *) data + off, len - off < step ? len - off : step);
        sha256_final_hex(&h, out);
}

static void test_fips_vectors(void **state) {
        char hex[SHA256_HEX_SIZE];
        hex_of("", 0, 1, hex);
        assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        hex_of("abc", 3, 3, hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        hex_of(two, strlen(two), 1, hex);
        assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* Lengths around the 56- and 64-byte padding boundaries, against the
 * system's sha256sum. */
static void test_against_sha256sum(void **state) {
        _cleanup_free_ char *dir = test_tmpdir();
        _cleanup_free_ char *path = path_join(dir, "data");
        static const size_t lengths[] = { 55, 56, 63, 64, 65, 119, 120, 1000 };
        for (size_t i = 0; i < ELEMENTSOF(lengths); i++) {
                char data[1000], hex[SHA256_HEX_SIZE], cmd[512], want[SHA256_HEX_SIZE] = "";
                for (size_t k = 0; k < lengths[i]; k++)
                        data[k] = (char) ('a' + (k * 7 + i) % 26);
                FILE *f = fopen(path, "w");
                assert_non_null(f);
                fwrite(data, 1, lengths[i], f);
                fclose(f);
                snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
                FILE *p = popen(cmd, "r");
                assert_non_null(p);
                assert_non_null(fgets(want, sizeof(want), p));
                pclose(p);
                hex_of(data, lengths[i], lengths[i] ?: 1, hex);
                assert_string_equal(hex, want);
                hex_of(data, lengths[i], 1, hex);
                assert_string_equal(hex, want);
        }
        rm_rf(dir);
}

int main(void) {
        test_init();
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fips_vectors),
                cmocka_unit_test(test_against_sha256sum),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
