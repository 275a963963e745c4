/*
 * api.c — the node's HTTPS API (DESIGN §9) and Prometheus metrics.
 *
 *   POST /v1/transactions          binary signed tx -> 202 pending / 200 known / 4xx / 503
 *   POST /v1/transactions/batch    (u32 length || signed tx)... -> counts and refusals
 *   GET  /v1/transactions/{id}     ?wait=MS long-polls until committed
 *   GET  /v1/blocks/{height}       header, certificate, txs (JSON)
 *   GET  /v1/blocks?from=H&limit=N[&txs=1][&wait=MS]  (long-polls for block H)
 *   GET  /v1/blocks/raw?from=H&limit=N[&wait=MS], /v1/blocks/{height}/raw  raw, for
 *        auditors and followers (the orchestrator, the portal)
 *   GET  /v1/proofs/{id}[?format=bin]  inclusion proof bundle (proof.h)
 *   GET  /v1/history, /v1/accountability, /v1/attestations  (api_audit.c)
 *   GET  /v1/status                node, height, tip_hash, view, leader, peers, ...
 *   GET  /metrics                  Prometheus text
 */
#include "node_internal.h"

#include <ctype.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/merkle.h"

const double node_lat_bounds[LAT_BUCKETS] = { 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
					      10000, 30000 };

#define MAX_WAIT_MS NODE_API_MAX_WAIT_MS
#define MAX_BLOCKS_PAGE 100

static void reply_json_obj(https_req_t *req, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	https_reply_json(req, status, s ? s : "{}");
	free(s);
	json_decref(o);
}

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

/* ---- status and metrics ---- */

static void h_status(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	pbft_stats_t ps;
	pbft_stats(n->pbft, &ps);
	json_t *o = json_object();
	json_object_set_new(o, "node", json_string(n->cfg.name));
	json_object_set_new(o, "index", json_integer(n->self));
	json_object_set_new(o, "chain_id", jhex(n->g.chain_id, BSEC_HASH_BYTES));
	json_object_set_new(o, "height", json_integer((json_int_t)store_height(n->store)));
	json_object_set_new(o, "tip_hash", jhex(store_tip_hash(n->store), BSEC_HASH_BYTES));
	json_object_set_new(o, "view", json_integer((json_int_t)ps.view));
	json_object_set_new(o, "leader", json_integer(ps.leader));
	json_object_set_new(o, "leader_name", json_string(n->g.providers[ps.leader].name));
	json_object_set_new(o, "in_view_change", json_boolean(ps.in_view_change));
	json_object_set_new(o, "view_changes", json_integer((json_int_t)ps.view_changes));
	json_object_set_new(o, "peers", json_integer(n->net ? (json_int_t)peer_net_connected_count(n->net) : 0));
	json_object_set_new(o, "members", json_integer((json_int_t)n->g.n_providers));
	json_object_set_new(o, "mempool", json_integer((json_int_t)mempool_count(n->pool)));
	json_object_set_new(o, "committed_txs", json_integer((json_int_t)n->committed_txs));
	json_object_set_new(o, "healthy", json_boolean(!n->failed));
	json_object_set_new(o, "uptime_ms", json_integer((json_int_t)(now_ms() - n->start_ms)));
	reply_json_obj(req, 200, o);
}

