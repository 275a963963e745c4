/*
 * proof.c — inclusion-proof bundles: build, decode, check, JSON view
 * (see proof.h for the encoding and the checks).
 */
#include "proof.h"
#include "validate.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int proof_build(buf_t *out, const uint8_t chain_id[BSEC_HASH_BYTES], const block_t *b,
		const uint8_t *cert, size_t cert_len, uint32_t index, char *err, size_t errlen)
{
	uint8_t path[MERKLE_MAX_PATH][BSEC_HASH_BYTES];
	size_t plen = 0;
	buf_t hb;
	if (index >= b->hdr.tx_count ||
	    merkle_proof(path, &plen, (const uint8_t (*)[BSEC_HASH_BYTES])b->tx_ids,
			 b->hdr.tx_count, index) < 0) {
		err_set(err, errlen, "tx index %" PRIu32 " is not in block %" PRIu64 " (%" PRIu32 " txs)",
			index, b->hdr.height, b->hdr.tx_count);
		return -1;
	}
	buf_init(&hb);
	block_header_encode(&hb, &b->hdr);
	buf_put(out, PROOF_MAGIC, 4);
	buf_u8(out, PROOF_VERSION);
	buf_put(out, chain_id, BSEC_HASH_BYTES);
	buf_blob32(out, hb.data, hb.len);
	buf_blob32(out, cert, cert_len);
	buf_blob32(out, b->txs[index].raw, b->txs[index].raw_len);
	buf_u32(out, index);
	buf_u8(out, (uint8_t)plen);
	for (size_t i = 0; i < plen; i++)
		buf_put(out, path[i], BSEC_HASH_BYTES);
	buf_free(&hb);
	return 0;
}

int proof_from_store(store_t *s, const uint8_t chain_id[BSEC_HASH_BYTES],
		     const uint8_t id[BSEC_HASH_BYTES], buf_t *out, uint64_t *height, char *err,
		     size_t errlen)
{
	uint8_t *raw = NULL, *braw = NULL, *craw = NULL;
	size_t len, bl, cl;
	uint32_t idx;
	block_t b;
	char why[256];
	int ret = -1;

	if (store_get_tx(s, id, &raw, &len, height, &idx) != 0)
		return 1;
	free(raw);
	if (store_get_block_raw(s, *height, &braw, &bl, &craw, &cl) < 0) {
		err_set(err, errlen, "cannot read block %" PRIu64, *height);
		goto out;
	}
	if (block_decode(&b, braw, bl, why, sizeof(why)) < 0) {
		err_set(err, errlen, "block %" PRIu64 " does not decode: %s", *height, why);
		goto out;
	}
	if (idx < b.hdr.tx_count && memcmp(b.txs[idx].id, id, BSEC_HASH_BYTES) != 0)
		err_set(err, errlen, "block %" PRIu64 " holds another tx at index %" PRIu32, *height, idx);
	else if (proof_build(out, chain_id, &b, craw, cl, idx, err, errlen) == 0)
		ret = 0;
	block_clear(&b);
out:
	free(braw);
	free(craw);
	return ret;
}

void proof_clear(proof_t *p)
{
	if (!p)
		return;
	cert_clear(&p->cert);
	tx_clear(&p->tx);
	free(p->raw);
	memset(p, 0, sizeof(*p));
}

int proof_decode(proof_t *p, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	rd_t r;
	const uint8_t *part;
	size_t n, at;
	char why[256];
	int have_cert = 0;

	memset(p, 0, sizeof(*p));
	if (len > PROOF_MAX_BYTES) {
		err_set(err, errlen, "a proof bundle of %zu bytes exceeds the limit of %u", len,
			PROOF_MAX_BYTES);
		return -1;
	}
	rd_init(&r, data, len);
	part = rd_bytes(&r, 4);
	if (part && memcmp(part, PROOF_MAGIC, 4) != 0) {
		err_set(err, errlen, "offset 0: not a BSec proof bundle (no %s magic)", PROOF_MAGIC);
		goto fail;
	}
	at = r.off;
	if (rd_u8(&r) != PROOF_VERSION && rd_ok(&r)) {
		err_set(err, errlen, "offset %zu: unknown proof version %u", at, data[at]);
		goto fail;
	}
	rd_copy(&r, p->chain_id, BSEC_HASH_BYTES);
	/* header: exactly one signed header */
	at = r.off + 4;
	part = rd_blob32(&r, &n, 64u << 10);
	if (part) {
		rd_t h;
		rd_init(&h, part, n);
		if (block_header_read(&h, &p->hdr) < 0 || !rd_end(&h)) {
			err_set(err, errlen, "offset %zu: block header: %s", at + h.err_off,
				h.err ? h.err : "bad header");
			goto fail;
		}
	}
	at = r.off + 4;
	part = rd_blob32(&r, &n, 512u << 10);
	if (part) {
		if (cert_decode(&p->cert, part, n, why, sizeof(why)) < 0) {
			err_set(err, errlen, "offset %zu: %s", at, why);
			goto fail;
		}
		have_cert = 1;
	}
	at = r.off + 4;
	part = rd_blob32(&r, &n, TX_MAX_BYTES);
	if (part) {
		if (tx_decode(&p->tx, part, n, p->chain_id, why, sizeof(why)) < 0) {
			err_set(err, errlen, "offset %zu: tx: %s", at, why);
			goto fail;
		}
	}
	p->index = rd_u32(&r);
	at = r.off;
	p->path_len = rd_u8(&r);
	if (rd_ok(&r) && p->path_len > MERKLE_MAX_PATH) {
		err_set(err, errlen, "offset %zu: Merkle path of %zu hashes (at most %d)", at,
			p->path_len, MERKLE_MAX_PATH);
		goto fail;
	}
	for (size_t i = 0; i < p->path_len && rd_ok(&r); i++)
		rd_copy(&r, p->path[i], BSEC_HASH_BYTES);
	if (!rd_end(&r)) {
		err_set(err, errlen, "offset %zu: %s", r.err_off, r.err ? r.err : "bad bundle");
		goto fail;
	}
	p->raw = xmalloc(len ? len : 1);
	memcpy(p->raw, data, len);
	p->raw_len = len;
	return 0;
fail:
	if (!have_cert)
		memset(&p->cert, 0, sizeof(p->cert));
	proof_clear(p);
	return -1;
}

