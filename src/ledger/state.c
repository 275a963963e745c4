/*
 * state.c — the chain-derived state in memory (see state.h).
 *
 * Everything lives in hash maps so that one validation costs a handful of
 * lookups, never a scan:
 *   tenants   (scheme|key|domain) -> tenant_ent_t: the record, a per-kind
 *             count of the tenant's live objects in that domain (quotas)
 *             and a sorted ring of the block timestamps of its requests to
 *             that domain (rates).  Entries are never freed before
 *             state_free, so undo records may point at them.
 *   tkeys     (scheme|key) -> the list of that key's tenant entries.
 *   objects   (kind|name) -> object_rec_t.
 *   refs      (kind|name) -> how many specs (current or pending) name it:
 *             a VNF's --vm, an SFC's chain.  Deletes are refused while > 0.
 *   open      request id -> open_request_t.
 *   attests   domain -> attest_rec_t, the last attestation of each domain.
 *   recent    tx id -> present; backed by a queue ordered by the timestamp
 *             of the block that included the tx, pruned from the front at
 *             state_begin_block.  A response's entry also keeps its request
 *             id in `answered`, so "already answered" stays precise while
 *             the response is recent.
 *
 * Rates and the recent set use block timestamps, not tx timestamps: a
 * tenant picks its tx timestamps (within the window) but not the block's,
 * so it cannot age its requests out early.
 *
 * Undo: every mutation made by state_begin_block / state_apply_tx first
 * appends the old value to a log; state_rollback replays the log
 * backwards.  Lookups in undo records go by key (objects, refs, open
 * requests) or by stable pointer (tenant entries).
 */
#include "state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>

#include "../lib/map.h"
#include "../lib/util.h"

#define RATE_WINDOW_MS 60000u
#define TKEY_MAX (1 + SIG_MAX_PUB + TX_MAX_DOMAIN)
#define OKEY_MAX (1 + INSTR_MAX_NAME)

static int present_marker;
#define PRESENT ((void *)&present_marker)

typedef struct {
	uint64_t *v;          /* ascending */
	size_t n, cap;
} ring_t;

typedef struct {
	tenant_rec_t rec;
	int present;          /* 0: made for counting/loading, no record yet */
	uint32_t count[4];    /* by obj_kind_t: CREATING + ACTIVE objects */
	ring_t ring;          /* block timestamps of requests to this domain */
	uint64_t dirty_gen;   /* == the state's dirty_gen: in dirty_tenants */
} tenant_ent_t;

typedef struct {
	tenant_ent_t **ents;
	size_t n, cap;
} tkey_ent_t;

typedef struct {
	uint8_t id[BSEC_HASH_BYTES];
	uint8_t req[BSEC_HASH_BYTES];
	uint8_t has_req;
	uint64_t ts;
} recent_t;

typedef enum {
	U_TIP = 1, U_TENANT, U_COUNT, U_OBJECT, U_REF, U_OPEN,
	U_RECENT_PUSH, U_RECENT_PRUNE, U_RING_PUSH, U_ATTEST
} undo_kind_t;

typedef struct {
	uint8_t kind;            /* undo_kind_t */
	uint8_t okind;           /* object kind (U_COUNT, U_OBJECT, U_REF) */
	int present;             /* U_TENANT */
	uint32_t u32;            /* U_COUNT, U_REF: old value */
	uint64_t a, b;           /* U_TIP: height, ts; U_RING_PUSH: index */
	void *ptr;               /* U_TENANT, U_COUNT, U_RING_PUSH: tenant_ent_t* */
	void *saved;             /* heap copy of the old value, or NULL */
	size_t n;                /* items in saved (prunes) */
	char name[INSTR_MAX_NAME + 1];
	uint8_t id[BSEC_HASH_BYTES];
} undo_t;

struct state_t {
	const genesis_t *g;
	uint64_t height, ts;
	map_t *tenants, *tkeys, *objects, *refs, *open, *recent, *answered;
	map_t *domains;          /* domain -> const provider_t* (from the genesis) */
	map_t *attests;          /* domain -> attest_rec_t* */
	map_t *dirty_attests;    /* domain -> PRESENT */
	recent_t *rq;            /* circular queue */
	size_t rq_head, rq_n, rq_cap;
	map_t *dirty_tenants;    /* tenant key -> tenant_ent_t* */
	uint64_t dirty_gen;      /* advanced by state_clear_dirty */
	/* The entry tent_get found last.  A request is checked and applied
	 * several times (admission, the proposal, the block, the commit), each
	 * looking its tenant up two or three times by a key that holds the
	 * whole public key (257 bytes for RSA); consecutive txs are mostly
	 * one tenant's.  Entries are never freed and their key and domain never
	 * change, so a stale pointer is only a miss; atomic because lookups
	 * take a const state. */
	_Atomic(tenant_ent_t *) tent_last;
	map_t *dirty_objects;    /* object key -> PRESENT */
	int untracked;           /* state_track_dirty(st, 0): no dirty sets */
	undo_t *undo;
	size_t n_undo, cap_undo;
};

/* ---- keys ---- */

static size_t tkey_build(uint8_t *k, int scheme, const uint8_t *key, const char *dom, size_t dlen)
{
	size_t pl = sig_pub_len(scheme);
	k[0] = (uint8_t)scheme;
	memcpy(k + 1, key, pl);
	memcpy(k + 1 + pl, dom, dlen);
	return 1 + pl + dlen;
}

static size_t okey_build(uint8_t *k, int kind, const char *name, size_t nlen)
{
	k[0] = (uint8_t)kind;
	memcpy(k + 1, name, nlen);
	return 1 + nlen;
}

/* ---- interned keys ---- */

static pthread_mutex_t intern_mu = PTHREAD_MUTEX_INITIALIZER;
static map_t *interned;       /* scheme|key -> pubkey_t*, never freed */

const pubkey_t *pubkey_intern(int scheme, const uint8_t *key)
{
	uint8_t k[1 + SIG_MAX_PUB];
	if (!sig_scheme_valid(scheme))
		return NULL;
	size_t pl = sig_pub_len(scheme);
	k[0] = (uint8_t)scheme;
	memcpy(k + 1, key, pl);
	pthread_mutex_lock(&intern_mu);
	if (!interned)
		interned = map_new();
	pubkey_t *p = map_get(interned, k, 1 + pl);
	if (!p) {
		p = xcalloc(1, sizeof(*p));
		p->scheme = (uint8_t)scheme;
		memcpy(p->key, key, pl);
		map_put(interned, k, 1 + pl, p);
	}
	pthread_mutex_unlock(&intern_mu);
	return p;
}

/* ---- undo log ---- */

static undo_t *undo_push(state_t *st, int kind)
{
	if (st->n_undo == st->cap_undo) {
		st->cap_undo = st->cap_undo ? st->cap_undo * 2 : 64;
		st->undo = xrealloc(st->undo, st->cap_undo * sizeof(undo_t));
	}
	undo_t *u = &st->undo[st->n_undo++];
	memset(u, 0, sizeof(*u));
	u->kind = (uint8_t)kind;
	return u;
}

