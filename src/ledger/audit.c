/*
 * audit.c — whole-chain verification from the genesis (audit.h).
 *
 * Three stages per chunk of blocks, so that the expensive part runs on
 * every core while the verdict stays deterministic:
 *   A  (this thread) read the next stored blocks from the source, decode
 *      headers and certificates, copy the tx rows, note what does not fit;
 *   B  (worker pool) decode every tx and verify every proposer signature,
 *      certificate and tx signature of the chunk, each result in its own
 *      slot;
 *   C  (this thread) walk the chunk in height order applying the checks in
 *      a fixed order (continuity, header, links, proposer, signatures,
 *      body, certificate, root, then each tx: signature, validate_tx,
 *      apply), so the first failure reported never depends on thread
 *      timing.
 * The stages are pipelined over three chunk slots: while the pool works
 * on chunk k, this thread judges chunk k-1 and reads chunk k+1, so the
 * serial replay overlaps the signature checks.  The replayed state is
 * built by state_new + state_begin_block + state_apply_tx, exactly as a
 * node builds it.  Stage A reads from an audit_source_t: the ledger file
 * through store_scan, or a node's API (src/audit/remote.c); stage C feeds
 * the optional observer.
 */
#include "audit.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "block.h"
#include "genesis.h"
#include "state.h"
#include "store.h"
#include "validate.h"

#define CHUNK_BLOCKS 256
#define CHUNK_TXS_PER_THREAD 2048
#define MAX_THREADS 256
#define SLOTS 3                       /* chunks in flight: read, verified, judged */

/* Per-tx outcome of stage B. */
enum { TX_PENDING = 0, TX_BAD_DECODE, TX_BAD_SIG, TX_GOOD };

typedef struct {
	uint64_t row_height;          /* height column of the stored row */
	int hdr_ok;                   /* hdr decoded */
	int roots_altered;            /* ROOTS_*_ALTERED: the txs changed at rest */
	block_header_t hdr;
	char hdr_err[256];
	int body_ok;                  /* rows complete, sizes fit, cert decoded */
	block_t b;                    /* b.txs / b.tx_ids filled by stage B */
	cert_t c;
	char body_err[320];
	int64_t body_err_tx;
	/* the tx rows, copied (the source's rows do not outlive the next read);
	 * the buffers are kept and reused when the slot is */
	uint8_t *arena;
	size_t arena_cap;
	size_t *off, *len;
	uint8_t (*sid)[BSEC_HASH_BYTES]; /* the source's ids, when it has them */
	size_t rows_cap;
	uint32_t n;
	/* stage B results */
	int hdr_sig_ok;
	int cert_ok;
	char cert_err[256];
	uint8_t *tx_state;            /* TX_* per tx */
} entry_t;

typedef enum { ITEM_HEADER, ITEM_CERT, ITEM_TX } item_kind_t;

/* txs per ITEM_TX: one Ed25519 batch */
#define AUDIT_TX_BATCH 64

typedef struct {
	entry_t *e;
	item_kind_t kind;
	uint32_t tx, cnt;   /* ITEM_TX: txs [tx, tx + cnt) */
} item_t;

typedef struct {
	const genesis_t *g;
	item_t *items;
	size_t n, cap;
	atomic_size_t next;
	pthread_t tids[MAX_THREADS];
	size_t spawned;
} pool_t;

typedef struct {
	entry_t *es;                  /* CHUNK_BLOCKS */
	size_t n;
	pool_t pool;
} chunk_t;

typedef struct {
	const genesis_t *g;
	state_t *st;
	const audit_observer_t *obs;
	int have_ids;
	audit_report_t *rep;
	uint64_t expect;              /* next height */
	uint8_t prev_hash[BSEC_HASH_BYTES];
	uint64_t prev_ts;
	int done;                     /* a failure was reported */
} walk_t;

static void fail(walk_t *w, uint64_t height, int64_t tx, const char *fmt, ...) PRINTF(4, 5);

