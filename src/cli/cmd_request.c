/*
 * cmd_request.c — the CLI as a tenant's client of the node API:
 *
 *   bsec request (--node URL | --dir D) --key K --domain DOMAIN "INSTRUCTION"
 *   bsec tx submit FILE (--node URL | --dir D)
 *
 * `request` checks the instruction with the shared parser, builds and
 * signs a REQUEST, posts it (POST /v1/transactions), then long-polls
 * GET /v1/transactions/{id}?wait=MS until it is committed, and prints its
 * id, height and submit-to-commit latency.  `tx submit` posts a tx file
 * as it is.
 *
 * Nodes and trust come from the genesis: with --dir D, D/genesis.json and
 * the devnet CA D/ca.pem; with --node URL, --genesis FILE and either --ca
 * FILE or the certificate the genesis pins for that provider.  When the
 * node in use does not answer, the other nodes of the genesis are tried
 * in turn; the same signed tx is simply posted again (a node answers 200
 * for a tx it already holds), so fail-over never makes a second request.
 */
#include "cli.h"
#include "devnet.h"
#include "../ledger/genesis.h"
#include "../ledger/instr.h"
#include "../ledger/tx.h"
#include "../lib/https.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS 30000
#define WAIT_SLICE_MS 5000        /* one long poll */
#define POST_TIMEOUT_MS 5000
#define BUSY_RETRY_MS 300         /* after a 503 (mempool full) */

/* ---- nodes to talk to ---------------------------------------------------- */

typedef struct {
	char *url;                 /* https://host:port */
	const char *name;          /* provider name, or the URL */
	https_trust_t trust;
	https_client_t *post, *poll;
	char err[256];             /* last failure */
} target_t;

typedef struct {
	genesis_t g;
	int have_g;
	char *ca_file;
	target_t *t;
	size_t n;
	size_t cur;
} targets_t;

typedef struct {
	const char *node_url, *dir, *genesis, *ca;
	long node_index;
} target_opts_t;

static void targets_free(targets_t *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->t[i].url);
		https_client_free(ts->t[i].post);
		https_client_free(ts->t[i].poll);
	}
	free(ts->t);
	free(ts->ca_file);
	if (ts->have_g)
		genesis_free(&ts->g);
	memset(ts, 0, sizeof(*ts));
}

/* "https://h:p/x" and "https://h:p" name the same server. */
static int same_base(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && !strncmp(a, b, la);
}

static void target_add(targets_t *ts, const char *url, const char *name, const char *pin)
{
	ts->t = xrealloc(ts->t, (ts->n + 1) * sizeof(*ts->t));
	target_t *t = &ts->t[ts->n++];
	memset(t, 0, sizeof(*t));
	t->url = xstrdup(url);
	size_t l = strlen(t->url);
	while (l && t->url[l - 1] == '/')
		t->url[--l] = 0;
	t->name = name ? name : t->url;
	t->trust.ca_file = ts->ca_file;
	t->trust.pin_pem = ts->ca_file ? NULL : pin;
}

/* Builds the list of nodes from the options: the chosen one first, then
 * the genesis's others in index order.  Prints the reason and returns -1
 * on a bad combination. */
