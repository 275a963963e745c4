/*
 * cmd_genesis.c — `bsec genesis provider|init|show`: founding a real
 * consortium across machines.
 *
 * Each provider describes itself in a small JSON file with PUBLIC material
 * only (`genesis provider`); the descriptors are exchanged, one party
 * assembles the genesis (`genesis init`), and every provider checks the
 * chain id it prints before starting its node (`genesis show`).  Private
 * keys never leave their owner's machine.
 */
#include "cli.h"
#include "../ledger/genesis.h"
#include "../lib/sig.h"
#include "../lib/tls.h"

#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *pub_pem_of(const char *path, char *err, size_t errlen)
{
	int scheme;
	uint8_t pub[SIG_MAX_PUB];
	if (sig_pub_load(&scheme, pub, path, err, errlen) < 0)
		return NULL;
	return sig_pub_to_pem(scheme, pub);
}

static int provider_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, 0, 'n' }, { "domain", required_argument, 0, 'd' },
		{ "node-key", required_argument, 0, 'k' }, { "orchestrator-key", required_argument, 0, 'o' },
		{ "admin-key", required_argument, 0, 'a' }, { "peer", required_argument, 0, 'p' },
		{ "api", required_argument, 0, 'i' }, { "tls-cert", required_argument, 0, 't' },
		{ "out", required_argument, 0, 'w' }, { 0, 0, 0, 0 },
	};
	const char *usage = "bsec genesis provider --name NAME [--domain D]... --node-key PEM "
			    "--orchestrator-key PEM --admin-key PEM --peer HOST:PORT --api https://HOST:PORT "
			    "--tls-cert CERT.pem --out FILE";
	const char *name = NULL, *keys[3] = { 0 }, *peer = NULL, *api = NULL, *cert = NULL, *out = NULL;
	json_t *domains = json_array();
	char err[512];
	int ret = 1;
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'd':
			if (json_array_append_new(domains, json_string(optarg)) < 0) {
				json_decref(domains);
				return cli_fail("--domain `%s' is not valid UTF-8", optarg), 2;
			}
			break;
		case 'k': keys[0] = optarg; break;
		case 'o': keys[1] = optarg; break;
		case 'a': keys[2] = optarg; break;
		case 'p': peer = optarg; break;
		case 'i': api = optarg; break;
		case 't': cert = optarg; break;
		case 'w': out = optarg; break;
		default: json_decref(domains); return cli_usage(usage);
		}
	}
	if (!name || !keys[0] || !keys[1] || !keys[2] || !peer || !api || !cert || !out || optind != argc) {
		json_decref(domains);
		return cli_usage(usage);
	}
	if (strncmp(api, "https://", 8)) {
		json_decref(domains);
		return cli_fail("--api `%s' must be an https:// URL", api), 2;
	}
	if (!json_array_size(domains))
		json_array_append_new(domains, json_string(name));
	char *pem[3] = { 0 }, *certpem = NULL;
	for (int i = 0; i < 3; i++)
		if (!(pem[i] = pub_pem_of(keys[i], err, sizeof(err)))) {
			cli_fail("%s", err);
			goto out;
		}
	certpem = tls_read_cert_file(cert, err, sizeof(err));
	uint8_t fp[TLS_FP_BYTES];
	if (!certpem || tls_fingerprint(fp, certpem, err, sizeof(err)) < 0) {
		cli_fail("%s: %s", cert, err);
		goto out;
	}
	json_t *o = json_pack("{s:s,s:O,s:s,s:s,s:s,s:s,s:s,s:s}", "name", name, "domains", domains,
			      "node_key", pem[0], "orchestrator_key", pem[1], "admin_key", pem[2], "peer", peer,
			      "api", api, "tls_cert", certpem);
	char *txt = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (!txt) {
		cli_fail("--name, --peer and --api must be valid UTF-8");
		goto out;
	}
	if (file_write(out, txt, strlen(txt), 0644, err, sizeof(err)) < 0)
		cli_fail("%s", err);
	else {
		char fph[65];
		hex_encode(fph, fp, TLS_FP_BYTES);
		printf("provider %s -> %s (TLS certificate sha256 %s)\n", name, out, fph);
		ret = 0;
	}
	free(txt);
out:
	for (int i = 0; i < 3; i++)
		free(pem[i]);
	free(certpem);
	json_decref(domains);
	return ret;
}

