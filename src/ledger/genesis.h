/*
 * genesis.h — the file that founds a consortium (DESIGN §1).
 *
 * A JSON document; chain_id = SHA-256 of the file's exact bytes, so any
 * change makes a different consortium.  Layout:
 *
 * {
 *   "version": 1, "name": "devnet", "created_ms": 1763700000000,
 *   "params": { "timestamp_window_ms": 60000, "view_timeout_ms": 2000,
 *               "max_block_txs": 4096, "max_block_bytes": 4194304,
 *               "checkpoint_interval": 100, "request_timeout_ms": 4000 },
 *   "providers": [
 *     { "name": "p0", "domains": ["p0"],
 *       "node_key": "-----BEGIN PUBLIC KEY-----...",
 *       "orchestrator_key": "...", "admin_key": "...",
 *       "peer": "127.0.0.1:7100", "api": "https://127.0.0.1:7200",
 *       "tls_cert": "-----BEGIN CERTIFICATE-----..." } ],
 *   "tenants": [
 *     { "name": "demo", "key": "-----BEGIN PUBLIC KEY-----...",
 *       "grants": [ { "domain": "p0", "ops": "*", "max_vms": 0, "max_vnfs": 0,
 *                     "max_sfcs": 0, "max_chain": 0, "rate_per_min": 0 } ] } ]
 * }
 *
 * Provider i's index is its position.  Keys are SPKI PEM of any scheme.
 */
#ifndef BSEC_GENESIS_H
#define BSEC_GENESIS_H

#include <stddef.h>
#include <stdint.h>
#include "tx.h"

#define GENESIS_MAX_BYTES (4u << 20)
#define GENESIS_MAX_PROVIDERS 256

typedef struct {
	uint8_t scheme;
	uint8_t key[SIG_MAX_PUB];
} pubkey_t;

typedef struct {
	uint16_t index;
	char name[TX_MAX_NAME + 1];
	char **domains;
	size_t n_domains;
	pubkey_t node_key, orch_key, admin_key;
	char *peer;          /* host:port */
	char *api;           /* https://host:port */
	char *tls_cert_pem;
} provider_t;

typedef struct {
	uint64_t timestamp_window_ms;
	uint64_t view_timeout_ms;
	uint64_t max_block_txs;
	uint64_t max_block_bytes;
	uint64_t checkpoint_interval;
	uint64_t request_timeout_ms;
} params_t;

typedef struct {
	char domain[TX_MAX_DOMAIN + 1];
	sla_t sla;
} grant_t;

typedef struct {
	char name[TX_MAX_NAME + 1];
	pubkey_t key;
	grant_t *grants;
	size_t n_grants;
} genesis_tenant_t;

typedef struct genesis_t {
	uint8_t chain_id[BSEC_HASH_BYTES];
	uint8_t *raw;
	size_t raw_len;
	char *name;
	uint64_t created_ms;
	params_t params;
	provider_t *providers;
	size_t n_providers;
	genesis_tenant_t *tenants;
	size_t n_tenants;
} genesis_t;

/* Parses and checks a genesis (keys decode, names/domains valid and
 * unique, at least one provider, parameters in range).  0 or -1 with the
 * offending field quoted in err.  genesis_free releases everything. */
int genesis_parse(genesis_t *g, const uint8_t *data, size_t len, char *err, size_t errlen) WUR;
int genesis_load(genesis_t *g, const char *path, char *err, size_t errlen) WUR;
void genesis_free(genesis_t *g);
void params_default(params_t *p);

/* f = floor((n-1)/3); quorum = n - f (2f+1 when n = 3f+1). */
size_t genesis_f(const genesis_t *g);
size_t genesis_quorum(const genesis_t *g);

/* Lookups: NULL when absent. */
const provider_t *genesis_provider_of_domain(const genesis_t *g, const char *domain, size_t len);
const provider_t *genesis_provider_by_name(const genesis_t *g, const char *name);
int provider_has_domain(const provider_t *p, const char *domain, size_t len);

#endif
