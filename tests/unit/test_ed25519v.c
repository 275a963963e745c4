/*
 * test_ed25519v.c — unit tests for src/lib/ed25519v.c, checked against
 * libsodium (an independent implementation): known small-order points,
 * random valid signatures one by one and in batches of every size up to
 * 70, tampered messages, signatures and keys (alone and hidden in a
 * batch), non-canonical and small-order encodings, garbage, a signature
 * crafted with a small-order component in R (the one case where the
 * cofactored rule and libsodium's differ, on purpose), and threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/ed25519v.h"
#include "lib/sig.h"
#include "lib/util.h"

typedef struct {
	uint8_t pub[32], sk[64], sig[64], msg[100];
	size_t len;
} fixture_t;

static void make(fixture_t *f, const uint8_t *pub, const uint8_t *sk)
{
	if (pub) {
		memcpy(f->pub, pub, 32);
		memcpy(f->sk, sk, 64);
	} else {
		crypto_sign_keypair(f->pub, f->sk);
	}
	f->len = 1 + randombytes_uniform(sizeof(f->msg) - 1);
	randombytes_buf(f->msg, f->len);
	crypto_sign_detached(f->sig, NULL, f->msg, f->len, f->sk);
}

static ed25519v_item_t item(const fixture_t *f)
{
	return (ed25519v_item_t){ .pub = f->pub, .sig = f->sig, .msg = f->msg, .len = f->len };
}

static int sodium_ok(const fixture_t *f)
{
	return crypto_sign_verify_detached(f->sig, f->msg, f->len, f->pub) == 0;
}

static void unhex32(uint8_t out[32], const char *hex)
{
	assert_int_equal(hex_decode(out, 32, hex), 0);
}

/* The eight points of order dividing 8 have five canonical y values;
 * two of them (order 8) are published constants.  A wrong d or sqrt(-1)
 * breaks their decoding. */
static void test_small_order_points(void **state)
{
	(void)state;
	static const char *small[] = {
		"0100000000000000000000000000000000000000000000000000000000000000", /* identity */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* (0, -1) */
		"0000000000000000000000000000000000000000000000000000000000000000", /* y = 0, x = +-i */
		"0000000000000000000000000000000000000000000000000000000000000080",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", /* order 8 */
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	};
	uint8_t p[32];
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		unhex32(p, small[i]);
		assert_int_equal(ed25519v_point_is_small_order(p), 1);
	}
	/* the base point, and y = p (non-canonical 0), and x = 0 with the sign set */
	unhex32(p, "5866666666666666666666666666666666666666666666666666666666666666");
	assert_int_equal(ed25519v_point_is_small_order(p), 0);
	unhex32(p, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(ed25519v_point_is_small_order(p), -1);
	unhex32(p, "0100000000000000000000000000000000000000000000000000000000000080");
	assert_int_equal(ed25519v_point_is_small_order(p), -1);
	/* random public keys decode and are not small; random bytes decode about half the time */
	int decoded = 0;
	for (int i = 0; i < 200; i++) {
		uint8_t pk[32], sk[64];
		crypto_sign_keypair(pk, sk);
		assert_int_equal(ed25519v_point_is_small_order(pk), 0);
		randombytes_buf(p, 32);
		int r = ed25519v_point_is_small_order(p);
		assert_true(r == 0 || r == -1);
		decoded += r == 0;
	}
	assert_in_range(decoded, 60, 140);
}

