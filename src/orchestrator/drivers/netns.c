/*
 * netns.c — the netns driver (DESIGN §8): a real data plane on this Linux
 * host, built from network namespaces, veth pairs, routes and nftables,
 * driven through iproute2 `ip' and `nft' run as argv (driver.c's runner:
 * never a shell, with a timeout).  Needs root.
 *
 * Objects (P = the consortium prefix; every name below starts "bsec-P-"):
 *   vm  NAME        namespace bsec-P-vm-NAME (loopback up).  --image and
 *                   --flavor are recorded, nothing runs in it.
 *   vnf NAME        namespace bsec-P-vnf-NAME with IPv4 forwarding on and
 *                   its function as nftables table bsec_vnf:
 *                     forwarder  plain IP forwarding (no table);
 *                     firewall   chain forward: --config deny=ITEMS (drop),
 *                                established/related flows accepted,
 *                                allow=ITEMS (accept), default=drop|accept
 *                                (the policy; drop when allow is given and
 *                                default is not, else accept).  ITEMS is a
 *                                comma list of tcp|udp|sctp[:PORT[-PORT]] or
 *                                icmp, e.g. allow=tcp:80,udp:53;
 *                     monitor    forwarder counting every forwarded packet
 *                                in nft counter "seen" (netns_counter);
 *                     nat        masquerade of forwarded traffic on the
 *                                way out (replies are un-NATed by conntrack).
 *                   Unknown --config keys are refused.  A VNF always gets
 *                   its own namespace (namespaces do not nest); with --vm
 *                   the VM's namespace must exist and the placement is
 *                   recorded.
 *   sfc NAME        namespaces bsec-P-sfcin-NAME (ingress) and
 *                   bsec-P-sfcout-NAME (egress), and one veth pair per hop:
 *                   ingress -> VNF1 -> ... -> VNFn -> egress.  The SFC owns
 *                   a /25 of 10.0.0.0/8 chosen from a hash of its name,
 *                   skipping blocks used by other SFCs of the prefix or
 *                   present in its VNFs; hop k is the /30 at offset 4k (.1
 *                   on the upstream side, .2 downstream).  Routes: ingress
 *                   and egress default through the chain; each VNF sends
 *                   the egress address downstream and the rest of the /25
 *                   upstream, so packets from ingress to the egress
 *                   address cross the VNFs in order and replies come back
 *                   the same way.  VNFs of other domains are found by name
 *                   (names are unique in a consortium).  Interface names
 *                   are "s" + 7 hex digits of a hash of the SFC + hop +
 *                   side (11 characters).
 *                   --match (proto, sport, dport, src, dst; IPv4 only)
 *                   classifies at the ingress: matching traffic is marked
 *                   (nft, route hook) and policy-routed into the chain;
 *                   everything else takes a direct bypass link to egress
 *                   (offset 124 of the /25).  Egress marks connections that
 *                   arrived through the chain (conntrack mark) and routes
 *                   their replies back through it.
 *                   update re-links (teardown, same /25 if still free,
 *                   rebuild; if the rebuild fails the old chain is put
 *                   back); delete removes namespaces, veths and tables.
 *                   A create or update whose SFC already exists whole with
 *                   the same spec changes nothing; a damaged one is rebuilt.
 *
 * Records: what each object was created from (spec, domain, owner, the
 * SFC's block) is kept in /run/bsec/netns/P/KIND-NAME.json, next to the
 * namespaces in /run/netns and like them gone at reboot.  driver_list
 * reports what exists as namespaces and checks it against the record
 * (nft rules digest, forwarding, links) — differences go to `problem'.
 * Mutations take an exclusive flock on /run/bsec/netns/P/lock, so the
 * orchestrators of several domains on one host never interleave.
 *
 * Config (optional): {"cmd_timeout_ms": 10000, "ip": "ip", "nft": "nft"}.
 */
#include "../driver_impl.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../lib/hash.h"

#define NETNS_RUN_DIR "/run/netns"
#define META_ROOT "/run/bsec/netns"
#define N_BLOCKS (1u << 17)             /* /25 blocks in 10.0.0.0/8 */
#define BYPASS_HOP 31
#define STEER_TABLE "100"
#define IP_MAX_ARGS 24
#define NS_MAX 96                       /* "bsec-P-sfcout-NAME" and more */

typedef struct {
	char *ip, *nft;
	int timeout_ms;
	char *meta_dir;
	int lock_fd;
} nsd_t;

/* What a record says (KIND-NAME.json). */
typedef struct {
	int present;
	char domain[TX_MAX_DOMAIN + 1];
	char owner[DRIVER_MAX_OWNER];
	char spec[DRIVER_MAX_SPEC];
	char digest[2 * BSEC_HASH_BYTES + 1];   /* vnf: of `nft -s list table' */
	long block;                             /* sfc */
} meta_t;

static const char *const TAGS[] = { [OBJ_VM] = "vm", [OBJ_VNF] = "vnf", [OBJ_SFC] = "sfcin" };

/* ---- names ------------------------------------------------------------- */

static void ns_name(char *out, size_t len, const driver_t *drv, const char *tag, const char *name)
{
	snprintf(out, len, "bsec-%s-%s-%s", drv->prefix, tag, name);
}

static int ns_exists(const char *ns)
{
	char path[128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, ns);
	return stat(path, &st) == 0;
}

static void sfc_tag(char out[8], const driver_t *drv, const char *sfc)
{
	uint8_t h[BSEC_HASH_BYTES];
	char *s = xasprintf("bsec/sfc/%s/%s", drv->prefix, sfc);
	hash_sha256(h, s, strlen(s));
	free(s);
	char hex[2 * BSEC_HASH_BYTES + 1];
	hex_encode(hex, h, sizeof(h));
	memcpy(out, hex, 7);
	out[7] = 0;
}

static uint32_t sfc_hash_block(const driver_t *drv, const char *sfc)
{
	uint8_t h[BSEC_HASH_BYTES];
	char *s = xasprintf("bsec/block/%s/%s", drv->prefix, sfc);
	hash_sha256(h, s, strlen(s));
	free(s);
	return (((uint32_t)h[0] << 24) | ((uint32_t)h[1] << 16) | ((uint32_t)h[2] << 8) | h[3]) % N_BLOCKS;
}

/* Interface of hop k, side 'a' (upstream end) or 'b' (downstream end). */
static void if_name(char out[16], const char *tag, int hop, char side)
{
	if (hop == BYPASS_HOP)
		snprintf(out, 16, "s%.7sbp%c", tag, side);
	else
		snprintf(out, 16, "s%.7s%02u%c", tag, (unsigned)hop % 100u, side);
}

static uint32_t hop_addr(long block, int hop, int side_b)
{
	return (10u << 24) | ((uint32_t)block << 7) | (uint32_t)(hop * 4) | (side_b ? 2u : 1u);
}

static void ip4(char out[16], uint32_t a)
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* ---- commands ---------------------------------------------------------- */

static int ipv(driver_t *drv, drv_cmd_out_t *out, char *err, size_t elen, ...)
{
	nsd_t *d = drv->impl;
	const char *argv[IP_MAX_ARGS + 2];
	int n = 0;
	va_list ap;
	argv[n++] = d->ip;
	va_start(ap, elen);
	for (const char *a = va_arg(ap, const char *); a && n < IP_MAX_ARGS; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	drv_cmd_out_t o;
	drv_cmd_t c = { argv, -1, NULL, 0, d->timeout_ms, 4u << 20 };
	int r = drv_run(&c, &o, err, elen);
	if (out)
		*out = o;
	else
		drv_cmd_out_free(&o);
	return r;
}
#define IP(drv, err, elen, ...) ipv(drv, NULL, err, elen, __VA_ARGS__, (const char *)NULL)

/* nft with args... in namespace ns, text on stdin (or NULL). */
static int nft_in(driver_t *drv, const char *ns, const char *input, drv_cmd_out_t *out, char *err, size_t elen,
		  const char *a1, const char *a2, const char *a3, const char *a4, const char *a5, const char *a6)
{
	nsd_t *d = drv->impl;
	char path[128];
	int ret = -1;
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	drv_cmd_out_t o = { 0 };
	if (fd < 0) {
		err_set(err, elen, "network namespace `%s' is gone: %s", ns, strerror(errno));
		goto out;
	}
	const char *argv[] = { d->nft, a1, a2, a3, a4, a5, a6, NULL };
	drv_cmd_t c = { argv, fd, input, input ? strlen(input) : 0, d->timeout_ms, 4u << 20 };
	ret = drv_run(&c, &o, err, elen);
out:
	if (fd >= 0)
		close(fd);
	if (out)
		*out = o;
	else
		drv_cmd_out_free(&o);
	return ret;
}

/* Runs fn(arg) in a child that joined namespace ns; returns its pid or -1. */
static pid_t ns_spawn(const char *ns, int (*fn)(void *), void *arg, char *err, size_t elen)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_set(err, elen, "network namespace `%s' is gone: %s", ns, strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		if (setns(fd, CLONE_NEWNET) < 0)
			_exit(125);
		_exit(fn(arg));
	}
	if (pid < 0)
		err_set(err, elen, "fork: %s", strerror(errno));
	close(fd);
	return pid;
}

