/*
 * cli.h — the `bsec` command table and the helpers subcommands share.
 * Each subcommand lives in its own file as `int NAME_main(int argc, char **argv)`
 * where argv[0] is the subcommand's name; it returns the process exit code
 * (0 success, 1 failure of the operation, 2 usage error).
 */
#ifndef BSEC_CLI_H
#define BSEC_CLI_H

#include <stdint.h>
#include "../lib/util.h"
#include "../lib/hash.h"

typedef struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cli_cmd_t;

/* Dispatches argv[1] among a table of sub-subcommands (e.g. "tx show"). */
int cli_dispatch(const char *prog, const cli_cmd_t *table, int argc, char **argv);

/* Prints "bsec: " + message to stderr; returns 1 (for `return cli_fail(...)`). */
int cli_fail(const char *fmt, ...) PRINTF(1, 2);
/* Prints usage text to stderr and returns 2. */
int cli_usage(const char *text);

/* chain_id from --genesis FILE or --chain-id HEX (exactly one given).
 * Returns 0 or prints the reason and returns -1. */
int cli_chain_id(uint8_t out[BSEC_HASH_BYTES], const char *genesis_path, const char *hex);

/* Subcommand entry points (one file each under src/cli/). */
int keygen_main(int argc, char **argv);
int tx_main(int argc, char **argv);
int audit_main(int argc, char **argv);
int audit_bench_main(int argc, char **argv);      /* cmd_audit.c: `bench audit` */
int bench_main(int argc, char **argv);
int bench_load_main(int argc, char **argv);        /* bench_load.c */
int bench_throughput_main(int argc, char **argv);
int bench_overhead_main(int argc, char **argv);    /* bench_overhead.c */
int instr_main(int argc, char **argv);
int node_main(int argc, char **argv);
int demo_main(int argc, char **argv);             /* cmd_demo.c */
int genesis_main(int argc, char **argv);
int devnet_main(int argc, char **argv);       /* cmd_devnet.c, devnet_run.c */
int request_main(int argc, char **argv);      /* cmd_request.c */
int tx_submit_main(int argc, char **argv);    /* cmd_request.c: `tx submit` */
int tenant_main(int argc, char **argv);       /* cmd_tenant.c */
int orchestrator_main(int argc, char **argv); /* cmd_orchestrator.c */
int portal_main(int argc, char **argv);       /* cmd_portal.c */

#endif
