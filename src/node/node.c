/*
 * node.c — one consensus replica (see node.h): start-up and shutdown, the
 * PBFT callbacks (block building, speculative validation, delivery to the
 * store), tx admission and forwarding to the leader.
 *
 * Two copies of the derived state are kept.  `committed` is exactly the
 * delivered chain and is what the store persists at each block; `spec`
 * is committed plus the blocks PBFT has accepted but not yet committed
 * (up to its window), with one undo mark per speculative block so a view
 * change can discard them.  Admission checks run against `spec`.
 */
#include "node.h"
#include "node_internal.h"

#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/merkle.h"
#include "../ledger/instr.h"
#include <sodium.h>
#ifdef BSEC_BYZANTINE
#include "byzantine.h"
#endif
#include "prefetch.h"

static const char *MOD = "node";

static uint64_t mono_ms(void)
{
	return mono_us() / 1000;
}

uint64_t node_height(const node_t *n)
{
	return store_height(n->store);
}

/* ---- test-only faults ----
 *
 * With BSEC_TEST_FAULTS=1 in the environment (and only then), the file
 * named by BSEC_CLOCK_OFFSET_FILE holds a signed number of ms added to
 * this node's wall clock: block timestamps, the timestamp checks on
 * proposals and txs.  It is re-read every 500 ms so the chaos harness
 * (tests/chaos) can skew a running node's clock.  Logs, the monotonic
 * timers of consensus and TLS certificate checks keep the real clock. */

uint64_t node_now_ms(const node_t *n)
{
	return (uint64_t)((int64_t)now_ms() + n->clock_offset_ms);
}

static void faults_init(node_t *n)
{
	const char *f = getenv("BSEC_CLOCK_OFFSET_FILE");
	const char *on = getenv("BSEC_TEST_FAULTS");
	if (f && (!on || strcmp(on, "1"))) {
		log_warn(MOD, "BSEC_CLOCK_OFFSET_FILE is ignored: fault injection needs BSEC_TEST_FAULTS=1");
		return;
	}
	n->clock_file = f;
}

static void faults_reload(node_t *n)
{
	char err[128], *end;
	size_t len;
	if (!n->clock_file)
		return;
	uint8_t *d = file_read(n->clock_file, &len, 64, err, sizeof(err));
	char *txt = d ? xstrndup((const char *)d, len) : xstrdup("0");
	long long off = strtoll(txt, &end, 10);
	if (end == txt || off < -86400000LL || off > 86400000LL) {
		log_warn(MOD, "test fault: clock offset `%.20s' in %s is not a number of ms within a day", txt,
			 n->clock_file);
		off = n->clock_offset_ms;
	}
	if (off != n->clock_offset_ms)
		log_warn(MOD, "test fault: wall clock offset is now %lld ms", off);
	n->clock_offset_ms = off;
	free(d);
	free(txt);
}

/* ---- misbehaviour accounting ----
 *
 * PBFT counts the messages it drops by reason; the node attributes them to
 * the peer whose authenticated link they came on, logs the serious kinds
 * (at most every 5 s per peer) and exports both in /metrics. */

static int drop_is_serious(int kind)
{
	switch (kind) {
	case PBFT_DROP_MALFORMED: case PBFT_DROP_NOT_MEMBER: case PBFT_DROP_BAD_SIG:
	case PBFT_DROP_NOT_LEADER: case PBFT_DROP_EQUIVOCATION: case PBFT_DROP_INVALID:
	case NODE_BAD_FORWARD: case NODE_BAD_VOTE:
		return 1;
	default:
		return 0;
	}
}

static const char *bad_kind_name(int kind)
{
	if (kind == NODE_BAD_FORWARD)
		return "bad_tx_forward";
	if (kind == NODE_BAD_VOTE)
		return "conflicting_vote";
	return pbft_drop_name((pbft_drop_t)kind);
}

static void note_bad(node_t *n, int from, int kind, uint64_t count)
{
	if (from < 0 || (size_t)from >= n->g.n_providers || !count || !n->peer_bad)
		return;
	n->peer_bad[from][kind] += count;
	uint64_t now = mono_ms();
	if (drop_is_serious(kind) && now >= n->peer_bad_logged_ms[from] + 5000) {
		n->peer_bad_logged_ms[from] = now;
		log_warn(MOD, "misbehaviour from %s: %s (%llu so far)", n->g.providers[from].name,
			 bad_kind_name(kind), (unsigned long long)n->peer_bad[from][kind]);
	}
}

/* After pbft_receive: the drop counters that moved, attributed to `from`. */
static void account_drops(node_t *n, int from)
{
	pbft_stats_t st;
	pbft_stats(n->pbft, &st);
	for (int k = 0; k < PBFT_DROP__COUNT; k++) {
		if (st.dropped[k] != n->last_dropped[k])
			note_bad(n, from, k, st.dropped[k] - n->last_dropped[k]);
		n->last_dropped[k] = st.dropped[k];
	}
}

/* A PREPARE or COMMIT of the current view, on the sender's own link, for
 * a height where we hold the leader's block, naming another hash: the
 * voter or the leader lies. */
static void check_vote(node_t *n, int from, const uint8_t *data, size_t len)
{
	pbft_msg_info_t mi;
	if (pbft_msg_peek(data, len, &mi) != 0 || (mi.type != PBFT_MSG_PREPARE && mi.type != PBFT_MSG_COMMIT) ||
	    mi.sender != from || mi.view != pbft_view(n->pbft) || pbft_in_view_change(n->pbft))
		return;
	for (size_t i = 0; i < n->n_spec; i++) {
		const spec_block_t *sb = &n->spec_blocks[i];
		if (sb->height == mi.height && sb->block.hdr.view == mi.view &&
		    memcmp(sb->block.hdr.hash, mi.hash, BSEC_HASH_BYTES)) {
			n->conflicting_votes++;
			note_bad(n, from, NODE_BAD_VOTE, 1);
		}
	}
}

void node_metrics_faults(const node_t *n, buf_t *out)
{
	char line[512];
	int l;
#define MF(...) do { l = snprintf(line, sizeof(line), __VA_ARGS__); \
		     buf_put(out, line, l < 0 ? 0 : (size_t)l < sizeof(line) ? (size_t)l : sizeof(line) - 1); } while (0)
/* a counter with its help line: name and help are string literals */
#define COUNTER(name, help, v) \
	MF("# HELP " name " " help "\n# TYPE " name " counter\n" name " %llu\n", (unsigned long long)(v))
	MF("# HELP bsec_peer_misbehaviour_total Messages from a peer dropped or contradicting the leader.\n"
	   "# TYPE bsec_peer_misbehaviour_total counter\n");
	for (size_t p = 0; n->peer_bad && p < n->g.n_providers; p++)
		for (int k = 0; k < PBFT_DROP__COUNT + 2; k++)
			if (n->peer_bad[p][k])
				MF("bsec_peer_misbehaviour_total{peer=\"%s\",kind=\"%s\"} %llu\n", n->g.providers[p].name,
				   bad_kind_name(k), (unsigned long long)n->peer_bad[p][k]);
	MF("# TYPE bsec_conflicting_votes_total counter\nbsec_conflicting_votes_total %llu\n",
	   (unsigned long long)n->conflicting_votes);
	COUNTER("bsec_censorship_suspicions_total",
		"View changes asked for because a held tx was left out.", n->censor_suspicions);
	COUNTER("bsec_gossip_dropped_total", "Tx batches from peers dropped because too many waited.",
		n->gossip_dropped);
	COUNTER("bsec_own_blocks_kept_total",
		"Blocks this node built as leader and kept applied, not checked again when handed back.",
		n->own_blocks);
	if (n->api) {
		size_t open_c, max_c;
		uint64_t hits;
		https_server_counters(n->api, &open_c, &max_c, &hits);
		MF("# HELP bsec_api_connections Open HTTPS API connections.\n"
		   "# TYPE bsec_api_connections gauge\nbsec_api_connections %zu\n", open_c);
		MF("# TYPE bsec_api_connections_max gauge\nbsec_api_connections_max %zu\n", max_c);
		MF("# TYPE bsec_api_connection_limit_hits_total counter\nbsec_api_connection_limit_hits_total %llu\n",
		   (unsigned long long)hits);
		MF("# HELP bsec_api_request_deadline_drops_total API connections closed for taking over api_timeout_s to send a request.\n"
		   "# TYPE bsec_api_request_deadline_drops_total counter\nbsec_api_request_deadline_drops_total %llu\n",
		   (unsigned long long)https_server_deadline_drops(n->api));
		MF("# HELP bsec_api_connection_addr_drops_total API connections closed because their client address held api_max_conns_per_addr.\n"
		   "# TYPE bsec_api_connection_addr_drops_total counter\nbsec_api_connection_addr_drops_total %llu\n",
		   (unsigned long long)https_server_addr_drops(n->api));
	}
	if (n->clock_file)
		MF("# TYPE bsec_test_clock_offset_ms gauge\nbsec_test_clock_offset_ms %lld\n",
		   (long long)n->clock_offset_ms);
#undef COUNTER
#undef MF
}

/* ---- signature checks on the worker pool ---- */

/* Each worker call checks a slice of at least VERIFY_SLICE txs, in Ed25519
 * batches (tx_verify_sigs): the slices are as large as the pool allows. */
#define VERIFY_SLICE 32

typedef struct {
	const tx_t **txs;    /* the txs to check */
	uint8_t *bad;        /* result, per tx */
	size_t n, per;       /* count, slice size */
	const uint8_t *chain_id;
} verify_job_t;

