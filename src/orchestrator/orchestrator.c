/*
 * orchestrator.c — one domain's orchestrator (orchestrator.h).
 *
 * One thread, one loop:
 *
 *   follow   GET /v1/blocks/raw?from=H&limit=N&wait=MS on the node in use
 *            (long poll once caught up).  Every block is checked (follow.h:
 *            hash chain, proposer signature, tx root, commit certificate)
 *            before anything else looks at it; a node that serves a bad
 *            block, stops answering or answers 5xx is left for the next.
 *            When a poll comes back empty, another node is asked whether
 *            it has the block (the node in use may be lagging), and the
 *            provider's own node is tried again when it is back.
 *   replay   every block from height 1 goes through state_begin_block +
 *            state_apply_tx, so the chain state (tenants, SLAs, objects)
 *            is the orchestrator's own, derived from certified blocks.
 *   execute  for each REQUEST to this domain, in chain order, with the
 *            state as it is just before that request: journal lookup ->
 *            (new) answered-on-chain check for blocks older than this run,
 *            permission re-check, intent, driver, outcome + signed
 *            response, submit; (intent only) reconcile with driver_get;
 *            (outcome) nothing, the resubmission sweep owns it.
 *   close    a committed RESPONSE to a journaled request closes its row.
 *   sweep    when caught up, every few seconds: outcomes whose response
 *            is still not on chain are posted again, byte for byte (a
 *            re-signed one only when the first has left the timestamp
 *            window uncommitted).
 *   attest   when caught up, every attest_interval_ms, with no request of
 *            the domain in flight: an ATTEST tx with the digest of what
 *            the driver lists for the domain (attest.h).
 *
 * Stopping: SIGTERM/SIGINT set a flag checked between steps; a driver
 * call in progress finishes and is journaled first.  Long polls are short
 * (POLL_WAIT_MS) so a stop is never far away.
 */
#include "orchestrator.h"
#include "driver.h"
#include "follow.h"
#include "journal.h"
#include "../ledger/attest.h"
#include "../ledger/block.h"
#include "../ledger/genesis.h"
#include "../ledger/instr.h"
#include "../ledger/state.h"
#include "../ledger/tx.h"
#include "../ledger/validate.h"
#include "../lib/https.h"
#include "../lib/sig.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define MOD "orch"
#define POLL_WAIT_MS 2000            /* one long poll for the next block */
#define PAGE_BLOCKS 64               /* blocks per fetch while catching up (the node ends a page past 8 MB) */
#define CALL_TIMEOUT_MS 10000        /* any other API call */
#define SWEEP_INTERVAL_MS 5000       /* resubmission sweep, when caught up */
#define RESUBMIT_AFTER_MS 10000      /* a response accepted this long ago and not committed */
#define CHAIN_CHECK_MARGIN_MS 10000  /* blocks up to start + this may hold answered requests */
#define RETRY_MAX_MS 5000            /* back-off ceiling */
#define HOME_PROBE_MS 10000          /* try the provider's own node again this often */
#define RECONCILE_TRIES 4            /* reads of the platform after the first, to reconcile */
#define RECONCILE_FIRST_MS 500       /* ... 0.5, 1, 2, 4 s apart */

static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

typedef nodeapi_t onode_t;

typedef struct {
	orch_config_t cfg;
	genesis_t g;
	int have_g;
	const provider_t *me;
	sig_key_t *key;
	journal_t *j;
	int fresh;
	driver_t *drv;
	state_t *st;
	onode_t *nodes;
	size_t n, cur;
	size_t resub;                          /* where the next resubmission starts:
						* another node each time, so one that
						* takes txs and drops them is routed
						* around */
	uint64_t height;                       /* last block replayed */
	uint8_t tip_hash[BSEC_HASH_BYTES];
	uint64_t start_ms;
	uint64_t last_sweep_ms, last_home_probe_ms, last_height_write_ms, last_attest_ms;
	size_t probe_next;                     /* which other node to ask when idle */
	int lock_fd;
	uint64_t n_executed, n_reconciled, n_refused, n_on_chain, n_failed, n_closed, n_attested;
} orch_t;

/* ---- small helpers ----------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	/* in slices, so a stop signal is honoured quickly */
	while (ms && !g_stop) {
		unsigned s = ms < 100 ? ms : 100;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)s * 1000000L };
		nanosleep(&ts, NULL);
		ms -= s;
	}
}

static void short_id(char out[17], const uint8_t *id)
{
	hex_encode(out, id, 8);
}

/* Printable, valid UTF-8 (ASCII) text of at most max bytes. */
static void sanitize(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		s[n = max] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			s[i] = '?';
}

/* ---- the node API ---------------------------------------------------------- */

/* The node list: the config's, or every provider's API with ours first. */
static int nodes_setup(orch_t *o, char *err, size_t errlen)
{
	return follow_nodes_setup(&o->nodes, &o->n, &o->g, o->cfg.nodes, o->cfg.n_nodes, o->cfg.ca,
				  o->me->index, o->cfg.path, err, errlen);
}

static void nodes_free(orch_t *o)
{
	nodeapi_free(o->nodes, o->n);
	o->nodes = NULL;
	o->n = 0;
}

/* One call to node i.  0 with *status and the JSON body (NULL when not
 * JSON; caller decrefs), or -1 with the node's err set. */
static int node_call(orch_t *o, size_t i, int poll, int timeout_ms, const char *method,
		     const char *path, const uint8_t *body, size_t len, int *status, json_t **out)
{
	onode_t *nd = &o->nodes[i];
	uint8_t *resp = NULL;
	size_t rlen = 0;
	*out = NULL;
	if (nodeapi_request(poll ? &nd->poll : &nd->post, nd, timeout_ms, 256u << 20, method, path, body,
			    len, status, &resp, &rlen, nd->err, sizeof(nd->err)) < 0)
		return -1;
	json_error_t je;
	*out = json_loadb((const char *)resp, rlen, 0, &je);
	free(resp);
	return 0;
}

