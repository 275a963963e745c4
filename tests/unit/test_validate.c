/*
 * test_validate.c — validation rules 2–5 and the chain state they read
 * (src/ledger/validate.c, src/ledger/state.c).
 *
 * A genesis with two providers (p0 with domain p0; p1 with domains p1 and
 * p1b) and three genesis tenants is parsed from JSON built with fresh
 * keys; txs are built with tx_build and checked against an in-memory
 * state, block by block.  Covers every verdict code, the object life
 * cycle, quotas, ownership, cross-domain chains, revocation at a block,
 * rates, the timestamp window edges, duplicates, rollback (the state
 * answers exactly as before), the dirty set and reloading a state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ledger/genesis.h"
#include "ledger/state.h"
#include "ledger/tx.h"
#include "ledger/validate.h"
#include "lib/hash.h"
#include "lib/map.h"
#include "lib/sig.h"
#include "lib/util.h"

#define WINDOW 10000
#define T0 1763700000000ull
#define MAX_TXS 512

enum { K_P0N, K_P0O, K_P0A, K_P1N, K_P1O, K_P1A, K_ALICE, K_BOB, K_CAROL, K_DAVE, K_COUNT };

static sig_key_t *keys[K_COUNT];
static genesis_t gen;

typedef struct {
	state_t *st;
	uint64_t height, now;
	uint32_t nonce;
	tx_t txs[MAX_TXS];
	uint64_t tx_block_ts[MAX_TXS];   /* block ts when applied, 0 if not */
	int n_txs;
} fx_t;

static fx_t *F;

/* ---- genesis ---- */

static char *pem_json(int k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(keys[k]), sig_key_pub(keys[k]));
	size_t n = strlen(pem);
	char *out = xmalloc(2 * n + 1), *o = out;
	for (size_t i = 0; i < n; i++) {
		if (pem[i] == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else {
			*o++ = pem[i];
		}
	}
	*o = 0;
	free(pem);
	return out;
}

static int group_setup(void **state)
{
	(void)state;
	for (int i = 0; i < K_COUNT; i++)
		keys[i] = sig_keygen(i == K_BOB ? SIG_ECDSA_P256 : SIG_ED25519);
	char *p[K_COUNT];
	for (int i = 0; i < K_COUNT; i++)
		p[i] = pem_json(i);
	char *json = xasprintf(
		"{\"version\":1,\"name\":\"test\",\"created_ms\":%llu,"
		"\"params\":{\"timestamp_window_ms\":%d},"
		"\"providers\":["
		"{\"name\":\"p0\",\"domains\":[\"p0\"],\"node_key\":\"%s\",\"orchestrator_key\":\"%s\","
		"\"admin_key\":\"%s\",\"peer\":\"127.0.0.1:7100\",\"api\":\"https://127.0.0.1:7200\"},"
		"{\"name\":\"p1\",\"domains\":[\"p1\",\"p1b\"],\"node_key\":\"%s\",\"orchestrator_key\":\"%s\","
		"\"admin_key\":\"%s\",\"peer\":\"127.0.0.1:7101\",\"api\":\"https://127.0.0.1:7201\"}],"
		"\"tenants\":["
		"{\"name\":\"alice\",\"key\":\"%s\",\"grants\":["
		" {\"domain\":\"p0\",\"ops\":\"*\",\"max_vms\":2,\"max_vnfs\":4,\"max_sfcs\":1,\"max_chain\":2},"
		" {\"domain\":\"p1\",\"ops\":\"*\"}]},"
		"{\"name\":\"bob\",\"key\":\"%s\",\"grants\":[{\"domain\":\"p0\",\"ops\":\"*\"}]},"
		"{\"name\":\"dave\",\"key\":\"%s\",\"grants\":["
		" {\"domain\":\"p0\",\"ops\":\"vm:create\",\"rate_per_min\":2}]}]}",
		(unsigned long long)T0, WINDOW, p[K_P0N], p[K_P0O], p[K_P0A], p[K_P1N], p[K_P1O],
		p[K_P1A], p[K_ALICE], p[K_BOB], p[K_DAVE]);
	char err[256];
	int r = genesis_parse(&gen, (const uint8_t *)json, strlen(json), err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "genesis: %s\n", err);
	free(json);
	for (int i = 0; i < K_COUNT; i++)
		free(p[i]);
	return r;
}

static int group_teardown(void **state)
{
	(void)state;
	genesis_free(&gen);
	for (int i = 0; i < K_COUNT; i++)
		sig_key_free(keys[i]);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	F = xcalloc(1, sizeof(*F));
	F->st = state_new(&gen);
	F->now = T0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < F->n_txs; i++)
		tx_clear(&F->txs[i]);
	state_free(F->st);
	free(F);
	return 0;
}

/* ---- tx helpers ---- */

static void block_at(uint64_t ts)
{
	F->height++;
	F->now = ts;
	state_begin_block(F->st, F->height, F->now);
}

static void block(void)
{
	block_at(F->now + 1000);
}

static tx_t *build(const tx_fields_t *f, int key)
{
	char err[256];
	assert_true(F->n_txs < MAX_TXS);
	tx_t *tx = &F->txs[F->n_txs++];
	tx_fields_t c = *f;
	if (!c.timestamp_ms)
		c.timestamp_ms = F->now;
	c.nonce = ++F->nonce;
	if (tx_build(tx, &c, keys[key], gen.chain_id, err, sizeof(err)) < 0)
		fail_msg("tx_build: %s", err);
	return tx;
}

static tx_t *req_at(int key, const char *dom, const char *instr, uint64_t ts)
{
	tx_fields_t f = { .type = TX_REQUEST, .domain = dom, .instruction = instr, .timestamp_ms = ts };
	return build(&f, key);
}

static tx_t *req(int key, const char *dom, const char *instr)
{
	return req_at(key, dom, instr, 0);
}

static tx_t *resp(int key, const tx_t *r, int ok, const char *error)
{
	tx_fields_t f = { .type = TX_RESPONSE, .request_id = r->id,
			  .status = ok ? TX_STATUS_OK : TX_STATUS_ERROR,
			  .result = ok ? "done" : "", .error = error };
	return build(&f, key);
}

static tx_t *ten(int admin, int action, const char *dom, int tenant, const char *name, sla_t sla)
{
	tx_fields_t f = { .type = TX_TENANT, .action = (uint8_t)action, .domain = dom,
			  .tenant_scheme = (uint8_t)sig_key_scheme(keys[tenant]),
			  .tenant_key = sig_key_pub(keys[tenant]), .name = name, .sla = sla };
	return build(&f, admin);
}

static verdict_t last;

static verr_t check(const tx_t *tx)
{
	return validate_tx(F->st, tx, F->now, &last);
}

#define expect(tx, code) expect_at(tx, code, __LINE__)
static void expect_at(const tx_t *tx, verr_t code, int line)
{
	verr_t r = check(tx);
	if (r != code)
		fail_msg("line %d: expected %s, got %s (%s)", line, verr_name(code), verr_name(r),
			 last.msg);
	if (code != V_OK && last.msg[0] == 0)
		fail_msg("line %d: %s without a message", line, verr_name(code));
}

static void apply(const tx_t *tx)
{
	state_apply_tx(F->st, tx);
	F->tx_block_ts[tx - F->txs] = F->now;
}

/* Validates (must pass) and applies. */
#define ok(tx) ok_at(tx, __LINE__)
static const tx_t *ok_at(const tx_t *tx, int line)
{
	expect_at(tx, V_OK, line);
	apply(tx);
	return tx;
}

static const tx_t *create_ok(int key, const char *dom, const char *instr, int orch)
{
	const tx_t *r = ok(req(key, dom, instr));
	ok(resp(orch, r, 1, ""));
	return r;
}

static const object_rec_t *obj(int kind, const char *name)
{
	return state_object(F->st, kind, name, strlen(name));
}

static uint32_t count(int key, const char *dom, int kind)
{
	return state_count(F->st, sig_key_scheme(keys[key]), sig_key_pub(keys[key]), dom,
			   strlen(dom), kind);
}

/* ---- tests ---- */

