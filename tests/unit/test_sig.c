/*
 * test_sig.c — unit tests for src/lib/sig.c: the scheme table, RFC 8032
 * Ed25519 known answers (raw and PEM), signatures made by the OpenSSL
 * command line (an independent implementation) for ecdsa-p256 and
 * rsa-pss-2048, sign/verify with tampering for every scheme, garbage keys
 * and signatures, PEM round trips, file modes, the per-thread
 * verification cache (eviction, threads) and the bench helper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <openssl/err.h>

#include "lib/sig.h"

static const int schemes[] = { SIG_ED25519, SIG_ECDSA_P256, SIG_RSA_PSS_2048 };
#define NSCHEMES 3
static sig_key_t *keys[NSCHEMES];     /* one per scheme, made once (RSA is slow) */
static char tmpdir[] = "/tmp/test_sig.XXXXXX";

static void unhex(uint8_t *out, size_t n, const char *hex)
{
	assert_int_equal(strlen(hex), 2 * n);
	assert_int_equal(hex_decode(out, n, hex), 0);
}

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static int group_setup(void **state)
{
	(void)state;
	for (int i = 0; i < NSCHEMES; i++)
		keys[i] = sig_keygen(schemes[i]);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	int rc = system(cmd);
	free(cmd);
	for (int i = 0; i < NSCHEMES; i++)
		sig_key_free(keys[i]);
	sig_verify_cache_flush();
	return rc == 0 ? 0 : -1;
}

/* ---- scheme table ------------------------------------------------------ */

static void test_scheme_table(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		int scheme;
		size_t pub, sig;
	} ok[] = {
		{ "ed25519", SIG_ED25519, 32, 64 },
		{ "ecdsa-p256", SIG_ECDSA_P256, 33, 64 },
		{ "rsa-pss-2048", SIG_RSA_PSS_2048, 256, 256 },
	};
	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		sig_scheme_t s = 0;
		assert_int_equal(sig_scheme_parse(ok[i].name, &s), 0);
		assert_int_equal(s, ok[i].scheme);
		assert_string_equal(sig_scheme_name(ok[i].scheme), ok[i].name);
		assert_true(sig_scheme_valid(ok[i].scheme));
		assert_int_equal(sig_pub_len(ok[i].scheme), ok[i].pub);
		assert_int_equal(sig_sig_len(ok[i].scheme), ok[i].sig);
		assert_true(sig_pub_len(ok[i].scheme) <= SIG_MAX_PUB);
		assert_true(sig_sig_len(ok[i].scheme) <= SIG_MAX_SIG);
	}
	static const char *bad_names[] = { "", "ED25519", "ed25519 ", "rsa", "ecdsa", "p256",
					   "rsa-pss-4096", "ed448" };
	for (size_t i = 0; i < ARRAY_LEN(bad_names); i++) {
		sig_scheme_t s = 77;
		assert_int_equal(sig_scheme_parse(bad_names[i], &s), -1);
		assert_int_equal(s, 77);
	}
	sig_scheme_t s = 77;
	assert_int_equal(sig_scheme_parse(NULL, &s), -1);
	static const int bad[] = { 0, 4, -1, 255, 1000 };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		assert_null(sig_scheme_name(bad[i]));
		assert_false(sig_scheme_valid(bad[i]));
		assert_int_equal(sig_pub_len(bad[i]), 0);
		assert_int_equal(sig_sig_len(bad[i]), 0);
	}
}

/* ---- known answers ------------------------------------------------------- */

/* RFC 8032 section 7.1, tests 1-3. */
static const struct {
	const char *seed, *pub, *msg, *sig;
} rfc8032[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
	  "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

static void test_ed25519_rfc8032(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rfc8032); i++) {
		uint8_t seed[32], pub[32], msg[8], want[64], sig[64];
		size_t mlen = strlen(rfc8032[i].msg) / 2;
		unhex(seed, 32, rfc8032[i].seed);
		unhex(pub, 32, rfc8032[i].pub);
		unhex(msg, mlen, rfc8032[i].msg);
		unhex(want, 64, rfc8032[i].sig);
		sig_key_t *k = sig_key_from_ed25519_seed(seed);
		assert_int_equal(sig_key_scheme(k), SIG_ED25519);
		assert_memory_equal(sig_key_pub(k), pub, 32);
		assert_int_equal(sig_sign(k, sig, mlen ? msg : NULL, mlen), 0);
		assert_memory_equal(sig, want, 64);
		assert_int_equal(sig_verify(SIG_ED25519, pub, want, msg, mlen), 0);
		sig_key_free(k);
	}
}

