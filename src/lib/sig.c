/*
 * sig.c — the three signature schemes of sig.h.
 *
 * Ed25519 signs and verifies with libsodium (secret key = seed || pk); only
 * its PEM (de)serialisation goes through OpenSSL, so the files are the
 * standard PKCS#8 / SPKI ones `openssl pkey` reads.  ECDSA P-256 and
 * RSA-PSS-2048 use OpenSSL 3's provider API only (EVP_PKEY_fromdata,
 * EVP_DigestSign, EVP_PKEY_verify); no deprecated RSA_* / EC_KEY_* calls.
 * sig_verify_many checks RSA-PSS signatures eight at a time in the vector
 * lanes of rsa52.h when the CPU has AVX-512 IFMA (about three times
 * OpenSSL's rate; the same verdicts, which tests and a fuzzer compare).
 *
 * Verification is the node's hot path and turning raw key bytes into an
 * EVP_PKEY (point decompression, Montgomery set-up, provider look-ups)
 * costs about as much as the verification itself, so each thread keeps a
 * small set-associative cache of verify-ready EVP_PKEY_CTX objects keyed by
 * (scheme, raw public key); invalid keys are cached too, so garbage keys
 * are rejected cheaply.  The cache index is a keyed SipHash, so nobody can
 * aim keys at one set.
 *
 * Every function that calls OpenSSL brackets it with ERR_set_mark /
 * ERR_pop_to_mark: a rejected key or signature must not leave errors in
 * the thread's queue, where SSL_get_error() would later misread them.
 */
#include "sig.h"
#include "ed25519v.h"
#include "hash.h"
#include "map.h"
#include "rsa52.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#define ED_SEED_BYTES 32
#define P256_PUB_BYTES 33
#define P256_COORD 32
#define RSA_BYTES 256
#define RSA_SALT 32
#define PEM_MAX (64 * 1024)     /* no key PEM comes near this */

_Static_assert(crypto_sign_PUBLICKEYBYTES == 32, "ed25519 public key size");
_Static_assert(crypto_sign_BYTES == 64, "ed25519 signature size");
_Static_assert(crypto_sign_SEEDBYTES == ED_SEED_BYTES, "ed25519 seed size");

struct sig_key_t {
	sig_scheme_t scheme;
	uint8_t pub[SIG_MAX_PUB];
	uint8_t ed_sk[crypto_sign_SECRETKEYBYTES];  /* ed25519: seed || pk */
	EVP_PKEY *pkey;                             /* ecdsa / rsa private key */
};

static const struct {
	sig_scheme_t scheme;
	const char *name;
	size_t pub_len;
	size_t sig_len;
} schemes[] = {
	{ SIG_ED25519, "ed25519", crypto_sign_PUBLICKEYBYTES, crypto_sign_BYTES },
	{ SIG_ECDSA_P256, "ecdsa-p256", P256_PUB_BYTES, 2 * P256_COORD },
	{ SIG_RSA_PSS_2048, "rsa-pss-2048", RSA_BYTES, RSA_BYTES },
};

/* ---- one-time initialisation ---------------------------------------- */

#define VC_SETS 16
#define VC_WAYS 4

typedef struct {
	EVP_PKEY_CTX *ctx;          /* verify-ready; NULL: key known invalid */
	rsa52_key_t *r52;           /* RSA: the key for rsa52.h, made on first use */
	uint32_t used;              /* last use (LRU within the set) */
	uint8_t scheme;             /* 0: empty slot */
	uint8_t pub[SIG_MAX_PUB];
} vc_entry_t;

typedef struct {
	vc_entry_t e[VC_SETS][VC_WAYS];
	vc_entry_t *last;           /* the entry found last: a batch is mostly one sender's */
	uint32_t clock;
} vcache_t;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t vcache_key;
static uint8_t vcache_hkey[crypto_shorthash_KEYBYTES];
static _Thread_local vcache_t *tls_vcache;

/* Frees a thread's cache; also the pthread key's destructor, which runs
 * in the exiting thread itself. */
static void vcache_destroy(void *p)
{
	vcache_t *c = p;
	if (!c)
		return;
	for (size_t s = 0; s < VC_SETS; s++)
		for (size_t w = 0; w < VC_WAYS; w++) {
			EVP_PKEY_CTX_free(c->e[s][w].ctx);
			free(c->e[s][w].r52);
		}
	free(c);
	if (tls_vcache == c)
		tls_vcache = NULL;
}

static void init_fn(void)
{
	if (sodium_init() < 0) {
		fprintf(stderr, "sig: sodium_init failed\n");
		abort();
	}
	randombytes_buf(vcache_hkey, sizeof(vcache_hkey));
	if (pthread_key_create(&vcache_key, vcache_destroy) != 0) {
		fprintf(stderr, "sig: pthread_key_create failed\n");
		abort();
	}
}

static void sig_init(void)
{
	pthread_once(&init_once, init_fn);
}

/* ---- scheme table ---------------------------------------------------- */

const char *sig_scheme_name(int scheme)
{
	for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
		if ((int)schemes[i].scheme == scheme)
			return schemes[i].name;
	return NULL;
}

int sig_scheme_parse(const char *name, sig_scheme_t *out)
{
	for (size_t i = 0; name && i < ARRAY_LEN(schemes); i++) {
		if (strcmp(name, schemes[i].name) == 0) {
			*out = schemes[i].scheme;
			return 0;
		}
	}
	return -1;
}

int sig_scheme_valid(int scheme)
{
	return sig_scheme_name(scheme) != NULL;
}

