/*
 * bench_load.c — `bsec bench load` and `bsec bench throughput`: a load
 * generator for a devnet, and the throughput/latency benchmark built on it.
 *
 * The generator pre-signs every tx before the clock starts (on all cores),
 * then submits them over keep-alive HTTPS connections spread across the
 * nodes.  It reports when it, not the system, was the bottleneck: if the
 * submitting threads were never refused and the pool never filled, the
 * offered load, not the ledger, set the pace.
 *
 *   load:        --dir D --count N [--rate R] [--threads T] [--instruction-bytes B] [--json]
 *   throughput:  --nodes N --seconds S [--scheme S] [--instruction-bytes B] [--rate R] [--json]
 *                (makes its own devnet in a temporary directory and removes it)
 */
#include "cli.h"
#include "devnet.h"
#include "../ledger/tx.h"
#include "../lib/buf.h"
#include "../lib/https.h"
#include "../lib/sig.h"
#include "../lib/workers.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

/* ---- instructions of a chosen size ---- */

/* Writes a grammatical instruction creating object `name`, as close to
 * `target` bytes as the grammar allows (never shorter than the minimum). */
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

/* ---- submission ---- */

typedef struct {
	char **urls;
	size_t nurls;
	https_trust_t trust;
	tx_t *txs;
	size_t count;
	atomic_size_t next;
	atomic_size_t submitted, refused_full, refused_other, errors;
	double rate;              /* 0: as fast as possible */
	int wait_commit;          /* latency mode: wait for each tx */
	uint64_t t0_us;
	uint64_t deadline_us;     /* 0: none */
	double *lat_ms;           /* latency mode: per tx */
	char last_error[256];
	pthread_mutex_t lock;
} load_t;

typedef struct {
	load_t *L;
	int idx;
} worker_arg_t;

static void note_error(load_t *L, const char *fmt, const char *detail)
{
	pthread_mutex_lock(&L->lock);
	snprintf(L->last_error, sizeof(L->last_error), fmt, detail);
	pthread_mutex_unlock(&L->lock);
}

#define LOAD_BATCH 64

/* Unpaced mode: claim LOAD_BATCH txs at a time and POST them as one
 * batch; txs refused because the pool was full are posted again. */
static void submit_batches(load_t *L, https_client_t *c)
{
	buf_t b;
	char err[256];
	buf_init(&b);
	size_t pending[LOAD_BATCH], np = 0;
	for (;;) {
		if (L->deadline_us && mono_us() >= L->deadline_us)
			break;
		/* top the batch up with fresh txs */
		while (np < LOAD_BATCH) {
			size_t i = atomic_fetch_add(&L->next, 1);
			if (i >= L->count)
				break;
			if (L->txs[i].raw)
				pending[np++] = i;
		}
		if (!np)
			break;
		buf_reset(&b);
		for (size_t k = 0; k < np; k++)
			buf_blob32(&b, L->txs[pending[k]].raw, L->txs[pending[k]].raw_len);
		int status;
		uint8_t *resp = NULL;
		size_t rl;
		if (https_client_request(c, "POST", "/v1/transactions/batch", "application/octet-stream", b.data,
					 b.len, &status, &resp, &rl, err, sizeof(err)) < 0 || status != 200) {
			atomic_fetch_add(&L->errors, 1);
			note_error(L, "%s", resp ? (char *)resp : err);
			free(resp);
			usleep(20000);
			continue;
		}
		json_t *o = json_loads((char *)resp, 0, NULL);
		free(resp);
		size_t keep = 0, acc = np;
		json_t *ref = json_object_get(o, "refused"), *e;
		size_t ri;
		size_t again[LOAD_BATCH];
		json_array_foreach(ref, ri, e) {
			size_t idx = (size_t)json_integer_value(json_object_get(e, "index"));
			const char *code = json_string_value(json_object_get(e, "error"));
			if (idx >= np)
				continue;
			acc--;
			if (code && !strcmp(code, "mempool_full")) {
				again[keep++] = pending[idx];
			} else {
				atomic_fetch_add(&L->refused_other, 1);
				note_error(L, "%s", json_string_value(json_object_get(e, "message")));
			}
		}
		json_decref(o);
		atomic_fetch_add(&L->submitted, acc);
		if (keep) {
			atomic_fetch_add(&L->refused_full, keep);
			memcpy(pending, again, keep * sizeof(size_t));
			usleep(2000);
		}
		np = keep;
	}
	buf_free(&b);
}

