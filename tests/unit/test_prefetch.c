/*
 * test_prefetch.c — the fetched-block checker (src/node/prefetch.c): it
 * decodes queued blocks and checks their tx signatures on its own thread,
 * hands each block over once, finds a bad signature at its index, refuses
 * bytes that are not the queued block's, and forgets what is dropped.
 * Signatures are checked in version 1 blocks only: a version 2 header
 * commits to them (sig_root), which the node checks with the header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/sig.h"
#include "lib/util.h"
#include "ledger/block.h"
#include "ledger/tx.h"
#include "node/prefetch.h"

enum { NBLK = 6, PER = 150 };

static uint8_t chain[BSEC_HASH_BYTES];
static sig_key_t *node_key, *tenant;
static buf_t enc[NBLK];
static uint64_t heights[NBLK];
static const uint8_t *raws[NBLK];
static size_t lens[NBLK];

/* Block h with PER requests, a version `version' header; bad_at >= 0:
 * that tx's signature is flipped (before sealing, as a faulty proposer
 * would; after, with `after', as a peer relaying a certified block). */
static void mk_block_v(buf_t *out, uint64_t h, long bad_at, int version, int after)
{
	block_t b;
	char err[256], text[64];
	memset(&b, 0, sizeof(b));
	memcpy(b.hdr.chain_id, chain, BSEC_HASH_BYTES);
	b.hdr.height = h;
	b.hdr.timestamp_ms = 1700000000000ull + h;
	b.hdr.tx_count = PER;
	b.txs = xcalloc(PER, sizeof(tx_t));
	for (int i = 0; i < PER; i++) {
		snprintf(text, sizeof(text), "vm create b%llu-%d", (unsigned long long)h, i);
		tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = 1700000000000ull + h,
				  .domain = "p0", .instruction = text };
		if (tx_build(&b.txs[i], &f, tenant, chain, err, sizeof(err)) < 0)
			fail_msg("tx_build: %s", err);
		if (i == bad_at && !after)
			b.txs[i].raw[b.txs[i].raw_len - 1] ^= 0x01; /* last byte: in the signature */
	}
	assert_int_equal(block_seal_version(&b, node_key, version), 0);
	if (bad_at >= 0 && after)
		b.txs[bad_at].raw[b.txs[bad_at].raw_len - 1] ^= 0x01;
	buf_init(out);
	block_encode(out, &b);
	block_clear(&b);
}

static void mk_block(buf_t *out, uint64_t h, long bad_at)
{
	mk_block_v(out, h, bad_at, 1, 0);
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(chain); i++)
		chain[i] = (uint8_t)(i * 7 + 1);
	node_key = sig_keygen(SIG_ED25519);
	tenant = sig_keygen(SIG_ED25519);
	for (int i = 0; i < NBLK; i++) {
		heights[i] = 10 + (uint64_t)i;
		mk_block(&enc[i], heights[i], i == 3 ? 97 : -1);
		raws[i] = enc[i].data;
		lens[i] = enc[i].len;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NBLK; i++)
		buf_free(&enc[i]);
	sig_key_free(node_key);
	sig_key_free(tenant);
	return 0;
}

static void test_checked_in_order(void **unused)
{
	(void)unused;
	prefetch_t *p = prefetch_new(chain);
	assert_non_null(p);
	prefetch_queue(p, heights, raws, lens, NBLK);
	/* let the thread get ahead, as the event loop's apply would */
	usleep(100000);
	for (int i = 0; i < NBLK; i++) {
		block_t b;
		long bad = -2;
		/* a copy of the bytes, as pbft hands them over */
		uint8_t *copy = xmalloc(lens[i]);
		memcpy(copy, raws[i], lens[i]);
		int r = prefetch_take(p, heights[i], copy, lens[i], &b, &bad);
		free(copy);
		if (r == 0)
			continue; /* not started yet: allowed, the caller checks it */
		assert_int_equal(r, 1);
		assert_int_equal(b.hdr.height, heights[i]);
		assert_int_equal(b.hdr.tx_count, PER);
		assert_int_equal(bad, i == 3 ? 97 : -1);
		/* handed over once */
		block_t again;
		long bad2 = -2;
		assert_int_equal(prefetch_take(p, heights[i], raws[i], lens[i], &again, &bad2), 0);
		/* back to the thread, which frees it (ASan: no leak, no double free) */
		prefetch_release(p, &b);
		assert_null(b.txs);
	}
	uint64_t checked = 0, taken = 0;
	prefetch_stats(p, &checked, &taken);
	print_message("checked %llu, taken %llu of %d\n", (unsigned long long)checked,
		      (unsigned long long)taken, NBLK);
	assert_true(taken >= NBLK - 1); /* 100 ms is plenty for the first ones */
	prefetch_drop(p);
	prefetch_free(p);
}

