/*
 * cli.c — helpers every subcommand shares: messages, usage, dispatch over
 * a command table, and the chain id from --genesis or --chain-id.
 */
#include "cli.h"
#include "../ledger/genesis.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	fputs("bsec: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int cli_usage(const char *text)
{
	fprintf(stderr, "usage: %s\n", text);
	return 2;
}

int cli_dispatch(const char *prog, const cli_cmd_t *table, int argc, char **argv)
{
	if (argc >= 2) {
		for (const cli_cmd_t *c = table; c->name; c++)
			if (!strcmp(c->name, argv[1]))
				return c->fn(argc - 1, argv + 1);
		if (strcmp(argv[1], "help") && strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) {
			fprintf(stderr, "bsec: unknown command `%s%s%s'\n", prog, *prog ? " " : "", argv[1]);
			goto usage;
		}
		fprintf(stdout, "usage: bsec %s%sCOMMAND [ARGS]\n", prog, *prog ? " " : "");
		for (const cli_cmd_t *c = table; c->name; c++)
			fprintf(stdout, "  %-14s %s\n", c->name, c->help);
		return 0;
	}
usage:
	fprintf(stderr, "usage: bsec %s%sCOMMAND [ARGS]\n", prog, *prog ? " " : "");
	for (const cli_cmd_t *c = table; c->name; c++)
		fprintf(stderr, "  %-14s %s\n", c->name, c->help);
	return 2;
}

int cli_chain_id(uint8_t out[BSEC_HASH_BYTES], const char *genesis_path, const char *hex)
{
	char err[512];
	if (!!genesis_path == !!hex) {
		cli_fail("give exactly one of --genesis FILE or --chain-id HEX");
		return -1;
	}
	if (hex) {
		if (hex_decode(out, BSEC_HASH_BYTES, hex) < 0) {
			cli_fail("--chain-id `%s' is not 64 hex digits", hex);
			return -1;
		}
		return 0;
	}
	genesis_t g;
	if (genesis_load(&g, genesis_path, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		return -1;
	}
	memcpy(out, g.chain_id, BSEC_HASH_BYTES);
	genesis_free(&g);
	return 0;
}