static int init_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, 0, 'n' }, { "out", required_argument, 0, 'w' },
		{ "view-timeout", required_argument, 0, 'v' }, { "timestamp-window", required_argument, 0, 't' },
		{ "max-block-txs", required_argument, 0, 'b' }, { "max-block-bytes", required_argument, 0, 'B' },
		{ "checkpoint-interval", required_argument, 0, 'c' }, { "force", no_argument, 0, 'f' },
		{ 0, 0, 0, 0 },
	};
	const char *usage = "bsec genesis init --name NAME --out FILE [--view-timeout MS] "
			    "[--timestamp-window MS] [--max-block-txs N] [--max-block-bytes N] "
			    "[--checkpoint-interval N] [--force] PROVIDER.json...\n"
			    "  --force replaces an existing FILE (a consortium's genesis is never replaced by accident)";
	const char *name = NULL, *out = NULL;
	int force = 0;
	params_t p;
	params_default(&p);
	char err[512];
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		char *end;
		unsigned long long v = optarg ? strtoull(optarg, &end, 10) : 0;
		if (optarg && c != 'n' && c != 'w' && (*end || !isdigit((unsigned char)*optarg)))
			return cli_fail("`%s' is not a number", optarg), 2;
		switch (c) {
		case 'f': force = 1; break;
		case 'n': name = optarg; break;
		case 'w': out = optarg; break;
		case 'v': p.view_timeout_ms = v; p.request_timeout_ms = 2 * v; break;
		case 't': p.timestamp_window_ms = v; break;
		case 'b': p.max_block_txs = v; break;
		case 'B': p.max_block_bytes = v; break;
		case 'c': p.checkpoint_interval = v; break;
		default: return cli_usage(usage);
		}
	}
	if (!name || !out || optind >= argc)
		return cli_usage(usage);
	json_t *provs = json_array();
	for (int i = optind; i < argc; i++) {
		json_error_t je;
		json_t *d = json_load_file(argv[i], JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(d)) {
			json_decref(d);
			json_decref(provs);
			return cli_fail("%s: not a provider descriptor (line %d: %s)", argv[i], je.line, je.text);
		}
		json_array_append_new(provs, d);
	}
	json_t *g = json_pack("{s:i,s:s,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:o,s:[]}", "version", 1, "name", name,
			      "created_ms", (json_int_t)now_ms(), "params", "timestamp_window_ms",
			      (json_int_t)p.timestamp_window_ms, "view_timeout_ms", (json_int_t)p.view_timeout_ms,
			      "max_block_txs", (json_int_t)p.max_block_txs, "max_block_bytes",
			      (json_int_t)p.max_block_bytes, "checkpoint_interval", (json_int_t)p.checkpoint_interval,
			      "request_timeout_ms", (json_int_t)p.request_timeout_ms, "providers", provs, "tenants");
	char *txt = g ? json_dumps(g, JSON_INDENT(2)) : NULL;
	json_decref(g);
	if (!txt)
		return cli_fail("--name `%s' is not valid UTF-8", name), 2;
	genesis_t chk;
	int ret = 1;
	/* refuse to write a genesis that would not load */
	if (genesis_parse(&chk, (uint8_t *)txt, strlen(txt), err, sizeof(err)) < 0) {
		cli_fail("the genesis would be invalid: %s", err);
	} else {
		genesis_free(&chk);
		if ((force ? file_write(out, txt, strlen(txt), 0644, err, sizeof(err))
			   : file_write_new(out, txt, strlen(txt), 0644, err, sizeof(err))) < 0) {
			cli_fail("%s", err);
		} else {
			uint8_t cid[BSEC_HASH_BYTES];
			char h[65];
			hash_sha256(cid, txt, strlen(txt));
			hex_encode(h, cid, BSEC_HASH_BYTES);
			printf("genesis %s: %d providers, chain id %s\n", out, argc - optind, h);
			ret = 0;
		}
	}
	free(txt);
	return ret;
}

static int show_main(int argc, char **argv)
{
	if (argc != 2)
		return cli_usage("bsec genesis show FILE");
	genesis_t g;
	char err[512], h[65];
	if (genesis_load(&g, argv[1], err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	hex_encode(h, g.chain_id, BSEC_HASH_BYTES);
	printf("consortium  %s\nchain id    %s\nproviders   %zu (tolerates f = %zu Byzantine; quorum %zu)\n",
	       g.name, h, g.n_providers, genesis_f(&g), genesis_quorum(&g));
	for (size_t i = 0; i < g.n_providers; i++) {
		const provider_t *p = &g.providers[i];
		uint8_t fp[TLS_FP_BYTES];
		char fph[65] = "?";
		if (p->tls_cert_pem && tls_fingerprint(fp, p->tls_cert_pem, err, sizeof(err)) == 0)
			hex_encode(fph, fp, 8);
		printf("  %zu %-10s domains:", i, p->name);
		for (size_t d = 0; d < p->n_domains; d++)
			printf(" %s", p->domains[d]);
		printf("  peer %s  api %s  tls %s… node key %s\n", p->peer ? p->peer : "-", p->api ? p->api : "-",
		       fph, sig_scheme_name(p->node_key.scheme));
	}
	printf("params      view timeout %llu ms, timestamp window %llu ms, blocks <= %llu txs / %llu bytes\n",
	       (unsigned long long)g.params.view_timeout_ms, (unsigned long long)g.params.timestamp_window_ms,
	       (unsigned long long)g.params.max_block_txs, (unsigned long long)g.params.max_block_bytes);
	genesis_free(&g);
	return 0;
}

static const cli_cmd_t genesis_cmds[] = {
	{ "provider", provider_main, "describe one provider (public keys, endpoints, TLS cert)" },
	{ "init", init_main, "assemble a genesis from provider descriptors" },
	{ "show", show_main, "print a genesis: chain id, providers, parameters" },
	{ NULL, NULL, NULL },
};

int genesis_main(int argc, char **argv)
{
	return cli_dispatch("genesis", genesis_cmds, argc, argv);
}