static void fail(walk_t *w, uint64_t height, int64_t tx, const char *fmt, ...)
{
	va_list ap;
	w->rep->ok = 0;
	w->rep->bad_height = height;
	w->rep->bad_tx = tx;
	va_start(ap, fmt);
	vsnprintf(w->rep->reason, sizeof(w->rep->reason), fmt, ap);
	va_end(ap);
	/* the reason may quote stored bytes: keep it printable ASCII (and UTF-8) */
	for (char *c = w->rep->reason; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			*c = '?';
	w->done = 1;
}

/* ---- stage A: read and copy, decode header and certificate ---- */

/* Releases what one use of the slot decoded; keeps the reusable buffers. */
static void entry_clear(entry_t *e)
{
	uint8_t *arena = e->arena;
	size_t acap = e->arena_cap, rcap = e->rows_cap;
	size_t *off = e->off, *len = e->len;
	uint8_t (*sid)[BSEC_HASH_BYTES] = e->sid;
	uint8_t *ts = e->tx_state;
	block_clear(&e->b);
	cert_clear(&e->c);
	memset(e, 0, sizeof(*e));
	e->arena = arena;
	e->arena_cap = acap;
	e->off = off;
	e->len = len;
	e->sid = sid;
	e->tx_state = ts;
	e->rows_cap = rcap;
}

static void entry_free(entry_t *e)
{
	entry_clear(e);
	free(e->arena);
	free(e->off);
	free(e->len);
	free(e->sid);
	free(e->tx_state);
	memset(e, 0, sizeof(*e));
}

/* Reads one stored block row into e: header and certificate decoded, the
 * tx rows copied for stage B.  have_ids: the rows carry the source's tx
 * ids (a hint for messages). */
static void decode_entry(entry_t *e, const store_scan_block_t *sb, int have_ids)
{
	rd_t r;
	buf_t again;
	char why[256];
	size_t i, n = sb->n_txs, total = sb->header_len;

	entry_clear(e);
	e->row_height = sb->height;
	e->roots_altered = sb->roots_altered;
	e->body_err_tx = -1;
	buf_init(&again);
	rd_init(&r, sb->header, sb->header_len);
	if (block_header_read(&r, &e->hdr) < 0 || !rd_end(&r)) {
		snprintf(e->hdr_err, sizeof(e->hdr_err), "header does not decode: offset %zu: %s",
			 r.err_off, r.err ? r.err : "bad header");
		goto out;
	}
	block_header_encode(&again, &e->hdr);
	if (again.len != sb->header_len || memcmp(again.data, sb->header, again.len) != 0) {
		snprintf(e->hdr_err, sizeof(e->hdr_err), "header encoding is not canonical");
		goto out;
	}
	if (sb->columns_differ) {
		snprintf(e->hdr_err, sizeof(e->hdr_err),
			 "the row's timestamp or tx count columns are not its signed header's (the "
			 "ledger's history reads them: changed at rest)");
		goto out;
	}
	e->hdr_ok = 1;
	for (i = 0; i < n; i++) {
		if (sb->txs[i].index != i) {
			snprintf(e->body_err, sizeof(e->body_err), "tx %zu is missing from the ledger", i);
			e->body_err_tx = (int64_t)i;
			goto out;
		}
		total += 4 + sb->txs[i].len;
	}
	if (n != e->hdr.tx_count) {
		if (n < e->hdr.tx_count)
			snprintf(e->body_err, sizeof(e->body_err),
				 "tx %zu is missing from the ledger (the header lists %" PRIu32 " txs)",
				 n, e->hdr.tx_count);
		else
			snprintf(e->body_err, sizeof(e->body_err),
				 "the ledger holds %zu txs, the header lists %" PRIu32, n,
				 e->hdr.tx_count);
		e->body_err_tx = (int64_t)(n < e->hdr.tx_count ? n : e->hdr.tx_count);
		goto out;
	}
	if (total > BLOCK_MAX_BYTES) {
		snprintf(e->body_err, sizeof(e->body_err), "block does not decode: block of %zu bytes "
			 "exceeds the limit", total);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (sb->txs[i].len > TX_MAX_BYTES) {
			snprintf(e->body_err, sizeof(e->body_err),
				 "tx %zu does not decode: tx of %zu bytes exceeds the limit of %d", i,
				 sb->txs[i].len, TX_MAX_BYTES);
			e->body_err_tx = (int64_t)i;
			goto out;
		}
	}
	if (cert_decode(&e->c, sb->cert, sb->cert_len, why, sizeof(why)) < 0) {
		snprintf(e->body_err, sizeof(e->body_err), "certificate does not decode: %s", why);
		goto out;
	}
	/* copy the rows: one arena per slot, grown, never shrunk */
	if (n > e->rows_cap) {
		e->rows_cap = n;
		e->off = xrealloc(e->off, n * sizeof(size_t));
		e->len = xrealloc(e->len, n * sizeof(size_t));
		e->sid = xrealloc(e->sid, n * BSEC_HASH_BYTES);
		e->tx_state = xrealloc(e->tx_state, n);
	}
	if (total > e->arena_cap) {
		e->arena_cap = total;
		free(e->arena);
		e->arena = xmalloc(total);
	}
	size_t at = 0;
	for (i = 0; i < n; i++) {
		e->off[i] = at;
		e->len[i] = sb->txs[i].len;
		if (sb->txs[i].len)
			memcpy(e->arena + at, sb->txs[i].raw, sb->txs[i].len);
		at += sb->txs[i].len;
		if (have_ids)
			memcpy(e->sid[i], sb->txs[i].stored_id, BSEC_HASH_BYTES);
		e->tx_state[i] = TX_PENDING;
	}
	e->n = (uint32_t)n;
	e->b.hdr = e->hdr;
	e->b.txs = xcalloc(n ? n : 1, sizeof(tx_t));
	e->b.tx_ids = xmalloc((n ? n : 1) * BSEC_HASH_BYTES);
	e->body_ok = 1;
out:
	buf_free(&again);
}

/* ---- stage B: decoding and signatures on a pool of threads ---- */

static void run_item(const genesis_t *g, const item_t *it)
{
	entry_t *e = it->e;
	switch (it->kind) {
	case ITEM_HEADER:
		e->hdr_sig_ok = block_header_verify_sig(&e->hdr) == 0;
		break;
	case ITEM_CERT:
		e->cert_ok = cert_verify(&e->c, g, e->hdr.height, e->hdr.hash, e->cert_err,
					 sizeof(e->cert_err)) == 0;
		break;
	case ITEM_TX: {
		/* txs [tx, tx + cnt): decoded one by one, signatures in a batch */
		const tx_t *chk[AUDIT_TX_BATCH] = { 0 };
		uint32_t at[AUDIT_TX_BATCH];
		uint8_t bad[AUDIT_TX_BATCH];
		size_t need = 0;
		for (uint32_t i = it->tx; i < it->tx + it->cnt; i++) {
			tx_t *t = &e->b.txs[i];
			if (tx_decode(t, e->arena + e->off[i], e->len[i], e->hdr.chain_id, NULL, 0) < 0) {
				e->tx_state[i] = TX_BAD_DECODE;
				continue;
			}
			memcpy(e->b.tx_ids[i], t->id, BSEC_HASH_BYTES);
			at[need] = i;
			chk[need++] = t;
		}
		tx_verify_sigs(chk, need, g->chain_id, bad);
		for (size_t k = 0; k < need; k++)
			e->tx_state[at[k]] = bad[k] ? TX_BAD_SIG : TX_GOOD;
		break;
	}
	}
}

static void *worker(void *arg)
{
	pool_t *p = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			break;
		run_item(p->g, &p->items[i]);
	}
	return NULL;
}

