/*
 * api_audit.c — the node API's audit endpoints (docs/audit.md):
 *
 *   GET /v1/blocks/raw?from=H&limit=N[&wait=MS]  raw blocks + certificates for
 *                                       remote auditors and followers (wait:
 *                                       long-polls for block H, as the JSON form)
 *   GET /v1/blocks/{H}/raw              one block (framing in src/audit/remote.h)
 *   GET /v1/proofs/{id}[?format=bin]    inclusion-proof bundle (proof.h): JSON
 *                                       view with bundle_hex, or the bundle bytes
 *   GET /v1/history?object=KIND/NAME | tenant=HEX | domain=D [&from=H&limit=N]
 *   GET /v1/accountability[?deadline_ms=MS&max_items=N]
 *   GET /v1/attestations[?domain=D&limit=N]
 *
 * History and accountability come from history.h over this node's store,
 * with tenant names and attestations from its committed state; the drift
 * audit needs a driver and stays on the CLI / orchestrator side.  All of
 * it runs on the loop thread, reading the store the loop thread owns, so
 * the costly one — accountability scans every request and response — is
 * computed at most once per ACC_CACHE_MS, whatever the parameters: the
 * same ones get the cached report (up to that old: its now_ms says when
 * it was made), others 429 with Retry-After until the interval ends.
 */
#include "node_internal.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ledger/audit.h"
#include "../ledger/history.h"
#include "../ledger/instr.h"
#include "../ledger/proof.h"

#define RAW_MAX_BLOCKS 1000
#define RAW_MAX_BYTES (8u << 20)
#define HISTORY_DEFAULT_LIMIT 500
#define HISTORY_MAX_LIMIT 5000
#define DEADLINE_DEFAULT_MS 30000
#define DEADLINE_MAX_MS (7ull * 24 * 3600 * 1000)
#define ACC_CACHE_MS 2000

static void reply_json(https_req_t *req, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	https_reply_json(req, status, s ? s : "{}");
	free(s);
	json_decref(o);
}

/* ---- raw blocks ---- */

/* The raw page from `from` on: at most limit blocks and, past the first,
 * about RAW_MAX_BYTES. */
void node_api_raw_reply(https_req_t *req, node_t *n, uint64_t from, uint64_t limit)
{
	uint64_t tip = store_height(n->store);
	buf_t out;
	buf_init(&out);
	buf_put(&out, RAW_BLOCKS_MAGIC, 4);
	buf_u64(&out, tip);
	for (uint64_t h = from, k = 0; h <= tip && k < limit; h++, k++) {
		uint8_t *b = NULL, *c = NULL;
		size_t bl = 0, cl = 0;
		if (store_get_block_raw(n->store, h, &b, &bl, &c, &cl) < 0) {
			buf_free(&out);
			https_reply_error(req, 500, "store_error", "cannot read block %" PRIu64, h);
			return;
		}
		buf_u64(&out, h);
		buf_blob32(&out, b, bl);
		buf_blob32(&out, c, cl);
		free(b);
		free(c);
		if (out.len >= RAW_MAX_BYTES)
			break;
	}
	https_reply(req, 200, "application/octet-stream", out.data, out.len);
	buf_free(&out);
}

void node_api_raw_blocks(https_req_t *req, node_t *n, const char *rest)
{
	uint64_t from, limit, wait = 0, tip = store_height(n->store);
	if (!strcmp(rest, "raw")) {
		if (https_req_query_u64(req, "from", 1, UINT64_MAX >> 1, &from) < 0 ||
		    https_req_query_u64(req, "limit", 100, RAW_MAX_BLOCKS, &limit) < 0 ||
		    https_req_query_u64(req, "wait", 0, NODE_API_MAX_WAIT_MS, &wait) < 0) {
			https_reply_error(req, 400, "bad_query", "from must be a height, limit 0..%d, wait 0..%d ms",
					  RAW_MAX_BLOCKS, NODE_API_MAX_WAIT_MS);
			return;
		}
		if (!from)
			from = 1;
	} else {
		char *end;
		from = strtoull(rest, &end, 10);
		if (end == rest || strcmp(end, "/raw") || rest[0] == '-' || rest[0] == '+' || !from) {
			https_reply_error(req, 400, "bad_height", "`%.40s' is not HEIGHT/raw", rest);
			return;
		}
		if (from > tip) {
			https_reply_error(req, 404, "not_found", "no block at height %" PRIu64 " (tip is %" PRIu64 ")",
					  from, tip);
			return;
		}
		limit = 1;
	}
	if (wait && from > tip)
		node_api_wait_block(req, n, from, limit, BLOCKS_RAW, wait);
	else
		node_api_raw_reply(req, n, from, limit);
}

/* ---- proofs ---- */

