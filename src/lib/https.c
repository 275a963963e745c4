/*
 * https.c — HTTPS server on evhttp + bufferevent_openssl, and a blocking
 * HTTPS/1.1 client on OpenSSL over a non-blocking socket driven by poll()
 * against one deadline (see https.h).
 *
 * Server notes (libevent 2.1):
 *  - evhttp has no hook between headers and body, so the body limit is
 *    enforced twice: evhttp itself stops reading at a hard limit of
 *    4 x max_body (its own 413 page), and requests between max_body and
 *    that get our JSON 413 from the dispatcher.
 *  - Once a request is read, evhttp stops reading the connection, so it
 *    cannot notice a client that leaves while a deferred request waits.
 *    We watch the socket ourselves: an EV_READ|EV_CLOSED event for prompt
 *    notice, and a sweep every GONE_SWEEP_MS that asks the kernel for the
 *    TCP state (a FIN queued behind unread TLS bytes is only visible
 *    there).  A gone client's connection is freed through evhttp, whose
 *    close callback runs the handler's `gone` callback.  If libevent had
 *    already detached the request from a failed connection it no longer
 *    frees it, so we do.
 *  - Connections are capped (max_conns, and half the process's file
 *    descriptor limit): each TLS object carries a reference to a shared
 *    gauge, whose count the SSL_free hook (ex_data free callback) lowers;
 *    at the cap the listener stops accepting (new clients wait in the
 *    kernel's backlog) and resumes below 90 % of it.  An accept() error
 *    such as EMFILE pauses the listener for a second instead of spinning.
 */
#include "https.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <pthread.h>
#include <sys/resource.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "map.h"
#include "netaddr.h"

/* ======================================================================
 * server
 * ====================================================================== */

struct https_req_t {
	https_server_t *srv;
	struct evhttp_request *ev;
	struct evhttp_connection *evcon;
	const char *method;
	char *path;
	const char *rest;
	struct evkeyvalq query;
	uint8_t *body;
	size_t body_len;
	char remote[64];
	int deferred;
	int *done_flag;           /* set to 1 on reply while the handler runs */
	https_gone_fn gone;
	void *gone_ctx;
	struct event *watch;      /* deferred: client socket readable/closed */
	https_req_t *prev, *next; /* deferred list */
};

#define GONE_SWEEP_MS 500

/* Live connections, shared by the server and each connection's SSL (so
 * the count survives whichever is freed last). */
typedef struct {
	size_t refs;
	size_t live;
	uint64_t deadline_drops;  /* connections cut by their request deadline */
	uint64_t addr_drops;      /* connections cut for their address's cap */
	map_t *addrs;             /* client address key -> open connections (as a pointer) */
	https_server_t *srv;      /* NULL once the server is freed */
} conn_gauge_t;

/* One per connection, kept in its SSL object and freed with it.
 *
 * The request deadline: evhttp's timeout counts from the last byte read,
 * so a client that trickles a byte now and then would hold a connection
 * for as long as it likes.  A connection gets timeout_s from accept, and
 * again from each reply, to deliver a whole request (TLS handshake,
 * headers, body).  While a handler holds the request there is none (long
 * polls end themselves); a reply still draining to the client extends it
 * for as long as the client reads. */
typedef struct {
	conn_gauge_t *gauge;
	struct bufferevent *bev;
	struct event *deadline;
	size_t out_mark;          /* reply bytes still queued at the last check */
	int timeout_s;
	size_t per_addr;          /* the cap per client address; 0: none */
	int admitted;             /* the address was looked at */
	uint8_t addr[9];          /* its key when counted: 1 + 4 (IPv4) or 1 + 8 (an IPv6 /64) */
	size_t addr_len;          /* 0: not counted */
} conn_t;

struct https_server_t {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	tls_ctx_t *tls;
	const https_route_t *routes;
	size_t nroutes;
	void *ctx;
	size_t max_body;
	https_req_t *deferred;
	struct event *sweep;      /* runs while deferred requests exist */
	conn_gauge_t *gauge;
	size_t max_conns;
	int paused;               /* listener disabled: at the cap or after an accept error */
	uint64_t limit_hits;      /* times the cap was reached */
	int timeout_s;            /* read/write timeout and request deadline */
	size_t max_conns_per_addr; /* 0: no cap per client address */
	struct event *resume;     /* re-enables the listener after an accept error */
};

static int conn_idx = -1;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;

static conn_t *conn_of(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

	return ssl && conn_idx >= 0 ? SSL_get_ex_data(ssl, conn_idx) : NULL;
}

static void conn_deadline_arm(conn_t *c)
{
	struct timeval tv = { c->timeout_s, 0 };

	if (c->deadline)
		event_add(c->deadline, &tv);
}

/* The deadline passed.  Shutting the socket down (not closing it: evhttp
 * owns the descriptor) makes evhttp's next read see the end and free the
 * connection the usual way. */
/* The key a client's address counts under: an IPv4 address (also when
 * mapped into IPv6) or an IPv6 /64, the least a host gets.  0 for
 * loopback, which is the operator's own host and not counted. */
static size_t addr_key(int fd, uint8_t key[9])
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		key[0] = 4;
		memcpy(key + 1, &a->sin_addr, 4);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return 0;
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			key[0] = 4;
			memcpy(key + 1, a->sin6_addr.s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a->sin6_addr.s6_addr, 8);
			return 9;
		}
	} else {
		return 0;
	}
	return key[1] == 127 ? 0 : 5;
}

/* Counts a new connection under its address; -1 when that address holds
 * its cap already (the connection is to be cut). */
