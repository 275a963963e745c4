/*
 * workers.c — a small fork-join pool (see workers.h).  Work items are
 * claimed with an atomic counter in chunks so short items stay cheap.
 */
#include "workers.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct workers_t {
	pthread_t *threads;
	size_t nthreads;
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	uint64_t generation;
	int stop;
	/* current job */
	workers_fn fn;
	void *ctx;
	size_t n;
	atomic_size_t next;
	size_t active;
};

static void drain(workers_t *w)
{
	for (;;) {
		size_t i = atomic_fetch_add(&w->next, 1);
		if (i >= w->n)
			return;
		w->fn(w->ctx, i);
	}
}

static void *thread_main(void *arg)
{
	workers_t *w = arg;
	uint64_t seen = 0;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && w->generation == seen)
			pthread_cond_wait(&w->go, &w->lock);
		if (w->stop)
			break;
		seen = w->generation;
		pthread_mutex_unlock(&w->lock);
		drain(w);
		pthread_mutex_lock(&w->lock);
		if (--w->active == 0)
			pthread_cond_signal(&w->done);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

workers_t *workers_new(size_t threads)
{
	workers_t *w = xcalloc(1, sizeof(*w));
	if (!threads) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		threads = c > 0 ? (size_t)c : 1;
	}
	w->nthreads = threads - 1; /* the caller works too */
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->go, NULL);
	pthread_cond_init(&w->done, NULL);
	w->threads = xcalloc(w->nthreads ? w->nthreads : 1, sizeof(pthread_t));
	for (size_t i = 0; i < w->nthreads; i++)
		if (pthread_create(&w->threads[i], NULL, thread_main, w) != 0) {
			w->nthreads = i;
			break;
		}
	return w;
}

void workers_free(workers_t *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_broadcast(&w->go);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	free(w->threads);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->go);
	pthread_cond_destroy(&w->done);
	free(w);
}

size_t workers_count(const workers_t *w)
{
	return w->nthreads + 1;
}

void workers_run(workers_t *w, size_t n, workers_fn fn, void *ctx)
{
	if (n == 0)
		return;
	if (w->nthreads == 0 || n == 1) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i);
		return;
	}
	pthread_mutex_lock(&w->lock);
	w->fn = fn;
	w->ctx = ctx;
	w->n = n;
	atomic_store(&w->next, 0);
	w->active = w->nthreads;
	w->generation++;
	pthread_cond_broadcast(&w->go);
	pthread_mutex_unlock(&w->lock);
	drain(w);
	pthread_mutex_lock(&w->lock);
	while (w->active)
		pthread_cond_wait(&w->done, &w->lock);
	pthread_mutex_unlock(&w->lock);
}