void node_api_proofs(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	uint8_t id[BSEC_HASH_BYTES];
	const char *rest = https_req_path_rest(req);
	const char *fmt = https_req_query(req, "format");
	char err[256];
	uint64_t height;
	buf_t b;
	n->api_requests++;
	if (hex_decode(id, sizeof(id), rest) < 0) {
		https_reply_error(req, 400, "bad_id", "tx id `%.80s' is not 64 hex digits", rest);
		return;
	}
	if (fmt && strcmp(fmt, "bin") && strcmp(fmt, "json")) {
		https_reply_error(req, 400, "bad_format", "format `%.20s' is neither bin nor json", fmt);
		return;
	}
	buf_init(&b);
	int r = proof_from_store(n->store, n->g.chain_id, id, &b, &height, err, sizeof(err));
	if (r == 1) {
		https_reply_error(req, 404, "not_found", "tx is not committed here");
	} else if (r < 0) {
		https_reply_error(req, 500, "proof_error", "cannot build the proof: %s", err);
	} else if (fmt && !strcmp(fmt, "bin")) {
		https_reply(req, 200, "application/octet-stream", b.data, b.len);
	} else {
		proof_t p;
		if (proof_decode(&p, b.data, b.len, err, sizeof(err)) < 0) {
			https_reply_error(req, 500, "proof_error", "the bundle does not decode: %s", err);
		} else {
			reply_json(req, 200, proof_to_json(&p));
			proof_clear(&p);
		}
	}
	buf_free(&b);
}

/* ---- history, accountability, attestations ---- */

void node_api_history(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	const char *obj = https_req_query(req, "object"), *ten = https_req_query(req, "tenant");
	const char *dom = https_req_query(req, "domain");
	history_filter_t f;
	pubkey_t key;
	char name[INSTR_MAX_NAME + 1], err[256];
	uint64_t from, index, limit;
	n->api_requests++;
	memset(&f, 0, sizeof(f));
	if ((obj != NULL) + (ten != NULL) + (dom != NULL) != 1) {
		https_reply_error(req, 400, "bad_query", "give exactly one of object=KIND/NAME, tenant=HEX, domain=D");
		return;
	}
	/* a limit of 0 would mean none to the history query: the whole chain */
	if (https_req_query_u64(req, "from", 1, UINT64_MAX >> 1, &from) < 0 ||
	    https_req_query_u64(req, "index", 0, BLOCK_MAX_TXS - 1, &index) < 0 ||
	    https_req_query_u64(req, "limit", HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, &limit) < 0 ||
	    limit == 0) {
		https_reply_error(req, 400, "bad_query", "from must be a height, index 0..%d, limit 1..%d",
				  BLOCK_MAX_TXS - 1, HISTORY_MAX_LIMIT);
		return;
	}
	if (obj) {
		const char *slash = strchr(obj, '/');
		char kind[8];
		size_t kl = slash ? (size_t)(slash - obj) : 0;
		if (!slash || kl >= sizeof(kind) || strlen(slash + 1) > INSTR_MAX_NAME || !slash[1]) {
			https_reply_error(req, 400, "bad_object", "object `%.60s' is not KIND/NAME", obj);
			return;
		}
		memcpy(kind, obj, kl);
		kind[kl] = 0;
		f.obj_kind = obj_kind_parse(kind);
		if (f.obj_kind < 0) {
			https_reply_error(req, 400, "bad_object", "object kind `%s' is not vm, vnf or sfc", kind);
			return;
		}
		snprintf(name, sizeof(name), "%s", slash + 1);
		f.obj_name = name;
	} else if (ten) {
		if (pubkey_from_hex(&key, ten) < 0) {
			https_reply_error(req, 400, "bad_tenant", "tenant `%.80s' is not a public key in hex", ten);
			return;
		}
		f.tenant = &key;
	} else {
		if (strlen(dom) > TX_MAX_DOMAIN) {
			https_reply_error(req, 400, "bad_domain", "domain `%.40s...' is too long", dom);
			return;
		}
		f.domain = dom;
	}
	f.from_height = from;
	f.from_index = (uint32_t)index;
	f.limit = (size_t)limit;
	json_t *o = history_query(n->store, &n->g, n->committed, &f, err, sizeof(err));
	if (!o)
		https_reply_error(req, 500, "store_error", "%s", err);
	else
		reply_json(req, 200, o);
}

/* The last accountability report (one node per process in practice; the
 * node pointer is part of the key all the same). */
static struct {
	const node_t *n;
	uint64_t deadline, items, made_ms;
	char *json;
} acc_cache;