static void test_verr_names(void **state)
{
	(void)state;
	static const struct {
		verr_t code;
		const char *name;
	} t[] = {
		{ V_OK, "ok" }, { V_BAD_SIGNATURE, "bad_signature" }, { V_MALFORMED, "malformed" },
		{ V_TIMESTAMP, "timestamp" }, { V_DUPLICATE, "duplicate" },
		{ V_UNKNOWN_TENANT, "unknown_tenant" }, { V_REVOKED, "revoked" },
		{ V_BAD_INSTRUCTION, "bad_instruction" }, { V_FORBIDDEN, "sla_forbidden" },
		{ V_QUOTA, "quota_exceeded" }, { V_RATE, "rate_limited" }, { V_NOT_OWNER, "not_owner" },
		{ V_NO_OBJECT, "no_such_object" }, { V_EXISTS, "exists" }, { V_IN_USE, "in_use" },
		{ V_NOT_ORCHESTRATOR, "not_orchestrator" }, { V_NO_REQUEST, "no_such_request" },
		{ V_ANSWERED, "already_answered" }, { V_NOT_ADMIN, "not_admin" },
		{ V_BAD_ATTESTATION, "bad_attestation" },
	};
	assert_int_equal(ARRAY_LEN(t), V_COUNT);
	for (size_t i = 0; i < ARRAY_LEN(t); i++)
		assert_string_equal(verr_name(t[i].code), t[i].name);
	assert_string_equal(verr_name(V_COUNT), "unknown");
	assert_string_equal(verr_name((verr_t)-1), "unknown");
}

/* Rule 1 is tx_verify_sig (callers map a failure to V_BAD_SIGNATURE):
 * flipping any byte of the content or the signature must break it. */
static void test_signature(void **state)
{
	(void)state;
	block();
	const int signers[] = { K_ALICE, K_BOB };   /* ed25519, ecdsa-p256 */
	for (size_t k = 0; k < ARRAY_LEN(signers); k++) {
		const tx_t *tx = req(signers[k], "p0", "vm create sig1");
		assert_int_equal(tx_verify_sig(tx, gen.chain_id), 0);
		const size_t at[] = { 1, 20, tx->content_len - 1, tx->content_len, tx->raw_len - 1 };
		for (size_t i = 0; i < ARRAY_LEN(at); i++) {
			uint8_t *raw = xmalloc(tx->raw_len);
			memcpy(raw, tx->raw, tx->raw_len);
			raw[at[i]] ^= 0x01;
			tx_t bad;
			char err[128];
			if (tx_decode(&bad, raw, tx->raw_len, gen.chain_id, err, sizeof(err)) == 0) {
				assert_int_not_equal(tx_verify_sig(&bad, gen.chain_id), 0);
				tx_clear(&bad);
			}
			free(raw);
		}
		uint8_t other[BSEC_HASH_BYTES];
		memset(other, 7, sizeof(other));
		assert_int_not_equal(tx_verify_sig(tx, other), 0);   /* another chain */
	}
}

/* Rule 2: each row builds a tx (optionally tampered after decoding) that
 * validate_fields must refuse, with a message containing `needle'. */
static void test_fields(void **state)
{
	(void)state;
	block();
	const tx_t *good = req(K_ALICE, "p0", "vm create a");
	struct {
		const char *what;
		tx_fields_t f;
		int key;
		int tamper;     /* 0 none, 1 status=2, 2 ops=0x100, 3 version=2, 4 action=9 */
		verr_t code;
		const char *needle;
	} t[] = {
		{ "ok request", { .type = TX_REQUEST, .domain = "p0", .instruction = "vm create a" },
		  K_ALICE, 0, V_OK, "" },
		{ "upper-case domain", { .type = TX_REQUEST, .domain = "P0", .instruction = "vm create a" },
		  K_ALICE, 0, V_MALFORMED, "'P0'" },
		{ "empty domain", { .type = TX_REQUEST, .domain = "", .instruction = "vm create a" },
		  K_ALICE, 0, V_MALFORMED, "domain" },
		{ "empty instruction", { .type = TX_REQUEST, .domain = "p0", .instruction = "" },
		  K_ALICE, 0, V_MALFORMED, "empty" },
		{ "control byte", { .type = TX_REQUEST, .domain = "p0", .instruction = "vm create a\x01" },
		  K_ALICE, 0, V_MALFORMED, "0x01" },
		{ "non-ascii", { .type = TX_REQUEST, .domain = "p0", .instruction = "vm create \xc3\xa9" },
		  K_ALICE, 0, V_MALFORMED, "0xc3" },
		{ "ok with error text", { .type = TX_RESPONSE, .request_id = good->id, .status = 0,
					  .error = "boom" }, K_P0O, 0, V_MALFORMED, "boom" },
		{ "error without text", { .type = TX_RESPONSE, .request_id = good->id, .status = 1 },
		  K_P0O, 0, V_MALFORMED, "needs an error" },
		{ "bad utf-8 result", { .type = TX_RESPONSE, .request_id = good->id, .status = 0,
					.result = "ok \xff" }, K_P0O, 0, V_MALFORMED, "UTF-8" },
		{ "overlong utf-8", { .type = TX_RESPONSE, .request_id = good->id, .status = 1,
				      .error = "\xc0\xaf" }, K_P0O, 0, V_MALFORMED, "UTF-8" },
		{ "surrogate", { .type = TX_RESPONSE, .request_id = good->id, .status = 1,
				 .error = "\xed\xa0\x80" }, K_P0O, 0, V_MALFORMED, "UTF-8" },
		{ "utf-8 result ok", { .type = TX_RESPONSE, .request_id = good->id, .status = 0,
				       .result = "caf\xc3\xa9 \xf0\x9f\x98\x80\nline" }, K_P0O, 0, V_OK, "" },
		{ "status 2", { .type = TX_RESPONSE, .request_id = good->id, .status = 0 },
		  K_P0O, 1, V_MALFORMED, "status" },
		{ "bad tenant name", { .type = TX_TENANT, .action = TENANT_REGISTER, .domain = "p0",
				       .name = "Bad_Name" }, K_P0A, 0, V_MALFORMED, "Bad_Name" },
		{ "empty name register", { .type = TX_TENANT, .action = TENANT_REGISTER, .domain = "p0",
					   .name = "" }, K_P0A, 0, V_MALFORMED, "name" },
		{ "empty name revoke ok", { .type = TX_TENANT, .action = TENANT_REVOKE, .domain = "p0",
					    .name = "" }, K_P0A, 0, V_OK, "" },
		{ "tenant bad domain", { .type = TX_TENANT, .action = TENANT_REGISTER, .domain = "-x",
					 .name = "carol" }, K_P0A, 0, V_MALFORMED, "'-x'" },
		{ "unknown op bits", { .type = TX_TENANT, .action = TENANT_REGISTER, .domain = "p0",
				       .name = "carol" }, K_P0A, 2, V_MALFORMED, "0x0100" },
		{ "version 2", { .type = TX_REQUEST, .domain = "p0", .instruction = "vm create a" },
		  K_ALICE, 3, V_MALFORMED, "version" },
		{ "action 9", { .type = TX_TENANT, .action = TENANT_UPDATE, .domain = "p0",
				.name = "carol" }, K_P0A, 4, V_MALFORMED, "action" },
	};
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		if (t[i].f.type == TX_TENANT) {
			t[i].f.tenant_scheme = SIG_ED25519;
			t[i].f.tenant_key = sig_key_pub(keys[K_CAROL]);
		}
		tx_t *tx = build(&t[i].f, t[i].key);
		switch (t[i].tamper) {
		case 1: tx->status = 2; break;
		case 2: tx->sla.ops = 0x100; break;
		case 3: tx->version = 2; break;
		case 4: tx->action = 9; break;
		}
		verdict_t v;
		verr_t r = validate_fields(tx, &v);
		if (r != t[i].code || v.code != r || !strstr(v.msg, t[i].needle))
			fail_msg("%s: expected %s with '%s', got %s (%s)", t[i].what,
				 verr_name(t[i].code), t[i].needle, verr_name(r), v.msg);
	}
}

static void test_timestamp_window(void **state)
{
	(void)state;
	block();
	const uint64_t now = F->now;
	const struct {
		int64_t off;
		verr_t code;
	} t[] = {
		{ 0, V_OK }, { -WINDOW, V_OK }, { WINDOW, V_OK }, { -WINDOW - 1, V_TIMESTAMP },
		{ WINDOW + 1, V_TIMESTAMP }, { -3600000, V_TIMESTAMP }, { 3600000, V_TIMESTAMP },
	};
	for (size_t i = 0; i < ARRAY_LEN(t); i++) {
		char instr[64];
		snprintf(instr, sizeof(instr), "vm create w%zu", i);
		tx_t *tx = req_at(K_BOB, "p0", instr, (uint64_t)((int64_t)now + t[i].off));
		expect(tx, t[i].code);
		if (t[i].code == V_TIMESTAMP)
			assert_non_null(strstr(last.msg, t[i].off > 0 ? "ahead" : "behind"));
	}
}