/* RFC 8032 test 1 as PEM: the PKCS#8 / SPKI encodings `openssl pkey` gives. */
static const char rfc_priv_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
	"-----END PRIVATE KEY-----\n";
static const char rfc_pub_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
	"-----END PUBLIC KEY-----\n";

static void test_ed25519_pem_known_answer(void **state)
{
	(void)state;
	uint8_t seed[32], pub[SIG_MAX_PUB];
	int scheme = 0;
	char err[256];
	unhex(seed, 32, rfc8032[0].seed);
	sig_key_t *k = sig_key_from_ed25519_seed(seed);
	char *pem = sig_key_to_pem(k);
	assert_string_equal(pem, rfc_priv_pem);
	char *ppem = sig_pub_to_pem(SIG_ED25519, sig_key_pub(k));
	assert_string_equal(ppem, rfc_pub_pem);
	assert_int_equal(sig_pub_from_pem(&scheme, pub, rfc_pub_pem, strlen(rfc_pub_pem), err, sizeof(err)), 0);
	assert_int_equal(scheme, SIG_ED25519);
	assert_memory_equal(pub, sig_key_pub(k), 32);
	sig_key_t *k2 = NULL;
	assert_int_equal(sig_key_from_pem(&k2, rfc_priv_pem, strlen(rfc_priv_pem), err, sizeof(err)), 0);
	assert_memory_equal(sig_key_pub(k2), sig_key_pub(k), 32);
	free(pem);
	free(ppem);
	sig_key_free(k);
	sig_key_free(k2);
}

/* Signatures over "BSec known-answer test" made by `openssl dgst -sha256
 * -sign` (ECDSA converted from DER to r||s; RSA with
 * rsa_padding_mode:pss, rsa_pss_saltlen:32, rsa_mgf1_md:sha256). */
static const char kat_msg[] = "BSec known-answer test";
static const struct {
	int scheme;
	const char *pub_pem, *sig;
} openssl_kat[] = {
	{ SIG_ECDSA_P256,
	  "-----BEGIN PUBLIC KEY-----\n"
	  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzS1E+GbQrQqDH7XDe1CalhVJfA8v\n"
	  "Y3XYmB6kP307Wesps8ErnG4LSNt9blrunMyoJVb76AE2kvRZOYqu3lpzuQ==\n"
	  "-----END PUBLIC KEY-----\n",
	  "60cd6c31658fca03199003b297030fd684227cc691f834e0a1b2b181ac330155"
	  "b75dd6a9859a218969a033fc17215f8320fe51dfb6d79ec0af766504beb8638e" },
	{ SIG_RSA_PSS_2048,
	  "-----BEGIN PUBLIC KEY-----\n"
	  "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvuoi6WQOlp8zBYOITLyl\n"
	  "BbAQYefh40vD/adbPz9yCTjlDoflNXxvW5hzTIIBRvQ/FrRbBm2i4PS0ERI86vlZ\n"
	  "UdsYILF0jlUywWGh7zMYXeLQTZ5cWso2aeaot54wkG+fBEHvGxFe2SAQUyGZPAsF\n"
	  "aRl9M2DEbM3JEaRe8/ZbqvINgb/Y//SjTarMxDr5jBx0h6oY202dMUsEcUBbLfRy\n"
	  "CtFtkZR3uWMqhRSKY3qfANakNabTg8QLVM38rm6Ev1TdsId9g9h/tgCQS22mUKEz\n"
	  "vocsfI6lDd3Ge3ybhOv1PN9Yht1lS3A9glczHbaG4i0P+muryg0CGPGsv6D34C8n\n"
	  "DwIDAQAB\n"
	  "-----END PUBLIC KEY-----\n",
	  "1e9cb9b1960a025e0abe66a70b8108aa99af1bfceac4ebd319b638a16e846b6e"
	  "d2e4eef06097cdb417c71e8587e8000b8a1a0cdee4e5565928bc44fe8b75dff1"
	  "dc90aad489c1e17476a5297594f77996a29b651a0f2d99e0e80f96353245108b"
	  "27c879a474b338f10af094f105a630cf98827776f9c619fea08fa214edf07204"
	  "a52e95416f56b19b35fd9b14192527965dfd19245a69b2b9ceee648d7ecbee28"
	  "01893fb3d99f31cebf1f273eb74318129c4fa08b3284265c054880b6796532d7"
	  "be1220b68665f698e30de81167d16d7cf9ea6ed7477ba3c5e67941d1006ee641"
	  "ad0802f76464199a5877cea5ee86560f8d63a7e80dbedae208cecbe95c84c3ce" },
};

