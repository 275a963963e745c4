/*
 * cmd_tenant.c — `bsec tenant register|update|revoke`: a provider's
 * admin grants, changes or withdraws a tenant's SLA in one of its domains
 * (DESIGN §7, docs/formats.md "Tenants and SLAs — per domain").
 *
 *   bsec tenant register|update|revoke --admin-key K --domain D
 *        --tenant-key PEM --name NAME [--ops OPS] [--max-vms N] [--max-vnfs N]
 *        [--max-sfcs N] [--max-chain N] [--rate N]
 *        (--node URL [--genesis FILE] [--ca FILE] | --dir D) [--json] [--timeout MS]
 *
 * Builds and signs the TENANT tx with the admin key, submits it and waits
 * until it is committed (client.h), then prints its id and height.  With
 * --node URL and no --genesis, --ca FILE is needed and the chain id comes
 * from the node's status.  A
 * refusal prints the node's error code and reason.  register and update
 * set the SLA to exactly the values given: --ops defaults to "*" and an
 * omitted quota or rate means "no limit".  revoke needs no --name.
 */
#include "cli.h"
#include "client.h"
#include "../ledger/genesis.h"
#include "../ledger/tx.h"
#include "../ledger/validate.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	O_ADMIN = CLIENT_O_FIRST_FREE, O_DOMAIN, O_TKEY, O_NAME, O_OPS, O_VMS, O_VNFS, O_SFCS,
	O_CHAINLEN, O_RATE,
};

static const struct option tenant_opts[] = {
	CLIENT_LONG_OPTS,
	{ "admin-key", required_argument, 0, O_ADMIN },
	{ "domain", required_argument, 0, O_DOMAIN },
	{ "tenant-key", required_argument, 0, O_TKEY },
	{ "name", required_argument, 0, O_NAME },
	{ "ops", required_argument, 0, O_OPS },
	{ "max-vms", required_argument, 0, O_VMS },
	{ "max-vnfs", required_argument, 0, O_VNFS },
	{ "max-sfcs", required_argument, 0, O_SFCS },
	{ "max-chain", required_argument, 0, O_CHAINLEN },
	{ "rate", required_argument, 0, O_RATE },
	{ 0, 0, 0, 0 },
};

static const char *tenant_usage =
	"bsec tenant register|update|revoke --admin-key KEY --domain DOMAIN --tenant-key PEM\n"
	"            [--name NAME] [--ops OPS] [--max-vms N] [--max-vnfs N] [--max-sfcs N]\n"
	"            [--max-chain N] [--rate N]\n"
	"            (--node URL [--genesis FILE] [--ca FILE] | --dir DEVNET [--node-index I])\n"
	"            [--json] [--timeout MS]\n"
	"  signs a TENANT tx with the domain provider's admin key, submits it and waits\n"
	"  until it is committed.  register/update need --name and set the SLA to exactly\n"
	"  the values given (--ops defaults to `*', an omitted quota or rate is unlimited);\n"
	"  OPS is a comma list of vm:create, vnf:update, sfc:*, ... or `*'";

