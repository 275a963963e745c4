/*
 * drift.c — the drift audit (drift.h).
 *
 * While the auditor walks the verified chain, the observer keeps the
 * domain's objects as the chain state has them (a map kind|name ->
 * status, spec, pending spec) and a log of every change with the height
 * it happened at and the value before it.  An ATTEST of the domain is
 * judged once its block is applied: the expected set after the height it
 * names is the current map with the changes after that height undone
 * (usually none: the digest of the current map is cached until the next
 * change).  After the walk the map is the ledger's word on what must
 * exist now, and is compared with the driver's listing.
 */
#include "drift.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ledger/attest.h"
#include "../ledger/instr.h"
#include "../lib/map.h"

#define KEY_MAX (1 + INSTR_MAX_NAME)

typedef struct {
	int kind;
	char name[INSTR_MAX_NAME + 1];
	uint8_t status;
	char *spec, *pending;
} dobj_t;

typedef struct {
	uint64_t height;
	uint8_t key[KEY_MAX];
	size_t klen;
	dobj_t *old;                  /* NULL: absent before */
} change_t;

typedef struct {
	uint8_t tx_id[BSEC_HASH_BYTES];
	uint64_t att_height, height, block_ts, ts;
	uint32_t objects, problems, expected_objects;
	uint8_t digest[BSEC_HASH_BYTES], expected[BSEC_HASH_BYTES];
	int judged, matched;
} att_t;

struct drift_t {
	const genesis_t *g;
	const provider_t *p;
	char domain[TX_MAX_DOMAIN + 1];
	map_t *objs;                  /* key -> dobj_t* */
	change_t *log;
	size_t n_log, cap_log;
	uint64_t last_change;
	int cache_ok;
	uint8_t cache[BSEC_HASH_BYTES];
	uint32_t cache_n;
	att_t *atts;
	size_t n_atts, cap_atts;
	int resp_ours;                /* before_tx: the response's request is of this domain */
	int resp_kind;
	char resp_name[INSTR_MAX_NAME + 1];
	uint64_t height, tip_ts;
};

static size_t key_of(uint8_t *k, int kind, const char *name)
{
	size_t n = strnlen(name, INSTR_MAX_NAME);
	k[0] = (uint8_t)kind;
	memcpy(k + 1, name, n);
	return 1 + n;
}

static void dobj_free(dobj_t *o)
{
	if (!o)
		return;
	free(o->spec);
	free(o->pending);
	free(o);
}

drift_t *drift_new(const genesis_t *g, const char *domain)
{
	drift_t *d = xcalloc(1, sizeof(*d));
	d->g = g;
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	d->p = genesis_provider_of_domain(g, domain, strlen(domain));
	d->objs = map_new();
	return d;
}

void drift_free(drift_t *d)
{
	if (!d)
		return;
	size_t i = 0, kl;
	const void *k;
	void *v;
	while (map_next(d->objs, &i, &k, &kl, &v))
		dobj_free(v);
	map_free(d->objs);
	for (size_t j = 0; j < d->n_log; j++)
		dobj_free(d->log[j].old);
	free(d->log);
	free(d->atts);
	free(d);
}

static int same(const dobj_t *a, const dobj_t *b)
{
	if (!a || !b)
		return a == b;
	return a->status == b->status && !strcmp(a->spec ? a->spec : "", b->spec ? b->spec : "") &&
	       !a->pending == !b->pending && (!a->pending || !strcmp(a->pending, b->pending));
}

/* Brings the map's record of (kind, name) in line with the chain state. */
static void refresh(drift_t *d, const state_t *st, int kind, const char *name, uint64_t height)
{
	uint8_t k[KEY_MAX];
	size_t kl = key_of(k, kind, name);
	const object_rec_t *o = state_object(st, kind, name, strlen(name));
	dobj_t *now = NULL, *cur = map_get(d->objs, k, kl);
	if (o && !strcmp(o->domain, d->domain)) {
		now = xcalloc(1, sizeof(*now));
		now->kind = kind;
		snprintf(now->name, sizeof(now->name), "%s", name);
		now->status = o->status;
		now->spec = xstrdup(o->spec ? o->spec : "");
		now->pending = o->pending_spec ? xstrdup(o->pending_spec) : NULL;
	}
	if (same(cur, now)) {
		dobj_free(now);
		return;
	}
	if (d->n_log == d->cap_log) {
		d->cap_log = d->cap_log ? 2 * d->cap_log : 64;
		d->log = xrealloc(d->log, d->cap_log * sizeof(*d->log));
	}
	change_t *c = &d->log[d->n_log++];
	c->height = height;
	memcpy(c->key, k, kl);
	c->klen = kl;
	c->old = cur;                 /* the log owns it now */
	if (now)
		map_put(d->objs, k, kl, now);
	else
		map_del(d->objs, k, kl);
	d->last_change = height;
	d->cache_ok = 0;
}

