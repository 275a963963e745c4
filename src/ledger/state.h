/*
 * state.h — the state derived from the chain, in memory: registered
 * tenants and their SLAs per domain, objects (VMs, VNFs, SFCs) with their
 * owners, requests still waiting for a response, the ids of recent txs
 * (for duplicate checks inside the timestamp window) and request rates.
 *
 * This is the "state interface" that validation (validate.h) reads.  The
 * node keeps one for its tip, the auditor builds one by replaying from the
 * genesis; both run the same validate_tx over it, so they agree.
 *
 * Mutations go through state_apply_tx and are recorded in an undo log:
 * state_mark() / state_rollback() let a replica validate a proposed block
 * (or speculative pool contents) and throw the effects away.
 *
 * Object life cycle, driven by committed txs:
 *   create request -> CREATING; ok response -> ACTIVE; error -> removed
 *   update request -> (unchanged, spec pending); ok -> spec replaced
 *   delete request -> DELETING; ok -> removed; error -> ACTIVE again
 * Names are unique per kind across the consortium; an object lives in the
 * domain that created it.
 *
 * Persistence: every tenant/object changed since state_clear_dirty() is
 * reported by state_foreach_dirty(), or copied out as a delta
 * (state_take_delta), so the store can write exactly those rows inside
 * the block's SQL transaction.  Not thread-safe.
 */
#ifndef BSEC_STATE_H
#define BSEC_STATE_H

#include <stddef.h>
#include <stdint.h>
#include "tx.h"
#include "instr.h"
#include "genesis.h"

typedef enum { OBJ_CREATING = 1, OBJ_ACTIVE = 2, OBJ_DELETING = 3 } obj_status_t;

typedef struct {
	char domain[TX_MAX_DOMAIN + 1];
	pubkey_t key;
	char name[TX_MAX_NAME + 1];
	sla_t sla;
	int revoked;
	uint64_t height;                     /* block of the last change (0: genesis) */
} tenant_rec_t;

typedef struct {
	uint8_t kind;                        /* obj_kind_t */
	char name[INSTR_MAX_NAME + 1];
	char domain[TX_MAX_DOMAIN + 1];
	const pubkey_t *owner;               /* interned (pubkey_intern) */
	uint8_t status;                      /* obj_status_t */
	char *spec;                          /* canonical instruction that defines it now (owned) */
	char *pending_spec;                  /* update waiting for its response, or NULL */
	uint8_t last_request[BSEC_HASH_BYTES];
	uint64_t height;                     /* block of the last change */
} object_rec_t;

typedef struct {
	uint8_t id[BSEC_HASH_BYTES];
	char domain[TX_MAX_DOMAIN + 1];
	uint8_t kind, verb;
	char name[INSTR_MAX_NAME + 1];
	uint64_t height;
	uint64_t timestamp_ms;
} open_request_t;

/* The last attestation (ATTEST tx) recorded for a domain. */
typedef struct {
	char domain[TX_MAX_DOMAIN + 1];
	uint8_t tx_id[BSEC_HASH_BYTES];
	uint64_t attested_height;            /* chain height the digest corresponds to */
	uint32_t objects, problems;
	uint8_t digest[BSEC_HASH_BYTES];
	uint64_t timestamp_ms;               /* the tx's */
	uint64_t height;                     /* block that recorded it */
	uint64_t block_ts;                   /* that block's timestamp */
} attest_rec_t;

typedef struct state_t state_t;

/* The one shared copy of a public key.  Object records point at it rather
 * than carry a 257-byte key each (one tenant owns many objects; a record
 * is ~140 bytes instead of ~390).  The table is process-wide, so states,
 * their deltas and the records a store loads share pointers; it holds the
 * distinct keys that ever owned an object, i.e. registered tenants, until
 * exit.  Thread-safe.  An invalid scheme gives NULL. */
const pubkey_t *pubkey_intern(int scheme, const uint8_t *key);

/* New state at height 0: the genesis's tenants registered.  g must
 * outlive the state. */
state_t *state_new(const genesis_t *g);
void state_free(state_t *st);
const genesis_t *state_genesis(const state_t *st);

