/*
 * validate.c — validation rules 2–5 (DESIGN §3) over the chain state, and
 * a micro-benchmark of decode + validate (see validate.h).
 *
 * Every check is a constant number of hash-map lookups in state.c (no
 * scans), so validating a tx costs a small fraction of verifying its
 * signature.  Deterministic: no clock, no randomness; the only time is the
 * block timestamp the caller passes.  Messages quote the offending value
 * (sanitised to printable ASCII).
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const verr_names[V_COUNT] = {
	[V_OK] = "ok",
	[V_BAD_SIGNATURE] = "bad_signature",
	[V_MALFORMED] = "malformed",
	[V_TIMESTAMP] = "timestamp",
	[V_DUPLICATE] = "duplicate",
	[V_UNKNOWN_TENANT] = "unknown_tenant",
	[V_REVOKED] = "revoked",
	[V_BAD_INSTRUCTION] = "bad_instruction",
	[V_FORBIDDEN] = "sla_forbidden",
	[V_QUOTA] = "quota_exceeded",
	[V_RATE] = "rate_limited",
	[V_NOT_OWNER] = "not_owner",
	[V_NO_OBJECT] = "no_such_object",
	[V_EXISTS] = "exists",
	[V_IN_USE] = "in_use",
	[V_NOT_ORCHESTRATOR] = "not_orchestrator",
	[V_NO_REQUEST] = "no_such_request",
	[V_ANSWERED] = "already_answered",
	[V_NOT_ADMIN] = "not_admin",
	[V_BAD_ATTESTATION] = "bad_attestation",
};

const char *verr_name(verr_t code)
{
	return (unsigned)code < V_COUNT ? verr_names[code] : "unknown";
}

static verr_t fail(verdict_t *v, verr_t code, const char *fmt, ...) PRINTF(3, 4);

static verr_t fail(verdict_t *v, verr_t code, const char *fmt, ...)
{
	va_list ap;
	v->code = code;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	va_end(ap);
	return code;
}

static verr_t pass(verdict_t *v)
{
	v->code = V_OK;
	v->msg[0] = 0;
	return V_OK;
}

/* Printable rendering of untrusted bytes for messages (at most 40 chars). */
typedef struct {
	char s[48];
} quoted_t;

static quoted_t q(const char *p, size_t n)
{
	quoted_t r;
	size_t j = 0;
	for (size_t i = 0; i < n && j < 40; i++) {
		unsigned char c = (unsigned char)p[i];
		r.s[j++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
	}
	if (n > 40) {
		memcpy(r.s + j, "...", 3);
		j += 3;
	}
	r.s[j] = 0;
	return r;
}

/* First 8 bytes of a key or id, as hex. */
typedef struct {
	char s[17];
} short_hex_t;

static short_hex_t hx(const uint8_t *p, size_t n)
{
	short_hex_t r;
	hex_encode(r.s, p, n < 8 ? n : 8);
	return r;
}

/* ---- rule 2 helpers ---- */

static int is_name(const char *s, size_t n)
{
	if (n < 1 || n > INSTR_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(i > 0 && c == '-'))
			return 0;
	}
	return 1;
}

/* Index of the first byte that is not printable ASCII, or n. */
static size_t bad_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return i;
	}
	return n;
}

/* Index of the first byte that starts an invalid UTF-8 sequence or a
 * control character (other than tab, newline, carriage return), or n.
 * Written out rather than borrowed from a library on purpose: this is a
 * consensus rule, and every node must decide it identically regardless of
 * the library versions it runs (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static size_t bad_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return i;
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (i + len > n)
			return i;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return i;
		i += len;
	}
	return n;
}

static int same_key(int scheme, const uint8_t *key, const pubkey_t *k)
{
	return k && scheme == k->scheme && memcmp(key, k->key, sig_pub_len(scheme)) == 0;
}

/* ---- rule 2 ---- */

