/*
 * buf.c — canonical encoding writer and bounds-checked reader (see buf.h).
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void buf_init(buf_t *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(buf_t *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(buf_t *b)
{
	b->len = 0;
}

void buf_reserve(buf_t *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_put(buf_t *b, const void *p, size_t n)
{
	if (!n)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void buf_u8(buf_t *b, uint8_t v)
{
	buf_put(b, &v, 1);
}

void buf_u16(buf_t *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	buf_put(b, x, 2);
}

void buf_u32(buf_t *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	buf_put(b, x, 4);
}

void buf_u64(buf_t *b, uint64_t v)
{
	buf_u32(b, (uint32_t)(v >> 32));
	buf_u32(b, (uint32_t)v);
}

void buf_str8(buf_t *b, const char *s, size_t n)
{
	if (n > 255)
		abort(); /* programming error: callers check limits first */
	buf_u8(b, (uint8_t)n);
	buf_put(b, s, n);
}

void buf_str16(buf_t *b, const char *s, size_t n)
{
	if (n > 65535)
		abort();
	buf_u16(b, (uint16_t)n);
	buf_put(b, s, n);
}

void buf_blob32(buf_t *b, const void *p, size_t n)
{
	buf_u32(b, (uint32_t)n);
	buf_put(b, p, n);
}

void buf_uvar(buf_t *b, uint64_t v)
{
	uint8_t x[10];
	size_t n = 0;
	do {
		x[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			x[n] |= 0x80;
		n++;
	} while (v);
	buf_put(b, x, n);
}

uint8_t *buf_steal(buf_t *b, size_t *len)
{
	uint8_t *p = b->data ? b->data : xmalloc(1);
	*len = b->len;
	buf_init(b);
	return p;
}

void rd_init(rd_t *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->err = NULL;
	r->err_off = 0;
}

void rd_fail(rd_t *r, const char *why)
{
	if (r->err)
		return;
	r->err = why;
	r->err_off = r->off;
}

static const uint8_t *take(rd_t *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > r->len - r->off) {
		rd_fail(r, "truncated");
		return NULL;
	}
	const uint8_t *p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t rd_u8(rd_t *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

uint16_t rd_u16(rd_t *r)
{
	const uint8_t *p = take(r, 2);
	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t rd_u32(rd_t *r)
{
	const uint8_t *p = take(r, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

uint64_t rd_u64(rd_t *r)
{
	uint64_t hi = rd_u32(r);
	return hi << 32 | rd_u32(r);
}

const uint8_t *rd_bytes(rd_t *r, size_t n)
{
	return take(r, n);
}

void rd_copy(rd_t *r, void *out, size_t n)
{
	const uint8_t *p = take(r, n);
	if (p)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

static const char *rd_str(rd_t *r, size_t n, size_t *outn, size_t max)
{
	if (r->err)
		goto bad;
	if (n > max) {
		rd_fail(r, "field longer than allowed");
		goto bad;
	}
	const uint8_t *p = take(r, n);
	if (!p)
		goto bad;
	*outn = n;
	return (const char *)p;
bad:
	*outn = 0;
	return NULL;
}

const char *rd_str8(rd_t *r, size_t *n, size_t max)
{
	return rd_str(r, rd_u8(r), n, max);
}

const char *rd_str16(rd_t *r, size_t *n, size_t max)
{
	return rd_str(r, rd_u16(r), n, max);
}

const uint8_t *rd_blob32(rd_t *r, size_t *n, size_t max)
{
	return (const uint8_t *)rd_str(r, rd_u32(r), n, max);
}

int rd_ok(const rd_t *r)
{
	return r->err == NULL;
}

int rd_end(rd_t *r)
{
	if (!r->err && r->off != r->len)
		rd_fail(r, "trailing bytes");
	return rd_ok(r);
}

uint64_t rd_uvar(rd_t *r)
{
	uint64_t v = 0;
	size_t start = r->off;
	for (unsigned i = 0; i < 10; i++) {
		const uint8_t *p = take(r, 1);
		if (!p)
			return 0;
		uint8_t x = *p;
		/* the tenth byte may hold only the 64th bit */
		if (i == 9 && x > 1)
			break;
		v |= (uint64_t)(x & 0x7f) << (7 * i);
		if (!(x & 0x80)) {
			if (x == 0 && i > 0)
				break;           /* a trailing zero group: not the shortest form */
			return v;
		}
	}
	r->off = start;
	rd_fail(r, "bad variable-length integer");
	return 0;
}
