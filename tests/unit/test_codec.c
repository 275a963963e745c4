/*
 * test_codec.c — the canonical encoding: buf/rd primitives, the hash map,
 * RFC 6962 Merkle trees, tx and block/certificate encode/decode, and
 * known-answer vectors that pin the tx encoding (tests/vectors/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "lib/buf.h"
#include "lib/map.h"
#include "lib/merkle.h"
#include "ledger/tx.h"
#include "ledger/block.h"
#include "ledger/genesis.h"

static uint8_t CID[BSEC_HASH_BYTES];

static void test_buf_roundtrip(void **st)
{
	(void)st;
	buf_t b;
	buf_init(&b);
	buf_u8(&b, 0xab);
	buf_u16(&b, 0x1234);
	buf_u32(&b, 0xdeadbeef);
	buf_u64(&b, 0x0102030405060708ull);
	buf_str8(&b, "hey", 3);
	buf_str16(&b, "there", 5);
	assert_int_equal(b.len, 1 + 2 + 4 + 8 + 4 + 7);
	assert_int_equal(b.data[1], 0x12); /* big-endian */
	rd_t r;
	rd_init(&r, b.data, b.len);
	assert_int_equal(rd_u8(&r), 0xab);
	assert_int_equal(rd_u16(&r), 0x1234);
	assert_int_equal(rd_u32(&r), 0xdeadbeef);
	assert_true(rd_u64(&r) == 0x0102030405060708ull);
	size_t n;
	const char *s = rd_str8(&r, &n, 8);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "hey", 3);
	s = rd_str16(&r, &n, 4); /* limit 4 < 5 */
	assert_null(s);
	assert_false(rd_ok(&r));
	assert_string_equal(r.err, "field longer than allowed");
	/* truncated */
	rd_init(&r, b.data, 3);
	rd_u8(&r);
	rd_u32(&r);
	assert_false(rd_ok(&r));
	assert_string_equal(r.err, "truncated");
	assert_int_equal(r.err_off, 1);
	/* trailing */
	rd_init(&r, b.data, 2);
	rd_u8(&r);
	assert_false(rd_end(&r));
	assert_string_equal(r.err, "trailing bytes");
	buf_free(&b);
}

static void test_map(void **st)
{
	(void)st;
	map_t *m = map_new();
	enum { N = 20000 };
	for (uintptr_t i = 0; i < N; i++)
		assert_null(map_put(m, &i, sizeof(i), (void *)(i + 1)));
	assert_int_equal(map_size(m), N);
	for (uintptr_t i = 0; i < N; i += 2)
		assert_ptr_equal(map_del(m, &i, sizeof(i)), (void *)(i + 1));
	assert_int_equal(map_size(m), N / 2);
	for (uintptr_t i = 0; i < N; i++)
		assert_ptr_equal(map_get(m, &i, sizeof(i)), i % 2 ? (void *)(i + 1) : NULL);
	size_t it = 0, cnt = 0, kl;
	const void *k;
	void *v;
	while (map_next(m, &it, &k, &kl, &v))
		cnt++;
	assert_int_equal(cnt, N / 2);
	uintptr_t one = 1;
	assert_ptr_equal(map_put(m, &one, sizeof(one), (void *)99), (void *)2);
	/* keys of every length up to and past a word, differing in one byte */
	char key[40];
	memset(key, 'k', sizeof(key));
	for (size_t len = 0; len <= sizeof(key); len++)
		assert_null(map_put(m, key, len, (void *)(len + 1)));
	for (size_t len = 0; len <= sizeof(key); len++)
		assert_ptr_equal(map_get(m, key, len), (void *)(len + 1));
	key[7] = 'x';
	assert_null(map_get(m, key, 8));
	assert_null(map_get(m, key, 40));
	map_clear(m);
	assert_int_equal(map_size(m), 0);
	assert_null(map_get(m, &one, sizeof(one)));
	it = 0;
	assert_false(map_next(m, &it, &k, &kl, &v));
	assert_null(map_put(m, &one, sizeof(one), (void *)7));   /* usable after clearing */
	assert_ptr_equal(map_get(m, &one, sizeof(one)), (void *)7);
	map_free(m);
}

static void leafh(uint8_t out[32], const uint8_t d[32])
{
	uint8_t in[33] = { 0 };
	memcpy(in + 1, d, 32);
	hash_sha256(out, in, 33);
}

static void nodeh(uint8_t out[32], const uint8_t *l, const uint8_t *r)
{
	uint8_t in[65];
	in[0] = 1;
	memcpy(in + 1, l, 32);
	memcpy(in + 33, r, 32);
	hash_sha256(out, in, 65);
}

static void test_merkle(void **st)
{
	(void)st;
	uint8_t leaves[70][32], root[32], exp[32], a[32], b[32], c[32], ab[32];
	for (int i = 0; i < 70; i++)
		hash_sha256(leaves[i], &i, sizeof(i));
	merkle_root(root, leaves, 0);
	hash_sha256(exp, "", 0);
	assert_memory_equal(root, exp, 32);
	merkle_root(root, leaves, 1);
	leafh(exp, leaves[0]);
	assert_memory_equal(root, exp, 32);
	leafh(a, leaves[0]);
	leafh(b, leaves[1]);
	leafh(c, leaves[2]);
	nodeh(ab, a, b);
	merkle_root(root, leaves, 2);
	assert_memory_equal(root, ab, 32);
	nodeh(exp, ab, c); /* RFC 6962: split at 2 for n = 3 */
	merkle_root(root, leaves, 3);
	assert_memory_equal(root, exp, 32);
	for (size_t n = 1; n <= 70; n++) {
		merkle_root(root, leaves, n);
		for (size_t i = 0; i < n; i++) {
			uint8_t path[MERKLE_MAX_PATH][32];
			size_t plen;
			assert_int_equal(merkle_proof(path, &plen, leaves, n, i), 0);
			assert_int_equal(merkle_verify(root, leaves[i], i, n, path, plen), 0);
			if (n > 1) {
				assert_int_not_equal(merkle_verify(root, leaves[(i + 1) % n], i, n, path, plen), 0);
				assert_int_not_equal(merkle_verify(root, leaves[i], (i + 1) % n, n, path, plen), 0);
				path[0][5] ^= 1;
				assert_int_not_equal(merkle_verify(root, leaves[i], i, n, path, plen), 0);
			}
		}
		uint8_t path[MERKLE_MAX_PATH][32];
		size_t plen;
		assert_int_equal(merkle_proof(path, &plen, leaves, n, n), -1);
	}
}