static verr_t fields_request(const tx_t *tx, verdict_t *v)
{
	size_t i;
	if (!is_name(tx->domain, tx->domain_len))
		return fail(v, V_MALFORMED, "domain '%s' is not a valid name ([a-z0-9][a-z0-9-]{0,31})",
			    q(tx->domain, tx->domain_len).s);
	if (tx->instruction_len == 0)
		return fail(v, V_MALFORMED, "the instruction is empty");
	if (tx->instruction_len > TX_MAX_INSTRUCTION)
		return fail(v, V_MALFORMED, "the instruction is %zu bytes, the limit is %d",
			    tx->instruction_len, TX_MAX_INSTRUCTION);
	if ((i = bad_ascii(tx->instruction, tx->instruction_len)) < tx->instruction_len)
		return fail(v, V_MALFORMED, "instruction byte %zu is 0x%02x, not printable ASCII", i + 1,
			    (unsigned char)tx->instruction[i]);
	return V_OK;
}

static verr_t fields_response(const tx_t *tx, verdict_t *v)
{
	size_t i;
	if (!tx->request_id)
		return fail(v, V_MALFORMED, "the response names no request");
	if (tx->status != TX_STATUS_OK && tx->status != TX_STATUS_ERROR)
		return fail(v, V_MALFORMED, "response status %u is neither 0 (ok) nor 1 (error)",
			    tx->status);
	if (tx->result_len > TX_MAX_RESULT)
		return fail(v, V_MALFORMED, "the result is %zu bytes, the limit is %d", tx->result_len,
			    TX_MAX_RESULT);
	if (tx->error_len > TX_MAX_ERROR)
		return fail(v, V_MALFORMED, "the error text is %zu bytes, the limit is %d",
			    tx->error_len, TX_MAX_ERROR);
	if ((i = bad_utf8(tx->result, tx->result_len)) < tx->result_len)
		return fail(v, V_MALFORMED, "result byte %zu (0x%02x) is not valid UTF-8 text", i + 1,
			    (unsigned char)tx->result[i]);
	if ((i = bad_utf8(tx->error, tx->error_len)) < tx->error_len)
		return fail(v, V_MALFORMED, "error text byte %zu (0x%02x) is not valid UTF-8 text", i + 1,
			    (unsigned char)tx->error[i]);
	if (tx->status == TX_STATUS_OK && tx->error_len)
		return fail(v, V_MALFORMED, "an ok response carries an error text ('%s')",
			    q(tx->error, tx->error_len).s);
	if (tx->status == TX_STATUS_ERROR && !tx->error_len)
		return fail(v, V_MALFORMED, "an error response needs an error text");
	return V_OK;
}

static verr_t fields_tenant(const tx_t *tx, verdict_t *v)
{
	if (tx->action < TENANT_REGISTER || tx->action > TENANT_REVOKE)
		return fail(v, V_MALFORMED, "tenant action %u is not register(1), update(2) or revoke(3)",
			    tx->action);
	if (!is_name(tx->domain, tx->domain_len))
		return fail(v, V_MALFORMED, "domain '%s' is not a valid name ([a-z0-9][a-z0-9-]{0,31})",
			    q(tx->domain, tx->domain_len).s);
	if (!sig_scheme_valid(tx->tenant_scheme) || !tx->tenant_key)
		return fail(v, V_MALFORMED, "tenant key scheme %u is unknown", tx->tenant_scheme);
	if (!(tx->action == TENANT_REVOKE && tx->name_len == 0) && !is_name(tx->name, tx->name_len))
		return fail(v, V_MALFORMED, "tenant name '%s' is not a valid name ([a-z0-9][a-z0-9-]{0,31})",
			    q(tx->name, tx->name_len).s);
	if (tx->sla.ops & ~OP_ALL)
		return fail(v, V_MALFORMED, "SLA operation bits 0x%04x include unknown ones (known: 0x%02x)",
			    tx->sla.ops, OP_ALL);
	return V_OK;
}

