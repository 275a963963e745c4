/*
 * pbft.h — PBFT consensus (Castro & Liskov, OSDI '99 / TOCS 2002) as a pure
 * state machine: no sockets, no clocks, no threads, no storage.  The node
 * drives it with calls (pbft_receive, pbft_tick, pbft_note_pending) that
 * carry the current time, and it acts only through the callbacks below,
 * synchronously, from inside those calls.  Everything is deterministic, so
 * the unit tests run whole consortia in one process.
 *
 * Protocol, as built here (DESIGN §5):
 *
 *  - Heights are PBFT's sequence numbers; the block at height h carries
 *    prev_hash = hash of block h-1, so PBFT's per-sequence rules get two
 *    ordering rules on top: a replica accepts the pre-prepare of (v, h)
 *    only on top of the one it accepted for (v, h-1) (or its last
 *    delivered block), and it sends COMMIT(v, h) only after COMMIT(v, h-1)
 *    (or h-1 delivered).  With them a commit at h implies prepared
 *    certificates for the whole chain below it, which the view change
 *    carries forward.
 *  - Normal case: the leader of view v (node v mod n) asks the node for a
 *    block as soon as txs are pending and fewer than `window` heights are
 *    uncommitted (has_pending, build_block; no fixed timer), signs
 *    PRE-PREPARE(v, h, block) and broadcasts it.  Every replica, the
 *    leader included, validates it (validate_block) and broadcasts
 *    PREPARE(v, h, hash) — the leader's own PREPARE stands for PBFT's
 *    pre-prepare in the count.  Prepared = accepted pre-prepare + a quorum
 *    (n - f) of matching PREPAREs; a replica then broadcasts
 *    COMMIT(v, h, hash) whose signature is the certificate signature of
 *    block.h (commit_signed_bytes).  A quorum of COMMITs of one view is the
 *    commit certificate (cert_t); the block is delivered with it, in
 *    height order, exactly once.
 *  - View change: a replica whose progress timer expires (txs pending or a
 *    block accepted but not committed), or that sees its leader equivocate,
 *    persists view v+1 and broadcasts VIEW-CHANGE(v+1, C, P): C = its last
 *    delivered block (height, hash, commit certificate — stronger than
 *    PBFT's 2f+1 CHECKPOINT proof), P = for each height above it the
 *    prepared certificate of the highest view (view, hash, the quorum of
 *    signed PREPAREs), with the blocks attached.  f+1 VIEW-CHANGEs for
 *    higher views make a replica join the smallest of them; a quorum
 *    starts the (backed-off) new-view timer.  The new leader broadcasts
 *    NEW-VIEW(v+1, the quorum of VIEW-CHANGEs, O): min_s = highest C;
 *    for each height above it the prepared block of the highest view; O is
 *    the longest prefix of those that chains onto min_s (hash links).  A
 *    hash-chained ledger cannot fill a gap with a null request (the next
 *    block names its parent), so O is truncated at the first gap instead;
 *    nothing above a gap can have committed (rule above), so this is safe.
 *    Everyone recomputes O from the VIEW-CHANGEs; the NEW-VIEW carries the
 *    blocks of every candidate above min_s so that the recomputation needs
 *    nothing else.  Re-proposed blocks keep their bytes and hash (their
 *    header names the view they were first proposed in).
 *  - Checkpoints: every checkpoint_interval heights a replica broadcasts
 *    CHECKPOINT(h, hash); a quorum makes it stable (reported in stats) and
 *    f+1 above our height make us fetch.
 *  - State transfer: FETCH(from, to, view) / BLOCKS(height, block, cert).
 *    A replica fetches when it learns that heights above its own are
 *    committed (a commit quorum, f+1 checkpoints, a NEW-VIEW's min_s) or
 *    sees signed messages beyond its window; every fetched block is
 *    checked against its certificate before delivery.  A FETCH from a
 *    replica in an older view is also answered with our NEW-VIEW, which
 *    brings it into the current view.
 *  - Durability: before a vote leaves, what it commits to is persisted
 *    (persist callback, which must be durable when it returns): the view
 *    before a VIEW-CHANGE, the block and the vote before a PRE-PREPARE or
 *    PREPARE, the prepared certificate before a COMMIT.  pbft_restore
 *    feeds the blobs back after a restart, so the replica never votes for
 *    two hashes at one (view, height).
 *  - Liveness: timers back off ×2 per consecutive view change (capped at
 *    2^backoff_max_shift and max_timeout_ms), reset by a delivery; votes,
 *    own pre-prepares and VIEW-CHANGEs are retransmitted while stuck, and
 *    a stuck replica asks a peer (FETCH) for newer blocks.  A replica
 *    that receives signed messages of a newer view asks their sender for
 *    its NEW-VIEW; replicas answer a VIEW-CHANGE or FETCH from an older
 *    view with theirs (a NEW-VIEW is self-proving, so anyone may relay
 *    it).  A replica alone in a view change waits (PBFT: its new-view
 *    timer starts only once a quorum asks for the same view) while it
 *    keeps delivering through certificates and state transfer.
 *  - All replicas must use the same log_window (take it from the
 *    genesis): it bounds the heights a VIEW-CHANGE reports and the
 *    candidates of the O set, and every replica recomputes that set.
 *
 * Messages (all integers big-endian; "blob" = u32 length || bytes):
 *   u8 type, u16 sender, body, u16 sig_len, sig
 * The signature covers "bsec/pbft/v1" || chain_id || type || sender || body,
 * except COMMIT, whose signature covers commit_signed_bytes(chain_id, view,
 * height, hash) so that it can be copied into the certificate.  Bodies:
 *   PRE-PREPARE  u64 view, u64 height, blob block
 *   PREPARE      u64 view, u64 height, 32 hash
 *   COMMIT       u64 view, u64 height, 32 hash
 *   CHECKPOINT   u64 height, 32 hash
 *   VIEW-CHANGE  u64 new_view, u64 c_height, 32 c_hash, blob c_cert
 *                (block.h certificate encoding, empty at height 0), u16 count, count x
 *                { u64 view, u64 height, 32 hash, u16 nsig, nsig x
 *                { u16 node, u16 len, sig of that node's PREPARE } }
 *                — then, after the signature, count x blob block
 *                (unsigned attachments, checked against the hashes)
 *   NEW-VIEW     u64 view, u16 count, count x blob VIEW-CHANGE (without
 *                attachments), u16 nblocks, nblocks x { u64 height, blob block }
 *   FETCH        u64 from, u64 to, u64 sender's view, u8 has its NEW-VIEW
 *   BLOCKS       u16 count, count x { u64 height, blob block, blob cert }
 * Decoders are strict (known type, member sender, bounded counts and
 * lengths, no trailing bytes) and never crash on any input.
 *
 * Persisted keys (the node keeps them in its store's meta table; values
 * are opaque): "pbft.view", "pbft.pp.<height>", "pbft.vote.<height>".
 * persist with len 0 deletes a key (that one need not be durable).
 *
 * Threading: a pbft_t is used from one thread.  Callbacks must not call
 * back into the same pbft_t; send/broadcast should queue.
 */
