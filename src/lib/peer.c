/*
 * peer.c — mutual-TLS node links on libevent bufferevent_openssl (see
 * peer.h for the model).
 *
 * Per peer ("slot") we keep: the outbound connection (send only), the
 * current inbound connection (receive only), a queue of whole frames not
 * yet handed to TLS, a redial timer and counters.  Frames move from the
 * queue into the bufferevent's output one whole frame at a time and only
 * while that output holds less than PUMP_HIGH bytes, so a dropped link
 * never leaves half a frame at the head of the queue, and the queue limit
 * covers both.  Inbound connections stay on a `pending` list until their
 * handshake completes; at most PEER_MAX_PENDING_INBOUND at a time and
 * PEER_MAX_PENDING_PER_ADDR from one address, each closed
 * PEER_HANDSHAKE_TIMEOUT_MS after it was accepted whatever it sends (an
 * idle timer alone let a ClientHello sent a byte every 8 s hold its slot
 * for ever), so unauthenticated sockets cannot pile up; connections from a
 * member's address have slots of their own (PEER_PENDING_PER_MEMBER per
 * member there), so outsiders filling the others cannot keep members from
 * reconnecting.
 */
#include "peer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "netaddr.h"
#include "tls.h"

#define HELLO "BSN1"
#define HELLO_LEN 4
#define PUMP_HIGH (4u << 20)      /* bytes kept in the TLS output at most */
#define PUMP_LOW (1u << 20)       /* refill below this */
/* Bytes a link may read or write per turn of the event loop; libevent's
 * default (16 KiB) let a busy node drain each link at a few MB/s, so
 * megabytes of tx gossip and blocks piled up in the kernel's socket
 * buffers and consensus messages behind them arrived seconds late. */
#define PEER_SINGLE_IO (1u << 20)
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define WRITE_STALL_MS 30000      /* an outbound link that cannot write for this long is dead */
#define LISTEN_PAUSE_MS 1000      /* after accept() errors such as EMFILE */

enum { DIR_OUT, DIR_IN };
enum { ST_HANDSHAKE, ST_HELLO, ST_UP };

typedef struct conn_t conn_t;

struct conn_t {
	peer_net_t *net;
	struct bufferevent *bev;
	int dir;
	int state;
	int slot;                 /* slot position; -1 for inbound until authenticated */
	conn_t *next;             /* pending inbound list */
	struct event *deadline;   /* pending inbound: closes it, handshake or not */
	int member;               /* pending inbound from a member's address */
	char ip[INET6_ADDRSTRLEN];
	char addr[64];
};

typedef struct {
	peer_net_t *net;
	int index;
	char *addr;
	char host[256];           /* of addr: an IP, or a name (then no reserved handshakes) */
	uint8_t fp[TLS_FP_BYTES];
	conn_t *out, *in;
	struct evbuffer *q;
	struct event *retry;
	unsigned attempts;
	peer_counters_t c;
} slot_t;

struct peer_net_t {
	struct event_base *base;
	int self;
	tls_ctx_t *tls;
	struct evconnlistener *lst;
	struct event *listen_resume;
	slot_t *slots;
	size_t nslots;
	conn_t *pending;
	size_t npending;
	size_t max_frame, max_queue;
	struct ev_token_bucket_cfg *rl;
	peer_on_message_fn on_message;
	peer_on_state_fn on_state;
	void *ctx;
	peer_counters_t c;        /* node-wide, not attributable to a slot */
};

static void dial(peer_net_t *net, slot_t *s);

static slot_t *slot_find(const peer_net_t *net, int index)
{
	size_t i;

	for (i = 0; i < net->nslots; i++)
		if (net->slots[i].index == index)
			return &net->slots[i];
	return NULL;
}