static void verify_slice(void *ctx, size_t i)
{
	verify_job_t *j = ctx;
	size_t from = i * j->per, cnt = j->n - from < j->per ? j->n - from : j->per;
	tx_verify_sigs(j->txs + from, cnt, j->chain_id, j->bad + from);
}

/* bad[i] = 1 for each of txs[0..cnt) whose signature does not verify,
 * spread over the worker pool. */
static void verify_txs(node_t *n, const tx_t **txs, size_t cnt, uint8_t *bad)
{
	if (!cnt)
		return;
	size_t w = workers_count(n->workers), per = (cnt + w - 1) / w;
	if (per < VERIFY_SLICE)
		per = VERIFY_SLICE;
	verify_job_t j = { .txs = txs, .bad = bad, .n = cnt, .per = per, .chain_id = n->g.chain_id };
	workers_run(n->workers, (cnt + per - 1) / per, verify_slice, &j);
}

/* Verifies every tx signature of b that this replica has not verified
 * already (a tx in the mempool with identical bytes was verified on
 * admission).  Returns the index of the first bad tx, or -1. */
static long verify_block_txs(node_t *n, const block_t *b)
{
	size_t cnt = b->hdr.tx_count, need = 0;
	long first_bad = -1;
	if (!cnt)
		return -1;
	const tx_t **txs = xmalloc(cnt * sizeof(*txs));
	size_t *at = xmalloc(cnt * sizeof(*at));
	uint8_t *bad = xcalloc(cnt, 1);
	for (size_t i = 0; i < cnt; i++) {
		mp_entry_t *e = mempool_get(n->pool, b->txs[i].id);
		if (!(e && e->tx.raw_len == b->txs[i].raw_len &&
		      !memcmp(e->tx.raw, b->txs[i].raw, e->tx.raw_len))) {
			at[need] = i;
			txs[need++] = &b->txs[i];
		}
	}
	verify_txs(n, txs, need, bad);
	for (size_t k = 0; k < need; k++)
		if (bad[k]) {
			first_bad = (long)at[k];
			break;
		}
	free(txs);
	free(at);
	free(bad);
	return first_bad;
}

/* ---- PBFT callbacks ---- */

static void cb_send(void *ctx, uint16_t to, const uint8_t *msg, size_t len)
{
	node_t *n = ctx;
#ifdef BSEC_BYZANTINE
	if (byz_send(n, to, msg, len))
		return;
#endif
	peer_net_send(n->net, to, msg, len);
}

static void cb_broadcast(void *ctx, const uint8_t *msg, size_t len)
{
	node_t *n = ctx;
#ifdef BSEC_BYZANTINE
	if (byz_broadcast(n, msg, len))
		return;
#endif
	peer_net_broadcast(n->net, msg, len);
}

static int cb_persist(void *ctx, const char *key, const uint8_t *val, size_t len)
{
	node_t *n = ctx;
	int r = len ? store_meta_put(n->store, key, val, len) : store_meta_del(n->store, key);
	if (r != 0 && len) {
		log_error(MOD, "cannot persist %s: the vote is withheld; this node accepts no work until restarted",
			  key);
		n->failed = 1;
	}
	return r;
}

static int cb_persist_many(void *ctx, size_t cnt, const char *const *keys, const uint8_t *const *vals,
			   const size_t *lens)
{
	node_t *n = ctx;
	int r = store_meta_put_many(n->store, cnt, keys, vals, lens);
	if (r != 0) {
		log_error(MOD, "cannot persist %s and %zu more: the vote is withheld; this node accepts no "
			  "work until restarted", cnt ? keys[0] : "", cnt ? cnt - 1 : 0);
		n->failed = 1;
	}
	return r;
}

static int cb_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len)
{
	node_t *n = ctx;
#ifdef BSEC_BYZANTINE
	int brc;
	if (byz_sign(n, msg, len, sig, sig_len, &brc))
		return brc;
#endif
	size_t need = sig_sig_len(sig_key_scheme(n->key));
	if (*sig_len < need)
		return -1;
	*sig_len = need;
	return sig_sign(n->key, sig, msg, len);
}

static int cb_verify(void *ctx, uint16_t node, const uint8_t *msg, size_t len, const uint8_t *sig,
		     size_t sig_len)
{
	node_t *n = ctx;
	if (node >= n->g.n_providers)
		return -1;
	const pubkey_t *k = &n->g.providers[node].node_key;
	if (sig_len != sig_sig_len(k->scheme))
		return -1;
	return sig_verify(k->scheme, k->key, sig, msg, len);
}

/* whole: block_body_matches (hashing every tx, about a millisecond for a
 * block of 1 MB, no decoding: validation does that) */
/* block_decode of a proposal, with the tx ids block_id kept when it
 * checked these bytes whole (taken out of the cache: used once). */
static int decode_proposal(node_t *n, block_t *b, const uint8_t *raw, size_t len, char *why, size_t wl)
{
	rd_t r;
	block_header_t h;
	rd_init(&r, raw, len);
	if (block_header_read(&r, &h) == 0)
		for (unsigned k = 0; k < NODE_IDS_CACHE; k++) {
			if (!n->ids_cache[k].ids || memcmp(n->ids_cache[k].hash, h.hash, BSEC_HASH_BYTES))
				continue;
			int ret = block_decode_with_ids(b, raw, len,
							(const uint8_t (*)[BSEC_HASH_BYTES])n->ids_cache[k].ids,
							n->ids_cache[k].n, why, wl);
			free(n->ids_cache[k].ids);
			n->ids_cache[k].ids = NULL;
			return ret;
		}
	return block_decode(b, raw, len, why, wl);
}

static int cb_block_id(void *ctx, const uint8_t *block, size_t len, int whole, uint64_t *height,
		       uint64_t *view, uint8_t hash[BSEC_HASH_BYTES], uint8_t prev[BSEC_HASH_BYTES])
{
	node_t *n = ctx;
	rd_t r;
	block_header_t h;
	rd_init(&r, block, len);
	if (block_header_read(&r, &h) < 0)
		return -1;
	if (whole) {
		/* a header's hash leaves its proposer signature out, so other
		 * bytes in that place would pass the certificate of the hash;
		 * kept or relayed, they must be the proposer's valid signature
		 * (else a member could hand a replica a certified block that
		 * its delivery then refuses, which stops it) */
		if (h.proposer >= n->g.n_providers)
			return -1;
		const pubkey_t *nk = &n->g.providers[h.proposer].node_key;
		if (h.proposer_scheme != nk->scheme || memcmp(h.proposer_key, nk->key, sig_pub_len(nk->scheme)) ||
		    block_header_verify_sig(&h) != 0)
			return -1;
		uint8_t (*ids)[BSEC_HASH_BYTES] = NULL;
		if (block_body_matches_ids(&h, &r, n->g.chain_id, &ids) < 0)
			return -1;
		unsigned k = n->ids_next++ % NODE_IDS_CACHE;
		free(n->ids_cache[k].ids);
		memcpy(n->ids_cache[k].hash, h.hash, BSEC_HASH_BYTES);
		n->ids_cache[k].n = h.tx_count;
		n->ids_cache[k].ids = ids;
		memcpy(n->ids_cache[k].sig, h.sig, sig_sig_len(h.proposer_scheme));
	}
	*height = h.height;
	*view = h.view;
	memcpy(hash, h.hash, BSEC_HASH_BYTES);
	memcpy(prev, h.prev_hash, BSEC_HASH_BYTES);
	return 0;
}

/* Rolls back the block kept from the last build, if any. */
static void built_drop(node_t *n)
{
	if (!n->built.valid)
		return;
	state_rollback(n->spec, n->built.mark);
	state_delta_return(n->spec, n->built.delta);
	memset(&n->built, 0, sizeof(n->built));
}

static int cb_build_block(void *ctx, uint64_t height, const uint8_t prev_hash[BSEC_HASH_BYTES],
			  uint64_t view, uint8_t **out, size_t *out_len)
{
	node_t *n = ctx;
	built_drop(n);
	if (height != n->spec_tip + 1 || memcmp(prev_hash, n->spec_tip_hash, BSEC_HASH_BYTES)) {
		log_warn(MOD, "asked to build height %llu on a tip we do not have (ours %llu)",
			 (unsigned long long)height, (unsigned long long)n->spec_tip);
		return -1;
	}
	uint64_t ts = node_now_ms(n);
	if (ts <= n->spec_tip_ts)
		ts = n->spec_tip_ts + 1;
	size_t max_txs = n->g.params.max_block_txs, max_bytes = n->g.params.max_block_bytes - 1024;
	tx_t *txs = xcalloc(max_txs, sizeof(tx_t));
	size_t cnt = 0, bytes = 0, ndrop = 0;
	uint8_t (*drop)[BSEC_HASH_BYTES] = NULL;
	state_mark_t mark = state_mark(n->spec);
	state_begin_block(n->spec, height, ts);
	for (mp_entry_t *e = mempool_first(n->pool); e && cnt < max_txs; e = e->next) {
		if (e->inflight_height)
			continue;
		if (bytes + e->tx.raw_len + 4 > max_bytes)
			break;
#ifdef BSEC_BYZANTINE
		if (byz_censors(n, e->tx.sender, sig_pub_len(e->tx.scheme)))
			continue;
#endif
		verdict_t v;
		if (validate_tx(n->spec, &e->tx, ts, &v) != V_OK) {
			char id[17];
			hex_encode(id, e->tx.id, 8);
			log_info(MOD, "dropping tx %s from the pool: %s", id, v.msg);
			n->rejected[v.code]++;
			drop = xrealloc(drop, (ndrop + 1) * BSEC_HASH_BYTES);
			memcpy(drop[ndrop++], e->tx.id, BSEC_HASH_BYTES);
			continue;
		}
		state_apply_tx(n->spec, &e->tx);
		txs[cnt++] = e->tx; /* shallow: the pool keeps ownership */
		bytes += e->tx.raw_len + 4;
	}
	/* the txs stay applied (with their delta) for when the block comes
	 * back to be validated; rolled back if it does not */
	state_delta_t *delta = cnt ? state_take_delta(n->spec) : NULL;
	if (!cnt)
		state_rollback(n->spec, mark);
	for (size_t i = 0; i < ndrop; i++)
		mempool_remove(n->pool, drop[i]);
	free(drop);
	int ret = 1;
	if (cnt) {
		block_t b;
		memset(&b, 0, sizeof(b));
		memcpy(b.hdr.chain_id, n->g.chain_id, BSEC_HASH_BYTES);
		b.hdr.height = height;
		memcpy(b.hdr.prev_hash, prev_hash, BSEC_HASH_BYTES);
		b.hdr.timestamp_ms = ts;
		b.hdr.view = view;
		b.hdr.proposer = (uint16_t)n->self;
		b.hdr.tx_count = (uint32_t)cnt;
		b.txs = txs;
		ret = -1;
		if (block_seal(&b, n->key) == 0) {
			buf_t enc;
			buf_init(&enc);
			block_encode(&enc, &b);
			*out = buf_steal(&enc, out_len);
			ret = 0;
			n->built.valid = 1;
			n->built.height = height;
			memcpy(n->built.hash, b.hdr.hash, BSEC_HASH_BYTES);
			n->built.mark = mark;
			n->built.delta = delta;
			delta = NULL;
		}
		free(b.tx_ids);
		if (ret != 0)
			state_rollback(n->spec, mark);
	}
	state_delta_return(n->spec, delta);
	free(txs);
	return ret;
}

