/*
 * rsa52.c — eight RSA-PSS-2048 verifications side by side (rsa52.h).
 *
 * Why: at saturation an RSA-PSS check is the largest single cost of a
 * replica (one per tx), and OpenSSL's public-key path multiplies 64-bit
 * words one at a time.  Here the numbers are held in 40 limbs of 52 bits
 * and each 512-bit register carries the same limb of eight different
 * numbers, one per lane; VPMADD52LUQ / VPMADD52HUQ multiply eight pairs of
 * limbs and add the low / high 52 bits of each product in one instruction.
 * The lanes never talk to each other, so eight unrelated signatures (and
 * keys) are checked for about the price of two or three scalar ones.
 *
 * Arithmetic: Montgomery multiplication with R = 2^2080, operand scanning,
 * "almost" reduced — every product is < 2n when its inputs are, because
 * 4n < R, so no subtraction is needed between steps.  A lane's limbs
 * accumulate unnormalised sums (at most four 52-bit terms per step over 40
 * steps: < 2^60) and are carried once, at the end of each multiplication.
 * s^65537 is sixteen squarings and one multiplication in Montgomery form;
 * converting out of it (a multiplication by 1) leaves a value <= n, and
 * = n only when s^65537 = 0 mod n; n is odd, so that value fails the
 * encoding's last byte (0xbc) just as OpenSSL's 0 does.
 *
 * The EMSA-PSS check that follows (RFC 8017, 9.1.2) is plain C.
 */
#include "rsa52.h"
#include "hash.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>

#define NL RSA52_LIMBS
#define MASK52 ((UINT64_C(1) << 52) - 1)
#define EM_HLEN 32
#define EM_SLEN 32
#define EM_DBLEN (RSA52_BYTES - EM_HLEN - 1)   /* 223: maskedDB */

/* ---- limbs <-> bytes ---------------------------------------------------- */

/* 256 big-endian bytes as 32 little-endian 64-bit words (and a zero). */
static void be_to_words(uint64_t w[RSA52_BYTES / 8 + 1], const uint8_t be[RSA52_BYTES])
{
	for (size_t i = 0; i < RSA52_BYTES / 8; i++) {
		const uint8_t *p = be + RSA52_BYTES - 8 * (i + 1);
		uint64_t v = 0;
		for (size_t b = 0; b < 8; b++)
			v = v << 8 | p[b];
		w[i] = v;
	}
	w[RSA52_BYTES / 8] = 0;
}

static void be_to_limbs(uint64_t out[NL], const uint8_t be[RSA52_BYTES])
{
	uint64_t w[RSA52_BYTES / 8 + 1];
	be_to_words(w, be);
	for (size_t j = 0; j < NL; j++) {
		size_t bit = 52 * j, i = bit / 64, o = bit % 64;
		uint64_t v = w[i] >> o;
		if (o > 12)
			v |= w[i + 1] << (64 - o);
		out[j] = v & MASK52;
	}
}

/* ---- keys --------------------------------------------------------------- */

int rsa52_key_init(rsa52_key_t *k, const uint8_t n[RSA52_BYTES])
{
	int ret = -1;
	BN_CTX *ctx = NULL;
	BIGNUM *bn = NULL, *rr = NULL;
	uint8_t rrbe[RSA52_BYTES];

	if (!(n[0] & 0x80) || !(n[RSA52_BYTES - 1] & 1))
		return -1;
	memset(k, 0, sizeof(*k));
	memcpy(k->nbe, n, RSA52_BYTES);
	be_to_limbs(k->n, n);

	/* -n^-1 mod 2^52 by Newton's iteration: each step doubles the
	 * number of correct low bits (n odd: n * n = 1 mod 8 to start) */
	uint64_t n0 = k->n[0], inv = n0;
	for (int i = 0; i < 6; i++)
		inv *= 2 - n0 * inv;
	k->k0 = (0 - inv) & MASK52;

	/* R^2 mod n = 2^4160 mod n, once per key */
	ctx = BN_CTX_new();
	bn = BN_bin2bn(n, RSA52_BYTES, NULL);
	rr = BN_new();
	if (!ctx || !bn || !rr || BN_set_bit(rr, 2 * 52 * NL) != 1 || BN_mod(rr, rr, bn, ctx) != 1 ||
	    BN_bn2binpad(rr, rrbe, RSA52_BYTES) != RSA52_BYTES)
		goto out;
	be_to_limbs(k->rr, rrbe);
	ret = 0;
out:
	BN_free(rr);
	BN_free(bn);
	BN_CTX_free(ctx);
	return ret;
}

#if defined(__x86_64__) && defined(__GNUC__)   /* the rest: x86-64 only */
#include <immintrin.h>

/* Normalised limbs to 256 big-endian bytes; -1 when the value does not
 * fit in 2048 bits. */
