/*
 * bench_growth.c — `bsec bench growth`: how fast each node's ledger grows
 * on disk at a constant offered rate, against the instruction size (the
 * paper's Fig. 6(d): about 100 kB/s per participant at 100 tx/s up to
 * 64-byte instructions).
 *
 * One fresh devnet (no orchestrators: requests stay unanswered, as in the
 * paper's experiment that issued request txs only).  A warm-up at the
 * rate first lets SQLite's write-ahead log reach its working size (it
 * grows to the auto-checkpoint threshold and is then reused, never
 * shrunk), so that the WAL filling up is not counted as chain growth.
 * Then, per instruction size, txs are offered open-loop at --rate for
 * --seconds while a sampler stats DIR/nodeI/ledger.db + ledger.db-wal
 * every 250 ms; the growth rate of a node is the least-squares slope of
 * that sum over the phase.  Beside it: the bytes the chain itself adds
 * (signed block headers, certificates and txs, read back from node 0's
 * ledger with the auditor's raw scan), so the difference is what the
 * indexes and derived state cost.
 *
 *   --nodes N (4)  --rate R (100)  --instruction-bytes 16,32,…  --seconds S (20)
 *   --warmup S (10)  --json
 */
#include "cli.h"
#include "bench.h"
#include "devnet.h"
#include "../ledger/store.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LIST 16
#define SAMPLE_MS 250
#define MAX_NODES 32

typedef struct {
	const char *dir;
	int nodes;
	atomic_int stop;
	uint64_t t0_us;
	size_t n, cap;
	double *t;                   /* s since t0 */
	double *bytes;               /* n x nodes: db + wal of node i */
} sampler_t;

static double file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (double)st.st_size : 0;
}

static double ledger_bytes(const char *dir, int i)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/node%d/ledger.db", dir, i);
	double s = file_size(p);
	snprintf(p, sizeof(p), "%s/node%d/ledger.db-wal", dir, i);
	return s + file_size(p);
}

static void *sampler_thread(void *arg)
{
	sampler_t *S = arg;
	while (!atomic_load(&S->stop)) {
		if (S->n == S->cap) {
			S->cap = S->cap ? 2 * S->cap : 256;
			S->t = xrealloc(S->t, S->cap * sizeof(double));
			S->bytes = xrealloc(S->bytes, S->cap * (size_t)S->nodes * sizeof(double));
		}
		S->t[S->n] = (double)(mono_us() - S->t0_us) / 1e6;
		for (int i = 0; i < S->nodes; i++)
			S->bytes[S->n * (size_t)S->nodes + (size_t)i] = ledger_bytes(S->dir, i);
		S->n++;
		usleep(SAMPLE_MS * 1000);
	}
	return NULL;
}

/* Bytes of the chain itself (headers, certificates, signed txs) in
 * heights (h0, h1] of the ledger in DIR/node0; -1 when unreadable. */
static double chain_bytes(const char *dir, uint64_t h0, uint64_t h1)
{
	char err[256];
	store_scan_t *sc = NULL;
	char *nd = xasprintf("%s/node0", dir), *gp = xasprintf("%s/genesis.json", nd);
	double sum = -1;
	genesis_t g;
	int have_g = genesis_load(&g, gp, err, sizeof(err)) == 0;
	if (!have_g || store_scan_open(&sc, nd, &g, err, sizeof(err)) < 0)
		goto out;
	store_scan_block_t blk;
	sum = 0;
	int r;
	while ((r = store_scan_next(sc, &blk, err, sizeof(err))) == 0) {
		if (blk.height <= h0 || blk.height > h1)
			continue;
		sum += (double)(blk.header_len + blk.cert_len);
		for (size_t i = 0; i < blk.n_txs; i++)
			sum += (double)blk.txs[i].len;
	}
	if (r < 0)
		sum = -1;
out:
	store_scan_close(sc);
	if (have_g)
		genesis_free(&g);
	free(gp);
	free(nd);
	return sum;
}

/* One phase: offer at rate for secs while sampling; fills the node rates
 * (bytes/s) and returns the run's results in *R (caller frees). */
static int phase(const char *dir, int nodes, double rate, size_t ib, double secs, double *node_bps, bench_run_t *R)
{
	sampler_t S;
	memset(&S, 0, sizeof(S));
	S.dir = dir;
	S.nodes = nodes;
	S.t0_us = mono_us();
	pthread_t th;
	int have = pthread_create(&th, NULL, sampler_thread, &S) == 0;
	memset(R, 0, sizeof(*R));
	R->dir = dir;
	R->rate = rate;
	R->seconds = secs;
	R->count = (size_t)(rate * secs) + 1;
	R->threads = 2;
	R->ibytes = ib;
	R->drain_s = 30;
	int r = bench_run(R);
	if (have) {
		atomic_store(&S.stop, 1);
		pthread_join(th, NULL);
	}
	/* the run's offering window, as seen by the sampler's clock */
	double lo = R->sign_s, hi = R->sign_s + R->offer_s;
	double *x = xcalloc(S.n + 1, sizeof(double)), *y = xcalloc(S.n + 1, sizeof(double));
	for (int i = 0; i < nodes; i++) {
		size_t k = 0;
		for (size_t j = 0; j < S.n; j++)
			if (S.t[j] >= lo && S.t[j] <= hi) {
				x[k] = S.t[j];
				y[k++] = S.bytes[j * (size_t)nodes + (size_t)i];
			}
		node_bps[i] = bench_slope(x, y, k);
	}
	free(x);
	free(y);
	free(S.t);
	free(S.bytes);
	return r;
}