static void h_metrics(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	pbft_stats_t ps;
	pbft_stats(n->pbft, &ps);
	buf_t b;
	buf_init(&b);
	char line[512];
#define M(...) do { int l_ = snprintf(line, sizeof(line), __VA_ARGS__); buf_put(&b, line, (size_t)l_); } while (0)
	M("# HELP bsec_height Height of the last committed block.\n# TYPE bsec_height gauge\n");
	M("bsec_height %llu\n", (unsigned long long)store_height(n->store));
	M("# HELP bsec_view Current PBFT view.\n# TYPE bsec_view gauge\nbsec_view %llu\n",
	  (unsigned long long)ps.view);
	M("# HELP bsec_view_changes_total View changes this replica started.\n# TYPE bsec_view_changes_total counter\n");
	M("bsec_view_changes_total %llu\n", (unsigned long long)ps.view_changes);
	M("# TYPE bsec_new_views_total counter\nbsec_new_views_total %llu\n", (unsigned long long)ps.new_views);
	M("# TYPE bsec_equivocations_total counter\nbsec_equivocations_total %llu\n",
	  (unsigned long long)ps.equivocations);
	M("# TYPE bsec_blocks_fetched_total counter\nbsec_blocks_fetched_total %llu\n",
	  (unsigned long long)ps.fetched);
	M("# HELP bsec_fetches_held_total Block requests from peers held back by the per-peer byte budget.\n"
	  "# TYPE bsec_fetches_held_total counter\nbsec_fetches_held_total %llu\n",
	  (unsigned long long)ps.fetches_held);
	M("# HELP bsec_committed_txs_total Txs committed since start.\n# TYPE bsec_committed_txs_total counter\n");
	M("bsec_committed_txs_total %llu\n", (unsigned long long)n->committed_txs);
	M("# HELP bsec_mempool_txs Txs waiting in the mempool.\n# TYPE bsec_mempool_txs gauge\n");
	M("bsec_mempool_txs %zu\n", mempool_count(n->pool));
	M("# TYPE bsec_mempool_full_total counter\nbsec_mempool_full_total %llu\n",
	  (unsigned long long)n->mempool_full);
	M("# HELP bsec_requests_shed_total Client requests refused (503) because more txs waited than the node "
	  "commits in backlog_ms.\n# TYPE bsec_requests_shed_total counter\nbsec_requests_shed_total %llu\n",
	  (unsigned long long)n->shed);
	M("# HELP bsec_gossip_dropped_total Peer tx batches dropped because too many waited to be admitted.\n"
	  "# TYPE bsec_gossip_dropped_total counter\nbsec_gossip_dropped_total %llu\n",
	  (unsigned long long)n->gossip_dropped);
	M("# HELP bsec_commit_rate_txs Commit rate (tx/s) measured while blocks were near full.\n"
	  "# TYPE bsec_commit_rate_txs gauge\nbsec_commit_rate_txs %.0f\n", n->commit_rate);
	M("# HELP bsec_peers_connected Peers whose outbound link is up.\n# TYPE bsec_peers_connected gauge\n");
	M("bsec_peers_connected %zu\n", n->net ? peer_net_connected_count(n->net) : 0);
	M("# HELP bsec_commit_latency_ms From arrival at this node to commit.\n# TYPE bsec_commit_latency_ms histogram\n");
	uint64_t cum = 0;
	for (size_t i = 0; i < LAT_BUCKETS; i++) {
		cum += n->lat_hist[i];
		M("bsec_commit_latency_ms_bucket{le=\"%g\"} %llu\n", node_lat_bounds[i], (unsigned long long)cum);
	}
	cum += n->lat_hist[LAT_BUCKETS];
	M("bsec_commit_latency_ms_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	M("bsec_commit_latency_ms_sum %.3f\nbsec_commit_latency_ms_count %llu\n", n->lat_sum,
	  (unsigned long long)n->lat_count);
	M("# HELP bsec_invalid_messages_total Peer messages dropped, by reason.\n# TYPE bsec_invalid_messages_total counter\n");
	for (int d = 0; d < PBFT_DROP__COUNT; d++)
		M("bsec_invalid_messages_total{kind=\"%s\"} %llu\n", pbft_drop_name((pbft_drop_t)d),
		  (unsigned long long)ps.dropped[d]);
	M("bsec_invalid_messages_total{kind=\"bad_tx_forward\"} %llu\n", (unsigned long long)n->bad_forward);
	M("# HELP bsec_rejected_txs_total Txs refused, by rule.\n# TYPE bsec_rejected_txs_total counter\n");
	for (int v = 1; v < V_COUNT; v++)
		M("bsec_rejected_txs_total{code=\"%s\"} %llu\n", verr_name((verr_t)v), (unsigned long long)n->rejected[v]);
	if (n->net) {
		peer_counters_t pc;
		peer_net_counters(n->net, &pc);
		M("# TYPE bsec_peer_bytes_total counter\nbsec_peer_bytes_total{dir=\"in\"} %llu\n"
		  "bsec_peer_bytes_total{dir=\"out\"} %llu\n", (unsigned long long)pc.bytes_in,
		  (unsigned long long)pc.bytes_out);
		M("# TYPE bsec_peer_handshake_failures_total counter\nbsec_peer_handshake_failures_total %llu\n",
		  (unsigned long long)pc.handshake_failures);
		M("# TYPE bsec_peer_dropped_frames_total counter\nbsec_peer_dropped_frames_total %llu\n",
		  (unsigned long long)(pc.dropped_queue_full + pc.dropped_too_large + pc.oversized));
	}
	M("# TYPE bsec_healthy gauge\nbsec_healthy %d\n", !n->failed);
#undef M
	node_metrics_faults(n, &b);
	https_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
	buf_free(&b);
}

