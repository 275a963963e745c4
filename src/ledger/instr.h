/*
 * instr.h — the instruction grammar (DESIGN §6), one parser for node
 * validation, orchestrator, CLI and portal:
 *
 *   vm  create NAME [--image IMAGE] [--flavor FLAVOR]
 *   vm  delete NAME
 *   vnf create NAME --type TYPE [--vm VM] [--image IMAGE] [--config KEY=VALUE]...
 *   vnf update NAME --config KEY=VALUE...
 *   vnf delete NAME
 *   sfc create NAME --chain VNF[,VNF]... [--match KEY=VALUE[,KEY=VALUE]...]
 *   sfc update NAME --chain VNF[,VNF]...
 *   sfc delete NAME
 *
 * Tokens are separated by single or multiple spaces.  NAME, VM and VNF
 * match [a-z0-9][a-z0-9-]{0,31}.  TYPE is one of INSTR_VNF_TYPES.  IMAGE
 * and FLAVOR are [A-Za-z0-9._:/-]{1,64}.  A config KEY is
 * [a-z0-9][a-z0-9_.-]{0,31}, a VALUE is 1..128 characters of
 * [A-Za-z0-9._:/,=+@-] (no spaces, quotes or shell metacharacters); keys
 * must be unique.  Match keys are proto, sport, dport, src, dst.  A chain
 * has 1..INSTR_MAX_CHAIN VNFs, no repeats.  An option may appear once
 * (except --config).  The whole text is at most TX_MAX_INSTRUCTION bytes.
 *
 * instr_format prints the canonical text: single spaces, options in the
 * grammar's order, config keys sorted; parsing it yields the same instr_t.
 */
#ifndef BSEC_INSTR_H
#define BSEC_INSTR_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/util.h"

#define INSTR_MAX_NAME 32
#define INSTR_MAX_CHAIN 16
#define INSTR_MAX_CONFIG 32
#define INSTR_MAX_MATCH 5
#define INSTR_MAX_VALUE 128
#define INSTR_MAX_IMAGE 64

typedef enum { OBJ_VM = 1, OBJ_VNF = 2, OBJ_SFC = 3 } obj_kind_t;
typedef enum { VERB_CREATE = 1, VERB_UPDATE = 2, VERB_DELETE = 3 } verb_t;

/* Known VNF types (NULL-terminated). */
extern const char *const INSTR_VNF_TYPES[];

typedef struct {
	char key[INSTR_MAX_NAME + 1];
	char value[INSTR_MAX_VALUE + 1];
} instr_kv_t;

typedef struct {
	obj_kind_t kind;
	verb_t verb;
	char name[INSTR_MAX_NAME + 1];
	char type[INSTR_MAX_NAME + 1];       /* vnf create */
	char vm[INSTR_MAX_NAME + 1];         /* vnf create, optional ("" if absent) */
	char image[INSTR_MAX_IMAGE + 1];     /* optional */
	char flavor[INSTR_MAX_IMAGE + 1];    /* optional */
	instr_kv_t config[INSTR_MAX_CONFIG]; /* sorted by key after parsing */
	int n_config;
	char chain[INSTR_MAX_CHAIN][INSTR_MAX_NAME + 1];
	int n_chain;
	instr_kv_t match[INSTR_MAX_MATCH];   /* in given order */
	int n_match;
} instr_t;

/* Parses text[0..len).  Returns 0, or -1 with err = "at N: reason"
 * (N the 1-based character position) and *err_pos = N. */
int instr_parse(instr_t *out, const char *text, size_t len, size_t *err_pos,
		char *err, size_t errlen) WUR;

/* instr_parse through a two-entry per-thread cache of texts that parsed
 * (same result, same errors), without copying the (large) result: NULL on
 * error.  The result is read-only and stays valid until the second next
 * call on this thread (the next call may evict only the other entry). */
const instr_t *instr_parse_ref(const char *text, size_t len, size_t *err_pos, char *err,
			       size_t errlen) WUR;

/* Canonical text; caller frees. */
char *instr_format(const instr_t *in);

/* SLA operation bit (tx.h OP_*) for kind+verb. */
uint16_t instr_op_bit(obj_kind_t kind, verb_t verb);
const char *obj_kind_name(int kind);    /* "vm", "vnf", "sfc" */
const char *verb_name(int verb);        /* "create", "update", "delete" */
int obj_kind_parse(const char *s);      /* -1 if unknown */

#endif
