/*
 * remote.c — the node API as an audit source (remote.h).
 *
 * Pages of raw blocks are fetched on demand; each record is cut into the
 * same store_scan_block_t rows the ledger scan produces: the signed header
 * (as much as block_header_read takes; the whole block when it does not
 * decode), then the txs by their u32 length prefixes.  Bytes that do not
 * frame as a tx become one last "tx" that cannot decode, so a malformed
 * block is reported by the auditor at its height rather than dropped.
 */
#include "remote.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BLOCKS 256
#define PAGE_MAX_BYTES (256u << 20)
#define STATUS_MAX_BYTES (1u << 20)

struct audit_remote_t {
	char *url;
	https_client_t *c;
	/* the page being handed out */
	uint8_t *page;
	size_t page_len, off;
	uint64_t next;                /* next height to ask for */
	uint64_t tip;                 /* from the first page; 0 until known */
	int tip_known, done;
	store_scan_tx_t *txs;
	size_t cap;
};

audit_remote_t *audit_remote_new(const char *url, const https_trust_t *trust, int timeout_ms,
				 char *err, size_t errlen)
{
	audit_remote_t *r = xcalloc(1, sizeof(*r));
	r->url = xstrdup(url);
	r->c = https_client_new(url, trust, timeout_ms, err, errlen);
	if (!r->c) {
		audit_remote_free(r);
		return NULL;
	}
	https_client_set_max_response(r->c, PAGE_MAX_BYTES);
	r->next = 1;
	return r;
}

void audit_remote_free(audit_remote_t *r)
{
	if (!r)
		return;
	https_client_free(r->c);
	free(r->url);
	free(r->page);
	free(r->txs);
	free(r);
}

int audit_remote_get(audit_remote_t *r, const char *path, int *status, uint8_t **body, size_t *len,
		     char *err, size_t errlen)
{
	char why[256];
	*body = NULL;
	*len = 0;
	if (https_client_request(r->c, "GET", path, NULL, NULL, 0, status, body, len, why,
				 sizeof(why)) < 0) {
		err_set(err, errlen, "%s%s: %s", r->url, path, why);
		return -1;
	}
	return 0;
}

int audit_remote_get_json(audit_remote_t *r, const char *path, int *status, json_t **out, char *err,
			  size_t errlen)
{
	uint8_t *b;
	size_t n;
	json_error_t je;
	*out = NULL;
	if (audit_remote_get(r, path, status, &b, &n, err, errlen) < 0)
		return -1;
	*out = json_loadb((const char *)b, n, 0, &je);
	free(b);
	return 0;
}