static int conn_admit(conn_t *c)
{
	uint8_t key[9];
	size_t kl;
	uintptr_t n;

	c->admitted = 1;
	if (!c->per_addr || !(kl = addr_key((int)bufferevent_getfd(c->bev), key)))
		return 0;
	if (!c->gauge->addrs)
		c->gauge->addrs = map_new();
	n = (uintptr_t)map_get(c->gauge->addrs, key, kl);
	if (n >= c->per_addr) {
		c->gauge->addr_drops++;
		return -1;
	}
	map_put(c->gauge->addrs, key, kl, (void *)(n + 1));
	memcpy(c->addr, key, kl);
	c->addr_len = kl;
	return 0;
}

static void conn_uncount(conn_t *c)
{
	uintptr_t n;

	if (!c->addr_len || !c->gauge->addrs)
		return;
	n = (uintptr_t)map_get(c->gauge->addrs, c->addr, c->addr_len);
	if (n > 1)
		map_put(c->gauge->addrs, c->addr, c->addr_len, (void *)(n - 1));
	else
		map_del(c->gauge->addrs, c->addr, c->addr_len);
	c->addr_len = 0;
}

static void conn_deadline_cb(evutil_socket_t unused, short what, void *arg)
{
	conn_t *c = arg;
	size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
	int fd = (int)bufferevent_getfd(c->bev);

	(void)unused, (void)what;
	if (!c->admitted) {
		/* the first run, right after accept: the descriptor is set now */
		if (conn_admit(c) < 0) {
			log_debug("https", "a client address holds %zu connections, its cap: closing one more",
				  c->per_addr);
			if (fd >= 0)
				shutdown(fd, SHUT_RDWR);
			return;
		}
		conn_deadline_arm(c);
		return;
	}
	if (queued > 0 && queued < c->out_mark) {
		c->out_mark = queued;
		conn_deadline_arm(c);
		return;
	}
	c->gauge->deadline_drops++;
	if (fd >= 0) {
		log_debug("https", "a client took over %d s to send its request: closing", c->timeout_s);
		shutdown(fd, SHUT_RDWR);
	}
}

static const struct {
	enum evhttp_cmd_type cmd;
	const char *name;
} methods[] = {
	{ EVHTTP_REQ_GET, "GET" },       { EVHTTP_REQ_POST, "POST" },
	{ EVHTTP_REQ_HEAD, "HEAD" },     { EVHTTP_REQ_PUT, "PUT" },
	{ EVHTTP_REQ_DELETE, "DELETE" }, { EVHTTP_REQ_OPTIONS, "OPTIONS" },
	{ EVHTTP_REQ_TRACE, "TRACE" },   { EVHTTP_REQ_CONNECT, "CONNECT" },
	{ EVHTTP_REQ_PATCH, "PATCH" },
};

static const char *method_name(enum evhttp_cmd_type cmd)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(methods); i++)
		if (methods[i].cmd == cmd)
			return methods[i].name;
	return "UNKNOWN";
}

static void req_free(https_req_t *req)
{
	https_server_t *srv = req->srv;

	if (req->deferred) {
		if (req->prev)
			req->prev->next = req->next;
		else if (srv->deferred == req)
			srv->deferred = req->next;
		if (req->next)
			req->next->prev = req->prev;
		if (!srv->deferred && srv->sweep)
			event_del(srv->sweep);
	}
	if (req->watch)
		event_free(req->watch);
	evhttp_clear_headers(&req->query);
	free(req->path);
	free(req->body);
	free(req);
}

/* Replaces control and non-ASCII bytes so any message is valid JSON text. */
static char *ascii_clean(const char *s)
{
	char *o = xstrdup(s ? s : "");
	char *p;

	for (p = o; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	return o;
}

static char *error_json(const char *code, const char *msg)
{
	char *c = ascii_clean(code), *m = ascii_clean(msg), *out = NULL;
	json_t *j = json_pack("{s:s, s:s}", "error", c, "message", m);

	if (j)
		out = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!out)
		out = xstrdup("{\"error\":\"internal\",\"message\":\"cannot encode error\"}");
	free(c);
	free(m);
	return out;
}

void https_reply(https_req_t *req, int status, const char *content_type, const void *body,
		 size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
	struct evbuffer *b = evbuffer_new();
	conn_t *c;

	if (!b) {
		log_error("https", "out of memory building a reply");
		abort();
	}
	if (content_type && !evhttp_find_header(h, "Content-Type"))
		evhttp_add_header(h, "Content-Type", content_type);
	if (!evhttp_find_header(h, "Cache-Control"))
		evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (!evhttp_find_header(h, "Strict-Transport-Security"))
		evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	if (len)
		evbuffer_add(b, body, len);
	if (req->deferred)
		evhttp_connection_set_closecb(req->evcon, NULL, NULL);
	if (req->watch) {
		event_free(req->watch);
		req->watch = NULL;
	}
	if (req->done_flag)
		*req->done_flag = 1;
	if ((c = conn_of(req->evcon))) {
		/* the reply's bytes, then the next request, are on the clock */
		c->out_mark = SIZE_MAX;
		conn_deadline_arm(c);
	}
	evhttp_send_reply(req->ev, status, NULL, b);
	evbuffer_free(b);
	req_free(req);
}

void https_reply_json(https_req_t *req, int status, const char *json)
{
	https_reply(req, status, "application/json", json, strlen(json));
}

void https_reply_error(https_req_t *req, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	char *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	j = error_json(code, msg);
	https_reply_json(req, status, j);
	free(j);
}

static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	https_req_t *req = arg;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	log_debug("https", "client %s went away before the reply to %s %s", req->remote,
		  req->method, req->path);
	if (req->gone)
		req->gone(req, req->gone_ctx);
	/* libevent detaches an unanswered request from a failed connection and
	 * leaves it to the user; one still attached is freed with the
	 * connection. */
	if (evhttp_request_get_connection(req->ev) == NULL)
		evhttp_request_free(req->ev);
	req_free(req);
}

