/*
 * tx.c — canonical encoding, decoding, ids, signatures and JSON view of
 * BSec transactions (see tx.h for the byte layout).
 */
#include "tx.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* ---- SLA operations ---- */

static const struct {
	const char *name;
	uint16_t bits;
} op_names[] = {
	{ "vm:create", OP_VM_CREATE },   { "vm:delete", OP_VM_DELETE },
	{ "vnf:create", OP_VNF_CREATE }, { "vnf:update", OP_VNF_UPDATE },
	{ "vnf:delete", OP_VNF_DELETE }, { "sfc:create", OP_SFC_CREATE },
	{ "sfc:update", OP_SFC_UPDATE }, { "sfc:delete", OP_SFC_DELETE },
	{ "vm:*", OP_VM_CREATE | OP_VM_DELETE },
	{ "vnf:*", OP_VNF_CREATE | OP_VNF_UPDATE | OP_VNF_DELETE },
	{ "sfc:*", OP_SFC_CREATE | OP_SFC_UPDATE | OP_SFC_DELETE },
	{ "*", OP_ALL },
};

int sla_ops_parse(uint16_t *ops, const char *text, char *err, size_t errlen)
{
	uint16_t bits = 0;
	const char *p = text;
	if (!*p) {
		*ops = 0;
		return 0;
	}
	for (;;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t i;
		for (i = 0; i < ARRAY_LEN(op_names); i++)
			if (strlen(op_names[i].name) == n && !memcmp(op_names[i].name, p, n))
				break;
		if (i == ARRAY_LEN(op_names)) {
			err_set(err, errlen,
				"unknown operation `%.*s' (expected vm|vnf|sfc:create|update|delete|*, or *)",
				(int)n, p);
			return -1;
		}
		bits |= op_names[i].bits;
		if (!e)
			break;
		p = e + 1;
	}
	*ops = bits;
	return 0;
}

char *sla_ops_format(uint16_t ops)
{
	if ((ops & OP_ALL) == OP_ALL)
		return xstrdup("*");
	buf_t b;
	buf_init(&b);
	for (size_t i = 0; i < 8; i++) {
		if (!(ops & op_names[i].bits))
			continue;
		if (b.len)
			buf_u8(&b, ',');
		buf_put(&b, op_names[i].name, strlen(op_names[i].name));
	}
	buf_u8(&b, 0);
	size_t n;
	return (char *)buf_steal(&b, &n);
}

/* ---- names ---- */

static const char *const type_names[] = { NULL, "request", "response", "tenant", "attest" };
static const char *const action_names[] = { NULL, "register", "update", "revoke" };

const char *tx_type_name(int type)
{
	return type >= 1 && type <= TX_TYPE_MAX ? type_names[type] : "unknown";
}

int tx_type_parse(const char *s)
{
	for (int i = 1; i <= TX_TYPE_MAX; i++)
		if (!strcmp(s, type_names[i]))
			return i;
	return -1;
}

const char *tenant_action_name(int a)
{
	return a >= 1 && a <= 3 ? action_names[a] : "unknown";
}

/* ---- encoding ---- */

static void compute_id(tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES])
{
	hash_ctx_t c;
	hash_init(&c);
	hash_update(&c, chain_id, BSEC_HASH_BYTES);
	hash_update(&c, tx->raw, tx->content_len);
	hash_final(&c, tx->id);
}

int tx_raw_id(const uint8_t *raw, size_t len, const uint8_t chain_id[BSEC_HASH_BYTES],
	      uint8_t id[BSEC_HASH_BYTES])
{
	/* version, type, timestamp, nonce, then the sender's scheme */
	const size_t scheme_at = 1 + 1 + 8 + 4;
	if (len <= scheme_at || !sig_scheme_valid(raw[scheme_at]))
		return -1;
	size_t sl = sig_sig_len(raw[scheme_at]);
	if (len < scheme_at + 1 + sig_pub_len(raw[scheme_at]) + sl)
		return -1;
	hash_ctx_t c;
	hash_init(&c);
	hash_update(&c, chain_id, BSEC_HASH_BYTES);
	hash_update(&c, raw, len - sl);
	hash_final(&c, id);
	return 0;
}

