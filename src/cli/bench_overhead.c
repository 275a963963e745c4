/*
 * bench_overhead.c — `bsec bench overhead`: what BSec adds to an
 * orchestration operation (the paper's Fig. 6(a): 0.06 s, 3 %).
 *
 * On a fresh devnet (n nodes, one orchestrator per domain, the chosen
 * driver) the demo tenant creates two forwarder VNFs in two domains and
 * then an SFC through them, K times.  The measured operation is "sfc
 * create": from submitting the signed request to its committed response.
 * The same driver operation is then timed called directly, on a driver
 * instance of this process (another consortium prefix, same config), and
 * the overhead is the difference of the medians.  Every request's
 * request -> response latency is reported too (p50, p99).
 *
 *   --nodes N (default 4)  --driver sim|netns (default sim)
 *   --latency-ms L: sim latency of every operation (default 0; the paper's
 *     VNF instantiation took 30.1 s, see `bench sfc`)   --count K  --json
 */
#include "cli.h"
#include "client.h"
#include "devnet.h"
#include "../orchestrator/driver.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_self(char *const args[])
{
	char self[4096];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l <= 0)
		return -1;
	self[l] = 0;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(self, args);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(double), cmpd);
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	return v[i ? i - 1 : 0];
}

/* Sets every orchestrator's sim latency to L ms. */
static int set_sim_latency(const char *dir, int nodes, long latency)
{
	for (int i = 0; i < nodes; i++) {
		char *p = xasprintf("%s/orch%d/config.json", dir, i);
		json_error_t je;
		json_t *o = json_load_file(p, 0, &je);
		json_t *drv = json_object_get(o, "driver");
		int r = -1;
		if (drv) {
			json_object_set_new(drv, "latency_ms", json_integer(latency));
			r = json_dump_file(o, p, JSON_INDENT(2));
		}
		json_decref(o);
		free(p);
		if (r)
			return -1;
	}
	return 0;
}

static double direct_ms(driver_t *drv, const char *text)
{
	instr_t in;
	size_t pos;
	char err[256], res[512];
	if (instr_parse(&in, text, strlen(text), &pos, err, sizeof(err)) < 0)
		return NAN;
	uint64_t t0 = mono_us();
	if (driver_apply(drv, &in, "p1", "00", res, sizeof(res), err, sizeof(err)) < 0)
		return NAN;
	return (double)(mono_us() - t0) / 1000.0;
}

