/*
 * block.c — block headers, bodies and commit certificates: encoding,
 * decoding, hashing, sealing and checking (see block.h for the layout).
 */
#include "block.h"
#include "genesis.h"
#include "../lib/merkle.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void block_header_encode_unsigned(buf_t *out, const block_header_t *h)
{
	buf_u8(out, h->version);
	buf_put(out, h->chain_id, BSEC_HASH_BYTES);
	buf_u64(out, h->height);
	buf_put(out, h->prev_hash, BSEC_HASH_BYTES);
	buf_u64(out, h->timestamp_ms);
	buf_u64(out, h->view);
	buf_u16(out, h->proposer);
	buf_u8(out, h->proposer_scheme);
	buf_put(out, h->proposer_key, sig_pub_len(h->proposer_scheme));
	buf_u32(out, h->tx_count);
	buf_put(out, h->tx_root, BSEC_HASH_BYTES);
	if (h->version >= 2)
		buf_put(out, h->sig_root, BSEC_HASH_BYTES);
}

void block_header_encode(buf_t *out, const block_header_t *h)
{
	block_header_encode_unsigned(out, h);
	buf_put(out, h->sig, sig_sig_len(h->proposer_scheme));
}

/* Offsets in the signed encoding: the chain_id follows the version byte;
 * height, prev_hash, timestamp, view, proposer index and scheme come
 * next, then the proposer's key. */
#define ST_CHAIN 1
#define ST_MID (ST_CHAIN + BSEC_HASH_BYTES)
#define ST_KEY (ST_MID + 8 + BSEC_HASH_BYTES + 8 + 8 + 2 + 1)
#define ST_NO_CHAIN 0x80
#define ST_NO_KEY 0x40

void block_header_encode_stored(buf_t *out, const block_header_t *h, const genesis_t *g)
{
	buf_t full;
	size_t klen = sig_pub_len(h->proposer_scheme);
	int no_key = g && h->proposer < g->n_providers &&
		     g->providers[h->proposer].node_key.scheme == h->proposer_scheme &&
		     memcmp(g->providers[h->proposer].node_key.key, h->proposer_key, klen) == 0;
	_Static_assert(BLOCK_VERSION < ST_NO_KEY, "the version shares the stored form's first byte");
	buf_init(&full);
	block_header_encode(&full, h);
	buf_u8(out, (uint8_t)(ST_NO_CHAIN | (no_key ? ST_NO_KEY : 0) | h->version));
	buf_put(out, full.data + ST_MID, ST_KEY - ST_MID);
	buf_put(out, full.data + ST_KEY + (no_key ? klen : 0), full.len - ST_KEY - (no_key ? klen : 0));
	buf_free(&full);
}

int block_header_expand_stored(buf_t *out, const uint8_t *p, size_t len,
			       const uint8_t chain_id[BSEC_HASH_BYTES], const genesis_t *g,
			       char *err, size_t errlen)
{
	const size_t mid = ST_KEY - ST_MID;
	if (len == 0 || !(p[0] & ST_NO_CHAIN)) {
		buf_put(out, p, len);
		return 0;
	}
	if (len < 1 + mid) {
		err_set(err, errlen, "stored header of %zu bytes is too short", len);
		return -1;
	}
	buf_u8(out, p[0] & (ST_NO_KEY - 1));
	buf_put(out, chain_id, BSEC_HASH_BYTES);
	buf_put(out, p + 1, mid);
	if (p[0] & ST_NO_KEY) {
		/* the index and the scheme are the last three bytes before the key */
		unsigned idx = (unsigned)p[mid - 2] << 8 | p[mid - 1];
		uint8_t scheme = p[mid];
		if (!g || idx >= g->n_providers || g->providers[idx].node_key.scheme != scheme) {
			err_set(err, errlen, "stored header names proposer %u (scheme %u), whose key %s", idx,
				scheme, g ? "the genesis does not give" : "needs the genesis");
			return -1;
		}
		buf_put(out, g->providers[idx].node_key.key, sig_pub_len(scheme));
	}
	buf_put(out, p + 1 + mid, len - 1 - mid);
	return 0;
}

void block_header_hash(const block_header_t *h, uint8_t out[BSEC_HASH_BYTES])
{
	buf_t b;
	buf_init(&b);
	block_header_encode_unsigned(&b, h);
	hash_sha256(out, b.data, b.len);
	buf_free(&b);
}

