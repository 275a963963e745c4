/*
 * instr.c — the one parser and printer for the instruction grammar
 * (DESIGN §6; the contract is in instr.h).  Node validation, the
 * orchestrator, the CLI and the portal all go through instr_parse, so its
 * verdict is part of consensus: it is deterministic, depends on no locale
 * or libc parsing routine, allocates nothing and reads exactly len bytes.
 *
 * The grammar lives in three tables: the forms (object + verb, which
 * options each allows and requires, the SLA bit), the options (in the
 * grammar's order, which is also the canonical print order) and the
 * lexemes (character classes of names, images, config keys and values).
 * Errors read "at N: reason", N the 1-based position of the offending
 * character or token, or just past the last token when something is
 * missing.
 *
 * Beyond the header's character classes, a few things are refused
 * deliberately: IMAGE/FLAVOR starting with '-' (a value must never look
 * like an option to the platform tool that receives it as argv), and
 * --match values that are not meaningful for a packet classifier: proto is
 * tcp|udp|sctp|icmp|icmpv6, sport/dport a port 1-65535 or a range LO-HI
 * (LO < HI), src/dst an IPv4 or canonical (RFC 5952) IPv6 address with an
 * optional /LEN and no host bits set.  Every accepted text is already
 * canonical there, so the canonical instruction is never longer than the
 * input.
 */
#include "instr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tx.h"

const char *const INSTR_VNF_TYPES[] = { "forwarder", "firewall", "nat", "monitor", NULL };

/* ---- tables -------------------------------------------------------- */

enum { OPT_TYPE, OPT_VM, OPT_IMAGE, OPT_FLAVOR, OPT_CONFIG, OPT_CHAIN, OPT_MATCH, OPT_COUNT };
#define B(o) (1u << (o))

typedef struct {
	const char *name;       /* "--image" */
	int repeatable;
} opt_def_t;

/* In the grammar's order: the canonical text prints options this way. */
static const opt_def_t OPTS[OPT_COUNT] = {
	[OPT_TYPE] = { "--type", 0 },
	[OPT_VM] = { "--vm", 0 },
	[OPT_IMAGE] = { "--image", 0 },
	[OPT_FLAVOR] = { "--flavor", 0 },
	[OPT_CONFIG] = { "--config", 1 },
	[OPT_CHAIN] = { "--chain", 0 },
	[OPT_MATCH] = { "--match", 0 },
};

typedef struct {
	obj_kind_t kind;
	verb_t verb;
	unsigned allowed;       /* B(OPT_x) */
	unsigned required;
	uint16_t op;            /* tx.h OP_* */
} form_t;

static const form_t FORMS[] = {
	{ OBJ_VM, VERB_CREATE, B(OPT_IMAGE) | B(OPT_FLAVOR), 0, OP_VM_CREATE },
	{ OBJ_VM, VERB_DELETE, 0, 0, OP_VM_DELETE },
	{ OBJ_VNF, VERB_CREATE, B(OPT_TYPE) | B(OPT_VM) | B(OPT_IMAGE) | B(OPT_CONFIG),
	  B(OPT_TYPE), OP_VNF_CREATE },
	{ OBJ_VNF, VERB_UPDATE, B(OPT_CONFIG), B(OPT_CONFIG), OP_VNF_UPDATE },
	{ OBJ_VNF, VERB_DELETE, 0, 0, OP_VNF_DELETE },
	{ OBJ_SFC, VERB_CREATE, B(OPT_CHAIN) | B(OPT_MATCH), B(OPT_CHAIN), OP_SFC_CREATE },
	{ OBJ_SFC, VERB_UPDATE, B(OPT_CHAIN), B(OPT_CHAIN), OP_SFC_UPDATE },
	{ OBJ_SFC, VERB_DELETE, 0, 0, OP_SFC_DELETE },
};

static const char *const KIND_NAMES[] = { [OBJ_VM] = "vm", [OBJ_VNF] = "vnf", [OBJ_SFC] = "sfc" };
static const char *const VERB_NAMES[] = {
	[VERB_CREATE] = "create", [VERB_UPDATE] = "update", [VERB_DELETE] = "delete"
};

enum { MATCH_PROTO, MATCH_SPORT, MATCH_DPORT, MATCH_SRC, MATCH_DST, MATCH_COUNT };
static const char *const MATCH_KEYS[MATCH_COUNT] = { "proto", "sport", "dport", "src", "dst" };
static const char *const MATCH_PROTOS[] = { "tcp", "udp", "sctp", "icmp", "icmpv6", NULL };

