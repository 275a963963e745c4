/*
 * merkle.c — RFC 6962 Merkle tree hash and audit paths (see merkle.h).
 *
 * The root is computed bottom-up in place on a scratch copy of the leaf
 * hashes: at each level an odd last node is promoted unchanged, which is
 * exactly RFC 6962's left-heavy split (largest power of two < n).
 */
#include "merkle.h"

#include <stdlib.h>
#include <string.h>

static void leaf_hash(uint8_t out[BSEC_HASH_BYTES], const uint8_t d[BSEC_HASH_BYTES])
{
	uint8_t in[1 + BSEC_HASH_BYTES];
	in[0] = 0x00;
	memcpy(in + 1, d, BSEC_HASH_BYTES);
	hash_sha256(out, in, sizeof(in));
}

static void node_hash(uint8_t out[BSEC_HASH_BYTES], const uint8_t l[BSEC_HASH_BYTES],
		      const uint8_t r[BSEC_HASH_BYTES])
{
	uint8_t in[1 + 2 * BSEC_HASH_BYTES];
	in[0] = 0x01;
	memcpy(in + 1, l, BSEC_HASH_BYTES);
	memcpy(in + 1 + BSEC_HASH_BYTES, r, BSEC_HASH_BYTES);
	hash_sha256(out, in, sizeof(in));
}

void merkle_root(uint8_t root[BSEC_HASH_BYTES], const uint8_t (*leaves)[BSEC_HASH_BYTES], size_t n)
{
	if (n == 0) {
		hash_sha256(root, "", 0);
		return;
	}
	uint8_t (*lv)[BSEC_HASH_BYTES] = xmalloc(n * BSEC_HASH_BYTES);
	for (size_t i = 0; i < n; i++)
		leaf_hash(lv[i], leaves[i]);
	while (n > 1) {
		size_t m = 0;
		for (size_t i = 0; i + 1 < n; i += 2)
			node_hash(lv[m++], lv[i], lv[i + 1]);
		if (n & 1)
			memmove(lv[m++], lv[n - 1], BSEC_HASH_BYTES);
		n = m;
	}
	memcpy(root, lv[0], BSEC_HASH_BYTES);
	free(lv);
}

/* Recursive RFC 6962 PATH(m, D[n]) over leaf hashes lv[0..n). */
static void subtree_root(uint8_t out[BSEC_HASH_BYTES], uint8_t (*lv)[BSEC_HASH_BYTES], size_t n)
{
	if (n == 1) {
		memcpy(out, lv[0], BSEC_HASH_BYTES);
		return;
	}
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	uint8_t l[BSEC_HASH_BYTES], r[BSEC_HASH_BYTES];
	subtree_root(l, lv, k);
	subtree_root(r, lv + k, n - k);
	node_hash(out, l, r);
}

static void path(uint8_t (*out)[BSEC_HASH_BYTES], size_t *plen, uint8_t (*lv)[BSEC_HASH_BYTES],
		 size_t n, size_t m)
{
	if (n <= 1)
		return;
	size_t k = 1;
	while (k * 2 < n)
		k *= 2;
	if (m < k) {
		path(out, plen, lv, k, m);
		subtree_root(out[(*plen)++], lv + k, n - k);
	} else {
		path(out, plen, lv + k, n - k, m - k);
		subtree_root(out[(*plen)++], lv, k);
	}
}

int merkle_proof(uint8_t (*out)[BSEC_HASH_BYTES], size_t *plen,
		 const uint8_t (*leaves)[BSEC_HASH_BYTES], size_t n, size_t index)
{
	if (index >= n)
		return -1;
	uint8_t (*lv)[BSEC_HASH_BYTES] = xmalloc(n * BSEC_HASH_BYTES);
	for (size_t i = 0; i < n; i++)
		leaf_hash(lv[i], leaves[i]);
	*plen = 0;
	path(out, plen, lv, n, index);
	free(lv);
	return 0;
}

/* RFC 9162 §2.1.3.2 verification algorithm. */
int merkle_verify(const uint8_t root[BSEC_HASH_BYTES], const uint8_t leaf[BSEC_HASH_BYTES],
		  size_t index, size_t n, const uint8_t (*p)[BSEC_HASH_BYTES], size_t plen)
{
	if (index >= n || plen > MERKLE_MAX_PATH)
		return -1;
	size_t fn = index, sn = n - 1;
	uint8_t r[BSEC_HASH_BYTES];
	leaf_hash(r, leaf);
	for (size_t i = 0; i < plen; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			node_hash(r, p[i], r);
			if (!(fn & 1))
				while (fn && !(fn & 1)) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			node_hash(r, r, p[i]);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return -1;
	return hash_eq(r, root, BSEC_HASH_BYTES) ? 0 : -1;
}