static void *submit_thread(void *arg)
{
	worker_arg_t *wa = arg;
	load_t *L = wa->L;
	char err[256];
	https_client_t *c = https_client_new(L->urls[wa->idx % L->nurls], &L->trust, 15000, err, sizeof(err));
	if (!c) {
		note_error(L, "%s", err);
		return NULL;
	}
	if (!L->wait_commit && L->rate <= 0) {
		submit_batches(L, c);
		https_client_free(c);
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&L->next, 1);
		if (i >= L->count)
			break;
		if (L->deadline_us && mono_us() >= L->deadline_us)
			break;
		if (L->rate > 0) {
			/* open-loop pacing: tx i is due at t0 + i / rate */
			uint64_t due = L->t0_us + (uint64_t)((double)i * 1e6 / L->rate);
			uint64_t now = mono_us();
			if (due > now)
				usleep((useconds_t)(due - now));
		}
		tx_t *tx = &L->txs[i];
		if (!tx->raw)
			continue;
		uint64_t start = mono_us();
		for (int attempt = 0;; attempt++) {
			int status;
			uint8_t *resp = NULL;
			size_t rl;
			if (https_client_request(c, "POST", "/v1/transactions", "application/octet-stream", tx->raw,
						 tx->raw_len, &status, &resp, &rl, err, sizeof(err)) < 0) {
				atomic_fetch_add(&L->errors, 1);
				note_error(L, "%s", err);
				free(resp);
				if (attempt < 3) {
					usleep(50000);
					continue;
				}
				break;
			}
			if (status == 503) {
				atomic_fetch_add(&L->refused_full, 1);
				free(resp);
				usleep(2000);
				if (L->deadline_us && mono_us() >= L->deadline_us)
					break;
				continue;
			}
			if (status != 200 && status != 202) {
				atomic_fetch_add(&L->refused_other, 1);
				note_error(L, "%s", resp ? (char *)resp : "?");
				free(resp);
				break;
			}
			free(resp);
			atomic_fetch_add(&L->submitted, 1);
			if (L->wait_commit) {
				char path[128], id[65];
				hex_encode(id, tx->id, BSEC_HASH_BYTES);
				snprintf(path, sizeof(path), "/v1/transactions/%s?wait=10000", id);
				if (https_client_request(c, "GET", path, NULL, NULL, 0, &status, &resp, &rl, err,
							 sizeof(err)) == 0 && status == 200 && resp &&
				    strstr((char *)resp, "\"committed\""))
					L->lat_ms[i] = (double)(mono_us() - start) / 1000.0;
				free(resp);
			}
			break;
		}
	}
	https_client_free(c);
	return NULL;
}

