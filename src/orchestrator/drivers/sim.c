/*
 * sim.c — the simulated driver (DESIGN §8): an in-process model of a
 * platform, for benchmarks, tests and machines without root.  Objects
 * live in a map keyed by kind and name; every result and error says
 * "simulated", so a simulated run can never pass for a real one.
 *
 * Config (every key optional):
 *   "latency_ms": 25 | {"vnf:create": 30100, "default": 0}
 *                     time each operation takes (slept before it acts);
 *   "time_scale": 1.0  multiplies every latency (0 .. 1000);
 *   "fail": {"vnf:create": "no capacity", "sfc:delete:web": "busy"}
 *                     failure injection: the operation (or the operation
 *                     on one named object, which wins) fails with that
 *                     message after its latency, changing nothing;
 *                     "list": "API down" makes reading the platform fail
 *                     (listing, and looking one object up);
 *   "state_dir": "DIR" persist the objects to DIR/sim-PREFIX.json after
 *                     every change (atomic write) and load them at start,
 *                     so a restarted orchestrator sees the same "actual"
 *                     state; without it the state dies with the process.
 *                     The file is the simulated platform: when someone else
 *                     changes (or removes) it, every later operation sees
 *                     the change (it is read again), so drift can be staged
 *                     by editing it behind BSec's back.
 */
#include "../driver_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../lib/map.h"

static const char *const SIM_OPS[] = { "vm:create", "vm:delete", "vnf:create", "vnf:update",
				       "vnf:delete", "sfc:create", "sfc:update", "sfc:delete" };
#define N_OPS ARRAY_LEN(SIM_OPS)
#define MAX_LATENCY_MS 3600000

typedef struct {
	int kind;
	char name[INSTR_MAX_NAME + 1];
	char domain[TX_MAX_DOMAIN + 1];
	char *owner;
	char *spec;
} sim_obj_t;

typedef struct {
	map_t *objs;                    /* "kind/name" -> sim_obj_t */
	uint64_t latency[N_OPS];
	double scale;
	json_t *fail;                   /* object key -> string, or NULL */
	char *state_path;               /* or NULL */
	struct stat seen;               /* the state file as last read or written */
	int have_seen;
} sim_t;

static int op_index(const char *op)
{
	for (size_t i = 0; i < N_OPS; i++)
		if (!strcmp(SIM_OPS[i], op))
			return (int)i;
	return -1;
}

static void obj_free(sim_obj_t *o)
{
	if (!o)
		return;
	free(o->owner);
	free(o->spec);
	free(o);
}

static int key_of(char *out, size_t len, int kind, const char *name)
{
	return snprintf(out, len, "%d/%s", kind, name);
}

static sim_obj_t *obj_find(sim_t *s, int kind, const char *name)
{
	char key[64];
	int n = key_of(key, sizeof(key), kind, name);
	if (n < 0 || (size_t)n >= sizeof(key))
		return NULL; /* longer than any name */
	return map_get(s->objs, key, (size_t)n);
}

static void obj_put(sim_t *s, sim_obj_t *o)
{
	char key[64];
	int n = key_of(key, sizeof(key), o->kind, o->name);
	obj_free(map_put(s->objs, key, (size_t)n, o));
}

static sim_obj_t *obj_take(sim_t *s, int kind, const char *name)
{
	char key[64];
	int n = key_of(key, sizeof(key), kind, name);
	return map_del(s->objs, key, (size_t)n);
}

static int obj_cmp(const void *a, const void *b)
{
	const sim_obj_t *x = *(sim_obj_t *const *)a, *y = *(sim_obj_t *const *)b;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return strcmp(x->name, y->name);
}

/* The objects sorted by kind then name (caller frees the array). */
static sim_obj_t **sorted(const sim_t *s, size_t *n)
{
	size_t i = 0, k = 0;
	const void *key;
	size_t klen;
	void *val;
	sim_obj_t **v = xcalloc(map_size(s->objs) + 1, sizeof(*v));
	while (map_next(s->objs, &i, &key, &klen, &val))
		v[k++] = val;
	qsort(v, k, sizeof(*v), obj_cmp);
	*n = k;
	return v;
}

/* ---- persistence ------------------------------------------------------ */

/* Remembers the state file's identity after we read or wrote it. */
static void note_file(sim_t *s)
{
	s->have_seen = s->state_path && stat(s->state_path, &s->seen) == 0;
}

static int save(sim_t *s, char *err, size_t elen)
{
	if (!s->state_path)
		return 0;
	size_t n;
	sim_obj_t **v = sorted(s, &n);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", obj_kind_name(v[i]->kind),
						     "name", v[i]->name, "domain", v[i]->domain, "owner",
						     v[i]->owner, "spec", v[i]->spec));
	json_t *doc = json_pack("{s:i,s:o}", "version", 1, "objects", arr);
	char *txt = json_dumps(doc, JSON_INDENT(1));
	char why[256];
	int ret = file_write(s->state_path, txt, strlen(txt), 0600, why, sizeof(why));
	if (ret < 0)
		err_set(err, elen, "simulated platform cannot save its state: %s", why);
	else
		note_file(s);
	free(txt);
	json_decref(doc);
	free(v);
	return ret;
}