static verr_t fields_attest(const tx_t *tx, verdict_t *v)
{
	if (!is_name(tx->domain, tx->domain_len))
		return fail(v, V_MALFORMED, "domain '%s' is not a valid name ([a-z0-9][a-z0-9-]{0,31})",
			    q(tx->domain, tx->domain_len).s);
	if (!tx->att_digest)
		return fail(v, V_MALFORMED, "the attestation carries no digest");
	if (tx->att_problems > tx->att_objects)
		return fail(v, V_MALFORMED, "the attestation counts %u problems among %u objects",
			    tx->att_problems, tx->att_objects);
	return V_OK;
}

verr_t validate_fields(const tx_t *tx, verdict_t *v)
{
	verr_t r;
	if (tx->version != TX_VERSION)
		return fail(v, V_MALFORMED, "tx version %u is not %d", tx->version, TX_VERSION);
	if (!sig_scheme_valid(tx->scheme) || !tx->sender)
		return fail(v, V_MALFORMED, "sender key scheme %u is unknown", tx->scheme);
	switch (tx->type) {
	case TX_REQUEST:
		r = fields_request(tx, v);
		break;
	case TX_RESPONSE:
		r = fields_response(tx, v);
		break;
	case TX_TENANT:
		r = fields_tenant(tx, v);
		break;
	case TX_ATTEST:
		r = fields_attest(tx, v);
		break;
	default:
		return fail(v, V_MALFORMED, "tx type %u is unknown", tx->type);
	}
	return r == V_OK ? pass(v) : r;
}

/* ---- rule 5: requests ---- */

static const char *status_busy(const object_rec_t *o)
{
	if (o->status == OBJ_CREATING)
		return "it is still being created";
	if (o->status == OBJ_DELETING)
		return "it is being deleted";
	if (o->pending_spec)
		return "an update is pending";
	return NULL;
}

/* SFC chain: length within the SLA, every VNF exists, is the sender's and
 * is active: not being deleted, and not still being created (its create
 * may fail, and a chain that named it would then name nothing, or
 * whatever another tenant creates under that name).  VNFs may live in
 * any domain. */
static verr_t check_chain(const state_t *st, const tx_t *tx, const tenant_rec_t *t,
			  const instr_t *in, verdict_t *v)
{
	if (t->sla.max_chain && in->n_chain > t->sla.max_chain)
		return fail(v, V_QUOTA, "chain of %d VNFs exceeds max_chain %u of tenant '%s' in domain '%s'",
			    in->n_chain, t->sla.max_chain, t->name, t->domain);
	for (int i = 0; i < in->n_chain; i++) {
		const char *n = in->chain[i];
		const object_rec_t *o = state_object(st, OBJ_VNF, n, strlen(n));
		if (!o)
			return fail(v, V_NO_OBJECT, "vnf '%s' in the chain does not exist", n);
		if (!same_key(tx->scheme, tx->sender, o->owner))
			return fail(v, V_NOT_OWNER, "vnf '%s' belongs to another tenant", n);
		if (o->status == OBJ_DELETING)
			return fail(v, V_IN_USE, "vnf '%s' in the chain is being deleted", n);
		if (o->status == OBJ_CREATING)
			return fail(v, V_IN_USE, "vnf '%s' in the chain is still being created; chain it once "
				    "its domain's orchestrator has answered", n);
	}
	return V_OK;
}