/* Character classes, one bit each. */
enum {
	CL_LOWER = 1 << 0, CL_UPPER = 1 << 1, CL_DIGIT = 1 << 2, CL_HYPHEN = 1 << 3,
	CL_DOT = 1 << 4, CL_UNDER = 1 << 5, CL_COLON = 1 << 6, CL_SLASH = 1 << 7,
	CL_COMMA = 1 << 8, CL_EQ = 1 << 9, CL_PLUS = 1 << 10, CL_AT = 1 << 11,
};

typedef struct {
	const char *pattern;    /* shown in messages */
	unsigned first, rest;   /* allowed classes */
	size_t max;
} lexeme_t;

#define CL_ALNUM_LO (CL_LOWER | CL_DIGIT)
#define CL_IMAGE (CL_LOWER | CL_UPPER | CL_DIGIT | CL_DOT | CL_UNDER | CL_COLON | CL_SLASH)
#define CL_VALUE (CL_IMAGE | CL_HYPHEN | CL_COMMA | CL_EQ | CL_PLUS | CL_AT)

static const lexeme_t LEX_NAME = {
	"[a-z0-9][a-z0-9-]{0,31}", CL_ALNUM_LO, CL_ALNUM_LO | CL_HYPHEN, INSTR_MAX_NAME
};
static const lexeme_t LEX_IMAGE = {
	"[A-Za-z0-9._:/][A-Za-z0-9._:/-]{0,63}", CL_IMAGE, CL_IMAGE | CL_HYPHEN, INSTR_MAX_IMAGE
};
static const lexeme_t LEX_KEY = {
	"[a-z0-9][a-z0-9_.-]{0,31}", CL_ALNUM_LO, CL_ALNUM_LO | CL_UNDER | CL_DOT | CL_HYPHEN,
	INSTR_MAX_NAME
};
static const lexeme_t LEX_VALUE = {
	"[A-Za-z0-9._:/,=+@-]{1,128}", CL_VALUE, CL_VALUE, INSTR_MAX_VALUE
};
/* A --match list, before it is split: KEY=VALUE[,KEY=VALUE]... */
static const lexeme_t LEX_MATCH = {
	"KEY=VALUE[,KEY=VALUE]... of [A-Za-z0-9._:/,=+@-]", CL_VALUE, CL_VALUE, (size_t)-1
};

static unsigned char_class(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return CL_LOWER;
	if (c >= 'A' && c <= 'Z')
		return CL_UPPER;
	if (c >= '0' && c <= '9')
		return CL_DIGIT;
	switch (c) {
	case '-': return CL_HYPHEN;
	case '.': return CL_DOT;
	case '_': return CL_UNDER;
	case ':': return CL_COLON;
	case '/': return CL_SLASH;
	case ',': return CL_COMMA;
	case '=': return CL_EQ;
	case '+': return CL_PLUS;
	case '@': return CL_AT;
	default: return 0;
	}
}

/* ---- parser state and errors ---------------------------------------- */

typedef struct {
	const char *text;
	size_t len;
	size_t off;             /* lexer cursor */
	size_t end;             /* offset just past the last token read */
	size_t *err_pos;
	char *err;
	size_t errlen;
} pctx_t;

typedef struct {
	size_t off, len;
} tok_t;

#define QUOTE_MAX 48

/* A printable rendering of s[0..n) for messages, cut to QUOTE_MAX chars. */
typedef struct {
	char s[QUOTE_MAX + 4];
} quote_t;

static quote_t quote(const char *s, size_t n)
{
	quote_t q;

	if (n > QUOTE_MAX) {
		memcpy(q.s, s, QUOTE_MAX);
		memcpy(q.s + QUOTE_MAX, "...", 4);
	} else {
		memcpy(q.s, s, n);
		q.s[n] = '\0';
	}
	return q;
}

/* Records "at off+1: reason"; returns -1. */
PRINTF(3, 4) static int fail(pctx_t *p, size_t off, const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (p->err_pos)
		*p->err_pos = off + 1;
	if (p->err && p->errlen)
		snprintf(p->err, p->errlen, "at %zu: %s", off + 1, reason);
	return -1;
}

/* Next space-separated token; 0 at the end of the input. */
static int next_tok(pctx_t *p, tok_t *t)
{
	while (p->off < p->len && p->text[p->off] == ' ')
		p->off++;
	if (p->off >= p->len)
		return 0;
	t->off = p->off;
	while (p->off < p->len && p->text[p->off] != ' ')
		p->off++;
	t->len = p->off - t->off;
	p->end = p->off;
	return 1;
}

