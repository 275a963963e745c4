/*
 * store.h — the SQLite ledger store: blocks, txs, certificates, indexes
 * (by sender, type, request->response, object) and the state derived from
 * the chain (tenants, SLAs, objects), in DIR/ledger.db.
 *
 * WAL mode, synchronous=FULL for durability; appending a block is one SQL
 * transaction (block, its txs, certificate, dirty state rows); every
 * statement is prepared once at open.  store_open checks the tip: the last
 * block decodes, its hash matches its recorded hash, it links to the
 * previous one and its certificate verifies against the genesis.  A full
 * check is audit_verify (audit.h).
 *
 * A consensus "meta" table (key -> blob) lets the node persist its view and
 * the votes it is about to send, in the same file.
 *
 * Not thread-safe: one thread owns a store_t.
 */
#ifndef BSEC_STORE_H
#define BSEC_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "block.h"
#include "genesis.h"
#include "state.h"

typedef struct store_t store_t;

/* Opens (creating when absent) DIR/ledger.db for the consortium g, which
 * must outlive the store.  A store made for another chain_id is refused.
 * readonly: open without creating or writing (auditors). */
int store_open(store_t **out, const char *dir, const genesis_t *g, int readonly,
	       char *err, size_t errlen) WUR;
void store_close(store_t *s);
/* Log frames after which a checkpoint starts (default 4096 pages of
 * 16 KiB; tests use small values), and how many checkpoints the
 * background thread ran, how many of those failed, and how many the
 * writer ran itself: the few frames left behind by a background run (so
 * the log restarts from its start), or all of them past 4 x the
 * threshold. */
void store_set_checkpoint_pages(store_t *s, unsigned pages);

/* The index by tx id (tx_ids) is written in sorted batches: a tx's id
 * reaches it before 2^bits more txs are appended (default 16, 1 to 16;
 * tests use small values), and waits in memory until then; the ids
 * waiting are carried over.  On a read-only store: the writer's setting,
 * so that the reader looks for waiting ids among the last 2^bits txs. */
void store_set_id_sweep(store_t *s, unsigned bits);

/* Tests only (NULL otherwise): called by a read-only lookup between its
 * look in tx_ids and its load of the recent ids, where a writer's
 * appends race with it. */
extern void (*store_test_hook)(void *);
extern void *store_test_arg;
void store_checkpoint_stats(store_t *s, uint64_t *background, uint64_t *failed,
			    uint64_t *inline_runs);

uint64_t store_height(const store_t *s);               /* 0 when empty */
const uint8_t *store_tip_hash(const store_t *s);       /* chain_id when empty */
uint64_t store_tip_ts(const store_t *s);

/* Batch mode (on = 1): the appends that follow share one SQL transaction
 * until store_batch(s, 0), or until a store_meta_put, commits it (one WAL
 * write per page that several blocks change, one fsync).  For state
 * transfer, where the blocks are certified and a crash only means
 * fetching them again.  If an append or the commit fails, every block
 * of the open transaction is rolled back and the tip is the last durable
 * one again (err says so).  store_meta_del joins the open transaction;
 * store_meta_put(_many) commits it first, so its promise of durability covers
 * the blocks too. */
int store_batch(store_t *s, int on, char *err, size_t errlen);
/* Appends block b (height = store_height+1, prev_hash = tip) with its
 * certificate, in one SQL transaction, together with st's dirty rows
 * (state_foreach_dirty); clears st's dirty set on success.  raw/raw_len
 * is b's encoding when the caller already has it (else NULL).  On any
 * error nothing is written and -1 is returned with the reason. */
int store_append(store_t *s, const block_t *b, const uint8_t *raw, size_t raw_len,
		 const cert_t *c, state_t *st, char *err, size_t errlen) WUR;
/* The same with the derived rows from delta d (state_take_delta, taken
 * right after b's txs were applied); d is left as it is. */
int store_append_delta(store_t *s, const block_t *b, const cert_t *c, const state_delta_t *d,
		       char *err, size_t errlen) WUR;

/* Encoded block and certificate at height (caller frees both). */
int store_get_block_raw(store_t *s, uint64_t height, uint8_t **block, size_t *block_len,
			uint8_t **cert, size_t *cert_len) WUR;
int store_get_block(store_t *s, uint64_t height, block_t *b, cert_t *c,
		    char *err, size_t errlen) WUR;

/* Timestamp of the block at height: 0 and *ts, or -1 when there is none. */
int store_block_ts(store_t *s, uint64_t height, uint64_t *ts) WUR;

/* Tx lookup by id: signed bytes (caller frees), height and index. */
int store_get_tx(store_t *s, const uint8_t id[BSEC_HASH_BYTES], uint8_t **raw, size_t *len,
		 uint64_t *height, uint32_t *index) WUR;
/* Response to a request, if any: 0 and resp_id set, 1 when none, -1 error. */
int store_find_response(store_t *s, const uint8_t req_id[BSEC_HASH_BYTES],
			uint8_t resp_id[BSEC_HASH_BYTES]);

/* Loads the derived state into st (fresh from state_new): tenants,
 * objects, open requests, the recent txs within the window, the tip. */
int store_load_state(store_t *s, state_t *st, char *err, size_t errlen) WUR;
/* The same in one read transaction, with the tip read again inside it:
 * the rows and the tip of one moment, even while a node appends (a
 * read-only reader's view of a live ledger). */
int store_load_state_snapshot(store_t *s, state_t *st, char *err, size_t errlen) WUR;