/* Starts stage B for a chunk on `threads` new threads (or runs it here
 * when threads is 1); pool_wait finishes it. */
static void pool_start(chunk_t *ch, const genesis_t *g, int threads)
{
	pool_t *p = &ch->pool;
	size_t need = 0, k = 0, want;
	for (size_t i = 0; i < ch->n; i++)
		need += 2 + (ch->es[i].body_ok ? ch->es[i].n : 0);
	if (need > p->cap) {
		p->cap = need;
		free(p->items);
		p->items = xmalloc(need * sizeof(item_t));
	}
	p->g = g;
	for (size_t i = 0; i < ch->n; i++) {
		entry_t *e = &ch->es[i];
		if (e->hdr_ok)
			p->items[k++] = (item_t){ e, ITEM_HEADER, 0, 0 };
		if (!e->body_ok)
			continue;
		p->items[k++] = (item_t){ e, ITEM_CERT, 0, 0 };
		for (uint32_t t = 0; t < e->n; t += AUDIT_TX_BATCH)
			p->items[k++] = (item_t){ e, ITEM_TX, t,
						  e->n - t < AUDIT_TX_BATCH ? e->n - t : AUDIT_TX_BATCH };
	}
	p->n = k;
	atomic_init(&p->next, 0);
	p->spawned = 0;
	/* a thread is worth starting only for a few items (a batch of txs each) */
	want = (size_t)threads;
	if (want > k / 4 + 1)
		want = k / 4 + 1;
	if (threads <= 1) {
		worker(p);
		return;
	}
	for (size_t t = 0; t < want; t++)
		if (pthread_create(&p->tids[p->spawned], NULL, worker, p) == 0)
			p->spawned++;
	if (!p->spawned)
		worker(p);
}

