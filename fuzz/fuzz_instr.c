/*
 * fuzz_instr.c — libFuzzer harness for the instruction parser
 * (ledger/instr.h).  Any bytes: the parser must not crash or read past
 * len; a refusal must carry "at N: " with 1 <= N <= len+1; an accepted
 * text must print canonically, and the canonical text must parse back to
 * the same instr_t and print identically (a fixed point) and be no longer
 * than the input.  Violations abort().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/instr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, so ASan catches any read past size */
	char *text = malloc(size ? size : 1);
	char err[256], prefix[32];
	size_t pos = 0, pos2 = 0;
	instr_t a, b;
	char *s1 = NULL, *s2 = NULL;

	memcpy(text, data, size);
	if (instr_parse(&a, text, size, &pos, err, sizeof err) != 0) {
		snprintf(prefix, sizeof prefix, "at %zu: ", pos);
		if (pos < 1 || pos > size + 1 || strncmp(err, prefix, strlen(prefix)) != 0)
			abort();
		goto out;
	}
	s1 = instr_format(&a);
	if (strlen(s1) > size)
		abort();
	if (instr_parse(&b, s1, strlen(s1), &pos2, err, sizeof err) != 0) {
		fprintf(stderr, "canonical text refused: '%s': %s\n", s1, err);
		abort();
	}
	if (memcmp(&a, &b, sizeof a) != 0)
		abort();
	s2 = instr_format(&b);
	if (strcmp(s1, s2) != 0)
		abort();
out:
	free(s1);
	free(s2);
	free(text);
	return 0;
}
