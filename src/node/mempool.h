/*
 * mempool.h — a replica's pending txs: verified, valid at admission, not
 * yet committed.  FIFO by arrival; bounded in count and bytes (the API
 * answers 503 + Retry-After when full).  Txs stay until their block
 * commits, so after a view change the new leader (or a re-forward) can
 * still propose them; `inflight` marks txs the leader already put in a
 * block that is not committed yet.  Single-threaded (event loop).
 */
#ifndef BSEC_MEMPOOL_H
#define BSEC_MEMPOOL_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/tx.h"

typedef struct mempool_t mempool_t;

typedef struct mp_entry_t {
	tx_t tx;
	uint64_t arrived_ms;       /* monotonic ms */
	uint64_t inflight_height;  /* 0 when not in an uncommitted block */
	int forwarded;             /* sent to the leader at least once */
	uint64_t claims[2];        /* the hook's own: what the tx claims (node.c) */
	unsigned n_claims;
	struct mp_entry_t *prev, *next;
} mp_entry_t;

mempool_t *mempool_new(size_t max_txs, size_t max_bytes);
/* Called with +1 after a tx enters the pool and -1 before it leaves it;
 * the entry's claims fields are the hook's to fill and read; -2 after it
 * enters a speculative block (its effect is in the node's state), +2 after
 * it leaves one without a commit. */
typedef void (*mempool_hook_t)(void *ctx, mp_entry_t *e, int delta);
void mempool_set_hook(mempool_t *mp, mempool_hook_t fn, void *ctx);
void mempool_free(mempool_t *mp);

/* Adds tx (ownership moves to the pool on success: *tx is zeroed).
 * Returns 0 added, 1 already present (tx untouched), -1 full. */
int mempool_add(mempool_t *mp, tx_t *tx, uint64_t now);
int mempool_has(const mempool_t *mp, const uint8_t id[BSEC_HASH_BYTES]);
mp_entry_t *mempool_get(const mempool_t *mp, const uint8_t id[BSEC_HASH_BYTES]);
/* Removes and frees one entry (no-op when absent). */
void mempool_remove(mempool_t *mp, const uint8_t id[BSEC_HASH_BYTES]);
size_t mempool_count(const mempool_t *mp);
size_t mempool_bytes(const mempool_t *mp);
int mempool_is_full(const mempool_t *mp);
/* Oldest entry first; iterate with e->next. */
mp_entry_t *mempool_first(const mempool_t *mp);
/* Arrival time of the oldest entry not in flight, or 0 when none. */
uint64_t mempool_oldest_waiting(const mempool_t *mp);
/* Entries not in flight (O(1)). */
size_t mempool_waiting(const mempool_t *mp);
/* Marks e as put in the block at height (0: back to waiting). */
void mempool_set_inflight(mempool_t *mp, mp_entry_t *e, uint64_t height);
/* Clears every inflight mark at or above height (a view change dropped them). */
void mempool_clear_inflight(mempool_t *mp, uint64_t from_height);

#endif
