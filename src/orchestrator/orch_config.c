/*
 * orch_config.c — loading an orchestrator's JSON configuration (see
 * orchestrator.h).  A table lists each scalar key with its kind; the walk
 * over it and the typed checks are cfgfile.h's, so the checks and the
 * messages are uniform; nodes and driver are checked
 * after it.  Values the config cannot check alone (the provider, its
 * domain, the key) are checked against the genesis by orchestrator_run.
 */
#include "orchestrator.h"
#include "../lib/cfgfile.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { K_STR, K_PATH, K_LEVEL, K_NODES, K_DRIVER, K_MS };

/* A key named as its field, without bounds (no integer kind here takes them). */
#define KEY(f, kind, required) { #f, kind, required, offsetof(orch_config_t, f), 0, 0, 0 }
static const cfg_key_t keys[] = {
	KEY(name, K_STR, 1),
	KEY(domain, K_STR, 0),
	KEY(genesis, K_PATH, 1),
	KEY(orchestrator_key, K_PATH, 1),
	KEY(ca, K_PATH, 0),
	KEY(nodes, K_NODES, 0),
	KEY(data_dir, K_PATH, 0),
	KEY(driver, K_DRIVER, 1),
	KEY(log_level, K_LEVEL, 0),
	KEY(attest_interval_ms, K_MS, 0),
};

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

/* One key's value (cfg_value_fn); 0 or -1 with the reason. */
static int load_key(void *ctx, const cfg_key_t *d, json_t *v, const char *txt, char *err, size_t errlen)
{
	orch_config_t *c = ctx;
	char **field = (char **)((char *)c + d->off);    /* K_STR, K_PATH */
	switch (d->kind) {
	case K_STR:
		return cfg_checked_string(v, c->path, d->key, txt, is_name, "a name ([a-z0-9][a-z0-9-]{0,31})", field, err, errlen);
	case K_PATH:
		return cfg_path(v, c->path, d->key, txt, c->dir, field, err, errlen);
	case K_LEVEL:
		return cfg_log_level(v, c->path, txt, &c->log_level, err, errlen);
	case K_NODES:
		return cfg_https_urls(v, c->path, txt, &c->nodes, &c->n_nodes, err, errlen);
	case K_DRIVER:
		return check_driver(c, v, txt, err, errlen);
	case K_MS:
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > ORCH_ATTEST_MAX_MS ||
		    (json_integer_value(v) > 0 && json_integer_value(v) < ORCH_ATTEST_MIN_MS)) {
			err_set(err, errlen, "%s: `%s' is %s, expected 0 (off) or %d..%d ms", c->path, d->key,
				txt, ORCH_ATTEST_MIN_MS, ORCH_ATTEST_MAX_MS);
			return -1;
		}
		*(uint64_t *)((char *)c + d->off) = (uint64_t)json_integer_value(v);
		return 0;
	}
	return -1;
}

int orch_config_load(orch_config_t *c, const char *path, char *err, size_t errlen)
{
	int ret = -1;
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	c->log_level = LOG_INFO;
	c->attest_interval_ms = ORCH_ATTEST_DEFAULT_MS;
	json_t *root = cfg_load_object(path, err, errlen);
	if (!root || !(c->dir = cfg_dir_of(path, err, errlen)) ||
	    cfg_walk(root, path, keys, ARRAY_LEN(keys), 1, load_key, c, err, errlen) < 0)
		goto out;
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
	cfg_strv_free(c->nodes, c->n_nodes);
	free(c->data_dir);
	json_decref(c->driver);
	free(c->driver_type);
	memset(c, 0, sizeof(*c));
}
