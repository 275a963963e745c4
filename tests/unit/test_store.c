/*
 * test_store.c — the SQLite ledger (store.h) and the offline auditor
 * (audit.h): a 4-provider consortium with real keys, signed blocks and
 * commit certificates; append, reopen, reload the derived state and
 * compare it with the state that built the chain; refusals (height,
 * prev_hash, chain, a failing append rolls back); then audit_verify_dir on
 * a valid chain and on copies tampered in SQL (a tx byte, a header byte, a
 * certificate signature, a deleted block, two swapped blocks, a block
 * whose tx breaks a validation rule, a certificate from another
 * consortium), each reported at the right height.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <sqlite3.h>

#include "lib/util.h"
#include "lib/sig.h"
#include "ledger/tx.h"
#include "ledger/block.h"
#include "ledger/genesis.h"
#include "ledger/state.h"
#include "ledger/validate.h"
#include "ledger/store.h"
#include "ledger/audit.h"
#include "genesis_fixture.h"

#define NPROV 4
#define BASE_TS 1763700000000ull

/* ---- the consortium ---- */

typedef struct {
	char dir[256];           /* pristine chain: genesis.json + ledger.db */
	genesis_t g;
	sig_key_t *node[NPROV], *orch[NPROV], *admin[NPROV];
	sig_key_t *t1, *t2;      /* t1: genesis tenant in p0; t2: registered in p1 by tx */
	state_t *live;           /* the state that built the chain */
	uint8_t ids[64][BSEC_HASH_BYTES];
	size_t n_ids;
	uint8_t req_vm1[BSEC_HASH_BYTES], req_s1[BSEC_HASH_BYTES], req_fw1[BSEC_HASH_BYTES];
	uint8_t hash[8][BSEC_HASH_BYTES];
	uint64_t height;
} world_t;

static world_t W;

/* Writes DIR/genesis.json for the world's keys; created_ms varies the chain. */
static void write_genesis(const char *dir, uint64_t created_ms)
{
	fixture_write_genesis(dir, "test", created_ms, NPROV, W.node, W.orch, W.admin, W.t1);
}

/* ---- txs and blocks ---- */

static void mk_request(tx_t *tx, const sig_key_t *k, const char *domain, const char *instr,
		       uint64_t ts)
{
	char err[256];
	tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = ts, .domain = domain,
			  .instruction = instr };
	if (tx_build(tx, &f, k, W.g.chain_id, err, sizeof(err)) < 0)
		fail_msg("tx_build: %s", err);
}

static void mk_response(tx_t *tx, const sig_key_t *k, const uint8_t *req, int status, uint64_t ts)
{
	char err[256];
	tx_fields_t f = { .type = TX_RESPONSE, .timestamp_ms = ts, .request_id = req,
			  .status = (uint8_t)status, .result = status ? "" : "done",
			  .error = status ? "no capacity" : "" };
	if (tx_build(tx, &f, k, W.g.chain_id, err, sizeof(err)) < 0)
		fail_msg("tx_build: %s", err);
}

static void mk_tenant(tx_t *tx, const sig_key_t *admin, int action, const char *domain,
		      const sig_key_t *tenant, const char *name, uint32_t max_vms, uint64_t ts)
{
	char err[256];
	tx_fields_t f = { .type = TX_TENANT, .timestamp_ms = ts, .action = (uint8_t)action,
			  .domain = domain, .tenant_scheme = (uint8_t)sig_key_scheme(tenant),
			  .tenant_key = sig_key_pub(tenant), .name = name,
			  .sla = { .ops = OP_ALL, .max_vms = max_vms } };
	if (tx_build(tx, &f, admin, W.g.chain_id, err, sizeof(err)) < 0)
		fail_msg("tx_build: %s", err);
}

/* Block at height h over txs (moved into the block), sealed by node
 * `proposer`, with a certificate from nodes 0..quorum-1. */
static void mk_block(block_t *b, cert_t *c, uint64_t h, const uint8_t prev[BSEC_HASH_BYTES],
		     uint64_t ts, uint16_t proposer, tx_t *txs, uint32_t n)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->hdr.chain_id, W.g.chain_id, BSEC_HASH_BYTES);
	b->hdr.height = h;
	memcpy(b->hdr.prev_hash, prev, BSEC_HASH_BYTES);
	b->hdr.timestamp_ms = ts;
	b->hdr.view = 0;
	b->hdr.proposer = proposer;
	b->hdr.tx_count = n;
	b->txs = xcalloc(n ? n : 1, sizeof(tx_t));
	memcpy(b->txs, txs, n * sizeof(tx_t));
	assert_int_equal(block_seal(b, W.node[proposer]), 0);
	size_t q = genesis_quorum(&W.g);
	c->view = 0;
	c->n = (uint16_t)q;
	c->sigs = xcalloc(q, sizeof(cert_sig_t));
	size_t len;
	uint8_t *msg = commit_signed_bytes(W.g.chain_id, 0, h, b->hdr.hash, &len);
	for (size_t i = 0; i < q; i++) {
		c->sigs[i].node = (uint16_t)i;
		c->sigs[i].sig_len = (uint16_t)sig_sig_len(sig_key_scheme(W.node[i]));
		assert_int_equal(sig_sign(W.node[i], c->sigs[i].sig, msg, len), 0);
	}
	free(msg);
}

/* What a node does: validate every tx against st, apply, append. */
static void commit_block(store_t *s, state_t *st, tx_t *txs, uint32_t n, uint64_t ts)
{
	block_t b;
	cert_t c;
	char err[512];
	uint64_t h = store_height(s) + 1;
	mk_block(&b, &c, h, store_tip_hash(s), ts, (uint16_t)(h % NPROV), txs, n);
	state_begin_block(st, h, ts);
	for (uint32_t i = 0; i < n; i++) {
		verdict_t v;
		verr_t r = validate_tx(st, &b.txs[i], ts, &v);
		if (r != V_OK)
			fail_msg("block %llu tx %u: %s: %s", (unsigned long long)h, i, verr_name(r), v.msg);
		state_apply_tx(st, &b.txs[i]);
	}
	if (store_append(s, &b, NULL, 0, &c, st, err, sizeof(err)) < 0)
		fail_msg("store_append: %s", err);
	state_forget_undo(st);
	for (uint32_t i = 0; i < n && st == W.live; i++)
		memcpy(W.ids[W.n_ids++], b.txs[i].id, BSEC_HASH_BYTES);
	if (st == W.live)
		memcpy(W.hash[h], b.hdr.hash, BSEC_HASH_BYTES);
	block_clear(&b);
	cert_clear(&c);
}

static uint64_t bts(uint64_t h)
{
	return BASE_TS + h * 1000;
}

/* The pristine chain: 5 blocks exercising every tx type and life cycle. */
static void build_chain(void)
{
	char err[512];
	store_t *s;
	tx_t t[4];
	uint8_t vm9[BSEC_HASH_BYTES], vm2[BSEC_HASH_BYTES], vm2d[BSEC_HASH_BYTES];

	assert_int_equal(store_open(&s, W.dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), 0);
	assert_memory_equal(store_tip_hash(s), W.g.chain_id, BSEC_HASH_BYTES);
	W.live = state_new(&W.g);

	mk_tenant(&t[0], W.admin[1], TENANT_REGISTER, "p1", W.t2, "acme", 5, bts(1) - 5);
	mk_request(&t[1], W.t1, "p0", "vm create vm1 --image debian-12", bts(1) - 4);
	mk_request(&t[2], W.t1, "p0", "vm create vm9", bts(1) - 3);
	memcpy(W.req_vm1, t[1].id, BSEC_HASH_BYTES);
	memcpy(vm9, t[2].id, BSEC_HASH_BYTES);
	commit_block(s, W.live, t, 3, bts(1));

	mk_response(&t[0], W.orch[0], W.req_vm1, TX_STATUS_OK, bts(2) - 5);
	mk_request(&t[1], W.t2, "p1", "vm create vm2", bts(2) - 4);
	mk_response(&t[2], W.orch[0], vm9, TX_STATUS_ERROR, bts(2) - 3);
	memcpy(vm2, t[1].id, BSEC_HASH_BYTES);
	commit_block(s, W.live, t, 3, bts(2));

	mk_request(&t[0], W.t1, "p0", "vnf create fw1 --type firewall --vm vm1", bts(3) - 5);
	mk_response(&t[1], W.orch[1], vm2, TX_STATUS_OK, bts(3) + 20);
	memcpy(W.req_fw1, t[0].id, BSEC_HASH_BYTES);
	commit_block(s, W.live, t, 2, bts(3));

	mk_response(&t[0], W.orch[0], W.req_fw1, TX_STATUS_OK, bts(4) - 5);
	mk_request(&t[1], W.t1, "p0", "sfc create s1 --chain fw1 --match proto=tcp", bts(4) - 4);
	mk_request(&t[2], W.t2, "p1", "vm delete vm2", bts(4) - 3);
	memcpy(W.req_s1, t[1].id, BSEC_HASH_BYTES);
	memcpy(vm2d, t[2].id, BSEC_HASH_BYTES);
	commit_block(s, W.live, t, 3, bts(4));

	mk_request(&t[0], W.t1, "p0", "vnf update fw1 --config mode=strict", bts(5) - 5);
	mk_tenant(&t[1], W.admin[1], TENANT_UPDATE, "p1", W.t2, "acme", 9, bts(5) - 4);
	commit_block(s, W.live, t, 2, bts(5));
	W.height = 5;
	assert_int_equal(store_height(s), 5);
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
	W.t1 = sig_keygen(SIG_ECDSA_P256);
	W.t2 = sig_keygen(SIG_ED25519);
	snprintf(W.dir, sizeof(W.dir), "/tmp/bsec-test-store-%d/pristine", (int)getpid());
	write_genesis(W.dir, BASE_TS);
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
	char *cmd = xasprintf("rm -rf /tmp/bsec-test-store-%d", (int)getpid());
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
	sig_key_free(W.t2);
	return 0;
}

/* A fresh copy of the pristine data dir (genesis + ledger). */
static char *copy_dir(const char *name)
{
	char err[256];
	char *dir = xasprintf("/tmp/bsec-test-store-%d/%s", (int)getpid(), name);
	const char *files[] = { "genesis.json", "ledger.db" };
	assert_int_equal(mkdir_p(dir, 0700), 0);
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		size_t len;
		char *src = xasprintf("%s/%s", W.dir, files[i]);
		char *dst = xasprintf("%s/%s", dir, files[i]);
		uint8_t *d = file_read(src, &len, 1u << 30, err, sizeof(err));
		if (!d)
			fail_msg("%s", err);
		assert_int_equal(file_write(dst, d, len, 0600, err, sizeof(err)), 0);
		free(d);
		free(src);
		free(dst);
	}
	return dir;
}

static void sql(const char *dir, const char *stmt)
{
	sqlite3 *db;
	char *path = xasprintf("%s/ledger.db", dir), *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, stmt, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", stmt, msg);
	assert_int_equal(sqlite3_changes(db) > 0 || strncmp(stmt, "UPDATE", 6), 1);
	sqlite3_close(db);
	free(path);
}

/* Schema 4 takes a second row with a stored tx's id (validation refuses
 * such a tx, the store does not look): tests that need an append to fail
 * inside its SQL transaction get a trigger that refuses it the way the
 * UNIQUE id index of schema 3 did, rolling the transaction back. */
static void refuse_dup_ids(const char *dir)
{
	sql(dir, "CREATE TRIGGER test_dup_id BEFORE INSERT ON txs"
		 " WHEN EXISTS (SELECT 1 FROM txs WHERE idp = NEW.idp AND raw = NEW.raw)"
		 " BEGIN SELECT RAISE(ROLLBACK, 'test: tx already stored'); END");
}