/* Digest of the expected set held in map m (values dobj_t*). */
static void digest_of(const map_t *m, uint8_t out[BSEC_HASH_BYTES], uint32_t *count)
{
	size_t i = 0, kl, n = 0;
	const void *k;
	void *v;
	attest_entry_t *e = xcalloc(map_size(m) + 1, sizeof(*e));
	while (map_next(m, &i, &k, &kl, &v)) {
		const dobj_t *o = v;
		if (o->status == OBJ_ACTIVE || o->status == OBJ_DELETING)
			e[n++] = (attest_entry_t){ o->kind, o->name, o->spec, 1 };
	}
	attest_digest(out, e, n);
	*count = (uint32_t)n;
	free(e);
}

/* The ledger-expected digest after block h. */
static void digest_at(drift_t *d, uint64_t h, uint8_t out[BSEC_HASH_BYTES], uint32_t *count)
{
	if (h >= d->last_change) {
		if (!d->cache_ok) {
			digest_of(d->objs, d->cache, &d->cache_n);
			d->cache_ok = 1;
		}
		memcpy(out, d->cache, BSEC_HASH_BYTES);
		*count = d->cache_n;
		return;
	}
	/* a view of the map with the later changes undone (borrowed values) */
	map_t *m = map_new();
	size_t i = 0, kl;
	const void *k;
	void *v;
	while (map_next(d->objs, &i, &k, &kl, &v))
		map_put(m, k, kl, v);
	for (size_t j = d->n_log; j > 0 && d->log[j - 1].height > h; j--) {
		const change_t *c = &d->log[j - 1];
		if (c->old)
			map_put(m, c->key, c->klen, c->old);
		else
			map_del(m, c->key, c->klen);
	}
	digest_of(m, out, count);
	map_free(m);
}

static void before_tx(void *ctx, const state_t *st, const block_header_t *h, uint32_t index,
		      const tx_t *tx)
{
	drift_t *d = ctx;
	(void)h;
	(void)index;
	d->resp_ours = 0;
	if (tx->type != TX_RESPONSE)
		return;
	const open_request_t *r = state_open_request(st, tx->request_id);
	if (r && !strcmp(r->domain, d->domain)) {
		d->resp_ours = 1;
		d->resp_kind = r->kind;
		snprintf(d->resp_name, sizeof(d->resp_name), "%s", r->name);
	}
}

static void after_tx(void *ctx, const state_t *st, const block_header_t *h, uint32_t index,
		     const tx_t *tx)
{
	drift_t *d = ctx;
	size_t dl = strlen(d->domain);
	(void)index;
	switch (tx->type) {
	case TX_REQUEST: {
		instr_t in;
		size_t pos;
		char why[160];
		if (tx->domain_len != dl || memcmp(tx->domain, d->domain, dl) ||
		    instr_parse(&in, tx->instruction, tx->instruction_len, &pos, why, sizeof(why)) < 0)
			return;
		refresh(d, st, in.kind, in.name, h->height);
		break;
	}
	case TX_RESPONSE:
		if (d->resp_ours)
			refresh(d, st, d->resp_kind, d->resp_name, h->height);
		break;
	case TX_ATTEST:
		if (tx->domain_len != dl || memcmp(tx->domain, d->domain, dl))
			return;
		if (d->n_atts == d->cap_atts) {
			d->cap_atts = d->cap_atts ? 2 * d->cap_atts : 64;
			d->atts = xrealloc(d->atts, d->cap_atts * sizeof(*d->atts));
		}
		att_t *a = &d->atts[d->n_atts++];
		memset(a, 0, sizeof(*a));
		memcpy(a->tx_id, tx->id, BSEC_HASH_BYTES);
		a->att_height = tx->att_height;
		a->height = h->height;
		a->block_ts = h->timestamp_ms;
		a->ts = tx->timestamp_ms;
		a->objects = tx->att_objects;
		a->problems = tx->att_problems;
		memcpy(a->digest, tx->att_digest, BSEC_HASH_BYTES);
		break;
	}
}

static void after_block(void *ctx, const state_t *st, const block_header_t *h)
{
	drift_t *d = ctx;
	(void)st;
	d->height = h->height;
	d->tip_ts = h->timestamp_ms;
	for (size_t i = d->n_atts; i > 0 && !d->atts[i - 1].judged; i--) {
		att_t *a = &d->atts[i - 1];
		digest_at(d, a->att_height, a->expected, &a->expected_objects);
		a->matched = !memcmp(a->expected, a->digest, BSEC_HASH_BYTES) && a->problems == 0;
		a->judged = 1;
	}
}

