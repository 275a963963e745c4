/*
 * cmd_tx.c — `bsec tx request|response|tenant|show|verify`: build and sign
 * transactions into tx files, print them (text or JSON) and check them.
 */
#include "cli.h"
#include "../ledger/tx.h"
#include "../ledger/instr.h"
#include "../ledger/validate.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	O_KEY = 256, O_GENESIS, O_CHAIN, O_OUT, O_DOMAIN, O_INSTR, O_TS, O_NONCE, O_REQ, O_STATUS,
	O_RESULT, O_ERROR, O_ACTION, O_TKEY, O_NAME, O_OPS, O_VMS, O_VNFS, O_SFCS, O_CHAINLEN,
	O_RATE, O_NOCHECK, O_JSON,
};

static const struct option build_opts[] = {
	{ "key", required_argument, 0, O_KEY },
	{ "genesis", required_argument, 0, O_GENESIS },
	{ "chain-id", required_argument, 0, O_CHAIN },
	{ "out", required_argument, 0, O_OUT },
	{ "domain", required_argument, 0, O_DOMAIN },
	{ "instruction", required_argument, 0, O_INSTR },
	{ "timestamp", required_argument, 0, O_TS },
	{ "nonce", required_argument, 0, O_NONCE },
	{ "request-id", required_argument, 0, O_REQ },
	{ "status", required_argument, 0, O_STATUS },
	{ "result", required_argument, 0, O_RESULT },
	{ "error", required_argument, 0, O_ERROR },
	{ "action", required_argument, 0, O_ACTION },
	{ "tenant-key", required_argument, 0, O_TKEY },
	{ "name", required_argument, 0, O_NAME },
	{ "ops", required_argument, 0, O_OPS },
	{ "max-vms", required_argument, 0, O_VMS },
	{ "max-vnfs", required_argument, 0, O_VNFS },
	{ "max-sfcs", required_argument, 0, O_SFCS },
	{ "max-chain", required_argument, 0, O_CHAINLEN },
	{ "rate", required_argument, 0, O_RATE },
	{ "no-check", no_argument, 0, O_NOCHECK },
	{ "json", no_argument, 0, O_JSON },
	{ 0, 0, 0, 0 },
};

static const char *build_usage =
	"bsec tx request|response|tenant --key KEY (--genesis FILE | --chain-id HEX) --out FILE\n"
	"  request:  --domain D --instruction TEXT [--no-check]\n"
	"  response: --request-id HEX --status ok|error [--result TEXT] [--error TEXT]\n"
	"  tenant:   --action register|update|revoke --domain D --tenant-key PEM --name NAME\n"
	"            [--ops OPS] [--max-vms N] [--max-vnfs N] [--max-sfcs N] [--max-chain N] [--rate N]\n"
	"  any:      [--timestamp MS] [--nonce N] [--json]";