static int load(sim_t *s, char *err, size_t elen)
{
	int ret = -1;
	size_t len;
	char why[256];
	json_t *doc = NULL;
	struct stat st;
	if (stat(s->state_path, &st) < 0 && errno == ENOENT)
		return 0;
	uint8_t *data = file_read(s->state_path, &len, 64u << 20, why, sizeof(why));
	if (!data) {
		err_set(err, elen, "sim state: %s", why);
		goto out;
	}
	json_error_t je;
	doc = json_loadb((const char *)data, len, 0, &je);
	json_t *objs = doc ? json_object_get(doc, "objects") : NULL;
	if (!json_is_array(objs)) {
		err_set(err, elen, "sim state `%s' is not a state file: %s", s->state_path,
			doc ? "no \"objects\" array" : je.text);
		goto out;
	}
	size_t i;
	json_t *e;
	json_array_foreach(objs, i, e) {
		const char *kind = NULL, *name = NULL, *domain = NULL, *owner = NULL, *spec = NULL;
		int k;
		if (json_unpack(e, "{s:s,s:s,s:s,s:s,s:s}", "kind", &kind, "name", &name, "domain", &domain,
				"owner", &owner, "spec", &spec) < 0 ||
		    (k = obj_kind_parse(kind)) < 0 || strlen(name) > INSTR_MAX_NAME ||
		    strlen(domain) > TX_MAX_DOMAIN) {
			char *t = drv_json_text(e);
			err_set(err, elen, "sim state `%s': bad object %zu `%s'", s->state_path, i, t);
			free(t);
			goto out;
		}
		sim_obj_t *o = xcalloc(1, sizeof(*o));
		o->kind = k;
		snprintf(o->name, sizeof(o->name), "%s", name);
		snprintf(o->domain, sizeof(o->domain), "%s", domain);
		o->owner = xstrdup(owner);
		o->spec = xstrdup(spec);
		obj_put(s, o);
	}
	ret = 0;
	note_file(s);
out:
	json_decref(doc);
	free(data);
	return ret;
}

static void clear_objs(sim_t *s)
{
	size_t i = 0, klen;
	const void *key;
	void *val;
	while (map_next(s->objs, &i, &key, &klen, &val))
		obj_free(val);
	map_free(s->objs);
	s->objs = map_new();
}

/* Reads the state file again when someone else changed or removed it
 * since we last read or wrote it.  0, or -1 with a reason (a file that no
 * longer parses: the platform cannot be read). */
static int refresh(sim_t *s, char *err, size_t elen)
{
	struct stat st;
	if (!s->state_path)
		return 0;
	if (stat(s->state_path, &st) < 0) {
		if (errno != ENOENT) {
			err_set(err, elen, "sim state `%s': %s", s->state_path, strerror(errno));
			return -1;
		}
		if (s->have_seen)
			clear_objs(s);   /* removed behind our back: an empty platform */
		s->have_seen = 0;
		return 0;
	}
	if (s->have_seen && st.st_ino == s->seen.st_ino && st.st_dev == s->seen.st_dev &&
	    st.st_size == s->seen.st_size && st.st_mtim.tv_sec == s->seen.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == s->seen.st_mtim.tv_nsec)
		return 0;
	clear_objs(s);
	return load(s, err, elen);
}

/* ---- config ------------------------------------------------------------ */

static int latency_value(const char *key, const json_t *v, uint64_t *ms, char *err, size_t elen)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_LATENCY_MS) {
		char *t = drv_json_text(v);
		err_set(err, elen, "sim: latency_ms%s%s must be an integer 0..%d, got `%s'", key ? "." : "",
			key ? key : "", MAX_LATENCY_MS, t);
		free(t);
		return -1;
	}
	*ms = (uint64_t)json_integer_value(v);
	return 0;
}