static verr_t check_create(const state_t *st, const tx_t *tx, const tenant_rec_t *t,
			   const instr_t *in, verdict_t *v)
{
	const char *kn = obj_kind_name(in->kind);
	if (state_object(st, in->kind, in->name, strlen(in->name)))
		return fail(v, V_EXISTS, "%s '%s' already exists", kn, in->name);
	uint32_t max = in->kind == OBJ_VM ? t->sla.max_vms :
		       in->kind == OBJ_VNF ? t->sla.max_vnfs : t->sla.max_sfcs;
	if (max) {
		uint32_t have = state_count(st, tx->scheme, tx->sender, tx->domain, tx->domain_len,
					    in->kind);
		if (have >= max)
			return fail(v, V_QUOTA, "tenant '%s' already has %u %s(s) in domain '%s', its SLA allows %u",
				    t->name, have, kn, t->domain, max);
	}
	if (in->kind == OBJ_VNF && in->vm[0]) {
		const object_rec_t *vm = state_object(st, OBJ_VM, in->vm, strlen(in->vm));
		if (!vm)
			return fail(v, V_NO_OBJECT, "vm '%s' does not exist", in->vm);
		if (!same_key(tx->scheme, tx->sender, vm->owner))
			return fail(v, V_NOT_OWNER, "vm '%s' belongs to another tenant", in->vm);
		if (strlen(vm->domain) != tx->domain_len || memcmp(vm->domain, tx->domain, tx->domain_len))
			return fail(v, V_NO_OBJECT, "vm '%s' lives in domain '%s', not '%s'", in->vm,
				    vm->domain, t->domain);
		if (vm->status == OBJ_DELETING)
			return fail(v, V_IN_USE, "vm '%s' is being deleted", in->vm);
		if (vm->status == OBJ_CREATING)
			return fail(v, V_IN_USE, "vm '%s' is still being created; place a vnf on it once "
				    "the orchestrator has answered", in->vm);
	}
	if (in->kind == OBJ_SFC)
		return check_chain(st, tx, t, in, v);
	return V_OK;
}

static verr_t check_existing(const state_t *st, const tx_t *tx, const tenant_rec_t *t,
			     const instr_t *in, verdict_t *v)
{
	const char *kn = obj_kind_name(in->kind), *busy;
	const object_rec_t *o = state_object(st, in->kind, in->name, strlen(in->name));
	if (!o)
		return fail(v, V_NO_OBJECT, "%s '%s' does not exist", kn, in->name);
	if (!same_key(tx->scheme, tx->sender, o->owner))
		return fail(v, V_NOT_OWNER, "%s '%s' belongs to another tenant", kn, in->name);
	if (strlen(o->domain) != tx->domain_len || memcmp(o->domain, tx->domain, tx->domain_len))
		return fail(v, V_NO_OBJECT, "%s '%s' lives in domain '%s', not '%s'", kn, in->name,
			    o->domain, t->domain);
	if ((busy = status_busy(o)))
		return fail(v, V_IN_USE, "%s '%s' is busy: %s", kn, in->name, busy);
	if (in->verb == VERB_UPDATE) {
		if (in->kind == OBJ_SFC)
			return check_chain(st, tx, t, in, v);
		char why[200];
		char *spec = state_updated_spec(o, in, why, sizeof(why));
		if (!spec)
			return fail(v, V_BAD_INSTRUCTION, "%s", why);
		free(spec);
		return V_OK;
	}
	uint32_t refs = state_refs(st, in->kind, in->name, strlen(in->name));
	if (refs)
		return fail(v, V_IN_USE, "%s '%s' is in use by %u %s", kn, in->name, refs,
			    in->kind == OBJ_VM ? "vnf(s)" : "sfc chain(s)");
	return V_OK;
}

