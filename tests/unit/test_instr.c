/*
 * test_instr.c — the instruction grammar (ledger/instr.h): valid texts
 * and their canonical forms (which must round-trip), invalid texts with
 * the exact error position and a piece of the reason, and the small
 * helpers (SLA bits, names).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ledger/instr.h"
#include "ledger/tx.h"

typedef struct {
	const char *text;
	const char *canonical;
} valid_case_t;

static const valid_case_t VALID[] = {
	{ "vm create web", "vm create web" },
	{ "vm create w", "vm create w" },
	{ "vm create 0", "vm create 0" },
	{ "vm create web-1 --image ubuntu:22.04", "vm create web-1 --image ubuntu:22.04" },
	{ "vm create web --flavor m1.small --image ubuntu:22.04",
	  "vm create web --image ubuntu:22.04 --flavor m1.small" },
	{ "   vm    create   web   --image   debian/12_x86-64   ", "vm create web --image debian/12_x86-64" },
	{ "vm create abcdefghijklmnopqrstuvwxyz012345", "vm create abcdefghijklmnopqrstuvwxyz012345" },
	{ "vm create a-b --image Registry.example:5000/Org/img:Tag_1", "vm create a-b --image Registry.example:5000/Org/img:Tag_1" },
	{ "vm delete web", "vm delete web" },
	{ "vm delete 9-9", "vm delete 9-9" },
	{ "vnf create fw --type firewall", "vnf create fw --type firewall" },
	{ "vnf create fwd1 --type forwarder --vm vm1", "vnf create fwd1 --type forwarder --vm vm1" },
	{ "vnf create n --image nat:1 --vm v --type nat", "vnf create n --type nat --vm v --image nat:1" },
	{ "vnf create mon --type monitor --config interval=10", "vnf create mon --type monitor --config interval=10" },
	{ "vnf create fw --type firewall --config allow=tcp:80,udp:53 --config deny=tcp:22 --config default=drop",
	  "vnf create fw --type firewall --config allow=tcp:80,udp:53 --config default=drop --config deny=tcp:22" },
	{ "vnf create fw --config z=1 --type firewall --config a=2 --vm vm-a --config m.n_o-p=x",
	  "vnf create fw --type firewall --vm vm-a --config a=2 --config m.n_o-p=x --config z=1" },
	{ "vnf create x --type nat --config k=a=b=c", "vnf create x --type nat --config k=a=b=c" },
	{ "vnf create x --type nat --config k=user@host+tag,-1", "vnf create x --type nat --config k=user@host+tag,-1" },
	{ "vnf create x --type nat --config k=-", "vnf create x --type nat --config k=-" },
	{ "vnf update fw --config default=accept", "vnf update fw --config default=accept" },
	{ "vnf update fw --config b=2 --config a=1", "vnf update fw --config a=1 --config b=2" },
	{ "vnf delete fw", "vnf delete fw" },
	{ "sfc create web-chain --chain fw", "sfc create web-chain --chain fw" },
	{ "sfc create s --chain fw,nat,mon", "sfc create s --chain fw,nat,mon" },
	{ "sfc create s --match proto=tcp,dport=80 --chain fw,nat",
	  "sfc create s --chain fw,nat --match proto=tcp,dport=80" },
	{ "sfc create s --chain a --match dst=10.0.0.0/8,src=192.168.1.7,sport=1024-65535,proto=udp",
	  "sfc create s --chain a --match dst=10.0.0.0/8,src=192.168.1.7,sport=1024-65535,proto=udp" },
	{ "sfc create s --chain a --match src=2001:db8::/32,dst=::1", "sfc create s --chain a --match src=2001:db8::/32,dst=::1" },
	{ "sfc create s --chain a --match src=::,dst=0.0.0.0/0", "sfc create s --chain a --match src=::,dst=0.0.0.0/0" },
	{ "sfc create s --chain a --match src=1::,dst=fe80::1:0:0:1", "sfc create s --chain a --match src=1::,dst=fe80::1:0:0:1" },
	{ "sfc create s --chain a --match src=2001:db8:0:1:1:1:1:1", "sfc create s --chain a --match src=2001:db8:0:1:1:1:1:1" },
	{ "sfc create s --chain a --match src=1:0:0:2::1,dst=1::2:0:0:3:4", "sfc create s --chain a --match src=1:0:0:2::1,dst=1::2:0:0:3:4" },
	{ "sfc create s --chain a --match src=1:2:3:4:5:6::,dst=::3:4:5:6:7:8", "sfc create s --chain a --match src=1:2:3:4:5:6::,dst=::3:4:5:6:7:8" },
	{ "sfc create s --chain a --match src=2001:db8:1:8000::/49,dst=255.255.255.255/32", "sfc create s --chain a --match src=2001:db8:1:8000::/49,dst=255.255.255.255/32" },
	{ "sfc create s --chain a --match proto=icmpv6", "sfc create s --chain a --match proto=icmpv6" },
	{ "sfc create s --chain a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", "sfc create s --chain a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p" },
	{ "sfc update s --chain nat,fw", "sfc update s --chain nat,fw" },
	{ "sfc delete s", "sfc delete s" },
};

typedef struct {
	const char *text;
	size_t len;             /* 0: strlen(text) */
	size_t pos;
	const char *reason;     /* a substring of the message */
} invalid_case_t;

