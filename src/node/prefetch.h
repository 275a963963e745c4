/*
 * prefetch.h — checks fetched blocks ahead of their delivery.
 *
 * A state-transfer reply carries many consecutive blocks, which the node
 * delivers one after the other on its event loop: decode, check every tx
 * signature, apply, store.  The signature checks need nothing but the
 * block's bytes, so a thread of its own decodes the reply's blocks and
 * checks their signatures in order while the event loop applies and
 * stores the ones before: the checks of block k + 1 overlap the apply of
 * block k.
 *
 * One owner thread calls queue / take / drop; the checking thread is
 * internal.  The queued bytes must stay valid until prefetch_drop.
 */
#ifndef BSEC_PREFETCH_H
#define BSEC_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

#include "../ledger/block.h"

typedef struct prefetch_t prefetch_t;

/* NULL when the thread cannot be started (the node then checks fetched
 * blocks itself, as before). */
prefetch_t *prefetch_new(const uint8_t chain_id[BSEC_HASH_BYTES]);
void prefetch_free(prefetch_t *p);

/* Queues n blocks, in delivery order; forgets any still queued. */
void prefetch_queue(prefetch_t *p, const uint64_t *heights, const uint8_t *const *raws,
		    const size_t *lens, size_t n);

/* The block at `height` with exactly these bytes:
 *   1  it was checked: *b is the decoded block (the caller owns it) and
 *      *bad the index of its first tx whose signature does not verify,
 *      or -1;
 *   0  it was not queued, or not started yet (now withdrawn): the caller
 *      decodes and checks it itself;
 *  -1  it does not decode (the caller decodes it again for the reason).
 * Waits while the thread is checking it. */
int prefetch_take(prefetch_t *p, uint64_t height, const uint8_t *raw, size_t len, block_t *b,
		  long *bad);

/* Hands a block that prefetch_take returned back to the thread, which
 * frees it (its memory is from that thread's malloc arena); *b is
 * zeroed.  Without a prefetcher it is freed at once. */
void prefetch_release(prefetch_t *p, block_t *b);

/* Forgets every queued block; waits for one being checked. */
void prefetch_drop(prefetch_t *p);

/* Blocks the thread checked, and of those the caller took. */
void prefetch_stats(prefetch_t *p, uint64_t *checked, uint64_t *taken);

#endif
