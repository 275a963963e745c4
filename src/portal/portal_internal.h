/*
 * portal_internal.h — what the portal's files share (not a public header):
 * the portal_t, the node side (portal_nodes.c: one follower thread that
 * fetches and checks committed blocks, two worker threads that run node
 * API calls with fail-over), and the request index (portal_index.c: every
 * request with its response, per object, for histories and for deciding
 * whose a tx is).
 *
 * Threads: the event loop thread owns the HTTPS server, the chain state,
 * the index and the sessions.  The follower and the workers only talk to
 * the nodes; they hand their results over through queues under p->mu and
 * wake the loop with an eventfd.  Nothing else is shared.
 */
#ifndef BSEC_PORTAL_INTERNAL_H
#define BSEC_PORTAL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "portal.h"
#include "../ledger/block.h"
#include "../ledger/genesis.h"
#include "../ledger/instr.h"
#include "../ledger/state.h"
#include "../lib/https.h"
#include "../lib/map.h"
#include "../lib/nodeapi.h"

#define PORTAL_WORKERS 2
#define PORTAL_MAX_RECORDS 200000     /* request records kept in the index */

struct event;
struct event_base;

/* One node API.  Its post and poll connections stay NULL: the follower
 * and each worker keep their own connections (portal_nodes.c). */
typedef nodeapi_t pnode_t;

typedef struct portal_t portal_t;
typedef struct pjob_t pjob_t;

/* Called on the loop thread when a job is done; frees nothing (the
 * caller of portal_job_free does). */
typedef void (*pjob_done_fn)(portal_t *p, pjob_t *j);

/* A node API call.  The loop thread fills the request part, a worker the
 * result part; the loop thread frees it after done. */
struct pjob_t {
	char *method, *path;
	uint8_t *body;
	size_t len;
	int is_tx;               /* a POST /v1/transactions: 503 is retried, 4xx is final */
	int status;              /* HTTP status, 0 when no node answered */
	uint8_t *resp;
	size_t resp_len;
	char err[512];           /* when status is 0: every node's reason */
	const char *node;        /* name of the node that answered */
	https_req_t *req;        /* the deferred request, NULL once its client is gone */
	atomic_int gone;         /* set with req = NULL: a worker skips a read nobody awaits */
	pjob_done_fn done;
	void *ctx;
	uint8_t id[BSEC_HASH_BYTES];  /* for the handler's use */
	pjob_t *next;
};

/* A request and what became of it (portal_index.c). */
typedef struct rec_t {
	uint8_t id[BSEC_HASH_BYTES];
	uint8_t scheme;
	uint8_t key[SIG_MAX_PUB];            /* the tenant who signed it */
	char domain[TX_MAX_DOMAIN + 1];
	char *instruction;
	uint8_t kind, verb;
	char name[INSTR_MAX_NAME + 1];
	uint64_t ts;                         /* signed at (tx timestamp) */
	uint64_t height, block_ts;           /* committed */
	uint32_t index;                      /* position in its block */
	int answered;
	uint8_t resp_id[BSEC_HASH_BYTES];
	uint8_t status;                      /* TX_STATUS_* */
	char *result, *error;                /* as UTF-8 (utf8_lossy), may hold NULs */
	size_t result_len, error_len;
	int executor;                        /* provider index, -1 unknown */
	uint64_t resp_ts, resp_height, resp_block_ts;
	uint32_t resp_index;
	struct rec_t *older, *newer;         /* all records, in chain order */
} rec_t;

/* The requests about one object (kind/name), oldest first. */
typedef struct {
	rec_t **r;
	size_t n, cap;
} hist_t;

struct portal_t {
	portal_config_t cfg;
	genesis_t g;
	int have_g;
	struct event_base *base;
	https_server_t *srv;
	struct event *wake_ev, *gc_ev, *sig_int, *sig_term;
	int efd;

	/* chain state, applied on the loop thread */
	state_t *st;
	uint64_t height;
	uint8_t tip_hash[BSEC_HASH_BYTES];
	uint64_t tip_ts;

	/* nodes and threads */
	pnode_t *nodes;
	size_t n_nodes;
	pthread_t follower, workers[PORTAL_WORKERS];
	int threads_started, n_workers;
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* jobs queued, block queue drained, stop */
	int stop;
	pjob_t *jobs, *jobs_tail;    /* to do */
	size_t n_jobs;               /* queued, at most PORTAL_MAX_JOBS */
	pjob_t *done, *done_tail;    /* done, for the loop */
	block_t **blocks;            /* checked blocks, for the loop */
	size_t n_blocks;
	uint64_t node_tip;           /* the followed node's height */
	size_t job_cur;              /* node the workers start with */
	char follow_node[128];

	/* index */
	map_t *recs;                 /* request id -> rec_t */
	map_t *resps;                /* response id -> rec_t */
	map_t *hists;                /* "kind/name" -> hist_t */
	rec_t *oldest, *newest;
	size_t n_recs;

	/* sessions, sign-in nonces, long polls (portal.c) */
	map_t *sessions;
	map_t *nonces;               /* challenges used by a sign-in, until they expire */
	uint8_t nonce_key[32];       /* authenticates the challenges it hands out */
	struct ewait_t *ewaits;
	uint64_t started_ms;
};

/* ---- portal_nodes.c ---- */

/* Builds the node list (config's, or the genesis's APIs); 0 or -1 with a
 * reason. */
int portal_nodes_setup(portal_t *p, char *err, size_t errlen) WUR;
void portal_nodes_free(portal_t *p);
/* Starts the follower and the workers (after p->mu, p->cv, p->efd). */
int portal_threads_start(portal_t *p, char *err, size_t errlen) WUR;
/* Tells the threads to stop and joins them. */
void portal_threads_stop(portal_t *p);
/* Queues a job (the loop thread hands it over; the worker fills the
 * result; portal_drain calls j->done on the loop thread). */
pjob_t *portal_job_new(const char *method, const char *path, const uint8_t *body, size_t len);
/* Queues j for a worker; -1 (j not queued) when PORTAL_MAX_JOBS wait
 * already: the caller answers 503 and frees it. */
#define PORTAL_MAX_JOBS 256
int portal_job_submit(portal_t *p, pjob_t *j) WUR;
void portal_job_free(pjob_t *j);
/* Wakes the loop (from any thread). */
void portal_wake(portal_t *p);
/* Loop thread: takes every checked block and finished job out of the
 * queues; blocks go to portal_apply_block, jobs to their done. */
void portal_drain(portal_t *p);

/* ---- portal_index.c ---- */

void portal_index_init(portal_t *p);
void portal_index_free(portal_t *p);
/* Applies block b to p->st and the index (loop thread). */
void portal_apply_block(portal_t *p, const block_t *b);
/* The record of request or response id, or NULL. */
rec_t *portal_rec_of_tx(const portal_t *p, const uint8_t id[BSEC_HASH_BYTES], int *is_response);
const hist_t *portal_hist(const portal_t *p, int kind, const char *name);
/* Is the rec signed by (scheme, key)? */
int portal_rec_is(const rec_t *r, int scheme, const uint8_t *key);
/* JSON of a record (jansson object). */
struct json_t *portal_rec_json(const portal_t *p, const rec_t *r);

/* ---- portal.c ---- */

/* Tells long polls that the chain moved (loop thread). */
void portal_notify(portal_t *p);

#endif
