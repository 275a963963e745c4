/*
 * portal_index.c — the portal's chain state and its index of requests
 * (portal_internal.h), both fed block by block on the loop thread.
 *
 * Every REQUEST becomes a record: who signed it, when (its timestamp),
 * the block that committed it; the RESPONSE that answers it adds the
 * outcome, the provider whose orchestrator key signed it and when.  The
 * records of one object (kind/name) form its history, the timeline the
 * app shows; response ids map back to their request so the portal knows
 * whose a tx is.  The index keeps the newest PORTAL_MAX_RECORDS records
 * (older ones are dropped from every map and history), so a long-running
 * portal stays bounded.
 */
#include "portal_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

/* "vnf/fw" into out (at least 4 + INSTR_MAX_NAME + 1 bytes). */
static size_t hist_key(char *out, size_t outlen, int kind, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", obj_kind_name(kind), name);
	return n < 0 ? 0 : (size_t)n;
}

void portal_index_init(portal_t *p)
{
	p->recs = map_new();
	p->resps = map_new();
	p->hists = map_new();
}

static void rec_free(rec_t *r)
{
	free(r->instruction);
	free(r->result);
	free(r->error);
	free(r);
}

void portal_index_free(portal_t *p)
{
	for (rec_t *r = p->oldest; r;) {
		rec_t *next = r->newer;
		rec_free(r);
		r = next;
	}
	p->oldest = p->newest = NULL;
	p->n_recs = 0;
	size_t i = 0;
	const void *k;
	size_t kl;
	void *v;
	while (p->hists && map_next(p->hists, &i, &k, &kl, &v)) {
		hist_t *h = v;
		free(h->r);
		free(h);
	}
	map_free(p->hists);
	map_free(p->recs);
	map_free(p->resps);
	p->hists = p->recs = p->resps = NULL;
}

/* Drops the oldest record from every structure. */
static void evict_oldest(portal_t *p)
{
	rec_t *r = p->oldest;
	if (!r)
		return;
	p->oldest = r->newer;
	if (p->oldest)
		p->oldest->older = NULL;
	else
		p->newest = NULL;
	p->n_recs--;
	map_del(p->recs, r->id, BSEC_HASH_BYTES);
	if (r->answered)
		map_del(p->resps, r->resp_id, BSEC_HASH_BYTES);
	char key[64];
	size_t kl = hist_key(key, sizeof(key), r->kind, r->name);
	hist_t *h = map_get(p->hists, key, kl);
	if (h) {
		for (size_t i = 0; i < h->n; i++)
			if (h->r[i] == r) {
				memmove(h->r + i, h->r + i + 1, (h->n - i - 1) * sizeof(*h->r));
				h->n--;
				break;
			}
		if (!h->n) {
			map_del(p->hists, key, kl);
			free(h->r);
			free(h);
		}
	}
	rec_free(r);
}

static void index_request(portal_t *p, const tx_t *tx, const block_t *b, uint32_t idx)
{
	instr_t in;
	size_t pos;
	/* a committed request parsed when it was validated; anything else is
	 * not an object's history */
	if (instr_parse(&in, tx->instruction, tx->instruction_len, &pos, NULL, 0) < 0)
		return;
	rec_t *r = xcalloc(1, sizeof(*r));
	memcpy(r->id, tx->id, BSEC_HASH_BYTES);
	r->scheme = tx->scheme;
	memcpy(r->key, tx->sender, sig_pub_len(tx->scheme));
	memcpy(r->domain, tx->domain, tx->domain_len);
	r->instruction = xstrndup(tx->instruction, tx->instruction_len);
	r->kind = (uint8_t)in.kind;
	r->verb = (uint8_t)in.verb;
	snprintf(r->name, sizeof(r->name), "%s", in.name);
	r->ts = tx->timestamp_ms;
	r->height = b->hdr.height;
	r->block_ts = b->hdr.timestamp_ms;
	r->index = idx;
	r->executor = -1;
	r->older = p->newest;
	if (p->newest)
		p->newest->newer = r;
	else
		p->oldest = r;
	p->newest = r;
	p->n_recs++;
	map_put(p->recs, r->id, BSEC_HASH_BYTES, r);
	char key[64];
	size_t kl = hist_key(key, sizeof(key), r->kind, r->name);
	hist_t *h = map_get(p->hists, key, kl);
	if (!h) {
		h = xcalloc(1, sizeof(*h));
		map_put(p->hists, key, kl, h);
	}
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 4;
		h->r = xrealloc(h->r, h->cap * sizeof(*h->r));
	}
	h->r[h->n++] = r;
	while (p->n_recs > PORTAL_MAX_RECORDS)
		evict_oldest(p);
}

