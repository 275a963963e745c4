/*
 * cmd_instr.c — `bsec instr check "TEXT"`: runs the one instruction
 * parser (ledger/instr.h) over TEXT and prints its canonical form (exit 0),
 * or the error and the text with a caret under the offending position
 * (exit 1).  Lets users and scripts check an instruction before signing it.
 */
#include "cli.h"
#include "../ledger/instr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char check_usage[] =
	"bsec instr check \"TEXT\"\n"
	"  Prints the canonical form of the instruction TEXT (quote it as one argument),\n"
	"  or where and why it is refused.  Grammar:\n"
	"    vm  create NAME [--image IMAGE] [--flavor FLAVOR]\n"
	"    vm  delete NAME\n"
	"    vnf create NAME --type TYPE [--vm VM] [--image IMAGE] [--config KEY=VALUE]...\n"
	"    vnf update NAME --config KEY=VALUE...\n"
	"    vnf delete NAME\n"
	"    sfc create NAME --chain VNF[,VNF]... [--match KEY=VALUE[,KEY=VALUE]...]\n"
	"    sfc update NAME --chain VNF[,VNF]...\n"
	"    sfc delete NAME";

/* Prints up to a screen line of text around 1-based position pos, and a
 * caret under it, to stderr.  Unprintable bytes show as '?' so that the
 * caret stays in its column (and no escape sequence reaches the terminal). */
static void show_caret(const char *text, size_t len, size_t pos)
{
	enum { WIDTH = 72, BEFORE = 40 };
	size_t at = pos ? pos - 1 : 0;
	size_t start = at > BEFORE ? at - BEFORE : 0;
	size_t end = start + WIDTH < len ? start + WIDTH : len;
	const char *lead = start ? "..." : "";
	size_t i;

	fprintf(stderr, "  %s", lead);
	for (i = start; i < end; i++) {
		unsigned char c = (unsigned char)text[i];

		fputc(c >= 0x20 && c < 0x7f ? c : '?', stderr);
	}
	fprintf(stderr, "%s\n  %*s^\n", end < len ? "..." : "", (int)(strlen(lead) + at - start), "");
}

static int check_main(int argc, char **argv)
{
	char err[512];
	size_t len, pos = 0;
	instr_t in;
	char *canon = NULL;
	int ret = 1;

	if (argc != 2)
		return cli_usage(check_usage);
	len = strlen(argv[1]);
	if (instr_parse(&in, argv[1], len, &pos, err, sizeof err) < 0) {
		cli_fail("%s", err);
		show_caret(argv[1], len, pos);
		goto out;
	}
	canon = instr_format(&in);
	printf("%s\n", canon);
	ret = 0;
out:
	free(canon);
	return ret;
}

static const cli_cmd_t instr_cmds[] = {
	{ "check", check_main, "print an instruction's canonical form, or where it is wrong" },
	{ NULL, NULL, NULL },
};

int instr_main(int argc, char **argv)
{
	return cli_dispatch("instr", instr_cmds, argc, argv);
}
