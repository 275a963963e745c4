/*
 * fuzz_rsa52.c — differential libFuzzer harness for the eight-lane
 * RSA-PSS-2048 verifier (lib/rsa52.h) against OpenSSL (sig_verify).  The
 * first byte picks the mode:
 *   0: signature and message straight from the input;
 *   1: a genuine signature of the message by a fixed key with the input's
 *      next 256 bytes XORed onto it;
 *   2: an encoded message built from the input — its DB (zeros, marker,
 *      salt, as the fuzzer likes) and, unless a flag byte says otherwise,
 *      the H that a valid encoding of that salt would hold — masked as
 *      EMSA-PSS does and signed with the raw private key, so runs reach
 *      every rule of the decoding.
 * Invariant (abort() on violation): the lane's verdict equals OpenSSL's,
 * alone in a batch and beside seven valid signatures.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "lib/hash.h"
#include "lib/rsa52.h"
#include "lib/sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *g_pk;
static uint8_t g_n[RSA52_BYTES];
static rsa52_key_t g_key;
static uint8_t g_fill_sig[RSA52_LANES][RSA52_BYTES], g_fill_hash[RSA52_LANES][32];
static int g_ready;

static void setup(void)
{
	BIGNUM *n = NULL;
	uint8_t msg[4] = "fil";
	if (sodium_init() < 0)
		abort();
	g_pk = EVP_RSA_gen(2048);
	if (!g_pk || EVP_PKEY_get_bn_param(g_pk, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    BN_bn2binpad(n, g_n, RSA52_BYTES) != RSA52_BYTES || rsa52_key_init(&g_key, g_n) != 0)
		abort();
	BN_free(n);
	for (int l = 0; l < RSA52_LANES; l++) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pc = NULL;
		size_t sl = RSA52_BYTES;
		msg[3] = (uint8_t)l;
		if (!c || EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, g_pk) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) != 1 ||
		    EVP_DigestSign(c, g_fill_sig[l], &sl, msg, sizeof(msg)) != 1)
			abort();
		EVP_MD_CTX_free(c);
		hash_sha256(g_fill_hash[l], msg, sizeof(msg));
	}
	g_ready = 1;
}

static int sign_pss(uint8_t *sig, const uint8_t *msg, size_t len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	size_t sl = RSA52_BYTES;
	int ok = c && EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, g_pk) == 1 &&
		 EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		 EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) == 1 &&
		 EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()) == 1 && EVP_DigestSign(c, sig, &sl, msg, len) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

static int sign_raw(uint8_t *sig, const uint8_t *em)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(g_pk, NULL);
	size_t sl = RSA52_BYTES;
	int ok = c && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING) == 1 &&
		 EVP_PKEY_sign(c, sig, &sl, em, RSA52_BYTES) == 1;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* EM from a fuzzer-chosen DB (223 bytes) and, unless told, a consistent H. */
static void build_em(uint8_t em[RSA52_BYTES], const uint8_t *db_in, int bad_h, const uint8_t *msg, size_t len)
{
	uint8_t mhash[32], mp[72], h[32], seed[36], mask[224];
	hash_sha256(mhash, msg, len);
	memset(mp, 0, 8);
	memcpy(mp + 8, mhash, 32);
	memcpy(mp + 40, db_in + 223 - 32, 32);      /* the salt, if the DB is well formed */
	hash_sha256(h, mp, sizeof(mp));
	if (bad_h)
		h[0] ^= (uint8_t)bad_h;
	memcpy(seed, h, 32);
	for (uint32_t c = 0; c < 7; c++) {
		seed[32] = 0, seed[33] = 0, seed[34] = 0, seed[35] = (uint8_t)c;
		hash_sha256(mask + 32 * c, seed, sizeof(seed));
	}
	for (int i = 0; i < 223; i++)
		em[i] = db_in[i] ^ mask[i];
	memcpy(em + 223, h, 32);
	em[255] = 0xbc;
}

static void check(const uint8_t *sig, const uint8_t *msg, size_t len)
{
	const rsa52_key_t *kp[RSA52_LANES];
	const uint8_t *sp[RSA52_LANES];
	uint8_t mh[RSA52_LANES][32], ok[RSA52_LANES];
	int want = sig_verify(SIG_RSA_PSS_2048, g_n, sig, msg, len) == 0;

	for (int l = 0; l < RSA52_LANES; l++) {
		kp[l] = &g_key;
		sp[l] = g_fill_sig[l];
		memcpy(mh[l], g_fill_hash[l], 32);
	}
	int lane = (int)(len % RSA52_LANES);
	sp[lane] = sig;
	hash_sha256(mh[lane], msg, len);
	rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, RSA52_LANES, ok);
	for (int l = 0; l < RSA52_LANES; l++)
		if (ok[l] != (l == lane ? want : 1))
			abort();
	rsa52_verify(&kp[lane], &sp[lane], (const uint8_t (*)[32])mh[lane], 1, ok);
	if (ok[0] != want)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sig[RSA52_BYTES], em[RSA52_BYTES];

	if (!g_ready)
		setup();
	if (!rsa52_available() || size < 1 + RSA52_BYTES)
		return 0;
	const uint8_t *msg = data + 1 + RSA52_BYTES;
	size_t len = size - 1 - RSA52_BYTES;
	switch (data[0] % 3) {
	case 0:
		check(data + 1, msg, len);
		break;
	case 1:
		if (sign_pss(sig, msg, len) != 0)
			abort();
		for (int i = 0; i < RSA52_BYTES; i++)
			sig[i] ^= data[1 + i];
		check(sig, msg, len);
		break;
	default:
		/* data[1..223]: DB; data[224]: top bits / H flags */
		build_em(em, data + 1, data[224] & 0x0e ? 0 : data[224] >> 4, msg, len);
		if (data[224] & 1)
			em[0] |= 0x80;
		else
			em[0] &= 0x7f;
		if (sign_raw(sig, em) == 0)
			check(sig, msg, len);
		break;
	}
	return 0;
}