static int parse_u32(uint32_t *out, const char *s, uint32_t max, const char *opt)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || v > max) {
		cli_fail("%s `%s' is not an integer in 0..%u", opt, s, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int tenant_run(int argc, char **argv, uint8_t action)
{
	client_opts_t to = { .node_index = -1 };
	const char *admin_path = NULL, *domain = NULL, *tkey_path = NULL, *name = NULL;
	long timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
	int json = 0, ret = 1, r;
	client_t cl = { 0 };
	sig_key_t *admin = NULL;
	tx_t tx = { 0 };
	json_t *body = NULL, *answer = NULL;
	uint8_t tpub[SIG_MAX_PUB];
	uint32_t v;
	sla_t sla = { .ops = OP_ALL };
	char err[512];

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", tenant_opts, NULL)) != -1;) {
		switch (c) {
		case O_ADMIN: admin_path = optarg; break;
		case O_DOMAIN: domain = optarg; break;
		case O_TKEY: tkey_path = optarg; break;
		case O_NAME: name = optarg; break;
		case O_OPS:
			if (sla_ops_parse(&sla.ops, optarg, err, sizeof(err)) < 0)
				return cli_fail("--ops: %s", err), 2;
			break;
		case O_VMS:
			if (parse_u32(&sla.max_vms, optarg, UINT32_MAX, "--max-vms") < 0)
				return 2;
			break;
		case O_VNFS:
			if (parse_u32(&sla.max_vnfs, optarg, UINT32_MAX, "--max-vnfs") < 0)
				return 2;
			break;
		case O_SFCS:
			if (parse_u32(&sla.max_sfcs, optarg, UINT32_MAX, "--max-sfcs") < 0)
				return 2;
			break;
		case O_RATE:
			if (parse_u32(&sla.rate_per_min, optarg, UINT32_MAX, "--rate") < 0)
				return 2;
			break;
		case O_CHAINLEN:
			if (parse_u32(&v, optarg, 65535, "--max-chain") < 0)
				return 2;
			sla.max_chain = (uint16_t)v;
			break;
		default:
			if ((r = client_parse_opt(c, &to, &timeout_ms, &json)) != 0)
				return r > 0 ? r : cli_usage(tenant_usage);
		}
	}
	if (optind != argc || !admin_path || !domain || !tkey_path)
		return cli_usage(tenant_usage);
	if (!name && action != TENANT_REVOKE)
		return cli_fail("tenant %s needs --name NAME", tenant_action_name(action)), 2;
	if ((r = client_check_opts(&to)) != 0)
		return r;
	if (client_open(&cl, &to) < 0)
		goto out;
	const provider_t *p = cl.have_g ? genesis_provider_of_domain(&cl.g, domain, strlen(domain)) : NULL;
	if (cl.have_g && !p) {
		char *list = client_domain_list(&cl);
		cli_fail("--domain `%s' belongs to no provider of this consortium (domains: %s)", domain, list);
		free(list);
		goto out;
	}
	int ts;
	if (sig_pub_load(&ts, tpub, tkey_path, err, sizeof(err)) < 0) {
		cli_fail("--tenant-key: %s", err);
		goto out;
	}
	if (sig_key_load(&admin, admin_path, err, sizeof(err)) < 0) {
		cli_fail("--admin-key: %s", err);
		goto out;
	}
	if (p && (sig_key_scheme(admin) != p->admin_key.scheme ||
	    memcmp(sig_key_pub(admin), p->admin_key.key, sig_pub_len(p->admin_key.scheme))))
		fprintf(stderr, "bsec: warning: `%s' is not the admin key of provider %s (domain %s); "
			"the nodes will refuse the tx\n", admin_path, p->name, domain);
	tx_fields_t f = {
		.type = TX_TENANT, .action = action, .domain = domain, .tenant_scheme = (uint8_t)ts,
		.tenant_key = tpub, .name = name ? name : "", .sla = sla,
	};
	if (tx_build(&tx, &f, admin, cl.g.chain_id, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	verdict_t vd;
	if (validate_fields(&tx, &vd) != V_OK) {
		cli_fail("the tx would be refused: %s: %s", verr_name(vd.code), vd.msg);
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
		if (json) {
			json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s}", "id", id_hex, "status", "refused",
					      "http_status", status, "error", client_jstr(body, "error"),
					      "message", client_jstr(body, "message"));
			char *s = json_dumps(o, JSON_INDENT(2));
			printf("%s\n", s);
			free(s);
			json_decref(o);
		}
		goto out;
	default:
		goto out;
	}
	if (client_wait_committed(&cl, &tx, deadline, &answer) != 0)
		goto out;
	uint64_t latency_ms = (mono_us() - t0 + 500) / 1000;
	json_t *h = json_object_get(answer, "height");
	const client_node_t *t = &cl.t[cl.cur];
	char *ops = sla_ops_format(sla.ops);
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(id_hex));
		json_object_set_new(o, "status", json_string("committed"));
		json_object_set(o, "height", h ? h : json_null());
		json_object_set_new(o, "action", json_string(tenant_action_name(action)));
		json_object_set_new(o, "domain", json_string(domain));
		json_object_set_new(o, "name", json_string(name ? name : ""));
		json_object_set_new(o, "sla", json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "ops", ops,
			"max_vms", (json_int_t)sla.max_vms, "max_vnfs", (json_int_t)sla.max_vnfs,
			"max_sfcs", (json_int_t)sla.max_sfcs, "max_chain", (json_int_t)sla.max_chain,
			"rate_per_min", (json_int_t)sla.rate_per_min));
		json_object_set_new(o, "latency_ms", json_integer((json_int_t)latency_ms));
		json_object_set_new(o, "node", json_string(t->name));
		char *s = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("%s tenant %s in domain %s\n", tenant_action_name(action), name ? name : "", domain);
		printf("id          %s\n", id_hex);
		if (json_is_integer(h))
			printf("height      %" JSON_INTEGER_FORMAT "\n", json_integer_value(h));
		if (action != TENANT_REVOKE)
			printf("sla         ops=%s max_vms=%u max_vnfs=%u max_sfcs=%u max_chain=%u rate=%u\n",
			       ops, sla.max_vms, sla.max_vnfs, sla.max_sfcs, sla.max_chain, sla.rate_per_min);
		printf("latency_ms  %" PRIu64 "\n", latency_ms);
		if (strcmp(t->name, t->url))
			printf("node        %s (%s)\n", t->name, t->url);
		else
			printf("node        %s\n", t->url);
	}
	free(ops);
	ret = 0;
out:
	json_decref(body);
	json_decref(answer);
	tx_clear(&tx);
	sig_key_free(admin);
	client_close(&cl);
	return ret;
}

static int register_main(int argc, char **argv) { return tenant_run(argc, argv, TENANT_REGISTER); }
static int update_main(int argc, char **argv) { return tenant_run(argc, argv, TENANT_UPDATE); }
static int revoke_main(int argc, char **argv) { return tenant_run(argc, argv, TENANT_REVOKE); }

static const cli_cmd_t tenant_cmds[] = {
	{ "register", register_main, "grant a tenant key an SLA in one of the provider's domains" },
	{ "update", update_main, "replace a registered tenant's SLA in a domain" },
	{ "revoke", revoke_main, "withdraw a tenant's rights in a domain (from the block that records it)" },
	{ NULL, NULL, NULL },
};

int tenant_main(int argc, char **argv)
{
	return cli_dispatch("tenant", tenant_cmds, argc, argv);
}
