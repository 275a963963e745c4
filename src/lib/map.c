/*
 * map.c — open-addressing hash map with linear probing and tombstones
 * (see map.h).  Keys are hashed with a per-process seeded, word-at-a-time
 * multiply-shift hash; the table doubles at 70 % load, counting tombstones.
 */
#include "map.h"
#include "util.h"

#include <stdlib.h>
#include <sys/random.h>
#include <string.h>

typedef struct {
	uint64_t h;          /* 0 = empty, 1 = tombstone, else hash|2 */
	void *key;
	size_t klen;
	void *val;
} slot_t;

struct map_t {
	slot_t *slots;
	size_t cap;          /* power of two */
	size_t used;         /* live entries */
	size_t filled;       /* live + tombstones */
};

/* A per-process secret seed, so names a tenant picks cannot be made to
 * collide on purpose (iteration order is never relied on). */
static uint64_t seed = 0x6a09e667f3bcc909ull;

__attribute__((constructor)) static void seed_init(void)
{
	uint64_t v;
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		seed ^= v;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	return h;
}

/* Eight bytes at a time, each word folded in with a multiply and a
 * shift; the tail (and the length) as one last word. */
static uint64_t hash_key(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint64_t h = seed ^ ((uint64_t)klen * 0x9e3779b97f4a7c15ull);
	size_t n = klen;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = mix(h ^ w) + 0x9e3779b97f4a7c15ull;
		p += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, p, n);
	h = mix(mix(h ^ w ^ ((uint64_t)n << 56)));
	return h | 2;
}

map_t *map_new(void)
{
	map_t *m = xcalloc(1, sizeof(*m));
	m->cap = 16;
	m->slots = xcalloc(m->cap, sizeof(slot_t));
	return m;
}

void map_free(map_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].h > 1)
			free(m->slots[i].key);
	free(m->slots);
	free(m);
}

void map_free_values(map_t *m, void (*fn)(void *))
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].h > 1)
			fn(m->slots[i].val);
	map_free(m);
}

size_t map_size(const map_t *m)
{
	return m->used;
}

/* The home slot.  Not the low bits: hash_key sets bit 1 of every hash
 * (0 and 1 mark empty and deleted slots), so h & mask would use only
 * half the slots as homes and make probe runs long. */
static size_t home(uint64_t h, size_t mask)
{
	return (size_t)(h >> 2) & mask;
}

static slot_t *find(const map_t *m, uint64_t h, const void *key, size_t klen)
{
	size_t mask = m->cap - 1;
	for (size_t i = home(h, mask), n = 0; n < m->cap; i = (i + 1) & mask, n++) {
		slot_t *s = &m->slots[i];
		if (s->h == 0)
			return NULL;
		if (s->h == h && s->klen == klen && memcmp(s->key, key, klen) == 0)
			return s;
	}
	return NULL;
}

static void grow(map_t *m)
{
	slot_t *old = m->slots;
	size_t oldcap = m->cap;
	size_t cap = m->cap;
	while (m->used * 10 >= cap * 5)
		cap *= 2;
	m->cap = cap;
	m->slots = xcalloc(cap, sizeof(slot_t));
	m->filled = m->used;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].h <= 1)
			continue;
		size_t j = home(old[i].h, cap - 1);
		while (m->slots[j].h)
			j = (j + 1) & (cap - 1);
		m->slots[j] = old[i];
	}
	free(old);
}

void map_clear(map_t *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].h > 1)
			free(m->slots[i].key);
	if (m->cap > 4096) {         /* do not keep a huge table for a few keys */
		free(m->slots);
		m->cap = 16;
		m->slots = xcalloc(m->cap, sizeof(slot_t));
	} else {
		memset(m->slots, 0, m->cap * sizeof(slot_t));
	}
	m->used = m->filled = 0;
}

void *map_get(const map_t *m, const void *key, size_t klen)
{
	slot_t *s = find(m, hash_key(key, klen), key, klen);
	return s ? s->val : NULL;
}

void *map_put(map_t *m, const void *key, size_t klen, void *val)
{
	uint64_t h = hash_key(key, klen);
	slot_t *s = find(m, h, key, klen);
	if (s) {
		void *prev = s->val;
		s->val = val;
		return prev;
	}
	if ((m->filled + 1) * 10 > m->cap * 7)
		grow(m);
	size_t mask = m->cap - 1, i = home(h, mask);
	while (m->slots[i].h > 1)
		i = (i + 1) & mask;
	if (m->slots[i].h == 0)
		m->filled++;
	s = &m->slots[i];
	s->h = h;
	s->key = xmalloc(klen);
	memcpy(s->key, key, klen);
	s->klen = klen;
	s->val = val;
	m->used++;
	return NULL;
}

void *map_del(map_t *m, const void *key, size_t klen)
{
	slot_t *s = find(m, hash_key(key, klen), key, klen);
	if (!s)
		return NULL;
	void *prev = s->val;
	free(s->key);
	s->key = NULL;
	s->klen = 0;
	s->val = NULL;
	s->h = 1;
	m->used--;
	return prev;
}

int map_next(const map_t *m, size_t *i, const void **key, size_t *klen, void **val)
{
	for (; *i < m->cap; (*i)++) {
		slot_t *s = &m->slots[*i];
		if (s->h > 1) {
			*key = s->key;
			*klen = s->klen;
			*val = s->val;
			(*i)++;
			return 1;
		}
	}
	return 0;
}
