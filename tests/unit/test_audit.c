/*
 * test_audit.c — audit and accountability (docs/audit.md) on a 4-provider
 * chain with real keys, blocks and certificates:
 *   ATTEST txs: encoding, JSON, truncations, validation (sender, heights),
 *     state (last per domain, undo, persisted and reloaded by the store);
 *   the auditor's walk counts bound responses and attestations, and feeds
 *     observers;
 *   inclusion-proof bundles: built from the store, checked offline, and
 *     EVERY single-byte change (three flips per byte), every truncation, a
 *     trailing byte, another consortium's genesis and another consortium's
 *     certificate are refused with a reason — never a false "valid";
 *   history by object / tenant / domain with paging at block boundaries;
 *   accountability: ok / failed / unanswered past the deadline, percentiles,
 *     the responsible provider;
 *   drift: a sim platform against the verified ledger, the attestation that
 *     last matched and the first after it that did not, missing and
 *     unexpected objects after the platform's file is changed behind BSec.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>

#include "lib/util.h"
#include "lib/sig.h"
#include "lib/hash.h"
#include "ledger/tx.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/state.h"
#include "ledger/validate.h"
#include "ledger/store.h"
#include "ledger/audit.h"
#include "ledger/attest.h"
#include "ledger/proof.h"
#include "ledger/history.h"
#include "audit/drift.h"
#include "orchestrator/driver.h"

#define NPROV 4
#define BASE_TS 1763700000000ull

typedef struct {
	char root[256], dir[300];
	genesis_t g;
	sig_key_t *node[NPROV], *orch[NPROV], *admin[NPROV];
	sig_key_t *t1;
	state_t *live;
	uint8_t r1[32], r2[32], r3[32], r4[32], r5[32], resp2[32];
	uint8_t att_match[32], att_bad[32];
} world_t;

static world_t W;

static uint64_t bts(uint64_t h)
{
	return BASE_TS + h * 1000;
}

static json_t *pem_json(const sig_key_t *k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *j = json_string(pem);
	free(pem);
	return j;
}

/* DIR/genesis.json for keys node/orch/admin; created_ms varies the chain. */
static void write_genesis(const char *dir, sig_key_t *const *node, sig_key_t *const *orch,
			  sig_key_t *const *admin, uint64_t created_ms)
{
	char err[256];
	json_t *root = json_object(), *provs = json_array();
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "name", json_string("audit-test"));
	json_object_set_new(root, "created_ms", json_integer((json_int_t)created_ms));
	json_object_set_new(root, "params",
			    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "timestamp_window_ms", (json_int_t)60000,
				      "view_timeout_ms", (json_int_t)2000, "max_block_txs", (json_int_t)4096,
				      "max_block_bytes", (json_int_t)4194304, "checkpoint_interval",
				      (json_int_t)100, "request_timeout_ms", (json_int_t)4000));
	for (int i = 0; i < NPROV; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		json_array_append_new(provs, json_pack("{s:s,s:[s],s:o,s:o,s:o,s:s,s:s}", "name", name,
						       "domains", name, "node_key", pem_json(node[i]),
						       "orchestrator_key", pem_json(orch[i]), "admin_key",
						       pem_json(admin[i]), "peer", "127.0.0.1:7100", "api",
						       "https://127.0.0.1:7200"));
	}
	json_object_set_new(root, "providers", provs);
	json_object_set_new(root, "tenants",
			    json_pack("[{s:s,s:o,s:[{s:s,s:s},{s:s,s:s}]}]", "name", "demo", "key",
				      pem_json(W.t1), "grants", "domain", "p0", "ops", "*", "domain", "p1",
				      "ops", "*"));
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *path = xasprintf("%s/genesis.json", dir);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(file_write(path, text, strlen(text), 0644, err, sizeof(err)), 0);
	free(path);
	free(text);
	json_decref(root);
}

static void mk_tx(tx_t *tx, const tx_fields_t *f, const sig_key_t *k)
{
	char err[256];
	if (tx_build(tx, f, k, W.g.chain_id, err, sizeof(err)) < 0)
		fail_msg("tx_build: %s", err);
}

static void mk_request(tx_t *tx, const char *domain, const char *instr, uint64_t ts)
{
	tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = ts, .domain = domain, .instruction = instr };
	mk_tx(tx, &f, W.t1);
}

static void mk_response(tx_t *tx, int p, const uint8_t *req, int status, uint64_t ts)
{
	tx_fields_t f = { .type = TX_RESPONSE, .timestamp_ms = ts, .request_id = req,
			  .status = (uint8_t)status, .result = status ? "" : "done",
			  .error = status ? "no capacity" : "" };
	mk_tx(tx, &f, W.orch[p]);
}

static void mk_attest(tx_t *tx, const sig_key_t *k, const char *domain, uint64_t height,
		      uint32_t objects, uint32_t problems, const uint8_t *digest, uint64_t ts)
{
	tx_fields_t f = { .type = TX_ATTEST, .timestamp_ms = ts, .domain = domain, .att_height = height,
			  .att_objects = objects, .att_problems = problems, .att_digest = digest };
	mk_tx(tx, &f, k);
}

/* Block h over txs (moved in), sealed by `proposer`, certified by nodes
 * 0..quorum-1 with keys `signers` under chain cid. */
