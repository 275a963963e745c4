/*
 * fuzz_ed25519v.c — differential libFuzzer harness for the Ed25519
 * verifier (lib/ed25519v.h) against libsodium.  The first byte picks the
 * mode: raw (key, signature and message straight from the input), or a
 * genuine signature by a fixed key over the message with the input's next
 * 96 bytes XORed onto key || signature (so most runs sit next to a valid
 * signature).  Invariants, each violation abort()s:
 *   - whatever libsodium accepts, ed25519v_verify accepts;
 *   - a batch of that one item, and a batch with valid signatures around
 *     it, give the same verdict as ed25519v_verify;
 *   - sig_verify gives that verdict too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/ed25519v.h"
#include "lib/sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t g_pk[32], g_sk[64], g_other_pk[32], g_other_sig[2][64];
static const uint8_t g_other_msg[2][8] = { "first", "second" };
static int g_ready;

static void setup(void)
{
	uint8_t seed[32], osk[64];
	if (sodium_init() < 0)
		abort();
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(g_pk, g_sk, seed);
	memset(seed, 9, sizeof(seed));
	crypto_sign_seed_keypair(g_other_pk, osk, seed);
	for (int i = 0; i < 2; i++)
		crypto_sign_detached(g_other_sig[i], NULL, g_other_msg[i], sizeof(g_other_msg[i]), osk);
	g_ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t pub[32], sig[64];
	const uint8_t *msg;
	size_t len;

	if (!g_ready)
		setup();
	if (size < 1 + 96)
		return 0;
	if (data[0] & 1) {
		memcpy(pub, data + 1, 32);
		memcpy(sig, data + 33, 64);
	} else {
		memcpy(pub, g_pk, 32);
		crypto_sign_detached(sig, NULL, data + 97, size - 97, g_sk);
		for (int i = 0; i < 32; i++)
			pub[i] ^= data[1 + i];
		for (int i = 0; i < 64; i++)
			sig[i] ^= data[33 + i];
	}
	msg = data + 97;
	len = size - 97;
	/* a private copy of the message, so ASan catches a read past it */
	uint8_t *m = malloc(len ? len : 1);
	memcpy(m, msg, len);

	int sodium = crypto_sign_verify_detached(sig, m, len, pub) == 0;
	int own = ed25519v_verify(pub, sig, m, len) == 0;
	if (sodium && !own)
		abort();
	ed25519v_item_t one = { pub, sig, m, len };
	if ((ed25519v_verify_batch(&one, 1) == 0) != own)
		abort();
	ed25519v_item_t many[5] = {
		{ g_other_pk, g_other_sig[0], g_other_msg[0], sizeof(g_other_msg[0]) },
		{ pub, sig, m, len },
		{ g_other_pk, g_other_sig[1], g_other_msg[1], sizeof(g_other_msg[1]) },
		{ g_other_pk, g_other_sig[0], g_other_msg[0], sizeof(g_other_msg[0]) },
		{ g_other_pk, g_other_sig[1], g_other_msg[1], sizeof(g_other_msg[1]) },
	};
	if ((ed25519v_verify_batch(many, 5) == 0) != own)
		abort();
	if ((sig_verify(SIG_ED25519, pub, sig, m, len) == 0) != own)
		abort();
	sig_item_t si[5];
	uint8_t bad[5];
	for (int i = 0; i < 5; i++)
		si[i] = (sig_item_t){ SIG_ED25519, many[i].pub, many[i].sig, many[i].msg, many[i].len };
	if (sig_verify_many(si, 5, bad) != (size_t)!own || bad[1] != !own)
		abort();
	free(m);
	return 0;
}
