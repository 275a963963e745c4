/*
 * test_orchestrator.c — the orchestrator's own modules: the journal
 * (journal.h: intent, outcome with the signed response, resubmission
 * listing, closing, last height, reopening, refusal of another chain's or
 * domain's journal, read-only peek), the checked decoding of the node
 * API's block JSON (follow.h: a real 4-provider consortium with signed
 * blocks and certificates, then a table of tampered copies that must all
 * be refused), and the config loader (orchestrator.h: bad values quoted).
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

#include "lib/util.h"
#include "lib/buf.h"
#include "ledger/audit.h"
#include "lib/sig.h"
#include "ledger/tx.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "orchestrator/journal.h"
#include "orchestrator/follow.h"
#include "orchestrator/orchestrator.h"

#define NPROV 4
#define BASE_TS 1763700000000ull

static char tmpdir[256];

static void rm_rf(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

static int setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bsec-test-orch-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

/* ---- journal ---------------------------------------------------------------- */

static void test_journal_lifecycle(void **state)
{
	(void)state;
	uint8_t chain[BSEC_HASH_BYTES], other[BSEC_HASH_BYTES], r1[BSEC_HASH_BYTES], r2[BSEC_HASH_BYTES];
	uint8_t resp1[BSEC_HASH_BYTES], resp2[BSEC_HASH_BYTES];
	char err[512];
	int fresh = -1;
	journal_t *j = NULL;
	journal_entry_t e;
	memset(chain, 1, sizeof(chain));
	memset(other, 2, sizeof(other));
	memset(r1, 0x11, sizeof(r1));
	memset(r2, 0x22, sizeof(r2));
	memset(resp1, 0xa1, sizeof(resp1));
	memset(resp2, 0xa2, sizeof(resp2));
	char *dir = xasprintf("%s/j", tmpdir);

	uint64_t h;
	assert_int_equal(journal_peek_height(dir, &h), -1);   /* no journal yet */
	assert_int_equal(journal_open(&j, dir, chain, "p1", &fresh, err, sizeof(err)), 0);
	assert_int_equal(fresh, 1);
	assert_int_equal(journal_last_height(j), 0);
	assert_int_equal(journal_get(j, r1, &e), 0);

	/* intent, then outcome with the response bytes */
	assert_int_equal(journal_start(j, r1, 5, 2, "vm create a", "abcd"), 0);
	assert_int_not_equal(journal_start(j, r1, 5, 2, "vm create a", "abcd"), 0);   /* once */
	assert_int_equal(journal_get(j, r1, &e), 1);
	assert_int_equal(e.state, J_STARTED);
	assert_int_equal(e.outcome, -1);
	assert_int_equal(e.height, 5);
	assert_int_equal(e.index, 2);
	assert_string_equal(e.instruction, "vm create a");
	assert_string_equal(e.owner_hex, "abcd");
	assert_int_equal(e.has_response, 0);
	assert_null(e.response_raw);
	journal_entry_clear(&e);

	const uint8_t raw1[] = { 1, 2, 3, 4, 5 };
	assert_int_equal(journal_done(j, r1, 5, 2, "vm create a", "abcd", TX_STATUS_OK, "created", NULL,
				      J_HOW_EXECUTED, resp1, raw1, sizeof(raw1)), 0);
	/* a refusal: the row is created by the outcome itself */
	const uint8_t raw2[] = { 9, 9 };
	assert_int_equal(journal_done(j, r2, 6, 0, "vm delete b", "ef01", TX_STATUS_ERROR, NULL,
				      "permission revoked", J_HOW_REFUSED, resp2, raw2, sizeof(raw2)), 0);
	assert_int_equal(journal_get(j, r1, &e), 1);
	assert_int_equal(e.state, J_DONE);
	assert_int_equal(e.outcome, TX_STATUS_OK);
	assert_string_equal(e.result, "created");
	assert_string_equal(e.error, "");
	assert_string_equal(e.how, J_HOW_EXECUTED);
	assert_int_equal(e.has_response, 1);
	assert_memory_equal(e.response_id, resp1, BSEC_HASH_BYTES);
	assert_int_equal(e.response_len, sizeof(raw1));
	assert_memory_equal(e.response_raw, raw1, sizeof(raw1));
	assert_int_equal(e.started_ms > 0, 1);
	assert_int_equal(e.done_ms >= e.started_ms, 1);
	journal_entry_clear(&e);

	uint64_t s, d, c;
	assert_int_equal(journal_counts(j, &s, &d, &c), 0);
	assert_int_equal(s, 0);
	assert_int_equal(d, 2);
	assert_int_equal(c, 0);

	assert_int_equal(journal_mark_submitted(j, r1, 1234), 0);
	const uint8_t raw3[] = { 7, 7, 7 };
	assert_int_equal(journal_set_response(j, r2, resp1, raw3, sizeof(raw3)), 0);
	assert_int_equal(journal_get(j, r2, &e), 1);
	assert_memory_equal(e.response_raw, raw3, sizeof(raw3));
	assert_int_equal(e.submitted_ms, 0);
	journal_entry_clear(&e);

	assert_int_equal(journal_set_last_height(j, 6), 0);
	assert_int_equal(journal_close_entry(j, r1, resp1, 7), 0);
	assert_int_equal(journal_get(j, r1, &e), 1);
	assert_int_equal(e.state, J_CLOSED);
	assert_int_equal(e.response_height, 7);
	assert_int_equal(e.submitted_ms, 1234);
	journal_entry_clear(&e);
	journal_close(j);

	/* reopened: not fresh, same rows, same height; peek reads it */
	assert_int_equal(journal_open(&j, dir, chain, "p1", &fresh, err, sizeof(err)), 0);
	assert_int_equal(fresh, 0);
	assert_int_equal(journal_last_height(j), 6);
	assert_int_equal(journal_peek_height(dir, &h), 0);
	assert_int_equal(h, 6);
	assert_int_equal(journal_counts(j, &s, &d, &c), 0);
	assert_int_equal(d, 1);
	assert_int_equal(c, 1);
	journal_close(j);

	/* never another chain's or domain's journal */
	assert_int_equal(journal_open(&j, dir, other, "p1", &fresh, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "chain"));
	assert_int_equal(journal_open(&j, dir, chain, "p2", &fresh, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "p2"));
	free(dir);
}

