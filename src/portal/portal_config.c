/*
 * portal_config.c — loading the portal's JSON configuration (portal.h).
 * A table lists each key with its kind, whether it is required and its
 * bounds, so the checks and the messages are uniform.  What the config
 * cannot check alone (the genesis, the certificate) is checked by
 * portal_run at start.
 */
#include "portal.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { K_STR, K_PATH, K_SECS, K_LEVEL, K_NODES };

typedef struct {
	const char *key;
	int kind;
	int required;
	size_t off;
	uint64_t min, max;       /* K_SECS */
} ckey_t;

#define OFF(f) offsetof(portal_config_t, f)
static const ckey_t keys[] = {
	{ "listen", K_STR, 1, OFF(listen), 0, 0 },
	{ "genesis", K_PATH, 1, OFF(genesis), 0, 0 },
	{ "tls_cert", K_PATH, 1, OFF(tls_cert), 0, 0 },
	{ "tls_key", K_PATH, 1, OFF(tls_key), 0, 0 },
	{ "ca", K_PATH, 0, OFF(ca), 0, 0 },
	{ "nodes", K_NODES, 0, OFF(nodes), 0, 0 },
	{ "session_idle_s", K_SECS, 0, OFF(session_idle_s), 10, 7 * 86400 },
	{ "session_max_s", K_SECS, 0, OFF(session_max_s), 10, 30 * 86400 },
	{ "web_dir", K_PATH, 0, OFF(web_dir), 0, 0 },
	{ "log_level", K_LEVEL, 0, OFF(log_level), 0, 0 },
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

/* "host:port" with a port 0..65535 (0: ephemeral). */
static int is_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || !colon[1] || strlen(colon + 1) > 5)
		return 0;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return atoi(colon + 1) <= 65535;
}

static int check_nodes(portal_config_t *c, const json_t *v, const char *txt, char *err, size_t errlen)
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

/* One key's value; 0 or -1 with the reason. */
static int load_key(portal_config_t *c, const ckey_t *d, json_t *v, char *err, size_t errlen)
{
	char *txt = json_dumps(v, JSON_ENCODE_ANY);
	int ret = -1;
	switch (d->kind) {
	case K_STR:
	case K_PATH:
		if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096) {
			err_set(err, errlen, "%s: `%s' is %s, expected a non-empty string", c->path, d->key, txt);
			goto out;
		}
		if (d->kind == K_STR && !is_listen(json_string_value(v))) {
			err_set(err, errlen, "%s: `%s' is %s, expected HOST:PORT", c->path, d->key, txt);
			goto out;
		}
		*(char **)((char *)c + d->off) = d->kind == K_PATH ? join(c->dir, json_string_value(v))
								   : xstrdup(json_string_value(v));
		break;
	case K_SECS:
		if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)d->min ||
		    json_integer_value(v) > (json_int_t)d->max) {
			err_set(err, errlen, "%s: `%s' is %s, expected seconds in %llu..%llu", c->path, d->key,
				txt, (unsigned long long)d->min, (unsigned long long)d->max);
			goto out;
		}
		*(uint64_t *)((char *)c + d->off) = (uint64_t)json_integer_value(v);
		break;
	case K_LEVEL: {
		int found = -1;
		for (int j = 0; j < 4; j++)
			if (json_is_string(v) && !strcmp(json_string_value(v), LEVELS[j]))
				found = j;
		if (found < 0) {
			err_set(err, errlen, "%s: `log_level' is %s, expected debug, info, warn or error",
				c->path, txt);
			goto out;
		}
		c->log_level = found;
		break;
	}
	case K_NODES:
		if (check_nodes(c, v, txt, err, errlen) < 0)
			goto out;
		break;
	}
	ret = 0;
out:
	free(txt);
	return ret;
}

int portal_config_load(portal_config_t *c, const char *path, char *err, size_t errlen)
{
	int ret = -1;
	json_error_t je;
	char abs[PATH_MAX];
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	c->log_level = LOG_INFO;
	c->session_idle_s = 1800;
	c->session_max_s = 8 * 3600;
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
			err_set(err, errlen, "%s: unknown key `%s' (listen, genesis, tls_cert, tls_key, ca, "
				"nodes, session_idle_s, session_max_s, web_dir, log_level)", path, k);
			goto out;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		v = json_object_get(root, keys[i].key);
		if (!v) {
			if (keys[i].required) {
				err_set(err, errlen, "%s: `%s' is required", path, keys[i].key);
				goto out;
			}
			continue;
		}
		if (load_key(c, &keys[i], v, err, errlen) < 0)
			goto out;
	}
	if (c->session_idle_s > c->session_max_s) {
		err_set(err, errlen, "%s: session_idle_s (%llu) is longer than session_max_s (%llu)", path,
			(unsigned long long)c->session_idle_s, (unsigned long long)c->session_max_s);
		goto out;
	}
	ret = 0;
out:
	json_decref(root);
	if (ret < 0)
		portal_config_free(c);
	return ret;
}

void portal_config_free(portal_config_t *c)
{
	free(c->path);
	free(c->dir);
	free(c->listen);
	free(c->genesis);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->ca);
	for (size_t i = 0; i < c->n_nodes; i++)
		free(c->nodes[i]);
	free(c->nodes);
	free(c->web_dir);
	memset(c, 0, sizeof(*c));
}
