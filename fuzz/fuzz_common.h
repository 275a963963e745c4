/*
 * fuzz_common.h — a fixed consortium for the harnesses that need one
 * (fuzz_cert, fuzz_api): 4 providers p0..p3 and one tenant `demo' granted
 * everything in every domain, all keys derived from fixed Ed25519 seeds,
 * so seeds made with the *_MAKE_SEED builds stay valid.  Header-only: each
 * harness is one translation unit.
 */
#ifndef BSEC_FUZZ_COMMON_H
#define BSEC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "lib/sig.h"

#define FZ_NPROV 4
#define FZ_TS 1763700000000ull

static genesis_t FZ_G;
static sig_key_t *FZ_NODE[FZ_NPROV], *FZ_TENANT;

static sig_key_t *fz_seeded(uint8_t tag)
{
	uint8_t seed[32];
	memset(seed, tag, sizeof(seed));
	return sig_key_from_ed25519_seed(seed);
}

static json_t *fz_pem_json(const sig_key_t *k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *j = json_string(pem);
	free(pem);
	return j;
}

/* Builds FZ_G (aborts if the fixed genesis does not parse). */
static void fz_setup(void)
{
	char err[256];
	json_t *provs = json_array(), *grants = json_array();
	for (int i = 0; i < FZ_NPROV; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		FZ_NODE[i] = fz_seeded((uint8_t)(1 + i));
		sig_key_t *o = fz_seeded((uint8_t)(20 + i)), *a = fz_seeded((uint8_t)(40 + i));
		json_array_append_new(provs, json_pack("{s:s,s:[s],s:o,s:o,s:o,s:s,s:s}", "name", name,
			"domains", name, "node_key", fz_pem_json(FZ_NODE[i]), "orchestrator_key", fz_pem_json(o),
			"admin_key", fz_pem_json(a), "peer", "127.0.0.1:7100", "api", "https://127.0.0.1:7200"));
		json_array_append_new(grants, json_pack("{s:s,s:s,s:i}", "domain", name, "ops", "*", "rate_per_min", 1000));
		sig_key_free(o);
		sig_key_free(a);
	}
	FZ_TENANT = fz_seeded(99);
	json_t *root = json_pack("{s:i,s:s,s:I,s:o,s:[{s:s,s:o,s:o}]}", "version", 1, "name", "fuzz", "created_ms",
				 (json_int_t)FZ_TS, "providers", provs, "tenants", "name", "demo", "key",
				 fz_pem_json(FZ_TENANT), "grants", grants);
	char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (genesis_parse(&FZ_G, (const uint8_t *)text, strlen(text), err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz genesis: %s\n", err);
		abort();
	}
	free(text);
	json_decref(root);
}

#endif
