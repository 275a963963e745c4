/*
 * byzantine.h — misbehaviours of a Byzantine replica, for tests only
 * (docs/reliability.md).  Everything here exists only when the node is
 * compiled with -DBSEC_BYZANTINE, which the Makefile does for the separate
 * test binary build/byz/bsec and never for build/bsec: a production node
 * cannot be talked into misbehaving, whatever its environment says.
 *
 * The byz binary reads its behaviours from the file named by BSEC_BYZ_FILE
 * (re-read every 500 ms, so a test switches them on and off at run time;
 * no file or an empty one: honest).  One behaviour per line or separated
 * by commas:
 *   equivocate     leader: sends two different blocks for each height (and
 *                  matching PREPARE/COMMIT votes) to two groups of peers,
 *                  and both to one peer so it can prove the equivocation
 *   censor=HEX     leader: never includes txs whose sender key (hex)
 *                  starts with HEX
 *   invalid-tx     leader: the block its peers receive carries a tx whose
 *                  signature was corrupted
 *   bad-prev       leader: the block its peers receive names a wrong
 *                  prev_hash
 *   bad-vote       replica: PREPAREs and COMMITs for a wrong hash, signed
 *   wrong-key      replica: signs consensus messages with a key that is not
 *                  its genesis node key
 *   replay         replica: re-sends old messages of its own, continually
 *   flood          replica: floods every peer with garbage frames, bogus
 *                  tx batches and signed FETCH requests
 *   bad-blocks     replica: sends every peer, unasked, state-transfer
 *                  replies of its last 32 blocks with their certificates,
 *                  each block with one byte of its proposer signature
 *                  flipped (the block hash leaves the signature out, so
 *                  the certificates still match it)
 *   withhold       leader: keeps its COMMITs to itself (it alone holds the
 *                  commit certificates), serves no state transfer, leaves
 *                  one replica out of its PRE-PREPAREs and PREPAREs, and
 *                  asks for the next view as soon as it is in one (after
 *                  500 ms of proposing as leader)
 * Every hook runs on the node's event loop thread.
 */
#ifndef BSEC_NODE_BYZANTINE_H
#define BSEC_NODE_BYZANTINE_H

#ifdef BSEC_BYZANTINE

#include <stddef.h>
#include <stdint.h>

struct node_t;

/* Reads BSEC_BYZ_FILE (logs a loud warning when behaviours are on). */
void byz_init(struct node_t *n);
/* Frees what byz_init and the hooks kept. */
void byz_free(struct node_t *n);
/* Every loop tick: reloads the file, replays and floods. */
void byz_tick(struct node_t *n);
/* Outgoing consensus messages.  Return 1 when the hook sent (or withheld)
 * the message itself, 0 to let the node send it unchanged. */
int byz_send(struct node_t *n, uint16_t to, const uint8_t *msg, size_t len);
int byz_broadcast(struct node_t *n, const uint8_t *msg, size_t len);
/* Signing: 1 when the hook signed (wrong-key), with its status in *rc. */
int byz_sign(struct node_t *n, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len, int *rc);
/* Block building: 1 when the tx from sender key `sender` (len bytes)
 * is to be left out (censor). */
int byz_censors(struct node_t *n, const uint8_t *sender, size_t len);

#endif
#endif