static void test_openssl_signatures(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(openssl_kat); i++) {
		int scheme = 0;
		uint8_t pub[SIG_MAX_PUB], sig[SIG_MAX_SIG];
		char err[256];
		const char *pem = openssl_kat[i].pub_pem;
		size_t slen = sig_sig_len(openssl_kat[i].scheme);
		const uint8_t *m = (const uint8_t *)kat_msg;
		assert_int_equal(sig_pub_from_pem(&scheme, pub, pem, strlen(pem), err, sizeof(err)), 0);
		assert_int_equal(scheme, openssl_kat[i].scheme);
		unhex(sig, slen, openssl_kat[i].sig);
		assert_int_equal(sig_verify(scheme, pub, sig, m, strlen(kat_msg)), 0);
		assert_int_equal(sig_verify(scheme, pub, sig, m, strlen(kat_msg) - 1), -1);
		sig[slen / 2] ^= 0x10;
		assert_int_equal(sig_verify(scheme, pub, sig, m, strlen(kat_msg)), -1);
		/* Our SPKI output is what OpenSSL wrote. */
		char *again = sig_pub_to_pem(scheme, pub);
		assert_non_null(again);
		assert_string_equal(again, pem);
		free(again);
	}
}

/* sig_pub_to_pem keeps the PEMs it wrote: each key still gets its own,
 * the same twice, also past the cache's emptying (4 096 keys), with keys
 * of another scheme cached among them. */
static void test_pub_pem_cache(void **state)
{
	(void)state;
	enum { N = 4500 };
	int *scheme = xmalloc(N * sizeof(*scheme));
	uint8_t (*pubs)[SIG_MAX_PUB] = xcalloc(N, sizeof(*pubs));
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < N; i++) {
			if (!round) {
				/* every 50th a P-256 key, the rest Ed25519 */
				scheme[i] = i % 50 ? SIG_ED25519 : SIG_ECDSA_P256;
				sig_key_t *k = sig_keygen(scheme[i]);
				memcpy(pubs[i], sig_key_pub(k), sig_pub_len(scheme[i]));
				sig_key_free(k);
			}
			char *pem = sig_pub_to_pem(scheme[i], pubs[i]);
			int got;
			uint8_t back[SIG_MAX_PUB];
			char err[256];
			assert_non_null(pem);
			assert_int_equal(sig_pub_from_pem(&got, back, pem, strlen(pem), err, sizeof(err)), 0);
			assert_int_equal(got, scheme[i]);
			assert_memory_equal(back, pubs[i], sig_pub_len(scheme[i]));
			free(pem);
		}
	free(scheme);
	free(pubs);
}

/* ---- sign / verify with tampering --------------------------------------- */

