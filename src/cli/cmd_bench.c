/*
 * cmd_bench.c — `bsec bench …`: the table of benchmark parts, and the two
 * that need no running system: encoded sizes beside the paper's, and the
 * single-core verification ceiling.  The system parts live in
 * bench_*.c (see bench.h); scripts/bench.sh runs them all for `make bench`
 * and scripts/bench_report.py turns their JSON into docs/benchmarks.md.
 */
#include "cli.h"
#include "bench.h"
#include "../ledger/block.h"
#include "../ledger/genesis.h"
#include "../ledger/validate.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The paper's size table (BSec-NFVO, ICC 2019). */
#define PAPER_REQUEST 637
#define PAPER_RESPONSE 655
#define PAPER_EMPTY_BLOCK 859

static const int schemes[] = { SIG_ED25519, SIG_ECDSA_P256, SIG_RSA_PSS_2048 };
static const size_t instr_sizes[] = { 0, 32, 64, 256, 1024 };

static size_t request_size(const sig_key_t *k, const uint8_t *cid, size_t ilen)
{
	char *ins = xmalloc(ilen + 1);
	memset(ins, 'x', ilen);
	ins[ilen] = 0;
	tx_fields_t f = { .type = TX_REQUEST, .domain = "p1", .instruction = ins };
	tx_t tx;
	size_t n = 0;
	if (tx_build(&tx, &f, k, cid, NULL, 0) == 0)
		n = tx.raw_len;
	tx_clear(&tx);
	free(ins);
	return n;
}

/* A response carrying a result of rlen bytes. */
static size_t response_size(const sig_key_t *k, const uint8_t *cid, size_t rlen)
{
	char *res = xmalloc(rlen + 1);
	memset(res, 'x', rlen);
	res[rlen] = 0;
	uint8_t req[BSEC_HASH_BYTES] = { 1 };
	tx_fields_t f = { .type = TX_RESPONSE, .request_id = req, .status = TX_STATUS_OK, .result = res };
	tx_t tx;
	size_t n = 0;
	if (tx_build(&tx, &f, k, cid, NULL, 0) == 0)
		n = tx.raw_len;
	tx_clear(&tx);
	free(res);
	return n;
}

static void block_sizes(const sig_key_t *k, const uint8_t *cid, int nodes, size_t *empty,
			size_t *cert_len)
{
	block_t b;
	memset(&b, 0, sizeof(b));
	memcpy(b.hdr.chain_id, cid, BSEC_HASH_BYTES);
	b.hdr.height = 1;
	b.hdr.timestamp_ms = now_ms();
	if (block_seal(&b, k) != 0)
		return;
	buf_t out;
	buf_init(&out);
	block_encode(&out, &b);
	*empty = out.len;
	/* certificate of a quorum (2f+1) of n nodes, all with this scheme */
	int q = nodes - (nodes - 1) / 3;
	cert_t c = { .view = 0, .n = (uint16_t)q };
	c.sigs = xcalloc((size_t)q, sizeof(cert_sig_t));
	size_t mlen;
	uint8_t *msg = commit_signed_bytes(cid, 0, 1, b.hdr.hash, &mlen);
	for (int i = 0; i < q; i++) {
		c.sigs[i].node = (uint16_t)i;
		c.sigs[i].sig_len = (uint16_t)sig_sig_len(sig_key_scheme(k));
		if (sig_sign(k, c.sigs[i].sig, msg, mlen) != 0)
			break;
	}
	buf_reset(&out);
	cert_encode(&out, &c);
	*cert_len = out.len;
	free(msg);
	cert_clear(&c);
	buf_free(&out);
	block_clear(&b);
}