size_t sig_pub_len(int scheme)
{
	for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
		if ((int)schemes[i].scheme == scheme)
			return schemes[i].pub_len;
	return 0;
}

size_t sig_sig_len(int scheme)
{
	for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
		if ((int)schemes[i].scheme == scheme)
			return schemes[i].sig_len;
	return 0;
}

/* ---- OpenSSL helpers ------------------------------------------------- */

/* The reason of the most recent OpenSSL error, for messages. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown error";
}

/* Never prompt for a passphrase: BSec keys are not encrypted. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

/* Contents of a memory BIO as a fresh NUL-terminated string. */
static char *bio_dup(BIO *b)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	if (n <= 0 || !data)
		return NULL;
	return xstrndup(data, (size_t)n);
}

/* Builds a key of the given type from an OSSL_PARAM array. */
static EVP_PKEY *pkey_fromdata(const char *type, int selection, OSSL_PARAM *params)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	if (!c || EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &pk, selection, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(c);
	return pk;
}

/* P-256 public key from a 33-byte compressed point; NULL unless the
 * encoding is a valid point.  `uncompressed` makes the key encode its
 * point uncompressed (for SPKI output). */
static EVP_PKEY *ec_pub_pkey(const uint8_t *pub, int uncompressed)
{
	if (pub[0] != 0x02 && pub[0] != 0x03)
		return NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)SN_X9_62_prime256v1, 0),
		OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, P256_PUB_BYTES),
		OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
				       (char *)OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED, 0),
		OSSL_PARAM_END,
	};
	if (!uncompressed)
		params[2] = (OSSL_PARAM)OSSL_PARAM_END;
	return pkey_fromdata("EC", EVP_PKEY_PUBLIC_KEY, params);
}

/* RSA public key from a 256-byte modulus with e = 65537; NULL unless the
 * modulus is exactly 2048 bits and odd. */
static EVP_PKEY *rsa_pub_pkey(const uint8_t *n)
{
	EVP_PKEY *pk = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *bn = NULL, *e = NULL;

	if (!(n[0] & 0x80) || !(n[RSA_BYTES - 1] & 1))
		goto out;
	bn = BN_bin2bn(n, RSA_BYTES, NULL);
	e = BN_new();
	bld = OSSL_PARAM_BLD_new();
	if (!bn || !e || !bld || BN_set_word(e, RSA_F4) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	pk = pkey_fromdata("RSA", EVP_PKEY_PUBLIC_KEY, params);
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(e);
	return pk;
}

/* Sets SHA-256 (and for RSA: PSS, MGF1-SHA-256, salt 32) on a sign or
 * verify context. */
static int ctx_set_scheme_params(EVP_PKEY_CTX *c, int scheme)
{
	if (scheme == SIG_RSA_PSS_2048) {
		if (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_SALT) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) != 1)
			return -1;
	}
	return 0;
}

/* A verify-ready context for a raw public key, or NULL if the key is
 * invalid.  ECDSA and RSA only. */
static EVP_PKEY_CTX *verify_ctx_new(int scheme, const uint8_t *pub)
{
	EVP_PKEY *pk = scheme == SIG_ECDSA_P256 ? ec_pub_pkey(pub, 0) : rsa_pub_pkey(pub);
	EVP_PKEY_CTX *c = NULL;
	if (!pk)
		goto out;
	c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!c || EVP_PKEY_verify_init(c) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1 ||
	    ctx_set_scheme_params(c, scheme) < 0) {
		EVP_PKEY_CTX_free(c);
		c = NULL;
	}
out:
	EVP_PKEY_free(pk);   /* the context holds its own reference */
	return c;
}

/* ---- the per-thread verification cache ------------------------------- */

static vcache_t *vcache_get(void)
{
	if (!tls_vcache) {
		tls_vcache = xcalloc(1, sizeof(*tls_vcache));
		/* Registers the destructor that frees it at thread exit. */
		pthread_setspecific(vcache_key, tls_vcache);
	}
	return tls_vcache;
}

void sig_verify_cache_flush(void)
{
	sig_init();
	vcache_destroy(tls_vcache);
	pthread_setspecific(vcache_key, NULL);
}

/* The cache entry for (scheme, pub) — found, or built in place of the
 * set's least recently used one.  Its ctx is NULL for an invalid key.
 * Valid until the next lookup on this thread. */
static vc_entry_t *vcache_entry(int scheme, const uint8_t *pub, size_t publen)
{
	vcache_t *c = vcache_get();
	uint8_t h[crypto_shorthash_BYTES];

	c->clock++;
	if (c->last && c->last->scheme == scheme && memcmp(c->last->pub, pub, publen) == 0) {
		c->last->used = c->clock;
		return c->last;
	}
	crypto_shorthash(h, pub, publen, vcache_hkey);
	vc_entry_t *set = c->e[h[0] % VC_SETS];
	vc_entry_t *victim = &set[0];
	for (size_t w = 0; w < VC_WAYS; w++) {
		vc_entry_t *e = &set[w];
		if (e->scheme == scheme && memcmp(e->pub, pub, publen) == 0) {
			e->used = c->clock;
			c->last = e;
			return e;
		}
		if (e->scheme == 0 || (victim->scheme != 0 && e->used < victim->used))
			victim = e;
	}
	EVP_PKEY_CTX_free(victim->ctx);
	free(victim->r52);
	victim->r52 = NULL;
	victim->ctx = verify_ctx_new(scheme, pub);
	victim->scheme = (uint8_t)scheme;
	memcpy(victim->pub, pub, publen);
	victim->used = c->clock;
	c->last = victim;
	return victim;
}

