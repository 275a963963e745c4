/*
 * client.c — the CLI's client of the node API (see client.h): the list of
 * nodes and their trust, posting with fail-over, waiting for a commit and
 * for a request's response.
 */
#include "client.h"
#include "cli.h"
#include "devnet.h"
#include "../ledger/proof.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_SLICE_MS 5000        /* one long poll */
#define POST_TIMEOUT_MS 5000
#define BUSY_RETRY_MS 300         /* after a 503 (mempool full) */

/* ---- options ------------------------------------------------------------ */

int client_parse_opt(int c, client_opts_t *o, long *timeout_ms, int *json)
{
	char *end;
	switch (c) {
	case CLIENT_O_NODE: o->node_url = optarg; return 0;
	case CLIENT_O_DIR: o->dir = optarg; return 0;
	case CLIENT_O_GENESIS: o->genesis = optarg; return 0;
	case CLIENT_O_CA: o->ca = optarg; return 0;
	case CLIENT_O_JSON: *json = 1; return 0;
	case CLIENT_O_NODE_INDEX:
		o->node_index = strtol(optarg, &end, 10);
		if (!*optarg || *end || o->node_index < 0 || o->node_index > 65535)
			return cli_fail("--node-index `%s' is not a node index", optarg), 2;
		return 0;
	case CLIENT_O_TIMEOUT:
		*timeout_ms = strtol(optarg, &end, 10);
		if (!*optarg || *end || *timeout_ms < 1 || *timeout_ms > 3600000)
			return cli_fail("--timeout `%s' must be 1..3600000 ms", optarg), 2;
		return 0;
	default:
		return -1;
	}
}

int client_check_opts(const client_opts_t *o)
{
	if (!o->node_url && !o->dir)
		return cli_fail("give --node URL or --dir DEVNET"), 2;
	if (o->node_url && o->node_index >= 0)
		return cli_fail("--node-index picks a node of --dir; --node names one itself"), 2;
	return 0;
}

/* ---- nodes to talk to ---------------------------------------------------- */

void client_close(client_t *c)
{
	nodeapi_free(c->t, c->n);
	free(c->ca_file);
	if (c->have_g)
		genesis_free(&c->g);
	memset(c, 0, sizeof(*c));
}

static void node_add(client_t *c, const char *url, const char *name, const char *pin)
{
	nodeapi_add(&c->t, &c->n, url, name, pin, c->ca_file);
}

/* Without a genesis: the chain id the node (trusted through --ca)
 * reports in GET /v1/status.  0 or -1 (printed). */
static int chain_id_from_node(client_t *c)
{
	int status = 0;
	json_t *body = NULL;
	if (client_call(c, 0, 10000, "GET", "/v1/status", NULL, 0, &status, &body) < 0)
		return cli_fail("node %s: %s", c->t[0].url, c->t[0].err), -1;
	const char *hex = client_jstr(body, "chain_id");
	int ok = status == 200 && strlen(hex) == 2 * BSEC_HASH_BYTES &&
		 hex_decode(c->g.chain_id, BSEC_HASH_BYTES, hex) == 0;
	if (!ok)
		cli_fail("node %s: GET /v1/status gave no chain id (HTTP %d)", c->t[0].url, status);
	json_decref(body);
	return ok ? 0 : -1;
}