/* Flips bit 0 of byte `at` (negative: from the end) of a blob column. */
static void flip(const char *dir, const char *table, const char *col, const char *where, int at)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char *path = xasprintf("%s/ledger.db", dir);
	char *sel = xasprintf("SELECT %s FROM %s WHERE %s", col, table, where);
	char *upd = xasprintf("UPDATE %s SET %s = ?1 WHERE %s", table, col, where);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sel, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int n = sqlite3_column_bytes(q, 0);
	uint8_t *b = xmalloc((size_t)n);
	memcpy(b, sqlite3_column_blob(q, 0), (size_t)n);
	sqlite3_finalize(q);
	int i = at < 0 ? n + at : at;
	assert_true(i >= 0 && i < n);
	b[i] ^= 1;
	assert_int_equal(sqlite3_prepare_v2(db, upd, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_blob(q, 1, b, n, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(b);
	free(path);
	free(sel);
	free(upd);
}

/* ---- store tests ---- */

static void test_reopen_and_read(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	block_t b;
	cert_t c;
	uint8_t *raw, *craw, resp[BSEC_HASH_BYTES];
	size_t len, clen;
	uint64_t h;
	uint32_t idx;

	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), 5);
	assert_memory_equal(store_tip_hash(s), W.hash[5], BSEC_HASH_BYTES);
	assert_true(store_tip_ts(s) == bts(5));
	for (uint64_t i = 1; i <= 5; i++) {
		buf_t enc;
		assert_int_equal(store_get_block(s, i, &b, &c, err, sizeof(err)), 0);
		assert_memory_equal(b.hdr.hash, W.hash[i], BSEC_HASH_BYTES);
		assert_int_equal(cert_verify(&c, &W.g, i, b.hdr.hash, err, sizeof(err)), 0);
		/* the raw form is exactly the block's encoding */
		assert_int_equal(store_get_block_raw(s, i, &raw, &len, &craw, &clen), 0);
		buf_init(&enc);
		block_encode(&enc, &b);
		assert_int_equal(enc.len, len);
		assert_memory_equal(enc.data, raw, len);
		buf_free(&enc);
		free(raw);
		free(craw);
		block_clear(&b);
		cert_clear(&c);
	}
	assert_int_equal(store_get_block_raw(s, 6, &raw, &len, &craw, &clen), -1);
	assert_int_equal(store_get_block(s, 0, &b, &c, err, sizeof(err)), -1);

	/* txs by id */
	assert_int_equal(store_get_tx(s, W.req_fw1, &raw, &len, &h, &idx), 0);
	assert_int_equal(h, 3);
	assert_int_equal(idx, 0);
	tx_t tx;
	assert_int_equal(tx_decode(&tx, raw, len, W.g.chain_id, err, sizeof(err)), 0);
	assert_memory_equal(tx.id, W.req_fw1, BSEC_HASH_BYTES);
	tx_clear(&tx);
	free(raw);
	uint8_t nope[BSEC_HASH_BYTES] = { 1 };
	assert_int_equal(store_get_tx(s, nope, &raw, &len, &h, &idx), -1);

	/* request -> response */
	assert_int_equal(store_find_response(s, W.req_vm1, resp), 0);
	assert_int_equal(store_get_tx(s, resp, &raw, &len, &h, &idx), 0);
	assert_int_equal(h, 2);
	assert_int_equal(idx, 0);
	free(raw);
	assert_int_equal(store_find_response(s, W.req_s1, resp), 1);

	/* writes are refused read-only */
	assert_int_equal(store_meta_put(s, "view", "x", 1), -1);
	store_close(s);
}

typedef struct {
	uint64_t heights[64];
	uint32_t idx[64];
	size_t n;
	size_t stop_after;
} qres_t;

static int collect(void *ctx, uint64_t height, uint32_t index, uint64_t block_ts,
		   const uint8_t *raw, size_t len)
{
	qres_t *r = ctx;
	assert_true(block_ts == bts(height));
	assert_true(len > 0 && raw != NULL);
	r->heights[r->n] = height;
	r->idx[r->n] = index;
	r->n++;
	return r->stop_after && r->n >= r->stop_after;
}

/* The queries of the pristine chain, on any store holding it (also one
 * of an older schema, read-only or migrated). */
static void check_queries(store_t *s)
{
	pubkey_t t1 = { .scheme = (uint8_t)sig_key_scheme(W.t1) };
	pubkey_t n0 = { .scheme = (uint8_t)sig_key_scheme(W.node[0]) };
	memcpy(t1.key, sig_key_pub(W.t1), sig_pub_len(t1.scheme));
	memcpy(n0.key, sig_key_pub(W.node[0]), sig_pub_len(n0.scheme));

	static const struct {
		const char *what;
		store_query_t q;
		size_t n;
		uint64_t first_h, last_h;
	} cases[] = {
		{ "all", { 0 }, 13, 1, 5 },
		{ "sender t1", { .sender = (const pubkey_t *)1 }, 5, 1, 5 },
		{ "responses", { .type = TX_RESPONSE }, 4, 2, 4 },
		{ "tenant txs", { .type = TX_TENANT }, 2, 1, 5 },
		/* vm1: its create and response, fw1's create (--vm vm1) and response */
		{ "object vm1", { .obj_kind = OBJ_VM, .obj_name = "vm1" }, 4, 1, 4 },
		/* fw1: create, response, s1's chain, update */
		{ "object fw1", { .obj_kind = OBJ_VNF, .obj_name = "fw1" }, 4, 3, 5 },
		{ "domain p1", { .domain = "p1" }, 5, 1, 5 },
		{ "domain p1 requests", { .domain = "p1", .type = TX_REQUEST }, 2, 2, 4 },
		{ "t1 requests from 4", { .sender = (const pubkey_t *)1, .type = TX_REQUEST,
					  .from_height = 4 }, 2, 4, 5 },
		{ "t1 on vm1", { .sender = (const pubkey_t *)1, .obj_kind = OBJ_VM,
				 .obj_name = "vm1" }, 2, 1, 3 },
		{ "limit", { .limit = 3 }, 3, 1, 1 },
		/* a node key signs no tx: no principal, no results */
		{ "sender node 0", { .sender = (const pubkey_t *)2 }, 0, 0, 0 },
		{ "nothing", { .obj_kind = OBJ_SFC, .obj_name = "zz" }, 0, 0, 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		store_query_t q = cases[i].q;
		qres_t r = { .n = 0 };
		if (q.sender)
			q.sender = q.sender == (const pubkey_t *)2 ? &n0 : &t1;
		assert_int_equal(store_query_txs(s, &q, collect, &r), 0);
		if (r.n != cases[i].n)
			fail_msg("%s: %zu results, want %zu", cases[i].what, r.n, cases[i].n);
		if (r.n) {
			assert_int_equal(r.heights[0], cases[i].first_h);
			assert_int_equal(r.heights[r.n - 1], cases[i].last_h);
		}
		for (size_t k = 1; k < r.n; k++) /* chain order */
			assert_true(r.heights[k] > r.heights[k - 1] ||
				    (r.heights[k] == r.heights[k - 1] && r.idx[k] > r.idx[k - 1]));
	}
	qres_t r = { .stop_after = 2 };
	store_query_t all = { 0 };
	assert_int_equal(store_query_txs(s, &all, collect, &r), 0);
	assert_int_equal(r.n, 2);
}

static void test_queries(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	check_queries(s);
	store_close(s);
}

/* ---- reloaded state == the state that built the chain ---- */

typedef struct {
	const state_t *self, *other;
} pair_t;

static int cmp_object(void *ctx, int kind, const char *name, const object_rec_t *a)
{
	const pair_t *p = ctx;
	const object_rec_t *b = state_object(p->other, kind, name, strlen(name));
	if (!b)
		fail_msg("%s %s missing after reload", obj_kind_name(kind), name);
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->domain, b->domain);
	assert_non_null(a->owner);
	/* interned: the same key is the same pointer, in any state */
	assert_ptr_equal(a->owner, b->owner);
	assert_ptr_equal(a->owner, pubkey_intern(b->owner->scheme, b->owner->key));
	assert_int_equal(a->status, b->status);
	assert_string_equal(a->spec ? a->spec : "-", b->spec ? b->spec : "-");
	assert_string_equal(a->pending_spec ? a->pending_spec : "-",
			    b->pending_spec ? b->pending_spec : "-");
	assert_memory_equal(a->last_request, b->last_request, BSEC_HASH_BYTES);
	assert_int_equal(a->height, b->height);
	assert_int_equal(state_refs(p->self, kind, name, strlen(name)),
			 state_refs(p->other, kind, name, strlen(name)));
	return 0;
}

static int cmp_tenant(void *ctx, const tenant_rec_t *a)
{
	const pair_t *p = ctx;
	const tenant_rec_t *b = state_tenant(p->other, a->domain, strlen(a->domain), a->key.scheme,
					     a->key.key);
	if (!b)
		fail_msg("tenant %s in %s missing after reload", a->name, a->domain);
	assert_string_equal(a->name, b->name);
	assert_memory_equal(&a->sla, &b->sla, sizeof(sla_t));
	assert_int_equal(a->revoked, b->revoked);
	assert_int_equal(a->height, b->height);
	for (int k = OBJ_VM; k <= OBJ_SFC; k++)
		assert_int_equal(state_count(p->self, a->key.scheme, a->key.key, a->domain,
					     strlen(a->domain), k),
				 state_count(p->other, a->key.scheme, a->key.key, a->domain,
					     strlen(a->domain), k));
	for (uint64_t now = bts(1); now <= bts(6) + 60000; now += 7000)
		assert_int_equal(state_rate_in(p->self, a->domain, strlen(a->domain), a->key.scheme,
					       a->key.key, now),
				 state_rate_in(p->other, a->domain, strlen(a->domain), a->key.scheme,
					       a->key.key, now));
	return 0;
}

static int count_obj(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	(void)kind, (void)name, (void)o;
	(*(size_t *)ctx)++;
	return 0;
}

static int count_ten(void *ctx, const tenant_rec_t *t)
{
	(void)t;
	(*(size_t *)ctx)++;
	return 0;
}

static void compare_states(const state_t *a, const state_t *b)
{
	size_t na = 0, nb = 0;
	assert_int_equal(state_height(a), state_height(b));
	assert_true(state_tip_ts(a) == state_tip_ts(b));
	pair_t ab = { a, b }, ba = { b, a };
	assert_int_equal(state_foreach_object(a, cmp_object, &ab), 0);
	assert_int_equal(state_foreach_object(b, cmp_object, &ba), 0);
	state_foreach_object(a, count_obj, &na);
	state_foreach_object(b, count_obj, &nb);
	assert_int_equal(na, nb);
	assert_int_equal(state_foreach_tenant(a, cmp_tenant, &ab), 0);
	assert_int_equal(state_foreach_tenant(b, cmp_tenant, &ba), 0);
	na = nb = 0;
	state_foreach_tenant(a, count_ten, &na);
	state_foreach_tenant(b, count_ten, &nb);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < W.n_ids; i++) {
		const open_request_t *x = state_open_request(a, W.ids[i]);
		const open_request_t *y = state_open_request(b, W.ids[i]);
		assert_int_equal(state_has_tx(a, W.ids[i]), state_has_tx(b, W.ids[i]));
		assert_int_equal(state_was_answered(a, W.ids[i]), state_was_answered(b, W.ids[i]));
		assert_int_equal(!x, !y);
		if (!x)
			continue;
		assert_string_equal(x->domain, y->domain);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->verb, y->verb);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->height, y->height);
		assert_true(x->timestamp_ms == y->timestamp_ms);
	}
}

