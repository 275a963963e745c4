/*
 * journal.c — the orchestrator's SQLite journal (journal.h).
 *
 * Schema (schema_version 1):
 *   meta(key, value)      schema_version, chain_id, domain, last_height
 *   entries(request_id PK, height, idx, instruction, owner, state, outcome,
 *           result, error, how, response_id, response_raw, response_height,
 *           started_ms, done_ms, submitted_ms, closed_ms)
 * Every call is one autocommit statement (or one short transaction), and
 * synchronous=FULL makes it durable before the call returns: the intent
 * is on disk before the driver runs, the outcome before the response
 * leaves.
 */
#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "../ledger/tx.h"
#include "../lib/dbmeta.h"

#define JOURNAL_SCHEMA_VERSION 1
#define JOURNAL_BUSY_MS 5000

static const char SCHEMA_SQL[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS entries ("
	" request_id BLOB PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL,"
	" instruction TEXT NOT NULL, owner TEXT NOT NULL, state INTEGER NOT NULL,"
	" outcome INTEGER, result TEXT, error TEXT, how TEXT,"
	" response_id BLOB, response_raw BLOB, response_height INTEGER NOT NULL DEFAULT 0,"
	" started_ms INTEGER NOT NULL, done_ms INTEGER NOT NULL DEFAULT 0,"
	" submitted_ms INTEGER NOT NULL DEFAULT 0, closed_ms INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS entries_state ON entries(state, height, idx);";

struct journal_t {
	sqlite3 *db;
	uint64_t last_height;
};

static const char COLUMNS[] =
	"request_id, height, idx, instruction, owner, state, outcome, result, error, how,"
	" response_id, response_raw, response_height, started_ms, done_ms, submitted_ms, closed_ms";

void journal_entry_clear(journal_entry_t *e)
{
	free(e->instruction);
	free(e->owner_hex);
	free(e->result);
	free(e->error);
	free(e->how);
	free(e->response_raw);
	memset(e, 0, sizeof(*e));
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, errlen, "journal: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int parse_height(const uint8_t *v, size_t len, uint64_t *out)
{
	char *end;
	if (!len || len > 20)
		return -1;
	unsigned long long h = strtoull((const char *)v, &end, 10);
	if (*end)
		return -1;
	*out = h;
	return 0;
}

int journal_open(journal_t **out, const char *dir, const uint8_t chain_id[BSEC_HASH_BYTES],
		 const char *domain, int *fresh, char *err, size_t errlen)
{
	int ret = -1;
	char *path = xasprintf("%s/%s", dir, JOURNAL_DB_NAME);
	journal_t *j = xcalloc(1, sizeof(*j));
	uint8_t *v = NULL;
	size_t vl;
	*out = NULL;
	*fresh = 0;
	if (mkdir_p(dir, 0700) < 0) {
		err_set(err, errlen, "journal directory `%s': %s", dir, strerror(errno));
		goto out;
	}
	if (sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		err_set(err, errlen, "journal `%s': %s", path, j->db ? sqlite3_errmsg(j->db) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(j->db, JOURNAL_BUSY_MS);
	if (exec_sql(j->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", err, errlen) < 0 ||
	    exec_sql(j->db, SCHEMA_SQL, err, errlen) < 0)
		goto out;
	int r = dbmeta_get(j->db, "chain_id", &v, &vl);
	if (r < 0) {
		err_set(err, errlen, "journal `%s': %s", path, sqlite3_errmsg(j->db));
		goto out;
	}
	char want[2 * BSEC_HASH_BYTES + 1];
	hex_encode(want, chain_id, BSEC_HASH_BYTES);
	if (r == 0) {
		char ver[8];
		snprintf(ver, sizeof(ver), "%d", JOURNAL_SCHEMA_VERSION);
		if (exec_sql(j->db, "BEGIN IMMEDIATE", err, errlen) < 0)
			goto out;
		if (dbmeta_put(j->db, "schema_version", ver, strlen(ver)) < 0 ||
		    dbmeta_put(j->db, "chain_id", want, strlen(want)) < 0 ||
		    dbmeta_put(j->db, "domain", domain, strlen(domain)) < 0 ||
		    dbmeta_put(j->db, "last_height", "0", 1) < 0) {
			err_set(err, errlen, "journal `%s': %s", path, sqlite3_errmsg(j->db));
			exec_sql(j->db, "ROLLBACK", NULL, 0);
			goto out;
		}
		if (exec_sql(j->db, "COMMIT", err, errlen) < 0)
			goto out;
		*fresh = 1;
	} else {
		if (vl != 2 * BSEC_HASH_BYTES || memcmp(v, want, vl)) {
			err_set(err, errlen, "journal `%s' belongs to chain `%.64s', not to this genesis's "
				"chain %s; move it away to start over", path, (const char *)v, want);
			goto out;
		}
		free(v);
		v = NULL;
		if (dbmeta_get(j->db, "domain", &v, &vl) != 1 || strcmp((const char *)v, domain)) {
			err_set(err, errlen, "journal `%s' is domain `%s''s, not `%s''s", path,
				v ? (const char *)v : "?", domain);
			goto out;
		}
		free(v);
		v = NULL;
		if (dbmeta_get(j->db, "last_height", &v, &vl) != 1 || parse_height(v, vl, &j->last_height) < 0) {
			err_set(err, errlen, "journal `%s': bad last_height `%s'", path, v ? (const char *)v : "");
			goto out;
		}
	}
	*out = j;
	j = NULL;
	ret = 0;
out:
	free(v);
	free(path);
	journal_close(j);
	return ret;
}

void journal_close(journal_t *j)
{
	if (!j)
		return;
	sqlite3_close(j->db);
	free(j);
}

uint64_t journal_last_height(const journal_t *j)
{
	return j->last_height;
}

int journal_set_last_height(journal_t *j, uint64_t height)
{
	char v[24];
	snprintf(v, sizeof(v), "%llu", (unsigned long long)height);
	if (dbmeta_put(j->db, "last_height", v, strlen(v)) < 0) {
		log_error("journal", "cannot record last height %llu: %s", (unsigned long long)height,
			  sqlite3_errmsg(j->db));
		return -1;
	}
	j->last_height = height;
	return 0;
}

static char *col_text(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static void row_read(sqlite3_stmt *q, journal_entry_t *e)
{
	memset(e, 0, sizeof(*e));
	if (sqlite3_column_bytes(q, 0) == BSEC_HASH_BYTES)
		memcpy(e->request_id, sqlite3_column_blob(q, 0), BSEC_HASH_BYTES);
	e->height = (uint64_t)sqlite3_column_int64(q, 1);
	e->index = (uint32_t)sqlite3_column_int64(q, 2);
	e->instruction = col_text(q, 3);
	e->owner_hex = col_text(q, 4);
	e->state = sqlite3_column_int(q, 5);
	e->outcome = sqlite3_column_type(q, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 6);
	e->result = col_text(q, 7);
	e->error = col_text(q, 8);
	e->how = col_text(q, 9);
	if (sqlite3_column_bytes(q, 10) == BSEC_HASH_BYTES) {
		memcpy(e->response_id, sqlite3_column_blob(q, 10), BSEC_HASH_BYTES);
		e->has_response = 1;
	}
	int n = sqlite3_column_bytes(q, 11);
	if (n > 0) {
		e->response_raw = xmalloc((size_t)n);
		memcpy(e->response_raw, sqlite3_column_blob(q, 11), (size_t)n);
		e->response_len = (size_t)n;
	}
	e->response_height = (uint64_t)sqlite3_column_int64(q, 12);
	e->started_ms = (uint64_t)sqlite3_column_int64(q, 13);
	e->done_ms = (uint64_t)sqlite3_column_int64(q, 14);
	e->submitted_ms = (uint64_t)sqlite3_column_int64(q, 15);
	e->closed_ms = (uint64_t)sqlite3_column_int64(q, 16);
}

int journal_get(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], journal_entry_t *e)
{
	sqlite3_stmt *q = NULL;
	int ret = -1;
	char *sql = xasprintf("SELECT %s FROM entries WHERE request_id = ?", COLUMNS);
	memset(e, 0, sizeof(*e));
	if (sqlite3_prepare_v2(j->db, sql, -1, &q, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(q, 1, id, BSEC_HASH_BYTES, SQLITE_STATIC);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		row_read(q, e);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	}
out:
	if (ret < 0)
		log_error("journal", "lookup failed: %s", sqlite3_errmsg(j->db));
	sqlite3_finalize(q);
	free(sql);
	return ret;
}

/* Runs a prepared statement to completion; 0 or -1 (logged). */
static int step_done(journal_t *j, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		log_error("journal", "%s failed: %s", what, sqlite3_errmsg(j->db));
		return -1;
	}
	return 0;
}

static sqlite3_stmt *prepare(journal_t *j, const char *sql)
{
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(j->db, sql, -1, &q, NULL) != SQLITE_OK) {
		log_error("journal", "cannot prepare `%s': %s", sql, sqlite3_errmsg(j->db));
		sqlite3_finalize(q);
		return NULL;
	}
	return q;
}

int journal_start(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], uint64_t height,
		  uint32_t index, const char *instruction, const char *owner_hex)
{
	sqlite3_stmt *q = prepare(j, "INSERT INTO entries (request_id, height, idx, instruction, owner,"
				     " state, started_ms) VALUES (?, ?, ?, ?, ?, ?, ?)");
	if (!q)
		return -1;
	sqlite3_bind_blob(q, 1, id, BSEC_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)height);
	sqlite3_bind_int64(q, 3, index);
	sqlite3_bind_text(q, 4, instruction, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, owner_hex, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, J_STARTED);
	sqlite3_bind_int64(q, 7, (sqlite3_int64)now_ms());
	return step_done(j, q, "recording an intent");
}

int journal_done(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], uint64_t height,
		 uint32_t index, const char *instruction, const char *owner_hex, int outcome,
		 const char *result, const char *error, const char *how,
		 const uint8_t response_id[BSEC_HASH_BYTES], const uint8_t *raw, size_t len)
{
	uint64_t now = now_ms();
	/* an upsert: the intent row may or may not exist */
	sqlite3_stmt *q = prepare(j,
		"INSERT INTO entries (request_id, height, idx, instruction, owner, state, outcome, result,"
		" error, how, response_id, response_raw, started_ms, done_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)"
		" ON CONFLICT(request_id) DO UPDATE SET state = ?6, outcome = ?7, result = ?8,"
		" error = ?9, how = ?10, response_id = ?11, response_raw = ?12, done_ms = ?13");
	if (!q)
		return -1;
	sqlite3_bind_blob(q, 1, id, BSEC_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)height);
	sqlite3_bind_int64(q, 3, index);
	sqlite3_bind_text(q, 4, instruction ? instruction : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, owner_hex ? owner_hex : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 6, J_DONE);
	sqlite3_bind_int(q, 7, outcome);
	sqlite3_bind_text(q, 8, result ? result : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 9, error ? error : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 10, how, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 11, response_id, BSEC_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(q, 12, raw, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 13, (sqlite3_int64)now);
	return step_done(j, q, "recording an outcome");
}

int journal_set_response(journal_t *j, const uint8_t id[BSEC_HASH_BYTES],
			 const uint8_t response_id[BSEC_HASH_BYTES], const uint8_t *raw, size_t len)
{
	sqlite3_stmt *q = prepare(j, "UPDATE entries SET response_id = ?, response_raw = ?,"
				     " submitted_ms = 0 WHERE request_id = ?");
	if (!q)
		return -1;
	sqlite3_bind_blob(q, 1, response_id, BSEC_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, raw, (int)len, SQLITE_STATIC);
	sqlite3_bind_blob(q, 3, id, BSEC_HASH_BYTES, SQLITE_STATIC);
	return step_done(j, q, "replacing a response");
}

int journal_mark_submitted(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], uint64_t ms)
{
	sqlite3_stmt *q = prepare(j, "UPDATE entries SET submitted_ms = ? WHERE request_id = ?");
	if (!q)
		return -1;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)ms);
	sqlite3_bind_blob(q, 2, id, BSEC_HASH_BYTES, SQLITE_STATIC);
	return step_done(j, q, "marking a submission");
}

