/*
 * attest.c — the canonical digest of a domain's objects (attest.h).
 */
#include "attest.h"

#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "instr.h"

static int entry_cmp(const void *a, const void *b)
{
	const attest_entry_t *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

void attest_digest(uint8_t out[BSEC_HASH_BYTES], attest_entry_t *entries, size_t n)
{
	hash_ctx_t c;
	buf_t b;
	if (n > 1)
		qsort(entries, n, sizeof(*entries), entry_cmp);
	buf_init(&b);
	hash_init(&c);
	hash_update(&c, ATTEST_DIGEST_TAG, sizeof(ATTEST_DIGEST_TAG) - 1);
	buf_u32(&b, (uint32_t)n);
	hash_update(&c, b.data, b.len);
	for (size_t i = 0; i < n; i++) {
		const attest_entry_t *e = &entries[i];
		size_t nl = strnlen(e->name, INSTR_MAX_NAME);
		size_t sl = e->spec ? strnlen(e->spec, TX_MAX_INSTRUCTION) : 0;
		buf_reset(&b);
		buf_u8(&b, (uint8_t)e->kind);
		buf_str8(&b, e->name, nl);
		buf_str16(&b, e->spec ? e->spec : "", sl);
		buf_u8(&b, e->whole ? 1 : 0);
		hash_update(&c, b.data, b.len);
	}
	hash_final(&c, out);
	buf_free(&b);
}

typedef struct {
	const char *domain;
	attest_entry_t *v;
	size_t n, cap;
} collect_t;

static int collect(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	collect_t *c = ctx;
	(void)name;
	if (!o || strcmp(o->domain, c->domain) != 0 ||
	    (o->status != OBJ_ACTIVE && o->status != OBJ_DELETING))
		return 0;
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = (attest_entry_t){ kind, o->name, o->spec ? o->spec : "", 1 };
	return 0;
}

void attest_expected(uint8_t out[BSEC_HASH_BYTES], const state_t *st, const char *domain,
		     uint32_t *count)
{
	collect_t c = { domain, NULL, 0, 0 };
	state_foreach_object(st, collect, &c);
	attest_digest(out, c.v, c.n);
	if (count)
		*count = (uint32_t)c.n;
	free(c.v);
}