static int count_cb(void *ctx, const journal_entry_t *e)
{
	int *n = ctx;
	assert_int_equal(e->state, J_DONE);
	(*n)++;
	return 0;
}

static int stop_cb(void *ctx, const journal_entry_t *e)
{
	(void)ctx;
	(void)e;
	return 7;
}

static void test_journal_foreach_done(void **state)
{
	(void)state;
	uint8_t chain[BSEC_HASH_BYTES], id[BSEC_HASH_BYTES], resp[BSEC_HASH_BYTES] = { 0 };
	char err[512];
	int fresh;
	journal_t *j;
	memset(chain, 3, sizeof(chain));
	char *dir = xasprintf("%s/k", tmpdir);
	assert_int_equal(journal_open(&j, dir, chain, "p0", &fresh, err, sizeof(err)), 0);
	for (int i = 0; i < 5; i++) {
		memset(id, i + 1, sizeof(id));
		if (i < 4)
			assert_int_equal(journal_done(j, id, (uint64_t)(10 - i), 0, "vm create x", "00",
						      TX_STATUS_OK, "ok", NULL, J_HOW_EXECUTED, resp,
						      (const uint8_t *)"r", 1), 0);
		else
			assert_int_equal(journal_start(j, id, 11, 0, "vm create y", "00"), 0);
	}
	memset(id, 1, sizeof(id));
	assert_int_equal(journal_close_entry(j, id, resp, 12), 0);
	int n = 0;
	assert_int_equal(journal_foreach_done(j, count_cb, &n), 0);
	assert_int_equal(n, 3);                    /* 4 done, 1 of them closed; the started one not */
	assert_int_equal(journal_foreach_done(j, stop_cb, NULL), 7);
	journal_close(j);
	free(dir);
}

