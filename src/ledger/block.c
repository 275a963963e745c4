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
#define ST_SHORT 0x20
#define ST_NO_ROOTS 0x10
#define ST_VERSION 0x0f

_Static_assert(BLOCK_VERSION <= ST_VERSION, "the version shares the stored form's first byte");

/* 1 when h's proposer key is the genesis's node key of that index. */
static int key_in_genesis(const block_header_t *h, const genesis_t *g)
{
	return g && h->proposer < g->n_providers &&
	       g->providers[h->proposer].node_key.scheme == h->proposer_scheme &&
	       memcmp(g->providers[h->proposer].node_key.key, h->proposer_key,
		      sig_pub_len(h->proposer_scheme)) == 0;
}

void block_header_encode_stored(buf_t *out, const block_header_t *h, const genesis_t *g)
{
	buf_t full;
	size_t klen = sig_pub_len(h->proposer_scheme);
	int no_key = key_in_genesis(h, g);
	buf_init(&full);
	block_header_encode(&full, h);
	buf_u8(out, (uint8_t)(ST_NO_CHAIN | (no_key ? ST_NO_KEY : 0) | h->version));
	buf_put(out, full.data + ST_MID, ST_KEY - ST_MID);
	buf_put(out, full.data + ST_KEY + (no_key ? klen : 0), full.len - ST_KEY - (no_key ? klen : 0));
	buf_free(&full);
}

/* The proposer's key of a stored form that left it out: g's node key of
 * that index, which must be of that scheme. */
static const uint8_t *genesis_key(const genesis_t *g, unsigned idx, uint8_t scheme, char *err,
				  size_t errlen)
{
	if (!g || idx >= g->n_providers || g->providers[idx].node_key.scheme != scheme) {
		err_set(err, errlen, "stored header names proposer %u (scheme %u), whose key %s", idx,
			scheme, g ? "the genesis does not give" : "needs the genesis");
		return NULL;
	}
	return g->providers[idx].node_key.key;
}

void block_header_encode_short(buf_t *out, const block_header_t *h, const genesis_t *g)
{
	int no_key = key_in_genesis(h, g);
	int no_roots = h->tx_count <= BLOCK_ROOTS_DERIVED_MAX;
	buf_u8(out, (uint8_t)(ST_NO_CHAIN | ST_SHORT | (no_key ? ST_NO_KEY : 0) |
			      (no_roots ? ST_NO_ROOTS : 0) | h->version));
	buf_put(out, h->prev_hash, BSEC_HASH_BYTES);
	buf_uvar(out, h->view);
	buf_u16(out, h->proposer);
	buf_u8(out, h->proposer_scheme);
	if (!no_key)
		buf_put(out, h->proposer_key, sig_pub_len(h->proposer_scheme));
	size_t rl = no_roots ? BLOCK_ROOT_HINT_BYTES : BSEC_HASH_BYTES;
	buf_put(out, h->tx_root, rl);
	if (h->version >= 2)
		buf_put(out, h->sig_root, rl);
	buf_put(out, h->sig, sig_sig_len(h->proposer_scheme));
}

int block_stored_is_short(const uint8_t *p, size_t len)
{
	return len > 0 && (p[0] & (ST_NO_CHAIN | ST_SHORT)) == (ST_NO_CHAIN | ST_SHORT);
}

int block_stored_needs_roots(const uint8_t *p, size_t len)
{
	return block_stored_is_short(p, len) && (p[0] & ST_NO_ROOTS);
}

