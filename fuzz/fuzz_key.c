/*
 * fuzz_key.c — libFuzzer harness for sig.c: the input is parsed as a PEM
 * private key (sig_key_from_pem) and as a PEM public key
 * (sig_pub_from_pem), and its first bytes are used as a raw public key
 * and signature of every scheme (sig_verify).  Besides "never crash", it
 * checks invariants: an accepted private key signs something its own
 * public key verifies and survives a PEM round trip; an accepted public
 * key survives an SPKI round trip.
 *
 * Seeds: fuzz/corpus/key/ (PEM keys of every scheme, private and public,
 * ours and the openssl CLI's, plus raw pub||sig||msg records).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sig.h"

static const int schemes[] = { SIG_ED25519, SIG_ECDSA_P256, SIG_RSA_PSS_2048 };

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_key: invariant broken: %s\n", what);
		abort();
	}
}

static void fuzz_private(const uint8_t *data, size_t size)
{
	char err[256];
	sig_key_t *k = NULL, *k2 = NULL;
	int scheme = 0;
	uint8_t pub[SIG_MAX_PUB], sig[SIG_MAX_SIG];

	if (sig_key_from_pem(&k, (const char *)data, size, err, sizeof(err)) < 0) {
		check(k == NULL, "failed parse left a key");
		return;
	}
	int s = sig_key_scheme(k);
	size_t pl = sig_pub_len(s);
	check(sig_scheme_valid(s), "accepted key has a valid scheme");
	/* RSA signing costs ~1 ms and loading already self-tested it. */
	if (s != SIG_RSA_PSS_2048) {
		check(sig_sign(k, sig, data, size) == 0, "accepted key signs");
		check(sig_verify(s, sig_key_pub(k), sig, data, size) == 0, "own signature verifies");
	}
	char *pem = sig_key_to_pem(k);
	check(pem != NULL, "accepted key re-encodes");
	check(sig_pub_from_pem(&scheme, pub, pem, strlen(pem), err, sizeof(err)) == 0,
	      "re-encoded private PEM yields a public key");
	check(scheme == s && memcmp(pub, sig_key_pub(k), pl) == 0, "public half survives");
	if (s != SIG_RSA_PSS_2048) {
		check(sig_key_from_pem(&k2, pem, strlen(pem), err, sizeof(err)) == 0,
		      "re-encoded private PEM parses");
		check(memcmp(sig_key_pub(k2), sig_key_pub(k), pl) == 0, "private round trip");
	}
	free(pem);
	sig_key_free(k2);
	sig_key_free(k);
}

static void fuzz_public(const uint8_t *data, size_t size)
{
	char err[256];
	int scheme = 0, s2 = 0;
	uint8_t pub[SIG_MAX_PUB], pub2[SIG_MAX_PUB];

	if (sig_pub_from_pem(&scheme, pub, (const char *)data, size, err, sizeof(err)) < 0)
		return;
	check(sig_scheme_valid(scheme), "accepted public key has a valid scheme");
	char *pem = sig_pub_to_pem(scheme, pub);
	check(pem != NULL, "accepted public key re-encodes");
	check(sig_pub_from_pem(&s2, pub2, pem, strlen(pem), err, sizeof(err)) == 0, "SPKI re-parses");
	check(s2 == scheme && memcmp(pub, pub2, sig_pub_len(scheme)) == 0, "SPKI round trip");
	free(pem);
}

/* The input as pub || sig || msg for every scheme (zero-padded when short). */
static void fuzz_raw(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		int s = schemes[i];
		size_t pl = sig_pub_len(s), sl = sig_sig_len(s);
		uint8_t pub[SIG_MAX_PUB] = { 0 }, sig[SIG_MAX_SIG] = { 0 };
		size_t n = size < pl ? size : pl;
		memcpy(pub, data, n);
		size_t m = size - n < sl ? size - n : sl;
		memcpy(sig, data + n, m);
		/* The result is whatever it is; only the absence of crashes,
		 * leaks and sanitizer reports matters here. */
		int r = sig_verify(s, pub, sig, data + n + m, size - n - m);
		check(r == 0 || r == -1, "sig_verify returns 0 or -1");
		char *pem = sig_pub_to_pem(s, pub);
		free(pem);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_private(data, size);
	fuzz_public(data, size);
	fuzz_raw(data, size);
	return 0;
}
