/*
 * audit.h — offline verification of a whole chain from its genesis
 * (DESIGN §4, §8 "Audit"): what `bsec audit verify` runs.
 *
 * The auditor trusts nothing but the genesis file.  It reads the raw
 * headers, certificates and txs of DIR/ledger.db in height order (never
 * the indexes or the derived state tables), and for every height 1..N
 * checks: the block is stored and decodes canonically; its header says
 * that height; chain_id is the genesis's; prev_hash is the previous
 * block's hash (the chain_id for block 1); the timestamp strictly
 * increases; the proposer is a member and its key is that provider's node
 * key; the proposer signature; the certificate (a quorum of distinct
 * members over this height and hash); tx_root; every tx's signature; and
 * every tx passes validate_tx against a state replayed from the genesis.
 * It stops at the first failure and says where and why.
 *
 * The same walk runs over any source of stored blocks (audit_source_t):
 * the ledger file (audit_verify_dir) or a node's API (src/audit/remote.h,
 * `bsec audit verify --node`), and can feed every tx that passed every
 * check, in chain order, to an observer (audit_observer_t) that builds
 * something from the verified chain (the drift audit does).
 */
#ifndef BSEC_AUDIT_H
#define BSEC_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/hash.h"
#include "../lib/util.h"
#include "block.h"
#include "genesis.h"
#include "state.h"
#include "store.h"

/* Magic of the raw block pages a node serves to remote auditors
 * (GET /v1/blocks/raw, see src/audit/remote.h). */
#define RAW_BLOCKS_MAGIC "BSRB"

typedef struct {
	int ok;                       /* 1: every check held for every block */
	uint64_t blocks;              /* blocks that passed every check */
	uint64_t txs;                 /* txs in those blocks */
	uint64_t bad_height;          /* first bad block; 0 when ok or when the
	                                 ledger as a whole is unusable */
	int64_t bad_tx;               /* index of the bad tx in that block, or -1 */
	char reason[512];             /* "block 17: prev_hash does not match block 16's hash" */
	uint8_t chain_id[BSEC_HASH_BYTES];
	uint8_t tip_hash[BSEC_HASH_BYTES]; /* last verified block's hash (chain_id if none) */
	int threads;                  /* signature-verification threads used */
	uint64_t elapsed_us;
	uint64_t responses;           /* responses bound to their request (rule 5) */
	uint64_t attestations;        /* ATTEST txs in the verified blocks */
	uint64_t signatures;          /* verified: proposers', certificates' and txs' */
	/* The source's derived rows (tenants, objects, open requests,
	 * attestations: what its node's API serves) against the state the
	 * chain replays to: AUDIT_DERIVED_NONE when the source has none or the
	 * chain failed first, _SAME, _DIFFER (a failure: reason says which
	 * record), or _SKIPPED (derived_note says why: the ledger grew while it
	 * was read, or its rows could not be read). */
	int derived;
	char derived_note[512];
	uint64_t derived_us;          /* the comparison's time (not in elapsed_us) */
} audit_report_t;

enum { AUDIT_DERIVED_NONE = 0, AUDIT_DERIVED_SAME, AUDIT_DERIVED_DIFFER, AUDIT_DERIVED_SKIPPED };

/* Where the stored blocks come from.  next() hands out the rows in
 * height order exactly as stored or served (a row's height is the
 * source's claim, checked like everything else); everything in *blk stays
 * valid until the next call. */
typedef struct {
	void *ctx;
	/* The chain id the source says it holds: 0 and set, 1 when it does
	 * not say, -1 when it cannot be read (reason in err). */
	int (*chain_id)(void *ctx, uint8_t out[BSEC_HASH_BYTES], char *err, size_t errlen);
	/* 0 with a block, 1 at the end, -1 on a read error (reason in err). */
	int (*next)(void *ctx, store_scan_block_t *blk, char *err, size_t errlen);
	/* Rows met that belonged to no block (and the first one's height);
	 * NULL when the source has no such notion. */
	uint64_t (*stray)(void *ctx, uint64_t *first_height);
	int have_ids;                 /* blk->txs[i].stored_id is the source's id for the tx */
	const char *name;             /* "DIR/ledger.db", "https://...": for messages */
	/* After a valid chain: compares the source's derived rows with st, the
	 * state the chain replays to.  AUDIT_DERIVED_SAME, _DIFFER or _SKIPPED
	 * with the difference or the reason in why.  NULL: nothing to compare. */
	int (*derived)(void *ctx, const state_t *st, char *why, size_t wl);
} audit_source_t;

/* Called on the auditor's thread, in chain order, for every tx that
 * passed every check: before_tx with the state just before it is
 * applied, after_tx just after; after_block once the block is applied.
 * Any hook may be NULL.  The hooks must not keep st, h or tx. */
typedef struct {
	void *ctx;
	void (*before_tx)(void *ctx, const state_t *st, const block_header_t *h, uint32_t index,
			  const tx_t *tx);
	void (*after_tx)(void *ctx, const state_t *st, const block_header_t *h, uint32_t index,
			 const tx_t *tx);
	void (*after_block)(void *ctx, const state_t *st, const block_header_t *h);
} audit_observer_t;

/* The whole walk over src against genesis g (which the caller loaded),
 * with an optional observer.  Fills *rep in every case; 0 only when the
 * whole chain is valid. */
int audit_verify_source(const audit_source_t *src, const genesis_t *g, int threads,
			const audit_observer_t *obs_or_null, audit_report_t *rep) WUR;

/* audit_verify_dir with an observer. */
int audit_verify_dir_obs(const char *dir, const char *genesis_path_or_null, int threads,
			 const audit_observer_t *obs_or_null, audit_report_t *rep) WUR;

/* Verifies the chain in DIR/ledger.db against genesis_path (DIR/genesis.json
 * when NULL), verifying signatures on `threads` threads (<= 0: online
 * cores).  Fills *rep in every case and returns 0 only when the whole
 * chain is valid; -1 when it is not or cannot be read (rep->reason says
 * which).  Reads only; safe to run beside a live node. */
int audit_verify_dir(const char *dir, const char *genesis_path_or_null, int threads,
		     audit_report_t *rep) WUR;

/* JSON form of a report (jansson; caller json_decref's):
 * {"ok", "blocks", "txs", "bad_height", "bad_tx", "reason", "chain_id",
 *  "tip_hash", "threads", "elapsed_us", "txs_per_s", "responses",
 *  "attestations", "signatures"}; bad_* and reason are null when ok. */
struct json_t;
struct json_t *audit_report_to_json(const audit_report_t *rep);

#endif
