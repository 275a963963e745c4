/*
 * fuzz_config.c — libFuzzer harness for the configuration loaders: the
 * node's (node/config.h), the orchestrator's (orchestrator/orchestrator.h),
 * the portal's (portal/portal.h) and the genesis (ledger/genesis.h, the
 * consortium's shared configuration).  Byte 0 picks the loader, the rest is
 * the file's content, handed over as an in-memory file (memfd) so paths in
 * it resolve against /proc/self/fd.  Every input must be loaded or refused
 * with a reason that is not empty; what loads must free cleanly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "ledger/genesis.h"
#include "node/config.h"
#include "orchestrator/orchestrator.h"
#include "portal/portal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("bsec-fuzz-config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		log_set_level(LOG_ERROR);
	}
	if (!size)
		return 0;
	int which = data[0] % 4;
	data++;
	size--;
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	char err[1024] = "";
	int r;
	switch (which) {
	case 0: {
		node_config_t c;
		if ((r = node_config_load(&c, path, err, sizeof(err))) == 0)
			node_config_free(&c);
		break;
	}
	case 1: {
		orch_config_t c;
		memset(&c, 0, sizeof(c));
		if ((r = orch_config_load(&c, path, err, sizeof(err))) == 0)
			orch_config_free(&c);
		break;
	}
	case 2: {
		portal_config_t c;
		memset(&c, 0, sizeof(c));
		if ((r = portal_config_load(&c, path, err, sizeof(err))) == 0)
			portal_config_free(&c);
		break;
	}
	default: {
		genesis_t g;
		if ((r = genesis_parse(&g, data, size, err, sizeof(err))) == 0)
			genesis_free(&g);
		break;
	}
	}
	if (r != 0 && !err[0])
		abort(); /* a refusal always says why */
	return 0;
}
