/*
 * devnet.h — a local consortium in one directory (see the layout at the
 * top of cmd_devnet.c): `bsec devnet init` writes it (cmd_devnet.c), the
 * process-managing subcommands below run it (devnet_run.c), and
 * `bsec request` / `bsec tx submit` use devnet_open() to find its genesis,
 * CA and node APIs.
 *
 * Processes: node I runs as `bsec node --config DIR/nodeI/config.json`
 * in its own session (setsid), stdout and stderr appended to
 * DIR/nodeI/node.log, its pid in DIR/nodeI/node.pid.  A pid counts as
 * running only while that process is alive, not a zombie, and its command
 * line is exactly that `node --config` of this devnet, so a stale pid
 * file whose pid was reused is never signalled.  Orchestrator I (domain
 * pI) runs the same way as `bsec orchestrator --config
 * DIR/orchI/config.json` with DIR/orchI/orch.log and orch.pid; up starts
 * the orchestrators after the nodes, down stops them first.  The tenant
 * portal runs as `bsec portal --config DIR/portal/config.json` with
 * DIR/portal/portal.log and portal.pid, started last and stopped first.
 */
#ifndef BSEC_CLI_DEVNET_H
#define BSEC_CLI_DEVNET_H

#include <stddef.h>
#include "../ledger/genesis.h"

/* An initialised devnet directory, loaded. */
typedef struct {
	char *dir;        /* as given */
	char *ca_path;    /* DIR/ca.pem */
	genesis_t g;      /* DIR/genesis.json; node I is g.providers[I] */
} devnet_t;

/* Loads DIR/genesis.json and checks DIR/ca.pem exists.  Returns 0, or -1
 * with a reason quoting DIR in err ("not a devnet directory" when it has
 * no genesis).  devnet_close releases it (a zeroed devnet_t is fine). */
int devnet_open(devnet_t *d, const char *dir, char *err, size_t errlen) WUR;
void devnet_close(devnet_t *d);

/* The data-plane driver `devnet init` picks when --driver is not given:
 * "netns" when running as root with `ip` and `nft` on PATH, else "sim".
 * devnet_netns_missing() says why netns is unavailable ("not running as
 * root", "`nft' not found on PATH"), or returns NULL when it is available.
 * Both return static strings. */
const char *devnet_default_driver(void);
const char *devnet_netns_missing(void);

/* The portal's https:// URL from DIR/portal/config.json ("listen"), or
 * NULL when the devnet has no portal.  Caller frees. */
char *devnet_portal_url(const char *dir);

/* Subcommands (argv[0] is the subcommand name; exit codes as cli.h). */
int devnet_up_main(int argc, char **argv);      /* up --dir D [--detach] [--timeout MS] [--no-orchestrators] [--no-portal] */
int devnet_status_main(int argc, char **argv);  /* status --dir D [--json] */
int devnet_stop_main(int argc, char **argv);    /* stop --dir D --node I [--orchestrator] [--kill] */
int devnet_start_main(int argc, char **argv);   /* start --dir D --node I [--orchestrator] */
int devnet_down_main(int argc, char **argv);    /* down --dir D */

#endif
