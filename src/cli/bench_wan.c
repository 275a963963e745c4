/*
 * bench_wan.c — `bsec bench wan`: the consortium as if its providers were
 * far apart.  n nodes (default 4), each in its own network namespace
 * (own TCP stack and loopback, a veth into a bridge in the root
 * namespace), with every peer link running through a delay relay
 * (bench_relay.c) in the root namespace that holds each segment RTT/2 in
 * each direction — this kernel has no `netem' qdisc, so the delay cannot
 * come from traffic control.
 *
 * Wiring, with the bridge at 10.A.B.254 and node i at 10.A.B.(i+1):
 *   node i listens for peers on 10.A.B.(i+1):P_i (its config's
 *   peer_listen); the genesis names 10.A.B.254:P_i as its peer endpoint,
 *   where the relay listens and forwards to 10.A.B.(i+1):P_i.  Every node
 *   dials the genesis endpoints, so every peer connection crosses exactly
 *   one relay: one-way delay RTT/2, round trip RTT.  The APIs listen on
 *   10.A.B.(i+1) and are reached directly (a client next to its provider);
 *   the TLS certificates are reissued by the devnet CA with those
 *   addresses.  Nodes are started with `ip netns exec NS bsec devnet
 *   start', so `devnet down' manages them as usual.
 *
 * Measured: commit latency (CDF) at --rate tx/s and the saturation
 * throughput, each for --seconds.  Needs root (namespaces); without it
 * the part is skipped with a note (exit 0, "skipped" in the JSON).
 *
 *   --nodes N (4)  --rtt-ms MS (50)  --rate R (100)  --seconds S (10)  --json
 */
#include "cli.h"
#include "bench.h"
#include "devnet.h"
#include "../lib/tls.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAN_MAX_NODES 16

typedef struct {
	int a, b;                     /* 10.a.b.0/24 */
	unsigned tag;                 /* in every name */
	int nodes;
	int ns_made[WAN_MAX_NODES];
	int bridge_made;
} wan_net_t;

/* Runs a command (argv, no shell), stdout/stderr to /dev/null unless
 * verbose; returns its exit status or -1. */