/* Waits for pid until timeout_ms (then kills it); its exit code or -1. */
static int ns_wait(pid_t pid, int timeout_ms)
{
	int st = 0;
	uint64_t deadline = mono_us() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -1;
		if (mono_us() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		drv_sleep_ms(2);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int ns_call(driver_t *drv, const char *ns, int (*fn)(void *), void *arg, int *code, char *err, size_t elen)
{
	nsd_t *d = drv->impl;
	pid_t pid = ns_spawn(ns, fn, arg, err, elen);
	if (pid < 0)
		return -1;
	*code = ns_wait(pid, d->timeout_ms);
	return 0;
}

/* In a child: sysctls for our namespaces.  arg: int forward. */
static int write_proc(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, v, strlen(v));
	close(fd);
	return w == (ssize_t)strlen(v) ? 0 : -1;
}

static int sysctl_child(void *arg)
{
	int forward = *(int *)arg;
	if (write_proc("/proc/sys/net/ipv4/conf/all/rp_filter", "0") < 0 ||
	    write_proc("/proc/sys/net/ipv4/conf/default/rp_filter", "0") < 0 ||
	    write_proc("/proc/sys/net/ipv4/ip_forward", forward ? "1" : "0") < 0)
		return 1;
	return 0;
}

static int forward_check_child(void *arg)
{
	char c = 0;
	int fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 2;
	ssize_t r = read(fd, &c, 1);
	close(fd);
	return r == 1 && c == '1' ? 0 : 1;
}

/* Adds namespace ns with loopback up and our sysctls. */
static int ns_setup(driver_t *drv, const char *ns, int forward, char *err, size_t elen)
{
	int code;
	if (IP(drv, err, elen, "netns", "add", ns) < 0)
		return -1;
	if (IP(drv, err, elen, "-n", ns, "link", "set", "lo", "up") < 0)
		return -1;
	if (ns_call(drv, ns, sysctl_child, &forward, &code, err, elen) < 0)
		return -1;
	if (code != 0) {
		err_set(err, elen, "cannot set forwarding and rp_filter in namespace `%s'", ns);
		return -1;
	}
	return 0;
}

static int ns_del(driver_t *drv, const char *ns, char *err, size_t elen)
{
	if (!ns_exists(ns))
		return 0;
	return IP(drv, err, elen, "netns", "del", ns);
}

/* Interface names in namespace ns (JSON array from ip -j; caller decrefs). */
static json_t *ns_links(driver_t *drv, const char *ns, char *err, size_t elen)
{
	drv_cmd_out_t o;
	json_t *j = NULL;
	if (ipv(drv, &o, err, elen, "-j", "-n", ns, "link", "show", (const char *)NULL) == 0) {
		j = json_loadb(o.out, o.out_len, 0, NULL);
		if (!json_is_array(j)) {
			err_set(err, elen, "cannot read the links of namespace `%s'", ns);
			json_decref(j);
			j = NULL;
		}
	}
	drv_cmd_out_free(&o);
	return j;
}

static int has_link(const json_t *links, const char *ifname)
{
	size_t i;
	json_t *e;
	json_array_foreach(links, i, e) {
		const char *n = json_string_value(json_object_get(e, "ifname"));
		if (n && !strcmp(n, ifname))
			return 1;
	}
	return 0;
}

/* ---- records ------------------------------------------------------------ */

static char *meta_path(const driver_t *drv, int kind, const char *name)
{
	const nsd_t *d = drv->impl;
	return xasprintf("%s/%s-%s.json", d->meta_dir, obj_kind_name(kind), name);
}

static void meta_read(const driver_t *drv, int kind, const char *name, meta_t *m)
{
	char *p = meta_path(drv, kind, name);
	size_t len;
	char why[256];
	memset(m, 0, sizeof(*m));
	m->block = -1;
	uint8_t *data = file_read(p, &len, 1 << 20, why, sizeof(why));
	json_t *j = data ? json_loadb((const char *)data, len, 0, NULL) : NULL;
	const char *spec = json_string_value(json_object_get(j, "spec"));
	if (spec && strlen(spec) < sizeof(m->spec)) {
		m->present = 1;
		snprintf(m->spec, sizeof(m->spec), "%s", spec);
		const char *s;
		if ((s = json_string_value(json_object_get(j, "domain"))))
			snprintf(m->domain, sizeof(m->domain), "%s", s);
		if ((s = json_string_value(json_object_get(j, "owner"))))
			snprintf(m->owner, sizeof(m->owner), "%s", s);
		if ((s = json_string_value(json_object_get(j, "nft_digest"))))
			snprintf(m->digest, sizeof(m->digest), "%s", s);
		json_t *b = json_object_get(j, "block");
		if (json_is_integer(b) && json_integer_value(b) >= 0 && json_integer_value(b) < N_BLOCKS)
			m->block = (long)json_integer_value(b);
	}
	json_decref(j);
	free(data);
	free(p);
}

static int meta_write(const driver_t *drv, int kind, const char *name, const meta_t *m, char *err, size_t elen)
{
	char *p = meta_path(drv, kind, name);
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kind", obj_kind_name(kind), "name", name, "domain",
			      m->domain, "owner", m->owner, "spec", m->spec);
	if (m->digest[0])
		json_object_set_new(j, "nft_digest", json_string(m->digest));
	if (m->block >= 0)
		json_object_set_new(j, "block", json_integer(m->block));
	char *txt = json_dumps(j, JSON_INDENT(1));
	int r = file_write(p, txt, strlen(txt), 0600, err, elen);
	free(txt);
	json_decref(j);
	free(p);
	return r;
}

static void meta_remove(const driver_t *drv, int kind, const char *name)
{
	char *p = meta_path(drv, kind, name);
	unlink(p);
	free(p);
}

/* ---- VNF functions -------------------------------------------------------- */


/* One firewall item "tcp:80", "udp:1000-2000", "sctp", "icmp" as an nft
 * match; returns 0 or -1 with a reason. */
static int fw_item(sbuf_t *b, const char *key, const char *item, size_t n, const char *verdict, char *err,
		   size_t elen)
{
	char it[INSTR_MAX_VALUE + 1], proto[8] = "";
	unsigned lo = 0, hi = 0;
	int ok = 0;
	snprintf(it, sizeof(it), "%.*s", (int)n, item);
	char *colon = strchr(it, ':');
	size_t pl = colon ? (size_t)(colon - it) : strlen(it);
	if (pl > 0 && pl < sizeof(proto)) {
		memcpy(proto, it, pl);
		proto[pl] = 0;
	}
	int ported = !strcmp(proto, "tcp") || !strcmp(proto, "udp") || !strcmp(proto, "sctp");
	if (!strcmp(proto, "icmp") && !colon) {
		ok = 1;
	} else if (ported && !colon) {
		ok = 1;
	} else if (ported) {
		const char *p = colon + 1;
		char *end;
		if (*p >= '0' && *p <= '9') {
			unsigned long a = strtoul(p, &end, 10), c = a;
			if (*end == '-' && end[1] >= '0' && end[1] <= '9')
				c = strtoul(end + 1, &end, 10);
			if (!*end && a >= 1 && c <= 65535 && a <= c && end - p <= 11) {
				lo = (unsigned)a;
				hi = (unsigned)c;
				ok = 1;
			}
		}
	}
	if (!ok) {
		err_set(err, elen, "firewall %s item `%s' is not tcp|udp|sctp[:PORT[-PORT]] (ports 1-65535) or icmp",
			key, it);
		return -1;
	}
	sb_printf(b, "\t\tmeta l4proto %s", proto);
	if (lo && lo == hi)
		sb_printf(b, " th dport %u", lo);
	else if (lo)
		sb_printf(b, " th dport %u-%u", lo, hi);
	sb_printf(b, " %s\n", verdict);
	return 0;
}

static int fw_items(sbuf_t *b, const char *key, const char *value, const char *verdict, char *err, size_t elen)
{
	const char *p = value;
	for (;;) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n == 0) {
			err_set(err, elen, "firewall %s `%s' has an empty item", key, value);
			return -1;
		}
		if (fw_item(b, key, p, n, verdict, err, elen) < 0)
			return -1;
		if (!c)
			return 0;
		p = c + 1;
	}
}

static const char *cfg_get(const instr_t *in, const char *key)
{
	for (int i = 0; i < in->n_config; i++)
		if (!strcmp(in->config[i].key, key))
			return in->config[i].value;
	return NULL;
}

/* The nft ruleset of a VNF spec: *family "inet"/"ip" and *text (fresh),
 * or *text NULL for a plain forwarder.  Checks the config. */
