/*
 * fuzz_block.c — libFuzzer harness for the block and certificate
 * decoders.  The input's first byte chooses the decoder (1 mod 4: a
 * certificate; 3 mod 4: a certificate in its short at-rest form; 2 mod 4:
 * a header in an at-rest form, as the auditor reads it from a ledger file,
 * with a row made of the next 16 bytes when bit 2 is set; otherwise a
 * block); a decoded block or certificate re-encodes to its input exactly
 * and its root/signature checks run; a short certificate that expands
 * decodes, and stores again as the same bytes; a stored header that
 * expands and decodes to a header of the genesis's chain stores (in both
 * forms) and expands again to the same signed bytes.
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

static void stored_header(const uint8_t *data, size_t size, int with_row)
{
	genesis_t *g = fake_genesis();
	buf_t full, st, again;
	block_header_t h;
	block_row_t row, row2;
	rd_t r;
	memset(&row, 0, sizeof(row));
	if (with_row) {
		/* height, timestamp, tx count, and roots made of one byte */
		if (size < 17)
			return;
		for (int i = 0; i < 8; i++) {
			row.height = row.height << 8 | data[i];
			row.timestamp_ms = row.timestamp_ms << 8 | data[8 + i];
		}
		row.tx_count = data[16] * 1000u;
		memset(row.tx_root, data[16], sizeof(row.tx_root));
		memset(row.sig_root, data[16] ^ 0x5a, sizeof(row.sig_root));
		row.have_roots = data[16] & 1;
		data += 17;
		size -= 17;
	}
	buf_init(&full);
	buf_init(&st);
	buf_init(&again);
	if (block_header_expand_row(&full, data, size, g->chain_id, g, with_row ? &row : NULL, NULL,
				    0) == 0) {
		rd_init(&r, full.data, full.len);
		/* a ledger stores only headers of its own chain (store_append) */
		if (block_header_read(&r, &h) == 0 && rd_end(&r) &&
		    memcmp(h.chain_id, g->chain_id, sizeof(h.chain_id)) == 0) {
			block_header_encode_stored(&st, &h, g);
			if (block_header_expand_stored(&again, st.data, st.len, g->chain_id, g, NULL, 0) != 0 ||
			    again.len != full.len || memcmp(again.data, full.data, full.len))
				abort();
			/* the short form, with the row the store would keep */
			memset(&row2, 0, sizeof(row2));
			row2.height = h.height;
			row2.timestamp_ms = h.timestamp_ms;
			row2.tx_count = h.tx_count;
			row2.have_roots = 1;
			memcpy(row2.tx_root, h.tx_root, sizeof(h.tx_root));
			memcpy(row2.sig_root, h.sig_root, sizeof(h.sig_root));
			buf_reset(&st);
			buf_reset(&again);
			block_header_encode_short(&st, &h, g);
			if (block_header_expand_row(&again, st.data, st.len, g->chain_id, g, &row2, NULL,
						    0) != 0 ||
			    row2.roots_altered || again.len != full.len ||
			    memcmp(again.data, full.data, full.len))
				abort();
		}
	}
	buf_free(&full);
	buf_free(&st);
	buf_free(&again);
}

static void short_cert(const uint8_t *data, size_t size)
{
	buf_t canon, again;
	cert_t c;
	buf_init(&canon);
	buf_init(&again);
	if (cert_expand_stored(&canon, data, size, NULL, 0) == 0) {
		/* everything the short form can say, the signed form can */
		if (cert_decode(&c, canon.data, canon.len, NULL, 0) != 0)
			abort();
		cert_encode_stored(&again, &c);
		if (again.len != size || memcmp(again.data, data, size))
			abort(); /* two short forms of one certificate */
		cert_clear(&c);
	}
	buf_free(&canon);
	buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
	if ((data[0] & 3) == 2) {
		stored_header(data + 1, size - 1, data[0] & 4);
		return 0;
	}
	if ((data[0] & 3) == 3) {
		short_cert(data + 1, size - 1);
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