static int run_cmd(char *const argv[])
{
	pid_t pid = fork();
	if (pid == 0) {
		FILE *n1 = freopen("/dev/null", "w", stdout);
		FILE *n2 = freopen("/dev/null", "w", stderr);
		(void)n1;
		(void)n2;
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define IP(...) run_cmd((char *const[]){ "ip", __VA_ARGS__, NULL })

static void wan_teardown(wan_net_t *w)
{
	char ns[32], br[16];
	for (int i = 0; i < w->nodes; i++) {
		if (!w->ns_made[i])
			continue;
		snprintf(ns, sizeof(ns), "bsw%u-%d", w->tag, i);
		IP("netns", "del", ns);
		w->ns_made[i] = 0;
	}
	if (w->bridge_made) {
		snprintf(br, sizeof(br), "bw%ubr", w->tag);
		IP("link", "del", br);
		w->bridge_made = 0;
	}
}

static int wan_setup(wan_net_t *w, int nodes, char *err, size_t errlen)
{
	pid_t pid = getpid();
	memset(w, 0, sizeof(*w));
	w->nodes = nodes;
	w->tag = (unsigned)pid % 100000;
	w->a = 200 + (int)(pid % 50);
	w->b = (int)((pid / 50) % 250);
	char br[16], braddr[32];
	snprintf(br, sizeof(br), "bw%ubr", w->tag);
	snprintf(braddr, sizeof(braddr), "10.%d.%d.254/24", w->a, w->b);
	if (IP("link", "add", br, "type", "bridge") != 0) {
		err_set(err, errlen, "`ip link add %s type bridge' failed", br);
		return -1;
	}
	w->bridge_made = 1;
	if (IP("addr", "add", braddr, "dev", br) != 0 || IP("link", "set", br, "up") != 0) {
		err_set(err, errlen, "cannot address the bridge %s as %s", br, braddr);
		goto fail;
	}
	for (int i = 0; i < nodes; i++) {
		char ns[32], vh[16], vn[16], addr[32];
		snprintf(ns, sizeof(ns), "bsw%u-%d", w->tag, i);
		snprintf(vh, sizeof(vh), "bw%uh%d", w->tag, i);
		snprintf(vn, sizeof(vn), "bw%un%d", w->tag, i);
		snprintf(addr, sizeof(addr), "10.%d.%d.%d/24", w->a, w->b, i + 1);
		if (IP("netns", "add", ns) != 0) {
			err_set(err, errlen, "`ip netns add %s' failed", ns);
			goto fail;
		}
		w->ns_made[i] = 1;
		if (IP("link", "add", vh, "type", "veth", "peer", "name", vn) != 0 ||
		    IP("link", "set", vn, "netns", ns) != 0 || IP("link", "set", vh, "master", br) != 0 ||
		    IP("link", "set", vh, "up") != 0 || IP("-n", ns, "addr", "add", addr, "dev", vn) != 0 ||
		    IP("-n", ns, "link", "set", vn, "up") != 0 || IP("-n", ns, "link", "set", "lo", "up") != 0) {
			err_set(err, errlen, "cannot wire namespace %s (veth %s/%s, %s)", ns, vh, vn, addr);
			goto fail;
		}
	}
	return 0;
fail:
	wan_teardown(w);
	return -1;
}

/* Rewrites the devnet for the namespaces: certificates with the node's
 * address, genesis peer endpoints at the relays, APIs on the node's
 * address, peer_listen on the node's address.  Fills listen/target for
 * the relays (caller frees the strings). */
static int wan_rewrite(const wan_net_t *w, const char *dir, char **lst, char **tgt, char *err, size_t errlen)
{
	int ret = -1;
	char *ca_path = xasprintf("%s/ca.pem", dir), *cak_path = xasprintf("%s/ca-key.pem", dir);
	char *gp = xasprintf("%s/genesis.json", dir);
	char *ca = tls_read_cert_file(ca_path, err, errlen), *cak = NULL;
	json_error_t je;
	json_t *g = json_load_file(gp, 0, &je);
	if (!ca || !(cak = tls_read_key_file(cak_path, err, errlen)))
		goto out;
	if (!g) {
		err_set(err, errlen, "%s: %s", gp, je.text);
		goto out;
	}
	json_t *provs = json_object_get(g, "providers");
	for (int i = 0; i < w->nodes; i++) {
		json_t *p = json_array_get(provs, (size_t)i);
		const char *peer = json_string_value(json_object_get(p, "peer"));
		const char *api = json_string_value(json_object_get(p, "api"));
		const char *name = json_string_value(json_object_get(p, "name"));
		const char *pc = peer ? strrchr(peer, ':') : NULL, *ac = api ? strrchr(api, ':') : NULL;
		if (!pc || !ac || !name) {
			err_set(err, errlen, "provider %d of %s has no peer/api endpoint", i, gp);
			goto out;
		}
		int pport = atoi(pc + 1), aport = atoi(ac + 1);
		char ip[32], *cert = NULL, *key = NULL;
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", w->a, w->b, i + 1);
		const char *sans[] = { ip, "127.0.0.1", "localhost" };
		if (tls_cert_issue(&cert, &key, ca, cak, name, sans, 3, TLS_DEFAULT_DAYS, err, errlen) < 0)
			goto out;
		char *cp = xasprintf("%s/tls/%s.pem", dir, name), *kp = xasprintf("%s/tls/%s-key.pem", dir, name);
		int wr = tls_write_pair(cp, cert, kp, key, err, errlen);
		free(cp);
		free(kp);
		json_object_set_new(p, "tls_cert", json_string(cert));
		json_object_set_new(p, "peer", json_sprintf("10.%d.%d.254:%d", w->a, w->b, pport));
		json_object_set_new(p, "api", json_sprintf("https://%s:%d", ip, aport));
		free(cert);
		tls_secret_free(key);
		if (wr < 0)
			goto out;
		lst[i] = xasprintf("10.%d.%d.254:%d", w->a, w->b, pport);
		tgt[i] = xasprintf("%s:%d", ip, pport);
		/* node config: listen for peers on the node's own address */
		char *cfgp = xasprintf("%s/node%d/config.json", dir, i);
		json_t *cfg = json_load_file(cfgp, 0, &je);
		int cr = -1;
		if (cfg) {
			json_object_set_new(cfg, "peer_listen", json_string(tgt[i]));
			cr = json_dump_file(cfg, cfgp, JSON_INDENT(2));
		}
		json_decref(cfg);
		if (cr) {
			err_set(err, errlen, "cannot rewrite `%s'", cfgp);
			free(cfgp);
			goto out;
		}
		free(cfgp);
	}
	if (json_dump_file(g, gp, JSON_INDENT(2)) != 0) {
		err_set(err, errlen, "cannot write `%s'", gp);
		goto out;
	}
	ret = 0;
out:
	json_decref(g);
	free(ca);
	tls_secret_free(cak);
	free(ca_path);
	free(cak_path);
	free(gp);
	return ret;
}

static int start_in_ns(const wan_net_t *w, const char *dir, int i)
{
	char ns[32], nb[16];
	snprintf(ns, sizeof(ns), "bsw%u-%d", w->tag, i);
	snprintf(nb, sizeof(nb), "%d", i);
	char *argv[] = { "ip", "netns", "exec", ns, (char *)bench_self_exe(), "devnet", "start", "--dir", (char *)dir,
			 "--node", nb, NULL };
	return run_cmd(argv);
}

static json_t *skipped(const char *why)
{
	return json_pack("{s:b,s:s}", "skipped", 1, "reason", why);
}

int bench_wan_main(int argc, char **argv)
{
	int nodes = 4, json = 0, ret = 1;
	long rtt = 50;
	double rate = 100, secs = 10;
	const char *usage = "bsec bench wan [--nodes N] [--rtt-ms MS] [--rate R] [--seconds S] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && has) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--rtt-ms") && has) rtt = atol(argv[++i]);
		else if (!strcmp(a, "--rate") && has) rate = atof(argv[++i]);
		else if (!strcmp(a, "--seconds") && has) secs = atof(argv[++i]);
		else return cli_usage(usage);
	}
	if (nodes < 1 || nodes > WAN_MAX_NODES || rtt < 0 || rtt > 10000 || !(rate > 0) || !(secs > 0) || secs > 600)
		return cli_usage(usage);
	if (geteuid() != 0 || IP("netns", "list") != 0) {
		const char *why = geteuid() != 0 ? "network namespaces need root; the WAN profile was skipped"
						  : "`ip netns' does not work here; the WAN profile was skipped";
		if (json)
			bench_print_json(skipped(why));
		else
			printf("%s\n", why);
		return 0;
	}
	wan_net_t w;
	bench_net_t b;
	bench_relay_t *relay = NULL;
	char *lst[WAN_MAX_NODES] = { 0 }, *tgt[WAN_MAX_NODES] = { 0 };
	char err[512];
	devnet_t d;
	memset(&d, 0, sizeof(d));
	memset(&b, 0, sizeof(b));
	memset(&w, 0, sizeof(w));
	bench_run_t L, S;
	memset(&L, 0, sizeof(L));
	memset(&S, 0, sizeof(S));
	if (bench_net_create(&b, nodes, "ed25519", "sim", 0, err, sizeof(err)) < 0 ||
	    wan_setup(&w, nodes, err, sizeof(err)) < 0 || wan_rewrite(&w, b.dir, lst, tgt, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	relay = bench_relay_start((const char *const *)lst, (const char *const *)tgt, (size_t)nodes,
				  (unsigned)(rtt / 2), err, sizeof(err));
	if (!relay) {
		cli_fail("%s", err);
		goto out;
	}
	b.up = 1;
	for (int i = 0; i < nodes; i++)
		if (start_in_ns(&w, b.dir, i) != 0) {
			cli_fail("node %d did not start in its namespace (log: %s/node%d/node.log)", i, b.dir, i);
			goto out;
		}
	if (devnet_open(&d, b.dir, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	https_trust_t trust = { .ca_file = d.ca_path };
	/* every node connected to every other, through the relays */
	uint64_t end = mono_us() + 30000000ull;
	for (int i = 0; i < nodes && nodes > 1;) {
		long long p = bench_status_int(d.g.providers[i].api, &trust, "peers");
		if (p >= nodes - 1) {
			i++;
			continue;
		}
		if (mono_us() > end) {
			cli_fail("node %d has %lld of %d peers after 30 s", i, p, nodes - 1);
			goto out;
		}
		usleep(100000);
	}
	L.dir = b.dir;
	L.rate = rate;
	L.latency = 1;
	L.seconds = secs;
	L.count = (size_t)(rate * secs) + 1;
	L.threads = 4;
	L.ibytes = 64;
	L.drain_s = 30;
	if (bench_run(&L) < 0) {
		cli_fail("latency run: %s", L.error);
		goto out;
	}
	S.dir = b.dir;
	S.seconds = secs;
	S.count = 200000;
	S.threads = 8;
	S.ibytes = 64;
	S.drain_s = 60;
	if (bench_run(&S) < 0) {
		cli_fail("saturation run: %s", S.error);
		goto out;
	}
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "nodes", json_integer(nodes));
		json_object_set_new(o, "rtt_ms", json_integer(rtt));
		json_object_set_new(o, "one_way_delay_ms", bench_jnum((double)rtt / 2));
		json_object_set_new(o, "relayed_bytes", json_integer((json_int_t)bench_relay_bytes(relay)));
		json_object_set_new(o, "latency", bench_run_json(&L, 1));
		json_object_set_new(o, "saturation", bench_run_json(&S, 0));
		json_object_set_new(o, "tx_per_s", bench_jnum(S.tx_per_s));
		json_object_set_new(o, "p50_ms", bench_jnum(bench_pct(L.lat_ms, L.lat_n, 50)));
		json_object_set_new(o, "p99_ms", bench_jnum(bench_pct(L.lat_ms, L.lat_n, 99)));
		bench_print_json(o);
	} else {
		printf("n=%d in network namespaces, %ld ms RTT between every pair (relays)\n", nodes, rtt);
		printf("latency at %.0f tx/s: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms (%zu samples)\n", rate,
		       bench_pct(L.lat_ms, L.lat_n, 50), bench_pct(L.lat_ms, L.lat_n, 90), bench_pct(L.lat_ms, L.lat_n, 99),
		       L.lat_n);
		printf("saturation: %.0f tx/s committed, %.0f txs/block; %s\n", S.tx_per_s, S.blk_mean, S.bound_why);
	}
	ret = 0;
out:
	bench_run_free(&L);
	bench_run_free(&S);
	devnet_close(&d);
	bench_net_destroy(&b);
	bench_relay_stop(relay);
	wan_teardown(&w);
	for (int i = 0; i < WAN_MAX_NODES; i++) {
		free(lst[i]);
		free(tgt[i]);
	}
	return ret;
}
