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
	/* Existing files are checked first for an early answer; the writes
	 * themselves never replace without --force (link(2), not rename), and
	 * nothing is at OUT until the whole key is: no empty placeholder is
	 * left behind by a run that is killed. */
	if (!force && (access(out, F_OK) == 0 || (pub_path && access(pub_path, F_OK) == 0))) {
		cli_fail("`%s' already exists (use --force to replace it)",
			 access(out, F_OK) == 0 ? out : pub_path);
		goto out;
	}
	k = sig_keygen(scheme);
	pub_pem = sig_pub_to_pem(scheme, sig_key_pub(k));
	if (!pub_pem) {
		cli_fail("cannot encode the public key");
		goto out;
	}
	{
		char *pem = sig_key_to_pem(k);
		size_t plen = strlen(pem);
		int r = force ? file_write(out, pem, plen, 0600, err, sizeof(err))
			      : file_write_new(out, pem, plen, 0600, err, sizeof(err));
		wipe(pem, plen);
		free(pem);
		if (r < 0) {
			cli_fail("%s", err);
			goto out;
		}
		made_out = !force;
	}
	if (pub_path && (force ? file_write(pub_path, pub_pem, strlen(pub_pem), 0644, err, sizeof(err))
			       : file_write_new(pub_path, pub_pem, strlen(pub_pem), 0644, err, sizeof(err))) < 0) {
		cli_fail("%s", err);
		goto out;
	}
	made_pub = pub_path && !force;
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
