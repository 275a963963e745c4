/*
 * portal_nodes.c — the portal's side of the node API (portal_internal.h).
 *
 *   follower  one thread: GET /v1/blocks/raw?from=H&limit=N&wait=MS on
 *             the node in use (a long poll once caught up), every block
 *             checked by follow_page_next (hash links, proposer
 *             signature, tx root, commit certificate) before it is queued
 *             for the loop thread.  A node that fails or serves a bad
 *             block is left for the next; when idle, another node is asked
 *             now and then whether it has more (ours may be lagging).
 *   workers   PORTAL_WORKERS threads running queued API calls (tx
 *             submission, tx and block look-ups) on the node in use,
 *             failing over to the next node when one does not answer.  A
 *             signed tx posted again to another node is the same tx (its
 *             id leaves out the signature), so fail-over never doubles it.
 *
 * The https_client_t objects belong to the thread that made them.
 */
#include "portal_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../orchestrator/follow.h"

#define MOD "portal"
#define POLL_WAIT_MS 2000            /* one long poll for the next block */
#define PAGE_BLOCKS 8
#define CALL_TIMEOUT_MS 10000
#define MAX_QUEUED_BLOCKS 32
#define PROBE_MS 10000               /* idle: ask another node this often */
#define RETRY_MAX_MS 5000
#define MAX_RESPONSE (BLOCK_MAX_BYTES + (16u << 20)) /* a raw page: ended past 8 MB, or one block */

int portal_nodes_setup(portal_t *p, char *err, size_t errlen)
{
	return follow_nodes_setup(&p->nodes, &p->n_nodes, &p->g, p->cfg.nodes, p->cfg.n_nodes, p->cfg.ca, 0,
				  p->cfg.path, err, errlen);
}

void portal_nodes_free(portal_t *p)
{
	nodeapi_free(p->nodes, p->n_nodes);
	p->nodes = NULL;
	p->n_nodes = 0;
}

/* ---- waking and stopping -------------------------------------------------- */

void portal_wake(portal_t *p)
{
	uint64_t one = 1;
	if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		/* the counter is already non-zero: the loop wakes anyway */
	}
}

static int stopping(portal_t *p)
{
	pthread_mutex_lock(&p->mu);
	int s = p->stop;
	pthread_mutex_unlock(&p->mu);
	return s;
}

/* Sleeps ms, in slices, returning early when stopping. */
static void nap(portal_t *p, unsigned ms)
{
	while (ms && !stopping(p)) {
		unsigned s = ms < 100 ? ms : 100;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)s * 1000000L };
		nanosleep(&ts, NULL);
		ms -= s;
	}
}

/* ---- the follower ------------------------------------------------------------ */

typedef struct {
	portal_t *p;
	https_client_t **clients;    /* one per node */
	uint64_t height;             /* last block queued */
	uint8_t prev[BSEC_HASH_BYTES];
	size_t cur;
} follower_t;

/* Queues a checked block for the loop, waiting while the queue is full.
 * -1 when stopping (the block is then freed). */
static int queue_block(portal_t *p, block_t *b)
{
	pthread_mutex_lock(&p->mu);
	while (p->n_blocks >= MAX_QUEUED_BLOCKS && !p->stop)
		pthread_cond_wait(&p->cv, &p->mu);
	int stop = p->stop;
	if (!stop) {
		p->blocks = xrealloc(p->blocks, (p->n_blocks + 1) * sizeof(*p->blocks));
		p->blocks[p->n_blocks++] = b;
	}
	pthread_mutex_unlock(&p->mu);
	if (stop) {
		block_clear(b);
		free(b);
		return -1;
	}
	portal_wake(p);
	return 0;
}

/* Fetches the blocks after f->height from node i.  Returns how many were
 * queued (0: none there), -2 when the node failed or served a bad block,
 * -1 when stopping. */