static void test_sign_verify_tamper(void **state)
{
	(void)state;
	static const size_t lens[] = { 0, 1, 32, 100, 5000 };
	uint8_t *msg = xmalloc(5001);   /* n + 1 bytes are read below */
	randombytes_buf(msg, 5001);
	for (int i = 0; i < NSCHEMES; i++) {
		int s = schemes[i];
		sig_key_t *k = keys[i];
		size_t sl = sig_sig_len(s), pl = sig_pub_len(s);
		assert_int_equal(sig_key_scheme(k), s);
		for (size_t j = 0; j < ARRAY_LEN(lens); j++) {
			size_t n = lens[j];
			uint8_t sig[SIG_MAX_SIG], pub[SIG_MAX_PUB];
			memset(sig, 0xaa, sizeof(sig));
			memset(pub, 0, sizeof(pub));   /* other schemes read up to SIG_MAX_PUB */
			assert_int_equal(sig_sign(k, sig, msg, n), 0);
			for (size_t b = sl; b < SIG_MAX_SIG; b++)
				assert_int_equal(sig[b], 0xaa);   /* wrote exactly sl bytes */
			memcpy(pub, sig_key_pub(k), pl);
			assert_int_equal(sig_verify(s, pub, sig, msg, n), 0);
			/* Flipped bits in the message. */
			if (n > 0) {
				size_t pos[] = { 0, n / 2, n - 1 };
				for (size_t p = 0; p < ARRAY_LEN(pos); p++) {
					msg[pos[p]] ^= 0x01;
					assert_int_equal(sig_verify(s, pub, sig, msg, n), -1);
					msg[pos[p]] ^= 0x01;
				}
			}
			assert_int_equal(sig_verify(s, pub, sig, msg, n + 1), -1);
			/* Flipped bits in the signature. */
			size_t spos[] = { 0, 1, sl / 2, sl - 1 };
			for (size_t p = 0; p < ARRAY_LEN(spos); p++) {
				for (int bit = 0; bit < 8; bit += 7) {
					sig[spos[p]] ^= (uint8_t)(1u << bit);
					assert_int_equal(sig_verify(s, pub, sig, msg, n), -1);
					sig[spos[p]] ^= (uint8_t)(1u << bit);
				}
			}
			/* Flipped bits in the key. */
			size_t kpos[] = { 0, 1, pl / 2, pl - 1 };
			for (size_t p = 0; p < ARRAY_LEN(kpos); p++) {
				pub[kpos[p]] ^= 0x01;
				assert_int_equal(sig_verify(s, pub, sig, msg, n), -1);
				pub[kpos[p]] ^= 0x01;
			}
			/* Right key and signature under another scheme. */
			for (int o = 0; o < NSCHEMES; o++)
				if (schemes[o] != s)
					assert_int_equal(sig_verify(schemes[o], pub, sig, msg, n), -1);
			assert_int_equal(sig_verify(0, pub, sig, msg, n), -1);
			assert_int_equal(sig_verify(99, pub, sig, msg, n), -1);
			/* Still valid after all that (cache not poisoned). */
			assert_int_equal(sig_verify(s, pub, sig, msg, n), 0);
		}
		/* A second signature (randomised for ECDSA/PSS) verifies too. */
		uint8_t s1[SIG_MAX_SIG], s2[SIG_MAX_SIG];
		assert_int_equal(sig_sign(k, s1, msg, 10), 0);
		assert_int_equal(sig_sign(k, s2, msg, 10), 0);
		assert_int_equal(sig_verify(s, sig_key_pub(k), s1, msg, 10), 0);
		assert_int_equal(sig_verify(s, sig_key_pub(k), s2, msg, 10), 0);
	}
	/* NULL arguments. */
	uint8_t sig[SIG_MAX_SIG];
	assert_int_equal(sig_sign(keys[0], sig, msg, 3), 0);
	assert_int_equal(sig_verify(SIG_ED25519, NULL, sig, msg, 3), -1);
	assert_int_equal(sig_verify(SIG_ED25519, sig_key_pub(keys[0]), NULL, msg, 3), -1);
	assert_int_equal(sig_verify(SIG_ED25519, sig_key_pub(keys[0]), sig, NULL, 3), -1);
	free(msg);
}

static void test_wrong_key_same_scheme(void **state)
{
	(void)state;
	const uint8_t msg[] = "hello";
	for (int i = 0; i < NSCHEMES - 1; i++) {   /* RSA keygen is slow: skip a second one */
		sig_key_t *k2 = sig_keygen(schemes[i]);
		uint8_t sig[SIG_MAX_SIG];
		assert_int_equal(sig_sign(keys[i], sig, msg, sizeof(msg)), 0);
		assert_int_equal(sig_verify(schemes[i], sig_key_pub(k2), sig, msg, sizeof(msg)), -1);
		assert_memory_not_equal(sig_key_pub(k2), sig_key_pub(keys[i]), sig_pub_len(schemes[i]));
		sig_key_free(k2);
	}
}

/* ---- garbage keys and signatures ---------------------------------------- */