static size_t slot_queued(const slot_t *s)
{
	size_t n = evbuffer_get_length(s->q);

	if (s->out)
		n += evbuffer_get_length(bufferevent_get_output(s->out->bev));
	return n;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Describes why a TLS bufferevent failed; returns 1 when a real TLS
 * (not just socket) error was reported. */
static int bev_error(struct bufferevent *bev, short what, char *buf, size_t len)
{
	unsigned long e, tls_e = 0;
	int sock_err = EVUTIL_SOCKET_ERROR();

	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		if (ERR_GET_LIB(e) != 0 && !tls_e)
			tls_e = e;
	if (tls_e) {
		char ebuf[200];
		ERR_error_string_n(tls_e, ebuf, sizeof(ebuf));
		snprintf(buf, len, "tls: %s", ebuf);
	} else if (what & BEV_EVENT_TIMEOUT) {
		snprintf(buf, len, "timeout");
	} else if (what & BEV_EVENT_EOF) {
		snprintf(buf, len, "closed by peer");
	} else {
		snprintf(buf, len, "%s", evutil_socket_error_to_string(sock_err));
	}
	return tls_e != 0;
}

static void conn_free(conn_t *c)
{
	if (!c)
		return;
	if (c->deadline)
		event_free(c->deadline);
	if (c->bev)
		bufferevent_free(c->bev);
	free(c);
}

static void pending_remove(peer_net_t *net, conn_t *c)
{
	conn_t **pp;

	for (pp = &net->pending; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			net->npending--;
			return;
		}
	}
}

/* ---- outbound --------------------------------------------------------- */

static void pump(slot_t *s)
{
	struct evbuffer *out;
	uint8_t hdr[4];
	size_t n;

	if (!s->out || s->out->state != ST_UP)
		return;
	out = bufferevent_get_output(s->out->bev);
	while (evbuffer_get_length(out) < PUMP_HIGH && evbuffer_get_length(s->q) >= 4) {
		if (evbuffer_copyout(s->q, hdr, 4) != 4)
			break;
		n = 4 + (size_t)get_be32(hdr);
		if (evbuffer_remove_buffer(s->q, out, n) != (int)n) {
			log_error("peer", "queue to node %d corrupt; discarding it", s->index);
			evbuffer_drain(s->q, evbuffer_get_length(s->q));
			break;
		}
		s->c.frames_out++;
		s->c.bytes_out += n;
	}
}

static void schedule_retry(peer_net_t *net, slot_t *s)
{
	uint64_t d = (uint64_t)BACKOFF_MIN_MS << (s->attempts < 16 ? s->attempts : 16);
	uint32_t r = 0;
	struct timeval tv;

	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	if (s->attempts < 16)
		s->attempts++;
	/* jitter: uniformly in [d/2, d] */
	evutil_secure_rng_get_bytes(&r, sizeof(r));
	d = d / 2 + r % (d / 2 + 1);
	tv.tv_sec = (long)(d / 1000);
	tv.tv_usec = (long)(d % 1000) * 1000;
	evtimer_add(s->retry, &tv);
}

/* The outbound link to s is gone (or never came up): free it and redial. */
static void out_lost(peer_net_t *net, slot_t *s, const char *why)
{
	int was_up = s->out && s->out->state == ST_UP;

	conn_free(s->out);
	s->out = NULL;
	if (was_up) {
		s->c.links_down++;
		log_warn("peer", "link to node %d (%s) down: %s", s->index, s->addr, why);
		if (net->on_state)
			net->on_state(net->ctx, s->index, 0);
	} else {
		log_debug("peer", "dial node %d (%s) failed: %s", s->index, s->addr, why);
	}
	schedule_retry(net, s);
}

static void out_read_cb(struct bufferevent *bev, void *arg)
{
	conn_t *c = arg;
	peer_net_t *net = c->net;
	slot_t *s = &net->slots[c->slot];
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hello[HELLO_LEN];

	if (c->state == ST_HELLO) {
		if (evbuffer_get_length(in) < HELLO_LEN)
			return;
		evbuffer_remove(in, hello, HELLO_LEN);
		if (memcmp(hello, HELLO, HELLO_LEN) != 0) {
			out_lost(net, s, "bad hello");
			return;
		}
		c->state = ST_UP;
		{
			struct timeval wt = { WRITE_STALL_MS / 1000, (WRITE_STALL_MS % 1000) * 1000 };
			bufferevent_set_timeouts(bev, NULL, &wt);
		}
		s->attempts = 0;
		s->c.links_up++;
		log_info("peer", "link to node %d (%s) up", s->index, s->addr);
		if (net->on_state)
			net->on_state(net->ctx, s->index, 1);
		pump(s);
	}
	/* The acceptor sends nothing after the hello. */
	evbuffer_drain(in, evbuffer_get_length(in));
}