/* Parses raw (owned by tx) into the fields.  Returns 0 or -1 with err. */
static int parse_raw(tx_t *tx, char *err, size_t errlen)
{
	rd_t r;
	rd_init(&r, tx->raw, tx->raw_len);
	tx->version = rd_u8(&r);
	if (rd_ok(&r) && tx->version != TX_VERSION) {
		r.off = 0;
		rd_fail(&r, "unknown version");
		goto bad;
	}
	size_t at = r.off;
	tx->type = rd_u8(&r);
	if (rd_ok(&r) && (tx->type < TX_REQUEST || tx->type > TX_TYPE_MAX)) {
		r.off = at;
		rd_fail(&r, "unknown tx type");
		goto bad;
	}
	tx->timestamp_ms = rd_u64(&r);
	tx->nonce = rd_u32(&r);
	at = r.off;
	tx->scheme = rd_u8(&r);
	if (rd_ok(&r) && !sig_scheme_valid(tx->scheme)) {
		r.off = at;
		rd_fail(&r, "unknown signature scheme");
		goto bad;
	}
	tx->sender = rd_bytes(&r, sig_pub_len(tx->scheme));
	switch (tx->type) {
	case TX_REQUEST:
		tx->domain = rd_str8(&r, &tx->domain_len, TX_MAX_DOMAIN);
		tx->instruction = rd_str16(&r, &tx->instruction_len, TX_MAX_INSTRUCTION);
		break;
	case TX_RESPONSE:
		tx->request_id = rd_bytes(&r, BSEC_HASH_BYTES);
		at = r.off;
		tx->status = rd_u8(&r);
		if (rd_ok(&r) && tx->status > TX_STATUS_ERROR) {
			r.off = at;
			rd_fail(&r, "unknown response status");
		}
		tx->result = rd_str16(&r, &tx->result_len, TX_MAX_RESULT);
		tx->error = rd_str16(&r, &tx->error_len, TX_MAX_ERROR);
		break;
	case TX_TENANT:
		at = r.off;
		tx->action = rd_u8(&r);
		if (rd_ok(&r) && (tx->action < TENANT_REGISTER || tx->action > TENANT_REVOKE)) {
			r.off = at;
			rd_fail(&r, "unknown tenant action");
		}
		tx->domain = rd_str8(&r, &tx->domain_len, TX_MAX_DOMAIN);
		at = r.off;
		tx->tenant_scheme = rd_u8(&r);
		if (rd_ok(&r) && !sig_scheme_valid(tx->tenant_scheme)) {
			r.off = at;
			rd_fail(&r, "unknown tenant key scheme");
		}
		tx->tenant_key = rd_bytes(&r, sig_pub_len(tx->tenant_scheme));
		tx->name = rd_str8(&r, &tx->name_len, TX_MAX_NAME);
		at = r.off;
		tx->sla.ops = rd_u16(&r);
		if (rd_ok(&r) && (tx->sla.ops & ~OP_ALL)) {
			r.off = at;
			rd_fail(&r, "unknown SLA operation bits");
		}
		tx->sla.max_vms = rd_u32(&r);
		tx->sla.max_vnfs = rd_u32(&r);
		tx->sla.max_sfcs = rd_u32(&r);
		tx->sla.max_chain = rd_u16(&r);
		tx->sla.rate_per_min = rd_u32(&r);
		break;
	case TX_ATTEST:
		tx->domain = rd_str8(&r, &tx->domain_len, TX_MAX_DOMAIN);
		tx->att_height = rd_u64(&r);
		tx->att_objects = rd_u32(&r);
		at = r.off;
		tx->att_problems = rd_u32(&r);
		if (rd_ok(&r) && tx->att_problems > tx->att_objects) {
			r.off = at;
			rd_fail(&r, "more problems than objects");
		}
		tx->att_digest = rd_bytes(&r, BSEC_HASH_BYTES);
		break;
	}
	tx->content_len = r.off;
	tx->sig = rd_bytes(&r, sig_sig_len(tx->scheme));
	if (!rd_end(&r))
		goto bad;
	return 0;
bad:
	err_set(err, errlen, "offset %zu: %s", r.err_off, r.err);
	return -1;
}

/* tx_decode with the id hashed under chain_id, or copied from id. */
static int decode(tx_t *out, const uint8_t *data, size_t len, const uint8_t *chain_id,
		  const uint8_t *id, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (len > TX_MAX_BYTES) {
		err_set(err, errlen, "tx of %zu bytes exceeds the limit of %d", len, TX_MAX_BYTES);
		return -1;
	}
	out->raw = xmalloc(len ? len : 1);
	memcpy(out->raw, data, len);
	out->raw_len = len;
	if (parse_raw(out, err, errlen) < 0) {
		tx_clear(out);
		return -1;
	}
	if (id)
		memcpy(out->id, id, BSEC_HASH_BYTES);
	else
		compute_id(out, chain_id);
	return 0;
}

