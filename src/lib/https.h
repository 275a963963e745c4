/*
 * https.h — the HTTPS server every BSec daemon exposes (node API, metrics,
 * portal) and the blocking HTTPS client the CLI and orchestrator use.
 *
 * Server: libevent's evhttp over bufferevent_openssl, TLS 1.3 only.  A
 * table of routes {method, path prefix, handler} is matched in order;
 * unmatched paths get 404, a matched path with another method 405, and a
 * body over max_body 413 — each as JSON {"error": CODE, "message": TEXT}
 * (CODE a stable snake_case string).  Limits libevent enforces on its own
 * (header size, bodies beyond 4 x max_body, malformed requests) still get
 * the right status with libevent's plain body.  A handler replies once
 * (https_reply*), or calls https_req_defer() and replies later from the
 * loop thread (long polls); a deferred handler is told if the client goes
 * away first.  Everything runs on the event loop thread.
 *
 * Client: plain blocking sockets + OpenSSL, HTTP/1.1, Content-Length and
 * chunked responses, a response size limit, one overall deadline per
 * request.  https_client_t keeps the connection alive between requests to
 * the same server; https_request() is the one-shot form.  Thread-safe as
 * long as each https_client_t is used by one thread at a time.
 *
 * Trust (client): a CA bundle file (chain + host name/IP are checked)
 * and/or a pinned certificate PEM (exactly that certificate is accepted).
 */
#ifndef BSEC_HTTPS_H
#define BSEC_HTTPS_H

#include <stddef.h>
#include <stdint.h>
#include "tls.h"
#include "util.h"

struct event_base;

typedef tls_trust_t https_trust_t;

/* ---- server ----------------------------------------------------------- */

#define HTTPS_DEFAULT_MAX_BODY (1024u * 1024)    /* 1 MiB */
#define HTTPS_DEFAULT_MAX_HEADERS (16u * 1024)
#define HTTPS_DEFAULT_TIMEOUT_S 30
#define HTTPS_DEFAULT_MAX_CONNS 1024

typedef struct https_server_t https_server_t;
typedef struct https_req_t https_req_t;

/* ctx is https_server_config_t.ctx. */
typedef void (*https_handler_fn)(https_req_t *req, void *ctx);
/* The client of a deferred request went away; req is freed after this
 * returns and must not be used again. */
typedef void (*https_gone_fn)(https_req_t *req, void *ctx);

/* A route matches when the method is equal (NULL: any method) and the
 * path equals prefix, or continues it with '/', or prefix ends in '/'
 * and the path starts with it.  "/v1/blocks" thus serves "/v1/blocks"
 * and "/v1/blocks/7" but not "/v1/blocksx".  First match wins. */
typedef struct {
	const char *method;
	const char *prefix;
	https_handler_fn fn;
} https_route_t;

typedef struct {
	const char *listen;              /* "host:port"; port 0: ephemeral */
	const char *cert_pem, *key_pem;  /* PEM text, or else files (key 0600) */
	const char *cert_file, *key_file;
	const https_route_t *routes;     /* not copied: must outlive the server */
	size_t nroutes;
	void *ctx;                       /* passed to handlers */
	size_t max_body;                 /* 0: HTTPS_DEFAULT_MAX_BODY */
	size_t max_headers;              /* 0: HTTPS_DEFAULT_MAX_HEADERS */
	int timeout_s;                   /* read/write timeout, and the time a client has to send a
	                                    whole request; 0: HTTPS_DEFAULT_TIMEOUT_S */
	size_t max_conns;                /* open connections; 0: HTTPS_DEFAULT_MAX_CONNS.  Never
	                                    above half the RLIMIT_NOFILE soft limit; at the cap
	                                    new clients wait in the listen backlog */
	size_t max_conns_per_addr;       /* open connections from one client address (an IPv4
	                                    address or an IPv6 /64; loopback is not counted);
	                                    more are closed at once.  0: no such cap */
} https_server_config_t;

/* Binds and starts serving on base.  Returns NULL with a reason. */
https_server_t *https_server_new(struct event_base *base, const https_server_config_t *cfg,
				 char *err, size_t errlen);