/* The verify context for (scheme, pub); NULL for an invalid key.  Owned
 * by the cache. */
static EVP_PKEY_CTX *vcache_lookup(int scheme, const uint8_t *pub, size_t publen)
{
	return vcache_entry(scheme, pub, publen)->ctx;
}

/* The rsa52 form of a valid RSA key, copied into out; -1 for a key
 * OpenSSL refuses (the caller reports the signature bad) or that rsa52
 * cannot take (the caller asks OpenSSL). */
static int rsa52_key_of(rsa52_key_t *out, const uint8_t *pub, int *invalid)
{
	vc_entry_t *e = vcache_entry(SIG_RSA_PSS_2048, pub, RSA_BYTES);
	*invalid = !e->ctx;
	if (!e->ctx)
		return -1;
	if (!e->r52) {
		rsa52_key_t *k = xmalloc(sizeof(*k));
		if (rsa52_key_init(k, pub) != 0) {
			free(k);
			return -1;
		}
		e->r52 = k;
	}
	*out = *e->r52;
	return 0;
}

/* ---- ECDSA signature encodings ---------------------------------------- */

/* One DER INTEGER from a 32-byte unsigned big-endian value. */
static size_t der_uint(uint8_t *out, const uint8_t *v)
{
	size_t i = 0;
	while (i < P256_COORD - 1 && v[i] == 0)
		i++;
	size_t n = P256_COORD - i, pad = (v[i] & 0x80) ? 1 : 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(n + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v + i, n);
	return 2 + pad + n;
}

/* r||s -> DER ECDSA-Sig-Value; out holds at least 72 bytes. */
static size_t ecdsa_p1363_to_der(uint8_t *out, const uint8_t *sig)
{
	size_t n = 2;
	n += der_uint(out + n, sig);
	n += der_uint(out + n, sig + P256_COORD);
	out[0] = 0x30;
	out[1] = (uint8_t)(n - 2);   /* at most 70: short form */
	return n;
}

/* DER ECDSA-Sig-Value -> r||s. */
static int ecdsa_der_to_p1363(uint8_t *out, const uint8_t *der, size_t len)
{
	int ret = -1;
	const unsigned char *p = der;
	const BIGNUM *r = NULL, *s = NULL;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!es)
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, out, P256_COORD) != P256_COORD ||
	    BN_bn2binpad(s, out + P256_COORD, P256_COORD) != P256_COORD)
		goto out;
	ret = 0;
out:
	ECDSA_SIG_free(es);
	return ret;
}

/* ---- key objects --------------------------------------------------------- */

static sig_key_t *key_new(sig_scheme_t scheme)
{
	sig_key_t *k = xcalloc(1, sizeof(*k));
	k->scheme = scheme;
	return k;
}

void sig_key_free(sig_key_t *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);   /* OpenSSL clears private key material */
	wipe(k, sizeof(*k));
	free(k);
}

sig_scheme_t sig_key_scheme(const sig_key_t *k)
{
	return k->scheme;
}

const uint8_t *sig_key_pub(const sig_key_t *k)
{
	return k->pub;
}

sig_key_t *sig_key_from_ed25519_seed(const uint8_t seed[32])
{
	sig_init();
	sig_key_t *k = key_new(SIG_ED25519);
	crypto_sign_seed_keypair(k->pub, k->ed_sk, seed);
	return k;
}

/* Raw public key and scheme of an OpenSSL key of a supported type, curve,
 * size and exponent.  Returns 0 or -1 with a reason. */
static int pkey_pub(int *scheme, uint8_t *pub, EVP_PKEY *pk, char *err, size_t errlen)
{
	int ret = -1;
	BIGNUM *n = NULL, *e = NULL;
	uint8_t pt[1 + 2 * P256_COORD + 1];
	size_t len = 0;
	char group[64];

	if (EVP_PKEY_is_a(pk, "ED25519")) {
		len = crypto_sign_PUBLICKEYBYTES;
		if (EVP_PKEY_get_raw_public_key(pk, pub, &len) != 1 || len != crypto_sign_PUBLICKEYBYTES) {
			err_set(err, errlen, "bad Ed25519 public key");
			goto out;
		}
		*scheme = SIG_ED25519;
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		if (EVP_PKEY_get_group_name(pk, group, sizeof(group), &len) != 1) {
			err_set(err, errlen, "EC key without a named curve (only P-256 is supported)");
			goto out;
		}
		if (strcmp(group, SN_X9_62_prime256v1) != 0) {
			err_set(err, errlen, "EC key on curve `%s' (only P-256 is supported)", group);
			goto out;
		}
		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len) != 1) {
			err_set(err, errlen, "EC key without a public point");
			goto out;
		}
		if (len == 1 + 2 * P256_COORD && (pt[0] == 0x04 || pt[0] == 0x06 || pt[0] == 0x07)) {
			pub[0] = (uint8_t)(0x02 | (pt[2 * P256_COORD] & 1));
			memcpy(pub + 1, pt + 1, P256_COORD);
		} else if (len == P256_PUB_BYTES && (pt[0] == 0x02 || pt[0] == 0x03)) {
			memcpy(pub, pt, P256_PUB_BYTES);
		} else {
			err_set(err, errlen, "bad P-256 public point encoding");
			goto out;
		}
		*scheme = SIG_ECDSA_P256;
	} else if (EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "RSA-PSS")) {
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
			err_set(err, errlen, "RSA key without modulus or exponent");
			goto out;
		}
		if (BN_num_bits(n) != 2048) {
			err_set(err, errlen, "RSA key of %d bits (only 2048 is supported)", BN_num_bits(n));
			goto out;
		}
		if (!BN_is_odd(n)) {
			err_set(err, errlen, "RSA modulus is even");
			goto out;
		}
		if (!BN_is_word(e, RSA_F4)) {
			char *dec = BN_bn2dec(e);
			err_set(err, errlen, "RSA public exponent %s (only 65537 is supported)", dec ? dec : "?");
			OPENSSL_free(dec);
			goto out;
		}
		if (BN_bn2binpad(n, pub, RSA_BYTES) != RSA_BYTES)
			goto out;
		*scheme = SIG_RSA_PSS_2048;
	} else {
		const char *t = EVP_PKEY_get0_type_name(pk);
		err_set(err, errlen, "unsupported key type `%s' (expected Ed25519, EC P-256 or RSA-2048)",
			t ? t : "?");
		goto out;
	}
	ret = 0;