static void obj_free(object_rec_t *o)
{
	if (!o)
		return;
	free(o->spec);
	free(o->pending_spec);
	free(o);
}

static object_rec_t *obj_dup(const object_rec_t *o)
{
	object_rec_t *c = xmalloc(sizeof(*c));
	*c = *o;
	c->spec = o->spec ? xstrdup(o->spec) : NULL;
	c->pending_spec = o->pending_spec ? xstrdup(o->pending_spec) : NULL;
	return c;
}

static void undo_release(undo_t *u)
{
	if (u->kind == U_OBJECT)
		obj_free(u->saved);
	else
		free(u->saved);
	u->saved = NULL;
}

/* ---- tenant entries ---- */

/* tent_last when it is this tenant's entry for this domain, else NULL
 * (scheme and dlen already checked). */
static tenant_ent_t *tent_cached(const state_t *st, int scheme, const uint8_t *key, const char *dom,
				 size_t dlen)
{
	tenant_ent_t *e = atomic_load_explicit(&st->tent_last, memory_order_relaxed);
	/* the whole domain: same length (a name with NUL bytes in it is not
	 * its prefix) and same bytes */
	if (e && e->rec.key.scheme == scheme && strnlen(e->rec.domain, sizeof(e->rec.domain)) == dlen &&
	    memcmp(e->rec.domain, dom, dlen) == 0 && memcmp(e->rec.key.key, key, sig_pub_len(scheme)) == 0)
		return e;
	return NULL;
}

static void tent_remember(const state_t *st, tenant_ent_t *e)
{
	atomic_store_explicit(&((state_t *)st)->tent_last, e, memory_order_relaxed);
}

static tenant_ent_t *tent_get(const state_t *st, int scheme, const uint8_t *key, const char *dom,
			      size_t dlen)
{
	uint8_t k[TKEY_MAX];
	if (!sig_scheme_valid(scheme) || dlen > TX_MAX_DOMAIN)
		return NULL;
	tenant_ent_t *e = tent_cached(st, scheme, key, dom, dlen);
	if (!e && (e = map_get(st->tenants, k, tkey_build(k, scheme, key, dom, dlen))) != NULL)
		tent_remember(st, e);
	return e;
}

/* Finds or makes (present = 0) the entry; never undone, never freed. */
static tenant_ent_t *tent_make(state_t *st, int scheme, const uint8_t *key, const char *dom,
			       size_t dlen)
{
	uint8_t k[TKEY_MAX];
	if (!sig_scheme_valid(scheme) || dlen > TX_MAX_DOMAIN)
		return NULL;
	tenant_ent_t *e = tent_cached(st, scheme, key, dom, dlen);
	if (e)
		return e;
	size_t kl = tkey_build(k, scheme, key, dom, dlen);
	if ((e = map_get(st->tenants, k, kl)) != NULL) {
		tent_remember(st, e);
		return e;
	}
	e = xcalloc(1, sizeof(*e));
	memcpy(e->rec.domain, dom, dlen);
	e->rec.key.scheme = (uint8_t)scheme;
	memcpy(e->rec.key.key, key, sig_pub_len(scheme));
	map_put(st->tenants, k, kl, e);
	size_t pl = sig_pub_len(scheme);
	tkey_ent_t *t = map_get(st->tkeys, k, 1 + pl);
	if (!t) {
		t = xcalloc(1, sizeof(*t));
		map_put(st->tkeys, k, 1 + pl, t);
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 4;
		t->ents = xrealloc(t->ents, t->cap * sizeof(*t->ents));
	}
	t->ents[t->n++] = e;
	return e;
}

static void tent_dirty(state_t *st, tenant_ent_t *e)
{
	uint8_t k[TKEY_MAX];
	if (st->untracked || e->dirty_gen == st->dirty_gen)
		return;
	e->dirty_gen = st->dirty_gen;
	size_t kl = tkey_build(k, e->rec.key.scheme, e->rec.key.key, e->rec.domain,
			       strlen(e->rec.domain));
	map_put(st->dirty_tenants, k, kl, e);
}

static void tent_save(state_t *st, tenant_ent_t *e)
{
	undo_t *u = undo_push(st, U_TENANT);
	u->ptr = e;
	u->present = e->present;
	u->saved = xmalloc(sizeof(tenant_rec_t));
	memcpy(u->saved, &e->rec, sizeof(tenant_rec_t));
	tent_dirty(st, e);
}

static void count_add(state_t *st, tenant_ent_t *e, int kind, int delta)
{
	if (!e || kind < OBJ_VM || kind > OBJ_SFC)
		return;
	undo_t *u = undo_push(st, U_COUNT);
	u->ptr = e;
	u->okind = (uint8_t)kind;
	u->u32 = e->count[kind];
	if (delta < 0 && e->count[kind] == 0)
		return;
	e->count[kind] = (uint32_t)((int64_t)e->count[kind] + delta);
}

/* ---- rings (sorted timestamps) ---- */

static void ring_reserve(ring_t *r, size_t extra)
{
	if (r->n + extra <= r->cap)
		return;
	while (r->n + extra > r->cap)
		r->cap = r->cap ? r->cap * 2 : 8;
	r->v = xrealloc(r->v, r->cap * sizeof(uint64_t));
}

/* Inserts ts keeping the order; returns its index. */
static size_t ring_insert(ring_t *r, uint64_t ts)
{
	ring_reserve(r, 1);
	size_t i = r->n;
	while (i > 0 && r->v[i - 1] > ts)
		i--;
	memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof(uint64_t));
	r->v[i] = ts;
	r->n++;
	return i;
}

/* First index with v[i] > x. */
static size_t ring_upper(const ring_t *r, uint64_t x)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->v[mid] <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Entries in (now - 60 s, now]. */
static uint32_t ring_count(const ring_t *r, uint64_t now)
{
	size_t hi = ring_upper(r, now);
	size_t lo = now >= RATE_WINDOW_MS ? ring_upper(r, now - RATE_WINDOW_MS) : 0;
	return hi > lo ? (uint32_t)(hi - lo) : 0;
}

/* Records a request at the current block's timestamp, first dropping
 * entries too old to count for any block from now on. */
static void ring_push(state_t *st, tenant_ent_t *e, uint64_t ts)
{
	ring_t *r = &e->ring;
	undo_t *u = undo_push(st, U_RING_PUSH);
	u->ptr = e;
	uint64_t keep = st->g->params.timestamp_window_ms + RATE_WINDOW_MS;
	if (ts > keep) {
		size_t drop = ring_upper(r, ts - keep);
		if (drop > 0) {
			u->saved = xmalloc(drop * sizeof(uint64_t));
			memcpy(u->saved, r->v, drop * sizeof(uint64_t));
			u->n = drop;
			memmove(r->v, r->v + drop, (r->n - drop) * sizeof(uint64_t));
			r->n -= drop;
		}
	}
	u->a = ring_insert(r, ts);
}

