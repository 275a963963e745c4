/*
 * remote.h — a node's API as a source for the auditor (audit.h), so that
 * `bsec audit verify --node URL` runs exactly the checks of the data-dir
 * mode on blocks fetched over HTTPS, trusting nothing the node says: the
 * raw block and certificate bytes come from GET /v1/blocks/raw (framing
 * below) and are decoded, hashed, linked and verified by the auditor as
 * if read from a ledger file.
 *
 * GET /v1/blocks/raw?from=H&limit=N answers application/octet-stream:
 *   "BSRB" | u64 tip height |
 *   records: u64 height | u32 block_len | block (block.h) | u32 cert_len | cert
 * at most N records (and about 8 MiB, but always one when H <= tip);
 * GET /v1/blocks/{H}/raw the same with the one record.  The audit stops
 * at the tip the first page announced, so a live node cannot keep it
 * running forever.
 *
 * One thread; blocking.
 */
#ifndef BSEC_AUDIT_REMOTE_H
#define BSEC_AUDIT_REMOTE_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/audit.h"
#include "../lib/https.h"

struct json_t;
typedef struct audit_remote_t audit_remote_t;

/* A client for the node API at url (https://host:port) with that trust
 * (whose strings must outlive the remote).  NULL with a reason in err. */
audit_remote_t *audit_remote_new(const char *url, const https_trust_t *trust, int timeout_ms,
				 char *err, size_t errlen);
void audit_remote_free(audit_remote_t *r);

/* Fills *src so that audit_verify_source reads the node's chain from
 * height 1.  The remote must outlive the walk. */
void audit_remote_source(audit_remote_t *r, audit_source_t *src);

/* GET path; 0 with *status and the parsed JSON body (NULL when not JSON;
 * caller decrefs), or -1 with a transport error in err. */
int audit_remote_get_json(audit_remote_t *r, const char *path, int *status, struct json_t **out,
			  char *err, size_t errlen) WUR;
/* GET path; 0 with *status and the raw body (caller frees), or -1. */
int audit_remote_get(audit_remote_t *r, const char *path, int *status, uint8_t **body,
		     size_t *len, char *err, size_t errlen) WUR;

#endif
