/*
 * portal.c — the tenant portal's HTTPS server (portal.h): the app's
 * assets, sign-in and sessions, the access control manager in front of
 * the nodes, and the JSON API the app uses.
 *
 *   GET  /api/info            consortium, chain height, sync state        (public)
 *   GET  /api/genesis         the genesis file's exact bytes (the browser
 *                             hashes it: chain id and member keys)         (public)
 *   POST /api/challenge       a fresh single-use sign-in nonce             (public)
 *   POST /api/login           {scheme, public_key_hex, nonce, signature_hex}
 *   POST /api/logout
 *   GET  /api/session         the signed-in tenant, its grants, CSRF token
 *   GET  /api/objects[/K/N]   the tenant's objects; one object's history
 *   GET  /api/requests        the tenant's latest requests
 *   POST /api/check           {domain, instruction}: grammar + every rule, unsigned
 *   POST /api/submit          a signed REQUEST (binary): checked, then forwarded
 *   GET  /api/tx/{id}         one of the tenant's txs (request or its response)
 *   GET  /api/block/{h}       header, certificate, tx ids (and the tenant's txs)
 *   GET  /api/events?since=H  long poll: answers when the chain passes H
 *
 * Sign-in: the browser signs "bsec/portal/login/v1" || chain_id || nonce
 * || u8 len || Host with the tenant key, Host being the portal's own name
 * (public_host; a request naming another is refused, so a signature
 * relayed from another site names a host this portal never accepts).  A nonce is random bytes, its
 * expiry (NONCE_TTL_MS) and a MAC of both under a key only this process
 * holds, so handing one out stores nothing (no table anyone could fill to
 * lock sign-ins out); a sign-in that opens a session records its nonce
 * until it expires, so none is used twice.  The key must hold an
 * unrevoked grant in the followed chain state; one key keeps at most
 * MAX_SESSIONS_PER_KEY sessions (its oldest goes), so one tenant cannot
 * take every session slot.  A session is
 * a random 256-bit token in a __Host- cookie (HttpOnly, Secure,
 * SameSite=Strict; only its SHA-256 is kept), ending after
 * session_idle_s unused, session_max_s in all, at sign-out, or when the
 * tenant loses its last grant.  Every POST must carry X-BSec-Request (no
 * form or simple cross-site request can) and pass the Sec-Fetch-Site and
 * Origin checks; with a session also X-CSRF-Token, compared in constant
 * time.  Every response carries a strict CSP (scripts and styles from
 * this origin only, no inline code), HSTS, frame-ancestors 'none',
 * nosniff and no-referrer.
 */
#include "portal_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../ledger/validate.h"
#include "../lib/hash.h"

#define MOD "portal"
#define LOGIN_TAG "bsec/portal/login/v1"
#define COOKIE "__Host-bsec"
#define NONCE_BYTES 32
#define TOKEN_BYTES 32
#define NONCE_TTL_MS 60000
#define NONCE_RAND 16                /* nonce = 16 random || u64 expiry || 8 of the MAC */
#define NONCE_MAC 8
#define MAX_SESSIONS 10000
#define MAX_SESSIONS_PER_KEY 16
#define EVENTS_WAIT_MS 25000
#define MAX_BODY (64u * 1024)        /* a signed tx is < 32 KiB; JSON bodies are small */
#define GC_INTERVAL_MS 5000

