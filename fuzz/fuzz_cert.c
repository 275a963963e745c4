/*
 * fuzz_cert.c — libFuzzer harness for commit certificates (block.h): the
 * binary decoder, its JSON form and the check against the fixed genesis of
 * fuzz_common.h.  Any input must decode or be refused with a reason; what
 * decodes must encode back to exactly the same bytes (one encoding per
 * value) and must never verify for a block nobody signed.
 *
 * Built with -DCERT_MAKE_SEED (and a plain main) it writes a valid
 * certificate of block 1 to stdout: the seed in fuzz/corpus/cert/.
 */
#include "fuzz_common.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static uint8_t nobody[BSEC_HASH_BYTES];
	if (!ready) {
		fz_setup();
		memset(nobody, 0xee, sizeof(nobody));
		ready = 1;
	}
	cert_t c;
	char err[512] = "";
	if (cert_decode(&c, data, size, err, sizeof(err)) < 0) {
		if (!err[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	buf_t b;
	buf_init(&b);
	cert_encode(&b, &c);
	if (b.len != size || memcmp(b.data, data, size))
		abort(); /* two encodings of one certificate */
	buf_free(&b);
	json_decref(cert_to_json(&c));
	err[0] = 0;
	if (cert_verify(&c, &FZ_G, 1, nobody, err, sizeof(err)) == 0)
		abort(); /* nobody signed that hash */
	/* the height/hash the seed was made for: may verify, must not crash */
	uint8_t h1[BSEC_HASH_BYTES];
	memset(h1, 0x11, sizeof(h1));
	if (cert_verify(&c, &FZ_G, 1, h1, err, sizeof(err)) != 0 && !err[0])
		abort(); /* a refusal always says why */
	cert_clear(&c);
	return 0;
}

#ifdef CERT_MAKE_SEED
int main(void)
{
	fz_setup();
	uint8_t h1[BSEC_HASH_BYTES];
	memset(h1, 0x11, sizeof(h1));
	cert_t c = { .view = 0, .n = 3 };
	c.sigs = calloc(3, sizeof(cert_sig_t));
	size_t len;
	uint8_t *msg = commit_signed_bytes(FZ_G.chain_id, 0, 1, h1, &len);
	for (int i = 0; i < 3; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = 64;
		if (sig_sign(FZ_NODE[i], c.sigs[i].sig, msg, len) < 0)
			return 1;
	}
	free(msg);
	char err[256];
	if (cert_verify(&c, &FZ_G, 1, h1, err, sizeof(err)) < 0) {
		fprintf(stderr, "seed does not verify: %s\n", err);
		return 1;
	}
	buf_t b;
	buf_init(&b);
	cert_encode(&b, &c);
	fwrite(b.data, 1, b.len, stdout);
	return 0;
}
#endif
