/*
 * attest.h — state attestations (DESIGN §8 "drift"): the canonical digest
 * of one domain's objects, computed the same way from what a driver lists
 * (the orchestrator, attesting its platform's actual state in an ATTEST
 * tx) and from the chain state (the auditor, computing what the ledger
 * says must exist), so the two compare as 32 bytes.
 *
 * The digest of a set of objects:
 *
 *   SHA-256( "bsec/attest/v1" || u32 count ||
 *            for each object, sorted by kind then name (bytewise):
 *              u8 kind || str8 name || str16 spec || u8 whole )
 *
 * where spec is the object's canonical create-form instruction (driver.h:
 * the text the chain state holds) and whole is 1 when the driver reports
 * no problem with it.  The ledger-expected set of domain D after block H
 * is every object of D in the chain state after H whose status is ACTIVE
 * or DELETING, with its current spec, whole = 1 (CREATING objects are not
 * expected yet; an orchestrator attests only when no request of its
 * domain is in flight, so an honest attestation never meets one).
 */
#ifndef BSEC_ATTEST_H
#define BSEC_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/hash.h"
#include "state.h"

#define ATTEST_DIGEST_TAG "bsec/attest/v1"

typedef struct {
	int kind;                /* obj_kind_t */
	const char *name;        /* NUL-terminated, <= INSTR_MAX_NAME */
	const char *spec;        /* NUL-terminated, <= TX_MAX_INSTRUCTION ("" unknown) */
	int whole;               /* 1: no problem reported */
} attest_entry_t;

/* Digest of entries[0..n) (sorted in place by kind, name).  Names and
 * specs longer than their limits are cut at the limit. */
void attest_digest(uint8_t out[BSEC_HASH_BYTES], attest_entry_t *entries, size_t n);

/* The ledger-expected digest of domain `domain' in st (see above);
 * *count gets the number of objects when not NULL. */
void attest_expected(uint8_t out[BSEC_HASH_BYTES], const state_t *st, const char *domain,
		     uint32_t *count);

#endif