/* ---- transactions ---- */

static json_t *tx_status_json(node_t *n, const uint8_t id[BSEC_HASH_BYTES], int *found)
{
	uint8_t *raw;
	size_t len;
	uint64_t height;
	uint32_t idx;
	json_t *o = json_object();
	json_object_set_new(o, "id", jhex(id, BSEC_HASH_BYTES));
	*found = 1;
	if (store_get_tx(n->store, id, &raw, &len, &height, &idx) == 0) {
		tx_t tx;
		json_object_set_new(o, "status", json_string("committed"));
		json_object_set_new(o, "height", json_integer((json_int_t)height));
		json_object_set_new(o, "index", json_integer(idx));
		if (tx_decode(&tx, raw, len, n->g.chain_id, NULL, 0) == 0) {
			json_object_set_new(o, "tx", tx_to_json(&tx, n->g.chain_id));
			if (tx.type == TX_REQUEST) {
				uint8_t rid[BSEC_HASH_BYTES];
				if (store_find_response(n->store, id, rid) == 0)
					json_object_set_new(o, "response_id", jhex(rid, BSEC_HASH_BYTES));
			}
			tx_clear(&tx);
		}
		free(raw);
	} else if (mempool_has(n->pool, id)) {
		json_object_set_new(o, "status", json_string("pending"));
		json_object_set_new(o, "height", json_null());
	} else {
		*found = 0;
	}
	return o;
}

static void h_tx_post(https_req_t *req, node_t *n)
{
	size_t len;
	const uint8_t *body = https_req_body(req, &len);
	tx_t tx;
	verdict_t v;
	char err[512];
	memset(&tx, 0, sizeof(tx));
	int st = node_submit(n, body, len, 0, &tx, &v, err, sizeof(err));
	if (st == 400) {
		https_reply_error(req, 400, "malformed_tx", "%s", err);
	} else if (st == 422) {
		https_reply_error(req, 422, verr_name(v.code), "%s", err);
	} else if (st == 503) {
		https_req_set_header(req, "Retry-After", "1");
		https_reply_error(req, 503, n->failed ? "node_failed" : "mempool_full", "%s", err);
	} else if (st == 202) {
		char id[2 * BSEC_HASH_BYTES + 1], body_out[128];
		hex_encode(id, tx.id, BSEC_HASH_BYTES);
		snprintf(body_out, sizeof(body_out), "{\"id\":\"%s\",\"status\":\"pending\",\"height\":null}", id);
		https_reply_json(req, 202, body_out);
	} else {
		int found;
		json_t *o = tx_status_json(n, tx.id, &found);
		if (!found)
			json_object_set_new(o, "status", json_string("pending"));
		reply_json_obj(req, st, o);
	}
	tx_clear(&tx);
}

