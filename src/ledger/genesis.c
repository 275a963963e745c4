/*
 * genesis.c — parsing and checking the genesis file (see genesis.h).
 */
#include "genesis.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void params_default(params_t *p)
{
	p->timestamp_window_ms = 60000;
	p->view_timeout_ms = 2000;
	p->max_block_txs = 4096;
	p->max_block_bytes = 4u << 20;
	p->checkpoint_interval = 100;
	p->request_timeout_ms = 4000;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(i > 0 && c == '-'))
			return 0;
	}
	return 1;
}

static int get_key(pubkey_t *k, json_t *obj, const char *field, const char *where, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(obj, field);
	if (!json_is_string(v)) {
		err_set(err, errlen, "%s: `%s' must be a PEM public key string", where, field);
		return -1;
	}
	int scheme;
	char why[200];
	if (sig_pub_from_pem(&scheme, k->key, json_string_value(v), json_string_length(v), why,
			     sizeof(why)) < 0) {
		err_set(err, errlen, "%s: `%s': %s", where, field, why);
		return -1;
	}
	k->scheme = (uint8_t)scheme;
	return 0;
}

static int get_u64(uint64_t *out, json_t *obj, const char *field, uint64_t lo, uint64_t hi,
		   const char *where, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, field);
	if (!v)
		return 0; /* keep default */
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < lo || (uint64_t)json_integer_value(v) > hi) {
		char *t = json_dumps(v, JSON_ENCODE_ANY);
		err_set(err, errlen, "%s: `%s' is %s, expected an integer in %llu..%llu", where, field,
			t ? t : "?", (unsigned long long)lo, (unsigned long long)hi);
		free(t);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_sla(sla_t *s, json_t *o, const char *where, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	json_t *ops = json_object_get(o, "ops");
	if (!json_is_string(ops)) {
		err_set(err, errlen, "%s: `ops' must be a string like \"*\" or \"vnf:*,sfc:create\"", where);
		return -1;
	}
	char why[200];
	if (sla_ops_parse(&s->ops, json_string_value(ops), why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: %s", where, why);
		return -1;
	}
	uint64_t v[5] = { 0 };
	const char *f[5] = { "max_vms", "max_vnfs", "max_sfcs", "max_chain", "rate_per_min" };
	for (int i = 0; i < 5; i++)
		if (get_u64(&v[i], o, f[i], 0, i == 3 ? 65535 : 0xffffffffu, where, err, errlen) < 0)
			return -1;
	s->max_vms = (uint32_t)v[0];
	s->max_vnfs = (uint32_t)v[1];
	s->max_sfcs = (uint32_t)v[2];
	s->max_chain = (uint16_t)v[3];
	s->rate_per_min = (uint32_t)v[4];
	return 0;
}

static char *dup_str(json_t *obj, const char *field)
{
	json_t *v = json_object_get(obj, field);
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

int genesis_parse(genesis_t *g, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	int ret = -1;
	json_error_t je;
	memset(g, 0, sizeof(*g));
	params_default(&g->params);
	json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(err, errlen, "genesis is not valid JSON: line %d column %d: %s", je.line,
			je.column, je.text);
		return -1;
	}
	hash_sha256(g->chain_id, data, len);
	g->raw = xmalloc(len + 1);
	memcpy(g->raw, data, len);
	g->raw[len] = 0;
	g->raw_len = len;
	if (!json_is_object(root)) {
		err_set(err, errlen, "genesis must be a JSON object");
		goto out;
	}
	json_t *ver = json_object_get(root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
		err_set(err, errlen, "genesis `version' must be 1");
		goto out;
	}
	g->name = dup_str(root, "name");
	if (!g->name)
		g->name = xstrdup("bsec");
	if (get_u64(&g->created_ms, root, "created_ms", 0, UINT64_MAX >> 1, "genesis", err, errlen) < 0)
		goto out;
	json_t *pj = json_object_get(root, "params");
	if (pj) {
		params_t *p = &g->params;
		if (!json_is_object(pj)) {
			err_set(err, errlen, "genesis `params' must be an object");
			goto out;
		}
		if (get_u64(&p->timestamp_window_ms, pj, "timestamp_window_ms", 1000, 86400000, "params", err, errlen) < 0 ||
		    get_u64(&p->view_timeout_ms, pj, "view_timeout_ms", 50, 600000, "params", err, errlen) < 0 ||
		    get_u64(&p->max_block_txs, pj, "max_block_txs", 1, 100000, "params", err, errlen) < 0 ||
		    get_u64(&p->max_block_bytes, pj, "max_block_bytes", 65536, 64u << 20, "params", err, errlen) < 0 ||
		    get_u64(&p->checkpoint_interval, pj, "checkpoint_interval", 1, 1000000, "params", err, errlen) < 0 ||
		    get_u64(&p->request_timeout_ms, pj, "request_timeout_ms", 100, 600000, "params", err, errlen) < 0)
			goto out;
	}
	json_t *provs = json_object_get(root, "providers");
	if (!json_is_array(provs) || json_array_size(provs) == 0 ||
	    json_array_size(provs) > GENESIS_MAX_PROVIDERS) {
		err_set(err, errlen, "genesis `providers' must be an array of 1..%d providers",
			GENESIS_MAX_PROVIDERS);
		goto out;
	}
	g->n_providers = json_array_size(provs);
	g->providers = xcalloc(g->n_providers, sizeof(provider_t));
	for (size_t i = 0; i < g->n_providers; i++) {
		provider_t *p = &g->providers[i];
		json_t *pj2 = json_array_get(provs, i);
		char where[64];
		snprintf(where, sizeof(where), "provider %zu", i);
		p->index = (uint16_t)i;
		if (!json_is_object(pj2)) {
			err_set(err, errlen, "%s must be an object", where);
			goto out;
		}
		json_t *nm = json_object_get(pj2, "name");
		if (!json_is_string(nm) || !name_ok(json_string_value(nm))) {
			err_set(err, errlen, "%s: `name' must match [a-z0-9][a-z0-9-]{0,31}", where);
			goto out;
		}
		snprintf(p->name, sizeof(p->name), "%s", json_string_value(nm));
		snprintf(where, sizeof(where), "provider `%s'", p->name);
		json_t *doms = json_object_get(pj2, "domains");
		if (doms && (!json_is_array(doms) || json_array_size(doms) == 0 || json_array_size(doms) > 64)) {
			err_set(err, errlen, "%s: `domains' must be a non-empty array of names", where);
			goto out;
		}
		p->n_domains = doms ? json_array_size(doms) : 1;
		p->domains = xcalloc(p->n_domains, sizeof(char *));
		for (size_t d = 0; d < p->n_domains; d++) {
			json_t *dj = doms ? json_array_get(doms, d) : nm;
			if (!json_is_string(dj) || !name_ok(json_string_value(dj))) {
				err_set(err, errlen, "%s: domain %zu must match [a-z0-9][a-z0-9-]{0,31}", where, d);
				goto out;
			}
			p->domains[d] = xstrdup(json_string_value(dj));
		}
		if (get_key(&p->node_key, pj2, "node_key", where, err, errlen) < 0 ||
		    get_key(&p->orch_key, pj2, "orchestrator_key", where, err, errlen) < 0 ||
		    get_key(&p->admin_key, pj2, "admin_key", where, err, errlen) < 0)
			goto out;
		p->peer = dup_str(pj2, "peer");
		p->api = dup_str(pj2, "api");
		p->tls_cert_pem = dup_str(pj2, "tls_cert");
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(g->providers[j].name, p->name)) {
				err_set(err, errlen, "provider name `%s' appears twice", p->name);
				goto out;
			}
			const provider_t *q = &g->providers[j];
			const pubkey_t *mine[3] = { &p->node_key, &p->orch_key, &p->admin_key };
			const pubkey_t *theirs[3] = { &q->node_key, &q->orch_key, &q->admin_key };
			for (int a = 0; a < 3; a++)
				for (int b = 0; b < 3; b++)
					if (mine[a]->scheme == theirs[b]->scheme &&
					    !memcmp(mine[a]->key, theirs[b]->key, sig_pub_len(mine[a]->scheme))) {
						err_set(err, errlen, "providers `%s' and `%s' share a public key",
							q->name, p->name);
						goto out;
					}
			if (p->tls_cert_pem && q->tls_cert_pem && !strcmp(p->tls_cert_pem, q->tls_cert_pem)) {
				err_set(err, errlen, "providers `%s' and `%s' share a TLS certificate",
					q->name, p->name);
				goto out;
			}
			for (size_t d = 0; d < p->n_domains; d++)
				if (provider_has_domain(&g->providers[j], p->domains[d], strlen(p->domains[d]))) {
					err_set(err, errlen, "domain `%s' belongs to two providers", p->domains[d]);
					goto out;
				}
		}
	}
	json_t *tens = json_object_get(root, "tenants");
	if (tens && !json_is_array(tens)) {
		err_set(err, errlen, "genesis `tenants' must be an array");
		goto out;
	}
	g->n_tenants = tens ? json_array_size(tens) : 0;
	g->tenants = xcalloc(g->n_tenants ? g->n_tenants : 1, sizeof(genesis_tenant_t));
	for (size_t i = 0; i < g->n_tenants; i++) {
		genesis_tenant_t *t = &g->tenants[i];
		json_t *tj = json_array_get(tens, i);
		char where[80];
		snprintf(where, sizeof(where), "tenant %zu", i);
		json_t *nm = json_is_object(tj) ? json_object_get(tj, "name") : NULL;
		if (!json_is_string(nm) || !name_ok(json_string_value(nm))) {
			err_set(err, errlen, "%s: `name' must match [a-z0-9][a-z0-9-]{0,31}", where);
			goto out;
		}
		snprintf(t->name, sizeof(t->name), "%s", json_string_value(nm));
		snprintf(where, sizeof(where), "tenant `%s'", t->name);
		if (get_key(&t->key, tj, "key", where, err, errlen) < 0)
			goto out;
		json_t *gr = json_object_get(tj, "grants");
		if (!json_is_array(gr)) {
			err_set(err, errlen, "%s: `grants' must be an array", where);
			goto out;
		}
		t->n_grants = json_array_size(gr);
		t->grants = xcalloc(t->n_grants ? t->n_grants : 1, sizeof(grant_t));
		for (size_t k = 0; k < t->n_grants; k++) {
			json_t *gj = json_array_get(gr, k);
			json_t *dj = json_is_object(gj) ? json_object_get(gj, "domain") : NULL;
			if (!json_is_string(dj) || !genesis_provider_of_domain(g, json_string_value(dj),
									       json_string_length(dj))) {
				err_set(err, errlen, "%s: grant %zu names no known domain", where, k);
				goto out;
			}
			snprintf(t->grants[k].domain, sizeof(t->grants[k].domain), "%s", json_string_value(dj));
			if (parse_sla(&t->grants[k].sla, gj, where, err, errlen) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	json_decref(root);
	if (ret < 0)
		genesis_free(g);
	return ret;
}

int genesis_load(genesis_t *g, const char *path, char *err, size_t errlen)
{
	size_t len;
	char why[512];
	memset(g, 0, sizeof(*g));
	uint8_t *d = file_read(path, &len, GENESIS_MAX_BYTES, err, errlen);
	if (!d)
		return -1;
	int r = genesis_parse(g, d, len, why, sizeof(why));
	if (r < 0)
		err_set(err, errlen, "%s: %s", path, why);
	free(d);
	return r;
}

void genesis_free(genesis_t *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_providers; i++) {
		provider_t *p = &g->providers[i];
		for (size_t d = 0; d < p->n_domains; d++)
			free(p->domains[d]);
		free(p->domains);
		free(p->peer);
		free(p->api);
		free(p->tls_cert_pem);
	}
	for (size_t i = 0; i < g->n_tenants; i++)
		free(g->tenants[i].grants);
	free(g->providers);
	free(g->tenants);
	free(g->name);
	free(g->raw);
	memset(g, 0, sizeof(*g));
}

size_t genesis_f(const genesis_t *g)
{
	return g->n_providers ? (g->n_providers - 1) / 3 : 0;
}

size_t genesis_quorum(const genesis_t *g)
{
	return g->n_providers - genesis_f(g);
}

int provider_has_domain(const provider_t *p, const char *domain, size_t len)
{
	for (size_t d = 0; d < p->n_domains; d++)
		if (strlen(p->domains[d]) == len && !memcmp(p->domains[d], domain, len))
			return 1;
	return 0;
}

const provider_t *genesis_provider_of_domain(const genesis_t *g, const char *domain, size_t len)
{
	for (size_t i = 0; i < g->n_providers; i++)
		if (provider_has_domain(&g->providers[i], domain, len))
			return &g->providers[i];
	return NULL;
}

const provider_t *genesis_provider_by_name(const genesis_t *g, const char *name)
{
	for (size_t i = 0; i < g->n_providers; i++)
		if (!strcmp(g->providers[i].name, name))
			return &g->providers[i];
	return NULL;
}