static void pool_wait(chunk_t *ch)
{
	pool_t *p = &ch->pool;
	/* help with what is left rather than sleep */
	worker(p);
	for (size_t t = 0; t < p->spawned; t++)
		pthread_join(p->tids[t], NULL);
	p->spawned = 0;
}

/* ---- stage C: the verdict, in height order ---- */

/* The txs do not give the header's tx_root: names the first whose id is
 * not the one its row was filed under, when the rows say. */
static void fail_tx_root(walk_t *w, const entry_t *e, uint64_t h)
{
	int64_t bad = -1;
	for (uint32_t i = 0; w->have_ids && i < e->n && bad < 0; i++)
		if (memcmp(e->sid[i], e->b.tx_ids[i], STORE_ID_HINT_BYTES) != 0)
			bad = i;
	if (bad >= 0)
		fail(w, h, bad,
		     "block %" PRIu64 ": tx_root does not match its txs (tx %" PRId64
		     " is not the tx that was committed)",
		     h, bad);
	else
		fail(w, h, -1, "block %" PRIu64 ": tx_root does not match its txs", h);
}

static void check_entry(walk_t *w, entry_t *e)
{
	const genesis_t *g = w->g;
	const block_header_t *hd = &e->hdr;
	uint64_t h = w->expect;
	char a[2 * BSEC_HASH_BYTES + 1], b[2 * BSEC_HASH_BYTES + 1];
	const provider_t *p;
	verdict_t v;
	verr_t code;

	if (e->row_height != h) {
		if (h == 1)
			fail(w, h, -1, "block 1: missing (the ledger starts at block %" PRIu64 ")",
			     e->row_height);
		else
			fail(w, h, -1,
			     "block %" PRIu64 ": missing (the ledger goes from block %" PRIu64
			     " to block %" PRIu64 ")",
			     h, h - 1, e->row_height);
		return;
	}
	if (!e->hdr_ok) {
		fail(w, h, -1, "block %" PRIu64 ": %s", h, e->hdr_err);
		return;
	}
	if (hd->height != h) {
		fail(w, h, -1, "block %" PRIu64 ": its header says height %" PRIu64, h, hd->height);
		return;
	}
	if (memcmp(hd->chain_id, g->chain_id, BSEC_HASH_BYTES) != 0) {
		hex_encode(a, hd->chain_id, BSEC_HASH_BYTES);
		hex_encode(b, g->chain_id, BSEC_HASH_BYTES);
		fail(w, h, -1, "block %" PRIu64 ": chain_id %s is not the genesis's %s", h, a, b);
		return;
	}
	if (memcmp(hd->prev_hash, w->prev_hash, BSEC_HASH_BYTES) != 0) {
		if (h == 1)
			fail(w, h, -1, "block 1: prev_hash is not the chain_id");
		else
			fail(w, h, -1,
			     "block %" PRIu64 ": prev_hash does not match block %" PRIu64 "'s hash", h,
			     h - 1);
		return;
	}
	if (h > 1 && hd->timestamp_ms <= w->prev_ts) {
		fail(w, h, -1,
		     "block %" PRIu64 ": timestamp %" PRIu64 " is not after block %" PRIu64
		     "'s %" PRIu64,
		     h, hd->timestamp_ms, h - 1, w->prev_ts);
		return;
	}
	if (hd->proposer >= g->n_providers) {
		fail(w, h, -1, "block %" PRIu64 ": proposer index %u is not a member (n = %zu)", h,
		     hd->proposer, g->n_providers);
		return;
	}
	p = &g->providers[hd->proposer];
	if (hd->proposer_scheme != p->node_key.scheme ||
	    memcmp(hd->proposer_key, p->node_key.key, sig_pub_len(hd->proposer_scheme)) != 0) {
		fail(w, h, -1, "block %" PRIu64 ": proposer key is not the node key of provider %u (%s)",
		     h, hd->proposer, p->name);
		return;
	}
	/* a header rebuilt with the roots of altered txs fails its signature
	 * (and its certificate): the txs are the finding, below */
	if (!e->hdr_sig_ok && !e->roots_altered) {
		fail(w, h, -1, "block %" PRIu64 ": proposer signature does not verify", h);
		return;
	}
	if (!e->body_ok) {
		fail(w, h, e->body_err_tx, "block %" PRIu64 ": %s", h, e->body_err);
		return;
	}
	for (uint32_t i = 0; i < e->n; i++) {
		if (e->tx_state[i] == TX_BAD_DECODE) {
			tx_t t;
			char why[200];
			if (tx_decode(&t, e->arena + e->off[i], e->len[i], hd->chain_id, why, sizeof(why)) == 0) {
				tx_clear(&t);
				snprintf(why, sizeof(why), "decoding failed");
			}
			fail(w, h, i, "block %" PRIu64 ": tx %" PRIu32 " does not decode: %s", h, i, why);
			return;
		}
	}
	if (!e->cert_ok && !e->roots_altered) {
		fail(w, h, -1, "block %" PRIu64 ": %s", h, e->cert_err);
		return;
	}
	if ((e->roots_altered & ROOTS_TX_ALTERED) || block_check_root(&e->b) < 0) {
		fail_tx_root(w, e, h);
		return;
	}
	if ((e->roots_altered & ROOTS_SIG_ALTERED) || block_check_sig_root(&e->b) < 0) {
		/* a signature that does not verify is the more precise finding */
		for (uint32_t i = 0; i < hd->tx_count; i++)
			if (e->tx_state[i] != TX_GOOD) {
				fail(w, h, i, "block %" PRIu64 " tx %" PRIu32 ": signature does not verify", h, i);
				return;
			}
		fail(w, h, -1,
		     "block %" PRIu64 ": sig_root does not match its txs' signatures (one was replaced after the block was sealed)",
		     h);
		return;
	}
	state_begin_block(w->st, h, hd->timestamp_ms);
	for (uint32_t i = 0; i < hd->tx_count; i++) {
		const tx_t *tx = &e->b.txs[i];
		if (e->tx_state[i] != TX_GOOD) {
			fail(w, h, i, "block %" PRIu64 " tx %" PRIu32 ": signature does not verify", h, i);
			return;
		}
		code = validate_tx(w->st, tx, hd->timestamp_ms, &v);
		if (code != V_OK) {
			fail(w, h, i, "block %" PRIu64 " tx %" PRIu32 ": %s: %s", h, i, verr_name(code),
			     v.msg);
			return;
		}
		if (w->obs && w->obs->before_tx)
			w->obs->before_tx(w->obs->ctx, w->st, hd, i, tx);
		state_apply_tx(w->st, tx);
		if (w->obs && w->obs->after_tx)
			w->obs->after_tx(w->obs->ctx, w->st, hd, i, tx);
		w->rep->responses += tx->type == TX_RESPONSE;
		w->rep->attestations += tx->type == TX_ATTEST;
	}
	if (w->obs && w->obs->after_block)
		w->obs->after_block(w->obs->ctx, w->st, hd);
	state_forget_undo(w->st);
	state_clear_dirty(w->st);
	memcpy(w->prev_hash, hd->hash, BSEC_HASH_BYTES);
	memcpy(w->rep->tip_hash, hd->hash, BSEC_HASH_BYTES);
	w->prev_ts = hd->timestamp_ms;
	w->expect++;
	w->rep->blocks++;
	w->rep->txs += hd->tx_count;
	w->rep->signatures += 1 + (uint64_t)e->c.n + hd->tx_count;
}