static int limbs_to_be(uint8_t be[RSA52_BYTES], const uint64_t in[NL])
{
	uint64_t w[RSA52_BYTES / 8 + 1] = { 0 };
	for (size_t j = 0; j < NL; j++) {
		size_t bit = 52 * j, i = bit / 64, o = bit % 64;
		w[i] |= in[j] << o;
		if (o > 12)
			w[i + 1] |= in[j] >> (64 - o);
	}
	if (w[RSA52_BYTES / 8])
		return -1;
	for (size_t i = 0; i < RSA52_BYTES / 8; i++) {
		uint8_t *p = be + RSA52_BYTES - 8 * (i + 1);
		for (size_t b = 0; b < 8; b++)
			p[b] = (uint8_t)(w[i] >> (56 - 8 * b));
	}
	return 0;
}

/* ---- EMSA-PSS-VERIFY (RFC 8017, 9.1.2), emBits = 2047 ------------------ */

static int pss_check(const uint8_t em[RSA52_BYTES], const uint8_t mhash[EM_HLEN])
{
	uint8_t db[EM_DBLEN + 1], seed[EM_HLEN + 4], mp[8 + EM_HLEN + EM_SLEN], h2[EM_HLEN];
	const uint8_t *h = em + EM_DBLEN;

	/* trailer 0xbc; the one bit above emBits must be clear */
	if (em[RSA52_BYTES - 1] != 0xbc || (em[0] & 0x80))
		return -1;
	/* dbMask = MGF1-SHA-256(H, 223) */
	memcpy(seed, h, EM_HLEN);
	for (uint32_t c = 0; c * EM_HLEN < EM_DBLEN; c++) {
		seed[EM_HLEN] = (uint8_t)(c >> 24);
		seed[EM_HLEN + 1] = (uint8_t)(c >> 16);
		seed[EM_HLEN + 2] = (uint8_t)(c >> 8);
		seed[EM_HLEN + 3] = (uint8_t)c;
		hash_sha256(db + c * EM_HLEN, seed, sizeof(seed));
	}
	for (size_t i = 0; i < EM_DBLEN; i++)
		db[i] ^= em[i];
	db[0] &= 0x7f;
	/* DB = PS (zeros) || 0x01 || salt */
	for (size_t i = 0; i < EM_DBLEN - EM_SLEN - 1; i++)
		if (db[i])
			return -1;
	if (db[EM_DBLEN - EM_SLEN - 1] != 0x01)
		return -1;
	/* H = SHA-256(0^8 || mHash || salt) */
	memset(mp, 0, 8);
	memcpy(mp + 8, mhash, EM_HLEN);
	memcpy(mp + 8 + EM_HLEN, db + EM_DBLEN - EM_SLEN, EM_SLEN);
	hash_sha256(h2, mp, sizeof(mp));
	return memcmp(h2, h, EM_HLEN) == 0 ? 0 : -1;
}

/* ---- the vector code ----------------------------------------------------- */

#define TARGET __attribute__((target("avx512f,avx512ifma")))
typedef __m512i v8_t;

/* r = t with every limb carried into the next: normalised 52-bit limbs. */
TARGET static void carry_out(v8_t r[NL], const v8_t t[NL])
{
	const v8_t mask = _mm512_set1_epi64((long long)MASK52);
	v8_t carry = _mm512_setzero_si512();
	for (size_t j = 0; j < NL; j++) {
		v8_t x = _mm512_add_epi64(t[j], carry);
		carry = _mm512_srli_epi64(x, 52);
		r[j] = _mm512_and_si512(x, mask);
	}
}

/* r = a * b / R mod n, < 2n (a, b < 2n, normalised).  r may alias a or b. */
TARGET static void amm(v8_t r[NL], const v8_t a[NL], const v8_t b[NL], const v8_t m[NL], v8_t k0)
{
	const v8_t z = _mm512_setzero_si512();
	v8_t t[NL];
	for (size_t j = 0; j < NL; j++)
		t[j] = z;
	for (size_t i = 0; i < NL; i++) {
		v8_t ai = a[i];
		v8_t t0 = _mm512_madd52lo_epu64(t[0], ai, b[0]);
		v8_t q = _mm512_madd52lo_epu64(z, t0, k0);   /* low 52 bits of t0 * k0 */
		t0 = _mm512_madd52lo_epu64(t0, q, m[0]);     /* = 0 mod 2^52 */
		v8_t c = _mm512_srli_epi64(t0, 52);
		/* add a_i * b + q * n and move down one limb (divide by 2^52):
		 * the low halves of limb j's products land in limb j - 1, the
		 * high halves of limb j - 1's too */
#pragma GCC unroll 40
		for (size_t j = 1; j < NL; j++) {
			v8_t x = _mm512_madd52lo_epu64(t[j], ai, b[j]);
			x = _mm512_madd52lo_epu64(x, q, m[j]);
			x = _mm512_madd52hi_epu64(x, ai, b[j - 1]);
			t[j - 1] = _mm512_madd52hi_epu64(x, q, m[j - 1]);
		}
		t[NL - 1] = _mm512_madd52hi_epu64(_mm512_madd52hi_epu64(z, ai, b[NL - 1]), q, m[NL - 1]);
		t[0] = _mm512_add_epi64(t[0], c);
	}
	carry_out(r, t);
}