static int sim_open(driver_t *drv, const json_t *cfg, char *err, size_t elen)
{
	sim_t *s = xcalloc(1, sizeof(*s));
	const char *key;
	json_t *v;
	int ret = -1;
	s->objs = map_new();
	s->scale = 1.0;
	drv->impl = s;
	json_object_foreach((json_t *)cfg, key, v) {
		if (!strcmp(key, "latency_ms")) {
			uint64_t def = 0;
			if (json_is_object(v)) {
				const char *k2;
				json_t *v2;
				json_t *d = json_object_get(v, "default");
				if (d && latency_value("default", d, &def, err, elen) < 0)
					goto out;
				for (size_t i = 0; i < N_OPS; i++)
					s->latency[i] = def;
				json_object_foreach(v, k2, v2) {
					int i = op_index(k2);
					if (!strcmp(k2, "default"))
						continue;
					if (i < 0) {
						err_set(err, elen, "sim: latency_ms key `%s' is not an operation "
							"(vm:create ... sfc:delete) or \"default\"", k2);
						goto out;
					}
					if (latency_value(k2, v2, &s->latency[i], err, elen) < 0)
						goto out;
				}
			} else {
				if (latency_value(NULL, v, &def, err, elen) < 0)
					goto out;
				for (size_t i = 0; i < N_OPS; i++)
					s->latency[i] = def;
			}
		} else if (!strcmp(key, "time_scale")) {
			if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1000) {
				char *t = drv_json_text(v);
				err_set(err, elen, "sim: time_scale must be a number 0..1000, got `%s'", t);
				free(t);
				goto out;
			}
			s->scale = json_number_value(v);
		} else if (!strcmp(key, "fail")) {
			const char *k2;
			json_t *v2;
			if (!json_is_object(v)) {
				char *t = drv_json_text(v);
				err_set(err, elen, "sim: fail must be an object {\"vnf:create\": \"message\"}, got `%s'", t);
				free(t);
				goto out;
			}
			json_object_foreach(v, k2, v2) {
				char op[32];
				const char *c2 = strchr(k2, ':');
				const char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
				snprintf(op, sizeof(op), "%.*s", c3 ? (int)(c3 - k2) : (int)strlen(k2), k2);
				if (strcmp(k2, "list") &&
				    (op_index(op) < 0 || (c3 && (!c3[1] || strlen(c3 + 1) > INSTR_MAX_NAME)))) {
					err_set(err, elen, "sim: fail key `%s' is not OPERATION, OPERATION:NAME or list",
						k2);
					goto out;
				}
				if (!json_is_string(v2) || !json_string_length(v2) || json_string_length(v2) > 512) {
					char *t = drv_json_text(v2);
					err_set(err, elen, "sim: fail.%s must be a message of 1..512 characters, got `%s'",
						k2, t);
					free(t);
					goto out;
				}
			}
			s->fail = json_deep_copy(v);
		} else if (!strcmp(key, "state_dir")) {
			if (!json_is_string(v) || !json_string_length(v)) {
				char *t = drv_json_text(v);
				err_set(err, elen, "sim: state_dir must be a directory path, got `%s'", t);
				free(t);
				goto out;
			}
			if (mkdir_p(json_string_value(v), 0700) < 0) {
				err_set(err, elen, "sim: cannot create state_dir `%s': %s", json_string_value(v),
					strerror(errno));
				goto out;
			}
			s->state_path = xasprintf("%s/sim-%s.json", json_string_value(v), drv->prefix);
		} else {
			err_set(err, elen, "sim: unknown config key `%s' (latency_ms, time_scale, fail, state_dir)",
				key);
			goto out;
		}
	}
	if (s->state_path && load(s, err, elen) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		drv->ops->close(drv);
		drv->impl = NULL;
	}
	return ret;
}

static void sim_close(driver_t *drv)
{
	sim_t *s = drv->impl;
	if (!s)
		return;
	size_t i = 0, klen;
	const void *key;
	void *val;
	while (map_next(s->objs, &i, &key, &klen, &val))
		obj_free(val);
	map_free(s->objs);
	json_decref(s->fail);
	free(s->state_path);
	free(s);
	drv->impl = NULL;
}

/* ---- operations --------------------------------------------------------- */

/* " (firewall)", " (fw -> mon)" or "" for results. */
static void detail(char *out, size_t len, const instr_t *in)
{
	out[0] = 0;
	if (in->kind == OBJ_VNF && in->verb == VERB_CREATE) {
		snprintf(out, len, " (%s)", in->type);
	} else if (in->kind == OBJ_SFC && in->verb != VERB_DELETE) {
		size_t o = (size_t)snprintf(out, len, " (");
		for (int i = 0; i < in->n_chain && o < len; i++)
			o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " -> " : "", in->chain[i]);
		if (o < len)
			snprintf(out + o, len - o, ")");
	}
}

