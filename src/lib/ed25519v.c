/*
 * ed25519v.c — Ed25519 verification, single and batched (see ed25519v.h).
 *
 * Field GF(2^255 - 19): five 51-bit limbs, products in 128-bit integers.
 * Every function but fe_add leaves its result "reduced": each limb below
 * 2^52.  fe_add does not carry: a sum of at most three reduced elements
 * has limbs below 2^54, which fe_mul and fe_sq take without overflow (a
 * product of two limbs below 2^54 times 19, summed five times, stays below
 * 2^115, and the top carry times 19 below 2^64).  fe_sub subtracts only
 * reduced elements or sums of two (4p has limbs above 2^53).  Only
 * fe_tobytes produces the unique representative.
 *
 * Curve: -x^2 + y^2 = 1 + d x^2 y^2, points in extended coordinates
 * (X:Y:Z:T), x = X/Z, y = Y/Z, T = XY/Z (Hisil, Wong, Carter, Dawson,
 * "Twisted Edwards curves revisited", 2008: add-2008-hwcd-3 and
 * dbl-2008-hwcd with a = -1).  A point that is added many times is kept
 * "cached" as (Y+X, Y-X, 2Z, 2dT), which saves a multiplication per add.
 *
 * Scalars mod L use libsodium's crypto_core_ed25519_scalar_* functions,
 * SHA-512 libsodium's crypto_hash_sha512, randomness randombytes_buf.
 *
 * Batch check: with random 128-bit z_i, and k_i = H(R_i || A_i || M_i),
 *     [8]( [sum z_i S_i] B - sum [z_i k_i] A_i - sum [z_i] R_i ) = O,
 * one multi-scalar multiplication by interleaved windowed NAF (Straus):
 * all points share one chain of about 253 doublings, and each point costs
 * one addition per 6 bits of its scalar.  The z_i have 128 bits, so the
 * R_i terms cost half as much as a full scalar; the A terms of signatures
 * by the same key are merged into one (a tenant signs many requests).
 */
#include "ed25519v.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

__extension__ typedef unsigned __int128 u128;

#define M51 ((UINT64_C(1) << 51) - 1)

typedef struct {
	uint64_t v[5];
} fe;

/* ---- field ---- */

static uint64_t load64(const uint8_t *p)
{
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = (x << 8) | p[i];
	return x;
}

static void store64(uint8_t *p, uint64_t x)
{
	for (int i = 0; i < 8; i++, x >>= 8)
		p[i] = (uint8_t)x;
}

static void fe_set(fe *h, uint64_t small)
{
	memset(h, 0, sizeof(*h));
	h->v[0] = small;
}

/* Ignores bit 255 (the sign of x in a point encoding). */
static void fe_frombytes(fe *h, const uint8_t s[32])
{
	h->v[0] = load64(s) & M51;
	h->v[1] = (load64(s + 6) >> 3) & M51;
	h->v[2] = (load64(s + 12) >> 6) & M51;
	h->v[3] = (load64(s + 19) >> 1) & M51;
	h->v[4] = (load64(s + 24) >> 12) & M51;
}

static void fe_carry(fe *h)
{
	uint64_t c;
	for (int i = 0; i < 4; i++) {
		c = h->v[i] >> 51;
		h->v[i] &= M51;
		h->v[i + 1] += c;
	}
	c = h->v[4] >> 51;
	h->v[4] &= M51;
	h->v[0] += 19 * c;
}

/* The unique representative in [0, p), little-endian. */
static void fe_tobytes(uint8_t s[32], const fe *f)
{
	fe h = *f;
	fe_carry(&h);
	fe_carry(&h);   /* now h < 2^255 + 2^51 < 2p, limbs 1..4 below 2^51 */
	/* q = 1 iff h >= p, i.e. iff h + 19 >= 2^255 */
	uint64_t q = (h.v[0] + 19) >> 51;
	for (int i = 1; i < 5; i++)
		q = (h.v[i] + q) >> 51;
	h.v[0] += 19 * q;
	for (int i = 0; i < 4; i++) {
		h.v[i + 1] += h.v[i] >> 51;
		h.v[i] &= M51;
	}
	h.v[4] &= M51;   /* drops q * 2^255 */
	store64(s, h.v[0] | h.v[1] << 51);
	store64(s + 8, h.v[1] >> 13 | h.v[2] << 38);
	store64(s + 16, h.v[2] >> 26 | h.v[3] << 25);
	store64(s + 24, h.v[3] >> 39 | h.v[4] << 12);
}