static const char CSP[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
	"base-uri 'none'; frame-ancestors 'none'";

typedef struct {
	uint8_t scheme;
	uint8_t key[SIG_MAX_PUB];
	char csrf[2 * TOKEN_BYTES + 1];
	uint64_t created_ms, last_ms;
} sess_t;

typedef struct {
	uint64_t expires_ms;
} nonce_t;

typedef struct ewait_t {
	portal_t *p;
	https_req_t *req;
	uint64_t since;
	struct event *timer;
	struct ewait_t *next;
} ewait_t;

/* ---- replies ------------------------------------------------------------------ */

static json_t *jhex(const uint8_t *p, size_t n)
{
	char *h = hex_dup(p, n);
	json_t *j = json_string(h);
	free(h);
	return j;
}

static void security_headers(https_req_t *req)
{
	https_req_set_header(req, "Content-Security-Policy", CSP);
	https_req_set_header(req, "Strict-Transport-Security", "max-age=31536000");
	https_req_set_header(req, "X-Frame-Options", "DENY");
	https_req_set_header(req, "Referrer-Policy", "no-referrer");
	https_req_set_header(req, "Cross-Origin-Opener-Policy", "same-origin");
	https_req_set_header(req, "Cross-Origin-Resource-Policy", "same-origin");
	https_req_set_header(req, "Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=()");
}

static void reply_obj(https_req_t *req, int status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	https_reply_json(req, status, s ? s : "{}");
	free(s);
	json_decref(o);
}

/* What a refusal code means, in plain words for the tenant. */
static const struct {
	const char *code, *text;
} PLAIN[] = {
	{ "unknown_tenant", "Your key is not registered in this domain. Ask the provider that runs it to "
			    "register you." },
	{ "revoked", "Your registration in this domain was revoked by its provider." },
	{ "bad_instruction", "The instruction is not valid." },
	{ "sla_forbidden", "Your service agreement with this domain's provider does not allow this operation." },
	{ "quota_exceeded", "This would go beyond the quota in your service agreement." },
	{ "rate_limited", "You sent more requests to this domain in the last minute than your agreement "
			  "allows. Wait a little and try again." },
	{ "not_owner", "That object belongs to another tenant: you can only see and change your own." },
	{ "no_such_object", "That object does not exist (or not in this domain)." },
	{ "exists", "An object of that kind with that name already exists. Names are unique across the "
		    "consortium." },
	{ "in_use", "That object is busy or still in use by another of your objects." },
	{ "timestamp", "Your computer's clock is too far from the chain's time. Correct it and try again." },
	{ "duplicate", "This very request is already on the chain." },
	{ "malformed", "The request is malformed." },
	{ "malformed_tx", "The request is malformed." },
	{ "bad_signature", "The signature does not verify under the key." },
	{ "not_your_key", "The request is signed by a key other than the one you signed in with." },
	{ "not_a_request", "The portal only forwards your own requests." },
	{ "session_expired", "Your session has ended (signed out, expired, or the portal restarted). "
			     "Sign in again." },
	{ "challenge_unknown", "This sign-in challenge is unknown, already used or expired. Start the "
			       "sign-in again." },
	{ "not_registered", "This key has no active registration with any provider of the consortium." },
	{ "csrf", "The request did not come from the portal's own page." },
	{ "cross_site", "The request did not come from the portal's own page." },
	{ "no_node", "No node of the consortium answers right now; the request was not sent. Try again "
		     "shortly." },
	{ "body_too_large", "The upload is larger than the portal accepts." },
	{ "syncing", "The portal is still catching up with the chain; try again in a moment." },
};

static const char *plain_words(const char *code)
{
	for (size_t i = 0; i < ARRAY_LEN(PLAIN); i++)
		if (!strcmp(PLAIN[i].code, code))
			return PLAIN[i].text;
	return NULL;
}

/* {"error": code, "message": text, "explanation": plain words}. */
PRINTF(4, 5) static void reply_err(https_req_t *req, int status, const char *code, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{s:s,s:s}", "error", code, "message", msg);
	if (!o) {
		/* not UTF-8 (a path or header echoed back): said in ASCII instead
		 * of an empty object */
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
		o = json_pack("{s:s,s:s}", "error", code, "message", msg);
	}
	const char *pw = plain_words(code);
	if (pw)
		json_object_set_new(o, "explanation", json_string(pw));
	reply_obj(req, status, o);
}

/* ---- sessions and nonces ----------------------------------------------------------- */

static void token_hash(uint8_t out[BSEC_HASH_BYTES], const uint8_t token[TOKEN_BYTES])
{
	hash_sha256(out, token, TOKEN_BYTES);
}

/* The session token from the Cookie header, or -1. */
static int cookie_token(const https_req_t *req, uint8_t token[TOKEN_BYTES])
{
	const char *c = https_req_header(req, "Cookie");
	static const char name[] = COOKIE "=";
	while (c && *c) {
		while (*c == ' ' || *c == ';')
			c++;
		if (!strncmp(c, name, sizeof(name) - 1)) {
			const char *v = c + sizeof(name) - 1;
			size_t n = strcspn(v, "; ");
			char hex[2 * TOKEN_BYTES + 1];
			if (n != 2 * TOKEN_BYTES)
				return -1;
			memcpy(hex, v, n);
			hex[n] = 0;
			return hex_decode(token, TOKEN_BYTES, hex);
		}
		c = strchr(c, ';');
	}
	return -1;
}

static void session_end(portal_t *p, const uint8_t th[BSEC_HASH_BYTES])
{
	sess_t *s = map_del(p->sessions, th, BSEC_HASH_BYTES);
	if (s) {
		wipe(s, sizeof(*s));
		free(s);
	}
}

/* The live session of req, or NULL (expired ones are ended). */
static sess_t *session_of(portal_t *p, const https_req_t *req, uint8_t th[BSEC_HASH_BYTES])
{
	uint8_t token[TOKEN_BYTES];
	if (cookie_token(req, token) < 0)
		return NULL;
	token_hash(th, token);
	wipe(token, sizeof(token));
	sess_t *s = map_get(p->sessions, th, BSEC_HASH_BYTES);
	if (!s)
		return NULL;
	uint64_t now = now_ms();
	if (now - s->last_ms > p->cfg.session_idle_s * 1000 || now - s->created_ms > p->cfg.session_max_s * 1000) {
		session_end(p, th);
		return NULL;
	}
	return s;
}

static void clear_cookie(https_req_t *req)
{
	https_req_set_header(req, "Set-Cookie", COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
}

static void gc_cb(evutil_socket_t fd, short what, void *arg)
{
	portal_t *p = arg;
	uint64_t now = now_ms();
	size_t i = 0, kl;
	const void *k;
	void *v;
	uint8_t (*dead)[BSEC_HASH_BYTES] = NULL;
	size_t nd = 0;
	(void)fd;
	(void)what;
	while (map_next(p->nonces, &i, &k, &kl, &v))
		if (((nonce_t *)v)->expires_ms <= now) {
			dead = xrealloc(dead, (nd + 1) * sizeof(*dead));
			memcpy(dead[nd++], k, BSEC_HASH_BYTES);
		}
	for (size_t d = 0; d < nd; d++)
		free(map_del(p->nonces, dead[d], NONCE_BYTES));
	nd = 0;
	i = 0;
	while (map_next(p->sessions, &i, &k, &kl, &v)) {
		sess_t *s = v;
		if (now - s->last_ms > p->cfg.session_idle_s * 1000 ||
		    now - s->created_ms > p->cfg.session_max_s * 1000) {
			dead = xrealloc(dead, (nd + 1) * sizeof(*dead));
			memcpy(dead[nd++], k, BSEC_HASH_BYTES);
		}
	}
	for (size_t d = 0; d < nd; d++)
		session_end(p, dead[d]);
	free(dead);
}

/* ---- request helpers ------------------------------------------------------------------ */

/* Checks that a POST comes from the portal's own page: X-BSec-Request
 * present, Sec-Fetch-Site (when sent) same-origin, Origin (when sent)
 * this host.  Replies and returns -1 otherwise. */
static int post_origin_ok(https_req_t *req)
{
	const char *xr = https_req_header(req, "X-BSec-Request");
	const char *sfs = https_req_header(req, "Sec-Fetch-Site");
	const char *origin = https_req_header(req, "Origin");
	const char *host = https_req_header(req, "Host");
	if (!xr) {
		reply_err(req, 403, "csrf", "POST requests need the X-BSec-Request header");
		return -1;
	}
	if (sfs && strcmp(sfs, "same-origin")) {
		reply_err(req, 403, "cross_site", "Sec-Fetch-Site is `%.40s', not same-origin", sfs);
		return -1;
	}
	if (origin && (!host || strncmp(origin, "https://", 8) || strcmp(origin + 8, host))) {
		reply_err(req, 403, "cross_site", "Origin `%.100s' is not this portal (https://%.100s)", origin,
			  host ? host : "?");
		return -1;
	}
	return 0;
}

/* The body as a JSON object, or NULL after replying 400. */
static json_t *json_body(https_req_t *req)
{
	size_t len;
	const uint8_t *b = https_req_body(req, &len);
	json_error_t je;
	json_t *o = json_loadb((const char *)b, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		json_decref(o);
		reply_err(req, 400, "bad_body", "the body must be a JSON object%s%s", o ? "" : ": ",
			  o ? "" : je.text);
		return NULL;
	}
	return o;
}

/* A string member, or NULL after replying 400. */
static const char *jfield(https_req_t *req, const json_t *o, const char *key, size_t maxlen)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || json_string_length(v) > maxlen) {
		reply_err(req, 400, "bad_body", "`%s' must be a string of at most %zu characters", key, maxlen);
		return NULL;
	}
	return json_string_value(v);
}

static int same_key(int scheme, const uint8_t *key, const pubkey_t *k)
{
	return k && scheme == k->scheme && !memcmp(key, k->key, sig_pub_len(scheme));
}

static const char *status_name(int st)
{
	return st == OBJ_CREATING ? "creating" : st == OBJ_ACTIVE ? "active" : st == OBJ_DELETING ? "deleting" : "?";
}

/* ---- public endpoints --------------------------------------------------------------- */