static int tok_is(const pctx_t *p, const tok_t *t, const char *s)
{
	size_t n = strlen(s);

	return t->len == n && memcmp(p->text + t->off, s, n) == 0;
}

static int span_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* Checks text[off..off+n) against lex; what names it in the message
 * ("name", "VM name", "config key", ...). */
static int check_lexeme(pctx_t *p, size_t off, size_t n, const lexeme_t *lex,
			const char *what)
{
	const char *s = p->text + off;
	quote_t q = quote(s, n);
	size_t i;

	if (n == 0)
		return fail(p, off, "empty %s (must match %s)", what, lex->pattern);
	for (i = 0; i < n; i++) {
		unsigned allowed = i == 0 ? lex->first : lex->rest;
		unsigned cl = char_class((unsigned char)s[i]);

		if (i == lex->max)
			return fail(p, off + i, "%s '%s' must match %s (%zu characters, at most %zu)",
				    what, q.s, lex->pattern, n, lex->max);
		if (!(cl & allowed))
			return fail(p, off + i, "%s '%s' must match %s ('%c' not allowed%s)",
				    what, q.s, lex->pattern, s[i], cl & lex->rest ? " first" : "");
	}
	return 0;
}

/* Copies a checked span into a field of size > n. */
static void copy_field(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const form_t *form_find(int kind, int verb)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(FORMS); i++)
		if ((int)FORMS[i].kind == kind && (int)FORMS[i].verb == verb)
			return &FORMS[i];
	return NULL;
}

/* "create, delete" — the verbs of kind. */
static void verbs_of(char *out, size_t outlen, int kind)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < ARRAY_LEN(FORMS); i++) {
		if ((int)FORMS[i].kind != kind)
			continue;
		used += snprintf(out + used, outlen - used, "%s%s", used ? ", " : "",
				 VERB_NAMES[FORMS[i].verb]);
		if (used >= outlen)
			break;
	}
}

/* "--image, --flavor" — the options in mask, in grammar order. */
static void opts_of(char *out, size_t outlen, unsigned mask)
{
	size_t used = 0;
	int o;

	out[0] = '\0';
	for (o = 0; o < OPT_COUNT; o++) {
		if (!(mask & B(o)))
			continue;
		used += snprintf(out + used, outlen - used, "%s%s", used ? ", " : "", OPTS[o].name);
		if (used >= outlen)
			break;
	}
}

/* ---- option values ---------------------------------------------------- */

static int parse_type(pctx_t *p, instr_t *out, const tok_t *t)
{
	const char *s = p->text + t->off;
	quote_t q;
	int i;

	for (i = 0; INSTR_VNF_TYPES[i]; i++) {
		if (span_is(s, t->len, INSTR_VNF_TYPES[i])) {
			copy_field(out->type, s, t->len);
			return 0;
		}
	}
	q = quote(s, t->len);
	return fail(p, t->off, "unknown VNF type '%s' (expected forwarder, firewall, nat, monitor)",
		    q.s);
}

static int parse_name_into(pctx_t *p, char *dst, size_t off, size_t n, const char *what)
{
	if (check_lexeme(p, off, n, &LEX_NAME, what) < 0)
		return -1;
	copy_field(dst, p->text + off, n);
	return 0;
}

static int parse_image_into(pctx_t *p, char *dst, const tok_t *t, const char *what)
{
	if (check_lexeme(p, t->off, t->len, &LEX_IMAGE, what) < 0)
		return -1;
	copy_field(dst, p->text + t->off, t->len);
	return 0;
}

static int parse_config(pctx_t *p, instr_t *out, const tok_t *t, size_t key_pos[])
{
	const char *s = p->text + t->off;
	const char *eq = memchr(s, '=', t->len);
	size_t klen, vlen;
	quote_t q = quote(s, t->len);
	int i;

	if (!eq)
		return fail(p, t->off, "config '%s' must be KEY=VALUE", q.s);
	klen = (size_t)(eq - s);
	vlen = t->len - klen - 1;
	if (klen == 0)
		return fail(p, t->off, "config '%s' has an empty key", q.s);
	if (check_lexeme(p, t->off, klen, &LEX_KEY, "config key") < 0)
		return -1;
	if (vlen == 0)
		return fail(p, t->off + klen, "config '%s' has an empty value", q.s);
	if (check_lexeme(p, t->off + klen + 1, vlen, &LEX_VALUE, "config value") < 0)
		return -1;
	for (i = 0; i < out->n_config; i++) {
		if (span_is(s, klen, out->config[i].key)) {
			q = quote(s, klen);
			return fail(p, t->off, "duplicate config key '%s' (first at %zu)", q.s,
				    key_pos[i] + 1);
		}
	}
	if (out->n_config == INSTR_MAX_CONFIG)
		return fail(p, t->off, "too many --config options (at most %d)", INSTR_MAX_CONFIG);
	key_pos[out->n_config] = t->off;
	copy_field(out->config[out->n_config].key, s, klen);
	copy_field(out->config[out->n_config].value, eq + 1, vlen);
	out->n_config++;
	return 0;
}

