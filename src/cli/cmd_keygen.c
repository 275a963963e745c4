/*
 * cmd_keygen.c — `bsec keygen`: generates a signing key, writes the private
 * half as PKCS#8 PEM (mode 0600) and prints the public half as SPKI PEM.
 *
 * Without --force an existing file is never replaced: the output path is
 * reserved with O_CREAT|O_EXCL before the key is written (atomically, by
 * rename over the reservation), so two concurrent runs cannot both win.
 */
#include "cli.h"
#include "../lib/sig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"bsec keygen [--scheme ed25519|ecdsa-p256|rsa-pss-2048] --out FILE [--pub FILE] [--force]\n"
	"  --scheme, -s NAME  signature scheme (default ed25519)\n"
	"  --out, -o FILE     private key, PKCS#8 PEM, written with mode 0600\n"
	"  --pub, -p FILE     also write the public key (SubjectPublicKeyInfo PEM)\n"
	"  --force, -f        replace existing files\n"
	"The public key PEM is printed on stdout.";

/* Claims path for a new file unless force; 0, or -1 after a message.
 * Sets *created when this call created the (empty) file. */
static int reserve(const char *path, int force, int mode, int *created)
{
	int fd;
	*created = 0;
	if (force)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == EEXIST)
			cli_fail("`%s' already exists (use --force to replace it)", path);
		else
			cli_fail("cannot create `%s': %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	*created = 1;
	return 0;
}

int keygen_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scheme", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ "pub", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ret = 1, c, force = 0, made_out = 0, made_pub = 0, done = 0;
	const char *out = NULL, *pub_path = NULL;
	sig_scheme_t scheme = SIG_ED25519;
	sig_key_t *k = NULL;
	char *pub_pem = NULL;
	char err[512];

	optind = 0;   /* glibc: full re-initialisation (we may be called twice) */
	while ((c = getopt_long(argc, argv, "s:o:p:fh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (sig_scheme_parse(optarg, &scheme) < 0) {
				cli_fail("unknown scheme `%s' (expected ed25519, ecdsa-p256 or rsa-pss-2048)",
					 optarg);
				ret = cli_usage(usage_text);
				goto out;
			}
			break;
		case 'o':
			out = optarg;
			break;
		case 'p':
			pub_path = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			printf("usage: %s\n", usage_text);
			ret = 0;
			goto out;
		default:
			ret = cli_usage(usage_text);
			goto out;
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument `%s'", argv[optind]);
		ret = cli_usage(usage_text);
		goto out;
	}
	if (!out || !*out) {
		cli_fail("--out FILE is required");
		ret = cli_usage(usage_text);
		goto out;
	}
	if (pub_path && strcmp(pub_path, out) == 0) {
		cli_fail("--pub and --out both name `%s'", out);
		ret = cli_usage(usage_text);
		goto out;
	}
	if (reserve(out, force, 0600, &made_out) < 0 ||
	    (pub_path && reserve(pub_path, force, 0644, &made_pub) < 0))
		goto out;

	k = sig_keygen(scheme);
	if (sig_key_save(k, out, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	pub_pem = sig_pub_to_pem(scheme, sig_key_pub(k));
	if (!pub_pem) {
		cli_fail("cannot encode the public key");
		goto out;
	}
	if (pub_path && file_write(pub_path, pub_pem, strlen(pub_pem), 0644, err, sizeof(err)) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	fputs(pub_pem, stdout);
	if (fflush(stdout) != 0) {
		cli_fail("cannot write the public key to stdout: %s", strerror(errno));
		goto out;
	}
	done = 1;
	ret = 0;
out:
	if (!done) {
		/* Remove only what this run created, never a pre-existing file. */
		if (made_out)
			unlink(out);
		if (made_pub)
			unlink(pub_path);
	}
	free(pub_pem);
	sig_key_free(k);
	return ret;
}