#ifndef BSEC_PBFT_H
#define BSEC_PBFT_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/util.h"
#include "../lib/hash.h"
#include "../ledger/block.h"

#define PBFT_TAG "bsec/pbft/v1"
#define PBFT_MAX_NODES 256
#define PBFT_MAX_LOG_WINDOW 64

typedef enum {
	PBFT_MSG_PRE_PREPARE = 1,
	PBFT_MSG_PREPARE = 2,
	PBFT_MSG_COMMIT = 3,
	PBFT_MSG_CHECKPOINT = 4,
	PBFT_MSG_VIEW_CHANGE = 5,
	PBFT_MSG_NEW_VIEW = 6,
	PBFT_MSG_FETCH = 7,
	PBFT_MSG_BLOCKS = 8,
} pbft_msg_type_t;

/* Why an incoming message was dropped (counters for /metrics). */
typedef enum {
	PBFT_DROP_MALFORMED = 0,   /* does not decode, bounds, trailing bytes */
	PBFT_DROP_NOT_MEMBER,      /* sender out of range, ourselves, or not the link's peer */
	PBFT_DROP_BAD_SIG,         /* signature (or an embedded one) does not verify */
	PBFT_DROP_WRONG_VIEW,      /* for a view other than the one we are in */
	PBFT_DROP_DUPLICATE,       /* already have it, or for a delivered height */
	PBFT_DROP_OUT_OF_WINDOW,   /* height beyond delivered + log_window */
	PBFT_DROP_NOT_LEADER,      /* pre-prepare/new-view not from the view's leader */
	PBFT_DROP_EQUIVOCATION,    /* second, different vote/proposal for one slot */
	PBFT_DROP_INVALID,         /* block refused by validate_block, bad proof content */
	PBFT_DROP_RATE_LIMITED,    /* FETCH served too recently, or past the byte
				    * budget, for that peer */
	PBFT_DROP__COUNT
} pbft_drop_t;

