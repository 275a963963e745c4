/*
 * map.h — an open-addressing hash map from byte-string keys to void*.
 * Keys are copied; values are owned by the caller.  Not thread-safe.
 */
#ifndef BSEC_MAP_H
#define BSEC_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct map_t map_t;

map_t *map_new(void);
void map_free(map_t *m);                 /* does not free values */
void map_free_values(map_t *m, void (*fn)(void *)); /* fn on every value, then map_free */
size_t map_size(const map_t *m);
/* Removes every entry (values are the caller's); small tables keep their size. */
void map_clear(map_t *m);
void *map_get(const map_t *m, const void *key, size_t klen);
/* Inserts or replaces; returns the previous value (or NULL). */
void *map_put(map_t *m, const void *key, size_t klen, void *val);
/* Removes; returns the removed value (or NULL). */
void *map_del(map_t *m, const void *key, size_t klen);
/* Iteration: i from 0; returns 0 at the end.  Do not modify while iterating. */
int map_next(const map_t *m, size_t *i, const void **key, size_t *klen, void **val);

#endif
