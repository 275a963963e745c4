/*
 * test_net.c — the network layer: X.509 helpers (tls.h), mutual-TLS peer
 * links (peer.h) and the HTTPS server and client (https.h).  Everything
 * runs in-process on 127.0.0.1 with ports picked by the kernel, in a
 * temporary directory, with a time limit on every wait.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "lib/https.h"
#include "lib/peer.h"
#include "lib/tls.h"
#include "lib/util.h"

#define NNODES 3
#define NMSG 1000

/* ---- fixture: a CA, three pinned node certs, a rogue cert, a foreign CA */

static char tmpdir[64];
static char *ca_cert, *ca_key;
static char *node_cert[NNODES], *node_key[NNODES];
static char *rogue_cert, *rogue_key;
static char *other_ca_cert, *other_ca_key, *other_cert, *other_key;
static char ca_path[128];

static int free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int group_setup(void **state)
{
	const char *sans[] = { "127.0.0.1", "localhost", "::1" };
	char err[256], name[32];
	int i;

	const char *lv = getenv("BSEC_TEST_LOG");
	log_set_level(lv && !strcmp(lv, "debug") ? LOG_DEBUG : LOG_ERROR);
	if (evthread_use_pthreads() != 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bsec-test-net-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (tls_ca_create(&ca_cert, &ca_key, "BSec test CA", 30, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
	if (tls_write_pair(ca_path, ca_cert, NULL, NULL, err, sizeof(err)))
		return -1;
	for (i = 0; i < NNODES; i++) {
		snprintf(name, sizeof(name), "node%d", i);
		if (tls_cert_issue(&node_cert[i], &node_key[i], ca_cert, ca_key, name, sans, 3, 30, err,
				   sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return -1;
		}
	}
	if (tls_cert_issue(&rogue_cert, &rogue_key, ca_cert, ca_key, "rogue", sans, 1, 30, err,
			   sizeof(err)))
		return -1;
	if (tls_ca_create(&other_ca_cert, &other_ca_key, "Other CA", 30, err, sizeof(err)) ||
	    tls_cert_issue(&other_cert, &other_key, other_ca_cert, other_ca_key, "other", sans, 1, 30,
			   err, sizeof(err)))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	int i;

	for (i = 0; i < NNODES; i++) {
		free(node_cert[i]);
		tls_secret_free(node_key[i]);
	}
	free(ca_cert);
	tls_secret_free(ca_key);
	free(rogue_cert);
	tls_secret_free(rogue_key);
	free(other_ca_cert);
	tls_secret_free(other_ca_key);
	free(other_cert);
	tls_secret_free(other_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tls -------------------------------------------------------------- */

static void test_tls_fingerprint_matches_openssl(void **state)
{
	uint8_t fp[TLS_FP_BYTES], fp2[TLS_FP_BYTES];
	char path[160], cmd[512], line[256], hex[3 * TLS_FP_BYTES + 1], err[256];
	FILE *p;
	int i;

	assert_int_equal(tls_fingerprint(fp, node_cert[0], err, sizeof(err)), 0);
	assert_int_equal(tls_fingerprint(fp2, node_cert[1], err, sizeof(err)), 0);
	assert_memory_not_equal(fp, fp2, TLS_FP_BYTES);

	/* an independent implementation must agree */
	snprintf(path, sizeof(path), "%s/n0.pem", tmpdir);
	assert_int_equal(tls_write_pair(path, node_cert[0], NULL, NULL, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint -sha256 -in '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(line, sizeof(line), p)) {
		pclose(p);
		skip();
	}
	pclose(p);
	for (i = 0; i < TLS_FP_BYTES; i++)
		snprintf(hex + 3 * i, 4, "%02X%s", fp[i], i + 1 < TLS_FP_BYTES ? ":" : "");
	assert_non_null(strstr(line, hex));

	/* chain check by openssl: leaf verifies against our CA */
	snprintf(cmd, sizeof(cmd), "openssl verify -CAfile '%s' '%s' >/dev/null 2>&1", ca_path, path);
	assert_int_equal(system(cmd), 0);
}

static void test_tls_bad_inputs(void **state)
{
	static const struct {
		const char *san;
		int ok;
	} cases[] = {
		{ "127.0.0.1", 1 }, { "::1", 1 },        { "node-1.example.org", 1 },
		{ "*.example.org", 1 }, { "bad name", 0 }, { "a,IP:1.2.3.4", 0 },
		{ "", 0 },          { ".lead.dot", 0 },  { "x..y", 0 },
	};
	uint8_t fp[TLS_FP_BYTES];
	char *c = NULL, *k = NULL, err[256];
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const char *sans[] = { cases[i].san };
		int rc = tls_cert_issue(&c, &k, ca_cert, ca_key, "t", sans, 1, 1, err, sizeof(err));
		assert_int_equal(rc == 0, cases[i].ok);
		if (!rc) {
			assert_non_null(strstr(c, "BEGIN CERTIFICATE"));
			assert_non_null(strstr(k, "BEGIN PRIVATE KEY"));   /* PKCS#8 */
		} else {
			assert_null(c);
			assert_non_null(strstr(err, "`"));
		}
		free(c);
		tls_secret_free(k);
		c = k = NULL;
	}
	/* wrong CA key */
	assert_int_equal(tls_cert_issue(&c, &k, ca_cert, other_ca_key, "t", NULL, 0, 1, err, sizeof(err)), -1);
	assert_int_equal(tls_fingerprint(fp, "not a certificate", err, sizeof(err)), -1);
	/* peer context refuses a key that does not match the certificate */
	assert_null(tls_ctx_peer_new(node_cert[0], node_key[1], NULL, 0, err, sizeof(err)));
	assert_null(tls_ctx_client_new(&(tls_trust_t){ NULL, NULL }, err, sizeof(err)));
}

static void test_tls_key_file_mode(void **state)
{
	char cp[160], kp[160], err[256];
	char *k;
	struct stat st;

	snprintf(cp, sizeof(cp), "%s/k.crt", tmpdir);
	snprintf(kp, sizeof(kp), "%s/k.key", tmpdir);
	assert_int_equal(tls_write_pair(cp, node_cert[2], kp, node_key[2], err, sizeof(err)), 0);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	k = tls_read_key_file(kp, err, sizeof(err));
	assert_non_null(k);
	assert_string_equal(k, node_key[2]);
	tls_secret_free(k);
	assert_int_equal(chmod(kp, 0644), 0);
	assert_null(tls_read_key_file(kp, err, sizeof(err)));
	assert_non_null(strstr(err, "chmod 600"));
}

/* ---- peer links ------------------------------------------------------- */

typedef struct {
	int self;
	uint32_t next_seq[8];
	uint64_t got[8];
	uint64_t total;
	int bad;
	int ups[8], downs[8];
} rx_t;

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* message: from u32, to u32, seq u32, then (seq*7 % 3000) pattern bytes */
static size_t make_msg(uint8_t *out, int from, int to, uint32_t seq)
{
	size_t n = 12 + (seq * 7u) % 3000u, i;

	put32(out, (uint32_t)from);
	put32(out + 4, (uint32_t)to);
	put32(out + 8, seq);
	for (i = 12; i < n; i++)
		out[i] = (uint8_t)(seq + i);
	return n;
}

static void on_msg(void *ctx, int from, const uint8_t *d, size_t len)
{
	rx_t *rx = ctx;
	uint32_t seq;
	size_t i;

	rx->total++;
	if (from < 0 || from >= 8 || len < 12 || (int)get32(d) != from || (int)get32(d + 4) != rx->self) {
		rx->bad++;
		return;
	}
	seq = get32(d + 8);
	if (seq != rx->next_seq[from] || len != 12 + (seq * 7u) % 3000u) {
		rx->bad++;
		return;
	}
	for (i = 12; i < len; i++)
		if (d[i] != (uint8_t)(seq + i)) {
			rx->bad++;
			return;
		}
	rx->next_seq[from]++;
	rx->got[from]++;
}

static void on_state(void *ctx, int index, int up)
{
	rx_t *rx = ctx;

	if (index >= 0 && index < 8)
		(up ? rx->ups : rx->downs)[index]++;
}

/* Frees a base after letting libevent finish the bufferevents freed just
 * before (their finalizers and deferred callbacks run from the loop). */
static void base_free(struct event_base *base)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
}

typedef int (*cond_fn)(void *arg);

/* Runs the loop until cond holds or timeout_ms passes; returns 0 / -1. */
static int run_until(struct event_base *base, cond_fn cond, void *arg, int timeout_ms)
{
	uint64_t end = mono_us() + (uint64_t)timeout_ms * 1000;
	struct timeval tv = { 0, 5000 };

	while (!cond || !cond(arg)) {
		if (mono_us() > end)
			return cond ? -1 : 0;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return 0;
}

typedef struct {
	peer_net_t *net[NNODES + 1];
	rx_t rx[NNODES + 1];
	int port[NNODES];
	char addr[NNODES][32];
	size_t n;
} cluster_t;

static peer_net_t *make_node(struct event_base *base, int self, const char *listen,
			     const peer_info_t *peers, size_t npeers, const char *cert,
			     const char *key, size_t max_frame, size_t max_queue, rx_t *rx)
{
	peer_config_t cfg;
	char err[256] = "";
	peer_net_t *n;

	memset(&cfg, 0, sizeof(cfg));
	cfg.base = base;
	cfg.self = self;
	cfg.cert_pem = cert;
	cfg.key_pem = key;
	cfg.listen = listen;
	cfg.peers = peers;
	cfg.npeers = npeers;
	cfg.max_frame = max_frame;
	cfg.max_queue = max_queue;
	cfg.on_message = on_msg;
	cfg.on_peer_state = on_state;
	cfg.ctx = rx;
	rx->self = self;
	n = peer_net_new(&cfg, err, sizeof(err));
	if (!n)
		fprintf(stderr, "peer_net_new(%d): %s\n", self, err);
	return n;
}

static peer_net_t *make_cluster_node(struct event_base *base, cluster_t *c, int i)
{
	peer_info_t peers[NNODES];
	size_t np = 0;
	int j;

	for (j = 0; j < NNODES; j++) {
		if (j == i)
			continue;
		peers[np].index = j;
		peers[np].addr = c->addr[j];
		peers[np].cert_pem = node_cert[j];
		np++;
	}
	return make_node(base, i, c->addr[i], peers, np, node_cert[i], node_key[i], 0, 0, &c->rx[i]);
}

static void cluster_init(struct event_base *base, cluster_t *c)
{
	int i;

	memset(c, 0, sizeof(*c));
	c->n = NNODES;
	for (i = 0; i < NNODES; i++) {
		c->port[i] = free_port();
		snprintf(c->addr[i], sizeof(c->addr[i]), "127.0.0.1:%d", c->port[i]);
	}
	for (i = 0; i < NNODES; i++) {
		c->net[i] = make_cluster_node(base, c, i);
		assert_non_null(c->net[i]);
		assert_int_equal(peer_net_listen_port(c->net[i]), c->port[i]);
	}
}

static int all_connected(void *arg)
{
	cluster_t *c = arg;
	int i;

	for (i = 0; i < NNODES; i++)
		if (!c->net[i] || peer_net_connected_count(c->net[i]) != NNODES - 1)
			return 0;
	return 1;
}

/* The 10 messages of test_peer_restart's first round, on every link. */
static int first_round_received(void *arg)
{
	cluster_t *c = arg;
	for (int i = 0; i < NNODES; i++)
		for (int j = 0; j < NNODES; j++)
			if (i != j && c->rx[i].got[j] < 10)
				return 0;
	return 1;
}

static int all_received(void *arg)
{
	cluster_t *c = arg;
	int i, j;

	for (i = 0; i < NNODES; i++)
		for (j = 0; j < NNODES; j++)
			if (i != j && c->rx[i].got[j] < NMSG)
				return 0;
	return 1;
}

static void cluster_free(cluster_t *c)
{
	size_t i;

	for (i = 0; i < NNODES + 1; i++)
		peer_net_free(c->net[i]);
}

static void send_round(cluster_t *c, uint32_t first, uint32_t count)
{
	uint8_t msg[4096];
	uint32_t s;
	int i, j;

	/* interleave so every link carries traffic at once */
	for (s = first; s < first + count; s++)
		for (i = 0; i < NNODES; i++)
			for (j = 0; j < NNODES; j++)
				if (i != j)
					assert_int_equal(peer_net_send(c->net[i], j, msg, make_msg(msg, i, j, s)), 0);
}

static void test_peer_exchange(void **state)
{
	struct event_base *base = event_base_new();
	cluster_t c;
	peer_counters_t pc;
	int i;

	cluster_init(base, &c);
	/* queue before the links exist: frames wait and then flow */
	send_round(&c, 0, NMSG / 2);
	assert_int_equal(run_until(base, all_connected, &c, 5000), 0);
	send_round(&c, NMSG / 2, NMSG - NMSG / 2);
	assert_int_equal(run_until(base, all_received, &c, 10000), 0);
	for (i = 0; i < NNODES; i++) {
		assert_int_equal(c.rx[i].bad, 0);
		assert_int_equal(c.rx[i].total, (NNODES - 1) * NMSG);
		peer_net_counters(c.net[i], &pc);
		assert_int_equal(pc.frames_out, (NNODES - 1) * NMSG);
		assert_int_equal(pc.frames_in, (NNODES - 1) * NMSG);
		assert_int_equal(pc.handshake_failures, 0);
		assert_int_equal(pc.links_up, NNODES - 1);
		assert_true(pc.bytes_in > pc.frames_in * 12);
	}
	/* broadcast reaches both others */
	{
		uint8_t msg[4096];
		size_t n = make_msg(msg, 0, 1, NMSG);
		assert_int_equal(peer_net_broadcast(c.net[0], msg, n), NNODES - 1);
		assert_int_equal(run_until(base, NULL, NULL, 200), 0);
		assert_int_equal(c.rx[1].got[0], NMSG + 1);
		assert_int_equal(c.rx[2].bad, 1);   /* addressed to 1, so node 2 flags it */
	}
	cluster_free(&c);
	base_free(base);
}

typedef struct {
	cluster_t *c;
	uint64_t base_fail[NNODES];
} rogue_ctx_t;

static int rogue_refused_everywhere(void *arg)
{
	rogue_ctx_t *r = arg;
	peer_counters_t pc;
	int i;

	for (i = 0; i < NNODES; i++) {
		peer_net_counters(r->c->net[i], &pc);
		if (pc.handshake_failures <= r->base_fail[i])
			return 0;
	}
	return 1;
}

static void test_peer_unpinned_refused(void **state)
{
	struct event_base *base = event_base_new();
	cluster_t c;
	rogue_ctx_t r;
	peer_info_t peers[NNODES];
	peer_counters_t pc;
	uint8_t msg[64];
	int i;

	cluster_init(base, &c);
	assert_int_equal(run_until(base, all_connected, &c, 5000), 0);
	r.c = &c;
	for (i = 0; i < NNODES; i++) {
		peer_net_counters(c.net[i], &pc);
		r.base_fail[i] = pc.handshake_failures;
		peers[i].index = i;
		peers[i].addr = c.addr[i];
		peers[i].cert_pem = node_cert[i];
	}
	/* a fourth endpoint with a certificate from the same CA, pinned by nobody */
	c.net[NNODES] = make_node(base, NNODES, "127.0.0.1:0", peers, NNODES, rogue_cert, rogue_key,
				  0, 0, &c.rx[NNODES]);
	assert_non_null(c.net[NNODES]);
	for (i = 0; i < NNODES; i++)
		assert_int_equal(peer_net_send(c.net[NNODES], i, msg, make_msg(msg, NNODES, i, 0)), 0);
	assert_int_equal(run_until(base, rogue_refused_everywhere, &r, 5000), 0);
	assert_int_equal(run_until(base, NULL, NULL, 300), 0);
	assert_int_equal(peer_net_connected_count(c.net[NNODES]), 0);
	peer_net_counters(c.net[NNODES], &pc);
	assert_true(pc.handshake_failures >= NNODES);
	assert_int_equal(pc.frames_out, 0);
	assert_int_equal(pc.links_up, 0);
	for (i = 0; i < NNODES; i++) {
		assert_int_equal(c.rx[i].total, 0);
		assert_int_equal(c.rx[i].bad, 0);
		assert_int_equal(c.rx[NNODES].ups[i], 0);
	}
	/* the real nodes stayed connected */
	assert_true(all_connected(&c));
	cluster_free(&c);
	base_free(base);
}

static int one_up(void *arg)
{
	return peer_net_connected_count(arg) >= 1;
}

/* A node that answers at the address of one peer with the (pinned) cert of
 * another is refused: each outbound link demands its own peer's pin. */
static void test_peer_wrong_identity(void **state)
{
	struct event_base *base = event_base_new();
	rx_t rx0, rx2;
	char a2[32];
	peer_info_t p0[2], p2[1];
	peer_net_t *n0, *n2;
	peer_counters_t pc;

	memset(&rx0, 0, sizeof(rx0));
	memset(&rx2, 0, sizeof(rx2));
	snprintf(a2, sizeof(a2), "127.0.0.1:%d", free_port());
	p0[0] = (peer_info_t){ 1, a2, node_cert[1] };   /* node 1 claimed at node 2's address */
	p0[1] = (peer_info_t){ 2, a2, node_cert[2] };
	p2[0] = (peer_info_t){ 0, "127.0.0.1:1", node_cert[0] };
	n0 = make_node(base, 0, NULL, p0, 2, node_cert[0], node_key[0], 0, 0, &rx0);
	n2 = make_node(base, 2, a2, p2, 1, node_cert[2], node_key[2], 0, 0, &rx2);
	assert_non_null(n0);
	assert_non_null(n2);
	assert_int_equal(run_until(base, one_up, n0, 5000), 0);
	assert_int_equal(run_until(base, NULL, NULL, 400), 0);
	assert_true(peer_net_is_up(n0, 2));
	assert_false(peer_net_is_up(n0, 1));
	assert_int_equal(peer_net_peer_counters(n0, 1, &pc), 0);
	assert_true(pc.handshake_failures >= 1);
	assert_int_equal(peer_net_peer_counters(n0, 7, &pc), -1);
	peer_net_free(n0);
	peer_net_free(n2);
	base_free(base);
}

static int node2_down_seen(void *arg)
{
	cluster_t *c = arg;

	return !peer_net_is_up(c->net[0], 2) && !peer_net_is_up(c->net[1], 2);
}

static void test_peer_restart(void **state)
{
	struct event_base *base = event_base_new();
	cluster_t c;
	int i;

	cluster_init(base, &c);
	assert_int_equal(run_until(base, all_connected, &c, 5000), 0);
	send_round(&c, 0, 10);
	/* let the round arrive first: a frame still queued for node 2 when it
	 * stops reaches the restarted node, whose fresh counters would call it
	 * out of sequence (1 run in 5 under ASan) */
	assert_int_equal(run_until(base, first_round_received, &c, 5000), 0);
	/* stop node 2; the others notice */
	peer_net_free(c.net[2]);
	c.net[2] = NULL;
	assert_int_equal(run_until(base, node2_down_seen, &c, 5000), 0);
	assert_int_equal(c.rx[0].downs[2], 1);
	/* restart it on the same address with fresh state */
	memset(c.rx, 0, sizeof(c.rx));
	for (i = 0; i < NNODES; i++)
		c.rx[i].self = i;
	c.net[2] = make_cluster_node(base, &c, 2);
	assert_non_null(c.net[2]);
	assert_int_equal(run_until(base, all_connected, &c, 8000), 0);
	assert_int_equal(c.rx[0].ups[2], 1);
	/* delivery resumes both ways */
	send_round(&c, 0, NMSG);
	assert_int_equal(run_until(base, all_received, &c, 10000), 0);
	for (i = 0; i < NNODES; i++)
		assert_int_equal(c.rx[i].bad, 0);
	cluster_free(&c);
	base_free(base);
}

typedef struct {
	peer_net_t *x, *y;
	rx_t *ry;
} pair_t;

static int y_saw_oversized_and_back(void *arg)
{
	pair_t *p = arg;
	peer_counters_t px, py;

	peer_net_counters(p->x, &px);
	peer_net_counters(p->y, &py);
	return py.oversized == 1 && px.links_down == 1 && px.links_up == 2 &&
	       peer_net_is_up(p->x, 1);
}

static int y_got_one(void *arg)
{
	pair_t *p = arg;

	return p->ry->got[0] >= 1;
}

static void test_peer_oversized_and_limits(void **state)
{
	struct event_base *base = event_base_new();
	rx_t rx[3];
	char ax[32], ay[32];
	peer_info_t px[2], py[1];
	peer_net_t *x, *y;
	peer_counters_t pc;
	pair_t p;
	uint8_t *big = xcalloc(1, 70000);
	uint8_t msg[64];
	int sent;

	memset(rx, 0, sizeof(rx));
	snprintf(ax, sizeof(ax), "127.0.0.1:%d", free_port());
	snprintf(ay, sizeof(ay), "127.0.0.1:%d", free_port());
	px[0] = (peer_info_t){ 1, ay, node_cert[1] };
	px[1] = (peer_info_t){ 2, "127.0.0.1:1", node_cert[2] };   /* never reachable */
	py[0] = (peer_info_t){ 0, ax, node_cert[0] };
	/* x: frames up to 64 KiB, queue 200 KiB; y: accepts frames up to 1 KiB */
	x = make_node(base, 0, ax, px, 2, node_cert[0], node_key[0], 65536, 200000, &rx[0]);
	y = make_node(base, 1, ay, py, 1, node_cert[1], node_key[1], 1024, 0, &rx[1]);
	assert_non_null(x);
	assert_non_null(y);
	p = (pair_t){ x, y, &rx[1] };
	assert_int_equal(run_until(base, one_up, x, 5000), 0);

	/* sender-side limits */
	assert_int_equal(peer_net_send(x, 5, msg, 10), -1);              /* unknown node */
	assert_int_equal(peer_net_send(x, 1, big, 65537), -1);           /* > max_frame */
	assert_int_equal(peer_net_peer_counters(x, 1, &pc), 0);
	assert_int_equal(pc.dropped_too_large, 1);
	for (sent = 0; sent < 10; sent++)                                /* unreachable: queue fills */
		if (peer_net_send(x, 2, big, 60000) != 0)
			break;
	assert_int_equal(sent, 3);
	assert_int_equal(peer_net_peer_counters(x, 2, &pc), 0);
	assert_int_equal(pc.dropped_queue_full, 1);
	assert_int_equal(pc.queued_bytes, 3 * 60004);

	/* a frame above y's limit drops the link; x reconnects; delivery resumes */
	assert_int_equal(peer_net_send(x, 1, big, 2000), 0);
	assert_int_equal(run_until(base, y_saw_oversized_and_back, &p, 8000), 0);
	assert_int_equal(rx[1].total, 0);
	assert_int_equal(peer_net_send(x, 1, msg, make_msg(msg, 0, 1, 0)), 0);
	assert_int_equal(run_until(base, y_got_one, &p, 5000), 0);
	assert_int_equal(rx[1].bad, 0);

	peer_net_free(x);
	peer_net_free(y);
	free(big);
	base_free(base);
}

static int x_got_from_y(void *arg)
{
	pair_t *p = arg;

	return p->ry->got[1] >= 1;
}

/* A TCP connection to port from 127.0.0.<last>, or -1. */
static int connect_from(int last, int port)
{
	struct sockaddr_in src, dst;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000000u | (unsigned)last);
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Unauthenticated connections: at most PEER_MAX_PENDING_PER_ADDR from one
 * address and PEER_MAX_PENDING_INBOUND in all; those from a member's
 * address (the genesis names it by IP) have places of their own, so
 * outsiders holding every other place cannot keep a member from
 * reconnecting (they used to: 64 handshakes trickled a byte at a time
 * held the port). */
static void handshake_places(const char *listen_host)
{
	struct event_base *base = event_base_new();
	rx_t rx[2];
	char ax[32], ay[32], lx[40];
	int pa = free_port(), fds[PEER_MAX_PENDING_INBOUND + 2], nf = 0;
	peer_counters_t pc;

	memset(rx, 0, sizeof(rx));
	snprintf(ax, sizeof(ax), "127.0.0.1:%d", pa);
	snprintf(lx, sizeof(lx), "%s:%d", listen_host, pa);
	snprintf(ay, sizeof(ay), "127.0.0.1:%d", free_port());
	peer_info_t px[1] = { { 1, ay, node_cert[1] } }, py[1] = { { 0, ax, node_cert[0] } };
	peer_net_t *x = make_node(base, 0, lx, px, 1, node_cert[0], node_key[0], 0, 0, &rx[0]);
	assert_non_null(x);
	/* outsiders from 127.0.0.10 ... : every general place, then one more
	 * address, and one more from the first address */
	const int addrs = PEER_MAX_PENDING_INBOUND / PEER_MAX_PENDING_PER_ADDR;
	for (int a = 0; a < addrs; a++)
		for (int k = 0; k < PEER_MAX_PENDING_PER_ADDR; k++)
			assert_true((fds[nf++] = connect_from(10 + a, pa)) >= 0);
	assert_true((fds[nf++] = connect_from(10 + addrs, pa)) >= 0);
	assert_true((fds[nf++] = connect_from(10, pa)) >= 0);
	run_until(base, NULL, NULL, 500);
	peer_net_counters(x, &pc);
	assert_int_equal(pc.refused_inbound, 2);
	/* node 1, at a member's address, still gets in: its message, on its
	 * link into x, arrives */
	peer_net_t *y = make_node(base, 1, ay, py, 1, node_cert[1], node_key[1], 0, 0, &rx[1]);
	assert_non_null(y);
	uint8_t msg[64];
	assert_int_equal(peer_net_send(y, 0, msg, make_msg(msg, 1, 0, 0)), 0);
	pair_t p = { y, x, &rx[0] };
	assert_int_equal(run_until(base, x_got_from_y, &p, 5000), 0);
	for (int i = 0; i < nf; i++)
		close(fds[i]);
	peer_net_free(x);
	peer_net_free(y);
	base_free(base);
}

static void test_peer_handshake_places(void **state)
{
	(void)state;
	handshake_places("127.0.0.1");
	/* a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d: still the
	 * member's address */
	handshake_places("[::]");
}

static void test_peer_config_errors(void **state)
{
	struct event_base *base = event_base_new();
	peer_info_t dup[2] = { { 1, "127.0.0.1:1", node_cert[1] }, { 1, "127.0.0.1:2", node_cert[2] } };
	peer_info_t self_[1] = { { 0, "127.0.0.1:1", node_cert[1] } };
	peer_info_t same[2] = { { 1, "127.0.0.1:1", node_cert[1] }, { 2, "127.0.0.1:2", node_cert[1] } };
	peer_info_t badaddr[1] = { { 1, "nowhere", node_cert[1] } };
	peer_info_t own[1] = { { 1, "127.0.0.1:1", node_cert[0] } };
	const struct {
		peer_info_t *peers;
		size_t n;
	} cases[] = { { dup, 2 }, { self_, 1 }, { same, 2 }, { badaddr, 1 }, { own, 1 } };
	rx_t rx;
	size_t i;

	memset(&rx, 0, sizeof(rx));
	(void)state;
	for (i = 0; i < ARRAY_LEN(cases); i++)
		assert_null(make_node(base, 0, NULL, cases[i].peers, cases[i].n, node_cert[0],
				      node_key[0], 0, 0, &rx));
	/* cannot bind the same port twice */
	{
		peer_net_t *a = make_node(base, 0, "127.0.0.1:0", NULL, 0, node_cert[0], node_key[0], 0, 0, &rx);
		char addr[32];
		assert_non_null(a);
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", peer_net_listen_port(a));
		assert_null(make_node(base, 0, addr, NULL, 0, node_cert[0], node_key[0], 0, 0, &rx));
		peer_net_free(a);
	}
	base_free(base);
}

/* ---- HTTPS ------------------------------------------------------------ */

typedef struct {
	struct event_base *base;
	https_server_t *srv;
	pthread_t thr;
	int port;
	char url[64];
	volatile int gone;
	volatile int waits_done;
} web_t;

typedef struct {
	https_req_t *req;
	struct event *ev;
	web_t *w;
	uint64_t ms;
} waiter_t;

static void h_echo_get(https_req_t *req, void *ctx)
{
	char *j = xasprintf("{\"rest\":\"%s\",\"x\":\"%s\",\"remote\":\"%s\"}", https_req_path_rest(req),
			    https_req_query(req, "x") ? https_req_query(req, "x") : "",
			    https_req_remote(req));
	https_reply_json(req, 200, j);
	free(j);
}

static void h_echo_post(https_req_t *req, void *ctx)
{
	size_t n;
	const uint8_t *b = https_req_body(req, &n);

	https_req_set_header(req, "X-Test", "yes");
	https_reply(req, 201, "application/octet-stream", b, n);
}

static void waiter_fire(evutil_socket_t fd, short what, void *arg)
{
	waiter_t *w = arg;
	char j[64];

	snprintf(j, sizeof(j), "{\"waited\":%llu}", (unsigned long long)w->ms);
	w->w->waits_done++;
	https_reply_json(w->req, 200, j);
	event_free(w->ev);
	free(w);
}

static void waiter_gone(https_req_t *req, void *ctx)
{
	waiter_t *w = ctx;

	w->w->gone++;
	event_free(w->ev);
	free(w);
}

static void h_wait(https_req_t *req, void *ctx)
{
	web_t *web = ctx;
	waiter_t *w;
	uint64_t ms;
	struct timeval tv;

	if (https_req_query_u64(req, "wait", 0, 60000, &ms)) {
		https_reply_error(req, 400, "bad_request", "wait must be 0..60000 ms");
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->req = req;
	w->w = web;
	w->ms = ms;
	w->ev = evtimer_new(web->base, waiter_fire, w);
	tv.tv_sec = (long)(ms / 1000);
	tv.tv_usec = (long)(ms % 1000) * 1000;
	evtimer_add(w->ev, &tv);
	https_req_defer(req, waiter_gone, w);
}

static void h_forgets(https_req_t *req, void *ctx)
{
	/* neither replies nor defers: the server answers 500 */
}

static const https_route_t routes[] = {
	{ "GET", "/echo", h_echo_get },
	{ "POST", "/echo", h_echo_post },
	{ "GET", "/wait", h_wait },
	{ NULL, "/forgets/", h_forgets },
};

static void *loop_thread(void *arg)
{
	web_t *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void web_start(web_t *w, const char *cert, const char *key)
{
	https_server_config_t cfg;
	char err[256] = "";

	memset(w, 0, sizeof(*w));
	memset(&cfg, 0, sizeof(cfg));
	w->base = event_base_new();
	cfg.listen = "127.0.0.1:0";
	cfg.cert_pem = cert;
	cfg.key_pem = key;
	cfg.routes = routes;
	cfg.nroutes = ARRAY_LEN(routes);
	cfg.ctx = w;
	w->srv = https_server_new(w->base, &cfg, err, sizeof(err));
	if (!w->srv)
		fprintf(stderr, "https_server_new: %s\n", err);
	assert_non_null(w->srv);
	w->port = https_server_port(w->srv);
	assert_true(w->port > 0);
	snprintf(w->url, sizeof(w->url), "https://127.0.0.1:%d", w->port);
	assert_int_equal(pthread_create(&w->thr, NULL, loop_thread, w), 0);
}

static void web_stop(web_t *w)
{
	event_base_loopbreak(w->base);
	pthread_join(w->thr, NULL);
	https_server_free(w->srv);
	base_free(w->base);
}

static int req(const char *url, const char *method, const void *body, size_t len,
	       const https_trust_t *t, int *status, char **resp, size_t *rlen, char *err)
{
	return https_request(url, method, "application/octet-stream", body, len, t, 5000, status,
			     (uint8_t **)resp, rlen, err, 256);
}

static void test_https_roundtrip(void **state)
{
	web_t w;
	https_trust_t pin = { NULL, node_cert[0] };
	https_trust_t ca = { ca_path, NULL };
	char url[128], err[256], *resp = NULL;
	size_t rlen, n = 100000, i;
	uint8_t *body = xmalloc(n);
	int status;

	web_start(&w, node_cert[0], node_key[0]);

	/* GET with a path remainder and a decoded query, pinned trust */
	snprintf(url, sizeof(url), "%s/echo/abc?x=h%%C3%%A9llo%%20w", w.url);
	assert_int_equal(req(url, "GET", NULL, 0, &pin, &status, &resp, &rlen, err), 0);
	assert_int_equal(status, 200);
	assert_non_null(strstr(resp, "\"rest\":\"abc\""));
	assert_non_null(strstr(resp, "\"x\":\"h\xc3\xa9llo w\""));
	assert_int_equal(strlen(resp), rlen);
	free(resp);

	/* POST echo of a 100 kB binary body, CA trust with IP SAN */
	for (i = 0; i < n; i++)
		body[i] = (uint8_t)(i * 31 + 7);
	snprintf(url, sizeof(url), "%s/echo", w.url);
	assert_int_equal(req(url, "POST", body, n, &ca, &status, &resp, &rlen, err), 0);
	assert_int_equal(status, 201);
	assert_int_equal(rlen, n);
	assert_memory_equal(resp, body, n);
	free(resp);

	/* CA trust by host name (DNS SAN "localhost") */
	snprintf(url, sizeof(url), "https://localhost:%d/echo", w.port);
	assert_int_equal(req(url, "GET", NULL, 0, &ca, &status, &resp, &rlen, err), 0);
	assert_int_equal(status, 200);
	free(resp);

	free(body);
	web_stop(&w);
}

static void test_https_errors(void **state)
{
	static const struct {
		const char *method, *path;
		size_t body;
		int status;
		const char *code;
	} cases[] = {
		{ "GET", "/nope", 0, 404, "not_found" },
		{ "GET", "/echox", 0, 404, "not_found" },
		{ "DELETE", "/echo", 0, 405, "method_not_allowed" },
		{ "POST", "/echo", HTTPS_DEFAULT_MAX_BODY + 1, 413, "body_too_large" },
		{ "GET", "/wait?wait=abc", 0, 400, "bad_request" },
		{ "GET", "/wait?wait=99999999", 0, 400, "bad_request" },
		{ "PUT", "/forgets/x", 0, 500, "internal" },
		{ "GET", "/echo/%00x", 0, 400, "bad_request" },
	};
	web_t w;
	https_trust_t pin = { NULL, node_cert[0] };
	char url[256], err[256], *resp = NULL, want[64];
	uint8_t *body = xcalloc(1, HTTPS_DEFAULT_MAX_BODY * 4 + 70000);
	size_t rlen, i;
	int status, rc;

	web_start(&w, node_cert[0], node_key[0]);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		snprintf(url, sizeof(url), "%s%s", w.url, cases[i].path);
		rc = req(url, cases[i].method, body, cases[i].body, &pin, &status, &resp, &rlen, err);
		if (rc)
			fprintf(stderr, "case %zu: %s\n", i, err);
		assert_int_equal(rc, 0);
		assert_int_equal(status, cases[i].status);
		snprintf(want, sizeof(want), "\"error\":\"%s\"", cases[i].code);
		assert_non_null(strstr(resp, want));
		assert_non_null(strstr(resp, "\"message\":"));
		free(resp);
	}
	/* beyond libevent's hard limit: 413 from libevent, or the server hangs
	 * up while we are still sending */
	snprintf(url, sizeof(url), "%s/echo", w.url);
	rc = req(url, "POST", body, HTTPS_DEFAULT_MAX_BODY * 4 + 70000, &pin, &status, &resp, &rlen, err);
	assert_true(rc == -1 || status == 413);
	free(resp);
	resp = NULL;

	/* the client refuses a server whose certificate is not the pinned one */
	{
		https_trust_t wrong = { NULL, node_cert[1] };
		https_trust_t other_ca = { NULL, NULL };
		char other_path[160];
		snprintf(url, sizeof(url), "%s/echo", w.url);
		assert_int_equal(req(url, "GET", NULL, 0, &wrong, &status, &resp, &rlen, err), -1);
		assert_null(resp);
		assert_non_null(strstr(err, "pinned"));
		/* nor one from another CA */
		snprintf(other_path, sizeof(other_path), "%s/other-ca.pem", tmpdir);
		assert_int_equal(tls_write_pair(other_path, other_ca_cert, NULL, NULL, err, sizeof(err)), 0);
		other_ca.ca_file = other_path;
		assert_int_equal(req(url, "GET", NULL, 0, &other_ca, &status, &resp, &rlen, err), -1);
		assert_non_null(strstr(err, "refused"));
		/* CA fine but name not in the certificate */
		{
			https_trust_t ca = { ca_path, NULL };
			char *c = NULL, *k = NULL;
			web_t w2;
			const char *sans[] = { "example.org" };
			assert_int_equal(tls_cert_issue(&c, &k, ca_cert, ca_key, "x", sans, 1, 1, err, sizeof(err)), 0);
			web_start(&w2, c, k);
			snprintf(url, sizeof(url), "%s/echo", w2.url);
			assert_int_equal(req(url, "GET", NULL, 0, &ca, &status, &resp, &rlen, err), -1);
			web_stop(&w2);
			free(c);
			tls_secret_free(k);
		}
	}
	/* malformed URLs and request lines */
	assert_int_equal(req("http://127.0.0.1:1/", "GET", NULL, 0, &pin, &status, &resp, &rlen, err), -1);
	assert_int_equal(req("nonsense", "GET", NULL, 0, &pin, &status, &resp, &rlen, err), -1);
	snprintf(url, sizeof(url), "%s/echo", w.url);
	assert_int_equal(req(url, "GE T", NULL, 0, &pin, &status, &resp, &rlen, err), -1);
	/* nothing listening */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", free_port());
	assert_int_equal(req(url, "GET", NULL, 0, &pin, &status, &resp, &rlen, err), -1);
	free(body);
	web_stop(&w);
}

static void test_https_keepalive_and_deferred(void **state)
{
	web_t w;
	https_trust_t pin = { NULL, node_cert[0] };
	https_client_t *c;
	char err[256], *resp, first_remote[64] = "";
	size_t rlen;
	uint64_t t0;
	int status, i;

	web_start(&w, node_cert[0], node_key[0]);
	c = https_client_new(w.url, &pin, 5000, err, sizeof(err));
	assert_non_null(c);
	/* 20 requests on one kept-alive connection: the client port never changes */
	for (i = 0; i < 20; i++) {
		char *r, *q, now[64];
		assert_int_equal(https_client_request(c, "GET", "/echo", NULL, NULL, 0, &status,
						      (uint8_t **)&resp, &rlen, err, sizeof(err)), 0);
		assert_int_equal(status, 200);
		r = strstr(resp, "\"remote\":\"");
		assert_non_null(r);
		r += 10;
		q = strchr(r, '"');
		assert_non_null(q);
		snprintf(now, sizeof(now), "%.*s", (int)(q - r), r);
		if (i == 0)
			snprintf(first_remote, sizeof(first_remote), "%s", now);
		else
			assert_string_equal(first_remote, now);
		free(resp);
	}
	/* long poll: the handler defers and replies 200 ms later */
	t0 = mono_us();
	assert_int_equal(https_client_request(c, "GET", "/wait?wait=200", NULL, NULL, 0, &status,
					      (uint8_t **)&resp, &rlen, err, sizeof(err)), 0);
	assert_int_equal(status, 200);
	assert_true(mono_us() - t0 >= 190000);
	assert_non_null(strstr(resp, "\"waited\":200"));
	free(resp);
	https_client_free(c);

	/* a client that gives up: the handler hears that it went away */
	c = https_client_new(w.url, &pin, 300, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(https_client_request(c, "GET", "/wait?wait=5000", NULL, NULL, 0, &status,
					      (uint8_t **)&resp, &rlen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "timed out"));
	https_client_free(c);
	for (i = 0; i < 200 && !w.gone; i++)
		usleep(10000);
	assert_int_equal(w.gone, 1);
	assert_int_equal(w.waits_done, 1);
	web_stop(&w);
}

/* The client against a chunked response (evhttp's reply_start/chunk/end). */
static void chunked_cb(struct evhttp_request *r, void *arg)
{
	struct evbuffer *b = evbuffer_new();
	int i;

	evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type", "text/plain");
	evhttp_send_reply_start(r, 200, "OK");
	for (i = 0; i < 50; i++) {
		evbuffer_add_printf(b, "chunk-%02d;", i);
		evhttp_send_reply_chunk(r, b);
	}
	evhttp_send_reply_end(r);
	evbuffer_free(b);
}

static struct bufferevent *raw_bevcb(struct event_base *base, void *arg)
{
	return bufferevent_openssl_socket_new(base, -1, tls_ssl_new(arg, -1),
					      BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void test_https_client_chunked(void **state)
{
	web_t w;
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
	tls_ctx_t *tls;
	https_trust_t pin = { NULL, node_cert[1] };
	https_client_t *c;
	char err[256], *resp, url[64], expect[600] = "";
	size_t rlen;
	int status, i, port;

	memset(&w, 0, sizeof(w));
	w.base = event_base_new();
	tls = tls_ctx_server_new(node_cert[1], node_key[1], err, sizeof(err));
	assert_non_null(tls);
	http = evhttp_new(w.base);
	evhttp_set_bevcb(http, raw_bevcb, tls);
	evhttp_set_gencb(http, chunked_cb, NULL);
	port = free_port();
	sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", (ev_uint16_t)port);
	assert_non_null(sock);
	assert_int_equal(pthread_create(&w.thr, NULL, loop_thread, &w), 0);

	for (i = 0; i < 50; i++)
		snprintf(expect + strlen(expect), sizeof(expect) - strlen(expect), "chunk-%02d;", i);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	c = https_client_new(url, &pin, 5000, err, sizeof(err));
	assert_non_null(c);
	for (i = 0; i < 3; i++) {
		assert_int_equal(https_client_request(c, "GET", "/x", NULL, NULL, 0, &status,
						      (uint8_t **)&resp, &rlen, err, sizeof(err)), 0);
		assert_int_equal(status, 200);
		assert_string_equal(resp, expect);
		free(resp);
	}
	/* response size limit */
	https_client_set_max_response(c, 100);
	assert_int_equal(https_client_request(c, "GET", "/x", NULL, NULL, 0, &status,
					      (uint8_t **)&resp, &rlen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	https_client_free(c);

	event_base_loopbreak(w.base);
	pthread_join(w.thr, NULL);
	evhttp_free(http);
	tls_ctx_free(tls);
	base_free(w.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_fingerprint_matches_openssl),
		cmocka_unit_test(test_tls_bad_inputs),
		cmocka_unit_test(test_tls_key_file_mode),
		cmocka_unit_test(test_peer_exchange),
		cmocka_unit_test(test_peer_unpinned_refused),
		cmocka_unit_test(test_peer_wrong_identity),
		cmocka_unit_test(test_peer_restart),
		cmocka_unit_test(test_peer_oversized_and_limits),
		cmocka_unit_test(test_peer_handshake_places),
		cmocka_unit_test(test_peer_config_errors),
		cmocka_unit_test(test_https_roundtrip),
		cmocka_unit_test(test_https_errors),
		cmocka_unit_test(test_https_keepalive_and_deferred),
		cmocka_unit_test(test_https_client_chunked),
	};

	if (getenv("BSEC_TEST_FILTER"))
		cmocka_set_test_filter(getenv("BSEC_TEST_FILTER"));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
