/*
 * util.c — allocation, hex, file I/O, clocks and the structured logger
 * (see util.h).
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <jansson.h>
#include <sodium.h>

static void oom(size_t n)
{
	fprintf(stderr, "bsec: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom(n * sz);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *utf8_lossy(const void *p, size_t n, size_t *outlen)
{
	const uint8_t *s = p;
	char *out = xmalloc(3 * n + 1);   /* each byte at most one U+FFFD */
	size_t o = 0, i = 0;

	while (i < n) {
		uint8_t b = s[i];
		unsigned need;
		uint8_t lo = 0x80, hi = 0xbf;   /* the second byte's range (Unicode table 3-7) */
		if (b < 0x80) {
			out[o++] = (char)b;
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf)
			need = 1;
		else if (b >= 0xe0 && b <= 0xef)
			need = 2, lo = b == 0xe0 ? 0xa0 : 0x80, hi = b == 0xed ? 0x9f : 0xbf;
		else if (b >= 0xf0 && b <= 0xf4)
			need = 3, lo = b == 0xf0 ? 0x90 : 0x80, hi = b == 0xf4 ? 0x8f : 0xbf;
		else
			need = 0;
		size_t j = i + 1;
		unsigned k = 0;
		for (; need && k < need && j < n; k++, j++) {
			uint8_t c = s[j];
			if (c < (k ? 0x80 : lo) || c > (k ? 0xbf : hi))
				break;
		}
		if (need && k == need) {
			memcpy(out + o, s + i, j - i);
			o += j - i;
		} else {
			/* the maximal subpart, then go on at the byte that broke it */
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
		i = j;
	}
	out[o] = 0;
	*outlen = o;
	return out;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom(0);
	return s;
}

void hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = 0;
}

char *hex_dup(const uint8_t *in, size_t len)
{
	char *s = xmalloc(2 * len + 1);
	hex_encode(s, in, len);
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(uint8_t *out, size_t outlen, const char *hex)
{
	if (strlen(hex) != 2 * outlen)
		return -1;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void err_set(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint8_t *file_read(const char *path, size_t *len, size_t max, char *err, size_t errlen)
{
	uint8_t *data = NULL;
	/* O_NONBLOCK: a FIFO must not hang the open; regular files ignore it */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err_set(err, errlen, "cannot open `%s': %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err_set(err, errlen, "`%s' is not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size > max) {
		err_set(err, errlen, "`%s' is too large (%lld bytes, limit %zu)", path,
			(long long)st.st_size, max);
		goto out;
	}
	size_t cap = (size_t)st.st_size, n = 0;
	data = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			/* the file grew while reading: allow up to max */
			if (cap >= max) {
				err_set(err, errlen, "`%s' is too large (limit %zu)", path, max);
				free(data);
				data = NULL;
				goto out;
			}
			cap = cap * 2 + 64 > max ? max : cap * 2 + 64;
			data = xrealloc(data, cap + 1);
		}
		ssize_t r = read(fd, data + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err_set(err, errlen, "cannot read `%s': %s", path, strerror(errno));
			free(data);
			data = NULL;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	data[n] = 0;
	*len = n;
out:
	close(fd);
	return data;
}

static int write_atomic(const char *path, const void *data, size_t len, int mode, int replace,
			char *err, size_t errlen)
{
	int ret = -1, fd = -1;
	struct stat st;
	/* rename/link would replace a device, FIFO or socket (as root: /dev/null) */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		err_set(err, errlen, "`%s' exists and is not a regular file", path);
		return -1;
	}
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	unlink(tmp); /* a stale temp file from a crash */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		err_set(err, errlen, "cannot create `%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) < 0) {
		err_set(err, errlen, "cannot chmod `%s': %s", tmp, strerror(errno));
		goto out;
	}
	const uint8_t *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			err_set(err, errlen, "cannot write `%s': %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0) {
		err_set(err, errlen, "cannot sync `%s': %s", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (replace ? rename(tmp, path) < 0 : link(tmp, path) < 0) {
		if (!replace && errno == EEXIST)
			err_set(err, errlen, "`%s' already exists (use --force to replace it)", path);
		else
			err_set(err, errlen, "cannot %s `%s' to `%s': %s", replace ? "rename" : "link", tmp,
				path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0 || !replace)
		unlink(tmp);
	free(tmp);
	return ret;
}

int file_write(const char *path, const void *data, size_t len, int mode, char *err, size_t errlen)
{
	return write_atomic(path, data, len, mode, 1, err, errlen);
}

int file_write_new(const char *path, const void *data, size_t len, int mode, char *err, size_t errlen)
{
	return write_atomic(path, data, len, mode, 0, err, errlen);
}

int mkdir_p(const char *path, int mode)
{
	char *p = xstrdup(path);
	int ret = -1;
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
			goto out;
		*s = '/';
	}
	if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
		goto out;
	ret = 0;
out:
	free(p);
	return ret;
}

void iso_ms(char *out, size_t len, uint64_t unix_ms)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03uZ", (unsigned)(unix_ms % 1000));
}

const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

long long jint(const json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int log_level = LOG_INFO;
static char log_name[64];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int level)
{
	log_level = level;
}

void log_set_name(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name ? name : "");
}

void log_msg(int level, const char *mod, const char *fmt, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	if (level < log_level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* quotes inside the message would break the key=value format */
	for (char *c = msg; *c; c++)
		if (*c == '"' || *c == '\n')
			*c = '\'';
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char tbuf[32];
	strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "ts=%s.%03ldZ level=%s%s%s mod=%s msg=\"%s\"\n", tbuf,
		ts.tv_nsec / 1000000, names[level & 3], log_name[0] ? " node=" : "", log_name,
		mod, msg);
	pthread_mutex_unlock(&log_lock);
}

void wipe(void *p, size_t n)
{
	if (p)
		sodium_memzero(p, n);
}