static void mk_block(block_t *b, cert_t *c, uint64_t h, const uint8_t prev[32], uint64_t ts,
		     uint16_t proposer, tx_t *txs, uint32_t n, sig_key_t *const *signers,
		     const uint8_t *cid)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->hdr.chain_id, W.g.chain_id, 32);
	b->hdr.height = h;
	memcpy(b->hdr.prev_hash, prev, 32);
	b->hdr.timestamp_ms = ts;
	b->hdr.proposer = proposer;
	b->hdr.tx_count = n;
	b->txs = xcalloc(n ? n : 1, sizeof(tx_t));
	memcpy(b->txs, txs, n * sizeof(tx_t));
	assert_int_equal(block_seal(b, W.node[proposer]), 0);
	size_t q = genesis_quorum(&W.g), len;
	c->view = 0;
	c->n = (uint16_t)q;
	c->sigs = xcalloc(q, sizeof(cert_sig_t));
	uint8_t *msg = commit_signed_bytes(cid, 0, h, b->hdr.hash, &len);
	for (size_t i = 0; i < q; i++) {
		c->sigs[i].node = (uint16_t)i;
		c->sigs[i].sig_len = 64;
		assert_int_equal(sig_sign(signers[i], c->sigs[i].sig, msg, len), 0);
	}
	free(msg);
}

static void commit(store_t *s, tx_t *txs, uint32_t n)
{
	block_t b;
	cert_t c;
	char err[512];
	uint64_t h = store_height(s) + 1;
	mk_block(&b, &c, h, store_tip_hash(s), bts(h), (uint16_t)(h % NPROV), txs, n, W.node, W.g.chain_id);
	state_begin_block(W.live, h, bts(h));
	for (uint32_t i = 0; i < n; i++) {
		verdict_t v;
		verr_t r = validate_tx(W.live, &b.txs[i], bts(h), &v);
		if (r != V_OK)
			fail_msg("block %llu tx %u: %s: %s", (unsigned long long)h, i, verr_name(r), v.msg);
		state_apply_tx(W.live, &b.txs[i]);
	}
	if (store_append(s, &b, NULL, 0, &c, W.live, err, sizeof(err)) < 0)
		fail_msg("store_append: %s", err);
	state_forget_undo(W.live);
	block_clear(&b);
	cert_clear(&c);
}

static void build_chain(void)
{
	char err[512];
	store_t *s;
	tx_t t[4];
	uint8_t dg[32];
	uint32_t n;

	assert_int_equal(store_open(&s, W.dir, &W.g, 0, err, sizeof(err)), 0);
	W.live = state_new(&W.g);
	/* 1: three requests */
	mk_request(&t[0], "p0", "vm create vm1", bts(1) - 9);
	mk_request(&t[1], "p0", "vnf create fw1 --type firewall", bts(1) - 8);
	mk_request(&t[2], "p1", "vm create db1", bts(1) - 7);
	memcpy(W.r1, t[0].id, 32);
	memcpy(W.r2, t[1].id, 32);
	memcpy(W.r3, t[2].id, 32);
	commit(s, t, 3);
	/* 2: their responses, one an error */
	mk_response(&t[0], 0, W.r1, TX_STATUS_OK, bts(2) - 9);
	mk_response(&t[1], 0, W.r2, TX_STATUS_ERROR, bts(2) - 8);
	mk_response(&t[2], 1, W.r3, TX_STATUS_OK, bts(2) - 7);
	memcpy(W.resp2, t[1].id, 32);
	commit(s, t, 3);
	/* 3: p0 attests the state at height 2 truthfully; another request */
	attest_expected(W.att_match, W.live, "p0", &n);
	assert_int_equal(n, 1);
	mk_attest(&t[0], W.orch[0], "p0", 2, n, 0, W.att_match, bts(3) - 9);
	mk_request(&t[1], "p0", "vnf create fw2 --type firewall --vm vm1", bts(3) - 8);
	memcpy(W.r4, t[1].id, 32);
	commit(s, t, 2);
	/* 4: fw2 answered; a p1 request that will never be */
	mk_response(&t[0], 0, W.r4, TX_STATUS_OK, bts(4) - 9);
	mk_request(&t[1], "p1", "vm create db2", bts(4) - 8);
	memcpy(W.r5, t[1].id, 32);
	commit(s, t, 2);
	/* 5: p0 attests a platform without fw2 (drift); p1 truthfully */
	attest_entry_t only_vm1 = { OBJ_VM, "vm1", "vm create vm1", 1 };
	attest_digest(W.att_bad, &only_vm1, 1);
	mk_attest(&t[0], W.orch[0], "p0", 4, 1, 0, W.att_bad, bts(5) - 9);
	attest_expected(dg, W.live, "p1", &n);
	assert_int_equal(n, 1); /* db1; db2 is still being created */
	mk_attest(&t[1], W.orch[1], "p1", 4, n, 0, dg, bts(5) - 8);
	commit(s, t, 2);
	store_close(s);
}

static int setup(void **state)
{
	(void)state;
	char err[256];
	for (int i = 0; i < NPROV; i++) {
		W.node[i] = sig_keygen(SIG_ED25519);
		W.orch[i] = sig_keygen(SIG_ED25519);
		W.admin[i] = sig_keygen(SIG_ED25519);
	}
	W.t1 = sig_keygen(SIG_ED25519);
	snprintf(W.root, sizeof(W.root), "/tmp/bsec-test-audit-%d", (int)getpid());
	snprintf(W.dir, sizeof(W.dir), "%s/chain", W.root);
	write_genesis(W.dir, W.node, W.orch, W.admin, BASE_TS);
	char *gp = xasprintf("%s/genesis.json", W.dir);
	if (genesis_load(&W.g, gp, err, sizeof(err)) < 0)
		fail_msg("genesis: %s", err);
	free(gp);
	build_chain();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf %s", W.root);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup failed: %s\n", cmd);
	free(cmd);
	state_free(W.live);
	genesis_free(&W.g);
	for (int i = 0; i < NPROV; i++) {
		sig_key_free(W.node[i]);
		sig_key_free(W.orch[i]);
		sig_key_free(W.admin[i]);
	}
	sig_key_free(W.t1);
	return 0;
}

/* ---- ATTEST txs ---- */