typedef struct {
	uint16_t n;                   /* members, 1..PBFT_MAX_NODES */
	uint16_t self;                /* own index < n */
	uint8_t chain_id[BSEC_HASH_BYTES];
	uint64_t view_timeout_ms;     /* base progress / new-view timeout */
	uint64_t max_timeout_ms;      /* cap of the backed-off timeout */
	unsigned backoff_max_shift;   /* timeout x 2^min(k, shift) after k view changes */
	uint64_t checkpoint_interval; /* heights between CHECKPOINTs (>= 1) */
	unsigned window;              /* uncommitted heights the leader may have in flight */
	unsigned log_window;          /* heights above delivered we keep (>= window) */
	uint64_t retransmit_ms;       /* resend own votes / VIEW-CHANGE when stuck */
	uint64_t fetch_retry_ms;      /* re-ask another peer when a fetch stalls */
	uint64_t fetch_serve_ms;      /* min interval between FETCHes served per peer */
	uint64_t fetch_serve_bytes_s; /* BLOCKS reply bytes served per peer and second,
				       * up to a second's worth at once (0: no cap) */
	unsigned fetch_max_blocks;    /* blocks per BLOCKS reply */
	size_t max_block_bytes;       /* largest block accepted */
	size_t max_msg_bytes;         /* largest message we send (transport frame) */
} pbft_config_t;

/* Fills defaults for n members, own index self (chain_id left zero):
 * timeout 2 s, cap 60 s, shift 3 (x8), checkpoint 100, window 4,
 * log_window 8, retransmit 1 s, fetch retry 500 ms, serve 10 ms and
 * 32 MiB/s per peer, 64 blocks per reply, 4 MiB blocks, 60 MiB messages. */
void pbft_config_default(pbft_config_t *c, uint16_t n, uint16_t self);

/* f = (n-1)/3 and quorum = n - f. */
unsigned pbft_f(unsigned n);
unsigned pbft_quorum(unsigned n);

/* The node's side.  All return 0 on success, -1 on failure unless noted.
 * Buffers passed in are valid during the call only; out-buffers are
 * allocated by the node with malloc (or xmalloc) and freed by pbft. */