/* POST /v1/transactions/batch: body = (u32 length || signed tx)...; each tx
 * gets the verdict it would get posted alone (signatures are checked
 * together, see node_submit_many).  A malformed body (an entry cut short,
 * an empty one) or one of more than NODE_API_MAX_BATCH txs is refused
 * whole, before any tx is admitted: an entry costs a verdict and a line
 * of the reply, so a body of empty entries must not buy hundreds of
 * thousands of them.  Reply: counts, and the refused ones with their
 * index, code and reason (mempool_full ones may be retried). */
static void h_tx_batch(https_req_t *req, node_t *n)
{
	size_t len;
	const uint8_t *body = https_req_body(req, &len);
	rd_t r;
	rd_init(&r, body, len);
	size_t accepted = 0, known = 0, full = 0, cnt = 0, cap = 64;
	const uint8_t **raws = xmalloc(cap * sizeof(*raws));
	size_t *lens = xmalloc(cap * sizeof(*lens));
	while (rd_ok(&r) && r.off < r.len) {
		if (cnt == cap) {
			cap *= 2;
			raws = xrealloc(raws, cap * sizeof(*raws));
			lens = xrealloc(lens, cap * sizeof(*lens));
		}
		if (cnt == NODE_API_MAX_BATCH) {
			https_reply_error(req, 413, "batch_too_large", "a batch holds at most %d txs",
					  NODE_API_MAX_BATCH);
			free(raws);
			free(lens);
			return;
		}
		size_t at = r.off;
		raws[cnt] = rd_blob32(&r, &lens[cnt], TX_MAX_BYTES);
		if (!raws[cnt])
			break;
		if (!lens[cnt]) {
			r.off = at;
			rd_fail(&r, "empty tx");
			break;
		}
		cnt++;
	}
	if (!rd_ok(&r)) {
		https_reply_error(req, 400, "malformed_batch", "tx %zu of the batch at offset %zu: %s", cnt,
				  r.err_off, r.err);
		free(raws);
		free(lens);
		return;
	}
	submit_result_t *res = xmalloc((cnt ? cnt : 1) * sizeof(*res));
	node_submit_many(n, raws, lens, cnt, 0, res);
	json_t *refused = json_array();
	for (size_t i = 0; i < cnt; i++) {
		int st = res[i].status;
		if (st == 202)
			accepted++;
		else if (st == 200)
			known++;
		else {
			full += st == 503;
			json_array_append_new(refused, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)i, "error",
				st == 400 ? "malformed_tx" : st == 503 ? "mempool_full" : verr_name(res[i].v.code),
				"message", res[i].err));
		}
	}
	free(res);
	free(raws);
	free(lens);
	if (full)
		https_req_set_header(req, "Retry-After", "1");
	reply_json_obj(req, 200, json_pack("{s:I,s:I,s:o}", "accepted", (json_int_t)accepted, "known",
					   (json_int_t)known, "refused", refused));
}

typedef struct {
	node_t *n;
	waiter_t *w;
} gone_ctx_t;

static void waiter_unlink(node_t *n, waiter_t *w)
{
	waiter_t *head = map_get(n->waiters, w->id, BSEC_HASH_BYTES);
	if (head == w) {
		if (w->next)
			map_put(n->waiters, w->id, BSEC_HASH_BYTES, w->next);
		else
			map_del(n->waiters, w->id, BSEC_HASH_BYTES);
	} else {
		for (waiter_t *p = head; p; p = p->next)
			if (p->next == w) {
				p->next = w->next;
				break;
			}
	}
	if (w->timer)
		event_free(w->timer);
	free(w);
}

static void waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	waiter_t *w = arg;
	node_t *n = w->node;
	(void)fd;
	(void)what;
	int found;
	json_t *o = tx_status_json(n, w->id, &found);
	if (!found)
		json_object_set_new(o, "status", json_string("unknown"));
	reply_json_obj(w->req, found ? 200 : 404, o);
	waiter_unlink(n, w);
}

