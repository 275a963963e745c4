/*
 * fuzz_proof.c — libFuzzer harness for inclusion-proof bundles
 * (ledger/proof.h): any input is decoded or refused with a reason, never
 * a crash; a decoded bundle is checked against a fixed one-provider
 * genesis (which it must not pass unless it really is that chain's) and
 * rendered as JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "ledger/genesis.h"
#include "ledger/proof.h"
#include "lib/sig.h"

static genesis_t G;
static int have_g;

static void init_genesis(void)
{
	uint8_t seed[32];
	char err[256];
	memset(seed, 7, sizeof(seed));
	sig_key_t *k = sig_key_from_ed25519_seed(seed);
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *root = json_pack("{s:i,s:s,s:I,s:[{s:s,s:[s],s:s,s:s,s:s,s:s,s:s}]}", "version", 1,
				 "name", "fuzz", "created_ms", (json_int_t)1763700000000, "providers",
				 "name", "p0", "domains", "p0", "node_key", pem, "orchestrator_key", pem,
				 "admin_key", pem, "peer", "127.0.0.1:7100", "api", "https://127.0.0.1:7200");
	char *text = json_dumps(root, JSON_COMPACT);
	if (!text || genesis_parse(&G, (const uint8_t *)text, strlen(text), err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_proof: genesis: %s\n", err);
		abort();
	}
	have_g = 1;
	free(text);
	json_decref(root);
	free(pem);
	sig_key_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	proof_t p;
	char err[256];
	if (!have_g)
		init_genesis();
	err[0] = 0;
	if (proof_decode(&p, data, size, err, sizeof(err)) != 0) {
		if (!err[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	err[0] = 0;
	if (proof_check(&p, &G, err, sizeof(err)) != 0 && !err[0])
		abort();
	json_t *j = proof_to_json(&p);
	json_decref(j);
	proof_clear(&p);
	return 0;
}