static void test_load_state(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	state_t *st = state_new(&W.g);
	const object_rec_t *o;

	assert_int_equal(store_open(&s, W.dir, &W.g, 1, err, sizeof(err)), 0);
	if (store_load_state(s, st, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	compare_states(W.live, st);

	/* spot checks of what the chain says */
	assert_null(state_object(st, OBJ_VM, "vm9", 3));            /* create failed */
	o = state_object(st, OBJ_VM, "vm2", 3);
	assert_non_null(o);
	assert_int_equal(o->status, OBJ_DELETING);
	o = state_object(st, OBJ_VNF, "fw1", 3);
	assert_non_null(o);
	assert_int_equal(o->status, OBJ_ACTIVE);
	assert_non_null(o->pending_spec);
	assert_non_null(state_open_request(st, W.req_s1));
	assert_null(state_open_request(st, W.req_vm1));
	assert_true(state_has_tx(st, W.req_vm1));
	/* fw1 names vm1 in its spec and in its pending update */
	assert_int_equal(state_refs(st, OBJ_VM, "vm1", 3), 2);

	/* both states give the same verdicts on new txs */
	static const struct {
		const char *instr;
		verr_t want;
	} probes[] = {
		{ "vm delete vm1", V_IN_USE },
		{ "vm create vm1", V_EXISTS },
		{ "vm create vm3", V_OK },
		{ "sfc delete s1", V_IN_USE },
		{ "vnf delete nope", V_NO_OBJECT },
	};
	for (size_t i = 0; i < ARRAY_LEN(probes); i++) {
		tx_t tx;
		verdict_t v1, v2;
		mk_request(&tx, W.t1, "p0", probes[i].instr, bts(6) - 1);
		assert_int_equal(validate_tx(W.live, &tx, bts(6), &v1), probes[i].want);
		assert_int_equal(validate_tx(st, &tx, bts(6), &v2), probes[i].want);
		tx_clear(&tx);
	}
	/* a tx already in the chain is a duplicate for both */
	uint8_t *raw;
	size_t len;
	uint64_t h;
	uint32_t idx;
	tx_t dup;
	verdict_t v;
	assert_int_equal(store_get_tx(s, W.req_s1, &raw, &len, &h, &idx), 0);
	assert_int_equal(tx_decode(&dup, raw, len, W.g.chain_id, err, sizeof(err)), 0);
	assert_int_equal(validate_tx(st, &dup, bts(6), &v), V_DUPLICATE);
	assert_int_equal(validate_tx(W.live, &dup, bts(6), &v), V_DUPLICATE);
	tx_clear(&dup);
	free(raw);
	state_free(st);
	store_close(s);
}

/* Turns the pristine (schema 5) ledger in dir into what schema 4 wrote:
 * every header in the longer at-rest form (without the chain_id and the
 * genesis's key only) and every certificate as signed. */
/* Turns a ledger in dir into what schema 5 wrote: the tx id prefix
 * indexed in txs itself, no tx_ids table. */
static void downgrade_v5(const char *dir)
{
	sql(dir, "CREATE INDEX txs_idp ON txs(idp); DROP TABLE tx_ids;"
		 "UPDATE meta SET value = CAST('5' AS BLOB) WHERE key = 'schema_version'");
}

static void downgrade_v4(const char *dir)
{
	store_t *s;
	sqlite3 *db;
	sqlite3_stmt *u;
	char *path = xasprintf("%s/ledger.db", dir), err[256];
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blocks SET header = ?2, cert = ?3 WHERE height = ?1",
					    -1, &u, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	for (uint64_t h = 1; h <= store_height(s); h++) {
		block_t b;
		cert_t c;
		buf_t hb, cb;
		assert_int_equal(store_get_block(s, h, &b, &c, err, sizeof(err)), 0);
		buf_init(&hb);
		buf_init(&cb);
		block_header_encode_stored(&hb, &b.hdr, &W.g);
		cert_encode(&cb, &c);
		sqlite3_bind_int64(u, 1, (int64_t)h);
		sqlite3_bind_blob(u, 2, hb.data, (int)hb.len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(u, 3, cb.data, (int)cb.len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		assert_int_equal(sqlite3_changes(db), 1);
		sqlite3_reset(u);
		buf_free(&hb);
		buf_free(&cb);
		block_clear(&b);
		cert_clear(&c);
	}
	sqlite3_finalize(u);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = CAST('4' AS BLOB) WHERE key = 'schema_version';"
				      "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	store_close(s);
	free(path);
}

/* Which block rows hold a short header (block_stored_is_short), in
 * height order, as a string of 0 and 1. */
static char *short_rows(const char *dir)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	buf_t out;
	char *path = xasprintf("%s/ledger.db", dir);
	buf_init(&out);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT header FROM blocks ORDER BY height", -1, &q, NULL),
			 SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW)
		buf_u8(&out, block_stored_is_short(sqlite3_column_blob(q, 0),
						   (size_t)sqlite3_column_bytes(q, 0)) ? '1' : '0');
	buf_u8(&out, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	free(path);
	size_t n;
	return (char *)buf_steal(&out, &n);
}

/* Turns a schema-4 ledger (downgrade_v4's) in dir into what schema 3 wrote:
 * each tx's whole id (UNIQUE), height, index and timestamp in its row, a
 * response's request by id. */
static void downgrade_v3(const char *dir)
{
	sqlite3 *db;
	sqlite3_stmt *q, *u;
	char *path = xasprintf("%s/ledger.db", dir), err[256];
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN; CREATE TABLE txs3 (seq INTEGER PRIMARY KEY,"
				      " height INTEGER NOT NULL, idx INTEGER NOT NULL, id BLOB NOT NULL UNIQUE,"
				      " type INTEGER NOT NULL, sender INTEGER NOT NULL, domain TEXT,"
				      " ts INTEGER NOT NULL, request_id BLOB, raw BLOB NOT NULL)",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, type, sender, domain, raw FROM txs ORDER BY seq",
					    -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO txs3 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
					    -1, &u, NULL), SQLITE_OK);
	int rows = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		tx_t t;
		int64_t seq = sqlite3_column_int64(q, 0);
		assert_int_equal(tx_decode(&t, sqlite3_column_blob(q, 4), (size_t)sqlite3_column_bytes(q, 4),
					   W.g.chain_id, err, sizeof(err)), 0);
		sqlite3_bind_int64(u, 1, seq);
		sqlite3_bind_int64(u, 2, seq >> 20);
		sqlite3_bind_int64(u, 3, seq & 1048575);
		sqlite3_bind_blob(u, 4, t.id, BSEC_HASH_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_value(u, 5, sqlite3_column_value(q, 1));
		sqlite3_bind_value(u, 6, sqlite3_column_value(q, 2));
		sqlite3_bind_value(u, 7, sqlite3_column_value(q, 3));
		sqlite3_bind_int64(u, 8, (int64_t)t.timestamp_ms);
		if (t.type == TX_RESPONSE)
			sqlite3_bind_blob(u, 9, t.request_id, BSEC_HASH_BYTES, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(u, 9);
		sqlite3_bind_value(u, 10, sqlite3_column_value(q, 4));
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		sqlite3_reset(u);
		tx_clear(&t);
		rows++;
	}
	assert_true(rows > 0);
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE txs; ALTER TABLE txs3 RENAME TO txs;"
				      "CREATE INDEX txs_sender ON txs(sender, seq);"
				      "CREATE INDEX txs_type_rare ON txs(type, seq) WHERE type >= 3;"
				      "CREATE INDEX txs_domain ON txs(domain, seq);"
				      "CREATE INDEX txs_request ON txs(request_id) WHERE request_id IS NOT NULL;"
				      "ALTER TABLE blocks ADD COLUMN view INTEGER NOT NULL DEFAULT 0;"
				      "ALTER TABLE blocks ADD COLUMN proposer INTEGER NOT NULL DEFAULT 0;"
				      "CREATE INDEX blocks_ts ON blocks(ts);"
				      "UPDATE meta SET value = CAST('3' AS BLOB) WHERE key = 'schema_version';"
				      "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

/* Turns a schema-3 ledger (downgrade_v3's) in dir into what schema 2 wrote:
 * sender and owner keys in every row, a prev_hash column, an index by
 * block hash, no principals table. */
static void downgrade_v2(const char *dir)
{
	sql(dir, "CREATE TABLE txs2 (seq INTEGER PRIMARY KEY, height INTEGER NOT NULL,"
		 " idx INTEGER NOT NULL, id BLOB NOT NULL UNIQUE, type INTEGER NOT NULL,"
		 " sender BLOB NOT NULL, domain TEXT, ts INTEGER NOT NULL, request_id BLOB,"
		 " raw BLOB NOT NULL);"
		 "INSERT INTO txs2 SELECT t.seq, t.height, t.idx, t.id, t.type, p.key, t.domain, t.ts,"
		 " t.request_id, t.raw FROM txs t JOIN principals p ON p.id = t.sender;"
		 "DROP TABLE txs;"
		 "ALTER TABLE txs2 RENAME TO txs;"
		 "CREATE INDEX txs_sender ON txs(sender, seq);"
		 "CREATE INDEX txs_type_rare ON txs(type, seq) WHERE type >= 3;"
		 "CREATE INDEX txs_domain ON txs(domain, seq);"
		 "CREATE INDEX txs_request ON txs(request_id) WHERE request_id IS NOT NULL;"
		 "CREATE TABLE objects2 (kind INTEGER NOT NULL, name TEXT NOT NULL,"
		 " domain TEXT NOT NULL, owner_scheme INTEGER NOT NULL, owner BLOB NOT NULL,"
		 " status INTEGER NOT NULL, spec TEXT, pending_spec TEXT, last_request BLOB NOT NULL,"
		 " height INTEGER NOT NULL, PRIMARY KEY (kind, name)) WITHOUT ROWID;"
		 "INSERT INTO objects2 SELECT o.kind, o.name, o.domain,"
		 " unicode(CAST(substr(p.key, 1, 1) AS TEXT)), substr(p.key, 2), o.status, o.spec,"
		 " o.pending_spec, t.id, o.height FROM objects o"
		 " JOIN principals p ON p.id = o.owner JOIN txs t ON t.seq = o.last_request;"
		 /* specs left to their request's instruction: filled in below */
		 "CREATE TABLE spec_fix AS SELECT o.kind, o.name, t.raw FROM objects o"
		 " JOIN txs t ON t.seq = o.last_request WHERE o.spec_src = 1;"
		 "DROP TABLE objects;"
		 "ALTER TABLE objects2 RENAME TO objects;"
		 "ALTER TABLE blocks ADD COLUMN prev_hash BLOB NOT NULL DEFAULT x'';"
		 "ALTER TABLE blocks ADD COLUMN hash BLOB NOT NULL DEFAULT x'';"
		 "CREATE INDEX blocks_hash ON blocks(hash);"
		 "DROP TABLE principals;"
		 "UPDATE meta SET value = CAST('2' AS BLOB) WHERE key = 'schema_version'");
	/* headers as signed, with their hash and prev_hash columns */
	sqlite3 *db;
	sqlite3_stmt *q, *u;
	char *path = xasprintf("%s/ledger.db", dir), err[256];
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT height, header FROM blocks", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blocks SET header = ?2, hash = ?3, prev_hash = ?4"
					    " WHERE height = ?1", -1, &u, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	while (sqlite3_step(q) == SQLITE_ROW) {
		buf_t full;
		block_header_t h;
		rd_t r;
		buf_init(&full);
		if (block_header_expand_stored(&full, sqlite3_column_blob(q, 1),
					       (size_t)sqlite3_column_bytes(q, 1), W.g.chain_id, &W.g, err,
					       sizeof(err)) < 0)
			fail_msg("expanding: %s", err);
		assert_true(full.len > 0 && full.data[0] < 0x80);
		rd_init(&r, full.data, full.len);
		assert_int_equal(block_header_read(&r, &h), 0);
		sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
		sqlite3_bind_blob(u, 2, full.data, (int)full.len, SQLITE_TRANSIENT);
		sqlite3_bind_blob(u, 3, h.hash, BSEC_HASH_BYTES, SQLITE_TRANSIENT);
		sqlite3_bind_blob(u, 4, h.prev_hash, BSEC_HASH_BYTES, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		sqlite3_reset(u);
		buf_free(&full);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT kind, name, raw FROM spec_fix", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE objects SET spec = ?3 WHERE kind = ?1 AND name = ?2",
					    -1, &u, NULL), SQLITE_OK);
	int fixed = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		tx_t t;
		assert_int_equal(tx_decode(&t, sqlite3_column_blob(q, 2), (size_t)sqlite3_column_bytes(q, 2),
					   W.g.chain_id, err, sizeof(err)), 0);
		sqlite3_bind_int(u, 1, sqlite3_column_int(q, 0));
		sqlite3_bind_text(u, 2, (const char *)sqlite3_column_text(q, 1), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(u, 3, t.instruction, (int)t.instruction_len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(u), SQLITE_DONE);
		assert_int_equal(sqlite3_changes(db), 1);
		sqlite3_reset(u);
		tx_clear(&t);
		fixed++;
	}
	assert_true(fixed > 0);   /* the pristine chain has specs left to their request */
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE spec_fix; COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

/* One row's answer to a query on dir's ledger, as text. */
static char *sql_text(const char *dir, const char *query)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char *path = xasprintf("%s/ledger.db", dir), *out;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, query, -1, &q, NULL) != SQLITE_OK) {
		out = xasprintf("error: %s", sqlite3_errmsg(db));
	} else {
		out = xstrdup(sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0)
				      ? (const char *)sqlite3_column_text(q, 0) : "(none)");
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
	free(path);
	return out;
}

static void assert_sql(const char *dir, const char *query, const char *want)
{
	char *got = sql_text(dir, query);
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("%s: `%s', want `%s'", query, got, want);
	free(got);
}

/* Ledgers written by schemas 1 to 5: read-only opens read them as they
 * are; a writable open migrates them in place (every block, tx, object,
 * open request and query answer kept, every tx id in tx_ids), and later
 * opens see schema 6; the migrated ledger still takes blocks and passes
 * the audit. */
static void test_schema_old(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	for (int v = 5; v >= 1; v--) {
		char name[24], vs[12];
		snprintf(name, sizeof(name), "schema%d", v);
		snprintf(vs, sizeof(vs), "%d", v);
		char *dir = copy_dir(name);
		char *rows = short_rows(dir);
		assert_string_equal(rows, "11111");
		free(rows);
		downgrade_v5(dir);
		if (v <= 4)
			downgrade_v4(dir);
		if (v <= 3)
			downgrade_v3(dir);
		if (v <= 2)
			downgrade_v2(dir);
		if (v == 1)
			sql(dir, "CREATE TABLE open_v1 (id BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
				 "INSERT INTO open_v1 SELECT t.id, o.seq FROM open_requests o"
				 " JOIN txs t ON t.seq = o.seq;"
				 "DROP TABLE open_requests;"
				 "ALTER TABLE open_v1 RENAME TO open_requests;"
				 "UPDATE meta SET value = CAST('1' AS BLOB) WHERE key = 'schema_version'");
		assert_sql(dir, "SELECT typeof(sender) FROM txs", v <= 2 ? "blob" : "integer");
		assert_sql(dir, "SELECT typeof(id) FROM txs", v <= 3 ? "blob" : "error: no such column: id");
		if (v <= 2)
			assert_sql(dir, "SELECT count(*) FROM blocks WHERE substr(header, 1, 1) >= x'80'", "0");
		for (int writable = 0; writable <= 1; writable++) {
			state_t *st = state_new(&W.g);
			if (store_open(&s, dir, &W.g, !writable, err, sizeof(err)) < 0)
				fail_msg("schema %d, open (writable %d): %s", v, writable, err);
			if (store_load_state(s, st, err, sizeof(err)) < 0)
				fail_msg("schema %d, load (writable %d): %s", v, writable, err);
			compare_states(W.live, st);
			assert_non_null(state_open_request(st, W.req_s1));
			assert_int_equal(store_height(s), W.height);
			assert_memory_equal(store_tip_hash(s), W.hash[W.height], BSEC_HASH_BYTES);
			check_queries(s);
			store_close(s);
			state_free(st);
			/* the read-only open changed nothing */
			assert_sql(dir, "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'schema_version'",
				   writable ? "6" : vs);
		}
		/* migrated: keys are principals ids, the dead column and index are gone */
		assert_sql(dir, "SELECT typeof(sender) FROM txs", "integer");
		assert_sql(dir, "SELECT typeof(owner) FROM objects", "integer");
		static const char *const same[] = {
			"SELECT count(*) FROM txs", "SELECT count(*) FROM open_requests",
			"SELECT count(*) FROM objects", "SELECT count(*) FROM tx_objects",
			"SELECT count(*) FROM principals",
			"SELECT count(*) FROM blocks", "SELECT max(height) FROM blocks",
		};
		for (size_t i = 0; i < ARRAY_LEN(same); i++) {
			char *want = sql_text(W.dir, same[i]);
			assert_sql(dir, same[i], want);
			free(want);
		}
		static const char *const same4[] = {
			"SELECT group_concat(idp) FROM (SELECT idp FROM txs ORDER BY seq)",
			"SELECT group_concat(request_seq) FROM (SELECT request_seq FROM txs ORDER BY seq)",
			"SELECT count(*) FROM txs WHERE request_seq IS NOT NULL",
		};
		for (size_t i = 0; i < ARRAY_LEN(same4); i++) {
			char *want = sql_text(W.dir, same4[i]);
			assert_sql(dir, same4[i], want);
			free(want);
		}
		/* the old columns and indexes are gone */
		static const char *const gone[][2] = {
			{ "SELECT id FROM txs", "error: no such column" },
			{ "SELECT ts FROM txs", "error: no such column" },
			{ "SELECT view FROM blocks", "error: no such column" },
			{ "SELECT prev_hash FROM blocks", "error: no such column" },
			{ "SELECT hash FROM blocks", "error: no such column" },
			{ "SELECT count(*) FROM sqlite_schema WHERE name IN ('blocks_ts', 'blocks_hash')", "0" },
			{ "SELECT count(*) = count(DISTINCT key) FROM principals", "1" },
			{ "SELECT count(*) FROM sqlite_schema WHERE name = 'txs_idp'", "0" },
			{ "SELECT count(*) FROM txs t WHERE NOT EXISTS (SELECT 1 FROM tx_ids i"
			  " WHERE i.idp = t.idp AND i.seq = t.seq)", "0" },
		};
		for (size_t i = 0; i < ARRAY_LEN(gone); i++)
			assert_sql(dir, gone[i][0], gone[i][1]);
		/* it takes the next block (a known sender and a new one) and audits clean */
		state_t *st = state_new(&W.g);
		assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
		assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
		tx_t t[2];
		uint64_t h = store_height(s) + 1;
		mk_request(&t[0], W.t1, "p0", "vm create vm7", bts(h) - 3);
		mk_request(&t[1], W.t2, "p1", "vm create vm8", bts(h) - 2);
		commit_block(s, st, t, 2, bts(h));
		store_close(s);
		state_free(st);
		audit_report_t rep;
		if (audit_verify_dir(dir, NULL, 1, &rep) != 0 || !rep.ok)
			fail_msg("schema %d, audit after migration: %s", v, rep.reason);
		assert_int_equal(rep.blocks, W.height + 1);
		assert_int_equal(rep.txs, 15);
		/* the old blocks kept their form (signed up to schema 2, without the
		 * chain_id and the proposer's key after), the new one is short */
		assert_sql(dir, "SELECT group_concat(substr(header, 1, 1) >= x'80', '') FROM"
				" (SELECT header FROM blocks ORDER BY height)", v <= 2 ? "000001" : "111111");
		rows = short_rows(dir);
		assert_string_equal(rows, v == 5 ? "111111" : "000001");
		free(rows);
		free(dir);
	}
	/* a schema-3 response whose request is not in the file: the migration
	 * refuses and leaves the file as it was, still readable read-only */
	char *bad = copy_dir("schema3bad");
	downgrade_v3(bad);
	sql(bad, "UPDATE txs SET request_id = zeroblob(32) WHERE seq = (SELECT min(seq) FROM txs"
		 " WHERE request_id IS NOT NULL)");
	assert_int_equal(store_open(&s, bad, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "would lose rows or a response's request"));
	assert_sql(bad, "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'schema_version'", "3");
	assert_sql(bad, "SELECT typeof(id) FROM txs", "blob");
	assert_int_equal(store_open(&s, bad, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), W.height);
	store_close(s);
	free(bad);
	/* an unknown version is refused, with the versions this build reads */
	char *dir = copy_dir("schema7");
	sql(dir, "UPDATE meta SET value = CAST('7' AS BLOB) WHERE key = 'schema_version'");
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema_version `7', this build reads 1 to 6"));
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema_version `7'"));
	free(dir);
}

/* A principal inserted by an append that then failed went with the
 * rollback; the next append of that key inserts it again (also when a
 * batch transaction of several blocks rolls back), so every tx row names
 * a principal that exists. */
static void test_principal_rollback(void **unused)
{
	(void)unused;
	char err[512], *dir = copy_dir("principals");
	refuse_dup_ids(dir);
	store_t *s;
	block_t b;
	cert_t c;
	tx_t t[2];
	uint8_t *raw;
	size_t len;
	uint64_t h;
	uint32_t idx;

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	for (int batch = 0; batch <= 1; batch++) {
		const sig_key_t *fresh = W.node[2 + batch];   /* signed no tx so far */
		uint64_t tip = store_height(s);
		assert_int_equal(store_batch(s, batch, err, sizeof(err)), 0);
		if (batch) {   /* a first block of the batch, lost with it */
			mk_request(&t[0], fresh, "p0", "vm create vm30", bts(tip + 1) - 1);
			mk_block(&b, &c, tip + 1, store_tip_hash(s), bts(tip + 1), 1, t, 1);
			assert_int_equal(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)), 0);
			block_clear(&b);
			cert_clear(&c);
		}
		/* the fresh key's tx beside one already stored: refused */
		uint64_t at = store_height(s) + 1;
		mk_request(&t[0], fresh, "p0", "vm create vm31", bts(at) - 1);
		assert_int_equal(store_get_tx(s, W.req_s1, &raw, &len, &h, &idx), 0);
		assert_int_equal(tx_decode(&t[1], raw, len, W.g.chain_id, err, sizeof(err)), 0);
		free(raw);
		mk_block(&b, &c, at, store_tip_hash(s), bts(at), 2, t, 2);
		assert_int_equal(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)), -1);
		assert_int_equal(store_height(s), tip);
		block_clear(&b);
		cert_clear(&c);
		/* the key again, alone: stored, and named by a principal that exists */
		mk_request(&t[0], fresh, "p0", "vm create vm32", bts(tip + 1) - 1);
		mk_block(&b, &c, tip + 1, store_tip_hash(s), bts(tip + 1), 3, t, 1);
		if (store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)) < 0)
			fail_msg("batch %d: %s", batch, err);
		block_clear(&b);
		cert_clear(&c);
		assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
		assert_int_equal(store_height(s), tip + 1);

		pubkey_t k = { .scheme = (uint8_t)sig_key_scheme(fresh) };
		memcpy(k.key, sig_key_pub(fresh), sig_pub_len(k.scheme));
		store_query_t q = { .sender = &k };
		qres_t r = { .n = 0 };
		assert_int_equal(store_query_txs(s, &q, collect, &r), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(r.heights[0], tip + 1);
	}
	store_close(s);
	assert_sql(dir, "SELECT count(*) FROM txs t LEFT JOIN principals p ON p.id = t.sender"
			" WHERE p.id IS NULL", "0");
	assert_sql(dir, "SELECT count(*) FROM principals p WHERE NOT EXISTS"
			" (SELECT 1 FROM txs t WHERE t.sender = p.id)"
			" AND NOT EXISTS (SELECT 1 FROM objects o WHERE o.owner = p.id)", "0");
	free(dir);
}

