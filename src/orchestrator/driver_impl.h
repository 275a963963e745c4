/*
 * driver_impl.h — what the drivers in drivers/ share with driver.c and
 * nothing else includes: the operations table each driver provides, the
 * child-process runner (argv only, no shell, timeout, process group,
 * bounded output, optional network namespace), config checking helpers
 * that quote the bad value, and the spec arithmetic (canonical create
 * text, updates merged as the ledger merges them).
 */
#ifndef BSEC_DRIVER_IMPL_H
#define BSEC_DRIVER_IMPL_H

#include <jansson.h>
#include "driver.h"

typedef struct {
	const char *type;
	/* Reads the config (checked: unknown keys and bad values fail). */
	int (*open)(driver_t *drv, const json_t *cfg, char *err, size_t elen);
	void (*close)(driver_t *drv);
	int (*apply)(driver_t *drv, const instr_t *in, const char *domain, const char *owner,
		     char *result, size_t rlen, char *err, size_t elen);
	int (*list)(driver_t *drv, driver_list_cb cb, void *ctx, char *err, size_t elen);
	/* Optional: NULL means "search driver_list". */
	int (*get)(driver_t *drv, int kind, const char *name, int *exists, driver_obj_t *out,
		   char *err, size_t elen);
} driver_ops_t;

struct driver_t {
	const driver_ops_t *ops;
	char prefix[DRIVER_MAX_PREFIX + 1];
	void *impl;                             /* the driver's own state */
};

extern const driver_ops_t DRIVER_NETNS_OPS, DRIVER_EXEC_OPS, DRIVER_SIM_OPS;

/* ---- child processes ---- */

typedef struct {
	const char *const *argv;        /* argv[0] is looked up on PATH unless it has a '/' */
	int netns_fd;                   /* >= 0: the child joins this network namespace first */
	const char *input;              /* written to the child's stdin, then closed (NULL: /dev/null) */
	size_t input_len;
	int timeout_ms;                 /* the whole process group is killed after it */
	size_t max_output;              /* per stream; exceeding it kills the group and fails */
} drv_cmd_t;

typedef struct {
	char *out, *errs;               /* stdout / stderr, NUL-terminated (fresh, never NULL) */
	size_t out_len, errs_len;
	int status;                     /* exit code, 128+signal, or -1 if it never ran */
} drv_cmd_out_t;

/* Runs c and waits.  Returns 0 when it exited with status 0; otherwise -1
 * with err = "`PROG' exited with status N: STDERR" (or timed out, output
 * too large, not found).  o is always filled; free it with
 * drv_cmd_out_free.  The child gets a fresh process group, default signal
 * dispositions, an empty signal mask and no descriptors but 0, 1, 2. */
int drv_run(const drv_cmd_t *c, drv_cmd_out_t *o, char *err, size_t elen);
void drv_cmd_out_free(drv_cmd_out_t *o);
/* Path of prog (searched on PATH, then /usr/sbin:/sbin:/usr/bin:/bin) or
 * NULL; caller frees. */
char *drv_which(const char *prog);

/* ---- small shared helpers ---- */

/* "vnf:create" for an instruction's kind and verb. */
void drv_op_name(char *out, size_t len, int kind, int verb);
/* Is s a valid operation name ("vm:create" ... "sfc:delete")? */
int drv_is_op_name(const char *s);
/* Canonical create-form spec of a create instruction (fresh string). */
char *drv_create_spec(const instr_t *in);
/* The spec after update upd on an object whose spec is old (fresh string),
 * or NULL with a reason. */
char *drv_updated_spec(const char *old, const instr_t *upd, char *err, size_t elen);
/* Copies src into dst (size len) as printable ASCII on one line: control
 * and non-ASCII bytes become '?', newlines "; ", surrounding blanks go. */
void drv_printable(char *dst, size_t len, const char *src, size_t srclen);
/* A JSON value as compact text for error messages (fresh string). */
char *drv_json_text(const json_t *v);
/* A growing NUL-terminated string (s is never NULL after sb_init). */
typedef struct {
	char *s;
	size_t len, cap;
} sbuf_t;
void sb_init(sbuf_t *b);
void sb_add(sbuf_t *b, const char *s, size_t n);
void sb_str(sbuf_t *b, const char *s);
void sb_printf(sbuf_t *b, const char *fmt, ...) PRINTF(2, 3);
/* Milliseconds since a mono_us() stamp. */
unsigned drv_ms_since(uint64_t t0_us);
/* Sleeps ms milliseconds (resumes after signals). */
void drv_sleep_ms(uint64_t ms);

#endif
