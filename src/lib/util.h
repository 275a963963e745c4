/*
 * util.h — small helpers every module uses: allocation that aborts on
 * failure (so callers never check for NULL), hex, whole-file I/O, clocks
 * and the structured logger.  Nothing here knows about BSec's formats.
 */
#ifndef BSEC_UTIL_H
#define BSEC_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define WUR __attribute__((warn_unused_result))
#define PRINTF(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation: abort the process with a message when memory runs out. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF(1, 2);

/* n bytes as UTF-8 the way a browser's TextDecoder reads them: each
 * ill-formed sequence (its longest valid-looking start, or one byte)
 * becomes U+FFFD, NUL bytes stay.  Returns a NUL-terminated copy and its
 * length in *outlen (caller frees). */
char *utf8_lossy(const void *p, size_t n, size_t *outlen);

/* Hex: hex_encode writes 2*len chars plus NUL into out (size 2*len+1).
 * hex_decode accepts exactly 2*outlen hex digits (either case); returns 0
 * on success, -1 on a bad digit or wrong length. */
void hex_encode(char *out, const uint8_t *in, size_t len);
char *hex_dup(const uint8_t *in, size_t len);            /* caller frees */
int hex_decode(uint8_t *out, size_t outlen, const char *hex) WUR;

/* Reads a whole file into a fresh buffer (NUL-terminated for convenience,
 * the NUL not counted in *len).  Refuses files larger than max.  On error
 * returns NULL and writes a reason into err. */
uint8_t *file_read(const char *path, size_t *len, size_t max, char *err, size_t errlen);

/* Writes a file atomically (temp file, fsync, rename) with the given mode.
 * Returns 0 or -1 with a reason in err. */
int file_write(const char *path, const void *data, size_t len, int mode, char *err, size_t errlen);
/* As file_write, but never replaces: fails ("already exists") when path exists. */
int file_write_new(const char *path, const void *data, size_t len, int mode, char *err, size_t errlen);

/* Creates a directory and its parents (mode 0700 for new ones). */
int mkdir_p(const char *path, int mode);

uint64_t now_ms(void);           /* wall clock, ms since the epoch */
/* "2026-11-21T23:48:58.123Z" for ms since the epoch (UTC). */
void iso_ms(char *out, size_t len, uint64_t unix_ms);

/* Reading fields of a parsed JSON reply: the string ("" when absent or
 * not a string) and the integer (0 likewise). */
struct json_t;
const char *jstr(const struct json_t *o, const char *key);
long long jint(const struct json_t *o, const char *key);
uint64_t mono_us(void);          /* monotonic clock, µs */

/* Structured logging to stderr: one line per event,
 *   ts=2026-11-21T10:00:00.123Z level=info mod=pbft msg="..." k=v ...
 * log_set_level filters; log_set_name adds node=NAME to every line. */
enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(int level);
void log_set_name(const char *name);
void log_msg(int level, const char *mod, const char *fmt, ...) PRINTF(3, 4);
#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

/* snprintf into an error buffer; tolerates err == NULL. */
void err_set(char *err, size_t errlen, const char *fmt, ...) PRINTF(3, 4);

/* Secure wipe of secrets. */
void wipe(void *p, size_t n);

#endif
