/*
 * history.c — timelines and accountability from a ledger's indexes
 * (history.h).
 *
 * Both walk store_query_txs in chain order and decode each tx (no
 * signature checks: the node verified them at admission, the auditor's
 * verify checks them again).  The history pairs each request with its
 * response through the index of responses by their request's row
 * (store_find_response); the accountability report reads every response
 * once into a map keyed by request id, then every request.
 */
#include "history.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/map.h"
#include "instr.h"

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

static json_t *jstrn(const char *s, size_t n)
{
	return json_stringn_nocheck(s ? s : "", s ? n : 0);
}

/* The provider whose orchestrator key is (scheme, key), or NULL. */
static const provider_t *orch_of_key(const genesis_t *g, int scheme, const uint8_t *key)
{
	for (size_t i = 0; i < g->n_providers; i++) {
		const pubkey_t *k = &g->providers[i].orch_key;
		if (k->scheme == scheme && !memcmp(k->key, key, sig_pub_len(scheme)))
			return &g->providers[i];
	}
	return NULL;
}

static const char *tenant_name(const genesis_t *g, const state_t *st, const tx_t *tx)
{
	if (st) {
		const tenant_rec_t *t = state_tenant(st, tx->domain, tx->domain_len, tx->scheme, tx->sender);
		if (t)
			return t->name;
	}
	for (size_t i = 0; i < g->n_tenants; i++)
		if (g->tenants[i].key.scheme == tx->scheme &&
		    !memcmp(g->tenants[i].key.key, tx->sender, sig_pub_len(tx->scheme)))
			return g->tenants[i].name;
	return "";
}

static json_t *tenant_json(const genesis_t *g, const state_t *st, const tx_t *tx)
{
	return json_pack("{s:s,s:s,s:o}", "name", tenant_name(g, st, tx), "scheme",
			 sig_scheme_name(tx->scheme), "key_hex", jhex(tx->sender, sig_pub_len(tx->scheme)));
}

static const char *provider_name(const genesis_t *g, const char *dom, size_t dl)
{
	const provider_t *p = genesis_provider_of_domain(g, dom, dl);
	return p ? p->name : "";
}

json_t *attestation_to_json(const attest_rec_t *a, const genesis_t *g)
{
	const provider_t *p = genesis_provider_of_domain(g, a->domain, strlen(a->domain));
	return json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:o,s:I,s:I,s:I}", "domain", a->domain, "provider",
			 p ? p->name : "", "tx_id", jhex(a->tx_id, BSEC_HASH_BYTES), "attested_height",
			 (json_int_t)a->attested_height, "objects", (json_int_t)a->objects, "problems",
			 (json_int_t)a->problems, "digest", jhex(a->digest, BSEC_HASH_BYTES),
			 "timestamp_ms", (json_int_t)a->timestamp_ms, "height", (json_int_t)a->height,
			 "block_ts", (json_int_t)a->block_ts);
}

int pubkey_from_hex(pubkey_t *k, const char *text)
{
	const char *colon = strchr(text, ':'), *hex = text;
	int scheme = 0;
	size_t n;
	memset(k, 0, sizeof(*k));
	if (colon) {
		char name[32];
		sig_scheme_t sc;
		size_t nl = (size_t)(colon - text);
		if (nl >= sizeof(name))
			return -1;
		memcpy(name, text, nl);
		name[nl] = 0;
		if (sig_scheme_parse(name, &sc) < 0)
			return -1;
		scheme = (int)sc;
		hex = colon + 1;
	}
	n = strlen(hex) / 2;
	if (!scheme) {
		for (int s = 1; s <= 3 && !scheme; s++)
			if (sig_pub_len(s) == n)
				scheme = s;
	}
	if (!scheme || sig_pub_len(scheme) != n || strlen(hex) != 2 * n ||
	    hex_decode(k->key, n, hex) < 0)
		return -1;
	k->scheme = (uint8_t)scheme;
	return 0;
}

/* ---- history ---- */

