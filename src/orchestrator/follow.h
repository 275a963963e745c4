/*
 * follow.h — turning the node API's JSON view of a committed block
 * (GET /v1/blocks?from=H&txs=1: height, header, certificate, txs with
 * raw_hex) back into a block_t, and checking it so that a lying or broken
 * node cannot make the orchestrator act on a block the consortium never
 * committed:
 *
 *   - the header belongs to this chain, has the expected height and
 *     links to the previous block's hash (height 1 to the chain id);
 *   - the proposer is a member and its node key signed the header;
 *   - every tx decodes from its raw bytes, and the Merkle root of their
 *     ids is the header's tx_root (the ids cover the txs' content, which
 *     is all the orchestrator acts on);
 *   - the commit certificate carries a quorum of member signatures over
 *     (chain id, view, height, block hash) — cert_verify.
 */
#ifndef BSEC_ORCH_FOLLOW_H
#define BSEC_ORCH_FOLLOW_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/block.h"
#include "../ledger/genesis.h"

struct json_t;

/* Parses block JSON bj and checks it as above against genesis g, the
 * expected height and the previous block's hash (the chain id for height
 * 1).  0 with *out filled (block_clear it), or -1 with the reason in err
 * (*out is then cleared). */
int follow_block_parse(block_t *out, const struct json_t *bj, const genesis_t *g, uint64_t height,
		       const uint8_t prev_hash[BSEC_HASH_BYTES], char *err, size_t errlen) WUR;

#endif