/* GET path on the node in use, failing over while nodes do not answer
 * (transport error, 5xx, not JSON).  0 with *status < 500 and *body;
 * -1 only when stopping. */
static int get_any(orch_t *o, const char *path, int *status, json_t **body)
{
	unsigned backoff = 200;
	for (size_t tried = 0; !g_stop; tried++) {
		onode_t *nd = &o->nodes[o->cur];
		if (node_call(o, o->cur, 0, CALL_TIMEOUT_MS, "GET", path, NULL, 0, status, body) == 0 &&
		    *status < 500 && *body)
			return 0;
		if (*status)
			err_set(nd->err, sizeof(nd->err), "HTTP %d %s", *status, jstr(*body, "message"));
		json_decref(*body);
		*body = NULL;
		log_warn(MOD, "node %s (%s) did not answer GET %s: %s; trying the next node", nd->name, nd->url,
			 path, nd->err);
		o->cur = (o->cur + 1) % o->n;
		if ((tried + 1) % o->n == 0) {
			sleep_ms(backoff);
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
		}
	}
	return -1;
}

/* Does the chain (per the node in use) hold a response to request id?
 * 1 yes (its id in rid_hex when not NULL), 0 no, -1 stopping. */
static int chain_response_of(orch_t *o, const uint8_t id[BSEC_HASH_BYTES], char rid_hex[65])
{
	char hex[2 * BSEC_HASH_BYTES + 1];
	hex_encode(hex, id, BSEC_HASH_BYTES);
	char *path = xasprintf("/v1/transactions/%s", hex);
	int status, ret;
	json_t *body = NULL;
	if (get_any(o, path, &status, &body) < 0) {
		ret = -1;
	} else {
		const char *rid = jstr(body, "response_id");
		ret = status == 200 && strlen(rid) == 2 * BSEC_HASH_BYTES;
		if (ret && rid_hex)
			memcpy(rid_hex, rid, 2 * BSEC_HASH_BYTES + 1);
	}
	json_decref(body);
	free(path);
	return ret;
}

/* ---- responses ------------------------------------------------------------- */

/* Builds and signs the response; 0 or -1 (logged). */
static int response_build(orch_t *o, const uint8_t req_id[BSEC_HASH_BYTES], int outcome,
			  const char *result, const char *error, tx_t *out)
{
	char err[256];
	tx_fields_t f = {
		.type = TX_RESPONSE, .request_id = req_id, .status = (uint8_t)outcome,
		.result = outcome == TX_STATUS_OK ? result : "",
		.error = outcome == TX_STATUS_OK ? "" : error,
	};
	if (tx_build(out, &f, o->key, o->g.chain_id, err, sizeof(err)) < 0) {
		log_error(MOD, "cannot build a response: %s", err);
		return -1;
	}
	return 0;
}

/* Whether the response raw[0..len) was signed more than half the
 * timestamp window ago by our clock (a node refusing a fresher one as out
 * of the window has a clock of its own). */
static int response_stale(const orch_t *o, const uint8_t *raw, size_t len)
{
	tx_t t;
	if (tx_decode(&t, raw, len, o->g.chain_id, NULL, 0) < 0)
		return 1;
	uint64_t now = now_ms(), ts = t.timestamp_ms;
	tx_clear(&t);
	return ts + o->g.params.timestamp_window_ms / 2 < now;
}

/* Posts the signed response raw[0..len), to node `first' first, until a
 * node accepts it (200/202) or the chain shows the request answered.
 * When a node refuses it as out of the timestamp window, the request is
 * still unanswered and the response is stale by our clock, a fresh one
 * with the same outcome replaces it (journal included; *raw and *len are
 * then the new bytes, which the caller owns either way); a fresh one
 * refused so is that node's clock: the next node is tried, as after any
 * refusal.  0 when done, -1 when stopping or on a journal failure. */