static const invalid_case_t INVALID[] = {
	{ "", 0, 1, "empty instruction" },
	{ "     ", 0, 1, "empty instruction" },
	{ "vnm create web", 0, 1, "unknown object 'vnm' (expected vm, vnf, sfc)" },
	{ "VM create web", 0, 1, "unknown object 'VM'" },
	{ "vm", 0, 3, "missing verb after 'vm' (expected create, delete)" },
	{ "vm crate web", 0, 4, "unknown verb 'crate' for 'vm' (expected create, delete)" },
	{ "vm update web", 0, 4, "unknown verb 'update' for 'vm'" },
	{ "vm create", 0, 10, "missing NAME after 'vm create'" },
	{ "vm create  ", 0, 10, "missing NAME" },
	{ "vm create --image x", 0, 11, "found option '--image'" },
	{ "vm create Web", 0, 11, "name 'Web' must match [a-z0-9][a-z0-9-]{0,31}" },
	{ "vm create web_1", 0, 14, "('_' not allowed)" },
	{ "vm create -web", 0, 11, "('-' not allowed first)" },
	{ "vm create abcdefghijklmnopqrstuvwxyz0123456", 0, 43, "(33 characters, at most 32)" },
	{ "vm create web --imgae x", 0, 15, "unknown option '--imgae' for 'vm create' (expected --image, --flavor)" },
	{ "vm create web --image", 0, 22, "option '--image' needs a value" },
	{ "vm create web --image --flavor x", 0, 22, "option '--image' needs a value" },
	{ "vm create web --image a --image b", 0, 25, "duplicate option '--image' (first at 15)" },
	{ "vm create web --image=ubuntu", 0, 15, "takes its value after a space" },
	{ "vm create web --image -x", 0, 23, "('-' not allowed first)" },
	{ "vm create web --image ub;rm", 0, 25, "(';' not allowed)" },
	{ "vm create web extra", 0, 15, "unexpected 'extra' (expected an option: --image, --flavor)" },
	{ "vm create web --flavor 12345678901234567890123456789012345678901234567890123456789012345", 0, 88,
	  "flavor '" },
	{ "vm delete web --force", 0, 15, "takes only a NAME" },
	{ "vm delete web web2", 0, 15, "unexpected 'web2'" },
	{ "vnf create fw", 0, 14, "missing required option --type for 'vnf create'" },
	{ "vnf create fw --vm v1", 0, 22, "missing required option --type" },
	{ "vnf create fw --type router", 0, 22, "unknown VNF type 'router' (expected forwarder, firewall, nat, monitor)" },
	{ "vnf create fw --type firewall --vm VM1", 0, 36, "VM name 'VM1' must match" },
	{ "vnf create fw --type firewall --config a=1 --config a=2", 0, 53, "duplicate config key 'a' (first at 40)" },
	{ "vnf create fw --type firewall --config allow", 0, 40, "config 'allow' must be KEY=VALUE" },
	{ "vnf create fw --type firewall --config allow=", 0, 45, "has an empty value" },
	{ "vnf create fw --type firewall --config =x", 0, 40, "has an empty key" },
	{ "vnf create fw --type firewall --config Allow=x", 0, 40, "config key 'Allow' must match" },
	{ "vnf create fw --type firewall --config allow=$(id)", 0, 46, "('$' not allowed)" },
	{ "vnf create fw --type firewall --config a='x'", 0, 42, "config value ''x'' must match" },
	{ "vnf create fw --type firewall --match proto=tcp", 0, 31, "unknown option '--match' for 'vnf create' (expected --type, --vm, --image, --config)" },
	{ "vnf update fw", 0, 14, "missing required option --config for 'vnf update'" },
	{ "vnf update fw --type nat", 0, 15, "unknown option '--type' for 'vnf update' (expected --config)" },
	{ "sfc create s", 0, 13, "missing required option --chain" },
	{ "sfc create s --chain fw,nat,fw", 0, 29, "VNF 'fw' repeated in chain (first at 22)" },
	{ "sfc create s --chain fw,,nat", 0, 25, "empty VNF name in chain" },
	{ "sfc create s --chain fw,", 0, 25, "empty VNF name in chain" },
	{ "sfc create s --chain ,fw", 0, 22, "empty VNF name in chain" },
	{ "sfc create s --chain fw,Nat", 0, 25, "VNF name 'Nat' must match" },
	{ "sfc create s --chain a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", 0, 54, "chain too long: more than 16 VNFs" },
	{ "sfc create s --chain a --match port=80", 0, 32, "unknown match key 'port' (expected proto, sport, dport, src, dst)" },
	{ "sfc create s --chain a --match proto=tcp,proto=udp", 0, 42, "duplicate match key 'proto' (first at 32)" },
	{ "sfc create s --chain a --match proto=tcp;dport=80", 0, 41, "(';' not allowed)" },
	{ "sfc create s --chain a --match proto=gre", 0, 38, "match proto 'gre' must be one of" },
	{ "sfc create s --chain a --match dport=0", 0, 38, "must be a port 1-65535" },
	{ "sfc create s --chain a --match dport=65536", 0, 38, "must be a port 1-65535" },
	{ "sfc create s --chain a --match dport=080", 0, 38, "must be a port 1-65535" },
	{ "sfc create s --chain a --match sport=90-80", 0, 38, "range must have LO < HI" },
	{ "sfc create s --chain a --match src=10.0.0.256", 0, 36, "not an IPv4 address" },
	{ "sfc create s --chain a --match src=10.0.0.1/8", 0, 36, "host bits set" },
	{ "sfc create s --chain a --match src=10.0.0.0/33", 0, 36, "prefix length must be 0-32" },
	{ "sfc create s --chain a --match dst=2001:DB8::1", 0, 36, "not a canonical IPv6 address" },
	{ "sfc create s --chain a --match dst=2001:db8:0:0:0:0:0:1", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=2001:db8::0:1", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1::2:0:0:0:1", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1:0:0:2::3:4", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1::2:3:4:5:6:7", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1:2:3:4:5:6:7:8:9", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1:2:3:4:5:6:7::", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1:2", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1:::2", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1::2::3", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=:1::2", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=1::2:", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=2001:db9::/31", 0, 36, "host bits set" },
	{ "sfc create s --chain a --match dst=::/129", 0, 36, "prefix length must be 0-128" },
	{ "sfc create s --chain a --match dst=10.0.0", 0, 36, "not an IPv4 address" },
	{ "sfc create s --chain a --match dst=10.0.0.0.0", 0, 36, "not an IPv4 address" },
	{ "sfc create s --chain a --match dst=10.0.0.0/08", 0, 36, "prefix length" },
	{ "sfc create s --chain a --match dst=::ffff:1.2.3.4", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match dst=2001:0db8::1", 0, 36, "not a canonical IPv6" },
	{ "sfc create s --chain a --match proto", 0, 32, "match 'proto' must be KEY=VALUE" },
	{ "sfc create s --chain a --match proto=tcp,", 0, 42, "empty entry in --match" },
	{ "sfc create s --chain a --match proto=tcp --match dport=80", 0, 42, "duplicate option '--match' (first at 24)" },
	{ "sfc update s --chain a --match proto=tcp", 0, 24, "unknown option '--match' for 'sfc update' (expected --chain)" },
	{ "sfc delete s --chain a", 0, 14, "takes only a NAME" },
	{ "vm create\tweb", 0, 10, "control character 0x09" },
	{ "vm create web\n", 0, 14, "control character 0x0a" },
	{ "vm create w\x7f", 0, 12, "control character 0x7f" },
	{ "vm create w\xc3\xa9", 0, 12, "non-ASCII byte 0xc3" },
	{ "vm create web\0--image x", 23, 14, "NUL byte" },
	{ "\0", 1, 1, "NUL byte" },
};

/* The cached parser gives what the parser gives, for hits, misses and
 * errors, whatever was parsed before; a result survives the next call. */
static void test_cached(void **state)
{
	(void)state;
	const char *texts[] = { "vnf create fw --type firewall --config default=drop",
				"vm create web1", "vnf create fw --type firewall --config default=drop",
				"vnf create fw --type", "vm create web1", "vm create web1",
				"sfc create c --chain a,b", "vnf create fw --type firewall --config default=drop",
				"vm create web2", "sfc create c --chain a,b" };
	char *prev_fmt = NULL;
	const instr_t *prev = NULL;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		instr_t a;
		size_t pa = 99, pb = 99;
		char ea[128] = "x", eb[128] = "y";
		int ra = instr_parse(&a, texts[i], strlen(texts[i]), &pa, ea, sizeof(ea));
		const instr_t *b = instr_parse_ref(texts[i], strlen(texts[i]), &pb, eb, sizeof(eb));
		assert_int_equal(ra, b ? 0 : -1);
		assert_int_equal(pa, pb);
		assert_string_equal(ea, eb);
		/* the previous call's result is still what it was */
		if (prev) {
			char *again = instr_format(prev);
			assert_string_equal(again, prev_fmt);
			free(again);
		}
		free(prev_fmt);
		prev_fmt = NULL;
		prev = b;
		if (ra == 0) {
			char *fa = instr_format(&a), *fb = instr_format(b);
			assert_string_equal(fa, fb);
			free(fa);
			prev_fmt = fb;
		}
	}
	free(prev_fmt);
	/* a prefix of a cached text is a different text */
	const char *t = "vm create web1";
	assert_non_null(instr_parse_ref(t, strlen(t), NULL, NULL, 0));
	assert_null(instr_parse_ref(t, 9, NULL, NULL, 0));
}