static int parse_num(uint64_t *out, const char *s, uint64_t max, const char *opt)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || v > max || s[0] == '-') {
		cli_fail("%s `%s' is not an integer in 0..%llu", opt, s, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Shared by request/response/tenant. */
static int build_main(int argc, char **argv, int type)
{
	const char *key_path = NULL, *genesis = NULL, *chain_hex = NULL, *out = NULL;
	const char *tkey = NULL;
	int json = 0, nocheck = 0, ret = 1;
	uint64_t v;
	tx_fields_t f = { .type = (uint8_t)type };
	uint8_t req_id[BSEC_HASH_BYTES], tpub[SIG_MAX_PUB], chain_id[BSEC_HASH_BYTES];
	sig_key_t *key = NULL;
	tx_t tx = { 0 };
	char err[512];
	int have_status = 0;

	f.sla.ops = OP_ALL;
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", build_opts, NULL)) != -1;) {
		switch (c) {
		case O_KEY: key_path = optarg; break;
		case O_GENESIS: genesis = optarg; break;
		case O_CHAIN: chain_hex = optarg; break;
		case O_OUT: out = optarg; break;
		case O_DOMAIN: f.domain = optarg; break;
		case O_INSTR: f.instruction = optarg; break;
		case O_TS:
			if (parse_num(&v, optarg, UINT64_MAX >> 1, "--timestamp") < 0)
				return 2;
			f.timestamp_ms = v;
			break;
		case O_NONCE:
			if (parse_num(&v, optarg, UINT32_MAX, "--nonce") < 0)
				return 2;
			f.nonce = (uint32_t)v;
			break;
		case O_REQ:
			if (hex_decode(req_id, sizeof(req_id), optarg) < 0)
				return cli_fail("--request-id `%s' is not 64 hex digits", optarg), 2;
			f.request_id = req_id;
			break;
		case O_STATUS:
			if (!strcmp(optarg, "ok"))
				f.status = TX_STATUS_OK;
			else if (!strcmp(optarg, "error"))
				f.status = TX_STATUS_ERROR;
			else
				return cli_fail("--status `%s' must be ok or error", optarg), 2;
			have_status = 1;
			break;
		case O_RESULT: f.result = optarg; break;
		case O_ERROR: f.error = optarg; break;
		case O_ACTION:
			if (!strcmp(optarg, "register"))
				f.action = TENANT_REGISTER;
			else if (!strcmp(optarg, "update"))
				f.action = TENANT_UPDATE;
			else if (!strcmp(optarg, "revoke"))
				f.action = TENANT_REVOKE;
			else
				return cli_fail("--action `%s' must be register, update or revoke", optarg), 2;
			break;
		case O_TKEY: tkey = optarg; break;
		case O_NAME: f.name = optarg; break;
		case O_OPS:
			if (sla_ops_parse(&f.sla.ops, optarg, err, sizeof(err)) < 0)
				return cli_fail("--ops: %s", err), 2;
			break;
		case O_VMS: case O_VNFS: case O_SFCS: case O_RATE:
			if (parse_num(&v, optarg, UINT32_MAX, "quota") < 0)
				return 2;
			if (c == O_VMS) f.sla.max_vms = (uint32_t)v;
			if (c == O_VNFS) f.sla.max_vnfs = (uint32_t)v;
			if (c == O_SFCS) f.sla.max_sfcs = (uint32_t)v;
			if (c == O_RATE) f.sla.rate_per_min = (uint32_t)v;
			break;
		case O_CHAINLEN:
			if (parse_num(&v, optarg, 65535, "--max-chain") < 0)
				return 2;
			f.sla.max_chain = (uint16_t)v;
			break;
		case O_NOCHECK: nocheck = 1; break;
		case O_JSON: json = 1; break;
		default: return cli_usage(build_usage);
		}
	}
	if (optind != argc || !key_path || !out)
		return cli_usage(build_usage);
	if (type == TX_REQUEST && (!f.domain || !f.instruction))
		return cli_fail("a request needs --domain and --instruction"), 2;
	if (type == TX_RESPONSE && (!f.request_id || !have_status))
		return cli_fail("a response needs --request-id and --status"), 2;
	if (type == TX_TENANT && (!f.action || !f.domain || !tkey || !f.name))
		return cli_fail("a tenant tx needs --action, --domain, --tenant-key and --name"), 2;
	if (cli_chain_id(chain_id, genesis, chain_hex) < 0)
		return 2;
	if (type == TX_REQUEST && !nocheck) {
		instr_t in;
		size_t pos;
		if (instr_parse(&in, f.instruction, strlen(f.instruction), &pos, err, sizeof(err)) < 0)
			return cli_fail("instruction: %s", err);
	}
	if (tkey) {
		int s;
		if (sig_pub_load(&s, tpub, tkey, err, sizeof(err)) < 0)
			return cli_fail("%s", err);
		f.tenant_scheme = (uint8_t)s;
		f.tenant_key = tpub;
	}
	if (sig_key_load(&key, key_path, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	if (tx_build(&tx, &f, key, chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	verdict_t vd;
	if (validate_fields(&tx, &vd) != V_OK) {
		cli_fail("the tx would be refused: %s", vd.msg);
		goto out;
	}
	if (txfile_write(out, &tx, chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (json) {
		json_t *j = tx_to_json(&tx, chain_id);
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		char id[2 * BSEC_HASH_BYTES + 1];
		hex_encode(id, tx.id, BSEC_HASH_BYTES);
		printf("%s %s %zu bytes -> %s\n", tx_type_name(type), id, tx.raw_len, out);
	}
	ret = 0;
out:
	tx_clear(&tx);
	sig_key_free(key);
	return ret;
}

static int txreq_main(int argc, char **argv) { return build_main(argc, argv, TX_REQUEST); }
static int txresp_main(int argc, char **argv) { return build_main(argc, argv, TX_RESPONSE); }
static int txtenant_main(int argc, char **argv) { return build_main(argc, argv, TX_TENANT); }

static void print_text(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES])
{
	json_t *j = tx_to_json(tx, chain_id);
	static const char *skip[] = { "public_key_pem", "tenant_key_pem", "signed_bytes_hex", "raw_hex" };
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v) {
		int s = 0;
		for (size_t i = 0; i < ARRAY_LEN(skip); i++)
			s |= !strcmp(k, skip[i]);
		if (s)
			continue;
		char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		printf("%-14s %s\n", k, t ? t : json_string_value(v));
		free(t);
	}
	json_decref(j);
}

static int show_main(int argc, char **argv)
{
	int json = 0;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!path && argv[i][0] != '-')
			path = argv[i];
		else
			return cli_usage("bsec tx show FILE [--json]");
	}
	if (!path)
		return cli_usage("bsec tx show FILE [--json]");
	tx_t tx;
	uint8_t chain_id[BSEC_HASH_BYTES];
	char err[512];
	if (txfile_read(path, &tx, chain_id, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	if (json) {
		json_t *j = tx_to_json(&tx, chain_id);
		char cid[65];
		hex_encode(cid, chain_id, BSEC_HASH_BYTES);
		json_object_set_new(j, "chain_id", json_string(cid));
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(j);
	} else {
		print_text(&tx, chain_id);
	}
	tx_clear(&tx);
	return 0;
}

static int verify_main(int argc, char **argv)
{
	if (argc != 2)
		return cli_usage("bsec tx verify FILE");
	tx_t tx;
	uint8_t chain_id[BSEC_HASH_BYTES];
	char err[512];
	if (txfile_read(argv[1], &tx, chain_id, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	int ret = 1;
	verdict_t vd;
	char id[65];
	hex_encode(id, tx.id, BSEC_HASH_BYTES);
	if (tx_verify_sig(&tx, chain_id) != 0)
		cli_fail("%s: signature does not verify under the sender's %s key", id,
			 sig_scheme_name(tx.scheme));
	else if (validate_fields(&tx, &vd) != V_OK)
		cli_fail("%s: %s: %s", id, verr_name(vd.code), vd.msg);
	else {
		printf("%s: signature and fields valid (%s, %s)\n", id, tx_type_name(tx.type),
		       sig_scheme_name(tx.scheme));
		ret = 0;
	}
	tx_clear(&tx);
	return ret;
}

static const cli_cmd_t tx_cmds[] = {
	{ "request", txreq_main, "build and sign a REQUEST" },
	{ "response", txresp_main, "build and sign a RESPONSE" },
	{ "tenant", txtenant_main, "build and sign a TENANT tx" },
	{ "show", show_main, "print a tx file (--json for JSON)" },
	{ "verify", verify_main, "check a tx file's signature and fields" },
	{ "submit", tx_submit_main, "post a tx file to a node's API (cmd_request.c)" },
	{ NULL, NULL, NULL },
};

int tx_main(int argc, char **argv)
{
	return cli_dispatch("tx", tx_cmds, argc, argv);
}