static verr_t check_request(const state_t *st, const tx_t *tx, uint64_t block_ts, verdict_t *v)
{
	quoted_t dom = q(tx->domain, tx->domain_len);
	if (!state_provider_of_domain(st, tx->domain, tx->domain_len))
		return fail(v, V_FORBIDDEN, "domain '%s' belongs to no provider of this consortium", dom.s);
	const tenant_rec_t *t = state_tenant(st, tx->domain, tx->domain_len, tx->scheme, tx->sender);
	if (!t) {
		if (state_was_tenant(st, tx->scheme, tx->sender))
			return fail(v, V_UNKNOWN_TENANT, "tenant %s has no grant in domain '%s'",
				    hx(tx->sender, sig_pub_len(tx->scheme)).s, dom.s);
		return fail(v, V_UNKNOWN_TENANT, "sender %s is not a registered tenant",
			    hx(tx->sender, sig_pub_len(tx->scheme)).s);
	}
	if (t->revoked)
		return fail(v, V_REVOKED, "tenant '%s' was revoked in domain '%s' at block %llu", t->name,
			    dom.s, (unsigned long long)t->height);
	size_t pos;
	char why[200];
	const instr_t *in = instr_parse_ref(tx->instruction, tx->instruction_len, &pos, why, sizeof(why));
	if (!in)
		return fail(v, V_BAD_INSTRUCTION, "instruction %s", why);
	uint16_t op = instr_op_bit(in->kind, in->verb);
	if (!(t->sla.ops & op))
		return fail(v, V_FORBIDDEN, "the SLA of tenant '%s' does not allow %s:%s in domain '%s'",
			    t->name, obj_kind_name(in->kind), verb_name(in->verb), dom.s);
	if (t->sla.rate_per_min) {
		uint32_t n = state_rate_in(st, tx->domain, tx->domain_len, tx->scheme, tx->sender, block_ts);
		if (n >= t->sla.rate_per_min)
			return fail(v, V_RATE, "tenant '%s' made %u requests to domain '%s' in the last minute, its SLA allows %u",
				    t->name, n, dom.s, t->sla.rate_per_min);
	}
	if (in->verb == VERB_CREATE)
		return check_create(st, tx, t, in, v);
	return check_existing(st, tx, t, in, v);
}

/* ---- rule 5: responses and tenant txs ---- */

static verr_t check_response(const state_t *st, const tx_t *tx, verdict_t *v)
{
	char idhex[2 * BSEC_HASH_BYTES + 1];
	const open_request_t *r = state_open_request(st, tx->request_id);
	if (!r) {
		hex_encode(idhex, tx->request_id, BSEC_HASH_BYTES);
		if (state_was_answered(st, tx->request_id))
			return fail(v, V_ANSWERED, "request %s already has a response", idhex);
		return fail(v, V_NO_REQUEST, "no open request %s (not on chain, or answered long ago)",
			    idhex);
	}
	const provider_t *p = state_provider_of_domain(st, r->domain, strlen(r->domain));
	if (!p)
		return fail(v, V_NOT_ORCHESTRATOR, "domain '%s' of the request belongs to no provider",
			    r->domain);
	if (!same_key(tx->scheme, tx->sender, &p->orch_key))
		return fail(v, V_NOT_ORCHESTRATOR,
			    "sender %s is not the orchestrator key of provider '%s', which runs domain '%s'",
			    hx(tx->sender, sig_pub_len(tx->scheme)).s, p->name, r->domain);
	return V_OK;
}

static verr_t check_tenant(const state_t *st, const tx_t *tx, verdict_t *v)
{
	quoted_t dom = q(tx->domain, tx->domain_len);
	const provider_t *p = state_provider_of_domain(st, tx->domain, tx->domain_len);
	if (!p)
		return fail(v, V_NOT_ADMIN, "domain '%s' belongs to no provider of this consortium", dom.s);
	if (!same_key(tx->scheme, tx->sender, &p->admin_key))
		return fail(v, V_NOT_ADMIN, "sender %s is not the admin key of provider '%s', which runs domain '%s'",
			    hx(tx->sender, sig_pub_len(tx->scheme)).s, p->name, dom.s);
	const tenant_rec_t *t = state_tenant(st, tx->domain, tx->domain_len, tx->tenant_scheme,
					     tx->tenant_key);
	short_hex_t key = hx(tx->tenant_key, sig_pub_len(tx->tenant_scheme));
	if (tx->action == TENANT_REGISTER) {
		if (t && !t->revoked)
			return fail(v, V_EXISTS, "tenant key %s is already registered in domain '%s' as '%s'",
				    key.s, dom.s, t->name);
		return V_OK;
	}
	if (!t)
		return fail(v, V_UNKNOWN_TENANT, "tenant key %s is not registered in domain '%s'", key.s,
			    dom.s);
	if (t->revoked)
		return fail(v, V_REVOKED, "tenant '%s' in domain '%s' was revoked at block %llu", t->name,
			    dom.s, (unsigned long long)t->height);
	return V_OK;
}