static int parse_chain(pctx_t *p, instr_t *out, const tok_t *t)
{
	size_t pos[INSTR_MAX_CHAIN];
	size_t off = t->off, end = t->off + t->len;

	for (;;) {
		const char *s = p->text + off;
		const char *comma = memchr(s, ',', end - off);
		size_t n = comma ? (size_t)(comma - s) : end - off;
		quote_t q;
		int i;

		if (n == 0)
			return fail(p, off, "empty VNF name in chain");
		if (out->n_chain == INSTR_MAX_CHAIN)
			return fail(p, off, "chain too long: more than %d VNFs", INSTR_MAX_CHAIN);
		if (check_lexeme(p, off, n, &LEX_NAME, "VNF name") < 0)
			return -1;
		for (i = 0; i < out->n_chain; i++) {
			if (span_is(s, n, out->chain[i])) {
				q = quote(s, n);
				return fail(p, off, "VNF '%s' repeated in chain (first at %zu)", q.s,
					    pos[i] + 1);
			}
		}
		pos[out->n_chain] = off;
		copy_field(out->chain[out->n_chain++], s, n);
		if (!comma)
			return 0;
		off += n + 1;
	}
}

/* Decimal without leading zeros, 1..65535; -1 if not. */
static long port_value(const char *s, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

/* Decimal without leading zeros (a lone "0" is fine), at most max; -1 if not. */
static long small_uint(const char *s, size_t n, long max)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* Dotted quad, canonical (no leading zeros); 0 or -1. */
static int ipv4_parse(uint8_t out[4], const char *s, size_t n)
{
	size_t i = 0;
	int k;

	for (k = 0; k < 4; k++) {
		size_t start = i;
		long v;

		while (i < n && s[i] != '.')
			i++;
		v = small_uint(s + start, i - start, 255);
		if (v < 0)
			return -1;
		out[k] = (uint8_t)v;
		if (k < 3) {
			if (i >= n)
				return -1;
			i++;        /* the dot */
		}
	}
	return i == n ? 0 : -1;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;      /* uppercase is not canonical */
}

/* IPv6 in its RFC 5952 canonical text (lowercase, no leading zeros, "::"
 * for exactly the longest run of two or more zero groups, leftmost on a
 * tie; no embedded IPv4); 0 or -1. */
static int ipv6_parse(uint8_t out[16], const char *s, size_t n)
{
	uint16_t g[8];
	int ng = 0, gap = -1, gaplen, best = -1, bestlen = 0, k;
	size_t i = 0;

	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
	} else if (n >= 1 && s[0] == ':') {
		return -1;
	}
	while (i < n) {
		size_t start = i;
		unsigned v = 0;

		if (ng == 8)
			return -1;
		while (i < n && s[i] != ':') {
			int d = hex_digit(s[i]);

			if (d < 0 || i - start == 4)
				return -1;
			v = v * 16 + (unsigned)d;
			i++;
		}
		if (i == start || (i - start > 1 && s[start] == '0'))
			return -1;
		g[ng++] = (uint16_t)v;
		if (i == n)
			break;
		i++;            /* the colon */
		if (i < n && s[i] == ':') {
			if (gap >= 0)
				return -1;
			gap = ng;
			if (++i == n)
				break;  /* "1::" */
		} else if (i == n) {
			return -1;  /* trailing single ':' */
		}
	}
	if (gap < 0 && ng != 8)
		return -1;
	if (gap >= 0 && ng > 6)
		return -1;  /* "::" must stand for two groups or more */
	gaplen = 8 - ng;
	if (gap >= 0) {
		memmove(g + gap + gaplen, g + gap, (size_t)(ng - gap) * sizeof g[0]);
		memset(g + gap, 0, (size_t)gaplen * sizeof g[0]);
	}
	for (k = 0; k < 8;) {
		int run = 0;

		while (k + run < 8 && g[k + run] == 0)
			run++;
		if (run > bestlen) {
			best = k;
			bestlen = run;
		}
		k += run ? run : 1;
	}
	if (bestlen < 2)
		best = -1;
	if (best != gap || (gap >= 0 && bestlen != gaplen))
		return -1;
	for (k = 0; k < 8; k++) {
		out[2 * k] = (uint8_t)(g[k] >> 8);
		out[2 * k + 1] = (uint8_t)g[k];
	}
	return 0;
}