static int response_submit(orch_t *o, size_t first, const uint8_t req_id[BSEC_HASH_BYTES], int outcome,
			   const char *result, const char *error, uint8_t **raw, size_t *len)
{
	unsigned backoff = 200;
	size_t at = first % o->n;
	char rq[17], rid_hex[2 * BSEC_HASH_BYTES + 1];
	short_id(rq, req_id);
	/* one round over the nodes even when stopping: the outcome is
	 * journaled, so its response should leave before we do */
	for (size_t tried = 0; !g_stop || tried < o->n; tried++) {
		onode_t *nd = &o->nodes[at];
		int status;
		json_t *body = NULL;
		int rc = node_call(o, at, 0, CALL_TIMEOUT_MS, "POST", "/v1/transactions", *raw, *len,
				   &status, &body);
		if (rc == 0 && (status == 200 || status == 202)) {
			json_decref(body);
			if (journal_mark_submitted(o->j, req_id, now_ms()) < 0)
				return -1;
			log_debug(MOD, "response to %s accepted by %s (HTTP %d)", rq, nd->name, status);
			return 0;
		}
		if (rc == 0 && status >= 400 && status < 500) {
			char code[64];
			snprintf(code, sizeof(code), "%s", jstr(body, "error"));
			log_info(MOD, "node %s refused the response to %s: %s: %s", nd->name, rq, code,
				 jstr(body, "message"));
			json_decref(body);
			if (!strcmp(code, verr_name(V_ANSWERED)) || !strcmp(code, verr_name(V_DUPLICATE)))
				return 0;
			int cr = chain_response_of(o, req_id, rid_hex);
			if (cr < 0)
				return -1;
			if (cr == 1) {
				log_info(MOD, "request %s already has response %.16s on chain", rq, rid_hex);
				return 0;
			}
			if (!strcmp(code, verr_name(V_TIMESTAMP)) && response_stale(o, *raw, *len)) {
				tx_t fresh;
				if (response_build(o, req_id, outcome, result, error, &fresh) < 0)
					return -1;
				if (journal_set_response(o->j, req_id, fresh.id, fresh.raw, fresh.raw_len) < 0) {
					tx_clear(&fresh);
					return -1;
				}
				free(*raw);
				*raw = xmalloc(fresh.raw_len);
				memcpy(*raw, fresh.raw, fresh.raw_len);
				*len = fresh.raw_len;
				log_info(MOD, "response to %s re-signed with a current timestamp", rq);
				tx_clear(&fresh);
				continue;
			}
			/* no_such_request: that node has not committed the request yet;
			 * timestamp (of a fresh response): that node's clock is off;
			 * else a refusal we cannot fix by waiting, but retrying costs
			 * nothing */
			if (!strcmp(code, verr_name(V_TIMESTAMP)))
				log_warn(MOD, "node %s refuses a response signed just now as out of its timestamp "
					 "window: its clock is off; trying another node", nd->name);
			else if (strcmp(code, verr_name(V_NO_REQUEST)))
				log_error(MOD, "response to %s refused (%s); will retry", rq, code);
		} else {
			if (rc == 0)
				err_set(nd->err, sizeof(nd->err), "HTTP %d %s", status, jstr(body, "message"));
			json_decref(body);
			log_warn(MOD, "node %s (%s) did not take the response to %s: %s", nd->name, nd->url, rq,
				 nd->err);
		}
		at = (at + 1) % o->n;
		if ((tried + 1) % o->n == 0 && !g_stop) {
			sleep_ms(backoff);
			backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
		}
	}
	return -1;
}

/* Records the outcome with its signed response, then submits it.
 * 0, or -1 when stopping or on a journal failure. */
static int finish(orch_t *o, const tx_t *req, uint64_t height, uint32_t index, const char *owner_hex,
		  int outcome, char *result, char *error, const char *how)
{
	tx_t resp;
	char rq[17];
	short_id(rq, req->id);
	sanitize(result, TX_MAX_RESULT);
	sanitize(error, TX_MAX_ERROR);
	if (outcome != TX_STATUS_OK && !error[0])
		snprintf(error, TX_MAX_ERROR, "%s driver failed without saying why", driver_type(o->drv));
	char *instr = xstrndup(req->instruction, req->instruction_len);
	int ret = -1;
	if (response_build(o, req->id, outcome, result, error, &resp) < 0) {
		free(instr);
		return -1;
	}
	if (journal_done(o->j, req->id, height, index, instr, owner_hex, outcome, result, error, how,
			 resp.id, resp.raw, resp.raw_len) < 0)
		goto out;
	log_info(MOD, "request %s at %llu.%u (%s): %s %s: %s", rq, (unsigned long long)height, index, instr,
		 how, outcome == TX_STATUS_OK ? "ok" : "error", outcome == TX_STATUS_OK ? result : error);
	uint8_t *raw = xmalloc(resp.raw_len);
	size_t len = resp.raw_len;
	memcpy(raw, resp.raw, len);
	ret = response_submit(o, o->cur, req->id, outcome, result, error, &raw, &len);
	free(raw);
out:
	tx_clear(&resp);
	free(instr);
	return ret;
}

/* ---- requests ---------------------------------------------------------------- */

static int same_owner(const pubkey_t *k, const tx_t *tx)
{
	return k && k->scheme == tx->scheme && !memcmp(k->key, tx->sender, sig_pub_len(tx->scheme));
}

/* The permission re-check against the chain state just before the request
 * (DESIGN §8): tenant registered and not revoked in this domain, the SLA
 * allows the operation, the object is the tenant's.  0, or -1 with the
 * reason in why. */
static int permission_check(const orch_t *o, const tx_t *tx, const instr_t *in, char *why, size_t wl)
{
	const char *dom = o->cfg.domain;
	const tenant_rec_t *t = state_tenant(o->st, tx->domain, tx->domain_len, tx->scheme, tx->sender);
	if (!t) {
		err_set(why, wl, "permission revoked: the sender is not a registered tenant of domain '%s'", dom);
		return -1;
	}
	if (t->revoked) {
		err_set(why, wl, "permission revoked: tenant '%s' was revoked in domain '%s' at block %llu",
			t->name, dom, (unsigned long long)t->height);
		return -1;
	}
	if (!(t->sla.ops & instr_op_bit(in->kind, in->verb))) {
		err_set(why, wl, "permission revoked: the SLA of tenant '%s' does not allow %s:%s in domain '%s'",
			t->name, obj_kind_name(in->kind), verb_name(in->verb), dom);
		return -1;
	}
	if (in->verb != VERB_CREATE) {
		const object_rec_t *ob = state_object(o->st, in->kind, in->name, strlen(in->name));
		if (ob && !same_owner(ob->owner, tx)) {
			err_set(why, wl, "permission denied: %s '%s' belongs to another tenant",
				obj_kind_name(in->kind), in->name);
			return -1;
		}
	}
	return 0;
}

/* After a crash between intent and outcome: did the instruction take
 * effect on the platform?  1 yes (a result describing it in result), 0
 * no, -1 the platform cannot be read (reason in why). */
