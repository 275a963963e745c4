/*
 * audit.c — whole-chain verification from the genesis (audit.h).
 *
 * Three stages per chunk of blocks, so that the expensive part runs on
 * every core while the verdict stays deterministic:
 *   A  (this thread) read the next stored blocks with store_scan, decode
 *      header, txs and certificate, note what does not decode;
 *   B  (worker pool) verify every proposer signature, certificate and tx
 *      signature of the chunk, each result in its own slot;
 *   C  (this thread) walk the chunk in height order applying the checks in
 *      a fixed order (continuity, header, links, proposer, signatures,
 *      certificate, root, then each tx: signature, validate_tx, apply), so
 *      the first failure reported never depends on thread timing.
 * The replayed state is built by state_new + state_begin_block +
 * state_apply_tx, exactly as a node builds it.
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

typedef struct {
	uint64_t row_height;          /* height column of the stored row */
	int hdr_ok;                   /* hdr decoded */
	block_header_t hdr;
	char hdr_err[256];
	int body_ok;                  /* b and c decoded */
	block_t b;
	cert_t c;
	char body_err[320];
	int64_t body_err_tx;
	int64_t id_mismatch;          /* first tx whose stored id column differs */
	/* stage B results */
	int hdr_sig_ok;
	int cert_ok;
	char cert_err[256];
	uint8_t *tx_sig_ok;
} entry_t;

typedef enum { ITEM_HEADER, ITEM_CERT, ITEM_TX } item_kind_t;

typedef struct {
	entry_t *e;
	item_kind_t kind;
	uint32_t tx;
} item_t;

typedef struct {
	const genesis_t *g;
	item_t *items;
	size_t n;
	atomic_size_t next;
} pool_t;