static int remote_chain_id(void *ctx, uint8_t out[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	audit_remote_t *r = ctx;
	int status, ret = -1;
	json_t *o = NULL;
	/* a status is a few hundred bytes: the 256 MiB a block page may take
	 * would buy a hostile node gigabytes of parsed JSON */
	https_client_set_max_response(r->c, STATUS_MAX_BYTES);
	int got = audit_remote_get_json(r, "/v1/status", &status, &o, err, errlen);
	https_client_set_max_response(r->c, PAGE_MAX_BYTES);
	if (got < 0)
		return -1;
	const char *h = json_string_value(json_object_get(o, "chain_id"));
	if (status != 200 || !h || hex_decode(out, BSEC_HASH_BYTES, h) < 0)
		err_set(err, errlen, "%s/v1/status: HTTP %d without a chain_id", r->url, status);
	else
		ret = 0;
	json_decref(o);
	return ret;
}

/* Fetches the page starting at r->next.  0, or -1 with err. */
static int fetch_page(audit_remote_t *r, char *err, size_t errlen)
{
	char path[96];
	int status;
	uint8_t *b = NULL;
	size_t n = 0;
	free(r->page);
	r->page = NULL;
	r->page_len = r->off = 0;
	snprintf(path, sizeof(path), "/v1/blocks/raw?from=%" PRIu64 "&limit=%d", r->next, PAGE_BLOCKS);
	if (audit_remote_get(r, path, &status, &b, &n, err, errlen) < 0)
		return -1;
	if (status != 200 || n < 12 || memcmp(b, RAW_BLOCKS_MAGIC, 4) != 0) {
		err_set(err, errlen, "%s%s: HTTP %d, not a raw block page (%.120s)", r->url, path, status,
			status == 200 ? "no BSRB magic" : (const char *)b);
		free(b);
		return -1;
	}
	rd_t rd;
	rd_init(&rd, b + 4, 8);
	uint64_t tip = rd_u64(&rd);
	if (!r->tip_known) {
		r->tip = tip;
		r->tip_known = 1;
	}
	r->page = b;
	r->page_len = n;
	r->off = 12;
	return 0;
}

/* Cuts one block's bytes into rows (pointers into the page). */
static void cut_block(audit_remote_t *r, store_scan_block_t *blk, const uint8_t *p, size_t n)
{
	rd_t rd;
	block_header_t h;
	size_t k = 0;
	rd_init(&rd, p, n);
	if (block_header_read(&rd, &h) < 0) {
		blk->header = p;
		blk->header_len = n;
		blk->n_txs = 0;
		return;
	}
	blk->header = p;
	blk->header_len = rd.off;
	while (rd.off < n) {
		size_t at = rd.off, tl = 0;
		const uint8_t *t = rd_blob32(&rd, &tl, n);
		if (k == r->cap) {
			r->cap = r->cap ? 2 * r->cap : 256;
			r->txs = xrealloc(r->txs, r->cap * sizeof(*r->txs));
		}
		store_scan_tx_t *x = &r->txs[k];
		memset(x, 0, sizeof(*x));
		x->height = blk->height;
		x->index = (uint32_t)k;
		/* past the header's count, the rest is one row that the count check
		 * refuses: 4-byte frames must not buy a 64-byte row each */
		if (k == h.tx_count)
			t = NULL;
		if (!t) {
			/* does not frame: the rest as one undecodable tx */
			x->raw = p + at;
			x->len = n - at;
			k++;
			break;
		}
		x->raw = t;
		x->len = tl;
		k++;
	}
	blk->txs = r->txs;
	blk->n_txs = k;
}

static int remote_next(void *ctx, store_scan_block_t *blk, char *err, size_t errlen)
{
	audit_remote_t *r = ctx;
	memset(blk, 0, sizeof(*blk));
	if (r->done || (r->tip_known && r->next > r->tip)) {
		r->done = 1;
		return 1;
	}
	if (!r->page || r->off >= r->page_len) {
		if (fetch_page(r, err, errlen) < 0)
			return -1;
		if (r->off >= r->page_len) {
			r->done = 1;   /* nothing at r->next: the end of the node's chain */
			return 1;
		}
	}
	rd_t rd;
	rd_init(&rd, r->page + r->off, r->page_len - r->off);
	uint64_t h = rd_u64(&rd);
	size_t bl = 0, cl = 0;
	const uint8_t *b = rd_blob32(&rd, &bl, BLOCK_MAX_BYTES);
	const uint8_t *c = rd_blob32(&rd, &cl, 1u << 20);
	if (!rd_ok(&rd)) {
		err_set(err, errlen, "%s: raw block page: offset %zu: %s", r->url, r->off + rd.err_off,
			rd.err);
		return -1;
	}
	r->off += rd.off;
	blk->height = h;
	blk->cert = c;
	blk->cert_len = cl;
	cut_block(r, blk, b, bl);
	/* ask next for the height after the last one served, whatever the node claimed */
	r->next++;
	return 0;
}

void audit_remote_source(audit_remote_t *r, audit_source_t *src)
{
	memset(src, 0, sizeof(*src));
	src->ctx = r;
	src->chain_id = remote_chain_id;
	src->next = remote_next;
	src->stray = NULL;
	src->have_ids = 0;
	src->name = r->url;
}
