/*
 * hash.c — SHA-256 through OpenSSL's EVP (see hash.h).
 *
 * OpenSSL uses the CPU's SHA extensions where there are some, which makes
 * a tx id about four times cheaper than a portable implementation; what
 * EVP costs per call (fetching the algorithm, allocating a context) is
 * paid once: the algorithm is fetched once per process, and each thread
 * keeps a few contexts for reuse, freed when the thread exits.
 */
#include "hash.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_MAX 4

typedef struct {
	EVP_MD_CTX *ctx[POOL_MAX];
	int n;
} pool_t;

static EVP_MD *sha256_md;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t pool_key;
static __thread pool_t *tl_pool;

_Static_assert(sizeof(EVP_MD_CTX *) <= sizeof(hash_ctx_t), "hash_ctx_t too small");

static void fatal(const char *what)
{
	fprintf(stderr, "bsec: SHA-256: %s failed (out of memory?)\n", what);
	abort();
}

static void pool_free(void *p)
{
	pool_t *pl = p;
	for (int i = 0; i < pl->n; i++)
		EVP_MD_CTX_free(pl->ctx[i]);
	free(pl);
}

static void init_once(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md)
		fatal("fetching the algorithm");
	if (pthread_key_create(&pool_key, pool_free) != 0)
		fatal("pthread_key_create");
}

static EVP_MD_CTX *ctx_get(void)
{
	pthread_once(&once, init_once);
	if (!tl_pool) {
		tl_pool = calloc(1, sizeof(*tl_pool));
		if (!tl_pool)
			fatal("allocating a context pool");
		pthread_setspecific(pool_key, tl_pool);
	}
	EVP_MD_CTX *c = tl_pool->n ? tl_pool->ctx[--tl_pool->n] : EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, sha256_md, NULL) != 1)
		fatal("EVP_DigestInit_ex");
	return c;
}

static void ctx_put(EVP_MD_CTX *c)
{
	if (tl_pool && tl_pool->n < POOL_MAX)
		tl_pool->ctx[tl_pool->n++] = c;
	else
		EVP_MD_CTX_free(c);
}

static void ctx_final(EVP_MD_CTX *c, uint8_t out[BSEC_HASH_BYTES])
{
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(c, out, &len) != 1 || len != BSEC_HASH_BYTES)
		fatal("EVP_DigestFinal_ex");
	ctx_put(c);
}

void hash_sha256(uint8_t out[BSEC_HASH_BYTES], const void *in, size_t len)
{
	EVP_MD_CTX *c = ctx_get();
	if (len && EVP_DigestUpdate(c, in, len) != 1)
		fatal("EVP_DigestUpdate");
	ctx_final(c, out);
}

void hash_init(hash_ctx_t *c)
{
	EVP_MD_CTX *x = ctx_get();
	memcpy(c->opaque, &x, sizeof(x));
}

void hash_update(hash_ctx_t *c, const void *in, size_t len)
{
	EVP_MD_CTX *x;
	memcpy(&x, c->opaque, sizeof(x));
	if (len && EVP_DigestUpdate(x, in, len) != 1)
		fatal("EVP_DigestUpdate");
}

void hash_final(hash_ctx_t *c, uint8_t out[BSEC_HASH_BYTES])
{
	EVP_MD_CTX *x;
	memcpy(&x, c->opaque, sizeof(x));
	ctx_final(x, out);
}

int hash_eq(const uint8_t *a, const uint8_t *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}
