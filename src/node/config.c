/*
 * config.c — loading a node's JSON configuration (see config.h).  A table
 * lists each key with its type and bounds, so checks and messages are
 * uniform.
 */
#include "config.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

char *path_join(const char *dir, const char *p)
{
	if (p[0] == '/' || !dir || !dir[0] || !strcmp(dir, "."))
		return xstrdup(p);
	return xasprintf("%s/%s", dir, p);
}

char *path_dir(const char *p)
{
	const char *s = strrchr(p, '/');
	if (!s)
		return xstrdup(".");
	if (s == p)
		return xstrdup("/");
	return xstrndup(p, (size_t)(s - p));
}

enum { K_STR, K_PATH, K_U64, K_LEVEL };

typedef struct {
	const char *key;
	int type;
	int required;
	size_t off;
	uint64_t lo, hi, def;
} key_t_;

#define OFF(f) offsetof(node_config_t, f)
static const key_t_ keys[] = {
	{ "name", K_STR, 1, OFF(name), 0, 0, 0 },
	{ "genesis", K_PATH, 1, OFF(genesis), 0, 0, 0 },
	{ "data_dir", K_PATH, 0, OFF(data_dir), 0, 0, 0 },
	{ "node_key", K_PATH, 1, OFF(node_key), 0, 0, 0 },
	{ "tls_cert", K_PATH, 1, OFF(tls_cert), 0, 0, 0 },
	{ "tls_key", K_PATH, 1, OFF(tls_key), 0, 0, 0 },
	{ "peer_listen", K_STR, 0, OFF(peer_listen), 0, 0, 0 },
	{ "api_listen", K_STR, 0, OFF(api_listen), 0, 0, 0 },
	{ "mempool_max", K_U64, 0, OFF(mempool_max), 16, 10000000, 200000 },
	{ "workers", K_U64, 0, OFF(workers), 0, 256, 0 },
	{ "max_body", K_U64, 0, OFF(max_body), 4096, 64u << 20, 1u << 20 },
	{ "api_timeout_s", K_U64, 0, OFF(api_timeout_s), 1, 600, 30 },
	{ "api_max_conns", K_U64, 0, OFF(api_max_conns), 16, 65536, 1024 },
	{ "log_level", K_LEVEL, 0, OFF(log_level), 0, 0, LOG_INFO },
};

int node_config_load(node_config_t *c, const char *path, char *err, size_t errlen)
{
	int ret = -1;
	json_error_t je;
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	char *dir = path_dir(path);
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(err, errlen, "%s: line %d: %s", path, je.line, je.text);
		goto out;
	}
	if (!json_is_object(root)) {
		err_set(err, errlen, "%s: must be a JSON object", path);
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		size_t i;
		for (i = 0; i < ARRAY_LEN(keys); i++)
			if (!strcmp(keys[i].key, k))
				break;
		if (i == ARRAY_LEN(keys)) {
			err_set(err, errlen, "%s: unknown key `%s'", path, k);
			goto out;
		}
	}
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const key_t_ *d = &keys[i];
		v = json_object_get(root, d->key);
		char *field = (char *)c + d->off;
		if (!v) {
			if (d->required) {
				err_set(err, errlen, "%s: `%s' is required", path, d->key);
				goto out;
			}
			if (d->type == K_U64)
				*(uint64_t *)field = d->def;
			else if (d->type == K_LEVEL)
				*(int *)field = (int)d->def;
			continue;
		}
		char *txt = json_dumps(v, JSON_ENCODE_ANY);
		switch (d->type) {
		case K_STR:
		case K_PATH:
			if (!json_is_string(v) || json_string_length(v) == 0) {
				err_set(err, errlen, "%s: `%s' is %s, expected a non-empty string", path, d->key, txt);
				free(txt);
				goto out;
			}
			*(char **)field = d->type == K_PATH ? path_join(dir, json_string_value(v))
							    : xstrdup(json_string_value(v));
			break;
		case K_U64:
			if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)d->lo ||
			    (uint64_t)json_integer_value(v) > d->hi) {
				err_set(err, errlen, "%s: `%s' is %s, expected an integer in %llu..%llu", path,
					d->key, txt, (unsigned long long)d->lo, (unsigned long long)d->hi);
				free(txt);
				goto out;
			}
			*(uint64_t *)field = (uint64_t)json_integer_value(v);
			break;
		case K_LEVEL: {
			static const char *lv[] = { "debug", "info", "warn", "error" };
			int found = -1;
			for (int j = 0; j < 4; j++)
				if (json_is_string(v) && !strcmp(json_string_value(v), lv[j]))
					found = j;
			if (found < 0) {
				err_set(err, errlen, "%s: `log_level' is %s, expected debug, info, warn or error",
					path, txt);
				free(txt);
				goto out;
			}
			*(int *)field = found;
			break;
		}
		}
		free(txt);
	}
	if (!c->data_dir)
		c->data_dir = xstrdup(dir);
	ret = 0;
out:
	json_decref(root);
	free(dir);
	if (ret < 0)
		node_config_free(c);
	return ret;
}

void node_config_free(node_config_t *c)
{
	free(c->path);
	free(c->name);
	free(c->genesis);
	free(c->data_dir);
	free(c->node_key);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->peer_listen);
	free(c->api_listen);
	memset(c, 0, sizeof(*c));
}
