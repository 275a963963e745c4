/*
 * byzantine.c — the misbehaviours listed in byzantine.h, for the test
 * binary build/byz/bsec only.  Without -DBSEC_BYZANTINE this file compiles
 * to nothing.
 *
 * Leader misbehaviours rewrite the node's own outgoing PRE-PREPAREs (so
 * the culprit's own replica keeps an honest view of its block, as a real
 * attacker's would) and re-sign them with the node key; replica
 * misbehaviours rewrite or re-sign its votes, or add traffic of their own.
 */
#ifdef BSEC_BYZANTINE

#include "byzantine.h"
#include "node_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

static const char *MOD = "BYZANTINE";

enum {
	B_EQUIVOCATE = 1 << 0,
	B_CENSOR = 1 << 1,
	B_INVALID_TX = 1 << 2,
	B_BAD_PREV = 1 << 3,
	B_BAD_VOTE = 1 << 4,
	B_WRONG_KEY = 1 << 5,
	B_REPLAY = 1 << 6,
	B_FLOOD = 1 << 7,
	B_BAD_BLOCKS = 1 << 8,
	B_WITHHOLD = 1 << 9,   /* keeps COMMITs, serves no blocks, leaves one peer out, asks for views early */
};

static const struct {
	const char *name;
	int bit;
} behaviours[] = {
	{ "equivocate", B_EQUIVOCATE }, { "censor", B_CENSOR },     { "invalid-tx", B_INVALID_TX },
	{ "bad-prev", B_BAD_PREV },     { "bad-vote", B_BAD_VOTE }, { "wrong-key", B_WRONG_KEY },
	{ "replay", B_REPLAY },         { "flood", B_FLOOD },       { "bad-blocks", B_BAD_BLOCKS }, { "withhold", B_WITHHOLD },
};

#define TWINS 32          /* heights whose equivocation we remember */
#define REPLAY_RING 256   /* own messages kept for replay */

typedef struct {
	uint64_t view, height;
	uint8_t a[BSEC_HASH_BYTES], b[BSEC_HASH_BYTES];
	uint8_t *pp_b;        /* the second PRE-PREPARE */
	size_t pp_b_len;
} twin_t;

static struct {
	const char *file;
	char *text;           /* last file content */
	int mode;
	char censor[2 * SIG_MAX_PUB + 1];
	sig_key_t *wrong_key;
	twin_t twins[TWINS];
	uint8_t *ring[REPLAY_RING];
	size_t ring_len[REPLAY_RING];
	size_t ring_next;
	uint64_t ticks;
	uint64_t sent;        /* misbehaving frames sent (logged now and then) */
	uint64_t wh_view, wh_since;
} B;

/* ---- configuration ---- */

static void parse(node_t *n, const char *text)
{
	int mode = 0;
	char *copy = xstrdup(text), *save = NULL;
	B.censor[0] = 0;
	for (char *t = strtok_r(copy, ",\n\r\t ", &save); t; t = strtok_r(NULL, ",\n\r\t ", &save)) {
		char *arg = strchr(t, '=');
		if (arg)
			*arg++ = 0;
		size_t i;
		for (i = 0; i < ARRAY_LEN(behaviours); i++)
			if (!strcmp(t, behaviours[i].name))
				break;
		if (i == ARRAY_LEN(behaviours)) {
			log_error(MOD, "unknown behaviour `%s' in %s", t, B.file);
			continue;
		}
		mode |= behaviours[i].bit;
		if (behaviours[i].bit == B_CENSOR)
			snprintf(B.censor, sizeof(B.censor), "%s", arg ? arg : "");
	}
	free(copy);
	if (mode != B.mode)
		log_warn(MOD, "node %s now misbehaves: `%s' (mask 0x%x)", n->cfg.name, text, mode);
	B.mode = mode;
}

static void reload(node_t *n)
{
	size_t len;
	char err[256];
	uint8_t *d = B.file ? file_read(B.file, &len, 4096, err, sizeof(err)) : NULL;
	char *text = d ? xstrndup((const char *)d, len) : xstrdup("");
	free(d);
	if (!B.text || strcmp(text, B.text)) {
		parse(n, text);
		free(B.text);
		B.text = text;
	} else {
		free(text);
	}
}