/* No carry (see the top of the file for the bounds this relies on). */
static void fe_add(fe *h, const fe *f, const fe *g)
{
	for (int i = 0; i < 5; i++)
		h->v[i] = f->v[i] + g->v[i];
}

/* f - g + 4p: every limb of 4p exceeds 2^53 > any reduced limb. */
static void fe_sub(fe *h, const fe *f, const fe *g)
{
	h->v[0] = f->v[0] + UINT64_C(0x1fffffffffffb4) - g->v[0];
	for (int i = 1; i < 5; i++)
		h->v[i] = f->v[i] + UINT64_C(0x1ffffffffffffc) - g->v[i];
	fe_carry(h);
}

static void fe_neg(fe *h, const fe *f)
{
	fe z;
	fe_set(&z, 0);
	fe_sub(h, &z, f);
}

static inline __attribute__((always_inline)) void fe_reduce_wide(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
	uint64_t c;
	r1 += (uint64_t)(r0 >> 51);
	h->v[0] = (uint64_t)r0 & M51;
	r2 += (uint64_t)(r1 >> 51);
	h->v[1] = (uint64_t)r1 & M51;
	r3 += (uint64_t)(r2 >> 51);
	h->v[2] = (uint64_t)r2 & M51;
	r4 += (uint64_t)(r3 >> 51);
	h->v[3] = (uint64_t)r3 & M51;
	c = (uint64_t)(r4 >> 51);   /* < 2^62 / 19 for reduced inputs */
	h->v[4] = (uint64_t)r4 & M51;
	h->v[0] += 19 * c;
	c = h->v[0] >> 51;
	h->v[0] &= M51;
	h->v[1] += c;
}