static verr_t check_attest(const state_t *st, const tx_t *tx, verdict_t *v)
{
	quoted_t dom = q(tx->domain, tx->domain_len);
	const provider_t *p = state_provider_of_domain(st, tx->domain, tx->domain_len);
	if (!p)
		return fail(v, V_NOT_ORCHESTRATOR, "domain '%s' belongs to no provider of this consortium",
			    dom.s);
	if (!same_key(tx->scheme, tx->sender, &p->orch_key))
		return fail(v, V_NOT_ORCHESTRATOR,
			    "sender %s is not the orchestrator key of provider '%s', which runs domain '%s'",
			    hx(tx->sender, sig_pub_len(tx->scheme)).s, p->name, dom.s);
	if (tx->att_height > state_height(st))
		return fail(v, V_BAD_ATTESTATION,
			    "the attestation of domain '%s' is for height %llu, beyond the chain's %llu",
			    dom.s, (unsigned long long)tx->att_height,
			    (unsigned long long)state_height(st));
	const attest_rec_t *last = state_attestation(st, tx->domain, tx->domain_len);
	if (last && tx->att_height < last->attested_height)
		return fail(v, V_BAD_ATTESTATION,
			    "the attestation of domain '%s' is for height %llu, before its last one (%llu)",
			    dom.s, (unsigned long long)tx->att_height,
			    (unsigned long long)last->attested_height);
	return V_OK;
}

verr_t validate_tx(const state_t *st, const tx_t *tx, uint64_t block_ts, verdict_t *v)
{
	verr_t r;
	if ((r = validate_fields(tx, v)) != V_OK)
		return r;
	uint64_t window = state_genesis(st)->params.timestamp_window_ms;
	uint64_t off = tx->timestamp_ms > block_ts ? tx->timestamp_ms - block_ts :
						     block_ts - tx->timestamp_ms;
	if (off > window)
		return fail(v, V_TIMESTAMP, "timestamp %llu is %llu ms %s the block time %llu (window %llu ms)",
			    (unsigned long long)tx->timestamp_ms, (unsigned long long)off,
			    tx->timestamp_ms > block_ts ? "ahead of" : "behind",
			    (unsigned long long)block_ts, (unsigned long long)window);
	if (state_has_tx(st, tx->id)) {
		char idhex[2 * BSEC_HASH_BYTES + 1];
		hex_encode(idhex, tx->id, BSEC_HASH_BYTES);
		return fail(v, V_DUPLICATE, "tx %s is already in the chain", idhex);
	}
	switch (tx->type) {
	case TX_REQUEST:
		r = check_request(st, tx, block_ts, v);
		break;
	case TX_RESPONSE:
		r = check_response(st, tx, v);
		break;
	case TX_ATTEST:
		r = check_attest(st, tx, v);
		break;
	default:
		r = check_tenant(st, tx, v);
		break;
	}
	return r == V_OK ? pass(v) : r;
}

/* ---- micro-benchmark ---- */