static int took_effect(orch_t *o, const instr_t *in, char *result, size_t rlen, char *why, size_t wl)
{
	static driver_obj_t obj;              /* large; one thread */
	int exists = 0, ret = -1;
	char *expected = NULL;
	const char *kn = obj_kind_name(in->kind);
	const char *label = !strcmp(driver_type(o->drv), "sim") ? "simulated" : driver_type(o->drv);
	memset(&obj, 0, sizeof(obj));
	if (driver_get(o->drv, in->kind, in->name, &exists, &obj, why, wl) < 0)
		return -1;
	switch (in->verb) {
	case VERB_CREATE:
		expected = instr_format(in);
		ret = exists && !obj.problem[0] && (!obj.spec[0] || !strcmp(obj.spec, expected));
		if (ret)
			err_set(result, rlen, "%s: created %s %s (confirmed on the platform after an "
				"orchestrator restart)", label, kn, in->name);
		break;
	case VERB_DELETE:
		ret = !exists;
		if (ret)
			err_set(result, rlen, "%s: deleted %s %s (confirmed on the platform after an "
				"orchestrator restart)", label, kn, in->name);
		break;
	case VERB_UPDATE: {
		const object_rec_t *ob = state_object(o->st, in->kind, in->name, strlen(in->name));
		char e2[256];
		expected = ob ? state_updated_spec(ob, in, e2, sizeof(e2)) : NULL;
		ret = exists && expected && !obj.problem[0] && !strcmp(obj.spec, expected);
		if (ret)
			err_set(result, rlen, "%s: updated %s %s (confirmed on the platform after an "
				"orchestrator restart)", label, kn, in->name);
		break;
	}
	default:
		ret = 0;
	}
	free(expected);
	return ret;
}

/* For a request in a block older than this run and unknown to the
 * journal: did an earlier run (whose journal is gone) answer it?  The
 * answer counts only as a RESPONSE to this request signed by our own
 * orchestrator key, which no node can forge.  1 (journaled as DONE), 0,
 * or -1 when stopping / on a journal failure. */
static int answered_before(orch_t *o, const tx_t *req, uint64_t height, uint32_t index,
			   const char *owner_hex)
{
	char rid_hex[2 * BSEC_HASH_BYTES + 1], rq[17];
	int r = chain_response_of(o, req->id, rid_hex);
	if (r <= 0)
		return r;
	short_id(rq, req->id);
	char *path = xasprintf("/v1/transactions/%s", rid_hex);
	json_t *body = NULL;
	int status, ret = 0;
	tx_t resp;
	memset(&resp, 0, sizeof(resp));
	if (get_any(o, path, &status, &body) < 0) {
		ret = -1;
		goto out;
	}
	const char *hex = jstr(json_object_get(body, "tx"), "raw_hex");
	size_t hl = strlen(hex);
	uint8_t *raw = hl && hl % 2 == 0 && hl / 2 <= TX_MAX_BYTES ? xmalloc(hl / 2) : NULL;
	int ok = raw && hex_decode(raw, hl / 2, hex) == 0 &&
		 tx_decode(&resp, raw, hl / 2, o->g.chain_id, NULL, 0) == 0 &&
		 resp.type == TX_RESPONSE && !memcmp(resp.request_id, req->id, BSEC_HASH_BYTES) &&
		 resp.scheme == o->me->orch_key.scheme &&
		 !memcmp(resp.sender, o->me->orch_key.key, sig_pub_len(resp.scheme)) &&
		 tx_verify_sig(&resp, o->g.chain_id) == 0;
	free(raw);
	if (!ok) {
		log_warn(MOD, "node %s says request %s has response %.16s, but that is not a response of ours "
			 "to it; ignoring the claim", o->nodes[o->cur].name, rq, rid_hex);
		goto out;
	}
	char *instr = xstrndup(req->instruction, req->instruction_len);
	char *result = xstrndup(resp.result, resp.result_len), *error = xstrndup(resp.error, resp.error_len);
	int jr = journal_done(o->j, req->id, height, index, instr, owner_hex, resp.status, result, error,
			      J_HOW_ON_CHAIN, resp.id, resp.raw, resp.raw_len);
	free(instr);
	free(result);
	free(error);
	if (jr < 0) {
		ret = -1;
		goto out;
	}
	o->n_on_chain++;
	log_info(MOD, "request %s at %llu.%u was answered before this journal existed (response %.16s); "
		 "not executing it again", rq, (unsigned long long)height, index, rid_hex);
	ret = 1;
out:
	tx_clear(&resp);
	json_decref(body);
	free(path);
	return ret;
}

/* One request of our domain at (height, index), the state just before it.
 * 0 when it has an outcome (and its response was submitted), -1 when
 * stopping or on a fatal error. */