/* Height and timestamp of the last block applied (0 for genesis). */
uint64_t state_height(const state_t *st);
uint64_t state_tip_ts(const state_t *st);

/* ---- queries (the state interface) ---- */
/* genesis_provider_of_domain in O(1); NULL when no provider has it. */
const provider_t *state_provider_of_domain(const state_t *st, const char *domain, size_t dlen);
const tenant_rec_t *state_tenant(const state_t *st, const char *domain, size_t dlen,
				 int scheme, const uint8_t *key);
/* Any unrevoked grant of this key in any domain? */
int state_is_tenant(const state_t *st, int scheme, const uint8_t *key);
const object_rec_t *state_object(const state_t *st, int kind, const char *name, size_t nlen);
/* Objects of kind owned by key in domain, counting CREATING and ACTIVE. */
uint32_t state_count(const state_t *st, int scheme, const uint8_t *key, const char *domain,
		     size_t dlen, int kind);
const open_request_t *state_open_request(const state_t *st, const uint8_t id[BSEC_HASH_BYTES]);
/* Is this tx id in the chain among txs whose timestamp is within the
 * window of the tip (or applied speculatively)? */
int state_has_tx(const state_t *st, const uint8_t id[BSEC_HASH_BYTES]);
/* Requests by this tenant in (now_ms - 60 s, now_ms]. */
uint32_t state_rate(const state_t *st, int scheme, const uint8_t *key, uint64_t now_ms);
/* Rates count a request at the timestamp of the block that included it
 * (a tenant chooses its tx timestamps, not the block's).  The SLA's
 * rate_per_min applies per domain: requests to this domain only. */
uint32_t state_rate_in(const state_t *st, const char *domain, size_t dlen, int scheme,
		       const uint8_t *key, uint64_t now_ms);
/* Has this key ever had a record (revoked or not) in any domain? */
int state_was_tenant(const state_t *st, int scheme, const uint8_t *key);
/* How many specs (current or pending) reference the object: VNFs naming
 * a VM with --vm, SFCs naming a VNF in their chain. */
uint32_t state_refs(const state_t *st, int kind, const char *name, size_t nlen);
/* Was this request answered by a response that is still among the recent
 * txs (see state_recent_span_ms)?  Older answers are forgotten. */
int state_was_answered(const state_t *st, const uint8_t id[BSEC_HASH_BYTES]);
/* The spec an update request would leave on object o (which must be the
 * object upd names): o's create-form instruction with VNF config keys
 * merged (the update's value wins) or the SFC chain replaced.  Returns a
 * fresh string (caller frees), or NULL with a reason in err when the
 * result would not be a valid instruction (too many config keys). */
char *state_updated_spec(const object_rec_t *o, const instr_t *upd, char *err, size_t errlen);
/* How far back (ms, before the tip's timestamp) the recent-tx set must
 * reach: max(2 * timestamp window, 60 s).  Ids of txs in blocks older
 * than that can no longer pass the timestamp rule, and requests older
 * than a minute no longer count for rates. */
uint64_t state_recent_span_ms(const state_t *st);

/* Last attestation of a domain, or NULL when it never attested. */
const attest_rec_t *state_attestation(const state_t *st, const char *domain, size_t dlen);
/* Requests of this domain still waiting for a response. */
uint32_t state_open_in(const state_t *st, const char *domain, size_t dlen);

/* ---- mutation ---- */
/* Starts block (height, ts): later applies are attributed to it and old
 * recent-tx ids are pruned.  state_height/state_tip_ts report it from now
 * on (undone by a rollback to a mark taken before). */
void state_begin_block(state_t *st, uint64_t height, uint64_t timestamp_ms);
/* Applies a tx that validate_tx accepted. */
void state_apply_tx(state_t *st, const tx_t *tx);

/* Undo: state_mark returns a position in the undo log; state_rollback
 * undoes every begin_block/apply made since, restoring queries exactly
 * (dirty flags may stay set: they then report current values).  The log
 * grows until state_forget_undo; marks taken before it become invalid. */
typedef size_t state_mark_t;
state_mark_t state_mark(const state_t *st);
void state_rollback(state_t *st, state_mark_t m);
/* Forgets the undo log (after a commit). */
void state_forget_undo(state_t *st);
/* Forgets the undo entries before mark m (those changes become
 * permanent) and keeps the later ones; every mark taken after m must be
 * reduced by the returned count. */
