/*
 * dbmeta.c — reading and writing the `meta' table (see dbmeta.h).
 */
#include "dbmeta.h"

#include <sqlite3.h>
#include <string.h>

int dbmeta_get(sqlite3 *db, const char *key, uint8_t **val, size_t *len)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;
	*val = NULL;
	*len = 0;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_DONE) {
		ret = 0;
	} else if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(q, 0);
		*val = xmalloc(n + 1);
		if (n)
			memcpy(*val, sqlite3_column_blob(q, 0), n);
		(*val)[n] = 0;
		*len = n;
		ret = 1;
	}
out:
	sqlite3_finalize(q);
	return ret;
}

int dbmeta_put(sqlite3 *db, const char *key, const void *val, size_t len)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &q,
			       NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, val, (int)len, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_DONE)
		ret = 0;
out:
	sqlite3_finalize(q);
	return ret;
}