static int expand_short(buf_t *out, const uint8_t *p, size_t len,
			const uint8_t chain_id[BSEC_HASH_BYTES], const genesis_t *g,
			block_row_t *row, char *err, size_t errlen)
{
	rd_t r;
	uint8_t f = p[0], version = f & ST_VERSION, scheme;
	const uint8_t *prev, *key, *tx_root = NULL, *sig_root = NULL, *sig;
	uint64_t view;
	uint16_t idx;

	if (!row) {
		err_set(err, errlen, "a short stored header needs its block's row");
		return -1;
	}
	if (version < BLOCK_VERSION_MIN || version > BLOCK_VERSION) {
		err_set(err, errlen, "stored header of unknown block version %u", version);
		return -1;
	}
	if ((f & ST_NO_ROOTS) && !row->have_roots) {
		err_set(err, errlen, "stored header without its roots, and none given");
		return -1;
	}
	rd_init(&r, p + 1, len - 1);
	prev = rd_bytes(&r, BSEC_HASH_BYTES);
	view = rd_uvar(&r);
	idx = rd_u16(&r);
	scheme = rd_u8(&r);
	if (!rd_ok(&r))
		goto bad;
	if (!sig_scheme_valid(scheme)) {
		err_set(err, errlen, "stored header: unknown proposer key scheme %u", scheme);
		return -1;
	}
	if (f & ST_NO_KEY) {
		if (!(key = genesis_key(g, idx, scheme, err, errlen)))
			return -1;
	} else {
		key = rd_bytes(&r, sig_pub_len(scheme));
	}
	if (f & ST_NO_ROOTS) {
		const uint8_t *th = rd_bytes(&r, BLOCK_ROOT_HINT_BYTES), *sh = NULL;
		if (version >= 2)
			sh = rd_bytes(&r, BLOCK_ROOT_HINT_BYTES);
		tx_root = row->tx_root;
		sig_root = row->sig_root;
		row->roots_altered = 0;
		if (th && memcmp(th, tx_root, BLOCK_ROOT_HINT_BYTES) != 0)
			row->roots_altered |= ROOTS_TX_ALTERED;
		if (sh && memcmp(sh, sig_root, BLOCK_ROOT_HINT_BYTES) != 0)
			row->roots_altered |= ROOTS_SIG_ALTERED;
	} else {
		tx_root = rd_bytes(&r, BSEC_HASH_BYTES);
		if (version >= 2)
			sig_root = rd_bytes(&r, BSEC_HASH_BYTES);
	}
	sig = rd_bytes(&r, sig_sig_len(scheme));
	if (!rd_end(&r))
		goto bad;
	buf_u8(out, version);
	buf_put(out, chain_id, BSEC_HASH_BYTES);
	buf_u64(out, row->height);
	buf_put(out, prev, BSEC_HASH_BYTES);
	buf_u64(out, row->timestamp_ms);
	buf_u64(out, view);
	buf_u16(out, idx);
	buf_u8(out, scheme);
	buf_put(out, key, sig_pub_len(scheme));
	buf_u32(out, row->tx_count);
	buf_put(out, tx_root, BSEC_HASH_BYTES);
	if (version >= 2)
		buf_put(out, sig_root, BSEC_HASH_BYTES);
	buf_put(out, sig, sig_sig_len(scheme));
	return 0;
bad:
	err_set(err, errlen, "stored header offset %zu: %s", r.err_off + 1, r.err);
	return -1;
}

int block_header_expand_stored(buf_t *out, const uint8_t *p, size_t len,
			       const uint8_t chain_id[BSEC_HASH_BYTES], const genesis_t *g,
			       char *err, size_t errlen)
{
	return block_header_expand_row(out, p, len, chain_id, g, NULL, err, errlen);
}

/* A full stored form (the header as signed, or without its chain_id and
 * key) holds the timestamp and tx count itself: they must be the row's
 * columns, which the readers of a ledger's history go by (a height that
 * differs is the auditor's "its header says height").  Sets
 * row->columns_differ; the header is handed on either way. */
static int columns_check(const buf_t *out, size_t start, block_row_t *row)
{
	rd_t r;
	block_header_t h;
	if (!row || out->len <= start)
		return 0;
	rd_init(&r, out->data + start, out->len - start);
	if (block_header_read(&r, &h) == 0 &&
	    (h.timestamp_ms != row->timestamp_ms || h.tx_count != row->tx_count))
		row->columns_differ = 1;
	return 0;
}