static sig_key_t *seed_key(uint8_t b)
{
	uint8_t seed[32];
	memset(seed, b, 32);
	return sig_key_from_ed25519_seed(seed);
}

static void build_request(tx_t *tx, const sig_key_t *k, const char *ins)
{
	tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = 1763700000000ull, .nonce = 42,
			  .domain = "p1", .instruction = ins };
	char err[256];
	assert_int_equal(tx_build(tx, &f, k, CID, err, sizeof(err)), 0);
}

/* Layout written out field by field, independent of tx.c's writer. */
static void test_tx_layout(void **st)
{
	(void)st;
	sig_key_t *k = seed_key(7);
	tx_t tx;
	const char *ins = "vnf create fw --type firewall";
	build_request(&tx, k, ins);
	uint8_t exp[512];
	size_t n = 0;
	exp[n++] = 1;            /* version */
	exp[n++] = 1;            /* REQUEST */
	uint64_t ts = 1763700000000ull;
	for (int i = 7; i >= 0; i--)
		exp[n++] = (uint8_t)(ts >> (8 * i));
	exp[n++] = 0; exp[n++] = 0; exp[n++] = 0; exp[n++] = 42;
	exp[n++] = SIG_ED25519;
	memcpy(exp + n, sig_key_pub(k), 32);
	n += 32;
	exp[n++] = 2;
	memcpy(exp + n, "p1", 2);
	n += 2;
	exp[n++] = 0;
	exp[n++] = (uint8_t)strlen(ins);
	memcpy(exp + n, ins, strlen(ins));
	n += strlen(ins);
	assert_int_equal(tx.content_len, n);
	assert_memory_equal(tx.raw, exp, n);
	assert_int_equal(tx.raw_len, n + 64);
	/* id = SHA-256(chain_id || content) */
	uint8_t idin[600], id[32];
	memcpy(idin, CID, 32);
	memcpy(idin + 32, exp, n);
	hash_sha256(id, idin, 32 + n);
	assert_memory_equal(tx.id, id, 32);
	/* signed bytes = tag || chain_id || content, and the signature verifies */
	size_t ml;
	uint8_t *m = tx_signed_bytes(&tx, CID, &ml);
	assert_int_equal(ml, 10 + 32 + n);
	assert_memory_equal(m, "bsec/tx/v1", 10);
	assert_int_equal(sig_verify(SIG_ED25519, sig_key_pub(k), tx.sig, m, ml), 0);
	assert_int_equal(tx_verify_sig(&tx, CID), 0);
	free(m);
	/* ed25519 request with a 32-byte instruction: the size target is 160 */
	tx_t t32;
	build_request(&t32, k, "vm create abcdefghijklmnopqrstuv");
	assert_int_equal(strlen("vm create abcdefghijklmnopqrstuv"), 32);
	assert_true(t32.raw_len <= 160);
	tx_clear(&t32);
	tx_clear(&tx);
	sig_key_free(k);
}

/* Known answers in tests/vectors/tx_vectors.json pin encoding, id and
 * (deterministic Ed25519) signature. */
static void test_tx_vectors(void **st)
{
	(void)st;
	json_error_t je;
	json_t *root = json_load_file("tests/vectors/tx_vectors.json", 0, &je);
	assert_non_null(root);
	uint8_t cid[32];
	assert_int_equal(hex_decode(cid, 32, json_string_value(json_object_get(root, "chain_id"))), 0);
	json_t *vecs = json_object_get(root, "vectors");
	assert_true(json_array_size(vecs) >= 3);
	size_t i;
	json_t *v;
	json_array_foreach(vecs, i, v) {
		const char *raw_hex = json_string_value(json_object_get(v, "raw_hex"));
		size_t len = strlen(raw_hex) / 2;
		uint8_t *raw = xmalloc(len);
		assert_int_equal(hex_decode(raw, len, raw_hex), 0);
		tx_t tx;
		char err[256];
		assert_int_equal(tx_decode(&tx, raw, len, cid, err, sizeof(err)), 0);
		char id[65];
		hex_encode(id, tx.id, 32);
		assert_string_equal(id, json_string_value(json_object_get(v, "id")));
		assert_int_equal(tx_verify_sig(&tx, cid), 0);
		/* rebuilding from the seed gives the same bytes */
		json_t *seed = json_object_get(v, "seed_byte");
		if (seed) {
			sig_key_t *k = seed_key((uint8_t)json_integer_value(seed));
			tx_fields_t f = { .type = tx.type, .timestamp_ms = tx.timestamp_ms, .nonce = tx.nonce };
			char *dom = tx.domain ? xstrndup(tx.domain, tx.domain_len) : NULL;
			char *ins = tx.instruction ? xstrndup(tx.instruction, tx.instruction_len) : NULL;
			char *res = tx.result ? xstrndup(tx.result, tx.result_len) : NULL;
			char *er = tx.error ? xstrndup(tx.error, tx.error_len) : NULL;
			char *nm = tx.name ? xstrndup(tx.name, tx.name_len) : NULL;
			f.domain = dom; f.instruction = ins; f.result = res; f.error = er; f.name = nm;
			f.request_id = tx.request_id; f.status = tx.status; f.action = tx.action;
			f.tenant_scheme = tx.tenant_scheme; f.tenant_key = tx.tenant_key; f.sla = tx.sla;
			tx_t again;
			assert_int_equal(tx_build(&again, &f, k, cid, err, sizeof(err)), 0);
			assert_int_equal(again.raw_len, len);
			assert_memory_equal(again.raw, raw, len);
			tx_clear(&again);
			free(dom); free(ins); free(res); free(er); free(nm);
			sig_key_free(k);
		}
		tx_clear(&tx);
		free(raw);
	}
	json_decref(root);
}