static void ring_unpush(undo_t *u)
{
	tenant_ent_t *e = u->ptr;
	ring_t *r = &e->ring;
	size_t i = (size_t)u->a;
	if (i < r->n) {
		memmove(r->v + i, r->v + i + 1, (r->n - i - 1) * sizeof(uint64_t));
		r->n--;
	}
	if (u->n) {
		ring_reserve(r, u->n);
		memmove(r->v + u->n, r->v, r->n * sizeof(uint64_t));
		memcpy(r->v, u->saved, u->n * sizeof(uint64_t));
		r->n += u->n;
	}
}

/* ---- recent-tx queue ---- */

static recent_t *rq_at(const state_t *st, size_t i)
{
	return &st->rq[(st->rq_head + i) % st->rq_cap];
}

static void rq_grow(state_t *st)
{
	if (st->rq_n < st->rq_cap)
		return;
	size_t cap = st->rq_cap ? st->rq_cap * 2 : 256;
	recent_t *q = xmalloc(cap * sizeof(recent_t));
	for (size_t i = 0; i < st->rq_n; i++)
		q[i] = *rq_at(st, i);
	free(st->rq);
	st->rq = q;
	st->rq_cap = cap;
	st->rq_head = 0;
}

static void rq_maps_add(state_t *st, const recent_t *r)
{
	map_put(st->recent, r->id, BSEC_HASH_BYTES, PRESENT);
	if (r->has_req)
		map_put(st->answered, r->req, BSEC_HASH_BYTES, PRESENT);
}

static void rq_maps_del(state_t *st, const recent_t *r)
{
	map_del(st->recent, r->id, BSEC_HASH_BYTES);
	if (r->has_req)
		map_del(st->answered, r->req, BSEC_HASH_BYTES);
}

/* Appends (sorted insert from the back, for loads in any order);
 * returns the index. */
static size_t rq_insert(state_t *st, const recent_t *r)
{
	rq_grow(st);
	size_t i = st->rq_n++;
	while (i > 0 && rq_at(st, i - 1)->ts > r->ts) {
		*rq_at(st, i) = *rq_at(st, i - 1);
		i--;
	}
	*rq_at(st, i) = *r;
	rq_maps_add(st, r);
	return i;
}

static void rq_push_front(state_t *st, const recent_t *r)
{
	rq_grow(st);
	st->rq_head = (st->rq_head + st->rq_cap - 1) % st->rq_cap;
	st->rq_n++;
	*rq_at(st, 0) = *r;
	rq_maps_add(st, r);
}

static void recent_add(state_t *st, const uint8_t id[BSEC_HASH_BYTES], const uint8_t *req)
{
	if (map_get(st->recent, id, BSEC_HASH_BYTES))
		return; /* validation refuses duplicates; stay consistent anyway */
	recent_t r;
	memset(&r, 0, sizeof(r));
	memcpy(r.id, id, BSEC_HASH_BYTES);
	if (req && !map_get(st->answered, req, BSEC_HASH_BYTES)) {
		memcpy(r.req, req, BSEC_HASH_BYTES);
		r.has_req = 1;
	}
	r.ts = st->ts;
	size_t at = rq_insert(st, &r);
	undo_push(st, U_RECENT_PUSH)->a = at;
}

static void recent_unpush(state_t *st, size_t at)
{
	if (at >= st->rq_n)
		return;
	rq_maps_del(st, rq_at(st, at));
	for (size_t i = at; i + 1 < st->rq_n; i++)
		*rq_at(st, i) = *rq_at(st, i + 1);
	st->rq_n--;
}

/* ---- objects and references ---- */

static object_rec_t *obj_get(const state_t *st, int kind, const char *name, size_t nlen)
{
	uint8_t k[OKEY_MAX];
	if (nlen > INSTR_MAX_NAME)
		return NULL;
	return map_get(st->objects, k, okey_build(k, kind, name, nlen));
}

static void obj_dirty(state_t *st, int kind, const char *name)
{
	uint8_t k[OKEY_MAX];
	if (st->untracked)
		return;
	map_put(st->dirty_objects, k, okey_build(k, kind, name, strlen(name)), PRESENT);
}

static void attest_dirty(state_t *st, const char *domain, size_t dlen)
{
	if (!st->untracked)
		map_put(st->dirty_attests, domain, dlen, PRESENT);
}

/* Logs the object's current value (or absence) before a change. */
static void obj_save(state_t *st, int kind, const char *name)
{
	undo_t *u = undo_push(st, U_OBJECT);
	u->okind = (uint8_t)kind;
	snprintf(u->name, sizeof(u->name), "%s", name);
	object_rec_t *o = obj_get(st, kind, name, strlen(name));
	u->saved = o ? obj_dup(o) : NULL;
	obj_dirty(st, kind, name);
}

static void obj_remove(state_t *st, int kind, const char *name)
{
	uint8_t k[OKEY_MAX];
	obj_free(map_del(st->objects, k, okey_build(k, kind, name, strlen(name))));
}

static void ref_set(state_t *st, int kind, const char *name, uint32_t n)
{
	uint8_t k[OKEY_MAX];
	size_t kl = okey_build(k, kind, name, strlen(name));
	uint32_t *c = map_get(st->refs, k, kl);
	if (n == 0) {
		free(map_del(st->refs, k, kl));
		return;
	}
	if (!c) {
		c = xmalloc(sizeof(*c));
		map_put(st->refs, k, kl, c);
	}
	*c = n;
}

static uint32_t ref_get(const state_t *st, int kind, const char *name, size_t nlen)
{
	uint8_t k[OKEY_MAX];
	if (nlen > INSTR_MAX_NAME)
		return 0;
	uint32_t *c = map_get(st->refs, k, okey_build(k, kind, name, nlen));
	return c ? *c : 0;
}

static void ref_add(state_t *st, int kind, const char *name, int delta, int log)
{
	uint32_t old = ref_get(st, kind, name, strlen(name));
	if (log) {
		undo_t *u = undo_push(st, U_REF);
		u->okind = (uint8_t)kind;
		u->u32 = old;
		snprintf(u->name, sizeof(u->name), "%s", name);
	}
	if (delta < 0 && old == 0)
		return;
	ref_set(st, kind, name, (uint32_t)((int64_t)old + delta));
}

/* Adds delta to the references a spec makes: a VNF's VM, an SFC's VNFs. */
static void instr_refs(state_t *st, const instr_t *in, int delta, int log)
{
	if (in->kind == OBJ_VNF && in->vm[0])
		ref_add(st, OBJ_VM, in->vm, delta, log);
	if (in->kind == OBJ_SFC)
		for (int i = 0; i < in->n_chain; i++)
			ref_add(st, OBJ_VNF, in->chain[i], delta, log);
}