/* ---- follow: block JSON ---------------------------------------------------- */

typedef struct {
	genesis_t g;
	sig_key_t *node[NPROV], *tenant;
	json_t *block1, *block2;     /* API JSON of blocks 1 and 2 */
	buf_t page;                  /* both as a raw page (GET /v1/blocks/raw) */
	size_t at2;                  /* where block 2's entry starts in it */
	uint8_t hash1[BSEC_HASH_BYTES];
} chain_t;

static chain_t C;

static json_t *pem_json(const sig_key_t *k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *j = json_string(pem);
	free(pem);
	return j;
}

static void make_genesis(void)
{
	char err[256];
	json_t *provs = json_array();
	for (int i = 0; i < NPROV; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		C.node[i] = sig_keygen(SIG_ED25519);
		sig_key_t *o = sig_keygen(SIG_ED25519), *a = sig_keygen(SIG_ED25519);
		json_array_append_new(provs, json_pack("{s:s,s:[s],s:o,s:o,s:o,s:s,s:s}", "name", name,
			"domains", name, "node_key", pem_json(C.node[i]), "orchestrator_key", pem_json(o),
			"admin_key", pem_json(a), "peer", "127.0.0.1:7100", "api", "https://127.0.0.1:7200"));
		sig_key_free(o);
		sig_key_free(a);
	}
	C.tenant = sig_keygen(SIG_ED25519);
	json_t *root = json_pack("{s:i,s:s,s:I,s:o,s:[{s:s,s:o,s:[{s:s,s:s}]}]}", "version", 1, "name", "t",
		"created_ms", (json_int_t)BASE_TS, "providers", provs, "tenants", "name", "demo", "key",
		pem_json(C.tenant), "grants", "domain", "p1", "ops", "*");
	char *text = json_dumps(root, JSON_INDENT(2));
	if (genesis_parse(&C.g, (const uint8_t *)text, strlen(text), err, sizeof(err)) < 0)
		fail_msg("genesis: %s", err);
	free(text);
	json_decref(root);
}

/* The API's JSON for a block at h over the given instructions, sealed by
 * node h % NPROV with a quorum certificate; its hash into hash. */
static json_t *make_block_json(uint64_t h, const uint8_t prev[BSEC_HASH_BYTES], const char *const *instrs,
			       uint32_t n, uint8_t hash[BSEC_HASH_BYTES])
{
	char err[256];
	block_t b;
	cert_t c;
	memset(&b, 0, sizeof(b));
	memcpy(b.hdr.chain_id, C.g.chain_id, BSEC_HASH_BYTES);
	b.hdr.height = h;
	memcpy(b.hdr.prev_hash, prev, BSEC_HASH_BYTES);
	b.hdr.timestamp_ms = BASE_TS + h * 1000;
	b.hdr.proposer = (uint16_t)(h % NPROV);
	b.hdr.tx_count = n;
	b.txs = xcalloc(n ? n : 1, sizeof(tx_t));
	for (uint32_t i = 0; i < n; i++) {
		tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = BASE_TS + h * 1000, .domain = "p1",
				  .instruction = instrs[i] };
		if (tx_build(&b.txs[i], &f, C.tenant, C.g.chain_id, err, sizeof(err)) < 0)
			fail_msg("tx_build: %s", err);
	}
	assert_int_equal(block_seal(&b, C.node[b.hdr.proposer]), 0);
	size_t q = genesis_quorum(&C.g), len;
	c.view = 0;
	c.n = (uint16_t)q;
	c.sigs = xcalloc(q, sizeof(cert_sig_t));
	uint8_t *msg = commit_signed_bytes(C.g.chain_id, 0, h, b.hdr.hash, &len);
	for (size_t i = 0; i < q; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = (uint16_t)sig_sig_len(SIG_ED25519);
		assert_int_equal(sig_sign(C.node[i], c.sigs[i].sig, msg, len), 0);
	}
	free(msg);
	/* the raw page's entry: height, block, certificate */
	buf_t eb, ec;
	buf_init(&eb);
	buf_init(&ec);
	block_encode(&eb, &b);
	cert_encode(&ec, &c);
	buf_u64(&C.page, h);
	buf_blob32(&C.page, eb.data, eb.len);
	buf_blob32(&C.page, ec.data, ec.len);
	buf_free(&eb);
	buf_free(&ec);
	json_t *txs = json_array();
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(txs, tx_to_json(&b.txs[i], C.g.chain_id));
	json_t *o = json_pack("{s:I,s:o,s:o,s:o}", "height", (json_int_t)h, "header",
			      block_header_to_json(&b.hdr), "certificate", cert_to_json(&c), "txs", txs);
	memcpy(hash, b.hdr.hash, BSEC_HASH_BYTES);
	block_clear(&b);
	cert_clear(&c);
	return o;
}