static int sizes_main(int argc, char **argv)
{
	int json = argc > 1 && !strcmp(argv[1], "--json");
	uint8_t cid[BSEC_HASH_BYTES];
	hash_sha256(cid, "bench", 5);
	json_t *rows = json_array();
	if (!json) {
		printf("Encoded sizes in bytes (domain \"p1\"; the paper's RSA prototype: request %d, "
		       "response %d, empty block %d)\n\n", PAPER_REQUEST, PAPER_RESPONSE, PAPER_EMPTY_BLOCK);
		printf("%-13s %5s %5s %5s %5s %5s | %5s %5s %5s | %5s %5s %6s\n", "scheme", "req0",
		       "req32", "req64", "req256", "req1k", "resp0", "resp32", "resp64", "empty",
		       "hdr+c4", "vs637");
	}
	for (size_t s = 0; s < ARRAY_LEN(schemes); s++) {
		sig_key_t *k = sig_keygen((sig_scheme_t)schemes[s]);
		json_t *row = json_object(), *req = json_object(), *resp = json_object();
		size_t rq[ARRAY_LEN(instr_sizes)], rs[3];
		for (size_t i = 0; i < ARRAY_LEN(instr_sizes); i++) {
			rq[i] = request_size(k, cid, instr_sizes[i]);
			char key[16];
			snprintf(key, sizeof(key), "%zu", instr_sizes[i]);
			json_object_set_new(req, key, json_integer((json_int_t)rq[i]));
		}
		for (size_t i = 0; i < 3; i++) {
			rs[i] = response_size(k, cid, instr_sizes[i]);
			char key[16];
			snprintf(key, sizeof(key), "%zu", instr_sizes[i]);
			json_object_set_new(resp, key, json_integer((json_int_t)rs[i]));
		}
		size_t empty = 0, cert = 0;
		block_sizes(k, cid, 4, &empty, &cert);
		json_object_set_new(row, "scheme", json_string(sig_scheme_name(schemes[s])));
		json_object_set_new(row, "request", req);
		json_object_set_new(row, "response", resp);
		json_object_set_new(row, "empty_block", json_integer((json_int_t)empty));
		json_object_set_new(row, "cert_n4", json_integer((json_int_t)cert));
		json_object_set_new(row, "header_plus_cert_n4", json_integer((json_int_t)(empty + cert)));
		json_object_set_new(row, "request32_vs_paper", json_real((double)rq[1] / PAPER_REQUEST));
		json_array_append_new(rows, row);
		if (!json)
			printf("%-13s %5zu %5zu %5zu %5zu %5zu | %5zu %5zu %5zu | %5zu %5zu %5.2f\n",
			       sig_scheme_name(schemes[s]), rq[0], rq[1], rq[2], rq[3], rq[4], rs[0], rs[1],
			       rs[2], empty, empty + cert, (double)rq[1] / PAPER_REQUEST);
		sig_key_free(k);
	}
	if (json) {
		json_t *o = json_pack("{s:o,s:{s:i,s:i,s:i}}", "schemes", rows, "paper", "request",
				      PAPER_REQUEST, "response", PAPER_RESPONSE, "empty_block", PAPER_EMPTY_BLOCK);
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		json_decref(rows);
		printf("\nreqN = request with an N-byte instruction; respN = ok response with an N-byte result;\n"
		       "empty = empty block (header, no txs); hdr+c4 = header + commit certificate of 3 of 4 nodes.\n");
	}
	return 0;
}

typedef struct {
	int scheme;
	double secs, rate;
} par_verify_t;

static void *par_verify_thread(void *arg)
{
	par_verify_t *p = arg;
	p->rate = sig_bench_verify(p->scheme, p->secs);
	return NULL;
}

/* Verifications per second of `threads' threads verifying at once: what
 * all cores together really do (a VM's vCPUs may share physical cores). */
static double parallel_verify(int scheme, double secs, int threads)
{
	pthread_t th[64];
	par_verify_t p[64];
	int started = 0;
	double sum = 0;
	for (int i = 0; i < threads && i < 64; i++) {
		p[i] = (par_verify_t){ .scheme = scheme, .secs = secs };
		if (pthread_create(&th[i], NULL, par_verify_thread, &p[i]) != 0)
			break;
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		sum += p[i].rate;
	}
	return sum;
}