static void spec_refs(state_t *st, const char *spec, int delta, int log)
{
	size_t pos;
	char err[128];
	const instr_t *in = spec ? instr_parse_ref(spec, strlen(spec), &pos, err, sizeof(err)) : NULL;
	if (in)
		instr_refs(st, in, delta, log);
}

static tenant_ent_t *owner_ent(state_t *st, const object_rec_t *o)
{
	return o->owner ? tent_make(st, o->owner->scheme, o->owner->key, o->domain, strlen(o->domain)) : NULL;
}

/* ---- open requests ---- */

static void open_save(state_t *st, const uint8_t id[BSEC_HASH_BYTES])
{
	undo_t *u = undo_push(st, U_OPEN);
	memcpy(u->id, id, BSEC_HASH_BYTES);
	open_request_t *r = map_get(st->open, id, BSEC_HASH_BYTES);
	if (r) {
		u->saved = xmalloc(sizeof(*r));
		memcpy(u->saved, r, sizeof(*r));
	}
}

/* ---- undo ---- */

static void undo_one(state_t *st, undo_t *u)
{
	switch (u->kind) {
	case U_TIP:
		st->height = u->a;
		st->ts = u->b;
		break;
	case U_TENANT: {
		tenant_ent_t *e = u->ptr;
		memcpy(&e->rec, u->saved, sizeof(tenant_rec_t));
		e->present = u->present;
		tent_dirty(st, e);
		break;
	}
	case U_COUNT:
		((tenant_ent_t *)u->ptr)->count[u->okind] = u->u32;
		break;
	case U_OBJECT: {
		uint8_t k[OKEY_MAX];
		size_t kl = okey_build(k, u->okind, u->name, strlen(u->name));
		obj_free(map_del(st->objects, k, kl));
		if (u->saved) {
			map_put(st->objects, k, kl, u->saved);
			u->saved = NULL;
		}
		obj_dirty(st, u->okind, u->name);
		break;
	}
	case U_REF:
		ref_set(st, u->okind, u->name, u->u32);
		break;
	case U_OPEN:
		free(map_del(st->open, u->id, BSEC_HASH_BYTES));
		if (u->saved) {
			map_put(st->open, u->id, BSEC_HASH_BYTES, u->saved);
			u->saved = NULL;
		}
		break;
	case U_RECENT_PUSH:
		recent_unpush(st, (size_t)u->a);
		break;
	case U_RECENT_PRUNE: {
		recent_t *arr = u->saved;
		for (size_t i = u->n; i > 0; i--)
			rq_push_front(st, &arr[i - 1]);
		break;
	}
	case U_RING_PUSH:
		ring_unpush(u);
		break;
	case U_ATTEST:
		free(map_del(st->attests, u->name, strlen(u->name)));
		if (u->saved) {
			map_put(st->attests, u->name, strlen(u->name), u->saved);
			u->saved = NULL;
		}
		attest_dirty(st, u->name, strlen(u->name));
		break;
	}
	undo_release(u);
}

state_mark_t state_mark(const state_t *st)
{
	return st->n_undo;
}

void state_rollback(state_t *st, state_mark_t m)
{
	while (st->n_undo > m)
		undo_one(st, &st->undo[--st->n_undo]);
}

size_t state_trim_undo(state_t *st, state_mark_t m)
{
	if (m > st->n_undo)
		m = st->n_undo;
	for (size_t i = 0; i < m; i++)
		undo_release(&st->undo[i]);
	memmove(st->undo, st->undo + m, (st->n_undo - m) * sizeof(undo_t));
	st->n_undo -= m;
	return m;
}

void state_forget_undo(state_t *st)
{
	for (size_t i = 0; i < st->n_undo; i++)
		undo_release(&st->undo[i]);
	st->n_undo = 0;
}

/* ---- life ---- */

static void register_genesis(state_t *st)
{
	const genesis_t *g = st->g;
	for (size_t i = 0; i < g->n_tenants; i++) {
		const genesis_tenant_t *t = &g->tenants[i];
		for (size_t j = 0; j < t->n_grants; j++) {
			const grant_t *gr = &t->grants[j];
			tenant_ent_t *e = tent_make(st, t->key.scheme, t->key.key, gr->domain,
						    strlen(gr->domain));
			if (!e)
				continue;
			snprintf(e->rec.name, sizeof(e->rec.name), "%s", t->name);
			e->rec.sla = gr->sla;
			e->rec.revoked = 0;
			e->rec.height = 0;
			e->present = 1;
			tent_dirty(st, e);
		}
	}
}

/* An empty state: the maps, and the domains of the genesis. */
static state_t *state_alloc(const genesis_t *g)
{
	state_t *st = xcalloc(1, sizeof(*st));
	st->g = g;
	st->dirty_gen = 1;   /* new entries hold 0: not in the dirty set */
	atomic_init(&st->tent_last, NULL);
	st->tenants = map_new();
	st->tkeys = map_new();
	st->objects = map_new();
	st->refs = map_new();
	st->open = map_new();
	st->recent = map_new();
	st->answered = map_new();
	st->dirty_tenants = map_new();
	st->dirty_objects = map_new();
	st->domains = map_new();
	st->attests = map_new();
	st->dirty_attests = map_new();
	for (size_t i = 0; i < g->n_providers; i++)
		for (size_t d = 0; d < g->providers[i].n_domains; d++)
			map_put(st->domains, g->providers[i].domains[d], strlen(g->providers[i].domains[d]),
				(void *)&g->providers[i]);
	return st;
}

state_t *state_new(const genesis_t *g)
{
	state_t *st = state_alloc(g);
	register_genesis(st);
	return st;
}

static void tent_free(void *p)
{
	tenant_ent_t *e = p;
	free(e->ring.v);
	free(e);
}

static void tkey_free(void *p)
{
	tkey_ent_t *t = p;
	free(t->ents);
	free(t);
}

static void objv_free(void *p)
{
	obj_free(p);
}

void state_free(state_t *st)
{
	if (!st)
		return;
	state_forget_undo(st);
	free(st->undo);
	map_free_values(st->tenants, tent_free);
	map_free_values(st->tkeys, tkey_free);
	map_free_values(st->objects, objv_free);
	map_free_values(st->refs, free);
	map_free_values(st->open, free);
	map_free(st->recent);
	map_free(st->answered);
	map_free(st->dirty_tenants);
	map_free(st->dirty_objects);
	map_free(st->domains);
	map_free_values(st->attests, free);
	map_free(st->dirty_attests);
	free(st->rq);
	free(st);
}

const genesis_t *state_genesis(const state_t *st)
{
	return st->g;
}

uint64_t state_height(const state_t *st)
{
	return st->height;
}

uint64_t state_tip_ts(const state_t *st)
{
	return st->ts;
}

const provider_t *state_provider_of_domain(const state_t *st, const char *domain, size_t dlen)
{
	return dlen ? map_get(st->domains, domain, dlen) : NULL;
}

uint64_t state_recent_span_ms(const state_t *st)
{
	uint64_t w2 = 2 * st->g->params.timestamp_window_ms;
	return w2 > RATE_WINDOW_MS ? w2 : RATE_WINDOW_MS;
}

