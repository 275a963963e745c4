/*
 * dbmeta.h — the `meta' table (key TEXT PRIMARY KEY, value BLOB) that
 * the ledger store and the orchestrator's journal both keep in their
 * SQLite files for the schema version, the chain id and such.  One-off
 * statements: these run at open and now and then, never in a hot path.
 */
#ifndef BSEC_DBMETA_H
#define BSEC_DBMETA_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct sqlite3;

/* meta[key] as a fresh copy in *val (NUL-terminated, the NUL not counted
 * in *len; caller frees).  1 found, 0 absent, -1 error; *val is NULL and
 * *len 0 unless found. */
int dbmeta_get(struct sqlite3 *db, const char *key, uint8_t **val, size_t *len) WUR;

/* Sets meta[key] to the len bytes of val.  0, or -1 on an SQLite error. */
int dbmeta_put(struct sqlite3 *db, const char *key, const void *val, size_t len) WUR;

#endif