/* An object's spec is stored only when it is not its last request's
 * instruction: a create's is read back from the create; an update's
 * merged spec, once answered (the request an earlier block holds, the
 * response in this one), is stored, and the reloaded state is the same. */
static void test_spec_from_request(void **unused)
{
	(void)unused;
	char err[512], *dir = copy_dir("specsrc");
	store_t *s;
	state_t *st = state_new(&W.g), *back = state_new(&W.g);
	tx_t t[1];
	const object_rec_t *fw;

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	fw = state_object(st, OBJ_VNF, "fw1", 3);
	assert_non_null(fw);
	assert_non_null(fw->pending_spec);
	uint8_t upd[BSEC_HASH_BYTES];
	memcpy(upd, fw->last_request, BSEC_HASH_BYTES);
	mk_response(&t[0], W.orch[0], upd, TX_STATUS_OK, bts(6) - 2);
	commit_block(s, st, t, 1, bts(6));
	fw = state_object(st, OBJ_VNF, "fw1", 3);
	assert_null(fw->pending_spec);
	assert_non_null(strstr(fw->spec, "mode=strict"));
	store_close(s);

	assert_sql(dir, "SELECT spec_src FROM objects WHERE name = 'fw1'", "0");
	assert_sql(dir, "SELECT spec FROM objects WHERE name = 'fw1'", "vnf create fw1");
	assert_sql(dir, "SELECT spec_src FROM objects WHERE name = 'vm1'", "1");
	assert_sql(dir, "SELECT typeof(spec) FROM objects WHERE name = 'vm1'", "null");
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	if (store_load_state(s, back, err, sizeof(err)) < 0)
		fail_msg("load: %s", err);
	compare_states(st, back);
	store_close(s);
	state_free(st);
	state_free(back);
	free(dir);
}

/* ---- refusals ---- */

static void test_refusals(void **unused)
{
	(void)unused;
	char err[512], *dir = copy_dir("refuse");
	refuse_dup_ids(dir);
	store_t *s;
	state_t *st = state_new(&W.g);
	block_t b;
	cert_t c;
	tx_t t[2];
	uint8_t bad[BSEC_HASH_BYTES];

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);

	/* wrong height */
	mk_request(&t[0], W.t1, "p0", "vm create vm7", bts(6) - 1);
	mk_block(&b, &c, 7, store_tip_hash(s), bts(6), 1, t, 1);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "height 7 does not follow the tip 5"));
	block_clear(&b);
	cert_clear(&c);

	/* wrong prev_hash */
	memcpy(bad, store_tip_hash(s), BSEC_HASH_BYTES);
	bad[0] ^= 1;
	mk_request(&t[0], W.t1, "p0", "vm create vm7", bts(6) - 1);
	mk_block(&b, &c, 6, bad, bts(6), 1, t, 1);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "prev_hash"));
	block_clear(&b);
	cert_clear(&c);

	/* a failure inside the SQL transaction (a tx already stored, which
	 * refuse_dup_ids's trigger refuses) leaves nothing behind */
	uint8_t *raw;
	size_t len;
	uint64_t h;
	uint32_t idx;
	assert_int_equal(store_get_tx(s, W.req_s1, &raw, &len, &h, &idx), 0);
	mk_request(&t[0], W.t1, "p0", "vm create vm8", bts(6) - 1);
	assert_int_equal(tx_decode(&t[1], raw, len, W.g.chain_id, err, sizeof(err)), 0);
	free(raw);
	mk_block(&b, &c, 6, store_tip_hash(s), bts(6), 2, t, 2);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tx 1"));
	assert_int_equal(store_height(s), 5);
	assert_int_equal(store_get_tx(s, b.txs[0].id, &raw, &len, &h, &idx), -1);
	block_clear(&b);
	cert_clear(&c);
	store_close(s);

	/* still a valid ledger: reopen, append a real block */
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), 5);
	mk_request(&t[0], W.t1, "p0", "vm create vm8", bts(6) - 1);
	commit_block(s, st, t, 1, bts(6));
	assert_int_equal(store_height(s), 6);

	/* consensus metadata */
	uint8_t *val;
	assert_int_equal(store_meta_get(s, "view", &val, &len), 1);
	assert_int_equal(store_meta_put(s, "view", "\x00\x07", 2), 0);
	assert_int_equal(store_meta_put(s, "view", "\x00\x08", 2), 0);
	assert_int_equal(store_meta_put(s, "empty", "", 0), 0);
	assert_int_equal(store_meta_get(s, "view", &val, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(val, "\x00\x08", 2);
	free(val);
	assert_int_equal(store_meta_get(s, "empty", &val, &len), 0);
	assert_int_equal(len, 0);
	free(val);
	store_close(s);

	/* a ledger of another chain is refused */
	genesis_t g2;
	char *d2 = xasprintf("%s-other", dir), *gp;
	write_genesis(d2, BASE_TS + 1);
	gp = xasprintf("%s/genesis.json", d2);
	assert_int_equal(genesis_load(&g2, gp, err, sizeof(err)), 0);
	assert_int_equal(store_open(&s, dir, &g2, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "belongs to chain"));
	assert_int_equal(store_open(&s, dir, &g2, 1, err, sizeof(err)), -1);
	/* and the auditor says so too */
	audit_report_t rep;
	assert_int_equal(audit_verify_dir(dir, gp, 1, &rep), -1);
	assert_int_equal(rep.ok, 0);
	assert_int_equal(rep.bad_height, 0);
	assert_non_null(strstr(rep.reason, "is of chain"));
	genesis_free(&g2);
	free(gp);
	free(d2);

	/* read-only never creates */
	char *d3 = xasprintf("%s-absent", dir);
	assert_int_equal(store_open(&s, d3, &W.g, 1, err, sizeof(err)), -1);
	assert_int_not_equal(access(d3, F_OK), 0);
	free(d3);

	/* a tampered tip is refused at open: a tx signature byte (only the
	 * version 2 header's sig_root covers it), then the certificate */
	flip(dir, "txs", "raw", "seq = 6 << 20", -1);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tip block 6: sig_root does not match"));
	flip(dir, "txs", "raw", "seq = 6 << 20", -1);
	flip(dir, "blocks", "cert", "height = 6", -1);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "certificate"));
	state_free(st);
	free(dir);
}

