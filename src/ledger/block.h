/*
 * block.h — blocks and commit certificates (DESIGN §4).
 *
 * Header encoding (the proposer signs "bsec/block/v1" || these bytes;
 * block hash = SHA-256(these bytes), so the hash never depends on the
 * signature's randomness):
 *   u8 version (2; 1 is still read), 32 chain_id, u64 height, 32 prev_hash,
 *   u64 timestamp_ms, u64 view, u16 proposer index, u8 proposer scheme,
 *   proposer key, u32 tx_count, 32 tx_root, and from version 2 on
 *   32 sig_root
 * followed by the proposer signature (sig_sig_len(scheme) bytes).
 *
 * tx_root: RFC 6962 Merkle root over the tx ids.  A tx id does not cover
 * the tx's signature (so that re-signing cannot make a duplicate), so a
 * version 1 header left the signature bytes uncommitted: whoever relayed a
 * certified block could swap one for another valid or invalid signature,
 * and a replica fetching certified blocks had to verify every tx again.
 * sig_root (version 2): the same Merkle tree over SHA-256(signature) of
 * each tx, in block order.  A certificate over a version 2 block thus
 * vouches for every byte of every tx, which its 2f+1 signers (f+1 of them
 * correct) checked before they voted.
 *
 * Block encoding: the signed header, then, as many as the header's
 * tx_count says, each tx as u32 length || signed tx.
 * Certificate encoding: u64 view, u16 count, then count entries of
 *   u16 node index (strictly increasing), u16 sig length, signature
 * where each signature covers "bsec/commit/v1" || chain_id || u64 view ||
 * u64 height || block hash.
 *
 * Height 1 is the first block; its prev_hash is the chain_id (the hash of
 * the genesis file), so the chain is anchored in its genesis.
 */
#ifndef BSEC_BLOCK_H
#define BSEC_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "tx.h"

#define BLOCK_VERSION 2              /* what block_seal writes */
#define BLOCK_VERSION_MIN 1          /* the oldest header still read */
#define BLOCK_SIG_TAG "bsec/block/v1"
#define COMMIT_SIG_TAG "bsec/commit/v1"
#define CERT_MAX_SIGS 1024
#define BLOCK_MAX_TXS 100000
#define BLOCK_MAX_BYTES (64u << 20)

typedef struct {
	uint8_t version;
	uint8_t chain_id[BSEC_HASH_BYTES];
	uint64_t height;
	uint8_t prev_hash[BSEC_HASH_BYTES];
	uint64_t timestamp_ms;
	uint64_t view;
	uint16_t proposer;
	uint8_t proposer_scheme;
	uint8_t proposer_key[SIG_MAX_PUB];
	uint32_t tx_count;
	uint8_t tx_root[BSEC_HASH_BYTES];
	uint8_t sig_root[BSEC_HASH_BYTES];   /* version >= 2 */
	uint8_t sig[SIG_MAX_SIG];
	uint8_t hash[BSEC_HASH_BYTES];       /* computed, not encoded */
} block_header_t;

typedef struct {
	uint16_t node;
	uint16_t sig_len;
	uint8_t sig[SIG_MAX_SIG];
} cert_sig_t;

typedef struct {
	uint64_t view;
	uint16_t n;
	cert_sig_t *sigs;        /* owned */
} cert_t;

typedef struct {
	block_header_t hdr;
	tx_t *txs;               /* owned array of hdr.tx_count txs */
	uint8_t (*tx_ids)[BSEC_HASH_BYTES]; /* owned, ids in order */
} block_t;

struct genesis_t;

/* Header: unsigned bytes (for hashing/signing), and the signed form. */
void block_header_encode_unsigned(buf_t *out, const block_header_t *h);
void block_header_encode(buf_t *out, const block_header_t *h);
/* Decodes a signed header from r (no trailing-bytes check; the caller
 * decides), computing h->hash. */
int block_header_read(rd_t *r, block_header_t *h);
/* Fills in hash, tx_root/sig_root/tx_count from txs and signs with key,
 * as a version BLOCK_VERSION header; block_seal_version writes an older
 * one (tests of what old chains hold). */
int block_seal(block_t *b, const sig_key_t *key) WUR;
int block_seal_version(block_t *b, const sig_key_t *key, int version) WUR;
int block_header_verify_sig(const block_header_t *h) WUR;
void block_header_hash(const block_header_t *h, uint8_t out[BSEC_HASH_BYTES]);

