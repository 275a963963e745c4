/*
 * exec.c — the exec driver (DESIGN §8): the operator's own platform tools
 * (osm, openstack, kubectl, a script) run from argument templates, one per
 * operation.  A template is a JSON array of strings; each item becomes
 * exactly one argv item after its placeholders are replaced — no shell,
 * no word splitting, no globbing, so a value with spaces, quotes or ';'
 * stays one argument.
 *
 * Config:
 *   "vm:create" ... "sfc:delete": ["osm", "ns-create", "--name", "{name}"]
 *                        an operation without a template fails when used;
 *   "list": [...]        optional: prints what exists, one JSON object per
 *                        line: {"kind": "vnf", "name": "fw", "spec": "...",
 *                        "domain": "...", "owner": "...", "problem": "..."}
 *                        (kind and name required);
 *   "timeout_ms": 30000  per command (1 .. 3600000); the whole process
 *                        group is killed when it expires;
 *   "max_output": 65536  bytes per stream (1 .. 16 MiB); more kills it.
 *
 * Placeholders: {name} {type} {vm} {image} {flavor} {domain} {owner}
 * {chain} (VNFs, comma-separated) {match} (k=v,k=v) {config:KEY} (that
 * --config value) {kind} {verb} {prefix}; absent values expand to "".
 * "{{" is a literal "{"; any other "{" must start a known placeholder
 * (checked at start).  The "list" template knows only {prefix}.  An item
 * that does not start with '-' but would once expanded (a --config value
 * may begin with one) fails the request instead of handing the tool an
 * option the tenant chose.
 *
 * Exit status 0 is success with stdout (trimmed, one line, bounded) as the
 * result; anything else is an error carrying stderr.  Idempotence (create
 * of what exists, delete of what is gone) is the operator's tools' job.
 * Without "list" a request interrupted by a crash is not run again but
 * answered as an error whose outcome is unknown (orchestrator.c).
 */
#include "../driver_impl.h"
#include "../../lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 256
#define MAX_ITEM 4096

static const char *const EXEC_OPS[] = { "vm:create", "vm:delete", "vnf:create", "vnf:update",
					"vnf:delete", "sfc:create", "sfc:update", "sfc:delete" };
#define N_OPS ARRAY_LEN(EXEC_OPS)

typedef struct {
	json_t *tmpl[N_OPS];            /* arrays of strings, or NULL */
	json_t *list;
	int timeout_ms;
	size_t max_output;
} exec_t;

/* What a placeholder stands for; in == NULL only checks the name.
 * Returns 0 or -1 for an unknown placeholder. */
static int expand_one(sbuf_t *b, const char *ph, size_t n, const instr_t *in, const char *domain,
		      const char *owner, const char *prefix, int list_only)
{
	char name[48];
	if (n >= sizeof(name))
		return -1;
	memcpy(name, ph, n);
	name[n] = 0;
	if (!strcmp(name, "prefix")) {
		if (prefix)
			sb_str(b, prefix);
		return 0;
	}
	if (list_only)
		return -1;
	if (!strncmp(name, "config:", 7)) {
		const char *k = name + 7;
		size_t kl = strlen(k);
		if (kl == 0 || kl > INSTR_MAX_NAME)
			return -1;
		for (size_t i = 0; i < kl; i++) {
			char c = k[i];
			int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				 (i > 0 && (c == '_' || c == '.' || c == '-'));
			if (!ok)
				return -1;
		}
		for (int i = 0; in && i < in->n_config; i++)
			if (!strcmp(in->config[i].key, k))
				sb_str(b, in->config[i].value);
		return 0;
	}
	static const char *const NAMES[] = { "name", "type", "vm", "image", "flavor", "domain", "owner",
					     "chain", "match", "kind", "verb" };
	size_t idx;
	for (idx = 0; idx < ARRAY_LEN(NAMES); idx++)
		if (!strcmp(NAMES[idx], name))
			break;
	if (idx == ARRAY_LEN(NAMES))
		return -1;
	if (!in)
		return 0;
	switch (idx) {
	case 0: sb_str(b, in->name); break;
	case 1: sb_str(b, in->type); break;
	case 2: sb_str(b, in->vm); break;
	case 3: sb_str(b, in->image); break;
	case 4: sb_str(b, in->flavor); break;
	case 5: sb_str(b, domain); break;
	case 6: sb_str(b, owner); break;
	case 7:
		for (int i = 0; i < in->n_chain; i++) {
			if (i)
				sb_str(b, ",");
			sb_str(b, in->chain[i]);
		}
		break;
	case 8:
		for (int i = 0; i < in->n_match; i++) {
			if (i)
				sb_str(b, ",");
			sb_str(b, in->match[i].key);
			sb_str(b, "=");
			sb_str(b, in->match[i].value);
		}
		break;
	case 9: sb_str(b, obj_kind_name(in->kind)); break;
	case 10: sb_str(b, verb_name(in->verb)); break;
	}
	return 0;
}