int journal_close_entry(journal_t *j, const uint8_t id[BSEC_HASH_BYTES],
			const uint8_t response_id[BSEC_HASH_BYTES], uint64_t height)
{
	sqlite3_stmt *q = prepare(j, "UPDATE entries SET state = ?, response_id = ?,"
				     " response_height = ?, closed_ms = ? WHERE request_id = ?");
	if (!q)
		return -1;
	sqlite3_bind_int(q, 1, J_CLOSED);
	sqlite3_bind_blob(q, 2, response_id, BSEC_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)height);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)now_ms());
	sqlite3_bind_blob(q, 5, id, BSEC_HASH_BYTES, SQLITE_STATIC);
	return step_done(j, q, "closing an entry");
}

int journal_foreach_done(journal_t *j, journal_entry_cb cb, void *ctx)
{
	char *sql = xasprintf("SELECT %s FROM entries WHERE state = %d ORDER BY height, idx", COLUMNS,
			      J_DONE);
	sqlite3_stmt *q = prepare(j, sql);
	int ret = 0, rc;
	free(sql);
	if (!q)
		return -1;
	/* collect first: the callback may write to the journal */
	journal_entry_t *list = NULL;
	size_t n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		list = xrealloc(list, (n + 1) * sizeof(*list));
		row_read(q, &list[n++]);
	}
	if (rc != SQLITE_DONE) {
		log_error("journal", "listing outcomes failed: %s", sqlite3_errmsg(j->db));
		ret = -1;
	}
	sqlite3_finalize(q);
	for (size_t i = 0; i < n; i++) {
		if (!ret)
			ret = cb(ctx, &list[i]);
		journal_entry_clear(&list[i]);
	}
	free(list);
	return ret;
}