static int threads_online(int threads)
{
	if (threads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		threads = nc > 0 ? (int)nc : 1;
	}
	return threads > MAX_THREADS ? MAX_THREADS : threads;
}

/* Stage A for one chunk: reads up to CHUNK_BLOCKS blocks (or the tx budget).
 * Returns 0, or 1 at the end of the source (*read_err set on an error,
 * the reason in why). */
static int read_chunk(const audit_source_t *src, chunk_t *ch, int threads, int *read_err, char *why,
		      size_t wl)
{
	store_scan_block_t sb;
	size_t ntx = 0;
	ch->n = 0;
	while (ch->n < CHUNK_BLOCKS && ntx < (size_t)CHUNK_TXS_PER_THREAD * (size_t)threads) {
		int r = src->next(src->ctx, &sb, why, wl);
		if (r != 0) {
			*read_err = r < 0;
			return 1;
		}
		decode_entry(&ch->es[ch->n++], &sb, src->have_ids);
		ntx += sb.n_txs;
	}
	return 0;
}

/*
 * The main loop pipelines the stages over SLOTS chunks: while the pool
 * verifies chunk k (B), this thread judges chunk k-1 (C) and reads chunk
 * k+1 (A), so the serial replay overlaps the signature work.
 */
int audit_verify_source(const audit_source_t *src, const genesis_t *g, int threads,
			const audit_observer_t *obs, audit_report_t *rep)
{
	int r, read_err = 0, end = 0;
	char why[512];
	uint64_t t0 = mono_us(), stray, first;
	uint8_t cid[BSEC_HASH_BYTES];
	chunk_t ch[SLOTS];
	int judged = -1;              /* slot verified and waiting for stage C, or -1 */
	int running = -1;             /* slot in stage B, or -1 */
	int ready = -1;               /* slot read and waiting for stage B, or -1 */
	walk_t w;

	memset(rep, 0, sizeof(*rep));
	memset(&w, 0, sizeof(w));
	memset(ch, 0, sizeof(ch));
	w.rep = rep;
	w.g = g;
	w.obs = obs;
	w.have_ids = src->have_ids;
	rep->bad_tx = -1;
	threads = threads_online(threads);
	rep->threads = threads;
	memcpy(rep->chain_id, g->chain_id, BSEC_HASH_BYTES);
	memcpy(rep->tip_hash, g->chain_id, BSEC_HASH_BYTES);
	memcpy(w.prev_hash, g->chain_id, BSEC_HASH_BYTES);
	w.expect = 1;
	why[0] = 0;
	r = src->chain_id ? src->chain_id(src->ctx, cid, why, sizeof(why)) : 1;
	if (r < 0 || (r == 0 && memcmp(cid, g->chain_id, BSEC_HASH_BYTES) != 0)) {
		char a[2 * BSEC_HASH_BYTES + 1], b[2 * BSEC_HASH_BYTES + 1];
		hex_encode(b, g->chain_id, BSEC_HASH_BYTES);
		if (r < 0) {
			fail(&w, 0, -1, "the ledger in `%s' records no valid chain_id%s%s", src->name,
			     why[0] ? ": " : "", why);
		} else {
			hex_encode(a, cid, BSEC_HASH_BYTES);
			fail(&w, 0, -1, "the ledger in `%s' is of chain %s, the genesis founds %s",
			     src->name, a, b);
		}
		goto out;
	}
	w.st = state_new(g);
	for (int i = 0; i < SLOTS; i++)
		ch[i].es = xcalloc(CHUNK_BLOCKS, sizeof(entry_t));
	/* prime: read chunk 0 */
	end = read_chunk(src, &ch[0], threads, &read_err, why, sizeof(why));
	ready = 0;
	for (;;) {
		/* B: start verifying the chunk that was read */
		if (ready >= 0 && ch[ready].n && !w.done) {
			pool_start(&ch[ready], g, threads);
			running = ready;
		}
		ready = -1;
		/* C: judge the previous chunk meanwhile */
		if (judged >= 0) {
			for (size_t i = 0; i < ch[judged].n && !w.done; i++)
				check_entry(&w, &ch[judged].es[i]);
			judged = -1;
		}
		/* A: read the next one meanwhile */
		if (!end && !w.done && running >= 0) {
			int slot = (running + 1) % SLOTS;
			end = read_chunk(src, &ch[slot], threads, &read_err, why, sizeof(why));
			ready = slot;
		}
		if (running < 0)
			break;
		pool_wait(&ch[running]);
		judged = running;
		running = -1;
		if (w.done) {
			judged = -1;
			break;
		}
	}
	if (!w.done && read_err)
		fail(&w, w.expect, -1, "reading the ledger: %s", why);
	if (!w.done && src->stray && (stray = src->stray(src->ctx, &first)) != 0) {
		fail(&w, first, -1,
		     "block %" PRIu64 ": missing, yet the ledger files %" PRIu64
		     " tx rows under it or later heights",
		     first, stray);
	}
	/* the walk's figures stop here; the rows' comparison is timed apart */
	rep->elapsed_us = mono_us() - t0;
	if (!w.done && src->derived) {
		uint64_t d0 = mono_us();
		rep->derived = src->derived(src->ctx, w.st, why, sizeof(why));
		rep->derived_us = mono_us() - d0;
		if (rep->derived == AUDIT_DERIVED_DIFFER)
			fail(&w, 0, -1, "the ledger's derived rows (what its node serves) disagree with its "
					"chain: %s", why);
		else if (rep->derived == AUDIT_DERIVED_SKIPPED)
			snprintf(rep->derived_note, sizeof(rep->derived_note), "%s", why);
	}
	if (!w.done)
		rep->ok = 1;
	goto done;
out:
	rep->elapsed_us = mono_us() - t0;
done:
	for (int i = 0; i < SLOTS; i++) {
		if (!ch[i].es)
			continue;
		for (size_t k = 0; k < CHUNK_BLOCKS; k++)
			entry_free(&ch[i].es[k]);
		free(ch[i].es);
		free(ch[i].pool.items);
	}
	state_free(w.st);
	return rep->ok ? 0 : -1;
}