static void fe_mul(fe *h, const fe *f, const fe *g)
{
	uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
	uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
	uint64_t g1s = 19 * g1, g2s = 19 * g2, g3s = 19 * g3, g4s = 19 * g4;
	u128 r0 = (u128)f0 * g0 + (u128)f1 * g4s + (u128)f2 * g3s + (u128)f3 * g2s + (u128)f4 * g1s;
	u128 r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4s + (u128)f3 * g3s + (u128)f4 * g2s;
	u128 r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4s + (u128)f4 * g3s;
	u128 r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4s;
	u128 r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
	fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

static void fe_sq(fe *h, const fe *f)
{
	uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
	uint64_t f0d = 2 * f0, f1d = 2 * f1, f3s = 19 * f3, f4s = 19 * f4;
	u128 r0 = (u128)f0 * f0 + (u128)f1d * f4s + (u128)(2 * f2) * f3s;
	u128 r1 = (u128)f0d * f1 + (u128)(2 * f2) * f4s + (u128)f3 * f3s;
	u128 r2 = (u128)f0d * f2 + (u128)f1 * f1 + (u128)(2 * f3) * f4s;
	u128 r3 = (u128)f0d * f3 + (u128)f1d * f2 + (u128)f4 * f4s;
	u128 r4 = (u128)f0d * f4 + (u128)f1d * f3 + (u128)f2 * f2;
	fe_reduce_wide(h, r0, r1, r2, r3, r4);
}

static void fe_sqn(fe *h, const fe *f, int n)
{
	fe_sq(h, f);
	while (--n > 0)
		fe_sq(h, h);
}

/* z^((p-5)/8) = z^(2^252 - 3) */
static void fe_pow22523(fe *out, const fe *z)
{
	fe t0, t1, t2;
	fe_sq(&t0, z);              /* 2 */
	fe_sqn(&t1, &t0, 2);        /* 8 */
	fe_mul(&t1, z, &t1);        /* 9 */
	fe_mul(&t0, &t0, &t1);      /* 11 */
	fe_sq(&t0, &t0);            /* 22 */
	fe_mul(&t0, &t1, &t0);      /* 31 = 2^5 - 1 */
	fe_sqn(&t1, &t0, 5);
	fe_mul(&t0, &t1, &t0);      /* 2^10 - 1 */
	fe_sqn(&t1, &t0, 10);
	fe_mul(&t1, &t1, &t0);      /* 2^20 - 1 */
	fe_sqn(&t2, &t1, 20);
	fe_mul(&t1, &t2, &t1);      /* 2^40 - 1 */
	fe_sqn(&t1, &t1, 10);
	fe_mul(&t0, &t1, &t0);      /* 2^50 - 1 */
	fe_sqn(&t1, &t0, 50);
	fe_mul(&t1, &t1, &t0);      /* 2^100 - 1 */
	fe_sqn(&t2, &t1, 100);
	fe_mul(&t1, &t2, &t1);      /* 2^200 - 1 */
	fe_sqn(&t1, &t1, 50);
	fe_mul(&t0, &t1, &t0);      /* 2^250 - 1 */
	fe_sqn(&t0, &t0, 2);        /* 2^252 - 4 */
	fe_mul(out, &t0, z);        /* 2^252 - 3 */
}

/* z^(p-2) = (z^(2^252-3))^8 * z^3 = z^(2^255 - 21) */
static void fe_invert(fe *out, const fe *z)
{
	fe t, z3;
	fe_pow22523(&t, z);
	fe_sqn(&t, &t, 3);
	fe_sq(&z3, z);
	fe_mul(&z3, &z3, z);
	fe_mul(out, &t, &z3);
}

static int fe_iszero(const fe *f)
{
	uint8_t s[32], acc = 0;
	fe_tobytes(s, f);
	for (int i = 0; i < 32; i++)
		acc |= s[i];
	return acc == 0;
}

static int fe_isodd(const fe *f)
{
	uint8_t s[32];
	fe_tobytes(s, f);
	return s[0] & 1;
}

static int fe_equal(const fe *f, const fe *g)
{
	fe d;
	fe_sub(&d, f, g);
	return fe_iszero(&d);
}

/* ---- group ---- */

typedef struct {
	fe X, Y, Z, T;
} ge;

typedef struct {
	fe YpX, YmX, Z2, T2d;
} gc;

static fe c_d, c_d2, c_sqrtm1;
static ge c_base;
#define BASE_W 8
static gc c_base_tab[1 << (BASE_W - 2)];   /* B, 3B, ..., 127B */
static pthread_once_t c_once = PTHREAD_ONCE_INIT;

static void ge_identity(ge *p)
{
	fe_set(&p->X, 0);
	fe_set(&p->Y, 1);
	fe_set(&p->Z, 1);
	fe_set(&p->T, 0);
}

static void ge_cache(gc *c, const ge *p)
{
	fe_add(&c->YpX, &p->Y, &p->X);
	fe_sub(&c->YmX, &p->Y, &p->X);
	fe_add(&c->Z2, &p->Z, &p->Z);
	fe_mul(&c->T2d, &p->T, &c_d2);
}

/* r = p + q (sub: p - q) */
static void ge_addc(ge *r, const ge *p, const gc *q, int sub)
{
	fe a, b, c, d, e, f, g, h, t;
	fe_sub(&t, &p->Y, &p->X);
	fe_mul(&a, &t, sub ? &q->YpX : &q->YmX);
	fe_add(&t, &p->Y, &p->X);
	fe_mul(&b, &t, sub ? &q->YmX : &q->YpX);
	fe_mul(&c, &p->T, &q->T2d);
	fe_mul(&d, &p->Z, &q->Z2);
	fe_sub(&e, &b, &a);
	fe_add(&h, &b, &a);
	if (sub) {
		fe_add(&f, &d, &c);
		fe_sub(&g, &d, &c);
	} else {
		fe_sub(&f, &d, &c);
		fe_add(&g, &d, &c);
	}
	fe_mul(&r->X, &e, &f);
	fe_mul(&r->Y, &g, &h);
	fe_mul(&r->T, &e, &h);
	fe_mul(&r->Z, &f, &g);
}

/* r = 2p; need_t = 0 skips T (only the next doubling reads the result) */
static void ge_dbl(ge *r, const ge *p, int need_t)
{
	fe a, b, c, e, f, g, h, t;
	fe_sq(&a, &p->X);
	fe_sq(&b, &p->Y);
	fe_sq(&c, &p->Z);
	fe_add(&c, &c, &c);
	fe_add(&h, &a, &b);
	fe_add(&t, &p->X, &p->Y);
	fe_sq(&t, &t);
	fe_sub(&e, &h, &t);
	fe_sub(&g, &a, &b);
	fe_add(&f, &c, &g);
	fe_mul(&r->X, &e, &f);
	fe_mul(&r->Y, &g, &h);
	if (need_t)
		fe_mul(&r->T, &e, &h);
	fe_mul(&r->Z, &f, &g);
}

static void ge_neg(ge *r, const ge *p)
{
	fe_neg(&r->X, &p->X);
	r->Y = p->Y;
	r->Z = p->Z;
	fe_neg(&r->T, &p->T);
}

static int ge_is_identity(const ge *p)
{
	return fe_iszero(&p->X) && fe_equal(&p->Y, &p->Z);
}

/* RFC 8032 §5.1.3, strict: y must be below p, and x = 0 with the sign
 * bit set is refused. */
static int ge_frombytes(ge *p, const uint8_t s[32])
{
	uint8_t chk[32];
	int sign = s[31] >> 7;
	fe y, yy, u, v, v3, x, t, one;

	fe_frombytes(&y, s);
	fe_tobytes(chk, &y);
	if (memcmp(chk, s, 31) || chk[31] != (s[31] & 0x7f))
		return -1;
	fe_set(&one, 1);
	fe_sq(&yy, &y);
	fe_sub(&u, &yy, &one);
	fe_mul(&v, &yy, &c_d);
	fe_add(&v, &v, &one);
	fe_sq(&v3, &v);
	fe_mul(&v3, &v3, &v);          /* v^3 */
	fe_sq(&x, &v3);
	fe_mul(&x, &x, &v);
	fe_mul(&x, &x, &u);            /* u v^7 */
	fe_pow22523(&x, &x);
	fe_mul(&x, &x, &v3);
	fe_mul(&x, &x, &u);            /* u v^3 (u v^7)^((p-5)/8) */
	fe_sq(&t, &x);
	fe_mul(&t, &t, &v);            /* v x^2 */
	if (!fe_equal(&t, &u)) {
		fe_neg(&u, &u);
		if (!fe_equal(&t, &u))
			return -1;
		fe_mul(&x, &x, &c_sqrtm1);
	}
	if (fe_iszero(&x) && sign)
		return -1;
	if (fe_isodd(&x) != sign)
		fe_neg(&x, &x);
	p->X = x;
	p->Y = y;
	fe_set(&p->Z, 1);
	fe_mul(&p->T, &x, &y);
	return 0;
}

static int ge_small_order(const ge *p)
{
	ge q;
	ge_dbl(&q, p, 0);
	ge_dbl(&q, &q, 0);
	ge_dbl(&q, &q, 0);
	return ge_is_identity(&q);
}

/* Odd multiples P, 3P, ..., (2^(w-1) - 1)P, cached. */
static void ge_odd_multiples(gc *tab, const ge *p, int w)
{
	ge p2, acc = *p;
	gc c2;
	ge_dbl(&p2, p, 1);
	ge_cache(&c2, &p2);
	ge_cache(&tab[0], p);
	for (int i = 1; i < (1 << (w - 2)); i++) {
		ge_addc(&acc, &acc, &c2, 0);
		ge_cache(&tab[i], &acc);
	}
}

/* Per-thread scratch space for the terms of a batch (1.5 KB each):
 * allocating it per batch made glibc map and unmap fresh pages every
 * time (the kernel zeroing them was 10 % of a replica's samples). */
static pthread_key_t c_scratch_key;

typedef struct {
	void *p;
	size_t cap;
} scratch_t;

static void scratch_free(void *arg)
{
	scratch_t *s = arg;
	if (s) {
		free(s->p);
		free(s);
	}
}

static void *scratch(size_t bytes)
{
	scratch_t *s = pthread_getspecific(c_scratch_key);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || pthread_setspecific(c_scratch_key, s) != 0) {
			free(s);
			return NULL;
		}
	}
	if (s->cap < bytes) {
		void *p = realloc(s->p, bytes);
		if (!p)
			return NULL;
		s->p = p;
		s->cap = bytes;
	}
	return s->p;
}