/* The at-rest form of a header (store.c): the signed encoding without
 * the chain_id, and without the proposer's key when it is g's node key
 * for that index.  Both belong to the genesis, and on a 1-tx Ed25519 block
 * they are 64 of its ~650 bytes (DESIGN §2 keeps the chain_id out of
 * stored txs the same way).  The first byte says what was left out
 * (0x80 | 0x40 when the key too | version), which no signed encoding
 * starts with.  block_header_expand_stored puts them back, from chain_id
 * and g (NULL: only a stored form that kept its key expands); a signed
 * encoding passes through as it is, so a ledger may hold both. */
void block_header_encode_stored(buf_t *out, const block_header_t *h, const struct genesis_t *g);
int block_header_expand_stored(buf_t *out, const uint8_t *p, size_t len,
			       const uint8_t chain_id[BSEC_HASH_BYTES], const struct genesis_t *g,
			       char *err, size_t errlen) WUR;

/* The short at-rest form (store schema 5), for a row that keeps the
 * block's height, timestamp and tx count in columns of its own and its txs
 * beside it.  It leaves out, besides the chain_id and the genesis's key,
 * what the row already holds or the txs give again: height, timestamp and
 * tx_count (the row's columns), and tx_root and sig_root when the block
 * has at most BLOCK_ROOTS_DERIVED_MAX txs (recomputed from the txs on
 * read: a few hashes for a small block, where 64 bytes are a tenth of
 * the row; a big block keeps them and is read without hashing).  Of each
 * derived root the first BLOCK_ROOT_HINT_BYTES stay, so that a tx altered
 * at rest is told apart from an altered header (block_row_t.roots_altered)
 * instead of showing only as a proposer signature that fails.  The view
 * is a variable-length integer.  The first byte is ST_NO_CHAIN | ST_SHORT,
 * | ST_NO_KEY, | ST_NO_ROOTS, | version; then prev_hash, uvar view, u16
 * proposer, u8 scheme, [key], tx_root [, sig_root] (whole, or their
 * hints), signature.  On a 1-tx Ed25519 block: 109 bytes instead of 192.
 *
 * A row of this form stores its certificate short as well (cert_encode_
 * stored): the header's first byte says so for both. */
#define BLOCK_ROOTS_DERIVED_MAX 64
#define BLOCK_ROOT_HINT_BYTES 4

enum { ROOTS_TX_ALTERED = 1, ROOTS_SIG_ALTERED = 2 };

typedef struct {
	uint64_t height, timestamp_ms;
	uint32_t tx_count;
	int have_roots;                      /* tx_root / sig_root below are set */
	uint8_t tx_root[BSEC_HASH_BYTES], sig_root[BSEC_HASH_BYTES];
	int roots_altered;                   /* out: ROOTS_*_ALTERED when the given
					      * roots do not start as the stored
					      * hints (the txs changed at rest) */
	int columns_differ;                  /* out: a form that holds the
					      * timestamp and tx_count itself
					      * holds others than the row's
					      * columns (changed at rest: readers
					      * of the columns would be misled) */
} block_row_t;

void block_header_encode_short(buf_t *out, const block_header_t *h, const struct genesis_t *g);
/* 1 when p is a short form (its certificate is short too), else 0. */
int block_stored_is_short(const uint8_t *p, size_t len);
/* 1 when p is a short form without its roots: block_header_expand_row then
 * needs them in row (block_roots_of_raw). */
int block_stored_needs_roots(const uint8_t *p, size_t len);
/* Expands any at-rest form into the signed encoding, like
 * block_header_expand_stored; a short form takes what it left out from
 * row (NULL: a short form is an error). */
int block_header_expand_row(buf_t *out, const uint8_t *p, size_t len,
			    const uint8_t chain_id[BSEC_HASH_BYTES], const struct genesis_t *g,
			    block_row_t *row, char *err, size_t errlen) WUR;
/* tx_root and sig_root of n signed txs given as their encodings (a
 * version 1 header has no sig_root: it is left unused).  -1 when a tx is
 * too short to have a sender and a signature. */