static void test_duplicate(void **state)
{
	(void)state;
	block();
	tx_t *r = req(K_BOB, "p0", "vm create d1");
	ok(r);
	expect(r, V_DUPLICATE);                /* same block */
	block();
	expect(r, V_DUPLICATE);                /* next block, still in window */
	assert_true(state_has_tx(F->st, r->id));
	/* a copy with another nonce is a different tx: refused only by state */
	tx_t *r2 = req(K_BOB, "p0", "vm create d1");
	expect(r2, V_EXISTS);
	/* the last block inside the window still sees the duplicate */
	block_at(r->timestamp_ms + WINDOW);
	expect(r, V_DUPLICATE);
	/* later the tx is too old anyway, and its id is pruned eventually */
	block_at(r->timestamp_ms + WINDOW + 1);
	expect(r, V_TIMESTAMP);
	block_at(r->timestamp_ms + state_recent_span_ms(F->st) + 5000);
	assert_false(state_has_tx(F->st, r->id));
	expect(r, V_TIMESTAMP);
}

static void test_tenant_unknown(void **state)
{
	(void)state;
	block();
	expect(req(K_CAROL, "p0", "vm create c1"), V_UNKNOWN_TENANT);
	assert_non_null(strstr(last.msg, "not a registered tenant"));
	expect(req(K_BOB, "p1", "vm create b1"), V_UNKNOWN_TENANT);
	assert_non_null(strstr(last.msg, "no grant in domain 'p1'"));
	expect(req(K_ALICE, "p9", "vm create a1"), V_FORBIDDEN);
	assert_non_null(strstr(last.msg, "'p9'"));
	assert_true(state_is_tenant(F->st, sig_key_scheme(keys[K_ALICE]), sig_key_pub(keys[K_ALICE])));
	assert_false(state_is_tenant(F->st, SIG_ED25519, sig_key_pub(keys[K_CAROL])));
	const tenant_rec_t *t = state_tenant(F->st, "p1", 2, SIG_ED25519, sig_key_pub(keys[K_ALICE]));
	assert_non_null(t);
	assert_string_equal(t->name, "alice");
	assert_int_equal(t->sla.ops, OP_ALL);
}

static void test_bad_instruction_and_sla(void **state)
{
	(void)state;
	block();
	expect(req(K_ALICE, "p0", "vm explode x"), V_BAD_INSTRUCTION);
	expect(req(K_ALICE, "p0", "vm create Bad"), V_BAD_INSTRUCTION);
	expect(req(K_ALICE, "p0", "vnf create f --type toaster"), V_BAD_INSTRUCTION);
	assert_non_null(strstr(last.msg, "at "));
	expect(req(K_DAVE, "p0", "vnf create f --type firewall"), V_FORBIDDEN);
	assert_non_null(strstr(last.msg, "vnf:create"));
	assert_non_null(strstr(last.msg, "'p0'"));
	ok(req(K_DAVE, "p0", "vm create dv1"));
	expect(req(K_DAVE, "p0", "vm delete dv1"), V_FORBIDDEN);
}

static void test_lifecycle(void **state)
{
	(void)state;
	block();
	const tx_t *r = ok(req(K_ALICE, "p0", "vm create vm1 --image debian-12"));
	const object_rec_t *o = obj(OBJ_VM, "vm1");
	assert_non_null(o);
	assert_int_equal(o->status, OBJ_CREATING);
	assert_int_equal(count(K_ALICE, "p0", OBJ_VM), 1);
	assert_non_null(state_open_request(F->st, r->id));
	assert_memory_equal(o->last_request, r->id, BSEC_HASH_BYTES);
	/* busy while being created */
	expect(req(K_ALICE, "p0", "vm delete vm1"), V_IN_USE);
	assert_non_null(strstr(last.msg, "busy"));
	block();
	ok(resp(K_P0O, r, 1, ""));
	assert_null(state_open_request(F->st, r->id));
	o = obj(OBJ_VM, "vm1");
	assert_int_equal(o->status, OBJ_ACTIVE);
	assert_int_equal(o->height, F->height);

	/* a VNF on it, then an update: config merged into the spec */
	create_ok(K_ALICE, "p0", "vnf create fw --type firewall --vm vm1 --config b=1 --config a=1",
		  K_P0O);
	assert_int_equal(obj(OBJ_VNF, "fw")->status, OBJ_ACTIVE);
	assert_int_equal(state_refs(F->st, OBJ_VM, "vm1", 3), 1);
	const tx_t *u = ok(req(K_ALICE, "p0", "vnf update fw --config a=2 --config c=3"));
	o = obj(OBJ_VNF, "fw");
	assert_non_null(o->pending_spec);
	assert_null(strstr(o->spec, "a=2"));
	expect(req(K_ALICE, "p0", "vnf update fw --config a=5"), V_IN_USE);
	assert_non_null(strstr(last.msg, "update is pending"));
	ok(resp(K_P0O, u, 1, ""));
	o = obj(OBJ_VNF, "fw");
	assert_null(o->pending_spec);
	assert_non_null(strstr(o->spec, "vnf create fw"));
	assert_non_null(strstr(o->spec, "--vm vm1"));
	assert_non_null(strstr(o->spec, "a=2"));
	assert_non_null(strstr(o->spec, "b=1"));
	assert_non_null(strstr(o->spec, "c=3"));
	/* a failed update leaves the spec */
	char *before = xstrdup(o->spec);
	u = ok(req(K_ALICE, "p0", "vnf update fw --config a=9"));
	ok(resp(K_P0O, u, 0, "driver said no"));
	assert_string_equal(obj(OBJ_VNF, "fw")->spec, before);
	free(before);

	/* the VM is in use by the VNF */
	expect(req(K_ALICE, "p0", "vm delete vm1"), V_IN_USE);
	assert_non_null(strstr(last.msg, "in use"));
	/* delete that fails: back to ACTIVE; it counted against the quota
	 * all along (until a delete succeeds the object is there) */
	assert_int_equal(count(K_ALICE, "p0", OBJ_VNF), 1);
	const tx_t *d = ok(req(K_ALICE, "p0", "vnf delete fw"));
	assert_int_equal(obj(OBJ_VNF, "fw")->status, OBJ_DELETING);
	assert_int_equal(count(K_ALICE, "p0", OBJ_VNF), 1);
	expect(req(K_ALICE, "p0", "vnf delete fw"), V_IN_USE);
	ok(resp(K_P0O, d, 0, "platform timeout"));
	assert_int_equal(obj(OBJ_VNF, "fw")->status, OBJ_ACTIVE);
	assert_int_equal(count(K_ALICE, "p0", OBJ_VNF), 1);
	/* delete that succeeds */
	d = ok(req(K_ALICE, "p0", "vnf delete fw"));
	ok(resp(K_P0O, d, 1, ""));
	assert_null(obj(OBJ_VNF, "fw"));
	assert_int_equal(count(K_ALICE, "p0", OBJ_VNF), 0);
	assert_int_equal(state_refs(F->st, OBJ_VM, "vm1", 3), 0);
	d = ok(req(K_ALICE, "p0", "vm delete vm1"));
	ok(resp(K_P0O, d, 1, ""));
	assert_null(obj(OBJ_VM, "vm1"));
	assert_int_equal(count(K_ALICE, "p0", OBJ_VM), 0);
	expect(req(K_ALICE, "p0", "vm delete vm1"), V_NO_OBJECT);

	/* a create that fails frees the name */
	r = ok(req(K_ALICE, "p0", "vm create vm2"));
	expect(req(K_BOB, "p0", "vm create vm2"), V_EXISTS);
	ok(resp(K_P0O, r, 0, "no capacity"));
	assert_null(obj(OBJ_VM, "vm2"));
	assert_int_equal(count(K_ALICE, "p0", OBJ_VM), 0);
	ok(req(K_BOB, "p0", "vm create vm2"));
	assert_int_equal(count(K_BOB, "p0", OBJ_VM), 1);
}