static void test_attest_codec(void **unused)
{
	(void)unused;
	uint8_t dg[32], cid[32] = { 7 };
	char err[256];
	tx_t a, b;
	memset(dg, 0xab, sizeof(dg));
	tx_fields_t f = { .type = TX_ATTEST, .timestamp_ms = BASE_TS, .nonce = 5, .domain = "p2",
			  .att_height = 77, .att_objects = 9, .att_problems = 2, .att_digest = dg };
	assert_int_equal(tx_build(&a, &f, W.orch[2], cid, err, sizeof(err)), 0);
	/* version, type, ts, nonce, scheme+key, str8 domain, u64, u32, u32, 32, signature */
	assert_int_equal(a.raw_len, 1 + 1 + 8 + 4 + 33 + 3 + 8 + 4 + 4 + 32 + 64);
	assert_int_equal(tx_decode(&b, a.raw, a.raw_len, cid, err, sizeof(err)), 0);
	assert_int_equal(b.type, TX_ATTEST);
	assert_int_equal(b.att_height, 77);
	assert_int_equal(b.att_objects, 9);
	assert_int_equal(b.att_problems, 2);
	assert_memory_equal(b.att_digest, dg, 32);
	assert_int_equal(b.domain_len, 2);
	assert_int_equal(tx_verify_sig(&b, cid), 0);
	assert_string_equal(tx_type_name(TX_ATTEST), "attest");
	assert_int_equal(tx_type_parse("attest"), TX_ATTEST);
	json_t *j = tx_to_json(&b, cid);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "attest");
	assert_int_equal(json_integer_value(json_object_get(j, "attested_height")), 77);
	assert_int_equal(json_integer_value(json_object_get(j, "problems")), 2);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "digest"))), 64);
	json_decref(j);
	verdict_t v;
	assert_int_equal(validate_fields(&b, &v), V_OK);
	tx_clear(&b);
	/* every truncation and a trailing byte are refused with an offset */
	uint8_t *x = xmalloc(a.raw_len + 1);
	memcpy(x, a.raw, a.raw_len);
	for (size_t n = 0; n <= a.raw_len + 1; n++) {
		if (n == a.raw_len)
			continue;
		err[0] = 0;
		assert_int_equal(tx_decode(&b, x, n, cid, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "offset"));
	}
	/* problems > objects: refused by the decoder and by tx_build */
	size_t at = a.content_len - 32 - 4;
	x[at + 3] = 10;
	assert_int_equal(tx_decode(&b, x, a.raw_len, cid, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more problems than objects"));
	f.att_problems = 10;
	assert_int_equal(tx_build(&b, &f, W.orch[2], cid, err, sizeof(err)), -1);
	/* an invalid domain name fails rule 2 */
	f.att_problems = 0;
	f.domain = "P2!";
	assert_int_equal(tx_build(&b, &f, W.orch[2], cid, err, sizeof(err)), 0);
	assert_int_equal(validate_fields(&b, &v), V_MALFORMED);
	tx_clear(&b);
	free(x);
	tx_clear(&a);
}

/* Known answer: Ed25519 from a seed of 5s is deterministic, so the
 * encoding, id and signature of this ATTEST are fixed (the same
 * conventions as tests/vectors/tx_vectors.json: chain_id =
 * SHA-256("bsec-test-vectors")). */
static void test_attest_vector(void **unused)
{
	(void)unused;
	static const char RAW[] =
		"01040000019aa4b646f400000005016e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd"
		"80505bf102703300000000000004d2000000030000000196f5825b3a7d0e1248f0bc8d98d5481674a3d788"
		"5c5c15a3cdff8ffa0de439f89071d4d815ba2123cfa3a1174ab7c181def4cf5b43d164fe188d8aba25dd5e"
		"0cabb179cefdf90b5230fe7d18d6f7eaabaa9ff42ac80b39433410223478aba103";
	static const char ID[] = "95db1619764858176390c6ae12ed93897df7df74cf39b92d6845f461a94542fa";
	uint8_t seed[32], cid[32], dg[32];
	char err[256];
	tx_t tx;
	memset(seed, 5, sizeof(seed));
	hash_sha256(cid, "bsec-test-vectors", 17);
	hash_sha256(dg, "bsec attest vector", 18);
	sig_key_t *k = sig_key_from_ed25519_seed(seed);
	tx_fields_t f = { .type = TX_ATTEST, .timestamp_ms = 1763700000500ull, .nonce = 5, .domain = "p3",
			  .att_height = 1234, .att_objects = 3, .att_problems = 1, .att_digest = dg };
	assert_int_equal(tx_build(&tx, &f, k, cid, err, sizeof(err)), 0);
	char *raw = hex_dup(tx.raw, tx.raw_len), *id = hex_dup(tx.id, 32);
	assert_string_equal(raw, RAW);
	assert_string_equal(id, ID);
	assert_int_equal(tx.raw_len, 162);
	free(raw);
	free(id);
	tx_clear(&tx);
	sig_key_free(k);
}

static void test_attest_rules(void **unused)
{
	(void)unused;
	static const struct {
		int signer;         /* orch index, or -1 for the tenant, -2 admin of p0 */
		const char *domain;
		uint64_t height;
		verr_t want;
		const char *msg;
	} cases[] = {
		{ 0, "p0", 5, V_OK, "" },
		{ 0, "p0", 4, V_OK, "" },               /* equal to the last: allowed */
		{ 1, "p0", 5, V_NOT_ORCHESTRATOR, "not the orchestrator key of provider 'p0'" },
		{ -1, "p0", 5, V_NOT_ORCHESTRATOR, "not the orchestrator key" },
		{ -2, "p0", 5, V_NOT_ORCHESTRATOR, "not the orchestrator key" },
		{ 0, "p9", 5, V_NOT_ORCHESTRATOR, "belongs to no provider" },
		{ 0, "p0", 6, V_BAD_ATTESTATION, "beyond the chain's 5" },
		{ 0, "p0", 3, V_BAD_ATTESTATION, "before its last one (4)" },
		{ 2, "p2", 0, V_OK, "" },               /* a first attestation at any height */
	};
	uint8_t dg[32] = { 1 };
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		tx_t tx;
		verdict_t v;
		const sig_key_t *k = cases[i].signer >= 0 ? W.orch[cases[i].signer]
				     : cases[i].signer == -1 ? W.t1 : W.admin[0];
		mk_attest(&tx, k, cases[i].domain, cases[i].height, 0, 0, dg, bts(5) + 10);
		verr_t r = validate_tx(W.live, &tx, bts(5) + 20, &v);
		if (r != cases[i].want || !strstr(v.msg, cases[i].msg))
			fail_msg("case %zu: %s `%s'", i, verr_name(r), v.msg);
		tx_clear(&tx);
	}
	/* applying records the last attestation; a rollback restores the old one */
	const attest_rec_t *a = state_attestation(W.live, "p0", 2);
	assert_non_null(a);
	assert_int_equal(a->attested_height, 4);
	assert_int_equal(a->height, 5);
	assert_int_equal(a->block_ts, bts(5));
	assert_memory_equal(a->digest, W.att_bad, 32);
	assert_null(state_attestation(W.live, "p2", 2));
	state_mark_t m = state_mark(W.live);
	state_begin_block(W.live, 6, bts(6));
	tx_t tx;
	mk_attest(&tx, W.orch[0], "p0", 5, 3, 1, dg, bts(6) - 1);
	state_apply_tx(W.live, &tx);
	assert_int_equal(state_attestation(W.live, "p0", 2)->attested_height, 5);
	assert_int_equal(state_attestation(W.live, "p0", 2)->problems, 1);
	state_rollback(W.live, m);
	assert_int_equal(state_attestation(W.live, "p0", 2)->attested_height, 4);
	assert_int_equal(state_height(W.live), 5);
	tx_clear(&tx);
	assert_int_equal(state_open_in(W.live, "p1", 2), 1);   /* db2 */
	assert_int_equal(state_open_in(W.live, "p0", 2), 0);
}