/* y = s^65537 mod n (<= n), lane by lane. */
TARGET static void pow65537(v8_t y[NL], const v8_t s[NL], const v8_t rr[NL], const v8_t m[NL], v8_t k0)
{
	v8_t x[NL], one[NL];
	amm(x, s, rr, m, k0);                   /* s R */
	amm(y, x, x, m, k0);                    /* s^2 R */
	for (int i = 1; i < 16; i++)
		amm(y, y, y, m, k0);            /* s^65536 R */
	amm(y, y, x, m, k0);                    /* s^65537 R */
	one[0] = _mm512_set1_epi64(1);
	for (size_t j = 1; j < NL; j++)
		one[j] = _mm512_setzero_si512();
	amm(y, y, one, m, k0);                  /* s^65537 */
}

/* Lane-major scratch: limb j of lane l at [j][l]. */
typedef struct {
	uint64_t v[NL][RSA52_LANES] __attribute__((aligned(64)));
} lanes_t;

TARGET static void run_lanes(lanes_t *y, const lanes_t *s, const lanes_t *rr, const lanes_t *n,
			     const uint64_t k0[RSA52_LANES])
{
	v8_t vs[NL], vrr[NL], vn[NL], vy[NL];
	for (size_t j = 0; j < NL; j++) {
		vs[j] = _mm512_load_si512(s->v[j]);
		vrr[j] = _mm512_load_si512(rr->v[j]);
		vn[j] = _mm512_load_si512(n->v[j]);
	}
	pow65537(vy, vs, vrr, vn, _mm512_loadu_si512(k0));
	for (size_t j = 0; j < NL; j++)
		_mm512_store_si512(y->v[j], vy[j]);
}

static int detect(void)
{
	const char *e = getenv("BSEC_RSA52");
	if (e && strcmp(e, "0") == 0)
		return 0;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
}

int rsa52_available(void)
{
	static int avail = -1;   /* a benign race: every thread computes the same */
	int a = __atomic_load_n(&avail, __ATOMIC_RELAXED);
	if (a < 0) {
		a = detect();
		__atomic_store_n(&avail, a, __ATOMIC_RELAXED);
	}
	return a;
}

void rsa52_verify(const rsa52_key_t *const *keys, const uint8_t *const *sigs,
		  const uint8_t (*mhash)[32], size_t cnt, uint8_t *ok)
{
	lanes_t sc[4];   /* 10 KiB */
	lanes_t *s = &sc[0], *rr = &sc[1], *n = &sc[2], *y = &sc[3];
	uint64_t k0[RSA52_LANES], limbs[NL];
	uint8_t live[RSA52_LANES] = { 0 };

	if (!cnt)
		return;
	if (cnt > RSA52_LANES)
		cnt = RSA52_LANES;
	for (size_t l = 0; l < RSA52_LANES; l++) {
		/* a lane without work repeats lane 0's, whose result is ignored */
		size_t from = l < cnt ? l : 0;
		const rsa52_key_t *k = keys[from];
		if (l < cnt)
			ok[l] = 0;
		/* RSAVP1: the signature, as a number, must be below n */
		live[l] = l < cnt && memcmp(sigs[from], k->nbe, RSA52_BYTES) < 0;
		be_to_limbs(limbs, sigs[from]);
		for (size_t j = 0; j < NL; j++) {
			s->v[j][l] = limbs[j];
			rr->v[j][l] = k->rr[j];
			n->v[j][l] = k->n[j];
		}
		k0[l] = k->k0;
	}
	run_lanes(y, s, rr, n, k0);
	for (size_t l = 0; l < cnt; l++) {
		uint8_t em[RSA52_BYTES];
		if (!live[l])
			continue;
		for (size_t j = 0; j < NL; j++)
			limbs[j] = y->v[j][l];
		if (limbs_to_be(em, limbs) != 0)
			continue;
		ok[l] = pss_check(em, mhash[l]) == 0;
	}
}

#else   /* no x86-64: never available */

int rsa52_available(void)
{
	return 0;
}

void rsa52_verify(const rsa52_key_t *const *keys, const uint8_t *const *sigs,
		  const uint8_t (*mhash)[32], size_t cnt, uint8_t *ok)
{
	(void)keys;
	(void)sigs;
	(void)mhash;
	memset(ok, 0, cnt);
}

#endif
