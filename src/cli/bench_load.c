/*
 * bench_load.c — the load generator every system benchmark is built on
 * (bench_run, see bench.h), and two parts on top of it:
 *
 *   bsec bench load --dir D --count N [--rate R] [--seconds S] [--threads T]
 *                   [--instruction-bytes B] [--wait] [--cdf] [--json]
 *     offers N pre-signed requests to a running devnet; --wait (or --cdf)
 *     times every tx from submission to commit.
 *   bsec bench throughput --nodes 1,4,7,10 --instruction-bytes 16,64,… [--scheme S]
 *                   [--seconds S] [--rate 100,1000,sat] [--latency-bytes B] [--json]
 *     for each n a fresh devnet; per instruction size a saturation run
 *     (committed tx/s, CPU per tx per replica, txs per block, who was the
 *     bottleneck); then latency runs at the offered rates ("sat" = the
 *     committed rate just measured at --latency-bytes) with their CDFs.
 *
 * The generator pre-signs every tx before the clock starts (on all cores)
 * and then only posts bytes, in batches of up to 64 per request over
 * keep-alive connections spread across the target nodes.  Paced runs are
 * open loop: tx i is due at t0 + i/rate whatever happened to tx i-1, and
 * the lag behind that schedule is reported.  Latency is measured by a
 * watcher that long-polls one node for committed blocks (GET
 * /v1/blocks?from=H&wait=MS): tx i's latency is from the start of the
 * POST that carried it to the watcher's receipt of its block, so it
 * includes admission, gossip, consensus, the fsync of the block and the
 * API's answer.
 *
 * Unpaced runs keep at most a window of accepted-but-uncommitted txs in
 * the system (16 384 by default: eight full blocks), opened gradually —
 * 2 048 at first, then two more for every tx committed — so that a run
 * starts the way a growing load would, not with one burst of the whole
 * window that every node must admit, verify and gossip before consensus
 * gets a turn.
 *
 * Who set the pace: a run is system-bound when a pool refused txs or,
 * when offering stopped, more than 10 % of what was accepted was still
 * uncommitted — the nodes took txs faster than they could commit them.
 * Otherwise the nodes kept up with whatever was offered and the generator
 * (or the API's admission, which it cannot tell apart from itself) set the
 * pace; the generator's own CPU time is reported so the reader can judge.
 */
#include "cli.h"
#include "bench.h"
#include "devnet.h"
#include "../ledger/tx.h"
#include "../lib/buf.h"
#include "../lib/https.h"
#include "../lib/map.h"
#include "../lib/sig.h"
#include "../lib/workers.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- instructions of a chosen size ---- */

/* Writes a grammatical instruction creating object `name', as close to
 * `target' bytes as the grammar allows (never shorter than the minimum). */
static void make_instruction(char *out, size_t cap, size_t target, const char *name)
{
	size_t n = (size_t)snprintf(out, cap, "vm create %s", name);
	if (target <= n)
		return;
	if (target <= n + 10 + 64 + 11 + 64) {
		/* pad with --image and --flavor values */
		size_t left = target - n;
		size_t img = left > 10 ? left - 9 : 1;
		if (img > 64)
			img = 64;
		n += (size_t)snprintf(out + n, cap - n, " --image ");
		for (size_t i = 0; i < img && n + 1 < cap; i++)
			out[n++] = 'i';
		out[n] = 0;
		if (target > n + 10) {
			size_t fl = target - n - 10;
			n += (size_t)snprintf(out + n, cap - n, " --flavor ");
			for (size_t i = 0; i < fl && i < 64 && n + 1 < cap; i++)
				out[n++] = 'f';
			out[n] = 0;
		}
		return;
	}
	/* larger: a forwarder VNF with config values */
	n = (size_t)snprintf(out, cap, "vnf create %s --type forwarder", name);
	for (int k = 0; k < 32 && n + 14 < target; k++) {
		size_t v = target - n - 13;
		if (v > 128)
			v = 128;
		n += (size_t)snprintf(out + n, cap - n, " --config k%02d=", k);
		for (size_t i = 0; i < v && n + 1 < cap; i++)
			out[n++] = 'v';
		out[n] = 0;
	}
}

/* ---- pre-signing ---- */

typedef struct {
	const sig_key_t *key;
	const uint8_t *chain_id;
	size_t ibytes;
	uint32_t run;
	const char *domain;
	tx_t *txs;
} sign_job_t;

static void sign_one(void *ctx, size_t i)
{
	sign_job_t *j = ctx;
	char name[40], ins[TX_MAX_INSTRUCTION + 1];
	snprintf(name, sizeof(name), "b%06x-%zx", j->run & 0xffffff, i);
	make_instruction(ins, sizeof(ins), j->ibytes, name);
	tx_fields_t f = { .type = TX_REQUEST, .domain = j->domain, .instruction = ins,
			  .nonce = (uint32_t)(i + 1) };
	if (tx_build(&j->txs[i], &f, j->key, j->chain_id, NULL, 0) != 0)
		memset(&j->txs[i], 0, sizeof(tx_t));
}

/* ---- the generator ---- */

#define LOAD_BATCH 64
#define MONITOR_MS 50
#define DEFAULT_WINDOW 16384
#define RAMP_START 2048

typedef struct {
	bench_run_t *R;
	char **urls;                 /* per target */
	size_t nurls;
	const char *watch_url;
	https_trust_t trust;
	tx_t *txs;
	size_t count;
	pthread_mutex_t lock;        /* guards next */
	size_t next;
	uint64_t t0_us, deadline_us;
	uint64_t *send_us;           /* first POST of tx i; 0 = never sent */
	uint64_t *commit_us;         /* watcher: its block seen; 0 = not yet */
	double *lag_ms;              /* paced: how late tx i was posted; -1 = not */
	atomic_size_t submitted, refused_full, refused_other, errors, matched;
	atomic_int offering_done, watch_stop;
	map_t *ids;                  /* tx id -> index + 1 (read-only while running) */
	uint64_t h_watch;            /* first height the watcher asks for */
	long long c0;                /* committed_txs of the watched node before */
	atomic_llong committed_now;  /* monitor: committed_txs - c0, last seen */
	atomic_int monitor_stop;
	size_t window;               /* unpaced: most txs accepted but not yet committed */
	double *sample_t, *sample_c; /* monitor: (s since t0, committed) every MONITOR_MS */
	double *sample_cpu;          /* monitor: CPU seconds of all nodes then (NAN: unknown) */
	size_t nsamples, cap_samples;
	pid_t *pids;                 /* the nodes */
	size_t npids;
	char last_error[300];
} gen_t;