static int fetch_from(follower_t *f, size_t i, unsigned wait_ms)
{
	portal_t *p = f->p;
	const pnode_t *nd = &p->nodes[i];
	char *path = xasprintf("/v1/blocks/raw?from=%llu&limit=%d&wait=%u",
			       (unsigned long long)f->height + 1, PAGE_BLOCKS, wait_ms);
	uint8_t *resp = NULL;
	size_t rlen;
	int status, ret = -2, done = 0;
	char err[512];
	follow_page_t pg;
	if (nodeapi_request(&f->clients[i], nd, (int)wait_ms + CALL_TIMEOUT_MS, MAX_RESPONSE, "GET", path, NULL,
			    0, &status, &resp, &rlen, err, sizeof(err)) < 0) {
		log_warn(MOD, "node %s (%s): %s", nd->name, nd->url, err);
		goto out;
	}
	if (status != 200 || follow_page_open(&pg, resp, rlen, err, sizeof(err)) < 0) {
		log_warn(MOD, "node %s (%s): GET %s: HTTP %d %s", nd->name, nd->url, path, status,
			 status == 200 ? err : "");
		goto out;
	}
	pthread_mutex_lock(&p->mu);
	if (pg.tip > p->node_tip)
		p->node_tip = pg.tip;
	snprintf(p->follow_node, sizeof(p->follow_node), "%s", nd->name);
	pthread_mutex_unlock(&p->mu);
	for (;;) {
		block_t *b = xcalloc(1, sizeof(*b));
		const uint8_t *prev = f->height ? f->prev : p->g.chain_id;
		int r = follow_page_next(&pg, b, &p->g, f->height + 1, prev, err, sizeof(err));
		if (r <= 0) {
			free(b);
			if (r == 0)
				break;
			log_warn(MOD, "node %s (%s) served a block that does not verify: %s", nd->name, nd->url,
				 err);
			ret = done ? done : -2;
			goto out;
		}
		uint8_t hash[BSEC_HASH_BYTES];
		memcpy(hash, b->hdr.hash, BSEC_HASH_BYTES);
		if (queue_block(p, b) < 0) {
			ret = -1;
			goto out;
		}
		f->height++;
		memcpy(f->prev, hash, BSEC_HASH_BYTES);
		done++;
	}
	ret = done;
out:
	free(resp);
	free(path);
	return ret;
}

static void *follower_main(void *arg)
{
	portal_t *p = arg;
	follower_t f = { .p = p };
	f.clients = xcalloc(p->n_nodes, sizeof(*f.clients));
	unsigned backoff = 200;
	size_t failed = 0, probe = 0;
	uint64_t last_probe = mono_us();
	while (!stopping(p)) {
		uint64_t t0 = mono_us();
		int r = fetch_from(&f, f.cur, POLL_WAIT_MS);
		/* a node that does not hold the poll (one from before raw pages
		 * took `wait') answers an empty page at once: do not spin on it */
		if (r == 0 && mono_us() - t0 < POLL_WAIT_MS * 500ull)
			nap(p, 200);
		if (r == -1)
			break;
		if (r == -2) {
			size_t next = (f.cur + 1) % p->n_nodes;
			if (next != f.cur)
				log_warn(MOD, "failing over from node %s to node %s", p->nodes[f.cur].name,
					 p->nodes[next].name);
			f.cur = next;
			if (++failed % p->n_nodes == 0) {
				nap(p, backoff);
				backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			}
			continue;
		}
		failed = 0;
		backoff = 200;
		if (r == 0 && p->n_nodes > 1 && mono_us() - last_probe >= PROBE_MS * 1000ull) {
			last_probe = mono_us();
			size_t k = (f.cur + 1 + probe++ % (p->n_nodes - 1)) % p->n_nodes;
			int got = fetch_from(&f, k, 0);
			if (got == -1)
				break;
			if (got > 0) {
				log_info(MOD, "node %s is behind node %s; following %s now", p->nodes[f.cur].name,
					 p->nodes[k].name, p->nodes[k].name);
				f.cur = k;
			}
		}
	}
	for (size_t i = 0; i < p->n_nodes; i++)
		https_client_free(f.clients[i]);
	free(f.clients);
	return NULL;
}

/* ---- the workers ---------------------------------------------------------------- */

pjob_t *portal_job_new(const char *method, const char *path, const uint8_t *body, size_t len)
{
	pjob_t *j = xcalloc(1, sizeof(*j));
	j->method = xstrdup(method);
	j->path = xstrdup(path);
	if (len) {
		j->body = xmalloc(len);
		memcpy(j->body, body, len);
		j->len = len;
	}
	return j;
}

void portal_job_free(pjob_t *j)
{
	if (!j)
		return;
	free(j->method);
	free(j->path);
	free(j->body);
	free(j->resp);
	free(j);
}

