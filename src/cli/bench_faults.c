/*
 * bench_faults.c — two benchmarks of recovery, beyond the paper:
 *
 *   bsec bench viewchange [--nodes 4] [--rate 200] [--repeat 3] [--view-timeout MS] [--json]
 *     Under a steady open-loop load (offered to every node but the
 *     leader), the leader is killed with SIGKILL (`devnet stop --kill').
 *     A surviving replica's /v1/status is polled every 10 ms.  Commits in
 *     flight may still complete right after the kill (the three survivors
 *     are a quorum); then the replicas' progress timers (started by the
 *     last delivery, view_timeout_ms long) expire, they change view and
 *     the new leader proposes.  Reported: kill -> first commit in the new
 *     view, and that minus (last commit of the old view + the timeout):
 *     how long the view change itself took once the timeout had fired.
 *     The killed node is restarted and allowed to catch up between
 *     repetitions, each of which kills the then-current leader.
 *
 *   bsec bench catchup [--nodes 4] [--txs 100000] [--instruction-bytes 64] [--json]
 *     The last node is stopped, --txs requests are committed by the
 *     others, the node is started again and timed until its height
 *     equals theirs (no load meanwhile): blocks/s and txs/s of state
 *     transfer, which fetches every block with its certificate, checks
 *     the certificate, re-verifies every tx and stores the block.
 */
#include "cli.h"
#include "bench.h"
#include "devnet.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	bench_run_t R;
	pthread_t th;
	int started;
	volatile int abort_flag;
	int rc;
} bg_load_t;

static void *bg_load_thread(void *arg)
{
	bg_load_t *L = arg;
	L->rc = bench_run(&L->R);
	return NULL;
}

/* Starts an open-loop load of `rate' tx/s on the devnet in the
 * background, submitted to targets[0..nt), counted at node watch. */
static int bg_load_start(bg_load_t *L, const char *dir, double rate, const int *targets, size_t nt, int watch)
{
	memset(L, 0, sizeof(*L));
	L->R.dir = dir;
	L->R.rate = rate;
	L->R.seconds = 120;
	L->R.count = (size_t)(rate * 120) + 1;
	L->R.threads = 4;
	L->R.ibytes = 64;
	L->R.targets = targets;
	L->R.ntargets = nt;
	L->R.watch = watch;
	L->R.drain_s = 20;
	L->R.abort_flag = &L->abort_flag;
	L->started = pthread_create(&L->th, NULL, bg_load_thread, L) == 0;
	return L->started ? 0 : -1;
}

static void bg_load_stop(bg_load_t *L)
{
	if (!L->started)
		return;
	L->abort_flag = 1;
	pthread_join(L->th, NULL);
	L->started = 0;
	bench_run_free(&L->R);
}

static int node_cmd(const char *verb, const char *dir, int node, int kill_now)
{
	char nb[16];
	snprintf(nb, sizeof(nb), "%d", node);
	char *args[] = { "bsec", "devnet", (char *)verb, "--dir", (char *)dir, "--node", nb,
			 kill_now ? "--kill" : NULL, NULL };
	return bench_self_run(args, 0);
}

/* height and view of a node, or -1 (over a kept-alive connection). */
static int height_view(https_client_t *c, long long *h, long long *v)
{
	json_t *o;
	if (bench_status_c(c, &o) < 0)
		return -1;
	*h = json_integer_value(json_object_get(o, "height"));
	*v = json_integer_value(json_object_get(o, "view"));
	json_decref(o);
	return 0;
}

static https_client_t *status_client(const devnet_t *d, const https_trust_t *trust, int i)
{
	char err[256];
	return https_client_new(d->g.providers[i].api, trust, 2000, err, sizeof(err));
}

/* Waits until node i's height reaches that of node ref (or timeout). */
static int wait_caught_up(const devnet_t *d, const https_trust_t *trust, int i, int ref, double timeout_s)
{
	uint64_t end = mono_us() + (uint64_t)(timeout_s * 1e6);
	https_client_t *ca = status_client(d, trust, i), *cb = status_client(d, trust, ref);
	int ret = -1;
	while (ca && cb && mono_us() < end) {
		long long a = bench_status_c_int(ca, "height");
		long long b = bench_status_c_int(cb, "height");
		if (a >= 0 && b >= 0 && a >= b) {
			ret = 0;
			break;
		}
		usleep(50000);
	}
	https_client_free(ca);
	https_client_free(cb);
	return ret;
}

