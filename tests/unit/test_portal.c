/*
 * test_portal.c — the portal's parts that need no network (portal/portal.h):
 *   config:  a table of configs, each accepted or refused with a message
 *            quoting the bad key or value; defaults; relative paths made
 *            absolute from the config's directory;
 *   assets:  every file of the web app is embedded, non-empty, with its
 *            MIME type; the page loads scripts and styles only from files
 *            (no inline code, so the CSP can forbid it) and nothing from
 *            another origin (no CDN); unknown paths are absent;
 *   vectors: tests/vectors/ecdsa_vectors.json, which the browser's encoder
 *            is checked against (tests/browser/vectors.test.mjs), still
 *            holds for the C encoder: same signed bytes and id from the
 *            fields, and its signatures verify.
 * The portal's behaviour over HTTPS and in a browser is tested by
 * tests/system/test_portal.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ledger/tx.h"
#include "lib/sig.h"
#include "lib/util.h"
#include "portal/portal.h"
#include "portal/portal_internal.h"

typedef struct {
	const char *json;
	const char *err;     /* NULL: accepted; else a substring of the error */
} cfg_case_t;

#define BASE "\"listen\": \"127.0.0.1:0\", \"genesis\": \"g.json\", \"tls_cert\": \"c.pem\", \"tls_key\": \"k.pem\""

static const cfg_case_t CASES[] = {
	{ "{" BASE "}", NULL },
	{ "{" BASE ", \"ca\": \"/etc/ca.pem\", \"nodes\": [\"https://127.0.0.1:7200\"], \"session_idle_s\": 60, "
	  "\"session_max_s\": 3600, \"log_level\": \"debug\", \"web_dir\": \"web\"}", NULL },
	{ "{\"genesis\": \"g.json\", \"tls_cert\": \"c.pem\", \"tls_key\": \"k.pem\"}", "`listen' is required" },
	{ "{\"listen\": \"127.0.0.1:0\", \"tls_cert\": \"c.pem\", \"tls_key\": \"k.pem\"}", "`genesis' is required" },
	{ "{" BASE ", \"colour\": 1}", "unknown key `colour'" },
	{ "{\"listen\": \"nohost\", \"genesis\": \"g\", \"tls_cert\": \"c\", \"tls_key\": \"k\"}", "\"nohost\", expected HOST:PORT" },
	{ "{\"listen\": \"h:99999\", \"genesis\": \"g\", \"tls_cert\": \"c\", \"tls_key\": \"k\"}", "expected HOST:PORT" },
	{ "{\"listen\": 7300, \"genesis\": \"g\", \"tls_cert\": \"c\", \"tls_key\": \"k\"}", "`listen' is 7300" },
	{ "{" BASE ", \"nodes\": []}", "expected a list of 1..256 https:// URLs" },
	{ "{" BASE ", \"nodes\": [\"http://127.0.0.1:1\"]}", "nodes[0] is \"http://127.0.0.1:1\"" },
	{ "{" BASE ", \"session_idle_s\": 5}", "`session_idle_s' is 5, expected seconds in 10..604800" },
	{ "{" BASE ", \"session_idle_s\": 7200, \"session_max_s\": 3600}", "session_idle_s (7200) is longer" },
	{ "{" BASE ", \"log_level\": \"loud\"}", "`log_level' is \"loud\"" },
	{ "{" BASE ", \"listen\": \"127.0.0.1:1\"}", "line" },   /* duplicate key */
	{ "[1, 2]", "must be a JSON object" },
	{ "{" BASE, "line 1" },
};

static void test_config(void **state)
{
	(void)state;
	char dir[] = "/tmp/bsec-portal-cfg-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/portal.json", dir);
	for (size_t i = 0; i < ARRAY_LEN(CASES); i++) {
		char err[512] = "";
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(CASES[i].json, f);
		fclose(f);
		portal_config_t c;
		int r = portal_config_load(&c, path, err, sizeof(err));
		if (!CASES[i].err) {
			if (r != 0)
				fail_msg("case %zu refused: %s", i, err);
			portal_config_free(&c);
			continue;
		}
		if (r == 0)
			fail_msg("case %zu accepted: %s", i, CASES[i].json);
		if (!strstr(err, CASES[i].err))
			fail_msg("case %zu: `%s' lacks `%s'", i, err, CASES[i].err);
	}
	unlink(path);
	rmdir(dir);
	free(path);
}

static void test_config_values(void **state)
{
	(void)state;
	char dir[] = "/tmp/bsec-portal-cfg-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/portal.json", dir), err[512];
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("{" BASE ", \"ca\": \"/etc/ca.pem\"}", f);
	fclose(f);
	portal_config_t c;
	assert_int_equal(portal_config_load(&c, path, err, sizeof(err)), 0);
	char *g = xasprintf("%s/g.json", dir);
	assert_string_equal(c.genesis, g);
	assert_string_equal(c.ca, "/etc/ca.pem");
	assert_string_equal(c.listen, "127.0.0.1:0");
	assert_null(c.nodes);
	assert_null(c.web_dir);
	assert_int_equal(c.session_idle_s, 1800);
	assert_int_equal(c.session_max_s, 8 * 3600);
	assert_int_equal(c.log_level, LOG_INFO);
	portal_config_free(&c);
	free(g);
	unlink(path);
	rmdir(dir);
	free(path);
}