static int verify_main(int argc, char **argv)
{
	int json = 0;
	double secs = 1.0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			secs = atof(argv[++i]);
		else
			return cli_usage("bsec bench verify [--seconds S] [--json]");
	}
	if (secs <= 0 || secs > 60)
		return cli_fail("--seconds must be in (0, 60]");
	double rate[ARRAY_LEN(schemes)], many[ARRAY_LEN(schemes)];
	for (size_t s = 0; s < ARRAY_LEN(schemes); s++) {
		rate[s] = sig_bench_verify(schemes[s], secs);
		many[s] = sig_bench_verify_many(schemes[s], secs);
	}
	double vns = validate_bench_ns();
	double ed_ns = 1e9 / rate[0];
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	double all[ARRAY_LEN(schemes)];
	for (size_t s = 0; s < ARRAY_LEN(schemes); s++)
		all[s] = parallel_verify(schemes[s], secs, (int)cores);
	if (json) {
		json_t *o = json_object(), *v = json_object();
		for (size_t s = 0; s < ARRAY_LEN(schemes); s++)
			json_object_set_new(v, sig_scheme_name(schemes[s]), json_real(rate[s]));
		json_object_set_new(o, "verify_per_s", v);
		json_t *vm = json_object();
		for (size_t s = 0; s < ARRAY_LEN(schemes); s++)
			json_object_set_new(vm, sig_scheme_name(schemes[s]), json_real(many[s]));
		json_object_set_new(o, "batch_verify_per_s", vm);
		json_t *va = json_object();
		for (size_t s = 0; s < ARRAY_LEN(schemes); s++)
			json_object_set_new(va, sig_scheme_name(schemes[s]), json_real(all[s]));
		json_object_set_new(o, "cores", json_integer(cores));
		json_object_set_new(o, "verify_per_s_all_cores", va);
		json_object_set_new(o, "decode_validate_ns", json_real(vns));
		json_object_set_new(o, "ed25519_verify_ns", json_real(ed_ns));
		json_object_set_new(o, "decode_validate_vs_ed25519", json_real(vns / ed_ns));
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		printf("single-core signature verifications per second:\n");
		for (size_t s = 0; s < ARRAY_LEN(schemes); s++)
			printf("  %-13s %10.0f /s  (%.1f us each); all %ld cores at once: %.0f /s = %.2f x; "
			       "in batches of 64: %.0f /s (%.1f us each)\n",
			       sig_scheme_name(schemes[s]), rate[s], 1e6 / rate[s], cores, all[s], all[s] / rate[s],
			       many[s], 1e6 / many[s]);
		printf("decode + validate a request (no signature check): %.0f ns = %.2f %% of one ed25519 verify\n",
		       vns, 100.0 * vns / ed_ns);
	}
	return 0;
}

static const cli_cmd_t bench_cmds[] = {
	{ "sizes", sizes_main, "encoded sizes of txs and blocks per scheme, beside the paper's" },
	{ "verify", verify_main, "verify/s per scheme on one core and on all; decode+validate cost" },
	{ "load", bench_load_main, "submit pre-signed txs to a devnet and measure" },
	{ "overhead", bench_overhead_main, "what BSec adds to an SFC creation vs the bare driver call" },
	{ "throughput", bench_throughput_main, "committed tx/s, CPU per tx, txs/block vs n and size; latency CDFs" },
	{ "sfc", bench_sfc_main, "SFC creation time vs number of VNFs (sim driver, time-scaled)" },
	{ "growth", bench_growth_main, "ledger growth on disk per node at a fixed rate vs instruction size" },
	{ "viewchange", bench_viewchange_main, "time until commits resume after the leader is killed under load" },
	{ "catchup", bench_catchup_main, "how fast a replica that missed N txs catches up" },
	{ "overload", bench_overload_main, "offered twice the capacity: goodput, refusals, losses, with and without admission control" },
	{ "wan", bench_wan_main, "4 nodes in network namespaces behind 50 ms RTT relays: throughput, latency" },
	{ "relay", bench_relay_main, "a TCP relay that delays every segment (the WAN profile's link)" },
	{ "audit", audit_bench_main, "audit verify txs/s on a ledger, beside cores x verify/s" },
	{ NULL, NULL, NULL },
};

int bench_main(int argc, char **argv)
{
	return cli_dispatch("bench", bench_cmds, argc, argv);
}