typedef struct {
	store_t *s;
	const genesis_t *g;
	const state_t *st;
	const history_filter_t *f;
	json_t *entries;
	size_t count;
	uint64_t next_from;           /* 0, or where the next page begins */
	uint32_t next_index;
	int failed;
	char *err;
	size_t errlen;
} hist_ctx_t;

/* The response to request id as JSON, or json_null(). */
static json_t *response_json(hist_ctx_t *c, const uint8_t id[BSEC_HASH_BYTES], uint64_t req_ts,
			     json_t **duration)
{
	uint8_t rid[BSEC_HASH_BYTES], *raw = NULL;
	size_t len;
	uint64_t h;
	uint32_t idx;
	tx_t tx;
	json_t *o = NULL;

	*duration = json_null();
	memset(&tx, 0, sizeof(tx));
	if (store_find_response(c->s, id, rid) != 0 || store_get_tx(c->s, rid, &raw, &len, &h, &idx) != 0)
		return json_null();
	/* the index said which tx answers: the tx itself must say so too */
	if (tx_decode(&tx, raw, len, c->g->chain_id, NULL, 0) == 0 && tx.type == TX_RESPONSE &&
	    !memcmp(tx.request_id, id, BSEC_HASH_BYTES)) {
		uint64_t bts = 0;
		if (store_block_ts(c->s, h, &bts) < 0)
			bts = 0;
		const provider_t *p = orch_of_key(c->g, tx.scheme, tx.sender);
		o = json_pack("{s:o,s:I,s:I,s:s,s:o,s:o,s:s,s:o}", "id", jhex(tx.id, BSEC_HASH_BYTES),
			      "height", (json_int_t)h, "block_ts", (json_int_t)bts, "status",
			      tx.status == TX_STATUS_OK ? "ok" : "error", "result",
			      jstrn(tx.result, tx.result_len), "error", jstrn(tx.error, tx.error_len),
			      "orchestrator", p ? p->name : "", "orchestrator_key_hex",
			      jhex(tx.sender, sig_pub_len(tx.scheme)));
		if (bts) {
			json_decref(*duration);
			*duration = json_integer(bts >= req_ts ? (json_int_t)(bts - req_ts) : 0);
		}
	}
	tx_clear(&tx);
	free(raw);
	return o ? o : json_null();
}

static int hist_cb(void *ctx, uint64_t height, uint32_t index, uint64_t block_ts, const uint8_t *raw,
		   size_t len)
{
	hist_ctx_t *c = ctx;
	tx_t tx;
	char why[256];
	json_t *dur, *resp;

	if (c->f->limit && c->count == c->f->limit) {
		c->next_from = height;   /* the query matches requests only */
		c->next_index = index;
		return 1;
	}
	if (tx_decode(&tx, raw, len, c->g->chain_id, why, sizeof(why)) < 0) {
		err_set(c->err, c->errlen, "stored tx at %" PRIu64 ".%" PRIu32 " does not decode: %s",
			height, index, why);
		c->failed = 1;
		return 1;
	}
	if (tx.type != TX_REQUEST) {
		tx_clear(&tx);
		return 0;
	}
	resp = response_json(c, tx.id, block_ts, &dur);
	const char *state = json_is_null(resp) ? "pending"
			    : !strcmp(json_string_value(json_object_get(resp, "status")), "ok") ? "ok"
											 : "error";
	json_array_append_new(
		c->entries,
		json_pack("{s:o,s:I,s:I,s:I,s:I,s:o,s:o,s:s,s:o,s:s,s:o,s:o}", "request_id",
			  jhex(tx.id, BSEC_HASH_BYTES), "height", (json_int_t)height, "index",
			  (json_int_t)index, "block_ts", (json_int_t)block_ts, "timestamp_ms",
			  (json_int_t)tx.timestamp_ms, "tenant", tenant_json(c->g, c->st, &tx), "domain",
			  jstrn(tx.domain, tx.domain_len), "provider",
			  provider_name(c->g, tx.domain, tx.domain_len), "instruction",
			  jstrn(tx.instruction, tx.instruction_len), "state", state, "response", resp,
			  "duration_ms", dur));
	c->count++;
	tx_clear(&tx);
	return 0;
}