out:
	BN_free(n);
	BN_free(e);
	return ret;
}

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* 1 when an optional digest-name parameter is absent or names SHA-256. */
static int param_is_sha256(const OSSL_PARAM *p)
{
	const char *name = NULL;
	if (!p)
		return 1;
	if (OSSL_PARAM_get_utf8_string_ptr(p, &name) != 1 || !name)
		return 0;
	return strcasecmp(name, "SHA256") == 0 || strcasecmp(name, "SHA2-256") == 0 ||
	       strcasecmp(name, "SHA-256") == 0;
}

/* An RSA-PSS-typed key (`openssl genpkey -algorithm RSA-PSS`) as a plain
 * RSA key, unless its parameter restrictions exclude ours (SHA-256,
 * MGF1-SHA-256, salt 32).  Consumes pk. */
static EVP_PKEY *rsa_pss_to_rsa(EVP_PKEY *pk, char *err, size_t errlen)
{
	EVP_PKEY *out = NULL;
	OSSL_PARAM *p = NULL;
	OSSL_PARAM *keep = NULL;
	const OSSL_PARAM *salt;
	int minsalt = 0;
	size_t nparams = 0, nkeep = 0;
	if (EVP_PKEY_todata(pk, EVP_PKEY_KEYPAIR, &p) != 1) {
		err_set(err, errlen, "cannot export RSA-PSS key: %s", ossl_reason());
		goto out;
	}
	salt = OSSL_PARAM_locate_const(p, OSSL_PKEY_PARAM_RSA_PSS_SALTLEN);
	if (!param_is_sha256(OSSL_PARAM_locate_const(p, OSSL_PKEY_PARAM_RSA_DIGEST)) ||
	    !param_is_sha256(OSSL_PARAM_locate_const(p, OSSL_PKEY_PARAM_RSA_MGF1_DIGEST)) ||
	    (salt && (OSSL_PARAM_get_int(salt, &minsalt) != 1 || minsalt > RSA_SALT))) {
		err_set(err, errlen, "RSA-PSS key restricted to parameters other than "
			"SHA-256/MGF1-SHA-256/salt 32 (use an unrestricted RSA key)");
		goto out;
	}
	/* Only the key material: RSA's import rejects the PSS restrictions. */
	for (const OSSL_PARAM *q = p; q->key; q++)
		nparams++;
	keep = xcalloc(nparams + 1, sizeof(*keep));
	for (const OSSL_PARAM *q = p; q->key; q++)
		if (strcmp(q->key, OSSL_PKEY_PARAM_RSA_N) == 0 || strcmp(q->key, OSSL_PKEY_PARAM_RSA_E) == 0 ||
		    strcmp(q->key, OSSL_PKEY_PARAM_RSA_D) == 0 || has_prefix(q->key, OSSL_PKEY_PARAM_RSA_FACTOR) ||
		    has_prefix(q->key, OSSL_PKEY_PARAM_RSA_EXPONENT) ||
		    has_prefix(q->key, OSSL_PKEY_PARAM_RSA_COEFFICIENT))
			keep[nkeep++] = *q;
	keep[nkeep] = (OSSL_PARAM)OSSL_PARAM_END;
	out = pkey_fromdata("RSA", EVP_PKEY_KEYPAIR, keep);
	if (!out)
		err_set(err, errlen, "cannot convert RSA-PSS key: %s", ossl_reason());
out:
	for (OSSL_PARAM *q = p; q && q->key; q++)
		OPENSSL_cleanse(q->data, q->data_size);   /* private exponent, primes */
	OSSL_PARAM_free(p);
	free(keep);
	EVP_PKEY_free(pk);
	return out;
}

/* Our key from an OpenSSL private key (consumed).  Signs and verifies
 * once, so a file whose public half does not match its private half is
 * refused here rather than producing invalid signatures later. */
