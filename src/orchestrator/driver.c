/*
 * driver.c — the driver interface (driver.h): the table of drivers by
 * name, argument checks common to all of them, driver_get on top of
 * driver_list for drivers without their own, and what the drivers share
 * (driver_impl.h): the child-process runner and spec helpers.
 *
 * The runner is the one place BSec starts platform commands.  It takes an
 * argv array (never a shell), resolves the program on PATH in the parent,
 * forks, and in the child only makes system calls: a new process group
 * (so a timeout kills everything the command started), default signal
 * dispositions and mask, optionally setns(2) into a network namespace,
 * stdin/stdout/stderr onto pipes, every other descriptor closed, execv.
 * The parent feeds stdin and drains both pipes with poll(2) against one
 * deadline and a per-stream size bound.
 */
#include "driver_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "../ledger/state.h"

/* ---- the table ------------------------------------------------------- */

static const driver_ops_t *const DRIVERS[] = { &DRIVER_NETNS_OPS, &DRIVER_EXEC_OPS, &DRIVER_SIM_OPS };

static int prefix_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > DRIVER_MAX_PREFIX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
			return 0;
	return 1;
}

driver_t *driver_new(const char *type, const json_t *config, const char *prefix, char *err, size_t elen)
{
	driver_t *drv = NULL;
	json_t *empty = NULL;
	const driver_ops_t *ops = NULL;
	for (size_t i = 0; i < ARRAY_LEN(DRIVERS) && type; i++)
		if (!strcmp(DRIVERS[i]->type, type))
			ops = DRIVERS[i];
	if (!ops) {
		err_set(err, elen, "unknown driver `%s' (netns, exec or sim)", type ? type : "(null)");
		goto out;
	}
	if (!prefix || !prefix_ok(prefix)) {
		err_set(err, elen, "consortium prefix `%s' must be 1-%d characters of [a-z0-9]",
			prefix ? prefix : "(null)", DRIVER_MAX_PREFIX);
		goto out;
	}
	if (!config)
		config = empty = json_object();
	if (!json_is_object(config)) {
		char *t = drv_json_text(config);
		err_set(err, elen, "%s driver config must be a JSON object, got `%s'", type, t);
		free(t);
		goto out;
	}
	drv = xcalloc(1, sizeof(*drv));
	drv->ops = ops;
	snprintf(drv->prefix, sizeof(drv->prefix), "%s", prefix);
	if (ops->open(drv, config, err, elen) < 0) {
		free(drv);
		drv = NULL;
	}
out:
	json_decref(empty);
	return drv;
}

void driver_free(driver_t *drv)
{
	if (!drv)
		return;
	drv->ops->close(drv);
	free(drv);
}

const char *driver_type(const driver_t *drv)
{
	return drv->ops->type;
}

static int text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int driver_apply(driver_t *drv, const instr_t *in, const char *domain, const char *owner_hex,
		 char *result, size_t rlen, char *err, size_t elen)
{
	int ret = -1;
	char why[1024] = "", res[TX_MAX_RESULT] = "";
	if (result && rlen)
		result[0] = 0;
	if (!in || (in->kind != OBJ_VM && in->kind != OBJ_VNF && in->kind != OBJ_SFC) ||
	    (in->verb != VERB_CREATE && in->verb != VERB_UPDATE && in->verb != VERB_DELETE)) {
		snprintf(why, sizeof(why), "not an instruction (kind %d, verb %d)", in ? (int)in->kind : 0,
			 in ? (int)in->verb : 0);
		goto out;
	}
	if (!domain || !*domain || !text_ok(domain, TX_MAX_DOMAIN)) {
		snprintf(why, sizeof(why), "bad domain `%.64s'", domain ? domain : "(null)");
		goto out;
	}
	if (!owner_hex || !text_ok(owner_hex, DRIVER_MAX_OWNER - 1)) {
		snprintf(why, sizeof(why), "bad owner `%.64s'", owner_hex ? owner_hex : "(null)");
		goto out;
	}
	ret = drv->ops->apply(drv, in, domain, owner_hex, res, sizeof(res), why, sizeof(why));
	if (ret == 0 && result && rlen)
		drv_printable(result, rlen, res, strlen(res));
out:
	if (ret < 0 && err && elen)
		drv_printable(err, elen, why[0] ? why : "failed", strlen(why[0] ? why : "failed"));
	return ret;
}

int driver_list(driver_t *drv, driver_list_cb cb, void *ctx, char *err, size_t elen)
{
	return drv->ops->list(drv, cb, ctx, err, elen);
}

typedef struct {
	int kind;
	const char *name;
	driver_obj_t *out;
	int found;
} find_ctx_t;

static int find_cb(void *vctx, const driver_obj_t *o)
{
	find_ctx_t *f = vctx;
	if (o->kind != f->kind || strcmp(o->name, f->name))
		return 0;
	*f->out = *o;
	f->found = 1;
	return 1;
}