int bench_growth_main(int argc, char **argv)
{
	int nodes = 4, json = 0, ret = 1;
	double rate = 100, secs = 20, warm = 10;
	const char *sizes_s = "16,32,64,128,256,512,1024";
	long sizes[MAX_LIST];
	const char *usage = "bsec bench growth [--nodes N] [--rate R] [--instruction-bytes 16,32,…] [--seconds S]\n"
			    "                  [--warmup S] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && has) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--rate") && has) rate = atof(argv[++i]);
		else if (!strcmp(a, "--seconds") && has) secs = atof(argv[++i]);
		else if (!strcmp(a, "--warmup") && has) warm = atof(argv[++i]);
		else if (!strcmp(a, "--instruction-bytes") && has) sizes_s = argv[++i];
		else return cli_usage(usage);
	}
	int ns = bench_parse_list(sizes_s, sizes, MAX_LIST, 0, TX_MAX_INSTRUCTION);
	if (ns < 0 || nodes < 1 || nodes > MAX_NODES || !(rate > 0) || rate > 100000 || !(secs >= 1) || secs > 3600 ||
	    warm < 0 || warm > 600)
		return cli_usage(usage);
	bench_net_t b;
	char err[512];
	json_t *points = json_array();
	if (bench_net_create(&b, nodes, "ed25519", "sim", 0, err, sizeof(err)) < 0 ||
	    bench_net_up(&b, 0, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	double bps[MAX_NODES];
	bench_run_t R;
	if (warm > 0) {
		if (phase(b.dir, nodes, rate, (size_t)sizes[0], warm, bps, &R) < 0) {
			cli_fail("warm-up: %s", R.error);
			bench_run_free(&R);
			goto out;
		}
		bench_run_free(&R);
	}
	if (!json)
		printf("n=%d, %.0f tx/s offered, %.0f s per size (after a %.0f s warm-up); growth of ledger.db + -wal\n",
		       nodes, rate, secs, warm);
	for (int s = 0; s < ns; s++) {
		if (phase(b.dir, nodes, rate, (size_t)sizes[s], secs, bps, &R) < 0) {
			cli_fail("%ld B: %s", sizes[s], R.error);
			bench_run_free(&R);
			goto out;
		}
		double sum = 0, mx = 0;
		json_t *per = json_array();
		for (int i = 0; i < nodes; i++) {
			sum += bps[i];
			if (bps[i] > mx)
				mx = bps[i];
			json_array_append_new(per, bench_jnum(bps[i]));
		}
		double mean = sum / nodes;
		double blocks_s = (double)(R.h1 - R.h0) / R.elapsed_s;
		double cb = chain_bytes(b.dir, R.h0, R.h1);
		double chain_bps = cb >= 0 ? cb / R.elapsed_s : NAN;
		json_t *o = json_object();
		json_object_set_new(o, "instruction_bytes", json_integer(sizes[s]));
		json_object_set_new(o, "avg_tx_bytes", json_integer((json_int_t)R.avg_tx_bytes));
		json_object_set_new(o, "rate", bench_jnum(rate));
		json_object_set_new(o, "committed_per_s", bench_jnum(R.tx_per_s));
		json_object_set_new(o, "blocks_per_s", bench_jnum(blocks_s));
		json_object_set_new(o, "txs_per_block", bench_jnum(R.blk_mean));
		json_object_set_new(o, "growth_bytes_per_s_mean", bench_jnum(mean));
		json_object_set_new(o, "growth_bytes_per_s_max", bench_jnum(mx));
		json_object_set_new(o, "growth_bytes_per_s_per_node", per);
		json_object_set_new(o, "chain_bytes_per_s", bench_jnum(chain_bps));
		json_object_set_new(o, "disk_bytes_per_tx", bench_jnum(mean / R.tx_per_s));
		json_object_set_new(o, "chain_bytes_per_tx", bench_jnum(chain_bps / R.tx_per_s));
		json_array_append_new(points, o);
		if (!json)
			printf("%4ld B (%4zu-B txs): %6.1f kB/s per node on disk (max %.1f), chain data %.1f kB/s; "
			       "%.0f blocks/s, %.1f txs/block, %.0f disk B/tx\n", sizes[s], R.avg_tx_bytes, mean / 1000,
			       mx / 1000, chain_bps / 1000, blocks_s, R.blk_mean, mean / R.tx_per_s);
		bench_run_free(&R);
	}
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "nodes", json_integer(nodes));
		json_object_set_new(o, "rate", bench_jnum(rate));
		json_object_set_new(o, "seconds", bench_jnum(secs));
		json_object_set_new(o, "warmup_s", bench_jnum(warm));
		json_object_set_new(o, "points", json_incref(points));
		json_object_set_new(o, "paper_bytes_per_s", bench_jnum(PAPER_GROWTH_BPS));
		bench_print_json(o);
	} else {
		printf("paper: about %.0f kB/s per participant up to 64-byte instructions\n", PAPER_GROWTH_BPS / 1000);
	}
	ret = 0;
out:
	json_decref(points);
	bench_net_destroy(&b);
	return ret;
}