static void h_info(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	(void)s;
	(void)rest;
	pthread_mutex_lock(&p->mu);
	uint64_t tip = p->node_tip;
	char node[128];
	snprintf(node, sizeof(node), "%s", p->follow_node);
	pthread_mutex_unlock(&p->mu);
	json_t *provs = json_array(), *types = json_array();
	for (size_t i = 0; i < p->g.n_providers; i++) {
		const provider_t *pr = &p->g.providers[i];
		json_t *d = json_array();
		for (size_t k = 0; k < pr->n_domains; k++)
			json_array_append_new(d, json_string(pr->domains[k]));
		json_array_append_new(provs, json_pack("{s:I,s:s,s:o}", "index", (json_int_t)i, "name", pr->name,
						       "domains", d));
	}
	for (size_t i = 0; INSTR_VNF_TYPES[i]; i++)
		json_array_append_new(types, json_string(INSTR_VNF_TYPES[i]));
	json_t *o = json_object();
	json_object_set_new(o, "name", json_string(p->g.name ? p->g.name : ""));
	json_object_set_new(o, "chain_id", jhex(p->g.chain_id, BSEC_HASH_BYTES));
	json_object_set_new(o, "height", json_integer((json_int_t)p->height));
	json_object_set_new(o, "tip_ts", json_integer((json_int_t)p->tip_ts));
	json_object_set_new(o, "node_height", json_integer((json_int_t)tip));
	json_object_set_new(o, "synced", json_boolean(p->height >= tip && tip > 0));
	json_object_set_new(o, "following", json_string(node));
	json_object_set_new(o, "providers", provs);
	json_object_set_new(o, "quorum", json_integer((json_int_t)genesis_quorum(&p->g)));
	json_object_set_new(o, "vnf_types", types);
	json_object_set_new(o, "timestamp_window_ms", json_integer((json_int_t)p->g.params.timestamp_window_ms));
	json_object_set_new(o, "login_tag", json_string(LOGIN_TAG));
	reply_obj(req, 200, o);
}

static void h_genesis(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	(void)s;
	(void)rest;
	https_reply(req, 200, "application/json", p->g.raw, p->g.raw_len);
}

_Static_assert(NONCE_RAND + 8 + NONCE_MAC == NONCE_BYTES, "nonce layout");

/* The request's Host when it is this portal's public name, else NULL
 * (answered): a sign-in signature covers the host, and only this one. */
static const char *own_host(const portal_t *p, https_req_t *req)
{
	const char *host = https_req_header(req, "Host");
	const char *mine = p->cfg.public_host ? p->cfg.public_host : p->cfg.listen;
	if (!host || !*host || strlen(host) > 255) {
		reply_err(req, 400, "no_host", "the request has no usable Host header");
		return NULL;
	}
	/* by default the listen address, and on loopback also localhost (the
	 * devnet certificate names both) */
	const char *port = strrchr(p->cfg.listen, ':');
	int local = !p->cfg.public_host && !strncmp(p->cfg.listen, "127.0.0.1:", 10) &&
		    !strncmp(host, "localhost:", 10) && port && !strcmp(host + 9, port);
	if (strcmp(host, mine) && !local) {
		reply_err(req, 400, "wrong_host", "this portal signs tenants in as `%s', not `%.64s' (its "
			  "config's public_host)", mine, host);
		return NULL;
	}
	return host;
}

/* The first NONCE_MAC bytes of HMAC-SHA-256(nonce_key, random || expiry). */
static void nonce_mac(const portal_t *p, const uint8_t nonce[NONCE_BYTES], uint8_t out[NONCE_MAC])
{
	uint8_t full[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, p->nonce_key, sizeof(p->nonce_key));
	crypto_auth_hmacsha256_update(&st, nonce, NONCE_RAND + 8);
	crypto_auth_hmacsha256_final(&st, full);
	memcpy(out, full, NONCE_MAC);
}

static void h_challenge(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	(void)s;
	(void)rest;
	const char *host = own_host(p, req);
	if (!host)
		return;
	uint8_t nonce[NONCE_BYTES];
	uint64_t expires = now_ms() + NONCE_TTL_MS;
	randombytes_buf(nonce, NONCE_RAND);
	for (int i = 0; i < 8; i++)
		nonce[NONCE_RAND + i] = (uint8_t)(expires >> (56 - 8 * i));
	nonce_mac(p, nonce, nonce + NONCE_RAND + 8);
	reply_obj(req, 200, json_pack("{s:o,s:o,s:s,s:I,s:s}", "nonce", jhex(nonce, NONCE_BYTES), "chain_id",
				      jhex(p->g.chain_id, BSEC_HASH_BYTES), "host", host, "expires_ms",
				      (json_int_t)expires, "tag", LOGIN_TAG));
}

/* 1 when nonce is one this process handed out and has not expired; its
 * expiry in *expires. */
static int nonce_ok(const portal_t *p, const uint8_t nonce[NONCE_BYTES], uint64_t *expires)
{
	uint8_t mac[NONCE_MAC];
	uint64_t e = 0;
	nonce_mac(p, nonce, mac);
	for (int i = 0; i < 8; i++)
		e = e << 8 | nonce[NONCE_RAND + i];
	*expires = e;
	return sodium_memcmp(mac, nonce + NONCE_RAND + 8, NONCE_MAC) == 0 && e > now_ms();
}

/* Bytes a sign-in signature covers. */
static uint8_t *login_message(const portal_t *p, const uint8_t nonce[NONCE_BYTES], const char *host,
			      size_t *len)
{
	buf_t b;
	buf_init(&b);
	buf_put(&b, LOGIN_TAG, strlen(LOGIN_TAG));
	buf_put(&b, p->g.chain_id, BSEC_HASH_BYTES);
	buf_put(&b, nonce, NONCE_BYTES);
	buf_str8(&b, host, strlen(host));
	return buf_steal(&b, len);
}

static json_t *session_json(portal_t *p, const sess_t *s);

/* Before key opens one more session: when it holds MAX_SESSIONS_PER_KEY
 * already, its oldest ends. */
static void sessions_cap_key(portal_t *p, uint8_t scheme, const uint8_t *key)
{
	size_t i = 0, kl, n = 0;
	const void *k, *oldest = NULL;
	void *v;
	uint64_t oldest_ms = UINT64_MAX;
	uint8_t th[BSEC_HASH_BYTES];
	while (map_next(p->sessions, &i, &k, &kl, &v)) {
		const sess_t *s = v;
		if (s->scheme != scheme || memcmp(s->key, key, sig_pub_len(scheme)))
			continue;
		n++;
		if (s->last_ms < oldest_ms) {
			oldest_ms = s->last_ms;
			oldest = k;
		}
	}
	if (n < MAX_SESSIONS_PER_KEY || !oldest)
		return;
	memcpy(th, oldest, BSEC_HASH_BYTES);
	session_end(p, th);
	log_info(MOD, "a key at its %d sessions signed in again: its least recently used session ended",
		 MAX_SESSIONS_PER_KEY);
}