static void note_error(gen_t *G, const char *fmt, const char *detail)
{
	pthread_mutex_lock(&G->lock);
	snprintf(G->last_error, sizeof(G->last_error), fmt, detail);
	pthread_mutex_unlock(&G->lock);
}

static uint64_t due_us(const gen_t *G, size_t i)
{
	return G->R->rate > 0 ? G->t0_us + (uint64_t)((double)i * 1e6 / G->R->rate) : 0;
}

/* Claims up to `room' txs that are due now into out[]; returns how many.
 * When none is due, *wait_us says how long until the next one is
 * (0 when every tx has been claimed). */
static size_t claim_due(gen_t *G, size_t *out, size_t room, uint64_t *wait_us)
{
	size_t k = 0;
	uint64_t now = mono_us();
	*wait_us = 0;
	pthread_mutex_lock(&G->lock);
	while (k < room && G->next < G->count) {
		uint64_t due = due_us(G, G->next);
		if (due > now) {
			if (!k)
				*wait_us = due - now;
			break;
		}
		size_t i = G->next++;
		if (!G->txs[i].raw) {
			atomic_fetch_add(&G->errors, 1);
			continue;
		}
		if (G->lag_ms)
			G->lag_ms[i] = (double)(now - due) / 1000.0;
		out[k++] = i;
	}
	pthread_mutex_unlock(&G->lock);
	return k;
}

typedef struct {
	gen_t *G;
	int idx;
} worker_arg_t;

static int offering_over(const gen_t *G)
{
	if (G->deadline_us && mono_us() >= G->deadline_us)
		return 1;
	return G->R->abort_flag && *G->R->abort_flag;
}

/* One submitting connection: claim due txs, POST them as a batch, offer
 * pool-full refusals again with the next batch. */
static void *submit_thread(void *arg)
{
	worker_arg_t *wa = arg;
	gen_t *G = wa->G;
	char err[256];
	https_client_t *c = https_client_new(G->urls[(size_t)wa->idx % G->nurls], &G->trust, 15000, err, sizeof(err));
	if (!c) {
		note_error(G, "%s", err);
		return NULL;
	}
	buf_t b;
	buf_init(&b);
	size_t pending[LOAD_BATCH], np = 0;
	int failures = 0;
	for (;;) {
		if (offering_over(G))
			break;
		uint64_t wait = 0;
		if (G->window && !np) {
			/* enough is queued to keep the pipeline full?  The window opens
			 * gradually (RAMP_START, then two more per tx committed) so that
			 * the run does not begin with one burst of the whole window */
			long long done = atomic_load(&G->committed_now);
			long long win = RAMP_START + 2 * (done > 0 ? done : 0);
			if (win > (long long)G->window)
				win = (long long)G->window;
			if ((long long)atomic_load(&G->submitted) - done > win) {
				usleep(1000);
				continue;
			}
		}
		if (np < LOAD_BATCH)
			np += claim_due(G, pending + np, LOAD_BATCH - np, &wait);
		if (!np) {
			if (!wait)
				break; /* everything claimed */
			usleep((useconds_t)(wait < 2000 ? wait : 2000));
			continue;
		}
		buf_reset(&b);
		uint64_t start = mono_us();
		for (size_t k = 0; k < np; k++) {
			buf_blob32(&b, G->txs[pending[k]].raw, G->txs[pending[k]].raw_len);
			if (!G->send_us[pending[k]])
				G->send_us[pending[k]] = start;
		}
		int status;
		uint8_t *resp = NULL;
		size_t rl;
		if (https_client_request(c, "POST", "/v1/transactions/batch", "application/octet-stream", b.data,
					 b.len, &status, &resp, &rl, err, sizeof(err)) < 0 || status != 200) {
			atomic_fetch_add(&G->errors, 1);
			note_error(G, "%s", resp ? (char *)resp : err);
			free(resp);
			if (++failures >= 100)
				break; /* this node has not taken a batch for 2 s: give up on it */
			usleep(20000);
			continue;
		}
		failures = 0;
		json_t *o = json_loads((char *)resp, 0, NULL);
		free(resp);
		size_t keep = 0, acc = np, again[LOAD_BATCH];
		json_t *ref = json_object_get(o, "refused"), *e;
		size_t ri;
		json_array_foreach(ref, ri, e) {
			size_t idx = (size_t)json_integer_value(json_object_get(e, "index"));
			const char *code = json_string_value(json_object_get(e, "error"));
			if (idx >= np)
				continue;
			acc--;
			if (code && !strcmp(code, "mempool_full")) {
				again[keep++] = pending[idx];
			} else {
				atomic_fetch_add(&G->refused_other, 1);
				note_error(G, "%s", json_string_value(json_object_get(e, "message")));
			}
		}
		json_decref(o);
		atomic_fetch_add(&G->submitted, acc);
		if (keep) {
			atomic_fetch_add(&G->refused_full, keep);
			memcpy(pending, again, keep * sizeof(size_t));
			usleep(2000);
		}
		np = keep;
	}
	buf_free(&b);
	https_client_free(c);
	return NULL;
}

/* Long-polls the watched node for committed blocks and stamps our txs. */
static void *watch_thread(void *arg)
{
	gen_t *G = arg;
	char err[256], path[128];
	https_client_t *c = https_client_new(G->watch_url, &G->trust, 20000, err, sizeof(err));
	if (!c) {
		note_error(G, "watcher: %s", err);
		return NULL;
	}
	uint64_t h = G->h_watch;
	while (!atomic_load(&G->watch_stop)) {
		snprintf(path, sizeof(path), "/v1/blocks?from=%llu&limit=100&wait=200", (unsigned long long)h);
		int status;
		uint8_t *resp = NULL;
		size_t rl;
		if (https_client_request(c, "GET", path, NULL, NULL, 0, &status, &resp, &rl, err, sizeof(err)) < 0 ||
		    status != 200) {
			free(resp);
			usleep(20000);
			continue;
		}
		uint64_t now = mono_us();
		json_t *o = json_loads((char *)resp, 0, NULL);
		free(resp);
		json_t *blocks = json_object_get(o, "blocks"), *blk;
		size_t bi;
		json_array_foreach(blocks, bi, blk) {
			json_t *ids = json_object_get(blk, "tx_ids"), *id;
			size_t ii;
			json_array_foreach(ids, ii, id) {
				uint8_t raw[BSEC_HASH_BYTES];
				const char *hx = json_string_value(id);
				if (!hx || hex_decode(raw, sizeof(raw), hx) < 0)
					continue;
				uintptr_t v = (uintptr_t)map_get(G->ids, raw, sizeof(raw));
				if (v && !G->commit_us[v - 1]) {
					G->commit_us[v - 1] = now;
					atomic_fetch_add(&G->matched, 1);
				}
			}
			uint64_t bh = (uint64_t)json_integer_value(json_object_get(blk, "height"));
			if (bh >= h)
				h = bh + 1;
		}
		json_decref(o);
	}
	https_client_free(c);
	return NULL;
}

