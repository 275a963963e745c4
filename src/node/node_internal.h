/*
 * node_internal.h — the node's shared state, for node.c (consensus glue,
 * mempool admission, forwarding) and api.c (HTTPS API and metrics).
 */
#ifndef BSEC_NODE_INTERNAL_H
#define BSEC_NODE_INTERNAL_H

#define NODE_IDS_CACHE 8            /* proposals whose tx ids are kept (a miss hashes them again) */

#include <stdint.h>
#include "config.h"
#include "mempool.h"
#include "../consensus/pbft.h"
#include "../ledger/block.h"
#include "../ledger/genesis.h"
#include "../ledger/state.h"
#include "../ledger/store.h"
#include "../ledger/validate.h"
#include "../lib/https.h"
#include "../lib/map.h"
#include "../lib/peer.h"
#include "../lib/workers.h"

struct event_base;
struct event;

/* Node-level peer messages (PBFT's types are 1..8). */
#define NODE_MSG_TXS 100      /* u16 count, count x blob tx: client txs gossiped to peers */
#define NODE_FORWARD_BATCH 512
/* Peer tx batches wait here to be admitted, behind consensus messages
 * (see on_gossip_in): at most this many bytes, processed in slices. */
#define NODE_GOSSIP_IN_MAX (16u << 20)
#define NODE_GOSSIP_SLICE_US 5000
/* how often held batches are looked at again during state transfer */
#define NODE_GOSSIP_HOLD_US 20000

/* A block validated speculatively and not yet delivered. */
typedef struct {
	uint64_t height;
	uint8_t *raw;
	size_t raw_len;
	block_t block;
	state_mark_t mark;       /* spec state's mark before the block was applied */
	state_delta_t *delta;    /* the rows it leaves, written when it commits */
} spec_block_t;

/* Commit-latency histogram buckets (ms, upper bounds). */
#define LAT_BUCKETS 14
extern const double node_lat_bounds[LAT_BUCKETS];

typedef struct waiter_t {
	uint8_t id[BSEC_HASH_BYTES];
	https_req_t *req;
	struct event *timer;
	struct node_t *node;
	struct waiter_t *next;   /* same id */
} waiter_t;

typedef struct node_t {
	node_config_t cfg;
	genesis_t g;
	int self;
	const provider_t *me;
	sig_key_t *key;
	struct event_base *base;
	struct event *tick_ev, *sigterm_ev, *sigint_ev, *flush_ev, *note_ev;
	int note_scheduled;          /* note_ev is active: PBFT hears of new txs once per loop turn */
	store_t *store;
	/* The state derived from the chain, one copy: the delivered chain plus
	 * the speculative blocks (each block is validated and applied once;
	 * an aborted one is rolled back with the undo log).  What a block
	 * leaves to persist is copied out right after its txs (its delta) and
	 * written when it commits. */
	state_t *spec;
	/* The registry of the delivered chain alone: tenants and attestations,
	 * for the API's reports, which must not see uncommitted txs. */
	state_t *committed;
	spec_block_t spec_blocks[PBFT_MAX_LOG_WINDOW];
	size_t n_spec;
	/* The block this node built last as the leader, still applied to
	 * `spec` above the speculative blocks: when PBFT hands it back to be
	 * validated (byte for byte the same, on the same tip) it becomes a
	 * speculative block without being checked and applied a second time.
	 * Anything else that changes `spec` first rolls it back. */
	struct {
		int valid;
		uint64_t height;
		uint8_t hash[BSEC_HASH_BYTES];
		state_mark_t mark;
		state_delta_t *delta;
	} built;
	uint64_t own_blocks;      /* built blocks taken as they were when handed back */
	/* The tx ids block_id hashed while checking a proposal whole, kept
	 * for its validation (a ring, by block hash), and the proposer
	 * signature it verified: decoding and checking it then hash and
	 * verify nothing twice. */
	struct {
		uint8_t hash[BSEC_HASH_BYTES];
		uint32_t n;
		uint8_t (*ids)[BSEC_HASH_BYTES];   /* NULL: empty */
		uint8_t sig[SIG_MAX_SIG];
	} ids_cache[NODE_IDS_CACHE];
	unsigned ids_next;
	uint64_t spec_tip;
	uint8_t spec_tip_hash[BSEC_HASH_BYTES];
	uint64_t spec_tip_ts;
	pbft_t *pbft;
	peer_net_t *net;
	https_server_t *api;
	mempool_t *pool;
	/* what the pool's REQUESTs claim (pool_claim): object -> count,
	 * sender+domain -> count (its pending requests, against its SLA rate) */
	map_t *claims;
	workers_t *workers;
	struct prefetch_t *pf;    /* checks fetched blocks ahead (NULL: none) */
	int batching;             /* between the two prefetch calls of a reply */
	unsigned batch_blocks;    /* fetched blocks in the open store batch */
	/* what the open batch holds that clients wait for: told only once it
	 * is durable (DESIGN §5) */
	buf_t batch_waited;       /* ids of waited-for txs, BSEC_HASH_BYTES each */
	uint64_t batch_height;    /* its last block, 0: none */
	map_t *waiters;            /* id -> waiter_t list */
	/* gossip of client txs to every peer */
	buf_t fwd;
	size_t fwd_count;
	/* tx batches from peers not yet admitted: [u32 from][u32 len][frame]... */
	buf_t gossip_in;
	size_t gossip_in_off;
	struct event *gossip_ev;
	uint64_t gossip_dropped;   /* batches dropped because gossip_in was full */
	int last_leader;
	uint64_t ticks;
	int stopping;
	int failed;
	/* metrics */
	uint64_t committed_txs;
	uint64_t lat_count;
	double lat_sum;
	uint64_t lat_hist[LAT_BUCKETS + 1];
	uint64_t rejected[V_COUNT];
	uint64_t api_requests;
	uint64_t mempool_full;
	uint64_t shed;             /* client requests refused for the backlog (backlog_over) */
	uint64_t bad_forward;
	/* the commit rate while blocks were near full: what admission
	 * control takes for this node's capacity (rate_sample) */
	double commit_rate;
	uint64_t rate_ms, rate_txs;  /* the open window's start (0: none) and voted_txs then */
	uint64_t voted_txs;          /* txs of blocks committed through consensus, not fetched */
	int rate_fetched;            /* a fetched block was applied in the open window */
	uint64_t start_ms;
	/* misbehaviour seen per peer (node.c, docs/reliability.md): PBFT drop
	 * reasons, then NODE_BAD_FORWARD and NODE_BAD_VOTE */
	uint64_t (*peer_bad)[PBFT_DROP__COUNT + 2];
	uint64_t *peer_bad_logged_ms;
	uint64_t last_dropped[PBFT_DROP__COUNT];
	uint64_t conflicting_votes;
	uint64_t censor_suspicions;
	/* censorship watch (mono ms): leader change, last fresh block with room */
	uint64_t view_since_ms, roomy_block_ms;
	unsigned suspect_streak;   /* consecutive suspicions (timeout back-off) */
	/* test-only faults (BSEC_TEST_FAULTS=1): wall clock offset */
	int64_t clock_offset_ms;
	const char *clock_file;
} node_t;