static int handle_request(orch_t *o, const tx_t *tx, uint64_t height, uint32_t index,
			  uint64_t block_ts)
{
	journal_entry_t e;
	int ret = -1;
	char rq[17], why[512];
	char *owner_hex = hex_dup(tx->sender, sig_pub_len(tx->scheme));
	static char result[TX_MAX_RESULT + 1], error[TX_MAX_ERROR + 1];
	instr_t in;
	size_t pos;
	short_id(rq, tx->id);
	result[0] = error[0] = 0;
	int r = journal_get(o->j, tx->id, &e);
	if (r < 0)
		goto out;
	if (r == 1 && e.state >= J_DONE) {
		ret = 0;                          /* outcome recorded; the sweep resubmits if needed */
		goto out;
	}
	if (instr_parse(&in, tx->instruction, tx->instruction_len, &pos, why, sizeof(why)) < 0) {
		/* the nodes refuse such requests; a certified block has none */
		snprintf(error, sizeof(error), "bad instruction: %s", why);
		o->n_refused++;
		ret = finish(o, tx, height, index, owner_hex, TX_STATUS_ERROR, result, error, J_HOW_REFUSED);
		goto out;
	}
	if (r == 1) {
		/* intent without outcome: we crashed while (or just before) executing */
		log_info(MOD, "request %s at %llu.%u (%s) was started before a restart; reconciling with the "
			 "%s driver", rq, (unsigned long long)height, index, e.instruction, driver_type(o->drv));
		int t = took_effect(o, &in, result, sizeof(result), why, sizeof(why));
		for (unsigned k = 0, backoff = RECONCILE_FIRST_MS; t < 0 && k < RECONCILE_TRIES && !g_stop;
		     k++, backoff *= 2) {
			log_warn(MOD, "cannot read the platform to reconcile request %s (%s); trying again in "
				 "%u ms", rq, why, backoff);
			sleep_ms(backoff);
			t = took_effect(o, &in, result, sizeof(result), why, sizeof(why));
		}
		if (t == 1) {
			o->n_reconciled++;
			ret = finish(o, tx, height, index, owner_hex, TX_STATUS_OK, result, error,
				     J_HOW_RECONCILED);
			goto out;
		}
		if (t < 0) {
			if (g_stop)
				goto out;
			/* running it again could do it twice: answer that nobody
			 * knows, on the record, and leave the platform alone */
			result[0] = 0;
			snprintf(error, sizeof(error),
				 "outcome unknown: the orchestrator restarted while running this request and "
				 "cannot read the platform to tell whether it took effect (%s); it was not run a "
				 "second time", why);
			o->n_failed++;
			log_error(MOD, "request %s: %s", rq, error);
			ret = finish(o, tx, height, index, owner_hex, TX_STATUS_ERROR, result, error,
				     J_HOW_UNKNOWN);
			goto out;
		}
		log_info(MOD, "request %s did not take effect; running it now", rq);
	} else {
		if (block_ts <= o->start_ms + CHAIN_CHECK_MARGIN_MS) {
			int a = answered_before(o, tx, height, index, owner_hex);
			if (a != 0) {
				ret = a > 0 ? 0 : -1;
				goto out;
			}
		}
		if (permission_check(o, tx, &in, error, sizeof(error)) < 0) {
			o->n_refused++;
			log_warn(MOD, "request %s at %llu.%u refused: %s", rq, (unsigned long long)height, index,
				 error);
			ret = finish(o, tx, height, index, owner_hex, TX_STATUS_ERROR, result, error,
				     J_HOW_REFUSED);
			goto out;
		}
		char *instr = xstrndup(tx->instruction, tx->instruction_len);
		int jr = journal_start(o->j, tx->id, height, index, instr, owner_hex);
		free(instr);
		if (jr < 0)
			goto out;
	}
	uint64_t t0 = mono_us();
	int rc = driver_apply(o->drv, &in, o->cfg.domain, owner_hex, result, sizeof(result), error,
			      sizeof(error));
	log_debug(MOD, "driver %s ran request %s in %llu ms: %s", driver_type(o->drv), rq,
		  (unsigned long long)((mono_us() - t0) / 1000), rc == 0 ? "ok" : "error");
	if (rc == 0)
		o->n_executed++;
	else
		o->n_failed++;
	ret = finish(o, tx, height, index, owner_hex, rc == 0 ? TX_STATUS_OK : TX_STATUS_ERROR, result,
		     error, J_HOW_EXECUTED);
out:
	if (r == 1)
		journal_entry_clear(&e);
	free(owner_hex);
	return ret;
}

/* A committed response: closes the journal row of its request. */
static int note_response(orch_t *o, const tx_t *tx, uint64_t height)
{
	if (tx->scheme != o->me->orch_key.scheme ||
	    memcmp(tx->sender, o->me->orch_key.key, sig_pub_len(tx->scheme)))
		return 0;
	journal_entry_t e;
	int r = journal_get(o->j, tx->request_id, &e);
	if (r <= 0)
		return r;
	if (e.state != J_CLOSED) {
		char rq[17];
		short_id(rq, tx->request_id);
		if (e.has_response && memcmp(e.response_id, tx->id, BSEC_HASH_BYTES))
			log_info(MOD, "request %s was answered on chain by another response of ours than the "
				 "journaled one (an earlier signature); recording the committed one", rq);
		if (journal_close_entry(o->j, tx->request_id, tx->id, height) < 0)
			r = -1;
		else
			o->n_closed++;
		log_debug(MOD, "response to %s committed at %llu", rq, (unsigned long long)height);
	}
	journal_entry_clear(&e);
	return r < 0 ? -1 : 0;
}

/* Records o->height as the journal's last height when it is ahead. */
static int save_height(orch_t *o)
{
	o->last_height_write_ms = now_ms();
	if (o->height > journal_last_height(o->j) && journal_set_last_height(o->j, o->height) < 0)
		return -1;
	return 0;
}

/* Replays block b (checked) and acts on it.  0, or -1 when stopping or
 * on a fatal error. */
static int process_block(orch_t *o, const block_t *b)
{
	uint64_t h = b->hdr.height;
	size_t dl = strlen(o->cfg.domain);
	int ours = 0;
	state_begin_block(o->st, h, b->hdr.timestamp_ms);
	for (uint32_t i = 0; i < b->hdr.tx_count; i++) {
		const tx_t *tx = &b->txs[i];
		if (tx->type == TX_REQUEST && tx->domain_len == dl && !memcmp(tx->domain, o->cfg.domain, dl)) {
			ours = 1;
			if (handle_request(o, tx, h, i, b->hdr.timestamp_ms) < 0)
				return -1;
		} else if (tx->type == TX_RESPONSE) {
			if (note_response(o, tx, h) < 0)
				return -1;
		}
		state_apply_tx(o->st, tx);
	}
	state_forget_undo(o->st);
	o->height = h;
	memcpy(o->tip_hash, b->hdr.hash, BSEC_HASH_BYTES);
	/* every request up to h has an outcome now; a block without ours need
	 * not cost a write at once (replay starts at 1 anyway) */
	if (ours || now_ms() - o->last_height_write_ms >= 1000)
		return save_height(o);
	return 0;
}