static void spec_block_free(spec_block_t *sb)
{
	free(sb->raw);
	block_clear(&sb->block);
	state_delta_free(sb->delta);
	memset(sb, 0, sizeof(*sb));
}

/* Whether block_id verified this very signature over this header (the
 * hash covers every signed field) when it checked the block whole. */
static int sig_verified(const node_t *n, const block_header_t *h)
{
	for (unsigned k = 0; k < NODE_IDS_CACHE; k++)
		if (!memcmp(n->ids_cache[k].hash, h->hash, BSEC_HASH_BYTES) &&
		    !memcmp(n->ids_cache[k].sig, h->sig, sig_sig_len(h->proposer_scheme)))
			return 1;
	return 0;
}

/* Header checks shared by speculative validation and state transfer. */
/* roots: also check tx_root and sig_root against the txs (a proposal
 * need not: consensus kept its bytes only after block_id checked them) */
static int check_header(node_t *n, const block_t *b, uint64_t height, const uint8_t *prev,
			uint64_t prev_ts, int roots, char *why, size_t wl)
{
	const block_header_t *h = &b->hdr;
	if (memcmp(h->chain_id, n->g.chain_id, BSEC_HASH_BYTES)) {
		err_set(why, wl, "block of another chain");
		return -1;
	}
	if (h->height != height) {
		err_set(why, wl, "height %llu where %llu was expected", (unsigned long long)h->height,
			(unsigned long long)height);
		return -1;
	}
	if (memcmp(h->prev_hash, prev, BSEC_HASH_BYTES)) {
		err_set(why, wl, "prev_hash does not match our block %llu", (unsigned long long)height - 1);
		return -1;
	}
	if (h->timestamp_ms <= prev_ts) {
		err_set(why, wl, "timestamp does not advance");
		return -1;
	}
	if (h->proposer >= n->g.n_providers) {
		err_set(why, wl, "proposer %u is not a member", h->proposer);
		return -1;
	}
	const pubkey_t *k = &n->g.providers[h->proposer].node_key;
	if (h->proposer_scheme != k->scheme || memcmp(h->proposer_key, k->key, sig_pub_len(k->scheme))) {
		err_set(why, wl, "proposer key is not node %u's key", h->proposer);
		return -1;
	}
	if (h->tx_count > n->g.params.max_block_txs) {
		err_set(why, wl, "%u txs, the limit is %llu", h->tx_count,
			(unsigned long long)n->g.params.max_block_txs);
		return -1;
	}
	if (!sig_verified(n, h) && block_header_verify_sig(h) != 0) {
		err_set(why, wl, "proposer signature does not verify");
		return -1;
	}
	if (roots && block_check_root(b) != 0) {
		err_set(why, wl, "tx_root does not match the txs");
		return -1;
	}
	if (roots && block_check_sig_root(b) != 0) {
		err_set(why, wl, "sig_root does not match the txs' signatures");
		return -1;
	}
	return 0;
}

/* Applies b's txs to st after validating each; returns the index of the
 * first invalid tx (v says why) or -1 when all were applied. */
static long apply_block(state_t *st, const block_t *b, verdict_t *v)
{
	state_begin_block(st, b->hdr.height, b->hdr.timestamp_ms);
	for (uint32_t i = 0; i < b->hdr.tx_count; i++) {
		if (validate_tx(st, &b->txs[i], b->hdr.timestamp_ms, v) != V_OK)
			return (long)i;
		state_apply_tx(st, &b->txs[i]);
	}
	return -1;
}

/* Whether raw is the block b (bytes braw) or the same block under another
 * valid signature of its proposer: the header's hash leaves the signature
 * out, and a faulty proposer may sign one header twice.  Both passed
 * block_id(whole = 1) or were built here, so an equal hash means equal
 * txs; treating the second copy as foreign would drop our speculative
 * chain under pbft's feet. */
static int same_block(const block_t *b, const uint8_t *braw, size_t blen, const uint8_t *raw, size_t len)
{
	if (blen == len && !memcmp(braw, raw, len))
		return 1;
	rd_t r;
	block_header_t h;
	rd_init(&r, raw, len);
	return block_header_read(&r, &h) == 0 && !memcmp(h.hash, b->hdr.hash, BSEC_HASH_BYTES);
}

/* Records *b (taken over), applied to the state since mark, as the next
 * speculative block. */
static int spec_push(node_t *n, block_t *b, const uint8_t *raw, size_t len, uint64_t view,
		     state_mark_t mark, state_delta_t *delta)
{
	spec_block_t *sb = &n->spec_blocks[n->n_spec++];
	sb->height = b->hdr.height;
	sb->raw = xmalloc(len);
	memcpy(sb->raw, raw, len);
	sb->raw_len = len;
	sb->block = *b;
	sb->mark = mark;
	sb->delta = delta;
	memset(b, 0, sizeof(*b));
	n->spec_tip = sb->height;
	memcpy(n->spec_tip_hash, sb->block.hdr.hash, BSEC_HASH_BYTES);
	n->spec_tip_ts = sb->block.hdr.timestamp_ms;
	for (uint32_t i = 0; i < sb->block.hdr.tx_count; i++) {
		mp_entry_t *e = mempool_get(n->pool, sb->block.txs[i].id);
		if (e)
			mempool_set_inflight(n->pool, e, sb->height);
	}
	/* a fresh proposal with room to spare: evidence for the censorship watch */
	if (sb->block.hdr.view == view && sb->block.hdr.tx_count < n->g.params.max_block_txs / 2 &&
	    len < n->g.params.max_block_bytes / 2)
		n->roomy_block_ms = mono_ms();
	return 0;
}

static int cb_validate_block(void *ctx, uint64_t height, uint64_t view, const uint8_t *raw,
			     size_t len)
{
	node_t *n = ctx;
	char why[256];
	block_t b;
	if (n->n_spec >= PBFT_MAX_LOG_WINDOW || height != n->spec_tip + 1) {
		log_warn(MOD, "block %llu out of order (speculative tip %llu)", (unsigned long long)height,
			 (unsigned long long)n->spec_tip);
		return -1;
	}
	if (len > n->g.params.max_block_bytes) {
		log_warn(MOD, "block %llu: %zu bytes, over the limit", (unsigned long long)height, len);
		return -1;
	}
	if (decode_proposal(n, &b, raw, len, why, sizeof(why)) < 0) {
		log_warn(MOD, "block %llu does not decode: %s", (unsigned long long)height, why);
		return -1;
	}
	int ret = -1;
	state_mark_t mark;
	if (n->built.valid && n->built.height == height &&
	    !memcmp(n->built.hash, b.hdr.hash, BSEC_HASH_BYTES) &&
	    !memcmp(b.hdr.prev_hash, n->spec_tip_hash, BSEC_HASH_BYTES)) {
		/* the block this node just built on this tip (the hash covers
		 * every tx byte): checked and applied when it was built */
		mark = n->built.mark;
		state_delta_t *delta = n->built.delta;
		memset(&n->built, 0, sizeof(n->built));
		n->own_blocks++;
		return spec_push(n, &b, raw, len, view, mark, delta);
	}
	built_drop(n);
	if (check_header(n, &b, height, n->spec_tip_hash, n->spec_tip_ts, 0, why, sizeof(why)) < 0)
		goto bad;
	/* who may propose: the leader of the view it was first proposed in */
	if (b.hdr.view > view || b.hdr.proposer != b.hdr.view % n->g.n_providers) {
		err_set(why, sizeof(why), "proposer %u is not the leader of view %llu", b.hdr.proposer,
			(unsigned long long)b.hdr.view);
		goto bad;
	}
	/* a fresh proposal must carry a timestamp near our clock; none, even
	 * one carried over from an earlier view, may be ahead of it */
	uint64_t now = node_now_ms(n), skew = n->g.params.timestamp_window_ms / 2;
	if (b.hdr.timestamp_ms > now + skew || (b.hdr.view == view && b.hdr.timestamp_ms + skew < now)) {
		err_set(why, sizeof(why), "timestamp %llu is too far from our clock %llu",
			(unsigned long long)b.hdr.timestamp_ms, (unsigned long long)now);
		goto bad;
	}
	long bad = verify_block_txs(n, &b);
	if (bad >= 0) {
		err_set(why, sizeof(why), "tx %ld: signature does not verify", bad);
		goto bad;
	}
	mark = state_mark(n->spec);
	verdict_t v;
	bad = apply_block(n->spec, &b, &v);
	if (bad >= 0) {
		state_rollback(n->spec, mark);
		err_set(why, sizeof(why), "tx %ld: %s: %s", bad, verr_name(v.code), v.msg);
		goto bad;
	}
	return spec_push(n, &b, raw, len, view, mark, state_take_delta(n->spec));
bad:
	log_warn(MOD, "refusing block %llu from node %u: %s", (unsigned long long)height, b.hdr.proposer,
		 why);
	block_clear(&b);
	return ret;
}