json_t *history_query(store_t *s, const genesis_t *g, const state_t *st, const history_filter_t *f,
		      char *err, size_t errlen)
{
	hist_ctx_t c = { s, g, st, f, json_array(), 0, 0, 0, 0, err, errlen };
	json_t *next, *next_index;
	store_query_t q;
	json_t *filter = json_object(), *out = NULL;

	memset(&q, 0, sizeof(q));
	q.type = TX_REQUEST;
	q.from_height = f->from_height;
	q.from_index = f->from_index;
	if (f->obj_name) {
		q.obj_kind = f->obj_kind;
		q.obj_name = f->obj_name;
		json_object_set_new(filter, "object", json_sprintf("%s/%s", obj_kind_name(f->obj_kind),
								   f->obj_name));
	} else if (f->tenant) {
		q.sender = f->tenant;
		json_object_set_new(filter, "tenant", jhex(f->tenant->key, sig_pub_len(f->tenant->scheme)));
	} else if (f->domain) {
		q.domain = f->domain;
		json_object_set_new(filter, "domain", json_string(f->domain));
	}
	if (store_query_txs(s, &q, hist_cb, &c) < 0 && !c.failed) {
		err_set(err, errlen, "querying %s failed", store_path(s));
		c.failed = 1;
	}
	if (c.failed) {
		json_decref(filter);
		json_decref(c.entries);
		return NULL;
	}
	next = c.next_from ? json_integer((json_int_t)c.next_from) : json_null();
	next_index = c.next_from ? json_integer((json_int_t)c.next_index) : json_null();
	out = json_pack("{s:o,s:I,s:o,s:o,s:o}", "filter", filter, "count", (json_int_t)c.count,
			"next_from", next, "next_index", next_index, "entries", c.entries);
	return out;
}

/* ---- accountability ---- */

typedef struct {
	uint8_t status;
	uint64_t block_ts, height;
	uint8_t id[BSEC_HASH_BYTES];
	char error[160];
} resp_t;

typedef struct {
	const char *domain;
	const provider_t *p;
	uint64_t requests, ok, failed, late, unanswered, pending;
	uint64_t *dur;
	size_t n_dur, cap_dur;
	json_t *gaps, *failures;
} dom_t;

typedef struct {
	const genesis_t *g;
	const state_t *st;
	map_t *resp;                  /* request id -> resp_t */
	dom_t *doms;
	size_t n_doms;
	uint64_t deadline, now;
	size_t max_items;
	int failed;
	char *err;
	size_t errlen;
} acc_ctx_t;

static int resp_cb(void *ctx, uint64_t height, uint32_t index, uint64_t block_ts, const uint8_t *raw,
		   size_t len)
{
	acc_ctx_t *c = ctx;
	tx_t tx;
	char why[256];
	if (tx_decode(&tx, raw, len, c->g->chain_id, why, sizeof(why)) < 0) {
		err_set(c->err, c->errlen, "stored tx at %" PRIu64 ".%" PRIu32 " does not decode: %s",
			height, index, why);
		c->failed = 1;
		return 1;
	}
	if (tx.type == TX_RESPONSE && !map_get(c->resp, tx.request_id, BSEC_HASH_BYTES)) {
		resp_t *r = xcalloc(1, sizeof(*r));
		r->status = tx.status;
		r->block_ts = block_ts;
		r->height = height;
		memcpy(r->id, tx.id, BSEC_HASH_BYTES);
		size_t n = tx.error_len < sizeof(r->error) - 1 ? tx.error_len : sizeof(r->error) - 1;
		/* never cut a UTF-8 sequence in two */
		while (n > 0 && n < tx.error_len && ((unsigned char)tx.error[n] & 0xc0) == 0x80)
			n--;
		memcpy(r->error, tx.error, n);
		map_put(c->resp, tx.request_id, BSEC_HASH_BYTES, r);
	}
	tx_clear(&tx);
	return 0;
}