/* ADDR[/LEN] with no host bits set; returns NULL or what is wrong. */
static const char *check_prefix(const char *s, size_t n)
{
	const char *slash = memchr(s, '/', n);
	size_t alen = slash ? (size_t)(slash - s) : n;
	uint8_t a[16];
	size_t bytes, i;
	long plen;

	if (memchr(s, ':', alen)) {
		if (ipv6_parse(a, s, alen) < 0)
			return "not a canonical IPv6 address (RFC 5952: lowercase, no leading zeros, "
			       "'::' for the longest run of zero groups)";
		bytes = 16;
	} else {
		if (ipv4_parse(a, s, alen) < 0)
			return "not an IPv4 address (four numbers 0-255, no leading zeros)";
		bytes = 4;
	}
	if (!slash)
		return NULL;
	plen = small_uint(slash + 1, n - alen - 1, (long)bytes * 8);
	if (plen < 0)
		return bytes == 4 ? "prefix length must be 0-32" : "prefix length must be 0-128";
	for (i = 0; i < bytes; i++) {
		long bit0 = (long)i * 8;
		uint8_t mask = plen >= bit0 + 8 ? 0 : plen <= bit0 ? 0xff : (uint8_t)(0xff >> (plen - bit0));

		if (a[i] & mask)
			return "host bits set after the prefix length";
	}
	return NULL;
}

/* Meaning of one --match value; returns NULL or what is wrong. */
static const char *check_match_value(int key, const char *s, size_t n)
{
	const char *dash;
	int i;

	switch (key) {
	case MATCH_PROTO:
		for (i = 0; MATCH_PROTOS[i]; i++)
			if (span_is(s, n, MATCH_PROTOS[i]))
				return NULL;
		return "must be one of tcp, udp, sctp, icmp, icmpv6";
	case MATCH_SPORT:
	case MATCH_DPORT:
		dash = memchr(s, '-', n);
		if (!dash)
			return port_value(s, n) < 0 ? "must be a port 1-65535 or a range LO-HI" : NULL;
		{
			long lo = port_value(s, (size_t)(dash - s));
			long hi = port_value(dash + 1, n - (size_t)(dash - s) - 1);

			if (lo < 0 || hi < 0)
				return "must be a port 1-65535 or a range LO-HI";
			if (lo >= hi)
				return "range must have LO < HI";
		}
		return NULL;
	default:
		return check_prefix(s, n);
	}
}

static int parse_match(pctx_t *p, instr_t *out, const tok_t *t)
{
	size_t pos[MATCH_COUNT];
	int seen[MATCH_COUNT];
	size_t off = t->off, end = t->off + t->len;
	int k;

	for (k = 0; k < MATCH_COUNT; k++)
		seen[k] = -1;
	if (check_lexeme(p, t->off, t->len, &LEX_MATCH, "--match value") < 0)
		return -1;
	for (;;) {
		const char *s = p->text + off;
		const char *comma = memchr(s, ',', end - off);
		size_t n = comma ? (size_t)(comma - s) : end - off;
		const char *eq = memchr(s, '=', n);
		size_t klen = eq ? (size_t)(eq - s) : n;
		size_t vlen = eq ? n - klen - 1 : 0;
		const char *why;
		quote_t q = quote(s, n);
		int key = -1;

		if (n == 0)
			return fail(p, off, "empty entry in --match");
		if (!eq)
			return fail(p, off, "match '%s' must be KEY=VALUE", q.s);
		for (k = 0; k < MATCH_COUNT; k++)
			if (span_is(s, klen, MATCH_KEYS[k]))
				key = k;
		if (key < 0) {
			q = quote(s, klen);
			return fail(p, off, "unknown match key '%s' (expected proto, sport, dport, src, dst)",
				    q.s);
		}
		if (seen[key] >= 0)
			return fail(p, off, "duplicate match key '%s' (first at %zu)", MATCH_KEYS[key],
				    pos[seen[key]] + 1);
		if (vlen == 0)
			return fail(p, off + klen, "match '%s' has an empty value", q.s);
		why = vlen > INSTR_MAX_VALUE ? "too long" : check_match_value(key, eq + 1, vlen);
		if (why) {
			q = quote(eq + 1, vlen);
			return fail(p, off + klen + 1, "match %s '%s' %s", MATCH_KEYS[key], q.s, why);
		}
		/* unique keys, MATCH_COUNT == INSTR_MAX_MATCH: never overflows */
		seen[key] = out->n_match;
		pos[out->n_match] = off;
		copy_field(out->match[out->n_match].key, s, klen);
		copy_field(out->match[out->n_match].value, eq + 1, vlen);
		out->n_match++;
		if (!comma)
			return 0;
		off += n + 1;
	}
}