int block_roots_of_raw(const uint8_t chain_id[BSEC_HASH_BYTES], size_t n,
		       const uint8_t *const *raw, const size_t *len, uint8_t tx_root[BSEC_HASH_BYTES],
		       uint8_t sig_root[BSEC_HASH_BYTES]) WUR;
/* The same, handing over the n tx ids (malloc'd, *ids NULL on failure). */
int block_roots_ids_of_raw(const uint8_t chain_id[BSEC_HASH_BYTES], size_t n,
			   const uint8_t *const *raw, const size_t *len, uint8_t tx_root[BSEC_HASH_BYTES],
			   uint8_t sig_root[BSEC_HASH_BYTES], uint8_t (**ids)[BSEC_HASH_BYTES]) WUR;

/* The same for n txs read from r as a block body holds them (u32 length
 * || signed tx, each); -1 also when r runs short.  r is left after them. */
int block_roots_of_body(const uint8_t chain_id[BSEC_HASH_BYTES], rd_t *r, uint32_t n,
			uint8_t tx_root[BSEC_HASH_BYTES], uint8_t sig_root[BSEC_HASH_BYTES]) WUR;

/* With r just past header h in a block's encoding: 0 when the rest is
 * exactly h->tx_count length-prefixed txs that give h's tx_root (and
 * sig_root), so the bytes are the block h's hash commits to; -1 when not.
 * Hashes every tx; decodes none. */
int block_body_matches(const block_header_t *h, rd_t *r, const uint8_t chain_id[BSEC_HASH_BYTES]) WUR;
/* The same, handing over the tx ids it hashed (malloc'd; NULL on -1), so
 * that decoding the block later need not hash them again. */
int block_body_matches_ids(const block_header_t *h, rd_t *r, const uint8_t chain_id[BSEC_HASH_BYTES],
			   uint8_t (**ids)[BSEC_HASH_BYTES]) WUR;

/* Whole block (header + txs). */
void block_encode(buf_t *out, const block_t *b);
int block_decode(block_t *out, const uint8_t *data, size_t len, char *err, size_t errlen) WUR;
/* The same with its tx ids known (from block_body_matches_ids over these
 * bytes; n must be the header's tx_count, else -1): nothing is hashed but
 * the header. */
int block_decode_with_ids(block_t *out, const uint8_t *data, size_t len,
			  const uint8_t (*ids)[BSEC_HASH_BYTES], size_t n, char *err, size_t errlen) WUR;
void block_clear(block_t *b);
/* Recomputes the Merkle root of the txs and compares it to the header's. */
int block_check_root(const block_t *b) WUR;
/* The same for sig_root (0 for a version 1 header, which has none). */
int block_check_sig_root(const block_t *b) WUR;
/* 1 when the header commits to the txs' signatures (version >= 2): a
 * certified block whose roots check needs no signature checks. */
int block_commits_sigs(const block_header_t *h);

void cert_encode(buf_t *out, const cert_t *c);
/* The short at-rest form of a certificate (beside a short header): uvar
 * view, uvar count, then per signature uvar (node index - previous index
 * - 1; the first: the index), uvar length, signature.  14 bytes fewer for
 * three Ed25519 signatures.  cert_expand_stored writes the encoding
 * cert_decode reads, or fails with the reason. */
void cert_encode_stored(buf_t *out, const cert_t *c);
int cert_expand_stored(buf_t *out, const uint8_t *p, size_t len, char *err, size_t errlen) WUR;
int cert_decode(cert_t *out, const uint8_t *data, size_t len, char *err, size_t errlen) WUR;
void cert_clear(cert_t *c);
/* Bytes a commit vote signs (caller frees). */
uint8_t *commit_signed_bytes(const uint8_t chain_id[BSEC_HASH_BYTES], uint64_t view,
			     uint64_t height, const uint8_t hash[BSEC_HASH_BYTES], size_t *len);

/* Checks a certificate for block (height, hash) against the genesis: at
 * least genesis_quorum distinct valid member signatures.  0 or -1 with
 * the reason in err. */
int cert_verify(const cert_t *c, const struct genesis_t *g, uint64_t height,
		const uint8_t hash[BSEC_HASH_BYTES], char *err, size_t errlen) WUR;

struct json_t;
struct json_t *block_header_to_json(const block_header_t *h);
struct json_t *cert_to_json(const cert_t *c);

#endif
