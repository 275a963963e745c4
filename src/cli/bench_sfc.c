/*
 * bench_sfc.c — `bsec bench sfc`: SFC creation time against the number of
 * VNFs in the chain (the paper's Fig. 6(b): OPNFV created each VNF from an
 * image in 30.1 s on average, one after the other, then chained them;
 * PBFT added up to 20 s at 9 nodes).
 *
 * For each n a fresh devnet with orchestrators and the `sim' driver whose
 * vnf:create takes --vnf-ms (default the paper's 30 100 ms) multiplied by
 * --time-scale (default 0.01, so a VNF takes 301 ms: the whole sweep
 * would otherwise need 45 × 30.1 s per n).  For K VNFs the tenant creates
 * them one by one through BSec — each a signed request, committed, executed
 * by the domain's orchestrator, its response committed — and then the SFC
 * through them; the creation time is from the first request to the SFC's
 * committed response.  The same K creates and the SFC are then timed on a
 * driver instance of this process (same latency and scale): what the bare
 * platform takes.  Only the driver's sleeps are scaled, never BSec's work,
 * so the creation time at the paper's scale is
 *     K × vnf-ms (+ the direct SFC step) / scale  +  (measured − direct)
 * i.e. the unscaled platform time plus the consensus overhead as measured.
 *
 *   --nodes 1,4,7,10  --vnfs 1-9  --vnf-ms MS  --time-scale S  --json
 */
#include "cli.h"
#include "bench.h"
#include "client.h"
#include "../orchestrator/driver.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 16

/* Direct driver time of K vnf creates and one sfc create, in ms; NAN on error. */
static double direct_ms(long vnf_ms, double scale, int k, int tag)
{
	char err[256], res[512], prefix[24];
	snprintf(prefix, sizeof(prefix), "bsfc%04x%d", (unsigned)(getpid() & 0xffff), tag);
	json_t *cfg = json_pack("{s:{s:I,s:I},s:f}", "latency_ms", "vnf:create", (json_int_t)vnf_ms, "default",
				(json_int_t)0, "time_scale", scale);
	driver_t *drv = driver_new("sim", cfg, prefix, err, sizeof(err));
	json_decref(cfg);
	if (!drv)
		return NAN;
	double total = NAN;
	char chain[1024] = "";
	uint64_t t0 = mono_us();
	for (int j = 0; j <= k; j++) {
		char text[1200];
		if (j < k) {
			snprintf(text, sizeof(text), "vnf create d%dv%d --type forwarder", k, j);
			size_t l = strlen(chain);
			snprintf(chain + l, sizeof(chain) - l, "%sd%dv%d", j ? "," : "", k, j);
		} else {
			snprintf(text, sizeof(text), "sfc create d%ds --chain %s", k, chain);
		}
		instr_t in;
		size_t pos;
		if (instr_parse(&in, text, strlen(text), &pos, err, sizeof(err)) < 0 ||
		    driver_apply(drv, &in, "p0", "00", res, sizeof(res), err, sizeof(err)) < 0)
			goto out;
	}
	total = (double)(mono_us() - t0) / 1000.0;
out:
	driver_free(drv);
	return total;
}

