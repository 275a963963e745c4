/*
 * bench_overload.c — a load above capacity, beyond the paper:
 *
 *   bsec bench overload [--nodes 4] [--factor 2] [--seconds 10] [--orchestrators] [--json]
 *
 * Two fresh devnets of n nodes, one with admission control (the nodes'
 * default backlog_ms, docs/operations.md "Overload") and one without
 * (backlog_ms 0: every valid tx is taken until mempool_max).  On the first
 * the capacity is measured (an unpaced run of up to 6 s: committed tx/s
 * with the load generator's window of accepted txs); then each devnet is offered
 * factor x that capacity, open loop, for --seconds, every tx timed to its
 * commit.  Reported for each: the goodput (commits/s at the watched node
 * while offering) and its ratio to the capacity, the txs refused (the
 * generator offers them again, as a client honouring 503 would), view
 * changes, accepted txs that were never committed (lost), and the latency
 * of the committed ones.
 */
#include "cli.h"
#include "bench.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets "backlog_ms" in every node config of dir.  0 / -1. */
static int set_backlog(const char *dir, int nodes, long ms, char *err, size_t errlen)
{
	for (int i = 0; i < nodes; i++) {
		char *path = xasprintf("%s/node%d/config.json", dir, i);
		json_error_t je;
		json_t *c = json_load_file(path, 0, &je);
		int bad = !c || json_object_set_new(c, "backlog_ms", json_integer(ms)) < 0 ||
			  json_dump_file(c, path, JSON_INDENT(2)) < 0;
		json_decref(c);
		if (bad) {
			err_set(err, errlen, "cannot set backlog_ms in %s", path);
			free(path);
			return -1;
		}
		free(path);
	}
	return 0;
}

/* One devnet: up (admission on or off), optionally measure its capacity
 * (*capacity set), then offer rate (or factor x the capacity just
 * measured when rate is 0) for seconds.  The run's JSON in *out. */
static int one(int nodes, int admission, int orchestrators, double *capacity, double factor, double seconds,
	       json_t **out, char *err, size_t errlen)
{
	bench_net_t b;
	bench_run_t C, R;
	int ret = -1;
	memset(&C, 0, sizeof(C));
	memset(&R, 0, sizeof(R));
	*out = NULL;
	if (bench_net_create(&b, nodes, "ed25519", "sim", 0, err, errlen) < 0)
		return -1;
	if ((!admission && set_backlog(b.dir, nodes, 0, err, errlen) < 0) ||
	    bench_net_up(&b, orchestrators, err, errlen) < 0)
		goto out;
	if (*capacity <= 0) {
		C.dir = b.dir;
		C.count = 400000;
		C.seconds = seconds < 6 ? seconds : 6;
		C.ibytes = 64;
		C.threads = 4;
		if (bench_run(&C) < 0) {
			err_set(err, errlen, "capacity run: %s", C.error);
			goto out;
		}
		*capacity = C.tx_per_s;
	}
	R.dir = b.dir;
	R.rate = factor * *capacity;
	R.seconds = seconds;
	R.count = (size_t)(R.rate * seconds) + 1;
	R.ibytes = 64;
	R.threads = 8;
	R.latency = 1;
	R.drain_s = 120;
	if (bench_run(&R) < 0) {
		err_set(err, errlen, "overload run: %s", R.error);
		goto out;
	}
	json_t *o = bench_run_json(&R, 0);
	double good = R.tx_per_s_steady > 0 ? R.tx_per_s_steady : R.tx_per_s_overall;
	json_object_set_new(o, "admission_control", json_boolean(admission));
	json_object_set_new(o, "goodput_tx_s", bench_jnum(good));
	json_object_set_new(o, "goodput_ratio", bench_jnum(good / *capacity));
	json_object_set_new(o, "lost", json_integer((json_int_t)(R.submitted - R.committed)));
	*out = o;
	ret = 0;
out:
	bench_run_free(&C);
	bench_run_free(&R);
	bench_net_destroy(&b);
	return ret;
}

int bench_overload_main(int argc, char **argv)
{
	int nodes = 4, json = 0, orch = 0;
	double factor = 2, seconds = 10;
	const char *usage = "bsec bench overload [--nodes N] [--factor F] [--seconds S] [--orchestrators] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--orchestrators")) orch = 1;
		else if (!strcmp(a, "--nodes") && has) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--factor") && has) factor = atof(argv[++i]);
		else if (!strcmp(a, "--seconds") && has) seconds = atof(argv[++i]);
		else return cli_usage(usage);
	}
	if (nodes < 1 || nodes > 16 || !(factor >= 1 && factor <= 10) || !(seconds >= 2 && seconds <= 120))
		return cli_usage(usage);
	char err[700];
	double cap = 0;
	json_t *with = NULL, *without = NULL;
	if (one(nodes, 1, orch, &cap, factor, seconds, &with, err, sizeof(err)) < 0 ||
	    one(nodes, 0, orch, &cap, factor, seconds, &without, err, sizeof(err)) < 0) {
		json_decref(with);
		cli_fail("%s", err);
		return 1;
	}
	json_t *o = json_pack("{s:i,s:f,s:f,s:b,s:o,s:o,s:o,s:o}", "nodes", nodes, "factor", factor, "seconds",
			      seconds, "orchestrators", orch, "capacity_tx_s", bench_jnum(cap), "offered_tx_s",
			      bench_jnum(factor * cap), "with_admission", with, "without_admission", without);
	if (json) {
		bench_print_json(o);
		return 0;
	}
	printf("capacity (unpaced, with admission control): %.0f tx/s; offered %.0f tx/s (x%.1f) for %.0f s\n",
	       cap, factor * cap, factor, seconds);
	const char *names[] = { "with admission control", "without" };
	json_t *runs[] = { with, without };
	for (int k = 0; k < 2; k++) {
		json_t *r = runs[k], *lat = json_object_get(r, "latency_ms");
		printf("%-24s goodput %6.0f tx/s (%.2f x capacity), refused %lld, view changes %lld, lost %lld, "
		       "latency p50 %.0f ms p99 %.0f ms\n",
		       names[k], json_number_value(json_object_get(r, "goodput_tx_s")),
		       json_number_value(json_object_get(r, "goodput_ratio")),
		       (long long)json_integer_value(json_object_get(r, "refused_mempool_full")),
		       (long long)json_integer_value(json_object_get(r, "view_changes")),
		       (long long)json_integer_value(json_object_get(r, "lost")),
		       json_number_value(json_object_get(lat, "p50")), json_number_value(json_object_get(lat, "p99")));
	}
	json_decref(o);
	return 0;
}