static int req_fd(const https_req_t *req)
{
	struct bufferevent *bev = req->evcon ? evhttp_connection_get_bufferevent(req->evcon) : NULL;

	return bev ? (int)bufferevent_getfd(bev) : -1;
}

/* 1 when the client's side of the TCP connection is closed or reset. */
static int client_gone(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (fd < 0)
		return 1;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
		return 0;
	return ti.tcpi_state != TCP_ESTABLISHED;
}

/* Frees the connection; evhttp runs conn_closed_cb on the way. */
static void drop_gone(https_req_t *req)
{
	evhttp_connection_free(req->evcon);
}

static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
	https_req_t *req = arg;

	if ((what & EV_CLOSED) || client_gone((int)fd)) {
		drop_gone(req);
		return;
	}
	/* Bytes arrived (a pipelined request, a TLS record) on a live
	 * connection: stop watching them, the sweep keeps checking. */
}

static void sweep_cb(evutil_socket_t unused, short what, void *arg)
{
	https_server_t *srv = arg;
	https_req_t *r = srv->deferred, *next;

	for (; r; r = next) {
		next = r->next;
		if (client_gone(req_fd(r)))
			drop_gone(r);
	}
	if (srv->deferred) {
		struct timeval tv = { GONE_SWEEP_MS / 1000, (GONE_SWEEP_MS % 1000) * 1000 };
		event_add(srv->sweep, &tv);
	}
}

void https_req_defer(https_req_t *req, https_gone_fn gone, void *gone_ctx)
{
	https_server_t *srv = req->srv;
	int fd;

	if (req->deferred)
		return;
	req->deferred = 1;
	req->gone = gone;
	req->gone_ctx = gone_ctx;
	req->next = srv->deferred;
	req->prev = NULL;
	if (srv->deferred)
		srv->deferred->prev = req;
	srv->deferred = req;
	evhttp_connection_set_closecb(req->evcon, conn_closed_cb, req);
	fd = req_fd(req);
	if (fd >= 0) {
		req->watch = event_new(srv->base, fd, EV_READ | EV_CLOSED, watch_cb, req);
		if (req->watch)
			event_add(req->watch, NULL);
	}
	if (srv->sweep && !event_pending(srv->sweep, EV_TIMEOUT, NULL)) {
		struct timeval tv = { GONE_SWEEP_MS / 1000, (GONE_SWEEP_MS % 1000) * 1000 };
		event_add(srv->sweep, &tv);
	}
}

const char *https_req_method(const https_req_t *req)
{
	return req->method;
}

const char *https_req_path(const https_req_t *req)
{
	return req->path;
}

const char *https_req_path_rest(const https_req_t *req)
{
	return req->rest ? req->rest : "";
}

const char *https_req_query(const https_req_t *req, const char *name)
{
	return evhttp_find_header(&req->query, name);
}

int https_req_query_u64(const https_req_t *req, const char *name, uint64_t def, uint64_t max,
			uint64_t *out)
{
	const char *v = https_req_query(req, name);
	uint64_t x = 0;

	if (!v) {
		*out = def;
		return 0;
	}
	if (!*v || strlen(v) > 20)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (x > (UINT64_MAX - (uint64_t)(*v - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*v - '0');
	}
	if (x > max)
		return -1;
	*out = x;
	return 0;
}

const char *https_req_header(const https_req_t *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const uint8_t *https_req_body(const https_req_t *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

const char *https_req_remote(const https_req_t *req)
{
	return req->remote;
}

void https_req_set_header(https_req_t *req, const char *name, const char *value)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);

	evhttp_remove_header(h, name);
	evhttp_add_header(h, name, value);
}

/* Returns the part of path after prefix, or NULL when the route does not
 * cover the path. */
static const char *route_match(const char *prefix, const char *path)
{
	size_t n = strlen(prefix);

	if (strncmp(path, prefix, n) != 0)
		return NULL;
	if (path[n] == '\0')
		return path + n;
	if (path[n] == '/')
		return path + n + 1;
	if (n > 0 && prefix[n - 1] == '/')
		return path + n;
	return NULL;
}

static void gencb(struct evhttp_request *ev, void *arg)
{
	https_server_t *srv = arg;
	https_req_t *req = xcalloc(1, sizeof(*req));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	struct evbuffer *in = evhttp_request_get_input_buffer(ev);
	const https_route_t *path_hit = NULL;
	const char *raw, *q;
	char *ip = NULL;
	ev_uint16_t port = 0;
	size_t i, dlen = 0;
	int replied = 0;

	req->srv = srv;
	req->ev = ev;
	req->evcon = evhttp_request_get_connection(ev);
	req->method = method_name(evhttp_request_get_command(ev));
	req->done_flag = &replied;
	TAILQ_INIT(&req->query);
	if (req->evcon) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(req->evcon);
		conn_t *c = conn_of(req->evcon);

		if (c && !c->admitted)
			(void)conn_admit(c);   /* a request before the loop turned: counted, not cut */
		if (c && c->deadline)
			event_del(c->deadline);
		evhttp_connection_get_peer(req->evcon, &ip, &port);
		snprintf(req->remote, sizeof(req->remote), "%s:%u", ip ? ip : "?", (unsigned)port);
		if (bev && bufferevent_getfd(bev) >= 0)
			net_tune_socket(bufferevent_getfd(bev));
	}

	raw = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!raw || !*raw)
		raw = "/";
	req->path = evhttp_uridecode(raw, 0, &dlen);
	if (!req->path || strlen(req->path) != dlen) {
		free(req->path);
		req->path = xstrdup(raw);
		https_reply_error(req, 400, "bad_request", "malformed path");
		return;
	}
	q = uri ? evhttp_uri_get_query(uri) : NULL;
	if (q && evhttp_parse_query_str(q, &req->query) != 0) {
		https_reply_error(req, 400, "bad_request", "malformed query string `%.100s'", q);
		return;
	}
	req->body_len = evbuffer_get_length(in);
	if (req->body_len > srv->max_body) {
		https_reply_error(req, 413, "body_too_large", "request body of %zu bytes exceeds the %zu-byte limit",
				  req->body_len, srv->max_body);
		return;
	}
	req->body = xmalloc(req->body_len + 1);
	evbuffer_remove(in, req->body, req->body_len);
	req->body[req->body_len] = '\0';

	for (i = 0; i < srv->nroutes; i++) {
		const https_route_t *r = &srv->routes[i];
		const char *rest = route_match(r->prefix, req->path);
		if (!rest)
			continue;
		if (r->method && strcmp(r->method, req->method) != 0) {
			if (!path_hit)
				path_hit = r;
			continue;
		}
		req->rest = rest;
		r->fn(req, srv->ctx);
		if (!replied && !req->deferred) {
			log_error("https", "handler for %s %s neither replied nor deferred", req->method,
				  req->path);
			https_reply_error(req, 500, "internal", "handler did not reply");
		} else if (!replied) {
			req->done_flag = NULL;
		}
		return;
	}
	if (path_hit) {
		https_req_set_header(req, "Allow", path_hit->method);
		https_reply_error(req, 405, "method_not_allowed", "method %s not allowed on `%.200s'",
				  req->method, req->path);
		return;
	}
	https_reply_error(req, 404, "not_found", "no such resource: `%.200s'", req->path);
}