static const struct {
	const char *path, *type;
} ASSETS[] = {
	{ "/", "text/html; charset=utf-8" },
	{ "/index.html", "text/html; charset=utf-8" },
	{ "/app.mjs", "text/javascript; charset=utf-8" },
	{ "/bsec.mjs", "text/javascript; charset=utf-8" },
	{ "/app.css", "text/css; charset=utf-8" },
	{ "/favicon.svg", "image/svg+xml" },
};

/* Occurrences of needle in a[0..n). */
static size_t count(const uint8_t *a, size_t n, const char *needle)
{
	size_t k = strlen(needle), c = 0;
	for (size_t i = 0; i + k <= n; i++)
		c += !memcmp(a + i, needle, k);
	return c;
}

static void test_assets(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ASSETS); i++) {
		const portal_asset_t *a = portal_asset(ASSETS[i].path);
		if (!a)
			fail_msg("asset %s missing", ASSETS[i].path);
		assert_true(a->len > 100);
		assert_string_equal(a->type, ASSETS[i].type);
		/* the only absolute URL allowed is the SVG namespace: no CDN */
		size_t http = count(a->data, a->len, "http:") + count(a->data, a->len, "https:");
		size_t ns = count(a->data, a->len, "http://www.w3.org/2000/svg");
		if (http != ns)
			fail_msg("%s refers to another origin", ASSETS[i].path);
	}
	const portal_asset_t *ix = portal_asset("/index.html");
	/* scripts only from files, no inline style or handlers (the CSP forbids them) */
	assert_int_equal(count(ix->data, ix->len, "<script"), count(ix->data, ix->len, "<script type=\"module\" src=\"/"));
	assert_int_equal(count(ix->data, ix->len, "style="), 0);
	assert_int_equal(count(ix->data, ix->len, "<style"), 0);
	assert_int_equal(count(ix->data, ix->len, " onclick="), 0);
	const portal_asset_t *app = portal_asset("/app.mjs");
	assert_int_equal(count(app->data, app->len, "innerHTML"), 0);
	assert_int_equal(count(app->data, app->len, "eval("), 0);
	assert_null(portal_asset("/nope.js"));
	assert_null(portal_asset("/../index.html"));
	assert_null(portal_asset(""));
	assert_string_equal(portal_mime("x.png"), "image/png");
	assert_string_equal(portal_mime("x"), "application/octet-stream");
	assert_string_equal(portal_mime(".mjs"), "application/octet-stream");
}

static const char *vec_str(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	assert_non_null(v);
	return v;
}

static uint64_t vec_int(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	assert_true(json_is_integer(v));
	return (uint64_t)json_integer_value(v);
}

