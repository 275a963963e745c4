/*
 * test_node_blocks.c — what a replica (node.c's real PBFT callbacks, its
 * store and state) does with certified blocks that reach it from a peer:
 *   - a state-transfer reply whose block has its proposer signature bytes
 *     altered (the block hash leaves the signature out, so the certificate
 *     still matches) is refused as the sender's fault, and the replica
 *     does not stop: the genuine block is delivered afterwards;
 *   - a block it holds speculatively that comes back certified under a
 *     second valid signature of its proposer (ECDSA signs with a fresh
 *     nonce each time) is the same block: the speculative blocks above it
 *     are kept, not thrown away under pbft's feet.
 * node.c is included so that its static callbacks are the ones tested;
 * transport, persistence of votes and message signing are the test's.
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
#include <jansson.h>

#include "node/node.c"
#include "genesis_fixture.h"

#define SCHEME SIG_ECDSA_P256

#define NPROV 4
#define HB BSEC_HASH_BYTES

static sig_key_t *K[NPROV], *ORCH[NPROV], *ADM[NPROV], *TEN;
static genesis_t G;
static char DIR_[256];

static void write_genesis(const char *dir)
{
	fixture_write_genesis(dir, "nodeblocks", now_ms() - 60000, NPROV, K, ORCH, ADM, TEN);
}

/* ---- the replica under test: node 3, with node.c's callbacks ---- */

static void t_send(void *c, uint16_t to, const uint8_t *m, size_t l)
{
	(void)c, (void)to, (void)m, (void)l;
}

static void t_bcast(void *c, const uint8_t *m, size_t l)
{
	(void)c, (void)m, (void)l;
}

static int t_persist(void *c, const char *k, const uint8_t *v, size_t l)
{
	(void)c, (void)k, (void)v, (void)l;
	return 0;
}

static int t_sign(void *c, const uint8_t *m, size_t l, uint8_t *sig, size_t *sl)
{
	(void)c;
	*sl = sig_sig_len(SCHEME);
	return sig_sign(K[3], sig, m, l);
}

static int t_pending(void *c)
{
	(void)c;
	return 0;
}

typedef struct {
	node_t *n;
	pbft_t *p;
} replica_t;

static void replica_open(replica_t *R)
{
	char err[512];
	static int round;
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/r%d", DIR_, round++);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	node_t *n = xcalloc(1, sizeof(*n));
	n->g = G;   /* shallow: read only */
	n->self = 3;
	assert_int_equal(store_open(&n->store, dir, &G, 0, err, sizeof(err)), 0);
	n->spec = state_new(&G);
	n->committed = state_new(&G);
	node_pool_reset(n, 1000, 1 << 20);
	buf_init(&n->batch_waited);
	n->spec_tip = 0;
	memcpy(n->spec_tip_hash, G.chain_id, HB);
	pbft_config_t cfg;
	pbft_config_default(&cfg, NPROV, 3);
	memcpy(cfg.chain_id, G.chain_id, HB);
	pbft_callbacks_t cb = {
		.ctx = n, .send = t_send, .broadcast = t_bcast, .persist = t_persist,
		.sign = t_sign, .verify = cb_verify, .block_id = cb_block_id,
		.build_block = cb_build_block, .validate_block = cb_validate_block,
		.abort_from = cb_abort_from, .deliver = cb_deliver, .get_block = cb_get_block,
		.has_pending = t_pending,
	};
	R->p = pbft_new(&cfg, &cb, 0, G.chain_id, NULL, err, sizeof(err));
	assert_non_null(R->p);
	n->pbft = R->p;
	R->n = n;
	pbft_start(R->p, mono_ms());
}

static void replica_close(replica_t *R)
{
	node_t *n = R->n;
	pbft_free(R->p);
	for (unsigned k = 0; k < NODE_IDS_CACHE; k++)
		free(n->ids_cache[k].ids);
	while (n->n_spec)
		cb_abort_from(n, n->spec_blocks[0].height);
	state_free(n->spec);
	state_free(n->committed);
	mempool_free(n->pool);
	map_free(n->claims);
	buf_free(&n->batch_waited);
	store_close(n->store);
	free(n);
}

/* An empty block at height h on prev, proposed in view 0 by node 0 (the
 * view's leader), timestamped ts. */
