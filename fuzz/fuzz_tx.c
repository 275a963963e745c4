/*
 * fuzz_tx.c — libFuzzer harness for the tx decoder: any input must be
 * decoded or refused with a reason, never crash; a decoded tx must
 * re-encode to exactly its input (one encoding per value), and its JSON
 * view, signature check and field validation must run cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "ledger/tx.h"
#include "ledger/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t cid[BSEC_HASH_BYTES] = { 1, 2, 3 };
	tx_t tx, again;
	char err[256];
	if (tx_decode(&tx, data, size, cid, err, sizeof(err)) != 0) {
		if (!err[0])
			abort(); /* a refusal always says why */
		return 0;
	}
	if (tx.raw_len != size || memcmp(tx.raw, data, size))
		abort();
	if (tx_decode(&again, tx.raw, tx.raw_len, cid, err, sizeof(err)) != 0 ||
	    memcmp(again.id, tx.id, BSEC_HASH_BYTES))
		abort();
	(void)tx_verify_sig(&tx, cid);
	verdict_t v;
	(void)validate_fields(&tx, &v);
	json_t *j = tx_to_json(&tx, cid);
	json_decref(j);
	tx_clear(&again);
	tx_clear(&tx);
	return 0;
}