int bench_viewchange_main(int argc, char **argv)
{
	int nodes = 4, repeat = 3, json = 0, ret = 1;
	long vt = 2000;
	double rate = 200;
	const char *usage = "bsec bench viewchange [--nodes N] [--rate R] [--repeat K] [--view-timeout MS] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && has) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--rate") && has) rate = atof(argv[++i]);
		else if (!strcmp(a, "--repeat") && has) repeat = atoi(argv[++i]);
		else if (!strcmp(a, "--view-timeout") && has) vt = atol(argv[++i]);
		else return cli_usage(usage);
	}
	if (nodes < 4 || nodes > 16 || repeat < 1 || repeat > 20 || !(rate > 0) || rate > 50000 || vt < 50 ||
	    vt > 600000)
		return cli_usage(usage);
	bench_net_t b;
	devnet_t d;
	char err[512];
	json_t *runs = json_array();
	memset(&d, 0, sizeof(d));
	if (bench_net_create(&b, nodes, "ed25519", "sim", vt, err, sizeof(err)) < 0 ||
	    bench_net_up(&b, 0, err, sizeof(err)) < 0 || devnet_open(&d, b.dir, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	https_trust_t trust = { .ca_file = d.ca_path };
	double *resume = xcalloc((size_t)repeat, sizeof(double)), *after = xcalloc((size_t)repeat, sizeof(double));
	for (int k = 0; k < repeat; k++) {
		long long h = -1, v0 = -1;
		for (int i = 0; i < nodes && v0 < 0; i++) {
			https_client_t *c = status_client(&d, &trust, i);
			if (c && height_view(c, &h, &v0) < 0)
				v0 = -1;
			https_client_free(c);
		}
		if (v0 < 0) {
			cli_fail("no node answers");
			goto loop_fail;
		}
		int leader = (int)(v0 % nodes), watch = (leader + 1) % nodes;
		int targets[16];
		size_t nt = 0;
		for (int i = 0; i < nodes; i++)
			if (i != leader)
				targets[nt++] = i;
		bg_load_t L;
		if (bg_load_start(&L, b.dir, rate, targets, nt, watch) < 0) {
			cli_fail("cannot start the load");
			goto loop_fail;
		}
		usleep(2000000);
		https_client_t *wc = status_client(&d, &trust, watch);
		long long hk, vk;
		if (!wc || height_view(wc, &hk, &vk) < 0) {
			https_client_free(wc);
			bg_load_stop(&L);
			cli_fail("node %d does not answer", watch);
			goto loop_fail;
		}
		uint64_t t_kill = mono_us();
		if (node_cmd("stop", b.dir, leader, 1) != 0) {
			bg_load_stop(&L);
			cli_fail("could not kill node %d", leader);
			goto loop_fail;
		}
		/* poll: last commit in the old view, first in a new one */
		long long h_old = hk, hv;
		uint64_t t_last_old = t_kill, t_resume = 0, t_vc = 0;
		long long v_new = -1;
		uint64_t give_up = t_kill + (uint64_t)(vt * 20 + 30000) * 1000;
		while (mono_us() < give_up) {
			long long hh, vv;
			uint64_t now = mono_us();
			if (height_view(wc, &hh, &vv) == 0) {
				if (vv == v0 && hh > h_old) {
					h_old = hh;
					t_last_old = now;
				}
				if (vv > v0 && !t_vc)
					t_vc = now;
				if (vv > v0 && hh > h_old) {
					t_resume = now;
					v_new = vv;
					hv = hh;
					break;
				}
			}
			usleep(10000);
		}
		https_client_free(wc);
		bg_load_stop(&L);
		if (!t_resume) {
			cli_fail("commits did not resume within %.0f s of killing node %d",
				 (double)(give_up - t_kill) / 1e6, leader);
			goto loop_fail;
		}
		(void)hv;
		double kill_to_resume = (double)(t_resume - t_kill) / 1e6;
		double since_timeout = (double)(t_resume - t_last_old) / 1e6 - (double)vt / 1000.0;
		resume[k] = kill_to_resume;
		after[k] = since_timeout;
		json_array_append_new(runs, json_pack("{s:i,s:I,s:I,s:f,s:f,s:f,s:f}", "killed", leader, "old_view",
			(json_int_t)v0, "new_view", (json_int_t)v_new, "kill_to_resume_s", kill_to_resume,
			"last_old_commit_after_kill_s", (double)(t_last_old - t_kill) / 1e6, "view_change_seen_s",
			t_vc ? (double)(t_vc - t_kill) / 1e6 : -1.0, "resume_after_timeout_s", since_timeout));
		if (!json)
			printf("run %d: killed leader %d (view %lld): commits resumed in view %lld %.3f s after the kill, "
			       "%.3f s after the %.1f s timeout\n", k + 1, leader, v0, v_new, kill_to_resume,
			       since_timeout, (double)vt / 1000.0);
		/* restart it and let it catch up before the next run */
		if (node_cmd("start", b.dir, leader, 0) != 0 ||
		    wait_caught_up(&d, &trust, leader, watch, 60) < 0) {
			cli_fail("node %d did not come back", leader);
			goto loop_fail;
		}
		continue;
loop_fail:
		free(resume);
		free(after);
		goto out;
	}
	bench_sort(resume, (size_t)repeat);
	bench_sort(after, (size_t)repeat);
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "nodes", json_integer(nodes));
		json_object_set_new(o, "rate", bench_jnum(rate));
		json_object_set_new(o, "view_timeout_s", bench_jnum((double)vt / 1000.0));
		json_object_set_new(o, "runs", json_incref(runs));
		json_object_set_new(o, "kill_to_resume_s_median", bench_jnum(bench_pct(resume, (size_t)repeat, 50)));
		json_object_set_new(o, "kill_to_resume_s_max", bench_jnum(resume[repeat - 1]));
		json_object_set_new(o, "resume_after_timeout_s_median", bench_jnum(bench_pct(after, (size_t)repeat, 50)));
		json_object_set_new(o, "resume_after_timeout_s_max", bench_jnum(after[repeat - 1]));
		bench_print_json(o);
	}
	free(resume);
	free(after);
	ret = 0;