static void out_write_cb(struct bufferevent *bev, void *arg)
{
	conn_t *c = arg;

	pump(&c->net->slots[c->slot]);
}

static void out_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_t *c = arg;
	peer_net_t *net = c->net;
	slot_t *s = &net->slots[c->slot];
	char why[256];
	int tls_fail;

	if (what & BEV_EVENT_CONNECTED) {
		c->state = ST_HELLO;    /* wait for the acceptor to approve our certificate */
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	tls_fail = bev_error(bev, what, why, sizeof(why));
	if (c->state == ST_HELLO || (c->state == ST_HANDSHAKE && (tls_fail || (what & BEV_EVENT_TIMEOUT)))) {
		s->c.handshake_failures++;
		log_warn("peer", "handshake with node %d (%s) failed: %s", s->index, s->addr, why);
	}
	out_lost(net, s, why);
}

static void dial(peer_net_t *net, slot_t *s)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct bufferevent *bev = NULL;
	struct timeval hs = { PEER_HANDSHAKE_TIMEOUT_MS / 1000, (PEER_HANDSHAKE_TIMEOUT_MS % 1000) * 1000 };
	char err[256];
	SSL *ssl = NULL;
	conn_t *c;
	int pos = (int)(s - net->slots);
	evutil_socket_t fd;

	if (s->out)
		return;
	if (net_resolve_hostport(&ss, &sslen, s->addr, err, sizeof(err))) {
		log_warn("peer", "node %d: %s", s->index, err);
		schedule_retry(net, s);
		return;
	}
	/* our own socket: close-on-exec, no Nagle */
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	net_tune_socket(fd);
	ssl = tls_ssl_new(net->tls, pos);
	if (!ssl) {
		evutil_closesocket(fd);
		goto fail;
	}
	bev = bufferevent_openssl_socket_new(net->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		goto fail;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c = xcalloc(1, sizeof(*c));
	c->net = net;
	c->bev = bev;
	c->dir = DIR_OUT;
	c->state = ST_HANDSHAKE;
	c->slot = pos;
	snprintf(c->addr, sizeof(c->addr), "%s", s->addr);
	s->out = c;
	bufferevent_setcb(bev, out_read_cb, out_write_cb, out_event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, PUMP_LOW, 0);
	bufferevent_set_timeouts(bev, &hs, &hs);
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss, (int)sslen) != 0) {
		out_lost(net, s, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	return;
fail:
	log_error("peer", "cannot set up a TLS connection to node %d", s->index);
	schedule_retry(net, s);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	slot_t *s = arg;

	dial(s->net, s);
}

/* ---- inbound ---------------------------------------------------------- */

static void in_close(peer_net_t *net, conn_t *c)
{
	if (c->slot < 0)
		pending_remove(net, c);
	else if (net->slots[c->slot].in == c)
		net->slots[c->slot].in = NULL;
	conn_free(c);
}

static void in_read_cb(struct bufferevent *bev, void *arg)
{
	conn_t *c = arg;
	peer_net_t *net = c->net;
	slot_t *s;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[4];
	size_t len, n;
	uint8_t *p;

	if (c->state != ST_UP || c->slot < 0)
		return;
	s = &net->slots[c->slot];
	while ((len = evbuffer_get_length(in)) >= 4) {
		evbuffer_copyout(in, hdr, 4);
		n = get_be32(hdr);
		if (n > net->max_frame) {
			s->c.oversized++;
			log_warn("peer", "node %d sent a %zu-byte frame (max %zu); dropping the link",
				 s->index, n, net->max_frame);
			in_close(net, c);
			return;
		}
		if (len < 4 + n)
			break;
		p = evbuffer_pullup(in, (ev_ssize_t)(4 + n));
		if (!p)
			break;
		s->c.frames_in++;
		s->c.bytes_in += 4 + n;
		if (net->on_message)
			net->on_message(net->ctx, s->index, p + 4, n);
		evbuffer_drain(in, 4 + n);
	}
}

static void in_event_cb(struct bufferevent *bev, short what, void *arg)
{
	conn_t *c = arg;
	peer_net_t *net = c->net;
	char why[256];
	int pin;
	slot_t *s;

	if (what & BEV_EVENT_CONNECTED) {
		pin = tls_ssl_pin_index(bufferevent_openssl_get_ssl(bev));
		if (pin < 0 || (size_t)pin >= net->nslots) {
			net->c.handshake_failures++;
			log_warn("peer", "inbound %s: no pinned certificate matched", c->addr);
			in_close(net, c);
			return;
		}
		pending_remove(net, c);
		if (c->deadline) {
			event_free(c->deadline);
			c->deadline = NULL;
		}
		s = &net->slots[pin];
		if (s->in) {
			log_info("peer", "node %d reconnected from %s; replacing its old inbound link",
				 s->index, c->addr);
			in_close(net, s->in);
		}
		s->in = c;
		c->slot = pin;
		c->state = ST_UP;
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setwatermark(bev, EV_READ, 0, net->max_frame + 4);
		bufferevent_set_max_single_read(bev, PEER_SINGLE_IO);
		if (net->rl)
			bufferevent_set_rate_limit(bev, net->rl);
		bufferevent_write(bev, HELLO, HELLO_LEN);
		log_info("peer", "inbound link from node %d (%s) up", s->index, c->addr);
		/* the peer is back: our link to it need not wait out its back-off
		 * (replies to what it sends us travel on that link) */
		if (!s->out && evtimer_pending(s->retry, NULL)) {
			evtimer_del(s->retry);
			s->attempts = 0;
			dial(net, s);
		}
		if (evbuffer_get_length(bufferevent_get_input(bev)))
			in_read_cb(bev, c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	bev_error(bev, what, why, sizeof(why));
	if (c->state != ST_UP) {
		net->c.handshake_failures++;
		log_warn("peer", "inbound handshake from %s failed: %s", c->addr, why);
	} else {
		log_info("peer", "inbound link from node %d closed: %s",
			 net->slots[c->slot].index, why);
	}
	in_close(net, c);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	conn_t *c = arg;

	(void)fd;
	(void)what;
	c->net->c.handshake_failures++;
	log_warn("peer", "inbound handshake from %s failed: not done %d ms after it was accepted", c->addr,
		 PEER_HANDSHAKE_TIMEOUT_MS);
	in_close(c->net, c);
}

/* The IP of sa, without port or brackets ("" when neither v4 nor v6); an
 * IPv4 peer on a dual-stack listener (::ffff:a.b.c.d) as a.b.c.d, as the
 * genesis would name it. */
static void sa_ip(char out[INET6_ADDRSTRLEN], const struct sockaddr *sa)
{
	out[0] = 0;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, INET6_ADDRSTRLEN);
		else
			inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN);
	}
}