static void test_garbage_keys(void **state)
{
	(void)state;
	const uint8_t msg[] = "garbage in";
	uint8_t pub[SIG_MAX_PUB], sig[SIG_MAX_SIG], good[NSCHEMES][SIG_MAX_SIG];

	for (int i = 0; i < NSCHEMES; i++)
		assert_int_equal(sig_sign(keys[i], good[i], msg, sizeof(msg)), 0);

	/* Random keys and signatures of every scheme, with a few valid
	 * signatures mixed in: never valid, never a crash. */
	for (int round = 0; round < 300; round++) {
		int i = round % NSCHEMES, s = schemes[i];
		randombytes_buf(pub, sizeof(pub));
		randombytes_buf(sig, sizeof(sig));
		if (round % 6 == 0 && s == SIG_ECDSA_P256)
			pub[0] = 0x02;   /* a plausible prefix: reaches decompression */
		if (round % 6 == 0 && s == SIG_RSA_PSS_2048)
			pub[0] |= 0x80, pub[255] |= 1;   /* a plausible modulus */
		assert_int_equal(sig_verify(s, pub, sig, msg, sizeof(msg)), -1);
		assert_int_equal(sig_verify(s, pub, good[i], msg, sizeof(msg)), -1);
	}

	/* Structured invalid keys. */
	struct {
		int scheme;
		uint8_t fill;
		int first;      /* -1: keep */
		int last;       /* -1: keep */
		int malformed;  /* 1: not a key at all (no PEM either) */
	} bad[] = {
		{ SIG_ED25519, 0x00, -1, -1, 0 },
		{ SIG_ED25519, 0xff, -1, -1, 0 },
		{ SIG_ECDSA_P256, 0x00, -1, -1, 1 },
		{ SIG_ECDSA_P256, 0xff, 0x02, -1, 1 },   /* x >= p */
		{ SIG_ECDSA_P256, 0xff, 0x03, -1, 1 },
		{ SIG_ECDSA_P256, 0x00, 0x02, -1, 0 },   /* x = 0 (may be on the curve) */
		{ SIG_ECDSA_P256, 0x11, 0x04, -1, 1 },   /* uncompressed prefix */
		{ SIG_ECDSA_P256, 0x11, 0x05, -1, 1 },
		{ SIG_ECDSA_P256, 0x11, 0x00, -1, 1 },
		{ SIG_RSA_PSS_2048, 0x00, -1, -1, 1 },
		{ SIG_RSA_PSS_2048, 0xff, -1, -1, 0 },   /* odd, 2048 bits: a (useless) key */
		{ SIG_RSA_PSS_2048, 0xff, 0x7f, -1, 1 }, /* 2047 bits */
		{ SIG_RSA_PSS_2048, 0x00, 0x00, 0x01, 1 },
		{ SIG_RSA_PSS_2048, 0x00, 0x80, 0x01, 0 },/* n = 2^2047 + 1 */
		{ SIG_RSA_PSS_2048, 0x55, 0xc0, 0x02, 1 },/* even */
	};
	for (size_t b = 0; b < ARRAY_LEN(bad); b++) {
		int i = bad[b].scheme - 1;
		memset(pub, bad[b].fill, sizeof(pub));
		if (bad[b].first >= 0)
			pub[0] = (uint8_t)bad[b].first;
		if (bad[b].last >= 0)
			pub[sig_pub_len(bad[b].scheme) - 1] = (uint8_t)bad[b].last;
		assert_int_equal(sig_verify(bad[b].scheme, pub, good[i], msg, sizeof(msg)), -1);
		memset(sig, 0, sizeof(sig));
		assert_int_equal(sig_verify(bad[b].scheme, pub, sig, msg, sizeof(msg)), -1);
		if (bad[b].malformed)
			assert_null(sig_pub_to_pem(bad[b].scheme, pub));
	}

	/* The real RSA modulus with its top bit cleared / made even. */
	memcpy(pub, sig_key_pub(keys[2]), 256);
	pub[0] &= 0x7f;
	assert_int_equal(sig_verify(SIG_RSA_PSS_2048, pub, good[2], msg, sizeof(msg)), -1);
	assert_null(sig_pub_to_pem(SIG_RSA_PSS_2048, pub));
	memcpy(pub, sig_key_pub(keys[2]), 256);
	pub[255] &= 0xfe;
	assert_int_equal(sig_verify(SIG_RSA_PSS_2048, pub, good[2], msg, sizeof(msg)), -1);

	/* An ed25519 key used as another scheme's key (shorter than it). */
	memset(pub, 0, sizeof(pub));
	memcpy(pub, sig_key_pub(keys[0]), 32);
	assert_int_equal(sig_verify(SIG_ECDSA_P256, pub, good[1], msg, sizeof(msg)), -1);
	assert_int_equal(sig_verify(SIG_RSA_PSS_2048, pub, good[2], msg, sizeof(msg)), -1);

	/* Degenerate signatures under valid keys. */
	static const char p256_n[] = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
	for (int i = 0; i < NSCHEMES; i++) {
		const uint8_t fills[] = { 0x00, 0xff };
		for (size_t f = 0; f < ARRAY_LEN(fills); f++) {
			memset(sig, fills[f], sizeof(sig));
			assert_int_equal(sig_verify(schemes[i], sig_key_pub(keys[i]), sig, msg, sizeof(msg)), -1);
		}
	}
	memcpy(sig, good[1], 64);
	unhex(sig, 32, p256_n);            /* r = n */
	assert_int_equal(sig_verify(SIG_ECDSA_P256, sig_key_pub(keys[1]), sig, msg, sizeof(msg)), -1);
	memcpy(sig, good[1], 64);
	memset(sig + 32, 0, 32);           /* s = 0 */
	assert_int_equal(sig_verify(SIG_ECDSA_P256, sig_key_pub(keys[1]), sig, msg, sizeof(msg)), -1);
	memcpy(sig, good[2], 256);
	memset(sig, 0xff, 1);              /* RSA signature >= n */
	assert_int_equal(sig_verify(SIG_RSA_PSS_2048, sig_key_pub(keys[2]), sig, msg, sizeof(msg)), -1);

	/* Rejections leave nothing in OpenSSL's error queue (where TLS code
	 * would misread it). */
	assert_int_equal(ERR_peek_error(), 0);

	/* The good ones still pass. */
	for (int i = 0; i < NSCHEMES; i++)
		assert_int_equal(sig_verify(schemes[i], sig_key_pub(keys[i]), good[i], msg, sizeof(msg)), 0);
}

