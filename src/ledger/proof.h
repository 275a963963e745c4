/*
 * proof.h — self-contained inclusion proofs (DESIGN §4, §8 "Audit"): a
 * bundle that proves, to anyone holding the genesis file and nothing else,
 * that one tx was committed at a given height of a consortium's chain.
 *
 * Bundle encoding (binary, one canonical form; integers big-endian):
 *
 *   "BSPF" | u8 version (= 1) | 32 chain_id (SHA-256 of the genesis file) |
 *   u32 header_len | signed block header (block.h) |
 *   u32 cert_len   | commit certificate (block.h) |
 *   u32 tx_len     | signed tx (tx.h) |
 *   u32 index (of the tx in the block) | u8 path_len | path_len x 32 Merkle path
 *
 * Nothing in it is redundant, so every byte is bound by a check:
 * proof_check recomputes the tx id from the tx bytes under the chain id
 * and verifies its signature; walks the RFC 6962 path from the id at
 * `index' of the header's tx_count leaves to the header's tx_root (the
 * path length must be exactly the tree's); decodes the header (its fixed
 * layout has one encoding), checks its chain id, that the proposer is a
 * member with that node key and that it signed the header; and checks the
 * certificate: a quorum of distinct members' commit signatures over
 * (chain_id, view, height, header hash).  Trailing bytes, unknown
 * versions and any length that does not fit are refused.  The bundle is a
 * file (`bsec audit proof --out`) and what GET /v1/proofs/{id}?format=bin
 * serves; the JSON view (proof_to_json) is only a rendering.
 */
#ifndef BSEC_PROOF_H
#define BSEC_PROOF_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/merkle.h"
#include "block.h"
#include "genesis.h"
#include "store.h"

#define PROOF_MAGIC "BSPF"
#define PROOF_VERSION 1
#define PROOF_MAX_BYTES (1u << 20)

/* A decoded bundle.  Owns its parts; proof_clear releases them. */
typedef struct {
	uint8_t chain_id[BSEC_HASH_BYTES];
	block_header_t hdr;
	cert_t cert;
	tx_t tx;
	uint32_t index;
	uint8_t path[MERKLE_MAX_PATH][BSEC_HASH_BYTES];
	size_t path_len;
	uint8_t *raw;                 /* the bundle bytes */
	size_t raw_len;
} proof_t;

/* Builds the bundle for tx `index' of block b (whose signed header and
 * certificate encodings are passed as stored) into out.  -1 with a
 * reason when index is out of range. */
int proof_build(buf_t *out, const uint8_t chain_id[BSEC_HASH_BYTES], const block_t *b,
		const uint8_t *cert, size_t cert_len, uint32_t index, char *err, size_t errlen) WUR;

/* The bundle of committed tx `id' from a ledger: 0 with out filled and
 * *height set; 1 when the tx is not committed there; -1 with a reason on
 * a store error. */
int proof_from_store(store_t *s, const uint8_t chain_id[BSEC_HASH_BYTES],
		     const uint8_t id[BSEC_HASH_BYTES], buf_t *out, uint64_t *height,
		     char *err, size_t errlen) WUR;

/* Structural decode (copies data).  0, or -1 with "offset N: reason". */
int proof_decode(proof_t *p, const uint8_t *data, size_t len, char *err, size_t errlen) WUR;
void proof_clear(proof_t *p);

/* Every check above against genesis g.  0 when the bundle proves its tx
 * committed in g's chain; -1 with the first failed check in err. */
int proof_check(const proof_t *p, const genesis_t *g, char *err, size_t errlen) WUR;

/* Decode + check in one call. */
int proof_verify_bytes(const uint8_t *data, size_t len, const genesis_t *g, char *err,
		       size_t errlen) WUR;

/* JSON view: version, chain_id, tx_id, height, index, tx_count, path,
 * tx (tx_to_json), header, certificate, tx_hex, header_hex, cert_hex and
 * bundle_hex (the exact bundle).  Caller json_decref's. */
struct json_t;
struct json_t *proof_to_json(const proof_t *p);

#endif
