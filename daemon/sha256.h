/* sha256.h — SHA-256 (FIPS 180-4), for the content hash of files a caller
 * hands over (the image_hash of a bring-your-own guest).  Incremental:
 * init, update as the bytes pass by, final. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE (2 * SHA256_DIGEST_SIZE + 1)

typedef struct Sha256 {
        uint32_t h[8];          /* chaining state */
        uint8_t block[64];      /* partial input block */
        size_t used;            /* bytes in block */
        uint64_t total;         /* bytes hashed so far */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
/* Writes the digest as lowercase hex (NUL-terminated) into hex. */
void sha256_final_hex(Sha256 *s, char hex[static SHA256_HEX_SIZE]);