/* ---- following --------------------------------------------------------------- */

/* Fetches and processes the blocks after o->height from node i, without
 * waiting when wait_ms is 0; *tip (may be NULL) is the node's height.
 * Returns the number processed (0: none there), -2 when the node failed
 * or served a bad block (reason logged), -1 when stopping / fatal. */
static int fetch_from(orch_t *o, size_t i, unsigned wait_ms, uint64_t *tip)
{
	onode_t *nd = &o->nodes[i];
	char *path = xasprintf("/v1/blocks/raw?from=%llu&limit=%d&wait=%u",
			       (unsigned long long)o->height + 1, PAGE_BLOCKS, wait_ms);
	int status, ret = -2;
	uint8_t *resp = NULL;
	size_t rlen = 0;
	char err[512];
	follow_page_t pg;
	if (nodeapi_request(&nd->poll, nd, (int)wait_ms + CALL_TIMEOUT_MS,
			    BLOCK_MAX_BYTES + (16u << 20), "GET", path, NULL, 0,
			    &status, &resp, &rlen, nd->err, sizeof(nd->err)) < 0) {
		log_warn(MOD, "node %s (%s): %s", nd->name, nd->url, nd->err);
		goto out;
	}
	if (status != 200 || follow_page_open(&pg, resp, rlen, err, sizeof(err)) < 0) {
		log_warn(MOD, "node %s (%s): GET %s: HTTP %d %s", nd->name, nd->url, path, status,
			 status == 200 ? err : "");
		goto out;
	}
	if (tip)
		*tip = pg.tip;
	int done = 0;
	for (;;) {
		block_t b;
		const uint8_t *prev = o->height ? o->tip_hash : o->g.chain_id;
		int r = follow_page_next(&pg, &b, &o->g, o->height + 1, prev, err, sizeof(err));
		if (r == 0)
			break;
		if (r < 0) {
			log_warn(MOD, "node %s (%s) served a block that does not verify: %s", nd->name, nd->url,
				 err);
			ret = done ? done : -2;
			goto out;
		}
		r = process_block(o, &b);
		block_clear(&b);
		if (r < 0) {
			ret = -1;
			goto out;
		}
		done++;
	}
	ret = done;
out:
	free(resp);
	free(path);
	return ret;
}

/* Sweep: responses journaled but not yet seen on chain, posted again. */
static int sweep_cb(void *ctx, const journal_entry_t *e)
{
	orch_t *o = ctx;
	if (g_stop)
		return -1;
	if (e->height > o->height || (e->submitted_ms && now_ms() - e->submitted_ms < RESUBMIT_AFTER_MS))
		return 0;
	char rq[17];
	short_id(rq, e->request_id);
	uint8_t *raw = NULL;
	size_t len = 0;
	if (e->response_raw) {
		raw = xmalloc(e->response_len);
		memcpy(raw, e->response_raw, e->response_len);
		len = e->response_len;
	} else {
		tx_t t;
		if (response_build(o, e->request_id, e->outcome, e->result ? e->result : "",
				   e->error ? e->error : "", &t) < 0)
			return -1;
		if (journal_set_response(o->j, e->request_id, t.id, t.raw, t.raw_len) < 0) {
			tx_clear(&t);
			return -1;
		}
		raw = xmalloc(t.raw_len);
		memcpy(raw, t.raw, t.raw_len);
		len = t.raw_len;
		tx_clear(&t);
	}
	log_info(MOD, "response to request %s (height %llu) is not on chain yet; submitting it again", rq,
		 (unsigned long long)e->height);
	/* first to another node than the one followed, which had it first */
	int r = response_submit(o, o->cur + 1 + o->resub++ % (o->n > 1 ? o->n - 1 : 1), e->request_id,
				e->outcome, e->result ? e->result : "", e->error ? e->error : "", &raw, &len);
	free(raw);
	return r < 0 ? -1 : 0;
}

/* ---- attestations ------------------------------------------------------------ */

typedef struct {
	const char *domain;
	attest_entry_t *v;
	size_t n, cap;
	uint32_t problems;
} attest_list_t;

static int attest_list_cb(void *ctx, const driver_obj_t *obj)
{
	attest_list_t *l = ctx;
	if (obj->domain[0] && strcmp(obj->domain, l->domain))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = (attest_entry_t){ obj->kind, xstrdup(obj->name), xstrdup(obj->spec),
					 !obj->problem[0] };
	l->problems += obj->problem[0] != 0;
	return 0;
}

/* Records the platform's actual state on chain when it is time (see the
 * top of the file).  Never fatal: failures are logged. */