int block_header_expand_row(buf_t *out, const uint8_t *p, size_t len,
			    const uint8_t chain_id[BSEC_HASH_BYTES], const genesis_t *g,
			    block_row_t *row, char *err, size_t errlen)
{
	const size_t mid = ST_KEY - ST_MID;
	if (block_stored_is_short(p, len))
		return expand_short(out, p, len, chain_id, g, row, err, errlen);
	size_t start = out->len;
	if (len == 0 || !(p[0] & ST_NO_CHAIN)) {
		buf_put(out, p, len);
		return columns_check(out, start, row);
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
		const uint8_t *key = genesis_key(g, idx, scheme, err, errlen);
		if (!key)
			return -1;
		buf_put(out, key, sig_pub_len(scheme));
	}
	buf_put(out, p + 1 + mid, len - 1 - mid);
	return columns_check(out, start, row);
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

int block_roots_ids_of_raw(const uint8_t chain_id[BSEC_HASH_BYTES], size_t n,
			   const uint8_t *const *raw, const size_t *len, uint8_t tx_root[BSEC_HASH_BYTES],
			   uint8_t sig_root[BSEC_HASH_BYTES], uint8_t (**ids_out)[BSEC_HASH_BYTES])
{
	/* the sender's scheme follows version, type, timestamp and nonce */
	const size_t scheme_at = 1 + 1 + 8 + 4;
	uint8_t (*ids)[BSEC_HASH_BYTES] = xmalloc((n ? n : 1) * sizeof(*ids));
	uint8_t (*sigs)[BSEC_HASH_BYTES] = xmalloc((n ? n : 1) * sizeof(*sigs));
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		/* tx_raw_id checks there is room for the key and the signature */
		if (tx_raw_id(raw[i], len[i], chain_id, ids[i]) < 0)
			goto out;
		size_t sl = sig_sig_len(raw[i][scheme_at]);
		hash_sha256(sigs[i], raw[i] + len[i] - sl, sl);
	}
	merkle_root(tx_root, (const uint8_t (*)[BSEC_HASH_BYTES])ids, n);
	merkle_root(sig_root, (const uint8_t (*)[BSEC_HASH_BYTES])sigs, n);
	ret = 0;
out:
	if (ids_out && ret == 0) {
		*ids_out = ids;
		ids = NULL;
	} else if (ids_out) {
		*ids_out = NULL;
	}
	free(ids);
	free(sigs);
	return ret;
}

int block_roots_of_raw(const uint8_t chain_id[BSEC_HASH_BYTES], size_t n,
		       const uint8_t *const *raw, const size_t *len, uint8_t tx_root[BSEC_HASH_BYTES],
		       uint8_t sig_root[BSEC_HASH_BYTES])
{
	return block_roots_ids_of_raw(chain_id, n, raw, len, tx_root, sig_root, NULL);
}

/* block_roots_of_body, handing over the ids when ids is not NULL. */
static int roots_of_body(const uint8_t chain_id[BSEC_HASH_BYTES], rd_t *r, uint32_t n,
			 uint8_t tx_root[BSEC_HASH_BYTES], uint8_t sig_root[BSEC_HASH_BYTES],
			 uint8_t (**ids)[BSEC_HASH_BYTES])
{
	if (ids)
		*ids = NULL;
	if (n > BLOCK_MAX_TXS)
		return -1;
	const uint8_t **raw = xmalloc((n ? n : 1) * sizeof(*raw));
	size_t *lens = xmalloc((n ? n : 1) * sizeof(*lens));
	int ok = 1;
	for (uint32_t i = 0; i < n && ok; i++)
		ok = (raw[i] = rd_blob32(r, &lens[i], TX_MAX_BYTES)) != NULL;
	ok = ok && block_roots_ids_of_raw(chain_id, n, raw, lens, tx_root, sig_root, ids) == 0;
	free(raw);
	free(lens);
	return ok ? 0 : -1;
}

int block_roots_of_body(const uint8_t chain_id[BSEC_HASH_BYTES], rd_t *r, uint32_t n,
			uint8_t tx_root[BSEC_HASH_BYTES], uint8_t sig_root[BSEC_HASH_BYTES])
{
	return roots_of_body(chain_id, r, n, tx_root, sig_root, NULL);
}