static void test_quota(void **state)
{
	(void)state;
	block();
	create_ok(K_ALICE, "p0", "vm create q1", K_P0O);
	ok(req(K_ALICE, "p0", "vm create q2"));
	expect(req(K_ALICE, "p0", "vm create q3"), V_QUOTA);
	assert_non_null(strstr(last.msg, "allows 2"));
	/* quota is per domain: p1 is unlimited */
	ok(req(K_ALICE, "p1", "vm create q3"));
	/* a pending delete does not free the slot: the delete may fail, and
	 * the object stay (it used to free it, and a failed delete then put
	 * the tenant over its quota for good) */
	const tx_t *d = ok(req(K_ALICE, "p0", "vm delete q1"));
	expect(req(K_ALICE, "p0", "vm create q4"), V_QUOTA);
	ok(resp(K_P0O, d, 0, "delete failed"));
	assert_int_equal(count(K_ALICE, "p0", OBJ_VM), 2);
	expect(req(K_ALICE, "p0", "vm create q4"), V_QUOTA);
	d = ok(req(K_ALICE, "p0", "vm delete q1"));
	ok(resp(K_P0O, d, 1, ""));
	assert_int_equal(count(K_ALICE, "p0", OBJ_VM), 1);
	ok(req(K_ALICE, "p0", "vm create q4"));
	assert_int_equal(count(K_ALICE, "p0", OBJ_VM), 2);
	/* sfc quota and chain length */
	create_ok(K_ALICE, "p0", "vnf create v1 --type forwarder", K_P0O);
	create_ok(K_ALICE, "p0", "vnf create v2 --type forwarder", K_P0O);
	create_ok(K_ALICE, "p0", "vnf create v3 --type forwarder", K_P0O);
	expect(req(K_ALICE, "p0", "sfc create s1 --chain v1,v2,v3"), V_QUOTA);
	assert_non_null(strstr(last.msg, "max_chain 2"));
	ok(req(K_ALICE, "p0", "sfc create s1 --chain v1,v2"));
	expect(req(K_ALICE, "p0", "sfc create s2 --chain v3"), V_QUOTA);
	create_ok(K_ALICE, "p0", "vnf create v4 --type nat", K_P0O);
	expect(req(K_ALICE, "p0", "vnf create v5 --type nat"), V_QUOTA);
}

/* n configs of a 32-character key and a 128-character value each */
static char *long_configs(int from, int n)
{
	size_t cap = (size_t)n * 200 + 1, o = 0;
	char *s = xcalloc(1, cap);
	for (int i = from; i < from + n; i++) {
		char key[33], val[129];
		snprintf(key, sizeof(key), "k%02d", i);
		memset(key + 3, 'a', 29);
		key[32] = 0;
		memset(val, 'v', 128);
		val[128] = 0;
		o += (size_t)snprintf(s + o, cap - o, " --config %s=%s", key, val);
	}
	return s;
}

/* An update whose merged spec would pass the 4 096 bytes an instruction
 * may have is refused: stored, that spec would not parse back, the VM it
 * names would lose its reference (and could be deleted under the VNF),
 * and no later update could read it. */
static void test_spec_size_after_update(void **state)
{
	(void)state;
	block();
	create_ok(K_BOB, "p0", "vm create hv", K_P0O);
	char *c1 = long_configs(0, 22), *c2 = long_configs(22, 9), *c3 = long_configs(22, 1);
	char *i1 = xasprintf("vnf create hf --type firewall --vm hv%s", c1);
	char *i2 = xasprintf("vnf update hf%s", c2), *i3 = xasprintf("vnf update hf%s", c3);
	assert_true(strlen(i1) < TX_MAX_INSTRUCTION && strlen(i2) < TX_MAX_INSTRUCTION);
	create_ok(K_BOB, "p0", i1, K_P0O);
	assert_int_equal(state_refs(F->st, OBJ_VM, "hv", 2), 1);
	expect(req(K_BOB, "p0", i2), V_BAD_INSTRUCTION);
	assert_non_null(strstr(last.msg, "over the 4096"));
	/* one more key still fits: the spec parses back, the reference stays */
	const tx_t *u = ok(req(K_BOB, "p0", i3));
	ok(resp(K_P0O, u, 1, ""));
	assert_true(strlen(obj(OBJ_VNF, "hf")->spec) <= TX_MAX_INSTRUCTION);
	assert_int_equal(state_refs(F->st, OBJ_VM, "hv", 2), 1);
	expect(req(K_BOB, "p0", "vm delete hv"), V_IN_USE);
	ok(req(K_BOB, "p0", "vnf update hf --config a=1"));
	free(c1);
	free(c2);
	free(c3);
	free(i1);
	free(i2);
	free(i3);
}

/* A chain names VNFs, and a VNF its VM, only once they are active: a
 * create may still fail, and a name left dangling then held whatever
 * another tenant later created under it (its owner could not delete it,
 * "in use" by the first tenant's chain). */
static void test_references_need_active_objects(void **state)
{
	(void)state;
	block();
	ok(ten(K_P0A, TENANT_REGISTER, "p0", K_CAROL, "carol", (sla_t){ .ops = OP_ALL }));
	const tx_t *v = ok(req(K_BOB, "p0", "vnf create dv --type nat"));
	expect(req(K_BOB, "p0", "sfc create ds --chain dv"), V_IN_USE);
	assert_non_null(strstr(last.msg, "still being created"));
	const tx_t *m = ok(req(K_BOB, "p0", "vm create dm"));
	expect(req(K_BOB, "p0", "vnf create dw --type nat --vm dm"), V_IN_USE);
	assert_non_null(strstr(last.msg, "still being created"));
	ok(resp(K_P0O, v, 0, "platform error"));
	ok(resp(K_P0O, m, 0, "platform error"));
	assert_null(obj(OBJ_VNF, "dv"));
	assert_int_equal(state_refs(F->st, OBJ_VNF, "dv", 2), 0);
	assert_int_equal(state_refs(F->st, OBJ_VM, "dm", 2), 0);
	/* another tenant takes the name and can delete what it made */
	block();
	create_ok(K_CAROL, "p0", "vnf create dv --type nat", K_P0O);
	expect(req(K_BOB, "p0", "sfc create ds --chain dv"), V_NOT_OWNER);
	ok(req(K_CAROL, "p0", "vnf delete dv"));
	/* once active, a VNF can be chained and a VM hosted on */
	create_ok(K_BOB, "p0", "vnf create dx --type nat", K_P0O);
	create_ok(K_BOB, "p0", "sfc create ds --chain dx", K_P0O);
	create_ok(K_BOB, "p0", "vm create dn", K_P0O);
	create_ok(K_BOB, "p0", "vnf create dy --type nat --vm dn", K_P0O);
	/* an update may not chain a VNF still being created either */
	ok(req(K_BOB, "p0", "vnf create dz --type nat"));
	expect(req(K_BOB, "p0", "sfc update ds --chain dx,dz"), V_IN_USE);
}

static void test_ownership_and_domains(void **state)
{
	(void)state;
	block();
	create_ok(K_ALICE, "p0", "vm create avm", K_P0O);
	create_ok(K_ALICE, "p0", "vnf create fw --type firewall --vm avm", K_P0O);
	create_ok(K_ALICE, "p1", "vm create pvm", K_P1O);
	create_ok(K_BOB, "p0", "vm create bvm", K_P0O);

	expect(req(K_BOB, "p0", "vnf delete fw"), V_NOT_OWNER);
	expect(req(K_BOB, "p0", "vnf update fw --config x=1"), V_NOT_OWNER);
	expect(req(K_BOB, "p0", "sfc create bs --chain fw"), V_NOT_OWNER);
	assert_string_equal(last.msg, "vnf 'fw' belongs to another tenant");
	expect(req(K_BOB, "p0", "vnf create bf --type nat --vm avm"), V_NOT_OWNER);
	expect(req(K_ALICE, "p0", "vnf create af --type nat --vm bvm"), V_NOT_OWNER);
	/* a VNF's VM must be in the request's domain */
	expect(req(K_ALICE, "p0", "vnf create af --type nat --vm pvm"), V_NO_OBJECT);
	assert_non_null(strstr(last.msg, "'p1'"));
	expect(req(K_ALICE, "p0", "vnf create af --type nat --vm nope"), V_NO_OBJECT);
	/* update/delete must target the object's domain */
	expect(req(K_ALICE, "p1", "vnf delete fw"), V_NO_OBJECT);
	assert_non_null(strstr(last.msg, "lives in domain 'p0'"));
	expect(req(K_ALICE, "p0", "vm delete pvm"), V_NO_OBJECT);
	expect(req(K_ALICE, "p0", "sfc create s --chain ghost"), V_NO_OBJECT);
	/* a VM being deleted takes no new VNF */
	ok(req(K_BOB, "p0", "vm delete bvm"));
	expect(req(K_BOB, "p0", "vnf create bf --type nat --vm bvm"), V_IN_USE);
}

