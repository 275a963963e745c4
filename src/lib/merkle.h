/*
 * merkle.h — RFC 6962 Merkle tree hash over a list of 32-byte leaves
 * (BSec's tx ids): leaf = H(0x00 || d), node = H(0x01 || l || r), the
 * split point the largest power of two below n; the empty tree hashes to
 * SHA-256("").  Inclusion proofs are the RFC's audit paths.
 */
#ifndef BSEC_MERKLE_H
#define BSEC_MERKLE_H

#include <stddef.h>
#include <stdint.h>
#include "hash.h"
#include "util.h"

#define MERKLE_MAX_PATH 64

void merkle_root(uint8_t root[BSEC_HASH_BYTES], const uint8_t (*leaves)[BSEC_HASH_BYTES], size_t n);

/* Audit path for leaf index of n leaves; writes up to MERKLE_MAX_PATH
 * hashes into path and their count into *plen.  -1 if index >= n. */
int merkle_proof(uint8_t (*path)[BSEC_HASH_BYTES], size_t *plen,
		 const uint8_t (*leaves)[BSEC_HASH_BYTES], size_t n, size_t index) WUR;

/* 0 when leaf at index of a tree of size n with the given path hashes to root. */
int merkle_verify(const uint8_t root[BSEC_HASH_BYTES], const uint8_t leaf[BSEC_HASH_BYTES],
		  size_t index, size_t n, const uint8_t (*path)[BSEC_HASH_BYTES], size_t plen) WUR;

#endif