static void attest_maybe(orch_t *o)
{
	uint64_t now = now_ms(), iv = o->cfg.attest_interval_ms;
	attest_list_t l = { o->cfg.domain, NULL, 0, 0, 0 };
	uint8_t digest[BSEC_HASH_BYTES];
	char why[512], dg[17];
	tx_t tx;

	if (!iv || now - o->last_attest_ms < iv)
		return;
	if (state_open_in(o->st, o->cfg.domain, strlen(o->cfg.domain)) > 0) {
		/* a request is in flight: the platform is ahead of the chain; look again in 1 s */
		o->last_attest_ms = now - iv + (iv > 1000 ? 1000 : iv);
		return;
	}
	o->last_attest_ms = now;
	if (driver_list(o->drv, attest_list_cb, &l, why, sizeof(why)) < 0) {
		log_warn(MOD, "cannot attest the platform's state: the %s driver cannot list it: %s",
			 driver_type(o->drv), why);
		goto out;
	}
	attest_digest(digest, l.v, l.n);
	tx_fields_t f = { .type = TX_ATTEST, .domain = o->cfg.domain, .att_height = o->height,
			  .att_objects = (uint32_t)l.n, .att_problems = l.problems, .att_digest = digest };
	if (tx_build(&tx, &f, o->key, o->g.chain_id, why, sizeof(why)) < 0) {
		log_error(MOD, "cannot build an attestation: %s", why);
		goto out;
	}
	hex_encode(dg, digest, 8);
	for (size_t tried = 0; tried < o->n && !g_stop; tried++) {
		onode_t *nd = &o->nodes[o->cur];
		int status;
		json_t *body = NULL;
		int rc = node_call(o, o->cur, 0, CALL_TIMEOUT_MS, "POST", "/v1/transactions", tx.raw,
				   tx.raw_len, &status, &body);
		if (rc == 0 && (status == 200 || status == 202)) {
			o->n_attested++;
			log_info(MOD, "attested domain %s at height %llu: %zu objects, %u with a problem, "
				 "digest %s...", o->cfg.domain, (unsigned long long)o->height, l.n, l.problems, dg);
			json_decref(body);
			break;
		}
		if (rc == 0 && status >= 400 && status < 500) {
			log_warn(MOD, "node %s refused the attestation: %s: %s", nd->name, jstr(body, "error"),
				 jstr(body, "message"));
			json_decref(body);
			break;
		}
		log_warn(MOD, "node %s (%s) did not take the attestation: %s", nd->name, nd->url,
			 rc == 0 ? jstr(body, "message") : nd->err);
		json_decref(body);
		o->cur = (o->cur + 1) % o->n;
	}
	tx_clear(&tx);
out:
	for (size_t i = 0; i < l.n; i++) {
		free((char *)l.v[i].name);
		free((char *)l.v[i].spec);
	}
	free(l.v);
}

/* What runs whenever the orchestrator has replayed everything the node in
 * use has: the resubmission sweep and attestations, each when due.
 * -1 when stopping / fatal. */
static int caught_up_tasks(orch_t *o)
{
	uint64_t now = now_ms();
	if (now - o->last_sweep_ms >= SWEEP_INTERVAL_MS) {
		o->last_sweep_ms = now;
		if (journal_foreach_done(o->j, sweep_cb, o) < 0 && !g_stop)
			return -1;
	}
	attest_maybe(o);
	return 0;
}

/* Idle: nothing new at the node in use.  Asks another node whether it has
 * more (ours may be lagging), comes home to our own node when it is back,
 * and sweeps.  -1 when stopping / fatal. */
static int on_idle(orch_t *o)
{
	uint64_t now = now_ms();
	if (save_height(o) < 0)
		return -1;
	if (o->n > 1) {
		size_t k = o->cur != 0 && now - o->last_home_probe_ms >= HOME_PROBE_MS
				   ? 0 : (o->cur + 1 + o->probe_next++ % (o->n - 1)) % o->n;
		if (k == 0)
			o->last_home_probe_ms = now;
		if (k != o->cur) {
			uint64_t tip = 0;
			int r = fetch_from(o, k, 0, &tip);
			if (r == -1)
				return -1;
			if (r > 0 || (k == 0 && r == 0 && tip >= o->height)) {
				if (k != 0)
					log_info(MOD, "node %s is behind node %s; following %s now",
						 o->nodes[o->cur].name, o->nodes[k].name, o->nodes[k].name);
				else
					log_info(MOD, "back to our own node %s", o->nodes[0].name);
				o->cur = k;
			}
		}
	}
	return caught_up_tasks(o);
}

static int follow(orch_t *o)
{
	unsigned backoff = 200;
	size_t failed = 0;
	while (!g_stop) {
		uint64_t tip = UINT64_MAX, t0 = mono_us();
		int r = fetch_from(o, o->cur, POLL_WAIT_MS, &tip);
		/* a node that does not hold the poll (one from before raw pages
		 * took `wait') answers an empty page at once: do not spin on it */
		if (r == 0 && mono_us() - t0 < POLL_WAIT_MS * 500ull)
			sleep_ms(200);
		if (r == -1)
			return g_stop ? 0 : -1;
		if (r == -2) {
			size_t next = (o->cur + 1) % o->n;
			if (next != o->cur)
				log_warn(MOD, "failing over from node %s to node %s", o->nodes[o->cur].name,
					 o->nodes[next].name);
			o->cur = next;
			if (++failed % o->n == 0) {
				sleep_ms(backoff);
				backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			}
			continue;
		}
		failed = 0;
		backoff = 200;
		if (r == 0 && on_idle(o) < 0)
			return g_stop ? 0 : -1;
		/* busy chains (other domains' txs) may never leave a poll empty */
		if (r > 0 && o->height >= tip && caught_up_tasks(o) < 0)
			return g_stop ? 0 : -1;
	}
	return 0;
}

/* ---- start and stop ------------------------------------------------------------ */