#define NODE_BAD_FORWARD PBFT_DROP__COUNT
#define NODE_BAD_VOTE (PBFT_DROP__COUNT + 1)

/* node.c */
/* Checks and admits one tx (bytes from a client, or from a peer when
 * from_peer, in which case it is not gossiped on).  Returns an
 * HTTP-like status: 202 admitted, 200 already committed or pending, 400
 * malformed, 422 refused by a rule (v says which), 503 pool full. */
int node_submit(node_t *n, const uint8_t *raw, size_t len, int from_peer, tx_t *out_tx, verdict_t *v,
		char *err, size_t errlen);
/* node_submit for many txs (a client's batch, a peer's gossip): the same
 * verdict for each as node_submit would give, in order, but their
 * signatures are checked together, in Ed25519 batches on the worker pool,
 * NODE_SUBMIT_CHUNK txs at a time. */
/* fetched blocks per SQL transaction during state transfer: in practice a
 * whole reply (up to 8 MiB); each commit rewrites every index page the
 * blocks touched, and the tx id, open request and object keys are random,
 * so fewer commits write far fewer pages (16 -> 64: catch-up +40 % side by
 * side) */
#define NODE_BATCH_BLOCKS 64
#define NODE_SUBMIT_CHUNK 256
typedef struct {
	int status;
	verdict_t v;
	char err[256];
} submit_result_t;
void node_submit_many(node_t *n, const uint8_t *const *raws, const size_t *lens, size_t cnt, int from_peer,
		      submit_result_t *res);
/* Frees n's pool (if any) and makes an empty one of that size, with the
 * hook that counts what its requests claim (node.c, admission). */
void node_pool_reset(node_t *n, size_t max_txs, size_t max_bytes);
uint64_t node_height(const node_t *n);

/* The node's wall clock in ms: now_ms() plus the test-only offset. */
uint64_t node_now_ms(const node_t *n);
/* Appends the fault-tolerance metrics (per-peer misbehaviour, conflicting
 * votes, censorship suspicions, clock offset) in Prometheus text. */
void node_metrics_faults(const node_t *n, buf_t *out);

/* api.c */
int node_api_start(node_t *n, char *err, size_t errlen);
void node_api_stop(node_t *n);
/* Wakes long-polls waiting for tx id (now committed at height). */
void node_api_committed(node_t *n, const uint8_t id[BSEC_HASH_BYTES], uint64_t height);
/* Whether a long poll waits for tx id. */
int node_api_waited(const node_t *n, const uint8_t id[BSEC_HASH_BYTES]);
/* Wakes long-polls waiting for blocks up to height. */
void node_api_block(node_t *n, uint64_t height);
/* The longest long poll the API accepts. */
#define NODE_API_MAX_WAIT_MS 60000
/* The most txs one POST /v1/transactions/batch may carry: its verdicts
 * and its reply grow with the count, whatever the body limit. */
#define NODE_API_MAX_BATCH 4096
/* The forms a page of blocks is served in. */
enum { BLOCKS_JSON, BLOCKS_JSON_TXS, BLOCKS_RAW };
/* Parks req until block `from` commits (or wait ms pass), then answers
 * with the page from `from` on, of at most limit blocks, in that form. */
void node_api_wait_block(https_req_t *req, node_t *n, uint64_t from, uint64_t limit, int form,
			 uint64_t wait);

/* api_audit.c: the audit endpoints (docs/audit.md).  rest is the path
 * after /v1/blocks/: "raw" or "H/raw". */
void node_api_raw_blocks(https_req_t *req, node_t *n, const char *rest);
/* The raw page (RAW_BLOCKS_MAGIC, tip, then height, block, certificate per
 * block) from `from` on, of at most limit blocks. */
void node_api_raw_reply(https_req_t *req, node_t *n, uint64_t from, uint64_t limit);
void node_api_proofs(https_req_t *req, void *ctx);
void node_api_history(https_req_t *req, void *ctx);
void node_api_accountability(https_req_t *req, void *ctx);
void node_api_attestations(https_req_t *req, void *ctx);

#endif
