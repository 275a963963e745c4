/*
 * fuzz_blockpage.c — libFuzzer harness for what the orchestrators and the
 * portal read from a node: a raw block page (GET /v1/blocks/raw, read by
 * follow_page_open / follow_page_next) against the fixed consortium of
 * fuzz_common.h.  Any input must be accepted or refused with a reason,
 * never crash or leak; every accepted block must be the next height and
 * link to the one before (block 1 to the genesis).
 *
 * Built with -DBLOCKPAGE_MAKE_SEED (and a plain main) it writes a valid
 * page of blocks 1 and 2 to stdout: fuzz/corpus/blockpage/valid_page2.bin.
 */
#include "fuzz_common.h"
#include "ledger/audit.h"
#include "lib/buf.h"
#include "orchestrator/follow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		fz_setup();
		ready = 1;
	}
	follow_page_t pg;
	char err[512] = "";
	if (follow_page_open(&pg, data, size, err, sizeof(err)) < 0) {
		if (!err[0])
			abort();
		return 0;
	}
	uint8_t prev[BSEC_HASH_BYTES];
	memcpy(prev, FZ_G.chain_id, BSEC_HASH_BYTES);
	for (uint64_t h = 1; h < 100000; h++) {
		block_t b;
		err[0] = 0;
		int r = follow_page_next(&pg, &b, &FZ_G, h, prev, err, sizeof(err));
		if (r < 0 && !err[0])
			abort(); /* a refusal always says why */
		if (r <= 0)
			break;
		if (b.hdr.height != h || memcmp(b.hdr.prev_hash, prev, BSEC_HASH_BYTES))
			abort();
		memcpy(prev, b.hdr.hash, BSEC_HASH_BYTES);
		block_clear(&b);
	}
	return 0;
}

#ifdef BLOCKPAGE_MAKE_SEED
/* Appends block h (on prev, one request, proposed by node h % 4, with a
 * quorum certificate) to page; its hash into hash. */
static int seed_block(buf_t *page, uint64_t h, const uint8_t prev[BSEC_HASH_BYTES], const char *ins,
		      uint8_t hash[BSEC_HASH_BYTES])
{
	char err[256];
	block_t b;
	cert_t c;
	memset(&b, 0, sizeof(b));
	memcpy(b.hdr.chain_id, FZ_G.chain_id, BSEC_HASH_BYTES);
	b.hdr.height = h;
	memcpy(b.hdr.prev_hash, prev, BSEC_HASH_BYTES);
	b.hdr.timestamp_ms = FZ_TS + 1000 * h;
	b.hdr.proposer = (uint16_t)(h % FZ_NPROV);
	b.hdr.tx_count = 1;
	b.txs = calloc(1, sizeof(tx_t));
	tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = FZ_TS + 1000 * h, .nonce = (uint32_t)h,
			  .domain = "p1", .instruction = ins };
	if (tx_build(&b.txs[0], &f, FZ_TENANT, FZ_G.chain_id, err, sizeof(err)) < 0 ||
	    block_seal(&b, FZ_NODE[b.hdr.proposer]) < 0)
		return -1;
	size_t len;
	c.view = 0;
	c.n = 3;
	c.sigs = calloc(3, sizeof(cert_sig_t));
	uint8_t *msg = commit_signed_bytes(FZ_G.chain_id, 0, h, b.hdr.hash, &len);
	for (int i = 0; i < 3; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = 64;
		if (sig_sign(FZ_NODE[i], c.sigs[i].sig, msg, len) < 0)
			return -1;
	}
	free(msg);
	buf_t eb, ec;
	buf_init(&eb);
	buf_init(&ec);
	block_encode(&eb, &b);
	cert_encode(&ec, &c);
	buf_u64(page, h);
	buf_blob32(page, eb.data, eb.len);
	buf_blob32(page, ec.data, ec.len);
	buf_free(&eb);
	buf_free(&ec);
	memcpy(hash, b.hdr.hash, BSEC_HASH_BYTES);
	block_clear(&b);
	cert_clear(&c);
	return 0;
}

int main(void)
{
	fz_setup();
	buf_t page;
	uint8_t h1[BSEC_HASH_BYTES], h2[BSEC_HASH_BYTES];
	buf_init(&page);
	buf_put(&page, RAW_BLOCKS_MAGIC, 4);
	buf_u64(&page, 2);
	if (seed_block(&page, 1, FZ_G.chain_id, "vm create a", h1) < 0 ||
	    seed_block(&page, 2, h1, "vnf create fw --type firewall --vm a", h2) < 0)
		return 1;
	/* both blocks must come through */
	follow_page_t pg;
	block_t b;
	char err[512];
	if (follow_page_open(&pg, page.data, page.len, err, sizeof(err)) < 0 ||
	    follow_page_next(&pg, &b, &FZ_G, 1, FZ_G.chain_id, err, sizeof(err)) != 1) {
		fprintf(stderr, "seed block 1 does not verify: %s\n", err);
		return 1;
	}
	block_clear(&b);
	if (follow_page_next(&pg, &b, &FZ_G, 2, h1, err, sizeof(err)) != 1) {
		fprintf(stderr, "seed block 2 does not verify: %s\n", err);
		return 1;
	}
	block_clear(&b);
	fwrite(page.data, 1, page.len, stdout);
	buf_free(&page);
	return 0;
}
#endif