int journal_counts(journal_t *j, uint64_t *started, uint64_t *done, uint64_t *closed)
{
	sqlite3_stmt *q = prepare(j, "SELECT state, COUNT(*) FROM entries GROUP BY state");
	int rc;
	*started = *done = *closed = 0;
	if (!q)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		uint64_t c = (uint64_t)sqlite3_column_int64(q, 1);
		switch (sqlite3_column_int(q, 0)) {
		case J_STARTED: *started = c; break;
		case J_DONE: *done = c; break;
		case J_CLOSED: *closed = c; break;
		default: break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* DIR's journal, read-only, beside a running orchestrator; NULL when
 * there is none.  sqlite3_close it. */
static sqlite3 *peek_open(const char *dir)
{
	char *path = xasprintf("%s/%s", dir, JOURNAL_DB_NAME);
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		db = NULL;
	} else {
		sqlite3_busy_timeout(db, 1000);
	}
	free(path);
	return db;
}

int journal_peek_request_height(const char *dir, uint64_t *height)
{
	sqlite3 *db = peek_open(dir);
	sqlite3_stmt *st = NULL;
	int ret = -1;
	if (db && sqlite3_prepare_v2(db, "SELECT coalesce(max(height), 0) FROM entries", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*height = (uint64_t)sqlite3_column_int64(st, 0);
		ret = 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret;
}

int journal_peek_height(const char *dir, uint64_t *height)
{
	sqlite3 *db = peek_open(dir);
	uint8_t *v = NULL;
	size_t vl;
	int ret = -1;
	if (db && dbmeta_get(db, "last_height", &v, &vl) == 1 && parse_height(v, vl, height) == 0)
		ret = 0;
	free(v);
	sqlite3_close(db);
	return ret;
}