static dom_t *dom_of(acc_ctx_t *c, const char *d, size_t dl)
{
	for (size_t i = 0; i < c->n_doms; i++)
		if (strlen(c->doms[i].domain) == dl && !memcmp(c->doms[i].domain, d, dl))
			return &c->doms[i];
	return NULL;
}

static int req_cb(void *ctx, uint64_t height, uint32_t index, uint64_t block_ts, const uint8_t *raw,
		  size_t len)
{
	acc_ctx_t *c = ctx;
	tx_t tx;
	char why[256];
	if (tx_decode(&tx, raw, len, c->g->chain_id, why, sizeof(why)) < 0) {
		err_set(c->err, c->errlen, "stored tx at %" PRIu64 ".%" PRIu32 " does not decode: %s",
			height, index, why);
		c->failed = 1;
		return 1;
	}
	dom_t *d = tx.type == TX_REQUEST ? dom_of(c, tx.domain, tx.domain_len) : NULL;
	if (!d) {
		tx_clear(&tx);
		return 0;
	}
	d->requests++;
	resp_t *r = map_get(c->resp, tx.id, BSEC_HASH_BYTES);
	if (r) {
		uint64_t took = r->block_ts >= block_ts ? r->block_ts - block_ts : 0;
		if (d->n_dur == d->cap_dur) {
			d->cap_dur = d->cap_dur ? 2 * d->cap_dur : 256;
			d->dur = xrealloc(d->dur, d->cap_dur * sizeof(uint64_t));
		}
		d->dur[d->n_dur++] = took;
		if (r->status == TX_STATUS_OK) {
			d->ok++;
		} else {
			d->failed++;
			if (json_array_size(d->failures) < c->max_items)
				json_array_append_new(
					d->failures,
					json_pack("{s:o,s:o,s:I,s:s,s:o}", "request_id", jhex(tx.id, BSEC_HASH_BYTES),
						  "response_id", jhex(r->id, BSEC_HASH_BYTES), "height",
						  (json_int_t)r->height, "error", r->error, "instruction",
						  jstrn(tx.instruction, tx.instruction_len)));
		}
		if (took > c->deadline)
			d->late++;
	} else {
		uint64_t age = c->now > block_ts ? c->now - block_ts : 0;
		if (age > c->deadline) {
			d->unanswered++;
			if (json_array_size(d->gaps) < c->max_items)
				json_array_append_new(
					d->gaps,
					json_pack("{s:o,s:I,s:I,s:I,s:o,s:o,s:s}", "request_id",
						  jhex(tx.id, BSEC_HASH_BYTES), "height", (json_int_t)height,
						  "block_ts", (json_int_t)block_ts, "age_ms", (json_int_t)age,
						  "tenant", tenant_json(c->g, c->st, &tx), "instruction",
						  jstrn(tx.instruction, tx.instruction_len), "responsible",
						  d->p ? d->p->name : ""));
		} else {
			d->pending++;
		}
	}
	tx_clear(&tx);
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n), or null when n == 0. */
static json_t *pct(const uint64_t *v, size_t n, double q)
{
	if (!n)
		return json_null();
	size_t r = (size_t)ceil(q * (double)n);
	if (r < 1)
		r = 1;
	return json_integer((json_int_t)v[r - 1]);
}

