/*
 * cmd_devnet.c — `bsec devnet init|up|status|stop|start|down`: a whole
 * consortium on loopback for development, tests and the demo.
 *
 * Layout of DIR after init (N providers p0..p{N-1}):
 *   ca.pem ca-key.pem            the devnet's TLS CA
 *   keys/pI-{node,orch,admin}.pem  provider keys (0600)
 *   tls/pI.pem tls/pI-key.pem    node certificate (peer mTLS and HTTPS API)
 *   tenants/demo.pem             the demo tenant, registered everywhere with an allow-all SLA
 *   genesis.json                 the consortium
 *   nodeI/config.json            node I's config; nodeI/ holds its ledger and log
 *   orchI/config.json            the orchestrator of domain pI (key keys/pI-orch.pem, the
 *                                devnet's driver, state attestations every 5 s); orchI/
 *                                holds its journal, log and, for the sim driver, the
 *                                simulated platform's state
 *   portal/config.json           the tenant portal (https://127.0.0.1:BASE+200, certificate
 *                                tls/portal.pem from the devnet CA); portal/ holds its log
 *   devnet.json                  what init chose (nodes, scheme, ports, driver)
 */
#include "cli.h"
#include "devnet.h"
#include "../lib/sig.h"
#include "../lib/tls.h"
#include "../ledger/genesis.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_key(const char *path, sig_scheme_t scheme, char **pub_pem)
{
	char err[512];
	sig_key_t *k = sig_keygen(scheme);
	int r = sig_key_save(k, path, err, sizeof(err));
	if (r < 0)
		cli_fail("%s", err);
	else if (pub_pem)
		*pub_pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	sig_key_free(k);
	return r;
}

/* A base port whose devnet ports are all free on 127.0.0.1 right now,
 * below the kernel's ephemeral range (where any outgoing connection
 * could take one of them before the devnet listens on it). */
static int pick_base_port(int n)
{
	int lo = 32768, hi = 60999, span;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	span = lo - 10000 - 300;     /* bases in [10000, lo - 300): every port below lo */
	if (span < 1000)
		span = 20000;        /* an unusual range: the old choice */
	for (int attempt = 0; attempt < 200; attempt++) {
		int base = 10000 + (int)((now_ms() * 7919 + (uint64_t)getpid() * 104729 +
					  (uint64_t)attempt * 613) % (uint64_t)span);
		base -= base % 10;
		int ok = 1;
		for (int j = 0; j < 3 * n && ok; j++) {
			/* peer ports base+i, API base+100+i, orchestrator/portal base+200+i */
			int port = base + (j / n) * 100 + j % n;
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
				ok = 0;
			if (fd >= 0)
				close(fd);
		}
		if (ok)
			return base;
	}
	return 27000;
}

/* The "driver" object of an orchestrator config for driver type `driver':
 * sim with no latency and its state kept next to the journal; netns with
 * its defaults; exec with placeholder templates (echo) for the operator
 * to replace with the platform's own tools. */
static json_t *orch_driver_config(const char *driver)
{
	if (!strcmp(driver, "sim"))
		return json_pack("{s:s,s:i,s:s}", "type", "sim", "latency_ms", 0, "state_dir", ".");
	if (!strcmp(driver, "netns"))
		return json_pack("{s:s}", "type", "netns");
	static const char *const ops[] = { "vm:create", "vm:delete", "vnf:create", "vnf:update",
					   "vnf:delete", "sfc:create", "sfc:update", "sfc:delete" };
	json_t *d = json_pack("{s:s}", "type", "exec");
	for (size_t i = 0; i < ARRAY_LEN(ops); i++)
		json_object_set_new(d, ops[i], json_pack("[s,s]", "echo",
							 "exec placeholder: {kind} {verb} {name} in {domain}"));
	return d;
}

/* Writes DIR/orchI/config.json for provider `name'.  0 or -1 (printed). */
static int write_orch_config(const char *dir, int i, const char *name, const char *driver)
{
	char err[512];
	char *odir = xasprintf("%s/orch%d", dir, i);
	mkdir_p(odir, 0700);
	/* attestations every 5 s: a devnet's drift audits date a drift to within seconds */
	json_t *cfg = json_pack("{s:s,s:s,s:s,s:o,s:s,s:o,s:s,s:i}", "name", name, "domain", name,
		"genesis", "../genesis.json", "orchestrator_key", json_sprintf("../keys/%s-orch.pem", name),
		"data_dir", ".", "driver", orch_driver_config(driver), "log_level", "info",
		"attest_interval_ms", 5000);
	char *cfgp = xasprintf("%s/config.json", odir);
	char *txt = json_dumps(cfg, JSON_INDENT(2));
	int wr = file_write(cfgp, txt, strlen(txt), 0644, err, sizeof(err));
	if (wr < 0)
		cli_fail("%s", err);
	free(txt);
	free(cfgp);
	free(odir);
	json_decref(cfg);
	return wr;
}