static void waiter_gone(https_req_t *req, void *ctx)
{
	waiter_t *w = ctx;
	(void)req;
	waiter_unlink(w->node, w);
}

int node_api_waited(const node_t *n, const uint8_t id[BSEC_HASH_BYTES])
{
	return n->waiters && map_get(n->waiters, id, BSEC_HASH_BYTES) != NULL;
}

void node_api_committed(node_t *n, const uint8_t id[BSEC_HASH_BYTES], uint64_t height)
{
	waiter_t *w = map_del(n->waiters, id, BSEC_HASH_BYTES);
	(void)height;
	while (w) {
		waiter_t *next = w->next;
		int found;
		json_t *o = tx_status_json(n, id, &found);
		reply_json_obj(w->req, 200, o);
		if (w->timer)
			event_free(w->timer);
		free(w);
		w = next;
	}
}

static void h_tx_get(https_req_t *req, node_t *n, const char *rest)
{
	uint8_t id[BSEC_HASH_BYTES];
	uint64_t wait;
	if (hex_decode(id, sizeof(id), rest) < 0) {
		https_reply_error(req, 400, "bad_id", "tx id `%.80s' is not 64 hex digits", rest);
		return;
	}
	if (https_req_query_u64(req, "wait", 0, MAX_WAIT_MS, &wait) < 0) {
		https_reply_error(req, 400, "bad_wait", "wait must be 0..%d ms", MAX_WAIT_MS);
		return;
	}
	int found;
	json_t *o = tx_status_json(n, id, &found);
	const char *st = json_string_value(json_object_get(o, "status"));
	if (!wait || (st && !strcmp(st, "committed"))) {
		if (!found) {
			json_decref(o);
			https_reply_error(req, 404, "not_found", "no tx with this id is committed or pending here");
			return;
		}
		reply_json_obj(req, 200, o);
		return;
	}
	json_decref(o);
	if (map_size(n->waiters) > 100000) {
		https_req_set_header(req, "Retry-After", "1");
		https_reply_error(req, 503, "too_many_waiters", "too many long polls open");
		return;
	}
	waiter_t *w = xcalloc(1, sizeof(*w));
	memcpy(w->id, id, BSEC_HASH_BYTES);
	w->req = req;
	w->node = n;
	w->next = map_get(n->waiters, id, BSEC_HASH_BYTES);
	map_put(n->waiters, id, BSEC_HASH_BYTES, w);
	w->timer = evtimer_new(n->base, waiter_timeout, w);
	struct timeval tv = { (time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000) };
	evtimer_add(w->timer, &tv);
	https_req_defer(req, waiter_gone, w);
}

static void h_transactions(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	n->api_requests++;
	const char *rest = https_req_path_rest(req);
	const char *m = https_req_method(req);
	if (!strcmp(m, "POST") && !rest[0])
		h_tx_post(req, n);
	else if (!strcmp(m, "POST") && !strcmp(rest, "batch"))
		h_tx_batch(req, n);
	else if (!strcmp(m, "GET") && rest[0])
		h_tx_get(req, n, rest);
	else
		https_reply_error(req, 405, "method_not_allowed", "use POST /v1/transactions or GET /v1/transactions/{id}");
}

/* ---- blocks and proofs ---- */