static int setup_chain(void **state)
{
	(void)state;
	memset(&C, 0, sizeof(C));
	make_genesis();
	static const char *const b1[] = { "vm create a", "vnf create fw --type firewall --vm a" };
	static const char *const b2[] = { "vm create b" };
	uint8_t h2[BSEC_HASH_BYTES];
	buf_init(&C.page);
	buf_put(&C.page, RAW_BLOCKS_MAGIC, 4);
	buf_u64(&C.page, 2);
	C.block1 = make_block_json(1, C.g.chain_id, b1, 2, C.hash1);
	C.at2 = C.page.len;
	C.block2 = make_block_json(2, C.hash1, b2, 1, h2);
	return 0;
}

static int teardown_chain(void **state)
{
	(void)state;
	json_decref(C.block1);
	json_decref(C.block2);
	buf_free(&C.page);
	for (int i = 0; i < NPROV; i++)
		sig_key_free(C.node[i]);
	sig_key_free(C.tenant);
	genesis_free(&C.g);
	return 0;
}

static void test_follow_valid_blocks(void **state)
{
	(void)state;
	block_t b;
	char err[512];
	assert_int_equal(follow_block_parse(&b, C.block1, &C.g, 1, C.g.chain_id, err, sizeof(err)), 0);
	assert_int_equal(b.hdr.height, 1);
	assert_int_equal(b.hdr.tx_count, 2);
	assert_memory_equal(b.hdr.hash, C.hash1, BSEC_HASH_BYTES);
	assert_int_equal(b.txs[1].type, TX_REQUEST);
	assert_int_equal(b.txs[1].instruction_len, strlen("vnf create fw --type firewall --vm a"));
	block_clear(&b);
	assert_int_equal(follow_block_parse(&b, C.block2, &C.g, 2, C.hash1, err, sizeof(err)), 0);
	block_clear(&b);
}

/* A tampering: edits a copy of block 2's JSON. */
typedef void (*tamper_fn)(json_t *blk);

static void set_hdr_int(json_t *blk, const char *k, json_int_t v)
{
	json_object_set_new(json_object_get(blk, "header"), k, json_integer(v));
}

static void flip_hex(json_t *o, const char *k, size_t at)
{
	char *s = xstrdup(json_string_value(json_object_get(o, k)));
	size_t n = strlen(s);
	at = at < n ? at : n - 1;
	s[at] = s[at] == '0' ? '1' : '0';
	json_object_set_new(o, k, json_string(s));
	free(s);
}

static json_t *tx0(json_t *blk)
{
	return json_array_get(json_object_get(blk, "txs"), 0);
}

static json_t *sig0(json_t *blk)
{
	return json_array_get(json_object_get(json_object_get(blk, "certificate"), "signatures"), 0);
}