/* Writes DIR/portal/config.json and the portal's certificate; 0 or -1
 * (printed). */
static int write_portal(const char *dir, int port, const char *ca_cert, const char *ca_key)
{
	char err[512], *cert = NULL, *key = NULL;
	const char *sans[] = { "127.0.0.1", "localhost" };
	int ret = -1;
	char *pdir = xasprintf("%s/portal", dir);
	char *cp = xasprintf("%s/tls/portal.pem", dir), *kp = xasprintf("%s/tls/portal-key.pem", dir);
	char *cfgp = xasprintf("%s/config.json", pdir), *txt = NULL;
	json_t *cfg = NULL;
	if (mkdir_p(pdir, 0700) < 0) {
		cli_fail("cannot create `%s': %s", pdir, strerror(errno));
		goto out;
	}
	if (tls_cert_issue(&cert, &key, ca_cert, ca_key, "portal", sans, 2, TLS_LEAF_DAYS, err,
			   sizeof(err)) < 0 ||
	    tls_write_pair(cp, cert, kp, key, err, sizeof(err)) < 0) {
		cli_fail("portal certificate: %s", err);
		goto out;
	}
	cfg = json_pack("{s:o,s:s,s:s,s:s,s:s,s:s}", "listen", json_sprintf("127.0.0.1:%d", port),
			"genesis", "../genesis.json", "tls_cert", "../tls/portal.pem", "tls_key",
			"../tls/portal-key.pem", "ca", "../ca.pem", "log_level", "info");
	txt = json_dumps(cfg, JSON_INDENT(2));
	if (file_write(cfgp, txt, strlen(txt), 0644, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	ret = 0;
out:
	free(txt);
	json_decref(cfg);
	free(cert);
	tls_secret_free(key);
	free(cfgp);
	free(cp);
	free(kp);
	free(pdir);
	return ret;
}

/* A decimal integer and nothing else; -1 otherwise (callers range-check). */
static long strict_long(const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return (!*s || *end || errno || v < 0) ? -1 : v;
}

static const char *init_usage =
	"bsec devnet init --dir DIR --nodes N [--scheme ed25519|ecdsa-p256|rsa-pss-2048]\n"
	"                 [--driver netns|exec|sim] [--base-port P] [--view-timeout MS] [--force]";

static int init_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'd' }, { "nodes", required_argument, 0, 'n' },
		{ "scheme", required_argument, 0, 's' }, { "driver", required_argument, 0, 'r' },
		{ "base-port", required_argument, 0, 'p' }, { "force", no_argument, 0, 'f' },
		{ "view-timeout", required_argument, 0, 't' }, { 0, 0, 0, 0 },
	};
	const char *dir = NULL, *driver = NULL;
	int nodes = 0, base = 0, force = 0, ret = 1;
	long view_timeout = 2000;
	sig_scheme_t scheme = SIG_ED25519;
	char err[512];
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (c) {
		case 'd':
			if (!*optarg)
				return cli_fail("--dir must not be empty"), 2;
			dir = optarg;
			break;
		case 'n':
			nodes = strict_long(optarg) > 64 ? -1 : (int)strict_long(optarg);
			if (nodes < 1 || nodes > 64)
				return cli_fail("--nodes `%s' must be 1..64", optarg), 2;
			break;
		case 's':
			if (sig_scheme_parse(optarg, &scheme) < 0)
				return cli_fail("--scheme `%s' is not ed25519, ecdsa-p256 or rsa-pss-2048", optarg), 2;
			break;
		case 'r':
			if (strcmp(optarg, "netns") && strcmp(optarg, "exec") && strcmp(optarg, "sim"))
				return cli_fail("--driver `%s' must be netns, exec or sim", optarg), 2;
			driver = optarg;
			break;
		case 'p':
			base = strict_long(optarg) > 65000 ? -1 : (int)strict_long(optarg);
			if (base < 1024 || base > 65000)
				return cli_fail("--base-port `%s' must be 1024..65000", optarg), 2;
			break;
		case 't':
			view_timeout = strict_long(optarg);
			if (view_timeout < 50 || view_timeout > 600000)
				return cli_fail("--view-timeout `%s' must be 50..600000 ms", optarg), 2;
			break;
		case 'f': force = 1; break;
		default: return cli_usage(init_usage);
		}
	}
	if (!dir || !nodes || optind != argc)
		return cli_usage(init_usage);
	char *gpath = xasprintf("%s/genesis.json", dir);
	if (!force && access(gpath, F_OK) == 0) {
		cli_fail("`%s' already holds a devnet (use --force to replace it)", dir);
		free(gpath);
		return 1;
	}
	if (!driver) {
		driver = devnet_default_driver();
		if (!strcmp(driver, "sim"))
			fprintf(stderr, "bsec: notice: %s, so the netns data plane is unavailable; using the "
				"simulated driver `sim' (every result is labelled as simulation). "
				"Run as root with iproute2 and nftables, or pass --driver, to choose.\n",
				devnet_netns_missing());
	}
	if (!base)
		base = pick_base_port(nodes);
	char *sub[] = { "keys", "tls", "tenants" };
	for (size_t i = 0; i < ARRAY_LEN(sub); i++) {
		char *p = xasprintf("%s/%s", dir, sub[i]);
		if (mkdir_p(p, 0700) < 0) {
			cli_fail("cannot create `%s': %s", p, strerror(errno));
			free(p);
			free(gpath);
			return 1;
		}
		free(p);
	}
	char *ca_cert = NULL, *ca_key = NULL;
	json_t *provs = json_array(), *tenants = json_array(), *grants = json_array();
	json_t *genesis = NULL, *meta = NULL;
	if (tls_ca_create(&ca_cert, &ca_key, "bsec devnet CA", TLS_DEFAULT_DAYS, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	char *ca_path = xasprintf("%s/ca.pem", dir), *ca_key_path = xasprintf("%s/ca-key.pem", dir);
	int wr = tls_write_pair(ca_path, ca_cert, ca_key_path, ca_key, err, sizeof(err));
	free(ca_path);
	free(ca_key_path);
	if (wr < 0) {
		cli_fail("%s", err);
		goto out;
	}
	for (int i = 0; i < nodes; i++) {
		char name[16], *pub[3] = { 0 }, *cert = NULL, *key = NULL;
		snprintf(name, sizeof(name), "p%d", i);
		const char *role[3] = { "node", "orch", "admin" };
		for (int r = 0; r < 3; r++) {
			char *p = xasprintf("%s/keys/%s-%s.pem", dir, name, role[r]);
			int rc = write_key(p, scheme, &pub[r]);
			free(p);
			if (rc < 0)
				goto out;
		}
		const char *sans[] = { "127.0.0.1", "localhost" };
		if (tls_cert_issue(&cert, &key, ca_cert, ca_key, name, sans, 2, TLS_LEAF_DAYS, err,
				   sizeof(err)) < 0) {
			cli_fail("%s", err);
			goto out;
		}
		char *cp = xasprintf("%s/tls/%s.pem", dir, name), *kp = xasprintf("%s/tls/%s-key.pem", dir, name);
		wr = tls_write_pair(cp, cert, kp, key, err, sizeof(err));
		free(cp);
		free(kp);
		char *peer = xasprintf("127.0.0.1:%d", base + i);
		char *api = xasprintf("https://127.0.0.1:%d", base + 100 + i);
		json_array_append_new(provs, json_pack("{s:s,s:[s],s:s,s:s,s:s,s:s,s:s,s:s}", "name", name,
			"domains", name, "node_key", pub[0], "orchestrator_key", pub[1], "admin_key", pub[2],
			"peer", peer, "api", api, "tls_cert", cert));
		json_array_append_new(grants, json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:i}", "domain", name,
			"ops", "*", "max_vms", 0, "max_vnfs", 0, "max_sfcs", 0, "max_chain", 0, "rate_per_min", 0));
		free(peer);
		free(api);
		for (int r = 0; r < 3; r++)
			free(pub[r]);
		free(cert);
		tls_secret_free(key);
		if (wr < 0) {
			cli_fail("%s", err);
			goto out;
		}
		/* node config */
		char *ndir = xasprintf("%s/node%d", dir, i);
		mkdir_p(ndir, 0700);
		json_t *cfg = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", name, "genesis", "../genesis.json",
			"data_dir", ".", "node_key", "../keys/", "tls_cert", "../tls/", "tls_key", "../tls/",
			"log_level", "info");
		json_object_set_new(cfg, "node_key", json_sprintf("../keys/%s-node.pem", name));
		json_object_set_new(cfg, "tls_cert", json_sprintf("../tls/%s.pem", name));
		json_object_set_new(cfg, "tls_key", json_sprintf("../tls/%s-key.pem", name));
		/* the nodes share this machine's cores: each gets its share of
		 * verification threads (itself included), not a pool per core */
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		json_object_set_new(cfg, "workers", json_integer(cores > nodes ? cores / nodes : 1));
		char *cfgp = xasprintf("%s/config.json", ndir);
		char *txt = json_dumps(cfg, JSON_INDENT(2));
		wr = file_write(cfgp, txt, strlen(txt), 0644, err, sizeof(err));
		free(txt);
		free(cfgp);
		free(ndir);
		json_decref(cfg);
		if (wr < 0) {
			cli_fail("%s", err);
			goto out;
		}
		if (write_orch_config(dir, i, name, driver) < 0)
			goto out;
	}
	if (write_portal(dir, base + 200, ca_cert, ca_key) < 0)
		goto out;
	char *demo_pub = NULL, *demo_path = xasprintf("%s/tenants/demo.pem", dir);
	int rc = write_key(demo_path, SIG_ED25519, &demo_pub);
	free(demo_path);
	if (rc < 0)
		goto out;
	json_array_append_new(tenants, json_pack("{s:s,s:s,s:O}", "name", "demo", "key", demo_pub, "grants", grants));
	free(demo_pub);
	genesis = json_pack("{s:i,s:s,s:I,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:O,s:O}", "version", 1, "name", "devnet",
		"created_ms", (json_int_t)now_ms(), "params", "timestamp_window_ms", (json_int_t)60000,
		"view_timeout_ms", (json_int_t)view_timeout, "max_block_txs", (json_int_t)2048,
		"max_block_bytes", (json_int_t)(4 << 20), "checkpoint_interval", (json_int_t)100,
		"request_timeout_ms", (json_int_t)(view_timeout * 2), "providers", provs, "tenants", tenants);
	char *gtxt = json_dumps(genesis, JSON_INDENT(2));
	wr = file_write(gpath, gtxt, strlen(gtxt), 0644, err, sizeof(err));
	free(gtxt);
	if (wr < 0) {
		cli_fail("%s", err);
		goto out;
	}
	meta = json_pack("{s:i,s:s,s:i,s:s}", "nodes", nodes, "scheme", sig_scheme_name(scheme), "base_port", base,
			 "driver", driver);
	char *mp = xasprintf("%s/devnet.json", dir), *mt = json_dumps(meta, JSON_INDENT(2));
	wr = file_write(mp, mt, strlen(mt), 0644, err, sizeof(err));
	free(mp);
	free(mt);
	if (wr < 0) {
		cli_fail("%s", err);
		goto out;
	}
	genesis_t g;
	if (genesis_load(&g, gpath, err, sizeof(err)) < 0) {
		cli_fail("generated genesis does not load: %s", err);
		goto out;
	}
	char cid[65];
	hex_encode(cid, g.chain_id, BSEC_HASH_BYTES);
	genesis_free(&g);
	printf("devnet of %d nodes (%s keys, driver %s) in %s\n", nodes, sig_scheme_name(scheme), driver, dir);
	printf("chain id     %s\n", cid);
	printf("peer ports   %d..%d, API https://127.0.0.1:%d..%d (CA %s/ca.pem)\n", base, base + nodes - 1,
	       base + 100, base + 100 + nodes - 1, dir);
	printf("portal       https://127.0.0.1:%d (after `bsec devnet up --dir %s')\n", base + 200, dir);
	printf("demo tenant  %s/tenants/demo.pem\n", dir);
	ret = 0;
out:
	free(ca_cert);
	tls_secret_free(ca_key);
	json_decref(provs);
	json_decref(tenants);
	json_decref(grants);
	json_decref(genesis);
	json_decref(meta);
	free(gpath);
	return ret;
}

static const cli_cmd_t devnet_cmds[] = {
	{ "init", init_main, "create keys, a CA and certificates, the genesis and node configs" },
	{ "up", devnet_up_main, "start every node (and orchestrator, portal) of a devnet" },
	{ "status", devnet_status_main, "show each node: pid, API URL, running, height, view" },
	{ "stop", devnet_stop_main, "stop one node or orchestrator (--node I [--orchestrator] [--kill])" },
	{ "start", devnet_start_main, "start one node or orchestrator (--node I [--orchestrator])" },
	{ "down", devnet_down_main, "stop everything" },
	{ NULL, NULL, NULL },
};

int devnet_main(int argc, char **argv)
{
	return cli_dispatch("devnet", devnet_cmds, argc, argv);
}
