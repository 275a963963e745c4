/*
 * audit_bench.c — `bsec bench audit` (also `bsec audit bench`): how fast
 * `audit verify` checks a chain, in txs/s on every core and on one,
 * beside the ceiling cores × single-core signature verifications/s, at
 * the batched rate the auditor verifies at (each tx costs one signature
 * check; everything else should be small).
 *
 * The chain is either a ledger given with --data-dir (a devnet node's,
 * after `bsec bench load`), or, with --txs N, one built here in a
 * temporary directory without any network: a 4-provider consortium and
 * --tenants tenants (signing requests in turn), blocks of --block-txs txs, each block carrying requests to
 * the four domains and the ok responses to the previous block's requests,
 * every tx validated and applied exactly as a node does, every block
 * sealed and certified by a quorum — a valid chain the auditor cannot tell
 * from a devnet's.  Figures are wall-clock and CPU time: on a shared
 * machine the CPU-second rates say more about the auditor.
 */
#include "cli.h"
#include "../ledger/audit.h"
#include "../ledger/block.h"
#include "../ledger/genesis.h"
#include "../ledger/state.h"
#include "../ledger/store.h"
#include "../ledger/validate.h"
#include "../lib/sig.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NPROV 4
#define BASE_TS 1763700000000ull

/* Wall-clock seconds spent in validation+apply and in store_append while
 * building a synthetic chain: what a node pays per committed tx besides
 * signatures and the network. */
static double g_apply_s, g_store_s;

