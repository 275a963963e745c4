/*
 * hash.h — SHA-256 (OpenSSL EVP) behind BSec's names.  Every hash_init
 * must be followed by hash_final (the context is pooled per thread).
 */
#ifndef BSEC_HASH_H
#define BSEC_HASH_H

#include <stddef.h>
#include <stdint.h>

#define BSEC_HASH_BYTES 32

typedef struct {
	unsigned char opaque[128] __attribute__((aligned(16)));
} hash_ctx_t;

void hash_sha256(uint8_t out[BSEC_HASH_BYTES], const void *in, size_t len);
void hash_init(hash_ctx_t *c);
void hash_update(hash_ctx_t *c, const void *in, size_t len);
void hash_final(hash_ctx_t *c, uint8_t out[BSEC_HASH_BYTES]);

/* Constant-time equality of two hashes / secrets. */
int hash_eq(const uint8_t *a, const uint8_t *b, size_t len);

#endif