int block_header_read(rd_t *r, block_header_t *h)
{
	memset(h, 0, sizeof(*h));
	size_t start = r->off;
	h->version = rd_u8(r);
	if (rd_ok(r) && (h->version < BLOCK_VERSION_MIN || h->version > BLOCK_VERSION)) {
		r->off = start;
		rd_fail(r, "unknown block version");
		return -1;
	}
	rd_copy(r, h->chain_id, BSEC_HASH_BYTES);
	h->height = rd_u64(r);
	rd_copy(r, h->prev_hash, BSEC_HASH_BYTES);
	h->timestamp_ms = rd_u64(r);
	h->view = rd_u64(r);
	h->proposer = rd_u16(r);
	size_t at = r->off;
	h->proposer_scheme = rd_u8(r);
	if (rd_ok(r) && !sig_scheme_valid(h->proposer_scheme)) {
		r->off = at;
		rd_fail(r, "unknown proposer key scheme");
		return -1;
	}
	rd_copy(r, h->proposer_key, sig_pub_len(h->proposer_scheme));
	at = r->off;
	h->tx_count = rd_u32(r);
	if (rd_ok(r) && h->tx_count > BLOCK_MAX_TXS) {
		r->off = at;
		rd_fail(r, "too many txs in block");
		return -1;
	}
	rd_copy(r, h->tx_root, BSEC_HASH_BYTES);
	if (h->version >= 2)
		rd_copy(r, h->sig_root, BSEC_HASH_BYTES);
	size_t unsigned_len = r->off - start;
	rd_copy(r, h->sig, sig_sig_len(h->proposer_scheme));
	if (!rd_ok(r))
		return -1;
	hash_sha256(h->hash, r->p + start, unsigned_len);
	return 0;
}

static uint8_t *header_signed_bytes(const block_header_t *h, size_t *len)
{
	buf_t b;
	buf_init(&b);
	buf_put(&b, BLOCK_SIG_TAG, sizeof(BLOCK_SIG_TAG) - 1);
	block_header_encode_unsigned(&b, h);
	return buf_steal(&b, len);
}

/* Merkle root over SHA-256 of each tx's signature bytes. */
static void sig_root_of(const block_t *b, uint8_t out[BSEC_HASH_BYTES])
{
	uint32_t n = b->hdr.tx_count;
	uint8_t (*leaves)[BSEC_HASH_BYTES] = xmalloc((n ? n : 1) * sizeof(*leaves));
	for (uint32_t i = 0; i < n; i++)
		hash_sha256(leaves[i], b->txs[i].sig, sig_sig_len(b->txs[i].scheme));
	merkle_root(out, (const uint8_t (*)[BSEC_HASH_BYTES])leaves, n);
	free(leaves);
}

int block_seal(block_t *b, const sig_key_t *key)
{
	return block_seal_version(b, key, BLOCK_VERSION);
}

int block_seal_version(block_t *b, const sig_key_t *key, int version)
{
	block_header_t *h = &b->hdr;
	if (version < BLOCK_VERSION_MIN || version > BLOCK_VERSION)
		return -1;
	h->version = (uint8_t)version;
	h->proposer_scheme = (uint8_t)sig_key_scheme(key);
	memcpy(h->proposer_key, sig_key_pub(key), sig_pub_len(h->proposer_scheme));
	if (!b->tx_ids && h->tx_count) {
		b->tx_ids = xmalloc(h->tx_count * sizeof(*b->tx_ids));
		for (uint32_t i = 0; i < h->tx_count; i++)
			memcpy(b->tx_ids[i], b->txs[i].id, BSEC_HASH_BYTES);
	}
	merkle_root(h->tx_root, (const uint8_t (*)[BSEC_HASH_BYTES])b->tx_ids, h->tx_count);
	if (h->version >= 2)
		sig_root_of(b, h->sig_root);
	else
		memset(h->sig_root, 0, BSEC_HASH_BYTES);
	block_header_hash(h, h->hash);
	size_t len;
	uint8_t *msg = header_signed_bytes(h, &len);
	int r = sig_sign(key, h->sig, msg, len);
	free(msg);
	return r;
}

int block_header_verify_sig(const block_header_t *h)
{
	size_t len;
	uint8_t *msg = header_signed_bytes(h, &len);
	int r = sig_verify(h->proposer_scheme, h->proposer_key, h->sig, msg, len);
	free(msg);
	return r;
}

void block_encode(buf_t *out, const block_t *b)
{
	block_header_encode(out, &b->hdr);
	for (uint32_t i = 0; i < b->hdr.tx_count; i++)
		buf_blob32(out, b->txs[i].raw, b->txs[i].raw_len);
}

