/*
 * cmd_audit.c — `bsec audit …` (docs/audit.md): check a whole chain from
 * its genesis (a ledger file or a node's API), inclusion-proof bundles
 * and their offline check, the history of an object / tenant / domain,
 * per-domain accountability, the drift audit of a domain's platform, and
 * the audit throughput benchmark (`bsec bench audit` runs the same).
 *
 * Exit codes: 0 when everything holds (a valid chain, a valid proof, no
 * drift), 1 when it does not or the operation failed, 2 on usage errors.
 */
#include "cli.h"
#include "client.h"
#include "devnet.h"
#include "../audit/drift.h"
#include "../audit/remote.h"
#include "../ledger/audit.h"
#include "../ledger/history.h"
#include "../ledger/instr.h"
#include "../ledger/proof.h"
#include "../orchestrator/orchestrator.h"
#include "../lib/sig.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	O_DATA_DIR = CLIENT_O_FIRST_FREE, O_THREADS, O_OUT, O_OBJECT, O_TENANT, O_DOMAIN, O_FROM,
	O_LIMIT, O_DEADLINE, O_MAX_ITEMS, O_CONFIG,
};

#define AUDIT_OPTS                                                       \
	CLIENT_LONG_OPTS, { "data-dir", required_argument, 0, O_DATA_DIR }, \
	{ "threads", required_argument, 0, O_THREADS }

/* Shared option state of the audit commands. */
typedef struct {
	client_opts_t co;
	long timeout_ms;
	int json;
	const char *data_dir;
	int threads;
} aopts_t;

static void aopts_init(aopts_t *a)
{
	memset(a, 0, sizeof(*a));
	a->co.node_index = -1;
	a->timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
}

/* Handles the shared options; 0 handled, 2 bad value, -1 not shared. */
static int aopt(int c, aopts_t *a)
{
	int r = client_parse_opt(c, &a->co, &a->timeout_ms, &a->json);
	if (r >= 0)
		return r;
	if (c == O_DATA_DIR) {
		a->data_dir = optarg;
		return 0;
	}
	if (c == O_THREADS) {
		char *end;
		long v = strtol(optarg, &end, 10);
		if (!*optarg || *end || v < 1 || v > 256)
			return cli_fail("--threads `%s' is not an integer in 1..256", optarg), 2;
		a->threads = (int)v;
		return 0;
	}
	return -1;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || errno || v > max)
		return cli_fail("%s `%s' is not an integer in 0..%" PRIu64, opt, s, max), -1;
	*out = v;
	return 0;
}

static void print_json(const json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	printf("%s\n", s ? s : "{}");
	free(s);
}

/* A whole-chain walk allocates and frees many small objects and a few
 * large buffers per chunk: keep freed memory instead of returning it to
 * the kernel (and faulting it in again, zeroed) every time. */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
}

/* A remote for the node the client options name (the client must have a
 * genesis unless allow_no_genesis).  NULL after printing why. */
static audit_remote_t *open_remote(client_t *cl, const aopts_t *a, int allow_no_genesis)
{
	char err[512];
	int r = client_check_opts(&a->co);
	if (r != 0)
		return NULL;
	if (client_open(cl, &a->co) < 0)
		return NULL;
	if (!cl->have_g && !allow_no_genesis) {
		cli_fail("an audit trusts the genesis alone: give --genesis FILE (or --dir DEVNET) with --node");
		return NULL;
	}
	client_node_t *nd = &cl->t[cl->cur];
	audit_remote_t *rm = audit_remote_new(nd->url, &nd->trust, (int)a->timeout_ms, err, sizeof(err));
	if (!rm)
		cli_fail("%s", err);
	return rm;
}

/* ---- verify ------------------------------------------------------------------ */

static void print_report(const audit_report_t *rep, const char *what)
{
	char cid[2 * BSEC_HASH_BYTES + 1], tip[2 * BSEC_HASH_BYTES + 1];
	double secs = (double)rep->elapsed_us / 1e6;
	if (rep->ok) {
		hex_encode(cid, rep->chain_id, BSEC_HASH_BYTES);
		hex_encode(tip, rep->tip_hash, BSEC_HASH_BYTES);
		printf("ok: %" PRIu64 " blocks, %" PRIu64 " txs verified from the genesis (%s)\n"
		       "chain_id %s\ntip      %s\n"
		       "%" PRIu64 " responses bound to their requests, %" PRIu64 " attestations\n"
		       "(%d threads, %.3f s, %.0f txs/s)\n",
		       rep->blocks, rep->txs, what, cid, tip, rep->responses, rep->attestations,
		       rep->threads, secs, secs > 0 ? (double)rep->txs / secs : 0.0);
		if (rep->derived == AUDIT_DERIVED_SAME)
			printf("derived rows (tenants, objects, open requests, attestations) match the chain"
			       " (%.3f s)\n", (double)rep->derived_us / 1e6);
		else if (rep->derived == AUDIT_DERIVED_SKIPPED)
			printf("%s\n", rep->derived_note);
		return;
	}
	printf("FAILED: %s\n", rep->reason);
	if (rep->bad_height && rep->bad_tx >= 0)
		printf("first bad block: %" PRIu64 ", tx %" PRId64 "\n", rep->bad_height, rep->bad_tx);
	else if (rep->bad_height)
		printf("first bad block: %" PRIu64 "\n", rep->bad_height);
	if (rep->bad_height)
		printf("verified before it: %" PRIu64 " blocks, %" PRIu64 " txs\n", rep->blocks, rep->txs);
}