size_t state_trim_undo(state_t *st, state_mark_t m);

/* ---- loading (store.c) ----
 * Only on a fresh state (from state_new), before any state_begin_block;
 * loads are not undoable.  Counters and references are derived from the
 * loaded objects.  For state_load_recent_tx the store passes every tx of
 * the blocks whose timestamp is >= tip_ts - state_recent_span_ms(), with
 * ts = the timestamp of the block that included it and the decoded tx
 * (so duplicates, "already answered" and request rates are rebuilt
 * exactly). */
void state_load_tenant(state_t *st, const tenant_rec_t *t);
void state_load_object(state_t *st, const object_rec_t *o);
void state_load_open_request(state_t *st, const open_request_t *r);
void state_load_recent_tx(state_t *st, const uint8_t id[BSEC_HASH_BYTES], uint64_t ts,
			  const tx_t *tx_or_null);
void state_set_tip(state_t *st, uint64_t height, uint64_t timestamp_ms);
void state_load_attestation(state_t *st, const attest_rec_t *a);

/* ---- persistence ---- */
/* Calls tcb for each tenant and ocb for each object changed since the
 * last state_clear_dirty; obj is NULL when the object was removed (kind
 * and name then identify it). Stops and returns non-zero if a cb does. */
typedef int (*state_tenant_cb)(void *ctx, const tenant_rec_t *t);
typedef int (*state_object_cb)(void *ctx, int kind, const char *name, const object_rec_t *obj);
int state_foreach_dirty(state_t *st, state_tenant_cb tcb, state_object_cb ocb, void *ctx);
/* Same for attestations changed since the last state_clear_dirty (a
 * rolled-back change reports the restored record, or nothing when the
 * domain had none). */
typedef int (*state_attest_cb)(void *ctx, const attest_rec_t *a);
int state_foreach_dirty_attestation(state_t *st, state_attest_cb cb, void *ctx);
void state_clear_dirty(state_t *st);
/* Whether changes are recorded for state_foreach_dirty (on by default);
 * a state that is never persisted (a node's registry of tenants) turns it
 * off so the dirty sets do not grow without bound. */
void state_track_dirty(state_t *st, int on);

/* Compares the records of two states: the tip, present tenants, objects,
 * open requests and attestations (not the recent txs and rates, which a
 * store rebuilds from the blocks themselves).  0 when they agree; 1 with
 * the first difference described in why. */
int state_diff(const state_t *a, const state_t *b, char *why, size_t wl);

/* A delta: copies of the records changed since the last
 * state_clear_dirty (tenants, objects — NULL when removed — and
 * attestations), taken with state_take_delta, which clears the dirty sets
 * as state_clear_dirty does.  A node applies each block once, to a state
 * that may already hold later speculative blocks; the delta taken right
 * after a block's txs holds the rows that block leaves, to be written when
 * it commits.  Records a rollback restored are reported by the next delta
 * with their restored values. */
typedef struct state_delta state_delta_t;
state_delta_t *state_take_delta(state_t *st);
void state_delta_free(state_delta_t *d);
/* For a delta that will not be written (its block was rolled back): marks
 * its records changed again, so the next delta reports them as they are
 * then (the genesis tenants a fresh state marks, say, are not lost with an
 * aborted block), and frees it. */
void state_delta_return(state_t *st, state_delta_t *d);
/* Records in d (tenants + objects + attestations). */
size_t state_delta_size(const state_delta_t *d);
/* Calls each callback that is not NULL for its records, in that order;
 * stops and returns non-zero if one does. */
int state_delta_foreach(const state_delta_t *d, state_tenant_cb tcb, state_object_cb ocb,
			state_attest_cb acb, void *ctx);

/* Iterate all objects / tenants (for APIs and drift checks). */
int state_foreach_object(const state_t *st, state_object_cb cb, void *ctx);
int state_foreach_tenant(const state_t *st, state_tenant_cb cb, void *ctx);
int state_foreach_attestation(const state_t *st, state_attest_cb cb, void *ctx);

#endif
