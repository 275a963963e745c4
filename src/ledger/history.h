/*
 * history.h — who asked what, who answered, and how it went (DESIGN §8
 * "Audit": timelines and accountability), computed from a ledger's
 * indexes (store_query_txs) so that the CLI (`bsec audit history`,
 * `bsec audit accountability` on a data directory) and the node API
 * (GET /v1/history, GET /v1/accountability) give the same facts in the
 * same JSON.  Times are block timestamps: a request "took" the time from
 * the block that committed it to the block that committed its response.
 *
 * These read a node's indexes and so trust its store; `bsec audit verify`
 * is what checks the chain itself.  Not thread-safe (one store_t).
 */
#ifndef BSEC_HISTORY_H
#define BSEC_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include "genesis.h"
#include "state.h"
#include "store.h"

struct json_t;

/* Exactly one of object (kind + name), tenant or domain. */
typedef struct {
	int obj_kind;                 /* with obj_name */
	const char *obj_name;
	const pubkey_t *tenant;
	const char *domain;
	uint64_t from_height;         /* 0 or 1: from the start */
	uint32_t from_index;          /* and from this tx of that block on */
	size_t limit;                 /* requests per page, 0: all */
} history_filter_t;

/* The requests matching f in chain order, each with its response; a page
 * holds at most f->limit, and next_from/next_index is where the next
 * matching request is (null: none):
 *   {"filter": {...}, "count": N, "next_from": H|null, "next_index": I|null,
 *    "entries": [
 *     {"request_id", "height", "index", "block_ts", "timestamp_ms",
 *      "tenant": {"name", "scheme", "key_hex"}, "domain", "provider",
 *      "instruction", "state": "ok"|"error"|"pending",
 *      "response": null | {"id", "height", "block_ts", "status", "result",
 *                          "error", "orchestrator", "orchestrator_key_hex"},
 *      "duration_ms": N|null} ]}
 * Tenant names come from st (the tip's state; NULL: names from the
 * genesis only).  NULL with a reason in err on a store error. */
struct json_t *history_query(store_t *s, const genesis_t *g, const state_t *st,
			     const history_filter_t *f, char *err, size_t errlen);

/* Per domain: requests answered ok, failed (error responses), late
 * (answered after the deadline), unanswered past the deadline at now_ms,
 * pending (unanswered, within it); p50/p90/p99/max of the execution time;
 * the provider accountable; its last attestation (from st, may be NULL);
 * and up to max_items gaps and failures, oldest first:
 *   {"deadline_ms", "now_ms", "height", "totals": {...}, "domains": [
 *     {"domain", "provider", "orchestrator_key_hex", "requests", "ok",
 *      "failed", "late", "unanswered", "pending", "p50_ms", "p90_ms",
 *      "p99_ms", "max_ms", "last_attestation": {...}|null,
 *      "gaps": [{"request_id", "height", "block_ts", "age_ms", "tenant",
 *                "instruction", "responsible"}],
 *      "failures": [{"request_id", "response_id", "height", "error"}]}]}
 * NULL with a reason in err on a store error. */
struct json_t *accountability_report(store_t *s, const genesis_t *g, const state_t *st,
				     uint64_t deadline_ms, uint64_t now_ms, size_t max_items,
				     char *err, size_t errlen);

/* A public key given as hex: the scheme follows from the length (32
 * bytes ed25519, 33 ecdsa-p256, 256 rsa-pss-2048), or "SCHEME:HEX".
 * 0, or -1 when it is neither. */
int pubkey_from_hex(pubkey_t *k, const char *text) WUR;

/* JSON of an attestation record (state.h). */
struct json_t *attestation_to_json(const attest_rec_t *a, const genesis_t *g);

#endif