/* Polls the watched node's committed_txs every MONITOR_MS (the
 * generator's window and the steady-state rate use it). */
static void *monitor_thread(void *arg)
{
	gen_t *G = arg;
	char err[256];
	https_client_t *c = https_client_new(G->watch_url, &G->trust, 5000, err, sizeof(err));
	if (!c)
		return NULL;
	while (!atomic_load(&G->monitor_stop)) {
		int status;
		uint8_t *resp = NULL;
		size_t rl;
		uint64_t now = mono_us();
		if (https_client_request(c, "GET", "/v1/status", NULL, NULL, 0, &status, &resp, &rl, err,
					 sizeof(err)) == 0 && status == 200) {
			json_t *o = json_loads((char *)resp, 0, NULL);
			json_t *v = json_object_get(o, "committed_txs");
			if (json_is_integer(v)) {
				long long d = json_integer_value(v) - G->c0;
				atomic_store(&G->committed_now, d);
				if (G->nsamples == G->cap_samples) {
					G->cap_samples = G->cap_samples ? 2 * G->cap_samples : 1024;
					G->sample_t = xrealloc(G->sample_t, G->cap_samples * sizeof(double));
					G->sample_c = xrealloc(G->sample_c, G->cap_samples * sizeof(double));
					G->sample_cpu = xrealloc(G->sample_cpu, G->cap_samples * sizeof(double));
				}
				double cpu = 0;
				for (size_t i = 0; i < G->npids; i++) {
					double c1 = bench_proc_cpu_s(G->pids[i]);
					cpu = c1 < 0 || isnan(cpu) ? NAN : cpu + c1;
				}
				G->sample_t[G->nsamples] = (double)(now - G->t0_us) / 1e6;
				G->sample_cpu[G->nsamples] = cpu;
				G->sample_c[G->nsamples++] = (double)d;
			}
			json_decref(o);
		}
		free(resp);
		/* while offering, sample gently; while draining, finely (the end time counts) */
		uint64_t period = atomic_load(&G->offering_done) ? 5000 : MONITOR_MS * 1000;
		uint64_t spent = mono_us() - now;
		if (spent < period)
			usleep((useconds_t)(period - spent));
	}
	https_client_free(c);
	return NULL;
}

/* When the watched node had committed a first real share of the load
 * (64 txs or 2 % of what was submitted, whichever is more): the end of
 * the start-up.  NAN when never. */
static double first_commit_s(const gen_t *G, size_t submitted)
{
	double need = 0.02 * (double)submitted;
	if (need < 64)
		need = 64;
	for (size_t i = 0; i < G->nsamples; i++)
		if (G->sample_c[i] >= need)
			return G->sample_t[i];
	return NAN;
}

/* Commits per second at the watched node while offering went on, after
 * the start-up (from a quarter of the offering window, or the end of the
 * start-up if later, to the end of offering), from the monitor's
 * samples.  NAN when that leaves less than half a second or fewer than
 * three commits; *window_s says how long it was. */
static double steady_rate(const gen_t *G, double offer_s, double start_s, double *window_s, double *cpu_per_tx)
{
	double t_a = 0.25 * offer_s;
	size_t a = SIZE_MAX, b = SIZE_MAX;
	*window_s = 0;
	*cpu_per_tx = NAN;
	if (isfinite(start_s) && start_s > t_a)
		t_a = start_s;
	for (size_t i = 0; i < G->nsamples; i++) {
		if (a == SIZE_MAX && G->sample_t[i] >= t_a)
			a = i;
		if (G->sample_t[i] <= offer_s)
			b = i;
	}
	if (a == SIZE_MAX || b == SIZE_MAX || b <= a)
		return NAN;
	*window_s = G->sample_t[b] - G->sample_t[a];
	/* commits come a block at a time: a window that saw fewer than three
	 * of them says little about the rate */
	int steps = 0;
	for (size_t i = a + 1; i <= b; i++)
		steps += G->sample_c[i] > G->sample_c[i - 1];
	if (*window_s < 0.5 || steps < 3)
		return NAN;
	double dc = G->sample_c[b] - G->sample_c[a];
	if (dc > 0 && G->npids && isfinite(G->sample_cpu[a]) && isfinite(G->sample_cpu[b]))
		*cpu_per_tx = (G->sample_cpu[b] - G->sample_cpu[a]) / (double)G->npids / dc;
	return dc / *window_s;
}

/* CPU seconds the whole machine has been busy (all cores), from /proc/stat. */
static double machine_busy_s(void)
{
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[8] = { 0 };
	if (!f)
		return NAN;
	int k = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		       &v[6], &v[7]);
	fclose(f);
	if (k < 5)
		return NAN;
	unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* Mean and max txs per block over heights (h0, h1] of node url; only
 * reads when there are at most 3000 blocks. */
static void block_stats(const char *url, const https_trust_t *trust, uint64_t h0, uint64_t h1, double *mean,
			double *max)
{
	char err[256];
	*mean = *max = NAN;
	if (h1 <= h0 || h1 - h0 > 3000)
		return;
	https_client_t *c = https_client_new(url, trust, 20000, err, sizeof(err));
	if (!c)
		return;
	double sum = 0, mx = 0;
	size_t nb = 0;
	for (uint64_t h = h0 + 1; h <= h1;) {
		char path[96];
		snprintf(path, sizeof(path), "/v1/blocks?from=%llu&limit=100", (unsigned long long)h);
		int status;
		uint8_t *resp = NULL;
		size_t rl;
		if (https_client_request(c, "GET", path, NULL, NULL, 0, &status, &resp, &rl, err, sizeof(err)) < 0 ||
		    status != 200) {
			free(resp);
			break;
		}
		json_t *o = json_loads((char *)resp, 0, NULL), *blk;
		free(resp);
		size_t bi, got = 0;
		json_array_foreach(json_object_get(o, "blocks"), bi, blk) {
			uint64_t bh = (uint64_t)json_integer_value(json_object_get(blk, "height"));
			if (bh < h || bh > h1)
				continue;
			double k = (double)json_array_size(json_object_get(blk, "tx_ids"));
			sum += k;
			if (k > mx)
				mx = k;
			nb++;
			got++;
			h = bh + 1;
		}
		json_decref(o);
		if (!got)
			break;
	}
	https_client_free(c);
	if (nb) {
		*mean = sum / (double)nb;
		*max = mx;
	}
}