static json_t *block_json(node_t *n, uint64_t height, int with_txs, block_t *out_block)
{
	block_t b;
	cert_t c;
	char err[256];
	if (store_get_block(n->store, height, &b, &c, err, sizeof(err)) < 0)
		return NULL;
	json_t *o = json_object();
	json_object_set_new(o, "height", json_integer((json_int_t)height));
	json_object_set_new(o, "hash", jhex(b.hdr.hash, BSEC_HASH_BYTES));
	json_object_set_new(o, "header", block_header_to_json(&b.hdr));
	json_object_set_new(o, "certificate", cert_to_json(&c));
	json_t *ids = json_array(), *txs = json_array();
	for (uint32_t i = 0; i < b.hdr.tx_count; i++) {
		json_array_append_new(ids, jhex(b.txs[i].id, BSEC_HASH_BYTES));
		if (with_txs)
			json_array_append_new(txs, tx_to_json(&b.txs[i], n->g.chain_id));
	}
	json_object_set_new(o, "tx_ids", ids);
	if (with_txs)
		json_object_set_new(o, "txs", txs);
	else
		json_decref(txs);
	cert_clear(&c);
	if (out_block)
		*out_block = b;
	else
		block_clear(&b);
	return o;
}

/* Long polls on GET /v1/blocks?from=H&wait=MS, answered at H's commit. */
typedef struct block_waiter_t {
	node_t *n;
	https_req_t *req;
	uint64_t from, limit;
	int form;          /* BLOCKS_JSON, BLOCKS_JSON_TXS or BLOCKS_RAW */
	struct event *timer;
	struct block_waiter_t *next;
} block_waiter_t;

static block_waiter_t *block_waiters;

/* Blocks from `from` on, up to limit of them and, after the first, about
 * PAGE_JSON_BYTES of JSON (a tx renders to ~8 times its bytes, an id to
 * ~70): the reply is built on the event loop that consensus shares, and
 * 100 full blocks would be hundreds of MB.  The reply's height and the
 * last block's tell the client where to go on. */
#define PAGE_JSON_BYTES (8u << 20)

static void blocks_reply(node_t *n, https_req_t *req, uint64_t from, uint64_t limit, int txs)
{
	json_t *arr = json_array();
	size_t cost = 0;
	for (uint64_t h = from; h <= store_height(n->store) && json_array_size(arr) < limit &&
				cost < PAGE_JSON_BYTES;
	     h++) {
		block_t b;
		json_t *o = block_json(n, h, txs, &b);
		if (!o)
			break;
		json_array_append_new(arr, o);
		for (uint32_t i = 0; i < b.hdr.tx_count; i++)
			cost += txs ? 8 * b.txs[i].raw_len : 70;
		block_clear(&b);
	}
	json_t *o = json_pack("{s:o,s:I}", "blocks", arr, "height", (json_int_t)store_height(n->store));
	reply_json_obj(req, 200, o);
}

static void block_waiter_unlink(block_waiter_t *w)
{
	for (block_waiter_t **pp = &block_waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	event_free(w->timer);
	free(w);
}

static void waiter_reply(block_waiter_t *w)
{
	if (w->form == BLOCKS_RAW)
		node_api_raw_reply(w->req, w->n, w->from, w->limit);
	else
		blocks_reply(w->n, w->req, w->from, w->limit, w->form == BLOCKS_JSON_TXS);
}

static void block_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	block_waiter_t *w = arg;
	(void)fd;
	(void)what;
	waiter_reply(w);
	block_waiter_unlink(w);
}

static void block_waiter_gone(https_req_t *req, void *ctx)
{
	(void)req;
	block_waiter_unlink(ctx);
}