int bench_overhead_main(int argc, char **argv)
{
	int nodes = 4, count = 10, json = 0;
	long latency = 0;
	const char *driver = "sim";
	const char *usage = "bsec bench overhead [--nodes N] [--driver sim|netns] [--latency-ms L] [--count K] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && has) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--count") && has) count = atoi(argv[++i]);
		else if (!strcmp(a, "--latency-ms") && has) latency = atol(argv[++i]);
		else if (!strcmp(a, "--driver") && has) driver = argv[++i];
		else return cli_usage(usage);
	}
	if (nodes < 1 || nodes > 16 || count < 1 || count > 10000 || latency < 0 || latency > 3600000 ||
	    (strcmp(driver, "sim") && strcmp(driver, "netns")))
		return cli_usage(usage);
	if (!strcmp(driver, "netns") && driver_netns_missing())
		return cli_fail("netns driver unavailable: %s", driver_netns_missing());
	char tmpl[] = "/tmp/bsec-overhead-XXXXXX";
	if (!mkdtemp(tmpl))
		return cli_fail("cannot create a temporary directory");
	char nb[16];
	snprintf(nb, sizeof(nb), "%d", nodes);
	char *init[] = { "bsec", "devnet", "init", "--dir", tmpl, "--nodes", nb, "--driver", (char *)driver, "--force", NULL };
	char *up[] = { "bsec", "devnet", "up", "--dir", tmpl, "--detach", NULL };
	char *down[] = { "bsec", "devnet", "down", "--dir", tmpl, NULL };
	int ret = 1;
	client_t c;
	memset(&c, 0, sizeof(c));
	sig_key_t *key = NULL;
	driver_t *drv = NULL;
	double *sfc = xcalloc((size_t)count, sizeof(double)), *dir_sfc = xcalloc((size_t)count, sizeof(double));
	double *all = xcalloc((size_t)count * 3, sizeof(double));
	size_t nall = 0, nsfc = 0, ndir = 0;
	char err[512];
	if (run_self(init) != 0 || (!strcmp(driver, "sim") && set_sim_latency(tmpl, nodes, latency) < 0) ||
	    run_self(up) != 0) {
		cli_fail("could not start a %d-node devnet", nodes);
		goto out;
	}
	client_opts_t co = { .dir = tmpl, .node_index = 0 };
	char *kp = xasprintf("%s/tenants/demo.pem", tmpl);
	int kr = sig_key_load(&key, kp, err, sizeof(err));
	free(kp);
	if (kr < 0 || client_open(&c, &co) < 0) {
		cli_fail("cannot use the devnet: %s", err);
		goto out;
	}
	const char *d2 = nodes > 2 ? "p2" : "p0", *d1 = nodes > 1 ? "p1" : "p0";
	for (int k = 0; k < count; k++) {
		char a[64], b[64], s[128];
		client_req_result_t r;
		snprintf(a, sizeof(a), "vnf create oa%d --type forwarder", k);
		snprintf(b, sizeof(b), "vnf create ob%d --type forwarder", k);
		snprintf(s, sizeof(s), "sfc create os%d --chain oa%d,ob%d", k, k, k);
		if (client_request(&c, key, d1, a, 120000 + (int)latency * 3, &r) != CLIENT_REQ_OK)
			goto failed;
		all[nall++] = r.response_ms;
		if (client_request(&c, key, d2, b, 120000 + (int)latency * 3, &r) != CLIENT_REQ_OK)
			goto failed;
		all[nall++] = r.response_ms;
		if (client_request(&c, key, d1, s, 120000 + (int)latency * 3, &r) != CLIENT_REQ_OK)
			goto failed;
		all[nall++] = r.response_ms;
		sfc[nsfc++] = r.response_ms;
		continue;
failed:
		cli_fail("request %d did not get an ok response: %s %s", k, r.code, r.message);
		goto out;
	}
	/* the same operation, called directly */
	char prefix[16];
	snprintf(prefix, sizeof(prefix), "ovh%04x", (unsigned)(getpid() & 0xffff));
	json_t *cfg = !strcmp(driver, "sim") ? json_pack("{s:I}", "latency_ms", (json_int_t)latency) : json_object();
	drv = driver_new(driver, cfg, prefix, err, sizeof(err));
	json_decref(cfg);
	if (!drv) {
		cli_fail("direct driver: %s", err);
		goto out;
	}
	for (int k = 0; k < count; k++) {
		char a[64], b[64], s[128];
		snprintf(a, sizeof(a), "vnf create da%d --type forwarder", k);
		snprintf(b, sizeof(b), "vnf create db%d --type forwarder", k);
		snprintf(s, sizeof(s), "sfc create ds%d --chain da%d,db%d", k, k, k);
		if (isnan(direct_ms(drv, a)) || isnan(direct_ms(drv, b)))
			continue;
		double t = direct_ms(drv, s);
		if (!isnan(t))
			dir_sfc[ndir++] = t;
	}
	if (!strcmp(driver, "netns"))
		driver_cleanup_all(prefix, err, sizeof(err));
	double p50_all = pct(all, nall, 50), p99_all = pct(all, nall, 99);
	double m_sfc = pct(sfc, nsfc, 50), m_dir = pct(dir_sfc, ndir, 50);
	double over = m_sfc - m_dir, over_pct = m_dir > 0 ? 100.0 * over / m_dir : NAN;
	if (json) {
		json_t *o = json_pack("{s:i,s:s,s:I,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:{s:f,s:f}}", "nodes", nodes,
				      "driver", driver, "latency_ms", (json_int_t)latency, "count", count,
				      "sfc_create_ms", m_sfc, "direct_sfc_create_ms", m_dir, "overhead_ms", over,
				      "overhead_pct", isnan(over_pct) ? -1.0 : over_pct, "request_response_p50_ms",
				      p50_all, "request_response_p99_ms", p99_all, "paper", "overhead_ms", 60.0,
				      "overhead_pct", 3.0);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("n=%d, driver %s (latency %ld ms per operation), %d SFCs of 2 VNFs\n", nodes, driver, latency, count);
		printf("sfc create through BSec (request -> committed response): median %.1f ms\n", m_sfc);
		printf("sfc create called directly on the driver:                 median %.1f ms\n", m_dir);
		printf("overhead: %.1f ms", over);
		if (!isnan(over_pct))
			printf(" (%.1f %%)", over_pct);
		printf("   [paper: 60 ms, 3 %%]\n");
		printf("request -> committed response, all %zu requests: p50 %.1f ms, p99 %.1f ms\n", nall, p50_all,
		       p99_all);
	}
	ret = 0;
out:
	driver_free(drv);
	client_close(&c);
	sig_key_free(key);
	run_self(down);
	char *rm[] = { "rm", "-rf", tmpl, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		execvp("rm", rm);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	free(sfc);
	free(dir_sfc);
	free(all);
	return ret;
}