out:
	json_decref(runs);
	devnet_close(&d);
	bench_net_destroy(&b);
	return ret;
}

#define CATCHUP_MAX_S 300
#define CATCHUP_STALL_S 30

/* The last k "level=warn" / "level=error" lines of a node log, as a JSON
 * array of strings (each cut to 300 bytes). */
static json_t *last_warnings(const char *path, size_t k)
{
	json_t *a = json_array();
	FILE *f = fopen(path, "r");
	char line[1024];
	if (!f)
		return a;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "level=warn") && !strstr(line, "level=error"))
			continue;
		line[strcspn(line, "\n")] = 0;
		if (strlen(line) > 300)
			line[300] = 0;
		json_array_append_new(a, json_string(line));
		if (json_array_size(a) > k)
			json_array_remove(a, 0);
	}
	fclose(f);
	return a;
}

/* One catch-up run on a fresh devnet: a JSON object with caught_up true
 * (and the figures) or false (and why), or NULL when the run itself could
 * not be made (err says why). */
static json_t *catchup_once(int nodes, long txs, long ib, char *err, size_t errlen)
{
	bench_net_t b;
	devnet_t d;
	json_t *o = NULL;
	memset(&d, 0, sizeof(d));
	int lag = nodes - 1;
	if (bench_net_create(&b, nodes, "ed25519", "sim", 0, err, errlen) < 0 ||
	    bench_net_up(&b, 0, err, errlen) < 0 || devnet_open(&d, b.dir, err, errlen) < 0)
		goto out;
	https_trust_t trust = { .ca_file = d.ca_path };
	long long h_stop = bench_status_int(d.g.providers[lag].api, &trust, "height");
	if (node_cmd("stop", b.dir, lag, 0) != 0) {
		err_set(err, errlen, "could not stop node %d", lag);
		goto out;
	}
	int targets[16];
	for (int i = 0; i < lag; i++)
		targets[i] = i;
	bench_run_t R;
	memset(&R, 0, sizeof(R));
	R.dir = b.dir;
	R.count = (size_t)txs;
	R.threads = 8;
	R.ibytes = (size_t)ib;
	R.targets = targets;
	R.ntargets = (size_t)lag;
	R.drain_s = 300;
	if (bench_run(&R) < 0 || R.committed < R.submitted) {
		err_set(err, errlen, "loading the others: %s (committed %zu of %zu)", R.error, R.committed,
			R.submitted);
		bench_run_free(&R);
		goto out;
	}
	bench_run_free(&R);
	long long target = bench_status_int(d.g.providers[0].api, &trust, "height");
	uint64_t t0 = mono_us();
	if (node_cmd("start", b.dir, lag, 0) != 0) {
		err_set(err, errlen, "could not restart node %d", lag);
		goto out;
	}
	uint64_t t_up = mono_us();
	long long h = -1, h_last = -1, h_first = -1;
	uint64_t end = t0 + (uint64_t)(CATCHUP_MAX_S * 1e6), t_first = 0, t_progress = t0;
	https_client_t *lc = status_client(&d, &trust, lag);
	while (lc && mono_us() < end) {
		h = bench_status_c_int(lc, "height");
		if (h > h_stop && !t_first) {
			t_first = mono_us();
			h_first = h;   /* a reply's blocks land in one turn: maybe several */
		}
		if (h > h_last) {
			h_last = h;
			t_progress = mono_us();
		}
		if (h >= target)
			break;
		if (mono_us() - t_progress > (uint64_t)(CATCHUP_STALL_S * 1e6))
			break; /* no progress for a while: stuck */
		usleep(20000);
	}
	uint64_t t1 = mono_us();
	https_client_free(lc);
	o = json_object();
	json_object_set_new(o, "nodes", json_integer(nodes));
	json_object_set_new(o, "missed_txs", json_integer((json_int_t)R.committed));
	json_object_set_new(o, "instruction_bytes", json_integer(ib));
	json_object_set_new(o, "load_s", bench_jnum(R.elapsed_s));
	if (h < target) {
		/* the benchmark ran; the replica did not catch up: say so, with why */
		char *lp = xasprintf("%s/node%d/node.log", b.dir, lag);
		json_object_set_new(o, "caught_up", json_false());
		json_object_set_new(o, "missed_blocks", json_integer((json_int_t)(target - h_stop)));
		json_object_set_new(o, "height_reached", json_integer(h));
		json_object_set_new(o, "target_height", json_integer(target));
		json_object_set_new(o, "gave_up_after_s", bench_jnum((double)(t1 - t0) / 1e6));
		json_object_set_new(o, "node_warnings", last_warnings(lp, 3));
		free(lp);
		goto out;
	}
	double secs = (double)(t1 - t0) / 1e6;
	double blocks = (double)(target - h_stop);
	/* the transfer itself: from the first poll that saw fetched blocks on
	 * (the blocks stored by then counted at the average block size) */
	double xfer_s = t_first ? (double)(t1 - t_first) / 1e6 : NAN;
	double left = (double)(target - h_first);
	double xfer_tx_s = blocks > 1 && left > 0 && xfer_s > 0 ? (double)R.committed * left / blocks / xfer_s : NAN;
	json_object_set_new(o, "caught_up", json_true());
	json_object_set_new(o, "missed_blocks", json_integer((json_int_t)blocks));
	json_object_set_new(o, "load_tx_per_s", bench_jnum(R.tx_per_s));
	json_object_set_new(o, "catchup_s", bench_jnum(secs));
	json_object_set_new(o, "start_s", bench_jnum((double)(t_up - t0) / 1e6));
	json_object_set_new(o, "first_block_s", bench_jnum(t_first ? (double)(t_first - t0) / 1e6 : NAN));
	json_object_set_new(o, "blocks_per_s", bench_jnum(blocks / secs));
	json_object_set_new(o, "txs_per_s", bench_jnum((double)R.committed / secs));
	json_object_set_new(o, "transfer_s", bench_jnum(xfer_s));
	json_object_set_new(o, "transfer_txs_per_s", bench_jnum(xfer_tx_s));
out:
	devnet_close(&d);
	bench_net_destroy(&b);
	return o;
}

