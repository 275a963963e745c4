/*
 * config.c — loading a node's JSON configuration (see config.h).  A table
 * lists each key with its type and bounds; the walk over it and the typed
 * checks are the shared ones of cfgfile.h, so messages are uniform.
 */
#include "config.h"
#include "../lib/cfgfile.h"

#include <jansson.h>
#include <stdint.h>
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

#define OFF(f) offsetof(node_config_t, f)
static const cfg_key_t keys[] = {
	{ "name", K_STR, 1, OFF(name), 0, 0, 0 },
	{ "genesis", K_PATH, 1, OFF(genesis), 0, 0, 0 },
	{ "data_dir", K_PATH, 0, OFF(data_dir), 0, 0, 0 },
	{ "node_key", K_PATH, 1, OFF(node_key), 0, 0, 0 },
	{ "tls_cert", K_PATH, 1, OFF(tls_cert), 0, 0, 0 },
	{ "tls_key", K_PATH, 1, OFF(tls_key), 0, 0, 0 },
	{ "peer_listen", K_STR, 0, OFF(peer_listen), 0, 0, 0 },
	{ "api_listen", K_STR, 0, OFF(api_listen), 0, 0, 0 },
	{ "mempool_max", K_U64, 0, OFF(mempool_max), 16, 10000000, 200000 },
	{ "backlog_ms", K_U64, 0, OFF(backlog_ms), 0, 600000, 2000 },
	{ "workers", K_U64, 0, OFF(workers), 0, 256, 0 },
	{ "max_body", K_U64, 0, OFF(max_body), 4096, 64u << 20, 1u << 20 },
	{ "api_timeout_s", K_U64, 0, OFF(api_timeout_s), 1, 600, 30 },
	{ "api_max_conns", K_U64, 0, OFF(api_max_conns), 16, 65536, 1024 },
	{ "api_max_conns_per_addr", K_U64, 0, OFF(api_max_conns_per_addr), 0, 65536, 512 },
	{ "log_level", K_LEVEL, 0, OFF(log_level), 0, 0, LOG_INFO },
};

typedef struct {
	node_config_t *c;
	const char *dir;         /* of the config file, for relative paths */
} load_t;

/* One key's value (cfg_value_fn); 0 or -1 with the reason. */
static int load_key(void *ctx, const cfg_key_t *d, json_t *v, const char *txt, char *err, size_t errlen)
{
	load_t *l = ctx;
	char *field = (char *)l->c + d->off;
	const char *s;
	switch (d->kind) {
	case K_STR:
	case K_PATH:
		if (cfg_string(v, l->c->path, d->key, txt, SIZE_MAX, &s, err, errlen) < 0)
			return -1;
		*(char **)field = d->kind == K_PATH ? path_join(l->dir, s) : xstrdup(s);
		return 0;
	case K_U64:
		return cfg_integer(v, l->c->path, d->key, txt, "an integer", d->lo, d->hi, (uint64_t *)field,
				   err, errlen);
	case K_LEVEL:
		return cfg_log_level(v, l->c->path, txt, (int *)field, err, errlen);
	}
	return -1;
}

int node_config_load(node_config_t *c, const char *path, char *err, size_t errlen)
{
	int ret = -1;
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		char *field = (char *)c + keys[i].off;
		if (keys[i].kind == K_U64)
			*(uint64_t *)field = keys[i].def;
		else if (keys[i].kind == K_LEVEL)
			*(int *)field = (int)keys[i].def;
	}
	char *dir = path_dir(path);
	load_t l = { c, dir };
	json_t *root = cfg_load_object(path, err, errlen);
	if (!root || cfg_walk(root, path, keys, ARRAY_LEN(keys), 0, load_key, &l, err, errlen) < 0)
		goto out;
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
