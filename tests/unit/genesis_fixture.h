/*
 * genesis_fixture.h — a genesis for unit tests that build consortia by
 * hand: n providers p0..p(n-1), each with its own domain and the given
 * node, orchestrator and admin keys, one tenant "demo" with every
 * operation in p0, and the parameters a devnet uses.  Included by the
 * tests that need it (each test is built from one file).
 */
#ifndef BSEC_TEST_GENESIS_FIXTURE_H
#define BSEC_TEST_GENESIS_FIXTURE_H

#include <jansson.h>
#include <string.h>

#include "lib/sig.h"
#include "lib/util.h"

static json_t *fixture_pem_json(const sig_key_t *k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *j = json_string(pem);
	free(pem);
	return j;
}

/* Writes DIR/genesis.json; name and created_ms vary the chain id. */
static void fixture_write_genesis(const char *dir, const char *name, uint64_t created_ms, int n,
				  sig_key_t *const *node, sig_key_t *const *orch, sig_key_t *const *admin,
				  const sig_key_t *tenant)
{
	char err[256], *path;
	json_t *root = json_object(), *provs = json_array(), *tens = json_array();
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "name", json_string(name));
	json_object_set_new(root, "created_ms", json_integer((json_int_t)created_ms));
	json_object_set_new(root, "params",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "timestamp_window_ms",
				      (json_int_t)60000, "view_timeout_ms", (json_int_t)2000,
				      "max_block_txs", (json_int_t)4096, "max_block_bytes",
				      (json_int_t)4194304, "checkpoint_interval", (json_int_t)100,
				      "request_timeout_ms", (json_int_t)4000));
	for (int i = 0; i < n; i++) {
		char pname[16];
		snprintf(pname, sizeof(pname), "p%d", i);
		json_t *p = json_object();
		json_object_set_new(p, "name", json_string(pname));
		json_object_set_new(p, "domains", json_pack("[s]", pname));
		json_object_set_new(p, "node_key", fixture_pem_json(node[i]));
		json_object_set_new(p, "orchestrator_key", fixture_pem_json(orch[i]));
		json_object_set_new(p, "admin_key", fixture_pem_json(admin[i]));
		json_object_set_new(p, "peer", json_string("127.0.0.1:7100"));
		json_object_set_new(p, "api", json_string("https://127.0.0.1:7200"));
		json_array_append_new(provs, p);
	}
	json_object_set_new(root, "providers", provs);
	json_t *t = json_object();
	json_object_set_new(t, "name", json_string("demo"));
	json_object_set_new(t, "key", fixture_pem_json(tenant));
	json_object_set_new(t, "grants",
			    json_pack("[{s:s, s:s, s:i, s:i, s:i, s:i, s:i}]", "domain", "p0", "ops", "*",
				      "max_vms", 0, "max_vnfs", 0, "max_sfcs", 0, "max_chain", 0,
				      "rate_per_min", 0));
	json_array_append_new(tens, t);
	json_object_set_new(root, "tenants", tens);
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	assert_non_null(text);
	assert_int_equal(mkdir_p(dir, 0700), 0);
	path = xasprintf("%s/genesis.json", dir);
	assert_int_equal(file_write(path, text, strlen(text), 0644, err, sizeof(err)), 0);
	free(path);
	free(text);
	json_decref(root);
}

#endif