static void h_login(portal_t *p, https_req_t *req, sess_t *s_unused, const char *rest)
{
	(void)s_unused;
	(void)rest;
	json_t *o = json_body(req);
	uint8_t key[SIG_MAX_PUB], nonce[NONCE_BYTES], sig[SIG_MAX_SIG];
	sig_scheme_t scheme;
	if (!o)
		return;
	const char *sn = jfield(req, o, "scheme", 32), *kh, *nh, *sh;
	if (!sn || !(kh = jfield(req, o, "public_key_hex", 2 * SIG_MAX_PUB)) ||
	    !(nh = jfield(req, o, "nonce", 2 * NONCE_BYTES)) ||
	    !(sh = jfield(req, o, "signature_hex", 2 * SIG_MAX_SIG)))
		goto out;
	if (sig_scheme_parse(sn, &scheme) < 0) {
		reply_err(req, 400, "bad_body", "scheme `%.32s' is not ed25519, ecdsa-p256 or rsa-pss-2048", sn);
		goto out;
	}
	size_t pl = sig_pub_len(scheme), sl = sig_sig_len(scheme);
	if (strlen(kh) != 2 * pl || hex_decode(key, pl, kh) < 0) {
		reply_err(req, 400, "bad_body", "public_key_hex must be %zu hex digits for %s", 2 * pl, sn);
		goto out;
	}
	if (strlen(sh) != 2 * sl || hex_decode(sig, sl, sh) < 0) {
		reply_err(req, 400, "bad_body", "signature_hex must be %zu hex digits for %s", 2 * sl, sn);
		goto out;
	}
	if (strlen(nh) != 2 * NONCE_BYTES || hex_decode(nonce, NONCE_BYTES, nh) < 0) {
		reply_err(req, 400, "bad_body", "nonce must be %d hex digits", 2 * NONCE_BYTES);
		goto out;
	}
	/* ours, unexpired, and not used by a sign-in yet */
	uint64_t expires;
	if (!nonce_ok(p, nonce, &expires) || map_get(p->nonces, nonce, NONCE_BYTES)) {
		log_info(MOD, "sign-in refused from %s: unknown, used or expired challenge", https_req_remote(req));
		reply_err(req, 401, "challenge_unknown", "challenge %.16s... is unknown, already used or expired", nh);
		goto out;
	}
	const char *host = own_host(p, req);
	if (!host)
		goto out;
	size_t ml;
	uint8_t *msg = login_message(p, nonce, host, &ml);
	int bad = sig_verify(scheme, key, sig, msg, ml) != 0;
	free(msg);
	if (bad) {
		log_info(MOD, "sign-in refused from %s: signature does not verify for key %.16s...",
			 https_req_remote(req), kh);
		reply_err(req, 401, "bad_signature", "the sign-in signature does not verify under key %.16s... "
			  "(for this chain, challenge and host %s)", kh, host);
		goto out;
	}
	if (!state_is_tenant(p->st, scheme, key)) {
		reply_err(req, 403, "not_registered", "key %.16s... has no unrevoked grant in the chain as of "
			  "block %llu", kh, (unsigned long long)p->height);
		goto out;
	}
	sessions_cap_key(p, (uint8_t)scheme, key);
	if (map_size(p->sessions) >= MAX_SESSIONS) {
		reply_err(req, 503, "busy", "too many open sessions; try again later");
		goto out;
	}
	/* the nonce opened a session: it opens no other */
	nonce_t *used = xmalloc(sizeof(*used));
	used->expires_ms = expires;
	free(map_put(p->nonces, nonce, NONCE_BYTES, used));
	uint8_t token[TOKEN_BYTES], th[BSEC_HASH_BYTES], csrf[TOKEN_BYTES];
	randombytes_buf(token, sizeof(token));
	randombytes_buf(csrf, sizeof(csrf));
	token_hash(th, token);
	sess_t *s = xcalloc(1, sizeof(*s));
	s->scheme = (uint8_t)scheme;
	memcpy(s->key, key, pl);
	hex_encode(s->csrf, csrf, TOKEN_BYTES);
	s->created_ms = s->last_ms = now_ms();
	map_put(p->sessions, th, BSEC_HASH_BYTES, s);
	char thex[2 * TOKEN_BYTES + 1], cookie[256];
	hex_encode(thex, token, TOKEN_BYTES);
	snprintf(cookie, sizeof(cookie), COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict", thex);
	wipe(token, sizeof(token));
	wipe(thex, sizeof(thex));
	https_req_set_header(req, "Set-Cookie", cookie);
	wipe(cookie, sizeof(cookie));
	log_info(MOD, "tenant %.16s... (%s) signed in from %s", kh, sn, https_req_remote(req));
	reply_obj(req, 200, session_json(p, s));
out:
	json_decref(o);
}

/* ---- session endpoints -------------------------------------------------------------- */

typedef struct {
	const sess_t *s;
	json_t *arr;
} grants_ctx_t;

static int grant_cb(void *ctx, const tenant_rec_t *t)
{
	grants_ctx_t *g = ctx;
	if (!same_key(g->s->scheme, g->s->key, &t->key))
		return 0;
	char *ops = sla_ops_format(t->sla.ops);
	json_array_append_new(g->arr, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:I}", "domain", t->domain,
		"name", t->name, "ops", ops, "max_vms", (json_int_t)t->sla.max_vms, "max_vnfs",
		(json_int_t)t->sla.max_vnfs, "max_sfcs", (json_int_t)t->sla.max_sfcs, "max_chain",
		(json_int_t)t->sla.max_chain, "rate_per_min", (json_int_t)t->sla.rate_per_min, "revoked",
		t->revoked, "height", (json_int_t)t->height));
	free(ops);
	return 0;
}

static json_t *session_json(portal_t *p, const sess_t *s)
{
	grants_ctx_t g = { s, json_array() };
	state_foreach_tenant(p->st, grant_cb, &g);
	char *pem = sig_pub_to_pem(s->scheme, s->key);
	json_t *o = json_object();
	json_object_set_new(o, "scheme", json_string(sig_scheme_name(s->scheme)));
	json_object_set_new(o, "public_key_hex", jhex(s->key, sig_pub_len(s->scheme)));
	json_object_set_new(o, "public_key_pem", json_string(pem ? pem : ""));
	json_object_set_new(o, "grants", g.arr);
	json_object_set_new(o, "csrf", json_string(s->csrf));
	json_object_set_new(o, "expires_ms", json_integer((json_int_t)(s->created_ms + p->cfg.session_max_s * 1000)));
	free(pem);
	return o;
}

static void h_session(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	(void)rest;
	reply_obj(req, 200, session_json(p, s));
}

static void h_logout(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	uint8_t th[BSEC_HASH_BYTES];
	(void)s;
	(void)rest;
	if (session_of(p, req, th))
		session_end(p, th);
	clear_cookie(req);
	reply_obj(req, 200, json_pack("{s:b}", "signed_out", 1));
}

/* An object as JSON; for SFCs the chain and match (for the diagram). */
static json_t *object_json(const object_rec_t *o)
{
	json_t *j = json_object();
	json_object_set_new(j, "kind", json_string(obj_kind_name(o->kind)));
	json_object_set_new(j, "name", json_string(o->name));
	json_object_set_new(j, "domain", json_string(o->domain));
	json_object_set_new(j, "status", json_string(status_name(o->status)));
	json_object_set_new(j, "spec", json_string(o->spec ? o->spec : ""));
	json_object_set_new(j, "pending_spec", o->pending_spec ? json_string(o->pending_spec) : json_null());
	json_object_set_new(j, "height", json_integer((json_int_t)o->height));
	json_object_set_new(j, "last_request", jhex(o->last_request, BSEC_HASH_BYTES));
	instr_t in;
	size_t pos;
	if (o->spec && instr_parse(&in, o->spec, strlen(o->spec), &pos, NULL, 0) == 0) {
		if (o->kind == OBJ_SFC) {
			json_t *c = json_array(), *m = json_object();
			for (int i = 0; i < in.n_chain; i++)
				json_array_append_new(c, json_string(in.chain[i]));
			for (int i = 0; i < in.n_match; i++)
				json_object_set_new(m, in.match[i].key, json_string(in.match[i].value));
			json_object_set_new(j, "chain", c);
			json_object_set_new(j, "match", m);
		} else if (o->kind == OBJ_VNF) {
			json_t *cf = json_object();
			for (int i = 0; i < in.n_config; i++)
				json_object_set_new(cf, in.config[i].key, json_string(in.config[i].value));
			json_object_set_new(j, "type", json_string(in.type));
			json_object_set_new(j, "vm", in.vm[0] ? json_string(in.vm) : json_null());
			json_object_set_new(j, "config", cf);
		}
	}
	return j;
}