static void init_consts(void)
{
	if (pthread_key_create(&c_scratch_key, scratch_free) != 0)
		abort();   /* out of keys at start-up */
	fe a, b;
	/* d = -121665 / 121666 */
	fe_set(&a, 121666);
	fe_invert(&b, &a);
	fe_set(&a, 121665);
	fe_mul(&a, &a, &b);
	fe_neg(&c_d, &a);
	fe_add(&c_d2, &c_d, &c_d);
	/* sqrt(-1) = 2^((p-1)/4) = (2^(2^252-3))^2 * 2 */
	fe_set(&a, 2);
	fe_pow22523(&b, &a);
	fe_sq(&b, &b);
	fe_mul(&c_sqrtm1, &b, &a);
	/* B: y = 4/5, x even */
	uint8_t enc[32];
	memset(enc, 0x66, sizeof(enc));
	enc[0] = 0x58;
	if (ge_frombytes(&c_base, enc) != 0)
		abort();   /* the constants above are wrong: a build defect */
	ge_odd_multiples(c_base_tab, &c_base, BASE_W);
}

static void ensure_init(void)
{
	pthread_once(&c_once, init_consts);
}

/* ---- scalars ---- */

/* Width-w NAF of a little-endian scalar below 2^256: naf[i] in
 * {0, +-1, +-3, ..., +-(2^(w-1) - 1)}, any nonzero digit followed by at
 * least w - 1 zeros.  Returns the index of the top nonzero digit, or -1. */
