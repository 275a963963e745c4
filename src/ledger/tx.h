/*
 * tx.h — BSec transactions: REQUEST (tenant), RESPONSE (orchestrator) and
 * TENANT (provider admin), their one canonical binary encoding, ids and
 * signatures (DESIGN §2).
 *
 * Encoding (all integers big-endian, fixed width):
 *
 *   u8  version (= 1)         u8  type (1 REQUEST, 2 RESPONSE, 3 TENANT, 4 ATTEST)
 *   u64 timestamp_ms          u32 nonce
 *   u8  sender scheme         sender key   (sig_pub_len(scheme) bytes)
 *   body, by type:
 *     REQUEST   str8 domain, str16 instruction
 *     RESPONSE  32 request id, u8 status (0 ok, 1 error), str16 result, str16 error
 *     TENANT    u8 action (1 register, 2 update, 3 revoke), str8 domain,
 *               u8 tenant scheme, tenant key, str8 name, SLA:
 *               u16 ops, u32 max_vms, u32 max_vnfs, u32 max_sfcs,
 *               u16 max_chain, u32 rate_per_min
 *     ATTEST    str8 domain, u64 height, u32 objects, u32 problems,
 *               32 digest   (attest.h: the digest of the domain's actual
 *               objects as the driver lists them, at chain height `height')
 *   signature (sig_sig_len(sender scheme) bytes)
 *
 * "content" is everything before the signature.
 *   tx_id        = SHA-256(chain_id || content)
 *   signed bytes = "bsec/tx/v1" || chain_id || content
 * The signature is not part of the id, so re-signing cannot make a
 * duplicate.  Decoders refuse unknown versions/types/schemes, over-long
 * fields and trailing bytes, with a reason and the byte offset.
 */
#ifndef BSEC_TX_H
#define BSEC_TX_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/buf.h"
#include "../lib/hash.h"
#include "../lib/sig.h"

#define TX_VERSION 1
#define TX_SIG_TAG "bsec/tx/v1"
#define TX_MAX_DOMAIN 32
#define TX_MAX_NAME 32
#define TX_MAX_INSTRUCTION 4096
#define TX_MAX_RESULT 16384
#define TX_MAX_ERROR 1024
#define TX_MAX_BYTES 32768        /* any encoded tx is smaller than this */

typedef enum { TX_REQUEST = 1, TX_RESPONSE = 2, TX_TENANT = 3, TX_ATTEST = 4 } tx_type_t;
#define TX_TYPE_MAX TX_ATTEST
typedef enum { TX_STATUS_OK = 0, TX_STATUS_ERROR = 1 } tx_status_t;
typedef enum { TENANT_REGISTER = 1, TENANT_UPDATE = 2, TENANT_REVOKE = 3 } tenant_action_t;

/* Operations an SLA can allow: one bit each. */
enum {
	OP_VM_CREATE = 1 << 0, OP_VM_DELETE = 1 << 1,
	OP_VNF_CREATE = 1 << 2, OP_VNF_UPDATE = 1 << 3, OP_VNF_DELETE = 1 << 4,
	OP_SFC_CREATE = 1 << 5, OP_SFC_UPDATE = 1 << 6, OP_SFC_DELETE = 1 << 7,
	OP_ALL = 0xff,
};

/* A tenant's service-level agreement in one domain.  A quota or rate of 0
 * means "no limit"; an operation is allowed only when its bit is set. */
typedef struct {
	uint16_t ops;
	uint32_t max_vms, max_vnfs, max_sfcs;
	uint16_t max_chain;
	uint32_t rate_per_min;
} sla_t;

/* "vm:create", "vnf:*", "*", comma-separated lists <-> bits.  Parse
 * returns 0 or -1 with the bad item quoted in err. */
int sla_ops_parse(uint16_t *ops, const char *text, char *err, size_t errlen) WUR;
/* Canonical text ("*" when all, else comma list in bit order); caller frees. */
char *sla_ops_format(uint16_t ops);

/* A decoded transaction.  Pointers (domain, instruction, ...) point into
 * raw, which the tx owns; strings are NOT NUL-terminated, use the lengths. */