typedef struct {
	const sess_t *s;
	json_t *arr;
} objs_ctx_t;

static int objs_cb(void *ctx, int kind, const char *name, const object_rec_t *o)
{
	objs_ctx_t *c = ctx;
	(void)kind;
	(void)name;
	if (o && same_key(c->s->scheme, c->s->key, o->owner))
		json_array_append_new(c->arr, object_json(o));
	return 0;
}

static void h_objects(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	if (!rest[0]) {
		objs_ctx_t c = { s, json_array() };
		state_foreach_object(p->st, objs_cb, &c);
		json_t *open = json_array();
		for (rec_t *r = p->newest; r; r = r->older)
			if (!r->answered && portal_rec_is(r, s->scheme, s->key))
				json_array_append_new(open, portal_rec_json(p, r));
		reply_obj(req, 200, json_pack("{s:I,s:o,s:o}", "height", (json_int_t)p->height, "objects", c.arr,
					      "open_requests", open));
		return;
	}
	char kind_s[8], name[INSTR_MAX_NAME + 2];
	const char *slash = strchr(rest, '/');
	size_t kl = slash ? (size_t)(slash - rest) : 0;
	if (!slash || kl >= sizeof(kind_s) || strlen(slash + 1) > INSTR_MAX_NAME || !slash[1]) {
		reply_err(req, 400, "bad_object", "expected /api/objects/KIND/NAME, got `%.80s'", rest);
		return;
	}
	memcpy(kind_s, rest, kl);
	kind_s[kl] = 0;
	snprintf(name, sizeof(name), "%s", slash + 1);
	int kind = obj_kind_parse(kind_s);
	if (kind < 0) {
		reply_err(req, 400, "bad_object", "object kind `%s' is not vm, vnf or sfc", kind_s);
		return;
	}
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) {
			reply_err(req, 400, "bad_object", "`%.40s' is not an object name", name);
			return;
		}
	const object_rec_t *o = state_object(p->st, kind, name, strlen(name));
	const hist_t *h = portal_hist(p, kind, name);
	json_t *hist = json_array();
	for (size_t i = 0; h && i < h->n; i++)
		if (portal_rec_is(h->r[i], s->scheme, s->key))
			json_array_append_new(hist, portal_rec_json(p, h->r[i]));
	int mine = o && same_key(s->scheme, s->key, o->owner);
	if (!mine && json_array_size(hist) == 0) {
		json_decref(hist);
		if (o || (h && h->n))
			reply_err(req, 403, "not_owner", "%s `%s' belongs to another tenant", kind_s, name);
		else
			reply_err(req, 404, "no_such_object", "there is no %s `%s' on the chain (as of block %llu)",
				  kind_s, name, (unsigned long long)p->height);
		return;
	}
	reply_obj(req, 200, json_pack("{s:I,s:o,s:o}", "height", (json_int_t)p->height, "object",
				      mine ? object_json(o) : json_null(), "history", hist));
}

static void h_requests(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	uint64_t limit;
	(void)rest;
	if (https_req_query_u64(req, "limit", 50, 500, &limit) < 0) {
		reply_err(req, 400, "bad_query", "limit must be 0..500");
		return;
	}
	json_t *arr = json_array();
	for (rec_t *r = p->newest; r && json_array_size(arr) < limit; r = r->older)
		if (portal_rec_is(r, s->scheme, s->key))
			json_array_append_new(arr, portal_rec_json(p, r));
	reply_obj(req, 200, json_pack("{s:I,s:o}", "height", (json_int_t)p->height, "requests", arr));
}

/* ---- the access control manager ----------------------------------------------------- */

static void verdict_reply(https_req_t *req, const verdict_t *v)
{
	reply_err(req, 422, verr_name(v->code), "%s", v->msg);
}

static void h_check(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	(void)rest;
	json_t *o = json_body(req);
	if (!o)
		return;
	const char *domain = jfield(req, o, "domain", TX_MAX_DOMAIN), *text;
	if (!domain || !(text = jfield(req, o, "instruction", TX_MAX_INSTRUCTION)))
		goto out;
	instr_t in;
	size_t pos;
	char why[256];
	if (instr_parse(&in, text, strlen(text), &pos, why, sizeof(why)) < 0) {
		reply_obj(req, 200, json_pack("{s:b,s:I,s:s,s:s}", "ok", 0, "position", (json_int_t)pos, "message",
					      why, "explanation", plain_words("bad_instruction")));
		goto out;
	}
	char *canon = instr_format(&in);
	/* every rule but the signature, on an unsigned copy */
	tx_t t;
	memset(&t, 0, sizeof(t));
	t.version = TX_VERSION;
	t.type = TX_REQUEST;
	t.timestamp_ms = now_ms();
	t.scheme = s->scheme;
	t.sender = s->key;
	t.domain = domain;
	t.domain_len = strlen(domain);
	t.instruction = canon;
	t.instruction_len = strlen(canon);
	randombytes_buf(t.id, sizeof(t.id));
	verdict_t v;
	verr_t r = validate_tx(p->st, &t, t.timestamp_ms, &v);
	json_t *out = json_pack("{s:b,s:s,s:b}", "ok", 1, "canonical", canon, "allowed", r == V_OK);
	if (r != V_OK) {
		const char *pw = plain_words(verr_name(r));
		json_object_set_new(out, "error", json_string(verr_name(r)));
		json_object_set_new(out, "message", json_string(v.msg));
		if (pw)
			json_object_set_new(out, "explanation", json_string(pw));
	}
	free(canon);
	reply_obj(req, 200, out);
out:
	json_decref(o);
}

static void job_gone(https_req_t *req, void *ctx)
{
	pjob_t *j = ctx;
	(void)req;
	j->req = NULL;
	atomic_store(&j->gone, 1);
}

/* Queues j for the deferred request req, or answers 503 when the queue is
 * full (j freed, with its ctx). */
static void job_start(portal_t *p, https_req_t *req, pjob_t *j)
{
	j->req = req;
	if (portal_job_submit(p, j) < 0) {
		free(j->ctx);
		portal_job_free(j);
		https_req_set_header(req, "Retry-After", "1");
		reply_err(req, 503, "busy", "%d requests to the nodes are waiting already; try again in a "
			  "second", PORTAL_MAX_JOBS);
		return;
	}
	https_req_defer(req, job_gone, j);
}