void byz_init(node_t *n)
{
	memset(&B, 0, sizeof(B));
	B.file = getenv("BSEC_BYZ_FILE");
	B.wrong_key = sig_keygen(sig_key_scheme(n->key));
	log_warn(MOD, "this is a Byzantine test build; behaviours from %s",
		 B.file ? B.file : "(BSEC_BYZ_FILE not set: none)");
	reload(n);
}

void byz_free(node_t *n)
{
	(void)n;
	for (size_t i = 0; i < TWINS; i++)
		free(B.twins[i].pp_b);
	for (size_t i = 0; i < REPLAY_RING; i++)
		free(B.ring[i]);
	sig_key_free(B.wrong_key);
	free(B.text);
	memset(&B, 0, sizeof(B));
}

/* ---- message crafting ---- */

/* A signed PBFT message of `type` from us with `body` (the fields after
 * type and sender), signed with the node key.  Caller frees. */
static uint8_t *craft(node_t *n, uint8_t type, const uint8_t *body, size_t blen, size_t *out_len)
{
	buf_t s, m;
	buf_init(&s);
	buf_init(&m);
	buf_u8(&m, type);
	buf_u16(&m, (uint16_t)n->self);
	buf_put(&m, body, blen);
	if (type == PBFT_MSG_COMMIT && blen == 16 + BSEC_HASH_BYTES) {
		rd_t r;
		rd_init(&r, body, blen);
		uint64_t v = rd_u64(&r), h = rd_u64(&r);
		size_t sl;
		uint8_t *sb = commit_signed_bytes(n->g.chain_id, v, h, body + 16, &sl);
		buf_put(&s, sb, sl);
		free(sb);
	} else {
		buf_put(&s, PBFT_TAG, sizeof(PBFT_TAG) - 1);
		buf_put(&s, n->g.chain_id, BSEC_HASH_BYTES);
		buf_put(&s, m.data, m.len);
	}
	uint8_t sig[SIG_MAX_SIG];
	size_t sl = sig_sig_len(sig_key_scheme(n->key));
	const sig_key_t *k = (B.mode & B_WRONG_KEY) ? B.wrong_key : n->key;
	if (sig_sign(k, sig, s.data, s.len) != 0)
		memset(sig, 0, sl);
	buf_u16(&m, (uint16_t)sl);
	buf_put(&m, sig, sl);
	buf_free(&s);
	return buf_steal(&m, out_len);
}

/* Splits a PRE-PREPARE into view, height and block.  0 / -1. */
static int pp_parse(const uint8_t *msg, size_t len, uint64_t *v, uint64_t *h, const uint8_t **blk,
		    size_t *blen)
{
	rd_t r;
	rd_init(&r, msg, len);
	rd_u8(&r);
	rd_u16(&r);
	*v = rd_u64(&r);
	*h = rd_u64(&r);
	*blk = rd_blob32(&r, blen, BLOCK_MAX_BYTES);
	return rd_ok(&r) && *blk ? 0 : -1;
}

/* A PRE-PREPARE for (v, h) carrying `raw` (our signature). */
static uint8_t *pp_craft(node_t *n, uint64_t v, uint64_t h, const uint8_t *raw, size_t rlen, size_t *out_len)
{
	buf_t body;
	buf_init(&body);
	buf_u64(&body, v);
	buf_u64(&body, h);
	buf_blob32(&body, raw, rlen);
	uint8_t *m = craft(n, PBFT_MSG_PRE_PREPARE, body.data, body.len, out_len);
	buf_free(&body);
	return m;
}

enum { TAMPER_TWIN, TAMPER_BAD_TX, TAMPER_BAD_PREV };

/* Re-seals a copy of block `raw` changed as `how` says.  Returns the new
 * encoding (caller frees) and its hash, or NULL. */
static uint8_t *tamper(node_t *n, const uint8_t *raw, size_t len, int how, size_t *out_len,
		       uint8_t hash[BSEC_HASH_BYTES])
{
	block_t b;
	char err[256];
	uint8_t *out = NULL;
	if (block_decode(&b, raw, len, err, sizeof(err)) < 0)
		return NULL;
	if (how == TAMPER_TWIN)
		b.hdr.timestamp_ms += 1;
	else if (how == TAMPER_BAD_PREV)
		b.hdr.prev_hash[0] ^= 0x5a;
	else if (how == TAMPER_BAD_TX && b.hdr.tx_count)
		b.txs[0].raw[b.txs[0].raw_len - 1] ^= 0x01;   /* last byte of the signature */
	else
		goto out;
	free(b.tx_ids);
	b.tx_ids = NULL;
	if (block_seal(&b, n->key) == 0) {
		buf_t enc;
		buf_init(&enc);
		block_encode(&enc, &b);
		out = buf_steal(&enc, out_len);
		memcpy(hash, b.hdr.hash, BSEC_HASH_BYTES);
	}
out:
	block_clear(&b);
	return out;
}