int client_open(client_t *c, const client_opts_t *o)
{
	char err[512];
	memset(c, 0, sizeof(*c));
	if (!o->node_url && !o->dir)
		return cli_fail("give --node URL or --dir DEVNET"), -1;
	if (o->dir && o->genesis)
		return cli_fail("--genesis is for --node; --dir uses DIR/genesis.json"), -1;
	if (o->dir) {
		devnet_t d;
		if (devnet_open(&d, o->dir, err, sizeof(err)) < 0)
			return cli_fail("%s", err), -1;
		c->g = d.g;           /* take the genesis over */
		c->have_g = 1;
		c->ca_file = xstrdup(o->ca ? o->ca : d.ca_path);
		free(d.dir);
		free(d.ca_path);
	} else if (!o->genesis) {
		if (!o->ca)
			return cli_fail("--node URL needs --genesis FILE (the chain, the other nodes and "
					"their pinned certificates) or --ca FILE, or use --dir DEVNET"), -1;
		if (strncmp(o->node_url, "https://", 8))
			return cli_fail("--node `%s' is not an https:// URL", o->node_url), -1;
		c->ca_file = xstrdup(o->ca);
		node_add(c, o->node_url, NULL, NULL);
		return chain_id_from_node(c);
	} else {
		if (genesis_load(&c->g, o->genesis, err, sizeof(err)) < 0)
			return cli_fail("%s", err), -1;
		c->have_g = 1;
		c->ca_file = o->ca ? xstrdup(o->ca) : NULL;
	}
	size_t n = c->g.n_providers;
	size_t first = 0;
	int first_known = 0;
	if (o->node_url) {
		if (strncmp(o->node_url, "https://", 8))
			return cli_fail("--node `%s' is not an https:// URL", o->node_url), -1;
		for (size_t i = 0; i < n && !first_known; i++)
			if (nodeapi_same_base(c->g.providers[i].api, o->node_url)) {
				first = i;
				first_known = 1;
			}
		if (!first_known) {
			if (!c->ca_file)
				return cli_fail("--node `%s' is not the API of any provider in the genesis, so "
						"no pinned certificate applies: give --ca FILE", o->node_url), -1;
			node_add(c, o->node_url, NULL, NULL);
		}
	} else if (o->node_index >= 0) {
		if ((size_t)o->node_index >= n)
			return cli_fail("--node-index `%ld' is out of range: the genesis has nodes 0..%zu",
					o->node_index, n - 1), -1;
		first = (size_t)o->node_index;
		first_known = 1;
	} else {
		first_known = 1;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = first_known ? (first + k) % n : k;
		const provider_t *p = &c->g.providers[i];
		node_add(c, p->api, p->name, p->tls_cert_pem);
	}
	return 0;
}

char *client_domain_list(const client_t *c)
{
	char *list = xstrdup("");
	for (size_t i = 0; i < c->g.n_providers; i++)
		for (size_t k = 0; k < c->g.providers[i].n_domains; k++) {
			char *l = xasprintf("%s%s%s", list, *list ? ", " : "", c->g.providers[i].domains[k]);
			free(list);
			list = l;
		}
	return list;
}

int client_call(client_t *c, int poll, int timeout_ms, const char *method, const char *path,
		const uint8_t *body, size_t len, int *status, json_t **out)
{
	client_node_t *t = &c->t[c->cur];
	uint8_t *resp = NULL;
	size_t rlen = 0;
	*out = NULL;
	if (nodeapi_request(poll ? &t->poll : &t->post, t, timeout_ms, 16u << 20, method, path, body, len,
			    status, &resp, &rlen, t->err, sizeof(t->err)) < 0)
		return -1;
	json_error_t je;
	*out = json_loadb((const char *)resp, rlen, 0, &je);
	free(resp);
	return 0;
}

const char *client_jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

void client_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int client_post_tx(client_t *c, const tx_t *tx, uint64_t deadline_us, int *status, json_t **body)
{
	for (size_t tried = 0; tried < c->n;) {
		client_node_t *t = &c->t[c->cur];
		if (client_call(c, 0, POST_TIMEOUT_MS, "POST", "/v1/transactions", tx->raw, tx->raw_len,
				status, body) == 0) {
			if (*status >= 200 && *status < 300)
				return CLIENT_POST_OK;
			if (*status >= 400 && *status < 500)
				return CLIENT_POST_REFUSED;
			if (*status == 503 && mono_us() < deadline_us) {
				json_decref(*body);
				client_sleep_ms(BUSY_RETRY_MS);
				continue;
			}
			err_set(t->err, sizeof(t->err), "HTTP %d %s: %s", *status, client_jstr(*body, "error"),
				client_jstr(*body, "message"));
			json_decref(*body);
			*body = NULL;
		}
		tried++;
		if (c->n > 1 && tried < c->n)
			fprintf(stderr, "bsec: node %s (%s) did not take the tx: %s; trying the next node\n",
				t->name, t->url, t->err);
		c->cur = (c->cur + 1) % c->n;
	}
	for (size_t i = 0; i < c->n; i++)
		cli_fail("node %s (%s): %s", c->t[i].name, c->t[i].url, c->t[i].err);
	return CLIENT_POST_DOWN;
}