static void submit_done(portal_t *p, pjob_t *j)
{
	char id[2 * BSEC_HASH_BYTES + 1];
	(void)p;
	hex_encode(id, j->id, BSEC_HASH_BYTES);
	if (!j->req)
		return;
	if (j->status == 200 || j->status == 202) {
		log_info(MOD, "request %.16s forwarded to node %s", id, j->node);
		reply_obj(j->req, 202, json_pack("{s:s,s:s,s:s}", "id", id, "status", "pending", "node", j->node));
		return;
	}
	if (!j->status) {
		reply_err(j->req, 503, "no_node", "no node took the request: %s", j->err);
		return;
	}
	json_error_t je;
	json_t *b = json_loadb((const char *)j->resp, j->resp_len, 0, &je);
	const char *code = json_string_value(json_object_get(b, "error"));
	const char *msg = json_string_value(json_object_get(b, "message"));
	if (j->status == 503) {
		/* the node is behind or full: the tenant may send it again */
		https_req_set_header(j->req, "Retry-After", "1");
		reply_err(j->req, 503, code ? code : "busy", "node %s is busy: %s", j->node,
			  msg ? msg : "(no reason given)");
	} else {
		reply_err(j->req, j->status >= 400 && j->status < 500 ? 422 : 502, code ? code : "refused",
			  "node %s refused the request: %s", j->node, msg ? msg : "(no reason given)");
	}
	json_decref(b);
}

static void h_submit(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	size_t len;
	const uint8_t *body = https_req_body(req, &len);
	tx_t tx;
	char err[256];
	verdict_t v;
	(void)rest;
	memset(&tx, 0, sizeof(tx));
	if (len >= TX_MAX_BYTES) {
		reply_err(req, 413, "body_too_large", "a signed tx is under %d bytes; this body has %zu",
			  TX_MAX_BYTES, len);
		return;
	}
	if (tx_decode(&tx, body, len, p->g.chain_id, err, sizeof(err)) < 0) {
		reply_err(req, 400, "malformed_tx", "the body is not a signed tx: %s", err);
		return;
	}
	if (tx.type != TX_REQUEST) {
		reply_err(req, 403, "not_a_request", "this is a %s tx; the portal forwards only requests",
			  tx_type_name(tx.type));
		goto out;
	}
	if (tx.scheme != s->scheme || memcmp(tx.sender, s->key, sig_pub_len(s->scheme))) {
		char *k = hex_dup(tx.sender, sig_pub_len(tx.scheme) < 8 ? sig_pub_len(tx.scheme) : 8);
		char *me = hex_dup(s->key, 8);
		reply_err(req, 403, "not_your_key", "the request is signed by key %s..., you signed in as %s...", k, me);
		free(k);
		free(me);
		goto out;
	}
	if (tx_verify_sig(&tx, p->g.chain_id) != 0) {
		reply_err(req, 400, "bad_signature", "the request's signature does not verify under its sender key");
		goto out;
	}
	if (validate_tx(p->st, &tx, now_ms(), &v) != V_OK) {
		char idh[17];
		hex_encode(idh, tx.id, 8);
		log_info(MOD, "request %s refused before forwarding: %s: %s", idh, verr_name(v.code), v.msg);
		verdict_reply(req, &v);
		goto out;
	}
	pjob_t *j = portal_job_new("POST", "/v1/transactions", tx.raw, tx.raw_len);
	j->is_tx = 1;
	j->done = submit_done;
	memcpy(j->id, tx.id, BSEC_HASH_BYTES);
	job_start(p, req, j);
out:
	tx_clear(&tx);
}

/* ---- txs and blocks ------------------------------------------------------------------- */

static void tx_done(portal_t *p, pjob_t *j)
{
	if (!j->req)
		return;
	if (!j->status) {
		reply_err(j->req, 503, "no_node", "no node answers: %s", j->err);
		return;
	}
	json_error_t je;
	json_t *b = json_loadb((const char *)j->resp, j->resp_len, 0, &je);
	if (!json_is_object(b) || j->status != 200) {
		/* h_tx found the tx in the portal's own index of checked blocks:
		 * a node that does not have it is behind or lying, and the tx is
		 * committed all the same (never answer "not found" for it) */
		char idh[17];
		hex_encode(idh, j->id, 8);
		reply_err(j->req, 502, "node_error", "node %s does not serve tx %s... (HTTP %d), which the "
			  "portal has seen committed", j->node, idh, j->status);
		json_decref(b);
		return;
	}
	int is_resp;
	rec_t *r = portal_rec_of_tx(p, j->id, &is_resp);
	if (r) {
		json_object_set_new(b, "role", json_string(is_resp ? "response" : "request"));
		json_object_set_new(b, "record", portal_rec_json(p, r));
	}
	json_object_set_new(b, "node", json_string(j->node));
	reply_obj(j->req, 200, b);
}

static void h_tx(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	uint8_t id[BSEC_HASH_BYTES];
	if (strlen(rest) != 2 * BSEC_HASH_BYTES || hex_decode(id, sizeof(id), rest) < 0) {
		reply_err(req, 400, "bad_id", "tx id `%.80s' is not 64 hex digits", rest);
		return;
	}
	int is_resp;
	rec_t *r = portal_rec_of_tx(p, id, &is_resp);
	if (!r) {
		reply_err(req, 404, "not_found", "tx %.16s... is not one of the requests or responses the portal "
			  "has seen committed (as of block %llu)", rest, (unsigned long long)p->height);
		return;
	}
	if (!portal_rec_is(r, s->scheme, s->key)) {
		reply_err(req, 403, "not_owner", "tx %.16s... is another tenant's", rest);
		return;
	}
	char *path = xasprintf("/v1/transactions/%s", rest);
	pjob_t *j = portal_job_new("GET", path, NULL, 0);
	free(path);
	memcpy(j->id, id, BSEC_HASH_BYTES);
	j->done = tx_done;
	job_start(p, req, j);
}

typedef struct {
	uint8_t scheme;
	uint8_t key[SIG_MAX_PUB];
} who_t;

static void block_done(portal_t *p, pjob_t *j)
{
	who_t *w = j->ctx;
	if (!j->req)
		goto out;
	if (!j->status) {
		reply_err(j->req, 503, "no_node", "no node answers: %s", j->err);
		goto out;
	}
	json_error_t je;
	json_t *b = json_loadb((const char *)j->resp, j->resp_len, 0, &je);
	if (!json_is_object(b) || j->status != 200) {
		reply_err(j->req, j->status == 404 ? 404 : 502, j->status == 404 ? "not_found" : "node_error",
			  "node %s: HTTP %d %s", j->node, j->status,
			  json_string_value(json_object_get(b, "message")) ? json_string_value(json_object_get(b, "message")) : "");
		json_decref(b);
		goto out;
	}
	/* the tenant sees every tx id (they are hashes) but only its own txs */
	json_t *txs = json_object_get(b, "txs"), *mine = json_array();
	for (size_t i = 0; i < json_array_size(txs); i++) {
		json_t *t = json_array_get(txs, i);
		uint8_t id[BSEC_HASH_BYTES];
		const char *idh = json_string_value(json_object_get(t, "id"));
		int is_resp;
		rec_t *r;
		if (!idh || strlen(idh) != 2 * BSEC_HASH_BYTES || hex_decode(id, sizeof(id), idh) < 0 ||
		    !(r = portal_rec_of_tx(p, id, &is_resp)) || !portal_rec_is(r, w->scheme, w->key))
			continue;
		json_array_append_new(mine, json_pack("{s:I,s:s,s:s,s:O}", "index", (json_int_t)i, "id", idh, "role",
						      is_resp ? "response" : "request", "raw_hex",
						      json_object_get(t, "raw_hex")));
	}
	json_object_set_new(b, "txs", mine);
	json_object_set_new(b, "node", json_string(j->node));
	reply_obj(j->req, 200, b);
out:
	free(w);
}