static void cb_abort_from(void *ctx, uint64_t from)
{
	node_t *n = ctx;
	built_drop(n);
	while (n->n_spec && n->spec_blocks[n->n_spec - 1].height >= from) {
		spec_block_t *sb = &n->spec_blocks[--n->n_spec];
		state_rollback(n->spec, sb->mark);
		state_delta_return(n->spec, sb->delta);
		sb->delta = NULL;
		spec_block_free(sb);
	}
	mempool_clear_inflight(n->pool, from);
	if (n->n_spec) {
		spec_block_t *top = &n->spec_blocks[n->n_spec - 1];
		n->spec_tip = top->height;
		memcpy(n->spec_tip_hash, top->block.hdr.hash, BSEC_HASH_BYTES);
		n->spec_tip_ts = top->block.hdr.timestamp_ms;
	} else {
		n->spec_tip = store_height(n->store);
		memcpy(n->spec_tip_hash, store_tip_hash(n->store), BSEC_HASH_BYTES);
		n->spec_tip_ts = store_tip_ts(n->store);
	}
}

static void observe_latency(node_t *n, double ms)
{
	n->lat_count++;
	n->lat_sum += ms;
	size_t i = 0;
	while (i < LAT_BUCKETS && ms > node_lat_bounds[i])
		i++;
	n->lat_hist[i]++;
}

/* The blocks of a state-transfer reply share store transactions, and the
 * clients waiting for them hear of them once their transaction is
 * durable (durable: 1), or not at all when it failed (their long polls
 * run out; the blocks are fetched again). */
static void batch_told(node_t *n, int durable)
{
	const uint8_t *ids = n->batch_waited.data;
	for (size_t off = 0; durable && off + BSEC_HASH_BYTES <= n->batch_waited.len; off += BSEC_HASH_BYTES)
		node_api_committed(n, ids + off, n->batch_height);
	if (durable && n->batch_height)
		node_api_block(n, n->batch_height);
	buf_reset(&n->batch_waited);
	n->batch_height = 0;
}

static int cb_deliver(void *ctx, uint64_t height, const uint8_t *raw, size_t len, const cert_t *cert)
{
	node_t *n = ctx;
	char why[256];
	block_t fetched;
	const block_t *b;
	const state_delta_t *delta;
	state_delta_t *own_delta = NULL;
	int pre = 0;
	int from_spec = n->n_spec && n->spec_blocks[0].height == height &&
			same_block(&n->spec_blocks[0].block, n->spec_blocks[0].raw, n->spec_blocks[0].raw_len, raw, len);
	memset(&fetched, 0, sizeof(fetched));
	if (from_spec) {
		b = &n->spec_blocks[0].block;
		delta = n->spec_blocks[0].delta;
	} else {
		/* state transfer (or a block we never validated): check it all */
		built_drop(n);
		if (n->n_spec)
			cb_abort_from(n, height);
		long bad = -1;
		/* decoded and its signatures checked on the prefetch thread
		 * while the blocks before it were applied? */
		pre = prefetch_take(n->pf, height, raw, len, &fetched, &bad);
		if ((pre <= 0 && block_decode(&fetched, raw, len, why, sizeof(why)) < 0) ||
		    check_header(n, &fetched, height, store_tip_hash(n->store), store_tip_ts(n->store), 1,
				 why, sizeof(why)) < 0) {
			log_error(MOD, "certified block %llu fails its checks: %s", (unsigned long long)height, why);
			block_clear(&fetched);
			return -1;
		}
		/* A version 2 header commits to every tx signature (sig_root, just
		 * checked with the header), and the certificate's 2f+1 signers, f+1
		 * of them correct, verified them all before voting: nothing to
		 * check again.  A version 1 header's roots cover the tx ids only,
		 * which do not cover the signature bytes a peer sends: those are
		 * checked again. */
		if (pre <= 0 && !block_commits_sigs(&fetched.hdr))
			bad = verify_block_txs(n, &fetched);
		if (bad >= 0) {
			log_error(MOD, "certified block %llu: tx %ld signature does not verify",
				  (unsigned long long)height, bad);
			block_clear(&fetched);
			return -1;
		}
		verdict_t v;
		state_mark_t mark = state_mark(n->spec);
		if ((bad = apply_block(n->spec, &fetched, &v)) >= 0) {
			state_rollback(n->spec, mark);
			log_error(MOD, "certified block %llu: tx %ld: %s", (unsigned long long)height, bad, v.msg);
			block_clear(&fetched);
			return -1;
		}
		state_forget_undo(n->spec);
		b = &fetched;
		delta = own_delta = state_take_delta(n->spec);
	}
	/* the registry of the delivered chain: its tenant and attestation txs */
	state_begin_block(n->committed, height, b->hdr.timestamp_ms);
	for (uint32_t i = 0; i < b->hdr.tx_count; i++)
		if (b->txs[i].type == TX_TENANT || b->txs[i].type == TX_ATTEST)
			state_apply_tx(n->committed, &b->txs[i]);
	state_forget_undo(n->committed);
	int stored = store_append_delta(n->store, b, cert, delta, why, sizeof(why));
	state_delta_free(own_delta);
	if (stored < 0) {
		log_error(MOD, "cannot store block %llu: %s; stopping to accept work",
			  (unsigned long long)height, why);
		n->failed = 1;
		block_clear(&fetched);
		return -1;
	}
	/* in a batch of fetched blocks: commit every NODE_BATCH_BLOCKS */
	if (!from_spec && n->batching && ++n->batch_blocks >= NODE_BATCH_BLOCKS) {
		n->batch_blocks = 0;
		if (store_batch(n->store, 0, why, sizeof(why)) < 0) {
			log_error(MOD, "cannot store fetched blocks up to %llu: %s; stopping to accept work",
				  (unsigned long long)height, why);
			n->failed = 1;
			batch_told(n, 0);
			block_clear(&fetched);
			return -1;
		}
		batch_told(n, 1);
		(void)store_batch(n->store, 1, NULL, 0);
	}
	uint64_t now = mono_ms();
	for (uint32_t i = 0; i < b->hdr.tx_count; i++) {
		mp_entry_t *e = mempool_get(n->pool, b->txs[i].id);
		if (e) {
			observe_latency(n, (double)(now - e->arrived_ms));
			mempool_remove(n->pool, b->txs[i].id);
		}
		if (!n->batching)
			node_api_committed(n, b->txs[i].id, height);
		else if (node_api_waited(n, b->txs[i].id))
			buf_put(&n->batch_waited, b->txs[i].id, BSEC_HASH_BYTES);
	}
	n->committed_txs += b->hdr.tx_count;
	if (from_spec)
		n->voted_txs += b->hdr.tx_count;
	else
		n->rate_fetched = 1;
	if (n->batching)
		n->batch_height = height;
	else
		node_api_block(n, height);
	if (from_spec) {
		spec_block_free(&n->spec_blocks[0]);
		memmove(&n->spec_blocks[0], &n->spec_blocks[1], (n->n_spec - 1) * sizeof(spec_block_t));
		memset(&n->spec_blocks[--n->n_spec], 0, sizeof(spec_block_t));
		/* the undo log is kept from the first block still speculative
		 * (or the kept build) on */
		if (n->n_spec || n->built.valid) {
			size_t shift = state_trim_undo(n->spec, n->n_spec ? n->spec_blocks[0].mark
									    : n->built.mark);
			for (size_t i = 0; i < n->n_spec; i++)
				n->spec_blocks[i].mark -= shift;
			if (n->built.valid)
				n->built.mark -= shift;
		} else {
			state_forget_undo(n->spec);
		}
	} else {
		n->spec_tip = height;
		memcpy(n->spec_tip_hash, b->hdr.hash, BSEC_HASH_BYTES);
		n->spec_tip_ts = b->hdr.timestamp_ms;
	}
	log_debug(MOD, "committed block %llu with %u txs", (unsigned long long)height, b->hdr.tx_count);
	if (pre > 0)
		prefetch_release(n->pf, &fetched);
	else
		block_clear(&fetched);
	return 0;
}

static void cb_prefetch(void *ctx, const uint64_t *heights, const uint8_t *const *blocks,
			const size_t *lens, size_t cnt)
{
	node_t *n = ctx;
	char why[256] = "";
	if (cnt) {
		prefetch_queue(n->pf, heights, blocks, lens, cnt);
		/* a reply of several certified blocks: store them in shared
		 * transactions (a crash only means fetching them again) */
		(void)store_batch(n->store, 1, NULL, 0);
		n->batching = 1;
		n->batch_blocks = 0;
		return;
	}
	prefetch_drop(n->pf);
	n->batching = 0;
	if (store_batch(n->store, 0, why, sizeof(why)) < 0) {
		log_error(MOD, "cannot store fetched blocks: %s; stopping to accept work", why);
		n->failed = 1;
		batch_told(n, 0);
		return;
	}
	batch_told(n, 1);
}