static void test_tx_decode_rejects(void **st)
{
	(void)st;
	sig_key_t *k = seed_key(9);
	tx_t tx, d;
	char err[256];
	build_request(&tx, k, "vm create a");
	/* every truncation fails with a reason */
	for (size_t n = 0; n < tx.raw_len; n++) {
		err[0] = 0;
		assert_int_equal(tx_decode(&d, tx.raw, n, CID, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "offset"));
	}
	/* trailing byte */
	uint8_t *x = xmalloc(tx.raw_len + 1);
	memcpy(x, tx.raw, tx.raw_len);
	x[tx.raw_len] = 0;
	assert_int_equal(tx_decode(&d, x, tx.raw_len + 1, CID, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trailing bytes"));
	/* bad version, type, scheme, over-long domain */
	struct { size_t off; uint8_t val; const char *why; } bad[] = {
		{ 0, 2, "unknown version" }, { 1, 9, "unknown tx type" }, { 1, 0, "unknown tx type" },
		{ 14, 7, "unknown signature scheme" }, { 47, 33, "longer than allowed" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		memcpy(x, tx.raw, tx.raw_len);
		x[bad[i].off] = bad[i].val;
		assert_int_equal(tx_decode(&d, x, tx.raw_len, CID, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i].why));
	}
	/* a flipped signature bit decodes but does not verify; id unchanged */
	memcpy(x, tx.raw, tx.raw_len);
	x[tx.raw_len - 1] ^= 1;
	assert_int_equal(tx_decode(&d, x, tx.raw_len, CID, err, sizeof(err)), 0);
	assert_memory_equal(d.id, tx.id, 32);
	assert_int_not_equal(tx_verify_sig(&d, CID), 0);
	tx_clear(&d);
	/* another chain: different id, signature fails */
	uint8_t other[32];
	hash_sha256(other, "other", 5);
	assert_int_equal(tx_decode(&d, tx.raw, tx.raw_len, other, err, sizeof(err)), 0);
	assert_memory_not_equal(d.id, tx.id, 32);
	assert_int_not_equal(tx_verify_sig(&d, other), 0);
	tx_clear(&d);
	/* over-long field refused at build */
	char *big = xmalloc(TX_MAX_INSTRUCTION + 2);
	memset(big, 'a', TX_MAX_INSTRUCTION + 1);
	big[TX_MAX_INSTRUCTION + 1] = 0;
	tx_fields_t f = { .type = TX_REQUEST, .domain = "p1", .instruction = big };
	assert_int_equal(tx_build(&d, &f, k, CID, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "instruction"));
	free(big);
	free(x);
	tx_clear(&tx);
	sig_key_free(k);
}

static void test_tx_types_roundtrip(void **st)
{
	(void)st;
	int schemes[] = { SIG_ED25519, SIG_ECDSA_P256, SIG_RSA_PSS_2048 };
	for (size_t s = 0; s < 3; s++) {
		sig_key_t *k = sig_keygen((sig_scheme_t)schemes[s]);
		sig_key_t *t = sig_keygen(SIG_ED25519);
		uint8_t rid[32] = { 5 };
		tx_fields_t fs[] = {
			{ .type = TX_REQUEST, .domain = "p2", .instruction = "sfc delete s1" },
			{ .type = TX_RESPONSE, .request_id = rid, .status = TX_STATUS_ERROR, .result = "",
			  .error = "driver failed" },
			{ .type = TX_TENANT, .action = TENANT_REGISTER, .domain = "p0", .tenant_scheme = SIG_ED25519,
			  .tenant_key = sig_key_pub(t), .name = "acme",
			  .sla = { .ops = OP_VNF_CREATE | OP_SFC_CREATE, .max_vms = 3, .max_vnfs = 4, .max_sfcs = 5,
				   .max_chain = 6, .rate_per_min = 7 } },
		};
		for (size_t i = 0; i < ARRAY_LEN(fs); i++) {
			tx_t a, b;
			char err[256];
			assert_int_equal(tx_build(&a, &fs[i], k, CID, err, sizeof(err)), 0);
			assert_int_equal(tx_decode(&b, a.raw, a.raw_len, CID, err, sizeof(err)), 0);
			assert_int_equal(tx_verify_sig(&b, CID), 0);
			assert_int_equal(b.type, fs[i].type);
			assert_memory_equal(a.id, b.id, 32);
			if (b.type == TX_TENANT) {
				assert_int_equal(b.sla.max_chain, 6);
				assert_int_equal(b.sla.rate_per_min, 7);
				assert_memory_equal(b.tenant_key, sig_key_pub(t), 32);
			}
			if (b.type == TX_RESPONSE) {
				assert_int_equal(b.status, TX_STATUS_ERROR);
				assert_int_equal(b.error_len, strlen("driver failed"));
			}
			/* the id from the bytes alone (what the store checks rows
			 * by): the decoder's; none for a cut tx or a bad scheme */
			uint8_t id[32], *cut = xmalloc(a.raw_len);
			assert_int_equal(tx_raw_id(a.raw, a.raw_len, CID, id), 0);
			assert_memory_equal(id, b.id, 32);
			memcpy(cut, a.raw, a.raw_len);
			size_t min = 15 + sig_pub_len(schemes[s]) + sig_sig_len(schemes[s]);
			for (size_t n = 0; n < min; n++)
				assert_int_equal(tx_raw_id(cut, n, CID, id), -1);
			assert_int_equal(tx_raw_id(cut, min, CID, id), 0);
			cut[14] = 9;
			assert_int_equal(tx_raw_id(cut, a.raw_len, CID, id), -1);
			cut[14] = (uint8_t)schemes[s];
			uint8_t cid2[32];
			memcpy(cid2, CID, 32);
			cid2[0] ^= 1;
			assert_int_equal(tx_raw_id(cut, a.raw_len, cid2, id), 0);
			assert_memory_not_equal(id, b.id, 32);
			free(cut);
			tx_t c;
			tx_copy(&c, &b);
			assert_memory_equal(c.id, b.id, 32);
			assert_int_equal(c.raw_len, b.raw_len);
			tx_clear(&a);
			tx_clear(&b);
			tx_clear(&c);
		}
		sig_key_free(k);
		sig_key_free(t);
	}
}

static void test_sla_ops(void **st)
{
	(void)st;
	uint16_t ops;
	char err[128];
	assert_int_equal(sla_ops_parse(&ops, "vnf:*,sfc:create", err, sizeof(err)), 0);
	assert_int_equal(ops, OP_VNF_CREATE | OP_VNF_UPDATE | OP_VNF_DELETE | OP_SFC_CREATE);
	char *s = sla_ops_format(ops);
	assert_string_equal(s, "vnf:create,vnf:update,vnf:delete,sfc:create");
	free(s);
	assert_int_equal(sla_ops_parse(&ops, "*", err, sizeof(err)), 0);
	assert_int_equal(ops, OP_ALL);
	assert_int_equal(sla_ops_parse(&ops, "vm:create,vm:fly", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "vm:fly"));
}

/* A genesis of n providers whose node keys are keys[i]. */
static int make_genesis(genesis_t *g, sig_key_t **keys, int n)
{
	json_t *provs = json_array();
	for (int i = 0; i < n; i++) {
		char *pem = sig_pub_to_pem(sig_key_scheme(keys[i]), sig_key_pub(keys[i]));
		char name[8];
		snprintf(name, sizeof(name), "p%d", i & 0xff);
		json_array_append_new(provs, json_pack("{s:s,s:s,s:s,s:s}", "name", name, "node_key", pem,
						       "orchestrator_key", pem, "admin_key", pem));
		free(pem);
	}
	json_t *root = json_pack("{s:i,s:s,s:o}", "version", 1, "name", "t", "providers", provs);
	char *txt = json_dumps(root, JSON_COMPACT);
	char err[256];
	int r = genesis_parse(g, (uint8_t *)txt, strlen(txt), err, sizeof(err));
	if (r)
		fprintf(stderr, "%s\n", err);
	free(txt);
	json_decref(root);
	return r;
}

/* Four members (the last with a P-256 node key) and their genesis. */
static void consortium_new(sig_key_t *keys[4], genesis_t *g)
{
	for (int i = 0; i < 4; i++)
		keys[i] = sig_keygen(i == 3 ? SIG_ECDSA_P256 : SIG_ED25519);
	assert_int_equal(make_genesis(g, keys, 4), 0);
}

static void consortium_free(sig_key_t *keys[4], genesis_t *g)
{
	genesis_free(g);
	for (int i = 0; i < 4; i++)
		sig_key_free(keys[i]);
}

/* Block 1 of g's chain over n requests, the i-th signed by
 * signers[i % nsigners], not sealed yet. */
static void block_of_requests(block_t *b, const genesis_t *g, sig_key_t *const *signers, int nsigners,
			      uint32_t n)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->hdr.chain_id, g->chain_id, 32);
	memcpy(b->hdr.prev_hash, g->chain_id, 32);
	b->hdr.height = 1;
	b->hdr.timestamp_ms = 1763700000000ull;
	b->hdr.tx_count = n;
	b->txs = xcalloc(n ? n : 1, sizeof(tx_t));
	for (uint32_t i = 0; i < n; i++) {
		char ins[32];
		snprintf(ins, sizeof(ins), "vm create v%u", i);
		tx_fields_t f = { .type = TX_REQUEST, .domain = "p1", .instruction = ins };
		assert_int_equal(tx_build(&b->txs[i], &f, signers[i % (uint32_t)nsigners], g->chain_id,
					  NULL, 0), 0);
	}
}

