/*
 * test_rsa52.c — the eight-lane RSA-PSS-2048 verifier (src/lib/rsa52.c)
 * against OpenSSL (sig_verify, an independent implementation): valid
 * signatures by several keys in one batch, every partial batch size,
 * tampered signatures and messages, signatures at and above the modulus,
 * hand-built encoded messages that break one rule of EMSA-PSS each
 * (signed with the raw private key), random garbage, a degenerate modulus
 * where s^e = 0, and sig_verify_many's grouping (mixed schemes, invalid
 * keys, short groups).  Each verdict must equal OpenSSL's.
 *
 * On a CPU without AVX-512 IFMA the lane tests are skipped and only
 * sig_verify_many (then all OpenSSL) is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
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

#define NKEYS 3
static EVP_PKEY *pk[NKEYS];
static uint8_t modulus[NKEYS][RSA52_BYTES];
static rsa52_key_t rk[NKEYS];

static int setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < NKEYS; i++) {
		BIGNUM *n = NULL;
		pk[i] = EVP_RSA_gen(2048);
		if (!pk[i] || EVP_PKEY_get_bn_param(pk[i], OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    BN_bn2binpad(n, modulus[i], RSA52_BYTES) != RSA52_BYTES)
			return -1;
		BN_free(n);
		if (rsa52_key_init(&rk[i], modulus[i]) != 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NKEYS; i++)
		EVP_PKEY_free(pk[i]);
	sig_verify_cache_flush();
	return 0;
}

/* A standard RSA-PSS signature (SHA-256, MGF1-SHA-256, salt 32). */
static void pss_sign(int key, uint8_t sig[RSA52_BYTES], const uint8_t *msg, size_t len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	size_t sl = RSA52_BYTES;
	assert_non_null(c);
	assert_int_equal(EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, pk[key]), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()), 1);
	assert_int_equal(EVP_DigestSign(c, sig, &sl, msg, len), 1);
	assert_int_equal(sl, RSA52_BYTES);
	EVP_MD_CTX_free(c);
}

/* The raw RSA signature (no padding) of a 256-byte em; -1 when em >= n. */
static int raw_sign(int key, uint8_t sig[RSA52_BYTES], const uint8_t em[RSA52_BYTES])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk[key], NULL);
	size_t sl = RSA52_BYTES;
	int ok = c && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING) == 1 &&
		 EVP_PKEY_sign(c, sig, &sl, em, RSA52_BYTES) == 1 && sl == RSA52_BYTES;
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

/* OpenSSL's verdict: 1 valid, 0 not. */
static int ossl_ok(int key, const uint8_t *sig, const uint8_t *msg, size_t len)
{
	return sig_verify(SIG_RSA_PSS_2048, modulus[key], sig, msg, len) == 0;
}

/* The lanes' verdict on one signature (in lane 0 of a full batch whose
 * other lanes hold valid signatures, so a lane cannot leak into another). */
static int lane_ok(int key, const uint8_t *sig, const uint8_t *msg, size_t len)
{
	static uint8_t fill[RSA52_LANES][RSA52_BYTES], fmsg[RSA52_LANES][16];
	static int made;
	const rsa52_key_t *kp[RSA52_LANES];
	const uint8_t *sp[RSA52_LANES];
	uint8_t mh[RSA52_LANES][32], ok[RSA52_LANES];
	if (!made) {
		for (int l = 0; l < RSA52_LANES; l++) {
			randombytes_buf(fmsg[l], sizeof(fmsg[l]));
			pss_sign(l % NKEYS, fill[l], fmsg[l], sizeof(fmsg[l]));
		}
		made = 1;
	}
	for (int l = 0; l < RSA52_LANES; l++) {
		kp[l] = &rk[l % NKEYS];
		sp[l] = fill[l];
		hash_sha256(mh[l], fmsg[l], sizeof(fmsg[l]));
	}
	kp[0] = &rk[key];
	sp[0] = sig;
	hash_sha256(mh[0], msg, len);
	rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, RSA52_LANES, ok);
	for (int l = 1; l < RSA52_LANES; l++)
		assert_int_equal(ok[l], 1);
	return ok[0];
}

#define NEED_IFMA()                                                          \
	do {                                                                 \
		if (!rsa52_available()) {                                    \
			fprintf(stderr, "no AVX-512 IFMA here: skipped\n"); \
			skip();                                              \
		}                                                            \
	} while (0)

