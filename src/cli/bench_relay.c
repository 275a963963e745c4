/*
 * bench_relay.c — a TCP relay that holds every segment it reads for a
 * fixed time before writing it on: the link of the WAN profile
 * (bench_wan.c).  This kernel has no `netem' qdisc, so delay cannot come
 * from traffic control; instead each peer link runs through a relay port
 * whose forwarding adds `delay_ms' in each direction (RTT = 2 × delay).
 *
 * One thread, epoll, level-triggered.  Per accepted connection the relay
 * dials the target and keeps, per direction, a FIFO of the chunks read
 * (each stamped "due = arrival + delay"); a chunk is written when due, in
 * order, so the byte stream is unchanged and only shifted in time.  Reads
 * pause while more than RELAY_HIGH bytes wait in a direction (back
 * pressure reaches the sender through TCP).  EOF is passed on with
 * shutdown(SHUT_WR) once everything before it has been written; an error
 * on either side closes both.
 *
 * What this models and what not: a constant propagation delay on every
 * byte, with unlimited bandwidth and no loss.  The relay terminates TCP,
 * so each side's congestion control sees a loopback-fast peer: slow start
 * and loss recovery over a long path are not reproduced (a PBFT consortium
 * keeps its few connections open and busy, where these matter least).
 *
 *   bsec bench relay --delay-ms D --link LISTEN=TARGET [--link …]
 *     runs relays in the foreground until SIGINT / SIGTERM.
 */
#include "cli.h"
#include "bench.h"
#include "../lib/netaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_CHUNK 65536
#define RELAY_HIGH (8u << 20)
#define RELAY_LOW (4u << 20)
#define RELAY_MAX_LINKS 64

typedef struct chunk_t {
	struct chunk_t *next;
	uint64_t due_us;
	size_t len, off;
	uint8_t data[];
} chunk_t;

typedef struct conn_t conn_t;

/* What an epoll event points at. */
typedef struct {
	int kind;            /* 0 listener, 1 connection side */
	int side;            /* kind 1: 0 = accepted (client), 1 = dialled (target) */
	conn_t *c;
	size_t link;         /* kind 0 */
} ref_t;

struct conn_t {
	int fd[2];
	int connected;       /* fd[1]'s connect finished */
	int eof[2];          /* fd[d] said EOF (its queue still flushes) */
	int shut[2];         /* fd[d] has been shut for writing */
	int paused[2];       /* reads from fd[d] paused by back pressure */
	uint32_t ev[2];      /* current epoll interest of fd[d] */
	int removed[2];      /* fd[d] hung up and was taken out of the epoll set */
	chunk_t *head[2], *tail[2];   /* direction d: read from fd[d], written to fd[1-d] */
	size_t queued[2];
	ref_t ref[2];
	conn_t *next;
	int dead;
};

struct bench_relay_t {
	int ep;
	unsigned delay_ms;
	size_t nlinks;
	int lfd[RELAY_MAX_LINKS];
	struct sockaddr_storage target[RELAY_MAX_LINKS];
	socklen_t target_len[RELAY_MAX_LINKS];
	ref_t lref[RELAY_MAX_LINKS];
	conn_t *conns;
	pthread_t th;
	int running;
	atomic_int stop;
	atomic_ullong bytes, connections;
};

/* Updates fd[side]'s epoll interest from the connection's state. */
static void conn_interest(bench_relay_t *r, conn_t *c, int side)
{
	if (c->fd[side] < 0 || c->removed[side])
		return;
	uint32_t want = 0;
	int out_dir = 1 - side;   /* the direction written to fd[side] */
	if (!c->eof[side] && !c->paused[side] && (side == 0 || c->connected))
		want |= EPOLLIN;
	if (side == 1 && !c->connected)
		want |= EPOLLOUT;
	else if (c->head[out_dir] && c->head[out_dir]->off > 0)
		want |= EPOLLOUT;   /* a partly written chunk waits for room */
	if (want == c->ev[side])
		return;
	struct epoll_event e = { .events = want, .data.ptr = &c->ref[side] };
	epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd[side], &e);
	c->ev[side] = want;
}

static void conn_kill(conn_t *c)
{
	c->dead = 1;
}

static void conn_free(conn_t *c)
{
	for (int d = 0; d < 2; d++) {
		if (c->fd[d] >= 0)
			close(c->fd[d]);
		for (chunk_t *k = c->head[d], *n; k; k = n) {
			n = k->next;
			free(k);
		}
	}
	free(c);
}