int tx_decode(tx_t *out, const uint8_t *data, size_t len, const uint8_t chain_id[BSEC_HASH_BYTES],
	      char *err, size_t errlen)
{
	return decode(out, data, len, chain_id, NULL, err, errlen);
}

int tx_decode_with_id(tx_t *out, const uint8_t *data, size_t len, const uint8_t id[BSEC_HASH_BYTES],
		      char *err, size_t errlen)
{
	return decode(out, data, len, NULL, id, err, errlen);
}

void tx_clear(tx_t *tx)
{
	if (!tx)
		return;
	free(tx->raw);
	memset(tx, 0, sizeof(*tx));
}

void tx_copy(tx_t *dst, const tx_t *src)
{
	uint8_t id[BSEC_HASH_BYTES];
	memcpy(id, src->id, sizeof(id));
	memset(dst, 0, sizeof(*dst));
	dst->raw = xmalloc(src->raw_len);
	memcpy(dst->raw, src->raw, src->raw_len);
	dst->raw_len = src->raw_len;
	if (parse_raw(dst, NULL, 0) < 0)
		abort(); /* src was decoded, so its bytes parse */
	memcpy(dst->id, id, sizeof(id));
}

static int check_len(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
	size_t n = s ? strlen(s) : 0;
	if (n > max) {
		err_set(err, errlen, "%s is %zu bytes, the limit is %zu", what, n, max);
		return -1;
	}
	return 0;
}

static void put_s8(buf_t *b, const char *s)
{
	buf_str8(b, s ? s : "", s ? strlen(s) : 0);
}

static void put_s16(buf_t *b, const char *s)
{
	buf_str16(b, s ? s : "", s ? strlen(s) : 0);
}

uint8_t *tx_signed_bytes(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES], size_t *len)
{
	buf_t b;
	buf_init(&b);
	buf_reserve(&b, sizeof(TX_SIG_TAG) - 1 + BSEC_HASH_BYTES + tx->content_len);
	buf_put(&b, TX_SIG_TAG, sizeof(TX_SIG_TAG) - 1);
	buf_put(&b, chain_id, BSEC_HASH_BYTES);
	buf_put(&b, tx->raw, tx->content_len);
	return buf_steal(&b, len);
}

int tx_build(tx_t *out, const tx_fields_t *f, const sig_key_t *key,
	     const uint8_t chain_id[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	int ret = -1;
	buf_t b;
	buf_init(&b);
	uint8_t *msg = NULL;
	memset(out, 0, sizeof(*out));
	if (f->type < TX_REQUEST || f->type > TX_TYPE_MAX) {
		err_set(err, errlen, "unknown tx type %d", f->type);
		goto out;
	}
	if (check_len("domain", f->domain, TX_MAX_DOMAIN, err, errlen) < 0 ||
	    check_len("instruction", f->instruction, TX_MAX_INSTRUCTION, err, errlen) < 0 ||
	    check_len("result", f->result, TX_MAX_RESULT, err, errlen) < 0 ||
	    check_len("error", f->error, TX_MAX_ERROR, err, errlen) < 0 ||
	    check_len("name", f->name, TX_MAX_NAME, err, errlen) < 0)
		goto out;
	int scheme = sig_key_scheme(key);
	uint32_t nonce = f->nonce;
	if (!nonce)
		nonce = randombytes_random() | 1;
	buf_u8(&b, TX_VERSION);
	buf_u8(&b, f->type);
	buf_u64(&b, f->timestamp_ms ? f->timestamp_ms : now_ms());
	buf_u32(&b, nonce);
	buf_u8(&b, (uint8_t)scheme);
	buf_put(&b, sig_key_pub(key), sig_pub_len(scheme));
	switch (f->type) {
	case TX_REQUEST:
		put_s8(&b, f->domain);
		put_s16(&b, f->instruction);
		break;
	case TX_RESPONSE:
		if (!f->request_id) {
			err_set(err, errlen, "a response needs the request id");
			goto out;
		}
		buf_put(&b, f->request_id, BSEC_HASH_BYTES);
		buf_u8(&b, f->status);
		put_s16(&b, f->result);
		put_s16(&b, f->error);
		break;
	case TX_TENANT:
		if (!f->tenant_key || !sig_scheme_valid(f->tenant_scheme)) {
			err_set(err, errlen, "a tenant tx needs the tenant's public key");
			goto out;
		}
		buf_u8(&b, f->action);
		put_s8(&b, f->domain);
		buf_u8(&b, f->tenant_scheme);
		buf_put(&b, f->tenant_key, sig_pub_len(f->tenant_scheme));
		put_s8(&b, f->name);
		buf_u16(&b, f->sla.ops);
		buf_u32(&b, f->sla.max_vms);
		buf_u32(&b, f->sla.max_vnfs);
		buf_u32(&b, f->sla.max_sfcs);
		buf_u16(&b, f->sla.max_chain);
		buf_u32(&b, f->sla.rate_per_min);
		break;
	case TX_ATTEST:
		if (!f->att_digest || f->att_problems > f->att_objects) {
			err_set(err, errlen, "an attestation needs a digest and problems <= objects");
			goto out;
		}
		put_s8(&b, f->domain);
		buf_u64(&b, f->att_height);
		buf_u32(&b, f->att_objects);
		buf_u32(&b, f->att_problems);
		buf_put(&b, f->att_digest, BSEC_HASH_BYTES);
		break;
	}
	size_t content_len = b.len;
	/* sign tag || chain_id || content */
	tx_t tmp = { .raw = b.data, .content_len = content_len };
	size_t mlen;
	msg = tx_signed_bytes(&tmp, chain_id, &mlen);
	buf_reserve(&b, sig_sig_len(scheme));
	if (sig_sign(key, b.data + b.len, msg, mlen) < 0) {
		err_set(err, errlen, "signing failed");
		goto out;
	}
	b.len += sig_sig_len(scheme);
	if (tx_decode(out, b.data, b.len, chain_id, err, errlen) < 0)
		goto out;
	ret = 0;
out:
	free(msg);
	buf_free(&b);
	return ret;
}

int tx_verify_sig(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES])
{
	size_t mlen;
	uint8_t *msg = tx_signed_bytes(tx, chain_id, &mlen);
	int r = sig_verify(tx->scheme, tx->sender, tx->sig, msg, mlen);
	free(msg);
	return r;
}

