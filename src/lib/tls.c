/*
 * tls.c — certificates and TLS contexts on OpenSSL 3 (see tls.h).
 *
 * Pins live in a pin set attached to the SSL_CTX as ex_data, so SSL
 * objects that outlive tls_ctx_free() still see them.  Certificate
 * verification is replaced wholesale by pin_verify_cb (via
 * SSL_CTX_set_cert_verify_callback): for peer links it compares the leaf
 * certificate's SHA-256 with the pins; for an HTTPS client it runs the
 * normal chain verification first when a CA bundle is configured.  TLS 1.3
 * still makes the other side prove possession of the key (CertificateVerify)
 * independently of this callback.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TLS_MAX_PEM (1024 * 1024)

struct tls_ctx_t {
	SSL_CTX *ssl_ctx;
	int kind;                 /* TLS_KIND_* */
	int has_ca;
};

enum { TLS_KIND_PEER = 1, TLS_KIND_SERVER, TLS_KIND_CLIENT };

typedef struct {
	uint8_t (*fp)[TLS_FP_BYTES];
	size_t n;
	int use_chain;            /* run X509_verify_cert first (client with CA) */
} pinset_t;

static int idx_ctx_pins = -1;     /* SSL_CTX ex_data: pinset_t * */
static int idx_ssl_expect = -1;   /* SSL ex_data: expected pin + 2 (0: unset) */
static int idx_ssl_match = -1;    /* SSL ex_data: matched pin + 2 (0: none) */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void pinset_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			   void *argp)
{
	pinset_t *p = ptr;

	if (!p)
		return;
	free(p->fp);
	free(p);
}

static void tls_init_once(void)
{
	struct sigaction sa;

	idx_ctx_pins = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, pinset_free_cb);
	idx_ssl_expect = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	idx_ssl_match = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (idx_ctx_pins < 0 || idx_ssl_expect < 0 || idx_ssl_match < 0) {
		log_error("tls", "cannot allocate OpenSSL ex_data indexes");
		abort();
	}
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

static void tls_init(void)
{
	pthread_once(&once, tls_init_once);
}

void tls_err(char *err, size_t errlen, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "no OpenSSL error";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	err_set(err, errlen, "%s: %s", what, buf);
}

/* ---- PEM helpers --------------------------------------------------------- */

static char *bio_to_string(BIO *b)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || !data)
		return xstrdup("");
	return xstrndup(data, (size_t)n);
}