int bench_run(bench_run_t *R)
{
	devnet_t d;
	char err[512];
	int ret = -1;
	gen_t G;
	sig_key_t *key = NULL;
	char *kp = NULL;
	memset(&d, 0, sizeof(d));
	memset(&G, 0, sizeof(G));
	pthread_mutex_init(&G.lock, NULL);
	R->lat_ms = NULL;
	R->lat_n = 0;
	R->error[0] = 0;
	if (R->threads < 1)
		R->threads = 4;
	if (R->drain_s <= 0)
		R->drain_s = 60;
	if (devnet_open(&d, R->dir, err, sizeof(err)) < 0) {
		snprintf(R->error, sizeof(R->error), "%s", err);
		goto out;
	}
	size_t n = d.g.n_providers;
	if (R->watch < 0 || (size_t)R->watch >= n) {
		snprintf(R->error, sizeof(R->error), "watched node %d is not in the devnet (n = %zu)", R->watch, n);
		goto out;
	}
	kp = R->key_path ? xstrdup(R->key_path) : bench_tenant_key(R->dir);
	if (sig_key_load(&key, kp, err, sizeof(err)) < 0) {
		snprintf(R->error, sizeof(R->error), "%s", err);
		goto out;
	}
	G.R = R;
	G.trust.ca_file = d.ca_path;
	G.nurls = R->targets ? R->ntargets : n;
	G.urls = xcalloc(G.nurls, sizeof(char *));
	for (size_t i = 0; i < G.nurls; i++) {
		int t = R->targets ? R->targets[i] : (int)i;
		if (t < 0 || (size_t)t >= n) {
			snprintf(R->error, sizeof(R->error), "target node %d is not in the devnet", t);
			goto out;
		}
		G.urls[i] = d.g.providers[t].api;
	}
	G.watch_url = d.g.providers[R->watch].api;
	G.count = R->count;
	G.txs = xcalloc(R->count, sizeof(tx_t));
	G.send_us = xcalloc(R->count, sizeof(uint64_t));
	G.commit_us = xcalloc(R->count, sizeof(uint64_t));
	if (R->rate > 0) {
		G.lag_ms = xcalloc(R->count, sizeof(double));
		for (size_t i = 0; i < R->count; i++)
			G.lag_ms[i] = -1;
	}
	/* pre-sign on every core, before the clock starts */
	uint64_t ts = mono_us();
	sign_job_t sj = { .key = key, .chain_id = d.g.chain_id, .ibytes = R->ibytes,
			  .run = (uint32_t)(now_ms() ^ ((uint64_t)getpid() << 12) ^ (uint64_t)(uintptr_t)R),
			  .domain = d.g.providers[n > 1 ? 1 : 0].domains[0], .txs = G.txs };
	workers_t *w = workers_new(0);
	workers_run(w, R->count, sign_one, &sj);
	workers_free(w);
	R->sign_s = (double)(mono_us() - ts) / 1e6;
	size_t bytes = 0, ok = 0;
	if (R->latency)
		G.ids = map_new();
	for (size_t i = 0; i < R->count; i++) {
		if (!G.txs[i].raw)
			continue;
		bytes += G.txs[i].raw_len;
		ok++;
		if (G.ids)
			map_put(G.ids, G.txs[i].id, BSEC_HASH_BYTES, (void *)(uintptr_t)(i + 1));
	}
	R->signed_txs = ok;
	R->avg_tx_bytes = ok ? bytes / ok : 0;
	if (!ok) {
		snprintf(R->error, sizeof(R->error), "could not sign any tx with %s", kp);
		goto out;
	}

	json_t *st;
	if (bench_status(G.watch_url, &G.trust, 3000, &st) < 0) {
		snprintf(R->error, sizeof(R->error), "node %d (%s) does not answer /v1/status", R->watch, G.watch_url);
		goto out;
	}
	G.c0 = json_integer_value(json_object_get(st, "committed_txs"));
	R->h0 = (uint64_t)json_integer_value(json_object_get(st, "height"));
	long long view0 = json_integer_value(json_object_get(st, "view"));
	json_decref(st);
	G.h_watch = R->h0 + 1;
	G.window = R->rate > 0 ? 0 : R->window ? R->window : DEFAULT_WINDOW;
	double *cpu0 = xcalloc(n, sizeof(double));
	G.pids = xcalloc(n, sizeof(pid_t));
	G.npids = n;
	for (size_t i = 0; i < n; i++) {
		G.pids[i] = bench_node_pid(R->dir, i);
		cpu0[i] = bench_proc_cpu_s(G.pids[i]);
	}
	double gcpu0 = self_cpu_s(), mbusy0 = machine_busy_s();

	pthread_t wt, mt;
	int have_watch = 0;
	if (R->latency)
		have_watch = pthread_create(&wt, NULL, watch_thread, &G) == 0;
	G.t0_us = mono_us();
	int have_mon = pthread_create(&mt, NULL, monitor_thread, &G) == 0;
	if (R->seconds > 0)
		G.deadline_us = G.t0_us + (uint64_t)(R->seconds * 1e6);
	pthread_t *th = xcalloc((size_t)R->threads, sizeof(pthread_t));
	worker_arg_t *wa = xcalloc((size_t)R->threads, sizeof(worker_arg_t));
	int started = 0;
	for (int i = 0; i < R->threads; i++) {
		wa[i].G = &G;
		wa[i].idx = i;
		if (pthread_create(&th[i], NULL, submit_thread, &wa[i]) == 0)
			started++;
		else
			break;
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	free(wa);
	uint64_t t_sub = mono_us();
	atomic_store(&G.offering_done, 1);
	R->submitted = atomic_load(&G.submitted);
	/* the monitor's last sample (at most MONITOR_MS old) */
	long long c_sub = atomic_load(&G.committed_now);
	size_t done_at_end = R->latency ? atomic_load(&G.matched) : (size_t)(c_sub > 0 ? c_sub : 0);
	R->backlog_end = done_at_end < R->submitted ? (double)(R->submitted - done_at_end) : 0;

	/* wait until the watched node has committed everything submitted (the
	 * monitor, or the watcher, polls it over a kept-alive connection) */
	uint64_t limit = mono_us() + (R->no_drain ? 0 : (uint64_t)(R->drain_s * 1e6));
	size_t committed = done_at_end;
	while (mono_us() < limit) {
		if (R->latency) {
			committed = atomic_load(&G.matched);
		} else {
			if (!have_mon) {
				long long v = bench_status_int(G.watch_url, &G.trust, "committed_txs");
				if (v >= 0)
					atomic_store(&G.committed_now, v - G.c0);
			}
			long long cn = atomic_load(&G.committed_now);
			committed = cn > 0 ? (size_t)cn : 0;
		}
		if (committed >= R->submitted)
			break;
		usleep(have_mon ? 1000 : 10000);
	}
	uint64_t t1 = mono_us();
	if (have_watch) {
		atomic_store(&G.watch_stop, 1);
		pthread_join(wt, NULL);
		committed = atomic_load(&G.matched);
	}
	if (have_mon) {
		atomic_store(&G.monitor_stop, 1);
		pthread_join(mt, NULL);
	}
	double gcpu1 = self_cpu_s();
	/* other clients may commit txs meanwhile: never count more than ours */
	R->committed = committed > R->submitted ? R->submitted : committed;
	R->offer_s = (double)(t_sub - G.t0_us) / 1e6;
	R->elapsed_s = (double)(t1 - G.t0_us) / 1e6;
	R->tx_per_s_overall = R->elapsed_s > 0 ? (double)R->committed / R->elapsed_s : 0;
	R->first_commit_s = first_commit_s(&G, R->submitted);
	double cpu_steady;
	R->tx_per_s_steady = steady_rate(&G, R->offer_s, R->first_commit_s, &R->steady_window_s, &cpu_steady);
	const char *trace = getenv("BSEC_BENCH_TRACE");
	FILE *tf = trace ? fopen(trace, "a") : NULL;
	if (tf) {
		/* the watched node's commits over time, for a closer look */
		fprintf(tf, "# run: rate %.0f, %zu B, offered %zu in %.3f s\n# t_s committed\n", R->rate, R->ibytes,
			R->submitted, R->offer_s);
		for (size_t i = 0; i < G.nsamples; i++)
			fprintf(tf, "%.3f %.0f\n", G.sample_t[i], G.sample_c[i]);
		fclose(tf);
	}
	R->steady = R->rate <= 0 && isfinite(R->tx_per_s_steady);
	R->tx_per_s = R->steady ? R->tx_per_s_steady : R->tx_per_s_overall;
	R->offered_per_s = R->offer_s > 0 ? (double)R->submitted / R->offer_s : 0;
	double cpu = 0;
	int have_cpu = 1;
	for (size_t i = 0; i < n; i++) {
		double c1 = bench_proc_cpu_s(bench_node_pid(R->dir, i));
		if (c1 < 0 || cpu0[i] < 0)
			have_cpu = 0;
		cpu += c1 - cpu0[i];
	}
	free(cpu0);
	R->node_cpu_s = have_cpu ? cpu : NAN;
	R->cpu_s_per_tx_overall = have_cpu && R->committed ? cpu / (double)n / (double)R->committed : NAN;
	R->cpu_s_per_tx = R->steady && isfinite(cpu_steady) ? cpu_steady : R->cpu_s_per_tx_overall;
	R->gen_cpu_s = gcpu1 - gcpu0;
	/* everything else the machine did meanwhile: other people's work */
	double mbusy = machine_busy_s() - mbusy0;
	R->other_cpu_cores = have_cpu && R->elapsed_s > 0 ? (mbusy - cpu - R->gen_cpu_s) / R->elapsed_s : NAN;
	if (R->other_cpu_cores < 0)
		R->other_cpu_cores = 0;
	R->refused_full = atomic_load(&G.refused_full);
	R->refused_other = atomic_load(&G.refused_other);
	R->errors = atomic_load(&G.errors);
	json_t *st1 = NULL;
	long long h1 = -1;
	if (bench_status(G.watch_url, &G.trust, 3000, &st1) == 0) {
		h1 = json_integer_value(json_object_get(st1, "height"));
		R->view_changes = (int)(json_integer_value(json_object_get(st1, "view")) - view0);
	}
	json_decref(st1);
	R->h1 = h1 > 0 ? (uint64_t)h1 : R->h0;
	block_stats(G.watch_url, &G.trust, R->h0, R->h1, &R->blk_mean, &R->blk_max);

	/* paced: did the generator keep the schedule? */
	R->lag_p99_ms = NAN;
	if (G.lag_ms) {
		double *v = xcalloc(R->count, sizeof(double));
		size_t k = 0;
		for (size_t i = 0; i < R->count; i++)
			if (G.lag_ms[i] >= 0)
				v[k++] = G.lag_ms[i];
		bench_sort(v, k);
		R->lag_p99_ms = bench_pct(v, k, 99);
		free(v);
	}
	double gen_share = R->elapsed_s > 0 ? R->gen_cpu_s / R->elapsed_s : 0;
	if (R->refused_full) {
		R->generator_bound = 0;
		snprintf(R->bound_why, sizeof(R->bound_why), "system: pools refused %zu txs as full", R->refused_full);
	} else if (G.window && R->backlog_end >= 0.5 * (double)G.window) {
		R->generator_bound = 0;
		snprintf(R->bound_why, sizeof(R->bound_why),
			 "system: the generator kept its window of %zu uncommitted txs full (%.0f at the end)",
			 G.window, R->backlog_end);
	} else if (R->backlog_end > 0.1 * (double)R->submitted) {
		R->generator_bound = 0;
		snprintf(R->bound_why, sizeof(R->bound_why),
			 "system: %.0f of %zu accepted txs were still uncommitted when offering stopped",
			 R->backlog_end, R->submitted);
	} else if (R->rate > 0 && R->offered_per_s < 0.95 * R->rate) {
		R->generator_bound = 1;
		snprintf(R->bound_why, sizeof(R->bound_why),
			 "generator: offered %.0f of the %.0f tx/s asked (p99 %.1f ms behind schedule)",
			 R->offered_per_s, R->rate, R->lag_p99_ms);
	} else if (R->rate > 0) {
		R->generator_bound = 0;
		snprintf(R->bound_why, sizeof(R->bound_why), "neither: paced at %.0f tx/s and the nodes kept up",
			 R->rate);
	} else {
		R->generator_bound = 1;
		snprintf(R->bound_why, sizeof(R->bound_why),
			 "generator or admission: the nodes kept up with all %zu txs offered (generator used %.2f cores)",
			 R->submitted, gen_share);
	}

	if (R->latency) {
		R->lat_ms = xcalloc(R->count, sizeof(double));
		for (size_t i = 0; i < R->count; i++)
			if (G.commit_us[i] && G.send_us[i] && G.commit_us[i] >= G.send_us[i])
				R->lat_ms[R->lat_n++] = (double)(G.commit_us[i] - G.send_us[i]) / 1000.0;
		bench_sort(R->lat_ms, R->lat_n);
	}
	if (R->refused_other || R->errors)
		snprintf(R->error, sizeof(R->error), "%s", G.last_error);
	ret = 0;
out:
	if (G.txs)
		for (size_t i = 0; i < R->count; i++)
			tx_clear(&G.txs[i]);
	free(G.txs);
	free(G.urls);
	free(G.send_us);
	free(G.commit_us);
	free(G.lag_ms);
	free(G.sample_t);
	free(G.sample_c);
	free(G.sample_cpu);
	free(G.pids);
	if (G.ids)
		map_free(G.ids);
	pthread_mutex_destroy(&G.lock);
	sig_key_free(key);
	free(kp);
	devnet_close(&d);
	return ret;
}

void bench_run_free(bench_run_t *R)
{
	free(R->lat_ms);
	R->lat_ms = NULL;
	R->lat_n = 0;
}

json_t *bench_run_json(const bench_run_t *R, int cdf)
{
	json_t *o = json_object();
	json_object_set_new(o, "tx_per_s", bench_jnum(R->tx_per_s));
	json_object_set_new(o, "tx_per_s_steady", bench_jnum(R->tx_per_s_steady));
	json_object_set_new(o, "tx_per_s_overall", bench_jnum(R->tx_per_s_overall));
	json_object_set_new(o, "steady_window_s", bench_jnum(R->steady_window_s));
	json_object_set_new(o, "rate_kind", json_string(R->steady ? "steady" : "overall"));
	json_object_set_new(o, "first_commits_s", bench_jnum(R->first_commit_s));
	json_object_set_new(o, "offered_per_s", bench_jnum(R->offered_per_s));
	if (R->rate > 0)
		json_object_set_new(o, "rate", bench_jnum(R->rate));
	json_object_set_new(o, "instruction_bytes", json_integer((json_int_t)R->ibytes));
	json_object_set_new(o, "avg_tx_bytes", json_integer((json_int_t)R->avg_tx_bytes));
	json_object_set_new(o, "signed", json_integer((json_int_t)R->signed_txs));
	json_object_set_new(o, "submitted", json_integer((json_int_t)R->submitted));
	json_object_set_new(o, "committed", json_integer((json_int_t)R->committed));
	json_object_set_new(o, "sign_s", bench_jnum(R->sign_s));
	json_object_set_new(o, "offer_s", bench_jnum(R->offer_s));
	json_object_set_new(o, "elapsed_s", bench_jnum(R->elapsed_s));
	json_object_set_new(o, "cpu_s_per_tx", bench_jnum(R->cpu_s_per_tx));
	json_object_set_new(o, "cpu_s_per_tx_overall", bench_jnum(R->cpu_s_per_tx_overall));
	json_object_set_new(o, "drained", json_boolean(!R->no_drain));
	json_object_set_new(o, "view_changes", json_integer(R->view_changes));
	json_object_set_new(o, "node_cpu_s", bench_jnum(R->node_cpu_s));
	json_object_set_new(o, "generator_cpu_s", bench_jnum(R->gen_cpu_s));
	json_object_set_new(o, "other_cpu_cores", bench_jnum(R->other_cpu_cores));
	json_object_set_new(o, "backlog_at_end", bench_jnum(R->backlog_end));
	json_object_set_new(o, "schedule_lag_p99_ms", bench_jnum(R->lag_p99_ms));
	json_object_set_new(o, "blocks", json_integer((json_int_t)(R->h1 - R->h0)));
	json_object_set_new(o, "txs_per_block_mean", bench_jnum(R->blk_mean));
	json_object_set_new(o, "txs_per_block_max", bench_jnum(R->blk_max));
	json_object_set_new(o, "refused_mempool_full", json_integer((json_int_t)R->refused_full));
	json_object_set_new(o, "refused_other", json_integer((json_int_t)R->refused_other));
	json_object_set_new(o, "transport_errors", json_integer((json_int_t)R->errors));
	json_object_set_new(o, "generator_bound", json_boolean(R->generator_bound));
	json_object_set_new(o, "bound", json_string(R->bound_why));
	if (R->latency) {
		json_object_set_new(o, "latency_samples", json_integer((json_int_t)R->lat_n));
		json_object_set_new(o, "latency_ms", bench_pct_json(R->lat_ms, R->lat_n));
		json_object_set_new(o, "p50_ms", bench_jnum(bench_pct(R->lat_ms, R->lat_n, 50)));
		json_object_set_new(o, "p90_ms", bench_jnum(bench_pct(R->lat_ms, R->lat_n, 90)));
		json_object_set_new(o, "p99_ms", bench_jnum(bench_pct(R->lat_ms, R->lat_n, 99)));
		if (cdf)
			json_object_set_new(o, "cdf", bench_cdf_json(R->lat_ms, R->lat_n));
	}
	if (R->error[0])
		json_object_set_new(o, "last_error", json_string(R->error));
	return o;
}

static void print_run(const bench_run_t *R)
{
	printf("submitted %zu, committed %zu in %.2f s: %.0f tx/s (offered %.0f tx/s; %zu-byte txs)\n", R->submitted,
	       R->committed, R->elapsed_s, R->tx_per_s, R->offered_per_s, R->avg_tx_bytes);
	if (R->latency && R->lat_n)
		printf("commit latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%zu samples)\n",
		       bench_pct(R->lat_ms, R->lat_n, 50), bench_pct(R->lat_ms, R->lat_n, 90),
		       bench_pct(R->lat_ms, R->lat_n, 99), R->lat_ms[R->lat_n - 1], R->lat_n);
	printf("cpu %.1f us per committed tx per replica; %.0f txs per block; pace set by %s\n",
	       R->cpu_s_per_tx * 1e6, R->blk_mean, R->bound_why);
	if (R->refused_other || R->errors)
		printf("refused %zu, transport errors %zu; last: %s\n", R->refused_other, R->errors, R->error);
}

int bench_load_main(int argc, char **argv)
{
	bench_run_t R;
	memset(&R, 0, sizeof(R));
	R.threads = 4;
	R.ibytes = 64;
	int json = 0, cdf = 0;
	const char *usage = "bsec bench load --dir D --count N [--rate R] [--seconds S] [--threads T]\n"
			    "                [--instruction-bytes B] [--key FILE] [--node I] [--wait] [--cdf] [--json]\n"
			    "  --wait: time every tx (submission -> commit at node I, default 0); --cdf: print the CDF";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--wait")) R.latency = 1;
		else if (!strcmp(a, "--cdf")) R.latency = cdf = 1;
		else if (!strcmp(a, "--dir") && v) R.dir = argv[++i];
		else if (!strcmp(a, "--key") && v) R.key_path = argv[++i];
		else if (!strcmp(a, "--count") && v) R.count = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--rate") && v) R.rate = atof(argv[++i]);
		else if (!strcmp(a, "--seconds") && v) R.seconds = atof(argv[++i]);
		else if (!strcmp(a, "--threads") && v) R.threads = atoi(argv[++i]);
		else if (!strcmp(a, "--node") && v) R.watch = atoi(argv[++i]);
		else if (!strcmp(a, "--instruction-bytes") && v) R.ibytes = strtoul(argv[++i], NULL, 10);
		else return cli_usage(usage);
	}
	if (!R.dir || R.count < 1 || R.count > 10000000 || R.threads < 1 || R.threads > 256 || R.rate < 0 ||
	    R.seconds < 0 || R.ibytes > TX_MAX_INSTRUCTION)
		return cli_usage(usage);
	if (bench_run(&R) < 0)
		return cli_fail("%s", R.error);
	if (json) {
		bench_print_json(bench_run_json(&R, cdf));
	} else {
		print_run(&R);
		if (cdf) {
			printf("\nlatency_ms fraction\n");
			for (int k = 1; k <= 100; k++)
				printf("%.3f %.2f\n", bench_pct(R.lat_ms, R.lat_n, k), k / 100.0);
		}
	}
	int rc = R.committed >= R.submitted && !R.refused_other ? 0 : 1;
	bench_run_free(&R);
	return rc;
}

