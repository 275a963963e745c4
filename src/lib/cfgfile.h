/*
 * cfgfile.h — what the JSON config loaders of the node, the orchestrator
 * and the portal have in common: reading the file as one JSON object, a
 * key table walked in one place (unknown keys, required keys), and typed
 * getters whose messages name the file, the key and the bad value
 * ("F: `k' is V, expected ...").  Each loader keeps its own table of keys
 * and the checks only it needs.
 */
#ifndef BSEC_CFGFILE_H
#define BSEC_CFGFILE_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct json_t;

/* One key of a loader's table.  kind is the loader's own enum; off is the
 * offset of the field in the loader's config struct; lo, hi and def are
 * for integer kinds (unused elsewhere). */
typedef struct {
	const char *key;
	int kind;
	int required;
	size_t off;
	uint64_t lo, hi, def;
} cfg_key_t;

/* Loads one present key d with value v (txt: v as JSON, for messages)
 * into the loader's config cfg.  0, or -1 with the reason in err. */
typedef int (*cfg_value_fn)(void *cfg, const cfg_key_t *d, struct json_t *v, const char *txt,
			    char *err, size_t errlen);

/* Reads path as a JSON object (duplicate keys refused).  The root, which
 * the caller decrefs, or NULL with "path: line N: ..." or "path: must be
 * a JSON object" in err. */
struct json_t *cfg_load_object(const char *path, char *err, size_t errlen);

/* The absolute directory of the file path (symbolic links resolved);
 * caller frees.  NULL with "path: reason" in err. */
char *cfg_dir_of(const char *path, char *err, size_t errlen);

/* p relative to dir: p itself when absolute, dir for "." and "./";
 * caller frees. */
char *cfg_join(const char *dir, const char *p);

/* Refuses a key of root that keys does not list ("path: unknown key `k'",
 * followed by the list of known keys when list_known), then calls fn for
 * every listed key present, in table order, and refuses a required key
 * that is absent.  0, or -1 with the reason in err. */
int cfg_walk(struct json_t *root, const char *path, const cfg_key_t *keys, size_t n, int list_known,
	     cfg_value_fn fn, void *cfg, char *err, size_t errlen) WUR;

/* A non-empty string of at most max bytes: *out points into v.  0, or -1
 * with "path: `key' is TXT, expected a non-empty string". */
int cfg_string(const struct json_t *v, const char *path, const char *key, const char *txt, size_t max,
	       const char **out, char *err, size_t errlen) WUR;

/* A non-empty string of at most CFG_MAX_PATH bytes that is_ok accepts;
 * *out is a fresh copy (caller frees).  -1 with cfg_string's message, or
 * "path: `key' is TXT, expected WHAT" when is_ok refuses it. */
int cfg_checked_string(const struct json_t *v, const char *path, const char *key, const char *txt,
		       int (*is_ok)(const char *s), const char *what, char **out, char *err,
		       size_t errlen) WUR;

/* A file or directory: a non-empty string of at most CFG_MAX_PATH bytes
 * (cfg_string's message), taken relative to dir as cfg_join does; *out
 * is fresh (caller frees). */
#define CFG_MAX_PATH 4096
int cfg_path(const struct json_t *v, const char *path, const char *key, const char *txt, const char *dir,
	     char **out, char *err, size_t errlen) WUR;

/* An integer in lo..hi (both at most INT64_MAX).  0, or -1 with "path:
 * `key' is TXT, expected WHAT in LO..HI" (what: "an integer", "seconds"). */
int cfg_integer(const struct json_t *v, const char *path, const char *key, const char *txt,
		const char *what, uint64_t lo, uint64_t hi, uint64_t *out, char *err, size_t errlen) WUR;

/* "debug", "info", "warn" or "error" as LOG_DEBUG..LOG_ERROR.  0, or -1
 * with "path: `log_level' is TXT, expected debug, info, warn or error". */
int cfg_log_level(const struct json_t *v, const char *path, const char *txt, int *out, char *err,
		  size_t errlen) WUR;

/* A list of 1..256 https:// URLs (9..512 bytes each) for key `nodes':
 * *out (n strings; free with cfg_strv_free) and *n.  -1 with the reason
 * (the whole value, or the first bad element nodes[i]); when the value
 * is a list, *out and *n are set even then (slots not filled are NULL),
 * and the caller frees them as usual. */
int cfg_https_urls(const struct json_t *v, const char *path, const char *txt, char ***out, size_t *n,
		   char *err, size_t errlen) WUR;

/* Frees n strings and the array; NULL is fine. */
void cfg_strv_free(char **v, size_t n);

#endif