static void test_key_init(void **state)
{
	(void)state;
	uint8_t n[RSA52_BYTES];
	rsa52_key_t k;
	memcpy(n, modulus[0], sizeof(n));
	n[RSA52_BYTES - 1] &= 0xfe;                 /* even */
	assert_int_equal(rsa52_key_init(&k, n), -1);
	memcpy(n, modulus[0], sizeof(n));
	n[0] &= 0x7f;                               /* 2047 bits */
	assert_int_equal(rsa52_key_init(&k, n), -1);
	/* k0 * n = -1 mod 2^52 */
	assert_int_equal((rk[0].k0 * rk[0].n[0]) & ((UINT64_C(1) << 52) - 1), (UINT64_C(1) << 52) - 1);
}

/* Valid signatures by mixed keys, every batch size 1..8, all accepted;
 * then each lane tampered in turn is the only one refused. */
static void test_batches(void **state)
{
	(void)state;
	NEED_IFMA();
	uint8_t sig[RSA52_LANES][RSA52_BYTES], msg[RSA52_LANES][100], mh[RSA52_LANES][32], ok[RSA52_LANES];
	const rsa52_key_t *kp[RSA52_LANES];
	const uint8_t *sp[RSA52_LANES];
	for (int l = 0; l < RSA52_LANES; l++) {
		randombytes_buf(msg[l], sizeof(msg[l]));
		pss_sign((l * 5) % NKEYS, sig[l], msg[l], sizeof(msg[l]));
		hash_sha256(mh[l], msg[l], sizeof(msg[l]));
		kp[l] = &rk[(l * 5) % NKEYS];
		sp[l] = sig[l];
	}
	for (size_t cnt = 1; cnt <= RSA52_LANES; cnt++) {
		memset(ok, 7, sizeof(ok));
		rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, cnt, ok);
		for (size_t l = 0; l < cnt; l++)
			assert_int_equal(ok[l], 1);
		for (size_t l = cnt; l < RSA52_LANES; l++)
			assert_int_equal(ok[l], 7);     /* untouched */
	}
	for (int bad = 0; bad < RSA52_LANES; bad++) {
		sig[bad][bad * 31 % RSA52_BYTES] ^= 0x10;
		rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, RSA52_LANES, ok);
		for (int l = 0; l < RSA52_LANES; l++)
			assert_int_equal(ok[l], l != bad);
		assert_false(ossl_ok((bad * 5) % NKEYS, sig[bad], msg[bad], sizeof(msg[bad])));
		sig[bad][bad * 31 % RSA52_BYTES] ^= 0x10;
	}
	/* the right signature under another key, another message */
	const rsa52_key_t *other = kp[0];
	kp[0] = &rk[1];
	rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, RSA52_LANES, ok);
	assert_int_equal(ok[0], 0);
	kp[0] = other;
	mh[3][0] ^= 1;
	rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, RSA52_LANES, ok);
	assert_int_equal(ok[3], 0);
	assert_int_equal(ok[2], 1);
}

/* Signatures as numbers at the edges: 0, 1, n - 1, n, n + 1, 2^2048 - 1. */
static void test_edges(void **state)
{
	(void)state;
	NEED_IFMA();
	uint8_t msg[8] = "edges!!", s[RSA52_BYTES];
	for (int c = 0; c < 6; c++) {
		memset(s, 0, sizeof(s));
		switch (c) {
		case 0: break;
		case 1: s[RSA52_BYTES - 1] = 1; break;
		case 2: memcpy(s, modulus[0], sizeof(s)); s[RSA52_BYTES - 1] -= 1; break;   /* n odd */
		case 3: memcpy(s, modulus[0], sizeof(s)); break;
		case 4: memcpy(s, modulus[0], sizeof(s)); s[RSA52_BYTES - 1] += 1; break;   /* n odd: no carry */
		default: memset(s, 0xff, sizeof(s)); break;
		}
		assert_int_equal(lane_ok(0, s, msg, sizeof(msg)), 0);
		assert_int_equal(ossl_ok(0, s, msg, sizeof(msg)), 0);
	}
}

/* s + n is s modulo n, and a number verification must refuse: a valid
 * signature plus the modulus (when it still fits in 2048 bits). */