/* ---- queries ---- */

const tenant_rec_t *state_tenant(const state_t *st, const char *domain, size_t dlen, int scheme,
				 const uint8_t *key)
{
	tenant_ent_t *e = tent_get(st, scheme, key, domain, dlen);
	return e && e->present ? &e->rec : NULL;
}

int state_is_tenant(const state_t *st, int scheme, const uint8_t *key)
{
	uint8_t k[TKEY_MAX];
	if (!sig_scheme_valid(scheme))
		return 0;
	tkey_ent_t *t = map_get(st->tkeys, k, tkey_build(k, scheme, key, "", 0));
	for (size_t i = 0; t && i < t->n; i++)
		if (t->ents[i]->present && !t->ents[i]->rec.revoked)
			return 1;
	return 0;
}

int state_was_tenant(const state_t *st, int scheme, const uint8_t *key)
{
	uint8_t k[TKEY_MAX];
	if (!sig_scheme_valid(scheme))
		return 0;
	tkey_ent_t *t = map_get(st->tkeys, k, tkey_build(k, scheme, key, "", 0));
	for (size_t i = 0; t && i < t->n; i++)
		if (t->ents[i]->present)
			return 1;
	return 0;
}

const object_rec_t *state_object(const state_t *st, int kind, const char *name, size_t nlen)
{
	return obj_get(st, kind, name, nlen);
}

uint32_t state_refs(const state_t *st, int kind, const char *name, size_t nlen)
{
	return ref_get(st, kind, name, nlen);
}

uint32_t state_count(const state_t *st, int scheme, const uint8_t *key, const char *domain,
		     size_t dlen, int kind)
{
	tenant_ent_t *e = tent_get(st, scheme, key, domain, dlen);
	if (!e || kind < OBJ_VM || kind > OBJ_SFC)
		return 0;
	return e->count[kind];
}

const open_request_t *state_open_request(const state_t *st, const uint8_t id[BSEC_HASH_BYTES])
{
	return map_get(st->open, id, BSEC_HASH_BYTES);
}

int state_has_tx(const state_t *st, const uint8_t id[BSEC_HASH_BYTES])
{
	return map_get(st->recent, id, BSEC_HASH_BYTES) != NULL;
}

int state_was_answered(const state_t *st, const uint8_t id[BSEC_HASH_BYTES])
{
	return map_get(st->answered, id, BSEC_HASH_BYTES) != NULL;
}

uint32_t state_rate(const state_t *st, int scheme, const uint8_t *key, uint64_t now_ms)
{
	uint8_t k[TKEY_MAX];
	uint32_t n = 0;
	if (!sig_scheme_valid(scheme))
		return 0;
	tkey_ent_t *t = map_get(st->tkeys, k, tkey_build(k, scheme, key, "", 0));
	for (size_t i = 0; t && i < t->n; i++)
		n += ring_count(&t->ents[i]->ring, now_ms);
	return n;
}

uint32_t state_rate_in(const state_t *st, const char *domain, size_t dlen, int scheme,
		       const uint8_t *key, uint64_t now_ms)
{
	tenant_ent_t *e = tent_get(st, scheme, key, domain, dlen);
	return e ? ring_count(&e->ring, now_ms) : 0;
}

/* ---- mutation ---- */

void state_begin_block(state_t *st, uint64_t height, uint64_t timestamp_ms)
{
	undo_t *u = undo_push(st, U_TIP);
	u->a = st->height;
	u->b = st->ts;
	st->height = height;
	st->ts = timestamp_ms;

	uint64_t span = state_recent_span_ms(st);
	if (timestamp_ms <= span)
		return;
	uint64_t cutoff = timestamp_ms - span;
	size_t n = 0;
	while (n < st->rq_n && rq_at(st, n)->ts < cutoff)
		n++;
	if (!n)
		return;
	recent_t *arr = xmalloc(n * sizeof(recent_t));
	for (size_t i = 0; i < n; i++) {
		arr[i] = *rq_at(st, i);
		rq_maps_del(st, &arr[i]);
	}
	st->rq_head = (st->rq_head + n) % st->rq_cap;
	st->rq_n -= n;
	u = undo_push(st, U_RECENT_PRUNE);
	u->saved = arr;
	u->n = n;
}

/* The spec an update would leave: the object's create-form instruction
 * with the update applied (VNF: config keys merged, the update's value
 * winning; SFC: chain replaced).  Returns a fresh string, or NULL with a
 * reason in err when the result would not be a valid instruction. */
char *state_updated_spec(const object_rec_t *o, const instr_t *upd, char *err, size_t errlen)
{
	instr_t base;
	size_t pos;
	char why[160];
	if (!o->spec || instr_parse(&base, o->spec, strlen(o->spec), &pos, why, sizeof(why)) < 0) {
		err_set(err, errlen, "stored spec of %s '%s' does not parse", obj_kind_name(o->kind),
			o->name);
		return NULL;
	}
	if (upd->kind == OBJ_VNF) {
		for (int i = 0; i < upd->n_config; i++) {
			int j;
			for (j = 0; j < base.n_config; j++)
				if (!strcmp(base.config[j].key, upd->config[i].key))
					break;
			if (j == base.n_config) {
				if (base.n_config == INSTR_MAX_CONFIG) {
					err_set(err, errlen, "vnf '%s' would have more than %d config keys",
						o->name, INSTR_MAX_CONFIG);
					return NULL;
				}
				base.n_config++;
			}
			base.config[j] = upd->config[i];
		}
		/* keep keys sorted (insertion sort: at most INSTR_MAX_CONFIG) */
		for (int i = 1; i < base.n_config; i++) {
			instr_kv_t kv = base.config[i];
			int j = i;
			while (j > 0 && strcmp(base.config[j - 1].key, kv.key) > 0) {
				base.config[j] = base.config[j - 1];
				j--;
			}
			base.config[j] = kv;
		}
	} else if (upd->kind == OBJ_SFC) {
		memcpy(base.chain, upd->chain, sizeof(base.chain));
		base.n_chain = upd->n_chain;
	}
	/* a spec is an instruction like any other: longer, it would not parse
	 * back, and the references it makes would be lost */
	char *spec = instr_format(&base);
	if (strlen(spec) > TX_MAX_INSTRUCTION) {
		err_set(err, errlen, "%s '%s' would have a spec of %zu bytes, over the %d an instruction may have",
			obj_kind_name(o->kind), o->name, strlen(spec), TX_MAX_INSTRUCTION);
		free(spec);
		return NULL;
	}
	return spec;
}