static twin_t *twin_find(uint64_t v, uint64_t h)
{
	twin_t *t = &B.twins[h % TWINS];
	return t->pp_b && t->view == v && t->height == h ? t : NULL;
}

/* Lowest peer index: the one that gets block A (and later B as well). */
static int first_peer(const node_t *n)
{
	return n->self == 0 ? 1 : 0;
}

static void remember(const uint8_t *msg, size_t len)
{
	size_t i = B.ring_next++ % REPLAY_RING;
	free(B.ring[i]);
	B.ring[i] = xmalloc(len);
	memcpy(B.ring[i], msg, len);
	B.ring_len[i] = len;
}

static void send_to(node_t *n, int to, const uint8_t *m, size_t len)
{
	if (n->net && to != n->self)
		peer_net_send(n->net, to, m, len);
}

static void sent_bad(node_t *n, const char *what)
{
	if (B.sent++ % 200 == 0)
		log_warn(MOD, "%s (%llu misbehaving frames so far)", what, (unsigned long long)B.sent);
}

/* Our own PRE-PREPARE: equivocate or tamper.  1 when handled. */
static int leader_rewrite(node_t *n, int to, const uint8_t *msg, size_t len)
{
	uint64_t v, h;
	const uint8_t *blk;
	size_t blen, ol = 0;
	uint8_t hash[BSEC_HASH_BYTES];
	if (pp_parse(msg, len, &v, &h, &blk, &blen) < 0)
		return 0;
	if (B.mode & B_EQUIVOCATE) {
		twin_t *t = twin_find(v, h);
		if (!t) {
			uint8_t *raw_b = tamper(n, blk, blen, TAMPER_TWIN, &ol, hash);
			if (!raw_b)
				return 0;
			t = &B.twins[h % TWINS];
			free(t->pp_b);
			t->view = v;
			t->height = h;
			rd_t r;
			block_header_t hdr;
			rd_init(&r, blk, blen);
			if (block_header_read(&r, &hdr) < 0) {
				free(raw_b);
				t->pp_b = NULL;
				return 0;
			}
			memcpy(t->a, hdr.hash, BSEC_HASH_BYTES);
			memcpy(t->b, hash, BSEC_HASH_BYTES);
			t->pp_b = pp_craft(n, v, h, raw_b, ol, &t->pp_b_len);
			free(raw_b);
			log_warn(MOD, "equivocating at view %llu height %llu: block A to node %d, block B to the others "
				 "and to node %d too", (unsigned long long)v, (unsigned long long)h, first_peer(n),
				 first_peer(n));
		}
		for (int i = 0; i < (int)n->g.n_providers; i++) {
			if (i == n->self || (to >= 0 && i != to))
				continue;
			if (i == first_peer(n)) {
				send_to(n, i, msg, len);
				send_to(n, i, t->pp_b, t->pp_b_len);
			} else {
				send_to(n, i, t->pp_b, t->pp_b_len);
			}
		}
		sent_bad(n, "sent two blocks for one height");
		return 1;
	}
	int how = (B.mode & B_INVALID_TX) ? TAMPER_BAD_TX : TAMPER_BAD_PREV;
	uint8_t *raw = tamper(n, blk, blen, how, &ol, hash);
	if (!raw)
		return 0;
	size_t ml;
	uint8_t *m = pp_craft(n, v, h, raw, ol, &ml);
	if (to >= 0)
		send_to(n, to, m, ml);
	else if (n->net)
		peer_net_broadcast(n->net, m, ml);
	sent_bad(n, how == TAMPER_BAD_TX ? "proposed a block with a corrupted tx signature"
					 : "proposed a block with a wrong prev_hash");
	free(raw);
	free(m);
	return 1;
}