static void test_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(VALID); i++) {
		const valid_case_t *c = &VALID[i];
		instr_t a, b;
		char err[256];
		size_t pos = 99;
		char *canon, *again;
		int rc = instr_parse(&a, c->text, strlen(c->text), &pos, err, sizeof err);

		if (rc != 0)
			print_error("case %zu: '%s' -> %s\n", i, c->text, err);
		assert_int_equal(rc, 0);
		assert_int_equal(pos, 0);
		canon = instr_format(&a);
		if (strcmp(canon, c->canonical) != 0)
			print_error("case %zu: got '%s'\n", i, canon);
		assert_string_equal(canon, c->canonical);
		/* parse(format(x)) == x, and format is a fixed point */
		assert_int_equal(instr_parse(&b, canon, strlen(canon), &pos, err, sizeof err), 0);
		assert_memory_equal(&a, &b, sizeof a);
		again = instr_format(&b);
		assert_string_equal(again, canon);
		free(canon);
		free(again);
	}
}

static void test_invalid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(INVALID); i++) {
		const invalid_case_t *c = &INVALID[i];
		size_t len = c->len ? c->len : strlen(c->text);
		instr_t a, zero;
		char err[512], prefix[32];
		size_t pos = 0;
		int rc = instr_parse(&a, c->text, len, &pos, err, sizeof err);

		if (rc == 0 || pos != c->pos || !strstr(err, c->reason))
			print_error("case %zu: '%s' -> rc %d pos %zu '%s' (want %zu, '%s')\n", i,
				    c->text, rc, pos, rc ? err : "", c->pos, c->reason);
		assert_int_equal(rc, -1);
		assert_int_equal(pos, c->pos);
		snprintf(prefix, sizeof prefix, "at %zu: ", c->pos);
		assert_memory_equal(err, prefix, strlen(prefix));
		assert_non_null(strstr(err, c->reason));
		/* nothing half-parsed is left behind */
		memset(&zero, 0, sizeof zero);
		assert_memory_equal(&a, &zero, sizeof a);
	}
}