static int run_load(load_t *L, int threads)
{
	pthread_t *th = xcalloc((size_t)threads, sizeof(pthread_t));
	worker_arg_t *wa = xcalloc((size_t)threads, sizeof(worker_arg_t));
	pthread_mutex_init(&L->lock, NULL);
	L->t0_us = mono_us();
	for (int i = 0; i < threads; i++) {
		wa[i].L = L;
		wa[i].idx = i;
		pthread_create(&th[i], NULL, submit_thread, &wa[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&L->lock);
	free(th);
	free(wa);
	return 0;
}

/* ---- node observations ---- */

static int node_status(const char *url, const https_trust_t *trust, json_t **out)
{
	char full[512], err[256];
	int status;
	uint8_t *resp = NULL;
	size_t rl;
	snprintf(full, sizeof(full), "%s/v1/status", url);
	*out = NULL;
	if (https_request(full, "GET", NULL, NULL, 0, trust, 3000, &status, &resp, &rl, err, sizeof(err)) < 0 ||
	    status != 200) {
		free(resp);
		return -1;
	}
	*out = json_loads((char *)resp, 0, NULL);
	free(resp);
	return *out ? 0 : -1;
}

static long long status_int(const char *url, const https_trust_t *trust, const char *field)
{
	json_t *o;
	if (node_status(url, trust, &o) < 0)
		return -1;
	long long v = json_integer_value(json_object_get(o, field));
	json_decref(o);
	return v;
}

/* utime + stime of a process in seconds, or -1. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* fields after the command: state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static pid_t node_pid(const char *dir, size_t i)
{
	char *p = xasprintf("%s/node%zu/node.pid", dir, i);
	FILE *f = fopen(p, "r");
	free(p);
	int pid = -1;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return (pid_t)pid;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return v[i];
}

/* ---- the shared run ---- */

typedef struct {
	const char *dir;
	size_t count;
	double rate;
	int threads;
	size_t ibytes;
	double seconds;            /* 0: until count are submitted */
	int wait_commit;
	/* results */
	double tx_per_s, offered_per_s, p50, p90, p99, cpu_s_per_tx, elapsed_s;
	size_t committed, submitted, refused_full, refused_other, errors, lat_n;
	size_t avg_tx_bytes;
	int generator_bound;
	char error[600];
} run_t;

static int do_run(run_t *R)
{
	devnet_t d;
	char err[512];
	int ret = -1;
	memset(&d, 0, sizeof(d));
	if (devnet_open(&d, R->dir, err, sizeof(err)) < 0) {
		snprintf(R->error, sizeof(R->error), "%s", err);
		return -1;
	}
	char *kp = xasprintf("%s/tenants/demo.pem", R->dir);
	sig_key_t *key = NULL;
	load_t L;
	memset(&L, 0, sizeof(L));
	size_t n = d.g.n_providers;
	if (sig_key_load(&key, kp, err, sizeof(err)) < 0) {
		snprintf(R->error, sizeof(R->error), "%s", err);
		goto out;
	}
	L.nurls = n;
	L.urls = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		L.urls[i] = d.g.providers[i].api;
	L.trust.ca_file = d.ca_path;
	L.txs = xcalloc(R->count, sizeof(tx_t));
	L.count = R->count;
	L.rate = R->rate;
	L.wait_commit = R->wait_commit;
	if (R->wait_commit) {
		L.lat_ms = xcalloc(R->count, sizeof(double));
		for (size_t i = 0; i < R->count; i++)
			L.lat_ms[i] = -1;
	}
	sign_job_t sj = { .key = key, .chain_id = d.g.chain_id, .ibytes = R->ibytes,
			  .run = (uint32_t)(now_ms() ^ ((uint64_t)getpid() << 12)),
			  .domain = d.g.providers[n > 1 ? 1 : 0].domains[0], .txs = L.txs };
	workers_t *w = workers_new(0);
	workers_run(w, R->count, sign_one, &sj);
	workers_free(w);
	size_t bytes = 0;
	for (size_t i = 0; i < R->count; i++)
		bytes += L.txs[i].raw_len;
	R->avg_tx_bytes = R->count ? bytes / R->count : 0;

	long long c0 = status_int(L.urls[0], &L.trust, "committed_txs");
	if (c0 < 0) {
		snprintf(R->error, sizeof(R->error), "node 0 (%s) does not answer /v1/status", L.urls[0]);
		goto out;
	}
	double cpu0[256] = { 0 };
	for (size_t i = 0; i < n && i < 256; i++)
		cpu0[i] = proc_cpu_s(node_pid(R->dir, i));
	uint64_t t0 = mono_us();
	if (R->seconds > 0)
		L.deadline_us = t0 + (uint64_t)(R->seconds * 1e6);
	run_load(&L, R->threads);
	uint64_t t_sub = mono_us();
	R->submitted = atomic_load(&L.submitted);
	/* wait until node 0 has committed everything submitted (bounded) */
	long long target = c0 + (long long)R->submitted, c = c0;
	uint64_t limit = mono_us() + 60000000ull;
	while (mono_us() < limit) {
		c = status_int(L.urls[0], &L.trust, "committed_txs");
		if (c >= target)
			break;
		usleep(5000);
	}
	uint64_t t1 = mono_us();
	/* other clients may commit txs meanwhile: never count more than ours */
	R->committed = c > c0 ? (size_t)(c - c0) : 0;
	if (R->committed > R->submitted)
		R->committed = R->submitted;
	R->elapsed_s = (double)(t1 - t0) / 1e6;
	R->tx_per_s = R->elapsed_s > 0 ? (double)R->committed / R->elapsed_s : 0;
	R->offered_per_s = (double)R->submitted / ((double)(t_sub - t0) / 1e6);
	double cpu = 0;
	int have_cpu = 1;
	for (size_t i = 0; i < n && i < 256; i++) {
		double c1 = proc_cpu_s(node_pid(R->dir, i));
		if (c1 < 0 || cpu0[i] < 0)
			have_cpu = 0;
		cpu += c1 - cpu0[i];
	}
	R->cpu_s_per_tx = have_cpu && R->committed ? cpu / (double)n / (double)R->committed : NAN;
	R->refused_full = atomic_load(&L.refused_full);
	R->refused_other = atomic_load(&L.refused_other);
	R->errors = atomic_load(&L.errors);
	/* the generator was the bottleneck when the system never pushed back */
	R->generator_bound = R->rate == 0 && R->refused_full == 0;
	if (L.lat_ms) {
		double *v = xcalloc(R->count, sizeof(double));
		size_t k = 0;
		for (size_t i = 0; i < R->count; i++)
			if (L.lat_ms[i] >= 0)
				v[k++] = L.lat_ms[i];
		qsort(v, k, sizeof(double), cmp_double);
		R->lat_n = k;
		R->p50 = percentile(v, k, 50);
		R->p90 = percentile(v, k, 90);
		R->p99 = percentile(v, k, 99);
		free(v);
	} else {
		R->p50 = R->p90 = R->p99 = NAN;
	}
	if (R->refused_other || R->errors)
		snprintf(R->error, sizeof(R->error), "%s", L.last_error);
	ret = 0;
out:
	if (L.txs)
		for (size_t i = 0; i < R->count; i++)
			tx_clear(&L.txs[i]);
	free(L.txs);
	free(L.urls);
	free(L.lat_ms);
	sig_key_free(key);
	free(kp);
	devnet_close(&d);
	return ret;
}

static json_t *jnum(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

static json_t *run_json(const run_t *R)
{
	json_t *o = json_object();
	json_object_set_new(o, "tx_per_s", jnum(R->tx_per_s));
	json_object_set_new(o, "offered_per_s", jnum(R->offered_per_s));
	json_object_set_new(o, "committed", json_integer((json_int_t)R->committed));
	json_object_set_new(o, "submitted", json_integer((json_int_t)R->submitted));
	json_object_set_new(o, "elapsed_s", jnum(R->elapsed_s));
	json_object_set_new(o, "p50_ms", jnum(R->p50));
	json_object_set_new(o, "p90_ms", jnum(R->p90));
	json_object_set_new(o, "p99_ms", jnum(R->p99));
	json_object_set_new(o, "latency_samples", json_integer((json_int_t)R->lat_n));
	json_object_set_new(o, "cpu_s_per_tx", jnum(R->cpu_s_per_tx));
	json_object_set_new(o, "avg_tx_bytes", json_integer((json_int_t)R->avg_tx_bytes));
	json_object_set_new(o, "refused_mempool_full", json_integer((json_int_t)R->refused_full));
	json_object_set_new(o, "refused_other", json_integer((json_int_t)R->refused_other));
	json_object_set_new(o, "transport_errors", json_integer((json_int_t)R->errors));
	json_object_set_new(o, "generator_bound", json_boolean(R->generator_bound));
	if (R->error[0])
		json_object_set_new(o, "last_error", json_string(R->error));
	return o;
}

int bench_load_main(int argc, char **argv)
{
	run_t R;
	memset(&R, 0, sizeof(R));
	R.threads = 4;
	R.ibytes = 64;
	int json = 0;
	const char *usage = "bsec bench load --dir D --count N [--rate R] [--threads T] "
			    "[--instruction-bytes B] [--wait] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--wait")) R.wait_commit = 1;
		else if (!strcmp(a, "--dir") && v) R.dir = argv[++i];
		else if (!strcmp(a, "--count") && v) R.count = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--rate") && v) R.rate = atof(argv[++i]);
		else if (!strcmp(a, "--threads") && v) R.threads = atoi(argv[++i]);
		else if (!strcmp(a, "--instruction-bytes") && v) R.ibytes = strtoul(argv[++i], NULL, 10);
		else return cli_usage(usage);
	}
	if (!R.dir || R.count < 1 || R.count > 10000000 || R.threads < 1 || R.threads > 256 || R.rate < 0 ||
	    R.ibytes > TX_MAX_INSTRUCTION)
		return cli_usage(usage);
	if (R.wait_commit && R.rate <= 0)
		return cli_fail("--wait needs --rate (latency is measured at an offered load)");
	if (do_run(&R) < 0)
		return cli_fail("%s", R.error);
	if (json) {
		json_t *o = run_json(&R);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("submitted %zu, committed %zu in %.2f s: %.0f tx/s (offered %.0f tx/s)\n", R.submitted,
		       R.committed, R.elapsed_s, R.tx_per_s, R.offered_per_s);
		if (R.lat_n)
			printf("commit latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms (%zu samples)\n", R.p50, R.p90,
			       R.p99, R.lat_n);
		if (R.refused_other || R.errors)
			printf("refused %zu, transport errors %zu; last: %s\n", R.refused_other, R.errors, R.error);
	}
	return R.committed >= R.submitted && !R.refused_other ? 0 : 1;
}