static void mk_block(block_t *b, uint64_t h, const uint8_t prev[HB], uint64_t ts)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->hdr.chain_id, G.chain_id, HB);
	b->hdr.height = h;
	memcpy(b->hdr.prev_hash, prev, HB);
	b->hdr.timestamp_ms = ts;
	b->hdr.view = 0;
	b->hdr.proposer = 0;
	assert_int_equal(block_seal(b, K[0]), 0);
}

static uint8_t *block_bytes(const block_t *b, size_t *len)
{
	buf_t e;
	buf_init(&e);
	block_encode(&e, b);
	return buf_steal(&e, len);
}

/* Nodes 0..2's commit certificate for (view 0, h, hash). */
static void mk_cert(cert_t *c, uint64_t h, const uint8_t hash[HB])
{
	size_t ml;
	uint8_t *msg = commit_signed_bytes(G.chain_id, 0, h, hash, &ml);
	memset(c, 0, sizeof(*c));
	c->view = 0;
	c->n = 3;
	c->sigs = xcalloc(3, sizeof(cert_sig_t));
	for (int i = 0; i < 3; i++) {
		c->sigs[i].node = (uint16_t)i;
		c->sigs[i].sig_len = (uint16_t)sig_sig_len(SCHEME);
		assert_int_equal(sig_sign(K[i], c->sigs[i].sig, msg, ml), 0);
	}
	free(msg);
}

/* A consensus message of `type' with body, signed by member from. */
static uint8_t *wire(uint8_t type, uint16_t from, const buf_t *body, size_t *out_len)
{
	buf_t b;
	buf_init(&b);
	buf_u8(&b, type);
	buf_u16(&b, from);
	buf_put(&b, body->data, body->len);
	size_t tl = strlen(PBFT_TAG);
	uint8_t *sb = xmalloc(tl + HB + b.len);
	memcpy(sb, PBFT_TAG, tl);
	memcpy(sb + tl, G.chain_id, HB);
	memcpy(sb + tl + HB, b.data, b.len);
	uint8_t sig[SIG_MAX_SIG];
	assert_int_equal(sig_sign(K[from], sig, sb, tl + HB + b.len), 0);
	free(sb);
	buf_u16(&b, (uint16_t)sig_sig_len(SCHEME));
	buf_put(&b, sig, sig_sig_len(SCHEME));
	return buf_steal(&b, out_len);
}

/* BLOCKS(h: raw, cert) from member `from' into the replica. */
static void feed_blocks(replica_t *R, uint16_t from, uint64_t h, const uint8_t *raw, size_t len,
			const cert_t *c)
{
	buf_t b, cb;
	buf_init(&b);
	buf_u16(&b, 1);
	buf_u64(&b, h);
	buf_blob32(&b, raw, len);
	buf_init(&cb);
	cert_encode(&cb, c);
	buf_blob32(&b, cb.data, cb.len);
	buf_free(&cb);
	size_t ml;
	uint8_t *msg = wire(PBFT_MSG_BLOCKS, from, &b, &ml);
	(void)pbft_receive(R->p, mono_ms(), from, msg, ml);
	free(msg);
	buf_free(&b);
}

/* PRE-PREPARE(view 0, h, raw) from the leader, node 0. */
static void feed_preprepare(replica_t *R, uint64_t h, const uint8_t *raw, size_t len)
{
	buf_t b;
	buf_init(&b);
	buf_u64(&b, 0);
	buf_u64(&b, h);
	buf_blob32(&b, raw, len);
	size_t ml;
	uint8_t *msg = wire(PBFT_MSG_PRE_PREPARE, 0, &b, &ml);
	(void)pbft_receive(R->p, mono_ms(), 0, msg, ml);
	free(msg);
	buf_free(&b);
}

/* ---- the tests ---- */

