/*
 * cmd_audit.c — `bsec audit verify`: check a whole chain offline from its
 * genesis (audit.h).  Exit 0 only when every block and tx holds; otherwise
 * the first bad block (and tx) and the reason, exit 1.  More audit
 * subcommands (proof, history, drift) join the table below.
 */
#include "cli.h"
#include "../ledger/audit.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { O_DATA_DIR = 256, O_GENESIS, O_JSON, O_THREADS };

static const struct option verify_opts[] = {
	{ "data-dir", required_argument, 0, O_DATA_DIR },
	{ "genesis", required_argument, 0, O_GENESIS },
	{ "json", no_argument, 0, O_JSON },
	{ "threads", required_argument, 0, O_THREADS },
	{ 0, 0, 0, 0 },
};

static const char *verify_usage =
	"bsec audit verify --data-dir DIR [--genesis FILE] [--json] [--threads N]\n"
	"  verifies DIR/ledger.db from the genesis (default DIR/genesis.json);\n"
	"  --threads: signature-verification threads (default: online cores)";

static int verify_main(int argc, char **argv)
{
	const char *dir = NULL, *genesis = NULL;
	int json = 0, threads = 0;
	audit_report_t rep;
	char cid[2 * BSEC_HASH_BYTES + 1], tip[2 * BSEC_HASH_BYTES + 1];

	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", verify_opts, NULL)) != -1;) {
		switch (c) {
		case O_DATA_DIR:
			dir = optarg;
			break;
		case O_GENESIS:
			genesis = optarg;
			break;
		case O_JSON:
			json = 1;
			break;
		case O_THREADS: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 1 || v > 256)
				return cli_fail("--threads `%s' is not an integer in 1..256", optarg);
			threads = (int)v;
			break;
		}
		default:
			return cli_usage(verify_usage);
		}
	}
	if (optind != argc || !dir)
		return cli_usage(verify_usage);

	int rc = audit_verify_dir(dir, genesis, threads, &rep);
	if (json) {
		json_t *o = audit_report_to_json(&rep);
		char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	} else if (rc == 0) {
		hex_encode(cid, rep.chain_id, BSEC_HASH_BYTES);
		hex_encode(tip, rep.tip_hash, BSEC_HASH_BYTES);
		printf("ok: %" PRIu64 " blocks, %" PRIu64 " txs verified from the genesis\n"
		       "chain_id %s\ntip      %s\n(%d threads, %.3f s)\n",
		       rep.blocks, rep.txs, cid, tip, rep.threads, (double)rep.elapsed_us / 1e6);
	} else {
		printf("FAILED: %s\n", rep.reason);
		if (rep.bad_height && rep.bad_tx >= 0)
			printf("first bad block: %" PRIu64 ", tx %" PRId64 "\n", rep.bad_height,
			       rep.bad_tx);
		else if (rep.bad_height)
			printf("first bad block: %" PRIu64 "\n", rep.bad_height);
		if (rep.bad_height)
			printf("verified before it: %" PRIu64 " blocks, %" PRIu64 " txs\n",
			       rep.blocks, rep.txs);
	}
	return rc == 0 ? 0 : 1;
}

static const cli_cmd_t audit_cmds[] = {
	{ "verify", verify_main, "verify a whole chain offline from its genesis" },
	/* to come: proof (inclusion-proof bundles), history (timelines), drift */
	{ NULL, NULL, NULL },
};

int audit_main(int argc, char **argv)
{
	return cli_dispatch("audit", audit_cmds, argc, argv);
}