static int parse_value(pctx_t *p, instr_t *out, int opt, const tok_t *v, size_t key_pos[])
{
	switch (opt) {
	case OPT_TYPE: return parse_type(p, out, v);
	case OPT_VM: return parse_name_into(p, out->vm, v->off, v->len, "VM name");
	case OPT_IMAGE: return parse_image_into(p, out->image, v, "image");
	case OPT_FLAVOR: return parse_image_into(p, out->flavor, v, "flavor");
	case OPT_CONFIG: return parse_config(p, out, v, key_pos);
	case OPT_CHAIN: return parse_chain(p, out, v);
	default: return parse_match(p, out, v);
	}
}

static void sort_config(instr_kv_t *kv, int n)
{
	int i, j;

	for (i = 1; i < n; i++) {
		instr_kv_t tmp = kv[i];

		for (j = i; j > 0 && strcmp(kv[j - 1].key, tmp.key) > 0; j--)
			kv[j] = kv[j - 1];
		kv[j] = tmp;
	}
}

/* ---- the parser -------------------------------------------------------- */

/* Byte-level checks before tokens are looked at: length, NUL, control and
 * non-ASCII bytes (so messages never echo an unprintable byte). */
static int check_bytes(pctx_t *p)
{
	size_t i;

	if (p->len > TX_MAX_INSTRUCTION)
		return fail(p, TX_MAX_INSTRUCTION, "instruction longer than %d bytes (%zu)",
			    TX_MAX_INSTRUCTION, p->len);
	for (i = 0; i < p->len; i++) {
		unsigned char c = (unsigned char)p->text[i];

		if (c == 0)
			return fail(p, i, "NUL byte");
		if (c == '\t' || c == '\n' || c == '\r')
			return fail(p, i, "control character 0x%02x (separate words with spaces only)", c);
		if (c < 0x20 || c == 0x7f)
			return fail(p, i, "control character 0x%02x", c);
		if (c >= 0x80)
			return fail(p, i, "non-ASCII byte 0x%02x", c);
	}
	return 0;
}

