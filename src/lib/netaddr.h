/*
 * netaddr.h — "host:port" parsing, resolution and socket tuning shared by
 * the peer transport and the HTTPS server/client.  Plain POSIX sockets;
 * no library types.
 */
#ifndef BSEC_NETADDR_H
#define BSEC_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>
#include "util.h"

/* Splits "host:port", "[v6]:port" into host (brackets removed) and port.
 * The port must be decimal 0..65535.  Returns 0 or -1 with a reason
 * quoting the input. */
int net_split_hostport(char *host, size_t hostlen, char *port, size_t portlen,
		       const char *hostport, char *err, size_t errlen) WUR;

/* Resolves host and port (numeric or via getaddrinfo, which may block on
 * DNS) to the first TCP address.  Returns 0 or -1 with a reason. */
int net_resolve(struct sockaddr_storage *ss, socklen_t *sslen, const char *host,
		const char *port, char *err, size_t errlen) WUR;

/* Same from one "host:port" string. */
int net_resolve_hostport(struct sockaddr_storage *ss, socklen_t *sslen, const char *hostport,
			 char *err, size_t errlen) WUR;

/* TCP_NODELAY and SO_KEEPALIVE on a connected/accepted TCP socket;
 * failures are ignored (best effort). */
void net_tune_socket(int fd);

/* Local port a socket is bound to, or -1. */
int net_local_port(int fd);

/* Formats an address as "ip:port" / "[ip6]:port" into out. */
void net_format_addr(char *out, size_t outlen, const struct sockaddr *sa);

#endif