/* ---- throughput ---- */

#define MAX_LIST 16

/* Signatures per second this machine makes with the tenant key of dir
 * (all cores), from a short sample; NAN when the key does not load. */
static double sign_rate(const char *dir)
{
	char err[256], *kp = bench_tenant_key(dir);
	sig_key_t *k = NULL;
	double r = NAN;
	if (sig_key_load(&k, kp, err, sizeof(err)) == 0) {
		uint8_t msg[200] = { 0 }, sig[SIG_MAX_SIG];
		int n = 0;
		uint64_t t0 = mono_us();
		while (n < 2000 && mono_us() - t0 < 50000) {
			if (sig_sign(k, sig, msg, sizeof(msg)) != 0)
				break;
			n++;
		}
		double s = (double)(mono_us() - t0) / 1e6;
		if (n && s > 0)
			r = (double)n / s * (double)sysconf(_SC_NPROCESSORS_ONLN);
	}
	sig_key_free(k);
	free(kp);
	return r;
}

/* One saturation run of `seconds' at instruction size ib on devnet b,
 * which is reset afterwards (the backlog is not waited for: the rate is
 * the steady one while offering).  Pre-signed txs: enough for 1.5 x the
 * expected rate (the previous size's rate on this devnet, else
 * min(ceiling, 10 000 tx/s)) plus the generator's window, but no more
 * than about sign_budget_s of signing (RSA signs ~50 x slower than it
 * verifies); if they run out first, offering ends early and the steady
 * rate is measured over what ran. */