int driver_get(driver_t *drv, int kind, const char *name, int *exists, driver_obj_t *out, char *err,
	       size_t elen)
{
	*exists = 0;
	if (drv->ops->get)
		return drv->ops->get(drv, kind, name, exists, out, err, elen);
	find_ctx_t f = { kind, name, out, 0 };
	if (drv->ops->list(drv, find_cb, &f, err, elen) < 0)
		return -1;
	*exists = f.found;
	return 0;
}

const char *driver_netns_missing(void)
{
	char *p;
	if (geteuid() != 0)
		return "not running as root";
	if (!(p = drv_which("ip")))
		return "`ip' (iproute2) not found";
	free(p);
	if (!(p = drv_which("nft")))
		return "`nft' (nftables) not found";
	free(p);
	if (access("/proc/self/ns/net", R_OK) < 0)
		return "no network namespaces (/proc/self/ns/net)";
	return NULL;
}

/* ---- shared helpers -------------------------------------------------- */

void drv_op_name(char *out, size_t len, int kind, int verb)
{
	snprintf(out, len, "%s:%s", obj_kind_name(kind), verb_name(verb));
}

int drv_is_op_name(const char *s)
{
	static const char *const OPS[] = { "vm:create", "vm:delete", "vnf:create", "vnf:update",
					   "vnf:delete", "sfc:create", "sfc:update", "sfc:delete" };
	for (size_t i = 0; i < ARRAY_LEN(OPS); i++)
		if (!strcmp(OPS[i], s))
			return 1;
	return 0;
}

char *drv_create_spec(const instr_t *in)
{
	return instr_format(in);
}

char *drv_updated_spec(const char *old, const instr_t *upd, char *err, size_t elen)
{
	object_rec_t o;
	memset(&o, 0, sizeof(o));
	o.kind = (uint8_t)upd->kind;
	snprintf(o.name, sizeof(o.name), "%s", upd->name);
	o.spec = (char *)old;
	return state_updated_spec(&o, upd, err, elen);
}

void drv_printable(char *dst, size_t len, const char *src, size_t srclen)
{
	size_t o = 0;
	if (!len)
		return;
	while (srclen && (*src == ' ' || *src == '\t' || *src == '\n' || *src == '\r')) {
		src++;
		srclen--;
	}
	while (srclen && (src[srclen - 1] == ' ' || src[srclen - 1] == '\t' || src[srclen - 1] == '\n' ||
			  src[srclen - 1] == '\r'))
		srclen--;
	for (size_t i = 0; i < srclen && o + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '\n') {
			if (o + 2 < len) {
				dst[o++] = ';';
				dst[o++] = ' ';
			}
		} else if (c == '\r') {
			continue;
		} else {
			dst[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : (c == '\t' ? ' ' : '?');
		}
	}
	dst[o] = 0;
}

char *drv_json_text(const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	char *r = xstrdup(s ? s : "null");
	free(s);
	if (strlen(r) > 80)
		strcpy(r + 77, "...");
	return r;
}

void sb_init(sbuf_t *b)
{
	b->s = xcalloc(1, 1);
	b->len = 0;
	b->cap = 1;
}

void sb_add(sbuf_t *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = 0;
}

void sb_str(sbuf_t *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

void sb_printf(sbuf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *t = NULL;
	int n = vasprintf(&t, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	sb_add(b, t, (size_t)n);
	free(t);
}

unsigned drv_ms_since(uint64_t t0_us)
{
	return (unsigned)((mono_us() - t0_us + 500) / 1000);
}

void drv_sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- child processes ------------------------------------------------- */

char *drv_which(const char *prog)
{
	if (!prog || !*prog)
		return NULL;
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? xstrdup(prog) : NULL;
	const char *env = getenv("PATH");
	char *dirs = xasprintf("%s:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
			       env && *env ? env : "");
	char *found = NULL;
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		if (!*d)
			continue;
		char *f = xasprintf("%s/%s", d, prog);
		struct stat st;
		if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0)
			found = f;
		else
			free(f);
	}
	free(dirs);
	return found;
}

void drv_cmd_out_free(drv_cmd_out_t *o)
{
	if (!o)
		return;
	free(o->out);
	free(o->errs);
	o->out = o->errs = NULL;
}

