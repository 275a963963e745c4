/*
 * tls.h — X.509 and TLS configuration behind BSec's names (OpenSSL 3).
 *
 * Two jobs: (1) make the certificates a devnet needs — a self-signed
 * ECDSA P-256 CA and leaf certificates for nodes and APIs, with DNS/IP
 * subject alternative names — and fingerprint them (SHA-256 of the DER,
 * the form the genesis pins); (2) build the three TLS contexts BSec uses:
 *
 *   peer   mutual TLS 1.3 between consensus nodes.  Both sides present a
 *          certificate and the peer's certificate must be one of a set of
 *          PINNED certificates (from the genesis).  The pin, not a CA,
 *          authorises: chains, issuers and validity dates are not
 *          consulted, exactly as an SSH known_hosts entry.  Session
 *          resumption is off so every handshake runs the pin check.
 *   server HTTPS API server: TLS 1.3 only, no client certificate.
 *   client HTTPS client: verifies the server against a CA bundle (chain
 *          and host name) and/or a pinned certificate.
 *
 * Only src/lib/peer.c and src/lib/https.c use the contexts; nothing above
 * src/lib sees an OpenSSL type.  OpenSSL structs are forward-declared.
 *
 * Process-wide effect: every context constructor sets SIGPIPE to SIG_IGN
 * when it is still SIG_DFL, because OpenSSL and libevent write to sockets
 * with write(2) and a peer's reset must not kill the node.
 */
#ifndef BSEC_TLS_H
#define BSEC_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define TLS_FP_BYTES 32          /* SHA-256 certificate fingerprint */
#define TLS_DEFAULT_DAYS 3650
/* Leaf (server/client) certificates: at most 397 days, the CA/Browser
 * Forum's limit that TLS scanners check.  Peers pin exact certificates
 * (tls_ctx_*_pinned), so their dates do not end a consortium's links. */
#define TLS_LEAF_DAYS 397

struct ssl_st;

/* ---- certificates ------------------------------------------------------ */

/* Creates a self-signed CA: a fresh ECDSA P-256 key and a v3 certificate
 * (CA:TRUE, keyCertSign) with subject CN=cn valid for `days` days.
 * *cert_pem and *key_pem (PKCS#8 "PRIVATE KEY") are fresh NUL-terminated
 * strings; the caller frees the key with tls_secret_free().  Returns 0, or
 * -1 with a reason in err. */
int tls_ca_create(char **cert_pem, char **key_pem, const char *cn, unsigned days,
		  char *err, size_t errlen) WUR;

/* Issues a leaf certificate (CA:FALSE, digitalSignature, serverAuth +
 * clientAuth) for subject CN=cn with a fresh P-256 key, signed by the CA
 * given as PEM.  Each of sans[0..nsans) becomes an IP SAN when it parses
 * as an IPv4/IPv6 address, a DNS SAN otherwise (letters, digits, '-',
 * '.', a leading "*." allowed).  Outputs as tls_ca_create.  Returns 0 or
 * -1 with a reason (quoting a bad SAN). */
int tls_cert_issue(char **cert_pem, char **key_pem, const char *ca_cert_pem,
		   const char *ca_key_pem, const char *cn, const char *const *sans,
		   size_t nsans, unsigned days, char *err, size_t errlen) WUR;

/* Writes a certificate (mode 0644) and its key (mode 0600) atomically.
 * Either path may be NULL to skip it. */
int tls_write_pair(const char *cert_path, const char *cert_pem, const char *key_path,
		   const char *key_pem, char *err, size_t errlen) WUR;

/* Reads a PEM certificate file (any mode), or a PEM private key file,
 * refusing a key file that is group- or world-accessible.  Returns a
 * fresh NUL-terminated string (free the key with tls_secret_free), or
 * NULL with a reason. */
char *tls_read_cert_file(const char *path, char *err, size_t errlen);
char *tls_read_key_file(const char *path, char *err, size_t errlen);

/* Wipes and frees a string holding key material; NULL is fine. */
void tls_secret_free(char *pem);

/* SHA-256 over the DER encoding of the first certificate in cert_pem
 * (what `openssl x509 -noout -fingerprint -sha256` prints).  Returns 0 or
 * -1 when the PEM holds no parsable certificate. */
int tls_fingerprint(uint8_t out[TLS_FP_BYTES], const char *cert_pem, char *err,
		    size_t errlen) WUR;

/* ---- TLS contexts ------------------------------------------------------ */

typedef struct tls_ctx_t tls_ctx_t;

/* How an HTTPS client decides to trust a server.  At least one is set;
 * when both are, both must hold. */
typedef struct {
	const char *ca_file;   /* PEM CA bundle: chain + host name/IP checked */
	const char *pin_pem;   /* PEM certificate: the server must present exactly it */
} tls_trust_t;

/* Peer context (see the top of the file): own certificate and key as PEM
 * text, and the pinned fingerprints pins[0..npins).  The index reported by
 * tls_ssl_pin_index() is a position in this array.  Returns NULL with a
 * reason on a bad certificate/key or a key that does not match. */
tls_ctx_t *tls_ctx_peer_new(const char *cert_pem, const char *key_pem,
			    const uint8_t (*pins)[TLS_FP_BYTES], size_t npins, char *err,
			    size_t errlen);

/* HTTPS server context: TLS 1.3 only, no client certificates. */
tls_ctx_t *tls_ctx_server_new(const char *cert_pem, const char *key_pem, char *err,
			      size_t errlen);

/* HTTPS client context from a trust policy.  Host-name checking needs the
 * host, so it is armed per connection by tls_ssl_new_client(). */
tls_ctx_t *tls_ctx_client_new(const tls_trust_t *trust, char *err, size_t errlen);

/* Drops the caller's reference; live SSL objects keep the context alive. */
void tls_ctx_free(tls_ctx_t *ctx);

/* New SSL object on the context (caller owns it; SSL_free or hand it to a
 * bufferevent with BEV_OPT_CLOSE_ON_FREE).  For a peer context,
 * expect_pin >= 0 demands that the other side present pins[expect_pin]
 * (an outbound link to a known node); -1 accepts any pinned certificate
 * (an inbound link, identified afterwards by tls_ssl_pin_index). */
struct ssl_st *tls_ssl_new(tls_ctx_t *ctx, int expect_pin);

/* Client SSL for `host`: sets SNI (for DNS names) and, when the context
 * trusts a CA, the expected DNS name or IP address. */
struct ssl_st *tls_ssl_new_client(tls_ctx_t *ctx, const char *host);

/* After a successful handshake on a peer context: the index of the pinned
 * certificate the other side presented, or -1. */
int tls_ssl_pin_index(const struct ssl_st *ssl);

/* Formats the OpenSSL error queue (and clears it) after `what` into err. */
void tls_err(char *err, size_t errlen, const char *what);

#endif
