/*
 * workers.h — a fixed pool of threads for data-parallel work (signature
 * verification of a block's txs).  workers_run(pool, n, fn, ctx) calls
 * fn(ctx, i) for every i in [0, n) spread over the pool's threads and the
 * caller's, and returns when all are done.  fn must be thread-safe.
 * One caller at a time.
 */
#ifndef BSEC_WORKERS_H
#define BSEC_WORKERS_H

#include <stddef.h>

typedef struct workers_t workers_t;
typedef void (*workers_fn)(void *ctx, size_t i);

/* threads = 0: one per online core (the caller counts as one). */
workers_t *workers_new(size_t threads);
void workers_free(workers_t *w);
size_t workers_count(const workers_t *w);
void workers_run(workers_t *w, size_t n, workers_fn fn, void *ctx);

#endif