void node_api_accountability(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	uint64_t deadline, items, now = now_ms();
	char err[256];
	n->api_requests++;
	if (https_req_query_u64(req, "deadline_ms", DEADLINE_DEFAULT_MS, DEADLINE_MAX_MS, &deadline) < 0 ||
	    https_req_query_u64(req, "max_items", 50, 1000, &items) < 0) {
		https_reply_error(req, 400, "bad_query", "deadline_ms must be 0..%llu, max_items 0..1000",
				  (unsigned long long)DEADLINE_MAX_MS);
		return;
	}
	if (acc_cache.json && acc_cache.n == n && now - acc_cache.made_ms < ACC_CACHE_MS) {
		if (acc_cache.deadline == deadline && acc_cache.items == items) {
			https_reply_json(req, 200, acc_cache.json);
			return;
		}
		/* one scan per interval whatever the parameters: changing them
		 * must not buy a scan of the whole chain per request */
		uint64_t left = ACC_CACHE_MS - (now - acc_cache.made_ms);
		char ra[24];
		snprintf(ra, sizeof(ra), "%llu", (unsigned long long)(left + 999) / 1000);
		https_req_set_header(req, "Retry-After", ra);
		https_reply_error(req, 429, "busy",
				  "a report (deadline_ms=%llu, max_items=%llu) was made %llu ms ago; one is "
				  "computed at most every %d ms: ask again in %llu ms, or with those parameters",
				  (unsigned long long)acc_cache.deadline, (unsigned long long)acc_cache.items,
				  (unsigned long long)(now - acc_cache.made_ms), ACC_CACHE_MS,
				  (unsigned long long)left);
		return;
	}
	json_t *o = accountability_report(n->store, &n->g, n->committed, deadline, now, (size_t)items,
					  err, sizeof(err));
	if (!o) {
		https_reply_error(req, 500, "store_error", "%s", err);
		return;
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s) {
		https_reply_error(req, 500, "json_error", "cannot render the report");
		return;
	}
	free(acc_cache.json);
	acc_cache.n = n;
	acc_cache.deadline = deadline;
	acc_cache.items = items;
	acc_cache.made_ms = now;
	acc_cache.json = s;
	https_reply_json(req, 200, s);
}

typedef struct {
	const genesis_t *g;
	json_t *arr;
} att_ctx_t;

static int att_cb(void *ctx, const attest_rec_t *a)
{
	att_ctx_t *c = ctx;
	json_array_append_new(c->arr, attestation_to_json(a, c->g));
	return 0;
}

typedef struct {
	const genesis_t *g;
	json_t *arr;
} att_hist_t;

static int att_hist_cb(void *ctx, uint64_t height, uint32_t index, uint64_t block_ts,
		       const uint8_t *raw, size_t len)
{
	att_hist_t *c = ctx;
	tx_t tx;
	if (tx_decode(&tx, raw, len, c->g->chain_id, NULL, 0) < 0)
		return 0;
	if (tx.type == TX_ATTEST) {
		json_t *o = tx_to_json(&tx, c->g->chain_id);
		json_object_set_new(o, "height", json_integer((json_int_t)height));
		json_object_set_new(o, "index", json_integer(index));
		json_object_set_new(o, "block_ts", json_integer((json_int_t)block_ts));
		json_array_append_new(c->arr, o);
	}
	tx_clear(&tx);
	return 0;
}

void node_api_attestations(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	const char *dom = https_req_query(req, "domain");
	uint64_t limit, from;
	n->api_requests++;
	if (https_req_query_u64(req, "limit", 100, 10000, &limit) < 0 || limit == 0 ||
	    https_req_query_u64(req, "from", 1, UINT64_MAX >> 1, &from) < 0) {
		https_reply_error(req, 400, "bad_query", "limit must be 1..10000, from a height");
		return;
	}
	att_ctx_t c = { &n->g, json_array() };
	state_foreach_attestation(n->committed, att_cb, &c);
	json_t *o = json_pack("{s:o}", "last", c.arr);
	if (dom) {
		if (strlen(dom) > TX_MAX_DOMAIN) {
			json_decref(o);
			https_reply_error(req, 400, "bad_domain", "domain `%.40s...' is too long", dom);
			return;
		}
		store_query_t q;
		memset(&q, 0, sizeof(q));
		q.type = TX_ATTEST;
		q.domain = dom;
		q.from_height = from;
		q.limit = (size_t)limit;
		att_hist_t h = { &n->g, json_array() };
		if (store_query_txs(n->store, &q, att_hist_cb, &h) < 0) {
			json_decref(h.arr);
			json_decref(o);
			https_reply_error(req, 500, "store_error", "querying attestations failed");
			return;
		}
		json_object_set_new(o, "domain", json_string(dom));
		json_object_set_new(o, "attestations", h.arr);
	}
	reply_json(req, 200, o);
}