static int cb_get_block(void *ctx, uint64_t height, uint8_t **block, size_t *len, uint8_t **cert,
			size_t *cert_len)
{
	node_t *n = ctx;
	if (height == 0 || height > store_height(n->store))
		return -1;
	return store_get_block_raw(n->store, height, block, len, cert, cert_len) == 0 ? 0 : -1;
}

static int cb_has_pending(void *ctx)
{
	node_t *n = ctx;
	return mempool_waiting(n->pool) != 0;
}

/* ---- admission and gossip ----
 *
 * A tx a client submits here is broadcast to every peer (in batches), so
 * every replica holds it, times it, and has verified it before it shows
 * up in a block: a leader that censors it is suspected by more than f
 * replicas and replaced.  Txs received from peers are not passed on. */

static void gossip_flush(node_t *n)
{
	if (!n->fwd_count)
		return;
	n->fwd.data[1] = (uint8_t)(n->fwd_count >> 8);
	n->fwd.data[2] = (uint8_t)n->fwd_count;
	if (n->net)
		peer_net_broadcast(n->net, n->fwd.data, n->fwd.len);
	buf_reset(&n->fwd);
	n->fwd_count = 0;
}

static void gossip_add(node_t *n, const tx_t *tx)
{
	if (!n->fwd_count) {
		buf_reset(&n->fwd);
		buf_u8(&n->fwd, NODE_MSG_TXS);
		buf_u16(&n->fwd, 0);
	}
	buf_blob32(&n->fwd, tx->raw, tx->raw_len);
	if (++n->fwd_count >= NODE_FORWARD_BATCH)
		gossip_flush(n);
	else if (n->flush_ev)
		event_active(n->flush_ev, EV_TIMEOUT, 0);
}

/* Sends the oldest waiting txs, at most max_txs of them, to the (new)
 * leader, which may have missed some while it was down or its link was
 * (or whose pool was full when our gossip came).  Bounded because the
 * leader normally holds them all already (gossip) and the frames share
 * the link's queue with consensus messages: a whole saturated pool (1e5
 * txs, tens of MB) queued ahead of our prepares and commits, and decoded
 * by the new leader, kept it from committing within the progress timeout
 * and cascaded into further view changes.  Older txs are the ones the
 * censorship watch judges the leader by; the rest follows from the watch
 * (censorship_watch) when they have waited long. */
static void forward_oldest(node_t *n, size_t max_txs)
{
	int leader = pbft_leader(n->pbft);
	if (leader == n->self || !n->net)
		return;
	buf_t b;
	size_t cnt = 0, sent = 0;
	buf_init(&b);
	for (mp_entry_t *e = mempool_first(n->pool); e && sent < max_txs; e = e->next) {
		if (e->inflight_height)
			continue;
		if (!cnt) {
			buf_reset(&b);
			buf_u8(&b, NODE_MSG_TXS);
			buf_u16(&b, 0);
		}
		buf_blob32(&b, e->tx.raw, e->tx.raw_len);
		sent++;
		if (++cnt == NODE_FORWARD_BATCH) {
			b.data[1] = (uint8_t)(cnt >> 8);
			b.data[2] = (uint8_t)cnt;
			peer_net_send(n->net, leader, b.data, b.len);
			cnt = 0;
		}
	}
	if (cnt) {
		b.data[1] = (uint8_t)(cnt >> 8);
		b.data[2] = (uint8_t)cnt;
		peer_net_send(n->net, leader, b.data, b.len);
	}
	buf_free(&b);
}

/* Drops pending txs that can no longer enter a block (their timestamp
 * left the window, an equal tx committed, the tenant was revoked...), so
 * they neither fill the pool nor keep a progress timer running against
 * an honest leader.  Looks at a bounded number of the oldest ones. */
static void prune_pool(node_t *n)
{
	uint64_t now = node_now_ms(n), mono = mono_ms();
	size_t checked = 0, ndrop = 0;
	uint8_t (*drop)[BSEC_HASH_BYTES] = NULL;
	for (mp_entry_t *e = mempool_first(n->pool); e && checked < 256; e = e->next) {
		if (e->inflight_height || mono - e->arrived_ms < 500)
			continue;
		checked++;
		verdict_t v;
		if (validate_tx(n->spec, &e->tx, now, &v) != V_OK) {
			char id[17];
			hex_encode(id, e->tx.id, 8);
			log_info(MOD, "dropping pending tx %s: %s", id, v.msg);
			n->rejected[v.code]++;
			drop = xrealloc(drop, (ndrop + 1) * BSEC_HASH_BYTES);
			memcpy(drop[ndrop++], e->tx.id, BSEC_HASH_BYTES);
		}
	}
	for (size_t i = 0; i < ndrop; i++)
		mempool_remove(n->pool, drop[i]);
	free(drop);
}

/* Admission control.  Each tx a client brings costs every replica a
 * signature check to admit it, on the cores consensus needs: offered
 * 20 000 tx/s, a 4-node devnet admitted all of it and committed 6 000
 * tx/s while its pools grew to 190 000 txs (18 000 tx/s once the offer
 * stopped), and past the timestamp window accepted txs would be dropped.
 * So a node refuses new client requests — 503, mempool_full, retry —
 * while more txs wait in its pool than it commits in backlog_ms at the
 * rate it showed with blocks near full (two full blocks at least, and
 * before any such rate is known).  Refusing costs a decode, not a
 * check.  Orchestrators' and admins' txs are never refused for it (a
 * response must not queue behind a tenant's flood), nor peers' (their
 * own admission let them in), so the pool may pass the limit; only
 * mempool_max bounds it. */
static size_t backlog_limit(const node_t *n)
{
	double lim = n->commit_rate * (double)n->cfg.backlog_ms / 1000.0;
	size_t floor = 2 * (size_t)n->g.params.max_block_txs;
	return lim > (double)floor ? (size_t)lim : floor;
}

static int backlog_over(const node_t *n, const tx_t *tx, int from_peer)
{
	return !from_peer && tx->type == TX_REQUEST && n->cfg.backlog_ms &&
	       mempool_waiting(n->pool) >= backlog_limit(n);
}

/* Every tick: the commit rate over a window of at least 500 ms in which
 * at least half a block's worth of txs waited throughout (blocks were
 * near full, so the rate is what the node can do, not what it was
 * offered), folded into commit_rate.  A window ends at its first commit
 * after 500 ms, so blocks slower than that are counted at their pace,
 * not as one per window; only blocks committed through consensus count,
 * and a window in which fetched blocks were applied (state transfer is
 * much faster) is dropped. */
static void rate_sample(node_t *n)
{
	uint64_t now = mono_ms();
	int loaded = mempool_waiting(n->pool) >= (n->g.params.max_block_txs + 1) / 2;   /* >= 1 */
	if (!loaded || n->rate_fetched || !n->rate_ms) {
		n->rate_ms = loaded && !n->rate_fetched ? now : 0;
		n->rate_txs = n->voted_txs;
		n->rate_fetched = 0;
		return;
	}
	uint64_t dt = now - n->rate_ms;
	if (dt < 500 || n->voted_txs == n->rate_txs)
		return;
	double r = (double)(n->voted_txs - n->rate_txs) * 1000.0 / (double)dt;
	n->commit_rate = n->commit_rate > 0 ? 0.7 * n->commit_rate + 0.3 * r : r;
	n->rate_ms = now;
	n->rate_txs = n->voted_txs;
}

/* What a pending REQUEST claims: the object it acts on (kind, name) and a
 * share of its sender's rate in the domain (scheme, key, domain), each as
 * a keyed 64-bit hash (SipHash, a per-process key: a tenant cannot aim a
 * collision) counted in n->claims.  Validation sees the chain only, so
 * without them a tenant's burst of requests that the chain cannot all
 * take (over its SLA rate, one name created many times) was admitted
 * whole, gossiped, and left in every non-leader's pool to time the
 * honest leader out (found in review, session 16).  0, or 2 with the
 * claims in c. */
static unsigned claim_keys(const tx_t *tx, uint64_t c[2])
{
	static uint8_t key[crypto_shorthash_KEYBYTES];
	static int keyed;
	uint8_t buf[2 + SIG_MAX_PUB + 256];
	size_t pos, pl = sig_pub_len(tx->scheme), nl;
	char why[200];
	const instr_t *in;

	if (tx->type != TX_REQUEST || tx->domain_len > 255 || pl > SIG_MAX_PUB)
		return 0;
	if (!(in = instr_parse_ref(tx->instruction, tx->instruction_len, &pos, why, sizeof(why))))
		return 0;
	if (!keyed) {
		crypto_shorthash_keygen(key);
		keyed = 1;
	}
	nl = strlen(in->name);
	buf[0] = 'O';
	buf[1] = (uint8_t)in->kind;
	memcpy(buf + 2, in->name, nl);
	crypto_shorthash((uint8_t *)&c[0], buf, 2 + nl, key);
	buf[0] = 'R';
	buf[1] = (uint8_t)tx->scheme;
	memcpy(buf + 2, tx->sender, pl);
	memcpy(buf + 2 + pl, tx->domain, tx->domain_len);
	crypto_shorthash((uint8_t *)&c[1], buf, 2 + pl + tx->domain_len, key);
	return 2;
}

