/*
 * hash.c — SHA-256 through libsodium (see hash.h).
 */
#include "hash.h"

#include <sodium.h>
#include <string.h>

_Static_assert(sizeof(crypto_hash_sha256_state) <= sizeof(hash_ctx_t), "hash_ctx_t too small");

void hash_sha256(uint8_t out[BSEC_HASH_BYTES], const void *in, size_t len)
{
	crypto_hash_sha256(out, in, len);
}

void hash_init(hash_ctx_t *c)
{
	crypto_hash_sha256_init((crypto_hash_sha256_state *)c);
}

void hash_update(hash_ctx_t *c, const void *in, size_t len)
{
	crypto_hash_sha256_update((crypto_hash_sha256_state *)c, in, len);
}

void hash_final(hash_ctx_t *c, uint8_t out[BSEC_HASH_BYTES])
{
	crypto_hash_sha256_final((crypto_hash_sha256_state *)c, out);
}

int hash_eq(const uint8_t *a, const uint8_t *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}
