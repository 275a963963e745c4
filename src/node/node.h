/*
 * node.h — `bsec node`: one consensus replica.  Glues the PBFT state
 * machine (consensus/pbft.h) to the peer transport (lib/peer.h), the
 * ledger (store, state, validation), the mempool and the HTTPS API.
 *
 * Threads: one event loop thread owns everything; a worker pool verifies
 * the signatures of a proposed block's txs in parallel.
 */
#ifndef BSEC_NODE_H
#define BSEC_NODE_H

/* Runs a node from its config file until SIGTERM/SIGINT.  Returns the
 * process exit code (0 after a clean stop). */
int node_run(const char *config_path);

#endif
