/*
 * cmd_demo.c — `bsec demo [--once]`: the whole life cycle on a local
 * 4-provider consortium, narrated.  `make demo` runs it; `--once` runs the
 * scenario, cleans up and exits non-zero if any step did not do what it
 * should (the test suite runs it that way).
 *
 *   1. a devnet: 4 nodes + one orchestrator per domain (netns data plane
 *      when root with ip/nft, else the labelled simulation)
 *   2. the demo tenant creates a firewall VNF in p1 and a forwarder in p2
 *      and chains them (sfc web) — each request signed, ordered by PBFT,
 *      executed by the domain's orchestrator, answered on chain
 *   3. real traffic through the chain: tcp/80 passes, tcp/22 is dropped
 *   4. an update opens tcp/443, and traffic shows it
 *   5. refusals: an operation outside a tenant's SLA, another tenant's
 *      object — refused with their reasons, nothing executed
 *   6. `bsec audit verify` on every node's data directory
 */
#include "cli.h"
#include "client.h"
#include "devnet.h"
#include "../ledger/tx.h"
#include "../lib/sig.h"
#include "../orchestrator/driver.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void step(const char *fmt, const char *arg)
{
	printf("\n\033[1m== ");
	printf(fmt, arg);
	printf("\033[0m\n");
}

static void check(int ok, const char *what)
{
	printf("  %s %s\n", ok ? "\033[32mok\033[0m  " : "\033[31mFAIL\033[0m", what);
	if (!ok)
		failures++;
}