typedef struct {
	const genesis_t *g;
	state_t *st;
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

/* ---- stage A: decode ---- */

static void entry_clear(entry_t *e)
{
	if (e->body_ok) {
		block_clear(&e->b);
		cert_clear(&e->c);
	}
	free(e->tx_sig_ok);
	memset(e, 0, sizeof(*e));
}

/* Decodes one stored block row into e (which owns everything after). */
static void decode_entry(entry_t *e, const store_scan_block_t *sb)
{
	rd_t r;
	buf_t raw, again;
	char why[256];
	size_t i, n = sb->n_txs;

	memset(e, 0, sizeof(*e));
	e->row_height = sb->height;
	e->body_err_tx = -1;
	e->id_mismatch = -1;
	buf_init(&raw);
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
	e->hdr_ok = 1;
	for (i = 0; i < n; i++) {
		if (sb->txs[i].index != i) {
			snprintf(e->body_err, sizeof(e->body_err), "tx %zu is missing from the ledger", i);
			e->body_err_tx = (int64_t)i;
			goto out;
		}
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
	buf_put(&raw, sb->header, sb->header_len);
	for (i = 0; i < n; i++)
		buf_blob32(&raw, sb->txs[i].raw, sb->txs[i].len);
	if (block_decode(&e->b, raw.data, raw.len, why, sizeof(why)) < 0) {
		/* name the tx when one is at fault */
		for (i = 0; i < n; i++) {
			tx_t t;
			char twhy[200];
			if (tx_decode(&t, sb->txs[i].raw, sb->txs[i].len, e->hdr.chain_id, twhy,
				      sizeof(twhy)) < 0) {
				snprintf(e->body_err, sizeof(e->body_err), "tx %zu does not decode: %s",
					 i, twhy);
				e->body_err_tx = (int64_t)i;
				goto out;
			}
			tx_clear(&t);
		}
		snprintf(e->body_err, sizeof(e->body_err), "block does not decode: %s", why);
		goto out;
	}
	if (cert_decode(&e->c, sb->cert, sb->cert_len, why, sizeof(why)) < 0) {
		block_clear(&e->b);
		snprintf(e->body_err, sizeof(e->body_err), "certificate does not decode: %s", why);
		goto out;
	}
	for (i = 0; i < n && e->id_mismatch < 0; i++)
		if (memcmp(sb->txs[i].stored_id, e->b.txs[i].id, BSEC_HASH_BYTES) != 0)
			e->id_mismatch = (int64_t)i;
	e->tx_sig_ok = xcalloc(n ? n : 1, 1);
	e->body_ok = 1;
out:
	buf_free(&raw);
	buf_free(&again);
}

/* ---- stage B: signatures on a pool of threads ---- */

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
	case ITEM_TX:
		e->tx_sig_ok[it->tx] = tx_verify_sig(&e->b.txs[it->tx], g->chain_id) == 0;
		break;
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

static void verify_chunk(const genesis_t *g, entry_t *es, size_t n, int threads)
{
	pool_t p;
	pthread_t tids[MAX_THREADS];
	size_t cap = 0, k = 0, want, spawned = 0;

	for (size_t i = 0; i < n; i++)
		cap += 2 + (es[i].body_ok ? es[i].b.hdr.tx_count : 0);
	p.g = g;
	p.items = xmalloc((cap ? cap : 1) * sizeof(item_t));
	for (size_t i = 0; i < n; i++) {
		entry_t *e = &es[i];
		if (e->hdr_ok)
			p.items[k++] = (item_t){ e, ITEM_HEADER, 0 };
		if (!e->body_ok)
			continue;
		p.items[k++] = (item_t){ e, ITEM_CERT, 0 };
		for (uint32_t t = 0; t < e->b.hdr.tx_count; t++)
			p.items[k++] = (item_t){ e, ITEM_TX, t };
	}
	p.n = k;
	atomic_init(&p.next, 0);
	/* a thread is worth starting only for a few dozen signatures */
	want = (size_t)threads;
	if (want > k / 32 + 1)
		want = k / 32 + 1;
	for (size_t t = 1; t < want; t++)
		if (pthread_create(&tids[spawned], NULL, worker, &p) == 0)
			spawned++;
	worker(&p);
	for (size_t t = 0; t < spawned; t++)
		pthread_join(tids[t], NULL);
	free(p.items);
}

/* ---- stage C: the verdict, in height order ---- */

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
	if (!e->hdr_sig_ok) {
		fail(w, h, -1, "block %" PRIu64 ": proposer signature does not verify", h);
		return;
	}
	if (!e->body_ok) {
		fail(w, h, e->body_err_tx, "block %" PRIu64 ": %s", h, e->body_err);
		return;
	}
	if (!e->cert_ok) {
		fail(w, h, -1, "block %" PRIu64 ": %s", h, e->cert_err);
		return;
	}
	if (block_check_root(&e->b) < 0) {
		if (e->id_mismatch >= 0)
			fail(w, h, e->id_mismatch,
			     "block %" PRIu64 ": tx_root does not match its txs (tx %" PRId64
			     " is not the tx that was committed)",
			     h, e->id_mismatch);
		else
			fail(w, h, -1, "block %" PRIu64 ": tx_root does not match its txs", h);
		return;
	}
	state_begin_block(w->st, h, hd->timestamp_ms);
	for (uint32_t i = 0; i < hd->tx_count; i++) {
		const tx_t *tx = &e->b.txs[i];
		if (!e->tx_sig_ok[i]) {
			fail(w, h, i, "block %" PRIu64 " tx %" PRIu32 ": signature does not verify", h, i);
			return;
		}
		code = validate_tx(w->st, tx, hd->timestamp_ms, &v);
		if (code != V_OK) {
			fail(w, h, i, "block %" PRIu64 " tx %" PRIu32 ": %s: %s", h, i, verr_name(code),
			     v.msg);
			return;
		}
		state_apply_tx(w->st, tx);
	}
	state_forget_undo(w->st);
	state_clear_dirty(w->st);
	memcpy(w->prev_hash, hd->hash, BSEC_HASH_BYTES);
	memcpy(w->rep->tip_hash, hd->hash, BSEC_HASH_BYTES);
	w->prev_ts = hd->timestamp_ms;
	w->expect++;
	w->rep->blocks++;
	w->rep->txs += hd->tx_count;
}

int audit_verify_dir(const char *dir, const char *genesis_path_or_null, int threads,
		     audit_report_t *rep)
{
	genesis_t g;
	int have_g = 0, end = 0, r;
	char *gpath = NULL, why[512];
	store_scan_t *sc = NULL;
	store_scan_block_t sb;
	entry_t *es = NULL;
	uint64_t t0 = mono_us(), stray, first;
	uint8_t cid[BSEC_HASH_BYTES];
	walk_t w;

	memset(rep, 0, sizeof(*rep));
	memset(&w, 0, sizeof(w));
	w.rep = rep;
	rep->bad_tx = -1;
	if (threads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
		threads = nc > 0 ? (int)nc : 1;
	}
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	rep->threads = threads;
	gpath = genesis_path_or_null ? xstrdup(genesis_path_or_null)
				     : xasprintf("%s/genesis.json", dir);
	if (genesis_load(&g, gpath, why, sizeof(why)) < 0) {
		fail(&w, 0, -1, "genesis `%s': %s", gpath, why);
		goto out;
	}
	have_g = 1;
	w.g = &g;
	memcpy(rep->chain_id, g.chain_id, BSEC_HASH_BYTES);
	memcpy(rep->tip_hash, g.chain_id, BSEC_HASH_BYTES);
	memcpy(w.prev_hash, g.chain_id, BSEC_HASH_BYTES);
	w.expect = 1;
	if (store_scan_open(&sc, dir, why, sizeof(why)) < 0) {
		fail(&w, 0, -1, "%s", why);
		goto out;
	}
	r = store_scan_chain_id(sc, cid);
	if (r < 0 || (r == 0 && memcmp(cid, g.chain_id, BSEC_HASH_BYTES) != 0)) {
		char a[2 * BSEC_HASH_BYTES + 1], b[2 * BSEC_HASH_BYTES + 1];
		hex_encode(b, g.chain_id, BSEC_HASH_BYTES);
		if (r < 0) {
			fail(&w, 0, -1, "the ledger in `%s' records no valid chain_id", dir);
		} else {
			hex_encode(a, cid, BSEC_HASH_BYTES);
			fail(&w, 0, -1, "the ledger in `%s' is of chain %s, the genesis founds %s",
			     dir, a, b);
		}
		goto out;
	}
	w.st = state_new(&g);
	es = xcalloc(CHUNK_BLOCKS, sizeof(*es));
	while (!w.done && !end) {
		size_t n = 0, ntx = 0;
		while (n < CHUNK_BLOCKS && ntx < (size_t)CHUNK_TXS_PER_THREAD * (size_t)threads) {
			r = store_scan_next(sc, &sb, why, sizeof(why));
			if (r != 0) {
				end = 1;
				if (r < 0)
					fail(&w, w.expect, -1, "reading the ledger: %s", why);
				break;
			}
			decode_entry(&es[n++], &sb);
			ntx += sb.n_txs;
		}
		if (!w.done) {
			verify_chunk(&g, es, n, threads);
			for (size_t i = 0; i < n && !w.done; i++)
				check_entry(&w, &es[i]);
		}
		for (size_t i = 0; i < n; i++)
			entry_clear(&es[i]);
	}
	if (!w.done && (stray = store_scan_stray(sc, &first)) != 0) {
		fail(&w, first, -1,
		     "block %" PRIu64 ": missing, yet the ledger files %" PRIu64
		     " tx rows under it or later heights",
		     first, stray);
	}
	if (!w.done)
		rep->ok = 1;
out:
	rep->elapsed_us = mono_us() - t0;
	free(es);
	state_free(w.st);
	store_scan_close(sc);
	if (have_g)
		genesis_free(&g);
	free(gpath);
	return rep->ok ? 0 : -1;
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
	return o;
}