/* ---- connection cap ---- */

static void listener_set(https_server_t *srv, int on)
{
	struct evconnlistener *l = srv->sock ? evhttp_bound_socket_get_listener(srv->sock) : NULL;

	if (!l || srv->paused == !on)
		return;
	if (on)
		evconnlistener_enable(l);
	else
		evconnlistener_disable(l);
	srv->paused = !on;
}

static void gauge_release(conn_gauge_t *g)
{
	if (--g->refs == 0) {
		map_free(g->addrs);
		free(g);
	}
}

/* OpenSSL calls this from SSL_free for every connection's TLS object. */
static void conn_freed(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	conn_t *c = ptr;
	conn_gauge_t *g;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (!c)
		return;
	if (c->deadline)
		event_free(c->deadline);
	conn_uncount(c);
	g = c->gauge;
	free(c);
	g->live--;
	if (g->srv && g->srv->paused && !event_pending(g->srv->resume, EV_TIMEOUT, NULL) &&
	    g->live < g->srv->max_conns - g->srv->max_conns / 10)
		listener_set(g->srv, 1);
	gauge_release(g);
}

static void conn_index_init(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_freed);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	https_server_t *srv = arg;

	(void)fd, (void)what;
	if (srv->gauge->live < srv->max_conns)
		listener_set(srv, 1);
}

/* evconnlistener's error callback gets evhttp's context, not ours: find
 * the server by its listener. */
#define MAX_SERVERS 16
static struct {
	struct evconnlistener *l;
	https_server_t *srv;
} servers[MAX_SERVERS];
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;

static void server_register(struct evconnlistener *l, https_server_t *srv)
{
	pthread_mutex_lock(&servers_lock);
	for (size_t i = 0; i < MAX_SERVERS; i++)
		if (!servers[i].l || servers[i].srv == srv) {
			servers[i].l = l;
			servers[i].srv = srv;
			break;
		}
	pthread_mutex_unlock(&servers_lock);
}

static void server_unregister(https_server_t *srv)
{
	pthread_mutex_lock(&servers_lock);
	for (size_t i = 0; i < MAX_SERVERS; i++)
		if (servers[i].srv == srv)
			servers[i].l = NULL, servers[i].srv = NULL;
	pthread_mutex_unlock(&servers_lock);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	https_server_t *srv = NULL;
	struct timeval tv = { 1, 0 };
	int e = EVUTIL_SOCKET_ERROR();

	(void)arg;
	pthread_mutex_lock(&servers_lock);
	for (size_t i = 0; i < MAX_SERVERS; i++)
		if (servers[i].l == l)
			srv = servers[i].srv;
	pthread_mutex_unlock(&servers_lock);
	if (!srv)
		return;
	log_warn("https", "accept failed: %s; pausing the listener for 1 s", evutil_socket_error_to_string(e));
	listener_set(srv, 0);
	event_add(srv->resume, &tv);
}

static struct bufferevent *bevcb(struct event_base *base, void *arg)
{
	https_server_t *srv = arg;
	struct ssl_st *ssl = tls_ssl_new(srv->tls, -1);
	struct bufferevent *bev = NULL;
	conn_t *c = xcalloc(1, sizeof(*c));

	c->gauge = srv->gauge;
	c->timeout_s = srv->timeout_s;
	c->out_mark = SIZE_MAX;
	if (ssl && conn_idx >= 0 && SSL_set_ex_data(ssl, conn_idx, c) == 1) {
		srv->gauge->refs++;
		if (++srv->gauge->live >= srv->max_conns) {
			if (!srv->paused)
				log_warn("https", "%zu connections open, the limit: accepting no more until some close",
					  srv->gauge->live);
			srv->limit_hits++;
			listener_set(srv, 0);
		}
	} else {
		free(c);
		c = NULL;
	}

	if (ssl)
		bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		/* evhttp would fall back to plaintext; never serve that. */
		log_error("https", "cannot create a TLS connection (out of memory)");
		abort();
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	if (c) {
		c->bev = bev;
		c->per_addr = srv->max_conns_per_addr;
		c->deadline = evtimer_new(base, conn_deadline_cb, c);
		if (c->per_addr && c->deadline) {
			/* evhttp sets the descriptor once this returns: look at
			 * the address on the loop's next turn */
			struct timeval now = { 0, 0 };
			event_add(c->deadline, &now);
		} else {
			c->admitted = 1;
			conn_deadline_arm(c);
		}
	}
	return bev;
}