/* Expands one template item into a fresh string; in == NULL checks it
 * (then the result is NULL on success too).  On error returns NULL with
 * a reason and sets *bad. */
static char *expand(const char *item, const instr_t *in, const char *domain, const char *owner,
		    const char *prefix, int list_only, int *bad, char *err, size_t elen)
{
	sbuf_t b;
	sb_init(&b);
	*bad = 0;
	for (const char *p = item; *p;) {
		if (p[0] == '{' && p[1] == '{') {
			sb_add(&b, "{", 1);
			p += 2;
			continue;
		}
		if (p[0] != '{') {
			const char *q = strchr(p, '{');
			size_t n = q ? (size_t)(q - p) : strlen(p);
			sb_add(&b, p, n);
			p += n;
			continue;
		}
		const char *close = strchr(p, '}');
		if (!close || expand_one(&b, p + 1, (size_t)(close - p - 1), in, domain, owner, prefix,
					 list_only) < 0) {
			int n = close ? (int)(close - p + 1) : (int)strlen(p);
			err_set(err, elen, "unknown placeholder `%.*s' in `%s'%s", n > 60 ? 60 : n, p, item,
				list_only ? " (the list template knows only {prefix})" : "");
			*bad = 1;
			break;
		}
		p = close + 1;
	}
	if (*bad || !in) {
		free(b.s);
		return NULL;
	}
	/* a tenant's value must not become an option of the tool: an item
	 * that only starts with '-' once expanded got its dash from a value
	 * (a --config value may start with one; the grammar is on chain) */
	if (item[0] != '-' && b.s && b.s[0] == '-') {
		err_set(err, elen, "`%.60s' would start with '-' once expanded (`%.60s'), which the tool would "
			"read as an option; refused", item, b.s);
		*bad = 1;
		free(b.s);
		return NULL;
	}
	return b.s;
}

static int check_template(const char *key, const json_t *v, int list_only, char *err, size_t elen)
{
	char why[256];
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > MAX_ITEMS) {
		char *t = drv_json_text(v);
		err_set(err, elen, "exec: %s must be an array of 1..%d strings (program first), got `%s'", key,
			MAX_ITEMS, t);
		free(t);
		return -1;
	}
	size_t i;
	json_t *it;
	json_array_foreach(v, i, it) {
		int bad;
		if (!json_is_string(it) || json_string_length(it) > MAX_ITEM ||
		    strlen(json_string_value(it)) != json_string_length(it) || (i == 0 && !json_string_length(it))) {
			char *t = drv_json_text(it);
			err_set(err, elen, "exec: %s[%zu] must be a string of %s..%d characters without NUL, got `%s'",
				key, i, i ? "0" : "1", MAX_ITEM, t);
			free(t);
			return -1;
		}
		expand(json_string_value(it), NULL, NULL, NULL, NULL, list_only, &bad, why, sizeof(why));
		if (bad) {
			err_set(err, elen, "exec: %s[%zu]: %s", key, i, why);
			return -1;
		}
	}
	return 0;
}

