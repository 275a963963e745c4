/*
 * driver.h — the NFV drivers behind one interface (DESIGN §8, the paper's
 * OPNFV API).  The orchestrator executes a committed request with
 * driver_apply and asks what really exists with driver_list / driver_get
 * (drift audits, crash recovery).  Three drivers, chosen by name:
 *
 *   netns  a real Linux data plane on this host (root, iproute2, nftables):
 *          VM = network namespace, VNF = namespace running a function
 *          (forwarder, nftables firewall, monitor, nat), SFC = ingress and
 *          egress namespaces linked through the VNFs with veth pairs and
 *          routes.  Details and config keys in drivers/netns.c.
 *   exec   operator-supplied argv templates per operation (osm, openstack,
 *          kubectl...), never through a shell.  See drivers/exec.c.
 *   sim    an in-process model with configurable latency and failure
 *          injection; every result says "simulated".  See drivers/sim.c.
 *
 * Specifications.  An object's spec is its canonical create-form
 * instruction (instr_format), with updates merged exactly as the ledger
 * does (state_updated_spec): the same text the chain state holds, so a
 * drift audit compares strings.
 *
 * Idempotence (for the orchestrator's crash recovery): create of an
 * object that exists with the same spec succeeds ("already exists"), a
 * create whose earlier attempt died half-way is finished, delete of an
 * absent object succeeds, and an update applied twice gives the same spec.
 * Create of an existing object with a different spec is an error.
 *
 * The consortium prefix (1-16 of [a-z0-9], e.g. the first 8 hex digits of
 * the chain id) namespaces everything a driver creates on the host, so two
 * consortia on one machine never collide.
 *
 * Threads: a driver_t is used by one thread at a time.  Calls block (a
 * platform command, a simulated latency).  netns operations on one host
 * are serialised between processes with a lock file.  Drivers run child
 * processes and reap them with waitpid: SIGCHLD must not be SIG_IGN.
 */
#ifndef BSEC_DRIVER_H
#define BSEC_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/instr.h"
#include "../ledger/tx.h"

struct json_t;

#define DRIVER_MAX_PREFIX 16
#define DRIVER_MAX_OWNER 600                    /* hex of the largest public key, with room */
#define DRIVER_MAX_SPEC (TX_MAX_INSTRUCTION + 1)
#define DRIVER_MAX_PROBLEM 256

typedef struct driver_t driver_t;

/* One object as it exists on the platform. */
typedef struct {
	int kind;                               /* obj_kind_t */
	char name[INSTR_MAX_NAME + 1];
	char domain[TX_MAX_DOMAIN + 1];         /* "" when the platform does not record it */
	char owner[DRIVER_MAX_OWNER];           /* owner_hex given at create, "" when unknown */
	char spec[DRIVER_MAX_SPEC];             /* canonical create-form instruction, "" unknown */
	char problem[DRIVER_MAX_PROBLEM];       /* "" when the object is whole and as specified;
						   else what differs (a missing namespace, nft rules
						   changed by hand...): drift even if spec matches */
} driver_obj_t;

/* Opens driver `type' ("netns", "exec", "sim") with its JSON config object
 * (NULL means {}; borrowed, not kept).  Every key and value is checked
 * now; an unknown key or bad value fails with the value quoted.  prefix:
 * see above.  Returns a driver to free with driver_free, or NULL with a
 * reason in err. */
driver_t *driver_new(const char *type, const struct json_t *config, const char *prefix,
		     char *err, size_t elen);
void driver_free(driver_t *drv);
const char *driver_type(const driver_t *drv);   /* "netns", "exec", "sim" */

/* Executes one instruction (create / update / delete of a VM, VNF or SFC)
 * for `domain' on behalf of the tenant `owner_hex' (recorded with the
 * object; the driver does not check permissions, the orchestrator has).
 * Returns 0 with a short printable result ("created vnf fw (firewall) in
 * 12 ms") in result, or -1 with a short printable reason in err (it becomes
 * a signed error response).  Both buffers are always NUL-terminated. */
int driver_apply(driver_t *drv, const instr_t *in, const char *domain, const char *owner_hex,
		 char *result, size_t rlen, char *err, size_t elen) WUR;

/* Calls cb once per object that actually exists on the platform (all
 * domains this driver can see: filter on obj->domain).  cb returns 0 to
 * continue, non-zero to stop (driver_list then returns that value).
 * Returns 0, or -1 with a reason in err when the platform cannot be read
 * (exec without a "list" template, a command failing). */
typedef int (*driver_list_cb)(void *ctx, const driver_obj_t *obj);
int driver_list(driver_t *drv, driver_list_cb cb, void *ctx, char *err, size_t elen);

/* One object: *exists = 1 and *out filled, or *exists = 0.  Returns 0, or
 * -1 with a reason in err when the platform cannot be read. */
int driver_get(driver_t *drv, int kind, const char *name, int *exists, driver_obj_t *out,
	       char *err, size_t elen) WUR;

/* Removes every network namespace (and with them every veth and nft
 * object) and every record this host's netns drivers made under prefix;
 * for `devnet down' and tests.  Absent things are fine.  Returns 0, or -1
 * with a reason (something could not be removed; the rest still was). */
int driver_cleanup_all(const char *prefix, char *err, size_t elen);

/* Is the netns driver usable here?  NULL if so, else why not (static). */
const char *driver_netns_missing(void);

/* netns only: sends test traffic from SFC sfc's ingress namespace to its
 * egress address: proto "tcp" (connect to port), "udp" (a datagram to
 * port, received by a listener in egress) or "icmp" (echo; port unused).
 * *passed = 1 if it got through within about 1 s, 0 if not.  Returns 0,
 * or -1 with a reason (not a netns driver, no such SFC, bad arguments). */
int netns_probe(driver_t *drv, const char *sfc, const char *proto, int port, int *passed,
		char *err, size_t elen) WUR;

/* netns only: the packets and bytes a monitor VNF has counted so far. */
int netns_counter(driver_t *drv, const char *vnf, uint64_t *packets, uint64_t *bytes,
		  char *err, size_t elen) WUR;

#endif
