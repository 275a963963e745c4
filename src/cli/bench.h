/*
 * bench.h — what the `bsec bench …` parts share (bench_util.c,
 * bench_load.c): running this binary, throw-away devnets, node status and
 * process CPU, percentiles, and the load generator every system benchmark
 * is built on.  Internal to src/cli; the entry points of the parts are
 * declared at the end and dispatched from cmd_bench.c.
 *
 * Everything here is for one benchmarking process: blocking, and
 * thread-safe only where a function says so.
 */
#ifndef BSEC_CLI_BENCH_H
#define BSEC_CLI_BENCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../lib/https.h"

/* The paper's figures (BSec-NFVO, ICC 2019, Fig. 6 and the size table). */
#define PAPER_OVERHEAD_MS 60.0
#define PAPER_OVERHEAD_PCT 3.0
#define PAPER_VNF_MS 30100
#define PAPER_CONSENSUS_DELAY_N9_S 20.0
#define PAPER_TX_PER_S 803.3
#define PAPER_GROWTH_BPS 100000.0
#define PAPER_TXS_PER_BLOCK 3808

/* ---- processes ---- */

/* Runs this binary with args (args[0] is ignored) and waits.  Its stdout
 * goes to /dev/null unless show_output; stderr is inherited.  Returns the
 * exit status, or -1 when it could not run. */
int bench_self_run(char *const args[], int show_output);

/* Path of this binary (static buffer). */
const char *bench_self_exe(void);

/* rm -rf path (a directory this process made). */
void bench_rmtree(const char *path);

/* utime + stime of a process in seconds, or -1 when it is gone. */
double bench_proc_cpu_s(pid_t pid);

/* pid from DIR/nodeI/node.pid, or -1. */
pid_t bench_node_pid(const char *dir, size_t i);

/* ---- throw-away devnets ---- */

/* A devnet in a fresh directory under /tmp.  For a scheme other than
 * ed25519 the genesis also registers a tenant `bench' whose key (of that
 * scheme) is DIR/tenants/bench.pem, so that requests are signed with the
 * scheme under test (the demo tenant is always ed25519). */
typedef struct {
	char dir[64];
	int nodes;
	char scheme[24];
	int made;        /* the directory exists */
	int up;          /* processes may be running */
} bench_net_t;

/* mkdtemp + `devnet init` (+ the bench tenant).  driver: sim|netns.
 * view_timeout_ms 0: the default.  0 or -1 with a reason in err (the
 * directory is removed again). */
int bench_net_create(bench_net_t *b, int nodes, const char *scheme, const char *driver,
		     long view_timeout_ms, char *err, size_t errlen);
/* `devnet up --detach` (with orchestrators or not).  0 / -1. */
int bench_net_up(bench_net_t *b, int orchestrators, char *err, size_t errlen);
/* Stops the nodes, deletes their ledgers (keys, genesis and configs stay)
 * and starts them again without orchestrators: an empty chain, no backlog.
 * 0 / -1. */
int bench_net_reset(bench_net_t *b, char *err, size_t errlen);
/* `devnet down` when up, then removes the directory.  A zeroed one is fine. */
void bench_net_destroy(bench_net_t *b);

/* Adds tenant `name' with a fresh key of `scheme' (saved to
 * DIR/tenants/NAME.pem) and an allow-all SLA on every domain to
 * DIR/genesis.json.  Only before the first `up'.  0 / -1. */
int bench_genesis_add_tenant(const char *dir, const char *name, const char *scheme, char *err,
			     size_t errlen);

/* Sets "driver" keys of every DIR/orchI/config.json (sim: latency_ms,
 * time_scale; a NULL latency object leaves it).  0 / -1. */
int bench_set_sim(const char *dir, int nodes, json_t *latency_ms, double time_scale);

/* ---- node observations ---- */

/* GET /v1/status of a node API URL; *out (caller decrefs) or -1. */
int bench_status(const char *url, const https_trust_t *trust, int timeout_ms, json_t **out);
/* One integer field of /v1/status, or -1.  Each call opens a connection:
 * for polling use the keep-alive forms below. */
long long bench_status_int(const char *url, const https_trust_t *trust, const char *field);
/* The same over a keep-alive client (https_client_new with a short timeout). */
int bench_status_c(https_client_t *c, json_t **out);
long long bench_status_c_int(https_client_t *c, const char *field);

/* ---- statistics ---- */

/* The p-th percentile (0..100, nearest rank) of sorted v[0..n); NAN when n is 0. */
double bench_pct(const double *v, size_t n, double p);
/* Sorts v in place. */
void bench_sort(double *v, size_t n);
/* {"p50":…,"p90":…,"p99":…,"p99.9":…,"min":…,"max":…,"mean":…} of sorted v. */
json_t *bench_pct_json(const double *v, size_t n);
/* The CDF of sorted v as [[value, fraction], …] at fractions 0.01 … 1. */
json_t *bench_cdf_json(const double *v, size_t n);
/* JSON number, or null for NaN/inf. */
json_t *bench_jnum(double v);
/* Least-squares slope of y over x (NAN with fewer than 2 points). */
double bench_slope(const double *x, const double *y, size_t n);

/* Prints o (stolen) indented to stdout. */
void bench_print_json(json_t *o);

/* Parses "1,4,7" or "1-9" or a mix into out[] (at most max); returns the
 * count, or -1 on a bad list (each value within lo..hi). */