static void test_other_bytes_refused(void **unused)
{
	(void)unused;
	prefetch_t *p = prefetch_new(chain);
	prefetch_queue(p, heights, raws, lens, NBLK);
	block_t b;
	long bad = -2;
	/* the same height, other bytes (another block): not the queued one */
	uint8_t *other = xmalloc(lens[1]);
	memcpy(other, raws[1], lens[1]);
	other[lens[1] / 2] ^= 0x40;
	assert_int_equal(prefetch_take(p, heights[1], other, lens[1], &b, &bad), 0);
	assert_int_equal(prefetch_take(p, heights[1], raws[1], lens[1] - 1, &b, &bad), 0);
	assert_int_equal(prefetch_take(p, 999, raws[1], lens[1], &b, &bad), 0);
	free(other);
	/* dropped: nothing is handed over any more, nothing leaks (ASan) */
	prefetch_drop(p);
	assert_int_equal(prefetch_take(p, heights[2], raws[2], lens[2], &b, &bad), 0);
	/* queue again after a drop, then free while the thread may be busy */
	prefetch_queue(p, heights, raws, lens, NBLK);
	prefetch_free(p);
	/* a NULL prefetcher (thread could not start) hands over nothing */
	assert_int_equal(prefetch_take(NULL, heights[0], raws[0], lens[0], &b, &bad), 0);
	block_t own;
	assert_int_equal(block_decode(&own, raws[0], lens[0], NULL, 0), 0);
	prefetch_release(NULL, &own); /* freed at once */
	assert_null(own.txs);
	prefetch_queue(NULL, heights, raws, lens, NBLK);
	prefetch_drop(NULL);
}

static void test_garbage_block(void **unused)
{
	(void)unused;
	prefetch_t *p = prefetch_new(chain);
	uint8_t junk[64];
	memset(junk, 0xab, sizeof(junk));
	const uint8_t *jr[1] = { junk };
	size_t jl[1] = { sizeof(junk) };
	uint64_t jh[1] = { 5 };
	prefetch_queue(p, jh, jr, jl, 1);
	block_t b;
	long bad = -2;
	int r = 0;
	for (int k = 0; k < 200 && r == 0; k++) {
		r = prefetch_take(p, 5, junk, sizeof(junk), &b, &bad);
		if (r == 0) {
			/* withdrawn before the thread began: queue it again */
			prefetch_queue(p, jh, jr, jl, 1);
			usleep(2000);
		}
	}
	assert_int_equal(r, -1);
	prefetch_free(p);
}

/* Version 2: decoded ahead, signatures left to the header's sig_root,
 * which catches one swapped after sealing. */
static void test_v2_decoded_only(void **unused)
{
	(void)unused;
	buf_t e;
	block_t b;
	long bad = -2;
	uint64_t h = 77;
	mk_block_v(&e, h, 5, 2, 1);
	const uint8_t *raw = e.data;
	size_t len = e.len;
	prefetch_t *p = prefetch_new(chain);
	assert_non_null(p);
	int r = 0;
	/* taken before the thread started it, it is withdrawn (0): queue again */
	for (int tries = 0; tries < 100 && r == 0; tries++) {
		prefetch_queue(p, &h, &raw, &len, 1);
		usleep(50000);
		r = prefetch_take(p, h, raw, len, &b, &bad);
	}
	assert_int_equal(r, 1);
	assert_int_equal(b.hdr.version, 2);
	assert_int_equal(bad, -1);
	assert_int_equal(block_check_root(&b), 0);
	assert_int_not_equal(block_check_sig_root(&b), 0);
	block_clear(&b);
	prefetch_free(p);
	buf_free(&e);
	/* the same block sealed with the bad signature verifies its root */
	mk_block_v(&e, h, 5, 2, 0);
	char err[128];
	assert_int_equal(block_decode(&b, e.data, e.len, err, sizeof(err)), 0);
	assert_int_equal(block_check_sig_root(&b), 0);
	block_clear(&b);
	buf_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checked_in_order),
		cmocka_unit_test(test_other_bytes_refused),
		cmocka_unit_test(test_garbage_block),
		cmocka_unit_test(test_v2_decoded_only),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