static int count_att(void *ctx, const attest_rec_t *a)
{
	(void)a;
	(*(int *)ctx)++;
	return 0;
}

static void test_attest_store_and_audit(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	state_t *st = state_new(&W.g);
	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	int n = 0;
	state_foreach_attestation(st, count_att, &n);
	assert_int_equal(n, 2);
	const attest_rec_t *a = state_attestation(st, "p0", 2), *b = state_attestation(W.live, "p0", 2);
	assert_non_null(a);
	assert_memory_equal(a, b, sizeof(*a));
	a = state_attestation(st, "p1", 2);
	assert_non_null(a);
	assert_int_equal(a->objects, 1);
	/* the light load: tenants and attestations only */
	state_t *lt = state_new(&W.g);
	assert_int_equal(store_load_state_light(s, lt, err, sizeof(err)), 0);
	assert_non_null(state_attestation(lt, "p1", 2));
	assert_non_null(state_tenant(lt, "p0", 2, SIG_ED25519, sig_key_pub(W.t1)));
	assert_null(state_object(lt, OBJ_VM, "vm1", 3));
	assert_int_equal(state_height(lt), 5);
	state_free(lt);
	uint64_t ts;
	assert_int_equal(store_block_ts(s, 3, &ts), 0);
	assert_int_equal(ts, bts(3));
	assert_int_equal(store_block_ts(s, 99, &ts), -1);
	store_close(s);
	state_free(st);

	audit_report_t rep;
	if (audit_verify_dir(W.dir, NULL, 2, &rep) != 0)
		fail_msg("audit: %s", rep.reason);
	assert_int_equal(rep.blocks, 5);
	assert_int_equal(rep.txs, 12);
	assert_int_equal(rep.responses, 4);
	assert_int_equal(rep.attestations, 3);
	json_t *j = audit_report_to_json(&rep);
	assert_true(json_real_value(json_object_get(j, "txs_per_s")) > 0);
	assert_int_equal(json_integer_value(json_object_get(j, "attestations")), 3);
	json_decref(j);
}

/* ---- the derived rows against the chain ---- */

/* Audits a copy of the test ledger after running stmt on it (NULL: as
 * it is); returns the report's reason ("" when ok). */
static const char *audit_tampered(const char *stmt, audit_report_t *rep)
{
	static char reason[sizeof(rep->reason)];
	char *copy = xasprintf("%s/derived", W.root);
	char *cmd = xasprintf("rm -rf %s && cp -r %s %s", copy, W.dir, copy);
	assert_int_equal(system(cmd), 0);
	if (stmt) {
		sqlite3 *db;
		char *path = xasprintf("%s/ledger.db", copy), *msg = NULL;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		if (sqlite3_exec(db, stmt, NULL, NULL, &msg) != SQLITE_OK)
			fail_msg("%s: %s", stmt, msg);
		assert_true(sqlite3_changes(db) > 0);
		sqlite3_close(db);
		free(path);
	}
	int r = audit_verify_dir(copy, NULL, 2, rep);
	assert_int_equal(r == 0, rep->ok);
	snprintf(reason, sizeof(reason), "%s", rep->ok ? "" : rep->reason);
	free(cmd);
	free(copy);
	return reason;
}

