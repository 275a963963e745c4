/*
 * fuzz_pbft.c — libFuzzer harness for the PBFT peer-message decoders and
 * the state machine behind them.  A replica (n = 4, index 1) whose
 * signature checks always pass is fed the input as frames (u16 length ||
 * message), with a timer tick of 250 ms after each, so the fuzzer gets
 * past the signatures into view changes, new views and state transfer;
 * any crash, leak or undefined behaviour there shows up.  Fake blocks:
 * u64 height || 32 prev || anything, hash = SHA-256 of the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "consensus/pbft.h"
#include "lib/buf.h"

static void f_send(void *ctx, uint16_t to, const uint8_t *m, size_t len)
{
	(void)ctx, (void)to, (void)m, (void)len;
}

static void f_bcast(void *ctx, const uint8_t *m, size_t len)
{
	(void)ctx, (void)m, (void)len;
}

static int f_persist(void *ctx, const char *k, const uint8_t *v, size_t len)
{
	(void)ctx, (void)k, (void)v, (void)len;
	return 0;
}

static int f_sign(void *ctx, const uint8_t *m, size_t len, uint8_t *sig, size_t *sl)
{
	(void)ctx;
	hash_sha256(sig, m, len);
	memset(sig + 32, 0, 32);
	*sl = 64;
	return 0;
}

static int f_verify(void *ctx, uint16_t node, const uint8_t *m, size_t len, const uint8_t *sig, size_t sl)
{
	(void)ctx, (void)node, (void)m, (void)len, (void)sig;
	return sl == 64 ? 0 : -1;
}

static int f_block_id(void *ctx, const uint8_t *b, size_t len, int whole, uint64_t *h, uint64_t *view,
		      uint8_t hash[32], uint8_t prev[32])
{
	(void)ctx, (void)whole;
	if (len < 40)
		return -1;
	rd_t r;
	rd_init(&r, b, len);
	*h = rd_u64(&r);
	rd_copy(&r, prev, 32);
	*view = len >= 48 ? rd_u64(&r) : 0;
	hash_sha256(hash, b, len);
	return 0;
}

static int f_build(void *ctx, uint64_t h, const uint8_t prev[32], uint64_t view, uint8_t **out, size_t *len)
{
	(void)ctx;
	buf_t b;
	buf_init(&b);
	buf_u64(&b, h);
	buf_put(&b, prev, 32);
	buf_u64(&b, view);
	*out = buf_steal(&b, len);
	return 0;
}

static int f_validate(void *ctx, uint64_t h, uint64_t v, const uint8_t *b, size_t len)
{
	(void)ctx, (void)h, (void)v, (void)b;
	return len % 7 == 3 ? -1 : 0;
}

static void f_abort(void *ctx, uint64_t from)
{
	(void)ctx, (void)from;
}

static int f_deliver(void *ctx, uint64_t h, const uint8_t *b, size_t len, const cert_t *c)
{
	(void)ctx, (void)h, (void)b, (void)len, (void)c;
	return 0;
}

static int f_get_block(void *ctx, uint64_t h, uint8_t **b, size_t *len, uint8_t **c, size_t *cl)
{
	(void)ctx, (void)h, (void)b, (void)len, (void)c, (void)cl;
	return -1;
}

static int f_pending(void *ctx)
{
	(void)ctx;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pbft_config_t cfg;
	pbft_config_default(&cfg, 4, 1);
	cfg.max_block_bytes = 1 << 16;
	cfg.max_msg_bytes = 4 << 20;
	pbft_callbacks_t cb = {
		.send = f_send, .broadcast = f_bcast, .persist = f_persist, .sign = f_sign,
		.verify = f_verify, .block_id = f_block_id, .build_block = f_build,
		.validate_block = f_validate, .abort_from = f_abort, .deliver = f_deliver,
		.get_block = f_get_block, .has_pending = f_pending,
	};
	static int quiet;
	if (!quiet) {
		log_set_level(LOG_ERROR);
		quiet = 1;
	}
	uint8_t zero[32] = { 0 };
	pbft_t *p = pbft_new(&cfg, &cb, 0, zero, NULL, NULL, 0);
	if (!p)
		abort();
	uint64_t now = 1000;
	pbft_start(p, now);
	size_t off = 0;
	while (off + 2 <= size) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (len > size - off)
			len = size - off;
		pbft_receive(p, now, -1, data + off, len);
		off += len;
		now += 250;
		pbft_tick(p, now);
	}
	pbft_free(p);
	return 0;
}
