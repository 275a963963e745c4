/*
 * fuzz_block.c — libFuzzer harness for the block and certificate
 * decoders.  The input's first byte chooses the decoder; a decoded block
 * re-encodes to its input exactly and its root/signature checks run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ledger/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
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