static void apply_request(state_t *st, const tx_t *tx)
{
	size_t pos;
	char err[160];
	const instr_t *in = instr_parse_ref(tx->instruction, tx->instruction_len, &pos, err, sizeof(err));
	if (!in)
		return; /* validate_tx refuses it; applying nothing keeps the state sane */
	/* spec_refs below parses another text: keep what is needed after it */
	const obj_kind_t kind = in->kind;
	const verb_t verb = in->verb;
	char name[INSTR_MAX_NAME + 1];
	snprintf(name, sizeof(name), "%s", in->name);
	tenant_ent_t *e = tent_make(st, tx->scheme, tx->sender, tx->domain, tx->domain_len);
	if (!e)
		return;
	ring_push(st, e, st->ts);
	object_rec_t *o = obj_get(st, kind, name, strlen(name));
	switch (verb) {
	case VERB_CREATE:
		if (o)
			return;
		obj_save(st, kind, name);
		o = xcalloc(1, sizeof(*o));
		o->kind = (uint8_t)kind;
		snprintf(o->name, sizeof(o->name), "%s", name);
		memcpy(o->domain, tx->domain, tx->domain_len);
		o->owner = pubkey_intern(tx->scheme, tx->sender);
		o->status = OBJ_CREATING;
		o->spec = instr_format(in);
		memcpy(o->last_request, tx->id, BSEC_HASH_BYTES);
		o->height = st->height;
		{
			uint8_t k[OKEY_MAX];
			map_put(st->objects, k, okey_build(k, kind, name, strlen(name)), o);
		}
		count_add(st, e, kind, +1);
		instr_refs(st, in, +1, 1); /* the refs of its canonical spec */
		break;
	case VERB_UPDATE: {
		if (!o)
			return;
		char *spec = state_updated_spec(o, in, err, sizeof(err));
		if (!spec)
			return;
		obj_save(st, kind, name);
		free(o->pending_spec);
		o->pending_spec = spec;
		memcpy(o->last_request, tx->id, BSEC_HASH_BYTES);
		o->height = st->height;
		spec_refs(st, o->pending_spec, +1, 1);
		break;
	}
	case VERB_DELETE:
		if (!o)
			return;
		obj_save(st, kind, name);
		o->status = OBJ_DELETING;
		memcpy(o->last_request, tx->id, BSEC_HASH_BYTES);
		o->height = st->height;
		break;
	}
	open_save(st, tx->id);
	open_request_t *r = xcalloc(1, sizeof(*r));
	memcpy(r->id, tx->id, BSEC_HASH_BYTES);
	memcpy(r->domain, tx->domain, tx->domain_len);
	r->kind = (uint8_t)kind;
	r->verb = (uint8_t)verb;
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->height = st->height;
	r->timestamp_ms = tx->timestamp_ms;
	free(map_put(st->open, tx->id, BSEC_HASH_BYTES, r));
}

static void apply_response(state_t *st, const tx_t *tx)
{
	open_request_t *rp = map_get(st->open, tx->request_id, BSEC_HASH_BYTES);
	if (!rp)
		return;
	open_request_t r = *rp;
	open_save(st, tx->request_id);
	free(map_del(st->open, tx->request_id, BSEC_HASH_BYTES));

	object_rec_t *o = obj_get(st, r.kind, r.name, strlen(r.name));
	if (!o)
		return;
	int ok = tx->status == TX_STATUS_OK;
	obj_save(st, o->kind, o->name);
	o->height = st->height;
	switch (r.verb) {
	case VERB_CREATE:
		if (ok) {
			o->status = OBJ_ACTIVE;
		} else {
			count_add(st, owner_ent(st, o), o->kind, -1);
			spec_refs(st, o->spec, -1, 1);
			spec_refs(st, o->pending_spec, -1, 1);
			obj_remove(st, o->kind, o->name);
		}
		break;
	case VERB_UPDATE:
		if (!o->pending_spec)
			break;
		if (ok) {
			spec_refs(st, o->spec, -1, 1);
			free(o->spec);
			o->spec = o->pending_spec;
		} else {
			spec_refs(st, o->pending_spec, -1, 1);
			free(o->pending_spec);
		}
		o->pending_spec = NULL;
		break;
	case VERB_DELETE:
		/* the object counts against its owner's quota until it is gone:
		 * a delete that fails leaves it, so its slot cannot have been
		 * taken meanwhile */
		if (ok) {
			count_add(st, owner_ent(st, o), o->kind, -1);
			spec_refs(st, o->spec, -1, 1);
			spec_refs(st, o->pending_spec, -1, 1);
			obj_remove(st, o->kind, o->name);
		} else {
			o->status = OBJ_ACTIVE;
		}
		break;
	}
}

static void apply_tenant(state_t *st, const tx_t *tx)
{
	tenant_ent_t *e = tent_make(st, tx->tenant_scheme, tx->tenant_key, tx->domain, tx->domain_len);
	if (!e)
		return;
	tent_save(st, e);
	switch (tx->action) {
	case TENANT_REGISTER:
	case TENANT_UPDATE:
		memset(e->rec.name, 0, sizeof(e->rec.name));
		memcpy(e->rec.name, tx->name, tx->name_len);
		e->rec.sla = tx->sla;
		e->rec.revoked = 0;
		e->present = 1;
		break;
	case TENANT_REVOKE:
		e->rec.revoked = 1;
		break;
	}
	e->rec.height = st->height;
}

static void apply_attest(state_t *st, const tx_t *tx)
{
	char dom[TX_MAX_DOMAIN + 1];
	if (tx->domain_len > TX_MAX_DOMAIN)
		return;
	memcpy(dom, tx->domain, tx->domain_len);
	dom[tx->domain_len] = 0;
	undo_t *u = undo_push(st, U_ATTEST);
	snprintf(u->name, sizeof(u->name), "%s", dom);
	attest_rec_t *old = map_get(st->attests, dom, tx->domain_len);
	if (old) {
		u->saved = xmalloc(sizeof(*old));
		memcpy(u->saved, old, sizeof(*old));
	}
	attest_rec_t *a = xcalloc(1, sizeof(*a));
	memcpy(a->domain, dom, tx->domain_len + 1);
	memcpy(a->tx_id, tx->id, BSEC_HASH_BYTES);
	a->attested_height = tx->att_height;
	a->objects = tx->att_objects;
	a->problems = tx->att_problems;
	memcpy(a->digest, tx->att_digest, BSEC_HASH_BYTES);
	a->timestamp_ms = tx->timestamp_ms;
	a->height = st->height;
	a->block_ts = st->ts;
	free(map_put(st->attests, dom, tx->domain_len, a));
	attest_dirty(st, dom, tx->domain_len);
}

void state_apply_tx(state_t *st, const tx_t *tx)
{
	switch (tx->type) {
	case TX_REQUEST:
		apply_request(st, tx);
		break;
	case TX_RESPONSE:
		apply_response(st, tx);
		break;
	case TX_TENANT:
		apply_tenant(st, tx);
		break;
	case TX_ATTEST:
		apply_attest(st, tx);
		break;
	}
	recent_add(st, tx->id, tx->type == TX_RESPONSE ? tx->request_id : NULL);
}

/* ---- loading ---- */

