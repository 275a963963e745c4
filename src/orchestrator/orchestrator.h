/*
 * orchestrator.h — one domain's orchestrator (DESIGN §8, `bsec
 * orchestrator --config FILE`): it follows the committed blocks through
 * the node API, replays them into its own chain state, executes every
 * request addressed to its domain exactly once through a driver
 * (driver.h), and answers each with a RESPONSE tx signed by the
 * provider's orchestrator key.
 *
 * Config (JSON, checked at start with the bad value quoted; paths are
 * relative to the config file's directory, and so are the driver's):
 *
 * {
 *   "name": "p0",                          provider name in the genesis (required)
 *   "domain": "p0",                        a domain of that provider (default: its first)
 *   "genesis": "../genesis.json",          (required)
 *   "orchestrator_key": "../keys/p0-orch.pem",  must be the genesis's orchestrator_key (required)
 *   "ca": "../ca.pem",                     CA bundle for the node APIs (default: pin each
 *                                          node's tls_cert from the genesis)
 *   "nodes": ["https://127.0.0.1:7200"],   node APIs to follow (default: every provider's
 *                                          api from the genesis, this provider's first)
 *   "data_dir": ".",                       journal.db lives here (default: config dir)
 *   "driver": { "type": "sim", ... },      driver type and its config (driver.h)
 *   "log_level": "info"
 * }
 *
 * Exactly once (journal.h): the intent is journaled before the driver
 * runs, the outcome and the signed response after; after a crash an
 * intent without outcome is reconciled with what the driver shows
 * (driver_get) and only re-run if it did not take effect; an outcome
 * whose response is not yet on chain is resubmitted byte for byte.
 * Blocks are processed strictly in order and the journal's last height
 * advances only when every request of the block has an outcome.  A
 * request that the chain shows answered by this orchestrator key (journal
 * lost) is never executed again.
 *
 * State attestations (attest.h, docs/audit.md): when caught up and at
 * least attest_interval_ms after the last one, with no request of its
 * domain in flight at the height it has replayed, the orchestrator lists
 * its domain's objects through the driver and records an ATTEST tx (the
 * digest of that list, the object and problem counts, the height).  Best
 * effort: a failed listing or submission is logged and tried again at
 * the next interval.
 */
#ifndef BSEC_ORCHESTRATOR_H
#define BSEC_ORCHESTRATOR_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/util.h"

struct json_t;

typedef struct {
	char *path;              /* the config file */
	char *dir;               /* its directory, absolute */
	char *name;
	char *domain;            /* NULL until run: the provider's first domain */
	char *genesis;
	char *orchestrator_key;
	char *ca;                /* NULL: pin from the genesis */
	char **nodes;            /* NULL: from the genesis */
	size_t n_nodes;
	char *data_dir;
	struct json_t *driver;   /* the "driver" object, "type" included */
	char *driver_type;
	int log_level;
	uint64_t attest_interval_ms; /* 0: no attestations */
} orch_config_t;

#define ORCH_ATTEST_DEFAULT_MS 30000
#define ORCH_ATTEST_MIN_MS 500
#define ORCH_ATTEST_MAX_MS 86400000

/* Loads and checks a config; 0 or -1 with the reason (bad value quoted).
 * Paths come out absolute. */
int orch_config_load(orch_config_t *c, const char *path, char *err, size_t errlen) WUR;
void orch_config_free(orch_config_t *c);

/* Runs the orchestrator of config file `path' until SIGTERM or SIGINT
 * (clean stop: the request being executed finishes and is journaled).
 * Returns the process exit code: 0 after a clean stop, 1 when start-up
 * fails (reason on stderr and in the log) or a fatal error (journal
 * write) stops it. */
int orchestrator_run(const char *path);

/* Last block height whose requests all have an outcome, read from
 * DATA_DIR/journal.db without disturbing a running orchestrator (for
 * `devnet status').  0, or -1 when there is no journal. */
int orchestrator_peek_height(const char *data_dir, uint64_t *height) WUR;
/* The height of the last request it began to execute (0: none), read the
 * same way.  0, or -1 when there is no journal. */
int orchestrator_peek_request_height(const char *data_dir, uint64_t *height) WUR;

/* The consortium prefix drivers namespace their objects with: the first
 * 8 hex digits of the chain id (out gets 8 characters and a NUL). */
void orchestrator_prefix(char out[9], const uint8_t chain_id[32]);

#endif