static X509 *pem_to_x509(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = NULL;

	if (b)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

static EVP_PKEY *pem_to_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = NULL;

	if (b)
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

static int x509_to_pem(char **out, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	int ret = -1;

	if (!b || !PEM_write_bio_X509(b, x))
		goto out;
	*out = bio_to_string(b);
	ret = 0;
out:
	BIO_free(b);
	return ret;
}

static int key_to_pem(char **out, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data = NULL;
	long n;
	int ret = -1;

	if (!b || !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(b, &data);
	if (n <= 0 || !data)
		goto out;
	*out = xstrndup(data, (size_t)n);
	ret = 0;
out:
	BIO_free(b);
	return ret;
}

void tls_secret_free(char *pem)
{
	if (!pem)
		return;
	wipe(pem, strlen(pem));
	free(pem);
}

/* ---- certificate creation ------------------------------------------------ */

static int add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
	int ok;

	if (!e)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

static int is_ip(const char *s)
{
	unsigned char tmp[16];

	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static int is_dns_name(const char *s)
{
	size_t n = strlen(s), i = 0;

	if (n == 0 || n > 253)
		return 0;
	if (n > 2 && s[0] == '*' && s[1] == '.')
		i = 2;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '.')
			return 0;
	}
	return s[0] != '.' && s[n - 1] != '.' && !strstr(s, "..");
}

/* Builds "DNS:a,IP:b" from the SAN list, validating each entry. */
static char *san_string(const char *const *sans, size_t nsans, char *err, size_t errlen)
{
	size_t cap = 1, i;
	char *s;

	for (i = 0; i < nsans; i++)
		cap += strlen(sans[i]) + 5;
	s = xmalloc(cap);
	s[0] = '\0';
	for (i = 0; i < nsans; i++) {
		const char *kind;
		if (is_ip(sans[i])) {
			kind = "IP:";
		} else if (is_dns_name(sans[i])) {
			kind = "DNS:";
		} else {
			err_set(err, errlen, "subject alternative name is neither an IP address nor a DNS name: `%s'",
				sans[i]);
			free(s);
			return NULL;
		}
		if (i)
			strcat(s, ",");
		strcat(s, kind);
		strcat(s, sans[i]);
	}
	return s;
}

/* Creates and signs a certificate for key `subj` named CN=cn.  issuer ==
 * NULL makes it self-signed with subj as the signing key. */
static X509 *make_cert(EVP_PKEY *subj, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       int is_ca, const char *sans, unsigned days, char *err, size_t errlen)
{
	X509 *x = X509_new();
	X509_NAME *name;
	BIGNUM *bn = BN_new();
	X509V3_CTX v3;
	int ok = 0;

	if (!x || !bn)
		goto out;
	if (days == 0 || days > 36500) {
		err_set(err, errlen, "certificate validity out of range: %u days", days);
		goto out_quiet;
	}
	if (!X509_set_version(x, 2) || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto out;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L))
		goto out;
	if (!X509_set_pubkey(x, subj))
		goto out;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0))
		goto out;
	if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name))
		goto out;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	if (add_ext(x, &v3, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    add_ext(x, &v3, NID_key_usage,
		    is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") ||
	    add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
	    add_ext(x, &v3, NID_authority_key_identifier, "keyid:always"))
		goto out;
	if (!is_ca && add_ext(x, &v3, NID_ext_key_usage, "serverAuth,clientAuth"))
		goto out;
	if (sans && sans[0] && add_ext(x, &v3, NID_subject_alt_name, sans))
		goto out;
	if (!X509_sign(x, issuer ? issuer_key : subj, EVP_sha256()))
		goto out;
	ok = 1;
out:
	if (!ok)
		tls_err(err, errlen, "cannot build certificate");
out_quiet:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

int tls_ca_create(char **cert_pem, char **key_pem, const char *cn, unsigned days,
		  char *err, size_t errlen)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	int ret = -1;

	*cert_pem = *key_pem = NULL;
	k = EVP_EC_gen("P-256");
	if (!k) {
		tls_err(err, errlen, "cannot generate P-256 key");
		goto out;
	}
	x = make_cert(k, cn, NULL, NULL, 1, NULL, days, err, errlen);
	if (!x)
		goto out;
	if (x509_to_pem(cert_pem, x) || key_to_pem(key_pem, k)) {
		tls_err(err, errlen, "cannot encode PEM");
		goto out;
	}
	ret = 0;
out:
	if (ret) {
		free(*cert_pem);
		tls_secret_free(*key_pem);
		*cert_pem = *key_pem = NULL;
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return ret;
}

int tls_cert_issue(char **cert_pem, char **key_pem, const char *ca_cert_pem,
		   const char *ca_key_pem, const char *cn, const char *const *sans,
		   size_t nsans, unsigned days, char *err, size_t errlen)
{
	EVP_PKEY *k = NULL, *cak = NULL;
	X509 *ca = NULL, *x = NULL;
	char *san = NULL;
	int ret = -1;

	*cert_pem = *key_pem = NULL;
	if (!(san = san_string(sans, nsans, err, errlen)))
		goto out;
	if (!(ca = pem_to_x509(ca_cert_pem))) {
		tls_err(err, errlen, "cannot parse CA certificate");
		goto out;
	}
	if (!(cak = pem_to_key(ca_key_pem))) {
		tls_err(err, errlen, "cannot parse CA private key");
		goto out;
	}
	if (X509_check_private_key(ca, cak) != 1) {
		tls_err(err, errlen, "CA key does not match CA certificate");
		goto out;
	}
	if (!(k = EVP_EC_gen("P-256"))) {
		tls_err(err, errlen, "cannot generate P-256 key");
		goto out;
	}
	if (!(x = make_cert(k, cn, ca, cak, 0, san, days, err, errlen)))
		goto out;
	if (x509_to_pem(cert_pem, x) || key_to_pem(key_pem, k)) {
		tls_err(err, errlen, "cannot encode PEM");
		goto out;
	}
	ret = 0;
out:
	if (ret) {
		free(*cert_pem);
		tls_secret_free(*key_pem);
		*cert_pem = *key_pem = NULL;
	}
	free(san);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
	return ret;
}

int tls_write_pair(const char *cert_path, const char *cert_pem, const char *key_path,
		   const char *key_pem, char *err, size_t errlen)
{
	if (cert_path && file_write(cert_path, cert_pem, strlen(cert_pem), 0644, err, errlen))
		return -1;
	if (key_path && file_write(key_path, key_pem, strlen(key_pem), 0600, err, errlen))
		return -1;
	return 0;
}

char *tls_read_cert_file(const char *path, char *err, size_t errlen)
{
	size_t len;

	return (char *)file_read(path, &len, TLS_MAX_PEM, err, errlen);
}

char *tls_read_key_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	size_t len;

	if (stat(path, &st) != 0) {
		err_set(err, errlen, "cannot stat key file `%s': %s", path, strerror(errno));
		return NULL;
	}
	if (st.st_mode & 077) {
		err_set(err, errlen, "key file `%s' is accessible by group or others (mode %03o); chmod 600 it",
			path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	return (char *)file_read(path, &len, TLS_MAX_PEM, err, errlen);
}

int tls_fingerprint(uint8_t out[TLS_FP_BYTES], const char *cert_pem, char *err, size_t errlen)
{
	X509 *x = pem_to_x509(cert_pem);
	unsigned int n = 0;
	int ret = -1;

	if (!x) {
		tls_err(err, errlen, "cannot parse PEM certificate");
		goto out;
	}
	if (!X509_digest(x, EVP_sha256(), out, &n) || n != TLS_FP_BYTES) {
		tls_err(err, errlen, "cannot hash certificate");
		goto out;
	}
	ret = 0;
out:
	X509_free(x);
	return ret;
}

/* ---- contexts -------------------------------------------------------- */

static int pin_verify_cb(X509_STORE_CTX *xs, void *arg)
{
	const pinset_t *p = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	X509 *leaf = X509_STORE_CTX_get0_cert(xs);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	intptr_t expect;
	size_t i;

	if (!ssl || !leaf)
		return 0;
	if (p->use_chain && X509_verify_cert(xs) != 1)
		return 0;
	if (p->n == 0)
		return 1;
	if (!X509_digest(leaf, EVP_sha256(), md, &n) || n != TLS_FP_BYTES) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_UNSPECIFIED);
		return 0;
	}
	expect = (intptr_t)SSL_get_ex_data(ssl, idx_ssl_expect) - 2;
	for (i = 0; i < p->n; i++) {
		if (CRYPTO_memcmp(md, p->fp[i], TLS_FP_BYTES) != 0)
			continue;
		if (expect >= 0 && (intptr_t)i != expect)
			break;
		SSL_set_ex_data(ssl, idx_ssl_match, (void *)(intptr_t)(i + 2));
		return 1;
	}
	X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
	return 0;
}

static SSL_CTX *ctx_base(char *err, size_t errlen)
{
	SSL_CTX *c = SSL_CTX_new(TLS_method());

	if (!c) {
		tls_err(err, errlen, "SSL_CTX_new");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION)) {
		tls_err(err, errlen, "cannot require TLS 1.3");
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return c;
}

static int ctx_use_pair(SSL_CTX *c, const char *cert_pem, const char *key_pem, char *err,
			size_t errlen)
{
	X509 *x = pem_to_x509(cert_pem);
	EVP_PKEY *k = NULL;
	int ret = -1;

	if (!x) {
		tls_err(err, errlen, "cannot parse own certificate");
		goto out;
	}
	if (!(k = pem_to_key(key_pem))) {
		tls_err(err, errlen, "cannot parse own private key");
		goto out;
	}
	if (!SSL_CTX_use_certificate(c, x) || !SSL_CTX_use_PrivateKey(c, k) ||
	    !SSL_CTX_check_private_key(c)) {
		tls_err(err, errlen, "own certificate and key do not match");
		goto out;
	}
	ret = 0;
out:
	X509_free(x);
	EVP_PKEY_free(k);
	return ret;
}

static tls_ctx_t *wrap(SSL_CTX *c, int kind)
{
	tls_ctx_t *t = xcalloc(1, sizeof(*t));

	t->ssl_ctx = c;
	t->kind = kind;
	return t;
}

tls_ctx_t *tls_ctx_peer_new(const char *cert_pem, const char *key_pem,
			    const uint8_t (*pins)[TLS_FP_BYTES], size_t npins, char *err,
			    size_t errlen)
{
	SSL_CTX *c = NULL;
	pinset_t *p;

	tls_init();
	ERR_clear_error();
	if (!(c = ctx_base(err, errlen)))
		return NULL;
	if (ctx_use_pair(c, cert_pem, key_pem, err, errlen))
		goto fail;
	p = xcalloc(1, sizeof(*p));
	p->n = npins;
	p->fp = xmalloc(npins ? npins * TLS_FP_BYTES : 1);
	if (npins)
		memcpy(p->fp, pins, npins * TLS_FP_BYTES);
	SSL_CTX_set_ex_data(c, idx_ctx_pins, p);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_cert_verify_callback(c, pin_verify_cb, p);
	/* Every handshake must run the pin check: no resumption. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(c, 0);
	return wrap(c, TLS_KIND_PEER);
fail:
	SSL_CTX_free(c);
	return NULL;
}

tls_ctx_t *tls_ctx_server_new(const char *cert_pem, const char *key_pem, char *err,
			      size_t errlen)
{
	SSL_CTX *c;

	tls_init();
	ERR_clear_error();
	if (!(c = ctx_base(err, errlen)))
		return NULL;
	if (ctx_use_pair(c, cert_pem, key_pem, err, errlen)) {
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return wrap(c, TLS_KIND_SERVER);
}

tls_ctx_t *tls_ctx_client_new(const tls_trust_t *trust, char *err, size_t errlen)
{
	SSL_CTX *c = NULL;
	pinset_t *p = NULL;
	tls_ctx_t *t = NULL;

	tls_init();
	ERR_clear_error();
	if (!trust || (!trust->ca_file && !trust->pin_pem)) {
		err_set(err, errlen, "no trust anchor: give a CA file or a pinned certificate");
		return NULL;
	}
	if (!(c = ctx_base(err, errlen)))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->fp = xmalloc(TLS_FP_BYTES);
	SSL_CTX_set_ex_data(c, idx_ctx_pins, p);    /* owned by c from here */
	if (trust->ca_file) {
		if (SSL_CTX_load_verify_locations(c, trust->ca_file, NULL) != 1) {
			tls_err(err, errlen, "cannot load CA file");
			goto out;
		}
		p->use_chain = 1;
	}
	if (trust->pin_pem) {
		if (tls_fingerprint(p->fp[0], trust->pin_pem, err, errlen))
			goto out;
		p->n = 1;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_cert_verify_callback(c, pin_verify_cb, p);
	t = wrap(c, TLS_KIND_CLIENT);
	t->has_ca = p->use_chain;
	c = NULL;
out:
	SSL_CTX_free(c);
	return t;
}

void tls_ctx_free(tls_ctx_t *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

struct ssl_st *tls_ssl_new(tls_ctx_t *ctx, int expect_pin)
{
	SSL *s = SSL_new(ctx->ssl_ctx);

	if (!s)
		return NULL;
	if (expect_pin >= 0)
		SSL_set_ex_data(s, idx_ssl_expect, (void *)(intptr_t)(expect_pin + 2));
	return s;
}

struct ssl_st *tls_ssl_new_client(tls_ctx_t *ctx, const char *host)
{
	SSL *s = SSL_new(ctx->ssl_ctx);
	int ip = is_ip(host);

	if (!s)
		return NULL;
	if (!ip && !SSL_set_tlsext_host_name(s, host))
		goto fail;
	if (ctx->has_ca) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(s);
		if (ip ? !X509_VERIFY_PARAM_set1_ip_asc(vp, host) : !SSL_set1_host(s, host))
			goto fail;
	}
	return s;
fail:
	SSL_free(s);
	return NULL;
}

int tls_ssl_pin_index(const struct ssl_st *ssl)
{
	intptr_t v = (intptr_t)SSL_get_ex_data(ssl, idx_ssl_match);

	return v >= 2 ? (int)(v - 2) : -1;
}