static const char *verify_usage =
	"bsec audit verify (--data-dir DIR | --node URL | --dir DEVNET) [--genesis FILE] [--ca FILE]\n"
	"                  [--node-index I] [--json] [--threads N]\n"
	"  the whole chain from the genesis: DIR/ledger.db (genesis: DIR/genesis.json unless given),\n"
	"  or a node's API (--node needs --genesis FILE, or --dir DEVNET for the devnet's genesis\n"
	"  and CA); --threads: signature-verification threads (default: online cores)";

static int verify_main(int argc, char **argv)
{
	static const struct option opts[] = { AUDIT_OPTS, { 0, 0, 0, 0 } };
	aopts_t a;
	audit_report_t rep;
	client_t cl;
	audit_remote_t *rm = NULL;
	int rc = 1;

	aopts_init(&a);
	memset(&cl, 0, sizeof(cl));
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		int r = aopt(c, &a);
		if (r == 2)
			return 2;
		if (r < 0)
			return cli_usage(verify_usage);
	}
	if (optind != argc || (!a.data_dir == !(a.co.node_url || a.co.dir)))
		return cli_usage(verify_usage);
	tune_malloc();
	if (a.data_dir) {
		if (a.co.ca || a.co.node_index >= 0)
			return cli_usage(verify_usage);
		if (audit_verify_dir(a.data_dir, a.co.genesis, a.threads, &rep) < 0) {
			/* rep says where and why */
		}
	} else {
		audit_source_t src;
		if (!(rm = open_remote(&cl, &a, 0)))
			goto out;
		audit_remote_source(rm, &src);
		if (audit_verify_source(&src, &cl.g, a.threads, NULL, &rep) < 0) {
			/* rep says where and why */
		}
	}
	if (a.json) {
		json_t *o = audit_report_to_json(&rep);
		json_object_set_new(o, "source", json_string(a.data_dir ? a.data_dir
									 : cl.t[cl.cur].url));
		print_json(o);
		json_decref(o);
	} else {
		print_report(&rep, a.data_dir ? a.data_dir : cl.t[cl.cur].url);
	}
	rc = rep.ok ? 0 : 1;
out:
	audit_remote_free(rm);
	client_close(&cl);
	return rc;
}

/* ---- proofs ------------------------------------------------------------------- */

static const char *proof_usage =
	"bsec audit proof TXID (--node URL | --dir DEVNET | --data-dir DIR) [--genesis FILE] [--ca FILE]\n"
	"                 --out FILE [--json]\n"
	"  writes the inclusion-proof bundle of committed tx TXID (docs/formats.md), checked first\n"
	"  against the genesis";