/* ---- the ledger file as a source ---- */

typedef struct {
	store_scan_t *sc;
	const char *dir;
	const genesis_t *g;
} dir_src_t;

static int dir_chain_id(void *ctx, uint8_t out[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return store_scan_chain_id(((dir_src_t *)ctx)->sc, out) != 0 ? -1 : 0;
}

static int dir_next(void *ctx, store_scan_block_t *blk, char *err, size_t errlen)
{
	return store_scan_next(((dir_src_t *)ctx)->sc, blk, err, errlen);
}

/* The rows as a node would load them at start, read in one transaction
 * with the tip they belong to. */
static int dir_derived(void *ctx, const state_t *replayed, char *why, size_t wl)
{
	dir_src_t *d = ctx;
	store_t *s = NULL;
	state_t *st = NULL;
	char err[256];
	int r = AUDIT_DERIVED_SKIPPED;
	if (store_open(&s, d->dir, d->g, 1, err, sizeof(err)) < 0) {
		err_set(why, wl, "derived rows not compared: %s", err);
		goto out;
	}
	st = state_new(d->g);
	if (store_load_state_snapshot(s, st, err, sizeof(err)) < 0) {
		/* rows a node could not load either (it would not start) */
		err_set(why, wl, "they do not load: %s", err);
		r = AUDIT_DERIVED_DIFFER;
		goto out;
	}
	if (state_height(st) != state_height(replayed)) {
		err_set(why, wl,
			"derived rows not compared: the ledger grew while it was read (%" PRIu64
			" blocks verified, %" PRIu64 " now)",
			state_height(replayed), state_height(st));
		goto out;
	}
	r = state_diff(replayed, st, err, sizeof(err)) ? AUDIT_DERIVED_DIFFER : AUDIT_DERIVED_SAME;
	if (r == AUDIT_DERIVED_DIFFER) {
		err_set(why, wl, "%s (first: the chain's, second: the stored rows)", err);
		goto out;
	}
	/* and the index columns history and accountability go by */
	int ix = store_check_index(s, state_height(replayed), err, sizeof(err));
	if (ix != 0) {
		r = ix > 0 ? AUDIT_DERIVED_DIFFER : AUDIT_DERIVED_SKIPPED;
		err_set(why, wl, "%s%s", ix > 0 ? "" : "index rows not compared: ", err);
	}
out:
	state_free(st);
	store_close(s);
	return r;
}

static uint64_t dir_stray(void *ctx, uint64_t *first)
{
	return store_scan_stray(((dir_src_t *)ctx)->sc, first);
}

int audit_verify_dir_obs(const char *dir, const char *genesis_path_or_null, int threads,
			 const audit_observer_t *obs, audit_report_t *rep)
{
	genesis_t g;
	char *gpath, why[512];
	store_scan_t *sc = NULL;
	int ret = -1;

	gpath = genesis_path_or_null ? xstrdup(genesis_path_or_null)
				     : xasprintf("%s/genesis.json", dir);
	if (genesis_load(&g, gpath, why, sizeof(why)) < 0) {
		memset(rep, 0, sizeof(*rep));
		rep->bad_tx = -1;
		rep->threads = threads_online(threads);
		err_set(rep->reason, sizeof(rep->reason), "genesis `%s': %s", gpath, why);
		free(gpath);
		return -1;
	}
	if (store_scan_open(&sc, dir, &g, why, sizeof(why)) < 0) {
		memset(rep, 0, sizeof(*rep));
		rep->bad_tx = -1;
		rep->threads = threads_online(threads);
		memcpy(rep->chain_id, g.chain_id, BSEC_HASH_BYTES);
		memcpy(rep->tip_hash, g.chain_id, BSEC_HASH_BYTES);
		err_set(rep->reason, sizeof(rep->reason), "%s", why);
		goto out;
	}
	dir_src_t ds = { sc, dir, &g };
	audit_source_t src = { &ds, dir_chain_id, dir_next, dir_stray, 1, dir, dir_derived };
	ret = audit_verify_source(&src, &g, threads, obs, rep);
out:
	store_scan_close(sc);
	genesis_free(&g);
	free(gpath);
	return ret;
}

int audit_verify_dir(const char *dir, const char *genesis_path_or_null, int threads,
		     audit_report_t *rep)
{
	return audit_verify_dir_obs(dir, genesis_path_or_null, threads, NULL, rep);
}

json_t *audit_report_to_json(const audit_report_t *rep)
{
	char cid[2 * BSEC_HASH_BYTES + 1], tip[2 * BSEC_HASH_BYTES + 1];
	json_t *o = json_object();

	hex_encode(cid, rep->chain_id, BSEC_HASH_BYTES);
	hex_encode(tip, rep->tip_hash, BSEC_HASH_BYTES);
	json_object_set_new(o, "ok", json_boolean(rep->ok));
	json_object_set_new(o, "blocks", json_integer((json_int_t)rep->blocks));
	json_object_set_new(o, "txs", json_integer((json_int_t)rep->txs));
	json_object_set_new(o, "bad_height",
			    rep->ok ? json_null() : json_integer((json_int_t)rep->bad_height));
	json_object_set_new(o, "bad_tx",
			    rep->ok || rep->bad_tx < 0 ? json_null() : json_integer(rep->bad_tx));
	json_object_set_new(o, "reason", rep->ok ? json_null() : json_string(rep->reason));
	json_object_set_new(o, "chain_id", json_string(cid));
	json_object_set_new(o, "tip_hash", json_string(tip));
	json_object_set_new(o, "threads", json_integer(rep->threads));
	json_object_set_new(o, "elapsed_us", json_integer((json_int_t)rep->elapsed_us));
	json_object_set_new(o, "txs_per_s",
			    json_real(rep->elapsed_us ? (double)rep->txs * 1e6 / (double)rep->elapsed_us
						      : 0.0));
	json_object_set_new(o, "responses", json_integer((json_int_t)rep->responses));
	json_object_set_new(o, "attestations", json_integer((json_int_t)rep->attestations));
	json_object_set_new(o, "signatures", json_integer((json_int_t)rep->signatures));
	static const char *const derived[] = { NULL, "same", "differ", "skipped" };
	json_object_set_new(o, "derived_rows",
			    rep->derived > 0 && rep->derived <= AUDIT_DERIVED_SKIPPED
				    ? json_string(derived[rep->derived]) : json_null());
	if (rep->derived == AUDIT_DERIVED_SKIPPED)
		json_object_set_new(o, "derived_note", json_string(rep->derived_note));
	if (rep->derived != AUDIT_DERIVED_NONE)
		json_object_set_new(o, "derived_us", json_integer((json_int_t)rep->derived_us));
	return o;
}
