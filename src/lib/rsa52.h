/*
 * rsa52.h — RSA-PSS-2048 verification of up to eight signatures at once
 * with the CPU's AVX-512 IFMA instructions (52-bit multiply-add), for the
 * node's batches of tenant signatures.
 *
 * The scheme is BSec's only RSA one (sig.h): a 2048-bit modulus, public
 * exponent 65537, EMSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
 * Each lane runs the same public-key operation on its own signature and
 * key; keys may differ from lane to lane.  Verification handles public
 * data only, so nothing here needs to run in constant time.
 *
 * Everything here is a pure function of its inputs; thread-safe.  The
 * answers are those of OpenSSL's EVP_PKEY_verify for the same scheme, a
 * property the unit tests check on valid, forged and malformed inputs.
 */
#ifndef BSEC_RSA52_H
#define BSEC_RSA52_H

#include <stddef.h>
#include <stdint.h>

#define RSA52_BYTES 256      /* modulus and signature size */
#define RSA52_LIMBS 40       /* 52-bit limbs: 2080 bits */
#define RSA52_LANES 8

/* A public key made ready for the vector code: the modulus in 52-bit
 * limbs, R^2 mod n (R = 2^2080) and -n^-1 mod 2^52. */
typedef struct {
	uint64_t n[RSA52_LIMBS];
	uint64_t rr[RSA52_LIMBS];
	uint64_t k0;
	uint8_t nbe[RSA52_BYTES];   /* the modulus, big-endian */
} rsa52_key_t;

/* 1 when this CPU (and OS) runs AVX-512 IFMA and BSEC_RSA52 is not set to
 * 0 in the environment; decided once per process. */
int rsa52_available(void);

/* Prepares a key from a 256-byte big-endian modulus (e = 65537).  -1 when
 * the modulus is not a 2048-bit odd number (which sig.c refuses too). */
int rsa52_key_init(rsa52_key_t *k, const uint8_t n[RSA52_BYTES]) __attribute__((warn_unused_result));

/* Verifies cnt (1..RSA52_LANES) signatures: ok[i] = 1 when sigs[i] is a
 * valid RSA-PSS signature by keys[i] of the message whose SHA-256 is
 * mhash[i], else 0.  Only when rsa52_available(). */
void rsa52_verify(const rsa52_key_t *const *keys, const uint8_t *const *sigs,
		  const uint8_t (*mhash)[32], size_t cnt, uint8_t *ok);

#endif