static void on_accept(bench_relay_t *r, size_t link)
{
	for (;;) {
		int a = accept4(r->lfd[link], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (a < 0)
			return;
		int b = socket(r->target[link].ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (b < 0) {
			close(a);
			continue;
		}
		net_tune_socket(a);
		net_tune_socket(b);
		int cr = connect(b, (struct sockaddr *)&r->target[link], r->target_len[link]);
		if (cr < 0 && errno != EINPROGRESS) {
			close(a);
			close(b);
			continue;
		}
		conn_t *c = xcalloc(1, sizeof(*c));
		c->fd[0] = a;
		c->fd[1] = b;
		c->connected = cr == 0;
		for (int s = 0; s < 2; s++) {
			c->ref[s] = (ref_t){ .kind = 1, .side = s, .c = c };
			c->ev[s] = s == 0 || c->connected ? EPOLLIN : EPOLLOUT;
			struct epoll_event e = { .events = c->ev[s], .data.ptr = &c->ref[s] };
			epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd[s], &e);
		}
		c->next = r->conns;
		r->conns = c;
		atomic_fetch_add(&r->connections, 1);
	}
}

/* Reads what fd[side] has into direction `side''s queue. */
static void on_readable(bench_relay_t *r, conn_t *c, int side)
{
	uint64_t due = mono_us() + (uint64_t)r->delay_ms * 1000;
	for (int rounds = 0; rounds < 16 && c->queued[side] < RELAY_HIGH; rounds++) {
		chunk_t *k = xmalloc(sizeof(chunk_t) + RELAY_CHUNK);
		ssize_t n = read(c->fd[side], k->data, RELAY_CHUNK);
		if (n <= 0) {
			free(k);
			if (n == 0)
				c->eof[side] = 1;
			else if (errno != EAGAIN && errno != EINTR)
				conn_kill(c);
			break;
		}
		if (n < RELAY_CHUNK / 2) {
			chunk_t *s = xrealloc(k, sizeof(chunk_t) + (size_t)n);
			k = s;
		}
		k->next = NULL;
		k->due_us = due;
		k->len = (size_t)n;
		k->off = 0;
		if (c->tail[side])
			c->tail[side]->next = k;
		else
			c->head[side] = k;
		c->tail[side] = k;
		c->queued[side] += (size_t)n;
		if ((size_t)n < RELAY_CHUNK)
			break;
	}
	if (c->queued[side] >= RELAY_HIGH)
		c->paused[side] = 1;
}

/* Writes the due chunks of direction d to fd[1-d]. */
static void flush_dir(bench_relay_t *r, conn_t *c, int d, uint64_t now)
{
	int out = 1 - d;
	if (out == 1 && !c->connected)
		return;
	while (c->head[d] && c->head[d]->due_us <= now) {
		chunk_t *k = c->head[d];
		ssize_t w = send(c->fd[out], k->data + k->off, k->len - k->off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_kill(c);
			break;
		}
		k->off += (size_t)w;
		atomic_fetch_add(&r->bytes, (unsigned long long)w);
		if (k->off < k->len)
			break;
		c->queued[d] -= k->len;
		c->head[d] = k->next;
		if (!c->head[d])
			c->tail[d] = NULL;
		free(k);
	}
	if (c->paused[d] && c->queued[d] <= RELAY_LOW)
		c->paused[d] = 0;
	if (c->eof[d] && !c->head[d] && !c->shut[out]) {
		shutdown(c->fd[out], SHUT_WR);
		c->shut[out] = 1;
	}
}

static void on_event(bench_relay_t *r, ref_t *ref, uint32_t ev)
{
	conn_t *c = ref->c;
	int s = ref->side;
	if (c->dead)
		return;
	if (s == 1 && !c->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e) {
			conn_kill(c);
			return;
		}
		c->connected = 1;
	}
	if (ev & EPOLLERR) {
		conn_kill(c);
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP))
		if (!c->eof[s] && (s == 0 || c->connected))
			on_readable(r, c, s);
	if ((ev & EPOLLHUP) && c->eof[s] && !c->removed[s]) {
		/* both ways closed: stop hearing about it (level-triggered HUP) */
		epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd[s], NULL);
		c->removed[s] = 1;
	}
}

static void *relay_thread(void *arg)
{
	bench_relay_t *r = arg;
	struct epoll_event evs[64];
	while (!atomic_load(&r->stop)) {
		/* sleep until the earliest due chunk */
		uint64_t now = mono_us(), next = UINT64_MAX;
		for (conn_t *c = r->conns; c; c = c->next)
			for (int d = 0; d < 2; d++)
				if (c->head[d] && c->head[d]->off == 0 && c->head[d]->due_us < next)
					next = c->head[d]->due_us;
		int timeout = next == UINT64_MAX ? 100 : next <= now ? 0 : (int)((next - now + 999) / 1000);
		if (timeout > 100)
			timeout = 100;
		int n = epoll_wait(r->ep, evs, 64, timeout);
		for (int i = 0; i < n; i++) {
			ref_t *ref = evs[i].data.ptr;
			if (ref->kind == 0)
				on_accept(r, ref->link);
			else if (ref->kind == 1)
				on_event(r, ref, evs[i].events);
		}
		now = mono_us();
		for (conn_t **pp = &r->conns; *pp;) {
			conn_t *c = *pp;
			if (!c->dead) {
				flush_dir(r, c, 0, now);
				flush_dir(r, c, 1, now);
			}
			int done = c->dead || (c->eof[0] && c->eof[1] && !c->head[0] && !c->head[1]);
			if (done) {
				*pp = c->next;
				conn_free(c);
				continue;
			}
			conn_interest(r, c, 0);
			conn_interest(r, c, 1);
			pp = &c->next;
		}
	}
	return NULL;
}

