/*
 * devnet_run.c — `bsec devnet up|status|stop|start|down`: running the
 * nodes of a devnet directory as background processes (see devnet.h for
 * the pid/log files and what counts as running), waiting for their APIs,
 * and showing their state from GET /v1/status.  Each provider's
 * orchestrator (DIR/orchI/config.json, written by init) runs the same way
 * as `bsec orchestrator --config ...` with DIR/orchI/orch.log and
 * orch.pid; it counts as ready once its journal exists, and its height is
 * read from that journal.
 *
 * Processes are started with setsid so a terminal's Ctrl-C reaches only
 * the supervising `devnet up`, which then stops every node itself:
 * SIGTERM, up to a grace period, then SIGKILL.
 *
 * The portal (DIR/portal/config.json, written by init) runs the same way
 * as `bsec portal --config ...` with DIR/portal/portal.log and
 * portal.pid, after the orchestrators; it counts as ready once its
 * GET /api/info answers.  `up --no-portal` (or --no-orchestrators) leaves
 * it out, and `down` stops it first.
 */
#include "cli.h"
#include "devnet.h"
#include "../lib/https.h"
#include "../orchestrator/driver.h"
#include "../orchestrator/orchestrator.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 20000     /* up/start: every API answers within this */
#define STATUS_TIMEOUT_MS 1500     /* one GET /v1/status */
#define STOP_GRACE_MS 10000        /* stop/down: SIGTERM, then SIGKILL after this */
#define UP_GRACE_MS 5000           /* a foreground up stopping its nodes */
#define LOG_TAIL_LINES 12
#define ORCH_SETTLE_MS 500         /* an orchestrator alive this long after start counts as up */

/* The process table: n nodes, n orchestrators, then the portal. */
#define NPROC(n) (2 * (n) + 1)

/* ---- the directory ---------------------------------------------------- */