/* ---- audit ---- */

static void test_audit_valid(void **unused)
{
	(void)unused;
	audit_report_t rep;
	char *dir = copy_dir("valid");
	for (int threads = 1; threads <= 4; threads += 3) {
		if (audit_verify_dir(dir, NULL, threads, &rep) != 0)
			fail_msg("audit: %s", rep.reason);
		assert_int_equal(rep.ok, 1);
		assert_int_equal(rep.blocks, 5);
		assert_int_equal(rep.txs, 13);
		assert_int_equal(rep.threads, threads);
		assert_memory_equal(rep.tip_hash, W.hash[5], BSEC_HASH_BYTES);
	}
	json_t *j = audit_report_to_json(&rep);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "blocks")), 5);
	assert_true(json_is_null(json_object_get(j, "reason")));
	json_decref(j);
	free(dir);
}

static const char *tamper_sql[] = {
	/* swap blocks 2 and 3 with their txs */
	"UPDATE blocks SET height = -height WHERE height IN (2, 3);"
	"UPDATE blocks SET height = 5 + height WHERE height < 0;"
	"UPDATE txs SET seq = -seq WHERE seq >> 20 IN (2, 3);"
	"UPDATE txs SET seq = ((5 - ((-seq) >> 20)) << 20) | ((-seq) & 1048575) WHERE seq < 0;",
};

typedef struct {
	const char *name;
	const char *table, *col, *where;   /* a byte to flip, or NULL */
	int at;
	const char *stmt;                  /* SQL to run, or NULL */
	uint64_t height;
	int64_t tx;
	const char *reason;
	int v4;                            /* on a copy with schema 4's row forms */
} tamper_t;

static void test_audit_tampered(void **unused)
{
	(void)unused;
	static const tamper_t cases[] = {
		{ "tx-content", "txs", "raw", "seq = (3 << 20) + 1", 12, NULL, 3, 1,
		  "block 3: tx_root does not match its txs (tx 1 is not the tx that was committed)", 0 },
		{ "tx-signature", "txs", "raw", "seq = (4 << 20) + 2", -1, NULL, 4, 2,
		  "block 4 tx 2: signature does not verify", 0 },
		/* offsets in the stored form, which leaves out the chain_id (32 bytes
		 * after the first): the timestamp, prev_hash, height */
		{ "header", "blocks", "header", "height = 2", 48, NULL, 2, -1,
		  "block 2: proposer signature does not verify", 0 },
		{ "header-prev", "blocks", "header", "height = 2", 28, NULL, 2, -1,
		  "block 2: prev_hash does not match block 1's hash", 0 },
		/* the short form's view (the height, timestamp and tx count are the
		 * row's: changing one changes the header the proposer signed) */
		{ "header-view", "blocks", "header", "height = 4", 33, NULL, 4, -1,
		  "block 4: proposer signature does not verify", 0 },
		{ "row-timestamp", NULL, NULL, NULL, 0, "UPDATE blocks SET ts = ts + 1 WHERE height = 3", 3,
		  -1, "block 3: proposer signature does not verify", 0 },
		{ "row-count", NULL, NULL, NULL, 0, "UPDATE blocks SET tx_count = 4 WHERE height = 3", 3,
		  -1, "block 3: proposer signature does not verify", 0 },
		/* schema 4's form keeps the timestamp and tx count, and so does a
		 * header stored as signed: the row's columns, which history and
		 * accountability read, must be the same */
		{ "row-timestamp-v4", NULL, NULL, NULL, 0, "UPDATE blocks SET ts = ts + 600000 WHERE height = 3", 3,
		  -1, "block 3: the row's timestamp or tx count columns are not its signed header's", 1 },
		{ "row-count-v4", NULL, NULL, NULL, 0, "UPDATE blocks SET tx_count = 4 WHERE height = 3", 3,
		  -1, "block 3: the row's timestamp or tx count columns are not its signed header's", 1 },
		/* schema 4's form keeps the height (at offset 1) */
		{ "header-height-v4", "blocks", "header", "height = 4", 8, NULL, 4, -1,
		  "block 4: its header says height", 1 },
		{ "tx-content-v4", "txs", "raw", "seq = (3 << 20) + 1", 12, NULL, 3, 1,
		  "block 3: tx_root does not match its txs (tx 1 is not the tx that was committed)", 1 },
		{ "cert-signature", "blocks", "cert", "height = 4", -3, NULL, 4, -1,
		  "block 4: certificate signature of node 2 (p2) does not verify", 0 },
		{ "deleted", NULL, NULL, NULL, 0, "DELETE FROM blocks WHERE height = 3", 3, -1,
		  "block 3: missing (the ledger goes from block 2 to block 4)", 0 },
		{ "deleted-tip", NULL, NULL, NULL, 0, "DELETE FROM blocks WHERE height = 5", 5, -1,
		  "block 5: missing, yet the ledger files 2 tx rows", 0 },
		{ "deleted-tx", NULL, NULL, NULL, 0, "DELETE FROM txs WHERE seq = (2 << 20) + 1", 2,
		  1, "block 2: tx 1 is missing from the ledger", 0 },
		/* short headers take their height from the row: block 3's, filed as
		 * block 2, does not link to block 1 */
		{ "swapped", NULL, NULL, NULL, 0, NULL, 2, -1, "block 2: prev_hash does not match block 1's hash", 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const tamper_t *t = &cases[i];
		char *dir = copy_dir(t->name);
		audit_report_t rep;
		if (t->v4) {
			downgrade_v5(dir);
			downgrade_v4(dir);
		}
		if (t->table)
			flip(dir, t->table, t->col, t->where, t->at);
		else
			sql(dir, t->stmt ? t->stmt : tamper_sql[0]);
		for (int threads = 1; threads <= 3; threads += 2) {
			assert_int_equal(audit_verify_dir(dir, NULL, threads, &rep), -1);
			if (rep.ok || rep.bad_height != t->height || rep.bad_tx != t->tx ||
			    !strstr(rep.reason, t->reason))
				fail_msg("%s: got height %llu tx %lld `%s'", t->name,
					 (unsigned long long)rep.bad_height, (long long)rep.bad_tx,
					 rep.reason);
			assert_int_equal(rep.blocks, t->height - 1);
		}
		json_t *j = audit_report_to_json(&rep);
		assert_true(json_is_false(json_object_get(j, "ok")));
		assert_int_equal(json_integer_value(json_object_get(j, "bad_height")), t->height);
		json_decref(j);
		free(dir);
	}
}

/* A tx whose signature was replaced by another valid one (ECDSA signs
 * with fresh randomness, so the tenant's key can sign the same content
 * again): the id, tx_root and the signature check all pass; the version 2
 * header's sig_root does not. */
static void test_audit_resigned_tx(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	uint8_t *raw;
	size_t len, mlen;
	uint64_t h;
	uint32_t idx;
	tx_t tx;
	audit_report_t rep;
	char *dir = copy_dir("resigned");

	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_get_tx(s, W.req_vm1, &raw, &len, &h, &idx), 0);
	store_close(s);
	assert_int_equal(tx_decode(&tx, raw, len, W.g.chain_id, err, sizeof(err)), 0);
	assert_int_equal(tx.scheme, SIG_ECDSA_P256);
	size_t sl = sig_sig_len(tx.scheme);
	uint8_t *msg = tx_signed_bytes(&tx, W.g.chain_id, &mlen);
	uint8_t *fresh = xmalloc(len);
	memcpy(fresh, raw, len - sl);
	assert_int_equal(sig_sign(W.t1, fresh + len - sl, msg, mlen), 0);
	assert_memory_not_equal(fresh + len - sl, raw + len - sl, sl);
	tx_clear(&tx);
	assert_int_equal(tx_decode(&tx, fresh, len, W.g.chain_id, err, sizeof(err)), 0);
	assert_int_equal(tx_verify_sig(&tx, W.g.chain_id), 0);
	tx_clear(&tx);

	sqlite3 *db;
	sqlite3_stmt *q;
	char *path = xasprintf("%s/ledger.db", dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE txs SET raw = ?1 WHERE seq = ?2", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_blob(q, 1, fresh, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (int64_t)(h << 20 | idx));
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);

	assert_int_equal(audit_verify_dir(dir, NULL, 1, &rep), -1);
	assert_int_equal(rep.bad_height, h);
	assert_non_null(strstr(rep.reason, "sig_root does not match its txs' signatures"));
	free(path);
	free(msg);
	free(fresh);
	free(raw);
	free(dir);
}

/* A block that is perfectly signed and certified but carries a tx that
 * breaks a rule: only the replay finds it. */
static void test_audit_invalid_tx(void **unused)
{
	(void)unused;
	char err[512], *dir = copy_dir("badrule");
	store_t *s;
	block_t b;
	cert_t c;
	tx_t t[2];
	audit_report_t rep;

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	mk_request(&t[0], W.t1, "p0", "vm create vm6", bts(6) - 2);
	/* p1's orchestrator answers a p0 request */
	mk_response(&t[1], W.orch[1], W.req_s1, TX_STATUS_OK, bts(6) - 1);
	mk_block(&b, &c, 6, store_tip_hash(s), bts(6), 2, t, 2);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)), 0);
	block_clear(&b);
	cert_clear(&c);
	store_close(s);
	assert_int_equal(audit_verify_dir(dir, NULL, 2, &rep), -1);
	assert_int_equal(rep.bad_height, 6);
	assert_int_equal(rep.bad_tx, 1);
	assert_non_null(strstr(rep.reason, "block 6 tx 1: not_orchestrator"));
	assert_int_equal(rep.blocks, 5);
	assert_int_equal(rep.txs, 13);
	free(dir);
}

/* Block 3's certificate replaced by one that another consortium's nodes
 * (same indexes, other keys) signed over the very same block. */
static void test_audit_foreign_cert(void **unused)
{
	(void)unused;
	char *dir = copy_dir("foreign-cert"), *path = xasprintf("%s/ledger.db", dir);
	sig_key_t *other[NPROV];
	cert_t c;
	buf_t cb;
	size_t len;
	sqlite3 *db;
	sqlite3_stmt *q;
	audit_report_t rep;

	for (int i = 0; i < NPROV; i++)
		other[i] = sig_keygen(SIG_ED25519);
	size_t quorum = genesis_quorum(&W.g);
	c.view = 0;
	c.n = (uint16_t)quorum;
	c.sigs = xcalloc(quorum, sizeof(cert_sig_t));
	uint8_t *msg = commit_signed_bytes(W.g.chain_id, 0, 3, W.hash[3], &len);
	for (size_t i = 0; i < quorum; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = 64;
		assert_int_equal(sig_sign(other[i], c.sigs[i].sig, msg, len), 0);
	}
	free(msg);
	buf_init(&cb);
	cert_encode(&cb, &c);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE blocks SET cert = ?1 WHERE height = 3", -1, &q,
					    NULL), SQLITE_OK);
	sqlite3_bind_blob(q, 1, cb.data, (int)cb.len, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_finalize(q);
	sqlite3_close(db);
	assert_int_equal(audit_verify_dir(dir, NULL, 2, &rep), -1);
	assert_int_equal(rep.bad_height, 3);
	assert_int_equal(rep.bad_tx, -1);
	assert_non_null(strstr(rep.reason, "block 3: certificate signature of node 0 (p0) does not verify"));
	assert_int_equal(rep.blocks, 2);
	buf_free(&cb);
	cert_clear(&c);
	for (int i = 0; i < NPROV; i++)
		sig_key_free(other[i]);
	free(path);
	free(dir);
}