static void test_too_long(void **state)
{
	size_t n = TX_MAX_INSTRUCTION + 1, pos = 0;
	char *text = malloc(n + 1);
	char err[256];
	instr_t a;

	(void)state;
	/* a valid instruction padded with spaces to exactly the limit is fine */
	memset(text, ' ', n);
	memcpy(text, "vm delete web", 13);
	assert_int_equal(instr_parse(&a, text, TX_MAX_INSTRUCTION, &pos, err, sizeof err), 0);
	assert_int_equal(instr_parse(&a, text, n, &pos, err, sizeof err), -1);
	assert_int_equal(pos, TX_MAX_INSTRUCTION + 1);
	assert_non_null(strstr(err, "longer than 4096 bytes"));
	free(text);
}

/* The parser reads only text[0..len): bytes after it are never seen. */
static void test_length_respected(void **state)
{
	const char *t = "vm delete web --force";
	char err[128];
	size_t pos;
	instr_t a;

	(void)state;
	assert_int_equal(instr_parse(&a, t, 13, &pos, err, sizeof err), 0);
	assert_string_equal(a.name, "web");
	assert_int_equal(instr_parse(&a, t, 11, &pos, err, sizeof err), 0);
	assert_string_equal(a.name, "w");
	assert_int_equal(instr_parse(&a, NULL, 0, &pos, err, sizeof err), -1);
	assert_int_equal(pos, 1);
}

