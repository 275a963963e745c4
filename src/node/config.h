/*
 * config.h — a node's configuration file (JSON), checked at start with
 * every bad value quoted.  Paths are relative to the config file's
 * directory unless absolute.
 *
 * {
 *   "name": "p0",                  provider name in the genesis (required)
 *   "genesis": "../genesis.json",  (required)
 *   "data_dir": ".",               ledger.db lives here (default: config dir)
 *   "node_key": "../keys/p0-node.pem",
 *   "tls_cert": "../tls/p0.pem", "tls_key": "../tls/p0-key.pem",
 *   "peer_listen": "127.0.0.1:7100",   default: the genesis's peer endpoint
 *   "api_listen": "127.0.0.1:7200",    default: host:port of the genesis's api URL
 *   "mempool_max": 200000, "workers": 0 (0 = one per core), "log_level": "info",
 *   "backlog_ms": 2000,            admission control (node.c): 0..600000, 0 = off
 *   "max_body": 1048576,
 *   "api_timeout_s": 30,           idle/slow client timeout of the HTTPS API, 1..600
 *   "api_max_conns": 1024          open API connections, 16..65536 (and at most half
 *                                  the RLIMIT_NOFILE soft limit); more wait in the backlog
 *   "api_max_conns_per_addr": 512  of them from one client address (IPv4, or an IPv6
 *                                  /64; loopback not counted), 0..65536, 0 = no cap;
 *                                  more are closed at once
 * }
 */
#ifndef BSEC_NODE_CONFIG_H
#define BSEC_NODE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/util.h"

typedef struct {
	char *path;           /* the config file */
	char *name;
	char *genesis;
	char *data_dir;
	char *node_key;
	char *tls_cert, *tls_key;
	char *peer_listen, *api_listen;   /* NULL: from the genesis */
	uint64_t mempool_max;
	uint64_t backlog_ms;       /* admission control (node.c): 0 = off */
	uint64_t workers;
	uint64_t max_body;
	uint64_t api_timeout_s;   /* HTTPS API read/write timeout */
	uint64_t api_max_conns;   /* HTTPS API open connections */
	uint64_t api_max_conns_per_addr; /* of them from one client address; 0 = no cap */
	int log_level;
} node_config_t;

/* Loads and checks a config; 0 or -1 with the reason (bad value quoted). */
int node_config_load(node_config_t *c, const char *path, char *err, size_t errlen) WUR;
void node_config_free(node_config_t *c);

/* Resolves p against dir (returns a fresh string). */
char *path_join(const char *dir, const char *p);
/* Directory part of a path (fresh string, "." when none). */
char *path_dir(const char *p);

#endif