/* The index columns the history and accountability queries filter and
 * join on, against the txs of blocks up to `upto` they index: each tx
 * row's id prefix, type, sender, domain and the request a response
 * answers, and the object index (the objects each request names).  0
 * when they agree, 1 when not (why says where), -1 on error. */
int store_check_index(store_t *s, uint64_t upto, char *why, size_t wl) WUR;

/* Only the tenants (names, SLAs) and the last attestations, and the tip:
 * what audit reports need to name tenants, without the cost of loading
 * every object and open request of a long chain.  The state is then good
 * for those queries only, never for validation. */
int store_load_state_light(store_t *s, state_t *st, char *err, size_t errlen) WUR;

/* Consensus metadata, persisted with fsync before returning. */
int store_meta_put(store_t *s, const char *key, const void *val, size_t len) WUR;
/* n records in one transaction (one fsync): all of them or none. */
int store_meta_put_many(store_t *s, size_t n, const char *const *keys, const uint8_t *const *vals,
			const size_t *lens) WUR;
/* 0 and a fresh copy (caller frees), 1 when absent, -1 on error. */
int store_meta_get(store_t *s, const char *key, uint8_t **val, size_t *len);
/* Deletes a key (absent is fine). 0 / -1.  Not durable by itself: the
 * delete joins an open batch, or else waits for the next write (a put, an
 * append) and runs first in its transaction; reads of the metadata and
 * store_close run the waiting ones first. */
int store_meta_del(store_t *s, const char *key);
/* Calls cb for every key starting with prefix, in key order; stops when cb
 * returns non-zero (then returns 1).  -1 on a database error. */
typedef int (*store_meta_cb)(void *ctx, const char *key, const void *val, size_t len);
int store_meta_foreach(store_t *s, const char *prefix, store_meta_cb cb, void *ctx);

/* Tx index queries for audit history and APIs.  Calls cb for each match
 * in chain order (height, index) with the signed bytes.  Filters: sender
 * (scheme+key) or NULL; type 0 for all; object kind/name or NULL; domain
 * or NULL.  cb returns non-zero to stop. */
typedef struct {
	const pubkey_t *sender;
	int type;
	int obj_kind;
	const char *obj_name;
	const char *domain;
	uint64_t from_height;
	uint32_t from_index;   /* from this tx of block from_height on */
	size_t limit;          /* 0: no limit */
} store_query_t;
typedef int (*store_tx_cb)(void *ctx, uint64_t height, uint32_t index, uint64_t block_ts,
			   const uint8_t *raw, size_t len);
int store_query_txs(store_t *s, const store_query_t *q, store_tx_cb cb, void *ctx) WUR;

/* Path of the database file, for messages. */
const char *store_path(const store_t *s);

/* ---- raw scan, for the auditor (audit.h) ----
 * Reads the stored blocks and txs in height order straight from their
 * tables, trusting no index, derived column or state table, and without
 * any of store_open's checks (a tampered ledger must still be readable so
 * the auditor can say where it breaks).  Opens DIR/ledger.db read-only.
 * Headers come out as signed: a stored form (block_header_expand_stored)
 * gets the ledger's own chain_id back and its proposer's key from
 * g_or_null, the auditor's genesis (NULL: such a header is handed on as
 * stored, and does not decode). */
typedef struct store_scan_t store_scan_t;

/* The bytes of a row's stored id that the scan can give: schema 4 keeps
 * only the id's first 8 (older files the whole id). */
#define STORE_ID_HINT_BYTES 8

typedef struct {
	uint64_t height;              /* from the row's seq */
	uint32_t index;               /* from the row's seq */
	uint8_t stored_id[BSEC_HASH_BYTES]; /* the first STORE_ID_HINT_BYTES: the row's
					     * id or id prefix (a hint only) */
	const uint8_t *raw;           /* signed tx bytes (owned by the scan) */
	size_t len;
} store_scan_tx_t;

typedef struct {
	uint64_t height;              /* the row's height column */
	const uint8_t *header;        /* signed header encoding (owned by the scan) */
	size_t header_len;
	const uint8_t *cert;          /* certificate encoding (owned by the scan) */
	size_t cert_len;
	store_scan_tx_t *txs;         /* tx rows filed under this height, index order */
	size_t n_txs;
	int roots_altered;            /* ROOTS_*_ALTERED (block.h): a short header's
				       * roots, rebuilt from these txs, do not start
				       * as stored; the header then carries the
				       * rebuilt ones and fails its signatures */
	int columns_differ;           /* the row's ts or tx_count column differs
				       * from its full signed header */
} store_scan_block_t;

int store_scan_open(store_scan_t **out, const char *dir, const genesis_t *g_or_null,
		    char *err, size_t errlen) WUR;
/* chain_id recorded in the ledger's meta table: 0 and set, 1 when absent, -1 error. */
int store_scan_chain_id(store_scan_t *sc, uint8_t out[BSEC_HASH_BYTES]);
/* Next stored block row; everything in *blk stays valid until the next
 * call.  0 with a block, 1 at the end, -1 on a read error (reason in err).
 * Tx rows filed under a height that has no block row are skipped and
 * counted (store_scan_stray). */
int store_scan_next(store_scan_t *sc, store_scan_block_t *blk, char *err, size_t errlen) WUR;
/* Number of stray tx rows met so far and the height of the first one. */
uint64_t store_scan_stray(const store_scan_t *sc, uint64_t *first_height);
void store_scan_close(store_scan_t *sc);

#endif
