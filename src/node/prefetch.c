/*
 * prefetch.c — checks fetched blocks ahead of their delivery (prefetch.h).
 */
#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../ledger/tx.h"
#include "../lib/util.h"

/* txs per call of tx_verify_sigs: big enough for full batches, small
 * enough that the pointer and verdict arrays stay in cache */
#define PF_CHUNK 256

enum { PF_QUEUED, PF_RUNNING, PF_DONE, PF_GONE };

typedef struct {
	uint64_t height;
	const uint8_t *raw;
	size_t len;
	int state;
	int decoded;          /* PF_DONE: block_decode succeeded */
	long bad;             /* PF_DONE: first bad signature, or -1 */
	block_t b;            /* PF_DONE and decoded: the block */
} pf_entry_t;

struct prefetch_t {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pf_entry_t *q;
	size_t n, cap, next;
	block_t *spent;       /* handed back by prefetch_release: freed here */
	size_t n_spent, cap_spent;
	int stop;
	uint8_t chain_id[BSEC_HASH_BYTES];
	uint64_t checked, taken;
};

/* First tx of b whose signature does not verify, or -1. */
static long check_sigs(const block_t *b, const uint8_t *chain_id)
{
	const tx_t *ptrs[PF_CHUNK];
	uint8_t bad[PF_CHUNK];
	for (uint32_t at = 0; at < b->hdr.tx_count; at += PF_CHUNK) {
		uint32_t cnt = b->hdr.tx_count - at < PF_CHUNK ? b->hdr.tx_count - at : PF_CHUNK;
		for (uint32_t i = 0; i < cnt; i++)
			ptrs[i] = &b->txs[at + i];
		memset(bad, 0, cnt);
		if (tx_verify_sigs(ptrs, cnt, chain_id, bad) == 0)
			continue;
		for (uint32_t i = 0; i < cnt; i++)
			if (bad[i])
				return (long)(at + i);
	}
	return -1;
}

static void *pf_main(void *arg)
{
	prefetch_t *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->next >= p->n && !p->n_spent)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		if (p->n_spent) {
			/* the blocks' memory came from this thread's arena:
			 * freeing it here spares the event loop the locked
			 * frees into a foreign arena */
			block_t b = p->spent[--p->n_spent];
			pthread_mutex_unlock(&p->mu);
			block_clear(&b);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		size_t i = p->next++;
		if (p->q[i].state != PF_QUEUED)
			continue;
		p->q[i].state = PF_RUNNING;
		const uint8_t *raw = p->q[i].raw;
		size_t len = p->q[i].len;
		pthread_mutex_unlock(&p->mu);

		block_t b;
		long bad = -1;
		int decoded = block_decode(&b, raw, len, NULL, 0) == 0;
		/* a version 2 block's certificate vouches for its signatures
		 * once its sig_root checks (the node does that): decoding is
		 * all that is left to do ahead */
		if (decoded && !block_commits_sigs(&b.hdr))
			bad = check_sigs(&b, p->chain_id);

		pthread_mutex_lock(&p->mu);
		/* q is only reallocated by prefetch_queue, which first waits
		 * for the running entry (prefetch_drop) */
		pf_entry_t *e = &p->q[i];
		e->decoded = decoded;
		e->bad = bad;
		e->b = b;
		e->state = PF_DONE;
		p->checked++;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

prefetch_t *prefetch_new(const uint8_t chain_id[BSEC_HASH_BYTES])
{
	prefetch_t *p = xcalloc(1, sizeof(*p));
	memcpy(p->chain_id, chain_id, BSEC_HASH_BYTES);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	if (pthread_create(&p->th, NULL, pf_main, p) != 0) {
		pthread_cond_destroy(&p->work);
		pthread_cond_destroy(&p->done);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return NULL;
	}
	return p;
}

/* With p->mu held: withdraw what is queued, wait for what runs, free
 * what was checked and not taken. */
static void drop_locked(prefetch_t *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->q[i].state == PF_QUEUED)
			p->q[i].state = PF_GONE;
	for (;;) {
		int running = 0;
		for (size_t i = 0; i < p->n; i++)
			running |= p->q[i].state == PF_RUNNING;
		if (!running)
			break;
		pthread_cond_wait(&p->done, &p->mu);
	}
	for (size_t i = 0; i < p->n; i++)
		if (p->q[i].state == PF_DONE && p->q[i].decoded)
			block_clear(&p->q[i].b);
	p->n = p->next = 0;
}

void prefetch_free(prefetch_t *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	drop_locked(p);
	p->stop = 1;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	for (size_t i = 0; i < p->n_spent; i++)
		block_clear(&p->spent[i]);
	free(p->spent);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p->q);
	free(p);
}

void prefetch_queue(prefetch_t *p, const uint64_t *heights, const uint8_t *const *raws,
		    const size_t *lens, size_t n)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	drop_locked(p);
	if (n > p->cap) {
		p->cap = n;
		p->q = xrealloc(p->q, n * sizeof(*p->q));
	}
	for (size_t i = 0; i < n; i++) {
		memset(&p->q[i], 0, sizeof(p->q[i]));
		p->q[i].height = heights[i];
		p->q[i].raw = raws[i];
		p->q[i].len = lens[i];
		p->q[i].state = PF_QUEUED;
		p->q[i].bad = -1;
	}
	p->n = n;
	p->next = 0;
	if (n)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

int prefetch_take(prefetch_t *p, uint64_t height, const uint8_t *raw, size_t len, block_t *b,
		  long *bad)
{
	int ret = 0;
	if (!p)
		return 0;
	pthread_mutex_lock(&p->mu);
	pf_entry_t *e = NULL;
	for (size_t i = 0; i < p->n && !e; i++)
		if (p->q[i].height == height && p->q[i].state != PF_GONE)
			e = &p->q[i];
	/* the same height with other bytes is another block: not ours */
	if (!e || e->len != len || (e->raw != raw && memcmp(e->raw, raw, len) != 0))
		goto out;
	if (e->state == PF_QUEUED) {
		e->state = PF_GONE; /* not started: quicker on the caller's workers */
		goto out;
	}
	while (e->state == PF_RUNNING)
		pthread_cond_wait(&p->done, &p->mu);
	if (e->state != PF_DONE)
		goto out;
	if (e->decoded) {
		*b = e->b;
		memset(&e->b, 0, sizeof(e->b));
		*bad = e->bad;
		ret = 1;
	} else {
		ret = -1;
	}
	e->state = PF_GONE;
	p->taken++;
out:
	pthread_mutex_unlock(&p->mu);
	return ret;
}

void prefetch_release(prefetch_t *p, block_t *b)
{
	if (!p) {
		block_clear(b);
		return;
	}
	pthread_mutex_lock(&p->mu);
	if (p->n_spent == p->cap_spent) {
		p->cap_spent = p->cap_spent ? 2 * p->cap_spent : 16;
		p->spent = xrealloc(p->spent, p->cap_spent * sizeof(*p->spent));
	}
	p->spent[p->n_spent++] = *b;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	memset(b, 0, sizeof(*b));
}

void prefetch_drop(prefetch_t *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	drop_locked(p);
	pthread_mutex_unlock(&p->mu);
}

void prefetch_stats(prefetch_t *p, uint64_t *checked, uint64_t *taken)
{
	uint64_t c = 0, t = 0;
	if (p) {
		pthread_mutex_lock(&p->mu);
		c = p->checked;
		t = p->taken;
		pthread_mutex_unlock(&p->mu);
	}
	if (checked)
		*checked = c;
	if (taken)
		*taken = t;
}
