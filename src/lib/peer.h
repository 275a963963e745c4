/*
 * peer.h — a node's persistent mutual-TLS links to every other node.
 *
 * Each node dials every other node and keeps that OUTBOUND link for
 * sending only; it accepts INBOUND links and uses them for receiving
 * only.  Both directions run TLS 1.3 with certificates pinned by the
 * genesis (tls.h): a dialled node must present exactly the certificate
 * configured for it, and an inbound link is attributed to the node whose
 * pinned certificate it presented — any other certificate fails the
 * handshake.  After a successful handshake the acceptor sends a 4-byte
 * hello; a link counts as "up" for the dialler only when it arrives, i.e.
 * when the other side has accepted our certificate too.
 *
 * Messages are frames: u32 big-endian payload length, then the payload.
 * A frame above max_frame drops the link (counted as `oversized`).
 * Outgoing frames wait in a bounded per-peer queue (bytes); when a frame
 * does not fit it is dropped (`dropped_queue_full`) and the send fails.
 * Frames are delivered in order per sender; frames in flight when a link
 * drops may be lost (consensus retransmits and state-transfers), never
 * reordered or duplicated within one link.  Lost links are redialled with
 * exponential back-off, 100 ms doubling to 5 s, with jitter.
 *
 * Single-threaded: every function and callback runs on the event loop
 * thread of the event_base given to peer_net_new.  Callbacks must not
 * call peer_net_free.  Hides OpenSSL and libevent (only struct event_base
 * is named).
 */
#ifndef BSEC_PEER_H
#define BSEC_PEER_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct event_base;

#define PEER_DEFAULT_MAX_FRAME (64u * 1024 * 1024)   /* 64 MiB */
#define PEER_MAX_FRAME_LIMIT (1u << 30)              /* max_frame is capped at 1 GiB */
#define PEER_DEFAULT_MAX_QUEUE (128u * 1024 * 1024)  /* 128 MiB per peer: two largest frames */
#define PEER_HANDSHAKE_TIMEOUT_MS 10000              /* from accept, whatever it sends */
#define PEER_MAX_PENDING_INBOUND 64                  /* unauthenticated connections */
#define PEER_MAX_PENDING_PER_ADDR 4                  /* of them from one address */
/* Handshakes from a member's address (a genesis peer address given as an
 * IP) count apart from those, two per member there: an outsider holding
 * the 64 cannot keep members from reconnecting. */
#define PEER_PENDING_PER_MEMBER 2

typedef struct peer_net_t peer_net_t;

/* One other node.  Strings are copied by peer_net_new. */
typedef struct {
	int index;              /* node index in the genesis, >= 0, != self */
	const char *addr;       /* "host:port" it listens on */
	const char *cert_pem;   /* its pinned TLS certificate (PEM) */
} peer_info_t;

/* Counters (monotonic unless marked gauge).  Bytes include frame headers. */
typedef struct {
	uint64_t bytes_in, bytes_out;
	uint64_t frames_in, frames_out;   /* received; handed to TLS */
	uint64_t dropped_queue_full;      /* sends refused: queue full */
	uint64_t dropped_too_large;       /* sends refused: frame > max_frame */
	uint64_t oversized;               /* links dropped: incoming frame > max_frame */
	uint64_t handshake_failures;      /* TLS handshakes failed or timed out */
	uint64_t refused_inbound;         /* accepts refused: too many pending */
	uint64_t links_up;                /* outbound links that came up */
	uint64_t links_down;              /* outbound links lost after being up */
	uint64_t queued_bytes;            /* gauge: bytes waiting to be sent */
} peer_counters_t;

/* from: the sender's node index.  data is valid during the call only. */
typedef void (*peer_on_message_fn)(void *ctx, int from, const uint8_t *data, size_t len);
/* index's outbound link went up (1) or down (0). */
typedef void (*peer_on_state_fn)(void *ctx, int index, int up);

typedef struct {
	struct event_base *base;
	int self;                      /* own node index */
	/* Own certificate and key: PEM text, or else files (key must be 0600). */
	const char *cert_pem, *key_pem;
	const char *cert_file, *key_file;
	const char *listen;            /* "host:port" (port 0: ephemeral); NULL: no listener */
	const peer_info_t *peers;      /* the other nodes */
	size_t npeers;
	size_t max_frame;              /* 0: PEER_DEFAULT_MAX_FRAME; capped at PEER_MAX_FRAME_LIMIT */
	size_t max_queue;              /* 0: PEER_DEFAULT_MAX_QUEUE (raised to >= max_frame + 4) */
	uint64_t rate_limit_bps;       /* per inbound link read limit, bytes/s; 0: none */
	peer_on_message_fn on_message;
	peer_on_state_fn on_peer_state; /* may be NULL */
	void *ctx;
} peer_config_t;

/* Loads credentials, binds the listener and schedules dials to every peer
 * (they start once the loop runs).  Returns NULL with a reason on a bad
 * certificate, duplicate/self peer index, or a listen address that cannot
 * be bound. */
peer_net_t *peer_net_new(const peer_config_t *cfg, char *err, size_t errlen);

/* Closes every link and frees everything; queued frames are discarded.
 * No callbacks run.  NULL is fine.  libevent finishes closing the links
 * from the loop: before event_base_free, run the loop once more
 * (EVLOOP_NONBLOCK) or libevent may leak them at exit. */
void peer_net_free(peer_net_t *net);

/* Queues one frame to node `to`.  Returns 0 when queued (it is sent once
 * the link is up), -1 when `to` is unknown, the frame exceeds max_frame,
 * or the queue is full (each counted). */
int peer_net_send(peer_net_t *net, int to, const void *data, size_t len);

/* peer_net_send to every peer; returns how many queued it. */
size_t peer_net_broadcast(peer_net_t *net, const void *data, size_t len);

/* Number of peers whose outbound link is up. */
size_t peer_net_connected_count(const peer_net_t *net);

/* 1 when the outbound link to `index` is up. */
int peer_net_is_up(const peer_net_t *net, int index);

/* The listener's bound port (useful with port 0), or -1 without one. */
int peer_net_listen_port(const peer_net_t *net);

/* Sum over all peers plus node-wide counts (failed inbound handshakes
 * cannot be attributed to a peer). */
void peer_net_counters(const peer_net_t *net, peer_counters_t *out);

/* One peer's counters; -1 for an unknown index. */
int peer_net_peer_counters(const peer_net_t *net, int index, peer_counters_t *out);

#endif