void client_print_refusal(const client_t *c, int status, const json_t *body)
{
	const client_node_t *t = &c->t[c->cur];
	if (body && json_object_get(body, "error"))
		cli_fail("node %s refused the tx (HTTP %d): %s: %s", t->name, status,
			 client_jstr(body, "error"), client_jstr(body, "message"));
	else
		cli_fail("node %s refused the tx (HTTP %d)", t->name, status);
}

/* ---- proofs --------------------------------------------------------------- */

/* A node is one member of f that may lie.  With the genesis in hand the
 * client takes nothing it reports on a node's word: a tx the node calls
 * committed must come with an inclusion proof (GET /v1/proofs/{id}?format=bin)
 * that checks against the genesis alone (proof.h), and what is shown of
 * the tx (its height, its fields) is then replaced by what the proof
 * holds.  0 when proven, or when there is no genesis to check against;
 * -1 with the reason in the node's err.  *proven, when not NULL, gets the
 * tx of the proof (tx_clear it; left empty without a genesis). */
static int client_prove(client_t *c, const uint8_t id[BSEC_HASH_BYTES], json_t *body, tx_t *proven)
{
	client_node_t *t = &c->t[c->cur];
	char id_hex[2 * BSEC_HASH_BYTES + 1], why[256];
	uint8_t *raw = NULL;
	size_t rlen = 0;
	int status = 0, ret = -1;
	proof_t p;

	if (proven)
		memset(proven, 0, sizeof(*proven));
	if (!c->have_g)
		return 0;
	memset(&p, 0, sizeof(p));
	hex_encode(id_hex, id, BSEC_HASH_BYTES);
	char *path = xasprintf("/v1/proofs/%s?format=bin", id_hex);
	if (nodeapi_request(&t->post, t, POST_TIMEOUT_MS, PROOF_MAX_BYTES, "GET", path, NULL, 0, &status,
			    &raw, &rlen, t->err, sizeof(t->err)) < 0)
		goto out;
	if (status != 200) {
		err_set(t->err, sizeof(t->err), "it serves no proof of it (HTTP %d)", status);
		goto out;
	}
	if (proof_decode(&p, raw, rlen, why, sizeof(why)) < 0 || proof_check(&p, &c->g, why, sizeof(why)) < 0) {
		err_set(t->err, sizeof(t->err), "its proof does not verify: %s", why);
		goto out;
	}
	if (memcmp(p.tx.id, id, BSEC_HASH_BYTES) != 0) {
		err_set(t->err, sizeof(t->err), "its proof is of another tx");
		goto out;
	}
	json_object_set_new(body, "status", json_string("committed"));
	json_object_set_new(body, "height", json_integer((json_int_t)p.hdr.height));
	json_object_set_new(body, "index", json_integer((json_int_t)p.index));
	json_object_set_new(body, "tx", tx_to_json(&p.tx, c->g.chain_id));
	if (proven)
		tx_copy(proven, &p.tx);
	ret = 0;
out:
	proof_clear(&p);
	free(raw);
	free(path);
	return ret;
}

/* ---- waiting -------------------------------------------------------------- */

/* After a node showed what does not hold: the next node, after a pause.
 * 0, or -1 (printed, with what) once every node was asked twice. */
static int pass_over(client_t *c, size_t *liars, const char *what, const char *id_hex)
{
	if (++*liars >= 2 * c->n) {
		cli_fail("%s: no node shows %s with a proof that verifies", id_hex, what);
		return -1;
	}
	c->cur = (c->cur + 1) % c->n;
	client_sleep_ms(100);
	return 0;
}

