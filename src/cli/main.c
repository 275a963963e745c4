/*
 * main.c — the `bsec` entry point: one table of subcommands, each in its
 * own file (see cli.h); shared helpers are in cli.c.
 */
#include "cli.h"
#include "../ledger/genesis.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

static const cli_cmd_t commands[] = {
	{ "keygen", keygen_main, "generate a signing key (PKCS#8 PEM, mode 0600)" },
	{ "tx", tx_main, "build, sign, show and verify transactions" },
	{ "instr", instr_main, "check an instruction and print its canonical form" },
	{ "demo", demo_main, "run the whole scenario on a local consortium (--once: run, check, exit)" },
	{ "genesis", genesis_main, "found a consortium: provider descriptors, init, show" },
	{ "node", node_main, "run one consensus replica (--config FILE)" },
	{ "devnet", devnet_main, "a local consortium: init, up, status, stop, start, down" },
	{ "orchestrator", orchestrator_main, "run one domain's orchestrator (--config FILE)" },
	{ "portal", portal_main, "run the tenant web portal (--config FILE)" },
	{ "request", request_main, "sign and submit an instruction, wait until it is committed" },
	{ "tenant", tenant_main, "register, update or revoke a tenant's SLA in a domain" },
	{ "audit", audit_main, "verify a chain offline from its genesis" },
	{ "bench", bench_main, "benchmarks: sizes, verify" },
	{ NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	/* glibc serves blocks above the mmap threshold with a fresh mapping and
	 * hands freed heap tops back to the kernel; the next block of that size
	 * then faults in zeroed pages again.  A replica builds, sends and frees
	 * messages of hundreds of kB per block: with the defaults 7.5 % of its
	 * samples under load were the kernel zeroing such pages.  Keep the
	 * memory instead (the peak stays resident; bounded by the node's own
	 * limits on messages). */
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cli_dispatch("", commands, argc, argv);
}