/* Runs `bsec ARGS...` (this binary) and waits; returns its exit status. */
static int self_run(char *const args[])
{
	char self[4096];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l <= 0)
		return -1;
	self[l] = 0;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", 1);
		if (fd >= 0) {
			dup2(fd, 1);
			close(fd);
		}
		execv(self, args);
		_exit(127);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int bench_throughput_main(int argc, char **argv)
{
	int nodes = 4, json = 0, threads = 8;
	double seconds = 10, lat_rate = 100;
	size_t ibytes = 64;
	const char *scheme = "ed25519";
	const char *usage = "bsec bench throughput --nodes N --seconds S [--scheme S] "
			    "[--instruction-bytes B] [--rate R (latency phase, default 100)] [--threads T] [--json]";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) json = 1;
		else if (!strcmp(a, "--nodes") && v) nodes = atoi(argv[++i]);
		else if (!strcmp(a, "--seconds") && v) seconds = atof(argv[++i]);
		else if (!strcmp(a, "--scheme") && v) scheme = argv[++i];
		else if (!strcmp(a, "--instruction-bytes") && v) ibytes = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--rate") && v) lat_rate = atof(argv[++i]);
		else if (!strcmp(a, "--threads") && v) threads = atoi(argv[++i]);
		else return cli_usage(usage);
	}
	sig_scheme_t sch;
	if (nodes < 1 || nodes > 32 || seconds <= 0 || seconds > 3600 || ibytes > TX_MAX_INSTRUCTION ||
	    threads < 1 || threads > 256 || lat_rate < 0 || sig_scheme_parse(scheme, &sch) < 0)
		return cli_usage(usage);
	char tmpl[] = "/tmp/bsec-bench-XXXXXX";
	if (!mkdtemp(tmpl))
		return cli_fail("cannot create a temporary directory");
	char nbuf[16];
	snprintf(nbuf, sizeof(nbuf), "%d", nodes);
	char *init[] = { "bsec", "devnet", "init", "--dir", tmpl, "--nodes", nbuf, "--scheme", (char *)scheme,
			 "--driver", "sim", "--force", NULL };
	char *up[] = { "bsec", "devnet", "up", "--dir", tmpl, "--detach", "--no-orchestrators", NULL };
	char *down[] = { "bsec", "devnet", "down", "--dir", tmpl, NULL };
	int ret = 1;
	/* the ceiling of this machine, measured now: cores x single-core verify/s / n */
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double verify1 = sig_bench_verify(sch, 1.0);
	double ceiling = (double)cores * verify1 / nodes;
	if (self_run(init) != 0 || self_run(up) != 0) {
		cli_fail("could not start a %d-node devnet in %s", nodes, tmpl);
		self_run(down);
		goto out;
	}
	/* latency phase at a modest offered load */
	run_t lat;
	memset(&lat, 0, sizeof(lat));
	lat.dir = tmpl;
	lat.rate = lat_rate;
	lat.wait_commit = 1;
	lat.threads = 4;
	lat.ibytes = ibytes;
	lat.count = lat_rate > 0 ? (size_t)(lat_rate * (seconds < 5 ? seconds : 5)) : 0;
	if (lat.count && do_run(&lat) < 0) {
		cli_fail("latency phase: %s", lat.error);
		self_run(down);
		goto out;
	}
	/* saturation phase: as fast as the system takes them */
	run_t sat;
	memset(&sat, 0, sizeof(sat));
	sat.dir = tmpl;
	sat.threads = threads;
	sat.ibytes = ibytes;
	sat.seconds = seconds;
	sat.count = (size_t)(ceiling * 1.3 * seconds) + 1000;
	if (do_run(&sat) < 0) {
		cli_fail("saturation phase: %s", sat.error);
		self_run(down);
		goto out;
	}
	self_run(down);
	double paper = 803.3;
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "nodes", json_integer(nodes));
		json_object_set_new(o, "scheme", json_string(scheme));
		json_object_set_new(o, "instruction_bytes", json_integer((json_int_t)ibytes));
		json_object_set_new(o, "cores", json_integer(cores));
		json_object_set_new(o, "tx_per_s", jnum(sat.tx_per_s));
		json_object_set_new(o, "ceiling_tx_per_s", jnum(ceiling));
		json_object_set_new(o, "verify_per_s_one_core", jnum(verify1));
		json_object_set_new(o, "ratio_to_ceiling", jnum(sat.tx_per_s / ceiling));
		json_object_set_new(o, "ratio_to_paper", jnum(sat.tx_per_s / paper));
		json_object_set_new(o, "latency_rate", jnum(lat_rate));
		json_object_set_new(o, "p50_ms", jnum(lat.count ? lat.p50 : NAN));
		json_object_set_new(o, "p90_ms", jnum(lat.count ? lat.p90 : NAN));
		json_object_set_new(o, "p99_ms", jnum(lat.count ? lat.p99 : NAN));
		json_object_set_new(o, "cpu_s_per_tx", jnum(sat.cpu_s_per_tx));
		json_object_set_new(o, "saturation", run_json(&sat));
		if (lat.count)
			json_object_set_new(o, "latency", run_json(&lat));
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("n=%d %s, %zu-byte instructions (%zu-byte txs), %ld cores\n", nodes, scheme, ibytes,
		       sat.avg_tx_bytes, cores);
		printf("throughput  %.0f tx/s committed (%zu txs in %.1f s); ceiling %.0f tx/s (%.2f of it); "
		       "%.1f x the paper's 803 tx/s\n", sat.tx_per_s, sat.committed, sat.elapsed_s, ceiling,
		       sat.tx_per_s / ceiling, sat.tx_per_s / paper);
		printf("cpu         %.1f us per committed tx per replica\n", sat.cpu_s_per_tx * 1e6);
		if (lat.count)
			printf("latency     at %.0f tx/s: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms (%zu samples)\n",
			       lat_rate, lat.p50, lat.p90, lat.p99, lat.lat_n);
		if (sat.generator_bound)
			printf("note: the load generator never filled the mempool; it may have been the bottleneck\n");
	}
	ret = 0;
out:;
	char *rm[] = { "rm", "-rf", tmpl, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		execvp("rm", rm);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return ret;
}