int client_wait_committed(client_t *c, const tx_t *tx, uint64_t deadline_us, json_t **answer)
{
	char *path = NULL;
	char id_hex[2 * BSEC_HASH_BYTES + 1];
	int status;
	json_t *body = NULL;
	size_t down = 0, liars = 0;
	*answer = NULL;
	hex_encode(id_hex, tx->id, BSEC_HASH_BYTES);
	for (;;) {
		uint64_t now = mono_us();
		if (now >= deadline_us)
			break;
		long left_ms = (long)((deadline_us - now) / 1000);
		long slice = left_ms < WAIT_SLICE_MS ? left_ms : WAIT_SLICE_MS;
		client_node_t *t = &c->t[c->cur];
		free(path);
		path = xasprintf("/v1/transactions/%s?wait=%ld", id_hex, slice);
		uint64_t t0 = mono_us();
		status = 0;
		if (client_call(c, 1, WAIT_SLICE_MS + 3000, "GET", path, NULL, 0, &status, &body) < 0 ||
		    status >= 500) {
			if (status >= 500 && body)
				err_set(t->err, sizeof(t->err), "HTTP %d %s", status, client_jstr(body, "message"));
			json_decref(body);
			body = NULL;
			if (++down >= 2 * c->n) {
				cli_fail("no node answers any more; last: %s (%s): %s", t->name, t->url, t->err);
				goto out;
			}
			/* this node is gone: give the tx to the next one and wait there */
			fprintf(stderr, "bsec: node %s stopped answering (%s); failing over\n", t->name,
				t->err);
			c->cur = (c->cur + 1) % c->n;
			int pr = client_post_tx(c, tx, deadline_us, &status, &body);
			json_decref(body);
			body = NULL;
			if (pr == CLIENT_POST_DOWN)
				goto out;
			if (pr == CLIENT_POST_REFUSED)
				client_sleep_ms(100);
			continue;
		}
		down = 0;
		if (status == 404) {
			/* the node does not know the tx (restarted with an empty pool?) */
			json_decref(body);
			body = NULL;
			int pr = client_post_tx(c, tx, deadline_us, &status, &body);
			if (pr == CLIENT_POST_REFUSED) {
				client_print_refusal(c, status, body);
				goto out;
			}
			json_decref(body);
			body = NULL;
			if (pr == CLIENT_POST_DOWN)
				goto out;
			client_sleep_ms(50);
			continue;
		}
		if (status != 200 || !json_is_object(body)) {
			cli_fail("GET %s%s: unexpected HTTP %d", t->url, path, status);
			goto out;
		}
		const char *st = client_jstr(body, "status");
		if (!strcmp(st, "committed") && client_prove(c, tx->id, body, NULL) == 0) {
			*answer = body;
			body = NULL;
			break;
		}
		if (strcmp(st, "pending")) {
			/* a node that lies (or is broken): ask the others */
			if (!strcmp(st, "committed"))
				fprintf(stderr, "bsec: node %s says tx %s is committed, but %s; asking the next node\n",
					t->name, id_hex, t->err);
			else
				fprintf(stderr, "bsec: node %s reports tx %s as `%.40s'; asking the next node\n",
					t->name, id_hex, st);
			json_decref(body);
			body = NULL;
			if (pass_over(c, &liars, "it committed", id_hex) < 0)
				goto out;
			continue;
		}
		json_decref(body);
		body = NULL;
		/* a node that does not hold the poll open must not make us spin */
		if (mono_us() - t0 < (uint64_t)slice * 500)
			client_sleep_ms(50);
	}
out:
	if (!*answer && mono_us() >= deadline_us)
		cli_fail("tx %s not committed before the timeout (still pending at node %s)", id_hex,
			 c->t[c->cur].name);
	json_decref(body);
	free(path);
	return *answer ? 0 : 1;
}

/* GET path on the current node, failing over to the next nodes while one
 * does not answer or answers 5xx.  0 with *status and *body, -1 when no
 * node answers (reason printed). */