static double cpu_s(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *pub_json(const sig_key_t *k)
{
	char *pem = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *j = json_string(pem ? pem : "");
	free(pem);
	return j;
}

typedef struct {
	genesis_t g;
	int have_g;
	sig_key_t *node[NPROV], *orch[NPROV], *admin[NPROV], **tenant;
	size_t n_tenants;
	store_t *s;
	state_t *st;
} synth_t;

static void synth_free(synth_t *y)
{
	state_free(y->st);
	store_close(y->s);
	if (y->have_g)
		genesis_free(&y->g);
	for (int i = 0; i < NPROV; i++) {
		sig_key_free(y->node[i]);
		sig_key_free(y->orch[i]);
		sig_key_free(y->admin[i]);
	}
	for (size_t i = 0; i < y->n_tenants; i++)
		sig_key_free(y->tenant[i]);
	free(y->tenant);
}

/* Seals txs[0..n) (moved in) as the next block and appends it, as a node
 * would after a commit.  0 or -1 with err. */
static int synth_block(synth_t *y, tx_t *txs, uint32_t n, char *err, size_t errlen)
{
	block_t b;
	cert_t c;
	uint64_t h = store_height(y->s) + 1, ts = BASE_TS + h * 100;
	size_t q = genesis_quorum(&y->g), len;
	int ret = -1;

	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memcpy(b.hdr.chain_id, y->g.chain_id, BSEC_HASH_BYTES);
	b.hdr.height = h;
	memcpy(b.hdr.prev_hash, store_tip_hash(y->s), BSEC_HASH_BYTES);
	b.hdr.timestamp_ms = ts;
	b.hdr.proposer = (uint16_t)(h % NPROV);
	b.hdr.tx_count = n;
	b.txs = xcalloc(n ? n : 1, sizeof(tx_t));
	memcpy(b.txs, txs, n * sizeof(tx_t));      /* the block owns them from here */
	if (block_seal(&b, y->node[b.hdr.proposer]) < 0) {
		err_set(err, errlen, "block %" PRIu64 ": sealing failed", h);
		goto out;
	}
	c.n = (uint16_t)q;
	c.sigs = xcalloc(q, sizeof(cert_sig_t));
	uint8_t *msg = commit_signed_bytes(y->g.chain_id, 0, h, b.hdr.hash, &len);
	for (size_t i = 0; i < q; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = (uint16_t)sig_sig_len(sig_key_scheme(y->node[i]));
		if (sig_sign(y->node[i], c.sigs[i].sig, msg, len) < 0) {
			free(msg);
			err_set(err, errlen, "block %" PRIu64 ": signing the certificate failed", h);
			goto out;
		}
	}
	free(msg);
	double t0 = cpu_s(CLOCK_MONOTONIC);
	state_begin_block(y->st, h, ts);
	for (uint32_t i = 0; i < n; i++) {
		verdict_t v;
		if (validate_tx(y->st, &b.txs[i], ts, &v) != V_OK) {
			err_set(err, errlen, "block %" PRIu64 " tx %" PRIu32 ": %s", h, i, v.msg);
			goto out;
		}
		state_apply_tx(y->st, &b.txs[i]);
	}
	double t1 = cpu_s(CLOCK_MONOTONIC);
	g_apply_s += t1 - t0;
	if (store_append(y->s, &b, NULL, 0, &c, y->st, err, errlen) < 0)
		goto out;
	g_store_s += cpu_s(CLOCK_MONOTONIC) - t1;
	state_forget_undo(y->st);
	ret = 0;
out:
	block_clear(&b);
	cert_clear(&c);
	return ret;
}

/* A valid chain of about n txs in dir (genesis.json + ledger.db). */
static int synth_chain(const char *dir, size_t n, uint32_t per_block, size_t n_tenants, sig_scheme_t scheme,
		       char *err, size_t errlen)
{
	synth_t y;
	char *gp = xasprintf("%s/genesis.json", dir), name[16], instr[64];
	json_t *root = json_object(), *provs = json_array(), *grants = json_array();
	uint8_t (*open)[BSEC_HASH_BYTES] = xmalloc(per_block * BSEC_HASH_BYTES);
	char **open_dom = xcalloc(per_block, sizeof(char *));
	uint32_t n_open = 0;
	size_t made = 0, seq = 0;
	tx_t *txs = NULL;
	int ret = -1;

	memset(&y, 0, sizeof(y));
	for (int i = 0; i < NPROV; i++) {
		y.node[i] = sig_keygen(scheme);
		y.orch[i] = sig_keygen(scheme);
		y.admin[i] = sig_keygen(scheme);
		snprintf(name, sizeof(name), "p%d", i);
		json_array_append_new(provs, json_pack("{s:s,s:[s],s:o,s:o,s:o,s:s,s:s}", "name", name,
						       "domains", name, "node_key", pub_json(y.node[i]),
						       "orchestrator_key", pub_json(y.orch[i]), "admin_key",
						       pub_json(y.admin[i]), "peer", "127.0.0.1:7100", "api",
						       "https://127.0.0.1:7200"));
		json_array_append_new(grants, json_pack("{s:s,s:s}", "domain", name, "ops", "*"));
	}
	json_t *tenants = json_array();
	y.tenant = xcalloc(n_tenants, sizeof(*y.tenant));
	for (size_t i = 0; i < n_tenants; i++) {
		char tn[32];
		snprintf(tn, sizeof(tn), "bench%zu", i);
		y.tenant[i] = sig_keygen(scheme);
		y.n_tenants++;
		json_array_append_new(tenants, json_pack("{s:s,s:o,s:O}", "name", tn, "key", pub_json(y.tenant[i]),
							 "grants", grants));
	}
	json_decref(grants);
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "name", json_string("audit-bench"));
	json_object_set_new(root, "created_ms", json_integer((json_int_t)now_ms()));
	json_object_set_new(root, "providers", provs);
	json_object_set_new(root, "tenants", tenants);
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (!text || file_write(gp, text, strlen(text), 0644, err, errlen) < 0 ||
	    genesis_load(&y.g, gp, err, errlen) < 0) {
		free(text);
		goto out;
	}
	free(text);
	y.have_g = 1;
	if (store_open(&y.s, dir, &y.g, 0, err, errlen) < 0)
		goto out;
	y.st = state_new(&y.g);
	txs = xcalloc(per_block + 1, sizeof(tx_t));
	while (made < n) {
		uint64_t ts = BASE_TS + (store_height(y.s) + 1) * 100 - 50;
		uint32_t k = 0, answered = n_open;
		/* the previous block's requests answered by their domains' orchestrators */
		for (uint32_t i = 0; i < answered; i++) {
			int p = open_dom[i][1] - '0';
			tx_fields_t f = { .type = TX_RESPONSE, .timestamp_ms = ts, .request_id = open[i],
					  .status = TX_STATUS_OK, .result = "created (synthetic)" };
			if (tx_build(&txs[k++], &f, y.orch[p], y.g.chain_id, err, errlen) < 0)
				goto out;
		}
		n_open = 0;
		while (k < per_block && made + k < n) {
			int p = (int)(seq % NPROV);
			snprintf(instr, sizeof(instr), "vm create v%zu", seq++);
			snprintf(name, sizeof(name), "p%d", p);
			tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = ts, .domain = name,
					  .instruction = instr };
			if (tx_build(&txs[k], &f, y.tenant[seq % n_tenants], y.g.chain_id, err, errlen) < 0)
				goto out;
			memcpy(open[n_open], txs[k].id, BSEC_HASH_BYTES);
			open_dom[n_open++] = (char *)(p == 0 ? "p0" : p == 1 ? "p1" : p == 2 ? "p2" : "p3");
			k++;
		}
		if (k == 0)
			break;
		made += k;
		if (synth_block(&y, txs, k, err, errlen) < 0) {
			memset(txs, 0, (per_block + 1) * sizeof(tx_t));
			goto out;
		}
		memset(txs, 0, (per_block + 1) * sizeof(tx_t));   /* the block owned and freed them */
	}
	ret = 0;
