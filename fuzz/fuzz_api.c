/*
 * fuzz_api.c — libFuzzer harness for what the node does with a request
 * body and with a peer's tx batch: node_submit (node_internal.h), the
 * admission behind POST /v1/transactions, POST /v1/transactions/batch and
 * the NODE_MSG_TXS gossip of peers — decoding, field and rule checks
 * against the chain state (tenants, SLAs, quotas, rates, duplicates),
 * signature check, the mempool — on a node built in memory from the fixed
 * genesis of fuzz_common.h (store in a temporary directory, no network).
 * The node's clock is set to the seeds' time so their txs pass the
 * timestamp window.  Input: byte 0 picks the framing (0: one tx as a
 * POST body; 1: a batch body, (u32 length || tx)...; 2: a peer's gossip
 * frame, u8 100, u16 count, count x (u32 length || tx)), the rest is the
 * body.  Every status must be one node_submit documents.
 *
 * Built with -DAPI_MAKE_SEED (and a plain main) it writes seeds into the
 * directory given as argv[1]: fuzz/corpus/api/.
 */
#include "fuzz_common.h"
#include <unistd.h>
#include "lib/buf.h"
#include "node/node_internal.h"

static node_t N;
static size_t admitted;
static char dir[] = "/tmp/bsec-fuzz-api-XXXXXX";

