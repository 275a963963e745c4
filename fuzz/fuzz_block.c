/*
 * fuzz_block.c — libFuzzer harness for the block and certificate
 * decoders.  The input's first byte chooses the decoder (odd: a
 * certificate; 2 mod 4: a header in its stored form, as the auditor reads
 * it from a ledger file; otherwise a block); a decoded block or
 * certificate re-encodes to its input exactly and its root/signature
 * checks run; a stored header that expands and decodes to a header of
 * the genesis's chain stores and expands again to the same signed bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ledger/block.h"
#include "ledger/genesis.h"

/* A genesis of four Ed25519 nodes, for the keys a stored header leaves out. */
static genesis_t *fake_genesis(void)
{
	static genesis_t g;
	static provider_t p[4];
	if (!g.providers) {
		for (int i = 0; i < 4; i++) {
			p[i].index = (uint16_t)i;
			p[i].node_key.scheme = SIG_ED25519;
			memset(p[i].node_key.key, 0x11 * (i + 1), sizeof(p[i].node_key.key));
		}
		memset(g.chain_id, 0xc1, sizeof(g.chain_id));
		g.providers = p;
		g.n_providers = 4;
	}
	return &g;
}

static void stored_header(const uint8_t *data, size_t size)
{
	genesis_t *g = fake_genesis();
	buf_t full, st, again;
	block_header_t h;
	rd_t r;
	buf_init(&full);
	buf_init(&st);
	buf_init(&again);
	if (block_header_expand_stored(&full, data, size, g->chain_id, g, NULL, 0) == 0) {
		rd_init(&r, full.data, full.len);
		/* a ledger stores only headers of its own chain (store_append) */
		if (block_header_read(&r, &h) == 0 && rd_end(&r) &&
		    memcmp(h.chain_id, g->chain_id, sizeof(h.chain_id)) == 0) {
			block_header_encode_stored(&st, &h, g);
			if (block_header_expand_stored(&again, st.data, st.len, g->chain_id, g, NULL, 0) != 0 ||
			    again.len != full.len || memcmp(again.data, full.data, full.len))
				abort();
		}
	}
	buf_free(&full);
	buf_free(&st);
	buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
	if ((data[0] & 3) == 2) {
		stored_header(data + 1, size - 1);
		return 0;
	}
	if (data[0] & 1) {
		cert_t c;
		if (cert_decode(&c, data + 1, size - 1, err, sizeof(err)) == 0) {
			buf_t b;
			buf_init(&b);
			cert_encode(&b, &c);
			if (b.len != size - 1 || memcmp(b.data, data + 1, b.len))
				abort();
			buf_free(&b);
			cert_clear(&c);
		}
		return 0;
	}
	block_t blk;
	if (block_decode(&blk, data + 1, size - 1, err, sizeof(err)) != 0)
		return 0;
	buf_t b;
	buf_init(&b);
	block_encode(&b, &blk);
	if (b.len != size - 1 || memcmp(b.data, data + 1, b.len))
		abort();
	(void)block_check_root(&blk);
	(void)block_header_verify_sig(&blk.hdr);
	buf_free(&b);
	block_clear(&blk);
	return 0;
}