/* Stops and frees the server; deferred requests still open get their
 * gone callback.  NULL is fine.  As with peer_net_free, run the loop once
 * (EVLOOP_NONBLOCK) before event_base_free. */
void https_server_free(https_server_t *srv);

/* The bound port (useful with port 0). */
int https_server_port(const https_server_t *srv);

/* Connections open now, the cap in force, and how often it was reached. */
void https_server_counters(const https_server_t *srv, size_t *open_conns, size_t *max_conns,
			   uint64_t *limit_hits);

/* Connections closed because their request (TLS handshake, headers and
 * body) took longer than timeout_s from accept or from the last reply. */
uint64_t https_server_deadline_drops(const https_server_t *srv);
/* Connections closed because their client address held max_conns_per_addr. */
uint64_t https_server_addr_drops(const https_server_t *srv);

/* Request accessors; strings live as long as the request. */
const char *https_req_method(const https_req_t *req);
const char *https_req_path(const https_req_t *req);      /* decoded, no query */
/* The path after the matched route prefix, without a leading '/':
 * "/v1/blocks/7" under "/v1/blocks" gives "7"; "" for an exact match. */
const char *https_req_path_rest(const https_req_t *req);
/* Decoded value of query parameter `name`, or NULL when absent. */
const char *https_req_query(const https_req_t *req, const char *name);
/* Query parameter as an unsigned decimal: *out = def when absent.  -1 when
 * present but not a decimal number in [0, max]. */
int https_req_query_u64(const https_req_t *req, const char *name, uint64_t def, uint64_t max,
			uint64_t *out) WUR;
/* Request header (case-insensitive), or NULL. */
const char *https_req_header(const https_req_t *req, const char *name);
/* The body (NUL-terminated for convenience; the NUL is not counted). */
const uint8_t *https_req_body(const https_req_t *req, size_t *len);
/* Client address "ip:port". */
const char *https_req_remote(const https_req_t *req);

/* Adds a response header before replying. */
void https_req_set_header(https_req_t *req, const char *name, const char *value);

/* Replies and frees req (do not use it afterwards). */
void https_reply(https_req_t *req, int status, const char *content_type, const void *body,
		 size_t len);
void https_reply_json(https_req_t *req, int status, const char *json);
/* {"error": code, "message": formatted text}; status 4xx/5xx. */
void https_reply_error(https_req_t *req, int status, const char *code, const char *fmt, ...)
	PRINTF(4, 5);

/* Keeps req open after the handler returns; reply later with https_reply*
 * from the loop thread.  gone (may be NULL) runs if the client disconnects
 * first. */
void https_req_defer(https_req_t *req, https_gone_fn gone, void *gone_ctx);

/* ---- client ----------------------------------------------------------- */

#define HTTPS_DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)

typedef struct https_client_t https_client_t;

/* A client for one server given as "https://host[:port]" (any path is
 * ignored).  Connects lazily.  timeout_ms bounds each request (connect,
 * handshake, send and receive together); <= 0 means 30 s. */
https_client_t *https_client_new(const char *base_url, const https_trust_t *trust,
				 int timeout_ms, char *err, size_t errlen);
void https_client_free(https_client_t *c);
void https_client_set_max_response(https_client_t *c, size_t max);

/* Sends METHOD path_query (e.g. "/v1/blocks?from=3") with an optional body
 * (content_type may be NULL; no body when len == 0 and the method is not
 * POST/PUT/PATCH) and reads the response.  On 0, *status is the HTTP
 * status and *resp (NUL-terminated, not counted in *resp_len) is the body;
 * the caller frees it.  -1 on a transport, TLS, timeout or protocol error
 * (reason in err).  A request on a kept-alive connection that the server
 * had closed is retried once on a fresh connection. */
int https_client_request(https_client_t *c, const char *method, const char *path_query,
			 const char *content_type, const void *body, size_t len, int *status,
			 uint8_t **resp, size_t *resp_len, char *err, size_t errlen) WUR;

/* One-shot request to a full URL "https://host:port/path?query". */
int https_request(const char *url, const char *method, const char *content_type,
		  const void *body, size_t len, const https_trust_t *trust, int timeout_ms,
		  int *status, uint8_t **resp, size_t *resp_len, char *err, size_t errlen) WUR;

#endif
