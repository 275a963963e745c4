/*
 * follow.c — checked decoding of the node API's blocks (follow.h): raw
 * pages, and the JSON, which names every header field
 * (block_header_to_json) and every certificate signature (cert_to_json).
 * Either way the hash is recomputed here, never taken from the node.
 */
#include "follow.h"
#include "../ledger/audit.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Hex member key of o into exactly n bytes. */
static int jhex_fixed(uint8_t *out, size_t n, const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s && strlen(s) == 2 * n && hex_decode(out, n, s) == 0 ? 0 : -1;
}

static int ju64(uint64_t *out, const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int header_parse(block_header_t *h, const json_t *o, char *err, size_t errlen)
{
	uint64_t v;
	sig_scheme_t scheme;
	memset(h, 0, sizeof(*h));
	if (!json_is_object(o)) {
		err_set(err, errlen, "no header object");
		return -1;
	}
	if (ju64(&v, o, "version") < 0 || v < BLOCK_VERSION_MIN || v > BLOCK_VERSION) {
		err_set(err, errlen, "header version is not %d to %d", BLOCK_VERSION_MIN, BLOCK_VERSION);
		return -1;
	}
	h->version = (uint8_t)v;
	if (v >= 2 && jhex_fixed(h->sig_root, BSEC_HASH_BYTES, o, "sig_root") < 0) {
		err_set(err, errlen, "header sig_root is not 64 hex digits");
		return -1;
	}
	if (jhex_fixed(h->chain_id, BSEC_HASH_BYTES, o, "chain_id") < 0 ||
	    jhex_fixed(h->prev_hash, BSEC_HASH_BYTES, o, "prev_hash") < 0 ||
	    jhex_fixed(h->tx_root, BSEC_HASH_BYTES, o, "tx_root") < 0) {
		err_set(err, errlen, "header chain_id, prev_hash or tx_root is not 64 hex digits");
		return -1;
	}
	if (ju64(&h->height, o, "height") < 0 || ju64(&h->timestamp_ms, o, "timestamp_ms") < 0 ||
	    ju64(&h->view, o, "view") < 0) {
		err_set(err, errlen, "header height, timestamp_ms or view is not a number");
		return -1;
	}
	if (ju64(&v, o, "proposer") < 0 || v > UINT16_MAX) {
		err_set(err, errlen, "header proposer is not a node index");
		return -1;
	}
	h->proposer = (uint16_t)v;
	if (ju64(&v, o, "tx_count") < 0 || v > BLOCK_MAX_TXS) {
		err_set(err, errlen, "header tx_count is not a number up to %d", BLOCK_MAX_TXS);
		return -1;
	}
	h->tx_count = (uint32_t)v;
	if (sig_scheme_parse(json_string_value(json_object_get(o, "proposer_scheme")), &scheme) < 0) {
		err_set(err, errlen, "header proposer_scheme is unknown");
		return -1;
	}
	h->proposer_scheme = (uint8_t)scheme;
	if (jhex_fixed(h->proposer_key, sig_pub_len(scheme), o, "proposer_key_hex") < 0 ||
	    jhex_fixed(h->sig, sig_sig_len(scheme), o, "signature_hex") < 0) {
		err_set(err, errlen, "header proposer key or signature has the wrong length for %s",
			sig_scheme_name(scheme));
		return -1;
	}
	block_header_hash(h, h->hash);
	return 0;
}

static int cert_parse(cert_t *c, const json_t *o, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	json_t *sigs = json_object_get(o, "signatures");
	if (!json_is_object(o) || ju64(&c->view, o, "view") < 0 || !json_is_array(sigs) ||
	    json_array_size(sigs) > CERT_MAX_SIGS) {
		err_set(err, errlen, "no valid certificate object");
		return -1;
	}
	c->n = (uint16_t)json_array_size(sigs);
	c->sigs = xcalloc(c->n ? c->n : 1, sizeof(*c->sigs));
	for (uint16_t i = 0; i < c->n; i++) {
		json_t *s = json_array_get(sigs, i);
		uint64_t node;
		const char *hex = json_string_value(json_object_get(s, "signature_hex"));
		size_t hl = hex ? strlen(hex) : 0;
		if (ju64(&node, s, "node") < 0 || node > UINT16_MAX || !hl || hl % 2 ||
		    hl / 2 > SIG_MAX_SIG || hex_decode(c->sigs[i].sig, hl / 2, hex) < 0) {
			err_set(err, errlen, "certificate signature %u is malformed", i);
			cert_clear(c);
			return -1;
		}
		c->sigs[i].node = (uint16_t)node;
		c->sigs[i].sig_len = (uint16_t)(hl / 2);
	}
	return 0;
}

/* The checks of follow.h on a header (its hash computed from its
 * fields), then on the txs and certificate of its block.  0, or -1 with
 * the reason in err. */
static int header_check(const block_header_t *hdr, const genesis_t *g, uint64_t height,
			const uint8_t prev_hash[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	if (memcmp(hdr->chain_id, g->chain_id, BSEC_HASH_BYTES)) {
		err_set(err, errlen, "block %llu belongs to another chain", (unsigned long long)height);
		return -1;
	}
	if (hdr->height != height) {
		err_set(err, errlen, "asked for block %llu, got height %llu", (unsigned long long)height,
			(unsigned long long)hdr->height);
		return -1;
	}
	if (memcmp(hdr->prev_hash, prev_hash, BSEC_HASH_BYTES)) {
		err_set(err, errlen, "block %llu does not link to the previous block's hash",
			(unsigned long long)height);
		return -1;
	}
	if (hdr->proposer >= g->n_providers) {
		err_set(err, errlen, "block %llu: proposer %u is not a member", (unsigned long long)height,
			hdr->proposer);
		return -1;
	}
	const pubkey_t *pk = &g->providers[hdr->proposer].node_key;
	if (pk->scheme != hdr->proposer_scheme ||
	    memcmp(pk->key, hdr->proposer_key, sig_pub_len(pk->scheme)) ||
	    block_header_verify_sig(hdr) != 0) {
		err_set(err, errlen, "block %llu: the header is not signed by proposer %u's node key",
			(unsigned long long)height, hdr->proposer);
		return -1;
	}
	return 0;
}

static int body_check(const block_t *b, const cert_t *c, const genesis_t *g, uint64_t height, char *err,
		      size_t errlen)
{
	char why[256];
	if (block_check_root(b) != 0) {
		err_set(err, errlen, "block %llu: the txs do not match the header's tx_root",
			(unsigned long long)height);
		return -1;
	}
	if (block_check_sig_root(b) != 0) {
		err_set(err, errlen, "block %llu: the txs' signatures do not match the header's sig_root",
			(unsigned long long)height);
		return -1;
	}
	if (cert_verify(c, g, height, b->hdr.hash, why, sizeof(why)) < 0) {
		err_set(err, errlen, "block %llu: %s", (unsigned long long)height, why);
		return -1;
	}
	return 0;
}

int follow_block_parse(block_t *out, const json_t *bj, const genesis_t *g, uint64_t height,
		       const uint8_t prev_hash[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	block_t b;
	cert_t c;
	char why[256];
	int ret = -1;
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memset(out, 0, sizeof(*out));
	if (!json_is_object(bj)) {
		err_set(err, errlen, "block %llu: not a JSON object", (unsigned long long)height);
		goto out;
	}
	if (header_parse(&b.hdr, json_object_get(bj, "header"), why, sizeof(why)) < 0) {
		err_set(err, errlen, "block %llu: %s", (unsigned long long)height, why);
		goto out;
	}
	if (header_check(&b.hdr, g, height, prev_hash, err, errlen) < 0)
		goto out;
	uint32_t count = b.hdr.tx_count;
	json_t *txs = json_object_get(bj, "txs");
	if (!json_is_array(txs) || json_array_size(txs) != count) {
		err_set(err, errlen, "block %llu: header says %u txs, the answer carries %zu",
			(unsigned long long)height, count, json_is_array(txs) ? json_array_size(txs) : 0);
		goto out;
	}
	b.txs = xcalloc(count ? count : 1, sizeof(*b.txs));
	b.tx_ids = xcalloc(count ? count : 1, sizeof(*b.tx_ids));
	for (uint32_t i = 0; i < count; i++) {
		const char *hex = json_string_value(json_object_get(json_array_get(txs, i), "raw_hex"));
		size_t hl = hex ? strlen(hex) : 0;
		if (!hl || hl % 2 || hl / 2 > TX_MAX_BYTES) {
			err_set(err, errlen, "block %llu: tx %u has no valid raw_hex", (unsigned long long)height, i);
			goto out;
		}
		uint8_t *raw = xmalloc(hl / 2);
		int bad = hex_decode(raw, hl / 2, hex) < 0;
		if (bad)
			err_set(why, sizeof(why), "raw_hex is not hex");
		else
			bad = tx_decode(&b.txs[i], raw, hl / 2, g->chain_id, why, sizeof(why)) < 0;
		free(raw);
		if (bad) {
			err_set(err, errlen, "block %llu: tx %u does not decode: %s", (unsigned long long)height,
				i, why);
			goto out;
		}
		memcpy(b.tx_ids[i], b.txs[i].id, BSEC_HASH_BYTES);
	}
	if (cert_parse(&c, json_object_get(bj, "certificate"), why, sizeof(why)) < 0) {
		err_set(err, errlen, "block %llu: %s", (unsigned long long)height, why);
		goto out;
	}
	if (body_check(&b, &c, g, height, err, errlen) < 0)
		goto out;
	*out = b;
	memset(&b, 0, sizeof(b));
	ret = 0;
out:
	block_clear(&b);
	cert_clear(&c);
	return ret;
}

int follow_page_open(follow_page_t *pg, const uint8_t *body, size_t len, char *err, size_t errlen)
{
	memset(pg, 0, sizeof(*pg));
	if (len < 12 || memcmp(body, RAW_BLOCKS_MAGIC, 4) != 0) {
		err_set(err, errlen, "not a raw block page (%zu bytes, no %s magic)", len, RAW_BLOCKS_MAGIC);
		return -1;
	}
	rd_init(&pg->rd, body, len);
	(void)rd_bytes(&pg->rd, 4);
	pg->tip = rd_u64(&pg->rd);
	return 0;
}

int follow_page_next(follow_page_t *pg, block_t *out, const genesis_t *g, uint64_t height,
		     const uint8_t prev_hash[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	block_t b;
	cert_t c;
	char why[256];
	size_t bl = 0, cl = 0;
	memset(out, 0, sizeof(*out));
	if (pg->rd.err) {
		err_set(err, errlen, "the page is malformed");
		return -1;
	}
	if (pg->rd.off == pg->rd.len)
		return 0;
	uint64_t h = rd_u64(&pg->rd);
	const uint8_t *bp = rd_blob32(&pg->rd, &bl, BLOCK_MAX_BYTES);
	/* a certificate: a view, a count and CERT_MAX_SIGS signatures at most */
	const uint8_t *cp = rd_blob32(&pg->rd, &cl, 10 + (size_t)CERT_MAX_SIGS * (4 + SIG_MAX_SIG));
	if (!rd_ok(&pg->rd)) {
		err_set(err, errlen, "block %llu: the page is cut short or malformed (offset %zu: %s)",
			(unsigned long long)height, pg->rd.err_off, pg->rd.err);
		return -1;
	}
	if (h != height) {
		err_set(err, errlen, "asked for block %llu, the page has %llu", (unsigned long long)height,
			(unsigned long long)h);
		return -1;
	}
	/* the header first, as the JSON path does: a forged block costs
	 * its signature check, not the decoding of every tx */
	block_header_t hdr;
	rd_t hr;
	rd_init(&hr, bp, bl);
	if (block_header_read(&hr, &hdr) < 0) {
		err_set(err, errlen, "block %llu: the header does not decode (offset %zu: %s)",
			(unsigned long long)height, hr.err_off, hr.err ? hr.err : "bad header");
		return -1;
	}
	if (header_check(&hdr, g, height, prev_hash, err, errlen) < 0)
		return -1;
	if (block_decode(&b, bp, bl, why, sizeof(why)) < 0) {
		err_set(err, errlen, "block %llu does not decode: %s", (unsigned long long)height, why);
		return -1;
	}
	if (cert_decode(&c, cp, cl, why, sizeof(why)) < 0) {
		err_set(err, errlen, "block %llu: the certificate does not decode: %s",
			(unsigned long long)height, why);
		block_clear(&b);
		return -1;
	}
	int r = body_check(&b, &c, g, height, err, errlen);
	cert_clear(&c);
	if (r < 0) {
		block_clear(&b);
		return -1;
	}
	*out = b;
	return 1;
}

/* ---- the nodes to follow ---------------------------------------------------- */

int follow_nodes_setup(nodeapi_t **v, size_t *n, const genesis_t *g, char *const *urls, size_t n_urls,
		       const char *ca, size_t first, const char *cfg_path, char *err, size_t errlen)
{
	if (urls) {
		for (size_t i = 0; i < n_urls; i++) {
			const provider_t *p = NULL;
			for (size_t k = 0; k < g->n_providers && !p; k++)
				if (g->providers[k].api && nodeapi_same_base(g->providers[k].api, urls[i]))
					p = &g->providers[k];
			if (!p && !ca) {
				err_set(err, errlen, "%s: nodes[%zu] `%s' is not the API of any provider in the "
					"genesis, so no pinned certificate applies: give \"ca\"", cfg_path, i, urls[i]);
				return -1;
			}
			nodeapi_add(v, n, urls[i], p ? p->name : NULL, p ? p->tls_cert_pem : NULL, ca);
		}
		return 0;
	}
	size_t before = *n;
	for (size_t k = 0; k < g->n_providers; k++) {
		const provider_t *p = &g->providers[(first + k) % g->n_providers];
		if (!p->api || strncmp(p->api, "https://", 8) || (!ca && !p->tls_cert_pem))
			continue;
		nodeapi_add(v, n, p->api, p->name, p->tls_cert_pem, ca);
	}
	if (*n == before) {
		err_set(err, errlen, "no provider in the genesis has an https:// API to follow");
		return -1;
	}
	return 0;
}