typedef struct {
	uint8_t *raw;            /* the whole signed encoding */
	size_t raw_len;
	size_t content_len;      /* raw[0..content_len) is the content */
	uint8_t id[BSEC_HASH_BYTES];

	uint8_t version, type;
	uint64_t timestamp_ms;
	uint32_t nonce;
	uint8_t scheme;
	const uint8_t *sender;   /* sig_pub_len(scheme) bytes */
	const uint8_t *sig;      /* sig_sig_len(scheme) bytes */

	/* REQUEST / TENANT / ATTEST */
	const char *domain; size_t domain_len;
	/* REQUEST */
	const char *instruction; size_t instruction_len;
	/* RESPONSE */
	const uint8_t *request_id;
	uint8_t status;
	const char *result; size_t result_len;
	const char *error; size_t error_len;
	/* TENANT */
	uint8_t action;
	uint8_t tenant_scheme;
	const uint8_t *tenant_key;
	const char *name; size_t name_len;
	sla_t sla;
	/* ATTEST */
	uint64_t att_height;     /* chain height the attested state corresponds to */
	uint32_t att_objects;    /* objects of the domain on the platform */
	uint32_t att_problems;   /* of which the driver reports a problem */
	const uint8_t *att_digest; /* BSEC_HASH_BYTES */
} tx_t;

/* Fields to build a tx from (strings NUL-terminated). */
typedef struct {
	uint8_t type;
	uint64_t timestamp_ms;   /* 0: now */
	uint32_t nonce;          /* 0: random */
	const char *domain;
	const char *instruction;
	const uint8_t *request_id;
	uint8_t status;
	const char *result, *error;
	uint8_t action;
	uint8_t tenant_scheme;
	const uint8_t *tenant_key;
	const char *name;
	sla_t sla;
	uint64_t att_height;
	uint32_t att_objects, att_problems;
	const uint8_t *att_digest;
} tx_fields_t;

/* Builds, signs and decodes a tx into *out (which must later be passed to
 * tx_clear).  Fails (-1, reason in err) when a field is over its limit. */
int tx_build(tx_t *out, const tx_fields_t *f, const sig_key_t *key,
	     const uint8_t chain_id[BSEC_HASH_BYTES], char *err, size_t errlen) WUR;

/* Decodes a signed tx (copying the bytes) and computes its id under
 * chain_id.  Structural checks only; signature and rules are separate.
 * Returns 0, or -1 with "offset N: reason" in err. */
int tx_decode(tx_t *out, const uint8_t *data, size_t len,
	      const uint8_t chain_id[BSEC_HASH_BYTES], char *err, size_t errlen) WUR;
/* The same with the id already known (the caller hashed these very bytes
 * with tx_raw_id under the chain_id): nothing is hashed. */
int tx_decode_with_id(tx_t *out, const uint8_t *data, size_t len, const uint8_t id[BSEC_HASH_BYTES],
		      char *err, size_t errlen) WUR;
void tx_clear(tx_t *tx);
/* The id of a signed tx without decoding it: SHA-256(chain_id || all but
 * the signature), whose length the sender's scheme fixes.  -1 when the
 * bytes are too short for their scheme or name none; bytes tx_decode
 * refuses may still get an id (the store checks ids of rows it wrote). */
int tx_raw_id(const uint8_t *raw, size_t len, const uint8_t chain_id[BSEC_HASH_BYTES],
	      uint8_t id[BSEC_HASH_BYTES]) WUR;

/* Deep copy. */
void tx_copy(tx_t *dst, const tx_t *src);

/* Bytes the signature covers: tag || chain_id || content (caller frees). */
uint8_t *tx_signed_bytes(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES], size_t *len);
/* Rule 1: 0 when the signature verifies under the sender key. */
int tx_verify_sig(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES]) WUR;
/* Rule 1 for n txs at once (Ed25519 ones batch-verified, see sig.h):
 * bad[i] = 1 for each tx whose signature does not verify.  Returns the
 * count of bad ones.  Thread-safe. */
size_t tx_verify_sigs(const tx_t *const *txs, size_t n, const uint8_t chain_id[BSEC_HASH_BYTES],
		      uint8_t *bad);

const char *tx_type_name(int type);      /* "request", "response", "tenant", "attest" */
int tx_type_parse(const char *s);         /* -1 if unknown */
const char *tenant_action_name(int a);   /* "register", "update", "revoke" */

/* JSON view of a tx (jansson json_t*), for the API and the CLI; includes
 * id, type, size, timestamp_ms, nonce, scheme, sender_hex, public_key_pem,
 * signed_bytes_hex, signature_hex, raw_hex and the body's fields. */
struct json_t;
struct json_t *tx_to_json(const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES]);

/* Tx files written by the CLI: "BSTX" || chain_id || signed tx. */
#define TXFILE_MAGIC "BSTX"
int txfile_write(const char *path, const tx_t *tx, const uint8_t chain_id[BSEC_HASH_BYTES],
		 char *err, size_t errlen) WUR;
int txfile_read(const char *path, tx_t *out, uint8_t chain_id[BSEC_HASH_BYTES],
		char *err, size_t errlen) WUR;

#endif