/* Our own PREPARE/COMMIT.  1 when handled. */
static int vote_rewrite(node_t *n, int to, const uint8_t *msg, size_t len)
{
	if (len < 3 + 16 + BSEC_HASH_BYTES)
		return 0;
	uint8_t type = msg[0];
	uint8_t body[16 + BSEC_HASH_BYTES];
	memcpy(body, msg + 3, sizeof(body));
	rd_t r;
	rd_init(&r, body, sizeof(body));
	uint64_t v = rd_u64(&r), h = rd_u64(&r);
	size_t ml;
	if (B.mode & B_BAD_VOTE) {
		for (size_t i = 16; i < sizeof(body); i++)
			body[i] ^= 0xa5;
		uint8_t *m = craft(n, type, body, sizeof(body), &ml);
		if (to >= 0)
			send_to(n, to, m, ml);
		else if (n->net)
			peer_net_broadcast(n->net, m, ml);
		free(m);
		sent_bad(n, "voted for a wrong hash");
		return 1;
	}
	twin_t *t = twin_find(v, h);
	if (!(B.mode & B_EQUIVOCATE) || !t || memcmp(body + 16, t->a, BSEC_HASH_BYTES))
		return 0;
	memcpy(body + 16, t->b, BSEC_HASH_BYTES);
	uint8_t *m = craft(n, type, body, sizeof(body), &ml);
	for (int i = 0; i < (int)n->g.n_providers; i++) {
		if (i == n->self || (to >= 0 && i != to))
			continue;
		if (i == first_peer(n))
			send_to(n, i, msg, len);
		else
			send_to(n, i, m, ml);
	}
	free(m);
	return 1;
}

static int rewrite(node_t *n, int to, const uint8_t *msg, size_t len)
{
	if (!B.mode || len < 3)
		return 0;
	if (B.mode & B_REPLAY)
		remember(msg, len);
	uint16_t sender = (uint16_t)(msg[1] << 8 | msg[2]);
	if (sender != n->self)
		return 0;   /* a relayed NEW-VIEW or BLOCKS reply: leave it */
	if (B.mode & B_WITHHOLD) {
		/* keep COMMITs to ourselves (only we get the commit
		 * certificates), serve no state transfer, and leave the last peer
		 * out of our proposals and PREPAREs */
		int last = (int)n->g.n_providers - 1 == n->self ? (int)n->g.n_providers - 2
							      : (int)n->g.n_providers - 1;
		if (msg[0] == PBFT_MSG_COMMIT || msg[0] == PBFT_MSG_BLOCKS) {
			sent_bad(n, "withheld a commit or a blocks reply");
			return 1;
		}
		if (msg[0] == PBFT_MSG_PRE_PREPARE || msg[0] == PBFT_MSG_PREPARE) {
			if (to == last)
				return 1;
			if (to < 0) {
				for (int i = 0; i < (int)n->g.n_providers; i++)
					if (i != n->self && i != last)
						send_to(n, i, msg, len);
				return 1;
			}
			return 0;
		}
		return 0;
	}
	if (msg[0] == PBFT_MSG_PRE_PREPARE && (B.mode & (B_EQUIVOCATE | B_INVALID_TX | B_BAD_PREV)))
		return leader_rewrite(n, to, msg, len);
	if ((msg[0] == PBFT_MSG_PREPARE || msg[0] == PBFT_MSG_COMMIT) && (B.mode & (B_EQUIVOCATE | B_BAD_VOTE)))
		return vote_rewrite(n, to, msg, len);
	return 0;
}

int byz_send(node_t *n, uint16_t to, const uint8_t *msg, size_t len)
{
	return rewrite(n, to, msg, len);
}

int byz_broadcast(node_t *n, const uint8_t *msg, size_t len)
{
	return rewrite(n, -1, msg, len);
}

int byz_sign(node_t *n, const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len, int *rc)
{
	if (!(B.mode & B_WRONG_KEY))
		return 0;
	size_t need = sig_sig_len(sig_key_scheme(B.wrong_key));
	if (*sig_len < need) {
		*rc = -1;
		return 1;
	}
	*sig_len = need;
	*rc = sig_sign(B.wrong_key, sig, msg, len);
	sent_bad(n, "signed with a key that is not ours");
	return 1;
}

int byz_censors(node_t *n, const uint8_t *sender, size_t len)
{
	(void)n;
	if (!(B.mode & B_CENSOR) || !B.censor[0])
		return 0;
	char hex[2 * SIG_MAX_PUB + 1];
	if (len > SIG_MAX_PUB)
		return 0;
	hex_encode(hex, sender, len);
	return strncmp(hex, B.censor, strlen(B.censor)) == 0;
}

/* ---- traffic of our own ---- */