static int sat_point(bench_net_t *b, size_t ib, double seconds, int threads, double expect, double sign_budget_s,
		     bench_run_t *R)
{
	char err[512];
	memset(R, 0, sizeof(*R));
	R->dir = b->dir;
	R->threads = threads;
	R->ibytes = ib;
	R->seconds = seconds;
	R->no_drain = 1;
	double want = 1.5 * expect * seconds + DEFAULT_WINDOW;
	double sr = sign_rate(b->dir);
	if (isfinite(sr) && want > 0.6 * sr * sign_budget_s)
		want = 0.6 * sr * sign_budget_s;   /* the sample is optimistic on a busy machine */
	R->count = want < 5000 ? 5000 : (size_t)want;
	int r = bench_run(R);
	if (bench_net_reset(b, err, sizeof(err)) < 0) {
		snprintf(R->error, sizeof(R->error), "%s", err);
		r = -1;
	}
	return r;
}

int bench_throughput_main(int argc, char **argv)
{
	int json = 0, threads = 8;
	double seconds = 5, budget = 12;
	const char *scheme = "ed25519", *nodes_s = "4", *sizes_s = "64", *rates_s = "100";
	long nodes[MAX_LIST], sizes[MAX_LIST];
	long lat_bytes = 64;
	const char *usage =
		"bsec bench throughput [--nodes 1,4,7,10] [--instruction-bytes 16,32,64,…] [--scheme S]\n"
		"                      [--seconds S] [--rate 100,1000,sat|0] [--latency-bytes B] [--threads T]\n"
		"                      [--sign-budget S] [--json]\n"
		"  per n a fresh devnet; per size a saturation run of S seconds; then latency runs at the\n"
		"  given offered rates (sat = the committed rate measured at --latency-bytes), each S seconds;\n"
		"  --sign-budget: at most about this many seconds of pre-signing per saturation run (12)";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && v) nodes_s = argv[++i];
		else if (!strcmp(a, "--seconds") && v) seconds = atof(argv[++i]);
		else if (!strcmp(a, "--scheme") && v) scheme = argv[++i];
		else if (!strcmp(a, "--instruction-bytes") && v) sizes_s = argv[++i];
		else if (!strcmp(a, "--rate") && v) rates_s = argv[++i];
		else if (!strcmp(a, "--latency-bytes") && v) lat_bytes = atol(argv[++i]);
		else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
		else if (!strcmp(a, "--sign-budget") && v) budget = atof(argv[++i]);
		else return cli_usage(usage);
	}
	sig_scheme_t sch;
	int nn = bench_parse_list(nodes_s, nodes, MAX_LIST, 1, 32);
	int ns = bench_parse_list(sizes_s, sizes, MAX_LIST, 0, TX_MAX_INSTRUCTION);
	if (nn < 0 || ns < 0 || seconds <= 0 || seconds > 3600 || threads < 1 || threads > 256 || lat_bytes < 0 ||
	    !(budget > 0) ||
	    lat_bytes > TX_MAX_INSTRUCTION || sig_scheme_parse(scheme, &sch) < 0)
		return cli_usage(usage);
	/* latency rates: numbers, or "sat" (encoded as -1) */
	double rates[MAX_LIST];
	int nr = 0;
	{
		char *copy = xstrdup(rates_s), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t && nr < MAX_LIST; t = strtok_r(NULL, ",", &save)) {
			if (!strcmp(t, "sat"))
				rates[nr++] = -1;
			else if (atof(t) > 0)
				rates[nr++] = atof(t);
			else if (strcmp(t, "0"))
				nr = -100;
		}
		free(copy);
		if (nr < 0)
			return cli_usage(usage);
	}
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double verify1 = sig_bench_verify(sch, 1.0);
	/* the ceiling uses the path a node verifies with: sig_verify_many
	 * batches (node_submit_many, verify_block_txs), not one-by-one */
	double verify_many1 = sig_bench_verify_many(sch, 1.0);
	json_t *points = json_array(), *lats = json_array();
	int ret = 1;
	char err[512];
	if (!json)
		printf("%s, %ld cores, single-core verify %.0f/s; saturation runs of %.1f s\n", scheme, cores, verify1,
		       seconds);
	for (int a = 0; a < nn; a++) {
		bench_net_t b;
		double ceiling = (double)cores * verify_many1 / (double)nodes[a];
		if (bench_net_create(&b, (int)nodes[a], scheme, "sim", 0, err, sizeof(err)) < 0 ||
		    bench_net_up(&b, 0, err, sizeof(err)) < 0) {
			cli_fail("%s", err);
			bench_net_destroy(&b);
			goto out;
		}
		double sat_rate = NAN, expect = ceiling < 10000 ? ceiling : 10000;
		for (int s = 0; s < ns; s++) {
			bench_run_t R;
			if (sat_point(&b, (size_t)sizes[s], seconds, threads, expect, budget, &R) < 0) {
				cli_fail("n=%ld, %ld B: %s", nodes[a], sizes[s], R.error);
				bench_run_free(&R);
				bench_net_destroy(&b);
				goto out;
			}
			if (sizes[s] == lat_bytes || (isnan(sat_rate) && s == ns - 1))
				sat_rate = R.tx_per_s;
			if (R.tx_per_s > 0)
				expect = R.tx_per_s;
			json_t *o = bench_run_json(&R, 0);
			json_object_set_new(o, "nodes", json_integer(nodes[a]));
			json_object_set_new(o, "scheme", json_string(scheme));
			json_object_set_new(o, "ceiling_tx_per_s", bench_jnum(ceiling));
			json_object_set_new(o, "ceiling_one_by_one_tx_per_s",
					    bench_jnum((double)cores * verify1 / (double)nodes[a]));
			json_object_set_new(o, "ratio_to_ceiling", bench_jnum(R.tx_per_s / ceiling));
			json_object_set_new(o, "ratio_to_paper", bench_jnum(R.tx_per_s / PAPER_TX_PER_S));
			json_array_append_new(points, o);
			if (!json)
				printf("n=%-2ld %4ld B (%4zu-B txs): %7.0f tx/s = %.2f of the ceiling %.0f, %5.1f x the paper; "
				       "%6.1f us CPU/tx/replica; %5.0f txs/block; %s\n",
				       nodes[a], sizes[s], R.avg_tx_bytes, R.tx_per_s, R.tx_per_s / ceiling, ceiling,
				       R.tx_per_s / PAPER_TX_PER_S, R.cpu_s_per_tx * 1e6, R.blk_mean, R.bound_why);
			bench_run_free(&R);
		}
		for (int r = 0; r < nr; r++) {
			double rate = rates[r] > 0 ? rates[r] : sat_rate;
			if (!(rate > 0))
				continue;
			bench_run_t L;
			memset(&L, 0, sizeof(L));
			L.dir = b.dir;
			L.rate = rate;
			L.latency = 1;
			L.threads = rate > 2000 ? threads : 4;
			L.ibytes = (size_t)lat_bytes;
			L.seconds = seconds;
			L.count = (size_t)(rate * seconds) + 1;
			L.drain_s = 30;
			if (bench_run(&L) < 0) {
				cli_fail("latency at %.0f tx/s: %s", rate, L.error);
				bench_run_free(&L);
				bench_net_destroy(&b);
				goto out;
			}
			json_t *o = bench_run_json(&L, 1);
			json_object_set_new(o, "nodes", json_integer(nodes[a]));
			json_object_set_new(o, "scheme", json_string(scheme));
			json_object_set_new(o, "load", json_string(rates[r] > 0 ? "fixed" : "saturation"));
			json_array_append_new(lats, o);
			if (!json)
				printf("n=%-2ld latency at %6.0f tx/s%s: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms "
				       "(%zu of %zu committed)\n", nodes[a], rate, rates[r] > 0 ? "" : " (saturation)",
				       bench_pct(L.lat_ms, L.lat_n, 50), bench_pct(L.lat_ms, L.lat_n, 90),
				       bench_pct(L.lat_ms, L.lat_n, 99), L.lat_n ? L.lat_ms[L.lat_n - 1] : NAN, L.lat_n,
				       L.submitted);
			bench_run_free(&L);
		}
		bench_net_destroy(&b);
	}
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "scheme", json_string(scheme));
		json_object_set_new(o, "cores", json_integer(cores));
		json_object_set_new(o, "verify_per_s_one_core", bench_jnum(verify1));
		json_object_set_new(o, "batch_verify_per_s_one_core", bench_jnum(verify_many1));
		json_object_set_new(o, "seconds", bench_jnum(seconds));
		json_object_set_new(o, "paper_tx_per_s", bench_jnum(PAPER_TX_PER_S));
		json_object_set_new(o, "points", json_incref(points));
		json_object_set_new(o, "latency", json_incref(lats));
		bench_print_json(o);
	}
	ret = 0;
out:
	json_decref(points);
	json_decref(lats);
	return ret;
}
