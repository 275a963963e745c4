/*
 * sig.h — the three signature schemes behind one small interface.
 *
 *   ed25519       libsodium; public key 32 raw bytes, signature 64 bytes.
 *   ecdsa-p256    OpenSSL 3; public key 33 bytes (SEC1 compressed point),
 *                 signature 64 bytes r||s (IEEE P1363, as WebCrypto),
 *                 message hashed with SHA-256.
 *   rsa-pss-2048  OpenSSL 3; public key = the 256-byte big-endian modulus
 *                 (exponent fixed at 65537), signature 256 bytes,
 *                 RSASSA-PSS with SHA-256, MGF1-SHA-256, salt length 32.
 *
 * Public key and signature lengths are fixed by the scheme, so the
 * canonical encodings carry only the scheme byte, never a length.
 *
 * Keys on disk are PEM: PKCS#8 for private keys, SubjectPublicKeyInfo for
 * public ones, readable by `openssl pkey`.  Private key files are written
 * 0600 and refused when group- or world-readable.
 *
 * sig_verify is thread-safe and may be called from worker threads; a
 * sig_key_t may be used for signing from one thread at a time.
 */
#ifndef BSEC_SIG_H
#define BSEC_SIG_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef enum {
	SIG_ED25519 = 1,
	SIG_ECDSA_P256 = 2,
	SIG_RSA_PSS_2048 = 3,
} sig_scheme_t;

#define SIG_MAX_PUB 256
#define SIG_MAX_SIG 256

typedef struct sig_key_t sig_key_t;

/* "ed25519", "ecdsa-p256", "rsa-pss-2048"; NULL for an unknown value. */
const char *sig_scheme_name(int scheme);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int sig_scheme_parse(const char *name, sig_scheme_t *out) WUR;
/* 1 when scheme is one of the above. */
int sig_scheme_valid(int scheme);
/* Fixed lengths of the raw public key and of a signature; 0 if unknown. */
size_t sig_pub_len(int scheme);
size_t sig_sig_len(int scheme);

/* Fresh private key. Never fails except on allocation (aborts); an
 * unknown scheme also aborts (a programming error, never external input). */
sig_key_t *sig_keygen(sig_scheme_t scheme);
/* Ed25519 key from a 32-byte RFC 8032 seed (the PKCS#8 private key), for
 * known-answer tests and deterministic fixtures.  Caller frees. */
sig_key_t *sig_key_from_ed25519_seed(const uint8_t seed[32]);
void sig_key_free(sig_key_t *k);           /* wipes secrets; NULL ok */

sig_scheme_t sig_key_scheme(const sig_key_t *k);
/* Raw public key (sig_pub_len bytes), owned by k. */
const uint8_t *sig_key_pub(const sig_key_t *k);

/* PEM I/O.  sig_key_save writes the private key as PKCS#8 PEM with mode
 * 0600 (atomically).  sig_key_load reads a PKCS#8 PEM private key and
 * refuses the file when its mode grants any group/other permission.
 * sig_key_from_pem parses a private key from memory (no mode check).
 * All return 0, or -1 with a reason in err. */
int sig_key_save(const sig_key_t *k, const char *path, char *err, size_t errlen) WUR;
int sig_key_load(sig_key_t **out, const char *path, char *err, size_t errlen) WUR;
int sig_key_from_pem(sig_key_t **out, const char *pem, size_t len, char *err, size_t errlen) WUR;
/* Private key as PKCS#8 PEM; caller frees (and should wipe). */
char *sig_key_to_pem(const sig_key_t *k);

/* Public keys: SPKI PEM <-> (scheme, raw). sig_pub_from_pem accepts a
 * PUBLIC KEY PEM (or a private key PEM, taking its public half), and
 * rejects keys of any other type, curve, size or exponent.
 * sig_pub_to_pem returns NULL when pub is not a valid key of the scheme;
 * ecdsa-p256 keys are written with an uncompressed point (WebCrypto reads
 * those); caller frees. */
char *sig_pub_to_pem(int scheme, const uint8_t *pub);
int sig_pub_from_pem(int *scheme, uint8_t pub[SIG_MAX_PUB], const char *pem, size_t len,
		     char *err, size_t errlen) WUR;
/* Public key from a file holding a PUBLIC KEY or PRIVATE KEY PEM. */
int sig_pub_load(int *scheme, uint8_t pub[SIG_MAX_PUB], const char *path, char *err, size_t errlen) WUR;

/* Signs msg; writes sig_sig_len(scheme) bytes into sig. Returns 0 / -1. */
int sig_sign(const sig_key_t *k, uint8_t *sig, const uint8_t *msg, size_t len) WUR;

/* Verifies a signature made by the raw public key.  Returns 0 when valid,
 * -1 otherwise (bad key encoding included).  Never crashes on any input. */
int sig_verify(int scheme, const uint8_t *pub, const uint8_t *sig,
	       const uint8_t *msg, size_t len) WUR;

/* Many signatures at once: bad[i] = 1 for each item that sig_verify would
 * refuse, 0 for the others; returns how many are bad.  Ed25519 items are
 * checked in batches (ed25519v.h: one multi-scalar multiplication per
 * batch, a fraction of the cost of one check each); a batch that fails is
 * split to find its bad items.  RSA-PSS items go eight at a time through
 * rsa52.h's vector lanes when the CPU has them (groups of four or more;
 * fewer are checked one by one).  Thread-safe. */
typedef struct {
	int scheme;
	const uint8_t *pub, *sig, *msg;
	size_t len;
} sig_item_t;
size_t sig_verify_many(const sig_item_t *items, size_t n, uint8_t *bad);

/* ecdsa-p256 and rsa-pss-2048 verification keeps, per thread, a cache of
 * the last 64 public keys turned into OpenSSL objects (parsing a key costs
 * more than a verification).  The cache of a thread is freed when it
 * exits; sig_verify_cache_flush frees the calling thread's now (tests,
 * leak checkers). */
void sig_verify_cache_flush(void);

/* Single-thread verification rate of scheme, in verifications per second:
 * signs one 256-byte message with a fresh key, then verifies it in a loop
 * for about `seconds` (the key stays cached, as for a busy sender).
 * Returns 0 for an unknown scheme or if a verification fails. */
double sig_bench_verify(int scheme, double seconds);

/* The same through sig_verify_many, 64 signatures (8 keys, 64 messages)
 * per call: Ed25519 batches, RSA-PSS in rsa52's vector lanes where the CPU
 * has them — the rate a node's verification of many txs runs at. */
double sig_bench_verify_many(int scheme, double seconds);

#endif
