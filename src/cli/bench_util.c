/*
 * bench_util.c — helpers the `bsec bench` parts share (see bench.h):
 * running this binary as a child, throw-away devnets under /tmp with the
 * tenant the benchmark signs with, node status, process CPU time, and
 * small statistics (percentiles, CDF, least-squares slope).
 */
#include "cli.h"
#include "bench.h"
#include "../lib/sig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- processes ---- */

const char *bench_self_exe(void)
{
	static char self[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l <= 0)
		return "bsec";
	self[l] = 0;
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof(deleted) - 1;
	if ((size_t)l > dl && !strcmp(self + l - dl, deleted))
		self[l - dl] = 0;
	return self;
}

int bench_self_run(char *const args[], int show_output)
{
	const char *self = bench_self_exe();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (!show_output) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, 1);
				close(fd);
			}
		}
		execv(self, args);
		_exit(127);
	}
	int st;
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void bench_rmtree(const char *path)
{
	if (!path || !path[0] || !strcmp(path, "/"))
		return;
	pid_t pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", path, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

double bench_proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long ut = 0, st = 0;
	/* fields after the command: state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

pid_t bench_node_pid(const char *dir, size_t i)
{
	char *p = xasprintf("%s/node%zu/node.pid", dir, i);
	FILE *f = fopen(p, "r");
	free(p);
	int pid = -1;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return (pid_t)pid;
}

/* ---- devnets ---- */

int bench_genesis_add_tenant(const char *dir, const char *name, const char *scheme, char *err,
			     size_t errlen)
{
	int ret = -1;
	sig_scheme_t sch;
	sig_key_t *k = NULL;
	char *pub = NULL, *kp = xasprintf("%s/tenants/%s.pem", dir, name);
	char *gp = xasprintf("%s/genesis.json", dir);
	json_error_t je;
	json_t *g = json_load_file(gp, 0, &je);
	if (!g) {
		err_set(err, errlen, "%s: %s", gp, je.text);
		goto out;
	}
	if (sig_scheme_parse(scheme, &sch) < 0) {
		err_set(err, errlen, "unknown scheme `%s'", scheme);
		goto out;
	}
	k = sig_keygen(sch);
	if (sig_key_save(k, kp, err, errlen) < 0)
		goto out;
	pub = sig_pub_to_pem(sig_key_scheme(k), sig_key_pub(k));
	json_t *grants = json_array(), *prov = json_object_get(g, "providers"), *p;
	size_t i;
	json_array_foreach(prov, i, p) {
		json_t *doms = json_object_get(p, "domains"), *d;
		size_t j;
		json_array_foreach(doms, j, d)
			json_array_append_new(grants, json_pack("{s:O,s:s,s:i,s:i,s:i,s:i,s:i}", "domain", d,
				"ops", "*", "max_vms", 0, "max_vnfs", 0, "max_sfcs", 0, "max_chain", 0,
				"rate_per_min", 0));
	}
	json_t *tenants = json_object_get(g, "tenants");
	if (!json_is_array(tenants)) {
		tenants = json_array();
		json_object_set_new(g, "tenants", tenants);
	}
	json_array_append_new(tenants, json_pack("{s:s,s:s,s:o}", "name", name, "key", pub, "grants", grants));
	if (json_dump_file(g, gp, JSON_INDENT(2)) != 0) {
		err_set(err, errlen, "cannot write `%s'", gp);
		goto out;
	}
	ret = 0;
out:
	json_decref(g);
	sig_key_free(k);
	free(pub);
	free(kp);
	free(gp);
	return ret;
}

int bench_net_create(bench_net_t *b, int nodes, const char *scheme, const char *driver,
		     long view_timeout_ms, char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "/tmp/bsec-bench-XXXXXX");
	if (!mkdtemp(b->dir)) {
		err_set(err, errlen, "cannot create a directory under /tmp: %s", strerror(errno));
		return -1;
	}
	b->made = 1;
	b->nodes = nodes;
	snprintf(b->scheme, sizeof(b->scheme), "%s", scheme);
	char nb[16], vt[24];
	snprintf(nb, sizeof(nb), "%d", nodes);
	snprintf(vt, sizeof(vt), "%ld", view_timeout_ms);
	char *init[16] = { "bsec", "devnet", "init", "--dir", b->dir, "--nodes", nb, "--scheme", (char *)scheme,
			   "--driver", (char *)driver, "--force" };
	int k = 12;
	if (view_timeout_ms > 0) {
		init[k++] = "--view-timeout";
		init[k++] = vt;
	}
	init[k] = NULL;
	if (bench_self_run(init, 0) != 0) {
		err_set(err, errlen, "`bsec devnet init --dir %s --nodes %d --scheme %s --driver %s' failed", b->dir,
			nodes, scheme, driver);
		goto fail;
	}
	if (strcmp(scheme, "ed25519") && bench_genesis_add_tenant(b->dir, "bench", scheme, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	bench_net_destroy(b);
	return -1;
}

int bench_net_up(bench_net_t *b, int orchestrators, char *err, size_t errlen)
{
	char *up[] = { "bsec", "devnet", "up", "--dir", b->dir, "--detach",
		       orchestrators ? NULL : "--no-orchestrators", NULL };
	b->up = 1;
	if (bench_self_run(up, 0) != 0) {
		err_set(err, errlen, "could not start the %d-node devnet in %s (logs in %s/node*/node.log)",
			b->nodes, b->dir, b->dir);
		return -1;
	}
	return 0;
}

int bench_net_reset(bench_net_t *b, char *err, size_t errlen)
{
	char *down[] = { "bsec", "devnet", "down", "--dir", b->dir, NULL };
	if (bench_self_run(down, 0) != 0) {
		err_set(err, errlen, "`bsec devnet down --dir %s' failed", b->dir);
		return -1;
	}
	b->up = 0;
	static const char *const files[] = { "ledger.db", "ledger.db-wal", "ledger.db-shm" };
	for (int i = 0; i < b->nodes; i++)
		for (size_t k = 0; k < ARRAY_LEN(files); k++) {
			char *p = xasprintf("%s/node%d/%s", b->dir, i, files[k]);
			if (unlink(p) < 0 && errno != ENOENT) {
				err_set(err, errlen, "cannot remove `%s': %s", p, strerror(errno));
				free(p);
				return -1;
			}
			free(p);
		}
	return bench_net_up(b, 0, err, errlen);
}

void bench_net_destroy(bench_net_t *b)
{
	if (b->up) {
		char *down[] = { "bsec", "devnet", "down", "--dir", b->dir, NULL };
		bench_self_run(down, 0);
		b->up = 0;
	}
	if (b->made && !getenv("BSEC_BENCH_KEEP"))
		bench_rmtree(b->dir);
	b->made = 0;
}

int bench_set_sim(const char *dir, int nodes, json_t *latency_ms, double time_scale)
{
	for (int i = 0; i < nodes; i++) {
		char *p = xasprintf("%s/orch%d/config.json", dir, i);
		json_error_t je;
		json_t *o = json_load_file(p, 0, &je);
		json_t *drv = json_object_get(o, "driver");
		int r = -1;
		if (drv) {
			if (latency_ms)
				json_object_set(drv, "latency_ms", latency_ms);
			json_object_set_new(drv, "time_scale", json_real(time_scale));
			r = json_dump_file(o, p, JSON_INDENT(2));
		}
		json_decref(o);
		free(p);
		if (r)
			return -1;
	}
	return 0;
}

/* ---- node observations ---- */

int bench_status(const char *url, const https_trust_t *trust, int timeout_ms, json_t **out)
{
	char full[512], err[256];
	int status;
	uint8_t *resp = NULL;
	size_t rl;
	snprintf(full, sizeof(full), "%s/v1/status", url);
	*out = NULL;
	if (https_request(full, "GET", NULL, NULL, 0, trust, timeout_ms, &status, &resp, &rl, err, sizeof(err)) < 0 ||
	    status != 200) {
		free(resp);
		return -1;
	}
	*out = json_loads((char *)resp, 0, NULL);
	free(resp);
	return *out ? 0 : -1;
}

int bench_status_c(https_client_t *c, json_t **out)
{
	char err[256];
	int status;
	uint8_t *resp = NULL;
	size_t rl;
	*out = NULL;
	if (https_client_request(c, "GET", "/v1/status", NULL, NULL, 0, &status, &resp, &rl, err, sizeof(err)) < 0 ||
	    status != 200) {
		free(resp);
		return -1;
	}
	*out = json_loads((char *)resp, 0, NULL);
	free(resp);
	return *out ? 0 : -1;
}

long long bench_status_c_int(https_client_t *c, const char *field)
{
	json_t *o;
	if (bench_status_c(c, &o) < 0)
		return -1;
	json_t *v = json_object_get(o, field);
	long long r = json_is_integer(v) ? json_integer_value(v) : -1;
	json_decref(o);
	return r;
}

long long bench_status_int(const char *url, const https_trust_t *trust, const char *field)
{
	json_t *o;
	if (bench_status(url, trust, 3000, &o) < 0)
		return -1;
	json_t *v = json_object_get(o, field);
	long long r = json_is_integer(v) ? json_integer_value(v) : json_is_true(v) ? 1 : json_is_false(v) ? 0 : -1;
	json_decref(o);
	return r;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

void bench_sort(double *v, size_t n)
{
	if (n)
		qsort(v, n, sizeof(double), cmp_double);
}

double bench_pct(const double *v, size_t n, double p)
{
	if (!n)
		return NAN;
	size_t i = (size_t)ceil(p / 100.0 * (double)n);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return v[i];
}

json_t *bench_jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *bench_pct_json(const double *v, size_t n)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	json_t *o = json_object();
	json_object_set_new(o, "min", bench_jnum(n ? v[0] : NAN));
	json_object_set_new(o, "p50", bench_jnum(bench_pct(v, n, 50)));
	json_object_set_new(o, "p90", bench_jnum(bench_pct(v, n, 90)));
	json_object_set_new(o, "p99", bench_jnum(bench_pct(v, n, 99)));
	json_object_set_new(o, "p99.9", bench_jnum(bench_pct(v, n, 99.9)));
	json_object_set_new(o, "max", bench_jnum(n ? v[n - 1] : NAN));
	json_object_set_new(o, "mean", bench_jnum(n ? sum / (double)n : NAN));
	return o;
}

json_t *bench_cdf_json(const double *v, size_t n)
{
	json_t *a = json_array();
	if (!n)
		return a;
	for (int k = 1; k <= 100; k++)
		json_array_append_new(a, json_pack("[f,f]", bench_pct(v, n, k), k / 100.0));
	return a;
}

double bench_slope(const double *x, const double *y, size_t n)
{
	if (n < 2)
		return NAN;
	double mx = 0, my = 0;
	for (size_t i = 0; i < n; i++) {
		mx += x[i];
		my += y[i];
	}
	mx /= (double)n;
	my /= (double)n;
	double sxy = 0, sxx = 0;
	for (size_t i = 0; i < n; i++) {
		sxy += (x[i] - mx) * (y[i] - my);
		sxx += (x[i] - mx) * (x[i] - mx);
	}
	return sxx > 0 ? sxy / sxx : NAN;
}

void bench_print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	putchar('\n');
	json_decref(o);
}

int bench_parse_list(const char *s, long *out, int max, long lo, long hi)
{
	int n = 0;
	const char *p = s;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b = a;
		if (end == p)
			return -1;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p)
				return -1;
		}
		if (a < lo || b > hi || b < a)
			return -1;
		for (long v = a; v <= b; v++) {
			if (n >= max)
				return -1;
			out[n++] = v;
		}
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		p = end;
	}
	return n ? n : -1;
}

char *bench_tenant_key(const char *dir)
{
	char *p = xasprintf("%s/tenants/bench.pem", dir);
	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return xasprintf("%s/tenants/demo.pem", dir);
}