https_server_t *https_server_new(struct event_base *base, const https_server_config_t *cfg,
				 char *err, size_t errlen)
{
	https_server_t *srv = xcalloc(1, sizeof(*srv));
	char *cert = NULL, *key = NULL;
	char host[256], port[8];
	size_t hard;
	int ok = 0;

	srv->base = base;
	srv->routes = cfg->routes;
	srv->nroutes = cfg->nroutes;
	srv->ctx = cfg->ctx;
	srv->max_body = cfg->max_body ? cfg->max_body : HTTPS_DEFAULT_MAX_BODY;
	srv->max_conns = cfg->max_conns ? cfg->max_conns : HTTPS_DEFAULT_MAX_CONNS;
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    srv->max_conns > rl.rlim_cur / 2)
			srv->max_conns = rl.rlim_cur / 2 > 16 ? (size_t)(rl.rlim_cur / 2) : 16;
	}
	pthread_once(&conn_once, conn_index_init);
	srv->gauge = xcalloc(1, sizeof(*srv->gauge));
	srv->gauge->refs = 1;
	srv->gauge->srv = srv;
	cert = cfg->cert_pem ? xstrdup(cfg->cert_pem) : cfg->cert_file ? tls_read_cert_file(cfg->cert_file, err, errlen) : NULL;
	key = cfg->key_pem ? xstrdup(cfg->key_pem) : cfg->key_file ? tls_read_key_file(cfg->key_file, err, errlen) : NULL;
	if (!cert || !key) {
		if (!cfg->cert_pem && !cfg->cert_file)
			err_set(err, errlen, "https: no TLS certificate configured");
		else if (cert && !cfg->key_pem && !cfg->key_file)
			err_set(err, errlen, "https: no TLS key configured");
		goto out;
	}
	if (!(srv->tls = tls_ctx_server_new(cert, key, err, errlen)))
		goto out;
	if (net_split_hostport(host, sizeof(host), port, sizeof(port), cfg->listen, err, errlen))
		goto out;
	if (!(srv->http = evhttp_new(base))) {
		err_set(err, errlen, "https: evhttp_new failed");
		goto out;
	}
	srv->sweep = evtimer_new(base, sweep_cb, srv);
	srv->resume = evtimer_new(base, resume_cb, srv);
	evhttp_set_bevcb(srv->http, bevcb, srv);
	evhttp_set_gencb(srv->http, gencb, srv);
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
					      EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
					      EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
					      EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	hard = srv->max_body > SIZE_MAX / 4 ? SIZE_MAX / 4 : srv->max_body;
	hard = hard * 4 < hard + 65536 ? hard + 65536 : hard * 4;
	evhttp_set_max_body_size(srv->http, (ev_ssize_t)hard);
	evhttp_set_max_headers_size(srv->http,
				    (ev_ssize_t)(cfg->max_headers ? cfg->max_headers : HTTPS_DEFAULT_MAX_HEADERS));
	srv->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : HTTPS_DEFAULT_TIMEOUT_S;
	srv->max_conns_per_addr = cfg->max_conns_per_addr;
	evhttp_set_timeout(srv->http, srv->timeout_s);
	srv->sock = evhttp_bind_socket_with_handle(srv->http, host, (ev_uint16_t)atoi(port));
	if (!srv->sock) {
		err_set(err, errlen, "https: cannot listen on `%s': %s", cfg->listen,
			evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		goto out;
	}
	server_register(evhttp_bound_socket_get_listener(srv->sock), srv);
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(srv->sock), accept_error_cb);
	log_info("https", "serving on %s (port %d, at most %zu connections)", cfg->listen,
		 https_server_port(srv), srv->max_conns);
	ok = 1;
out:
	free(cert);
	tls_secret_free(key);
	if (!ok) {
		https_server_free(srv);
		return NULL;
	}
	return srv;
}

void https_server_counters(const https_server_t *srv, size_t *open_conns, size_t *max_conns,
			   uint64_t *limit_hits)
{
	*open_conns = srv->gauge ? srv->gauge->live : 0;
	*max_conns = srv->max_conns;
	*limit_hits = srv->limit_hits;
}

uint64_t https_server_deadline_drops(const https_server_t *srv)
{
	return srv->gauge ? srv->gauge->deadline_drops : 0;
}

uint64_t https_server_addr_drops(const https_server_t *srv)
{
	return srv->gauge ? srv->gauge->addr_drops : 0;
}

int https_server_port(const https_server_t *srv)
{
	if (!srv->sock)
		return -1;
	return net_local_port(evhttp_bound_socket_get_fd(srv->sock));
}

void https_server_free(https_server_t *srv)
{
	if (!srv)
		return;
	server_unregister(srv);
	if (srv->gauge) {
		/* connections freed from here on no longer touch srv */
		srv->gauge->srv = NULL;
		gauge_release(srv->gauge);
		srv->gauge = NULL;
	}
	/* Closing connections runs conn_closed_cb for deferred requests. */
	if (srv->http)
		evhttp_free(srv->http);
	srv->sock = NULL;
	if (srv->resume)
		event_free(srv->resume);
	while (srv->deferred) {
		https_req_t *r = srv->deferred;
		if (r->gone)
			r->gone(r, r->gone_ctx);
		req_free(r);
	}
	if (srv->sweep)
		event_free(srv->sweep);
	tls_ctx_free(srv->tls);
	free(srv);
}

/* ======================================================================
 * client
 * ====================================================================== */

#define CL_MAX_HEADER (64 * 1024)
#define CL_READ_CHUNK 16384