/* err and err_pos are optional; a tiny err buffer is truncated, not overrun. */
static void test_err_buffers(void **state)
{
	char err[8];
	instr_t a;
	size_t pos;

	(void)state;
	assert_int_equal(instr_parse(&a, "vm x", 4, NULL, NULL, 0), -1);
	assert_int_equal(instr_parse(&a, "vm x", 4, &pos, err, sizeof err), -1);
	assert_string_equal(err, "at 4: u");
	assert_int_equal(pos, 4);
}

static void test_fields(void **state)
{
	const char *t = "vnf create fw --type firewall --vm v1 --image fw:2 "
			"--config deny=tcp:22 --config allow=tcp:80,udp:53";
	const char *s = "sfc create s --chain fw,nat --match proto=tcp,dport=80";
	char err[128];
	size_t pos;
	instr_t a;

	(void)state;
	assert_int_equal(instr_parse(&a, t, strlen(t), &pos, err, sizeof err), 0);
	assert_int_equal(a.kind, OBJ_VNF);
	assert_int_equal(a.verb, VERB_CREATE);
	assert_string_equal(a.name, "fw");
	assert_string_equal(a.type, "firewall");
	assert_string_equal(a.vm, "v1");
	assert_string_equal(a.image, "fw:2");
	assert_string_equal(a.flavor, "");
	assert_int_equal(a.n_config, 2);
	assert_string_equal(a.config[0].key, "allow");
	assert_string_equal(a.config[0].value, "tcp:80,udp:53");
	assert_string_equal(a.config[1].key, "deny");
	assert_string_equal(a.config[1].value, "tcp:22");
	assert_int_equal(instr_parse(&a, s, strlen(s), &pos, err, sizeof err), 0);
	assert_int_equal(a.n_chain, 2);
	assert_string_equal(a.chain[0], "fw");
	assert_string_equal(a.chain[1], "nat");
	assert_int_equal(a.n_match, 2);
	assert_string_equal(a.match[0].key, "proto");
	assert_string_equal(a.match[1].key, "dport");
	assert_string_equal(a.match[1].value, "80");
}

