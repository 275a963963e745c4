/*
 * cmd_orchestrator.c — `bsec orchestrator --config FILE`: run one
 * domain's orchestrator (src/orchestrator/orchestrator.h) until SIGTERM.
 */
#include "cli.h"
#include "../orchestrator/orchestrator.h"

#include <string.h>

int orchestrator_main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--config"))
		return cli_usage("bsec orchestrator --config FILE\n"
				 "  follows the chain and executes the requests of one domain through its\n"
				 "  driver, answering each with a signed response (see orchestrator.h)");
	return orchestrator_run(argv[2]);
}