json_t *accountability_report(store_t *s, const genesis_t *g, const state_t *st, uint64_t deadline_ms,
			      uint64_t now, size_t max_items, char *err, size_t errlen)
{
	acc_ctx_t c;
	store_query_t q;
	json_t *out = NULL, *doms = json_array();
	uint64_t tot[6] = { 0 };
	uint64_t *all = NULL;
	size_t n_all = 0;

	memset(&c, 0, sizeof(c));
	c.g = g;
	c.st = st;
	c.resp = map_new();
	c.deadline = deadline_ms;
	c.now = now;
	c.max_items = max_items;
	c.err = err;
	c.errlen = errlen;
	for (size_t i = 0; i < g->n_providers; i++)
		c.n_doms += g->providers[i].n_domains;
	c.doms = xcalloc(c.n_doms ? c.n_doms : 1, sizeof(dom_t));
	c.n_doms = 0;
	for (size_t i = 0; i < g->n_providers; i++)
		for (size_t k = 0; k < g->providers[i].n_domains; k++) {
			dom_t *d = &c.doms[c.n_doms++];
			d->domain = g->providers[i].domains[k];
			d->p = &g->providers[i];
			d->gaps = json_array();
			d->failures = json_array();
		}
	memset(&q, 0, sizeof(q));
	q.type = TX_RESPONSE;
	if (store_query_txs(s, &q, resp_cb, &c) < 0 && !c.failed) {
		err_set(err, errlen, "querying %s failed", store_path(s));
		c.failed = 1;
	}
	q.type = TX_REQUEST;
	if (!c.failed && store_query_txs(s, &q, req_cb, &c) < 0 && !c.failed) {
		err_set(err, errlen, "querying %s failed", store_path(s));
		c.failed = 1;
	}
	if (c.failed)
		goto out;
	for (size_t i = 0; i < c.n_doms; i++) {
		dom_t *d = &c.doms[i];
		const attest_rec_t *a = st ? state_attestation(st, d->domain, strlen(d->domain)) : NULL;
		if (d->n_dur)
			qsort(d->dur, d->n_dur, sizeof(uint64_t), u64_cmp);
		all = xrealloc(all, (n_all + d->n_dur + 1) * sizeof(uint64_t));
		if (d->n_dur)
			memcpy(all + n_all, d->dur, d->n_dur * sizeof(uint64_t));
		n_all += d->n_dur;
		tot[0] += d->requests, tot[1] += d->ok, tot[2] += d->failed;
		tot[3] += d->late, tot[4] += d->unanswered, tot[5] += d->pending;
		json_t *o = json_pack(
			"{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:O,s:O}", "domain",
			d->domain, "provider", d->p->name, "orchestrator_key_hex",
			jhex(d->p->orch_key.key, sig_pub_len(d->p->orch_key.scheme)), "requests",
			(json_int_t)d->requests, "ok", (json_int_t)d->ok, "failed", (json_int_t)d->failed,
			"late", (json_int_t)d->late, "unanswered", (json_int_t)d->unanswered, "pending",
			(json_int_t)d->pending, "p50_ms", pct(d->dur, d->n_dur, 0.50), "p90_ms",
			pct(d->dur, d->n_dur, 0.90), "p99_ms", pct(d->dur, d->n_dur, 0.99), "max_ms",
			d->n_dur ? json_integer((json_int_t)d->dur[d->n_dur - 1]) : json_null(),
			"last_attestation", a ? attestation_to_json(a, g) : json_null(), "gaps", d->gaps,
			"failures", d->failures);
		json_array_append_new(doms, o);
	}
	if (n_all)
		qsort(all, n_all, sizeof(uint64_t), u64_cmp);
	out = json_pack("{s:I,s:I,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o},s:O}", "deadline_ms",
			(json_int_t)deadline_ms, "now_ms", (json_int_t)now, "height",
			(json_int_t)store_height(s), "totals", "requests", (json_int_t)tot[0], "ok",
			(json_int_t)tot[1], "failed", (json_int_t)tot[2], "late", (json_int_t)tot[3],
			"unanswered", (json_int_t)tot[4], "pending", (json_int_t)tot[5], "p50_ms",
			pct(all, n_all, 0.50), "p90_ms", pct(all, n_all, 0.90), "p99_ms",
			pct(all, n_all, 0.99), "domains", doms);
out:
	for (size_t i = 0; i < c.n_doms; i++) {
		free(c.doms[i].dur);
		json_decref(c.doms[i].gaps);
		json_decref(c.doms[i].failures);
	}
	json_decref(doms);
	free(c.doms);
	free(all);
	map_free_values(c.resp, free);
	return out;
}
