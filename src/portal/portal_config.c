/*
 * portal_config.c — loading the portal's JSON configuration (portal.h).
 * A table lists each key with its kind, whether it is required and its
 * bounds; the walk over it and the typed checks are cfgfile.h's, so the
 * checks and the messages are uniform.  What the config
 * cannot check alone (the genesis, the certificate) is checked by
 * portal_run at start.
 */
#include "portal.h"
#include "../lib/cfgfile.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum { K_STR, K_HOST, K_PATH, K_SECS, K_LEVEL, K_NODES };

/* A key named as its field; lo..hi bound K_SECS. */
#define KEY(f, kind, required, lo, hi) { #f, kind, required, offsetof(portal_config_t, f), lo, hi, 0 }
static const cfg_key_t keys[] = {
	KEY(listen, K_STR, 1, 0, 0),
	KEY(public_host, K_HOST, 0, 0, 0),
	KEY(genesis, K_PATH, 1, 0, 0),
	KEY(tls_cert, K_PATH, 1, 0, 0),
	KEY(tls_key, K_PATH, 1, 0, 0),
	KEY(ca, K_PATH, 0, 0, 0),
	KEY(nodes, K_NODES, 0, 0, 0),
	KEY(session_idle_s, K_SECS, 0, 10, 7 * 86400),
	KEY(session_max_s, K_SECS, 0, 10, 30 * 86400),
	KEY(web_dir, K_PATH, 0, 0, 0),
	KEY(log_level, K_LEVEL, 0, 0, 0),
};

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

/* A Host header value: 1..255 printable ASCII characters, no blank. */
static int is_host(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 255)
		return 0;
	for (const char *p = s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '/')
			return 0;
	return 1;
}

/* One key's value (cfg_value_fn); 0 or -1 with the reason. */
static int load_key(void *ctx, const cfg_key_t *d, json_t *v, const char *txt, char *err, size_t errlen)
{
	portal_config_t *c = ctx;
	char **field = (char **)((char *)c + d->off);    /* K_STR, K_PATH */
	switch (d->kind) {
	case K_STR:
		return cfg_checked_string(v, c->path, d->key, txt, is_listen, "HOST:PORT", field, err, errlen);
	case K_HOST:
		return cfg_checked_string(v, c->path, d->key, txt, is_host, "HOST or HOST:PORT", field, err,
					  errlen);
	case K_PATH:
		return cfg_path(v, c->path, d->key, txt, c->dir, field, err, errlen);
	case K_SECS:
		return cfg_integer(v, c->path, d->key, txt, "seconds", d->lo, d->hi,
				   (uint64_t *)((char *)c + d->off), err, errlen);
	case K_LEVEL:
		return cfg_log_level(v, c->path, txt, &c->log_level, err, errlen);
	case K_NODES:
		return cfg_https_urls(v, c->path, txt, &c->nodes, &c->n_nodes, err, errlen);
	}
	return -1;
}

int portal_config_load(portal_config_t *c, const char *path, char *err, size_t errlen)
{
	int ret = -1;
	memset(c, 0, sizeof(*c));
	c->path = xstrdup(path);
	c->log_level = LOG_INFO;
	c->session_idle_s = 1800;
	c->session_max_s = 8 * 3600;
	json_t *root = cfg_load_object(path, err, errlen);
	if (!root || !(c->dir = cfg_dir_of(path, err, errlen)) ||
	    cfg_walk(root, path, keys, ARRAY_LEN(keys), 1, load_key, c, err, errlen) < 0)
		goto out;
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
	free(c->public_host);
	free(c->genesis);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->ca);
	cfg_strv_free(c->nodes, c->n_nodes);
	free(c->web_dir);
	memset(c, 0, sizeof(*c));
}
