/*
 * drift.h — the drift audit (DESIGN §8, `bsec audit drift`): a domain's
 * actual platform state, as its driver lists it, against the state the
 * verified ledger says it must have; with the accountable domain and,
 * from the domain's state attestations (attest.h), the last attestation
 * that matched the ledger and the first one after it that did not — the
 * window in which the drift began.
 *
 * Use: drift_new, plug drift_observer into audit_verify_source (so the
 * expected state is built from the verified chain, from the genesis),
 * then drift_report with the driver's listing.
 *
 * Expected state of domain D, per object of D in the chain state:
 *   ACTIVE, no update pending   must exist, with that spec, whole
 *   ACTIVE with an update pending, CREATING, DELETING
 *                               in flight: either outcome is fine (a
 *                               present object must have the old or the
 *                               new spec)
 * Findings: missing (expected, absent: deleted outside BSec), unexpected
 * (present, not on the ledger: created outside BSec), changed (spec
 * differs), problem (the driver reports one: e.g. nft rules altered).
 *
 * Attestations are judged at the height they name: the ledger-expected
 * digest after that block (attest.h) against the attested one.
 */
#ifndef BSEC_AUDIT_DRIFT_H
#define BSEC_AUDIT_DRIFT_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/audit.h"
#include "../orchestrator/driver.h"

struct json_t;
typedef struct drift_t drift_t;

drift_t *drift_new(const genesis_t *g, const char *domain);
void drift_free(drift_t *d);

/* The observer that builds the expected state while the chain is walked. */
void drift_observer(drift_t *d, audit_observer_t *obs);

/* Lists the platform through drv (objects of the domain, or with no
 * domain recorded) and compares.  Returns the report (caller decrefs):
 *   {"domain", "provider", "orchestrator_key_hex", "height", "tip_ts",
 *    "drift": bool (findings now), "attested_drift": bool (an attestation
 *    after the last matching one did not match),
 *    "expected": N, "actual": N, "in_flight": N,
 *    "findings": [{"kind", "name", "what": "missing"|"unexpected"|"changed"|"problem",
 *                  "expected_spec", "actual_spec", "problem"}],
 *    "attestations": N, "last_match": {...}|null, "first_mismatch": {...}|null,
 *    "since_ms": T|null, "until_ms": T, "window": text}
 * or NULL with a reason in err when the driver cannot list the platform. */
struct json_t *drift_report(drift_t *d, driver_t *drv, uint64_t now_ms, char *err, size_t errlen);

/* Prints a report as text. */
void drift_print(const struct json_t *report);

#endif