typedef struct {
	void *ctx;
	/* Transport: queue bytes for one peer (never self) / every other member. */
	void (*send)(void *ctx, uint16_t to, const uint8_t *msg, size_t len);
	void (*broadcast)(void *ctx, const uint8_t *msg, size_t len);
	/* Durable write (fsync'd when it returns) of key -> bytes; len 0
	 * deletes.  On -1 the vote that needed it is not sent. */
	int (*persist)(void *ctx, const char *key, const uint8_t *val, size_t len);
	/* Optional: n records durably in one write, all or none (a vote and
	 * the block it is for cost one fsync, not two). */
	int (*persist_many)(void *ctx, size_t n, const char *const *keys, const uint8_t *const *vals,
			    const size_t *lens);
	/* Sign with the node key; *sig_len in: capacity (SIG_MAX_SIG), out: length. */
	int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len);
	/* 0 when sig is node's signature over msg. */
	int (*verify)(void *ctx, uint16_t node, const uint8_t *msg, size_t len,
		      const uint8_t *sig, size_t sig_len);
	/* A block's height, the view it was first proposed in, its hash and
	 * prev_hash; no signature checks.  whole = 0: from the header alone
	 * (cheap, before a message's signature is checked); whole = 1: also
	 * that the bytes after the header are exactly what its hash commits
	 * to (the txs give its roots, nothing trails), so that bytes kept or
	 * relayed under a hash are the block of that hash — a certificate or
	 * a prepared certificate then vouches for them.  -1 when it does not
	 * decode or hold. */
	int (*block_id)(void *ctx, const uint8_t *block, size_t len, int whole, uint64_t *height,
			uint64_t *view, uint8_t hash[BSEC_HASH_BYTES], uint8_t prev[BSEC_HASH_BYTES]);
	/* Leader: build and seal the block for `height` on top of prev_hash
	 * (the node's speculative tip), proposed in `view`.  Returns 0 with
	 * *block (malloc'd), 1 when there is nothing to propose, -1 on error. */
	int (*build_block)(void *ctx, uint64_t height, const uint8_t prev_hash[BSEC_HASH_BYTES],
			   uint64_t view, uint8_t **block, size_t *len);
	/* Fully validate `block` as height `height` on top of the node's
	 * speculative tip (height - 1) and, when valid, apply it speculatively
	 * (the tip becomes height).  Called in strict height order, for the
	 * leader's own blocks too.  `view` is the view it is (re-)proposed
	 * in: a fresh proposal has header view == view and proposer == view
	 * mod n (and a timestamp near our clock); a block carried over by a
	 * NEW-VIEW has an older header view (proposer == that view mod n) and
	 * its timestamp may be old.  Its bytes passed block_id(whole = 1),
	 * unless this node built it itself (build_block). */
	int (*validate_block)(void *ctx, uint64_t height, uint64_t view, const uint8_t *block,
			      size_t len);
	/* Discard speculative heights >= from (the tip becomes from - 1);
	 * their txs go back to the pool. */
	void (*abort_from)(void *ctx, uint64_t from);
	/* Height is committed: write block + certificate durably, then
	 * return.  Exactly once per height, in order.  If the node has a
	 * speculative block at `height` it is this one (pbft calls abort_from
	 * first otherwise); blocks from state transfer were never passed to
	 * validate_block.  -1 is fatal (pbft stops: pbft_failed). */
	int (*deliver)(void *ctx, uint64_t height, const uint8_t *block, size_t len,
		       const cert_t *cert);
	/* State transfer: a delivered block and its encoded certificate
	 * (malloc'd), or -1 when the node does not have it. */
	int (*get_block)(void *ctx, uint64_t height, uint8_t **block, size_t *len,
			 uint8_t **cert, size_t *cert_len);
	/* 1 when the node holds txs not yet in its (speculative) chain. */
	int (*has_pending)(void *ctx);
	/* Optional.  State transfer: the blocks of one reply that follow the
	 * next one to deliver, in order, before they are delivered (the node
	 * may start checking them); the bytes stay valid until the same call
	 * with n = 0, which comes before the reply is freed. */
	void (*prefetch)(void *ctx, const uint64_t *heights, const uint8_t *const *blocks,
			 const size_t *lens, size_t n);
} pbft_callbacks_t;

typedef struct pbft_t pbft_t;

typedef struct {
	uint64_t view;
	int in_view_change;
	uint16_t leader;
	uint64_t delivered;           /* last delivered height */
	uint64_t stable_checkpoint;   /* highest height with a quorum of CHECKPOINTs */
	uint64_t view_changes;        /* VIEW-CHANGEs we started */
	uint64_t new_views;           /* NEW-VIEWs accepted */
	uint64_t equivocations;       /* leader equivocations detected */
	uint64_t fetched;             /* blocks delivered through state transfer */
	uint64_t fetches_held;        /* FETCHes the byte budget held back (served later) */
	uint64_t proposed;            /* blocks we proposed as leader */
	uint64_t msgs_in, msgs_out;
	uint64_t dropped[PBFT_DROP__COUNT];
} pbft_stats_t;

