/*
 * follow.h — turning what the node API serves of a committed block (the
 * raw page of GET /v1/blocks/raw, which the orchestrators and the portal
 * read, or the JSON of GET /v1/blocks?from=H&txs=1: height, header,
 * certificate, txs with raw_hex) back into a block_t, and checking it so
 * that a lying or broken node cannot make a follower act on a block the
 * consortium never committed:
 *
 *   - the header belongs to this chain, has the expected height and
 *     links to the previous block's hash (height 1 to the chain id);
 *   - the proposer is a member and its node key signed the header;
 *   - every tx decodes from its raw bytes, and the Merkle root of their
 *     ids is the header's tx_root (the ids cover the txs' content, which
 *     is all the orchestrator acts on);
 *   - the commit certificate carries a quorum of member signatures over
 *     (chain id, view, height, block hash) — cert_verify.
 *
 * And the list of node APIs a follower (the orchestrator, the portal)
 * reads the chain from: the config's, or every provider's from the
 * genesis.
 */
#ifndef BSEC_ORCH_FOLLOW_H
#define BSEC_ORCH_FOLLOW_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/block.h"
#include "../ledger/genesis.h"
#include "../lib/buf.h"
#include "../lib/nodeapi.h"

struct json_t;

/* Parses block JSON bj and checks it as above against genesis g, the
 * expected height and the previous block's hash (the chain id for height
 * 1).  0 with *out filled (block_clear it), or -1 with the reason in err
 * (*out is then cleared). */
int follow_block_parse(block_t *out, const struct json_t *bj, const genesis_t *g, uint64_t height,
		       const uint8_t prev_hash[BSEC_HASH_BYTES], char *err, size_t errlen) WUR;

/* The same checks on a page of GET /v1/blocks/raw (the form followers
 * read: JSON costs the node far more to write than the page's copy of
 * its stored bytes): RAW_BLOCKS_MAGIC, the node's height (u64), then per
 * block its height (u64), the block's and the certificate's bytes
 * (u32-length blobs).  follow_page_open: 0, or -1 with err when body is
 * not such a page (body must outlive pg).  follow_page_next: 1 with the
 * next block in *out (block_clear it) once it checks at the expected
 * height after prev_hash, 0 at the end of the page, -1 with the reason in
 * err. */
typedef struct {
	rd_t rd;
	uint64_t tip;      /* the node's height when it answered */
} follow_page_t;
int follow_page_open(follow_page_t *pg, const uint8_t *body, size_t len, char *err, size_t errlen) WUR;
int follow_page_next(follow_page_t *pg, block_t *out, const genesis_t *g, uint64_t height,
		     const uint8_t prev_hash[BSEC_HASH_BYTES], char *err, size_t errlen) WUR;

/* Appends the nodes to follow to *v (of *n): the n_urls URLs of the
 * config file cfg_path (trusted through ca, or else through the
 * certificate g pins for the provider whose API a URL is), or, when urls
 * is NULL, every provider's https:// API that can be trusted, starting
 * with provider first.  ca and g must outlive the list.  0, or -1 with
 * the reason in err (a config URL no pin applies to without ca, or no
 * provider to follow). */
int follow_nodes_setup(nodeapi_t **v, size_t *n, const genesis_t *g, char *const *urls, size_t n_urls,
		       const char *ca, size_t first, const char *cfg_path, char *err, size_t errlen) WUR;

#endif