static void h_block(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	char *end;
	unsigned long long h = strtoull(rest, &end, 10);
	if (!rest[0] || *end || rest[0] == '-' || rest[0] == '+' || !h || strlen(rest) > 19) {
		reply_err(req, 400, "bad_height", "height `%.40s' is not a block height", rest);
		return;
	}
	if (h > p->height) {
		reply_err(req, 404, "not_found", "no block %llu yet (the portal is at %llu)", h,
			  (unsigned long long)p->height);
		return;
	}
	char *path = xasprintf("/v1/blocks/%llu", h);
	pjob_t *j = portal_job_new("GET", path, NULL, 0);
	free(path);
	who_t *w = xcalloc(1, sizeof(*w));
	w->scheme = s->scheme;
	memcpy(w->key, s->key, sizeof(w->key));
	j->ctx = w;
	j->done = block_done;
	job_start(p, req, j);
}

/* ---- live updates ----------------------------------------------------------------------- */

static void ewait_unlink(portal_t *p, ewait_t *w)
{
	for (ewait_t **pp = &p->ewaits; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	event_free(w->timer);
	free(w);
}

static json_t *events_json(portal_t *p)
{
	pthread_mutex_lock(&p->mu);
	uint64_t tip = p->node_tip;
	pthread_mutex_unlock(&p->mu);
	return json_pack("{s:I,s:I,s:b,s:I}", "height", (json_int_t)p->height, "node_height", (json_int_t)tip,
			 "synced", p->height >= tip && tip > 0, "tip_ts", (json_int_t)p->tip_ts);
}

static void ewait_timeout(evutil_socket_t fd, short what, void *arg)
{
	ewait_t *w = arg;
	(void)fd;
	(void)what;
	reply_obj(w->req, 200, events_json(w->p));
	ewait_unlink(w->p, w);
}

static void ewait_gone(https_req_t *req, void *ctx)
{
	ewait_t *w = ctx;
	(void)req;
	ewait_unlink(w->p, w);
}

void portal_notify(portal_t *p)
{
	ewait_t **pp = &p->ewaits;
	while (*pp) {
		ewait_t *w = *pp;
		if (p->height > w->since) {
			*pp = w->next;
			reply_obj(w->req, 200, events_json(p));
			event_free(w->timer);
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static void h_events(portal_t *p, https_req_t *req, sess_t *s, const char *rest)
{
	uint64_t since;
	(void)s;
	(void)rest;
	if (https_req_query_u64(req, "since", 0, UINT64_MAX >> 1, &since) < 0) {
		reply_err(req, 400, "bad_query", "since must be a block height");
		return;
	}
	if (p->height > since) {
		reply_obj(req, 200, events_json(p));
		return;
	}
	ewait_t *w = xcalloc(1, sizeof(*w));
	w->p = p;
	w->req = req;
	w->since = since;
	w->timer = evtimer_new(p->base, ewait_timeout, w);
	struct timeval tv = { EVENTS_WAIT_MS / 1000, (EVENTS_WAIT_MS % 1000) * 1000 };
	evtimer_add(w->timer, &tv);
	w->next = p->ewaits;
	p->ewaits = w;
	https_req_defer(req, ewait_gone, w);
}

/* ---- dispatch ------------------------------------------------------------------------------ */

enum { PUBLIC = 0, SESSION = 1 };

typedef void (*api_fn)(portal_t *p, https_req_t *req, sess_t *s, const char *rest);

static const struct {
	const char *method, *prefix;
	int auth;
	api_fn fn;
} API[] = {
	{ "GET", "/api/info", PUBLIC, h_info },
	{ "GET", "/api/genesis", PUBLIC, h_genesis },
	{ "POST", "/api/challenge", PUBLIC, h_challenge },
	{ "POST", "/api/login", PUBLIC, h_login },
	{ "POST", "/api/logout", SESSION, h_logout },
	{ "GET", "/api/session", SESSION, h_session },
	{ "GET", "/api/objects", SESSION, h_objects },
	{ "GET", "/api/requests", SESSION, h_requests },
	{ "POST", "/api/check", SESSION, h_check },
	{ "POST", "/api/submit", SESSION, h_submit },
	{ "GET", "/api/tx", SESSION, h_tx },
	{ "GET", "/api/block", SESSION, h_block },
	{ "GET", "/api/events", SESSION, h_events },
};

static void serve_api(portal_t *p, https_req_t *req, const char *path, const char *method)
{
	const char *rest = NULL;
	size_t i, hit = ARRAY_LEN(API);
	for (i = 0; i < ARRAY_LEN(API); i++) {
		size_t n = strlen(API[i].prefix);
		if (strncmp(path, API[i].prefix, n) || (path[n] && path[n] != '/'))
			continue;
		if (strcmp(API[i].method, method)) {
			hit = i;
			continue;
		}
		rest = path[n] ? path + n + 1 : path + n;
		break;
	}
	if (i == ARRAY_LEN(API)) {
		if (hit < ARRAY_LEN(API)) {
			https_req_set_header(req, "Allow", API[hit].method);
			reply_err(req, 405, "method_not_allowed", "use %s %s", API[hit].method, API[hit].prefix);
		} else {
			reply_err(req, 404, "not_found", "no API endpoint `%.100s'", path);
		}
		return;
	}
	if (!strcmp(method, "POST") && post_origin_ok(req) < 0)
		return;
	sess_t *s = NULL;
	if (API[i].auth == SESSION) {
		uint8_t th[BSEC_HASH_BYTES];
		s = session_of(p, req, th);
		if (!s) {
			clear_cookie(req);
			reply_err(req, 401, "session_expired", "no valid session: sign in first");
			return;
		}
		if (!state_is_tenant(p->st, s->scheme, s->key)) {
			session_end(p, th);
			clear_cookie(req);
			reply_err(req, 403, "not_registered", "your key no longer has any unrevoked grant; signed out");
			return;
		}
		if (!strcmp(method, "POST")) {
			const char *t = https_req_header(req, "X-CSRF-Token");
			if (!t || strlen(t) != 2 * TOKEN_BYTES || !hash_eq((const uint8_t *)t, (const uint8_t *)s->csrf,
									  2 * TOKEN_BYTES)) {
				reply_err(req, 403, "csrf", "missing or wrong X-CSRF-Token");
				return;
			}
		}
		s->last_ms = now_ms();
	}
	API[i].fn(p, req, s, rest);
}

/* A file under web_dir (development); NULL when absent or the path is odd. */
static uint8_t *web_file(const portal_t *p, const char *path, size_t *len)
{
	char err[256];
	if (!strcmp(path, "/"))
		path = "/index.html";
	if (strstr(path, "..") || strspn(path, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
				      strlen(path))
		return NULL;
	char *f = xasprintf("%s%s", p->cfg.web_dir, path);
	uint8_t *d = file_read(f, len, 4u << 20, err, sizeof(err));
	free(f);
	return d;
}

static void h_all(https_req_t *req, void *ctx)
{
	portal_t *p = ctx;
	const char *path = https_req_path(req), *method = https_req_method(req);
	security_headers(req);
	if (!strncmp(path, "/api/", 5) || !strcmp(path, "/api")) {
		serve_api(p, req, path, method);
		return;
	}
	if (strcmp(method, "GET")) {
		https_req_set_header(req, "Allow", "GET");
		reply_err(req, 405, "method_not_allowed", "only GET for `%.100s'", path);
		return;
	}
	https_req_set_header(req, "Cache-Control", "no-cache");
	if (p->cfg.web_dir) {
		size_t len;
		uint8_t *d = web_file(p, path, &len);
		if (d) {
			https_reply(req, 200, portal_mime(!strcmp(path, "/") ? "/index.html" : path), d, len);
			free(d);
			return;
		}
	} else {
		const portal_asset_t *a = portal_asset(path);
		if (a) {
			https_reply(req, 200, a->type, a->data, a->len);
			return;
		}
	}
	https_req_set_header(req, "Cache-Control", "no-store");
	reply_err(req, 404, "not_found", "no such page `%.100s'", path);
}

static const https_route_t routes[] = {
	{ NULL, "/", h_all },
};

/* ---- start and stop --------------------------------------------------------------------------- */

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	portal_drain(arg);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	portal_t *p = arg;
	(void)what;
	log_info(MOD, "%s: stopping", (int)fd == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopbreak(p->base);
}

static int setup(portal_t *p, const char *path, char *err, size_t errlen)
{
	char why[512];
	if (portal_config_load(&p->cfg, path, err, errlen) < 0)
		return -1;
	log_set_level(p->cfg.log_level);
	log_set_name("portal");
	if (genesis_load(&p->g, p->cfg.genesis, why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: genesis: %s", path, why);
		return -1;
	}
	p->have_g = 1;
	if (p->cfg.ca && access(p->cfg.ca, R_OK) < 0) {
		err_set(err, errlen, "%s: ca `%s': %s", path, p->cfg.ca, strerror(errno));
		return -1;
	}
	if (p->cfg.web_dir && access(p->cfg.web_dir, R_OK | X_OK) < 0) {
		err_set(err, errlen, "%s: web_dir `%s': %s", path, p->cfg.web_dir, strerror(errno));
		return -1;
	}
	if (portal_nodes_setup(p, err, errlen) < 0)
		return -1;
	p->st = state_new(&p->g);
	portal_index_init(p);
	p->sessions = map_new();
	p->nonces = map_new();
	randombytes_buf(p->nonce_key, sizeof(p->nonce_key));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->base = event_base_new();
	if (p->efd < 0 || !p->base) {
		err_set(err, errlen, "cannot set up the event loop: %s", strerror(errno));
		return -1;
	}
	https_server_config_t sc = {
		.listen = p->cfg.listen, .cert_file = p->cfg.tls_cert, .key_file = p->cfg.tls_key,
		.routes = routes, .nroutes = ARRAY_LEN(routes), .ctx = p, .max_body = MAX_BODY,
		.timeout_s = 60,
	};
	p->srv = https_server_new(p->base, &sc, why, sizeof(why));
	if (!p->srv) {
		err_set(err, errlen, "HTTPS on %s: %s", p->cfg.listen, why);
		return -1;
	}
	p->wake_ev = event_new(p->base, p->efd, EV_READ | EV_PERSIST, wake_cb, p);
	p->gc_ev = event_new(p->base, -1, EV_PERSIST, gc_cb, p);
	p->sig_int = evsignal_new(p->base, SIGINT, stop_cb, p);
	p->sig_term = evsignal_new(p->base, SIGTERM, stop_cb, p);
	struct timeval gc = { GC_INTERVAL_MS / 1000, 0 };
	if (!p->wake_ev || !p->gc_ev || !p->sig_int || !p->sig_term || event_add(p->wake_ev, NULL) < 0 ||
	    event_add(p->gc_ev, &gc) < 0 || event_add(p->sig_int, NULL) < 0 || event_add(p->sig_term, NULL) < 0) {
		err_set(err, errlen, "cannot set up the event loop's events");
		return -1;
	}
	return portal_threads_start(p, err, errlen);
}

static void free_map_values(map_t *m, int wipe_them, size_t size)
{
	size_t i = 0, kl;
	const void *k;
	void *v;
	while (m && map_next(m, &i, &k, &kl, &v)) {
		if (wipe_them)
			wipe(v, size);
		free(v);
	}
	map_free(m);
}

static void teardown(portal_t *p)
{
	/* the server first: deferred requests are told they are gone while
	 * their jobs still exist */
	https_server_free(p->srv);
	if (p->base)
		event_base_loop(p->base, EVLOOP_NONBLOCK);
	portal_threads_stop(p);
	while (p->ewaits)
		ewait_unlink(p, p->ewaits);
	if (p->wake_ev)
		event_free(p->wake_ev);
	if (p->gc_ev)
		event_free(p->gc_ev);
	if (p->sig_int)
		event_free(p->sig_int);
	if (p->sig_term)
		event_free(p->sig_term);
	if (p->base)
		event_base_free(p->base);
	if (p->efd > 0)
		close(p->efd);
	free_map_values(p->sessions, 1, sizeof(sess_t));
	free_map_values(p->nonces, 0, 0);
	portal_index_free(p);
	state_free(p->st);
	portal_nodes_free(p);
	if (p->have_g)
		genesis_free(&p->g);
	portal_config_free(&p->cfg);
}

int portal_run(const char *path)
{
	static portal_t portal;
	portal_t *p = &portal;
	char err[1024];
	int ret = 1;
	memset(p, 0, sizeof(*p));
	p->efd = -1;
	p->started_ms = now_ms();
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "bsec: libsodium does not initialise\n");
		return 1;
	}
	if (setup(p, path, err, sizeof(err)) < 0) {
		log_error(MOD, "cannot start: %s", err);
		fprintf(stderr, "bsec: %s\n", err);
		goto out;
	}
	char host[256];
	snprintf(host, sizeof(host), "%s", p->cfg.listen);
	char *colon = strrchr(host, ':');
	if (colon)
		*colon = 0;
	log_info(MOD, "portal of consortium `%s' on https://%s:%d (following %zu node%s from %s)",
		 p->g.name ? p->g.name : "?", host, https_server_port(p->srv), p->n_nodes,
		 p->n_nodes == 1 ? "" : "s", p->nodes[0].url);
	event_base_dispatch(p->base);
	log_info(MOD, "portal stopping at height %llu", (unsigned long long)p->height);
	ret = 0;
out:
	teardown(p);
	return ret;
}