static void test_cross_domain_chain(void **state)
{
	(void)state;
	block();
	create_ok(K_ALICE, "p0", "vnf create a --type firewall", K_P0O);
	create_ok(K_ALICE, "p1", "vnf create b --type nat", K_P1O);
	const tx_t *c = ok(req(K_ALICE, "p0", "sfc create web --chain a,b --match proto=tcp,dport=80"));
	/* a VNF in the chain (even a pending one) cannot be deleted */
	expect(req(K_ALICE, "p1", "vnf delete b"), V_IN_USE);
	assert_non_null(strstr(last.msg, "sfc"));
	ok(resp(K_P0O, c, 1, ""));
	assert_int_equal(state_refs(F->st, OBJ_VNF, "b", 1), 1);
	/* update the chain: b leaves it once the update is acknowledged */
	create_ok(K_ALICE, "p1", "vnf create m --type monitor", K_P1O);
	const tx_t *u = ok(req(K_ALICE, "p0", "sfc update web --chain a,m"));
	expect(req(K_ALICE, "p1", "vnf delete b"), V_IN_USE);
	expect(req(K_ALICE, "p1", "vnf delete m"), V_IN_USE);
	ok(resp(K_P0O, u, 1, ""));
	assert_non_null(strstr(obj(OBJ_SFC, "web")->spec, "--chain a,m"));
	assert_non_null(strstr(obj(OBJ_SFC, "web")->spec, "--match"));
	assert_int_equal(state_refs(F->st, OBJ_VNF, "b", 1), 0);
	ok(req(K_ALICE, "p1", "vnf delete b"));
	/* a chain cannot name a VNF that is being deleted */
	expect(req(K_ALICE, "p0", "sfc update web --chain a,b"), V_IN_USE);
	/* delete the sfc: its VNFs are free */
	const tx_t *d = ok(req(K_ALICE, "p0", "sfc delete web"));
	ok(resp(K_P0O, d, 1, ""));
	assert_int_equal(state_refs(F->st, OBJ_VNF, "a", 1), 0);
	ok(req(K_ALICE, "p0", "vnf delete a"));
}

static void test_responses(void **state)
{
	(void)state;
	block();
	ok(ten(K_P1A, TENANT_REGISTER, "p1b", K_ALICE, "alice", (sla_t){ .ops = OP_ALL }));
	const tx_t *r = ok(req(K_ALICE, "p0", "vm create rvm"));
	const tx_t *r1 = ok(req(K_ALICE, "p1b", "vm create rvm2"));
	expect(resp(K_P1O, r, 1, ""), V_NOT_ORCHESTRATOR);
	assert_non_null(strstr(last.msg, "provider 'p0'"));
	expect(resp(K_ALICE, r, 1, ""), V_NOT_ORCHESTRATOR);
	expect(resp(K_P0A, r, 1, ""), V_NOT_ORCHESTRATOR);
	expect(resp(K_P0O, r1, 1, ""), V_NOT_ORCHESTRATOR);
	ok(resp(K_P1O, r1, 1, ""));                   /* p1 runs p1b too */
	uint8_t bogus[BSEC_HASH_BYTES];
	memset(bogus, 0x42, sizeof(bogus));
	tx_fields_t f = { .type = TX_RESPONSE, .request_id = bogus, .status = 0 };
	expect(build(&f, K_P0O), V_NO_REQUEST);
	assert_non_null(strstr(last.msg, "4242"));
	ok(resp(K_P0O, r, 1, ""));
	expect(resp(K_P0O, r, 0, "again"), V_ANSWERED);
	block();
	expect(resp(K_P0O, r, 1, ""), V_ANSWERED);
	assert_true(state_was_answered(F->st, r->id));
	/* long after, the answer is forgotten: still refused */
	block_at(F->now + state_recent_span_ms(F->st) + 2000);
	expect(resp(K_P0O, r, 1, ""), V_NO_REQUEST);
}