static double jnum(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int by_rate(const void *a, const void *b)
{
	double x = jnum(*(json_t *const *)a, "txs_per_s"), y = jnum(*(json_t *const *)b, "txs_per_s");
	return (x > y) - (x < y);
}

int bench_catchup_main(int argc, char **argv)
{
	int nodes = 4, json = 0, repeat = 1;
	long txs = 100000, ib = 64;
	const char *usage = "bsec bench catchup [--nodes N] [--txs N] [--instruction-bytes B] [--repeat K] [--json]\n"
			    "  --repeat: K runs on fresh devnets; the run with the median txs/s is reported, with all K";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && has) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--txs") && has) txs = atol(argv[++i]);
		else if (!strcmp(a, "--instruction-bytes") && has) ib = atol(argv[++i]);
		else if (!strcmp(a, "--repeat") && has) repeat = atoi(argv[++i]);
		else return cli_usage(usage);
	}
	if (nodes < 2 || nodes > 16 || txs < 1 || txs > 5000000 || ib < 0 || ib > 4096 || repeat < 1 ||
	    repeat > 9)
		return cli_usage(usage);
	if (nodes == 2) {
		cli_fail("with 2 nodes the other one cannot commit alone; use 1 or at least 4");
		return 2;
	}
	char err[512];
	json_t *all[9], *pick = NULL;
	int n = 0;
	for (; n < repeat; n++) {
		all[n] = catchup_once(nodes, txs, ib, err, sizeof(err));
		if (!all[n]) {
			cli_fail("%s", err);
			while (n > 0)
				json_decref(all[--n]);
			return 1;
		}
		if (!json_is_true(json_object_get(all[n], "caught_up"))) {
			pick = all[n++];   /* a run that did not catch up is the result */
			break;
		}
	}
	json_t *runs = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(runs, json_pack("{s:o,s:o,s:o,s:o}", "txs_per_s", bench_jnum(jnum(all[i], "txs_per_s")),
						  "transfer_txs_per_s", bench_jnum(jnum(all[i], "transfer_txs_per_s")),
						  "catchup_s", bench_jnum(jnum(all[i], "catchup_s")),
						  "first_block_s", bench_jnum(jnum(all[i], "first_block_s"))));
	if (!pick) {
		json_t *sorted[9];
		memcpy(sorted, all, sizeof(json_t *) * (size_t)n);
		qsort(sorted, (size_t)n, sizeof(sorted[0]), by_rate);
		pick = sorted[n / 2];
		json_object_set_new(pick, "txs_per_s_min", bench_jnum(jnum(sorted[0], "txs_per_s")));
		json_object_set_new(pick, "txs_per_s_max", bench_jnum(jnum(sorted[n - 1], "txs_per_s")));
	}
	json_object_set_new(pick, "repeat", json_integer(n));
	json_object_set(pick, "runs", runs);
	if (json) {
		bench_print_json(json_incref(pick));
	} else {
		for (int i = 0; i < n; i++) {
			json_t *o = all[i];
			if (!json_is_true(json_object_get(o, "caught_up"))) {
				size_t k;
				json_t *v;
				printf("node %d did NOT catch up: height %lld of %lld after %.0f s (no progress for %d s)\n",
				       nodes - 1, (long long)jnum(o, "height_reached"), (long long)jnum(o, "target_height"),
				       jnum(o, "gave_up_after_s"), CATCHUP_STALL_S);
				json_array_foreach(json_object_get(o, "node_warnings"), k, v)
					printf("  %s\n", json_string_value(v));
				continue;
			}
			printf("node %d missed %.0f txs in %.0f blocks (committed by the others at %.0f tx/s)\n", nodes - 1,
			       jnum(o, "missed_txs"), jnum(o, "missed_blocks"), jnum(o, "load_tx_per_s"));
			printf("caught up in %.2f s from its start (API up after %.2f s, first block after %.2f s): "
			       "%.0f blocks/s, %.0f txs/s\n", jnum(o, "catchup_s"), jnum(o, "start_s"), jnum(o, "first_block_s"),
			       jnum(o, "blocks_per_s"), jnum(o, "txs_per_s"));
			printf("from the first fetched block on: %.2f s, %.0f txs/s\n", jnum(o, "transfer_s"),
			       jnum(o, "transfer_txs_per_s"));
		}
		if (n > 1 && json_is_true(json_object_get(pick, "caught_up")))
			printf("median of %d runs: %.0f txs/s (%.0f - %.0f)\n", n, jnum(pick, "txs_per_s"),
			       jnum(pick, "txs_per_s_min"), jnum(pick, "txs_per_s_max"));
	}
	json_decref(runs);
	for (int i = 0; i < n; i++)
		json_decref(all[i]);
	return 0;
}