static void test_shared_vectors(void **state)
{
	(void)state;
	json_error_t je;
	json_t *root = json_load_file("tests/vectors/ecdsa_vectors.json", 0, &je);
	if (!root)
		fail_msg("tests/vectors/ecdsa_vectors.json: %s (run from the project root)", je.text);
	uint8_t cid[BSEC_HASH_BYTES], rid[BSEC_HASH_BYTES], tkey[SIG_MAX_PUB];
	char err[256];
	assert_int_equal(hex_decode(cid, sizeof(cid), vec_str(root, "chain_id")), 0);
	const char *pem = vec_str(root, "signer_pkcs8_pem");
	sig_key_t *k = NULL;
	assert_int_equal(sig_key_from_pem(&k, pem, strlen(pem), err, sizeof(err)), 0);
	assert_int_equal(sig_key_scheme(k), SIG_ECDSA_P256);
	json_t *vecs = json_object_get(root, "vectors");
	assert_true(json_array_size(vecs) >= 4);
	for (size_t i = 0; i < json_array_size(vecs); i++) {
		json_t *v = json_array_get(vecs, i), *f = json_object_get(v, "fields");
		tx_fields_t tf;
		memset(&tf, 0, sizeof(tf));
		tf.type = (uint8_t)vec_int(f, "type");
		tf.timestamp_ms = vec_int(f, "timestamp_ms");
		tf.nonce = (uint32_t)vec_int(f, "nonce");
		if (tf.type == TX_REQUEST) {
			tf.domain = vec_str(f, "domain");
			tf.instruction = vec_str(f, "instruction");
		} else if (tf.type == TX_RESPONSE) {
			assert_int_equal(hex_decode(rid, sizeof(rid), vec_str(f, "request_id")), 0);
			tf.request_id = rid;
			tf.status = (uint8_t)vec_int(f, "status");
			tf.result = vec_str(f, "result");
			tf.error = vec_str(f, "error");
		} else {
			int ts;
			const char *tp = vec_str(f, "tenant_key_pem");
			assert_int_equal(sig_pub_from_pem(&ts, tkey, tp, strlen(tp), err, sizeof(err)), 0);
			json_t *sla = json_object_get(f, "sla");
			tf.action = (uint8_t)vec_int(f, "action");
			tf.domain = vec_str(f, "domain");
			tf.tenant_scheme = (uint8_t)ts;
			tf.tenant_key = tkey;
			tf.name = vec_str(f, "name");
			tf.sla.ops = (uint16_t)vec_int(sla, "ops");
			tf.sla.max_vms = (uint32_t)vec_int(sla, "max_vms");
			tf.sla.max_vnfs = (uint32_t)vec_int(sla, "max_vnfs");
			tf.sla.max_sfcs = (uint32_t)vec_int(sla, "max_sfcs");
			tf.sla.max_chain = (uint16_t)vec_int(sla, "max_chain");
			tf.sla.rate_per_min = (uint32_t)vec_int(sla, "rate_per_min");
		}
		tx_t t, c;
		assert_int_equal(tx_build(&t, &tf, k, cid, err, sizeof(err)), 0);
		size_t len;
		uint8_t *sb = tx_signed_bytes(&t, cid, &len);
		char *sbh = hex_dup(sb, len), *idh = hex_dup(t.id, BSEC_HASH_BYTES);
		assert_string_equal(sbh, vec_str(v, "signed_bytes_hex"));
		assert_string_equal(idh, vec_str(v, "id"));
		/* the recorded C signature (and any fresh one) verifies */
		const char *raw = vec_str(v, "raw_hex");
		size_t rl = strlen(raw) / 2;
		uint8_t *rb = xmalloc(rl);
		assert_int_equal(hex_decode(rb, rl, raw), 0);
		assert_int_equal(tx_decode(&c, rb, rl, cid, err, sizeof(err)), 0);
		assert_int_equal(tx_verify_sig(&c, cid), 0);
		assert_int_equal(tx_verify_sig(&t, cid), 0);
		assert_memory_equal(c.id, t.id, BSEC_HASH_BYTES);
		free(rb);
		free(sb);
		free(sbh);
		free(idh);
		tx_clear(&t);
		tx_clear(&c);
	}
	sig_key_free(k);
	json_decref(root);
}

/* The queue of node calls is bounded: past PORTAL_MAX_JOBS waiting, a job
 * is refused (the handler answers 503) and nothing is queued; a dequeued
 * job makes room again. */
static void test_job_queue_bounded(void **st)
{
	(void)st;
	portal_t p;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	pjob_t *extra = portal_job_new("GET", "/v1/blocks/1", NULL, 0);
	for (int i = 0; i < PORTAL_MAX_JOBS; i++)
		assert_int_equal(portal_job_submit(&p, portal_job_new("GET", "/v1/status", NULL, 0)), 0);
	assert_int_equal(p.n_jobs, PORTAL_MAX_JOBS);
	assert_int_equal(portal_job_submit(&p, extra), -1);
	assert_int_equal(p.n_jobs, PORTAL_MAX_JOBS);
	assert_ptr_not_equal(p.jobs_tail, extra);
	/* what a worker does: take one off */
	pjob_t *j = p.jobs;
	p.jobs = j->next;
	p.n_jobs--;
	portal_job_free(j);
	assert_int_equal(portal_job_submit(&p, extra), 0);
	assert_ptr_equal(p.jobs_tail, extra);
	while (p.jobs) {
		j = p.jobs;
		p.jobs = j->next;
		portal_job_free(j);
	}
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
}

/* Outcomes are shown as the browser decodes the signed bytes (its
 * TextDecoder, checked with node): ill-formed sequences become U+FFFD by
 * maximal subpart, NULs and a leading BOM stay. */
static void test_utf8_lossy(void **unused)
{
	(void)unused;
	static const struct {
		const char *in;
		size_t len;
		const char *want;
		size_t want_len;
	} v[] = {
		{ "\xc3\x28", 2, "\xef\xbf\xbd(", 4 },
		{ "\xe2\x82", 2, "\xef\xbf\xbd", 3 },
		{ "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4 },
		{ "\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9 },
		{ "\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12 },
		{ "\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6 },
		{ "a\0b", 3, "a\0b", 3 },
		{ "\xe2\x82\x28", 3, "\xef\xbf\xbd(", 4 },
		{ "\xef\xbb\xbf" "a", 4, "\xef\xbb\xbf" "a", 4 },
		{ "\xf0\x90\x80", 3, "\xef\xbf\xbd", 3 },
		{ "\xff", 1, "\xef\xbf\xbd", 3 },
		{ "\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9 },
		{ "", 0, "", 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		size_t n = 99;
		char *out = utf8_lossy(v[i].in, v[i].len, &n);
		if (n != v[i].want_len || memcmp(out, v[i].want, n) != 0 || out[n] != 0)
			fail_msg("vector %zu: got %zu bytes", i, n);
		free(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_utf8_lossy),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_assets),
		cmocka_unit_test(test_shared_vectors),
		cmocka_unit_test(test_job_queue_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