double validate_bench_ns(void)
{
	double ret = -1;
	genesis_t g;
	provider_t prov;
	genesis_tenant_t gt;
	grant_t grant;
	char dom[] = "p0", *doms[1] = { dom };
	char err[256];
	verdict_t v;
	tx_t tx, req;
	state_t *st = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	sig_key_t *pk = sig_keygen(SIG_ED25519), *tk = sig_keygen(SIG_ED25519);
	const uint64_t t0 = 1763700000000ull;

	memset(&g, 0, sizeof(g));
	memset(&prov, 0, sizeof(prov));
	memset(&gt, 0, sizeof(gt));
	memset(&grant, 0, sizeof(grant));
	memset(&req, 0, sizeof(req));
	params_default(&g.params);
	hash_sha256(g.chain_id, "bsec validate bench", 19);
	snprintf(prov.name, sizeof(prov.name), "p0");
	prov.domains = doms;
	prov.n_domains = 1;
	prov.node_key.scheme = prov.orch_key.scheme = prov.admin_key.scheme = SIG_ED25519;
	memcpy(prov.node_key.key, sig_key_pub(pk), sig_pub_len(SIG_ED25519));
	memcpy(prov.orch_key.key, sig_key_pub(pk), sig_pub_len(SIG_ED25519));
	memcpy(prov.admin_key.key, sig_key_pub(pk), sig_pub_len(SIG_ED25519));
	g.providers = &prov;
	g.n_providers = 1;
	snprintf(gt.name, sizeof(gt.name), "bench");
	gt.key.scheme = SIG_ED25519;
	memcpy(gt.key.key, sig_key_pub(tk), sig_pub_len(SIG_ED25519));
	snprintf(grant.domain, sizeof(grant.domain), "p0");
	grant.sla = (sla_t){ .ops = OP_ALL, .max_vms = 100, .max_vnfs = 100, .max_sfcs = 100,
			     .max_chain = 8, .rate_per_min = 1000000 };
	gt.grants = &grant;
	gt.n_grants = 1;
	g.tenants = &gt;
	g.n_tenants = 1;
	st = state_new(&g);

	/* a VM for the VNF to run on, created and acknowledged in block 1 */
	state_begin_block(st, 1, t0);
	tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = t0, .nonce = 1, .domain = "p0",
			  .instruction = "vm create vm1 --image debian-12 --flavor small" };
	if (tx_build(&tx, &f, tk, g.chain_id, err, sizeof(err)) < 0)
		goto out;
	state_apply_tx(st, &tx);
	tx_fields_t fr = { .type = TX_RESPONSE, .timestamp_ms = t0, .nonce = 2,
			   .request_id = tx.id, .status = TX_STATUS_OK, .result = "vm1 up" };
	if (tx_build(&req, &fr, pk, g.chain_id, err, sizeof(err)) < 0) {
		tx_clear(&tx);
		goto out;
	}
	state_apply_tx(st, &req);
	tx_clear(&tx);
	tx_clear(&req);
	state_forget_undo(st);

	/* the measured request */
	char instr[160];
	snprintf(instr, sizeof(instr), "vnf create fw1 --type %s --vm vm1 --config mode=strict",
		 INSTR_VNF_TYPES[0]);
	f = (tx_fields_t){ .type = TX_REQUEST, .timestamp_ms = t0 + 1000, .nonce = 3, .domain = "p0",
			   .instruction = instr };
	if (tx_build(&req, &f, tk, g.chain_id, err, sizeof(err)) < 0)
		goto out;
	raw_len = req.raw_len;
	raw = xmalloc(raw_len);
	memcpy(raw, req.raw, raw_len);
	tx_clear(&req);

	uint64_t start = mono_us(), elapsed = 0, iters = 0;
	while (elapsed < 300000) {
		for (int i = 0; i < 256; i++) {
			if (tx_decode(&tx, raw, raw_len, g.chain_id, err, sizeof(err)) < 0)
				goto out;
			verr_t r = validate_tx(st, &tx, t0 + 1000, &v);
			tx_clear(&tx);
			if (r != V_OK)
				goto out;
		}
		iters += 256;
		elapsed = mono_us() - start;
	}
	ret = (double)elapsed * 1000.0 / (double)iters;
out:
	free(raw);
	state_free(st);
	sig_key_free(pk);
	sig_key_free(tk);
	return ret;
}
