/*
 * netaddr.c — host:port helpers (see netaddr.h).
 */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int net_split_hostport(char *host, size_t hostlen, char *port, size_t portlen,
		       const char *hostport, char *err, size_t errlen)
{
	const char *colon, *h = hostport, *p;
	size_t hl;
	char *end;
	long v;

	if (!hostport)
		goto bad;
	if (*h == '[') {
		const char *rb = strchr(h, ']');
		if (!rb || rb[1] != ':')
			goto bad;
		h++;
		hl = (size_t)(rb - h);
		p = rb + 2;
	} else {
		colon = strrchr(h, ':');
		if (!colon || memchr(h, ':', (size_t)(colon - h)))
			goto bad;
		hl = (size_t)(colon - h);
		p = colon + 1;
	}
	if (hl == 0 || hl >= hostlen || *p == '\0' || strlen(p) >= portlen)
		goto bad;
	v = strtol(p, &end, 10);
	if (*end != '\0' || v < 0 || v > 65535 || !(*p >= '0' && *p <= '9'))
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%ld", v);
	return 0;
bad:
	err_set(err, errlen, "not a host:port address: `%s'", hostport ? hostport : "(null)");
	return -1;
}

int net_resolve(struct sockaddr_storage *ss, socklen_t *sslen, const char *host,
		const char *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
		hints.ai_flags = AI_NUMERICSERV;    /* loopback-only hosts */
		rc = getaddrinfo(host, port, &hints, &res);
	}
	if (rc != 0 || !res) {
		err_set(err, errlen, "cannot resolve `%s' port %s: %s", host, port, gai_strerror(rc));
		if (res)
			freeaddrinfo(res);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int net_resolve_hostport(struct sockaddr_storage *ss, socklen_t *sslen, const char *hostport,
			 char *err, size_t errlen)
{
	char host[256], port[8];

	if (net_split_hostport(host, sizeof(host), port, sizeof(port), hostport, err, errlen))
		return -1;
	return net_resolve(ss, sslen, host, port, err, errlen);
}

void net_tune_socket(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

int net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

void net_format_addr(char *out, size_t outlen, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(out, outlen, "?");
	}
}