int devnet_open(devnet_t *d, const char *dir, char *err, size_t errlen)
{
	struct stat st;
	char *gpath = NULL;
	int ret = -1;
	memset(d, 0, sizeof(*d));
	if (stat(dir, &st) < 0) {
		err_set(err, errlen, "devnet directory `%s': %s", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		err_set(err, errlen, "`%s' is not a directory", dir);
		goto out;
	}
	gpath = xasprintf("%s/genesis.json", dir);
	if (access(gpath, F_OK) < 0) {
		err_set(err, errlen, "`%s' is not a devnet directory (no genesis.json; "
			"create one with `bsec devnet init --dir %s --nodes N')", dir, dir);
		goto out;
	}
	char gerr[512];
	if (genesis_load(&d->g, gpath, gerr, sizeof(gerr)) < 0) {
		err_set(err, errlen, "%s", gerr);
		goto out;
	}
	d->dir = xstrdup(dir);
	d->ca_path = xasprintf("%s/ca.pem", dir);
	if (access(d->ca_path, R_OK) < 0) {
		err_set(err, errlen, "devnet CA `%s': %s", d->ca_path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(gpath);
	if (ret < 0)
		devnet_close(d);
	return ret;
}

void devnet_close(devnet_t *d)
{
	if (d->dir)
		genesis_free(&d->g);
	free(d->dir);
	free(d->ca_path);
	memset(d, 0, sizeof(*d));
}

/* ---- the default driver ----------------------------------------------- */

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy = xstrdup(path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	int found = 0;
	for (char *save = NULL, *p = strtok_r(copy, ":", &save); p && !found;
	     p = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", *p ? p : ".", prog);
		found = access(f, X_OK) == 0;
		free(f);
	}
	free(copy);
	return found;
}

const char *devnet_netns_missing(void)
{
	if (geteuid() != 0)
		return "not running as root";
	if (!on_path("ip"))
		return "`ip' not found on PATH";
	if (!on_path("nft"))
		return "`nft' not found on PATH";
	return NULL;
}

const char *devnet_default_driver(void)
{
	return devnet_netns_missing() ? "sim" : "netns";
}

/* ---- processes -------------------------------------------------------- */

/* This bsec binary (a fresh string), from /proc/self/exe. */
static char *self_exe(char *err, size_t errlen)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n < 0) {
		err_set(err, errlen, "cannot find this program: /proc/self/exe: %s", strerror(errno));
		return NULL;
	}
	buf[n] = 0;
	/* the binary was rebuilt while we run: the new file has the old name */
	static const char deleted[] = " (deleted)";
	size_t dl = sizeof(deleted) - 1;
	if ((size_t)n > dl && !strcmp(buf + n - dl, deleted))
		buf[n - dl] = 0;
	return xstrdup(buf);
}

/* A node or an orchestrator: the table holds the n nodes, then the n
 * orchestrators (orch = 1), each with index = its provider's index. */
typedef struct {
	int index;
	int orch;          /* an orchestrator, not a node */
	int portal;        /* the portal */
	int present;       /* its config exists (devnets made before orchestrators have none) */
	const char *name;
	const char *cmd;   /* "node" or "orchestrator": the subcommand it runs */
	char *ndir;        /* DIR/nodeI, DIR/orchI or DIR/portal */
	char *url;         /* the portal's https:// URL (from its config), else NULL */
	char *config;      /* absolute path of its config.json */
	char *pid_path, *log_path;
	pid_t pid;         /* from the pid file; 0 when none */
	int running;
	int child;         /* started by this process (we reap it) */
	uint64_t spawned_us;
	json_t *status;    /* GET /v1/status answer, or NULL */
	char status_err[256];
} node_proc_t;

static const char *proc_what(const node_proc_t *np)
{
	return np->portal ? "portal" : np->orch ? "orchestrator" : "node";
}

static pid_t pid_file_read(const char *path)
{
	char err[256];
	size_t len;
	uint8_t *data = file_read(path, &len, 64, err, sizeof(err));
	pid_t pid = 0;
	if (data) {
		char *end;
		long v = strtol((char *)data, &end, 10);
		while (*end == '\n' || *end == ' ')
			end++;
		if (end != (char *)data && !*end && v > 1 && v <= INT_MAX)
			pid = (pid_t)v;
	}
	free(data);
	return pid;
}

/* 1 when pid is alive, not a zombie, and runs `... SUB --config CONFIG`. */
static int proc_is(pid_t pid, const char *sub, const char *config)
{
	if (pid <= 1 || (kill(pid, 0) < 0 && errno != EPERM))
		return 0;
	char path[64], err[128];
	size_t len;
	int ok = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	uint8_t *stat_txt = file_read(path, &len, 4096, err, sizeof(err));
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	uint8_t *cmd = file_read(path, &len, 65536, err, sizeof(err));
	if (!stat_txt || !cmd)
		goto out;
	/* "pid (comm) S ...": the state follows the last ')' */
	const char *rp = strrchr((char *)stat_txt, ')');
	if (!rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X')
		goto out;
	/* NUL-separated argv: look for SUB "--config" CONFIG */
	const char *args[8];
	size_t nargs = 0;
	for (size_t off = 0; off < len && nargs < ARRAY_LEN(args);) {
		args[nargs++] = (const char *)cmd + off;
		off += strlen((const char *)cmd + off) + 1;
	}
	for (size_t i = 0; i + 2 < nargs && !ok; i++)
		ok = !strcmp(args[i], sub) && !strcmp(args[i + 1], "--config") &&
		     !strcmp(args[i + 2], config);
out:
	free(stat_txt);
	free(cmd);
	return ok;
}

static int proc_is_node(const node_proc_t *np)
{
	return np->present && proc_is(np->pid, np->cmd, np->config);
}

/* Reaps pid when it is our child and has exited; harmless otherwise. */
static void reap(pid_t pid)
{
	if (pid > 1)
		while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
			;
}

static void node_refresh(node_proc_t *np)
{
	np->pid = pid_file_read(np->pid_path);
	if (np->pid)
		reap(np->pid);
	np->running = np->pid && proc_is_node(np);
}

/* Fills np[0..2n) for devnet d (n nodes, then n orchestrators); 0 or -1
 * with a reason. */
static int nodes_load(node_proc_t **out, const devnet_t *d, char *err, size_t errlen)
{
	char abs[PATH_MAX];
	if (!realpath(d->dir, abs)) {
		err_set(err, errlen, "`%s': %s", d->dir, strerror(errno));
		return -1;
	}
	size_t n = d->g.n_providers;
	node_proc_t *np = xcalloc(NPROC(n), sizeof(*np));
	for (size_t k = 0; k < 2 * n; k++) {
		size_t i = k % n;
		int orch = k >= n;
		np[k].index = (int)i;
		np[k].orch = orch;
		np[k].cmd = orch ? "orchestrator" : "node";
		np[k].name = d->g.providers[i].name;
		np[k].ndir = xasprintf("%s/%s%zu", abs, orch ? "orch" : "node", i);
		np[k].config = xasprintf("%s/config.json", np[k].ndir);
		np[k].pid_path = xasprintf("%s/%s.pid", np[k].ndir, orch ? "orch" : "node");
		np[k].log_path = xasprintf("%s/%s.log", np[k].ndir, orch ? "orch" : "node");
		np[k].present = !orch || access(np[k].config, F_OK) == 0;
		node_refresh(&np[k]);
	}
	node_proc_t *pp = &np[2 * n];
	pp->portal = 1;
	pp->cmd = "portal";
	pp->name = "portal";
	pp->ndir = xasprintf("%s/portal", abs);
	pp->config = xasprintf("%s/config.json", pp->ndir);
	pp->pid_path = xasprintf("%s/portal.pid", pp->ndir);
	pp->log_path = xasprintf("%s/portal.log", pp->ndir);
	pp->url = devnet_portal_url(d->dir);
	pp->present = pp->url != NULL;
	node_refresh(pp);
	*out = np;
	return 0;
}

static void nodes_free(node_proc_t *np, size_t n)
{
	for (size_t i = 0; np && i < NPROC(n); i++) {
		free(np[i].url);
		free(np[i].ndir);
		free(np[i].config);
		free(np[i].pid_path);
		free(np[i].log_path);
		json_decref(np[i].status);
	}
	free(np);
}

/* Starts process np: fork, setsid, log redirection, exec `EXE CMD
 * --config CONFIG` (CMD node or orchestrator); writes the pid file.  Exec
 * failures are reported through a close-on-exec pipe.  0 or -1 with a
 * reason. */
static int node_spawn(node_proc_t *np, const char *exe, char *err, size_t errlen)
{
	int pfd[2];
	if (access(np->config, R_OK) < 0) {
		err_set(err, errlen, "%s %d: config `%s': %s", proc_what(np), np->index, np->config,
			strerror(errno));
		return -1;
	}
	int logfd = open(np->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		err_set(err, errlen, "%s %d: log `%s': %s", proc_what(np), np->index, np->log_path,
			strerror(errno));
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err_set(err, errlen, "pipe: %s", strerror(errno));
		close(logfd);
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		err_set(err, errlen, "fork: %s", strerror(errno));
		close(logfd);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid();
		int nullfd = open("/dev/null", O_RDONLY);
		if (nullfd >= 0)
			dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (chdir(np->ndir) < 0) {
			/* not fatal: every path in the config is resolved from its file */
		}
		char *const argv[] = { (char *)exe, (char *)np->cmd, "--config", np->config, NULL };
		execv(exe, argv);
		int e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0) {
			/* nothing left to tell anyone */
		}
		_exit(127);
	}
	close(logfd);
	close(pfd[1]);
	int e = 0;
	ssize_t r;
	while ((r = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	if (r > 0) {
		waitpid(pid, NULL, 0);
		err_set(err, errlen, "%s %d: cannot run `%s': %s", proc_what(np), np->index, exe, strerror(e));
		return -1;
	}
	char txt[32];
	snprintf(txt, sizeof(txt), "%d\n", (int)pid);
	if (file_write(np->pid_path, txt, strlen(txt), 0644, err, errlen) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	np->pid = pid;
	np->running = 1;
	np->child = 1;
	np->spawned_us = mono_us();
	return 0;
}

/* Prints the last lines of a node's log to stderr. */
static void log_tail(const node_proc_t *np)
{
	char err[256];
	size_t len;
	uint8_t *data = file_read(np->log_path, &len, 64u << 20, err, sizeof(err));
	if (!data) {
		fprintf(stderr, "  (no log: %s)\n", err);
		return;
	}
	size_t start = len, lines = 0;
	if (start && data[start - 1] == '\n')
		start--;
	while (start > 0 && lines < LOG_TAIL_LINES) {
		start--;
		if (data[start] == '\n')
			lines++;
	}
	if (data[start] == '\n')
		start++;
	fprintf(stderr, "--- last lines of %s ---\n%s%s", np->log_path, (char *)data + start,
		len && data[len - 1] != '\n' ? "\n" : "");
	free(data);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sends sig (SIGTERM or SIGKILL) to every running process of np[0..n) in
 * sel (all when sel is NULL), waits up to grace_ms for them to exit, then
 * SIGKILLs the rest and waits a little more.  Returns how many had to be
 * killed. */
static int nodes_stop(node_proc_t *np, size_t n, const int *sel, int sig, unsigned grace_ms,
		      int verbose)
{
	int killed = 0;
	for (size_t i = 0; i < n; i++) {
		if ((sel && !sel[i]) || !np[i].running)
			continue;
		if (verbose)
			printf("stopping %s %d (%s, pid %d)%s\n", proc_what(&np[i]), np[i].index, np[i].name,
			       (int)np[i].pid, sig == SIGKILL ? " with SIGKILL" : "");
		kill(np[i].pid, sig);
	}
	uint64_t deadline = mono_us() + (uint64_t)grace_ms * 1000;
	for (int phase = 0; phase < 2; phase++) {
		for (;;) {
			int alive = 0;
			for (size_t i = 0; i < n; i++) {
				if ((sel && !sel[i]) || !np[i].running)
					continue;
				reap(np[i].pid);
				np[i].running = proc_is_node(&np[i]);
				alive += np[i].running;
			}
			if (!alive || mono_us() >= deadline)
				break;
			sleep_ms(50);
		}
		if (phase == 1)
			break;
		for (size_t i = 0; i < n; i++) {
			if ((sel && !sel[i]) || !np[i].running)
				continue;
			fprintf(stderr, "bsec: %s %d (pid %d) still running after %u ms; sending SIGKILL\n",
				proc_what(&np[i]), np[i].index, (int)np[i].pid, grace_ms);
			kill(np[i].pid, SIGKILL);
			killed++;
		}
		deadline = mono_us() + 3000 * 1000;
	}
	return killed;
}

/* ---- status ----------------------------------------------------------- */

/* GET /v1/status of node np into np->status (or np->status_err). */
static void node_query(node_proc_t *np, const devnet_t *d, int timeout_ms)
{
	https_trust_t trust = { .ca_file = d->ca_path };
	char *url = xasprintf("%s/v1/status", d->g.providers[np->index].api);
	uint8_t *resp = NULL;
	size_t len = 0;
	int status = 0;
	json_decref(np->status);
	np->status = NULL;
	np->status_err[0] = 0;
	if (https_request(url, "GET", NULL, NULL, 0, &trust, timeout_ms, &status, &resp, &len,
			  np->status_err, sizeof(np->status_err)) == 0) {
		json_error_t je;
		json_t *j = status == 200 ? json_loadb((char *)resp, len, 0, &je) : NULL;
		if (j && json_is_object(j))
			np->status = j;
		else {
			json_decref(j);
			err_set(np->status_err, sizeof(np->status_err), "GET %s: HTTP %d", url, status);
		}
	}
	free(resp);
	free(url);
}

char *devnet_portal_url(const char *dir)
{
	char *p = xasprintf("%s/portal/config.json", dir), *url = NULL;
	json_error_t je;
	json_t *c = json_load_file(p, 0, &je);
	const char *l = json_string_value(json_object_get(c, "listen"));
	if (l && *l)
		url = xasprintf("https://%s", l);
	json_decref(c);
	free(p);
	return url;
}

/* GET /api/info of the portal np: 0 when it answers 200, else -1 with
 * np->status_err set. */
static int portal_query(node_proc_t *np, const devnet_t *d, int timeout_ms)
{
	https_trust_t trust = { .ca_file = d->ca_path };
	char *url = xasprintf("%s/api/info", np->url);
	uint8_t *resp = NULL;
	size_t len = 0;
	int status = 0, ret = -1;
	np->status_err[0] = 0;
	if (https_request(url, "GET", NULL, NULL, 0, &trust, timeout_ms, &status, &resp, &len,
			  np->status_err, sizeof(np->status_err)) == 0) {
		if (status == 200)
			ret = 0;
		else
			err_set(np->status_err, sizeof(np->status_err), "GET %s: HTTP %d", url, status);
	}
	free(resp);
	free(url);
	return ret;
}

static json_t *status_field(const node_proc_t *np, const char *key)
{
	json_t *v = np->status ? json_object_get(np->status, key) : NULL;
	return v ? json_incref(v) : json_null();
}

static void print_cell_int(const node_proc_t *np, const char *key, int width)
{
	json_t *v = np->status ? json_object_get(np->status, key) : NULL;
	if (json_is_integer(v))
		printf("%-*" JSON_INTEGER_FORMAT, width, json_integer_value(v));
	else
		printf("%-*s", width, "-");
}

static void print_table(const node_proc_t *np, size_t n, const devnet_t *d)
{
	printf("%-5s %-6s %-8s %-8s %-7s %-5s %-7s %-6s %s\n", "NODE", "NAME", "PID", "RUNNING",
	       "HEIGHT", "VIEW", "LEADER", "PEERS", "API");
	for (size_t i = 0; i < n; i++) {
		char pid[16];
		snprintf(pid, sizeof(pid), np[i].pid ? "%d" : "-", (int)np[i].pid);
		printf("%-5zu %-6s %-8s %-8s ", i, np[i].name, pid, np[i].running ? "yes" : "no");
		print_cell_int(&np[i], "height", 7);
		putchar(' ');
		print_cell_int(&np[i], "view", 5);
		putchar(' ');
		print_cell_int(&np[i], "leader", 7);
		putchar(' ');
		print_cell_int(&np[i], "peers", 6);
		printf(" %s\n", d->g.providers[i].api);
	}
	for (size_t i = 0; i < n; i++)
		if (np[i].running && !np[i].status && np[i].status_err[0])
			printf("node %zu: API not answering: %s\n", i, np[i].status_err);
	int any = 0;
	for (size_t i = n; i < 2 * n; i++)
		any |= np[i].present;
	if (!any)
		return;
	printf("%-5s %-6s %-8s %-8s %-7s %s\n", "ORCH", "DOMAIN", "PID", "RUNNING", "HEIGHT", "LOG");
	for (size_t i = n; i < 2 * n; i++) {
		char pid[16], height[24] = "-";
		uint64_t h;
		if (!np[i].present)
			continue;
		snprintf(pid, sizeof(pid), np[i].pid ? "%d" : "-", (int)np[i].pid);
		if (orchestrator_peek_height(np[i].ndir, &h) == 0)
			snprintf(height, sizeof(height), "%llu", (unsigned long long)h);
		printf("%-5d %-6s %-8s %-8s %-7s %s\n", np[i].index, np[i].name, pid,
		       np[i].running ? "yes" : "no", height, np[i].log_path);
	}
	const node_proc_t *pp = &np[2 * n];
	if (pp->present) {
		char pid[32] = "";
		if (pp->running)
			snprintf(pid, sizeof(pid), ", pid %d", (int)pp->pid);
		printf("PORTAL %s (%s%s), log %s\n", pp->url, pp->running ? "running" : "not running", pid,
		       pp->log_path);
	}
}

/* ---- options ------------------------------------------------------------ */

enum { F_DETACH = 1, F_JSON = 2, F_NODE = 4, F_KILL = 8, F_TIMEOUT = 16, F_ORCH = 32, F_NO_ORCH = 64,
       F_NO_PORTAL = 128 };

typedef struct {
	const char *dir;
	int node;          /* -1 when not given */
	int detach, json, kill_now, orch, no_orch, no_portal;
	long timeout_ms;
} run_opts_t;

/* Parses the options `allowed` (F_* bits) plus the mandatory --dir. */
static int opts_parse(run_opts_t *o, int argc, char **argv, unsigned allowed, const char *usage)
{
	static const struct option opts[] = {
		{ "dir", required_argument, 0, 'd' }, { "detach", no_argument, 0, F_DETACH },
		{ "json", no_argument, 0, F_JSON }, { "node", required_argument, 0, F_NODE },
		{ "kill", no_argument, 0, F_KILL }, { "timeout", required_argument, 0, F_TIMEOUT },
		{ "orchestrator", no_argument, 0, F_ORCH },
		{ "no-orchestrators", no_argument, 0, F_NO_ORCH },
		{ "no-portal", no_argument, 0, F_NO_PORTAL },
		{ 0, 0, 0, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->node = -1;
	o->timeout_ms = READY_TIMEOUT_MS;
	optind = 1;
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c != 'd' && !(allowed & (unsigned)c) && c != '?')
			return cli_usage(usage);
		char *end;
		switch (c) {
		case 'd': o->dir = optarg; break;
		case F_DETACH: o->detach = 1; break;
		case F_JSON: o->json = 1; break;
		case F_KILL: o->kill_now = 1; break;
		case F_ORCH: o->orch = 1; break;
		case F_NO_ORCH: o->no_orch = 1; break;
		case F_NO_PORTAL: o->no_portal = 1; break;
		case F_NODE: {
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 0 || v > 65535)
				return cli_fail("--node `%s' is not a node index", optarg), 2;
			o->node = (int)v;
			break;
		}
		case F_TIMEOUT: {
			long v = strtol(optarg, &end, 10);
			if (!*optarg || *end || v < 100 || v > 600000)
				return cli_fail("--timeout `%s' must be 100..600000 ms", optarg), 2;
			o->timeout_ms = v;
			break;
		}
		default: return cli_usage(usage);
		}
	}
	if (optind != argc || !o->dir || ((allowed & F_NODE) && o->node < 0))
		return cli_usage(usage);
	return 0;
}

/* Opens the devnet and its node table; prints the reason on failure. */
static int open_all(devnet_t *d, node_proc_t **np, const run_opts_t *o)
{
	char err[512];
	if (devnet_open(d, o->dir, err, sizeof(err)) < 0)
		return cli_fail("%s", err);
	if (o->node >= 0 && (size_t)o->node >= d->g.n_providers) {
		cli_fail("node `%d' is out of range: the devnet in `%s' has nodes 0..%zu", o->node,
			 o->dir, d->g.n_providers - 1);
		devnet_close(d);
		return 1;
	}
	if (nodes_load(np, d, err, sizeof(err)) < 0) {
		devnet_close(d);
		return cli_fail("%s", err);
	}
	return 0;
}

/* ---- start and wait ------------------------------------------------------ */

static int stop_signal_pending(void)
{
	sigset_t p;
	sigpending(&p);
	return sigismember(&p, SIGINT) || sigismember(&p, SIGTERM);
}

/* Starts the selected processes of np[0..n) and waits until each node's
 * API answers and each orchestrator has opened its journal and stayed up
 * for ORCH_SETTLE_MS, or timeout_ms passes.  On failure (spawn error, a
 * process exiting, timeout, a pending SIGINT/SIGTERM) it stops every
 * process it started and returns 1; 0 when all are up. */
static int nodes_start_wait(node_proc_t *np, size_t n, const int *sel, const devnet_t *d,
			    long timeout_ms)
{
	char err[512];
	int ret = 1;
	int *started = xcalloc(n, sizeof(int));
	int *ready = xcalloc(n, sizeof(int));
	char *exe = self_exe(err, sizeof(err));
	if (!exe) {
		cli_fail("%s", err);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (sel && !sel[i])
			continue;
		if (node_spawn(&np[i], exe, err, sizeof(err)) < 0) {
			cli_fail("%s", err);
			goto fail;
		}
		started[i] = 1;
	}
	uint64_t deadline = mono_us() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		size_t waiting = 0;
		for (size_t i = 0; i < n; i++) {
			if (!started[i] || ready[i])
				continue;
			reap(np[i].pid);
			if (!proc_is_node(&np[i])) {
				np[i].running = 0;
				cli_fail("%s %d (%s, pid %d) exited during start-up", proc_what(&np[i]),
					 np[i].index, np[i].name, (int)np[i].pid);
				log_tail(&np[i]);
				goto fail;
			}
			if (np[i].portal) {
				if (portal_query(&np[i], d, 1000) == 0)
					ready[i] = 1;
				else
					waiting++;
				continue;
			}
			if (np[i].orch) {
				uint64_t h;
				if (mono_us() - np[i].spawned_us >= ORCH_SETTLE_MS * 1000ull &&
				    orchestrator_peek_height(np[i].ndir, &h) == 0)
					ready[i] = 1;
				else
					waiting++;
				continue;
			}
			node_query(&np[i], d, 1000);
			if (np[i].status)
				ready[i] = 1;
			else
				waiting++;
		}
		if (!waiting)
			break;
		if (stop_signal_pending()) {
			cli_fail("interrupted during start-up");
			goto fail;
		}
		if (mono_us() >= deadline) {
			for (size_t i = 0; i < n; i++)
				if (started[i] && !ready[i]) {
					if (np[i].portal)
						cli_fail("the portal did not answer %s/api/info within %ld ms: %s",
							 np[i].url, timeout_ms, np[i].status_err);
					else if (np[i].orch)
						cli_fail("orchestrator %d (%s) did not open its journal in %s within "
							 "%ld ms", np[i].index, np[i].name, np[i].ndir, timeout_ms);
					else
						cli_fail("node %d (%s) did not answer %s/v1/status within %ld ms: %s",
							 np[i].index, np[i].name, d->g.providers[np[i].index].api,
							 timeout_ms, np[i].status_err);
					log_tail(&np[i]);
				}
			goto fail;
		}
		sleep_ms(200);
	}
	ret = 0;
	goto out;
fail:
	nodes_stop(np, n, started, SIGTERM, UP_GRACE_MS, 0);
	for (size_t i = 0; i < n; i++)
		if (started[i])
			unlink(np[i].pid_path);
out:
	free(exe);
	free(started);
	free(ready);
	return ret;
}

/* ---- up ------------------------------------------------------------------ */

static const char *up_usage = "bsec devnet up --dir DIR [--detach] [--timeout MS] [--no-orchestrators]\n"
			       "                [--no-portal]\n"
			       "  starts every node, then every domain's orchestrator (unless\n"
			       "  --no-orchestrators: requests then stay unanswered), then the tenant\n"
			       "  portal (unless --no-portal or --no-orchestrators)";

/* Stops the portal and the orchestrators first (they would only fail over
 * and retry against stopping nodes), then the nodes; sel as for
 * nodes_stop over the NPROC(n) entries.  Returns how many had to be
 * killed. */
static int all_stop(node_proc_t *np, size_t n, const int *sel, int sig, unsigned grace_ms, int verbose)
{
	int *s2 = xcalloc(NPROC(n), sizeof(int));
	for (size_t i = n; i < NPROC(n); i++)
		s2[i] = !sel || sel[i];
	int killed = nodes_stop(np, NPROC(n), s2, sig, grace_ms, verbose);
	for (size_t i = 0; i < NPROC(n); i++)
		s2[i] = i < n && (!sel || sel[i]);
	killed += nodes_stop(np, NPROC(n), s2, sig, grace_ms, verbose);
	free(s2);
	return killed;
}

/* Foreground supervision: until SIGINT/SIGTERM, or until no node is left
 * running; reports nodes and orchestrators that exit.  Then stops
 * everything. */
static int supervise(node_proc_t *np, size_t n, const sigset_t *stopset)
{
	printf("devnet up; press Ctrl-C to stop every node\n");
	for (;;) {
		struct timespec ts = { .tv_sec = 1 };
		int sig = sigtimedwait(stopset, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			printf("\n%s: stopping the devnet\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
			break;
		}
		size_t alive = 0;
		for (size_t i = 0; i < NPROC(n); i++) {
			int was = np[i].running, st;
			pid_t old = np[i].pid;
			const char *what = proc_what(&np[i]);
			if (np[i].child && waitpid(old, &st, WNOHANG) == old) {
				np[i].child = 0;
				if (WIFSIGNALED(st))
					fprintf(stderr, "bsec: %s %d (pid %d) killed by signal %d\n", what,
						np[i].index, (int)old, WTERMSIG(st));
				else
					fprintf(stderr, "bsec: %s %d (pid %d) exited with status %d\n", what,
						np[i].index, (int)old, WEXITSTATUS(st));
				was = 0;   /* reported */
			}
			node_refresh(&np[i]);   /* `devnet start` may have restarted it */
			if (was && !np[i].running)
				fprintf(stderr, "bsec: %s %d (pid %d) is no longer running\n", what,
					np[i].index, (int)old);
			if (i < n)
				alive += np[i].running;
		}
		if (!alive) {
			printf("every node has stopped; leaving\n");
			break;
		}
	}
	all_stop(np, n, NULL, SIGTERM, UP_GRACE_MS, 1);
	for (size_t i = 0; i < NPROC(n); i++)
		unlink(np[i].pid_path);
	return 0;
}

int devnet_up_main(int argc, char **argv)
{
	run_opts_t o;
	int r = opts_parse(&o, argc, argv, F_DETACH | F_TIMEOUT | F_NO_ORCH | F_NO_PORTAL, up_usage);
	if (r)
		return r;
	devnet_t d;
	node_proc_t *np = NULL;
	if ((r = open_all(&d, &np, &o)))
		return r;
	size_t n = d.g.n_providers;
	int ret = 1;
	for (size_t i = 0; i < NPROC(n); i++)
		if (np[i].running) {
			cli_fail("%s %d of `%s' is already running (pid %d); stop it with "
				 "`bsec devnet down --dir %s' first", proc_what(&np[i]), np[i].index, o.dir,
				 (int)np[i].pid, o.dir);
			goto out;
		}
	/* SIGINT/SIGTERM are taken synchronously: during start-up they abort
	 * it, afterwards they end the foreground supervision. */
	sigset_t stopset, old;
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGTERM);
	sigprocmask(SIG_BLOCK, &stopset, &old);
	int *sel = xcalloc(NPROC(n), sizeof(int));
	size_t norch = 0;
	int portal = 0;
	for (size_t i = 0; i < n; i++)
		sel[i] = 1;
	if (nodes_start_wait(np, NPROC(n), sel, &d, o.timeout_ms) != 0) {
		free(sel);
		goto restore;
	}
	for (size_t i = 0; i < NPROC(n); i++) {
		sel[i] = i >= n && i < 2 * n && np[i].present && !o.no_orch;
		norch += (size_t)sel[i];
	}
	if (norch && nodes_start_wait(np, NPROC(n), sel, &d, o.timeout_ms) != 0)
		goto fail;
	for (size_t i = 0; i < NPROC(n); i++)
		sel[i] = 0;
	portal = sel[2 * n] = np[2 * n].present && !o.no_orch && !o.no_portal;
	if (portal && nodes_start_wait(np, NPROC(n), sel, &d, o.timeout_ms) != 0)
		goto fail;
	free(sel);
	for (size_t i = 0; i < n; i++)
		node_query(&np[i], &d, STATUS_TIMEOUT_MS);
	printf("devnet `%s': %zu node%s, %zu orchestrator%s and %s portal up\n", o.dir, n, n == 1 ? "" : "s",
	       norch, norch == 1 ? "" : "s", portal ? "the" : "no");
	print_table(np, n, &d);
	if (portal)
		printf("tenant portal: %s (the devnet CA is %s)\n"
		       "demo tenant key: %s/tenants/demo.pem (import it in the portal to sign in as the demo tenant)\n",
		       np[2 * n].url, d.ca_path, o.dir);
	if (o.detach) {
		printf("logs in %s/nodeI/node.log, %s/orchI/orch.log and %s/portal/portal.log; stop with "
		       "`bsec devnet down --dir %s'\n", o.dir, o.dir, o.dir, o.dir);
		ret = 0;
	} else {
		ret = supervise(np, n, &stopset);
	}
	goto restore;
fail:
	/* the orchestrators or the portal did not come up: stop what did */
	for (size_t i = 0; i < NPROC(n); i++)
		sel[i] = np[i].running;
	all_stop(np, n, sel, SIGTERM, UP_GRACE_MS, 0);
	for (size_t i = 0; i < NPROC(n); i++)
		unlink(np[i].pid_path);
	free(sel);
restore:
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	nodes_free(np, n);
	devnet_close(&d);
	return ret;
}

/* ---- status -------------------------------------------------------------- */

static const char *status_usage = "bsec devnet status --dir DIR [--json]";

int devnet_status_main(int argc, char **argv)
{
	run_opts_t o;
	int r = opts_parse(&o, argc, argv, F_JSON, status_usage);
	if (r)
		return r;
	devnet_t d;
	node_proc_t *np = NULL;
	if ((r = open_all(&d, &np, &o)))
		return r;
	size_t n = d.g.n_providers;
	for (size_t i = 0; i < n; i++)
		if (np[i].running)
			node_query(&np[i], &d, STATUS_TIMEOUT_MS);
	if (o.json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_pack("{s:I,s:s,s:o,s:s,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o}",
				"index", (json_int_t)i, "name", np[i].name,
				"pid", np[i].pid ? json_integer(np[i].pid) : json_null(),
				"api", d.g.providers[i].api, "running", np[i].running,
				"height", status_field(&np[i], "height"),
				"view", status_field(&np[i], "view"),
				"leader", status_field(&np[i], "leader"),
				"tip_hash", status_field(&np[i], "tip_hash"),
				"peers", status_field(&np[i], "peers"),
				"mempool", status_field(&np[i], "mempool"),
				"log", np[i].log_path,
				"api_error", np[i].running && !np[i].status && np[i].status_err[0]
					? json_string(np[i].status_err) : json_null());
			json_array_append_new(arr, e);
		}
		json_t *orchs = json_array();
		for (size_t i = n; i < 2 * n; i++) {
			uint64_t h;
			if (!np[i].present)
				continue;
			json_array_append_new(orchs, json_pack("{s:i,s:s,s:s,s:o,s:b,s:o,s:s,s:s}",
				"index", np[i].index, "name", np[i].name, "domain", np[i].name,
				"pid", np[i].pid ? json_integer(np[i].pid) : json_null(),
				"running", np[i].running,
				"height", orchestrator_peek_height(np[i].ndir, &h) == 0
					? json_integer((json_int_t)h) : json_null(),
				"log", np[i].log_path, "dir", np[i].ndir));
		}
		const node_proc_t *pp = &np[2 * n];
		json_t *portal = !pp->present ? json_null()
			: json_pack("{s:s,s:o,s:b,s:s,s:s}", "url", pp->url,
				    "pid", pp->pid ? json_integer(pp->pid) : json_null(), "running", pp->running,
				    "log", pp->log_path, "config", pp->config);
		/* "portal" is the URL (null without a portal); "portal_process" the rest */
		json_t *root = json_pack("{s:o,s:o,s:o,s:o}", "nodes", arr, "orchestrators", orchs, "portal",
					 pp->present ? json_string(pp->url) : json_null(), "portal_process", portal);
		char *s = json_dumps(root, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(root);
	} else {
		print_table(np, n, &d);
	}
	nodes_free(np, n);
	devnet_close(&d);
	return 0;
}

/* ---- stop / start / down ------------------------------------------------ */

static const char *stop_usage = "bsec devnet stop --dir DIR --node I [--orchestrator] [--kill]\n"
				 "  stops node I, or with --orchestrator the orchestrator of domain pI";

int devnet_stop_main(int argc, char **argv)
{
	run_opts_t o;
	int r = opts_parse(&o, argc, argv, F_NODE | F_KILL | F_ORCH, stop_usage);
	if (r)
		return r;
	devnet_t d;
	node_proc_t *np = NULL;
	if ((r = open_all(&d, &np, &o)))
		return r;
	size_t n = d.g.n_providers;
	int ret = 1;
	size_t k = (size_t)o.node + (o.orch ? n : 0);
	node_proc_t *p = &np[k];
	const char *what = proc_what(p);
	if (!p->present) {
		cli_fail("the devnet in `%s' has no orchestrator %d (no %s)", o.dir, o.node, p->config);
		goto out;
	}
	if (!p->running) {
		if (p->pid)
			cli_fail("%s %d (%s) is not running (pid file says %d; that process is gone)",
				 what, o.node, p->name, (int)p->pid);
		else
			cli_fail("%s %d (%s) is not running", what, o.node, p->name);
		goto out;
	}
	int *sel = xcalloc(2 * n, sizeof(int));
	sel[k] = 1;
	int killed = nodes_stop(np, 2 * n, sel, o.kill_now ? SIGKILL : SIGTERM, STOP_GRACE_MS, 0);
	free(sel);
	if (p->running) {
		cli_fail("%s %d (pid %d) is still running after SIGKILL", what, o.node, (int)p->pid);
		goto out;
	}
	printf("%s %d (%s, pid %d) %s\n", what, o.node, p->name, (int)p->pid,
	       o.kill_now ? "killed" : killed ? "killed after the grace period" : "stopped");
	ret = 0;
out:
	nodes_free(np, n);
	devnet_close(&d);
	return ret;
}

static const char *start_usage = "bsec devnet start --dir DIR --node I [--orchestrator] [--timeout MS]\n"
				  "  starts node I, or with --orchestrator the orchestrator of domain pI";

int devnet_start_main(int argc, char **argv)
{
	run_opts_t o;
	int r = opts_parse(&o, argc, argv, F_NODE | F_TIMEOUT | F_ORCH, start_usage);
	if (r)
		return r;
	devnet_t d;
	node_proc_t *np = NULL;
	if ((r = open_all(&d, &np, &o)))
		return r;
	size_t n = d.g.n_providers;
	int ret = 1;
	size_t k = (size_t)o.node + (o.orch ? n : 0);
	node_proc_t *p = &np[k];
	if (!p->present) {
		cli_fail("the devnet in `%s' has no orchestrator %d (no %s)", o.dir, o.node, p->config);
		goto out;
	}
	if (p->running) {
		cli_fail("%s %d (%s) is already running (pid %d)", proc_what(p), o.node, p->name,
			 (int)p->pid);
		goto out;
	}
	int *sel = xcalloc(2 * n, sizeof(int));
	sel[k] = 1;
	sigset_t stopset, old;
	sigemptyset(&stopset);
	sigaddset(&stopset, SIGINT);
	sigaddset(&stopset, SIGTERM);
	sigprocmask(SIG_BLOCK, &stopset, &old);
	ret = nodes_start_wait(np, 2 * n, sel, &d, o.timeout_ms);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(sel);
	if (ret == 0 && o.orch) {
		uint64_t h = 0;
		int hr = orchestrator_peek_height(p->ndir, &h);
		printf("orchestrator %d (%s) started, pid %d", o.node, p->name, (int)p->pid);
		if (hr == 0)
			printf(", journal height %llu", (unsigned long long)h);
		putchar('\n');
	} else if (ret == 0) {
		json_t *h = p->status ? json_object_get(p->status, "height") : NULL;
		printf("node %d (%s) started, pid %d, %s", o.node, p->name, (int)p->pid,
		       d.g.providers[o.node].api);
		if (json_is_integer(h))
			printf(", height %" JSON_INTEGER_FORMAT, json_integer_value(h));
		putchar('\n');
	}
out:
	nodes_free(np, n);
	devnet_close(&d);
	return ret;
}

static const char *down_usage = "bsec devnet down --dir DIR\n"
				 "  stops every orchestrator and node (and, for the netns driver, removes every\n"
				 "  namespace the devnet's orchestrators made)";

/* The driver devnet.json records, or NULL (caller frees). */
static char *devnet_driver(const char *dir)
{
	char *p = xasprintf("%s/devnet.json", dir), *ret = NULL;
	json_error_t je;
	json_t *m = json_load_file(p, 0, &je);
	const char *v = json_string_value(json_object_get(m, "driver"));
	if (v)
		ret = xstrdup(v);
	json_decref(m);
	free(p);
	return ret;
}

int devnet_down_main(int argc, char **argv)
{
	run_opts_t o;
	int r = opts_parse(&o, argc, argv, 0, down_usage);
	if (r)
		return r;
	devnet_t d;
	node_proc_t *np = NULL;
	if ((r = open_all(&d, &np, &o)))
		return r;
	size_t n = d.g.n_providers, was = 0, was_orch = 0;
	for (size_t i = 0; i < 2 * n; i++) {
		if (i < n)
			was += np[i].running;
		else
			was_orch += np[i].running;
	}
	int was_portal = np[2 * n].running;
	all_stop(np, n, NULL, SIGTERM, STOP_GRACE_MS, 1);
	int ret = 0;
	for (size_t i = 0; i < NPROC(n); i++) {
		if (np[i].running) {
			cli_fail("%s %d (pid %d) is still running after SIGKILL", proc_what(&np[i]), np[i].index,
				 (int)np[i].pid);
			ret = 1;
		} else if (unlink(np[i].pid_path) < 0 && errno != ENOENT) {
			cli_fail("cannot remove `%s': %s", np[i].pid_path, strerror(errno));
			ret = 1;
		}
	}
	char *driver = devnet_driver(o.dir);
	if (driver && !strcmp(driver, "netns") && !ret) {
		char prefix[9], err[512];
		orchestrator_prefix(prefix, d.g.chain_id);
		if (driver_cleanup_all(prefix, err, sizeof(err)) < 0) {
			cli_fail("netns clean-up (prefix %s): %s", prefix, err);
			ret = 1;
		} else {
			printf("removed the devnet's network namespaces (prefix bsec-%s-)\n", prefix);
		}
	}
	free(driver);
	if (!ret)
		printf("devnet `%s' down (%zu node%s, %zu orchestrator%s and %s portal running before)\n", o.dir,
		       was, was == 1 ? "" : "s", was_orch, was_orch == 1 ? "" : "s", was_portal ? "the" : "no");
	nodes_free(np, n);
	devnet_close(&d);
	return ret;
}