static int sim_apply(driver_t *drv, const instr_t *in, const char *domain, const char *owner, char *result,
		     size_t rlen, char *err, size_t elen)
{
	sim_t *s = drv->impl;
	int ret = -1;
	char op[32], key[80], det[INSTR_MAX_CHAIN * (INSTR_MAX_NAME + 4) + 8];
	if (refresh(s, err, elen) < 0)
		return -1;
	char *spec = NULL;
	const char *kn = obj_kind_name(in->kind);
	uint64_t t0 = mono_us();
	drv_op_name(op, sizeof(op), in->kind, in->verb);
	detail(det, sizeof(det), in);
	int oi = op_index(op);
	drv_sleep_ms((uint64_t)((double)s->latency[oi] * s->scale + 0.5));
	snprintf(key, sizeof(key), "%s:%s", op, in->name);
	json_t *f = s->fail ? json_object_get(s->fail, key) : NULL;
	if (!f && s->fail)
		f = json_object_get(s->fail, op);
	if (f) {
		err_set(err, elen, "simulated: %s", json_string_value(f));
		goto out;
	}
	sim_obj_t *o = obj_find(s, in->kind, in->name);
	switch (in->verb) {
	case VERB_CREATE:
		spec = drv_create_spec(in);
		if (o) {
			if (strcmp(o->spec, spec)) {
				err_set(err, elen, "simulated: %s %s already exists with another spec (`%s')", kn,
					in->name, o->spec);
				goto out;
			}
			err_set(result, rlen, "simulated: %s %s already exists", kn, in->name);
			break;
		}
		o = xcalloc(1, sizeof(*o));
		o->kind = in->kind;
		snprintf(o->name, sizeof(o->name), "%s", in->name);
		snprintf(o->domain, sizeof(o->domain), "%s", domain);
		o->owner = xstrdup(owner);
		o->spec = spec;
		spec = NULL;
		obj_put(s, o);
		if (save(s, err, elen) < 0) {
			obj_free(obj_take(s, in->kind, in->name));
			goto out;
		}
		err_set(result, rlen, "simulated: created %s %s%s in %u ms", kn, in->name, det, drv_ms_since(t0));
		break;
	case VERB_UPDATE: {
		if (!o) {
			err_set(err, elen, "simulated: %s %s does not exist", kn, in->name);
			goto out;
		}
		char why[256];
		if (!(spec = drv_updated_spec(o->spec, in, why, sizeof(why)))) {
			err_set(err, elen, "simulated: %s", why);
			goto out;
		}
		char *old = o->spec;
		o->spec = spec;
		spec = NULL;
		if (save(s, err, elen) < 0) {
			spec = o->spec;
			o->spec = old;
			goto out;
		}
		free(old);
		err_set(result, rlen, "simulated: updated %s %s%s in %u ms", kn, in->name, det, drv_ms_since(t0));
		break;
	}
	case VERB_DELETE:
		if (!o) {
			err_set(result, rlen, "simulated: %s %s already absent", kn, in->name);
			break;
		}
		o = obj_take(s, in->kind, in->name);
		if (save(s, err, elen) < 0) {
			obj_put(s, o);
			goto out;
		}
		obj_free(o);
		err_set(result, rlen, "simulated: deleted %s %s in %u ms", kn, in->name, drv_ms_since(t0));
		break;
	}
	ret = 0;
out:
	free(spec);
	return ret;
}

static void fill(driver_obj_t *d, const sim_obj_t *o)
{
	memset(d, 0, sizeof(*d));
	d->kind = o->kind;
	snprintf(d->name, sizeof(d->name), "%s", o->name);
	snprintf(d->domain, sizeof(d->domain), "%s", o->domain);
	snprintf(d->owner, sizeof(d->owner), "%s", o->owner);
	snprintf(d->spec, sizeof(d->spec), "%s", o->spec);
}

/* fail.list: the platform cannot be read (its API down). */
static int list_fails(const sim_t *s, char *err, size_t elen)
{
	json_t *f = s->fail ? json_object_get(s->fail, "list") : NULL;
	if (f)
		err_set(err, elen, "simulated: %s", json_string_value(f));
	return f ? -1 : 0;
}

static int sim_list(driver_t *drv, driver_list_cb cb, void *ctx, char *err, size_t elen)
{
	sim_t *s = drv->impl;
	size_t n;
	int ret = 0;
	if (list_fails(s, err, elen) < 0 || refresh(s, err, elen) < 0)
		return -1;
	sim_obj_t **v = sorted(s, &n);
	driver_obj_t *d = xmalloc(sizeof(*d));
	for (size_t i = 0; i < n && !ret; i++) {
		fill(d, v[i]);
		ret = cb(ctx, d);
	}
	free(d);
	free(v);
	return ret;
}

static int sim_get(driver_t *drv, int kind, const char *name, int *exists, driver_obj_t *out, char *err,
		   size_t elen)
{
	if (list_fails(drv->impl, err, elen) < 0 || refresh(drv->impl, err, elen) < 0)
		return -1;
	sim_obj_t *o = obj_find(drv->impl, kind, name);
	*exists = o != NULL;
	if (o)
		fill(out, o);
	return 0;
}

const driver_ops_t DRIVER_SIM_OPS = {
	.type = "sim",
	.open = sim_open,
	.close = sim_close,
	.apply = sim_apply,
	.list = sim_list,
	.get = sim_get,
};