static int get_failover(client_t *c, int poll, int timeout_ms, const char *path, int *status,
			json_t **body)
{
	for (size_t tried = 0; tried < c->n; tried++) {
		client_node_t *t = &c->t[c->cur];
		*status = 0;
		if (client_call(c, poll, timeout_ms, "GET", path, NULL, 0, status, body) == 0 &&
		    *status < 500)
			return 0;
		if (*status >= 500)
			err_set(t->err, sizeof(t->err), "HTTP %d %s", *status, client_jstr(*body, "message"));
		json_decref(*body);
		*body = NULL;
		if (c->n > 1)
			fprintf(stderr, "bsec: node %s stopped answering (%s); failing over\n", t->name, t->err);
		c->cur = (c->cur + 1) % c->n;
	}
	cli_fail("no node answers GET %s; last: %s", path, c->t[c->cur].err);
	return -1;
}

/* With the genesis: the proven tx rtx is a response to request_id, signed
 * by the orchestrator of the provider of domain (when domain is given).
 * 0, or -1 with the reason in the current node's err. */
static int response_fits(client_t *c, const tx_t *rtx, const uint8_t request_id[BSEC_HASH_BYTES],
			 const char *domain)
{
	client_node_t *t = &c->t[c->cur];
	const provider_t *p;

	if (!c->have_g)
		return 0;
	if (rtx->type != TX_RESPONSE || memcmp(rtx->request_id, request_id, BSEC_HASH_BYTES) != 0) {
		err_set(t->err, sizeof(t->err), "the tx it names is not a response to this request");
		return -1;
	}
	if (!domain)
		return 0;
	p = genesis_provider_of_domain(&c->g, domain, strlen(domain));
	if (!p || rtx->scheme != p->orch_key.scheme ||
	    memcmp(rtx->sender, p->orch_key.key, sig_pub_len(rtx->scheme)) != 0) {
		err_set(t->err, sizeof(t->err), "the response it names is not signed by the orchestrator of `%s'",
			domain);
		return -1;
	}
	return 0;
}

int client_wait_response(client_t *c, const uint8_t request_id[BSEC_HASH_BYTES], const char *domain,
			 uint64_t deadline_us, json_t **response)
{
	char id_hex[2 * BSEC_HASH_BYTES + 1];
	char *path = NULL;
	json_t *body = NULL;
	int status, ret = 1;
	uint64_t next_height = 0;
	size_t liars = 0;
	*response = NULL;
	hex_encode(id_hex, request_id, BSEC_HASH_BYTES);
	for (;;) {
		free(path);
		path = xasprintf("/v1/transactions/%s", id_hex);
		if (get_failover(c, 0, POST_TIMEOUT_MS, path, &status, &body) < 0)
			goto out;
		if (status != 200 || !json_is_object(body)) {
			cli_fail("GET %s%s: HTTP %d %s", c->t[c->cur].url, path, status,
				 client_jstr(body, "message"));
			goto out;
		}
		char rid[2 * BSEC_HASH_BYTES + 1];
		snprintf(rid, sizeof(rid), "%s", client_jstr(body, "response_id"));
		if (*rid) {
			free(path);
			path = xasprintf("/v1/transactions/%s", rid);
			json_decref(body);
			body = NULL;
			if (get_failover(c, 0, POST_TIMEOUT_MS, path, &status, &body) < 0)
				goto out;
			if (status != 200 || !json_is_object(body) ||
			    strcmp(client_jstr(body, "status"), "committed")) {
				cli_fail("response %s: node %s answers HTTP %d %s", rid, c->t[c->cur].name,
					 status, client_jstr(body, "message"));
				goto out;
			}
			uint8_t rid_bin[BSEC_HASH_BYTES];
			tx_t rtx;
			memset(&rtx, 0, sizeof(rtx));
			int fits = 0;
			if (hex_decode(rid_bin, sizeof(rid_bin), rid) != 0)
				err_set(c->t[c->cur].err, sizeof(c->t[c->cur].err), "that is not a tx id");
			else
				fits = client_prove(c, rid_bin, body, &rtx) == 0 &&
				       response_fits(c, &rtx, request_id, domain) == 0;
			tx_clear(&rtx);
			if (fits) {
				*response = body;
				body = NULL;
				ret = 0;
				goto out;
			}
			/* a node that lies about the response: ask the others */
			fprintf(stderr, "bsec: node %s names response %.64s, but %s; asking the next node\n",
				c->t[c->cur].name, rid, c->t[c->cur].err);
			json_decref(body);
			body = NULL;
			if (pass_over(c, &liars, "a response to it", id_hex) < 0)
				goto out;
			continue;
		}
		json_t *h = json_object_get(body, "height");
		if (json_is_integer(h) && (uint64_t)json_integer_value(h) >= next_height)
			next_height = (uint64_t)json_integer_value(h) + 1;
		json_decref(body);
		body = NULL;
		uint64_t now = mono_us();
		if (now >= deadline_us) {
			cli_fail("request %s: no response committed before the timeout", id_hex);
			goto out;
		}
		/* sleep until the next block commits (or the slice ends) */
		long left_ms = (long)((deadline_us - now) / 1000);
		long slice = left_ms < WAIT_SLICE_MS ? left_ms : WAIT_SLICE_MS;
		free(path);
		path = xasprintf("/v1/blocks?from=%llu&limit=1&wait=%ld", (unsigned long long)next_height,
				 slice);
		uint64_t t0 = mono_us();
		if (get_failover(c, 1, WAIT_SLICE_MS + 3000, path, &status, &body) < 0)
			goto out;
		json_t *th = json_object_get(body, "height");
		int advanced = json_is_integer(th) && (uint64_t)json_integer_value(th) >= next_height;
		if (advanced)
			next_height = (uint64_t)json_integer_value(th) + 1;
		json_decref(body);
		body = NULL;
		/* a poll that came back early without a new block: do not spin */
		if (!advanced && mono_us() - t0 < (uint64_t)slice * 500)
			client_sleep_ms(50);
	}
out:
	json_decref(body);
	free(path);
	return ret;
}