static void t_instruction(json_t *blk)
{
	/* "vm create b" -> "vm create c": the last byte before the signature */
	json_t *t = tx0(blk);
	char *s = xstrdup(json_string_value(json_object_get(t, "raw_hex")));
	size_t n = strlen(s), sl = 2 * sig_sig_len(SIG_ED25519);
	assert_true(n > sl + 2);
	assert_true(s[n - sl - 2] == '6' && s[n - sl - 1] == '2');
	s[n - sl - 1] = '3';
	json_object_set_new(t, "raw_hex", json_string(s));
	free(s);
}
static void t_drop_tx(json_t *blk) { json_array_remove(json_object_get(blk, "txs"), 0); }
static void t_no_txs(json_t *blk) { json_object_del(blk, "txs"); }
static void t_timestamp(json_t *blk) { set_hdr_int(blk, "timestamp_ms", (json_int_t)BASE_TS + 1); }
static void t_tx_count(json_t *blk) { set_hdr_int(blk, "tx_count", 2); }
static void t_proposer(json_t *blk) { set_hdr_int(blk, "proposer", 1); }
static void t_proposer_oob(json_t *blk) { set_hdr_int(blk, "proposer", 9); }
static void t_chain_id(json_t *blk) { flip_hex(json_object_get(blk, "header"), "chain_id", 3); }
static void t_prev(json_t *blk) { flip_hex(json_object_get(blk, "header"), "prev_hash", 5); }
static void t_header_sig(json_t *blk) { flip_hex(json_object_get(blk, "header"), "signature_hex", 9); }
static void t_cert_sig(json_t *blk) { flip_hex(sig0(blk), "signature_hex", 7); }
static void t_cert_short(json_t *blk)
{
	json_array_remove(json_object_get(json_object_get(blk, "certificate"), "signatures"), 0);
}
static void t_cert_dup(json_t *blk)
{
	json_t *sigs = json_object_get(json_object_get(blk, "certificate"), "signatures");
	json_array_set(sigs, 1, json_array_get(sigs, 0));
}
static void t_cert_view(json_t *blk)
{
	json_object_set_new(json_object_get(blk, "certificate"), "view", json_integer(3));
}
static void t_no_cert(json_t *blk) { json_object_del(blk, "certificate"); }
static void t_scheme(json_t *blk)
{
	json_object_set_new(json_object_get(blk, "header"), "proposer_scheme", json_string("rsa-pss-2048"));
}
static void t_bad_hex(json_t *blk) { json_object_set_new(tx0(blk), "raw_hex", json_string("zz")); }
static void t_not_object(json_t *blk) { json_object_clear(blk); }

static void test_follow_refuses_tampering(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		tamper_fn fn;
		const char *reason;       /* a word the error must contain */
	} cases[] = {
		{ "instruction changed", t_instruction, "tx_root" },
		{ "tx dropped", t_drop_tx, "txs" },
		{ "no txs", t_no_txs, "txs" },
		{ "timestamp changed", t_timestamp, "signed" },
		{ "tx_count changed", t_tx_count, "signed" },
		{ "proposer changed", t_proposer, "proposer" },
		{ "proposer not a member", t_proposer_oob, "member" },
		{ "chain id changed", t_chain_id, "chain" },
		{ "prev hash changed", t_prev, "previous" },
		{ "header signature changed", t_header_sig, "signed" },
		{ "certificate signature changed", t_cert_sig, "verify" },
		{ "certificate below quorum", t_cert_short, "quorum" },
		{ "certificate signer repeated", t_cert_dup, "distinct" },
		{ "certificate view changed", t_cert_view, "verify" },
		{ "no certificate", t_no_cert, "certificate" },
		{ "proposer scheme changed", t_scheme, "length" },
		{ "raw_hex not hex", t_bad_hex, "raw_hex" },
		{ "empty object", t_not_object, "header" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		json_t *blk = json_deep_copy(C.block2);
		block_t b;
		char err[512] = "";
		cases[i].fn(blk);
		int r = follow_block_parse(&b, blk, &C.g, 2, C.hash1, err, sizeof(err));
		if (r != -1 || !strstr(err, cases[i].reason))
			fail_msg("%s: got %d, `%s' (wanted an error about %s)", cases[i].what, r, err,
				 cases[i].reason);
		json_decref(blk);
	}
	/* the right block at the wrong place */
	block_t b;
	char err[512];
	assert_int_equal(follow_block_parse(&b, C.block2, &C.g, 3, C.hash1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "height"));
	assert_int_equal(follow_block_parse(&b, C.block1, &C.g, 1, C.hash1, err, sizeof(err)), -1);
	assert_int_equal(follow_block_parse(&b, NULL, &C.g, 1, C.g.chain_id, err, sizeof(err)), -1);
}