/* Creates a replica whose ledger ends at delivered_height with
 * delivered_hash (height 0: the chain_id) and that block's certificate
 * (copied; NULL at height 0).  Returns NULL with a reason in err when the
 * config is out of range (n, self, window <= log_window <= 64,
 * log_window * max_block_bytes must fit max_msg_bytes, missing callback). */
pbft_t *pbft_new(const pbft_config_t *cfg, const pbft_callbacks_t *cb, uint64_t delivered_height,
		 const uint8_t delivered_hash[BSEC_HASH_BYTES], const cert_t *delivered_cert,
		 char *err, size_t errlen);
void pbft_free(pbft_t *p);                       /* NULL ok */

/* Before pbft_start: feeds back one persisted "pbft.*" blob.  Unknown or
 * stale keys are ignored (and deleted at start); -1 on a corrupt value. */
int pbft_restore(pbft_t *p, const char *key, const uint8_t *val, size_t len) WUR;

/* Starts (or resumes after restore): re-validates restored proposals,
 * re-sends restored votes or VIEW-CHANGE, probes a peer for newer blocks. */
void pbft_start(pbft_t *p, uint64_t now_ms);

/* One message from the transport.  from: the authenticated peer index,
 * or -1 when unknown.  Returns 0 when used, -1 when dropped (counted by
 * reason).  Never crashes on any input. */
int pbft_receive(pbft_t *p, uint64_t now_ms, int from, const uint8_t *msg, size_t len);

/* Timer: call at least every ~50 ms (or at pbft_next_deadline). */
void pbft_tick(pbft_t *p, uint64_t now_ms);

/* The node got new txs: the leader proposes if the window has room; other
 * replicas start their progress timer. */
void pbft_note_pending(pbft_t *p, uint64_t now_ms);

/* The node suspects the leader of the current view (e.g. it keeps
 * leaving out a tx this replica has held for longer than the request
 * timeout while proposing blocks with room for it: censorship, which the
 * progress timer alone cannot see as long as other txs commit): starts a
 * view change to the next view, as a progress timeout would.  No-op while
 * in a view change or before pbft_start. */
/* A link to peer came up: ask it for blocks above ours (a replica that
 * restarts while the others are idle learns at once that it is behind;
 * a peer with nothing above our height does not answer). */
void pbft_peer_up(pbft_t *p, uint64_t now_ms, uint16_t peer);
void pbft_suspect_leader(pbft_t *p, uint64_t now_ms, const char *why);

/* Earliest time pbft_tick has something to do (UINT64_MAX: none). */
uint64_t pbft_next_deadline(const pbft_t *p);

uint64_t pbft_view(const pbft_t *p);
uint16_t pbft_leader(const pbft_t *p);          /* of the current view: forward txs there */
int pbft_is_leader(const pbft_t *p);
int pbft_in_view_change(const pbft_t *p);
uint64_t pbft_delivered(const pbft_t *p);
int pbft_fetching(const pbft_t *p);             /* catching up by state transfer */
int pbft_failed(const pbft_t *p);                /* a deliver callback failed */
void pbft_stats(const pbft_t *p, pbft_stats_t *out);
const char *pbft_drop_name(pbft_drop_t d);       /* "malformed", "bad_sig", ... */
const char *pbft_msg_name(int type);             /* "pre-prepare", ...; NULL if unknown */

/* Header fields of a message, without checking its signature or the
 * rest of it (for logs, metrics, tests).  Fields a type lacks are 0. */
typedef struct {
	int type;
	uint16_t sender;
	uint64_t view;          /* PRE-PREPARE, PREPARE, COMMIT, VIEW-CHANGE, NEW-VIEW, FETCH */
	uint64_t height;        /* PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT; FETCH: from */
	uint8_t hash[BSEC_HASH_BYTES]; /* PREPARE, COMMIT, CHECKPOINT */
} pbft_msg_info_t;
int pbft_msg_peek(const uint8_t *msg, size_t len, pbft_msg_info_t *out) WUR;

#endif