/* ---- PEM ------------------------------------------------------------------ */

static void test_pem_private_roundtrip(void **state)
{
	(void)state;
	const uint8_t msg[] = "round trip";
	for (int i = 0; i < NSCHEMES; i++) {
		char err[256] = "";
		sig_key_t *k2 = NULL;
		uint8_t sig[SIG_MAX_SIG];
		char *pem = sig_key_to_pem(keys[i]);
		assert_non_null(pem);
		assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----\n"));
		assert_non_null(strstr(pem, "-----END PRIVATE KEY-----\n"));
		assert_int_equal(sig_key_from_pem(&k2, pem, strlen(pem), err, sizeof(err)), 0);
		assert_int_equal(sig_key_scheme(k2), schemes[i]);
		assert_memory_equal(sig_key_pub(k2), sig_key_pub(keys[i]), sig_pub_len(schemes[i]));
		assert_int_equal(sig_sign(k2, sig, msg, sizeof(msg)), 0);
		assert_int_equal(sig_verify(schemes[i], sig_key_pub(keys[i]), sig, msg, sizeof(msg)), 0);
		char *pem2 = sig_key_to_pem(k2);
		assert_string_equal(pem, pem2);
		/* The public half of a private PEM. */
		int scheme = 0;
		uint8_t pub[SIG_MAX_PUB];
		assert_int_equal(sig_pub_from_pem(&scheme, pub, pem, strlen(pem), err, sizeof(err)), 0);
		assert_int_equal(scheme, schemes[i]);
		assert_memory_equal(pub, sig_key_pub(keys[i]), sig_pub_len(schemes[i]));
		/* A public PEM is not a private key. */
		char *ppem = sig_pub_to_pem(schemes[i], sig_key_pub(keys[i]));
		sig_key_t *k3 = (sig_key_t *)&k3;
		err[0] = 0;
		assert_int_equal(sig_key_from_pem(&k3, ppem, strlen(ppem), err, sizeof(err)), -1);
		assert_null(k3);
		assert_non_null(strstr(err, "public key"));
		free(ppem);
		free(pem);
		free(pem2);
		sig_key_free(k2);
	}
}