/* ---- follow: raw pages ------------------------------------------------------- */

/* Reads page (len bytes) from block 1: 0 when both blocks check, else -1
 * with err; *got counts the blocks that did. */
static int read_page(const uint8_t *page, size_t len, int *got, char *err, size_t errlen)
{
	follow_page_t pg;
	*got = 0;
	if (follow_page_open(&pg, page, len, err, errlen) < 0)
		return -1;
	assert_int_equal(pg.tip, 2);
	const uint8_t *prev = C.g.chain_id;
	uint8_t hash[BSEC_HASH_BYTES];
	for (uint64_t h = 1;; h++) {
		block_t b;
		int r = follow_page_next(&pg, &b, &C.g, h, prev, err, errlen);
		if (r <= 0)
			return r < 0 || *got != 2 ? -1 : 0;
		assert_int_equal(b.hdr.height, h);
		memcpy(hash, b.hdr.hash, BSEC_HASH_BYTES);
		prev = hash;
		block_clear(&b);
		++*got;
	}
}

static void test_follow_raw_page(void **state)
{
	(void)state;
	char err[512] = "";
	int got;
	if (read_page(C.page.data, C.page.len, &got, err, sizeof(err)) != 0)
		fail_msg("the page does not read: %s", err);
	assert_int_equal(got, 2);

	/* every byte of block 2's entry matters: a bit flipped anywhere in it
	 * (its height, the framing, the block, the certificate) is refused,
	 * after block 1 came through */
	size_t n = C.page.len, refused = 0;
	uint8_t *t = xmalloc(n);
	for (size_t at = C.at2; at < n; at++) {
		memcpy(t, C.page.data, n);
		t[at] ^= 0x01;
		err[0] = 0;
		if (read_page(t, n, &got, err, sizeof(err)) == 0)
			fail_msg("a bit flipped at offset %zu of %zu went through", at, n);
		refused++;
		assert_int_equal(got, 1);      /* block 1 still came through */
		assert_true(err[0]);
	}
	assert_int_equal(refused, n - C.at2);
	/* cut anywhere inside block 2's entry: block 1, then an error */
	for (size_t cut = C.at2 + 1; cut < n; cut += 7) {
		assert_int_equal(read_page(C.page.data, cut, &got, err, sizeof(err)), -1);
		assert_int_equal(got, 1);
	}
	free(t);
	/* not a page */
	assert_int_equal(read_page((const uint8_t *)"BSRX\0\0\0\0\0\0\0\2", 12, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "raw block page"));
	assert_int_equal(read_page(C.page.data, 11, &got, err, sizeof(err)), -1);
	/* block 2's entry first: not the block asked for */
	buf_t b;
	buf_init(&b);
	buf_put(&b, C.page.data, 12);
	buf_put(&b, C.page.data + C.at2, n - C.at2);
	assert_int_equal(read_page(b.data, b.len, &got, err, sizeof(err)), -1);
	assert_int_equal(got, 0);
	assert_non_null(strstr(err, "asked for block 1"));
	/* the right height, the wrong place in the chain */
	follow_page_t pg;
	block_t blk;
	assert_int_equal(follow_page_open(&pg, C.page.data, n, err, sizeof(err)), 0);
	assert_int_equal(follow_page_next(&pg, &blk, &C.g, 1, C.hash1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "previous"));
	buf_free(&b);
}