static void replay(node_t *n)
{
	size_t have = B.ring_next < REPLAY_RING ? B.ring_next : REPLAY_RING;
	if (!have || !n->net)
		return;
	for (int k = 0; k < 16; k++) {
		size_t i = randombytes_uniform((uint32_t)have);
		peer_net_broadcast(n->net, B.ring[i], B.ring_len[i]);
	}
	sent_bad(n, "replayed old messages");
}

static void flood(node_t *n)
{
	if (!n->net)
		return;
	uint8_t junk[2048];
	for (int k = 0; k < 40; k++) {
		size_t l = 1 + randombytes_uniform(sizeof(junk) - 1);
		randombytes_buf(junk, l);
		if (junk[0] == NODE_MSG_TXS)
			junk[0] = 0xee;
		peer_net_broadcast(n->net, junk, l);
	}
	/* a tx batch of garbage txs */
	buf_t b;
	buf_init(&b);
	buf_u8(&b, NODE_MSG_TXS);
	buf_u16(&b, 8);
	for (int k = 0; k < 8; k++) {
		randombytes_buf(junk, 200);
		buf_blob32(&b, junk, 200);
	}
	peer_net_broadcast(n->net, b.data, b.len);
	buf_free(&b);
	/* signed FETCH requests for everything we have */
	buf_t f;
	buf_init(&f);
	buf_u64(&f, 1);
	buf_u64(&f, store_height(n->store) + 1);
	buf_u64(&f, pbft_view(n->pbft));
	buf_u8(&f, 1);
	size_t ml;
	uint8_t *m = craft(n, PBFT_MSG_FETCH, f.data, f.len, &ml);
	peer_net_broadcast(n->net, m, ml);
	free(m);
	buf_free(&f);
	sent_bad(n, "flooded peers");
}

/* State-transfer replies nobody asked for (a replica takes them when they
 * go on from its height): our last 32 blocks and their certificates, each
 * block with the last byte of its proposer signature flipped. */
static void bad_blocks(node_t *n)
{
	uint64_t top = store_height(n->store);
	if (!top || !n->net)
		return;
	buf_t b;
	buf_init(&b);
	buf_u16(&b, 0);
	uint16_t cnt = 0;
	for (uint64_t h = top > 32 ? top - 31 : 1; h <= top; h++) {
		uint8_t *blk = NULL, *cert = NULL;
		size_t bl = 0, cl = 0;
		rd_t r;
		block_header_t hd;
		if (store_get_block_raw(n->store, h, &blk, &bl, &cert, &cl) != 0) {
			free(blk);
			free(cert);
			break;
		}
		rd_init(&r, blk, bl);
		if (block_header_read(&r, &hd) == 0)
			blk[r.off - 1] ^= 0x01;   /* the header ends with the signature */
		buf_u64(&b, h);
		buf_blob32(&b, blk, bl);
		buf_blob32(&b, cert, cl);
		free(blk);
		free(cert);
		cnt++;
	}
	b.data[0] = (uint8_t)(cnt >> 8);
	b.data[1] = (uint8_t)cnt;
	size_t ml;
	uint8_t *m = craft(n, PBFT_MSG_BLOCKS, b.data, b.len, &ml);
	peer_net_broadcast(n->net, m, ml);
	free(m);
	buf_free(&b);
	sent_bad(n, "sent blocks with altered proposer signatures");
}

void byz_tick(node_t *n)
{
	if (++B.ticks % 25 == 0)
		reload(n);
	if (B.mode & B_REPLAY)
		replay(n);
	if (B.mode & B_FLOOD)
		flood(n);
	if ((B.mode & B_BAD_BLOCKS) && B.ticks % 5 == 0)
		bad_blocks(n);
	if ((B.mode & B_WITHHOLD) && n->pbft && !pbft_in_view_change(n->pbft)) {
		/* ask for the next view early, so our VIEW-CHANGE
		 * (whose checkpoint is a certificate only we hold) is there before
		 * the others time out; as leader, propose for 500 ms first */
		uint64_t now = mono_us() / 1000;
		if (pbft_view(n->pbft) != B.wh_view || !B.wh_since) {
			B.wh_view = pbft_view(n->pbft);
			B.wh_since = now;
		}
		if (!pbft_is_leader(n->pbft) || now - B.wh_since > 500)
			pbft_suspect_leader(n->pbft, now, "byzantine: withhold");
	}
}

#endif