void drift_observer(drift_t *d, audit_observer_t *obs)
{
	memset(obs, 0, sizeof(*obs));
	obs->ctx = d;
	obs->before_tx = before_tx;
	obs->after_tx = after_tx;
	obs->after_block = after_block;
}

/* ---- the comparison ---- */

typedef struct {
	drift_t *d;
	map_t *seen;                  /* key -> PRESENT */
	json_t *findings;
	size_t actual, in_flight;
} cmp_t;

static int present_marker;

static json_t *finding(int kind, const char *name, const char *what, const char *exp,
		       const char *act, const char *problem)
{
	return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s?}", "kind", obj_kind_name(kind), "name", name,
			 "what", what, "expected_spec", exp, "actual_spec", act, "problem", problem);
}

static int cmp_cb(void *ctx, const driver_obj_t *a)
{
	cmp_t *c = ctx;
	uint8_t k[KEY_MAX];
	size_t kl;
	const dobj_t *e;
	if (a->domain[0] && strcmp(a->domain, c->d->domain))
		return 0;
	c->actual++;
	kl = key_of(k, a->kind, a->name);
	map_put(c->seen, k, kl, &present_marker);
	e = map_get(c->d->objs, k, kl);
	if (!e) {
		json_array_append_new(c->findings, finding(a->kind, a->name, "unexpected", NULL, a->spec,
							   a->problem[0] ? a->problem : NULL));
		return 0;
	}
	/* an update in flight may have taken effect already */
	if (a->spec[0] && strcmp(a->spec, e->spec) && !(e->pending && !strcmp(a->spec, e->pending))) {
		json_array_append_new(c->findings, finding(a->kind, a->name, "changed", e->spec, a->spec,
							   a->problem[0] ? a->problem : NULL));
		return 0;
	}
	if (a->problem[0])
		json_array_append_new(c->findings, finding(a->kind, a->name, "problem", e->spec,
							   a->spec[0] ? a->spec : NULL, a->problem));
	return 0;
}

static json_t *att_json(const att_t *a)
{
	char dg[2 * BSEC_HASH_BYTES + 1], ex[2 * BSEC_HASH_BYTES + 1], id[2 * BSEC_HASH_BYTES + 1];
	hex_encode(dg, a->digest, BSEC_HASH_BYTES);
	hex_encode(ex, a->expected, BSEC_HASH_BYTES);
	hex_encode(id, a->tx_id, BSEC_HASH_BYTES);
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:s,s:I,s:b}", "tx_id", id, "height",
			 (json_int_t)a->height, "block_ts", (json_int_t)a->block_ts, "timestamp_ms",
			 (json_int_t)a->ts, "attested_height", (json_int_t)a->att_height, "objects",
			 (json_int_t)a->objects, "problems", (json_int_t)a->problems, "digest", dg,
			 "expected_digest", ex, "expected_objects", (json_int_t)a->expected_objects,
			 "matched", a->matched);
}