struct https_client_t {
	char host[256];
	char port[8];
	char hosthdr[300];
	tls_ctx_t *tls;
	int timeout_ms;
	size_t max_response;
	int fd;
	SSL *ssl;
	uint8_t *rb;              /* read buffer: rb[roff..rlen) unread */
	size_t roff, rlen, rcap;
	int got_bytes;            /* any response byte read in this attempt */
};

static void cl_close(https_client_t *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->roff = c->rlen = 0;
}

static int cl_wait(int fd, short events, uint64_t deadline, char *err, size_t errlen)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t now;
	int r;

	for (;;) {
		now = mono_us() / 1000;
		if (now >= deadline) {
			err_set(err, errlen, "timed out");
			return -1;
		}
		r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			err_set(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* Waits as SSL_get_error asks; returns 0 to retry, -1 on error or EOF
 * (*eof set for a clean close). */
static int cl_ssl_wait(https_client_t *c, int r, uint64_t deadline, int *eof, const char *what,
		       char *err, size_t errlen)
{
	int e = SSL_get_error(c->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return cl_wait(c->fd, POLLIN, deadline, err, errlen);
	case SSL_ERROR_WANT_WRITE:
		return cl_wait(c->fd, POLLOUT, deadline, err, errlen);
	case SSL_ERROR_ZERO_RETURN:
		if (eof)
			*eof = 1;
		err_set(err, errlen, "%s: connection closed", what);
		return -1;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			err_set(err, errlen, "%s: %s", what, errno ? strerror(errno) : "connection closed");
			ERR_clear_error();
			return -1;
		}
		/* fall through */
	default:
		tls_err(err, errlen, what);
		return -1;
	}
}

static int cl_connect(https_client_t *c, uint64_t deadline, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int soerr = 0, r;
	socklen_t elen = sizeof(soerr);

	if (net_resolve(&ss, &sslen, c->host, c->port, err, errlen))
		return -1;
	c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		err_set(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&ss, sslen) != 0) {
		if (errno != EINPROGRESS) {
			err_set(err, errlen, "connect to %s:%s: %s", c->host, c->port, strerror(errno));
			goto fail;
		}
		if (cl_wait(c->fd, POLLOUT, deadline, err, errlen))
			goto fail;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &elen) != 0 || soerr) {
			err_set(err, errlen, "connect to %s:%s: %s", c->host, c->port, strerror(soerr ? soerr : errno));
			goto fail;
		}
	}
	net_tune_socket(c->fd);
	ERR_clear_error();
	if (!(c->ssl = tls_ssl_new_client(c->tls, c->host)) || !SSL_set_fd(c->ssl, c->fd)) {
		tls_err(err, errlen, "SSL setup");
		goto fail;
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_connect(c->ssl);
		if (r == 1)
			break;
		if (SSL_get_verify_result(c->ssl) != X509_V_OK) {
			long v = SSL_get_verify_result(c->ssl);
			err_set(err, errlen, "TLS handshake with %s:%s: server certificate refused: %s",
				c->host, c->port,
				v == X509_V_ERR_CERT_REJECTED ? "it is not the pinned certificate"
							      : X509_verify_cert_error_string(v));
			ERR_clear_error();
			goto fail;
		}
		if (cl_ssl_wait(c, r, deadline, NULL, "TLS handshake", err, errlen))
			goto fail;
	}
	return 0;
fail:
	cl_close(c);
	return -1;
}

static int cl_write_all(https_client_t *c, const uint8_t *p, size_t n, uint64_t deadline,
			char *err, size_t errlen)
{
	int r;

	while (n > 0) {
		size_t chunk = n > (1u << 30) ? (1u << 30) : n;
		ERR_clear_error();
		r = SSL_write(c->ssl, p, (int)chunk);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (cl_ssl_wait(c, r, deadline, NULL, "send", err, errlen))
			return -1;
	}
	return 0;
}

/* Appends more bytes to the read buffer: >0 read, 0 clean EOF, -1 error. */
static int cl_fill(https_client_t *c, uint64_t deadline, char *err, size_t errlen)
{
	int r, eof = 0;

	if (c->roff > 0) {
		memmove(c->rb, c->rb + c->roff, c->rlen - c->roff);
		c->rlen -= c->roff;
		c->roff = 0;
	}
	if (c->rcap - c->rlen < CL_READ_CHUNK) {
		c->rcap = c->rlen + CL_READ_CHUNK * 2;
		c->rb = xrealloc(c->rb, c->rcap);
	}
	for (;;) {
		ERR_clear_error();
		r = SSL_read(c->ssl, c->rb + c->rlen, (int)(c->rcap - c->rlen));
		if (r > 0) {
			c->rlen += (size_t)r;
			c->got_bytes = 1;
			return r;
		}
		if (cl_ssl_wait(c, r, deadline, &eof, "receive", err, errlen))
			return eof ? 0 : -1;
	}
}

/* Reads one CRLF-terminated line (returned NUL-terminated, in the read
 * buffer, valid until the next read). */
static char *cl_line(https_client_t *c, size_t max, uint64_t deadline, char *err, size_t errlen)
{
	size_t scanned = 0;

	for (;;) {
		uint8_t *s = c->rb + c->roff;
		size_t avail = c->rlen - c->roff, i;
		for (i = scanned; i + 1 < avail; i++) {
			if (s[i] == '\r' && s[i + 1] == '\n') {
				s[i] = '\0';
				c->roff += i + 2;
				return (char *)s;
			}
		}
		scanned = avail ? avail - 1 : 0;
		if (avail > max) {
			err_set(err, errlen, "response line longer than %zu bytes", max);
			return NULL;
		}
		int r = cl_fill(c, deadline, err, errlen);
		if (r <= 0) {
			if (r == 0)
				err_set(err, errlen, "connection closed mid-response");
			return NULL;
		}
	}
}

