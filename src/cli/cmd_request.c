/*
 * cmd_request.c — the CLI as a tenant's client of the node API:
 *
 *   bsec request (--node URL | --dir D) --key K --domain DOMAIN "INSTRUCTION"
 *                [--wait-response] [--json] [--timeout MS]
 *   bsec tx submit FILE (--node URL | --dir D)
 *
 * `request` checks the instruction with the shared parser, builds and
 * signs a REQUEST, posts it (POST /v1/transactions), then long-polls
 * GET /v1/transactions/{id}?wait=MS until it is committed, and prints its
 * id, height and submit-to-commit latency.  With --wait-response it then
 * waits, within the same --timeout, until the domain's orchestrator has
 * answered on chain and prints the response (status, result or error, the
 * executing domain); it exits 1 when that response is an error.  `tx
 * submit` posts a tx file as it is.  Node selection, trust and fail-over
 * are client.h's.
 */
#include "cli.h"
#include "client.h"
#include "../ledger/genesis.h"
#include "../ledger/instr.h"
#include "../ledger/tx.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_KEY = CLIENT_O_FIRST_FREE, O_DOMAIN, O_WAIT_RESPONSE };

static const struct option request_opts[] = {
	CLIENT_LONG_OPTS,
	{ "key", required_argument, 0, O_KEY }, { "domain", required_argument, 0, O_DOMAIN },
	{ "wait-response", no_argument, 0, O_WAIT_RESPONSE },
	{ 0, 0, 0, 0 },
};

static const char *request_usage =
	"bsec request (--node URL (--genesis FILE | --ca FILE) | --dir DEVNET [--node-index I])\n"
	"             --key KEY --domain DOMAIN \"INSTRUCTION\" [--wait-response] [--json]\n"
	"             [--timeout MS]\n"
	"  signs a REQUEST with KEY, submits it and waits until it is committed\n"
	"  (default timeout 30000 ms); prints id, height and latency_ms.  With\n"
	"  --wait-response also waits for the orchestrator's response on chain and\n"
	"  prints its status and result (exit 1 when it is an error)";

/* Prints the instruction with a caret under 1-based position pos. */
static void show_position(const char *text, size_t pos)
{
	fprintf(stderr, "  %s\n  %*s^\n", text, (int)(pos ? pos - 1 : 0), "");
}

/* The provider whose orchestrator key signed the response tx JSON rtx. */
static const provider_t *response_signer(const genesis_t *g, const json_t *rtx)
{
	uint8_t key[SIG_MAX_PUB];
	const char *hex = client_jstr(rtx, "sender_hex");
	size_t hl = strlen(hex);
	if (!hl || hl % 2 || hl / 2 > SIG_MAX_PUB || hex_decode(key, hl / 2, hex) < 0)
		return NULL;
	for (size_t i = 0; i < g->n_providers; i++) {
		const pubkey_t *k = &g->providers[i].orch_key;
		if (sig_pub_len(k->scheme) == hl / 2 && !memcmp(k->key, key, hl / 2))
			return &g->providers[i];
	}
	return NULL;
}