static void test_audit_derived_rows(void **unused)
{
	(void)unused;
	audit_report_t rep;
	static const struct {
		const char *stmt, *reason;
	} cases[] = {
		{ "UPDATE objects SET status = 1 WHERE name = 'vm1'", "vm `vm1': fields differ" },
		{ "UPDATE objects SET height = 1 WHERE name = 'fw2'", "vnf `fw2': fields differ" },
		{ "DELETE FROM objects WHERE name = 'db1'", "vm `db1': missing from the second" },
		{ "INSERT INTO objects SELECT kind, 'ghost', domain, owner, status, spec, pending_spec,"
		  " last_request, spec_src, height FROM objects WHERE name = 'vm1'",
		  "vm `ghost': missing from the first" },
		{ "UPDATE tenants SET name = 'mallory' WHERE domain = 'p1'", "of domain p1: fields differ" },
		{ "UPDATE tenants SET revoked = 1 WHERE domain = 'p0'", "of domain p0: fields differ" },
		{ "DELETE FROM open_requests", "open request " },
		{ "UPDATE attestations SET objects = 7 WHERE domain = 'p1'",
		  "attestation of domain p1: fields differ" },
		{ "DELETE FROM attestations WHERE domain = 'p0'",
		  "attestation of domain p0: missing from the second" },
		/* the index columns `audit history' and `accountability' filter
		 * and join on: a request hidden by its type, a response moved to
		 * another request, a tx moved to another domain or sender, the
		 * object index cut or padded */
		{ "UPDATE txs SET type = 9 WHERE seq = (SELECT MIN(seq) FROM txs WHERE type = 1)",
		  "the row's type is not the tx's" },
		{ "UPDATE txs SET request_seq = (SELECT MIN(seq) FROM txs WHERE type = 1)"
		  " WHERE seq = (SELECT MAX(seq) FROM txs WHERE type = 2)",
		  "the row's request it answers is not the tx's" },
		{ "UPDATE txs SET request_seq = NULL WHERE seq = (SELECT MIN(seq) FROM txs WHERE type = 2)",
		  "the row's request it answers is not the tx's" },
		{ "UPDATE txs SET domain = 'p9' WHERE seq = (SELECT MIN(seq) FROM txs WHERE type = 1)",
		  "the row's domain is not the tx's" },
		{ "UPDATE txs SET sender = (SELECT MAX(id) FROM principals) + 1"
		  " WHERE seq = (SELECT MIN(seq) FROM txs WHERE type = 1)", "the row's sender is not the tx's" },
		{ "DELETE FROM tx_objects WHERE name = 'fw2'", "the object index lacks vnf fw2" },
		{ "INSERT INTO tx_objects VALUES (1, 'ghost', (SELECT MIN(seq) FROM txs))",
		  "the object index has vm ghost" },
	};
	assert_string_equal(audit_tampered(NULL, &rep), "");
	assert_int_equal(rep.derived, AUDIT_DERIVED_SAME);
	json_t *j = audit_report_to_json(&rep);
	assert_string_equal(json_string_value(json_object_get(j, "derived_rows")), "same");
	json_decref(j);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const char *why = audit_tampered(cases[i].stmt, &rep);
		if (!strstr(why, cases[i].reason))
			fail_msg("%s: `%s', expected `%s'", cases[i].stmt, why, cases[i].reason);
		assert_true(strstr(why, "derived rows") != NULL);
		assert_int_equal(rep.derived, AUDIT_DERIVED_DIFFER);
		/* the chain itself held: every block was verified */
		assert_int_equal(rep.blocks, 5);
		assert_int_equal(rep.bad_height, 0);
	}
	/* a spec that does not parse: a node could not load it either */
	audit_tampered("UPDATE objects SET spec = 'vm explode', spec_src = 0 WHERE name = 'vm1'", &rep);
	assert_int_equal(rep.derived, AUDIT_DERIVED_DIFFER);
}

/* ---- proofs ---- */

static void proof_of(const uint8_t id[32], buf_t *b, uint64_t *h)
{
	char err[512];
	store_t *s;
	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	buf_init(b);
	if (proof_from_store(s, W.g.chain_id, id, b, h, err, sizeof(err)) != 0)
		fail_msg("proof_from_store: %s", err);
	store_close(s);
}