static int proof_main(int argc, char **argv)
{
	static const struct option opts[] = { AUDIT_OPTS, { "out", required_argument, 0, O_OUT },
					      { 0, 0, 0, 0 } };
	aopts_t a;
	const char *out = NULL;
	uint8_t id[BSEC_HASH_BYTES];
	char err[512];
	client_t cl;
	audit_remote_t *rm = NULL;
	genesis_t g;
	int have_g = 0, rc = 1;
	uint8_t *bundle = NULL;
	size_t blen = 0;
	buf_t b;
	proof_t p;

	aopts_init(&a);
	memset(&cl, 0, sizeof(cl));
	memset(&p, 0, sizeof(p));
	buf_init(&b);
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		int r = aopt(c, &a);
		if (r == 2)
			return 2;
		if (r == 0)
			continue;
		if (c == O_OUT)
			out = optarg;
		else
			return cli_usage(proof_usage);
	}
	if (optind != argc - 1 || !out || (!a.data_dir == !(a.co.node_url || a.co.dir)))
		return cli_usage(proof_usage);
	if (hex_decode(id, sizeof(id), argv[optind]) < 0)
		return cli_fail("TXID `%s' is not 64 hex digits", argv[optind]);
	if (a.data_dir) {
		store_t *s = NULL;
		char *gp = a.co.genesis ? xstrdup(a.co.genesis) : xasprintf("%s/genesis.json", a.data_dir);
		uint64_t h;
		int r = genesis_load(&g, gp, err, sizeof(err));
		free(gp);
		if (r < 0) {
			cli_fail("%s", err);
			goto out;
		}
		have_g = 1;
		if (store_open(&s, a.data_dir, &g, 1, err, sizeof(err)) < 0) {
			cli_fail("%s", err);
			goto out;
		}
		r = proof_from_store(s, g.chain_id, id, &b, &h, err, sizeof(err));
		store_close(s);
		if (r != 0) {
			cli_fail("%s", r == 1 ? "the tx is not committed in that ledger" : err);
			goto out;
		}
		bundle = b.data;
		blen = b.len;
	} else {
		char path[128];
		int status;
		if (!(rm = open_remote(&cl, &a, 0)))
			goto out;
		snprintf(path, sizeof(path), "/v1/proofs/%s?format=bin", argv[optind]);
		if (audit_remote_get(rm, path, &status, &bundle, &blen, err, sizeof(err)) < 0) {
			cli_fail("%s", err);
			goto out;
		}
		if (status != 200) {
			cli_fail("%s%s: HTTP %d: %.300s", cl.t[cl.cur].url, path, status, (const char *)bundle);
			goto out;
		}
	}
	const genesis_t *gg = a.data_dir ? &g : &cl.g;
	if (proof_decode(&p, bundle, blen, err, sizeof(err)) < 0 || proof_check(&p, gg, err, sizeof(err)) < 0) {
		cli_fail("the bundle served for %s does not check: %s", argv[optind], err);
		goto out;
	}
	if (memcmp(p.tx.id, id, BSEC_HASH_BYTES) != 0) {
		cli_fail("the bundle served is for another tx");
		goto out;
	}
	if (file_write(out, bundle, blen, 0644, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (a.json) {
		json_t *o = proof_to_json(&p);
		json_object_set_new(o, "file", json_string(out));
		print_json(o);
		json_decref(o);
	} else {
		printf("proof of tx %s (%s) at height %" PRIu64 ", index %" PRIu32 " of %" PRIu32
		       ": %zu bytes -> %s\n",
		       argv[optind], tx_type_name(p.tx.type), p.hdr.height, p.index, p.hdr.tx_count, blen,
		       out);
	}
	rc = 0;
out:
	proof_clear(&p);
	if (bundle != b.data)
		free(bundle);
	buf_free(&b);
	audit_remote_free(rm);
	client_close(&cl);
	if (have_g)
		genesis_free(&g);
	return rc;
}

static const char *check_usage =
	"bsec audit check-proof FILE --genesis FILE [--json]\n"
	"  checks an inclusion-proof bundle offline, against the genesis alone";

static int check_proof_main(int argc, char **argv)
{
	static const struct option opts[] = { { "genesis", required_argument, 0, CLIENT_O_GENESIS },
					      { "json", no_argument, 0, CLIENT_O_JSON },
					      { 0, 0, 0, 0 } };
	const char *gpath = NULL;
	int json = 0, rc = 1;
	char err[512];
	genesis_t g;
	uint8_t *data;
	size_t len;
	proof_t p;

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == CLIENT_O_GENESIS)
			gpath = optarg;
		else if (c == CLIENT_O_JSON)
			json = 1;
		else
			return cli_usage(check_usage);
	}
	if (optind != argc - 1 || !gpath)
		return cli_usage(check_usage);
	if (genesis_load(&g, gpath, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	data = file_read(argv[optind], &len, PROOF_MAX_BYTES, err, sizeof(err));
	if (!data) {
		cli_fail("%s", err);
		goto out_g;
	}
	int ok = proof_decode(&p, data, len, err, sizeof(err)) == 0;
	if (ok && proof_check(&p, &g, err, sizeof(err)) < 0) {
		ok = 0;
		proof_clear(&p);
	}
	if (json) {
		json_t *o = ok ? proof_to_json(&p) : json_object();
		json_object_set_new(o, "valid", json_boolean(ok));
		json_object_set_new(o, "reason", ok ? json_null() : json_string(err));
		print_json(o);
		json_decref(o);
	} else if (ok) {
		char id[2 * BSEC_HASH_BYTES + 1], ts[40];
		hex_encode(id, p.tx.id, BSEC_HASH_BYTES);
		iso_ms(ts, sizeof(ts), p.hdr.timestamp_ms);
		printf("valid: tx %s (%s) was committed at height %" PRIu64 " (%s), index %" PRIu32
		       " of %" PRIu32 ",\ncertified by %u of %zu members (quorum %zu) of chain %s\n",
		       id, tx_type_name(p.tx.type), p.hdr.height, ts, p.index, p.hdr.tx_count, p.cert.n,
		       g.n_providers, genesis_quorum(&g), g.name ? g.name : "");
	} else {
		printf("INVALID: %s\n", err);
	}
	if (ok) {
		proof_clear(&p);
		rc = 0;
	}
	free(data);
out_g:
	genesis_free(&g);
	return rc;
}

/* ---- history and accountability ---------------------------------------------- */

/* A ledger opened read-only with its genesis and the tip's tenants and
 * attestations (for names; not a state to validate with).  0, or -1
 * after printing why. */
typedef struct {
	genesis_t g;
	int have_g;
	store_t *s;
	state_t *st;
} ledger_t;

static int ledger_open(ledger_t *l, const char *dir, const char *genesis)
{
	char err[512], *gp = genesis ? xstrdup(genesis) : xasprintf("%s/genesis.json", dir);
	int ret = -1;
	memset(l, 0, sizeof(*l));
	if (genesis_load(&l->g, gp, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	l->have_g = 1;
	if (store_open(&l->s, dir, &l->g, 1, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	l->st = state_new(&l->g);
	if (store_load_state_light(l->s, l->st, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	ret = 0;
out:
	free(gp);
	return ret;
}

static void ledger_close(ledger_t *l)
{
	state_free(l->st);
	store_close(l->s);
	if (l->have_g)
		genesis_free(&l->g);
	memset(l, 0, sizeof(*l));
}

/* GET path from the node the options name; the JSON body on 200, else
 * NULL after printing why. */
static json_t *node_get(const aopts_t *a, const char *path)
{
	client_t cl;
	char err[512];
	int status;
	json_t *o = NULL;
	memset(&cl, 0, sizeof(cl));
	audit_remote_t *rm = open_remote(&cl, a, 1);
	if (!rm)
		goto out;
	if (audit_remote_get_json(rm, path, &status, &o, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	if (status != 200 || !o) {
		cli_fail("%s%s: HTTP %d %s: %s", cl.t[cl.cur].url, path, status, jstr(o, "error"),
			 jstr(o, "message"));
		json_decref(o);
		o = NULL;
	}
out:
	audit_remote_free(rm);
	client_close(&cl);
	return o;
}

/* A response's result or error text for one line of text output: the
 * chain allows newlines, carriage returns and tabs in it (its signer's
 * choice), which would let one provider's response print lines that look
 * like the report's own (a failure or a gap blamed on another provider).
 * Caller frees. */
static char *one_line(const char *s)
{
	buf_t b;
	buf_init(&b);
	for (; *s; s++) {
		if (*s == '\n' || *s == '\r' || *s == '\t') {
			buf_u8(&b, '\\');
			buf_u8(&b, *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't');
		} else if (*s == '\\') {
			buf_put(&b, "\\\\", 2);
		} else {
			buf_u8(&b, (uint8_t)*s);
		}
	}
	buf_u8(&b, 0);
	size_t n;
	return (char *)buf_steal(&b, &n);
}

static void print_history(const json_t *h)
{
	const json_t *e = json_object_get(h, "entries"), *x;
	size_t i;
	char ts[40];
	const json_t *f = json_object_get(h, "filter");
	const char *fk = json_object_iter_key(json_object_iter((json_t *)f));
	printf("history of %s %s: %lld request(s)\n", fk ? fk : "?",
	       fk ? json_string_value(json_object_get(f, fk)) : "", jint(h, "count"));
	json_array_foreach(e, i, x) {
		const json_t *t = json_object_get(x, "tenant"), *r = json_object_get(x, "response");
		iso_ms(ts, sizeof(ts), (uint64_t)jint(x, "block_ts"));
		printf("%s  block %lld.%lld  tenant %s (%s %.16s...) -> domain %s (%s): %s\n", ts,
		       jint(x, "height"), jint(x, "index"), *jstr(t, "name") ? jstr(t, "name") : "?", jstr(t, "scheme"),
		       jstr(t, "key_hex"), jstr(x, "domain"), jstr(x, "provider"), jstr(x, "instruction"));
		printf("    request %s\n", jstr(x, "request_id"));
		if (json_is_object(r)) {
			iso_ms(ts, sizeof(ts), (uint64_t)jint(r, "block_ts"));
			char *text = one_line(!strcmp(jstr(r, "status"), "ok") ? jstr(r, "result")
									 : jstr(r, "error"));
			printf("    %s  %s by orchestrator %s at block %lld after %lld ms: %s\n", ts,
			       jstr(r, "status"), jstr(r, "orchestrator"), jint(r, "height"), jint(x, "duration_ms"),
			       text);
			free(text);
			printf("    response %s\n", jstr(r, "id"));
		} else {
			printf("    no response yet\n");
		}
	}
	if (json_is_integer(json_object_get(h, "next_from")))
		printf("(more from block %lld.%lld: --from %lld.%lld)\n", jint(h, "next_from"),
		       jint(h, "next_index"), jint(h, "next_from"), jint(h, "next_index"));
}

static const char *history_usage =
	"bsec audit history (--object KIND/NAME | --tenant KEYFILE_OR_HEX | --domain D)\n"
	"                   (--data-dir DIR | --node URL | --dir DEVNET) [--genesis FILE] [--ca FILE]\n"
	"                   [--from HEIGHT[.INDEX]] [--limit N] [--json]\n"
	"  every request (and its response) in chain order: who asked, when, which orchestrator\n"
	"  answered, the result and how long it took (block time to block time)";

static int history_main(int argc, char **argv)
{
	static const struct option opts[] = {
		AUDIT_OPTS, { "object", required_argument, 0, O_OBJECT },
		{ "tenant", required_argument, 0, O_TENANT }, { "domain", required_argument, 0, O_DOMAIN },
		{ "from", required_argument, 0, O_FROM }, { "limit", required_argument, 0, O_LIMIT },
		{ 0, 0, 0, 0 }
	};
	aopts_t a;
	const char *object = NULL, *tenant = NULL, *domain = NULL;
	uint64_t from = 0, from_index = 0, limit = 0;
	history_filter_t f;
	pubkey_t key;
	char name[INSTR_MAX_NAME + 1], kind[8], err[512];
	json_t *h = NULL;
	int rc = 1;

	aopts_init(&a);
	memset(&f, 0, sizeof(f));
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		int r = aopt(c, &a);
		if (r == 2)
			return 2;
		if (r == 0)
			continue;
		switch (c) {
		case O_OBJECT: object = optarg; break;
		case O_TENANT: tenant = optarg; break;
		case O_DOMAIN: domain = optarg; break;
		case O_FROM: {
			/* HEIGHT, or HEIGHT.INDEX as a page's end prints it */
			char hb[32];
			const char *dot = strchr(optarg, '.');
			size_t hl = dot ? (size_t)(dot - optarg) : strlen(optarg);
			if (hl >= sizeof(hb))
				return cli_fail("--from `%s' is not HEIGHT or HEIGHT.INDEX", optarg), 2;
			memcpy(hb, optarg, hl);
			hb[hl] = 0;
			if (parse_u64("--from", hb, UINT64_MAX >> 1, &from) < 0 ||
			    (dot && parse_u64("--from (index)", dot + 1, BLOCK_MAX_TXS - 1, &from_index) < 0))
				return 2;
			if (dot && from == 0)
				return cli_fail("--from `%s': heights start at 1", optarg), 2;
			break;
		}
		case O_LIMIT:
			if (parse_u64("--limit", optarg, 1000000, &limit) < 0)
				return 2;
			break;
		default:
			return cli_usage(history_usage);
		}
	}
	if (optind != argc || (object != NULL) + (tenant != NULL) + (domain != NULL) != 1 ||
	    (!a.data_dir == !(a.co.node_url || a.co.dir)))
		return cli_usage(history_usage);
	if (object) {
		const char *slash = strchr(object, '/');
		size_t kl = slash ? (size_t)(slash - object) : 0;
		if (!slash || kl >= sizeof(kind) || !slash[1] || strlen(slash + 1) > INSTR_MAX_NAME)
			return cli_fail("--object `%s' is not KIND/NAME (vm/web1, vnf/fw, sfc/s1)", object), 2;
		memcpy(kind, object, kl);
		kind[kl] = 0;
		if ((f.obj_kind = obj_kind_parse(kind)) < 0)
			return cli_fail("--object `%s': kind `%s' is not vm, vnf or sfc", object, kind), 2;
		snprintf(name, sizeof(name), "%s", slash + 1);
		f.obj_name = name;
	} else if (tenant) {
		int sc;
		struct stat st;
		if (stat(tenant, &st) == 0) {
			if (sig_pub_load(&sc, key.key, tenant, err, sizeof(err)) < 0)
				return cli_fail("--tenant: %s", err);
			key.scheme = (uint8_t)sc;
		} else if (pubkey_from_hex(&key, tenant) < 0) {
			return cli_fail("--tenant `%s' is neither a key file nor a public key in hex", tenant), 2;
		}
		f.tenant = &key;
	} else {
		if (strlen(domain) > TX_MAX_DOMAIN)
			return cli_fail("--domain `%s' is too long", domain), 2;
		f.domain = domain;
	}
	f.from_height = from;
	f.from_index = (uint32_t)from_index;
	f.limit = (size_t)limit;
	if (a.data_dir) {
		ledger_t l;
		if (ledger_open(&l, a.data_dir, a.co.genesis) == 0) {
			h = history_query(l.s, &l.g, l.st, &f, err, sizeof(err));
			if (!h)
				cli_fail("%s", err);
		}
		ledger_close(&l);
	} else {
		char *q;
		if (object)
			q = xasprintf("object=%s/%s", kind, name);
		else if (tenant) {
			char *hx = hex_dup(key.key, sig_pub_len(key.scheme));
			q = xasprintf("tenant=%s", hx);
			free(hx);
		} else
			q = xasprintf("domain=%s", domain);
		char *path = xasprintf("/v1/history?%s&from=%" PRIu64 "&index=%" PRIu64 "&limit=%" PRIu64,
				       q, from ? from : 1, from_index, limit ? limit : 5000);
		h = node_get(&a, path);
		free(path);
		free(q);
	}
	if (!h)
		goto out;
	if (a.json)
		print_json(h);
	else
		print_history(h);
	rc = 0;
out:
	json_decref(h);
	return rc;
}

static void print_ms(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		printf(" %7lld", (long long)json_integer_value(v));
	else
		printf(" %7s", "-");
}

static void print_accountability(const json_t *r)
{
	const json_t *d = json_object_get(r, "domains"), *x, *y;
	size_t i, j;
	char ts[40];
	iso_ms(ts, sizeof(ts), (uint64_t)jint(r, "now_ms"));
	printf("accountability at height %lld, %s, deadline %lld ms (times: request block to response "
	       "block, ms)\n",
	       jint(r, "height"), ts, jint(r, "deadline_ms"));
	printf("%-12s %-12s %8s %6s %6s %5s %10s %7s %7s %7s %7s %7s  %s\n", "domain", "provider",
	       "requests", "ok", "failed", "late", "unanswered", "pending", "p50", "p90", "p99", "max",
	       "last attestation");
	json_array_foreach(d, i, x) {
		const json_t *la = json_object_get(x, "last_attestation");
		printf("%-12s %-12s %8lld %6lld %6lld %5lld %10lld %7lld", jstr(x, "domain"), jstr(x, "provider"),
		       jint(x, "requests"), jint(x, "ok"), jint(x, "failed"), jint(x, "late"), jint(x, "unanswered"),
		       jint(x, "pending"));
		print_ms(x, "p50_ms");
		print_ms(x, "p90_ms");
		print_ms(x, "p99_ms");
		print_ms(x, "max_ms");
		if (json_is_object(la)) {
			iso_ms(ts, sizeof(ts), (uint64_t)jint(la, "block_ts"));
			printf("  block %lld (%s), %lld objects\n", jint(la, "height"), ts, jint(la, "objects"));
		} else {
			printf("  none\n");
		}
	}
	const json_t *t = json_object_get(r, "totals");
	printf("%-12s %-12s %8lld %6lld %6lld %5lld %10lld %7lld", "all", "", jint(t, "requests"), jint(t, "ok"),
	       jint(t, "failed"), jint(t, "late"), jint(t, "unanswered"), jint(t, "pending"));
	print_ms(t, "p50_ms");
	print_ms(t, "p90_ms");
	print_ms(t, "p99_ms");
	printf("\n");
	json_array_foreach(d, i, x) {
		json_array_foreach(json_object_get(x, "gaps"), j, y) {
			iso_ms(ts, sizeof(ts), (uint64_t)jint(y, "block_ts"));
			printf("gap: request %.16s... at block %lld (%s) unanswered for %lld ms: `%s' (tenant %s); "
			       "responsible: domain %s, provider %s\n",
			       jstr(y, "request_id"), jint(y, "height"), ts, jint(y, "age_ms"), jstr(y, "instruction"),
			       jstr(json_object_get(y, "tenant"), "name"), jstr(x, "domain"), jstr(y, "responsible"));
		}
		json_array_foreach(json_object_get(x, "failures"), j, y) {
			char *text = one_line(jstr(y, "error"));
			printf("failure: request %.16s... `%s' answered with an error by domain %s (provider %s) "
			       "at block %lld: %s\n",
			       jstr(y, "request_id"), jstr(y, "instruction"), jstr(x, "domain"), jstr(x, "provider"),
			       jint(y, "height"), text);
			free(text);
		}
	}
}

static const char *acc_usage =
	"bsec audit accountability (--data-dir DIR | --node URL | --dir DEVNET) [--genesis FILE]\n"
	"                          [--ca FILE] [--deadline-ms MS] [--max-items N] [--json]\n"
	"  per domain: requests answered ok, failed, late, left unanswered past the deadline\n"
	"  (default 30000 ms), execution-time percentiles, and who is responsible for each gap";

static int accountability_main(int argc, char **argv)
{
	static const struct option opts[] = {
		AUDIT_OPTS, { "deadline-ms", required_argument, 0, O_DEADLINE },
		{ "max-items", required_argument, 0, O_MAX_ITEMS }, { 0, 0, 0, 0 }
	};
	aopts_t a;
	uint64_t deadline = 30000, items = 50;
	char err[512];
	json_t *r = NULL;
	int rc = 1;

	aopts_init(&a);
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		int x = aopt(c, &a);
		if (x == 2)
			return 2;
		if (x == 0)
			continue;
		if (c == O_DEADLINE) {
			if (parse_u64("--deadline-ms", optarg, 7ull * 24 * 3600 * 1000, &deadline) < 0)
				return 2;
		} else if (c == O_MAX_ITEMS) {
			if (parse_u64("--max-items", optarg, 1000, &items) < 0)
				return 2;
		} else {
			return cli_usage(acc_usage);
		}
	}
	if (optind != argc || (!a.data_dir == !(a.co.node_url || a.co.dir)))
		return cli_usage(acc_usage);
	if (a.data_dir) {
		ledger_t l;
		if (ledger_open(&l, a.data_dir, a.co.genesis) == 0) {
			r = accountability_report(l.s, &l.g, l.st, deadline, now_ms(), (size_t)items, err,
						  sizeof(err));
			if (!r)
				cli_fail("%s", err);
		}
		ledger_close(&l);
	} else {
		char *path = xasprintf("/v1/accountability?deadline_ms=%" PRIu64 "&max_items=%" PRIu64,
				       deadline, items);
		r = node_get(&a, path);
		free(path);
	}
	if (!r)
		goto out;
	if (a.json)
		print_json(r);
	else
		print_accountability(r);
	rc = 0;
out:
	json_decref(r);
	return rc;
}

/* ---- drift ------------------------------------------------------------------------ */

static const char *drift_usage =
	"bsec audit drift --domain D (--dir DEVNET | --config ORCH_CONFIG)\n"
	"                 [--data-dir NODE_DIR | --node URL [--ca FILE]] [--json] [--threads N]\n"
	"  the platform of domain D (listed through the orchestrator's driver) against what the\n"
	"  verified ledger says must exist; with the accountable domain and, from its state\n"
	"  attestations, since when.  Ledger: --data-dir, --node, else DEVNET/nodeI (the domain's\n"
	"  provider's node) or the orchestrator's first node.  Exit 0: no drift, 1: drift, 2: could\n"
	"  not tell (the ledger does not verify or ends before requests the orchestrator executed)";

static int drift_main(int argc, char **argv)
{
	static const struct option opts[] = { AUDIT_OPTS, { "domain", required_argument, 0, O_DOMAIN },
					      { "config", required_argument, 0, O_CONFIG },
					      { 0, 0, 0, 0 } };
	aopts_t a;
	const char *domain = NULL, *config = NULL;
	char err[1024], *cfg_path = NULL, *data_dir = NULL, *gpath = NULL;
	orch_config_t oc;
	genesis_t g;
	int have_oc = 0, have_g = 0, rc = 2;   /* 2: could not tell */
	drift_t *d = NULL;
	driver_t *drv = NULL;
	audit_remote_t *rm = NULL;
	client_t cl;
	audit_report_t rep;
	audit_observer_t obs;
	json_t *r = NULL;
	char abs[PATH_MAX];

	aopts_init(&a);
	memset(&cl, 0, sizeof(cl));
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		int x = aopt(c, &a);
		if (x == 2)
			return 2;
		if (x == 0)
			continue;
		if (c == O_DOMAIN)
			domain = optarg;
		else if (c == O_CONFIG)
			config = optarg;
		else
			return cli_usage(drift_usage);
	}
	if (optind != argc || !domain || !config == !a.co.dir || (a.data_dir && a.co.node_url) ||
	    a.co.genesis)
		return cli_usage(drift_usage);
	/* the orchestrator config of the domain */
	if (a.co.dir) {
		devnet_t dn;
		if (devnet_open(&dn, a.co.dir, err, sizeof(err)) < 0)
			return cli_fail("%s", err);
		const provider_t *p = genesis_provider_of_domain(&dn.g, domain, strlen(domain));
		if (p) {
			cfg_path = xasprintf("%s/orch%u/config.json", a.co.dir, p->index);
			if (!a.data_dir && !a.co.node_url)
				data_dir = xasprintf("%s/node%u", a.co.dir, p->index);
		}
		devnet_close(&dn);
		if (!p) {
			cli_fail("--domain `%s' belongs to no provider of the devnet in %s", domain, a.co.dir);
			goto out;
		}
	} else {
		cfg_path = xstrdup(config);
	}
	if (orch_config_load(&oc, cfg_path, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	have_oc = 1;
	gpath = xstrdup(oc.genesis);
	if (genesis_load(&g, gpath, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	have_g = 1;
	const provider_t *prov = genesis_provider_of_domain(&g, domain, strlen(domain));
	const provider_t *me = genesis_provider_by_name(&g, oc.name);
	if (!prov || prov != me) {
		cli_fail("--domain `%s' is not a domain of provider `%s', whose orchestrator %s configures",
			 domain, oc.name, cfg_path);
		goto out;
	}
	if (a.data_dir && !data_dir)
		data_dir = xstrdup(a.data_dir);
	if (data_dir) {
		if (!realpath(data_dir, abs)) {
			cli_fail("ledger directory `%s': %s", data_dir, strerror(errno));
			goto out;
		}
		free(data_dir);
		data_dir = xstrdup(abs);
	}
	/* the ledger, verified from the genesis, builds the expected state */
	tune_malloc();
	d = drift_new(&g, domain);
	drift_observer(d, &obs);
	if (data_dir) {
		if (audit_verify_dir_obs(data_dir, gpath, a.threads, &obs, &rep) < 0) {
			/* rep says where and why */
		}
	} else {
		audit_source_t src;
		client_opts_t co = a.co;
		if (!co.node_url) {
			/* the orchestrator's own first node, trusted as it trusts it */
			co.node_url = oc.nodes ? oc.nodes[0] : me->api;
			co.ca = co.ca ? co.ca : oc.ca;
		}
		co.dir = NULL;
		co.genesis = gpath;
		aopts_t b = a;
		b.co = co;
		if (!(rm = open_remote(&cl, &b, 0)))
			goto out;
		audit_remote_source(rm, &src);
		if (audit_verify_source(&src, &g, a.threads, &obs, &rep) < 0) {
			/* rep says where and why */
		}
	}
	if (!rep.ok) {
		if (a.json) {
			json_t *o = audit_report_to_json(&rep);
			print_json(o);
			json_decref(o);
		} else {
			printf("the ledger does not verify, so it cannot say what must exist:\n");
			print_report(&rep, data_dir ? data_dir : cl.t[cl.cur].url);
		}
		goto out;
	}
	/* the platform, through the orchestrator's driver (paths relative to its config) */
	if (chdir(oc.dir) < 0) {
		cli_fail("cannot enter `%s': %s", oc.dir, strerror(errno));
		goto out;
	}
	json_t *dcfg = json_deep_copy(oc.driver);
	json_object_del(dcfg, "type");
	char prefix[9];
	orchestrator_prefix(prefix, g.chain_id);
	drv = driver_new(oc.driver_type, dcfg, prefix, err, sizeof(err));
	json_decref(dcfg);
	if (!drv) {
		cli_fail("%s: driver: %s", cfg_path, err);
		goto out;
	}
	r = drift_report(d, drv, now_ms(), err, sizeof(err));
	if (!r) {
		cli_fail("%s", err);
		goto out;
	}
	/* the platform may hold the effects of every request the orchestrator
	 * has begun to execute (its journal, read after the listing): a ledger
	 * that stops before the last of them (a lagging node, or one withholding
	 * its last blocks) would report them as made outside BSec.  Blocks with
	 * no request of the domain (attestations) may come and go meanwhile. */
	uint64_t jh = 0;
	if (orchestrator_peek_request_height(oc.data_dir, &jh) == 0 && rep.blocks < jh) {
		cli_fail("the ledger served ends at height %" PRIu64 ", but orchestrator `%s' has executed "
			 "requests up to height %" PRIu64 ": audit against an up-to-date node",
			 rep.blocks, oc.name, jh);
		goto out;
	}
	if (a.json)
		print_json(r);
	else
		drift_print(r);
	rc = json_is_true(json_object_get(r, "drift")) ? 1 : 0;
out:
	json_decref(r);
	driver_free(drv);
	drift_free(d);
	audit_remote_free(rm);
	client_close(&cl);
	if (have_g)
		genesis_free(&g);
	if (have_oc)
		orch_config_free(&oc);
	free(cfg_path);
	free(data_dir);
	free(gpath);
	return rc;
}

static const cli_cmd_t audit_cmds[] = {
	{ "verify", verify_main, "verify a whole chain from its genesis (ledger file or node API)" },
	{ "proof", proof_main, "write the inclusion-proof bundle of a committed tx" },
	{ "check-proof", check_proof_main, "check an inclusion-proof bundle offline" },
	{ "history", history_main, "requests and responses of an object, tenant or domain" },
	{ "accountability", accountability_main, "per domain: answered, failed, unanswered, times" },
	{ "drift", drift_main, "a domain's platform against the ledger, and since when" },
	{ "bench", audit_bench_main, "audit verify throughput (also `bsec bench audit')" },
	{ NULL, NULL, NULL },
};

int audit_main(int argc, char **argv)
{
	return cli_dispatch("audit", audit_cmds, argc, argv);
}