int bench_parse_list(const char *s, long *out, int max, long lo, long hi);

/* ---- the load generator ---- */

/* One load run against a running devnet: pre-sign `count' requests (on
 * every core, before the clock starts) and offer them to the nodes over
 * keep-alive HTTPS connections in batches (POST /v1/transactions/batch),
 * paced open-loop at `rate' tx/s or as fast as the nodes take them.  Txs
 * refused because a pool was full are offered again.  When `latency' is
 * set, a watcher long-polls node `watch' for committed blocks and times
 * each tx from the start of the POST that carried it to the moment node
 * `watch' reports its block. */
typedef struct {
	/* what to offer */
	const char *dir;             /* devnet directory */
	const char *key_path;        /* tenant key; NULL: DIR/tenants/bench.pem if present, else demo.pem */
	size_t count;                /* pre-signed txs: the most that can be offered */
	double rate;                 /* tx/s; 0 = as fast as the system takes them */
	double seconds;              /* offer for at most this long; 0 = until count are offered */
	int threads;                 /* submitting connections (default 4) */
	size_t ibytes;               /* instruction bytes */
	const int *targets;          /* node indices to submit to; NULL = all */
	size_t ntargets;
	int latency;                 /* time every tx through a block watcher */
	int watch;                   /* the node whose commits count (default 0) */
	double drain_s;              /* wait this long at most for the commits after offering (default 60) */
	size_t window;               /* unpaced: most accepted-but-uncommitted txs (0: 16384) */
	int no_drain;                /* do not wait for the backlog after offering (the caller resets
					the devnet); overall figures then cover the offering only */
	volatile int *abort_flag;    /* optional: stop offering when it becomes non-zero */
	/* results */
	size_t signed_txs, submitted, committed;
	size_t refused_full, refused_other, errors;
	double sign_s;               /* pre-signing time (not in any rate) */
	double offer_s;              /* from the first POST to the end of offering */
	double elapsed_s;            /* from the first POST until all submitted are committed (or drain_s) */
	double tx_per_s;             /* unpaced: steady when measurable, else overall; paced: overall */
	int steady;                  /* tx_per_s is the steady rate */
	double tx_per_s_steady;      /* commits/s at node `watch' while offering, after the start-up */
	double tx_per_s_overall;     /* committed / elapsed_s */
	double steady_window_s;      /* how long the steady rate was measured over */
	double first_commit_s;       /* start-up: when node `watch' had committed 64 txs or 2 % of the load */
	double offered_per_s;        /* submitted / offer_s */
	double cpu_s_per_tx;         /* node CPU per committed tx per replica: over the steady window
					when the rate is steady, else cpu_s_per_tx_overall */
	double cpu_s_per_tx_overall; /* all node CPU over elapsed_s / n / committed */
	double node_cpu_s;           /* all nodes together, over elapsed_s */
	double gen_cpu_s;            /* this process's CPU over elapsed_s */
	double other_cpu_cores;      /* cores busy with neither the nodes nor this process (noise) */
	double backlog_end;          /* submitted - committed at node `watch' when offering ended */
	double lag_p99_ms;           /* paced: how far behind schedule the generator posted (p99) */
	size_t avg_tx_bytes;
	uint64_t h0, h1;             /* node `watch' height before and after */
	int view_changes;            /* how many views node `watch' moved on meanwhile */
	double blk_mean, blk_max;    /* txs per block in (h0, h1] (mean; max of the blocks read) */
	int generator_bound;         /* the generator, not the system, set the pace */
	char bound_why[160];
	double *lat_ms;              /* sorted latencies of committed txs (lat_n), owned */
	size_t lat_n;
	char error[600];
} bench_run_t;

/* Runs it; 0, or -1 with R->error.  Results are valid after 0 (and
 * partially after -1); bench_run_free releases lat_ms. */
int bench_run(bench_run_t *R);
void bench_run_free(bench_run_t *R);
/* The results as JSON (with the CDF when cdf). */
json_t *bench_run_json(const bench_run_t *R, int cdf);

/* The tenant key bench_run uses for dir (fresh string). */
char *bench_tenant_key(const char *dir);

/* ---- the WAN profile's delay relay (bench_relay.c) ---- */

typedef struct bench_relay_t bench_relay_t;
/* Starts one thread relaying each listen_at[i] ("host:port") to
 * target[i], every segment held delay_ms in each direction.  Returns the
 * relay (stop it with bench_relay_stop), or NULL with a reason. */
bench_relay_t *bench_relay_start(const char *const *listen_at, const char *const *target, size_t n,
				 unsigned delay_ms, char *err, size_t errlen);
void bench_relay_stop(bench_relay_t *r);       /* NULL is fine */
unsigned long long bench_relay_bytes(const bench_relay_t *r);   /* forwarded so far */

/* ---- parts (argv[0] is the part's name; exit codes as cli.h) ---- */

int bench_sfc_main(int argc, char **argv);          /* bench_sfc.c */
int bench_growth_main(int argc, char **argv);       /* bench_growth.c */
int bench_viewchange_main(int argc, char **argv);   /* bench_faults.c */
int bench_catchup_main(int argc, char **argv);      /* bench_faults.c */
int bench_wan_main(int argc, char **argv);          /* bench_wan.c */
int bench_relay_main(int argc, char **argv);        /* bench_relay.c */
int bench_overload_main(int argc, char **argv);     /* bench_overload.c */

#endif