size_t tx_verify_sigs(const tx_t *const *txs, size_t n, const uint8_t chain_id[BSEC_HASH_BYTES],
		      uint8_t *bad)
{
	if (!n)
		return 0;
	sig_item_t *it = xmalloc(n * sizeof(*it));
	size_t total = 0, at = 0;
	for (size_t i = 0; i < n; i++)
		total += sizeof(TX_SIG_TAG) - 1 + BSEC_HASH_BYTES + txs[i]->content_len;
	/* every signed message in one arena: tag || chain_id || content */
	uint8_t *arena = xmalloc(total ? total : 1);
	for (size_t i = 0; i < n; i++) {
		const tx_t *t = txs[i];
		uint8_t *m = arena + at;
		memcpy(m, TX_SIG_TAG, sizeof(TX_SIG_TAG) - 1);
		memcpy(m + sizeof(TX_SIG_TAG) - 1, chain_id, BSEC_HASH_BYTES);
		memcpy(m + sizeof(TX_SIG_TAG) - 1 + BSEC_HASH_BYTES, t->raw, t->content_len);
		size_t ml = sizeof(TX_SIG_TAG) - 1 + BSEC_HASH_BYTES + t->content_len;
		it[i] = (sig_item_t){ .scheme = t->scheme, .pub = t->sender, .sig = t->sig, .msg = m, .len = ml };
		at += ml;
	}
	size_t nbad = sig_verify_many(it, n, bad);
	free(arena);
	free(it);
	return nbad;
}

/* ---- JSON ---- */

static json_t *jstrn(const char *s, size_t n)
{
	return json_stringn_nocheck(s ? s : "", s ? n : 0);
}

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