static sig_key_t *key_from_pkey(EVP_PKEY *pk, char *err, size_t errlen)
{
	sig_key_t *k = NULL;
	int scheme = 0;
	uint8_t pub[SIG_MAX_PUB];
	uint8_t seed[ED_SEED_BYTES];
	size_t len = sizeof(seed);
	static const uint8_t probe[] = "bsec key self-test";
	uint8_t sig[SIG_MAX_SIG];

	if (pkey_pub(&scheme, pub, pk, err, errlen) < 0)
		goto out;
	if (scheme == SIG_ED25519) {
		if (EVP_PKEY_get_raw_private_key(pk, seed, &len) != 1 || len != ED_SEED_BYTES) {
			err_set(err, errlen, "bad Ed25519 private key");
			goto out;
		}
		k = sig_key_from_ed25519_seed(seed);
		if (memcmp(k->pub, pub, crypto_sign_PUBLICKEYBYTES) != 0) {
			err_set(err, errlen, "Ed25519 private key does not match its public key");
			goto fail;
		}
		goto out;
	}
	if (EVP_PKEY_is_a(pk, "RSA-PSS")) {
		pk = rsa_pss_to_rsa(pk, err, errlen);
		if (!pk)
			goto out;
	}
	k = key_new((sig_scheme_t)scheme);
	memcpy(k->pub, pub, sig_pub_len(scheme));
	k->pkey = pk;
	pk = NULL;
	if (sig_sign(k, sig, probe, sizeof(probe)) < 0 ||
	    sig_verify(scheme, k->pub, sig, probe, sizeof(probe)) < 0) {
		err_set(err, errlen, "%s private key is inconsistent (fails a sign/verify self-test)",
			sig_scheme_name(scheme));
		goto fail;
	}
	goto out;
fail:
	sig_key_free(k);
	k = NULL;
out:
	EVP_PKEY_free(pk);
	wipe(seed, sizeof(seed));
	return k;
}

sig_key_t *sig_keygen(sig_scheme_t scheme)
{
	sig_key_t *k = NULL;
	uint8_t seed[ED_SEED_BYTES];
	EVP_PKEY *pk = NULL;
	char err[256] = "";

	sig_init();
	ERR_set_mark();
	switch (scheme) {
	case SIG_ED25519:
		randombytes_buf(seed, sizeof(seed));
		k = sig_key_from_ed25519_seed(seed);
		wipe(seed, sizeof(seed));
		break;
	case SIG_ECDSA_P256:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", SN_X9_62_prime256v1);
		break;
	case SIG_RSA_PSS_2048:
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	default:
		fprintf(stderr, "sig_keygen: unknown scheme %d\n", (int)scheme);
		abort();
	}
	if (!k) {
		if (!pk) {
			fprintf(stderr, "sig_keygen: OpenSSL key generation failed: %s\n", ossl_reason());
			abort();
		}
		k = key_new(scheme);
		if (pkey_pub(&(int){0}, k->pub, pk, err, sizeof(err)) < 0) {
			fprintf(stderr, "sig_keygen: %s\n", err);
			abort();
		}
		k->pkey = pk;
	}
	ERR_pop_to_mark();
	return k;
}

/* ---- PEM I/O -------------------------------------------------------------- */

/* The Ed25519 key as an OpenSSL object (for PEM output). */
static EVP_PKEY *ed_pkey(const sig_key_t *k)
{
	return EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, k->ed_sk, ED_SEED_BYTES);
}

char *sig_key_to_pem(const sig_key_t *k)
{
	char *pem = NULL;
	EVP_PKEY *tmp = NULL;
	const EVP_PKEY *pk = k->pkey;
	BIO *b = NULL;

	sig_init();
	ERR_set_mark();
	if (k->scheme == SIG_ED25519)
		pk = tmp = ed_pkey(k);
	b = BIO_new(BIO_s_secmem());
	if (!pk || !b || PEM_write_bio_PKCS8PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) != 1) {
		fprintf(stderr, "sig_key_to_pem: %s\n", ossl_reason());
		abort();   /* only on allocation failure */
	}
	pem = bio_dup(b);
	BIO_free(b);       /* a mem BIO clears its buffer on free */
	EVP_PKEY_free(tmp);
	ERR_pop_to_mark();
	return pem;
}

/* Reads the first PEM private key from memory, or NULL. */
static EVP_PKEY *pem_read_private(const char *pem, size_t len)
{
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pk = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
	BIO_free(b);
	return pk;
}

int sig_key_from_pem(sig_key_t **out, const char *pem, size_t len, char *err, size_t errlen)
{
	int ret = -1;
	EVP_PKEY *pk = NULL;

	*out = NULL;
	sig_init();
	ERR_set_mark();
	if (len > PEM_MAX) {
		err_set(err, errlen, "private key PEM too large (%zu bytes)", len);
		goto out;
	}
	pk = pem_read_private(pem, len);
	if (!pk) {
		if (!memmem(pem, len, "-----BEGIN ", 11))
			err_set(err, errlen, "not a PEM file (no -----BEGIN line)");
		else if (memmem(pem, len, "ENCRYPTED", 9))
			err_set(err, errlen, "encrypted private keys are not supported (decrypt it with `openssl pkey')");
		else if (memmem(pem, len, "-----BEGIN PUBLIC KEY-----", 26))
			err_set(err, errlen, "this is a public key; a private key is needed");
		else
			err_set(err, errlen, "cannot decode the PEM private key (%s)", ossl_reason());
		goto out;
	}
	*out = key_from_pkey(pk, err, errlen);
	if (*out)
		ret = 0;
out:
	ERR_pop_to_mark();
	return ret;
}

int sig_key_save(const sig_key_t *k, const char *path, char *err, size_t errlen)
{
	char *pem = sig_key_to_pem(k);
	size_t len = strlen(pem);
	int ret = file_write(path, pem, len, 0600, err, errlen);
	wipe(pem, len);
	free(pem);
	return ret;
}

