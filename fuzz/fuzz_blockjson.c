/*
 * fuzz_blockjson.c — libFuzzer harness for what the orchestrator reads
 * from a node: the JSON of a committed block (GET /v1/blocks?txs=1),
 * checked by follow_block_parse against a fixed 4-provider genesis built
 * from deterministic keys.  Any input must be accepted or refused with a
 * reason, never crash or leak; an accepted block must be exactly the
 * expected height, link to the genesis and carry a valid certificate.
 *
 * Built with -DBLOCKJSON_MAKE_SEED (and a plain main) it prints a valid
 * block 1 for that genesis: the seeds in fuzz/corpus/blockjson/
 * (valid_block1.json: a version 1 header, valid_block2.json: version 2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "orchestrator/follow.h"

#define NPROV 4
#define TS 1763700000000ull

static genesis_t G;
static sig_key_t *NODE[NPROV], *TENANT;

static json_t *pem_json(const sig_key_t *k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *j = json_string(pem);
	free(pem);
	return j;
}

static sig_key_t *seeded(uint8_t tag)
{
	uint8_t seed[32];
	memset(seed, tag, sizeof(seed));
	return sig_key_from_ed25519_seed(seed);
}

static void setup(void)
{
	char err[256];
	json_t *provs = json_array();
	for (int i = 0; i < NPROV; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		NODE[i] = seeded((uint8_t)(1 + i));
		sig_key_t *o = seeded((uint8_t)(20 + i)), *a = seeded((uint8_t)(40 + i));
		json_array_append_new(provs, json_pack("{s:s,s:[s],s:o,s:o,s:o,s:s,s:s}", "name", name,
			"domains", name, "node_key", pem_json(NODE[i]), "orchestrator_key", pem_json(o),
			"admin_key", pem_json(a), "peer", "127.0.0.1:7100", "api", "https://127.0.0.1:7200"));
		sig_key_free(o);
		sig_key_free(a);
	}
	TENANT = seeded(99);
	json_t *root = json_pack("{s:i,s:s,s:I,s:o,s:[{s:s,s:o,s:[{s:s,s:s}]}]}", "version", 1, "name",
		"fuzz", "created_ms", (json_int_t)TS, "providers", provs, "tenants", "name", "demo", "key",
		pem_json(TENANT), "grants", "domain", "p1", "ops", "*");
	char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (genesis_parse(&G, (const uint8_t *)text, strlen(text), err, sizeof(err)) < 0)
		abort();
	free(text);
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)data, size, 0, &je);
	if (!j)
		return 0;
	block_t b;
	char err[512] = "";
	if (follow_block_parse(&b, j, &G, 1, G.chain_id, err, sizeof(err)) == 0) {
		if (b.hdr.height != 1 || memcmp(b.hdr.prev_hash, G.chain_id, BSEC_HASH_BYTES))
			abort();
		block_clear(&b);
	} else if (!err[0]) {
		abort(); /* a refusal always says why */
	}
	json_decref(j);
	return 0;
}

#ifdef BLOCKJSON_MAKE_SEED
int main(void)
{
	char err[256];
	setup();
	block_t b;
	cert_t c;
	memset(&b, 0, sizeof(b));
	memcpy(b.hdr.chain_id, G.chain_id, BSEC_HASH_BYTES);
	b.hdr.height = 1;
	memcpy(b.hdr.prev_hash, G.chain_id, BSEC_HASH_BYTES);
	b.hdr.timestamp_ms = TS + 1000;
	b.hdr.proposer = 1;
	b.hdr.tx_count = 2;
	b.txs = calloc(2, sizeof(tx_t));
	const char *ins[2] = { "vm create a", "vnf create fw --type firewall --vm a" };
	for (int i = 0; i < 2; i++) {
		tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = TS + 1000, .nonce = (uint32_t)(i + 1),
				  .domain = "p1", .instruction = ins[i] };
		if (tx_build(&b.txs[i], &f, TENANT, G.chain_id, err, sizeof(err)) < 0)
			return 1;
	}
	if (block_seal(&b, NODE[1]) < 0)
		return 1;
	size_t len;
	c.view = 0;
	c.n = 3;
	c.sigs = calloc(3, sizeof(cert_sig_t));
	uint8_t *msg = commit_signed_bytes(G.chain_id, 0, 1, b.hdr.hash, &len);
	for (int i = 0; i < 3; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = 64;
		if (sig_sign(NODE[i], c.sigs[i].sig, msg, len) < 0)
			return 1;
	}
	free(msg);
	json_t *txs = json_array();
	for (int i = 0; i < 2; i++)
		json_array_append_new(txs, tx_to_json(&b.txs[i], G.chain_id));
	json_t *o = json_pack("{s:i,s:o,s:o,s:o}", "height", 1, "header", block_header_to_json(&b.hdr),
			      "certificate", cert_to_json(&c), "txs", txs);
	char *s = json_dumps(o, JSON_COMPACT);
	if (LLVMFuzzerTestOneInput((const uint8_t *)s, strlen(s)) != 0)
		return 1;
	json_t *back = json_loads(s, 0, NULL);
	block_t chk;
	if (follow_block_parse(&chk, back, &G, 1, G.chain_id, err, sizeof(err)) < 0) {
		fprintf(stderr, "seed does not verify: %s\n", err);
		return 1;
	}
	puts(s);
	return 0;
}
#endif
