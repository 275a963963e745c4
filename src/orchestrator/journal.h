/*
 * journal.h — the orchestrator's write-ahead journal (DESIGN §8,
 * "exactly-once execution"): one SQLite file, DATA_DIR/journal.db, WAL
 * mode, synchronous=FULL, so a row is on disk before the call returns.
 *
 * One row per request of the orchestrator's domain, keyed by request id:
 *
 *   STARTED  the intent: recorded before the driver is called
 *   DONE     the outcome (ok/error, result or error text) and the signed
 *            RESPONSE tx that reports it (its bytes, so a resubmission
 *            after a crash posts the very same tx, with the same id)
 *   CLOSED   a response to the request was seen committed on chain
 *
 * plus meta rows: the chain id and domain the journal belongs to (a
 * journal is never reused for another consortium or domain) and the last
 * height whose every request has an outcome.
 *
 * Not thread-safe: one journal_t per thread.  The file is also read by
 * `bsec devnet status` through journal_peek_height.
 */
#ifndef BSEC_ORCH_JOURNAL_H
#define BSEC_ORCH_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/hash.h"
#include "../lib/util.h"

#define JOURNAL_DB_NAME "journal.db"

typedef enum { J_STARTED = 1, J_DONE = 2, J_CLOSED = 3 } jstate_t;

/* How an outcome was reached (journal column `how'). */
#define J_HOW_EXECUTED "executed"          /* the driver ran the request */
#define J_HOW_RECONCILED "reconciled"      /* after a crash: the driver shows it took effect */
#define J_HOW_REFUSED "refused"            /* permission re-check failed; nothing ran */
#define J_HOW_ON_CHAIN "answered_on_chain" /* an earlier run had answered it (journal lost) */
#define J_HOW_UNKNOWN "unknown"            /* after a crash the platform could not be read:
					    * answered as an error, not run again */

typedef struct journal_t journal_t;

/* One row; strings owned by the entry (journal_entry_clear frees them). */
typedef struct {
	uint8_t request_id[BSEC_HASH_BYTES];
	uint64_t height;
	uint32_t index;
	char *instruction;
	char *owner_hex;
	int state;                    /* jstate_t */
	int outcome;                  /* TX_STATUS_OK / TX_STATUS_ERROR, -1 while STARTED */
	char *result, *error, *how;   /* NULL while STARTED */
	int has_response;
	uint8_t response_id[BSEC_HASH_BYTES];
	uint8_t *response_raw;        /* the signed RESPONSE tx (NULL when none) */
	size_t response_len;
	uint64_t response_height;     /* 0 until CLOSED */
	uint64_t started_ms, done_ms, submitted_ms, closed_ms;
} journal_entry_t;

void journal_entry_clear(journal_entry_t *e);

/* Opens (creating) DIR/journal.db.  A new journal records chain_id and
 * domain and sets *fresh = 1; an existing one must carry the same, else
 * -1 with both quoted.  0 or -1 with a reason in err. */
int journal_open(journal_t **out, const char *dir, const uint8_t chain_id[BSEC_HASH_BYTES],
		 const char *domain, int *fresh, char *err, size_t errlen) WUR;
void journal_close(journal_t *j);

/* Last height whose every request has an outcome (0: none yet). */
uint64_t journal_last_height(const journal_t *j);
int journal_set_last_height(journal_t *j, uint64_t height) WUR;

/* Looks a request up: 1 and *e filled (clear it), 0 when absent, -1 on a
 * storage error. */
int journal_get(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], journal_entry_t *e) WUR;

/* Records the intent (STARTED) of a request before executing it. */
int journal_start(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], uint64_t height,
		  uint32_t index, const char *instruction, const char *owner_hex) WUR;

/* Records the outcome (DONE) with the signed response in one write; the
 * row is created when it does not exist yet (refusals, answers found on
 * chain).  result/error may be NULL (stored as ""). */
int journal_done(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], uint64_t height,
		 uint32_t index, const char *instruction, const char *owner_hex, int outcome,
		 const char *result, const char *error, const char *how,
		 const uint8_t response_id[BSEC_HASH_BYTES], const uint8_t *raw, size_t len) WUR;

/* Replaces the stored response (a re-signed one, when the first fell
 * outside the timestamp window before it was committed). */
int journal_set_response(journal_t *j, const uint8_t id[BSEC_HASH_BYTES],
			 const uint8_t response_id[BSEC_HASH_BYTES], const uint8_t *raw,
			 size_t len) WUR;

/* A node accepted the response at ms. */
int journal_mark_submitted(journal_t *j, const uint8_t id[BSEC_HASH_BYTES], uint64_t ms) WUR;

/* A response (response_id, at height) to the request is committed: the
 * row becomes CLOSED.  0 also when no row has this id. */
int journal_close_entry(journal_t *j, const uint8_t id[BSEC_HASH_BYTES],
			const uint8_t response_id[BSEC_HASH_BYTES], uint64_t height) WUR;

/* Calls cb for every DONE row (outcome recorded, response not yet seen on
 * chain), in chain order.  Stops when cb returns non-zero and returns
 * that value; -1 on a storage error. */
typedef int (*journal_entry_cb)(void *ctx, const journal_entry_t *e);
int journal_foreach_done(journal_t *j, journal_entry_cb cb, void *ctx);

/* Row counts by state (for logs and tests). */
int journal_counts(journal_t *j, uint64_t *started, uint64_t *done, uint64_t *closed) WUR;

/* Reads the last height of DIR/journal.db without writing (another
 * process may hold it open).  0 or -1 when there is no readable journal. */
int journal_peek_height(const char *dir, uint64_t *height) WUR;
/* The same way: the height of the last request the orchestrator began to
 * execute (0 when none).  0 or -1. */
int journal_peek_request_height(const char *dir, uint64_t *height) WUR;

#endif