json_t *drift_report(drift_t *d, driver_t *drv, uint64_t now, char *err, size_t errlen)
{
	cmp_t c = { d, map_new(), json_array(), 0, 0 };
	size_t i = 0, kl, expected = 0;
	const void *k;
	void *v;
	char why[512];
	json_t *out = NULL;
	const att_t *last = NULL, *first_bad = NULL;

	if (driver_list(drv, cmp_cb, &c, why, sizeof(why)) < 0) {
		err_set(err, errlen, "the %s driver cannot list the platform: %s", driver_type(drv), why);
		goto out;
	}
	while (map_next(d->objs, &i, &k, &kl, &v)) {
		const dobj_t *e = v;
		int settled = e->status == OBJ_ACTIVE && !e->pending;
		if (settled)
			expected++;
		else
			c.in_flight++;
		if (settled && !map_get(c.seen, k, kl))
			json_array_append_new(c.findings,
					      finding(e->kind, e->name, "missing", e->spec, NULL, NULL));
	}
	for (size_t j = d->n_atts; j > 0 && !last; j--)
		if (d->atts[j - 1].judged && d->atts[j - 1].matched)
			last = &d->atts[j - 1];
	for (size_t j = last ? (size_t)(last - d->atts) + 1 : 0; j < d->n_atts && !first_bad; j++)
		if (d->atts[j].judged && !d->atts[j].matched)
			first_bad = &d->atts[j];
	/* drift is what the platform shows now; the attestations date it */
	int drift = json_array_size(c.findings) > 0;
	int dated = drift || first_bad;
	json_t *since = dated && last ? json_integer((json_int_t)last->block_ts) : json_null();
	json_t *until = dated ? json_integer((json_int_t)(first_bad ? first_bad->block_ts : now)) : json_null();
	char *okh = d->p ? hex_dup(d->p->orch_key.key, sig_pub_len(d->p->orch_key.scheme)) : xstrdup("");
	out = json_pack("{s:s,s:s,s:s,s:I,s:I,s:b,s:b,s:I,s:I,s:I,s:o,s:I,s:o,s:o,s:o,s:o}", "domain",
			d->domain, "provider", d->p ? d->p->name : "", "orchestrator_key_hex", okh,
			"height", (json_int_t)d->height, "tip_ts", (json_int_t)d->tip_ts, "drift", drift,
			"attested_drift", first_bad != NULL, "expected", (json_int_t)expected, "actual", (json_int_t)c.actual, "in_flight",
			(json_int_t)c.in_flight, "findings", c.findings, "attestations",
			(json_int_t)d->n_atts, "last_match", last ? att_json(last) : json_null(),
			"first_mismatch", first_bad ? att_json(first_bad) : json_null(), "since_ms", since,
			"until_ms", until);
	free(okh);
	c.findings = NULL;
out:
	json_decref(c.findings);
	map_free(c.seen);
	return out;
}

/* ---- text ---- */

void drift_print(const json_t *r)
{
	const json_t *f = json_object_get(r, "findings"), *x;
	const json_t *lm = json_object_get(r, "last_match"), *fm = json_object_get(r, "first_mismatch");
	size_t i;
	char a[40], b[40];
	int drift = json_is_true(json_object_get(r, "drift"));

	printf("domain %s (provider %s) at height %lld: %s\n", jstr(r, "domain"), jstr(r, "provider"),
	       jint(r, "height"), drift ? "DRIFT" : "no drift");
	printf("ledger expects %lld objects (%lld more in flight); the platform has %lld\n",
	       jint(r, "expected"), jint(r, "in_flight"), jint(r, "actual"));
	json_array_foreach(f, i, x) {
		printf("  %-10s %s %s", jstr(x, "what"), jstr(x, "kind"), jstr(x, "name"));
		if (json_is_string(json_object_get(x, "expected_spec")))
			printf("  ledger: `%s'", jstr(x, "expected_spec"));
		if (json_is_string(json_object_get(x, "actual_spec")))
			printf("  platform: `%s'", jstr(x, "actual_spec"));
		if (json_is_string(json_object_get(x, "problem")))
			printf("  problem: %s", jstr(x, "problem"));
		printf("\n");
	}
	printf("attestations of the domain: %lld\n", jint(r, "attestations"));
	if (json_is_object(lm)) {
		iso_ms(a, sizeof(a), (uint64_t)jint(lm, "block_ts"));
		printf("  last that matched the ledger: block %lld at %s (state at height %lld, %lld objects)\n",
		       jint(lm, "height"), a, jint(lm, "attested_height"), jint(lm, "objects"));
	} else {
		printf("  none matched the ledger\n");
	}
	if (json_is_object(fm)) {
		iso_ms(a, sizeof(a), (uint64_t)jint(fm, "block_ts"));
		printf("  first after it that did not: block %lld at %s (state at height %lld, %lld objects, "
		       "%lld with a problem; the ledger expects %lld)\n",
		       jint(fm, "height"), a, jint(fm, "attested_height"), jint(fm, "objects"),
		       jint(fm, "problems"), jint(fm, "expected_objects"));
	}
	if (!drift && json_is_object(fm))
		printf("the last attestations recorded a drift that the platform no longer shows "
		       "(repaired, or changed since); the next attestation will say\n");
	if (drift) {
		const json_t *s = json_object_get(r, "since_ms");
		iso_ms(b, sizeof(b), (uint64_t)jint(r, "until_ms"));
		if (json_is_integer(s)) {
			iso_ms(a, sizeof(a), (uint64_t)json_integer_value(s));
			printf("the drift began between %s and %s%s; accountable: domain %s (provider %s)\n", a, b,
			       json_is_object(fm) ? "" : " (now: no attestation has recorded it yet)",
			       jstr(r, "domain"), jstr(r, "provider"));
		} else {
			printf("the drift began before %s (no attestation ever matched); accountable: domain %s "
			       "(provider %s)\n", b, jstr(r, "domain"), jstr(r, "provider"));
		}
	}
}