static int wnaf(int8_t naf[257], const uint8_t s[32], int w)
{
	uint64_t k[5] = { load64(s), load64(s + 8), load64(s + 16), load64(s + 24), 0 };
	const int64_t half = INT64_C(1) << (w - 1), full = INT64_C(1) << w;
	int top = -1;

	memset(naf, 0, 257);
	for (int i = 0; i < 257; i++) {
		if (!(k[0] | k[1] | k[2] | k[3] | k[4]))
			break;
		if (k[0] & 1) {
			int64_t d = (int64_t)(k[0] & (uint64_t)(full - 1));
			if (d >= half)
				d -= full;
			naf[i] = (int8_t)d;
			top = i;
			/* k -= d, which clears the low w bits */
			if (d > 0) {
				uint64_t b = (uint64_t)d;
				for (int j = 0; j < 5 && b; j++) {
					uint64_t o = k[j];
					k[j] -= b;
					b = o < b;
				}
			} else {
				uint64_t c = (uint64_t)(-d);
				for (int j = 0; j < 5 && c; j++) {
					k[j] += c;
					c = k[j] < c;
				}
			}
		}
		for (int j = 0; j < 4; j++)
			k[j] = k[j] >> 1 | k[j + 1] << 63;
		k[4] >>= 1;
	}
	return top;
}

static int scalar_is_canonical(const uint8_t s[32])
{
	uint8_t wide[64] = { 0 }, r[32];
	memcpy(wide, s, 32);
	crypto_core_ed25519_scalar_reduce(r, wide);
	return memcmp(r, s, 32) == 0;
}

