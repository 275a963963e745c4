/*
 * mempool.c — pending txs in arrival order with an id index (see mempool.h).
 */
#include "mempool.h"
#include "../lib/map.h"

#include <stdlib.h>
#include <string.h>

struct mempool_t {
	map_t *by_id;
	mp_entry_t *head, *tail;
	size_t count, bytes, max_txs, max_bytes;
	size_t inflight;     /* entries with inflight_height != 0 */
	mempool_hook_t hook;
	void *hook_ctx;
};

void mempool_set_hook(mempool_t *mp, mempool_hook_t fn, void *ctx)
{
	mp->hook = fn;
	mp->hook_ctx = ctx;
}

mempool_t *mempool_new(size_t max_txs, size_t max_bytes)
{
	mempool_t *mp = xcalloc(1, sizeof(*mp));
	mp->by_id = map_new();
	mp->max_txs = max_txs;
	mp->max_bytes = max_bytes;
	return mp;
}

void mempool_free(mempool_t *mp)
{
	if (!mp)
		return;
	for (mp_entry_t *e = mp->head, *n; e; e = n) {
		n = e->next;
		tx_clear(&e->tx);
		free(e);
	}
	map_free(mp->by_id);
	free(mp);
}

int mempool_is_full(const mempool_t *mp)
{
	return mp->count >= mp->max_txs || mp->bytes >= mp->max_bytes;
}

int mempool_add(mempool_t *mp, tx_t *tx, uint64_t now)
{
	if (map_get(mp->by_id, tx->id, BSEC_HASH_BYTES))
		return 1;
	if (mempool_is_full(mp))
		return -1;
	mp_entry_t *e = xcalloc(1, sizeof(*e));
	e->tx = *tx;
	memset(tx, 0, sizeof(*tx));
	e->arrived_ms = now;
	e->prev = mp->tail;
	if (mp->tail)
		mp->tail->next = e;
	else
		mp->head = e;
	mp->tail = e;
	map_put(mp->by_id, e->tx.id, BSEC_HASH_BYTES, e);
	mp->count++;
	mp->bytes += e->tx.raw_len;
	if (mp->hook)
		mp->hook(mp->hook_ctx, e, +1);
	return 0;
}

int mempool_has(const mempool_t *mp, const uint8_t id[BSEC_HASH_BYTES])
{
	return map_get(mp->by_id, id, BSEC_HASH_BYTES) != NULL;
}

mp_entry_t *mempool_get(const mempool_t *mp, const uint8_t id[BSEC_HASH_BYTES])
{
	return map_get(mp->by_id, id, BSEC_HASH_BYTES);
}

void mempool_remove(mempool_t *mp, const uint8_t id[BSEC_HASH_BYTES])
{
	mp_entry_t *e = map_del(mp->by_id, id, BSEC_HASH_BYTES);
	if (!e)
		return;
	if (e->prev)
		e->prev->next = e->next;
	else
		mp->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		mp->tail = e->prev;
	mp->count--;
	mp->bytes -= e->tx.raw_len;
	if (e->inflight_height)
		mp->inflight--;
	if (mp->hook)
		mp->hook(mp->hook_ctx, e, -1);
	tx_clear(&e->tx);
	free(e);
}

size_t mempool_count(const mempool_t *mp)
{
	return mp->count;
}

size_t mempool_bytes(const mempool_t *mp)
{
	return mp->bytes;
}

mp_entry_t *mempool_first(const mempool_t *mp)
{
	return mp->head;
}

uint64_t mempool_oldest_waiting(const mempool_t *mp)
{
	for (mp_entry_t *e = mp->head; e; e = e->next)
		if (!e->inflight_height)
			return e->arrived_ms;
	return 0;
}

void mempool_clear_inflight(mempool_t *mp, uint64_t from_height)
{
	for (mp_entry_t *e = mp->head; e; e = e->next)
		if (e->inflight_height >= from_height)
			mempool_set_inflight(mp, e, 0);
}

size_t mempool_waiting(const mempool_t *mp)
{
	return mp->count - mp->inflight;
}

void mempool_set_inflight(mempool_t *mp, mp_entry_t *e, uint64_t height)
{
	int in = !e->inflight_height && height, out = e->inflight_height && !height;
	if (in)
		mp->inflight++;
	else if (out)
		mp->inflight--;
	e->inflight_height = height;
	if (mp->hook && (in || out))
		mp->hook(mp->hook_ctx, e, in ? -2 : +2);
}