void node_api_block(node_t *n, uint64_t height)
{
	block_waiter_t **pp = &block_waiters;
	while (*pp) {
		block_waiter_t *w = *pp;
		if (w->n == n && w->from <= height) {
			*pp = w->next;
			waiter_reply(w);
			event_free(w->timer);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

/* Long poll: answers req when block `from` commits or after wait ms,
 * whichever comes first, in the given form. */
void node_api_wait_block(https_req_t *req, node_t *n, uint64_t from, uint64_t limit, int form,
			 uint64_t wait)
{
	block_waiter_t *w = xcalloc(1, sizeof(*w));
	w->n = n;
	w->req = req;
	w->from = from;
	w->limit = limit;
	w->form = form;
	w->timer = evtimer_new(n->base, block_waiter_timeout, w);
	struct timeval tv = { (time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000) };
	evtimer_add(w->timer, &tv);
	w->next = block_waiters;
	block_waiters = w;
	https_req_defer(req, block_waiter_gone, w);
}

static void h_blocks(https_req_t *req, void *ctx)
{
	node_t *n = ctx;
	const char *rest = https_req_path_rest(req);
	n->api_requests++;
	if (rest[0] && (!strcmp(rest, "raw") || strstr(rest, "/raw"))) {
		node_api_raw_blocks(req, n, rest);
		return;
	}
	if (rest[0]) {
		char *end;
		unsigned long long h = strtoull(rest, &end, 10);
		if (*end || !isdigit((unsigned char)rest[0])) {
			https_reply_error(req, 400, "bad_height", "height `%.40s' is not a number", rest);
			return;
		}
		json_t *o = h ? block_json(n, h, 1, NULL) : NULL;
		if (!o) {
			https_reply_error(req, 404, "not_found", "no block at height %llu (tip is %llu)", h,
					  (unsigned long long)store_height(n->store));
			return;
		}
		reply_json_obj(req, 200, o);
		return;
	}
	uint64_t from, limit, txs, wait;
	if (https_req_query_u64(req, "from", 1, UINT64_MAX >> 1, &from) < 0 ||
	    https_req_query_u64(req, "limit", 20, MAX_BLOCKS_PAGE, &limit) < 0 ||
	    https_req_query_u64(req, "txs", 0, 1, &txs) < 0 ||
	    https_req_query_u64(req, "wait", 0, MAX_WAIT_MS, &wait) < 0) {
		https_reply_error(req, 400, "bad_query", "from must be a height, limit 0..%d, txs 0 or 1, wait 0..%d ms",
				  MAX_BLOCKS_PAGE, MAX_WAIT_MS);
		return;
	}
	if (!from)
		from = 1;
	if (wait && from > store_height(n->store))
		node_api_wait_block(req, n, from, limit, txs ? BLOCKS_JSON_TXS : BLOCKS_JSON, wait);
	else
		blocks_reply(n, req, from, limit, (int)txs);
}

static const https_route_t routes[] = {
	{ "GET", "/v1/status", h_status },
	{ NULL, "/v1/transactions", h_transactions },
	{ "GET", "/v1/blocks", h_blocks },
	{ "GET", "/v1/proofs", node_api_proofs },
	{ "GET", "/v1/history", node_api_history },
	{ "GET", "/v1/accountability", node_api_accountability },
	{ "GET", "/v1/attestations", node_api_attestations },
	{ "GET", "/metrics", h_metrics },
};

int node_api_start(node_t *n, char *err, size_t errlen)
{
	char listen[128], e2[512];
	const char *l = n->cfg.api_listen;
	if (!l) {
		const char *api = n->me->api;
		if (!api || strncmp(api, "https://", 8)) {
			err_set(err, errlen, "no api_listen in the config and no https:// API URL in the genesis");
			return -1;
		}
		snprintf(listen, sizeof(listen), "%s", api + 8);
		char *slash = strchr(listen, '/');
		if (slash)
			*slash = 0;
		l = listen;
	}
	https_server_config_t sc = {
		.listen = l, .cert_file = n->cfg.tls_cert, .key_file = n->cfg.tls_key, .routes = routes,
		.nroutes = ARRAY_LEN(routes), .ctx = n, .max_body = n->cfg.max_body,
		.timeout_s = (int)n->cfg.api_timeout_s, .max_conns = n->cfg.api_max_conns,
		.max_conns_per_addr = n->cfg.api_max_conns_per_addr,
	};
	n->api = https_server_new(n->base, &sc, e2, sizeof(e2));
	if (!n->api) {
		err_set(err, errlen, "HTTPS API on %s: %s", l, e2);
		return -1;
	}
	return 0;
}

void node_api_stop(node_t *n)
{
	/* the server's free tells deferred requests they are gone, which unlinks waiters */
	https_server_free(n->api);
	n->api = NULL;
}