/* Whether an inbound connection from ip may wait for its handshake now:
 * *member says whether it takes a member's reserved place. */
static int pending_admit(peer_net_t *net, const char *ip, int *member)
{
	size_t members_here = 0, from_ip = 0, general = 0;

	for (size_t i = 0; ip[0] && i < net->nslots; i++)
		members_here += !strcmp(net->slots[i].host, ip);
	for (const conn_t *c = net->pending; c; c = c->next) {
		from_ip += !strcmp(c->ip, ip);
		general += !c->member;
	}
	*member = members_here > 0;
	if (*member)
		return from_ip < PEER_PENDING_PER_MEMBER * members_here;
	return general < PEER_MAX_PENDING_INBOUND && from_ip < PEER_MAX_PENDING_PER_ADDR;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	peer_net_t *net = arg;
	struct timeval hs = { PEER_HANDSHAKE_TIMEOUT_MS / 1000, (PEER_HANDSHAKE_TIMEOUT_MS % 1000) * 1000 };
	struct bufferevent *bev;
	SSL *ssl;
	conn_t *c;
	char addr[64], ip[INET6_ADDRSTRLEN];
	int member;

	net_format_addr(addr, sizeof(addr), sa);
	sa_ip(ip, sa);
	if (!pending_admit(net, ip, &member)) {
		net->c.refused_inbound++;
		if (net->c.refused_inbound % 100 == 1)
			log_warn("peer", "refusing %s: %zu handshakes already pending (%llu refused so far)", addr,
				 net->npending, (unsigned long long)net->c.refused_inbound);
		evutil_closesocket(fd);
		return;
	}
	net_tune_socket(fd);
	ssl = tls_ssl_new(net->tls, -1);
	if (!ssl) {
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(net->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	c = xcalloc(1, sizeof(*c));
	c->net = net;
	c->bev = bev;
	c->dir = DIR_IN;
	c->state = ST_HANDSHAKE;
	c->slot = -1;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	snprintf(c->ip, sizeof(c->ip), "%s", ip);
	c->member = member;
	c->next = net->pending;
	net->pending = c;
	net->npending++;
	bufferevent_setcb(bev, in_read_cb, NULL, in_event_cb, c);
	bufferevent_set_timeouts(bev, &hs, &hs);
	c->deadline = evtimer_new(net->base, deadline_cb, c);
	if (c->deadline)
		evtimer_add(c->deadline, &hs);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void listen_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	peer_net_t *net = arg;

	evconnlistener_enable(net->lst);
}

static void listen_error_cb(struct evconnlistener *l, void *arg)
{
	peer_net_t *net = arg;
	struct timeval tv = { LISTEN_PAUSE_MS / 1000, (LISTEN_PAUSE_MS % 1000) * 1000 };

	log_warn("peer", "accept failed: %s; pausing the listener",
		 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	evconnlistener_disable(l);
	evtimer_add(net->listen_resume, &tv);
}

/* ---- life cycle ------------------------------------------------------- */

peer_net_t *peer_net_new(const peer_config_t *cfg, char *err, size_t errlen)
{
	peer_net_t *net = xcalloc(1, sizeof(*net));
	char *cert = NULL, *key = NULL;
	uint8_t (*pins)[TLS_FP_BYTES] = NULL;
	uint8_t own_fp[TLS_FP_BYTES];
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[256], port[8];
	size_t i, j;
	int ok = 0;

	net->base = cfg->base;
	net->self = cfg->self;
	net->max_frame = cfg->max_frame ? cfg->max_frame : PEER_DEFAULT_MAX_FRAME;
	if (net->max_frame > PEER_MAX_FRAME_LIMIT)
		net->max_frame = PEER_MAX_FRAME_LIMIT;
	net->max_queue = cfg->max_queue ? cfg->max_queue : PEER_DEFAULT_MAX_QUEUE;
	if (net->max_queue < net->max_frame + 4)
		net->max_queue = net->max_frame + 4;
	net->on_message = cfg->on_message;
	net->on_state = cfg->on_peer_state;
	net->ctx = cfg->ctx;
	if (!cfg->base || cfg->self < 0) {
		err_set(err, errlen, "peer_net: need an event base and a node index >= 0 (got %d)", cfg->self);
		goto out;
	}

	/* own credentials */
	cert = cfg->cert_pem ? xstrdup(cfg->cert_pem) : cfg->cert_file ? tls_read_cert_file(cfg->cert_file, err, errlen) : NULL;
	if (!cert) {
		if (!cfg->cert_pem && !cfg->cert_file)
			err_set(err, errlen, "peer_net: no TLS certificate configured");
		goto out;
	}
	key = cfg->key_pem ? xstrdup(cfg->key_pem) : cfg->key_file ? tls_read_key_file(cfg->key_file, err, errlen) : NULL;
	if (!key) {
		if (!cfg->key_pem && !cfg->key_file)
			err_set(err, errlen, "peer_net: no TLS key configured");
		goto out;
	}
	if (tls_fingerprint(own_fp, cert, err, errlen))
		goto out;

	/* peers and their pins */
	net->nslots = cfg->npeers;
	net->slots = xcalloc(cfg->npeers ? cfg->npeers : 1, sizeof(*net->slots));
	pins = xcalloc(cfg->npeers ? cfg->npeers : 1, TLS_FP_BYTES);
	for (i = 0; i < cfg->npeers; i++) {
		const peer_info_t *p = &cfg->peers[i];
		slot_t *s = &net->slots[i];

		if (p->index < 0 || p->index == cfg->self) {
			err_set(err, errlen, "peer_net: bad peer index %d (self is %d)", p->index, cfg->self);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (cfg->peers[j].index == p->index) {
				err_set(err, errlen, "peer_net: peer index %d listed twice", p->index);
				goto out;
			}
		if (net_split_hostport(host, sizeof(host), port, sizeof(port), p->addr, err, errlen))
			goto out;
		snprintf(s->host, sizeof(s->host), "%s", host);
		if (!p->cert_pem || tls_fingerprint(s->fp, p->cert_pem, err, errlen)) {
			if (!p->cert_pem)
				err_set(err, errlen, "peer_net: node %d has no certificate", p->index);
			goto out;
		}
		if (memcmp(s->fp, own_fp, TLS_FP_BYTES) == 0) {
			err_set(err, errlen, "peer_net: node %d has our own certificate", p->index);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (memcmp(net->slots[j].fp, s->fp, TLS_FP_BYTES) == 0) {
				err_set(err, errlen, "peer_net: nodes %d and %d share a certificate",
					net->slots[j].index, p->index);
				goto out;
			}
		memcpy(pins[i], s->fp, TLS_FP_BYTES);
		s->net = net;
		s->index = p->index;
		s->addr = xstrdup(p->addr);
		s->q = evbuffer_new();
		s->retry = evtimer_new(cfg->base, retry_cb, s);
	}
	net->tls = tls_ctx_peer_new(cert, key, (const uint8_t (*)[TLS_FP_BYTES])pins, cfg->npeers, err, errlen);
	if (!net->tls)
		goto out;

	if (cfg->rate_limit_bps) {
		size_t rate = cfg->rate_limit_bps > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)cfg->rate_limit_bps;
		size_t burst = rate > net->max_frame + 4 ? rate : net->max_frame + 4;
		net->rl = ev_token_bucket_cfg_new(rate, burst, rate, burst, NULL);
	}

	if (cfg->listen) {
		if (net_resolve_hostport(&ss, &sslen, cfg->listen, err, errlen))
			goto out;
		net->lst = evconnlistener_new_bind(cfg->base, accept_cb, net,
						   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						   LEV_OPT_CLOSE_ON_EXEC, 128,
						   (struct sockaddr *)&ss, (int)sslen);
		if (!net->lst) {
			err_set(err, errlen, "peer_net: cannot listen on `%s': %s", cfg->listen,
				evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
			goto out;
		}
		evconnlistener_set_error_cb(net->lst, listen_error_cb);
		net->listen_resume = evtimer_new(cfg->base, listen_resume_cb, net);
	}
	/* First dials run from the loop, never inside this call. */
	for (i = 0; i < net->nslots; i++) {
		struct timeval now = { 0, 0 };
		evtimer_add(net->slots[i].retry, &now);
	}
	log_info("peer", "node %d: %zu peers, listening on %s (port %d)", net->self, net->nslots,
		 cfg->listen ? cfg->listen : "-", peer_net_listen_port(net));
	ok = 1;
out:
	free(pins);
	free(cert);
	tls_secret_free(key);
	if (!ok) {
		peer_net_free(net);
		return NULL;
	}
	return net;
}

void peer_net_free(peer_net_t *net)
{
	size_t i;
	conn_t *c, *next;

	if (!net)
		return;
	for (i = 0; i < net->nslots; i++) {
		slot_t *s = &net->slots[i];
		conn_free(s->out);
		conn_free(s->in);
		if (s->q)
			evbuffer_free(s->q);
		if (s->retry)
			event_free(s->retry);
		free(s->addr);
	}
	for (c = net->pending; c; c = next) {
		next = c->next;
		conn_free(c);
	}
	if (net->lst)
		evconnlistener_free(net->lst);
	if (net->listen_resume)
		event_free(net->listen_resume);
	if (net->rl)
		ev_token_bucket_cfg_free(net->rl);
	tls_ctx_free(net->tls);
	free(net->slots);
	free(net);
}

int peer_net_send(peer_net_t *net, int to, const void *data, size_t len)
{
	slot_t *s = slot_find(net, to);
	uint8_t hdr[4];

	if (!s) {
		log_warn("peer", "send to unknown node %d", to);
		return -1;
	}
	if (len > net->max_frame) {
		s->c.dropped_too_large++;
		log_warn("peer", "frame of %zu bytes to node %d exceeds the %zu-byte limit", len, to,
			 net->max_frame);
		return -1;
	}
	if (slot_queued(s) + 4 + len > net->max_queue) {
		if (s->c.dropped_queue_full++ == 0 || s->c.dropped_queue_full % 1000 == 0)
			log_warn("peer", "queue to node %d full (%zu bytes); %llu frames dropped so far",
				 to, slot_queued(s), (unsigned long long)s->c.dropped_queue_full);
		return -1;
	}
	put_be32(hdr, (uint32_t)len);
	evbuffer_add(s->q, hdr, 4);
	if (len)
		evbuffer_add(s->q, data, len);
	pump(s);
	return 0;
}

size_t peer_net_broadcast(peer_net_t *net, const void *data, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < net->nslots; i++)
		if (peer_net_send(net, net->slots[i].index, data, len) == 0)
			n++;
	return n;
}

size_t peer_net_connected_count(const peer_net_t *net)
{
	size_t i, n = 0;

	for (i = 0; i < net->nslots; i++)
		if (net->slots[i].out && net->slots[i].out->state == ST_UP)
			n++;
	return n;
}

int peer_net_is_up(const peer_net_t *net, int index)
{
	const slot_t *s = slot_find(net, index);

	return s && s->out && s->out->state == ST_UP;
}

int peer_net_listen_port(const peer_net_t *net)
{
	if (!net->lst)
		return -1;
	return net_local_port(evconnlistener_get_fd(net->lst));
}

static void counters_add(peer_counters_t *a, const peer_counters_t *b)
{
	a->bytes_in += b->bytes_in;
	a->bytes_out += b->bytes_out;
	a->frames_in += b->frames_in;
	a->frames_out += b->frames_out;
	a->dropped_queue_full += b->dropped_queue_full;
	a->dropped_too_large += b->dropped_too_large;
	a->oversized += b->oversized;
	a->handshake_failures += b->handshake_failures;
	a->refused_inbound += b->refused_inbound;
	a->links_up += b->links_up;
	a->links_down += b->links_down;
	a->queued_bytes += b->queued_bytes;
}

void peer_net_counters(const peer_net_t *net, peer_counters_t *out)
{
	size_t i;

	*out = net->c;
	for (i = 0; i < net->nslots; i++) {
		peer_counters_t c = net->slots[i].c;
		c.queued_bytes = slot_queued(&net->slots[i]);
		counters_add(out, &c);
	}
}

int peer_net_peer_counters(const peer_net_t *net, int index, peer_counters_t *out)
{
	const slot_t *s = slot_find(net, index);

	if (!s)
		return -1;
	*out = s->c;
	out->queued_bytes = slot_queued(s);
	return 0;
}
