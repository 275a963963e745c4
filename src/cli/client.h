/*
 * client.h — the CLI as a client of the node API, shared by `bsec
 * request`, `bsec tx submit` and `bsec tenant`: which nodes to talk to and
 * how to trust them, posting a signed tx with fail-over, and waiting until
 * a tx is committed (and, for a request, answered).
 *
 * Nodes and trust come from the genesis: with --dir D, D/genesis.json and
 * the devnet CA D/ca.pem; with --node URL, --genesis FILE and either --ca
 * FILE or the certificate the genesis pins for that provider.  --node URL
 * --ca FILE without a genesis talks to that one node only and takes the
 * chain id from its GET /v1/status (have_g is then 0: no genesis checks).  The chosen
 * node comes first, then the genesis's others in index order; when the
 * node in use does not answer, the next one is tried.  The same signed tx
 * is simply posted again (a node answers 200 for a tx it already holds or
 * has committed), so fail-over never makes a second tx.
 *
 * Everything here is blocking and single-threaded; failures are printed
 * to stderr with cli_fail.
 */
#ifndef BSEC_CLI_CLIENT_H
#define BSEC_CLI_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "../ledger/genesis.h"
#include "../ledger/tx.h"
#include "../lib/https.h"
#include "../lib/nodeapi.h"

struct json_t;

/* One node API (url, name, trust, its post and poll connections, the
 * last failure). */
typedef nodeapi_t client_node_t;

/* The nodes of one consortium, the genesis that lists them, and the one
 * in use (cur). */
typedef struct {
	genesis_t g;             /* without a genesis only g.chain_id is set */
	int have_g;
	char *ca_file;
	client_node_t *t;
	size_t n;
	size_t cur;
} client_t;

/* What the user chose: --node URL [--genesis FILE] [--ca FILE], or --dir D
 * [--node-index I] [--ca FILE].  node_index is -1 when not given. */
typedef struct {
	const char *node_url, *dir, *genesis, *ca;
	long node_index;
} client_opts_t;

/* getopt_long codes of the shared options; a command's own codes start
 * at CLIENT_O_FIRST_FREE.  CLIENT_LONG_OPTS lists them for an option
 * table: node, dir, genesis, ca, node-index, json, timeout. */
enum {
	CLIENT_O_NODE = 256, CLIENT_O_DIR, CLIENT_O_GENESIS, CLIENT_O_CA, CLIENT_O_NODE_INDEX,
	CLIENT_O_JSON, CLIENT_O_TIMEOUT, CLIENT_O_FIRST_FREE
};
#define CLIENT_LONG_OPTS                                                                   \
	{ "node", required_argument, 0, CLIENT_O_NODE },                                   \
	{ "dir", required_argument, 0, CLIENT_O_DIR },                                     \
	{ "genesis", required_argument, 0, CLIENT_O_GENESIS },                             \
	{ "ca", required_argument, 0, CLIENT_O_CA },                                       \
	{ "node-index", required_argument, 0, CLIENT_O_NODE_INDEX },                       \
	{ "json", no_argument, 0, CLIENT_O_JSON },                                         \
	{ "timeout", required_argument, 0, CLIENT_O_TIMEOUT }

#define CLIENT_DEFAULT_TIMEOUT_MS 30000

/* Handles one shared option c (with optarg).  0 when handled, 2 after
 * printing a bad value, -1 when c is not a shared option. */
int client_parse_opt(int c, client_opts_t *o, long *timeout_ms, int *json);

/* Checks the combination (--node and/or --dir, --node-index only
 * without --node); prints the reason and returns 2, else 0. */
int client_check_opts(const client_opts_t *o);

/* Builds the node list from the options.  0, or -1 after printing the
 * reason.  client_close releases it (a zeroed client_t is fine). */
int client_open(client_t *c, const client_opts_t *o);
void client_close(client_t *c);

/* "p0, p1, ..." — every domain of the genesis, for messages; caller frees. */
char *client_domain_list(const client_t *c);

/* One request to the current node.  0 with *status and a parsed JSON body
 * (NULL when the body is not JSON; the caller decrefs), or -1 with the
 * node's err set.  poll selects the connection kept for long polls. */
int client_call(client_t *c, int poll, int timeout_ms, const char *method, const char *path,
		const uint8_t *body, size_t len, int *status, struct json_t **out);

enum { CLIENT_POST_OK = 0, CLIENT_POST_REFUSED = 1, CLIENT_POST_DOWN = 2 };

/* Posts the signed tx to the current node, moving on to the next nodes
 * while a node does not answer (transport error or 5xx other than 503);
 * a 503 (pool full) is retried on the same node until deadline_us.
 * CLIENT_POST_OK: 2xx, *status and *body set, c->cur is the node that
 * took it.  CLIENT_POST_REFUSED: a 4xx, *status and *body set.
 * CLIENT_POST_DOWN: no node took it (each node's reason is printed). */
int client_post_tx(client_t *c, const tx_t *tx, uint64_t deadline_us, int *status,
		   struct json_t **body);

/* Prints a node's 4xx refusal: its error code and message. */
void client_print_refusal(const client_t *c, int status, const struct json_t *body);

/* Waits until the nodes report tx committed (re-posting it where a node
 * lost it, failing over when one stops answering).  With the genesis a
 * node's "committed" counts only with an inclusion proof that verifies
 * against it (height and tx are then taken from the proof); a node that
 * shows anything else is passed over.  0 with *answer (the API's JSON for
 * the tx; caller decrefs) and c->cur the node that said so; 1 after
 * printing why (timeout, refusal, no node). */
int client_wait_committed(client_t *c, const tx_t *tx, uint64_t deadline_us,
			  struct json_t **answer);

/* For a committed request: waits until its response is committed (GET
 * /v1/transactions/{id} shows response_id; between checks it long-polls
 * for the next block), then fetches the response tx.  With the genesis the
 * response must come with a proof that verifies, answer request_id and be
 * signed by the orchestrator of domain (NULL: any provider's); a node
 * that shows otherwise is passed over.  0 with *response (the API's JSON
 * for the response: status, height, tx{...}, the last three from the
 * proof; caller decrefs); 1 after printing why (timeout, no node answers). */
int client_wait_response(client_t *c, const uint8_t request_id[BSEC_HASH_BYTES], const char *domain,
			 uint64_t deadline_us, struct json_t **response);

/* The string member key of o, or "" when absent. */
const char *client_jstr(const struct json_t *o, const char *key);

/* The whole life of one request: sign (key), submit, wait for the commit
 * and then for the orchestrator's committed response.  Returns
 * CLIENT_REQ_OK / CLIENT_REQ_ERROR (the response says error) /
 * CLIENT_REQ_REFUSED (4xx at submission: code and message filled) /
 * CLIENT_REQ_FAILED (no answer in time).  Times are from submission. */
enum { CLIENT_REQ_OK = 0, CLIENT_REQ_ERROR = 1, CLIENT_REQ_REFUSED = 2, CLIENT_REQ_FAILED = 3 };
typedef struct {
	char code[64];             /* refusal code */
	char message[512];         /* refusal message, or the response's result / error */
	uint64_t height;           /* of the request */
	double commit_ms;          /* submission -> request committed */
	double response_ms;        /* submission -> response committed */
} client_req_result_t;
struct sig_key_t;
int client_request(client_t *c, const struct sig_key_t *key, const char *domain,
		   const char *instruction, int timeout_ms, client_req_result_t *r);

/* Sleeps ms milliseconds (resuming after signals). */
void client_sleep_ms(unsigned ms);

#endif