static int setup(orch_t *o, const char *path, char *err, size_t errlen)
{
	char why[512];
	if (orch_config_load(&o->cfg, path, err, errlen) < 0)
		return -1;
	log_set_level(o->cfg.log_level);
	if (genesis_load(&o->g, o->cfg.genesis, why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: genesis: %s", path, why);
		return -1;
	}
	o->have_g = 1;
	o->me = genesis_provider_by_name(&o->g, o->cfg.name);
	if (!o->me) {
		err_set(err, errlen, "%s: `name' is \"%s\", which is no provider of the genesis `%s'", path,
			o->cfg.name, o->cfg.genesis);
		return -1;
	}
	if (!o->cfg.domain) {
		if (!o->me->n_domains) {
			err_set(err, errlen, "provider `%s' has no domain in the genesis", o->cfg.name);
			return -1;
		}
		o->cfg.domain = xstrdup(o->me->domains[0]);
	} else if (!provider_has_domain(o->me, o->cfg.domain, strlen(o->cfg.domain))) {
		err_set(err, errlen, "%s: `domain' is \"%s\", which is not a domain of provider `%s'", path,
			o->cfg.domain, o->cfg.name);
		return -1;
	}
	char *ln = xasprintf("%s/orch", o->cfg.name);
	log_set_name(ln);
	free(ln);
	if (sig_key_load(&o->key, o->cfg.orchestrator_key, why, sizeof(why)) < 0) {
		err_set(err, errlen, "%s: orchestrator_key: %s", path, why);
		return -1;
	}
	if (sig_key_scheme(o->key) != o->me->orch_key.scheme ||
	    memcmp(sig_key_pub(o->key), o->me->orch_key.key, sig_pub_len(o->me->orch_key.scheme))) {
		err_set(err, errlen, "%s: orchestrator_key `%s' is not the orchestrator key the genesis lists "
			"for provider `%s'", path, o->cfg.orchestrator_key, o->cfg.name);
		return -1;
	}
	if (o->cfg.ca && access(o->cfg.ca, R_OK) < 0) {
		err_set(err, errlen, "%s: ca `%s': %s", path, o->cfg.ca, strerror(errno));
		return -1;
	}
	if (nodes_setup(o, err, errlen) < 0)
		return -1;
	if (mkdir_p(o->cfg.data_dir, 0700) < 0) {
		err_set(err, errlen, "%s: data_dir `%s': %s", path, o->cfg.data_dir, strerror(errno));
		return -1;
	}
	char *lock = xasprintf("%s/orchestrator.lock", o->cfg.data_dir);
	o->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (o->lock_fd < 0 || flock(o->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		err_set(err, errlen, "%s: %s", lock, o->lock_fd < 0 ? strerror(errno)
			: "another orchestrator is running on this data_dir");
		free(lock);
		return -1;
	}
	free(lock);
	if (journal_open(&o->j, o->cfg.data_dir, o->g.chain_id, o->cfg.domain, &o->fresh, err, errlen) < 0)
		return -1;
	/* the driver's relative paths are the config directory's */
	if (chdir(o->cfg.dir) < 0) {
		err_set(err, errlen, "cannot enter `%s': %s", o->cfg.dir, strerror(errno));
		return -1;
	}
	json_t *dcfg = json_deep_copy(o->cfg.driver);
	json_object_del(dcfg, "type");
	char prefix[9];
	orchestrator_prefix(prefix, o->g.chain_id);
	o->drv = driver_new(o->cfg.driver_type, dcfg, prefix, why, sizeof(why));
	json_decref(dcfg);
	if (!o->drv) {
		err_set(err, errlen, "%s: driver: %s", path, why);
		return -1;
	}
	o->st = state_new(&o->g);
	return 0;
}

static void teardown(orch_t *o)
{
	state_free(o->st);
	driver_free(o->drv);
	journal_close(o->j);
	if (o->lock_fd > 0)
		close(o->lock_fd);
	nodes_free(o);
	sig_key_free(o->key);
	if (o->have_g)
		genesis_free(&o->g);
	orch_config_free(&o->cfg);
}

int orchestrator_run(const char *path)
{
	orch_t o;
	char err[1024];
	int ret = 1;
	memset(&o, 0, sizeof(o));
	o.lock_fd = -1;
	o.start_ms = now_ms();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (setup(&o, path, err, sizeof(err)) < 0) {
		log_error(MOD, "cannot start: %s", err);
		fprintf(stderr, "bsec: %s\n", err);
		goto out;
	}
	uint64_t s, d, c;
	if (journal_counts(o.j, &s, &d, &c) < 0)
		s = d = c = 0;
	log_info(MOD, "orchestrator of domain %s (provider %s) starting: driver %s, journal %s/%s (%s, last "
		 "height %llu, %llu started, %llu awaiting commit, %llu closed), following %s (%zu node%s)",
		 o.cfg.domain, o.cfg.name, driver_type(o.drv), o.cfg.data_dir, JOURNAL_DB_NAME,
		 o.fresh ? "new" : "existing", (unsigned long long)journal_last_height(o.j),
		 (unsigned long long)s, (unsigned long long)d, (unsigned long long)c, o.nodes[0].url, o.n,
		 o.n == 1 ? "" : "s");
	int r = follow(&o);
	if (r == 0 && save_height(&o) < 0)
		r = -1;
	log_info(MOD, "orchestrator stopping at height %llu: %llu executed (%llu failed), %llu reconciled "
		 "after a restart, %llu refused, %llu found answered on chain, %llu responses committed, "
		 "%llu attestations",
		 (unsigned long long)o.height, (unsigned long long)o.n_executed,
		 (unsigned long long)o.n_failed, (unsigned long long)o.n_reconciled,
		 (unsigned long long)o.n_refused, (unsigned long long)o.n_on_chain,
		 (unsigned long long)o.n_closed, (unsigned long long)o.n_attested);
	ret = r < 0 ? 1 : 0;
	if (r < 0)
		log_error(MOD, "stopped by a fatal error (see above)");
out:
	teardown(&o);
	return ret;
}

int orchestrator_peek_height(const char *data_dir, uint64_t *height)
{
	return journal_peek_height(data_dir, height);
}

int orchestrator_peek_request_height(const char *data_dir, uint64_t *height)
{
	return journal_peek_request_height(data_dir, height);
}

void orchestrator_prefix(char out[9], const uint8_t chain_id[32])
{
	hex_encode(out, chain_id, 4);
}