static int parse(pctx_t *p, instr_t *out)
{
	size_t opt_pos[OPT_COUNT];
	size_t key_pos[INSTR_MAX_CONFIG];
	unsigned seen = 0;
	const form_t *form;
	char list[128];
	tok_t t, v;
	quote_t q;
	int kind = -1, verb = -1, o;

	if (check_bytes(p) < 0)
		return -1;
	if (!next_tok(p, &t))
		return fail(p, 0, "empty instruction");

	for (o = OBJ_VM; o <= OBJ_SFC; o++)
		if (tok_is(p, &t, KIND_NAMES[o]))
			kind = o;
	if (kind < 0) {
		q = quote(p->text + t.off, t.len);
		return fail(p, t.off, "unknown object '%s' (expected vm, vnf, sfc)", q.s);
	}

	/* the lists in messages are built only when a message is needed */
	if (!next_tok(p, &t)) {
		verbs_of(list, sizeof list, kind);
		return fail(p, p->end, "missing verb after '%s' (expected %s)", KIND_NAMES[kind], list);
	}
	for (o = VERB_CREATE; o <= VERB_DELETE; o++)
		if (tok_is(p, &t, VERB_NAMES[o]))
			verb = o;
	form = form_find(kind, verb);
	if (!form) {
		q = quote(p->text + t.off, t.len);
		verbs_of(list, sizeof list, kind);
		return fail(p, t.off, "unknown verb '%s' for '%s' (expected %s)", q.s,
			    KIND_NAMES[kind], list);
	}
	out->kind = (obj_kind_t)kind;
	out->verb = (verb_t)verb;

	if (!next_tok(p, &t))
		return fail(p, p->end, "missing NAME after '%s %s'", KIND_NAMES[kind],
			    VERB_NAMES[verb]);
	if (t.len >= 2 && p->text[t.off] == '-' && p->text[t.off + 1] == '-') {
		q = quote(p->text + t.off, t.len);
		return fail(p, t.off, "missing NAME after '%s %s' (found option '%s')",
			    KIND_NAMES[kind], VERB_NAMES[verb], q.s);
	}
	if (parse_name_into(p, out->name, t.off, t.len, "name") < 0)
		return -1;

	while (next_tok(p, &t)) {
		const char *s = p->text + t.off;
		const char *eq;
		size_t nlen;
		int opt = -1;

		q = quote(s, t.len);
		if (!form->allowed)
			return fail(p, t.off, "unexpected '%s' ('%s %s' takes only a NAME)", q.s,
				    KIND_NAMES[kind], VERB_NAMES[verb]);
		if (t.len < 2 || s[0] != '-' || s[1] != '-') {
			opts_of(list, sizeof list, form->allowed);
			return fail(p, t.off, "unexpected '%s' (expected an option: %s)", q.s, list);
		}
		eq = memchr(s, '=', t.len);
		nlen = eq ? (size_t)(eq - s) : t.len;
		for (o = 0; o < OPT_COUNT; o++)
			if ((form->allowed & B(o)) && span_is(s, nlen, OPTS[o].name))
				opt = o;
		if (opt >= 0 && eq)
			return fail(p, t.off, "option '%s' takes its value after a space ('%s VALUE')",
				    OPTS[opt].name, OPTS[opt].name);
		if (opt < 0) {
			opts_of(list, sizeof list, form->allowed);
			return fail(p, t.off, "unknown option '%s' for '%s %s' (expected %s)", q.s,
				    KIND_NAMES[kind], VERB_NAMES[verb], list);
		}
		if ((seen & B(opt)) && !OPTS[opt].repeatable)
			return fail(p, t.off, "duplicate option '%s' (first at %zu)", OPTS[opt].name,
				    opt_pos[opt] + 1);
		if (!(seen & B(opt)))
			opt_pos[opt] = t.off;
		seen |= B(opt);
		if (!next_tok(p, &v) || (v.len >= 2 && p->text[v.off] == '-' && p->text[v.off + 1] == '-'))
			return fail(p, t.off + t.len, "option '%s' needs a value", OPTS[opt].name);
		if (parse_value(p, out, opt, &v, key_pos) < 0)
			return -1;
	}
	for (o = 0; o < OPT_COUNT; o++)
		if ((form->required & B(o)) && !(seen & B(o)))
			return fail(p, p->end, "missing required option %s for '%s %s'", OPTS[o].name,
				    KIND_NAMES[kind], VERB_NAMES[verb]);
	sort_config(out->config, out->n_config);
	return 0;
}