int proof_check(const proof_t *p, const genesis_t *g, char *err, size_t errlen)
{
	char a[2 * BSEC_HASH_BYTES + 1], b[2 * BSEC_HASH_BYTES + 1], why[256];
	const block_header_t *h = &p->hdr;
	const provider_t *pr;
	verdict_t v;

	if (memcmp(p->chain_id, g->chain_id, BSEC_HASH_BYTES) != 0) {
		hex_encode(a, p->chain_id, BSEC_HASH_BYTES);
		hex_encode(b, g->chain_id, BSEC_HASH_BYTES);
		err_set(err, errlen, "the bundle is for chain %s, the genesis founds %s", a, b);
		return -1;
	}
	if (tx_verify_sig(&p->tx, g->chain_id) != 0) {
		err_set(err, errlen, "the tx's signature does not verify");
		return -1;
	}
	if (validate_fields(&p->tx, &v) != V_OK) {
		err_set(err, errlen, "the tx is not well formed: %s", v.msg);
		return -1;
	}
	if (p->index >= h->tx_count) {
		err_set(err, errlen, "tx index %" PRIu32 " is beyond the block's %" PRIu32 " txs",
			p->index, h->tx_count);
		return -1;
	}
	if (merkle_verify(h->tx_root, p->tx.id, p->index, h->tx_count,
			  (const uint8_t (*)[BSEC_HASH_BYTES])p->path, p->path_len) != 0) {
		hex_encode(a, p->tx.id, BSEC_HASH_BYTES);
		err_set(err, errlen,
			"the Merkle path does not lead from tx %s at index %" PRIu32 " of %" PRIu32
			" to the block's tx_root",
			a, p->index, h->tx_count);
		return -1;
	}
	if (memcmp(h->chain_id, g->chain_id, BSEC_HASH_BYTES) != 0) {
		err_set(err, errlen, "block %" PRIu64 "'s header names another chain", h->height);
		return -1;
	}
	if (h->height == 0) {
		err_set(err, errlen, "the header says height 0");
		return -1;
	}
	if (h->proposer >= g->n_providers) {
		err_set(err, errlen, "block %" PRIu64 ": proposer index %u is not a member (n = %zu)",
			h->height, h->proposer, g->n_providers);
		return -1;
	}
	pr = &g->providers[h->proposer];
	if (h->proposer_scheme != pr->node_key.scheme ||
	    memcmp(h->proposer_key, pr->node_key.key, sig_pub_len(h->proposer_scheme)) != 0) {
		err_set(err, errlen, "block %" PRIu64 ": proposer key is not the node key of provider %u (%s)",
			h->height, h->proposer, pr->name);
		return -1;
	}
	if (block_header_verify_sig(h) != 0) {
		err_set(err, errlen, "block %" PRIu64 ": proposer signature does not verify", h->height);
		return -1;
	}
	if (cert_verify(&p->cert, g, h->height, h->hash, why, sizeof(why)) != 0) {
		err_set(err, errlen, "block %" PRIu64 ": %s", h->height, why);
		return -1;
	}
	return 0;
}

int proof_verify_bytes(const uint8_t *data, size_t len, const genesis_t *g, char *err,
		       size_t errlen)
{
	proof_t p;
	if (proof_decode(&p, data, len, err, errlen) < 0)
		return -1;
	int r = proof_check(&p, g, err, errlen);
	proof_clear(&p);
	return r;
}

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

json_t *proof_to_json(const proof_t *p)
{
	json_t *o = json_object(), *path = json_array();
	buf_t hb, cb;
	buf_init(&hb);
	buf_init(&cb);
	block_header_encode(&hb, &p->hdr);
	cert_encode(&cb, &p->cert);
	for (size_t i = 0; i < p->path_len; i++)
		json_array_append_new(path, jhex(p->path[i], BSEC_HASH_BYTES));
	json_object_set_new(o, "version", json_integer(PROOF_VERSION));
	json_object_set_new(o, "chain_id", jhex(p->chain_id, BSEC_HASH_BYTES));
	json_object_set_new(o, "tx_id", jhex(p->tx.id, BSEC_HASH_BYTES));
	json_object_set_new(o, "height", json_integer((json_int_t)p->hdr.height));
	json_object_set_new(o, "index", json_integer(p->index));
	json_object_set_new(o, "tx_count", json_integer(p->hdr.tx_count));
	json_object_set_new(o, "path", path);
	json_object_set_new(o, "tx", tx_to_json(&p->tx, p->chain_id));
	json_object_set_new(o, "header", block_header_to_json(&p->hdr));
	json_object_set_new(o, "certificate", cert_to_json(&p->cert));
	json_object_set_new(o, "tx_hex", jhex(p->tx.raw, p->tx.raw_len));
	json_object_set_new(o, "header_hex", jhex(hb.data, hb.len));
	json_object_set_new(o, "cert_hex", jhex(cb.data, cb.len));
	json_object_set_new(o, "bundle_hex", jhex(p->raw, p->raw_len));
	buf_free(&hb);
	buf_free(&cb);
	return o;
}