/* The command line for messages: argv joined, cut at ~160 characters. */
static void argv_text(char *out, size_t len, const char *const *argv)
{
	size_t o = 0;
	out[0] = 0;
	for (int i = 0; argv[i] && o + 1 < len; i++) {
		int n = snprintf(out + o, len - o, "%s%s", i ? " " : "", argv[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	if (o >= len - 1 && len > 4)
		strcpy(out + len - 4, "...");
}

/* The guard's end: the command's status as its own (exit code, or death
 * by the same signal). */
static void guard_exit(int wstatus)
{
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		struct sigaction sa;
		sigset_t one;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(sig, &sa, NULL);
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WEXITSTATUS(wstatus));
}

/* In the child: only system calls from here to execv.  parent: the
 * orchestrator's pid, read before the fork.
 *
 * The child leads a process group of its own and stays as its guard: it
 * runs the command in a second child and ends with its status, and when
 * the orchestrator dies (PR_SET_PDEATHSIG, which reaches only the process
 * that asked, not what it forks) it kills the whole group.  A command, or
 * anything it started, left running by a killed orchestrator would still
 * be at work when the restarted one, finding the request unfinished and
 * the platform without its object, runs it a second time. */
static void child_exec(const char *path, const drv_cmd_t *c, int in_fd, int out_fd, int err_fd,
		       pid_t parent)
{
	static const char nsfail[] = "cannot join the network namespace\n";
	static const char execfail[] = "cannot execute the program\n";
	static const char forkfail[] = "cannot fork\n";
	setpgid(0, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	sigset_t none, guard;
	sigemptyset(&none);
	sigemptyset(&guard);
	sigaddset(&guard, SIGTERM);
	sigaddset(&guard, SIGCHLD);
	sigprocmask(SIG_SETMASK, &guard, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(125);
	if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) < 0) {
		if (write(err_fd, nsfail, sizeof(nsfail) - 1) < 0) {
			/* nothing more to say */
		}
		_exit(126);
	}
	if (in_fd < 0)
		in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int fds[3] = { in_fd, out_fd, err_fd };
	for (int i = 0; i < 3; i++) {
		if (fds[i] == i)
			fcntl(i, F_SETFD, 0);
		else if (fds[i] >= 0)
			dup2(fds[i], i);
	}
	close_range(3, ~0U, 0);
	pid_t cmd = fork();
	if (cmd < 0) {
		if (write(2, forkfail, sizeof(forkfail) - 1) < 0) {
			/* nothing more to say */
		}
		_exit(126);
	}
	if (cmd == 0) {
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(path, (char *const *)c->argv);
		if (write(2, execfail, sizeof(execfail) - 1) < 0) {
			/* nothing more to say */
		}
		_exit(127);
	}
	/* the guard keeps no end of the command's pipes */
	close(0);
	close(1);
	close(2);
	for (;;) {
		siginfo_t si;
		int s = sigwaitinfo(&guard, &si), wstatus;
		if (s == SIGTERM) {
			kill(0, SIGKILL);
			_exit(137);
		}
		if (s == SIGCHLD && waitpid(cmd, &wstatus, WNOHANG) == cmd)
			guard_exit(wstatus);
	}
}

typedef struct {
	char *buf;
	size_t len, cap;
	int fd;
} stream_t;

/* Reads what is available; returns 1 at EOF, 0 otherwise, 2 on overflow. */
static int stream_read(stream_t *s, size_t max)
{
	char tmp[8192];
	ssize_t n = read(s->fd, tmp, sizeof(tmp));
	if (n < 0)
		return (errno == EINTR || errno == EAGAIN) ? 0 : 1;
	if (n == 0)
		return 1;
	if (s->len + (size_t)n > max)
		return 2;
	if (s->len + (size_t)n + 1 > s->cap) {
		s->cap = (s->len + (size_t)n + 1) * 2;
		s->buf = xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, tmp, (size_t)n);
	s->len += (size_t)n;
	s->buf[s->len] = 0;
	return 0;
}

int drv_run(const drv_cmd_t *c, drv_cmd_out_t *o, char *err, size_t elen)
{
	int ret = -1, pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int timed_out = 0, overflow = 0, wstatus = 0, sigpipe_blocked = 0;
	pid_t pid = -1;
	char *path = NULL, cmd[192];
	size_t max = c->max_output ? c->max_output : 65536, in_off = 0;
	stream_t so = { xcalloc(1, 1), 0, 1, -1 }, se = { xcalloc(1, 1), 0, 1, -1 };
	sigset_t pipeset, oldset;

	memset(o, 0, sizeof(*o));
	o->status = -1;
	argv_text(cmd, sizeof(cmd), c->argv);
	if (!c->argv || !c->argv[0] || !(path = drv_which(c->argv[0]))) {
		err_set(err, elen, "`%s' not found on PATH", c->argv && c->argv[0] ? c->argv[0] : "");
		goto out;
	}
	if ((c->input && pipe2(pin, O_CLOEXEC) < 0) || pipe2(pout, O_CLOEXEC) < 0 ||
	    pipe2(perr, O_CLOEXEC) < 0) {
		err_set(err, elen, "cannot run `%s': pipe: %s", cmd, strerror(errno));
		goto out;
	}
	if (c->input) {
		sigemptyset(&pipeset);
		sigaddset(&pipeset, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipeset, &oldset);
		sigpipe_blocked = 1;
	}
	pid_t self = getpid();
	pid = fork();
	if (pid < 0) {
		err_set(err, elen, "cannot run `%s': fork: %s", cmd, strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(path, c, pin[0], pout[1], perr[1], self);
	setpgid(pid, pid); /* also in the child: whichever runs first */
	close(pout[1]);
	close(perr[1]);
	pout[1] = perr[1] = -1;
	if (pin[0] >= 0) {
		close(pin[0]);
		pin[0] = -1;
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
		if (c->input_len == 0) {
			close(pin[1]);
			pin[1] = -1;
		}
	}
	so.fd = pout[0];
	se.fd = perr[0];
	pout[0] = perr[0] = -1; /* owned by so / se from here */
	uint64_t deadline = mono_us() + (uint64_t)(c->timeout_ms > 0 ? c->timeout_ms : 10000) * 1000;
	while (so.fd >= 0 || se.fd >= 0 || pin[1] >= 0) {
		uint64_t now = mono_us();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		struct pollfd p[3];
		int n = 0, io = -1, iout = -1, ierr = -1;
		if (pin[1] >= 0) {
			p[n] = (struct pollfd){ pin[1], POLLOUT, 0 };
			io = n++;
		}
		if (so.fd >= 0) {
			p[n] = (struct pollfd){ so.fd, POLLIN, 0 };
			iout = n++;
		}
		if (se.fd >= 0) {
			p[n] = (struct pollfd){ se.fd, POLLIN, 0 };
			ierr = n++;
		}
		int left = (int)((deadline - now + 999) / 1000);
		int r = poll(p, (nfds_t)n, left);
		if (r < 0 && errno != EINTR) {
			err_set(err, elen, "cannot run `%s': poll: %s", cmd, strerror(errno));
			timed_out = 1; /* kill it: we cannot watch it */
			break;
		}
		if (r <= 0)
			continue;
		if (io >= 0 && p[io].revents) {
			ssize_t w = write(pin[1], c->input + in_off, c->input_len - in_off);
			if (w > 0)
				in_off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == c->input_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		stream_t *ss[2] = { iout >= 0 && p[iout].revents ? &so : NULL,
				    ierr >= 0 && p[ierr].revents ? &se : NULL };
		for (int k = 0; k < 2; k++) {
			if (!ss[k])
				continue;
			int rr = stream_read(ss[k], max);
			if (rr == 2)
				overflow = 1;
			if (rr) {
				close(ss[k]->fd);
				ss[k]->fd = -1;
			}
		}
		if (overflow)
			break;
	}
	/* Pipes closed (or we gave up): wait for the exit, still bounded. */
	while (!timed_out && !overflow) {
		pid_t w = waitpid(pid, &wstatus, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			err_set(err, elen, "cannot run `%s': waitpid: %s", cmd, strerror(errno));
			pid = -1;
			goto out;
		}
		if (mono_us() >= deadline)
			timed_out = 1;
		else
			drv_sleep_ms(2);
	}
	if (timed_out || overflow) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
	}
	pid = -1;
	o->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (timed_out) {
		err_set(err, elen, "`%s' timed out after %d ms (killed)", cmd, c->timeout_ms);
		goto out;
	}
	if (overflow) {
		err_set(err, elen, "`%s' wrote more than %zu bytes (killed)", cmd, max);
		goto out;
	}
	if (o->status != 0) {
		char msg[320];
		drv_printable(msg, sizeof(msg), se.buf, se.len);
		if (!msg[0])
			drv_printable(msg, sizeof(msg), so.buf, so.len);
		if (WIFSIGNALED(wstatus))
			err_set(err, elen, "`%s' killed by signal %d%s%s", cmd, WTERMSIG(wstatus),
				msg[0] ? ": " : "", msg);
		else
			err_set(err, elen, "`%s' exited with status %d%s%s", cmd, o->status,
				msg[0] ? ": " : "", msg);
		goto out;
	}
	ret = 0;
out:
	if (pid > 0) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
	}
	int fds[] = { pin[0], pin[1], pout[0], pout[1], perr[0], perr[1] };
	for (size_t i = 0; i < ARRAY_LEN(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (so.fd >= 0)
		close(so.fd);
	if (se.fd >= 0)
		close(se.fd);
	if (sigpipe_blocked) {
		struct timespec zero = { 0, 0 };
		sigset_t pend;
		sigpending(&pend);
		if (sigismember(&pend, SIGPIPE))
			sigtimedwait(&pipeset, NULL, &zero);
		pthread_sigmask(SIG_SETMASK, &oldset, NULL);
	}
	o->out = so.buf;
	o->out_len = so.len;
	o->errs = se.buf;
	o->errs_len = se.len;
	free(path);
	return ret;
}