out:
	free(txs);
	free(open);
	free(open_dom);
	free(gp);
	synth_free(&y);
	return ret;
}

static const char *bench_usage =
	"bsec bench audit (--data-dir DIR | --txs N [--block-txs B] [--tenants K] [--scheme S]) [--genesis FILE]\n"
	"                 [--threads T] [--json]\n"
	"  audit verify throughput (txs/s) on every core and on one, beside cores x the single-core\n"
	"  signature verification rate; --txs builds a valid chain of N txs in a temporary directory";

int audit_bench_main(int argc, char **argv)
{
	enum { O_DATA = 256, O_GEN, O_TXS, O_BLOCK, O_SCHEME, O_THREADS, O_JSON, O_TENANTS };
	static const struct option opts[] = {
		{ "data-dir", required_argument, 0, O_DATA }, { "genesis", required_argument, 0, O_GEN },
		{ "txs", required_argument, 0, O_TXS }, { "block-txs", required_argument, 0, O_BLOCK },
		{ "scheme", required_argument, 0, O_SCHEME }, { "threads", required_argument, 0, O_THREADS },
		{ "json", no_argument, 0, O_JSON }, { "tenants", required_argument, 0, O_TENANTS },
		{ 0, 0, 0, 0 }
	};
	const char *data_dir = NULL, *genesis = NULL;
	long txs = 0, block_txs = 1000, threads = 0, tenants = 1;
	sig_scheme_t scheme = SIG_ED25519;
	int json = 0, rc = 1;
	char err[512], tmpl[] = "/tmp/bsec-audit-bench-XXXXXX", *made = NULL, *gp = NULL;
	audit_report_t all, one;
	genesis_t g;
	double build_s = 0;

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		char *end = NULL;
		switch (c) {
		case O_DATA: data_dir = optarg; break;
		case O_GEN: genesis = optarg; break;
		case O_JSON: json = 1; break;
		case O_TXS:
			txs = strtol(optarg, &end, 10);
			if (!*optarg || *end || txs < 1 || txs > 10000000)
				return cli_fail("--txs `%s' is not 1..10000000", optarg), 2;
			break;
		case O_BLOCK:
			block_txs = strtol(optarg, &end, 10);
			if (!*optarg || *end || block_txs < 2 || block_txs > 4096)
				return cli_fail("--block-txs `%s' is not 2..4096", optarg), 2;
			break;
		case O_TENANTS:
			tenants = strtol(optarg, &end, 10);
			if (!*optarg || *end || tenants < 1 || tenants > 100000)
				return cli_fail("--tenants `%s' is not 1..100000", optarg), 2;
			break;
		case O_THREADS:
			threads = strtol(optarg, &end, 10);
			if (!*optarg || *end || threads < 1 || threads > 256)
				return cli_fail("--threads `%s' is not 1..256", optarg), 2;
			break;
		case O_SCHEME:
			if (sig_scheme_parse(optarg, &scheme) < 0)
				return cli_fail("--scheme `%s' is not ed25519, ecdsa-p256 or rsa-pss-2048", optarg), 2;
			break;
		default:
			return cli_usage(bench_usage);
		}
	}
	if (optind != argc || !data_dir == !txs || (txs && genesis) || (!txs && tenants != 1))
		return cli_usage(bench_usage);
	/* keep freed memory rather than fault it in again (see cmd_audit.c) */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_TOP_PAD, 16 << 20);
	if (txs) {
		if (!mkdtemp(tmpl))
			return cli_fail("cannot make a temporary directory: %s", tmpl);
		made = tmpl;
		data_dir = made;
		uint64_t b0 = mono_us();
		if (synth_chain(made, (size_t)txs, (uint32_t)block_txs, (size_t)tenants, scheme, err, sizeof(err)) < 0) {
			cli_fail("building the chain: %s", err);
			goto out;
		}
		build_s = (double)(mono_us() - b0) / 1e6;
	}
	gp = genesis ? xstrdup(genesis) : xasprintf("%s/genesis.json", data_dir);
	if (genesis_load(&g, gp, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	/* the tenants sign most txs: their scheme, else the nodes' */
	scheme = g.n_tenants ? (sig_scheme_t)g.tenants[0].key.scheme
			     : (sig_scheme_t)g.providers[0].node_key.scheme;
	genesis_free(&g);
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	int cores = nc > 0 ? (int)nc : 1;
	double c0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	if (audit_verify_dir(data_dir, gp, (int)threads, &all) < 0) {
		cli_fail("the chain does not verify: %s", all.reason);
		goto out;
	}
	double c1 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	if (audit_verify_dir(data_dir, gp, 1, &one) < 0) {
		cli_fail("the chain does not verify: %s", one.reason);
		goto out;
	}
	double c2 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
	double t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	uint64_t w0 = mono_us();
	double vps = sig_bench_verify(scheme, 1.0);
	double vwall = (double)(mono_us() - w0) / 1e6, vcpu = cpu_s(CLOCK_THREAD_CPUTIME_ID) - t0;
	/* the ceiling at the rate the auditor verifies at: sig_verify_many
	 * batches, not one signature at a time (which it passes easily) */
	double vps_many = sig_bench_verify_many(scheme, 1.0);
	double vpcs = vcpu > 0 ? vps * vwall / vcpu : vps;    /* per CPU-second of the verifying thread */
	double secs = (double)all.elapsed_us / 1e6, secs1 = (double)one.elapsed_us / 1e6;
	double tps = secs > 0 ? (double)all.txs / secs : 0, tps1 = secs1 > 0 ? (double)one.txs / secs1 : 0;
	double sps = secs > 0 ? (double)all.signatures / secs : 0;
	double tpcs = c2 - c1 > 0 ? (double)one.txs / (c2 - c1) : 0;
	double spcs = c2 - c1 > 0 ? (double)one.signatures / (c2 - c1) : 0;
	double ceiling = vps_many * cores;
	if (json) {
		json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:i,s:i,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,"
				      "s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}",
				      "source", txs ? "synthetic" : data_dir, "blocks", (json_int_t)all.blocks,
				      "txs", (json_int_t)all.txs, "signatures", (json_int_t)all.signatures,
				      "cores", cores, "threads", all.threads, "scheme", sig_scheme_name(scheme),
				      "txs_per_s", tps, "txs_per_s_1_thread", tps1, "signatures_per_s", sps,
				      "verify_per_s_1_core", vps, "batch_verify_per_s_1_core", vps_many,
				      "ceiling_one_by_one_per_s", vps * cores, "ceiling_per_s", ceiling,
				      "txs_ratio_to_ceiling", ceiling > 0 ? tps / ceiling : 0.0,
				      "signatures_ratio_to_ceiling", ceiling > 0 ? sps / ceiling : 0.0,
				      "seconds", secs, "seconds_1_thread", secs1, "cpu_seconds", c1 - c0,
				      "cpu_seconds_1_thread", c2 - c1, "txs_per_cpu_s", tpcs,
				      "signatures_per_cpu_s", spcs, "verify_per_cpu_s", vpcs,
				      "signature_share_of_cpu", vpcs > 0 ? spcs / vpcs : 0.0, "build_seconds",
				      build_s);
		char la[64] = "";
		FILE *f = fopen("/proc/loadavg", "r");
		if (f) {
			if (!fgets(la, sizeof(la), f))
				la[0] = 0;
			fclose(f);
			la[strcspn(la, "\n")] = 0;
		}
		json_object_set_new(o, "loadavg", json_string(la));
		if (txs)
			json_object_set_new(o, "tenants", json_integer(tenants));
		if (txs && all.txs) {
			/* per tx of the synthetic chain, what building it cost a
			 * "node": validating and applying, and storing */
			json_object_set_new(o, "build_apply_us_per_tx",
					    json_real(g_apply_s * 1e6 / (double)all.txs));
			json_object_set_new(o, "build_store_us_per_tx",
					    json_real(g_store_s * 1e6 / (double)all.txs));
		}
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	} else {
		printf("audit verify of %" PRIu64 " blocks, %" PRIu64 " txs, %" PRIu64 " signatures (%s)\n",
		       all.blocks, all.txs, all.signatures, txs ? "a synthetic chain" : data_dir);
		printf("  %d threads: %.3f s = %.0f txs/s (%.0f signatures/s), %.2f CPU-s\n", all.threads,
		       secs, tps, sps, c1 - c0);
		printf("  1 thread:  %.3f s = %.0f txs/s, %.2f CPU-s = %.0f txs per CPU-second\n", secs1, tps1,
		       c2 - c1, tpcs);
		printf("  %s verify, one core: %.0f/s one by one (%.0f per CPU-second), %.0f/s in batches; "
		       "x %d cores = %.0f/s ceiling\n",
		       sig_scheme_name(scheme), vps, vpcs, vps_many, cores, ceiling);
		printf("  txs/s / ceiling = %.2f, signatures/s / ceiling = %.2f; per CPU-second the auditor "
		       "checks %.2f x the signatures one-by-one verification would (batches, see ed25519v.h)\n",
		       ceiling > 0 ? tps / ceiling : 0.0, ceiling > 0 ? sps / ceiling : 0.0,
		       vpcs > 0 ? spcs / vpcs : 0.0);
	}
	rc = 0;
out:
	free(gp);
	if (made) {
		char *p1 = xasprintf("%s/ledger.db", made), *p2 = xasprintf("%s/ledger.db-wal", made);
		char *p3 = xasprintf("%s/ledger.db-shm", made), *p4 = xasprintf("%s/genesis.json", made);
		unlink(p1);
		unlink(p2);
		unlink(p3);
		unlink(p4);
		rmdir(made);
		free(p1);
		free(p2);
		free(p3);
		free(p4);
	}
	return rc;
}
