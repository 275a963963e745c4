/*
 * bench_overhead.c — `bsec bench overhead`: what BSec adds to an
 * orchestration operation (the paper's Fig. 6(a): 0.06 s, 3 %).
 *
 * On a fresh devnet (n nodes, one orchestrator per domain, the chosen
 * driver) the demo tenant creates two forwarder VNFs in two domains and
 * then an SFC through them, K times.  The measured operation is "sfc
 * create": from submitting the signed request to its committed response.
 * Overhead, paired: every driver reports how long the operation took
 * inside the orchestrator ("… in N ms" in the signed response), so per
 * SFC request overhead = (submission -> committed response) − that
 * driver time; reported as mean with a 95 % confidence interval (the
 * paper's form) and median, and as a share of the driver time.  The
 * same operation is also timed called directly, on a driver instance of
 * this process (another consortium prefix, same config): the unpaired
 * difference of medians is printed beside it.  Every request's
 * request -> response latency is reported too (p50, p99).
 *
 *   --nodes N (default 4)  --driver sim|netns|auto (default auto: netns
 *   when running as root with ip and nft, else sim)
 *   --latency-ms L: sim latency of every operation (default 0; the paper's
 *     VNF instantiation took 30.1 s, see `bench sfc`)   --count K  --json
 */
#include "cli.h"
#include "bench.h"
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

static double pct(double *v, size_t n, double p)
{
	bench_sort(v, n);
	return bench_pct(v, n, p);
}

/* The driver's own time from a result "… in N ms", or NAN. */
static double driver_ms_of(const char *result)
{
	const char *p = strstr(result, " in "), *last = NULL;
	while (p) {
		last = p;
		p = strstr(p + 1, " in ");
	}
	char *end;
	double v = last ? strtod(last + 4, &end) : NAN;
	return last && end != last + 4 && !strncmp(end, " ms", 3) ? v : NAN;
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
	const char *driver = "auto";
	const char *usage = "bsec bench overhead [--nodes N] [--driver sim|netns|auto] [--latency-ms L] [--count K] [--json]";
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
	    (strcmp(driver, "sim") && strcmp(driver, "netns") && strcmp(driver, "auto")))
		return cli_usage(usage);
	if (!strcmp(driver, "auto"))
		driver = driver_netns_missing() ? "sim" : "netns";
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
	double *paired = xcalloc((size_t)count, sizeof(double)), *drv_in = xcalloc((size_t)count, sizeof(double));
	size_t npaired = 0;
	size_t nall = 0, nsfc = 0, ndir = 0;
	char err[512];
	if (bench_self_run(init, 0) != 0 || (!strcmp(driver, "sim") && set_sim_latency(tmpl, nodes, latency) < 0) ||
	    bench_self_run(up, 0) != 0) {
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
		double dm = driver_ms_of(r.message);
		if (!isnan(dm)) {
			drv_in[npaired] = dm;
			paired[npaired++] = r.response_ms - dm;
		}
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
	double over = m_sfc - m_dir;
	/* paired: mean and 95 % CI of (through BSec - the driver's own time) */
	double mean = 0, sd = 0, dmean = 0;
	for (size_t i = 0; i < npaired; i++) {
		mean += paired[i];
		dmean += drv_in[i];
	}
	mean = npaired ? mean / (double)npaired : NAN;
	dmean = npaired ? dmean / (double)npaired : NAN;
	for (size_t i = 0; i < npaired; i++)
		sd += (paired[i] - mean) * (paired[i] - mean);
	sd = npaired > 1 ? sqrt(sd / (double)(npaired - 1)) : NAN;
	double ci = npaired > 1 ? 1.96 * sd / sqrt((double)npaired) : NAN;
	double p_med = pct(paired, npaired, 50);
	double base = m_dir > dmean ? m_dir : dmean;
	double over_pct = base > 0 ? 100.0 * mean / (base + 0.0) : NAN;
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "nodes", json_integer(nodes));
		json_object_set_new(o, "driver", json_string(driver));
		json_object_set_new(o, "latency_ms", json_integer((json_int_t)latency));
		json_object_set_new(o, "count", json_integer(count));
		json_object_set_new(o, "sfc_create_ms", bench_jnum(m_sfc));
		json_object_set_new(o, "driver_in_orchestrator_ms_mean", bench_jnum(dmean));
		json_object_set_new(o, "direct_sfc_create_ms", bench_jnum(m_dir));
		json_object_set_new(o, "overhead_ms", bench_jnum(mean));
		json_object_set_new(o, "overhead_ci95_ms", bench_jnum(ci));
		json_object_set_new(o, "overhead_median_ms", bench_jnum(p_med));
		json_object_set_new(o, "overhead_pct", bench_jnum(over_pct));
		json_object_set_new(o, "overhead_unpaired_ms", bench_jnum(over));
		json_object_set_new(o, "request_response_p50_ms", bench_jnum(p50_all));
		json_object_set_new(o, "request_response_p99_ms", bench_jnum(p99_all));
		json_object_set_new(o, "paper", json_pack("{s:f,s:f}", "overhead_ms", PAPER_OVERHEAD_MS, "overhead_pct",
							  PAPER_OVERHEAD_PCT));
		bench_print_json(o);
		o = NULL;
	} else {
		printf("n=%d, driver %s (latency %ld ms per operation), %d SFCs of 2 VNFs\n", nodes, driver, latency, count);
		printf("sfc create through BSec (request -> committed response): median %.1f ms\n", m_sfc);
		printf("sfc create called directly on the driver:                 median %.1f ms\n", m_dir);
		printf("the driver's own time inside the orchestrator:           mean %.1f ms\n", dmean);
		printf("overhead (paired, per request): %.1f ms +- %.1f (95 %% CI), median %.1f ms", mean, ci, p_med);
		if (!isnan(over_pct))
			printf(" = %.1f %% of the operation", over_pct);
		printf("   [paper: 60 ms, 3 %%]\n");
		printf("difference of the medians (unpaired): %.1f ms\n", over);
		printf("request -> committed response, all %zu requests: p50 %.1f ms, p99 %.1f ms\n", nall, p50_all,
		       p99_all);
	}
	ret = 0;
out:
	driver_free(drv);
	client_close(&c);
	sig_key_free(key);
	bench_self_run(down, 0);
	bench_rmtree(tmpl);
	free(sfc);
	free(dir_sfc);
	free(all);
	free(paired);
	free(drv_in);
	return ret;
}