static void test_altered_proposer_signature_is_refused(void **st)
{
	(void)st;
	replica_t R;
	replica_open(&R);
	block_t b;
	mk_block(&b, 1, G.chain_id, now_ms());
	size_t len;
	uint8_t *raw = block_bytes(&b, &len), *bad = xmalloc(len);
	cert_t c;
	mk_cert(&c, 1, b.hdr.hash);
	memcpy(bad, raw, len);
	bad[len - 1] ^= 0x01;   /* the last byte of the proposer signature (no txs follow) */
	/* same hash, so the certificate matches it: the bytes must still be refused */
	rd_t r;
	block_header_t h;
	rd_init(&r, bad, len);
	assert_int_equal(block_header_read(&r, &h), 0);
	assert_memory_equal(h.hash, b.hdr.hash, HB);

	feed_blocks(&R, 1, 1, bad, len, &c);
	assert_int_equal(pbft_delivered(R.p), 0);
	assert_int_equal(pbft_failed(R.p), 0);
	assert_int_equal(R.n->failed, 0);
	assert_int_equal(store_height(R.n->store), 0);
	pbft_stats_t ps;
	pbft_stats(R.p, &ps);
	assert_int_equal(ps.dropped[PBFT_DROP_INVALID], 1);   /* refused as the sender's fault */

	/* and the genuine block, from another member, goes in */
	feed_blocks(&R, 2, 1, raw, len, &c);
	assert_int_equal(pbft_delivered(R.p), 1);
	assert_int_equal(pbft_failed(R.p), 0);
	assert_int_equal(store_height(R.n->store), 1);
	free(raw);
	free(bad);
	cert_clear(&c);
	block_clear(&b);
	replica_close(&R);
}

static void test_second_signature_keeps_speculative_chain(void **st)
{
	(void)st;
	replica_t R;
	replica_open(&R);
	uint64_t ts = now_ms();
	block_t b1, b2;
	mk_block(&b1, 1, G.chain_id, ts);
	mk_block(&b2, 2, b1.hdr.hash, ts + 1);
	size_t l1, l2, l1b;
	uint8_t *r1 = block_bytes(&b1, &l1), *r2 = block_bytes(&b2, &l2);
	feed_preprepare(&R, 1, r1, l1);
	feed_preprepare(&R, 2, r2, l2);
	assert_int_equal(R.n->n_spec, 2);   /* both validated and applied speculatively */

	/* the proposer signs block 1's header once more: same hash, other bytes */
	assert_int_equal(block_seal(&b1, K[0]), 0);
	uint8_t *r1b = block_bytes(&b1, &l1b);
	assert_int_equal(l1b, l1);
	assert_memory_not_equal(r1b, r1, l1);
	assert_int_equal(block_header_verify_sig(&b1.hdr), 0);
	cert_t c;
	mk_cert(&c, 1, b1.hdr.hash);
	feed_blocks(&R, 1, 1, r1b, l1b, &c);
	assert_int_equal(pbft_delivered(R.p), 1);
	assert_int_equal(pbft_failed(R.p), 0);
	assert_int_equal(store_height(R.n->store), 1);
	/* block 2 is still this replica's speculative tip, as pbft believes */
	assert_int_equal(R.n->n_spec, 1);
	assert_int_equal(R.n->spec_tip, 2);
	assert_int_equal(R.n->rate_fetched, 0);
	free(r1);
	free(r1b);
	free(r2);
	cert_clear(&c);
	block_clear(&b1);
	block_clear(&b2);
	replica_close(&R);
}

static int setup(void **st)
{
	(void)st;
	for (int i = 0; i < NPROV; i++) {
		K[i] = sig_keygen(SCHEME);
		ORCH[i] = sig_keygen(SIG_ED25519);
		ADM[i] = sig_keygen(SIG_ED25519);
	}
	TEN = sig_keygen(SIG_ED25519);
	snprintf(DIR_, sizeof(DIR_), "/tmp/bsec-test-node-blocks-%d", (int)getpid());
	write_genesis(DIR_);
	char err[256], *gp = xasprintf("%s/genesis.json", DIR_);
	if (genesis_load(&G, gp, err, sizeof(err)) < 0)
		fail_msg("genesis: %s", err);
	free(gp);
	return 0;
}

static int teardown(void **st)
{
	(void)st;
	char *cmd = xasprintf("rm -rf %s", DIR_);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", DIR_);
	free(cmd);
	genesis_free(&G);
	for (int i = 0; i < NPROV; i++) {
		sig_key_free(K[i]);
		sig_key_free(ORCH[i]);
		sig_key_free(ADM[i]);
	}
	sig_key_free(TEN);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_altered_proposer_signature_is_refused),
		cmocka_unit_test(test_second_signature_keeps_speculative_chain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
