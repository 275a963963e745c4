/*
 * nodeapi.h — a list of node APIs as the CLI, the orchestrator and the
 * portal keep it: each node's URL (without trailing '/'), the name it
 * goes by, how it is trusted (a CA file, or else the certificate the
 * genesis pins for its provider), and a request that makes a connection
 * on first use and drops it after a transport error, so that the next
 * attempt (on this node or, after fail-over, the next) starts clean.
 * Which node to try next stays with the callers: their fail-over rules
 * differ (retry a 503, back off, probe for a longer chain).
 */
#ifndef BSEC_NODEAPI_H
#define BSEC_NODEAPI_H

#include <stddef.h>
#include <stdint.h>
#include "https.h"

/* One node API.  post and poll are connections kept for plain requests
 * and for long polls; a caller whose threads keep their own connections
 * (the portal) leaves them NULL. */
typedef struct {
	char *url;                 /* https://host:port, no trailing '/' */
	const char *name;          /* provider name, or the URL */
	https_trust_t trust;
	https_client_t *post, *poll;
	char err[256];             /* last failure */
} nodeapi_t;

/* "https://h:p/x/" and "https://h:p/x" name the same server (trailing
 * slashes do not count). */
int nodeapi_same_base(const char *a, const char *b);

/* Appends a node to the array *v of *n: trusted through the CA file ca
 * when ca is set, else through the pinned certificate pin.  name, pin and
 * ca are not copied and must outlive the list (NULL name: the URL). */
void nodeapi_add(nodeapi_t **v, size_t *n, const char *url, const char *name, const char *pin,
		 const char *ca);

/* Frees every node's URL and connections, and the array. */
void nodeapi_free(nodeapi_t *v, size_t n);

/* One request to node nd over the connection *c (made on first use with
 * timeout_ms and a response limit of max_response; freed and set to NULL
 * after a transport error).  A body goes as application/octet-stream.
 * 0 with *status and *resp (caller frees), or -1 with the reason in err
 * (*status 0, *resp NULL). */
int nodeapi_request(https_client_t **c, const nodeapi_t *nd, int timeout_ms, size_t max_response,
		    const char *method, const char *path, const uint8_t *body, size_t len, int *status,
		    uint8_t **resp, size_t *rlen, char *err, size_t errlen) WUR;

#endif
