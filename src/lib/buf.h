/*
 * buf.h — the canonical binary encoding's primitives.
 *
 * buf_t is a growable output buffer; every integer is written big-endian
 * with a fixed width.  rd_t reads the same encoding back and records the
 * first error (with its byte offset) instead of crashing: callers read
 * every field, then check rd_ok() once.  Strings are length-prefixed
 * (str8: u8 length, str16: u16 length); decoders enforce a maximum.
 */
#ifndef BSEC_BUF_H
#define BSEC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef struct {
	uint8_t *data;
	size_t len;
	size_t cap;
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_reset(buf_t *b);                 /* len = 0, keeps memory */
void buf_reserve(buf_t *b, size_t extra);
void buf_put(buf_t *b, const void *p, size_t n);
void buf_u8(buf_t *b, uint8_t v);
void buf_u16(buf_t *b, uint16_t v);
void buf_u32(buf_t *b, uint32_t v);
void buf_u64(buf_t *b, uint64_t v);
void buf_str8(buf_t *b, const char *s, size_t n);   /* n must be <= 255 */
void buf_str16(buf_t *b, const char *s, size_t n);  /* n must be <= 65535 */
void buf_blob32(buf_t *b, const void *p, size_t n); /* u32 length prefix */
/* Unsigned LEB128: 7 bits per byte, low first, high bit = more (1 to 10
 * bytes).  Only at-rest forms use it; the signed encodings are fixed-width. */
void buf_uvar(buf_t *b, uint64_t v);
uint8_t *buf_steal(buf_t *b, size_t *len);           /* caller owns result */

/* Reader.  After the first failure every read returns zeros and the
 * error (message and offset) is kept. */
typedef struct {
	const uint8_t *p;
	size_t len;
	size_t off;
	const char *err;     /* static string, NULL while ok */
	size_t err_off;
} rd_t;

void rd_init(rd_t *r, const void *p, size_t len);
uint8_t rd_u8(rd_t *r);
uint16_t rd_u16(rd_t *r);
uint32_t rd_u32(rd_t *r);
uint64_t rd_u64(rd_t *r);
const uint8_t *rd_bytes(rd_t *r, size_t n);  /* pointer into input, NULL on error */
void rd_copy(rd_t *r, void *out, size_t n);
/* Length-prefixed strings: returns a pointer into the input (not
 * NUL-terminated) and the length; fails if the length exceeds max. */
const char *rd_str8(rd_t *r, size_t *n, size_t max);
const char *rd_str16(rd_t *r, size_t *n, size_t max);
const uint8_t *rd_blob32(rd_t *r, size_t *n, size_t max);
/* Reads what buf_uvar writes; refuses a longer form than needed and a
 * value past 64 bits, so each value has exactly one encoding. */
uint64_t rd_uvar(rd_t *r);
void rd_fail(rd_t *r, const char *why);      /* record an error at r->off */
int rd_ok(const rd_t *r);
int rd_end(rd_t *r);   /* fails with "trailing bytes" unless all consumed; returns rd_ok */

#endif