static void test_tenant_txs(void **state)
{
	(void)state;
	sla_t all = { .ops = OP_ALL }, vm_only = { .ops = OP_VM_CREATE | OP_VM_DELETE, .max_vms = 1 };
	block();
	expect(ten(K_P1A, TENANT_REGISTER, "p0", K_CAROL, "carol", all), V_NOT_ADMIN);
	assert_non_null(strstr(last.msg, "provider 'p0'"));
	expect(ten(K_P0O, TENANT_REGISTER, "p0", K_CAROL, "carol", all), V_NOT_ADMIN);
	expect(ten(K_ALICE, TENANT_REGISTER, "p0", K_CAROL, "carol", all), V_NOT_ADMIN);
	expect(ten(K_P0A, TENANT_REGISTER, "p9", K_CAROL, "carol", all), V_NOT_ADMIN);
	expect(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol", all), V_UNKNOWN_TENANT);
	expect(ten(K_P0A, TENANT_REVOKE, "p0", K_CAROL, "", all), V_UNKNOWN_TENANT);
	expect(ten(K_P0A, TENANT_REGISTER, "p0", K_ALICE, "alice2", all), V_EXISTS);
	expect(ten(K_P1A, TENANT_REGISTER, "p1b", K_ALICE, "alice", all), V_OK);

	ok(ten(K_P0A, TENANT_REGISTER, "p0", K_CAROL, "carol", all));
	const tenant_rec_t *t = state_tenant(F->st, "p0", 2, SIG_ED25519, sig_key_pub(keys[K_CAROL]));
	assert_non_null(t);
	assert_int_equal(t->height, F->height);
	expect(ten(K_P0A, TENANT_REGISTER, "p0", K_CAROL, "carol", all), V_EXISTS);
	ok(req(K_CAROL, "p0", "vnf create cf --type nat"));
	block();
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-ltd", vm_only));
	assert_string_equal(state_tenant(F->st, "p0", 2, SIG_ED25519, sig_key_pub(keys[K_CAROL]))->name,
			    "carol-ltd");
	expect(req(K_CAROL, "p0", "vnf create cf2 --type nat"), V_FORBIDDEN);
	ok(req(K_CAROL, "p0", "vm create cv1"));
	expect(req(K_CAROL, "p0", "vm create cv2"), V_QUOTA);
	block();
	ok(ten(K_P0A, TENANT_REVOKE, "p0", K_CAROL, "", all));
	t = state_tenant(F->st, "p0", 2, SIG_ED25519, sig_key_pub(keys[K_CAROL]));
	assert_true(t->revoked);
	assert_string_equal(t->name, "carol-ltd");
	assert_false(state_is_tenant(F->st, SIG_ED25519, sig_key_pub(keys[K_CAROL])));
	expect(req(K_CAROL, "p0", "vm delete cv1"), V_REVOKED);
	expect(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol", all), V_REVOKED);
	expect(ten(K_P0A, TENANT_REVOKE, "p0", K_CAROL, "", all), V_REVOKED);
	/* re-registering after a revoke is allowed */
	block();
	ok(ten(K_P0A, TENANT_REGISTER, "p0", K_CAROL, "carol", all));
	ok(req(K_CAROL, "p0", "vm create cv2"));
}

/* Lookups of one tenant in domains whose names prefix each other, of
 * another tenant and of keys one byte apart, in turn: each answers its own
 * entry, and quotas count per domain (the state remembers the entry it
 * found last and must never hand it out for another tenant or domain). */
static void test_tenant_lookup_cache(void **state)
{
	(void)state;
	const uint8_t *alice = sig_key_pub(keys[K_ALICE]), *bob = sig_key_pub(keys[K_BOB]);
	uint8_t other[32];
	memcpy(other, alice, sizeof(other));
	other[31] ^= 1;
	block();
	ok(ten(K_P1A, TENANT_REGISTER, "p1b", K_ALICE, "alice-b", (sla_t){ .ops = OP_ALL, .max_vms = 7 }));
	for (int round = 0; round < 2; round++) {
		const tenant_rec_t *t = state_tenant(F->st, "p1", 2, SIG_ED25519, alice);
		assert_non_null(t);
		assert_string_equal(t->domain, "p1");
		assert_int_equal(t->sla.max_vms, 0);
		t = state_tenant(F->st, "p1b", 3, SIG_ED25519, alice);
		assert_non_null(t);
		assert_string_equal(t->name, "alice-b");
		assert_int_equal(t->sla.max_vms, 7);
		assert_null(state_tenant(F->st, "p1", 1, SIG_ED25519, alice));   /* "p" */
		assert_non_null(state_tenant(F->st, "p1", 2, SIG_ED25519, alice));
		assert_null(state_tenant(F->st, "p1\0\0", 4, SIG_ED25519, alice));   /* NULs after "p1" */
		t = state_tenant(F->st, "p1", 2, SIG_ED25519, alice);
		assert_non_null(t);
		assert_string_equal(t->domain, "p1");
		assert_null(state_tenant(F->st, "p1", 2, SIG_ED25519, other));
		t = state_tenant(F->st, "p0", 2, SIG_ECDSA_P256, bob);
		assert_non_null(t);
		assert_string_equal(t->name, "bob");
		assert_null(state_tenant(F->st, "p0", 2, SIG_ED25519, bob));     /* the same bytes, another scheme */
		assert_int_equal(state_tenant(F->st, "p0", 2, SIG_ED25519, alice)->sla.max_vms, 2);
	}
	/* alice may hold 2 VMs in p0: requests to p1 and p1b in between do not count there */
	ok(req(K_ALICE, "p0", "vm create c0"));
	ok(req(K_ALICE, "p1b", "vm create c1"));
	ok(req(K_ALICE, "p1", "vm create c2"));
	ok(req(K_ALICE, "p0", "vm create c3"));
	ok(req(K_ALICE, "p1b", "vm create c4"));
	expect(req(K_ALICE, "p0", "vm create c5"), V_QUOTA);
	assert_int_equal(state_count(F->st, SIG_ED25519, alice, "p1b", 3, OBJ_VM), 2);
	assert_int_equal(state_count(F->st, SIG_ED25519, alice, "p1", 2, OBJ_VM), 1);
	assert_int_equal(state_count(F->st, SIG_ED25519, alice, "p0", 2, OBJ_VM), 2);
}

/* Revocation takes effect inside the block that records it; responses to
 * the revoked tenant's open requests are still accepted. */
static void test_revocation_at_block(void **state)
{
	(void)state;
	block();
	const tx_t *r = ok(req(K_BOB, "p0", "vm create bv1"));
	ok(ten(K_P0A, TENANT_REVOKE, "p0", K_BOB, "", (sla_t){ 0 }));
	expect(req(K_BOB, "p0", "vm create bv2"), V_REVOKED);
	assert_non_null(strstr(last.msg, "'bob'"));
	ok(resp(K_P0O, r, 1, ""));
	assert_int_equal(obj(OBJ_VM, "bv1")->status, OBJ_ACTIVE);
}

static void test_rate(void **state)
{
	(void)state;
	block();
	ok(req(K_DAVE, "p0", "vm create r1"));
	ok(req(K_DAVE, "p0", "vm create r2"));
	expect(req(K_DAVE, "p0", "vm create r3"), V_RATE);
	assert_non_null(strstr(last.msg, "allows 2"));
	assert_int_equal(state_rate(F->st, SIG_ED25519, sig_key_pub(keys[K_DAVE]), F->now), 2);
	uint64_t t1 = F->now;
	block_at(t1 + 59999);
	expect(req(K_DAVE, "p0", "vm create r3"), V_RATE);
	block_at(t1 + 60000);
	ok(req(K_DAVE, "p0", "vm create r3"));
	assert_int_equal(state_rate(F->st, SIG_ED25519, sig_key_pub(keys[K_DAVE]), F->now), 1);
	/* a tx timestamp far in the past does not age a request out early */
	block_at(F->now + 1000);
	ok(req_at(K_DAVE, "p0", "vm create r4", F->now - WINDOW));
	expect(req_at(K_DAVE, "p0", "vm create r5", F->now + WINDOW), V_RATE);
}

/* ---- rollback, dirty set, reload ---- */

typedef struct {
	uint8_t acc[BSEC_HASH_BYTES];
} digest_t;

static void digest_add(digest_t *d, const char *s)
{
	uint8_t h[BSEC_HASH_BYTES];
	hash_sha256(h, s, strlen(s));
	for (int i = 0; i < BSEC_HASH_BYTES; i++)
		d->acc[i] ^= h[i];
}

/* One object or tenant as a line of text: every field the store keeps. */
static char *obj_row(int kind, const char *name, const object_rec_t *o)
{
	char key[2 * SIG_MAX_PUB + 1], lr[2 * BSEC_HASH_BYTES + 1];
	hex_encode(key, o->owner->key, sig_pub_len(o->owner->scheme));
	hex_encode(lr, o->last_request, BSEC_HASH_BYTES);
	return xasprintf("o|%d|%s|%s|%d|%s|%d|%s|%s|%s|%llu", kind, name, o->domain, o->owner->scheme,
			 key, o->status, o->spec ? o->spec : "-", o->pending_spec ? o->pending_spec : "-",
			 lr, (unsigned long long)o->height);
}

static char *ten_row(const tenant_rec_t *t)
{
	char key[2 * SIG_MAX_PUB + 1];
	hex_encode(key, t->key.key, sig_pub_len(t->key.scheme));
	return xasprintf("t|%s|%d|%s|%s|%u|%u|%u|%u|%u|%u|%d|%llu", t->domain, t->key.scheme, key,
			 t->name, t->sla.ops, t->sla.max_vms, t->sla.max_vnfs, t->sla.max_sfcs,
			 t->sla.max_chain, t->sla.rate_per_min, t->revoked, (unsigned long long)t->height);
}

static int dig_obj(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	char *s = obj_row(kind, name, o);
	digest_add(ctx, s);
	free(s);
	return 0;
}

static int dig_ten(void *ctx, const tenant_rec_t *t)
{
	char *s = ten_row(t);
	digest_add(ctx, s);
	free(s);
	return 0;
}

/* Everything the state answers about the first ntx txs of the fixture and
 * the keys, domains and names this test uses. */
static void fingerprint(const state_t *st, digest_t *d, int ntx)
{
	static const char *const doms[] = { "p0", "p1", "p1b" };
	static const char *const names[] = { "k1", "k2", "k3", "kv", "kf", "kg", "ks", "x1", "x2" };
	memset(d, 0, sizeof(*d));
	state_foreach_object(st, dig_obj, d);
	state_foreach_tenant(st, dig_ten, d);
	char *s;
	s = xasprintf("tip|%llu|%llu", (unsigned long long)state_height(st),
		      (unsigned long long)state_tip_ts(st));
	digest_add(d, s);
	free(s);
	for (int i = 0; i < ntx; i++) {
		const tx_t *tx = &F->txs[i];
		const open_request_t *r = state_open_request(st, tx->id);
		s = xasprintf("tx|%d|%d|%d|%d|%s|%d|%d", i, state_has_tx(st, tx->id),
			      state_was_answered(st, tx->id), r != NULL, r ? r->name : "",
			      r ? r->kind : 0, r ? r->verb : 0);
		digest_add(d, s);
		free(s);
	}
	for (int k = 0; k < K_COUNT; k++) {
		int sc = sig_key_scheme(keys[k]);
		const uint8_t *pub = sig_key_pub(keys[k]);
		for (size_t j = 0; j < ARRAY_LEN(doms); j++)
			for (int kind = OBJ_VM; kind <= OBJ_SFC; kind++) {
				s = xasprintf("c|%d|%zu|%d|%u|%u", k, j, kind,
					      state_count(st, sc, pub, doms[j], strlen(doms[j]), kind),
					      state_rate_in(st, doms[j], strlen(doms[j]), sc, pub,
							    F->now));
				digest_add(d, s);
				free(s);
			}
		s = xasprintf("k|%d|%d|%d|%u", k, state_is_tenant(st, sc, pub),
			      state_was_tenant(st, sc, pub), state_rate(st, sc, pub, F->now));
		digest_add(d, s);
		free(s);
	}
	for (size_t j = 0; j < ARRAY_LEN(names); j++)
		for (int kind = OBJ_VM; kind <= OBJ_SFC; kind++) {
			s = xasprintf("r|%s|%d|%u", names[j], kind,
				      state_refs(st, kind, names[j], strlen(names[j])));
			digest_add(d, s);
			free(s);
		}
}

/* Verdicts (codes) of a fixed set of probe txs. */
static void probes(verr_t out[16], const tx_t *p[16], int n)
{
	verdict_t v;
	for (int i = 0; i < n; i++)
		out[i] = validate_tx(F->st, p[i], F->now, &v);
}

static int build_history(void)
{
	block();
	create_ok(K_ALICE, "p0", "vm create k1", K_P0O);
	create_ok(K_ALICE, "p0", "vnf create kv --type firewall --vm k1", K_P0O);
	create_ok(K_ALICE, "p1", "vnf create kf --type nat", K_P1O);
	const tx_t *s = ok(req(K_ALICE, "p0", "sfc create ks --chain kv,kf"));
	ok(req(K_DAVE, "p0", "vm create x1"));
	ok(ten(K_P0A, TENANT_REGISTER, "p0", K_CAROL, "carol", (sla_t){ .ops = OP_ALL }));
	block();
	ok(resp(K_P0O, s, 1, ""));
	return F->n_txs;
}

static void speculate(void)
{
	/* a block touching every kind of state, with a big time jump so the
	 * recent set is pruned */
	block_at(F->now + state_recent_span_ms(F->st) + 30000);
	const tx_t *a = ok(req(K_ALICE, "p0", "vm create k2"));
	ok(resp(K_P0O, a, 0, "failed"));
	ok(req(K_ALICE, "p0", "vnf update kv --config mode=x"));
	ok(req(K_ALICE, "p0", "sfc update ks --chain kv"));
	ok(req(K_ALICE, "p1", "vnf create kg --type monitor"));
	ok(ten(K_P0A, TENANT_REVOKE, "p0", K_CAROL, "", (sla_t){ 0 }));
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_DAVE, "dave", (sla_t){ .ops = OP_ALL }));
	ok(req(K_DAVE, "p0", "vm create x2"));
	ok(req(K_BOB, "p0", "vm create k3"));
	ok(ten(K_P1A, TENANT_REGISTER, "p1b", K_BOB, "bob", (sla_t){ .ops = OP_ALL }));
}