int portal_job_submit(portal_t *p, pjob_t *j)
{
	pthread_mutex_lock(&p->mu);
	if (p->n_jobs >= PORTAL_MAX_JOBS) {
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	p->n_jobs++;
	j->next = NULL;
	if (p->jobs_tail)
		p->jobs_tail->next = j;
	else
		p->jobs = j;
	p->jobs_tail = j;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Runs job j with the worker's clients, failing over across nodes: a node
 * that does not answer or answers 5xx is left for the next (a 503 to a tx
 * is retried on the same node a few times first). */
static void job_run(portal_t *p, https_client_t **clients, pjob_t *j)
{
	pthread_mutex_lock(&p->mu);
	size_t start = p->job_cur;
	pthread_mutex_unlock(&p->mu);
	size_t used = 0;
	j->err[0] = 0;
	for (size_t t = 0; t < p->n_nodes && !stopping(p); t++) {
		size_t i = (start + t) % p->n_nodes;
		const pnode_t *nd = &p->nodes[i];
		char err[256];
		int status = 0;
		for (int attempt = 0; attempt < 10; attempt++) {
			free(j->resp);
			j->resp = NULL;
			if (nodeapi_request(&clients[i], nd, CALL_TIMEOUT_MS, MAX_RESPONSE, j->method, j->path,
					    j->body, j->len, &status, &j->resp, &j->resp_len, err, sizeof(err)) < 0)
				status = 0;
			if (!(j->is_tx && status == 503))
				break;
			nap(p, 300);
		}
		if (status && status < 500) {
			j->status = status;
			j->node = nd->name;
			if (i != start) {
				pthread_mutex_lock(&p->mu);
				p->job_cur = i;
				pthread_mutex_unlock(&p->mu);
			}
			return;
		}
		if (status)
			snprintf(err, sizeof(err), "HTTP %d", status);
		int w = snprintf(j->err + used, sizeof(j->err) - used, "%s%s: %s", used ? "; " : "", nd->name, err);
		if (w > 0)
			used = used + (size_t)w < sizeof(j->err) ? used + (size_t)w : sizeof(j->err) - 1;
		log_warn(MOD, "node %s (%s) did not answer %s %s: %s", nd->name, nd->url, j->method, j->path, err);
	}
	free(j->resp);
	j->resp = NULL;
	j->resp_len = 0;
	j->status = 0;
}

static void *worker_main(void *arg)
{
	portal_t *p = arg;
	https_client_t **clients = xcalloc(p->n_nodes, sizeof(*clients));
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->jobs && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		pjob_t *j = p->jobs;
		p->jobs = j->next;
		if (!p->jobs)
			p->jobs_tail = NULL;
		p->n_jobs--;
		pthread_mutex_unlock(&p->mu);
		/* a read whose client has gone is not worth a node's time (a tx
		 * is forwarded all the same: the tenant signed it to be run) */
		if (!j->is_tx && atomic_load(&j->gone)) {
			j->status = 0;
			snprintf(j->err, sizeof(j->err), "the client has gone");
		} else {
			job_run(p, clients, j);
		}
		pthread_mutex_lock(&p->mu);
		j->next = NULL;
		if (p->done_tail)
			p->done_tail->next = j;
		else
			p->done = j;
		p->done_tail = j;
		pthread_mutex_unlock(&p->mu);
		portal_wake(p);
	}
	for (size_t i = 0; i < p->n_nodes; i++)
		https_client_free(clients[i]);
	free(clients);
	return NULL;
}

int portal_threads_start(portal_t *p, char *err, size_t errlen)
{
	if (pthread_create(&p->follower, NULL, follower_main, p) != 0) {
		err_set(err, errlen, "cannot start the follower thread");
		return -1;
	}
	p->threads_started = 1;
	for (int i = 0; i < PORTAL_WORKERS; i++) {
		if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
			err_set(err, errlen, "cannot start a worker thread");
			return -1;
		}
		p->n_workers++;
	}
	return 0;
}

void portal_threads_stop(portal_t *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	if (p->threads_started)
		pthread_join(p->follower, NULL);
	for (int i = 0; i < p->n_workers; i++)
		pthread_join(p->workers[i], NULL);
	p->threads_started = 0;
	p->n_workers = 0;
	/* what is left in the queues */
	for (size_t i = 0; i < p->n_blocks; i++) {
		block_clear(p->blocks[i]);
		free(p->blocks[i]);
	}
	free(p->blocks);
	p->blocks = NULL;
	p->n_blocks = 0;
	for (pjob_t *q = p->jobs; q;) {
		pjob_t *next = q->next;
		portal_job_free(q);
		q = next;
	}
	for (pjob_t *q = p->done; q;) {
		pjob_t *next = q->next;
		portal_job_free(q);
		q = next;
	}
	p->jobs = p->jobs_tail = p->done = p->done_tail = NULL;
	p->n_jobs = 0;
}

void portal_drain(portal_t *p)
{
	uint64_t v;
	if (read(p->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing counted, drain anyway */
	}
	pthread_mutex_lock(&p->mu);
	block_t **blocks = p->blocks;
	size_t nb = p->n_blocks;
	pjob_t *done = p->done;
	p->blocks = NULL;
	p->n_blocks = 0;
	p->done = p->done_tail = NULL;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < nb; i++) {
		portal_apply_block(p, blocks[i]);
		block_clear(blocks[i]);
		free(blocks[i]);
	}
	free(blocks);
	if (nb)
		portal_notify(p);
	while (done) {
		pjob_t *next = done->next;
		done->done(p, done);
		portal_job_free(done);
		done = next;
	}
}