/* ---- config -------------------------------------------------------------------- */

static void write_cfg(const char *path, const char *text)
{
	char err[256];
	assert_int_equal(file_write(path, text, strlen(text), 0644, err, sizeof(err)), 0);
}

static void test_config(void **state)
{
	(void)state;
	orch_config_t c;
	char err[512];
	char *dir = xasprintf("%s/cfg", tmpdir);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	char *p = xasprintf("%s/config.json", dir);
	write_cfg(p, "{\"name\":\"p1\",\"genesis\":\"../genesis.json\",\"orchestrator_key\":\"k.pem\","
		     "\"data_dir\":\".\",\"nodes\":[\"https://127.0.0.1:1\"],"
		     "\"driver\":{\"type\":\"sim\",\"latency_ms\":5},\"log_level\":\"debug\"}");
	assert_int_equal(orch_config_load(&c, p, err, sizeof(err)), 0);
	assert_string_equal(c.name, "p1");
	assert_null(c.domain);
	assert_null(c.ca);
	assert_true(c.genesis[0] == '/');
	assert_non_null(strstr(c.genesis, "/cfg/../genesis.json"));
	assert_string_equal(c.data_dir, c.dir);
	assert_int_equal(c.n_nodes, 1);
	assert_string_equal(c.driver_type, "sim");
	assert_int_equal(json_integer_value(json_object_get(c.driver, "latency_ms")), 5);
	assert_int_equal(c.log_level, LOG_DEBUG);
	orch_config_free(&c);

	static const struct {
		const char *text, *quoted;
	} bad[] = {
		{ "[]", "object" },
		{ "{\"name\":\"p1\"", "line" },
		{ "{\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"}}", "`name' is required" },
		{ "{\"name\":\"P 1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"}}", "\"P 1\"" },
		{ "{\"name\":\"p1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"warp\"}}", "\"warp\"" },
		{ "{\"name\":\"p1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":7}", "7" },
		{ "{\"name\":\"p1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"},\"log_level\":\"loud\"}", "\"loud\"" },
		{ "{\"name\":\"p1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"},\"nodes\":[\"http://x\"]}", "\"http://x\"" },
		{ "{\"name\":\"p1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"},\"nodes\":[]}", "[]" },
		{ "{\"name\":\"p1\",\"genesis\":\"\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"}}", "\"\"" },
		{ "{\"name\":\"p1\",\"genesis\":\"g\",\"orchestrator_key\":\"k\",\"driver\":{\"type\":\"sim\"},\"color\":1}", "`color'" },
		{ "{\"name\":\"p1\",\"name\":\"p2\"}", "duplicate" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		write_cfg(p, bad[i].text);
		err[0] = 0;
		int r = orch_config_load(&c, p, err, sizeof(err));
		if (r != -1 || !strstr(err, bad[i].quoted))
			fail_msg("config %s: got %d `%s', wanted `%s' in the error", bad[i].text, r, err,
				 bad[i].quoted);
	}
	assert_int_equal(orch_config_load(&c, "/nonexistent/x.json", err, sizeof(err)), -1);
	char prefix[9];
	uint8_t id[32];
	memset(id, 0xab, sizeof(id));
	orchestrator_prefix(prefix, id);
	assert_string_equal(prefix, "abababab");
	free(p);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal_lifecycle, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_journal_foreach_done, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_follow_valid_blocks, setup_chain, teardown_chain),
		cmocka_unit_test_setup_teardown(test_follow_refuses_tampering, setup_chain, teardown_chain),
		cmocka_unit_test_setup_teardown(test_follow_raw_page, setup_chain, teardown_chain),
		cmocka_unit_test_setup_teardown(test_config, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
