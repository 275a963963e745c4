/*
 * cmd_portal.c — `bsec portal --config FILE`: run the tenant portal
 * (src/portal/portal.h) until SIGTERM or SIGINT.
 */
#include "cli.h"
#include "../portal/portal.h"

#include <string.h>

int portal_main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--config"))
		return cli_usage("bsec portal --config FILE\n"
				 "  serves the tenant web app over HTTPS: keys stay in the browser, which signs;\n"
				 "  the portal follows the chain, checks each signed request against it and\n"
				 "  forwards it to the nodes (see src/portal/portal.h for the config)");
	return portal_run(argv[2]);
}