json_t *tx_to_json(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES])
{
	json_t *o = json_object();
	size_t mlen;
	uint8_t *msg = tx_signed_bytes(tx, chain_id, &mlen);
	char *pem = sig_pub_to_pem(tx->scheme, tx->sender);
	json_object_set_new(o, "id", jhex(tx->id, BSEC_HASH_BYTES));
	json_object_set_new(o, "type", json_string(tx_type_name(tx->type)));
	json_object_set_new(o, "size", json_integer((json_int_t)tx->raw_len));
	json_object_set_new(o, "version", json_integer(tx->version));
	json_object_set_new(o, "timestamp_ms", json_integer((json_int_t)tx->timestamp_ms));
	json_object_set_new(o, "nonce", json_integer(tx->nonce));
	json_object_set_new(o, "scheme", json_string(sig_scheme_name(tx->scheme)));
	json_object_set_new(o, "sender_hex", jhex(tx->sender, sig_pub_len(tx->scheme)));
	json_object_set_new(o, "public_key_pem", json_string(pem ? pem : ""));
	switch (tx->type) {
	case TX_REQUEST:
		json_object_set_new(o, "domain", jstrn(tx->domain, tx->domain_len));
		json_object_set_new(o, "instruction", jstrn(tx->instruction, tx->instruction_len));
		break;
	case TX_RESPONSE:
		json_object_set_new(o, "request_id", jhex(tx->request_id, BSEC_HASH_BYTES));
		json_object_set_new(o, "status", json_string(tx->status == TX_STATUS_OK ? "ok" : "error"));
		json_object_set_new(o, "result", jstrn(tx->result, tx->result_len));
		json_object_set_new(o, "error", jstrn(tx->error, tx->error_len));
		break;
	case TX_TENANT: {
		char *ops = sla_ops_format(tx->sla.ops);
		char *tpem = sig_pub_to_pem(tx->tenant_scheme, tx->tenant_key);
		json_object_set_new(o, "action", json_string(tenant_action_name(tx->action)));
		json_object_set_new(o, "domain", jstrn(tx->domain, tx->domain_len));
		json_object_set_new(o, "tenant_scheme", json_string(sig_scheme_name(tx->tenant_scheme)));
		json_object_set_new(o, "tenant_key_hex", jhex(tx->tenant_key, sig_pub_len(tx->tenant_scheme)));
		json_object_set_new(o, "tenant_key_pem", json_string(tpem ? tpem : ""));
		json_object_set_new(o, "name", jstrn(tx->name, tx->name_len));
		json_object_set_new(o, "sla", json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "ops", ops,
			"max_vms", (json_int_t)tx->sla.max_vms, "max_vnfs", (json_int_t)tx->sla.max_vnfs,
			"max_sfcs", (json_int_t)tx->sla.max_sfcs, "max_chain", (json_int_t)tx->sla.max_chain,
			"rate_per_min", (json_int_t)tx->sla.rate_per_min));
		free(ops);
		free(tpem);
		break;
	}
	case TX_ATTEST:
		json_object_set_new(o, "domain", jstrn(tx->domain, tx->domain_len));
		json_object_set_new(o, "attested_height", json_integer((json_int_t)tx->att_height));
		json_object_set_new(o, "objects", json_integer((json_int_t)tx->att_objects));
		json_object_set_new(o, "problems", json_integer((json_int_t)tx->att_problems));
		json_object_set_new(o, "digest", jhex(tx->att_digest, BSEC_HASH_BYTES));
		break;
	}
	json_object_set_new(o, "signed_bytes_hex", jhex(msg, mlen));
	json_object_set_new(o, "signature_hex", jhex(tx->sig, sig_sig_len(tx->scheme)));
	json_object_set_new(o, "raw_hex", jhex(tx->raw, tx->raw_len));
	free(pem);
	free(msg);
	return o;
}

/* ---- tx files ---- */

int txfile_write(const char *path, const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES],
		 char *err, size_t errlen)
{
	buf_t b;
	buf_init(&b);
	buf_put(&b, TXFILE_MAGIC, 4);
	buf_put(&b, chain_id, BSEC_HASH_BYTES);
	buf_put(&b, tx->raw, tx->raw_len);
	int r = file_write(path, b.data, b.len, 0644, err, errlen);
	buf_free(&b);
	return r;
}

int txfile_read(const char *path, tx_t *out, uint8_t chain_id[BSEC_HASH_BYTES], char *err, size_t errlen)
{
	size_t len;
	char why[256];
	uint8_t *d = file_read(path, &len, 4 + BSEC_HASH_BYTES + TX_MAX_BYTES, err, errlen);
	if (!d)
		return -1;
	int ret = -1;
	if (len < 4 + BSEC_HASH_BYTES || memcmp(d, TXFILE_MAGIC, 4) != 0) {
		err_set(err, errlen, "`%s' is not a BSec tx file (no BSTX header)", path);
		goto out;
	}
	memcpy(chain_id, d + 4, BSEC_HASH_BYTES);
	if (tx_decode(out, d + 4 + BSEC_HASH_BYTES, len - 4 - BSEC_HASH_BYTES, chain_id, why,
		      sizeof(why)) < 0) {
		err_set(err, errlen, "`%s': bad tx at %s", path, why);
		goto out;
	}
	ret = 0;
out:
	free(d);
	return ret;
}