int sig_key_load(sig_key_t **out, const char *path, char *err, size_t errlen)
{
	int ret = -1, fd = -1;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	char why[256] = "";

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);   /* a FIFO must not hang us */
	if (fd < 0) {
		err_set(err, errlen, "cannot open `%s': %s", path, strerror(errno));
		goto out;
	}
	/* fstat on the open descriptor: the mode checked is the file read. */
	if (fstat(fd, &st) < 0) {
		err_set(err, errlen, "cannot stat `%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err_set(err, errlen, "`%s' is not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		err_set(err, errlen,
			"private key file `%s' has mode %04o, which gives group/other access; "
			"refusing to use it (run `chmod 600 %s')",
			path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > PEM_MAX) {
		err_set(err, errlen, "`%s' is too large for a key file (%lld bytes)", path,
			(long long)st.st_size);
		goto out;
	}
	buf = xmalloc(PEM_MAX + 1);
	for (;;) {
		ssize_t r = read(fd, buf + len, PEM_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, errlen, "cannot read `%s': %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > PEM_MAX) {
			err_set(err, errlen, "`%s' is too large for a key file", path);
			goto out;
		}
	}
	if (sig_key_from_pem(out, buf, len, why, sizeof(why)) < 0) {
		err_set(err, errlen, "`%s': %s", path, why);
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (buf) {
		wipe(buf, PEM_MAX + 1);
		free(buf);
	}
	return ret;
}

static char *pub_pem_encode(int scheme, const uint8_t *pub)
{
	char *pem = NULL;
	EVP_PKEY *pk = NULL;
	BIO *b = NULL;

	sig_init();
	ERR_set_mark();
	switch (scheme) {
	case SIG_ED25519:
		pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, crypto_sign_PUBLICKEYBYTES);
		break;
	case SIG_ECDSA_P256:
		pk = ec_pub_pkey(pub, 1);
		break;
	case SIG_RSA_PSS_2048:
		pk = rsa_pub_pkey(pub);
		break;
	default:
		goto out;
	}
	if (!pk)
		goto out;
	b = BIO_new(BIO_s_mem());
	if (!b || PEM_write_bio_PUBKEY(b, pk) != 1)
		goto out;
	pem = bio_dup(b);
out:
	BIO_free(b);
	EVP_PKEY_free(pk);
	ERR_pop_to_mark();
	return pem;
}

/* A key's PEM, by scheme and raw key.  OpenSSL's encoders look their
 * implementation up by name under locks on every call (~60 us here), and
 * the node's API writes the sender's PEM for each tx of every block it
 * serves as JSON: under load that lookup was half of a node's main thread.
 * Keys are few (tenants, orchestrators), so they are kept; the cache is
 * emptied when it reaches PEM_CACHE_MAX distinct keys. */
#define PEM_CACHE_MAX 4096
static pthread_mutex_t pem_lock = PTHREAD_MUTEX_INITIALIZER;
static map_t *pem_cache;

char *sig_pub_to_pem(int scheme, const uint8_t *pub)
{
	size_t plen = sig_pub_len(scheme);
	uint8_t key[1 + SIG_MAX_PUB];
	char *pem = NULL;
	if (!plen)
		return NULL;
	key[0] = (uint8_t)scheme;
	memcpy(key + 1, pub, plen);
	pthread_mutex_lock(&pem_lock);
	const char *hit = pem_cache ? map_get(pem_cache, key, 1 + plen) : NULL;
	if (hit)
		pem = xstrdup(hit);
	pthread_mutex_unlock(&pem_lock);
	if (pem)
		return pem;
	pem = pub_pem_encode(scheme, pub);
	if (!pem)
		return NULL;
	pthread_mutex_lock(&pem_lock);
	if (!pem_cache)
		pem_cache = map_new();
	if (map_size(pem_cache) >= PEM_CACHE_MAX) {
		size_t it = 0;
		const void *k;
		size_t kl;
		void *v;
		while (map_next(pem_cache, &it, &k, &kl, &v))
			free(v);
		map_clear(pem_cache);
	}
	free(map_put(pem_cache, key, 1 + plen, xstrdup(pem)));
	pthread_mutex_unlock(&pem_lock);
	return pem;
}

