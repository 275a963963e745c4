/*
 * cmd_node.c — `bsec node --config FILE`: run one consensus replica.
 */
#include "cli.h"
#include "../node/node.h"

#include <string.h>

int node_main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--config"))
		return cli_usage("bsec node --config FILE");
	return node_run(argv[2]);
}
