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
 */
#ifndef BSEC_AUDIT_H
#define BSEC_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/hash.h"
#include "../lib/util.h"

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
} audit_report_t;

/* Verifies the chain in DIR/ledger.db against genesis_path (DIR/genesis.json
 * when NULL), verifying signatures on `threads` threads (<= 0: online
 * cores).  Fills *rep in every case and returns 0 only when the whole
 * chain is valid; -1 when it is not or cannot be read (rep->reason says
 * which).  Reads only; safe to run beside a live node. */
int audit_verify_dir(const char *dir, const char *genesis_path_or_null, int threads,
		     audit_report_t *rep) WUR;

/* JSON form of a report (jansson; caller json_decref's):
 * {"ok", "blocks", "txs", "bad_height", "bad_tx", "reason", "chain_id",
 *  "tip_hash", "threads", "elapsed_us"}; bad_* and reason are null when ok. */
struct json_t;
struct json_t *audit_report_to_json(const audit_report_t *rep);

#endif