static int int_value(const char *key, const json_t *v, long long lo, long long hi, long long *out, char *err,
		     size_t elen)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		char *t = drv_json_text(v);
		err_set(err, elen, "exec: %s must be an integer %lld..%lld, got `%s'", key, lo, hi, t);
		free(t);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static void exec_close(driver_t *drv)
{
	exec_t *x = drv->impl;
	if (!x)
		return;
	for (size_t i = 0; i < N_OPS; i++)
		json_decref(x->tmpl[i]);
	json_decref(x->list);
	free(x);
	drv->impl = NULL;
}

static int exec_open(driver_t *drv, const json_t *cfg, char *err, size_t elen)
{
	exec_t *x = xcalloc(1, sizeof(*x));
	const char *key;
	json_t *v;
	int ret = -1;
	long long n;
	drv->impl = x;
	x->timeout_ms = 30000;
	x->max_output = 65536;
	json_object_foreach((json_t *)cfg, key, v) {
		size_t i;
		for (i = 0; i < N_OPS; i++)
			if (!strcmp(EXEC_OPS[i], key))
				break;
		if (i < N_OPS) {
			if (check_template(key, v, 0, err, elen) < 0)
				goto out;
			x->tmpl[i] = json_deep_copy(v);
		} else if (!strcmp(key, "list")) {
			if (check_template(key, v, 1, err, elen) < 0)
				goto out;
			x->list = json_deep_copy(v);
		} else if (!strcmp(key, "timeout_ms")) {
			if (int_value(key, v, 1, 3600000, &n, err, elen) < 0)
				goto out;
			x->timeout_ms = (int)n;
		} else if (!strcmp(key, "max_output")) {
			if (int_value(key, v, 1, 16 << 20, &n, err, elen) < 0)
				goto out;
			x->max_output = (size_t)n;
		} else {
			err_set(err, elen, "exec: unknown config key `%s' (vm:create ... sfc:delete, list, "
				"timeout_ms, max_output)", key);
			goto out;
		}
	}
	if (!x->list)
		log_warn("driver", "exec: no \"list\" template: the orchestrator cannot see the platform, so "
			 "a request it was running when it crashed is answered \"outcome unknown\" (never run "
			 "twice), and drift cannot be attested");
	ret = 0;
out:
	if (ret < 0)
		exec_close(drv);
	return ret;
}