int request_main(int argc, char **argv)
{
	client_opts_t to = { .node_index = -1 };
	const char *key_path = NULL, *domain = NULL, *instruction = NULL;
	long timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
	int json = 0, wait_response = 0, ret = 1, r;
	client_t cl = { 0 };
	sig_key_t *key = NULL;
	tx_t tx = { 0 };
	json_t *body = NULL, *answer = NULL, *resp = NULL, *out = NULL;
	char err[512];

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", request_opts, NULL)) != -1;) {
		if (c == O_KEY)
			key_path = optarg;
		else if (c == O_DOMAIN)
			domain = optarg;
		else if (c == O_WAIT_RESPONSE)
			wait_response = 1;
		else if ((r = client_parse_opt(c, &to, &timeout_ms, &json)) != 0)
			return r > 0 ? r : cli_usage(request_usage);
	}
	if (optind + 1 != argc || !key_path || !domain)
		return cli_usage(request_usage);
	instruction = argv[optind];
	if ((r = client_check_opts(&to)) != 0)
		return r;

	instr_t in;
	size_t pos = 0;
	if (instr_parse(&in, instruction, strlen(instruction), &pos, err, sizeof(err)) < 0) {
		cli_fail("instruction: %s", err);
		show_position(instruction, pos);
		return 1;
	}
	if (client_open(&cl, &to) < 0)
		goto out;
	if (cl.have_g && !genesis_provider_of_domain(&cl.g, domain, strlen(domain))) {
		char *list = client_domain_list(&cl);
		cli_fail("--domain `%s' belongs to no provider of this consortium (domains: %s)", domain, list);
		free(list);
		goto out;
	}
	if (sig_key_load(&key, key_path, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	tx_fields_t f = { .type = TX_REQUEST, .domain = domain, .instruction = instruction };
	if (tx_build(&tx, &f, key, cl.g.chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	char id_hex[2 * BSEC_HASH_BYTES + 1];
	hex_encode(id_hex, tx.id, BSEC_HASH_BYTES);

	uint64_t t0 = mono_us();
	uint64_t deadline = t0 + (uint64_t)timeout_ms * 1000;
	int status = 0;
	switch (client_post_tx(&cl, &tx, deadline, &status, &body)) {
	case CLIENT_POST_OK:
		break;
	case CLIENT_POST_REFUSED:
		client_print_refusal(&cl, status, body);
		goto out;
	default:
		goto out;
	}
	if (client_wait_committed(&cl, &tx, deadline, &answer) != 0)
		goto out;
	uint64_t latency_ms = (mono_us() - t0 + 500) / 1000;
	json_t *h = json_object_get(answer, "height");
	const client_node_t *t = &cl.t[cl.cur];
	if (!wait_response) {
		if (json) {
			out = json_deep_copy(answer);
			json_object_set_new(out, "id", json_string(id_hex));
			json_object_set_new(out, "status", json_string("committed"));
			json_object_set(out, "height", h ? h : json_null());
			json_object_set_new(out, "latency_ms", json_integer((json_int_t)latency_ms));
			json_object_set_new(out, "node", json_string(t->name));
			json_object_set_new(out, "api", json_string(t->url));
		} else {
			printf("id          %s\n", id_hex);
			if (json_is_integer(h))
				printf("height      %" JSON_INTEGER_FORMAT "\n", json_integer_value(h));
			else
				printf("height      ?\n");
			printf("latency_ms  %" PRIu64 "\n", latency_ms);
			if (strcmp(t->name, t->url))
				printf("node        %s (%s)\n", t->name, t->url);
			else
				printf("node        %s\n", t->url);
		}
		ret = 0;
		goto print;
	}

	/* --wait-response */
	if (client_wait_response(&cl, tx.id, domain, deadline, &resp) != 0)
		goto out;
	uint64_t resp_latency_ms = (mono_us() - t0 + 500) / 1000;
	t = &cl.t[cl.cur];
	json_t *rtx = json_object_get(resp, "tx");
	const char *rstatus = client_jstr(rtx, "status");
	const provider_t *signer = cl.have_g ? response_signer(&cl.g, rtx) : NULL;
	int is_ok = !strcmp(rstatus, "ok");
	if (json) {
		out = json_object();
		json_object_set_new(out, "id", json_string(id_hex));
		json_object_set(out, "height", h ? h : json_null());
		json_object_set_new(out, "commit_latency_ms", json_integer((json_int_t)latency_ms));
		json_object_set_new(out, "response_id", json_string(client_jstr(resp, "id")));
		json_object_set(out, "response_height", json_object_get(resp, "height"));
		json_object_set_new(out, "status", json_string(rstatus));
		json_object_set_new(out, "result", json_string(client_jstr(rtx, "result")));
		json_object_set_new(out, "error", json_string(client_jstr(rtx, "error")));
		json_object_set_new(out, "domain", json_string(domain));
		json_object_set_new(out, "provider", signer ? json_string(signer->name) : json_null());
		json_object_set_new(out, "orchestrator_key_pem",
				    json_string(client_jstr(rtx, "public_key_pem")));
		json_object_set_new(out, "latency_ms", json_integer((json_int_t)resp_latency_ms));
		json_object_set_new(out, "node", json_string(t->name));
		json_object_set_new(out, "api", json_string(t->url));
	} else {
		printf("id           %s\n", id_hex);
		if (json_is_integer(h))
			printf("height       %" JSON_INTEGER_FORMAT "\n", json_integer_value(h));
		printf("response_id  %s\n", client_jstr(resp, "id"));
		json_t *rh = json_object_get(resp, "height");
		if (json_is_integer(rh))
			printf("resp_height  %" JSON_INTEGER_FORMAT "\n", json_integer_value(rh));
		printf("status       %s\n", rstatus);
		if (is_ok)
			printf("result       %s\n", client_jstr(rtx, "result"));
		else
			printf("error        %s\n", client_jstr(rtx, "error"));
		if (signer)
			printf("domain       %s (orchestrator of %s)\n", domain, signer->name);
		else
			printf("domain       %s\n", domain);
		printf("latency_ms   %" PRIu64 " (commit %" PRIu64 ")\n", resp_latency_ms, latency_ms);
	}
	ret = is_ok ? 0 : 1;
	if (!is_ok)
		cli_fail("the orchestrator of domain `%s' answered with an error: %s", domain,
			 client_jstr(rtx, "error"));
print:
	if (out) {
		char *s = json_dumps(out, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
	}
out:
	json_decref(out);
	json_decref(body);
	json_decref(answer);
	json_decref(resp);
	tx_clear(&tx);
	sig_key_free(key);
	client_close(&cl);
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
	client_opts_t to = { .node_index = -1 };
	long timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
	int json = 0, ret = 1, r;
	client_t cl = { 0 };
	tx_t tx = { 0 };
	json_t *body = NULL;
	uint8_t chain_id[BSEC_HASH_BYTES];
	char err[512];

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", request_opts, NULL)) != -1;) {
		if (c == O_KEY || c == O_DOMAIN || c == O_WAIT_RESPONSE)
			return cli_usage(submit_usage);
		if ((r = client_parse_opt(c, &to, &timeout_ms, &json)) != 0)
			return r > 0 ? r : cli_usage(submit_usage);
	}
	if (optind + 1 != argc)
		return cli_usage(submit_usage);
	if ((r = client_check_opts(&to)) != 0)
		return r;
	const char *file = argv[optind];
	if (txfile_read(file, &tx, chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (client_open(&cl, &to) < 0)
		goto out;
	if (memcmp(chain_id, cl.g.chain_id, BSEC_HASH_BYTES)) {
		char a[2 * BSEC_HASH_BYTES + 1], b[2 * BSEC_HASH_BYTES + 1];
		hex_encode(a, chain_id, BSEC_HASH_BYTES);
		hex_encode(b, cl.g.chain_id, BSEC_HASH_BYTES);
		cli_fail("`%s' was signed for chain %s, but this consortium's chain id is %s", file, a, b);
		goto out;
	}
	int status = 0;
	int pr = client_post_tx(&cl, &tx, mono_us() + (uint64_t)timeout_ms * 1000, &status, &body);
	if (pr == CLIENT_POST_DOWN)
		goto out;
	const client_node_t *t = &cl.t[cl.cur];
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
	if (pr == CLIENT_POST_REFUSED)
		client_print_refusal(&cl, status, body);
	ret = pr == CLIENT_POST_OK ? 0 : 1;
out:
	json_decref(body);
	tx_clear(&tx);
	client_close(&cl);
	return ret;
}