/* One block of 4000 txs: one SQL transaction, a few ms; then audited. */
static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_big_block(void **unused)
{
	(void)unused;
	enum { N = 4000 };
	char err[512], name[40];
	char *dir = xasprintf("/tmp/bsec-test-store-%d/big", (int)getpid());
	char *gsrc = xasprintf("%s/genesis.json", W.dir), *gdst = xasprintf("%s/genesis.json", dir);
	size_t len;
	uint8_t *gj = file_read(gsrc, &len, 1 << 20, err, sizeof(err));
	store_t *s;
	state_t *st = state_new(&W.g);
	tx_t *t = xcalloc(N, sizeof(tx_t));
	block_t b;
	cert_t c;
	audit_report_t rep;

	assert_non_null(gj);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(file_write(gdst, gj, len, 0644, err, sizeof(err)), 0);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "vm create v%d", i);
		mk_request(&t[i], W.t1, "p0", name, bts(1) - 1);
	}
	mk_block(&b, &c, 1, W.g.chain_id, bts(1), 1, t, N);
	state_begin_block(st, 1, bts(1));
	for (int i = 0; i < N; i++)
		state_apply_tx(st, &b.txs[i]);
	double c0 = cpu_ms();
	uint64_t w0 = mono_us();
	assert_int_equal(store_append(s, &b, NULL, 0, &c, st, err, sizeof(err)), 0);
	double cpu = cpu_ms() - c0;
	double wall = (double)(mono_us() - w0) / 1e3;
	print_message("append of a %d-tx block: %.1f ms CPU, %.1f ms wall\n", N, cpu, wall);
	assert_true(cpu < 2000);
	block_clear(&b);
	cert_clear(&c);
	store_close(s);

	uint64_t a0 = mono_us();
	assert_int_equal(audit_verify_dir(dir, NULL, 0, &rep), 0);
	print_message("audit of it: %.1f ms on %d threads\n", (double)(mono_us() - a0) / 1e3,
		      rep.threads);
	assert_int_equal(rep.txs, N);

	/* reload: 4000 open requests and recent txs */
	state_t *st2 = state_new(&W.g);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st2, err, sizeof(err)), 0);
	size_t n = 0;
	state_foreach_object(st2, count_obj, &n);
	assert_int_equal(n, N);
	assert_non_null(state_open_request(st2, t[N - 1].id));
	assert_true(state_has_tx(st2, t[0].id));
	store_close(s);
	state_free(st2);
	state_free(st);
	free(t);
	free(gj);
	free(gsrc);
	free(gdst);
	free(dir);
}

/* Checkpoints run on the store's own thread: with a threshold of a few
 * log frames, 60 appended blocks leave a short log behind them (without
 * checkpoints it would hold every block's pages), and nothing is lost:
 * the reopened ledger has every block and passes the audit. */
static void test_background_checkpoint(void **unused)
{
	(void)unused;
	enum { BLOCKS = 60, PER = 40, PAGES = 32 };
	char err[512], name[80];
	char *dir = xasprintf("/tmp/bsec-test-store-%d/ckpt", (int)getpid());
	char *gsrc = xasprintf("%s/genesis.json", W.dir), *gdst = xasprintf("%s/genesis.json", dir);
	char *wal = xasprintf("%s/ledger.db-wal", dir);
	size_t len;
	uint8_t *gj = file_read(gsrc, &len, 1 << 20, err, sizeof(err));
	store_t *s;
	state_t *st = state_new(&W.g);
	tx_t t[PER];
	audit_report_t rep;
	uint64_t runs = 0, failed = 0, inl = 0;

	assert_non_null(gj);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(file_write(gdst, gj, len, 0644, err, sizeof(err)), 0);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	store_set_checkpoint_pages(s, PAGES);
	for (int h = 1; h <= BLOCKS; h++) {
		for (int i = 0; i < PER; i++) {
			snprintf(name, sizeof(name), "vm create c%d-%d --image debian-12", h, i);
			mk_request(&t[i], W.t1, "p0", name, bts(h) - 1);
		}
		commit_block(s, st, t, PER, bts(h));
		/* give the thread a chance now and then, as a node's
		 * network waits would */
		if (h % 10 == 0) {
			for (int k = 0; k < 200; k++) {
				store_checkpoint_stats(s, &runs, &failed, &inl);
				if (runs >= (uint64_t)h / 10)
					break;
				usleep(5000);
			}
		}
	}
	store_checkpoint_stats(s, &runs, &failed, &inl);
	print_message("checkpoints: %llu in the background (%llu failed), %llu by the writer\n",
		      (unsigned long long)runs, (unsigned long long)failed, (unsigned long long)inl);
	assert_true(runs >= BLOCKS / 10);
	assert_int_equal(failed, 0);
	struct stat sb;
	assert_int_equal(stat(wal, &sb), 0);
	/* a block here is a handful of 16 KiB frames; the log may hold the
	 * hard limit's frames plus one block's, never all 60 blocks' */
	print_message("log: %lld bytes\n", (long long)sb.st_size);
	assert_true(sb.st_size < (off_t)(PAGES * 4 + 64) * (16384 + 24) + 32);
	assert_int_equal(store_height(s), BLOCKS);
	store_close(s);

	assert_int_equal(audit_verify_dir(dir, NULL, 0, &rep), 0);
	assert_int_equal(rep.txs, BLOCKS * PER);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), BLOCKS);
	store_close(s);
	state_free(st);
	free(gj);
	free(gsrc);
	free(gdst);
	free(wal);
	free(dir);
}

/* A writer that dies leaves its blocks and votes in the write-ahead log;
 * with that log gone, ledger.db alone is an older chain that forgot them.
 * The store refuses to open it for writing (a node would serve the shorter
 * chain and could vote against a vote it sent) until the log is back; a
 * clean close, which deletes the log itself, is no such case. */
static void test_lost_wal_refused(void **unused)
{
	(void)unused;
	char err[512], name[64];
	char *dir = xasprintf("/tmp/bsec-test-store-%d/lostwal", (int)getpid());
	char *gsrc = xasprintf("%s/genesis.json", W.dir), *gdst = xasprintf("%s/genesis.json", dir);
	char *wal = xasprintf("%s/ledger.db-wal", dir), *shm = xasprintf("%s/ledger.db-shm", dir);
	char *bak = xasprintf("%s/wal.bak", dir);
	size_t len;
	uint8_t *gj = file_read(gsrc, &len, 1 << 20, err, sizeof(err));
	store_t *s;

	assert_non_null(gj);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	assert_int_equal(file_write(gdst, gj, len, 0644, err, sizeof(err)), 0);
	/* a clean open and close: no log left, and no complaint */
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	char *mark = xasprintf("%s/ledger.db-open", dir);
	assert_int_equal(access(mark, F_OK), 0);
	/* a second writer on the same ledger (two nodes on one directory) */
	store_t *s2 = NULL;
	assert_int_equal(store_open(&s2, dir, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open for writing in another process"));
	assert_int_equal(access(mark, F_OK), 0);   /* the refused one leaves the first's mark */
	store_close(s);
	struct stat sb;
	assert_int_equal(stat(wal, &sb), 0);   /* the node's close keeps the log, emptied */
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(access(mark, F_OK), -1);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	store_close(s);
	free(mark);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		state_t *st = state_new(&W.g);
		tx_t t;
		if (store_open(&s, dir, &W.g, 0, err, sizeof(err)) < 0)
			_exit(2);
		for (int h = 1; h <= 3; h++) {
			snprintf(name, sizeof(name), "vm create w%d", h);
			mk_request(&t, W.t1, "p0", name, bts(h) - 1);
			commit_block(s, st, &t, 1, bts(h));
		}
		_exit(0);   /* as a crash: no store_close */
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(access(wal, F_OK), 0);
	assert_int_equal(rename(wal, bak), 0);
	unlink(shm);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), -1);
	print_message("refused: %s\n", err);
	assert_non_null(strstr(err, "write-ahead log"));
	assert_non_null(strstr(err, "is missing"));
	/* a refused open leaves no log behind that would let a retry through */
	assert_int_equal(access(wal, F_OK), -1);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is missing"));
	/* the log back: every block is there */
	assert_int_equal(rename(bak, wal), 0);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), 3);
	store_close(s);
	/* a crash again, then a tool opens the file for writing (a read-write
	 * sqlite3 .backup): its close folds the log in and deletes it.
	 * Refused all the same, with why removing the mark is then safe */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		state_t *st = state_new(&W.g);
		tx_t t;
		if (store_open(&s, dir, &W.g, 0, err, sizeof(err)) < 0 || store_load_state(s, st, err, sizeof(err)) < 0)
			_exit(2);
		mk_request(&t, W.t1, "p0", "vm create w4", bts(4) - 1);
		commit_block(s, st, &t, 1, bts(4));
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sqlite3 *tool;
	char *db = xasprintf("%s/ledger.db", dir);
	assert_int_equal(sqlite3_open_v2(db, &tool, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(tool, "SELECT count(*) FROM blocks", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(tool);
	free(db);
	assert_int_equal(access(wal, F_OK), -1);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "removing"));
	char *mark2 = xasprintf("%s/ledger.db-open", dir);
	assert_int_equal(unlink(mark2), 0);
	free(mark2);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), 4);
	store_close(s);
	free(gj);
	free(gsrc);
	free(gdst);
	free(wal);
	free(shm);
	free(bak);
	free(dir);
}

/* A ledger longer than the recent-tx span (120 s here, blocks 1 s apart):
 * a reload loads the txs of exactly the blocks inside it, found by a
 * binary search over the blocks' timestamps, and answers like the live
 * state, which aged the older ones out block by block. */
static void test_recent_window(void **unused)
{
	(void)unused;
	enum { N = 200 };
	char err[512], name[48];
	char *dir = copy_dir("recent");
	store_t *s;
	state_t *st = state_new(&W.g), *st2 = state_new(&W.g);
	static uint8_t ids[N][BSEC_HASH_BYTES];
	tx_t t[1];

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	uint64_t h0 = store_height(s);
	for (int k = 1; k <= N; k++) {
		snprintf(name, sizeof(name), "vm create rw%d", k);
		mk_request(&t[0], W.t1, "p0", name, bts(h0 + (uint64_t)k) - 1);
		memcpy(ids[k - 1], t[0].id, BSEC_HASH_BYTES);
		commit_block(s, st, t, 1, bts(h0 + (uint64_t)k));
	}
	uint64_t tip = store_height(s), span = state_recent_span_ms(st);
	assert_int_equal(tip, h0 + N);
	assert_true(span < (N - 10) * 1000);   /* the window cuts the new blocks */
	store_close(s);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st2, err, sizeof(err)), 0);
	int inside = 0;
	for (int k = 1; k <= N; k++) {
		int want = bts(h0 + (uint64_t)k) >= bts(tip) - span;
		inside += want;
		assert_int_equal(state_has_tx(st2, ids[k - 1]), want);
		assert_int_equal(state_has_tx(st, ids[k - 1]), want);
	}
	assert_int_equal(inside, (int)(span / 1000) + 1);
	/* request rates now and later (older ones were never asked of a
	 * reloaded state: rates are taken at the next block's time) */
	const uint8_t *k1 = sig_key_pub(W.t1);
	for (uint64_t now = bts(tip); now <= bts(tip) + 70000; now += 10000) {
		uint32_t r = state_rate_in(st, "p0", 2, sig_key_scheme(W.t1), k1, now);
		assert_int_equal(state_rate_in(st2, "p0", 2, sig_key_scheme(W.t1), k1, now), r);
		if (now == bts(tip))
			assert_true(r >= 60);
	}
	store_close(s);
	state_free(st);
	state_free(st2);
	free(dir);
}

/* Batch mode: appends share a transaction; store_meta_put commits it
 * first; a failed append rolls back every block of the open transaction
 * and the tip is the durable one again; store_close commits the rest. */
static void test_batch(void **unused)
{
	(void)unused;
	char err[512], name[48];
	char *dir = copy_dir("batch");
	refuse_dup_ids(dir);
	store_t *s;
	state_t *st = state_new(&W.g);
	tx_t t[3], dup;
	block_t b;
	cert_t c;

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	uint64_t h0 = store_height(s);
	assert_int_equal(store_batch(s, 1, err, sizeof(err)), 0);
	for (int k = 1; k <= 2; k++) {
		for (int i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "vm create bt%d-%d", k, i);
			mk_request(&t[i], W.t1, "p0", name, bts(h0 + (uint64_t)k) - 1);
		}
		if (k == 1)
			tx_copy(&dup, &t[0]);
		commit_block(s, st, t, 3, bts(h0 + (uint64_t)k));
	}
	assert_int_equal(store_height(s), h0 + 2);
	/* a durable record: the two blocks are committed with it */
	assert_int_equal(store_meta_put(s, "test.mark", "x", 1), 0);
	/* two more, the second with a tx already on chain: the trigger
	 * aborts the transaction, which takes block h0 + 3 with it */
	mk_request(&t[0], W.t1, "p0", "vm create bt3-0", bts(h0 + 3) - 1);
	commit_block(s, st, t, 1, bts(h0 + 3));
	assert_int_equal(store_height(s), h0 + 3);
	mk_block(&b, &c, h0 + 4, store_tip_hash(s), bts(h0 + 4), 0, &dup, 1);
	err[0] = '\0';
	assert_true(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)) < 0);
	print_message("refused: %s\n", err);
	assert_non_null(strstr(err, "rolled back with it: 1 earlier block of the same"));
	assert_int_equal(store_height(s), h0 + 2);
	block_clear(&b);
	cert_clear(&c);
	/* and appending goes on from the durable tip */
	assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
	store_close(s);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), h0 + 2);
	uint8_t *v = NULL;
	size_t vl = 0;
	assert_int_equal(store_meta_get(s, "test.mark", &v, &vl), 0);
	assert_int_equal(vl, 1);
	free(v);
	store_close(s);

	/* close with a batch open: its blocks are committed, not lost */
	state_t *st2 = state_new(&W.g);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st2, err, sizeof(err)), 0);
	assert_int_equal(store_batch(s, 1, err, sizeof(err)), 0);
	mk_request(&t[0], W.t1, "p0", "vm create bt5-0", bts(h0 + 3) - 1);
	commit_block(s, st2, t, 1, bts(h0 + 3));
	store_close(s);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), h0 + 3);
	store_close(s);
	state_free(st); /* dup was moved into the refused block */
	state_free(st2);
	free(dir);
}