int sig_pub_from_pem(int *scheme, uint8_t pub[SIG_MAX_PUB], const char *pem, size_t len,
		     char *err, size_t errlen)
{
	int ret = -1, s = 0;
	EVP_PKEY *pk = NULL;
	BIO *b = NULL;
	uint8_t tmp[SIG_MAX_PUB];

	sig_init();
	ERR_set_mark();
	if (len > PEM_MAX) {
		err_set(err, errlen, "public key PEM too large (%zu bytes)", len);
		goto out;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	if (b)
		pk = PEM_read_bio_PUBKEY(b, NULL, no_passphrase, NULL);
	if (!pk)
		pk = pem_read_private(pem, len);
	if (!pk) {
		if (!memmem(pem, len, "-----BEGIN ", 11))
			err_set(err, errlen, "not a PEM file (no -----BEGIN line)");
		else
			err_set(err, errlen, "cannot decode a PEM public or private key (%s)", ossl_reason());
		goto out;
	}
	if (pkey_pub(&s, tmp, pk, err, errlen) < 0)
		goto out;
	/* The raw key must be one sig_verify accepts (e.g. RSA n odd). */
	if (s == SIG_ECDSA_P256 || s == SIG_RSA_PSS_2048) {
		EVP_PKEY_free(pk);
		pk = s == SIG_ECDSA_P256 ? ec_pub_pkey(tmp, 0) : rsa_pub_pkey(tmp);
		if (!pk) {
			err_set(err, errlen, "invalid %s public key", sig_scheme_name(s));
			goto out;
		}
	}
	*scheme = s;
	memcpy(pub, tmp, sig_pub_len(s));
	ret = 0;
out:
	BIO_free(b);
	EVP_PKEY_free(pk);
	ERR_pop_to_mark();
	return ret;
}

int sig_pub_load(int *scheme, uint8_t pub[SIG_MAX_PUB], const char *path, char *err, size_t errlen)
{
	int ret = -1;
	size_t len = 0;
	char why[256] = "";
	uint8_t *data = file_read(path, &len, PEM_MAX, err, errlen);
	if (!data)
		goto out;
	if (sig_pub_from_pem(scheme, pub, (const char *)data, len, why, sizeof(why)) < 0) {
		err_set(err, errlen, "`%s': %s", path, why);
		goto out;
	}
	ret = 0;
out:
	if (data) {
		wipe(data, len);   /* may have been a private key file */
		free(data);
	}
	return ret;
}

/* ---- sign / verify ------------------------------------------------------- */

int sig_sign(const sig_key_t *k, uint8_t *sig, const uint8_t *msg, size_t len)
{
	int ret = -1;
	EVP_MD_CTX *mc = NULL;
	EVP_PKEY_CTX *pc = NULL;
	uint8_t der[80];
	size_t dlen = sizeof(der), slen = RSA_BYTES;
	static const uint8_t empty[1];

	sig_init();
	if (!msg)
		msg = empty;
	ERR_set_mark();
	if (k->scheme == SIG_ED25519) {
		ret = crypto_sign_detached(sig, NULL, msg, len, k->ed_sk) == 0 ? 0 : -1;
		goto out;
	}
	mc = EVP_MD_CTX_new();
	if (!mc || !k->pkey ||
	    EVP_DigestSignInit_ex(mc, &pc, "SHA256", NULL, NULL, k->pkey, NULL) != 1 ||
	    ctx_set_scheme_params(pc, k->scheme) < 0)
		goto out;
	if (k->scheme == SIG_ECDSA_P256) {
		if (EVP_DigestSign(mc, der, &dlen, msg, len) != 1 ||
		    ecdsa_der_to_p1363(sig, der, dlen) < 0)
			goto out;
	} else {
		if (EVP_DigestSign(mc, sig, &slen, msg, len) != 1 || slen != RSA_BYTES)
			goto out;
	}
	ret = 0;
out:
	EVP_MD_CTX_free(mc);   /* frees pc too */
	ERR_pop_to_mark();
	return ret;
}

int sig_verify(int scheme, const uint8_t *pub, const uint8_t *sig,
	       const uint8_t *msg, size_t len)
{
	int ret = -1;
	EVP_PKEY_CTX *c = NULL;
	uint8_t h[BSEC_HASH_BYTES];
	uint8_t der[72];
	size_t dlen;
	static const uint8_t empty[1];

	if (!pub || !sig || (!msg && len))
		return -1;
	if (!msg)
		msg = empty;
	sig_init();
	switch (scheme) {
	case SIG_ED25519:
		/* libsodium first (fast, and it rejects non-canonical encodings and
		 * small-order points); what it refuses gets the cofactored check,
		 * the rule batches use too (ed25519v.h) */
		ret = crypto_sign_verify_detached(sig, msg, len, pub) == 0 ? 0 :
		      ed25519v_verify(pub, sig, msg, len);
		break;
	case SIG_ECDSA_P256:
	case SIG_RSA_PSS_2048:
		/* OpenSSL's SHA-256 uses the CPU's SHA extensions; libsodium's
		 * portable one cost an RSA verification 15 % more */
		hash_sha256(h, msg, len);
		ERR_set_mark();
		c = vcache_lookup(scheme, pub, sig_pub_len(scheme));
		if (c && scheme == SIG_ECDSA_P256) {
			dlen = ecdsa_p1363_to_der(der, sig);
			ret = EVP_PKEY_verify(c, der, dlen, h, sizeof(h)) == 1 ? 0 : -1;
		} else if (c) {
			ret = EVP_PKEY_verify(c, sig, RSA_BYTES, h, sizeof(h)) == 1 ? 0 : -1;
		}
		ERR_pop_to_mark();
		break;
	default:
		break;
	}
	return ret;
}

/* Ed25519 items idx[0..n): a batch, halved on failure down to
 * SIG_BATCH_MIN items, which are checked one by one. */
#define SIG_BATCH_MIN 4
#define SIG_BATCH_MAX 128

static size_t ed_batch(const sig_item_t *items, const size_t *idx, size_t n, uint8_t *bad)
{
	size_t nbad = 0;
	if (n < SIG_BATCH_MIN) {
		for (size_t i = 0; i < n; i++) {
			const sig_item_t *it = &items[idx[i]];
			bad[idx[i]] = sig_verify(it->scheme, it->pub, it->sig, it->msg, it->len) != 0;
			nbad += bad[idx[i]];
		}
		return nbad;
	}
	ed25519v_item_t e[SIG_BATCH_MAX];
	for (size_t i = 0; i < n; i++) {
		const sig_item_t *it = &items[idx[i]];
		e[i] = (ed25519v_item_t){ .pub = it->pub, .sig = it->sig, .msg = it->msg, .len = it->len };
	}
	if (ed25519v_verify_batch(e, n) == 0) {
		for (size_t i = 0; i < n; i++)
			bad[idx[i]] = 0;
		return 0;
	}
	return ed_batch(items, idx, n / 2, bad) + ed_batch(items, idx + n / 2, n - n / 2, bad);
}

/* RSA-PSS items idx[0..n), n <= RSA52_LANES: side by side in the vector
 * lanes of rsa52.h when enough of them fill it, else one by one.  Below
 * RSA52_MIN lanes the vector pass costs more than OpenSSL's checks. */
#define RSA52_MIN 4

static size_t rsa_group(const sig_item_t *items, const size_t *idx, size_t n, uint8_t *bad)
{
	rsa52_key_t keys[RSA52_LANES];
	const rsa52_key_t *kp[RSA52_LANES];
	const uint8_t *sp[RSA52_LANES];
	uint8_t mh[RSA52_LANES][BSEC_HASH_BYTES], ok[RSA52_LANES];
	size_t at[RSA52_LANES], one[RSA52_LANES], lanes = 0, none = 0, nbad = 0;
	int vec = n >= RSA52_MIN && rsa52_available();

	for (size_t i = 0; i < n; i++) {
		const sig_item_t *it = &items[idx[i]];
		int invalid = 0;
		if (vec && rsa52_key_of(&keys[lanes], it->pub, &invalid) == 0) {
			hash_sha256(mh[lanes], it->msg, it->len);
			kp[lanes] = &keys[lanes];
			sp[lanes] = it->sig;
			at[lanes++] = idx[i];
		} else if (invalid) {
			bad[idx[i]] = 1;
			nbad++;
		} else {
			one[none++] = idx[i];
		}
	}
	if (lanes >= RSA52_MIN) {
		rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, lanes, ok);
		for (size_t l = 0; l < lanes; l++) {
			bad[at[l]] = !ok[l];
			nbad += bad[at[l]];
		}
	} else {
		for (size_t l = 0; l < lanes; l++)
			one[none++] = at[l];
	}
	for (size_t i = 0; i < none; i++) {
		const sig_item_t *it = &items[one[i]];
		bad[one[i]] = sig_verify(it->scheme, it->pub, it->sig, it->msg, it->len) != 0;
		nbad += bad[one[i]];
	}
	return nbad;
}