/* k = SHA-512(R || A || M) mod L */
static void challenge(uint8_t k[32], const uint8_t sig[64], const uint8_t pub[32], const uint8_t *msg,
		      size_t len)
{
	crypto_hash_sha512_state st;
	uint8_t h[64];
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, sig, 32);
	crypto_hash_sha512_update(&st, pub, 32);
	crypto_hash_sha512_update(&st, msg, len);
	crypto_hash_sha512_final(&st, h);
	crypto_core_ed25519_scalar_reduce(k, h);
}

/* ---- multi-scalar multiplication ---- */

#define PT_W 5
#define PT_TAB (1 << (PT_W - 2))

typedef struct {
	gc tab[PT_TAB];
	int8_t naf[257];
	int top;
} term_t;

/* Q = [s0]B + sum [s_j]P_j, where terms[] already hold the NAFs and the
 * tables of the P_j. */
static void msm(ge *q, const int8_t base_naf[257], int base_top, const term_t *t, size_t nt)
{
	int top = base_top;
	for (size_t j = 0; j < nt; j++)
		if (t[j].top > top)
			top = t[j].top;
	ge_identity(q);
	for (int i = top; i >= 0; i--) {
		/* does anything get added at this position? then T is needed */
		int adds = base_naf[i] != 0;
		for (size_t j = 0; j < nt && !adds; j++)
			adds = t[j].naf[i] != 0;
		if (i != top)
			ge_dbl(q, q, adds);
		if (!adds)
			continue;
		int8_t d = base_naf[i];
		if (d)
			ge_addc(q, q, &c_base_tab[(d > 0 ? d : -d) >> 1], d < 0);
		for (size_t j = 0; j < nt; j++) {
			d = t[j].naf[i];
			if (d)
				ge_addc(q, q, &t[j].tab[(d > 0 ? d : -d) >> 1], d < 0);
		}
	}
}

/* The canonical encodings (sign bit masked) of the points of order 1, 2,
 * 4 and 8: y = 1, y = -1, y = 0, and the two y of the order-8 points.
 * For a canonical encoding, being on this list is the same as [8]P = O
 * (the unit tests check both ways), and costs a compare, not three
 * doublings. */
static const uint8_t c_small_y[5][32] = {
	{ 0x01 },
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	{ 0x00 },
	{ 0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	  0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05 },
	{ 0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	  0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a },
};

static int small_encoding(const uint8_t s[32])
{
	for (size_t i = 0; i < 5; i++)
		if (!memcmp(s, c_small_y[i], 31) && (s[31] & 0x7f) == c_small_y[i][31])
			return 1;
	return 0;
}

/* The checks libsodium makes before its equation, plus decoding of both
 * points (R must decode for the batch; libsodium's byte comparison of R
 * with a computed point's encoding implies the same).  On success *a (when
 * a is not NULL: the caller already decoded this key) and *r hold the
 * decoded A and R. */
static int precheck(ge *a, ge *r, const uint8_t pub[32], const uint8_t sig[64])
{
	if (!scalar_is_canonical(sig + 32))
		return -1;
	if (small_encoding(pub) || small_encoding(sig))
		return -1;
	if ((a && ge_frombytes(a, pub) != 0) || ge_frombytes(r, sig) != 0)
		return -1;
	return 0;
}

int ed25519v_point_is_small_order(const uint8_t p[32])
{
	ge g;
	ensure_init();
	if (ge_frombytes(&g, p) != 0)
		return -1;
	int r = ge_small_order(&g);
	/* the list and the group law must agree */
	return r == small_encoding(p) ? r : -2;
}

static int cofactored_zero(const ge *q)
{
	ge t;
	ge_dbl(&t, q, 0);
	ge_dbl(&t, &t, 0);
	ge_dbl(&t, &t, 0);
	return ge_is_identity(&t);
}

