/*
 * cfgfile.c — shared parts of the JSON config loaders (see cfgfile.h).
 * Every message starts with the file's path and quotes the bad value as
 * JSON, so a user can find it in the file.
 */
#include "cfgfile.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

json_t *cfg_load_object(const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(err, errlen, "%s: line %d: %s", path, je.line, je.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		err_set(err, errlen, "%s: must be a JSON object", path);
		json_decref(root);
		return NULL;
	}
	return root;
}

char *cfg_dir_of(const char *path, char *err, size_t errlen)
{
	char abs[PATH_MAX];
	if (!realpath(path, abs)) {
		err_set(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *slash = strrchr(abs, '/');
	return slash == abs ? xstrdup("/") : xstrndup(abs, (size_t)(slash - abs));
}

char *cfg_join(const char *dir, const char *p)
{
	if (p[0] == '/')
		return xstrdup(p);
	if (!strcmp(p, ".") || !strcmp(p, "./"))
		return xstrdup(dir);
	return xasprintf("%s/%s", dir, p);
}

static const cfg_key_t *key_find(const cfg_key_t *keys, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(keys[i].key, k))
			return &keys[i];
	return NULL;
}

/* " (a, b, c)": the known keys in table order, for a message; caller frees. */
static char *key_list(const cfg_key_t *keys, size_t n)
{
	char *list = xstrdup(" (");
	for (size_t i = 0; i < n; i++) {
		char *l = xasprintf("%s%s%s", list, i ? ", " : "", keys[i].key);
		free(list);
		list = l;
	}
	char *l = xasprintf("%s)", list);
	free(list);
	return l;
}

int cfg_walk(json_t *root, const char *path, const cfg_key_t *keys, size_t n, int list_known,
	     cfg_value_fn fn, void *cfg, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		if (!key_find(keys, n, k)) {
			char *list = list_known ? key_list(keys, n) : xstrdup("");
			err_set(err, errlen, "%s: unknown key `%s'%s", path, k, list);
			free(list);
			return -1;
		}
	}
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(root, keys[i].key);
		if (!v) {
			if (keys[i].required) {
				err_set(err, errlen, "%s: `%s' is required", path, keys[i].key);
				return -1;
			}
			continue;
		}
		char *txt = json_dumps(v, JSON_ENCODE_ANY);
		int r = fn(cfg, &keys[i], v, txt, err, errlen);
		free(txt);
		if (r < 0)
			return -1;
	}
	return 0;
}

int cfg_string(const json_t *v, const char *path, const char *key, const char *txt, size_t max,
	       const char **out, char *err, size_t errlen)
{
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
		err_set(err, errlen, "%s: `%s' is %s, expected a non-empty string", path, key, txt);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int cfg_checked_string(const json_t *v, const char *path, const char *key, const char *txt,
		       int (*is_ok)(const char *s), const char *what, char **out, char *err, size_t errlen)
{
	const char *s;
	if (cfg_string(v, path, key, txt, CFG_MAX_PATH, &s, err, errlen) < 0)
		return -1;
	if (!is_ok(s)) {
		err_set(err, errlen, "%s: `%s' is %s, expected %s", path, key, txt, what);
		return -1;
	}
	*out = xstrdup(s);
	return 0;
}

int cfg_path(const json_t *v, const char *path, const char *key, const char *txt, const char *dir,
	     char **out, char *err, size_t errlen)
{
	const char *s;
	if (cfg_string(v, path, key, txt, CFG_MAX_PATH, &s, err, errlen) < 0)
		return -1;
	*out = cfg_join(dir, s);
	return 0;
}

int cfg_integer(const json_t *v, const char *path, const char *key, const char *txt, const char *what,
		uint64_t lo, uint64_t hi, uint64_t *out, char *err, size_t errlen)
{
	if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
	    json_integer_value(v) > (json_int_t)hi) {
		err_set(err, errlen, "%s: `%s' is %s, expected %s in %llu..%llu", path, key, txt, what,
			(unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int cfg_log_level(const json_t *v, const char *path, const char *txt, int *out, char *err,
		  size_t errlen)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	for (int i = 0; i < (int)ARRAY_LEN(levels); i++)
		if (json_is_string(v) && !strcmp(json_string_value(v), levels[i])) {
			*out = LOG_DEBUG + i;
			return 0;
		}
	err_set(err, errlen, "%s: `log_level' is %s, expected debug, info, warn or error", path, txt);
	return -1;
}

int cfg_https_urls(const json_t *v, const char *path, const char *txt, char ***out, size_t *n,
		   char *err, size_t errlen)
{
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 256) {
		err_set(err, errlen, "%s: `nodes' is %s, expected a list of 1..256 https:// URLs", path, txt);
		return -1;
	}
	*n = json_array_size(v);
	*out = xcalloc(*n, sizeof(char *));
	for (size_t i = 0; i < *n; i++) {
		const char *u = json_string_value(json_array_get(v, i));
		if (!u || strncmp(u, "https://", 8) || strlen(u) < 9 || strlen(u) > 512) {
			char *t = json_dumps(json_array_get(v, i), JSON_ENCODE_ANY);
			err_set(err, errlen, "%s: nodes[%zu] is %s, expected an https:// URL", path, i,
				t ? t : "?");
			free(t);
			return -1;
		}
		(*out)[i] = xstrdup(u);
	}
	return 0;
}

void cfg_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n && v; i++)
		free(v[i]);
	free(v);
}