int block_decode(block_t *out, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len > BLOCK_MAX_BYTES) {
		err_set(err, errlen, "block of %zu bytes exceeds the limit", len);
		return -1;
	}
	rd_t r;
	rd_init(&r, data, len);
	if (block_header_read(&r, &out->hdr) < 0)
		goto bad;
	uint32_t n = out->hdr.tx_count;
	/* each tx takes at least 4 bytes: refuse counts the input cannot hold */
	if ((size_t)n > (len - r.off) / 4) {
		rd_fail(&r, "tx count larger than the block");
		goto bad;
	}
	out->txs = xcalloc(n ? n : 1, sizeof(tx_t));
	out->tx_ids = xmalloc((n ? n : 1) * BSEC_HASH_BYTES);
	for (uint32_t i = 0; i < n; i++) {
		size_t at = r.off, tlen;
		const uint8_t *t = rd_blob32(&r, &tlen, TX_MAX_BYTES);
		if (!t)
			goto bad;
		char why[200];
		if (tx_decode(&out->txs[i], t, tlen, out->hdr.chain_id, why, sizeof(why)) < 0) {
			err_set(err, errlen, "tx %u (block offset %zu): %s", i, at + 4, why);
			block_clear(out);
			return -1;
		}
		memcpy(out->tx_ids[i], out->txs[i].id, BSEC_HASH_BYTES);
	}
	if (!rd_end(&r))
		goto bad;
	return 0;
bad:
	err_set(err, errlen, "offset %zu: %s", r.err_off, r.err ? r.err : "bad block");
	block_clear(out);
	return -1;
}

void block_clear(block_t *b)
{
	if (!b)
		return;
	if (b->txs)
		for (uint32_t i = 0; i < b->hdr.tx_count; i++)
			tx_clear(&b->txs[i]);
	free(b->txs);
	free(b->tx_ids);
	memset(b, 0, sizeof(*b));
}

int block_check_root(const block_t *b)
{
	uint8_t root[BSEC_HASH_BYTES];
	merkle_root(root, (const uint8_t (*)[BSEC_HASH_BYTES])b->tx_ids, b->hdr.tx_count);
	return memcmp(root, b->hdr.tx_root, BSEC_HASH_BYTES) == 0 ? 0 : -1;
}

int block_check_sig_root(const block_t *b)
{
	uint8_t root[BSEC_HASH_BYTES];
	if (!block_commits_sigs(&b->hdr))
		return 0;
	sig_root_of(b, root);
	return memcmp(root, b->hdr.sig_root, BSEC_HASH_BYTES) == 0 ? 0 : -1;
}

int block_commits_sigs(const block_header_t *h)
{
	return h->version >= 2;
}

/* ---- certificates ---- */

void cert_encode(buf_t *out, const cert_t *c)
{
	buf_u64(out, c->view);
	buf_u16(out, c->n);
	for (uint16_t i = 0; i < c->n; i++) {
		buf_u16(out, c->sigs[i].node);
		buf_u16(out, c->sigs[i].sig_len);
		buf_put(out, c->sigs[i].sig, c->sigs[i].sig_len);
	}
}

int cert_decode(cert_t *out, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	rd_t r;
	rd_init(&r, data, len);
	out->view = rd_u64(&r);
	size_t at = r.off;
	uint16_t n = rd_u16(&r);
	if (rd_ok(&r) && (n == 0 || n > CERT_MAX_SIGS)) {
		r.off = at;
		rd_fail(&r, "bad signature count");
		goto bad;
	}
	out->sigs = xcalloc(n ? n : 1, sizeof(cert_sig_t));
	for (uint16_t i = 0; i < n && rd_ok(&r); i++) {
		at = r.off;
		out->sigs[i].node = rd_u16(&r);
		if (rd_ok(&r) && i > 0 && out->sigs[i].node <= out->sigs[i - 1].node) {
			r.off = at;
			rd_fail(&r, "signer indexes not strictly increasing");
			break;
		}
		at = r.off;
		out->sigs[i].sig_len = rd_u16(&r);
		if (rd_ok(&r) && (out->sigs[i].sig_len == 0 || out->sigs[i].sig_len > SIG_MAX_SIG)) {
			r.off = at;
			rd_fail(&r, "bad signature length");
			break;
		}
		rd_copy(&r, out->sigs[i].sig, out->sigs[i].sig_len);
		out->n = (uint16_t)(i + 1);
	}
	if (!rd_end(&r))
		goto bad;
	return 0;
bad:
	err_set(err, errlen, "certificate offset %zu: %s", r.err_off, r.err);
	cert_clear(out);
	return -1;
}