int ed25519v_verify(const uint8_t pub[32], const uint8_t sig[64], const uint8_t *msg, size_t len)
{
	ge a, r, q;
	uint8_t k[32];
	int8_t bnaf[257];
	term_t *t;
	int ok;

	if (!pub || !sig || (!msg && len))
		return -1;
	ensure_init();
	if (precheck(&a, &r, pub, sig) != 0)
		return -1;
	challenge(k, sig, pub, msg ? msg : (const uint8_t *)"", len);
	t = scratch(2 * sizeof(*t));
	if (!t)
		return -1;
	/* [S]B - [k]A - R */
	int btop = wnaf(bnaf, sig + 32, BASE_W);
	ge_neg(&a, &a);
	ge_odd_multiples(t[0].tab, &a, PT_W);
	t[0].top = wnaf(t[0].naf, k, PT_W);
	ge_neg(&r, &r);
	ge_cache(&t[1].tab[0], &r);
	memset(t[1].naf, 0, sizeof(t[1].naf));
	t[1].naf[0] = 1;
	t[1].top = 0;
	msm(&q, bnaf, btop, t, 2);
	ok = cofactored_zero(&q);
	return ok ? 0 : -1;
}

int ed25519v_verify_batch(const ed25519v_item_t *it, size_t n)
{
	int ret = -1;
	term_t *t;
	uint8_t (*z)[32], (*ak)[32];
	const uint8_t **akey;
	uint8_t sb[32] = { 0 };
	int8_t bnaf[257];
	size_t na = 0;
	ge q;

	if (n == 0)
		return 0;
	if (!it)
		return -1;
	ensure_init();
	/* terms: one per R_i, then at most one per distinct key; then the
	 * coefficients, the merged A scalars and their keys */
	if (n > SIZE_MAX / 4 / (sizeof(*t) + 2 * 32 + sizeof(*akey)))
		return -1;
	uint8_t *mem = scratch(2 * n * sizeof(*t) + n * (2 * 32 + sizeof(*akey)));
	if (!mem)
		return -1;
	t = (term_t *)mem;
	z = (uint8_t (*)[32])(mem + 2 * n * sizeof(*t));
	ak = z + n;
	akey = (const uint8_t **)(ak + n);
	memset(z, 0, n * sizeof(*z));
	for (size_t i = 0; i < n; i++) {
		randombytes_buf(z[i], 16);   /* upper 16 bytes stay 0 */
		/* a zero coefficient would drop the signature from the check */
		z[i][0] |= 1;
	}
	for (size_t i = 0; i < n; i++) {
		const ed25519v_item_t *e = &it[i];
		ge a, r;
		uint8_t k[32], zk[32], zs[32];
		if (!e->pub || !e->sig || (!e->msg && e->len))
			goto out;
		/* an earlier signature's key: decoded (and merged) already; the
		 * decoding is a third of the work per signature, and a block's
		 * txs are mostly a few tenants' */
		size_t j = 0;
		while (j < na && memcmp(akey[j], e->pub, 32) != 0)
			j++;
		if (precheck(j == na ? &a : NULL, &r, e->pub, e->sig) != 0)
			goto out;
		challenge(k, e->sig, e->pub, e->msg ? e->msg : (const uint8_t *)"", e->len);
		crypto_core_ed25519_scalar_mul(zk, z[i], k);
		crypto_core_ed25519_scalar_mul(zs, z[i], e->sig + 32);
		crypto_core_ed25519_scalar_add(sb, sb, zs);
		/* the A term: merged with an earlier signature's by the same key */
		if (j == na) {
			akey[na] = e->pub;
			memset(ak[na], 0, 32);
			ge_neg(&a, &a);
			ge_odd_multiples(t[n + na].tab, &a, PT_W);
			na++;
		}
		crypto_core_ed25519_scalar_add(ak[j], ak[j], zk);
		/* the R term: -[z_i] R_i */
		ge_neg(&r, &r);
		ge_odd_multiples(t[i].tab, &r, PT_W);
		t[i].top = wnaf(t[i].naf, z[i], PT_W);
	}
	for (size_t j = 0; j < na; j++)
		t[n + j].top = wnaf(t[n + j].naf, ak[j], PT_W);
	int btop = wnaf(bnaf, sb, BASE_W);
	msm(&q, bnaf, btop, t, n + na);
	ret = cofactored_zero(&q) ? 0 : -1;
out:
	return ret;
}