static int vnf_ruleset(const instr_t *spec, const char **family, char **text, char *err, size_t elen)
{
	static const char *const FW_KEYS[] = { "allow", "default", "deny" };
	sbuf_t b;
	int ret = -1;
	*text = NULL;
	*family = "inet";
	sb_init(&b);
	int fw = !strcmp(spec->type, "firewall");
	for (int i = 0; i < spec->n_config; i++) {
		int known = 0;
		for (size_t k = 0; fw && k < ARRAY_LEN(FW_KEYS); k++)
			known |= !strcmp(FW_KEYS[k], spec->config[i].key);
		if (!known) {
			if (fw)
				err_set(err, elen, "firewall config key `%s' is not allow, deny or default",
					spec->config[i].key);
			else
				err_set(err, elen, "vnf type %s takes no --config (got `%s')", spec->type,
					spec->config[i].key);
			goto out;
		}
	}
	if (!strcmp(spec->type, "forwarder")) {
		ret = 0;
		goto out;
	}
	if (fw) {
		const char *allow = cfg_get(spec, "allow"), *deny = cfg_get(spec, "deny");
		const char *def = cfg_get(spec, "default");
		if (def && strcmp(def, "drop") && strcmp(def, "accept")) {
			err_set(err, elen, "firewall default `%s' is not drop or accept", def);
			goto out;
		}
		if (!def)
			def = allow ? "drop" : "accept";
		sb_printf(&b, "table inet bsec_vnf {\n\tchain forward {\n"
			  "\t\ttype filter hook forward priority filter; policy %s;\n", def);
		if (deny && fw_items(&b, "deny", deny, "drop", err, elen) < 0)
			goto out;
		sb_str(&b, "\t\tct state established,related accept\n");
		if (allow && fw_items(&b, "allow", allow, "accept", err, elen) < 0)
			goto out;
		sb_str(&b, "\t}\n}\n");
	} else if (!strcmp(spec->type, "monitor")) {
		sb_str(&b, "table inet bsec_vnf {\n\tcounter seen {\n\t}\n\tchain forward {\n"
			   "\t\ttype filter hook forward priority filter; policy accept;\n"
			   "\t\tcounter name \"seen\"\n\t}\n}\n");
	} else if (!strcmp(spec->type, "nat")) {
		*family = "ip";
		sb_str(&b, "table ip bsec_vnf {\n\tchain postrouting {\n"
			   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
			   "\t\tmasquerade\n\t}\n}\n");
	} else {
		err_set(err, elen, "vnf type `%s' is not supported by the netns driver", spec->type);
		goto out;
	}
	*text = b.s;
	b.s = NULL;
	ret = 0;
out:
	free(b.s);
	return ret;
}

/* Digest of what nft reports for table bsec_vnf in ns ("" if none). */
static int vnf_digest(driver_t *drv, const char *ns, const char *family, char out[2 * BSEC_HASH_BYTES + 1],
		      char *err, size_t elen)
{
	drv_cmd_out_t o;
	out[0] = 0;
	int r = nft_in(drv, ns, NULL, &o, err, elen, "-s", "list", "table", family, "bsec_vnf", NULL);
	if (r == 0) {
		uint8_t h[BSEC_HASH_BYTES];
		hash_sha256(h, o.out, o.out_len);
		hex_encode(out, h, sizeof(h));
	}
	drv_cmd_out_free(&o);
	return r;
}

/* Installs (atomically replaces) the VNF's table; fills digest. */
static int vnf_install(driver_t *drv, const char *ns, const char *family, const char *rules,
		       char digest[2 * BSEC_HASH_BYTES + 1], char *err, size_t elen)
{
	digest[0] = 0;
	if (!rules)
		return 0;
	char *txt = xasprintf("table %s bsec_vnf\ndelete table %s bsec_vnf\n%s", family, family, rules);
	int r = nft_in(drv, ns, txt, NULL, err, elen, "-f", "-", NULL, NULL, NULL, NULL);
	free(txt);
	if (r == 0)
		r = vnf_digest(drv, ns, family, digest, err, elen);
	return r;
}

/* ---- inspection (what exists, and does it match its record) --------------- */

static int parse_spec(const char *spec, instr_t *in)
{
	size_t pos;
	char why[128];
	return instr_parse(in, spec, strlen(spec), &pos, why, sizeof(why));
}