/* Moves exactly n body bytes into out. */
static int cl_body_bytes(https_client_t *c, buf_t *out, size_t n, uint64_t deadline, char *err,
			 size_t errlen)
{
	while (n > 0) {
		size_t avail = c->rlen - c->roff, take;
		if (avail == 0) {
			int r = cl_fill(c, deadline, err, errlen);
			if (r <= 0) {
				if (r == 0)
					err_set(err, errlen, "connection closed mid-body");
				return -1;
			}
			continue;
		}
		take = avail < n ? avail : n;
		buf_put(out, c->rb + c->roff, take);
		c->roff += take;
		n -= take;
	}
	return 0;
}

static int parse_size(const char *s, int hex, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s; s++, digits++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (hex && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (hex && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (v > (UINT64_MAX >> 4) / 10)
			return -1;
		v = v * (hex ? 16 : 10) + (uint64_t)d;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (!digits || (*s && !(hex && *s == ';')))
		return -1;
	*out = v;
	return 0;
}

/* One request/response exchange on an open connection. *keep is set when
 * the connection may be reused. */
static int cl_exchange(https_client_t *c, const char *method, const char *path,
		       const char *ctype, const void *body, size_t len, uint64_t deadline,
		       int *status, buf_t *out, int *keep, char *err, size_t errlen)
{
	buf_t req;
	char *line, *sp;
	uint64_t clen = 0;
	int has_clen = 0, chunked = 0, close_conn = 0, http10 = 0, code = 0, ret = -1;
	int has_body = len > 0 || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
		       !strcmp(method, "PATCH");
	char tmp[64];

	*keep = 0;
	buf_init(&req);
	buf_put(&req, method, strlen(method));
	buf_put(&req, " ", 1);
	buf_put(&req, path, strlen(path));
	buf_put(&req, " HTTP/1.1\r\nHost: ", 17);
	buf_put(&req, c->hosthdr, strlen(c->hosthdr));
	buf_put(&req, "\r\nUser-Agent: bsec\r\nAccept: */*\r\n", 33);
	if (has_body) {
		if (ctype) {
			buf_put(&req, "Content-Type: ", 14);
			buf_put(&req, ctype, strlen(ctype));
			buf_put(&req, "\r\n", 2);
		}
		snprintf(tmp, sizeof(tmp), "Content-Length: %zu\r\n", len);
		buf_put(&req, tmp, strlen(tmp));
	}
	buf_put(&req, "\r\n", 2);
	if (len)
		buf_put(&req, body, len);
	if (cl_write_all(c, req.data, req.len, deadline, err, errlen))
		goto out;

	/* status line, skipping interim 1xx responses */
	for (;;) {
		if (!(line = cl_line(c, CL_MAX_HEADER, deadline, err, errlen)))
			goto out;
		if (strncmp(line, "HTTP/1.", 7) != 0 || !line[7] || line[8] != ' ' ||
		    sscanf(line + 9, "%3d", &code) != 1 || code < 100 || code > 999) {
			err_set(err, errlen, "malformed status line `%.80s'", line);
			goto out;
		}
		http10 = line[7] == '0';
		close_conn = http10;
		has_clen = chunked = 0;
		/* headers */
		size_t total = 0;
		for (;;) {
			if (!(line = cl_line(c, CL_MAX_HEADER, deadline, err, errlen)))
				goto out;
			if (!*line)
				break;
			total += strlen(line);
			if (total > CL_MAX_HEADER) {
				err_set(err, errlen, "response headers exceed %d bytes", CL_MAX_HEADER);
				goto out;
			}
			if (!(sp = strchr(line, ':'))) {
				err_set(err, errlen, "malformed header `%.80s'", line);
				goto out;
			}
			*sp++ = '\0';
			while (*sp == ' ' || *sp == '\t')
				sp++;
			if (!strcasecmp(line, "Content-Length")) {
				uint64_t v;
				if (parse_size(sp, 0, &v) || (has_clen && v != clen)) {
					err_set(err, errlen, "bad Content-Length `%.40s'", sp);
					goto out;
				}
				clen = v;
				has_clen = 1;
			} else if (!strcasecmp(line, "Transfer-Encoding")) {
				chunked = strcasestr(sp, "chunked") != NULL;
			} else if (!strcasecmp(line, "Connection")) {
				if (strcasestr(sp, "close"))
					close_conn = 1;
				else if (strcasestr(sp, "keep-alive"))
					close_conn = 0;
			}
		}
		if (code >= 200)
			break;
	}
	*status = code;

	if (!strcmp(method, "HEAD") || code == 204 || code == 304) {
		/* no body */
	} else if (chunked) {
		for (;;) {
			uint64_t n;
			if (!(line = cl_line(c, 1024, deadline, err, errlen)))
				goto out;
			if (parse_size(line, 1, &n)) {
				err_set(err, errlen, "bad chunk size `%.40s'", line);
				goto out;
			}
			if (n == 0)
				break;
			if (n > c->max_response || out->len + n > c->max_response) {
				err_set(err, errlen, "response larger than %zu bytes", c->max_response);
				goto out;
			}
			if (cl_body_bytes(c, out, (size_t)n, deadline, err, errlen))
				goto out;
			if (!(line = cl_line(c, 2, deadline, err, errlen)))
				goto out;
			if (*line) {
				err_set(err, errlen, "missing CRLF after chunk");
				goto out;
			}
		}
		for (;;) {      /* trailers */
			if (!(line = cl_line(c, CL_MAX_HEADER, deadline, err, errlen)))
				goto out;
			if (!*line)
				break;
		}
	} else if (has_clen) {
		if (clen > c->max_response) {
			err_set(err, errlen, "response of %llu bytes is larger than %zu",
				(unsigned long long)clen, c->max_response);
			goto out;
		}
		if (cl_body_bytes(c, out, (size_t)clen, deadline, err, errlen))
			goto out;
	} else {
		/* delimited by a clean TLS close */
		close_conn = 1;
		for (;;) {
			size_t avail = c->rlen - c->roff;
			if (avail) {
				if (out->len + avail > c->max_response) {
					err_set(err, errlen, "response larger than %zu bytes", c->max_response);
					goto out;
				}
				buf_put(out, c->rb + c->roff, avail);
				c->roff = c->rlen;
			}
			int r = cl_fill(c, deadline, err, errlen);
			if (r < 0)
				goto out;
			if (r == 0)
				break;
		}
	}
	*keep = !close_conn;
	ret = 0;
out:
	buf_free(&req);
	return ret;
}

static int valid_token(const char *s, int path)
{
	if (!s || !*s || (path && *s != '/'))
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static https_client_t *client_make(const char *host, int port, const https_trust_t *trust,
				   int timeout_ms, char *err, size_t errlen)
{
	https_client_t *c;
	const char *h = host;
	size_t hl = strlen(host);

	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(c->host)) {
		err_set(err, errlen, "bad host `%s'", host);
		return NULL;
	}
	if (port <= 0 || port > 65535)
		port = 443;
	c = xcalloc(1, sizeof(*c));
	c->fd = -1;
	memcpy(c->host, h, hl);
	c->host[hl] = '\0';
	snprintf(c->port, sizeof(c->port), "%d", port);
	if (strchr(c->host, ':'))
		snprintf(c->hosthdr, sizeof(c->hosthdr), "[%s]:%d", c->host, port);
	else
		snprintf(c->hosthdr, sizeof(c->hosthdr), "%s:%d", c->host, port);
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	c->max_response = HTTPS_DEFAULT_MAX_RESPONSE;
	if (!(c->tls = tls_ctx_client_new(trust, err, errlen))) {
		free(c);
		return NULL;
	}
	return c;
}

static struct evhttp_uri *parse_https_url(const char *url, char *err, size_t errlen)
{
	struct evhttp_uri *u = url ? evhttp_uri_parse(url) : NULL;
	const char *scheme;

	if (!u) {
		err_set(err, errlen, "not a URL: `%s'", url ? url : "(null)");
		return NULL;
	}
	scheme = evhttp_uri_get_scheme(u);
	if (!scheme || strcasecmp(scheme, "https") != 0 || !evhttp_uri_get_host(u)) {
		err_set(err, errlen, "not an https:// URL: `%s'", url);
		evhttp_uri_free(u);
		return NULL;
	}
	return u;
}

https_client_t *https_client_new(const char *base_url, const https_trust_t *trust,
				 int timeout_ms, char *err, size_t errlen)
{
	struct evhttp_uri *u = parse_https_url(base_url, err, errlen);
	https_client_t *c;

	if (!u)
		return NULL;
	c = client_make(evhttp_uri_get_host(u), evhttp_uri_get_port(u), trust, timeout_ms, err,
			errlen);
	evhttp_uri_free(u);
	return c;
}

void https_client_free(https_client_t *c)
{
	if (!c)
		return;
	cl_close(c);
	tls_ctx_free(c->tls);
	free(c->rb);
	free(c);
}

void https_client_set_max_response(https_client_t *c, size_t max)
{
	c->max_response = max;
}

int https_client_request(https_client_t *c, const char *method, const char *path_query,
			 const char *content_type, const void *body, size_t len, int *status,
			 uint8_t **resp, size_t *resp_len, char *err, size_t errlen)
{
	uint64_t deadline = mono_us() / 1000 + (uint64_t)c->timeout_ms;
	buf_t out;
	int attempt, keep = 0, reused, ret = -1;

	*resp = NULL;
	*resp_len = 0;
	*status = 0;
	buf_init(&out);
	if (!valid_token(method, 0) || !valid_token(path_query, 1) ||
	    (content_type && strpbrk(content_type, "\r\n"))) {
		err_set(err, errlen, "bad request line: `%.40s %.200s'", method ? method : "",
			path_query ? path_query : "");
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		reused = c->ssl != NULL;
		if (!c->ssl && cl_connect(c, deadline, err, errlen))
			goto out;
		c->got_bytes = 0;
		c->roff = c->rlen = 0;
		buf_reset(&out);
		if (cl_exchange(c, method, path_query, content_type, body, len, deadline, status,
				&out, &keep, err, errlen) == 0)
			break;
		cl_close(c);
		/* a kept-alive connection the server had already closed */
		if (!reused || c->got_bytes || mono_us() / 1000 >= deadline)
			goto out;
	}
	if (attempt == 2)
		goto out;
	if (!keep)
		cl_close(c);
	buf_u8(&out, 0);
	*resp = buf_steal(&out, resp_len);
	(*resp_len)--;
	ret = 0;
out:
	buf_free(&out);
	return ret;
}

int https_request(const char *url, const char *method, const char *content_type,
		  const void *body, size_t len, const https_trust_t *trust, int timeout_ms,
		  int *status, uint8_t **resp, size_t *resp_len, char *err, size_t errlen)
{
	struct evhttp_uri *u = parse_https_url(url, err, errlen);
	https_client_t *c = NULL;
	const char *path, *query;
	char *pq = NULL;
	int ret = -1;

	*resp = NULL;
	*resp_len = 0;
	*status = 0;
	if (!u)
		return -1;
	c = client_make(evhttp_uri_get_host(u), evhttp_uri_get_port(u), trust, timeout_ms, err, errlen);
	if (!c)
		goto out;
	path = evhttp_uri_get_path(u);
	query = evhttp_uri_get_query(u);
	pq = xasprintf("%s%s%s", path && *path ? path : "/", query ? "?" : "", query ? query : "");
	ret = https_client_request(c, method, pq, content_type, body, len, status, resp, resp_len,
				   err, errlen);
out:
	free(pq);
	https_client_free(c);
	evhttp_uri_free(u);
	return ret;
}