static uintptr_t claim_count(const node_t *n, uint64_t c)
{
	return n->claims ? (uintptr_t)map_get(n->claims, &c, sizeof(c)) : 0;
}

/* The pool's hook: counts an entry's claims in and out (computed once, at
 * entry, and kept in it). */
static void pool_claim(void *ctx, mp_entry_t *e, int delta)
{
	node_t *n = ctx;
	if (delta == 1)
		e->n_claims = claim_keys(&e->tx, e->claims);
	/* an entry in a speculative block is counted by state_rate_in on
	 * n->spec already: its rate claim is out while it is in flight */
	unsigned from = 0, to = e->n_claims;
	if (delta == 2 || delta == -2) {
		from = 1;
		delta /= 2;
	} else if (delta < 0 && e->inflight_height && to == 2) {
		to = 1;
	}
	for (unsigned i = from; i < to; i++) {
		uintptr_t have = claim_count(n, e->claims[i]);
		if (delta < 0 && !have)
			continue;   /* never below zero, whatever went wrong */
		uintptr_t c = have + (uintptr_t)(intptr_t)delta;
		if (c)
			map_put(n->claims, &e->claims[i], sizeof(e->claims[i]), (void *)c);
		else
			map_del(n->claims, &e->claims[i], sizeof(e->claims[i]));
	}
}

void node_pool_reset(node_t *n, size_t max_txs, size_t max_bytes)
{
	mempool_free(n->pool);   /* frees its entries without the hook: */
	if (n->claims)
		map_clear(n->claims);  /* their claims go with them */
	else
		n->claims = map_new();
	n->pool = mempool_new(max_txs, max_bytes);
	mempool_set_hook(n->pool, pool_claim, n);
}

/* A REQUEST the chain would take, refused when the pool already holds
 * one for the same object, or as many of its sender's as its rate allows. */
static verr_t claim_check(node_t *n, const tx_t *tx, verdict_t *v)
{
	uint64_t c[2];
	if (claim_keys(tx, c) != 2)
		return V_OK;
	if (claim_count(n, c[0])) {
		v->code = V_IN_USE;
		snprintf(v->msg, sizeof(v->msg), "a pending request already acts on this object; retry once it "
			 "is committed");
		return v->code;
	}
	uintptr_t pending = claim_count(n, c[1]);
	const tenant_rec_t *t = pending ? state_tenant(n->spec, tx->domain, tx->domain_len, tx->scheme, tx->sender)
					: NULL;
	if (t && t->sla.rate_per_min &&
	    state_rate_in(n->spec, tx->domain, tx->domain_len, tx->scheme, tx->sender, node_now_ms(n)) +
	    pending >= t->sla.rate_per_min) {
		v->code = V_RATE;
		snprintf(v->msg, sizeof(v->msg), "tenant '%s' has %zu requests pending and on chain in the last "
			 "minute, its SLA allows %u", t->name, (size_t)pending, t->sla.rate_per_min);
		return v->code;
	}
	return V_OK;
}

/* Admits a decoded tx.  sig: 1 when its signature was verified already
 * (a batch check), 0 when it was found bad, -1 when it must be checked
 * here. */
static int admit(node_t *n, tx_t *tx, int from_peer, int sig, verdict_t *v, char *err, size_t errlen)
{
	v->code = V_OK;
	v->msg[0] = 0;
	if (mempool_has(n->pool, tx->id))
		return 200;
	if (mempool_is_full(n->pool)) {
		n->mempool_full++;
		err_set(err, errlen, "the mempool is full (%zu txs); retry later", mempool_count(n->pool));
		return 503;
	}
	if (validate_fields(tx, v) != V_OK || validate_tx(n->spec, tx, node_now_ms(n), v) != V_OK ||
	    claim_check(n, tx, v) != V_OK) {
		uint8_t *sraw;
		size_t slen;
		uint64_t h;
		uint32_t idx;
		/* a duplicate that is already committed is not an error: say so */
		if (v->code == V_DUPLICATE && store_get_tx(n->store, tx->id, &sraw, &slen, &h, &idx) == 0) {
			free(sraw);
			return 200;
		}
		n->rejected[v->code]++;
		err_set(err, errlen, "%s", v->msg);
		return 422;
	}
	if (backlog_over(n, tx, from_peer)) {
		n->shed++;
		err_set(err, errlen, "this node is behind: %zu txs wait, more than it commits in %llu ms "
			"(%.0f tx/s); retry later", mempool_waiting(n->pool),
			(unsigned long long)n->cfg.backlog_ms, n->commit_rate);
		return 503;
	}
	if (sig < 0)
		sig = tx_verify_sig(tx, n->g.chain_id) == 0;
	if (!sig) {
		v->code = V_BAD_SIGNATURE;
		snprintf(v->msg, sizeof(v->msg), "the signature does not verify under the sender's %s key",
			 sig_scheme_name(tx->scheme));
		n->rejected[V_BAD_SIGNATURE]++;
		err_set(err, errlen, "%s", v->msg);
		return 422;
	}
	if (!from_peer)
		gossip_add(n, tx);
	mempool_add(n->pool, tx, mono_ms());
	/* one proposal per turn of the event loop, however many txs arrived in it:
	 * batching without a timer */
	if (n->note_ev && !n->note_scheduled) {
		n->note_scheduled = 1;
		event_active(n->note_ev, EV_TIMEOUT, 0);
	}
	return 202;
}

int node_submit(node_t *n, const uint8_t *raw, size_t len, int from_peer, tx_t *out_tx, verdict_t *v,
		char *err, size_t errlen)
{
	tx_t tx;
	v->code = V_OK;
	v->msg[0] = 0;
	if (n->failed) {
		err_set(err, errlen, "this node hit a storage error and accepts no work; see its log");
		return 503;
	}
	if (tx_decode(&tx, raw, len, n->g.chain_id, err, errlen) < 0)
		return 400;
	if (out_tx)
		tx_copy(out_tx, &tx);
	int status = admit(n, &tx, from_peer, -1, v, err, errlen);
	tx_clear(&tx);
	return status;
}

void node_submit_many(node_t *n, const uint8_t *const *raws, const size_t *lens, size_t cnt, int from_peer,
		      submit_result_t *res)
{
	for (size_t at = 0; at < cnt; at += NODE_SUBMIT_CHUNK) {
		size_t m = cnt - at < NODE_SUBMIT_CHUNK ? cnt - at : NODE_SUBMIT_CHUNK, need = 0;
		tx_t *txs = xcalloc(m, sizeof(*txs));
		const tx_t **chk = xmalloc(m * sizeof(*chk));
		uint8_t *ok = xcalloc(m, 1), *bad = xcalloc(m, 1), *decoded = xcalloc(m, 1);
		for (size_t i = 0; i < m; i++) {
			submit_result_t *r = &res[at + i];
			r->v.code = V_OK;
			r->v.msg[0] = 0;
			r->err[0] = 0;
			if (n->failed) {
				err_set(r->err, sizeof(r->err),
					"this node hit a storage error and accepts no work; see its log");
				r->status = 503;
				continue;
			}
			if (tx_decode(&txs[i], raws[at + i], lens[at + i], n->g.chain_id, r->err,
				      sizeof(r->err)) < 0) {
				r->status = 400;
				continue;
			}
			decoded[i] = 1;
			/* known txs cost a lookup, not a signature check: in the
			 * pool, or already in the chain (a peer's copy that came
			 * after the block; admit refuses it as a duplicate before
			 * it would check the signature); with the pool full
			 * nothing new is admitted, so nothing is checked, nor
			 * is a client request refused for the backlog */
			if (mempool_has(n->pool, txs[i].id) || mempool_is_full(n->pool) ||
			    backlog_over(n, &txs[i], from_peer))
				continue;
			if (state_has_tx(n->spec, txs[i].id)) {
				ok[i] = 2;   /* not checked */
				continue;
			}
			chk[need++] = &txs[i];
		}
		verify_txs(n, chk, need, bad);
		for (size_t k = 0; k < need; k++)
			ok[chk[k] - txs] = !bad[k];
		for (size_t i = 0; i < m; i++) {
			submit_result_t *r = &res[at + i];
			if (!decoded[i])
				continue;
			r->status = admit(n, &txs[i], from_peer, ok[i] == 2 ? -1 : ok[i], &r->v, r->err,
					  sizeof(r->err));
			tx_clear(&txs[i]);
		}
		free(txs);
		free(chk);
		free(ok);
		free(bad);
		free(decoded);
	}
}

/* A NODE_MSG_TXS batch from a peer: admit each tx as if submitted here.
 * A malformed batch is dropped whole. */
static void on_forwarded(node_t *n, int from, const uint8_t *data, size_t len)
{
	rd_t r;
	rd_init(&r, data, len);
	rd_u8(&r);
	uint16_t cnt = rd_u16(&r);
	const uint8_t **raws = xmalloc((cnt ? cnt : 1) * sizeof(*raws));
	size_t *lens = xmalloc((cnt ? cnt : 1) * sizeof(*lens));
	size_t got = 0;
	for (uint16_t i = 0; i < cnt && rd_ok(&r); i++) {
		raws[got] = rd_blob32(&r, &lens[got], TX_MAX_BYTES);
		if (!raws[got])
			break;
		got++;
	}
	if (!rd_end(&r)) {
		n->bad_forward++;
		note_bad(n, from, NODE_BAD_FORWARD, 1);
		log_warn(MOD, "malformed tx batch from node %d: %s", from, r.err);
	} else {
		submit_result_t *res = xmalloc((got ? got : 1) * sizeof(*res));
		node_submit_many(n, raws, lens, got, 1, res);
		for (size_t i = 0; i < got; i++)
			if (res[i].status == 400 || (res[i].status == 422 && res[i].v.code == V_BAD_SIGNATURE)) {
				n->bad_forward++;
				note_bad(n, from, NODE_BAD_FORWARD, 1);
			}
		free(res);
	}
	free(raws);
	free(lens);
}