void cert_clear(cert_t *c)
{
	if (!c)
		return;
	free(c->sigs);
	memset(c, 0, sizeof(*c));
}

uint8_t *commit_signed_bytes(const uint8_t chain_id[BSEC_HASH_BYTES], uint64_t view,
			     uint64_t height, const uint8_t hash[BSEC_HASH_BYTES], size_t *len)
{
	buf_t b;
	buf_init(&b);
	buf_put(&b, COMMIT_SIG_TAG, sizeof(COMMIT_SIG_TAG) - 1);
	buf_put(&b, chain_id, BSEC_HASH_BYTES);
	buf_u64(&b, view);
	buf_u64(&b, height);
	buf_put(&b, hash, BSEC_HASH_BYTES);
	return buf_steal(&b, len);
}

int cert_verify(const cert_t *c, const genesis_t *g, uint64_t height,
		const uint8_t hash[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	size_t len, good = 0;
	int ret = -1;
	uint8_t *msg = commit_signed_bytes(g->chain_id, c->view, height, hash, &len);
	for (uint16_t i = 0; i < c->n; i++) {
		const cert_sig_t *s = &c->sigs[i];
		if (i > 0 && s->node <= c->sigs[i - 1].node) {
			err_set(err, errlen, "certificate signers not distinct and ordered at entry %u", i);
			goto out;
		}
		if (s->node >= g->n_providers) {
			err_set(err, errlen, "certificate signer %u is not a member (n = %zu)", s->node,
				g->n_providers);
			goto out;
		}
		const pubkey_t *k = &g->providers[s->node].node_key;
		if (s->sig_len != sig_sig_len(k->scheme) ||
		    sig_verify(k->scheme, k->key, s->sig, msg, len) != 0) {
			err_set(err, errlen, "certificate signature of node %u (%s) does not verify",
				s->node, g->providers[s->node].name);
			goto out;
		}
		good++;
	}
	if (good < genesis_quorum(g)) {
		err_set(err, errlen, "certificate has %zu signatures, quorum is %zu", good,
			genesis_quorum(g));
		goto out;
	}
	ret = 0;
out:
	free(msg);
	return ret;
}

/* ---- JSON ---- */

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

json_t *block_header_to_json(const block_header_t *h)
{
	json_t *o = json_object();
	json_object_set_new(o, "version", json_integer(h->version));
	json_object_set_new(o, "chain_id", jhex(h->chain_id, BSEC_HASH_BYTES));
	json_object_set_new(o, "height", json_integer((json_int_t)h->height));
	json_object_set_new(o, "hash", jhex(h->hash, BSEC_HASH_BYTES));
	json_object_set_new(o, "prev_hash", jhex(h->prev_hash, BSEC_HASH_BYTES));
	json_object_set_new(o, "timestamp_ms", json_integer((json_int_t)h->timestamp_ms));
	json_object_set_new(o, "view", json_integer((json_int_t)h->view));
	json_object_set_new(o, "proposer", json_integer(h->proposer));
	json_object_set_new(o, "proposer_scheme", json_string(sig_scheme_name(h->proposer_scheme)));
	json_object_set_new(o, "proposer_key_hex", jhex(h->proposer_key, sig_pub_len(h->proposer_scheme)));
	json_object_set_new(o, "tx_count", json_integer(h->tx_count));
	json_object_set_new(o, "tx_root", jhex(h->tx_root, BSEC_HASH_BYTES));
	if (h->version >= 2)
		json_object_set_new(o, "sig_root", jhex(h->sig_root, BSEC_HASH_BYTES));
	json_object_set_new(o, "signature_hex", jhex(h->sig, sig_sig_len(h->proposer_scheme)));
	return o;
}

json_t *cert_to_json(const cert_t *c)
{
	json_t *o = json_object(), *a = json_array();
	json_object_set_new(o, "view", json_integer((json_int_t)c->view));
	for (uint16_t i = 0; i < c->n; i++)
		json_array_append_new(a, json_pack("{s:i,s:o}", "node", c->sigs[i].node, "signature_hex",
						   jhex(c->sigs[i].sig, c->sigs[i].sig_len)));
	json_object_set_new(o, "signatures", a);
	return o;
}