static void test_rollback(void **state)
{
	(void)state;
	build_history();
	const tx_t *p[16];
	int np = 0;
	p[np++] = req(K_ALICE, "p0", "vm create k2");
	p[np++] = req(K_ALICE, "p0", "vm delete k1");
	p[np++] = req(K_ALICE, "p1", "vnf delete kf");
	p[np++] = req(K_CAROL, "p0", "vm create cc");
	p[np++] = req(K_DAVE, "p0", "vm create x9");
	p[np++] = req(K_BOB, "p1b", "vm create b9");
	p[np++] = req(K_ALICE, "p0", "sfc delete ks");
	p[np++] = req(K_ALICE, "p0", "vnf update kv --config q=1");
	p[np++] = &F->txs[0];

	digest_t d0, d1, d2, d3;
	verr_t v0[16], v1[16], v2[16];
	state_forget_undo(F->st);
	int n0 = F->n_txs;
	fingerprint(F->st, &d0, n0);
	probes(v0, p, np);
	uint64_t now0 = F->now, h0 = F->height;

	state_mark_t m = state_mark(F->st);
	speculate();
	int n1 = F->n_txs;
	fingerprint(F->st, &d1, n1);
	fingerprint(F->st, &d3, n0);
	assert_memory_not_equal(d0.acc, d3.acc, BSEC_HASH_BYTES);
	assert_false(state_has_tx(F->st, F->txs[0].id));    /* pruned */
	state_rollback(F->st, m);
	F->now = now0;
	F->height = h0;
	fingerprint(F->st, &d2, n0);
	probes(v2, p, np);
	assert_memory_equal(d0.acc, d2.acc, BSEC_HASH_BYTES);
	for (int i = 0; i < np; i++)
		assert_int_equal(v0[i], v2[i]);
	assert_true(state_has_tx(F->st, F->txs[0].id));

	/* replaying the same txs gives the same state again */
	block_at(F->now + state_recent_span_ms(F->st) + 30000);
	for (int i = n0; i < n1; i++)
		if (F->tx_block_ts[i])
			apply(&F->txs[i]);
	fingerprint(F->st, &d3, n1);
	assert_memory_equal(d1.acc, d3.acc, BSEC_HASH_BYTES);

	/* and a rollback in the middle of a block */
	state_rollback(F->st, m);
	F->now = now0;
	F->height = h0;
	block();
	const tx_t *a = req(K_ALICE, "p0", "vm create k2");
	const tx_t *b = ten(K_P0A, TENANT_REVOKE, "p0", K_CAROL, "", (sla_t){ 0 });
	const tx_t *c = req(K_DAVE, "p0", "vm create x3");
	state_mark_t m2 = state_mark(F->st);
	int nm = F->n_txs;
	fingerprint(F->st, &d1, nm);
	probes(v1, p, np);
	ok(a);
	ok(b);
	ok(c);
	ok(resp(K_P0O, a, 1, ""));
	fingerprint(F->st, &d3, nm);
	assert_memory_not_equal(d1.acc, d3.acc, BSEC_HASH_BYTES);
	state_rollback(F->st, m2);
	assert_int_equal(state_mark(F->st), m2);
	fingerprint(F->st, &d2, nm);
	probes(v2, p, np);
	assert_memory_equal(d1.acc, d2.acc, BSEC_HASH_BYTES);
	for (int i = 0; i < np; i++)
		assert_int_equal(v1[i], v2[i]);
}

typedef struct {
	int tenants, objects, removed;
	int saw_k2_removed;
} dirty_ctx_t;

static int dirty_ten(void *ctx, const tenant_rec_t *t)
{
	(void)t;
	((dirty_ctx_t *)ctx)->tenants++;
	return 0;
}

static int dirty_obj(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	dirty_ctx_t *c = ctx;
	c->objects++;
	if (!o) {
		c->removed++;
		if (kind == OBJ_VM && !strcmp(name, "k2"))
			c->saw_k2_removed = 1;
	} else {
		assert_string_equal(o->name, name);
		assert_int_equal(o->kind, kind);
	}
	return 0;
}

static void test_dirty(void **state)
{
	(void)state;
	dirty_ctx_t c = { 0 };
	state_foreach_dirty(F->st, dirty_ten, dirty_obj, &c);
	assert_int_equal(c.tenants, 4);          /* the genesis grants */
	state_clear_dirty(F->st);
	memset(&c, 0, sizeof(c));
	state_foreach_dirty(F->st, dirty_ten, dirty_obj, &c);
	assert_int_equal(c.tenants + c.objects, 0);
	block();
	const tx_t *a = ok(req(K_ALICE, "p0", "vm create k2"));
	ok(req(K_ALICE, "p0", "vm create k1"));
	ok(resp(K_P0O, a, 0, "failed"));
	ok(ten(K_P0A, TENANT_REGISTER, "p0", K_CAROL, "carol", (sla_t){ .ops = OP_ALL }));
	state_foreach_dirty(F->st, dirty_ten, dirty_obj, &c);
	assert_int_equal(c.tenants, 1);
	assert_int_equal(c.objects, 2);
	assert_int_equal(c.removed, 1);
	assert_true(c.saw_k2_removed);
	/* changed twice in a block: once in the set; changed again after the
	 * set was cleared: in it again */
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-2", (sla_t){ .ops = OP_ALL }));
	memset(&c, 0, sizeof(c));
	state_foreach_dirty(F->st, dirty_ten, dirty_obj, &c);
	assert_int_equal(c.tenants, 1);
	state_clear_dirty(F->st);
	block();
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-3", (sla_t){ .ops = OP_ALL }));
	memset(&c, 0, sizeof(c));
	state_foreach_dirty(F->st, dirty_ten, dirty_obj, &c);
	assert_int_equal(c.tenants, 1);
	assert_int_equal(c.objects, 0);
}

/* A state rebuilt the way store_load_state does it answers the same. */
typedef struct {
	state_t *dst;
} load_ctx_t;

static int load_ten(void *ctx, const tenant_rec_t *t)
{
	state_load_tenant(((load_ctx_t *)ctx)->dst, t);
	return 0;
}

static int load_obj(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	(void)kind;
	(void)name;
	state_load_object(((load_ctx_t *)ctx)->dst, o);
	return 0;
}

/* The same next block (the txs of nx that validate) on both states, which
 * must agree on every query before and after; returns how many applied. */