size_t sig_verify_many(const sig_item_t *items, size_t n, uint8_t *bad)
{
	size_t nbad = 0, ned = 0, nrsa = 0;
	size_t idx[SIG_BATCH_MAX], ridx[RSA52_LANES];
	sig_init();
	for (size_t i = 0; i < n; i++) {
		const sig_item_t *it = &items[i];
		int whole = it->pub && it->sig && (it->msg || !it->len);
		if (it->scheme == SIG_ED25519 && whole) {
			idx[ned++] = i;
			if (ned == SIG_BATCH_MAX) {
				nbad += ed_batch(items, idx, ned, bad);
				ned = 0;
			}
			continue;
		}
		if (it->scheme == SIG_RSA_PSS_2048 && whole) {
			ridx[nrsa++] = i;
			if (nrsa == RSA52_LANES) {
				nbad += rsa_group(items, ridx, nrsa, bad);
				nrsa = 0;
			}
			continue;
		}
		bad[i] = sig_verify(it->scheme, it->pub, it->sig, it->msg, it->len) != 0;
		nbad += bad[i];
	}
	if (ned)
		nbad += ed_batch(items, idx, ned, bad);
	if (nrsa)
		nbad += rsa_group(items, ridx, nrsa, bad);
	return nbad;
}

double sig_bench_verify(int scheme, double seconds)
{
	double rate = 0;
	sig_key_t *k = NULL;
	uint8_t msg[256], sig[SIG_MAX_SIG];
	uint64_t t0, dt = 0, n = 0;

	if (!sig_scheme_valid(scheme) || !(seconds > 0))
		goto out;
	k = sig_keygen((sig_scheme_t)scheme);
	randombytes_buf(msg, sizeof(msg));
	if (sig_sign(k, sig, msg, sizeof(msg)) < 0)
		goto out;
	t0 = mono_us();
	do {
		for (int i = 0; i < 16; i++)
			if (sig_verify(scheme, sig_key_pub(k), sig, msg, sizeof(msg)) < 0)
				goto out;
		n += 16;
		dt = mono_us() - t0;
	} while ((double)dt < seconds * 1e6);
	rate = (double)n * 1e6 / (double)dt;
out:
	sig_key_free(k);
	return rate;
}

double sig_bench_verify_many(int scheme, double seconds)
{
	enum { KEYS = 8, ITEMS = 64 };
	double rate = 0;
	sig_key_t *k[KEYS] = { 0 };
	uint8_t msg[ITEMS][64], sig[ITEMS][SIG_MAX_SIG], bad[ITEMS];
	sig_item_t it[ITEMS];
	uint64_t t0, dt = 0, n = 0;

	if (!sig_scheme_valid(scheme) || !(seconds > 0))
		goto out;
	for (size_t i = 0; i < KEYS; i++)
		k[i] = sig_keygen((sig_scheme_t)scheme);
	for (size_t i = 0; i < ITEMS; i++) {
		randombytes_buf(msg[i], sizeof(msg[i]));
		if (sig_sign(k[i % KEYS], sig[i], msg[i], sizeof(msg[i])) < 0)
			goto out;
		it[i] = (sig_item_t){ scheme, sig_key_pub(k[i % KEYS]), sig[i], msg[i], sizeof(msg[i]) };
	}
	t0 = mono_us();
	do {
		if (sig_verify_many(it, ITEMS, bad) != 0)
			goto out;
		n += ITEMS;
		dt = mono_us() - t0;
	} while ((double)dt < seconds * 1e6);
	rate = (double)n * 1e6 / (double)dt;
out:
	for (size_t i = 0; i < KEYS; i++)
		sig_key_free(k[i]);
	return rate;
}