void state_load_tenant(state_t *st, const tenant_rec_t *t)
{
	tenant_ent_t *e = tent_make(st, t->key.scheme, t->key.key, t->domain, strnlen(t->domain,
				    sizeof(t->domain)));
	if (!e)
		return;
	e->rec = *t;
	e->present = 1;
}

void state_load_object(state_t *st, const object_rec_t *o)
{
	object_rec_t *old = obj_get(st, o->kind, o->name, strnlen(o->name, sizeof(o->name)));
	if (old) {
		tenant_ent_t *e = owner_ent(st, old);
		if (e && e->count[old->kind])
			e->count[old->kind]--;
		spec_refs(st, old->spec, -1, 0);
		spec_refs(st, old->pending_spec, -1, 0);
		obj_remove(st, old->kind, old->name);
	}
	if (o->kind < OBJ_VM || o->kind > OBJ_SFC)
		return;
	object_rec_t *c = obj_dup(o);
	c->name[INSTR_MAX_NAME] = 0;
	c->domain[TX_MAX_DOMAIN] = 0;
	uint8_t k[OKEY_MAX];
	map_put(st->objects, k, okey_build(k, c->kind, c->name, strlen(c->name)), c);
	tenant_ent_t *e = owner_ent(st, c);
	if (e)
		e->count[c->kind]++;
	spec_refs(st, c->spec, +1, 0);
	spec_refs(st, c->pending_spec, +1, 0);
}

void state_load_open_request(state_t *st, const open_request_t *r)
{
	open_request_t *c = xmalloc(sizeof(*c));
	*c = *r;
	free(map_put(st->open, c->id, BSEC_HASH_BYTES, c));
}

void state_load_recent_tx(state_t *st, const uint8_t id[BSEC_HASH_BYTES], uint64_t ts,
			  const tx_t *tx_or_null)
{
	if (map_get(st->recent, id, BSEC_HASH_BYTES))
		return;
	recent_t r;
	memset(&r, 0, sizeof(r));
	memcpy(r.id, id, BSEC_HASH_BYTES);
	r.ts = ts;
	const tx_t *tx = tx_or_null;
	if (tx && tx->type == TX_RESPONSE && tx->request_id) {
		memcpy(r.req, tx->request_id, BSEC_HASH_BYTES);
		r.has_req = 1;
	}
	rq_insert(st, &r);
	if (tx && tx->type == TX_REQUEST && tx->domain) {
		tenant_ent_t *e = tent_make(st, tx->scheme, tx->sender, tx->domain, tx->domain_len);
		if (e)
			ring_insert(&e->ring, ts);
	}
}

void state_load_attestation(state_t *st, const attest_rec_t *a)
{
	size_t dl = strnlen(a->domain, sizeof(a->domain));
	if (dl == 0 || dl > TX_MAX_DOMAIN)
		return;
	attest_rec_t *c = xmalloc(sizeof(*c));
	*c = *a;
	c->domain[dl] = 0;
	free(map_put(st->attests, c->domain, dl, c));
}

void state_set_tip(state_t *st, uint64_t height, uint64_t timestamp_ms)
{
	st->height = height;
	st->ts = timestamp_ms;
}

/* ---- persistence and iteration ---- */

int state_foreach_dirty(state_t *st, state_tenant_cb tcb, state_object_cb ocb, void *ctx)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	int r = 0;
	while (tcb && !r && map_next(st->dirty_tenants, &i, &k, &kl, &v)) {
		tenant_ent_t *e = v;
		if (e->present)
			r = tcb(ctx, &e->rec);
	}
	i = 0;
	while (ocb && !r && map_next(st->dirty_objects, &i, &k, &kl, &v)) {
		const uint8_t *kb = k;
		char name[INSTR_MAX_NAME + 1];
		size_t nl = kl - 1 < INSTR_MAX_NAME ? kl - 1 : INSTR_MAX_NAME;
		memcpy(name, kb + 1, nl);
		name[nl] = 0;
		r = ocb(ctx, kb[0], name, obj_get(st, kb[0], name, nl));
	}
	return r;
}

int state_foreach_dirty_attestation(state_t *st, state_attest_cb cb, void *ctx)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	int r = 0;
	while (!r && map_next(st->dirty_attests, &i, &k, &kl, &v)) {
		attest_rec_t *a = map_get(st->attests, k, kl);
		if (a)
			r = cb(ctx, a);
	}
	return r;
}

/* ---- comparison ---- */

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int tenant_rec_eq(const tenant_rec_t *a, const tenant_rec_t *b)
{
	return strcmp(a->domain, b->domain) == 0 && a->key.scheme == b->key.scheme &&
	       memcmp(a->key.key, b->key.key, sig_pub_len(a->key.scheme)) == 0 &&
	       strcmp(a->name, b->name) == 0 && a->sla.ops == b->sla.ops &&
	       a->sla.max_vms == b->sla.max_vms && a->sla.max_vnfs == b->sla.max_vnfs &&
	       a->sla.max_sfcs == b->sla.max_sfcs && a->sla.max_chain == b->sla.max_chain &&
	       a->sla.rate_per_min == b->sla.rate_per_min && a->revoked == b->revoked &&
	       a->height == b->height;
}

static int object_rec_eq(const object_rec_t *a, const object_rec_t *b)
{
	/* owners are interned: one pointer per key in the process */
	return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->domain, b->domain) == 0 && a->owner == b->owner && a->status == b->status &&
	       str_eq(a->spec, b->spec) && str_eq(a->pending_spec, b->pending_spec) &&
	       memcmp(a->last_request, b->last_request, BSEC_HASH_BYTES) == 0 &&
	       a->height == b->height;
}

static int open_eq(const open_request_t *a, const open_request_t *b)
{
	return memcmp(a->id, b->id, BSEC_HASH_BYTES) == 0 && strcmp(a->domain, b->domain) == 0 &&
	       a->kind == b->kind && a->verb == b->verb && strcmp(a->name, b->name) == 0 &&
	       a->height == b->height && a->timestamp_ms == b->timestamp_ms;
}

static int attest_eq(const attest_rec_t *a, const attest_rec_t *b)
{
	return strcmp(a->domain, b->domain) == 0 && memcmp(a->tx_id, b->tx_id, BSEC_HASH_BYTES) == 0 &&
	       a->attested_height == b->attested_height && a->objects == b->objects &&
	       a->problems == b->problems && memcmp(a->digest, b->digest, BSEC_HASH_BYTES) == 0 &&
	       a->timestamp_ms == b->timestamp_ms && a->height == b->height &&
	       a->block_ts == b->block_ts;
}

/* The first record of a that b lacks or holds otherwise, described in
 * why; 0 when there is none.  `what' names a's side. */