int client_request(client_t *c, const sig_key_t *key, const char *domain, const char *instruction,
		   int timeout_ms, client_req_result_t *r)
{
	tx_t tx;
	char err[512];
	int status, ret = CLIENT_REQ_FAILED;
	json_t *body = NULL, *ans = NULL, *resp = NULL;
	tx_fields_t f = { .type = TX_REQUEST, .domain = domain, .instruction = instruction };
	memset(r, 0, sizeof(*r));
	if (tx_build(&tx, &f, key, c->g.chain_id, err, sizeof(err)) < 0) {
		snprintf(r->message, sizeof(r->message), "%s", err);
		return CLIENT_REQ_FAILED;
	}
	uint64_t t0 = mono_us(), deadline = t0 + (uint64_t)timeout_ms * 1000;
	int pr = client_post_tx(c, &tx, deadline, &status, &body);
	if (pr == CLIENT_POST_REFUSED) {
		snprintf(r->code, sizeof(r->code), "%s", client_jstr(body, "error") ? client_jstr(body, "error") : "");
		snprintf(r->message, sizeof(r->message), "%s",
			 client_jstr(body, "message") ? client_jstr(body, "message") : "");
		ret = CLIENT_REQ_REFUSED;
		goto out;
	}
	if (pr != CLIENT_POST_OK || client_wait_committed(c, &tx, deadline, &ans) != 0)
		goto out;
	r->commit_ms = (double)(mono_us() - t0) / 1000.0;
	r->height = (uint64_t)json_integer_value(json_object_get(ans, "height"));
	if (client_wait_response(c, tx.id, domain, deadline, &resp) != 0)
		goto out;
	r->response_ms = (double)(mono_us() - t0) / 1000.0;
	json_t *rt = json_object_get(resp, "tx");
	const char *st = client_jstr(rt, "status");
	int ok = st && !strcmp(st, "ok");
	const char *text = client_jstr(rt, ok ? "result" : "error");
	snprintf(r->message, sizeof(r->message), "%s", text ? text : "");
	ret = ok ? CLIENT_REQ_OK : CLIENT_REQ_ERROR;
out:
	json_decref(body);
	json_decref(ans);
	json_decref(resp);
	tx_clear(&tx);
	return ret;
}