int block_body_matches_ids(const block_header_t *h, rd_t *r, const uint8_t chain_id[BSEC_HASH_BYTES],
			   uint8_t (**ids)[BSEC_HASH_BYTES])
{
	uint8_t tx_root[BSEC_HASH_BYTES], sig_root[BSEC_HASH_BYTES];
	uint8_t (*got)[BSEC_HASH_BYTES] = NULL;
	int ok = roots_of_body(chain_id, r, h->tx_count, tx_root, sig_root, &got) == 0 && rd_end(r) &&
		 memcmp(tx_root, h->tx_root, BSEC_HASH_BYTES) == 0 &&
		 (!block_commits_sigs(h) || memcmp(sig_root, h->sig_root, BSEC_HASH_BYTES) == 0);
	if (ok && ids) {
		*ids = got;
		got = NULL;
	} else if (ids) {
		*ids = NULL;
	}
	free(got);
	return ok ? 0 : -1;
}

int block_body_matches(const block_header_t *h, rd_t *r, const uint8_t chain_id[BSEC_HASH_BYTES])
{
	return block_body_matches_ids(h, r, chain_id, NULL);
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
	return block_decode_with_ids(out, data, len, NULL, 0, err, errlen);
}

int block_decode_with_ids(block_t *out, const uint8_t *data, size_t len,
			  const uint8_t (*ids)[BSEC_HASH_BYTES], size_t n_ids, char *err, size_t errlen)
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
	if (ids && n_ids != n) {
		rd_fail(&r, "tx ids given for another tx count");
		goto bad;
	}
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
		if ((ids ? tx_decode_with_id(&out->txs[i], t, tlen, ids[i], why, sizeof(why))
			 : tx_decode(&out->txs[i], t, tlen, out->hdr.chain_id, why, sizeof(why))) < 0) {
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

void cert_encode_stored(buf_t *out, const cert_t *c)
{
	buf_uvar(out, c->view);
	buf_uvar(out, c->n);
	for (uint16_t i = 0; i < c->n; i++) {
		/* signers are strictly increasing in any certificate that decodes;
		 * one that is not would not be read back (nor is it by cert_decode) */
		buf_uvar(out, i ? (uint64_t)(uint16_t)(c->sigs[i].node - c->sigs[i - 1].node - 1)
				: c->sigs[i].node);
		buf_uvar(out, c->sigs[i].sig_len);
		buf_put(out, c->sigs[i].sig, c->sigs[i].sig_len);
	}
}

int cert_expand_stored(buf_t *out, const uint8_t *p, size_t len, char *err, size_t errlen)
{
	rd_t r;
	uint64_t view, n, node = 0;
	size_t at;

	rd_init(&r, p, len);
	view = rd_uvar(&r);
	at = r.off;
	n = rd_uvar(&r);
	if (rd_ok(&r) && (n == 0 || n > CERT_MAX_SIGS)) {
		r.off = at;
		rd_fail(&r, "bad signature count");
	}
	if (rd_ok(&r)) {
		buf_u64(out, view);
		buf_u16(out, (uint16_t)n);
	}
	for (uint64_t i = 0; i < n && rd_ok(&r); i++) {
		at = r.off;
		uint64_t d = rd_uvar(&r);
		if (rd_ok(&r) && (d > 0xffff || (node = (i ? node + 1 : 0) + d) > 0xffff)) {
			r.off = at;
			rd_fail(&r, "signer index out of range");
			break;
		}
		at = r.off;
		uint64_t sl = rd_uvar(&r);
		if (rd_ok(&r) && (sl == 0 || sl > SIG_MAX_SIG)) {
			r.off = at;
			rd_fail(&r, "bad signature length");
			break;
		}
		const uint8_t *sig = rd_bytes(&r, (size_t)sl);
		if (!sig)
			break;
		buf_u16(out, (uint16_t)node);
		buf_u16(out, (uint16_t)sl);
		buf_put(out, sig, (size_t)sl);
	}
	if (!rd_end(&r)) {
		err_set(err, errlen, "stored certificate offset %zu: %s", r.err_off, r.err);
		return -1;
	}
	return 0;
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