/* Admitting a peer's tx batch costs a signature check per tx, far more
 * than a consensus message; under a load above capacity, admitting
 * batches as they arrive left the PBFT messages behind them on the same
 * link waiting for seconds, so commits stalled past the progress timeout
 * and view changes cascaded after a leader crash.  Batches therefore
 * wait in n->gossip_in and are admitted a slice of time per turn of the
 * event loop, after the consensus messages that came with them; when
 * more than NODE_GOSSIP_IN_MAX bytes wait, new batches are dropped
 * (gossip is best effort: a replica that lacks a tx verifies it with
 * the block, and the censorship watch re-sends to the leader). */
static void gossip_defer(node_t *n, int from, const uint8_t *data, size_t len)
{
	if (n->gossip_in.len - n->gossip_in_off + len + 8 > NODE_GOSSIP_IN_MAX) {
		if (n->gossip_dropped++ % 1000 == 0)
			log_warn(MOD, "%zu bytes of peer tx batches wait to be admitted; dropping one from "
				 "node %d (%llu so far)", n->gossip_in.len - n->gossip_in_off, from,
				 (unsigned long long)n->gossip_dropped);
		return;
	}
	if (n->gossip_in_off && n->gossip_in_off == n->gossip_in.len) {
		buf_reset(&n->gossip_in);
		n->gossip_in_off = 0;
	}
	buf_u32(&n->gossip_in, (uint32_t)from);
	buf_u32(&n->gossip_in, (uint32_t)len);
	buf_put(&n->gossip_in, data, len);
	if (!evtimer_pending(n->gossip_ev, NULL)) {
		struct timeval now = { 0, 0 };
		evtimer_add(n->gossip_ev, &now);
	}
}

/* A timer, not event_active: the loop polls the links before the next slice. */
static void on_gossip_in(evutil_socket_t fd, short what, void *arg)
{
	node_t *n = arg;
	(void)fd;
	(void)what;
	uint64_t t0 = mono_us();
	buf_t *q = &n->gossip_in;
	/* During state transfer the batches wait: most hold txs the fetched
	 * blocks commit (peers queued them while this replica was down), and
	 * once those blocks are applied each costs a lookup, not a signature
	 * check. */
	if (n->pbft && pbft_fetching(n->pbft)) {
		struct timeval later = { 0, NODE_GOSSIP_HOLD_US };
		evtimer_add(n->gossip_ev, &later);
		return;
	}
	while (q->len - n->gossip_in_off >= 8 && mono_us() - t0 < NODE_GOSSIP_SLICE_US) {
		rd_t r;
		rd_init(&r, q->data + n->gossip_in_off, 8);
		int from = (int)rd_u32(&r);
		size_t len = rd_u32(&r);
		on_forwarded(n, from, q->data + n->gossip_in_off + 8, len);
		n->gossip_in_off += 8 + len;
	}
	if (n->gossip_in_off == q->len) {
		buf_reset(q);
		n->gossip_in_off = 0;
	} else {
		if (n->gossip_in_off > q->len / 2) {
			memmove(q->data, q->data + n->gossip_in_off, q->len - n->gossip_in_off);
			q->len -= n->gossip_in_off;
			n->gossip_in_off = 0;
		}
		struct timeval now = { 0, 0 };
		evtimer_add(n->gossip_ev, &now);
	}
}

static void on_peer_message(void *ctx, int from, const uint8_t *data, size_t len)
{
	node_t *n = ctx;
	if (len && data[0] == NODE_MSG_TXS) {
		if (n->gossip_ev)
			gossip_defer(n, from, data, len);
		else
			on_forwarded(n, from, data, len);
		return;
	}
	check_vote(n, from, data, len);
	pbft_receive(n->pbft, mono_ms(), from, data, len);
	account_drops(n, from);
}

static void on_peer_state(void *ctx, int index, int up)
{
	node_t *n = ctx;
	log_info(MOD, "link to %s %s", n->g.providers[index].name, up ? "up" : "down");
	if (up && n->pbft)
		pbft_peer_up(n->pbft, mono_ms(), (uint16_t)index);
	/* frames queued while the link was down may be lost: re-send our txs */
	if (up && index == pbft_leader(n->pbft))
		forward_oldest(n, n->g.params.max_block_txs);
}

/* ---- timers and signals ---- */

/* PBFT's progress timer restarts at every delivery, so a leader that
 * leaves out one tenant's txs while committing others' is never timed
 * out.  Every replica holds every client tx (gossip), so it suspects the
 * leader itself when its oldest waiting tx has waited longer than the
 * genesis's request timeout in this view although the leader has since
 * proposed a block with plenty of room for it (DESIGN §5: a faulty leader
 * can delay but not censor). */
static void censorship_watch(node_t *n)
{
	uint64_t oldest = mempool_oldest_waiting(n->pool), now = mono_ms();
	uint64_t timeout = n->g.params.request_timeout_ms;
	if (!oldest || now < oldest + timeout / 2)
		n->suspect_streak = 0;   /* txs are moving: back to the base timeout */
	if (!oldest || !timeout || n->failed || pbft_in_view_change(n->pbft) || pbft_is_leader(n->pbft))
		return;
	/* doubled per consecutive suspicion (up to x8), like PBFT's own timers,
	 * so a slow network costs a few view changes, not one per timeout */
	timeout <<= n->suspect_streak < 3 ? n->suspect_streak : 3;
	uint64_t since = oldest > n->view_since_ms ? oldest : n->view_since_ms;
	/* the leader may simply not have our oldest txs: re-send them well
	 * before suspecting it (a batch per watch period) */
	if (now >= since + timeout / 2)
		forward_oldest(n, NODE_FORWARD_BATCH);
	if (now < since + timeout || n->roomy_block_ms < since + 1000)
		return;
	n->censor_suspicions++;
	n->suspect_streak++;
	log_warn(MOD, "view %llu: leader %s leaves out a tx held here for %llu ms from blocks with room; "
		 "asking for a view change", (unsigned long long)pbft_view(n->pbft),
		 n->g.providers[pbft_leader(n->pbft)].name, (unsigned long long)(now - oldest));
	pbft_suspect_leader(n->pbft, now, "leader leaves out a waiting tx");
	n->view_since_ms = now;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	node_t *n = arg;
	(void)fd;
	(void)what;
	pbft_tick(n->pbft, mono_ms());
	int leader = pbft_leader(n->pbft);
	if (leader != n->last_leader && !pbft_in_view_change(n->pbft)) {
		log_info(MOD, "view %llu: leader is %s", (unsigned long long)pbft_view(n->pbft),
			 n->g.providers[leader].name);
		n->last_leader = leader;
		n->view_since_ms = mono_ms();
		forward_oldest(n, n->g.params.max_block_txs);
		pbft_note_pending(n->pbft, mono_ms());
	}
	gossip_flush(n);
	if (++n->ticks % 10 == 0)
		prune_pool(n);
	rate_sample(n);
	if (n->ticks % 25 == 0) {
		faults_reload(n);
		censorship_watch(n);
	}
#ifdef BSEC_BYZANTINE
	byz_tick(n);
#endif
	if (pbft_failed(n->pbft) && !n->failed) {
		n->failed = 1;
		log_error(MOD, "consensus stopped after a delivery failure; this node accepts no work");
	}
}