static void problem_add(driver_obj_t *o, const char *fmt, ...) PRINTF(2, 3);
static void problem_add(driver_obj_t *o, const char *fmt, ...)
{
	size_t n = strlen(o->problem);
	va_list ap;
	if (n && n + 2 < sizeof(o->problem)) {
		strcat(o->problem, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(o->problem + n, sizeof(o->problem) - n, fmt, ap);
	va_end(ap);
}

/* Fills out for (kind, name); *exists = 0 when its namespace is absent. */
static void inspect(driver_t *drv, int kind, const char *name, int *exists, driver_obj_t *out)
{
	char ns[NS_MAX], ns2[NS_MAX], why[512];
	meta_t *m = xmalloc(sizeof(*m));
	instr_t *in = xmalloc(sizeof(*in));
	memset(out, 0, sizeof(*out));
	out->kind = kind;
	snprintf(out->name, sizeof(out->name), "%s", name);
	ns_name(ns, sizeof(ns), drv, TAGS[kind], name);
	ns_name(ns2, sizeof(ns2), drv, "sfcout", name);
	*exists = ns_exists(ns) || (kind == OBJ_SFC && ns_exists(ns2));
	if (!*exists)
		goto out;
	meta_read(drv, kind, name, m);
	if (!m->present || parse_spec(m->spec, in) < 0) {
		problem_add(out, "namespace %s exists but no record of what it should be", ns);
		goto out;
	}
	snprintf(out->domain, sizeof(out->domain), "%s", m->domain);
	snprintf(out->owner, sizeof(out->owner), "%s", m->owner);
	snprintf(out->spec, sizeof(out->spec), "%s", m->spec);
	if (kind == OBJ_VNF) {
		const char *family;
		char *rules = NULL, dg[2 * BSEC_HASH_BYTES + 1];
		int code = -1;
		if (ns_call(drv, ns, forward_check_child, NULL, &code, why, sizeof(why)) < 0 || code != 0)
			problem_add(out, "IPv4 forwarding is off");
		if (vnf_ruleset(in, &family, &rules, why, sizeof(why)) == 0 && rules) {
			if (vnf_digest(drv, ns, family, dg, why, sizeof(why)) < 0)
				problem_add(out, "nft table bsec_vnf is missing");
			else if (strcmp(dg, m->digest))
				problem_add(out, "nft table bsec_vnf differs from the one installed");
		}
		free(rules);
	} else if (kind == OBJ_SFC) {
		char tag[8], a[16], b[16], vns[NS_MAX];
		sfc_tag(tag, drv, name);
		if (!ns_exists(ns))
			problem_add(out, "ingress namespace %s is missing", ns);
		if (!ns_exists(ns2))
			problem_add(out, "egress namespace %s is missing", ns2);
		json_t *prev = ns_exists(ns) ? ns_links(drv, ns, why, sizeof(why)) : NULL;
		for (int k = 0; k <= in->n_chain; k++) {
			json_t *next = NULL;
			const char *nsn = ns2;
			if (k < in->n_chain) {
				ns_name(vns, sizeof(vns), drv, "vnf", in->chain[k]);
				nsn = vns;
				if (!ns_exists(vns))
					problem_add(out, "vnf %s is missing", in->chain[k]);
			}
			if (ns_exists(nsn))
				next = ns_links(drv, nsn, why, sizeof(why));
			if_name(a, tag, k, 'a');
			if_name(b, tag, k, 'b');
			if (!prev || !has_link(prev, a) || !next || !has_link(next, b))
				problem_add(out, "link %d (%s) is missing", k, k ? in->chain[k - 1] : "ingress");
			json_decref(prev);
			prev = next;
		}
		json_decref(prev);
	}
out:
	free(m);
	free(in);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in /run/netns starting with "bsec-PREFIX-" (caller frees
 * each and the array); *n their count. */
static char **our_namespaces(const char *prefix, size_t *n)
{
	char *pre = xasprintf("bsec-%s-", prefix);
	size_t cap = 16, k = 0;
	char **v = xcalloc(cap, sizeof(*v));
	DIR *dir = opendir(NETNS_RUN_DIR);
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		if (strncmp(e->d_name, pre, strlen(pre)))
			continue;
		if (k + 1 >= cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[k++] = xstrdup(e->d_name);
	}
	if (dir)
		closedir(dir);
	qsort(v, k, sizeof(*v), name_cmp);
	v[k] = NULL;
	*n = k;
	free(pre);
	return v;
}

static void free_names(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int lock(driver_t *drv, char *err, size_t elen)
{
	nsd_t *d = drv->impl;
	while (flock(d->lock_fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			err_set(err, elen, "cannot lock %s/lock: %s", d->meta_dir, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void unlock(driver_t *drv)
{
	nsd_t *d = drv->impl;
	flock(d->lock_fd, LOCK_UN);
}

static int netns_list(driver_t *drv, driver_list_cb cb, void *ctx, char *err, size_t elen)
{
	size_t n, plen = strlen(drv->prefix) + 6;
	if (lock(drv, err, elen) < 0)
		return -1;
	char **names = our_namespaces(drv->prefix, &n);
	driver_obj_t *o = xmalloc(sizeof(*o));
	int ret = 0;
	for (size_t i = 0; i < n && !ret; i++) {
		const char *rest = names[i] + plen; /* after "bsec-P-" */
		static const struct { const char *tag; int kind; } T[] = {
			{ "vm-", OBJ_VM }, { "vnf-", OBJ_VNF }, { "sfcin-", OBJ_SFC }, { "sfcout-", OBJ_SFC } };
		for (size_t t = 0; t < ARRAY_LEN(T); t++) {
			size_t tl = strlen(T[t].tag);
			if (strncmp(rest, T[t].tag, tl) || strlen(rest + tl) > INSTR_MAX_NAME || !rest[tl])
				continue;
			const char *name = rest + tl;
			if (t == 3) { /* egress: reported with its ingress unless that is gone */
				char in_ns[NS_MAX];
				ns_name(in_ns, sizeof(in_ns), drv, "sfcin", name);
				if (ns_exists(in_ns))
					break;
			}
			int exists;
			inspect(drv, T[t].kind, name, &exists, o);
			if (exists)
				ret = cb(ctx, o);
			break;
		}
	}
	unlock(drv);
	free(o);
	free_names(names);
	return ret;
}

static int valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > INSTR_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      (i && name[i] == '-')))
			return 0;
	return 1;
}

static int netns_get(driver_t *drv, int kind, const char *name, int *exists, driver_obj_t *out, char *err,
		     size_t elen)
{
	*exists = 0;
	if (kind != OBJ_VM && kind != OBJ_VNF && kind != OBJ_SFC) {
		err_set(err, elen, "unknown object kind %d", kind);
		return -1;
	}
	if (!valid_name(name))
		return 0; /* nothing by that name can exist */
	if (lock(drv, err, elen) < 0)
		return -1;
	inspect(drv, kind, name, exists, out);
	if (!*exists) { /* a delete that died before removing the record: not gone yet */
		meta_t *m = xmalloc(sizeof(*m));
		meta_read(drv, kind, name, m);
		if (m->present) {
			*exists = 1;
			snprintf(out->spec, sizeof(out->spec), "%s", m->spec);
			snprintf(out->domain, sizeof(out->domain), "%s", m->domain);
			snprintf(out->owner, sizeof(out->owner), "%s", m->owner);
			problem_add(out, "recorded but no namespace exists");
		}
		free(m);
	}
	unlock(drv);
	return 0;
}

/* ---- SFCs ------------------------------------------------------------------ */

/* The --match classifier as an nft expression (fresh), "" when none. */
static int match_expr(const instr_t *spec, char **out, char *err, size_t elen)
{
	sbuf_t b;
	const char *proto = NULL;
	int ports = 0, ret = -1;
	sb_init(&b);
	*out = NULL;
	for (int i = 0; i < spec->n_match; i++) {
		const char *k = spec->match[i].key, *v = spec->match[i].value;
		if (!strcmp(k, "proto"))
			proto = v;
		else if (!strcmp(k, "sport") || !strcmp(k, "dport"))
			ports = 1;
		else if (strchr(v, ':')) {
			err_set(err, elen, "match %s=%s: the netns driver steers IPv4 only", k, v);
			goto out;
		}
	}
	if (proto && !strcmp(proto, "icmpv6")) {
		err_set(err, elen, "match proto=icmpv6: the netns driver steers IPv4 only");
		goto out;
	}
	if (proto && ports && strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "sctp")) {
		err_set(err, elen, "match proto=%s has no ports (sport/dport need tcp, udp or sctp)", proto);
		goto out;
	}
	if (proto)
		sb_printf(&b, "meta l4proto %s ", proto);
	else if (ports)
		sb_str(&b, "meta l4proto { tcp, udp, sctp } ");
	for (int i = 0; i < spec->n_match; i++) {
		const char *k = spec->match[i].key, *v = spec->match[i].value;
		if (!strcmp(k, "sport") || !strcmp(k, "dport"))
			sb_printf(&b, "th %s %s ", k, v);
		else if (!strcmp(k, "src"))
			sb_printf(&b, "ip saddr %s ", v);
		else if (!strcmp(k, "dst"))
			sb_printf(&b, "ip daddr %s ", v);
	}
	*out = b.s;
	b.s = NULL;
	ret = 0;
out:
	free(b.s);
	return ret;
}

static int vnfs_exist(driver_t *drv, const instr_t *spec, char *err, size_t elen)
{
	char ns[NS_MAX];
	for (int i = 0; i < spec->n_chain; i++) {
		ns_name(ns, sizeof(ns), drv, "vnf", spec->chain[i]);
		if (!ns_exists(ns)) {
			err_set(err, elen, "vnf %s does not exist on this host (no namespace %s)", spec->chain[i], ns);
			return -1;
		}
	}
	return 0;
}

/* Removes everything SFC name made: its interfaces in the VNFs of spec's
 * chain (spec NULL: in every VNF of the prefix), then its namespaces.  In
 * that order: deleting a veth end removes the pair at once, while a
 * deleted namespace's devices go away asynchronously (a rebuild right
 * after could find their names still taken). */
static int sfc_teardown(driver_t *drv, const char *name, const instr_t *spec, char *err, size_t elen)
{
	char ns[NS_MAX], vpre[NS_MAX], tag[8], pre[10], why[512];
	int ret = 0;
	size_t n = 0;
	char **all = NULL;
	sfc_tag(tag, drv, name);
	snprintf(pre, sizeof(pre), "s%s", tag);
	snprintf(vpre, sizeof(vpre), "bsec-%s-vnf-", drv->prefix);
	if (!spec)
		all = our_namespaces(drv->prefix, &n);
	int count = spec ? spec->n_chain : (int)n;
	for (int i = 0; i < count; i++) {
		if (spec)
			ns_name(ns, sizeof(ns), drv, "vnf", spec->chain[i]);
		else if (strncmp(all[i], vpre, strlen(vpre)))
			continue;
		else
			snprintf(ns, sizeof(ns), "%s", all[i]);
		if (!ns_exists(ns))
			continue;
		json_t *links = ns_links(drv, ns, why, sizeof(why));
		size_t j;
		json_t *e;
		json_array_foreach(links, j, e) {
			const char *ifn = json_string_value(json_object_get(e, "ifname"));
			if (!ifn || strncmp(ifn, pre, strlen(pre)))
				continue;
			if (IP(drv, why, sizeof(why), "-n", ns, "link", "del", ifn) == 0)
				continue;
			json_t *now = ns_links(drv, ns, why + 256, sizeof(why) - 256);
			if ((!now || has_link(now, ifn)) && !ret++) /* not gone with its peer */
				err_set(err, elen, "%.255s", why);
			json_decref(now);
		}
		json_decref(links);
	}
	free_names(all);
	ns_name(ns, sizeof(ns), drv, "sfcin", name);
	if (ns_del(drv, ns, why, sizeof(why)) < 0 && !ret++)
		err_set(err, elen, "%s", why);
	ns_name(ns, sizeof(ns), drv, "sfcout", name);
	if (ns_del(drv, ns, why, sizeof(why)) < 0 && !ret++)
		err_set(err, elen, "%s", why);
	return ret ? -1 : 0;
}

/* Marks in used (a bitmap of N_BLOCKS) the /25s other SFCs of the prefix
 * hold and those with addresses in the chain's VNFs. */
static void blocks_in_use(driver_t *drv, const char *self, const instr_t *spec, uint8_t *used)
{
	nsd_t *d = drv->impl;
	DIR *dir = opendir(d->meta_dir);
	struct dirent *e;
	char why[256], ns[NS_MAX];
	while (dir && (e = readdir(dir))) {
		size_t l = strlen(e->d_name);
		if (strncmp(e->d_name, "sfc-", 4) || l < 10 || strcmp(e->d_name + l - 5, ".json"))
			continue;
		char nm[INSTR_MAX_NAME + 1];
		if (l - 9 > INSTR_MAX_NAME)
			continue;
		snprintf(nm, sizeof(nm), "%.*s", (int)(l - 9), e->d_name + 4);
		if (!strcmp(nm, self))
			continue;
		meta_t *m = xmalloc(sizeof(*m));
		meta_read(drv, OBJ_SFC, nm, m);
		if (m->present && m->block >= 0)
			used[m->block / 8] |= (uint8_t)(1u << (m->block % 8));
		free(m);
	}
	if (dir)
		closedir(dir);
	for (int i = 0; i < spec->n_chain; i++) {
		drv_cmd_out_t o;
		ns_name(ns, sizeof(ns), drv, "vnf", spec->chain[i]);
		if (ipv(drv, &o, why, sizeof(why), "-j", "-4", "-n", ns, "addr", "show", (const char *)NULL) == 0) {
			json_t *j = json_loadb(o.out, o.out_len, 0, NULL);
			size_t a, b;
			json_t *ifc, *ai;
			json_array_foreach(j, a, ifc) {
				json_array_foreach(json_object_get(ifc, "addr_info"), b, ai) {
					struct in_addr ia;
					const char *s = json_string_value(json_object_get(ai, "local"));
					if (!s || inet_pton(AF_INET, s, &ia) != 1)
						continue;
					uint32_t x = ntohl(ia.s_addr);
					if ((x >> 24) == 10) {
						uint32_t blk = (x >> 7) & (N_BLOCKS - 1);
						used[blk / 8] |= (uint8_t)(1u << (blk % 8));
					}
				}
			}
			json_decref(j);
		}
		drv_cmd_out_free(&o);
	}
}

/* Another SFC whose name hashes to the same interface tag already has
 * links in one of spec's VNFs?  (1 in 2^28 per pair; refused, because
 * teardown finds an SFC's interfaces by tag.) */
static int tag_taken(driver_t *drv, const char *name, const instr_t *spec, char *err, size_t elen)
{
	char tag[8], pre[10], ns[NS_MAX], why[256];
	int taken = 0;
	sfc_tag(tag, drv, name);
	snprintf(pre, sizeof(pre), "s%s", tag);
	for (int i = 0; i < spec->n_chain && !taken; i++) {
		ns_name(ns, sizeof(ns), drv, "vnf", spec->chain[i]);
		json_t *links = ns_links(drv, ns, why, sizeof(why));
		size_t j;
		json_t *e;
		json_array_foreach(links, j, e) {
			const char *ifn = json_string_value(json_object_get(e, "ifname"));
			if (ifn && !strncmp(ifn, pre, strlen(pre)))
				taken = 1;
		}
		json_decref(links);
		if (taken)
			err_set(err, elen, "sfc %s: vnf %s already has interfaces %s* of another sfc (hash collision); "
				"choose another name", name, spec->chain[i], pre);
	}
	return taken;
}

static long choose_block(driver_t *drv, const char *name, const instr_t *spec, long preferred)
{
	uint8_t *used = xcalloc(N_BLOCKS / 8, 1);
	long found = -1;
	blocks_in_use(drv, name, spec, used);
	if (preferred >= 0 && !(used[preferred / 8] & (1u << (preferred % 8))))
		found = preferred;
	uint32_t h = sfc_hash_block(drv, name);
	for (uint32_t i = 0; i < N_BLOCKS && found < 0; i++) {
		uint32_t b = (h + i) % N_BLOCKS;
		if (!(used[b / 8] & (1u << (b % 8))))
			found = b;
	}
	free(used);
	return found;
}

static int link_make(driver_t *drv, const char *nsa, const char *ifa, uint32_t aa, const char *nsb,
		     const char *ifb, uint32_t ab, char *err, size_t elen)
{
	char sa[24], sb[24];
	ip4(sa, aa);
	ip4(sb, ab);
	strcat(sa, "/30");
	strcat(sb, "/30");
	if (IP(drv, err, elen, "-n", nsa, "link", "add", ifa, "type", "veth", "peer", "name", ifb, "netns", nsb) < 0 ||
	    IP(drv, err, elen, "-n", nsa, "addr", "add", sa, "dev", ifa) < 0 ||
	    IP(drv, err, elen, "-n", nsb, "addr", "add", sb, "dev", ifb) < 0 ||
	    IP(drv, err, elen, "-n", nsa, "link", "set", ifa, "up") < 0 ||
	    IP(drv, err, elen, "-n", nsb, "link", "set", ifb, "up") < 0)
		return -1;
	return 0;
}

/* Default route of an end namespace; with steer, through the bypass and
 * marked traffic (fwmark 1, table 100) through the chain. */
static int end_routes(driver_t *drv, const char *ns, uint32_t chain_gw, uint32_t bypass_gw, int steer,
		      char *err, size_t elen)
{
	char cg[16], bg[16];
	ip4(cg, chain_gw);
	ip4(bg, bypass_gw);
	if (!steer)
		return IP(drv, err, elen, "-n", ns, "route", "add", "default", "via", cg);
	if (IP(drv, err, elen, "-n", ns, "route", "add", "default", "via", bg) < 0 ||
	    IP(drv, err, elen, "-n", ns, "route", "add", "default", "via", cg, "table", STEER_TABLE) < 0 ||
	    IP(drv, err, elen, "-n", ns, "rule", "add", "fwmark", "1", "table", STEER_TABLE, "priority", "100") < 0)
		return -1;
	return 0;
}

static int sfc_build(driver_t *drv, const char *name, const instr_t *spec, long block, char *err, size_t elen)
{
	char tag[8], in_ns[NS_MAX], out_ns[NS_MAX], l_ns[NS_MAX], r_ns[NS_MAX];
	char ifa[16], ifb[16], dst[24], via[16], net[24];
	char *expr = NULL, *rules = NULL;
	int n = spec->n_chain, ret = -1;
	if (match_expr(spec, &expr, err, elen) < 0)
		goto out;
	int steer = spec->n_match > 0;
	sfc_tag(tag, drv, name);
	ns_name(in_ns, sizeof(in_ns), drv, "sfcin", name);
	ns_name(out_ns, sizeof(out_ns), drv, "sfcout", name);
	if (ns_setup(drv, in_ns, 0, err, elen) < 0 || ns_setup(drv, out_ns, 0, err, elen) < 0)
		goto out;
	for (int k = 0; k <= n; k++) {
		if (k == 0)
			snprintf(l_ns, sizeof(l_ns), "%s", in_ns);
		else
			ns_name(l_ns, sizeof(l_ns), drv, "vnf", spec->chain[k - 1]);
		if (k == n)
			snprintf(r_ns, sizeof(r_ns), "%s", out_ns);
		else
			ns_name(r_ns, sizeof(r_ns), drv, "vnf", spec->chain[k]);
		if_name(ifa, tag, k, 'a');
		if_name(ifb, tag, k, 'b');
		if (link_make(drv, l_ns, ifa, hop_addr(block, k, 0), r_ns, ifb, hop_addr(block, k, 1), err, elen) < 0)
			goto out;
	}
	/* each VNF: the egress address downstream, the rest of the block upstream */
	ip4(dst, hop_addr(block, n, 1));
	strcat(dst, "/32");
	ip4(net, (10u << 24) | ((uint32_t)block << 7));
	strcat(net, "/25");
	for (int i = 0; i < n; i++) {
		ns_name(l_ns, sizeof(l_ns), drv, "vnf", spec->chain[i]);
		ip4(via, hop_addr(block, i + 1, 1));
		if (IP(drv, err, elen, "-n", l_ns, "route", "add", dst, "via", via) < 0)
			goto out;
		ip4(via, hop_addr(block, i, 0));
		if (IP(drv, err, elen, "-n", l_ns, "route", "add", net, "via", via) < 0)
			goto out;
	}
	if (steer) {
		if_name(ifa, tag, BYPASS_HOP, 'a');
		if_name(ifb, tag, BYPASS_HOP, 'b');
		if (link_make(drv, in_ns, ifa, hop_addr(block, BYPASS_HOP, 0), out_ns, ifb,
			      hop_addr(block, BYPASS_HOP, 1), err, elen) < 0)
			goto out;
	}
	if (end_routes(drv, in_ns, hop_addr(block, 0, 1), hop_addr(block, BYPASS_HOP, 1), steer, err, elen) < 0 ||
	    end_routes(drv, out_ns, hop_addr(block, n, 0), hop_addr(block, BYPASS_HOP, 0), steer, err, elen) < 0)
		goto out;
	if (steer) {
		rules = xasprintf("table ip bsec_sfc {\n\tchain steer {\n"
				  "\t\ttype route hook output priority mangle; policy accept;\n"
				  "\t\t%smeta mark set 1\n\t}\n}\n", expr);
		if (nft_in(drv, in_ns, rules, NULL, err, elen, "-f", "-", NULL, NULL, NULL, NULL) < 0)
			goto out;
		free(rules);
		if_name(ifb, tag, n, 'b');
		rules = xasprintf("table ip bsec_sfc {\n\tchain from_chain {\n"
				  "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
				  "\t\tiifname \"%s\" ct mark set 1\n\t}\n\tchain steer {\n"
				  "\t\ttype route hook output priority mangle; policy accept;\n"
				  "\t\tct mark 1 meta mark set 1\n\t}\n}\n", ifb);
		if (nft_in(drv, out_ns, rules, NULL, err, elen, "-f", "-", NULL, NULL, NULL, NULL) < 0)
			goto out;
	}
	ret = 0;
out:
	free(expr);
	free(rules);
	return ret;
}

/* ---- operations -------------------------------------------------------------- */

static void chain_text(char *out, size_t len, const instr_t *spec)
{
	size_t o = (size_t)snprintf(out, len, "ingress");
	for (int i = 0; i < spec->n_chain && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, " -> %s", spec->chain[i]);
	if (o < len)
		snprintf(out + o, len - o, " -> egress");
}

static int vm_apply(driver_t *drv, const instr_t *in, meta_t *m, const char *domain, const char *owner,
		    char *res, size_t rlen, char *err, size_t elen, uint64_t t0)
{
	char ns[NS_MAX];
	int ret = -1;
	char *spec = NULL;
	ns_name(ns, sizeof(ns), drv, "vm", in->name);
	meta_read(drv, OBJ_VM, in->name, m);
	if (in->verb == VERB_DELETE) {
		if (!ns_exists(ns)) {
			meta_remove(drv, OBJ_VM, in->name);
			err_set(res, rlen, "vm %s already absent", in->name);
			ret = 0;
		} else if (ns_del(drv, ns, err, elen) == 0) {
			meta_remove(drv, OBJ_VM, in->name);
			err_set(res, rlen, "deleted vm %s in %u ms", in->name, drv_ms_since(t0));
			ret = 0;
		}
		goto out;
	}
	if (in->verb != VERB_CREATE) {
		err_set(err, elen, "vm %s: only create and delete exist for VMs", in->name);
		goto out;
	}
	spec = drv_create_spec(in);
	if (ns_exists(ns)) {
		if (m->present && !strcmp(m->spec, spec)) {
			err_set(res, rlen, "vm %s already exists", in->name);
			ret = 0;
			goto out;
		}
		if (m->present) {
			err_set(err, elen, "vm %s already exists with another spec (`%s')", in->name, m->spec);
			goto out;
		}
		if (ns_del(drv, ns, err, elen) < 0) /* left by a create that died half-way */
			goto out;
	}
	memset(m, 0, sizeof(*m));
	m->block = -1;
	snprintf(m->domain, sizeof(m->domain), "%s", domain);
	snprintf(m->owner, sizeof(m->owner), "%s", owner);
	snprintf(m->spec, sizeof(m->spec), "%s", spec);
	if (ns_setup(drv, ns, 0, err, elen) < 0 || meta_write(drv, OBJ_VM, in->name, m, err, elen) < 0) {
		char why[256];
		ns_del(drv, ns, why, sizeof(why));
		goto out;
	}
	err_set(res, rlen, "created vm %s (namespace %s) in %u ms", in->name, ns, drv_ms_since(t0));
	ret = 0;
out:
	free(spec);
	return ret;
}

static int vnf_apply(driver_t *drv, const instr_t *in, meta_t *m, const char *domain, const char *owner,
		     char *res, size_t rlen, char *err, size_t elen, uint64_t t0)
{
	char ns[NS_MAX], vmns[NS_MAX], why[512];
	int ret = -1, fwd = 1, code;
	char *spec = NULL, *rules = NULL;
	const char *family;
	instr_t *sp = xmalloc(sizeof(*sp));
	ns_name(ns, sizeof(ns), drv, "vnf", in->name);
	meta_read(drv, OBJ_VNF, in->name, m);
	switch (in->verb) {
	case VERB_DELETE:
		if (!ns_exists(ns)) {
			meta_remove(drv, OBJ_VNF, in->name);
			err_set(res, rlen, "vnf %s already absent", in->name);
		} else {
			if (ns_del(drv, ns, err, elen) < 0)
				goto out;
			meta_remove(drv, OBJ_VNF, in->name);
			err_set(res, rlen, "deleted vnf %s in %u ms", in->name, drv_ms_since(t0));
		}
		break;
	case VERB_UPDATE:
		if (!ns_exists(ns) || !m->present) {
			err_set(err, elen, "vnf %s does not exist on this host", in->name);
			goto out;
		}
		if (!(spec = drv_updated_spec(m->spec, in, err, elen)))
			goto out;
		if (parse_spec(spec, sp) < 0) {
			err_set(err, elen, "vnf %s: updated spec does not parse", in->name);
			goto out;
		}
		if (vnf_ruleset(sp, &family, &rules, err, elen) < 0 ||
		    vnf_install(drv, ns, family, rules, m->digest, err, elen) < 0)
			goto out;
		snprintf(m->spec, sizeof(m->spec), "%s", spec);
		if (meta_write(drv, OBJ_VNF, in->name, m, err, elen) < 0)
			goto out;
		err_set(res, rlen, "updated vnf %s (%s) in %u ms", in->name, sp->type, drv_ms_since(t0));
		break;
	case VERB_CREATE:
		spec = drv_create_spec(in);
		if (vnf_ruleset(in, &family, &rules, err, elen) < 0)
			goto out;
		if (ns_exists(ns)) {
			if (m->present && strcmp(m->spec, spec)) {
				err_set(err, elen, "vnf %s already exists with another spec (`%s')", in->name, m->spec);
				goto out;
			}
			if (m->present) {
				int exists;
				driver_obj_t *o = xmalloc(sizeof(*o));
				inspect(drv, OBJ_VNF, in->name, &exists, o);
				int whole = !o->problem[0];
				free(o);
				if (whole) {
					err_set(res, rlen, "vnf %s already exists", in->name);
					break;
				}
				/* same spec, damaged: put its function back, keep its links */
				if (ns_call(drv, ns, sysctl_child, &fwd, &code, err, elen) < 0 ||
				    vnf_install(drv, ns, family, rules, m->digest, err, elen) < 0 ||
				    meta_write(drv, OBJ_VNF, in->name, m, err, elen) < 0)
					goto out;
				err_set(res, rlen, "repaired vnf %s (%s) in %u ms", in->name, in->type,
					drv_ms_since(t0));
				break;
			}
			if (ns_del(drv, ns, err, elen) < 0) /* left by a create that died half-way */
				goto out;
		}
		if (in->vm[0]) {
			ns_name(vmns, sizeof(vmns), drv, "vm", in->vm);
			if (!ns_exists(vmns)) {
				err_set(err, elen, "vm %s does not exist on this host (no namespace %s)", in->vm, vmns);
				goto out;
			}
		}
		memset(m, 0, sizeof(*m));
		m->block = -1;
		snprintf(m->domain, sizeof(m->domain), "%s", domain);
		snprintf(m->owner, sizeof(m->owner), "%s", owner);
		snprintf(m->spec, sizeof(m->spec), "%s", spec);
		if (ns_setup(drv, ns, 1, err, elen) < 0 || vnf_install(drv, ns, family, rules, m->digest, err, elen) < 0 ||
		    meta_write(drv, OBJ_VNF, in->name, m, err, elen) < 0) {
			ns_del(drv, ns, why, sizeof(why));
			goto out;
		}
		err_set(res, rlen, "created vnf %s (%s) in %u ms", in->name, in->type, drv_ms_since(t0));
		break;
	}
	ret = 0;
out:
	free(sp);
	free(spec);
	free(rules);
	return ret;
}

static int sfc_apply(driver_t *drv, const instr_t *in, meta_t *m, const char *domain, const char *owner,
		     char *res, size_t rlen, char *err, size_t elen, uint64_t t0)
{
	char in_ns[NS_MAX], out_ns[NS_MAX], why[512], path[INSTR_MAX_CHAIN * (INSTR_MAX_NAME + 4) + 32];
	char eg[16];
	int ret = -1;
	char *spec = NULL, *expr = NULL;
	instr_t *old = xmalloc(sizeof(*old)), *sp = xmalloc(sizeof(*sp));
	ns_name(in_ns, sizeof(in_ns), drv, "sfcin", in->name);
	ns_name(out_ns, sizeof(out_ns), drv, "sfcout", in->name);
	meta_read(drv, OBJ_SFC, in->name, m);
	int exists = ns_exists(in_ns) || ns_exists(out_ns);
	int have_old = m->present && parse_spec(m->spec, old) == 0;
	switch (in->verb) {
	case VERB_DELETE:
		if (!exists && !m->present) {
			err_set(res, rlen, "sfc %s already absent", in->name);
			break;
		}
		if (sfc_teardown(drv, in->name, have_old ? old : NULL, err, elen) < 0)
			goto out;
		meta_remove(drv, OBJ_SFC, in->name);
		err_set(res, rlen, "deleted sfc %s in %u ms", in->name, drv_ms_since(t0));
		break;
	case VERB_CREATE:
	case VERB_UPDATE: {
		long block;
		if (in->verb == VERB_CREATE) {
			spec = drv_create_spec(in);
			if (exists && have_old && strcmp(m->spec, spec)) {
				err_set(err, elen, "sfc %s already exists with another spec (`%s')", in->name, m->spec);
				goto out;
			}
		} else {
			/* the record is the SFC: an update that died between teardown and
			   rebuild left it without namespaces, and is finished now */
			if (!have_old) {
				err_set(err, elen, "sfc %s does not exist on this host", in->name);
				goto out;
			}
			if (!(spec = drv_updated_spec(m->spec, in, err, elen)))
				goto out;
		}
		if (parse_spec(spec, sp) < 0) {
			err_set(err, elen, "sfc %s: spec `%s' does not parse", in->name, spec);
			goto out;
		}
		if (match_expr(sp, &expr, err, elen) < 0 || vnfs_exist(drv, sp, err, elen) < 0)
			goto out;
		chain_text(path, sizeof(path), sp);
		if (exists && have_old && !strcmp(m->spec, spec) && m->block >= 0) {
			int ex;
			driver_obj_t *o = xmalloc(sizeof(*o));
			inspect(drv, OBJ_SFC, in->name, &ex, o);
			int whole = !o->problem[0];
			free(o);
			if (whole) {
				err_set(res, rlen, "sfc %s already exists (%s)", in->name, path);
				break;
			}
		}
		/* build anew: a damaged or half-made SFC, an update, or a fresh create */
		if ((exists || have_old) && sfc_teardown(drv, in->name, have_old ? old : NULL, err, elen) < 0)
			goto out;
		block = -1;
		if (!tag_taken(drv, in->name, sp, err, elen) &&
		    (block = choose_block(drv, in->name, sp, m->block)) < 0)
			err_set(err, elen, "sfc %s: no free address block in 10.0.0.0/8", in->name);
		if (block < 0 || sfc_build(drv, in->name, sp, block, err, elen) < 0) {
			if (block >= 0)
				sfc_teardown(drv, in->name, sp, why, sizeof(why));
			/* an update puts the old chain back */
			if (in->verb == VERB_UPDATE && have_old && m->block >= 0 &&
			    sfc_build(drv, in->name, old, m->block, why, sizeof(why)) < 0) {
				sfc_teardown(drv, in->name, old, why, sizeof(why));
				meta_remove(drv, OBJ_SFC, in->name);
				strncat(err, " (and the old chain could not be restored: the sfc is gone)",
					elen - strlen(err) - 1);
			}
			goto out;
		}
		if (in->verb == VERB_CREATE) {
			snprintf(m->domain, sizeof(m->domain), "%s", domain);
			snprintf(m->owner, sizeof(m->owner), "%s", owner);
		}
		snprintf(m->spec, sizeof(m->spec), "%s", spec);
		m->block = block;
		m->digest[0] = 0;
		if (meta_write(drv, OBJ_SFC, in->name, m, err, elen) < 0) {
			sfc_teardown(drv, in->name, sp, why, sizeof(why));
			goto out;
		}
		m->present = 1;
		ip4(eg, hop_addr(block, sp->n_chain, 1));
		err_set(res, rlen, "%s sfc %s (%s %s%s) in %u ms", in->verb == VERB_CREATE ? "created" : "updated",
			in->name, path, eg, sp->n_match ? ", matched traffic only" : "", drv_ms_since(t0));
		break;
	}
	}
	ret = 0;
out:
	free(old);
	free(sp);
	free(spec);
	free(expr);
	return ret;
}

static int netns_apply(driver_t *drv, const instr_t *in, const char *domain, const char *owner, char *res,
		       size_t rlen, char *err, size_t elen)
{
	uint64_t t0 = mono_us();
	int ret = -1;
	meta_t *m = xmalloc(sizeof(*m));
	if (lock(drv, err, elen) < 0)
		goto out;
	if (in->kind == OBJ_VM)
		ret = vm_apply(drv, in, m, domain, owner, res, rlen, err, elen, t0);
	else if (in->kind == OBJ_VNF)
		ret = vnf_apply(drv, in, m, domain, owner, res, rlen, err, elen, t0);
	else
		ret = sfc_apply(drv, in, m, domain, owner, res, rlen, err, elen, t0);
	unlock(drv);
out:
	free(m);
	return ret;
}

/* ---- probe and counters ---------------------------------------------------- */

enum { P_TCP, P_UDP, P_ICMP };

typedef struct {
	int proto;
	uint16_t port;
	uint32_t addr;          /* egress, host order */
	int ready_fd;
	int timeout_ms;
} probe_t;

/* In egress: listen, say 'r' on ready_fd, wait for one connection or
 * datagram.  0 = got it, 1 = nothing came, 2 = could not listen. */
static int probe_listen(void *arg)
{
	const probe_t *p = arg;
	int s = socket(AF_INET, (p->proto == P_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(p->port);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (p->proto == P_TCP && listen(s, 8) < 0)) {
		if (write(p->ready_fd, "e", 1) < 0)
			return 2;
		return 2;
	}
	if (write(p->ready_fd, "r", 1) < 0)
		return 2;
	struct pollfd pf = { s, POLLIN, 0 };
	if (poll(&pf, 1, p->timeout_ms) <= 0)
		return 1;
	if (p->proto == P_TCP)
		return accept(s, NULL, NULL) >= 0 ? 0 : 1;
	char buf[64];
	return recv(s, buf, sizeof(buf), MSG_DONTWAIT) >= 0 ? 0 : 1;
}

static uint16_t icmp_sum(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* In ingress: connect / send / ping.  0 = it went through (tcp, icmp) or
 * was sent (udp), 1 = it did not, 2 = could not try. */
static int probe_send(void *arg)
{
	const probe_t *p = arg;
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(p->proto == P_ICMP ? 0 : p->port);
	sa.sin_addr.s_addr = htonl(p->addr);
	uint64_t deadline = mono_us() + (uint64_t)p->timeout_ms * 1000;
	if (p->proto == P_TCP) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
		socklen_t el = sizeof(e);
		if (s < 0)
			return 2;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (errno != EINPROGRESS)
			return 1;
		struct pollfd pf = { s, POLLOUT, 0 };
		if (poll(&pf, 1, p->timeout_ms) <= 0)
			return 1;
		return getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0 ? 0 : 1;
	}
	if (p->proto == P_UDP) {
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return 2;
		for (int i = 0; i < 3; i++) { /* a few tries, in case one is lost */
			if (sendto(s, "bsec-probe", 10, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 && i == 2)
				return 1;
			drv_sleep_ms((uint64_t)p->timeout_ms / 10);
		}
		return 0;
	}
	int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	if (s < 0)
		return 2;
	uint8_t pkt[16];
	memset(pkt, 0, sizeof(pkt));
	uint16_t id = (uint16_t)getpid();
	pkt[0] = ICMP_ECHO;
	pkt[4] = (uint8_t)(id >> 8);
	pkt[5] = (uint8_t)id;
	pkt[7] = 1;
	memcpy(pkt + 8, "bsecprob", 8);
	uint16_t c = icmp_sum(pkt, sizeof(pkt));
	pkt[2] = (uint8_t)(c >> 8);
	pkt[3] = (uint8_t)c;
	if (sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 1;
	for (;;) {
		uint64_t now = mono_us();
		if (now >= deadline)
			return 1;
		struct pollfd pf = { s, POLLIN, 0 };
		if (poll(&pf, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			return 1;
		uint8_t buf[256];
		ssize_t n = recv(s, buf, sizeof(buf), 0);
		if (n < 20)
			continue;
		size_t ihl = (size_t)(buf[0] & 15) * 4;
		if ((size_t)n >= ihl + 8 && buf[ihl] == ICMP_ECHOREPLY && buf[ihl + 4] == (uint8_t)(id >> 8) &&
		    buf[ihl + 5] == (uint8_t)id)
			return 0;
	}
}

int netns_probe(driver_t *drv, const char *sfc, const char *proto, int port, int *passed, char *err, size_t elen)
{
	char in_ns[NS_MAX], out_ns[NS_MAX];
	int ret = -1, rfd[2] = { -1, -1 };
	pid_t lpid = -1;
	meta_t *m = xmalloc(sizeof(*m));
	instr_t *sp = xmalloc(sizeof(*sp));
	probe_t p = { 0 };
	*passed = 0;
	if (!drv || drv->ops != &DRIVER_NETNS_OPS) {
		err_set(err, elen, "probe needs the netns driver");
		goto out;
	}
	if (!proto || (strcmp(proto, "tcp") && strcmp(proto, "udp") && strcmp(proto, "icmp"))) {
		err_set(err, elen, "probe protocol `%s' is not tcp, udp or icmp", proto ? proto : "(null)");
		goto out;
	}
	p.proto = !strcmp(proto, "tcp") ? P_TCP : !strcmp(proto, "udp") ? P_UDP : P_ICMP;
	if (p.proto != P_ICMP && (port < 1 || port > 65535)) {
		err_set(err, elen, "probe port %d is not 1-65535", port);
		goto out;
	}
	p.port = (uint16_t)(p.proto == P_ICMP ? 0 : port);
	if (!sfc || !valid_name(sfc)) {
		err_set(err, elen, "bad sfc name `%s'", sfc ? sfc : "(null)");
		goto out;
	}
	meta_read(drv, OBJ_SFC, sfc, m);
	ns_name(in_ns, sizeof(in_ns), drv, "sfcin", sfc);
	ns_name(out_ns, sizeof(out_ns), drv, "sfcout", sfc);
	if (!m->present || m->block < 0 || parse_spec(m->spec, sp) < 0 || !ns_exists(in_ns) || !ns_exists(out_ns)) {
		err_set(err, elen, "sfc %s does not exist on this host", sfc);
		goto out;
	}
	p.addr = hop_addr(m->block, sp->n_chain, 1);
	p.timeout_ms = 1000;
	if (p.proto != P_ICMP) {
		char c = 0;
		if (pipe2(rfd, O_CLOEXEC) < 0) {
			err_set(err, elen, "pipe: %s", strerror(errno));
			goto out;
		}
		p.ready_fd = rfd[1];
		p.timeout_ms = 1500; /* the listener outlives the sender's second */
		if ((lpid = ns_spawn(out_ns, probe_listen, &p, err, elen)) < 0)
			goto out;
		close(rfd[1]);
		rfd[1] = -1;
		struct pollfd pf = { rfd[0], POLLIN, 0 };
		if (poll(&pf, 1, 3000) <= 0 || read(rfd[0], &c, 1) != 1 || c != 'r') {
			err_set(err, elen, "probe listener in %s could not listen on %s port %d", out_ns, proto, port);
			goto out;
		}
		p.timeout_ms = 1000;
	}
	pid_t spid = ns_spawn(in_ns, probe_send, &p, err, elen);
	if (spid < 0)
		goto out;
	int sc = ns_wait(spid, 5000);
	int lc = lpid > 0 ? ns_wait(lpid, 5000) : 0;
	lpid = -1;
	if (sc == 2 || sc < 0 || lc == 2 || lc < 0) {
		err_set(err, elen, "probe could not run (sender %d, listener %d)", sc, lc);
		goto out;
	}
	*passed = p.proto == P_TCP ? (sc == 0 && lc == 0) : p.proto == P_UDP ? lc == 0 : sc == 0;
	ret = 0;
out:
	if (lpid > 0) {
		kill(lpid, SIGKILL);
		ns_wait(lpid, 1000);
	}
	if (rfd[0] >= 0)
		close(rfd[0]);
	if (rfd[1] >= 0)
		close(rfd[1]);
	free(m);
	free(sp);
	return ret;
}

int netns_counter(driver_t *drv, const char *vnf, uint64_t *packets, uint64_t *bytes, char *err, size_t elen)
{
	char ns[NS_MAX];
	drv_cmd_out_t o = { 0 };
	json_t *j = NULL;
	int ret = -1;
	*packets = *bytes = 0;
	if (!drv || drv->ops != &DRIVER_NETNS_OPS) {
		err_set(err, elen, "counters need the netns driver");
		goto out;
	}
	if (!vnf || !valid_name(vnf)) {
		err_set(err, elen, "bad vnf name `%s'", vnf ? vnf : "(null)");
		goto out;
	}
	ns_name(ns, sizeof(ns), drv, "vnf", vnf);
	if (!ns_exists(ns)) {
		err_set(err, elen, "vnf %s does not exist on this host", vnf);
		goto out;
	}
	if (nft_in(drv, ns, NULL, &o, err, elen, "-j", "list", "counter", "inet", "bsec_vnf", "seen") < 0)
		goto out;
	j = json_loadb(o.out, o.out_len, 0, NULL);
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(j, "nftables"), i, e) {
		json_t *c = json_object_get(e, "counter");
		if (!c)
			continue;
		*packets = (uint64_t)json_integer_value(json_object_get(c, "packets"));
		*bytes = (uint64_t)json_integer_value(json_object_get(c, "bytes"));
		ret = 0;
	}
	if (ret < 0)
		err_set(err, elen, "vnf %s has no counter (is it a monitor?)", vnf);
out:
	json_decref(j);
	drv_cmd_out_free(&o);
	return ret;
}

/* ---- open, close, cleanup ---------------------------------------------------- */

static void netns_close(driver_t *drv)
{
	nsd_t *d = drv->impl;
	if (!d)
		return;
	free(d->ip);
	free(d->nft);
	free(d->meta_dir);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d);
	drv->impl = NULL;
}

static int netns_open(driver_t *drv, const json_t *cfg, char *err, size_t elen)
{
	nsd_t *d = xcalloc(1, sizeof(*d));
	const char *key, *ipn = "ip", *nftn = "nft";
	json_t *v;
	int ret = -1;
	d->lock_fd = -1;
	d->timeout_ms = 10000;
	drv->impl = d;
	json_object_foreach((json_t *)cfg, key, v) {
		if (!strcmp(key, "cmd_timeout_ms")) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 600000) {
				char *t = drv_json_text(v);
				err_set(err, elen, "netns: cmd_timeout_ms must be an integer 1..600000, got `%s'", t);
				free(t);
				goto out;
			}
			d->timeout_ms = (int)json_integer_value(v);
		} else if (!strcmp(key, "ip") || !strcmp(key, "nft")) {
			if (!json_is_string(v) || !json_string_length(v)) {
				char *t = drv_json_text(v);
				err_set(err, elen, "netns: %s must be a program name or path, got `%s'", key, t);
				free(t);
				goto out;
			}
			if (!strcmp(key, "ip"))
				ipn = json_string_value(v);
			else
				nftn = json_string_value(v);
		} else {
			err_set(err, elen, "netns: unknown config key `%s' (cmd_timeout_ms, ip, nft)", key);
			goto out;
		}
	}
	if (geteuid() != 0) {
		err_set(err, elen, "netns driver needs root (running as uid %u); use --driver sim",
			(unsigned)geteuid());
		goto out;
	}
	if (!(d->ip = drv_which(ipn))) {
		err_set(err, elen, "netns: `%s' not found (install iproute2)", ipn);
		goto out;
	}
	if (!(d->nft = drv_which(nftn))) {
		err_set(err, elen, "netns: `%s' not found (install nftables)", nftn);
		goto out;
	}
	d->meta_dir = xasprintf("%s/%s", META_ROOT, drv->prefix);
	if (mkdir_p(d->meta_dir, 0700) < 0) {
		err_set(err, elen, "netns: cannot create `%s': %s", d->meta_dir, strerror(errno));
		goto out;
	}
	char *lp = xasprintf("%s/lock", d->meta_dir);
	d->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		err_set(err, elen, "netns: cannot open `%s': %s", lp, strerror(errno));
	free(lp);
	if (d->lock_fd < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		netns_close(drv);
	return ret;
}

int driver_cleanup_all(const char *prefix, char *err, size_t elen)
{
	int ret = 0;
	size_t n;
	char why[512];
	if (!prefix || !*prefix || strlen(prefix) > DRIVER_MAX_PREFIX || strchr(prefix, '/') || strchr(prefix, '.') ||
	    strchr(prefix, '-')) {
		err_set(err, elen, "bad consortium prefix `%s'", prefix ? prefix : "(null)");
		return -1;
	}
	char **names = our_namespaces(prefix, &n);
	char *ip = n ? drv_which("ip") : NULL;
	if (n && !ip) {
		err_set(err, elen, "`ip' not found: cannot remove %zu namespaces", n);
		ret = -1;
	}
	for (size_t i = 0; i < n && ip; i++) {
		const char *argv[] = { ip, "netns", "del", names[i], NULL };
		drv_cmd_t c = { argv, -1, NULL, 0, 10000, 65536 };
		drv_cmd_out_t o;
		if (drv_run(&c, &o, why, sizeof(why)) < 0 && !ret++)
			err_set(err, elen, "%s", why);
		drv_cmd_out_free(&o);
	}
	free(ip);
	free_names(names);
	char *dir = xasprintf("%s/%s", META_ROOT, prefix);
	DIR *dp = opendir(dir);
	struct dirent *e;
	while (dp && (e = readdir(dp))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *f = xasprintf("%s/%s", dir, e->d_name);
		if (unlink(f) < 0 && errno != ENOENT && !ret++)
			err_set(err, elen, "cannot remove `%s': %s", f, strerror(errno));
		free(f);
	}
	if (dp)
		closedir(dp);
	if (rmdir(dir) < 0 && errno != ENOENT && !ret++)
		err_set(err, elen, "cannot remove `%s': %s", dir, strerror(errno));
	free(dir);
	return ret ? -1 : 0;
}

const driver_ops_t DRIVER_NETNS_OPS = {
	.type = "netns",
	.open = netns_open,
	.close = netns_close,
	.apply = netns_apply,
	.list = netns_list,
	.get = netns_get,
};