static int targets_open(targets_t *ts, const target_opts_t *o)
{
	char err[512];
	memset(ts, 0, sizeof(*ts));
	if (!o->node_url && !o->dir)
		return cli_fail("give --node URL or --dir DEVNET"), -1;
	if (o->dir && o->genesis)
		return cli_fail("--genesis is for --node; --dir uses DIR/genesis.json"), -1;
	if (o->dir) {
		devnet_t d;
		if (devnet_open(&d, o->dir, err, sizeof(err)) < 0)
			return cli_fail("%s", err), -1;
		ts->g = d.g;           /* take the genesis over */
		ts->have_g = 1;
		ts->ca_file = xstrdup(o->ca ? o->ca : d.ca_path);
		free(d.dir);
		free(d.ca_path);
	} else {
		if (!o->genesis)
			return cli_fail("--node URL needs --genesis FILE (to know the chain and the other "
					"nodes), or use --dir DEVNET"), -1;
		if (genesis_load(&ts->g, o->genesis, err, sizeof(err)) < 0)
			return cli_fail("%s", err), -1;
		ts->have_g = 1;
		ts->ca_file = o->ca ? xstrdup(o->ca) : NULL;
	}
	size_t n = ts->g.n_providers;
	size_t first = 0;
	int first_known = 0;
	if (o->node_url) {
		if (strncmp(o->node_url, "https://", 8))
			return cli_fail("--node `%s' is not an https:// URL", o->node_url), -1;
		for (size_t i = 0; i < n && !first_known; i++)
			if (same_base(ts->g.providers[i].api, o->node_url)) {
				first = i;
				first_known = 1;
			}
		if (!first_known) {
			if (!ts->ca_file)
				return cli_fail("--node `%s' is not the API of any provider in the genesis, so "
						"no pinned certificate applies: give --ca FILE", o->node_url), -1;
			target_add(ts, o->node_url, NULL, NULL);
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
		const provider_t *p = &ts->g.providers[i];
		target_add(ts, p->api, p->name, p->tls_cert_pem);
	}
	return 0;
}

static https_client_t *client_of(target_t *t, int poll, int timeout_ms)
{
	https_client_t **c = poll ? &t->poll : &t->post;
	if (!*c) {
		*c = https_client_new(t->url, &t->trust, timeout_ms, t->err, sizeof(t->err));
		if (*c)
			https_client_set_max_response(*c, 16u << 20);
	}
	return *c;
}

/* One request to target t.  0 with *status and a parsed JSON body (NULL
 * when the body is not JSON; the caller decrefs), or -1 with t->err. */
static int target_call(target_t *t, int poll, int timeout_ms, const char *method,
		       const char *path, const uint8_t *body, size_t len, int *status, json_t **out)
{
	uint8_t *resp = NULL;
	size_t rlen = 0;
	int ret = -1;
	*out = NULL;
	https_client_t *c = client_of(t, poll, timeout_ms);
	if (!c)
		goto out;
	if (https_client_request(c, method, path, body ? "application/octet-stream" : NULL, body, len,
				 status, &resp, &rlen, t->err, sizeof(t->err)) < 0) {
		/* drop the connection: the next attempt starts clean */
		https_client_free(c);
		if (poll)
			t->poll = NULL;
		else
			t->post = NULL;
		goto out;
	}
	json_error_t je;
	*out = json_loadb((const char *)resp, rlen, 0, &je);
	ret = 0;
out:
	free(resp);
	return ret;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

enum { POST_OK = 0, POST_REFUSED = 1, POST_DOWN = 2 };

/* Posts the signed tx to the current node, moving on to the next nodes
 * while a node does not answer (transport error or 5xx other than 503);
 * a 503 (pool full) is retried on the same node until deadline_us.
 * POST_OK: 2xx, *status and *body set, ts->cur is the node that took it.
 * POST_REFUSED: a 4xx, *status and *body set.  POST_DOWN: no node took it
 * (each node's reason is printed). */
static int post_tx(targets_t *ts, const tx_t *tx, uint64_t deadline_us, int *status, json_t **body)
{
	for (size_t tried = 0; tried < ts->n;) {
		target_t *t = &ts->t[ts->cur];
		if (target_call(t, 0, POST_TIMEOUT_MS, "POST", "/v1/transactions", tx->raw, tx->raw_len,
				status, body) == 0) {
			if (*status >= 200 && *status < 300)
				return POST_OK;
			if (*status >= 400 && *status < 500)
				return POST_REFUSED;
			if (*status == 503 && mono_us() < deadline_us) {
				json_decref(*body);
				sleep_ms(BUSY_RETRY_MS);
				continue;
			}
			err_set(t->err, sizeof(t->err), "HTTP %d %s: %s", *status, jstr(*body, "error"),
				jstr(*body, "message"));
			json_decref(*body);
			*body = NULL;
		}
		tried++;
		if (ts->n > 1 && tried < ts->n)
			fprintf(stderr, "bsec: node %s (%s) did not take the tx: %s; trying the next node\n",
				t->name, t->url, t->err);
		ts->cur = (ts->cur + 1) % ts->n;
	}
	for (size_t i = 0; i < ts->n; i++)
		cli_fail("node %s (%s): %s", ts->t[i].name, ts->t[i].url, ts->t[i].err);
	return POST_DOWN;
}

/* Prints a node's 4xx refusal: its error code and message. */
static void print_refusal(const targets_t *ts, int status, const json_t *body)
{
	const target_t *t = &ts->t[ts->cur];
	if (body && json_object_get(body, "error"))
		cli_fail("node %s refused the tx (HTTP %d): %s: %s", t->name, status, jstr(body, "error"),
			 jstr(body, "message"));
	else
		cli_fail("node %s refused the tx (HTTP %d)", t->name, status);
}

/* ---- bsec request --------------------------------------------------------- */

enum { O_NODE = 256, O_DIR, O_KEY, O_DOMAIN, O_JSON, O_TIMEOUT, O_GENESIS, O_NODE_INDEX, O_CA };

static const struct option request_opts[] = {
	{ "node", required_argument, 0, O_NODE }, { "dir", required_argument, 0, O_DIR },
	{ "key", required_argument, 0, O_KEY }, { "domain", required_argument, 0, O_DOMAIN },
	{ "json", no_argument, 0, O_JSON }, { "timeout", required_argument, 0, O_TIMEOUT },
	{ "genesis", required_argument, 0, O_GENESIS },
	{ "node-index", required_argument, 0, O_NODE_INDEX }, { "ca", required_argument, 0, O_CA },
	{ 0, 0, 0, 0 },
};

static const char *request_usage =
	"bsec request (--node URL --genesis FILE [--ca FILE] | --dir DEVNET [--node-index I])\n"
	"             --key KEY --domain DOMAIN \"INSTRUCTION\" [--json] [--timeout MS]\n"
	"  signs a REQUEST with KEY, submits it and waits until it is committed\n"
	"  (default timeout 30000 ms); prints id, height and latency_ms";

/* Shared option parsing for request and tx submit. */
static int parse_common(int c, target_opts_t *to, long *timeout_ms, int *json)
{
	char *end;
	switch (c) {
	case O_NODE: to->node_url = optarg; return 0;
	case O_DIR: to->dir = optarg; return 0;
	case O_GENESIS: to->genesis = optarg; return 0;
	case O_CA: to->ca = optarg; return 0;
	case O_JSON: *json = 1; return 0;
	case O_NODE_INDEX:
		to->node_index = strtol(optarg, &end, 10);
		if (!*optarg || *end || to->node_index < 0 || to->node_index > 65535)
			return cli_fail("--node-index `%s' is not a node index", optarg), 2;
		return 0;
	case O_TIMEOUT:
		*timeout_ms = strtol(optarg, &end, 10);
		if (!*optarg || *end || *timeout_ms < 1 || *timeout_ms > 3600000)
			return cli_fail("--timeout `%s' must be 1..3600000 ms", optarg), 2;
		return 0;
	default:
		return -1;
	}
}

/* Prints the instruction with a caret under 1-based position pos. */
static void show_position(const char *text, size_t pos)
{
	fprintf(stderr, "  %s\n  %*s^\n", text, (int)(pos ? pos - 1 : 0), "");
}

/* Waits until ts's nodes report tx committed.  0 with *answer (the API's
 * JSON) and ts->cur the node that said so; 1 on timeout or failure. */
static int wait_committed(targets_t *ts, const tx_t *tx, const char *id_hex, uint64_t deadline_us,
			  json_t **answer)
{
	char *path = NULL;
	int status;
	json_t *body = NULL;
	size_t down = 0;
	*answer = NULL;
	for (;;) {
		uint64_t now = mono_us();
		if (now >= deadline_us)
			break;
		long left_ms = (long)((deadline_us - now) / 1000);
		long slice = left_ms < WAIT_SLICE_MS ? left_ms : WAIT_SLICE_MS;
		target_t *t = &ts->t[ts->cur];
		free(path);
		path = xasprintf("/v1/transactions/%s?wait=%ld", id_hex, slice);
		uint64_t t0 = mono_us();
		status = 0;
		if (target_call(t, 1, WAIT_SLICE_MS + 3000, "GET", path, NULL, 0, &status, &body) < 0 ||
		    status >= 500) {
			if (status >= 500 && body)
				err_set(t->err, sizeof(t->err), "HTTP %d %s", status, jstr(body, "message"));
			json_decref(body);
			body = NULL;
			if (++down >= 2 * ts->n) {
				cli_fail("no node answers any more; last: %s (%s): %s", t->name, t->url, t->err);
				goto out;
			}
			/* this node is gone: give the tx to the next one and wait there */
			fprintf(stderr, "bsec: node %s stopped answering (%s); failing over\n", t->name,
				t->err);
			ts->cur = (ts->cur + 1) % ts->n;
			int pr = post_tx(ts, tx, deadline_us, &status, &body);
			json_decref(body);
			body = NULL;
			if (pr == POST_DOWN)
				goto out;
			if (pr == POST_REFUSED)
				sleep_ms(100);
			continue;
		}
		down = 0;
		if (status == 404) {
			/* the node does not know the tx (restarted with an empty pool?) */
			json_decref(body);
			body = NULL;
			int pr = post_tx(ts, tx, deadline_us, &status, &body);
			if (pr == POST_REFUSED) {
				print_refusal(ts, status, body);
				goto out;
			}
			json_decref(body);
			body = NULL;
			if (pr == POST_DOWN)
				goto out;
			sleep_ms(50);
			continue;
		}
		if (status != 200 || !json_is_object(body)) {
			cli_fail("GET %s%s: unexpected HTTP %d", t->url, path, status);
			goto out;
		}
		const char *st = jstr(body, "status");
		if (!strcmp(st, "committed") ||
		    (strcmp(st, "pending") && json_is_integer(json_object_get(body, "height")))) {
			*answer = body;
			body = NULL;
			break;
		}
		if (strcmp(st, "pending")) {
			cli_fail("node %s reports tx %s as `%s'", t->name, id_hex, st);
			goto out;
		}
		json_decref(body);
		body = NULL;
		/* a node that does not hold the poll open must not make us spin */
		if (mono_us() - t0 < (uint64_t)slice * 500)
			sleep_ms(50);
	}
out:
	if (!*answer && mono_us() >= deadline_us)
		cli_fail("tx %s not committed before the timeout (still pending at node %s)", id_hex,
			 ts->t[ts->cur].name);
	json_decref(body);
	free(path);
	return *answer ? 0 : 1;
}

int request_main(int argc, char **argv)
{
	target_opts_t to = { .node_index = -1 };
	const char *key_path = NULL, *domain = NULL, *instruction = NULL;
	long timeout_ms = DEFAULT_TIMEOUT_MS;
	int json = 0, ret = 1, r;
	targets_t ts = { 0 };
	sig_key_t *key = NULL;
	tx_t tx = { 0 };
	json_t *body = NULL, *answer = NULL;
	char err[512];

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", request_opts, NULL)) != -1;) {
		if (c == O_KEY)
			key_path = optarg;
		else if (c == O_DOMAIN)
			domain = optarg;
		else if ((r = parse_common(c, &to, &timeout_ms, &json)) != 0)
			return r > 0 ? r : cli_usage(request_usage);
	}
	if (optind + 1 != argc || !key_path || !domain)
		return cli_usage(request_usage);
	instruction = argv[optind];
	if (!!to.node_url + !!to.dir == 0)
		return cli_fail("give --node URL or --dir DEVNET"), 2;
	if (to.node_url && to.node_index >= 0)
		return cli_fail("--node-index picks a node of --dir; --node names one itself"), 2;

	instr_t in;
	size_t pos = 0;
	if (instr_parse(&in, instruction, strlen(instruction), &pos, err, sizeof(err)) < 0) {
		cli_fail("instruction: %s", err);
		show_position(instruction, pos);
		return 1;
	}
	if (targets_open(&ts, &to) < 0)
		goto out;
	if (!genesis_provider_of_domain(&ts.g, domain, strlen(domain))) {
		char *list = xstrdup("");
		for (size_t i = 0; i < ts.g.n_providers; i++)
			for (size_t k = 0; k < ts.g.providers[i].n_domains; k++) {
				char *l = xasprintf("%s%s%s", list, *list ? ", " : "", ts.g.providers[i].domains[k]);
				free(list);
				list = l;
			}
		cli_fail("--domain `%s' belongs to no provider of this consortium (domains: %s)", domain, list);
		free(list);
		goto out;
	}
	if (sig_key_load(&key, key_path, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	tx_fields_t f = { .type = TX_REQUEST, .domain = domain, .instruction = instruction };
	if (tx_build(&tx, &f, key, ts.g.chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	char id_hex[2 * BSEC_HASH_BYTES + 1];
	hex_encode(id_hex, tx.id, BSEC_HASH_BYTES);

	uint64_t t0 = mono_us();
	uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000;
	int status = 0;
	switch (post_tx(&ts, &tx, deadline, &status, &body)) {
	case POST_OK:
		break;
	case POST_REFUSED:
		print_refusal(&ts, status, body);
		goto out;
	default:
		goto out;
	}
	if (wait_committed(&ts, &tx, id_hex, deadline, &answer) != 0)
		goto out;
	uint64_t latency_ms = (mono_us() - t0 + 500) / 1000;
	json_t *h = json_object_get(answer, "height");
	const target_t *t = &ts.t[ts.cur];
	if (json) {
		json_t *o = json_deep_copy(answer);
		json_object_set_new(o, "id", json_string(id_hex));
		json_object_set_new(o, "status", json_string("committed"));
		json_object_set(o, "height", h ? h : json_null());
		json_object_set_new(o, "latency_ms", json_integer((json_int_t)latency_ms));
		json_object_set_new(o, "node", json_string(t->name));
		json_object_set_new(o, "api", json_string(t->url));
		char *s = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("id          %s\n", id_hex);
		if (json_is_integer(h))
			printf("height      %" JSON_INTEGER_FORMAT "\n", json_integer_value(h));
		else
			printf("height      ?\n");
		printf("latency_ms  %" PRIu64 "\n", latency_ms);
		printf("node        %s (%s)\n", t->name, t->url);
	}
	ret = 0;
out:
	json_decref(body);
	json_decref(answer);
	tx_clear(&tx);
	sig_key_free(key);
	targets_free(&ts);
	return ret;
}

/* ---- bsec tx submit ------------------------------------------------------- */

static const char *submit_usage =
	"bsec tx submit FILE (--node URL --genesis FILE [--ca FILE] | --dir DEVNET [--node-index I])\n"
	"                    [--json] [--timeout MS]\n"
	"  posts the signed tx in FILE (written by `bsec tx request|response|tenant')\n"
	"  and prints the node's answer; exit 0 when the node accepted it (2xx)";

int tx_submit_main(int argc, char **argv)
{
	target_opts_t to = { .node_index = -1 };
	long timeout_ms = DEFAULT_TIMEOUT_MS;
	int json = 0, ret = 1, r;
	targets_t ts = { 0 };
	tx_t tx = { 0 };
	json_t *body = NULL;
	uint8_t chain_id[BSEC_HASH_BYTES];
	char err[512];

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", request_opts, NULL)) != -1;) {
		if (c == O_KEY || c == O_DOMAIN)
			return cli_usage(submit_usage);
		if ((r = parse_common(c, &to, &timeout_ms, &json)) != 0)
			return r > 0 ? r : cli_usage(submit_usage);
	}
	if (optind + 1 != argc)
		return cli_usage(submit_usage);
	if (!!to.node_url + !!to.dir == 0)
		return cli_fail("give --node URL or --dir DEVNET"), 2;
	if (to.node_url && to.node_index >= 0)
		return cli_fail("--node-index picks a node of --dir; --node names one itself"), 2;
	const char *file = argv[optind];
	if (txfile_read(file, &tx, chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (targets_open(&ts, &to) < 0)
		goto out;
	if (memcmp(chain_id, ts.g.chain_id, BSEC_HASH_BYTES)) {
		char a[2 * BSEC_HASH_BYTES + 1], b[2 * BSEC_HASH_BYTES + 1];
		hex_encode(a, chain_id, BSEC_HASH_BYTES);
		hex_encode(b, ts.g.chain_id, BSEC_HASH_BYTES);
		cli_fail("`%s' was signed for chain %s, but this consortium's chain id is %s", file, a, b);
		goto out;
	}
	int status = 0;
	int pr = post_tx(&ts, &tx, mono_us() + (uint64_t)timeout_ms * 1000, &status, &body);
	if (pr == POST_DOWN)
		goto out;
	const target_t *t = &ts.t[ts.cur];
	if (json) {
		json_t *o = body ? json_incref(body) : json_object();
		if (json_is_object(o)) {
			json_object_set_new(o, "http_status", json_integer(status));
			json_object_set_new(o, "node", json_string(t->name));
		}
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_ENCODE_ANY);
		printf("%s\n", s ? s : "null");
		free(s);
		json_decref(o);
	} else {
		char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		printf("%s (%s): HTTP %d %s\n", t->name, t->url, status, s ? s : "(no JSON body)");
		free(s);
	}
	if (pr == POST_REFUSED)
		print_refusal(&ts, status, body);
	ret = pr == POST_OK ? 0 : 1;
out:
	json_decref(body);
	tx_clear(&tx);
	targets_free(&ts);
	return ret;
}