static void test_proof_valid(void **unused)
{
	(void)unused;
	buf_t b;
	uint64_t h;
	char err[512];
	proof_t p;
	const uint8_t *ids[] = { W.r1, W.r2, W.r3, W.resp2, W.r4, W.r5 };
	for (size_t i = 0; i < ARRAY_LEN(ids); i++) {
		proof_of(ids[i], &b, &h);
		if (proof_verify_bytes(b.data, b.len, &W.g, err, sizeof(err)) != 0)
			fail_msg("proof %zu: %s", i, err);
		buf_free(&b);
	}
	proof_of(W.resp2, &b, &h);
	assert_int_equal(h, 2);
	assert_int_equal(proof_decode(&p, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(p.index, 1);
	assert_int_equal(p.hdr.tx_count, 3);
	assert_int_equal(p.path_len, 2);
	assert_memory_equal(p.tx.id, W.resp2, 32);
	json_t *j = proof_to_json(&p);
	char *hex = hex_dup(b.data, b.len);
	assert_string_equal(json_string_value(json_object_get(j, "bundle_hex")), hex);
	assert_int_equal(json_integer_value(json_object_get(j, "height")), 2);
	free(hex);
	json_decref(j);
	proof_clear(&p);
	/* not committed */
	store_t *s;
	uint8_t none[32] = { 9 };
	buf_t nb;
	buf_init(&nb);
	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(proof_from_store(s, W.g.chain_id, none, &nb, &h, err, sizeof(err)), 1);
	store_close(s);
	buf_free(&nb);
	buf_free(&b);
}

/* Every single-byte change to a bundle is refused, with a reason. */
static void test_proof_every_byte(void **unused)
{
	(void)unused;
	static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x20 };
	buf_t b;
	uint64_t h;
	char err[512];
	proof_of(W.resp2, &b, &h);
	uint8_t *x = xmalloc(b.len + 1);
	size_t tried = 0;
	for (size_t i = 0; i < b.len; i++) {
		for (size_t m = 0; m < ARRAY_LEN(masks); m++) {
			memcpy(x, b.data, b.len);
			x[i] ^= masks[m];
			err[0] = 0;
			if (proof_verify_bytes(x, b.len, &W.g, err, sizeof(err)) == 0)
				fail_msg("byte %zu ^ 0x%02x of %zu still verifies", i, masks[m], b.len);
			if (!err[0])
				fail_msg("byte %zu ^ 0x%02x: refused without a reason", i, masks[m]);
			tried++;
		}
	}
	for (size_t n = 0; n < b.len; n++) {
		err[0] = 0;
		assert_int_equal(proof_verify_bytes(b.data, n, &W.g, err, sizeof(err)), -1);
		assert_true(err[0] != 0);
	}
	memcpy(x, b.data, b.len);
	x[b.len] = 0;
	assert_int_equal(proof_verify_bytes(x, b.len + 1, &W.g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trailing"));
	print_message("%zu single-byte changes of a %zu-byte bundle: all refused\n", tried, b.len);
	free(x);
	buf_free(&b);
}

/* Another consortium: its genesis does not accept our bundle, and a
 * certificate signed by another consortium's nodes is refused. */
static void test_proof_other_consortium(void **unused)
{
	(void)unused;
	sig_key_t *node[NPROV], *orch[NPROV], *admin[NPROV];
	char err[512], *dir = xasprintf("%s/other", W.root), *gp = xasprintf("%s/genesis.json", dir);
	genesis_t other;
	buf_t b;
	uint64_t h;
	proof_t p;
	for (int i = 0; i < NPROV; i++) {
		node[i] = sig_keygen(SIG_ED25519);
		orch[i] = sig_keygen(SIG_ED25519);
		admin[i] = sig_keygen(SIG_ED25519);
	}
	write_genesis(dir, node, orch, admin, BASE_TS + 1);
	assert_int_equal(genesis_load(&other, gp, err, sizeof(err)), 0);
	proof_of(W.r3, &b, &h);
	assert_int_equal(proof_verify_bytes(b.data, b.len, &other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "the genesis founds"));
	/* the same bundle with a certificate by the other consortium's nodes */
	assert_int_equal(proof_decode(&p, b.data, b.len, err, sizeof(err)), 0);
	size_t len;
	uint8_t *msg = commit_signed_bytes(W.g.chain_id, 0, p.hdr.height, p.hdr.hash, &len);
	for (uint16_t i = 0; i < p.cert.n; i++)
		assert_int_equal(sig_sign(node[p.cert.sigs[i].node], p.cert.sigs[i].sig, msg, len), 0);
	free(msg);
	assert_int_equal(proof_check(&p, &W.g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "certificate signature of node 0 (p0) does not verify"));
	proof_clear(&p);
	buf_free(&b);
	genesis_free(&other);
	for (int i = 0; i < NPROV; i++) {
		sig_key_free(node[i]);
		sig_key_free(orch[i]);
		sig_key_free(admin[i]);
	}
	free(gp);
	free(dir);
}

/* ---- history and accountability ---- */

static json_t *history(const history_filter_t *f)
{
	char err[512];
	store_t *s;
	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	json_t *h = history_query(s, &W.g, W.live, f, err, sizeof(err));
	if (!h)
		fail_msg("history: %s", err);
	store_close(s);
	return h;
}

static void test_history(void **unused)
{
	(void)unused;
	history_filter_t f;
	memset(&f, 0, sizeof(f));
	f.obj_kind = OBJ_VM;
	f.obj_name = "vm1";
	json_t *h = history(&f);
	/* vm1's create, and fw2's create naming it with --vm */
	assert_int_equal(json_integer_value(json_object_get(h, "count")), 2);
	json_t *e = json_array_get(json_object_get(h, "entries"), 0);
	char *r1 = hex_dup(W.r1, 32);
	assert_string_equal(json_string_value(json_object_get(e, "request_id")), r1);
	free(r1);
	assert_string_equal(json_string_value(json_object_get(e, "state")), "ok");
	assert_int_equal(json_integer_value(json_object_get(e, "duration_ms")), 1000);
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "tenant"), "name")), "demo");
	json_t *r = json_object_get(e, "response");
	assert_string_equal(json_string_value(json_object_get(r, "orchestrator")), "p0");
	assert_int_equal(json_integer_value(json_object_get(r, "height")), 2);
	json_decref(h);

	memset(&f, 0, sizeof(f));
	f.domain = "p0";
	h = history(&f);
	assert_int_equal(json_integer_value(json_object_get(h, "count")), 3);
	e = json_array_get(json_object_get(h, "entries"), 1);
	assert_string_equal(json_string_value(json_object_get(e, "state")), "error");
	assert_string_equal(json_string_value(json_object_get(json_object_get(e, "response"), "error")),
			    "no capacity");
	assert_true(json_is_null(json_object_get(h, "next_from")));
	json_decref(h);

	/* pages of 1: block 1's two requests, then block 3's, each page
	 * naming where the next request is; the last names none */
	f.limit = 1;
	h = history(&f);
	json_t *all = history(&(history_filter_t){ .domain = "p0" });
	for (int i = 0; i < 3; i++) {
		json_t *want = json_array_get(json_object_get(all, "entries"), (size_t)i);
		assert_int_equal(json_integer_value(json_object_get(h, "count")), 1);
		e = json_array_get(json_object_get(h, "entries"), 0);
		assert_string_equal(json_string_value(json_object_get(e, "request_id")),
				    json_string_value(json_object_get(want, "request_id")));
		if (i == 2) {
			assert_true(json_is_null(json_object_get(h, "next_from")));
			assert_true(json_is_null(json_object_get(h, "next_index")));
			break;
		}
		json_t *nx = json_array_get(json_object_get(all, "entries"), (size_t)i + 1);
		assert_int_equal(json_integer_value(json_object_get(h, "next_from")),
				 json_integer_value(json_object_get(nx, "height")));
		assert_int_equal(json_integer_value(json_object_get(h, "next_index")),
				 json_integer_value(json_object_get(nx, "index")));
		f.from_height = (uint64_t)json_integer_value(json_object_get(h, "next_from"));
		f.from_index = (uint32_t)json_integer_value(json_object_get(h, "next_index"));
		json_decref(h);
		h = history(&f);
	}
	json_decref(h);
	json_decref(all);
	assert_int_equal(f.from_height, 3);

	pubkey_t k;
	char *hex = hex_dup(sig_key_pub(W.t1), 32);
	assert_int_equal(pubkey_from_hex(&k, hex), 0);
	char *sh = xasprintf("ed25519:%s", hex);
	pubkey_t k2;
	assert_int_equal(pubkey_from_hex(&k2, sh), 0);
	assert_memory_equal(&k, &k2, sizeof(k));
	assert_int_equal(pubkey_from_hex(&k2, "abcd"), -1);
	assert_int_equal(pubkey_from_hex(&k2, "nope:00"), -1);
	free(sh);
	free(hex);
	memset(&f, 0, sizeof(f));
	f.tenant = &k;
	h = history(&f);
	assert_int_equal(json_integer_value(json_object_get(h, "count")), 5);
	e = json_array_get(json_object_get(h, "entries"), 4);
	assert_string_equal(json_string_value(json_object_get(e, "state")), "pending");
	assert_true(json_is_null(json_object_get(e, "response")));
	json_decref(h);
}