static void test_pem_public_roundtrip(void **state)
{
	(void)state;
	for (int i = 0; i < NSCHEMES; i++) {
		char err[256];
		int scheme = 0;
		uint8_t pub[SIG_MAX_PUB];
		char *pem = sig_pub_to_pem(schemes[i], sig_key_pub(keys[i]));
		assert_non_null(pem);
		assert_int_equal(strncmp(pem, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
		memset(pub, 0, sizeof(pub));
		assert_int_equal(sig_pub_from_pem(&scheme, pub, pem, strlen(pem), err, sizeof(err)), 0);
		assert_int_equal(scheme, schemes[i]);
		assert_memory_equal(pub, sig_key_pub(keys[i]), sig_pub_len(schemes[i]));
		/* Surrounding text is tolerated (PEM files often carry it). */
		char *wrapped = xasprintf("comment line\n%s\ntrailing\n", pem);
		assert_int_equal(sig_pub_from_pem(&scheme, pub, wrapped, strlen(wrapped), err, sizeof(err)), 0);
		assert_memory_equal(pub, sig_key_pub(keys[i]), sig_pub_len(schemes[i]));
		free(wrapped);
		free(pem);
	}
	/* The SPKI of a P-256 key carries the uncompressed point (65 bytes). */
	char *pem = sig_pub_to_pem(SIG_ECDSA_P256, sig_key_pub(keys[1]));
	assert_int_equal(strlen(pem), 178);
	free(pem);
	assert_null(sig_pub_to_pem(0, sig_key_pub(keys[0])));
	assert_null(sig_pub_to_pem(4, sig_key_pub(keys[0])));
}

static void test_pem_garbage(void **state)
{
	(void)state;
	char *good = sig_key_to_pem(keys[1]);
	size_t glen = strlen(good);
	char *trunc = xstrndup(good, glen / 2);
	char *flipped = xstrdup(good);
	flipped[40] = flipped[40] == 'A' ? 'B' : 'A';
	char *nul_in = xstrdup(good);
	nul_in[30] = 0;
	const struct {
		const char *pem;
		size_t len;
	} bad[] = {
		{ "", 0 },
		{ "garbage", 7 },
		{ "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", 54 },
		{ "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 58 },
		{ trunc, strlen(trunc) },
		{ flipped, glen },
		{ nul_in, glen },
		{ good, 30 },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char err[256] = "";
		sig_key_t *k = NULL;
		int scheme = 0;
		uint8_t pub[SIG_MAX_PUB];
		assert_int_equal(sig_key_from_pem(&k, bad[i].pem, bad[i].len, err, sizeof(err)), -1);
		assert_null(k);
		assert_true(strlen(err) > 0);
		err[0] = 0;
		assert_int_equal(sig_pub_from_pem(&scheme, pub, bad[i].pem, bad[i].len, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
		/* err may be NULL. */
		assert_int_equal(sig_key_from_pem(&k, bad[i].pem, bad[i].len, NULL, 0), -1);
		assert_int_equal(ERR_peek_error(), 0);
	}
	/* The exact length is honoured: the good PEM parses from a larger buffer. */
	char *big = xasprintf("%s", good);
	sig_key_t *k = NULL;
	assert_int_equal(sig_key_from_pem(&k, big, glen, NULL, 0), 0);
	sig_key_free(k);
	free(big);
	free(good);
	free(trunc);
	free(flipped);
	free(nul_in);
}

/* ---- files ---------------------------------------------------------------- */

static void test_save_load_modes(void **state)
{
	(void)state;
	for (int i = 0; i < NSCHEMES; i++) {
		char err[512] = "";
		char *name = xasprintf("key-%s.pem", sig_scheme_name(schemes[i]));
		char *path = tmp_path(name);
		sig_key_t *k = NULL;
		struct stat st;
		int scheme = 0;
		uint8_t pub[SIG_MAX_PUB];

		assert_int_equal(sig_key_save(keys[i], path, err, sizeof(err)), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(sig_key_load(&k, path, err, sizeof(err)), 0);
		assert_memory_equal(sig_key_pub(k), sig_key_pub(keys[i]), sig_pub_len(schemes[i]));
		sig_key_free(k);
		assert_int_equal(sig_pub_load(&scheme, pub, path, err, sizeof(err)), 0);
		assert_int_equal(scheme, schemes[i]);
		assert_memory_equal(pub, sig_key_pub(keys[i]), sig_pub_len(schemes[i]));

		/* Saving again replaces the file, still 0600. */
		assert_int_equal(sig_key_save(keys[i], path, err, sizeof(err)), 0);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);

		static const struct {
			mode_t mode;
			int ok;
			const char *shown;
		} modes[] = {
			{ 0640, 0, "0640" }, { 0604, 0, "0604" }, { 0660, 0, "0660" },
			{ 0610, 0, "0610" }, { 0601, 0, "0601" }, { 0644, 0, "0644" },
			{ 0400, 1, NULL }, { 0600, 1, NULL }, { 0700, 1, NULL },
		};
		for (size_t m = 0; m < ARRAY_LEN(modes); m++) {
			assert_int_equal(chmod(path, modes[m].mode), 0);
			err[0] = 0;
			k = (sig_key_t *)&k;
			int rc = sig_key_load(&k, path, err, sizeof(err));
			if (modes[m].ok) {
				assert_int_equal(rc, 0);
				sig_key_free(k);
			} else {
				assert_int_equal(rc, -1);
				assert_null(k);
				assert_non_null(strstr(err, path));
				assert_non_null(strstr(err, modes[m].shown));
				/* The public half is still readable. */
				assert_int_equal(sig_pub_load(&scheme, pub, path, err, sizeof(err)), 0);
			}
		}
		free(name);
		free(path);
	}
	char err[512] = "";
	sig_key_t *k = NULL;
	char *missing = tmp_path("missing.pem");
	assert_int_equal(sig_key_load(&k, missing, err, sizeof(err)), -1);
	assert_non_null(strstr(err, missing));
	assert_int_equal(sig_key_load(&k, tmpdir, err, sizeof(err)), -1);   /* a directory */
	int scheme;
	uint8_t pub[SIG_MAX_PUB];
	assert_int_equal(sig_pub_load(&scheme, pub, missing, err, sizeof(err)), -1);
	/* Garbage file with a good mode: refused with the path in the message. */
	char *junk = tmp_path("junk.pem");
	assert_int_equal(file_write(junk, "not a key\n", 10, 0600, err, sizeof(err)), 0);
	assert_int_equal(sig_key_load(&k, junk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, junk));
	free(junk);
	free(missing);
}

/* ---- the verification cache ------------------------------------------------ */

/* More distinct keys than the cache holds, interleaved with invalid ones,
 * verified in several passes: eviction never gives a wrong answer. */
static void test_cache_eviction(void **state)
{
	(void)state;
	enum { N = 150 };
	sig_key_t **ks = xcalloc(N, sizeof(*ks));
	uint8_t (*sigs)[64] = xcalloc(N, 64);
	const uint8_t msg[] = "cache";
	for (int i = 0; i < N; i++) {
		ks[i] = sig_keygen(SIG_ECDSA_P256);
		assert_int_equal(sig_sign(ks[i], sigs[i], msg, sizeof(msg)), 0);
	}
	for (int pass = 0; pass < 3; pass++) {
		for (int i = 0; i < N; i++) {
			int j = (i * 7 + pass) % N;
			assert_int_equal(sig_verify(SIG_ECDSA_P256, sig_key_pub(ks[j]), sigs[j], msg, sizeof(msg)), 0);
			int o = (j + 1) % N;   /* someone else's signature */
			assert_int_equal(sig_verify(SIG_ECDSA_P256, sig_key_pub(ks[j]), sigs[o], msg, sizeof(msg)), -1);
			uint8_t bad[SIG_MAX_PUB];
			memcpy(bad, sig_key_pub(ks[j]), 33);
			bad[0] = 0x04;
			assert_int_equal(sig_verify(SIG_ECDSA_P256, bad, sigs[j], msg, sizeof(msg)), -1);
		}
		if (pass == 1)
			sig_verify_cache_flush();
	}
	sig_verify_cache_flush();
	sig_verify_cache_flush();   /* twice is fine */
	for (int i = 0; i < N; i++)
		sig_key_free(ks[i]);
	free(ks);
	free(sigs);
}

static const uint8_t thr_msg[] = "threads";
static uint8_t thr_sig[NSCHEMES][SIG_MAX_SIG];   /* signed before the threads start */

typedef struct {
	int idx;
	int failures;
} thr_arg_t;

/* Verifies good and bad signatures of every scheme; each thread fills and
 * frees its own cache (the destructor runs at thread exit: ASan would see
 * a leak otherwise). */
static void *verify_thread(void *p)
{
	thr_arg_t *a = p;
	uint8_t sig[NSCHEMES][SIG_MAX_SIG];
	memcpy(sig, thr_sig, sizeof(sig));
	for (int r = 0; r < 60; r++) {
		int i = (r + a->idx) % NSCHEMES;
		if (sig_verify(schemes[i], sig_key_pub(keys[i]), sig[i], thr_msg, sizeof(thr_msg)) != 0)
			a->failures++;
		sig[i][5] ^= 1;
		if (sig_verify(schemes[i], sig_key_pub(keys[i]), sig[i], thr_msg, sizeof(thr_msg)) != -1)
			a->failures++;
		sig[i][5] ^= 1;
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	enum { T = 4 };
	pthread_t th[T];
	thr_arg_t args[T];
	for (int i = 0; i < NSCHEMES; i++)
		assert_int_equal(sig_sign(keys[i], thr_sig[i], thr_msg, sizeof(thr_msg)), 0);
	for (int t = 0; t < T; t++) {
		args[t] = (thr_arg_t){ .idx = t };
		assert_int_equal(pthread_create(&th[t], NULL, verify_thread, &args[t]), 0);
	}
	for (int t = 0; t < T; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < T; t++)
		assert_int_equal(args[t].failures, 0);
}

static void test_bench(void **state)
{
	(void)state;
	assert_true(sig_bench_verify(SIG_ED25519, 0.02) > 0);
	assert_true(sig_bench_verify(SIG_ECDSA_P256, 0.02) > 0);
	assert_true(sig_bench_verify(0, 0.02) == 0);
	assert_true(sig_bench_verify(SIG_ED25519, 0) == 0);
	assert_true(sig_bench_verify_many(SIG_ED25519, 0.02) > 0);
	assert_true(sig_bench_verify_many(SIG_RSA_PSS_2048, 0.02) > 0);   /* 0 if one failed */
	assert_true(sig_bench_verify_many(0, 0.02) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scheme_table),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_pem_known_answer),
		cmocka_unit_test(test_openssl_signatures),
		cmocka_unit_test(test_sign_verify_tamper),
		cmocka_unit_test(test_wrong_key_same_scheme),
		cmocka_unit_test(test_garbage_keys),
		cmocka_unit_test(test_pem_private_roundtrip),
		cmocka_unit_test(test_pem_public_roundtrip),
		cmocka_unit_test(test_pem_garbage),
		cmocka_unit_test(test_save_load_modes),
		cmocka_unit_test(test_cache_eviction),
		cmocka_unit_test(test_pub_pem_cache),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
