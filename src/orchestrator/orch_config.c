/*
 * orch_config.c — loading an orchestrator's JSON configuration (see
 * orchestrator.h).  A table lists each scalar key with its kind, so the
 * checks and the messages are uniform; nodes and driver are checked
 * after it.  Values the config cannot check alone (the provider, its
 * domain, the key) are checked against the genesis by orchestrator_run.
 */
#include "orchestrator.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { K_STR, K_PATH, K_LEVEL, K_NODES, K_DRIVER, K_MS };

typedef struct {
	const char *key;
	int kind;
	int required;
	size_t off;
} ckey_t;

#define OFF(f) offsetof(orch_config_t, f)
static const ckey_t keys[] = {
	{ "name", K_STR, 1, OFF(name) },
	{ "domain", K_STR, 0, OFF(domain) },
	{ "genesis", K_PATH, 1, OFF(genesis) },
	{ "orchestrator_key", K_PATH, 1, OFF(orchestrator_key) },
	{ "ca", K_PATH, 0, OFF(ca) },
	{ "nodes", K_NODES, 0, OFF(nodes) },
	{ "data_dir", K_PATH, 0, OFF(data_dir) },
	{ "driver", K_DRIVER, 1, OFF(driver) },
	{ "log_level", K_LEVEL, 0, OFF(log_level) },
	{ "attest_interval_ms", K_MS, 0, OFF(attest_interval_ms) },
};

static const char *const LEVELS[] = { "debug", "info", "warn", "error" };

static char *join(const char *dir, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	if (!strcmp(p, ".") || !strcmp(p, "./"))
		return xstrdup(dir);
	return xasprintf("%s/%s", dir, p);
}

/* [a-z0-9][a-z0-9-]{0,31}, the names of the genesis. */
static int is_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 32 || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int check_nodes(orch_config_t *c, const json_t *v, const char *txt, char *err, size_t errlen)
{
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 256) {
		err_set(err, errlen, "%s: `nodes' is %s, expected a list of 1..256 https:// URLs", c->path, txt);
		return -1;
	}
	c->n_nodes = json_array_size(v);
	c->nodes = xcalloc(c->n_nodes, sizeof(char *));
	for (size_t i = 0; i < c->n_nodes; i++) {
		const char *u = json_string_value(json_array_get(v, i));
		if (!u || strncmp(u, "https://", 8) || strlen(u) < 9 || strlen(u) > 512) {
			char *t = json_dumps(json_array_get(v, i), JSON_ENCODE_ANY);
			err_set(err, errlen, "%s: nodes[%zu] is %s, expected an https:// URL", c->path, i,
				t ? t : "?");
			free(t);
			return -1;
		}
		c->nodes[i] = xstrdup(u);
	}
	return 0;
}

static int check_driver(orch_config_t *c, json_t *v, const char *txt, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(v, "type"));
	if (!json_is_object(v)) {
		err_set(err, errlen, "%s: `driver' is %s, expected an object {\"type\": \"netns|exec|sim\", ...}",
			c->path, txt);
		return -1;
	}
	if (!type || (strcmp(type, "netns") && strcmp(type, "exec") && strcmp(type, "sim"))) {
		char *t = json_dumps(json_object_get(v, "type"), JSON_ENCODE_ANY);
		err_set(err, errlen, "%s: driver.type is %s, expected \"netns\", \"exec\" or \"sim\"", c->path,
			t ? t : "missing");
		free(t);
		return -1;
	}
	c->driver = json_deep_copy(v);
	c->driver_type = xstrdup(type);
	return 0;
}

int orch_config_load(orch_config_t *c, const char *path, char *err, size_t errlen)
{
	int ret = -1;
	json_error_t je;
	char abs[PATH_MAX];
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	c->log_level = LOG_INFO;
	c->attest_interval_ms = ORCH_ATTEST_DEFAULT_MS;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(err, errlen, "%s: line %d: %s", path, je.line, je.text);
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(err, errlen, "%s: must be a JSON object", path);
		goto out;
	}
	if (!realpath(path, abs)) {
		err_set(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	char *slash = strrchr(abs, '/');
	c->dir = slash == abs ? xstrdup("/") : xstrndup(abs, (size_t)(slash - abs));
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		size_t i;
		for (i = 0; i < ARRAY_LEN(keys); i++)
			if (!strcmp(keys[i].key, k))
				break;
		if (i == ARRAY_LEN(keys)) {
			err_set(err, errlen, "%s: unknown key `%s' (name, domain, genesis, orchestrator_key, ca, "
				"nodes, data_dir, driver, log_level, attest_interval_ms)", path, k);
			goto out;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const ckey_t *d = &keys[i];
		v = json_object_get(root, d->key);
		if (!v) {
			if (d->required) {
				err_set(err, errlen, "%s: `%s' is required", path, d->key);
				goto out;
			}
			continue;
		}
		char *txt = json_dumps(v, JSON_ENCODE_ANY);
		int bad = 0;
		switch (d->kind) {
		case K_STR:
		case K_PATH:
			if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096) {
				err_set(err, errlen, "%s: `%s' is %s, expected a non-empty string", path, d->key,
					txt);
				bad = 1;
				break;
			}
			if (d->kind == K_STR && !is_name(json_string_value(v))) {
				err_set(err, errlen, "%s: `%s' is %s, expected a name ([a-z0-9][a-z0-9-]{0,31})",
					path, d->key, txt);
				bad = 1;
				break;
			}
			*(char **)((char *)c + d->off) = d->kind == K_PATH ? join(c->dir, json_string_value(v))
									   : xstrdup(json_string_value(v));
			break;
		case K_LEVEL: {
			int found = -1;
			for (int j = 0; j < 4; j++)
				if (json_is_string(v) && !strcmp(json_string_value(v), LEVELS[j]))
					found = j;
			if (found < 0) {
				err_set(err, errlen, "%s: `log_level' is %s, expected debug, info, warn or error",
					path, txt);
				bad = 1;
			}
			c->log_level = found;
			break;
		}
		case K_NODES:
			bad = check_nodes(c, v, txt, err, errlen) < 0;
			break;
		case K_DRIVER:
			bad = check_driver(c, v, txt, err, errlen) < 0;
			break;
		case K_MS:
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > ORCH_ATTEST_MAX_MS ||
			    (json_integer_value(v) > 0 && json_integer_value(v) < ORCH_ATTEST_MIN_MS)) {
				err_set(err, errlen, "%s: `%s' is %s, expected 0 (off) or %d..%d ms", path,
					d->key, txt, ORCH_ATTEST_MIN_MS, ORCH_ATTEST_MAX_MS);
				bad = 1;
				break;
			}
			*(uint64_t *)((char *)c + d->off) = (uint64_t)json_integer_value(v);
			break;
		}
		free(txt);
		if (bad)
			goto out;
	}
	if (!c->data_dir)
		c->data_dir = xstrdup(c->dir);
	ret = 0;
out:
	json_decref(root);
	if (ret < 0)
		orch_config_free(c);
	return ret;
}

void orch_config_free(orch_config_t *c)
{
	free(c->path);
	free(c->dir);
	free(c->name);
	free(c->domain);
	free(c->genesis);
	free(c->orchestrator_key);
	free(c->ca);
	for (size_t i = 0; i < c->n_nodes; i++)
		free(c->nodes[i]);
	free(c->nodes);
	free(c->data_dir);
	json_decref(c->driver);
	free(c->driver_type);
	memset(c, 0, sizeof(*c));
}