int bench_sfc_main(int argc, char **argv)
{
	const char *nodes_s = "1,4,7,10", *vnfs_s = "1-9";
	long vnf_ms = PAPER_VNF_MS;
	double scale = 0.01;
	int json = 0, ret = 1;
	long nodes[MAX_LIST], vnfs[MAX_LIST];
	const char *usage = "bsec bench sfc [--nodes 1,4,7,10] [--vnfs 1-9] [--vnf-ms 30100] [--time-scale 0.01] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && has) nodes_s = argv[++i];
		else if (!strcmp(a, "--vnfs") && has) vnfs_s = argv[++i];
		else if (!strcmp(a, "--vnf-ms") && has) vnf_ms = atol(argv[++i]);
		else if (!strcmp(a, "--time-scale") && has) scale = atof(argv[++i]);
		else return cli_usage(usage);
	}
	int nn = bench_parse_list(nodes_s, nodes, MAX_LIST, 1, 16);
	int nv = bench_parse_list(vnfs_s, vnfs, MAX_LIST, 1, 32);
	if (nn < 0 || nv < 0 || vnf_ms < 0 || vnf_ms > 3600000 || !(scale > 0) || scale > 1000)
		return cli_usage(usage);
	json_t *points = json_array();
	char err[512];
	if (!json)
		printf("sim driver: vnf:create %ld ms x time scale %g = %.1f ms; other operations 0 ms\n", vnf_ms, scale,
		       (double)vnf_ms * scale);
	/* the bare platform, once per K */
	double *direct = xcalloc((size_t)nv, sizeof(double));
	for (int v = 0; v < nv; v++)
		direct[v] = direct_ms(vnf_ms, scale, (int)vnfs[v], v);
	for (int a = 0; a < nn; a++) {
		bench_net_t b;
		client_t c;
		sig_key_t *key = NULL;
		memset(&c, 0, sizeof(c));
		json_t *lat = json_pack("{s:I,s:I}", "vnf:create", (json_int_t)vnf_ms, "default", (json_int_t)0);
		int ok = bench_net_create(&b, (int)nodes[a], "ed25519", "sim", 0, err, sizeof(err)) == 0 &&
			 bench_set_sim(b.dir, (int)nodes[a], lat, scale) == 0 && bench_net_up(&b, 1, err, sizeof(err)) == 0;
		json_decref(lat);
		if (!ok) {
			cli_fail("n=%ld: %s", nodes[a], err);
			bench_net_destroy(&b);
			goto out;
		}
		char *kp = bench_tenant_key(b.dir);
		client_opts_t co = { .dir = b.dir, .node_index = 0 };
		int kr = sig_key_load(&key, kp, err, sizeof(err));
		free(kp);
		if (kr < 0 || client_open(&c, &co) < 0) {
			cli_fail("cannot use the devnet in %s: %s", b.dir, err);
			bench_net_destroy(&b);
			goto out;
		}
		int timeout = 120000 + (int)((double)vnf_ms * scale * 2);
		for (int v = 0; v < nv; v++) {
			int k = (int)vnfs[v];
			char chain[1024] = "", text[1200];
			client_req_result_t r;
			double commit_sum = 0;
			uint64_t t0 = mono_us();
			for (int j = 0; j < k; j++) {
				snprintf(text, sizeof(text), "vnf create k%dv%d --type forwarder", k, j);
				size_t l = strlen(chain);
				snprintf(chain + l, sizeof(chain) - l, "%sk%dv%d", j ? "," : "", k, j);
				if (client_request(&c, key, "p0", text, timeout, &r) != CLIENT_REQ_OK) {
					cli_fail("n=%ld: `%s' did not get an ok response: %s %s", nodes[a], text, r.code,
						 r.message);
					goto fail;
				}
				commit_sum += r.commit_ms;
			}
			snprintf(text, sizeof(text), "sfc create k%ds --chain %s", k, chain);
			if (client_request(&c, key, "p0", text, timeout, &r) != CLIENT_REQ_OK) {
				cli_fail("n=%ld: `%s' did not get an ok response: %s %s", nodes[a], text, r.code, r.message);
				goto fail;
			}
			commit_sum += r.commit_ms;
			double measured = (double)(mono_us() - t0) / 1000.0;
			double over = measured - direct[v];
			double paper_scale = direct[v] / scale + over;
			json_array_append_new(points, json_pack("{s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "nodes", (int)nodes[a],
				"vnfs", k, "measured_ms", measured, "direct_ms", direct[v], "overhead_ms", over,
				"request_commit_ms_sum", commit_sum, "creation_s_at_paper_scale", paper_scale / 1000.0));
			if (!json)
				printf("n=%-2ld K=%d: %8.1f ms through BSec, %8.1f ms bare driver, overhead %6.1f ms; "
				       "at 30.1 s/VNF: %.2f s\n", nodes[a], k, measured, direct[v], over, paper_scale / 1000.0);
		}
		client_close(&c);
		sig_key_free(key);
		bench_net_destroy(&b);
		continue;
fail:
		client_close(&c);
		sig_key_free(key);
		bench_net_destroy(&b);
		goto out;
	}
	if (json) {
		json_t *o = json_pack("{s:I,s:f,s:f,s:O,s:{s:f,s:f}}", "vnf_ms", (json_int_t)vnf_ms, "time_scale", scale,
				      "vnf_ms_scaled", (double)vnf_ms * scale, "points", points, "paper", "vnf_s",
				      PAPER_VNF_MS / 1000.0, "consensus_delay_n9_s", PAPER_CONSENSUS_DELAY_N9_S);
		bench_print_json(o);
	} else {
		printf("paper: %.1f s per VNF; consensus adds up to %.0f s at n = 9\n", PAPER_VNF_MS / 1000.0,
		       PAPER_CONSENSUS_DELAY_N9_S);
	}
	ret = 0;
out:
	free(direct);
	json_decref(points);
	return ret;
}