static void test_signature_plus_modulus(void **state)
{
	(void)state;
	NEED_IFMA();
	BIGNUM *s = BN_new(), *n = BN_new();
	uint8_t sig[RSA52_BYTES], big[RSA52_BYTES], msg[32];
	int found = 0;
	for (int i = 0; i < 64 && found < 2; i++) {
		int key = i % NKEYS;
		randombytes_buf(msg, sizeof(msg));
		pss_sign(key, sig, msg, sizeof(msg));
		assert_non_null(BN_bin2bn(sig, RSA52_BYTES, s));
		assert_non_null(BN_bin2bn(modulus[key], RSA52_BYTES, n));
		assert_int_equal(BN_add(s, s, n), 1);
		if (BN_num_bytes(s) > RSA52_BYTES)
			continue;
		assert_int_equal(BN_bn2binpad(s, big, RSA52_BYTES), RSA52_BYTES);
		assert_int_equal(lane_ok(key, sig, msg, sizeof(msg)), 1);
		assert_int_equal(lane_ok(key, big, msg, sizeof(msg)), 0);
		assert_int_equal(ossl_ok(key, big, msg, sizeof(msg)), 0);
		found++;
	}
	assert_int_equal(found, 2);
	BN_free(s);
	BN_free(n);
}

/* EMSA-PSS encodings built by hand (RFC 8017, 9.1.1), each breaking one
 * rule, signed with the raw private key: the lanes and OpenSSL agree on
 * every one, and only the well-formed one passes. */
enum { EM_GOOD, EM_TRAILER, EM_TOPBIT, EM_PS, EM_MARKER, EM_SALT31, EM_SALT33, EM_HASH, EM_ZEROPS, EM_N };

static void build_em(uint8_t em[RSA52_BYTES], int variant, const uint8_t *msg, size_t len)
{
	uint8_t mhash[32], salt[33], mp[8 + 32 + 33], h[32], db[224], seed[36];
	size_t slen = variant == EM_SALT31 ? 31 : variant == EM_SALT33 ? 33 : 32;
	hash_sha256(mhash, msg, len);
	randombytes_buf(salt, sizeof(salt));
	memset(mp, 0, 8);
	memcpy(mp + 8, mhash, 32);
	memcpy(mp + 40, salt, slen);
	hash_sha256(h, mp, 40 + slen);
	if (variant == EM_HASH)
		h[5] ^= 0x20;
	memset(db, 0, sizeof(db));
	db[223 - slen - 1] = variant == EM_MARKER ? 0x02 : 0x01;
	memcpy(db + 223 - slen, salt, slen);
	if (variant == EM_PS)
		db[100] = 0x40;
	if (variant == EM_ZEROPS)
		db[0] = 0x01;   /* PS shorter by its whole length: marker at 0 */
	memcpy(seed, h, 32);
	uint8_t mask[224];
	for (uint32_t c = 0; c < 7; c++) {
		seed[32] = 0, seed[33] = 0, seed[34] = 0, seed[35] = (uint8_t)c;
		hash_sha256(mask + 32 * c, seed, sizeof(seed));
	}
	for (int i = 0; i < 223; i++)
		em[i] = db[i] ^ mask[i];
	em[0] &= 0x7f;
	if (variant == EM_TOPBIT)   /* then cut below n by the caller */
		em[0] = 0x80;
	memcpy(em + 223, h, 32);
	em[255] = variant == EM_TRAILER ? 0xbd : 0xbc;
}

static void test_encodings(void **state)
{
	(void)state;
	NEED_IFMA();
	uint8_t msg[64], em[RSA52_BYTES], s[RSA52_BYTES];
	randombytes_buf(msg, sizeof(msg));
	for (int v = 0; v < EM_N; v++) {
		build_em(em, v, msg, sizeof(msg));
		/* n > 2^2047 (odd): zeros after the top byte get below it */
		for (size_t i = 1; i < RSA52_BYTES && memcmp(em, modulus[1], RSA52_BYTES) >= 0; i++)
			em[i] = 0;
		assert_int_equal(raw_sign(1, s, em), 0);
		int want = v == EM_GOOD;
		assert_int_equal(ossl_ok(1, s, msg, sizeof(msg)), want);
		assert_int_equal(lane_ok(1, s, msg, sizeof(msg)), want);
	}
}

/* Random numbers below n as signatures: refused by both; and a random
 * encoded message that happens to end in 0xbc gets past the first check
 * only. */