int instr_parse(instr_t *out, const char *text, size_t len, size_t *err_pos,
		char *err, size_t errlen)
{
	pctx_t p = { text, len, 0, 0, err_pos, err, errlen };
	int ret = -1;

	memset(out, 0, sizeof *out);
	if (err_pos)
		*err_pos = 0;
	if (err && errlen)
		err[0] = '\0';
	if (!text && len) {
		fail(&p, 0, "no text");
		goto out;
	}
	if (parse(&p, out) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		memset(out, 0, sizeof *out);
	return ret;
}

/* The last two instructions parsed on this thread, by text: validating
 * a request and applying it parse its text back to back, with the
 * canonical spec of the object it creates in between.  A miss parses
 * into the slot that was not returned last, so the previous result
 * survives one further call. */
typedef struct {
	size_t len;
	int valid;
	char text[TX_MAX_INSTRUCTION];
	instr_t in;
} parse_slot_t;

static __thread parse_slot_t slots[2];
static __thread int last_slot;

const instr_t *instr_parse_ref(const char *text, size_t len, size_t *err_pos, char *err,
			       size_t errlen)
{
	for (int i = 0; i < 2; i++) {
		parse_slot_t *c = &slots[i];
		if (c->valid && c->len == len && text && memcmp(c->text, text, len) == 0) {
			if (err_pos)
				*err_pos = 0;
			if (err && errlen)
				err[0] = '\0';
			last_slot = i;
			return &c->in;
		}
	}
	int i = 1 - last_slot;
	parse_slot_t *c = &slots[i];
	c->valid = 0;
	if (instr_parse(&c->in, text, len, err_pos, err, errlen) < 0)
		return NULL;
	last_slot = i;
	if (len <= sizeof(c->text)) {
		memcpy(c->text, text, len);
		c->len = len;
		c->valid = 1;
	}
	return &c->in;
}

/* ---- printing ---------------------------------------------------------- */

/* Upper bound of a canonical instruction printed from any instr_t. */
#define FORMAT_MAX 8192

typedef struct {
	char *s;
	size_t len;
} out_t;

PRINTF(2, 3) static void put(out_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->s + o->len, FORMAT_MAX - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < FORMAT_MAX - o->len ? (size_t)n : FORMAT_MAX - 1 - o->len;
}

static int clamp(int n, int max)
{
	return n < 0 ? 0 : n > max ? max : n;
}

/* Field length, bounded even if an instr_t built by hand lacks its NUL. */
#define FLEN(f) ((int)strnlen((f), sizeof(f)))

char *instr_format(const instr_t *in)
{
	const form_t *form = form_find(in->kind, in->verb);
	unsigned allowed = form ? form->allowed : 0;
	int order[INSTR_MAX_CONFIG];
	int n_config = clamp(in->n_config, INSTR_MAX_CONFIG);
	int n_chain = clamp(in->n_chain, INSTR_MAX_CHAIN);
	int n_match = clamp(in->n_match, INSTR_MAX_MATCH);
	out_t o = { xmalloc(FORMAT_MAX), 0 };
	int i, j;

	o.s[0] = '\0';
	put(&o, "%s %s %.*s", obj_kind_name(in->kind), verb_name(in->verb), FLEN(in->name), in->name);
	if ((allowed & B(OPT_TYPE)) && in->type[0])
		put(&o, " --type %.*s", FLEN(in->type), in->type);
	if ((allowed & B(OPT_VM)) && in->vm[0])
		put(&o, " --vm %.*s", FLEN(in->vm), in->vm);
	if ((allowed & B(OPT_IMAGE)) && in->image[0])
		put(&o, " --image %.*s", FLEN(in->image), in->image);
	if ((allowed & B(OPT_FLAVOR)) && in->flavor[0])
		put(&o, " --flavor %.*s", FLEN(in->flavor), in->flavor);
	if (allowed & B(OPT_CONFIG)) {
		/* sorted by key even when the caller built in->config by hand */
		for (i = 0; i < n_config; i++) {
			for (j = i; j > 0 && strncmp(in->config[order[j - 1]].key, in->config[i].key,
						     sizeof in->config[i].key) > 0; j--)
				order[j] = order[j - 1];
			order[j] = i;
		}
		for (i = 0; i < n_config; i++) {
			const instr_kv_t *kv = &in->config[order[i]];

			put(&o, " --config %.*s=%.*s", FLEN(kv->key), kv->key, FLEN(kv->value), kv->value);
		}
	}
	if ((allowed & B(OPT_CHAIN)) && n_chain > 0) {
		put(&o, " --chain");
		for (i = 0; i < n_chain; i++)
			put(&o, "%c%.*s", i ? ',' : ' ', FLEN(in->chain[i]), in->chain[i]);
	}
	if ((allowed & B(OPT_MATCH)) && n_match > 0) {
		put(&o, " --match");
		for (i = 0; i < n_match; i++)
			put(&o, "%c%.*s=%.*s", i ? ',' : ' ', FLEN(in->match[i].key), in->match[i].key,
			    FLEN(in->match[i].value), in->match[i].value);
	}
	/* specs live in the chain state for every object: keep only what is used */
	return xrealloc(o.s, o.len + 1);
}

/* ---- names and SLA bits -------------------------------------------------- */

uint16_t instr_op_bit(obj_kind_t kind, verb_t verb)
{
	const form_t *form = form_find(kind, verb);

	return form ? form->op : 0;
}

const char *obj_kind_name(int kind)
{
	return kind >= OBJ_VM && kind <= OBJ_SFC ? KIND_NAMES[kind] : "unknown";
}

const char *verb_name(int verb)
{
	return verb >= VERB_CREATE && verb <= VERB_DELETE ? VERB_NAMES[verb] : "unknown";
}

int obj_kind_parse(const char *s)
{
	int k;

	if (!s)
		return -1;
	for (k = OBJ_VM; k <= OBJ_SFC; k++)
		if (strcmp(s, KIND_NAMES[k]) == 0)
			return k;
	return -1;
}