static json_t *dom_of(json_t *r, const char *d)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(r, "domains"), i, x)
		if (!strcmp(json_string_value(json_object_get(x, "domain")), d))
			return x;
	fail_msg("no domain %s", d);
	return NULL;
}

static void test_accountability(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	/* 40 s after block 5: db2 (block 4) has waited 41 s */
	json_t *r = accountability_report(s, &W.g, W.live, 30000, bts(5) + 40000, 10, err, sizeof(err));
	assert_non_null(r);
	json_t *p0 = dom_of(r, "p0"), *p1 = dom_of(r, "p1"), *p2 = dom_of(r, "p2");
	assert_int_equal(json_integer_value(json_object_get(p0, "requests")), 3);
	assert_int_equal(json_integer_value(json_object_get(p0, "ok")), 2);
	assert_int_equal(json_integer_value(json_object_get(p0, "failed")), 1);
	assert_int_equal(json_integer_value(json_object_get(p0, "unanswered")), 0);
	assert_int_equal(json_integer_value(json_object_get(p0, "p50_ms")), 1000);
	assert_int_equal(json_integer_value(json_object_get(p0, "p99_ms")), 1000);
	json_t *fl = json_array_get(json_object_get(p0, "failures"), 0);
	assert_string_equal(json_string_value(json_object_get(fl, "error")), "no capacity");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(p0, "last_attestation"),
							    "attested_height")), 4);
	assert_int_equal(json_integer_value(json_object_get(p1, "requests")), 2);
	assert_int_equal(json_integer_value(json_object_get(p1, "ok")), 1);
	assert_int_equal(json_integer_value(json_object_get(p1, "unanswered")), 1);
	json_t *gap = json_array_get(json_object_get(p1, "gaps"), 0);
	assert_string_equal(json_string_value(json_object_get(gap, "responsible")), "p1");
	assert_int_equal(json_integer_value(json_object_get(gap, "age_ms")), 41000);
	assert_int_equal(json_integer_value(json_object_get(p2, "requests")), 0);
	assert_true(json_is_null(json_object_get(p2, "p50_ms")));
	json_t *t = json_object_get(r, "totals");
	assert_int_equal(json_integer_value(json_object_get(t, "requests")), 5);
	assert_int_equal(json_integer_value(json_object_get(t, "unanswered")), 1);
	json_decref(r);
	/* within the deadline it is pending, not a gap; a 500 ms deadline makes every answer late */
	r = accountability_report(s, &W.g, W.live, 30000, bts(5) + 1000, 10, err, sizeof(err));
	assert_int_equal(json_integer_value(json_object_get(dom_of(r, "p1"), "pending")), 1);
	assert_int_equal(json_integer_value(json_object_get(dom_of(r, "p1"), "unanswered")), 0);
	json_decref(r);
	r = accountability_report(s, &W.g, W.live, 500, bts(5) + 1000, 10, err, sizeof(err));
	assert_int_equal(json_integer_value(json_object_get(dom_of(r, "p0"), "late")), 3);
	json_decref(r);
	store_close(s);
}

/* ---- drift ---- */

static driver_t *sim_driver(const char *state_dir)
{
	char err[256], prefix[9];
	json_t *cfg = json_pack("{s:s}", "state_dir", state_dir);
	hex_encode(prefix, W.g.chain_id, 4);
	driver_t *d = driver_new("sim", cfg, prefix, err, sizeof(err));
	json_decref(cfg);
	if (!d)
		fail_msg("sim: %s", err);
	return d;
}

static void apply(driver_t *d, const char *text)
{
	instr_t in;
	size_t pos;
	char res[512], err[512];
	assert_int_equal(instr_parse(&in, text, strlen(text), &pos, err, sizeof(err)), 0);
	if (driver_apply(d, &in, "p0", "00", res, sizeof(res), err, sizeof(err)) < 0)
		fail_msg("%s: %s", text, err);
}

static json_t *drift_run(const char *state_dir)
{
	char err[512];
	audit_report_t rep;
	audit_observer_t obs;
	drift_t *d = drift_new(&W.g, "p0");
	drift_observer(d, &obs);
	if (audit_verify_dir_obs(W.dir, NULL, 2, &obs, &rep) != 0)
		fail_msg("audit: %s", rep.reason);
	driver_t *drv = sim_driver(state_dir);
	json_t *r = drift_report(d, drv, bts(9), err, sizeof(err));
	if (!r)
		fail_msg("drift: %s", err);
	driver_free(drv);
	drift_free(d);
	return r;
}