static void test_garbage(void **state)
{
	(void)state;
	NEED_IFMA();
	uint8_t msg[16] = "garbage", s[RSA52_BYTES];
	for (int i = 0; i < 64; i++) {
		randombytes_buf(s, sizeof(s));
		s[0] &= 0x7f;
		assert_int_equal(lane_ok(2, s, msg, sizeof(msg)), 0);
		assert_int_equal(ossl_ok(2, s, msg, sizeof(msg)), 0);
	}
}

/* n = p^2: the signature p gives s^e = 0 mod n, where the Montgomery
 * result may come out as n itself: refused either way, as by OpenSSL. */
static void test_degenerate_modulus(void **state)
{
	(void)state;
	NEED_IFMA();
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *p = BN_new(), *n = BN_new();
	uint8_t nb[RSA52_BYTES], pb[RSA52_BYTES], msg[4] = "deg", mh[1][32], ok[1];
	rsa52_key_t k;
	assert_non_null(ctx);
	do {
		assert_int_equal(BN_generate_prime_ex(p, 1024, 0, NULL, NULL, NULL), 1);
		assert_int_equal(BN_sqr(n, p, ctx), 1);
	} while (BN_num_bits(n) != 2048);
	assert_int_equal(BN_bn2binpad(n, nb, sizeof(nb)), RSA52_BYTES);
	assert_int_equal(BN_bn2binpad(p, pb, sizeof(pb)), RSA52_BYTES);
	assert_int_equal(rsa52_key_init(&k, nb), 0);
	const rsa52_key_t *kp[1] = { &k };
	const uint8_t *sp[1] = { pb };
	hash_sha256(mh[0], msg, sizeof(msg));
	rsa52_verify(kp, sp, (const uint8_t (*)[32])mh, 1, ok);
	assert_int_equal(ok[0], 0);
	assert_int_equal(sig_verify(SIG_RSA_PSS_2048, nb, pb, msg, sizeof(msg)), -1);
	BN_free(p);
	BN_free(n);
	BN_CTX_free(ctx);
}

/* sig_verify_many: RSA items mixed with Ed25519 ones, an invalid RSA key,
 * groups long and short; every verdict equals sig_verify's. */
static void test_verify_many(void **state)
{
	(void)state;
	enum { N = 29 };
	sig_key_t *ed = sig_keygen(SIG_ED25519);
	uint8_t sig[N][RSA52_BYTES], msg[N][40], badkey[RSA52_BYTES], out[N];
	sig_item_t it[N];
	memset(badkey, 0x11, sizeof(badkey));   /* even: refused */
	for (int i = 0; i < N; i++) {
		randombytes_buf(msg[i], sizeof(msg[i]));
		if (i % 7 == 3) {
			assert_int_equal(sig_sign(ed, sig[i], msg[i], sizeof(msg[i])), 0);
			it[i] = (sig_item_t){ SIG_ED25519, sig_key_pub(ed), sig[i], msg[i], sizeof(msg[i]) };
			continue;
		}
		pss_sign(i % NKEYS, sig[i], msg[i], sizeof(msg[i]));
		it[i] = (sig_item_t){ SIG_RSA_PSS_2048, modulus[i % NKEYS], sig[i], msg[i], sizeof(msg[i]) };
	}
	it[5].pub = badkey;
	sig[9][17] ^= 4;
	msg[20][0] ^= 1;
	sig[24][0] ^= 0x80;     /* another number, maybe above n */
	for (size_t cnt = 1; cnt <= N; cnt += 3) {
		memset(out, 9, sizeof(out));
		size_t nbad = sig_verify_many(it, cnt, out), want_bad = 0;
		for (size_t i = 0; i < cnt; i++) {
			int want = sig_verify(it[i].scheme, it[i].pub, it[i].sig, it[i].msg, it[i].len) != 0;
			assert_int_equal(out[i], want);
			want_bad += (size_t)want;
		}
		assert_int_equal(nbad, want_bad);
	}
	assert_int_equal(sig_verify_many(it, N, out), 4);
	assert_int_equal(out[5] + out[9] + out[20] + out[24], 4);
	sig_key_free(ed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_init),
		cmocka_unit_test(test_batches),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_signature_plus_modulus),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_degenerate_modulus),
		cmocka_unit_test(test_verify_many),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