bench_relay_t *bench_relay_start(const char *const *listen_at, const char *const *target, size_t n,
				 unsigned delay_ms, char *err, size_t errlen)
{
	if (n > RELAY_MAX_LINKS) {
		err_set(err, errlen, "at most %d relay links, got %zu", RELAY_MAX_LINKS, n);
		return NULL;
	}
	bench_relay_t *r = xcalloc(1, sizeof(*r));
	r->delay_ms = delay_ms;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	for (size_t i = 0; i < RELAY_MAX_LINKS; i++)
		r->lfd[i] = -1;
	if (r->ep < 0) {
		err_set(err, errlen, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (net_resolve_hostport(&ss, &sl, listen_at[i], err, errlen) < 0 ||
		    net_resolve_hostport(&r->target[i], &r->target_len[i], target[i], err, errlen) < 0)
			goto fail;
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1;
		if (fd >= 0)
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
			err_set(err, errlen, "relay cannot listen on `%s': %s", listen_at[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			goto fail;
		}
		r->lfd[i] = fd;
		r->nlinks = i + 1;
		r->lref[i] = (ref_t){ .kind = 0, .link = i };
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &r->lref[i] };
		epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &e);
	}
	if (pthread_create(&r->th, NULL, relay_thread, r) != 0) {
		err_set(err, errlen, "cannot start the relay thread");
		goto fail;
	}
	r->running = 1;
	return r;
fail:
	bench_relay_stop(r);
	return NULL;
}

void bench_relay_stop(bench_relay_t *r)
{
	if (!r)
		return;
	if (r->running) {
		atomic_store(&r->stop, 1);
		pthread_join(r->th, NULL);
	}
	while (r->conns) {
		conn_t *c = r->conns;
		r->conns = c->next;
		conn_free(c);
	}
	for (size_t i = 0; i < RELAY_MAX_LINKS; i++)
		if (r->lfd[i] >= 0)
			close(r->lfd[i]);
	if (r->ep >= 0)
		close(r->ep);
	free(r);
}

unsigned long long bench_relay_bytes(const bench_relay_t *r)
{
	return r ? atomic_load(&((bench_relay_t *)r)->bytes) : 0;
}

static volatile sig_atomic_t relay_quit;

static void on_quit(int sig)
{
	(void)sig;
	relay_quit = 1;
}

int bench_relay_main(int argc, char **argv)
{
	const char *usage = "bsec bench relay --delay-ms D --link LISTEN_HOST:PORT=TARGET_HOST:PORT [--link …]\n"
			    "  forwards every connection to LISTEN to TARGET, holding each segment D ms each way";
	long delay = -1;
	const char *ls[RELAY_MAX_LINKS], *ts[RELAY_MAX_LINKS];
	char *copies[RELAY_MAX_LINKS];
	size_t n = 0;
	int ret = 2;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc) {
			delay = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--link") && i + 1 < argc && n < RELAY_MAX_LINKS) {
			char *c = xstrdup(argv[++i]), *eq = strchr(c, '=');
			copies[n] = c;
			if (!eq) {
				n++;
				cli_fail("--link `%s' is not LISTEN=TARGET", argv[i]);
				goto out;
			}
			*eq = 0;
			ls[n] = c;
			ts[n++] = eq + 1;
		} else {
			cli_usage(usage);
			goto out;
		}
	}
	if (delay < 0 || delay > 60000 || !n) {
		cli_usage(usage);
		goto out;
	}
	char err[512];
	bench_relay_t *r = bench_relay_start(ls, ts, n, (unsigned)delay, err, sizeof(err));
	if (!r) {
		ret = cli_fail("%s", err);
		goto out;
	}
	signal(SIGINT, on_quit);
	signal(SIGTERM, on_quit);
	for (size_t i = 0; i < n; i++)
		printf("relay %s -> %s, %ld ms each way\n", ls[i], ts[i], delay);
	while (!relay_quit)
		pause();
	printf("forwarded %llu bytes\n", bench_relay_bytes(r));
	bench_relay_stop(r);
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(copies[i]);
	return ret;
}