static void cleanup(void)
{
	char p[128];
	const char *files[] = { "ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db-journal" };
	store_close(N.store);
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void s_send(void *c, uint16_t to, const uint8_t *m, size_t l) { (void)c, (void)to, (void)m, (void)l; }
static void s_bcast(void *c, const uint8_t *m, size_t l) { (void)c, (void)m, (void)l; }
static int s_persist(void *c, const char *k, const uint8_t *v, size_t l) { (void)c, (void)k, (void)v, (void)l; return 0; }
static int s_sign(void *c, const uint8_t *m, size_t l, uint8_t *s, size_t *sl) { (void)c, (void)m, (void)l, (void)s; *sl = 64; return 0; }
static int s_verify(void *c, uint16_t n, const uint8_t *m, size_t l, const uint8_t *s, size_t sl) { (void)c, (void)n, (void)m, (void)l, (void)s, (void)sl; return -1; }
static int s_block_id(void *c, const uint8_t *b, size_t l, int w, uint64_t *h, uint64_t *v, uint8_t *hash, uint8_t *prev) { (void)c, (void)b, (void)l, (void)w, (void)h, (void)v, (void)hash, (void)prev; return -1; }
static int s_build(void *c, uint64_t h, const uint8_t *p, uint64_t v, uint8_t **b, size_t *l) { (void)c, (void)h, (void)p, (void)v, (void)b, (void)l; return 1; }
static int s_validate(void *c, uint64_t h, uint64_t v, const uint8_t *b, size_t l) { (void)c, (void)h, (void)v, (void)b, (void)l; return -1; }
static void s_abort(void *c, uint64_t f) { (void)c, (void)f; }
static int s_deliver(void *c, uint64_t h, const uint8_t *b, size_t l, const cert_t *ct) { (void)c, (void)h, (void)b, (void)l, (void)ct; return -1; }
static int s_get(void *c, uint64_t h, uint8_t **b, size_t *l, uint8_t **ct, size_t *cl) { (void)c, (void)h, (void)b, (void)l, (void)ct, (void)cl; return -1; }
static int s_pending(void *c) { (void)c; return 0; }

static void node_setup(void)
{
	char err[256];
	fz_setup();
	if (!mkdtemp(dir) || store_open(&N.store, dir, &FZ_G, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_api: %s\n", err);
		abort();
	}
	N.g = FZ_G;
	N.self = 1;
	N.me = &N.g.providers[1];
	N.committed = state_new(&N.g);
	N.spec = state_new(&N.g);
	if (store_load_state(N.store, N.spec, err, sizeof(err)) < 0)
		abort();
	node_pool_reset(&N, 4096, 64u << 20);
	buf_init(&N.fwd);
	N.peer_bad = xcalloc(N.g.n_providers, sizeof(*N.peer_bad));
	N.peer_bad_logged_ms = xcalloc(N.g.n_providers, sizeof(uint64_t));
	pbft_config_t pc;
	pbft_config_default(&pc, (uint16_t)N.g.n_providers, 1);
	memcpy(pc.chain_id, N.g.chain_id, BSEC_HASH_BYTES);
	pbft_callbacks_t cb = { .ctx = &N, .send = s_send, .broadcast = s_bcast, .persist = s_persist,
				.sign = s_sign, .verify = s_verify, .block_id = s_block_id, .build_block = s_build,
				.validate_block = s_validate, .abort_from = s_abort, .deliver = s_deliver,
				.get_block = s_get, .has_pending = s_pending };
	N.pbft = pbft_new(&pc, &cb, 0, N.g.chain_id, NULL, err, sizeof(err));
	if (!N.pbft)
		abort();
	log_set_level(LOG_ERROR);
	atexit(cleanup);
}

static void submit(const uint8_t *t, size_t tl, int from_peer)
{
	verdict_t v;
	char err[512] = "";
	tx_t tx;
	memset(&tx, 0, sizeof(tx));
	int st = node_submit(&N, t, tl, from_peer, from_peer ? NULL : &tx, &v, err, sizeof(err));
	switch (st) {
	case 202:
		admitted++;
		/* fall through */
	case 200:
		break;
	case 400: case 503:
		if (!err[0])
			abort();
		break;
	case 422:
		if (!err[0] || v.code == V_OK || v.code >= V_COUNT)
			abort();
		break;
	default:
		abort(); /* not a status node_submit documents */
	}
	if (!from_peer)
		tx_clear(&tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		node_setup();
		ready = 1;
	}
	if (!size)
		return 0;
	N.clock_offset_ms = (int64_t)(FZ_TS + 5000) - (int64_t)now_ms();
	int mode = data[0] % 3;
	rd_t r;
	rd_init(&r, data + 1, size - 1);
	if (mode == 0) {
		submit(data + 1, size - 1, 0);
	} else if (mode == 1) {
		while (rd_ok(&r) && r.off < r.len) {
			size_t tl;
			const uint8_t *t = rd_blob32(&r, &tl, TX_MAX_BYTES);
			if (!t)
				break;
			submit(t, tl, 0);
		}
	} else {
		rd_u8(&r);
		uint16_t cnt = rd_u16(&r);
		for (uint16_t i = 0; i < cnt && rd_ok(&r); i++) {
			size_t tl;
			const uint8_t *t = rd_blob32(&r, &tl, TX_MAX_BYTES);
			if (!t)
				break;
			submit(t, tl, 1);
		}
	}
	if (admitted > 1024 || N.fwd.len > (4u << 20)) {
		node_pool_reset(&N, 4096, 64u << 20);
		buf_reset(&N.fwd);
		N.fwd_count = 0;
		admitted = 0;
	}
	return 0;
}

#ifdef API_MAKE_SEED
static void put(const char *dir, const char *name, uint8_t mode, const buf_t *b)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (!f)
		exit(1);
	fputc(mode, f);
	fwrite(b->data, 1, b->len, f);
	fclose(f);
}

int main(int argc, char **argv)
{
	char err[256];
	if (argc != 2)
		return 2;
	fz_setup();
	const char *ins[] = { "vm create a", "vnf create fw --type firewall --vm a",
			      "sfc create c --chain fw --match proto=tcp", "vm delete a" };
	tx_t t[5];
	for (int i = 0; i < 4; i++) {
		tx_fields_t f = { .type = TX_REQUEST, .timestamp_ms = FZ_TS + 1000, .nonce = (uint32_t)(i + 1),
				  .domain = "p1", .instruction = ins[i] };
		if (tx_build(&t[i], &f, FZ_TENANT, FZ_G.chain_id, err, sizeof(err)) < 0)
			return 1;
	}
	sig_key_t *admin = fz_seeded(41), *newt = fz_seeded(77);
	tx_fields_t tf = { .type = TX_TENANT, .timestamp_ms = FZ_TS + 1000, .nonce = 9, .domain = "p1",
			   .action = TENANT_REGISTER, .tenant_scheme = sig_key_scheme(newt),
			   .tenant_key = sig_key_pub(newt), .name = "second",
			   .sla = { .ops = OP_ALL, .max_vms = 4, .rate_per_min = 10 } };
	if (tx_build(&t[4], &tf, admin, FZ_G.chain_id, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	buf_t b;
	buf_init(&b);
	buf_put(&b, t[0].raw, t[0].raw_len);
	put(argv[1], "post_request", 0, &b);
	buf_reset(&b);
	buf_put(&b, t[4].raw, t[4].raw_len);
	put(argv[1], "post_tenant", 0, &b);
	buf_reset(&b);
	for (int i = 0; i < 4; i++)
		buf_blob32(&b, t[i].raw, t[i].raw_len);
	put(argv[1], "batch_four", 1, &b);
	buf_reset(&b);
	buf_u8(&b, NODE_MSG_TXS);
	buf_u16(&b, 2);
	buf_blob32(&b, t[1].raw, t[1].raw_len);
	buf_blob32(&b, t[4].raw, t[4].raw_len);
	put(argv[1], "gossip_two", 2, &b);
	buf_free(&b);
	return 0;
}
#endif