/* Runs this binary with args (stdout shown unless quiet); exit status. */
static int self_run(char *const args[], int quiet)
{
	char self[4096];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l <= 0)
		return -1;
	self[l] = 0;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (quiet && !freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(self, args);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct {
	client_t c;
	const char *dir;
	sig_key_t *demo, *guest;
	double response_ms_sum;
	int responses;
} demo_t;

/* One request through its whole life (client_request), narrated.
 * Returns 1 ok response, 0 error response, -1 refused at submission (code
 * in refusal), -2 no answer. */
static int request(demo_t *d, sig_key_t *key, const char *domain, const char *ins, char *refusal,
		   size_t rlen, char *result, size_t reslen)
{
	client_req_result_t r;
	printf("  $ request (%s) \"%s\"\n", domain, ins);
	int st = client_request(&d->c, key, domain, ins, 60000, &r);
	if (refusal && rlen)
		snprintf(refusal, rlen, "%s", r.code);
	if (result && reslen)
		snprintf(result, reslen, "%s", r.message);
	switch (st) {
	case CLIENT_REQ_REFUSED:
		printf("    refused %s: %s\n", r.code, r.message);
		return -1;
	case CLIENT_REQ_OK:
	case CLIENT_REQ_ERROR:
		d->response_ms_sum += r.response_ms;
		d->responses++;
		printf("    committed at height %llu in %.0f ms; response %s after %.0f ms: %s\n",
		       (unsigned long long)r.height, r.commit_ms, st == CLIENT_REQ_OK ? "ok" : "error",
		       r.response_ms, r.message);
		return st == CLIENT_REQ_OK ? 1 : 0;
	default:
		printf("    no answer: %s\n", r.message);
		return -2;
	}
}

/* Registers the guest tenant in domain p1 with a narrow SLA, signed by
 * p1's admin key.  0 when committed. */
static int register_guest(demo_t *d)
{
	char *kp = xasprintf("%s/keys/p1-admin.pem", d->dir), err[512];
	sig_key_t *admin = NULL;
	int ret = -1, status;
	tx_t tx;
	json_t *body = NULL, *ans = NULL;
	memset(&tx, 0, sizeof(tx));
	if (sig_key_load(&admin, kp, err, sizeof(err)) < 0) {
		printf("  %s\n", err);
		goto out;
	}
	tx_fields_t f = { .type = TX_TENANT, .action = TENANT_REGISTER, .domain = "p1",
			  .tenant_scheme = (uint8_t)sig_key_scheme(d->guest), .tenant_key = sig_key_pub(d->guest),
			  .name = "guest", .sla = { .ops = OP_VM_CREATE | OP_VM_DELETE | OP_VNF_DELETE, .max_vms = 2 } };
	if (tx_build(&tx, &f, admin, d->c.g.chain_id, err, sizeof(err)) < 0)
		goto out;
	printf("  $ tenant register guest in p1 (ops vm:*,vnf:delete, at most 2 VMs), signed by p1's admin\n");
	uint64_t deadline = mono_us() + 30000000ull;
	if (client_post_tx(&d->c, &tx, deadline, &status, &body) == CLIENT_POST_OK &&
	    client_wait_committed(&d->c, &tx, deadline, &ans) == 0)
		ret = 0;
out:
	json_decref(body);
	json_decref(ans);
	tx_clear(&tx);
	sig_key_free(admin);
	free(kp);
	return ret;
}

static void probe(driver_t *drv, const char *proto, int port, int expect)
{
	int passed = 0;
	char err[256], what[160];
	if (netns_probe(drv, "web", proto, port, &passed, err, sizeof(err)) < 0) {
		snprintf(what, sizeof(what), "%s/%d through sfc web: probe failed: %.100s", proto, port, err);
		check(0, what);
		return;
	}
	snprintf(what, sizeof(what), "%s/%d through sfc web: %s (firewall says %s)", proto, port,
		 passed ? "PASSES" : "DROPPED", expect ? "allow" : "drop");
	check(passed == expect, what);
}

/* Every request on node i's chain has exactly one response. */
static int responses_match(demo_t *d, size_t node)
{
	d->c.cur = node;
	json_t *o = NULL;
	int status, ok = 1;
	size_t requests = 0, responses = 0;
	json_t *seen = json_object();
	for (uint64_t from = 1;; from += 100) {
		char path[128];
		snprintf(path, sizeof(path), "/v1/blocks?from=%llu&limit=100&txs=1", (unsigned long long)from);
		if (client_call(&d->c, 0, 10000, "GET", path, NULL, 0, &status, &o) < 0 || status != 200)
			return 0;
		json_t *blocks = json_object_get(o, "blocks"), *b, *t;
		size_t i, j;
		json_array_foreach(blocks, i, b) {
			json_array_foreach(json_object_get(b, "txs"), j, t) {
				const char *type = client_jstr(t, "type");
				if (type && !strcmp(type, "request")) {
					requests++;
					if (!json_object_get(seen, client_jstr(t, "id")))
						json_object_set_new(seen, client_jstr(t, "id"), json_integer(0));
				} else if (type && !strcmp(type, "response")) {
					const char *rid = client_jstr(t, "request_id");
					json_t *cnt = rid ? json_object_get(seen, rid) : NULL;
					responses++;
					if (!cnt || json_integer_value(cnt) != 0)
						ok = 0; /* a response to nothing, or a second one */
					else
						json_integer_set(cnt, 1);
				}
			}
		}
		size_t nb = json_array_size(blocks);
		json_decref(o);
		if (nb < 100)
			break;
	}
	const char *k;
	json_t *v;
	json_object_foreach(seen, k, v) if (json_integer_value(v) != 1) ok = 0;
	json_decref(seen);
	return ok && requests == responses && requests > 0;
}

int demo_main(int argc, char **argv)
{
	int once = 0, keep = 0;
	const char *dir_arg = NULL, *driver = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--once"))
			once = 1;
		else if (!strcmp(argv[i], "--keep"))
			keep = 1;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir_arg = argv[++i];
		else if (!strcmp(argv[i], "--driver") && i + 1 < argc)
			driver = argv[++i];
		else
			return cli_usage("bsec demo [--once] [--dir DIR] [--driver netns|sim] [--keep]");
	}
	if (driver && strcmp(driver, "netns") && strcmp(driver, "sim"))
		return cli_fail("--driver `%s' must be netns or sim", driver), 2;
	if (!driver)
		driver = devnet_default_driver();
	char tmpl[] = "/tmp/bsec-demo-XXXXXX";
	char *dir = dir_arg ? xstrdup(dir_arg) : NULL;
	if (!dir) {
		if (!mkdtemp(tmpl))
			return cli_fail("cannot create a temporary directory");
		dir = xstrdup(tmpl);
	}
	demo_t d;
	memset(&d, 0, sizeof(d));
	d.dir = dir;
	char err[512], res[512], code[64];
	driver_t *probe_drv = NULL;

	printf("BSec demo: a consortium of 4 providers (p0..p3), each with a node and an orchestrator,\n"
	       "data plane: %s%s\n", driver,
	       strcmp(driver, "netns") ? " (simulated: no packets flow; run as root with iproute2 and nftables for real traffic)" : " (real Linux network namespaces, veth links and nftables)");
	step("1. found the consortium in %s", dir);
	char *init[] = { "bsec", "devnet", "init", "--dir", dir, "--nodes", "4", "--driver", (char *)driver,
			 "--force", NULL };
	char *up[] = { "bsec", "devnet", "up", "--dir", dir, "--detach", NULL };
	char *down[] = { "bsec", "devnet", "down", "--dir", dir, NULL };
	if (self_run(init, 0) != 0 || self_run(up, 0) != 0) {
		check(0, "devnet up");
		goto done;
	}
	client_opts_t co = { .dir = dir, .node_index = 0 };
	if (client_open(&d.c, &co) < 0) {
		check(0, "open the devnet");
		goto done;
	}
	char *tk = xasprintf("%s/tenants/demo.pem", dir);
	int kr = sig_key_load(&d.demo, tk, err, sizeof(err));
	free(tk);
	if (kr < 0) {
		check(0, err);
		goto done;
	}
	d.guest = sig_keygen(SIG_ED25519);

	step("2. the demo tenant builds a service across two providers%s", "");
	check(request(&d, d.demo, "p1", "vnf create fw --type firewall --config allow=tcp:80 --config default=drop",
		      NULL, 0, res, sizeof(res)) == 1, "firewall VNF fw created by p1's orchestrator");
	check(request(&d, d.demo, "p2", "vnf create relay --type forwarder", NULL, 0, res, sizeof(res)) == 1,
	      "forwarder VNF relay created by p2's orchestrator");
	check(request(&d, d.demo, "p1", "sfc create web --chain fw,relay --match proto=tcp", NULL, 0, res,
		      sizeof(res)) == 1, "chain web: ingress -> fw -> relay -> egress");

	if (!strcmp(driver, "netns")) {
		char prefix[9];
		hex_encode(prefix, d.c.g.chain_id, 4);
		json_t *cfg = json_object();
		probe_drv = driver_new("netns", cfg, prefix, err, sizeof(err));
		json_decref(cfg);
		if (!probe_drv)
			check(0, err);
	}
	step("3. traffic through the chain%s", probe_drv ? "" : " (skipped: simulated data plane)");
	if (probe_drv) {
		probe(probe_drv, "tcp", 80, 1);
		probe(probe_drv, "tcp", 22, 0);
		probe(probe_drv, "tcp", 443, 0);
	}
	step("4. the tenant opens https on its firewall%s", "");
	check(request(&d, d.demo, "p1", "vnf update fw --config allow=tcp:80,tcp:443", NULL, 0, res,
		      sizeof(res)) == 1, "fw updated by p1's orchestrator");
	if (probe_drv) {
		probe(probe_drv, "tcp", 443, 1);
		probe(probe_drv, "tcp", 22, 0);
	}

	step("5. what the chain refuses, with its reasons%s", "");
	check(register_guest(&d) == 0, "guest tenant registered on chain by p1's admin");
	check(request(&d, d.guest, "p1", "vnf create gfw --type firewall", code, sizeof(code), NULL, 0) == -1 &&
	      !strcmp(code, "sla_forbidden"), "guest creating a VNF: refused (sla_forbidden)");
	check(request(&d, d.guest, "p1", "vnf delete fw", code, sizeof(code), NULL, 0) == -1 &&
	      !strcmp(code, "not_owner"), "guest deleting the demo tenant's fw: refused (not_owner)");
	check(request(&d, d.guest, "p3", "vm create g1", code, sizeof(code), NULL, 0) == -1 &&
	      !strcmp(code, "unknown_tenant"), "guest in a domain that never registered it: refused (unknown_tenant)");
	sig_key_t *stranger = sig_keygen(SIG_ED25519);
	check(request(&d, stranger, "p0", "vm create s1", code, sizeof(code), NULL, 0) == -1 &&
	      !strcmp(code, "unknown_tenant"), "an unregistered key: refused (unknown_tenant)");
	sig_key_free(stranger);

	step("6. anyone can check the whole history%s", "");
	for (size_t i = 0; i < d.c.g.n_providers; i++) {
		char what[128];
		snprintf(what, sizeof(what), "node p%zu: every request has exactly one signed response", i);
		check(responses_match(&d, i), what);
	}
	for (size_t i = 0; i < d.c.g.n_providers; i++) {
		char *nd = xasprintf("%s/node%zu", dir, i), what[128];
		char *audit[] = { "bsec", "audit", "verify", "--data-dir", nd, NULL };
		snprintf(what, sizeof(what), "bsec audit verify --data-dir %s", nd);
		check(self_run(audit, 1) == 0, what);
		free(nd);
	}
	if (d.responses)
		printf("\n  mean time from signing a request to its committed response: %.0f ms\n",
		       d.response_ms_sum / d.responses);

done:
	printf("\n%s: %d check%s failed\n", failures ? "DEMO FAILED" : "demo complete", failures,
	       failures == 1 ? "" : "s");
	if (!once && !failures) {
		char *portal = devnet_portal_url(dir);
		printf("\nThe consortium keeps running:\n  bsec devnet status --dir %s\n"
		       "  bsec request --dir %s --key %s/tenants/demo.pem --domain p1 \"vm create mine\" --wait-response\n",
		       dir, dir, dir);
		if (portal)
			printf("Tenant portal: %s (certificate from the devnet CA %s/ca.pem)\n"
			       "  sign in by importing the demo tenant's key %s/tenants/demo.pem, or make a new key there\n",
			       portal, dir, dir);
		free(portal);
		printf("Press Ctrl-C to stop and clean up.\n");
		signal(SIGINT, on_sigint);
		signal(SIGTERM, on_sigint);
		while (!stop_flag)
			pause();
	}
	driver_free(probe_drv);
	client_close(&d.c);
	sig_key_free(d.demo);
	sig_key_free(d.guest);
	if (!keep) {
		self_run(down, 1);
		if (!dir_arg) {
			char *rm[] = { "rm", "-rf", dir, NULL };
			pid_t pid = fork();
			if (pid == 0) {
				execvp("rm", rm);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
	}
	free(dir);
	return failures ? 1 : 0;
}