static const char *what_of(json_t *r, const char *name)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(r, "findings"), i, x)
		if (!strcmp(json_string_value(json_object_get(x, "name")), name))
			return json_string_value(json_object_get(x, "what"));
	return NULL;
}

static void test_drift(void **unused)
{
	(void)unused;
	char err[256], *sd = xasprintf("%s/sim", W.root), prefix[9];
	hex_encode(prefix, W.g.chain_id, 4);
	char *file = xasprintf("%s/sim-%s.json", sd, prefix);
	driver_t *drv = sim_driver(sd);
	apply(drv, "vm create vm1");
	apply(drv, "vnf create fw2 --type firewall --vm vm1");
	driver_free(drv);

	/* the platform is what the ledger says; the chain's last p0 attestation did not match */
	json_t *r = drift_run(sd);
	assert_false(json_is_true(json_object_get(r, "drift")));
	assert_true(json_is_true(json_object_get(r, "attested_drift")));
	assert_int_equal(json_integer_value(json_object_get(r, "expected")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "actual")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "attestations")), 2);
	json_t *lm = json_object_get(r, "last_match"), *fm = json_object_get(r, "first_mismatch");
	assert_int_equal(json_integer_value(json_object_get(lm, "height")), 3);
	assert_int_equal(json_integer_value(json_object_get(lm, "attested_height")), 2);
	assert_int_equal(json_integer_value(json_object_get(fm, "height")), 5);
	assert_int_equal(json_integer_value(json_object_get(fm, "expected_objects")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "since_ms")), bts(3));
	assert_int_equal(json_integer_value(json_object_get(r, "until_ms")), bts(5));
	json_decref(r);

	/* fw2 removed and a rogue VM added behind BSec's back, in the platform's own file */
	size_t len;
	uint8_t *data = file_read(file, &len, 1 << 20, err, sizeof(err));
	assert_non_null(data);
	json_error_t je;
	json_t *doc = json_loadb((const char *)data, len, 0, &je);
	free(data);
	json_t *objs = json_object_get(doc, "objects"), *keep = json_array();
	size_t i;
	json_t *x;
	json_array_foreach(objs, i, x)
		if (strcmp(json_string_value(json_object_get(x, "name")), "fw2"))
			json_array_append(keep, x);
	json_array_append_new(keep, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", "vm", "name", "rogue",
					      "domain", "p0", "owner", "", "spec", "vm create rogue"));
	json_array_append_new(keep, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", "vm", "name", "far",
					      "domain", "p3", "owner", "", "spec", "vm create far"));
	json_object_set_new(doc, "objects", keep);
	char *txt = json_dumps(doc, 0);
	assert_int_equal(file_write(file, txt, strlen(txt), 0600, err, sizeof(err)), 0);
	free(txt);
	json_decref(doc);
	r = drift_run(sd);
	assert_true(json_is_true(json_object_get(r, "drift")));
	assert_string_equal(what_of(r, "fw2"), "missing");
	assert_string_equal(what_of(r, "rogue"), "unexpected");
	assert_null(what_of(r, "far"));          /* another domain's object */
	assert_string_equal(json_string_value(json_object_get(r, "provider")), "p0");
	assert_int_equal(json_integer_value(json_object_get(r, "since_ms")), bts(3));
	json_decref(r);

	/* a spec changed behind BSec's back */
	drv = sim_driver(sd);
	instr_t in;
	size_t pos;
	char res[256];
	assert_int_equal(instr_parse(&in, "vm delete rogue", 15, &pos, err, sizeof(err)), 0);
	assert_int_equal(driver_apply(drv, &in, "p0", "00", res, sizeof(res), err, sizeof(err)), 0);
	apply(drv, "vnf create fw2 --type firewall --vm vm1 --config mode=open");
	driver_free(drv);
	r = drift_run(sd);
	assert_string_equal(what_of(r, "fw2"), "changed");
	assert_null(what_of(r, "rogue"));
	json_decref(r);
	free(file);
	free(sd);
}

/* The digest is canonical: order of entries does not matter, every field does. */
static void test_attest_digest(void **unused)
{
	(void)unused;
	attest_entry_t a[3] = { { OBJ_VNF, "fw", "vnf create fw --type firewall", 1 },
				{ OBJ_VM, "b", "vm create b", 1 },
				{ OBJ_VM, "a", "vm create a", 1 } };
	attest_entry_t b[3] = { a[2], a[0], a[1] };
	uint8_t da[32], db[32], dc[32];
	attest_digest(da, a, 3);
	attest_digest(db, b, 3);
	assert_memory_equal(da, db, 32);
	b[0].whole = 0;
	attest_digest(dc, b, 3);
	assert_memory_not_equal(da, dc, 32);
	b[0].whole = 1;
	b[0].spec = "vm create a --image x";
	attest_digest(dc, b, 3);
	assert_memory_not_equal(da, dc, 32);
	attest_digest(dc, a, 2);
	assert_memory_not_equal(da, dc, 32);
	uint8_t empty[32], e2[32];
	attest_digest(empty, NULL, 0);
	attest_expected(e2, W.live, "p3", NULL);
	assert_memory_equal(empty, e2, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attest_codec),
		cmocka_unit_test(test_attest_digest),
		cmocka_unit_test(test_attest_vector),
		cmocka_unit_test(test_attest_rules),
		cmocka_unit_test(test_attest_store_and_audit),
		cmocka_unit_test(test_audit_derived_rows),
		cmocka_unit_test(test_proof_valid),
		cmocka_unit_test(test_proof_every_byte),
		cmocka_unit_test(test_proof_other_consortium),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_accountability),
		cmocka_unit_test(test_drift),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
