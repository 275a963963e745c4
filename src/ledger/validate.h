/*
 * validate.h — validation rules 1–5 (DESIGN §3) as deterministic
 * functions over the state (state.h).  The node, the orchestrator (SLA
 * re-check) and the auditor call exactly these.
 *
 *   rule 1  signature        tx_verify_sig (tx.h), kept apart so callers
 *                            can run it on a worker pool and cache it
 *   rule 2  fields           validate_fields
 *   rule 3  timestamp        |tx.ts - block_ts| <= window
 *   rule 4  duplicate        not in the chain's recent txs (state_has_tx)
 *   rule 5  by type          REQUEST: registered unrevoked tenant in the
 *                            target domain, instruction parses, SLA allows
 *                            op, quota, rate, ownership, referenced objects
 *                            exist; RESPONSE: sender is the orchestrator key
 *                            of the request's domain, request open;
 *                            TENANT: sender is the admin key of the provider
 *                            of tx.domain, register/update/revoke consistent;
 *                            ATTEST: sender is the orchestrator key of the
 *                            provider of tx.domain, the attested height is
 *                            not beyond the chain and not before the
 *                            domain's last attestation
 *
 * validate_tx checks rules 2–5 (not 1) and does not change the state;
 * after an accept the caller applies the tx with state_apply_tx.
 */
#ifndef BSEC_VALIDATE_H
#define BSEC_VALIDATE_H

#include "state.h"

typedef enum {
	V_OK = 0,
	V_BAD_SIGNATURE,       /* rule 1 */
	V_MALFORMED,           /* rule 2 */
	V_TIMESTAMP,           /* rule 3 */
	V_DUPLICATE,           /* rule 4 */
	V_UNKNOWN_TENANT,      /* rule 5 ... */
	V_REVOKED,
	V_BAD_INSTRUCTION,
	V_FORBIDDEN,           /* SLA forbids the operation or the domain */
	V_QUOTA,
	V_RATE,
	V_NOT_OWNER,
	V_NO_OBJECT,
	V_EXISTS,
	V_IN_USE,
	V_NOT_ORCHESTRATOR,
	V_NO_REQUEST,
	V_ANSWERED,
	V_NOT_ADMIN,
	V_BAD_ATTESTATION,     /* attested height beyond the chain or going back */
	V_COUNT
} verr_t;

typedef struct {
	verr_t code;
	char msg[256];
} verdict_t;

/* Stable snake_case code for APIs and logs ("sla_forbidden", ...). */
const char *verr_name(verr_t code);

/* Rule 2 alone (no state). */
verr_t validate_fields(const tx_t *tx, verdict_t *v);

/* Rules 2–5 for tx in a block with timestamp block_ts (for admission to
 * the pool, the replica's clock).  Returns V_OK or the first failed rule
 * with a human-readable message in v->msg. */
verr_t validate_tx(const state_t *st, const tx_t *tx, uint64_t block_ts, verdict_t *v);

/* Micro-benchmark: nanoseconds per tx_decode + validate_tx of a typical
 * request (vnf create on an existing VM, tenant with quotas and a rate),
 * measured over ~0.3 s on a private in-memory state.  -1 on failure. */
double validate_bench_ns(void);

#endif