/* argv from a template (NULL-terminated, every item fresh); NULL on error. */
static char **build_argv(const json_t *tmpl, const instr_t *in, const char *domain, const char *owner,
			 const char *prefix, int list_only, char *err, size_t elen)
{
	size_t n = json_array_size(tmpl);
	char **argv = xcalloc(n + 1, sizeof(*argv));
	for (size_t i = 0; i < n; i++) {
		int bad;
		instr_t empty;
		memset(&empty, 0, sizeof(empty));
		argv[i] = expand(json_string_value(json_array_get(tmpl, i)), in ? in : &empty, domain ? domain : "",
				 owner ? owner : "", prefix, list_only, &bad, err, elen);
		if (!argv[i]) {
			for (size_t j = 0; j < i; j++)
				free(argv[j]);
			free(argv);
			return NULL;
		}
	}
	return argv;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static int exec_apply(driver_t *drv, const instr_t *in, const char *domain, const char *owner, char *result,
		      size_t rlen, char *err, size_t elen)
{
	exec_t *x = drv->impl;
	int ret = -1;
	char op[32], why[1024];
	char **argv = NULL;
	drv_cmd_out_t o = { 0 };
	uint64_t t0 = mono_us();
	drv_op_name(op, sizeof(op), in->kind, in->verb);
	size_t i;
	for (i = 0; i < N_OPS; i++)
		if (!strcmp(EXEC_OPS[i], op))
			break;
	if (i == N_OPS || !x->tmpl[i]) {
		err_set(err, elen, "exec: no template for %s in the driver config", op);
		goto out;
	}
	if (!(argv = build_argv(x->tmpl[i], in, domain, owner, drv->prefix, 0, why, sizeof(why)))) {
		err_set(err, elen, "exec %s: %s", op, why);
		goto out;
	}
	drv_cmd_t c = { (const char *const *)argv, -1, NULL, 0, x->timeout_ms, x->max_output };
	if (drv_run(&c, &o, why, sizeof(why)) < 0) {
		err_set(err, elen, "exec %s %s: %s", op, in->name, why);
		goto out;
	}
	drv_printable(result, rlen, o.out, o.out_len);
	if (!result[0])
		err_set(result, rlen, "exec: %s %s done in %u ms", op, in->name, drv_ms_since(t0));
	ret = 0;
out:
	drv_cmd_out_free(&o);
	free_argv(argv);
	return ret;
}

static int str_field(const json_t *o, const char *k, char *dst, size_t len)
{
	json_t *v = json_object_get(o, k);
	if (!v) {
		dst[0] = 0;
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= len)
		return -1;
	drv_printable(dst, len, json_string_value(v), json_string_length(v));
	return 0;
}

static int exec_list(driver_t *drv, driver_list_cb cb, void *ctx, char *err, size_t elen)
{
	exec_t *x = drv->impl;
	int ret = -1;
	char why[1024];
	char **argv = NULL;
	drv_cmd_out_t o = { 0 };
	driver_obj_t *d = xmalloc(sizeof(*d));
	if (!x->list) {
		err_set(err, elen, "exec: no \"list\" template in the driver config: cannot see what exists");
		goto out;
	}
	if (!(argv = build_argv(x->list, NULL, NULL, NULL, drv->prefix, 1, why, sizeof(why)))) {
		err_set(err, elen, "exec list: %s", why);
		goto out;
	}
	drv_cmd_t c = { (const char *const *)argv, -1, NULL, 0, x->timeout_ms, x->max_output };
	if (drv_run(&c, &o, why, sizeof(why)) < 0) {
		err_set(err, elen, "exec list: %s", why);
		goto out;
	}
	int lineno = 0, stop = 0;
	for (char *save = NULL, *line = strtok_r(o.out, "\n", &save); line && !stop;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		size_t ll = strlen(line);
		while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' '))
			line[--ll] = 0;
		if (!ll)
			continue;
		json_error_t je;
		json_t *j = json_loads(line, 0, &je);
		json_t *kind = j ? json_object_get(j, "kind") : NULL, *name = j ? json_object_get(j, "name") : NULL;
		int k = json_is_string(kind) ? obj_kind_parse(json_string_value(kind)) : -1;
		memset(d, 0, sizeof(*d));
		d->kind = k;
		int bad = k < 0 || !json_is_string(name) || !json_string_length(name) ||
			  str_field(j, "name", d->name, sizeof(d->name)) < 0 ||
			  str_field(j, "domain", d->domain, sizeof(d->domain)) < 0 ||
			  str_field(j, "owner", d->owner, sizeof(d->owner)) < 0 ||
			  str_field(j, "spec", d->spec, sizeof(d->spec)) < 0 ||
			  str_field(j, "problem", d->problem, sizeof(d->problem)) < 0;
		json_decref(j);
		if (bad) {
			char shown[120];
			drv_printable(shown, sizeof(shown), line, ll);
			err_set(err, elen, "exec list: line %d is not {\"kind\": \"vm|vnf|sfc\", \"name\": ...} "
				"with short string fields: `%s'", lineno, shown);
			goto out;
		}
		stop = cb(ctx, d);
	}
	ret = stop;
out:
	free(d);
	drv_cmd_out_free(&o);
	free_argv(argv);
	return ret;
}

const driver_ops_t DRIVER_EXEC_OPS = {
	.type = "exec",
	.open = exec_open,
	.close = exec_close,
	.apply = exec_apply,
	.list = exec_list,
	.get = NULL,
};