/* Several records in one write; deletes wait for the next write but
 * are never seen once made, and never undo a later put of the same key. */
static void test_meta_writes(void **unused)
{
	(void)unused;
	char err[512];
	char *dir = copy_dir("meta");
	store_t *s;
	state_t *st = state_new(&W.g);
	tx_t t[1];
	uint8_t *v = NULL;
	size_t vl = 0;

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	const char *keys[3] = { "t.a", "t.b", "t.c" };
	const uint8_t *vals[3] = { (const uint8_t *)"1", (const uint8_t *)"22", (const uint8_t *)"333" };
	size_t lens[3] = { 1, 2, 3 };
	assert_int_equal(store_meta_put_many(s, 3, keys, vals, lens), 0);
	assert_int_equal(store_meta_get(s, "t.b", &v, &vl), 0);
	assert_int_equal(vl, 2);
	assert_memory_equal(v, "22", 2);
	free(v);
	/* a waiting delete is already gone for a reader */
	assert_int_equal(store_meta_del(s, "t.a"), 0);
	assert_int_equal(store_meta_get(s, "t.a", &v, &vl), 1);
	/* a put after a delete of the same key wins */
	assert_int_equal(store_meta_del(s, "t.b"), 0);
	assert_int_equal(store_meta_put(s, "t.b", "x", 1), 0);
	assert_int_equal(store_meta_get(s, "t.b", &v, &vl), 0);
	assert_int_equal(vl, 1);
	free(v);
	/* a delete rides along with the next block */
	assert_int_equal(store_meta_del(s, "t.c"), 0);
	uint64_t h0 = store_height(s);
	mk_request(&t[0], W.t1, "p0", "vm create mw-0", bts(h0 + 1) - 1);
	commit_block(s, st, t, 1, bts(h0 + 1));
	/* one more left waiting: close runs it */
	assert_int_equal(store_meta_del(s, "t.b"), 0);
	store_close(s);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), h0 + 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_meta_get(s, keys[i], &v, &vl), 1);
	/* read-only: no writes of any kind */
	assert_int_equal(store_meta_put_many(s, 1, keys, vals, lens), -1);
	assert_int_equal(store_meta_del(s, "t.a"), -1);
	store_close(s);
	state_free(st);
	free(dir);
}

/* A consensus-metadata delete that fails inside a batch of fetched blocks
 * and takes the transaction with it (here a trigger's ROLLBACK stands for
 * a full disk): the store's tip goes back to what is durable, the next
 * block is refused instead of being committed alone after blocks that are
 * gone, and the file still opens with a contiguous chain. */
static void test_meta_del_in_batch(void **unused)
{
	(void)unused;
	char err[512];
	store_t *s;
	state_t *st = state_new(&W.g);
	tx_t t[1];
	block_t b;
	cert_t c;
	char *dir = copy_dir("metadel");

	sql(dir, "CREATE TRIGGER test_meta_del BEFORE DELETE ON consensus_meta"
		 " BEGIN SELECT RAISE(ROLLBACK, 'test: disk full'); END");
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	uint64_t h0 = store_height(s);
	assert_int_equal(store_meta_put(s, "pbft.old", "x", 1), 0);
	assert_int_equal(store_batch(s, 1, err, sizeof(err)), 0);
	mk_request(&t[0], W.t1, "p0", "vm create rb1", bts(h0 + 1) - 1);
	commit_block(s, st, t, 1, bts(h0 + 1));
	assert_int_equal(store_height(s), h0 + 1);
	assert_int_equal(store_meta_del(s, "pbft.old"), -1);
	assert_int_equal(store_height(s), h0);
	/* the block after the lost one does not follow the tip */
	mk_request(&t[0], W.t1, "p0", "vm create rb2", bts(h0 + 2) - 1);
	mk_block(&b, &c, h0 + 2, W.hash[h0], bts(h0 + 2), 0, t, 1);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not follow the tip"));
	block_clear(&b);
	cert_clear(&c);
	assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
	store_close(s);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_height(s), h0);
	store_close(s);
	assert_sql(dir, "SELECT count(*) = max(height) FROM blocks", "1");
	assert_sql(dir, "SELECT count(*) FROM txs WHERE seq >> 20 > 5", "0");
	state_free(st);
	free(dir);
}

static uint64_t store_height_of(const char *dir)
{
	char *got = sql_text(dir, "SELECT max(height) FROM blocks");
	uint64_t v = (uint64_t)atoll(got);
	free(got);
	return v;
}

/* Txs missing from tx_ids whose seq is below the n-th newest tx's. */
static int64_t ids_missing_older(const char *dir, int n)
{
	char *q = xasprintf("SELECT count(*) FROM txs t WHERE NOT EXISTS (SELECT 1 FROM tx_ids i"
			    " WHERE i.idp = t.idp AND i.seq = t.seq) AND t.seq < coalesce((SELECT seq"
			    " FROM txs ORDER BY seq DESC LIMIT 1 OFFSET %d), 0)", n - 1);
	char *got = sql_text(dir, q);
	int64_t v = atoll(got);
	free(got);
	free(q);
	return v;
}

static int64_t ids_missing(const char *dir)
{
	char *got = sql_text(dir, "SELECT count(*) FROM txs t WHERE NOT EXISTS (SELECT 1 FROM tx_ids i"
				  " WHERE i.idp = t.idp AND i.seq = t.seq)");
	int64_t v = atoll(got);
	free(got);
	return v;
}

static int has_tx(store_t *s, const uint8_t *id, uint64_t *height)
{
	uint8_t *raw = NULL;
	size_t len;
	int r = store_get_tx(s, id, &raw, &len, height, NULL);
	free(raw);
	return r == 0;
}

/* Every id in ids[0..n) is found, at the height in hs; `gone' is not. */
static void ids_all_found(store_t *s, uint8_t (*ids)[BSEC_HASH_BYTES], const uint64_t *hs, int n,
			  const uint8_t *gone)
{
	for (int i = 0; i < n; i++) {
		uint8_t *raw = NULL;
		size_t len = 0;
		uint64_t h = 0;
		uint32_t idx;
		if (store_get_tx(s, ids[i], &raw, &len, &h, &idx) != 0)
			fail_msg("tx %d of %d not found by id", i, n);
		assert_int_equal(h, hs[i]);
		uint8_t id[BSEC_HASH_BYTES];
		assert_int_equal(tx_raw_id(raw, len, W.g.chain_id, id), 0);
		assert_memory_equal(id, ids[i], BSEC_HASH_BYTES);
		free(raw);
	}
	if (gone)
		assert_false(has_tx(s, gone, NULL));
}

/* The index by tx id is written in sorted batches (store_set_id_sweep):
 * with a sweep of 8 buckets, after each append the txs tx_ids lacks are
 * among the last 8, and every tx, its id waiting in memory or written
 * out, is found by id: by the writer, by a read-only open beside it,
 * after a reopen (the waiting ids are rebuilt and the next append writes
 * them out), and after a batch rolled back; a response finds its request
 * wherever that is (the response closes it, and its domain is the
 * request's). */
static void test_tx_ids(void **unused)
{
	(void)unused;
	char err[512], name[48];
	char *dir = copy_dir("txids");
	refuse_dup_ids(dir);
	store_t *s, *ro;
	state_t *st = state_new(&W.g);
	uint8_t ids[128][BSEC_HASH_BYTES], none[BSEC_HASH_BYTES];
	uint64_t hs[128];
	int n = 0, waited = 0;
	tx_t t[4];
	block_t b;
	cert_t c;

	memset(none, 0x5a, sizeof(none));
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	store_set_id_sweep(s, 3);
	for (size_t i = 0; i < W.n_ids; i++) {
		memcpy(ids[n], W.ids[i], BSEC_HASH_BYTES);
		assert_true(has_tx(s, ids[n], &hs[n]));
		n++;
	}
	uint8_t prev_req[BSEC_HASH_BYTES];
	for (int k = 0; k < 14; k++) {
		uint64_t h = store_height(s) + 1;
		uint32_t m = 0;
		for (int i = 0; i <= k % 3; i++) {
			snprintf(name, sizeof(name), "vm create ti%d-%d", k, i);
			mk_request(&t[m++], W.t1, "p0", name, bts(h) - 10 + (uint64_t)i);
		}
		if (k > 0)   /* answers a request of the block before */
			mk_response(&t[m++], W.orch[0], prev_req, TX_STATUS_OK, bts(h) - 2);
		memcpy(prev_req, t[0].id, BSEC_HASH_BYTES);
		for (uint32_t i = 0; i < m; i++) {
			memcpy(ids[n], t[i].id, BSEC_HASH_BYTES);
			hs[n++] = h;
		}
		commit_block(s, st, t, m, bts(h));
		assert_int_equal(ids_missing_older(dir, 8), 0);
		waited += ids_missing(dir) > 0;
		ids_all_found(s, ids, hs, n, none);
	}
	assert_true(waited > 0);   /* the sweep did keep ids back */
	/* the 13 responses found their requests: 27 requests, 14 still open */
	assert_sql(dir, "SELECT count(*) FROM txs WHERE type = 2 AND seq >= 6 << 20"
			" AND request_seq IS NOT NULL AND domain = 'p0'", "13");
	assert_sql(dir, "SELECT count(*) FROM open_requests WHERE seq >= 6 << 20", "14");

	/* a read-only open beside the writer finds the waiting ids too */
	int64_t waiting = ids_missing(dir);
	assert_int_equal(store_open(&ro, dir, &W.g, 1, err, sizeof(err)), 0);
	ids_all_found(ro, ids, hs, n, none);
	store_close(ro);

	/* a clean close writes the waiting ids out (ids are random: a few
	 * more blocks until some wait) */
	for (int k = 0; k < 32 && waiting == 0; k++) {
		uint64_t hk = store_height(s) + 1;
		snprintf(name, sizeof(name), "vm create ti-more%d", k);
		mk_request(&t[0], W.t1, "p0", name, bts(hk) - 1);
		memcpy(ids[n], t[0].id, BSEC_HASH_BYTES);
		hs[n++] = hk;
		commit_block(s, st, t, 1, bts(hk));
		waiting = ids_missing(dir);
	}
	assert_true(waiting > 0);
	store_close(s);
	assert_int_equal(ids_missing(dir), 0);

	/* a writer that stops without closing (a crash) leaves ids waiting:
	 * a read-only open finds them, a writable one too, and its next
	 * append writes them all out */
	uint64_t h = store_height_of(dir);
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		int bad = store_open(&s, dir, &W.g, 0, err, sizeof(err)) < 0;
		for (int k = 0; k < 3 && !bad; k++) {
			h = store_height(s) + 1;
			snprintf(name, sizeof(name), "vm create ti-crash%d", k);
			mk_request(&t[0], W.t1, "p0", name, bts(h) - 1);
			bad = write(fd[1], t[0].id, BSEC_HASH_BYTES) != BSEC_HASH_BYTES;
			mk_block(&b, &c, h, store_tip_hash(s), bts(h), 1, t, 1);
			bad = bad || store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)) < 0;
		}
		_exit(bad ? 1 : 0);   /* no store_close */
	}
	close(fd[1]);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(read(fd[0], ids[n], BSEC_HASH_BYTES), BSEC_HASH_BYTES);
		hs[n++] = h + 1 + (uint64_t)k;
	}
	close(fd[0]);
	int wst;
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	assert_true(ids_missing(dir) > 0);
	assert_int_equal(ids_missing_older(dir, 3), 0);
	assert_int_equal(store_open(&ro, dir, &W.g, 1, err, sizeof(err)), 0);
	ids_all_found(ro, ids, hs, n, none);
	store_close(ro);
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	state_free(st);
	st = state_new(&W.g);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	ids_all_found(s, ids, hs, n, none);
	h = store_height(s) + 1;
	mk_request(&t[0], W.t1, "p0", "vm create ti-last", bts(h) - 1);
	memcpy(ids[n], t[0].id, BSEC_HASH_BYTES);
	hs[n++] = h;
	commit_block(s, st, t, 1, bts(h));
	assert_int_equal(ids_missing_older(dir, 1), 0);
	ids_all_found(s, ids, hs, n, none);

	/* a batch rolled back: its ids are gone, the others are found, and
	 * later blocks index as before */
	store_set_id_sweep(s, 2);
	assert_int_equal(store_batch(s, 1, err, sizeof(err)), 0);
	uint64_t tip = store_height(s);
	mk_request(&t[0], W.t1, "p0", "vm create ti-lost", bts(tip + 1) - 1);
	uint8_t lost[BSEC_HASH_BYTES];
	memcpy(lost, t[0].id, BSEC_HASH_BYTES);
	mk_block(&b, &c, tip + 1, store_tip_hash(s), bts(tip + 1), 1, t, 1);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)), 0);
	block_clear(&b);
	cert_clear(&c);
	ids_all_found(s, ids, hs, n, none);
	assert_true(has_tx(s, lost, NULL));
	uint8_t *raw;
	size_t len;
	assert_int_equal(store_get_tx(s, ids[3], &raw, &len, NULL, NULL), 0);
	assert_int_equal(tx_decode(&t[0], raw, len, W.g.chain_id, err, sizeof(err)), 0);
	free(raw);
	mk_block(&b, &c, tip + 2, store_tip_hash(s), bts(tip + 2), 2, t, 1);
	assert_int_equal(store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err)), -1);
	block_clear(&b);
	cert_clear(&c);
	assert_int_equal(store_height(s), tip);
	assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
	ids_all_found(s, ids, hs, n, lost);
	state_free(st);
	st = state_new(&W.g);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	for (int k = 0; k < 6; k++) {
		h = store_height(s) + 1;
		snprintf(name, sizeof(name), "vm create ti-after%d", k);
		mk_request(&t[0], W.t1, "p0", name, bts(h) - 1);
		memcpy(ids[n], t[0].id, BSEC_HASH_BYTES);
		hs[n++] = h;
		commit_block(s, st, t, 1, bts(h));
		assert_int_equal(ids_missing_older(dir, 4), 0);
		ids_all_found(s, ids, hs, n, lost);
	}
	store_close(s);
	assert_sql(dir, "SELECT count(*) FROM tx_ids i WHERE NOT EXISTS (SELECT 1 FROM txs t"
			" WHERE t.seq = i.seq AND t.idp = i.idp)", "0");
	state_free(st);
	free(dir);
}