static void test_max_config(void **state)
{
	char text[2048];
	size_t n, pos;
	char err[128];
	instr_t a;
	int i;

	(void)state;
	n = (size_t)snprintf(text, sizeof text, "vnf update f");
	for (i = INSTR_MAX_CONFIG - 1; i >= 0; i--)
		n += (size_t)snprintf(text + n, sizeof text - n, " --config k%02d=v", i);
	assert_int_equal(instr_parse(&a, text, n, &pos, err, sizeof err), 0);
	assert_int_equal(a.n_config, INSTR_MAX_CONFIG);
	assert_string_equal(a.config[0].key, "k00");
	assert_string_equal(a.config[INSTR_MAX_CONFIG - 1].key, "k31");
	n += (size_t)snprintf(text + n, sizeof text - n, " --config zz=1");
	assert_int_equal(instr_parse(&a, text, n, &pos, err, sizeof err), -1);
	assert_int_equal(pos, n - 3);
	assert_non_null(strstr(err, "too many --config options (at most 32)"));
}

/* format sorts config keys and ignores fields the form does not have, even
 * for an instr_t built by hand. */
static void test_format_built(void **state)
{
	instr_t a;
	char *s;

	(void)state;
	memset(&a, 0, sizeof a);
	a.kind = OBJ_VNF;
	a.verb = VERB_UPDATE;
	strcpy(a.name, "fw");
	strcpy(a.image, "ignored");
	a.n_config = 3;
	strcpy(a.config[0].key, "c");
	strcpy(a.config[0].value, "3");
	strcpy(a.config[1].key, "a");
	strcpy(a.config[1].value, "1");
	strcpy(a.config[2].key, "b");
	strcpy(a.config[2].value, "2");
	s = instr_format(&a);
	assert_string_equal(s, "vnf update fw --config a=1 --config b=2 --config c=3");
	free(s);
	a.kind = 7;
	a.n_config = 1000;
	s = instr_format(&a);
	assert_string_equal(s, "unknown update fw");
	free(s);
}

static void test_names_and_bits(void **state)
{
	(void)state;
	assert_int_equal(instr_op_bit(OBJ_VM, VERB_CREATE), OP_VM_CREATE);
	assert_int_equal(instr_op_bit(OBJ_VM, VERB_DELETE), OP_VM_DELETE);
	assert_int_equal(instr_op_bit(OBJ_VNF, VERB_CREATE), OP_VNF_CREATE);
	assert_int_equal(instr_op_bit(OBJ_VNF, VERB_UPDATE), OP_VNF_UPDATE);
	assert_int_equal(instr_op_bit(OBJ_VNF, VERB_DELETE), OP_VNF_DELETE);
	assert_int_equal(instr_op_bit(OBJ_SFC, VERB_CREATE), OP_SFC_CREATE);
	assert_int_equal(instr_op_bit(OBJ_SFC, VERB_UPDATE), OP_SFC_UPDATE);
	assert_int_equal(instr_op_bit(OBJ_SFC, VERB_DELETE), OP_SFC_DELETE);
	assert_int_equal(instr_op_bit(OBJ_VM, VERB_UPDATE), 0);
	assert_int_equal(instr_op_bit((obj_kind_t)0, VERB_CREATE), 0);
	assert_string_equal(obj_kind_name(OBJ_VM), "vm");
	assert_string_equal(obj_kind_name(OBJ_VNF), "vnf");
	assert_string_equal(obj_kind_name(OBJ_SFC), "sfc");
	assert_string_equal(obj_kind_name(0), "unknown");
	assert_string_equal(obj_kind_name(-5), "unknown");
	assert_string_equal(verb_name(VERB_CREATE), "create");
	assert_string_equal(verb_name(VERB_UPDATE), "update");
	assert_string_equal(verb_name(VERB_DELETE), "delete");
	assert_string_equal(verb_name(4), "unknown");
	assert_int_equal(obj_kind_parse("vm"), OBJ_VM);
	assert_int_equal(obj_kind_parse("vnf"), OBJ_VNF);
	assert_int_equal(obj_kind_parse("sfc"), OBJ_SFC);
	assert_int_equal(obj_kind_parse("VM"), -1);
	assert_int_equal(obj_kind_parse(""), -1);
	assert_int_equal(obj_kind_parse(NULL), -1);
	assert_string_equal(INSTR_VNF_TYPES[0], "forwarder");
	assert_null(INSTR_VNF_TYPES[4]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_cached),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_length_respected),
		cmocka_unit_test(test_err_buffers),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_max_config),
		cmocka_unit_test(test_format_built),
		cmocka_unit_test(test_names_and_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