static int first_diff(const state_t *a, const state_t *b, const char *what, char *why, size_t wl)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	char hex[2 * BSEC_HASH_BYTES + 1];
	while (map_next(a->tenants, &i, &k, &kl, &v)) {
		const tenant_ent_t *e = v, *f = map_get(b->tenants, k, kl);
		if (!e->present)
			continue;
		if (!f || !f->present || !tenant_rec_eq(&e->rec, &f->rec)) {
			err_set(why, wl, "tenant `%s' of domain %s: %s", e->rec.name, e->rec.domain,
				f && f->present ? "fields differ" : what);
			return 1;
		}
	}
	for (i = 0; map_next(a->objects, &i, &k, &kl, &v);) {
		const object_rec_t *o = v, *p = map_get(b->objects, k, kl);
		if (!p || !object_rec_eq(o, p)) {
			err_set(why, wl, "%s `%s': %s", obj_kind_name(o->kind), o->name,
				p ? "fields differ" : what);
			return 1;
		}
	}
	for (i = 0; map_next(a->open, &i, &k, &kl, &v);) {
		const open_request_t *r = v, *q = map_get(b->open, k, kl);
		if (!q || !open_eq(r, q)) {
			hex_encode(hex, r->id, BSEC_HASH_BYTES);
			err_set(why, wl, "open request %s: %s", hex, q ? "fields differ" : what);
			return 1;
		}
	}
	for (i = 0; map_next(a->attests, &i, &k, &kl, &v);) {
		const attest_rec_t *x = v, *y = map_get(b->attests, k, kl);
		if (!y || !attest_eq(x, y)) {
			err_set(why, wl, "attestation of domain %s: %s", x->domain, y ? "fields differ" : what);
			return 1;
		}
	}
	return 0;
}

int state_diff(const state_t *a, const state_t *b, char *why, size_t wl)
{
	if (a->height != b->height || a->ts != b->ts) {
		err_set(why, wl, "tip %" PRIu64 " (ts %" PRIu64 ") against %" PRIu64 " (ts %" PRIu64 ")",
			a->height, a->ts, b->height, b->ts);
		return 1;
	}
	/* every record of each side found alike on the other: equal sets */
	if (first_diff(a, b, "missing from the second", why, wl) ||
	    first_diff(b, a, "missing from the first", why, wl))
		return 1;
	return 0;
}

/* ---- deltas ---- */

struct state_delta {
	tenant_rec_t *tenants;
	size_t n_tenants;
	struct delta_obj {
		uint8_t kind;
		char name[INSTR_MAX_NAME + 1];
		object_rec_t *rec;       /* a copy; NULL: removed */
	} *objects;
	size_t n_objects;
	attest_rec_t *attests;
	size_t n_attests;
};

static int delta_ten(void *ctx, const tenant_rec_t *t)
{
	state_delta_t *d = ctx;
	d->tenants[d->n_tenants++] = *t;
	return 0;
}

static int delta_obj(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	state_delta_t *d = ctx;
	struct delta_obj *x = &d->objects[d->n_objects++];
	x->kind = (uint8_t)kind;
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->rec = o ? obj_dup(o) : NULL;
	return 0;
}

static int delta_att(void *ctx, const attest_rec_t *a)
{
	state_delta_t *d = ctx;
	d->attests[d->n_attests++] = *a;
	return 0;
}

state_delta_t *state_take_delta(state_t *st)
{
	state_delta_t *d = xcalloc(1, sizeof(*d));
	d->tenants = xmalloc((map_size(st->dirty_tenants) + 1) * sizeof(*d->tenants));
	d->objects = xmalloc((map_size(st->dirty_objects) + 1) * sizeof(*d->objects));
	d->attests = xmalloc((map_size(st->dirty_attests) + 1) * sizeof(*d->attests));
	state_foreach_dirty(st, delta_ten, delta_obj, d);
	state_foreach_dirty_attestation(st, delta_att, d);
	state_clear_dirty(st);
	return d;
}

void state_delta_free(state_delta_t *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_objects; i++)
		obj_free(d->objects[i].rec);
	free(d->tenants);
	free(d->objects);
	free(d->attests);
	free(d);
}

void state_delta_return(state_t *st, state_delta_t *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_tenants; i++) {
		const tenant_rec_t *t = &d->tenants[i];
		tenant_ent_t *e = tent_get(st, t->key.scheme, t->key.key, t->domain, strlen(t->domain));
		if (e)
			tent_dirty(st, e);
	}
	for (size_t i = 0; i < d->n_objects; i++)
		obj_dirty(st, d->objects[i].kind, d->objects[i].name);
	for (size_t i = 0; i < d->n_attests; i++)
		attest_dirty(st, d->attests[i].domain, strlen(d->attests[i].domain));
	state_delta_free(d);
}

size_t state_delta_size(const state_delta_t *d)
{
	return d ? d->n_tenants + d->n_objects + d->n_attests : 0;
}

int state_delta_foreach(const state_delta_t *d, state_tenant_cb tcb, state_object_cb ocb,
			state_attest_cb acb, void *ctx)
{
	int r = 0;
	for (size_t i = 0; tcb && !r && i < d->n_tenants; i++)
		r = tcb(ctx, &d->tenants[i]);
	for (size_t i = 0; ocb && !r && i < d->n_objects; i++)
		r = ocb(ctx, d->objects[i].kind, d->objects[i].name, d->objects[i].rec);
	for (size_t i = 0; acb && !r && i < d->n_attests; i++)
		r = acb(ctx, &d->attests[i]);
	return r;
}

void state_clear_dirty(state_t *st)
{
	st->dirty_gen++;
	map_clear(st->dirty_tenants);
	map_clear(st->dirty_objects);
	map_clear(st->dirty_attests);
}

void state_track_dirty(state_t *st, int on)
{
	st->untracked = !on;
	if (!on)
		state_clear_dirty(st);
}

int state_foreach_object(const state_t *st, state_object_cb cb, void *ctx)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	int r = 0;
	while (!r && map_next(st->objects, &i, &k, &kl, &v)) {
		object_rec_t *o = v;
		r = cb(ctx, o->kind, o->name, o);
	}
	return r;
}

int state_foreach_attestation(const state_t *st, state_attest_cb cb, void *ctx)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	int r = 0;
	while (!r && map_next(st->attests, &i, &k, &kl, &v))
		r = cb(ctx, v);
	return r;
}

const attest_rec_t *state_attestation(const state_t *st, const char *domain, size_t dlen)
{
	return dlen && dlen <= TX_MAX_DOMAIN ? map_get(st->attests, domain, dlen) : NULL;
}

uint32_t state_open_in(const state_t *st, const char *domain, size_t dlen)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	uint32_t n = 0;
	while (map_next(st->open, &i, &k, &kl, &v)) {
		const open_request_t *r = v;
		if (strlen(r->domain) == dlen && !memcmp(r->domain, domain, dlen))
			n++;
	}
	return n;
}

int state_foreach_tenant(const state_t *st, state_tenant_cb cb, void *ctx)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	int r = 0;
	while (!r && map_next(st->tenants, &i, &k, &kl, &v)) {
		tenant_ent_t *e = v;
		if (e->present)
			r = cb(ctx, &e->rec);
	}
	return r;
}