#define RV_MAX 4000
static uint8_t rv_ids[RV_MAX][BSEC_HASH_BYTES];
static uint64_t rv_h[RV_MAX];
static int rv_n;
static uint8_t rv_gone[RV_MAX][BSEC_HASH_BYTES];
static int rv_ng;

static void rv_check(store_t *s, const char *what, int step)
{
	for (int i = 0; i < rv_n; i++) {
		uint64_t h = 0;
		if (!has_tx(s, rv_ids[i], &h))
			fail_msg("step %d (%s): tx %d of %d (height %llu) not found", step, what, i, rv_n,
				 (unsigned long long)rv_h[i]);
		if (h != rv_h[i])
			fail_msg("step %d: tx %d at %llu, want %llu", step, i, (unsigned long long)h,
				 (unsigned long long)rv_h[i]);
	}
	for (int i = 0; i < rv_ng; i++)
		if (has_tx(s, rv_gone[i], NULL))
			fail_msg("step %d (%s): rolled-back tx %d found", step, what, i);
}

/* One run of test_tx_ids_stress, its choices drawn from seed. */
static void tx_ids_stress(int seed)
{
	char err[512], name[64];
	char dn[32];
	snprintf(dn, sizeof(dn), "revstress%d", seed);
	char *dir = copy_dir(dn);
	sql(dir, "CREATE TABLE rev_fail (h INTEGER); INSERT INTO rev_fail VALUES (0);"
		 "CREATE TRIGGER rev_t BEFORE INSERT ON tx_ids WHEN EXISTS (SELECT 1 FROM blocks"
		 " WHERE height = (SELECT h FROM rev_fail)) BEGIN SELECT RAISE(ROLLBACK, 'rev: fail'); END;"
		 "CREATE TRIGGER rev_m BEFORE DELETE ON consensus_meta WHEN OLD.key = 'rev-fail'"
		 " BEGIN SELECT RAISE(ROLLBACK, 'rev: meta'); END");
	store_t *s;
	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_meta_put(s, "rev-fail", "x", 1), 0);
	rv_n = 0;
	rv_ng = 0;
	for (size_t i = 0; i < W.n_ids; i++) {
		memcpy(rv_ids[rv_n], W.ids[i], BSEC_HASH_BYTES);
		assert_true(has_tx(s, rv_ids[rv_n], &rv_h[rv_n]));
		rv_n++;
	}
	srand((unsigned)seed * 7919u);
	int in_b = 0, batch = 0, pend_from = rv_n, cnt = 0, fails = 0, swept_fail = 0, meta_fail = 0, armed = 0;
	int name_base = seed * 100000;
	for (int step = 0; step < 500 && rv_n < RV_MAX - 64; step++) {
		int op = rand() % 24;
		if (armed && ++armed > 8) {
			/* disarm */
			if (batch) {
				assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
				batch = 0; in_b = 0;
				pend_from = rv_n;
			}
			sql(dir, "UPDATE rev_fail SET h = 0");
			armed = 0;
			continue;
		}
		if (op == 0 && !batch && !armed) {
			store_close(s);
			assert_int_equal(ids_missing(dir), 0);
			assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
			rv_check(s, "reopen", step);
			continue;
		}
		if (op == 1) {
			store_set_id_sweep(s, 1 + (unsigned)(rand() % 6));
			continue;
		}
		if (op == 2 && !armed) {
			if (batch) {
				assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
				batch = 0; in_b = 0;
			} else {
				assert_int_equal(store_batch(s, 1, err, sizeof(err)), 0);
				batch = 1; in_b = 0;
			}
			pend_from = rv_n;
			continue;
		}
		if (op == 3 && !batch) {
			store_t *ro;
			assert_int_equal(store_open(&ro, dir, &W.g, 1, err, sizeof(err)), 0);
			rv_check(ro, "read-only", step);
			store_close(ro);
			continue;
		}
		if (op == 4 && !armed) {
			if (batch) {
				assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
				batch = 0; in_b = 0;
			}
			char *q = xasprintf("UPDATE rev_fail SET h = %llu",
					    (unsigned long long)(store_height(s) + 1 + (uint64_t)(rand() % 4)));
			sql(dir, q);
			free(q);
			assert_int_equal(store_batch(s, 1, err, sizeof(err)), 0);
			batch = 1; in_b = 0;
			pend_from = rv_n;
			armed = 1;
			continue;
		}
		if (op == 5 && batch && in_b && !armed) {
			/* a delete that fails and takes the batch with it */
			if (store_meta_del(s, "rev-fail") < 0) {
				meta_fail++;
				for (int i = pend_from; i < rv_n && rv_ng < RV_MAX; i++)
					memcpy(rv_gone[rv_ng++], rv_ids[i], BSEC_HASH_BYTES);
				rv_n = pend_from;
				store_batch(s, 0, err, sizeof(err));
				batch = 0; in_b = 0;
				rv_check(s, "meta del failed", step);
			}
			continue;
		}
		uint64_t h = store_height(s) + 1;
		uint32_t m = (uint32_t)(rand() % 3 == 0 ? rand() % 80 : rand() % 12);
		tx_t t[80];
		for (uint32_t i = 0; i < m; i++) {
			snprintf(name, sizeof(name), "vm create rv%d", name_base + cnt++);
			mk_request(&t[i], W.t1, "p0", name, bts(h) - 100 + i);
		}
		block_t b;
		cert_t c;
		mk_block(&b, &c, h, store_tip_hash(s), bts(h), (uint16_t)(h % NPROV), t, m);
		int r = store_append(s, &b, NULL, 0, &c, NULL, err, sizeof(err));
		block_clear(&b);
		cert_clear(&c);
		if (r == 0) {
			in_b = batch;
			for (uint32_t i = 0; i < m; i++) {
				memcpy(rv_ids[rv_n], t[i].id, BSEC_HASH_BYTES);
				rv_h[rv_n++] = h;
			}
		} else {
			fails++;
			if (strstr(err, "rev: fail"))
				swept_fail++;
			else
				fail_msg("unexpected append failure: %s", err);
			int from = batch ? pend_from : rv_n;
			for (int i = from; i < rv_n && rv_ng < RV_MAX; i++)
				memcpy(rv_gone[rv_ng++], rv_ids[i], BSEC_HASH_BYTES);
			for (uint32_t i = 0; i < m && rv_ng < RV_MAX; i++)
				memcpy(rv_gone[rv_ng++], t[i].id, BSEC_HASH_BYTES);
			rv_n = from;
			store_batch(s, 0, err, sizeof(err));
			batch = 0; in_b = 0;
			pend_from = rv_n;
			sql(dir, "UPDATE rev_fail SET h = 0");
			armed = 0;
		}
		rv_check(s, "append", step);
		if (!batch)
			assert_int_equal(ids_missing_older(dir, 65536), 0);
	}
	print_message("stress seed %d: %d txs, %d failed appends (%d in the sweep), %d meta-del failures\n",
		      seed, rv_n, fails, swept_fail, meta_fail);
	if (batch)
		assert_int_equal(store_batch(s, 0, err, sizeof(err)), 0);
	sql(dir, "UPDATE rev_fail SET h = 0");   /* or the close's own write-out fails */
	store_close(s);
	assert_int_equal(ids_missing(dir), 0);
	assert_int_equal(store_open(&s, dir, &W.g, 1, err, sizeof(err)), 0);
	rv_check(s, "final ro", -1);
	store_close(s);
	free(dir);
}

/* Random appends (blocks of 0 to 79 txs, more than the sweep's buckets),
 * batches on and off, sweeps of 2 to 64 buckets set on the way, appends
 * that fail inside the sweep (a trigger on tx_ids), a metadata delete
 * that fails and takes its batch with it, clean reopens and read-only
 * opens beside the writer: after every step each committed tx is found
 * by id at its height, no rolled-back one is, and no id waits longer
 * than the sweep allows. */
static void test_tx_ids_stress(void **unused)
{
	(void)unused;
	for (int seed = 1; seed <= 3; seed++)
		tx_ids_stress(seed);
}


/* A read-only lookup races the writer: between its look in tx_ids and
 * its load of the recent ids (store_test_hook), the writer appends a
 * block that both writes the id out and pushes its tx out of the window
 * the reader loads.  The id is still found (tx_ids, looked at again). */
static struct {
	store_t *w;
	state_t *st;
	int armed;
} race;

static void race_append(void *arg)
{
	(void)arg;
	if (!race.armed)
		return;
	race.armed = 0;
	tx_t t[16];
	char name[48];
	uint64_t h = store_height(race.w) + 1;
	for (int i = 0; i < 16; i++) {
		snprintf(name, sizeof(name), "vm create race%d", i);
		mk_request(&t[i], W.t1, "p0", name, bts(h) - 20 + (uint64_t)i);
	}
	commit_block(race.w, race.st, t, 16, bts(h));
}

static void test_tx_ids_read_race(void **unused)
{
	(void)unused;
	char err[512], name[48], *dir = copy_dir("txrace");
	store_t *s, *ro;
	state_t *st = state_new(&W.g);
	uint8_t x[BSEC_HASH_BYTES];
	uint64_t xh = 0, h = 0;
	tx_t t[1];

	assert_int_equal(store_open(&s, dir, &W.g, 0, err, sizeof(err)), 0);
	assert_int_equal(store_load_state(s, st, err, sizeof(err)), 0);
	store_set_id_sweep(s, 3);
	/* 1-tx blocks until the last one's id waits in the writer's memory */
	for (int k = 0; k < 64 && !xh; k++) {
		h = store_height(s) + 1;
		snprintf(name, sizeof(name), "vm create racex%d", k);
		mk_request(&t[0], W.t1, "p0", name, bts(h) - 1);
		memcpy(x, t[0].id, BSEC_HASH_BYTES);
		commit_block(s, st, t, 1, bts(h));
		char *q = xasprintf("SELECT count(*) FROM tx_ids WHERE seq = %llu << 20",
				    (unsigned long long)h);
		char *got = sql_text(dir, q);
		if (!strcmp(got, "0"))
			xh = h;
		free(got);
		free(q);
	}
	assert_true(xh > 0);
	assert_int_equal(store_open(&ro, dir, &W.g, 1, err, sizeof(err)), 0);
	store_set_id_sweep(ro, 3);
	race.w = s;
	race.st = st;
	race.armed = 1;
	store_test_hook = race_append;
	uint64_t got_h = 0;
	int found = has_tx(ro, x, &got_h);
	store_test_hook = NULL;
	assert_int_equal(race.armed, 0);   /* the writer did append in between */
	assert_true(found);
	assert_int_equal(got_h, xh);
	/* the race did happen: x is in tx_ids now, and 16 txs are newer */
	char *q = xasprintf("SELECT count(*) FROM tx_ids WHERE seq = %llu << 20", (unsigned long long)xh);
	assert_sql(dir, q, "1");
	free(q);
	q = xasprintf("SELECT count(*) FROM txs WHERE seq > %llu << 20", (unsigned long long)xh);
	assert_sql(dir, q, "16");
	free(q);
	store_close(ro);
	store_close(s);
	state_free(st);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reopen_and_read),
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_load_state),
		cmocka_unit_test(test_schema_old),
		cmocka_unit_test(test_principal_rollback),
		cmocka_unit_test(test_spec_from_request),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_audit_valid),
		cmocka_unit_test(test_audit_tampered),
		cmocka_unit_test(test_audit_resigned_tx),
		cmocka_unit_test(test_audit_invalid_tx),
		cmocka_unit_test(test_audit_foreign_cert),
		cmocka_unit_test(test_big_block),
		cmocka_unit_test(test_background_checkpoint),
		cmocka_unit_test(test_lost_wal_refused),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_recent_window),
		cmocka_unit_test(test_meta_writes),
		cmocka_unit_test(test_meta_del_in_batch),
		cmocka_unit_test(test_tx_ids),
		cmocka_unit_test(test_tx_ids_stress),
		cmocka_unit_test(test_tx_ids_read_race),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
