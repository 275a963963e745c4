/*
 * ed25519v.h — Ed25519 signature verification, one at a time or many at
 * once (batch verification), with one acceptance rule for both.
 *
 * libsodium verifies one signature at a time; it has no batch verifier.
 * A batch of n signatures checks one random linear combination of their
 * equations with a single multi-scalar multiplication, which costs a
 * fraction of n separate checks (see docs/benchmarks-notes.md for the
 * figures on this machine).
 *
 * The rule (both functions): libsodium's strict encoding checks — S < L,
 * A and R canonical encodings of curve points, neither of small order —
 * and then the cofactored equation of RFC 8032 §5.1.7,
 *     [8][S]B = [8]R + [8][k]A,   k = SHA-512(R || A || M) mod L.
 * RFC 8032 allows checking [S]B = R + [k]A instead (libsodium does); the
 * two differ only for a signature whose R carries a small-order component,
 * which only the key's holder can make.  A random-combination batch check
 * cannot reproduce the cofactorless rule for such a signature (it would
 * pass or fail at random), so BSec uses the cofactored rule everywhere and
 * every replica, single or batched, reaches the same verdict.  Every
 * signature libsodium accepts is accepted.
 *
 * All inputs are public: nothing here runs in constant time.
 * Thread-safe.
 */
#ifndef BSEC_ED25519V_H
#define BSEC_ED25519V_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	const uint8_t *pub;   /* 32 bytes */
	const uint8_t *sig;   /* 64 bytes: R || S */
	const uint8_t *msg;
	size_t len;
} ed25519v_item_t;

/* 0 when the signature satisfies the rule above, -1 otherwise. */
int ed25519v_verify(const uint8_t pub[32], const uint8_t sig[64], const uint8_t *msg, size_t len);

/* 0 when every one of the n signatures satisfies the rule (a batch with an
 * invalid signature passes with probability below 2^-120), -1 when at
 * least one does not (the caller then checks them one by one to find
 * which).  n = 0 returns 0. */
int ed25519v_verify_batch(const ed25519v_item_t *items, size_t n);

/* Internals, for the unit tests: 1 when the 32-byte encoding decodes
 * (canonically) to a curve point of order 1, 2, 4 or 8, 0 when it decodes
 * to another point, -1 when it does not decode, -2 when the list of
 * small-order encodings the checks use disagrees with [8]P = O. */
int ed25519v_point_is_small_order(const uint8_t p[32]);

#endif