static void test_block_and_cert(void **st)
{
	(void)st;
	sig_key_t *keys[4];
	genesis_t g;
	consortium_new(keys, &g);
	assert_int_equal(genesis_quorum(&g), 3);
	block_t b;
	block_of_requests(&b, &g, keys, 1, 5);
	assert_int_equal(block_seal(&b, keys[1]), 0);
	assert_int_equal(block_header_verify_sig(&b.hdr), 0);
	buf_t enc;
	buf_init(&enc);
	block_encode(&enc, &b);
	block_t d;
	char err[256];
	assert_int_equal(block_decode(&d, enc.data, enc.len, err, sizeof(err)), 0);
	assert_memory_equal(d.hdr.hash, b.hdr.hash, 32);
	assert_int_equal(d.hdr.tx_count, 5);
	assert_int_equal(block_check_root(&d), 0);
	assert_int_equal(block_header_verify_sig(&d.hdr), 0);
	block_clear(&d);
	/* truncations and trailing bytes refused */
	for (size_t n = 0; n < enc.len; n += 7)
		assert_int_equal(block_decode(&d, enc.data, n, err, sizeof(err)), -1);
	buf_u8(&enc, 0);
	assert_int_equal(block_decode(&d, enc.data, enc.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trailing"));
	enc.len--;
	/* a changed header byte changes the hash and breaks the signature */
	enc.data[20] ^= 1;
	assert_int_equal(block_decode(&d, enc.data, enc.len, err, sizeof(err)), 0);
	assert_memory_not_equal(d.hdr.hash, b.hdr.hash, 32);
	assert_int_not_equal(block_header_verify_sig(&d.hdr), 0);
	block_clear(&d);
	enc.data[20] ^= 1;
	/* swapping two txs breaks the root */
	assert_int_equal(block_decode(&d, enc.data, enc.len, err, sizeof(err)), 0);
	uint8_t tmp[32];
	memcpy(tmp, d.tx_ids[0], 32);
	memcpy(d.tx_ids[0], d.tx_ids[1], 32);
	memcpy(d.tx_ids[1], tmp, 32);
	assert_int_not_equal(block_check_root(&d), 0);
	block_clear(&d);
	/* version 2 commits to the signatures: a signature byte changed after
	 * sealing keeps the ids and tx_root, and breaks sig_root */
	assert_int_equal(b.hdr.version, 2);
	assert_int_equal(block_commits_sigs(&b.hdr), 1);
	enc.data[enc.len - 1] ^= 1;      /* the last tx's last signature byte */
	assert_int_equal(block_decode(&d, enc.data, enc.len, err, sizeof(err)), 0);
	assert_memory_equal(d.hdr.hash, b.hdr.hash, 32);
	assert_int_equal(block_check_root(&d), 0);
	assert_int_not_equal(block_check_sig_root(&d), 0);
	block_clear(&d);
	enc.data[enc.len - 1] ^= 1;
	/* a version 1 header (older chains): 32 bytes shorter, still read,
	 * its signatures uncommitted; its JSON has no sig_root */
	buf_t enc1;
	buf_init(&enc1);
	assert_int_equal(block_seal_version(&b, keys[1], 1), 0);
	block_encode(&enc1, &b);
	assert_int_equal(enc1.len + 32, enc.len);
	assert_int_equal(block_decode(&d, enc1.data, enc1.len, err, sizeof(err)), 0);
	assert_int_equal(d.hdr.version, 1);
	assert_int_equal(block_commits_sigs(&d.hdr), 0);
	assert_int_equal(block_header_verify_sig(&d.hdr), 0);
	assert_int_equal(block_check_root(&d), 0);
	assert_int_equal(block_check_sig_root(&d), 0);
	json_t *hj = block_header_to_json(&d.hdr);
	assert_null(json_object_get(hj, "sig_root"));
	json_decref(hj);
	block_clear(&d);
	/* versions outside 1..2 are refused; sealing one too */
	enc1.data[0] = 3;
	assert_int_equal(block_decode(&d, enc1.data, enc1.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown block version"));
	assert_int_equal(block_seal_version(&b, keys[1], 3), -1);
	buf_free(&enc1);
	assert_int_equal(block_seal(&b, keys[1]), 0);
	hj = block_header_to_json(&b.hdr);
	assert_non_null(json_object_get(hj, "sig_root"));
	json_decref(hj);

	/* certificate: 3 of 4 verifies; 2 does not; a bad signature does not */
	cert_t c = { .view = 2, .n = 3 };
	c.sigs = xcalloc(3, sizeof(cert_sig_t));
	size_t ml;
	uint8_t *m = commit_signed_bytes(g.chain_id, 2, 1, b.hdr.hash, &ml);
	for (int i = 0; i < 3; i++) {
		int node = i + 1;
		c.sigs[i].node = (uint16_t)node;
		c.sigs[i].sig_len = (uint16_t)sig_sig_len(sig_key_scheme(keys[node]));
		assert_int_equal(sig_sign(keys[node], c.sigs[i].sig, m, ml), 0);
	}
	free(m);
	assert_int_equal(cert_verify(&c, &g, 1, b.hdr.hash, err, sizeof(err)), 0);
	assert_int_not_equal(cert_verify(&c, &g, 2, b.hdr.hash, err, sizeof(err)), 0);
	buf_t ce;
	buf_init(&ce);
	cert_encode(&ce, &c);
	cert_t c2;
	assert_int_equal(cert_decode(&c2, ce.data, ce.len, err, sizeof(err)), 0);
	assert_int_equal(c2.n, 3);
	assert_int_equal(cert_verify(&c2, &g, 1, b.hdr.hash, err, sizeof(err)), 0);
	c2.n = 2;
	assert_int_not_equal(cert_verify(&c2, &g, 1, b.hdr.hash, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "quorum"));
	c2.n = 3;
	c2.sigs[2].sig[0] ^= 1;
	assert_int_not_equal(cert_verify(&c2, &g, 1, b.hdr.hash, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "does not verify"));
	cert_clear(&c2);
	/* duplicate signer refused by the decoder */
	c.sigs[1].node = c.sigs[0].node;
	buf_reset(&ce);
	cert_encode(&ce, &c);
	assert_int_equal(cert_decode(&c2, ce.data, ce.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "strictly increasing"));
	buf_free(&ce);
	cert_clear(&c);
	buf_free(&enc);
	block_clear(&b);
	consortium_free(keys, &g);
}

/* The at-rest header form (block_header_encode_stored): what it leaves
 * out, that it expands back to the signed bytes, and its refusals. */
static void check_stored(const block_header_t *h, const genesis_t *g, int want_no_key)
{
	buf_t full, st, back;
	char err[256];
	buf_init(&full);
	buf_init(&st);
	buf_init(&back);
	block_header_encode(&full, h);
	block_header_encode_stored(&st, h, g);
	size_t klen = sig_pub_len(h->proposer_scheme);
	assert_int_equal(st.data[0], 0x80 | (want_no_key ? 0x40 : 0) | h->version);
	assert_int_equal(st.len, full.len - 32 - (want_no_key ? klen : 0));
	assert_int_equal(block_header_expand_stored(&back, st.data, st.len, h->chain_id, g, err,
						    sizeof(err)), 0);
	assert_int_equal(back.len, full.len);
	assert_memory_equal(back.data, full.data, full.len);
	/* the signed form passes through as it is */
	buf_reset(&back);
	assert_int_equal(block_header_expand_stored(&back, full.data, full.len, h->chain_id, NULL,
						    err, sizeof(err)), 0);
	assert_memory_equal(back.data, full.data, full.len);
	/* a key left out needs the genesis */
	buf_reset(&back);
	if (want_no_key) {
		assert_int_equal(block_header_expand_stored(&back, st.data, st.len, h->chain_id, NULL, err,
							    sizeof(err)), -1);
		assert_non_null(strstr(err, "needs the genesis"));
	}
	/* every truncation is refused or expands to bytes that do not decode */
	for (size_t n = 1; n < st.len; n++) {
		block_header_t d;
		rd_t r;
		buf_reset(&back);
		if (block_header_expand_stored(&back, st.data, n, h->chain_id, g, err, sizeof(err)) < 0)
			continue;
		rd_init(&r, back.data, back.len);
		assert_true(block_header_read(&r, &d) < 0 || !rd_end(&r));
	}
	buf_free(&full);
	buf_free(&st);
	buf_free(&back);
}

static void test_header_stored(void **st)
{
	(void)st;
	sig_key_t *keys[4];
	genesis_t g;
	consortium_new(keys, &g);
	for (int version = 1; version <= BLOCK_VERSION; version++) {
		for (int p = 1; p <= 3; p += 2) {   /* an Ed25519 and a P-256 proposer */
			block_t b;
			memset(&b, 0, sizeof(b));
			memcpy(b.hdr.chain_id, g.chain_id, 32);
			memset(b.hdr.prev_hash, 0x5a, 32);
			b.hdr.height = 7;
			b.hdr.timestamp_ms = 1763700000000ull;
			b.hdr.view = 3;
			b.hdr.proposer = (uint16_t)p;
			assert_int_equal(block_seal_version(&b, keys[p], version), 0);
			check_stored(&b.hdr, &g, 1);
			check_stored(&b.hdr, NULL, 0);
			/* a key that is not the genesis's for the index is kept */
			b.hdr.proposer = (uint16_t)(p == 1 ? 2 : 0);
			check_stored(&b.hdr, &g, 0);
			/* an index the genesis does not have, or of another scheme */
			buf_t s2, back;
			char err[256];
			buf_init(&s2);
			buf_init(&back);
			b.hdr.proposer = (uint16_t)p;
			block_header_encode_stored(&s2, &b.hdr, &g);
			s2.data[57] = 0, s2.data[58] = 9;
			assert_int_equal(block_header_expand_stored(&back, s2.data, s2.len, g.chain_id, &g, err,
								    sizeof(err)), -1);
			assert_non_null(strstr(err, "proposer 9"));
			s2.data[58] = (uint8_t)(p == 1 ? 3 : 1);
			buf_reset(&back);
			assert_int_equal(block_header_expand_stored(&back, s2.data, s2.len, g.chain_id, &g, err,
								    sizeof(err)), -1);
			buf_free(&s2);
			buf_free(&back);
			block_clear(&b);
		}
	}
	consortium_free(keys, &g);
}

/* Variable-length integers: round trips at every width, one encoding per
 * value (longer forms, a tenth byte past bit 63, truncations refused). */
static void test_uvar(void **st)
{
	(void)st;
	static const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, 0xffffffffull,
					 (1ull << 63) - 1, 1ull << 63, UINT64_MAX };
	static const size_t lens[] = { 1, 1, 1, 2, 2, 2, 3, 5, 9, 10, 10 };
	for (size_t i = 0; i < ARRAY_LEN(vals); i++) {
		buf_t b;
		rd_t r;
		buf_init(&b);
		buf_uvar(&b, vals[i]);
		assert_int_equal(b.len, lens[i]);
		rd_init(&r, b.data, b.len);
		assert_true(rd_uvar(&r) == vals[i]);
		assert_true(rd_end(&r));
		for (size_t n = 0; n < b.len; n++) {
			rd_init(&r, b.data, n);
			(void)rd_uvar(&r);
			assert_false(rd_ok(&r));
		}
		buf_free(&b);
	}
	static const struct {
		uint8_t b[11];
		size_t n;
	} bad[] = {
		{ { 0x80, 0x00 }, 2 },                 /* 0 in two bytes */
		{ { 0xff, 0x00 }, 2 },                 /* 127 with a trailing zero group */
		{ { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02 }, 10 }, /* 2^64 */
		{ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00 }, 11 },
		{ { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 11 },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		rd_t r;
		rd_init(&r, bad[i].b, bad[i].n);
		(void)rd_uvar(&r);
		assert_false(rd_ok(&r));
		assert_string_equal(r.err, "bad variable-length integer");
		assert_int_equal(r.err_off, 0);
	}
}

/* The raw encodings of b's txs, for block_roots_of_raw. */
static void raw_txs(const block_t *b, const uint8_t **raw, size_t *len)
{
	for (uint32_t i = 0; i < b->hdr.tx_count; i++) {
		raw[i] = b->txs[i].raw;
		len[i] = b->txs[i].raw_len;
	}
}

/* The short at-rest form (block_header_encode_short): it expands back to
 * the signed bytes from the row, derives the roots of a small block from
 * its txs, flags txs changed at rest, and refuses what is malformed. */
static void check_short(const block_t *b, const genesis_t *g, int want_no_key)
{
	const block_header_t *h = &b->hdr;
	buf_t full, st, back;
	char err[256];
	block_row_t row;
	const uint8_t *raw[80];
	size_t len[80];
	int no_roots = h->tx_count <= BLOCK_ROOTS_DERIVED_MAX;
	size_t klen = sig_pub_len(h->proposer_scheme);
	size_t roots = (h->version >= 2 ? 2 : 1) * (no_roots ? BLOCK_ROOT_HINT_BYTES : 32);

	assert_true(h->tx_count <= ARRAY_LEN(raw));
	buf_init(&full);
	buf_init(&st);
	buf_init(&back);
	block_header_encode(&full, h);
	block_header_encode_short(&st, h, g);
	assert_true(block_stored_is_short(st.data, st.len));
	assert_int_equal(block_stored_needs_roots(st.data, st.len), no_roots);
	assert_int_equal(st.data[0], 0xa0 | (want_no_key ? 0x40 : 0) | (no_roots ? 0x10 : 0) | h->version);
	buf_t v;
	buf_init(&v);
	buf_uvar(&v, h->view);
	assert_int_equal(st.len, 1 + 32 + v.len + 3 + (want_no_key ? 0 : klen) + roots +
				 sig_sig_len(h->proposer_scheme));
	buf_free(&v);
	/* no row: refused, as by the longer forms' reader */
	assert_int_equal(block_header_expand_stored(&back, st.data, st.len, h->chain_id, g, err,
						    sizeof(err)), -1);
	assert_non_null(strstr(err, "needs its block's row"));
	memset(&row, 0, sizeof(row));
	row.height = h->height;
	row.timestamp_ms = h->timestamp_ms;
	row.tx_count = h->tx_count;
	if (no_roots) {
		buf_reset(&back);
		assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, g, &row, err,
							 sizeof(err)), -1);
		assert_non_null(strstr(err, "without its roots"));
		raw_txs(b, raw, len);
		assert_int_equal(block_roots_of_raw(h->chain_id, h->tx_count, raw, len, row.tx_root,
						    row.sig_root), 0);
		row.have_roots = 1;
	}
	buf_reset(&back);
	assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, g, &row, err,
						 sizeof(err)), 0);
	assert_int_equal(row.roots_altered, 0);
	assert_int_equal(back.len, full.len);
	assert_memory_equal(back.data, full.data, full.len);
	if (no_roots) {
		/* other txs: the header comes back with their roots, flagged */
		row.tx_root[0] ^= 1;
		buf_reset(&back);
		assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, g, &row,
							 err, sizeof(err)), 0);
		assert_int_equal(row.roots_altered, ROOTS_TX_ALTERED);
		assert_memory_not_equal(back.data, full.data, full.len);
		row.tx_root[0] ^= 1;
		row.sig_root[1] ^= 1;
		buf_reset(&back);
		assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, g, &row,
							 err, sizeof(err)), 0);
		assert_int_equal(row.roots_altered, h->version >= 2 ? ROOTS_SIG_ALTERED : 0);
		row.sig_root[1] ^= 1;
	}
	/* the row's fields are the header's: another height is another header */
	row.height++;
	buf_reset(&back);
	assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, g, &row, err,
						 sizeof(err)), 0);
	assert_memory_not_equal(back.data, full.data, full.len);
	row.height--;
	if (want_no_key) {
		buf_reset(&back);
		assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, NULL, &row,
							 err, sizeof(err)), -1);
		assert_non_null(strstr(err, "needs the genesis"));
	}
	/* every truncation and a trailing byte are refused */
	for (size_t n = 1; n < st.len; n++) {
		buf_reset(&back);
		assert_int_equal(block_header_expand_row(&back, st.data, n, h->chain_id, g, &row, err,
							 sizeof(err)), -1);
	}
	buf_u8(&st, 0);
	buf_reset(&back);
	assert_int_equal(block_header_expand_row(&back, st.data, st.len, h->chain_id, g, &row, err,
						 sizeof(err)), -1);
	assert_non_null(strstr(err, "trailing bytes"));
	/* an unknown version in the first byte */
	st.data[0] = (uint8_t)((st.data[0] & 0xf0) | 0x0f);
	buf_reset(&back);
	assert_int_equal(block_header_expand_row(&back, st.data, st.len - 1, h->chain_id, g, &row, err,
						 sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown block version"));
	buf_free(&full);
	buf_free(&st);
	buf_free(&back);
}

static void test_header_short(void **st)
{
	(void)st;
	sig_key_t *keys[4];
	genesis_t g;
	consortium_new(keys, &g);
	static const uint32_t counts[] = { 0, 1, 3, BLOCK_ROOTS_DERIVED_MAX, BLOCK_ROOTS_DERIVED_MAX + 1 };
	static const uint64_t views[] = { 0, 200, UINT64_MAX };
	for (int version = 1; version <= BLOCK_VERSION; version++) {
		for (size_t ci = 0; ci < ARRAY_LEN(counts); ci++) {
			int p = ci % 2 ? 1 : 3;          /* an Ed25519 and a P-256 proposer */
			block_t b;
			memset(&b, 0, sizeof(b));
			memcpy(b.hdr.chain_id, g.chain_id, 32);
			memset(b.hdr.prev_hash, 0x5a, 32);
			b.hdr.height = 7 + ci;
			b.hdr.timestamp_ms = 1763700000000ull + ci;
			b.hdr.view = views[ci % ARRAY_LEN(views)];
			b.hdr.proposer = (uint16_t)p;
			b.hdr.tx_count = counts[ci];
			b.txs = xcalloc(counts[ci] ? counts[ci] : 1, sizeof(tx_t));
			for (uint32_t i = 0; i < counts[ci]; i++) {
				char ins[32];
				snprintf(ins, sizeof(ins), "vm create v%u", i);
				tx_fields_t f = { .type = TX_REQUEST, .domain = "p1", .instruction = ins };
				assert_int_equal(tx_build(&b.txs[i], &f, keys[i % 4], g.chain_id, NULL, 0), 0);
			}
			assert_int_equal(block_seal_version(&b, keys[p], version), 0);
			check_short(&b, &g, 1);
			check_short(&b, NULL, 0);
			b.hdr.proposer = (uint16_t)(p == 1 ? 2 : 0);
			check_short(&b, &g, 0);
			block_clear(&b);
		}
	}
	/* a tx too short to hold a sender and a signature has no roots */
	const uint8_t junk[] = { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	const uint8_t *raw[1] = { junk };
	size_t len[1] = { sizeof(junk) };
	uint8_t a[32], c[32];
	assert_int_equal(block_roots_of_raw(g.chain_id, 1, raw, len, a, c), -1);
	consortium_free(keys, &g);
}

/* The short at-rest certificate: round trips, and refuses what
 * cert_decode would and what does not fit its own fields. */
static void test_cert_short(void **st)
{
	(void)st;
	static const uint16_t nodes[][4] = { { 0, 1, 2, 0 }, { 1, 2, 3, 0 }, { 0, 7, 300, 65535 } };
	static const uint16_t counts[] = { 3, 3, 4 };
	for (size_t k = 0; k < ARRAY_LEN(counts); k++) {
		cert_t c;
		buf_t canon, sh, back;
		char err[256];
		c.view = k == 2 ? UINT64_MAX : 5 * k;
		c.n = counts[k];
		c.sigs = xcalloc(c.n, sizeof(cert_sig_t));
		for (uint16_t i = 0; i < c.n; i++) {
			c.sigs[i].node = nodes[k][i];
			c.sigs[i].sig_len = (uint16_t)(i == 3 ? SIG_MAX_SIG : 64);
			memset(c.sigs[i].sig, 0x30 + i, c.sigs[i].sig_len);
		}
		buf_init(&canon);
		buf_init(&sh);
		buf_init(&back);
		cert_encode(&canon, &c);
		cert_encode_stored(&sh, &c);
		if (k == 0)
			assert_int_equal(sh.len, canon.len - 14);
		assert_int_equal(cert_expand_stored(&back, sh.data, sh.len, err, sizeof(err)), 0);
		assert_int_equal(back.len, canon.len);
		assert_memory_equal(back.data, canon.data, canon.len);
		for (size_t n = 0; n < sh.len; n++) {
			buf_reset(&back);
			assert_int_equal(cert_expand_stored(&back, sh.data, n, err, sizeof(err)), -1);
		}
		buf_u8(&sh, 0);
		buf_reset(&back);
		assert_int_equal(cert_expand_stored(&back, sh.data, sh.len, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "trailing bytes"));
		buf_free(&canon);
		buf_free(&sh);
		buf_free(&back);
		cert_clear(&c);
	}
	static const struct {
		uint8_t b[12];
		size_t n;
		const char *why;
	} bad[] = {
		{ { 0, 0 }, 2, "bad signature count" },
		{ { 0, 0x81, 0x08 }, 3, "bad signature count" },            /* 1025 */
		{ { 0, 1, 0x80, 0x80, 0x04 }, 5, "signer index out of range" }, /* 65536 */
		{ { 0, 2, 0xff, 0xff, 0x03, 1, 0xaa, 0, 1, 0xbb }, 10, "signer index out of range" },
		{ { 0, 1, 0, 0 }, 4, "bad signature length" },
		{ { 0, 1, 0, 0x81, 0x02 }, 5, "bad signature length" },       /* 257 */
		{ { 0, 1, 0, 2, 0xaa }, 5, "truncated" },
		{ { 0x80, 0, 1, 0, 1, 0xaa }, 6, "bad variable-length integer" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		buf_t back;
		char err[256];
		buf_init(&back);
		assert_int_equal(cert_expand_stored(&back, bad[i].b, bad[i].n, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].why))
			fail_msg("case %zu: `%s', want `%s'", i, err, bad[i].why);
		buf_free(&back);
	}
}

/* block_body_matches: the bytes after a header are the txs its hash
 * commits to, or they are refused (what consensus keeps under a hash). */
static int body_check(const genesis_t *g, const uint8_t *p, size_t len)
{
	rd_t r;
	block_header_t h;
	rd_init(&r, p, len);
	if (block_header_read(&r, &h) < 0)
		return -2;
	return block_body_matches(&h, &r, g->chain_id);
}

static void test_block_body_matches(void **st)
{
	(void)st;
	sig_key_t *keys[4];
	genesis_t g;
	consortium_new(keys, &g);
	block_t b;
	block_of_requests(&b, &g, keys, 3, 3);
	assert_int_equal(block_seal(&b, keys[1]), 0);
	buf_t enc;
	buf_init(&enc);
	block_encode(&enc, &b);
	assert_int_equal(body_check(&g, enc.data, enc.len), 0);
	/* the ids it hashed decode the block as block_decode does */
	{
		rd_t r;
		block_header_t h;
		uint8_t (*ids)[BSEC_HASH_BYTES] = NULL;
		block_t d1, d2;
		char err[256];
		rd_init(&r, enc.data, enc.len);
		assert_int_equal(block_header_read(&r, &h), 0);
		assert_int_equal(block_body_matches_ids(&h, &r, g.chain_id, &ids), 0);
		assert_non_null(ids);
		assert_int_equal(block_decode(&d1, enc.data, enc.len, err, sizeof(err)), 0);
		assert_int_equal(block_decode_with_ids(&d2, enc.data, enc.len,
						       (const uint8_t (*)[BSEC_HASH_BYTES])ids, 3, err, sizeof(err)), 0);
		for (int i = 0; i < 3; i++) {
			assert_memory_equal(d2.txs[i].id, d1.txs[i].id, BSEC_HASH_BYTES);
			assert_memory_equal(d2.tx_ids[i], d1.tx_ids[i], BSEC_HASH_BYTES);
			assert_memory_equal(d2.txs[i].id, b.txs[i].id, BSEC_HASH_BYTES);
		}
		assert_int_equal(block_check_root(&d2), 0);
		block_clear(&d1);
		block_clear(&d2);
		/* ids for another count are refused */
		assert_int_equal(block_decode_with_ids(&d2, enc.data, enc.len,
						       (const uint8_t (*)[BSEC_HASH_BYTES])ids, 2, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "another tx count"));
		free(ids);
		/* a body that does not match hands over no ids */
		enc.data[enc.len - 2] ^= 1;
		rd_init(&r, enc.data, enc.len);
		assert_int_equal(block_header_read(&r, &h), 0);
		ids = (void *)1;
		assert_int_equal(block_body_matches_ids(&h, &r, g.chain_id, &ids), -1);
		assert_null(ids);
		enc.data[enc.len - 2] ^= 1;
	}
	/* the header alone reads the same whatever follows it */
	size_t last = enc.len - 1, sig_byte = enc.len - 2, content_byte = enc.len - 64 - 5;
	enc.data[content_byte] ^= 1;   /* the last tx's instruction: its id, tx_root */
	assert_int_equal(body_check(&g, enc.data, enc.len), -1);
	enc.data[content_byte] ^= 1;
	enc.data[sig_byte] ^= 1;       /* its signature: sig_root */
	assert_int_equal(body_check(&g, enc.data, enc.len), -1);
	enc.data[sig_byte] ^= 1;
	for (size_t n = last - 70; n < enc.len; n += 7)
		assert_int_equal(body_check(&g, enc.data, n), -1);
	buf_u8(&enc, 0);                /* one byte trailing */
	assert_int_equal(body_check(&g, enc.data, enc.len), -1);
	/* another chain's ids */
	uint8_t other[32];
	memset(other, 7, 32);
	rd_t r;
	block_header_t h;
	rd_init(&r, enc.data, enc.len - 1);
	assert_int_equal(block_header_read(&r, &h), 0);
	assert_int_equal(block_body_matches(&h, &r, other), -1);
	/* a header listing one tx fewer than follow */
	b.hdr.tx_count = 2;
	buf_t two;
	buf_init(&two);
	assert_int_equal(block_seal(&b, keys[1]), 0);
	block_encode(&two, &b);
	assert_int_equal(body_check(&g, two.data, two.len), 0);
	buf_put(&two, enc.data + two.len, enc.len - 1 - two.len);
	assert_int_equal(body_check(&g, two.data, two.len), -1);
	b.hdr.tx_count = 3;
	buf_free(&two);
	buf_free(&enc);
	block_clear(&b);
	consortium_free(keys, &g);
}

int main(void)
{
	hash_sha256(CID, "bsec-test", 9);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_roundtrip),
		cmocka_unit_test(test_uvar),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_merkle),
		cmocka_unit_test(test_tx_layout),
		cmocka_unit_test(test_tx_vectors),
		cmocka_unit_test(test_tx_decode_rejects),
		cmocka_unit_test(test_tx_types_roundtrip),
		cmocka_unit_test(test_sla_ops),
		cmocka_unit_test(test_block_and_cert),
		cmocka_unit_test(test_header_stored),
		cmocka_unit_test(test_header_short),
		cmocka_unit_test(test_cert_short),
		cmocka_unit_test(test_block_body_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