static int same_block_on_both(state_t *a, state_t *b, const tx_t *const *nx, size_t cnt)
{
	state_t *both[2] = { a, b };
	int applied[2] = { 0, 0 };
	digest_t d1, d2;
	fingerprint(a, &d1, F->n_txs);
	fingerprint(b, &d2, F->n_txs);
	assert_memory_equal(d1.acc, d2.acc, BSEC_HASH_BYTES);
	F->height++;
	F->now += 1000;
	for (int s = 0; s < 2; s++) {
		state_begin_block(both[s], F->height, F->now);
		for (size_t i = 0; i < cnt; i++) {
			verdict_t v;
			if (validate_tx(both[s], nx[i], F->now, &v) == V_OK) {
				state_apply_tx(both[s], nx[i]);
				applied[s]++;
			}
		}
	}
	assert_int_equal(applied[0], applied[1]);
	fingerprint(a, &d1, F->n_txs);
	fingerprint(b, &d2, F->n_txs);
	assert_memory_equal(d1.acc, d2.acc, BSEC_HASH_BYTES);
	return applied[0];
}

static void test_reload(void **state)
{
	(void)state;
	build_history();
	block();
	ok(req(K_ALICE, "p0", "vnf update kv --config z=1"));
	ok(req(K_DAVE, "p0", "vm create x2"));
	state_forget_undo(F->st);

	state_t *st2 = state_new(&gen);
	load_ctx_t c = { st2 };
	state_foreach_tenant(F->st, load_ten, &c);
	state_foreach_object(F->st, load_obj, &c);
	for (int i = 0; i < F->n_txs; i++) {
		const open_request_t *r = state_open_request(F->st, F->txs[i].id);
		if (r)
			state_load_open_request(st2, r);
	}
	/* recent txs in reverse order: the loader must not depend on it */
	for (int i = F->n_txs - 1; i >= 0; i--)
		if (F->tx_block_ts[i])
			state_load_recent_tx(st2, F->txs[i].id, F->tx_block_ts[i], &F->txs[i]);
	state_set_tip(st2, F->height, F->now);

	/* they agree, and keep agreeing after the same next block */
	const tx_t *nx[] = {
		req(K_DAVE, "p0", "vm create x9"), req(K_ALICE, "p0", "vm delete k1"),
		req(K_ALICE, "p1", "vnf delete kf"), req(K_ALICE, "p0", "sfc update ks --chain kf"),
	};
	same_block_on_both(F->st, st2, nx, ARRAY_LEN(nx));
	verdict_t v;
	assert_int_equal(validate_tx(st2, req(K_DAVE, "p0", "vm create x8"), F->now, &v), V_RATE);
	state_free(st2);
}

/* ---- deltas: the rows a node writes when a block commits ----
 * A "table" maps a row's key (kind and name, or domain and tenant key) to
 * its text, as the store's objects and tenants tables would hold it. */

static int tab_obj(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	char *k = xasprintf("o|%d|%s", kind, name);
	free(o ? map_put(ctx, k, strlen(k), obj_row(kind, name, o)) : map_del(ctx, k, strlen(k)));
	free(k);
	return 0;
}

static int tab_ten(void *ctx, const tenant_rec_t *t)
{
	char key[2 * SIG_MAX_PUB + 1];
	hex_encode(key, t->key.key, sig_pub_len(t->key.scheme));
	char *k = xasprintf("t|%s|%d|%s", t->domain, t->key.scheme, key);
	free(map_put(ctx, k, strlen(k), ten_row(t)));
	free(k);
	return 0;
}

/* Every object and tenant of st, as rows. */
static map_t *tab_of(const state_t *st)
{
	map_t *m = map_new();
	state_foreach_object(st, tab_obj, m);
	state_foreach_tenant(st, tab_ten, m);
	return m;
}

static void assert_tab_equal(map_t *a, map_t *b)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	assert_int_equal(map_size(a), map_size(b));
	while (map_next(a, &i, &k, &kl, &v)) {
		const char *w = map_get(b, k, kl);
		assert_non_null(w);
		assert_string_equal(v, w);
	}
}

/* The node applies each block once, to a state that already holds the
 * speculative blocks before it, and writes a block's delta when it
 * commits: written in commit order, the deltas must leave the rows of the
 * state right after each block, whatever came after it, and a block rolled
 * back (a view change) must leave nothing wrong behind. */
static void test_delta(void **state)
{
	(void)state;
	build_history();
	state_forget_undo(F->st);
	map_t *table = tab_of(F->st);   /* what the store holds so far */
	state_clear_dirty(F->st);

	/* block A, then B on top of it, both speculative */
	block();
	const tx_t *k2 = ok(req(K_ALICE, "p0", "vm create k2"));
	const tx_t *upd = ok(req(K_ALICE, "p0", "vnf update kv --config mode=a"));
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-a", (sla_t){ .ops = OP_ALL }));
	state_delta_t *da = state_take_delta(F->st);
	assert_int_equal(state_delta_size(da), 3);
	map_t *after_a = tab_of(F->st);
	block();
	ok(resp(K_P0O, k2, 1, ""));
	ok(resp(K_P0O, upd, 1, ""));
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-b", (sla_t){ .ops = OP_ALL }));
	state_delta_t *db = state_take_delta(F->st);
	assert_int_equal(state_delta_size(db), 3);
	map_t *after_b = tab_of(F->st);

	/* block C, which removes k2 and adds k3, is rolled back; C' replaces it */
	uint64_t now_b = F->now, h_b = F->height;
	state_mark_t mc = state_mark(F->st);
	block();
	const tx_t *del = ok(req(K_ALICE, "p0", "vm delete k2"));
	ok(resp(K_P0O, del, 1, ""));
	ok(req(K_ALICE, "p0", "vm create k3"));
	assert_null(state_object(F->st, OBJ_VM, "k2", 2));
	state_delta_free(state_take_delta(F->st));
	state_rollback(F->st, mc);
	F->now = now_b;
	F->height = h_b;
	block();
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-c", (sla_t){ .ops = OP_ALL }));
	state_delta_t *dc = state_take_delta(F->st);
	map_t *after_c = tab_of(F->st);

	/* committed in order */
	state_delta_foreach(da, tab_ten, tab_obj, NULL, table);
	assert_tab_equal(table, after_a);        /* k2 CREATING, kv's update pending */
	state_delta_foreach(db, tab_ten, tab_obj, NULL, table);
	assert_tab_equal(table, after_b);
	state_delta_foreach(dc, tab_ten, tab_obj, NULL, table);
	assert_tab_equal(table, after_c);        /* k2 still there, no k3 */
	assert_non_null(state_object(F->st, OBJ_VM, "k2", 2));
	assert_null(state_object(F->st, OBJ_VM, "k3", 2));

	/* a delta that will not be written goes back: a fresh state's genesis
	 * tenants, marked changed so that the first block writes them, are
	 * not lost with a block built and rolled back before it */
	state_t *fresh = state_new(&gen);
	state_mark_t mf = state_mark(fresh);
	state_begin_block(fresh, 1, F->now);
	state_delta_t *lost = state_take_delta(fresh);
	assert_true(state_delta_size(lost) >= 4);
	size_t genesis_rows = state_delta_size(lost);
	state_rollback(fresh, mf);
	state_delta_return(fresh, lost);
	state_delta_t *again = state_take_delta(fresh);
	assert_int_equal(state_delta_size(again), genesis_rows);
	state_delta_free(again);
	state_free(fresh);

	/* an untracked state (a registry that is never persisted) has none */
	state_track_dirty(F->st, 0);
	block();
	ok(ten(K_P0A, TENANT_UPDATE, "p0", K_CAROL, "carol-d", (sla_t){ .ops = OP_ALL }));
	state_delta_t *dn = state_take_delta(F->st);
	assert_int_equal(state_delta_size(dn), 0);
	state_delta_free(dn);
	state_delta_free(da);
	state_delta_free(db);
	state_delta_free(dc);
	map_free_values(table, free);
	map_free_values(after_a, free);
	map_free_values(after_b, free);
	map_free_values(after_c, free);
}

static void test_bench(void **state)
{
	(void)state;
	double ns = validate_bench_ns();
	assert_true(ns > 0);
	print_message("decode + validate of a request: %.0f ns\n", ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verr_names),
		cmocka_unit_test_setup_teardown(test_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timestamp_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_instruction_and_sla, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spec_size_after_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_references_need_active_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ownership_and_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cross_domain_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_responses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_txs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenant_lookup_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revocation_at_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delta, setup, teardown),
		cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