static void index_response(portal_t *p, const tx_t *tx, const block_t *b, uint32_t idx)
{
	rec_t *r = map_get(p->recs, tx->request_id, BSEC_HASH_BYTES);
	if (!r || r->answered)
		return;
	r->answered = 1;
	memcpy(r->resp_id, tx->id, BSEC_HASH_BYTES);
	r->status = tx->status;
	/* as the browser decodes the signed bytes, so that the page can
	 * compare what it shows with what the orchestrator signed */
	r->result = utf8_lossy(tx->result ? tx->result : "", tx->result_len, &r->result_len);
	r->error = utf8_lossy(tx->error ? tx->error : "", tx->error_len, &r->error_len);
	r->resp_ts = tx->timestamp_ms;
	r->resp_height = b->hdr.height;
	r->resp_block_ts = b->hdr.timestamp_ms;
	r->resp_index = idx;
	for (size_t i = 0; i < p->g.n_providers; i++) {
		const pubkey_t *k = &p->g.providers[i].orch_key;
		if (k->scheme == tx->scheme && !memcmp(k->key, tx->sender, sig_pub_len(k->scheme))) {
			r->executor = (int)i;   /* the first, as the browser takes it */
			break;
		}
	}
	map_put(p->resps, r->resp_id, BSEC_HASH_BYTES, r);
}

void portal_apply_block(portal_t *p, const block_t *b)
{
	state_begin_block(p->st, b->hdr.height, b->hdr.timestamp_ms);
	for (uint32_t i = 0; i < b->hdr.tx_count; i++) {
		const tx_t *tx = &b->txs[i];
		if (tx->type == TX_REQUEST)
			index_request(p, tx, b, i);
		else if (tx->type == TX_RESPONSE)
			index_response(p, tx, b, i);
		state_apply_tx(p->st, tx);
	}
	state_forget_undo(p->st);
	p->height = b->hdr.height;
	p->tip_ts = b->hdr.timestamp_ms;
	memcpy(p->tip_hash, b->hdr.hash, BSEC_HASH_BYTES);
}

rec_t *portal_rec_of_tx(const portal_t *p, const uint8_t id[BSEC_HASH_BYTES], int *is_response)
{
	rec_t *r = map_get(p->recs, id, BSEC_HASH_BYTES);
	*is_response = 0;
	if (!r && (r = map_get(p->resps, id, BSEC_HASH_BYTES)))
		*is_response = 1;
	return r;
}

const hist_t *portal_hist(const portal_t *p, int kind, const char *name)
{
	char key[64];
	size_t kl = hist_key(key, sizeof(key), kind, name);
	return map_get(p->hists, key, kl);
}

int portal_rec_is(const rec_t *r, int scheme, const uint8_t *key)
{
	return r->scheme == scheme && !memcmp(r->key, key, sig_pub_len(scheme));
}

json_t *portal_rec_json(const portal_t *p, const rec_t *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", jhex(r->id, BSEC_HASH_BYTES));
	json_object_set_new(o, "kind", json_string(obj_kind_name(r->kind)));
	json_object_set_new(o, "verb", json_string(verb_name(r->verb)));
	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "domain", json_string(r->domain));
	json_object_set_new(o, "instruction", json_string(r->instruction));
	json_object_set_new(o, "signed_ms", json_integer((json_int_t)r->ts));
	json_object_set_new(o, "height", json_integer((json_int_t)r->height));
	json_object_set_new(o, "index", json_integer(r->index));
	json_object_set_new(o, "committed_ms", json_integer((json_int_t)r->block_ts));
	json_object_set_new(o, "commit_latency_ms",
			    json_integer(r->block_ts > r->ts ? (json_int_t)(r->block_ts - r->ts) : 0));
	if (!r->answered) {
		json_object_set_new(o, "state", json_string("committed"));
		json_object_set_new(o, "response", json_null());
		return o;
	}
	json_object_set_new(o, "state", json_string(r->status == TX_STATUS_OK ? "executed" : "failed"));
	json_t *resp = json_object();
	json_object_set_new(resp, "id", jhex(r->resp_id, BSEC_HASH_BYTES));
	json_object_set_new(resp, "status", json_string(r->status == TX_STATUS_OK ? "ok" : "error"));
	json_object_set_new(resp, "result", json_stringn(r->result ? r->result : "", r->result_len));
	json_object_set_new(resp, "error", json_stringn(r->error ? r->error : "", r->error_len));
	json_object_set_new(resp, "executor", r->executor >= 0
				  ? json_string(p->g.providers[r->executor].name) : json_null());
	json_object_set_new(resp, "signed_ms", json_integer((json_int_t)r->resp_ts));
	json_object_set_new(resp, "height", json_integer((json_int_t)r->resp_height));
	json_object_set_new(resp, "index", json_integer(r->resp_index));
	json_object_set_new(resp, "committed_ms", json_integer((json_int_t)r->resp_block_ts));
	json_object_set_new(o, "response", resp);
	/* execution: from the request's commit to the orchestrator signing its
	 * outcome; total: from the tenant signing to the outcome's commit */
	json_object_set_new(o, "exec_ms", json_integer(r->resp_ts > r->block_ts
							 ? (json_int_t)(r->resp_ts - r->block_ts) : 0));
	json_object_set_new(o, "total_ms", json_integer(r->resp_block_ts > r->ts
							  ? (json_int_t)(r->resp_block_ts - r->ts) : 0));
	return o;
}