/* RFC 8032 §7.1 test 2 (one-byte message). */
static void test_rfc8032_vector(void **state)
{
	(void)state;
	uint8_t pub[32], sig[64], msg[1] = { 0x72 };
	unhex32(pub, "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
	assert_int_equal(hex_decode(sig, 64,
				    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
				    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"), 0);
	assert_int_equal(ed25519v_verify(pub, sig, msg, 1), 0);
	ed25519v_item_t it = { pub, sig, msg, 1 };
	assert_int_equal(ed25519v_verify_batch(&it, 1), 0);
	msg[0] ^= 1;
	assert_int_equal(ed25519v_verify(pub, sig, msg, 1), -1);
	assert_int_equal(ed25519v_verify_batch(&it, 1), -1);
}

static void test_valid_single_and_batches(void **state)
{
	(void)state;
	enum { N = 70 };
	fixture_t *f = calloc(N, sizeof(*f));
	ed25519v_item_t it[N];
	/* half the signatures by one key (merged A terms), half by their own */
	make(&f[0], NULL, NULL);
	for (int i = 1; i < N; i++)
		make(&f[i], i % 2 ? f[0].pub : NULL, f[0].sk);
	for (int i = 0; i < N; i++) {
		assert_true(sodium_ok(&f[i]));
		assert_int_equal(ed25519v_verify(f[i].pub, f[i].sig, f[i].msg, f[i].len), 0);
		it[i] = item(&f[i]);
	}
	for (size_t n = 0; n <= N; n++)
		assert_int_equal(ed25519v_verify_batch(it, n), 0);
	/* an empty message */
	crypto_sign_detached(f[0].sig, NULL, NULL, 0, f[0].sk);
	assert_int_equal(ed25519v_verify(f[0].pub, f[0].sig, NULL, 0), 0);
	free(f);
}

static void test_tampered(void **state)
{
	(void)state;
	enum { N = 40 };
	fixture_t *f = calloc(N, sizeof(*f));
	ed25519v_item_t it[N];
	make(&f[0], NULL, NULL);
	for (int i = 1; i < N; i++)
		make(&f[i], i % 3 ? f[0].pub : NULL, f[0].sk);
	for (int i = 0; i < N; i++)
		it[i] = item(&f[i]);
	for (int round = 0; round < 3 * N; round++) {
		int i = round % N;
		fixture_t save = f[i];
		switch (round / N) {
		case 0:
			f[i].msg[randombytes_uniform((uint32_t)f[i].len)] ^= (uint8_t)(1u << randombytes_uniform(8));
			break;
		case 1:
			f[i].sig[randombytes_uniform(64)] ^= (uint8_t)(1u << randombytes_uniform(8));
			break;
		default:
			f[i].pub[randombytes_uniform(32)] ^= (uint8_t)(1u << randombytes_uniform(8));
			break;
		}
		assert_false(sodium_ok(&f[i]));
		assert_int_equal(ed25519v_verify(f[i].pub, f[i].sig, f[i].msg, f[i].len), -1);
		/* one bad signature hides anywhere in the batch */
		assert_int_equal(ed25519v_verify_batch(it, N), -1);
		assert_int_equal(ed25519v_verify_batch(it + i, 1), -1);
		f[i] = save;
		assert_int_equal(ed25519v_verify_batch(it, N), 0);
	}
	/* two signatures swapped between two messages */
	uint8_t tmp[64];
	memcpy(tmp, f[1].sig, 64);
	memcpy(f[1].sig, f[2].sig, 64);
	memcpy(f[2].sig, tmp, 64);
	assert_int_equal(ed25519v_verify_batch(it, N), -1);
	free(f);
}

/* L, little-endian: 2^252 + 27742317777372353535851937790883648493 */
static const char *L_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

static void add_le(uint8_t *a, const uint8_t *b, size_t n)
{
	unsigned c = 0;
	for (size_t i = 0; i < n; i++) {
		c += (unsigned)a[i] + b[i];
		a[i] = (uint8_t)c;
		c >>= 8;
	}
}

static void test_encodings(void **state)
{
	(void)state;
	fixture_t f;
	uint8_t l[32];
	make(&f, NULL, NULL);
	unhex32(l, L_HEX);
	/* S + L: the same point equation, refused as non-canonical by both */
	fixture_t g = f;
	add_le(g.sig + 32, l, 32);
	assert_false(sodium_ok(&g));
	assert_int_equal(ed25519v_verify(g.pub, g.sig, g.msg, g.len), -1);
	/* R = identity, S = 0 under a small-order key: valid equation, refused */
	static const char *small_keys[] = {
		"0100000000000000000000000000000000000000000000000000000000000000",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	};
	for (size_t i = 0; i < 3; i++) {
		g = f;
		unhex32(g.pub, small_keys[i]);
		memset(g.sig, 0, 64);
		g.sig[0] = 1;
		assert_false(sodium_ok(&g));
		assert_int_equal(ed25519v_verify(g.pub, g.sig, g.msg, g.len), -1);
		ed25519v_item_t it = item(&g);
		assert_int_equal(ed25519v_verify_batch(&it, 1), -1);
	}
	/* R of small order (each sign): refused, as libsodium does */
	for (size_t i = 0; i < 3; i++)
		for (int sign = 0; sign < 2; sign++) {
			g = f;
			unhex32(g.sig, small_keys[i]);
			g.sig[31] |= (uint8_t)(sign << 7);
			assert_false(sodium_ok(&g));
			assert_int_equal(ed25519v_verify(g.pub, g.sig, g.msg, g.len), -1);
		}
	/* a non-canonical key encoding (y = p + 1) */
	g = f;
	unhex32(g.pub, "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
	assert_int_equal(ed25519v_verify(g.pub, g.sig, g.msg, g.len), -1);
	/* garbage: both refuse */
	for (int i = 0; i < 300; i++) {
		g = f;
		randombytes_buf(g.sig, 64);
		if (i % 2)
			g.sig[63] &= 0x0f;   /* S canonical, R random */
		if (i % 3 == 0)
			randombytes_buf(g.pub, 32);
		assert_false(sodium_ok(&g));
		assert_int_equal(ed25519v_verify(g.pub, g.sig, g.msg, g.len), -1);
	}
	assert_int_equal(ed25519v_verify(NULL, f.sig, f.msg, f.len), -1);
	assert_int_equal(ed25519v_verify(f.pub, f.sig, NULL, 5), -1);
}

/* R = [r]B + T with T of order 8, S = r + k a: [S]B - [k]A = R - T.
 * libsodium (cofactorless) refuses it; the cofactored rule accepts it,
 * single and batched alike, so replicas never disagree. */
static void test_torsion_in_r(void **state)
{
	(void)state;
	uint8_t a[32], r[32], A[32], Rp[32], R[32], T[32], k[32], ka[32];
	uint8_t sig[64], msg[] = "a crafted request";
	unhex32(T, "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
	crypto_core_ed25519_scalar_random(a);
	crypto_core_ed25519_scalar_random(r);
	assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(A, a), 0);
	assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(Rp, r), 0);
	assert_int_equal(crypto_core_ed25519_add(R, Rp, T), 0);
	crypto_hash_sha512_state st;
	uint8_t h[64];
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, R, 32);
	crypto_hash_sha512_update(&st, A, 32);
	crypto_hash_sha512_update(&st, msg, sizeof(msg));
	crypto_hash_sha512_final(&st, h);
	crypto_core_ed25519_scalar_reduce(k, h);
	crypto_core_ed25519_scalar_mul(ka, k, a);
	memcpy(sig, R, 32);
	crypto_core_ed25519_scalar_add(sig + 32, r, ka);
	assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), A), 0);
	assert_int_equal(ed25519v_verify(A, sig, msg, sizeof(msg)), 0);
	assert_int_equal(sig_verify(SIG_ED25519, A, sig, msg, sizeof(msg)), 0);
	fixture_t f[8];
	ed25519v_item_t it[9];
	for (int i = 0; i < 8; i++) {
		make(&f[i], NULL, NULL);
		it[i] = item(&f[i]);
	}
	it[8] = (ed25519v_item_t){ A, sig, msg, sizeof(msg) };
	for (int rep = 0; rep < 16; rep++)   /* random coefficients each time: always the same verdict */
		assert_int_equal(ed25519v_verify_batch(it, 9), 0);
	/* the same signature with R' (no torsion) is the honest one: both accept */
	memcpy(sig, Rp, 32);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, Rp, 32);
	crypto_hash_sha512_update(&st, A, 32);
	crypto_hash_sha512_update(&st, msg, sizeof(msg));
	crypto_hash_sha512_final(&st, h);
	crypto_core_ed25519_scalar_reduce(k, h);
	crypto_core_ed25519_scalar_mul(ka, k, a);
	crypto_core_ed25519_scalar_add(sig + 32, r, ka);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), A), 0);
	assert_int_equal(ed25519v_verify(A, sig, msg, sizeof(msg)), 0);
}

static void *thread_batches(void *arg)
{
	fixture_t *f = arg;
	ed25519v_item_t it[16];
	for (int i = 0; i < 16; i++)
		it[i] = item(&f[i]);
	for (int rep = 0; rep < 20; rep++)
		if (ed25519v_verify_batch(it, 16) != 0)
			return (void *)1;
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	fixture_t *f = calloc(4 * 16, sizeof(*f));
	pthread_t th[4];
	for (int i = 0; i < 64; i++)
		make(&f[i], NULL, NULL);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_batches, f + 16 * i), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	free(f);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_order_points),
		cmocka_unit_test(test_rfc8032_vector),
		cmocka_unit_test(test_valid_single_and_batches),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_torsion_in_r),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
