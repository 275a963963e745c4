/*
 * portal.h — the tenant portal (DESIGN §8, `bsec portal --config FILE`):
 * an HTTPS (TLS 1.3) server for a single-page web app and its JSON API.
 *
 * The tenant's key lives in the browser (WebCrypto, non-extractable,
 * IndexedDB); the browser builds the canonical tx encoding and signs it.
 * The portal never sees a private key.  What the portal does:
 *
 *   follow    replays the committed blocks (checked exactly as the
 *             orchestrator checks them: hash links, proposer signature,
 *             tx root, commit certificate) into its own chain state and an
 *             index of every request and its response (the history);
 *   sign-in   a challenge bound to the chain id, a single-use server nonce
 *             and the portal's host, signed in the browser by a key that
 *             holds an unrevoked grant in that state;
 *   access    before forwarding a tenant-signed tx to a node it checks the
 *             sender is the signed-in tenant, the signature, and every
 *             validation rule on its own state (validate_tx), and explains
 *             a refusal in plain words; the nodes check again anyway;
 *   serve     the app's assets (embedded in the binary) and views of the
 *             tenant's own objects, histories, txs and blocks; the browser
 *             checks inclusion proofs and certificates itself.
 *
 * Config (JSON, checked at start with the bad value quoted; relative paths
 * are the config file's directory's):
 *
 * {
 *   "listen": "127.0.0.1:7300",            host:port (required)
 *   "public_host": "portal.example",        the Host browsers reach it by, which
 *                                           sign-in signatures cover (default: listen)
 *   "genesis": "../genesis.json",           (required)
 *   "tls_cert": "../tls/portal.pem",        server certificate and key (required)
 *   "tls_key": "../tls/portal-key.pem",
 *   "ca": "../ca.pem",                      CA bundle for the node APIs (default: pin
 *                                           each node's tls_cert from the genesis)
 *   "nodes": ["https://127.0.0.1:7200"],    node APIs, in order of preference (default:
 *                                           every provider's api from the genesis)
 *   "session_idle_s": 1800,                 a session ends after this long unused
 *   "session_max_s": 28800,                 ... and this long after sign-in
 *   "web_dir": "/path/to/web",              serve the app from files instead of the
 *                                           embedded copy (development)
 *   "log_level": "info"
 * }
 */
#ifndef BSEC_PORTAL_H
#define BSEC_PORTAL_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/util.h"

typedef struct {
	char *path;              /* the config file */
	char *dir;               /* its directory, absolute */
	char *listen;
	char *public_host;       /* NULL: listen */
	char *genesis;
	char *tls_cert, *tls_key;
	char *ca;                /* NULL: pin from the genesis */
	char **nodes;            /* NULL: from the genesis */
	size_t n_nodes;
	uint64_t session_idle_s, session_max_s;
	char *web_dir;           /* NULL: embedded assets */
	int log_level;
} portal_config_t;

/* Loads and checks a config; 0 or -1 with the reason (bad value quoted).
 * Paths come out absolute.  portal_config_free releases it (a zeroed
 * config is fine). */
int portal_config_load(portal_config_t *c, const char *path, char *err, size_t errlen) WUR;
void portal_config_free(portal_config_t *c);

/* Runs the portal of config file `path' until SIGTERM or SIGINT.  Returns
 * the process exit code: 0 after a clean stop, 1 when start-up fails
 * (reason on stderr). */
int portal_run(const char *path);

/* ---- embedded assets (portal_assets.c) ---- */

typedef struct {
	const char *path;        /* "/index.html" */
	const char *type;        /* MIME type */
	const uint8_t *data;
	size_t len;
} portal_asset_t;

/* The asset served at `path' ("/" is "/index.html"), or NULL. */
const portal_asset_t *portal_asset(const char *path);
/* The MIME type for a file name by its extension ("application/octet-stream"
 * when unknown). */
const char *portal_mime(const char *name);

#endif