static void on_note(evutil_socket_t fd, short what, void *arg)
{
	node_t *n = arg;
	(void)fd;
	(void)what;
	n->note_scheduled = 0;
	pbft_note_pending(n->pbft, mono_ms());
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gossip_flush(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	node_t *n = arg;
	(void)what;
	log_info(MOD, "signal %d: stopping", (int)sig);
	n->stopping = 1;
	event_base_loopexit(n->base, NULL);
}

/* ---- start-up ---- */

struct restore_ctx {
	node_t *n;
	char bad[64];
};

/* A vote or view record that does not decode is refused, not skipped: a
 * replica that forgets what it voted for could contradict it. */
static int restore_cb(void *ctx, const char *key, const void *val, size_t len)
{
	struct restore_ctx *rc = ctx;
	if (len && pbft_restore(rc->n->pbft, key, val, len) < 0) {
		snprintf(rc->bad, sizeof(rc->bad), "%s", key);
		return 1;
	}
	return 0;
}

static int check_genesis_copy(node_t *n, char *err, size_t errlen)
{
	char *p = xasprintf("%s/genesis.json", n->cfg.data_dir);
	size_t len;
	char e2[256];
	int ret = -1;
	uint8_t *d = file_read(p, &len, GENESIS_MAX_BYTES, e2, sizeof(e2));
	if (!d) {
		ret = file_write(p, n->g.raw, n->g.raw_len, 0644, err, errlen);
	} else if (len != n->g.raw_len || memcmp(d, n->g.raw, len)) {
		err_set(err, errlen, "%s differs from %s: this data directory belongs to another consortium",
			p, n->cfg.genesis);
	} else {
		ret = 0;
	}
	free(d);
	free(p);
	return ret;
}

static int node_init(node_t *n, const char *config_path, char *err, size_t errlen)
{
	char e2[512];
	if (node_config_load(&n->cfg, config_path, err, errlen) < 0)
		return -1;
	log_set_level(n->cfg.log_level);
	log_set_name(n->cfg.name);
	faults_init(n);
	faults_reload(n);
	if (genesis_load(&n->g, n->cfg.genesis, err, errlen) < 0)
		return -1;
	n->me = genesis_provider_by_name(&n->g, n->cfg.name);
	if (!n->me) {
		err_set(err, errlen, "%s: `name' is `%s', which is not a provider of the genesis",
			config_path, n->cfg.name);
		return -1;
	}
	n->self = n->me->index;
	n->peer_bad = xcalloc(n->g.n_providers, sizeof(*n->peer_bad));
	n->peer_bad_logged_ms = xcalloc(n->g.n_providers, sizeof(uint64_t));
	if (sig_key_load(&n->key, n->cfg.node_key, err, errlen) < 0)
		return -1;
	if (sig_key_scheme(n->key) != n->me->node_key.scheme ||
	    memcmp(sig_key_pub(n->key), n->me->node_key.key, sig_pub_len(n->me->node_key.scheme))) {
		err_set(err, errlen, "%s is not the node key the genesis lists for `%s'", n->cfg.node_key,
			n->cfg.name);
		return -1;
	}
	if (mkdir_p(n->cfg.data_dir, 0700) < 0) {
		err_set(err, errlen, "cannot create data directory `%s'", n->cfg.data_dir);
		return -1;
	}
	if (check_genesis_copy(n, err, errlen) < 0)
		return -1;
	if (store_open(&n->store, n->cfg.data_dir, &n->g, 0, err, errlen) < 0)
		return -1;
	n->spec = state_new(&n->g);
	n->committed = state_new(&n->g);
	state_track_dirty(n->committed, 0);   /* the registry is never persisted from */
	if (store_load_state(n->store, n->spec, err, errlen) < 0 ||
	    store_load_state_light(n->store, n->committed, err, errlen) < 0)
		return -1;
	n->spec_tip = store_height(n->store);
	memcpy(n->spec_tip_hash, store_tip_hash(n->store), BSEC_HASH_BYTES);
	n->spec_tip_ts = store_tip_ts(n->store);
	node_pool_reset(n, n->cfg.mempool_max, 512u << 20);
	n->workers = workers_new(n->cfg.workers);
	n->pf = prefetch_new(n->g.chain_id);
	n->waiters = map_new();
	buf_init(&n->fwd);
	buf_init(&n->gossip_in);
	buf_init(&n->batch_waited);
	n->base = event_base_new();
	if (!n->base) {
		err_set(err, errlen, "cannot create the event loop");
		return -1;
	}
	/* peers */
	size_t np = n->g.n_providers - 1;
	peer_info_t *peers = xcalloc(np ? np : 1, sizeof(peer_info_t));
	for (size_t i = 0, j = 0; i < n->g.n_providers; i++) {
		if ((int)i == n->self)
			continue;
		const provider_t *p = &n->g.providers[i];
		if (!p->peer || !p->tls_cert_pem) {
			err_set(err, errlen, "genesis: provider `%s' has no peer endpoint or TLS certificate", p->name);
			free(peers);
			return -1;
		}
		peers[j].index = (int)i;
		peers[j].addr = p->peer;
		peers[j].cert_pem = p->tls_cert_pem;
		j++;
	}
	peer_config_t pc = {
		.base = n->base, .self = n->self, .cert_file = n->cfg.tls_cert, .key_file = n->cfg.tls_key,
		.listen = n->cfg.peer_listen ? n->cfg.peer_listen : n->me->peer, .peers = peers, .npeers = np,
		.on_message = on_peer_message, .on_peer_state = on_peer_state, .ctx = n,
	};
	if (np || pc.listen) {
		n->net = peer_net_new(&pc, e2, sizeof(e2));
		if (!n->net) {
			err_set(err, errlen, "peer transport: %s", e2);
			free(peers);
			return -1;
		}
	}
	free(peers);
	/* consensus */
	pbft_config_t pcfg;
	pbft_config_default(&pcfg, (uint16_t)n->g.n_providers, (uint16_t)n->self);
	memcpy(pcfg.chain_id, n->g.chain_id, BSEC_HASH_BYTES);
	pcfg.view_timeout_ms = n->g.params.view_timeout_ms;
	pcfg.checkpoint_interval = n->g.params.checkpoint_interval;
	pcfg.max_block_bytes = n->g.params.max_block_bytes;
	pbft_callbacks_t cb = {
		.ctx = n, .send = cb_send, .broadcast = cb_broadcast, .persist = cb_persist,
		.persist_many = cb_persist_many,
		.sign = cb_sign, .verify = cb_verify, .block_id = cb_block_id,
		.build_block = cb_build_block, .validate_block = cb_validate_block,
		.abort_from = cb_abort_from, .deliver = cb_deliver, .get_block = cb_get_block,
		.prefetch = cb_prefetch,
		.has_pending = cb_has_pending,
	};
	cert_t tipcert, *tc = NULL;
	memset(&tipcert, 0, sizeof(tipcert));
	if (store_height(n->store)) {
		uint8_t *braw, *craw;
		size_t bl, cl;
		if (store_get_block_raw(n->store, store_height(n->store), &braw, &bl, &craw, &cl) < 0 ||
		    cert_decode(&tipcert, craw, cl, e2, sizeof(e2)) < 0) {
			err_set(err, errlen, "cannot read the tip's certificate");
			return -1;
		}
		free(braw);
		free(craw);
		tc = &tipcert;
	}
	n->pbft = pbft_new(&pcfg, &cb, store_height(n->store), store_tip_hash(n->store), tc, e2, sizeof(e2));
	cert_clear(&tipcert);
	if (!n->pbft) {
		err_set(err, errlen, "consensus: %s", e2);
		return -1;
	}
	struct restore_ctx rctx = { n, "" };
	int rr = store_meta_foreach(n->store, "pbft.", restore_cb, &rctx);
	if (rr < 0) {
		err_set(err, errlen, "cannot read persisted consensus state");
		return -1;
	}
	if (rr > 0) {
		err_set(err, errlen, "%s: persisted consensus value %s is corrupt; refusing to start, "
			"since voting again could contradict a vote this node already sent",
			store_path(n->store), rctx.bad);
		return -1;
	}
	if (node_api_start(n, err, errlen) < 0)
		return -1;
	struct timeval tv = { 0, 20000 };
	n->tick_ev = event_new(n->base, -1, EV_PERSIST, on_tick, n);
	event_add(n->tick_ev, &tv);
	n->flush_ev = event_new(n->base, -1, 0, on_flush, n);
	n->gossip_ev = evtimer_new(n->base, on_gossip_in, n);
	n->note_ev = event_new(n->base, -1, 0, on_note, n);
	n->sigterm_ev = evsignal_new(n->base, SIGTERM, on_signal, n);
	n->sigint_ev = evsignal_new(n->base, SIGINT, on_signal, n);
	event_add(n->sigterm_ev, NULL);
	event_add(n->sigint_ev, NULL);
	n->last_leader = -1;
	n->start_ms = now_ms();
#ifdef BSEC_BYZANTINE
	byz_init(n);
#endif
	return 0;
}

static void node_free(node_t *n)
{
	node_api_stop(n);
	if (n->tick_ev)
		event_free(n->tick_ev);
	if (n->flush_ev)
		event_free(n->flush_ev);
	if (n->gossip_ev)
		event_free(n->gossip_ev);
	if (n->note_ev)
		event_free(n->note_ev);
	if (n->sigterm_ev)
		event_free(n->sigterm_ev);
	if (n->sigint_ev)
		event_free(n->sigint_ev);
	pbft_free(n->pbft);
	peer_net_free(n->net);
	for (size_t i = 0; i < n->n_spec; i++)
		spec_block_free(&n->spec_blocks[i]);
	state_delta_free(n->built.delta);
	for (unsigned k = 0; k < NODE_IDS_CACHE; k++)
		free(n->ids_cache[k].ids);
	mempool_free(n->pool);
	map_free(n->claims);
	prefetch_free(n->pf);
	workers_free(n->workers);
	map_free(n->waiters);
	buf_free(&n->fwd);
	buf_free(&n->gossip_in);
	buf_free(&n->batch_waited);
	state_free(n->committed);
	state_free(n->spec);
	store_close(n->store);
	if (n->base) {
		/* one pass so libevent finishes closing connections */
		event_base_loop(n->base, EVLOOP_NONBLOCK);
		event_base_free(n->base);
	}
#ifdef BSEC_BYZANTINE
	byz_free(n);
#endif
	sig_key_free(n->key);
	free(n->peer_bad);
	free(n->peer_bad_logged_ms);
	genesis_free(&n->g);
	node_config_free(&n->cfg);
}

int node_run(const char *config_path)
{
	node_t *n = xcalloc(1, sizeof(*n));
	char err[1024];
	int ret = 1;
	signal(SIGPIPE, SIG_IGN);
	/* blocks and tx arrays are large and short-lived: keep them on the heap
	 * instead of mapping and zeroing fresh pages for each one */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	if (node_init(n, config_path, err, sizeof(err)) < 0) {
		log_error(MOD, "cannot start: %s", err);
		goto out;
	}
	log_info(MOD, "node %s (index %d of %zu) at height %llu; peers on %s, API on %s", n->cfg.name,
		 n->self, n->g.n_providers, (unsigned long long)store_height(n->store),
		 n->cfg.peer_listen ? n->cfg.peer_listen : n->me->peer,
		 n->cfg.api_listen ? n->cfg.api_listen : n->me->api);
	pbft_start(n->pbft, mono_ms());
	event_base_dispatch(n->base);
	ret = n->stopping ? 0 : 1;
	log_info(MOD, "stopped at height %llu", (unsigned long long)store_height(n->store));
out:
	node_free(n);
	free(n);
	return ret;
}
