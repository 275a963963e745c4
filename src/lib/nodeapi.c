/*
 * nodeapi.c — the list of node APIs shared by the CLI, the orchestrator
 * and the portal (see nodeapi.h).
 */
#include "nodeapi.h"

#include <stdlib.h>
#include <string.h>

int nodeapi_same_base(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && !strncmp(a, b, la);
}

void nodeapi_add(nodeapi_t **v, size_t *n, const char *url, const char *name, const char *pin,
		 const char *ca)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	nodeapi_t *nd = &(*v)[(*n)++];
	memset(nd, 0, sizeof(*nd));
	nd->url = xstrdup(url);
	size_t l = strlen(nd->url);
	while (l && nd->url[l - 1] == '/')
		nd->url[--l] = 0;
	nd->name = name ? name : nd->url;
	nd->trust.ca_file = ca;
	nd->trust.pin_pem = ca ? NULL : pin;
}

void nodeapi_free(nodeapi_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].url);
		https_client_free(v[i].post);
		https_client_free(v[i].poll);
	}
	free(v);
}

int nodeapi_request(https_client_t **c, const nodeapi_t *nd, int timeout_ms, size_t max_response,
		    const char *method, const char *path, const uint8_t *body, size_t len, int *status,
		    uint8_t **resp, size_t *rlen, char *err, size_t errlen)
{
	*resp = NULL;
	*rlen = 0;
	*status = 0;
	if (!*c) {
		*c = https_client_new(nd->url, &nd->trust, timeout_ms, err, errlen);
		if (!*c)
			return -1;
		https_client_set_max_response(*c, max_response);
	}
	if (https_client_request(*c, method, path, body && len ? "application/octet-stream" : NULL, body,
				 len, status, resp, rlen, err, errlen) < 0) {
		https_client_free(*c);
		*c = NULL;
		return -1;
	}
	return 0;
}
